/* libFuzzer target: calls as the enclave accepts them, from raw bytes up to properly signed login calls. */
#include <ctype.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "call.pb-c.h"
#include "crypto.h"
#include "hpke.h"
#include "pki.h"

/*
 * The first input byte picks the mode; the rest is its input.
 *  raw:      the bytes as they come off the wire;
 *  garbage:  the bytes encapsulated properly, so they reach the protobuf and signature checks;
 *  fields:   a Call built field by field from the input (certificate slot, method, signer,
 *            key id, time, nonce, extra protobuf fields, mutations after signing), then
 *            signed, encapsulated and checked against what the result must be;
 *  seal:     dcr_call_seal with a real identity, login or certificate, and the answer back.
 */
enum mode { MODE_RAW, MODE_GARBAGE, MODE_FIELDS, MODE_SEAL, N_MODES };

#define NOW_MS INT64_C(1764000000000)
#define SIGN_DOMAIN "dcr-call-v1" /* proto/call.proto: the signature is over this, a 0 byte, and the call */

/* A broken invariant: say which, and crash so libFuzzer keeps the input. */
#define CHECK(cond) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "fuzz-call: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			abort(); \
		} \
	} while (0)

#define CHECK_CODE(r, want, err) \
	do { \
		if ((r) != (want)) { \
			fprintf(stderr, "fuzz-call: %s:%d: dcr_call_accept gave %d (%s), expected %d\n", __FILE__, \
				__LINE__, (r), (r) < 0 ? (err)->msg : "", (want)); \
			abort(); \
		} \
	} while (0)

enum { K_LOGIN, K_ED25519, K_NOMAIL, K_ALICE, K_CA, N_KEYS };

/* What may stand in a call's certificate slot, made once. */
enum item_kind { REQUEST, CERT };

struct item {
	uint8_t *der;
	size_t len;
	enum item_kind kind;
	int key;           /* K_*: whose public key it holds */
	const char *email; /* the address the enclave must read from it, or NULL */
	bool by_ca;        /* a certificate issued by the trusted CA */
};

enum {
	I_LOGIN_REQ,
	I_ED_REQ,
	I_NOMAIL_REQ,
	I_ODD_REQ,
	I_ALICE_CERT,
	I_ED_CERT,
	I_CA_CERT,
	I_ALICE_OTHER_CERT,
	N_ITEMS
};

enum { ID_LOGIN, ID_LOGIN_ED, ID_ALICE, ID_ED_CERT, N_IDS };

static struct {
	uint8_t sk[32];
	struct dcr_ohttp_keyconfig cfg;
	uint8_t cfg_buf[DCR_OHTTP_KEYCONFIG_MAX];
	struct dcr_enclave_public pub;
	uint8_t key_id[32];
	EVP_PKEY *keys[N_KEYS];
	struct item items[N_ITEMS];
	struct dcr_identity *ids[N_IDS];
} F;

static _Noreturn void die(const char *what, const struct dcr_err *err)
{
	fprintf(stderr, "fuzz-call: setup: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
	abort();
}

/* ---- setup ---- */

static EVP_PKEY *key_from_pem(const uint8_t *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;

	BIO_free(bio);
	return key;
}

static X509_REQ *request_from_pem(const uint8_t *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509_REQ *req = bio ? PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL) : NULL;

	BIO_free(bio);
	return req;
}

static X509 *cert_from_pem(const uint8_t *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;

	BIO_free(bio);
	return cert;
}

/* A login identity as dcr auth login makes it, for key_pem (a new P-256 key when NULL). */
static struct dcr_identity *login_identity(const char *email, const uint8_t *key_pem, size_t key_len)
{
	uint8_t *key = NULL, *csr = NULL;
	size_t csr_len = 0;
	struct dcr_identity *id;
	struct dcr_err err;

	if (key_pem) {
		if (dcr_pki_request(key_pem, key_len, email, &csr, &csr_len, &err) < 0)
			die("certificate request", &err);
	} else if (dcr_pki_keygen(email, &key, &key_len, &csr, &csr_len, &err) < 0) {
		die("key and certificate request", &err);
	}
	if (dcr_identity_login(key_pem ? key_pem : key, key_len, csr, csr_len, &id, &err) < 0)
		die("login identity", &err);
	if (key)
		dcr_wipe(key, key_len);
	free(key);
	free(csr);
	return id;
}

static uint8_t *ed25519_pem(EVP_PKEY *key, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;
	uint8_t *out;

	if (!bio || PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (n = BIO_get_mem_data(bio, &data)) <= 0 || !(out = malloc((size_t)n)))
		die("Ed25519 key in PEM", NULL);
	memcpy(out, data, (size_t)n);
	*len = (size_t)n;
	BIO_free(bio);
	return out;
}

/* A well-signed request for key with the subject alternative names san (none when NULL). */
static X509_REQ *request_with(EVP_PKEY *key, const char *san)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *ext = san ? X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san) : NULL;

	if (!req || !name || !exts || (san && (!ext || !sk_X509_EXTENSION_push(exts, ext))) ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"nobody", -1, -1, 0) != 1 ||
	    X509_REQ_set_subject_name(req, name) != 1 || X509_REQ_set_pubkey(req, key) != 1 ||
	    (san && X509_REQ_add_extensions(req, exts) != 1) || X509_REQ_sign(req, key, EVP_sha256()) <= 0)
		die("certificate request", NULL);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(name);
	return req;
}

static void ca_create(const char *name, EVP_PKEY **key, X509 **cert)
{
	uint8_t *key_pem, *cert_pem;
	size_t key_len, cert_len;
	struct dcr_err err;

	if (dcr_pki_ca_create(name, DCR_PKI_CA_DAYS, NOW_MS / 1000, &key_pem, &key_len, &cert_pem, &cert_len, &err) < 0)
		die("CA", &err);
	if (!(*key = key_from_pem(key_pem, key_len)) || !(*cert = cert_from_pem(cert_pem, cert_len)))
		die("CA from PEM", NULL);
	dcr_wipe(key_pem, key_len);
	free(key_pem);
	free(cert_pem);
}

static X509 *issue(EVP_PKEY *ca_key, X509 *ca, X509_REQ *req)
{
	char email[DCR_EMAIL_MAX + 1];
	struct dcr_err err;
	X509 *cert;

	if (dcr_pki_issue_x509(ca_key, ca, req, 30, NOW_MS / 1000, email, &cert, &err) < 0)
		die("certificate", &err);
	return cert;
}

static void item_request(int i, X509_REQ *req, int key, const char *email)
{
	unsigned char *der = NULL;
	int len = i2d_X509_REQ(req, &der);

	if (len <= 0)
		die("request in DER", NULL);
	F.items[i] = (struct item){ der, (size_t)len, REQUEST, key, email, false };
}

static void item_cert(int i, X509 *cert, int key, const char *email, bool by_ca)
{
	unsigned char *der = NULL;
	int len = i2d_X509(cert, &der);

	if (len <= 0)
		die("certificate in DER", NULL);
	F.items[i] = (struct item){ der, (size_t)len, CERT, key, email, by_ca };
}

static struct dcr_identity *cert_identity(EVP_PKEY *key, X509 *leaf, X509 *ca, const char *email)
{
	struct dcr_identity *id = calloc(1, sizeof(*id));
	X509 *chain[] = { leaf, ca };

	if (!id || EVP_PKEY_up_ref(key) != 1)
		die("certificate identity", NULL);
	id->key = key;
	for (size_t i = 0; i < 2 && chain[i]; i++) {
		unsigned char *der = NULL;
		int len = i2d_X509(chain[i], &der);

		if (len <= 0 || dcr_identity_add_cert(id, der, (size_t)len, NULL) < 0)
			die("certificate identity", NULL);
		OPENSSL_free(der);
	}
	snprintf(id->email, sizeof(id->email), "%s", email);
	return id;
}

static void setup(void)
{
	static const uint8_t ikm[32] = { 7 };
	EVP_PKEY *other_ca_key, *alice_key, *ed_key;
	X509 *ca, *other_ca, *alice, *alice_other, *ed_cert;
	X509_REQ *alice_req, *nomail_req, *odd_req;
	char odd_san[400];
	uint8_t *pem, *csr;
	size_t pem_len, csr_len;
	struct dcr_err err;

	if (dcr_hpke_derive_keypair(ikm, sizeof(ikm), F.sk, F.cfg.pk, &err) < 0)
		die("HPKE key", &err);
	F.cfg.key_id = 1;
	F.cfg.kem_id = DCR_HPKE_KEM_X25519_SHA256;
	F.cfg.n_algs = 1;
	F.cfg.algs[0] = (struct dcr_ohttp_alg){ DCR_HPKE_KDF_HKDF_SHA256, DCR_HPKE_AEAD_AES256GCM };
	memcpy(F.pub.hpke_pk, F.cfg.pk, 32);
	if (dcr_ohttp_keyconfig_encode(&F.cfg, F.cfg_buf, sizeof(F.cfg_buf), &F.pub.ohttp_key_config_len, &err) < 0 ||
	    dcr_sha256(F.cfg.pk, 32, F.key_id, &err) < 0)
		die("key configuration", &err);
	F.pub.ohttp_key_config = F.cfg_buf;

	/* Login identities: P-256 as dcr auth login makes them, and Ed25519, which signs without a digest. */
	F.ids[ID_LOGIN] = login_identity("Login@Acme.example", NULL, 0);
	if (!(ed_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")))
		die("Ed25519 key", NULL);
	pem = ed25519_pem(ed_key, &pem_len);
	F.ids[ID_LOGIN_ED] = login_identity("ed@acme.example", pem, pem_len);
	dcr_wipe(pem, pem_len);
	free(pem);
	EVP_PKEY_free(ed_key);
	F.keys[K_LOGIN] = F.ids[ID_LOGIN]->key;
	F.keys[K_ED25519] = F.ids[ID_LOGIN_ED]->key;
	if (!(F.keys[K_NOMAIL] = EVP_EC_gen("P-256")))
		die("P-256 key", NULL);
	nomail_req = request_with(F.keys[K_NOMAIL], NULL);
	/* The enclave skips names that are no e-mail address, or too long to be one, and lowercases. */
	snprintf(odd_san, sizeof(odd_san), "DNS:host.example,email:%0300d@acme.example,email:Mixed@Acme.Example", 0);
	odd_req = request_with(F.keys[K_NOMAIL], odd_san);

	/* Certificates: from the CA rooms trust, and from another one. */
	ca_create("fuzz-ca", &F.keys[K_CA], &ca);
	ca_create("other-ca", &other_ca_key, &other_ca);
	if (dcr_pki_keygen("alice@acme.example", &pem, &pem_len, &csr, &csr_len, &err) < 0)
		die("alice's key", &err);
	if (!(alice_key = key_from_pem(pem, pem_len)) || !(alice_req = request_from_pem(csr, csr_len)))
		die("alice's key from PEM", NULL);
	dcr_wipe(pem, pem_len);
	free(pem);
	free(csr);
	F.keys[K_ALICE] = alice_key;
	alice = issue(F.keys[K_CA], ca, alice_req);
	alice_other = issue(other_ca_key, other_ca, alice_req);
	ed_cert = issue(F.keys[K_CA], ca, F.ids[ID_LOGIN_ED]->request);

	item_request(I_LOGIN_REQ, F.ids[ID_LOGIN]->request, K_LOGIN, "login@acme.example");
	item_request(I_ED_REQ, F.ids[ID_LOGIN_ED]->request, K_ED25519, "ed@acme.example");
	item_request(I_NOMAIL_REQ, nomail_req, K_NOMAIL, NULL);
	item_request(I_ODD_REQ, odd_req, K_NOMAIL, "mixed@acme.example");
	item_cert(I_ALICE_CERT, alice, K_ALICE, "alice@acme.example", true);
	item_cert(I_ED_CERT, ed_cert, K_ED25519, "ed@acme.example", true);
	item_cert(I_CA_CERT, ca, K_CA, NULL, false);
	item_cert(I_ALICE_OTHER_CERT, alice_other, K_ALICE, "alice@acme.example", false);
	F.ids[ID_ALICE] = cert_identity(alice_key, alice, ca, "alice@acme.example");
	F.ids[ID_ED_CERT] = cert_identity(F.keys[K_ED25519], ed_cert, NULL, "ed@acme.example");

	X509_REQ_free(alice_req);
	X509_REQ_free(nomail_req);
	X509_REQ_free(odd_req);
	X509_free(alice);
	X509_free(alice_other);
	X509_free(ed_cert);
	X509_free(ca);
	X509_free(other_ca);
	EVP_PKEY_free(other_ca_key);
	ERR_clear_error();
}

/* ---- reading the input ---- */

struct cursor {
	const uint8_t *p;
	size_t n;
};

static uint8_t take8(struct cursor *c)
{
	if (!c->n)
		return 0;
	c->n--;
	return *c->p++;
}

static uint16_t take16(struct cursor *c)
{
	uint16_t v = take8(c);

	return (uint16_t)(v | take8(c) << 8);
}

static uint64_t take64(struct cursor *c)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)take8(c) << (8 * i);
	return v;
}

/* Up to want bytes, fewer when the input runs out. */
static const uint8_t *take(struct cursor *c, size_t want, size_t *got)
{
	const uint8_t *p = c->p;

	*got = want < c->n ? want : c->n;
	c->p += *got;
	c->n -= *got;
	return p;
}

/* A string of up to 255 bytes, cut at its first 0 as packing a Call would. */
static const char *take_string(struct cursor *c, char buf[static 256])
{
	size_t len;
	const uint8_t *p = take(c, take8(c), &len);

	memcpy(buf, p, len);
	buf[len] = '\0';
	return buf;
}

static const char *take_method(struct cursor *c, char buf[static 256])
{
	static const char *const methods[] = { DCR_CALL_LOGIN, "rooms.list", "AUTH.LOGIN", "auth.login ",
		"auth.logi", "auth.login.x" };
	uint8_t m = take8(c) % 8;

	if (m < sizeof(methods) / sizeof(methods[0]))
		return methods[m];
	if (m == 6)
		return take_string(c, buf);
	/* One byte longer than a method may be. */
	memset(buf, 'm', 65);
	buf[65] = '\0';
	return buf;
}

static bool method_valid(const char *m)
{
	return *m && strlen(m) <= 64;
}

/* ---- the oracle ---- */

static bool is_login(const char *method)
{
	return strcmp(method, DCR_CALL_LOGIN) == 0;
}

/* Verified here, not by lib/call.c: sig over SIGN_DOMAIN, 0, call, by key (SHA-256 unless Ed25519). */
static bool signature_verifies(EVP_PKEY *key, const uint8_t *call, size_t call_len, const uint8_t *sig,
	size_t sig_len)
{
	uint8_t *msg = malloc(sizeof(SIGN_DOMAIN) + call_len);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool ok;

	CHECK(msg && md);
	memcpy(msg, SIGN_DOMAIN, sizeof(SIGN_DOMAIN));
	if (call_len)
		memcpy(msg + sizeof(SIGN_DOMAIN), call, call_len);
	ok = EVP_DigestVerifyInit(md, NULL, EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256(),
		     NULL, key) == 1 &&
		EVP_DigestVerify(md, sig, sig_len, msg, sizeof(SIGN_DOMAIN) + call_len) == 1;
	EVP_MD_CTX_free(md);
	free(msg);
	ERR_clear_error();
	return ok;
}

/* What holds for any result of dcr_call_accept. */
static void check_result(int r, const struct dcr_call_request *req)
{
	if (r < 0) {
		CHECK(r == DCR_EINVALID || r == DCR_EINTEGRITY || r == DCR_EDENIED || r == DCR_EFAIL ||
			r == DCR_ENOMEM);
		CHECK(!req->method && !req->body && !req->chain && !req->request);
		return;
	}
	CHECK(r == 0);
	CHECK(req->method && req->body);
	/* A certificate chain or a certificate request, never both, never neither. */
	CHECK(!req->chain != !req->request);
	/* A request is accepted for the login method alone, and a login never with a chain. */
	CHECK(req->request ? is_login(req->method) : !is_login(req->method));
	CHECK(req->chain == NULL || sk_X509_num(req->chain) >= 1);
	CHECK(req->email[0]);
	for (const char *p = req->email; *p; p++)
		CHECK(!isupper((unsigned char)*p));
	CHECK(req->timestamp_ms >= NOW_MS - DCR_CALL_MAX_AGE_MS && req->timestamp_ms <= NOW_MS + DCR_CALL_MAX_AHEAD_MS);
}

/*
 * An accepted call against its plaintext, a SignedCall, parsed here: the
 * signer's key is what its slot holds, and the signature verifies under
 * it, the request's key for a login.
 */
static void check_accepted(const struct dcr_call_request *req, const uint8_t *pt, size_t pt_len)
{
	Dcr__V1__SignedCall *sc = dcr__v1__signed_call__unpack(NULL, pt_len, pt);
	Dcr__V1__Call *call = sc ? dcr__v1__call__unpack(NULL, sc->call.len, sc->call.data) : NULL;
	EVP_PKEY *signer;

	CHECK(call);
	CHECK(strcmp(req->method, call->method) == 0);
	CHECK(req->body_len == call->body.len &&
		(!call->body.len || memcmp(req->body, call->body.data, call->body.len) == 0));
	CHECK(req->timestamp_ms == call->timestamp_ms);
	CHECK(call->nonce.len == DCR_CALL_NONCE_LEN && memcmp(req->nonce, call->nonce.data, DCR_CALL_NONCE_LEN) == 0);
	if (req->request) {
		const unsigned char *p = call->certificate_chain[0].data;
		X509_REQ *mine;

		CHECK(call->n_certificate_chain == 1);
		mine = d2i_X509_REQ(NULL, &p, (long)call->certificate_chain[0].len);
		CHECK(mine && p == call->certificate_chain[0].data + call->certificate_chain[0].len);
		signer = X509_REQ_get0_pubkey(mine);
		CHECK(signer && EVP_PKEY_eq(signer, X509_REQ_get0_pubkey(req->request)) == 1);
		CHECK(X509_REQ_verify(mine, signer) == 1);
		CHECK(signature_verifies(signer, sc->call.data, sc->call.len, sc->signature.data, sc->signature.len));
		X509_REQ_free(mine);
	} else {
		X509 *leaf = NULL;

		CHECK(call->n_certificate_chain == (size_t)sk_X509_num(req->chain));
		/* Every item a whole certificate: a request never passes for one. */
		for (size_t i = 0; i < call->n_certificate_chain; i++) {
			const unsigned char *p = call->certificate_chain[i].data;
			X509 *cert = d2i_X509(NULL, &p, (long)call->certificate_chain[i].len);

			CHECK(cert && p == call->certificate_chain[i].data + call->certificate_chain[i].len);
			if (i == 0)
				leaf = cert;
			else
				X509_free(cert);
		}
		signer = X509_get0_pubkey(leaf);
		CHECK(signer && EVP_PKEY_eq(signer, X509_get0_pubkey(sk_X509_value(req->chain, 0))) == 1);
		CHECK(signature_verifies(signer, sc->call.data, sc->call.len, sc->signature.data, sc->signature.len));
		X509_free(leaf);
	}
	ERR_clear_error();
	dcr__v1__call__free_unpacked(call, NULL);
	dcr__v1__signed_call__free_unpacked(sc, NULL);
}

/* Whether the room that trusts our CA accepts an accepted call's chain; a login never passes. */
static int check_chain(const struct dcr_call_request *req)
{
	const uint8_t *roots[] = { F.items[I_CA_CERT].der };
	size_t root_lens[] = { F.items[I_CA_CERT].len };
	struct dcr_err err;
	int r = dcr_call_verify_chain(req, roots, root_lens, 1, NOW_MS / 1000, NULL, &err);

	CHECK(r == 0 || r == DCR_EDENIED);
	if (req->request)
		CHECK(r == DCR_EDENIED);
	/* Only the CA signs certificates that could lead to it, and none of them is an intermediate. */
	else if (r == 0)
		CHECK(X509_verify(sk_X509_value(req->chain, 0), F.keys[K_CA]) == 1);
	ERR_clear_error();
	return r;
}

static int accept_call(struct dcr_replay *replay, const uint8_t *wire, size_t len, struct dcr_call_request *req,
	struct dcr_err *err)
{
	struct dcr_ohttp_ctx sctx = { 0 };
	int r = dcr_call_accept(F.sk, &F.cfg, wire, len, NOW_MS, replay, &sctx, req, err);

	dcr_ohttp_ctx_release(&sctx);
	check_result(r, req);
	return r;
}

static uint8_t *encapsulate(struct dcr_ohttp_ctx *cctx, const uint8_t *pt, size_t len, size_t *wire_len)
{
	uint8_t *wire = malloc(len + DCR_OHTTP_REQUEST_OVERHEAD);
	struct dcr_err err;

	CHECK(wire);
	if (dcr_ohttp_request_encapsulate(cctx, &F.cfg, F.cfg.algs[0], DCR_OHTTP_DCR_REQUEST, pt, len, wire,
		    len + DCR_OHTTP_REQUEST_OVERHEAD, wire_len, &err) < 0) {
		free(wire);
		return NULL;
	}
	return wire;
}

/* ---- modes ---- */

static void fuzz_raw(struct dcr_replay *replay, const uint8_t *data, size_t size)
{
	struct dcr_call_request req;
	struct dcr_err err;

	if (accept_call(replay, data, size, &req, &err) == 0)
		dcr_call_request_release(&req);
}

static void fuzz_garbage(struct dcr_replay *replay, const uint8_t *data, size_t size)
{
	struct dcr_ohttp_ctx cctx = { 0 };
	struct dcr_call_request req;
	struct dcr_err err;
	size_t len = 0;
	uint8_t *wire = encapsulate(&cctx, data, size, &len);

	if (wire && accept_call(replay, wire, len, &req, &err) == 0) {
		check_accepted(&req, data, size);
		check_chain(&req);
		dcr_call_request_release(&req);
	}
	dcr_ohttp_ctx_release(&cctx);
	free(wire);
}

/* A certificate slot item: one made at setup (perhaps mutated), or the input's bytes. */
static uint8_t *take_item(struct cursor *c, int *pool, bool *mutated, size_t *len)
{
	uint8_t sel = take8(c), mut = take8(c), *out;
	const uint8_t *src;
	size_t n, extra = 0;

	*mutated = false;
	if (sel % (N_ITEMS + 1) < N_ITEMS) {
		*pool = sel % (N_ITEMS + 1);
		src = F.items[*pool].der;
		n = F.items[*pool].len;
	} else {
		*pool = -1;
		src = take(c, take16(c) % 4096, &n);
	}
	CHECK(out = malloc(n + 256));
	memcpy(out, src, n);
	if (mut & 0x80 && n) {
		size_t at = take16(c) % n;
		uint8_t x = take8(c);

		out[at] ^= x;
		*mutated |= x != 0;
	}
	if (mut & 0x40 && n) {
		size_t to = take16(c) % n;

		*mutated = true;
		n = to;
	}
	if (mut & 0x20) {
		const uint8_t *p = take(c, take8(c), &extra);

		memcpy(out + n, p, extra);
		n += extra;
		*mutated |= extra > 0;
	}
	*len = n;
	return out;
}

static uint8_t *sign(EVP_PKEY *key, const uint8_t *msg, size_t len, size_t *sig_len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	const EVP_MD *digest = EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
	uint8_t *sig = NULL;

	CHECK(md && EVP_DigestSignInit(md, NULL, digest, NULL, key) == 1 &&
		EVP_DigestSign(md, NULL, sig_len, msg, len) == 1 && (sig = malloc(*sig_len)) &&
		EVP_DigestSign(md, sig, sig_len, msg, len) == 1);
	EVP_MD_CTX_free(md);
	return sig;
}

enum {
	F_KEY_ID = 1 << 0,      /* a wrong enclave key id */
	F_TIME_RAW = 1 << 1,    /* any timestamp, not one near the enclave's clock */
	F_NONCE = 1 << 2,       /* the input's nonce, any length */
	F_ROOM = 1 << 3,        /* a well-formed audit room */
	F_ROOM_FUZZ = 1 << 4,   /* the input's audit room */
	F_CALL_EXTRA = 1 << 5,  /* protobuf bytes after the Call, signed with it (last field wins) */
	F_CALL_MUT = 1 << 6,    /* a byte of the Call changed after signing */
	F_SIG_MUT = 1 << 7,     /* a byte of the signature changed */
	F_SC_EXTRA = 1 << 8,    /* protobuf bytes after the SignedCall */
	F_NO_DOMAIN = 1 << 9,   /* signed without the domain prefix */
	F_TWICE = 1 << 10,      /* sent again: a replay */
};

/* A Call built from the input, and what this side knows of it. */
struct built {
	size_t n; /* items in the certificate slot */
	int pool[DCR_CALL_MAX_CHAIN + 1];
	bool pristine; /* every item as setup made it */
	const char *method;
	uint16_t flags;
	int64_t timestamp;
	size_t nonce_len;
	EVP_PKEY *signer; /* NULL: the input's signature, or none */
	bool changed;     /* the Call or the signature changed after signing */
	uint8_t *call, *sig;
	size_t call_len, sig_len;
};

/* Whether the enclave gets the fields as built: nothing added, nothing changed after signing. */
static bool built_plain(const struct built *b)
{
	return !(b->flags & (F_CALL_EXTRA | F_SC_EXTRA | F_CALL_MUT));
}

/*
 * What the enclave must answer, or 1 when this side cannot tell: every
 * check before the slot's must pass, and the slot hold what setup made.
 */
static int expected(const struct built *b)
{
	bool login = is_login(b->method), any_request = false, ok;
	const struct item *lead;

	if (!built_plain(b) || b->flags & (F_KEY_ID | F_TIME_RAW) || b->nonce_len != DCR_CALL_NONCE_LEN ||
	    !method_valid(b->method) ||
	    b->timestamp < NOW_MS - DCR_CALL_MAX_AGE_MS || b->timestamp > NOW_MS + DCR_CALL_MAX_AHEAD_MS)
		return 1;
	if (b->n == 0 || b->n > DCR_CALL_MAX_CHAIN)
		return DCR_EINVALID;
	if (!b->pristine)
		return 1;
	lead = &F.items[b->pool[0]];
	for (size_t i = 0; i < b->n; i++)
		any_request |= F.items[b->pool[i]].kind == REQUEST;
	if (login && (b->n != 1 || lead->kind != REQUEST))
		return DCR_EINVALID;
	/* A request gets nothing but a login. */
	if (!login && any_request)
		return DCR_EDENIED;
	ok = signature_verifies(F.keys[lead->key], b->call, b->call_len, b->sig, b->sig_len);
	/* By construction too: only the lead's key, over this call and the domain, signs it. */
	CHECK(ok == (b->signer == F.keys[lead->key] && !b->changed && !(b->flags & F_NO_DOMAIN)));
	return ok && lead->email ? 0 : DCR_EDENIED;
}

static void fuzz_fields(struct dcr_replay *replay, struct cursor *c)
{
	static const uint8_t counts[16] = { 1, 1, 1, 1, 1, 1, 2, 2, 3, 4, 5, 6, 7, 8, 0, 9 };
	Dcr__V1__Call call = DCR__V1__CALL__INIT;
	Dcr__V1__SignedCall sc = DCR__V1__SIGNED_CALL__INIT;
	ProtobufCBinaryData slot[DCR_CALL_MAX_CHAIN + 1];
	uint8_t *owned[DCR_CALL_MAX_CHAIN + 1] = { 0 }, key_id[32], nonce[256], *msg, *sc_buf, *wire, signer_sel;
	size_t call_extra = 0, sc_extra = 0, sc_len, wire_len = 0, body_len;
	const uint8_t *call_extra_p = NULL, *sc_extra_p = NULL, *body;
	char method_buf[256], room_buf[256];
	struct built b = { .n = counts[take8(c) & 15], .pristine = true, .nonce_len = DCR_CALL_NONCE_LEN };
	struct dcr_ohttp_ctx cctx = { 0 };
	struct dcr_call_request req;
	struct dcr_err err;
	int r, want;

	for (size_t i = 0; i < b.n; i++) {
		bool mutated;

		owned[i] = take_item(c, &b.pool[i], &mutated, &slot[i].len);
		slot[i].data = owned[i];
		b.pristine &= b.pool[i] >= 0 && !mutated;
	}
	b.method = take_method(c, method_buf);
	signer_sel = take8(c) % 8;
	b.flags = take16(c);

	memcpy(key_id, F.key_id, 32);
	if (b.flags & F_KEY_ID) {
		uint8_t at = take8(c) % 32;

		key_id[at] ^= take8(c) | 1;
	}
	b.timestamp = b.flags & F_TIME_RAW ? (int64_t)take64(c) : NOW_MS + (int16_t)take16(c) * 10;
	if (b.flags & F_NONCE) {
		const uint8_t *p = take(c, take8(c), &b.nonce_len);

		memcpy(nonce, p, b.nonce_len);
	} else {
		/* Each input has a replay cache of its own. */
		memset(nonce, 0x5a, DCR_CALL_NONCE_LEN);
	}
	if (b.flags & F_ROOM) {
		memset(room_buf, 'a', 64);
		room_buf[64] = '\0';
		call.audit_room = room_buf;
		call.audit_known_size = take64(c);
	} else if (b.flags & F_ROOM_FUZZ) {
		call.audit_room = (char *)take_string(c, room_buf);
	}
	if (b.flags & F_CALL_EXTRA)
		call_extra_p = take(c, take8(c), &call_extra);
	if (b.flags & F_SC_EXTRA)
		sc_extra_p = take(c, take8(c), &sc_extra);
	if (signer_sel == 0) {
		b.signer = F.keys[b.n && b.pool[0] >= 0 ? F.items[b.pool[0]].key : K_LOGIN];
	} else if (signer_sel <= N_KEYS) {
		b.signer = F.keys[signer_sel - 1];
	} else if (signer_sel == 6) {
		const uint8_t *p = take(c, take8(c), &b.sig_len);

		CHECK(b.sig = malloc(b.sig_len ? b.sig_len : 1));
		memcpy(b.sig, p, b.sig_len);
	}
	/* signer_sel 7: no signature at all. */
	body = take(c, c->n, &body_len);

	call.n_certificate_chain = b.n;
	call.certificate_chain = slot;
	call.enclave_key_id = (ProtobufCBinaryData){ 32, key_id };
	call.timestamp_ms = b.timestamp;
	call.nonce = (ProtobufCBinaryData){ b.nonce_len, nonce };
	call.method = (char *)b.method;
	call.body = (ProtobufCBinaryData){ body_len, (uint8_t *)body };
	b.call_len = dcr__v1__call__get_packed_size(&call);
	CHECK(b.call = malloc(b.call_len + call_extra + 1));
	dcr__v1__call__pack(&call, b.call);
	/* Fields again after the Call: the last one wins, so they may replace any field. */
	if (call_extra)
		memcpy(b.call + b.call_len, call_extra_p, call_extra);
	b.call_len += call_extra;

	if (b.signer) {
		CHECK(msg = malloc(sizeof(SIGN_DOMAIN) + b.call_len));
		memcpy(msg, SIGN_DOMAIN, sizeof(SIGN_DOMAIN));
		memcpy(msg + sizeof(SIGN_DOMAIN), b.call, b.call_len);
		b.sig = b.flags & F_NO_DOMAIN ? sign(b.signer, b.call, b.call_len, &b.sig_len) :
						sign(b.signer, msg, sizeof(SIGN_DOMAIN) + b.call_len, &b.sig_len);
		free(msg);
	}
	if (b.flags & F_CALL_MUT && b.call_len) {
		size_t at = take16(c) % b.call_len;
		uint8_t x = take8(c);

		b.call[at] ^= x;
		b.changed = x != 0;
	}
	if (b.flags & F_SIG_MUT && b.sig_len) {
		size_t at = take8(c) % b.sig_len;
		uint8_t x = take8(c);

		b.sig[at] ^= x;
		b.changed |= x != 0;
	}
	sc.call = (ProtobufCBinaryData){ b.call_len, b.call };
	sc.signature = (ProtobufCBinaryData){ b.sig_len, b.sig };
	sc_len = dcr__v1__signed_call__get_packed_size(&sc);
	CHECK(sc_buf = malloc(sc_len + sc_extra + 1));
	dcr__v1__signed_call__pack(&sc, sc_buf);
	if (sc_extra)
		memcpy(sc_buf + sc_len, sc_extra_p, sc_extra);
	sc_len += sc_extra;

	want = expected(&b);
	CHECK(wire = encapsulate(&cctx, sc_buf, sc_len, &wire_len));
	r = accept_call(replay, wire, wire_len, &req, &err);
	if (want != 1)
		CHECK_CODE(r, want, &err);
	if (r == 0) {
		int chain = check_chain(&req);

		check_accepted(&req, sc_buf, sc_len);
		if (want == 0)
			CHECK(strcmp(req.email, F.items[b.pool[0]].email) == 0);
		if (want == 0 && !req.request)
			CHECK(chain == (F.items[b.pool[0]].by_ca ? 0 : DCR_EDENIED));
		if (built_plain(&b) && call.audit_room && strlen(call.audit_room) == 64)
			CHECK(strcmp(req.audit_room, call.audit_room) == 0 && req.audit_known_size == call.audit_known_size);
		else if (built_plain(&b))
			CHECK(!req.audit_room[0]);
		dcr_call_request_release(&req);
		if (b.flags & F_TWICE) {
			r = accept_call(replay, wire, wire_len, &req, &err);
			CHECK_CODE(r, DCR_EINTEGRITY, &err);
		}
	}

	dcr_ohttp_ctx_release(&cctx);
	for (size_t i = 0; i < b.n; i++)
		free(owned[i]);
	free(b.call);
	free(b.sig);
	free(sc_buf);
	free(wire);
}

static void fuzz_seal(struct dcr_replay *replay, struct cursor *c)
{
	const struct dcr_identity *id = F.ids[take8(c) % N_IDS];
	char method_buf[256], room_buf[256], *message;
	const char *method = take_method(c, method_buf), *room = NULL;
	uint8_t flags = take8(c), *wire, *resp, *answer;
	const uint8_t *body;
	int code = -(int)(take8(c) % 16), answer_code, want, r;
	size_t body_len, wire_len, resp_len, answer_len;
	uint64_t known = 0;
	struct dcr_ohttp_ctx cctx = { 0 }, sctx = { 0 };
	struct dcr_call_request req;
	struct dcr_err err;

	if (flags & 1) {
		room = take_string(c, room_buf);
		known = take64(c);
	}
	body = take(c, c->n, &body_len);
	if (dcr_call_seal_room(id, &F.pub, method, body, body_len, NOW_MS, room, known, &cctx, &wire, &wire_len,
		    &err) < 0) {
		fprintf(stderr, "fuzz-call: seal: %s\n", err.msg);
		abort();
	}
	r = dcr_call_accept(F.sk, &F.cfg, wire, wire_len, NOW_MS, replay, &sctx, &req, &err);
	check_result(r, &req);
	if (!method_valid(method))
		want = DCR_EINVALID;
	else if (id->request)
		want = is_login(method) ? 0 : DCR_EDENIED;
	else
		want = is_login(method) ? DCR_EINVALID : 0;
	CHECK_CODE(r, want, &err);
	if (r == 0) {
		CHECK(strcmp(req.email, id->email) == 0 && strcmp(req.method, method) == 0);
		CHECK(req.body_len == body_len && (!body_len || memcmp(req.body, body, body_len) == 0));
		if (id->request)
			CHECK(EVP_PKEY_eq(X509_REQ_get0_pubkey(req.request), id->key) == 1);
		else
			CHECK(EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(req.chain, 0)), id->key) == 1);
		CHECK(check_chain(&req) == (id->request ? DCR_EDENIED : 0));
		if (room && strlen(room) == 64)
			CHECK(strcmp(req.audit_room, room) == 0 && req.audit_known_size == known);
		else
			CHECK(!req.audit_room[0]);

		/* The answer goes back to the caller, and only the caller opens it. */
		CHECK(dcr_call_respond(&sctx, code, req.method, req.body, req.body_len, &resp, &resp_len, &err) == 0);
		CHECK(dcr_call_open_result(&cctx, resp, resp_len, &answer_code, &message, &answer, &answer_len, &err) == 0);
		CHECK(answer_code == code && strcmp(message, req.method) == 0 && answer_len == req.body_len &&
			(!answer_len || memcmp(answer, req.body, answer_len) == 0));
		free(resp);
		free(message);
		free(answer);
		dcr_call_request_release(&req);
		if (flags & 2) {
			dcr_ohttp_ctx_release(&sctx);
			memset(&sctx, 0, sizeof(sctx));
			r = dcr_call_accept(F.sk, &F.cfg, wire, wire_len, NOW_MS, replay, &sctx, &req, &err);
			check_result(r, &req);
			CHECK_CODE(r, DCR_EINTEGRITY, &err);
		}
	}
	dcr_ohttp_ctx_release(&sctx);
	dcr_ohttp_ctx_release(&cctx);
	free(wire);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Keys, requests and certificates once, before any input: their coverage is no input's. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	setup();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cursor c = { data, size };
	uint8_t mode = take8(&c) % N_MODES;
	struct dcr_replay *replay;

	/*
	 * A replay cache per input: each input makes one call (and perhaps
	 * sends it twice), and what an input allocates it frees, or libFuzzer
	 * looks for leaks after every accepted call.
	 */
	CHECK(replay = dcr_replay_new());
	switch (mode) {
	case MODE_RAW:
		fuzz_raw(replay, c.p, c.n);
		break;
	case MODE_GARBAGE:
		fuzz_garbage(replay, c.p, c.n);
		break;
	case MODE_FIELDS:
		fuzz_fields(replay, &c);
		break;
	default:
		fuzz_seal(replay, &c);
		break;
	}
	dcr_replay_free(replay);
	ERR_clear_error();
	return 0;
}
