/*
 * lib/ident.c's readers against OpenSSL's own (its decoders, d2i_X509):
 * what test-ident and fuzz-ident (tests/fuzz) both compare. Each function
 * here is used by both.
 */
#ifndef DCR_TEST_IDENT_FIXTURE_H
#define DCR_TEST_IDENT_FIXTURE_H

#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* der under label, as PEM text (free()), or NULL when OpenSSL cannot write it. */
static uint8_t *pem_of(const char *label, const uint8_t *der, long len, size_t *out_len)
{
	BIO *mem = BIO_new(BIO_s_mem());
	uint8_t *out = NULL;
	char *text;
	long n;

	if (mem && PEM_write_bio(mem, label, "", der, len) > 0 && (n = BIO_get_mem_data(mem, &text)) > 0 &&
	    (out = malloc((size_t)n))) {
		memcpy(out, text, (size_t)n);
		*out_len = (size_t)n;
	}
	BIO_free(mem);
	return out;
}

/*
 * dcr_ident_read_ec_key on pem against OpenSSL's decoders: 1 when it read
 * a key and it is OpenSSL's, the private scalar included; 0 when it read
 * none; -1 when it read another.
 */
static int ec_key_agrees(const uint8_t *pem, size_t len)
{
	EVP_PKEY *mine = dcr_ident_read_ec_key(pem, len), *theirs = mine ? decoded(pem, len) : NULL;
	int r = !mine ? 0 : same_key(mine, theirs) ? 1 : -1;

	EVP_PKEY_free(mine);
	EVP_PKEY_free(theirs);
	return r;
}

/* The DER of a subject alternative name extension as hex (free()), or NULL when there is none. */
static char *san_of(const STACK_OF(X509_EXTENSION) *exts)
{
	GENERAL_NAMES *names = exts ? X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL) : NULL;
	unsigned char *der = NULL;
	int n = names ? i2d_GENERAL_NAMES(names, &der) : 0;
	char *hex = NULL;

	if (n > 0) {
		if (!(hex = malloc(2 * (size_t)n + 1)))
			abort();
		for (int i = 0; i < n; i++)
			snprintf(hex + 2 * i, 3, "%02x", der[i]);
	}
	OPENSSL_free(der);
	GENERAL_NAMES_free(names);
	ERR_clear_error();
	return hex;
}

/*
 * dcr_ident_cert_peek on the len bytes at der against d2i_X509: whether
 * both refuse them, or both read a certificate (*read) as far, with the
 * same issuer, subject alternative names and public key, and
 * dcr_ident_cert_for_key agrees with X509_check_private_key for key.
 */
static bool cert_agrees(const uint8_t *der, size_t len, EVP_PKEY *key, bool *read)
{
	const unsigned char *p = der;
	X509 *ref = len <= 65536 ? d2i_X509(NULL, &p, (long)len) : NULL;
	struct dcr_ident_cert c;
	bool same = (dcr_ident_cert_peek(der, len, &c) == 0) == (ref != NULL);

	ERR_clear_error();
	*read = same && ref;
	if (*read) {
		unsigned char *a = NULL, *b = NULL;
		int na = i2d_X509_NAME(c.issuer, &a), nb = i2d_X509_NAME(X509_get_issuer_name(ref), &b);
		char *sa = san_of(c.exts), *sb = san_of(X509_get0_extensions(ref));

		same = c.used == (size_t)(p - der) && na > 0 && na == nb && memcmp(a, b, (size_t)na) == 0 &&
			(sa && sb ? strcmp(sa, sb) == 0 : sa == sb) &&
			ASN1_STRING_cmp(c.key, X509_get0_pubkey_bitstr(ref)) == 0 &&
			dcr_ident_cert_for_key(der, len, &c, key) == (X509_check_private_key(ref, key) == 1);
		ERR_clear_error();
		OPENSSL_free(a);
		OPENSSL_free(b);
		free(sa);
		free(sb);
	}
	dcr_ident_cert_release(&c);
	X509_free(ref);
	return same;
}

#endif
