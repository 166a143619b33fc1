/* AMD SEV-SNP: ATTESTATION_REPORT parsing and offline verification against the VCEK/VLEK chain to a pinned ARK. */
#include "snp.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "pki.h"
#include "util.h"

#include "banned.h"

#define SIG_ALGO_ECDSA_P384_SHA384 1
#define SIGNING_KEY_VCEK 0
#define SIGNING_KEY_VLEK 1
#define SIGNING_KEY_NONE 7

/* Offsets in the report (SEV-SNP ABI specification, ATTESTATION_REPORT structure). */
#define OFF_KEY_BITS 0x48
#define OFF_SIGNATURE 0x2a0
#define SIG_COMPONENT 72 /* R and S: little-endian, zero-extended from 48 bytes */

/* The first non-zero byte in [from, to), or -1. */
static long nonzero(const uint8_t *buf, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (buf[i])
			return (long)i;
	return -1;
}

/* A little-endian component of the signature, as 48 big-endian bytes; its upper 24 bytes must be zero. */
static bool sig_component(const uint8_t *p, uint8_t out[static 48])
{
	for (int i = 0; i < 48; i++)
		out[i] = p[47 - i];
	return nonzero(p, 48, SIG_COMPONENT) < 0;
}

int dcr_snp_report_parse(const uint8_t *b, size_t len, struct dcr_snp_report *r, struct dcr_err *err)
{
	/* Reserved ranges of versions 2 and 3 (version 3 uses 0x188-0x18A for the CPUID). */
	static const struct {
		size_t from, to;
	} reserved[] = {
		{ 0x4c, 0x50 }, { 0x18b, 0x1a0 }, { 0x1eb, 0x1ec }, { 0x1ef, 0x1f0 }, { 0x1f8, 0x2a0 },
		{ OFF_SIGNATURE + 2 * SIG_COMPONENT, DCR_SNP_REPORT_LEN },
	};
	uint32_t bits;
	long at;

	memset(r, 0, sizeof(*r));
	if (len != DCR_SNP_REPORT_LEN)
		return dcr_err_set(err, DCR_EATTEST, "SEV-SNP report is %zu bytes, not %d", len, DCR_SNP_REPORT_LEN);
	r->version = dcr_le32(b);
	if (r->version != 2 && r->version != 3)
		return dcr_err_set(err, DCR_EATTEST, "SEV-SNP report version %u is not supported (only 2 and 3)",
			(unsigned)r->version);
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if ((at = nonzero(b, reserved[i].from, reserved[i].to)) >= 0)
			return dcr_err_set(err, DCR_EATTEST, "SEV-SNP report byte 0x%03lx is reserved and must be zero", at);
	if (r->version == 2 && (at = nonzero(b, 0x188, 0x18b)) >= 0)
		return dcr_err_set(err, DCR_EATTEST, "SEV-SNP report byte 0x%03lx is reserved in version 2 and must be zero",
			at);
	r->guest_svn = dcr_le32(b + 0x04);
	r->policy = dcr_le64(b + 0x08);
	if (!(r->policy & DCR_SNP_POLICY_RESERVED_ONE))
		return dcr_err_set(err, DCR_EATTEST, "SEV-SNP report guest policy bit 17 is 0; the ABI has it always 1");
	memcpy(r->family_id, b + 0x10, 16);
	memcpy(r->image_id, b + 0x20, 16);
	r->vmpl = dcr_le32(b + 0x30);
	r->signature_algo = dcr_le32(b + 0x34);
	r->current_tcb = dcr_le64(b + 0x38);
	r->platform_info = dcr_le64(b + 0x40);
	bits = dcr_le32(b + OFF_KEY_BITS);
	if (bits >> 5)
		return dcr_err_set(err, DCR_EATTEST, "SEV-SNP report has reserved bits set in its key fields (0x%08x)",
			(unsigned)bits);
	r->author_key_en = bits & 1;
	r->mask_chip_id = bits >> 1 & 1;
	r->signing_key = (uint8_t)(bits >> 2 & 7);
	memcpy(r->report_data, b + 0x50, 64);
	memcpy(r->measurement, b + 0x90, 48);
	memcpy(r->host_data, b + 0xc0, 32);
	memcpy(r->id_key_digest, b + 0xe0, 48);
	memcpy(r->author_key_digest, b + 0x110, 48);
	memcpy(r->report_id, b + 0x140, 32);
	memcpy(r->report_id_ma, b + 0x160, 32);
	r->reported_tcb = dcr_le64(b + 0x180);
	r->cpuid_fam_id = b[0x188];
	r->cpuid_mod_id = b[0x189];
	r->cpuid_step = b[0x18a];
	memcpy(r->chip_id, b + 0x1a0, 64);
	r->committed_tcb = dcr_le64(b + 0x1e0);
	r->current_build = b[0x1e8], r->current_minor = b[0x1e9], r->current_major = b[0x1ea];
	r->committed_build = b[0x1ec], r->committed_minor = b[0x1ed], r->committed_major = b[0x1ee];
	r->launch_tcb = dcr_le64(b + 0x1f0);
	if (!sig_component(b + OFF_SIGNATURE, r->sig_r) || !sig_component(b + OFF_SIGNATURE + SIG_COMPONENT, r->sig_s))
		return dcr_err_set(err, DCR_EATTEST, "SEV-SNP report signature R or S is longer than 48 bytes");
	return 0;
}

void dcr_snp_tcb_decode(uint64_t tcb, enum dcr_snp_product product, struct dcr_snp_tcb *out)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(tcb >> (8 * i));
	if (product == DCR_SNP_TURIN)
		*out = (struct dcr_snp_tcb){ .fmc = b[0], .bootloader = b[1], .tee = b[2], .snp = b[3], .microcode = b[7] };
	else
		*out = (struct dcr_snp_tcb){ .bootloader = b[0], .tee = b[1], .snp = b[6], .microcode = b[7] };
}

static const char *const product_names[] = { NULL, "Milan", "Genoa", "Turin" };

const char *dcr_snp_product_name(enum dcr_snp_product p)
{
	return p >= DCR_SNP_MILAN && p <= DCR_SNP_TURIN ? product_names[p] : "?";
}

/* Certificates. */

/*
 * The chain in its one form: each certificate as PEM_write_bio_X509 writes
 * it, then at most one CRL as PEM_write_bio_X509_CRL writes it; nothing
 * else. Each block is read with OpenSSL and written again; it must come
 * back byte for byte, so that every byte of the chain matters.
 */
struct chain {
	X509 *leaf, *ask, *ark;       /* ark: NULL when the chain leaves it out */
	X509_CRL *crl;                /* NULL when absent */
};

static void chain_release(struct chain *c)
{
	X509_free(c->leaf);
	X509_free(c->ask);
	X509_free(c->ark);
	X509_CRL_free(c->crl);
	memset(c, 0, sizeof(*c));
}

/* The PEM block at text[*pos] with label, as OpenSSL would write obj again; *pos moves past it. */
#define PEM_CERT "CERTIFICATE"
#define PEM_CRL "X509 CRL"

static int pem_block(const uint8_t *text, size_t len, size_t *pos, const char *label, void **obj,
	struct dcr_err *err)
{
	char begin[40], end[40];
	size_t b = (size_t)snprintf(begin, sizeof(begin), "-----BEGIN %s-----\n", label);
	size_t e = (size_t)snprintf(end, sizeof(end), "-----END %s-----\n", label);
	size_t i = *pos, stop;
	BIO *in = NULL, *out = NULL;
	const char *got;
	long got_len;
	int r = 0, ok;

	*obj = NULL;
	if (len - i < b || memcmp(text + i, begin, b) != 0)
		return 1; /* not this kind of block */
	for (stop = i + b; stop + e <= len && memcmp(text + stop, end, e) != 0; stop++)
		;
	if (stop + e > len)
		return dcr_err_set(err, DCR_EATTEST, "SEV-SNP certificate chain: the PEM block at byte %zu has no END line", i);
	stop += e;
	if (!(in = BIO_new_mem_buf(text + i, (int)(stop - i))) || !(out = BIO_new(BIO_s_mem()))) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	if (strcmp(label, PEM_CERT) == 0)
		ok = (*obj = PEM_read_bio_X509(in, NULL, NULL, NULL)) && PEM_write_bio_X509(out, *obj) == 1;
	else
		ok = (*obj = PEM_read_bio_X509_CRL(in, NULL, NULL, NULL)) && PEM_write_bio_X509_CRL(out, *obj) == 1;
	got_len = BIO_get_mem_data(out, &got);
	if (!*obj)
		r = dcr_err_set(err, DCR_EATTEST, "SEV-SNP certificate chain: the PEM block at byte %zu is not a%s", i,
			strcmp(label, PEM_CERT) == 0 ? " certificate" : " CRL");
	else if (!ok)
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
	else if (got_len < 0 || (size_t)got_len != stop - i || memcmp(got, text + i, stop - i) != 0)
		r = dcr_err_set(err, DCR_EATTEST, "SEV-SNP certificate chain: the PEM block at byte %zu is not written as "
			"OpenSSL writes it (lines of 64 characters, line feeds, DER inside)", i);
	*pos = stop;
out:
	ERR_clear_error();
	BIO_free(in);
	BIO_free(out);
	if (r < 0 && *obj) {
		if (strcmp(label, PEM_CERT) == 0)
			X509_free(*obj);
		else
			X509_CRL_free(*obj);
		*obj = NULL;
	}
	return r;
}

static int chain_parse(const uint8_t *text, size_t len, struct chain *c, struct dcr_err *err)
{
	X509 *certs[3] = { NULL, NULL, NULL };
	size_t n = 0, pos = 0;
	void *obj;
	int r = 0;

	memset(c, 0, sizeof(*c));
	if (len == 0 || len > DCR_SNP_CHAIN_MAX)
		return dcr_err_set(err, DCR_EATTEST, "SEV-SNP certificate chain is %zu bytes (1 to %d)", len,
			DCR_SNP_CHAIN_MAX);
	for (; n < 3 && pos < len; n++) {
		if ((r = pem_block(text, len, &pos, PEM_CERT, &obj, err)) < 0)
			goto out;
		if (r > 0)
			break;
		certs[n] = obj;
	}
	r = 0;
	if (n < 2) {
		r = dcr_err_set(err, DCR_EATTEST, "SEV-SNP certificate chain holds %zu certificate%s: it needs the VCEK (or "
			"VLEK) and the ASK (or ASVK)", n, n == 1 ? "" : "s");
		goto out;
	}
	if (pos < len) {
		if ((r = pem_block(text, len, &pos, PEM_CRL, &obj, err)) < 0)
			goto out;
		c->crl = obj;
	}
	if (r > 0 || pos < len) {
		r = dcr_err_set(err, DCR_EATTEST, "SEV-SNP certificate chain: byte %zu starts neither a certificate (at most "
			"3) nor a CRL (at most 1, last)", pos);
		goto out;
	}
	c->leaf = certs[0], c->ask = certs[1], c->ark = certs[2];
	certs[0] = certs[1] = certs[2] = NULL;
out:
	for (size_t i = 0; i < 3; i++)
		X509_free(certs[i]);
	if (r < 0)
		chain_release(c);
	return r;
}

int dcr_snp_chain_check(const uint8_t *text, size_t len, struct dcr_err *err)
{
	struct chain c;
	int r = chain_parse(text, len, &c, err);

	if (r == 0 && c.ark)
		r = dcr_err_set(err, DCR_EATTEST, "SEV-SNP certificate chain includes the ARK; evidence leaves it out");
	chain_release(&c);
	return r;
}

/* The certificate's one common name, NUL-terminated, or "" when it has none, several, or odd bytes. */
static void cn_of(const X509_NAME *name, char *buf, size_t size)
{
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	const ASN1_STRING *s;
	const unsigned char *d;
	int n;

	buf[0] = '\0';
	if (i < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
		return;
	s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
	d = ASN1_STRING_get0_data(s);
	n = ASN1_STRING_length(s);
	if (n <= 0 || (size_t)n >= size)
		return;
	for (int k = 0; k < n; k++)
		if (d[k] < 0x20 || d[k] >= 0x7f || d[k] == '\'')
			return;
	memcpy(buf, d, (size_t)n);
	buf[n] = '\0';
}

static enum dcr_snp_product product_of(const char *name)
{
	for (int p = DCR_SNP_MILAN; p <= DCR_SNP_TURIN; p++)
		if (strcmp(name, product_names[p]) == 0)
			return (enum dcr_snp_product)p;
	return 0;
}

static int check_validity(X509 *x, const char *what, time_t now, struct dcr_err *err)
{
	time_t nb, na;
	char a[32], b[32];

	if (dcr_pki_asn1_time(X509_get0_notBefore(x), &nb) < 0 || dcr_pki_asn1_time(X509_get0_notAfter(x), &na) < 0)
		return dcr_err_set(err, DCR_EATTEST, "%s certificate has a malformed validity period", what);
	dcr_time_format(now, b);
	if (now < nb) {
		dcr_time_format(nb, a);
		return dcr_err_set(err, DCR_EATTEST, "%s certificate not yet valid: notBefore %s is after %s", what, a, b);
	}
	if (now > na) {
		dcr_time_format(na, a);
		return dcr_err_set(err, DCR_EATTEST, "expired certificate: %s notAfter %s is before %s", what, a, b);
	}
	return 0;
}

/* x is issued by issuer: the names chain and its RSASSA-PSS SHA-384 signature verifies. */
static int check_signed(X509 *x, X509 *issuer, const char *what, const char *by, struct dcr_err *err)
{
	int md = 0, pk = 0;

	if (X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(issuer)) != 0)
		return dcr_err_set(err, DCR_EATTEST, "%s certificate is not issued by the %s (issuer name differs)", what, by);
	if (X509_get_signature_info(x, &md, &pk, NULL, NULL) != 1 || pk != NID_rsassaPss || md != NID_sha384) {
		ERR_clear_error();
		return dcr_err_set(err, DCR_EATTEST, "%s certificate is not signed with RSASSA-PSS and SHA-384", what);
	}
	if (X509_verify(x, X509_get0_pubkey(issuer)) != 1) {
		ERR_clear_error();
		return dcr_err_set(err, DCR_EATTEST, "%s certificate signature does not verify with the %s's key", what, by);
	}
	return 0;
}

static X509 *parse_der(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	unsigned char *enc = NULL;
	X509 *x;
	int n;

	if (!der || len == 0 || len > 65536)
		return NULL;
	x = d2i_X509(NULL, &p, (long)len);
	if (x && (p != der + len || (n = i2d_X509(x, &enc)) <= 0 || (size_t)n != len || memcmp(enc, der, len) != 0)) {
		X509_free(x);
		x = NULL;
	}
	OPENSSL_free(enc);
	ERR_clear_error();
	return x;
}

/* The pinned root: a self-signed "ARK-<product>". */
static int check_root(X509 *ark, enum dcr_snp_product *product, time_t now, struct dcr_err *err)
{
	char cn[64];
	int r;

	cn_of(X509_get_subject_name(ark), cn, sizeof(cn));
	if (strncmp(cn, "ARK-", 4) != 0 || !(*product = product_of(cn + 4)))
		return dcr_err_set(err, DCR_EATTEST, "the pinned root '%s' is not an AMD Root Key for Milan, Genoa or Turin "
			"(ARK-Milan, ARK-Genoa, ARK-Turin)", cn);
	if ((r = check_signed(ark, ark, "ARK", "ARK itself", err)) < 0 || (r = check_validity(ark, "ARK", now, err)) < 0)
		return r;
	if (X509_check_ca(ark) <= 0) {
		ERR_clear_error();
		return dcr_err_set(err, DCR_EATTEST, "the pinned ARK is not a CA certificate");
	}
	return 0;
}

/* A VCEK extension: OID 1.3.6.1.4.1.3704.1.<arc>, its value (DER) at *val. 0 absent, -1 twice. */
static int amd_ext(X509 *x, const char *oid, const unsigned char **val, int *len)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	int i = obj ? X509_get_ext_by_OBJ(x, obj, -1) : -1, again = i >= 0 ? X509_get_ext_by_OBJ(x, obj, i) : -1;
	ASN1_OCTET_STRING *os;

	ASN1_OBJECT_free(obj);
	ERR_clear_error();
	if (i < 0)
		return 0;
	if (again >= 0 || !(os = X509_EXTENSION_get_data(X509_get_ext(x, i))))
		return -1;
	*val = ASN1_STRING_get0_data(os);
	*len = ASN1_STRING_length(os);
	return 1;
}

/* An SPL extension: a DER INTEGER from 0 to 255. 0 absent, 1 present, -1 malformed. */
static int spl_ext(X509 *x, int arc, uint8_t *out)
{
	char oid[48];
	const unsigned char *v, *p;
	ASN1_INTEGER *ai;
	int64_t n = -1;
	int len, r;

	snprintf(oid, sizeof(oid), "1.3.6.1.4.1.3704.1.3.%d", arc);
	if ((r = amd_ext(x, oid, &v, &len)) <= 0)
		return r;
	p = v;
	if (!(ai = d2i_ASN1_INTEGER(NULL, &p, len)) || p != v + len || ASN1_INTEGER_get_int64(&n, ai) != 1 || n < 0 ||
	    n > 255)
		n = -1;
	ASN1_INTEGER_free(ai);
	ERR_clear_error();
	if (n < 0)
		return -1;
	*out = (uint8_t)n;
	return 1;
}

/*
 * The leaf's TCB extensions as a TCB_VERSION, byte by byte: which SPL arc
 * gives each byte, per product (0: none, the byte is reserved and 0).
 * Milan/Genoa: bl(1) tee(2) spl4-7(4-7) snp(3) ucode(8); Turin: fmc(9) bl(1) tee(2) snp(3) - - - ucode(8).
 */
static int leaf_tcb(X509 *leaf, enum dcr_snp_product product, uint64_t *out, struct dcr_err *err)
{
	static const int arcs_milan[8] = { 1, 2, 4, 5, 6, 7, 3, 8 };
	static const int arcs_turin[8] = { 9, 1, 2, 3, 0, 0, 0, 8 };
	const int *arcs = product == DCR_SNP_TURIN ? arcs_turin : arcs_milan;
	uint64_t tcb = 0;

	for (int i = 0; i < 8; i++) {
		uint8_t v = 0;
		int r;

		if (!arcs[i])
			continue;
		if ((r = spl_ext(leaf, arcs[i], &v)) < 0)
			return dcr_err_set(err, DCR_EATTEST, "VCEK TCB extension 1.3.6.1.4.1.3704.1.3.%d is malformed or "
				"present twice", arcs[i]);
		/* spl4-7 are reserved and may be left out; the four (Turin: five) that matter may not. */
		if (r == 0 && !(arcs[i] >= 4 && arcs[i] <= 7))
			return dcr_err_set(err, DCR_EATTEST, "VCEK certificate lacks TCB extension 1.3.6.1.4.1.3704.1.3.%d",
				arcs[i]);
		tcb |= (uint64_t)v << (8 * i);
	}
	*out = tcb;
	return 0;
}

/* The leaf's productName (1.3.6.1.4.1.3704.1.2, an IA5String like "Milan-B0") names product. */
static bool leaf_product_is(X509 *leaf, enum dcr_snp_product product)
{
	const unsigned char *v, *p;
	ASN1_IA5STRING *s;
	const char *want = product_names[product];
	size_t n = strlen(want);
	bool ok = false;
	int len;

	if (amd_ext(leaf, "1.3.6.1.4.1.3704.1.2", &v, &len) <= 0)
		return false;
	p = v;
	if ((s = d2i_ASN1_IA5STRING(NULL, &p, len)) && p == v + len && (size_t)ASN1_STRING_length(s) >= n &&
	    memcmp(ASN1_STRING_get0_data(s), want, n) == 0 &&
	    ((size_t)ASN1_STRING_length(s) == n || ASN1_STRING_get0_data(s)[n] == '-'))
		ok = true;
	ASN1_IA5STRING_free(s);
	ERR_clear_error();
	return ok;
}

enum dcr_snp_product dcr_snp_product_of_cpuid(uint8_t family, uint8_t model)
{
	if (family == 0x19 && model <= 0x0f)
		return DCR_SNP_MILAN;
	if (family == 0x19 && ((model >= 0x10 && model <= 0x1f) || (model >= 0xa0 && model <= 0xaf)))
		return DCR_SNP_GENOA;
	if (family == 0x1a && model <= 0x1f)
		return DCR_SNP_TURIN;
	return 0;
}

static bool revoked(X509_CRL *crl, X509 *x)
{
	X509_REVOKED *rev = NULL;

	return X509_CRL_get0_by_serial(crl, &rev, X509_get0_serialNumber(x)) == 1;
}

/* AMD's CRL (KDS /vcek/v1/<product>/crl): issued and signed by the ARK, current, revoking neither certificate. */
static int check_crl(X509_CRL *crl, X509 *ark, const struct chain *c, time_t now, struct dcr_err *err)
{
	time_t t;
	char a[32], b[32];

	dcr_time_format(now, b);
	if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ark)) != 0)
		return dcr_err_set(err, DCR_EATTEST, "SEV-SNP CRL is not issued by the pinned ARK");
	if (X509_CRL_verify(crl, X509_get0_pubkey(ark)) != 1) {
		ERR_clear_error();
		return dcr_err_set(err, DCR_EATTEST, "SEV-SNP CRL signature does not verify with the ARK's key");
	}
	if (dcr_pki_asn1_time(X509_CRL_get0_lastUpdate(crl), &t) < 0)
		return dcr_err_set(err, DCR_EATTEST, "SEV-SNP CRL has a malformed thisUpdate");
	if (now < t) {
		dcr_time_format(t, a);
		return dcr_err_set(err, DCR_EATTEST, "SEV-SNP CRL not yet valid: thisUpdate %s is after %s", a, b);
	}
	if (dcr_pki_asn1_time(X509_CRL_get0_nextUpdate(crl), &t) < 0)
		return dcr_err_set(err, DCR_EATTEST, "SEV-SNP CRL has no nextUpdate");
	if (now >= t) {
		dcr_time_format(t, a);
		return dcr_err_set(err, DCR_EATTEST, "expired CRL: SEV-SNP CRL nextUpdate %s is not after %s", a, b);
	}
	if (revoked(crl, c->ask))
		return dcr_err_set(err, DCR_EATTEST, "the ASK is revoked by AMD's CRL");
	if (revoked(crl, c->leaf))
		return dcr_err_set(err, DCR_EATTEST, "the %s is revoked by AMD's CRL", "signing certificate");
	return 0;
}

/* ECDSA P-384 with SHA-384 over the signed part, with (r, s) from the report. 1 valid, 0 not, -1 local failure. */
static int report_sig_ok(EVP_PKEY *key, const uint8_t *report, const struct dcr_snp_report *rep)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(rep->sig_r, 48, NULL), *s = BN_bin2bn(rep->sig_s, 48, NULL);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	int len, ok = -1;

	if (!sig || !r || !s || !md || ECDSA_SIG_set0(sig, r, s) != 1)
		goto out;
	r = s = NULL;
	if ((len = i2d_ECDSA_SIG(sig, &der)) <= 0 || EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL, key) != 1)
		goto out;
	ok = EVP_DigestVerify(md, der, (size_t)len, report, DCR_SNP_SIGNED_LEN) == 1;
out:
	ERR_clear_error();
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	return ok;
}

static bool is_p384(EVP_PKEY *k)
{
	char group[32];
	size_t n = 0;

	return k && EVP_PKEY_base_id(k) == EVP_PKEY_EC &&
		EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &n) == 1 &&
		strcmp(group, "secp384r1") == 0;
}

void dcr_snp_result_of_report(const struct dcr_snp_report *rep, enum dcr_snp_product product,
	struct dcr_snp_result *res)
{
	memset(res, 0, sizeof(*res));
	res->version = rep->version;
	res->product = product;
	res->policy = rep->policy;
	res->debug = rep->policy & DCR_SNP_POLICY_DEBUG;
	res->vmpl = rep->vmpl;
	res->guest_svn = rep->guest_svn;
	memcpy(res->measurement, rep->measurement, 48);
	memcpy(res->host_data, rep->host_data, 32);
	memcpy(res->id_key_digest, rep->id_key_digest, 48);
	memcpy(res->author_key_digest, rep->author_key_digest, 48);
	res->author_key_en = rep->author_key_en;
	memcpy(res->report_data, rep->report_data, 64);
	memcpy(res->chip_id, rep->chip_id, 64);
	res->mask_chip_id = rep->mask_chip_id;
	res->platform_info = rep->platform_info;
	res->reported_tcb = rep->reported_tcb;
	res->committed_tcb = rep->committed_tcb;
	res->current_tcb = rep->current_tcb;
	res->launch_tcb = rep->launch_tcb;
	dcr_snp_tcb_decode(rep->reported_tcb, product, &res->reported);
	res->vlek = rep->signing_key == SIGNING_KEY_VLEK;
}

static int verify(const uint8_t *report, const struct dcr_snp_report *rep, const struct chain *c, X509 *ark,
	time_t now, struct dcr_snp_result *res, struct dcr_err *err)
{
	enum dcr_snp_product product;
	char cn[64], want[64];
	const unsigned char *hwid;
	uint64_t tcb = 0;
	bool vlek;
	int r, hwid_len;

	/* The root first: everything else is judged by it. */
	if ((r = check_root(ark, &product, now, err)) < 0)
		return r;
	if (c->ark) {
		unsigned char *a = NULL, *b = NULL;
		int la = i2d_X509(c->ark, &a), lb = i2d_X509(ark, &b);
		bool same = la > 0 && la == lb && memcmp(a, b, (size_t)la) == 0;

		OPENSSL_free(a);
		OPENSSL_free(b);
		if (!same)
			return dcr_err_set(err, DCR_EATTEST, "SEV-SNP certificate chain: its third certificate is not the pinned "
				"ARK");
	}

	/* The ASK (VCEK chain) or ASVK (VLEK chain) of the root's product. */
	cn_of(X509_get_subject_name(c->ask), cn, sizeof(cn));
	snprintf(want, sizeof(want), "SEV-%s", product_names[product]);
	vlek = strcmp(cn, want) != 0;
	snprintf(want, sizeof(want), "SEV-VLEK-%s", product_names[product]);
	if (vlek && strcmp(cn, want) != 0)
		return dcr_err_set(err, DCR_EATTEST, "SEV-SNP certificate chain: the second certificate is '%s', not the "
			"ASK 'SEV-%s' or the ASVK '%s'", cn, product_names[product], want);
	if ((r = check_signed(c->ask, ark, vlek ? "ASVK" : "ASK", "ARK", err)) < 0 ||
	    (r = check_validity(c->ask, vlek ? "ASVK" : "ASK", now, err)) < 0)
		return r;
	if (X509_check_ca(c->ask) <= 0) {
		ERR_clear_error();
		return dcr_err_set(err, DCR_EATTEST, "the %s is not a CA certificate", vlek ? "ASVK" : "ASK");
	}

	/* The leaf: the VCEK (or VLEK) whose key signed the report. */
	cn_of(X509_get_subject_name(c->leaf), cn, sizeof(cn));
	if (strcmp(cn, vlek ? "SEV-VLEK" : "SEV-VCEK") != 0)
		return dcr_err_set(err, DCR_EATTEST, "SEV-SNP certificate chain: the first certificate is '%s', not '%s'", cn,
			vlek ? "SEV-VLEK" : "SEV-VCEK");
	if ((r = check_signed(c->leaf, c->ask, vlek ? "VLEK" : "VCEK", vlek ? "ASVK" : "ASK", err)) < 0 ||
	    (r = check_validity(c->leaf, vlek ? "VLEK" : "VCEK", now, err)) < 0)
		return r;
	if (!is_p384(X509_get0_pubkey(c->leaf)))
		return dcr_err_set(err, DCR_EATTEST, "the %s key is not ECDSA P-384", vlek ? "VLEK" : "VCEK");
	if (c->crl && (r = check_crl(c->crl, ark, c, now, err)) < 0)
		return r;

	/* The report against its certificate. */
	if (rep->signing_key != (vlek ? SIGNING_KEY_VLEK : SIGNING_KEY_VCEK))
		return dcr_err_set(err, DCR_EATTEST, "SEV-SNP report SIGNING_KEY %u says %s, but the chain is for a %s",
			rep->signing_key, rep->signing_key == SIGNING_KEY_VCEK ? "VCEK" :
			rep->signing_key == SIGNING_KEY_VLEK ? "VLEK" : rep->signing_key == SIGNING_KEY_NONE ? "unsigned" :
			"a reserved value", vlek ? "VLEK" : "VCEK");
	if (!leaf_product_is(c->leaf, product))
		return dcr_err_set(err, DCR_EATTEST, "the %s's productName is not %s, the pinned ARK's product",
			vlek ? "VLEK" : "VCEK", product_names[product]);
	if (rep->version >= 3 && dcr_snp_product_of_cpuid(rep->cpuid_fam_id, rep->cpuid_mod_id) != product)
		return dcr_err_set(err, DCR_EATTEST, "SEV-SNP report CPUID family 0x%02x model 0x%02x is not a %s processor",
			rep->cpuid_fam_id, rep->cpuid_mod_id, product_names[product]);
	if ((r = leaf_tcb(c->leaf, product, &tcb, err)) < 0)
		return r;
	if (tcb != rep->reported_tcb)
		return dcr_err_set(err, DCR_EATTEST, "the %s is for TCB %016llx, but the report's REPORTED_TCB is %016llx",
			vlek ? "VLEK" : "VCEK", (unsigned long long)tcb, (unsigned long long)rep->reported_tcb);
	if (!vlek && !rep->mask_chip_id) {
		/* hwID: the whole 64-byte CHIP_ID before Turin, its first 8 bytes on Turin. */
		size_t want_len = product == DCR_SNP_TURIN ? 8 : 64;

		if (amd_ext(c->leaf, "1.3.6.1.4.1.3704.1.4", &hwid, &hwid_len) <= 0 || (size_t)hwid_len != want_len)
			return dcr_err_set(err, DCR_EATTEST, "the VCEK's hwID extension is missing or not %zu bytes", want_len);
		if (memcmp(hwid, rep->chip_id, want_len) != 0)
			return dcr_err_set(err, DCR_EATTEST, "the VCEK is for another chip: its hwID is not the report's CHIP_ID");
	}
	if (rep->vmpl > 3)
		return dcr_err_set(err, DCR_EATTEST, "SEV-SNP report VMPL %u is not 0 to 3 (a report the host asked for?)",
			(unsigned)rep->vmpl);
	if (rep->signature_algo != SIG_ALGO_ECDSA_P384_SHA384)
		return dcr_err_set(err, DCR_EATTEST, "SEV-SNP report signature algorithm %u is not supported (only 1, "
			"ECDSA P-384 with SHA-384)", (unsigned)rep->signature_algo);
	if ((r = report_sig_ok(X509_get0_pubkey(c->leaf), report, rep)) != 1)
		return r < 0 ? dcr_err_set(err, DCR_ENOMEM, "cannot verify the SEV-SNP report signature")
			: dcr_err_set(err, DCR_EATTEST, "SEV-SNP report signature invalid");

	dcr_snp_result_of_report(rep, product, res);
	res->vlek = vlek;
	res->crl_checked = c->crl != NULL;
	return 0;
}

int dcr_snp_verify(const uint8_t *report, size_t report_len, const uint8_t *chain, size_t chain_len,
	const uint8_t *root_der, size_t root_len, time_t now, struct dcr_snp_result *out, struct dcr_err *err)
{
	struct dcr_snp_report rep;
	struct dcr_snp_result res;
	struct chain c;
	X509 *ark;
	int r;

	memset(&res, 0, sizeof(res));
	if ((r = dcr_snp_report_parse(report, report_len, &rep, err)) < 0 ||
	    (r = chain_parse(chain, chain_len, &c, err)) < 0)
		return r;
	if (!(ark = parse_der(root_der, root_len))) {
		chain_release(&c);
		return dcr_err_set(err, DCR_EATTEST, "the pinned AMD root key (ARK) is not a DER certificate");
	}
	r = verify(report, &rep, &c, ark, now, &res, err);
	if (r == 0)
		r = dcr_sha256(root_der, root_len, res.ark_sha256, err);
	if (r == 0 && out)
		*out = res;
	X509_free(ark);
	chain_release(&c);
	return r;
}

/* The names of the weakening policy bits, as specs write them. */
static const struct {
	const char *name;
	uint64_t bit;
} weakening[] = {
	{ "smt", DCR_SNP_POLICY_SMT },
	{ "migrate_ma", DCR_SNP_POLICY_MIGRATE_MA },
	{ "debug", DCR_SNP_POLICY_DEBUG },
	{ "cxl_allow", DCR_SNP_POLICY_CXL_ALLOW },
};

const char *dcr_snp_policy_weakening(size_t i, uint64_t *bit)
{
	if (i >= sizeof(weakening) / sizeof(weakening[0]))
		return NULL;
	*bit = weakening[i].bit;
	return weakening[i].name;
}

uint64_t dcr_snp_policy_bit(const char *name)
{
	for (size_t i = 0; i < sizeof(weakening) / sizeof(weakening[0]); i++)
		if (strcmp(weakening[i].name, name) == 0)
			return weakening[i].bit;
	return 0;
}

int dcr_snp_check_policy(const struct dcr_snp_result *r, const struct dcr_spec *spec, struct dcr_err *err)
{
	const struct dcr_snp_tcb *got = &r->reported;
	char hex[97];

	if (spec->format != DCR_SPEC_SEV_SNP)
		return dcr_err_set(err, DCR_EATTEST, "spec '%s' is not for sev-snp evidence", spec->name);
	if (spec->root_ca) {
		uint8_t pinned[32];
		int rc;

		if ((rc = dcr_sha256(spec->root_ca, spec->root_ca_len, pinned, err)) < 0)
			return rc;
		if (!dcr_ct_equal(pinned, r->ark_sha256, 32))
			return dcr_err_set(err, DCR_EATTEST, "the report was verified under another ARK than spec '%s' pins",
				spec->name);
	}
	if (!dcr_ct_equal(r->measurement, spec->snp_measurement, 48)) {
		dcr_hex(r->measurement, 48, hex);
		return dcr_err_set(err, DCR_EATTEST, "MEASUREMENT %s is not the one spec '%s' pins", hex, spec->name);
	}
	if (spec->snp_has_host_data && !dcr_ct_equal(r->host_data, spec->snp_host_data, 32)) {
		dcr_hex(r->host_data, 32, hex);
		return dcr_err_set(err, DCR_EATTEST, "HOST_DATA %s is not the one spec '%s' pins", hex, spec->name);
	}
	if (spec->snp_has_id_key && !dcr_ct_equal(r->id_key_digest, spec->snp_id_key_digest, 48)) {
		dcr_hex(r->id_key_digest, 48, hex);
		return dcr_err_set(err, DCR_EATTEST, "ID_KEY_DIGEST %s is not the one spec '%s' pins", hex, spec->name);
	}
	if (r->policy & ~DCR_SNP_POLICY_KNOWN)
		return dcr_err_set(err, DCR_EATTEST, "guest policy 0x%016llx has bits dcr does not know (above bit 25)",
			(unsigned long long)r->policy);
	for (size_t i = 0; i < sizeof(weakening) / sizeof(weakening[0]); i++)
		if ((r->policy & weakening[i].bit) && !(spec->snp_policy_allow & weakening[i].bit))
			return dcr_err_set(err, DCR_EATTEST, "guest policy allows %s, which spec '%s' does not allow "
				"(policy_allow)", weakening[i].name, spec->name);
	if (r->vmpl > spec->snp_max_vmpl)
		return dcr_err_set(err, DCR_EATTEST, "report VMPL %u is above spec '%s''s max_vmpl %u", (unsigned)r->vmpl,
			spec->name, (unsigned)spec->snp_max_vmpl);
#define TCB_MIN(f, label) \
	if (got->f < spec->snp_min_tcb.f) \
		return dcr_err_set(err, DCR_EATTEST, "REPORTED_TCB " label " SPL %u is below spec '%s''s minimum %u", got->f, \
			spec->name, spec->snp_min_tcb.f);
	TCB_MIN(bootloader, "boot loader")
	TCB_MIN(tee, "TEE")
	TCB_MIN(snp, "SNP firmware")
	TCB_MIN(microcode, "microcode")
	TCB_MIN(fmc, "FMC")
#undef TCB_MIN
	return 0;
}

int dcr_snp_check_report_data(const struct dcr_snp_result *r,
	const uint8_t expected[static DCR_SNP_REPORT_DATA_LEN], struct dcr_err *err)
{
	if (!dcr_ct_equal(r->report_data, expected, DCR_SNP_REPORT_DATA_LEN))
		return dcr_err_set(err, DCR_EATTEST, "REPORT_DATA does not bind the expected enclave keys");
	return 0;
}

/* The certificate table's GUIDs (GHCB specification) in binary form: the first three fields little-endian. */
static const struct {
	const char *name;
	uint8_t guid[16];
} cert_guids[] = {
	/* 63da758d-e664-4564-adc5-f4b93be8accd */
	{ "VCEK", { 0x8d, 0x75, 0xda, 0x63, 0x64, 0xe6, 0x64, 0x45, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd } },
	/* a8074bc2-a25a-483e-aae6-39c045a0b8a1 */
	{ "VLEK", { 0xc2, 0x4b, 0x07, 0xa8, 0x5a, 0xa2, 0x3e, 0x48, 0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8, 0xa1 } },
	/* 4ab7b379-bbac-4fe4-a02f-05aef327c782 */
	{ "ASK", { 0x79, 0xb3, 0xb7, 0x4a, 0xac, 0xbb, 0xe4, 0x4f, 0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82 } },
	/* c0b406a4-a803-4952-9743-3fb6014cd0ae */
	{ "ARK", { 0xa4, 0x06, 0xb4, 0xc0, 0x03, 0xa8, 0x52, 0x49, 0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae } },
};

int dcr_snp_certs_table(const uint8_t *buf, size_t len, struct dcr_snp_certs *out, struct dcr_err *err)
{
	static const uint8_t zero[24];
	struct dcr_snp_cert *slot[] = { &out->vcek, &out->vlek, &out->ask, &out->ark }; /* as cert_guids[] */

	memset(out, 0, sizeof(*out));
	if (len > DCR_SNP_CERTS_MAX)
		return dcr_err_set(err, DCR_EATTEST, "SEV-SNP certificate table is %zu bytes, more than %d", len,
			DCR_SNP_CERTS_MAX);
	for (size_t i = 0;; i++) {
		const uint8_t *e = buf + 24 * i;
		uint32_t off, n;

		if (24 * (i + 1) > len)
			return dcr_err_set(err, DCR_EATTEST, "SEV-SNP certificate table has no end entry");
		if (memcmp(e, zero, 24) == 0)
			return 0;
		if (i == DCR_SNP_CERTS_ENTRIES)
			return dcr_err_set(err, DCR_EATTEST, "SEV-SNP certificate table has more than %d entries",
				DCR_SNP_CERTS_ENTRIES);
		off = dcr_le32(e + 16), n = dcr_le32(e + 20);
		if (n == 0 || off > len || n > len - off)
			return dcr_err_set(err, DCR_EATTEST, "SEV-SNP certificate table entry %zu (offset %u, length %u) is "
				"not inside its %zu bytes", i + 1, (unsigned)off, (unsigned)n, len);
		for (size_t k = 0; k < sizeof(cert_guids) / sizeof(cert_guids[0]); k++) {
			if (memcmp(e, cert_guids[k].guid, 16) != 0)
				continue;
			if (slot[k]->der)
				return dcr_err_set(err, DCR_EATTEST, "SEV-SNP certificate table has the %s twice",
					cert_guids[k].name);
			slot[k]->der = buf + off;
			slot[k]->len = n;
		}
	}
}
