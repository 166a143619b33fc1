/* Synthetic SGX DCAP quotes and collateral for tests, signed by a hierarchy made at run time. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto.h"
#include "sgx-synth.h"

#include "banned.h"

/* Offsets in a quote (see docs/sgx-verification.md). */

#define DAY SGX_SYNTH_DAY

/* Unlike assert(), always evaluated, whatever NDEBUG says. */
#define NEED(x) ((x) ? (void)0 : die(__FILE__, __LINE__, #x))

static _Noreturn void die(const char *file, int line, const char *what)
{
	fprintf(stderr, "sgx-synth: %s:%d: '%s' failed\n", file, line, what);
	ERR_print_errors_fp(stderr);
	abort();
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	NEED(p != NULL);
	return p;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xmalloc(n), s, n);
}

static const uint8_t intel_vendor[16] = {
	0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07,
};

static EVP_PKEY *p256(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	NEED(k != NULL);
	return k;
}

void sgx_synth_keys_init(struct sgx_synth_keys *k)
{
	k->root = p256(), k->ca = p256(), k->pck = p256(), k->tcb = p256(), k->ak = p256(), k->other = p256();
}

void sgx_synth_keys_release(struct sgx_synth_keys *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->root), EVP_PKEY_free(k->ca), EVP_PKEY_free(k->pck);
	EVP_PKEY_free(k->tcb), EVP_PKEY_free(k->ak), EVP_PKEY_free(k->other);
	memset(k, 0, sizeof(*k));
}

void sgx_synth_opts_default(struct sgx_synth_opts *o, time_t issue, time_t next)
{
	memset(o, 0, sizeof(*o));
	o->pck_not_after = next + 365 * DAY;
	o->crl_next = next;
	o->qe_next = next;
	o->col_issue = issue;
	o->col_next = next;
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
	memset(o->mrenclave, 0xaa, 32);
	memset(o->mrsigner, 0xbb, 32);
	o->isv_prod_id = 7;
	o->isv_svn = 3;
	o->attr_flags = 0x05; /* INIT | MODE64BIT */
	memcpy(o->report_data, "dcr test enclave keys", 21);
	o->tdx_body_type = 3;
	o->tee_tcb_svn[0] = 5, o->tee_tcb_svn[1] = 1, o->tee_tcb_svn[2] = 3;
	memset(o->mrtd, 0x1d, 48);
	for (int i = 0; i < 4; i++)
		memset(o->rtmr[i], 0x30 + i, 48);
	o->module_id = "TDX_01";
}

/* ECDSA P-256 over SHA-256 of msg, as the raw r || s SGX uses. */
static void sign_raw(EVP_PKEY *key, const void *msg, size_t len, uint8_t out[static 64])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t der[80];
	size_t dlen = sizeof(der);
	const unsigned char *p = der;
	ECDSA_SIG *sig;

	NEED(md != NULL);
	NEED(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1);
	NEED(EVP_DigestSign(md, der, &dlen, msg, len) == 1);
	NEED((sig = d2i_ECDSA_SIG(NULL, &p, (long)dlen)) != NULL);
	NEED(BN_bn2binpad(ECDSA_SIG_get0_r(sig), out, 32) == 32);
	NEED(BN_bn2binpad(ECDSA_SIG_get0_s(sig), out + 32, 32) == 32);
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(md);
}

/* The uncompressed public point x || y of a P-256 key; false for any other key. */
static bool public_xy(EVP_PKEY *key, uint8_t out[static 64])
{
	uint8_t pub[65];
	size_t pub_len = sizeof(pub);

	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC || EVP_PKEY_get_bits(key) != 256 ||
	    EVP_PKEY_get_octet_string_param(key, "pub", pub, sizeof(pub), &pub_len) != 1 || pub_len != 65 ||
	    pub[0] != 0x04)
		return false;
	memcpy(out, pub + 1, 64);
	return true;
}

/* A tiny DER writer for the PCK certificate's SGX extension. */
struct dbuf {
	uint8_t b[2048];
	size_t n;
};

static void tlv(struct dbuf *d, uint8_t tag, const void *v, size_t len)
{
	NEED(len < 65536 && d->n + len + 4 <= sizeof(d->b));
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

static void sgx_extension(const struct sgx_synth_opts *o, struct dbuf *out)
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
	NEED((e = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value)) != NULL);
	NEED(X509_add_ext(x, e, -1) == 1);
	X509_EXTENSION_free(e);
}

static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, long serial,
	time_t not_before, time_t not_after, bool ca, const struct dbuf *sgx)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();

	NEED(x != NULL && name != NULL);
	NEED(X509_set_version(x, 2) == 1);
	NEED(ASN1_INTEGER_set(X509_get_serialNumber(x), serial) == 1);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Intel Corporation", -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509_NAME_free(name);
	NEED(ASN1_TIME_set(X509_getm_notBefore(x), not_before) != NULL);
	NEED(ASN1_TIME_set(X509_getm_notAfter(x), not_after) != NULL);
	NEED(X509_set_pubkey(x, key) == 1);
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

		NEED(obj != NULL && os != NULL);
		NEED(ASN1_OCTET_STRING_set(os, sgx->b, (int)sgx->n) == 1);
		NEED((e = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os)) != NULL);
		NEED(X509_add_ext(x, e, -1) == 1);
		X509_EXTENSION_free(e);
		ASN1_OCTET_STRING_free(os);
		ASN1_OBJECT_free(obj);
	}
	NEED(X509_sign(x, issuer_key, EVP_sha256()) > 0);
	return x;
}

/* A DER CRL by issuer, in a new buffer; revoked_serial 0 revokes nothing. */
static uint8_t *make_crl(X509 *issuer, EVP_PKEY *key, time_t last, time_t next, long revoked_serial, size_t *out_len)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t = ASN1_TIME_new();
	unsigned char *der = NULL;
	uint8_t *out;
	int len;

	NEED(crl != NULL && t != NULL);
	NEED(X509_CRL_set_version(crl, 1) == 1);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer));
	ASN1_TIME_set(t, last);
	X509_CRL_set1_lastUpdate(crl, t);
	ASN1_TIME_set(t, next);
	X509_CRL_set1_nextUpdate(crl, t);
	if (revoked_serial) {
		X509_REVOKED *rv = X509_REVOKED_new();
		ASN1_INTEGER *serial = ASN1_INTEGER_new();

		NEED(rv != NULL && serial != NULL);
		ASN1_INTEGER_set(serial, revoked_serial);
		X509_REVOKED_set_serialNumber(rv, serial);
		ASN1_TIME_set(t, last);
		X509_REVOKED_set_revocationDate(rv, t);
		NEED(X509_CRL_add0_revoked(crl, rv) == 1);
		ASN1_INTEGER_free(serial);
	}
	X509_CRL_sort(crl);
	NEED(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
	NEED((len = i2d_X509_CRL(crl, &der)) > 0);
	out = memcpy(xmalloc((size_t)len), der, (size_t)len);
	*out_len = (size_t)len;
	OPENSSL_free(der);
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	return out;
}

static char *hex_of(const uint8_t *data, size_t len)
{
	char *hex = xmalloc(2 * len + 1);

	dcr_hex(data, len, hex);
	return hex;
}

/* PEM of the given certificates, in order, in a new string. */
static char *pem(X509 *a, X509 *b, X509 *c)
{
	BIO *bio = BIO_new(BIO_s_mem());
	X509 *all[] = { a, b, c };
	char *data, *s;
	long n;

	NEED(bio != NULL);
	for (int i = 0; i < 3; i++)
		if (all[i])
			NEED(PEM_write_bio_X509(bio, all[i]) == 1);
	n = BIO_get_mem_data(bio, &data);
	NEED(n > 0);
	s = xmalloc((size_t)n + 1);
	memcpy(s, data, (size_t)n);
	s[n] = 0;
	BIO_free(bio);
	return s;
}

static void fmt_date(time_t t, char buf[static 32])
{
	struct tm tm;

	NEED(gmtime_r(&t, &tm) != NULL);
	NEED(strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 20);
}

static char *sig_hex(EVP_PKEY *key, const char *text)
{
	uint8_t sig[64];

	sign_raw(key, text, strlen(text), sig);
	return hex_of(sig, 64);
}

/* Replace the first "17" (tcbEvaluationDataNumber) after signing: the text stays valid JSON. */
static void tamper_text(char *text)
{
	char *p = strstr(text, "\"tcbEvaluationDataNumber\":17");

	NEED(p != NULL);
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

static void le64put(uint8_t *p, uint64_t v)
{
	le32put(p, (uint32_t)v);
	le32put(p + 4, (uint32_t)(v >> 32));
}

static void der_of(X509 *x, uint8_t **out, size_t *len)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);

	NEED(n > 0);
	*out = memcpy(xmalloc((size_t)n), der, (size_t)n);
	*len = (size_t)n;
	OPENSSL_free(der);
}

/* The signed tcbInfo (version 3): the first level at the PCK's default TCB, the second far below it. */
static char *tcb_info_text(const struct sgx_synth_opts *o)
{
	char d1[32], d2[32], fm[13], pce[5], text[4096];
	int n;

	fmt_date(o->col_issue, d1), fmt_date(o->col_next, d2);
	dcr_hex(o->tcb_fmspc, 6, fm);
	dcr_hex(o->tcb_pceid, 2, pce);
	n = snprintf(text, sizeof(text),
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
	NEED(n > 0 && (size_t)n < sizeof(text));
	return xstrdup(text);
}

static void components(char *buf, size_t size, const uint8_t svn[static 16])
{
	size_t o = 0;

	for (int i = 0; i < 16; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s{\"svn\":%u}", i ? "," : "", svn[i]);
	NEED(o < size);
}

/*
 * The signed TDX tcbInfo (version 3): levels as for SGX with TDX components
 * (the first needs 3 at index 2, the second 1), tdxModule with a zero
 * signer, and one module identity.
 */
static char *tdx_tcb_info_text(const struct sgx_synth_opts *o)
{
	char d1[32], d2[32], fm[13], pce[5], text[8192], s5[512], s1[512], t1[512], t2[512], pa[1024], ma[1024];
	uint8_t v[16] = { 0 };
	size_t pn = 0, mn = 0;
	int n;

	/* Extra advisory IDs: on the platform's first level, and (as a list of its own) on the module's. */
	pa[0] = ma[0] = '\0';
	for (int i = 0; i < o->extra_advisories && i < 50; i++) {
		pn += (size_t)snprintf(pa + pn, sizeof(pa) - pn, ",\"TEST-SA-P%03d\"", i);
		mn += (size_t)snprintf(ma + mn, sizeof(ma) - mn, "%s\"TEST-SA-M%03d\"", i ? "," : ",\"advisoryIDs\":[", i);
	}
	if (mn)
		snprintf(ma + mn, sizeof(ma) - mn, "]");
	fmt_date(o->col_issue, d1), fmt_date(o->col_next, d2);
	dcr_hex(o->tcb_fmspc, 6, fm);
	dcr_hex(o->tcb_pceid, 2, pce);
	memset(v, 5, 16);
	components(s5, sizeof(s5), v);
	memset(v, 1, 16);
	components(s1, sizeof(s1), v);
	memset(v, 0, 16);
	v[2] = 3;
	components(t1, sizeof(t1), v);
	v[2] = 1;
	components(t2, sizeof(t2), v);
	n = snprintf(text, sizeof(text),
		"{\"id\":\"TDX\",\"version\":3,\"issueDate\":\"%s\",\"nextUpdate\":\"%s\",\"fmspc\":\"%s\","
		"\"pceId\":\"%s\",\"tcbType\":0,\"tcbEvaluationDataNumber\":17,"
		"\"tdxModule\":{\"mrsigner\":\"%096d\",\"attributes\":\"0000000000000000\","
		"\"attributesMask\":\"FFFFFFFFFFFFFFFF\"},"
		"\"tdxModuleIdentities\":[{\"id\":\"%s\",\"mrsigner\":\"%096d\",\"attributes\":\"0000000000000000\","
		"\"attributesMask\":\"FFFFFFFFFFFFFFFF\",\"tcbLevels\":["
		"{\"tcb\":{\"isvsvn\":4},\"tcbDate\":\"2024-03-13T00:00:00Z\",\"tcbStatus\":\"UpToDate\"%s},"
		"{\"tcb\":{\"isvsvn\":2},\"tcbDate\":\"2023-08-09T00:00:00Z\",\"tcbStatus\":\"OutOfDate\","
		"\"advisoryIDs\":[\"INTEL-SA-01036\"]}]}],"
		"\"tcbLevels\":["
		"{\"tcb\":{\"sgxtcbcomponents\":[%s],\"pcesvn\":13,\"tdxtcbcomponents\":[%s]},"
		"\"tcbDate\":\"2024-03-13T00:00:00Z\",\"tcbStatus\":\"%s\",\"advisoryIDs\":[\"INTEL-SA-00615\"%s]},"
		"{\"tcb\":{\"sgxtcbcomponents\":[%s],\"pcesvn\":5,\"tdxtcbcomponents\":[%s]},"
		"\"tcbDate\":\"2020-11-11T00:00:00Z\",\"tcbStatus\":\"OutOfDate\","
		"\"advisoryIDs\":[\"INTEL-SA-00289\",\"INTEL-SA-00615\"]}]}",
		d1, d2, fm, pce, 0, o->module_id, 0, ma, s5, t1, o->tcb_status, pa, s1, t2);
	NEED(n > 0 && (size_t)n < sizeof(text));
	return xstrdup(text);
}

/* The signed enclaveIdentity (version 2) of the quoting enclave. */
static char *qe_identity_text(const struct sgx_synth_opts *o)
{
	char d1[32], d3[32], mrs[65], text[2048];
	int n;

	fmt_date(o->col_issue, d1), fmt_date(o->qe_next, d3);
	dcr_hex(o->qe_mrsigner, 32, mrs);
	n = snprintf(text, sizeof(text),
		"{\"id\":\"%s\",\"version\":2,\"issueDate\":\"%s\",\"nextUpdate\":\"%s\","
		"\"tcbEvaluationDataNumber\":17,\"miscselect\":\"00000000\",\"miscselectMask\":\"FFFFFFFF\","
		"\"attributes\":\"11000000000000000000000000000000\","
		"\"attributesMask\":\"FBFFFFFFFFFFFFFF0000000000000000\",\"mrsigner\":\"%s\",\"isvprodid\":1,"
		"\"tcbLevels\":[{\"tcb\":{\"isvsvn\":8},\"tcbDate\":\"2024-03-13T00:00:00Z\",\"tcbStatus\":\"UpToDate\"},"
		"{\"tcb\":{\"isvsvn\":2},\"tcbDate\":\"2019-05-15T00:00:00Z\",\"tcbStatus\":\"OutOfDate\","
		"\"advisoryIDs\":[\"INTEL-SA-00219\",\"INTEL-SA-00615\"]}]}",
		o->tdx_version ? "TD_QE" : "QE", d1, d3, mrs);
	NEED(n > 0 && (size_t)n < sizeof(text));
	return xstrdup(text);
}

static void build_collateral(struct sgx_synth *s)
{
	char *root_crl = hex_of(s->root_ca_crl, s->root_ca_crl_len), *pck_crl = hex_of(s->pck_crl, s->pck_crl_len);
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
		"pck_crl_issuer_chain", s->pck_crl_issuer_chain, "root_ca_crl", root_crl, "pck_crl", pck_crl,
		"tcb_info_issuer_chain", s->tcb_info_issuer_chain, "tcb_info", s->tcb_info, "tcb_info_signature",
		s->tcb_info_signature, "qe_identity_issuer_chain", s->qe_identity_issuer_chain, "qe_identity",
		s->qe_identity, "qe_identity_signature", s->qe_identity_signature);

	NEED(j != NULL);
	NEED((s->collateral = json_dumps(j, JSON_INDENT(2))) != NULL);
	s->collateral_len = strlen(s->collateral);
	json_decref(j);
	free(root_crl);
	free(pck_crl);
}

/* The QE report at r, binding the attestation key at ak with the authentication data at auth, signed into sig. */
static void qe_report(const struct sgx_synth_keys *k, const struct sgx_synth_opts *o, uint8_t *r, const uint8_t *ak,
	const uint8_t *auth, uint8_t *sig)
{
	EVP_MD_CTX *md;
	uint8_t h[32];

	memset(r, 0, REPORT_LEN);
	memcpy(r, o->pck_comp, 16);
	le32put(r + 16, o->qe_misc);
	r[48] = o->qe_flags;
	r[56] = 0xe7;
	memset(r + 64, 0x77, 32);
	memset(r + 128, 0x5a, 32);
	le16put(r + 256, o->qe_prodid);
	le16put(r + 258, o->qe_isvsvn);
	NEED((md = EVP_MD_CTX_new()) != NULL);
	NEED(EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1);
	NEED(EVP_DigestUpdate(md, ak, 64) == 1);
	NEED(EVP_DigestUpdate(md, auth, AUTH_LEN) == 1);
	NEED(EVP_DigestFinal_ex(md, h, NULL) == 1);
	EVP_MD_CTX_free(md);
	if (o->bad_binding)
		h[0] ^= 1;
	memcpy(r + 320, h, 32);
	sign_raw(k->pck, r, REPORT_LEN, sig);
}

/*
 * A TD quote: header, (version 5: body type and size,) TD report, then the
 * signature data: signature, attestation key, certification data type 6
 * holding the QE report, its signature, authentication data and type 5.
 */
static void build_tdx_quote(const struct sgx_synth_keys *k, const struct sgx_synth_opts *o, const char *chain_pck,
	struct sgx_synth *s)
{
	uint8_t *q = s->quote, *b, *p;
	size_t certlen = strlen(chain_pck), body = o->tdx_body_type == 3 ? 648 : 584, signed_len;

	memset(q, 0, sizeof(s->quote));
	le16put(q, (unsigned)o->tdx_version);
	le16put(q + 2, 2);
	le32put(q + 4, 0x81);
	memcpy(q + OFF_VENDOR, intel_vendor, 16);
	b = q + TDX_OFF_BODY4;
	if (o->tdx_version == 5) {
		le16put(q + 48, o->tdx_body_type);
		le32put(q + 50, (uint32_t)body);
		b = q + TDX_OFF_BODY5;
	} else {
		body = 584;
	}
	memcpy(b + TDX_BODY_TEE_TCB_SVN, o->tee_tcb_svn, 16);
	memset(b + 16, 0x5e, 48); /* MRSEAM */
	memcpy(b + TDX_BODY_MRSIGNERSEAM, o->mrsignerseam, 48);
	memcpy(b + TDX_BODY_SEAM_ATTRIBUTES, o->seam_attributes, 8);
	le64put(b + TDX_BODY_TD_ATTRIBUTES, (uint64_t)1 << 28 | o->td_attributes | (o->debug ? 1 : 0));
	le64put(b + 128, 0x61ee7); /* XFAM */
	memcpy(b + TDX_BODY_MRTD, o->mrtd, 48);
	memset(b + 184, 0xc0, 48); /* MRCONFIGID */
	memset(b + 232, 0x0a, 48); /* MROWNER */
	memset(b + 280, 0x0c, 48); /* MROWNERCONFIG */
	for (int i = 0; i < 4; i++)
		memcpy(b + TDX_BODY_RTMR0 + 48 * i, o->rtmr[i], 48);
	memcpy(b + TDX_BODY_REPORTDATA, o->report_data, 64);
	signed_len = (size_t)(b - q) + body;
	p = q + signed_len + 4;
	sign_raw(k->ak, q, signed_len, p);
	NEED(public_xy(k->ak, p + 64));
	le16put(p + 128, 6);
	p += 134;
	for (int i = 0; i < AUTH_LEN; i++)
		p[REPORT_LEN + 64 + 2 + i] = (uint8_t)i;
	qe_report(k, o, p, q + signed_len + 4 + 64, p + REPORT_LEN + 64 + 2, p + REPORT_LEN);
	le16put(p + REPORT_LEN + 64, AUTH_LEN);
	p += REPORT_LEN + 64 + 2 + AUTH_LEN;
	le16put(p, 5);
	NEED((size_t)(p + 6 - q) + certlen <= sizeof(s->quote));
	le32put(p + 2, (uint32_t)certlen);
	memcpy(p + 6, chain_pck, certlen);
	s->quote_len = (size_t)(p + 6 - q) + certlen;
	le32put(q + signed_len + 4 + 130, (uint32_t)(s->quote_len - (signed_len + 4 + 134)));
	le32put(q + signed_len, (uint32_t)(s->quote_len - signed_len - 4));
}

/* The quote: header, ISV report, then the signature data with the PCK chain. */
static void build_quote(const struct sgx_synth_keys *k, const struct sgx_synth_opts *o, const char *chain_pck,
	struct sgx_synth *s)
{
	uint8_t *q = s->quote;
	size_t certlen = strlen(chain_pck);

	memset(q, 0, sizeof(s->quote));
	le16put(q, 3);
	le16put(q + 2, 2);
	le16put(q + OFF_QE_SVN, o->qe_isvsvn);
	le16put(q + OFF_PCE_SVN, o->pck_pcesvn);
	memcpy(q + OFF_VENDOR, intel_vendor, 16);
	memcpy(q + OFF_CPUSVN, o->pck_comp, 16);
	le64put(q + OFF_ATTRIBUTES, o->attr_flags | (o->debug ? 0x02 : 0));
	q[OFF_XFRM] = 0xe7;
	memcpy(q + OFF_MRENCLAVE, o->mrenclave, 32);
	memcpy(q + OFF_MRSIGNER, o->mrsigner, 32);
	le16put(q + OFF_ISVPRODID, o->isv_prod_id);
	le16put(q + OFF_ISVSVN, o->isv_svn);
	memcpy(q + OFF_REPORTDATA, o->report_data, 64);
	sign_raw(k->ak, q, OFF_SIGLEN, q + OFF_SIG);
	NEED(public_xy(k->ak, q + OFF_AK));

	/* The QE report: Intel's QE identity values, with REPORTDATA binding the attestation key. */
	for (int i = 0; i < AUTH_LEN; i++)
		q[OFF_AUTH + i] = (uint8_t)i;
	qe_report(k, o, q + OFF_QE_REPORT, q + OFF_AK, q + OFF_AUTH, q + OFF_QE_SIG);

	le16put(q + OFF_AUTH_LEN, AUTH_LEN);
	le16put(q + OFF_CERT_TYPE, 5);
	NEED(OFF_CERT + certlen <= sizeof(s->quote));
	le32put(q + OFF_CERT_LEN, (uint32_t)certlen);
	memcpy(q + OFF_CERT, chain_pck, certlen);
	s->quote_len = OFF_CERT + certlen;
	le32put(q + OFF_SIGLEN, (uint32_t)(s->quote_len - OFF_SIG));
}

void sgx_synth_build(const struct sgx_synth_keys *k, const struct sgx_synth_opts *o, struct sgx_synth *s)
{
	/* Certificates start a year before the collateral and CAs outlive it by ten. */
	time_t from = o->col_issue - 365 * DAY, ca_until = o->col_next + 3650 * DAY;
	X509 *root, *other_root, *ca, *pck, *tcb, *pck_issuer_root;
	EVP_PKEY *pck_issuer_root_key;
	char *chain_pck;
	struct dbuf ext;

	memset(s, 0, sizeof(*s));
	sgx_extension(o, &ext);
	root = make_cert("Intel SGX Root CA", k->root, NULL, k->root, 1, from, ca_until, true, NULL);
	other_root = make_cert("Intel SGX Root CA", k->other, NULL, k->other, 1, from, ca_until, true, NULL);
	pck_issuer_root = o->pck_other_root ? other_root : root;
	pck_issuer_root_key = o->pck_other_root ? k->other : k->root;
	ca = make_cert("Intel SGX PCK Processor CA", k->ca, pck_issuer_root, pck_issuer_root_key, 2, from, ca_until,
		true, NULL);
	pck = make_cert(o->pck_cn, k->pck, ca, k->ca, 100, from, o->pck_not_after, false, o->no_ext ? NULL : &ext);
	tcb = make_cert(o->tcb_cn, k->tcb, o->tcb_other_root ? other_root : root,
		o->tcb_other_root ? k->other : k->root, 3, from, ca_until, false, NULL);
	der_of(root, &s->root, &s->root_len);
	der_of(other_root, &s->other_root, &s->other_root_len);
	chain_pck = pem(pck, ca, root);
	s->pck_crl_issuer_chain = pem(ca, root, NULL);
	s->tcb_info_issuer_chain = pem(tcb, root, NULL);
	s->qe_identity_issuer_chain = pem(tcb, root, NULL);
	s->root_ca_crl = make_crl(root, o->root_crl_wrong_key ? k->other : k->root, o->col_issue, o->crl_next,
		o->revoke_ca ? 2 : 0, &s->root_ca_crl_len);
	s->pck_crl = make_crl(ca, o->pck_crl_wrong_key ? k->other : k->ca, o->col_issue, o->crl_next,
		o->revoke_pck ? 100 : 0, &s->pck_crl_len);

	s->tcb_info = o->tdx_version ? tdx_tcb_info_text(o) : tcb_info_text(o);
	s->qe_identity = qe_identity_text(o);
	s->tcb_info_signature = sig_hex(k->tcb, s->tcb_info);
	s->qe_identity_signature = sig_hex(k->tcb, s->qe_identity);
	if (o->tamper_tcb_text)
		tamper_text(s->tcb_info);
	if (o->tamper_qe_text)
		tamper_text(s->qe_identity);
	build_collateral(s);
	if (o->tdx_version)
		build_tdx_quote(k, o, chain_pck, s);
	else
		build_quote(k, o, chain_pck, s);

	free(chain_pck);
	X509_free(root), X509_free(other_root), X509_free(ca), X509_free(pck), X509_free(tcb);
}

void sgx_synth_release(struct sgx_synth *s)
{
	if (!s)
		return;
	free(s->collateral);
	free(s->root), free(s->other_root);
	free(s->root_ca_crl), free(s->pck_crl);
	free(s->pck_crl_issuer_chain);
	free(s->tcb_info), free(s->tcb_info_signature), free(s->tcb_info_issuer_chain);
	free(s->qe_identity), free(s->qe_identity_signature), free(s->qe_identity_issuer_chain);
	memset(s, 0, sizeof(*s));
}

int sgx_synth_set_report_data(uint8_t *quote, size_t quote_len, EVP_PKEY *ak, const uint8_t report_data[static 64])
{
	uint8_t xy[64];

	if (quote_len < OFF_CERT || !public_xy(ak, xy) || memcmp(xy, quote + OFF_AK, 64) != 0)
		return -1;
	memcpy(quote + OFF_REPORTDATA, report_data, 64);
	sign_raw(ak, quote, OFF_SIGLEN, quote + OFF_SIG);
	return 0;
}

int sgx_synth_tdx_set_report_data(uint8_t *quote, size_t quote_len, EVP_PKEY *ak,
	const uint8_t report_data[static 64])
{
	size_t body = quote_len > 50 && quote[0] == 5 ? 54 : 48, len;
	uint8_t xy[64];

	if (quote_len < body + 648 || (quote[0] != 4 && quote[0] != 5))
		return -1;
	len = body + (quote[0] == 5 && quote[48] == 3 ? 648 : 584);
	if (quote_len < len + 4 + 128 || !public_xy(ak, xy) || memcmp(xy, quote + len + 4 + 64, 64) != 0)
		return -1;
	memcpy(quote + body + TDX_BODY_REPORTDATA, report_data, 64);
	sign_raw(ak, quote, len, quote + len + 4);
	return 0;
}

char *sgx_synth_impostor_pem(const uint8_t *cert, size_t len)
{
	const unsigned char *p = cert;
	EVP_PKEY *key = p256();
	X509 *x;
	char *out;

	NEED((x = d2i_X509(NULL, &p, (long)len)) != NULL);
	NEED(X509_set_pubkey(x, key) == 1);
	NEED(X509_sign(x, key, EVP_sha256()) > 0);
	out = pem(x, NULL, NULL);
	X509_free(x);
	EVP_PKEY_free(key);
	return out;
}
