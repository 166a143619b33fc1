/* Unit tests for lib/pki.c: keys and requests, a CA, issuing, checking and describing certificates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "call.h"
#include "crypto.h"
#include "pki.h"

struct ca {
	uint8_t *key, *cert;
	size_t key_len, cert_len;
};

static void ca_make(struct ca *ca, const char *name, int days, time_t now)
{
	struct dcr_err err;

	assert_int_equal(dcr_pki_ca_create(name, days, now, &ca->key, &ca->key_len, &ca->cert, &ca->cert_len, &err),
		0);
}

static void ca_release(struct ca *ca)
{
	dcr_wipe(ca->key, ca->key_len);
	free(ca->key);
	free(ca->cert);
}

static X509 *first_cert(const uint8_t *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509 *c = PEM_read_bio_X509(bio, NULL, NULL, NULL);

	BIO_free(bio);
	assert_non_null(c);
	return c;
}

/* A request made with the openssl API, for the shapes dcr_pki_keygen never makes. */
static uint8_t *make_csr(const char *cn, const char *const *emails, size_t n_emails, size_t *len)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	BIO *bio = BIO_new(BIO_s_mem());
	uint8_t *out;
	char *data;
	long n;

	X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_REQ_set_subject_name(req, name);
	X509_REQ_set_pubkey(req, key);
	for (size_t i = 0; i < n_emails; i++) {
		GENERAL_NAME *gn = GENERAL_NAME_new();
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();

		ASN1_STRING_set(s, emails[i], -1);
		GENERAL_NAME_set0_value(gn, GEN_EMAIL, s);
		sk_GENERAL_NAME_push(gens, gn);
	}
	if (n_emails) {
		X509V3_add1_i2d(&exts, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT);
		X509_REQ_add_extensions(req, exts);
	}
	assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
	PEM_write_bio_X509_REQ(bio, req);
	n = BIO_get_mem_data(bio, &data);
	out = malloc((size_t)n);
	memcpy(out, data, (size_t)n);
	*len = (size_t)n;
	BIO_free(bio);
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(name);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	return out;
}

static void test_email(void **state)
{
	char out[DCR_EMAIL_MAX + 1];

	assert_true(dcr_pki_email_normalise("Alice.B+x@Acme-Corp.example", out));
	assert_string_equal(out, "alice.b+x@acme-corp.example");
	assert_false(dcr_pki_email_normalise("alice", out));
	assert_false(dcr_pki_email_normalise("alice@localhost", out));
	assert_false(dcr_pki_email_normalise("@acme.example", out));
	assert_false(dcr_pki_email_normalise("a@b@acme.example", out));
	assert_false(dcr_pki_email_normalise("a..b@acme.example", out));
	assert_false(dcr_pki_email_normalise("a@-acme.example", out));
	assert_false(dcr_pki_email_normalise("a b@acme.example", out));
	assert_false(dcr_pki_email_normalise("a@acme..example", out));
}

static void test_keygen(void **state)
{
	uint8_t *key, *csr;
	size_t key_len, csr_len;
	struct dcr_err err;
	X509_REQ *req;
	EVP_PKEY *pk;
	BIO *bio;
	char cn[64];

	assert_int_equal(dcr_pki_keygen("nope", &key, &key_len, &csr, &csr_len, &err), DCR_EINVALID);
	assert_null(key);
	assert_non_null(strstr(err.msg, "'nope'"));

	assert_int_equal(dcr_pki_keygen("Alice@Acme.example", &key, &key_len, &csr, &csr_len, &err), 0);
	assert_non_null(strstr((char *)key, "-----BEGIN PRIVATE KEY-----")); /* PKCS#8 */
	bio = BIO_new_mem_buf(key, (int)key_len);
	pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(pk);
	assert_int_equal(EVP_PKEY_get_base_id(pk), EVP_PKEY_EC);
	assert_int_equal(EVP_PKEY_get_bits(pk), 256);

	bio = BIO_new_mem_buf(csr, (int)csr_len);
	req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(req);
	assert_int_equal(X509_REQ_verify(req, pk), 1);
	assert_true(X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, cn, sizeof(cn)) > 0);
	assert_string_equal(cn, "alice@acme.example");
	X509_REQ_free(req);
	EVP_PKEY_free(pk);
	dcr_wipe(key, key_len);
	free(key);
	free(csr);
}

static void test_ca(void **state)
{
	struct dcr_err err;
	struct ca ca;
	uint8_t *k, *c;
	size_t kl, cl;
	X509 *cert;
	ASN1_BIT_STRING *ku;
	BASIC_CONSTRAINTS *bc;
	int crit;

	assert_int_equal(dcr_pki_ca_create("", 10, time(NULL), &k, &kl, &c, &cl, &err), DCR_EINVALID);
	assert_int_equal(dcr_pki_ca_create("bad\nname", 10, time(NULL), &k, &kl, &c, &cl, &err), DCR_EINVALID);
	ca_make(&ca, "Acme Corp", DCR_PKI_CA_DAYS, time(NULL));
	cert = first_cert(ca.cert, ca.cert_len);
	assert_int_equal(X509_check_ca(cert), 1);
	bc = X509_get_ext_d2i(cert, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_true(bc->ca);
	assert_int_equal(crit, 1);
	BASIC_CONSTRAINTS_free(bc);
	ku = X509_get_ext_d2i(cert, NID_key_usage, &crit, NULL);
	assert_non_null(ku);
	assert_true(ASN1_BIT_STRING_get_bit(ku, 5)); /* keyCertSign */
	assert_true(ASN1_BIT_STRING_get_bit(ku, 6)); /* cRLSign */
	assert_false(ASN1_BIT_STRING_get_bit(ku, 0));
	ASN1_BIT_STRING_free(ku);
	assert_int_equal(X509_check_issued(cert, cert), X509_V_OK);
	/* Ten years, give or take the leap days. */
	assert_true(X509_cmp_time(X509_get0_notAfter(cert), &(time_t){ time(NULL) + 3650L * 86400 }) > 0);
	X509_free(cert);
	ca_release(&ca);
}

/* The chain verifies against the CA alone; returns the leaf. */
static X509 *verify_chain(const struct ca *ca, const uint8_t *chain, size_t len)
{
	X509 *root = first_cert(ca->cert, ca->cert_len), *leaf = first_cert(chain, len);
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();

	X509_STORE_add_cert(store, root);
	X509_STORE_CTX_init(ctx, store, leaf, NULL);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SMIME_SIGN);
	assert_int_equal(X509_verify_cert(ctx), 1);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(root);
	return leaf;
}

static void test_issue_and_check(void **state)
{
	char email[DCR_EMAIL_MAX + 1];
	uint8_t *key, *csr, *key2, *csr2, *chain, *installed;
	size_t key_len, csr_len, key2_len, csr2_len, chain_len, installed_len;
	struct dcr_pki_info info;
	struct dcr_err err;
	time_t now = time(NULL);
	struct ca ca, other;
	X509 *leaf;

	ca_make(&ca, "acme", DCR_PKI_CA_DAYS, now);
	ca_make(&other, "evil", DCR_PKI_CA_DAYS, now);
	assert_int_equal(dcr_pki_keygen("bob@acme.example", &key, &key_len, &csr, &csr_len, &err), 0);
	assert_int_equal(dcr_pki_keygen("eve@acme.example", &key2, &key2_len, &csr2, &csr2_len, &err), 0);

	assert_int_equal(dcr_pki_issue(ca.key, ca.key_len, ca.cert, ca.cert_len, csr, csr_len, 0, now, email, &chain,
				 &chain_len, &err), DCR_EUSAGE);
	assert_int_equal(dcr_pki_issue(ca.key, ca.key_len, ca.cert, ca.cert_len, csr, csr_len, DCR_PKI_MAX_DAYS + 1,
				 now, email, &chain, &chain_len, &err), DCR_EUSAGE);
	/* The CA's key must be the one in its certificate. */
	assert_int_equal(dcr_pki_issue(other.key, other.key_len, ca.cert, ca.cert_len, csr, csr_len, 30, now, email,
				 &chain, &chain_len, &err), DCR_EINVALID);

	assert_int_equal(dcr_pki_issue(ca.key, ca.key_len, ca.cert, ca.cert_len, csr, csr_len, 30, now, email, &chain,
				 &chain_len, &err), 0);
	assert_string_equal(email, "bob@acme.example");
	leaf = verify_chain(&ca, chain, chain_len);
	assert_int_equal(X509_check_ca(leaf), 0);
	assert_non_null(X509_get0_subject_key_id(leaf));
	assert_non_null(X509_get0_authority_key_id(leaf));
	assert_int_equal(ASN1_STRING_length(X509_get0_serialNumber(leaf)), 16);
	assert_int_equal(dcr_pki_cert_info(leaf, &info, &err), 0);
	assert_string_equal(info.email, "bob@acme.example");
	assert_string_equal(info.issuer, "CN=acme");
	assert_int_equal(strlen(info.fingerprint), DCR_PKI_FINGERPRINT_LEN);
	assert_memory_equal(info.fingerprint, "sha256:", 7);
	assert_int_equal(strlen(info.not_after), 20);
	X509_free(leaf);

	/* Installing: the right key passes; another key, the past and the future do not. */
	assert_int_equal(dcr_pki_check_cert(key, key_len, chain, chain_len, now, email, &installed, &installed_len,
				 &err), 0);
	assert_string_equal(email, "bob@acme.example");
	assert_non_null(strstr((char *)installed, "BEGIN CERTIFICATE"));
	free(installed);
	assert_int_equal(dcr_pki_check_cert(key2, key2_len, chain, chain_len, now, email, &installed, &installed_len,
				 &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "not for this key"));
	assert_int_equal(dcr_pki_check_cert(key, key_len, chain, chain_len, now + 31 * 86400, email, &installed,
				 &installed_len, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "expired"));
	assert_int_equal(dcr_pki_check_cert(key, key_len, chain, chain_len, now - 86400, email, &installed,
				 &installed_len, &err), DCR_EINVALID);
	assert_int_equal(dcr_pki_check_cert(key, key_len, (const uint8_t *)"junk", 4, now, email, &installed,
				 &installed_len, &err), DCR_EINVALID);
	free(chain);

	/* A tampered request: its signature no longer verifies. */
	{
		BIO *bio = BIO_new_mem_buf(csr, (int)csr_len);
		X509_REQ *req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
		X509_NAME *n = X509_NAME_new();
		BIO *w = BIO_new(BIO_s_mem());
		char *data;
		long len;

		X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8, (const unsigned char *)"ceo@acme.example",
			-1, -1, 0);
		X509_REQ_set_subject_name(req, n);
		PEM_write_bio_X509_REQ(w, req);
		len = BIO_get_mem_data(w, &data);
		assert_int_equal(dcr_pki_issue(ca.key, ca.key_len, ca.cert, ca.cert_len, (uint8_t *)data, (size_t)len,
					 30, now, email, &chain, &chain_len, &err), DCR_EINVALID);
		assert_non_null(strstr(err.msg, "signature"));
		BIO_free(w);
		BIO_free(bio);
		X509_NAME_free(n);
		X509_REQ_free(req);
	}

	/* A certificate never outlives its CA. */
	{
		struct ca short_ca;
		X509 *c;

		ca_make(&short_ca, "short", 10, now);
		assert_int_equal(dcr_pki_issue(short_ca.key, short_ca.key_len, short_ca.cert, short_ca.cert_len, csr,
					 csr_len, 365, now, email, &chain, &chain_len, &err), 0);
		leaf = first_cert(chain, chain_len);
		c = first_cert(short_ca.cert, short_ca.cert_len);
		assert_int_equal(ASN1_TIME_compare(X509_get0_notAfter(leaf), X509_get0_notAfter(c)), 0);
		X509_free(c);
		X509_free(leaf);
		free(chain);
		ca_release(&short_ca);
	}

	dcr_wipe(key, key_len);
	dcr_wipe(key2, key2_len);
	free(key);
	free(key2);
	free(csr);
	free(csr2);
	ca_release(&ca);
	ca_release(&other);
}

static void test_request_emails(void **state)
{
	static const char *const two[] = { "a@acme.example", "b@acme.example" };
	static const char *const bad[] = { "not-an-address" };
	char email[DCR_EMAIL_MAX + 1];
	struct dcr_err err;
	uint8_t *csr, *chain;
	size_t csr_len, chain_len;
	time_t now = time(NULL);
	struct dcr_pki_info info;
	struct ca ca;
	X509 *leaf;

	ca_make(&ca, "acme", 30, now);

	/* No SAN: the common name is taken, and becomes the SAN. */
	csr = make_csr("Carol@Acme.example", NULL, 0, &csr_len);
	assert_int_equal(dcr_pki_issue(ca.key, ca.key_len, ca.cert, ca.cert_len, csr, csr_len, 7, now, email, &chain,
				 &chain_len, &err), 0);
	assert_string_equal(email, "carol@acme.example");
	leaf = verify_chain(&ca, chain, chain_len);
	assert_int_equal(dcr_pki_cert_info(leaf, &info, &err), 0);
	assert_string_equal(info.email, "carol@acme.example");
	X509_free(leaf);
	free(chain);
	free(csr);

	/* Neither SAN nor an e-mail common name. */
	csr = make_csr("Carol", NULL, 0, &csr_len);
	assert_int_equal(dcr_pki_issue(ca.key, ca.key_len, ca.cert, ca.cert_len, csr, csr_len, 7, now, email, &chain,
				 &chain_len, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "no e-mail"));
	free(csr);

	csr = make_csr("x", two, 2, &csr_len);
	assert_int_equal(dcr_pki_issue(ca.key, ca.key_len, ca.cert, ca.cert_len, csr, csr_len, 7, now, email, &chain,
				 &chain_len, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "more than one"));
	free(csr);

	csr = make_csr("x", bad, 1, &csr_len);
	assert_int_equal(dcr_pki_issue(ca.key, ca.key_len, ca.cert, ca.cert_len, csr, csr_len, 7, now, email, &chain,
				 &chain_len, &err), DCR_EINVALID);
	free(csr);

	assert_int_equal(dcr_pki_issue(ca.key, ca.key_len, ca.cert, ca.cert_len, (const uint8_t *)"junk", 4, 7, now,
				 email, &chain, &chain_len, &err), DCR_EINVALID);
	ca_release(&ca);
}

/* What dcr auth login and dcrd's platform CA use: a request for a kept key, issuing from objects, chains, DER. */
static void test_platform_helpers(void **state)
{
	char email[DCR_EMAIL_MAX + 1];
	uint8_t *key, *csr, *csr2, *chain, *pem, *der[2] = { NULL, NULL };
	size_t key_len, csr_len, csr2_len, chain_len, pem_len, der_len[2];
	struct dcr_err err;
	time_t now = time(NULL);
	struct ca ca, other;
	EVP_PKEY *ca_key, *pub;
	X509_REQ *req;
	X509 *ca_cert, *leaf;
	BIO *bio;

	(void)state;
	ca_make(&ca, "dcr platform CA", DCR_PKI_CA_DAYS, now);
	ca_make(&other, "evil", DCR_PKI_CA_DAYS, now);
	assert_int_equal(dcr_pki_keygen("gina@acme.example", &key, &key_len, &csr, &csr_len, &err), 0);

	/* A new request for the same key: same public key, the address asked for. */
	assert_int_equal(dcr_pki_request(key, key_len, "Gina@Acme.example", &csr2, &csr2_len, &err), 0);
	bio = BIO_new_mem_buf(csr2, (int)csr2_len);
	req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(req);
	pub = X509_REQ_get0_pubkey(req);
	assert_int_equal(X509_REQ_verify(req, pub), 1);
	assert_int_equal(dcr_request_email(req, email), 0);
	assert_string_equal(email, "gina@acme.example");
	bio = BIO_new_mem_buf(key, (int)key_len);
	{
		EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);

		assert_int_equal(EVP_PKEY_eq(k, pub), 1);
		EVP_PKEY_free(k);
	}
	BIO_free(bio);
	assert_int_equal(dcr_pki_request(key, key_len, "gina@localhost", &pem, &pem_len, &err), DCR_EINVALID);
	assert_int_equal(dcr_pki_request(csr, csr_len, "gina@acme.example", &pem, &pem_len, &err), DCR_EINVALID);

	/* Issuing from parsed objects, as dcrd does with its sealed CA. */
	bio = BIO_new_mem_buf(ca.key, (int)ca.key_len);
	ca_key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ca_cert = first_cert(ca.cert, ca.cert_len);
	assert_int_equal(dcr_pki_issue_x509(ca_key, ca_cert, req, 0, now, email, &leaf, &err), DCR_EUSAGE);
	assert_int_equal(dcr_pki_issue_x509(ca_key, ca_cert, req, 90, now + 20 * 366 * 86400, email, &leaf, &err),
		DCR_EINVALID);
	assert_non_null(strstr(err.msg, "expired"));
	assert_int_equal(dcr_pki_issue_x509(ca_key, ca_cert, req, 90, now, email, &leaf, &err), 0);
	assert_string_equal(email, "gina@acme.example");
	assert_int_equal(X509_verify(leaf, X509_get0_pubkey(ca_cert)), 1);
	assert_int_equal(X509_check_ca(leaf), 0);

	/* DER to PEM, and the chain check against the CA, another CA, and time. */
	der_len[0] = (size_t)i2d_X509(leaf, &der[0]);
	der_len[1] = (size_t)i2d_X509(ca_cert, &der[1]);
	assert_int_equal(dcr_pki_der_to_pem((const uint8_t *const *)der, der_len, 2, &chain, &chain_len, &err), 0);
	assert_int_equal(dcr_pki_check_chain(chain, chain_len, ca.cert, ca.cert_len, now, &err), 0);
	assert_int_equal(dcr_pki_check_chain(chain, chain_len, ca.cert, ca.cert_len, 0, &err), 0);
	assert_int_equal(dcr_pki_check_chain(chain, chain_len, other.cert, other.cert_len, now, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "does not chain"));
	assert_int_equal(dcr_pki_check_chain(chain, chain_len, ca.cert, ca.cert_len, now + 91 * 86400, &err),
		DCR_EINVALID);
	assert_int_equal(dcr_pki_check_chain((const uint8_t *)"junk", 4, ca.cert, ca.cert_len, now, &err),
		DCR_EINVALID);
	assert_int_equal(dcr_pki_check_cert(key, key_len, chain, chain_len, now, email, &pem, &pem_len, &err), 0);
	free(pem);
	der_len[0]--;
	assert_int_equal(dcr_pki_der_to_pem((const uint8_t *const *)der, der_len, 2, &pem, &pem_len, &err),
		DCR_EINVALID);
	assert_null(pem);
	assert_int_equal(dcr_pki_der_to_pem((const uint8_t *const *)der, der_len, 0, &pem, &pem_len, &err),
		DCR_EINVALID);

	OPENSSL_free(der[0]);
	OPENSSL_free(der[1]);
	free(chain);
	X509_free(leaf);
	X509_free(ca_cert);
	EVP_PKEY_free(ca_key);
	X509_REQ_free(req);
	dcr_wipe(key, key_len);
	free(key);
	free(csr);
	free(csr2);
	ca_release(&ca);
	ca_release(&other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_email),
		cmocka_unit_test(test_keygen),
		cmocka_unit_test(test_ca),
		cmocka_unit_test(test_issue_and_check),
		cmocka_unit_test(test_request_emails),
		cmocka_unit_test(test_platform_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
