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
#include "stream.h"

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

/*
 * Sealed records of datasets ("dataset", scope "", name = ID), publications
 * ("publication", scope = room, name = node) and jobs ("job", scope = room,
 * name = job ID, seq = its number). The seal's label is kind:scope:name, so
 * the host cannot move a record to another place. put replaces.
 */
int state_put_record(struct state *s, const char *kind, const char *scope, const char *name, int64_t seq,
	const ProtobufCMessage *msg, struct dcr_err *err);
/* *out: protobuf_c_message_free_unpacked. DCR_ENOTFOUND if absent. */
int state_get_record(struct state *s, const char *kind, const char *scope, const char *name,
	const ProtobufCMessageDescriptor *d, ProtobufCMessage **out, struct dcr_err *err);
/* Every record of kind (in scope; NULL: all), by scope, seq and name, until fn returns non-zero. */
int state_each_record(struct state *s, const char *kind, const char *scope, const ProtobufCMessageDescriptor *d,
	int (*fn)(void *ctx, const char *scope, const char *name, ProtobufCMessage *msg), void *ctx,
	struct dcr_err *err);
/* The largest seq of kind in scope, 0 if none. */
int state_max_seq(struct state *s, const char *kind, const char *scope, int64_t *out, struct dcr_err *err);

/* Ciphertext blobs: what the host may know of them anyway. */
struct state_blob {
	uint64_t size, received;
	uint8_t token_hash[32];    /* SHA-256 of the bearer token for PUT, HEAD or GET */
	bool complete;
};
int state_blob_add(struct state *s, const char *id, uint64_t size, const uint8_t token_hash[static 32], int complete,
	struct dcr_err *err);
int state_blob_get(struct state *s, const char *id, struct state_blob *out, struct dcr_err *err);
int state_blob_progress(struct state *s, const char *id, uint64_t received, int complete, struct dcr_err *err);

/* What a call adds to its audit entry beyond caller, method and outcome. */
#define AUDIT_NOTE_FACTS 8
struct audit_note {
	char object[160];          /* "" : the room */
	size_t n_facts;
	struct {
		char key[32];
		char value[160];
	} facts[AUDIT_NOTE_FACTS];
};
void note_object(struct audit_note *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void note_fact(struct audit_note *n, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Append one entry to room_id's log (inside the open transaction): time,
 * caller, action, object (the room when note has none), outcome, detail
 * and the note's facts.
 */
int audit_record(struct state *s, const char *room_id, const char *caller, const char *action, const char *outcome,
	const char *detail, const struct audit_note *note, struct dcr_err *err);

/* Everything a call handler may use. */
struct service {
	struct enclave *enclave;
	struct state *state;
	pthread_mutex_t *lock;     /* held around every use of state */
	const char *data_dir;
	struct audit_note *note;   /* in a call: what its audit entry adds */
};

/*
 * Blobs (blobs.c): ciphertext in DIR/blobs/ID with a bearer token each.
 * blob_new records one (inside a call, under the lock) and returns its ID
 * and the token, which is shown once. The rest serve PUT, HEAD and GET
 * /v1/blobs/ID and take the lock themselves; status is the HTTP status of
 * a refusal.
 */
#define DCR_BLOB_ID_LEN 32
#define DCR_BLOB_TOKEN_MAX 80
int blobs_init(const char *data_dir, struct dcr_err *err);
bool blob_id_valid(const char *id);
int blob_path(const struct service *svc, const char *id, char *buf, size_t size, struct dcr_err *err);
/* A fresh ID and token, and the token's SHA-256 (for state_blob_add). */
int blob_mint(char id[static DCR_BLOB_ID_LEN + 1], char token[static DCR_BLOB_TOKEN_MAX], uint8_t hash[static 32],
	struct dcr_err *err);
int blob_new(struct service *svc, uint64_t size, int complete, char id[static DCR_BLOB_ID_LEN + 1],
	char token[static DCR_BLOB_TOKEN_MAX], struct dcr_err *err);
int blob_authorize(struct service *svc, const char *id, const char *authorization, struct state_blob *out,
	unsigned *status, struct dcr_err *err);
struct blob_upload;
int blob_put_begin(struct service *svc, const char *id, const char *authorization, const char *offset_header,
	struct blob_upload **out, unsigned *status, struct dcr_err *err);
int blob_put_write(struct blob_upload *u, const uint8_t *buf, size_t len, unsigned *status, struct dcr_err *err);
/* Records what arrived (on disk first) and frees u; *received: the bytes the blob now has. */
int blob_put_end(struct service *svc, struct blob_upload *u, uint64_t *received, struct dcr_err *err);

/* Sign the head of room_id's log as it stands. */
int audit_head(struct service *svc, const char *room_id, Dcr__V1__SignedTreeHead *sth, uint8_t sig[static 64],
	struct dcr_merkle_frontier *f, struct dcr_err *err);

/* A room as a call sees it (rooms.c): its record, definition, and the caller in it. */
struct room_ctx {
	Dcr__V1__RoomRecord *rec;
	Dcr__V1__RoomDefinition *def;
	const Dcr__V1__Participant *p;
};

/*
 * Load room id for the caller: a participant whose certificate the room
 * accepts, or DCR_ENOTFOUND (outsiders learn nothing, and are not logged).
 * On success room_id is set, so the call is logged in the room.
 */
int room_enter(struct service *svc, const struct dcr_call_request *req, const char *id, struct room_ctx *rc,
	char room_id[static 65], struct dcr_err *err);
void room_leave(struct room_ctx *rc);
/* Whether participant p may do a (on object; NULL: any object), the room's defaults included. */
bool may(const Dcr__V1__RoomDefinition *def, const Dcr__V1__Participant *p, Dcr__V1__Action a, const char *object);
/* DCR_EDENIED "EMAIL lacks permission 'WHAT' in room ID". */
int denied(const char *email, const char *what, const char *id, struct dcr_err *err);
/* Whether any room, or the platform CA, accepts the caller's certificate. */
bool caller_known(struct service *svc, const struct dcr_call_request *req);
bool valid_id(const char *id);
/* The data node or computation called name, or NULL. */
const Dcr__V1__DataNode *room_data_node(const Dcr__V1__RoomDefinition *def, const char *name);
const Dcr__V1__Computation *room_computation(const Dcr__V1__RoomDefinition *def, const char *name);
/* DCR_ENOTFOUND "room ID has no WHAT 'NAME'", with a suggestion among the room's names of that kind. */
int room_no_such(const Dcr__V1__RoomDefinition *def, const char *room_id, bool data, const char *name,
	struct dcr_err *err);

/* Copies of messages that outlive the records they came from (msg_list_add copies with pack and unpack). */
struct msg_list {
	ProtobufCMessage **items;
	size_t n, cap;
};
int msg_list_add(struct msg_list *l, const ProtobufCMessage *msg);
void msg_list_free(struct msg_list *l);
int pack_answer(const ProtobufCMessage *msg, uint8_t **out, size_t *len, struct dcr_err *err);

/* Datasets (data.c): dataset.create, dataset.publish, dataset.list. */
int dataset_create(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	struct dcr_err *err);
int dataset_publish(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	char room_id[static 65], struct dcr_err *err);
int datasets_list(struct service *svc, const struct dcr_call_request *req, const struct room_ctx *rc,
	const char *room_id, uint8_t **out, size_t *out_len, struct dcr_err *err);
/*
 * Stream the plaintext of the dataset published to node of room_id to
 * sink, decrypting its blob (for the job runner, without the lock: the
 * record is read by the caller beforehand).
 */
int publication_read(const struct service *svc, const Dcr__V1__PublicationRecord *pub, dcr_stream_sink *sink,
	void *ctx, struct dcr_err *err);

/*
 * Jobs (jobs.c): job.run, job.get, job.fetch, job.list, and the runner
 * thread that executes queued jobs one at a time outside the call lock.
 */
int job_run(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	char room_id[static 65], struct dcr_err *err);
int job_get(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	char room_id[static 65], struct dcr_err *err);
int jobs_list(struct service *svc, const struct dcr_call_request *req, const struct room_ctx *rc,
	const char *room_id, uint8_t **out, size_t *out_len, struct dcr_err *err);
/* Requeue jobs a previous dcrd left running, and start the runner; jobs_stop waits for it. */
int jobs_start(struct service *svc, struct dcr_err *err);
void jobs_stop(void);
/* What SQLite may allocate for one SQL job (serve --max-sql-memory); before jobs_start. */
void jobs_sql_memory(uint64_t bytes);

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
