/* The caller's own private key and certificates, read without OpenSSL 3.0's decoders where it can be. */
#include "ident.h"

#include <limits.h>
#include <openssl/asn1t.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "crypto.h"

#include "banned.h"

/* The longest private scalar (P-521: 66 bytes) and uncompressed point (133) of a named curve. */
#define SCALAR_MAX 72
#define POINT_MAX 160

/* ---- certificates (RFC 5280 section 4.1), the public key kept as its bytes ---- */

typedef struct {
	X509_ALGOR *alg;
	ASN1_BIT_STRING *key;
} PEEK_SPKI;

ASN1_SEQUENCE(PEEK_SPKI) = {
	ASN1_SIMPLE(PEEK_SPKI, alg, X509_ALGOR),
	ASN1_SIMPLE(PEEK_SPKI, key, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(PEEK_SPKI)

typedef struct {
	ASN1_INTEGER *version;
	ASN1_INTEGER *serial;
	X509_ALGOR *sig_alg;
	X509_NAME *issuer;
	X509_VAL *validity;
	X509_NAME *subject;
	PEEK_SPKI *spki;
	ASN1_BIT_STRING *issuer_uid;
	ASN1_BIT_STRING *subject_uid;
	STACK_OF(X509_EXTENSION) *exts;
} PEEK_TBS;

ASN1_SEQUENCE(PEEK_TBS) = {
	ASN1_EXP_OPT(PEEK_TBS, version, ASN1_INTEGER, 0),
	ASN1_SIMPLE(PEEK_TBS, serial, ASN1_INTEGER),
	ASN1_SIMPLE(PEEK_TBS, sig_alg, X509_ALGOR),
	ASN1_SIMPLE(PEEK_TBS, issuer, X509_NAME),
	ASN1_SIMPLE(PEEK_TBS, validity, X509_VAL),
	ASN1_SIMPLE(PEEK_TBS, subject, X509_NAME),
	ASN1_SIMPLE(PEEK_TBS, spki, PEEK_SPKI),
	ASN1_IMP_OPT(PEEK_TBS, issuer_uid, ASN1_BIT_STRING, 1),
	ASN1_IMP_OPT(PEEK_TBS, subject_uid, ASN1_BIT_STRING, 2),
	ASN1_EXP_SEQUENCE_OF_OPT(PEEK_TBS, exts, X509_EXTENSION, 3),
} static_ASN1_SEQUENCE_END(PEEK_TBS)

typedef struct {
	PEEK_TBS *tbs;
	X509_ALGOR *sig_alg;
	ASN1_BIT_STRING *sig;
} PEEK_CERT;

ASN1_SEQUENCE(PEEK_CERT) = {
	ASN1_SIMPLE(PEEK_CERT, tbs, PEEK_TBS),
	ASN1_SIMPLE(PEEK_CERT, sig_alg, X509_ALGOR),
	ASN1_SIMPLE(PEEK_CERT, sig, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(PEEK_CERT)

int dcr_ident_cert_peek(const uint8_t *der, size_t len, struct dcr_ident_cert *out)
{
	const unsigned char *p = der;
	PEEK_CERT *c;

	memset(out, 0, sizeof(*out));
	if (len == 0 || len > LONG_MAX)
		return -1;
	c = (PEEK_CERT *)ASN1_item_d2i(NULL, &p, (long)len, ASN1_ITEM_rptr(PEEK_CERT));
	if (!c) {
		ERR_clear_error();
		return -1;
	}
	out->used = (size_t)(p - der);
	out->parsed = c;
	out->issuer = c->tbs->issuer;
	out->exts = c->tbs->exts;
	out->key_alg = c->tbs->spki->alg;
	out->key = c->tbs->spki->key;
	return 0;
}

void dcr_ident_cert_release(struct dcr_ident_cert *c)
{
	if (!c)
		return;
	ASN1_item_free(c->parsed, ASN1_ITEM_rptr(PEEK_CERT));
	memset(c, 0, sizeof(*c));
}

/*
 * The curve of an EC public key's algorithm (id-ecPublicKey, RFC 5480) that
 * names one, as certificates and PKCS#8 keys name it; NID_undef otherwise.
 */
static int named_curve(const X509_ALGOR *algor)
{
	const ASN1_OBJECT *alg;
	const void *param;
	int type;

	X509_ALGOR_get0(&alg, &type, &param, algor);
	return OBJ_obj2nid(alg) == NID_X9_62_id_ecPublicKey && type == V_ASN1_OBJECT ? OBJ_obj2nid(param) : NID_undef;
}

/* Whether a BIT STRING (an encoded point) is whole bytes. */
static bool whole_bytes(const ASN1_BIT_STRING *s)
{
	return !(s->flags & ASN1_STRING_FLAG_BITS_LEFT) || !(s->flags & 0x07);
}

/* 1 when the certificate's key is key, by their encodings; -1 when these cannot tell (OpenSSL then decides). */
static int same_ec_key(const struct dcr_ident_cert *c, EVP_PKEY *key)
{
	int curve = named_curve(c->key_alg);
	char group[64];
	uint8_t point[POINT_MAX];
	size_t point_len;

	if (!EVP_PKEY_is_a(key, "EC") || curve == NID_undef || !whole_bytes(c->key) ||
	    EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) != 1 ||
	    EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, sizeof(point),
		    &point_len) != 1 ||
	    point_len == 0 || point[0] != 0x04) {
		ERR_clear_error();
		return -1;
	}
	if (OBJ_sn2nid(group) != curve)
		return -1;
	return (size_t)c->key->length == point_len && memcmp(c->key->data, point, point_len) == 0 ? 1 : -1;
}

bool dcr_ident_cert_for_key(const uint8_t *der, size_t len, const struct dcr_ident_cert *c, EVP_PKEY *key)
{
	const unsigned char *p = der;
	X509 *cert;
	bool ok;

	if (same_ec_key(c, key) == 1)
		return true;
	/* Anything else as OpenSSL compares it, on the full parse. */
	cert = len <= LONG_MAX ? d2i_X509(NULL, &p, (long)len) : NULL;
	ok = cert && X509_check_private_key(cert, key) == 1;
	X509_free(cert);
	ERR_clear_error();
	return ok;
}

/* ---- private keys: ECPrivateKey (RFC 5915), alone or in PKCS#8 (RFC 5208) ---- */

typedef struct {
	ASN1_INTEGER *version;
	ASN1_OCTET_STRING *scalar;
	ASN1_OBJECT *curve;   /* absent in PKCS#8, whose algorithm names the curve */
	ASN1_BIT_STRING *pub; /* the point, encoded */
} PEEK_EC_KEY;

/* The scalar is wiped before it is freed, also when a parse fails half-way. */
static int ec_key_cb(int operation, ASN1_VALUE **pval, const ASN1_ITEM *it, void *exarg)
{
	PEEK_EC_KEY *k = (PEEK_EC_KEY *)*pval;

	(void)it;
	(void)exarg;
	if (operation == ASN1_OP_FREE_PRE && k && k->scalar)
		dcr_wipe(k->scalar->data, (size_t)k->scalar->length);
	return 1;
}

ASN1_SEQUENCE_cb(PEEK_EC_KEY, ec_key_cb) = {
	ASN1_SIMPLE(PEEK_EC_KEY, version, ASN1_INTEGER),
	ASN1_SIMPLE(PEEK_EC_KEY, scalar, ASN1_OCTET_STRING),
	ASN1_EXP_OPT(PEEK_EC_KEY, curve, ASN1_OBJECT, 0),
	ASN1_EXP_OPT(PEEK_EC_KEY, pub, ASN1_BIT_STRING, 1),
} static_ASN1_SEQUENCE_END_cb(PEEK_EC_KEY, PEEK_EC_KEY)

/* The key of the ECPrivateKey of len bytes at der, on curve (NID_undef: the one it names); NULL if not one. */
static EVP_PKEY *ec_key_import(const uint8_t *der, long len, int curve)
{
	const unsigned char *p = der;
	PEEK_EC_KEY *k = (PEEK_EC_KEY *)ASN1_item_d2i(NULL, &p, len, ASN1_ITEM_rptr(PEEK_EC_KEY));
	uint8_t scalar[SCALAR_MAX];
	static const union {
		uint16_t u;
		uint8_t first;
	} order = { 1 };
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;
	size_t n;

	if (!k || p != der + len || ASN1_INTEGER_get(k->version) != 1 || k->scalar->length <= 0 ||
	    k->scalar->length > SCALAR_MAX || !k->pub || !whole_bytes(k->pub))
		goto out;
	if (k->curve) {
		int named = OBJ_obj2nid(k->curve);

		if (curve != NID_undef && named != curve)
			goto out;
		curve = named;
	}
	if (curve == NID_undef || !OBJ_nid2sn(curve))
		goto out;
	/* OpenSSL's unsigned integers are in the machine's byte order. */
	n = (size_t)k->scalar->length;
	for (size_t i = 0; i < n; i++)
		scalar[i] = order.first ? k->scalar->data[n - 1 - i] : k->scalar->data[i];
	{
		OSSL_PARAM params[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)OBJ_nid2sn(curve), 0),
			OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PRIV_KEY, scalar, n),
			OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, k->pub->data, (size_t)k->pub->length),
			OSSL_PARAM_construct_end(),
		};

		if (!(ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) || EVP_PKEY_fromdata_init(ctx) != 1 ||
		    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_KEYPAIR, params) != 1) {
			EVP_PKEY_free(key);
			key = NULL;
		}
	}
	dcr_wipe(scalar, sizeof(scalar));
out:
	EVP_PKEY_CTX_free(ctx);
	ASN1_item_free((ASN1_VALUE *)k, ASN1_ITEM_rptr(PEEK_EC_KEY));
	ERR_clear_error();
	return key;
}

EVP_PKEY *dcr_ident_read_ec_key(const uint8_t *pem, size_t len)
{
	char *name = NULL, *header = NULL;
	unsigned char *der = NULL;
	long der_len = 0;
	EVP_PKEY *key = NULL;
	BIO *bio = len <= INT_MAX ? BIO_new_mem_buf(pem, (int)len) : NULL;

	/* Secure: OpenSSL's buffers for the text and the bytes are wiped when freed. */
	if (!bio || PEM_read_bio_ex(bio, &name, &header, &der, &der_len, PEM_FLAG_SECURE | PEM_FLAG_EAY_COMPATIBLE) != 1 ||
	    der_len <= 0 || *header)
		goto out;
	if (strcmp(name, "PRIVATE KEY") == 0) {
		const unsigned char *p = der;
		PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, der_len);
		const X509_ALGOR *algor;
		const unsigned char *inner;
		int inner_len, curve;

		if (p8 && p == der + der_len && PKCS8_pkey_get0(NULL, &inner, &inner_len, &algor, p8) == 1 &&
		    (curve = named_curve(algor)) != NID_undef)
			key = ec_key_import(inner, inner_len, curve);
		PKCS8_PRIV_KEY_INFO_free(p8); /* wipes the key it holds */
	} else if (strcmp(name, "EC PRIVATE KEY") == 0) {
		key = ec_key_import(der, der_len, NID_undef);
	}
out:
	if (der)
		OPENSSL_secure_clear_free(der, (size_t)der_len);
	OPENSSL_secure_free(name);
	OPENSSL_secure_free(header);
	BIO_free(bio);
	ERR_clear_error();
	return key;
}

/*
 * Through OpenSSL's decoders: asked for any key type, OpenSSL 3 sets up a
 * decoder for every type it knows, so EC is tried first (what dcr makes),
 * then any other.
 */
static EVP_PKEY *decode_key(const uint8_t *pem, size_t len)
{
	OSSL_DECODER_CTX *ctx;
	EVP_PKEY *key = NULL;
	const unsigned char *p = pem;
	size_t left = len;
	BIO *bio;

	ctx = OSSL_DECODER_CTX_new_for_pkey(&key, "PEM", NULL, "EC", EVP_PKEY_KEYPAIR, NULL, NULL);
	if (ctx && OSSL_DECODER_from_data(ctx, &p, &left) == 1 && key) {
		OSSL_DECODER_CTX_free(ctx);
		return key;
	}
	OSSL_DECODER_CTX_free(ctx);
	EVP_PKEY_free(key);
	ERR_clear_error();
	if (len > INT_MAX || !(bio = BIO_new_mem_buf(pem, (int)len)))
		return NULL;
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return key;
}

EVP_PKEY *dcr_ident_read_key(const uint8_t *pem, size_t len)
{
	EVP_PKEY *key = dcr_ident_read_ec_key(pem, len);

	return key ? key : decode_key(pem, len);
}
