/* Unit tests for lib/table.c: the CSV rules of table nodes, exact errors, streaming in any pieces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "table.h"

#define MAX_COLS 8

/* A schema from "name:type[?] ...", '?' meaning nullable; valid until the next call. */
static Dcr__V1__TableNode *schema(bool header, char delimiter, const char *spec)
{
	static Dcr__V1__TableNode t;
	static Dcr__V1__Column cols[MAX_COLS], *colp[MAX_COLS];
	static char names[MAX_COLS][32];
	static const char *const types[] = { "string", "int64", "float64", "bool", "date" };
	const char *p = spec;

	dcr__v1__table_node__init(&t);
	t.header = header;
	t.delimiter = (uint32_t)(unsigned char)delimiter;
	t.columns = colp;
	while (*p) {
		size_t i = t.n_columns++, n = strcspn(p, ":");
		const char *type = p + n + 1;
		size_t tn = strcspn(type, "? ");

		assert_true(i < MAX_COLS && n < sizeof(names[i]));
		dcr__v1__column__init(&cols[i]);
		memcpy(names[i], p, n);
		names[i][n] = '\0';
		cols[i].name = names[i];
		for (size_t k = 0; k < 5; k++)
			if (strlen(types[k]) == tn && memcmp(types[k], type, tn) == 0)
				cols[i].type = (Dcr__V1__ColumnType)(k + 1);
		assert_int_not_equal(cols[i].type, 0);
		cols[i].nullable = type[tn] == '?';
		p = type + tn + (type[tn] == '?');
		while (*p == ' ')
			p++;
		colp[i] = &cols[i];
	}
	return &t;
}

/* Rows rendered as text: NULL, 42, r:2.5, 'text' joined by '|', one line per row. */
struct rows {
	char text[1 << 16];
	size_t len;
	int refuse_at;  /* refuse this row (1-based) with DCR_ECOMPUTE; 0: never */
	bool count_only;
	size_t seen;
};

__attribute__((format(printf, 2, 3)))
static void add(struct rows *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	r->len += (size_t)vsnprintf(r->text + r->len, sizeof(r->text) - r->len, fmt, ap);
	va_end(ap);
	assert_true(r->len < sizeof(r->text));
}

static int collect(void *ctx, const struct dcr_table_value *v, size_t n, struct dcr_err *err)
{
	struct rows *r = ctx;

	if ((int)++r->seen == r->refuse_at)
		return dcr_err_set(err, DCR_ECOMPUTE, "refused row %zu", r->seen);
	for (size_t i = 0; r->count_only && i < n; i++)
		assert_true(v[i].kind != DCR_TABLE_TEXT || !memchr(v[i].s, '\0', v[i].len));
	for (size_t i = 0; !r->count_only && i < n; i++) {
		add(r, "%s", i ? "|" : "");
		switch (v[i].kind) {
		case DCR_TABLE_NULL:
			add(r, "NULL");
			break;
		case DCR_TABLE_INT:
			add(r, "%lld", (long long)v[i].i);
			break;
		case DCR_TABLE_REAL:
			add(r, "r:%.17g", v[i].d);
			break;
		case DCR_TABLE_TEXT:
			assert_null(memchr(v[i].s, '\0', v[i].len));
			add(r, "'%.*s'", (int)v[i].len, v[i].s);
			break;
		}
	}
	if (!r->count_only)
		add(r, "\n");
	return 0;
}

typedef struct dcr_table_loader *loader_new_fn(const Dcr__V1__TableNode *t, const char *node,
	dcr_table_row_fn *row, void *ctx, struct dcr_err *err);

/* Load data in pieces of piece bytes (0: all at once) with the loader new makes; the code, rows into *out. */
static int load_with(loader_new_fn *new, const Dcr__V1__TableNode *t, const char *data, size_t len, size_t piece,
	struct rows *out, uint64_t *count, struct dcr_err *err)
{
	struct dcr_table_loader *l = new(t, "t", collect, out, err);
	int r = 0;

	assert_non_null(l);
	if (piece == 0)
		piece = len ? len : 1;
	/* Each piece from a buffer of its own, spoilt and freed once written, as a stream's would be. */
	for (size_t at = 0, n; r == 0 && at < len; at += n) {
		char *copy;

		n = len - at < piece ? len - at : piece;
		assert_non_null(copy = malloc(n));
		memcpy(copy, data + at, n);
		r = dcr_table_loader_write(l, copy, n, err);
		memset(copy, 'Z', n);
		free(copy);
	}
	if (r == 0)
		r = dcr_table_loader_finish(l, count, err);
	dcr_table_loader_free(l);
	return r;
}

static int load_pieces(const Dcr__V1__TableNode *t, const char *data, size_t len, size_t piece, struct rows *out,
	uint64_t *count, struct dcr_err *err)
{
	return load_with(dcr_table_loader_new, t, data, len, piece, out, count, err);
}

/*
 * Load data whole, one byte at a time and in pieces of 7, and whole and in
 * pieces of 7 through libcsv's tokenizer (the reference): all must agree.
 * Returns the rows (or "ERROR: message").
 */
static const char *load(const Dcr__V1__TableNode *t, const char *data, size_t len)
{
	static struct rows whole;
	static char result[sizeof(whole.text) + DCR_ERR_MSG_MAX];
	static const struct {
		loader_new_fn *new;
		size_t piece;
	} others[] = {
		{ dcr_table_loader_new, 1 },
		{ dcr_table_loader_new, 7 },
		{ dcr_table_loader_new_reference, 0 },
		{ dcr_table_loader_new_reference, 7 },
	};
	struct dcr_err err = { 0 }, err2;
	uint64_t count = 0, count2;
	int r;

	memset(&whole, 0, sizeof(whole));
	r = load_pieces(t, data, len, 0, &whole, &count, &err);
	for (size_t i = 0; i < sizeof(others) / sizeof(*others); i++) {
		struct rows *other = calloc(1, sizeof(*other));

		assert_non_null(other);
		memset(&err2, 0, sizeof(err2));
		count2 = 0;
		assert_int_equal(load_with(others[i].new, t, data, len, others[i].piece, other, &count2, &err2), r);
		assert_int_equal(count2, count);
		assert_string_equal(other->text, whole.text);
		if (r < 0)
			assert_string_equal(err2.msg, err.msg);
		free(other);
	}
	if (r < 0) {
		assert_int_equal(r, err.code);
		snprintf(result, sizeof(result), "ERROR: %s", err.msg);
	} else {
		assert_int_equal(count, whole.seen);
		snprintf(result, sizeof(result), "%s", whole.text);
	}
	return result;
}

static const char *load_str(const Dcr__V1__TableNode *t, const char *data)
{
	return load(t, data, strlen(data));
}

/* ---- the tests ---- */

static void test_types(void **state)
{
	Dcr__V1__TableNode *t = schema(true, ',', "s:string i:int64 f:float64 b:bool d:date");

	assert_string_equal(load_str(t,
		"s,i,f,b,d\n"
		"hello,42,2.5,true,2024-02-29\n"
		"\"a, b\",-9223372036854775808,-1e3,false,0001-01-01\n"
		"x y,+7,.5,1,9999-12-31\n"
		"é,0,1.,0,2000-02-29\n"),
		"'hello'|42|r:2.5|1|'2024-02-29'\n"
		"'a, b'|-9223372036854775808|r:-1000|0|'0001-01-01'\n"
		"'x y'|7|r:0.5|1|'9999-12-31'\n"
		"'é'|0|r:1|0|'2000-02-29'\n");
}

static void test_nulls(void **state)
{
	Dcr__V1__TableNode *t = schema(false, ',', "s:string? i:int64? f:float64? b:bool? d:date?");

	/* Unquoted empty is NULL everywhere; quoted "" is an empty string, and NULL where that cannot be. */
	assert_string_equal(load_str(t, ",,,,\n\"\",\"\",\"\",\"\",\"\"\n"),
		"NULL|NULL|NULL|NULL|NULL\n"
		"''|NULL|NULL|NULL|NULL\n");
	t = schema(false, ',', "s:string i:int64");
	assert_string_equal(load_str(t, "\"\",1\n"), "''|1\n");
	assert_string_equal(load_str(t, ",1\n"),
		"ERROR: table 't', record 1, column 's': the value is empty, but the column is not nullable "
		"(write \"\" for an empty string)");
	assert_string_equal(load_str(t, "a,\n"),
		"ERROR: table 't', record 1, column 'i': the value is empty, but the column is not nullable");
	assert_string_equal(load_str(t, "a,\"\"\n"),
		"ERROR: table 't', record 1, column 'i': the value is empty, but the column is not nullable");
	assert_string_equal(load_str(t, "a,1\nb,2\nc,"),
		"ERROR: table 't', record 3, column 'i': the value is empty, but the column is not nullable");
}

static void test_header(void **state)
{
	Dcr__V1__TableNode *t = schema(true, ',', "name:string salary:float64");

	assert_string_equal(load_str(t, "name,salary\nAda,1\n"), "'Ada'|r:1\n");
	assert_string_equal(load_str(t, "\"name\",\"salary\"\r\nAda,1\r\n"), "'Ada'|r:1\n");
	assert_string_equal(load_str(t, "name,salary\n"), "");
	assert_string_equal(load_str(t, "name,salary"), "");
	assert_string_equal(load_str(t, "\xef\xbb\xbfname,salary\nAda,1\n"), "'Ada'|r:1\n");
	assert_string_equal(load_str(t, "name,Salary\nAda,1\n"),
		"ERROR: table 't', header: field 2 should be 'salary' "
		"(the header names the columns exactly, in order: name,salary)");
	assert_string_equal(load_str(t, "name, salary\n"),
		"ERROR: table 't', header: field 2 should be 'salary' "
		"(the header names the columns exactly, in order: name,salary)");
	assert_string_equal(load_str(t, "salary,name\n"),
		"ERROR: table 't', header: field 1 should be 'name' "
		"(the header names the columns exactly, in order: name,salary)");
	assert_string_equal(load_str(t, "name\nAda\n"),
		"ERROR: table 't', header: has 1 field, expected 2 (name,salary)");
	assert_string_equal(load_str(t, "name,salary,extra\n"),
		"ERROR: table 't', header: has more than 2 fields");
	/* A missing header: the first data record is not echoed back. */
	assert_string_equal(load_str(t, "Ada Lovelace,72000\n"),
		"ERROR: table 't', header: field 1 should be 'name' "
		"(the header names the columns exactly, in order: name,salary)");
	assert_string_equal(load_str(t, ""), "ERROR: table 't': the data has no header (expected name,salary)");
	assert_string_equal(load_str(t, "\xef\xbb\xbf"), "ERROR: table 't': the data has no header (expected name,salary)");
	assert_string_equal(load_str(t, "\n"), "ERROR: table 't', header: has 1 field, expected 2 (name,salary)");
	/* Without a header the first record is data. */
	t = schema(false, ',', "name:string salary:float64");
	assert_string_equal(load_str(t, "name,1\n"), "'name'|r:1\n");
	assert_string_equal(load_str(t, ""), "");
}

static void test_field_counts(void **state)
{
	Dcr__V1__TableNode *t = schema(true, ',', "a:int64 b:int64?");

	assert_string_equal(load_str(t, "a,b\n1,2\n3\n"), "ERROR: table 't', record 3: has 1 field, expected 2");
	assert_string_equal(load_str(t, "a,b\n1,2,3\n"), "ERROR: table 't', record 2: has more than 2 fields");
	assert_string_equal(load_str(t, "a,b\n1,2\n\n3,4\n"),
		"ERROR: table 't', record 3: has 1 field, expected 2 (a blank line is a record of one empty field)");
	assert_string_equal(load_str(t, "a,b\n1,2\n\n"),
		"ERROR: table 't', record 3: has 1 field, expected 2 (a blank line is a record of one empty field)");
	assert_string_equal(load_str(t, "a,b\n1,2\r\n\r\n"),
		"ERROR: table 't', record 3: has 1 field, expected 2 (a blank line is a record of one empty field)");
	assert_string_equal(load_str(t, "a,b\n1,\n2,3"), "1|NULL\n2|3\n");
	/* In a one-column table a blank line is a NULL, as RFC 4180 reads it. */
	t = schema(false, ',', "x:int64?");
	assert_string_equal(load_str(t, "1\n\n2\n"), "1\nNULL\n2\n");
	assert_string_equal(load_str(t, "\n"), "NULL\n");
	assert_string_equal(load_str(t, "1\n\n"), "1\nNULL\n");
	t = schema(false, ',', "x:int64");
	assert_string_equal(load_str(t, "1\n\n2\n"),
		"ERROR: table 't', record 2, column 'x': the value is empty, but the column is not nullable");
}

static void test_quoting(void **state)
{
	Dcr__V1__TableNode *t = schema(false, ',', "s:string n:int64");

	assert_string_equal(load_str(t, "\"a \"\"quoted\"\" word\",1\n"), "'a \"quoted\" word'|1\n");
	assert_string_equal(load_str(t, "\"two\nlines\",1\n\"cr\r\nlf\",2\n"), "'two\nlines'|1\n'cr\r\nlf'|2\n");
	assert_string_equal(load_str(t, "  spaced  ,1\n"), "'  spaced  '|1\n");
	assert_string_equal(load_str(t, "\"\",1\n\"\"\"\",2\n"), "''|1\n'\"'|2\n");
	assert_string_equal(load_str(t, "\"1\",\"2\"\n"), "'1'|2\n");
	assert_string_equal(load_str(t, "x,1\na\"b,2\n"),
		"ERROR: table 't', record 2, column 's': malformed quoting (a '\"' inside an unquoted field, "
		"or a closing '\"' followed by something other than the delimiter or a line end)");
	assert_string_equal(load_str(t, "\"a\"b,1\n"),
		"ERROR: table 't', record 1, column 's': malformed quoting (a '\"' inside an unquoted field, "
		"or a closing '\"' followed by something other than the delimiter or a line end)");
	assert_string_equal(load_str(t, "\"a\" ,1\n"),
		"ERROR: table 't', record 1, column 's': malformed quoting (a '\"' inside an unquoted field, "
		"or a closing '\"' followed by something other than the delimiter or a line end)");
	assert_string_equal(load_str(t, "a,\"1\nb,2\n"),
		"ERROR: table 't', record 1, column 'n': a quoted field is not closed before the end of the data");
	/* Other delimiters, and a comma that is then data. */
	t = schema(false, ';', "s:string n:int64");
	assert_string_equal(load_str(t, "a,b;1\n\"c;d\";2\n"), "'a,b'|1\n'c;d'|2\n");
	t = schema(false, '\t', "s:string n:int64");
	assert_string_equal(load_str(t, "a b\t1\n"), "'a b'|1\n");
	assert_string_equal(load_str(t, "a\t 1\n"),
		"ERROR: table 't', record 1, column 'n': the value is not an int64 (expected decimal digits with an optional sign)");
}

static void test_line_ends(void **state)
{
	Dcr__V1__TableNode *t = schema(true, ',', "a:int64");

	assert_string_equal(load_str(t, "a\r\n1\r\n2\n3"), "1\n2\n3\n");
	assert_string_equal(load_str(t, "a\n1\r2\n"),
		"ERROR: table 't', record 2: the line ends in a carriage return without a line feed "
		"(line ends must be LF or CRLF; quote a field to keep a CR in it)");
	assert_string_equal(load_str(t, "a\n1\r"),
		"ERROR: table 't', record 2: the line ends in a carriage return without a line feed "
		"(line ends must be LF or CRLF; quote a field to keep a CR in it)");
	assert_string_equal(load_str(t, "a\n1\r\r\n"),
		"ERROR: table 't', record 2: the line ends in a carriage return without a line feed "
		"(line ends must be LF or CRLF; quote a field to keep a CR in it)");
	assert_string_equal(load_str(t, "a\n1\n\r\n"),
		"ERROR: table 't', record 3, column 'a': the value is empty, but the column is not nullable");
}

static void test_utf8(void **state)
{
	Dcr__V1__TableNode *t = schema(false, ',', "s:string");
	static const char *const bad[] = {
		"\xff", "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80",
		"\xe2\x82", "a\x80", "\xc3",
	};

	assert_string_equal(load_str(t, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf\n"),
		"'\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf'\n");
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char data[32];

		snprintf(data, sizeof(data), "ok\n%s\n", bad[i]);
		assert_string_equal(load_str(t, data), "ERROR: table 't', record 2, column 's': the value is not valid UTF-8");
	}
	/* A partial byte order mark is data, and not UTF-8. */
	assert_string_equal(load_str(t, "\xef\xbbx\n"), "ERROR: table 't', record 1, column 's': the value is not valid UTF-8");
	assert_string_equal(load(t, "a\nb\0c\n", 6), "ERROR: table 't', record 2, column 's': the value contains a NUL byte");
	assert_string_equal(load(t, "\"\0\"\n", 4), "ERROR: table 't', record 1, column 's': the value contains a NUL byte");
}

static void test_int64(void **state)
{
	Dcr__V1__TableNode *t = schema(false, ',', "n:int64");
	static const char *const bad[] = { "1.0", " 1", "1 ", "0x10", "+", "-", "1e3", "--1", "1-", "١", "true" };

	assert_string_equal(load_str(t, "9223372036854775807\n-9223372036854775808\n-0\n007\n+12\n"),
		"9223372036854775807\n-9223372036854775808\n0\n7\n12\n");
	assert_string_equal(load_str(t, "9223372036854775808\n"),
		"ERROR: table 't', record 1, column 'n': the value is out of the int64 range");
	assert_string_equal(load_str(t, "-9223372036854775809\n"),
		"ERROR: table 't', record 1, column 'n': the value is out of the int64 range");
	assert_string_equal(load_str(t, "99999999999999999999999\n"),
		"ERROR: table 't', record 1, column 'n': the value is out of the int64 range");
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char data[32];

		snprintf(data, sizeof(data), "%s\n", bad[i]);
		assert_string_equal(load_str(t, data), "ERROR: table 't', record 1, column 'n': "
			"the value is not an int64 (expected decimal digits with an optional sign)");
	}
}

static void test_float64(void **state)
{
	Dcr__V1__TableNode *t = schema(false, ',', "f:float64");
	static const char *const bad[] = { "inf", "-inf", "nan", "NaN", "Infinity", "0x1p3", "1e", "1e+", ".", "e5",
		" 1", "1 ", "1,5", "1.2.3", "+-1", "1d", "0x10" };

	assert_string_equal(load_str(t, "1e308\n-1.7976931348623157e308\n1E+2\n.5\n5.\n-0\n1e-400\n0.1\n"),
		"r:1e+308\nr:-1.7976931348623157e+308\nr:100\nr:0.5\nr:5\nr:-0\nr:0\nr:0.10000000000000001\n");
	assert_string_equal(load_str(t, "1e309\n"),
		"ERROR: table 't', record 1, column 'f': the value is out of the float64 range");
	assert_string_equal(load_str(t, "-1e309\n"),
		"ERROR: table 't', record 1, column 'f': the value is out of the float64 range");
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char data[32];

		snprintf(data, sizeof(data), "\"%s\"\n", bad[i]);
		assert_string_equal(load_str(t, data), "ERROR: table 't', record 1, column 'f': "
			"the value is not a float64 (expected a decimal number such as 12.5, -3 or 1e6)");
	}
}

struct doubles {
	double *v;
	size_t n;
};

static int keep_double(void *ctx, const struct dcr_table_value *v, size_t n, struct dcr_err *err)
{
	struct doubles *d = ctx;

	assert_int_equal(v[0].kind, DCR_TABLE_REAL);
	d->v[d->n++] = v[0].d;
	return 0;
}

/*
 * Every float64 reads as strtod reads it, to the bit, whichever way the
 * loader takes (its exact fast path or strtod): 200000 numbers of every
 * shape, short and long, with and without exponents, around the edges of
 * the fast path (2^53, 10^22).
 */
static void test_float64_exact(void **state)
{
	enum { N = 200000 };
	Dcr__V1__TableNode *t = schema(false, ',', "f:float64");
	static const char *const edges[] = { "9007199254740992", "9007199254740993", "9007199254740991e22",
		"9007199254740993e-22", "1e22", "1e23", "1e-22", "1e-23", "0.1", "-0.0", "+5", "123456789012345678",
		"4.35", "0.000001", "1.7976931348623157e308", "2.2250738585072014e-308", "4.9e-324", "00000.5e1" };
	char *csv = malloc((size_t)N * 48), **text = malloc(N * sizeof(char *));
	struct doubles got = { malloc(N * sizeof(double)), 0 };
	struct dcr_table_loader *l;
	struct dcr_err err;
	uint64_t rows, seed = 18;
	size_t len = 0;

	assert_non_null(csv);
	assert_non_null(text);
	assert_non_null(got.v);
	for (size_t i = 0; i < N; i++) {
		char *at = csv + len;

		seed = seed * 6364136223846793005u + 1442695040888963407u;
		if (i < sizeof(edges) / sizeof(*edges)) {
			len += (size_t)sprintf(at, "%s\n", edges[i]);
		} else {
			uint64_t r = seed >> 11;
			int digits = 1 + (int)(r % 19), frac = (int)((r >> 5) % (unsigned)(digits + 1));
			char num[32];

			snprintf(num, sizeof(num), "%019" PRIu64, (seed >> 1) % 10000000000000000000u);
			len += (size_t)sprintf(at, "%s%.*s%s%.*s", r & (1u << 12) ? "-" : "", digits - frac, num + 19 - digits,
				frac ? "." : "", frac, num + 19 - frac);
			if (r & (1u << 13))
				len += (size_t)sprintf(csv + len, "e%d", (int)((r >> 14) % 61) - 30);
			len += (size_t)sprintf(csv + len, "\n");
		}
		text[i] = at;
	}
	assert_non_null(l = dcr_table_loader_new(t, "t", keep_double, &got, &err));
	assert_int_equal(dcr_table_loader_write(l, csv, len, &err), 0);
	assert_int_equal(dcr_table_loader_finish(l, &rows, &err), 0);
	dcr_table_loader_free(l);
	assert_int_equal(rows, N);
	for (size_t i = 0; i < N; i++) {
		double want = strtod(text[i], NULL);

		if (memcmp(&want, &got.v[i], sizeof(want)) != 0)
			fail_msg("%.*s: loaded %.17g, strtod %.17g", (int)strcspn(text[i], "\n"), text[i], got.v[i], want);
	}
	free(csv);
	free(text);
	free(got.v);
}

static void test_bool(void **state)
{
	Dcr__V1__TableNode *t = schema(false, ',', "b:bool");
	static const char *const bad[] = { "True", "FALSE", "yes", "t", "2", "01", " 1", "true " };

	assert_string_equal(load_str(t, "true\nfalse\n1\n0\n"), "1\n0\n1\n0\n");
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char data[32];

		snprintf(data, sizeof(data), "\"%s\"\n", bad[i]);
		assert_string_equal(load_str(t, data),
			"ERROR: table 't', record 1, column 'b': the value is not a bool (expected true, false, 1 or 0)");
	}
}

static void test_date(void **state)
{
	Dcr__V1__TableNode *t = schema(false, ',', "d:date");
	static const char *const syntax[] = { "2023-1-01", "2023/01/01", "20230101", "2023-01-01T00:00", " 2023-01-01",
		"+023-01-01", "2023-0a-01", "23-01-01" };
	static const char *const calendar[] = { "2023-02-29", "1900-02-29", "2023-13-01", "2023-00-10", "2023-04-31",
		"2023-01-00", "2023-01-32", "0000-01-01" };

	assert_string_equal(load_str(t, "2024-02-29\n2000-02-29\n2023-12-31\n"),
		"'2024-02-29'\n'2000-02-29'\n'2023-12-31'\n");
	for (size_t i = 0; i < sizeof(syntax) / sizeof(*syntax); i++) {
		char data[32];

		snprintf(data, sizeof(data), "%s\n", syntax[i]);
		assert_string_equal(load_str(t, data),
			"ERROR: table 't', record 1, column 'd': the value is not a date (expected YYYY-MM-DD)");
	}
	for (size_t i = 0; i < sizeof(calendar) / sizeof(*calendar); i++) {
		char data[32];

		snprintf(data, sizeof(data), "%s\n", calendar[i]);
		assert_string_equal(load_str(t, data), "ERROR: table 't', record 1, column 'd': "
			"the value is not a calendar date (YYYY-MM-DD, years 0001 to 9999)");
	}
}

/* No message may quote the data that caused it: they reach an audit log every participant reads. */
static void test_no_echo(void **state)
{
	static const struct { const char *spec; bool header; const char *data; } cases[] = {
		{ "a:int64", false, "SECRET\n" },
		{ "a:int64", false, "1SECRET\n" },
		{ "a:float64", false, "SECRET\n" },
		{ "a:bool", false, "SECRET\n" },
		{ "a:date", false, "SECRET\n" },
		{ "a:string b:int64", false, "SECRET\n" },
		{ "a:string", false, "SECRET,SECRET\n" },
		{ "a:string", false, "SECRET\xff\n" },
		{ "a:string", false, "SECRET\"x\n" },
		{ "a:string", false, "\"SECRET\n" },
		{ "a:string", false, "SECRET\rSECRET\n" },
		{ "a:string b:string", true, "SECRET,SECRET\n" },
		{ "a:string b:string", true, "a,SECRET\n" },
		{ "a:string b:string", true, "SECRET\n" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		Dcr__V1__TableNode *t = schema(cases[i].header, ',', cases[i].spec);
		const char *got = load_str(t, cases[i].data);

		assert_true(strncmp(got, "ERROR: ", 7) == 0);
		if (strstr(got, "SECRET"))
			fail_msg("case %zu echoes the data: %s", i, got);
	}
}

static void test_field_limit(void **state)
{
	Dcr__V1__TableNode *t = schema(false, ',', "s:string n:int64");
	size_t max = DCR_TABLE_FIELD_MAX;
	char *data = malloc(2 * max + 16);
	struct rows *rows = calloc(1, sizeof(*rows));
	struct dcr_err err;
	uint64_t count;

	assert_non_null(data);
	assert_non_null(rows);
	rows->count_only = true;
	/* Exactly the limit, followed by the delimiter; then as the last field of the data. */
	memset(data, 'x', max);
	memcpy(data + max, ",1\n", 3);
	assert_int_equal(load_pieces(t, data, max + 3, 0, rows, &count, &err), 0);
	assert_int_equal(count, 1);
	t = schema(false, ',', "n:int64 s:string");
	memcpy(data, "1,", 2);
	memset(data + 2, 'x', max);
	assert_int_equal(load_pieces(t, data, max + 2, 4096, rows, &count, &err), 0);
	assert_int_equal(count, 1);
	/* Quoted, the limit counts what is between the quotes (a closing quote at the limit was refused). */
	t = schema(false, ',', "s:string n:int64");
	data[0] = '"';
	memset(data + 1, 'x', max);
	memcpy(data + 1 + max, "\",1\n", 4);
	assert_int_equal(load_pieces(t, data, max + 5, 0, rows, &count, &err), 0);
	assert_int_equal(count, 1);
	memset(data + 1, 'x', max + 1);
	memcpy(data + max, "\"\"\",1\n", 6); /* the limit with a "" in it */
	assert_int_equal(load_pieces(t, data, max + 6, 4096, rows, &count, &err), 0);
	memset(data + 1, 'x', max + 1);
	memcpy(data + 2 + max, "\",1\n", 4);
	assert_int_equal(load_pieces(t, data, max + 6, 0, rows, &count, &err), DCR_EINVALID);
	assert_string_equal(err.msg, "table 't', record 1, column 's': a field is longer than 1 MiB (1048576 bytes)");
	t = schema(false, ',', "n:int64 s:string");
	memcpy(data, "1,", 2);
	/* One byte more, whether more data follows or not. */
	memset(data + 2, 'x', max + 1);
	assert_int_equal(load_pieces(t, data, max + 3, 0, rows, &count, &err), DCR_EINVALID);
	assert_string_equal(err.msg, "table 't', record 1, column 's': a field is longer than 1 MiB (1048576 bytes)");
	memcpy(data + max + 3, "\n", 1);
	assert_int_equal(load_pieces(t, data, max + 4, 1000, rows, &count, &err), DCR_EINVALID);
	assert_string_equal(err.msg, "table 't', record 1, column 's': a field is longer than 1 MiB (1048576 bytes)");
	memset(data + 2, 'x', 2 * max);
	assert_int_equal(load_pieces(t, data, 2 * max + 2, 0, rows, &count, &err), DCR_EINVALID);
	assert_string_equal(err.msg, "table 't', record 1, column 's': a field is longer than 1 MiB (1048576 bytes)");
	free(rows);
	free(data);
}

/* Load data in two writes, split at `at`, with the loader new makes: the code, the message into msg. */
static int load_split(loader_new_fn *new, const Dcr__V1__TableNode *t, const char *data, size_t len, size_t at,
	uint64_t *count, char msg[static DCR_ERR_MSG_MAX])
{
	struct rows *rows = calloc(1, sizeof(*rows));
	struct dcr_err err = { 0 };
	struct dcr_table_loader *l;
	int r;

	assert_non_null(rows);
	rows->count_only = true;
	assert_non_null(l = new(t, "t", collect, rows, &err));
	*count = 0;
	r = dcr_table_loader_write(l, data, at, &err);
	if (r == 0)
		r = dcr_table_loader_write(l, data + at, len - at, &err);
	if (r == 0)
		r = dcr_table_loader_finish(l, count, &err);
	dcr_table_loader_free(l);
	free(rows);
	snprintf(msg, DCR_ERR_MSG_MAX, "%s", r < 0 ? err.msg : "");
	return r;
}

/*
 * Fields around the 1 MiB limit, quoted or not, with a "" as their last
 * bytes or not, then what may or may not follow a field, after a lone CR
 * or not, split where the limit falls: the own tokenizer gives the
 * reference's verdict and message on each.
 */
static void test_field_limit_reference(void **state)
{
	static const char *const befores[] = { "", "1,x\r" };
	static const char *const afters[] = { "", ",1\n", "\r\n", "x", "\"x\n" };
	size_t max = DCR_TABLE_FIELD_MAX, cap = max + 64;
	char *data = malloc(cap), want[DCR_ERR_MSG_MAX], got[DCR_ERR_MSG_MAX];
	size_t cases = 0, refused = 0;

	assert_non_null(data);
	for (size_t b = 0; b < sizeof(befores) / sizeof(*befores); b++)
	for (size_t q = 0; q < 3; q++)          /* unquoted, quoted, quoted ending in "" */
	for (size_t k = max - 1; k <= max + 2; k++)
	for (size_t a = 0; a < sizeof(afters) / sizeof(*afters); a++) {
		Dcr__V1__TableNode *t = schema(false, ',', b ? "n:int64 s:string" : "s:string n:int64");
		size_t len = 0, field_end;
		uint64_t count, count2;

		len += (size_t)snprintf(data, cap, "%s%s", befores[b], q ? "\"" : "");
		memset(data + len, 'x', k);
		len += k;
		if (q == 2)
			memcpy(data + len - 2, "\"\"", 2); /* one '"' of content: k - 1 bytes in the field */
		len += (size_t)snprintf(data + len, cap - len, "%s", q ? "\"" : "");
		field_end = len;
		len += (size_t)snprintf(data + len, cap - len, "%s", afters[a]);
		for (size_t i = 0; i < 4; i++) {
			size_t at = i == 0 ? 0 : field_end - 2 + i;
			int r;

			if (at > len)
				break;
			r = load_split(dcr_table_loader_new_reference, t, data, len, at, &count, want);
			assert_int_equal(load_split(dcr_table_loader_new, t, data, len, at, &count2, got), r);
			assert_string_equal(got, want);
			assert_int_equal(count2, count);
			cases++;
			refused += r < 0;
		}
	}
	/* Both verdicts were met: the limit was reached and not. */
	assert_true(refused > 0 && refused < cases);
	free(data);
}

static void test_schema(void **state)
{
	struct dcr_err err;
	Dcr__V1__TableNode *t = schema(false, ',', "a:int64");

	t->delimiter = '"';
	assert_null(dcr_table_loader_new(t, "t", collect, NULL, &err));
	assert_int_equal(err.code, DCR_EINVALID);
	assert_string_equal(err.msg, "table 't' has an unusable delimiter");
	t->delimiter = '\n';
	assert_null(dcr_table_loader_new(t, "t", collect, NULL, &err));
	t->delimiter = 0x80;
	assert_null(dcr_table_loader_new(t, "t", collect, NULL, &err));
	t->delimiter = ',';
	t->columns[0]->type = DCR__V1__COLUMN_TYPE__COLUMN_TYPE_UNSPECIFIED;
	assert_null(dcr_table_loader_new(t, "t", collect, NULL, &err));
	assert_string_equal(err.msg, "table 't', column 'a' has an unknown type");
	t->n_columns = 0;
	assert_null(dcr_table_loader_new(t, "t", collect, NULL, &err));
	assert_string_equal(err.msg, "table 't' must have 1 to 1000 columns");
	dcr_table_loader_free(NULL);
}

/* The row callback's error stops the loader, which keeps returning it. */
static void test_callback_error(void **state)
{
	Dcr__V1__TableNode *t = schema(false, ',', "a:int64");
	struct rows *rows = calloc(1, sizeof(*rows));
	struct dcr_table_loader *l;
	struct dcr_err err;
	uint64_t count = 99;

	assert_non_null(rows);
	rows->refuse_at = 2;
	l = dcr_table_loader_new(t, "t", collect, rows, &err);
	assert_non_null(l);
	assert_int_equal(dcr_table_loader_write(l, "1\n2\n3\n", 6, &err), DCR_ECOMPUTE);
	assert_string_equal(err.msg, "refused row 2");
	assert_int_equal(rows->seen, 2);
	memset(&err, 0, sizeof(err));
	assert_int_equal(dcr_table_loader_write(l, "4\n", 2, &err), DCR_ECOMPUTE);
	assert_string_equal(err.msg, "refused row 2");
	assert_int_equal(dcr_table_loader_finish(l, &count, &err), DCR_ECOMPUTE);
	assert_int_equal(count, 0);
	assert_int_equal(rows->seen, 2);
	dcr_table_loader_free(l);

	/* The sink form, as a stream decoder calls it; and writing after the end is refused. */
	memset(rows, 0, sizeof(*rows));
	l = dcr_table_loader_new(t, "t", collect, rows, &err);
	assert_non_null(l);
	assert_int_equal(dcr_table_loader_sink(l, (const uint8_t *)"5\n6", 3, &err), 0);
	assert_int_equal(dcr_table_loader_finish(l, &count, &err), 0);
	assert_int_equal(count, 2);
	assert_int_equal(dcr_table_loader_write(l, "7\n", 2, &err), DCR_EFAIL);
	dcr_table_loader_free(l);
	free(rows);
}

/* Everything at once, byte by byte and in pieces of 7 gives the same rows (load() checks each case too). */
static void test_pieces(void **state)
{
	Dcr__V1__TableNode *t = schema(true, ';', "s:string? i:int64? f:float64 b:bool d:date?");
	const char *data =
		"\xef\xbb\xbfs;i;f;b;d\r\n"
		"\"multi\r\nline; \"\"quoted\"\"\";12;1.5;true;2020-01-01\r\n"
		";;-2e-3;0;\n"
		"\"\";-5;3;1;\"1999-12-31\"\n"
		"\xe2\x82\xac;9223372036854775807;0.25;false;";

	assert_string_equal(load_str(t, data),
		"'multi\r\nline; \"quoted\"'|12|r:1.5|1|'2020-01-01'\n"
		"NULL|NULL|r:-0.002|0|NULL\n"
		"''|-5|r:3|1|'1999-12-31'\n"
		"'\xe2\x82\xac'|9223372036854775807|r:0.25|0|NULL\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_nulls),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_field_counts),
		cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_line_ends),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_int64),
		cmocka_unit_test(test_float64),
		cmocka_unit_test(test_float64_exact),
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_no_echo),
		cmocka_unit_test(test_field_limit),
		cmocka_unit_test(test_field_limit_reference),
		cmocka_unit_test(test_schema),
		cmocka_unit_test(test_callback_error),
		cmocka_unit_test(test_pieces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
