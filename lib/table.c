/*
 * Table data: strict CSV, checked field by field against a table node's schema. The tokenizer is our
 * own (whole runs of bytes at a time); libcsv's, which it replaced, stays as the reference.
 */
#include "table.h"

#include <csv.h>
#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "room.h"

#include "banned.h"

/*
 * The reference tokenizer, libcsv: strict quoting; every unquoted line end reported, even on an empty line,
 * so that blank lines and lone CRs are seen rather than skipped; fields
 * NUL-terminated (for strtod); an empty unquoted field passed as NULL, so
 * that it can mean SQL NULL while "" stays an empty string.
 */
#define CSV_OPTIONS (CSV_STRICT | CSV_REPALL_NL | CSV_STRICT_FINI | CSV_APPEND_NULL | CSV_EMPTY_IS_NULL)
/* Input goes to libcsv in pieces this big, so that it stops soon after an error in a callback. */
#define PIECE (64u << 10)
/*
 * libcsv's field buffer: the longest field, one byte more to see it is too
 * long, the closing quote of a quoted field (libcsv holds it until it sees
 * what follows), and the NUL.
 */
#define FIELD_BUF_MAX (DCR_TABLE_FIELD_MAX + 3)
#define FIELD_BUF_STEP (64u << 10)

/*
 * The most a field may hold while more bytes come: libcsv, with the field
 * buffer above, fails to take any byte (a field's, a delimiter, a line end
 * or a closing quote) once it holds this many, counting the closing quote
 * it keeps until it sees what follows. The own tokenizer stops at the same
 * byte, so that both give the same verdict on every input.
 */
#define ENTRY_MAX (FIELD_BUF_MAX - 1)

static const uint8_t bom[3] = { 0xef, 0xbb, 0xbf };

/* The own tokenizer's states, libcsv's as it runs with CSV_OPTIONS (names in the comments). */
enum tok_state {
	ROW_START,      /* ROW_NOT_BEGUN: no byte of the record yet */
	FIELD_START,    /* FIELD_NOT_BEGUN: after a delimiter */
	UNQUOTED,       /* FIELD_BEGUN, not quoted: the field so far in fb */
	QUOTED,         /* FIELD_BEGUN, quoted: the content so far in fb */
	QUOTE_SEEN,     /* FIELD_MIGHT_HAVE_ENDED: a '"' in a quoted field, the end or the first of "" */
};

/* Byte classes of the own tokenizer: 0 for a byte that is part of an unquoted field. */
enum { C_DATA, C_DELIM, C_QUOTE, C_CR, C_LF };

struct dcr_table_loader {
	const Dcr__V1__TableNode *t;
	const char *node;
	dcr_table_row_fn *row;
	void *ctx;
	bool reference;             /* libcsv tokenizes, not the own tokenizer */
	struct csv_parser csv;
	enum tok_state state;
	uint8_t cls[256];           /* each byte's class (C_*) under this table's delimiter */
	uint8_t *fb;                /* a field that spans writes or is quoted, as libcsv's buffer holds it */
	size_t fb_len, fb_cap;
	locale_t c_locale;          /* strtod must read '.' whatever the program's locale */
	struct dcr_table_value *values;
	size_t *text_at;            /* where each TEXT value of the record starts in text; IN_INPUT: not there */
	bool in_input;              /* the field being passed on lies in the data of the write call */
	uint8_t *text;              /* the record's TEXT values, each NUL-terminated */
	size_t text_len, text_cap;
	size_t field;               /* fields of the current record accepted so far */
	uint64_t records;           /* complete records, the header included */
	uint64_t rows;              /* data records passed to row */
	bool in_header;             /* the current record is the header */
	bool blank;                 /* the current record is a blank line */
	bool cr;                    /* the last record ended with a CR: only its LF may follow */
	unsigned bom_matched;       /* leading bytes that matched a UTF-8 byte order mark */
	bool bom_decided;
	bool finished;
	struct dcr_err err;         /* the first error; code 0 until then */
};

/* ---- libcsv's field buffer: wiped whenever it moves or goes, since it holds plaintext ---- */

union field_head {
	size_t size;
	max_align_t align;
};

/* realloc's contract, bounded: a field longer than the limit fails as CSV_ENOMEM at the limit. */
static void *field_realloc(void *p, size_t n)
{
	union field_head *old = p ? (union field_head *)p - 1 : NULL, *h;

	if (n > FIELD_BUF_MAX || !(h = malloc(sizeof(*h) + n)))
		return NULL;
	h->size = n;
	if (old) {
		memcpy(h + 1, old + 1, old->size < n ? old->size : n);
		dcr_wipe(old, sizeof(*old) + old->size);
		free(old);
	}
	return h + 1;
}

static void field_free(void *p)
{
	union field_head *h = p ? (union field_head *)p - 1 : NULL;

	if (h) {
		dcr_wipe(h, sizeof(*h) + h->size);
		free(h);
	}
}

/* ---- errors: where, then what, never the value ---- */

static const char *column_name(const struct dcr_table_loader *l, size_t i)
{
	return l->t->columns[i]->name;
}

/* The header field column i reads: its csv_header (dcr-room(5)), else its name. */
static const char *header_name(const struct dcr_table_loader *l, size_t i)
{
	return dcr_room_column_header(l->t->columns[i]);
}

/* The header the table expects, "a,b,c", shortened with "..." to fit. */
static const char *column_list(const struct dcr_table_loader *l, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < l->t->n_columns; i++) {
		int n = snprintf(buf + used, size - used, "%s%s", i ? "," : "", header_name(l, i));

		if (n < 0 || (size_t)n >= size - used) {
			snprintf(buf + (size > 4 ? size - 4 : 0), size > 4 ? 4 : size, "...");
			break;
		}
		used += (size_t)n;
	}
	return buf;
}

__attribute__((format(printf, 3, 4)))
static void fail(struct dcr_table_loader *l, bool at_column, const char *fmt, ...)
{
	char what[DCR_ERR_MSG_MAX];
	uint64_t record = l->records + 1;
	va_list ap;

	if (l->err.code)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (l->in_header)
		dcr_err_set(&l->err, DCR_EINVALID, "table '%s', header: %s", l->node, what);
	else if (at_column && l->field < l->t->n_columns)
		dcr_err_set(&l->err, DCR_EINVALID, "table '%s', record %" PRIu64 ", column '%s': %s", l->node, record,
			column_name(l, l->field), what);
	else
		dcr_err_set(&l->err, DCR_EINVALID, "table '%s', record %" PRIu64 ": %s", l->node, record, what);
}

static void lone_cr(struct dcr_table_loader *l)
{
	if (!l->err.code)
		dcr_err_set(&l->err, DCR_EINVALID,
			"table '%s', record %" PRIu64 ": the line ends in a carriage return without a line feed "
			"(line ends must be LF or CRLF; quote a field to keep a CR in it)", l->node, l->records);
}

static int report(const struct dcr_table_loader *l, struct dcr_err *err)
{
	if (err && l->err.code)
		*err = l->err;
	return l->err.code;
}

/* ---- values ---- */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		uint32_t cp, min;
		size_t k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			k = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			k = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			k = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

/* Decimal digits after an optional sign: 0, or -1 for the syntax, -2 out of range. */
static int parse_int64(const char *s, size_t n, int64_t *out)
{
	bool neg = n > 0 && s[0] == '-', range = false;
	size_t i = n > 0 && (s[0] == '-' || s[0] == '+');
	uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;

	if (i == n)
		return -1;
	for (; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (!is_digit(s[i]))
			return -1;
		if (v > (limit - d) / 10)
			range = true;
		else
			v = v * 10 + d;
	}
	if (range)
		return -2;
	*out = !neg ? (int64_t)v : v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	return 0;
}

/* [+-] digits [. digits] [e|E [+-] digits], with a digit on at least one side of the point. */
static bool float_syntax(const char *s, size_t n)
{
	size_t i = 0, digits = 0;

	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	for (; i < n && is_digit(s[i]); i++)
		digits++;
	if (i < n && s[i] == '.')
		for (i++; i < n && is_digit(s[i]); i++)
			digits++;
	if (digits == 0)
		return false;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t exp_digits = 0;

		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		for (; i < n && is_digit(s[i]); i++)
			exp_digits++;
		if (exp_digits == 0)
			return false;
	}
	return i == n;
}

/*
 * The exact fast path (Clinger's): when the digits of s, the point left
 * out, make an integer m of at most 2^53 and its power of ten e is within
 * 22 either way, m and 10^|e| are exact doubles and IEEE arithmetic rounds
 * the one multiplication or division correctly, which is strtod's answer.
 * false when s is not such a number (strtod decides). s has float_syntax.
 */
static bool float_fast(const char *s, size_t n, double *out)
{
	static const double pow10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13,
		1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22 };
	bool neg = s[0] == '-', point = false;
	size_t i = s[0] == '-' || s[0] == '+';
	uint64_t m = 0;
	long e = 0;
	double d;

	for (; i < n && (is_digit(s[i]) || (s[i] == '.' && !point)); i++) {
		if (s[i] == '.') {
			point = true;
			continue;
		}
		if (m > ((UINT64_C(1) << 53) - 9) / 10)
			return false;
		m = m * 10 + (uint64_t)(s[i] - '0');
		e -= point;
	}
	if (i < n) {
		bool eneg = s[++i] == '-';
		long x = 0;

		for (i += s[i] == '-' || s[i] == '+'; i < n; i++)
			if ((x = x * 10 + (s[i] - '0')) > 1000)
				return false;
		e += eneg ? -x : x;
	}
	if (e < -22 || e > 22)
		return false;
	d = e < 0 ? (double)m / pow10[-e] : (double)m * pow10[e];
	*out = neg ? -d : d;
	return true;
}

/* 0, or -1 for the syntax, -2 out of range; ENOMEM when a long value has no room for strtod's copy. */
static int parse_float64(struct dcr_table_loader *l, const char *s, size_t n, double *out)
{
	char small[128], *z = small, *end;
	locale_t old;
	bool whole;
	double d;

	if (!float_syntax(s, n))
		return -1;
	if (float_fast(s, n, out))
		return 0;
	/* strtod wants a NUL-terminated string; a field is n bytes, maybe in the middle of the input. */
	if (n >= sizeof(small) && !(z = malloc(n + 1)))
		return -3;
	memcpy(z, s, n);
	z[n] = '\0';
	old = uselocale(l->c_locale);
	errno = 0;
	d = strtod(z, &end);
	uselocale(old);
	whole = end == z + n;
	dcr_wipe(z, n);
	if (z != small)
		free(z);
	if (!whole)
		return -1;
	/* Underflow rounds towards zero, as the nearest double; overflow has no finite answer. */
	if (!isfinite(d))
		return -2;
	*out = d;
	return 0;
}

static int days_in_month(unsigned y, unsigned m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* YYYY-MM-DD: 0, or -1 for the syntax, -2 for a day that does not exist. */
static int check_date(const char *s, size_t n)
{
	unsigned y = 0, m, d;

	if (n != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	for (size_t i = 0; i < 10; i++)
		if (i != 4 && i != 7 && !is_digit(s[i]))
			return -1;
	for (size_t i = 0; i < 4; i++)
		y = y * 10 + (unsigned)(s[i] - '0');
	m = (unsigned)(s[5] - '0') * 10 + (unsigned)(s[6] - '0');
	d = (unsigned)(s[8] - '0') * 10 + (unsigned)(s[9] - '0');
	if (y == 0 || m < 1 || m > 12 || d < 1 || (int)d > days_in_month(y, m))
		return -2;
	return 0;
}

#define IN_INPUT SIZE_MAX

/* A copy of TEXT value i of the record in text, kept until the record ends. */
static int copy_text(struct dcr_table_loader *l, size_t i, const char *s, size_t n)
{
	/* NUL-terminated still, so that text is never NULL, not even for empty strings. */
	if (n >= l->text_cap - l->text_len &&
	    dcr_secure_reserve(&l->text, &l->text_cap, l->text_len, l->text_len + n + 1, 0) < 0)
		return dcr_err_set(&l->err, DCR_ENOMEM, "out of memory");
	l->text_at[i] = l->text_len;
	memcpy(l->text + l->text_len, s, n);
	l->text[l->text_len + n] = '\0';
	l->text_len += n + 1;
	return 0;
}

/*
 * Keep a TEXT value until the record ends: where the write call's data
 * holds it, as it is there (pin_text copies it if the record goes on in
 * the next call); else a copy, since the field buffer is reused.
 */
static int keep_text(struct dcr_table_loader *l, struct dcr_table_value *v, const char *s, size_t n)
{
	v->kind = DCR_TABLE_TEXT;
	v->len = n;
	if (l->in_input) {
		v->s = s;
		l->text_at[l->field] = IN_INPUT;
		return 0;
	}
	return copy_text(l, l->field, s, n);
}

/* The write call ends within a record: the TEXT values that point into its data are copied. */
static void pin_text(struct dcr_table_loader *l)
{
	for (size_t i = 0; i < l->field && !l->err.code; i++)
		if (l->values[i].kind == DCR_TABLE_TEXT && l->text_at[i] == IN_INPUT)
			copy_text(l, i, l->values[i].s, l->values[i].len);
}

/*
 * The value of a column of type int64, float64, bool or date: NULL, or the
 * problem with it. Every value these accept is ASCII without NUL bytes.
 */
static const char *typed_value(struct dcr_table_loader *l, const Dcr__V1__Column *col, struct dcr_table_value *v,
	const char *s, size_t n)
{
	int r;

	switch (col->type) {
	case DCR__V1__COLUMN_TYPE__COLUMN_TYPE_INT64:
		v->kind = DCR_TABLE_INT;
		if ((r = parse_int64(s, n, &v->i)) == -1)
			return "the value is not an int64 (expected decimal digits with an optional sign)";
		return r < 0 ? "the value is out of the int64 range" : NULL;
	case DCR__V1__COLUMN_TYPE__COLUMN_TYPE_FLOAT64:
		v->kind = DCR_TABLE_REAL;
		if ((r = parse_float64(l, s, n, &v->d)) == -1)
			return "the value is not a float64 (expected a decimal number such as 12.5, -3 or 1e6)";
		if (r == -3 && !l->err.code)
			dcr_err_set(&l->err, DCR_ENOMEM, "out of memory");
		return r == -2 ? "the value is out of the float64 range" : NULL;
	case DCR__V1__COLUMN_TYPE__COLUMN_TYPE_BOOL:
		v->kind = DCR_TABLE_INT;
		if ((n == 4 && memcmp(s, "true", 4) == 0) || (n == 1 && s[0] == '1'))
			v->i = 1;
		else if ((n == 5 && memcmp(s, "false", 5) == 0) || (n == 1 && s[0] == '0'))
			v->i = 0;
		else
			return "the value is not a bool (expected true, false, 1 or 0)";
		return NULL;
	case DCR__V1__COLUMN_TYPE__COLUMN_TYPE_DATE:
		if ((r = check_date(s, n)) == -1)
			return "the value is not a date (expected YYYY-MM-DD)";
		if (r < 0)
			return "the value is not a calendar date (YYYY-MM-DD, years 0001 to 9999)";
		keep_text(l, v, s, n);
		return NULL;
	default:
		return "the column has no type";
	}
}

/* Whether s holds bytes 0x01 to 0x7f only: valid UTF-8 without NUL, eight bytes at a time. */
static bool plain_ascii(const char *s, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t x;

		memcpy(&x, s + i, sizeof(x));
		/* A byte of 0 borrows into its high bit; a byte of 0x80 or more has it set. */
		if (((x - UINT64_C(0x0101010101010101)) | x) & UINT64_C(0x8080808080808080))
			return false;
	}
	for (; i < n; i++)
		if (s[i] == '\0' || (unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

/*
 * A data field's value. The checks and their order are: NUL bytes, then
 * UTF-8, then the type's syntax; since every typed value accepted is
 * ASCII without NUL, the type is tried first and the first two only looked
 * at when it fails, which gives the same first problem.
 */
static void data_field(struct dcr_table_loader *l, const char *s, size_t n)
{
	const Dcr__V1__Column *col = l->t->columns[l->field];
	struct dcr_table_value *v = &l->values[l->field];
	bool string = col->type == DCR__V1__COLUMN_TYPE__COLUMN_TYPE_STRING;
	const char *problem;

	memset(v, 0, sizeof(*v));
	v->kind = DCR_TABLE_NULL;
	/* An empty unquoted field is NULL; so is "" where it could not be an empty string. */
	if (!s || (n == 0 && !string)) {
		if (!col->nullable)
			fail(l, true, "the value is empty, but the column is not nullable%s",
				string ? " (write \"\" for an empty string)" : "");
		return;
	}
	if (string && plain_ascii(s, n)) {
		keep_text(l, v, s, n);
		return;
	}
	problem = string ? NULL : typed_value(l, col, v, s, n);
	if (!string && !problem)
		return;
	if (memchr(s, '\0', n))
		fail(l, true, "the value contains a NUL byte");
	else if (!utf8_valid((const uint8_t *)s, n))
		fail(l, true, "the value is not valid UTF-8");
	else if (problem)
		fail(l, true, "%s", problem);
	else
		keep_text(l, v, s, n);
}

static void header_field(struct dcr_table_loader *l, const char *s, size_t n)
{
	const char *want = header_name(l, l->field);
	char names[256];

	if (!s || n != strlen(want) || memcmp(s, want, n) != 0)
		fail(l, false, "field %zu should be '%s' (the header names the columns exactly, in order: %s)",
			l->field + 1, want, column_list(l, names, sizeof(names)));
}

/* A field of n bytes at s, which is NULL for an empty unquoted field and not NUL-terminated. */
static void field(struct dcr_table_loader *l, const char *s, size_t n)
{
	size_t columns = l->t->n_columns;

	if (l->err.code)
		return;
	if (l->cr) {
		lone_cr(l);
		return;
	}
	if (l->field >= columns) {
		fail(l, false, "has more than %zu field%s", columns, columns == 1 ? "" : "s");
		return;
	}
	if (n > DCR_TABLE_FIELD_MAX)
		fail(l, true, "a field is longer than 1 MiB (%u bytes)", DCR_TABLE_FIELD_MAX);
	else if (l->in_header)
		header_field(l, s, n);
	else
		data_field(l, s, n);
	if (!l->err.code)
		l->field++;
}

/* libcsv's field callback. */
static void on_field(void *buf, size_t n, void *data)
{
	field(data, buf, n);
}

static void emit_row(struct dcr_table_loader *l)
{
	int r;

	for (size_t i = 0; i < l->t->n_columns; i++)
		if (l->values[i].kind == DCR_TABLE_TEXT && l->text_at[i] != IN_INPUT)
			l->values[i].s = (const char *)l->text + l->text_at[i];
	r = l->row(l->ctx, l->values, l->t->n_columns, &l->err);
	if (r < 0) {
		if (!l->err.code)
			dcr_err_set(&l->err, r, "table '%s', record %" PRIu64 ": the row was refused", l->node,
				l->records + 1);
		l->err.code = r;
		return;
	}
	l->rows++;
}

/* The end of a record: c is the line end that ended it, or -1 at the end of the data. */
static void record(struct dcr_table_loader *l, int c)
{
	size_t columns = l->t->n_columns;
	char names[256];

	if (l->err.code)
		return;
	if (l->cr) {
		l->cr = false;
		if (c == '\n' && l->field == 0)
			return; /* the LF of a CRLF */
		lone_cr(l);
		return;
	}
	/* RFC 4180 has no empty records: a blank line is one empty field, which only one column can take. */
	if (l->field == 0) {
		l->blank = true;
		if (columns == 1)
			field(l, NULL, 0);
		else
			l->field = 1;
	}
	if (!l->err.code && l->field != columns) {
		if (l->in_header)
			fail(l, false, "has %zu field%s, expected %zu (%s)", l->field, l->field == 1 ? "" : "s",
				columns, column_list(l, names, sizeof(names)));
		else
			fail(l, false, "has %zu field%s, expected %zu%s", l->field, l->field == 1 ? "" : "s", columns,
				l->blank ? " (a blank line is a record of one empty field)" : "");
	}
	if (!l->err.code && l->records >= (UINT64_C(1) << 63))
		fail(l, false, "more than 2^63 records");
	if (!l->err.code && !l->in_header)
		emit_row(l);
	if (l->err.code)
		return;
	l->in_header = false;
	l->blank = false;
	l->records++;
	l->field = 0;
	l->text_len = 0;
	l->cr = c == '\r';
}

/* libcsv's record callback. */
static void on_record(int c, void *data)
{
	record(data, c);
}

/* ---- the loader ---- */

static int check_schema(const Dcr__V1__TableNode *t, const char *node, struct dcr_err *err)
{
	uint32_t d = t->delimiter;

	if (t->n_columns == 0 || t->n_columns > DCR_TABLE_COLUMNS_MAX)
		return dcr_err_set(err, DCR_EINVALID, "table '%s' must have 1 to %d columns", node,
			DCR_TABLE_COLUMNS_MAX);
	if (d > 0x7e || d == '"' || (d < 0x20 && d != '\t'))
		return dcr_err_set(err, DCR_EINVALID, "table '%s' has an unusable delimiter", node);
	for (size_t i = 0; i < t->n_columns; i++)
		if (t->columns[i]->type < DCR__V1__COLUMN_TYPE__COLUMN_TYPE_STRING ||
		    t->columns[i]->type > DCR__V1__COLUMN_TYPE__COLUMN_TYPE_DATE)
			return dcr_err_set(err, DCR_EINVALID, "table '%s', column '%s' has an unknown type", node,
				t->columns[i]->name);
	return 0;
}

/* Never spaces to trim: a space is data. */
static int no_space(unsigned char c)
{
	return 0;
}

static struct dcr_table_loader *loader_new(const Dcr__V1__TableNode *t, const char *node,
	dcr_table_row_fn *row, void *ctx, bool reference, struct dcr_err *err)
{
	struct dcr_table_loader *l;

	if (check_schema(t, node, err) < 0)
		return NULL;
	if (!(l = calloc(1, sizeof(*l)))) {
		dcr_err_set(err, DCR_ENOMEM, "out of memory");
		return NULL;
	}
	l->t = t;
	l->node = node;
	l->row = row;
	l->ctx = ctx;
	l->in_header = t->header;
	l->reference = reference;
	l->values = calloc(t->n_columns, sizeof(*l->values));
	l->text_at = calloc(t->n_columns, sizeof(*l->text_at));
	l->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	if (!l->values || !l->text_at || !l->c_locale || csv_init(&l->csv, CSV_OPTIONS) != 0) {
		dcr_err_set(err, DCR_ENOMEM, "out of memory");
		dcr_table_loader_free(l);
		return NULL;
	}
	csv_set_delim(&l->csv, (unsigned char)t->delimiter);
	csv_set_space_func(&l->csv, no_space);
	csv_set_realloc_func(&l->csv, field_realloc);
	csv_set_free_func(&l->csv, field_free);
	csv_set_blk_size(&l->csv, FIELD_BUF_STEP);
	l->cls[(unsigned char)t->delimiter] = C_DELIM;
	l->cls['"'] = C_QUOTE;
	l->cls['\r'] = C_CR;
	l->cls['\n'] = C_LF;
	return l;
}

struct dcr_table_loader *dcr_table_loader_new(const Dcr__V1__TableNode *t, const char *node,
	dcr_table_row_fn *row, void *ctx, struct dcr_err *err)
{
	return loader_new(t, node, row, ctx, false, err);
}

struct dcr_table_loader *dcr_table_loader_new_reference(const Dcr__V1__TableNode *t, const char *node,
	dcr_table_row_fn *row, void *ctx, struct dcr_err *err)
{
	return loader_new(t, node, row, ctx, true, err);
}

static void too_long(struct dcr_table_loader *l)
{
	fail(l, true, "a field is longer than 1 MiB (%u bytes)", DCR_TABLE_FIELD_MAX);
}

static void bad_quote(struct dcr_table_loader *l)
{
	fail(l, true, "malformed quoting (a '\"' inside an unquoted field, or a closing '\"' "
		"followed by something other than the delimiter or a line end)");
}

static void csv_failed(struct dcr_table_loader *l)
{
	int status = csv_error(&l->csv);

	if (status == CSV_EPARSE)
		bad_quote(l);
	else if (status == CSV_ENOMEM && csv_get_buffer_size(&l->csv) > DCR_TABLE_FIELD_MAX)
		too_long(l);
	else if (status == CSV_ENOMEM)
		dcr_err_set(&l->err, DCR_ENOMEM, "out of memory");
	else
		dcr_err_set(&l->err, DCR_EFAIL, "table '%s': CSV parser: %s", l->node, csv_strerror(status));
}

/* ---- the own tokenizer: libcsv's state machine with CSV_OPTIONS, a run of bytes at a time ---- */

/* The first byte from p on that is not part of an unquoted field, or end. */
static const uint8_t *plain_end(const uint8_t cls[static 256], const uint8_t *p, const uint8_t *end)
{
	while (end - p >= 4) {
		if (cls[p[0]])
			return p;
		if (cls[p[1]])
			return p + 1;
		if (cls[p[2]])
			return p + 2;
		if (cls[p[3]])
			return p + 3;
		p += 4;
	}
	while (p < end && !cls[*p])
		p++;
	return p;
}

/* n more bytes of the field into fb, which holds the field's plaintext: wiped whenever it moves or goes. */
static bool fb_add(struct dcr_table_loader *l, const uint8_t *p, size_t n)
{
	if (n == 0)
		return true;
	if (dcr_secure_reserve(&l->fb, &l->fb_cap, l->fb_len, l->fb_len + n, FIELD_BUF_MAX) < 0) {
		dcr_err_set(&l->err, DCR_ENOMEM, "out of memory");
		return false;
	}
	memcpy(l->fb + l->fb_len, p, n);
	l->fb_len += n;
	return true;
}

/* The field in fb ends; "" for a quoted empty field, which must not look like an empty unquoted one. */
static void fb_field(struct dcr_table_loader *l)
{
	field(l, l->fb ? (const char *)l->fb : "", l->fb_len);
	l->fb_len = 0;
}

/* After a field: the delimiter, CR or LF at c ends it, and maybe the record. */
static void field_end(struct dcr_table_loader *l, uint8_t c)
{
	if (l->cls[c] == C_DELIM) {
		l->state = FIELD_START;
	} else {
		record(l, c);
		l->state = ROW_START;
	}
}

/*
 * An unquoted field's bytes from p on, fb_len of them already in fb: the
 * field, then what ends it, is taken whole when the input holds it (the
 * field straight from the input when fb is empty); what is left when the
 * input ends goes into fb. libcsv's limit (ENTRY_MAX) holds byte for byte.
 */
static const uint8_t *unquoted(struct dcr_table_loader *l, const uint8_t *p, const uint8_t *end)
{
	const uint8_t *e = plain_end(l->cls, p, end);
	size_t n = l->fb_len + (size_t)(e - p);

	if (n > ENTRY_MAX || (n == ENTRY_MAX && e < end)) {
		too_long(l);
		return end;
	}
	if (e == end) {
		fb_add(l, p, (size_t)(e - p));
		l->state = UNQUOTED;
		return end;
	}
	if (l->cls[*e] == C_QUOTE) {
		bad_quote(l);
		return end;
	}
	if (l->fb_len == 0) {
		l->in_input = true;
		field(l, (const char *)p, n);
		l->in_input = false;
	} else {
		if (!fb_add(l, p, (size_t)(e - p)))
			return end;
		fb_field(l);
	}
	field_end(l, *e);
	return e + 1;
}

/* A quoted field's content from p on, up to and with the next '"'. */
static const uint8_t *quoted(struct dcr_table_loader *l, const uint8_t *p, const uint8_t *end)
{
	const uint8_t *q = memchr(p, '"', (size_t)(end - p));
	size_t n = (size_t)((q ? q : end) - p);

	/* Each byte, the quote too, is taken only while fewer than ENTRY_MAX are held. */
	if (l->fb_len + n + (q != NULL) > ENTRY_MAX) {
		too_long(l);
		return end;
	}
	if (!fb_add(l, p, n))
		return end;
	if (!q)
		return end;
	l->state = QUOTE_SEEN;
	return q + 1;
}

static void tokenize_run(struct dcr_table_loader *l, const uint8_t *p, const uint8_t *end)
{
	while (p < end && !l->err.code) {
		uint8_t c = *p;

		switch (l->state) {
		case ROW_START:
		case FIELD_START:
			switch (l->cls[c]) {
			case C_DATA:
				p = unquoted(l, p, end);
				break;
			case C_DELIM:
				field(l, NULL, 0);
				l->state = FIELD_START;
				p++;
				break;
			case C_QUOTE:
				l->state = QUOTED;
				p++;
				break;
			default: /* a line end */
				if (l->state == FIELD_START)
					field(l, NULL, 0);
				record(l, c);
				l->state = ROW_START;
				p++;
			}
			break;
		case UNQUOTED:
			p = unquoted(l, p, end);
			break;
		case QUOTED:
			p = quoted(l, p, end);
			break;
		case QUOTE_SEEN:
			/* libcsv still holds the quote: one byte fewer fits. */
			if (l->fb_len + 1 >= ENTRY_MAX) {
				too_long(l);
				return;
			}
			p++;
			if (l->cls[c] == C_QUOTE) {
				if (fb_add(l, p - 1, 1))
					l->state = QUOTED;
			} else if (l->cls[c] == C_DATA) {
				bad_quote(l);
			} else {
				fb_field(l);
				field_end(l, c);
			}
		}
	}
}

static void tokenize(struct dcr_table_loader *l, const uint8_t *p, size_t len)
{
	tokenize_run(l, p, p + len);
	if (l->field > 0)
		pin_text(l);
}

/* The end of the data, as csv_fini ends it: 0, or -1 for a quoted field left open. */
static int tokenize_end(struct dcr_table_loader *l)
{
	switch (l->state) {
	case ROW_START:
		return 0;
	case QUOTED:
		return -1;
	case FIELD_START:
		field(l, NULL, 0);
		break;
	case UNQUOTED:
	case QUOTE_SEEN:
		fb_field(l);
	}
	record(l, -1);
	l->state = ROW_START;
	return 0;
}

static void feed(struct dcr_table_loader *l, const uint8_t *p, size_t len)
{
	if (!l->reference) {
		tokenize(l, p, len);
		return;
	}
	while (len > 0 && !l->err.code) {
		size_t n = len < PIECE ? len : PIECE;

		if (csv_parse(&l->csv, p, n, on_field, on_record, l) != n)
			csv_failed(l);
		p += n;
		len -= n;
	}
}

/* Spreadsheets often begin UTF-8 files with a byte order mark; it is not data. */
static size_t skip_bom(struct dcr_table_loader *l, const uint8_t *p, size_t len)
{
	size_t used = 0;

	while (!l->bom_decided && used < len) {
		if (p[used] != bom[l->bom_matched]) {
			l->bom_decided = true;
			feed(l, bom, l->bom_matched);
			break;
		}
		used++;
		l->bom_decided = ++l->bom_matched == sizeof(bom);
	}
	return used;
}

int dcr_table_loader_write(struct dcr_table_loader *l, const void *buf, size_t len, struct dcr_err *err)
{
	const uint8_t *p = buf;
	size_t skipped;

	if (l->finished && !l->err.code)
		return dcr_err_set(err, DCR_EFAIL, "table '%s': data written after the end", l->node);
	skipped = skip_bom(l, p, len);
	feed(l, p + skipped, len - skipped);
	return report(l, err);
}

int dcr_table_loader_sink(void *loader, const uint8_t *buf, size_t len, struct dcr_err *err)
{
	return dcr_table_loader_write(loader, buf, len, err);
}

int dcr_table_loader_finish(struct dcr_table_loader *l, uint64_t *rows, struct dcr_err *err)
{
	char names[256];

	if (rows)
		*rows = 0;
	if (!l->bom_decided) {
		l->bom_decided = true;
		feed(l, bom, l->bom_matched);
	}
	if (!l->err.code && !l->finished &&
	    (l->reference ? csv_fini(&l->csv, on_field, on_record, l) : tokenize_end(l)) != 0)
		fail(l, true, "a quoted field is not closed before the end of the data");
	l->finished = true;
	if (!l->err.code && l->cr)
		lone_cr(l);
	if (!l->err.code && l->in_header)
		dcr_err_set(&l->err, DCR_EINVALID, "table '%s': the data has no header (expected %s)", l->node,
			column_list(l, names, sizeof(names)));
	if (l->err.code)
		return report(l, err);
	if (rows)
		*rows = l->rows;
	return 0;
}

void dcr_table_loader_free(struct dcr_table_loader *l)
{
	if (!l)
		return;
	csv_free(&l->csv);
	if (l->c_locale)
		freelocale(l->c_locale);
	dcr_wipe(l->fb, l->fb_cap);
	free(l->fb);
	dcr_wipe(l->text, l->text_cap);
	free(l->text);
	dcr_wipe(l->values, l->t->n_columns * sizeof(*l->values));
	free(l->values);
	free(l->text_at);
	free(l);
}
