/*
 * libFuzzer target for the table loader: arbitrary CSV must never crash it,
 * every row it reports must fit the schema, and feeding the data in pieces
 * must give exactly what feeding it at once gives.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-table-schema.h"
#include "table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct check {
	const Dcr__V1__TableNode *t;
	uint64_t rows;
	uint64_t hash;   /* of every value seen, to compare runs */
};

static void mix(struct check *c, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		c->hash = (c->hash ^ b[i]) * 0x100000001b3ULL;
}

static bool utf8_ok(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t k = s[i] < 0x80 ? 0 : s[i] < 0xe0 ? 1 : s[i] < 0xf0 ? 2 : 3;

		if (s[i] == 0 || (s[i] >= 0x80 && s[i] < 0xc2) || s[i] > 0xf4 || n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
		i += k + 1;
	}
	return true;
}

static void check_value(const Dcr__V1__Column *col, const struct dcr_table_value *v)
{
	switch (v->kind) {
	case DCR_TABLE_NULL:
		if (!col->nullable)
			abort();
		return;
	case DCR_TABLE_INT:
		if (col->type == DCR__V1__COLUMN_TYPE__COLUMN_TYPE_BOOL ? v->i != 0 && v->i != 1
			: col->type != DCR__V1__COLUMN_TYPE__COLUMN_TYPE_INT64)
			abort();
		return;
	case DCR_TABLE_REAL:
		if (col->type != DCR__V1__COLUMN_TYPE__COLUMN_TYPE_FLOAT64 || !isfinite(v->d))
			abort();
		return;
	case DCR_TABLE_TEXT:
		if (!v->s || !utf8_ok((const uint8_t *)v->s, v->len))
			abort();
		if (col->type == DCR__V1__COLUMN_TYPE__COLUMN_TYPE_DATE
			? v->len != 10 || v->s[4] != '-' || v->s[7] != '-'
			: col->type != DCR__V1__COLUMN_TYPE__COLUMN_TYPE_STRING)
			abort();
		return;
	default:
		abort();
	}
}

static int row(void *ctx, const struct dcr_table_value *v, size_t n, struct dcr_err *err)
{
	struct check *c = ctx;

	if (n != c->t->n_columns)
		abort();
	for (size_t i = 0; i < n; i++) {
		check_value(c->t->columns[i], &v[i]);
		mix(c, &v[i].kind, sizeof(v[i].kind));
		if (v[i].kind == DCR_TABLE_INT)
			mix(c, &v[i].i, sizeof(v[i].i));
		else if (v[i].kind == DCR_TABLE_REAL)
			mix(c, &v[i].d, sizeof(v[i].d));
		else if (v[i].kind == DCR_TABLE_TEXT)
			mix(c, v[i].s, v[i].len);
	}
	c->rows++;
	return 0;
}

static int load(const Dcr__V1__TableNode *t, const uint8_t *data, size_t size, size_t piece, struct check *c,
	struct dcr_err *err)
{
	struct dcr_table_loader *l = dcr_table_loader_new(t, "fuzz", row, c, err);
	uint64_t rows = 0;
	int r = 0;

	if (!l)
		abort();
	for (size_t at = 0; r == 0 && at < size; at += piece)
		r = dcr_table_loader_write(l, data + at, size - at < piece ? size - at : piece, err);
	if (r == 0 && (r = dcr_table_loader_finish(l, &rows, err)) == 0 && rows != c->rows)
		abort();
	dcr_table_loader_free(l);
	if (r < 0 && r != DCR_EINVALID && r != DCR_ENOMEM)
		abort();
	return r;
}

/*
 * The first byte chooses: bit 0 a header, bit 1 nullable columns, bit 2 one
 * column instead of five, bits 3-4 the delimiter, bits 5-7 the piece size.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char delimiters[] = { ',', ';', '\t', ' ' };
	static const size_t pieces[] = { 1, 2, 3, 5, 7, 64, 4096, 65537 };
	Dcr__V1__Column cols[5], *colp[5];
	Dcr__V1__TableNode t;
	struct check whole = { &t, 0, 0 }, split = { &t, 0, 0 };
	struct dcr_err e1 = { 0 }, e2 = { 0 };
	uint8_t flags;
	int r1, r2;

	if (size == 0)
		return 0;
	flags = data[0];
	data++, size--;
	fuzz_table_schema(&t, cols, colp, flags, delimiters[(flags >> 3) & 3]);
	r1 = load(&t, data, size, size ? size : 1, &whole, &e1);
	r2 = load(&t, data, size, pieces[flags >> 5], &split, &e2);
	if (r1 != r2 || whole.rows != split.rows || whole.hash != split.hash ||
	    (r1 < 0 && strcmp(e1.msg, e2.msg) != 0))
		abort();
	return 0;
}
