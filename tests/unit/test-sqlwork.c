/*
 * Unit tests for cmd/dcrd/sqlwork.c and sqlproc.c: real rooms, inputs from
 * memory, the result CSV and every limit, each run in this process and
 * again in a worker process (this program, run as "sql-worker").
 */
#define _GNU_SOURCE /* unshare, CLONE_NEW* */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sched.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "aggregate.h"
#include "fileio.h"
#include "room.h"
#include "sandbox.h"
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
/* Whether the tests run SQL through sql_run_isolated (a worker process) rather than sql_run. */
static bool isolated;
/* With isolated: through sql_run_warm (workers kept between jobs) rather than sql_run_isolated. */
static bool warm;
static int run_warm(const Dcr__V1__RoomDefinition *def, const char *name, const struct work_inputs *in,
	const struct sql_limits *lim, struct sql_result *out, struct dcr_err *err);

/* ---- inputs from memory ---- */

struct input {
	const char *node;
	const char *csv;
	size_t len;            /* 0: strlen(csv) */
};

struct inputs {
	const struct input *items;
	size_t n;
	char read_log[256];    /* "node node ..." in the order they were read */
	size_t fed;            /* bytes the sinks took */
	void (*before)(void);  /* called before the first byte of an input */
};

/*
 * Feeds the data in pieces of 5 bytes (4096 for inputs of more than a
 * MiB), so that nothing depends on how the plaintext arrives.
 */
static int read_input(void *ctx, const char *node, dcr_stream_sink *sink, void *sink_ctx, struct dcr_err *err)
{
	struct inputs *in = ctx;

	snprintf(in->read_log + strlen(in->read_log), sizeof(in->read_log) - strlen(in->read_log), "%s ", node);
	if (in->before)
		in->before();
	for (size_t i = 0; i < in->n; i++) {
		const char *p = in->items[i].csv;
		size_t len = in->items[i].len ? in->items[i].len : strlen(p), piece = len > (1u << 20) ? 4096 : 5;

		if (strcmp(in->items[i].node, node) != 0)
			continue;
		for (size_t at = 0; at < len; at += piece) {
			size_t n = len - at < piece ? len - at : piece;
			int r = sink(sink_ctx, (const uint8_t *)p + at, n, err);

			if (r < 0)
				return r;
			in->fed += n;
		}
		return 0;
	}
	return dcr_err_set(err, DCR_ENOTFOUND, "nothing is published to node '%s' yet", node);
}

/* ---- rooms ---- */

static int setup(void **state)
{
	struct dcr_err err;

	/* As dcrd does first: each job's SQLite memory is its own budget. */
	assert_int_equal(dcr_sql_init(&err), 0);

	assert_int_equal(dcr_specs_parse("specs.yaml", (const uint8_t *)specs_yaml, strlen(specs_yaml), &specs, &err), 0);
	return 0;
}

static int teardown(void **state)
{
	dcr_specs_free(specs);
	return 0;
}

/* A room with the given data and compute sections (YAML, indented by two spaces). */
static struct dcr_room *room_with(const char *data, const char *compute)
{
	char yaml[8192];
	struct dcr_room *room = NULL;
	struct dcr_err err;
	int r;

	snprintf(yaml, sizeof(yaml),
		"version: 1\n"
		"name: sqlwork\n"
		"enclave: dcrd:sim\n"
		"authentication: {platform: true}\n"
		"participants:\n"
		"  alice@acme.example:\n"
		"data:\n%s"
		"compute:\n%s", data, compute);
	r = dcr_room_parse("room.yaml", (const uint8_t *)yaml, strlen(yaml), ".", specs, "", &room, &err);
	if (r < 0)
		fail_msg("room does not parse: %s", err.msg);
	return room;
}

static const char tables_tu[] =
	"  t:\n"
	"    type: table\n"
	"    columns:\n"
	"      - {name: a, type: int64}\n"
	"      - {name: b, type: string, nullable: true}\n"
	"      - {name: x, type: float64, nullable: true}\n"
	"  u:\n"
	"    type: table\n"
	"    header: false\n"
	"    columns: [{name: v, type: int64}]\n"
	"  notes: {type: file}\n";

static const char t_csv[] = "a,b,x\n1,one,1.5\n2,,\n3,\"thr,ee\",-2\n";

struct run {
	struct sql_result res;
	struct dcr_err err;
	struct inputs in;
	int r;
};

/* Run with limits: time, result size, memory (0: the defaults). */
static void run_lim(struct run *run, struct dcr_room *room, const char *name, const struct input *items, size_t n,
	uint64_t time_ms, uint64_t max_bytes, uint64_t max_memory)
{
	struct work_inputs in = { .read = read_input, .ctx = &run->in };
	struct sql_limits lim = { .time_ms = time_ms, .max_result_bytes = max_bytes, .max_memory = max_memory };

	memset(run, 0, sizeof(*run));
	run->in.items = items;
	run->in.n = n;
	run->r = (warm ? run_warm : isolated ? sql_run_isolated : sql_run)(dcr_room_definition(room), name, &in, &lim,
		&run->res, &run->err);
	if (run->r < 0) {
		assert_int_equal(run->r, run->err.code);
		assert_null(run->res.csv);
	}
}

static void run_sql(struct run *run, struct dcr_room *room, const char *name, const struct input *items, size_t n)
{
	run_lim(run, room, name, items, n, 0, 0, 0);
}

/* The result, NUL-terminated for comparisons; "ERROR: message" on failure. */
static const char *result(struct run *run)
{
	static char text[1 << 16];

	if (run->r < 0) {
		snprintf(text, sizeof(text), "ERROR: %s", run->err.msg);
	} else {
		assert_true(run->res.len < sizeof(text));
		memcpy(text, run->res.csv, run->res.len);
		text[run->res.len] = '\0';
	}
	free(run->res.csv);
	run->res.csv = NULL;
	return text;
}

/* ---- the tests ---- */

static char *read_example(const char *name, size_t *len)
{
	const char *root = getenv("SOURCE_ROOT");
	char path[4096];
	struct dcr_err err;
	uint8_t *buf;

	assert_non_null(root);
	snprintf(path, sizeof(path), "%s/examples/salary-sum/%s", root, name);
	if (dcr_read_file(path, 1 << 20, &buf, len, &err) < 0)
		fail_msg("%s", err.msg);
	return (char *)buf;
}

static void test_salary_sum(void **state)
{
	const char *root = getenv("SOURCE_ROOT");
	char path[4096];
	struct dcr_room *room;
	struct dcr_err err;
	struct input items[2];
	struct run run;

	assert_non_null(root);
	snprintf(path, sizeof(path), "%s/examples/salary-sum/room.yaml", root);
	assert_int_equal(dcr_room_load(path, specs, "", &room, &err), 0);
	items[0].node = "acme_pay";
	items[0].csv = read_example("acme_pay.csv", &items[0].len);
	items[1].node = "beta_pay";
	items[1].csv = read_example("beta_pay.csv", &items[1].len);
	run_sql(&run, room, "total", items, 2);
	assert_int_equal(run.res.rows, 1);
	assert_string_equal(result(&run), "total\n756750.75\n");
	assert_string_equal(run.in.read_log, "acme_pay beta_pay ");
	free((char *)items[0].csv);
	free((char *)items[1].csv);
	dcr_room_free(room);
}

static void test_view_chain(void **state)
{
	struct dcr_room *room = room_with(tables_tu,
		"  top: {type: sql, query: 'SELECT sum(a2) AS s, count(*) AS n FROM doubled;  -- the end'}\n"
		"  doubled: {type: sql, query: 'SELECT a * 2 AS a2 FROM base'}\n"
		"  base:\n"
		"    type: sql\n"
		"    query: |\n"
		"      SELECT a, b FROM t WHERE a > 1;\n"
		"      /* a trailing comment */\n");
	const struct input items[] = { { "t", t_csv, 0 } };
	struct run run;

	run_sql(&run, room, "top", items, 1);
	assert_string_equal(result(&run), "s,n\n10,2\n");
	assert_string_equal(run.in.read_log, "t ");
	run_sql(&run, room, "doubled", items, 1);
	assert_string_equal(result(&run), "a2\n4\n6\n");
	assert_int_equal(run.res.rows, 2);
	dcr_room_free(room);
}

static void test_unpublished(void **state)
{
	struct dcr_room *room = room_with(tables_tu,
		"  only_t: {type: sql, query: 'SELECT count(*) AS n FROM t'}\n"
		"  reads_u: {type: sql, query: 'SELECT count(*) AS n FROM u'}\n"
		"  via_view: {type: sql, query: 'SELECT n FROM reads_u'}\n"
		"  neither: {type: sql, query: 'WITH unused AS (SELECT * FROM u) SELECT 1 AS one'}\n");
	const struct input items[] = { { "t", t_csv, 0 } };
	struct run run;

	run_sql(&run, room, "only_t", items, 1);
	assert_string_equal(result(&run), "n\n3\n");
	assert_string_equal(run.in.read_log, "t ");
	run_sql(&run, room, "neither", items, 1);
	assert_string_equal(result(&run), "one\n1\n");
	assert_string_equal(run.in.read_log, "");
	run_sql(&run, room, "reads_u", items, 1);
	assert_int_equal(run.r, DCR_ENOTFOUND);
	assert_string_equal(run.err.msg, "nothing is published to node 'u' yet");
	run_sql(&run, room, "via_view", items, 1);
	assert_int_equal(run.r, DCR_ENOTFOUND);
	assert_string_equal(run.err.msg, "nothing is published to node 'u' yet");
	run_sql(&run, room, "nope", items, 1);
	assert_int_equal(run.r, DCR_ENOTFOUND);
	assert_string_equal(run.err.msg, "the room has no computation 'nope'");
	dcr_room_free(room);
}

/*
 * Issue 13: a join USING or NATURAL reads columns SQLite's authorizer
 * never reports, so a table read only that way was left empty and the
 * count came out 0. The tables come from the query's program now.
 */
static void test_join_using(void **state)
{
	struct dcr_room *room = room_with(
		"  party_a:\n"
		"    type: table\n"
		"    columns: [{name: email, type: string}, {name: age, type: int64}]\n"
		"  party_b:\n"
		"    type: table\n"
		"    columns: [{name: email, type: string}, {name: spend, type: float64}]\n",
		"  using_n: {type: sql, query: 'SELECT COUNT(*) AS n FROM party_a JOIN party_b USING (email)'}\n"
		"  natural_n: {type: sql, query: 'SELECT COUNT(*) AS n FROM party_a NATURAL JOIN party_b'}\n"
		"  on_n: {type: sql, query: 'SELECT COUNT(*) AS n FROM party_a a JOIN party_b b ON a.email = b.email'}\n"
		"  left_n: {type: sql, query: 'SELECT COUNT(*) AS n FROM party_b LEFT JOIN party_a USING (email)'}\n"
		"  joined: {type: sql, query: 'SELECT * FROM party_a NATURAL JOIN party_b'}\n"
		"  via_view: {type: sql, query: 'SELECT COUNT(*) AS n FROM joined'}\n"
		"  only_a: {type: sql, query: 'SELECT COUNT(*) AS n FROM party_a'}\n");
	static const char a_csv[] = "email,age\na@x,30\nb@x,40\nc@x,50\nc@x,51\n";
	static const char b_csv[] = "email,spend\nb@x,1.5\nc@x,2.5\nd@x,3.5\nd@x,4.5\n";
	const struct input both[] = { { "party_a", a_csv, 0 }, { "party_b", b_csv, 0 } };
	const struct input a_only[] = { { "party_a", a_csv, 0 } };
	static const char *const joins[] = { "using_n", "natural_n", "on_n", "via_view" };
	struct run run;

	for (size_t i = 0; i < sizeof(joins) / sizeof(*joins); i++) {
		run_sql(&run, room, joins[i], both, 2);
		assert_string_equal(result(&run), "n\n3\n");
		assert_string_equal(run.in.read_log, "party_a party_b ");
	}
	/* b, c, c, d, d: the right side's matches and the unmatched. */
	run_sql(&run, room, "left_n", both, 2);
	assert_string_equal(result(&run), "n\n5\n");
	/* With only party_a published, a query that reads party_b fails and says why. */
	for (size_t i = 0; i < sizeof(joins) / sizeof(*joins); i++) {
		run_sql(&run, room, joins[i], a_only, 1);
		assert_int_equal(run.r, DCR_ENOTFOUND);
		assert_string_equal(run.err.msg, "nothing is published to node 'party_b' yet");
	}
	run_sql(&run, room, "only_a", a_only, 1);
	assert_string_equal(result(&run), "n\n4\n");
	assert_string_equal(run.in.read_log, "party_a ");
	dcr_room_free(room);
}

static void test_schema_violation(void **state)
{
	struct dcr_room *room = room_with(tables_tu, "  all: {type: sql, query: 'SELECT * FROM t JOIN u ON a = v'}\n");
	const struct input bad_t[] = { { "t", "a,b,x\n1,one,1.5\n2,two,SECRET\n", 0 }, { "u", "1\n", 0 } };
	const struct input bad_u[] = { { "t", t_csv, 0 }, { "u", "1\n2\n\n", 0 } };
	const struct input bad_header[] = { { "t", "a,x,b\n", 0 }, { "u", "1\n", 0 } };
	struct run run;

	run_sql(&run, room, "all", bad_t, 2);
	assert_int_equal(run.r, DCR_EINVALID);
	assert_string_equal(run.err.msg, "table 't', record 3, column 'x': the value is not a float64 "
		"(expected a decimal number such as 12.5, -3 or 1e6)");
	run_sql(&run, room, "all", bad_u, 2);
	assert_int_equal(run.r, DCR_EINVALID);
	assert_string_equal(run.err.msg, "table 'u', record 3, column 'v': the value is empty, but the column is not nullable");
	run_sql(&run, room, "all", bad_header, 2);
	assert_int_equal(run.r, DCR_EINVALID);
	assert_string_equal(run.err.msg, "table 't', header: field 2 should be 'b' "
		"(the header names the columns exactly, in order: a,b,x)");
	dcr_room_free(room);
}

static void test_values(void **state)
{
	struct dcr_room *room = room_with(
		"  t:\n"
		"    type: table\n"
		"    columns:\n"
		"      - {name: s, type: string, nullable: true}\n"
		"      - {name: i, type: int64, nullable: true}\n"
		"      - {name: f, type: float64, nullable: true}\n"
		"      - {name: b, type: bool, nullable: true}\n"
		"      - {name: d, type: date, nullable: true}\n",
		"  everything: {type: sql, query: 'SELECT s, i, f, b, d,\n"
		"    typeof(s) || typeof(i) || typeof(f) || typeof(b) AS types FROM t'}\n"
		"  dates: {type: sql, query: \"SELECT date(d, '+1 day') AS next FROM t WHERE d IS NOT NULL\"}\n");
	const struct input items[] = { { "t",
		"s,i,f,b,d\n"
		"text,42,2.5,true,2024-02-28\n"
		",,,,\n"
		"\"\",-1,1e3,0,\n", 0 } };
	struct run run;

	run_sql(&run, room, "everything", items, 1);
	assert_string_equal(result(&run),
		"s,i,f,b,d,types\n"
		"text,42,2.5,1,2024-02-28,textintegerrealinteger\n"
		",,,,,nullnullnullnull\n"
		"\"\",-1,1000.0,0,,textintegerrealinteger\n");
	assert_int_equal(run.res.rows, 3);
	run_sql(&run, room, "dates", items, 1);
	assert_string_equal(result(&run), "next\n2024-02-29\n");
	dcr_room_free(room);
}

static void test_output_format(void **state)
{
	struct dcr_room *room = room_with(tables_tu,
		"  quoting:\n"
		"    type: sql\n"
		"    query: >-\n"
		"      SELECT 'a,b' AS \"x,y\", 'say \"hi\"' AS \"q\"\"q\", ' lead' AS \" \", 'trail ' AS t,\n"
		"      'two' || char(10) || 'lines' AS nl, 'cr' || char(13) AS cr, '' AS empty, NULL AS nul,\n"
		"      x'00ff10' AS blob, x'' AS noblob, 'plain' AS plain, 'tab' || char(9) AS tab\n"
		"  reals:\n"
		"    type: sql\n"
		"    query: >-\n"
		"      SELECT 0.1 AS a, 1.0 / 3 AS b, 0.1 + 0.2 AS c, 2.0 AS d, 1e20 AS e, 1.5e-7 AS f,\n"
		"      1e300 * 1e10 AS g, -1e300 * 1e10 AS h, 100.0 AS i, -2.5 AS j, 123456789012.0 AS k,\n"
		"      9007199254740993.0 AS l, 42 AS m, -9223372036854775808 AS n, 5e-324 AS o\n"
		"  nothing: {type: sql, query: 'SELECT a FROM t WHERE 0'}\n"
		"  null_rows: {type: sql, query: 'SELECT NULL AS n UNION ALL SELECT NULL'}\n");
	struct run run;

	run_sql(&run, room, "quoting", NULL, 0);
	assert_string_equal(result(&run),
		"\"x,y\",\"q\"\"q\",\" \",t,nl,cr,empty,nul,blob,noblob,plain,tab\n"
		"\"a,b\",\"say \"\"hi\"\"\",\" lead\",\"trail \",\"two\nlines\",\"cr\r\",\"\",,00ff10,\"\",plain,\"tab\t\"\n");
	assert_int_equal(run.res.rows, 1);
	run_sql(&run, room, "reals", NULL, 0);
	assert_string_equal(result(&run),
		"a,b,c,d,e,f,g,h,i,j,k,l,m,n,o\n"
		"0.1,0.3333333333333333,0.30000000000000004,2.0,1e+20,1.5e-07,inf,-inf,100.0,-2.5,123456789012.0,"
		"9007199254740992.0,42,-9223372036854775808,4.94065645841247e-324\n");
	/* No rows: the header alone. Rows of one NULL: empty lines. */
	run_sql(&run, room, "nothing", (const struct input[]){ { "t", t_csv, 0 } }, 1);
	assert_string_equal(result(&run), "a\n");
	assert_int_equal(run.res.rows, 0);
	run_sql(&run, room, "null_rows", NULL, 0);
	assert_string_equal(result(&run), "n\n\n\n");
	assert_int_equal(run.res.rows, 2);
	dcr_room_free(room);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

/* A table of n rows for node t (a, b, x), built in memory. */
static char *big_t(size_t n, size_t *len)
{
	size_t cap = 32 + n * 96, used = 0;
	char *p = malloc(cap);

	assert_non_null(p);
	used += (size_t)snprintf(p, cap, "a,b,x\n");
	for (size_t i = 0; i < n; i++)
		used += (size_t)snprintf(p + used, cap - used, "%zu,%064zu,%zu.5\n", i, (i * 7919) % 100003, i);
	*len = used;
	return p;
}

static void test_time_limit(void **state)
{
	struct dcr_room *room = room_with(tables_tu,
		"  forever: {type: sql, query: 'WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c)\n"
		"    SELECT max(i) FROM c'}\n"
		"  sum_t: {type: sql, query: 'SELECT sum(a) AS s FROM t'}\n");
	struct input items[1] = { { "t", NULL, 0 } };
	struct run run;
	double start = now_ms();

	run_lim(&run, room, "forever", NULL, 0, 200, 0, 0);
	assert_int_equal(run.r, DCR_ECOMPUTE);
	assert_string_equal(run.err.msg, "computation 'forever' ran out of time (the limit is 200 ms)");
	assert_true(now_ms() - start < 2000);
	/* The same clock covers loading the tables. */
	items[0].csv = big_t(200000, &items[0].len);
	start = now_ms();
	run_lim(&run, room, "sum_t", items, 1, 1, 0, 0);
	assert_int_equal(run.r, DCR_ECOMPUTE);
	assert_string_equal(run.err.msg, "computation 'sum_t' ran out of time (the limit is 1 ms)");
	assert_true(now_ms() - start < 2000);
	run_lim(&run, room, "sum_t", items, 1, 0, 0, 0);
	assert_string_equal(result(&run), "s\n19999900000\n");
	free((char *)items[0].csv);
	dcr_room_free(room);
}

/*
 * Issue 12: a query that builds a huge intermediate result took 3.3 GB.
 * SQLite's memory for a job (its tables and the query) is bounded; past
 * the bound the job fails and says so, and the next one runs as usual.
 */
static void test_memory_limit(void **state)
{
	struct dcr_room *room = room_with(tables_tu,
		"  huge: {type: sql, query: \"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c\n"
		"    WHERE i < 2000000) SELECT COUNT(*) AS n FROM (SELECT DISTINCT printf('%.40d', i) FROM c)\"}\n"
		"  sum_t: {type: sql, query: 'SELECT sum(a) AS s FROM t'}\n");
	struct input items[1] = { { "t", NULL, 0 } };
	sqlite3_int64 before = sqlite3_memory_used();
	struct run run;

	run_lim(&run, room, "huge", NULL, 0, 0, 0, 32 << 20);
	assert_int_equal(run.r, DCR_ECOMPUTE);
	assert_string_equal(run.err.msg, "computation 'huge' exceeded its memory limit (33554432 bytes)");
	/* Loading the tables counts too. */
	items[0].csv = big_t(200000, &items[0].len);
	run_lim(&run, room, "sum_t", items, 1, 0, 0, 8 << 20);
	assert_int_equal(run.r, DCR_ECOMPUTE);
	assert_string_equal(run.err.msg, "computation 'sum_t' exceeded its memory limit (8388608 bytes)");
	/* Everything was given back, and the same jobs run within the default. */
	assert_true(sqlite3_memory_used() <= before + (1 << 20));
	run_lim(&run, room, "sum_t", items, 1, 0, 0, 0);
	assert_string_equal(result(&run), "s\n19999900000\n");
	free((char *)items[0].csv);
	dcr_room_free(room);
}

static void test_result_limit(void **state)
{
	struct dcr_room *room = room_with(tables_tu,
		"  many: {type: sql, query: 'WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c\n"
		"    WHERE i < 100000) SELECT i FROM c'}\n"
		"  small: {type: sql, query: \"SELECT 'abc' AS x\"}\n");
	struct run run;

	run_lim(&run, room, "many", NULL, 0, 0, 1000, 0);
	assert_int_equal(run.r, DCR_ECOMPUTE);
	assert_string_equal(run.err.msg, "computation 'many': the result is larger than 1000 bytes");
	/* "x\nabc\n" is 6 bytes: the limit is inclusive. */
	run_lim(&run, room, "small", NULL, 0, 0, 6, 0);
	assert_string_equal(result(&run), "x\nabc\n");
	run_lim(&run, room, "small", NULL, 0, 0, 5, 0);
	assert_string_equal(result(&run), "ERROR: computation 'small': the result is larger than 5 bytes");
	/* The default is large enough for this, and grows the buffer on the way. */
	run_sql(&run, room, "many", NULL, 0);
	assert_int_equal(run.r, 0);
	assert_int_equal(run.res.rows, 100000);
	assert_int_equal(run.res.len, 2 + 9 * 2 + 90 * 3 + 900 * 4 + 9000 * 5 + 90000 * 6 + 7);
	free(run.res.csv);
	dcr_room_free(room);
}

/* ---- aggregate computations: thresholds (dcr-room(5), PRIVACY RULES) ---- */

/* The overlap example's shape: kept groups, the count of the others, through the worker too. */
static void test_aggregate(void **state)
{
	struct dcr_room *room = room_with(
		"  a:\n"
		"    type: table\n"
		"    columns: [{name: who, type: string}, {name: region, type: string}, {name: spend, type: float64}]\n"
		"    privacy: {min_group_size: 2, identity: who, group_by: [region], aggregate: [spend], join: [who]}\n"
		"  b:\n"
		"    type: table\n"
		"    columns: [{name: who, type: string}, {name: n, type: int64}]\n",
		"  both:\n"
		"    type: aggregate\n"
		"    from: a\n"
		"    join: [{table: b, on: [a.who, b.who]}]\n"
		"    group_by: [region]\n"
		"    select: [{name: shared, count: '*'}, {name: spend, sum: spend, round: 1}, {name: mean, avg: b.n}]\n"
		"  plain: {type: aggregate, from: b, select: [{name: rows, count: '*'}]}\n");
	const struct input items[] = {
		{ "a", "who,region,spend\nx,n,1.25\ny,n,2\nz,s,3\nz,s,4\nw,e,1\n", 0 },
		{ "b", "who,n\nx,1\ny,2\nz,3\nw,4\nw,5\n", 0 },
	};
	struct run run;

	run_sql(&run, room, "both", items, 2);
	/* n: two people; s: one person's two rows; e: one person joined twice. */
	assert_string_equal(result(&run), "region,shared,spend,mean\nn,2,3.3,1.5\n");
	assert_true(run.res.thresholded);
	assert_int_equal(run.res.groups_suppressed, 2);
	assert_int_equal(run.res.rows, 1);
	run_sql(&run, room, "plain", items, 2);
	assert_string_equal(result(&run), "rows\n5\n");
	assert_false(run.res.thresholded);
	assert_int_equal(run.res.groups_suppressed, 0);
	dcr_room_free(room);
}

/* A rule that appears after validation (a definition is never trusted to be checked) still binds free SQL. */
static void test_protected_at_run_time(void **state)
{
	struct dcr_room *room = room_with(tables_tu, "  raw: {type: sql, query: 'SELECT b FROM t'}\n");
	const Dcr__V1__RoomDefinition *def = dcr_room_definition(room);
	const struct input items[] = { { "t", t_csv, 0 } };
	Dcr__V1__TablePrivacy rule = DCR__V1__TABLE_PRIVACY__INIT;
	struct run run;

	Dcr__V1__TableNode *t = NULL;

	for (size_t i = 0; i < def->n_data; i++)
		if (strcmp(def->data[i]->name, "t") == 0)
			t = def->data[i]->table;
	assert_non_null(t);
	rule.min_group_size = 5;
	t->privacy = &rule;
	run_sql(&run, room, "raw", items, 1);
	assert_int_equal(run.r, DCR_ECOMPUTE);
	assert_string_equal(run.err.msg,
		"computation 'raw' reads 't', a table with a privacy rule; only aggregate computations may read it");
	assert_string_equal(run.in.read_log, "");
	t->privacy = NULL; /* the room's arena does not own it */
	dcr_room_free(room);
}

static uint64_t rnd_state;

static unsigned rnd(unsigned n)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (unsigned)(rnd_state % n);
}

#define PROP_MAX_ROWS 60
#define PROP_NULL UINT_MAX /* a missing value */

/* Each column holds an index (person pI, group I, value prop_value(I)) or PROP_NULL. */
struct prop_table {
	unsigned n, person[PROP_MAX_ROWS], grp[PROP_MAX_ROWS], val[PROP_MAX_ROWS];
	bool protected, identity;
	unsigned min;
};

/* The type of the group column, and a group index as a value of it, in the CSV and in a result. */
enum prop_kind { PROP_INT, PROP_FLOAT, PROP_STRING };

static const char *const prop_types[] = { "int64", "float64", "string" };

static void prop_group_text(enum prop_kind kind, unsigned g, bool in_result, char *buf, size_t size)
{
	if (g == PROP_NULL)
		snprintf(buf, size, "%s", "");
	else if (kind == PROP_INT)
		snprintf(buf, size, "%u", g);
	else if (kind == PROP_FLOAT) /* -1.0 to 1.5: in a result, as dcrd writes a REAL */
		snprintf(buf, size, in_result ? "%.1f" : "%g", (double)g * 0.5 - 1);
	else
		snprintf(buf, size, "g%u", g);
}

/*
 * The value a random draw u (0 to 100) stands for: -50 to 50, and every
 * seventh one times 2^40, so that sums pass 2^32 and go negative, where
 * dcrd sums the high and low 32 bits apart (lib/aggregate.c).
 */
static int64_t prop_value(unsigned u)
{
	return ((int64_t)u - 50) * (u % 7 == 0 ? (int64_t)1 << 40 : 1);
}

/* A random index below n, or, one time in ten, PROP_NULL. */
static unsigned prop_maybe(unsigned n)
{
	return rnd(10) == 0 ? PROP_NULL : rnd(n);
}

/* Few people, so that a join key repeats: within a table, and across the two. */
static void prop_table_make(struct prop_table *t, enum prop_kind kind, char *csv, size_t size)
{
	unsigned people = 1 + rnd(15), groups = 1 + rnd(6);
	char g[32];
	size_t at;

	t->n = rnd(PROP_MAX_ROWS + 1);

	at = (size_t)snprintf(csv, size, "person,grp,val\n");
	for (unsigned i = 0; i < t->n; i++) {
		t->person[i] = prop_maybe(people);
		t->grp[i] = prop_maybe(groups);
		t->val[i] = prop_maybe(101);
		prop_group_text(kind, t->grp[i], false, g, sizeof(g));
		if (t->person[i] == PROP_NULL)
			at += (size_t)snprintf(csv + at, size - at, ",%s,", g);
		else
			at += (size_t)snprintf(csv + at, size - at, "p%u,%s,", t->person[i], g);
		if (t->val[i] != PROP_NULL)
			at += (size_t)snprintf(csv + at, size - at, "%" PRId64, prop_value(t->val[i]));
		at += (size_t)snprintf(csv + at, size - at, "\n");
	}
	assert_true(at < size);
}

static void prop_rule(const struct prop_table *t, char *yaml, size_t size)
{
	if (!t->protected)
		snprintf(yaml, size, "%s", "");
	else
		snprintf(yaml, size, "    privacy: {min_group_size: %u,%s group_by: [grp], aggregate: [val], join: [person]}\n",
			t->min, t->identity ? " identity: person," : "");
}

/* Distinct rows of t among the marked ones, or distinct non-null people. */
static unsigned prop_distinct(const struct prop_table *t, const bool *marked)
{
	bool seen[PROP_MAX_ROWS] = { false };
	unsigned n = 0;

	for (unsigned i = 0; i < t->n; i++) {
		unsigned key = t->identity ? t->person[i] : i;

		if (marked[i] && key != PROP_NULL && !seen[key]) {
			seen[key] = true;
			n++;
		}
	}
	return n;
}

/* The sum of the non-null values of t's marked rows, each row once, and how many there are. */
static unsigned prop_sum(const struct prop_table *t, const bool *marked, int64_t *sum)
{
	unsigned n = 0;

	*sum = 0;
	for (unsigned i = 0; i < t->n; i++)
		if (marked[i] && t->val[i] != PROP_NULL) {
			*sum += prop_value(t->val[i]);
			n++;
		}
	return n;
}

/*
 * 200 random rooms and tables, each run and compared with the rules
 * computed here the plain way over the generated rows: every (a, b) pair
 * the join (on a person; a missing one joins nothing; people repeat in
 * both tables, so the join multiplies rows) and the filter keep, grouped
 * by a column of either table (int64, float64 or string; a missing value
 * is one group), a group kept only if each protected table's distinct
 * rows (or non-null people) in it reach the larger of its threshold and
 * the computation's; count(*) counts pairs, sum and count of a column
 * each row of its table in the group once, however many rows of the other
 * table it joins; and the count of suppressed groups is told only when the
 * rows of all of them together meet every threshold.
 */
static void test_aggregate_random(void **state)
{
	static char a_csv[4096], b_csv[4096], want[8192], data[2048], compute[1024], rule_a[256], rule_b[256];
	unsigned all_kept = 0, all_suppressed = 0, all_told = 0, all_withheld = 0, all_weighed = 0;

	rnd_state = 0x9e3779b97f4a7c15ull;
	for (unsigned trial = 0; trial < 200; trial++) {
		struct prop_table a = { 0 }, b = { 0 };
		bool join = rnd(2), filter = rnd(2), group = rnd(5) != 0, by_b = join && rnd(2);
		enum prop_kind kind = (enum prop_kind)rnd(3);
		unsigned floor_val = rnd(101), own = rnd(4) == 0 ? 2 + rnd(6) : 0, suppressed = 0, rows = 0;
		unsigned need_a, need_b;
		bool gone_a[PROP_MAX_ROWS] = { false }, gone_b[PROP_MAX_ROWS] = { false };
		uint64_t told;
		struct input items[2] = { { "a", a_csv, 0 }, { "b", b_csv, 0 } };
		struct dcr_room *room;
		struct run run;
		const char *got;
		size_t at;

		a.protected = true;
		a.identity = rnd(2);
		a.min = 2 + rnd(7);
		b.protected = rnd(2);
		b.identity = rnd(2) && b.protected; /* a table without a rule counts rows */
		b.min = 2 + rnd(7);
		need_a = a.min > own ? a.min : own;
		need_b = b.protected ? (b.min > own ? b.min : own) : own;
		prop_table_make(&a, kind, a_csv, sizeof(a_csv));
		prop_table_make(&b, kind, b_csv, sizeof(b_csv));
		prop_rule(&a, rule_a, sizeof(rule_a));
		prop_rule(&b, rule_b, sizeof(rule_b));
		snprintf(data, sizeof(data),
			"  a:\n    type: table\n    columns: [{name: person, type: string, nullable: true}, "
			"{name: grp, type: %s, nullable: true}, {name: val, type: int64, nullable: true}]\n%s"
			"  b:\n    type: table\n    columns: [{name: person, type: string, nullable: true}, "
			"{name: grp, type: %s, nullable: true}, {name: val, type: int64, nullable: true}]\n%s",
			prop_types[kind], rule_a, prop_types[kind], rule_b);
		snprintf(compute, sizeof(compute),
			"  q:\n    type: aggregate\n    from: a\n%s",
			join ? "    join: [{table: b, on: [a.person, b.person]}]\n" : "");
		if (filter)
			snprintf(compute + strlen(compute), sizeof(compute) - strlen(compute),
				"    where: [{column: a.val, op: '>=', value: %" PRId64 "}]\n", prop_value(floor_val));
		snprintf(compute + strlen(compute), sizeof(compute) - strlen(compute), "%s%s%s",
			group ? (by_b ? "    group_by: [b.grp]\n" : "    group_by: [a.grp]\n") : "",
			"    select: [{name: n, count: '*'}, {name: s, sum: a.val}, {name: c, count: a.val}",
			join ? ", {name: t, sum: b.val}]\n" : "]\n");
		if (own)
			snprintf(compute + strlen(compute), sizeof(compute) - strlen(compute),
				"    privacy: {min_group_size: %u}\n", own);
		room = room_with(data, compute);

		/* The reference: the groups in SQLite's order, a missing value first. */
		at = (size_t)snprintf(want, sizeof(want), "%sn,s,c%s\n", group ? "grp," : "", join ? ",t" : "");
		for (unsigned gi = 0; gi < (group ? 7u : 1u); gi++) {
			unsigned g = gi == 0 ? PROP_NULL : gi - 1;
			bool in_a[PROP_MAX_ROWS] = { false }, in_b[PROP_MAX_ROWS] = { false }, any = false;
			unsigned count = 0, c, pairs_of_a = 0;
			int64_t sum;
			char key[32];

			for (unsigned i = 0; i < a.n; i++) {
				if ((group && !by_b && a.grp[i] != g) ||
				    (filter && (a.val[i] == PROP_NULL || prop_value(a.val[i]) < prop_value(floor_val))))
					continue;
				for (unsigned k = 0; k < (join ? b.n : 1u); k++) {
					if (join && (a.person[i] == PROP_NULL || b.person[k] != a.person[i]))
						continue;
					if (group && by_b && b.grp[k] != g)
						continue;
					in_a[i] = any = true;
					if (join)
						in_b[k] = true;
					count++;
				}
			}
			/* Without GROUP BY, SQL has one group even when no row makes it; with, a group needs a row. */
			if (group && !any)
				continue;
			if (prop_distinct(&a, in_a) < need_a || (join && need_b > 1 && prop_distinct(&b, in_b) < need_b)) {
				suppressed++;
				for (unsigned i = 0; i < PROP_MAX_ROWS; i++) {
					gone_a[i] |= in_a[i];
					gone_b[i] |= in_b[i];
				}
				continue;
			}
			rows++;
			if (group) {
				prop_group_text(kind, g, true, key, sizeof(key));
				at += (size_t)snprintf(want + at, sizeof(want) - at, "%s,", key);
			}
			c = prop_sum(&a, in_a, &sum);
			at += (size_t)snprintf(want + at, sizeof(want) - at, "%u,", count);
			if (c)
				at += (size_t)snprintf(want + at, sizeof(want) - at, "%" PRId64, sum);
			at += (size_t)snprintf(want + at, sizeof(want) - at, ",%u", c);
			if (join && prop_sum(&b, in_b, &sum))
				at += (size_t)snprintf(want + at, sizeof(want) - at, ",%" PRId64, sum);
			else if (join)
				at += (size_t)snprintf(want + at, sizeof(want) - at, ",");
			at += (size_t)snprintf(want + at, sizeof(want) - at, "\n");
			for (unsigned i = 0; i < a.n; i++)
				pairs_of_a += in_a[i];
			all_weighed += count > pairs_of_a; /* an a row joined more than one b row */
		}
		told = prop_distinct(&a, gone_a) >= need_a && (!join || need_b <= 1 || prop_distinct(&b, gone_b) >= need_b) ?
			suppressed : DCR_AGGREGATE_WITHHELD;
		run_sql(&run, room, "q", items, 2);
		got = result(&run);
		if (run.r < 0 || strcmp(got, want) != 0 || !run.res.thresholded || run.res.groups_suppressed != told ||
		    run.res.rows != rows)
			fail_msg("trial %u: %s\n%s\nA:\n%s\nB:\n%s\nwant (%u suppressed, told %" PRIu64 "):\n%s\n"
				"got (%" PRIu64 " suppressed):\n%s\n%s", trial, data, compute, a_csv, b_csv, suppressed, told,
				want, run.res.groups_suppressed, got, run.r < 0 ? run.err.msg : "");
		all_kept += rows;
		all_suppressed += suppressed;
		all_told += told != DCR_AGGREGATE_WITHHELD && told > 0;
		all_withheld += told == DCR_AGGREGATE_WITHHELD && suppressed > 0;
		dcr_room_free(room);
	}
	/* Neither side of each rule is left untested. */
	assert_true(all_kept >= 100);
	assert_true(all_suppressed >= 100);
	assert_true(all_told >= 10);
	assert_true(all_withheld >= 10);
	assert_true(all_weighed >= 20);
}

/*
 * dcr_aggregate_sql writes SQL from a definition, and a definition is never
 * trusted to have been checked: a filter value that is not one SQL literal
 * of the column's type is refused (before, "1--" passed as a number and
 * its "--" made a comment of GROUP BY and HAVING: no threshold left), and a
 * name is quoted whatever it holds (a '"' in it is doubled).
 */
static void test_aggregate_hostile_definition(void **state)
{
	struct dcr_room *room = room_with(
		"  t:\n"
		"    type: table\n"
		"    columns: [{name: k, type: int64}, {name: x, type: float64}, {name: b, type: bool}, "
		"{name: d, type: date}]\n",
		"  q:\n"
		"    type: aggregate\n"
		"    from: t\n"
		"    where: [{column: k, value: 1}, {column: x, value: 2}, {column: b, value: true}, "
		"{column: d, value: '2024-01-01'}]\n"
		"    group_by: [k]\n"
		"    select: [{name: n, count: '*'}]\n"
		"    privacy: {min_group_size: 5}\n");
	const Dcr__V1__RoomDefinition *def = dcr_room_definition(room);
	const Dcr__V1__Computation *c = NULL;
	struct dcr_aggregate_sql sql;
	struct dcr_err err;
	static const struct {
		size_t filter;
		const char *value;
	} bad[] = {
		{ 0, "1--" }, { 0, "--1" }, { 0, "1-1" }, { 0, "" }, { 0, "1e5" }, { 0, "99999999999999999999" },
		{ 1, "2--" }, { 1, "1e" }, { 1, "." }, { 1, "1e999" }, { 2, "yes" }, { 2, "1" }, { 3, "2024-01-01' --" },
	};
	char *value, *name;

	(void)state;
	for (size_t i = 0; i < def->n_compute; i++)
		if (strcmp(def->compute[i]->name, "q") == 0)
			c = def->compute[i];
	assert_non_null(c);
	assert_int_equal(dcr_aggregate_sql(def, c, &sql, &err), 0);
	assert_non_null(strstr(sql.query, "\"t\".rowid AS \"r0\""));
	assert_non_null(strstr(sql.query, " HAVING COUNT(DISTINCT \"r0\") >= 5"));
	dcr_aggregate_sql_release(&sql);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		Dcr__V1__AggregateFilter *f = c->aggregate->filters[bad[i].filter];

		value = f->value;
		f->value = (char *)bad[i].value;
		if (dcr_aggregate_sql(def, c, &sql, &err) != DCR_EINVALID)
			fail_msg("filter %zu, value '%s': %s", bad[i].filter, bad[i].value, sql.query);
		f->value = value;
	}
	name = c->aggregate->select[0]->name;
	c->aggregate->select[0]->name = "n\" FROM t --";
	assert_int_equal(dcr_aggregate_sql(def, c, &sql, &err), 0);
	assert_non_null(strstr(sql.query, "COUNT(*) AS \"n\"\" FROM t --\" FROM \"join rows\" GROUP BY"));
	dcr_aggregate_sql_release(&sql);
	c->aggregate->select[0]->name = name;
	dcr_room_free(room);

	/* A self-join, which dcr create refuses. */
	room = room_with("  t:\n    type: table\n    columns: [{name: k, type: int64}]\n"
			 "    privacy: {min_group_size: 5, join: [k]}\n"
			 "  u:\n    type: table\n    columns: [{name: k, type: int64}]\n",
		"  q:\n    type: aggregate\n    from: t\n    join: [{table: u, on: [t.k, u.k]}]\n"
		"    select: [{name: n, count: '*'}]\n");
	def = dcr_room_definition(room);
	c = def->compute[0];
	assert_int_equal(dcr_aggregate_sql(def, c, &sql, &err), 0);
	dcr_aggregate_sql_release(&sql);
	c->aggregate->joins[0]->table = c->aggregate->joins[0]->right->table = c->aggregate->from;
	assert_int_equal(dcr_aggregate_sql(def, c, &sql, &err), DCR_EINVALID);
	assert_string_equal(err.msg, "an aggregate computation reads table 't' twice");
	dcr_room_free(room);
}

/*
 * dcr create refuses min_group_size on SQL computations; a room stored
 * before that (here: the rule set after parsing) is refused at run time,
 * before anything is read, and so is a computation that reads it.
 */
static void test_min_group_size(void **state)
{
	struct dcr_room *room = room_with(tables_tu,
		"  grouped: {type: sql, query: 'SELECT b, count(*) AS n FROM t GROUP BY b'}\n"
		"  reader: {type: sql, query: 'SELECT sum(n) AS total FROM grouped'}\n"
		"  one: {type: sql, query: 'SELECT 1 AS x'}\n");
	const Dcr__V1__RoomDefinition *def = dcr_room_definition(room);
	const struct input items[] = { { "t", t_csv, 0 } };
	struct run run;

	for (size_t i = 0; i < def->n_compute; i++)
		if (strcmp(def->compute[i]->name, "grouped") == 0)
			def->compute[i]->sql->min_group_size = 5;
	run_sql(&run, room, "grouped", items, 1);
	assert_int_equal(run.r, DCR_ECOMPUTE);
	assert_string_equal(run.err.msg, "computation 'grouped' has min_group_size 5, which this dcrd cannot enforce "
		"yet; refusing to run it rather than risk revealing small groups");
	assert_string_equal(run.in.read_log, "");
	run_sql(&run, room, "reader", items, 1);
	assert_int_equal(run.r, DCR_ECOMPUTE);
	assert_string_equal(run.err.msg, "computation 'reader' reads 'grouped', which has min_group_size 5, which "
		"this dcrd cannot enforce yet; refusing to run it rather than risk revealing small groups");
	run_sql(&run, room, "one", items, 1);
	assert_string_equal(result(&run), "x\n1\n");
	dcr_room_free(room);
}

/*
 * The policy is in force when the query runs, not only when the room was
 * validated: a room stored before a rule existed (here: its query replaced
 * after parsing) is refused at run time, and the job fails.
 */
static void test_authorizer(void **state)
{
	struct dcr_room *room = room_with(tables_tu,
		"  leak: {type: sql, query: \"SELECT json_extract('{}', b) AS x FROM t\"}\n"
		"  tampered: {type: sql, query: 'SELECT 1 AS x'}\n");
	const struct input items[] = { { "t", "a,b,x\n1,SECRET,\n", 0 } };
	const Dcr__V1__RoomDefinition *def = dcr_room_definition(room);
	Dcr__V1__SqlComputation *sql = NULL;
	static const struct {
		const char *query, *msg;
	} refused[] = {
		{ "INSERT INTO t VALUES (1, 'x', 1.0)", "it may only read" },
		{ "DELETE FROM t", "it may only read" },
		{ "ATTACH ':memory:' AS other", "it may only read" },
		{ "PRAGMA temp_store = FILE", "it may only read" },
		{ "CREATE TABLE x (y)", "it may only read" },
		{ "SELECT * FROM pragma_table_info('t')", "it reads a virtual table or table-valued function" },
		{ "SELECT load_extension('/nonexistent/x.so') AS x", "function load_extension() is not allowed" },
		{ "SELECT hex(fts3_tokenizer('simple')) AS x", "function fts3_tokenizer() is not allowed" },
		{ "SELECT fts3_tokenizer('mine', x'0000000000000000') AS x", "function fts3_tokenizer() is not allowed" },
		{ "SELECT random() AS x", "function random() is not allowed" },
		{ "SELECT sqlite_version() AS x", "function sqlite_version() is not allowed" },
		{ "SELECT value FROM json_each('[1, 2]')", "it reads a virtual table or table-valued function" },
		{ "SELECT name FROM sqlite_schema", "it reads SQLite's schema" },
		{ "SELECT count(*) FROM sqlite_schema", "it reads SQLite's schema" },
		{ "EXPLAIN SELECT * FROM t", "it must be exactly one SELECT statement" },
		{ "SELECT 1 AS x; SELECT 2 AS y", "it must be exactly one SELECT statement" },
	};
	struct run run;

	/* Messages that quote a computed value are cut before it. */
	run_sql(&run, room, "leak", items, 1);
	assert_int_equal(run.r, DCR_ECOMPUTE);
	assert_string_equal(run.err.msg, "computation 'leak': SQLite: SQL logic error: [withheld: it may quote data]");
	for (size_t i = 0; i < def->n_compute; i++)
		if (strcmp(def->compute[i]->name, "tampered") == 0)
			sql = def->compute[i]->sql;
	assert_non_null(sql);
	for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++) {
		char want[256];

		sql->query = (char *)refused[i].query;
		run_sql(&run, room, "tampered", items, 1);
		snprintf(want, sizeof(want), "computation 'tampered': %s", refused[i].msg);
		if (run.r != DCR_ECOMPUTE || strncmp(run.err.msg, want, strlen(want)) != 0)
			fail_msg("%s: got %d '%s', want '%s'", refused[i].query, run.r, run.err.msg, want);
		/* Refused before any table is loaded. */
		assert_string_equal(run.in.read_log, "");
	}
	sql->query = "SELECT 1 AS x";
	dcr_room_free(room);
}

/*
 * Sorting more than SQLite's cache spills to temporary files unless
 * temp_store is MEMORY. With no file descriptor to spare, any such file
 * would fail the query: plaintext never reaches the disk.
 */
static void test_no_temp_files(void **state)
{
	struct dcr_room *room = room_with(tables_tu,
		"  sorted: {type: sql, query: 'SELECT b, count(*) AS n FROM (SELECT b FROM t ORDER BY b DESC)\n"
		"    GROUP BY b ORDER BY n, b DESC'}\n");
	struct input items[1] = { { "t", NULL, 0 } };
	struct rlimit old, lim;
	struct run run;
	int fd = open("/dev/null", O_RDONLY);

	items[0].csv = big_t(100000, &items[0].len);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)fd;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
	run_sql(&run, room, "sorted", items, 1);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	if (run.r < 0)
		fail_msg("%s", run.err.msg);
	assert_int_equal(run.res.rows, 100000);
	free(run.res.csv);
	free((char *)items[0].csv);
	dcr_room_free(room);
}

/*
 * The review of issue 12's fixes: one call of a built-in function runs
 * inside one instruction of SQLite's program, where SQLite never looks at
 * the clock, and trim() of two 200000-character strings took 82 s under a
 * 1 s limit. In a worker the job is killed when its time is up, whatever
 * it is doing (run in this process, these jobs would succeed a minute or
 * more later).
 */
static void test_slow_function(void **state)
{
	struct dcr_room *room = room_with(tables_tu,
		"  trimmed: {type: sql, query: \"SELECT length(trim(printf('%.*c', 200000, 'b'),\n"
		"    printf('%.*c', 200000, 'a') || 'b')) AS n\"}\n"
		"  found: {type: sql, query: \"SELECT instr(printf('%.*c', 3200000, 'a'),\n"
		"    printf('%.*c', 1600000, 'a') || 'b') AS n\"}\n"
		"  quick: {type: sql, query: \"SELECT length(trim(printf('%.*c', 200, 'b'), 'ab')) AS n\"}\n");
	static const char *const slow[] = { "trimmed", "found" };
	struct run run;

	for (size_t i = 0; i < sizeof(slow) / sizeof(*slow); i++) {
		char want[128];

		run_lim(&run, room, slow[i], NULL, 0, 1000, 0, 0);
		snprintf(want, sizeof(want), "computation '%s' ran out of time (the limit is 1000 ms)", slow[i]);
		assert_int_equal(run.r, DCR_ECOMPUTE);
		assert_string_equal(run.err.msg, want);
	}
	/* The next job has a worker of its own. */
	run_lim(&run, room, "quick", NULL, 0, 1000, 0, 0);
	assert_string_equal(result(&run), "n\n0\n");
	dcr_room_free(room);
}

/* The worker of the job this process runs now (a child of this thread), or 0. */
static pid_t worker_of(pid_t parent, pid_t thread)
{
	char path[64], buf[64];
	FILE *f;
	long pid = 0;

	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", (long)parent, (long)thread);
	if (!(f = fopen(path, "r")))
		return 0;
	if (fgets(buf, sizeof(buf), f))
		pid = strtol(buf, NULL, 10);
	fclose(f);
	return (pid_t)pid;
}

static void segfault_worker(void)
{
	pid_t w = worker_of(getpid(), getpid());

	if (w > 0)
		kill(w, SIGABRT);
}

/* A worker that dies is a failed job that says how, not a hang or a result. */
static void test_worker_dies(void **state)
{
	struct dcr_room *room = room_with(tables_tu, "  only_t: {type: sql, query: 'SELECT count(*) AS n FROM t'}\n");
	const struct input items[] = { { "t", t_csv, 0 } };
	struct work_inputs in;
	struct inputs feed = { .items = items, .n = 1, .before = segfault_worker };
	struct sql_result res;
	struct dcr_err err;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", (long)getpid(), (long)getpid());
	if (access(path, R_OK) < 0)
		skip();
	in = (struct work_inputs){ .read = read_input, .ctx = &feed };
	/* With warm workers, in the kept one: this thread's only child. */
	assert_int_equal((warm ? run_warm : sql_run_isolated)(dcr_room_definition(room), "only_t", &in, NULL, &res, &err),
		DCR_ECOMPUTE);
	assert_string_equal(err.msg, "computation 'only_t': the SQL worker was killed by signal 6");
	assert_null(res.csv);
	dcr_room_free(room);
}

/* Whether process pid has ended (gone, or a zombie nobody reaped yet). */
static bool ended(pid_t pid)
{
	char path[64], buf[512], *close_paren;
	FILE *f;
	bool dead = true;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (!(f = fopen(path, "r")))
		return true;
	if (fgets(buf, sizeof(buf), f) && (close_paren = strrchr(buf, ')')))
		dead = close_paren[1] == ' ' && (close_paren[2] == 'Z' || close_paren[2] == 'X');
	fclose(f);
	return dead;
}

/* A dcrd that dies (kill -9) takes its stuck job's worker with it, rather than leave it running for days. */
static void test_worker_dies_with_dcrd(void **state)
{
	struct dcr_room *room = room_with(tables_tu,
		"  trimmed: {type: sql, query: \"SELECT length(trim(printf('%.*c', 200000, 'b'),\n"
		"    printf('%.*c', 200000, 'a') || 'b')) AS n\"}\n");
	pid_t dcrd, worker = 0;
	int status;

	dcrd = fork();
	assert_true(dcrd >= 0);
	if (dcrd == 0) {
		struct sql_limits lim = { .time_ms = 3600 * 1000 };
		struct work_inputs in = { .read = read_input };
		struct sql_result res;
		struct dcr_err err;

		_exit(sql_run_isolated(dcr_room_definition(room), "trimmed", &in, &lim, &res, &err) == 0 ? 0 : 1);
	}
	for (int i = 0; i < 2000 && worker <= 0; i++) {
		worker = worker_of(dcrd, dcrd);
		if (worker <= 0)
			nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	}
	kill(dcrd, SIGKILL);
	assert_int_equal(waitpid(dcrd, &status, 0), dcrd);
	if (worker <= 0)
		skip();
	/* The kernel sends the signal as dcrd's thread ends; give a loaded machine a minute. */
	for (int i = 0; i < 6000 && !ended(worker); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	assert_true(ended(worker));
	dcr_room_free(room);
}

/*
 * The worker as it is once confined (sql_worker_confine, before any query
 * is compiled or run in it): whatever a memory bug in an engine lets a
 * query run, it opens no file (dcrd's data directory, /proc/<dcrd>/mem,
 * the sealing key or device), makes no socket, execs nothing, neither signals nor traces
 * dcrd, and makes no namespace; it still signals itself and computes.
 * The checks run in a child; its exit status is the first that failed.
 */
static int confined_child(void)
{
	char proc[64];
	struct dcr_err err;
	int fds[2], step = 0;

	if (pipe(fds) < 0 || sql_worker_confine(&err) < 0)
		return 100;
	snprintf(proc, sizeof(proc), "/proc/%ld/mem", (long)getppid());
#define EXPECT(cond) do { step++; if (!(cond)) return step; } while (0)
	EXPECT(open("/etc/passwd", O_RDONLY) < 0 && errno == EACCES);
	EXPECT(openat(AT_FDCWD, ".", O_RDONLY | O_DIRECTORY) < 0 && errno == EACCES);
	EXPECT(open(proc, O_RDONLY) < 0 && errno == EACCES);
	EXPECT(open("/tmp/dcr-confined", O_WRONLY | O_CREAT, 0600) < 0 && errno == EACCES);
	EXPECT(access("/etc/passwd", F_OK) < 0 && errno == ENOENT);
	EXPECT(chmod(".", 0777) < 0 && errno == EACCES);
	EXPECT(unlink("/tmp/dcr-confined") < 0 && errno == EACCES);
	EXPECT(socket(AF_INET, SOCK_STREAM, 0) < 0 && errno == EACCES);
	EXPECT(socket(AF_UNIX, SOCK_STREAM, 0) < 0 && errno == EACCES);
	EXPECT(socket(AF_NETLINK, SOCK_RAW, 0) < 0 && errno == EACCES);
	EXPECT(kill(getppid(), 0) < 0 && errno == EACCES);
	EXPECT(kill(1, 0) < 0 && errno == EACCES);
	EXPECT(ptrace(PTRACE_ATTACH, getppid(), NULL, NULL) < 0 && errno == EACCES);
	EXPECT(unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0 && errno == EACCES);
	EXPECT(execve("/bin/true", (char *[]){ "true", NULL }, (char *[]){ NULL }) < 0 && errno == EACCES);
	EXPECT(kill(getpid(), 0) == 0);
	EXPECT(write(fds[1], "x", 1) == 1);
#undef EXPECT
	return 0;
}

/*
 * The worker while it loads tables into the table store (review R5-1):
 * the first filter lets it reach files by name and make memfds, but it
 * makes no socket, execs nothing and signals no one else; the full filter
 * stacked on it takes the files away.
 */
static int loading_child(void)
{
	struct dcr_err err;
	int fd, step = 0;

	if (sandbox_confine_worker(EACCES, true, &err) < 0)
		return 100;
#define EXPECT(cond) do { step++; if (!(cond)) return step; } while (0)
	EXPECT((fd = open("/etc/passwd", O_RDONLY)) >= 0 && close(fd) == 0);
	EXPECT(access("/etc/passwd", F_OK) == 0);
	EXPECT((fd = (int)syscall(SYS_memfd_create, "t", 0)) >= 0 && close(fd) == 0);
	EXPECT(socket(AF_INET, SOCK_STREAM, 0) < 0 && errno == EACCES);
	EXPECT(socket(AF_UNIX, SOCK_STREAM, 0) < 0 && errno == EACCES);
	EXPECT(kill(getppid(), 0) < 0 && errno == EACCES);
	EXPECT(ptrace(PTRACE_ATTACH, getppid(), NULL, NULL) < 0 && errno == EACCES);
	EXPECT(execve("/bin/true", (char *[]){ "true", NULL }, (char *[]){ NULL }) < 0 && errno == EACCES);
	EXPECT(kill(getpid(), 0) == 0);
	EXPECT(sql_worker_confine(&err) == 0);
	EXPECT(open("/etc/passwd", O_RDONLY) < 0 && errno == EACCES);
	EXPECT(access("/etc/passwd", F_OK) < 0 && errno == ENOENT);
#undef EXPECT
	return 0;
}

static void test_worker_confined(void **state)
{
	int (*const children[])(void) = { confined_child, loading_child };

	for (size_t i = 0; i < sizeof(children) / sizeof(children[0]); i++) {
		int status;
		pid_t child = fork();

		assert_true(child >= 0);
		if (child == 0)
			_exit(children[i]());
		assert_int_equal(waitpid(child, &status, 0), child);
		assert_true(WIFEXITED(status));
		if (WEXITSTATUS(status) != 0)
			fail_msg("check %d of the %s worker failed", WEXITSTATUS(status), i ? "loading" : "confined");
	}
}

/*
 * A table that fails to load stops its input at once: the rest of a large
 * input is neither decrypted nor sent.
 */
static void test_load_stops(void **state)
{
	struct dcr_room *room = room_with(tables_tu, "  sum_t: {type: sql, query: 'SELECT sum(a) AS s FROM t'}\n");
	struct input items[1] = { { "t", NULL, 0 } };
	char *big;
	struct run run;

	items[0].csv = big = big_t(200000, &items[0].len);
	*(strchr(big + 6, '\n') + 1) = 'x';
	run_sql(&run, room, "sum_t", items, 1);
	assert_int_equal(run.r, DCR_EINVALID);
	assert_string_equal(run.err.msg, "table 't', record 3, column 'a': the value is not an int64 "
		"(expected decimal digits with an optional sign)");
	assert_true(run.in.fed < items[0].len / 2);
	free(big);
	dcr_room_free(room);
}

/*
 * A worker taken over (through a DuckDB bug, say), played by this program
 * when /tmp/dcr-hostile-worker-PARENT names a node: instead of its job it
 * asks dcrd for that node, on the worker's socket (fd 3, frames of a type
 * byte, a little-endian u32 length and the payload, cmd/dcrd/sqlproc.c),
 * and sends what it gets back as its result.
 */
static int hostile_worker(const char *node)
{
	static uint8_t got[1 << 16], skip[1 << 12];
	uint8_t head[5], ask[5] = { 'r', (uint8_t)strlen(node) }, done[5 + 18] = { 'o', 18 };
	size_t n = 0;

	/* The job, dropped; then the answer to the ask, kept. */
	for (int frame = 0;; frame++) {
		uint32_t len;

		if (read(3, head, 5) != 5)
			return 1;
		len = (uint32_t)head[1] | (uint32_t)head[2] << 8 | (uint32_t)head[3] << 16 | (uint32_t)head[4] << 24;
		if (frame > 0 && head[0] == 'e')
			break;
		if (frame > 0 && (head[0] != 'd' || len > sizeof(got) - n))
			return 1;
		while (len > 0) {
			uint8_t *to = frame > 0 ? got + n : skip;
			ssize_t k = read(3, to, frame > 0 || len < sizeof(skip) ? len : sizeof(skip));

			if (k <= 0)
				return 1;
			len -= (uint32_t)k;
			n += frame > 0 ? (size_t)k : 0;
		}
		if (frame == 0 && (write(3, ask, 5) != 5 || write(3, node, strlen(node)) != (ssize_t)strlen(node)))
			return 1;
	}
	head[0] = 'd';
	for (int i = 0; i < 4; i++)
		head[1 + i] = (uint8_t)(n >> (8 * i));
	return write(3, head, 5) != 5 || write(3, got, n) != (ssize_t)n || write(3, done, sizeof(done)) != sizeof(done);
}

/*
 * dcrd gives the worker of a duckdb computation the tables without a
 * privacy rule only, the only ones its query can read: a worker taken over
 * that asks for another node gets nothing, and its job fails (review R5-2).
 */
static void test_hostile_worker(void **state)
{
	const struct input items[] = { { "t", "a,b\n1,open\n", 0 }, { "secret", "who,pay\nann,98765\n", 0 },
		{ "notes", "a note\n", 0 } };
	static const char *const asks[] = { "t", "secret", "notes", "nowhere" };
	struct dcr_room *room;
	char path[64];
	struct run run;

	/* A duckdb computation does not parse in a build without DuckDB. */
	if (!duck_version())
		skip();
	room = room_with(
		"  t:\n"
		"    type: table\n"
		"    columns: [{name: a, type: int64}, {name: b, type: string}]\n"
		"  secret:\n"
		"    type: table\n"
		"    columns: [{name: who, type: string}, {name: pay, type: int64}]\n"
		"    privacy: {min_group_size: 5}\n"
		"  notes: {type: file}\n",
		"  q: {type: sql, engine: duckdb, query: 'SELECT a FROM t'}\n");

	snprintf(path, sizeof(path), "/tmp/dcr-hostile-worker-%ld", (long)getpid());
	for (size_t i = 0; i < sizeof(asks) / sizeof(asks[0]); i++) {
		FILE *f = fopen(path, "w");
		char want[256];

		assert_non_null(f);
		fputs(asks[i], f);
		fclose(f);
		run_sql(&run, room, "q", items, 3);
		unlink(path);
		if (i == 0) {
			/* The harness works: the table the query may read comes back. */
			assert_string_equal(result(&run), "a,b\n1,open\n");
			continue;
		}
		snprintf(want, sizeof(want), "ERROR: computation 'q': the SQL worker asked for node '%s', which a duckdb "
			"computation cannot read", asks[i]);
		assert_string_equal(result(&run), want);
		assert_string_equal(run.in.read_log, "");
	}
	dcr_room_free(room);
}

/* ---- warm workers (sql_run_warm) ---- */

/* Through the pool, as dcrd runs SQLite jobs: every job of the tests is one room's. */
static int run_warm(const Dcr__V1__RoomDefinition *def, const char *name, const struct work_inputs *in,
	const struct sql_limits *lim, struct sql_result *out, struct dcr_err *err)
{
	return sql_run_warm("warm-room", def, name, in, lim, out, err);
}

static int setup_warm(void **state)
{
	struct dcr_err err;

	assert_int_equal(sql_pool_start(60000, 60000, 1000, &err), 0);
	return setup(state);
}

static int teardown_warm(void **state)
{
	sql_pool_stop();
	return teardown(state);
}

/* A pool of its own for a test: no worker kept from before. */
static void restart_pool(uint64_t idle_ms, unsigned max_jobs)
{
	struct dcr_err err;

	sql_pool_stop();
	assert_int_equal(sql_pool_idle(), 0);
	assert_int_equal(sql_pool_start(idle_ms, idle_ms, max_jobs, &err), 0);
}

static const char quick_compute[] =
	"  one: {type: sql, query: 'SELECT 1 AS one'}\n"
	"  sum_t: {type: sql, query: 'SELECT sum(a) AS s FROM t'}\n"
	"  trimmed: {type: sql, query: \"SELECT length(trim(printf('%.*c', 200000, 'b'),\n"
	"    printf('%.*c', 200000, 'a') || 'b')) AS n\"}\n"
	"  huge: {type: sql, query: \"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c\n"
	"    WHERE i < 2000000) SELECT COUNT(*) AS n FROM (SELECT DISTINCT printf('%.40d', i) FROM c)\"}\n";

/* The idle worker, which is this thread's only child: it ran the last job. */
static pid_t kept_worker(void)
{
	assert_int_equal(sql_pool_idle(), 1);
	return worker_of(getpid(), getpid());
}

/* A worker that ended a job well runs the room's next ones, up to max_jobs; then a new one. */
static void test_warm_kept(void **state)
{
	struct dcr_room *room = room_with(tables_tu, quick_compute);
	const struct input items[] = { { "t", t_csv, 0 } };
	struct run run;
	pid_t first;

	restart_pool(60000, 3);
	run_sql(&run, room, "one", NULL, 0);
	assert_string_equal(result(&run), "one\n1\n");
	first = kept_worker();
	assert_true(first > 0);
	run_sql(&run, room, "sum_t", items, 1);
	assert_string_equal(result(&run), "s\n6\n");
	assert_int_equal(kept_worker(), first);
	/* Its third job is its last. */
	run_sql(&run, room, "one", NULL, 0);
	assert_string_equal(result(&run), "one\n1\n");
	assert_int_equal(sql_pool_idle(), 0);
	assert_true(ended(first));
	run_sql(&run, room, "one", NULL, 0);
	assert_string_equal(result(&run), "one\n1\n");
	assert_true(kept_worker() != first);
	dcr_room_free(room);
}

/* Any failure, a limit's included, ends the worker: the next job gets a new one. */
static void test_warm_failure_ends(void **state)
{
	struct dcr_room *room = room_with(tables_tu, quick_compute);
	struct run run;
	struct {
		const char *name;
		uint64_t time_ms, max_memory;
		const char *error;
	} fails[] = {
		{ "sum_t", 0, 0, "nothing is published to node 't' yet" },
		{ "trimmed", 1000, 0, "computation 'trimmed' ran out of time (the limit is 1000 ms)" },
		{ "huge", 0, 32 << 20, "computation 'huge' exceeded its memory limit (33554432 bytes)" },
	};

	restart_pool(60000, 1000);
	for (size_t i = 0; i < sizeof(fails) / sizeof(*fails); i++) {
		pid_t w;

		/* A kept worker for the memory limit of the failing job. */
		run_lim(&run, room, "one", NULL, 0, 0, 0, fails[i].max_memory);
		assert_string_equal(result(&run), "one\n1\n");
		w = kept_worker();
		run_lim(&run, room, fails[i].name, NULL, 0, fails[i].time_ms, 0, fails[i].max_memory);
		assert_true(run.r < 0);
		assert_string_equal(run.err.msg, fails[i].error);
		assert_int_equal(sql_pool_idle(), 0);
		assert_true(ended(w));
	}
	dcr_room_free(room);
}

/* Idle for idle_ms, a worker ends (the machine may be slow: a minute's grace). */
static void test_warm_idle_exit(void **state)
{
	struct dcr_room *room = room_with(tables_tu, quick_compute);
	struct run run;
	pid_t w;

	restart_pool(500, 1000);
	run_sql(&run, room, "one", NULL, 0);
	assert_string_equal(result(&run), "one\n1\n");
	w = worker_of(getpid(), getpid());
	for (int i = 0; i < 6000 && sql_pool_idle() > 0; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	assert_int_equal(sql_pool_idle(), 0);
	/* The reaper ends it just after taking it out of the pool: reaped then, not only killed (no zombie). */
	for (int i = 0; i < 6000 && w > 0 && (!ended(w) || worker_of(getpid(), getpid()) != 0); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	assert_true(w <= 0 || ended(w));
	assert_int_equal(worker_of(getpid(), getpid()), 0);
	restart_pool(60000, 1000);
	dcr_room_free(room);
}

/*
 * Nothing of a job reaches the next in the same worker: its tables and
 * data are in a database of its own, gone with it; a definition that tries
 * to leave something behind (a temporary table, a pragma, an attached
 * database, an extension) fails, and so ends its worker; the next job,
 * looking for it, finds nothing.
 */
static void test_warm_no_leftovers(void **state)
{
	struct dcr_room *first = room_with(
		"  secret:\n"
		"    type: table\n"
		"    columns: [{name: s, type: string}]\n",
		"  all: {type: sql, query: 'SELECT s FROM secret'}\n");
	struct dcr_room *next = room_with(tables_tu, "  q: {type: sql, query: 'SELECT count(*) AS n FROM t'}\n");
	const struct input secrets[] = { { "secret", "s\nthe first job's secret\n", 0 } };
	const struct input empty[] = { { "t", "a,b,x\n", 0 } };
	Dcr__V1__Computation *q = dcr_room_definition(next)->compute[0];
	char *query = q->sql->query;
	static char *const leave[] = {
		"CREATE TEMP TABLE secret AS SELECT 'left' AS s", "PRAGMA temp_store = 2",
		"ATTACH 'file:secret?mode=memory&cache=shared' AS secret", "SELECT load_extension('secret')",
		"SELECT * FROM sqlite_temp_master",
	};
	static char *const look[] = { "SELECT * FROM secret", "SELECT * FROM temp.secret", "SELECT * FROM main.secret" };
	struct run run;
	pid_t w;

	restart_pool(60000, 1000);
	run_sql(&run, first, "all", secrets, 1);
	assert_string_equal(result(&run), "s\nthe first job's secret\n");
	w = kept_worker();
	/* The same worker, another room's definition: its own tables only, and empty. */
	run_sql(&run, next, "q", empty, 1);
	assert_string_equal(result(&run), "n\n0\n");
	assert_int_equal(kept_worker(), w);
	for (size_t i = 0; i < sizeof(look) / sizeof(*look); i++) {
		w = kept_worker();
		q->sql->query = look[i];
		run_sql(&run, next, "q", empty, 1);
		assert_true(run.r < 0);
		assert_non_null(strstr(run.err.msg, "no such table"));
		assert_true(ended(w));
		q->sql->query = query;
		run_sql(&run, next, "q", empty, 1);
		assert_string_equal(result(&run), "n\n0\n");
	}
	for (size_t i = 0; i < sizeof(leave) / sizeof(*leave); i++) {
		w = kept_worker();
		q->sql->query = leave[i];
		run_sql(&run, next, "q", empty, 1);
		assert_true(run.r < 0);
		assert_int_equal(sql_pool_idle(), 0);
		assert_true(ended(w));
		for (size_t k = 0; k < sizeof(look) / sizeof(*look); k++) {
			q->sql->query = look[k];
			run_sql(&run, next, "q", empty, 1);
			assert_true(run.r < 0);
			assert_non_null(strstr(run.err.msg, "no such table"));
		}
		q->sql->query = query;
		run_sql(&run, next, "q", empty, 1);
		assert_string_equal(result(&run), "n\n0\n");
	}
	q->sql->query = query;
	dcr_room_free(first);
	dcr_room_free(next);
}

/* A dcrd killed with a worker kept idle takes it along. */
static void test_warm_dies_with_dcrd(void **state)
{
	struct dcr_room *room = room_with(tables_tu, quick_compute);
	int fds[2], status;
	pid_t dcrd, w = 0;

	assert_int_equal(pipe(fds), 0);
	sql_pool_stop();
	dcrd = fork();
	assert_true(dcrd >= 0);
	if (dcrd == 0) {
		struct work_inputs in = { .read = read_input };
		struct sql_result res;
		struct dcr_err err;
		pid_t kept;

		close(fds[0]);
		if (sql_pool_start(3600 * 1000, 3600 * 1000, 1000, &err) < 0 ||
		    sql_run_warm("warm-room", dcr_room_definition(room), "one", &in, NULL, &res, &err) < 0)
			_exit(1);
		kept = worker_of(getpid(), getpid());
		if (write(fds[1], &kept, sizeof(kept)) != sizeof(kept))
			_exit(1);
		pause();
		_exit(0);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &w, sizeof(w)), sizeof(w));
	close(fds[0]);
	assert_true(w > 0);
	assert_false(ended(w));
	kill(dcrd, SIGKILL);
	assert_int_equal(waitpid(dcrd, &status, 0), dcrd);
	for (int i = 0; i < 6000 && !ended(w); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	assert_true(ended(w));
	restart_pool(60000, 1000);
	dcr_room_free(room);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_salary_sum),
		cmocka_unit_test(test_view_chain),
		cmocka_unit_test(test_unpublished),
		cmocka_unit_test(test_join_using),
		cmocka_unit_test(test_schema_violation),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_output_format),
		cmocka_unit_test(test_time_limit),
		cmocka_unit_test(test_result_limit),
		cmocka_unit_test(test_memory_limit),
		cmocka_unit_test(test_min_group_size),
		cmocka_unit_test(test_aggregate),
		cmocka_unit_test(test_aggregate),
		cmocka_unit_test(test_aggregate_random),
		cmocka_unit_test(test_aggregate_hostile_definition),
		cmocka_unit_test(test_protected_at_run_time),
		cmocka_unit_test(test_authorizer),
		cmocka_unit_test(test_load_stops),
		cmocka_unit_test(test_no_temp_files),
	};
	/* The same, and what only a worker can do, through the worker; the worker's own temp files are its business. */
	const struct CMUnitTest worker_tests[] = {
		cmocka_unit_test(test_salary_sum),
		cmocka_unit_test(test_view_chain),
		cmocka_unit_test(test_unpublished),
		cmocka_unit_test(test_join_using),
		cmocka_unit_test(test_schema_violation),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_output_format),
		cmocka_unit_test(test_time_limit),
		cmocka_unit_test(test_result_limit),
		cmocka_unit_test(test_memory_limit),
		cmocka_unit_test(test_min_group_size),
		cmocka_unit_test(test_aggregate),
		cmocka_unit_test(test_aggregate),
		cmocka_unit_test(test_aggregate_random),
		cmocka_unit_test(test_authorizer),
		cmocka_unit_test(test_load_stops),
		cmocka_unit_test(test_slow_function),
		cmocka_unit_test(test_worker_dies),
		cmocka_unit_test(test_worker_dies_with_dcrd),
		cmocka_unit_test(test_worker_confined),
		cmocka_unit_test(test_hostile_worker),
	};
	/* The same through workers kept between jobs, and what only those do. */
	const struct CMUnitTest warm_tests[] = {
		cmocka_unit_test(test_salary_sum),
		cmocka_unit_test(test_view_chain),
		cmocka_unit_test(test_unpublished),
		cmocka_unit_test(test_join_using),
		cmocka_unit_test(test_schema_violation),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_output_format),
		cmocka_unit_test(test_time_limit),
		cmocka_unit_test(test_result_limit),
		cmocka_unit_test(test_memory_limit),
		cmocka_unit_test(test_min_group_size),
		cmocka_unit_test(test_aggregate),
		cmocka_unit_test(test_aggregate),
		cmocka_unit_test(test_aggregate_random),
		cmocka_unit_test(test_authorizer),
		cmocka_unit_test(test_load_stops),
		cmocka_unit_test(test_slow_function),
		cmocka_unit_test(test_worker_dies),
		cmocka_unit_test(test_warm_kept),
		cmocka_unit_test(test_warm_failure_ends),
		cmocka_unit_test(test_warm_idle_exit),
		cmocka_unit_test(test_warm_no_leftovers),
		cmocka_unit_test(test_warm_dies_with_dcrd),
	};
	int failed;

	/* sql_run_isolated runs this program again as its worker. */
	if (argc > 2 && strcmp(argv[1], "sql-worker") == 0) {
		char path[64], node[256];
		FILE *f;

		snprintf(path, sizeof(path), "/tmp/dcr-hostile-worker-%.20s", argv[2]);
		if ((f = fopen(path, "r")) && fgets(node, sizeof(node), f)) {
			fclose(f);
			return hostile_worker(node);
		}
		if (f)
			fclose(f);
		return sql_worker_main(argc - 1, argv + 1);
	}
	failed = cmocka_run_group_tests_name("in this process", tests, setup, teardown);
	isolated = true;
	failed += cmocka_run_group_tests_name("in a worker process", worker_tests, setup, teardown);
	warm = true;
	return failed + cmocka_run_group_tests_name("in a warm worker", warm_tests, setup_warm, teardown_warm);
}
