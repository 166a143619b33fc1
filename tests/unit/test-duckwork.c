/*
 * Unit tests for cmd/dcrd/duckwork.c: SQL computations with engine duckdb,
 * run as dcrd runs them (sql_run_isolated: a worker process) and in this
 * process; each way out of the inputs tried by a query, at room.create
 * (duck_check_room) and at run time. Skipped (77) in a build without DuckDB.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <setjmp.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto.h"
#include "room.h"
#include "specs.h"
#include "sql.h"
#include "work.h"

#ifdef DCR_HAVE_DUCKDB
#include "duckdb-functions.h"
#else
#define DUCK_FUNCTIONS 0
#define DUCK_TABLE_FUNCTIONS 0
#define DUCK_INTERNAL_VIEWS 0
static const char *const duck_functions[1], *const duck_table_functions[1], *const duck_internal_views[1];
#endif

static const char specs_yaml[] =
	"version: 1\n"
	"specs:\n"
	"  dcrd:sim:\n"
	"    format: sim\n"
	"    measurement: 0000000000000000000000000000000000000000000000000000000000000001\n";

static struct dcr_specs *specs;
static bool isolated;

struct input {
	const char *node;
	const char *csv;
};

struct inputs {
	const struct input *items;
	size_t n;
	char read_log[256];
};

/* When set, read_input records here the seccomp filters (/proc/PID/status) of the worker asking, -1 if none is found. */
static int *asker_seccomp;

/* The Seccomp_filters field of this process's child, the SQL worker (how many it has); -1 when there is none. */
static int child_seccomp(void)
{
	char parent[32];
	DIR *proc = opendir("/proc");
	struct dirent *e;
	int mode = -1;

	snprintf(parent, sizeof(parent), "\nPPid:\t%ld\n", (long)getpid());
	while (proc && mode < 0 && (e = readdir(proc))) {
		char path[300], status[8192], *at;
		FILE *f;
		size_t n;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/status", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		n = fread(status, 1, sizeof(status) - 1, f);
		fclose(f);
		status[n] = '\0';
		if (strstr(status, parent) && (at = strstr(status, "\nSeccomp_filters:\t")))
			mode = atoi(at + 18);
	}
	if (proc)
		closedir(proc);
	return mode;
}

/* Feeds each input in pieces of 7 bytes. */
static int read_input(void *ctx, const char *node, dcr_stream_sink *sink, void *sink_ctx, struct dcr_err *err)
{
	struct inputs *in = ctx;

	if (asker_seccomp)
		*asker_seccomp = child_seccomp();

	snprintf(in->read_log + strlen(in->read_log), sizeof(in->read_log) - strlen(in->read_log), "%s ", node);
	for (size_t i = 0; i < in->n; i++) {
		size_t len = strlen(in->items[i].csv);

		if (strcmp(in->items[i].node, node) != 0)
			continue;
		/* Small inputs 7 bytes at a time (records cut anywhere), large ones (test_store_falls_back) faster. */
		size_t step = len > (1u << 20) ? 60000 : 7;

		for (size_t at = 0; at < len; at += step) {
			int r = sink(sink_ctx, (const uint8_t *)in->items[i].csv + at, len - at < step ? len - at : step,
				err);

			if (r < 0)
				return r;
		}
		return 0;
	}
	return dcr_err_set(err, DCR_ENOTFOUND, "nothing is published to node '%s'", node);
}

/* identify for the table store: the SHA-256 of the node's CSV, and its size. */
static int identify_input(void *ctx, const char *node, uint8_t sha256[static 32], uint64_t *size,
	struct dcr_err *err)
{
	struct inputs *in = ctx;

	for (size_t i = 0; i < in->n; i++)
		if (strcmp(in->items[i].node, node) == 0) {
			*size = strlen(in->items[i].csv);
			return dcr_sha256(in->items[i].csv, strlen(in->items[i].csv), sha256, err);
		}
	return dcr_err_set(err, DCR_ENOTFOUND, "nothing is published to node '%s'", node);
}

/* The table store the runs use, when a test sets one. */
static const struct table_store *store;

static int setup(void **state)
{
	struct dcr_err err;

	assert_int_equal(dcr_sql_init(&err), 0);
	assert_int_equal(dcr_specs_parse("specs.yaml", (const uint8_t *)specs_yaml, strlen(specs_yaml), &specs, &err), 0);
	return 0;
}

static int teardown(void **state)
{
	dcr_specs_free(specs);
	return 0;
}

static const char tables[] =
	"  t:\n"
	"    type: table\n"
	"    columns:\n"
	"      - {name: a, type: int64}\n"
	"      - {name: b, type: string, nullable: true}\n"
	"      - {name: x, type: float64, nullable: true}\n"
	"      - {name: ok, type: bool, nullable: true}\n"
	"  u:\n"
	"    type: table\n"
	"    header: false\n"
	"    columns: [{name: v, type: int64}]\n"
	"  secret:\n"
	"    type: table\n"
	"    columns: [{name: k, type: string}, {name: n, type: int64}]\n"
	"    privacy: {min_group_size: 2, identity: k}\n"
	"  w:\n"
	"    type: table\n"
	"    columns:\n"
	"      - {name: i, type: int64}\n"
	"      - {name: s, type: string, nullable: true}\n"
	"      - {name: f, type: float64, nullable: true}\n"
	"      - {name: b, type: bool, nullable: true}\n"
	"      - {name: d, type: date, nullable: true}\n";

static const char t_csv[] = "a,b,x,ok\n1,one,1.5,true\n2,,,\n3,\"thr,ee\",-2,false\n";

/* A room with the data nodes data whose computation q runs query on engine (duckdb or sqlite). */
static struct dcr_room *room_with(const char *data, const char *engine, const char *query)
{
	char yaml[8192];
	struct dcr_room *room = NULL;
	struct dcr_err err;

	snprintf(yaml, sizeof(yaml),
		"version: 1\n"
		"name: duckwork\n"
		"enclave: dcrd:sim\n"
		"authentication: {platform: true}\n"
		"participants:\n"
		"  alice@acme.example:\n"
		"data:\n%s"
		"compute:\n"
		"  q:\n"
		"    type: sql\n"
		"    engine: %s\n"
		"    query: |\n"
		"      %s\n", data, engine, query);
	if (dcr_room_parse("room.yaml", (const uint8_t *)yaml, strlen(yaml), ".", specs, "", &room, &err) < 0)
		fail_msg("room does not parse: %s", err.msg);
	return room;
}

/* A room whose computation q runs query on engine (duckdb or sqlite). */
static struct dcr_room *room_for(const char *engine, const char *query)
{
	return room_with(tables, engine, query);
}

struct run {
	struct sql_result res;
	struct dcr_err err;
	struct inputs in;
	int r;
	char text[4096];
	char *big;                 /* a result too large for text, its last newline cut; the caller frees it */
};

static const char *run_room_on(struct run *run, struct dcr_room *room, const struct input *items, size_t n,
	uint64_t max_memory, uint64_t threads)
{
	struct work_inputs in = { .read = read_input, .ctx = &run->in, .identify = store ? identify_input : NULL,
		.store = store };
	struct sql_limits lim = { .max_memory = max_memory, .threads = threads };

	memset(run, 0, sizeof(*run));
	run->in.items = items;
	run->in.n = n;
	run->r = (isolated ? sql_run_isolated : sql_run)(dcr_room_definition(room), "q", &in, &lim, &run->res,
		&run->err);
	if (run->r < 0) {
		assert_int_equal(run->r, run->err.code);
		assert_null(run->res.csv);
		snprintf(run->text, sizeof(run->text), "ERROR: %s", run->err.msg);
	} else if (run->res.len >= sizeof(run->text)) {
		/* A large result stays in big, which the caller frees. */
		run->big = (char *)run->res.csv;
		run->big[run->res.len - 1] = '\0';
		snprintf(run->text, sizeof(run->text), "(%zu bytes)", run->res.len);
		return run->big;
	} else {
		memcpy(run->text, run->res.csv, run->res.len);
		run->text[run->res.len] = '\0';
		free(run->res.csv);
	}
	return run->text;
}

static const char *run_room(struct run *run, struct dcr_room *room, const struct input *items, size_t n,
	uint64_t max_memory)
{
	return run_room_on(run, room, items, n, max_memory, 0);
}

static const struct input both[] = { { "t", t_csv }, { "u", "7\n8\n" } };

/* The result of query on engine, both tables published. */
static const char *run_on(struct run *run, const char *engine, const char *query)
{
	struct dcr_room *room = room_for(engine, query);

	run_room(run, room, both, 2, 0);
	dcr_room_free(room);
	return run->text;
}

/* ---- results ---- */

static void test_same_as_sqlite(void **state)
{
	static const char *const queries[] = {
		"SELECT a, b, x, ok FROM t ORDER BY a",
		/* A plan made on the empty tables mangled b (strings "compressed" by their statistics). */
		"SELECT b, length(b) AS n FROM t ORDER BY a",
		"SELECT count(*) AS n, sum(a) AS s, avg(x) AS m, min(b) AS lo FROM t",
		"SELECT b IS NULL AS missing, count(*) AS n FROM t GROUP BY 1 ORDER BY 1",
		"SELECT a, v FROM t JOIN u ON v - 6 = a ORDER BY a",
		/* 0.1 + 0.2 would differ: DuckDB reads 0.1 as DECIMAL(2,1) and adds exactly (0.3). */
		"SELECT 'say \"hi\"' AS q, '' AS e, ' x' AS sp, CAST(0.1 AS DOUBLE) + 0.2 AS f, 1e300 * 10 AS big",
	};
	struct run d, s;

	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		run_on(&d, "duckdb", queries[i]);
		run_on(&s, "sqlite", queries[i]);
		if (d.r < 0 || strcmp(d.text, s.text) != 0)
			fail_msg("%s\nduckdb: %s\nsqlite: %s", queries[i], d.text, s.text);
	}
	run_on(&d, "duckdb", "SELECT a, b, x, ok FROM t ORDER BY a");
	assert_string_equal(d.text, "a,b,x,ok\n1,one,1.5,1\n2,,,\n3,\"thr,ee\",-2.0,0\n");
}

/* Only the tables the query needs are read: u is not published and not needed. */
static void test_reads_what_it_needs(void **state)
{
	struct dcr_room *room = room_for("duckdb", "SELECT sum(a) AS s FROM t WHERE 'u' <> 'v'");
	const struct input only_t[] = { { "t", t_csv } };
	struct run run;

	assert_string_equal(run_room(&run, room, only_t, 1, 0), "s\n6\n");
	if (!isolated)
		assert_string_equal(run.in.read_log, "t ");
	dcr_room_free(room);
	room = room_for("duckdb", "SELECT count(*) AS n FROM t, u");
	assert_string_equal(run_room(&run, room, only_t, 1, 0), "ERROR: nothing is published to node 'u'");
	dcr_room_free(room);
}

/* The same strict loading as the SQLite engine: the very same messages. */
static void test_same_verdicts(void **state)
{
	static const char *const bad[] = {
		"a,b,x,ok\n1,one,SECRET,true\n",
		"a,b,x,ok\n,one,1,true\n",
		"a,x,b,ok\n",
		"a,b,x,ok\n1,one,1,maybe\n",
		"a,b,x,ok\n1,one,1\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dcr_room *dr = room_for("duckdb", "SELECT count(*) AS n FROM t");
		struct dcr_room *sr = room_for("sqlite", "SELECT count(*) AS n FROM t");
		const struct input in[] = { { "t", bad[i] } };
		struct run d, s;

		run_room(&d, dr, in, 1, 0);
		run_room(&s, sr, in, 1, 0);
		assert_int_equal(d.r, DCR_EINVALID);
		assert_int_equal(s.r, DCR_EINVALID);
		assert_string_equal(d.text, s.text);
		assert_null(strstr(d.text, "SECRET"));
		dcr_room_free(dr);
		dcr_room_free(sr);
	}
}

/* ---- security: each way out, at room.create and at run time ---- */

static void refused(const char *query, const char *why)
{
	struct dcr_room *room = room_for("duckdb", query);
	struct dcr_err err;
	struct run run;

	assert_int_equal((isolated ? sql_check_isolated : duck_check_room)(dcr_room_definition(room), &err),
		DCR_EINVALID);
	if (!strstr(err.msg, why))
		fail_msg("%s\nat create: %s\nexpected: %s", query, err.msg, why);
	run_room(&run, room, both, 2, 0);
	assert_int_equal(run.r, DCR_ECOMPUTE);
	if (!strstr(run.text, why))
		fail_msg("%s\nat run: %s\nexpected: %s", query, run.text, why);
	dcr_room_free(room);
}

/*
 * Two walls: the allow-list refuses each of these queries (at create and
 * at run time), and behind it the locked database refuses them by itself.
 */
static void test_no_files_or_network(void **state)
{
	static const char *const queries[][3] = {
		{ "SELECT * FROM read_csv('/etc/passwd')", "table function 'read_csv'", "Permission Error" },
		{ "SELECT * FROM '/etc/passwd'", "does not exist", "does not exist" },
		{ "SELECT * FROM read_text('/etc/hostname')", "table function 'read_text'", "Permission Error" },
		{ "SELECT * FROM glob('/etc/*')", "table function 'glob'", "Permission Error" },
		{ "SELECT * FROM read_parquet('https://example.com/x.parquet')", "table function 'read_parquet'",
			"Permission Error" },
		{ "SELECT * FROM read_csv('https://example.com/x.csv')", "table function 'read_csv'", "Permission Error" },
		{ "SELECT * FROM query('SELECT * FROM read_csv(''/etc/passwd'')')", "table function 'query'", "Permission Error" },
		/* Functions of extensions not built in: never installed or loaded on the way. */
		{ "SELECT * FROM sqlite_scan('/tmp/dcr-duck.db', 't')", "table function 'sqlite_scan'",
			"Catalog Error" },
		{ "SELECT * FROM postgres_scan('host=example.com', 'public', 't')", "table function 'postgres_scan'",
			"Catalog Error" },
		{ "SELECT ST_Point(1, 2) AS p", "function 'st_point'", "Catalog Error" },
	};

	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		struct sql_result res;
		struct dcr_err err;

		refused(queries[i][0], queries[i][1]);
		if (isolated)
			continue;
		assert_int_equal(duck_query_locked(queries[i][0], NULL, &res, &err), DCR_ECOMPUTE);
		if (!strstr(err.msg, queries[i][2]))
			fail_msg("%s\nin the locked database: %s\nexpected: %s", queries[i][0], err.msg, queries[i][2]);
	}
}

static void test_only_one_select(void **state)
{
	refused("COPY t TO '/tmp/dcr-duck-leak.csv'", "disabled by configuration");
	refused("COPY (SELECT * FROM t) TO '/tmp/dcr-duck-leak.csv'", "disabled by configuration");
	refused("INSTALL httpfs", "one read-only SELECT");
	refused("LOAD httpfs", "one read-only SELECT");
	refused("ATTACH '/tmp/dcr-duck-leak.db' AS x", "one read-only SELECT");
	refused("ATTACH ':memory:' AS x", "one read-only SELECT");
	refused("SET enable_external_access = true", "one read-only SELECT");
	refused("PRAGMA threads = 8", "one read-only SELECT");
	refused("CREATE TABLE z AS SELECT 1", "one read-only SELECT");
	refused("INSERT INTO t VALUES (9, 'x', 1, true)", "one read-only SELECT");
	refused("SELECT 1; SELECT 2", "exactly one statement");
	refused("SELECT * FROM secret", "does not exist");
	refused("SELECT * FROM query('SET threads = 8')", "table function 'query' is not allowed");
	assert_int_equal(access("/tmp/dcr-duck-leak.csv", F_OK), -1);
	assert_int_equal(access("/tmp/dcr-duck-leak.db", F_OK), -1);
}

/* The configuration of a job's database: as dcrd set it (threads and memory as given), and locked. */
static void test_configuration(void **state)
{
	static const char settings[] =
		"SELECT current_setting('enable_external_access') AS ext, current_setting('lock_configuration') AS locked, "
		"current_setting('autoload_known_extensions') AS autoload, "
		"current_setting('autoinstall_known_extensions') AS autoinstall, current_setting('threads') AS threads, "
		"current_setting('memory_limit') AS mem, current_setting('temp_directory') AS tmp, "
		"current_setting('preserve_insertion_order') AS ordered, current_setting('TimeZone') AS tz, "
		"(SELECT count(*) FROM duckdb_databases() WHERE NOT internal) AS dbs";
	struct sql_limits lim = { .max_memory = 64 << 20, .threads = 3 };
	struct sql_result res;
	struct dcr_err err;

	if (isolated)
		skip();
	assert_int_equal(duck_query_locked(settings, &lim, &res, &err), 0);
	assert_int_equal(res.len, strlen("ext,locked,autoload,autoinstall,threads,mem,tmp,ordered,tz,dbs\n"
		"0,1,0,0,3,64.0 MiB,\"\",1,UTC,1\n"));
	assert_memory_equal(res.csv, "ext,locked,autoload,autoinstall,threads,mem,tmp,ordered,tz,dbs\n"
		"0,1,0,0,3,64.0 MiB,\"\",1,UTC,1\n", res.len);
	free(res.csv);
	lim.threads = 0;
	assert_int_equal(duck_query_locked("SELECT current_setting('threads') AS t", &lim, &res, &err), 0);
	assert_memory_equal(res.csv, "t\n1\n", res.len);
	free(res.csv);
	/* Nothing changes it, even a statement the checks of a room would refuse anyway. */
	assert_int_equal(duck_query_locked("SET threads = 8", &lim, &res, &err), DCR_ECOMPUTE);
	if (!strstr(err.msg, "Cannot change configuration option"))
		fail_msg("%s", err.msg);
	assert_int_equal(duck_query_locked("SET enable_external_access = true", &lim, &res, &err), DCR_ECOMPUTE);
	assert_int_equal(duck_query_locked("RESET threads", &lim, &res, &err), DCR_ECOMPUTE);
}

/* CSV text of the w table: n records with every type, NULLs, strings short (inlined) and long, quotes, dates. */
static char *w_csv(size_t n)
{
	size_t cap = 64 + n * 160, len;
	char *p = malloc(cap);

	assert_non_null(p);
	len = (size_t)snprintf(p, cap, "i,s,f,b,d\n");
	for (size_t k = 0; k < n; k++) {
		char s[64] = "", f[32] = "", b[8] = "", d[16] = "";

		if (k % 13 && k % 7 == 0)
			snprintf(s, sizeof(s), "\"q,\"\"%zu\"\"\"", k);
		else if (k % 13)
			snprintf(s, sizeof(s), "%.*s%zu", (int)(k % 40), "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN", k);
		if (k % 17)
			snprintf(f, sizeof(f), "%.3f", ((double)k - 2500) / 8);
		if (k % 19)
			snprintf(b, sizeof(b), "%s", k % 2 ? "true" : "false");
		if (k % 23)
			snprintf(d, sizeof(d), "%04zu-%02zu-%02zu", 1 + (k * 37) % 9999, 1 + k % 12, 1 + k % 28);
		len += (size_t)snprintf(p + len, cap - len, "%zu,%s,%s,%s,%s\n", k * 7919 % 100003, s, f, b, d);
	}
	return p;
}

/* Loaded through data chunks (several, with NULLs in each column), read back as the SQLite engine reads it. */
static void test_chunks_same_as_sqlite(void **state)
{
	static const char *const queries[] = {
		"SELECT * FROM w ORDER BY i",
		"SELECT count(*) AS n, count(s) AS s, count(f) AS f, count(b) AS b, count(d) AS d, sum(i) AS si FROM w",
		"SELECT d, count(*) AS n FROM w WHERE d IS NOT NULL GROUP BY d ORDER BY d LIMIT 50",
	};
	char *csv = w_csv(5000);
	const struct input in[] = { { "w", csv } };

	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		struct dcr_room *dr = room_for("duckdb", queries[i]), *sr = room_for("sqlite", queries[i]);
		struct run d, s;
		const char *dt = run_room(&d, dr, in, 1, 0), *st = run_room(&s, sr, in, 1, 0);

		if (d.r < 0 || s.r < 0 || strcmp(dt, st) != 0)
			fail_msg("%s\nduckdb: %.300s\nsqlite: %.300s", queries[i], dt, st);
		free(d.big);
		free(s.big);
		dcr_room_free(dr);
		dcr_room_free(sr);
	}
	free(csv);
}

/*
 * Each type read from result chunks is written as DuckDB writes it: the
 * value v and DuckDB's own v::VARCHAR on the same line must agree.
 */
static void test_chunk_types(void **state)
{
	static const char *const columns[] = {
		"(i % 256 - 128)::TINYINT",
		"(i * 10 - 32768)::SMALLINT",
		"(i * 700000 - 2147000000)::INTEGER",
		"unnest([-9223372036854775808, -1, 0, 1, 9223372036854775807]::BIGINT[])",
		"unnest([0, 255]::UTINYINT[])",
		"unnest([0, 65535]::USMALLINT[])",
		"unnest([0, 4294967295]::UINTEGER[])",
		"unnest([0, 18446744073709551615]::UBIGINT[])",
		"unnest(['-170141183460469231731687303715884105728', '-1', '0', '12345678901234567890123',"
		" '170141183460469231731687303715884105727']::HUGEINT[])",
		"(i * 12345678901 - 99999999999999999)::HUGEINT",
		"unnest(['-0.05', '0', '0.05', '-12.34', '99.99', '-99.99', '1']::DECIMAL(4,2)[])",
		"unnest(['0.123', '-0.001', '0']::DECIMAL(3,3)[])",
		"((i - 3000) / 7)::DECIMAL(9,4)",
		"((i - 3000) * 1234567.891)::DECIMAL(18,3)",
		"unnest(['-1234567890123456789012345678.0123456789', '0.0000000001', '-0.0000000001',"
		" '9999999999999999999999999999.9999999999']::DECIMAL(38,10)[])",
		"((i - 3000) * 0.001)::DECIMAL(30,5)",
		"DATE '1970-01-01' + ((i - 3000) * 997)::INTEGER",
		"unnest(['infinity', '-infinity', '0001-01-01', '9999-12-31', '10000-01-01', '0044-03-15 (BC)']::DATE[])",
		"repeat('ab', (i % 20)::INTEGER)",
		"CASE WHEN i % 3 = 0 THEN NULL ELSE i END",
		"md5(i::VARCHAR)::UUID",
		"unnest(['00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff',"
		" '7fffffff-ffff-ffff-ffff-ffffffffffff', '80000000-0000-0000-0000-000000000000',"
		" '{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}']::UUID[])",
		"unnest(['0', '1', '18446744073709551616', '340282366920938463463374607431768211455']::UHUGEINT[])",
		"i::UHUGEINT * 56713727820156410577229101238628",
	};

	for (size_t c = 0; c < sizeof(columns) / sizeof(columns[0]); c++) {
		char query[1024];
		struct dcr_room *room;
		struct run run;
		char *text, *line, *save = NULL;
		size_t lines = 0;

		snprintf(query, sizeof(query), "SELECT v, v::VARCHAR AS s FROM (SELECT %s AS v FROM range(6000) r(i))",
			columns[c]);
		room = room_for("duckdb", query);
		text = (char *)run_room(&run, room, both, 2, 0);
		if (run.r < 0)
			fail_msg("%s: %s", columns[c], text);
		for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), lines++) {
			char *comma = strchr(line, ',');

			assert_non_null(comma);
			*comma = '\0';
			if (lines > 0 && strcmp(line, comma + 1) != 0)
				fail_msg("%s, line %zu: we wrote '%s', DuckDB '%s'", columns[c], lines, line, comma + 1);
		}
		assert_true(lines > 1);
		free(run.big);
		dcr_room_free(room);
	}
}

/*
 * Text with a NUL byte, and nested types, which have no one text form: a
 * clear failure naming the column (by number) and the type, never a cut
 * or "out of memory"; the nested ones already at room.create.
 */
static void test_unwritable_results(void **state)
{
	static const char *const queries[][2] = {
		{ "SELECT chr(0) || 'tail' AS s", "computation 'q': a text value of the result holds a NUL byte" },
		{ "SELECT [a, a] AS l FROM t", "query of 'q': column 1 of the result has type LIST, which has no one form as a "
			"CSV field; cast it to VARCHAR (DuckDB's text of it) or unnest it in the query" },
		{ "SELECT a, {'k': a} AS s FROM t", "column 2 of the result has type STRUCT" },
		{ "SELECT a, b, map([a], [b]) AS m FROM t", "column 3 of the result has type MAP" },
		{ "SELECT [a, a]::BIGINT[2] AS l FROM t", "column 1 of the result has type ARRAY" },
		{ "SELECT union_value(k := a) AS u FROM t", "column 1 of the result has type UNION" },
	};

	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		struct dcr_room *room = room_for("duckdb", queries[i][0]);
		struct dcr_err err;
		struct run run;

		run_room(&run, room, both, 2, 0);
		assert_int_equal(run.r, DCR_ECOMPUTE);
		if (!strstr(run.text, queries[i][1]))
			fail_msg("%s: %s", queries[i][0], run.text);
		if (i > 0 && ((isolated ? sql_check_isolated : duck_check_room)(dcr_room_definition(room), &err) !=
		    DCR_EINVALID || !strstr(err.msg, queries[i][1])))
			fail_msg("%s: at create: %s", queries[i][0], err.msg);
		dcr_room_free(room);
	}
	/* Cast to text, DuckDB's text of it. */
	assert_string_equal(run_on(&(struct run){ 0 }, "duckdb", "SELECT [a, a]::VARCHAR AS l FROM t ORDER BY a"),
		"l\n\"[1, 1]\"\n\"[2, 2]\"\n\"[3, 3]\"\n");
}

/*
 * The result streams into the CSV as the query computes it (review R4):
 * one whose rows would take several times the worker's memory stops at
 * the result's size limit, not on memory, and a long one completes under
 * a small memory limit; a query that fails while its result streams fails
 * the job (never a result cut short).
 */
static void test_result_streams(void **state)
{
	struct sql_limits lim = { .max_memory = 16 << 20, .max_result_bytes = 1 << 20 };
	struct dcr_room *room;
	struct work_inputs in;
	struct run run;

	/* 100 M rows: 1.6 GB in DuckDB, materialized, against the worker's 16 + 256 MiB. */
	room = room_for("duckdb", "SELECT i, i + 1 AS j FROM range(100000000) r(i)");
	memset(&run, 0, sizeof(run));
	in = (struct work_inputs){ .read = read_input, .ctx = &run.in };
	run.r = (isolated ? sql_run_isolated : sql_run)(dcr_room_definition(room), "q", &in, &lim, &run.res, &run.err);
	assert_int_equal(run.r, DCR_ECOMPUTE);
	assert_string_equal(run.err.msg, "computation 'q': the result is larger than 1048576 bytes");
	dcr_room_free(room);

	room = room_for("duckdb", "SELECT i, i * 2 AS j FROM range(2000000) r(i)");
	run_room(&run, room, both, 2, 16 << 20);
	assert_int_equal(run.r, 0);
	assert_int_equal(run.res.rows, 2000000);
	assert_non_null(run.big);
	assert_true(strncmp(run.big, "i,j\n0,0\n1,2\n", 12) == 0);
	assert_non_null(strstr(run.big, "\n1999999,3999998"));
	free(run.big);
	dcr_room_free(room);

	room = room_for("duckdb", "SELECT CAST(CASE WHEN i = 1500000 THEN 'x' ELSE i::VARCHAR END AS BIGINT) AS v "
		"FROM range(2000000) r(i)");
	run_room(&run, room, both, 2, 16 << 20);
	assert_int_equal(run.r, DCR_ECOMPUTE);
	assert_string_equal(run.err.msg, "computation 'q': DuckDB: Conversion Error: [withheld: it may quote data]");
	dcr_room_free(room);
}

/* The same results with one thread and with several, for queries whose order is defined. */
static void test_threads(void **state)
{
	static const char *const queries[] = {
		"SELECT * FROM w ORDER BY i",
		"SELECT b, count(*) AS n, sum(i) AS s, min(d) AS d FROM w GROUP BY b ORDER BY b",
		/* No ORDER BY: a scan keeps the order rows were loaded in (preserve_insertion_order). */
		"SELECT i, s FROM w WHERE i % 3 = 0",
	};
	char *csv = w_csv(20000);
	const struct input in[] = { { "w", csv } };

	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		struct dcr_room *room = room_for("duckdb", queries[i]);
		struct run one, four;
		const char *a = run_room_on(&one, room, in, 1, 0, 1), *b = run_room_on(&four, room, in, 1, 0, 4);

		if (one.r < 0 || four.r < 0 || strcmp(a, b) != 0)
			fail_msg("%s\n1 thread: %.300s\n4 threads: %.300s", queries[i], a, b);
		free(one.big);
		free(four.big);
		dcr_room_free(room);
	}
	free(csv);
}

/*
 * Spilling is forbidden: a query that needs more than its memory fails, and
 * leaves no file where DuckDB would spill (its default ".tmp" in the
 * working directory, or TMPDIR).
 */
static void test_no_spill(void **state)
{
	char dir[] = "/tmp/dcr-duck-XXXXXX", cwd[4096];
	struct dcr_room *room = room_for("duckdb",
		"SELECT count(*) AS n FROM (SELECT i, md5(i::VARCHAR) AS h FROM range(3000000) r(i) ORDER BY h)");
	struct run run;
	DIR *d;
	struct dirent *e;
	size_t files = 0;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chdir(dir), 0);
	setenv("TMPDIR", dir, 1);
	run_room(&run, room, both, 2, 32 << 20);
	unsetenv("TMPDIR");
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(run.r, DCR_ECOMPUTE);
	if (!strstr(run.text, "Out of Memory"))
		fail_msg("%s", run.text);
	assert_non_null(d = opendir(dir));
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			files++;
	closedir(d);
	assert_int_equal(files, 0);
	assert_int_equal(rmdir(dir), 0);
	dcr_room_free(room);
}

/* A query that runs for hours: the worker is killed at the time limit (in this process nothing would stop it). */
static void test_time_limit(void **state)
{
	struct dcr_room *room;
	struct work_inputs in;
	struct sql_limits lim = { .time_ms = 1000 };
	struct run run;

	if (!isolated)
		skip();
	room = room_for("duckdb", "SELECT sum(hash(i)) AS h FROM range(100000000000) r(i)");
	memset(&run, 0, sizeof(run));
	in = (struct work_inputs){ .read = read_input, .ctx = &run.in };
	run.r = sql_run_isolated(dcr_room_definition(room), "q", &in, &lim, &run.res, &run.err);
	assert_int_equal(run.r, DCR_ECOMPUTE);
	assert_string_equal(run.err.msg, "computation 'q' ran out of time (the limit is 1000 ms)");
	dcr_room_free(room);
}

/* A room written for another DuckDB release runs nowhere else. */
static void test_version_pinned(void **state)
{
	struct dcr_room *room = room_for("duckdb", "SELECT 1 AS one");
	Dcr__V1__RoomDefinition *def = (Dcr__V1__RoomDefinition *)dcr_room_definition(room);
	Dcr__V1__SqlComputation *sql = def->compute[0]->sql;
	char *was = sql->engine_version;
	struct dcr_err err;
	struct run run;

	assert_string_equal(was, duck_version());
	sql->engine_version = "0.9.2";
	assert_int_equal(duck_check_room(def, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "written for DuckDB 0.9.2"));
	run_room(&run, room, both, 2, 0);
	assert_int_equal(run.r, DCR_ECOMPUTE);
	sql->engine_version = was;
	assert_string_equal(run_room(&run, room, both, 2, 0), "one\n1\n");
	dcr_room_free(room);
}

/*
 * DuckDB's messages from running a query quote the values that failed, with
 * quotes or without: none of this row's values, whole or in part, may be in
 * what the job says, only the class of the error.
 */
static void test_errors_withheld(void **state)
{
	static const char leak_csv[] = "a,b,x,ok\n3141592653,alice@secret.example,1.5,true\n";
	static const struct input leak[] = { { "t", leak_csv }, { "u", "7\n" } };
	static const char *const cases[][2] = {
		{ "SELECT sum(a::INTEGER) AS s FROM t", ": Conversion Error: [" },
		{ "SELECT sum(a * 9000000000) AS s FROM t", ": Out of Range Error: [" },
		{ "SELECT a::DECIMAL(4,1) AS d FROM t", ": Conversion Error: [" },
		{ "SELECT b::INTEGER AS e FROM t", ": Conversion Error: [" },
		{ "SELECT * FROM range((SELECT max(b)::BIGINT FROM t))", ": Conversion Error: [" },
		{ "SELECT hash(b)::INTEGER AS h FROM t", ": Conversion Error: [" },
		{ "SELECT CAST(x * 1e308 AS BIGINT) AS c FROM t", ": Conversion Error: [" },
		{ "SELECT from_hex(b) AS h FROM t", "" },
		{ "SELECT a // (a - 3141592653) AS z FROM t", "" },
	};
	static const char *const markers[] = { "3141592653", "314159", "alice", "secret", "1.5e", "e+308", "hex digit" };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dcr_room *room = room_for("duckdb", cases[i][0]);
		struct run run;

		run_room(&run, room, leak, 2, 0);
		if (run.r == 0 && i == sizeof(cases) / sizeof(cases[0]) - 1) {
			/* Integer division by zero is NULL in DuckDB: nothing to withhold. */
			dcr_room_free(room);
			continue;
		}
		assert_int_equal(run.r, DCR_ECOMPUTE);
		if (!strstr(run.err.msg, "[withheld: ") || !strstr(run.err.msg, cases[i][1]))
			fail_msg("%s: %s", cases[i][0], run.err.msg);
		for (size_t m = 0; m < sizeof(markers) / sizeof(markers[0]); m++)
			if (strstr(run.err.msg, markers[m]))
				fail_msg("%s: '%s' in %s", cases[i][0], markers[m], run.err.msg);
		dcr_room_free(room);
	}
}

/* Results do not depend on the host's time zone: dcrd's TZ is neither the worker's nor DuckDB's. */
static void test_time_zone(void **state)
{
	const char *was = getenv("TZ");
	char *keep = was ? strdup(was) : NULL;
	struct run run;

	setenv("TZ", "America/New_York", 1);
	tzset();
	run_on(&run, "duckdb", "SELECT (TIMESTAMPTZ '2024-01-01 03:00:00+00')::DATE AS day, "
		"hour(TIMESTAMPTZ '2024-01-01 03:00:00+00') AS h");
	if (keep)
		setenv("TZ", keep, 1);
	else
		unsetenv("TZ");
	tzset();
	free(keep);
	assert_string_equal(run.text, "day,h\n2024-01-01,3\n");
}

/*
 * DuckDB's memory_limit does not cover the result it materializes: the
 * worker's own limit (the job's memory and 256 MiB) stops it, and the job
 * fails, not the process that asked.
 */
static void test_worker_memory(void **state)
{
	struct dcr_room *room;
	struct rusage ru;
	struct run run;

	if (!isolated)
		skip();
	/* BLOB is read value by value, from a result DuckDB holds whole (test_result_streams has the others). */
	room = room_for("duckdb", "SELECT i, 'ab'::BLOB AS j FROM range(100000000) r(i)");
	run_room(&run, room, both, 2, 64 << 20);
	assert_int_equal(run.r, DCR_ECOMPUTE);
	if (!SANITIZED && !strstr(run.err.msg, "computation 'q': DuckDB: Out of Memory Error: [withheld"))
		fail_msg("%s", run.err.msg);
	assert_int_equal(getrusage(RUSAGE_CHILDREN, &ru), 0);
	/* ru_maxrss is in KiB: the limit, the headroom, and what the program itself maps. */
	if (!SANITIZED && ru.ru_maxrss > (64 + 256 + 64) << 10)
		fail_msg("the worker's peak RSS was %ld KiB", ru.ru_maxrss);
	dcr_room_free(room);
}

/*
 * room.create's check compiles, and DuckDB computes constants while it
 * compiles (repeat() of 800 MB here): in the worker, bounded in memory and
 * time. DuckDB gives up folding what runs out of memory, so the check
 * passes (or is refused past a bound), and the job fails at run time on
 * the worker's limit; the process asking stays small.
 */
static void test_check_bounded(void **state)
{
	struct dcr_room *room;
	struct rusage ru;
	struct dcr_err err;
	struct run run;
	int r;

	if (!isolated)
		skip();
	room = room_for("duckdb", "SELECT length(repeat('ab', 400000000)) AS n FROM t");
	/* Under AddressSanitizer DuckDB may fold it, slowly: then the 30 s bound refuses it. */
	r = sql_check_isolated(dcr_room_definition(room), &err);
	if (r < 0 && (r != DCR_EINVALID || !strstr(err.msg, "the room's duckdb queries are refused: compiling them "
		"took more than ")))
		fail_msg("%s", err.msg);
	run_room(&run, room, both, 2, 64 << 20);
	assert_int_equal(run.r, DCR_ECOMPUTE);
	if (!SANITIZED && !strstr(run.err.msg, "computation 'q': DuckDB: Out of Memory Error: [withheld"))
		fail_msg("%s", run.err.msg);
	dcr_room_free(room);
	room = room_for("duckdb", "SELECT count(*) AS n FROM t");
	assert_int_equal(sql_check_isolated(dcr_room_definition(room), &err), 0);
	dcr_room_free(room);
	room = room_for("duckdb", "SELECT count(*) AS n FROM nowhere");
	assert_int_equal(sql_check_isolated(dcr_room_definition(room), &err), DCR_EINVALID);
	if (!strstr(err.msg, "query of 'q': DuckDB: Catalog Error: Table with name nowhere does not exist"))
		fail_msg("%s", err.msg);
	dcr_room_free(room);
	assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
	if (!SANITIZED && ru.ru_maxrss > 200 << 10)
		fail_msg("this process's peak RSS was %ld KiB", ru.ru_maxrss);
}

/* What dcr checks of the key: its values, and that SQLite queries do not read duckdb computations. */
static void test_room_rules(void **state)
{
	static const char *const cases[][2] = {
		{ "  d: {type: sql, engine: duckdbb, query: SELECT 1}\n", "unknown engine 'duckdbb' (did you mean 'duckdb'?)" },
		{ "  d: {type: sql, engine: duckdb, query: SELECT a FROM t}\n  s: {type: sql, query: SELECT a FROM d}\n",
			"query of 's' reads 'd', a duckdb computation" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char yaml[2048];
		struct dcr_room *room = NULL;
		struct dcr_err err;

		snprintf(yaml, sizeof(yaml), "version: 1\nname: r\nenclave: dcrd:sim\nauthentication: {platform: true}\n"
			"participants:\n  alice@acme.example:\ndata:\n%scompute:\n%s", tables, cases[i][0]);
		assert_int_equal(dcr_room_parse("room.yaml", (const uint8_t *)yaml, strlen(yaml), ".", specs, "", &room,
			&err), DCR_EINVALID);
		if (!strstr(err.msg, cases[i][1]))
			fail_msg("%s", err.msg);
	}
}

/* ---- what a query may call ---- */

/* A query that calls or names what it may not is refused at create and at run time, naming it. */
static void test_allow_list(void **state)
{
	static const char *const queries[][2] = {
		/* different on every run */
		{ "SELECT random() AS r", "function 'random'" },
		{ "SELECT \"RANDOM\"() AS r", "function 'random'" },
		{ "SELECT uuid() AS u", "function 'uuid'" },
		{ "SELECT gen_random_uuid() AS u", "function 'gen_random_uuid'" },
		{ "SELECT now() AS t", "function 'now'" },
		{ "SELECT current_timestamp AS t", "function 'current_timestamp'" },
		{ "SELECT CURRENT_DATE AS t", "function 'CURRENT_DATE'" },
		{ "SELECT \"User\" AS t", "function 'User'" },
		{ "SELECT localtimestamp AS t", "function 'localtimestamp'" },
		{ "SELECT user AS u", "function 'user'" },
		{ "SELECT current_schema AS s", "function 'current_schema'" },
		{ "SELECT get_current_timestamp() AS t", "function 'get_current_timestamp'" },
		{ "SELECT today() AS t", "function 'today'" },
		{ "SELECT ago(INTERVAL 1 DAY) AS t", "function 'ago'" },
		{ "SELECT get_block_size('memory') AS b", "function 'get_block_size'" },
		{ "SELECT a FROM t ORDER BY random()", "function 'random'" },
		{ "SELECT a FROM t USING SAMPLE 1", "sampling" },
		{ "SELECT a FROM t TABLESAMPLE 50%", "sampling" },
		/* the environment: DuckDB, its settings, the catalog */
		{ "SELECT version() AS v", "function 'version'" },
		{ "SELECT current_setting('threads') AS t", "function 'current_setting'" },
		{ "SELECT * FROM duckdb_settings()", "table function 'duckdb_settings'" },
		{ "SELECT * FROM duckdb_functions()", "table function 'duckdb_functions'" },
		{ "SELECT * FROM duckdb_extensions()", "table function 'duckdb_extensions'" },
		{ "SELECT * FROM pragma_version()", "table function 'pragma_version'" },
		{ "SELECT * FROM pragma_database_size()", "table function 'pragma_database_size'" },
		{ "SELECT * FROM pg_settings", "DuckDB's view 'pg_settings'" },
		{ "SELECT * FROM pg_catalog.pg_settings", "a table with a schema, 'pg_settings'" },
		{ "SELECT * FROM information_schema.tables", "a table with a schema, 'tables'" },
		{ "SELECT * FROM sqlite_master", "DuckDB's view 'sqlite_master'" },
		{ "SELECT * FROM (SHOW ALL TABLES)", "a listing 'SHOW, DESCRIBE or SUMMARIZE'" },
		{ "DESCRIBE t", "a listing 'SHOW, DESCRIBE or SUMMARIZE'" },
		{ "SUMMARIZE t", "a listing 'SHOW, DESCRIBE or SUMMARIZE'" },
		{ "SELECT json_serialize_plan('SELECT current_setting(''threads'')') AS p", "function 'json_serialize_plan'" },
		{ "SELECT * FROM duckdb_tables", "DuckDB's view 'duckdb_tables'" },
		{ "SELECT * FROM memory.main.t", "a table with a schema, 't'" },
		{ "SELECT pg_catalog.abs(-1) AS a", "a function with a schema, 'abs'" },
		{ "SELECT memory.main.abs(-1) AS a", "a function with a schema, 'abs'" },
		{ "SELECT system.main.random() AS r", "function 'random'" },
		{ "SELECT current_database() AS d", "function 'current_database'" },
		{ "SELECT getvariable('x') AS v", "function 'getvariable'" },
		/* SQL from a string, which no check of the query's text would see */
		{ "SELECT * FROM query('SELECT random()')", "table function 'query'" },
		{ "SELECT * FROM query_table('t')", "table function 'query_table'" },
		{ "SELECT nextval('s') AS n", "function 'nextval'" },
		{ "SELECT setseed(0.5) AS s", "function 'setseed'" },
		/*
		 * An aggregate's raw state: exported, its bytes shown as a BLOB,
		 * a forged one cast back (length and pointer of the query's
		 * choosing) and finalized, which read and crashed the worker
		 * before the walk refused them (review R5-5).
		 */
		{ "SELECT hex(finalize(cast_to_type(unhex('40000000') || s.st[5:24], s.ex))) AS h FROM (SELECT "
			"CAST(first(b) EXPORT_STATE AS BLOB) AS st, first(b) EXPORT_STATE AS ex FROM t) s", "function 'finalize'" },
		{ "SELECT strlen(finalize(cast_to_type(unhex('0010000041414141414141414141414101000000000000000000000000000000'), "
			"first(b) EXPORT_STATE))) AS n FROM t", "function 'finalize'" },
		{ "SELECT CAST(first(b) EXPORT_STATE AS BLOB) AS st FROM t", "'EXPORT_STATE'" },
		{ "SELECT hex(CAST(bit_and(a) EXPORT_STATE AS BLOB)) AS st FROM t", "'EXPORT_STATE'" },
		{ "SELECT cast_to_type('1', a) AS c FROM t", "function 'cast_to_type'" },
		{ "SELECT replace_type(a, NULL::INTEGER, NULL::VARCHAR) AS c FROM t", "function 'replace_type'" },
		{ "SELECT combine(NULL, 1) AS c", "function 'combine'" },
		/* Refused before DuckDB prepares: folding this constant crashed the check (review R5-8). */
		{ "SELECT strlen(finalize(cast_to_type(unhex('00100000414141414141414141414141010000000000000000000000000"
			"00000'), first('x') EXPORT_STATE))) AS n", "function 'finalize'" },
	};

	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++)
		refused(queries[i][0], queries[i][1]);
}

/* What the list allows still runs: functions of every kind, windows, the listed table functions. */
static void test_allowed(void **state)
{
	struct dcr_room *room = room_for("duckdb",
		"SELECT a, abs(-a) AS ab, upper(b) AS ub, round(x, 1) AS rx, row_number() OVER (ORDER BY a DESC) AS rn, "
		"lag(a) OVER (ORDER BY a) AS prev, sum(a) OVER () AS total, (SELECT sum(r) FROM range(4) s(r)) AS r4, "
		"(SELECT count(*) FROM generate_series(1, 3)) AS g3, (SELECT max(u) FROM unnest([5, 7]) v(u)) AS u, "
		"list_sum([a, a]) AS twice, strftime(DATE '2024-01-02', '%Y') AS y "
		"FROM t ORDER BY a");
	struct run run;

	assert_string_equal(run_room(&run, room, both, 2, 0),
		"a,ab,ub,rx,rn,prev,total,r4,g3,u,twice,y\n"
		"1,1,ONE,1.5,3,,6,6,3,7,2,2024\n"
		"2,2,,,2,1,6,6,3,7,4,2024\n"
		"3,3,\"THR,EE\",-2.0,1,2,6,6,3,7,6,2024\n");
	dcr_room_free(room);
}

/* ---- the table store ---- */

static const uint8_t sealing_key[32] = { 1, 2, 3 };
static const char room_a[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char room_b[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
static const char marked_csv[] = "a,b,x,ok\n1,PLAINMARK-one,1.5,true\n2,PLAINMARK-two,,\n3,\"thr,ee\",-2,false\n";
static const char other_csv[] = "a,b,x,ok\n10,PLAINMARK-ten,0.5,true\n";

/* The names of the files in dir (not . or ..), one line each, sorted; how many. */
static size_t list_dir(const char *dir, char *out, size_t cap)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	size_t count = 0;

	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (strcmp(names[i]->d_name, ".") != 0 && strcmp(names[i]->d_name, "..") != 0) {
			snprintf(out + strlen(out), cap - strlen(out), "%s\n", names[i]->d_name);
			count++;
		}
		free(names[i]);
	}
	if (n >= 0)
		free(names);
	return count;
}

/* Whether the file at path holds needle. */
static bool file_has(const char *path, const char *needle)
{
	FILE *f = fopen(path, "rb");
	size_t n = strlen(needle), len = 0;
	char *buf = NULL;
	bool found = false;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = (size_t)ftell(f);
	rewind(f);
	assert_non_null(buf = malloc(len + 1));
	assert_int_equal(fread(buf, 1, len, f), len);
	fclose(f);
	for (size_t i = 0; !found && i + n <= len; i++)
		found = memcmp(buf + i, needle, n) == 0;
	free(buf);
	return found;
}

/* The one table file in ts's room directory (its path in path); fails when there is not exactly one. */
static void the_file(const struct table_store *ts, char *path, size_t cap)
{
	char names[1024];

	assert_int_equal(list_dir(ts->dir, names, sizeof(names)), 2); /* the file and the job's directory */
	for (char *line = strtok(names, "\n"); line; line = strtok(NULL, "\n"))
		if (strncmp(line, "job-", 4) != 0)
			snprintf(path, cap, "%s/%s", ts->dir, line);
	assert_non_null(strstr(path, ".duckdb"));
}

/* The data directory dir, which must be empty once its rooms' stores are removed, removed. */
static void data_dir_done(const char *dir)
{
	char path[2048];

	snprintf(path, sizeof(path), "%s/duckdb", dir);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* A new data directory (dir, a mkdtemp template) with room_a's table store open in ts. */
static void store_begin(char *dir, struct table_store *ts)
{
	struct dcr_err err;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(table_store_open(ts, dir, sealing_key, room_a, &err), 0);
}

/* ts closed, and room_a's store and the data directory removed. */
static void store_end(const char *dir, struct table_store *ts)
{
	struct dcr_err err;

	table_store_close(ts);
	assert_int_equal(table_store_remove_room(dir, room_a, &err), 0);
	data_dir_done(dir);
}

static const char sum_query[] = "SELECT count(*) AS n, sum(a) AS s, string_agg(b, '|' ORDER BY a) AS bs FROM t";

/*
 * A second run reads the table from the store, not the input; a new
 * dataset on the node is read again and replaces the old file; the file
 * holds no plaintext; the job's directory goes with close, the room's with
 * table_store_remove_room.
 */
static void test_store_keeps_tables(void **state)
{
	char dir[] = "/tmp/dcr-duck-store-XXXXXX", path[2048], again[2048], job[2048];
	const struct input first[] = { { "t", marked_csv } }, second[] = { { "t", other_csv } };
	struct dcr_room *room = room_for("duckdb", sum_query);
	struct table_store ts;
	struct dcr_err err;
	struct run run;

	store_begin(dir, &ts);
	store = &ts;
	assert_string_equal(run_room(&run, room, first, 1, 0), "n,s,bs\n3,6,\"PLAINMARK-one|PLAINMARK-two|thr,ee\"\n");
	assert_string_equal(run.in.read_log, "t ");
	the_file(&ts, path, sizeof(path));
	assert_false(file_has(path, "PLAINMARK"));
	assert_false(file_has(path, "thr,ee"));
	assert_string_equal(run_room(&run, room, first, 1, 0), "n,s,bs\n3,6,\"PLAINMARK-one|PLAINMARK-two|thr,ee\"\n");
	assert_string_equal(run.in.read_log, "");
	/* Republished: read again, the old file replaced. */
	assert_string_equal(run_room(&run, room, second, 1, 0), "n,s,bs\n1,10,PLAINMARK-ten\n");
	assert_string_equal(run.in.read_log, "t ");
	the_file(&ts, again, sizeof(again));
	assert_string_not_equal(path, again);
	assert_false(file_has(again, "PLAINMARK"));
	assert_string_equal(run_room(&run, room, second, 1, 0), "n,s,bs\n1,10,PLAINMARK-ten\n");
	assert_string_equal(run.in.read_log, "");
	store = NULL;
	snprintf(job, sizeof(job), "%s", ts.job);
	table_store_close(&ts);
	assert_int_equal(access(job, F_OK), -1);
	assert_int_equal(access(again, F_OK), 0);
	assert_int_equal(table_store_remove_room(dir, room_a, &err), 0);
	assert_int_equal(access(again, F_OK), -1);
	data_dir_done(dir);
	dcr_room_free(room);
}

/*
 * A store load makes nothing in the links' directory but its links and
 * the blank database, each name once: DuckDB used to delete the log's link
 * when it found it empty and make a file of its own by that name, in
 * tmpfs, with the rows in the clear (review R5-6); the job did not notice,
 * since DuckDB deleted that file again at its checkpoint.
 */
static void test_store_only_links(void **state)
{
	char dir[] = "/tmp/dcr-duck-store-XXXXXX", links[TABLE_STORE_LINKS_MAX];
	const struct input first[] = { { "t", marked_csv } };
	struct dcr_room *room = room_for("duckdb", sum_query);
	union {
		struct inotify_event ev;
		char bytes[8192];
	} buf;
	char names[64][NAME_MAX + 1];
	unsigned made[64] = { 0 }, n_names = 0, logs = 0;
	struct table_store ts;
	struct run run;
	ssize_t n;
	int fd;

	store_begin(dir, &ts);
	table_store_links(&ts, links);
	assert_true((fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) >= 0);
	/* Deletions watched too: inotify merges two creations of a name with nothing between. */
	assert_true(inotify_add_watch(fd, links, IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM) >= 0);
	store = &ts;
	assert_string_equal(run_room(&run, room, first, 1, 0), "n,s,bs\n3,6,\"PLAINMARK-one|PLAINMARK-two|thr,ee\"\n");
	store = NULL;
	assert_string_equal(run.in.read_log, "t ");
	while ((n = read(fd, buf.bytes, sizeof(buf.bytes))) > 0)
		for (size_t at = 0; at + sizeof(struct inotify_event) <= (size_t)n;) {
			struct inotify_event ev;
			const char *name = buf.bytes + at + sizeof(ev);
			unsigned k = 0;

			memcpy(&ev, buf.bytes + at, sizeof(ev));
			at += sizeof(ev) + ev.len;
			assert_false(ev.mask & IN_Q_OVERFLOW);
			assert_true(ev.len > 0);
			if (!(ev.mask & (IN_CREATE | IN_MOVED_TO)))
				continue;
			while (k < n_names && strcmp(names[k], name) != 0)
				k++;
			if (k == n_names) {
				assert_true(n_names < 64);
				snprintf(names[n_names++], sizeof(names[0]), "%s", name);
			}
			if (++made[k] > 1)
				fail_msg("'%s' was made %u times in the links' directory", name, made[k]);
			if (strstr(name, ".duckdb.wal"))
				logs++;
		}
	close(fd);
	assert_int_equal(logs, 1);
	store_end(dir, &ts);
	dcr_room_free(room);
}

/*
 * The rule of dcr-room(5) that makes the list of functions a query may
 * call, and the internal views it may not name, from DuckDB's catalog;
 * cmd/dcrd/duckdb-functions.h holds what they gave for the pinned release.
 */
static const char function_rule[] =
	"SELECT lower(function_name) AS name FROM duckdb_functions() "
	"WHERE database_name = 'system' AND schema_name = 'main' AND function_type IN ('scalar', 'aggregate', 'macro') "
	"GROUP BY name "
	"HAVING bool_and(CASE function_type WHEN 'macro' THEN NOT regexp_matches(lower(macro_definition), "
	"'current_|pragma_|duckdb_|random|uuid|now|setting|version') "
	"ELSE stability = 'CONSISTENT' AND NOT has_side_effects END) "
	"AND NOT regexp_matches(name, '^(duckdb_|pragma_|pg_|current_|has_|txid_|__internal_)') "
	"AND name NOT IN ('version', 'getvariable', 'vector_type', 'user', 'session_user', 'in_search_path', "
	"'which_secret', 'getenv', 'json_serialize_plan', 'finalize', 'combine', 'cast_to_type', 'replace_type')";
static const char view_rule[] = "SELECT DISTINCT lower(view_name) AS name FROM duckdb_views() "
	"WHERE internal AND schema_name IN ('main', 'pg_catalog')";

static int by_text(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What rule gives now, sorted, in *names (free the array and its first element). */
static size_t names_now(const char *rule, char ***names)
{
	struct sql_limits lim = { 0 };
	struct sql_result res;
	struct dcr_err err;
	size_t n = 0;
	char *text, *save = NULL;

	if (duck_query_locked(rule, &lim, &res, &err) < 0)
		fail_msg("%s", err.msg);
	text = realloc(res.csv, res.len + 1);
	assert_non_null(text);
	text[res.len] = '\0';
	assert_non_null(*names = calloc(res.len + 1, sizeof(char *)));
	strtok_r(text, "\n", &save); /* the header */
	for (char *line; (line = strtok_r(NULL, "\n", &save));) {
		/* Quoted when it holds a comma: kept as it is, never on the list then. */
		(*names)[n++] = line;
	}
	qsort(*names, n, sizeof(char *), by_text);
	(*names)[n] = text;
	return n;
}

static void print_list(const char *name, const char *count, char **names, size_t n)
{
	printf("#define %s %zu\nstatic const char *const %s[%s] = {\n", count, n, name, count);
	for (size_t i = 0; i < n; i++)
		printf("\t\"%s\",\n", names[i]);
	printf("};\n");
}

/* "test-duckwork functions": cmd/dcrd/duckdb-functions.h for the DuckDB it runs. */
static int print_lists(void)
{
	char **functions, **views;
	size_t nf = names_now(function_rule, &functions), nv = names_now(view_rule, &views);

	printf("/*\n * What a DuckDB query may call and name (cmd/dcrd/duckwork.c, check_calls),\n"
		" * for DuckDB %s: written by \"test-duckwork functions\" (tests/unit) from\n"
		" * the rules in dcr-room(5), which test-duckwork checks against the\n"
		" * DuckDB it runs. Sorted (bsearch); names in lower case.\n */\n"
		"#ifndef DCRD_DUCKDB_FUNCTIONS_H\n#define DCRD_DUCKDB_FUNCTIONS_H\n\n"
		"/* Scalar, aggregate and window functions and macros. */\n", duck_version());
	print_list("duck_functions", "DUCK_FUNCTIONS", functions, nf);
	printf("\n/* Table functions: chosen by hand, deterministic and reading nothing but their arguments. */\n"
		"#define DUCK_TABLE_FUNCTIONS 3\n"
		"static const char *const duck_table_functions[DUCK_TABLE_FUNCTIONS] = {\n"
		"\t\"generate_series\",\n\t\"range\",\n\t\"unnest\",\n};\n");
	printf("\n/* DuckDB's internal views an unqualified name finds (pg_catalog, main): never a query's table. */\n");
	print_list("duck_internal_views", "DUCK_INTERNAL_VIEWS", views, nv);
	printf("\n#endif\n");
	free(functions[nf]);
	free(functions);
	free(views[nv]);
	free(views);
	return 0;
}

static void same_list(const char *rule, const char *const *list, size_t n)
{
	char **names;
	size_t m = names_now(rule, &names);

	for (size_t i = 0; i < m || i < n; i++)
		if (i >= m || i >= n || strcmp(names[i], list[i]) != 0)
			fail_msg("cmd/dcrd/duckdb-functions.h is not what its rules give for DuckDB %s (at %zu: '%s', "
				"expected '%s'): rewrite it with \"test-duckwork functions\" and review the difference",
				duck_version(), i, i < n ? list[i] : "", i < m ? names[i] : "");
	free(names[m]);
	free(names);
}

/* The lists dcrd enforces are what the rules give for the DuckDB it runs, and sorted for bsearch. */
static void test_function_lists(void **state)
{
	/* Variables: without DuckDB the counts are 0, and a loop bound by the constant would warn (-Wtype-limits). */
	size_t n_table = DUCK_TABLE_FUNCTIONS, n_functions = DUCK_FUNCTIONS;

	if (isolated)
		skip();
	same_list(function_rule, duck_functions, DUCK_FUNCTIONS);
	same_list(view_rule, duck_internal_views, DUCK_INTERNAL_VIEWS);
	for (size_t i = 1; i < n_table; i++)
		assert_true(strcmp(duck_table_functions[i - 1], duck_table_functions[i]) < 0);
	for (size_t i = 0; i < n_functions; i++) {
		static const char *const never[] = { "random", "uuid", "now", "current_setting", "version", "nextval",
			"setseed", "get_current_timestamp", "current_date", "getvariable", "json_serialize_plan", "error",
			"today", "ago", "user", "get_block_size", "finalize", "combine", "cast_to_type", "replace_type" };

		for (size_t k = 0; k < sizeof(never) / sizeof(never[0]); k++)
			assert_string_not_equal(duck_functions[i], never[k]);
	}
}

/*
 * A file that is not the whole table the name says is loaded again: bytes
 * changed on the host, another room's file under this room's name, a load
 * cut short (no dcr_meta row).
 */
static void test_store_distrusts(void **state)
{
	char dir[] = "/tmp/dcr-duck-store-XXXXXX", path[2048], other[2048];
	const struct input first[] = { { "t", marked_csv } };
	const char *want = "n,s,bs\n3,6,\"PLAINMARK-one|PLAINMARK-two|thr,ee\"\n";
	struct dcr_room *room = room_for("duckdb", sum_query);
	struct table_store ts, tb;
	struct dcr_err err;
	struct run run;
	int fd;

	store_begin(dir, &ts);
	store = &ts;
	assert_string_equal(run_room(&run, room, first, 1, 0), want);
	the_file(&ts, path, sizeof(path));
	/* A bit flipped in every 4 KiB after DuckDB's plaintext main header. */
	assert_true((fd = open(path, O_RDWR)) >= 0);
	{
		off_t size = lseek(fd, 0, SEEK_END);
		uint8_t b;

		assert_true(size > 8192);
		for (off_t at = 4096 + 100; at < size; at += 4096) {
			assert_int_equal(pread(fd, &b, 1, at), 1);
			b ^= 0x40;
			assert_int_equal(pwrite(fd, &b, 1, at), 1);
		}
	}
	close(fd);
	assert_string_equal(run_room(&run, room, first, 1, 0), want);
	assert_string_equal(run.in.read_log, "t ");
	assert_string_equal(run_room(&run, room, first, 1, 0), want);
	assert_string_equal(run.in.read_log, "");

	/* Room b's own file, then room a's moved over it: b reads it again. */
	assert_int_equal(table_store_open(&tb, dir, sealing_key, room_b, &err), 0);
	store = &tb;
	assert_string_equal(run_room(&run, room, first, 1, 0), want);
	the_file(&tb, other, sizeof(other));
	assert_int_equal(rename(path, other), 0);
	assert_string_equal(run_room(&run, room, first, 1, 0), want);
	assert_string_equal(run.in.read_log, "t ");

	/* Cut short: the file's first half, as a write that a crash stopped would leave it. */
	{
		struct stat sb;

		assert_int_equal(stat(other, &sb), 0);
		assert_int_equal(truncate(other, sb.st_size / 2), 0);
	}
	assert_string_equal(run_room(&run, room, first, 1, 0), want);
	assert_string_equal(run.in.read_log, "t ");
	assert_string_equal(run_room(&run, room, first, 1, 0), want);
	assert_string_equal(run.in.read_log, "");
	store = NULL;
	table_store_close(&tb);
	table_store_close(&ts);
	assert_int_equal(table_store_remove_room(dir, room_a, &err), 0);
	assert_int_equal(table_store_remove_room(dir, room_b, &err), 0);
	data_dir_done(dir);
	dcr_room_free(room);
}

/*
 * With a store the query that test_no_spill cannot run still cannot
 * spill (DuckDB 1.5.6 has no secure key for its temporary files): it fails,
 * and the job's directory stays empty.
 */
static void test_store_no_spill(void **state)
{
	char dir[] = "/tmp/dcr-duck-store-XXXXXX", names[1024];
	struct dcr_room *room = room_for("duckdb",
		"SELECT count(*) AS n FROM (SELECT i, md5(i::VARCHAR) AS h FROM range(3000000) r(i) ORDER BY h)");
	struct table_store ts;
	struct run run;

	store_begin(dir, &ts);
	store = &ts;
	run_room(&run, room, both, 2, 32 << 20);
	assert_int_equal(run.r, DCR_ECOMPUTE);
	if (!strstr(run.text, "Out of Memory"))
		fail_msg("%s", run.text);
	assert_int_equal(list_dir(ts.job, names, sizeof(names)), 0);
	store = NULL;
	store_end(dir, &ts);
	dcr_room_free(room);
}

/* Table t's CSV of n rows whose text hardly compresses (32 hex digits a row): n * 56 bytes or so. */
static char *t_csv_large(size_t n, uint64_t *sum)
{
	size_t cap = 32 + n * 72, len;
	char *p = malloc(cap);
	uint64_t x = 0x9e3779b97f4a7c15u;

	assert_non_null(p);
	*sum = 0;
	len = (size_t)snprintf(p, cap, "a,b,x,ok\n");
	for (size_t k = 0; k < n; k++) {
		uint64_t h = x ^ (x >> 29);

		x = x * 6364136223846793005u + 1442695040888963407u;
		len += (size_t)snprintf(p + len, cap - len, "%zu,%016" PRIx64 "%016" PRIx64 ",%zu.5,%s\n", k, h,
			x ^ (x >> 31), k % 1000, k % 3 ? "true" : "false");
		*sum += k;
	}
	return p;
}

/*
 * A table several times the job's memory limit loads into the store and
 * is queried (issue 18's large target, small): DuckDB writes what it
 * loaded into the table's database in memory as it goes, rather than
 * holding the load in its buffer pool, which cannot spill; the next job
 * reads it from the store.
 */
static void test_store_loads_beyond_memory(void **state)
{
	char dir[] = "/tmp/dcr-duck-store-XXXXXX", want[128];
	struct dcr_room *room = room_for("duckdb", "SELECT count(*) AS n, sum(a) AS s, count(DISTINCT ok) AS k, "
		"max(length(b)) AS l FROM t");
	uint64_t sum;
	char *csv = t_csv_large(400000, &sum);
	const struct input in[] = { { "t", csv } };
	struct table_store ts;
	struct run run;

	store_begin(dir, &ts);
	store = &ts;
	snprintf(want, sizeof(want), "n,s,k,l\n400000,%" PRIu64 ",2,32\n", sum);
	/* About 22 MB of CSV, against 16 MiB of memory: twice, the second time from the store. */
	for (int i = 0; i < 2; i++) {
		run_room(&run, room, in, 1, 16 << 20);
		if (run.r < 0 || strcmp(run.text, want) != 0)
			fail_msg("run %d: %s", i + 1, run.text);
		assert_int_equal(run.in.read_log[0] == '\0', i == 1);
	}
	store = NULL;
	store_end(dir, &ts);
	dcr_room_free(room);
	free(csv);
}

/* The names and SHA-256s of the table files in dir, one line each, sorted, into out. */
static void store_files(const char *dir, char *out, size_t cap)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);

	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		char file[2048], hex[65];
		uint8_t sha[32];
		struct dcr_err err;

		if (strstr(names[i]->d_name, ".enc")) {
			snprintf(file, sizeof(file), "%s/%s", dir, names[i]->d_name);
			assert_int_equal(dcr_sha256_file(file, sha, &err), 0);
			dcr_hex(sha, sizeof(sha), hex);
			snprintf(out + strlen(out), cap - strlen(out), "%s %s\n", names[i]->d_name, hex);
		}
		free(names[i]);
	}
	if (n >= 0)
		free(names);
}

/*
 * What a query sees of the store: nothing, since the allow-list refuses
 * listing the catalogs (duckdb_databases) before any table is read, and
 * its message names no path or key of the store; and nothing a query
 * tries persists (the review's R5: profiling switched on by a SELECT,
 * checkpoints; refused too): the stored files are the same bytes after
 * it, and the next job reads them without loading.
 */
static void test_store_sees_only_its_inputs(void **state)
{
	char dir[] = "/tmp/dcr-duck-store-XXXXXX", key_hex[65], files[1024], again[1024];
	const struct input inputs[] = { { "t", marked_csv }, { "u", "7\n8\n" } };
	const char *want = "n,s,bs\n3,6,\"PLAINMARK-one|PLAINMARK-two|thr,ee\"\n";
	struct dcr_room *reads_u = room_for("duckdb", "SELECT sum(v) AS s FROM u");
	struct dcr_room *looks = room_for("duckdb",
		"SELECT (SELECT string_agg(database_name || ':' || coalesce(path, ''), ',' ORDER BY database_name) "
		"FROM duckdb_databases() WHERE NOT internal) AS dbs, current_query() AS q, (SELECT count(*) FROM t) AS n");
	struct dcr_room *meddles = room_for("duckdb",
		"SELECT (SELECT count(*) FROM enable_profiling()) + (SELECT count(*) FROM force_checkpoint()) + "
		"count(*) AS n FROM t");
	struct dcr_room *sum = room_for("duckdb", sum_query);
	struct table_store ts;
	struct run run;

	store_begin(dir, &ts);
	dcr_hex(ts.key, sizeof(ts.key), key_hex);
	store = &ts;
	assert_string_equal(run_room(&run, reads_u, inputs, 2, 0), "s\n15\n");
	/* The allow-list refuses the listing before the query sees any catalog, and says nothing of the store. */
	run_room(&run, looks, inputs, 2, 0);
	assert_int_equal(run.r, DCR_ECOMPUTE);
	if (!strstr(run.text, "'duckdb_databases' is not allowed") || strstr(run.text, "store-") ||
	    strstr(run.text, dir) || strstr(run.text, key_hex) || strstr(run.text, ".duckdb"))
		fail_msg("%s", run.text);
	assert_string_equal(run.in.read_log, "");
	assert_string_equal(run_room(&run, sum, inputs, 2, 0), want);
	assert_string_equal(run.in.read_log, "t "); /* the refused query loaded nothing */
	store_files(ts.dir, files, sizeof(files));
	assert_non_null(strchr(strchr(files, '\n') + 1, '\n')); /* t's and u's */
	run_room(&run, meddles, inputs, 2, 0);
	assert_int_equal(run.r, DCR_ECOMPUTE);
	if (!strstr(run.text, "force_checkpoint") && !strstr(run.text, "enable_profiling"))
		fail_msg("%s", run.text);
	store_files(ts.dir, again, sizeof(again));
	assert_string_equal(files, again);
	assert_string_equal(run_room(&run, sum, inputs, 2, 0), want);
	assert_string_equal(run.in.read_log, "");
	store = NULL;
	store_end(dir, &ts);
	dcr_room_free(reads_u);
	dcr_room_free(looks);
	dcr_room_free(meddles);
	dcr_room_free(sum);
}

/* What watch_worker saw of this process's children (the SQL worker) until stop. */
struct watch {
	volatile bool stop;
	bool confined;        /* a child with a seccomp filter */
	int key_found;        /* ... whose writable memory holds ts's key: 1, 0, or -1 (cannot be read) */
	bool allocator;       /* ... and DuckDB's jemalloc told to give freed memory back (its environment) */
	const struct table_store *ts;
};

/* Whether pid's writable memory (mappings up to 256 MiB) holds key: 1, 0, or -1 when it cannot be read. */
static int memory_holds(const char *pid, const uint8_t key[static 32])
{
	static uint8_t buf[(1 << 20) + 32];
	char path[64], line[512];
	unsigned long lo, hi;
	char perms[8];
	FILE *maps;
	int mem, found = 0, read_any = 0;

	snprintf(path, sizeof(path), "/proc/%.20s/maps", pid);
	if (!(maps = fopen(path, "r")))
		return -1;
	snprintf(path, sizeof(path), "/proc/%.20s/mem", pid);
	if ((mem = open(path, O_RDONLY)) < 0) {
		fclose(maps);
		return -1;
	}
	while (!found && fgets(line, sizeof(line), maps)) {
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || perms[0] != 'r' || perms[1] != 'w' ||
		    hi - lo > (256ul << 20))
			continue;
		for (unsigned long at = lo; !found && at < hi; at += 1 << 20) {
			size_t want = hi - at < (1ul << 20) + 32 ? hi - at : (1ul << 20) + 32;
			ssize_t n = pread(mem, buf, want, (off_t)at);

			read_any |= n > 0;
			for (ssize_t i = 0; !found && i + 32 <= n; i++)
				found = buf[i] == key[0] && memcmp(buf + i, key, 32) == 0;
		}
	}
	close(mem);
	fclose(maps);
	return found ? 1 : read_any ? 0 : -1;
}

static bool store_has_table(const struct table_store *ts)
{
	char names[1024];

	return list_dir(ts->dir, names, sizeof(names)) == 2 && strstr(names, ".duckdb.enc");
}

static void *watch_worker(void *arg)
{
	struct watch *w = arg;
	char parent[32];

	snprintf(parent, sizeof(parent), "\nPPid:\t%ld\n", (long)getpid());
	while (!w->stop && !w->confined) {
		DIR *proc = opendir("/proc");
		struct dirent *e;

		while (proc && (e = readdir(proc)) && !w->confined) {
			char path[300], status[8192];
			FILE *f;
			size_t n;

			if (e->d_name[0] < '1' || e->d_name[0] > '9')
				continue;
			snprintf(path, sizeof(path), "/proc/%s/status", e->d_name);
			if (!(f = fopen(path, "r")))
				continue;
			n = fread(status, 1, sizeof(status) - 1, f);
			fclose(f);
			status[n] = '\0';
			/* Both filters: the loading stage's and the full one. */
			if (strstr(status, parent) && strstr(status, "\nSeccomp_filters:\t2\n")) {
				w->key_found = memory_holds(e->d_name, w->ts->key);
				w->confined = true;
				snprintf(path, sizeof(path), "/proc/%s/environ", e->d_name);
				if ((f = fopen(path, "r"))) {
					n = fread(status, 1, sizeof(status) - 1, f);
					fclose(f);
					/* NUL-separated: "A=1\0B=2\0" */
					for (size_t at = 0; at < n; at += strlen(status + at) + 1)
						w->allocator |= strcmp(status + at, "DUCKDB_JE_MALLOC_CONF=retain:false") == 0;
				}
			}
		}
		if (proc)
			closedir(proc);
		nanosleep(&(struct timespec){ .tv_nsec = 5000000 }, NULL);
	}
	return NULL;
}

/*
 * A load-time probe (review R5-1): when the worker of a job with the
 * store asks for a table's CSV, which it parses and appends before its
 * full confinement, it already has one seccomp filter (the first stage:
 * no program, socket or signal; the full one comes second), and the load
 * still works.
 */
static void test_store_load_confined(void **state)
{
	char dir[] = "/tmp/dcr-duck-store-XXXXXX";
	const struct input first[] = { { "t", marked_csv } };
	struct dcr_room *room;
	struct table_store ts;
	struct run run;
	int mode = -1;

	if (!isolated)
		skip();
	room = room_for("duckdb", sum_query);
	store_begin(dir, &ts);
	store = &ts;
	asker_seccomp = &mode;
	run_room(&run, room, first, 1, 0);
	asker_seccomp = NULL;
	store = NULL;
	if (run.r < 0)
		fail_msg("%s", run.text);
	assert_string_equal(run.in.read_log, "t ");
	assert_int_equal(mode, 1);
	store_end(dir, &ts);
	dcr_room_free(room);
}

/*
 * A query-time probe: while a query on a stored table runs (until its
 * time limit), the worker has its seccomp filter (the table, small, is
 * in its memory; a keeper process that never runs the query writes the
 * store's copy meanwhile: duckwork.c, "writing the store while the query
 * runs"); the room's
 * table key is no longer in the worker's memory (review R5-3: it opens
 * every table file of the room), and its environment tells DuckDB's
 * allocator to unmap what it frees (retained, it counts against
 * RLIMIT_DATA: the 2 GiB load of tests/bench/duckdb-large-bench.sh failed
 * at 512 MiB by it).
 */
static void test_store_confined_query(void **state)
{
	char dir[] = "/tmp/dcr-duck-store-XXXXXX";
	const struct input first[] = { { "t", marked_csv } };
	struct dcr_room *room;
	struct sql_limits lim = { .time_ms = 20000 };
	struct table_store ts;
	struct work_inputs in;
	struct watch w = { 0 };
	struct run run;
	pthread_t watcher;

	if (!isolated)
		skip();
	room = room_for("duckdb", "SELECT sum(hash(i + a)) AS h FROM t, range(100000000000) r(i)");
	store_begin(dir, &ts);
	memset(&run, 0, sizeof(run));
	run.in.items = first;
	run.in.n = 1;
	in = (struct work_inputs){ .read = read_input, .ctx = &run.in, .identify = identify_input, .store = &ts };
	w.ts = &ts;
	assert_int_equal(pthread_create(&watcher, NULL, watch_worker, &w), 0);
	run.r = sql_run_isolated(dcr_room_definition(room), "q", &in, &lim, &run.res, &run.err);
	w.stop = true;
	assert_int_equal(pthread_join(watcher, NULL), 0);
	assert_int_equal(run.r, DCR_ECOMPUTE);
	assert_string_equal(run.err.msg, "computation 'q' ran out of time (the limit is 20000 ms)");
	assert_true(w.confined);
	if (w.key_found < 0)
		fprintf(stderr, "NOTE: the worker's memory cannot be read here: not checked for the table key\n");
	assert_int_not_equal(w.key_found, 1);
	assert_true(w.allocator);
	store_end(dir, &ts);
	dcr_room_free(room);
}

/*
 * sum_query through sql_run_warm (key "kept") on items with the table
 * store ts: its result's text. With async, as dcrd runs its jobs: with
 * in.keeping, the answer first and the worker's KEPT later, in
 * sql_keep_finish (which must return 0).
 */
static const char *run_kept_as(struct run *run, struct dcr_room *room, struct table_store *ts,
	const struct input *items, bool async)
{
	struct sql_keeping *k = NULL;
	struct work_inputs in = { .read = read_input, .ctx = &run->in, .identify = identify_input, .store = ts,
		.keeping = async ? &k : NULL };
	struct sql_limits lim = { .time_ms = 60000 };
	struct dcr_err err;

	memset(run, 0, sizeof(*run));
	run->in.items = items;
	run->in.n = 1;
	run->r = sql_run_warm("kept", dcr_room_definition(room), "q", &in, &lim, &run->res, &run->err);
	if (run->r < 0)
		snprintf(run->text, sizeof(run->text), "ERROR: %s", run->err.msg);
	else
		snprintf(run->text, sizeof(run->text), "%.*s", (int)run->res.len, (const char *)run->res.csv);
	free(run->res.csv);
	if (async)
		assert_int_equal(sql_keep_finish(k, &err), 0);
	return run->text;
}

static const char *run_kept(struct run *run, struct dcr_room *room, struct table_store *ts, const struct input *items)
{
	return run_kept_as(run, room, ts, items, false);
}

/*
 * A worker kept after a duckdb job holds its tables (duck_held): the next
 * job of its key reads nothing, neither the input nor the store (the
 * store's file removed meanwhile); when the dataset identified for a table
 * it holds differs, the job runs in a new worker on the new data (MSG_ANEW)
 * and that one is kept; so does a job of another room (its store's room
 * ID) given to it under the same key; sql_pool_end_room ends it.
 */
static void test_store_kept_worker(void **state)
{
	char dir[] = "/tmp/dcr-duck-store-XXXXXX", path[2048], aside[2100];
	const struct input first[] = { { "t", marked_csv } }, second[] = { { "t", other_csv } };
	const char *want1 = "n,s,bs\n3,6,\"PLAINMARK-one|PLAINMARK-two|thr,ee\"\n", *want2 = "n,s,bs\n1,10,PLAINMARK-ten\n";
	struct dcr_room *room;
	struct table_store ts, tb;
	struct dcr_err err;
	struct run run;

	if (!isolated)
		skip();
	room = room_for("duckdb", sum_query);
	assert_int_equal(sql_pool_start(60000, 60000, 100, &err), 0);
	store_begin(dir, &ts);
	assert_string_equal(run_kept(&run, room, &ts, first), want1);
	assert_string_equal(run.in.read_log, "t ");
	assert_int_equal(sql_pool_idle(), 1);
	/* The store's file gone: the kept worker still answers, from what it holds. */
	the_file(&ts, path, sizeof(path));
	snprintf(aside, sizeof(aside), "%s.aside", path);
	assert_int_equal(rename(path, aside), 0);
	assert_string_equal(run_kept(&run, room, &ts, first), want1);
	assert_string_equal(run.in.read_log, "");
	assert_int_equal(sql_pool_idle(), 1);
	assert_int_equal(rename(aside, path), 0);
	/* Another dataset identified for t: a new worker loads it (the old one's answer would be want1). */
	assert_string_equal(run_kept(&run, room, &ts, second), want2);
	assert_string_equal(run.in.read_log, "t ");
	assert_int_equal(sql_pool_idle(), 1);
	assert_string_equal(run_kept(&run, room, &ts, second), want2);
	assert_string_equal(run.in.read_log, "");
	/* The same dataset in another room's store: not the held database's room, a new worker loads it. */
	assert_int_equal(table_store_open(&tb, dir, sealing_key, room_b, &err), 0);
	assert_string_equal(run_kept(&run, room, &tb, second), want2);
	assert_string_equal(run.in.read_log, "t ");
	assert_int_equal(sql_pool_idle(), 1);
	sql_pool_end_room(room_a);
	assert_int_equal(sql_pool_idle(), 1);
	sql_pool_end_room(room_b);
	assert_int_equal(sql_pool_idle(), 0);
	sql_pool_stop();
	table_store_close(&ts);
	table_store_close(&tb);
	assert_int_equal(table_store_remove_room(dir, room_a, &err), 0);
	assert_int_equal(table_store_remove_room(dir, room_b, &err), 0);
	data_dir_done(dir);
	dcr_room_free(room);
}

/* Whether what this process writes to stderr while job runs includes line (which also goes to stderr). */
static bool logs(void (*job)(void *), void *arg, const char *line)
{
	char path[] = "/tmp/dcr-duck-log-XXXXXX", buf[8192];
	int fd = mkstemp(path), saved = dup(2);
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0);
	assert_int_equal(unlink(path), 0);
	fflush(stderr);
	assert_int_equal(dup2(fd, 2), 2);
	job(arg);
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
	fputs(buf, stderr);
	return strstr(buf, line) != NULL;
}

struct kept_job {
	struct run *run;
	struct dcr_room *room;
	struct table_store *ts;
	const struct input *items;
	bool async;
};

static void kept_job(void *arg)
{
	struct kept_job *j = arg;

	run_kept_as(j->run, j->room, j->ts, j->items, j->async);
}

/*
 * A table store whose directory does not end in a room ID (here "ROOM/")
 * names no room (table_store_room, review M-3): its worker holds nothing
 * and is not kept, where "" on both sides once compared equal.
 */
static void test_store_not_a_room(void **state)
{
	char dir[] = "/tmp/dcr-duck-store-XXXXXX";
	const struct input first[] = { { "t", marked_csv } };
	const char *want = "n,s,bs\n3,6,\"PLAINMARK-one|PLAINMARK-two|thr,ee\"\n";
	struct dcr_room *room;
	struct table_store ts;
	struct dcr_err err;
	struct run run;

	if (!isolated)
		skip();
	room = room_for("duckdb", sum_query);
	assert_int_equal(sql_pool_start(60000, 60000, 100, &err), 0);
	store_begin(dir, &ts);
	assert_non_null(table_store_room(&ts));
	assert_string_equal(table_store_room(&ts), room_a);
	assert_true(strlen(ts.dir) + 1 < sizeof(ts.dir));
	strcat(ts.dir, "/");
	assert_null(table_store_room(&ts));
	assert_string_equal(run_kept(&run, room, &ts, first), want);
	assert_int_equal(sql_pool_idle(), 0);
	sql_pool_stop();
	store_end(dir, &ts);
	dcr_room_free(room);
}

/*
 * A held database serves only a definition with its data nodes where it
 * holds a table (review M-2): a job of the same room ID (as this test
 * makes them, not as dcrd does), key and computation whose definition
 * names u s0 runs in a new worker. Its nodes sorted (s0, secret, t, w),
 * the held one would identify secret for the table it holds as t (index
 * 1), and fail; with more nodes, it would read past its arrays.
 */
static void test_store_held_other_nodes(void **state)
{
	char dir[] = "/tmp/dcr-duck-store-XXXXXX";
	const struct input first[] = { { "t", marked_csv } };
	const char *want = "n,s,bs\n3,6,\"PLAINMARK-one|PLAINMARK-two|thr,ee\"\n";
	const char *u = strstr(tables, "  u:\n");
	char data[sizeof(tables) + 8];
	struct dcr_room *room, *other;
	struct table_store ts;
	struct dcr_err err;
	struct run run;

	if (!isolated)
		skip();
	assert_non_null(u);
	snprintf(data, sizeof(data), "%.*s  s0:\n%s", (int)(u - tables), tables, u + strlen("  u:\n"));
	room = room_for("duckdb", sum_query);
	other = room_with(data, "duckdb", sum_query);
	assert_int_equal(sql_pool_start(60000, 60000, 100, &err), 0);
	store_begin(dir, &ts);
	assert_string_equal(run_kept(&run, room, &ts, first), want);
	assert_int_equal(sql_pool_idle(), 1);
	assert_string_equal(run_kept(&run, other, &ts, first), want);
	assert_int_equal(sql_pool_idle(), 1);
	sql_pool_stop();
	store_end(dir, &ts);
	dcr_room_free(room);
	dcr_room_free(other);
}

/*
 * A worker whose tables in memory could not be compressed after its answer
 * (duck_keep's CHECKPOINT, failed by a fault of this test's build: the
 * query names checkpoint_fails) holds no database: its KEPT says so and
 * dcrd ends it rather than keeping it idle to answer ANEW. The tables are
 * in the store all the same: the next job reads them there. So on dcrd's
 * own path (in.keeping, sql_keep_finish), where a worker that holds them
 * is kept.
 */
static void test_store_not_compressed(void **state)
{
	char dir[] = "/tmp/dcr-duck-store-XXXXXX";
	const struct input first[] = { { "t", marked_csv } };
	const char *want = "n,s,bs\n3,6,\"PLAINMARK-one|PLAINMARK-two|thr,ee\"\n";
	const char *not_held = "dcrd: a SQL worker allowed to hold its computation's tables did not";
	struct dcr_room *room;
	struct table_store ts, tb;
	struct dcr_err err;
	struct run run;

	if (!isolated)
		skip();
	room = room_for("duckdb", "SELECT count(*) AS checkpoint_fails FROM t");
	assert_int_equal(sql_pool_start(60000, 60000, 100, &err), 0);
	store_begin(dir, &ts);
	assert_true(logs(kept_job, &(struct kept_job){ &run, room, &ts, first, false }, not_held));
	assert_string_equal(run.text, "checkpoint_fails\n3\n");
	assert_string_equal(run.in.read_log, "t ");
	assert_int_equal(sql_pool_idle(), 0);
	assert_string_equal(run_kept(&run, room, &ts, first), "checkpoint_fails\n3\n");
	assert_string_equal(run.in.read_log, "");
	sql_pool_stop();
	/* dcrd's own path (sql_keep_finish), its tables in memory (a new store): not held, not kept; held, kept. */
	assert_int_equal(sql_pool_start(60000, 60000, 100, &err), 0);
	assert_int_equal(table_store_open(&tb, dir, sealing_key, room_b, &err), 0);
	assert_true(logs(kept_job, &(struct kept_job){ &run, room, &tb, first, true }, not_held));
	assert_string_equal(run.text, "checkpoint_fails\n3\n");
	assert_string_equal(run.in.read_log, "t ");
	assert_int_equal(sql_pool_idle(), 0);
	table_store_close(&tb);
	assert_int_equal(table_store_remove_room(dir, room_b, &err), 0);
	dcr_room_free(room);
	room = room_for("duckdb", sum_query);
	assert_int_equal(table_store_open(&tb, dir, sealing_key, room_b, &err), 0);
	assert_false(logs(kept_job, &(struct kept_job){ &run, room, &tb, first, true }, not_held));
	assert_string_equal(run.text, want);
	assert_string_equal(run.in.read_log, "t ");
	assert_int_equal(sql_pool_idle(), 1);
	sql_pool_stop();
	table_store_close(&tb);
	assert_int_equal(table_store_remove_room(dir, room_b, &err), 0);
	store_end(dir, &ts);
	dcr_room_free(room);
}

/* rows one-digit values (row i: i * stride mod 10), a line each: 2 bytes of CSV, 8 of a BIGINT in memory. */
static char *digits_csv(size_t rows, size_t stride)
{
	char *csv = malloc(2 * rows + 1);

	assert_non_null(csv);
	for (size_t i = 0; i < rows; i++) {
		csv[2 * i] = (char)('0' + i * stride % 10);
		csv[2 * i + 1] = '\n';
	}
	csv[2 * rows] = '\0';
	return csv;
}

/*
 * The job run in a worker with a new table store, as many times as it
 * takes (runs) until want comes back and the table is in the store, then
 * once more, which reads it from there rather than the input.
 */
static void kept_after(struct dcr_room *room, const struct input *items, size_t n, uint64_t max_memory, int runs,
	const char *want)
{
	char dir[] = "/tmp/dcr-duck-store-XXXXXX";
	struct table_store ts;
	struct run run;

	store_begin(dir, &ts);
	store = &ts;
	for (int k = 0; k < runs; k++)
		assert_string_equal(run_room(&run, room, items, n, max_memory), want);
	assert_true(store_has_table(&ts));
	assert_string_equal(run_room(&run, room, items, n, max_memory), want);
	assert_string_equal(run.in.read_log, "");
	store = NULL;
	store_end(dir, &ts);
}

/*
 * A table small enough to be loaded in memory first (a third of the
 * memory limit: duckwork.c, later_fits) that DuckDB cannot hold there
 * after all (one-digit values: 2 bytes of CSV, 8 of BIGINT): the worker
 * loads it into the store instead, as it does a larger one, and the job
 * succeeds. In this process (no store) the same load runs out of memory,
 * which shows that the job went the other way.
 */
static void test_store_falls_back(void **state)
{
	const size_t rows = 5000000;
	char *csv;
	struct dcr_room *room;
	struct run run;

	if (!isolated)
		skip();
	csv = digits_csv(rows, 1);
	{
		const struct input items[] = { { "u", csv } };

		room = room_for("duckdb", "SELECT sum(v) AS s, count(*) AS n FROM u");
		assert_true(2 * rows <= (UINT64_C(32) << 20) / 3);
		isolated = false;
		run_room(&run, room, items, 1, 32 << 20);
		isolated = true;
		if (run.r != DCR_ECOMPUTE || !strstr(run.text, "could not allocate"))
			fail_msg("in memory: %s", run.text);
		kept_after(room, items, 1, 32 << 20, 1, "s,n\n22500000,5000000\n");
	}
	dcr_room_free(room);
	free(csv);
}

/*
 * A first run whose query needs the memory that its table, loaded in
 * memory, holds (review D6-1: main's store-first load left it to the
 * query): the worker says so (MSG_AGAIN) and dcrd runs the job again with
 * every table in the store first, so it succeeds as it did before; the
 * table is kept, and the next run reads it from there.
 */
static void test_store_query_needs_memory(void **state)
{
	struct dcr_room *room;
	uint64_t sum;
	char *csv;

	if (!isolated)
		skip();
	csv = t_csv_large(90000, &sum);
	{
		const struct input in[] = { { "t", csv } };

		room = room_for("duckdb", "SELECT count(*) AS n FROM t t1 JOIN t t2 ON t1.b = t2.b");
		kept_after(room, in, 1, 16 << 20, 1, "n\n90000\n");
	}
	dcr_room_free(room);
	free(csv);
}

/*
 * A table that loads in memory but leaves its keeper (and the query) too
 * little of the job's memory, shared between them (review D6-2, D6-3):
 * every run answers, and the table ends up kept all the same (dcrd then
 * loads this room's tables into the store first).
 */
static void test_store_keeper_memory(void **state)
{
	char *csv;
	struct dcr_room *room;

	if (!isolated)
		skip();
	csv = digits_csv(3000000, 7919);
	{
		const struct input items[] = { { "u", csv } };

		room = room_for("duckdb", "SELECT sum(v) AS s, count(*) AS n FROM u");
		kept_after(room, items, 1, 32 << 20, 2, "s,n\n13500000,3000000\n");
	}
	dcr_room_free(room);
	free(csv);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_as_sqlite),
		cmocka_unit_test(test_reads_what_it_needs),
		cmocka_unit_test(test_same_verdicts),
		cmocka_unit_test(test_no_files_or_network),
		cmocka_unit_test(test_only_one_select),
		cmocka_unit_test(test_configuration),
		cmocka_unit_test(test_chunks_same_as_sqlite),
		cmocka_unit_test(test_chunk_types),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_unwritable_results),
		cmocka_unit_test(test_result_streams),
		cmocka_unit_test(test_allow_list),
		cmocka_unit_test(test_allowed),
		cmocka_unit_test(test_function_lists),
		cmocka_unit_test(test_no_spill),
		cmocka_unit_test(test_version_pinned),
		cmocka_unit_test(test_room_rules),
		cmocka_unit_test(test_time_limit),
		cmocka_unit_test(test_errors_withheld),
		cmocka_unit_test(test_time_zone),
		cmocka_unit_test(test_worker_memory),
		cmocka_unit_test(test_check_bounded),
		cmocka_unit_test(test_store_keeps_tables),
		cmocka_unit_test(test_store_only_links),
		cmocka_unit_test(test_store_distrusts),
		cmocka_unit_test(test_store_no_spill),
		cmocka_unit_test(test_store_loads_beyond_memory),
		cmocka_unit_test(test_store_sees_only_its_inputs),
		cmocka_unit_test(test_store_load_confined),
		cmocka_unit_test(test_store_confined_query),
		cmocka_unit_test(test_store_falls_back),
		cmocka_unit_test(test_store_query_needs_memory),
		cmocka_unit_test(test_store_keeper_memory),
		cmocka_unit_test(test_store_kept_worker),
		cmocka_unit_test(test_store_not_a_room),
		cmocka_unit_test(test_store_held_other_nodes),
		cmocka_unit_test(test_store_not_compressed),
	};
	int failed;

	if (argc > 1 && strcmp(argv[1], "sql-worker") == 0)
		return sql_worker_main(argc - 1, argv + 1);
	if (!duck_version()) {
		fprintf(stderr, "built without DuckDB\n");
		return 77;
	}
	if (argc > 1 && strcmp(argv[1], "functions") == 0)
		return print_lists();
	failed = cmocka_run_group_tests_name("in this process", tests, setup, teardown);
	isolated = true;
	return failed + cmocka_run_group_tests_name("in a worker process", tests, setup, teardown);
}
