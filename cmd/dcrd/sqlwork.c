/* SQL computations: an in-memory SQLite database with what a query reads, and its result as CSV. */
#include "work.h"

#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <time.h>

#include "aggregate.h"
#include "crypto.h"
#include "room.h"
#include "sql.h"
#include "table.h"

#include "banned.h"

#define DEFAULT_TIME_MS 60000
#define MAX_TIME_MS (1000ULL * 3600 * 24 * 365)
#define DEFAULT_MAX_RESULT (256ULL << 20)
#define DEFAULT_MAX_MEMORY (1ULL << 30)
#define PROGRESS_OPS 10000 /* SQLite VM instructions between looks at the clock */

struct sql_job {
	const Dcr__V1__RoomDefinition *def;
	const Dcr__V1__Computation *c;
	const char *query;         /* an SQL computation's, or what agg wrote for an aggregate one */
	struct dcr_aggregate_sql agg;
	const struct work_inputs *in;
	struct dcr_sql *sql;
	sqlite3 *db;               /* sql's */
	bool *view_needed;         /* parallel to def->compute */
	bool *view_made;
	bool *table_read;          /* parallel to def->data: the query's program opens it */
	uint64_t max_memory;
	struct work_clock clock;
	sqlite3_stmt *insert;      /* loading one table */
};

/* ---- errors ---- */

static int progress(void *ctx)
{
	struct sql_job *j = ctx;

	return work_clock_late(&j->clock);
}

static int out_of_time(struct sql_job *j, struct dcr_err *err)
{
	return sql_out_of_time(j->c->name, j->clock.time_ms, err);
}

static int out_of_memory(struct sql_job *j, struct dcr_err *err)
{
	if (j->sql && dcr_sql_memory_exceeded(j->sql))
		return dcr_err_set(err, DCR_ECOMPUTE, "computation '%s' exceeded its memory limit (%" PRIu64 " bytes)",
			j->c->name, j->max_memory);
	/* dcrd's limit for all of SQLite (serve --max-sql-memory plus headroom), or the system's. */
	return dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': SQLite ran out of memory", j->c->name);
}

/* SQLite's message about setting up or compiling: it names only what the room's queries name. */
static int sql_error(struct sql_job *j, struct dcr_err *err)
{
	if (j->clock.late)
		return out_of_time(j, err);
	if (!j->db || sqlite3_errcode(j->db) == SQLITE_NOMEM)
		return out_of_memory(j, err);
	return dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': SQLite: %s", j->c->name, sqlite3_errmsg(j->db));
}

/*
 * While a query runs, some messages quote a value it computed ("JSON path
 * error near 'x'"), which may be data, and error messages reach the audit
 * log that every participant reads: only the messages below, which quote
 * nothing, pass; any other is its result code's fixed text.
 */
static int run_error(struct sql_job *j, struct dcr_err *err)
{
	static const char *const data_free[] = { "integer overflow", "malformed JSON", "string or blob too big",
		"JSON cannot hold BLOB values", "too many levels of trigger recursion" };
	const char *msg = sqlite3_errmsg(j->db);

	if (j->clock.late || sqlite3_errcode(j->db) == SQLITE_NOMEM)
		return sql_error(j, err);
	for (size_t i = 0; i < sizeof(data_free) / sizeof(data_free[0]); i++)
		if (strcmp(msg, data_free[i]) == 0)
			return sql_error(j, err);
	return dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': SQLite: %s: [withheld: it may quote data]", j->c->name,
		sqlite3_errstr(sqlite3_errcode(j->db) & 0xff));
}

/* ---- what the computation needs ---- */

static ssize_t find_compute(const Dcr__V1__RoomDefinition *def, const char *name)
{
	for (size_t i = 0; i < def->n_compute; i++)
		if (strcmp(def->compute[i]->name, name) == 0)
			return (ssize_t)i;
	return -1;
}

/* Every SQL computation c reads, directly or not (depends already lists them all; walking is cheap). */
static int mark_views(struct sql_job *j, const Dcr__V1__Computation *c, struct dcr_err *err)
{
	for (size_t d = 0; d < c->n_depends; d++) {
		ssize_t k = find_compute(j->def, c->depends[d]);
		int r;

		if (k < 0)
			return dcr_err_set(err, DCR_EINVALID,
				"computation '%s' depends on '%s', which the room does not have", c->name, c->depends[d]);
		if (j->def->compute[k]->kind_case != DCR__V1__COMPUTATION__KIND_SQL || j->view_needed[k])
			continue;
		j->view_needed[k] = true;
		if ((r = mark_views(j, j->def->compute[k], err)) < 0)
			return r;
	}
	return 0;
}

static int refuse_group_size(struct sql_job *j, const Dcr__V1__Computation *c, struct dcr_err *err)
{
	if (c == j->c)
		return dcr_err_set(err, DCR_ECOMPUTE,
			"computation '%s' has min_group_size %" PRIu32 ", which this dcrd cannot enforce yet; "
			"refusing to run it rather than risk revealing small groups", c->name, c->sql->min_group_size);
	return dcr_err_set(err, DCR_ECOMPUTE,
		"computation '%s' reads '%s', which has min_group_size %" PRIu32 ", which this dcrd cannot "
		"enforce yet; refusing to run it rather than risk revealing small groups", j->c->name, c->name,
		c->sql->min_group_size);
}

/*
 * A rule on free SQL, which dcr create refuses since aggregate computations
 * exist but a room stored before may hold, must stop the run: the
 * computation's own, or one of a view it reads.
 */
static int check_privacy(struct sql_job *j, struct dcr_err *err)
{
	if (j->c->kind_case == DCR__V1__COMPUTATION__KIND_SQL && j->c->sql->min_group_size > 1)
		return refuse_group_size(j, j->c, err);
	for (size_t i = 0; i < j->def->n_compute; i++)
		if (j->view_needed[i] && j->def->compute[i]->sql->min_group_size > 1)
			return refuse_group_size(j, j->def->compute[i], err);
	return 0;
}

/* ---- the database ---- */

static int open_db(struct sql_job *j, struct dcr_err *err)
{
	int r = dcr_sql_new(&j->sql, j->max_memory, err);

	if (r == DCR_ENOMEM)
		return out_of_memory(j, err);
	if (r < 0)
		return r;
	j->db = dcr_sql_db(j->sql);
	sqlite3_progress_handler(j->db, PROGRESS_OPS, progress, j);
	return 0;
}

/* What a failed step of setting the database up (lib/sql returned r) says. */
static int setup_failed(struct sql_job *j, int r, struct dcr_err *err)
{
	if (r == DCR_EINVALID)
		return dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': a query is not exactly one statement",
			j->c->name);
	if (r == DCR_ENOMEM)
		return out_of_memory(j, err);
	return sql_error(j, err);
}

/* Run one statement that sets the database up; nothing but blanks may follow it. */
static int exec_one(struct sql_job *j, const char *sql, struct dcr_err *err)
{
	int r = dcr_sql_exec(j->sql, sql, err);

	return r < 0 ? setup_failed(j, r, err) : 0;
}

/* Every table node, as lib/room.c validated the queries against, and STRICT as a guard on loading. */
static int create_tables(struct sql_job *j, struct dcr_err *err)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < j->def->n_data; i++)
		if (j->def->data[i]->kind_case == DCR__V1__DATA_NODE__KIND_TABLE &&
		    (r = dcr_sql_create_table(j->sql, j->def->data[i], err)) < 0)
			r = setup_failed(j, r, err);
	return r;
}

/* A view for computation i, after the views it reads (SQLite would take any order; this one is clearer). */
static int make_view(struct sql_job *j, size_t i, struct dcr_err *err)
{
	const Dcr__V1__Computation *c = j->def->compute[i];
	int r = 0;

	if (j->view_made[i])
		return 0;
	j->view_made[i] = true;
	for (size_t d = 0; r == 0 && d < c->n_depends; d++) {
		ssize_t k = find_compute(j->def, c->depends[d]);

		if (k >= 0 && j->view_needed[k])
			r = make_view(j, (size_t)k, err);
	}
	if (r == 0 && (r = dcr_sql_create_view(j->sql, c->name, c->sql->query, err)) < 0)
		r = setup_failed(j, r, err);
	return r;
}

/* The query reads table node `table`: it is loaded, and fails the run if nothing is published to it. */
static int mark_table(void *ctx, const char *table, struct dcr_err *err)
{
	struct sql_job *j = ctx;

	for (size_t i = 0; i < j->def->n_data; i++)
		if (j->def->data[i]->kind_case == DCR__V1__DATA_NODE__KIND_TABLE &&
		    strcmp(j->def->data[i]->name, table) == 0) {
			/* dcr create refuses it; a definition is still never trusted to have been checked. */
			if (j->def->data[i]->table->privacy && j->c->kind_case != DCR__V1__COMPUTATION__KIND_AGGREGATE)
				return dcr_err_set(err, DCR_ECOMPUTE, "computation '%s' reads '%s', a table with a privacy "
					"rule; only aggregate computations may read it", j->c->name, table);
			j->table_read[i] = true;
			return 0;
		}
	return dcr_err_set(err, DCR_ECOMPUTE, "computation '%s' reads table '%s', which is not a table node",
		j->c->name, table);
}

/*
 * Compile the query under the policy, and learn from its program which
 * tables it reads, through views too: the authorizer would miss those it
 * reads only through a join's USING or NATURAL.
 */
static int prepare_query(struct sql_job *j, sqlite3_stmt **st, struct dcr_err *err)
{
	struct dcr_sql_reader reader = { .table = mark_table, .ctx = j };
	struct dcr_err why;
	int r = dcr_sql_prepare(j->sql, j->query, st, &reader, &why);

	if (r == DCR_EINVALID)
		return dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': %s", j->c->name, why.msg);
	if (r == DCR_ENOMEM)
		return out_of_memory(j, err);
	if (r < 0 && err)
		*err = why;
	return r;
}

/* ---- loading tables ---- */

static int insert_row(void *ctx, const struct dcr_table_value *v, size_t n, struct dcr_err *err)
{
	struct sql_job *j = ctx;
	sqlite3_stmt *st = j->insert;
	int rc = SQLITE_OK;

	for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
		int at = (int)i + 1;

		/* STATIC: the step below is done with the values before the loader reuses them. */
		if (v[i].kind == DCR_TABLE_INT)
			rc = sqlite3_bind_int64(st, at, v[i].i);
		else if (v[i].kind == DCR_TABLE_REAL)
			rc = sqlite3_bind_double(st, at, v[i].d);
		else if (v[i].kind == DCR_TABLE_TEXT)
			rc = sqlite3_bind_text64(st, at, v[i].s, v[i].len, SQLITE_STATIC, SQLITE_UTF8);
		else
			rc = sqlite3_bind_null(st, at);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : sql_error(j, err);
}

static int load_table(struct sql_job *j, const Dcr__V1__DataNode *d, struct dcr_err *err)
{
	sqlite3_str *sql = sqlite3_str_new(j->db);
	char *insert;
	int r;

	sqlite3_str_appendf(sql, "INSERT INTO \"%w\" VALUES (", d->name);
	for (size_t c = 0; c < d->table->n_columns; c++)
		sqlite3_str_appendf(sql, "%s?", c ? ", " : "");
	sqlite3_str_appendall(sql, ")");
	if (!(insert = sqlite3_str_finish(sql)))
		return out_of_memory(j, err);
	if ((r = dcr_sql_prepare_setup(j->sql, insert, &j->insert, err)) < 0)
		r = setup_failed(j, r, err);
	sqlite3_free(insert);
	if (r == 0)
		r = work_load_table(j->in, d, j->c->name, &j->clock, insert_row, j, err);
	sqlite3_finalize(j->insert);
	j->insert = NULL;
	return r;
}

/* Only the tables the query reads: a node nobody published does not matter to a query that ignores it. */
static int load_tables(struct sql_job *j, struct dcr_err *err)
{
	int r;

	if ((r = exec_one(j, "BEGIN", err)) < 0)
		return r;
	for (size_t i = 0; r == 0 && i < j->def->n_data; i++)
		if (j->table_read[i])
			r = load_table(j, j->def->data[i], err);
	return r < 0 ? r : exec_one(j, "COMMIT", err);
}

/* ---- the result as CSV ---- */

int csv_put(struct csv_out *o, const void *p, size_t n, struct dcr_err *err)
{
	if (n > o->max - o->len)
		return dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': the result is larger than %zu bytes",
			o->name, o->max);
	if (dcr_secure_reserve(&o->p, &o->cap, o->len, o->len + n, o->max) < 0)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	memcpy(o->p + o->len, p, n);
	o->len += n;
	return 0;
}

void csv_out_free(struct csv_out *o)
{
	dcr_wipe(o->p, o->cap);
	free(o->p);
	o->p = NULL;
}

int csv_out_finish(struct csv_out *o, int r, const struct sql_result *res, struct sql_result *out)
{
	if (r < 0) {
		csv_out_free(o);
		return r;
	}
	*out = *res;
	out->csv = o->p;
	out->len = o->len;
	return 0;
}

static int put(struct sql_job *j, struct csv_out *o, const void *p, size_t n, struct dcr_err *err)
{
	return csv_put(o, p, n, err);
}

/* Quoted when it could be misread: empty (unquoted empty is NULL), or holding a ',', '"', CR, LF, or edge space. */
static bool needs_quotes(const uint8_t *s, size_t n)
{
	if (n == 0 || s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t')
		return true;
	for (size_t i = 0; i < n; i++)
		if (s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n')
			return true;
	return false;
}

int csv_put_text(struct csv_out *o, const uint8_t *s, size_t n, struct dcr_err *err)
{
	const uint8_t *q;
	int r;

	if (!needs_quotes(s, n))
		return csv_put(o, s, n, err);
	if ((r = csv_put(o, "\"", 1, err)) < 0)
		return r;
	while (n > 0 && (q = memchr(s, '"', n))) {
		size_t run = (size_t)(q - s) + 1;

		if ((r = csv_put(o, s, run, err)) < 0 || (r = csv_put(o, "\"", 1, err)) < 0)
			return r;
		s += run;
		n -= run;
	}
	if (n > 0 && (r = csv_put(o, s, n, err)) < 0)
		return r;
	return csv_put(o, "\"", 1, err);
}

static int put_text(struct sql_job *j, struct csv_out *o, const uint8_t *s, size_t n, struct dcr_err *err)
{
	return csv_put_text(o, s, n, err);
}

/* The shortest of %.15g, %.16g and %.17g that reads back as d; ".0" when it would look like an integer. */
void csv_format_real(double d, char buf[static 40])
{
	if (isnan(d)) {
		snprintf(buf, 40, "nan");
		return;
	}
	if (isinf(d)) {
		snprintf(buf, 40, "%s", d > 0 ? "inf" : "-inf");
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, 40, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	if (!strpbrk(buf, ".e"))
		snprintf(buf + strlen(buf), 40 - strlen(buf), ".0");
}

static int put_blob(struct sql_job *j, struct csv_out *o, const uint8_t *b, size_t n, struct dcr_err *err)
{
	static const char digits[] = "0123456789abcdef";
	char hex[512];
	int r = 0;

	if (n == 0)
		return put(j, o, "\"\"", 2, err);
	for (size_t i = 0; r == 0 && i < n;) {
		size_t k = 0;

		for (; i < n && k < sizeof(hex); i++) {
			hex[k++] = digits[b[i] >> 4];
			hex[k++] = digits[b[i] & 15];
		}
		r = put(j, o, hex, k, err);
	}
	return r;
}

static int put_value(struct sql_job *j, struct csv_out *o, sqlite3_stmt *st, int i, struct dcr_err *err)
{
	char num[40];

	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL:
		return 0;
	case SQLITE_INTEGER:
		snprintf(num, sizeof(num), "%" PRId64, (int64_t)sqlite3_column_int64(st, i));
		return put(j, o, num, strlen(num), err);
	case SQLITE_FLOAT:
		csv_format_real(sqlite3_column_double(st, i), num);
		return put(j, o, num, strlen(num), err);
	case SQLITE_BLOB: {
		const void *b = sqlite3_column_blob(st, i);
		size_t n = (size_t)sqlite3_column_bytes(st, i);

		if (!b && n > 0)
			return dcr_err_set(err, DCR_ENOMEM, "out of memory");
		return put_blob(j, o, b, n, err);
	}
	default: {
		const uint8_t *s = sqlite3_column_text(st, i);
		size_t n = (size_t)sqlite3_column_bytes(st, i);

		if (!s)
			return dcr_err_set(err, DCR_ENOMEM, "out of memory");
		return put_text(j, o, s, n, err);
	}
	}
}

static int put_header(struct sql_job *j, struct csv_out *o, sqlite3_stmt *st, struct dcr_err *err)
{
	int r = 0;

	for (int i = 0; r == 0 && i < sqlite3_column_count(st); i++) {
		const char *name = sqlite3_column_name(st, i);

		if (!name)
			return dcr_err_set(err, DCR_ENOMEM, "out of memory");
		if (i > 0)
			r = put(j, o, ",", 1, err);
		if (r == 0)
			r = put_text(j, o, (const uint8_t *)name, strlen(name), err);
	}
	return r < 0 ? r : put(j, o, "\n", 1, err);
}

static int write_result(struct sql_job *j, sqlite3_stmt *st, struct csv_out *o, uint64_t *rows,
	struct dcr_err *err)
{
	int n = sqlite3_column_count(st), rc, r;

	if ((r = put_header(j, o, st, err)) < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < n; i++) {
			if (i > 0 && (r = put(j, o, ",", 1, err)) < 0)
				return r;
			if ((r = put_value(j, o, st, i, err)) < 0)
				return r;
		}
		if ((r = put(j, o, "\n", 1, err)) < 0)
			return r;
		(*rows)++;
	}
	return rc == SQLITE_DONE ? 0 : run_error(j, err);
}

/* ---- the whole run ---- */

void sql_limits_resolve(struct sql_limits *lim)
{
	lim->time_ms = lim->time_ms ? (lim->time_ms < MAX_TIME_MS ? lim->time_ms : MAX_TIME_MS) : DEFAULT_TIME_MS;
	if (!lim->max_result_bytes)
		lim->max_result_bytes = DEFAULT_MAX_RESULT;
	if (lim->max_result_bytes > SIZE_MAX)
		lim->max_result_bytes = SIZE_MAX;
	if (!lim->max_memory)
		lim->max_memory = DEFAULT_MAX_MEMORY;
	lim->threads = lim->threads ? (lim->threads < SQL_THREADS_MAX ? lim->threads : SQL_THREADS_MAX) : 1;
}

static int find_sql(struct sql_job *j, const char *name, struct dcr_err *err)
{
	ssize_t i = find_compute(j->def, name);
	int r;

	if (i < 0)
		return dcr_err_set(err, DCR_ENOTFOUND, "the room has no computation '%s'", name);
	j->c = j->def->compute[i];
	if (j->c->kind_case == DCR__V1__COMPUTATION__KIND_SQL && j->c->sql) {
		j->query = j->c->sql->query;
		return 0;
	}
	if (j->c->kind_case != DCR__V1__COMPUTATION__KIND_AGGREGATE)
		return dcr_err_set(err, DCR_EINVALID, "computation '%s' is not an SQL or aggregate computation", name);
	{
		struct dcr_err why;

		if ((r = dcr_aggregate_sql(j->def, j->c, &j->agg, &why)) < 0)
			return dcr_err_set(err, r == DCR_EINVALID ? DCR_ECOMPUTE : r, "computation '%s': %s", name,
				why.msg);
	}
	j->query = j->agg.query;
	return 0;
}

/*
 * How many groups the thresholds of an aggregate computation left out, or
 * DCR_AGGREGATE_WITHHELD: its second statement, on the same tables.
 */
static int count_suppressed(struct sql_job *j, struct sql_result *out, struct dcr_err *err)
{
	sqlite3_stmt *st = NULL;
	const char *query = j->query;
	int r, rc;

	if (!j->agg.suppressed)
		return 0;
	j->query = j->agg.suppressed;
	r = prepare_query(j, &st, err);
	j->query = query;
	if (r < 0)
		return r;
	if ((rc = sqlite3_step(st)) != SQLITE_ROW || sqlite3_column_int64(st, 0) < 0) {
		r = rc == SQLITE_ROW ? dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': no count of suppressed groups",
			j->c->name) : run_error(j, err);
		sqlite3_finalize(st);
		return r;
	}
	out->thresholded = true;
	/* A count of groups whose rows together fall short of a threshold would tell about those rows. */
	out->groups_suppressed = sqlite3_column_int(st, 1) == 1 ? (uint64_t)sqlite3_column_int64(st, 0) :
		DCR_AGGREGATE_WITHHELD;
	sqlite3_finalize(st);
	return 0;
}

static int run(struct sql_job *j, struct csv_out *o, struct sql_result *out, struct dcr_err *err)
{
	sqlite3_stmt *st = NULL;
	locale_t c_locale, old;
	int r;

	/* An aggregate computation reads table nodes only; its depends are for order, not views. */
	if ((j->c->kind_case == DCR__V1__COMPUTATION__KIND_SQL && (r = mark_views(j, j->c, err)) < 0) ||
	    (r = check_privacy(j, err)) < 0 || (r = open_db(j, err)) < 0 ||
	    (r = create_tables(j, err)) < 0)
		return r;
	for (size_t i = 0; i < j->def->n_compute; i++)
		if (j->view_needed[i] && (r = make_view(j, i, err)) < 0)
			return r;
	if ((r = prepare_query(j, &st, err)) < 0 || (r = load_tables(j, err)) < 0) {
		sqlite3_finalize(st);
		return r;
	}
	/* Numbers are written with '.', whatever the locale. */
	if (!(c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0))) {
		sqlite3_finalize(st);
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	}
	old = uselocale(c_locale);
	r = write_result(j, st, o, &out->rows, err);
	if (r == 0)
		r = count_suppressed(j, out, err);
	uselocale(old);
	freelocale(c_locale);
	sqlite3_finalize(st);
	return r;
}

int sql_run(const Dcr__V1__RoomDefinition *def, const char *name, const struct work_inputs *in,
	const struct sql_limits *lim, struct sql_result *out, struct dcr_err *err)
{
	struct sql_limits l = lim ? *lim : (struct sql_limits){ 0 };
	struct sql_job j = { .def = def, .in = in };
	struct csv_out o = { 0 };
	struct sql_result res = { 0 };
	size_t n = def->n_compute ? def->n_compute : 1;
	int r;

	memset(out, 0, sizeof(*out));
	sql_limits_resolve(&l);
	o.max = (size_t)l.max_result_bytes;
	work_clock_start(&j.clock, l.time_ms);
	j.max_memory = l.max_memory;
	if ((r = find_sql(&j, name, err)) < 0) {
		dcr_aggregate_sql_release(&j.agg);
		return r;
	}
	if (duck_computation(j.c))
		return duck_run(def, j.c, in, lim, out, err);
	o.name = j.c->name;
	j.view_needed = calloc(n, sizeof(bool));
	j.view_made = calloc(n, sizeof(bool));
	j.table_read = calloc(def->n_data ? def->n_data : 1, sizeof(bool));
	if (!j.view_needed || !j.view_made || !j.table_read)
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
	else
		r = run(&j, &o, &res, err);
	/* SQLite frees the plaintext it held; it cannot be made to wipe it. Close promptly. */
	dcr_sql_free(j.sql);
	free(j.view_needed);
	free(j.view_made);
	free(j.table_read);
	dcr_aggregate_sql_release(&j.agg);
	return csv_out_finish(&o, r, &res, out);
}
