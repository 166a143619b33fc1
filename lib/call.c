/* Calls to the enclave: signed by the caller's certificate key, encapsulated to the attested HPKE key. */
#include "call.h"

#include <ctype.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.pb-c.h"
#include "crypto.h"
#include "fileio.h"
#include "ident.h"

#include "banned.h"

#define SIGN_DOMAIN "dcr-call-v1"
#define MAX_CALL (1u << 20)
#define MAX_METHOD 64
#define REPLAY_BUCKETS 4096
#define REPLAY_MAX 1000000

/* ---- identities ---- */

/* The first usable rfc822Name of names, lowercased; frees names. */
static int names_email(GENERAL_NAMES *names, char out[static DCR_EMAIL_MAX + 1])
{
	int r = -1;

	for (int i = 0; names && i < sk_GENERAL_NAME_num(names) && r < 0; i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		const unsigned char *s;
		int len;

		if (gn->type != GEN_EMAIL)
			continue;
		s = ASN1_STRING_get0_data(gn->d.rfc822Name);
		len = ASN1_STRING_length(gn->d.rfc822Name);
		if (len <= 0 || len > DCR_EMAIL_MAX || memchr(s, '\0', (size_t)len))
			continue;
		for (int k = 0; k < len; k++)
			out[k] = (char)tolower(s[k]);
		out[len] = '\0';
		r = 0;
	}
	GENERAL_NAMES_free(names);
	return r;
}

int dcr_cert_email(X509 *cert, char out[static DCR_EMAIL_MAX + 1])
{
	return names_email(X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL), out);
}

/* The e-mail address of the first usable rfc822Name in the subject alternative names among exts, or -1. */
static int exts_email(const STACK_OF(X509_EXTENSION) *exts, char out[static DCR_EMAIL_MAX + 1])
{
	int r = names_email(exts ? X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL) : NULL, out);

	ERR_clear_error();
	return r;
}

int dcr_request_email(X509_REQ *req, char out[static DCR_EMAIL_MAX + 1])
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	int r = exts_email(exts, out);

	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return r;
}

void dcr_identity_free(struct dcr_identity *id)
{
	if (!id)
		return;
	EVP_PKEY_free(id->key);
	for (size_t i = 0; i < id->n_chain && i < DCR_CALL_MAX_CHAIN; i++)
		free(id->chain[i]);
	free(id->issuer);
	X509_REQ_free(id->request);
	free(id);
}

int dcr_identity_add_cert(struct dcr_identity *id, const uint8_t *der, size_t len, struct dcr_err *err)
{
	struct dcr_ident_cert c;
	unsigned char *issuer = NULL;
	int issuer_len = 0;

	if (id->n_chain >= DCR_CALL_MAX_CHAIN)
		return dcr_err_set(err, DCR_EINVALID, "a chain of more than %d certificates", DCR_CALL_MAX_CHAIN);
	if (dcr_ident_cert_peek(der, len, &c) < 0)
		return dcr_err_set(err, DCR_EINVALID, "not a certificate");
	if (id->n_chain == 0 && (issuer_len = i2d_X509_NAME(c.issuer, &issuer)) <= 0) {
		dcr_ident_cert_release(&c);
		ERR_clear_error();
		return dcr_err_set(err, DCR_EINVALID, "cannot encode the certificate's issuer");
	}
	/* What the certificate spans, as d2i_X509 read it: bytes after it were never sent. */
	len = c.used;
	dcr_ident_cert_release(&c);
	if (!(id->chain[id->n_chain] = malloc(len)) ||
	    (issuer && !(id->issuer = malloc((size_t)issuer_len)))) {
		free(id->chain[id->n_chain]);
		id->chain[id->n_chain] = NULL;
		OPENSSL_free(issuer);
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	}
	memcpy(id->chain[id->n_chain], der, len);
	id->chain_len[id->n_chain++] = len;
	if (issuer) {
		memcpy(id->issuer, issuer, (size_t)issuer_len);
		id->issuer_len = (size_t)issuer_len;
	}
	OPENSSL_free(issuer);
	return 0;
}

int dcr_identity_id(const struct dcr_identity *id, char out[static 65], struct dcr_err *err)
{
	uint8_t md[DCR_SHA256_LEN];
	struct dcr_sha256 *h;
	int r = 0;

	if (!id || id->n_chain == 0 || !id->issuer)
		return dcr_err_set(err, DCR_EINVALID, "the identity has no certificate");
	if (!(h = dcr_sha256_new()))
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if (r == 0 && (r = dcr_sha256_update(h, id->email, strlen(id->email) + 1, err)) == 0 &&
	    (r = dcr_sha256_update(h, id->issuer, id->issuer_len, err)) == 0 && (r = dcr_sha256_final(h, md, err)) == 0)
		dcr_hex(md, sizeof(md), out);
	dcr_sha256_free(h);
	return r;
}

int dcr_identity_login(const uint8_t *key_pem, size_t key_len, const uint8_t *csr_pem, size_t csr_len,
	struct dcr_identity **out, struct dcr_err *err)
{
	struct dcr_identity *id = calloc(1, sizeof(*id));
	EVP_PKEY *pub;
	BIO *bio;
	int r = 0;

	*out = NULL;
	if (!id)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if (key_len > INT_MAX || csr_len > INT_MAX) {
		r = dcr_err_set(err, DCR_EINVALID, "key or certificate request too large");
		goto out;
	}
	id->key = dcr_ident_read_key(key_pem, key_len);
	if (!id->key) {
		r = dcr_err_openssl(err, DCR_EINVALID, "not an unencrypted private key in PEM");
		goto out;
	}
	bio = BIO_new_mem_buf(csr_pem, (int)csr_len);
	id->request = bio ? PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!id->request) {
		r = dcr_err_openssl(err, DCR_EINVALID, "not a certificate request in PEM");
		goto out;
	}
	pub = X509_REQ_get0_pubkey(id->request);
	if (!pub || EVP_PKEY_eq(pub, id->key) != 1 || X509_REQ_verify(id->request, id->key) != 1) {
		ERR_clear_error();
		r = dcr_err_set(err, DCR_EINVALID, "the certificate request is not signed by the key");
		goto out;
	}
	if (dcr_request_email(id->request, id->email) < 0) {
		r = dcr_err_set(err, DCR_EINVALID, "the certificate request names no e-mail address");
		goto out;
	}
	*out = id;
	id = NULL;
out:
	dcr_identity_free(id);
	return r;
}

/*
 * The next certificate's DER in the PEM at bio (*der: OPENSSL_free), as
 * PEM_read_bio_X509 finds it: blocks of other types are skipped. 0 at the
 * end, or at a block that needs a pass phrase.
 */
static int next_cert(BIO *bio, unsigned char **der, long *len)
{
	char *name = NULL, *header = NULL;

	while (PEM_read_bio(bio, &name, &header, der, len) == 1) {
		bool cert = strcmp(name, PEM_STRING_X509) == 0 || strcmp(name, PEM_STRING_X509_OLD) == 0;
		bool plain = !*header;

		OPENSSL_free(name);
		OPENSSL_free(header);
		if (cert && plain && *len > 0)
			return 1;
		/* A skipped block may be a private key (a combined key and cert file): wiped (M-5). */
		OPENSSL_clear_free(*der, *len > 0 ? (size_t)*len : 0);
		*der = NULL;
		if (cert)
			break;
	}
	ERR_clear_error();
	return 0;
}

int dcr_identity_add_chain(struct dcr_identity *id, const uint8_t *pem, size_t len, struct dcr_err *err)
{
	unsigned char *der = NULL;
	long der_len;
	int r = 0;
	BIO *bio;

	if (len == 0)
		return 0;
	if (len > DCR_CALL_MAX_CHAIN_PEM)
		return dcr_err_set(err, DCR_EINVALID, "a certificate chain of more than %d bytes",
			DCR_CALL_MAX_CHAIN_PEM);
	if (!(bio = BIO_new_mem_buf(pem, (int)len)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	while (id->n_chain < DCR_CALL_MAX_CHAIN && next_cert(bio, &der, &der_len)) {
		r = dcr_identity_add_cert(id, der, (size_t)der_len, NULL);
		OPENSSL_free(der);
		der = NULL;
		if (r < 0)
			break;
	}
	BIO_free(bio);
	return r == DCR_ENOMEM ? dcr_err_set(err, DCR_ENOMEM, "out of memory") : 0;
}

int dcr_identity_load(const char *dir, struct dcr_identity **out, struct dcr_err *err)
{
	char key_path[4096], cert_path[4096];
	struct dcr_ident_cert leaf = { 0 };
	struct dcr_identity *id;
	uint8_t *pem = NULL;
	size_t len;
	int r;

	*out = NULL;
	snprintf(key_path, sizeof(key_path), "%s/key.pem", dir);
	snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", dir);
	if (!(id = calloc(1, sizeof(*id))))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if ((r = dcr_read_key_file(key_path, 64 << 10, &pem, &len, err)) < 0) {
		if (r == DCR_ENOTFOUND)
			dcr_err_set(err, DCR_ENOTFOUND, "no identity in '%s' (key.pem is missing)", dir);
		goto out;
	}
	id->key = dcr_ident_read_key(pem, len);
	dcr_wipe(pem, len);
	free(pem);
	pem = NULL;
	if (!id->key) {
		r = dcr_err_openssl(err, DCR_EINVALID, "'%s' holds no unencrypted private key", key_path);
		goto out;
	}
	if ((r = dcr_read_file(cert_path, DCR_CALL_MAX_CHAIN_PEM, &pem, &len, err)) < 0 ||
	    (r = dcr_identity_add_chain(id, pem, len, err)) < 0)
		goto out;
	if (id->n_chain == 0) {
		r = dcr_err_set(err, DCR_EINVALID, "'%s' holds no certificate", cert_path);
		goto out;
	}
	if (dcr_ident_cert_peek(id->chain[0], id->chain_len[0], &leaf) < 0 ||
	    !dcr_ident_cert_for_key(id->chain[0], id->chain_len[0], &leaf, id->key)) {
		r = dcr_err_set(err, DCR_EINVALID, "the certificate in '%s' is not for the key in '%s'", cert_path,
			key_path);
		goto out;
	}
	if (exts_email(leaf.exts, id->email) < 0) {
		r = dcr_err_set(err, DCR_EINVALID, "the certificate in '%s' names no e-mail address", cert_path);
		goto out;
	}
	*out = id;
	id = NULL;
out:
	dcr_ident_cert_release(&leaf);
	/* cert.pem's text: it may hold a private key beside the certificates (M-5). */
	if (pem)
		dcr_wipe(pem, len);
	free(pem);
	dcr_identity_free(id);
	return r;
}

/* ---- signing ---- */

/* "dcr-call-v1" || 0x00 || call: what the caller signs. */
static uint8_t *signed_bytes(const uint8_t *call, size_t len, size_t *out_len)
{
	return dcr_domain_message(SIGN_DOMAIN, call, len, out_len);
}

/* SHA-256 signatures for EC and RSA keys; Ed25519 signs the message itself. */
static const EVP_MD *digest_for(EVP_PKEY *key)
{
	return EVP_PKEY_get_id(key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
}

static int sign(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t **sig, size_t *sig_len, struct dcr_err *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int r = 0;

	*sig = NULL;
	if (!md || EVP_DigestSignInit(md, NULL, digest_for(key), NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, sig_len, msg, len) != 1 || !(*sig = malloc(*sig_len)) ||
	    EVP_DigestSign(md, *sig, sig_len, msg, len) != 1) {
		free(*sig);
		*sig = NULL;
		r = dcr_err_openssl(err, DCR_EFAIL, "cannot sign the call");
	}
	EVP_MD_CTX_free(md);
	return r;
}

static int verify(EVP_PKEY *key, const uint8_t *msg, size_t len, const uint8_t *sig, size_t sig_len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md && EVP_DigestVerifyInit(md, NULL, digest_for(key), NULL, key) == 1 &&
		EVP_DigestVerify(md, sig, sig_len, msg, len) == 1;

	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok ? 0 : -1;
}

/* ---- client ---- */

int dcr_call_seal(const struct dcr_identity *id, const struct dcr_enclave_public *enclave,
	const char *method, const uint8_t *body, size_t body_len, int64_t now_ms,
	struct dcr_ohttp_ctx *ctx, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	return dcr_call_seal_room(id, enclave, method, body, body_len, now_ms, NULL, 0, ctx, out, out_len, err);
}

/* Build, sign and encapsulate a call with this nonce; sk_e NULL draws a fresh ephemeral key. */
static int seal(const struct dcr_identity *id, const struct dcr_enclave_public *enclave, const char *method,
	const uint8_t *body, size_t body_len, int64_t now_ms, const char *audit_room, uint64_t known_size,
	const uint8_t nonce[static DCR_CALL_NONCE_LEN], const uint8_t *sk_e, struct dcr_ohttp_ctx *ctx, uint8_t **out,
	size_t *out_len, struct dcr_err *err)
{
	Dcr__V1__Call call = DCR__V1__CALL__INIT;
	Dcr__V1__SignedCall sc = DCR__V1__SIGNED_CALL__INIT;
	ProtobufCBinaryData chain[DCR_CALL_MAX_CHAIN];
	uint8_t key_id[32], *req_der = NULL;
	uint8_t *call_buf = NULL, *to_sign = NULL, *sig = NULL, *sc_buf = NULL, *req = NULL;
	size_t n = id->n_chain, call_len = 0, sign_len = 0, sig_len = 0, sc_len = 0;
	size_t req_len = 0;
	struct dcr_ohttp_keyconfig cfg;
	struct dcr_ohttp_alg alg;
	int r;

	*out = NULL;
	if (!enclave->ohttp_key_config)
		return dcr_err_set(err, DCR_EATTEST, "the enclave's evidence carries no key configuration");
	if ((r = dcr_ohttp_keyconfig_parse(enclave->ohttp_key_config, enclave->ohttp_key_config_len, &cfg, err)) < 0 ||
	    (r = dcr_ohttp_keyconfig_select(&cfg, &alg, err)) < 0)
		return r;
	/* The key configuration must carry the attested key, not some other one. */
	if (!dcr_ct_equal(cfg.pk, enclave->hpke_pk, 32))
		return dcr_err_set(err, DCR_EATTEST, "the enclave's key configuration is not for its attested key");
	if ((r = dcr_sha256(enclave->hpke_pk, 32, key_id, err)) < 0)
		return r;
	if (id->request) {
		/* A login: the request stands where the certificate would. */
		int len = i2d_X509_REQ(id->request, &req_der);

		if (len <= 0) {
			r = dcr_err_openssl(err, DCR_EFAIL, "cannot encode the certificate request");
			goto out;
		}
		chain[0] = (ProtobufCBinaryData){ (size_t)len, req_der };
		n = 1;
	}
	for (size_t i = 0; !id->request && i < n && i < DCR_CALL_MAX_CHAIN; i++)
		chain[i] = (ProtobufCBinaryData){ id->chain_len[i], id->chain[i] };
	call.n_certificate_chain = n;
	call.certificate_chain = chain;
	call.enclave_key_id = (ProtobufCBinaryData){ 32, key_id };
	call.timestamp_ms = now_ms;
	call.nonce = (ProtobufCBinaryData){ DCR_CALL_NONCE_LEN, (uint8_t *)nonce };
	call.method = (char *)method;
	call.body = (ProtobufCBinaryData){ body_len, (uint8_t *)body };
	if (audit_room) {
		call.audit_room = (char *)audit_room;
		call.audit_known_size = known_size;
	}
	call_len = dcr__v1__call__get_packed_size(&call);
	if (call_len > MAX_CALL) {
		r = dcr_err_set(err, DCR_EINVALID, "the call is larger than %u bytes", MAX_CALL);
		goto out;
	}
	if (!(call_buf = malloc(call_len))) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	dcr__v1__call__pack(&call, call_buf);
	if (!(to_sign = signed_bytes(call_buf, call_len, &sign_len))) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = sign(id->key, to_sign, sign_len, &sig, &sig_len, err)) < 0)
		goto out;
	sc.call = (ProtobufCBinaryData){ call_len, call_buf };
	sc.signature = (ProtobufCBinaryData){ sig_len, sig };
	sc_len = dcr__v1__signed_call__get_packed_size(&sc);
	if (!(sc_buf = malloc(sc_len)) || !(req = malloc(sc_len + DCR_OHTTP_REQUEST_OVERHEAD))) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	dcr__v1__signed_call__pack(&sc, sc_buf);
	r = sk_e ? dcr_ohttp_request_encapsulate_fixed(ctx, &cfg, alg, DCR_OHTTP_DCR_REQUEST, sk_e, sc_buf, sc_len, req,
			   sc_len + DCR_OHTTP_REQUEST_OVERHEAD, &req_len, err)
		 : dcr_ohttp_request_encapsulate(ctx, &cfg, alg, DCR_OHTTP_DCR_REQUEST, sc_buf, sc_len, req,
			   sc_len + DCR_OHTTP_REQUEST_OVERHEAD, &req_len, err);
	if (r < 0)
		goto out;
	*out = req;
	*out_len = req_len;
	req = NULL;
out:
	OPENSSL_free(req_der);
	/* The body may hold secrets (a login token, a dataset key). */
	if (call_buf)
		dcr_wipe(call_buf, call_len);
	if (to_sign)
		dcr_wipe(to_sign, sign_len);
	if (sc_buf)
		dcr_wipe(sc_buf, sc_len);
	free(call_buf);
	free(to_sign);
	free(sig);
	free(sc_buf);
	free(req);
	return r;
}

int dcr_call_seal_room(const struct dcr_identity *id, const struct dcr_enclave_public *enclave,
	const char *method, const uint8_t *body, size_t body_len, int64_t now_ms, const char *audit_room,
	uint64_t known_size, struct dcr_ohttp_ctx *ctx, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	uint8_t nonce[DCR_CALL_NONCE_LEN];
	int r;

	*out = NULL;
	if ((r = dcr_random(nonce, sizeof(nonce), err)) < 0)
		return r;
	return seal(id, enclave, method, body, body_len, now_ms, audit_room, known_size, nonce, NULL, ctx, out, out_len,
		err);
}

int dcr_call_seal_fixed(const struct dcr_identity *id, const struct dcr_enclave_public *enclave,
	const char *method, const uint8_t *body, size_t body_len, int64_t now_ms, const char *audit_room,
	uint64_t known_size, const uint8_t nonce[static DCR_CALL_NONCE_LEN], const uint8_t sk_e[static DCR_HPKE_NSK],
	struct dcr_ohttp_ctx *ctx, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	return seal(id, enclave, method, body, body_len, now_ms, audit_room, known_size, nonce, sk_e, ctx, out, out_len,
		err);
}

int dcr_call_open_result(struct dcr_ohttp_ctx *ctx, const uint8_t *resp, size_t len, int *code,
	char **message, uint8_t **body, size_t *body_len, struct dcr_err *err)
{
	return dcr_call_open_result_raw(ctx, resp, len, code, message, body, body_len, NULL, err);
}

int dcr_call_open_result_raw(struct dcr_ohttp_ctx *ctx, const uint8_t *resp, size_t len, int *code,
	char **message, uint8_t **body, size_t *body_len, Dcr__V1__CallResult **raw, struct dcr_err *err)
{
	Dcr__V1__CallResult *res;
	uint8_t *pt = malloc(len ? len : 1);
	struct dcr_err inner;
	size_t pt_len = 0;

	*message = NULL;
	*body = NULL;
	*body_len = 0;
	if (!pt)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if (dcr_ohttp_response_decapsulate(ctx, DCR_OHTTP_DCR_RESPONSE, resp, len, pt, len, &pt_len, &inner) < 0) {
		free(pt);
		return dcr_err_set(err, DCR_EINTEGRITY, "the enclave's answer does not decrypt: %s", inner.msg);
	}
	res = dcr__v1__call_result__unpack(NULL, pt_len, pt);
	free(pt);
	if (!res)
		return dcr_err_set(err, DCR_EINTEGRITY, "the enclave's answer is malformed");
	*code = res->code > 0 ? DCR_EFAIL : res->code;
	*message = strdup(res->message);
	*body = malloc(res->body.len ? res->body.len : 1);
	if (!*message || !*body) {
		free(*message);
		free(*body);
		*message = NULL;
		*body = NULL;
		dcr__v1__call_result__free_unpacked(res, NULL);
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	}
	if (res->body.len)
		memcpy(*body, res->body.data, res->body.len);
	*body_len = res->body.len;
	if (raw)
		*raw = res;
	else
		dcr__v1__call_result__free_unpacked(res, NULL);
	return 0;
}

/* ---- server ---- */

struct replay_entry {
	struct replay_entry *next;   /* in its bucket */
	struct replay_entry *older, *newer; /* unkept entries, oldest first */
	int64_t expires_ms;
	bool kept;
	uint8_t nonce[DCR_CALL_NONCE_LEN];
};

struct dcr_replay {
	pthread_mutex_t lock;
	size_t count, max;
	int64_t last_sweep_ms;
	uint8_t key[32];             /* buckets by a keyed hash: callers choose nonces, not buckets */
	struct replay_entry *oldest, *newest; /* the nonces not kept (dcr_replay_keep), in the order they came */
	struct replay_entry *buckets[REPLAY_BUCKETS];
};

struct dcr_replay *dcr_replay_new_bounded(size_t max)
{
	struct dcr_replay *r = calloc(1, sizeof(*r));

	if (r && (dcr_random(r->key, sizeof(r->key), NULL) < 0 || pthread_mutex_init(&r->lock, NULL) != 0)) {
		free(r);
		return NULL;
	}
	if (r)
		r->max = max ? max : REPLAY_MAX;
	return r;
}

struct dcr_replay *dcr_replay_new(void)
{
	return dcr_replay_new_bounded(REPLAY_MAX);
}

/* Take e off the list of unkept entries, if it is on it. */
static void unqueue(struct dcr_replay *r, struct replay_entry *e)
{
	if (e->kept)
		return;
	if (e->older)
		e->older->newer = e->newer;
	else
		r->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		r->newest = e->older;
	e->older = e->newer = NULL;
}

/* Forget the entry *link points to (in its bucket); with the lock held. */
static void forget(struct dcr_replay *r, struct replay_entry **link)
{
	struct replay_entry *e = *link;

	*link = e->next;
	unqueue(r, e);
	free(e);
	r->count--;
}

/* Drop expired entries from every bucket; with the lock held. */
static void replay_sweep(struct dcr_replay *r, int64_t now_ms)
{
	r->last_sweep_ms = now_ms;
	for (size_t i = 0; i < REPLAY_BUCKETS; i++)
		for (struct replay_entry **p = &r->buckets[i], *e; (e = *p);) {
			if (e->expires_ms < now_ms)
				forget(r, p);
			else
				p = &e->next;
		}
}

static size_t replay_bucket(const struct dcr_replay *r, const uint8_t nonce[static DCR_CALL_NONCE_LEN])
{
	uint8_t buf[sizeof(r->key) + DCR_CALL_NONCE_LEN], digest[DCR_SHA256_LEN];
	uint32_t v;

	memcpy(buf, r->key, sizeof(r->key));
	memcpy(buf + sizeof(r->key), nonce, DCR_CALL_NONCE_LEN);
	dcr_sha256(buf, sizeof(buf), digest, NULL);
	memcpy(&v, digest, sizeof(v));
	return v % REPLAY_BUCKETS;
}

void dcr_replay_free(struct dcr_replay *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < REPLAY_BUCKETS; i++)
		while (r->buckets[i]) {
			struct replay_entry *e = r->buckets[i];

			r->buckets[i] = e->next;
			free(e);
		}
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* Where nonce's entry is linked from in its bucket (*result NULL if it has none); with the lock held. */
static struct replay_entry **find(struct dcr_replay *r, const uint8_t nonce[static DCR_CALL_NONCE_LEN])
{
	struct replay_entry **p = &r->buckets[replay_bucket(r, nonce)];

	while (*p && memcmp((*p)->nonce, nonce, DCR_CALL_NONCE_LEN) != 0)
		p = &(*p)->next;
	return p;
}

/* 0 when nonce is new (and is now remembered), DCR_EINTEGRITY when seen before. */
static int replay_check(struct dcr_replay *r, const uint8_t nonce[static DCR_CALL_NONCE_LEN], int64_t now_ms,
	struct dcr_err *err)
{
	size_t b = replay_bucket(r, nonce);
	struct replay_entry **p, *e;
	int result = 0;

	pthread_mutex_lock(&r->lock);
	for (p = &r->buckets[b]; (e = *p);) {
		if (e->expires_ms < now_ms) {
			forget(r, p);
			continue;
		}
		if (memcmp(e->nonce, nonce, DCR_CALL_NONCE_LEN) == 0) {
			result = dcr_err_set(err, DCR_EINTEGRITY, "replayed call: this nonce was used before");
			goto out;
		}
		p = &e->next;
	}
	/* Expired entries elsewhere may still count; look at most once a second. */
	if (r->count >= r->max && now_ms - r->last_sweep_ms >= 1000)
		replay_sweep(r, now_ms);
	/*
	 * Full: forget the oldest nonce whose call was never recorded (refused
	 * before it ran, or still on its way), rather than refuse everyone;
	 * those of calls that ran stay for their whole window.
	 */
	if (r->count >= r->max && r->oldest)
		forget(r, find(r, r->oldest->nonce));
	if (r->count >= r->max) {
		result = dcr_err_set(err, DCR_EFAIL, "too many calls within the freshness window; try again later");
		goto out;
	}
	if (!(e = calloc(1, sizeof(*e)))) {
		result = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	/* A nonce need be kept only while its call could still pass as fresh. */
	e->expires_ms = now_ms + DCR_CALL_NONCE_KEEP_MS;
	memcpy(e->nonce, nonce, DCR_CALL_NONCE_LEN);
	e->next = r->buckets[b];
	r->buckets[b] = e;
	e->older = r->newest;
	if (r->newest)
		r->newest->newer = e;
	else
		r->oldest = e;
	r->newest = e;
	r->count++;
out:
	pthread_mutex_unlock(&r->lock);
	return result;
}

void dcr_replay_keep(struct dcr_replay *r, const uint8_t nonce[static DCR_CALL_NONCE_LEN])
{
	struct replay_entry *e;

	pthread_mutex_lock(&r->lock);
	if ((e = *find(r, nonce))) {
		unqueue(r, e);
		e->kept = true;
	}
	pthread_mutex_unlock(&r->lock);
}

void dcr_call_request_release(struct dcr_call_request *req)
{
	if (!req)
		return;
	free(req->method);
	if (req->body)
		dcr_wipe(req->body, req->body_len);
	free(req->body);
	sk_X509_pop_free(req->chain, X509_free);
	X509_REQ_free(req->request);
	memset(req, 0, sizeof(*req));
}

/*
 * Parsed certificates, by their DER bytes. dcrd parses the same few on
 * every call, the callers' chains and their rooms' CAs, and with OpenSSL 3
 * a parse (its public key goes through a decoder) cost more than the
 * chain's verification: 12 % of dcrd's CPU per job (docs/performance.md).
 * Only the parse is kept: the same bytes give the same certificate, and
 * every call's chain is still verified against its roots at its time. A
 * bounded table, the oldest entry replaced: other bytes only churn it.
 */
#define X509_CACHE 64
/*
 * Larger ones are parsed as before, each time: anyone may send a chain
 * before it is checked, and what is kept stays (review C6-1). Real
 * certificates are 0.5 to 2 KiB; at most 64 of 8 KiB, with their parses,
 * is about 2 MiB.
 */
#define X509_CACHE_DER_MAX 8192

static struct {
	uint8_t *der;
	size_t len, used;
	X509 *cert;
} x509_cache[X509_CACHE];
static size_t x509_cache_next;
static pthread_mutex_t x509_cache_lock = PTHREAD_MUTEX_INITIALIZER;

X509 *dcr_x509_parse_cached(const uint8_t *der, size_t len, size_t *used)
{
	const unsigned char *p = der;
	uint8_t *copy;
	X509 *cert;

	*used = 0;
	if (len == 0 || len > LONG_MAX)
		return NULL;
	if (len > X509_CACHE_DER_MAX) {
		cert = d2i_X509(NULL, &p, (long)len);
		*used = cert ? (size_t)(p - der) : 0;
		return cert;
	}
	pthread_mutex_lock(&x509_cache_lock);
	for (size_t i = 0; i < X509_CACHE; i++) {
		if (x509_cache[i].cert && x509_cache[i].len == len && memcmp(x509_cache[i].der, der, len) == 0 &&
		    X509_up_ref(x509_cache[i].cert) == 1) {
			*used = x509_cache[i].used;
			cert = x509_cache[i].cert;
			pthread_mutex_unlock(&x509_cache_lock);
			return cert;
		}
	}
	pthread_mutex_unlock(&x509_cache_lock);
	if (!(cert = d2i_X509(NULL, &p, (long)len)))
		return NULL;
	*used = (size_t)(p - der);
	/* Not kept when there is no memory for it, or its reference cannot be taken. */
	if (!(copy = malloc(len)))
		return cert;
	memcpy(copy, der, len);
	if (X509_up_ref(cert) != 1) {
		free(copy);
		return cert;
	}
	pthread_mutex_lock(&x509_cache_lock);
	size_t i = x509_cache_next++ % X509_CACHE;

	free(x509_cache[i].der);
	X509_free(x509_cache[i].cert);
	x509_cache[i].der = copy;
	x509_cache[i].len = len;
	x509_cache[i].used = *used;
	x509_cache[i].cert = cert;
	pthread_mutex_unlock(&x509_cache_lock);
	return cert;
}

static int parse_chain(const Dcr__V1__Call *call, struct dcr_call_request *out, struct dcr_err *err)
{
	if (call->n_certificate_chain == 0 || call->n_certificate_chain > DCR_CALL_MAX_CHAIN)
		return dcr_err_set(err, DCR_EINVALID, "a call carries 1 to %d certificates, not %zu", DCR_CALL_MAX_CHAIN,
			call->n_certificate_chain);
	if (!(out->chain = sk_X509_new_null()))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	for (size_t i = 0; i < call->n_certificate_chain; i++) {
		const unsigned char *p;
		size_t used;
		X509 *cert = dcr_x509_parse_cached(call->certificate_chain[i].data, call->certificate_chain[i].len, &used);

		if (!cert || used != call->certificate_chain[i].len) {
			X509_REQ *req;

			X509_free(cert);
			p = call->certificate_chain[i].data;
			req = d2i_X509_REQ(NULL, &p, (long)call->certificate_chain[i].len);
			X509_REQ_free(req);
			ERR_clear_error();
			if (req)
				return dcr_err_set(err, DCR_EDENIED, "a certificate request, not a certificate, signs the "
								     "call: it may only log in (%s), not call '%.64s'",
					DCR_CALL_LOGIN, call->method);
			return dcr_err_set(err, DCR_EINVALID, "certificate %zu of the call is malformed", i + 1);
		}
		sk_X509_push(out->chain, cert);
	}
	return 0;
}

/* A login call's certificate request: exactly one, well formed, signed by its own key. */
static int parse_request(const Dcr__V1__Call *call, struct dcr_call_request *out, struct dcr_err *err)
{
	const unsigned char *p;
	X509 *cert;

	if (call->n_certificate_chain != 1)
		return dcr_err_set(err, DCR_EINVALID, "a %s call carries one certificate request, not %zu items",
			DCR_CALL_LOGIN, call->n_certificate_chain);
	p = call->certificate_chain[0].data;
	out->request = d2i_X509_REQ(NULL, &p, (long)call->certificate_chain[0].len);
	if (!out->request || p != call->certificate_chain[0].data + call->certificate_chain[0].len) {
		p = call->certificate_chain[0].data;
		cert = d2i_X509(NULL, &p, (long)call->certificate_chain[0].len);
		X509_free(cert);
		ERR_clear_error();
		if (cert)
			return dcr_err_set(err, DCR_EINVALID, "a %s call carries a certificate request, not a certificate",
				DCR_CALL_LOGIN);
		return dcr_err_set(err, DCR_EINVALID, "the certificate request of the call is malformed");
	}
	if (!X509_REQ_get0_pubkey(out->request) ||
	    X509_REQ_verify(out->request, X509_REQ_get0_pubkey(out->request)) != 1) {
		ERR_clear_error();
		return dcr_err_set(err, DCR_EDENIED, "the certificate request's own signature does not verify");
	}
	return 0;
}

int dcr_call_accept(const uint8_t hpke_sk[static 32], const struct dcr_ohttp_keyconfig *cfg,
	const uint8_t *req, size_t len, int64_t now_ms, struct dcr_replay *replay,
	struct dcr_ohttp_ctx *ctx, struct dcr_call_request *out, struct dcr_err *err)
{
	Dcr__V1__SignedCall *sc = NULL;
	Dcr__V1__Call *call = NULL;
	uint8_t *pt = NULL, *to_sign = NULL, key_id[32];
	size_t pt_len = 0, sign_len = 0;
	EVP_PKEY *signer;
	bool login;
	int r;

	memset(out, 0, sizeof(*out));
	if (len > MAX_CALL + DCR_OHTTP_REQUEST_OVERHEAD + 1024)
		return dcr_err_set(err, DCR_EINVALID, "call too large");
	if (!(pt = malloc(len ? len : 1)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if ((r = dcr_ohttp_request_decapsulate(ctx, cfg, hpke_sk, DCR_OHTTP_DCR_REQUEST, req, len, pt, len, &pt_len,
		     err)) < 0)
		goto out;
	sc = dcr__v1__signed_call__unpack(NULL, pt_len, pt);
	if (!sc || !(call = dcr__v1__call__unpack(NULL, sc->call.len, sc->call.data))) {
		r = dcr_err_set(err, DCR_EINVALID, "malformed call");
		goto out;
	}
	if ((r = dcr_sha256(cfg->pk, 32, key_id, err)) < 0)
		goto out;
	if (call->enclave_key_id.len != 32 || !dcr_ct_equal(call->enclave_key_id.data, key_id, 32)) {
		r = dcr_err_set(err, DCR_EINTEGRITY, "the call was made for another enclave key");
		goto out;
	}
	/* In floating point: a hostile timestamp must not overflow the subtraction. */
	if (call->timestamp_ms < now_ms - DCR_CALL_MAX_AGE_MS) {
		r = dcr_err_set(err, DCR_EINTEGRITY, "stale call: its timestamp is %.0f s behind the enclave's clock "
						     "(at most %d s allowed)", ((double)now_ms - (double)call->timestamp_ms) / 1000,
			DCR_CALL_MAX_AGE_MS / 1000);
		goto out;
	}
	if (call->timestamp_ms > now_ms + DCR_CALL_MAX_AHEAD_MS) {
		r = dcr_err_set(err, DCR_EINTEGRITY, "call from the future: its timestamp is %.0f s ahead of the enclave's "
						     "clock (at most %d s allowed); the caller's clock is fast, correct it",
			((double)call->timestamp_ms - (double)now_ms) / 1000, DCR_CALL_MAX_AHEAD_MS / 1000);
		goto out;
	}
	if (call->nonce.len != DCR_CALL_NONCE_LEN) {
		r = dcr_err_set(err, DCR_EINVALID, "a call's nonce is %d bytes", DCR_CALL_NONCE_LEN);
		goto out;
	}
	if (!call->method || !*call->method || strlen(call->method) > MAX_METHOD) {
		r = dcr_err_set(err, DCR_EINVALID, "a call names no method");
		goto out;
	}
	login = strcmp(call->method, DCR_CALL_LOGIN) == 0;
	if ((r = login ? parse_request(call, out, err) : parse_chain(call, out, err)) < 0)
		goto out;
	/* Proof of possession: the caller holds the key of its certificate, or of its request. */
	signer = login ? X509_REQ_get0_pubkey(out->request) : X509_get0_pubkey(sk_X509_value(out->chain, 0));
	if (!(to_sign = signed_bytes(sc->call.data, sc->call.len, &sign_len))) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	if (!signer || verify(signer, to_sign, sign_len, sc->signature.data, sc->signature.len) < 0) {
		r = dcr_err_set(err, DCR_EDENIED, "the call's signature does not match its %s",
			login ? "certificate request" : "certificate");
		goto out;
	}
	if ((login ? dcr_request_email(out->request, out->email) : dcr_cert_email(sk_X509_value(out->chain, 0),
									      out->email)) < 0) {
		r = dcr_err_set(err, DCR_EDENIED, "the caller's %s names no e-mail address",
			login ? "certificate request" : "certificate");
		goto out;
	}
	/* Only a correctly signed call may use up its nonce. */
	if ((r = replay_check(replay, call->nonce.data, now_ms, err)) < 0)
		goto out;
	out->timestamp_ms = call->timestamp_ms;
	if (call->audit_room && strlen(call->audit_room) == 64) {
		memcpy(out->audit_room, call->audit_room, 65);
		out->audit_known_size = call->audit_known_size;
	}
	memcpy(out->nonce, call->nonce.data, DCR_CALL_NONCE_LEN);
	out->method = strdup(call->method);
	out->body = malloc(call->body.len ? call->body.len : 1);
	if (!out->method || !out->body) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	if (call->body.len)
		memcpy(out->body, call->body.data, call->body.len);
	out->body_len = call->body.len;
out:
	dcr__v1__call__free_unpacked(call, NULL);
	dcr__v1__signed_call__free_unpacked(sc, NULL);
	if (pt)
		dcr_wipe(pt, pt_len);
	if (to_sign)
		dcr_wipe(to_sign, sign_len);
	free(pt);
	free(to_sign);
	if (r < 0)
		dcr_call_request_release(out);
	return r;
}

int dcr_call_verify_chain(const struct dcr_call_request *req, const uint8_t *const *roots,
	const size_t *root_lens, size_t n_roots, time_t now, uint8_t issuer[DCR_SHA256_LEN], struct dcr_err *err)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	int r = 0, ok;

	if (!req->chain || sk_X509_num(req->chain) == 0) {
		r = dcr_err_set(err, DCR_EDENIED, "the caller '%s' has no certificate", req->email);
		goto out;
	}
	if (!store || !ctx || !untrusted) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_roots; i++) {
		size_t used;
		X509 *root = dcr_x509_parse_cached(roots[i], root_lens[i], &used);

		if (root)
			X509_STORE_add_cert(store, root);
		X509_free(root);
	}
	for (int i = 1; i < sk_X509_num(req->chain); i++)
		sk_X509_push(untrusted, sk_X509_value(req->chain, i));
	if (X509_STORE_CTX_init(ctx, store, sk_X509_value(req->chain, 0), untrusted) != 1) {
		r = dcr_err_openssl(err, DCR_EFAIL, "cannot set up certificate verification");
		goto out;
	}
	X509_STORE_CTX_set_time(ctx, 0, now);
	ok = X509_verify_cert(ctx);
	if (ok != 1) {
		r = dcr_err_set(err, DCR_EDENIED, "the caller's certificate for '%s' is not accepted here: %s", req->email,
			X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	} else if (issuer) {
		/* The verified chain ends at the trusted root that vouched for the caller. */
		STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
		unsigned int len = 0;

		if (!chain || sk_X509_num(chain) < 1 ||
		    X509_digest(sk_X509_value(chain, sk_X509_num(chain) - 1), EVP_sha256(), issuer, &len) != 1 ||
		    len != DCR_SHA256_LEN)
			r = dcr_err_openssl(err, DCR_EFAIL, "cannot fingerprint the caller's root certificate");
	}
out:
	ERR_clear_error();
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return r;
}

int dcr_call_respond(struct dcr_ohttp_ctx *ctx, int code, const char *message, const uint8_t *body,
	size_t body_len, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	return dcr_call_respond_room(ctx, code, message, body, body_len, NULL, NULL, 0, out, out_len, err);
}

static int respond(struct dcr_ohttp_ctx *ctx, const Dcr__V1__CallResult *res, uint8_t **out, size_t *out_len,
	struct dcr_err *err);

int dcr_call_respond_room(struct dcr_ohttp_ctx *ctx, int code, const char *message, const uint8_t *body,
	size_t body_len, Dcr__V1__SignedTreeHead *head, ProtobufCBinaryData *proof, size_t n_proof,
	uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	Dcr__V1__CallResult res = DCR__V1__CALL_RESULT__INIT;

	res.code = code;
	res.message = (char *)(message ? message : "");
	res.body = (ProtobufCBinaryData){ body_len, (uint8_t *)body };
	res.tree_head = head;
	res.consistency = proof;
	res.n_consistency = n_proof;
	return respond(ctx, &res, out, out_len, err);
}

int dcr_call_respond_fresh_from(struct dcr_ohttp_ctx *ctx, const char *message, int64_t fresh_from_ms,
	uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	Dcr__V1__CallResult res = DCR__V1__CALL_RESULT__INIT;

	res.code = DCR_EFAIL;
	res.message = (char *)(message ? message : "");
	res.fresh_from_ms = fresh_from_ms;
	return respond(ctx, &res, out, out_len, err);
}

static int respond(struct dcr_ohttp_ctx *ctx, const Dcr__V1__CallResult *res, uint8_t **out, size_t *out_len,
	struct dcr_err *err)
{
	uint8_t *pt, *resp;
	size_t len, resp_len = 0;
	int r;

	*out = NULL;
	len = dcr__v1__call_result__get_packed_size(res);
	pt = malloc(len ? len : 1);
	resp = malloc(len + DCR_OHTTP_RESPONSE_OVERHEAD_MAX);
	if (!pt || !resp) {
		free(pt);
		free(resp);
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	}
	dcr__v1__call_result__pack(res, pt);
	r = dcr_ohttp_response_encapsulate(ctx, DCR_OHTTP_DCR_RESPONSE, pt, len, resp,
		len + DCR_OHTTP_RESPONSE_OVERHEAD_MAX, &resp_len, err);
	free(pt);
	if (r < 0) {
		free(resp);
		return r;
	}
	*out = resp;
	*out_len = resp_len;
	return 0;
}
