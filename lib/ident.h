/* The caller's own private key and certificates, read without OpenSSL 3.0's decoders where it can be. */
#ifndef DCR_IDENT_H
#define DCR_IDENT_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Why this module: with OpenSSL 3.0, reading a private key, and every
 * parse of a certificate (for its public key), sets up OpenSSL's decoders:
 * reading the caller's own key and certificate was 8.3 M of the 26.7 M
 * instructions of a `dcr run --wait`, and the run is 10.7 % cheaper
 * without them (docs/performance.md, session 7). The common case, an EC
 * key on a named curve in PKCS#8 or SEC1 PEM and a certificate for it, is
 * read here with OpenSSL's ASN.1 templates and its key import instead;
 * anything else goes the way it went before.
 */

/*
 * An unencrypted private key in PEM, of any type OpenSSL reads. Returns NULL
 * when pem holds none (OpenSSL's error queue says why).
 */
EVP_PKEY *dcr_ident_read_key(const uint8_t *pem, size_t len);

/*
 * The way dcr_ident_read_key tries first: an EC key on a named curve with
 * its public point, unencrypted, in PKCS#8 or SEC1 PEM, read without a
 * decoder. NULL for anything else (then the decoders read it, or not).
 */
EVP_PKEY *dcr_ident_read_ec_key(const uint8_t *pem, size_t len);

/* What a certificate says that its holder needs, from its DER, its public key left undecoded. */
struct dcr_ident_cert {
	void *parsed;                         /* the whole certificate, as the template read it */
	const X509_NAME *issuer;              /* in parsed */
	const STACK_OF(X509_EXTENSION) *exts; /* in parsed; NULL when it has none */
	const X509_ALGOR *key_alg;            /* the subject public key's algorithm, in parsed */
	const ASN1_BIT_STRING *key;           /* the subject public key, in parsed */
	size_t used;                          /* the bytes of der the certificate spans */
};

/*
 * Parse the certificate at the start of the len bytes at der, as d2i_X509
 * does: bytes after it are not read (out->used says where it ends). 0, or
 * -1 when it is no certificate. Release with dcr_ident_cert_release
 * (accepts a cleared or released one).
 */
int dcr_ident_cert_peek(const uint8_t *der, size_t len, struct dcr_ident_cert *out);
void dcr_ident_cert_release(struct dcr_ident_cert *c);

/*
 * Whether the certificate of len bytes at der, peeked into c, is for key:
 * compared as encoded when both are EC keys on a named curve with the
 * point uncompressed, else by OpenSSL (X509_check_private_key on the full
 * parse), as before.
 */
bool dcr_ident_cert_for_key(const uint8_t *der, size_t len, const struct dcr_ident_cert *c, EVP_PKEY *key);

#endif
