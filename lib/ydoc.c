/* Strict YAML documents: loading with libyaml, typed access, FILE:LINE:COLUMN errors. */
#include "ydoc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#include "banned.h"

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

int dcr_ydoc_mapping(struct dcr_ydoc *y, yaml_node_t *n, const char *what, const char *const *allowed)
{
	yaml_node_pair_t *start, *p;

	if (n->type != YAML_MAPPING_NODE)
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "%s must be a mapping, not %s", what, kind_name(n));
	start = n->data.mapping.pairs.start;
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
		for (yaml_node_pair_t *q = start; q < p; q++) {
			yaml_node_t *prev = dcr_ydoc_node(y, q->key);

			if (prev->type == YAML_SCALAR_NODE &&
			    strcmp((const char *)prev->data.scalar.value, key) == 0)
				return dcr_ydoc_fail(y, k, DCR_EINVALID,
					"duplicate key '%s' in %s (first at line %zu)", key, what,
					prev->start_mark.line + 1);
		}
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
