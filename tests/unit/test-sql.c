/* Unit tests for lib/sql.c: the policy for rooms' queries, the tables a query reads, and room validation's bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "room.h"
#include "specs.h"
#include "sql.h"

static const char specs_yaml[] =
	"version: 1\n"
	"specs:\n"
	"  dcrd:sim:\n"
	"    format: sim\n"
	"    measurement: 0000000000000000000000000000000000000000000000000000000000000001\n";

static struct dcr_specs *specs;

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

/* ---- the database and its policy ---- */

/* A database with tables a (email, age) and b (email, spend), as a room's would be. */
static struct dcr_sql *two_tables(void)
{
	struct dcr_sql *s;
	struct dcr_err err;

	assert_int_equal(dcr_sql_new(&s, 0, &err), 0);
	assert_int_equal(dcr_sql_exec(s, "CREATE TABLE a (email TEXT, age INTEGER) STRICT", &err), 0);
	assert_int_equal(dcr_sql_exec(s, "CREATE TABLE b (email TEXT, spend REAL) STRICT", &err), 0);
	return s;
}

struct seen {
	char tables[256];
};

static int note_table(void *ctx, const char *table, struct dcr_err *err)
{
	struct seen *seen = ctx;
	char word[80];

	snprintf(word, sizeof(word), "%s ", table);
	if (!strstr(seen->tables, word))
		snprintf(seen->tables + strlen(seen->tables), sizeof(seen->tables) - strlen(seen->tables), "%s", word);
	return 0;
}

/* The tables query reads, "a b ", or "ERROR: message". */
static const char *reads(struct dcr_sql *s, const char *query)
{
	static char out[DCR_ERR_MSG_MAX + 16];
	struct seen seen = { "" };
	struct dcr_sql_reader reader = { .table = note_table, .ctx = &seen };
	struct dcr_err err;

	if (dcr_sql_prepare(s, query, NULL, &reader, &err) < 0)
		snprintf(out, sizeof(out), "ERROR: %s", err.msg);
	else
		snprintf(out, sizeof(out), "%s", seen.tables);
	return out;
}

/* What a join reads is what its program opens, whether or not a column of the table is named. */
static void test_reads(void **state)
{
	struct dcr_sql *s = two_tables();
	struct dcr_err err;
	static const struct {
		const char *query, *tables;
	} cases[] = {
		{ "SELECT COUNT(*) AS n FROM a JOIN b USING (email)", "a b " },
		{ "SELECT COUNT(*) AS n FROM a NATURAL JOIN b", "a b " },
		{ "SELECT COUNT(*) FROM a LEFT JOIN b USING (email)", "a b " },
		{ "SELECT COUNT(*) FROM a, b", "a b " },
		{ "SELECT COUNT(*) FROM a CROSS JOIN b", "a b " },
		{ "SELECT 1 FROM a WHERE EXISTS (SELECT 1 FROM b)", "a b " },
		{ "SELECT (SELECT COUNT(*) FROM b) AS n", "b " },
		{ "SELECT email FROM a UNION SELECT email FROM b", "a b " },
		{ "WITH x AS (SELECT * FROM b) SELECT COUNT(*) FROM x", "b " },
		{ "WITH x AS (SELECT * FROM b) SELECT COUNT(*) FROM a", "a " },
		{ "SELECT COUNT(*) FROM v", "a b " },
		{ "SELECT COUNT(*) FROM a x JOIN a y USING (email)", "a " },
		{ "SELECT 1 AS one", "" },
	};

	assert_int_equal(dcr_sql_create_view(s, "v", "SELECT * FROM a NATURAL JOIN b", &err), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
		if (strcmp(reads(s, cases[i].query), cases[i].tables) != 0)
			fail_msg("%s: read '%s', want '%s'", cases[i].query, reads(s, cases[i].query), cases[i].tables);
	dcr_sql_free(s);
}

/* What the policy refuses, at compile time, with what it says. */
static void test_refused(void **state)
{
	struct dcr_sql *s = two_tables();
	static const struct {
		const char *query, *msg;
	} cases[] = {
		{ "SELECT load_extension('x.so')", "function load_extension() is not allowed" },
		{ "SELECT fts3_tokenizer('simple')", "function fts3_tokenizer() is not allowed" },
		{ "SELECT fts3_tokenizer('x', zeroblob(8))", "function fts3_tokenizer() is not allowed" },
		{ "SELECT random()", "function random() is not allowed" },
		{ "SELECT randomblob(8)", "function randomblob() is not allowed" },
		{ "SELECT changes()", "function changes() is not allowed" },
		{ "SELECT last_insert_rowid()", "function last_insert_rowid() is not allowed" },
		{ "SELECT sqlite_compileoption_used('X')", "function sqlite_compileoption_used() is not allowed" },
		{ "SELECT * FROM json_each('[1]')", "it reads a virtual table or table-valued function" },
		{ "SELECT * FROM a, json_tree('[1]')", "it reads a virtual table or table-valued function" },
		{ "SELECT * FROM pragma_function_list", "it reads a virtual table or table-valued function" },
		{ "SELECT * FROM sqlite_schema", "it reads SQLite's schema" },
		{ "SELECT COUNT(*) FROM sqlite_master", "it reads SQLite's schema" },
		{ "SELECT COUNT(*) FROM temp.sqlite_temp_master", "it reads SQLite's schema" },
		{ "EXPLAIN SELECT * FROM a", "it must be exactly one SELECT statement" },
		{ "EXPLAIN QUERY PLAN SELECT * FROM a", "it must be exactly one SELECT statement" },
		{ "SELECT 1; SELECT 2", "it must be exactly one SELECT statement" },
		{ "", "it must be exactly one SELECT statement" },
		{ "BEGIN", "it may only read" },
		{ "PRAGMA table_info(a)", "it may only read" },
		{ "INSERT INTO a VALUES ('x', 1)", "it may only read" },
		{ "ATTACH ':memory:' AS x", "it may only read" },
		{ "CREATE TEMP TABLE x (y)", "it may only read" },
		{ "SELECT * FROM nosuch", "no such table: nosuch" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		const char *got = reads(s, cases[i].query);
		char want[256];

		snprintf(want, sizeof(want), "ERROR: %s", cases[i].msg);
		if (strncmp(got, want, strlen(want)) != 0)
			fail_msg("%s: got '%s', want '%s'", cases[i].query, got, want);
	}
	dcr_sql_free(s);
}

/* Every function the list allows exists in this SQLite (math ones included), and a sample of both kinds. */
static void test_functions(void **state)
{
	static const char *const allowed[] = { "abs", "coalesce", "count", "sum", "total", "group_concat",
		"row_number", "rank", "lag", "nth_value", "date", "strftime", "julianday", "unixepoch", "sqrt", "pow",
		"ln", "atan2", "json_extract", "->>", "json_group_array", "printf", "like", "glob", "iif", NULL };
	static const char *const refused[] = { "load_extension", "fts3_tokenizer", "fts5", "match", "snippet",
		"bm25", "highlight", "offsets", "matchinfo", "optimize", "rtreenode", "rtreedepth", "rtreecheck",
		"random", "randomblob", "changes", "total_changes", "last_insert_rowid", "sqlite_version",
		"sqlite_source_id", "sqlite_log", "sqlite_compileoption_get", "sqlite_compileoption_used", "subtype",
		"unknown_function", "ABS", "", NULL };
	struct dcr_sql *s = two_tables();
	sqlite3 *db;
	sqlite3_stmt *st;
	struct dcr_err err;
	size_t n_allowed = 0;
	int rc;

	for (size_t i = 0; allowed[i]; i++)
		if (!dcr_sql_function_allowed(allowed[i]))
			fail_msg("%s() is refused", allowed[i]);
	for (size_t i = 0; refused[i]; i++)
		if (dcr_sql_function_allowed(refused[i]))
			fail_msg("%s() is allowed", refused[i]);
	assert_false(dcr_sql_function_allowed(NULL));
	/* SQLite's own list, from a connection of its own: the policy refuses reading it. */
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT DISTINCT name FROM pragma_function_list", -1, &st, NULL),
		SQLITE_OK);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		n_allowed += dcr_sql_function_allowed((const char *)sqlite3_column_text(st, 0));
	assert_int_equal(rc, SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
	/* The whole list: none misspelt, none missing from Debian's SQLite 3.40. */
	assert_int_equal(n_allowed, 104);
	/* Allowed functions compile and run; a sample with the math functions Debian builds in. */
	assert_int_equal(dcr_sql_prepare(s, "SELECT abs(-1), sqrt(4.0), json_extract('{\"a\":1}', '$.a'), "
		"date('2024-02-28', '+1 day'), row_number() OVER (), '{\"a\":2}' ->> '$.a'", &st, NULL, &err), 0);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 1);
	assert_true(sqlite3_column_double(st, 1) == 2.0);
	assert_int_equal(sqlite3_column_int(st, 2), 1);
	assert_string_equal((const char *)sqlite3_column_text(st, 3), "2024-02-29");
	assert_int_equal(sqlite3_column_int(st, 5), 2);
	sqlite3_finalize(st);
	dcr_sql_free(s);
}

/*
 * fts3_tokenizer('simple') returns the address of a structure inside the
 * process; the two-argument form installs one. The authorizer refuses
 * both; underneath, the two-argument form is switched off as well.
 */
static void test_fts3_tokenizer(void **state)
{
	struct dcr_sql *s = two_tables();
	struct dcr_err err;
	int on = -1;

	assert_int_equal(sqlite3_db_config(dcr_sql_db(s), SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER, -1, &on), SQLITE_OK);
	assert_int_equal(on, 0);
	assert_int_equal(dcr_sql_exec(s, "SELECT fts3_tokenizer('simple', fts3_tokenizer('simple'))", &err),
		DCR_EFAIL);
	dcr_sql_free(s);
}

/* The limits are set on the connection, and a query beyond one fails to compile. */
static void test_limits(void **state)
{
	struct dcr_sql *s = two_tables();
	sqlite3 *db = dcr_sql_db(s);
	char *deep;
	int on = -1;

	assert_int_equal(sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, -1), 0);
	assert_int_equal(sqlite3_limit(db, SQLITE_LIMIT_LENGTH, -1), 32 << 20);
	assert_int_equal(sqlite3_limit(db, SQLITE_LIMIT_SQL_LENGTH, -1), 1 << 20);
	assert_int_equal(sqlite3_limit(db, SQLITE_LIMIT_EXPR_DEPTH, -1), 1000);
	assert_int_equal(sqlite3_limit(db, SQLITE_LIMIT_COMPOUND_SELECT, -1), 500);
	assert_int_equal(sqlite3_limit(db, SQLITE_LIMIT_FUNCTION_ARG, -1), 127);
	assert_int_equal(sqlite3_limit(db, SQLITE_LIMIT_LIKE_PATTERN_LENGTH, -1), 1000);
	assert_int_equal(sqlite3_limit(db, SQLITE_LIMIT_TRIGGER_DEPTH, -1), 1);
	assert_int_equal(sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, -1, &on), SQLITE_OK);
	assert_int_equal(on, 1);
	assert_int_equal(sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, -1, &on), SQLITE_OK);
	assert_int_equal(on, 0);
	/* 1 + 1 + ... : an expression 1001 deep, past the limit. */
	deep = malloc(8 + 2 * 1001 + 1);
	assert_non_null(deep);
	memcpy(deep, "SELECT 1", 8);
	for (size_t i = 0; i < 1001; i++)
		memcpy(deep + 8 + 2 * i, "+1", 2);
	deep[8 + 2 * 1001] = '\0';
	assert_non_null(strstr(reads(s, deep), "ERROR: Expression tree is too large (maximum depth 1000)"));
	free(deep);
	assert_string_equal(reads(s, "SELECT 1 UNION SELECT 2"), "");
	dcr_sql_free(s);
}

/* ---- validating rooms (lib/room.c, with this policy) ---- */

/* Lines 1 to 13 of every room below; compute entries start on line 14. */
static const char room_head[] =
	"version: 1\n"
	"name: sql\n"
	"enclave: dcrd:sim\n"
	"authentication: {platform: true}\n"
	"participants:\n"
	"  alice@acme.example:\n"
	"data:\n"
	"  t: {type: table, columns: [{name: x, type: int64}]}\n"
	"  a: {type: table, columns: [{name: email, type: string}, {name: age, type: int64}]}\n"
	"  b: {type: table, columns: [{name: email, type: string}, {name: spend, type: float64}]}\n"
	"  notes: {type: file}\n"
	"  shout: {type: file}\n"
	"compute:\n";

/* Parse room_head followed by compute; the room, or NULL with err set. */
static struct dcr_room *parse_compute(const char *compute, struct dcr_err *err)
{
	size_t n = strlen(room_head) + strlen(compute) + 1;
	char *yaml = malloc(n);
	struct dcr_room *room = NULL;

	assert_non_null(yaml);
	snprintf(yaml, n, "%s%s", room_head, compute);
	if (dcr_room_parse("room.yaml", (const uint8_t *)yaml, strlen(yaml), ".", specs, "", &room, err) < 0)
		assert_null(room);
	free(yaml);
	return room;
}

static void expect_refused(const char *compute, const char *want)
{
	struct dcr_err err;
	struct dcr_room *room = parse_compute(compute, &err);

	if (room || err.code != DCR_EINVALID || strcmp(err.msg, want) != 0)
		fail_msg("%.80s: got '%s', want '%s'", compute, room ? "(valid)" : err.msg, want);
}

/* Refused when the room is created, at the query's position, not only when it runs. */
static void test_create_refused(void **state)
{
	static const struct {
		const char *query, *msg;
	} cases[] = {
		{ "SELECT fts3_tokenizer('simple') AS p", "function fts3_tokenizer() is not allowed" },
		{ "SELECT fts3_tokenizer('simple', x'00') AS p", "function fts3_tokenizer() is not allowed" },
		{ "SELECT load_extension('/tmp/x.so') AS p", "function load_extension() is not allowed" },
		{ "SELECT random() AS p", "function random() is not allowed" },
		{ "SELECT value FROM json_each('[1]')", "it reads a virtual table or table-valued function" },
		{ "SELECT name FROM sqlite_master", "it reads SQLite's schema" },
		{ "EXPLAIN SELECT 1", "it must be exactly one SELECT statement" },
	};
	struct dcr_err err;
	struct dcr_room *room;

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char compute[256], want[DCR_ERR_MSG_MAX];

		snprintf(compute, sizeof(compute), "  q:\n    type: sql\n    query: %s\n", cases[i].query);
		room = parse_compute(compute, &err);
		snprintf(want, sizeof(want), "room.yaml:16:12: query of 'q': %s", cases[i].msg);
		if (room || err.code != DCR_EINVALID || strncmp(err.msg, want, strlen(want)) != 0)
			fail_msg("%s: got '%s', want '%s'", cases[i].query, room ? "(valid)" : err.msg, want);
	}
	/* A sample of what is allowed. */
	room = parse_compute("  q:\n    type: sql\n    query: >-\n"
		"      SELECT abs(x), sqrt(x), json_extract('{\"a\":1}', '$.a'), date('2024-01-01', '+1 day'),\n"
		"      row_number() OVER (ORDER BY x), group_concat(email), '[1]' ->> '$[0]'\n"
		"      FROM t JOIN a ON a.age = t.x GROUP BY x\n", &err);
	if (!room)
		fail_msg("%s", err.msg);
	dcr_room_free(room);
}

/* c1 reads t, each next one reads the one before: n of them, listed forwards or backwards. */
static char *chain(size_t n, bool backwards)
{
	size_t cap = 64 + n * 96, used = 0;
	char *s = malloc(cap);

	assert_non_null(s);
	s[0] = '\0';
	for (size_t k = 0; k < n; k++) {
		size_t i = backwards ? n - k : k + 1;

		if (i == 1)
			used += (size_t)snprintf(s + used, cap - used, "  c1: {type: sql, query: SELECT x FROM t}\n");
		else
			used += (size_t)snprintf(s + used, cap - used,
				"  c%zu: {type: sql, query: SELECT x + 1 AS x FROM c%zu}\n", i, i - 1);
	}
	return s;
}

/* At most 32 computations in a chain, each reading the next; whatever the order of the file. */
static void test_chain_bound(void **state)
{
	for (int backwards = 0; backwards <= 1; backwards++) {
		char *ok = chain(32, backwards), *over = chain(33, backwards), want[128];
		struct dcr_err err;
		struct dcr_room *room = parse_compute(ok, &err);
		const Dcr__V1__RoomDefinition *def;

		if (!room)
			fail_msg("%s", err.msg);
		def = dcr_room_definition(room);
		for (size_t i = 0; i < def->n_compute; i++)
			if (strcmp(def->compute[i]->name, "c32") == 0)
				assert_int_equal(def->compute[i]->n_depends, 31);
		dcr_room_free(room);
		/* The reader at the end of the chain is named, at its query. */
		snprintf(want, sizeof(want), "room.yaml:%d:27: query of 'c33' heads a chain of more than 32 SQL "
			"computations, each reading the next", backwards ? 14 : 46);
		expect_refused(over, want);
		free(ok);
		free(over);
	}
}

/* A query of n bytes reading t. */
static char *big_query(size_t n)
{
	char *q = malloc(n + 1);
	size_t used;

	assert_non_null(q);
	used = (size_t)snprintf(q, n + 1, "SELECT x FROM t WHERE x NOT IN (0");
	while (used + 3 < n)
		used += (size_t)snprintf(q + used, n + 1 - used, ",%zu", used % 10);
	snprintf(q + used, n + 1 - used, "%*s)", (int)(n - used - 1), "");
	assert_int_equal(strlen(q), n);
	return q;
}

/* Whether lib/room takes engine duckdb (a build with DuckDB). */
static bool built_with_duckdb(void)
{
	struct dcr_err err;
	struct dcr_room *room = parse_compute("  c1: {type: sql, engine: duckdb, query: 'SELECT x FROM t'}\n", &err);

	dcr_room_free(room);
	return room != NULL;
}

/* YAML aliases repeat a query without making the file larger: the queries are bounded together. */
static void test_total_bound(void **state)
{
	char *q = big_query(60000), *compute = malloc(80000), want[256];
	size_t used;

	assert_non_null(compute);
	used = (size_t)snprintf(compute, 80000, "  c1: {type: sql, query: &q '%s'}\n", q);
	for (int i = 2; i <= 20; i++)
		used += (size_t)snprintf(compute + used, 80000 - used, "  c%d: {type: sql, query: *q}\n", i);
	/* 18 times 60000 bytes is past 1 MiB; the alias's position is its anchor's. */
	snprintf(want, sizeof(want), "room.yaml:14:26: query of 'c18' brings the room's queries to more than "
		"1048576 bytes in all");
	expect_refused(compute, want);
	/* DuckDB queries count too (dcrd compiles them, every job carries them), alone or with SQLite's. */
	if (built_with_duckdb()) {
		used = (size_t)snprintf(compute, 80000, "  c1: {type: sql, query: &q '%s'}\n", q);
		for (int i = 2; i <= 20; i++)
			used += (size_t)snprintf(compute + used, 80000 - used, "  c%d: {type: sql, engine: %s, query: *q}\n",
				i, i % 2 ? "sqlite" : "duckdb");
		expect_refused(compute, want);
		used = (size_t)snprintf(compute, 80000, "  c1: {type: sql, engine: duckdb, query: &q '%s'}\n", q);
		for (int i = 2; i <= 20; i++)
			used += (size_t)snprintf(compute + used, 80000 - used, "  c%d: {type: sql, engine: duckdb, "
				"query: *q}\n", i);
		snprintf(want, sizeof(want), "room.yaml:14:42: query of 'c18' brings the room's queries to more than "
			"1048576 bytes in all");
		expect_refused(compute, want);
	}
	free(compute);
	free(q);
}

/*
 * Views inline into the queries that read them, as often as they are
 * read: a few of them each reading the last twice come to gigabytes. The
 * SQL a query comes to with them expanded is bounded, CTEs used twice
 * counting twice.
 */
static void test_expanded_bound(void **state)
{
	char *q = big_query(40000), *compute = malloc(60000);
	size_t used;
	struct dcr_err err;
	struct dcr_room *room;

	assert_non_null(compute);
	used = (size_t)snprintf(compute, 60000, "  v0: {type: sql, query: '%s'}\n", q);
	/* v6 comes to 64 times 40000 bytes: 2.56 MB. */
	for (int i = 1; i <= 6; i++)
		used += (size_t)snprintf(compute + used, 60000 - used,
			"  v%d: {type: sql, query: 'SELECT p.x FROM v%d p, v%d q'}\n", i, i - 1, i - 1);
	snprintf(compute + used, 60000 - used, "  w: {type: sql, query: 'WITH y AS (SELECT x FROM v6) SELECT * FROM y'}\n");
	room = parse_compute(compute, &err);
	if (!room)
		fail_msg("%s", err.msg);
	dcr_room_free(room);
	snprintf(compute + used, 60000 - used,
		"  w: {type: sql, query: 'WITH y AS (SELECT x FROM v6) SELECT * FROM y, y AS z'}\n");
	expect_refused(compute, "room.yaml:21:25: query of 'w' comes to more than 4194304 bytes of SQL with "
		"the computations it reads (each as often as it reads them)");
	snprintf(compute + used, 60000 - used, "  v7: {type: sql, query: 'SELECT p.x FROM v6 p JOIN v6 q USING (x)'}\n");
	expect_refused(compute, "room.yaml:21:26: query of 'v7' comes to more than 4194304 bytes of SQL with "
		"the computations it reads (each as often as it reads them)");
	free(compute);
	free(q);
}

/* The names of c's dependencies, "a b ". */
static const char *depends_of(const struct dcr_room *room, const char *c)
{
	static char out[256];
	const Dcr__V1__RoomDefinition *def = dcr_room_definition(room);

	out[0] = '\0';
	for (size_t i = 0; i < def->n_compute; i++)
		if (strcmp(def->compute[i]->name, c) == 0)
			for (size_t d = 0; d < def->compute[i]->n_depends; d++)
				snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s ", def->compute[i]->depends[d]);
	return out;
}

/* A query depends on the computations it needs to compile, however it reads them. */
static void test_dependencies(void **state)
{
	struct dcr_err err;
	struct dcr_room *room = parse_compute(
		"  top: {type: sql, query: SELECT n FROM u}\n"
		"  u: {type: sql, query: SELECT COUNT(*) AS n FROM a JOIN v USING (email)}\n"
		"  v: {type: sql, query: SELECT email FROM b}\n"
		"  alias: {type: sql, query: 'SELECT 1 AS v, 2 AS u FROM t'}\n"
		"  shadow: {type: sql, query: WITH v AS (SELECT 1 AS email) SELECT * FROM v}\n"
		"  upper: {type: sql, query: SELECT COUNT(*) AS n FROM V}\n"
		"  quoted: {type: sql, query: \"SELECT COUNT(*) AS n FROM 'v'\"}\n"
		"  natural: {type: sql, query: SELECT COUNT(*) AS n FROM v NATURAL JOIN a}\n", &err);

	if (!room)
		fail_msg("%s", err.msg);
	assert_string_equal(depends_of(room, "top"), "u v ");
	assert_string_equal(depends_of(room, "u"), "v ");
	assert_string_equal(depends_of(room, "v"), "");
	assert_string_equal(depends_of(room, "alias"), "");
	assert_string_equal(depends_of(room, "shadow"), "");
	assert_string_equal(depends_of(room, "upper"), "v ");
	assert_string_equal(depends_of(room, "quoted"), "v ");
	assert_string_equal(depends_of(room, "natural"), "v ");
	dcr_room_free(room);
	/* b1 is checked first, as a1 names it: the cycle closes at a1's query. */
	expect_refused("  a1: {type: sql, query: SELECT x FROM b1}\n  b1: {type: sql, query: SELECT x FROM a1}\n",
		"room.yaml:14:26: dependency cycle: b1 -> a1 -> b1");
	expect_refused("  a1: {type: sql, query: SELECT x FROM a1}\n", "room.yaml:14:26: query of 'a1' reads its own result");
	expect_refused("  a1: {type: sql, query: SELECT x FROM shout}\n",
		"room.yaml:14:26: query of 'a1' reads 'shout', a file node; SQL reads table nodes and SQL computations");
}

/*
 * Each CTE below reads the one before twice, and SQLite copies a CTE for
 * every use before it compiles anything: 30 short lines ask for 2^30
 * copies, minutes and gigabytes of work that no callback can interrupt.
 * Validation's memory budget stops it at once, at the query.
 */
static void test_compile_memory(void **state)
{
	char compute[4096];
	size_t used = (size_t)snprintf(compute, sizeof(compute),
		"  q:\n    type: sql\n    query: >-\n      WITH a0 AS (SELECT 1 AS x)");
	struct dcr_err err;
	struct dcr_room *room;

	for (int i = 1; i < 30; i++)
		used += (size_t)snprintf(compute + used, sizeof(compute) - used,
			",\n      a%d AS (SELECT p.x FROM a%d p, a%d q)", i, i - 1, i - 1);
	snprintf(compute + used, sizeof(compute) - used, "\n      SELECT COUNT(*) FROM a29\n");
	room = parse_compute(compute, &err);
	assert_null(room);
	assert_string_equal(err.msg, "room.yaml:16:12: query of 'q' needs more than 64 MiB to compile");
}

/* A query whose compiling SQLite spends about 100 MB of allocations on: 15 CTEs, each reading the one before twice. */
static size_t heavy_query(char *buf, size_t size, const char *name, const char *reads)
{
	size_t used = (size_t)snprintf(buf, size, "  %s:\n    type: sql\n    query: >-\n      WITH a0 AS (SELECT 1 AS x)",
		name);

	for (int i = 1; i < 16; i++)
		used += (size_t)snprintf(buf + used, size - used, ", a%d AS (SELECT p.x FROM a%d p, a%d q)", i, i - 1, i - 1);
	return used + (size_t)snprintf(buf + used, size - used, "\n      SELECT COUNT(*) AS n FROM a15%s\n", reads);
}

/*
 * The review of issue 12's fixes: a query was compiled again for each view
 * it read that came after it in the file (each "no such table" checked
 * that view, then compiled the query anew), so an expensive query reading
 * 990 views took 128.7 s to validate, and less with the query last. The
 * order of the checks now comes from the names in the queries' text, so
 * the query below compiles once whatever the order; and all the compiling
 * of a room is bounded, so that 12 such queries are refused.
 */
static void test_compile_work(void **state)
{
	static char compute[1 << 16];
	char reads[4096] = "";
	struct dcr_err err;
	struct dcr_room *room;
	size_t used = 0;

	/*
	 * The query first, then the 20 views it reads; a comment in each view
	 * names q falsely, in a cycle, and the quotes in q's comments must not
	 * hide the names between them.
	 */
	for (int v = 1; v <= 20; v++)
		snprintf(reads + strlen(reads), sizeof(reads) - strlen(reads), " /* it's */ JOIN v%d ON 1 /* 's */", v);
	used += heavy_query(compute, sizeof(compute), "q", reads);
	for (int v = 1; v <= 20; v++)
		used += (size_t)snprintf(compute + used, sizeof(compute) - used,
			"  v%d: {type: sql, query: 'SELECT %d AS x /* not q */'}\n", v, v);
	room = parse_compute(compute, &err);
	if (!room)
		fail_msg("%s", err.msg);
	dcr_room_free(room);
	/* Twelve of them, each compiled once: more than validation may spend on a room. */
	used = 0;
	for (int i = 0; i < 12; i++) {
		char name[8];

		snprintf(name, sizeof(name), "h%d", i);
		used += heavy_query(compute + used, sizeof(compute) - used, name, "");
	}
	room = parse_compute(compute, &err);
	assert_null(room);
	assert_int_equal(err.code, DCR_EINVALID);
	if (!strstr(err.msg, "takes SQLite more than 1024 MiB of allocations in all"))
		fail_msg("%s", err.msg);
}

/*
 * Budgets nest on a thread (a database made while another is open): a
 * block stays charged to the budget that allocated it when it grows or is
 * freed under the inner one. Before, a realloc moved it onto the inner
 * budget and the outer one never got it back.
 */
static void test_nested_budgets(void **state)
{
	struct dcr_sql *outer, *inner;
	struct dcr_err err;
	uint64_t outer_base, inner_base;
	void *p;

	assert_int_equal(dcr_sql_new(&outer, 8 << 20, &err), 0);
	outer_base = dcr_sql_memory_used(outer);
	p = sqlite3_malloc(1000);
	assert_non_null(p);
	assert_int_equal(dcr_sql_memory_used(outer), outer_base + 1000);
	assert_int_equal(dcr_sql_new(&inner, 8 << 20, &err), 0);
	inner_base = dcr_sql_memory_used(inner);
	p = sqlite3_realloc(p, 5000);
	assert_non_null(p);
	assert_int_equal(dcr_sql_memory_used(outer), outer_base + 5000);
	assert_int_equal(dcr_sql_memory_used(inner), inner_base);
	sqlite3_free(p);
	assert_int_equal(dcr_sql_memory_used(outer), outer_base);
	assert_int_equal(dcr_sql_memory_used(inner), inner_base);
	/* The outer budget's cap holds for its block under the inner one too. */
	dcr_sql_free(inner);
	p = sqlite3_malloc(1000);
	assert_int_equal(dcr_sql_new(&inner, 0, &err), 0);
	assert_null(sqlite3_realloc(p, 16 << 20));
	assert_true(dcr_sql_memory_exceeded(outer));
	sqlite3_free(p);
	assert_int_equal(dcr_sql_memory_used(outer), outer_base);
	dcr_sql_free(inner);
	dcr_sql_free(outer);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_functions),
		cmocka_unit_test(test_fts3_tokenizer),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_create_refused),
		cmocka_unit_test(test_chain_bound),
		cmocka_unit_test(test_total_bound),
		cmocka_unit_test(test_expanded_bound),
		cmocka_unit_test(test_dependencies),
		cmocka_unit_test(test_compile_memory),
		cmocka_unit_test(test_nested_budgets),
		cmocka_unit_test(test_compile_work),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
