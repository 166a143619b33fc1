/* Aggregate computations: the SQL of a structured aggregation, with a HAVING that enforces each threshold. */
#include "aggregate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "room.h"

#include "banned.h"

/* A growing string; on failure it stays failed and the result is NULL. */
struct sb {
	char *p;
	size_t len, cap;
	bool failed;
};

static void sb_add(struct sb *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (!(p = realloc(b->p, cap))) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_str(struct sb *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sb *b, const char *fmt, ...)
{
	char buf[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		b->failed = true;
	else
		sb_add(b, buf, (size_t)n);
}

/* s between quote characters q, each q in it doubled (SQL's quoting); the text has no NUL. */
static void sb_quoted(struct sb *b, const char *s, char q)
{
	sb_add(b, &q, 1);
	for (const char *at; (at = strchr(s, q)); s = at + 1) {
		sb_add(b, s, (size_t)(at - s + 1));
		sb_add(b, &q, 1);
	}
	sb_str(b, s);
	sb_add(b, &q, 1);
}

/*
 * A name quoted for SQL. dcr create allows only [a-z_][a-z0-9_]*, but the
 * definition is not trusted to have been through it: quoted whatever it holds.
 */
static void sb_name(struct sb *b, const char *name)
{
	sb_quoted(b, name, '"');
}

/* A string literal. */
static void sb_literal(struct sb *b, const char *s)
{
	sb_quoted(b, s, '\'');
}

/* The string, now the caller's (free()), or NULL if it could not be built; b is left empty. */
static char *sb_take(struct sb *b)
{
	char *p = b->failed ? NULL : b->p ? b->p : calloc(1, 1);

	if (b->failed)
		free(b->p);
	*b = (struct sb){ 0 };
	return p;
}

static const Dcr__V1__DataNode *table_node(const Dcr__V1__RoomDefinition *def, const char *name)
{
	for (size_t i = 0; i < def->n_data; i++)
		if (strcmp(def->data[i]->name, name) == 0 && def->data[i]->kind_case == DCR__V1__DATA_NODE__KIND_TABLE)
			return def->data[i];
	return NULL;
}

static const Dcr__V1__Column *column_of(const Dcr__V1__DataNode *d, const char *name)
{
	for (size_t i = 0; i < d->table->n_columns; i++)
		if (strcmp(d->table->columns[i]->name, name) == 0)
			return d->table->columns[i];
	return NULL;
}

static void sb_column(struct sb *b, const Dcr__V1__ColumnRef *ref)
{
	sb_name(b, ref->table);
	sb_str(b, ".");
	sb_name(b, ref->column);
}

/* The tables the computation reads, in order: from, then each join's. */
static size_t tables_of(const Dcr__V1__AggregateComputation *ag, const char **names, size_t max)
{
	size_t n = 0;

	if (max > 0)
		names[n++] = ag->from;
	for (size_t i = 0; i < ag->n_joins && n < max; i++)
		names[n++] = ag->joins[i]->table;
	return n;
}

/* A name SQLite gives a table's row number that no column of d takes, or NULL. */
static const char *row_number(const Dcr__V1__DataNode *d)
{
	static const char *const names[] = { "rowid", "_rowid_", "oid" };

	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
		if (!column_of(d, names[i]))
			return names[i];
	return NULL;
}

static const char *const ops[] = { "=", "<>", "<", "<=", ">", ">=" };
static const char *const functions[] = { "COUNT(", "COUNT(DISTINCT ", "SUM(", "AVG(" };

static int check_ref(const Dcr__V1__RoomDefinition *def, const Dcr__V1__ColumnRef *ref, const Dcr__V1__Column **col,
	struct dcr_err *err)
{
	const Dcr__V1__DataNode *d;

	if (!ref || !ref->table || !ref->column || !(d = table_node(def, ref->table)) ||
	    !(*col = column_of(d, ref->column)))
		return dcr_err_set(err, DCR_EINVALID, "an aggregate computation names a column the room does not have");
	return 0;
}

/* FROM, JOIN, WHERE and GROUP BY: what the result and the count of suppressed groups share. */
static int write_body(const Dcr__V1__RoomDefinition *def, const Dcr__V1__AggregateComputation *ag, struct sb *b,
	struct dcr_err *err)
{
	const Dcr__V1__Column *col;
	int r;

	if (!table_node(def, ag->from))
		return dcr_err_set(err, DCR_EINVALID, "an aggregate computation reads a table the room does not have");
	sb_str(b, " FROM ");
	sb_name(b, ag->from);
	for (size_t i = 0; i < ag->n_joins; i++) {
		const Dcr__V1__AggregateJoin *j = ag->joins[i];

		if (!j || !j->table || !table_node(def, j->table) || (r = check_ref(def, j->left, &col, err)) < 0 ||
		    (r = check_ref(def, j->right, &col, err)) < 0)
			return dcr_err_set(err, DCR_EINVALID,
				"an aggregate computation joins a table the room does not have");
		/* A table twice would count one row twice under one name (dcr create refuses it too). */
		for (size_t k = 0; k <= i; k++)
			if (strcmp(j->table, k ? ag->joins[k - 1]->table : ag->from) == 0)
				return dcr_err_set(err, DCR_EINVALID, "an aggregate computation reads table '%s' twice",
					j->table);
		sb_str(b, " JOIN ");
		sb_name(b, j->table);
		sb_str(b, " ON ");
		sb_column(b, j->left);
		sb_str(b, " = ");
		sb_column(b, j->right);
	}
	for (size_t i = 0; i < ag->n_filters; i++) {
		const Dcr__V1__AggregateFilter *f = ag->filters[i];

		if (!f || (r = check_ref(def, f->column, &col, err)) < 0)
			return r < 0 ? r : dcr_err_set(err, DCR_EINVALID, "malformed filter");
		if ((size_t)f->op >= sizeof(ops) / sizeof(*ops) || !f->value)
			return dcr_err_set(err, DCR_EINVALID, "malformed filter");
		/* The check dcr create made, again: a number goes into the SQL as written, so it must be one. */
		if (!dcr_room_filter_value_ok(col->type, f->value))
			return dcr_err_set(err, DCR_EINVALID, "malformed filter value");
		sb_str(b, i ? " AND " : " WHERE ");
		sb_column(b, f->column);
		sb_printf(b, " %s ", ops[f->op]);
		/* Numbers as written; everything else as a string literal. */
		switch (col->type) {
		case DCR__V1__COLUMN_TYPE__COLUMN_TYPE_INT64:
		case DCR__V1__COLUMN_TYPE__COLUMN_TYPE_FLOAT64:
			sb_str(b, f->value);
			break;
		case DCR__V1__COLUMN_TYPE__COLUMN_TYPE_BOOL:
			sb_str(b, strcmp(f->value, "true") == 0 ? "1" : "0");
			break;
		default:
			sb_literal(b, f->value);
		}
	}
	for (size_t i = 0; i < ag->n_group_by; i++) {
		if ((r = check_ref(def, ag->group_by[i], &col, err)) < 0)
			return r;
		sb_str(b, i ? ", " : " GROUP BY ");
		sb_column(b, ag->group_by[i]);
	}
	return 0;
}

/* The condition a group must meet: each table's distinct rows, or people, at least its threshold. */
static int write_threshold(const Dcr__V1__RoomDefinition *def, const Dcr__V1__AggregateComputation *ag, struct sb *b,
	bool *any, struct dcr_err *err)
{
	const char *names[1 + 64];
	size_t n = tables_of(ag, names, sizeof(names) / sizeof(*names));

	*any = false;
	for (size_t i = 0; i < n; i++) {
		const Dcr__V1__DataNode *d = table_node(def, names[i]);
		const Dcr__V1__TablePrivacy *rule = d->table->privacy;
		uint32_t size = rule ? rule->min_group_size : 0;
		const char *counted;

		if (ag->min_group_size > size)
			size = ag->min_group_size;
		if (size <= 1)
			continue;
		if (rule && rule->identity && *rule->identity) {
			if (!column_of(d, rule->identity))
				return dcr_err_set(err, DCR_EINVALID, "the identity of table '%s' is not one of its columns",
					d->name);
			counted = rule->identity;
		} else if (!(counted = row_number(d))) {
			return dcr_err_set(err, DCR_EINVALID, "table '%s' has columns named rowid, _rowid_ and oid, so "
				"its rows cannot be counted; give its privacy rule an identity column", d->name);
		}
		sb_str(b, *any ? " AND " : "");
		sb_str(b, "COUNT(DISTINCT ");
		sb_name(b, d->name);
		sb_str(b, ".");
		sb_name(b, counted);
		sb_printf(b, ") >= %u", (unsigned)size);
		*any = true;
	}
	return 0;
}

int dcr_aggregate_sql(const Dcr__V1__RoomDefinition *def, const Dcr__V1__Computation *c,
	struct dcr_aggregate_sql *out, struct dcr_err *err)
{
	const Dcr__V1__AggregateComputation *ag;
	struct sb q = { 0 }, body = { 0 }, cond = { 0 }, s = { 0 };
	const Dcr__V1__Column *col;
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (!c || c->kind_case != DCR__V1__COMPUTATION__KIND_AGGREGATE || !(ag = c->aggregate) || !ag->from ||
	    !ag->n_select || ag->n_joins > 64)
		return dcr_err_set(err, DCR_EINVALID, "not an aggregate computation");
	if ((r = write_body(def, ag, &body, err)) < 0 ||
	    (r = write_threshold(def, ag, &cond, &out->thresholded, err)) < 0)
		goto out;
	sb_str(&q, "SELECT ");
	for (size_t i = 0; i < ag->n_group_by; i++) {
		sb_column(&q, ag->group_by[i]);
		sb_str(&q, " AS ");
		sb_name(&q, ag->group_by[i]->column);
		sb_str(&q, ", ");
	}
	for (size_t i = 0; i < ag->n_select; i++) {
		const Dcr__V1__Aggregate *g = ag->select[i];

		if (!g || !g->name || (size_t)g->function >= sizeof(functions) / sizeof(*functions) ||
		    (!g->column && g->function != DCR__V1__AGGREGATE_FUNCTION__AGGREGATE_FUNCTION_COUNT) ||
		    (g->column && (r = check_ref(def, g->column, &col, err)) < 0)) {
			r = dcr_err_set(err, DCR_EINVALID, "malformed aggregate");
			goto out;
		}
		sb_str(&q, i ? ", " : "");
		if (g->round)
			sb_str(&q, "ROUND(");
		if (g->function == DCR__V1__AGGREGATE_FUNCTION__AGGREGATE_FUNCTION_SUM && g->column &&
		    col->type == DCR__V1__COLUMN_TYPE__COLUMN_TYPE_INT64) {
			/*
			 * SQLite's SUM() of integers fails the statement on overflow,
			 * in any group, suppressed or not: a failed job would tell
			 * whether a group below the threshold sums past 2^63. The
			 * high and low 32 bits are summed apart (neither can overflow
			 * before 2^31 rows) and put together, where an overflow
			 * gives a REAL, as SQLite's + does, never an error.
			 */
			sb_str(&q, "(SUM(");
			sb_column(&q, g->column);
			sb_str(&q, " >> 32) * 4294967296 + SUM(");
			sb_column(&q, g->column);
			sb_str(&q, " & 4294967295))");
		} else {
			sb_str(&q, functions[g->function]);
			if (g->column)
				sb_column(&q, g->column);
			else
				sb_str(&q, "*");
			sb_str(&q, ")");
		}
		if (g->round)
			sb_printf(&q, ", %u)", (unsigned)(g->round - 1));
		sb_str(&q, " AS ");
		sb_name(&q, g->name);
	}
	sb_add(&q, body.p ? body.p : "", body.len);
	if (out->thresholded) {
		sb_str(&q, " HAVING ");
		sb_add(&q, cond.p, cond.len);
		/* An aggregate with a HAVING is an aggregate query even without GROUP BY (count(*) makes sure). */
		sb_str(&s, "SELECT COUNT(*) FROM (SELECT COUNT(*)");
		sb_add(&s, body.p ? body.p : "", body.len);
		sb_str(&s, " HAVING NOT (");
		sb_add(&s, cond.p, cond.len);
		sb_str(&s, "))");
	}
	for (size_t i = 0; i < ag->n_group_by; i++)
		sb_printf(&q, "%s%zu", i ? ", " : " ORDER BY ", i + 1);
	out->query = sb_take(&q);
	if (out->thresholded)
		out->suppressed = sb_take(&s);
	if (!out->query || (out->thresholded && !out->suppressed))
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
out:
	free(body.p);
	free(cond.p);
	if (r < 0) {
		free(q.p);
		free(s.p);
		dcr_aggregate_sql_release(out);
	}
	return r;
}

void dcr_aggregate_sql_release(struct dcr_aggregate_sql *s)
{
	if (!s)
		return;
	free(s->query);
	free(s->suppressed);
	s->query = s->suppressed = NULL;
}

/* ---- the result: a ZIP of result.csv and suppressed.csv ---- */

/* CRC-32 as ZIP computes it (ISO 3309, reflected, polynomial 0xEDB88320). */
static uint32_t crc32_zip(const uint8_t *p, size_t len)
{
	uint32_t table[256], crc = 0xFFFFFFFFu;

	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		table[i] = c;
	}
	for (size_t i = 0; i < len; i++)
		crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
	return crc ^ 0xFFFFFFFFu;
}

static void sb_le(struct sb *b, uint32_t v, size_t bytes)
{
	char le[4];

	for (size_t i = 0; i < bytes; i++)
		le[i] = (char)(v >> (8 * i) & 0xFF);
	sb_add(b, le, bytes);
}

struct zip_entry {
	const char *name;
	const uint8_t *data;
	size_t len;
	uint32_t crc, offset;
};

/*
 * The fields a local header and a central directory header share, from
 * "version needed" on: version 1.0, no flags, stored, 00:00:00 of
 * 1980-01-01 (DOS time 0, date 0x0021), CRC-32, both sizes, name length,
 * no extra field.
 */
static void sb_zip_fields(struct sb *b, const struct zip_entry *e)
{
	sb_le(b, 10, 2);
	sb_le(b, 0, 2);
	sb_le(b, 0, 2);
	sb_le(b, 0x0000, 2);
	sb_le(b, 0x0021, 2);
	sb_le(b, e->crc, 4);
	sb_le(b, (uint32_t)e->len, 4);
	sb_le(b, (uint32_t)e->len, 4);
	sb_le(b, (uint32_t)strlen(e->name), 2);
	sb_le(b, 0, 2);
}

int dcr_aggregate_result(const uint8_t *csv, size_t len, uint64_t suppressed, uint8_t **zip, size_t *zip_len,
	struct dcr_err *err)
{
	char count[48];
	struct zip_entry e[2];
	struct sb b = { 0 };
	size_t cd;

	*zip = NULL;
	*zip_len = 0;
	/* Headers, names and the count: well under 1 KiB. Offsets and sizes are 32-bit. */
	if (len > UINT32_MAX - 1024)
		return dcr_err_set(err, DCR_EINVALID, "a result of %zu bytes is too large for a ZIP without ZIP64", len);
	snprintf(count, sizeof(count), "groups_suppressed\n%llu\n", (unsigned long long)suppressed);
	e[0] = (struct zip_entry){ DCR_AGGREGATE_RESULT_CSV, csv, len, crc32_zip(csv, len), 0 };
	e[1] = (struct zip_entry){ DCR_AGGREGATE_SUPPRESSED_CSV, (const uint8_t *)count, strlen(count),
		crc32_zip((const uint8_t *)count, strlen(count)), 0 };
	/* Sized once: the CSV is plaintext, and a realloc would leave copies of it behind, unwiped. */
	b.cap = 22 + 1;
	for (size_t i = 0; i < 2; i++)
		b.cap += 30 + 46 + 2 * strlen(e[i].name) + e[i].len;
	if (!(b.p = malloc(b.cap)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	for (size_t i = 0; i < 2; i++) {
		e[i].offset = (uint32_t)b.len;
		sb_le(&b, 0x04034b50u, 4);
		sb_zip_fields(&b, &e[i]);
		sb_str(&b, e[i].name);
		sb_add(&b, (const char *)e[i].data, e[i].len);
	}
	cd = b.len;
	for (size_t i = 0; i < 2; i++) {
		sb_le(&b, 0x02014b50u, 4);
		sb_le(&b, 10, 2); /* made by: MS-DOS, version 1.0 */
		sb_zip_fields(&b, &e[i]);
		sb_le(&b, 0, 2); /* comment length */
		sb_le(&b, 0, 2); /* disk */
		sb_le(&b, 0, 2); /* internal attributes */
		sb_le(&b, 0, 4); /* external attributes */
		sb_le(&b, e[i].offset, 4);
		sb_str(&b, e[i].name);
	}
	sb_le(&b, 0x06054b50u, 4);
	sb_le(&b, 0, 2);
	sb_le(&b, 0, 2);
	sb_le(&b, 2, 2);
	sb_le(&b, 2, 2);
	sb_le(&b, (uint32_t)(b.len - cd - 12), 4);
	sb_le(&b, (uint32_t)cd, 4);
	sb_le(&b, 0, 2);
	*zip_len = b.len;
	if (!(*zip = (uint8_t *)sb_take(&b))) {
		*zip_len = 0;
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	}
	return 0;
}
