/* Unit tests for lib/call.c: signed, encapsulated calls and every way the enclave refuses one. */
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "api.pb-c.h"
#include "attest.h"
#include "audit.h"
#include "call.h"
#include "crypto.h"
#include "hpke.h"
#include "pki.h"

static EVP_PKEY *ec_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	assert_non_null(k);
	return k;
}

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	assert_non_null(ext);
	X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
}

/* A certificate for key, signed by issuer_key (self-signed when issuer is NULL). */
static X509 *make_cert(EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, const char *cn, const char *email,
	long days_from, long days_to)
{
	X509 *cert = X509_new();
	X509_NAME *name = X509_NAME_new();
	static long serial = 1;

	X509_set_version(cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(cert, name);
	X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name);
	X509_gmtime_adj(X509_getm_notBefore(cert), days_from * 86400);
	X509_gmtime_adj(X509_getm_notAfter(cert), days_to * 86400);
	X509_set_pubkey(cert, key);
	if (email) {
		char san[300];

		snprintf(san, sizeof(san), "email:%s", email);
		add_ext(cert, issuer ? issuer : cert, NID_subject_alt_name, san);
		add_ext(cert, issuer ? issuer : cert, NID_basic_constraints, "critical,CA:FALSE");
	} else {
		add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign");
	}
	assert_true(X509_sign(cert, issuer_key, EVP_sha256()) > 0);
	X509_NAME_free(name);
	return cert;
}

struct world {
	EVP_PKEY *ca_key, *other_ca_key;
	X509 *ca, *other_ca, *alice_cert;
	struct dcr_identity *alice;
	uint8_t hpke_sk[32];
	struct dcr_ohttp_keyconfig cfg;
	uint8_t cfg_buf[DCR_OHTTP_KEYCONFIG_MAX];
	struct dcr_enclave_public pub;
	struct dcr_replay *replay;
	uint8_t *ca_der;
	size_t ca_der_len;
};

/* An identity of key and the certificate leaf (both taken). */
static struct dcr_identity *identity(EVP_PKEY *key, X509 *leaf, const char *email)
{
	struct dcr_identity *id = calloc(1, sizeof(*id));
	unsigned char *der = NULL;
	int len = i2d_X509(leaf, &der);

	assert_non_null(id);
	assert_true(len > 0);
	id->key = key;
	assert_int_equal(dcr_identity_add_cert(id, der, (size_t)len, NULL), 0);
	snprintf(id->email, sizeof(id->email), "%s", email);
	OPENSSL_free(der);
	X509_free(leaf);
	return id;
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	EVP_PKEY *alice_key = ec_key();
	unsigned char *der = NULL;
	size_t len;

	w->ca_key = ec_key();
	w->other_ca_key = ec_key();
	w->ca = make_cert(w->ca_key, NULL, w->ca_key, "acme-ca", NULL, -1, 365);
	w->other_ca = make_cert(w->other_ca_key, NULL, w->other_ca_key, "other-ca", NULL, -1, 365);
	w->alice_cert = make_cert(alice_key, w->ca, w->ca_key, "alice", "Alice@Acme.example", -1, 30);
	assert_int_equal(X509_up_ref(w->alice_cert), 1);
	w->alice = identity(alice_key, w->alice_cert, "alice@acme.example");
	assert_int_equal(dcr_hpke_keygen(w->hpke_sk, w->pub.hpke_pk, NULL), 0);
	w->cfg.key_id = 1;
	w->cfg.kem_id = DCR_HPKE_KEM_X25519_SHA256;
	memcpy(w->cfg.pk, w->pub.hpke_pk, 32);
	w->cfg.n_algs = 1;
	w->cfg.algs[0] = (struct dcr_ohttp_alg){ DCR_HPKE_KDF_HKDF_SHA256, DCR_HPKE_AEAD_AES256GCM };
	assert_int_equal(dcr_ohttp_keyconfig_encode(&w->cfg, w->cfg_buf, sizeof(w->cfg_buf), &len, NULL), 0);
	w->pub.ohttp_key_config = w->cfg_buf;
	w->pub.ohttp_key_config_len = len;
	w->replay = dcr_replay_new();
	w->ca_der_len = (size_t)i2d_X509(w->ca, &der);
	w->ca_der = der;
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	dcr_identity_free(w->alice);
	X509_free(w->alice_cert);
	X509_free(w->ca);
	X509_free(w->other_ca);
	EVP_PKEY_free(w->ca_key);
	EVP_PKEY_free(w->other_ca_key);
	dcr_replay_free(w->replay);
	OPENSSL_free(w->ca_der);
	free(w);
	return 0;
}

static const int64_t now_ms = 1764000000000;

static void seal(struct world *w, const struct dcr_identity *id, const char *body, struct dcr_ohttp_ctx *ctx,
	uint8_t **req, size_t *len)
{
	struct dcr_err err;

	memset(ctx, 0, sizeof(*ctx));
	if (dcr_call_seal(id, &w->pub, "rooms.list", (const uint8_t *)body, strlen(body), now_ms, ctx, req, len, &err) < 0)
		fail_msg("seal: %s", err.msg);
}

/*
 * Minutes behind the enclave's clock are fine, seconds ahead only: a call
 * stamped ahead could otherwise outlive a restart of dcrd (issue 12, item 6).
 */
static void test_freshness_window(void **state)
{
	static const struct {
		int64_t ahead_ms;        /* of the call's timestamp over the enclave's clock */
		int want;
		const char *msg;
	} cases[] = {
		{ 0, 0, NULL },
		{ DCR_CALL_MAX_AHEAD_MS, 0, NULL },
		{ DCR_CALL_MAX_AHEAD_MS + 1, DCR_EINTEGRITY, "call from the future: its timestamp is 5 s ahead" },
		{ 240 * 1000, DCR_EINTEGRITY, "call from the future: its timestamp is 240 s ahead of the enclave's clock "
					      "(at most 5 s allowed); the caller's clock is fast, correct it" },
		{ -DCR_CALL_MAX_AGE_MS, 0, NULL },
		{ -240 * 1000, 0, NULL },
		{ -DCR_CALL_MAX_AGE_MS - 1, DCR_EINTEGRITY, "stale call: its timestamp is 300 s behind" },
		{ INT64_MAX / 2, DCR_EINTEGRITY, "call from the future" },
	};
	struct world *w = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct dcr_ohttp_ctx cctx, sctx = { 0 };
		struct dcr_call_request req;
		struct dcr_err err = { 0 };
		uint8_t *wire;
		size_t len;
		int r;

		/* The call is sealed at now_ms; the enclave's clock stands ahead_ms behind it. */
		seal(w, w->alice, "x", &cctx, &wire, &len);
		r = dcr_call_accept(w->hpke_sk, &w->cfg, wire, len, now_ms - cases[i].ahead_ms, w->replay, &sctx, &req, &err);
		if (r != cases[i].want || (cases[i].msg && !strstr(err.msg, cases[i].msg)))
			fail_msg("case %zu: got %d '%s'", i, r, r ? err.msg : "");
		if (r == 0)
			dcr_call_request_release(&req);
		dcr_ohttp_ctx_release(&sctx);
		dcr_ohttp_ctx_release(&cctx);
		free(wire);
	}
}

static void test_roundtrip(void **state)
{
	struct world *w = *state;
	struct dcr_ohttp_ctx cctx, sctx = { 0 };
	struct dcr_call_request req;
	const uint8_t *roots[] = { w->ca_der };
	size_t root_lens[] = { w->ca_der_len };
	uint8_t *wire, *resp, *body;
	size_t len, resp_len, body_len;
	struct dcr_err err;
	char *message;
	int code;

	seal(w, w->alice, "hello", &cctx, &wire, &len);
	/* The body travels encrypted. */
	for (size_t i = 0; i + 5 <= len; i++)
		assert_memory_not_equal(wire + i, "hello", 5);
	assert_int_equal(dcr_call_accept(w->hpke_sk, &w->cfg, wire, len, now_ms + 1000, w->replay, &sctx, &req, &err), 0);
	assert_string_equal(req.method, "rooms.list");
	assert_int_equal(req.body_len, 5);
	assert_memory_equal(req.body, "hello", 5);
	assert_string_equal(req.email, "alice@acme.example");
	assert_int_equal(dcr_call_verify_chain(&req, roots, root_lens, 1, time(NULL), NULL, &err), 0);
	/* The issuer is the root the chain ends at: the SHA-256 of its DER. */
	{
		uint8_t issuer[32], want[32], *other = NULL;
		int other_len = i2d_X509(w->other_ca, &other);
		const uint8_t *two[] = { other, w->ca_der };
		size_t two_lens[] = { (size_t)other_len, w->ca_der_len };

		assert_true(other_len > 0);
		assert_int_equal(dcr_sha256(w->ca_der, w->ca_der_len, want, &err), 0);
		memset(issuer, 0, sizeof(issuer));
		assert_int_equal(dcr_call_verify_chain(&req, two, two_lens, 2, time(NULL), issuer, &err), 0);
		assert_memory_equal(issuer, want, 32);
		assert_int_equal(dcr_call_verify_chain(&req, two, two_lens, 1, time(NULL), issuer, &err), DCR_EDENIED);
		OPENSSL_free(other);
	}
	assert_int_equal(dcr_call_respond(&sctx, DCR_EDENIED, "no", (const uint8_t *)"xy", 2, &resp, &resp_len, &err), 0);
	assert_int_equal(dcr_call_open_result(&cctx, resp, resp_len, &code, &message, &body, &body_len, &err), 0);
	assert_int_equal(code, DCR_EDENIED);
	assert_string_equal(message, "no");
	assert_int_equal(body_len, 2);
	free(message);
	free(body);
	dcr_ohttp_ctx_release(&cctx);
	dcr_ohttp_ctx_release(&sctx);
	dcr_call_request_release(&req);
	free(resp);

	/* The same request again: a replay. */
	memset(&sctx, 0, sizeof(sctx));
	assert_int_equal(dcr_call_accept(w->hpke_sk, &w->cfg, wire, len, now_ms + 2000, w->replay, &sctx, &req, &err),
		DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "replayed"));
	dcr_ohttp_ctx_release(&sctx);
	free(wire);
}

static void test_refusals(void **state)
{
	struct world *w = *state;
	struct dcr_ohttp_ctx cctx, sctx;
	struct dcr_call_request req;
	uint8_t *wire, other_sk[32], other_pk[32];
	struct dcr_ohttp_keyconfig other_cfg;
	const uint8_t *roots[] = { w->ca_der };
	size_t root_lens[] = { w->ca_der_len };
	struct dcr_err err;
	size_t len;

	/* Stale, in both directions. */
	seal(w, w->alice, "x", &cctx, &wire, &len);
	memset(&sctx, 0, sizeof(sctx));
	assert_int_equal(dcr_call_accept(w->hpke_sk, &w->cfg, wire, len, now_ms + 6 * 60 * 1000, w->replay, &sctx, &req,
				 &err), DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "stale call"));
	dcr_ohttp_ctx_release(&sctx);
	memset(&sctx, 0, sizeof(sctx));
	assert_int_equal(dcr_call_accept(w->hpke_sk, &w->cfg, wire, len, now_ms - 6 * 60 * 1000, w->replay, &sctx, &req,
				 &err), DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "call from the future"));
	dcr_ohttp_ctx_release(&sctx);

	/* Another enclave cannot open it. */
	assert_int_equal(dcr_hpke_keygen(other_sk, other_pk, NULL), 0);
	other_cfg = w->cfg;
	memcpy(other_cfg.pk, other_pk, 32);
	memset(&sctx, 0, sizeof(sctx));
	assert_true(dcr_call_accept(other_sk, &other_cfg, wire, len, now_ms, w->replay, &sctx, &req, &err) < 0);
	dcr_ohttp_ctx_release(&sctx);

	/* Every flipped bit is refused. */
	for (size_t bit = 0; bit < len * 8; bit += 7) {
		wire[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		memset(&sctx, 0, sizeof(sctx));
		assert_true(dcr_call_accept(w->hpke_sk, &w->cfg, wire, len, now_ms, w->replay, &sctx, &req, &err) < 0);
		dcr_ohttp_ctx_release(&sctx);
		wire[bit / 8] ^= (uint8_t)(1 << (bit % 8));
	}
	/* Garbage is refused as malformed, not misread. */
	memset(&sctx, 0, sizeof(sctx));
	assert_true(dcr_call_accept(w->hpke_sk, &w->cfg, wire, 10, now_ms, w->replay, &sctx, &req, &err) < 0);
	dcr_ohttp_ctx_release(&sctx);
	dcr_ohttp_ctx_release(&cctx);
	free(wire);

	/* A certificate from another CA, or one that expired, gets nothing. */
	{
		EVP_PKEY *k = ec_key();
		struct dcr_identity *mallory = identity(k, make_cert(k, w->other_ca, w->other_ca_key, "m",
								"alice@acme.example", -1, 30), "alice@acme.example");
		EVP_PKEY *k2 = ec_key();
		struct dcr_identity *old = identity(k2, make_cert(k2, w->ca, w->ca_key, "o", "old@acme.example", -10, -1),
			"old@acme.example");

		seal(w, mallory, "x", &cctx, &wire, &len);
		memset(&sctx, 0, sizeof(sctx));
		assert_int_equal(dcr_call_accept(w->hpke_sk, &w->cfg, wire, len, now_ms, w->replay, &sctx, &req, &err), 0);
		assert_int_equal(dcr_call_verify_chain(&req, roots, root_lens, 1, time(NULL), NULL, &err),
			DCR_EDENIED);
		assert_non_null(strstr(err.msg, "not accepted here"));
		dcr_call_request_release(&req);
		dcr_ohttp_ctx_release(&sctx);
		dcr_ohttp_ctx_release(&cctx);
		free(wire);

		seal(w, old, "x", &cctx, &wire, &len);
		memset(&sctx, 0, sizeof(sctx));
		assert_int_equal(dcr_call_accept(w->hpke_sk, &w->cfg, wire, len, now_ms, w->replay, &sctx, &req, &err), 0);
		assert_int_equal(dcr_call_verify_chain(&req, roots, root_lens, 1, time(NULL), NULL, &err), DCR_EDENIED);
		assert_non_null(strstr(err.msg, "expired"));
		dcr_call_request_release(&req);
		dcr_ohttp_ctx_release(&sctx);
		dcr_ohttp_ctx_release(&cctx);
		free(wire);
		dcr_identity_free(mallory);
		dcr_identity_free(old);
	}

	/* A signature by a key that is not the certificate's: denied. */
	{
		EVP_PKEY *real = ec_key(), *thief = ec_key();
		struct dcr_identity *id = identity(thief, make_cert(real, w->ca, w->ca_key, "a", "a@acme.example", -1, 30),
			"a@acme.example");

		seal(w, id, "x", &cctx, &wire, &len);
		memset(&sctx, 0, sizeof(sctx));
		assert_int_equal(dcr_call_accept(w->hpke_sk, &w->cfg, wire, len, now_ms, w->replay, &sctx, &req, &err),
			DCR_EDENIED);
		assert_non_null(strstr(err.msg, "signature does not match"));
		dcr_ohttp_ctx_release(&sctx);
		dcr_ohttp_ctx_release(&cctx);
		free(wire);
		dcr_identity_free(id);
		EVP_PKEY_free(real);
	}
}

static void write_pem(const char *path, EVP_PKEY *key, X509 *cert)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	if (key)
		PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	if (cert)
		PEM_write_X509(f, cert);
	fclose(f);
}

static void test_identity_load(void **state)
{
	struct world *w = *state;
	char dir[256], key[300], cert[300];
	struct dcr_identity *id;
	struct dcr_err err;
	EVP_PKEY *other = ec_key();

	snprintf(dir, sizeof(dir), "%s/dcr-id-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	assert_int_equal(dcr_identity_load(dir, &id, &err), DCR_ENOTFOUND);
	assert_non_null(strstr(err.msg, "no identity"));
	write_pem(key, w->alice->key, NULL);
	write_pem(cert, NULL, w->alice_cert);
	/* A private key that others may read, or write, is not used (dcr-formats(5)). */
	for (mode_t m = 01; m <= 040; m <<= 1) {
		assert_int_equal(chmod(key, 0600 | m), 0);
		assert_int_equal(dcr_identity_load(dir, &id, &err), DCR_EINVALID);
		assert_null(id);
		assert_non_null(strstr(err.msg, "is accessible to other users"));
		assert_non_null(strstr(err.msg, "run chmod 600"));
	}
	assert_int_equal(chmod(key, 0600), 0);
	assert_int_equal(dcr_identity_load(dir, &id, &err), 0);
	assert_string_equal(id->email, "alice@acme.example");
	dcr_identity_free(id);
	/* The certificate is public: its mode does not matter. */
	assert_int_equal(chmod(cert, 0644), 0);
	assert_int_equal(dcr_identity_load(dir, &id, &err), 0);
	dcr_identity_free(id);
	write_pem(key, other, NULL);
	assert_int_equal(dcr_identity_load(dir, &id, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "is not for the key"));
	/* A key of another type than P-256 is read too (and here is not the certificate's). */
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(ed);
	write_pem(key, ed, NULL);
	assert_int_equal(dcr_identity_load(dir, &id, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "is not for the key"));
	EVP_PKEY_free(ed);
	unlink(key);
	unlink(cert);
	rmdir(dir);
	EVP_PKEY_free(other);
}

/* ---- login calls: signed by a certificate request's key ---- */

/* A login identity for email: a new key and its request, as dcr auth login makes them. */
/* SHA-256 of email, a zero byte and the DER of cert's issuer, in hex: the identity ID as OpenSSL parses cert. */
static void identity_id_of(X509 *cert, const char *email, char out[static 65])
{
	unsigned char *issuer = NULL;
	int n = i2d_X509_NAME(X509_get_issuer_name(cert), &issuer);
	size_t e = strlen(email) + 1;
	uint8_t *buf = malloc(e + (size_t)n), md[32];

	assert_true(n > 0 && buf);
	memcpy(buf, email, e);
	memcpy(buf + e, issuer, (size_t)n);
	assert_int_equal(dcr_sha256(buf, e + (size_t)n, md, NULL), 0);
	dcr_hex(md, sizeof(md), out);
	OPENSSL_free(issuer);
	free(buf);
}

/*
 * dcr reads its own key and certificates without OpenSSL's decoders
 * (lib/ident.c): what it reads is what OpenSSL reads, in every form a key
 * or certificate comes in; and a key file with an altered secret still
 * signs calls that the enclave refuses.
 */
/* dcr_identity_add_chain's edges: nothing to read is no certificate; more than its bound is refused (M-6). */
static void test_identity_add_chain(void **state)
{
	struct dcr_identity *id = calloc(1, sizeof(*id));
	uint8_t *text = malloc(DCR_CALL_MAX_CHAIN_PEM + 1);
	struct dcr_err err;

	assert_non_null(id);
	assert_non_null(text);
	memset(text, 'x', DCR_CALL_MAX_CHAIN_PEM + 1);
	assert_int_equal(dcr_identity_add_chain(id, NULL, 0, &err), 0);
	assert_int_equal(dcr_identity_add_chain(id, text, DCR_CALL_MAX_CHAIN_PEM, &err), 0);
	assert_int_equal(dcr_identity_add_chain(id, text, DCR_CALL_MAX_CHAIN_PEM + 1, &err), DCR_EINVALID);
	assert_string_equal(err.msg, "a certificate chain of more than 262144 bytes");
	assert_int_equal(id->n_chain, 0);
	free(text);
	dcr_identity_free(id);
}

static void test_identity_forms(void **state)
{
	struct world *w = *state;
	char dir[256], key[300], cert[300], want[65], got[65];
	unsigned char *ca_der = NULL;
	int ca_len = i2d_X509(w->ca, &ca_der);
	struct dcr_identity *id;
	struct dcr_err err;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/dcr-id-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	identity_id_of(w->alice_cert, "alice@acme.example", want);

	/* PKCS#8, and a chain of two: the leaf, then its CA, each as its own DER. */
	write_pem(key, w->alice->key, NULL);
	assert_int_equal(chmod(key, 0600), 0);
	assert_non_null(f = fopen(cert, "w"));
	assert_int_equal(PEM_write_X509(f, w->alice_cert), 1);
	fputs("-----BEGIN UNRELATED-----\nAAAA\n-----END UNRELATED-----\n", f);
	assert_int_equal(PEM_write_X509(f, w->ca), 1);
	fclose(f);
	assert_int_equal(dcr_identity_load(dir, &id, &err), 0);
	assert_int_equal(EVP_PKEY_eq(id->key, w->alice->key), 1);
	assert_int_equal(id->n_chain, 2);
	assert_int_equal(id->chain_len[1], (size_t)ca_len);
	assert_memory_equal(id->chain[1], ca_der, (size_t)ca_len);
	assert_int_equal(dcr_identity_id(id, got, &err), 0);
	assert_string_equal(got, want);
	dcr_identity_free(id);

	/* Bytes after the certificate inside its PEM block are ignored, as d2i_X509 ignores them, and never sent. */
	{
		unsigned char *der = NULL, *padded;
		int n = i2d_X509(w->alice_cert, &der);
		BIO *out = BIO_new_file(cert, "w");

		assert_true(n > 0 && out);
		assert_non_null(padded = malloc((size_t)n + 2));
		memcpy(padded, der, (size_t)n);
		padded[n] = 0x05;
		padded[n + 1] = 0x00;
		assert_true(PEM_write_bio(out, "CERTIFICATE", "", padded, n + 2) > 0);
		BIO_free(out);
		assert_int_equal(dcr_identity_load(dir, &id, &err), 0);
		assert_int_equal(id->n_chain, 1);
		assert_int_equal(id->chain_len[0], (size_t)n);
		assert_memory_equal(id->chain[0], der, (size_t)n);
		dcr_identity_free(id);
		free(padded);
		OPENSSL_free(der);
	}

	/* SEC1 ("EC PRIVATE KEY"). */
	{
		BIO *out = BIO_new_file(key, "w");

		assert_non_null(out);
		assert_int_equal(PEM_write_bio_PrivateKey_traditional(out, w->alice->key, NULL, NULL, 0, NULL, NULL), 1);
		BIO_free(out);
	}
	assert_int_equal(dcr_identity_load(dir, &id, &err), 0);
	assert_int_equal(EVP_PKEY_eq(id->key, w->alice->key), 1);
	assert_int_equal(dcr_identity_id(id, got, &err), 0);
	assert_string_equal(got, want);
	dcr_identity_free(id);

	/* A certificate whose point is compressed is compared by OpenSSL, and is the key's. */
	{
		EVP_PKEY *k = ec_key();
		X509 *c;

		assert_int_equal(EVP_PKEY_set_utf8_string_param(k, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
					 "compressed"), 1);
		c = make_cert(k, w->ca, w->ca_key, "carol", "carol@acme.example", -1, 30);
		write_pem(key, k, NULL);
		write_pem(cert, NULL, c);
		assert_int_equal(dcr_identity_load(dir, &id, &err), 0);
		assert_string_equal(id->email, "carol@acme.example");
		assert_int_equal(EVP_PKEY_eq(id->key, k), 1);
		dcr_identity_free(id);
		write_pem(key, w->alice->key, NULL);
		assert_int_equal(dcr_identity_load(dir, &id, &err), DCR_EINVALID);
		assert_non_null(strstr(err.msg, "is not for the key"));
		X509_free(c);
		EVP_PKEY_free(k);
	}

	/*
	 * A SEC1 key whose secret was altered, its public half left: it loads,
	 * as OpenSSL read it too, and the enclave refuses what it signs.
	 */
	{
		BIO *mem = BIO_new(BIO_s_mem());
		unsigned char *der = NULL;
		int n = i2d_PrivateKey(w->alice->key, &der);
		struct dcr_ohttp_ctx cctx, sctx = { 0 };
		struct dcr_call_request req;
		uint8_t *wire;
		size_t len;
		char *text;
		long text_len;

		/* ECPrivateKey: SEQUENCE, INTEGER 1, OCTET STRING of the 32-byte scalar. */
		assert_true(n > 40 && mem);
		assert_memory_equal(der + 2, "\x02\x01\x01\x04\x20", 5);
		der[20] ^= 0x01;
		assert_true(PEM_write_bio(mem, "EC PRIVATE KEY", "", der, n) > 0);
		text_len = BIO_get_mem_data(mem, &text);
		assert_non_null(f = fopen(key, "w"));
		assert_int_equal(fwrite(text, 1, (size_t)text_len, f), (size_t)text_len);
		fclose(f);
		write_pem(cert, NULL, w->alice_cert);
		assert_int_equal(dcr_identity_load(dir, &id, &err), 0);
		assert_int_equal(EVP_PKEY_eq(id->key, w->alice->key), 1); /* the public halves */
		seal(w, id, "hello", &cctx, &wire, &len);
		assert_int_equal(dcr_call_accept(w->hpke_sk, &w->cfg, wire, len, now_ms, w->replay, &sctx, &req, &err),
			DCR_EDENIED);
		assert_non_null(strstr(err.msg, "signature does not match"));
		free(wire);
		dcr_ohttp_ctx_release(&cctx);
		dcr_ohttp_ctx_release(&sctx);
		dcr_identity_free(id);
		OPENSSL_clear_free(der, (size_t)n);
		BIO_free(mem);
	}
	unlink(key);
	unlink(cert);
	rmdir(dir);
	OPENSSL_free(ca_der);
}

static struct dcr_identity *login_identity(const char *email)
{
	uint8_t *key, *csr;
	size_t key_len, csr_len;
	struct dcr_identity *id;
	struct dcr_err err;

	assert_int_equal(dcr_pki_keygen(email, &key, &key_len, &csr, &csr_len, &err), 0);
	if (dcr_identity_login(key, key_len, csr, csr_len, &id, &err) < 0)
		fail_msg("login identity: %s", err.msg);
	dcr_wipe(key, key_len);
	free(key);
	free(csr);
	return id;
}

/* Seal method with id and hand it to the enclave; returns what dcr_call_accept says. */
static int login_call(struct world *w, const struct dcr_identity *id, const char *method, int64_t at,
	struct dcr_call_request *req, struct dcr_err *err)
{
	struct dcr_ohttp_ctx cctx = { 0 }, sctx = { 0 };
	uint8_t *wire;
	size_t len;
	int r;

	if (dcr_call_seal(id, &w->pub, method, (const uint8_t *)"body", 4, now_ms, &cctx, &wire, &len, err) < 0)
		fail_msg("seal: %s", err->msg);
	r = dcr_call_accept(w->hpke_sk, &w->cfg, wire, len, at, w->replay, &sctx, req, err);
	dcr_ohttp_ctx_release(&cctx);
	dcr_ohttp_ctx_release(&sctx);
	free(wire);
	return r;
}

static void test_login(void **state)
{
	struct world *w = *state;
	struct dcr_identity *bob = login_identity("Bob@Acme.example"), *id;
	const uint8_t *roots[] = { w->ca_der };
	size_t root_lens[] = { w->ca_der_len };
	struct dcr_call_request req;
	struct dcr_err err;
	EVP_PKEY *other;

	assert_string_equal(bob->email, "bob@acme.example");
	assert_int_equal(bob->n_chain, 0);

	/* Accepted: signed by the request's key, which the request itself proves. */
	assert_int_equal(login_call(w, bob, DCR_CALL_LOGIN, now_ms + 1000, &req, &err), 0);
	assert_string_equal(req.method, DCR_CALL_LOGIN);
	assert_string_equal(req.email, "bob@acme.example");
	assert_non_null(req.request);
	assert_null(req.chain);
	assert_int_equal(req.body_len, 4);
	assert_true(EVP_PKEY_eq(X509_REQ_get0_pubkey(req.request), bob->key) == 1);
	/* A request is no certificate: no room's chain check passes it. */
	assert_int_equal(dcr_call_verify_chain(&req, roots, root_lens, 1, time(NULL), NULL, &err), DCR_EDENIED);
	dcr_call_request_release(&req);

	/* For any other method, a request gets nothing. */
	assert_int_equal(login_call(w, bob, "room.list", now_ms, &req, &err), DCR_EDENIED);
	assert_non_null(strstr(err.msg, "a certificate request, not a certificate"));

	/* A login must carry a request, not a certificate. */
	assert_int_equal(login_call(w, w->alice, DCR_CALL_LOGIN, now_ms, &req, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "carries a certificate request, not a certificate"));

	/* Signed by another key than the request's: refused. */
	other = ec_key();
	EVP_PKEY_free(bob->key);
	bob->key = other;
	assert_int_equal(login_call(w, bob, DCR_CALL_LOGIN, now_ms, &req, &err), DCR_EDENIED);
	assert_non_null(strstr(err.msg, "does not match its certificate request"));
	dcr_identity_free(bob);

	/* A request whose own signature no longer verifies (its subject changed after signing). */
	id = login_identity("carol@acme.example");
	{
		X509_NAME *name = X509_NAME_new();

		X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"mallory", -1, -1, 0);
		X509_REQ_set_subject_name(id->request, name);
		X509_NAME_free(name);
	}
	assert_int_equal(login_call(w, id, DCR_CALL_LOGIN, now_ms, &req, &err), DCR_EDENIED);
	assert_non_null(strstr(err.msg, "request's own signature does not verify"));
	dcr_identity_free(id);

	/* Freshness and replay still apply. */
	id = login_identity("dave@acme.example");
	assert_int_equal(login_call(w, id, DCR_CALL_LOGIN, now_ms + 6 * 60 * 1000, &req, &err), DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "stale call"));
	{
		struct dcr_ohttp_ctx cctx = { 0 }, sctx = { 0 };
		uint8_t *wire;
		size_t len;

		assert_int_equal(dcr_call_seal(id, &w->pub, DCR_CALL_LOGIN, NULL, 0, now_ms, &cctx, &wire, &len, &err), 0);
		assert_int_equal(dcr_call_accept(w->hpke_sk, &w->cfg, wire, len, now_ms, w->replay, &sctx, &req, &err), 0);
		dcr_call_request_release(&req);
		dcr_ohttp_ctx_release(&sctx);
		memset(&sctx, 0, sizeof(sctx));
		assert_int_equal(dcr_call_accept(w->hpke_sk, &w->cfg, wire, len, now_ms, w->replay, &sctx, &req, &err),
			DCR_EINTEGRITY);
		assert_non_null(strstr(err.msg, "replayed"));
		dcr_ohttp_ctx_release(&sctx);
		dcr_ohttp_ctx_release(&cctx);
		free(wire);
	}
	dcr_identity_free(id);
}

static void test_identity_login(void **state)
{
	uint8_t *key, *csr, *key2, *csr2;
	size_t key_len, csr_len, key2_len, csr2_len;
	struct dcr_identity *id = NULL;
	struct dcr_err err;

	(void)state;
	assert_int_equal(dcr_pki_keygen("erin@acme.example", &key, &key_len, &csr, &csr_len, &err), 0);
	assert_int_equal(dcr_pki_keygen("erin@acme.example", &key2, &key2_len, &csr2, &csr2_len, &err), 0);
	/* The request must be for the key. */
	assert_int_equal(dcr_identity_login(key, key_len, csr2, csr2_len, &id, &err), DCR_EINVALID);
	assert_null(id);
	assert_non_null(strstr(err.msg, "not signed by the key"));
	assert_int_equal(dcr_identity_login(key, key_len, key, key_len, &id, &err), DCR_EINVALID);
	assert_int_equal(dcr_identity_login(csr, csr_len, csr, csr_len, &id, &err), DCR_EINVALID);
	assert_int_equal(dcr_identity_login(key, key_len, csr, csr_len, &id, &err), 0);
	assert_string_equal(id->email, "erin@acme.example");
	dcr_identity_free(id);
	dcr_wipe(key, key_len);
	dcr_wipe(key2, key2_len);
	free(key);
	free(key2);
	free(csr);
	free(csr2);
}

/* ---- the worked example of dcr-protocol(7), read out of the page ---- */

enum {
	X_HPKE_SK, X_SIGN_SK, X_SIM_SK, X_MEASUREMENT, X_HPKE_PK, X_SIGN_PK, X_KEY_CONFIG, X_REPORT_DATA,
	X_EVIDENCE, X_ALICE_KEY, X_CALL, X_SIGNED_PREFIX, X_SIGNATURE, X_SC_PREFIX, X_SC_MIDDLE, X_EPHEMERAL,
	X_INFO, X_ENC, X_REQUEST, X_STORED_ROOT, X_CALL_RESULT, X_RESPONSE_NONCE, X_RESPONSE_SECRET,
	X_AEAD_KEY, X_AEAD_NONCE, X_RESPONSE, X_N
};

static const char *const example_labels[X_N] = {
	"enclave HPKE private key", "enclave signing key", "sim attestation key", "measurement",
	"hpke_public_key", "signing_public_key", "key configuration", "report data", "evidence",
	"alice's private key", "call", "signed message prefix", "signature", "signed call prefix",
	"signed call middle", "ephemeral private key", "info", "enc", "request", "stored root", "call result",
	"response nonce", "response secret", "aead key", "aead nonce", "response",
};

#define EXAMPLE_TIME 1798761600000   /* 2027-01-01T00:00:00Z: the call's timestamp_ms */

struct example {
	uint8_t *b[X_N];
	size_t n[X_N];
	struct dcr_ohttp_keyconfig cfg;
	struct dcr_enclave_public pub;
};

static void example_load(struct example *x)
{
	memset(x, 0, sizeof(*x));
	for (int i = 0; i < X_N; i++)
		x->n[i] = page_hex("dcr-protocol.7", example_labels[i], &x->b[i]);
	assert_int_equal(dcr_ohttp_keyconfig_parse(x->b[X_KEY_CONFIG], x->n[X_KEY_CONFIG], &x->cfg, NULL), 0);
	memcpy(x->pub.hpke_pk, x->b[X_HPKE_PK], 32);
	memcpy(x->pub.sign_pk, x->b[X_SIGN_PK], 32);
	x->pub.ohttp_key_config = x->b[X_KEY_CONFIG];
	x->pub.ohttp_key_config_len = x->n[X_KEY_CONFIG];
}

static void example_free(struct example *x)
{
	for (int i = 0; i < X_N; i++)
		free(x->b[i]);
}

static void assert_bytes(const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len)
{
	assert_int_equal(got_len, want_len);
	assert_memory_equal(got, want, want_len);
}

/* The enclave's keys, key configuration, report data and evidence. */
static void test_example_evidence(void **state)
{
	struct example x;
	struct dcr_ohttp_keyconfig cfg = { 0 };
	struct dcr_spec spec = { .name = "dcrd:sim", .format = DCR_SPEC_SIM, .has_measurement = true };
	struct dcr_specs specs = { 1, &spec };
	struct dcr_attest_result res;
	uint8_t pk[32], buf[DCR_OHTTP_KEYCONFIG_MAX], rd[DCR_REPORT_DATA_LEN], *ev;
	size_t len, ev_len;
	struct dcr_err err;

	(void)state;
	example_load(&x);
	assert_int_equal(dcr_hpke_public(x.b[X_HPKE_SK], pk, NULL), 0);
	assert_bytes(pk, 32, x.b[X_HPKE_PK], x.n[X_HPKE_PK]);
	assert_int_equal(dcr_ed25519_public(x.b[X_SIGN_SK], pk, NULL), 0);
	assert_bytes(pk, 32, x.b[X_SIGN_PK], x.n[X_SIGN_PK]);

	/* The configuration dcrd makes of its key (cmd/dcrd/enclave.c): key ID 1, one pair. */
	cfg.key_id = 1;
	cfg.kem_id = DCR_HPKE_KEM_X25519_SHA256;
	memcpy(cfg.pk, x.b[X_HPKE_PK], 32);
	cfg.n_algs = 1;
	cfg.algs[0] = (struct dcr_ohttp_alg){ DCR_HPKE_KDF_HKDF_SHA256, DCR_HPKE_AEAD_AES256GCM };
	assert_int_equal(dcr_ohttp_keyconfig_encode(&cfg, buf, sizeof(buf), &len, NULL), 0);
	assert_bytes(buf, len, x.b[X_KEY_CONFIG], x.n[X_KEY_CONFIG]);

	assert_int_equal(dcr_attest_report_data(x.pub.hpke_pk, x.pub.sign_pk, x.b[X_KEY_CONFIG], x.n[X_KEY_CONFIG], rd,
				 NULL), 0);
	assert_bytes(rd, sizeof(rd), x.b[X_REPORT_DATA], x.n[X_REPORT_DATA]);

	/* Ed25519 is deterministic: the real code makes exactly the page's evidence. */
	assert_int_equal(x.n[X_MEASUREMENT], 32);
	assert_int_equal(dcr_attest_sim_evidence(x.b[X_MEASUREMENT], x.b[X_SIM_SK], &x.pub, &ev, &ev_len, &err), 0);
	assert_bytes(ev, ev_len, x.b[X_EVIDENCE], x.n[X_EVIDENCE]);
	free(ev);

	/* And a client that pins the measurement accepts it, with these keys. */
	memcpy(spec.measurement, x.b[X_MEASUREMENT], 32);
	if (dcr_attest_verify(x.b[X_EVIDENCE], x.n[X_EVIDENCE], &specs, NULL, &res, &err) < 0)
		fail_msg("the page's evidence: %s", err.msg);
	assert_true(res.simulated);
	assert_memory_equal(res.keys.hpke_pk, x.b[X_HPKE_PK], 32);
	assert_memory_equal(res.keys.sign_pk, x.b[X_SIGN_PK], 32);
	assert_bytes(res.keys.ohttp_key_config, res.keys.ohttp_key_config_len, x.b[X_KEY_CONFIG], x.n[X_KEY_CONFIG]);
	dcr_attest_result_release(&res);
	example_free(&x);
}

/* ECDSA with SHA-256 over msg, the signature in DER, as the page says: 0 when it verifies. */
static int ecdsa_sha256_verify(EVP_PKEY *key, const uint8_t *msg, size_t len, const uint8_t *sig, size_t sig_len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
		EVP_DigestVerify(md, sig, sig_len, msg, len) == 1;

	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok ? 0 : -1;
}

/* Alice's identity: the page's P-256 scalar and the certificate in the call. */
static struct dcr_identity *example_identity(const struct example *x)
{
	Dcr__V1__Call *call = dcr__v1__call__unpack(NULL, x->n[X_CALL], x->b[X_CALL]);
	const unsigned char *p;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *key = NULL;
	BIGNUM *d = BN_bin2bn(x->b[X_ALICE_KEY], (int)x->n[X_ALICE_KEY], NULL);
	uint8_t point[65];
	size_t point_len;
	X509 *cert;

	assert_non_null(call);
	assert_int_equal(call->n_certificate_chain, 1);
	p = call->certificate_chain[0].data;
	assert_non_null(cert = d2i_X509(NULL, &p, (long)call->certificate_chain[0].len));
	assert_int_equal(EVP_PKEY_get_octet_string_param(X509_get0_pubkey(cert), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
				 point, sizeof(point), &point_len), 1);
	assert_true(bld && ctx && d);
	assert_int_equal(OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0), 1);
	assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d), 1);
	assert_int_equal(OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, point_len), 1);
	assert_non_null(params = OSSL_PARAM_BLD_to_param(bld));
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_KEYPAIR, params), 1);
	/* The scalar is the private half of the certificate's key. */
	assert_int_equal(X509_check_private_key(cert, key), 1);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_clear_free(d);
	dcr__v1__call__free_unpacked(call, NULL);
	return identity(key, cert, "alice@acme.example");
}

/* The call: what dcr builds, what it signs, how it is encapsulated, what dcrd accepts. */
static void test_example_call(void **state)
{
	struct example x;
	struct dcr_identity *alice;
	struct dcr_ohttp_ctx cctx = { 0 }, sctx = { 0 };
	struct dcr_replay *replay = dcr_replay_new();
	struct dcr_call_request req;
	Dcr__V1__SignedCall *sc, sc_doc = DCR__V1__SIGNED_CALL__INIT;
	Dcr__V1__Call *call;
	Dcr__V1__RoomRef *ref;
	struct dcr_ohttp_alg alg;
	uint8_t *wire, pt[4096], *msg, key_id[32], out[4096], nonce[DCR_CALL_NONCE_LEN], pk[32];
	size_t wire_len, pt_len, msg_len, out_len, at = 0;
	struct dcr_err err;

	(void)state;
	example_load(&x);
	alice = example_identity(&x);
	assert_non_null(call = dcr__v1__call__unpack(NULL, x.n[X_CALL], x.b[X_CALL]));
	assert_non_null(ref = dcr__v1__room_ref__unpack(NULL, call->body.len, call->body.data));

	/* The page's fields: enclave_key_id = SHA-256(hpke_public_key), the nonce 00 01 ... 0f. */
	assert_int_equal(dcr_sha256(x.b[X_HPKE_PK], 32, key_id, NULL), 0);
	assert_bytes(call->enclave_key_id.data, call->enclave_key_id.len, key_id, 32);
	for (int i = 0; i < DCR_CALL_NONCE_LEN; i++)
		nonce[i] = (uint8_t)i;
	assert_bytes(call->nonce.data, call->nonce.len, nonce, sizeof(nonce));
	assert_int_equal(call->timestamp_ms, EXAMPLE_TIME);
	assert_string_equal(call->method, "room.stop");
	assert_string_equal(call->audit_room, ref->room_id);
	assert_int_equal(call->audit_known_size, 2);

	/* dcr builds exactly these bytes (the signature is random, so only the Call is compared). */
	if (dcr_call_seal_fixed(alice, &x.pub, "room.stop", call->body.data, call->body.len, EXAMPLE_TIME, ref->room_id,
		    2, nonce, x.b[X_EPHEMERAL], &cctx, &wire, &wire_len, &err) < 0)
		fail_msg("seal: %s", err.msg);
	assert_int_equal(dcr_ohttp_request_decapsulate(&sctx, &x.cfg, x.b[X_HPKE_SK], DCR_OHTTP_DCR_REQUEST, wire,
				 wire_len, pt, sizeof(pt), &pt_len, NULL), 0);
	assert_non_null(sc = dcr__v1__signed_call__unpack(NULL, pt_len, pt));
	assert_bytes(sc->call.data, sc->call.len, x.b[X_CALL], x.n[X_CALL]);
	/* The ephemeral key gives the page's enc, and the header the page's info. */
	assert_bytes(cctx.enc, 32, x.b[X_ENC], x.n[X_ENC]);
	assert_int_equal(dcr_hpke_public(x.b[X_EPHEMERAL], pk, NULL), 0);
	assert_memory_equal(pk, x.b[X_ENC], 32);
	assert_int_equal(x.n[X_INFO], strlen(DCR_OHTTP_DCR_REQUEST) + 1 + DCR_OHTTP_HDR_LEN);
	assert_memory_equal(x.b[X_INFO], DCR_OHTTP_DCR_REQUEST, strlen(DCR_OHTTP_DCR_REQUEST) + 1);
	assert_memory_equal(x.b[X_INFO] + strlen(DCR_OHTTP_DCR_REQUEST) + 1, wire, DCR_OHTTP_HDR_LEN);
	dcr__v1__signed_call__free_unpacked(sc, NULL);
	dcr_ohttp_ctx_release(&sctx);
	free(wire);

	/* What is signed: "dcr-call-v1" || 0x00 || the call; the page's DER signature verifies over it. */
	assert_non_null(msg = dcr_domain_message("dcr-call-v1", x.b[X_CALL], x.n[X_CALL], &msg_len));
	assert_int_equal(msg_len, x.n[X_SIGNED_PREFIX] + x.n[X_CALL]);
	assert_memory_equal(msg, x.b[X_SIGNED_PREFIX], x.n[X_SIGNED_PREFIX]);
	assert_int_equal(ecdsa_sha256_verify(alice->key, msg, msg_len, x.b[X_SIGNATURE], x.n[X_SIGNATURE]), 0);
	msg[msg_len - 1] ^= 1;
	assert_int_equal(ecdsa_sha256_verify(alice->key, msg, msg_len, x.b[X_SIGNATURE], x.n[X_SIGNATURE]), -1);
	free(msg);

	/* The SignedCall is prefix || call || middle || signature, as protobuf-c packs it. */
	sc_doc.call = (ProtobufCBinaryData){ x.n[X_CALL], x.b[X_CALL] };
	sc_doc.signature = (ProtobufCBinaryData){ x.n[X_SIGNATURE], x.b[X_SIGNATURE] };
	pt_len = dcr__v1__signed_call__pack(&sc_doc, pt);
	assert_int_equal(pt_len, x.n[X_SC_PREFIX] + x.n[X_CALL] + x.n[X_SC_MIDDLE] + x.n[X_SIGNATURE]);
	assert_memory_equal(pt + at, x.b[X_SC_PREFIX], x.n[X_SC_PREFIX]);
	at += x.n[X_SC_PREFIX] + x.n[X_CALL];
	assert_memory_equal(pt + at, x.b[X_SC_MIDDLE], x.n[X_SC_MIDDLE]);

	/* Encapsulated with the page's ephemeral key: the page's request, byte for byte. */
	assert_int_equal(dcr_ohttp_keyconfig_select(&x.cfg, &alg, NULL), 0);
	assert_int_equal(dcr_ohttp_request_encapsulate_fixed(&sctx, &x.cfg, alg, DCR_OHTTP_DCR_REQUEST, x.b[X_EPHEMERAL],
				 pt, pt_len, out, sizeof(out), &out_len, NULL), 0);
	assert_bytes(out, out_len, x.b[X_REQUEST], x.n[X_REQUEST]);
	dcr_ohttp_ctx_release(&sctx);

	/* dcrd accepts the page's request as Alice's call to stop the room. */
	if (dcr_call_accept(x.b[X_HPKE_SK], &x.cfg, x.b[X_REQUEST], x.n[X_REQUEST], EXAMPLE_TIME + 1000, replay, &sctx,
		    &req, &err) < 0)
		fail_msg("the page's request: %s", err.msg);
	assert_string_equal(req.method, "room.stop");
	assert_string_equal(req.email, "alice@acme.example");
	assert_string_equal(req.audit_room, ref->room_id);
	assert_int_equal(req.audit_known_size, 2);
	assert_int_equal(req.timestamp_ms, EXAMPLE_TIME);
	assert_bytes(req.body, req.body_len, call->body.data, call->body.len);
	dcr_call_request_release(&req);
	dcr_ohttp_ctx_release(&sctx);
	/* Five minutes and a millisecond later it is stale; seen 5 s and a millisecond early, from the future. */
	assert_int_equal(dcr_call_accept(x.b[X_HPKE_SK], &x.cfg, x.b[X_REQUEST], x.n[X_REQUEST],
				 EXAMPLE_TIME + DCR_CALL_MAX_AGE_MS + 1, replay, &sctx, &req, &err), DCR_EINTEGRITY);
	dcr_ohttp_ctx_release(&sctx);
	assert_int_equal(dcr_call_accept(x.b[X_HPKE_SK], &x.cfg, x.b[X_REQUEST], x.n[X_REQUEST],
				 EXAMPLE_TIME - DCR_CALL_MAX_AHEAD_MS - 1, replay, &sctx, &req, &err), DCR_EINTEGRITY);
	dcr_ohttp_ctx_release(&sctx);

	dcr__v1__room_ref__free_unpacked(ref, NULL);
	dcr__v1__call__free_unpacked(call, NULL);
	dcr_ohttp_ctx_release(&cctx);
	dcr_replay_free(replay);
	dcr_identity_free(alice);
	example_free(&x);
}

/* The answer: the CallResult dcrd builds, its encapsulation, and what the client makes of it. */
static void test_example_result(void **state)
{
	struct example x;
	struct dcr_identity *alice;
	struct dcr_replay *replay = dcr_replay_new();
	struct dcr_ohttp_ctx cctx = { 0 }, sctx = { 0 };
	struct dcr_call_request req;
	struct dcr_tree_head head = { .size = 3, .time_ms = EXAMPLE_TIME + 42 }, got, stored = { .size = 2 };
	Dcr__V1__SignedTreeHead sth;
	Dcr__V1__CallResult *raw;
	Dcr__V1__Call *call;
	Dcr__V1__RoomRef *ref;
	ProtobufCBinaryData proof;
	uint8_t *wire, *resp, *body, sig[64], pt[4096], node[65], secret[32], salt[64], prk[32], key[32], nonce[12];
	size_t wire_len, resp_len, pt_len, body_len;
	char message[160], *got_message;
	struct dcr_err err;
	int code;

	(void)state;
	example_load(&x);
	alice = example_identity(&x);
	assert_non_null(call = dcr__v1__call__unpack(NULL, x.n[X_CALL], x.b[X_CALL]));
	assert_non_null(ref = dcr__v1__room_ref__unpack(NULL, call->body.len, call->body.data));
	if (dcr_call_seal_fixed(alice, &x.pub, "room.stop", call->body.data, call->body.len, EXAMPLE_TIME, ref->room_id,
		    2, call->nonce.data, x.b[X_EPHEMERAL], &cctx, &wire, &wire_len, &err) < 0)
		fail_msg("seal: %s", err.msg);
	if (dcr_call_accept(x.b[X_HPKE_SK], &x.cfg, x.b[X_REQUEST], x.n[X_REQUEST], EXAMPLE_TIME, replay, &sctx, &req,
		    &err) < 0)
		fail_msg("the page's request: %s", err.msg);

	/* The head after the refusal's entry: the third leaf, the one the proof holds, joins the stored two. */
	memcpy(head.room_id, ref->room_id, 65);
	memcpy(stored.room_id, ref->room_id, 65);
	memcpy(stored.root, x.b[X_STORED_ROOT], 32);
	node[0] = 0x01;
	memcpy(node + 1, x.b[X_STORED_ROOT], 32);
	proof = (ProtobufCBinaryData){ 32, x.b[X_CALL_RESULT] + x.n[X_CALL_RESULT] - 32 };
	memcpy(node + 33, proof.data, 32);
	assert_int_equal(dcr_sha256(node, sizeof(node), head.root, NULL), 0);
	assert_int_equal(dcr_audit_sign_head(x.b[X_SIGN_SK], &head, &sth, sig, &err), 0);
	snprintf(message, sizeof(message), "alice@acme.example lacks permission 'stop' in room %s", ref->room_id);

	/* dcrd's answer opens, for the client, to exactly the page's CallResult. */
	assert_int_equal(dcr_call_respond_room(&sctx, DCR_EDENIED, message, NULL, 0, &sth, &proof, 1, &resp, &resp_len,
				 &err), 0);
	assert_int_equal(dcr_ohttp_response_decapsulate(&cctx, DCR_OHTTP_DCR_RESPONSE, resp, resp_len, pt, sizeof(pt),
				 &pt_len, NULL), 0);
	assert_bytes(pt, pt_len, x.b[X_CALL_RESULT], x.n[X_CALL_RESULT]);
	free(resp);
	free(sth.head.data);
	dcr_ohttp_ctx_release(&sctx);

	/* With the page's response nonce: its secret, key, nonce and response. */
	assert_int_equal(dcr_ohttp_request_decapsulate(&sctx, &x.cfg, x.b[X_HPKE_SK], DCR_OHTTP_DCR_REQUEST,
				 x.b[X_REQUEST], x.n[X_REQUEST], pt, sizeof(pt), &pt_len, NULL), 0);
	assert_int_equal(dcr_hpke_export(&sctx.hpke, (const uint8_t *)DCR_OHTTP_DCR_RESPONSE,
				 strlen(DCR_OHTTP_DCR_RESPONSE), secret, sizeof(secret), NULL), 0);
	assert_bytes(secret, sizeof(secret), x.b[X_RESPONSE_SECRET], x.n[X_RESPONSE_SECRET]);
	assert_int_equal(x.n[X_RESPONSE_NONCE], dcr_ohttp_response_nonce_len(sctx.aead_id));
	memcpy(salt, x.b[X_ENC], 32);
	memcpy(salt + 32, x.b[X_RESPONSE_NONCE], 32);
	assert_int_equal(dcr_hkdf_extract(salt, sizeof(salt), secret, sizeof(secret), prk, NULL), 0);
	assert_int_equal(dcr_hkdf_expand(prk, (const uint8_t *)"key", 3, key, sizeof(key), NULL), 0);
	assert_bytes(key, sizeof(key), x.b[X_AEAD_KEY], x.n[X_AEAD_KEY]);
	assert_int_equal(dcr_hkdf_expand(prk, (const uint8_t *)"nonce", 5, nonce, sizeof(nonce), NULL), 0);
	assert_bytes(nonce, sizeof(nonce), x.b[X_AEAD_NONCE], x.n[X_AEAD_NONCE]);
	assert_int_equal(dcr_ohttp_response_encapsulate_fixed(&sctx, DCR_OHTTP_DCR_RESPONSE, x.b[X_RESPONSE_NONCE],
				 x.n[X_RESPONSE_NONCE], x.b[X_CALL_RESULT], x.n[X_CALL_RESULT], pt, sizeof(pt), &pt_len,
				 NULL), 0);
	assert_bytes(pt, pt_len, x.b[X_RESPONSE], x.n[X_RESPONSE]);

	/* The client opens the page's response: refused with -3, a head the enclave signed, consistent. */
	assert_int_equal(dcr_call_open_result_raw(&cctx, x.b[X_RESPONSE], x.n[X_RESPONSE], &code, &got_message, &body,
				 &body_len, &raw, &err), 0);
	assert_int_equal(code, DCR_EDENIED);
	assert_int_equal(dcr_err_exit_status(code), 3);
	assert_string_equal(got_message, message);
	assert_int_equal(body_len, 0);
	assert_int_equal(dcr_audit_verify_head(x.b[X_SIGN_PK], raw->tree_head, &got, &err), 0);
	assert_string_equal(got.room_id, ref->room_id);
	assert_int_equal(got.size, 3);
	assert_int_equal(got.time_ms, EXAMPLE_TIME + 42);
	assert_int_equal(raw->n_consistency, 1);
	if (dcr_audit_check_consistency(&stored, &got, raw->consistency, raw->n_consistency, &err) < 0)
		fail_msg("the page's proof: %s", err.msg);
	stored.root[0] ^= 1;
	assert_int_equal(dcr_audit_check_consistency(&stored, &got, raw->consistency, raw->n_consistency, &err),
		DCR_EINTEGRITY);

	dcr__v1__call_result__free_unpacked(raw, NULL);
	free(got_message);
	free(body);
	free(wire);
	dcr_call_request_release(&req);
	dcr_ohttp_ctx_release(&sctx);
	dcr_ohttp_ctx_release(&cctx);
	dcr__v1__room_ref__free_unpacked(ref, NULL);
	dcr__v1__call__free_unpacked(call, NULL);
	dcr_replay_free(replay);
	dcr_identity_free(alice);
	example_free(&x);
}

/* One call sealed by id and accepted (or not) with replay: what dcr_call_accept said; *nonce is its nonce. */
struct sealed {
	uint8_t *wire;
	size_t len;
};

static int offer(struct world *w, struct dcr_replay *replay, const struct sealed *s, uint8_t nonce[static 16],
	struct dcr_err *err)
{
	struct dcr_ohttp_ctx sctx = { 0 };
	struct dcr_call_request req;
	int r = dcr_call_accept(w->hpke_sk, &w->cfg, s->wire, s->len, now_ms, replay, &sctx, &req, err);

	if (r == 0)
		memcpy(nonce, req.nonce, 16);
	dcr_call_request_release(&req);
	dcr_ohttp_ctx_release(&sctx);
	return r;
}

/*
 * A full set of nonces (issue 12 review, finding 6): one outsider's signed
 * calls, each refused before it runs, filled it, and then every caller was
 * refused for minutes. Now the nonces of calls that never ran make room;
 * those of calls that ran (kept) stay, whatever comes.
 */
static void test_replay_full(void **state)
{
	struct world *w = *state;
	struct dcr_replay *replay = dcr_replay_new_bounded(4);
	struct dcr_ohttp_ctx cctx;
	struct sealed flood[6], mine[4];
	uint8_t nonce[16];
	struct dcr_err err;

	assert_non_null(replay);
	for (size_t i = 0; i < 6; i++) {
		seal(w, w->alice, "flood", &cctx, &flood[i].wire, &flood[i].len);
		dcr_ohttp_ctx_release(&cctx);
	}
	for (size_t i = 0; i < 4; i++) {
		seal(w, w->alice, "mine", &cctx, &mine[i].wire, &mine[i].len);
		dcr_ohttp_ctx_release(&cctx);
	}
	/* Six flooding calls into a set of four: the oldest make room. */
	for (size_t i = 0; i < 6; i++)
		if (offer(w, replay, &flood[i], nonce, &err) < 0)
			fail_msg("flood %zu: %s", i, err.msg);
	/* Another call is served, and once it ran (kept), its replay is refused even with the set full. */
	if (offer(w, replay, &mine[0], nonce, &err) < 0)
		fail_msg("a call after the flood: %s", err.msg);
	dcr_replay_keep(replay, nonce);
	assert_int_equal(offer(w, replay, &flood[5], nonce, &err), DCR_EINTEGRITY);
	assert_int_equal(offer(w, replay, &mine[0], nonce, &err), DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "replayed"));
	/* A forgotten flooding call may come again: refused before it ran, it is a call made late. */
	assert_int_equal(offer(w, replay, &flood[0], nonce, &err), 0);
	/* Only a set full of calls that ran refuses new ones. */
	for (size_t i = 1; i < 4; i++) {
		assert_int_equal(offer(w, replay, &mine[i], nonce, &err), 0);
		dcr_replay_keep(replay, nonce);
	}
	assert_int_equal(offer(w, replay, &flood[1], nonce, &err), DCR_EFAIL);
	assert_non_null(strstr(err.msg, "too many calls within the freshness window"));
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(offer(w, replay, &mine[i], nonce, &err), DCR_EINTEGRITY);
	for (size_t i = 0; i < 6; i++)
		free(flood[i].wire);
	for (size_t i = 0; i < 4; i++)
		free(mine[i].wire);
	dcr_replay_free(replay);
}

/* dcr_x509_parse_cached: the same bytes give the same certificate; other bytes never a kept one. */
static void test_x509_cache(void **state)
{
	struct world *w = *state;
	uint8_t *der = NULL, *bad, *longer, *huge;
	X509 *a, *b, *c, *kept[70];
	size_t used, len;
	int n;

	assert_true((n = i2d_X509(w->alice_cert, &der)) > 0);
	len = (size_t)n;
	assert_non_null(a = dcr_x509_parse_cached(der, len, &used));
	assert_int_equal(used, len);
	assert_non_null(b = dcr_x509_parse_cached(der, len, &used));
	assert_ptr_equal(a, b);
	assert_int_equal(used, len);
	assert_int_equal(X509_cmp(a, w->alice_cert), 0);
	X509_free(b);
	/* One byte changed in the signature: another certificate, which the CA's key does not verify. */
	assert_non_null(bad = malloc(len));
	memcpy(bad, der, len);
	bad[len - 2] ^= 0x01;
	assert_non_null(c = dcr_x509_parse_cached(bad, len, &used));
	assert_ptr_not_equal(c, a);
	assert_int_equal(X509_verify(a, w->ca_key), 1);
	assert_int_not_equal(X509_verify(c, w->ca_key), 1);
	ERR_clear_error();
	X509_free(c);
	/* The verified original is still what its own bytes give. */
	assert_non_null(c = dcr_x509_parse_cached(der, len, &used));
	assert_ptr_equal(c, a);
	X509_free(c);
	/* Trailing bytes: the certificate, and how much of the input it took, every time. */
	assert_non_null(longer = malloc(len + 1));
	memcpy(longer, der, len);
	longer[len] = 0;
	for (int i = 0; i < 2; i++) {
		assert_non_null(c = dcr_x509_parse_cached(longer, len + 1, &used));
		assert_int_equal(used, len);
		X509_free(c);
	}
	/* More than 8 KiB (trailing bytes here): parsed every time, never kept, so never pinned (review C6-1). */
	assert_non_null(huge = calloc(1, len + 9000));
	memcpy(huge, der, len);
	assert_non_null(c = dcr_x509_parse_cached(huge, len + 9000, &used));
	assert_int_equal(used, len);
	assert_non_null(b = dcr_x509_parse_cached(huge, len + 9000, &used));
	assert_ptr_not_equal(b, c);
	X509_free(b);
	X509_free(c);
	free(huge);
	/* No certificate: NULL every time. */
	for (int i = 0; i < 2; i++) {
		assert_null(dcr_x509_parse_cached(der + 1, len - 1, &used));
		assert_null(dcr_x509_parse_cached(der, 0, &used));
		ERR_clear_error();
	}
	/* More than the table holds: the oldest go, what callers hold stays valid, and parses again. */
	for (size_t i = 0; i < sizeof(kept) / sizeof(*kept); i++) {
		char name[32];
		X509 *x;
		uint8_t *d = NULL;
		int dl;

		snprintf(name, sizeof(name), "cert-%zu", i);
		x = make_cert(w->ca_key, w->ca, w->ca_key, name, NULL, -1, 30);
		assert_true((dl = i2d_X509(x, &d)) > 0);
		assert_non_null(kept[i] = dcr_x509_parse_cached(d, (size_t)dl, &used));
		X509_free(x);
		OPENSSL_free(d);
	}
	assert_non_null(c = dcr_x509_parse_cached(der, len, &used));
	assert_int_equal(X509_cmp(c, a), 0);
	assert_int_equal(X509_verify(a, w->ca_key), 1);
	X509_free(c);
	for (size_t i = 0; i < sizeof(kept) / sizeof(*kept); i++)
		X509_free(kept[i]);
	X509_free(a);
	free(bad);
	free(longer);
	OPENSSL_free(der);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_x509_cache),
		cmocka_unit_test(test_freshness_window),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_identity_load),
		cmocka_unit_test(test_identity_add_chain),
		cmocka_unit_test(test_identity_forms),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_identity_login),
		cmocka_unit_test(test_example_evidence),
		cmocka_unit_test(test_example_call),
		cmocka_unit_test(test_example_result),
		cmocka_unit_test(test_replay_full),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
