/* Unit tests for lib/audit.c: signed tree heads, entries against a head, consistency, the stored heads. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "audit.h"
#include "crypto.h"
#include "merkle.h"

#define N_ENTRIES 7
#define ROOM "5dd95eaf75eeb191b6e841044aea0cca8ec2a8fe314d9f2dcddaac11035b7a6f"
#define OTHER_ROOM "1a95e40e2e86d2ae6a8892b1fb644994038dd8093310a0b1bc7b8cc98a682e46"

/* Serialized AuditEntry messages, as dcrd appends them. */
struct log {
	uint8_t *buf[N_ENTRIES];
	ProtobufCBinaryData items[N_ENTRIES];
	size_t n;
};

static void log_init(struct log *l, const char *caller)
{
	static const char *const actions[] = { "room.create", "room.status", "room.stop", "audit.get" };

	memset(l, 0, sizeof(*l));
	for (size_t i = 0; i < N_ENTRIES; i++) {
		Dcr__V1__AuditEntry e = DCR__V1__AUDIT_ENTRY__INIT;
		size_t len;

		e.time_ms = 1751371200000 + (int64_t)i;
		e.caller = (char *)caller;
		e.action = (char *)actions[i % 4];
		e.object = ROOM;
		e.outcome = i == 2 ? "denied" : "allowed";
		e.detail = i == 2 ? "lacks permission 'stop'" : "";
		len = dcr__v1__audit_entry__get_packed_size(&e);
		l->buf[i] = malloc(len);
		assert_non_null(l->buf[i]);
		dcr__v1__audit_entry__pack(&e, l->buf[i]);
		l->items[i] = (ProtobufCBinaryData){ len, l->buf[i] };
	}
	l->n = N_ENTRIES;
}

static void log_release(struct log *l)
{
	for (size_t i = 0; i < N_ENTRIES; i++)
		free(l->buf[i]);
}

static int read_leaf(void *ctx, uint64_t index, uint8_t out[static DCR_MERKLE_HASH_LEN])
{
	const struct log *l = ctx;

	return index < l->n ? dcr_merkle_leaf_hash(l->items[index].data, l->items[index].len, out, NULL) : DCR_EINVALID;
}

/* The head of the first size entries of l. */
static void head_of(const struct log *l, size_t size, struct dcr_tree_head *h)
{
	memset(h, 0, sizeof(*h));
	snprintf(h->room_id, sizeof(h->room_id), "%s", ROOM);
	h->size = size;
	h->time_ms = 1751371300000;
	assert_int_equal(dcr_merkle_root(size, read_leaf, (void *)l, h->root, NULL), 0);
}

static void test_sign_verify(void **state)
{
	uint8_t sk[32], pk[32], other_sk[32], other_pk[32], sig[64], sig2[64];
	Dcr__V1__SignedTreeHead sth, forged;
	struct dcr_tree_head h, back;
	struct dcr_err err;
	struct log l;
	uint8_t *msg, *bytes;
	size_t msg_len = 0;

	(void)state;
	log_init(&l, "alice@acme.example");
	head_of(&l, N_ENTRIES, &h);
	assert_int_equal(dcr_ed25519_keygen(sk, pk, NULL), 0);
	assert_int_equal(dcr_ed25519_keygen(other_sk, other_pk, NULL), 0);
	assert_int_equal(dcr_audit_sign_head(sk, &h, &sth, sig, &err), 0);
	assert_int_equal(dcr_audit_verify_head(pk, &sth, &back, &err), 0);
	assert_string_equal(back.room_id, ROOM);
	assert_int_equal(back.size, N_ENTRIES);
	assert_memory_equal(back.root, h.root, 32);
	assert_int_equal(back.time_ms, h.time_ms);

	/* Another enclave's key: refused. */
	assert_int_equal(dcr_audit_verify_head(other_pk, &sth, &back, &err), DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "not the attested enclave's"));

	/* Every bit of the head and of the signature matters. */
	for (size_t i = 0; i < sth.head.len * 8; i++) {
		sth.head.data[i / 8] ^= (uint8_t)(1u << (i % 8));
		assert_int_equal(dcr_audit_verify_head(pk, &sth, &back, &err), DCR_EINTEGRITY);
		sth.head.data[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	for (size_t i = 0; i < 64 * 8; i++) {
		sig[i / 8] ^= (uint8_t)(1u << (i % 8));
		assert_int_equal(dcr_audit_verify_head(pk, &sth, &back, &err), DCR_EINTEGRITY);
		sig[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	assert_int_equal(dcr_audit_verify_head(pk, &sth, &back, &err), 0);

	/* No head, no signature, a short one. */
	assert_int_equal(dcr_audit_verify_head(pk, NULL, &back, &err), DCR_EINTEGRITY);
	sth.signature.len = 63;
	assert_int_equal(dcr_audit_verify_head(pk, &sth, &back, &err), DCR_EINTEGRITY);
	sth.signature.len = 0;
	assert_int_equal(dcr_audit_verify_head(pk, &sth, &back, &err), DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "unsigned"));
	sth.signature.len = 64;

	/* A validly signed message that is not a tree head is still refused. */
	bytes = (uint8_t *)"not a tree head";
	msg = dcr_domain_message("dcr-tree-head-v1", bytes, 15, &msg_len);
	assert_non_null(msg);
	assert_int_equal(dcr_ed25519_sign(sk, msg, msg_len, sig2, NULL), 0);
	free(msg);
	dcr__v1__signed_tree_head__init(&forged);
	forged.head = (ProtobufCBinaryData){ 15, bytes };
	forged.signature = (ProtobufCBinaryData){ 64, sig2 };
	assert_int_equal(dcr_audit_verify_head(pk, &forged, &back, &err), DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "malformed"));

	/* Nor is a validly signed head in another encoding than its canonical one (an unknown field appended). */
	bytes = malloc(sth.head.len + 3);
	assert_non_null(bytes);
	memcpy(bytes, sth.head.data, sth.head.len);
	memcpy(bytes + sth.head.len, "\x7a\x01\x00", 3);
	msg = dcr_domain_message("dcr-tree-head-v1", bytes, sth.head.len + 3, &msg_len);
	assert_non_null(msg);
	assert_int_equal(dcr_ed25519_sign(sk, msg, msg_len, sig2, NULL), 0);
	free(msg);
	forged.head = (ProtobufCBinaryData){ sth.head.len + 3, bytes };
	assert_int_equal(dcr_audit_verify_head(pk, &forged, &back, &err), DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "the tree head is malformed: the head is not in its canonical encoding: an "
					"unknown field 15 in the TreeHead"));
	free(bytes);

	/* A signature made for another purpose does not pass for a head's. */
	assert_int_equal(dcr_ed25519_sign(sk, sth.head.data, sth.head.len, sig2, NULL), 0);
	forged.head = sth.head;
	assert_int_equal(dcr_audit_verify_head(pk, &forged, &back, &err), DCR_EINTEGRITY);

	free(sth.head.data);
	log_release(&l);
}

static void test_check_entries(void **state)
{
	struct dcr_tree_head h, empty;
	struct dcr_err err;
	struct log l;
	uint8_t saved, junk[3] = { 0xff, 0xff, 0xff };
	ProtobufCBinaryData keep;

	(void)state;
	log_init(&l, "alice@acme.example");
	head_of(&l, N_ENTRIES, &h);
	assert_int_equal(dcr_audit_check_entries(l.items, N_ENTRIES, &h, &err), 0);

	/* One altered byte anywhere in any entry. */
	for (size_t i = 0; i < N_ENTRIES; i++) {
		for (size_t b = 0; b < l.items[i].len; b++) {
			saved = l.items[i].data[b];
			l.items[i].data[b] ^= 0x20;
			assert_int_equal(dcr_audit_check_entries(l.items, N_ENTRIES, &h, &err), DCR_EINTEGRITY);
			l.items[i].data[b] = saved;
		}
	}
	assert_int_equal(dcr_audit_check_entries(l.items, N_ENTRIES, &h, &err), 0);

	/* An entry missing, at the end or in the middle; two swapped. */
	assert_int_equal(dcr_audit_check_entries(l.items, N_ENTRIES - 1, &h, &err), DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "6 entries but its tree head says 7"));
	keep = l.items[3];
	l.items[3] = l.items[4];
	l.items[4] = keep;
	assert_int_equal(dcr_audit_check_entries(l.items, N_ENTRIES, &h, &err), DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "not the signed root"));
	l.items[4] = l.items[3];
	l.items[3] = keep;
	assert_int_equal(dcr_audit_check_entries(l.items, N_ENTRIES, &h, &err), 0);

	/* An entry that does not decode is named, even under a matching root. */
	keep = l.items[3];
	l.items[3] = (ProtobufCBinaryData){ sizeof(junk), junk };
	head_of(&l, N_ENTRIES, &h);
	assert_int_equal(dcr_audit_check_entries(l.items, N_ENTRIES, &h, &err), DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "entry 3: malformed"));
	/* So is one that decodes but is not in its canonical encoding (an unknown field 15 appended). */
	{
		uint8_t *more = malloc(keep.len + 3);

		assert_non_null(more);
		memcpy(more, keep.data, keep.len);
		memcpy(more + keep.len, "\x7a\x01\x00", 3);
		l.items[3] = (ProtobufCBinaryData){ keep.len + 3, more };
		head_of(&l, N_ENTRIES, &h);
		assert_int_equal(dcr_audit_check_entries(l.items, N_ENTRIES, &h, &err), DCR_EINTEGRITY);
		assert_non_null(strstr(err.msg, "entry 3 is not in its canonical encoding: an unknown field 15 in the AuditEntry"));
		free(more);
	}
	l.items[3] = keep;

	/* The empty log. */
	head_of(&l, 0, &empty);
	assert_int_equal(dcr_audit_check_entries(l.items, 0, &empty, &err), 0);
	assert_int_equal(dcr_audit_check_entries(l.items, 1, &empty, &err), DCR_EINTEGRITY);
	log_release(&l);
}

/* PROOF(old, D[new]) of l as the wire carries it. */
static size_t consistency(const struct log *l, uint64_t old_size, uint64_t new_size, struct dcr_merkle_proof *p,
	ProtobufCBinaryData out[static DCR_MERKLE_PROOF_MAX])
{
	assert_int_equal(dcr_merkle_consistency_proof(old_size, new_size, read_leaf, (void *)l, p, NULL), 0);
	for (size_t i = 0; i < p->len; i++)
		out[i] = (ProtobufCBinaryData){ 32, p->hash[i] };
	return p->len;
}

static void test_check_consistency(void **state)
{
	ProtobufCBinaryData wire[DCR_MERKLE_PROOF_MAX], long_proof[DCR_MERKLE_PROOF_MAX + 1];
	struct dcr_tree_head old_head, new_head, forked, other;
	struct dcr_merkle_proof p;
	char old_hex[65], new_hex[65];
	struct dcr_err err;
	struct log l, f;
	size_t n;

	(void)state;
	log_init(&l, "alice@acme.example");
	log_init(&f, "mallory@acme.example");

	/* Every extension is consistent, including no change at all. */
	for (size_t o = 1; o <= N_ENTRIES; o++) {
		for (size_t s = o; s <= N_ENTRIES; s++) {
			head_of(&l, o, &old_head);
			head_of(&l, s, &new_head);
			n = consistency(&l, o, s, &p, wire);
			assert_int_equal(dcr_audit_check_consistency(&old_head, &new_head, wire, n, &err), 0);
		}
	}

	/* Rollback: smaller than what was seen, named with both sizes and roots. */
	head_of(&l, 6, &old_head);
	head_of(&l, 4, &new_head);
	dcr_hex(old_head.root, 32, old_hex);
	dcr_hex(new_head.root, 32, new_hex);
	assert_int_equal(dcr_audit_check_consistency(&old_head, &new_head, NULL, 0, &err), DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "rollback"));
	assert_non_null(strstr(err.msg, ROOM));
	assert_non_null(strstr(err.msg, "size 6"));
	assert_non_null(strstr(err.msg, "size 4"));
	assert_non_null(strstr(err.msg, old_hex));
	assert_non_null(strstr(err.msg, new_hex));

	/* Fork: as long or longer, but not an extension. */
	head_of(&l, 3, &old_head);
	head_of(&f, 5, &forked);
	n = consistency(&f, 3, 5, &p, wire);
	assert_int_equal(dcr_audit_check_consistency(&old_head, &forked, wire, n, &err), DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "fork"));
	assert_non_null(strstr(err.msg, "size 3"));
	assert_non_null(strstr(err.msg, "size 5"));
	head_of(&f, 3, &forked);
	assert_int_equal(dcr_audit_check_consistency(&old_head, &forked, NULL, 0, &err), DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "fork"));

	/* A genuine extension with a damaged, short, long or malformed proof. */
	head_of(&l, 3, &old_head);
	head_of(&l, 7, &new_head);
	n = consistency(&l, 3, 7, &p, wire);
	assert_true(n > 1);
	p.hash[1][7] ^= 1;
	assert_int_equal(dcr_audit_check_consistency(&old_head, &new_head, wire, n, &err), DCR_EINTEGRITY);
	p.hash[1][7] ^= 1;
	assert_int_equal(dcr_audit_check_consistency(&old_head, &new_head, wire, n - 1, &err), DCR_EINTEGRITY);
	assert_int_equal(dcr_audit_check_consistency(&old_head, &new_head, NULL, 0, &err), DCR_EINTEGRITY);
	wire[0].len = 31;
	assert_int_equal(dcr_audit_check_consistency(&old_head, &new_head, wire, n, &err), DCR_EINTEGRITY);
	wire[0].len = 32;
	for (size_t i = 0; i < DCR_MERKLE_PROOF_MAX + 1; i++)
		long_proof[i] = wire[0];
	assert_int_equal(dcr_audit_check_consistency(&old_head, &new_head, long_proof, DCR_MERKLE_PROOF_MAX + 1, &err),
		DCR_EINTEGRITY);
	assert_int_equal(dcr_audit_check_consistency(&old_head, &new_head, wire, n, &err), 0);

	/* Another room's head never continues this room's. */
	other = new_head;
	snprintf(other.room_id, sizeof(other.room_id), "%s", OTHER_ROOM);
	assert_int_equal(dcr_audit_check_consistency(&old_head, &other, wire, n, &err), DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, OTHER_ROOM));

	log_release(&l);
	log_release(&f);
}

static void temp_dir(char *dir, size_t size)
{
	snprintf(dir, size, "%s/dcr-audit-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(dir));
}

static void test_load_save(void **state)
{
	char dir[256], path[1024], heads[512];
	struct dcr_tree_head h, back;
	struct dcr_err err;
	struct stat st;
	struct log l;
	bool found = true;
	FILE *fp;

	(void)state;
	log_init(&l, "alice@acme.example");
	temp_dir(dir, sizeof(dir));
	assert_int_equal(setenv("XDG_STATE_HOME", dir, 1), 0);
	snprintf(heads, sizeof(heads), "%s/dcr/heads", dir);
	snprintf(path, sizeof(path), "%s/%s", heads, ROOM);

	/* Never seen: not an error, and nothing is created. */
	assert_int_equal(dcr_audit_load_head(ROOM, NULL, &back, &found, &err), 0);
	assert_false(found);
	assert_int_not_equal(stat(heads, &st), 0);

	head_of(&l, 3, &h);
	assert_int_equal(dcr_audit_save_head(&h, NULL, &err), 0);
	assert_int_equal(stat(heads, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(dcr_audit_load_head(ROOM, NULL, &back, &found, &err), 0);
	assert_true(found);
	assert_string_equal(back.room_id, ROOM);
	assert_int_equal(back.size, 3);
	assert_memory_equal(back.root, h.root, 32);
	assert_int_equal(back.time_ms, h.time_ms);

	/* A newer head replaces it; other rooms are apart. */
	head_of(&l, N_ENTRIES, &h);
	assert_int_equal(dcr_audit_save_head(&h, NULL, &err), 0);
	assert_int_equal(dcr_audit_load_head(ROOM, NULL, &back, &found, &err), 0);
	assert_int_equal(back.size, N_ENTRIES);
	assert_memory_equal(back.root, h.root, 32);
	assert_int_equal(dcr_audit_load_head(OTHER_ROOM, NULL, &back, &found, &err), 0);
	assert_false(found);

	/* A damaged file is not taken for "never seen". */
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("7 not-hex 0\n", fp);
	fclose(fp);
	assert_int_equal(dcr_audit_load_head(ROOM, NULL, &back, &found, &err), DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "damaged"));
	assert_false(found);
	unlink(path);

	/* Without an absolute XDG_STATE_HOME: ~/.local/state. */
	assert_int_equal(setenv("XDG_STATE_HOME", "relative", 1), 0);
	assert_int_equal(setenv("HOME", dir, 1), 0);
	snprintf(path, sizeof(path), "%s/.local", dir);
	assert_int_equal(mkdir(path, 0700), 0); /* save_head creates only state/dcr/heads below it */
	assert_int_equal(dcr_audit_save_head(&h, NULL, &err), 0);
	snprintf(path, sizeof(path), "%s/.local/state/dcr/heads/%s", dir, ROOM);
	assert_int_equal(stat(path, &st), 0);
	unlink(path);
	snprintf(path, sizeof(path), "%s/.local/state/dcr/heads", dir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/.local/state/dcr", dir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/.local/state", dir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/.local", dir);
	rmdir(path);
	assert_int_equal(unsetenv("XDG_STATE_HOME"), 0);
	assert_int_equal(unsetenv("HOME"), 0);
	assert_int_equal(dcr_audit_save_head(&h, NULL, &err), DCR_EFAIL);
	assert_int_equal(dcr_audit_load_head(ROOM, NULL, &back, &found, &err), DCR_EFAIL);

	rmdir(heads);
	snprintf(path, sizeof(path), "%s/dcr", dir);
	rmdir(path);
	assert_int_equal(rmdir(dir), 0);
	log_release(&l);
}

/* The tree head file dcr-formats(5) shows is what dcr reads and writes. */
static void test_documented_head_file(void **state)
{
	char *line = page_lines("dcr-formats.5", "tree head file"), dir[256], path[1024], root_hex[65];
	struct dcr_tree_head h;
	struct dcr_err err;
	bool found = false;
	uint8_t *written;
	size_t len;
	FILE *fp;

	(void)state;
	temp_dir(dir, sizeof(dir));
	assert_int_equal(setenv("XDG_STATE_HOME", dir, 1), 0);
	snprintf(path, sizeof(path), "%s/dcr", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/dcr/heads", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/dcr/heads/%s", dir, ROOM);
	assert_non_null(fp = fopen(path, "w"));
	fputs(line, fp);
	fclose(fp);

	/* The page: "For a log of 12 entries", one line ending in a line feed. */
	assert_int_equal(dcr_audit_load_head(ROOM, NULL, &h, &found, &err), 0);
	assert_true(found);
	assert_string_equal(h.room_id, ROOM);
	assert_int_equal(h.size, 12);
	dcr_hex(h.root, 32, root_hex);
	assert_non_null(strstr(line, root_hex));
	assert_true(h.time_ms > 1700000000000);
	assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1);

	/* dcr writes exactly those bytes for that head. */
	unlink(path);
	assert_int_equal(dcr_audit_save_head(&h, NULL, &err), 0);
	assert_int_equal(dcr_read_file(path, 1024, &written, &len, &err), 0);
	assert_int_equal(len, strlen(line));
	assert_memory_equal(written, line, len);

	free(written);
	free(line);
	unlink(path);
	snprintf(path, sizeof(path), "%s/dcr/heads", dir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/dcr", dir);
	rmdir(path);
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(unsetenv("XDG_STATE_HOME"), 0);
}

/* Room IDs name files: nothing but 64 lowercase hex digits may. */
static void test_room_ids(void **state)
{
	static const char *const bad[] = {
		"",
		"5dd95eaf",
		"5DD95EAF75EEB191B6E841044AEA0CCA8EC2A8FE314D9F2DCDDAAC11035B7A6F",
		"../../../../../../../../../../../../../../../../../../../etc/passwd",
		"5dd95eaf75eeb191b6e841044aea0cca8ec2a8fe314d9f2dcddaac11035b7a6f0",
		"5dd95eaf75eeb191b6e841044aea0cca8ec2a8fe314d9f2dcddaac11035b7a6g",
		"5dd95eaf75eeb191b6e841044aea0cca8ec2a8fe314d9f2dcddaac11035b7a/f",
	};
	char dir[256];
	struct dcr_tree_head h = { 0 }, back;
	struct dcr_err err;
	bool found = true;

	(void)state;
	temp_dir(dir, sizeof(dir));
	assert_int_equal(setenv("XDG_STATE_HOME", dir, 1), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		assert_int_equal(dcr_audit_load_head(bad[i], NULL, &back, &found, &err), DCR_EINVALID);
		assert_false(found);
		assert_non_null(strstr(err.msg, "is not a room ID"));
		assert_int_equal(dcr_audit_load_head(ROOM, bad[i], &back, &found, &err), DCR_EINVALID);
		assert_false(found);
		assert_non_null(strstr(err.msg, "is not an identity ID"));
		if (strlen(bad[i]) >= sizeof(h.room_id))
			continue; /* a struct dcr_tree_head cannot hold it */
		snprintf(h.room_id, sizeof(h.room_id), "%s", bad[i]);
		assert_int_equal(dcr_audit_save_head(&h, NULL, &err), DCR_EINVALID);
		snprintf(h.room_id, sizeof(h.room_id), "%s", ROOM);
		assert_int_equal(dcr_audit_save_head(&h, bad[i], &err), DCR_EINVALID);
	}
	/* Nothing was written for any of them. */
	assert_int_equal(rmdir(dir), 0);
}

/* Heads per identity beside the machine's: who saw a room, and what a call is checked against. */
static void test_recall(void **state)
{
	static const char alice[] = "aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11";
	static const char bob[] = "bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22";
	char dir[256], path[1024];
	struct dcr_room_memory m;
	struct dcr_tree_head h3, h5;
	struct dcr_err err;
	struct log l;
	struct stat st;

	(void)state;
	log_init(&l, "alice@acme.example");
	head_of(&l, 3, &h3);
	head_of(&l, 5, &h5);
	temp_dir(dir, sizeof(dir));
	assert_int_equal(setenv("XDG_STATE_HOME", dir, 1), 0);

	/* Nothing kept. */
	assert_int_equal(dcr_audit_recall(ROOM, alice, &m, &err), 0);
	assert_false(m.known);
	assert_false(m.seen);

	/* A legacy head (no per-identity folder): known, and seen by everyone. */
	assert_int_equal(dcr_audit_save_head(&h3, NULL, &err), 0);
	assert_int_equal(dcr_audit_recall(ROOM, bob, &m, &err), 0);
	assert_true(m.known && m.seen);
	assert_int_equal(m.head.size, 3);

	/* Alice is answered: her head and the machine's; bob still knows the head but never saw the room. */
	assert_int_equal(dcr_audit_remember(&h5, alice, &err), 0);
	snprintf(path, sizeof(path), "%s/dcr/heads/%s.ids", dir, ROOM);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	snprintf(path, sizeof(path), "%s/dcr/heads/%s.ids/%s", dir, ROOM, alice);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(dcr_audit_recall(ROOM, alice, &m, &err), 0);
	assert_true(m.known && m.seen);
	assert_int_equal(m.head.size, 5);
	assert_memory_equal(m.head.root, h5.root, 32);
	assert_int_equal(dcr_audit_recall(ROOM, bob, &m, &err), 0);
	assert_true(m.known);
	assert_false(m.seen);
	assert_int_equal(m.head.size, 5);

	/* Bob is answered at an older size (a machine head lagging): each check takes the newer head. */
	assert_int_equal(dcr_audit_remember(&h3, bob, &err), 0);
	assert_int_equal(dcr_audit_recall(ROOM, alice, &m, &err), 0);
	assert_int_equal(m.head.size, 5);
	assert_int_equal(dcr_audit_recall(ROOM, bob, &m, &err), 0);
	assert_true(m.seen);
	assert_int_equal(m.head.size, 3);

	/* The machine's head removed: an identity's own still counts. */
	snprintf(path, sizeof(path), "%s/dcr/heads/%s", dir, ROOM);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(dcr_audit_recall(ROOM, alice, &m, &err), 0);
	assert_true(m.known && m.seen);
	assert_int_equal(m.head.size, 5);

	/* A damaged per-identity head is not "never seen". */
	snprintf(path, sizeof(path), "%s/dcr/heads/%s.ids/%s", dir, ROOM, bob);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("garbage\n", fp);
	fclose(fp);
	assert_int_equal(dcr_audit_recall(ROOM, bob, &m, &err), DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "damaged"));

	unlink(path);
	snprintf(path, sizeof(path), "%s/dcr/heads/%s.ids/%s", dir, ROOM, alice);
	unlink(path);
	snprintf(path, sizeof(path), "%s/dcr/heads/%s.ids", dir, ROOM);
	assert_int_equal(rmdir(path), 0);
	snprintf(path, sizeof(path), "%s/dcr/heads", dir);
	assert_int_equal(rmdir(path), 0);
	snprintf(path, sizeof(path), "%s/dcr", dir);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(unsetenv("XDG_STATE_HOME"), 0);
	log_release(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_verify),
		cmocka_unit_test(test_check_entries),
		cmocka_unit_test(test_check_consistency),
		cmocka_unit_test(test_load_save),
		cmocka_unit_test(test_room_ids),
		cmocka_unit_test(test_recall),
		cmocka_unit_test(test_documented_head_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
