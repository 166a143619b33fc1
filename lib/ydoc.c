/* Strict YAML documents: loading with libyaml, typed access, FILE:LINE:COLUMN errors. */
#include "ydoc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#include "banned.h"

/* ---- limits, before the loader ---- */

struct anchor {
	char *name;
	size_t size;       /* nodes, aliases expanded */
	int nest;          /* collections inside each other, itself included */
	bool open;         /* still being read: an alias to it would be a cycle */
};

struct scan {
	struct dcr_ydoc *y;
	struct anchor anchors[DCR_YDOC_MAX_ANCHORS];
	size_t n_anchors, n_aliases, nodes;
	/* The collections open around the current event. */
	struct {
		size_t start;  /* nodes before this one began */
		int inner;     /* the deepest nest among its items */
		int anchor;    /* index into anchors, or -1 */
	} open[DCR_YDOC_MAX_DEPTH];
	int depth;
};

static int scan_fail(struct scan *sc, const yaml_mark_t *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int scan_fail(struct scan *sc, const yaml_mark_t *at, const char *fmt, ...)
{
	char msg[DCR_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return dcr_err_set(sc->y->err, DCR_EINVALID, "%s:%zu:%zu: %s", sc->y->file, at->line + 1, at->column + 1, msg);
}

static void scan_forget_anchors(struct scan *sc)
{
	for (size_t i = 0; i < sc->n_anchors; i++)
		free(sc->anchors[i].name);
	sc->n_anchors = 0;
}

/* Count size more nodes for the event at; DCR_EINVALID past the limit. */
static int scan_count(struct scan *sc, const yaml_mark_t *at, size_t size)
{
	sc->nodes += size;
	if (sc->nodes > DCR_YDOC_MAX_NODES)
		return scan_fail(sc, at, "more than %d YAML nodes (an alias counts as the nodes it stands for)",
			DCR_YDOC_MAX_NODES);
	return 0;
}

/* The innermost open collection holds an item nest collections deep. */
static void scan_nest(struct scan *sc, int nest)
{
	if (sc->depth > 0 && nest > sc->open[sc->depth - 1].inner)
		sc->open[sc->depth - 1].inner = nest;
}

/* Remember an anchor (NULL: none) for a node starting now; its index, or -1. */
static int scan_anchor(struct scan *sc, const yaml_mark_t *at, const yaml_char_t *name, int *index)
{
	*index = -1;
	if (!name)
		return 0;
	for (size_t i = 0; i < sc->n_anchors; i++)
		if (strcmp(sc->anchors[i].name, (const char *)name) == 0)
			return scan_fail(sc, at, "anchor '&%.64s' is defined twice", (const char *)name);
	if (sc->n_anchors == DCR_YDOC_MAX_ANCHORS)
		return scan_fail(sc, at, "more than %d anchors", DCR_YDOC_MAX_ANCHORS);
	if (!(sc->anchors[sc->n_anchors].name = strdup((const char *)name)))
		return dcr_err_set(sc->y->err, DCR_ENOMEM, "out of memory");
	sc->anchors[sc->n_anchors] = (struct anchor){ sc->anchors[sc->n_anchors].name, 1, 0, true };
	*index = (int)sc->n_anchors++;
	return 0;
}

static int scan_event(struct scan *sc, const yaml_event_t *e)
{
	const yaml_mark_t *at = &e->start_mark;
	int r, a;

	switch (e->type) {
	case YAML_DOCUMENT_START_EVENT:
		/* Anchors are per document. */
		scan_forget_anchors(sc);
		return 0;
	case YAML_SCALAR_EVENT:
		if (e->data.scalar.length > DCR_YDOC_MAX_SCALAR)
			return scan_fail(sc, at, "a scalar of more than %u bytes", DCR_YDOC_MAX_SCALAR);
		if ((r = scan_count(sc, at, 1)) < 0 || (r = scan_anchor(sc, at, e->data.scalar.anchor, &a)) < 0)
			return r;
		if (a >= 0)
			sc->anchors[a].open = false;
		return 0;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (sc->depth == DCR_YDOC_MAX_DEPTH)
			return scan_fail(sc, at, "nested more than %d levels deep", DCR_YDOC_MAX_DEPTH);
		if ((r = scan_count(sc, at, 1)) < 0 ||
		    (r = scan_anchor(sc, at, e->type == YAML_SEQUENCE_START_EVENT ? e->data.sequence_start.anchor
										  : e->data.mapping_start.anchor, &a)) < 0)
			return r;
		sc->open[sc->depth].start = sc->nodes - 1;
		sc->open[sc->depth].inner = 0;
		sc->open[sc->depth].anchor = a;
		sc->depth++;
		return 0;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT: {
		int nest;

		if (sc->depth == 0)
			return 0; /* the parser would not send it */
		sc->depth--;
		nest = sc->open[sc->depth].inner + 1;
		if ((a = sc->open[sc->depth].anchor) >= 0) {
			sc->anchors[a].size = sc->nodes - sc->open[sc->depth].start;
			sc->anchors[a].nest = nest;
			sc->anchors[a].open = false;
		}
		scan_nest(sc, nest);
		return 0;
	}
	case YAML_ALIAS_EVENT: {
		const char *name = (const char *)e->data.alias.anchor;
		const struct anchor *to = NULL;

		if (++sc->n_aliases > DCR_YDOC_MAX_ALIASES)
			return scan_fail(sc, at, "more than %d aliases", DCR_YDOC_MAX_ALIASES);
		for (size_t i = 0; i < sc->n_anchors && !to; i++)
			if (strcmp(sc->anchors[i].name, name) == 0)
				to = &sc->anchors[i];
		if (!to)
			return scan_fail(sc, at, "alias '*%.64s' names no anchor before it", name);
		if (to->open)
			return scan_fail(sc, at, "alias '*%.64s' is inside the node it names", name);
		if (sc->depth + to->nest > DCR_YDOC_MAX_DEPTH)
			return scan_fail(sc, at, "alias '*%.64s' nests more than %d levels deep", name, DCR_YDOC_MAX_DEPTH);
		if ((r = scan_count(sc, at, to->size)) < 0)
			return r;
		scan_nest(sc, to->nest);
		return 0;
	}
	default:
		return 0;
	}
}

/*
 * One pass over the events of buf, within the limits of ydoc.h. Syntax
 * errors are left to the loader, which reports them the same way.
 */
static int scan(struct dcr_ydoc *y, const uint8_t *buf, size_t len)
{
	struct scan *sc = calloc(1, sizeof(*sc));
	yaml_parser_t parser;
	yaml_event_t e;
	int r = 0;

	if (!sc)
		return dcr_err_set(y->err, DCR_ENOMEM, "%s: out of memory", y->file);
	sc->y = y;
	if (!yaml_parser_initialize(&parser)) {
		free(sc);
		return dcr_err_set(y->err, DCR_ENOMEM, "%s: out of memory", y->file);
	}
	yaml_parser_set_input_string(&parser, buf, len);
	while (r == 0 && yaml_parser_parse(&parser, &e)) {
		bool end = e.type == YAML_STREAM_END_EVENT;

		r = scan_event(sc, &e);
		yaml_event_delete(&e);
		if (end)
			break;
	}
	yaml_parser_delete(&parser);
	scan_forget_anchors(sc);
	free(sc);
	return r;
}

int dcr_ydoc_load(struct dcr_ydoc *y, const char *file, const uint8_t *buf, size_t len,
	struct dcr_err *err)
{
	yaml_parser_t parser;
	yaml_document_t extra;
	int r = 0;

	memset(y, 0, sizeof(*y));
	y->file = file;
	y->err = err;
	if (len > DCR_YDOC_MAX_INPUT)
		return dcr_err_set(err, DCR_EINVALID, "%s: larger than %u bytes", file, DCR_YDOC_MAX_INPUT);
	if ((r = scan(y, buf, len)) < 0)
		return r;
	if (!yaml_parser_initialize(&parser))
		return dcr_err_set(err, DCR_ENOMEM, "%s: out of memory", file);
	yaml_parser_set_input_string(&parser, buf, len);
	if (!yaml_parser_load(&parser, &y->doc)) {
		r = dcr_err_set(err, DCR_EINVALID, "%s:%zu:%zu: %s%s%s", file,
			parser.problem_mark.line + 1, parser.problem_mark.column + 1,
			parser.problem ? parser.problem : "invalid YAML",
			parser.context ? " " : "", parser.context ? parser.context : "");
		goto out;
	}
	y->loaded = true;
	if (!yaml_document_get_root_node(&y->doc)) {
		r = dcr_err_set(err, DCR_EINVALID, "%s: the document is empty", file);
		goto out;
	}
	/* A second document would be silently ignored by a loose reader. */
	if (!yaml_parser_load(&parser, &extra)) {
		r = dcr_err_set(err, DCR_EINVALID, "%s:%zu:%zu: %s", file,
			parser.problem_mark.line + 1, parser.problem_mark.column + 1,
			parser.problem ? parser.problem : "invalid YAML");
		goto out;
	}
	if (yaml_document_get_root_node(&extra)) {
		yaml_node_t *n = yaml_document_get_root_node(&extra);

		r = dcr_err_set(err, DCR_EINVALID, "%s:%zu:%zu: only one YAML document is allowed",
			file, n->start_mark.line + 1, n->start_mark.column + 1);
	}
	yaml_document_delete(&extra);
out:
	yaml_parser_delete(&parser);
	return r;
}

void dcr_ydoc_release(struct dcr_ydoc *y)
{
	if (y && y->loaded) {
		yaml_document_delete(&y->doc);
		y->loaded = false;
	}
}

yaml_node_t *dcr_ydoc_root(struct dcr_ydoc *y)
{
	return yaml_document_get_root_node(&y->doc);
}

yaml_node_t *dcr_ydoc_node(struct dcr_ydoc *y, int index)
{
	return yaml_document_get_node(&y->doc, index);
}

int dcr_ydoc_fail(struct dcr_ydoc *y, const yaml_node_t *n, int code, const char *fmt, ...)
{
	char msg[DCR_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n)
		return dcr_err_set(y->err, code, "%s:%zu:%zu: %s", y->file, n->start_mark.line + 1,
			n->start_mark.column + 1, msg);
	return dcr_err_set(y->err, code, "%s: %s", y->file, msg);
}

static const char *kind_name(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE: return "a scalar";
	case YAML_SEQUENCE_NODE: return "a list";
	case YAML_MAPPING_NODE: return "a mapping";
	default: return "nothing";
	}
}

size_t dcr_ydoc_count(const yaml_node_t *n)
{
	if (n->type == YAML_SEQUENCE_NODE)
		return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (n->type == YAML_MAPPING_NODE)
		return (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	return 0;
}

struct key_at {
	const char *key;
	size_t index;
};

static int cmp_key_at(const void *a, const void *b)
{
	const struct key_at *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : (x->index > y->index) - (x->index < y->index);
}

/*
 * The first pair of mapping m, in document order, whose scalar key repeats
 * an earlier one: its index and (in *first) the earlier one's; or n when
 * none does. By sorting, so that a mapping of many keys costs n log n.
 */
static size_t first_duplicate(struct dcr_ydoc *y, yaml_node_t *m, size_t n, size_t *first, struct dcr_err *err)
{
	struct key_at *keys = malloc((n ? n : 1) * sizeof(*keys));
	size_t k = 0, dup = n;

	if (!keys) {
		dcr_err_set(err, DCR_ENOMEM, "out of memory");
		return SIZE_MAX;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *key = dcr_ydoc_node(y, m->data.mapping.pairs.start[i].key);

		if (key->type == YAML_SCALAR_NODE)
			keys[k++] = (struct key_at){ (const char *)key->data.scalar.value, i };
	}
	if (k > 1)
		qsort(keys, k, sizeof(*keys), cmp_key_at);
	for (size_t i = 1; i < k; i++)
		if (strcmp(keys[i - 1].key, keys[i].key) == 0 && (i < 2 || strcmp(keys[i - 2].key, keys[i].key) != 0) &&
		    keys[i].index < dup) {
			dup = keys[i].index;
			*first = keys[i - 1].index;
		}
	free(keys);
	return dup;
}

int dcr_ydoc_mapping(struct dcr_ydoc *y, yaml_node_t *n, const char *what, const char *const *allowed)
{
	yaml_node_pair_t *start, *p;
	size_t dup, first = 0;

	if (n->type != YAML_MAPPING_NODE)
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "%s must be a mapping, not %s", what, kind_name(n));
	start = n->data.mapping.pairs.start;
	if ((dup = first_duplicate(y, n, dcr_ydoc_count(n), &first, y->err)) == SIZE_MAX)
		return DCR_ENOMEM;
	for (p = start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = dcr_ydoc_node(y, p->key);
		const char *key;

		if (k->type != YAML_SCALAR_NODE)
			return dcr_ydoc_fail(y, k, DCR_EINVALID, "keys of %s must be plain strings", what);
		key = (const char *)k->data.scalar.value;
		if (strlen(key) != k->data.scalar.length)
			return dcr_ydoc_fail(y, k, DCR_EINVALID, "a key of %s contains a NUL byte", what);
		if (allowed) {
			bool known = false;

			for (const char *const *a = allowed; *a && !known; a++)
				known = strcmp(*a, key) == 0;
			if (!known) {
				const char *hint = dcr_suggest(key, allowed);

				if (strcmp(key, "<<") == 0)
					return dcr_ydoc_fail(y, k, DCR_EINVALID,
						"merge keys ('<<') are not supported; use an alias of the whole node");
				if (hint)
					return dcr_ydoc_fail(y, k, DCR_EINVALID,
						"unknown key '%s' in %s (did you mean '%s'?)", key, what, hint);
				return dcr_ydoc_fail(y, k, DCR_EINVALID, "unknown key '%s' in %s", key, what);
			}
		}
		if ((size_t)(p - start) == dup)
			return dcr_ydoc_fail(y, k, DCR_EINVALID, "duplicate key '%s' in %s (first at line %zu)", key, what,
				dcr_ydoc_node(y, start[first].key)->start_mark.line + 1);
	}
	return 0;
}

int dcr_ydoc_sequence(struct dcr_ydoc *y, yaml_node_t *n, const char *what, size_t max_items)
{
	if (n->type != YAML_SEQUENCE_NODE)
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "%s must be a list, not %s", what, kind_name(n));
	if (dcr_ydoc_count(n) > max_items)
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "%s has more than %zu items", what, max_items);
	return 0;
}

yaml_node_t *dcr_ydoc_get(struct dcr_ydoc *y, yaml_node_t *m, const char *key)
{
	if (m->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = dcr_ydoc_node(y, p->key);

		if (k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, key) == 0)
			return dcr_ydoc_node(y, p->value);
	}
	return NULL;
}

int dcr_ydoc_string(struct dcr_ydoc *y, yaml_node_t *n, const char *what, size_t max_len,
	const char **out)
{
	if (n->type != YAML_SCALAR_NODE)
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "%s must be a string, not %s", what, kind_name(n));
	if (n->data.scalar.length > max_len)
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "%s is longer than %zu bytes", what, max_len);
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "%s contains a NUL byte", what);
	*out = (const char *)n->data.scalar.value;
	return 0;
}

static bool plain(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

int dcr_ydoc_int(struct dcr_ydoc *y, yaml_node_t *n, const char *what, int64_t min, int64_t max,
	int64_t *out)
{
	const char *s;
	char *end;
	long long v;

	if (!plain(n))
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "%s must be a whole number", what);
	s = (const char *)n->data.scalar.value;
	if (!*s || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "%s must be a whole number", what);
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end || errno)
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "%s must be a whole number, not '%s'", what, s);
	if (v < min || v > max)
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "%s must be between %" PRId64 " and %" PRId64 ", not %lld",
			what, min, max, v);
	*out = v;
	return 0;
}

int dcr_ydoc_bool(struct dcr_ydoc *y, yaml_node_t *n, const char *what, bool *out)
{
	const char *s = plain(n) ? (const char *)n->data.scalar.value : "";

	if (strcmp(s, "true") == 0)
		*out = true;
	else if (strcmp(s, "false") == 0)
		*out = false;
	else
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "%s must be true or false", what);
	return 0;
}
