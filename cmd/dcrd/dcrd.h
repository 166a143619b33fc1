/* dcrd internals shared between its source files. */
#ifndef DCRD_H
#define DCRD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <sqlite3.h>

#include "api.pb-c.h"
#include "attest.h"
#include "call.h"
#include "crypto.h"
#include "merkle.h"
#include "err.h"
#include "ohttp.h"

/* DIR/NAME into buf; DCR_EINVALID when it does not fit. */
int data_path(char *buf, size_t size, const char *dir, const char *name, struct dcr_err *err);

/* How the enclave attests itself. */
struct enclave_options {
	bool sgx;                  /* false: simulated */
	const char *device;        /* sgx: Gramine's attestation folder, /dev/attestation */
	const char *pccs_url;      /* sgx: PCCS or Intel PCS base URL (API v4) */
	const char *root_crl_url;  /* sgx: where the Intel SGX Root CA CRL is */
	const char *pccs_ca;       /* sgx: CA file for the PCCS's TLS certificate; NULL: the system's */
};

/* The enclave's identity: its keys, sealed in the data directory, and its evidence. */
struct enclave {
	struct enclave_options opt;
	char data_dir[4096];
	uint8_t sealing_key[32];   /* sim: a key file in the data directory; sgx: from the MRENCLAVE sealing key */
	uint8_t hpke_sk[32];
	uint8_t sign_sk[32];
	uint8_t sim_sk[32];        /* signs simulated quotes */
	uint8_t measurement[32];   /* sim: SHA-256 of this executable; sgx: MRENCLAVE */
	struct dcr_sgx_report report; /* sgx: this enclave's report body, from its own quote */
	struct dcr_ohttp_keyconfig ohttp;
	struct dcr_enclave_public pub;
	uint8_t *quote;            /* sgx */
	size_t quote_len;
	/* The evidence and, for sgx, the collateral in it and when to renew it; under lock. */
	pthread_mutex_t lock;
	uint8_t *evidence;
	size_t evidence_len;
	time_t collateral_fetched, collateral_next_update, last_fetch_attempt;
	bool fetching;             /* a thread is renewing the collateral, without the lock */
};

/*
 * Load the enclave keys from data_dir, or create and seal them on first
 * start; then build the evidence (sgx: the quote from the device and the
 * collateral, cached in data_dir). enclave_close wipes the secrets.
 */
int enclave_open(struct enclave *e, const char *data_dir, const struct enclave_options *opt, struct dcr_err *err);
void enclave_close(struct enclave *e);

/*
 * The evidence to serve, copied into *out (free()). For sgx, collateral
 * near its nextUpdate (or a day old) is renewed first; if the PCCS cannot
 * be reached the old collateral is served and the failure logged.
 */
int enclave_evidence(struct enclave *e, uint8_t **out, size_t *len, struct dcr_err *err);

/*
 * Whether spec describes this enclave: sim, the same measurement; sgx-dcap,
 * MRENCLAVE or MRSIGNER + product + minimum SVN, and debug only if allowed.
 * The TCB status is for clients to judge. DCR_EINTEGRITY if not.
 */
int enclave_matches_spec(const struct enclave *e, const struct dcr_spec *spec, struct dcr_err *err);

/* The durable state: state.db in the data directory, rows sealed under key. */
struct state {
	sqlite3 *db;
	uint8_t key[32];
	/*
	 * The room record written in the open transaction: its digest goes
	 * into the room's sealed audit frontier with the entry that logs the
	 * write, so an older record restored alone no longer matches.
	 */
	char pending_room[65];
	uint8_t pending_digest[32];
};

/* key NULL: no sealed rows may be used (dcrd token create, outside the enclave). */
int state_open(struct state *s, const char *dir, const uint8_t *key, struct dcr_err *err);
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

/*
 * Platform login tokens, by the SHA-256 of the token. The table is the
 * host's to write (the operator issues tokens), which is why rooms must
 * opt in to the platform PKI.
 */
struct state_token {
	uint8_t hash[DCR_SHA256_LEN];
	char email[DCR_EMAIL_MAX + 1];
	int64_t expires_ms, used_ms;
	bool used;
};
int state_token_add(struct state *s, const uint8_t hash[static DCR_SHA256_LEN], const char *email, int64_t created_ms,
	int64_t expires_ms, struct dcr_err *err);
/* DCR_ENOTFOUND when no token has this hash. */
int state_token_get(struct state *s, const uint8_t hash[static DCR_SHA256_LEN], struct state_token *out,
	struct dcr_err *err);
/* Mark it used (in the caller's transaction); DCR_EEXIST when it was used already. */
int state_token_use(struct state *s, const uint8_t hash[static DCR_SHA256_LEN], int64_t now_ms, struct dcr_err *err);

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

/*
 * The platform PKI (platform.c). platform_open loads this dcrd's CA from
 * data_dir, or creates and seals it on first start; platform_ca is its
 * certificate (DER), or NULL before platform_open. platform_login answers
 * auth.login. cmd_token is "dcrd token".
 */
int platform_open(const struct enclave *e, const char *data_dir, struct dcr_err *err);
const uint8_t *platform_ca(size_t *len);
int platform_login(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	struct dcr_err *err);
int cmd_token(int argc, char **argv);

int cmd_serve(int argc, char **argv);

#endif
