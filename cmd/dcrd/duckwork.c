/*
 * SQL computations with engine duckdb: an in-memory DuckDB database locked
 * down before any query sees it, the tables the query reads loaded through
 * lib/table (the same verdicts as the SQLite engine), the result as the
 * same CSV. Run inside the SQL worker process (sqlproc.c) like SQLite.
 */
#define _GNU_SOURCE /* memfd_create */
#include "work.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "room.h"
#include "stream.h"
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
	const char *app_catalog;   /* where load_table appends: a store file's table, or (NULL) the node's in memory */
	int *memfds;               /* the table store's databases and logs in memory (three per table at most), closed with the job */
	size_t n_memfds, cap_memfds;
	char links[TABLE_STORE_LINKS_MAX]; /* the job's directory of links into memory (table_store_links) */
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
 * The database a query of a room sees: in memory, no extension installed
 * or loaded, automatically or not, no spilling to disk (the temporary
 * directory is none: a query that needs more than its memory fails; DuckDB
 * 1.5.6 cannot encrypt temporary files with a key it draws securely, see
 * docs/decisions.md), one thread. lock_db then takes file and network
 * access away (read_csv, COPY, ATTACH of a file, httpfs URLs) and locks the
 * configuration so no statement can change any of it; between the two,
 * dcrd attaches the tables it keeps (the table store).
 */
static int open_db(struct duck *d, uint64_t max_memory, struct dcr_err *err)
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
	/* The configuration cannot say "no temporary directory", SET can, and only while external access is on. */
	if (r == 0)
		r = exec(d, "SET temp_directory = ''", err);
	return r;
}

static int lock_db(struct duck *d, struct dcr_err *err)
{
	int r = exec(d, "SET enable_external_access = false", err);

	return r < 0 ? r : exec(d, "SET lock_configuration = true", err);
}

static int open_locked(struct duck *d, uint64_t max_memory, struct dcr_err *err)
{
	int r = open_db(d, max_memory, err);

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

	if (duckdb_appender_create_ext(d->con, d->app_catalog, d->app_catalog ? "main" : NULL,
		d->app_catalog ? "data" : node->name, &d->app) != DuckDBSuccess)
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
 * of either reaches the disk.
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
	if (symlink(mem, links[0]) < 0 || symlink(target, links[1]) < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot create '%s'", links[0]);
	if (!text_new(&t, 64 + 2 * strlen(links[0]) + 2 * strlen(st->alias)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	add(&t, "ATTACH '");
	for (const char *c = links[0]; *c && t.ok; c++)
		add(&t, *c == '\'' ? "''" : (char[]){ *c, '\0' });
	add(&t, "' AS ");
	add_ident(&t, st->alias);
	r = run_text(d, &t, err);
	return r;
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

/* The other files of st's node: tables of datasets published to it before. */
static void forget_others(const struct table_store *ts, const struct stored *st)
{
	char mine[96];
	struct dirent *e;
	DIR *dir = opendir(ts->dir);

	if (!dir)
		return;
	snprintf(mine, sizeof(mine), "%s-%s.duckdb.enc", st->tag, st->file);
	while ((e = readdir(dir)))
		if (strncmp(e->d_name, st->tag, 32) == 0 && e->d_name[32] == '-' && strcmp(e->d_name, mine) != 0)
			(void)unlinkat(dirfd(dir), e->d_name, 0);
	closedir(dir);
}

/* The database in memfd, encrypted into st->tmp, then moved to st->path: a file there is always whole. */
static int keep(struct duck *d, int memfd, const struct stored *st, struct dcr_err *err)
{
	int fd = open(st->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600), r;

	if (fd < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot create '%s'", st->tmp);
	if (lseek(memfd, 0, SEEK_SET) < 0)
		r = dcr_err_errno(err, DCR_EIO, errno, "cannot read a table back");
	else
		r = dcr_stream_encrypt_fd(memfd, fd, st->key, 0, err);
	if (r == 0 && fsync(fd) < 0)
		r = dcr_err_errno(err, DCR_EIO, errno, "cannot write '%s'", st->tmp);
	close(fd);
	/* The room stopped meanwhile (its directory is gone): the job goes on with the table in memory. */
	if (r == 0 && rename(st->tmp, st->path) == 0)
		forget_others(d->in->store, st);
	(void)unlink(st->tmp);
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
	int memfd, r, detached;
	bool links_held;

	if ((memfd = r = new_memfd(d, st, err)) < 0 || (r = blank_db(d, memfd, err)) < 0)
		return r;
	if ((r = attach_for_load(d, st, links, err)) < 0) {
		(void)unlink(links[0]);
		(void)unlink(links[1]);
		return r;
	}
	if ((r = create_table_in(d, i, st->alias, err)) == 0)
		r = exec_on(d, "CREATE TABLE ", st->alias, ".main.dcr_meta (\"rows\" BIGINT)", err);
	if (r == 0) {
		d->app_catalog = st->alias;
		r = load_table(d, d->def->data[i], err);
		d->app_catalog = NULL;
	}
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
	/* A file DuckDB made in place of a link would hold plaintext: it goes, and the job fails. */
	links_held = still_link(links[0]) && (access(links[1], F_OK) != 0 || still_link(links[1]));
	(void)unlink(links[0]);
	(void)unlink(links[1]);
	if (r == 0 && !links_held)
		r = dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': DuckDB wrote a table outside memory", d->c->name);
	if (r == 0)
		r = keep(d, memfd, st, err);
	return r < 0 ? r : attach(d, st, err);
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
 * loaded before. A file that does not decrypt or is not whole is deleted
 * and the table loaded again.
 */
static int use_stored(struct duck *d, size_t i, struct dcr_err *err)
{
	const Dcr__V1__DataNode *node = d->def->data[i];
	struct stored st;
	uint8_t sha[DCR_SHA256_LEN];
	int r;

	memset(&st, 0, sizeof(st));
	if ((r = d->in->identify(d->in->ctx, node->name, sha, err)) < 0 ||
	    (r = stored_names(d->in->store, i, node->name, sha, &st, err)) < 0)
		goto out;
	if (!open_stored(d, &st)) {
		(void)unlink(st.path);
		if ((r = load_stored(d, i, &st, err)) < 0)
			goto out;
	}
	{
		struct text t;

		if (!text_new(&t, 64 + 2 * strlen(node->name) + 2 * strlen(st.alias))) {
			r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
			goto out;
		}
		add(&t, "CREATE VIEW ");
		add_ident(&t, node->name);
		add(&t, " AS SELECT * FROM ");
		add_ident(&t, st.alias);
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
	const struct table_store *store = d->in->identify && d->in->store && d->in->store->job[0] ? d->in->store : NULL;
	duckdb_prepared_statement st = NULL;
	duckdb_result res;
	locale_t c_locale, old;
	int r;

	if ((r = check_version(d->c, DCR_ECOMPUTE, err)) < 0)
		return r;
	/* Which tables the query reads, found in a database of its own, locked and closed again. */
	if ((r = open_locked(d, CHECK_MEMORY, err)) == 0 &&
	    ((r = prepare_on_all(d, err)) < 0 || (r = drop_unneeded(d, err)) < 0) && r == DCR_EINVALID && err)
		err->code = r = DCR_ECOMPUTE;
	close_db(d);
	if (r < 0)
		return r;
	/*
	 * The job's database: the tables read from the store (attached while
	 * file access is still on) or loaded in memory, and only then locked.
	 * The query never runs before.
	 */
	if ((r = open_db(d, lim->max_memory, err)) < 0)
		return r;
	for (size_t i = 0; r == 0 && i < d->def->n_data; i++)
		if (d->present[i] && store)
			r = use_stored(d, i, err);
		else if (d->present[i] && (r = create_table(d, i, err)) == 0)
			r = load_table(d, d->def->data[i], err);
	if (r == 0)
		r = lock_db(d, err);
	/*
	 * Prepared (again) on the loaded tables only: a plan made on empty
	 * ones trusts their statistics (strings of length 0 "compressed" to
	 * one byte by an ORDER BY) and returns garbage.
	 */
	if (r == 0) {
		struct dcr_err why;

		if (prepare_select(d, d->c->sql->query, &st, &why) < 0)
			r = dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': %s", d->c->name, why.msg);
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
	d.cap_memfds = 3 * def->n_data;
	if (!(d.present = calloc(def->n_data + 1, sizeof(bool))) || !(d.memfds = calloc(d.cap_memfds + 1, sizeof(int)))) {
		free(d.present);
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	}
	r = run(&d, &l, &o, &res, err);
	close_db(&d);
	free(d.memfds);
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
