/* Synthetic AMD SEV-SNP evidence for tests: a test ARK, ASK and VCEK, reports they sign, CRLs. */
#include "snp-synth.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NEED(x) \
	do { \
		if (!(x)) { \
			fprintf(stderr, "snp-synth: %s:%d: %s failed\n", __FILE__, __LINE__, #x); \
			ERR_print_errors_fp(stderr); \
			abort(); \
		} \
	} while (0)

void snp_synth_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void snp_synth_opts_default(struct snp_synth_opts *o, time_t not_before, time_t not_after)
{
	memset(o, 0, sizeof(*o));
	o->product = "Milan";
	o->not_before = not_before;
	o->not_after = not_after;
	/* Milan layout: boot loader 3, TEE 0, SNP 8, microcode 115. */
	o->tcb = 3ull | 0ull << 8 | 8ull << 48 | 115ull << 56;
	for (int i = 0; i < 64; i++)
		o->chip_id[i] = (uint8_t)(0xc0 + i);
	o->spl_value = -1;
	o->leaf_serial = 0; /* as AMD's VCEKs have it */
	o->ask_serial = 2;
}

static void add_ext(X509 *x, const char *oid, const uint8_t *der, size_t len)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext;

	NEED(obj && os && ASN1_OCTET_STRING_set(os, der, (int)len) == 1);
	NEED((ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os)));
	NEED(X509_add_ext(x, ext, -1) == 1);
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(obj);
}

static void add_int_ext(X509 *x, const char *oid, long v)
{
	ASN1_INTEGER *ai = ASN1_INTEGER_new();
	unsigned char *der = NULL;
	int n;

	NEED(ai && ASN1_INTEGER_set(ai, v) == 1 && (n = i2d_ASN1_INTEGER(ai, &der)) > 0);
	add_ext(x, oid, der, (size_t)n);
	OPENSSL_free(der);
	ASN1_INTEGER_free(ai);
}

/*
 * RSA keys come from a pool of 6, made once and handed out in turn: making
 * them is what costs, and two hierarchies made one after the other still
 * never share a key.
 */
#define RSA_POOL 6

static EVP_PKEY *rsa_key(void)
{
	static EVP_PKEY *pool[RSA_POOL];
	static size_t next;
	EVP_PKEY *k;

	if (!pool[next % RSA_POOL])
		NEED((pool[next % RSA_POOL] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)));
	k = pool[next++ % RSA_POOL];
	NEED(EVP_PKEY_up_ref(k) == 1);
	return k;
}

static EVP_PKEY *p384_key(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");

	NEED(k);
	return k;
}

/* Sign x with an RSA key in RSASSA-PSS (salt as long as the digest), as AMD's KDS does. */
static void sign_pss(X509 *x, EVP_PKEY *key, const EVP_MD *md)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;

	NEED(ctx && EVP_DigestSignInit(ctx, &pc, md, NULL, key) == 1);
	NEED(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1);
	NEED(EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) == 1);
	NEED(EVP_PKEY_CTX_set_rsa_mgf1_md(pc, md) == 1);
	NEED(X509_sign_ctx(x, ctx) > 0);
	EVP_MD_CTX_free(ctx);
}

X509 *snp_synth_impostor(X509 *real, EVP_PKEY **key)
{
	X509 *x = X509_dup(real);

	NEED(x);
	*key = rsa_key();
	NEED(X509_set_pubkey(x, *key) == 1);
	sign_pss(x, *key, EVP_sha384());
	return x;
}

static X509 *make_cert(const char *cn, X509 *issuer, EVP_PKEY *key, time_t nb, time_t na,
	bool ca, long serial)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();

	NEED(x && name && X509_set_version(x, 2) == 1);
	NEED(ASN1_INTEGER_set(X509_get_serialNumber(x), serial) == 1);
	NEED(X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC, (const unsigned char *)"Engineering", -1, -1, 0));
	NEED(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Advanced Micro Devices", -1,
		-1, 0));
	NEED(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0));
	NEED(X509_set_subject_name(x, name) == 1);
	NEED(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) == 1);
	NEED(X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &nb) && X509_time_adj_ex(X509_getm_notAfter(x), 0, 0, &na));
	NEED(X509_set_pubkey(x, key) == 1);
	if (ca) {
		X509V3_CTX v3;
		X509_EXTENSION *e;

		X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
		NEED((e = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE")));
		NEED(X509_add_ext(x, e, -1) == 1);
		X509_EXTENSION_free(e);
		NEED((e = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage, "critical,keyCertSign,cRLSign")));
		NEED(X509_add_ext(x, e, -1) == 1);
		X509_EXTENSION_free(e);
	}
	X509_NAME_free(name);
	return x;
}

void snp_synth_init(struct snp_synth *s, const struct snp_synth_opts *o)
{
	static const int milan_arcs[8] = { 1, 2, 4, 5, 6, 7, 3, 8 };
	static const int turin_arcs[8] = { 9, 1, 2, 3, 0, 0, 0, 8 };
	bool turin = strcmp(o->product, "Turin") == 0;
	const int *arcs = turin ? turin_arcs : milan_arcs;
	char cn[64], oid[48];
	ASN1_IA5STRING *pn;
	unsigned char *der = NULL;
	int n;

	memset(s, 0, sizeof(*s));
	s->ark_key = rsa_key();
	s->ask_key = rsa_key();
	s->leaf_key = o->leaf_rsa ? rsa_key() : p384_key();

	snprintf(cn, sizeof(cn), "ARK-%s", o->product);
	s->ark = make_cert(o->ark_cn ? o->ark_cn : cn, NULL, s->ark_key, o->not_before, o->not_after, true, 1);
	sign_pss(s->ark, s->ark_key, EVP_sha384());

	snprintf(cn, sizeof(cn), o->vlek ? "SEV-VLEK-%s" : "SEV-%s", o->product);
	s->ask = make_cert(o->ask_cn ? o->ask_cn : cn, s->ark, s->ask_key, o->not_before, o->not_after,
		!o->ask_not_ca, o->ask_serial);
	sign_pss(s->ask, s->ark_key, EVP_sha384());

	s->leaf = make_cert(o->leaf_cn ? o->leaf_cn : o->vlek ? "SEV-VLEK" : "SEV-VCEK", s->ask, s->leaf_key,
		o->not_before, o->not_after, false, o->leaf_serial);
	add_int_ext(s->leaf, "1.3.6.1.4.1.3704.1.1", 1);
	snprintf(cn, sizeof(cn), "%s-B0", o->product);
	NEED((pn = ASN1_IA5STRING_new()) && ASN1_STRING_set(pn, o->product_ext ? o->product_ext : cn, -1) == 1);
	NEED((n = i2d_ASN1_IA5STRING(pn, &der)) > 0);
	add_ext(s->leaf, "1.3.6.1.4.1.3704.1.2", der, (size_t)n);
	OPENSSL_free(der);
	ASN1_IA5STRING_free(pn);
	for (int i = 0; i < 8; i++) {
		long v = (long)(o->tcb >> (8 * i) & 0xff);

		if (!arcs[i])
			continue;
		if (arcs[i] == o->drop_spl) {
			if (o->spl_value == -1)
				continue;
			v = o->spl_value;
		}
		snprintf(oid, sizeof(oid), "1.3.6.1.4.1.3704.1.3.%d", arcs[i]);
		add_int_ext(s->leaf, oid, v);
	}
	if (o->hwid_raw) {
		add_ext(s->leaf, "1.3.6.1.4.1.3704.1.4", o->hwid_raw, o->hwid_raw_len);
	} else if (!o->vlek && !o->no_hwid && o->hwid_der) {
		uint8_t wrapped[2 + 64];
		size_t hw = turin ? 8 : 64;

		wrapped[0] = 0x04, wrapped[1] = (uint8_t)hw;
		memcpy(wrapped + 2, o->chip_id, hw);
		add_ext(s->leaf, "1.3.6.1.4.1.3704.1.4", wrapped, 2 + hw);
	} else if (!o->vlek && !o->no_hwid) {
		add_ext(s->leaf, "1.3.6.1.4.1.3704.1.4", o->chip_id, turin ? 8 : 64);
	}
	sign_pss(s->leaf, s->ask_key, o->leaf_sha256_pss ? EVP_sha256() : EVP_sha384());
}

void snp_synth_release(struct snp_synth *s)
{
	if (!s)
		return;
	X509_free(s->ark);
	X509_free(s->ask);
	X509_free(s->leaf);
	EVP_PKEY_free(s->ark_key);
	EVP_PKEY_free(s->ask_key);
	EVP_PKEY_free(s->leaf_key);
	memset(s, 0, sizeof(*s));
}

void snp_synth_report(uint8_t r[static SNP_SYNTH_REPORT_LEN], uint32_t version, const struct snp_synth_opts *o,
	const uint8_t measurement[static 48], const uint8_t report_data[static 64])
{
	bool turin = strcmp(o->product, "Turin") == 0, genoa = strcmp(o->product, "Genoa") == 0;

	memset(r, 0, SNP_SYNTH_REPORT_LEN);
	r[SNP_OFF_VERSION] = (uint8_t)version;
	snp_synth_le64(r + SNP_OFF_POLICY, 0x30000);
	r[SNP_OFF_SIG_ALGO] = 1;
	snp_synth_le64(r + 0x38, o->tcb);          /* CURRENT_TCB */
	r[SNP_OFF_KEY_BITS] = o->vlek ? 1 << 2 : 0;
	memcpy(r + SNP_OFF_REPORT_DATA, report_data, 64);
	memcpy(r + SNP_OFF_MEASUREMENT, measurement, 48);
	snp_synth_le64(r + SNP_OFF_REPORTED_TCB, o->tcb);
	if (version >= 3) {
		r[SNP_OFF_CPUID] = turin ? 0x1a : 0x19;
		r[SNP_OFF_CPUID + 1] = genoa ? 0x11 : turin ? 0x02 : 0x01;
		r[SNP_OFF_CPUID + 2] = 1;
	}
	memcpy(r + SNP_OFF_CHIP_ID, o->chip_id, 64);
	snp_synth_le64(r + 0x1e0, o->tcb);         /* COMMITTED_TCB */
	r[0x1e8] = 3, r[0x1e9] = 55, r[0x1ea] = 1; /* firmware 1.55 build 3 */
	r[0x1ec] = 3, r[0x1ed] = 55, r[0x1ee] = 1;
	snp_synth_le64(r + 0x1f0, o->tcb);         /* LAUNCH_TCB */
}

void snp_synth_sign(uint8_t r[static SNP_SYNTH_REPORT_LEN], EVP_PKEY *key)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sig[256];
	const unsigned char *p = sig;
	size_t len = sizeof(sig);
	const BIGNUM *br, *bs;
	ECDSA_SIG *es;
	uint8_t be[48];

	NEED(ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha384(), NULL, key) == 1);
	NEED(EVP_DigestSign(ctx, sig, &len, r, 0x2a0) == 1);
	NEED((es = d2i_ECDSA_SIG(NULL, &p, (long)len)));
	ECDSA_SIG_get0(es, &br, &bs);
	memset(r + SNP_OFF_SIGNATURE, 0, 2 * 72);
	NEED(BN_bn2binpad(br, be, 48) == 48);
	for (int i = 0; i < 48; i++)
		r[SNP_OFF_SIGNATURE + i] = be[47 - i];
	NEED(BN_bn2binpad(bs, be, 48) == 48);
	for (int i = 0; i < 48; i++)
		r[SNP_OFF_SIGNATURE + 72 + i] = be[47 - i];
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(ctx);
}

static void append_bio(BIO *b, char **buf, size_t *len)
{
	char *data;
	long n = BIO_get_mem_data(b, &data);

	NEED(n >= 0 && (*buf = realloc(*buf, *len + (size_t)n + 1)));
	memcpy(*buf + *len, data, (size_t)n);
	*len += (size_t)n;
	(*buf)[*len] = '\0';
	BIO_free(b);
}

void snp_synth_pem_cert(X509 *x, char **buf, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());

	NEED(b && PEM_write_bio_X509(b, x) == 1);
	append_bio(b, buf, len);
}

void snp_synth_pem_crl(X509_CRL *crl, char **buf, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());

	NEED(b && PEM_write_bio_X509_CRL(b, crl) == 1);
	append_bio(b, buf, len);
}

X509_CRL *snp_synth_crl(X509 *issuer, EVP_PKEY *key, time_t this_update, time_t next_update, X509 *const *revoke)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t = ASN1_TIME_new();
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;

	NEED(crl && t && ctx && X509_CRL_set_version(crl, 1) == 1);
	NEED(X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) == 1);
	NEED(ASN1_TIME_set(t, this_update) && X509_CRL_set1_lastUpdate(crl, t) == 1);
	NEED(ASN1_TIME_set(t, next_update) && X509_CRL_set1_nextUpdate(crl, t) == 1);
	for (; revoke && *revoke; revoke++) {
		X509_REVOKED *rev = X509_REVOKED_new();

		NEED(rev && X509_REVOKED_set_serialNumber(rev, X509_get_serialNumber(*revoke)) == 1);
		NEED(ASN1_TIME_set(t, this_update) && X509_REVOKED_set_revocationDate(rev, t) == 1);
		NEED(X509_CRL_add0_revoked(crl, rev) == 1);
	}
	NEED(X509_CRL_sort(crl) == 1);
	NEED(EVP_DigestSignInit(ctx, &pc, EVP_sha384(), NULL, key) == 1);
	NEED(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1);
	NEED(EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) == 1);
	NEED(X509_CRL_sign_ctx(crl, ctx) > 0);
	EVP_MD_CTX_free(ctx);
	ASN1_TIME_free(t);
	return crl;
}

uint8_t *snp_synth_der(X509 *x, size_t *len)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	uint8_t *out;

	NEED(n > 0 && (out = malloc((size_t)n)));
	memcpy(out, der, (size_t)n);
	OPENSSL_free(der);
	*len = (size_t)n;
	return out;
}
