/*
 * SQL computations with engine duckdb: an in-memory DuckDB database locked
 * down before any query sees it, the query's syntax tree checked against
 * an allow-list of functions (duckdb-functions.h), the tables it reads
 * loaded through lib/table (the same verdicts as the SQLite engine) into
 * data chunks, the result read from chunks as the same CSV. Run inside the
 * SQL worker process (sqlproc.c) like SQLite.
 */
#define _GNU_SOURCE /* memfd_create, close_range */
#include "work.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "fileio.h"
#include "room.h"
#include "stream.h"
#include "table.h"

#ifdef DCR_HAVE_DUCKDB
#include <jansson.h>

#include "duckdb-api.h"
#include "duckdb-functions.h"
#endif

#include "banned.h"

bool duck_computation(const Dcr__V1__Computation *c)
{
	return c->kind_case == DCR__V1__COMPUTATION__KIND_SQL && c->sql &&
		c->sql->engine == DCR__V1__SQL_ENGINE__SQL_ENGINE_DUCKDB;
}

/* Whether a query may read node: a table without a privacy rule. */
static bool readable(const Dcr__V1__DataNode *node)
{
	return node->kind_case == DCR__V1__DATA_NODE__KIND_TABLE && !node->table->privacy;
}

bool duck_may_read(const Dcr__V1__RoomDefinition *def, const char *node)
{
	for (size_t i = 0; i < def->n_data; i++)
		if (strcmp(def->data[i]->name, node) == 0)
			return readable(def->data[i]);
	return false;
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

int duck_query_locked(const char *query, const struct sql_limits *lim, struct sql_result *out, struct dcr_err *err)
{
	return no_duckdb("-", DCR_ECOMPUTE, err);
}

int duck_keep(struct dcr_err *err)
{
	return no_duckdb("-", DCR_ECOMPUTE, err);
}

bool duck_held(void)
{
	return false;
}

#else

/* A column of the chunk being loaded: where its values go, as its table node declares it. */
struct chunk_col {
	Dcr__V1__ColumnType type;
	duckdb_vector vec;
	void *data;
	uint64_t *validity;        /* NULL until a null needs it */
};

/* The plaintext a table was loaded from (work_inputs' identify). */
struct ident {
	uint8_t sha[DCR_SHA256_LEN];
	uint64_t size;
};

struct duck {
	const Dcr__V1__RoomDefinition *def;
	const Dcr__V1__Computation *c;
	duckdb_database db;
	duckdb_connection con;
	bool *present;             /* parallel to def->data: a table of that name exists in the database */
	const char *app_catalog;   /* where load_table appends: a store file's table, or (NULL) the node's in memory */
	int *memfds;               /* the table store's databases and logs in memory (three per table at most), closed with the job */
	size_t n_memfds, cap_memfds;
	char links[TABLE_STORE_LINKS_MAX]; /* the job's directory of links into memory (table_store_links) */
	struct later *later;       /* tables loaded in memory, for the keeper to write into the store */
	size_t n_later;
	uint64_t later_bytes, max_memory;
	pid_t keeper;              /* the process writing them (keeper_start), 0: none */
	int keeper_fd;
	struct ident *ident;       /* parallel to def->data: the dataset each present table holds (use_stored) */
	char room[65];             /* a held database's (hold_or_free): its room ID, */
	char *name;                /* computation's, which a later job must have to use it, */
	size_t n_data;             /* and its definition's count of data nodes and */
	char **nodes;              /* their names, parallel to present (NULL where it is not) */
	const struct work_inputs *in;
	struct work_clock clock;
	/* loading one table: records go into chunk, which goes to app when full */
	duckdb_appender app;
	duckdb_data_chunk chunk;
	struct chunk_col *cols;
	idx_t fill, chunk_cap;
};

const char *duck_version(void)
{
	const char *v = duckdb_library_version();

	return v[0] == 'v' ? v + 1 : v;
}

static int exec(struct duck *d, const char *sql, struct dcr_err *err);

/*
 * The database a query of a room sees: in memory, no extension installed
 * or loaded, automatically or not, no spilling to disk (the temporary
 * directory is none: a query that needs more than its memory fails; DuckDB
 * 1.5.6 cannot encrypt temporary files with a key it draws securely, see
 * docs/decisions.md), the time zone UTC whatever the host's, the threads
 * dcrd gives it (serve --duckdb-threads), rows kept in the order they were
 * loaded where the query does not reorder them. lock_db then takes file
 * and network access away (read_csv, COPY, ATTACH of a file, httpfs URLs)
 * and locks the configuration so no statement can change any of it;
 * between the two, dcrd attaches the tables it keeps (the table store).
 */
static int open_db(struct duck *d, uint64_t max_memory, uint64_t threads, struct dcr_err *err)
{
	char mem[32], n_threads[32];
	const char *const settings[][2] = {
		{ "autoinstall_known_extensions", "false" },
		{ "autoload_known_extensions", "false" },
		{ "allow_community_extensions", "false" },
		{ "allow_unsigned_extensions", "false" },
		{ "allow_persistent_secrets", "false" },
		{ "max_temp_directory_size", "0B" },
		{ "threads", n_threads },
		{ "preserve_insertion_order", "true" },
		{ "memory_limit", mem },
	};
	duckdb_config cfg = NULL;
	char *why = NULL;
	int r = 0;

	snprintf(mem, sizeof(mem), "%" PRIu64 "B", max_memory);
	snprintf(n_threads, sizeof(n_threads), "%" PRIu64, threads);
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
	 * only while external access is on (lock_db turns it off). The time
	 * zone (ICU's, which casts TIMESTAMPTZ to text) is UTC, not the host's;
	 * ICU's settings exist once the database does, their defaults come from
	 * the environment (TZ).
	 */
	if (r == 0 && (r = exec(d, "SET TimeZone = 'UTC'", err)) == 0 &&
	    (r = exec(d, "SET Calendar = 'gregorian'", err)) == 0)
		r = exec(d, "SET temp_directory = ''", err);
	return r;
}

static int lock_db(struct duck *d, struct dcr_err *err)
{
	int r = exec(d, "SET enable_external_access = false", err);

	return r < 0 ? r : exec(d, "SET lock_configuration = true", err);
}

static int open_locked(struct duck *d, uint64_t max_memory, uint64_t threads, struct dcr_err *err)
{
	int r = open_db(d, max_memory, threads, err);

	return r < 0 ? r : lock_db(d, err);
}

static void close_db(struct duck *d)
{
	if (d->con)
		duckdb_disconnect(&d->con);
	if (d->db)
		duckdb_close(&d->db);
	for (size_t i = 0; i < d->n_memfds; i++)
		close(d->memfds[i]);
	d->n_memfds = 0;
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

/*
 * Table node i, empty, with its declared columns (twice a name's length
 * covers its quoting): in memory under the node's name, or as table data
 * of the attached catalog.
 */
static int create_table_in(struct duck *d, size_t i, const char *catalog, struct dcr_err *err)
{
	const Dcr__V1__DataNode *node = d->def->data[i];
	size_t cap = 48 + 2 * strlen(node->name) + (catalog ? 2 * strlen(catalog) : 0);
	struct text t;
	int r;

	for (size_t c = 0; c < node->table->n_columns; c++)
		cap += 16 + 2 * strlen(node->table->columns[c]->name);
	if (!text_new(&t, cap))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	add(&t, "CREATE TABLE ");
	if (catalog) {
		add_ident(&t, catalog);
		add(&t, ".main.data");
	} else {
		add_ident(&t, node->name);
	}
	for (size_t c = 0; c < node->table->n_columns; c++) {
		add(&t, c ? ", " : " (");
		add_ident(&t, node->table->columns[c]->name);
		add(&t, " ");
		add(&t, column_type(node->table->columns[c]->type));
	}
	add(&t, node->table->n_columns ? ")" : "");
	if ((r = run_text(d, &t, err)) == 0 && !catalog)
		d->present[i] = true;
	return r;
}

static int create_table(struct duck *d, size_t i, struct dcr_err *err)
{
	return create_table_in(d, i, NULL, err);
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

/* ---- what a query may call and name ---- */

/*
 * The query's syntax tree, as DuckDB's json_serialize_sql writes it at the
 * pinned release, walked for what it calls and names: every function
 * (scalar, aggregate, window, and table function) must be on the lists of
 * duckdb-functions.h, unqualified; a table name must be unqualified and
 * not one of DuckDB's internal views (information_schema, pg_catalog,
 * duckdb_*); no sample (random rows). The first refusal is kept in why.
 */
struct calls {
	struct dcr_err *why;
	int r;
};

static int refuse_call(struct calls *k, const char *what, const char *name)
{
	if (k->r == 0)
		k->r = dcr_err_set(k->why, DCR_EINVALID, "%s '%.100s' is not allowed in a DuckDB query (dcr-room(5) lists "
			"what is)", what, name);
	return k->r;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(a, *(const char *const *)b);
}

static bool listed(const char *const *list, size_t n, const char *name)
{
	char low[128];
	size_t i = 0;

	for (; name[i] && i < sizeof(low) - 1; i++)
		low[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
	low[i] = '\0';
	return !name[i] && bsearch(low, list, n, sizeof(*list), by_name) != NULL;
}

static bool empty_or_absent(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return !json_object_get(o, key) || json_is_null(json_object_get(o, key)) || (s && !*s);
}

/* Empty, absent, or the one value that names what the lists were made from (system.main). */
static bool member_is(json_t *o, const char *key, const char *allowed)
{
	const char *s = json_string_value(json_object_get(o, key));

	return empty_or_absent(o, key) || (s && strcmp(s, allowed) == 0);
}

/*
 * A call: unqualified or qualified by system.main (the parser itself
 * writes [a, b] as system.main.list_value), and on the list. unnest is
 * also an operator of the SELECT list, so the table functions are
 * accepted there too (range and generate_series return lists).
 */
static int check_function(struct calls *k, json_t *fn, bool table)
{
	const char *name = json_string_value(json_object_get(fn, "function_name"));

	if (!name)
		return refuse_call(k, "a function", "?");
	if (!member_is(fn, "schema", "main") || !member_is(fn, "catalog", "system"))
		return refuse_call(k, "a function with a schema,", name);
	if (!listed(duck_table_functions, DUCK_TABLE_FUNCTIONS, name) &&
	    (table || !listed(duck_functions, DUCK_FUNCTIONS, name)))
		return refuse_call(k, table ? "table function" : "function", name);
	return 0;
}

static int walk(struct calls *k, json_t *v, int depth);

/*
 * The names DuckDB 1.5.6's binder turns into function calls when no column
 * has them (SQL's value functions): none may be called, so none may be a
 * column written without its table (t.user is fine).
 */
static const char *const value_functions[] = {
	"current_catalog", "current_date", "current_role", "current_schema", "current_time", "current_timestamp",
	"current_user", "localtime", "localtimestamp", "session_user", "user",
};

static int walk_members(struct calls *k, json_t *o, const char *skip, int depth)
{
	const char *key;
	json_t *member;

	json_object_foreach(o, key, member)
		if ((!skip || strcmp(key, skip) != 0) && walk(k, member, depth + 1) < 0)
			return k->r;
	return 0;
}

static int walk(struct calls *k, json_t *v, int depth)
{
	const char *class, *type;

	if (depth > 4000)
		return refuse_call(k, "a query", "nested this deeply");
	if (json_is_array(v)) {
		size_t i;
		json_t *item;

		json_array_foreach(v, i, item)
			if (walk(k, item, depth + 1) < 0)
				return k->r;
		return 0;
	}
	if (!json_is_object(v))
		return 0;
	class = json_string_value(json_object_get(v, "class"));
	type = json_string_value(json_object_get(v, "type"));
	if (class && (strcmp(class, "FUNCTION") == 0 || strcmp(class, "WINDOW") == 0) && check_function(k, v, false) < 0)
		return k->r;
	/*
	 * agg(x) EXPORT_STATE is an aggregate's raw in-memory state, and DuckDB
	 * casts a BLOB back into one byte for byte: a state the query forges
	 * (pointers, lengths) that finalize or combine would then follow.
	 */
	if (json_is_true(json_object_get(v, "export_state")))
		return refuse_call(k, "an aggregate's", "EXPORT_STATE");
	if (!empty_or_absent(v, "sample"))
		return refuse_call(k, "sampling", "USING SAMPLE");
	if (class && strcmp(class, "COLUMN_REF") == 0 && json_array_size(json_object_get(v, "column_names")) == 1) {
		const char *column = json_string_value(json_array_get(json_object_get(v, "column_names"), 0));

		/* A bare name that no column has is a call for DuckDB's binder: CURRENT_TIMESTAMP, USER... */
		if (column && listed(value_functions, sizeof(value_functions) / sizeof(value_functions[0]), column))
			return refuse_call(k, "function", column);
	}
	/* SHOW, DESCRIBE, SUMMARIZE: listings of the catalog and its settings' world, not of data. */
	if (type && strcmp(type, "SHOW_REF") == 0)
		return refuse_call(k, "a listing", "SHOW, DESCRIBE or SUMMARIZE");
	if (type && strcmp(type, "BASE_TABLE") == 0) {
		const char *table = json_string_value(json_object_get(v, "table_name"));

		if (!table)
			return refuse_call(k, "a table", "?");
		if (!empty_or_absent(v, "schema_name") || !empty_or_absent(v, "catalog_name"))
			return refuse_call(k, "a table with a schema,", table);
		if (listed(duck_internal_views, DUCK_INTERNAL_VIEWS, table))
			return refuse_call(k, "DuckDB's view", table);
	}
	if (type && strcmp(type, "TABLE_FUNCTION") == 0) {
		json_t *fn = json_object_get(v, "function");

		if (!json_is_object(fn) || check_function(k, fn, true) < 0 || walk_members(k, fn, NULL, depth) < 0)
			return k->r ? k->r : refuse_call(k, "a table function", "?");
		return walk_members(k, v, "function", depth);
	}
	return walk_members(k, v, NULL, depth);
}

/*
 * 0 when the query calls and names only what it may; DCR_EINVALID with why
 * set when it does not, DCR_ECOMPUTE when its tree cannot be had (not a
 * SELECT: prepare_select says why).
 */
static int check_calls(struct duck *d, const char *query, struct dcr_err *why)
{
	duckdb_prepared_statement st = NULL;
	duckdb_result res;
	struct calls k = { .why = why };
	json_error_t jerr;
	json_t *tree = NULL;
	char *text = NULL;

	/* Empty and null members left out: a smaller tree for the same walk (absent is empty to it). */
	if (duckdb_prepare(d->con, "SELECT json_serialize_sql($1::VARCHAR, skip_empty := true, skip_null := true)",
		&st) != DuckDBSuccess ||
	    duckdb_bind_varchar(st, 1, query) != DuckDBSuccess) {
		k.r = dcr_err_set(why, DCR_ECOMPUTE, "DuckDB: %s", duckdb_prepare_error(st) ? duckdb_prepare_error(st) :
			"cannot serialize the query");
	} else if (duckdb_execute_prepared(st, &res) != DuckDBSuccess) {
		k.r = dcr_err_set(why, DCR_ECOMPUTE, "DuckDB: %s", duckdb_result_error(&res));
		duckdb_destroy_result(&res);
	} else {
		text = duckdb_value_varchar(&res, 0, 0);
		duckdb_destroy_result(&res);
		if (!text || !(tree = json_loads(text, JSON_DECODE_INT_AS_REAL, &jerr)))
			k.r = dcr_err_set(why, DCR_ECOMPUTE, "DuckDB's syntax tree of the query cannot be read");
		else if (json_is_true(json_object_get(tree, "error")))
			k.r = dcr_err_set(why, DCR_ECOMPUTE, "DuckDB cannot serialize the query: %s",
				json_string_value(json_object_get(tree, "error_message")) ?
				json_string_value(json_object_get(tree, "error_message")) : "no reason given");
		else
			walk(&k, json_object_get(tree, "statements"), 0);
	}
	json_decref(tree);
	duckdb_free(text);
	if (st)
		duckdb_destroy_prepare(&st);
	return k.r;
}

/* DuckDB's name of a type that has no one text form in a CSV field (its values hold values), or NULL. */
static const char *nested_type(duckdb_type t)
{
	switch (t) {
	case DUCKDB_TYPE_LIST:
		return "LIST";
	case DUCKDB_TYPE_STRUCT:
		return "STRUCT";
	case DUCKDB_TYPE_MAP:
		return "MAP";
	case DUCKDB_TYPE_ARRAY:
		return "ARRAY";
	case DUCKDB_TYPE_UNION:
		return "UNION";
	default:
		return NULL;
	}
}

/*
 * DCR_EINVALID with why set when a column of st's result has a nested
 * type. The column is named by its number: a name can come from the data
 * (PIVOT), and the message reaches the audit log.
 */
static int check_result_types(duckdb_prepared_statement st, struct dcr_err *why)
{
	idx_t n = duckdb_prepared_statement_column_count(st);

	for (idx_t c = 0; c < n; c++) {
		const char *nested = nested_type(duckdb_prepared_statement_column_type(st, c));

		if (nested)
			return dcr_err_set(why, DCR_EINVALID, "column %" PRIu64 " of the result has type %s, which has no one "
				"form as a CSV field; cast it to VARCHAR (DuckDB's text of it) or unnest it in the query",
				(uint64_t)c + 1, nested);
	}
	return 0;
}

/*
 * The query's calls checked, then every table node without a privacy
 * rule created empty and the query prepared against them. The check comes
 * first: preparing folds constant expressions, which runs what they call.
 */
static int prepare_on_all(struct duck *d, struct dcr_err *err)
{
	duckdb_prepared_statement st;
	struct dcr_err why, calls;
	int checked, r = 0;

	/* DCR_ECOMPUTE when DuckDB gives no tree (not one SELECT): preparing then says why. */
	if ((checked = check_calls(d, d->c->sql->query, &calls)) == DCR_EINVALID)
		return dcr_err_set(err, DCR_EINVALID, "query of '%s': %s", d->c->name, calls.msg);
	for (size_t i = 0; r == 0 && i < d->def->n_data; i++)
		if (readable(d->def->data[i]))
			r = create_table(d, i, err);
	if (r < 0)
		return r;
	if (prepare_select(d, d->c->sql->query, &st, &why) < 0)
		return dcr_err_set(err, DCR_EINVALID, "query of '%s': %s", d->c->name, why.msg);
	/* What it returns (its calls were checked first). */
	r = checked < 0 ? checked : check_result_types(st, &why);
	if (checked < 0)
		why = calls;
	duckdb_destroy_prepare(&st);
	if (r < 0)
		return dcr_err_set(err, r, "query of '%s': %s", d->c->name, why.msg);
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
		if ((r = open_locked(&d, CHECK_MEMORY, 1, err)) == 0)
			r = prepare_on_all(&d, err);
		if (r < 0 && r != DCR_ENOMEM)
			r = err ? (err->code = DCR_EINVALID) : DCR_EINVALID;
		close_db(&d);
		free(d.present);
	}
	return r;
}

/* ---- loading ---- */

static duckdb_type vector_type(Dcr__V1__ColumnType t)
{
	switch (t) {
	case DCR__V1__COLUMN_TYPE__COLUMN_TYPE_INT64:
		return DUCKDB_TYPE_BIGINT;
	case DCR__V1__COLUMN_TYPE__COLUMN_TYPE_FLOAT64:
		return DUCKDB_TYPE_DOUBLE;
	case DCR__V1__COLUMN_TYPE__COLUMN_TYPE_BOOL:
		return DUCKDB_TYPE_BOOLEAN;
	case DCR__V1__COLUMN_TYPE__COLUMN_TYPE_DATE:
		return DUCKDB_TYPE_DATE;
	default:
		return DUCKDB_TYPE_VARCHAR;
	}
}

/* Days since 1970-01-01 of a YYYY-MM-DD that lib/table checked (years 0001 to 9999), proleptic Gregorian. */
static int32_t date_days(const char *s)
{
	int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	int m = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
	int era, yoe, doy;

	y -= m <= 2;
	era = y / 400;             /* y >= 0 */
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* Where the chunk's columns are, after it was made or reset. */
static void chunk_bind(struct duck *d, size_t n)
{
	for (size_t c = 0; c < n; c++) {
		d->cols[c].vec = duckdb_data_chunk_get_vector(d->chunk, c);
		d->cols[c].data = duckdb_vector_get_data(d->cols[c].vec);
		d->cols[c].validity = NULL;
	}
}

static int chunk_new(struct duck *d, const Dcr__V1__TableNode *t, struct dcr_err *err)
{
	duckdb_logical_type *types = calloc(t->n_columns, sizeof(*types));
	bool ok = types && (d->cols = calloc(t->n_columns, sizeof(*d->cols)));

	for (size_t c = 0; ok && c < t->n_columns; c++) {
		d->cols[c].type = t->columns[c]->type;
		ok = (types[c] = duckdb_create_logical_type(vector_type(t->columns[c]->type))) != NULL;
	}
	if (ok)
		ok = (d->chunk = duckdb_create_data_chunk(types, t->n_columns)) != NULL;
	for (size_t c = 0; types && c < t->n_columns; c++)
		if (types[c])
			duckdb_destroy_logical_type(&types[c]);
	free(types);
	if (!ok)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	d->fill = 0;
	d->chunk_cap = duckdb_vector_size();
	chunk_bind(d, t->n_columns);
	return 0;
}

/* A message of DuckDB's that may quote data (a value it could not convert): cut at the first quote. */
static int duck_error(struct duck *d, const char *msg, struct dcr_err *err)
{
	size_t keep = strcspn(msg, "'\"");

	if (msg[keep] == '\0')
		return dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': DuckDB: %s", d->c->name, msg);
	return dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': DuckDB: %.*s[withheld: it may quote data]",
		d->c->name, (int)keep, msg);
}

/* The chunk's records to the appender, and the chunk emptied. */
static int chunk_flush(struct duck *d, size_t n, struct dcr_err *err)
{
	if (d->fill == 0)
		return 0;
	duckdb_data_chunk_set_size(d->chunk, d->fill);
	if (duckdb_append_data_chunk(d->app, d->chunk) != DuckDBSuccess) {
		const char *why = duckdb_appender_error(d->app);

		return duck_error(d, why ? why : "cannot load a table", err);
	}
	duckdb_data_chunk_reset(d->chunk);
	d->fill = 0;
	chunk_bind(d, n);
	return 0;
}

/* One record into the chunk's next row: the values passed lib/table's checks, and have the vectors' types. */
static int append_row(void *ctx, const struct dcr_table_value *v, size_t n, struct dcr_err *err)
{
	struct duck *d = ctx;
	idx_t at = d->fill;

	for (size_t i = 0; i < n; i++) {
		struct chunk_col *col = &d->cols[i];

		if (v[i].kind == DCR_TABLE_NULL) {
			if (!col->validity) {
				duckdb_vector_ensure_validity_writable(col->vec);
				col->validity = duckdb_vector_get_validity(col->vec);
			}
			duckdb_validity_set_row_invalid(col->validity, at);
			continue;
		}
		switch (col->type) {
		case DCR__V1__COLUMN_TYPE__COLUMN_TYPE_INT64:
			((int64_t *)col->data)[at] = v[i].i;
			break;
		case DCR__V1__COLUMN_TYPE__COLUMN_TYPE_BOOL:
			((bool *)col->data)[at] = v[i].i != 0;
			break;
		case DCR__V1__COLUMN_TYPE__COLUMN_TYPE_FLOAT64:
			((double *)col->data)[at] = v[i].d;
			break;
		case DCR__V1__COLUMN_TYPE__COLUMN_TYPE_DATE:
			((duckdb_date *)col->data)[at].days = date_days(v[i].s);
			break;
		default:
			/* lib/table let through valid UTF-8 only: DuckDB need not check it again. */
			duckdb_unsafe_vector_assign_string_element_len(col->vec, at, v[i].s, v[i].len);
		}
	}
	return ++d->fill == d->chunk_cap ? chunk_flush(d, n, err) : 0;
}

static int load_table(struct duck *d, const Dcr__V1__DataNode *node, struct dcr_err *err)
{
	int r = 0;

	if (duckdb_appender_create_ext(d->con, d->app_catalog, d->app_catalog ? "main" : NULL,
		d->app_catalog ? "data" : node->name, &d->app) != DuckDBSuccess)
		r = dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': DuckDB: %s", d->c->name,
			duckdb_appender_error(d->app));
	if (r == 0)
		r = chunk_new(d, node->table, err);
	if (r == 0)
		r = work_load_table(d->in, node, d->c->name, &d->clock, append_row, d, err);
	if (r == 0)
		r = chunk_flush(d, node->table->n_columns, err);
	if (r == 0 && duckdb_appender_close(d->app) != DuckDBSuccess)
		r = duck_error(d, duckdb_appender_error(d->app) ? duckdb_appender_error(d->app) : "cannot load a table",
			err);
	if (d->chunk)
		duckdb_destroy_data_chunk(&d->chunk);
	free(d->cols);
	d->cols = NULL;
	duckdb_appender_destroy(&d->app);
	return r;
}

/* ---- the table store (work.h) ---- */

/*
 * A table of the store as this job uses it. For node N loaded from
 * plaintext whose SHA-256 is H, with K the room's key as HKDF-Expand's
 * pseudorandom key, V the DuckDB release and D this dcrd's, each info
 * field ending in a zero byte but H:
 *   TAG  = hex of HKDF-Expand(K, "node" N, 16)
 *   FILE = hex of HKDF-Expand(K, "file" N H V D, 16)
 *   KEY  = HKDF-Expand(K, "key" N H V D, 32)
 * the table is table data of a DuckDB database, written in memory (a
 * memfd), then encrypted whole as dcr's stream (dcr-formats(5)) under KEY
 * into DIR/duckdb/ROOM/TAG-FILE.duckdb.enc; a job decrypts it back into
 * memory and attaches it read-only. DuckDB's own encryption is not used:
 * DuckDB 1.5.6 writes it only with nonces from a non-cryptographic
 * generator (docs/decisions.md). Table dcr_meta's one row holds the row
 * count, written after the last row. Names tell the host nothing of the
 * data; a file of another room, node, dataset or release does not decrypt,
 * and any change to one fails the stream's checks.
 */
struct stored {
	char tag[33], file[33];
	uint8_t key[32];
	char alias[32];            /* its catalog in the job's database: "store-I", which no node can be called */
	char path[TABLE_STORE_PATH_MAX + 96], tmp[TABLE_STORE_PATH_MAX + 96];
	char mem[40];              /* /proc/self/fd/N: the memfd holding the database */
};

static int derive(const struct table_store *ts, const char *label, const char *node, const uint8_t *sha,
	uint8_t *out, size_t n, struct dcr_err *err)
{
	const char *versions[] = { duck_version(), DCR_VERSION };
	uint8_t info[512];
	size_t len = 0, need = strlen(label) + strlen(node) + 2;

	if (sha)
		need += DCR_SHA256_LEN + strlen(versions[0]) + strlen(versions[1]) + 2;
	if (need > sizeof(info))
		return dcr_err_set(err, DCR_EINVALID, "node '%s': its name is too long for the table store", node);
	memcpy(info, label, strlen(label) + 1);
	len = strlen(label) + 1;
	memcpy(info + len, node, strlen(node) + 1);
	len += strlen(node) + 1;
	if (sha) {
		memcpy(info + len, sha, DCR_SHA256_LEN);
		len += DCR_SHA256_LEN;
		for (size_t i = 0; i < 2; i++) {
			memcpy(info + len, versions[i], strlen(versions[i]) + 1);
			len += strlen(versions[i]) + 1;
		}
	}
	return dcr_hkdf_expand(ts->key, info, len, out, n, err);
}

static int stored_names(const struct table_store *ts, size_t i, const char *node, const uint8_t sha[static 32],
	struct stored *st, struct dcr_err *err)
{
	uint8_t b[16];
	int r, n, m;

	if ((r = derive(ts, "node", node, NULL, b, 16, err)) == 0)
		dcr_hex(b, 16, st->tag);
	if (r == 0 && (r = derive(ts, "file", node, sha, b, 16, err)) == 0)
		dcr_hex(b, 16, st->file);
	if (r == 0)
		r = derive(ts, "key", node, sha, st->key, sizeof(st->key), err);
	if (r < 0)
		return r;
	snprintf(st->alias, sizeof(st->alias), "store-%zu", i);
	n = snprintf(st->path, sizeof(st->path), "%s/%s-%s.duckdb.enc", ts->dir, st->tag, st->file);
	m = snprintf(st->tmp, sizeof(st->tmp), "%s/%s-%s.duckdb.enc", ts->job, st->tag, st->file);
	if (n < 0 || (size_t)n >= sizeof(st->path) || m < 0 || (size_t)m >= sizeof(st->tmp))
		return dcr_err_set(err, DCR_EIO, "the table store's path is too long");
	return 0;
}

/* SQL that names a stored table: a1, the alias (an identifier), a3; run. */
static int exec_on(struct duck *d, const char *a1, const char *alias, const char *a3, struct dcr_err *err)
{
	struct text t;

	if (!text_new(&t, 64 + strlen(a1) + strlen(a3) + 2 * strlen(alias)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	add(&t, a1);
	add_ident(&t, alias);
	add(&t, a3);
	return run_text(d, &t, err);
}

/* A memfd of d's, for the rest of the job; its /proc path in st->mem. */
static int new_memfd(struct duck *d, struct stored *st, struct dcr_err *err)
{
	int fd;

	if (d->n_memfds == d->cap_memfds)
		return dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': too many tables", d->c->name);
	if ((fd = memfd_create("dcr-table", MFD_CLOEXEC)) < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "computation '%s': cannot keep a table in memory", d->c->name);
	d->memfds[d->n_memfds++] = fd;
	snprintf(st->mem, sizeof(st->mem), "/proc/self/fd/%d", fd);
	return fd;
}

/* Where DuckDB finds a table's database and log in memory: links to /proc/self/fd in table_store_links. */
static int link_dir(struct duck *d, struct dcr_err *err)
{
	table_store_links(d->in->store, d->links);
	if (!d->links[0])
		return dcr_err_set(err, DCR_EIO, "computation '%s': the table store has no directory of links",
			d->c->name);
	return 0;
}

/*
 * An empty DuckDB database in memfd: DuckDB makes a new database only
 * where no file is, and refuses an empty one, so it makes one in the
 * links' directory (headers only: no data is in it yet) that is copied
 * into the memfd and deleted.
 */
static int blank_db(struct duck *d, int memfd, struct dcr_err *err)
{
	char path[64], buf[16384];
	struct text t;
	ssize_t n = 0;
	int fd, r;

	if ((r = link_dir(d, err)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/blank", d->links);
	(void)unlink(path);
	if (!text_new(&t, 64 + 2 * strlen(path)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	add(&t, "ATTACH '");
	for (const char *c = path; *c && t.ok; c++)
		add(&t, *c == '\'' ? "''" : (char[]){ *c, '\0' });
	add(&t, "' AS \"blank-db\"");
	if ((r = run_text(d, &t, err)) < 0 || (r = exec(d, "DETACH \"blank-db\"", err)) < 0)
		return r;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot read '%s'", path);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (write(memfd, buf, (size_t)n) != n)
			break;
	close(fd);
	(void)unlink(path);
	if (n != 0)
		return dcr_err_errno(err, DCR_EIO, errno, "computation '%s': cannot make a table in memory", d->c->name);
	return 0;
}

/* The database in st->mem as catalog st->alias, read-only. */
static int attach(struct duck *d, const struct stored *st, struct dcr_err *err)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "ATTACH '%s' AS \"%s\" (READ_ONLY)", st->mem, st->alias);
	return exec(d, sql, err);
}

/*
 * The database in memfd attached for loading as catalog st->alias, and
 * its write-ahead log in another memfd: DuckDB names the log after the
 * database's path, so it opens both through symbolic links (links[0],
 * links[1]) to /proc/self/fd in the links' directory (link_dir). Nothing
 * of either reaches the disk. The log's link is made only after the
 * ATTACH: DuckDB deletes a log it finds empty there, and would then make
 * a file of its own by that name, in tmpfs, with rows in the clear (review
 * R5-6); with none there, its first commit opens the name and follows the
 * link. It deletes the log again at a checkpoint, so none comes before
 * the load's last (checkpoint_threshold), and only_links_made checks.
 */
static int attach_for_load(struct duck *d, struct stored *st, char links[2][96], struct dcr_err *err)
{
	char target[40], mem[sizeof(st->mem)];
	struct text t;
	int wal, r;

	snprintf(mem, sizeof(mem), "%s", st->mem);
	if ((wal = new_memfd(d, st, err)) < 0)
		return wal;
	snprintf(target, sizeof(target), "/proc/self/fd/%d", wal);
	snprintf(st->mem, sizeof(st->mem), "%s", mem);
	snprintf(links[0], sizeof(links[0]), "%s/%s.duckdb", d->links, st->tag);
	snprintf(links[1], sizeof(links[1]), "%s/%s.duckdb.wal", d->links, st->tag);
	/* Links a killed keeper left (tests reuse a job directory): ours, in our directory. */
	(void)unlink(links[0]);
	(void)unlink(links[1]);
	if (symlink(mem, links[0]) < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot create '%s'", links[0]);
	if (!text_new(&t, 64 + 2 * strlen(links[0]) + 2 * strlen(st->alias)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	add(&t, "ATTACH '");
	for (const char *c = links[0]; *c && t.ok; c++)
		add(&t, *c == '\'' ? "''" : (char[]){ *c, '\0' });
	add(&t, "' AS ");
	add_ident(&t, st->alias);
	if ((r = run_text(d, &t, err)) == 0 && symlink(target, links[1]) < 0)
		r = dcr_err_errno(err, DCR_EIO, errno, "cannot create '%s'", links[1]);
	return r;
}

/* A watch of what is made in the links' directory (only_links_made reads it), or a negative DCR_E*. */
static int watch_links(struct duck *d, struct dcr_err *err)
{
	int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK), e;

	/* Deletions too: inotify merges a name's creation with the one before unless another event is between. */
	if (fd >= 0 && inotify_add_watch(fd, d->links, IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM) >= 0)
		return fd;
	e = errno;
	if (fd >= 0)
		close(fd);
	return dcr_err_errno(err, DCR_EIO, e, "computation '%s': cannot watch the table store's links", d->c->name);
}

/*
 * Whether nothing but the two links was made in the links' directory
 * since watch_links, each once: a name made twice, or another name, is a
 * file DuckDB made of its own (rows in the clear). Closes fd.
 */
static bool only_links_made(int fd, const char links[2][96])
{
	union {
		struct inotify_event ev;
		char bytes[4096];
	} buf;
	unsigned made[2] = { 0, 0 };
	bool ok = true;
	ssize_t n;

	while ((n = read(fd, buf.bytes, sizeof(buf.bytes))) > 0)
		for (size_t at = 0; at + sizeof(struct inotify_event) <= (size_t)n;) {
			struct inotify_event ev;
			const char *name = buf.bytes + at + sizeof(ev);
			size_t k = 0;

			memcpy(&ev, buf.bytes + at, sizeof(ev));
			at += sizeof(ev) + ev.len;
			if (!(ev.mask & (IN_CREATE | IN_MOVED_TO | IN_Q_OVERFLOW)))
				continue;
			for (; k < 2 && !(ev.len && strcmp(name, strrchr(links[k], '/') + 1) == 0); k++)
				;
			if (k == 2 || (ev.mask & IN_Q_OVERFLOW))
				ok = false;
			else
				made[k]++;
		}
	if (n < 0 && errno != EAGAIN)
		ok = false;
	close(fd);
	return ok && made[0] <= 1 && made[1] <= 1;
}

/* Whether path is a symbolic link still (DuckDB did not put a file of its own in its place). */
static bool still_link(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode);
}

/* Whether the attached table is whole: its dcr_meta row, and as many rows as that says. */
static bool stored_complete(struct duck *d, const struct stored *st)
{
	duckdb_result res;
	char sql[256];
	bool ok = false;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\".main.dcr_meta WHERE \"rows\" = "
		"(SELECT count(*) FROM \"%s\".main.data)", st->alias, st->alias);
	if (duckdb_query(d->con, sql, &res) == DuckDBSuccess)
		ok = duckdb_row_count(&res) == 1 && duckdb_value_int64(&res, 0, 0) == 1;
	duckdb_destroy_result(&res);
	return ok;
}

/* The database in memfd, encrypted under st's key into fd (st->tmp, opened already) and synced. */
static int seal(int memfd, int fd, const struct stored *st, struct dcr_err *err)
{
	int r;

	if (lseek(memfd, 0, SEEK_SET) < 0)
		r = dcr_err_errno(err, DCR_EIO, errno, "cannot read a table back");
	else
		r = dcr_stream_encrypt_fd(memfd, fd, st->key, 0, err);
	if (r == 0 && fsync(fd) < 0)
		r = dcr_err_errno(err, DCR_EIO, errno, "cannot write '%s'", st->tmp);
	return r;
}

/* The name of st's file in the store (table_store_adopt's). */
static const char *stored_file(const struct stored *st)
{
	return strrchr(st->path, '/') + 1;
}

/* The database in memfd, encrypted into st->tmp, then moved to st->path: a file there is always whole. */
static int keep(struct duck *d, int memfd, const struct stored *st, struct dcr_err *err)
{
	int fd = open(st->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600), r;

	if (fd < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot create '%s'", st->tmp);
	r = seal(memfd, fd, st, err);
	close(fd);
	/* The room stopped meanwhile (its directory is gone): the job goes on with the table in memory. */
	if (r == 0)
		(void)table_store_adopt(d->in->store, stored_file(st), NULL);
	(void)unlink(st->tmp);
	return r;
}

/* Whether path is a symbolic link, or nothing (lstat: access() is "absent" for a confined worker). */
static bool link_or_none(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0 ? S_ISLNK(sb.st_mode) : errno == ENOENT;
}

/*
 * Node i's table as the store keeps it, begun: a new database in a memfd
 * (its descriptor returned), attached as st->alias for loading, with the
 * node's empty table and dcr_meta, and *watch on the links' directory; a
 * failure after *watch is made (>= 0) still needs store_end.
 */
static int store_begin(struct duck *d, size_t i, struct stored *st, char links[2][96], int *watch,
	struct dcr_err *err)
{
	int memfd, r;

	*watch = -1;
	if ((memfd = r = new_memfd(d, st, err)) < 0 || (r = blank_db(d, memfd, err)) < 0 ||
	    (*watch = r = watch_links(d, err)) < 0) {
		*watch = -1;
		return r;
	}
	/* No checkpoint before the load's own: each deletes the log's link (attach_for_load). */
	if ((r = exec(d, "SET checkpoint_threshold = '1000TB'", err)) < 0 ||
	    (r = attach_for_load(d, st, links, err)) < 0) {
		(void)unlink(links[0]);
		(void)unlink(links[1]);
		close(*watch);
		*watch = -1;
		return r;
	}
	/* Compressed as DuckDB chooses, FSST included: jobs hold kept tables in memory (docs/decisions.md). */
	if ((r = create_table_in(d, i, st->alias, err)) == 0)
		r = exec_on(d, "CREATE TABLE ", st->alias, ".main.dcr_meta (\"rows\" BIGINT)", err);
	return r < 0 ? r : memfd;
}

/*
 * The loading of st->alias ended with r: if well, its row count in
 * dcr_meta and a checkpoint; detached either way, and its links removed
 * (where the worker may still remove files). A file DuckDB made in place
 * of a link, or of another name, would hold plaintext: the job fails.
 * Closes watch.
 */
static int store_end(struct duck *d, const struct stored *st, char links[2][96], int watch, int r,
	struct dcr_err *err)
{
	bool links_held;
	int detached;

	if (r == 0) {
		char sql[160];

		snprintf(sql, sizeof(sql), "INSERT INTO \"%s\".main.dcr_meta SELECT count(*) FROM \"%s\".main.data",
			st->alias, st->alias);
		r = exec(d, sql, err);
	}
	if (r == 0)
		r = exec_on(d, "CHECKPOINT ", st->alias, "", err);
	if ((detached = exec_on(d, "DETACH ", st->alias, "", r < 0 ? NULL : err)) < 0 && r == 0)
		r = detached;
	links_held = still_link(links[0]) && link_or_none(links[1]);
	links_held = only_links_made(watch, links) && links_held;
	(void)unlink(links[0]);
	(void)unlink(links[1]);
	if (r == 0 && !links_held)
		r = dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': DuckDB wrote a table outside memory (a fault of "
			"DuckDB's or dcrd's: please report it)", d->c->name);
	return r;
}

/*
 * Node i loaded into a new database in memory, completed (dcr_meta
 * last) and checkpointed, kept encrypted in the store, and attached
 * read-only.
 */
static int load_stored(struct duck *d, size_t i, struct stored *st, struct dcr_err *err)
{
	char links[2][96] = { "", "" };
	int memfd, watch, r;

	if ((memfd = r = store_begin(d, i, st, links, &watch, err)) >= 0) {
		d->app_catalog = st->alias;
		r = load_table(d, d->def->data[i], err);
		d->app_catalog = NULL;
	}
	if (watch < 0)
		return r;
	if ((r = store_end(d, st, links, watch, r < 0 ? r : 0, err)) == 0)
		r = keep(d, memfd, st, err);
	return r < 0 ? r : attach(d, st, err);
}

/*
 * A child process whose fd 3 is a pipe back to this one (in the place of
 * the worker's socket to dcrd), killed when the worker dies: 0 in the
 * worker (*child, and *fd the pipe's end to read), 1 in the child, < 0
 * (err set; what names the child) when it cannot start.
 */
static int fork_child(pid_t *child, int *fd, const char *what, struct dcr_err *err)
{
	pid_t parent = getpid();
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) < 0)
		return dcr_err_errno(err, DCR_EFAIL, errno, "cannot start %s", what);
	if ((*child = fork()) < 0) {
		close(fds[0]);
		close(fds[1]);
		return dcr_err_errno(err, DCR_EFAIL, errno, "cannot start %s", what);
	}
	if (*child == 0) {
		/* The worker may have died before the death signal was asked for (review D6-7). */
		if (dup2(fds[1], 3) != 3 || prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(1);
		return 1;
	}
	close(fds[1]);
	*fd = fds[0];
	return 0;
}

/* Up to len bytes from fd, fewer at its end or error. */
static ssize_t read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	ssize_t k;

	while (got < len && ((k = read(fd, (char *)buf + got, len - got)) > 0 || (k < 0 && errno == EINTR)))
		got += k > 0 ? (size_t)k : 0;
	return (ssize_t)got;
}

/* ---- writing the store while the query runs ---- */

/*
 * A table the job loads in memory (node's, under its name, as without a
 * store) rather than into the store's database first: writing the
 * compressed copy is most of a first run's cost (docs/performance.md),
 * and the answer does not need it. Once the job's tables are loaded, a
 * child process forked before the query is compiled (keeper_start) writes
 * the copy into the store as load_stored does, while the worker answers;
 * the child never runs the query, so what it keeps is what was loaded
 * whatever the query does, and the worker holds no table key when it
 * runs it.
 */
struct later {
	struct stored st;
	size_t node;
	char alias[32];            /* its catalog in the job's database: "mem-I", in memory (a node's name cannot be) */
};

/* Whether a table of size bytes, with those loaded in memory already, fits: a third of the memory limit. */
static bool later_fits(const struct duck *d, uint64_t size)
{
	return d->in->keep_after && d->later && d->max_memory && d->later_bytes <= d->max_memory / 3 &&
		size <= d->max_memory / 3 - d->later_bytes;
}

/*
 * Whether the load failed for DuckDB's memory limit (a later table did not
 * fit after all): "Out of Memory Error", the appender's "could not
 * allocate block of size", or std::bad_alloc (RLIMIT_DATA reached first).
 */
static bool out_of_memory(const struct dcr_err *why)
{
	return why->code == DCR_ECOMPUTE && (strstr(why->msg, "Out of Memory") || strstr(why->msg, "could not allocate") ||
		strstr(why->msg, "bad_alloc"));
}

/*
 * Node i loaded in memory, to be kept by the keeper: as table data of a
 * database of its own in memory that DuckDB compresses at a checkpoint
 * (ATTACH ':memory:' ... (COMPRESS)), which a worker kept with its tables
 * makes after the answer (duck_keep): the same query on the compressed
 * table takes about a quarter of the time (docs/performance.md). On
 * failure nothing of it is left (detached).
 */
static int load_later(struct duck *d, size_t i, const struct stored *st, uint64_t size, struct dcr_err *err)
{
	struct later *l = &d->later[d->n_later];
	int r;

	snprintf(l->alias, sizeof(l->alias), "mem-%zu", i);
	if ((r = exec_on(d, "ATTACH ':memory:' AS ", l->alias, " (COMPRESS)", err)) < 0)
		return r;
	d->app_catalog = l->alias;
	if ((r = create_table_in(d, i, l->alias, err)) == 0)
		r = load_table(d, d->def->data[i], err);
	d->app_catalog = NULL;
	if (r < 0) {
		(void)exec_on(d, "DETACH ", l->alias, "", NULL);
		return r;
	}
	l->st = *st;
	l->node = i;
	d->n_later++;
	d->later_bytes += size;
	return 0;
}

/* Later table l copied into a new database of the store's, written, and kept (in the keeper). */
static int write_later(struct duck *d, struct later *l, struct dcr_err *err)
{
	char links[2][96] = { "", "" };
	struct text t;
	int memfd, watch, r;

	if ((memfd = r = store_begin(d, l->node, &l->st, links, &watch, err)) >= 0) {
		if (!text_new(&t, 64 + 2 * strlen(l->st.alias) + 2 * strlen(d->def->data[l->node]->name))) {
			r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		} else {
			add(&t, "INSERT INTO ");
			add_ident(&t, l->st.alias);
			add(&t, ".main.data SELECT * FROM ");
			add_ident(&t, d->def->data[l->node]->name);
			/* The rows in the order they were loaded (preserve_insertion_order), as a later job reads them. */
			r = run_text(d, &t, err);
		}
	}
	if (watch < 0)
		return r;
	if ((r = store_end(d, &l->st, links, watch, r < 0 ? r : 0, err)) == 0)
		r = keep(d, memfd, &l->st, err);
	return r;
}

/* The bytes DuckDB's buffer manager holds now (the tables loaded in memory), or 0. */
static uint64_t duck_memory_used(struct duck *d)
{
	duckdb_result res;
	uint64_t used = 0;

	if (duckdb_query(d->con, "SELECT sum(memory_usage_bytes)::BIGINT FROM duckdb_memory()", &res) == DuckDBSuccess &&
	    duckdb_row_count(&res) == 1)
		used = (uint64_t)duckdb_value_int64(&res, 0, 0);
	duckdb_destroy_result(&res);
	return used;
}

/*
 * The keeper: a child of the worker, forked with DuckDB on one thread (so
 * nothing but this thread holds a lock of its), under the worker's first
 * filter only (it opens the store's files by name); it writes every later
 * table and reports on fd 3 (struct dcr_err, code 0: kept). The worker
 * wipes the tables' keys and gives DuckDB its threads back.
 */
static int keeper_start(struct duck *d, uint64_t threads, struct dcr_err *err)
{
	char sql[64];
	int r;

	if ((r = exec(d, "SET threads = 1", err)) < 0 ||
	    (r = fork_child(&d->keeper, &d->keeper_fd, "the table store's keeper", err)) < 0)
		return r;
	if (r == 1) {
		struct dcr_err kept = { 0 };

		/* The job's memory shared (review D6-3): the tables it holds already, and a quarter of the limit. */
		snprintf(sql, sizeof(sql), "SET memory_limit = '%" PRIu64 "B'", duck_memory_used(d) + d->max_memory / 4);
		kept.code = exec(d, sql, &kept);
		for (size_t k = 0; kept.code == 0 && k < d->n_later; k++)
			kept.code = write_later(d, &d->later[k], &kept);
		/* R5-6's alarm is a fault to report, not a failure like any other (dcrd logs it so). */
		if (kept.code == DCR_ECOMPUTE && strstr(kept.msg, "outside memory"))
			kept.code = DCR_EINTEGRITY;
		_exit(dcr_write_all(3, &kept, sizeof(kept)) < 0);
	}
	for (size_t k = 0; k < d->n_later; k++)
		dcr_wipe(&d->later[k].st, sizeof(d->later[k].st));
	/*
	 * The query gets the rest: three quarters of the limit, the tables in
	 * memory included (DuckDB refuses less than it holds: the query then
	 * runs short, and the job runs again with the store first).
	 */
	snprintf(sql, sizeof(sql), "SET memory_limit = '%" PRIu64 "B'", d->max_memory - d->max_memory / 4);
	(void)exec(d, sql, NULL);
	snprintf(sql, sizeof(sql), "SET threads = %" PRIu64, threads ? threads : 1);
	return exec(d, sql, err);
}

/*
 * The keeper's end: what it says (its tables are in the store when 0), or
 * that it broke off. Abandoned (a failed job), it is not waited for: the
 * confined worker may not signal it, and it dies with the worker, which
 * dcrd ends (the death signal).
 */
static int keeper_end(struct duck *d, bool abandon, struct dcr_err *err)
{
	struct dcr_err kept = { 0 };
	int status = 0, r;

	if (d->keeper <= 0)
		return 0;
	if (abandon) {
		close(d->keeper_fd);
		d->keeper = 0;
		return 0;
	}
	r = read_full(d->keeper_fd, &kept, sizeof(kept)) == (ssize_t)sizeof(kept) ? 0 : -1;
	close(d->keeper_fd);
	while (waitpid(d->keeper, &status, 0) < 0 && errno == EINTR)
		;
	d->keeper = 0;
	if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || kept.code > 0)
		return dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': the table store's keeper broke off", d->c->name);
	kept.msg[sizeof(kept.msg) - 1] = '\0';
	return kept.code < 0 ? dcr_err_set(err, kept.code, "%s", kept.msg) : 0;
}

/* The stored file of st, decrypted into memory and attached; false when there is none or it does not do. */
static bool open_stored(struct duck *d, struct stored *st)
{
	int fd = open(st->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), memfd;
	bool ok;

	if (fd < 0)
		return false;
	memfd = new_memfd(d, st, NULL);
	ok = memfd >= 0 && dcr_stream_decrypt_fd(fd, memfd, st->key, NULL) == 0 && attach(d, st, NULL) == 0;
	close(fd);
	if (ok && !(ok = stored_complete(d, st)))
		(void)exec_on(d, "DETACH ", st->alias, "", NULL);
	if (!ok && memfd >= 0 && ftruncate(memfd, 0) < 0)
		ok = false;
	return ok;
}

/*
 * Node i as the query reads it: a view of its table from the store,
 * loaded there first unless the dataset now published to the node was
 * loaded before; or, when the job keeps after its answer and the table
 * fits (later_fits), the table loaded in memory and written into the
 * store after the answer (duck_keep). A file that does not decrypt or is
 * not whole is deleted and the table loaded again.
 */
static int use_stored(struct duck *d, size_t i, struct dcr_err *err)
{
	const Dcr__V1__DataNode *node = d->def->data[i];
	struct stored st;
	uint8_t sha[DCR_SHA256_LEN];
	uint64_t size = 0;
	int r;

	memset(&st, 0, sizeof(st));
	if ((r = d->in->identify(d->in->ctx, node->name, sha, &size, err)) < 0 ||
	    (r = stored_names(d->in->store, i, node->name, sha, &st, err)) < 0)
		goto out;
	memcpy(d->ident[i].sha, sha, sizeof(sha));
	d->ident[i].size = size;
	if (!open_stored(d, &st)) {
		struct dcr_err why;

		(void)unlink(st.path);
		/* In memory, and into the store after the answer; where DuckDB's memory did not hold it, as below. */
		if (later_fits(d, size) && (r = load_later(d, i, &st, size, &why)) < 0 && !out_of_memory(&why)) {
			if (err)
				*err = why;
			goto out;
		}
		if (!(d->n_later && d->later[d->n_later - 1].node == i) && (r = load_stored(d, i, &st, err)) < 0)
			goto out;
	}
	{
		/* The node's name for the table data of the database it is in: loaded in memory, or stored. */
		bool later = d->n_later && d->later[d->n_later - 1].node == i;
		const char *alias = later ? d->later[d->n_later - 1].alias : st.alias;
		struct text t;

		if (!text_new(&t, 64 + 2 * strlen(node->name) + 2 * strlen(alias))) {
			r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
			goto out;
		}
		add(&t, "CREATE VIEW ");
		add_ident(&t, node->name);
		add(&t, " AS SELECT * FROM ");
		add_ident(&t, alias);
		add(&t, ".main.data");
		r = run_text(d, &t, err);
	}
out:
	dcr_wipe(&st, sizeof(st));
	dcr_wipe(sha, sizeof(sha));
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

/*
 * A value of a column whose type the chunk path below does not read, as
 * DuckDB writes it as text (duckdb_value_varchar), on a result read value
 * by value.
 */
static int put_cell(struct csv_out *o, duckdb_result *res, duckdb_type t, idx_t col, idx_t row, struct dcr_err *err)
{
	char num[40], *s;
	int r;

	if (duckdb_value_is_null(res, col, row))
		return 0;
	if (t == DUCKDB_TYPE_DOUBLE || t == DUCKDB_TYPE_FLOAT) {
		csv_format_real(duckdb_value_double(res, col, row), num);
		return csv_put(o, num, strlen(num), err);
	}
	/* NULL for a type it does not convert (check_result_types refused the known ones), or out of memory. */
	if (!(s = duckdb_value_varchar(res, col, row)))
		return dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': DuckDB cannot write column %" PRIu64 " of the "
			"result (type %d) as text; cast it to VARCHAR in the query", o->name, (uint64_t)col + 1, (int)t);
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

static int put_rows_by_value(duckdb_result *res, struct csv_out *o, uint64_t *rows, struct dcr_err *err)
{
	idx_t cols = duckdb_column_count(res), n = duckdb_row_count(res);
	int r = 0;

	for (idx_t row = 0; r == 0 && row < n; row++) {
		for (idx_t c = 0; r == 0 && c < cols; c++) {
			if (c > 0)
				r = csv_put(o, ",", 1, err);
			if (r == 0)
				r = put_cell(o, res, duckdb_column_type(res, c), c, row, err);
		}
		if (r == 0)
			r = csv_put(o, "\n", 1, err);
		(*rows)++;
	}
	return r;
}

/* A result column read from chunks: its type, a DECIMAL's storage and scale, and where the chunk's values are. */
struct out_col {
	duckdb_type type, storage;
	uint8_t width, scale;
	void *data;
	uint64_t *valid;           /* NULL: none is NULL */
};

/* The types read from chunks, written as DuckDB writes them (the chunk tests compare with its casts). */
static bool chunk_type(duckdb_type t)
{
	return t == DUCKDB_TYPE_BOOLEAN || (t >= DUCKDB_TYPE_TINYINT && t <= DUCKDB_TYPE_DOUBLE) ||
		t == DUCKDB_TYPE_HUGEINT || t == DUCKDB_TYPE_UHUGEINT || t == DUCKDB_TYPE_VARCHAR ||
		t == DUCKDB_TYPE_DECIMAL || t == DUCKDB_TYPE_DATE || t == DUCKDB_TYPE_UUID;
}

typedef unsigned __int128 u128;

/*
 * v in decimal, with a '.' before its last `scale` digits, as DuckDB writes
 * integers and DECIMALs: "-0.05", but ".05" for a DECIMAL whose digits are
 * all after the point (bare).
 */
static int put_int(struct csv_out *o, bool negative, u128 v, uint8_t scale, bool bare, struct dcr_err *err)
{
	char buf[48], *p = buf + sizeof(buf);
	int digits = 0;

	do {
		*--p = (char)('0' + (int)(v % 10));
		v /= 10;
		if (++digits == scale)
			*--p = '.';
	} while (v > 0 || digits < scale);
	if (scale > 0 && *p == '.' && !bare)
		*--p = '0';
	if (negative)
		*--p = '-';
	return csv_put(o, p, (size_t)(buf + sizeof(buf) - p), err);
}

static int put_signed(struct csv_out *o, __int128 v, uint8_t scale, bool bare, struct dcr_err *err)
{
	return put_int(o, v < 0, v < 0 ? (u128)0 - (u128)v : (u128)v, scale, bare, err);
}

/* A DATE as DuckDB writes it: YYYY-MM-DD (at least four digits of year), " (BC)" before year 1, or (-)infinity. */
static int put_date(struct csv_out *o, int32_t days, struct dcr_err *err)
{
	int64_t z = (int64_t)days + 719468, era, doe, yoe, y, doy, mp, d, m;
	char buf[40];

	if (days == INT32_MAX || days == -INT32_MAX)
		return csv_put_text(o, (const uint8_t *)(days > 0 ? "infinity" : "-infinity"), days > 0 ? 8 : 9, err);
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y = yoe + era * 400 + (m <= 2);
	snprintf(buf, sizeof(buf), "%04" PRId64 "-%02" PRId64 "-%02" PRId64 "%s", y > 0 ? y : 1 - y, m, d,
		y > 0 ? "" : " (BC)");
	return csv_put_text(o, (const uint8_t *)buf, strlen(buf), err);
}

static __int128 hugeint(const duckdb_hugeint *h)
{
	return (__int128)(((u128)(uint64_t)h->upper << 64) | h->lower);
}

/* A UUID in its canonical form (RFC 9562): 32 lower-case hex digits in groups of 8-4-4-4-12. */
static int put_uuid(struct csv_out *o, const duckdb_hugeint *h, struct dcr_err *err)
{
	/* DuckDB stores the 128 bits with the top one flipped, so that UUIDs sort as their text does. */
	u128 v = ((u128)((uint64_t)h->upper ^ (UINT64_C(1) << 63)) << 64) | h->lower;
	char buf[36];

	for (int i = 35, nibble = 0; i >= 0; i--) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			buf[i] = '-';
			continue;
		}
		buf[i] = "0123456789abcdef"[(v >> (4 * nibble++)) & 15];
	}
	return csv_put(o, buf, sizeof(buf), err);
}

static __int128 decimal_value(const struct out_col *col, const void *data, idx_t row)
{
	switch (col->storage) {
	case DUCKDB_TYPE_SMALLINT:
		return ((const int16_t *)data)[row];
	case DUCKDB_TYPE_INTEGER:
		return ((const int32_t *)data)[row];
	case DUCKDB_TYPE_BIGINT:
		return ((const int64_t *)data)[row];
	default:
		return hugeint(&((const duckdb_hugeint *)data)[row]);
	}
}

static int put_value(struct csv_out *o, const struct out_col *col, idx_t row, struct dcr_err *err)
{
	void *data = col->data;
	char num[40];

	switch (col->type) {
	case DUCKDB_TYPE_BOOLEAN:
		return csv_put(o, ((const bool *)data)[row] ? "1" : "0", 1, err);
	case DUCKDB_TYPE_TINYINT:
		return put_signed(o, ((const int8_t *)data)[row], 0, false, err);
	case DUCKDB_TYPE_SMALLINT:
		return put_signed(o, ((const int16_t *)data)[row], 0, false, err);
	case DUCKDB_TYPE_INTEGER:
		return put_signed(o, ((const int32_t *)data)[row], 0, false, err);
	case DUCKDB_TYPE_BIGINT:
		return put_signed(o, ((const int64_t *)data)[row], 0, false, err);
	case DUCKDB_TYPE_UTINYINT:
		return put_int(o, false, ((const uint8_t *)data)[row], 0, false, err);
	case DUCKDB_TYPE_USMALLINT:
		return put_int(o, false, ((const uint16_t *)data)[row], 0, false, err);
	case DUCKDB_TYPE_UINTEGER:
		return put_int(o, false, ((const uint32_t *)data)[row], 0, false, err);
	case DUCKDB_TYPE_UBIGINT:
		return put_int(o, false, ((const uint64_t *)data)[row], 0, false, err);
	case DUCKDB_TYPE_HUGEINT:
		return put_signed(o, hugeint(&((const duckdb_hugeint *)data)[row]), 0, false, err);
	case DUCKDB_TYPE_UHUGEINT: {
		const duckdb_uhugeint *u = &((const duckdb_uhugeint *)data)[row];

		return put_int(o, false, ((u128)u->upper << 64) | u->lower, 0, false, err);
	}
	case DUCKDB_TYPE_UUID:
		return put_uuid(o, &((const duckdb_hugeint *)data)[row], err);
	case DUCKDB_TYPE_DECIMAL:
		return put_signed(o, decimal_value(col, data, row), col->scale, col->scale == col->width, err);
	case DUCKDB_TYPE_FLOAT:
		csv_format_real(((const float *)data)[row], num);
		return csv_put(o, num, strlen(num), err);
	case DUCKDB_TYPE_DOUBLE:
		csv_format_real(((const double *)data)[row], num);
		return csv_put(o, num, strlen(num), err);
	case DUCKDB_TYPE_DATE:
		return put_date(o, ((const duckdb_date *)data)[row].days, err);
	default: {
		duckdb_string_t *s = &((duckdb_string_t *)data)[row];
		const char *text = duckdb_string_t_data(s);
		uint32_t len = duckdb_string_t_length(*s);

		/* A CSV field cannot carry one, and text after it must not be lost silently. */
		if (memchr(text, '\0', len))
			return dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': a text value of the result holds a NUL "
				"byte, which a CSV result cannot carry", o->name);
		return csv_put_text(o, (const uint8_t *)text, len, err);
	}
	}
}

static int put_chunk(duckdb_data_chunk chunk, struct out_col *cols, idx_t n_cols, struct csv_out *o,
	uint64_t *rows, struct dcr_err *err)
{
	idx_t n = duckdb_data_chunk_get_size(chunk);
	int r = 0;

	for (idx_t c = 0; c < n_cols; c++) {
		duckdb_vector v = duckdb_data_chunk_get_vector(chunk, c);

		cols[c].data = duckdb_vector_get_data(v);
		cols[c].valid = duckdb_vector_get_validity(v);
	}
	for (idx_t row = 0; r == 0 && row < n; row++) {
		for (idx_t c = 0; r == 0 && c < n_cols; c++) {
			if (c > 0)
				r = csv_put(o, ",", 1, err);
			if (r == 0 && (!cols[c].valid || duckdb_validity_row_is_valid(cols[c].valid, row)))
				r = put_value(o, &cols[c], row, err);
		}
		if (r == 0)
			r = csv_put(o, "\n", 1, err);
		(*rows)++;
	}
	return r;
}

/*
 * The rows chunk by chunk, when every column has a type chunk_type reads;
 * 1 when one has not, 2 when the query failed while its result streamed.
 */
static int put_rows_by_chunk(duckdb_result *res, struct csv_out *o, uint64_t *rows, struct dcr_err *err)
{
	idx_t n_cols = duckdb_column_count(res);
	struct out_col *cols = calloc(n_cols ? n_cols : 1, sizeof(*cols));
	duckdb_data_chunk chunk;
	int r = 0;

	if (!cols)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	for (idx_t c = 0; r == 0 && c < n_cols; c++) {
		cols[c].type = duckdb_column_type(res, c);
		if (!chunk_type(cols[c].type)) {
			r = 1;
		} else if (cols[c].type == DUCKDB_TYPE_DECIMAL) {
			duckdb_logical_type t = duckdb_column_logical_type(res, c);

			if (!t) {
				r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
				break;
			}
			cols[c].storage = duckdb_decimal_internal_type(t);
			cols[c].width = duckdb_decimal_width(t);
			cols[c].scale = duckdb_decimal_scale(t);
			duckdb_destroy_logical_type(&t);
		}
	}
	while (r == 0 && (chunk = duckdb_fetch_chunk(*res))) {
		r = put_chunk(chunk, cols, n_cols, o, rows, err);
		duckdb_destroy_data_chunk(&chunk);
	}
	free(cols);
	/* A streamed result's last NULL may be a failure of the query, which ran while it was read. */
	return r == 0 && duckdb_result_error(res) ? 2 : r;
}

/* Whether every column of st's result is of a type put_value writes, so that it can be streamed. */
static bool streamable(duckdb_prepared_statement st)
{
	idx_t n = duckdb_prepared_statement_column_count(st);

	for (idx_t c = 0; c < n; c++)
		if (!chunk_type(duckdb_prepared_statement_column_type(st, c)))
			return false;
	return true;
}

static int write_result(struct duck *d, duckdb_result *res, struct csv_out *o, uint64_t *rows, struct dcr_err *err)
{
	idx_t cols = duckdb_column_count(res);
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
	if (r == 0 && (r = put_rows_by_chunk(res, o, rows, err)) == 1)
		r = put_rows_by_value(res, o, rows, err);
	return r == 2 ? run_error(d, res, err) : r;
}


/* Which tables the query reads (d->present), found in a database of its own, locked and closed again. */
static int find_needed(struct duck *d, struct dcr_err *err)
{
	int r;

	if ((r = open_locked(d, CHECK_MEMORY, 1, err)) == 0 &&
	    ((r = prepare_on_all(d, err)) < 0 || (r = drop_unneeded(d, err)) < 0) && r == DCR_EINVALID && err)
		err->code = r = DCR_ECOMPUTE;
	close_db(d);
	return r;
}

/* The confined check of find_needed_confined, under way: its process and the read end of its pipe. */
struct check {
	pid_t child;
	int fd;
};

/*
 * find_needed in a child process that confines itself first (the worker
 * itself is confined only once the store's tables are attached): it
 * writes back its struct dcr_err (code 0: found) and a byte per node, 1
 * for present. What it says is believed only as far as the query could
 * have chosen it anyway: a table it may read, a failure of the job.
 * check_start starts it (the worker opens its own database meanwhile),
 * check_end reads its answer.
 */
static int check_start(struct duck *d, struct check *k, struct dcr_err *err)
{
	struct dcr_err found = { 0 };
	size_t n = d->def->n_data;
	int r = fork_child(&k->child, &k->fd, "the SQL worker's check", err);

	if (r == 1) {
		uint8_t *flags = calloc(n + 1, 1);

		/*
		 * Nothing of the worker's but the pipe back, on fd 3, where the
		 * worker's socket to dcrd was: through it the query's process
		 * could have asked dcrd for tables or answered for the worker.
		 */
		if (!flags)
			_exit(1);
		if (close_range(4, ~0u, 0) < 0)
			for (int fd = 4; fd < 65536; fd++)
				close(fd);
		if ((found.code = d->in->confine(&found)) == 0)
			found.code = find_needed(d, &found);
		for (size_t i = 0; i < n; i++)
			flags[i] = d->present[i];
		_exit(dcr_write_all(3, &found, sizeof(found)) < 0 || dcr_write_all(3, flags, n) < 0);
	}
	return r;
}

static int check_end(struct duck *d, struct check *k, struct dcr_err *err)
{
	struct dcr_err found = { 0 };
	size_t n = d->def->n_data;
	uint8_t *flags = calloc(n + 1, 1);
	ssize_t got = 0;
	int status = 0;

	if (flags && (got = read_full(k->fd, &found, sizeof(found))) == (ssize_t)sizeof(found))
		got += read_full(k->fd, flags, n);
	close(k->fd);
	while (waitpid(k->child, &status, 0) < 0 && errno == EINTR)
		;
	if (!flags)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		d->present[i] = flags[i] == 1 && readable(d->def->data[i]);
	free(flags);
	if ((size_t)got != sizeof(found) + n || found.code > 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': the SQL worker's check broke off", d->c->name);
	if (found.code < 0) {
		found.msg[sizeof(found.msg) - 1] = '\0';
		return dcr_err_set(err, found.code == DCR_ENOMEM ? DCR_ENOMEM : DCR_ECOMPUTE, "%s", found.msg);
	}
	return 0;
}

static int answer(struct duck *d, struct csv_out *o, struct sql_result *out, struct dcr_err *err);

static int run(struct duck *d, const struct sql_limits *lim, struct csv_out *o, struct sql_result *out,
	struct dcr_err *err)
{
	const struct table_store *store = d->in->identify && d->in->store && d->in->store->job[0] ? d->in->store : NULL;
	int r;

	struct check k = { .child = -1, .fd = -1 };

	if ((r = check_version(d->c, DCR_ECOMPUTE, err)) < 0 ||
	    (r = d->in->confine ? check_start(d, &k, err) : find_needed(d, err)) < 0)
		return r;
	/*
	 * The job's database (opened while the check runs): the tables read
	 * from the store (attached while file access is still on) or loaded in
	 * memory, and only then locked, and the worker confined (work_inputs'
	 * confine). The query is compiled and run on it only then.
	 */
	r = open_db(d, lim->max_memory, lim->threads, err);
	if (k.child > 0) {
		int checked = check_end(d, &k, r < 0 ? NULL : err);

		if (r == 0)
			r = checked;
	}
	if (r < 0)
		return r;
	d->max_memory = lim->max_memory;
	for (size_t i = 0; r == 0 && i < d->def->n_data; i++)
		if (d->present[i] && store)
			r = use_stored(d, i, err);
		else if (d->present[i] && (r = create_table(d, i, err)) == 0)
			r = load_table(d, d->def->data[i], err);
	if (r == 0 && d->n_later)
		r = keeper_start(d, lim->threads, err);
	if (r == 0)
		r = lock_db(d, err);
	if (r == 0 && d->in->confine)
		r = d->in->confine(err);
	return r < 0 ? r : answer(d, o, out, err);
}

/* The query compiled and run on d's tables, loaded and locked, and its result written to o. */
static int answer(struct duck *d, struct csv_out *o, struct sql_result *out, struct dcr_err *err)
{
	duckdb_prepared_statement st = NULL;
	duckdb_result res;
	locale_t c_locale, old;
	struct dcr_err why;
	int r = 0;

	/*
	 * Prepared (again) on the loaded tables only: a plan made on empty
	 * ones trusts their statistics (strings of length 0 "compressed" to
	 * one byte by an ORDER BY) and returns garbage. Compiling can compute
	 * (constant folding) on the loaded data: its message is withheld as
	 * run_error's.
	 */
	if (prepare_select(d, d->c->sql->query, &st, &why) < 0)
		r = dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': DuckDB: the query does not prepare on the loaded "
			"tables [withheld: the message may quote data]", d->c->name);
	/*
	 * Streamed (computed as it is written) where put_value writes every
	 * column: the result is never held whole, besides its CSV (review R4).
	 * A column of another type is read value by value, which needs DuckDB
	 * to hold the whole result first.
	 */
	if (r == 0 && (streamable(st) ? duckdb_execute_prepared_streaming(st, &res) :
	    duckdb_execute_prepared(st, &res)) != DuckDBSuccess) {
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

/* The one job of this worker's that has tables to write after its answer (duck_run with keep_after). */
static struct duck kept_job;

/*
 * The database this worker holds between jobs (duck_held): its last job's,
 * with the tables loaded and attached, locked, the worker confined. It
 * serves a later job of the same computation of the same room (room ID)
 * while every table it holds is still what is published to its node
 * (run_held); dcrd gives a worker kept idle (sqlproc.c) only jobs of the
 * room, computation and caller of its last.
 */
static struct duck held;

static void free_duck(struct duck *d)
{
	close_db(d);
	free(d->later);
	free(d->memfds);
	free(d->present);
	free(d->ident);
	free(d->name);
	for (size_t i = 0; d->nodes && i < d->n_data; i++)
		free(d->nodes[i]);
	free(d->nodes);
	memset(d, 0, sizeof(*d));
}

/* d's present nodes' names (d->nodes), for run_held to check a later job's definition: 0, or -1 (out of memory). */
static int name_nodes(struct duck *d)
{
	if (!(d->nodes = calloc(d->def->n_data + 1, sizeof(char *))))
		return -1;
	d->n_data = d->def->n_data;
	for (size_t i = 0; i < d->n_data; i++)
		if (d->present[i] && !(d->nodes[i] = strdup(d->def->data[i]->name)))
			return -1;
	return 0;
}

/*
 * d, which answered and has no keeper, held for the worker's next job
 * (held) when it can serve one: a job with the table store (every table it
 * holds was identified), confined. Otherwise closed.
 */
static void hold_or_free(struct duck *d)
{
	bool can = d->in && d->in->identify && d->in->store && d->in->store->job[0] && d->in->confine && !held.db &&
		d->keeper <= 0;
	/* The room ID (table_store_room) is the SHA-256 of the room's canonical definition (lib/room.c). */
	const char *room = can ? table_store_room(d->in->store) : NULL;

	if (room && strlen(room) < sizeof(d->room) && (d->name = strdup(d->c->name)) && name_nodes(d) == 0) {
		memcpy(d->room, room, strlen(room) + 1);
		d->n_later = 0;
		d->later_bytes = 0;
		held = *d;
		/* What it points to is the job's, freed after it. */
		held.def = NULL;
		held.c = NULL;
		held.in = NULL;
		return;
	}
	free_duck(d);
}

bool duck_held(void)
{
	return held.db != NULL;
}

/*
 * A job on the held database: the same computation of the same room
 * (table_store_room, never NULL), whose definition has the same data nodes where it holds a
 * table (checked here, so that no index of its arrays rests on dcrd's
 * pairing of the room ID and the definition: review M-2), and each table
 * it holds identified again (the job counts it as read, "cached") and
 * still the dataset published to its node. Where one is not, nothing runs:
 * *in->anew says the job must run in a new worker (this one is confined,
 * and cannot open the table store again).
 */
static int run_held(const Dcr__V1__RoomDefinition *def, const Dcr__V1__Computation *c, const struct work_inputs *in,
	const struct sql_limits *l, struct csv_out *o, struct sql_result *res, struct dcr_err *err)
{
	struct duck *d = &held;
	uint8_t sha[DCR_SHA256_LEN];
	const char *room = in && in->store ? table_store_room(in->store) : NULL;
	bool same = in && in->identify && room && strcmp(d->room, room) == 0 &&
		strcmp(d->name, c->name) == 0 && def->n_data == d->n_data;
	uint64_t size;
	int r = 0;

	d->def = def;
	d->c = c;
	d->in = in;
	work_clock_start(&d->clock, l->time_ms);
	for (size_t i = 0; same && i < def->n_data; i++)
		same = !d->present[i] || strcmp(d->nodes[i], def->data[i]->name) == 0;
	for (size_t i = 0; same && r == 0 && i < def->n_data; i++)
		if (d->present[i] && (r = in->identify(in->ctx, def->data[i]->name, sha, &size, err)) == 0)
			same = memcmp(sha, d->ident[i].sha, sizeof(sha)) == 0 && size == d->ident[i].size;
	if (r == 0 && !same) {
		if (in && in->anew)
			*in->anew = true;
		r = dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': the SQL worker's tables are not the job's",
			c->name);
	}
	if (r == 0 && (r = answer(d, o, res, err)) < 0 && in->anew && err && out_of_memory(err))
		/* Its memory limit may be the first job's share (keeper_start): a new worker has all of it (R7-3). */
		*in->anew = true;
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
	if (held.db) {
		/* Held again for the next job if it answered; on a failure the worker ends (sqlproc.c). */
		r = csv_out_finish(&o, run_held(def, c, in, &l, &o, &res, err), &res, out);
		held.def = NULL;
		held.c = NULL;
		held.in = NULL;
		return r;
	}
	work_clock_start(&d.clock, l.time_ms);
	/* A table's database and log, twice when a load in memory fell back (use_stored), and a stored one's. */
	d.cap_memfds = 5 * def->n_data;
	if (!(d.present = calloc(def->n_data + 1, sizeof(bool))) || !(d.memfds = calloc(d.cap_memfds + 1, sizeof(int))) ||
	    !(d.ident = calloc(def->n_data + 1, sizeof(struct ident))) ||
	    (in && in->keep_after && !(d.later = calloc(def->n_data + 1, sizeof(struct later))))) {
		free_duck(&d);
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	}
	r = run(&d, &l, &o, &res, err);
	/* Out of memory beside tables in memory: the keeper finishes (the next try reads them), and it may succeed. */
	if (r < 0 && d.n_later && in->again && err && out_of_memory(err)) {
		(void)keeper_end(&d, false, NULL);
		*in->again = true;
	}
	if ((r = csv_out_finish(&o, r, &res, out)) == 0 && d.keeper > 0) {
		/* The answer goes first; the worker's caller sends it, then calls duck_keep. */
		kept_job = d;
		out->keeping = true;
		return 0;
	}
	(void)keeper_end(&d, true, NULL);
	if (r == 0)
		hold_or_free(&d);
	else
		free_duck(&d);
	return r;
}

int duck_keep(struct dcr_err *err)
{
	struct duck *d = &kept_job;
	bool compressed = d->in->may_hold;
	int r;

	/* While the keeper writes: the tables in memory compressed, for the jobs a kept worker runs on them. */
	for (size_t k = 0; compressed && k < d->n_later; k++)
		compressed = exec_on(d, "CHECKPOINT ", d->later[k].alias, "", NULL) == 0;
#ifdef DCR_DUCK_TEST_FAULTS
	/* test-duckwork only: a query naming checkpoint_fails has its compression fail. */
	if (compressed && strstr(d->c->sql->query, "checkpoint_fails"))
		compressed = false;
#endif
	/*
	 * Not compressed, the database is not held: its tables would take
	 * about 5x the memory and be slower to query than the store's
	 * (docs/performance.md, issue 18, session 7). A worker holding none
	 * is ended by dcrd (its KEPT says so) rather than kept idle to answer
	 * ANEW to its next job.
	 */
	if ((r = keeper_end(d, false, err)) == 0 && compressed)
		hold_or_free(d);
	else
		free_duck(d);
	memset(d, 0, sizeof(*d));
	return r;
}

int duck_query_locked(const char *query, const struct sql_limits *lim, struct sql_result *out, struct dcr_err *err)
{
	struct sql_limits l = lim ? *lim : (struct sql_limits){ 0 };
	Dcr__V1__Computation c = DCR__V1__COMPUTATION__INIT;
	struct duck d = { .c = &c };
	struct csv_out o = { .name = "-" };
	struct sql_result rows = { 0 };
	duckdb_result res;
	int r;

	memset(out, 0, sizeof(*out));
	c.name = "-";
	sql_limits_resolve(&l);
	o.max = (size_t)l.max_result_bytes;
	if ((r = open_locked(&d, l.max_memory, l.threads, err)) == 0) {
		/* No room's query and no room's data here (tests, the function lists): DuckDB's whole message. */
		if (duckdb_query(d.con, query, &res) != DuckDBSuccess)
			r = dcr_err_set(err, DCR_ECOMPUTE, "DuckDB: %s", duckdb_result_error(&res) ?
				duckdb_result_error(&res) : "the query failed");
		else
			r = write_result(&d, &res, &o, &rows.rows, err);
		duckdb_destroy_result(&res);
	}
	close_db(&d);
	return csv_out_finish(&o, r, &rows, out);
}

#endif
