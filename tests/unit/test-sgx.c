/* Unit tests for lib/sgx.c: a real Intel quote, and synthetic quotes signed by a test root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "testutil.h"

#include "fileio.h"
#include "sgx.h"
#include "specs.h"

/* 2025-07-01T00:00:00Z and 2025-08-01T00:00:00Z: inside and after the sample collateral's window. */
#define REAL_INSIDE ((time_t)1751328000)
#define REAL_AFTER ((time_t)1754006400)

/* Synthetic collateral is valid from 2025-01-01 to 2025-02-01; the tests verify on 2025-01-15. */
#define T_ISSUE ((time_t)1735689600)
#define T_NEXT ((time_t)1738368000)
#define T_NOW ((time_t)1736899200)
#define DAY 86400

/* Offsets in a quote (see docs/sgx-verification.md). */
#define OFF_QE_SVN 8
#define OFF_VENDOR 12
#define OFF_USER_DATA 28
#define OFF_CPUSVN 48
#define OFF_MISCSELECT 64
#define OFF_ATTRIBUTES 96
#define OFF_MRENCLAVE 112
#define OFF_MRSIGNER 176
#define OFF_ISVPRODID 304
#define OFF_ISVSVN 306
#define OFF_REPORTDATA 368
#define OFF_SIGLEN 432
#define OFF_SIG 436
#define OFF_AK 500
#define OFF_QE_REPORT 564
#define OFF_QE_SIG 948
#define OFF_AUTH_LEN 1012
#define OFF_AUTH 1014
#define AUTH_LEN 32
#define OFF_CERT_TYPE (OFF_AUTH + AUTH_LEN)
#define OFF_CERT_LEN (OFF_CERT_TYPE + 2)
#define OFF_CERT (OFF_CERT_TYPE + 6)

/* The real sample. */

struct real {
	uint8_t *quote, *collateral, *root;
	size_t quote_len, collateral_len, root_len;
};

static bool load_real(struct real *r)
{
	const char *shared = getenv("SHARED_DIR");
	char path[4096];
	struct dcr_err err;

	memset(r, 0, sizeof(*r));
	if (!shared)
		return false;
	snprintf(path, sizeof(path), "%s/testdata/evidence/sgx-dcap/quote.bin", shared);
	if (dcr_read_file(path, DCR_SGX_QUOTE_MAX, &r->quote, &r->quote_len, &err) < 0)
		return false;
	snprintf(path, sizeof(path), "%s/testdata/evidence/sgx-dcap/collateral.json", shared);
	assert_int_equal(dcr_read_file(path, DCR_SGX_COLLATERAL_MAX, &r->collateral, &r->collateral_len, &err), 0);
	snprintf(path, sizeof(path), "%s/testdata/evidence/sgx-dcap/intel-sgx-root-ca.der", shared);
	assert_int_equal(dcr_read_file(path, 65536, &r->root, &r->root_len, &err), 0);
	return true;
}

static void free_real(struct real *r)
{
	free(r->quote);
	free(r->collateral);
	free(r->root);
}

static void test_real_quote(void **state)
{
	struct dcr_sgx_collateral *c;
	struct dcr_sgx_result res;
	struct dcr_sgx_quote q;
	struct dcr_err err;
	struct real r;
	uint8_t rd[64] = "Hello, world!";

	if (!load_real(&r)) {
		print_message("SHARED_DIR/testdata/evidence/sgx-dcap is absent: skipping the real-quote test\n");
		skip();
	}
	assert_int_equal(dcr_sgx_quote_parse(r.quote, r.quote_len, &q, &err), 0);
	assert_int_equal(q.qe_auth_len, 32);
	assert_int_equal(q.cert_type, 5);
	assert_int_equal(dcr_sgx_collateral_parse(r.collateral, r.collateral_len, &c, &err), 0);
	if (dcr_sgx_verify(r.quote, r.quote_len, c, r.root, r.root_len, REAL_INSIDE, &res, &err) < 0)
		fail_msg("%s", err.msg);
	assert_hex(res.mrenclave, 32, "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb");
	assert_hex(res.mrsigner, 32, "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6");
	assert_int_equal(res.isv_prod_id, 0);
	assert_int_equal(res.isv_svn, 0);
	assert_int_equal(res.attributes[0], 0x05);
	assert_false(res.debug);
	assert_hex(res.fmspc, 6, "00a067110000");
	assert_hex(res.pceid, 2, "0000");
	assert_string_equal(res.platform_tcb_status, "ConfigurationAndSWHardeningNeeded");
	assert_string_equal(res.qe_tcb_status, "UpToDate");
	assert_string_equal(res.tcb_status, "ConfigurationAndSWHardeningNeeded");
	assert_int_equal(res.n_advisory_ids, 2);
	assert_string_equal(res.advisory_ids[0], "INTEL-SA-00289");
	assert_string_equal(res.advisory_ids[1], "INTEL-SA-00615");
	assert_int_equal(dcr_sgx_check_report_data(&res, rd, &err), 0);
	rd[0] ^= 1;
	assert_int_equal(dcr_sgx_check_report_data(&res, rd, &err), DCR_EATTEST);

	assert_int_equal(dcr_sgx_verify(r.quote, r.quote_len, c, r.root, r.root_len, REAL_AFTER, &res, &err),
		DCR_EATTEST);
	assert_string_equal(err.msg,
		"expired collateral: tcbInfo nextUpdate 2025-07-19T10:56:11Z is before 2025-08-01T00:00:00Z");
	/* One second after the QE identity's nextUpdate, which is the earliest. */
	assert_int_equal(dcr_sgx_verify(r.quote, r.quote_len, c, r.root, r.root_len, (time_t)1752919279,
		&res, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "expired collateral: enclaveIdentity nextUpdate 2025-07-19T10:01:18Z"));
	assert_int_equal(dcr_sgx_verify(r.quote, r.quote_len, c, r.root, r.root_len, (time_t)1750000000,
		&res, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "collateral not yet valid"));

	/* The real quote against a root it does not chain to. */
	r.root[r.root_len - 10] ^= 1;
	assert_int_equal(dcr_sgx_verify(r.quote, r.quote_len, c, r.root, r.root_len, REAL_INSIDE, &res, &err),
		DCR_EATTEST);
	dcr_sgx_collateral_free(c);
	free_real(&r);
}

/* Synthetic evidence: keys made once, certificates and documents per test. */

static struct {
	EVP_PKEY *root, *ca, *pck, *tcb, *ak, *other;
} K;

static const uint8_t intel_vendor[16] = {
	0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07,
};

struct opts {
	time_t pck_not_after, crl_next, qe_next, col_issue, col_next;
	bool revoke_pck, revoke_ca, debug, no_ext, bad_binding, tamper_tcb_text, tamper_qe_text;
	bool pck_crl_wrong_key, root_crl_wrong_key, tcb_other_root, pck_other_root;
	const char *pck_cn, *tcb_cn, *tcb_status;
	uint8_t pck_comp[16];
	uint16_t pck_pcesvn;
	uint8_t pck_fmspc[6], tcb_fmspc[6], tcb_pceid[2];
	uint8_t qe_mrsigner[32];     /* in the QE identity; the QE report always has 0x5a... */
	uint16_t qe_isvsvn, qe_prodid;
	uint32_t qe_misc;
	uint8_t qe_flags;
	uint8_t report_data[64];
};

struct fx {
	uint8_t quote[8192];
	size_t quote_len;
	char *col;
	size_t col_len;
	uint8_t *root, *other_root;
	size_t root_len, other_root_len;
};

static void default_opts(struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->pck_not_after = T_NEXT + 365 * DAY;
	o->crl_next = T_NEXT;
	o->qe_next = T_NEXT;
	o->col_issue = T_ISSUE;
	o->col_next = T_NEXT;
	o->pck_cn = "Intel SGX PCK Certificate";
	o->tcb_cn = "Intel SGX TCB Signing";
	o->tcb_status = "UpToDate";
	memset(o->pck_comp, 5, 16);
	o->pck_pcesvn = 13;
	memcpy(o->pck_fmspc, "\x00\x90\x6e\xa1\x00\x00", 6);
	memcpy(o->tcb_fmspc, o->pck_fmspc, 6);
	memset(o->qe_mrsigner, 0x5a, 32);
	o->qe_isvsvn = 8;
	o->qe_prodid = 1;
	o->qe_flags = 0x11;
	memcpy(o->report_data, "dcr test enclave keys", 21);
}

static EVP_PKEY *p256(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	assert_non_null(k);
	return k;
}

static int setup(void **state)
{
	K.root = p256(), K.ca = p256(), K.pck = p256(), K.tcb = p256(), K.ak = p256(), K.other = p256();
	return 0;
}

static int teardown(void **state)
{
	EVP_PKEY_free(K.root), EVP_PKEY_free(K.ca), EVP_PKEY_free(K.pck);
	EVP_PKEY_free(K.tcb), EVP_PKEY_free(K.ak), EVP_PKEY_free(K.other);
	return 0;
}

static void sign_raw(EVP_PKEY *key, const void *msg, size_t len, uint8_t out[static 64])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t der[80];
	size_t dlen = sizeof(der);
	const unsigned char *p = der;
	ECDSA_SIG *sig;

	assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key), 1);
	assert_int_equal(EVP_DigestSign(md, der, &dlen, msg, len), 1);
	assert_non_null(sig = d2i_ECDSA_SIG(NULL, &p, (long)dlen));
	assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(sig), out, 32), 32);
	assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(sig), out + 32, 32), 32);
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(md);
}

/* A tiny DER writer for the PCK certificate's SGX extension. */
struct dbuf {
	uint8_t b[2048];
	size_t n;
};

static void tlv(struct dbuf *d, uint8_t tag, const void *v, size_t len)
{
	assert_true(len < 65536 && d->n + len + 4 <= sizeof(d->b));
	d->b[d->n++] = tag;
	if (len < 128) {
		d->b[d->n++] = (uint8_t)len;
	} else if (len < 256) {
		d->b[d->n++] = 0x81;
		d->b[d->n++] = (uint8_t)len;
	} else {
		d->b[d->n++] = 0x82;
		d->b[d->n++] = (uint8_t)(len >> 8);
		d->b[d->n++] = (uint8_t)len;
	}
	memmove(d->b + d->n, v, len);
	d->n += len;
}

static void sgx_item(struct dbuf *d, int a, int b, uint8_t tag, const void *v, size_t len)
{
	uint8_t oid[11] = { 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01, (uint8_t)a, (uint8_t)b };
	struct dbuf item = { .n = 0 };

	tlv(&item, 0x06, oid, b < 0 ? 10 : 11);
	tlv(&item, tag, v, len);
	tlv(d, 0x30, item.b, item.n);
}

static void sgx_int(struct dbuf *d, int a, int b, unsigned v)
{
	uint8_t x[3] = { 0, (uint8_t)(v >> 8), (uint8_t)v };
	size_t skip = 0;

	/* Minimal DER: drop leading zeros unless the next byte's top bit needs one. */
	while (skip < 2 && x[skip] == 0 && !(x[skip + 1] & 0x80))
		skip++;
	sgx_item(d, a, b, 0x02, x + skip, 3 - skip);
}

static void sgx_extension(const struct opts *o, struct dbuf *out)
{
	struct dbuf tcb = { .n = 0 }, all = { .n = 0 };
	uint8_t ppid[16] = { 1 }, cpusvn[16], pceid[2] = { 0, 0 }, type = 0;

	memcpy(cpusvn, o->pck_comp, 16);
	sgx_item(&all, 1, -1, 0x04, ppid, 16);
	for (int i = 0; i < 16; i++)
		sgx_int(&tcb, 2, i + 1, o->pck_comp[i]);
	sgx_int(&tcb, 2, 17, o->pck_pcesvn);
	sgx_item(&tcb, 2, 18, 0x04, cpusvn, 16);
	sgx_item(&all, 2, -1, 0x30, tcb.b, tcb.n);
	sgx_item(&all, 3, -1, 0x04, pceid, 2);
	sgx_item(&all, 4, -1, 0x04, o->pck_fmspc, 6);
	sgx_item(&all, 5, -1, 0x0a, &type, 1);
	out->n = 0;
	tlv(out, 0x30, all.b, all.n);
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	assert_non_null(e = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value));
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, long serial,
	time_t not_after, bool ca, const struct dbuf *sgx)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial), 1);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Intel Corporation", -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509_NAME_free(name);
	ASN1_TIME_set(X509_getm_notBefore(x), T_ISSUE - 365 * DAY);
	ASN1_TIME_set(X509_getm_notAfter(x), not_after);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	add_ext(x, issuer ? issuer : x, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	add_ext(x, issuer ? issuer : x, NID_key_usage,
		ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature,nonRepudiation");
	add_ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash");
	if (issuer)
		add_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
	if (sgx) {
		ASN1_OBJECT *obj = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
		ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
		X509_EXTENSION *e;

		assert_int_equal(ASN1_OCTET_STRING_set(os, sgx->b, (int)sgx->n), 1);
		assert_non_null(e = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os));
		assert_int_equal(X509_add_ext(x, e, -1), 1);
		X509_EXTENSION_free(e);
		ASN1_OCTET_STRING_free(os);
		ASN1_OBJECT_free(obj);
	}
	assert_true(X509_sign(x, issuer_key, EVP_sha256()) > 0);
	return x;
}

static char *crl_hex(X509 *issuer, EVP_PKEY *key, time_t next, long revoked_serial)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t = ASN1_TIME_new();
	unsigned char *der = NULL;
	char *hex;
	int len;

	assert_int_equal(X509_CRL_set_version(crl, 1), 1);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer));
	ASN1_TIME_set(t, T_ISSUE);
	X509_CRL_set1_lastUpdate(crl, t);
	ASN1_TIME_set(t, next);
	X509_CRL_set1_nextUpdate(crl, t);
	if (revoked_serial) {
		X509_REVOKED *rv = X509_REVOKED_new();
		ASN1_INTEGER *serial = ASN1_INTEGER_new();

		ASN1_INTEGER_set(serial, revoked_serial);
		X509_REVOKED_set_serialNumber(rv, serial);
		ASN1_TIME_set(t, T_ISSUE);
		X509_REVOKED_set_revocationDate(rv, t);
		assert_int_equal(X509_CRL_add0_revoked(crl, rv), 1);
		ASN1_INTEGER_free(serial);
	}
	X509_CRL_sort(crl);
	assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
	assert_true((len = i2d_X509_CRL(crl, &der)) > 0);
	assert_non_null(hex = malloc(2 * (size_t)len + 1));
	dcr_hex(der, (size_t)len, hex);
	OPENSSL_free(der);
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	return hex;
}

/* PEM of the given certificates, in order, in a new string. */
static char *pem(X509 *a, X509 *b, X509 *c)
{
	BIO *bio = BIO_new(BIO_s_mem());
	X509 *all[] = { a, b, c };
	char *data, *s;
	long n;

	for (int i = 0; i < 3; i++)
		if (all[i])
			assert_int_equal(PEM_write_bio_X509(bio, all[i]), 1);
	n = BIO_get_mem_data(bio, &data);
	assert_non_null(s = malloc((size_t)n + 1));
	memcpy(s, data, (size_t)n);
	s[n] = 0;
	BIO_free(bio);
	return s;
}

static void fmt_date(time_t t, char buf[static 32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void sig_hex(EVP_PKEY *key, const char *text, char out[static 129])
{
	uint8_t sig[64];

	sign_raw(key, text, strlen(text), sig);
	dcr_hex(sig, 64, out);
}

/* Replace the first "17" (tcbEvaluationDataNumber) after signing: the text stays valid JSON. */
static void tamper_text(char *text)
{
	char *p = strstr(text, "\"tcbEvaluationDataNumber\":17");

	assert_non_null(p);
	p[strlen("\"tcbEvaluationDataNumber\":1")] = '8';
}

static void le16put(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}

static void le32put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static void der_of(X509 *x, uint8_t **out, size_t *len)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);

	assert_true(n > 0);
	*out = malloc((size_t)n);
	memcpy(*out, der, (size_t)n);
	*len = (size_t)n;
	OPENSSL_free(der);
}

static void build(const struct opts *o, struct fx *f)
{
	X509 *root, *other_root, *ca, *pck, *tcb;
	char d1[32], d2[32], d3[32], fm[13], pce[5], mrs[65], tcbsig[129], qesig[129];
	char tcb_text[4096], qe_text[2048];
	char *chain_pck, *chain_ca, *chain_tcb, *root_crl, *pck_crl;
	struct dbuf ext;
	uint8_t *q = f->quote, h[32];
	size_t certlen;
	json_t *j;
	EVP_MD_CTX *md;

	memset(f, 0, sizeof(*f));
	sgx_extension(o, &ext);
	root = make_cert("Intel SGX Root CA", K.root, NULL, K.root, 1, T_NEXT + 3650 * DAY, true, NULL);
	other_root = make_cert("Intel SGX Root CA", K.other, NULL, K.other, 1, T_NEXT + 3650 * DAY, true, NULL);
	ca = make_cert("Intel SGX PCK Processor CA", K.ca, o->pck_other_root ? other_root : root,
		o->pck_other_root ? K.other : K.root, 2, T_NEXT + 3650 * DAY, true, NULL);
	pck = make_cert(o->pck_cn, K.pck, ca, K.ca, 100, o->pck_not_after, false, o->no_ext ? NULL : &ext);
	tcb = make_cert(o->tcb_cn, K.tcb, o->tcb_other_root ? other_root : root,
		o->tcb_other_root ? K.other : K.root, 3, T_NEXT + 3650 * DAY, false, NULL);
	der_of(root, &f->root, &f->root_len);
	der_of(other_root, &f->other_root, &f->other_root_len);
	chain_pck = pem(pck, ca, root);
	chain_ca = pem(ca, root, NULL);
	chain_tcb = pem(tcb, root, NULL);
	root_crl = crl_hex(root, o->root_crl_wrong_key ? K.other : K.root, o->crl_next, o->revoke_ca ? 2 : 0);
	pck_crl = crl_hex(ca, o->pck_crl_wrong_key ? K.other : K.ca, o->crl_next, o->revoke_pck ? 100 : 0);

	fmt_date(o->col_issue, d1), fmt_date(o->col_next, d2), fmt_date(o->qe_next, d3);
	dcr_hex(o->tcb_fmspc, 6, fm);
	dcr_hex(o->tcb_pceid, 2, pce);
	snprintf(tcb_text, sizeof(tcb_text),
		"{\"id\":\"SGX\",\"version\":3,\"issueDate\":\"%s\",\"nextUpdate\":\"%s\",\"fmspc\":\"%s\","
		"\"pceId\":\"%s\",\"tcbType\":0,\"tcbEvaluationDataNumber\":17,\"tcbLevels\":["
		"{\"tcb\":{\"sgxtcbcomponents\":[{\"svn\":5},{\"svn\":5},{\"svn\":5},{\"svn\":5},{\"svn\":5},"
		"{\"svn\":5},{\"svn\":5},{\"svn\":5},{\"svn\":5},{\"svn\":5},{\"svn\":5},{\"svn\":5},{\"svn\":5},"
		"{\"svn\":5},{\"svn\":5},{\"svn\":5}],\"pcesvn\":13},\"tcbDate\":\"2024-03-13T00:00:00Z\","
		"\"tcbStatus\":\"%s\",\"advisoryIDs\":[\"INTEL-SA-00615\"]},"
		"{\"tcb\":{\"sgxtcbcomponents\":[{\"svn\":1},{\"svn\":1},{\"svn\":1},{\"svn\":1},{\"svn\":1},"
		"{\"svn\":1},{\"svn\":1},{\"svn\":1},{\"svn\":1},{\"svn\":1},{\"svn\":1},{\"svn\":1},{\"svn\":1},"
		"{\"svn\":1},{\"svn\":1},{\"svn\":1}],\"pcesvn\":5},\"tcbDate\":\"2020-11-11T00:00:00Z\","
		"\"tcbStatus\":\"OutOfDate\",\"advisoryIDs\":[\"INTEL-SA-00289\",\"INTEL-SA-00615\"]}]}",
		d1, d2, fm, pce, o->tcb_status);
	dcr_hex(o->qe_mrsigner, 32, mrs);
	snprintf(qe_text, sizeof(qe_text),
		"{\"id\":\"QE\",\"version\":2,\"issueDate\":\"%s\",\"nextUpdate\":\"%s\","
		"\"tcbEvaluationDataNumber\":17,\"miscselect\":\"00000000\",\"miscselectMask\":\"FFFFFFFF\","
		"\"attributes\":\"11000000000000000000000000000000\","
		"\"attributesMask\":\"FBFFFFFFFFFFFFFF0000000000000000\",\"mrsigner\":\"%s\",\"isvprodid\":1,"
		"\"tcbLevels\":[{\"tcb\":{\"isvsvn\":8},\"tcbDate\":\"2024-03-13T00:00:00Z\",\"tcbStatus\":\"UpToDate\"},"
		"{\"tcb\":{\"isvsvn\":2},\"tcbDate\":\"2019-05-15T00:00:00Z\",\"tcbStatus\":\"OutOfDate\","
		"\"advisoryIDs\":[\"INTEL-SA-00219\",\"INTEL-SA-00615\"]}]}",
		d1, d3, mrs);
	sig_hex(K.tcb, tcb_text, tcbsig);
	sig_hex(K.tcb, qe_text, qesig);
	if (o->tamper_tcb_text)
		tamper_text(tcb_text);
	if (o->tamper_qe_text)
		tamper_text(qe_text);
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
		"pck_crl_issuer_chain", chain_ca, "root_ca_crl", root_crl, "pck_crl", pck_crl,
		"tcb_info_issuer_chain", chain_tcb, "tcb_info", tcb_text, "tcb_info_signature", tcbsig,
		"qe_identity_issuer_chain", chain_tcb, "qe_identity", qe_text, "qe_identity_signature", qesig);
	assert_non_null(j);
	assert_non_null(f->col = json_dumps(j, JSON_INDENT(2)));
	f->col_len = strlen(f->col);
	json_decref(j);

	/* The quote: header, ISV report, then the signature data. */
	memset(q, 0, sizeof(f->quote));
	le16put(q, 3);
	le16put(q + 2, 2);
	le16put(q + OFF_QE_SVN, o->qe_isvsvn);
	le16put(q + 10, o->pck_pcesvn);
	memcpy(q + OFF_VENDOR, intel_vendor, 16);
	memcpy(q + OFF_CPUSVN, o->pck_comp, 16);
	q[OFF_ATTRIBUTES] = (uint8_t)(0x05 | (o->debug ? 0x02 : 0));
	q[OFF_ATTRIBUTES + 8] = 0xe7;
	memset(q + OFF_MRENCLAVE, 0xaa, 32);
	memset(q + OFF_MRSIGNER, 0xbb, 32);
	le16put(q + OFF_ISVPRODID, 7);
	le16put(q + OFF_ISVSVN, 3);
	memcpy(q + OFF_REPORTDATA, o->report_data, 64);
	sign_raw(K.ak, q, OFF_SIGLEN, q + OFF_SIG);
	{
		uint8_t pub[65];
		size_t pub_len = sizeof(pub);

		assert_int_equal(EVP_PKEY_get_octet_string_param(K.ak, "pub", pub, sizeof(pub), &pub_len), 1);
		assert_int_equal(pub_len, 65);
		memcpy(q + OFF_AK, pub + 1, 64);
	}
	/* The QE report: Intel's QE identity values, with REPORTDATA binding the attestation key. */
	{
		uint8_t *r = q + OFF_QE_REPORT;

		memcpy(r, o->pck_comp, 16);
		le32put(r + 16, o->qe_misc);
		r[48] = o->qe_flags;
		r[56] = 0xe7;
		memset(r + 64, 0x77, 32);
		memset(r + 128, 0x5a, 32);
		le16put(r + 256, o->qe_prodid);
		le16put(r + 258, o->qe_isvsvn);
		for (int i = 0; i < AUTH_LEN; i++)
			q[OFF_AUTH + i] = (uint8_t)i;
		md = EVP_MD_CTX_new();
		EVP_DigestInit_ex(md, EVP_sha256(), NULL);
		EVP_DigestUpdate(md, q + OFF_AK, 64);
		EVP_DigestUpdate(md, q + OFF_AUTH, AUTH_LEN);
		EVP_DigestFinal_ex(md, h, NULL);
		EVP_MD_CTX_free(md);
		if (o->bad_binding)
			h[0] ^= 1;
		memcpy(r + 320, h, 32);
		sign_raw(K.pck, r, DCR_SGX_REPORT_LEN, q + OFF_QE_SIG);
	}
	le16put(q + OFF_AUTH_LEN, AUTH_LEN);
	le16put(q + OFF_CERT_TYPE, 5);
	certlen = strlen(chain_pck);
	assert_true(OFF_CERT + certlen <= sizeof(f->quote));
	le32put(q + OFF_CERT_LEN, (uint32_t)certlen);
	memcpy(q + OFF_CERT, chain_pck, certlen);
	f->quote_len = OFF_CERT + certlen;
	le32put(q + OFF_SIGLEN, (uint32_t)(f->quote_len - OFF_SIG));

	free(chain_pck), free(chain_ca), free(chain_tcb), free(root_crl), free(pck_crl);
	X509_free(root), X509_free(other_root), X509_free(ca), X509_free(pck), X509_free(tcb);
}

static void release(struct fx *f)
{
	free(f->col);
	free(f->root);
	free(f->other_root);
}

static int run_at(struct fx *f, time_t now, struct dcr_sgx_result *res, struct dcr_err *err)
{
	struct dcr_sgx_collateral *c;
	int r;

	if ((r = dcr_sgx_collateral_parse((const uint8_t *)f->col, f->col_len, &c, err)) < 0)
		return r;
	r = dcr_sgx_verify(f->quote, f->quote_len, c, f->root, f->root_len, now, res, err);
	dcr_sgx_collateral_free(c);
	return r;
}

/* Build with o, verify now, and expect a DCR_EATTEST whose message contains want. */
static void expect_fail(const struct opts *o, time_t now, const char *want)
{
	struct dcr_sgx_result res;
	struct dcr_err err;
	struct fx f;

	build(o, &f);
	err.msg[0] = 0;
	if (run_at(&f, now, &res, &err) != DCR_EATTEST || !strstr(err.msg, want))
		fail_msg("wanted an error with '%s', got '%s'", want, err.msg);
	release(&f);
}

static void test_synthetic_ok(void **state)
{
	struct dcr_sgx_result res;
	struct dcr_err err;
	struct opts o;
	struct fx f;

	default_opts(&o);
	build(&o, &f);
	if (run_at(&f, T_NOW, &res, &err) < 0)
		fail_msg("%s", err.msg);
	assert_hex(res.mrenclave, 32, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_hex(res.mrsigner, 32, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
	assert_int_equal(res.isv_prod_id, 7);
	assert_int_equal(res.isv_svn, 3);
	assert_false(res.debug);
	assert_hex(res.fmspc, 6, "00906ea10000");
	assert_string_equal(res.tcb_status, "UpToDate");
	assert_string_equal(res.qe_tcb_status, "UpToDate");
	assert_string_equal(res.tcb_date, "2024-03-13T00:00:00Z");
	assert_int_equal(res.n_advisory_ids, 1);
	assert_string_equal(res.advisory_ids[0], "INTEL-SA-00615");
	assert_int_equal(dcr_sgx_check_report_data(&res, o.report_data, &err), 0);
	/* The edges of the validity window are inside it. */
	if (run_at(&f, T_ISSUE, &res, &err) < 0 || run_at(&f, T_NEXT - 1, &res, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(run_at(&f, T_NEXT, &res, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "expired collateral: tcbInfo nextUpdate 2025-02-01T00:00:00Z is not after"));
	/* NULL result is allowed. */
	assert_int_equal(run_at(&f, T_NOW, NULL, &err), 0);
	release(&f);
}

/* Every region of the quote is covered by a signature or a binding. */
static void test_tamper_regions(void **state)
{
	static const struct {
		size_t off;
		const char *want;
	} cases[] = {
		{ OFF_QE_SVN, "quote signature invalid" },
		{ OFF_VENDOR, "QE vendor ID is not Intel's" },
		{ OFF_USER_DATA + 3, "quote signature invalid" },
		{ OFF_CPUSVN, "quote signature invalid" },
		{ OFF_MISCSELECT, "quote signature invalid" },
		{ OFF_ATTRIBUTES, "quote signature invalid" },
		{ OFF_MRENCLAVE + 31, "quote signature invalid" },
		{ OFF_MRSIGNER, "quote signature invalid" },
		{ OFF_ISVPRODID, "quote signature invalid" },
		{ OFF_ISVSVN, "quote signature invalid" },
		{ OFF_REPORTDATA + 63, "quote signature invalid" },
		{ OFF_SIGLEN, "signature data length" },
		{ OFF_SIG, "quote signature invalid" },
		{ OFF_SIG + 63, "quote signature invalid" },
		{ OFF_AK, "QE report data does not bind the attestation key" },
		{ OFF_AK + 63, "QE report data does not bind the attestation key" },
		{ OFF_QE_REPORT, "QE report signature invalid" },
		{ OFF_QE_REPORT + 128, "QE report signature invalid" },
		{ OFF_QE_REPORT + 383, "QE report signature invalid" },
		{ OFF_QE_SIG + 10, "QE report signature invalid" },
		{ OFF_AUTH_LEN + 1, "QE authentication data is truncated" },
		{ OFF_AUTH + 5, "QE report data does not bind the attestation key" },
		{ OFF_CERT_TYPE, "certification data type" },
		{ OFF_CERT_LEN, "certification data size" },
		{ OFF_CERT + 5, "certification data is not a PEM certificate chain" },
	};
	struct dcr_sgx_result res;
	struct dcr_err err;
	struct opts o;
	struct fx f;

	default_opts(&o);
	build(&o, &f);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f.quote[cases[i].off] ^= cases[i].off == OFF_AUTH_LEN + 1 ? 0x80 : 0x01;
		err.msg[0] = 0;
		if (run_at(&f, T_NOW, &res, &err) != DCR_EATTEST || !strstr(err.msg, cases[i].want))
			fail_msg("offset %zu: wanted '%s', got '%s'", cases[i].off, cases[i].want, err.msg);
		f.quote[cases[i].off] ^= cases[i].off == OFF_AUTH_LEN + 1 ? 0x80 : 0x01;
	}
	/* A flipped bit inside the base64 of the PCK certificate breaks its signature or encoding. */
	f.quote[OFF_CERT + 300] = f.quote[OFF_CERT + 300] == 'A' ? 'B' : 'A';
	assert_int_equal(run_at(&f, T_NOW, &res, &err), DCR_EATTEST);
	release(&f);
}

static void test_parse_strict(void **state)
{
	struct dcr_sgx_quote q;
	struct dcr_err err;
	struct opts o;
	struct fx f;
	uint8_t *big;

	default_opts(&o);
	build(&o, &f);
	assert_int_equal(dcr_sgx_quote_parse(f.quote, f.quote_len, &q, &err), 0);
	assert_int_equal(q.qe_auth_len, AUTH_LEN);
	assert_int_equal(q.qe_report.isv_svn, 8);
	/* Every truncation fails cleanly. */
	for (size_t n = 0; n < f.quote_len; n++)
		assert_int_equal(dcr_sgx_quote_parse(f.quote, n, &q, &err), DCR_EATTEST);
	/* A trailing byte is refused, even with the outer length adjusted. */
	f.quote[f.quote_len] = '\n';
	assert_int_equal(dcr_sgx_quote_parse(f.quote, f.quote_len + 1, &q, &err), DCR_EATTEST);
	le32put(f.quote + OFF_SIGLEN, (uint32_t)(f.quote_len + 1 - OFF_SIG));
	assert_int_equal(dcr_sgx_quote_parse(f.quote, f.quote_len + 1, &q, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "certification data size"));
	le32put(f.quote + OFF_SIGLEN, (uint32_t)(f.quote_len - OFF_SIG));
	/* Version, key type, TEE type. */
	f.quote[0] = 4;
	assert_int_equal(dcr_sgx_quote_parse(f.quote, f.quote_len, &q, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "version 4"));
	f.quote[0] = 3, f.quote[2] = 3;
	assert_int_equal(dcr_sgx_quote_parse(f.quote, f.quote_len, &q, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "attestation key type 3"));
	f.quote[2] = 2, f.quote[4] = 0x81;
	assert_int_equal(dcr_sgx_quote_parse(f.quote, f.quote_len, &q, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "TEE type"));
	f.quote[4] = 0;
	/* Oversized input is refused before anything is read. */
	assert_non_null(big = calloc(1, DCR_SGX_QUOTE_MAX + 1));
	assert_int_equal(dcr_sgx_quote_parse(big, DCR_SGX_QUOTE_MAX + 1, &q, &err), DCR_EATTEST);
	free(big);
	assert_int_equal(dcr_sgx_quote_parse(f.quote, f.quote_len, &q, &err), 0);
	release(&f);
}

static void test_wrong_root(void **state)
{
	struct dcr_sgx_collateral *c;
	struct dcr_sgx_result res;
	struct dcr_err err;
	struct opts o;
	struct fx f;

	default_opts(&o);
	build(&o, &f);
	assert_int_equal(dcr_sgx_collateral_parse((const uint8_t *)f.col, f.col_len, &c, &err), 0);
	assert_int_equal(dcr_sgx_verify(f.quote, f.quote_len, c, f.other_root, f.other_root_len, T_NOW, &res, &err),
		DCR_EATTEST);
	assert_non_null(strstr(err.msg, "root CA CRL is not signed by the pinned root CA"));
	assert_int_equal(dcr_sgx_verify(f.quote, f.quote_len, c, (const uint8_t *)"junk", 4, T_NOW, &res, &err),
		DCR_EATTEST);
	assert_non_null(strstr(err.msg, "not a DER certificate"));
	dcr_sgx_collateral_free(c);
	release(&f);

	default_opts(&o);
	o.pck_other_root = true;
	expect_fail(&o, T_NOW, "PCK CRL issuer certificate chain rejected");
	default_opts(&o);
	o.tcb_other_root = true;
	expect_fail(&o, T_NOW, "tcbInfo certificate chain rejected");
}

static void test_revocation(void **state)
{
	struct opts o;

	default_opts(&o);
	o.revoke_pck = true;
	expect_fail(&o, T_NOW, "PCK certificate revoked");
	default_opts(&o);
	o.revoke_ca = true;
	expect_fail(&o, T_NOW, "revoked ('Intel SGX PCK Processor CA')");
	default_opts(&o);
	o.pck_crl_wrong_key = true;
	expect_fail(&o, T_NOW, "PCK CRL signature invalid");
	default_opts(&o);
	o.root_crl_wrong_key = true;
	expect_fail(&o, T_NOW, "root CA CRL is not signed by the pinned root CA");
}

static void test_expired(void **state)
{
	struct opts o;

	default_opts(&o);
	expect_fail(&o, T_NEXT + 1, "expired collateral: tcbInfo nextUpdate 2025-02-01T00:00:00Z is before 2025-02-01T00:00:01Z");
	expect_fail(&o, T_ISSUE - 1, "collateral not yet valid: tcbInfo issueDate 2025-01-01T00:00:00Z");
	default_opts(&o);
	o.qe_next = T_NOW - DAY;
	expect_fail(&o, T_NOW, "expired collateral: enclaveIdentity nextUpdate 2025-01-14T00:00:00Z is before 2025-01-15T00:00:00Z");
	default_opts(&o);
	o.crl_next = T_NOW - DAY;
	expect_fail(&o, T_NOW, "expired collateral: root CA CRL nextUpdate 2025-01-14T00:00:00Z");
	default_opts(&o);
	o.pck_not_after = T_NOW - DAY;
	expect_fail(&o, T_NOW, "PCK certificate chain rejected at 'Intel SGX PCK Certificate': certificate has expired");
}

static void test_collateral_signatures(void **state)
{
	struct opts o;

	default_opts(&o);
	o.tamper_tcb_text = true;
	expect_fail(&o, T_NOW, "tcbInfo signature invalid");
	default_opts(&o);
	o.tamper_qe_text = true;
	expect_fail(&o, T_NOW, "enclaveIdentity signature invalid");
	default_opts(&o);
	o.tcb_cn = "Intel SGX PCK Certificate";
	expect_fail(&o, T_NOW, "tcbInfo is not signed by an 'Intel SGX TCB Signing' certificate");
}

static void test_pck_extension(void **state)
{
	struct dcr_sgx_result res;
	struct dcr_err err;
	struct opts o;
	struct fx f;

	default_opts(&o);
	o.tcb_fmspc[5] = 1;
	expect_fail(&o, T_NOW, "PCK certificate FMSPC 00906ea10000 / PCEID 0000 does not match the TCB info's 00906ea10001");
	default_opts(&o);
	o.tcb_pceid[1] = 1;
	expect_fail(&o, T_NOW, "does not match the TCB info's");
	default_opts(&o);
	o.no_ext = true;
	expect_fail(&o, T_NOW, "PCK certificate SGX extension is missing or malformed");
	default_opts(&o);
	o.pck_cn = "Intel SGX TCB Signing";
	expect_fail(&o, T_NOW, "not an 'Intel SGX PCK Certificate'");
	/* Below every TCB level. */
	default_opts(&o);
	o.pck_comp[15] = 0;
	expect_fail(&o, T_NOW, "platform TCB is below every TCB level");
	default_opts(&o);
	o.pck_pcesvn = 4;
	expect_fail(&o, T_NOW, "platform TCB is below every TCB level");
	/* One component below the first level selects the second. */
	default_opts(&o);
	o.pck_comp[6] = 4;
	build(&o, &f);
	assert_int_equal(run_at(&f, T_NOW, &res, &err), 0);
	assert_string_equal(res.tcb_status, "OutOfDate");
	assert_int_equal(res.n_advisory_ids, 2);
	assert_string_equal(res.advisory_ids[0], "INTEL-SA-00289");
	assert_string_equal(res.advisory_ids[1], "INTEL-SA-00615");
	release(&f);
	/* pcesvn one below the first level also selects the second. */
	default_opts(&o);
	o.pck_pcesvn = 12;
	build(&o, &f);
	assert_int_equal(run_at(&f, T_NOW, &res, &err), 0);
	assert_string_equal(res.platform_tcb_status, "OutOfDate");
	release(&f);
}

static void test_qe_binding(void **state)
{
	struct opts o;

	default_opts(&o);
	o.bad_binding = true;
	expect_fail(&o, T_NOW, "QE report data does not bind the attestation key");
}

static void test_qe_identity(void **state)
{
	struct dcr_sgx_result res;
	struct dcr_err err;
	struct opts o;
	struct fx f;

	default_opts(&o);
	o.qe_mrsigner[0] ^= 1;
	expect_fail(&o, T_NOW, "quoting enclave MRSIGNER does not match the QE identity");
	default_opts(&o);
	o.qe_prodid = 2;
	expect_fail(&o, T_NOW, "quoting enclave ISVPRODID 2 is not the QE identity's 1");
	default_opts(&o);
	o.qe_misc = 1;
	expect_fail(&o, T_NOW, "quoting enclave MISCSELECT does not match");
	default_opts(&o);
	o.qe_flags = 0x13; /* DEBUG on the quoting enclave: inside the mask */
	expect_fail(&o, T_NOW, "quoting enclave ATTRIBUTES do not match");
	default_opts(&o);
	o.qe_isvsvn = 1;
	expect_fail(&o, T_NOW, "quoting enclave ISVSVN 1 is below every QE identity TCB level");
	/* A bit outside the attributes mask is ignored. */
	default_opts(&o);
	o.qe_flags = 0x15;
	build(&o, &f);
	assert_int_equal(run_at(&f, T_NOW, &res, &err), 0);
	release(&f);
	/* An out-of-date QE makes an up-to-date platform out of date, and adds its advisories. */
	default_opts(&o);
	o.qe_isvsvn = 5;
	build(&o, &f);
	assert_int_equal(run_at(&f, T_NOW, &res, &err), 0);
	assert_string_equal(res.qe_tcb_status, "OutOfDate");
	assert_string_equal(res.platform_tcb_status, "UpToDate");
	assert_string_equal(res.tcb_status, "OutOfDate");
	assert_int_equal(res.n_advisory_ids, 2);
	assert_string_equal(res.advisory_ids[0], "INTEL-SA-00615");
	assert_string_equal(res.advisory_ids[1], "INTEL-SA-00219");
	release(&f);
	default_opts(&o);
	o.qe_isvsvn = 5;
	o.tcb_status = "ConfigurationNeeded";
	build(&o, &f);
	assert_int_equal(run_at(&f, T_NOW, &res, &err), 0);
	assert_string_equal(res.tcb_status, "OutOfDateConfigurationNeeded");
	release(&f);
}

static void sgx_spec(struct dcr_spec *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "dcrd:test");
	s->format = DCR_SPEC_SGX_DCAP;
	s->has_measurement = true;
	memset(s->measurement, 0xaa, 32);
	s->n_tcb_statuses = 2;
	s->tcb_statuses[0] = "SWHardeningNeeded";
	s->tcb_statuses[1] = "UpToDate";
}

static void verified(const struct opts *o, struct dcr_sgx_result *res)
{
	struct dcr_err err;
	struct fx f;

	build(o, &f);
	if (run_at(&f, T_NOW, res, &err) < 0)
		fail_msg("%s", err.msg);
	release(&f);
}

static void test_policy(void **state)
{
	struct dcr_sgx_result res;
	struct dcr_spec s;
	struct dcr_err err;
	struct opts o;

	default_opts(&o);
	verified(&o, &res);
	sgx_spec(&s);
	assert_int_equal(dcr_sgx_check_policy(&res, &s, &err), 0);
	s.measurement[31] ^= 1;
	assert_int_equal(dcr_sgx_check_policy(&res, &s, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "MRENCLAVE aaaa"));
	/* MRSIGNER + ISVPRODID + minimum ISVSVN. */
	s.has_measurement = false;
	s.has_signer = true;
	memset(s.mrsigner, 0xbb, 32);
	s.isv_prod_id = 7;
	s.min_isv_svn = 3;
	assert_int_equal(dcr_sgx_check_policy(&res, &s, &err), 0);
	s.min_isv_svn = 4;
	assert_int_equal(dcr_sgx_check_policy(&res, &s, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "ISVSVN 3 is below"));
	s.min_isv_svn = 3, s.isv_prod_id = 8;
	assert_int_equal(dcr_sgx_check_policy(&res, &s, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "ISVPRODID 7"));
	s.isv_prod_id = 7, s.mrsigner[0] = 0;
	assert_int_equal(dcr_sgx_check_policy(&res, &s, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "MRSIGNER bbbb"));
	s.has_signer = false;
	assert_int_equal(dcr_sgx_check_policy(&res, &s, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "pins neither"));
	sgx_spec(&s);
	s.format = DCR_SPEC_SIM;
	assert_int_equal(dcr_sgx_check_policy(&res, &s, &err), DCR_EATTEST);

	/* Debug enclaves verify, but the policy refuses them unless allowed. */
	default_opts(&o);
	o.debug = true;
	verified(&o, &res);
	assert_true(res.debug);
	sgx_spec(&s);
	assert_int_equal(dcr_sgx_check_policy(&res, &s, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "debug mode"));
	s.debug_allowed = true;
	assert_int_equal(dcr_sgx_check_policy(&res, &s, &err), 0);

	/* TCB status outside the accepted list; Revoked never. */
	default_opts(&o);
	o.tcb_status = "ConfigurationNeeded";
	verified(&o, &res);
	sgx_spec(&s);
	assert_int_equal(dcr_sgx_check_policy(&res, &s, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "TCB status ConfigurationNeeded is not accepted"));
	s.tcb_statuses[0] = "ConfigurationNeeded";
	assert_int_equal(dcr_sgx_check_policy(&res, &s, &err), 0);
	default_opts(&o);
	o.tcb_status = "Revoked";
	verified(&o, &res);
	s.tcb_statuses[0] = "Revoked";
	assert_int_equal(dcr_sgx_check_policy(&res, &s, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "Revoked"));
}

static void test_report_data(void **state)
{
	struct dcr_sgx_result res;
	struct dcr_err err;
	struct opts o;
	uint8_t want[64] = { 0 };

	default_opts(&o);
	verified(&o, &res);
	memcpy(want, "dcr test enclave keys", 21);
	assert_int_equal(dcr_sgx_check_report_data(&res, want, &err), 0);
	want[63] = 1;
	assert_int_equal(dcr_sgx_check_report_data(&res, want, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "REPORTDATA does not bind"));
}

static int parse_json(const char *s, struct dcr_err *err)
{
	struct dcr_sgx_collateral *c = NULL;
	int r = dcr_sgx_collateral_parse((const uint8_t *)s, strlen(s), &c, err);

	assert_true(r < 0 ? c == NULL : c != NULL);
	dcr_sgx_collateral_free(c);
	return r;
}

/* Rewrite one key of the good collateral and expect a parse error naming it. */
static void expect_bad_key(const struct fx *f, const char *key, json_t *value, const char *want)
{
	json_t *j = json_loads(f->col, 0, NULL);
	struct dcr_err err;
	char *s;

	assert_non_null(j);
	if (value)
		json_object_set_new(j, key, value);
	else
		json_object_del(j, key);
	s = json_dumps(j, 0);
	err.msg[0] = 0;
	if (parse_json(s, &err) != DCR_EATTEST || !strstr(err.msg, want))
		fail_msg("%s: wanted '%s', got '%s'", key, want, err.msg);
	free(s);
	json_decref(j);
}

static void test_collateral_parse(void **state)
{
	struct dcr_err err;
	struct opts o;
	struct fx f;

	default_opts(&o);
	build(&o, &f);
	assert_int_equal(parse_json(f.col, &err), 0);
	assert_int_equal(parse_json("", &err), DCR_EATTEST);
	assert_int_equal(parse_json("[]", &err), DCR_EATTEST);
	assert_int_equal(parse_json("{\"a\":1,\"a\":2}", &err), DCR_EATTEST);
	expect_bad_key(&f, "tcb_info", NULL, "tcb_info is missing");
	expect_bad_key(&f, "extra", json_string("x"), "unknown key 'extra'");
	expect_bad_key(&f, "root_ca_crl", json_string("30"), "root_ca_crl is not a hex DER CRL");
	expect_bad_key(&f, "pck_crl", json_string("zz"), "pck_crl is not a hex DER CRL");
	expect_bad_key(&f, "tcb_info_signature", json_string("00"), "tcb_info_signature is not 128 hex digits");
	expect_bad_key(&f, "qe_identity_issuer_chain", json_string("nope"), "qe_identity_issuer_chain is not a PEM");
	expect_bad_key(&f, "tcb_info", json_string("{\"id\":\"QE\"}"), "tcb_info id is not \"SGX\"");
	expect_bad_key(&f, "tcb_info", json_string("{\"id\":\"SGX\",\"issueDate\":\"2025-01-01\"}"),
		"tcb_info issueDate is missing or malformed");
	expect_bad_key(&f, "qe_identity", json_string("not json"), "qe_identity is not a JSON object");
	expect_bad_key(&f, "qe_identity", json_string(
		"{\"id\":\"QE\",\"issueDate\":\"2025-01-01T00:00:00Z\",\"nextUpdate\":\"2025-02-30T00:00:00Z\"}"),
		"nextUpdate is missing or malformed");
	expect_bad_key(&f, "qe_identity", json_string(
		"{\"id\":\"QE\",\"issueDate\":\"2025-01-01T00:00:00Z\",\"nextUpdate\":\"2025-02-01T00:00:00Z\","
		"\"tcbLevels\":[]}"), "tcbLevels is not a non-empty array");
	release(&f);
	/* Semantic errors inside signed documents are parse errors too. */
	default_opts(&o);
	o.tcb_status = "Great";
	build(&o, &f);
	assert_int_equal(parse_json(f.col, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "missing or unknown tcbStatus"));
	release(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_quote),
		cmocka_unit_test(test_synthetic_ok),
		cmocka_unit_test(test_tamper_regions),
		cmocka_unit_test(test_parse_strict),
		cmocka_unit_test(test_wrong_root),
		cmocka_unit_test(test_revocation),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_collateral_signatures),
		cmocka_unit_test(test_pck_extension),
		cmocka_unit_test(test_qe_binding),
		cmocka_unit_test(test_qe_identity),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_report_data),
		cmocka_unit_test(test_collateral_parse),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
