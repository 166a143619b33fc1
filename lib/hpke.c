/* RFC 9180 HPKE base mode built from OpenSSL 3.0's X25519, HMAC and AES-GCM (it has no HPKE API). */
#include "hpke.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <string.h>

#include "crypto.h"
#include "banned.h"

#define MODE_BASE 0x00
#define VERSION_LABEL "HPKE-v1"
#define VERSION_LABEL_LEN 7
#define KEM_SUITE_LEN 5  /* "KEM" || kem_id */
#define HPKE_SUITE_LEN 10 /* "HPKE" || kem_id || kdf_id || aead_id */
#define LABEL_MAX 16
#define PIECE_MAX 1024 /* the largest ikm or info a labeled function is given */
#define LABELED_MAX (2 + VERSION_LABEL_LEN + HPKE_SUITE_LEN + LABEL_MAX + PIECE_MAX)

_Static_assert(DCR_HPKE_INFO_MAX <= PIECE_MAX && DCR_HPKE_IKM_MAX <= PIECE_MAX &&
	DCR_HPKE_EXPORT_CONTEXT_MAX <= PIECE_MAX, "labeled buffers too small");
_Static_assert(DCR_HPKE_MSG_MAX + DCR_HPKE_NT <= (unsigned)0x7fffffff, "OpenSSL takes int lengths");

static const uint8_t kem_suite[KEM_SUITE_LEN] = { 'K', 'E', 'M', 0x00, 0x20 };

size_t dcr_hpke_aead_nk(uint16_t aead_id)
{
	switch (aead_id) {
	case DCR_HPKE_AEAD_AES128GCM:
		return 16;
	case DCR_HPKE_AEAD_AES256GCM:
		return 32;
	default:
		return 0;
	}
}

static void hpke_suite(uint16_t aead_id, uint8_t suite[static HPKE_SUITE_LEN])
{
	const uint8_t s[HPKE_SUITE_LEN] = {
		'H', 'P', 'K', 'E',
		DCR_HPKE_KEM_X25519_SHA256 >> 8, DCR_HPKE_KEM_X25519_SHA256 & 0xff,
		DCR_HPKE_KDF_HKDF_SHA256 >> 8, DCR_HPKE_KDF_HKDF_SHA256 & 0xff,
		(uint8_t)(aead_id >> 8), (uint8_t)aead_id,
	};

	memcpy(suite, s, sizeof(s));
}

/* "HPKE-v1" || suite || label || piece, optionally behind a two-byte length; returns its size. */
static size_t labeled(uint8_t buf[static LABELED_MAX], int with_len, size_t len,
	const uint8_t *suite, size_t suite_len, const char *label,
	const uint8_t *piece, size_t piece_len)
{
	size_t label_len = strlen(label), n = 0;

	/* Every caller checks piece_len against a public bound first. */
	if (suite_len > HPKE_SUITE_LEN || label_len > LABEL_MAX || piece_len > PIECE_MAX)
		return 0;
	if (with_len) {
		buf[n++] = (uint8_t)(len >> 8);
		buf[n++] = (uint8_t)len;
	}
	memcpy(buf + n, VERSION_LABEL, VERSION_LABEL_LEN);
	n += VERSION_LABEL_LEN;
	memcpy(buf + n, suite, suite_len);
	n += suite_len;
	memcpy(buf + n, label, label_len);
	n += label_len;
	if (piece_len)
		memcpy(buf + n, piece, piece_len);
	return n + piece_len;
}

static int labeled_extract(const uint8_t *salt, size_t salt_len, const uint8_t *suite,
	size_t suite_len, const char *label, const uint8_t *ikm, size_t ikm_len,
	uint8_t prk[static DCR_HPKE_NH], struct dcr_err *err)
{
	uint8_t buf[LABELED_MAX];
	size_t n = labeled(buf, 0, 0, suite, suite_len, label, ikm, ikm_len);
	int r;

	if (n == 0)
		return dcr_err_set(err, DCR_EFAIL, "HPKE: LabeledExtract input too long");
	r = dcr_hkdf_extract(salt, salt_len, buf, n, prk, err);
	dcr_wipe(buf, sizeof(buf));
	return r;
}

static int labeled_expand(const uint8_t prk[static DCR_HPKE_NH], const uint8_t *suite,
	size_t suite_len, const char *label, const uint8_t *info, size_t info_len,
	uint8_t *out, size_t out_len, struct dcr_err *err)
{
	uint8_t buf[LABELED_MAX];
	size_t n;
	int r;

	if (out_len > DCR_HPKE_EXPORT_MAX)
		return dcr_err_set(err, DCR_EINVALID, "HPKE: %zu bytes requested, at most %d possible",
			out_len, DCR_HPKE_EXPORT_MAX);
	n = labeled(buf, 1, out_len, suite, suite_len, label, info, info_len);
	if (n == 0)
		return dcr_err_set(err, DCR_EFAIL, "HPKE: LabeledExpand input too long");
	r = dcr_hkdf_expand(prk, buf, n, out, out_len, err);
	dcr_wipe(buf, sizeof(buf));
	return r;
}

/* The receiver's key: dcrd opens every call with the same one. */
static struct dcr_kept_key receiver = DCR_KEPT_KEY_INIT;

/*
 * sk as an X25519 key, imported anew (kept NULL) or through kept, and its
 * public half into pk. OpenSSL computes the public half when it imports
 * the key (a scalar multiplication, as costly as the Diffie-Hellman
 * itself), so each private key is imported once and used for both.
 */
static EVP_PKEY *x25519_key(struct dcr_kept_key *kept, const uint8_t sk[static DCR_HPKE_NSK],
	uint8_t pk[static DCR_HPKE_NPK], struct dcr_err *err)
{
	EVP_PKEY *key = kept ? dcr_kept_key_get(kept, EVP_PKEY_X25519, sk) :
		EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, sk, DCR_HPKE_NSK);
	size_t len = DCR_HPKE_NPK;

	if (!key || EVP_PKEY_get_raw_public_key(key, pk, &len) != 1 || len != DCR_HPKE_NPK) {
		EVP_PKEY_free(key);
		dcr_err_openssl(err, DCR_EFAIL, "HPKE: cannot compute X25519 public key");
		return NULL;
	}
	return key;
}

void dcr_hpke_forget(void)
{
	dcr_kept_key_forget(&receiver);
}

int dcr_hpke_public(const uint8_t sk[static DCR_HPKE_NSK], uint8_t pk[static DCR_HPKE_NPK],
	struct dcr_err *err)
{
	EVP_PKEY *key = x25519_key(NULL, sk, pk, err);
	int r = key ? 0 : DCR_EFAIL;

	EVP_PKEY_free(key);
	return r;
}

int dcr_hpke_keygen(uint8_t sk[static DCR_HPKE_NSK], uint8_t pk[static DCR_HPKE_NPK],
	struct dcr_err *err)
{
	/* Any 32 bytes are an X25519 private key: the scalar is clamped on use. */
	int r = dcr_random(sk, DCR_HPKE_NSK, err);

	if (r == 0)
		r = dcr_hpke_public(sk, pk, err);
	if (r < 0)
		dcr_wipe(sk, DCR_HPKE_NSK);
	return r;
}

int dcr_hpke_derive_keypair(const uint8_t *ikm, size_t ikm_len, uint8_t sk[static DCR_HPKE_NSK],
	uint8_t pk[static DCR_HPKE_NPK], struct dcr_err *err)
{
	uint8_t prk[DCR_HPKE_NH];
	int r;

	/* Fewer than Nsk bytes of input cannot carry Nsk bytes of entropy (RFC 9180 section 7.1.3). */
	if (ikm_len < DCR_HPKE_NSK || ikm_len > DCR_HPKE_IKM_MAX)
		return dcr_err_set(err, DCR_EINVALID,
			"HPKE: key derivation input is %zu bytes; it must be %d to %d", ikm_len,
			DCR_HPKE_NSK, DCR_HPKE_IKM_MAX);
	r = labeled_extract(NULL, 0, kem_suite, sizeof(kem_suite), "dkp_prk", ikm, ikm_len, prk, err);
	if (r == 0)
		r = labeled_expand(prk, kem_suite, sizeof(kem_suite), "sk", NULL, 0, sk, DCR_HPKE_NSK, err);
	if (r == 0)
		r = dcr_hpke_public(sk, pk, err);
	if (r < 0)
		dcr_wipe(sk, DCR_HPKE_NSK);
	dcr_wipe(prk, sizeof(prk));
	return r;
}

/* X25519(priv, pk), refusing the all-zero output of a small-order pk (RFC 9180 section 7.1.4). */
static int x25519(EVP_PKEY *priv, const uint8_t pk[static DCR_HPKE_NPK], uint8_t dh[static 32], struct dcr_err *err)
{
	static const uint8_t zero[32];
	EVP_PKEY *peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pk, DCR_HPKE_NPK);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(priv, NULL);
	size_t len = 32;
	int r = 0;

	if (!peer || !ctx || EVP_PKEY_derive_init(ctx) != 1) {
		r = dcr_err_openssl(err, DCR_EFAIL, "HPKE: cannot set up X25519");
		goto out;
	}
	/* OpenSSL itself fails the derivation when the result is zero. */
	if (EVP_PKEY_derive_set_peer(ctx, peer) != 1 || EVP_PKEY_derive(ctx, dh, &len) != 1 ||
	    len != 32 || dcr_ct_equal(dh, zero, sizeof(zero))) {
		ERR_clear_error();
		dcr_wipe(dh, 32);
		r = dcr_err_set(err, DCR_EINVALID,
			"HPKE: X25519 public key is invalid (it has small order)");
	}
out:
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer);
	return r;
}

/* ExtractAndExpand(dh, enc || pkR) of DHKEM. */
static int kem_shared_secret(const uint8_t dh[static 32], const uint8_t enc[static DCR_HPKE_NENC],
	const uint8_t pk_r[static DCR_HPKE_NPK], uint8_t shared[static DCR_HPKE_NH],
	struct dcr_err *err)
{
	uint8_t kem_context[DCR_HPKE_NENC + DCR_HPKE_NPK], prk[DCR_HPKE_NH];
	int r;

	memcpy(kem_context, enc, DCR_HPKE_NENC);
	memcpy(kem_context + DCR_HPKE_NENC, pk_r, DCR_HPKE_NPK);
	r = labeled_extract(NULL, 0, kem_suite, sizeof(kem_suite), "eae_prk", dh, 32, prk, err);
	if (r == 0)
		r = labeled_expand(prk, kem_suite, sizeof(kem_suite), "shared_secret",
			kem_context, sizeof(kem_context), shared, DCR_HPKE_NH, err);
	dcr_wipe(prk, sizeof(prk));
	return r;
}

static int check_params(uint16_t aead_id, size_t info_len, struct dcr_err *err)
{
	if (dcr_hpke_aead_nk(aead_id) == 0)
		return dcr_err_set(err, DCR_EINVALID, "HPKE: unsupported AEAD 0x%04x", aead_id);
	if (info_len > DCR_HPKE_INFO_MAX)
		return dcr_err_set(err, DCR_EINVALID, "HPKE: info is %zu bytes; at most %d allowed",
			info_len, DCR_HPKE_INFO_MAX);
	return 0;
}

/* KeySchedule (RFC 9180 section 5.1) for mode_base: no PSK. */
static int key_schedule(struct dcr_hpke_ctx *ctx, enum dcr_hpke_role role, uint16_t aead_id,
	const uint8_t shared[static DCR_HPKE_NH], const uint8_t *info, size_t info_len,
	struct dcr_err *err)
{
	uint8_t suite[HPKE_SUITE_LEN], ks_context[1 + 2 * DCR_HPKE_NH], secret[DCR_HPKE_NH];
	size_t nk = dcr_hpke_aead_nk(aead_id);
	int r;

	hpke_suite(aead_id, suite);
	ks_context[0] = MODE_BASE;
	r = labeled_extract(NULL, 0, suite, sizeof(suite), "psk_id_hash", NULL, 0,
		ks_context + 1, err);
	if (r == 0)
		r = labeled_extract(NULL, 0, suite, sizeof(suite), "info_hash", info, info_len,
			ks_context + 1 + DCR_HPKE_NH, err);
	if (r == 0)
		r = labeled_extract(shared, DCR_HPKE_NH, suite, sizeof(suite), "secret", NULL, 0,
			secret, err);
	if (r == 0)
		r = labeled_expand(secret, suite, sizeof(suite), "key", ks_context,
			sizeof(ks_context), ctx->key, nk, err);
	if (r == 0)
		r = labeled_expand(secret, suite, sizeof(suite), "base_nonce", ks_context,
			sizeof(ks_context), ctx->base_nonce, DCR_HPKE_NN, err);
	if (r == 0)
		r = labeled_expand(secret, suite, sizeof(suite), "exp", ks_context,
			sizeof(ks_context), ctx->exporter_secret, DCR_HPKE_NH, err);
	dcr_wipe(secret, sizeof(secret));
	if (r < 0) {
		dcr_hpke_ctx_release(ctx);
		return r;
	}
	ctx->role = role;
	ctx->aead_id = aead_id;
	ctx->nk = nk;
	ctx->seq = 0;
	return 0;
}

int dcr_hpke_setup_base_s_fixed(struct dcr_hpke_ctx *ctx, uint8_t enc[static DCR_HPKE_NENC],
	const uint8_t pk_r[static DCR_HPKE_NPK], const uint8_t sk_e[static DCR_HPKE_NSK],
	uint16_t aead_id, const uint8_t *info, size_t info_len, struct dcr_err *err)
{
	uint8_t dh[32], shared[DCR_HPKE_NH];
	EVP_PKEY *key = NULL;
	int r;

	dcr_hpke_ctx_release(ctx);
	r = check_params(aead_id, info_len, err);
	if (r == 0 && !(key = x25519_key(NULL, sk_e, enc, err)))
		r = DCR_EFAIL;
	if (r == 0)
		r = x25519(key, pk_r, dh, err);
	if (r == 0)
		r = kem_shared_secret(dh, enc, pk_r, shared, err);
	if (r == 0)
		r = key_schedule(ctx, DCR_HPKE_SENDER, aead_id, shared, info, info_len, err);
	EVP_PKEY_free(key);
	dcr_wipe(dh, sizeof(dh));
	dcr_wipe(shared, sizeof(shared));
	return r;
}

int dcr_hpke_setup_base_s(struct dcr_hpke_ctx *ctx, uint8_t enc[static DCR_HPKE_NENC],
	const uint8_t pk_r[static DCR_HPKE_NPK], uint16_t aead_id,
	const uint8_t *info, size_t info_len, struct dcr_err *err)
{
	uint8_t sk_e[DCR_HPKE_NSK];
	int r;

	dcr_hpke_ctx_release(ctx);
	r = dcr_random(sk_e, sizeof(sk_e), err);
	if (r == 0)
		r = dcr_hpke_setup_base_s_fixed(ctx, enc, pk_r, sk_e, aead_id, info, info_len, err);
	dcr_wipe(sk_e, sizeof(sk_e));
	return r;
}

int dcr_hpke_setup_base_r(struct dcr_hpke_ctx *ctx, const uint8_t enc[static DCR_HPKE_NENC],
	const uint8_t sk_r[static DCR_HPKE_NSK], uint16_t aead_id,
	const uint8_t *info, size_t info_len, struct dcr_err *err)
{
	uint8_t dh[32], shared[DCR_HPKE_NH], pk_r[DCR_HPKE_NPK];
	EVP_PKEY *key = NULL;
	int r;

	dcr_hpke_ctx_release(ctx);
	r = check_params(aead_id, info_len, err);
	if (r == 0 && !(key = x25519_key(&receiver, sk_r, pk_r, err)))
		r = DCR_EFAIL;
	if (r == 0)
		r = x25519(key, enc, dh, err);
	if (r == 0)
		r = kem_shared_secret(dh, enc, pk_r, shared, err);
	if (r == 0)
		r = key_schedule(ctx, DCR_HPKE_RECEIVER, aead_id, shared, info, info_len, err);
	EVP_PKEY_free(key);
	dcr_wipe(dh, sizeof(dh));
	dcr_wipe(shared, sizeof(shared));
	return r;
}

static const EVP_CIPHER *aead_cipher(uint16_t aead_id)
{
	size_t nk = dcr_hpke_aead_nk(aead_id);

	return nk ? dcr_cipher_aes_gcm(nk) : NULL;
}

static int check_aead(uint16_t aead_id, size_t aad_len, size_t msg_len, struct dcr_err *err)
{
	if (!aead_cipher(aead_id))
		return dcr_err_set(err, DCR_EINVALID, "HPKE: unsupported AEAD 0x%04x", aead_id);
	if (aad_len > DCR_HPKE_MSG_MAX || msg_len > DCR_HPKE_MSG_MAX)
		return dcr_err_set(err, DCR_EINVALID, "HPKE: message of %zu bytes is too long; at most %u allowed",
			aad_len > msg_len ? aad_len : msg_len, DCR_HPKE_MSG_MAX);
	return 0;
}

int dcr_hpke_aead_seal(uint16_t aead_id, const uint8_t *key, const uint8_t nonce[static DCR_HPKE_NN],
	const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len, uint8_t *ct,
	struct dcr_err *err)
{
	EVP_CIPHER_CTX *c;
	int n, ok, r = check_aead(aead_id, aad_len, pt_len, err);

	if (r < 0)
		return r;
	c = EVP_CIPHER_CTX_new();
	/* GCM's default IV length is Nn, 12 bytes. */
	ok = c && EVP_EncryptInit_ex(c, aead_cipher(aead_id), NULL, key, nonce) == 1 &&
		(aad_len == 0 || EVP_EncryptUpdate(c, NULL, &n, aad, (int)aad_len) == 1) &&
		(pt_len == 0 || EVP_EncryptUpdate(c, ct, &n, pt, (int)pt_len) == 1) &&
		EVP_EncryptFinal_ex(c, ct + pt_len, &n) == 1 &&
		EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, DCR_HPKE_NT, ct + pt_len) == 1;
	EVP_CIPHER_CTX_free(c);
	if (!ok)
		return dcr_err_openssl(err, DCR_EFAIL, "HPKE: AES-GCM encryption failed");
	return 0;
}

int dcr_hpke_aead_open(uint16_t aead_id, const uint8_t *key, const uint8_t nonce[static DCR_HPKE_NN],
	const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len, uint8_t *pt,
	struct dcr_err *err)
{
	uint8_t tag[DCR_HPKE_NT];
	size_t pt_len;
	EVP_CIPHER_CTX *c;
	int n, r = check_aead(aead_id, aad_len, ct_len > DCR_HPKE_NT ? ct_len - DCR_HPKE_NT : 0, err);

	if (r < 0)
		return r;
	if (ct_len < DCR_HPKE_NT)
		return dcr_err_set(err, DCR_EINTEGRITY,
			"HPKE: ciphertext of %zu bytes is shorter than its %d-byte tag", ct_len, DCR_HPKE_NT);
	pt_len = ct_len - DCR_HPKE_NT;
	memcpy(tag, ct + pt_len, sizeof(tag));
	c = EVP_CIPHER_CTX_new();
	if (!c || EVP_DecryptInit_ex(c, aead_cipher(aead_id), NULL, key, nonce) != 1 ||
	    (aad_len > 0 && EVP_DecryptUpdate(c, NULL, &n, aad, (int)aad_len) != 1) ||
	    (pt_len > 0 && EVP_DecryptUpdate(c, pt, &n, ct, (int)pt_len) != 1) ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, DCR_HPKE_NT, tag) != 1) {
		r = dcr_err_openssl(err, DCR_EFAIL, "HPKE: AES-GCM decryption failed");
	} else if (EVP_DecryptFinal_ex(c, pt + pt_len, &n) != 1) {
		ERR_clear_error();
		r = dcr_err_set(err, DCR_EINTEGRITY,
			"HPKE: message failed authentication (wrong key, wrong associated data, or altered in transit)");
	}
	EVP_CIPHER_CTX_free(c);
	/* Decryption wrote unauthenticated plaintext: take it back. */
	if (r < 0)
		dcr_wipe(pt, pt_len);
	return r;
}

/* ComputeNonce: base_nonce XOR I2OSP(seq, Nn). */
static void compute_nonce(const struct dcr_hpke_ctx *ctx, uint8_t nonce[static DCR_HPKE_NN])
{
	memcpy(nonce, ctx->base_nonce, DCR_HPKE_NN);
	for (int i = 0; i < 8; i++)
		nonce[DCR_HPKE_NN - 1 - i] ^= (uint8_t)(ctx->seq >> (8 * i));
}

static int check_ctx(const struct dcr_hpke_ctx *ctx, enum dcr_hpke_role role, const char *what,
	struct dcr_err *err)
{
	if (ctx->role != role)
		return dcr_err_set(err, DCR_EINVALID, "HPKE: cannot %s with a %s context", what,
			ctx->role == DCR_HPKE_SENDER ? "sender" :
			ctx->role == DCR_HPKE_RECEIVER ? "receiver" : "released");
	/*
	 * The RFC allows 2^96 - 1 messages; 2^64 - 1 is plenty, and stopping
	 * before the counter wraps is what keeps a nonce from repeating.
	 */
	if (ctx->seq == UINT64_MAX)
		return dcr_err_set(err, DCR_EINVALID, "HPKE: message limit of this context reached");
	return 0;
}

int dcr_hpke_seal(struct dcr_hpke_ctx *ctx, const uint8_t *aad, size_t aad_len,
	const uint8_t *pt, size_t pt_len, uint8_t *ct, struct dcr_err *err)
{
	uint8_t nonce[DCR_HPKE_NN];
	int r = check_ctx(ctx, DCR_HPKE_SENDER, "seal", err);

	if (r < 0)
		return r;
	compute_nonce(ctx, nonce);
	r = dcr_hpke_aead_seal(ctx->aead_id, ctx->key, nonce, aad, aad_len, pt, pt_len, ct, err);
	if (r == 0)
		ctx->seq++;
	return r;
}

int dcr_hpke_open(struct dcr_hpke_ctx *ctx, const uint8_t *aad, size_t aad_len,
	const uint8_t *ct, size_t ct_len, uint8_t *pt, struct dcr_err *err)
{
	uint8_t nonce[DCR_HPKE_NN];
	int r = check_ctx(ctx, DCR_HPKE_RECEIVER, "open", err);

	if (r < 0)
		return r;
	compute_nonce(ctx, nonce);
	r = dcr_hpke_aead_open(ctx->aead_id, ctx->key, nonce, aad, aad_len, ct, ct_len, pt, err);
	if (r == 0)
		ctx->seq++;
	return r;
}

int dcr_hpke_export(const struct dcr_hpke_ctx *ctx, const uint8_t *exporter_context,
	size_t context_len, uint8_t *out, size_t out_len, struct dcr_err *err)
{
	uint8_t suite[HPKE_SUITE_LEN];

	if (ctx->role != DCR_HPKE_SENDER && ctx->role != DCR_HPKE_RECEIVER)
		return dcr_err_set(err, DCR_EINVALID, "HPKE: cannot export from a released context");
	if (context_len > DCR_HPKE_EXPORT_CONTEXT_MAX)
		return dcr_err_set(err, DCR_EINVALID,
			"HPKE: exporter context is %zu bytes; at most %d allowed", context_len,
			DCR_HPKE_EXPORT_CONTEXT_MAX);
	hpke_suite(ctx->aead_id, suite);
	return labeled_expand(ctx->exporter_secret, suite, sizeof(suite), "sec", exporter_context,
		context_len, out, out_len, err);
}

void dcr_hpke_ctx_release(struct dcr_hpke_ctx *ctx)
{
	dcr_wipe(ctx, ctx ? sizeof(*ctx) : 0);
}
