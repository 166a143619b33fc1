/* Audit log heads: signing, verification, and the client's memory of what it has seen. */
#ifndef DCR_AUDIT_H
#define DCR_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attest.h"
#include "audit.pb-c.h"
#include "err.h"
#include "specs.h"

struct dcr_tree_head {
	char room_id[65];
	uint64_t size;
	uint8_t root[32];
	int64_t time_ms;
};

/* Sign h with the enclave's Ed25519 key into sth, whose head bytes are malloc'd (free sth->head.data). */
int dcr_audit_sign_head(const uint8_t sign_sk[static 32], const struct dcr_tree_head *h,
	Dcr__V1__SignedTreeHead *sth, uint8_t sig[static 64], struct dcr_err *err);

/*
 * Verify sth with the enclave's key and decode it; DCR_EINTEGRITY if the
 * signature is bad or the signed bytes are not a TreeHead in its
 * canonical encoding (lib/proto.h).
 */
int dcr_audit_verify_head(const uint8_t sign_pk[static 32], const Dcr__V1__SignedTreeHead *sth,
	struct dcr_tree_head *out, struct dcr_err *err);

/*
 * Recompute the root of entries (serialized AuditEntry, leaf order) and
 * compare it with h: DCR_EINTEGRITY naming the first entry that is not an
 * AuditEntry in its canonical encoding, or the mismatch.
 */
int dcr_audit_check_entries(const ProtobufCBinaryData *entries, size_t n, const struct dcr_tree_head *h,
	struct dcr_err *err);

/*
 * Decode n serialized entries, each only in its canonical encoding:
 * DCR_EINTEGRITY "entry I: ..." for the first that is not. *out is an
 * array of n, free it with dcr_audit_entries_free (which accepts NULL).
 */
int dcr_audit_entries_decode(const ProtobufCBinaryData *raw, size_t n, Dcr__V1__AuditEntry ***out,
	struct dcr_err *err);
void dcr_audit_entries_free(Dcr__V1__AuditEntry **entries, size_t n);

/*
 * The evidence an export carries (or dcrd serves for one): exactly as
 * dcrd encodes it (dcr_attest_evidence_canonical; DCR_EINTEGRITY
 * otherwise), verified against specs (DCR_EATTEST), with a key
 * configuration for the attested HPKE key (DCR_EATTEST). *res as from
 * dcr_attest_verify; nothing to release on failure.
 */
int dcr_audit_check_evidence(const uint8_t *evidence, size_t len, const struct dcr_specs *specs,
	struct dcr_attest_result *res, struct dcr_err *err);

/* The AuditExport version this dcr writes and reads. */
#define DCR_AUDIT_EXPORT_VERSION 1

/* An audit export that verified: its signed head, its entries decoded, and what its evidence proved. */
struct dcr_audit_export {
	struct dcr_tree_head head;
	Dcr__V1__AuditEntry **entries; /* leaf order */
	size_t n;
	struct dcr_attest_result enclave;
};

/*
 * Verify an export (an AuditExport message, dcr-audit(1)) offline against
 * specs, in this order: the export, and the SignedTreeHead and
 * InclusionProof messages in it, are in their canonical encodings (a
 * file that does not decode is not an intact export either:
 * DCR_EINTEGRITY); the version is 1 (DCR_EINVALID); the evidence passes
 * dcr_audit_check_evidence; the head is signed by the key it binds, for
 * the room the export names; every entry's inclusion proof leads to the
 * signed root; there are as many entries as the signed size; each entry
 * is an AuditEntry in its canonical encoding. The first failure is
 * returned with a message naming the check. On success *out holds the
 * result; release it with dcr_audit_export_release (also after a failure,
 * which leaves nothing to release).
 */
int dcr_audit_export_verify(const uint8_t *buf, size_t len, const struct dcr_specs *specs,
	struct dcr_audit_export *out, struct dcr_err *err);
void dcr_audit_export_release(struct dcr_audit_export *ex);

/*
 * new_head must extend old_head: same room, not smaller, and the proof
 * (hashes, n) shows consistency. A rollback or fork is DCR_EINTEGRITY naming
 * both sizes and roots.
 */
int dcr_audit_check_consistency(const struct dcr_tree_head *old_head, const struct dcr_tree_head *new_head,
	const ProtobufCBinaryData *proof, size_t n, struct dcr_err *err);

/*
 * The tree heads this client accepted, kept in $XDG_STATE_HOME/dcr/heads/
 * (default ~/.local/state/dcr/heads/; see dcr-formats(5)): with who NULL,
 * the machine's head of room_id, the newest any identity here accepted;
 * else the newest the identity who (dcr_identity_id, 64 hex digits)
 * accepted. *found is false for a room never seen. A damaged file is
 * DCR_EINTEGRITY.
 */
int dcr_audit_load_head(const char *room_id, const char *who, struct dcr_tree_head *out, bool *found,
	struct dcr_err *err);
int dcr_audit_save_head(const struct dcr_tree_head *h, const char *who, struct dcr_err *err);

/*
 * What a call about a room is checked against. head (if known) is the
 * newer of the machine's head and the identity's: rollback and fork checks
 * run against it whoever asks, so one identity's view must extend what
 * another accepted. seen: the identity who was answered about the room
 * with its log before, or the machine's head was kept by a dcr that had no
 * per-identity heads (a legacy head counts as seen by every identity until
 * some identity is answered with the room's log).
 */
struct dcr_room_memory {
	struct dcr_tree_head head;
	bool known;
	bool seen;
};

int dcr_audit_recall(const char *room_id, const char *who, struct dcr_room_memory *out, struct dcr_err *err);

/* Store h as the identity who's head (if who) and the machine's. */
int dcr_audit_remember(const struct dcr_tree_head *h, const char *who, struct dcr_err *err);

#endif
