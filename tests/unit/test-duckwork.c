/*
 * Unit tests for cmd/dcrd/duckwork.c: SQL computations with engine duckdb,
 * run as dcrd runs them (sql_run_isolated: a worker process) and in this
 * process; each way out of the inputs tried by a query, at room.create
 * (duck_check_room) and at run time. Skipped (77) in a build without DuckDB.
 */
#include <dirent.h>
#include <sys/resource.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "room.h"
#include "specs.h"
#include "sql.h"
#include "work.h"

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

/* Feeds each input in pieces of 7 bytes. */
static int read_input(void *ctx, const char *node, dcr_stream_sink *sink, void *sink_ctx, struct dcr_err *err)
{
	struct inputs *in = ctx;

	snprintf(in->read_log + strlen(in->read_log), sizeof(in->read_log) - strlen(in->read_log), "%s ", node);
	for (size_t i = 0; i < in->n; i++) {
		size_t len = strlen(in->items[i].csv);

		if (strcmp(in->items[i].node, node) != 0)
			continue;
		for (size_t at = 0; at < len; at += 7) {
			int r = sink(sink_ctx, (const uint8_t *)in->items[i].csv + at, len - at < 7 ? len - at : 7, err);

			if (r < 0)
				return r;
		}
		return 0;
	}
	return dcr_err_set(err, DCR_ENOTFOUND, "nothing is published to node '%s'", node);
}

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
	"    privacy: {min_group_size: 2, identity: k}\n";

static const char t_csv[] = "a,b,x,ok\n1,one,1.5,true\n2,,,\n3,\"thr,ee\",-2,false\n";

/* A room whose computation q runs query on engine (duckdb or sqlite). */
static struct dcr_room *room_for(const char *engine, const char *query)
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
		"      %s\n", tables, engine, query);
	if (dcr_room_parse("room.yaml", (const uint8_t *)yaml, strlen(yaml), ".", specs, "", &room, &err) < 0)
		fail_msg("room does not parse: %s", err.msg);
	return room;
}

struct run {
	struct sql_result res;
	struct dcr_err err;
	struct inputs in;
	int r;
	char text[4096];
};

static const char *run_room(struct run *run, struct dcr_room *room, const struct input *items, size_t n,
	uint64_t max_memory)
{
	struct work_inputs in = { read_input, &run->in };
	struct sql_limits lim = { .max_memory = max_memory };

	memset(run, 0, sizeof(*run));
	run->in.items = items;
	run->in.n = n;
	run->r = (isolated ? sql_run_isolated : sql_run)(dcr_room_definition(room), "q", &in, &lim, &run->res,
		&run->err);
	if (run->r < 0) {
		assert_int_equal(run->r, run->err.code);
		assert_null(run->res.csv);
		snprintf(run->text, sizeof(run->text), "ERROR: %s", run->err.msg);
	} else {
		assert_true(run->res.len < sizeof(run->text));
		memcpy(run->text, run->res.csv, run->res.len);
		run->text[run->res.len] = '\0';
		free(run->res.csv);
	}
	return run->text;
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

static void test_no_files_or_network(void **state)
{
	refused("SELECT * FROM read_csv('/etc/passwd')", "disabled");
	refused("SELECT * FROM '/etc/passwd'", "does not exist");
	refused("SELECT * FROM read_text('/etc/hostname')", "disabled");
	refused("SELECT * FROM glob('/etc/*')", "disabled");
	refused("SELECT * FROM read_parquet('https://example.com/x.parquet')", "disabled");
	refused("SELECT * FROM read_csv('https://example.com/x.csv')", "disabled");
	refused("SELECT * FROM query('SELECT * FROM read_csv(''/etc/passwd'')')", "disabled");
	/* Functions of extensions not built in: never installed or loaded on the way. */
	refused("SELECT * FROM sqlite_scan('/tmp/dcr-duck.db', 't')", "exists in the sqlite_scanner extension");
	refused("SELECT * FROM postgres_scan('host=example.com', 'public', 't')", "exists in the postgres_scanner extension");
	refused("SELECT ST_Point(1, 2) AS p", "exists in the spatial extension");
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
	refused("SELECT * FROM query('SET threads = 8')", "Expected a single SELECT statement");
	assert_int_equal(access("/tmp/dcr-duck-leak.csv", F_OK), -1);
	assert_int_equal(access("/tmp/dcr-duck-leak.db", F_OK), -1);
}

/* What the query sees of the configuration: locked, and as dcrd set it. */
static void test_configuration(void **state)
{
	struct dcr_room *room = room_for("duckdb",
		"SELECT current_setting('enable_external_access') AS ext, current_setting('lock_configuration') AS locked, "
		"current_setting('autoload_known_extensions') AS autoload, "
		"current_setting('autoinstall_known_extensions') AS autoinstall, current_setting('threads') AS threads, "
		"current_setting('memory_limit') AS mem, current_setting('temp_directory') AS tmp, "
		"(SELECT count(*) FROM duckdb_databases() WHERE NOT internal) AS dbs");
	struct run run;

	assert_string_equal(run_room(&run, room, both, 2, 64 << 20),
		"ext,locked,autoload,autoinstall,threads,mem,tmp,dbs\n0,1,0,0,1,64.0 MiB,\"\",1\n");
	dcr_room_free(room);
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
	in = (struct work_inputs){ read_input, &run.in };
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
		{ "SELECT error(b) AS e FROM t", ": Invalid Input Error: [" },
		{ "SELECT * FROM range((SELECT error(max(b)) FROM t))", ": Invalid Input Error: [" },
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
	run_on(&run, "duckdb", "SELECT current_setting('TimeZone') AS tz, "
		"(TIMESTAMPTZ '2024-01-01 03:00:00+00')::DATE AS day, hour(TIMESTAMPTZ '2024-01-01 03:00:00+00') AS h");
	if (keep)
		setenv("TZ", keep, 1);
	else
		unsetenv("TZ");
	tzset();
	free(keep);
	assert_string_equal(run.text, "tz,day,h\nUTC,2024-01-01,3\n");
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
	room = room_for("duckdb", "SELECT i, i + 1 AS j FROM range(100000000) r(i)");
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

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_as_sqlite),
		cmocka_unit_test(test_reads_what_it_needs),
		cmocka_unit_test(test_same_verdicts),
		cmocka_unit_test(test_no_files_or_network),
		cmocka_unit_test(test_only_one_select),
		cmocka_unit_test(test_configuration),
		cmocka_unit_test(test_no_spill),
		cmocka_unit_test(test_version_pinned),
		cmocka_unit_test(test_room_rules),
		cmocka_unit_test(test_time_limit),
		cmocka_unit_test(test_errors_withheld),
		cmocka_unit_test(test_time_zone),
		cmocka_unit_test(test_worker_memory),
		cmocka_unit_test(test_check_bounded),
	};
	int failed;

	if (argc > 1 && strcmp(argv[1], "sql-worker") == 0)
		return sql_worker_main(argc - 1, argv + 1);
	if (!duck_version()) {
		fprintf(stderr, "built without DuckDB\n");
		return 77;
	}
	failed = cmocka_run_group_tests_name("in this process", tests, setup, teardown);
	isolated = true;
	return failed + cmocka_run_group_tests_name("in a worker process", tests, setup, teardown);
}
