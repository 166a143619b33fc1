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

/*
 * The tables a computation reads (from, then each join's) and what the
 * statements call their columns: the common table expression "join rows"
 * holds one row per row of the join, its columns "cT_K" (column K of table
 * T), "rT" (table T's row number) and, for a table whose columns a SUM,
 * AVG or COUNT reads, "nT": 1 on the first join row of each row of T in
 * each group, so that those aggregates count each row of T once in a
 * group, however many rows of the other tables it joins.
 */
struct agg_tables {
	const char *names[1 + 64];
	const Dcr__V1__DataNode *nodes[1 + 64];
	const char *row[1 + 64]; /* the name of its row number, or NULL */
	bool once[1 + 64];       /* "nT" needed */
	size_t n;
};

static int check_ref(const Dcr__V1__RoomDefinition *def, const Dcr__V1__ColumnRef *ref, const Dcr__V1__Column **col,
	struct dcr_err *err)
{
	const Dcr__V1__DataNode *d;

	if (!ref || !ref->table || !ref->column || !(d = table_node(def, ref->table)) ||
	    !(*col = column_of(d, ref->column)))
		return dcr_err_set(err, DCR_EINVALID, "an aggregate computation names a column the room does not have");
	return 0;
}

/* The index among t of the table ref names, or -1 (a table the computation does not read). */
static int table_index(const struct agg_tables *t, const Dcr__V1__ColumnRef *ref)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->names[i], ref->table) == 0)
			return (int)i;
	return -1;
}

/* ref, a column of one of t's tables, as "join rows" calls it; check_ref and table_index have passed. */
static void sb_alias(struct sb *b, const struct agg_tables *t, const Dcr__V1__ColumnRef *ref)
{
	int i = table_index(t, ref);
	const Dcr__V1__TableNode *tb = t->nodes[i]->table;

	for (size_t k = 0; k < tb->n_columns; k++)
		if (strcmp(tb->columns[k]->name, ref->column) == 0)
			sb_printf(b, "\"c%d_%zu\"", i, k);
}

/* A column the computation reads: of the room, and of one of its tables. */
static int read_ref(const Dcr__V1__RoomDefinition *def, const struct agg_tables *t, const Dcr__V1__ColumnRef *ref,
	const Dcr__V1__Column **col, struct dcr_err *err)
{
	int r;

	if ((r = check_ref(def, ref, col, err)) < 0)
		return r;
	if (table_index(t, ref) < 0)
		return dcr_err_set(err, DCR_EINVALID, "an aggregate computation names a column of table '%s', "
			"which it does not read", ref->table);
	return 0;
}

static bool counts_rows(const Dcr__V1__Aggregate *g)
{
	return g->column && g->function != DCR__V1__AGGREGATE_FUNCTION__AGGREGATE_FUNCTION_COUNT_DISTINCT;
}

/* The tables of ag and their row numbers; every column reference checked. */
static int read_tables(const Dcr__V1__RoomDefinition *def, const Dcr__V1__AggregateComputation *ag,
	struct agg_tables *t, struct dcr_err *err)
{
	const Dcr__V1__Column *col;
	int r;

	memset(t, 0, sizeof(*t));
	if (!(t->nodes[0] = table_node(def, ag->from)))
		return dcr_err_set(err, DCR_EINVALID, "an aggregate computation reads a table the room does not have");
	t->names[t->n++] = ag->from;
	for (size_t i = 0; i < ag->n_joins; i++) {
		const Dcr__V1__AggregateJoin *j = ag->joins[i];

		if (!j || !j->table || !(t->nodes[t->n] = table_node(def, j->table)))
			return dcr_err_set(err, DCR_EINVALID,
				"an aggregate computation joins a table the room does not have");
		/* A table twice would count one row twice under one name (dcr create refuses it too). */
		for (size_t k = 0; k < t->n; k++)
			if (strcmp(j->table, t->names[k]) == 0)
				return dcr_err_set(err, DCR_EINVALID, "an aggregate computation reads table '%s' twice",
					j->table);
		t->names[t->n++] = j->table;
	}
	for (size_t i = 0; i < ag->n_joins; i++)
		if ((r = read_ref(def, t, ag->joins[i]->left, &col, err)) < 0 ||
		    (r = read_ref(def, t, ag->joins[i]->right, &col, err)) < 0)
			return r;
	for (size_t i = 0; i < ag->n_filters; i++)
		if (!ag->filters[i] || (r = read_ref(def, t, ag->filters[i]->column, &col, err)) < 0)
			return r < 0 ? r : dcr_err_set(err, DCR_EINVALID, "malformed filter");
	for (size_t i = 0; i < ag->n_group_by; i++)
		if ((r = read_ref(def, t, ag->group_by[i], &col, err)) < 0)
			return r;
	for (size_t i = 0; i < t->n; i++)
		t->row[i] = row_number(t->nodes[i]);
	for (size_t i = 0; i < ag->n_select; i++) {
		const Dcr__V1__Aggregate *g = ag->select[i];

		if (!g || !g->name || (size_t)g->function >= sizeof(functions) / sizeof(*functions) ||
		    (!g->column && g->function != DCR__V1__AGGREGATE_FUNCTION__AGGREGATE_FUNCTION_COUNT) ||
		    (g->column && read_ref(def, t, g->column, &col, err) < 0))
			return dcr_err_set(err, DCR_EINVALID, "malformed aggregate");
		if (counts_rows(g)) {
			int k = table_index(t, g->column);

			if (!t->row[k])
				return dcr_err_set(err, DCR_EINVALID, "table '%s' has columns named rowid, _rowid_ and oid, "
					"so its rows cannot be told apart", t->names[k]);
			t->once[k] = true;
		}
	}
	return 0;
}

/*
 * WITH "join rows" AS (SELECT every column of every table, row numbers
 * and "nT" FROM, JOIN, WHERE): what the result and the count of
 * suppressed groups share.
 */
static int write_rows(const Dcr__V1__RoomDefinition *def, const Dcr__V1__AggregateComputation *ag,
	const struct agg_tables *t, struct sb *b, struct dcr_err *err)
{
	const Dcr__V1__Column *col;
	bool first = true;

	sb_str(b, "WITH \"join rows\" AS (SELECT ");
	for (size_t i = 0; i < t->n; i++) {
		const Dcr__V1__TableNode *tb = t->nodes[i]->table;

		for (size_t k = 0; k < tb->n_columns; k++) {
			sb_str(b, first ? "" : ", ");
			first = false;
			sb_name(b, t->names[i]);
			sb_str(b, ".");
			sb_name(b, tb->columns[k]->name);
			sb_printf(b, " AS \"c%zu_%zu\"", i, k);
		}
		if (t->row[i]) {
			sb_str(b, first ? "" : ", ");
			first = false;
			sb_name(b, t->names[i]);
			sb_printf(b, ".%s AS \"r%zu\"", t->row[i], i);
		}
		if (t->once[i]) {
			sb_str(b, ", ROW_NUMBER() OVER (PARTITION BY ");
			for (size_t g = 0; g < ag->n_group_by; g++) {
				sb_column(b, ag->group_by[g]);
				sb_str(b, ", ");
			}
			sb_name(b, t->names[i]);
			sb_printf(b, ".%s) AS \"n%zu\"", t->row[i], i);
		}
	}
	if (first)
		return dcr_err_set(err, DCR_EINVALID, "an aggregate computation reads tables without columns");
	sb_str(b, " FROM ");
	sb_name(b, ag->from);
	for (size_t i = 0; i < ag->n_joins; i++) {
		const Dcr__V1__AggregateJoin *j = ag->joins[i];

		sb_str(b, " JOIN ");
		sb_name(b, j->table);
		sb_str(b, " ON ");
		sb_column(b, j->left);
		sb_str(b, " = ");
		sb_column(b, j->right);
	}
	for (size_t i = 0; i < ag->n_filters; i++) {
		const Dcr__V1__AggregateFilter *f = ag->filters[i];

		check_ref(def, f->column, &col, err);
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
	sb_str(b, ")");
	return 0;
}

/* " GROUP BY" and the group-by columns of "join rows", or nothing. */
static void write_group_by(const Dcr__V1__AggregateComputation *ag, const struct agg_tables *t, struct sb *b)
{
	for (size_t i = 0; i < ag->n_group_by; i++) {
		sb_str(b, i ? ", " : " GROUP BY ");
		sb_alias(b, t, ag->group_by[i]);
	}
}

/* The condition a group must meet: each table's distinct rows, or people, at least its threshold. */
static int write_threshold(const Dcr__V1__RoomDefinition *def, const Dcr__V1__AggregateComputation *ag,
	const struct agg_tables *t, struct sb *b, bool *any, struct dcr_err *err)
{
	(void)def;
	*any = false;
	for (size_t i = 0; i < t->n; i++) {
		const Dcr__V1__DataNode *d = t->nodes[i];
		const Dcr__V1__TablePrivacy *rule = d->table->privacy;
		uint32_t size = rule ? rule->min_group_size : 0;

		if (ag->min_group_size > size)
			size = ag->min_group_size;
		if (size <= 1)
			continue;
		sb_str(b, *any ? " AND " : "");
		sb_str(b, "COUNT(DISTINCT ");
		if (rule && rule->identity && *rule->identity) {
			Dcr__V1__ColumnRef ref = { .table = (char *)t->names[i], .column = rule->identity };

			if (!column_of(d, rule->identity))
				return dcr_err_set(err, DCR_EINVALID, "the identity of table '%s' is not one of its columns",
					d->name);
			sb_alias(b, t, &ref);
		} else if (t->row[i]) {
			sb_printf(b, "\"r%zu\"", i);
		} else {
			return dcr_err_set(err, DCR_EINVALID, "table '%s' has columns named rowid, _rowid_ and oid, so "
				"its rows cannot be counted; give its privacy rule an identity column", d->name);
		}
		sb_printf(b, ") >= %u", (unsigned)size);
		*any = true;
	}
	return 0;
}

/* Aggregate g over "join rows": a SUM, AVG or COUNT of a column over the rows where its table's "nT" is 1. */
static void write_aggregate(const Dcr__V1__RoomDefinition *def, const struct agg_tables *t,
	const Dcr__V1__Aggregate *g, struct sb *b)
{
	const Dcr__V1__Column *col = NULL;
	int k = g->column ? table_index(t, g->column) : -1;
	char once[32];

	if (g->column)
		check_ref(def, g->column, &col, NULL);
	snprintf(once, sizeof(once), "CASE WHEN \"n%d\" = 1 THEN ", k);
	if (g->round)
		sb_str(b, "ROUND(");
	if (g->function == DCR__V1__AGGREGATE_FUNCTION__AGGREGATE_FUNCTION_SUM &&
	    col->type == DCR__V1__COLUMN_TYPE__COLUMN_TYPE_INT64) {
		/*
		 * SQLite's SUM() of integers fails the statement on overflow,
		 * in any group, suppressed or not: a failed job would tell
		 * whether a group below the threshold sums past 2^63. The
		 * high and low 32 bits are summed apart (neither can overflow
		 * before 2^31 rows) and put together, where an overflow
		 * gives a REAL, as SQLite's + does, never an error.
		 */
		sb_printf(b, "(SUM(%s", once);
		sb_alias(b, t, g->column);
		sb_printf(b, " >> 32 END) * 4294967296 + SUM(%s", once);
		sb_alias(b, t, g->column);
		sb_str(b, " & 4294967295 END))");
	} else if (!g->column) {
		sb_str(b, "COUNT(*)");
	} else if (counts_rows(g)) {
		sb_str(b, functions[g->function]);
		sb_str(b, once);
		sb_alias(b, t, g->column);
		sb_str(b, " END)");
	} else {
		sb_str(b, functions[g->function]);
		sb_alias(b, t, g->column);
		sb_str(b, ")");
	}
	if (g->round)
		sb_printf(b, ", %u)", (unsigned)(g->round - 1));
	sb_str(b, " AS ");
	sb_name(b, g->name);
}

int dcr_aggregate_sql(const Dcr__V1__RoomDefinition *def, const Dcr__V1__Computation *c,
	struct dcr_aggregate_sql *out, struct dcr_err *err)
{
	const Dcr__V1__AggregateComputation *ag;
	struct sb q = { 0 }, rows = { 0 }, cond = { 0 }, s = { 0 };
	struct agg_tables *t;
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (!c || c->kind_case != DCR__V1__COMPUTATION__KIND_AGGREGATE || !(ag = c->aggregate) || !ag->from ||
	    !ag->n_select || ag->n_joins > 64)
		return dcr_err_set(err, DCR_EINVALID, "not an aggregate computation");
	if (!(t = malloc(sizeof(*t))))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if ((r = read_tables(def, ag, t, err)) < 0 || (r = write_rows(def, ag, t, &rows, err)) < 0 ||
	    (r = write_threshold(def, ag, t, &cond, &out->thresholded, err)) < 0)
		goto out;
	sb_add(&q, rows.p, rows.len);
	sb_str(&q, " SELECT ");
	for (size_t i = 0; i < ag->n_group_by; i++) {
		sb_alias(&q, t, ag->group_by[i]);
		sb_str(&q, " AS ");
		sb_name(&q, ag->group_by[i]->column);
		sb_str(&q, ", ");
	}
	for (size_t i = 0; i < ag->n_select; i++) {
		sb_str(&q, i ? ", " : "");
		write_aggregate(def, t, ag->select[i], &q);
	}
	sb_str(&q, " FROM \"join rows\"");
	write_group_by(ag, t, &q);
	if (out->thresholded) {
		sb_str(&q, " HAVING ");
		sb_add(&q, cond.p, cond.len);
		/*
		 * The suppressed groups' keys; then how many, and whether their
		 * rows together meet every threshold (dcr-room(5), PRIVACY
		 * RULES). An aggregate with a HAVING is an aggregate query even
		 * without GROUP BY: its one group, keyed by nothing.
		 */
		sb_add(&s, rows.p, rows.len);
		sb_str(&s, ", \"suppressed groups\" AS (SELECT ");
		for (size_t i = 0; i < ag->n_group_by; i++) {
			sb_alias(&s, t, ag->group_by[i]);
			sb_printf(&s, " AS \"k%zu\", ", i);
		}
		sb_str(&s, "COUNT(*) AS \"rows\" FROM \"join rows\"");
		write_group_by(ag, t, &s);
		sb_str(&s, " HAVING NOT (");
		sb_add(&s, cond.p, cond.len);
		sb_str(&s, ")) SELECT (SELECT COUNT(*) FROM \"suppressed groups\"), (SELECT ");
		sb_add(&s, cond.p, cond.len);
		sb_str(&s, " FROM \"join rows\" JOIN \"suppressed groups\" ON 1");
		for (size_t i = 0; i < ag->n_group_by; i++) {
			sb_str(&s, " AND ");
			sb_alias(&s, t, ag->group_by[i]);
			sb_printf(&s, " IS \"k%zu\"", i);
		}
		sb_str(&s, ")");
	}
	for (size_t i = 0; i < ag->n_group_by; i++)
		sb_printf(&q, "%s%zu", i ? ", " : " ORDER BY ", i + 1);
	out->query = sb_take(&q);
	if (out->thresholded)
		out->suppressed = sb_take(&s);
	if (!out->query || (out->thresholded && !out->suppressed))
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
out:
	free(t);
	free(rows.p);
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
	if (suppressed == DCR_AGGREGATE_WITHHELD)
		snprintf(count, sizeof(count), "groups_suppressed\nwithheld\n");
	else
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
