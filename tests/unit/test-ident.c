/* Unit tests for lib/ident.c: what it reads without OpenSSL's decoders is what the decoders read. */
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "ident.h"

/* OpenSSL's own reading of a private key in PEM, of any type, without a pass phrase. */
static EVP_PKEY *decoded(const uint8_t *pem, size_t len)
{
	EVP_PKEY *key = NULL;
	OSSL_DECODER_CTX *ctx = OSSL_DECODER_CTX_new_for_pkey(&key, "PEM", NULL, NULL, EVP_PKEY_KEYPAIR, NULL, NULL);
	const unsigned char *p = pem;
	size_t left = len;

	if (!ctx || OSSL_DECODER_from_data(ctx, &p, &left) != 1) {
		EVP_PKEY_free(key);
		key = NULL;
	}
	OSSL_DECODER_CTX_free(ctx);
	ERR_clear_error();
	return key;
}

/* The same key: the same public half and the same private scalar. */
static bool same_key(EVP_PKEY *a, EVP_PKEY *b)
{
	BIGNUM *x = NULL, *y = NULL;
	bool same = a && b && EVP_PKEY_eq(a, b) == 1 && EVP_PKEY_get_bn_param(a, OSSL_PKEY_PARAM_PRIV_KEY, &x) == 1 &&
		    EVP_PKEY_get_bn_param(b, OSSL_PKEY_PARAM_PRIV_KEY, &y) == 1 && BN_cmp(x, y) == 0;

	BN_clear_free(x);
	BN_clear_free(y);
	ERR_clear_error();
	return same;
}

/* der under label, as PEM text (free()). */
static uint8_t *pem_of(const char *label, const uint8_t *der, long len, size_t *out_len)
{
	BIO *mem = BIO_new(BIO_s_mem());
	char *text;
	long n;
	uint8_t *out;

	assert_non_null(mem);
	assert_true(PEM_write_bio(mem, label, "", der, len) > 0);
	n = BIO_get_mem_data(mem, &text);
	assert_non_null(out = malloc((size_t)n));
	memcpy(out, text, (size_t)n);
	*out_len = (size_t)n;
	BIO_free(mem);
	return out;
}

/* key as PEM (free()): PKCS#8, or with traditional the type's own form (SEC1 for EC). */
static uint8_t *key_pem(EVP_PKEY *key, bool traditional, size_t *len)
{
	BIO *mem = BIO_new(BIO_s_mem());
	char *text;
	uint8_t *out;
	long n;

	assert_non_null(mem);
	assert_int_equal(traditional ? PEM_write_bio_PrivateKey_traditional(mem, key, NULL, NULL, 0, NULL, NULL)
				     : PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL), 1);
	n = BIO_get_mem_data(mem, &text);
	assert_non_null(out = malloc((size_t)n));
	memcpy(out, text, (size_t)n);
	*len = (size_t)n;
	BIO_free(mem);
	return out;
}

/* The DER of the first PEM block of pem, and its label. */
static uint8_t *der_of(const uint8_t *pem, size_t len, char label[static 32], long *der_len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	char *name = NULL, *header = NULL;
	unsigned char *der = NULL;
	uint8_t *out;

	assert_int_equal(PEM_read_bio(bio, &name, &header, &der, der_len), 1);
	snprintf(label, 32, "%s", name);
	assert_non_null(out = malloc((size_t)*der_len));
	memcpy(out, der, (size_t)*der_len);
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_clear_free(der, (size_t)*der_len);
	BIO_free(bio);
	return out;
}

/*
 * Where the reader without decoders gives a key it is OpenSSL's key, the
 * private scalar included; counts how many of the variants it read.
 */
static size_t check_key(const uint8_t *pem, size_t len)
{
	EVP_PKEY *mine = dcr_ident_read_ec_key(pem, len), *theirs;
	size_t read = 0;

	if (mine) {
		theirs = decoded(pem, len);
		assert_true(same_key(mine, theirs));
		EVP_PKEY_free(theirs);
		read = 1;
	}
	EVP_PKEY_free(mine);
	return read;
}

/*
 * EC keys on three curves in PKCS#8 and SEC1 are read, as OpenSSL reads
 * them; every byte flipped and every truncation of one P-256 key in each
 * form gives OpenSSL's key or none; other types and encrypted keys are left
 * to the decoders.
 */
static void test_keys(void **state)
{
	static const char *const curves[] = { "P-256", "P-384", "secp256k1" };
	EVP_PKEY *keys[3], *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	size_t len, read = 0, tried = 0;
	uint8_t *pem;

	for (size_t c = 0; c < 3; c++) {
		assert_non_null(keys[c] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curves[c]));
		for (int traditional = 0; traditional < 2; traditional++) {
			EVP_PKEY *mine;

			pem = key_pem(keys[c], traditional, &len);
			assert_non_null(mine = dcr_ident_read_ec_key(pem, len));
			assert_true(same_key(mine, keys[c]));
			EVP_PKEY_free(mine);
			/* The way dcr reads a key takes it too. */
			assert_non_null(mine = dcr_ident_read_key(pem, len));
			assert_true(same_key(mine, keys[c]));
			EVP_PKEY_free(mine);
			free(pem);
		}
	}
	for (int traditional = 0; traditional < 2; traditional++) {
		char label[32];
		long der_len;
		uint8_t *der, *v;

		pem = key_pem(keys[0], traditional, &len);
		der = der_of(pem, len, label, &der_len);
		free(pem);
		assert_non_null(v = malloc((size_t)der_len));
		for (long i = 0; i < der_len; i++) {
			for (int bit = 0; bit < 8; bit += 7) {
				memcpy(v, der, (size_t)der_len);
				v[i] ^= (uint8_t)(1u << bit);
				pem = pem_of(label, v, der_len, &len);
				read += check_key(pem, len);
				tried++;
				free(pem);
			}
			if (i == 0)
				continue; /* PEM has no empty block */
			pem = pem_of(label, der, i, &len);
			read += check_key(pem, len);
			tried++;
			free(pem);
		}
		free(v);
		free(der);
	}
	/* Some changed keys are still keys (a flipped bit of the scalar): the sweep compared those. */
	assert_true(read > 20 && read < tried);
	/* Not for this reader: an Ed25519 key, an encrypted one, explicit curve parameters. */
	pem = key_pem(ed, false, &len);
	assert_null(dcr_ident_read_ec_key(pem, len));
	free(pem);
	{
		BIO *mem = BIO_new(BIO_s_mem());
		char *text;
		long n;

		assert_int_equal(PEM_write_bio_PKCS8PrivateKey(mem, keys[0], EVP_aes_256_cbc(), "secret", 6, NULL, NULL), 1);
		n = BIO_get_mem_data(mem, &text);
		assert_null(dcr_ident_read_ec_key((const uint8_t *)text, (size_t)n));
		BIO_free(mem);
	}
	assert_int_equal(EVP_PKEY_set_utf8_string_param(keys[1], OSSL_PKEY_PARAM_EC_ENCODING, "explicit"), 1);
	pem = key_pem(keys[1], true, &len);
	assert_null(dcr_ident_read_ec_key(pem, len));
	free(pem);
	for (size_t c = 0; c < 3; c++)
		EVP_PKEY_free(keys[c]);
	EVP_PKEY_free(ed);
}

static X509 *make_cert(EVP_PKEY *key, EVP_PKEY *ca_key, const char *email)
{
	X509 *cert = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	char san[100];

	X509_set_version(cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), 7);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"test ca", -1, -1, 0);
	X509_set_subject_name(cert, name);
	X509_set_issuer_name(cert, name);
	X509_gmtime_adj(X509_getm_notBefore(cert), 0);
	X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
	X509_set_pubkey(cert, key);
	snprintf(san, sizeof(san), "email:%s", email);
	X509V3_set_ctx(&v3, cert, cert, NULL, NULL, 0);
	assert_non_null(ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san));
	X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(cert, ca_key, EVP_sha256()) > 0);
	X509_NAME_free(name);
	return cert;
}

/* DER of a subject alternative name extension, or NULL: as a comparable string (free()). */
static char *san_of(const STACK_OF(X509_EXTENSION) *exts)
{
	GENERAL_NAMES *names = exts ? X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL) : NULL;
	unsigned char *der = NULL;
	int n = names ? i2d_GENERAL_NAMES(names, &der) : 0;
	char *hex = NULL;

	if (n > 0) {
		assert_non_null(hex = malloc(2 * (size_t)n + 1));
		for (int i = 0; i < n; i++)
			snprintf(hex + 2 * i, 3, "%02x", der[i]);
	}
	OPENSSL_free(der);
	GENERAL_NAMES_free(names);
	ERR_clear_error();
	return hex;
}

/*
 * The peek at a certificate accepts exactly what d2i_X509 accepts and reads
 * the same issuer, subject alternative names and public key, for every byte
 * flipped and every truncation of one; the key check agrees with
 * X509_check_private_key.
 */
static void check_cert(const uint8_t *der, size_t len, EVP_PKEY *key, size_t *both)
{
	const unsigned char *p = der;
	X509 *ref = d2i_X509(NULL, &p, (long)len);
	struct dcr_ident_cert c;
	int peeked = dcr_ident_cert_peek(der, len, &c);

	ERR_clear_error();
	assert_int_equal(peeked == 0, ref != NULL);
	if (ref) {
		assert_int_equal(c.used, (size_t)(p - der));
		unsigned char *a = NULL, *b = NULL;
		int na = i2d_X509_NAME(c.issuer, &a), nb = i2d_X509_NAME(X509_get_issuer_name(ref), &b);
		char *sa = san_of(c.exts), *sb = san_of(X509_get0_extensions(ref));

		assert_true(na > 0 && na == nb);
		assert_memory_equal(a, b, (size_t)na);
		assert_true((sa == NULL) == (sb == NULL));
		if (sa)
			assert_string_equal(sa, sb);
		assert_int_equal(ASN1_STRING_cmp(c.key, X509_get0_pubkey_bitstr(ref)), 0);
		assert_int_equal(dcr_ident_cert_for_key(der, len, &c, key), X509_check_private_key(ref, key) == 1);
		ERR_clear_error();
		OPENSSL_free(a);
		OPENSSL_free(b);
		free(sa);
		free(sb);
		(*both)++;
	}
	dcr_ident_cert_release(&c);
	X509_free(ref);
}

static void test_certs(void **state)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *cert = make_cert(key, other, "alice@acme.example");
	unsigned char *der = NULL;
	int n = i2d_X509(cert, &der);
	uint8_t *v;
	size_t both = 0;

	assert_true(n > 0);
	check_cert(der, (size_t)n, key, &both);
	assert_int_equal(both, 1);
	check_cert(der, (size_t)n, other, &both);
	/* Bytes after the certificate are not read, as d2i_X509 leaves them. */
	assert_non_null(v = malloc((size_t)n + 3));
	memcpy(v, der, (size_t)n);
	memcpy(v + n, "\x05\x00\xff", 3);
	check_cert(v, (size_t)n + 3, key, &both);
	free(v);
	assert_non_null(v = malloc((size_t)n));
	for (int i = 0; i < n; i++) {
		for (int bit = 0; bit < 8; bit += 7) {
			memcpy(v, der, (size_t)n);
			v[i] ^= (uint8_t)(1u << bit);
			check_cert(v, (size_t)n, key, &both);
		}
		check_cert(der, (size_t)i, key, &both);
	}
	/* Many changed certificates still parse (a flipped bit of a name, a signature): those were compared. */
	assert_true(both > 50);
	free(v);
	OPENSSL_free(der);
	X509_free(cert);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_certs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
