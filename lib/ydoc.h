/* Strict YAML documents: loading with libyaml, typed access, FILE:LINE:COLUMN errors. */
#ifndef DCR_YDOC_H
#define DCR_YDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "err.h"

/* Largest YAML input accepted, in bytes. */
#define DCR_YDOC_MAX_INPUT (1u << 20)

/*
 * What a document may hold, checked by a pass over libyaml's events before
 * its loader builds anything, so that neither libyaml nor a walk of the
 * document can be made to spend more than linear time and memory. Aliases
 * count as the nodes they stand for, wherever they appear: nesting depth
 * and node count are those of the document with every alias expanded.
 */
#define DCR_YDOC_MAX_DEPTH 32          /* collections inside each other */
#define DCR_YDOC_MAX_NODES 200000      /* scalars and collections */
#define DCR_YDOC_MAX_ALIASES 10000
#define DCR_YDOC_MAX_ANCHORS 1000
#define DCR_YDOC_MAX_SCALAR (128u << 10) /* bytes of one scalar, after YAML escapes */

/*
 * One loaded document. Caller-owned: dcr_ydoc_load fills it, dcr_ydoc_release
 * frees what it holds (safe on a zeroed or released struct). Every error
 * reported through it lands in *err, prefixed with "FILE:LINE:COLUMN: ".
 */
struct dcr_ydoc {
	yaml_document_t doc;
	bool loaded;
	const char *file;        /* name used in messages; not owned */
	struct dcr_err *err;     /* not owned */
};

/*
 * Parse buf (len bytes) as exactly one YAML document within the limits
 * above. DCR_EINVALID on a syntax error or a limit, with the position.
 */
int dcr_ydoc_load(struct dcr_ydoc *y, const char *file, const uint8_t *buf, size_t len,
	struct dcr_err *err);
void dcr_ydoc_release(struct dcr_ydoc *y);

yaml_node_t *dcr_ydoc_root(struct dcr_ydoc *y);
yaml_node_t *dcr_ydoc_node(struct dcr_ydoc *y, int index);

/* Record "FILE:LINE:COLUMN: message" for node n (NULL: no position); returns code. */
int dcr_ydoc_fail(struct dcr_ydoc *y, const yaml_node_t *n, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Check that n is a mapping whose keys are plain strings from allowed (a
 * NULL-terminated list; NULL allows any key), each at most once. An unknown
 * key is reported with the closest allowed one as a suggestion.
 */
int dcr_ydoc_mapping(struct dcr_ydoc *y, yaml_node_t *n, const char *what, const char *const *allowed);
int dcr_ydoc_sequence(struct dcr_ydoc *y, yaml_node_t *n, const char *what, size_t max_items);

/* The value for key in mapping m, or NULL. */
yaml_node_t *dcr_ydoc_get(struct dcr_ydoc *y, yaml_node_t *m, const char *key);

/* A scalar's text (NUL-terminated by libyaml); DCR_EINVALID if n is not a scalar or too long. */
int dcr_ydoc_string(struct dcr_ydoc *y, yaml_node_t *n, const char *what, size_t max_len,
	const char **out);
/* A plain (unquoted) decimal integer within [min, max]. */
int dcr_ydoc_int(struct dcr_ydoc *y, yaml_node_t *n, const char *what, int64_t min, int64_t max,
	int64_t *out);
/* A plain true or false. */
int dcr_ydoc_bool(struct dcr_ydoc *y, yaml_node_t *n, const char *what, bool *out);

/* Number of items of a sequence or pairs of a mapping. */
size_t dcr_ydoc_count(const yaml_node_t *n);

#endif
