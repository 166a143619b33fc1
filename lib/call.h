/* Calls to the enclave: signed by the caller's certificate key, encapsulated to the attested HPKE key. */
#ifndef DCR_CALL_H
#define DCR_CALL_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "attest.h"
#include "call.pb-c.h"
#include "crypto.h"
#include "err.h"
#include "ohttp.h"

#define DCR_CALL_NONCE_LEN 16
/*
 * How far a call's timestamp may be from the enclave's clock: minutes
 * behind (a slow clock, a slow network), but only seconds ahead, so that a
 * call made before dcrd (re)started cannot pass for one made after it.
 */
#define DCR_CALL_MAX_AGE_MS (5 * 60 * 1000)
#define DCR_CALL_MAX_AHEAD_MS (5 * 1000)
/* How long an accepted call's nonce must be remembered: while the call could still pass as fresh. */
#define DCR_CALL_NONCE_KEEP_MS (DCR_CALL_MAX_AGE_MS + DCR_CALL_MAX_AHEAD_MS)
#define DCR_CALL_MAX_CHAIN 8
/* The most PEM text dcr_identity_add_chain reads (cert.pem). */
#define DCR_CALL_MAX_CHAIN_PEM (256 << 10)
#define DCR_EMAIL_MAX 254

/*
 * The one method a caller without a certificate may call: its Call carries
 * a certificate request (PKCS#10, DER) where others carry their chain, and
 * is signed by the request's key. dcrd answers with a certificate.
 */
#define DCR_CALL_LOGIN "auth.login"

/*
 * A user's identity: a private key and the certificate chain for it, leaf
 * first; or, only to log in (DCR_CALL_LOGIN), the key and a certificate
 * request for it, with an empty chain. The certificates are kept as their
 * DER, as they are sent: dcr reads from them only the leaf's issuer and
 * e-mail address (parsing one in full costs OpenSSL 3.0 a decoder set-up).
 */
struct dcr_identity {
	EVP_PKEY *key;
	size_t n_chain;
	uint8_t *chain[DCR_CALL_MAX_CHAIN]; /* each certificate's DER (malloc) */
	size_t chain_len[DCR_CALL_MAX_CHAIN];
	uint8_t *issuer; /* the DER of the leaf's issuer name (malloc) */
	size_t issuer_len;
	X509_REQ *request;             /* NULL unless a login identity */
	char email[DCR_EMAIL_MAX + 1]; /* from the leaf's (or request's) subject alternative name */
};

/*
 * Load key.pem (a private key) and cert.pem (the certificate chain, leaf
 * first) from dir. The leaf must hold the key's public half and an e-mail
 * subject alternative name. _free accepts NULL.
 */
int dcr_identity_load(const char *dir, struct dcr_identity **out, struct dcr_err *err);
void dcr_identity_free(struct dcr_identity *id);

/*
 * Append the certificate at the start of the len bytes at der (a copy of
 * its bytes, as d2i_X509 spans them: not what follows) to id's chain; the
 * first is the leaf, whose issuer is kept. DCR_EINVALID when it is no
 * certificate or the chain is full (DCR_CALL_MAX_CHAIN).
 */
int dcr_identity_add_cert(struct dcr_identity *id, const uint8_t *der, size_t len, struct dcr_err *err);

/*
 * Append the certificates of the PEM text of len bytes at pem to id's
 * chain (dcr_identity_load's cert.pem), as PEM_read_bio_X509 reads them
 * one after the other: blocks of other types are skipped; the chain ends
 * at the first certificate block that does not parse or needs a pass
 * phrase, or once it is full. 0 however many were read (id->n_chain),
 * none for len 0 (pem may then be NULL); DCR_EINVALID for more than
 * DCR_CALL_MAX_CHAIN_PEM bytes (nothing read); DCR_ENOMEM, and then the
 * certificates read before it stay appended (id is the caller's to free).
 */
int dcr_identity_add_chain(struct dcr_identity *id, const uint8_t *pem, size_t len, struct dcr_err *err);

/*
 * The identity as rooms know it, for the tree heads dcr keeps per identity:
 * SHA-256 of its e-mail address, a zero byte, and the DER of the leaf
 * certificate's issuer name, in lowercase hex. Renewing a certificate from
 * the same issuer (new key or not) keeps it. DCR_EINVALID without a
 * certificate (a login identity).
 */
int dcr_identity_id(const struct dcr_identity *id, char out[static 65], struct dcr_err *err);

/*
 * A login identity: the private key key_pem (PEM) and csr_pem, a
 * certificate request (PEM) signed by that key and naming an e-mail
 * address. It signs nothing but DCR_CALL_LOGIN calls. DCR_EINVALID when
 * the request is not for the key or names no e-mail address.
 */
int dcr_identity_login(const uint8_t *key_pem, size_t key_len, const uint8_t *csr_pem, size_t csr_len,
	struct dcr_identity **out, struct dcr_err *err);

/* The lowercase e-mail address of cert's first rfc822Name SAN, or -1. */
int dcr_cert_email(X509 *cert, char out[static DCR_EMAIL_MAX + 1]);

/* The same for a certificate request's requested extensions. */
int dcr_request_email(X509_REQ *req, char out[static DCR_EMAIL_MAX + 1]);

/*
 * Client: build, sign and encapsulate a call of method with body for the
 * attested enclave. ctx (caller-owned, released with dcr_ohttp_ctx_release)
 * keeps what is needed to open the answer. *out: free().
 */
int dcr_call_seal(const struct dcr_identity *id, const struct dcr_enclave_public *enclave,
	const char *method, const uint8_t *body, size_t body_len, int64_t now_ms,
	struct dcr_ohttp_ctx *ctx, uint8_t **out, size_t *out_len, struct dcr_err *err);

/*
 * The same for a room-scoped call: audit_room names the room and
 * known_size the size of its log in the last tree head this client saw,
 * so the answer can prove consistency with it.
 */
int dcr_call_seal_room(const struct dcr_identity *id, const struct dcr_enclave_public *enclave,
	const char *method, const uint8_t *body, size_t body_len, int64_t now_ms, const char *audit_room,
	uint64_t known_size, struct dcr_ohttp_ctx *ctx, uint8_t **out, size_t *out_len, struct dcr_err *err);

/*
 * dcr_call_seal_room with the nonce and the HPKE ephemeral private key
 * given instead of drawn: only for test vectors (the example of
 * dcr-protocol(7)). A nonce or an ephemeral key used twice breaks the
 * protocol's guarantees.
 */
int dcr_call_seal_fixed(const struct dcr_identity *id, const struct dcr_enclave_public *enclave,
	const char *method, const uint8_t *body, size_t body_len, int64_t now_ms, const char *audit_room,
	uint64_t known_size, const uint8_t nonce[static DCR_CALL_NONCE_LEN], const uint8_t sk_e[static DCR_HPKE_NSK],
	struct dcr_ohttp_ctx *ctx, uint8_t **out, size_t *out_len, struct dcr_err *err);

/*
 * Client: open the enclave's answer. *code is 0 or the negative DCR_E*
 * code the enclave reported, with its message in *message; *body is the
 * result. All three outputs are freed with free().
 */
int dcr_call_open_result(struct dcr_ohttp_ctx *ctx, const uint8_t *resp, size_t len, int *code,
	char **message, uint8_t **body, size_t *body_len, struct dcr_err *err);

/* The same, also handing back the whole decoded answer (free with dcr__v1__call_result__free_unpacked). */
int dcr_call_open_result_raw(struct dcr_ohttp_ctx *ctx, const uint8_t *resp, size_t len, int *code,
	char **message, uint8_t **body, size_t *body_len, Dcr__V1__CallResult **raw, struct dcr_err *err);

/*
 * Server: nonces seen within the freshness window, so a call is accepted
 * once; at most a million (dcr_replay_new) or max of them. When it is full,
 * the oldest nonce not kept (dcr_replay_keep) is forgotten to make room, and
 * a call is refused only while every nonce in it is kept.
 */
struct dcr_replay;
struct dcr_replay *dcr_replay_new(void);
struct dcr_replay *dcr_replay_new_bounded(size_t max);
void dcr_replay_free(struct dcr_replay *r);
/*
 * The call of this nonce is recorded where a replay will be found too (in
 * dcrd, its state database): keep the nonce for its whole window, however
 * many calls come. A nonce not kept, of a call refused before it ran, may
 * be forgotten early: its replay is then checked again like a call made
 * late, which the host could have done by delaying it.
 */
void dcr_replay_keep(struct dcr_replay *r, const uint8_t nonce[static DCR_CALL_NONCE_LEN]);

/*
 * A call the enclave accepted: decrypted, fresh, unreplayed, signed by its
 * leaf certificate's key; or, for DCR_CALL_LOGIN only, by the key of the
 * certificate request it carries (then chain is NULL).
 */
struct dcr_call_request {
	char *method;
	uint8_t *body;
	size_t body_len;
	int64_t timestamp_ms;
	uint8_t nonce[DCR_CALL_NONCE_LEN];
	char audit_room[65];       /* empty unless the caller named a room */
	uint64_t audit_known_size;
	char email[DCR_EMAIL_MAX + 1];
	STACK_OF(X509) *chain; /* leaf first; trust is checked by dcr_call_verify_chain */
	X509_REQ *request;     /* DCR_CALL_LOGIN only: its self-signature verified, email from it */
};

/*
 * Server: decapsulate req with the enclave's HPKE key and check the call:
 * well formed (DCR_EINVALID), meant for this enclave's key, stamped at
 * most DCR_CALL_MAX_AGE_MS before now_ms and DCR_CALL_MAX_AHEAD_MS after
 * it, and not replayed (DCR_EINTEGRITY; DCR_EFAIL when replay is full of
 * kept nonces), signed by the
 * key of its leaf certificate, which names an e-mail (DCR_EDENIED).
 * Whether the chain is trusted depends on the room: dcr_call_verify_chain.
 * A DCR_CALL_LOGIN call instead carries one certificate request whose
 * self-signature verifies, and is signed by its key (DCR_EDENIED if not);
 * a request is refused (DCR_EDENIED) for any other method.
 */
int dcr_call_accept(const uint8_t hpke_sk[static 32], const struct dcr_ohttp_keyconfig *cfg,
	const uint8_t *req, size_t len, int64_t now_ms, struct dcr_replay *replay,
	struct dcr_ohttp_ctx *ctx, struct dcr_call_request *out, struct dcr_err *err);
void dcr_call_request_release(struct dcr_call_request *req);

/*
 * d2i_X509 of der (len bytes), with the bytes it used in *used, from a
 * bounded table of the certificates parsed before (the same bytes give
 * the same certificate); a reference the caller frees. NULL if they are
 * no certificate. For dcrd, which parses the same chains and CAs on every
 * call; any thread.
 */
X509 *dcr_x509_parse_cached(const uint8_t *der, size_t len, size_t *used);

/*
 * Server: DCR_EDENIED unless the request's chain leads, at time now, to one
 * of the n_roots DER root certificates (never for a login request, which
 * has no chain). On success, issuer (if not NULL) is the SHA-256 of the DER
 * of the root it leads to.
 */
int dcr_call_verify_chain(const struct dcr_call_request *req, const uint8_t *const *roots,
	const size_t *root_lens, size_t n_roots, time_t now, uint8_t issuer[DCR_SHA256_LEN], struct dcr_err *err);

/* Server: the encapsulated answer to the request ctx came from. *out: free(). */
int dcr_call_respond(struct dcr_ohttp_ctx *ctx, int code, const char *message, const uint8_t *body,
	size_t body_len, uint8_t **out, size_t *out_len, struct dcr_err *err);

/* The same with a room's signed tree head and the consistency proof (n hashes) for the caller. */
int dcr_call_respond_room(struct dcr_ohttp_ctx *ctx, int code, const char *message, const uint8_t *body,
	size_t body_len, Dcr__V1__SignedTreeHead *head, ProtobufCBinaryData *proof, size_t n_proof,
	uint8_t **out, size_t *out_len, struct dcr_err *err);

/*
 * The refusal (code DCR_EFAIL) of a call stamped before fresh_from_ms, the
 * earliest timestamp dcrd accepts since it (re)started, which it carries.
 */
int dcr_call_respond_fresh_from(struct dcr_ohttp_ctx *ctx, const char *message, int64_t fresh_from_ms,
	uint8_t **out, size_t *out_len, struct dcr_err *err);

#endif
