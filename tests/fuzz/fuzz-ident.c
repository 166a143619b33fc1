/*
 * libFuzzer target for lib/ident.c, dcr's reading of its own key and
 * certificates without OpenSSL's decoders: what it reads must be what
 * OpenSSL reads. The first byte picks the input: a private key's DER
 * under the PEM label "PRIVATE KEY" (even) or "EC PRIVATE KEY" (odd), or
 * with bit 1 set a certificate's DER.
 */
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ident.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
	return key;
}

static void key_case(const uint8_t *der, size_t len, const char *label)
{
	BIO *mem = BIO_new(BIO_s_mem());
	EVP_PKEY *mine, *theirs;
	BIGNUM *x = NULL, *y = NULL;
	char *text;
	long n;

	if (!mem || len == 0 || len > 4096 || PEM_write_bio(mem, label, "", der, (long)len) <= 0) {
		BIO_free(mem);
		return;
	}
	n = BIO_get_mem_data(mem, &text);
	if ((mine = dcr_ident_read_ec_key((const uint8_t *)text, (size_t)n))) {
		/* Read: OpenSSL reads the same key, its private scalar included. */
		theirs = decoded((const uint8_t *)text, (size_t)n);
		if (!theirs || EVP_PKEY_eq(mine, theirs) != 1 ||
		    EVP_PKEY_get_bn_param(mine, OSSL_PKEY_PARAM_PRIV_KEY, &x) != 1 ||
		    EVP_PKEY_get_bn_param(theirs, OSSL_PKEY_PARAM_PRIV_KEY, &y) != 1 || BN_cmp(x, y) != 0)
			abort();
		BN_clear_free(x);
		BN_clear_free(y);
		EVP_PKEY_free(theirs);
	}
	EVP_PKEY_free(mine);
	BIO_free(mem);
}

/* A P-256 key, the same for every input, that certificates are checked against. */
static EVP_PKEY *fixed_key(void)
{
	static EVP_PKEY *key;

	if (!key && !(key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")))
		abort();
	return key;
}

static void cert_case(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *ref = len <= 65536 ? d2i_X509(NULL, &p, (long)len) : NULL;
	struct dcr_ident_cert c;
	int peeked = dcr_ident_cert_peek(der, len, &c);

	/* Read exactly when OpenSSL reads it, as far, with the same issuer and public key. */
	if ((peeked == 0) != (ref != NULL))
		abort();
	if (ref) {
		unsigned char *a = NULL, *b = NULL;
		int na = i2d_X509_NAME(c.issuer, &a), nb = i2d_X509_NAME(X509_get_issuer_name(ref), &b);

		if (c.used != (size_t)(p - der) || na <= 0 || na != nb || memcmp(a, b, (size_t)na) != 0 ||
		    ASN1_STRING_cmp(c.key, X509_get0_pubkey_bitstr(ref)) != 0)
			abort();
		/* The key check agrees with OpenSSL's. */
		if (dcr_ident_cert_for_key(der, len, &c, fixed_key()) != (X509_check_private_key(ref, fixed_key()) == 1))
			abort();
		ERR_clear_error();
		OPENSSL_free(a);
		OPENSSL_free(b);
	}
	dcr_ident_cert_release(&c);
	X509_free(ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 2)
		cert_case(data + 1, size - 1);
	else
		key_case(data + 1, size - 1, data[0] & 1 ? "EC PRIVATE KEY" : "PRIVATE KEY");
	ERR_clear_error();
	return 0;
}
