/* Unit tests for lib/room.c: validation errors, canonical form, room IDs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <time.h>

#include "crypto.h"
#include "pki.h"
#include "room.h"
#include "fileio.h"
#include "specs.h"
#include "ydoc.h"

static const char specs_yaml[] =
	"version: 1\n"
	"specs:\n"
	"  dcrd:sim:\n"
	"    format: sim\n"
	"    measurement: 0000000000000000000000000000000000000000000000000000000000000001\n"
	"  dcrd:v1:\n"
	"    format: sgx-dcap\n"
	"    mrenclave: 33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb\n";

static const char base_yaml[] =
	"version: 1\n"
	"name: pay\n"
	"description: two payrolls\n"
	"enclave: dcrd:sim\n"
	"authentication:\n"
	"  platform: true\n"
	"participants:\n"
	"  alice@acme.example: [upload acme, run total, fetch total, run shout]\n"
	"  bob@beta.example: [upload beta, upload notes, fetch shout]\n"
	"data:\n"
	"  acme:\n"
	"    type: table\n"
	"    columns:\n"
	"      - {name: name, type: string}\n"
	"      - {name: salary, type: float64}\n"
	"  beta:\n"
	"    type: table\n"
	"    columns:\n"
	"      - {name: name, type: string}\n"
	"      - {name: salary, type: float64}\n"
	"  notes:\n"
	"    type: file\n"
	"compute:\n"
	"  total:\n"
	"    type: sql\n"
	"    query: SELECT SUM(salary) AS total FROM (SELECT salary FROM acme UNION ALL SELECT salary FROM beta)\n"
	"  shout:\n"
	"    type: python\n"
	"    script: up.py\n"
	"    mounts: {/input/text.txt: notes}\n";

/* The same room, written differently: order, style, quoting, comments, explicit defaults. */
static const char same_yaml[] =
	"# a comment that changes nothing\n"
	"compute:\n"
	"  shout: {type: python, script: './up.py', mounts: {'/input/text.txt': notes},\n"
	"          command: [python3, /code/up.py], output: /output, logs: hidden,\n"
	"          limits: {time: 60s, memory: 1GiB}}\n"
	"  total:\n"
	"      type: \"sql\"\n"
	"      query: \"SELECT SUM(salary) AS total FROM (SELECT salary FROM acme UNION ALL SELECT salary FROM beta)\"\n"
	"data:\n"
	"  notes: {type: file}\n"
	"  beta: &t\n"
	"    type: table\n"
	"    header: true\n"
	"    delimiter: ','\n"
	"    columns: [{name: name, type: string, nullable: false}, {type: float64, name: salary}]\n"
	"  acme: *t\n"
	"participants:\n"
	"  Bob@Beta.Example:\n"
	"    - fetch shout\n"
	"    - upload notes\n"
	"    - upload beta\n"
	"  alice@acme.example: [run shout, fetch total, run total, upload acme]\n"
	"default_permissions: true\n"
	"authentication: {platform: true}\n"
	"enclave: 'dcrd:sim'\n"
	"description: 'two payrolls'\n"
	"name: pay\n"
	"version: 1\n";

static char dir[256];
static struct dcr_specs *specs;

static int setup(void **state)
{
	char path[300];
	struct dcr_err err;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/dcr-room-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/up.py", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("print(open('/input/text.txt').read().upper())\n", f);
	fclose(f);
	assert_int_equal(dcr_specs_parse("specs.yaml", (const uint8_t *)specs_yaml, strlen(specs_yaml), &specs, &err), 0);
	return 0;
}

static int teardown(void **state)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/up.py", dir);
	unlink(path);
	rmdir(dir);
	dcr_specs_free(specs);
	return 0;
}

static int parse(const char *yaml, const char *salt, struct dcr_room **room, struct dcr_err *err)
{
	return dcr_room_parse("room.yaml", (const uint8_t *)yaml, strlen(yaml), dir, specs, salt, room, err);
}

/* The ID of yaml, which must be valid. */
static void id_of(const char *yaml, const char *salt, char out[DCR_ROOM_ID_HEX])
{
	struct dcr_room *room;
	struct dcr_err err = { 0 };
	int r = parse(yaml, salt, &room, &err);

	if (r != 0)
		fail_msg("unexpected error: %s", err.msg);
	memcpy(out, dcr_room_id(room), DCR_ROOM_ID_HEX);
	dcr_room_free(room);
}

/* Replace the first occurrence of from in base by to. */
static char *edit(const char *base, const char *from, const char *to)
{
	const char *at = strstr(base, from);
	size_t n = strlen(base) - strlen(from) + strlen(to) + 1;
	char *s = malloc(n);

	assert_non_null(at);
	assert_non_null(s);
	snprintf(s, n, "%.*s%s%s", (int)(at - base), base, to, at + strlen(from));
	return s;
}

static void test_valid(void **state)
{
	const Dcr__V1__RoomDefinition *def;
	struct dcr_room *room;
	struct dcr_err err;
	size_t len;

	assert_int_equal(parse(base_yaml, "", &room, &err), 0);
	def = dcr_room_definition(room);
	assert_string_equal(def->name, "pay");
	assert_int_equal(def->n_participants, 2);
	assert_string_equal(def->participants[0]->email, "alice@acme.example");
	assert_int_equal(def->n_data, 3);
	assert_string_equal(def->data[0]->name, "acme");
	assert_int_equal(def->n_compute, 2);
	assert_string_equal(def->compute[0]->name, "shout");
	assert_int_equal(def->compute[0]->python->n_command, 2);
	assert_string_equal(def->compute[0]->python->command[1], "/code/up.py");
	assert_non_null(strstr((const char *)def->compute[0]->python->script.data, "upper()"));
	assert_string_equal(def->enclave->name, "dcrd:sim");
	assert_int_equal(def->enclave->measurement.len, 32);
	assert_int_equal(strlen(dcr_room_id(room)), 64);
	assert_non_null(dcr_room_encoding(room, &len));
	assert_true(len > 100);
	dcr_room_free(room);
	dcr_room_free(NULL);
}

static void test_id_invariant(void **state)
{
	char a[DCR_ROOM_ID_HEX], b[DCR_ROOM_ID_HEX];

	id_of(base_yaml, "", a);
	id_of(base_yaml, "", b);
	assert_string_equal(a, b);
	id_of(same_yaml, "", b);
	assert_string_equal(a, b);
}

static void test_id_changes(void **state)
{
	static const struct {
		const char *from, *to;
	} edits[] = {
		{ "name: pay", "name: pay2" },
		{ "description: two payrolls", "description: two payrolls." },
		{ "{name: salary, type: float64}", "{name: salary, type: int64}" },
		{ "      - {name: name, type: string}\n      - {name: salary, type: float64}\n  beta",
		  "      - {name: salary, type: float64}\n      - {name: name, type: string}\n  beta" },
		{ "SELECT SUM(salary) AS total", "SELECT SUM(salary) AS total2" },
		{ "fetch shout]", "fetch shout, run total]" },
		{ "compute:\n", "compute:\n  agg: {type: aggregate, from: acme, select: [{name: n, count: '*'}]}\n" },
		{ "    type: file\n", "    type: file\n  gamma:\n    type: table\n    columns: [{name: id, type: string}]\n"
				   "    privacy: {min_group_size: 5}\n" },
		{ "enclave: dcrd:sim", "enclave: dcrd:v1" },
		{ "platform: true", "platform: false\n  ca: []\n  platform: true" },
		{ "    mounts: {/input/text.txt: notes}", "    mounts: {/input/t.txt: notes}" },
		{ "    script: up.py\n", "    script: up.py\n    limits: {time: 61s}\n" },
		{ "    script: up.py\n", "    script: up.py\n    logs: visible\n" },
		{ "    type: file", "    type: table\n    columns: [{name: line, type: string}]" },
		{ "version: 1\n", "version: 1\ndefault_permissions: false\n" },
	};
	char base[DCR_ROOM_ID_HEX], other[DCR_ROOM_ID_HEX];

	id_of(base_yaml, "", base);
	for (size_t i = 0; i < sizeof(edits) / sizeof(*edits); i++) {
		char *changed = edit(base_yaml, edits[i].from, edits[i].to);
		struct dcr_room *room;
		struct dcr_err err;

		if (parse(changed, "", &room, &err) != 0) {
			/* Only the duplicate-key edit is meant to fail. */
			assert_non_null(strstr(err.msg, "duplicate key 'platform'"));
			free(changed);
			continue;
		}
		assert_string_not_equal(dcr_room_id(room), base);
		dcr_room_free(room);
		free(changed);
	}
	id_of(base_yaml, "second", other);
	assert_string_not_equal(base, other);
}

static void test_script_content_in_id(void **state)
{
	char before[DCR_ROOM_ID_HEX], after[DCR_ROOM_ID_HEX], path[300];
	FILE *f;

	id_of(base_yaml, "", before);
	snprintf(path, sizeof(path), "%s/up.py", dir);
	f = fopen(path, "a");
	assert_non_null(f);
	fputs("# one more line\n", f);
	fclose(f);
	id_of(base_yaml, "", after);
	assert_string_not_equal(before, after);
}

/* Each mistake is caught with its position and a message a user can act on. */
/* An edit of a valid definition (from replaced by to) that must be refused with a message holding want. */
struct error_case {
	const char *from, *to, *want;
};

/* Each case is refused as invalid, with a message that starts with the file's name and holds want. */
static void expect_errors(const char *base, const struct error_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *bad = edit(base, cases[i].from, cases[i].to);
		struct dcr_room *room = NULL;
		struct dcr_err err = { 0 };
		int r = parse(bad, "", &room, &err);

		if (r == 0 || !strstr(err.msg, cases[i].want))
			fail_msg("case %zu: got %d '%s', want '%s'", i, r, err.msg, cases[i].want);
		assert_null(room);
		assert_true(err.code == DCR_EINVALID);
		assert_memory_equal(err.msg, "room.yaml", 9);
		free(bad);
	}
}

static void test_errors(void **state)
{
	static const struct error_case cases[] = {
		{ "name: pay", "name: [pay", "room.yaml:" },
		{ "name: pay", "nmae: pay", "room.yaml:2:1: unknown key 'nmae' in a room definition (did you mean 'name'?)" },
		{ "version: 1", "version: 2", "room.yaml:1:10: version must be between 1 and 1" },
		{ "version: 1", "version: one", "version must be a whole number" },
		{ "platform: true", "platform: yes", "room.yaml:6:13: platform must be true or false" },
		{ "  notes:\n", "  acme:\n", "duplicate key 'acme' in data" },
		{ "  shout:\n", "  notes:\n", "'notes' names both a data node and a computation" },
		{ "{name: salary, type: float64}", "{name: salary, type: float}",
		  "unknown column type 'float' (did you mean 'float64'?)" },
		{ "{name: salary, type: float64}", "{name: name, type: float64}", "duplicate column 'name'" },
		{ "upload acme,", "upload acne,", "data node 'acne' does not exist (did you mean 'acme'?)" },
		{ "run total,", "run totl,", "computation 'totl' does not exist (did you mean 'total'?)" },
		{ "upload acme,", "upload total,", "cannot upload to 'total': it is a computation" },
		{ "run total,", "run acme,", "cannot run 'acme': it is a data node" },
		{ "upload acme,", "uplaod acme,", "unknown permission 'uplaod' (did you mean 'upload'?)" },
		{ "upload acme,", "zzzzzz acme,", "unknown permission 'zzzzzz' (upload," },
		{ "alice@acme.example", "alice-at-acme", "room.yaml:8:3: 'alice-at-acme' is not a valid e-mail address" },
		{ "bob@beta.example", "ALICE@acme.example", "participant 'alice@acme.example' is listed twice" },
		{ "{/input/text.txt: notes}", "{/etc/passwd: notes}", "mount '/etc/passwd' must be a path under /input/" },
		{ "{/input/text.txt: notes}", "{/input/../x: notes}", "must be a path under /input/" },
		{ "{/input/text.txt: notes}", "{/input/text.txt: nots}", "mounted node 'nots' does not exist (did you mean 'notes'?)" },
		{ "script: up.py", "script: missing.py", "room.yaml:29:13: cannot read script: cannot open" },
		{ "FROM acme UNION", "FROM acmee UNION", "query of 'total' reads 'acmee', which is not a node (did you mean 'acme'?)" },
		{ "FROM acme UNION", "FROM notes UNION", "reads 'notes', a file node" },
		{ "SELECT SUM(salary) AS total FROM", "DELETE FROM acme; SELECT SUM(salary) AS total FROM",
		  "query of 'total': it may only read" },
		{ "SELECT SUM(salary) AS total", "SELECT SUM(salry) AS total", "no such column: salry" },
		{ "enclave: dcrd:sim", "enclave: dcrd:sin", "enclave 'dcrd:sin' is not in the trusted specs (did you mean 'dcrd:sim'?)" },
		{ "platform: true", "platform: false", "no way to authenticate participants" },
		{ "type: sql", "type: sqll", "unknown computation type 'sqll' (did you mean 'sql'?)" },
		{ "    script: up.py\n", "    script: up.py\n    limits: {time: 10}\n", "time must be a number with a unit" },
		{ "    script: up.py\n", "    script: up.py\n    limits: {memory: 1TiB}\n", "memory must be a number with a unit" },
		{ "    script: up.py\n", "    script: up.py\n    depends: [shout]\n", "depends on itself" },
		{ "    script: up.py\n", "    script: up.py\n    depends: [acme]\n", "'acme' is a data node" },
		{ "participants:", "participants: {}\nx:", "unknown key 'x'" },
		{ "  notes:\n", "  sqlite_notes:\n", "must not start with 'sqlite_'" },
		{ "    script: up.py\n", "    script: up.py\n    command: [\"python3\\n\"]\n", "control characters" },
	};

	expect_errors(base_yaml, cases, sizeof(cases) / sizeof(*cases));
}

/* ---- privacy rules and aggregate computations (dcr-room(5), PRIVACY RULES) ---- */

static const char privacy_yaml[] =
	"version: 1\n"
	"name: privacy\n"
	"enclave: dcrd:sim\n"
	"authentication: {platform: true}\n"
	"participants:\n"
	"  alice@acme.example: [run overlap]\n"
	"data:\n"
	"  acme:\n"
	"    type: table\n"
	"    columns:\n"
	"      - {name: email, type: string}\n"
	"      - {name: region, type: string}\n"
	"      - {name: spend, type: float64}\n"
	"      - {name: age, type: int64}\n"
	"    privacy: {min_group_size: 5, identity: email, group_by: [region], aggregate: [spend], join: [email]}\n"
	"  beta:\n"
	"    type: table\n"
	"    columns:\n"
	"      - {name: email, type: string}\n"
	"      - {name: region, type: string}\n"
	"      - {name: spend, type: float64}\n"
	"      - {name: age, type: int64}\n"
	"  notes: {type: file}\n"
	"compute:\n"
	"  overlap:\n"
	"    type: aggregate\n"
	"    from: acme\n"
	"    join:\n"
	"      - {table: beta, on: [acme.email, beta.email]}\n"
	"    where:\n"
	"      - {column: acme.region, op: \"!=\", value: test}\n"
	"    group_by: [acme.region]\n"
	"    select:\n"
	"      - {name: n, count: \"*\"}\n"
	"      - {name: spend, sum: acme.spend, round: 2}\n";

static void test_privacy_valid(void **state)
{
	struct dcr_room *room;
	struct dcr_err err = { 0 };
	const Dcr__V1__RoomDefinition *def;
	const Dcr__V1__AggregateComputation *ag;
	const Dcr__V1__TablePrivacy *t;
	char a[DCR_ROOM_ID_HEX], b[DCR_ROOM_ID_HEX];
	char *other;

	if (parse(privacy_yaml, "", &room, &err) != 0)
		fail_msg("%s", err.msg);
	def = dcr_room_definition(room);
	t = def->data[0]->table->privacy;
	assert_non_null(t);
	assert_int_equal(t->min_group_size, 5);
	assert_string_equal(t->identity, "email");
	assert_int_equal(t->n_group_by, 1);
	assert_null(def->data[1]->table->privacy);
	assert_int_equal(def->compute[0]->kind_case, DCR__V1__COMPUTATION__KIND_AGGREGATE);
	ag = def->compute[0]->aggregate;
	assert_string_equal(ag->from, "acme");
	assert_int_equal(ag->n_joins, 1);
	assert_string_equal(ag->joins[0]->right->table, "beta");
	assert_int_equal(ag->filters[0]->op, DCR__V1__FILTER_OP__FILTER_OP_NE);
	assert_int_equal(ag->select[1]->round, 3);
	dcr_room_free(room);

	/* The join's columns in either order, and a bare column that one table has, give the same room. */
	id_of(privacy_yaml, "", a);
	other = edit(privacy_yaml, "on: [acme.email, beta.email]", "on: [beta.email, acme.email]");
	id_of(other, "", b);
	assert_string_equal(a, b);
	free(other);
	/* The rule's lists are sorted, and min_group_size 1 on a computation is none. */
	other = edit(privacy_yaml, "    select:\n", "    privacy: {min_group_size: 1}\n    select:\n");
	id_of(other, "", b);
	assert_string_equal(a, b);
	free(other);
	other = edit(privacy_yaml, "group_by: [region], aggregate: [spend]", "group_by: [region], aggregate: [spend, age]");
	id_of(other, "", b);
	assert_string_not_equal(a, b);
	free(other);
}

/* Every construct outside the form is refused when the room is validated, with its position. */
static void test_privacy_errors(void **state)
{
	static const struct error_case cases[] = {
		/* free SQL and python never read a protected table, not even through a view */
		{ "compute:\n", "compute:\n  raw: {type: sql, query: SELECT email FROM acme}\n",
		  "room.yaml:25:27: query of 'raw' reads 'acme', a table with a privacy rule; on" },
		{ "compute:\n", "compute:\n  v: {type: sql, query: SELECT * FROM acme}\n"
				"  r: {type: sql, query: SELECT count(*) AS n FROM v}\n",
		  "room.yaml:25:25: query of 'v' reads 'acme', a table with a privacy rule; only" },
		{ "compute:\n", "compute:\n  j: {type: sql, query: 'SELECT count(*) AS n FROM beta JOIN acme USING (email)'}\n",
		  "room.yaml:25:25: query of 'j' reads 'acme', a table with a privacy rule; only" },
		{ "compute:\n", "compute:\n  py: {type: python, script: up.py, mounts: {/input/a.csv: acme}}\n",
		  "room.yaml:25:60: python computation 'py' mounts 'acme', a table with a privac" },
		{ "compute:\n", "compute:\n  s: {type: sql, query: SELECT n FROM overlap}\n",
		  "room.yaml:25:25: query of 's' reads 'overlap', an aggregate computation; SQL " },
		{ "compute:\n", "compute:\n  s: {type: sql, query: 'SELECT 1 AS x', privacy: {min_group_size: 5}}\n",
		  "room.yaml:25:51: privacy rules apply to aggregate computations and table node" },
		/* self-joins, and tables that are not tables */
		{ "{table: beta, on: [acme.email, beta.email]}", "{table: acme, on: [acme.email, acme.email]}",
		  "room.yaml:29:17: table 'acme' is read twice by 'overlap'; a table may appear " },
		{ "    from: acme\n", "    from: notes\n", "room.yaml:27:11: 'notes' is a file node; an aggregate computation reads table" },
		{ "    from: acme\n", "    from: overlap\n", "room.yaml:27:11: 'overlap' is a computation; an aggregate computation reads t" },
		{ "    from: acme\n", "    from: acm\n", "room.yaml:27:11: table node 'acm' does not exist (did you mean 'acme'?)" },
		/* columns the rule does not list */
		{ "group_by: [acme.region]", "group_by: [acme.email]",
		  "room.yaml:32:16: column 'acme.email' may not be used in group_by: the privacy" },
		{ "sum: acme.spend", "sum: acme.age", "room.yaml:35:28: column 'acme.age' may not be used in aggregate: the privacy " },
		{ "count: \"*\"}", "count_distinct: acme.email}", "room.yaml:34:35: column 'acme.email' may not be used in aggregate: the privac" },
		{ "on: [acme.email, beta.email]", "on: [acme.region, beta.region]",
		  "room.yaml:29:28: column 'acme.region' may not be used in join: the privacy ru" },
		{ "{column: acme.region, op", "{column: acme.age, op", "room.yaml:31:18: column 'acme.age' may not be filtered on: the privacy rule o" },
		/* what the form does not have */
		{ "{name: n, count: \"*\"}", "{name: n, max: acme.spend}", "room.yaml:34:19: unknown key 'max' in an aggregate" },
		{ "{name: n, count: \"*\"}", "{name: n}", "room.yaml:34:9: aggregate 'n' needs one of count, count_distinct, sum and av" },
		{ "{name: n, count: \"*\"}", "{name: n, count: \"*\", sum: acme.spend}", "room.yaml:34:36: aggregate 'n' has both count and sum" },
		{ "    select:\n", "    query: SELECT 1\n    select:\n", "room.yaml:33:5: unknown key 'query' in an aggregate computation" },
		{ "    select:\n", "    having: x\n    select:\n", "room.yaml:33:5: unknown key 'having' in an aggregate computation" },
		{ "op: \"!=\"", "op: \"~\"", "room.yaml:31:35: unknown op '~' (=, !=, <, <=, >, >=)" },
		{ "value: test}", "value: [test]}", "room.yaml:31:48: a value must be a string, not a list" },
		{ "{column: acme.region, op: \"!=\", value: test}", "{column: beta.age, value: abc}",
		  "room.yaml:31:35: 'abc' is not a value of column 'beta.age' (int64)" },
		{ "{column: acme.region, op: \"!=\", value: test}", "{column: beta.spend, value: nan}",
		  "room.yaml:31:37: 'nan' is not a value of column 'beta.spend' (float64)" },
		{ "group_by: [acme.region]", "group_by: [region]", "room.yaml:32:16: column 'region' is ambiguous: both 'acme' and 'beta' have it" },
		{ "group_by: [acme.region]", "group_by: [acme.region, beta.region]",
		  "room.yaml:32:29: the result of 'overlap' has two columns named 'region'" },
		{ "{name: n, count: \"*\"}", "{name: region, count: \"*\"}",
		  "room.yaml:34:16: the result of 'overlap' has two columns named 'region'" },
		{ "{name: spend, sum: acme.spend, round: 2}", "{name: spend, sum: beta.region}",
		  "room.yaml:35:28: sum of 'beta.region', a string column; sum takes int64 or fl" },
		{ "{name: n, count: \"*\"}", "{name: n, count: \"*\", round: 1}", "room.yaml:34:38: round applies to sum and avg" },
		{ "on: [acme.email, beta.email]", "on: [acme.email, beta.age]", "room.yaml:29:27: join columns 'acme.email' (string) and 'beta.age' (int64) di" },
		{ "on: [acme.email, beta.email]", "on: [acme.email]", "room.yaml:29:27: on lists two columns that must be equal: one of a table befo" },
		{ "on: [acme.email, beta.email]", "on: [beta.email, beta.email]", "room.yaml:29:27: on lists two columns that must be equal: one of a table befo" },
		{ "{table: beta, on: [acme.email, beta.email]}", "{table: beta, on: [acme.email, gamma.email]}",
		  "room.yaml:29:40: 'gamma' is not a table that 'overlap' reads" },
		{ "    select:\n      - {name: n, count: \"*\"}\n      - {name: spend, sum: acme.spend, round: 2}\n",
		  "    select: []\n", "room.yaml:33:13: select lists at least one aggregate" },
		/* the rule itself */
		{ "privacy: {min_group_size: 5, ", "privacy: {min_group_size: 1, ",
		  "room.yaml:15:31: min_group_size must be between 2 and 1000000, not 1" },
		{ "privacy: {min_group_size: 5, ", "privacy: {", "room.yaml:15:14: the privacy rule of table 'acme' needs min_group_size" },
		{ "identity: email,", "identity: mail,", "room.yaml:15:44: table 'acme' has no column 'mail'" },
		{ "group_by: [region]", "group_by: [region, region]", "room.yaml:15:70: column 'region' is listed twice in group_by" },
		{ "join: [email]}", "join: [email], dimensions: [region]}", "room.yaml:15:106: unknown key 'dimensions' in privacy" },
	};

	expect_errors(privacy_yaml, cases, sizeof(cases) / sizeof(*cases));
}

/* A new CA certificate in DIR/name; its DER SHA-256 in fp. */
static void write_ca(const char *name, uint8_t fp[32])
{
	uint8_t *key, *cert;
	size_t key_len, cert_len;
	struct dcr_err err;
	char path[300];
	FILE *f;

	assert_int_equal(dcr_pki_ca_create(name, 2, time(NULL), &key, &key_len, &cert, &cert_len, &err), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(cert, 1, cert_len, f), cert_len);
	fclose(f);
	{
		const unsigned char *pem_end = cert;
		BIO *bio = BIO_new_mem_buf(pem_end, (int)cert_len);
		X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		unsigned int len = 0;

		assert_non_null(x);
		assert_int_equal(X509_digest(x, EVP_sha256(), fp, &len), 1);
		X509_free(x);
		BIO_free(bio);
	}
	dcr_wipe(key, key_len);
	free(key);
	free(cert);
}

/* The SHA-256 of the certificate that certifies participant i (which must have exactly one). */
static void participant_ca(const Dcr__V1__RoomDefinition *def, size_t i, uint8_t fp[32])
{
	const Dcr__V1__Participant *p = def->participants[i];

	assert_int_equal(p->n_cas, 1);
	assert_true(p->cas[0] < def->authentication->n_ca_certificates);
	dcr_sha256(def->authentication->ca_certificates[p->cas[0]].data,
		def->authentication->ca_certificates[p->cas[0]].len, fp, NULL);
}

/* Each participant is certified by exactly the authority the definition assigns to it. */
static void test_authorities(void **state)
{
	static const struct {
		const char *auth, *want;
	} bad[] = {
		{ "ca: [acme.pem, beta.pem]", "room.yaml:6:18: CA file 'acme.pem' and CA file 'beta.pem' would both certify every participant" },
		{ "ca: acme.pem\n  platform: true", "room.yaml:7:13: CA file 'acme.pem' and the platform CA would both certify" },
		{ "ca: [{file: acme.pem, certifies: [acme.example]}]", "room.yaml:9:3: no CA certifies 'bob@beta.example'" },
		{ "ca: [{file: acme.pem, certifies: [acme.example]}, {file: beta.pem, certifies: [beta.example, gamma.example]}]",
		  "room.yaml:6:96: 'gamma.example' in 'certifies' certifies no participant" },
		{ "ca: [{file: acme.pem, certifies: [acme.example]}, {file: beta.pem, certifies: [beta.example, acme.example]}]",
		  "room.yaml:6:96: 'acme.example' is certified twice (first at line 6)" },
		{ "ca: [{file: acme.pem, certifies: [acme.example]}, {file: beta.pem, certifies: [beta.example]}, gamma.pem]",
		  "room.yaml:6:98: CA file 'gamma.pem' certifies no participant" },
		{ "ca: acme.pem\n  platform: {certifies: [beta.example, acme.example]}", "room.yaml:6:7: CA file 'acme.pem' certifies no participant" },
		{ "ca: {file: acme.pem, certifies: [acme]}", "'acme' is neither an e-mail address nor a domain" },
		{ "ca: {file: acme.pem, certifies: [alice@acme]}", "'alice@acme' is neither an e-mail address nor a domain" },
		{ "ca: {file: acme.pem, certifies: []}", "'certifies' must not be empty" },
		{ "ca: {file: acme.pem, certifies: acme.example}", "certifies must be a list" },
		{ "ca: {file: acme.pem, certify: [acme.example]}", "unknown key 'certify' in a CA (did you mean 'certifies'?)" },
		{ "ca: {certifies: [acme.example]}", "a CA needs 'file'" },
		{ "platform: {certifies: [acme.example], ca: x}", "unknown key 'ca' in platform" },
		{ "platform: {certifies: [acme.example]}", "no CA certifies 'bob@beta.example'" },
	};
	static const char *const same[] = {
		/* alice by acme, bob by beta, carol by acme, each written another way. */
		"ca: [{file: acme.pem, certifies: [acme.example]}, {file: beta.pem, certifies: [beta.example]}]",
		"ca: [{file: beta.pem, certifies: [bob@beta.example]}, acme.pem]",
		"ca: [{file: acme.pem, certifies: [Alice@Acme.example, carol@acme.example]}, beta.pem]",
	};
	uint8_t acme[32], beta[32], gamma[32], fp[32];
	char id[DCR_ROOM_ID_HEX], other[DCR_ROOM_ID_HEX], path[300];
	char *three = edit(base_yaml, "  bob@beta.example:", "  carol@acme.example: []\n  bob@beta.example:");
	const Dcr__V1__RoomDefinition *def;
	struct dcr_room *room;
	struct dcr_err err;

	write_ca("acme.pem", acme);
	write_ca("beta.pem", beta);
	write_ca("gamma.pem", gamma);

	/* One authority: everyone, as before. */
	{
		char *one = edit(base_yaml, "platform: true", "ca: acme.pem");

		assert_int_equal(parse(one, "", &room, &err), 0);
		def = dcr_room_definition(room);
		for (size_t i = 0; i < def->n_participants; i++) {
			participant_ca(def, i, fp);
			assert_memory_equal(fp, acme, 32);
			assert_false(def->participants[i]->platform);
		}
		assert_false(def->authentication->platform);
		dcr_room_free(room);
		free(one);
		assert_int_equal(parse(base_yaml, "", &room, &err), 0);
		def = dcr_room_definition(room);
		assert_true(def->participants[0]->platform && def->participants[1]->platform);
		assert_int_equal(def->participants[0]->n_cas, 0);
		dcr_room_free(room);
	}
	/* By domain, by address, and the one without 'certifies' for the rest: all give the same room. */
	for (size_t i = 0; i < sizeof(same) / sizeof(*same); i++) {
		char *yaml = edit(three, "platform: true", same[i]);

		if (parse(yaml, "", &room, &err) != 0)
			fail_msg("case %zu: %s", i, err.msg);
		def = dcr_room_definition(room);
		assert_string_equal(def->participants[1]->email, "bob@beta.example");
		participant_ca(def, 0, fp);
		assert_memory_equal(fp, acme, 32);
		participant_ca(def, 1, fp);
		assert_memory_equal(fp, beta, 32);
		participant_ca(def, 2, fp);
		assert_memory_equal(fp, acme, 32);
		if (i == 0)
			memcpy(id, dcr_room_id(room), sizeof(id));
		else
			assert_string_equal(dcr_room_id(room), id);
		dcr_room_free(room);
		free(yaml);
	}
	/* An address beats its domain; moving one participant to another CA is another room. */
	{
		char *yaml = edit(three, "platform: true",
			"ca: [{file: acme.pem, certifies: [acme.example]}, {file: beta.pem, certifies: [beta.example, carol@acme.example]}]");

		assert_int_equal(parse(yaml, "", &room, &err), 0);
		participant_ca(dcr_room_definition(room), 2, fp);
		assert_memory_equal(fp, beta, 32);
		memcpy(other, dcr_room_id(room), sizeof(other));
		assert_string_not_equal(id, other);
		dcr_room_free(room);
		free(yaml);
	}
	/* The platform CA among organisation CAs: its participants, and no one else. */
	{
		char *yaml = edit(base_yaml, "platform: true", "ca: acme.pem\n  platform: {certifies: [bob@beta.example]}");

		assert_int_equal(parse(yaml, "", &room, &err), 0);
		def = dcr_room_definition(room);
		participant_ca(def, 0, fp);
		assert_memory_equal(fp, acme, 32);
		assert_false(def->participants[0]->platform);
		assert_true(def->participants[1]->platform);
		assert_int_equal(def->participants[1]->n_cas, 0);
		assert_true(def->authentication->platform);
		dcr_room_free(room);
		free(yaml);
	}
	/* Two certificates in one file: one authority with both. */
	{
		char both[300], *yaml = edit(base_yaml, "platform: true", "ca: both.pem");
		FILE *out, *in;
		int c;

		snprintf(both, sizeof(both), "%s/both.pem", dir);
		assert_non_null(out = fopen(both, "w"));
		for (size_t k = 0; k < 2; k++) {
			snprintf(path, sizeof(path), "%s/%s", dir, k ? "beta.pem" : "acme.pem");
			assert_non_null(in = fopen(path, "r"));
			while ((c = fgetc(in)) != EOF)
				fputc(c, out);
			fclose(in);
		}
		fclose(out);
		assert_int_equal(parse(yaml, "", &room, &err), 0);
		def = dcr_room_definition(room);
		assert_int_equal(def->participants[0]->n_cas, 2);
		assert_int_equal(def->participants[0]->cas[0], 0);
		assert_int_equal(def->participants[0]->cas[1], 1);
		dcr_room_free(room);
		free(yaml);
		unlink(both);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char *yaml = edit(base_yaml, "platform: true", bad[i].auth);
		int r = parse(yaml, "", &room, &err);

		if (r != DCR_EINVALID || !strstr(err.msg, bad[i].want))
			fail_msg("case %zu: got %d '%s', want '%s'", i, r, r ? err.msg : "", bad[i].want);
		free(yaml);
	}
	free(three);
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, i == 0 ? "acme.pem" : i == 1 ? "beta.pem" : "gamma.pem");
		unlink(path);
	}
}

/* A growable string for generated YAML. */
struct text {
	char *s;
	size_t len, cap;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (t->len + (size_t)n + 1 > t->cap) {
		t->cap = (t->len + (size_t)n + 1) * 2;
		assert_non_null(t->s = realloc(t->s, t->cap));
	}
	va_start(ap, fmt);
	vsnprintf(t->s + t->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

/* dcr_ydoc_load of text: 0, or the error message must contain want. */
static void load_expect(const char *text, size_t len, const char *want)
{
	struct dcr_ydoc y;
	struct dcr_err err = { 0 };
	int r = dcr_ydoc_load(&y, "y.yaml", (const uint8_t *)text, len, &err);

	dcr_ydoc_release(&y);
	if (!want && r != 0)
		fail_msg("unexpected error: %s", err.msg);
	if (want && (r != DCR_EINVALID || !strstr(err.msg, want)))
		fail_msg("got %d '%s', want '%s'", r, r ? err.msg : "", want);
}

/* Limits checked on libyaml's events before its loader builds anything (issue 12, item 3). */
static void test_yaml_limits(void **state)
{
	struct text t = { 0 };

	/* Nesting: 32 collections deep, flow or block, and no deeper. */
	for (int depth = 32; depth <= 33; depth++) {
		t.len = 0;
		for (int i = 0; i < depth; i++)
			put(&t, "[");
		for (int i = 0; i < depth; i++)
			put(&t, "]");
		load_expect(t.s, t.len, depth == 32 ? NULL : "y.yaml:1:33: nested more than 32 levels deep");
		t.len = 0;
		for (int i = 0; i < depth; i++)
			put(&t, "%*sk:\n", 2 * i, "");
		put(&t, "%*sv\n", 2 * depth, "");
		load_expect(t.s, t.len, depth == 32 ? NULL : "y.yaml:33:65: nested more than 32 levels deep");
	}
	/* The 70000 levels: refused at level 33, not parsed for seconds. */
	t.len = 0;
	for (int i = 0; i < 70000; i++)
		put(&t, "[");
	load_expect(t.s, t.len, "y.yaml:1:33: nested more than 32 levels deep");
	/* An alias nests as deep as the node it stands for, where it stands. */
	t.len = 0;
	put(&t, "a: &x ");
	for (int i = 0; i < 30; i++)
		put(&t, "[");
	for (int i = 0; i < 30; i++)
		put(&t, "]");
	put(&t, "\nb: [*x]\nc: [[*x]]\n");
	load_expect(t.s, t.len, "y.yaml:3:6: alias '*x' nests more than 32 levels deep");
	/* Billion laughs: anchors of anchors count as what they expand to. */
	t.len = 0;
	put(&t, "a0: &a0 [l, l, l, l, l, l, l, l, l, l]\n");
	for (int i = 1; i < 10; i++)
		put(&t, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i - 1, i - 1,
			i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
	load_expect(t.s, t.len, "more than 200000 YAML nodes (an alias counts as the nodes it stands for)");
	/* Exactly the limit: a list of 199999 and the list itself. */
	for (int n = 199999; n <= 200000; n++) {
		t.len = 0;
		put(&t, "[");
		for (int i = 0; i < n; i++)
			put(&t, "%sa", i ? "," : "");
		put(&t, "]");
		load_expect(t.s, t.len, n == 199999 ? NULL : "y.yaml:1:400000: more than 200000 YAML nodes");
	}
	/* Cycles, undefined and twice-defined anchors. */
	load_expect("&a [*a]", 7, "y.yaml:1:5: alias '*a' is inside the node it names");
	load_expect("a: &a {b: [*a]}", 15, "y.yaml:1:12: alias '*a' is inside the node it names");
	load_expect("a: *nope", 8, "y.yaml:1:4: alias '*nope' names no anchor before it");
	load_expect("a: &x 1\nb: &x 2\n", 16, "y.yaml:2:4: anchor '&x' is defined twice");
	load_expect("a: &x 1\nb: *x\nc: &y [*x, *x]\nd: *y\n", 34, NULL);
	/* Counts of anchors and aliases. */
	for (int n = 1000; n <= 1001; n++) {
		t.len = 0;
		for (int i = 0; i < n; i++)
			put(&t, "k%d: &a%d v\n", i, i);
		load_expect(t.s, t.len, n == 1000 ? NULL : "y.yaml:1001:8: more than 1000 anchors");
	}
	for (int n = 10000; n <= 10001; n++) {
		t.len = 0;
		put(&t, "a: &x 1\nb: [");
		for (int i = 0; i < n; i++)
			put(&t, "%s*x", i ? ", " : "");
		put(&t, "]\n");
		load_expect(t.s, t.len, n == 10000 ? NULL : "more than 10000 aliases");
	}
	/* Scalars: 128 KiB, counted after escapes. */
	for (size_t n = DCR_YDOC_MAX_SCALAR; n <= DCR_YDOC_MAX_SCALAR + 1; n++) {
		t.len = 0;
		put(&t, "a: ");
		for (size_t i = 0; i < n; i++)
			put(&t, "x");
		load_expect(t.s, t.len, n == DCR_YDOC_MAX_SCALAR ? NULL : "y.yaml:1:4: a scalar of more than 131072 bytes");
	}
	/* Many keys: the duplicate check sorts, and still names the first repeat and the original. */
	t.len = 0;
	for (int i = 0; i < 60000; i++)
		put(&t, "k%d: v\n", i);
	put(&t, "k59998: again\nk7: again\n");
	{
		struct dcr_ydoc y;
		struct dcr_err err;

		assert_int_equal(dcr_ydoc_load(&y, "y.yaml", (const uint8_t *)t.s, t.len, &err), 0);
		assert_int_equal(dcr_ydoc_mapping(&y, dcr_ydoc_root(&y), "m", NULL), DCR_EINVALID);
		assert_string_equal(err.msg, "y.yaml:60001:1: duplicate key 'k59998' in m (first at line 59999)");
		dcr_ydoc_release(&y);
	}
	free(t.s);
}

static void test_cycles(void **state)
{
	static const char sql_cycle[] =
		"version: 1\nname: c\nenclave: dcrd:sim\nauthentication: {platform: true}\n"
		"participants: {a@b.example: []}\n"
		"data: {t: {type: table, columns: [{name: x, type: int64}]}}\n"
		"compute:\n"
		"  a: {type: sql, query: SELECT x FROM b}\n"
		"  b: {type: sql, query: SELECT x FROM a}\n";
	static const char depends_cycle[] =
		"version: 1\nname: c\nenclave: dcrd:sim\nauthentication: {platform: true}\n"
		"participants: {a@b.example: []}\n"
		"data: {t: {type: table, columns: [{name: x, type: int64}]}}\n"
		"compute:\n"
		"  a: {type: sql, query: SELECT x FROM t, depends: [c]}\n"
		"  b: {type: sql, query: SELECT x FROM a}\n"
		"  c: {type: sql, query: SELECT x FROM b}\n";
	static const char chain[] =
		"version: 1\nname: c\nenclave: dcrd:sim\nauthentication: {platform: true}\n"
		"participants: {a@b.example: []}\n"
		"data: {t: {type: table, columns: [{name: x, type: int64}]}}\n"
		"compute:\n"
		"  c: {type: sql, query: SELECT x FROM b}\n"
		"  b: {type: sql, query: SELECT x FROM a}\n"
		"  a: {type: sql, query: SELECT x FROM t}\n";
	struct dcr_room *room;
	struct dcr_err err;

	assert_int_equal(parse(sql_cycle, "", &room, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "dependency cycle"));
	assert_int_equal(parse(depends_cycle, "", &room, &err), DCR_EINVALID);
	/* c reads b, which reads a: c needs a too. */
	assert_non_null(strstr(err.msg, "dependency cycle: a -> c -> a"));
	/* Computations may read later-declared ones; what each needs is recorded. */
	assert_int_equal(parse(chain, "", &room, &err), 0);
	assert_int_equal(dcr_room_definition(room)->compute[2]->n_depends, 2);
	assert_string_equal(dcr_room_definition(room)->compute[2]->depends[0], "a");
	assert_string_equal(dcr_room_definition(room)->compute[2]->depends[1], "b");
	assert_int_equal(dcr_room_definition(room)->compute[1]->n_depends, 1);
	assert_int_equal(dcr_room_definition(room)->compute[0]->n_depends, 0);
	dcr_room_free(room);
}

/* Neither the room ID nor validity depends on the order of computations. */
static void test_order_independent(void **state)
{
	static const char head[] =
		"version: 1\nname: c\nenclave: dcrd:sim\nauthentication: {platform: true}\n"
		"participants: {a@b.example: []}\n"
		"data: {t: {type: table, columns: [{name: x, type: int64}]}}\ncompute:\n";
	static const char *const pairs[][2] = {
		/* An alias that is another computation's name is no dependency. */
		{ "  a: {type: sql, query: SELECT 1 AS b FROM t}\n", "  b: {type: sql, query: SELECT 2 AS a FROM t}\n" },
		{ "  a: {type: sql, query: SELECT 1 AS b FROM t}\n", "  b: {type: sql, query: SELECT 2 AS a FROM t, depends: [a]}\n" },
		/* SQL names are case-insensitive. */
		{ "  a: {type: sql, query: SELECT x FROM t}\n", "  b: {type: sql, query: SELECT x FROM A}\n" },
	};

	for (size_t i = 0; i < sizeof(pairs) / sizeof(*pairs); i++) {
		char one[1024], two[1024], id1[DCR_ROOM_ID_HEX], id2[DCR_ROOM_ID_HEX];

		snprintf(one, sizeof(one), "%s%s%s", head, pairs[i][0], pairs[i][1]);
		snprintf(two, sizeof(two), "%s%s%s", head, pairs[i][1], pairs[i][0]);
		id_of(one, "", id1);
		id_of(two, "", id2);
		assert_string_equal(id1, id2);
	}
}

/* Spelling out a default gives the same room as leaving it out. */
static void test_defaults_normalised(void **state)
{
	char a[DCR_ROOM_ID_HEX], b[DCR_ROOM_ID_HEX];
	char *explicit_defaults = edit(base_yaml, "fetch shout]", "fetch shout, read-audit, list-datasets]");
	char *group_one = edit(base_yaml, "compute:\n",
		"compute:\n  agg: {type: aggregate, from: acme, select: [{name: n, count: '*'}], privacy: {min_group_size: 1}}\n");
	char *comment = edit(base_yaml, "FROM beta)\n", "FROM beta); -- the total\n");

	char *no_group = edit(base_yaml, "compute:\n", "compute:\n  agg: {type: aggregate, from: acme, select: [{name: n, count: '*'}]}\n");

	id_of(base_yaml, "", a);
	id_of(explicit_defaults, "", b);
	assert_string_equal(a, b);
	id_of(no_group, "", a);
	id_of(group_one, "", b);
	assert_string_equal(a, b);
	id_of(base_yaml, "", a);
	id_of(comment, "", b);
	assert_string_not_equal(a, b); /* the query text itself is part of the room */
	free(explicit_defaults);
	free(group_one);
	free(no_group);
	free(comment);
}

static void test_no_specs(void **state)
{
	struct dcr_room *room;
	struct dcr_err err;

	assert_int_equal(dcr_room_parse("room.yaml", (const uint8_t *)base_yaml, strlen(base_yaml), dir, NULL, "",
				 &room, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "no trusted specs given"));
}

static void test_garbage(void **state)
{
	static const char *const inputs[] = { "", "---\n", "[1, 2]", "a: b\n---\nc: d\n", "\"unterminated",
		"version: 1\n\0name: x", "&a [*a]", "{? [a]: b}", "version: 1\nversion: 1\n" };
	struct dcr_room *room;
	struct dcr_err err;

	for (size_t i = 0; i < sizeof(inputs) / sizeof(*inputs); i++) {
		size_t len = i == 5 ? 20 : strlen(inputs[i]);

		assert_int_equal(dcr_room_parse("room.yaml", (const uint8_t *)inputs[i], len, dir, specs, "", &room, &err),
			DCR_EINVALID);
		assert_memory_equal(err.msg, "room.yaml", 9);
	}
}

static void test_specs_errors(void **state)
{
	static const struct {
		const char *yaml, *want;
	} cases[] = {
		{ "version: 1\nspecs:\n  x:\n    format: sim\n", "needs a measurement" },
		{ "version: 1\nspecs:\n  x:\n    format: sim\n    measurement: 12\n", "64 hex digits" },
		{ "version: 1\nspecs:\n  x:\n    format: tpm\n", "unknown format 'tpm'" },
		{ "version: 1\nspecs:\n  X!:\n    format: sim\n", "spec name 'X!'" },
		{ "version: 1\nspecs:\n  x:\n    format: sgx-dcap\n", "exactly one of mrenclave or mrsigner" },
		{ "version: 1\nspecs:\n  x:\n    format: sgx-dcap\n    mrsigner: "
		  "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6\n", "mrsigner needs isvprodid" },
		{ "version: 1\nspecs:\n  x:\n    format: sgx-dcap\n    mrenclave: "
		  "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6\n    tcb_statuses: [Revoked]\n",
		  "a revoked TCB is never accepted" },
		{ "specs: {}\n", "missing 'version: 1'" },
		{ "version: 1\nspecs:\n  x:\n    format: sgx-dcap\n    mrenclave: "
		  "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6\n    root_ca: nowhere.der\n",
		  "specs.yaml:6:14: root_ca: cannot open" },
		{ "version: 1\nspecs:\n  x:\n    format: sgx-dcap\n    mrenclave: "
		  "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6\n    root_ca: /dev/null\n",
		  "not a regular file" },
		{ "version: 1\nspecs:\n  x:\n    format: sim\n    root_ca: a.der\n    measurement: "
		  "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6\n", "root_ca" },
	};
	struct dcr_specs *s;
	struct dcr_err err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		int r = dcr_specs_parse("specs.yaml", (const uint8_t *)cases[i].yaml, strlen(cases[i].yaml), &s, &err);

		if (r == 0 || !strstr(err.msg, cases[i].want))
			fail_msg("case %zu: got %d '%s', want '%s'", i, r, err.msg, cases[i].want);
	}
	assert_non_null(dcr_specs_find(specs, "dcrd:v1"));
	assert_int_equal(dcr_specs_find(specs, "dcrd:v1")->n_tcb_statuses, 2);
	assert_null(dcr_specs_find(specs, "dcrd:v2"));
}

/* root_ca is read relative to the specs file, kept as DER, and freed with the specs. */
static void test_specs_root_ca(void **state)
{
	char cmd[1024], specs_path[300], yaml[512];
	struct dcr_specs *s;
	struct dcr_err err;

	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		 "-keyout %s/root.key -out %s/root.pem -days 1 -subj /CN=root >/dev/null 2>&1", dir, dir);
	if (system(cmd) != 0)
		skip();
	snprintf(specs_path, sizeof(specs_path), "%s/specs.yaml", dir);
	snprintf(yaml, sizeof(yaml), "version: 1\nspecs:\n  a:\n    format: sgx-dcap\n    mrenclave: "
		 "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6\n    root_ca: root.pem\n"
		 "  b:\n    format: sgx-dcap\n    mrenclave: "
		 "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6\n");
	assert_int_equal(dcr_specs_parse(specs_path, (const uint8_t *)yaml, strlen(yaml), &s, &err), 0);
	assert_non_null(s->items[0].root_ca);
	assert_int_equal(s->items[0].root_ca[0], 0x30); /* DER */
	assert_null(s->items[1].root_ca);
	dcr_specs_free(s);
	/* A bundle is not one root. */
	snprintf(cmd, sizeof(cmd), "cat %s/root.pem %s/root.pem >%s/bundle.pem", dir, dir, dir);
	assert_int_equal(system(cmd), 0);
	snprintf(yaml, sizeof(yaml), "version: 1\nspecs:\n  a:\n    format: sgx-dcap\n    mrenclave: "
		 "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6\n    root_ca: bundle.pem\n");
	assert_int_not_equal(dcr_specs_parse(specs_path, (const uint8_t *)yaml, strlen(yaml), &s, &err), 0);
	assert_non_null(strstr(err.msg, "more than one certificate"));
	snprintf(cmd, sizeof(cmd), "%s/bundle.pem", dir);
	unlink(cmd);
	/* A file that is not a certificate. */
	snprintf(yaml, sizeof(yaml), "version: 1\nspecs:\n  a:\n    format: sgx-dcap\n    mrenclave: "
		 "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6\n    root_ca: up.py\n");
	assert_int_not_equal(dcr_specs_parse(specs_path, (const uint8_t *)yaml, strlen(yaml), &s, &err), 0);
	assert_non_null(strstr(err.msg, "holds no certificate"));
	snprintf(yaml, sizeof(yaml), "version: 1\nspecs:\n  a:\n    format: sgx-dcap\n    mrenclave: "
		 "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6\n    root_ca: root.pem\n");
	/* The same name from another folder is not found. */
	assert_int_not_equal(dcr_specs_parse("elsewhere/specs.yaml", (const uint8_t *)yaml, strlen(yaml), &s, &err), 0);
	assert_non_null(strstr(err.msg, "elsewhere/root.pem"));
	snprintf(cmd, sizeof(cmd), "%s/root.key", dir);
	unlink(cmd);
	snprintf(cmd, sizeof(cmd), "%s/root.pem", dir);
	unlink(cmd);
}

/* A spec travels to dcrd as the definition embeds it and comes back the same. */
static void test_spec_from_proto(void **state)
{
	const char *names[] = { "dcrd:sim", "dcrd:v1" };
	struct dcr_room *room;
	struct dcr_spec back;
	struct dcr_err err;

	for (size_t i = 0; i < 2; i++) {
		char *yaml = strdup(base_yaml), *at = strstr(yaml, "dcrd:sim");
		Dcr__V1__EnclaveSpec *e;
		const struct dcr_spec *orig = dcr_specs_find(specs, names[i]);

		assert_non_null(at);
		if (i == 1)
			memcpy(at, "dcrd:v1 ", 8);
		assert_int_equal(parse(yaml, "", &room, &err), 0);
		e = dcr_room_definition(room)->enclave;
		assert_int_equal(dcr_room_spec_from_proto(e, &back, &err), 0);
		assert_string_equal(back.name, orig->name);
		assert_int_equal(back.format, orig->format);
		assert_memory_equal(back.measurement, orig->measurement, 32);
		assert_int_equal(back.n_tcb_statuses, orig->n_tcb_statuses);
		for (size_t j = 0; j < back.n_tcb_statuses; j++)
			assert_string_equal(back.tcb_statuses[j], orig->tcb_statuses[j]);
		/* Malformed variants are refused. */
		e->measurement.len = 31;
		assert_int_equal(dcr_room_spec_from_proto(e, &back, &err), DCR_EINVALID);
		e->measurement.len = 32;
		if (i == 1) {
			char *saved = e->tcb_statuses[0];

			e->tcb_statuses[0] = "Revoked";
			assert_int_equal(dcr_room_spec_from_proto(e, &back, &err), DCR_EINVALID);
			e->tcb_statuses[0] = e->tcb_statuses[1];
			assert_int_equal(dcr_room_spec_from_proto(e, &back, &err), DCR_EINVALID); /* duplicate */
			e->tcb_statuses[0] = saved;
			e->format = "tpm";
			assert_int_equal(dcr_room_spec_from_proto(e, &back, &err), DCR_EINVALID);
		}
		dcr_room_free(room);
		free(yaml);
	}
	assert_int_equal(dcr_room_spec_from_proto(NULL, &back, &err), DCR_EINVALID);
}

/* A room's source checked against its ID, with its files from memory: what dcr show relies on. */
static void test_check_source(void **state)
{
	struct dcr_room_memfile mem[] = {
		{ "other.txt", (const uint8_t *)"unused", 6, false },
		{ "up.py", NULL, 0, false },
		{ "up.py", (const uint8_t *)"print(2)\n", 9, false },
		{ "./up.py", NULL, 0, false },
	};
	struct dcr_room_memfiles m = { mem + 1, 1, "is not in the source" };
	struct dcr_room *room, *salted;
	const Dcr__V1__RoomDefinition *def;
	uint8_t *script = NULL;
	char path[300], *changed;
	struct dcr_err err;
	size_t len;

	(void)state;
	/* The script as the room on disk has it (another test appends to it). */
	snprintf(path, sizeof(path), "%s/up.py", dir);
	assert_int_equal(dcr_read_file(path, 4096, &script, &len, &err), 0);
	mem[1].data = mem[3].data = script;
	mem[1].len = mem[3].len = len;
	/* The room from disk and the same from memory: one ID. */
	assert_int_equal(parse(base_yaml, "s1", &room, &err), 0);
	def = dcr_room_definition(room);
	assert_int_equal(dcr_room_check_source(def, "room.yaml", base_yaml, &m, dcr_room_id(room), &err), 0);
	assert_true(mem[1].used);
	/* Written differently (the script as ./up.py), it is still the source of that room. */
	m.files = mem + 3;
	assert_int_equal(dcr_room_check_source(def, "room.yaml", same_yaml, &m, dcr_room_id(room), &err), 0);

	/*
	 * A file the room does not read is not part of its source: one more
	 * file, or a path twice (only the first is read), is an integrity error,
	 * else dcr show would print what no room ID vouches for.
	 */
	m.files = mem;
	m.n = 2;
	assert_int_equal(dcr_room_check_source(def, "room.yaml", base_yaml, &m, dcr_room_id(room), &err),
		DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "'other.txt'"));
	m.files = mem + 1;
	assert_int_equal(dcr_room_check_source(def, "room.yaml", base_yaml, &m, dcr_room_id(room), &err),
		DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "'up.py' twice"));
	m.n = 1;
	assert_int_equal(dcr_room_check_source(def, "room.yaml", base_yaml, &m, dcr_room_id(room), &err), 0);

	/* Another YAML, another script, another salt: another room, said with both IDs. */
	changed = edit(base_yaml, "two payrolls", "three payrolls");
	assert_int_equal(dcr_room_check_source(def, "room.yaml", changed, &m, dcr_room_id(room), &err),
		DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "compiles to room"));
	assert_non_null(strstr(err.msg, dcr_room_id(room)));
	free(changed);
	mem[1].data = (const uint8_t *)"print(3)\n";
	mem[1].len = 9;
	assert_int_equal(dcr_room_check_source(def, "room.yaml", base_yaml, &m, dcr_room_id(room), &err),
		DCR_EINTEGRITY);
	mem[1].data = script;
	mem[1].len = len;
	assert_int_equal(parse(base_yaml, "s2", &salted, &err), 0);
	assert_int_equal(dcr_room_check_source(dcr_room_definition(salted), "room.yaml", base_yaml, &m,
				 dcr_room_id(room), &err), DCR_EINTEGRITY);
	dcr_room_free(salted);

	/* A missing file or a source that does not compile cannot be checked: an integrity error too. */
	m.files = mem;
	assert_int_equal(dcr_room_check_source(def, "room.yaml", base_yaml, &m, dcr_room_id(room), &err),
		DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "does not compile here"));
	assert_non_null(strstr(err.msg, "'up.py' is not in the source"));
	m.files = mem + 1;
	assert_int_equal(dcr_room_check_source(def, "room.yaml", "version: 2\n", &m, dcr_room_id(room), &err),
		DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "does not compile here"));
	dcr_room_free(room);
	free(script);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_id_invariant),
		cmocka_unit_test(test_id_changes),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_privacy_valid),
		cmocka_unit_test(test_privacy_errors),
		cmocka_unit_test(test_authorities),
		cmocka_unit_test(test_cycles),
		cmocka_unit_test(test_order_independent),
		cmocka_unit_test(test_defaults_normalised),
		cmocka_unit_test(test_no_specs),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_yaml_limits),
		cmocka_unit_test(test_specs_errors),
		cmocka_unit_test(test_specs_root_ca),
		cmocka_unit_test(test_spec_from_proto),
		cmocka_unit_test(test_script_content_in_id),
		cmocka_unit_test(test_check_source),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
