/*
 * Differential libFuzzer target for the table loader's tokenizer: the same
 * bytes, split at different random places, go to the loader (its own
 * tokenizer) and to the reference loader (libcsv's tokenizer, which the own
 * one replaced); both must give the same outcome: the same rows with the
 * same values in the same order, the same code and the same message.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-table-schema.h"
#include "table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Everything a loader passed on: each row's values, in order, byte for byte. */
struct transcript {
	uint8_t *buf;
	size_t len, cap;
	uint64_t rows;
	uint64_t refuse_at;   /* refuse this row (1-based) as the engine might; 0: never */
};

static void put(struct transcript *t, const void *p, size_t n)
{
	if (t->len + n > t->cap) {
		t->cap = (t->len + n) * 2;
		if (!(t->buf = realloc(t->buf, t->cap)))
			abort();
	}
	memcpy(t->buf + t->len, p, n);
	t->len += n;
}

static int row(void *ctx, const struct dcr_table_value *v, size_t n, struct dcr_err *err)
{
	struct transcript *t = ctx;

	if (++t->rows == t->refuse_at)
		return dcr_err_set(err, DCR_ECOMPUTE, "row %llu refused", (unsigned long long)t->rows);
	put(t, &n, sizeof(n));
	for (size_t i = 0; i < n; i++) {
		uint8_t kind = (uint8_t)v[i].kind;

		put(t, &kind, 1);
		if (v[i].kind == DCR_TABLE_INT) {
			put(t, &v[i].i, sizeof(v[i].i));
		} else if (v[i].kind == DCR_TABLE_REAL) {
			put(t, &v[i].d, sizeof(v[i].d));
		} else if (v[i].kind == DCR_TABLE_TEXT) {
			put(t, &v[i].len, sizeof(v[i].len));
			put(t, v[i].s, v[i].len);
		}
	}
	return 0;
}

/* A small generator of piece sizes, seeded by the input: mostly short pieces, now and then a long one. */
static size_t next_piece(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x % 8 == 0 ? 1 + *x % 4096 : 1 + *x % 9;
}

struct outcome {
	int code;
	uint64_t rows;
	struct dcr_err err;
};

static void load(struct dcr_table_loader *l, const uint8_t *data, size_t size, uint32_t seed, struct outcome *o)
{
	int r = 0;

	if (!l)
		abort();
	for (size_t at = 0, n; r == 0 && at < size; at += n) {
		n = seed ? next_piece(&seed) : size;
		if (n > size - at)
			n = size - at;
		r = dcr_table_loader_write(l, data + at, n, &o->err);
	}
	if (r == 0)
		r = dcr_table_loader_finish(l, &o->rows, &o->err);
	o->code = r;
	dcr_table_loader_free(l);
}

/*
 * The first byte chooses the table as fuzz-table's does: bit 0 a header,
 * bit 1 nullable columns, bit 2 one column instead of five, bits 3-5 the
 * delimiter, bits 6-7 which side gets the input whole. The second seeds
 * the split; the third, when not 0, is a row the callback refuses.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char delimiters[] = { ',', ';', '\t', ' ', '|', 'x', '0', '\\' };
	Dcr__V1__Column cols[5], *colp[5];
	Dcr__V1__TableNode t;
	struct transcript own = { 0 }, ref = { 0 };
	struct outcome o1 = { 0 }, o2 = { 0 };
	struct dcr_err err;
	uint8_t flags;
	uint32_t seed;

	if (size < 3)
		return 0;
	flags = data[0];
	seed = 0x9e3779b9u * (data[1] + 1u);
	own.refuse_at = ref.refuse_at = data[2];
	data += 3, size -= 3;
	fuzz_table_schema(&t, cols, colp, flags, delimiters[(flags >> 3) & 7]);
	load(dcr_table_loader_new(&t, "fuzz", row, &own, &err), data, size, flags & 0x40 ? 0 : seed, &o1);
	load(dcr_table_loader_new_reference(&t, "fuzz", row, &ref, &err), data, size,
		flags & 0x80 ? 0 : seed * 31u + 7u, &o2);
	if (o1.code != o2.code || o1.rows != o2.rows || own.rows != ref.rows || own.len != ref.len ||
	    (own.len && memcmp(own.buf, ref.buf, own.len) != 0) ||
	    (o1.code < 0 && strcmp(o1.err.msg, o2.err.msg) != 0))
		abort();
	free(own.buf);
	free(ref.buf);
	return 0;
}
