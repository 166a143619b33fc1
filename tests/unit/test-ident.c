/* Unit tests for lib/ident.c: what it reads without OpenSSL's decoders is what the decoders read. */
#include <openssl/core_names.h>
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

#include "ident-fixture.h"

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
	int r = ec_key_agrees(pem, len);

	assert_true(r >= 0);
	return (size_t)r;
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
				assert_non_null(pem = pem_of(label, v, der_len, &len));
				read += check_key(pem, len);
				tried++;
				free(pem);
			}
			if (i == 0)
				continue; /* PEM has no empty block */
			assert_non_null(pem = pem_of(label, der, i, &len));
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

/*
 * The peek at a certificate accepts exactly what d2i_X509 accepts and reads
 * the same issuer, subject alternative names and public key, for every byte
 * flipped and every truncation of one; the key check agrees with
 * X509_check_private_key.
 */
static void check_cert(const uint8_t *der, size_t len, EVP_PKEY *key, size_t *both)
{
	bool read;

	assert_true(cert_agrees(der, len, key, &read));
	*both += read;
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
