/* RFC 9458 (Oblivious HTTP) key configurations and request/response encapsulation over HPKE. */
#ifndef DCR_OHTTP_H
#define DCR_OHTTP_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "hpke.h"

/* The media-type labels RFC 9458 binds into requests and responses that carry Binary HTTP. */
#define DCR_OHTTP_BHTTP_REQUEST "message/bhttp request"
#define DCR_OHTTP_BHTTP_RESPONSE "message/bhttp response"
/* dcr carries a protobuf call instead, and labels it so it cannot pass for Binary HTTP. */
#define DCR_OHTTP_DCR_REQUEST "message/dcr-call request"
#define DCR_OHTTP_DCR_RESPONSE "message/dcr-call response"
#define DCR_OHTTP_LABEL_MAX 64

/* key_id || kem_id || kdf_id || aead_id */
#define DCR_OHTTP_HDR_LEN 7
/* Symmetric algorithm pairs a key configuration may list (RFC 9458 allows 16383). */
#define DCR_OHTTP_ALGS_MAX 32
/* An encoded key configuration is at most this long. */
#define DCR_OHTTP_KEYCONFIG_MAX (1 + 2 + DCR_HPKE_NPK + 2 + 4 * DCR_OHTTP_ALGS_MAX)

struct dcr_ohttp_alg {
	uint16_t kdf_id;
	uint16_t aead_id;
};

/*
 * A key configuration (RFC 9458 section 3.1). kem_id is always
 * DCR_HPKE_KEM_X25519_SHA256, the only KEM whose keys dcr can parse; algs
 * may list pairs dcr does not support, as a gateway may offer them.
 */
struct dcr_ohttp_keyconfig {
	uint8_t key_id;
	uint16_t kem_id;
	uint8_t pk[DCR_HPKE_NPK];
	size_t n_algs;
	struct dcr_ohttp_alg algs[DCR_OHTTP_ALGS_MAX];
};

/* Encoded size of cfg, or 0 when n_algs is out of range. */
size_t dcr_ohttp_keyconfig_size(const struct dcr_ohttp_keyconfig *cfg);

/* Encode cfg into out (out_size bytes); *out_len gets the length. */
int dcr_ohttp_keyconfig_encode(const struct dcr_ohttp_keyconfig *cfg, uint8_t *out,
	size_t out_size, size_t *out_len, struct dcr_err *err);

/*
 * Parse exactly one key configuration that fills all len bytes. DCR_EINVALID
 * for a short or overlong buffer, an unsupported KEM, an algorithm list whose
 * length is not a non-zero multiple of 4 or that holds more than
 * DCR_OHTTP_ALGS_MAX pairs.
 */
int dcr_ohttp_keyconfig_parse(const uint8_t *buf, size_t len, struct dcr_ohttp_keyconfig *cfg,
	struct dcr_err *err);

/* The first pair of cfg, in the gateway's order of preference, that dcr supports. */
int dcr_ohttp_keyconfig_select(const struct dcr_ohttp_keyconfig *cfg, struct dcr_ohttp_alg *alg,
	struct dcr_err *err);

/*
 * The state of one exchange, caller-owned on either side: the client's
 * request encapsulation fills it and its response decapsulation reads it;
 * the gateway's request decapsulation fills it and its response
 * encapsulation reads it (once: a second response is refused). It holds
 * keys, so dcr_ohttp_ctx_release it when done, whatever happened.
 */
struct dcr_ohttp_ctx {
	struct dcr_hpke_ctx hpke;
	uint8_t enc[DCR_HPKE_NENC];
	uint16_t aead_id;
	int responded;
};

/* Bytes an encapsulated request adds to the message: header, enc, tag. */
#define DCR_OHTTP_REQUEST_OVERHEAD (DCR_OHTTP_HDR_LEN + DCR_HPKE_NENC + DCR_HPKE_NT)
/* Bytes an encapsulated response adds: the nonce, max(Nn, Nk), and the tag. */
#define DCR_OHTTP_RESPONSE_OVERHEAD_MAX (DCR_HPKE_NK_MAX + DCR_HPKE_NT)
size_t dcr_ohttp_response_nonce_len(uint16_t aead_id);

/*
 * Client: encapsulate msg (at most DCR_HPKE_MSG_MAX bytes) for the gateway
 * key cfg with the symmetric algorithms alg (which cfg must list), binding
 * request_label (e.g. DCR_OHTTP_DCR_REQUEST). out needs msg_len +
 * DCR_OHTTP_REQUEST_OVERHEAD bytes; *out_len gets the length.
 */
int dcr_ohttp_request_encapsulate(struct dcr_ohttp_ctx *ctx, const struct dcr_ohttp_keyconfig *cfg,
	struct dcr_ohttp_alg alg, const char *request_label, const uint8_t *msg, size_t msg_len,
	uint8_t *out, size_t out_size, size_t *out_len, struct dcr_err *err);

/* The same with a given ephemeral private key: only for test vectors. */
int dcr_ohttp_request_encapsulate_fixed(struct dcr_ohttp_ctx *ctx,
	const struct dcr_ohttp_keyconfig *cfg, struct dcr_ohttp_alg alg, const char *request_label,
	const uint8_t sk_e[static DCR_HPKE_NSK], const uint8_t *msg, size_t msg_len,
	uint8_t *out, size_t out_size, size_t *out_len, struct dcr_err *err);

/*
 * Gateway: decapsulate the request in (in_len bytes) with the private key
 * sk that belongs to cfg. out needs in_len - DCR_OHTTP_REQUEST_OVERHEAD
 * bytes (in_len is enough). DCR_EINVALID for a malformed request, another
 * key id, or algorithms cfg does not offer; DCR_EINTEGRITY when it fails
 * authentication (including a different request_label).
 */
int dcr_ohttp_request_decapsulate(struct dcr_ohttp_ctx *ctx, const struct dcr_ohttp_keyconfig *cfg,
	const uint8_t sk[static DCR_HPKE_NSK], const char *request_label,
	const uint8_t *in, size_t in_len, uint8_t *out, size_t out_size, size_t *out_len,
	struct dcr_err *err);

/*
 * Gateway: encapsulate the response msg to the request ctx came from,
 * binding response_label (e.g. DCR_OHTTP_DCR_RESPONSE). out needs msg_len +
 * DCR_OHTTP_RESPONSE_OVERHEAD_MAX bytes.
 */
int dcr_ohttp_response_encapsulate(struct dcr_ohttp_ctx *ctx, const char *response_label,
	const uint8_t *msg, size_t msg_len, uint8_t *out, size_t out_size, size_t *out_len,
	struct dcr_err *err);

/* The same with a given response nonce of dcr_ohttp_response_nonce_len bytes: only for test vectors. */
int dcr_ohttp_response_encapsulate_fixed(struct dcr_ohttp_ctx *ctx, const char *response_label,
	const uint8_t *nonce, size_t nonce_len, const uint8_t *msg, size_t msg_len,
	uint8_t *out, size_t out_size, size_t *out_len, struct dcr_err *err);

/*
 * Client: decapsulate the gateway's response in to the request ctx sent.
 * out needs in_len bytes at most. DCR_EINVALID when in is too short to be a
 * response; DCR_EINTEGRITY when it fails authentication.
 */
int dcr_ohttp_response_decapsulate(struct dcr_ohttp_ctx *ctx, const char *response_label,
	const uint8_t *in, size_t in_len, uint8_t *out, size_t out_size, size_t *out_len,
	struct dcr_err *err);

/* Wipe ctx; accepts NULL. */
void dcr_ohttp_ctx_release(struct dcr_ohttp_ctx *ctx);

#endif
