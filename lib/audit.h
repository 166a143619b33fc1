/* Audit log heads: signing, verification, and the client's memory of what it has seen. */
#ifndef DCR_AUDIT_H
#define DCR_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit.pb-c.h"
#include "err.h"

struct dcr_tree_head {
	char room_id[65];
	uint64_t size;
	uint8_t root[32];
	int64_t time_ms;
};

/* Sign h with the enclave's Ed25519 key into sth, whose head bytes are malloc'd (free sth->head.data). */
int dcr_audit_sign_head(const uint8_t sign_sk[static 32], const struct dcr_tree_head *h,
	Dcr__V1__SignedTreeHead *sth, uint8_t sig[static 64], struct dcr_err *err);

/* Verify sth with the enclave's key and decode it; DCR_EINTEGRITY if the signature or encoding is bad. */
int dcr_audit_verify_head(const uint8_t sign_pk[static 32], const Dcr__V1__SignedTreeHead *sth,
	struct dcr_tree_head *out, struct dcr_err *err);

/*
 * Recompute the root of entries (serialized AuditEntry, leaf order) and
 * compare it with h: DCR_EINTEGRITY naming the first entry that does not
 * decode, or the mismatch.
 */
int dcr_audit_check_entries(const ProtobufCBinaryData *entries, size_t n, const struct dcr_tree_head *h,
	struct dcr_err *err);

/*
 * new_head must extend old_head: same room, not smaller, and the proof
 * (hashes, n) shows consistency. A rollback or fork is DCR_EINTEGRITY naming
 * both sizes and roots.
 */
int dcr_audit_check_consistency(const struct dcr_tree_head *old_head, const struct dcr_tree_head *new_head,
	const ProtobufCBinaryData *proof, size_t n, struct dcr_err *err);

/*
 * The last head this client accepted for room_id, kept in
 * $XDG_STATE_HOME/dcr/heads/ (default ~/.local/state/dcr/heads/).
 * *found is false for a room never seen.
 */
int dcr_audit_load_head(const char *room_id, struct dcr_tree_head *out, bool *found, struct dcr_err *err);
int dcr_audit_save_head(const struct dcr_tree_head *h, struct dcr_err *err);

#endif
