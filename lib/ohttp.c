/* RFC 9458 Oblivious HTTP key configurations and message encapsulation. */
#include "ohttp.h"

#include <string.h>

#include "crypto.h"
#include "banned.h"

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Prefix the message of a failure from a lower layer, keeping its code even when err is NULL. */
static int fail(struct dcr_err *err, int code, const char *what)
{
	if (err)
		dcr_err_prefix(err, "OHTTP: cannot decapsulate %s", what);
	return code;
}

static int alg_supported(struct dcr_ohttp_alg alg)
{
	return alg.kdf_id == DCR_HPKE_KDF_HKDF_SHA256 && dcr_hpke_aead_nk(alg.aead_id) != 0;
}

static int alg_offered(const struct dcr_ohttp_keyconfig *cfg, struct dcr_ohttp_alg alg)
{
	for (size_t i = 0; i < cfg->n_algs && i < DCR_OHTTP_ALGS_MAX; i++)
		if (cfg->algs[i].kdf_id == alg.kdf_id && cfg->algs[i].aead_id == alg.aead_id)
			return 1;
	return 0;
}

size_t dcr_ohttp_keyconfig_size(const struct dcr_ohttp_keyconfig *cfg)
{
	if (cfg->n_algs == 0 || cfg->n_algs > DCR_OHTTP_ALGS_MAX)
		return 0;
	return 1 + 2 + DCR_HPKE_NPK + 2 + 4 * cfg->n_algs;
}

int dcr_ohttp_keyconfig_encode(const struct dcr_ohttp_keyconfig *cfg, uint8_t *out,
	size_t out_size, size_t *out_len, struct dcr_err *err)
{
	size_t n = dcr_ohttp_keyconfig_size(cfg), pos = 0;

	if (n == 0)
		return dcr_err_set(err, DCR_EINVALID,
			"OHTTP: a key configuration lists 1 to %d algorithm pairs, not %zu",
			DCR_OHTTP_ALGS_MAX, cfg->n_algs);
	if (cfg->kem_id != DCR_HPKE_KEM_X25519_SHA256)
		return dcr_err_set(err, DCR_EINVALID, "OHTTP: unsupported KEM 0x%04x", cfg->kem_id);
	if (out_size < n)
		return dcr_err_set(err, DCR_EINVALID,
			"OHTTP: key configuration needs %zu bytes, buffer has %zu", n, out_size);
	out[pos++] = cfg->key_id;
	put16(out + pos, cfg->kem_id);
	pos += 2;
	memcpy(out + pos, cfg->pk, DCR_HPKE_NPK);
	pos += DCR_HPKE_NPK;
	put16(out + pos, (uint16_t)(4 * cfg->n_algs));
	pos += 2;
	for (size_t i = 0; i < cfg->n_algs; i++) {
		put16(out + pos, cfg->algs[i].kdf_id);
		put16(out + pos + 2, cfg->algs[i].aead_id);
		pos += 4;
	}
	*out_len = pos;
	return 0;
}

int dcr_ohttp_keyconfig_parse(const uint8_t *buf, size_t len, struct dcr_ohttp_keyconfig *cfg,
	struct dcr_err *err)
{
	size_t algs_len, pos = 0;

	memset(cfg, 0, sizeof(*cfg));
	if (len < 3)
		return dcr_err_set(err, DCR_EINVALID,
			"OHTTP: key configuration of %zu bytes is truncated", len);
	cfg->key_id = buf[pos++];
	cfg->kem_id = get16(buf + pos);
	pos += 2;
	/* The KEM fixes the length of the public key: one we cannot use is one we cannot skip. */
	if (cfg->kem_id != DCR_HPKE_KEM_X25519_SHA256)
		return dcr_err_set(err, DCR_EINVALID,
			"OHTTP: key configuration uses unsupported KEM 0x%04x", cfg->kem_id);
	if (len - pos < DCR_HPKE_NPK + 2)
		return dcr_err_set(err, DCR_EINVALID,
			"OHTTP: key configuration of %zu bytes is truncated", len);
	memcpy(cfg->pk, buf + pos, DCR_HPKE_NPK);
	pos += DCR_HPKE_NPK;
	algs_len = get16(buf + pos);
	pos += 2;
	if (algs_len == 0 || algs_len % 4 != 0)
		return dcr_err_set(err, DCR_EINVALID,
			"OHTTP: key configuration's algorithm list is %zu bytes, not a positive multiple of 4",
			algs_len);
	if (algs_len != len - pos)
		return dcr_err_set(err, DCR_EINVALID,
			"OHTTP: key configuration's algorithm list is %zu bytes but %zu follow",
			algs_len, len - pos);
	if (algs_len / 4 > DCR_OHTTP_ALGS_MAX)
		return dcr_err_set(err, DCR_EINVALID,
			"OHTTP: key configuration lists %zu algorithm pairs; at most %d accepted",
			algs_len / 4, DCR_OHTTP_ALGS_MAX);
	cfg->n_algs = algs_len / 4;
	for (size_t i = 0; i < cfg->n_algs; i++, pos += 4) {
		cfg->algs[i].kdf_id = get16(buf + pos);
		cfg->algs[i].aead_id = get16(buf + pos + 2);
	}
	return 0;
}

int dcr_ohttp_keyconfig_select(const struct dcr_ohttp_keyconfig *cfg, struct dcr_ohttp_alg *alg,
	struct dcr_err *err)
{
	for (size_t i = 0; i < cfg->n_algs && i < DCR_OHTTP_ALGS_MAX; i++) {
		if (alg_supported(cfg->algs[i])) {
			*alg = cfg->algs[i];
			return 0;
		}
	}
	return dcr_err_set(err, DCR_EINVALID,
		"OHTTP: key %u offers no algorithms dcr supports (HKDF-SHA256 with AES-GCM)",
		cfg->key_id);
}

size_t dcr_ohttp_response_nonce_len(uint16_t aead_id)
{
	size_t nk = dcr_hpke_aead_nk(aead_id);

	if (nk == 0)
		return 0;
	return nk > DCR_HPKE_NN ? nk : DCR_HPKE_NN;
}

static int check_label(const char *label, struct dcr_err *err)
{
	size_t n = label ? strlen(label) : 0;

	if (n == 0 || n > DCR_OHTTP_LABEL_MAX)
		return dcr_err_set(err, DCR_EINVALID, "OHTTP: label must be 1 to %d bytes",
			DCR_OHTTP_LABEL_MAX);
	return 0;
}

/* info = label || 0x00 || hdr (RFC 9458 section 4.3); returns its length. */
static size_t request_info(const char *label, const uint8_t hdr[static DCR_OHTTP_HDR_LEN],
	uint8_t info[static DCR_OHTTP_LABEL_MAX + 1 + DCR_OHTTP_HDR_LEN])
{
	size_t n = strlen(label);

	memcpy(info, label, n);
	info[n++] = 0;
	memcpy(info + n, hdr, DCR_OHTTP_HDR_LEN);
	return n + DCR_OHTTP_HDR_LEN;
}

int dcr_ohttp_request_encapsulate_fixed(struct dcr_ohttp_ctx *ctx,
	const struct dcr_ohttp_keyconfig *cfg, struct dcr_ohttp_alg alg, const char *request_label,
	const uint8_t sk_e[static DCR_HPKE_NSK], const uint8_t *msg, size_t msg_len,
	uint8_t *out, size_t out_size, size_t *out_len, struct dcr_err *err)
{
	uint8_t hdr[DCR_OHTTP_HDR_LEN], info[DCR_OHTTP_LABEL_MAX + 1 + DCR_OHTTP_HDR_LEN];
	size_t info_len;
	int r;

	dcr_ohttp_ctx_release(ctx);
	r = check_label(request_label, err);
	if (r < 0)
		return r;
	if (cfg->kem_id != DCR_HPKE_KEM_X25519_SHA256)
		return dcr_err_set(err, DCR_EINVALID, "OHTTP: unsupported KEM 0x%04x", cfg->kem_id);
	if (!alg_supported(alg) || !alg_offered(cfg, alg))
		return dcr_err_set(err, DCR_EINVALID,
			"OHTTP: key %u does not offer KDF 0x%04x with AEAD 0x%04x, or dcr does not support it",
			cfg->key_id, alg.kdf_id, alg.aead_id);
	if (msg_len > DCR_HPKE_MSG_MAX || out_size < msg_len + DCR_OHTTP_REQUEST_OVERHEAD)
		return dcr_err_set(err, DCR_EINVALID,
			"OHTTP: a %zu-byte request does not fit in %zu bytes", msg_len, out_size);
	hdr[0] = cfg->key_id;
	put16(hdr + 1, cfg->kem_id);
	put16(hdr + 3, alg.kdf_id);
	put16(hdr + 5, alg.aead_id);
	info_len = request_info(request_label, hdr, info);
	r = dcr_hpke_setup_base_s_fixed(&ctx->hpke, ctx->enc, cfg->pk, sk_e, alg.aead_id,
		info, info_len, err);
	if (r == 0)
		r = dcr_hpke_seal(&ctx->hpke, NULL, 0, msg, msg_len,
			out + DCR_OHTTP_HDR_LEN + DCR_HPKE_NENC, err);
	if (r < 0) {
		dcr_ohttp_ctx_release(ctx);
		return r;
	}
	memcpy(out, hdr, DCR_OHTTP_HDR_LEN);
	memcpy(out + DCR_OHTTP_HDR_LEN, ctx->enc, DCR_HPKE_NENC);
	ctx->aead_id = alg.aead_id;
	*out_len = msg_len + DCR_OHTTP_REQUEST_OVERHEAD;
	return 0;
}

int dcr_ohttp_request_encapsulate(struct dcr_ohttp_ctx *ctx, const struct dcr_ohttp_keyconfig *cfg,
	struct dcr_ohttp_alg alg, const char *request_label, const uint8_t *msg, size_t msg_len,
	uint8_t *out, size_t out_size, size_t *out_len, struct dcr_err *err)
{
	uint8_t sk_e[DCR_HPKE_NSK];
	int r;

	dcr_ohttp_ctx_release(ctx);
	r = dcr_random(sk_e, sizeof(sk_e), err);
	if (r == 0)
		r = dcr_ohttp_request_encapsulate_fixed(ctx, cfg, alg, request_label, sk_e, msg,
			msg_len, out, out_size, out_len, err);
	dcr_wipe(sk_e, sizeof(sk_e));
	return r;
}

int dcr_ohttp_request_decapsulate(struct dcr_ohttp_ctx *ctx, const struct dcr_ohttp_keyconfig *cfg,
	const uint8_t sk[static DCR_HPKE_NSK], const char *request_label,
	const uint8_t *in, size_t in_len, uint8_t *out, size_t out_size, size_t *out_len,
	struct dcr_err *err)
{
	uint8_t info[DCR_OHTTP_LABEL_MAX + 1 + DCR_OHTTP_HDR_LEN];
	struct dcr_ohttp_alg alg;
	size_t info_len, ct_len;
	uint16_t kem_id;
	int r;

	dcr_ohttp_ctx_release(ctx);
	r = check_label(request_label, err);
	if (r < 0)
		return r;
	if (in_len < DCR_OHTTP_REQUEST_OVERHEAD)
		return dcr_err_set(err, DCR_EINVALID,
			"OHTTP: encapsulated request of %zu bytes is too short; at least %d needed",
			in_len, DCR_OHTTP_REQUEST_OVERHEAD);
	if (in[0] != cfg->key_id)
		return dcr_err_set(err, DCR_EINVALID, "OHTTP: request is for unknown key id %u", in[0]);
	kem_id = get16(in + 1);
	alg.kdf_id = get16(in + 3);
	alg.aead_id = get16(in + 5);
	if (kem_id != cfg->kem_id || kem_id != DCR_HPKE_KEM_X25519_SHA256)
		return dcr_err_set(err, DCR_EINVALID, "OHTTP: request uses KEM 0x%04x, not that of key %u",
			kem_id, cfg->key_id);
	if (!alg_supported(alg) || !alg_offered(cfg, alg))
		return dcr_err_set(err, DCR_EINVALID,
			"OHTTP: request uses KDF 0x%04x with AEAD 0x%04x, which key %u does not offer",
			alg.kdf_id, alg.aead_id, cfg->key_id);
	ct_len = in_len - DCR_OHTTP_HDR_LEN - DCR_HPKE_NENC;
	if (ct_len - DCR_HPKE_NT > DCR_HPKE_MSG_MAX || out_size < ct_len - DCR_HPKE_NT)
		return dcr_err_set(err, DCR_EINVALID,
			"OHTTP: a %zu-byte request does not fit in %zu bytes", ct_len - DCR_HPKE_NT, out_size);
	memcpy(ctx->enc, in + DCR_OHTTP_HDR_LEN, DCR_HPKE_NENC);
	info_len = request_info(request_label, in, info);
	r = dcr_hpke_setup_base_r(&ctx->hpke, ctx->enc, sk, alg.aead_id, info, info_len, err);
	if (r == 0)
		r = dcr_hpke_open(&ctx->hpke, NULL, 0, in + DCR_OHTTP_HDR_LEN + DCR_HPKE_NENC, ct_len,
			out, err);
	if (r < 0) {
		dcr_ohttp_ctx_release(ctx);
		return fail(err, r, "request");
	}
	ctx->aead_id = alg.aead_id;
	*out_len = ct_len - DCR_HPKE_NT;
	return 0;
}

/* The response's AEAD key and nonce (RFC 9458 section 4.4). */
static int response_keys(const struct dcr_ohttp_ctx *ctx, const char *label,
	const uint8_t *nonce, size_t nonce_len, uint8_t key[static DCR_HPKE_NK_MAX],
	uint8_t aead_nonce[static DCR_HPKE_NN], struct dcr_err *err)
{
	uint8_t secret[DCR_HPKE_NK_MAX], salt[DCR_HPKE_NENC + DCR_HPKE_NK_MAX], prk[DCR_SHA256_LEN];
	size_t nk = dcr_hpke_aead_nk(ctx->aead_id);
	int r;

	memcpy(salt, ctx->enc, DCR_HPKE_NENC);
	memcpy(salt + DCR_HPKE_NENC, nonce, nonce_len);
	r = dcr_hpke_export(&ctx->hpke, (const uint8_t *)label, strlen(label), secret, nk, err);
	if (r == 0)
		r = dcr_hkdf_extract(salt, DCR_HPKE_NENC + nonce_len, secret, nk, prk, err);
	if (r == 0)
		r = dcr_hkdf_expand(prk, (const uint8_t *)"key", 3, key, nk, err);
	if (r == 0)
		r = dcr_hkdf_expand(prk, (const uint8_t *)"nonce", 5, aead_nonce, DCR_HPKE_NN, err);
	dcr_wipe(secret, sizeof(secret));
	dcr_wipe(prk, sizeof(prk));
	return r;
}

/* ctx must come from the side of the exchange named by role. */
static int check_ctx(const struct dcr_ohttp_ctx *ctx, enum dcr_hpke_role role, const char *label,
	struct dcr_err *err)
{
	if (ctx->hpke.role != role || dcr_ohttp_response_nonce_len(ctx->aead_id) == 0)
		return dcr_err_set(err, DCR_EINVALID, "OHTTP: no %s request to respond to",
			role == DCR_HPKE_SENDER ? "encapsulated" : "decapsulated");
	return check_label(label, err);
}

int dcr_ohttp_response_encapsulate_fixed(struct dcr_ohttp_ctx *ctx, const char *response_label,
	const uint8_t *nonce, size_t nonce_len, const uint8_t *msg, size_t msg_len,
	uint8_t *out, size_t out_size, size_t *out_len, struct dcr_err *err)
{
	uint8_t key[DCR_HPKE_NK_MAX], aead_nonce[DCR_HPKE_NN];
	int r = check_ctx(ctx, DCR_HPKE_RECEIVER, response_label, err);

	if (r < 0)
		return r;
	/* The same request secret and nonce twice would reuse an AES-GCM nonce. */
	if (ctx->responded)
		return dcr_err_set(err, DCR_EINVALID, "OHTTP: this request already has a response");
	if (nonce_len != dcr_ohttp_response_nonce_len(ctx->aead_id))
		return dcr_err_set(err, DCR_EINVALID, "OHTTP: response nonce must be %zu bytes, not %zu",
			dcr_ohttp_response_nonce_len(ctx->aead_id), nonce_len);
	if (msg_len > DCR_HPKE_MSG_MAX || out_size < nonce_len + msg_len + DCR_HPKE_NT)
		return dcr_err_set(err, DCR_EINVALID,
			"OHTTP: a %zu-byte response does not fit in %zu bytes", msg_len, out_size);
	r = response_keys(ctx, response_label, nonce, nonce_len, key, aead_nonce, err);
	if (r == 0)
		r = dcr_hpke_aead_seal(ctx->aead_id, key, aead_nonce, NULL, 0, msg, msg_len,
			out + nonce_len, err);
	dcr_wipe(key, sizeof(key));
	dcr_wipe(aead_nonce, sizeof(aead_nonce));
	if (r < 0)
		return r;
	memcpy(out, nonce, nonce_len);
	ctx->responded = 1;
	*out_len = nonce_len + msg_len + DCR_HPKE_NT;
	return 0;
}

int dcr_ohttp_response_encapsulate(struct dcr_ohttp_ctx *ctx, const char *response_label,
	const uint8_t *msg, size_t msg_len, uint8_t *out, size_t out_size, size_t *out_len,
	struct dcr_err *err)
{
	uint8_t nonce[DCR_HPKE_NK_MAX];
	size_t nonce_len = dcr_ohttp_response_nonce_len(ctx->aead_id);
	int r = check_ctx(ctx, DCR_HPKE_RECEIVER, response_label, err);

	if (r == 0)
		r = dcr_random(nonce, nonce_len, err);
	if (r == 0)
		r = dcr_ohttp_response_encapsulate_fixed(ctx, response_label, nonce, nonce_len,
			msg, msg_len, out, out_size, out_len, err);
	return r;
}

int dcr_ohttp_response_decapsulate(struct dcr_ohttp_ctx *ctx, const char *response_label,
	const uint8_t *in, size_t in_len, uint8_t *out, size_t out_size, size_t *out_len,
	struct dcr_err *err)
{
	uint8_t key[DCR_HPKE_NK_MAX], aead_nonce[DCR_HPKE_NN];
	size_t nonce_len, ct_len;
	int r = check_ctx(ctx, DCR_HPKE_SENDER, response_label, err);

	if (r < 0)
		return r;
	nonce_len = dcr_ohttp_response_nonce_len(ctx->aead_id);
	if (in_len < nonce_len + DCR_HPKE_NT)
		return dcr_err_set(err, DCR_EINVALID,
			"OHTTP: encapsulated response of %zu bytes is too short; at least %zu needed",
			in_len, nonce_len + DCR_HPKE_NT);
	ct_len = in_len - nonce_len;
	if (ct_len - DCR_HPKE_NT > DCR_HPKE_MSG_MAX || out_size < ct_len - DCR_HPKE_NT)
		return dcr_err_set(err, DCR_EINVALID,
			"OHTTP: a %zu-byte response does not fit in %zu bytes", ct_len - DCR_HPKE_NT, out_size);
	r = response_keys(ctx, response_label, in, nonce_len, key, aead_nonce, err);
	if (r == 0)
		r = dcr_hpke_aead_open(ctx->aead_id, key, aead_nonce, NULL, 0, in + nonce_len, ct_len,
			out, err);
	dcr_wipe(key, sizeof(key));
	dcr_wipe(aead_nonce, sizeof(aead_nonce));
	if (r < 0)
		return fail(err, r, "response");
	*out_len = ct_len - DCR_HPKE_NT;
	return 0;
}

void dcr_ohttp_ctx_release(struct dcr_ohttp_ctx *ctx)
{
	dcr_wipe(ctx, ctx ? sizeof(*ctx) : 0);
}
