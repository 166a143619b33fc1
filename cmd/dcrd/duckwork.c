/*
 * SQL computations with engine duckdb: an in-memory DuckDB database locked
 * down before any query sees it, the tables the query reads loaded through
 * lib/table (the same verdicts as the SQLite engine), the result as the
 * same CSV. Run inside the SQL worker process (sqlproc.c) like SQLite.
 */
#include "work.h"

#include <inttypes.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "room.h"
#include "table.h"

#ifdef DCR_HAVE_DUCKDB
#include "duckdb-api.h"
#endif

#include "banned.h"

bool duck_computation(const Dcr__V1__Computation *c)
{
	return c->kind_case == DCR__V1__COMPUTATION__KIND_SQL && c->sql &&
		c->sql->engine == DCR__V1__SQL_ENGINE__SQL_ENGINE_DUCKDB;
}

#ifndef DCR_HAVE_DUCKDB

const char *duck_version(void)
{
	return NULL;
}

static int no_duckdb(const char *name, int code, struct dcr_err *err)
{
	return dcr_err_set(err, code, "computation '%s' uses engine duckdb, and this dcrd was built without DuckDB",
		name);
}

int duck_check_room(const Dcr__V1__RoomDefinition *def, struct dcr_err *err)
{
	for (size_t i = 0; i < def->n_compute; i++)
		if (duck_computation(def->compute[i]))
			return no_duckdb(def->compute[i]->name, DCR_EINVALID, err);
	return 0;
}

int duck_run(const Dcr__V1__RoomDefinition *def, const Dcr__V1__Computation *c, const struct work_inputs *in,
	const struct sql_limits *lim, struct sql_result *out, struct dcr_err *err)
{
	return no_duckdb(c->name, DCR_ECOMPUTE, err);
}

#else

#define DEADLINE_ROWS 1024

struct duck {
	const Dcr__V1__RoomDefinition *def;
	const Dcr__V1__Computation *c;
	duckdb_database db;
	duckdb_connection con;
	bool *present;             /* parallel to def->data: a table of that name exists in the database */
	/* loading one table */
	duckdb_appender app;
	struct dcr_table_loader *loader;
	const struct work_inputs *in;
	struct timespec deadline;
	uint64_t time_ms, appended;
	struct dcr_err sink_err;
	bool sink_failed;
};

const char *duck_version(void)
{
	const char *v = duckdb_library_version();

	return v[0] == 'v' ? v + 1 : v;
}

static int exec(struct duck *d, const char *sql, struct dcr_err *err);

/*
 * The database a query of a room sees: in memory, no file or network
 * access (read_csv, COPY, ATTACH of a file, httpfs URLs), no extension
 * installed or loaded, automatically or not, no spilling to disk (the
 * temporary directory is none: a query that needs more than its memory
 * fails), one thread, the time zone UTC whatever the host's TZ, and the
 * configuration locked so no statement can change any of it.
 */
static int open_locked(struct duck *d, uint64_t max_memory, struct dcr_err *err)
{
	char mem[32];
	const char *const settings[][2] = {
		{ "autoinstall_known_extensions", "false" },
		{ "autoload_known_extensions", "false" },
		{ "allow_community_extensions", "false" },
		{ "allow_unsigned_extensions", "false" },
		{ "allow_persistent_secrets", "false" },
		{ "max_temp_directory_size", "0B" },
		{ "threads", "1" },
		{ "memory_limit", mem },
	};
	duckdb_config cfg = NULL;
	char *why = NULL;
	int r = 0;

	snprintf(mem, sizeof(mem), "%" PRIu64 "B", max_memory);
	if (duckdb_create_config(&cfg) != DuckDBSuccess)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	for (size_t i = 0; r == 0 && i < sizeof(settings) / sizeof(settings[0]); i++)
		if (duckdb_set_config(cfg, settings[i][0], settings[i][1]) != DuckDBSuccess)
			r = dcr_err_set(err, DCR_ECOMPUTE, "DuckDB refused setting %s", settings[i][0]);
	if (r == 0 && duckdb_open_ext(NULL, &d->db, cfg, &why) != DuckDBSuccess)
		r = dcr_err_set(err, DCR_ECOMPUTE, "DuckDB: %s", why ? why : "cannot open a database");
	duckdb_free(why);
	duckdb_destroy_config(&cfg);
	if (r == 0 && duckdb_connect(d->db, &d->con) != DuckDBSuccess)
		r = dcr_err_set(err, DCR_ECOMPUTE, "DuckDB: cannot connect");
	/*
	 * The configuration cannot say "no temporary directory", SET can, and
	 * only while external access is on; then it goes off, then the lock.
	 */
	/* ICU's settings exist once the database does; their defaults come from the environment (TZ). */
	if (r == 0 && (r = exec(d, "SET TimeZone = 'UTC'", err)) == 0 &&
	    (r = exec(d, "SET Calendar = 'gregorian'", err)) == 0 &&
	    (r = exec(d, "SET temp_directory = ''", err)) == 0 &&
	    (r = exec(d, "SET enable_external_access = false", err)) == 0)
		r = exec(d, "SET lock_configuration = true", err);
	return r;
}

static void close_db(struct duck *d)
{
	if (d->con)
		duckdb_disconnect(&d->con);
	if (d->db)
		duckdb_close(&d->db);
}

static int exec(struct duck *d, const char *sql, struct dcr_err *err)
{
	duckdb_result res;
	int r = 0;

	if (duckdb_query(d->con, sql, &res) != DuckDBSuccess)
		r = dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': DuckDB: %s", d->c->name, duckdb_result_error(&res));
	duckdb_destroy_result(&res);
	return r;
}

static const char *column_type(Dcr__V1__ColumnType t)
{
	switch (t) {
	case DCR__V1__COLUMN_TYPE__COLUMN_TYPE_INT64:
		return "BIGINT";
	case DCR__V1__COLUMN_TYPE__COLUMN_TYPE_FLOAT64:
		return "DOUBLE";
	case DCR__V1__COLUMN_TYPE__COLUMN_TYPE_BOOL:
		return "BOOLEAN";
	case DCR__V1__COLUMN_TYPE__COLUMN_TYPE_DATE:
		return "DATE";
	default:
		return "VARCHAR";
	}
}

/* SQL text being written: at most cap bytes, ok false once something did not fit. */
struct text {
	char *p;
	size_t len, cap;
	bool ok;
};

static void add(struct text *t, const char *s)
{
	size_t n = strlen(s);

	if (!t->ok || n >= t->cap - t->len) {
		t->ok = false;
		return;
	}
	memcpy(t->p + t->len, s, n + 1);
	t->len += n;
}

/* "name", its quotes doubled. */
static void add_ident(struct text *t, const char *name)
{
	add(t, "\"");
	for (; *name && t->ok; name++) {
		char c[3] = { *name, *name == '"' ? '"' : '\0', '\0' };

		add(t, c);
	}
	add(t, "\"");
}

static int run_text(struct duck *d, struct text *t, struct dcr_err *err)
{
	int r = t->ok ? exec(d, t->p, err) : dcr_err_set(err, DCR_EINVALID, "computation '%s': a table's SQL is too "
		"long", d->c->name);

	free(t->p);
	return r;
}

static bool text_new(struct text *t, size_t cap)
{
	*t = (struct text){ .p = malloc(cap), .cap = cap, .ok = true };
	if (t->p)
		t->p[0] = '\0';
	return t->p != NULL;
}

/* Table node i, empty, with its declared columns (twice a name's length covers its quoting). */
static int create_table(struct duck *d, size_t i, struct dcr_err *err)
{
	const Dcr__V1__DataNode *node = d->def->data[i];
	size_t cap = 32 + 2 * strlen(node->name);
	struct text t;
	int r;

	for (size_t c = 0; c < node->table->n_columns; c++)
		cap += 16 + 2 * strlen(node->table->columns[c]->name);
	if (!text_new(&t, cap))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	add(&t, "CREATE TABLE ");
	add_ident(&t, node->name);
	for (size_t c = 0; c < node->table->n_columns; c++) {
		add(&t, c ? ", " : " (");
		add_ident(&t, node->table->columns[c]->name);
		add(&t, " ");
		add(&t, column_type(node->table->columns[c]->type));
	}
	add(&t, node->table->n_columns ? ")" : "");
	if ((r = run_text(d, &t, err)) == 0)
		d->present[i] = true;
	return r;
}

static int drop_table(struct duck *d, size_t i, struct dcr_err *err)
{
	struct text t;

	if (!text_new(&t, 16 + 2 * strlen(d->def->data[i]->name)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	add(&t, "DROP TABLE ");
	add_ident(&t, d->def->data[i]->name);
	d->present[i] = false;
	return run_text(d, &t, err);
}

/*
 * query as exactly one read-only SELECT, compiled against the database as it
 * is: DuckDB's own parser splits it, its binder resolves every name.
 * DCR_EINVALID with why set when it is not.
 */
static int prepare_select(struct duck *d, const char *query, duckdb_prepared_statement *st, struct dcr_err *why)
{
	duckdb_extracted_statements ex = NULL;
	idx_t n = duckdb_extract_statements(d->con, query, &ex);
	int r = 0;

	*st = NULL;
	if (n == 0)
		r = dcr_err_set(why, DCR_EINVALID, "DuckDB: %s", ex && duckdb_extract_statements_error(ex) ?
			duckdb_extract_statements_error(ex) : "no statement");
	else if (n != 1)
		r = dcr_err_set(why, DCR_EINVALID, "a query is exactly one statement, and this has %" PRIu64,
			(uint64_t)n);
	else if (duckdb_prepare_extracted_statement(d->con, ex, 0, st) != DuckDBSuccess)
		r = dcr_err_set(why, DCR_EINVALID, "DuckDB: %s", duckdb_prepare_error(*st));
	else if (duckdb_prepared_statement_type(*st) != DUCKDB_STATEMENT_TYPE_SELECT)
		r = dcr_err_set(why, DCR_EINVALID, "a query is one read-only SELECT");
	duckdb_destroy_extracted(&ex);
	if (r < 0 && *st)
		duckdb_destroy_prepare(st);
	return r;
}

/* Every table node without a privacy rule, empty; the query prepared against them. */
static int prepare_on_all(struct duck *d, struct dcr_err *err)
{
	duckdb_prepared_statement st;
	struct dcr_err why;
	int r = 0;

	for (size_t i = 0; r == 0 && i < d->def->n_data; i++)
		if (d->def->data[i]->kind_case == DCR__V1__DATA_NODE__KIND_TABLE && !d->def->data[i]->table->privacy)
			r = create_table(d, i, err);
	if (r < 0)
		return r;
	if (prepare_select(d, d->c->sql->query, &st, &why) < 0)
		return dcr_err_set(err, DCR_EINVALID, "query of '%s': %s", d->c->name, why.msg);
	duckdb_destroy_prepare(&st);
	return 0;
}

/*
 * After prepare_on_all: each table dropped in turn, and kept dropped when
 * the query still prepares without it. What is left is a database in which
 * the query prepares and no table it does not need: whatever DuckDB
 * resolves a name to, it can only read the tables that will be loaded, so
 * finding them is sound by construction, not by reading the query.
 */
static int drop_unneeded(struct duck *d, struct dcr_err *err)
{
	struct dcr_err why;
	int r = 0;

	for (size_t i = 0; r == 0 && i < d->def->n_data; i++) {
		duckdb_prepared_statement without;

		if (!d->present[i] || (r = drop_table(d, i, err)) < 0)
			continue;
		if (prepare_select(d, d->c->sql->query, &without, &why) == 0)
			duckdb_destroy_prepare(&without);
		else
			r = create_table(d, i, err);
	}
	return r;
}

static int check_version(const Dcr__V1__Computation *c, int code, struct dcr_err *err)
{
	if (strcmp(c->sql->engine_version, duck_version()) != 0)
		return dcr_err_set(err, code, "computation '%s' was written for DuckDB %s, and this dcrd runs DuckDB %s",
			c->name, c->sql->engine_version, duck_version());
	return 0;
}

/* As open_locked for checking: a small memory limit, since only compiling happens. */
#define CHECK_MEMORY (256ull << 20)

int duck_check_room(const Dcr__V1__RoomDefinition *def, struct dcr_err *err)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < def->n_compute; i++) {
		struct duck d = { .def = def, .c = def->compute[i] };

		if (!duck_computation(d.c))
			continue;
		if ((r = check_version(d.c, DCR_EINVALID, err)) < 0)
			break;
		if (!(d.present = calloc(def->n_data + 1, sizeof(bool))))
			return dcr_err_set(err, DCR_ENOMEM, "out of memory");
		if ((r = open_locked(&d, CHECK_MEMORY, err)) == 0)
			r = prepare_on_all(&d, err);
		if (r < 0 && r != DCR_ENOMEM)
			r = err ? (err->code = DCR_EINVALID) : DCR_EINVALID;
		close_db(&d);
		free(d.present);
	}
	return r;
}

/* ---- loading ---- */

static bool past_deadline(struct duck *d)
{
	return sql_deadline_passed(&d->deadline);
}

static int append_row(void *ctx, const struct dcr_table_value *v, size_t n, struct dcr_err *err)
{
	struct duck *d = ctx;
	duckdb_state s = DuckDBSuccess;

	for (size_t i = 0; s == DuckDBSuccess && i < n; i++) {
		if (v[i].kind == DCR_TABLE_INT)
			s = duckdb_append_int64(d->app, v[i].i);
		else if (v[i].kind == DCR_TABLE_REAL)
			s = duckdb_append_double(d->app, v[i].d);
		else if (v[i].kind == DCR_TABLE_TEXT)
			s = duckdb_append_varchar_length(d->app, v[i].s, v[i].len);
		else
			s = duckdb_append_null(d->app);
	}
	if (s == DuckDBSuccess)
		s = duckdb_appender_end_row(d->app);
	if (s != DuckDBSuccess)
		/* The appender's message may quote the value: the values passed lib/table's checks already. */
		return dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': DuckDB could not load a row", d->c->name);
	if (++d->appended % DEADLINE_ROWS == 0 && past_deadline(d))
		return sql_out_of_time(d->c->name, d->time_ms, err);
	return 0;
}

static int load_sink(void *ctx, const uint8_t *buf, size_t len, struct dcr_err *err)
{
	struct duck *d = ctx;
	int r;

	if (past_deadline(d))
		r = sql_out_of_time(d->c->name, d->time_ms, &d->sink_err);
	else
		r = dcr_table_loader_write(d->loader, buf, len, &d->sink_err);
	if (r < 0) {
		d->sink_failed = true;
		if (err)
			*err = d->sink_err;
	}
	return r;
}

static int load_table(struct duck *d, const Dcr__V1__DataNode *node, struct dcr_err *err)
{
	uint64_t rows;
	int r = 0;

	if (duckdb_appender_create(d->con, NULL, node->name, &d->app) != DuckDBSuccess)
		r = dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': DuckDB: %s", d->c->name,
			duckdb_appender_error(d->app));
	if (r == 0 && !(d->loader = dcr_table_loader_new(node->table, node->name, append_row, d, err)))
		r = err ? err->code : DCR_ENOMEM;
	if (r == 0) {
		d->sink_failed = false;
		r = d->in->read(d->in->ctx, node->name, load_sink, d, err);
		if (r < 0 && d->sink_failed && err && r == d->sink_err.code)
			*err = d->sink_err;
	}
	if (r == 0)
		r = dcr_table_loader_finish(d->loader, &rows, err);
	if (r == 0 && duckdb_appender_close(d->app) != DuckDBSuccess)
		r = dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': DuckDB could not load table '%s'", d->c->name,
			node->name);
	dcr_table_loader_free(d->loader);
	d->loader = NULL;
	duckdb_appender_destroy(&d->app);
	return r;
}

/* ---- the result ---- */

/*
 * A message from running the query may quote data, in quotes ("Could not
 * convert string 'x'") or not ("Overflow in multiplication of INT64 (183 *
 * 92233720368547758)", "Type DOUBLE with value 1e+300 can't be cast"), and
 * it reaches the audit log that every participant reads: only DuckDB's
 * class of error ("Conversion Error", "Out of Range Error", "Out of Memory
 * Error"...) is kept.
 */
static int run_error(struct duck *d, duckdb_result *res, struct dcr_err *err)
{
	const char *msg = duckdb_result_error(res);
	size_t keep = msg ? strspn(msg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz ") : 0;

	if (keep < 5 || msg[keep] != ':' || strncmp(msg + keep - 5, "Error", 5) != 0)
		return dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': DuckDB: the query failed [withheld: the "
			"message may quote data]", d->c->name);
	return dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': DuckDB: %.*s: [withheld: it may quote data]",
		d->c->name, (int)keep, msg);
}

static bool integer_type(duckdb_type t)
{
	return (t >= DUCKDB_TYPE_TINYINT && t <= DUCKDB_TYPE_UBIGINT) || t == DUCKDB_TYPE_HUGEINT ||
		t == DUCKDB_TYPE_DECIMAL;
}

static int put_cell(struct duck *d, struct csv_out *o, duckdb_result *res, duckdb_type t, idx_t col, idx_t row,
	struct dcr_err *err)
{
	char num[40], *s;
	int r;

	if (duckdb_value_is_null(res, col, row))
		return 0;
	if (t == DUCKDB_TYPE_DOUBLE || t == DUCKDB_TYPE_FLOAT) {
		csv_format_real(duckdb_value_double(res, col, row), num);
		return csv_put(o, num, strlen(num), err);
	}
	if (!(s = duckdb_value_varchar(res, col, row)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	/* BOOLEAN as SQLite stores it: 1 or 0. */
	if (t == DUCKDB_TYPE_BOOLEAN)
		r = csv_put(o, strcmp(s, "true") == 0 ? "1" : "0", 1, err);
	else if (integer_type(t))
		r = csv_put(o, s, strlen(s), err);
	else
		r = csv_put_text(o, (const uint8_t *)s, strlen(s), err);
	duckdb_free(s);
	return r;
}

static int write_result(struct duck *d, duckdb_result *res, struct csv_out *o, uint64_t *rows, struct dcr_err *err)
{
	idx_t cols = duckdb_column_count(res), n = duckdb_row_count(res);
	int r = 0;

	for (idx_t c = 0; r == 0 && c < cols; c++) {
		const char *name = duckdb_column_name(res, c);

		if (c > 0)
			r = csv_put(o, ",", 1, err);
		if (r == 0)
			r = csv_put_text(o, (const uint8_t *)name, strlen(name), err);
	}
	if (r == 0)
		r = csv_put(o, "\n", 1, err);
	for (idx_t row = 0; r == 0 && row < n; row++) {
		for (idx_t c = 0; r == 0 && c < cols; c++) {
			if (c > 0)
				r = csv_put(o, ",", 1, err);
			if (r == 0)
				r = put_cell(d, o, res, duckdb_column_type(res, c), c, row, err);
		}
		if (r == 0)
			r = csv_put(o, "\n", 1, err);
		(*rows)++;
	}
	return r;
}

static int run(struct duck *d, const struct sql_limits *lim, struct csv_out *o, struct sql_result *out,
	struct dcr_err *err)
{
	duckdb_prepared_statement st = NULL;
	duckdb_result res;
	locale_t c_locale, old;
	int r;

	if ((r = check_version(d->c, DCR_ECOMPUTE, err)) < 0 || (r = open_locked(d, lim->max_memory, err)) < 0)
		return r;
	if ((r = prepare_on_all(d, err)) < 0 || (r = drop_unneeded(d, err)) < 0) {
		if (r == DCR_EINVALID && err)
			err->code = r = DCR_ECOMPUTE;
		return r;
	}
	for (size_t i = 0; r == 0 && i < d->def->n_data; i++)
		if (d->present[i])
			r = load_table(d, d->def->data[i], err);
	/*
	 * Prepared (again) on the loaded tables only: a plan made on empty
	 * ones trusts their statistics (strings of length 0 "compressed" to
	 * one byte by an ORDER BY) and returns garbage.
	 */
	if (r == 0) {
		struct dcr_err why;

		/* Compiling can compute (constant folding) on the loaded data: its message is withheld as run_error's. */
		if (prepare_select(d, d->c->sql->query, &st, &why) < 0)
			r = dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': DuckDB: the query does not prepare on the "
				"loaded tables [withheld: the message may quote data]", d->c->name);
	}
	if (r == 0 && duckdb_execute_prepared(st, &res) != DuckDBSuccess) {
		r = run_error(d, &res, err);
		duckdb_destroy_result(&res);
	} else if (r == 0) {
		if (!(c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0))) {
			r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		} else {
			old = uselocale(c_locale);
			r = write_result(d, &res, o, &out->rows, err);
			uselocale(old);
			freelocale(c_locale);
		}
		duckdb_destroy_result(&res);
	}
	if (st)
		duckdb_destroy_prepare(&st);
	return r;
}

int duck_run(const Dcr__V1__RoomDefinition *def, const Dcr__V1__Computation *c, const struct work_inputs *in,
	const struct sql_limits *lim, struct sql_result *out, struct dcr_err *err)
{
	struct sql_limits l = lim ? *lim : (struct sql_limits){ 0 };
	struct duck d = { .def = def, .c = c, .in = in };
	struct csv_out o = { 0 };
	struct sql_result res = { 0 };
	int r;

	memset(out, 0, sizeof(*out));
	sql_limits_resolve(&l);
	o.max = (size_t)l.max_result_bytes;
	o.name = c->name;
	d.time_ms = l.time_ms;
	sql_deadline_start(&d.deadline, l.time_ms);
	if (!(d.present = calloc(def->n_data + 1, sizeof(bool))))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	r = run(&d, &l, &o, &res, err);
	close_db(&d);
	free(d.present);
	if (r < 0) {
		csv_out_free(&o);
		return r;
	}
	*out = res;
	out->csv = o.p;
	out->len = o.len;
	return 0;
}

#endif
