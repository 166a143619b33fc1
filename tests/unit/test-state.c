/*
 * Unit tests for cmd/dcrd/state.c: what a real state.db shows the host of
 * record names and audit leaves, and the audit log's stored subtrees.
 */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto.h"
#include "dcrd.h"
#include "fileio.h"
#include "seal.h"

#define ROOM "5dd95eaf75eeb191b6e841044aea0cca8ec2a8fe314d9f2dcddaac11035b7a6f"
#define OTHER_ROOM "1a95e40e2e86d2ae6a8892b1fb644994038dd8093310a0b1bc7b8cc98a682e46"
#define NODE "payroll_of_acme_2024"
#define OLD_DATASET "0123456789abcdef0123456789abcdef"
#define NEW_DATASET "fedcba9876543210fedcba9876543210"

static char dir[] = "/tmp/test-state-XXXXXX";
static uint8_t key[32];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test-state-XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(dcr_random(key, sizeof(key), NULL), 0);
	return 0;
}

static int teardown(void **state)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4200];

	(void)state;
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.' && snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) > 0)
			unlink(path);
	if (d)
		closedir(d);
	rmdir(dir);
	return 0;
}

/* Whether the len bytes at what occur in any file of the data directory, as the host would search it. */
static bool in_data_dir_bytes(const void *what, size_t n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;

	assert_non_null(d);
	while (!found && (e = readdir(d))) {
		char path[4200];
		uint8_t *buf = NULL;
		size_t len = 0;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		assert_int_equal(dcr_read_file(path, 64u << 20, &buf, &len, NULL), 0);
		for (size_t i = 0; !found && i + n <= len; i++)
			found = memcmp(buf + i, what, n) == 0;
		free(buf);
	}
	closedir(d);
	return found;
}

static bool in_data_dir(const char *text)
{
	return in_data_dir_bytes(text, strlen(text));
}

static void put_dataset(struct state *s, const char *name, const char *dataset_id)
{
	Dcr__V1__PublicationRecord pub = DCR__V1__PUBLICATION_RECORD__INIT;
	Dcr__V1__DatasetInfo info = DCR__V1__DATASET_INFO__INIT;
	uint8_t k[32] = { 7 };
	struct dcr_err err;

	info.node = NODE;
	info.dataset_id = (char *)dataset_id;
	pub.info = &info;
	pub.key = (ProtobufCBinaryData){ 32, k };
	pub.blob_id = info.dataset_id;
	if (state_put_record(s, "publication", ROOM, name, 0, &pub.base, &err) < 0)
		fail_msg("%s", err.msg);
}

static void put_publication(struct state *s, const char *name)
{
	put_dataset(s, name, OLD_DATASET);
}

static void test_private_names(void **state)
{
	uint8_t other_key[32] = { 1 };
	char a[STATE_PRIVATE_NAME_LEN + 1], b[sizeof(a)], c[sizeof(a)], d[sizeof(a)];
	struct state s, t;
	struct dcr_err err;

	(void)state;
	assert_int_equal(state_open(&s, dir, key, &err), 0);
	assert_int_equal(state_open(&t, dir, other_key, &err), 0);
	assert_int_equal(state_private_name(&s, ROOM, NODE, a, &err), 0);
	assert_int_equal(strlen(a), 32);
	assert_int_equal(strspn(a, "0123456789abcdef"), 32);
	assert_int_equal(state_private_name(&s, ROOM, NODE, b, &err), 0);
	assert_string_equal(a, b);
	assert_int_equal(state_private_name(&s, OTHER_ROOM, NODE, c, &err), 0);
	assert_string_not_equal(a, c);
	assert_int_equal(state_private_name(&t, ROOM, NODE, d, &err), 0);
	assert_string_not_equal(a, d);
	/* Not the plain hash of the name, which anyone could compute. */
	{
		uint8_t h[32];
		char hex[65];

		assert_int_equal(dcr_sha256(NODE, strlen(NODE), h, NULL), 0);
		dcr_hex(h, 32, hex);
		assert_memory_not_equal(a, hex, 32);
	}
	state_close(&s);
	state_close(&t);
}

/* A state.db from before private names: the publication is renamed on open, and still found. */
static void test_migration(void **state)
{
	Dcr__V1__PublicationRecord *pub = NULL;
	char private_name[STATE_PRIVATE_NAME_LEN + 1];
	struct state s;
	struct dcr_err err;
	sqlite3_stmt *st;
	int rows = 0;

	(void)state;
	assert_int_equal(state_open(&s, dir, key, &err), 0);
	put_publication(&s, NODE); /* as dcrd stored it before */
	/* Other rows around it, so that its bytes would stay in a freed part of a page. */
	for (int i = 0; i < 200; i++) {
		Dcr__V1__DatasetRecord ds = DCR__V1__DATASET_RECORD__INIT;
		char name[40];

		snprintf(name, sizeof(name), "%032x", i);
		ds.owner = "alice@acme.example";
		ds.name = "a file";
		assert_int_equal(state_put_record(&s, "dataset", "", name, 0, &ds.base, &err), 0);
	}
	state_close(&s);
	assert_true(in_data_dir(NODE));

	for (int round = 0; round < 2; round++) {
		if (state_open(&s, dir, key, &err) < 0)
			fail_msg("%s", err.msg);
		assert_int_equal(state_private_name(&s, ROOM, NODE, private_name, &err), 0);
		assert_int_equal(state_get_record(&s, "publication", ROOM, NODE, &dcr__v1__publication_record__descriptor,
					 (ProtobufCMessage **)&pub, &err), DCR_ENOTFOUND);
		assert_int_equal(state_get_record(&s, "publication", ROOM, private_name,
					 &dcr__v1__publication_record__descriptor, (ProtobufCMessage **)&pub, &err), 0);
		assert_string_equal(pub->info->node, NODE);
		assert_int_equal(pub->key.len, 32);
		protobuf_c_message_free_unpacked(&pub->base, NULL);
		rows = 0;
		assert_int_equal(sqlite3_prepare_v2(s.db, "SELECT name FROM records WHERE kind = 'publication'", -1, &st,
					 NULL), SQLITE_OK);
		while (sqlite3_step(st) == SQLITE_ROW) {
			assert_string_equal((const char *)sqlite3_column_text(st, 0), private_name);
			rows++;
		}
		sqlite3_finalize(st);
		assert_int_equal(rows, 1);
		state_close(&s);
		/* Nor in a freed page of the database or its log. */
		assert_false(in_data_dir(NODE));
	}

	/* Without the key (dcrd token create), nothing is touched. */
	assert_int_equal(state_open(&s, dir, NULL, &err), 0);
	state_close(&s);
}

/* New publications never show the node's name. */
static void test_new_records(void **state)
{
	char private_name[STATE_PRIVATE_NAME_LEN + 1];
	struct state s;
	struct dcr_err err;

	(void)state;
	assert_int_equal(state_open(&s, dir, key, &err), 0);
	assert_int_equal(state_private_name(&s, ROOM, NODE, private_name, &err), 0);
	put_publication(&s, private_name);
	state_close(&s);
	assert_false(in_data_dir(NODE));
	assert_true(in_data_dir(private_name));
}

/* An audit entry for ROOM, committing the open transaction: it binds the room's publications as they are. */
static void log_and_commit(struct state *s)
{
	static const uint8_t entry[] = { 0x12, 0x05, 'a', 'l', 'i', 'c', 'e' };
	struct dcr_merkle_frontier f;
	struct dcr_err err;

	if (state_audit_append(s, ROOM, entry, sizeof(entry), &f, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(state_commit(s, &err), 0);
}

/* A call that writes nothing but its entry. */
static void log_call(struct state *s)
{
	struct dcr_err err;

	assert_int_equal(state_begin(s, &err), 0);
	log_and_commit(s);
}

static int count_one(void *ctx, const char *scope, const char *name, ProtobufCMessage *msg)
{
	++*(int *)ctx;
	return 0;
}

/* The dataset ID of the publication of NODE in ROOM, read as dcrd reads it; the result of the read. */
static int published(struct state *s, char id[static 40])
{
	Dcr__V1__PublicationRecord *pub = NULL;
	char private_name[STATE_PRIVATE_NAME_LEN + 1];
	struct dcr_err err;
	int r;

	assert_int_equal(state_private_name(s, ROOM, NODE, private_name, &err), 0);
	r = state_get_record(s, "publication", ROOM, private_name, &dcr__v1__publication_record__descriptor,
		(ProtobufCMessage **)&pub, &err);
	id[0] = '\0';
	if (r == 0) {
		snprintf(id, 40, "%s", pub->info->dataset_id);
		protobuf_c_message_free_unpacked(&pub->base, NULL);
	}
	return r;
}

/*
 * Publications are bound to the room's log: one put back from an older
 * copy (here: the row of another dataset, sealed for the same place) no
 * longer matches, for reads one by one and for listings.
 */
static void test_publication_rollback(void **state)
{
	char private_name[STATE_PRIVATE_NAME_LEN + 1], id[40];
	sqlite3_stmt *st;
	struct state s;
	struct dcr_err err;
	int n = 0;
	void *old_row;
	int old_len;

	(void)state;
	assert_int_equal(state_open(&s, dir, key, &err), 0);
	assert_int_equal(state_private_name(&s, ROOM, NODE, private_name, &err), 0);
	assert_int_equal(state_begin(&s, &err), 0);
	put_dataset(&s, private_name, OLD_DATASET);
	log_and_commit(&s);
	assert_int_equal(sqlite3_prepare_v2(s.db, "SELECT record FROM records WHERE kind = 'publication'", -1, &st, NULL),
		SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	old_len = sqlite3_column_bytes(st, 0);
	old_row = malloc((size_t)old_len);
	assert_non_null(old_row);
	memcpy(old_row, sqlite3_column_blob(st, 0), (size_t)old_len);
	sqlite3_finalize(st);
	/* Replaced by a newer dataset, logged. */
	assert_int_equal(state_begin(&s, &err), 0);
	put_dataset(&s, private_name, NEW_DATASET);
	log_and_commit(&s);
	assert_int_equal(published(&s, id), 0);
	assert_string_equal(id, NEW_DATASET);
	/* Other calls, which write no publication, keep the binding. */
	log_call(&s);
	assert_int_equal(published(&s, id), 0);
	state_close(&s);

	/* The host puts the older row back. */
	assert_int_equal(state_open(&s, dir, key, &err), 0);
	assert_int_equal(sqlite3_prepare_v2(s.db, "UPDATE records SET record = ?1 WHERE kind = 'publication'", -1, &st,
				 NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, old_row, old_len, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	free(old_row);
	assert_int_equal(published(&s, id), DCR_EINTEGRITY);
	assert_int_equal(state_each_record(&s, "publication", ROOM, &dcr__v1__publication_record__descriptor, count_one,
				 &n, &err), DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "not the one its audit log last recorded"));
	assert_int_equal(state_each_record(&s, "publication", NULL, &dcr__v1__publication_record__descriptor, count_one,
				 &n, &err), DCR_EINTEGRITY);
	assert_int_equal(n, 0);
	/* Nor does the next entry bind what the host put there. */
	log_call(&s);
	assert_int_equal(published(&s, id), DCR_EINTEGRITY);
	/* A write checks first too. */
	assert_int_equal(state_begin(&s, &err), 0);
	{
		Dcr__V1__PublicationRecord pub = DCR__V1__PUBLICATION_RECORD__INIT;

		assert_int_equal(state_put_record(&s, "publication", ROOM, private_name, 0, &pub.base, &err),
			DCR_EINTEGRITY);
	}
	state_rollback(&s);
	state_close(&s);
}

/*
 * A publication row under the node's clear name, as a dcrd before private
 * names wrote it, put back by the host: never promoted over the newer
 * privately named one. Unbound rooms drop it; in a bound room it stays
 * where it is and reads of the room report it.
 */
static void test_migration_never_replaces(void **state)
{
	char private_name[STATE_PRIVATE_NAME_LEN + 1], id[40];
	struct state s;
	struct dcr_err err;

	(void)state;
	for (int bound = 0; bound < 2; bound++) {
		teardown(NULL);
		setup(NULL);
		assert_int_equal(state_open(&s, dir, key, &err), 0);
		assert_int_equal(state_private_name(&s, ROOM, NODE, private_name, &err), 0);
		put_dataset(&s, private_name, NEW_DATASET);
		if (bound)
			log_call(&s);
		state_close(&s);
		/* In a handle of its own: what a host with an older copy of the row can do. */
		assert_int_equal(state_open(&s, dir, key, &err), 0);
		put_dataset(&s, NODE, OLD_DATASET);
		state_close(&s);

		if (state_open(&s, dir, key, &err) < 0)
			fail_msg("%s", err.msg);
		if (bound) {
			assert_int_equal(published(&s, id), DCR_EINTEGRITY);
		} else {
			assert_int_equal(published(&s, id), 0);
			assert_string_equal(id, NEW_DATASET);
			ProtobufCMessage *clear = NULL;

			assert_int_equal(state_get_record(&s, "publication", ROOM, NODE,
						 &dcr__v1__publication_record__descriptor, &clear, &err), DCR_ENOTFOUND);
		}
		state_close(&s);
	}
}

/* Serialized AuditEntry i, with a 16-byte salt or (as before salts) without. */
static size_t make_entry(int i, bool salted, uint8_t buf[static 256])
{
	Dcr__V1__AuditEntry e = DCR__V1__AUDIT_ENTRY__INIT;
	uint8_t salt[16];

	e.time_ms = 1751371200000 + i;
	e.caller = "bob@beta.example";
	e.action = "room.status";
	e.object = ROOM;
	e.outcome = "allowed";
	if (salted) {
		assert_int_equal(dcr_random(salt, sizeof(salt), NULL), 0);
		e.salt = (ProtobufCBinaryData){ sizeof(salt), salt };
	}
	assert_true(dcr__v1__audit_entry__get_packed_size(&e) <= 256);
	return dcr__v1__audit_entry__pack(&e, buf);
}

static struct {
	uint8_t buf[4][256];
	size_t len[4];
} log4;

static int entry_leaf(void *ctx, uint64_t index, uint8_t out[static 32])
{
	return dcr_merkle_leaf_hash(log4.buf[index], log4.len[index], out, NULL);
}

static void append(struct state *s, int i)
{
	struct dcr_merkle_frontier f;
	struct dcr_err err;

	assert_int_equal(state_begin(s, &err), 0);
	if (state_audit_append(s, ROOM, log4.buf[i], log4.len[i], &f, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(state_commit(s, &err), 0);
}

/* The length of each stored leaf, in index order. */
static void leaf_lengths(struct state *s, int out[static 4])
{
	sqlite3_stmt *st;

	assert_int_equal(sqlite3_prepare_v2(s->db, "SELECT idx, length(leaf) FROM audit WHERE room_id = ?1", -1, &st,
				 NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, ROOM, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW)
		out[sqlite3_column_int(st, 0)] = sqlite3_column_int(st, 1);
	sqlite3_finalize(st);
}

/*
 * A log begun by a dcrd before salts: its entries' leaves are sealed on the
 * next start, so the host cannot confirm a guess of them either; proofs
 * and the frontier still agree with the entries.
 */
static void test_legacy_leaves(void **state)
{
	uint8_t leaf[32], root2[32], root4[32];
	struct dcr_merkle_frontier f;
	struct dcr_merkle_proof p;
	char hex[65];
	int lens[4] = { 0 };
	struct state s;
	struct dcr_err err;

	(void)state;
	for (int i = 0; i < 4; i++)
		log4.len[i] = make_entry(i, i >= 2, log4.buf[i]);
	assert_int_equal(state_open(&s, dir, key, &err), 0);
	append(&s, 0);
	append(&s, 1);
	state_close(&s);
	assert_int_equal(dcr_merkle_leaf_hash(log4.buf[0], log4.len[0], leaf, NULL), 0);
	assert_true(in_data_dir_bytes(leaf, 32)); /* what the host could confirm a guess against */

	for (int round = 0; round < 2; round++) {
		if (state_open(&s, dir, key, &err) < 0)
			fail_msg("%s", err.msg);
		/* Sealed at open: gone from the data directory already, not only once dcrd stops. */
		for (int i = 0; i < 2; i++) {
			assert_int_equal(dcr_merkle_leaf_hash(log4.buf[i], log4.len[i], leaf, NULL), 0);
			assert_false(in_data_dir_bytes(leaf, 32));
		}
		if (round == 0) {
			append(&s, 2);
			append(&s, 3);
		}
		leaf_lengths(&s, lens);
		assert_int_not_equal(lens[0], 32);
		assert_int_not_equal(lens[1], 32);
		assert_int_equal(lens[2], 32);
		assert_int_equal(lens[3], 32);
		/* A proof from size 2 to 4 reads every leaf, sealed or not, and agrees with the entries. */
		assert_int_equal(dcr_merkle_root(2, entry_leaf, NULL, root2, NULL), 0);
		assert_int_equal(dcr_merkle_root(4, entry_leaf, NULL, root4, NULL), 0);
		if (state_audit_consistency(&s, ROOM, 2, 4, &p, &err) < 0)
			fail_msg("%s", err.msg);
		assert_int_equal(dcr_merkle_consistency_verify(2, 4, root2, root4, &p, &err), 0);
		assert_int_equal(state_audit_consistency(&s, ROOM, 1, 4, &p, &err), 0);
		assert_int_equal(state_audit_frontier(&s, ROOM, &f, &err), 0);
		assert_int_equal(f.size, 4);
		assert_int_equal(dcr_merkle_frontier_root(&f, leaf, NULL), 0);
		assert_memory_equal(leaf, root4, 32);
		state_close(&s);
		for (int i = 0; i < 2; i++) {
			assert_int_equal(dcr_merkle_leaf_hash(log4.buf[i], log4.len[i], leaf, NULL), 0);
			dcr_hex(leaf, 32, hex);
			assert_false(in_data_dir_bytes(leaf, 32));
			assert_false(in_data_dir(hex));
		}
		/* Nor the stored root of the two: subtree roots are sealed too. */
		assert_int_equal(dcr_merkle_root(2, entry_leaf, NULL, root2, NULL), 0);
		assert_false(in_data_dir_bytes(root2, 32));
	}
}

/* ---- The audit log's stored subtrees. ---- */

#define LOG_N 100

static struct {
	uint8_t buf[LOG_N][256];
	size_t len[LOG_N];
} logn;

static int logn_leaf(void *ctx, uint64_t index, uint8_t out[static 32])
{
	return dcr_merkle_leaf_hash(logn.buf[index], logn.len[index], out, NULL);
}

static unsigned ceil_log2(uint64_t n)
{
	unsigned b = 0;

	while (((uint64_t)1 << b) < n)
		b++;
	return b;
}

/* The rows the audit statements have read or written since the last call. */
static int64_t audit_runs(struct state *s)
{
	int64_t n = 0;

	for (size_t i = 0; i < sizeof(s->audit_st) / sizeof(*s->audit_st); i++)
		if (s->audit_st[i])
			n += sqlite3_stmt_status(s->audit_st[i], SQLITE_STMTSTATUS_RUN, 1);
	return n;
}

/*
 * Every consistency proof the state gives for a log of n entries (every
 * old size) is the one computed from the entries alone, and reads at most
 * 3 ceil(log2 n) + 3 rows: 2 ceil(log2 n) + 1 for the proof, and for the
 * check that it leads from the old tree's stored pieces to the sealed
 * root, the frontier and one piece per set bit of the old size.
 */
static void check_proofs(struct state *s, uint64_t n)
{
	struct dcr_merkle_proof got, want;
	struct dcr_err err;

	for (uint64_t m = 0; m <= n; m++) {
		assert_int_equal(dcr_merkle_consistency_proof(m, n, logn_leaf, NULL, &want, NULL), 0);
		audit_runs(s);
		if (state_audit_consistency(s, ROOM, m, n, &got, &err) < 0)
			fail_msg("proof %llu..%llu: %s", (unsigned long long)m, (unsigned long long)n, err.msg);
		assert_true(audit_runs(s) <= 3 * ceil_log2(n) + 3);
		assert_int_equal(got.len, want.len);
		assert_memory_equal(got.hash, want.hash, want.len * 32);
	}
}

static int64_t count_of(struct state *s, const char *sql)
{
	sqlite3_stmt *st;
	int64_t n;

	assert_int_equal(sqlite3_prepare_v2(s->db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void exec_sql(const char *sql)
{
	char path[4200];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/state.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

static void open_state(struct state *s)
{
	struct dcr_err err;

	if (state_open(s, dir, key, &err) < 0)
		fail_msg("%s", err.msg);
}

static void test_audit_nodes(void **state)
{
	struct dcr_merkle_frontier f;
	struct dcr_merkle_proof p;
	struct state s;
	struct dcr_err err;

	(void)state;
	for (int i = 0; i < LOG_N; i++)
		logn.len[i] = make_entry(i, true, logn.buf[i]);
	open_state(&s);
	/* Appended one by one, every proof of every size on the way. */
	for (uint64_t n = 1; n <= LOG_N; n++) {
		assert_int_equal(state_begin(&s, &err), 0);
		if (state_audit_append(&s, ROOM, logn.buf[n - 1], logn.len[n - 1], &f, &err) < 0)
			fail_msg("%s", err.msg);
		assert_int_equal(state_commit(&s, &err), 0);
		assert_int_equal(f.size, n);
		check_proofs(&s, n);
	}
	/* A node for each perfect subtree above the leaves: n minus the frontier's pieces. */
	assert_int_equal(count_of(&s, "SELECT count(*) FROM audit_node"), LOG_N - __builtin_popcount(LOG_N));
	state_close(&s);

	/* A state.db from a dcrd that kept no subtrees: built from the leaves at open. */
	exec_sql("DROP TABLE audit_node");
	open_state(&s);
	assert_int_equal(count_of(&s, "SELECT count(*) FROM audit_node"), LOG_N - __builtin_popcount(LOG_N));
	check_proofs(&s, LOG_N);
	state_close(&s);
	/* Or one run on it for a while (the subtrees of the newest entries missing): the same. */
	exec_sql("DELETE FROM audit_node WHERE idx * (1 << level) >= 64");
	open_state(&s);
	assert_int_equal(count_of(&s, "SELECT count(*) FROM audit_node"), LOG_N - __builtin_popcount(LOG_N));
	check_proofs(&s, LOG_N);
	state_close(&s);

	/* A stored subtree altered, or dropped, while dcrd runs: no proof, an integrity violation. */
	open_state(&s);
	/* The proof from 20 to 100 reads the subtrees of leaves 16..19 (level 2, index 4) and 20..23. */
	exec_sql("UPDATE audit_node SET hash = zeroblob(61) WHERE level = 2 AND idx = 4");
	assert_int_equal(state_audit_consistency(&s, ROOM, 20, LOG_N, &p, &err), DCR_EINTEGRITY);
	assert_int_equal(p.len, 0);
	assert_non_null(strstr(err.msg, "stored leaves or subtrees are missing or damaged"));
	exec_sql("DELETE FROM audit_node WHERE level = 2 AND idx = 4");
	assert_int_equal(state_audit_consistency(&s, ROOM, 20, LOG_N, &p, &err), DCR_EINTEGRITY);
	/* Moved to another place, the seal does not open there. */
	exec_sql("UPDATE audit_node SET idx = 4 WHERE level = 2 AND idx = 5");
	assert_int_equal(state_audit_consistency(&s, ROOM, 20, LOG_N, &p, &err), DCR_EINTEGRITY);
	state_close(&s);

	/* Damaged, they stay an integrity violation after a restart. */
	open_state(&s);
	assert_int_equal(state_audit_consistency(&s, ROOM, 20, LOG_N, &p, &err), DCR_EINTEGRITY);
	state_close(&s);
	/* Dropped altogether (as a dcrd that kept none leaves them), rebuilt at the next start. */
	exec_sql("DELETE FROM audit_node");
	open_state(&s);
	check_proofs(&s, LOG_N);
	state_close(&s);

	/* A leaf in the clear altered: a proof that reads it is refused (from 19, it reads leaf 19). */
	exec_sql("UPDATE audit SET leaf = zeroblob(32) WHERE idx = 19");
	open_state(&s);
	assert_int_equal(state_audit_consistency(&s, ROOM, 19, LOG_N, &p, &err), DCR_EINTEGRITY);
	assert_int_equal(p.len, 0);
	assert_non_null(strstr(err.msg, "do not lead to the sealed root"));
	state_close(&s);
	/* Nor are subtrees built from it: with them dropped, nothing is rebuilt. */
	exec_sql("DELETE FROM audit_node");
	open_state(&s);
	assert_int_equal(count_of(&s, "SELECT count(*) FROM audit_node"), 0);
	assert_int_equal(state_audit_consistency(&s, ROOM, 20, LOG_N, &p, &err), DCR_EINTEGRITY);
	state_close(&s);
}

/* The sealed clock mark row's blob, into buf; its length, 0 if there is none. */
static int clock_row(struct state *s, uint8_t buf[static 256])
{
	sqlite3_stmt *st;
	int n = 0;

	assert_int_equal(sqlite3_prepare_v2(s->db, "SELECT mark FROM clock", -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW && (n = sqlite3_column_bytes(st, 0)) <= 256)
		memcpy(buf, sqlite3_column_blob(st, 0), (size_t)n);
	sqlite3_finalize(st);
	return n;
}

static void use_nonce(struct state *s, uint8_t first, int64_t now_ms, int64_t timestamp_ms)
{
	uint8_t nonce[DCR_CALL_NONCE_LEN];
	struct dcr_err err;

	assert_int_equal(dcr_random(nonce, sizeof(nonce), NULL), 0);
	nonce[0] = first;
	if (state_use_nonce(s, nonce, now_ms, timestamp_ms, &err) < 0)
		fail_msg("%s", err.msg);
}

/* state_clock_mark, checked against the mark and latest call expected. */
static void expect_mark(struct state *s, int64_t mark, int64_t last)
{
	int64_t m, l;
	struct dcr_err err;

	if (state_clock_mark(s, &m, &l, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(m, mark);
	assert_int_equal(l, last);
}

/*
 * The clock mark: dcrd's own clock when it accepted its latest call, which
 * a restarted dcrd's clock starts from, and the latest call timestamp
 * accepted, which it will not accept calls at or before. A caller stamping
 * ahead moves the second, never the first. The host can restore an older
 * mark row, or delete it, but every room's frontier holds both as they were
 * at its last entry, and the largest counts; restoring those rolls the log
 * back, which clients detect. A damaged mark row stops dcrd.
 */
static void test_clock_mark(void **state)
{
	uint8_t old_row[256];
	int old_len;
	struct state s;
	struct dcr_err err;
	sqlite3_stmt *st;

	(void)state;
	log4.len[0] = make_entry(0, true, log4.buf[0]);
	assert_int_equal(state_open(&s, dir, key, &err), 0);
	expect_mark(&s, 0, 0);
	use_nonce(&s, 1, 1751371200000, 1751371200000);
	old_len = clock_row(&s, old_row);
	assert_int_not_equal(old_len, 0);
	use_nonce(&s, 0, 1751371201000, 1751371205000); /* stamped 4 s ahead; a first byte of 0 also sweeps */
	use_nonce(&s, 2, 1751371202000, 1751371199000); /* stamped earlier: the latest call stays */
	append(&s, 0);
	state_close(&s);

	assert_int_equal(state_open(&s, dir, key, &err), 0);
	expect_mark(&s, 1751371202000, 1751371205000);
	/* The host restores the older row: the frontier still says. */
	assert_int_equal(sqlite3_prepare_v2(s.db, "UPDATE clock SET mark = ?1", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, old_row, old_len, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	expect_mark(&s, 1751371202000, 1751371205000);
	/* Or deletes it. */
	assert_int_equal(sqlite3_exec(s.db, "DELETE FROM clock", NULL, NULL, NULL), SQLITE_OK);
	expect_mark(&s, 1751371202000, 1751371205000);
	/* Or damages it: not a mark to start from. */
	old_row[old_len - 1] ^= 1;
	assert_int_equal(sqlite3_prepare_v2(s.db, "INSERT INTO clock (id, mark) VALUES (1, ?1)", -1, &st, NULL),
		SQLITE_OK);
	sqlite3_bind_blob(st, 1, old_row, old_len, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	{
		int64_t m, l;

		assert_int_equal(state_clock_mark(&s, &m, &l, &err), DCR_EINTEGRITY);
	}
	/* A row from before the clock was sealed: a timestamp, and dcrd's clock at most 5 s behind it. */
	{
		const uint8_t be[8] = { 0, 0, 0x01, 0x97, 0xc5, 0xe4, 0xd4, 0xa0 }; /* 1751371797664 */
		uint8_t *blob = NULL;
		size_t len = 0;

		assert_int_equal(dcr_seal(key, "clock-mark", be, sizeof(be), &blob, &len, NULL), 0);
		assert_int_equal(sqlite3_prepare_v2(s.db, "UPDATE clock SET mark = ?1", -1, &st, NULL), SQLITE_OK);
		sqlite3_bind_blob(st, 1, blob, (int)len, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_finalize(st);
		free(blob);
		expect_mark(&s, 1751371797664 - 5000, 1751371797664);
	}
	state_close(&s);
}

static int collect_id(void *ctx, const char *id)
{
	char *ids = ctx;

	strcat(ids, id);
	strcat(ids, " ");
	return 0;
}

static int count_room(void *ctx, const char *id, const Dcr__V1__RoomRecord *rec)
{
	(*(int *)ctx)++;
	return 0;
}

/* The IDs of the rooms, in order, though a record no longer unseals; unsealing every room stops there. */
static void test_room_ids(void **state)
{
	Dcr__V1__RoomRecord rec = DCR__V1__ROOM_RECORD__INIT;
	char ids[2 * 66 + 1] = "";
	struct state s;
	struct dcr_err err;
	int n = 0;

	(void)state;
	rec.owner = "alice@acme.example";
	rec.status = DCR__V1__ROOM_STATUS__ROOM_STATUS_ACTIVE;
	assert_int_equal(state_open(&s, dir, key, &err), 0);
	assert_int_equal(state_begin(&s, &err), 0);
	assert_int_equal(state_put_room(&s, ROOM, &rec, 1, &err), 0);
	assert_int_equal(state_put_room(&s, OTHER_ROOM, &rec, 1, &err), 0);
	assert_int_equal(state_commit(&s, &err), 0);
	assert_int_equal(sqlite3_exec(s.db, "UPDATE rooms SET record = x'00' WHERE id = '" OTHER_ROOM "'", NULL, NULL,
				 NULL), SQLITE_OK);
	assert_int_equal(state_each_room_id(&s, collect_id, ids, &err), 0);
	assert_string_equal(ids, OTHER_ROOM " " ROOM " ");
	assert_true(state_each_room(&s, count_room, &n, &err) < 0);
	assert_int_equal(n, 0);
	state_close(&s);
}

/* What follows a transaction's end: each hook once, true on commit, false on rollback or a failed commit. */
struct ended {
	int calls;
	bool committed;
};

static void on_end(void *arg, bool committed)
{
	struct ended *e = arg;

	e->calls++;
	e->committed = committed;
}

static void test_end_hooks(void **state)
{
	struct ended a = { 0 }, b = { 0 }, many[STATE_HOOKS_MAX + 1];
	struct state s;
	struct dcr_err err;

	(void)state;
	memset(many, 0, sizeof(many));
	assert_int_equal(state_open(&s, dir, key, &err), 0);
	assert_int_equal(state_begin(&s, &err), 0);
	assert_int_equal(state_on_end(&s, on_end, &a, &err), 0);
	assert_int_equal(state_on_end(&s, on_end, &b, &err), 0);
	assert_int_equal(a.calls, 0);
	assert_int_equal(state_commit(&s, &err), 0);
	assert_int_equal(a.calls, 1);
	assert_true(a.committed);
	assert_int_equal(b.calls, 1);
	assert_true(b.committed);

	assert_int_equal(state_begin(&s, &err), 0);
	assert_int_equal(state_on_end(&s, on_end, &a, &err), 0);
	state_rollback(&s);
	assert_int_equal(a.calls, 2);
	assert_false(a.committed);
	/* Settled once: the next transaction does not see it. */
	assert_int_equal(state_begin(&s, &err), 0);
	assert_int_equal(state_commit(&s, &err), 0);
	assert_int_equal(a.calls, 2);

	/* A commit that fails (here: no transaction is open) ends the hooks as not committed. */
	assert_int_equal(state_on_end(&s, on_end, &b, &err), 0);
	assert_true(state_commit(&s, &err) < 0);
	assert_int_equal(b.calls, 2);
	assert_false(b.committed);

	/* At most STATE_HOOKS_MAX; the one refused is never called. */
	assert_int_equal(state_begin(&s, &err), 0);
	for (int i = 0; i < STATE_HOOKS_MAX; i++)
		assert_int_equal(state_on_end(&s, on_end, &many[i], &err), 0);
	assert_int_equal(state_on_end(&s, on_end, &many[STATE_HOOKS_MAX], &err), DCR_EFAIL);
	assert_int_equal(state_commit(&s, &err), 0);
	for (int i = 0; i < STATE_HOOKS_MAX; i++)
		assert_int_equal(many[i].calls, 1);
	assert_int_equal(many[STATE_HOOKS_MAX].calls, 0);

	/* Closing with a transaction open rolls it back: its hooks hear so. */
	assert_int_equal(state_begin(&s, &err), 0);
	assert_int_equal(state_on_end(&s, on_end, &a, &err), 0);
	state_close(&s);
	assert_int_equal(a.calls, 3);
	assert_false(a.committed);
}

/* A token row: one change to the state. */
static void add_token(struct state *s, unsigned i)
{
	uint8_t hash[DCR_SHA256_LEN] = { 0 };
	struct dcr_err err;

	memcpy(hash, &i, sizeof(i));
	assert_int_equal(state_token_add(s, hash, "a@example.org", 1, 2, &err), 0);
}

static int synchronous(struct state *s)
{
	sqlite3_stmt *st;
	int v;

	assert_int_equal(sqlite3_prepare_v2(s->db, "PRAGMA synchronous", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void assert_counts(struct state *s, uint64_t writes, uint64_t syncs)
{
	uint64_t w, n;

	state_sync_counts(s, &w, &n);
	assert_int_equal(w, writes);
	assert_int_equal(n, syncs);
}

struct committer {
	struct state *s;
	pthread_mutex_t *lock;
	unsigned first, n;
};

static void *commit_some(void *arg)
{
	struct committer *c = arg;

	for (unsigned i = 0; i < c->n; i++) {
		pthread_mutex_lock(c->lock);
		add_token(c->s, c->first + i);
		state_unlock(c->s, c->lock);
	}
	return NULL;
}

static void test_group_commit(void **state)
{
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct committer c[8];
	pthread_t t[8];
	struct state s;
	struct state_token tok;
	struct stat a, b;
	struct dcr_err err;
	uint8_t hash[DCR_SHA256_LEN] = { 0 };
	char path[4200];
	uint64_t w, n;

	(void)state;
	assert_int_equal(state_open(&s, dir, key, &err), 0);
	/* Without it (dcrd token create), every commit waits for the disk. */
	assert_int_equal(synchronous(&s), 2);
	state_unlock(&s, NULL);
	assert_counts(&s, 0, 0);
	assert_int_equal(state_group_commit(&s, dir, dir, &err), 0);
	assert_int_equal(synchronous(&s), 1);
	/* What it syncs is the log SQLite writes. */
	snprintf(path, sizeof(path), "%s/state.db-wal", dir);
	assert_int_equal(stat(path, &a), 0);
	assert_int_equal(fstat(s.wal_fd, &b), 0);
	assert_true(a.st_ino == b.st_ino && a.st_dev == b.st_dev);

	/* A release after a change syncs once; after none, or only reads, not at all. */
	pthread_mutex_lock(&lock);
	add_token(&s, 1);
	state_unlock(&s, &lock);
	assert_counts(&s, 1, 1);
	pthread_mutex_lock(&lock);
	assert_int_equal(state_token_get(&s, hash, &tok, &err), DCR_ENOTFOUND);
	state_unlock(&s, &lock);
	state_unlock(&s, NULL);
	assert_counts(&s, 1, 1);
	/* Many changes under one hold: one write, one sync. */
	pthread_mutex_lock(&lock);
	assert_int_equal(state_begin(&s, &err), 0);
	add_token(&s, 2);
	add_token(&s, 3);
	assert_int_equal(state_commit(&s, &err), 0);
	add_token(&s, 4);
	state_unlock(&s, &lock);
	assert_counts(&s, 2, 2);

	/*
	 * While one fdatasync is under way (here: pretended), every thread that
	 * releases the lock waits; then one fdatasync serves them all.
	 */
	pthread_mutex_lock(&s.sync_mu);
	s.syncing = true;
	pthread_mutex_unlock(&s.sync_mu);
	for (unsigned i = 0; i < 8; i++) {
		c[i] = (struct committer){ &s, &lock, 100 + 10 * i, 1 };
		assert_int_equal(pthread_create(&t[i], NULL, commit_some, &c[i]), 0);
	}
	do {
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
		state_sync_counts(&s, &w, &n);
	} while (w < 10);
	assert_counts(&s, 10, 2);
	pthread_mutex_lock(&s.sync_mu);
	s.syncing = false;
	pthread_cond_broadcast(&s.sync_cv);
	pthread_mutex_unlock(&s.sync_mu);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_counts(&s, 10, 3);

	/* Threads at once: every release counted, never more syncs than writes, all on disk at the end. */
	for (unsigned i = 0; i < 8; i++) {
		c[i] = (struct committer){ &s, &lock, 1000 + 100 * i, 25 };
		assert_int_equal(pthread_create(&t[i], NULL, commit_some, &c[i]), 0);
	}
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	state_sync_counts(&s, &w, &n);
	assert_int_equal(w, 10 + 8 * 25);
	assert_true(n > 3 && n <= w);
	assert_int_equal(s.synced, w);
	state_close(&s);

	/* Everything is there after a reopen (a sanity check: closing syncs anyway). */
	assert_int_equal(state_open(&s, dir, key, &err), 0);
	for (unsigned i = 0; i < 8; i++) {
		memset(hash, 0, sizeof(hash));
		unsigned k = 1000 + 100 * i + 24;

		memcpy(hash, &k, sizeof(k));
		assert_int_equal(state_token_get(&s, hash, &tok, &err), 0);
	}
	state_close(&s);
}

/* An fdatasync that waits while told to hold, counting its calls. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int calls;
	bool hold;
} held = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false };

static int held_fdatasync(int fd)
{
	pthread_mutex_lock(&held.mu);
	held.calls++;
	pthread_cond_broadcast(&held.cv);
	while (held.hold)
		pthread_cond_wait(&held.cv, &held.mu);
	pthread_mutex_unlock(&held.mu);
	return fdatasync(fd);
}

static void hold_syncs(bool hold)
{
	pthread_mutex_lock(&held.mu);
	held.hold = hold;
	if (hold)
		held.calls = 0;
	pthread_cond_broadcast(&held.cv);
	pthread_mutex_unlock(&held.mu);
}

static int held_calls(void)
{
	int n;

	pthread_mutex_lock(&held.mu);
	n = held.calls;
	pthread_mutex_unlock(&held.mu);
	return n;
}

static void until_held_calls(int n)
{
	pthread_mutex_lock(&held.mu);
	while (held.calls < n)
		pthread_cond_wait(&held.cv, &held.mu);
	pthread_mutex_unlock(&held.mu);
}

static void until_writes(struct state *s, uint64_t n)
{
	uint64_t w, x;

	for (state_sync_counts(s, &w, &x); w < n; state_sync_counts(s, &w, &x))
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
}

struct reader {
	struct state *s;
	pthread_mutex_t *lock;
	atomic_bool done;
};

/* A release after reads only: it waits for what others committed before it. */
static void *read_and_release(void *arg)
{
	struct reader *rd = arg;
	uint8_t hash[DCR_SHA256_LEN] = { 0 };
	struct state_token tok;
	struct dcr_err err;

	pthread_mutex_lock(rd->lock);
	assert_int_equal(state_token_get(rd->s, hash, &tok, &err), DCR_ENOTFOUND);
	state_unlock(rd->s, rd->lock);
	atomic_store(&rd->done, true);
	return NULL;
}

static void *close_state(void *arg)
{
	struct reader *rd = arg;

	state_close(rd->s);
	atomic_store(&rd->done, true);
	return NULL;
}

/*
 * With a commit's fdatasync held, fn (in a thread of its own) does not
 * return; once it is let go, both end.
 */
static void behind_held_sync(struct state *s, pthread_mutex_t *lock, unsigned first, void *(*fn)(void *))
{
	struct committer a = { s, lock, first, 1 };
	struct reader rd = { .s = s, .lock = lock };
	pthread_t ta, tr;

	hold_syncs(true);
	assert_int_equal(pthread_create(&ta, NULL, commit_some, &a), 0);
	until_held_calls(1);
	atomic_init(&rd.done, false);
	assert_int_equal(pthread_create(&tr, NULL, fn, &rd), 0);
	nanosleep(&(struct timespec){ 0, 100000000 }, NULL);
	assert_false(atomic_load(&rd.done));
	hold_syncs(false);
	assert_int_equal(pthread_join(ta, NULL), 0);
	assert_int_equal(pthread_join(tr, NULL), 0);
	assert_true(atomic_load(&rd.done));
}

static void test_group_commit_waits(void **state)
{
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct committer a, c;
	pthread_t ta, tc;
	struct state s;
	struct dcr_err err;
	uint64_t ticket, w, n;

	(void)state;
	assert_int_equal(state_open(&s, dir, key, &err), 0);
	/* Without group commit a commit is on disk when it returns: ticket 0, synced. */
	pthread_mutex_lock(&lock);
	add_token(&s, 1);
	assert_int_equal(state_ticket(&s), 0);
	assert_true(state_synced(&s, state_ticket(&s)));
	state_unlock(&s, &lock);
	assert_int_equal(state_group_commit(&s, dir, dir, &err), 0);
	state_fdatasync_fn = held_fdatasync;

	/* A commit's ticket is synced once its release returns, not before. */
	hold_syncs(false);
	pthread_mutex_lock(&lock);
	assert_int_equal(state_begin(&s, &err), 0);
	add_token(&s, 2);
	assert_int_equal(state_commit(&s, &err), 0);
	ticket = state_ticket(&s);
	assert_int_equal(ticket, 1);
	assert_false(state_synced(&s, ticket));
	state_unlock(&s, &lock);
	assert_true(state_synced(&s, ticket));

	/* The runner's release counts its commit and does not sync it; the next release, a reader's, does. */
	state_sync_counts(&s, &w, &n);
	pthread_mutex_lock(&lock);
	add_token(&s, 3);
	ticket = state_ticket(&s);
	state_release(&s, &lock);
	assert_counts(&s, w + 1, n);
	assert_false(state_synced(&s, ticket));
	pthread_mutex_lock(&lock);
	state_unlock(&s, &lock);
	assert_counts(&s, w + 1, n + 1);
	assert_true(state_synced(&s, ticket));

	/* A reader's release waits for the fdatasync of what another committed before it. */
	behind_held_sync(&s, &lock, 10, read_and_release);
	assert_int_equal(held_calls(), 1);

	/*
	 * A commit counted while an fdatasync is under way is not covered by
	 * it (its frames may have been written after it began): a second one.
	 */
	hold_syncs(true);
	state_sync_counts(&s, &w, &n);
	a = (struct committer){ &s, &lock, 20, 1 };
	assert_int_equal(pthread_create(&ta, NULL, commit_some, &a), 0);
	until_held_calls(1);
	c = (struct committer){ &s, &lock, 30, 1 };
	assert_int_equal(pthread_create(&tc, NULL, commit_some, &c), 0);
	until_writes(&s, w + 2);
	hold_syncs(false);
	assert_int_equal(pthread_join(ta, NULL), 0);
	assert_int_equal(pthread_join(tc, NULL), 0);
	assert_int_equal(held_calls(), 2);
	assert_counts(&s, w + 2, n + 2);

	/* Closing waits for an fdatasync under way, syncs once more, and a thread still waiting returns. */
	behind_held_sync(&s, &lock, 40, close_state);
	assert_int_equal(held_calls(), 2);
	s.committed = true; /* as a runner's commit that the stop caught */
	state_unlock(&s, NULL);
	assert_int_equal(held_calls(), 2);
	state_fdatasync_fn = NULL;
}

enum broken { BROKEN_LOG, BROKEN_FILES_DIR, BROKEN_FILES_DIR_UNUSED };

/*
 * A child commits and releases with a pipe in place of the log or of the
 * files' directory: fsync of a pipe fails (EINVAL) as a failing disk
 * would (EIO). Its exit status, and what it said in msg.
 */
static int sync_with(enum broken what, char *msg, size_t size)
{
	int out[2], p[2], status;
	ssize_t got;
	pid_t pid;

	assert_int_equal(pipe(out), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
		struct state s;
		struct dcr_err err;

		dup2(out[1], 2);
		if (state_open(&s, dir, key, &err) < 0 || state_group_commit(&s, dir, dir, &err) < 0 || pipe(p) < 0)
			_exit(3);
		dup2(p[0], what == BROKEN_LOG ? s.wal_fd : s.files_fd);
		pthread_mutex_lock(&lock);
		if (what == BROKEN_FILES_DIR)
			state_files_changed(&s); /* a file made there, about to be named */
		add_token(&s, 7 + what);
		state_unlock(&s, &lock);
		_exit(0); /* answered */
	}
	close(out[1]);
	got = read(out[0], msg, size - 1);
	msg[got > 0 ? got : 0] = '\0';
	close(out[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/*
 * The log failing to sync stops dcrd before it answers: status 1, and why,
 * on standard error; so does the files' directory, synced first when a
 * file was made there, and only then.
 */
static void test_group_commit_sync_fails(void **state)
{
	char msg[512];

	(void)state;
	assert_int_equal(sync_with(BROKEN_LOG, msg, sizeof(msg)), 1);
	assert_non_null(strstr(msg, "cannot be written to disk"));
	assert_int_equal(sync_with(BROKEN_FILES_DIR, msg, sizeof(msg)), 1);
	assert_non_null(strstr(msg, "cannot be written to disk"));
	assert_int_equal(sync_with(BROKEN_FILES_DIR_UNUSED, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_private_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_legacy_leaves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_nodes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publication_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_never_replaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock_mark, setup, teardown),
		cmocka_unit_test_setup_teardown(test_room_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_end_hooks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit_sync_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit_waits, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
