/* An organisation's small PKI: user keys and requests, a CA, issuing and checking certificates. */
#include "pki.h"

#include <ctype.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "util.h"

#include "banned.h"

#define MAX_PEM (256u << 10)
#define SERIAL_BYTES 16
#define MIN_RSA_BITS 2048

/* ---- e-mail addresses ---- */

bool dcr_pki_email_normalise(const char *in, char out[static DCR_EMAIL_MAX + 1])
{
	size_t n = strlen(in);
	const char *at = strchr(in, '@'), *label;

	if (!at || at == in || strchr(at + 1, '@') || n > DCR_EMAIL_MAX || (size_t)(at - in) > 64)
		return false;
	for (const char *c = in; c < at; c++)
		if (!(isalnum((unsigned char)*c) || strchr(".!#$%&'*+/=?^_`{|}~-", *c)))
			return false;
	if (in[0] == '.' || at[-1] == '.' || strstr(in, ".."))
		return false;
	/* Domain: at least two dot-separated labels of letters, digits and inner hyphens. */
	label = at + 1;
	if (!strchr(label, '.'))
		return false;
	for (const char *c = label;; c++) {
		if (*c == '.' || *c == '\0') {
			if (c == label || c - label > 63 || label[0] == '-' || c[-1] == '-')
				return false;
			if (*c == '\0')
				break;
			label = c + 1;
		} else if (!(isalnum((unsigned char)*c) || *c == '-')) {
			return false;
		}
	}
	for (size_t i = 0; i <= n; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	return true;
}

/* ---- PEM in and out ---- */

/* Copy what a memory BIO holds into a new buffer; the BIO is freed. */
static int take_bio(BIO *bio, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	char *data;
	long n = BIO_get_mem_data(bio, &data);

	*out = NULL;
	if (n <= 0 || !(*out = malloc((size_t)n + 1))) {
		BIO_free(bio);
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	}
	memcpy(*out, data, (size_t)n);
	(*out)[n] = '\0';
	*out_len = (size_t)n;
	BIO_free(bio); /* a secure-memory BIO wipes what it held */
	return 0;
}

static int key_to_pem(EVP_PKEY *key, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	BIO *bio = BIO_new(BIO_s_secmem());

	/* PEM_write_bio_PrivateKey writes PKCS#8 ("BEGIN PRIVATE KEY"). */
	if (!bio || PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1) {
		BIO_free(bio);
		return dcr_err_openssl(err, DCR_EFAIL, "cannot encode the private key");
	}
	return take_bio(bio, out, out_len, err);
}

static EVP_PKEY *key_from_pem(const uint8_t *pem, size_t len)
{
	BIO *bio;
	EVP_PKEY *key;

	if (len > MAX_PEM || !(bio = BIO_new_mem_buf(pem, (int)len)))
		return NULL;
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return key;
}

/* The certificates in pem, at most DCR_CALL_MAX_CHAIN; NULL if none. */
static STACK_OF(X509) *certs_from_pem(const uint8_t *pem, size_t len)
{
	STACK_OF(X509) *sk;
	BIO *bio;
	X509 *c;

	if (len > MAX_PEM || !(bio = BIO_new_mem_buf(pem, (int)len)))
		return NULL;
	if (!(sk = sk_X509_new_null())) {
		BIO_free(bio);
		return NULL;
	}
	while (sk_X509_num(sk) < DCR_CALL_MAX_CHAIN && (c = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		if (!sk_X509_push(sk, c))
			X509_free(c);
	ERR_clear_error(); /* the end of the input reads as an error */
	BIO_free(bio);
	if (sk_X509_num(sk) == 0) {
		sk_X509_free(sk);
		return NULL;
	}
	return sk;
}

static int certs_to_pem(STACK_OF(X509) *certs, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	BIO *bio = BIO_new(BIO_s_mem());

	for (int i = 0; bio && i < sk_X509_num(certs); i++)
		if (PEM_write_bio_X509(bio, sk_X509_value(certs, i)) != 1) {
			BIO_free(bio);
			return dcr_err_openssl(err, DCR_EFAIL, "cannot encode a certificate");
		}
	if (!bio)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	return take_bio(bio, out, out_len, err);
}

/* ---- building certificates ---- */

static EVP_PKEY *p256_key(struct dcr_err *err)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");

	if (!key)
		dcr_err_openssl(err, DCR_EFAIL, "cannot generate an ECDSA P-256 key");
	return key;
}

static X509_NAME *name_cn(const char *cn)
{
	X509_NAME *n = X509_NAME_new();

	if (n && X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) != 1) {
		X509_NAME_free(n);
		return NULL;
	}
	return n;
}

static GENERAL_NAMES *email_san(const char *email)
{
	GENERAL_NAMES *names = GENERAL_NAMES_new();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();

	if (!names || !gn || !s || ASN1_STRING_set(s, email, -1) != 1) {
		GENERAL_NAMES_free(names);
		GENERAL_NAME_free(gn);
		ASN1_IA5STRING_free(s);
		return NULL;
	}
	GENERAL_NAME_set0_value(gn, GEN_EMAIL, s);
	if (!sk_GENERAL_NAME_push(names, gn)) {
		GENERAL_NAME_free(gn);
		GENERAL_NAMES_free(names);
		return NULL;
	}
	return names;
}

/* Add the extension nid with value written as in openssl.cnf; ctx names subject and issuer. */
static int add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
	int ok = ext && X509_add_ext(cert, ext, -1) == 1;

	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

static int random_serial(X509 *cert, struct dcr_err *err)
{
	uint8_t bytes[SERIAL_BYTES];
	BIGNUM *bn;
	int ok;

	if (dcr_random(bytes, sizeof(bytes), err) < 0)
		return err ? err->code : DCR_EFAIL;
	bytes[0] &= 0x7f; /* positive, as RFC 5280 requires */
	bytes[0] |= 0x40; /* and never shorter than 16 bytes */
	bn = BN_bin2bn(bytes, sizeof(bytes), NULL);
	ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
	BN_free(bn);
	return ok ? 0 : dcr_err_openssl(err, DCR_EFAIL, "cannot set a serial number");
}

/* notBefore now, notAfter now + days. */
static int set_validity(X509 *cert, time_t now, int days)
{
	return X509_time_adj_ex(X509_getm_notBefore(cert), 0, 0, &now) &&
		X509_time_adj_ex(X509_getm_notAfter(cert), days, 0, &now) ? 0 : -1;
}

/* ---- user keys ---- */

static int check_key_type(EVP_PKEY *key, struct dcr_err *err);

/* A request signed by key with CN=addr and addr as e-mail SAN, in PEM (*out: free()). */
static int make_request(EVP_PKEY *key, const char *addr, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	X509_EXTENSIONS *exts = NULL;
	X509_NAME *subject = NULL;
	GENERAL_NAMES *san = NULL;
	X509_REQ *req = NULL;
	BIO *bio = NULL;
	int r;

	if (!(req = X509_REQ_new()) || !(subject = name_cn(addr)) || !(san = email_san(addr)) ||
	    !(exts = sk_X509_EXTENSION_new_null()) ||
	    X509_REQ_set_version(req, 0) != 1 || X509_REQ_set_subject_name(req, subject) != 1 ||
	    X509_REQ_set_pubkey(req, key) != 1 ||
	    X509V3_add1_i2d(&exts, NID_subject_alt_name, san, 0, X509V3_ADD_DEFAULT) != 1 ||
	    X509_REQ_add_extensions(req, exts) != 1 ||
	    X509_REQ_sign(req, key, EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256()) <= 0 ||
	    !(bio = BIO_new(BIO_s_mem())) || PEM_write_bio_X509_REQ(bio, req) != 1) {
		r = dcr_err_openssl(err, DCR_EFAIL, "cannot make a certificate request");
		BIO_free(bio);
	} else {
		r = take_bio(bio, out, out_len, err);
	}
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(san);
	X509_NAME_free(subject);
	X509_REQ_free(req);
	return r;
}

int dcr_pki_keygen(const char *email, uint8_t **key_pem, size_t *key_len, uint8_t **csr_pem,
	size_t *csr_len, struct dcr_err *err)
{
	char addr[DCR_EMAIL_MAX + 1];
	EVP_PKEY *key = NULL;
	int r;

	*key_pem = *csr_pem = NULL;
	*key_len = *csr_len = 0;
	if (!dcr_pki_email_normalise(email, addr))
		return dcr_err_set(err, DCR_EINVALID, "'%s' is not a valid e-mail address", email);
	if (!(key = p256_key(err)))
		return err ? err->code : DCR_EFAIL;
	if ((r = make_request(key, addr, csr_pem, csr_len, err)) == 0 &&
	    (r = key_to_pem(key, key_pem, key_len, err)) < 0) {
		free(*csr_pem);
		*csr_pem = NULL;
		*csr_len = 0;
	}
	EVP_PKEY_free(key);
	return r;
}

int dcr_pki_request(const uint8_t *key_pem, size_t key_len, const char *email, uint8_t **csr_pem,
	size_t *csr_len, struct dcr_err *err)
{
	char addr[DCR_EMAIL_MAX + 1];
	EVP_PKEY *key;
	int r;

	*csr_pem = NULL;
	*csr_len = 0;
	if (!dcr_pki_email_normalise(email, addr))
		return dcr_err_set(err, DCR_EINVALID, "'%s' is not a valid e-mail address", email);
	if (!(key = key_from_pem(key_pem, key_len)))
		return dcr_err_openssl(err, DCR_EINVALID, "the key is not an unencrypted private key in PEM");
	if ((r = check_key_type(key, err)) == 0)
		r = make_request(key, addr, csr_pem, csr_len, err);
	EVP_PKEY_free(key);
	return r;
}

/* ---- the organisation CA ---- */

static bool valid_ca_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > DCR_PKI_NAME_MAX)
		return false;
	for (const unsigned char *c = (const unsigned char *)name; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			return false;
	return true;
}

int dcr_pki_ca_create(const char *name, int days, time_t now, uint8_t **key_pem, size_t *key_len,
	uint8_t **cert_pem, size_t *cert_len, struct dcr_err *err)
{
	STACK_OF(X509) *one = NULL;
	X509_NAME *subject = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	X509V3_CTX ctx;
	int r;

	*key_pem = *cert_pem = NULL;
	*key_len = *cert_len = 0;
	if (!valid_ca_name(name))
		return dcr_err_set(err, DCR_EINVALID, "'%s' is not a valid CA name (1 to %d printable characters)", name,
			DCR_PKI_NAME_MAX);
	if (days < 1 || days > 2 * DCR_PKI_CA_DAYS)
		return dcr_err_set(err, DCR_EUSAGE, "a CA is valid for 1 to %d days, not %d", 2 * DCR_PKI_CA_DAYS, days);
	if (!(key = p256_key(err)))
		return err ? err->code : DCR_EFAIL;
	if (!(cert = X509_new()) || !(subject = name_cn(name)) || X509_set_version(cert, 2) != 1 ||
	    (r = random_serial(cert, err)) < 0 || X509_set_subject_name(cert, subject) != 1 ||
	    X509_set_issuer_name(cert, subject) != 1 || set_validity(cert, now, days) < 0 ||
	    X509_set_pubkey(cert, key) != 1) {
		r = dcr_err_openssl(err, DCR_EFAIL, "cannot make the CA certificate");
		goto out;
	}
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	if (add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:TRUE") < 0 ||
	    add_ext(cert, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
	    add_ext(cert, &ctx, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always") < 0 ||
	    X509_sign(cert, key, EVP_sha256()) <= 0) {
		r = dcr_err_openssl(err, DCR_EFAIL, "cannot make the CA certificate");
		goto out;
	}
	if (!(one = sk_X509_new_null()) || !sk_X509_push(one, cert)) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = certs_to_pem(one, cert_pem, cert_len, err)) < 0 ||
	    (r = key_to_pem(key, key_pem, key_len, err)) < 0) {
		free(*cert_pem);
		*cert_pem = NULL;
		*cert_len = 0;
	}
out:
	sk_X509_free(one);
	X509_NAME_free(subject);
	X509_free(cert);
	EVP_PKEY_free(key);
	return r;
}

/* ---- issuing ---- */

/* Keys dcr can sign calls with, of a strength worth certifying. */
static int check_key_type(EVP_PKEY *key, struct dcr_err *err)
{
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_EC:
	case EVP_PKEY_ED25519:
		return 0;
	case EVP_PKEY_RSA:
		if (EVP_PKEY_get_bits(key) >= MIN_RSA_BITS)
			return 0;
		return dcr_err_set(err, DCR_EINVALID, "the request's RSA key has %d bits, fewer than %d",
			EVP_PKEY_get_bits(key), MIN_RSA_BITS);
	default:
		return dcr_err_set(err, DCR_EINVALID, "the request's key type is not supported (use ECDSA P-256)");
	}
}

/* The one e-mail address a request names: its only e-mail SAN, or else its common name. */
static int request_email(X509_REQ *req, char out[static DCR_EMAIL_MAX + 1], struct dcr_err *err)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	GENERAL_NAMES *names = exts ? X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL) : NULL;
	char raw[DCR_EMAIL_MAX + 1];
	int found = 0, r = 0;

	for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		int len;

		if (gn->type != GEN_EMAIL)
			continue;
		if (++found > 1) {
			r = dcr_err_set(err, DCR_EINVALID, "the request names more than one e-mail address");
			goto out;
		}
		len = ASN1_STRING_length(gn->d.rfc822Name);
		if (len <= 0 || len > DCR_EMAIL_MAX ||
		    memchr(ASN1_STRING_get0_data(gn->d.rfc822Name), '\0', (size_t)len)) {
			r = dcr_err_set(err, DCR_EINVALID, "the request's e-mail address is not valid");
			goto out;
		}
		memcpy(raw, ASN1_STRING_get0_data(gn->d.rfc822Name), (size_t)len);
		raw[len] = '\0';
	}
	if (!found) {
		X509_NAME *subject = X509_REQ_get_subject_name(req);
		int len = subject ? X509_NAME_get_text_by_NID(subject, NID_commonName, raw, sizeof(raw)) : -1;

		if (len <= 0 || strlen(raw) != (size_t)len || !dcr_pki_email_normalise(raw, out)) {
			r = dcr_err_set(err, DCR_EINVALID,
				"the request names no e-mail address (as subject alternative name or common name)");
			goto out;
		}
	}
	if (!dcr_pki_email_normalise(raw, out))
		r = dcr_err_set(err, DCR_EINVALID, "the request's e-mail address '%s' is not valid", raw);
out:
	ERR_clear_error();
	GENERAL_NAMES_free(names);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return r;
}

int dcr_pki_issue_x509(EVP_PKEY *ca_key, X509 *ca, X509_REQ *req, int days, time_t now,
	char email[static DCR_EMAIL_MAX + 1], X509 **out, struct dcr_err *err)
{
	X509_NAME *subject = NULL;
	GENERAL_NAMES *san = NULL;
	X509 *cert = NULL;
	EVP_PKEY *pub;
	X509V3_CTX ctx;
	int r;

	*out = NULL;
	email[0] = '\0';
	if (days < 1 || days > DCR_PKI_MAX_DAYS)
		return dcr_err_set(err, DCR_EUSAGE, "a certificate is valid for 1 to %d days, not %d",
			DCR_PKI_MAX_DAYS, days);
	if (X509_check_private_key(ca, ca_key) != 1) {
		r = dcr_err_openssl(err, DCR_EINVALID, "the CA key does not belong to the CA certificate");
		goto out;
	}
	if (X509_check_ca(ca) == 0) {
		r = dcr_err_set(err, DCR_EINVALID, "the CA certificate is not a CA (basicConstraints CA:TRUE)");
		goto out;
	}
	if (X509_cmp_time(X509_get0_notAfter(ca), &now) <= 0) {
		r = dcr_err_set(err, DCR_EINVALID, "the CA certificate has expired");
		goto out;
	}
	if (!(pub = X509_REQ_get0_pubkey(req)) || X509_REQ_verify(req, pub) != 1) {
		r = dcr_err_openssl(err, DCR_EINVALID, "the request's signature does not verify");
		goto out;
	}
	if ((r = check_key_type(pub, err)) < 0 || (r = request_email(req, email, err)) < 0)
		goto out;

	if (!(cert = X509_new()) || !(subject = name_cn(email)) || !(san = email_san(email)) ||
	    X509_set_version(cert, 2) != 1 || (r = random_serial(cert, err)) < 0 ||
	    X509_set_subject_name(cert, subject) != 1 || X509_set_issuer_name(cert, X509_get_subject_name(ca)) != 1 ||
	    set_validity(cert, now, days) < 0 || X509_set_pubkey(cert, pub) != 1) {
		r = dcr_err_openssl(err, DCR_EFAIL, "cannot make the certificate");
		goto out;
	}
	/* A certificate that outlived its CA would be refused anyway: end with it. */
	if (ASN1_TIME_compare(X509_get0_notAfter(cert), X509_get0_notAfter(ca)) > 0 &&
	    X509_set1_notAfter(cert, X509_get0_notAfter(ca)) != 1) {
		r = dcr_err_openssl(err, DCR_EFAIL, "cannot make the certificate");
		goto out;
	}
	X509V3_set_ctx(&ctx, ca, cert, NULL, NULL, 0);
	if (add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(cert, &ctx, NID_key_usage, "critical,digitalSignature") < 0 ||
	    add_ext(cert, &ctx, NID_ext_key_usage, "emailProtection,clientAuth") < 0 ||
	    X509_add1_ext_i2d(cert, NID_subject_alt_name, san, 0, X509V3_ADD_DEFAULT) != 1 ||
	    add_ext(cert, &ctx, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always") < 0 ||
	    X509_sign(cert, ca_key, EVP_PKEY_get_base_id(ca_key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256()) <= 0) {
		r = dcr_err_openssl(err, DCR_EFAIL, "cannot sign the certificate");
		goto out;
	}
	*out = cert;
	cert = NULL;
	r = 0;
out:
	ERR_clear_error();
	if (r < 0)
		email[0] = '\0';
	GENERAL_NAMES_free(san);
	X509_NAME_free(subject);
	X509_free(cert);
	return r;
}

int dcr_pki_issue(const uint8_t *ca_key_pem, size_t ca_key_len, const uint8_t *ca_cert_pem,
	size_t ca_cert_len, const uint8_t *csr_pem, size_t csr_len, int days, time_t now,
	char email[static DCR_EMAIL_MAX + 1], uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	STACK_OF(X509) *ca_certs = NULL, *chain = NULL;
	EVP_PKEY *ca_key = NULL;
	X509_REQ *req = NULL;
	X509 *cert = NULL;
	BIO *bio = NULL;
	int r;

	*out = NULL;
	*out_len = 0;
	email[0] = '\0';
	if (days < 1 || days > DCR_PKI_MAX_DAYS)
		return dcr_err_set(err, DCR_EUSAGE, "a certificate is valid for 1 to %d days, not %d",
			DCR_PKI_MAX_DAYS, days);
	if (!(ca_key = key_from_pem(ca_key_pem, ca_key_len))) {
		r = dcr_err_openssl(err, DCR_EINVALID, "the CA key is not an unencrypted private key in PEM");
		goto out;
	}
	if (!(ca_certs = certs_from_pem(ca_cert_pem, ca_cert_len))) {
		r = dcr_err_set(err, DCR_EINVALID, "the CA certificate is not a certificate in PEM");
		goto out;
	}
	if (csr_len > MAX_PEM || !(bio = BIO_new_mem_buf(csr_pem, (int)csr_len)) ||
	    !(req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL))) {
		r = dcr_err_openssl(err, DCR_EINVALID, "not a certificate request in PEM");
		goto out;
	}
	if ((r = dcr_pki_issue_x509(ca_key, sk_X509_value(ca_certs, 0), req, days, now, email, &cert, err)) < 0)
		goto out;
	if (!(chain = sk_X509_new_null()) || !sk_X509_push(chain, cert) ||
	    !sk_X509_push(chain, sk_X509_value(ca_certs, 0))) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	r = certs_to_pem(chain, out, out_len, err);
out:
	ERR_clear_error();
	sk_X509_free(chain);
	sk_X509_pop_free(ca_certs, X509_free);
	X509_free(cert);
	X509_REQ_free(req);
	BIO_free(bio);
	EVP_PKEY_free(ca_key);
	return r;
}

/* ---- installing ---- */

int dcr_pki_check_cert(const uint8_t *key_pem, size_t key_len, const uint8_t *cert_pem, size_t cert_len,
	time_t now, char email[static DCR_EMAIL_MAX + 1], uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *key = NULL;
	X509 *leaf;
	int r;

	*out = NULL;
	*out_len = 0;
	email[0] = '\0';
	if (!(key = key_from_pem(key_pem, key_len))) {
		r = dcr_err_openssl(err, DCR_EINVALID, "the key is not an unencrypted private key in PEM");
		goto out;
	}
	if (!(chain = certs_from_pem(cert_pem, cert_len))) {
		r = dcr_err_set(err, DCR_EINVALID, "it holds no certificate in PEM");
		goto out;
	}
	leaf = sk_X509_value(chain, 0);
	if (X509_check_private_key(leaf, key) != 1) {
		r = dcr_err_set(err, DCR_EINVALID,
			"its (first) certificate is not for this key: it was issued for another request");
		goto out;
	}
	if (dcr_cert_email(leaf, email) < 0) {
		r = dcr_err_set(err, DCR_EINVALID, "the certificate names no e-mail address (subject alternative name)");
		goto out;
	}
	if (X509_cmp_time(X509_get0_notBefore(leaf), &now) > 0) {
		r = dcr_err_set(err, DCR_EINVALID, "the certificate is not valid yet");
		goto out;
	}
	if (X509_cmp_time(X509_get0_notAfter(leaf), &now) <= 0) {
		r = dcr_err_set(err, DCR_EINVALID, "the certificate has expired");
		goto out;
	}
	r = certs_to_pem(chain, out, out_len, err);
out:
	ERR_clear_error();
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(key);
	return r;
}

int dcr_pki_check_chain(const uint8_t *cert_pem, size_t cert_len, const uint8_t *ca_pem, size_t ca_len,
	time_t now, struct dcr_err *err)
{
	STACK_OF(X509) *chain = certs_from_pem(cert_pem, cert_len), *cas = certs_from_pem(ca_pem, ca_len);
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int r = 0;

	if (!chain || !cas) {
		r = dcr_err_set(err, DCR_EINVALID, "no certificate in PEM");
		goto out;
	}
	if (!untrusted || !store || !ctx || X509_STORE_add_cert(store, sk_X509_value(cas, 0)) != 1) {
		r = dcr_err_openssl(err, DCR_ENOMEM, "cannot set up certificate verification");
		goto out;
	}
	for (int i = 1; i < sk_X509_num(chain); i++)
		if (!sk_X509_push(untrusted, sk_X509_value(chain, i))) {
			r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
			goto out;
		}
	if (X509_STORE_CTX_init(ctx, store, sk_X509_value(chain, 0), untrusted) != 1) {
		r = dcr_err_openssl(err, DCR_EFAIL, "cannot set up certificate verification");
		goto out;
	}
	if (now)
		X509_STORE_CTX_set_time(ctx, 0, now);
	else
		X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_NO_CHECK_TIME);
	if (X509_verify_cert(ctx) != 1)
		r = dcr_err_set(err, DCR_EINVALID, "the certificate does not chain to the CA: %s",
			X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
out:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_free(untrusted);
	sk_X509_pop_free(chain, X509_free);
	sk_X509_pop_free(cas, X509_free);
	return r;
}

int dcr_pki_der_to_pem(const uint8_t *const *der, const size_t *lens, size_t n, uint8_t **out, size_t *out_len,
	struct dcr_err *err)
{
	STACK_OF(X509) *certs = sk_X509_new_null();
	int r = 0;

	*out = NULL;
	*out_len = 0;
	if (!certs)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const unsigned char *p = der[i];
		X509 *c = lens[i] <= MAX_PEM ? d2i_X509(NULL, &p, (long)lens[i]) : NULL;

		if (!c || p != der[i] + lens[i]) {
			X509_free(c);
			r = dcr_err_openssl(err, DCR_EINVALID, "certificate %zu is not DER", i + 1);
			goto out;
		}
		if (!sk_X509_push(certs, c)) {
			X509_free(c);
			r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (n == 0)
		r = dcr_err_set(err, DCR_EINVALID, "no certificate");
	else
		r = certs_to_pem(certs, out, out_len, err);
out:
	sk_X509_pop_free(certs, X509_free);
	return r;
}

/* ---- describing ---- */

static void format_time(const ASN1_TIME *t, char out[static 32])
{
	struct tm tm;

	out[0] = '\0';
	if (t && ASN1_TIME_to_tm(t, &tm) == 1)
		strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void format_name(const X509_NAME *name, char *out, size_t size)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;

	out[0] = '\0';
	if (!bio)
		return;
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0 &&
	    (n = BIO_get_mem_data(bio, &data)) > 0) {
		if ((size_t)n >= size)
			n = (long)size - 1;
		memcpy(out, data, (size_t)n);
		out[n] = '\0';
	}
	BIO_free(bio);
}

int dcr_pki_cert_info(X509 *cert, struct dcr_pki_info *out, struct dcr_err *err)
{
	uint8_t md[DCR_SHA256_LEN], *der = NULL;
	int len;

	memset(out, 0, sizeof(*out));
	if (dcr_cert_email(cert, out->email) < 0)
		return dcr_err_set(err, DCR_EINVALID, "the certificate names no e-mail address");
	format_name(X509_get_subject_name(cert), out->subject, sizeof(out->subject));
	format_name(X509_get_issuer_name(cert), out->issuer, sizeof(out->issuer));
	format_time(X509_get0_notBefore(cert), out->not_before);
	format_time(X509_get0_notAfter(cert), out->not_after);
	if ((len = i2d_PUBKEY(X509_get0_pubkey(cert), &der)) <= 0)
		return dcr_err_openssl(err, DCR_EINVALID, "cannot encode the certificate's public key");
	if (dcr_sha256(der, (size_t)len, md, err) < 0) {
		OPENSSL_free(der);
		return err ? err->code : DCR_EFAIL;
	}
	OPENSSL_free(der);
	memcpy(out->fingerprint, "sha256:", 7);
	dcr_hex(md, sizeof(md), out->fingerprint + 7);
	return 0;
}

int dcr_pki_asn1_time(const ASN1_TIME *a, time_t *out)
{
	struct tm tm;

	if (!a || ASN1_TIME_to_tm(a, &tm) != 1)
		return -1;
	*out = dcr_time_from_tm(&tm);
	return 0;
}
