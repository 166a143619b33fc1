/* dcrd internals shared between its source files. */
#ifndef DCRD_H
#define DCRD_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "api.pb-c.h"
#include "attest.h"
#include "call.h"
#include "merkle.h"
#include "err.h"
#include "ohttp.h"

/* The enclave's identity: its keys, sealed in the data directory, and its evidence. */
struct enclave {
	uint8_t sealing_key[32];   /* sim: a key file in the data directory */
	uint8_t hpke_sk[32];
	uint8_t sign_sk[32];
	uint8_t sim_sk[32];        /* signs simulated quotes */
	uint8_t measurement[32];   /* SHA-256 of this executable */
	struct dcr_ohttp_keyconfig ohttp;
	struct dcr_enclave_public pub;
	uint8_t *evidence;
	size_t evidence_len;
};

/*
 * Load the enclave keys from data_dir, or create and seal them on first
 * start; then build the evidence. enclave_close wipes the secrets.
 */
int enclave_open(struct enclave *e, const char *data_dir, struct dcr_err *err);
void enclave_close(struct enclave *e);

/* The durable state: state.db in the data directory, rows sealed under key. */
struct state {
	sqlite3 *db;
	uint8_t key[32];
};

int state_open(struct state *s, const char *dir, const uint8_t key[static 32], struct dcr_err *err);
void state_close(struct state *s);
/* Store a room; create: insert (DCR_EEXIST if present), else replace (DCR_ENOTFOUND if absent). */
int state_put_room(struct state *s, const char *id, const Dcr__V1__RoomRecord *rec, int create,
	struct dcr_err *err);
/* *rec: dcr__v1__room_record__free_unpacked. DCR_ENOTFOUND if absent. */
int state_get_room(struct state *s, const char *id, Dcr__V1__RoomRecord **rec, struct dcr_err *err);
/*
 * Remember a call's nonce durably until it can no longer pass as fresh;
 * DCR_EINTEGRITY when it was used before, even before a restart.
 */
int state_use_nonce(struct state *s, const uint8_t nonce[static DCR_CALL_NONCE_LEN], int64_t now_ms,
	struct dcr_err *err);
/* Transactions: an action and the audit entry that records it commit together. */
int state_begin(struct state *s, struct dcr_err *err);
int state_commit(struct state *s, struct dcr_err *err);
void state_rollback(struct state *s);

/* A room's audit log: its frontier (size 0 when empty), appending, proofs, entries. */
int state_audit_frontier(struct state *s, const char *room_id, struct dcr_merkle_frontier *f, struct dcr_err *err);
int state_audit_append(struct state *s, const char *room_id, const uint8_t *entry, size_t len,
	struct dcr_merkle_frontier *f, struct dcr_err *err);
int state_audit_consistency(struct state *s, const char *room_id, uint64_t old_size, uint64_t new_size,
	struct dcr_merkle_proof *proof, struct dcr_err *err);
/* The first size entries, unsealed; free with state_audit_entries_free. */
int state_audit_entries(struct state *s, const char *room_id, uint64_t size, ProtobufCBinaryData **out,
	struct dcr_err *err);
void state_audit_entries_free(ProtobufCBinaryData *items, uint64_t n);

/* Call fn for every room in ID order until it returns non-zero. */
int state_each_room(struct state *s, int (*fn)(void *ctx, const char *id, const Dcr__V1__RoomRecord *rec),
	void *ctx, struct dcr_err *err);

/* Everything a call handler may use. */
struct service {
	struct enclave *enclave;
	struct state *state;
};

/* Sign the head of room_id's log as it stands. */
int audit_head(struct service *svc, const char *room_id, Dcr__V1__SignedTreeHead *sth, uint8_t sig[static 64],
	struct dcr_merkle_frontier *f, struct dcr_err *err);

/*
 * Run an accepted call. On success *out (free()) is the method's answer;
 * on refusal err carries the code and message the caller sees.
 */
int rooms_call(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	char room_id[static 65], struct dcr_err *err);

int cmd_serve(int argc, char **argv);

#endif
