/* Test helper: every change to a real audit export, of a byte or of a protobuf field, must be refused. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "fileio.h"
#include "specs.h"

#include "banned.h"

/*
 * usage: export-sweep SPECS EXPORT
 * Verifies EXPORT against SPECS (it must pass), then, for every byte
 * offset, the export with that byte flipped (two masks), deleted, and with
 * a byte inserted there (two values) or appended at the end. Then edits
 * that keep the protobuf well formed, in every message at every depth
 * (every length-delimited field whose bytes parse as fields is taken for
 * one, with every enclosing length fixed up): a field of number 1 to 10,
 * 15 or 1000, as a varint and as bytes, inserted before each field and at
 * the end; each field deleted; each field repeated. Each must be refused
 * as an integrity violation (DCR_EINTEGRITY, exit 9), with a message;
 * inside the evidence an attestation rejection (DCR_EATTEST, exit 5) is
 * also right, as dcr-audit(1) says. Prints the first cases that are not,
 * and a count of what was tried; exits 1 if any was not.
 */

static size_t varint(const uint8_t *b, size_t len, size_t *at)
{
	size_t v = 0;

	for (unsigned shift = 0; *at < len && shift < 64; shift += 7) {
		uint8_t c = b[(*at)++];

		v |= (size_t)(c & 0x7f) << shift;
		if (c < 0x80)
			break;
	}
	return v;
}

/* Where the evidence field (number 3, tag and all) lies in the export. */
static bool evidence_span(const uint8_t *b, size_t len, size_t *start, size_t *end)
{
	size_t at = 0;

	while (at < len) {
		size_t field_at = at, tag = varint(b, len, &at), n;

		if ((tag & 7) == 0) {
			varint(b, len, &at);
			continue;
		}
		if ((tag & 7) != 2)
			return false;
		n = varint(b, len, &at);
		if (n > len - at)
			return false;
		at += n;
		if (tag >> 3 == 3) {
			*start = field_at;
			*end = at;
			return true;
		}
	}
	return false;
}

struct sweep {
	const struct dcr_specs *specs;
	size_t ev_start, ev_end;
	size_t tried, bad;
};

/* Whether b is refused as it should be; what describes the change for the report. */
static void try(struct sweep *s, const uint8_t *b, size_t len, bool in_evidence, const char *what)
{
	struct dcr_audit_export ex;
	struct dcr_err err = { 0 };
	int r = dcr_audit_export_verify(b, len, s->specs, &ex, &err);

	dcr_audit_export_release(&ex);
	s->tried++;
	if ((r == DCR_EINTEGRITY || (r == DCR_EATTEST && in_evidence)) && err.msg[0])
		return;
	if (s->bad++ < 20)
		fprintf(stderr, "%s: %d %s\n", what, r, r ? err.msg : "accepted");
}

static void try_byte(struct sweep *s, const uint8_t *b, size_t len, const char *what, size_t offset, unsigned value)
{
	char desc[64];

	snprintf(desc, sizeof(desc), "%s at byte %zu (%#x)", what, offset, value);
	try(s, b, len, offset >= s->ev_start && offset < s->ev_end, desc);
}

/* ---- edits that keep the protobuf well formed ---- */

#define MAX_DEPTH 8
#define MAX_FIELDS 4096

struct field {
	size_t at, len_at, value_at, end; /* tag, length (wire type 2), value, end */
	unsigned type;
	uint64_t number;
};

/* The fields of b[start, end) into out; how many, or SIZE_MAX when they are not well-formed protobuf. */
static size_t fields_of(const uint8_t *b, size_t start, size_t end, struct field *out, size_t max)
{
	size_t n = 0, at = start;

	while (at < end) {
		struct field f = { .at = at };
		size_t tag, v;

		if (n == max || b[at] == 0)
			return SIZE_MAX;
		tag = varint(b, end, &at);
		f.type = tag & 7;
		f.number = tag >> 3;
		f.len_at = at;
		if (f.number == 0)
			return SIZE_MAX;
		if (f.type == 0) {
			f.value_at = at;
			varint(b, end, &at);
			if (b[at - 1] & 0x80)
				return SIZE_MAX;
		} else if (f.type == 1 || f.type == 5) {
			f.value_at = at;
			if ((f.type == 1 ? 8u : 4u) > end - at)
				return SIZE_MAX;
			at += f.type == 1 ? 8 : 4;
		} else if (f.type == 2) {
			v = varint(b, end, &at);
			f.value_at = at;
			if (v > end - at)
				return SIZE_MAX;
			at += v;
		} else {
			return SIZE_MAX;
		}
		f.end = at;
		out[n++] = f;
	}
	return n;
}

static size_t put_varint(uint8_t *out, uint64_t v)
{
	size_t n = 0;

	do {
		out[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	return n;
}

/* A growing byte string; out of memory ends the sweep. */
struct buf {
	uint8_t *data;
	size_t len;
};

static void put(struct buf *o, const void *p, size_t n)
{
	uint8_t *grown = realloc(o->data, o->len + n + 1);

	if (!grown) {
		fprintf(stderr, "export-sweep: out of memory\n");
		exit(1);
	}
	o->data = grown;
	if (n)
		memcpy(o->data + o->len, p, n);
	o->len += n;
}

enum op { INSERT, DELETE, REPEAT };

struct edit {
	size_t path[MAX_DEPTH]; /* field indexes down to the message edited */
	size_t depth;
	enum op op;
	size_t index;           /* the field before which to insert, or to delete or repeat */
	uint8_t field[16];      /* what to insert */
	size_t field_len;
};

/* The message b[start, end) with e applied at depth d of its path, into o. */
static void rebuild(const uint8_t *b, size_t start, size_t end, const struct edit *e, size_t d, struct buf *o)
{
	static struct field fields[MAX_DEPTH + 1][MAX_FIELDS];
	size_t n = fields_of(b, start, end, fields[d], MAX_FIELDS);

	if (d < e->depth) {
		const struct field *f = &fields[d][e->path[d]];
		struct buf inner = { 0 };
		uint8_t len[10];

		rebuild(b, f->value_at, f->end, e, d + 1, &inner);
		put(o, b + start, f->len_at - start);
		put(o, len, put_varint(len, inner.len));
		put(o, inner.data, inner.len);
		put(o, b + f->end, end - f->end);
		free(inner.data);
		return;
	}
	for (size_t i = 0; i <= n; i++) {
		if (e->op == INSERT && i == e->index)
			put(o, e->field, e->field_len);
		if (i == n)
			break;
		if (e->op == DELETE && i == e->index)
			continue;
		put(o, b + fields[d][i].at, fields[d][i].end - fields[d][i].at);
		if (e->op == REPEAT && i == e->index)
			put(o, b + fields[d][i].at, fields[d][i].end - fields[d][i].at);
	}
}

static void try_edit(struct sweep *s, const uint8_t *data, size_t len, const struct edit *e, bool in_evidence)
{
	static const char *const names[] = { "inserted before", "deleted:", "repeated:" };
	struct buf o = { 0 };
	char desc[256];
	int at = 0;

	for (size_t d = 0; d < e->depth; d++)
		at += snprintf(desc + at, sizeof(desc) - (size_t)at, "field #%zu > ", e->path[d]);
	at += snprintf(desc + at, sizeof(desc) - (size_t)at, "a field %s field #%zu", names[e->op], e->index);
	for (size_t i = 0; e->op == INSERT && i < e->field_len; i++)
		at += snprintf(desc + at, sizeof(desc) - (size_t)at, "%s%02x", i ? "" : " (", e->field[i]);
	snprintf(desc + at, sizeof(desc) - (size_t)at, "%s", e->op == INSERT ? ")" : "");
	rebuild(data, 0, len, e, 0, &o);
	try(s, o.data, o.len, in_evidence, desc);
	free(o.data);
}

/* Every edit of the message b[start, end) at e's path, then of the messages inside it. */
static void walk(struct sweep *s, const uint8_t *data, size_t len, size_t start, size_t end, struct edit *e,
	bool in_evidence)
{
	static const uint64_t numbers[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 1000 };
	struct field *fields = malloc(MAX_FIELDS * sizeof(*fields));
	size_t n;

	if (!fields) {
		fprintf(stderr, "export-sweep: out of memory\n");
		exit(1);
	}
	n = fields_of(data, start, end, fields, MAX_FIELDS);
	if (n == SIZE_MAX || n == 0) {
		free(fields);
		return;
	}
	for (size_t i = 0; i <= n; i++) {
		e->index = i;
		e->op = INSERT;
		for (size_t k = 0; k < sizeof(numbers) / sizeof(numbers[0]); k++)
			for (unsigned type = 0; type <= 2; type += 2) {
				size_t at = put_varint(e->field, numbers[k] << 3 | type);

				e->field[at++] = 1; /* the value 1, or a length of 1 ... */
				if (type == 2)
					e->field[at++] = 'x'; /* ... and one byte */
				e->field_len = at;
				try_edit(s, data, len, e, in_evidence || (e->depth == 0 && numbers[k] == 3));
			}
		if (i == n)
			break;
		e->op = DELETE;
		try_edit(s, data, len, e, in_evidence || (e->depth == 0 && fields[i].number == 3));
		e->op = REPEAT;
		try_edit(s, data, len, e, in_evidence || (e->depth == 0 && fields[i].number == 3));
	}
	for (size_t i = 0; e->depth < MAX_DEPTH && i < n; i++) {
		if (fields[i].type != 2 || fields[i].value_at == fields[i].end)
			continue;
		e->path[e->depth++] = i;
		walk(s, data, len, fields[i].value_at, fields[i].end, e,
			in_evidence || (e->depth == 1 && fields[i].number == 3));
		e->depth--;
	}
	free(fields);
}

int main(int argc, char **argv)
{
	static const uint8_t masks[] = { 0x01, 0x80 }, inserts[] = { 0x00, 0x7a };
	struct dcr_specs *specs = NULL;
	struct dcr_audit_export ex;
	struct sweep s = { 0 };
	struct dcr_err err;
	uint8_t *data = NULL, *b;
	size_t len = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: export-sweep SPECS EXPORT\n");
		return 2;
	}
	if (dcr_specs_load(argv[1], &specs, &err) < 0 || dcr_read_file(argv[2], 64u << 20, &data, &len, &err) < 0) {
		fprintf(stderr, "export-sweep: %s\n", err.msg);
		return 1;
	}
	if (dcr_audit_export_verify(data, len, specs, &ex, &err) < 0) {
		fprintf(stderr, "export-sweep: the untouched export does not verify: %s\n", err.msg);
		return 1;
	}
	dcr_audit_export_release(&ex);
	if (!evidence_span(data, len, &s.ev_start, &s.ev_end) || !(b = malloc(len + 1))) {
		fprintf(stderr, "export-sweep: no evidence field, or out of memory\n");
		return 1;
	}
	s.specs = specs;
	for (size_t i = 0; i < len; i++) {
		for (size_t m = 0; m < sizeof(masks); m++) {
			memcpy(b, data, len);
			b[i] ^= masks[m];
			try_byte(&s, b, len, "flipped", i, masks[m]);
		}
		memcpy(b, data, i);
		memcpy(b + i, data + i + 1, len - i - 1);
		try_byte(&s, b, len - 1, "deleted", i, data[i]);
	}
	for (size_t i = 0; i <= len; i++)
		for (size_t v = 0; v < sizeof(inserts); v++) {
			memcpy(b, data, i);
			b[i] = inserts[v];
			memcpy(b + i + 1, data + i, len - i);
			try_byte(&s, b, len + 1, i == len ? "appended" : "inserted", i, inserts[v]);
		}
	printf("%zu byte changes to a %zu-byte export tried\n", s.tried, len);
	{
		struct edit e = { .depth = 0 };
		size_t bytes = s.tried;

		walk(&s, data, len, 0, len, &e, false);
		printf("%zu edits of its protobuf fields tried\n", s.tried - bytes);
	}
	printf("%zu changes tried in all, %zu not refused as they should be\n", s.tried, s.bad);
	free(b);
	free(data);
	dcr_specs_free(specs);
	return s.bad ? 1 : 0;
}
