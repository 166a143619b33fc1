/* dcrd internals shared between its source files. */
#ifndef DCRD_H
#define DCRD_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
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
#include "kind.h"
#include "ohttp.h"
#include "stream.h"

/*
 * dcrd's clock (clock.c), for every check against time (call freshness,
 * certificate validity, token expiry): the host's wall clock, but never
 * earlier than any time it returned before, nor than floor_ms, the clock
 * mark sealed before this start (state_clock_mark). While the host's clock
 * is more than DCR_CALL_MAX_AHEAD_MS behind it, it says so on stderr once.
 * clock_start once, before any call is served.
 */
void clock_start(int64_t floor_ms);
int64_t clock_now_ms(void);
time_t clock_now(void);
/*
 * Waits that setting the wall clock must not stretch or cut short: cv made
 * to time out on CLOCK_MONOTONIC (0, or an errno value), and the deadline
 * ms from now to give pthread_cond_timedwait on it.
 */
int cond_init_monotonic(pthread_cond_t *cv);
struct timespec monotonic_in(int64_t ms);

/*
 * The file of a complete blob, open for reading (blobs.c): one that is
 * missing, a symbolic link or not a regular file (a FIFO would block) is
 * DCR_EINTEGRITY.
 */
struct service;
int open_blob(const struct service *svc, const char *blob_id, struct dcr_err *err);

/* The enclave's sealed keys in the data directory (enclave.c); the first start makes it. */
#define ENCLAVE_KEYS_FILE "enclave-keys.sealed"

/* DIR/NAME into buf; DCR_EINVALID when it does not fit. */
int data_path(char *buf, size_t size, const char *dir, const char *name, struct dcr_err *err);

/*
 * Who a per-caller limit counts (jobs, uploads, PUTs): an e-mail address
 * with the root certificate its chain verified to (hex SHA-256, as audit
 * entries name the issuer; "" in records from before roots were kept). A
 * CA spends the limits of the addresses it certifies, never those of the
 * same addresses certified by another CA.
 */
struct caller_id {
	char email[DCR_EMAIL_MAX + 1];
	char ca[65];
};
void caller_id_set(struct caller_id *c, const char *email, const char *ca);
bool caller_id_equal(const struct caller_id *a, const struct caller_id *b);

/* How the enclave attests itself. */
struct enclave_options {
	const struct dcrd_kind *kind; /* cmd/dcrd/kind.h */
	const char *device;        /* sgx: Gramine's attestation folder, /dev/attestation */
	const char *pccs_url;      /* sgx, tdx: PCCS or Intel PCS base URL (API v4) */
	const char *root_crl_url;  /* sgx, tdx: where the Intel SGX Root CA CRL is */
	const char *pccs_ca;       /* sgx, tdx: CA file for the PCCS's TLS certificate; NULL: the system's */
	const char *tsm_dir;       /* tdx, sev-snp: configfs-tsm's report directory (sev-snp: used when it exists) */
	const char *sealing_root;  /* tdx: the file with the sealing root a key broker released */
	const char *tdx_device;    /* tdx: the guest device for the TD's own report, /dev/tdx_guest */
	const char *snp_device;    /* sev-snp: /dev/sev-guest, for the derived key (and reports without configfs-tsm) */
	const char *kds_url;       /* sev-snp: AMD's KDS, for the VCEK when the host gives none */
	int snp_product;           /* sev-snp: enum dcr_snp_product for version 2 reports; 0: from the report */
};

/* The enclave's identity: its keys, sealed in the data directory, and its evidence. */
struct enclave {
	struct enclave_options opt;
	char data_dir[4096];
	uint8_t sealing_key[32];   /* the kind's: sim, a key file in the data directory; sgx, the MRENCLAVE sealing key */
	uint8_t hpke_sk[32];
	uint8_t sign_sk[32];
	uint8_t sim_sk[32];        /* signs simulated quotes */
	uint8_t measurement[32];   /* sim: SHA-256 of this executable; sgx: MRENCLAVE; sev-snp: unused (snp.report) */
	union {                    /* the kind's own */
		struct dcr_sgx_report sgx; /* sgx-dcap: this enclave's report body, from its own quote */
		struct dcr_tdx_report tdx; /* tdx: this TD's report body, from its own quote */
		struct {
			struct dcr_snp_report report;     /* this guest's report, from the firmware */
			enum dcr_snp_product product;
		} snp;                     /* sev-snp */
	};
	struct dcr_ohttp_keyconfig ohttp;
	struct dcr_enclave_public pub;
	uint8_t *quote;            /* the kind's raw evidence from the device (sgx: the quote; sev-snp: the report,
	                              then the PEM of its VCEK and ASK, to which a renewed CRL is added), or NULL */
	size_t quote_len;
	/* The evidence and, for kinds with collateral, when it was fetched and must be renewed; under lock. */
	pthread_mutex_t lock;
	uint8_t *evidence;
	size_t evidence_len;
	time_t collateral_fetched, collateral_next_update, last_fetch_attempt;
	bool fetching;             /* a thread is renewing the collateral, without the lock */
};

/*
 * Load the enclave keys from data_dir, or create and seal them on first
 * start, under the sealing key of opt->kind; then have the kind build the
 * evidence (sgx: the quote from the device and the collateral, cached in
 * data_dir). enclave_close wipes the secrets.
 */
int enclave_open(struct enclave *e, const char *data_dir, const struct enclave_options *opt, struct dcr_err *err);
void enclave_close(struct enclave *e);
/* Wipe the keys alone, leaving the options, data directory and evidence (see jobs_stop). */
void enclave_wipe_keys(struct enclave *e);

/*
 * The evidence to serve, copied into *out (free()), after the kind's
 * refresh: for sgx, collateral near its nextUpdate (or a day old) is
 * renewed first; if the PCCS cannot be reached the old collateral is
 * served and the failure logged.
 */
int enclave_evidence(struct enclave *e, uint8_t **out, size_t *len, struct dcr_err *err);

/*
 * Whether spec describes this enclave: of this dcrd's kind, and as the
 * kind's matches_spec judges (sim, the same measurement; sgx-dcap,
 * MRENCLAVE or MRSIGNER + product + minimum SVN, and debug only if
 * allowed; the TCB status is for clients to judge). DCR_EINTEGRITY if not.
 */
int enclave_matches_spec(const struct enclave *e, const struct dcr_spec *spec, struct dcr_err *err);

/* The durable state: state.db in the data directory, rows sealed under key. */
#define STATE_HOOKS_MAX 8
struct state {
	sqlite3 *db;
	uint8_t key[32];
	uint8_t names_key[32];     /* from key: record names the host must not read (state_private_name) */
	/*
	 * The room record written in the open transaction: its digest goes
	 * into the room's sealed audit frontier with the entry that logs the
	 * write, so an older record restored alone no longer matches.
	 */
	char pending_room[65];
	uint8_t pending_digest[32];
	/*
	 * The room whose publication records the open transaction wrote (after
	 * checking those stored): their digest goes into the frontier the same
	 * way, so a publication put back from an older copy no longer matches.
	 */
	char pending_pubs[65];
	atomic_bool full;          /* the last write failed for lack of disk space */
	int64_t clock_mark;        /* dcrd's clock at the latest call accepted (state_use_nonce) */
	int64_t last_call_ms;      /* the latest call timestamp accepted */
	sqlite3_stmt *audit_st[6]; /* the audit log's statements, prepared once (state.c) */
	sqlite3_stmt *call_st[8];  /* the call and job paths' statements, prepared once (state.c) */
	struct state_hook {        /* what the open transaction's end must settle (state_on_end) */
		void (*fn)(void *arg, bool committed);
		void *arg;
	} hooks[STATE_HOOKS_MAX];
	size_t n_hooks;
	/* Group commit (state_group_commit); all zero without it, when each commit waits for the disk. */
	bool group;
	int wal_fd;                /* state.db-wal, for fdatasync */
	bool committed;            /* a transaction committed since the last state_unlock (SQLite's commit hook) */
	atomic_uint_least64_t written; /* releases of the lock after commits: state_unlock's tickets */
	atomic_uint_least64_t syncs;   /* fdatasyncs of the log made for them */
	pthread_mutex_t sync_mu;
	pthread_cond_t sync_cv;
	atomic_uint_least64_t synced;  /* every ticket up to this one is on disk (written under sync_mu) */
	bool syncing;              /* a thread is in fdatasync for the others (under sync_mu) */
	bool closed;               /* state_close synced for the last time: no more fdatasyncs (under sync_mu) */
	int files_fd;              /* the directory of the files rows name (blobs/), synced with the log */
	atomic_bool files_changed; /* a file was made there since the last sync (state_files_changed) */
};

/*
 * key NULL: no sealed rows may be used (dcrd token create, outside the
 * enclave). With a key, publication records a dcrd before private names
 * stored under the node's name are renamed to their private name.
 */
int state_open(struct state *s, const char *dir, const uint8_t *key, struct dcr_err *err);
/*
 * The name under which a record of scope is stored when its own name comes
 * from a room's sealed definition (a node's publication): 32 hex digits
 * of HKDF-Expand(a key derived from the sealing key, "dcr-record-name-v1"
 * 0x00 scope 0x00 name), the same for the same scope and name, and
 * telling the host nothing about the name.
 */
#define STATE_PRIVATE_NAME_LEN 32
int state_private_name(const struct state *s, const char *scope, const char *name,
	char out[static STATE_PRIVATE_NAME_LEN + 1], struct dcr_err *err);
void state_close(struct state *s);
/*
 * Group commit, for dcrd serve: from now on a commit does not wait for the
 * disk (synchronous=NORMAL); whoever used s under a lock releases it with
 * state_unlock, which returns once every change made before the release,
 * by any thread, is on disk, one fdatasync of the log serving every thread
 * waiting for it. An answer is sent only after that, so nothing answered
 * can be lost (docs/decisions.md, "Group commit"). Without it (dcrd token
 * create), each commit is synchronous.
 */
int state_group_commit(struct state *s, const char *dir, const char *files_dir, struct dcr_err *err);
/*
 * A file was created in files_dir, which a row is about to name: the
 * next fdatasync of the log syncs the directory first, so the row never
 * reaches the disk without the file's name.
 */
void state_files_changed(struct state *s);
/*
 * Release lock (NULL: none held, at start-up) and wait until the changes
 * made to s before that are on disk. The log failing to sync stops dcrd at
 * once (exit status 1): what was written may not be on disk, and a second
 * fdatasync that succeeds does not say it is.
 */
void state_unlock(struct state *s, pthread_mutex_t *lock);
/*
 * Release lock without waiting for the disk: for the job runner, which
 * answers no one (a job.get that reports what it recorded waits in its
 * own state_unlock). The next state_unlock of any thread, at most a
 * watchdog tick later (its chores), syncs it.
 */
void state_release(struct state *s, pthread_mutex_t *lock);
/* For /metrics: lock releases after changes, and the fdatasyncs that made them durable. */
void state_sync_counts(struct state *s, uint64_t *writes, uint64_t *syncs);
/*
 * Under the lock, in a transaction: the ticket its commit will be on disk
 * under, for what must wait until then (a file to delete once the rows
 * naming it are gone for good); 0 without group commit, where a commit is
 * on disk when it returns. state_synced(s, ticket): whether it is.
 */
uint64_t state_ticket(struct state *s);
bool state_synced(struct state *s, uint64_t ticket);
/* Tests: what state_unlock calls for fdatasync (fdatasync when NULL). */
extern int (*state_fdatasync_fn)(int fd);
/* Store a room; create: insert (DCR_EEXIST if present), else replace (DCR_ENOTFOUND if absent). */
int state_put_room(struct state *s, const char *id, const Dcr__V1__RoomRecord *rec, int create,
	struct dcr_err *err);
/* *rec: dcr__v1__room_record__free_unpacked. DCR_ENOTFOUND if absent. */
int state_get_room(struct state *s, const char *id, Dcr__V1__RoomRecord **rec, struct dcr_err *err);
/*
 * Remember a call's nonce durably until it can no longer pass as fresh;
 * DCR_EINTEGRITY when it was used before, even before a restart. In the
 * same transaction, now_ms (dcrd's clock) raises the clock mark and the
 * call's timestamp the latest one accepted.
 */
int state_use_nonce(struct state *s, const uint8_t nonce[static DCR_CALL_NONCE_LEN], int64_t now_ms,
	int64_t timestamp_ms, struct dcr_err *err);
/*
 * The clock mark, dcrd's own clock when it accepted its latest call, and
 * that call's timestamp (the latest accepted: a caller may stamp a call a
 * few seconds ahead), sealed in their own row and, as they stood at each
 * append, in every room's audit frontier. Read at start (the largest of
 * each): dcrd's clock starts no earlier than *mark, and no call stamped at
 * or before *last_call_ms may be accepted again. The host may set the
 * clock back and empty the nonce table, but lowering either means rolling
 * a room's log back, which clients detect. 0 for a new state.
 */
int state_clock_mark(struct state *s, int64_t *mark, int64_t *last_call_ms, struct dcr_err *err);
/* Transactions: an action and the audit entry that records it commit together. */
int state_begin(struct state *s, struct dcr_err *err);
int state_commit(struct state *s, struct dcr_err *err);
void state_rollback(struct state *s);
/*
 * Memory that must follow the open transaction (a job queued, a file to
 * delete once its records are gone): fn(arg, committed) is called once,
 * when the transaction commits (true) or is rolled back or fails to
 * commit (false), under the lock the transaction is made under.
 * DCR_EFAIL when STATE_HOOKS_MAX are set already (fn is not called).
 */
int state_on_end(struct state *s, void (*fn)(void *arg, bool committed), void *arg, struct dcr_err *err);
/* Whether the last write failed because the disk is full (until a commit succeeds); no lock needed. */
bool state_full(const struct state *s);

/*
 * A room's audit log: its frontier (size 0 when empty), appending, proofs,
 * entries. Next to each leaf the log keeps the sealed roots of the perfect
 * subtrees it completes (audit_node), written in the leaf's transaction,
 * so a proof reads O(log size) rows.
 */
int state_audit_frontier(struct state *s, const char *room_id, struct dcr_merkle_frontier *f, struct dcr_err *err);
int state_audit_append(struct state *s, const char *room_id, const uint8_t *entry, size_t len,
	struct dcr_merkle_frontier *f, struct dcr_err *err);
int state_audit_consistency(struct state *s, const char *room_id, uint64_t old_size, uint64_t new_size,
	struct dcr_merkle_proof *proof, struct dcr_err *err);
/*
 * Entries from to to - 1, unsealed, into items[0 .. to - from - 1] (freed
 * again on failure). One statement, so one read of the database: a page
 * of a log read without the call lock sees the entries as they were.
 * state_audit_entries_free frees the first n of items, and items.
 */
int state_audit_entries_range(struct state *s, const char *room_id, uint64_t from, uint64_t to,
	ProtobufCBinaryData *items, struct dcr_err *err);
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

/* How many rooms there are, readable or not. */
int state_count_rooms(struct state *s, uint64_t *n, struct dcr_err *err);
/* Call fn for every room in ID order until it returns non-zero. */
int state_each_room(struct state *s, int (*fn)(void *ctx, const char *id, const Dcr__V1__RoomRecord *rec),
	void *ctx, struct dcr_err *err);
/* The same with the IDs alone, unsealing nothing (a damaged record does not stop it). */
int state_each_room_id(struct state *s, int (*fn)(void *ctx, const char *id), void *ctx, struct dcr_err *err);

/*
 * Sealed records of datasets ("dataset", scope "", name = ID), publications
 * ("publication", scope = room, name = state_private_name(room, node)) and
 * jobs ("job", scope = room, name = job ID, seq = its number). The seal's
 * label is kind:scope:name, so the host cannot move a record to another
 * place. put replaces. A room's publications are bound to its log: every
 * read and write of one first checks that the room's publication records
 * are those the log last recorded (DCR_EINTEGRITY if not), and the next
 * entry of the room's log records them as they are then.
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
int state_delete_record(struct state *s, const char *kind, const char *scope, const char *name, struct dcr_err *err);
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
int state_blob_delete(struct state *s, const char *id, struct dcr_err *err);

/* What a call adds to its audit entry beyond caller, method and outcome. */
#define AUDIT_NOTE_FACTS 8
struct audit_fact {
	char key[32];
	char value[160];
};
struct audit_note {
	char issuer[65];           /* hex SHA-256 of the root that certified the caller, once known */
	char object[160];          /* "" : the room */
	size_t n_facts;
	struct audit_fact facts[AUDIT_NOTE_FACTS];
	const struct audit_fact *more; /* n_more facts after those (a job's inputs), owned by the caller */
	size_t n_more;
};
void note_object(struct audit_note *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void note_fact(struct audit_note *n, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Append one entry to room_id's log (inside the open transaction): time,
 * caller, action, object (the room when note has none), outcome, detail,
 * the note's facts and issuer, and AUDIT_SALT_LEN fresh random bytes.
 */
#define AUDIT_SALT_LEN 16
int audit_record(struct state *s, const char *room_id, const char *caller, const char *action, const char *outcome,
	const char *detail, const struct audit_note *note, struct dcr_err *err);

/*
 * Reads that tell the caller nothing new are logged once (reads.c,
 * dcr-audit(1)): a job.get allowed with the same answer as the last one
 * logged for the same room, caller and job (object and facts) is not
 * logged again. read_key_of fills k and says whether the call is such a
 * read; read_repeated: whether its entry would repeat one logged;
 * read_logged: its entry was committed. Memory only, a fixed table.
 */
struct read_key {
	uint8_t key[32];
	uint8_t answer[32];
	bool valid;
};
bool read_key_of(struct read_key *k, const char *room_id, const char *caller, const char *method,
	const struct audit_note *note, const uint8_t *answer, size_t answer_len);
bool read_repeated(const struct read_key *k);
void read_logged(const struct read_key *k);

/*
 * Who may create rooms, how often and how many (creators.c): dcrd serve's
 * --creator-ca, --creator-platform, --create-rate, --max-rooms and
 * --max-rooms-per-creator. Without the first two anyone may create;
 * everyone is limited to burst creates per period_ms (a token bucket per
 * caller, in memory), at most a few definitions are validated at once,
 * and dcrd keeps at most max_rooms rooms, max_per_creator of each creator.
 */
#define CREATORS_DEFAULT_BURST 20
#define CREATORS_DEFAULT_PERIOD_MS (3600 * 1000)
#define CREATORS_MAX_PERIOD_S (30 * 86400)
#define CREATORS_DEFAULT_MAX_ROOMS 10000
#define CREATORS_DEFAULT_MAX_PER_CREATOR 100
#define CREATORS_MAX_CAS 64
struct creators {
	uint8_t *roots[CREATORS_MAX_CAS]; /* --creator-ca certificates, DER */
	size_t root_lens[CREATORS_MAX_CAS], n_roots;
	bool platform;             /* --creator-platform: the platform CA too */
	bool restricted;           /* only these may create */
	unsigned burst;
	int64_t period_ms;
	pthread_mutex_t lock;      /* of the buckets */
	struct bucket *buckets;
	size_t n, cap;
	atomic_int validating;
	unsigned max_rooms, max_per_creator;
	atomic_uint_fast64_t n_rooms; /* rooms stored, readable or not */
	struct creator_rooms *rooms; /* per creator, under lock */
	size_t n_creators, cap_creators;
};
void creators_init(struct creators *c);
void creators_release(struct creators *c);
/* Add the CA certificates of a PEM file (DCR_EINVALID: none, or not a CA); restricts creation to them. */
int creators_add_ca_file(struct creators *c, const char *path, struct dcr_err *err);
/*
 * Whether the caller may ask for a room now: DCR_EDENIED if creation is
 * restricted and the chain reaches none of the creator CAs, DCR_EFAIL when
 * the caller's bucket is empty (the message says when to try again).
 * Takes a token otherwise. Thread-safe; needs no call lock.
 */
int creators_admit(struct creators *c, const struct dcr_call_request *req, struct dcr_err *err);
/* Count the rooms in s, all and each creator's: at start, before any call. */
int creators_count_rooms(struct creators *c, struct state *s, struct dcr_err *err);
/*
 * Whether creator may store one more room (under the call lock):
 * DCR_EFAIL naming --max-rooms or --max-rooms-per-creator if not.
 * creators_room_stored counts one that was.
 */
int creators_admit_room(struct creators *c, const struct caller_id *creator, struct dcr_err *err);
void creators_room_stored(struct creators *c, const struct caller_id *creator);
/* A slot to validate a definition in (DCR_EFAIL when all are taken); end gives it back. */
int creators_begin_validation(struct creators *c, struct dcr_err *err);
void creators_end_validation(struct creators *c);

/*
 * What a call worked out before taking the call lock (calls_prepare), for
 * calls_run to finish under it: work an outsider can ask for must not
 * hold up everyone else's calls.
 */
/* The root certificate a caller's chain verified to: who vouches for the caller. */
struct verified_ca {
	uint8_t *der;              /* NULL: none */
	size_t len;
	char fingerprint[65];      /* hex SHA-256 of der, as audit entries name the issuer */
};
/* Copy der into ca (replacing what it held); _release frees it and accepts a zeroed ca. */
int verified_ca_set(struct verified_ca *ca, const uint8_t *der, size_t len, struct dcr_err *err);
void verified_ca_release(struct verified_ca *ca);

/* What checking a dataset against a data node found (data.c): its plaintext, or why it does not do. */
struct publish_check {
	bool done;                 /* checked (or found checked before) */
	int code;                  /* 0, or the refusal */
	char msg[DCR_ERR_MSG_MAX];
	uint8_t sha256[DCR_SHA256_LEN];
	uint64_t size, rows;
};

struct call_prep {
	struct dcr_room *room;     /* room.create: the validated, compiled definition */
	Dcr__V1__RoomSource *source; /* room.create: what it was compiled from, kept for room.source */
	char issuer[65];           /* room.create: the root that certified the creator */
	int known;                 /* dataset.create: whether caller_ca found a root; -1: not worked out */
	struct verified_ca ca;     /* dataset.create: that root */
	uint8_t *answer;           /* room.list: the whole answer */
	size_t answer_len;
	struct publish_check check; /* dataset.publish: the dataset against the node */
	ProtobufCBinaryData *audit; /* audit.get: the first audit_n entries of audit_room's log, read without the lock */
	uint64_t audit_n;
	char audit_room[65];
};

/* Everything a call handler may use. */
struct service {
	struct enclave *enclave;
	struct state *state;
	pthread_mutex_t *lock;     /* held around every use of state */
	const char *data_dir;
	struct audit_note *note;   /* in a call: what its audit entry adds */
	struct creators *creators;
	/* A second connection to the state for reads without the call lock, under its own lock. */
	struct state *reader;
	pthread_mutex_t *reader_lock;
	const struct call_prep *prep; /* in a call: what calls_prepare worked out */
	const struct job_bounds *job_bounds; /* the operator's, for every job (work.h) */
	struct job_wait *wait;     /* in a call that may wait for a job to end (job.get's wait_ms) */
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
/* How many PUTs may write at once (dcrd serve --max-puts-per-uploader, --max-puts-per-address). */
struct put_limits {
	unsigned per_uploader;
	unsigned per_address;
};
int blobs_init(const char *data_dir, const struct put_limits *lim, struct dcr_err *err);
/*
 * At start, before any call: delete the files in DIR/blobs named as blobs
 * that have no row in the state (a result sealed when dcrd stopped before
 * recording it), and log how many.
 */
int blobs_sweep(struct service *svc, struct dcr_err *err);
bool blob_id_valid(const char *id);
/* Whether a PUT is writing blob id now (under the lock); how many PUTs are (without it). */
bool blob_writing(const char *id);
unsigned blob_writers(void);
int blob_path(const struct service *svc, const char *id, char *buf, size_t size, struct dcr_err *err);
/*
 * Delete blob id's file once the open transaction (which deletes its
 * records) commits: blobs_reap unlinks the files of committed deletions
 * that are on disk (state_synced), to be called once the call lock is
 * released (state_unlock). A stop in between leaves a file no record
 * names, for blobs_sweep.
 */
int blob_delete_on_commit(const struct service *svc, const char *id, struct dcr_err *err);
void blobs_reap(void);
/* A fresh ID and token, and the token's SHA-256 (for state_blob_add). */
int blob_mint(char id[static DCR_BLOB_ID_LEN + 1], char token[static DCR_BLOB_TOKEN_MAX], uint8_t hash[static 32],
	struct dcr_err *err);
int blob_new(struct service *svc, uint64_t size, int complete, char id[static DCR_BLOB_ID_LEN + 1],
	char token[static DCR_BLOB_TOKEN_MAX], struct dcr_err *err);
int blob_authorize(struct service *svc, const char *id, const char *authorization, struct state_blob *out,
	unsigned *status, struct dcr_err *err);
struct blob_upload;
/* peer: the client's IP address, for the per-address limit. */
int blob_put_begin(struct service *svc, const char *id, const char *authorization, const char *offset_header,
	const char *peer, struct blob_upload **out, unsigned *status, struct dcr_err *err);
int blob_put_write(struct blob_upload *u, const uint8_t *buf, size_t len, unsigned *status, struct dcr_err *err);
/* Records what arrived (on disk first) and frees u; *received: the bytes the blob now has. */
int blob_put_end(struct service *svc, struct blob_upload *u, uint64_t *received, struct dcr_err *err);

/* Sign the head of room_id's log as it stands. */
int audit_head(struct service *svc, const char *room_id, Dcr__V1__SignedTreeHead *sth, uint8_t sig[static 64],
	struct dcr_merkle_frontier *f, struct dcr_err *err);

/*
 * The access rules of calls (access.c): a room as a call sees it (its
 * record, definition, and the caller in it), who is a member, what
 * members may do, refusals, and the audit entry a call leaves.
 */
struct room_ctx {
	Dcr__V1__RoomRecord *rec;
	Dcr__V1__RoomDefinition *def;
	const Dcr__V1__Participant *p;
	struct caller_id caller;   /* the caller, with the root that certified it for this room */
};

/*
 * Load room id for the caller: a participant whose certificate the room
 * accepts, or DCR_ENOTFOUND (outsiders learn nothing, and are not logged).
 * On success room_id is set, so the call is logged in the room.
 */
int room_enter(struct service *svc, const struct dcr_call_request *req, const char *id, struct room_ctx *rc,
	char room_id[static 65], struct dcr_err *err);
void room_leave(struct room_ctx *rc);
/* The participant with this address, or NULL. */
const Dcr__V1__Participant *room_participant(const Dcr__V1__RoomDefinition *def, const char *email);
/*
 * Whether the caller is a participant of def (room id) certified by the
 * authority the room assigns to it; DCR_ENOTFOUND "no room ID for EMAIL"
 * if not. *out: the participant; issuer: the hex SHA-256 of the root the
 * chain verified to; ca (if not NULL): a copy of that root.
 */
int room_member(const Dcr__V1__RoomDefinition *def, const char *id, const struct dcr_call_request *req,
	const Dcr__V1__Participant **out, char issuer[static 65], struct verified_ca *ca, struct dcr_err *err);
/* DCR_EDENIED saying which authority the room assigns to p, whose certificate did not chain to it. */
int not_certified(const Dcr__V1__RoomDefinition *def, const Dcr__V1__Participant *p, struct dcr_err *err);
/* Whether the caller is the room's owner and may stop it without the stop permission. */
bool owner_may_stop(const Dcr__V1__RoomDefinition *def, const Dcr__V1__RoomRecord *rec,
	const struct caller_id *caller);
/* Whether participant p may do a (on object; NULL: any object), the room's defaults included. */
bool may(const Dcr__V1__RoomDefinition *def, const Dcr__V1__Participant *p, Dcr__V1__Action a, const char *object);
/* DCR_EDENIED "EMAIL lacks permission 'WHAT' in room ID". */
int denied(const char *email, const char *what, const char *id, struct dcr_err *err);
/*
 * Whether the platform CA issued the caller's certificate, or any room
 * accepts it for its address; *ca (verified_ca_release) is then the root
 * its chain verified to. As calls_prepare worked it out, if it did.
 */
bool caller_ca(struct service *svc, const struct dcr_call_request *req, struct verified_ca *ca);
/* The platform CA, or a root some room in s assigns to the caller's address, into *ca (none: ca->der NULL). */
void caller_known(struct state *s, const struct dcr_call_request *req, struct verified_ca *ca);
/*
 * The rooms that name an address: built from s at start (before any call;
 * DCR_ENOMEM only), added to by room.create under the call lock.
 * caller_rooms calls fn, in ID order, for the rooms of s that name email
 * (and rooms that could not be read at start) until fn returns non-zero;
 * a room that cannot be read stops it with its error if stop_on_damage,
 * else is passed over.
 */
int room_index_build(struct state *s, struct dcr_err *err);
int room_index_add(const char *id, const Dcr__V1__RoomDefinition *def, struct dcr_err *err);
int caller_rooms(struct state *s, const char *email, bool stop_on_damage,
	int (*fn)(void *ctx, const char *id, const Dcr__V1__RoomRecord *rec), void *ctx, struct dcr_err *err);
bool valid_id(const char *id);
/* The data node or computation called name, or NULL. */
const Dcr__V1__DataNode *room_data_node(const Dcr__V1__RoomDefinition *def, const char *name);
const Dcr__V1__Computation *room_computation(const Dcr__V1__RoomDefinition *def, const char *name);
/* DCR_ENOTFOUND "room ID has no WHAT 'NAME'", with a suggestion among the room's names of that kind. */
int room_no_such(const Dcr__V1__RoomDefinition *def, const char *room_id, bool data, const char *name,
	struct dcr_err *err);

/* Answers (answer.c). Copies of messages that outlive the records they came from (msg_list_add copies with pack and unpack). */
struct msg_list {
	ProtobufCMessage **items;
	size_t n, cap;
};
int msg_list_add(struct msg_list *l, const ProtobufCMessage *msg);
void msg_list_free(struct msg_list *l);
int pack_answer(const ProtobufCMessage *msg, uint8_t **out, size_t *len, struct dcr_err *err);

/*
 * Storage (storage.c), under the lock unless said otherwise: the ledger of
 * uploads (rebuilt by storage_open from the dataset records), the floor of
 * free space, per-uploader quotas and the expiry of unfinished uploads.
 */
struct storage_limits {
	uint64_t min_free;         /* bytes the disk keeps free ... */
	unsigned min_free_percent; /* ... or this share of it, whichever is more */
	uint64_t max_bytes;        /* per uploader: the declared sizes of all its datasets */
	unsigned max_datasets;     /* per uploader */
	unsigned max_unfinished;   /* per uploader */
	uint64_t expiry_s;         /* an upload not complete this long after dataset.create is deleted */
	uint64_t idle_s;           /* an upload with no byte arriving this long gives up its reservation */
	uint64_t max_result_bytes; /* per caller: the results of the jobs it ran */
	uint64_t max_room_result_bytes; /* per room: the results of its jobs */
	uint64_t result_expiry_s;  /* a result is deleted this long after its job ended */
};
int storage_open(struct service *svc, const struct storage_limits *lim, struct dcr_err *err);
void storage_close(void);
/* Whether owner may create a dataset of size bytes; DCR_EFAIL names the limit it would pass. */
int storage_admit(const struct service *svc, const struct caller_id *owner, uint64_t size, struct dcr_err *err);
/* A new upload, reserving size bytes until it is complete. */
int storage_add(const char *id, const struct caller_id *owner, uint64_t size, int64_t created_ms,
	struct dcr_err *err);
/* What has arrived of upload id; complete releases what remained reserved. */
void storage_progress(const char *id, uint64_t received, bool complete);
/* Dataset id of owner, of size bytes, is gone. */
void storage_forget(const char *id, const struct caller_id *owner, uint64_t size);
/*
 * Whether a PUT may add to upload id (unfinished, not expired, the disk
 * above its floor, and room for the rest of an upload whose reservation
 * lapsed, which it then takes again); *owner is its uploader. On refusal
 * *status is the HTTP status.
 */
int storage_put(const struct service *svc, const char *id, struct caller_id *owner, unsigned *status,
	struct dcr_err *err);
/* Whether size bytes of what ("a room") fit above the floor and the reservations. */
int storage_room_for(const struct service *svc, const char *what, uint64_t size, struct dcr_err *err);
/*
 * Whether a result of size bytes (0: the job has not run yet) of caller's
 * job in room_id may be kept: above the floor and the reservations, and
 * within the caller's and the room's quotas (--max-result-bytes,
 * --max-room-result-bytes); DCR_EFAIL names what it would pass. The size
 * is reserved until storage_result_done says whether the result was kept
 * (size bytes as written; 0: not kept). DCR_ENOMEM if it cannot be counted.
 */
int storage_result_begin(const struct service *svc, const struct caller_id *caller, const char *room_id,
	uint64_t size, struct dcr_err *err);
int storage_result_done(const struct caller_id *caller, const char *room_id, const char *job_id, uint64_t reserved,
	uint64_t size, int64_t finished_ms);
/* Delete uploads past their time, release idle ones' reservations (at most once a second; call it often). */
void storage_expire(struct service *svc);
/*
 * Under the lock: whether upload id expired and was deleted since dcrd
 * started (the last 4096 of them); out gets its token's hash, err the
 * message that says so.
 */
bool storage_expired(const char *id, struct state_blob *out, struct dcr_err *err);
/* For /healthz and /metrics, without the lock. */
struct storage_status {
	bool known;                /* statvfs worked */
	bool below_floor;
	uint64_t free, floor, reserved;
	unsigned unfinished;
	unsigned long expired;     /* since start */
	unsigned long lapsed;      /* reservations given up for idleness, since start */
	uint64_t result_bytes;     /* results kept */
	unsigned long results_expired; /* since start */
};
void storage_status(const char *data_dir, struct storage_status *st);

/* Datasets (data.c): dataset.create, dataset.publish, dataset.list, dataset.delete; dispatched by calls.c. */
/* Who uploaded ds, for the quotas: its owner and the fingerprint of its owner_ca. */
void dataset_owner(const Dcr__V1__DatasetRecord *ds, struct caller_id *out);
int dataset_create_prepare(struct service *svc, const struct dcr_call_request *req, struct call_prep *prep,
	struct dcr_err *err);
int dataset_create(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	char room_id[static 65], struct dcr_err *err);
int dataset_delete(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	char room_id[static 65], struct dcr_err *err);
/*
 * Delete dataset id's record and blob row in the open transaction, and its
 * ciphertext; the caller tells the ledger (storage_forget).
 */
int dataset_erase(struct service *svc, const char *id, struct dcr_err *err);
/*
 * dataset.publish is in two parts. dataset_publish_prepare, without the
 * call lock, reads the room and the dataset through
 * svc->reader and, if the caller may publish it there, decrypts and checks
 * it against the node into prep->check; a (dataset, key, node) checked
 * before is not checked again. dataset_publish, under the lock, checks the
 * room and the dataset again and stores the publication with what
 * prep->check found; it never decrypts while it holds the lock.
 */
int dataset_publish_prepare(struct service *svc, const struct dcr_call_request *req, struct call_prep *prep,
	struct dcr_err *err);
/* Datasets decrypted and checked for a publish since start, and publishes that reused an earlier check (/metrics). */
void dataset_check_counts(unsigned long *decrypted, unsigned long *reused);
int dataset_publish(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	char room_id[static 65], struct dcr_err *err);
/* The list-datasets permission is checked by the dispatcher (calls.c). */
int datasets_list(struct service *svc, const struct dcr_call_request *req, const struct room_ctx *rc,
	const char *room_id, uint8_t **out, size_t *out_len, struct dcr_err *err);
/*
 * Stream the plaintext of the dataset published to node of room_id to
 * sink, decrypting its blob (blobs.c; for the job runner, without the
 * lock: the record is read by the caller beforehand).
 */
int publication_read(const struct service *svc, const Dcr__V1__PublicationRecord *pub, dcr_stream_sink *sink,
	void *ctx, struct dcr_err *err);

/*
 * Jobs (jobs.c): job.run, job.get, job.fetch, job.list, and the runner
 * threads that execute queued jobs outside the call lock, jobs of
 * different rooms at once, a room's one at a time and in order.
 */
int job_run(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	char room_id[static 65], struct dcr_err *err);
int job_get(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	char room_id[static 65], struct dcr_err *err);
int jobs_list(struct service *svc, const struct dcr_call_request *req, const struct room_ctx *rc,
	const char *room_id, uint8_t **out, size_t *out_len, struct dcr_err *err);
/*
 * How many jobs may be queued or running at once (dcrd serve
 * --max-room-jobs, --max-caller-jobs), and how many run at once, each in
 * a runner thread of its own (--max-running-jobs, at most JOBS_RUNNING_MAX).
 */
#define JOBS_RUNNING_MAX 256
struct job_limits {
	unsigned per_room;
	unsigned per_caller;       /* by struct caller_id, across rooms */
	unsigned running;
};
/* What SQLite may allocate for one SQL job (serve --max-sql-memory); before jobs_start. */
void jobs_sql_memory(uint64_t bytes);
/* How long one SQL job may run (serve --max-sql-time), in ms; before jobs_start. */
void jobs_sql_time(uint64_t ms);
/* How many threads DuckDB runs one SQL job on (serve --duckdb-threads); before jobs_start. */
void jobs_sql_threads(unsigned threads);
/*
 * How long a room's SQL worker is kept idle (one holding a DuckDB database: duck_idle_ms) and for how many jobs
 * (serve --sql-worker-idle, --duckdb-worker-idle, --sql-worker-jobs).
 */
void jobs_sql_warm(uint64_t idle_ms, uint64_t duck_idle_ms, unsigned max_jobs);

/*
 * Fill the queue from the state (jobs a previous dcrd left running go back
 * in their place) and start the runner; jobs_stop waits for it, unless it
 * is running a job, which may take hours: then jobs_stop takes the call
 * lock for good (the job records nothing more, and runs again at the next
 * start) and returns true. The runner then still uses the sandbox and the
 * enclave's options and data directory: the caller releases none of them
 * and ends the process without exit handlers (_exit).
 */
int jobs_start(struct service *svc, const struct job_limits *lim, struct dcr_err *err);
bool jobs_stop(void);
/*
 * job.get's wait (JobRef.wait_ms, at most JOB_WAIT_MAX_MS): job_get sets
 * wanted when the caller asked to wait, may see the job, and it is queued
 * or running. The call then waits outside the call lock: under it,
 * jobs_waiter_new hands out a waiter (NULL: answer at once, for the job
 * left the queue, or JOB_WAITERS_MAX calls wait already), the caller
 * suspends the call and jobs_wait_start arms the waiter, which calls
 * wake(arg) once, from another thread: when the job ends, when ms are up,
 * or at jobs_wait_stop (which jobs_stop calls too). The call is then made
 * again with may false, and logged once.
 */
#define JOB_WAIT_MAX_MS 20000
#define JOB_WAITERS_MAX 128
struct job_wait {
	bool may;                  /* this call may wait: it has not waited yet */
	bool wanted;
	uint32_t ms;
	char room_id[65];
	char job_id[40];
};
struct job_waiter;
struct job_waiter *jobs_waiter_new(const struct job_wait *w, void (*wake)(void *arg), void *arg);
void jobs_wait_start(struct job_waiter *w);
void jobs_wait_stop(void);
/* Calls waiting for a job to end now (for /metrics). */
unsigned jobs_waiting(void);
/* Jobs queued and running now (for /metrics, without the lock). */
void jobs_counts(unsigned *queued, unsigned *running);
/*
 * Under the lock: whether a running job reads blob_id (the publications
 * it took when it started), which must then stay until the job ends.
 */
bool jobs_reading(const char *blob_id);
/*
 * Under the lock, when room_id has just been stopped: its table store
 * (work.h) goes now, or, while a job of the room runs (its spill files are
 * there), when that job ends.
 */
int jobs_room_stopped(const char *room_id, struct dcr_err *err);
/* A dataset was published to room_id: idle SQL workers holding its tables (as they were) end. */
void jobs_room_published(const char *room_id);
/*
 * Delete the result of job_id in room_id, in a transaction of its own:
 * its blob (row and ciphertext) and its key go, and job.fetch says when.
 */
int job_result_delete(struct service *svc, const char *room_id, const char *job_id, struct dcr_err *err);

/*
 * Rooms (rooms.c): room.create, room.list (each in two parts, before and
 * under the call lock), and the methods on a room that calls.c enters and
 * permits: room.get, room.source, room.status, room.stop, audit.get.
 */
int room_create_prepare(struct service *svc, const struct dcr_call_request *req, struct call_prep *prep,
	struct dcr_err *err);
int room_create(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	char room_id[static 65], struct dcr_err *err);
int room_list_prepare(struct service *svc, const struct dcr_call_request *req, struct call_prep *prep,
	struct dcr_err *err);
int room_list_answer(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	char room_id[static 65], struct dcr_err *err);
int room_get(struct service *svc, const struct dcr_call_request *req, const struct room_ctx *rc,
	const char *room_id, uint8_t **out, size_t *out_len, struct dcr_err *err);
int room_source(struct service *svc, const struct dcr_call_request *req, const struct room_ctx *rc,
	const char *room_id, uint8_t **out, size_t *out_len, struct dcr_err *err);
int room_status(struct service *svc, const struct dcr_call_request *req, const struct room_ctx *rc,
	const char *room_id, uint8_t **out, size_t *out_len, struct dcr_err *err);
int room_stop(struct service *svc, const struct dcr_call_request *req, const struct room_ctx *rc,
	const char *room_id, uint8_t **out, size_t *out_len, struct dcr_err *err);
/*
 * audit.get: audit_get_prepare reads the log of a room the caller may
 * read, without the call lock, through the second connection, a page at
 * a time; room_audit, under the lock, adds what was appended since and
 * signs the head.
 */
int audit_get_prepare(struct service *svc, const struct dcr_call_request *req, struct call_prep *prep,
	struct dcr_err *err);
int room_audit(struct service *svc, const struct dcr_call_request *req, const struct room_ctx *rc,
	const char *room_id, uint8_t **out, size_t *out_len, struct dcr_err *err);

/*
 * The dispatch of calls (calls.c), from its table of methods. calls_prepare
 * does the part of an accepted call that needs no call lock, before it is
 * taken: for room.create, who may create, how often, and the validation
 * and compilation of the definition; for dataset.create and room.list, the
 * reads of the rooms that name the caller (through svc->reader); for
 * dataset.publish, the decryption and check of the dataset. A refusal
 * there is the call's answer; nothing was changed. call_prep_release
 * frees what prep holds.
 */
int calls_prepare(struct service *svc, const struct dcr_call_request *req, struct call_prep *prep,
	struct dcr_err *err);
void call_prep_release(struct call_prep *prep);
/*
 * Whether method's preparation is bulk work (room.create, dataset.publish),
 * to run outside the HTTP threads; calls_bulk_priority raises the calling
 * thread's nice value by 10 (at most 19; nothing where it cannot).
 */
bool calls_bulk(const char *method);
void calls_bulk_priority(void);

/*
 * Run an accepted call, under the call lock, with svc->prep from
 * calls_prepare. On success *out (free()) is the method's answer; on
 * refusal err carries the code and message the caller sees. room_id is
 * set once the caller is known to be in a room: the call is logged there.
 */
int calls_run(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
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

/*
 * The connection watchdog (watchdog.c): a deadline for each request's line
 * and headers, and a minimum pace for request bodies and for the client
 * taking answers, which libmicrohttpd's idle timeout does not give. conn_open when a connection is accepted,
 * conn_close when it closes (before its socket is); the others as a
 * request moves on. watchdog_busy(true) while the calling thread runs a
 * handler, false after: its connections wait for it through no fault of
 * their own. The watchdog's thread also runs chores (may be NULL) about
 * four times a second; they must not block for long.
 */
struct conn_limits {
	unsigned header_timeout_s; /* from accepting, or the end of the last request, to the end of the headers */
	uint64_t body_min_bytes;   /* a request body sends, and an answer's client takes, at least this much */
	unsigned body_window_s;    /* in every window of this many seconds */
};
struct conn;
int watchdog_start(const struct conn_limits *lim, void (*chores)(void), struct dcr_err *err);
void watchdog_stop(void);
struct conn *conn_open(int fd);
void conn_close(struct conn *c);
void conn_request(struct conn *c);
void conn_body(struct conn *c, size_t n);
void conn_answering(struct conn *c);
void conn_idle(struct conn *c);
void watchdog_busy(bool busy);
/*
 * A message of libmicrohttpd's (MHD_OPTION_EXTERNAL_LOGGER) on standard
 * error. Any client can cause such messages (a refused connection, a broken
 * request), as it can the watchdog's lines about dropped connections: of
 * each kind at most 20 are logged every 10 seconds, then how many were
 * left out.
 */
void library_log(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
/* Connections dropped so far: no complete headers in time, a body too slow, an answer taken too slowly. */
void watchdog_counts(unsigned long *headers, unsigned long *bodies, unsigned long *answers);

int cmd_serve(int argc, char **argv);

#endif
