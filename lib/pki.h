/* An organisation's small PKI: user keys and requests, a CA, issuing and checking certificates. */
#ifndef DCR_PKI_H
#define DCR_PKI_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "call.h"
#include "err.h"

#define DCR_PKI_DEFAULT_DAYS 365
#define DCR_PKI_MAX_DAYS 3650
#define DCR_PKI_CA_DAYS 3652 /* ten years, leap days included */
#define DCR_PKI_NAME_MAX 64  /* the longest X.509 common name */
#define DCR_PKI_FINGERPRINT_LEN (7 + 64) /* "sha256:" and 64 hex digits */

/*
 * Whether in is a plausible e-mail address (local@domain.tld, the rules of
 * room definitions); if so its lowercase form is copied to out.
 */
bool dcr_pki_email_normalise(const char *in, char out[static DCR_EMAIL_MAX + 1]);

/*
 * A new ECDSA P-256 key (*key_pem, PKCS#8 PEM: dcr_wipe it, then free())
 * and a certificate request signed by it (*csr_pem, free()) with CN=email
 * and email as its subject alternative name. DCR_EINVALID for a bad e-mail.
 */
int dcr_pki_keygen(const char *email, uint8_t **key_pem, size_t *key_len, uint8_t **csr_pem,
	size_t *csr_len, struct dcr_err *err);

/*
 * A certificate request (*csr_pem, free()) for the existing private key
 * key_pem, as dcr_pki_keygen makes it. DCR_EINVALID for a bad e-mail or key.
 */
int dcr_pki_request(const uint8_t *key_pem, size_t key_len, const char *email, uint8_t **csr_pem,
	size_t *csr_len, struct dcr_err *err);

/*
 * A new organisation CA named name (1 to DCR_PKI_NAME_MAX printable
 * characters): an ECDSA P-256 key (*key_pem: dcr_wipe, then free()) and a
 * self-signed certificate valid from now for days days (*cert_pem, free())
 * with basicConstraints critical CA:TRUE, keyUsage keyCertSign and cRLSign.
 */
int dcr_pki_ca_create(const char *name, int days, time_t now, uint8_t **key_pem, size_t *key_len,
	uint8_t **cert_pem, size_t *cert_len, struct dcr_err *err);

/*
 * Issue a certificate for the request csr_pem with the CA's key and
 * certificate: the request's signature must verify and it must name
 * exactly one e-mail address (as subject alternative name, or else as its
 * common name), copied to email. Valid from now for days days (1 to
 * DCR_PKI_MAX_DAYS), but never after the CA certificate. *out (free())
 * holds the new certificate then the CA certificate, in PEM.
 * DCR_EINVALID for a bad request or CA, DCR_EUSAGE for bad days.
 */
int dcr_pki_issue(const uint8_t *ca_key_pem, size_t ca_key_len, const uint8_t *ca_cert_pem,
	size_t ca_cert_len, const uint8_t *csr_pem, size_t csr_len, int days, time_t now,
	char email[static DCR_EMAIL_MAX + 1], uint8_t **out, size_t *out_len, struct dcr_err *err);

/*
 * The same from parsed objects (borrowed): *out (X509_free) is the new
 * certificate alone. How dcrd's platform CA issues.
 */
int dcr_pki_issue_x509(EVP_PKEY *ca_key, X509 *ca, X509_REQ *req, int days, time_t now,
	char email[static DCR_EMAIL_MAX + 1], X509 **out, struct dcr_err *err);

/*
 * Check that the certificate chain cert_pem (leaf first) is for the private
 * key key_pem, names an e-mail address (copied to email) and is valid at
 * now. *out (free()) is the chain re-encoded in PEM, ready to be installed.
 * DCR_EINVALID when it is not.
 */
int dcr_pki_check_cert(const uint8_t *key_pem, size_t key_len, const uint8_t *cert_pem, size_t cert_len,
	time_t now, char email[static DCR_EMAIL_MAX + 1], uint8_t **out, size_t *out_len, struct dcr_err *err);

/*
 * Whether the first certificate of cert_pem (the others may be
 * intermediates) chains, at now, to the first certificate of ca_pem as
 * trust anchor; now 0 ignores validity periods. DCR_EINVALID if not.
 */
int dcr_pki_check_chain(const uint8_t *cert_pem, size_t cert_len, const uint8_t *ca_pem, size_t ca_len,
	time_t now, struct dcr_err *err);

/* n DER certificates as one PEM text (*out, free()); DCR_EINVALID if one is not DER. */
int dcr_pki_der_to_pem(const uint8_t *const *der, const size_t *lens, size_t n, uint8_t **out, size_t *out_len,
	struct dcr_err *err);

/* An ASN.1 time (a certificate's or CRL's) as a time_t; -1 when a is NULL or malformed. */
int dcr_pki_asn1_time(const ASN1_TIME *a, time_t *out);

/* What a certificate says about its holder. */
struct dcr_pki_info {
	char email[DCR_EMAIL_MAX + 1];
	char subject[512];
	char issuer[512];                /* the issuer's subject, RFC 2253 */
	char not_before[32], not_after[32]; /* RFC 3339 UTC */
	char fingerprint[DCR_PKI_FINGERPRINT_LEN + 1]; /* sha256 of the DER SubjectPublicKeyInfo */
};

int dcr_pki_cert_info(X509 *cert, struct dcr_pki_info *out, struct dcr_err *err);

#endif
