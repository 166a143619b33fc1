/* Audit log heads: signing, verification, and the client's memory of what it has seen. */
#include "audit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto.h"
#include "fileio.h"
#include "merkle.h"
#include "ohttp.h"
#include "proto.h"

#include "banned.h"

#define HEAD_DOMAIN "dcr-tree-head-v1"
#define HEAD_FILE_MAX 1024 /* a tree head file: one short line */

/* The message in err stays; its class becomes an integrity violation. */
static int as_integrity(struct dcr_err *err)
{
	if (err)
		err->code = DCR_EINTEGRITY;
	return DCR_EINTEGRITY;
}

int dcr_audit_sign_head(const uint8_t sign_sk[static 32], const struct dcr_tree_head *h,
	Dcr__V1__SignedTreeHead *sth, uint8_t sig[static 64], struct dcr_err *err)
{
	Dcr__V1__TreeHead th = DCR__V1__TREE_HEAD__INIT;
	uint8_t *buf, *msg;
	size_t len, msg_len = 0;
	int r;

	th.room_id = (char *)h->room_id;
	th.size = h->size;
	th.root = (ProtobufCBinaryData){ 32, (uint8_t *)h->root };
	th.time_ms = h->time_ms;
	len = dcr__v1__tree_head__get_packed_size(&th);
	if (!(buf = malloc(len)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	dcr__v1__tree_head__pack(&th, buf);
	if (!(msg = dcr_domain_message(HEAD_DOMAIN, buf, len, &msg_len))) {
		free(buf);
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	}
	r = dcr_ed25519_sign(sign_sk, msg, msg_len, sig, err);
	free(msg);
	if (r < 0) {
		free(buf);
		return r;
	}
	dcr__v1__signed_tree_head__init(sth);
	sth->head = (ProtobufCBinaryData){ len, buf };
	sth->signature = (ProtobufCBinaryData){ 64, sig };
	return 0;
}

int dcr_audit_verify_head(const uint8_t sign_pk[static 32], const Dcr__V1__SignedTreeHead *sth,
	struct dcr_tree_head *out, struct dcr_err *err)
{
	Dcr__V1__TreeHead *th;
	uint8_t *msg;
	size_t msg_len = 0;
	int r;

	if (!sth || sth->signature.len != 64)
		return dcr_err_set(err, DCR_EINTEGRITY, "the tree head is missing or unsigned");
	if (!(msg = dcr_domain_message(HEAD_DOMAIN, sth->head.data, sth->head.len, &msg_len)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	r = dcr_ed25519_verify(sign_pk, msg, msg_len, sth->signature.data, err);
	free(msg);
	if (r < 0)
		return dcr_err_set(err, DCR_EINTEGRITY, "the tree head's signature is not the attested enclave's");
	if ((r = dcr_proto_unpack_canonical(&dcr__v1__tree_head__descriptor, sth->head.data, sth->head.len,
		     "the head", (ProtobufCMessage **)&th, err)) < 0) {
		if (r == DCR_ENOMEM)
			return r;
		dcr_err_prefix(err, "the tree head is malformed");
		return as_integrity(err);
	}
	if (th->root.len != 32 || strlen(th->room_id) != 64) {
		dcr__v1__tree_head__free_unpacked(th, NULL);
		return dcr_err_set(err, DCR_EINTEGRITY, "the tree head is malformed");
	}
	memcpy(out->room_id, th->room_id, 65);
	out->size = th->size;
	memcpy(out->root, th->root.data, 32);
	out->time_ms = th->time_ms;
	dcr__v1__tree_head__free_unpacked(th, NULL);
	return 0;
}

struct entries {
	const ProtobufCBinaryData *items;
	size_t n;
};

static int entry_leaf(void *ctx, uint64_t index, uint8_t out[static 32])
{
	const struct entries *e = ctx;

	if (index >= e->n)
		return DCR_EINVALID;
	return dcr_merkle_leaf_hash(e->items[index].data, e->items[index].len, out, NULL);
}

/* Entry index, decoded into *out (NULL: only checked), in its canonical encoding or DCR_EINTEGRITY "entry I: ...". */
static int check_entry(const ProtobufCBinaryData *raw, size_t index, Dcr__V1__AuditEntry **out, struct dcr_err *err)
{
	Dcr__V1__AuditEntry *e = NULL;
	char what[40];
	int r;

	snprintf(what, sizeof(what), "entry %zu", index);
	r = dcr_proto_unpack_canonical(&dcr__v1__audit_entry__descriptor, raw->data, raw->len, what,
		(ProtobufCMessage **)&e, err);
	if (r == DCR_EINVALID)
		return dcr_err_set(err, DCR_EINTEGRITY, "entry %zu: malformed", index);
	if (r < 0)
		return r;
	if (out)
		*out = e;
	else
		dcr__v1__audit_entry__free_unpacked(e, NULL);
	return 0;
}

int dcr_audit_entries_decode(const ProtobufCBinaryData *raw, size_t n, Dcr__V1__AuditEntry ***out,
	struct dcr_err *err)
{
	Dcr__V1__AuditEntry **e = calloc(n ? n : 1, sizeof(*e));
	int r = 0;

	*out = NULL;
	if (!e)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	for (size_t i = 0; r == 0 && i < n; i++)
		r = check_entry(&raw[i], i, &e[i], err);
	if (r < 0) {
		dcr_audit_entries_free(e, n);
		return r;
	}
	*out = e;
	return 0;
}

void dcr_audit_entries_free(Dcr__V1__AuditEntry **entries, size_t n)
{
	for (size_t i = 0; entries && i < n; i++)
		dcr__v1__audit_entry__free_unpacked(entries[i], NULL);
	free(entries);
}

int dcr_audit_check_entries(const ProtobufCBinaryData *entries, size_t n, const struct dcr_tree_head *h,
	struct dcr_err *err)
{
	struct entries e = { entries, n };
	uint8_t root[32];
	char want[65], got[65];
	int r;

	if (n != h->size)
		return dcr_err_set(err, DCR_EINTEGRITY, "the log has %zu entries but its tree head says %" PRIu64, n,
			h->size);
	for (size_t i = 0; i < n; i++)
		if ((r = check_entry(&entries[i], i, NULL, err)) < 0)
			return r;
	if ((r = dcr_merkle_root(n, entry_leaf, &e, root, err)) < 0)
		return r;
	if (!dcr_ct_equal(root, h->root, 32)) {
		dcr_hex(h->root, 32, want);
		dcr_hex(root, 32, got);
		return dcr_err_set(err, DCR_EINTEGRITY, "the entries hash to root %s, not the signed root %s", got, want);
	}
	return 0;
}

int dcr_audit_check_consistency(const struct dcr_tree_head *old_head, const struct dcr_tree_head *new_head,
	const ProtobufCBinaryData *proof, size_t n, struct dcr_err *err)
{
	struct dcr_merkle_proof p = { 0 };
	char old_hex[65], new_hex[65];
	struct dcr_err why;

	dcr_hex(old_head->root, 32, old_hex);
	dcr_hex(new_head->root, 32, new_hex);
	if (strcmp(old_head->room_id, new_head->room_id) != 0)
		return dcr_err_set(err, DCR_EINTEGRITY, "a tree head for room %s came with room %s", new_head->room_id,
			old_head->room_id);
	if (new_head->size < old_head->size)
		return dcr_err_set(err, DCR_EINTEGRITY,
			"rollback of room %s: its log shrank from size %" PRIu64 " (root %s) to size %" PRIu64
			" (root %s); the host restored older state", old_head->room_id, old_head->size, old_hex,
			new_head->size, new_hex);
	if (n > DCR_MERKLE_PROOF_MAX)
		return dcr_err_set(err, DCR_EINTEGRITY, "consistency proof too long");
	for (size_t i = 0; i < n; i++) {
		if (proof[i].len != 32)
			return dcr_err_set(err, DCR_EINTEGRITY, "malformed consistency proof");
		memcpy(p.hash[i], proof[i].data, 32);
	}
	p.len = n;
	if (dcr_merkle_consistency_verify(old_head->size, new_head->size, old_head->root, new_head->root, &p, &why) < 0)
		return dcr_err_set(err, DCR_EINTEGRITY,
			"fork of room %s: the log at size %" PRIu64 " (root %s) does not extend the one this client saw "
			"at size %" PRIu64 " (root %s): %s", old_head->room_id, new_head->size, new_hex, old_head->size,
			old_hex, why.msg);
	return 0;
}

/* ---- exports ---- */

int dcr_audit_check_evidence(const uint8_t *evidence, size_t len, const struct dcr_specs *specs,
	struct dcr_attest_result *res, struct dcr_err *err)
{
	struct dcr_ohttp_keyconfig cfg;
	struct dcr_ohttp_alg alg;
	struct dcr_err why;
	int r;

	memset(res, 0, sizeof(*res));
	if ((r = dcr_attest_evidence_canonical(evidence, len, err)) < 0)
		return r == DCR_EINVALID ? as_integrity(err) : r;
	if ((r = dcr_attest_verify(evidence, len, specs, NULL, res, err)) < 0)
		return r;
	if (dcr_ohttp_keyconfig_parse(res->keys.ohttp_key_config, res->keys.ohttp_key_config_len, &cfg, &why) < 0 ||
	    dcr_ohttp_keyconfig_select(&cfg, &alg, &why) < 0 || !dcr_ct_equal(cfg.pk, res->keys.hpke_pk, 32)) {
		dcr_attest_result_release(res);
		return dcr_err_set(err, DCR_EATTEST, "the evidence's key configuration is not for its attested key");
	}
	return 0;
}

/* The proof as the merkle module takes it; DCR_EINTEGRITY if it is not 32-byte hashes. */
static int proof_of(const ProtobufCBinaryData *hashes, size_t n, struct dcr_merkle_proof *p)
{
	if (n > DCR_MERKLE_PROOF_MAX)
		return DCR_EINTEGRITY;
	for (size_t i = 0; i < n; i++) {
		if (hashes[i].len != 32)
			return DCR_EINTEGRITY;
		memcpy(p->hash[i], hashes[i].data, 32);
	}
	p->len = n;
	return 0;
}

/* Every entry in the signed log, by its inclusion proof, and as many as the signed size. */
static int check_proofs(const Dcr__V1__AuditExport *ex, const struct dcr_tree_head *head, struct dcr_err *err)
{
	struct dcr_merkle_proof proof;
	uint8_t leaf[32];
	int r;

	if (ex->n_proofs != ex->n_entries)
		return dcr_err_set(err, DCR_EINTEGRITY, "the export holds %zu entries but %zu proofs", ex->n_entries,
			ex->n_proofs);
	for (size_t i = 0; i < ex->n_entries; i++) {
		if (i >= head->size)
			return dcr_err_set(err, DCR_EINTEGRITY, "entry %zu: beyond the signed log of %" PRIu64 " entries", i,
				head->size);
		if (!ex->proofs[i] || proof_of(ex->proofs[i]->hashes, ex->proofs[i]->n_hashes, &proof) < 0)
			return dcr_err_set(err, DCR_EINTEGRITY, "entry %zu: malformed inclusion proof", i);
		if ((r = dcr_merkle_leaf_hash(ex->entries[i].data, ex->entries[i].len, leaf, err)) < 0)
			return r;
		if (dcr_merkle_inclusion_verify(i, head->size, leaf, &proof, head->root, NULL) < 0)
			return dcr_err_set(err, DCR_EINTEGRITY, "entry %zu: not in the signed log", i);
	}
	if (ex->n_entries != head->size)
		return dcr_err_set(err, DCR_EINTEGRITY, "the export holds %zu entries but the signed log has %" PRIu64,
			ex->n_entries, head->size);
	return 0;
}

int dcr_audit_export_verify(const uint8_t *buf, size_t len, const struct dcr_specs *specs,
	struct dcr_audit_export *out, struct dcr_err *err)
{
	Dcr__V1__AuditExport *ex = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	/* Nothing signs the export's own framing: only its one encoding may pass. */
	r = dcr_proto_unpack_canonical(&dcr__v1__audit_export__descriptor, buf, len, "the export",
		(ProtobufCMessage **)&ex, err);
	if (r == DCR_EINVALID)
		r = dcr_err_set(err, DCR_EINTEGRITY, "not an intact audit export: it does not decode");
	if (r < 0)
		return r;
	/* Every export has a version: one without is not an export of another version but a damaged one. */
	if (ex->version == 0)
		r = dcr_err_set(err, DCR_EINTEGRITY, "the export has no version");
	else if (ex->version != DCR_AUDIT_EXPORT_VERSION)
		r = dcr_err_set(err, DCR_EINVALID, "export version %" PRIu32 "; this dcr reads version %d", ex->version,
			DCR_AUDIT_EXPORT_VERSION);
	else if (!ex->head)
		r = dcr_err_set(err, DCR_EINTEGRITY, "the export has no signed tree head");
	else if ((r = dcr_audit_check_evidence(ex->evidence.data, ex->evidence.len, specs, &out->enclave, err)) < 0)
		dcr_err_prefix(err, "the export's evidence");
	else if ((r = dcr_audit_verify_head(out->enclave.keys.sign_pk, ex->head, &out->head, err)) == 0 &&
		 strcmp(out->head.room_id, ex->room_id) != 0)
		r = dcr_err_set(err, DCR_EINTEGRITY, "the export names another room than its signed head, room %s",
			out->head.room_id);
	if (r == 0 && (r = check_proofs(ex, &out->head, err)) == 0 &&
	    (r = dcr_audit_entries_decode(ex->entries, ex->n_entries, &out->entries, err)) == 0)
		out->n = ex->n_entries;
	dcr__v1__audit_export__free_unpacked(ex, NULL);
	if (r < 0)
		dcr_audit_export_release(out);
	return r;
}

void dcr_audit_export_release(struct dcr_audit_export *ex)
{
	if (!ex)
		return;
	dcr_attest_result_release(&ex->enclave);
	dcr_audit_entries_free(ex->entries, ex->n);
	memset(ex, 0, sizeof(*ex));
}

/* Room IDs name files here: only 64 lowercase hex digits may. */
static int check_id(const char *id, const char *what, struct dcr_err *err)
{
	if (strlen(id) != 64 || strspn(id, "0123456789abcdef") != 64)
		return dcr_err_set(err, DCR_EINVALID, "'%.70s' is not %s", id, what);
	return 0;
}

static int check_room_id(const char *id, struct dcr_err *err)
{
	return check_id(id, "a room ID", err);
}

static int heads_dir(char *buf, size_t size, bool create, struct dcr_err *err)
{
	return dcr_state_dir("heads", create, buf, size, err);
}

/* Identity IDs name files here too: 64 lowercase hex digits, as room IDs. */
static int head_path(char *buf, size_t size, const char *dir, const char *room_id, const char *who,
	struct dcr_err *err)
{
	int r;

	if ((r = check_room_id(room_id, err)) < 0 || (who && (r = check_id(who, "an identity ID", err)) < 0))
		return r;
	if (who)
		snprintf(buf, size, "%s/%s.ids/%s", dir, room_id, who);
	else
		snprintf(buf, size, "%s/%s", dir, room_id);
	return 0;
}

int dcr_audit_load_head(const char *room_id, const char *who, struct dcr_tree_head *out, bool *found,
	struct dcr_err *err)
{
	char dir[4096], path[4300], root_hex[65];
	unsigned long long size;
	long long time_ms;
	uint8_t *buf = NULL;
	struct stat st;
	size_t len;
	int r;

	*found = false;
	if ((r = heads_dir(dir, sizeof(dir), false, err)) < 0 ||
	    (r = head_path(path, sizeof(path), dir, room_id, who, err)) < 0)
		return r;
	/* What dcr never writes there (a directory, a FIFO, a file of more than one line's length) is damage too. */
	if (stat(path, &st) == 0 && (!S_ISREG(st.st_mode) || st.st_size > HEAD_FILE_MAX))
		return dcr_err_set(err, DCR_EINTEGRITY, "'%s' is damaged (%s); remove it only if you trust the service",
			path, S_ISREG(st.st_mode) ? "larger than 1024 bytes" : "not a regular file");
	r = dcr_read_file(path, HEAD_FILE_MAX, &buf, &len, err);
	if (r == DCR_ENOTFOUND)
		return 0;
	if (r < 0)
		return r;
	if (sscanf((const char *)buf, "%llu %64s %lld", &size, root_hex, &time_ms) != 3 ||
	    dcr_unhex(root_hex, out->root, 32) < 0) {
		free(buf);
		return dcr_err_set(err, DCR_EINTEGRITY, "'%s' is damaged; remove it only if you trust the service", path);
	}
	free(buf);
	snprintf(out->room_id, sizeof(out->room_id), "%s", room_id);
	out->size = size;
	out->time_ms = time_ms;
	*found = true;
	return 0;
}

int dcr_audit_save_head(const struct dcr_tree_head *h, const char *who, struct dcr_err *err)
{
	char dir[4096], path[4300], root_hex[65], line[128];
	int r, n;

	/* The IDs checked before anything is created. */
	if ((r = head_path(path, sizeof(path), "", h->room_id, who, err)) < 0 ||
	    (r = heads_dir(dir, sizeof(dir), true, err)) < 0 ||
	    (r = head_path(path, sizeof(path), dir, h->room_id, who, err)) < 0)
		return r;
	if (who) {
		/* The room's folder of per-identity heads; its presence also ends a head's legacy state. */
		char ids[4200];

		snprintf(ids, sizeof(ids), "%s/%s.ids", dir, h->room_id);
		if (mkdir(ids, 0700) < 0 && errno != EEXIST)
			return dcr_err_errno(err, DCR_EIO, errno, "cannot create '%s'", ids);
	}
	dcr_hex(h->root, 32, root_hex);
	n = snprintf(line, sizeof(line), "%" PRIu64 " %s %" PRId64 "\n", h->size, root_hex, h->time_ms);
	return dcr_write_atomic(path, line, (size_t)n, err);
}

int dcr_audit_recall(const char *room_id, const char *who, struct dcr_room_memory *out, struct dcr_err *err)
{
	struct dcr_tree_head mine = { 0 };
	bool machine = false, own = false;
	char dir[4096], ids[4200];
	struct stat st;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = dcr_audit_load_head(room_id, NULL, &out->head, &machine, err)) < 0 ||
	    (who && (r = dcr_audit_load_head(room_id, who, &mine, &own, err)) < 0))
		return r;
	/*
	 * Normally the machine's head extends every identity's (each was
	 * accepted against it); a removed or lagging one does not.
	 */
	if (own && (!machine || mine.size > out->head.size))
		out->head = mine;
	out->known = machine || own;
	out->seen = own;
	if (machine && !own) {
		/*
		 * A head kept by a dcr older than per-identity heads: seen by every
		 * identity until one is answered with the room's log.
		 */
		if ((r = heads_dir(dir, sizeof(dir), false, err)) < 0)
			return r;
		snprintf(ids, sizeof(ids), "%s/%s.ids", dir, room_id);
		if (lstat(ids, &st) < 0) {
			if (errno != ENOENT)
				return dcr_err_errno(err, DCR_EIO, errno, "cannot read '%s'", ids);
			out->seen = true;
		}
	}
	return 0;
}

int dcr_audit_remember(const struct dcr_tree_head *h, const char *who, struct dcr_err *err)
{
	int r;

	/* The identity's first: if the second write fails, recall takes the newer of the two. */
	if (who && (r = dcr_audit_save_head(h, who, err)) < 0)
		return r;
	return dcr_audit_save_head(h, NULL, err);
}
