/* Intel SGX DCAP: quote v3 parsing and offline verification, and the DCAP checks TDX shares (dcap.h). */
#include "sgx.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "pki.h"
#include "dcap.h"
#include "util.h"

#include "banned.h"

#define QUOTE_VERSION 3
#define ATT_KEY_ECDSA_P256 2
#define TEE_SGX 0
#define CERT_PCK_CHAIN 5

#define MAX_CHAIN 8
#define MAX_TCB_LEVELS 256
#define MAX_ADVISORIES_PER_LEVEL 64

/* Intel's quoting enclave vendor ID, from the DCAP quote format specification. */
static const uint8_t intel_qe_vendor[16] = {
	0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
	0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07,
};

/* DER content of OID 1.2.840.113741.1.13.1, Intel's SGX extension in PCK certificates. */
static const uint8_t sgx_ext_oid[] = { 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01 };

static const char *const tcb_statuses[] = {
	"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded",
	"OutOfDate", "OutOfDateConfigurationNeeded", "Revoked", NULL,
};

struct level {
	uint8_t comp[16];      /* TCB info: sgxtcbcomponents */
	uint8_t tdxcomp[16];   /* TDX TCB info: tdxtcbcomponents */
	uint16_t pcesvn;
	uint16_t isvsvn;       /* QE identity, TDX module identity */
	const char *status;    /* the strings belong to the collateral's json_t */
	const char *date;
	json_t *advisories;    /* borrowed; NULL when absent */
};

struct signed_doc {
	char *text;            /* the exact signed JSON text */
	size_t len;
	uint8_t sig[64];
	json_t *json;
	STACK_OF(X509) *chain;
	time_t issue, next;
	char issue_s[32], next_s[32];
	size_t n_levels;
	struct level *levels;
};

/* A TDX module identity of the TDX TCB info: one major version of the module. */
struct module_identity {
	char id[8];            /* "TDX_" and the major version in two hex digits */
	uint8_t mrsigner[48];
	uint8_t attributes[8], attributes_mask[8];
	size_t n_levels;
	struct level *levels;
};

struct dcr_sgx_collateral {
	enum dcr_dcap_kind kind;
	STACK_OF(X509) *pck_crl_chain;
	X509_CRL *root_crl;
	X509_CRL *pck_crl;
	struct signed_doc tcb;
	uint8_t fmspc[6];
	uint8_t pceid[2];
	struct signed_doc qe;
	uint32_t miscselect, miscselect_mask;
	uint8_t attributes[16], attributes_mask[16];
	uint8_t qe_mrsigner[32];
	uint16_t qe_isvprodid;
	/* TDX: tdxModule (the module with major version 0) and tdxModuleIdentities. */
	uint8_t module_mrsigner[48];
	uint8_t module_attributes[8], module_attributes_mask[8];
	size_t n_modules;
	struct module_identity *modules;
};

/* Offsets from the SGX report body layout (sgx_report_body_t). */
static void parse_report(const uint8_t *p, struct dcr_sgx_report *r)
{
	memcpy(r->cpusvn, p, 16);
	r->miscselect = dcr_le32(p + 16);
	memcpy(r->attributes, p + 48, 16);
	memcpy(r->mrenclave, p + 64, 32);
	memcpy(r->mrsigner, p + 128, 32);
	r->isv_prod_id = dcr_le16(p + 256);
	r->isv_svn = dcr_le16(p + 258);
	memcpy(r->report_data, p + 320, 64);
}

int dcr_sgx_quote_parse(const uint8_t *buf, size_t len, struct dcr_sgx_quote *q, struct dcr_err *err)
{
	const uint8_t *p, *end;
	uint32_t sig_len;

	memset(q, 0, sizeof(*q));
	if (len > DCR_SGX_QUOTE_MAX)
		return dcr_err_set(err, DCR_EATTEST, "SGX quote is %zu bytes, more than %d", len, DCR_SGX_QUOTE_MAX);
	if (len < DCR_SGX_HEADER_LEN + DCR_SGX_REPORT_LEN + 4)
		return dcr_err_set(err, DCR_EATTEST, "SGX quote is truncated: %zu bytes", len);
	q->version = dcr_le16(buf);
	q->att_key_type = dcr_le16(buf + 2);
	q->tee_type = dcr_le32(buf + 4);
	q->qe_svn = dcr_le16(buf + 8);
	q->pce_svn = dcr_le16(buf + 10);
	memcpy(q->qe_vendor_id, buf + 12, 16);
	if (q->version != QUOTE_VERSION)
		return dcr_err_set(err, DCR_EATTEST, "SGX quote version %u is not supported (only %d)",
			q->version, QUOTE_VERSION);
	if (q->att_key_type != ATT_KEY_ECDSA_P256)
		return dcr_err_set(err, DCR_EATTEST,
			"SGX quote attestation key type %u is not supported (only 2, ECDSA P-256)", q->att_key_type);
	if (q->tee_type != TEE_SGX)
		return dcr_err_set(err, DCR_EATTEST, "SGX quote TEE type %u is not SGX", (unsigned)q->tee_type);
	parse_report(buf + DCR_SGX_HEADER_LEN, &q->report);
	q->signed_data = buf;
	q->signed_len = DCR_SGX_HEADER_LEN + DCR_SGX_REPORT_LEN;

	p = buf + q->signed_len;
	sig_len = dcr_le32(p);
	p += 4;
	end = buf + len;
	if (sig_len != (size_t)(end - p))
		return dcr_err_set(err, DCR_EATTEST,
			"SGX quote signature data length %u does not match the %zu bytes that follow",
			(unsigned)sig_len, (size_t)(end - p));
	if ((size_t)(end - p) < 128)
		return dcr_err_set(err, DCR_EATTEST, "SGX quote signature data is truncated");
	memcpy(q->signature, p, 64);
	memcpy(q->attest_key, p + 64, 64);
	return dcr_dcap_parse_qe(p + 128, end, q, "SGX quote", err);
}

int dcr_dcap_parse_qe(const uint8_t *p, const uint8_t *end, struct dcr_sgx_quote *q, const char *what,
	struct dcr_err *err)
{
	if ((size_t)(end - p) < DCR_SGX_REPORT_LEN + 64 + 2)
		return dcr_err_set(err, DCR_EATTEST, "%s QE report is truncated", what);
	q->qe_report_raw = p;
	parse_report(q->qe_report_raw, &q->qe_report);
	memcpy(q->qe_report_sig, p + DCR_SGX_REPORT_LEN, 64);
	p += DCR_SGX_REPORT_LEN + 64;

	q->qe_auth_len = dcr_le16(p);
	p += 2;
	if (q->qe_auth_len > (size_t)(end - p))
		return dcr_err_set(err, DCR_EATTEST, "%s QE authentication data is truncated", what);
	q->qe_auth = p;
	p += q->qe_auth_len;

	if ((size_t)(end - p) < 6)
		return dcr_err_set(err, DCR_EATTEST, "%s certification data header is truncated", what);
	q->cert_type = dcr_le16(p);
	q->cert_len = dcr_le32(p + 2);
	p += 6;
	if (q->cert_type != CERT_PCK_CHAIN)
		return dcr_err_set(err, DCR_EATTEST,
			"%s certification data type %u is not supported (only 5, PCK certificate chain)", what,
			q->cert_type);
	if (q->cert_len != (size_t)(end - p))
		return dcr_err_set(err, DCR_EATTEST,
			"%s certification data size %zu does not match the %zu bytes that remain", what,
			q->cert_len, (size_t)(end - p));
	if (q->cert_len == 0)
		return dcr_err_set(err, DCR_EATTEST, "%s has no PCK certificate chain", what);
	q->cert_data = p;
	return 0;
}

int dcr_sgx_quote_canonical(const uint8_t *quote, size_t len, struct dcr_err *err)
{
	struct dcr_sgx_quote q;
	int r;

	if ((r = dcr_sgx_quote_parse(quote, len, &q, err)) < 0)
		return r;
	return dcr_dcap_quote_canonical(&q, "SGX quote", err);
}

int dcr_dcap_quote_canonical(const struct dcr_sgx_quote *q, const char *what, struct dcr_err *err)
{
	if (q->cert_len < 2 || q->cert_data[q->cert_len - 1] != '\0' || q->cert_data[q->cert_len - 2] != '\n')
		return dcr_err_set(err, DCR_EINTEGRITY, "the %s is not as dcrd's evidence carries it: its PCK "
							"certificate chain does not end with a line feed and one NUL byte", what);
	return 0;
}

static void le32set(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

int dcr_sgx_quote_normalize(const uint8_t *quote, size_t len, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	struct dcr_sgx_quote q;
	int r;

	*out = NULL;
	if ((r = dcr_sgx_quote_parse(quote, len, &q, err)) < 0)
		return r;
	return dcr_dcap_quote_normalize(quote, len, &q, 0, "SGX quote", out, out_len, err);
}

int dcr_dcap_quote_normalize(const uint8_t *quote, size_t len, const struct dcr_sgx_quote *q, size_t outer_len_at,
	const char *what, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	bool add = q->cert_data[q->cert_len - 1] != '\0';
	size_t cert_len_at;

	*out = NULL;
	if (add && len == DCR_SGX_QUOTE_MAX)
		return dcr_err_set(err, DCR_EATTEST, "%s is %zu bytes: no room for the NUL after its PCK chain", what, len);
	if (!(*out = malloc(len + add)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	memcpy(*out, quote, len);
	*out_len = len + add;
	if (add) {
		cert_len_at = (size_t)(q->cert_data - quote) - 4;
		(*out)[len] = '\0';
		le32set(*out + q->signed_len, dcr_le32(quote + q->signed_len) + 1);
		le32set(*out + cert_len_at, (uint32_t)q->cert_len + 1);
		if (outer_len_at)
			le32set(*out + outer_len_at, dcr_le32(quote + outer_len_at) + 1);
	}
	return 0;
}

/*
 * Certificate chains, in PEM written one way only (docs/sgx-verification.md):
 * "-----BEGIN CERTIFICATE-----\n", the base64 of the DER in lines of 64
 * characters (the last 1 to 64) each ended by "\n", "-----END
 * CERTIFICATE-----\n"; blocks one directly after the other. With one way to
 * write a chain, every byte of one matters, and a chain cannot show one
 * thing and mean another.
 */

#define PEM_BEGIN "-----BEGIN CERTIFICATE-----"
#define PEM_END "-----END CERTIFICATE-----"
#define PEM_LINE 64

static int b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/*
 * Base64 as RFC 4648 writes it: whole groups of 4, '=' only to pad the last
 * one, and the bits the padding leaves over zero, so that a DER has exactly
 * one text. out has room for n / 4 * 3 bytes. Returns the bytes decoded, or
 * -1 with *why set.
 */
static long b64_decode(const char *s, size_t n, uint8_t *out, const char **why)
{
	size_t pad = 0, o = 0;
	uint32_t acc = 0;

	if (n == 0 || n % 4) {
		*why = "its base64 is not in whole groups of 4 characters";
		return -1;
	}
	pad = s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
	for (size_t i = 0; i < n; i++) {
		int v = i >= n - pad ? 0 : b64_value((unsigned char)s[i]);

		if (v < 0) {
			*why = "its base64 has '=' before the end";
			return -1;
		}
		acc = acc << 6 | (uint32_t)v;
		if (i % 4 == 3) {
			out[o++] = (uint8_t)(acc >> 16);
			out[o++] = (uint8_t)(acc >> 8);
			out[o++] = (uint8_t)acc;
			acc = 0;
		}
	}
	/* "xx==" leaves 4 bits of the second character over, "xxx=" 2 of the third. */
	if (pad && out[o - (pad == 2 ? 2 : 1)] != 0) {
		*why = "its base64 is not canonical: the bits before the '=' padding are not zero";
		return -1;
	}
	return (long)(o - pad);
}

/*
 * Whether n bytes at enc (what i2d wrote, or n < 0) are exactly der: d2i
 * takes BER (a length in more bytes than it needs, say), and the parts of
 * a certificate or CRL outside what its signature covers could then change
 * and still verify.
 */
static bool same_bytes(int n, unsigned char *enc, const uint8_t *der, size_t len)
{
	bool same = n > 0 && enc && (size_t)n == len && memcmp(enc, der, len) == 0;

	OPENSSL_free(enc);
	return same;
}

static bool x509_is_der(X509 *x, const uint8_t *der, size_t len)
{
	unsigned char *enc = NULL;
	int n = i2d_X509(x, &enc);

	return same_bytes(n, enc, der, len);
}

static bool crl_is_der(X509_CRL *crl, const uint8_t *der, size_t len)
{
	unsigned char *enc = NULL;
	int n = i2d_X509_CRL(crl, &enc);

	return same_bytes(n, enc, der, len);
}

/* One block of a chain at text[*pos], decoded; *pos moves past it. index counts from 1, for messages. */
static int pem_cert(const char *text, size_t len, size_t *pos, const char *what, int index, X509 **out,
	struct dcr_err *err)
{
	size_t i = *pos, start, n, nb = 0, prev = PEM_LINE, prev_start = 0;
	const unsigned char *p;
	const char *why;
	uint8_t *der = NULL;
	char *b64 = NULL;
	long dlen;
	int r = 0;

	*out = NULL;
	if (len - i < sizeof(PEM_BEGIN) || memcmp(text + i, PEM_BEGIN "\n", sizeof(PEM_BEGIN)) != 0)
		return dcr_err_set(err, DCR_EATTEST, "%s: certificate %d does not start with a '" PEM_BEGIN "' line (byte %zu)",
			what, index, i);
	i += sizeof(PEM_BEGIN);
	if (!(b64 = malloc(len - i + 1)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	for (size_t line = 1;; line++) {
		for (start = i; i < len && text[i] != '\n'; i++)
			;
		if (i == len) {
			if (start == len)
				r = dcr_err_set(err, DCR_EATTEST, "%s: certificate %d has no '" PEM_END "' line", what, index);
			else
				r = dcr_err_set(err, DCR_EATTEST, "%s: certificate %d, line %zu (byte %zu) does not end with a "
					"line feed", what, index, line, start);
			goto out;
		}
		n = i++ - start;
		if (n && text[start] == '-') {
			if (n != sizeof(PEM_END) - 1 || memcmp(text + start, PEM_END, n) != 0)
				r = dcr_err_set(err, DCR_EATTEST, "%s: certificate %d, line %zu (byte %zu) is not '" PEM_END "'",
					what, index, line, start);
			else if (nb == 0)
				r = dcr_err_set(err, DCR_EATTEST, "%s: certificate %d has no base64", what, index);
			if (r < 0)
				goto out;
			break;
		}
		if (n == 0)
			r = dcr_err_set(err, DCR_EATTEST, "%s: certificate %d, line %zu (byte %zu) is empty", what, index, line,
				start);
		for (size_t k = start; r == 0 && k < start + n; k++)
			if (b64_value((unsigned char)text[k]) < 0 && text[k] != '=')
				r = dcr_err_set(err, DCR_EATTEST, "%s: certificate %d, line %zu (byte %zu) has a character outside "
					"the base64 alphabet", what, index, line, k);
		if (r == 0 && n > PEM_LINE)
			r = dcr_err_set(err, DCR_EATTEST, "%s: certificate %d, line %zu (byte %zu) has more than %d characters",
				what, index, line, start, PEM_LINE);
		else if (r == 0 && prev < PEM_LINE)
			r = dcr_err_set(err, DCR_EATTEST, "%s: certificate %d, line %zu (byte %zu) has %zu characters: only the "
				"last line may be shorter than %d", what, index, line - 1, prev_start, prev, PEM_LINE);
		if (r < 0)
			goto out;
		memcpy(b64 + nb, text + start, n);
		nb += n;
		prev = n, prev_start = start;
	}
	if (!(der = malloc(nb / 4 * 3 + 3))) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	if ((dlen = b64_decode(b64, nb, der, &why)) < 0) {
		r = dcr_err_set(err, DCR_EATTEST, "%s: certificate %d: %s", what, index, why);
		goto out;
	}
	p = der;
	if (!(*out = d2i_X509(NULL, &p, dlen))) {
		r = dcr_err_set(err, DCR_EATTEST, "%s: certificate %d is not a DER X.509 certificate", what, index);
	} else if (p != der + dlen) {
		r = dcr_err_set(err, DCR_EATTEST, "%s: certificate %d has bytes after its DER", what, index);
	} else if (!x509_is_der(*out, der, (size_t)dlen)) {
		r = dcr_err_set(err, DCR_EATTEST, "%s: certificate %d is not in DER (it encodes otherwise: a length in "
			"more bytes than it needs?)", what, index);
	}
	if (r < 0) {
		X509_free(*out);
		*out = NULL;
	}
	*pos = i;
out:
	ERR_clear_error();
	free(der);
	free(b64);
	return r;
}

/*
 * A chain of exactly want certificates in strict PEM; after the last block
 * nothing, or when nul_ok one NUL byte (what Intel's quote library leaves).
 * what names the chain in messages. *out: sk_X509_pop_free.
 */
static int pem_chain(const char *text, size_t len, int want, bool nul_ok, const char *what, STACK_OF(X509) **out,
	struct dcr_err *err)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	size_t pos = 0;
	X509 *x;
	int r;

	*out = NULL;
	if (!chain)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	for (;;) {
		if (sk_X509_num(chain) == MAX_CHAIN) {
			r = dcr_err_set(err, DCR_EATTEST, "%s holds more than %d certificates, not %d", what, MAX_CHAIN, want);
			goto fail;
		}
		if ((r = pem_cert(text, len, &pos, what, sk_X509_num(chain) + 1, &x, err)) < 0)
			goto fail;
		if (!sk_X509_push(chain, x)) {
			X509_free(x);
			r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
			goto fail;
		}
		if (pos == len || (nul_ok && pos == len - 1 && text[pos] == '\0'))
			break;
		if (len - pos < sizeof(PEM_BEGIN) - 1 || memcmp(text + pos, PEM_BEGIN, sizeof(PEM_BEGIN) - 1) != 0) {
			r = dcr_err_set(err, DCR_EATTEST, "%s: unexpected bytes after certificate %d, at byte %zu", what,
				sk_X509_num(chain), pos);
			goto fail;
		}
	}
	if (sk_X509_num(chain) != want) {
		r = dcr_err_set(err, DCR_EATTEST, "%s holds %d certificate%s, not %d", what, sk_X509_num(chain),
			sk_X509_num(chain) == 1 ? "" : "s", want);
		goto fail;
	}
	*out = chain;
	return 0;
fail:
	sk_X509_pop_free(chain, X509_free);
	return r;
}

/* Collateral parsing. */

static const char *get_string(json_t *obj, const char *key, size_t *len)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_string(v))
		return NULL;
	if (len)
		*len = json_string_length(v);
	return json_string_value(v);
}

static int get_int(json_t *obj, const char *key, long long max, long long *out)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
		return -1;
	*out = json_integer_value(v);
	return 0;
}

static int get_hex(json_t *obj, const char *key, uint8_t *out, size_t len)
{
	const char *s = get_string(obj, key, NULL);

	return s && dcr_unhex(s, out, len) == 0 ? 0 : -1;
}

/*
 * Lower-case hex only, as Intel serves it: were either case allowed, a
 * letter's case would be a byte that changes nothing.
 */
static int lower_unhex(const char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i], v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

		if (v < 0)
			return -1;
		out[i / 2] = (uint8_t)(i % 2 ? out[i / 2] | v : v << 4);
	}
	return 0;
}

/* The collateral's top-level values: strings, as dcr_sgx_collateral_parse made sure. */
static const char *get_value(json_t *obj, const char *key, size_t *len)
{
	json_t *v = json_object_get(obj, key);

	*len = json_string_length(v);
	return json_string_value(v);
}

static int parse_hex_crl(json_t *obj, const char *key, X509_CRL **out, struct dcr_err *err)
{
	size_t hexlen, len;
	const char *hex = get_value(obj, key, &hexlen);
	const unsigned char *p;
	uint8_t *der;
	time_t t;
	int r = 0;

	*out = NULL;
	len = hexlen / 2;
	if (!(der = malloc(len + 1)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	p = der;
	if (hexlen == 0 || hexlen % 2 || lower_unhex(hex, hexlen, der) < 0) {
		r = dcr_err_set(err, DCR_EATTEST, "collateral: %s is not lower-case hex (an even number of digits "
			"0-9, a-f)", key);
	} else if (!(*out = d2i_X509_CRL(NULL, &p, (long)len))) {
		r = dcr_err_set(err, DCR_EATTEST, "collateral: %s is not a DER CRL", key);
	} else if (p != der + len) {
		r = dcr_err_set(err, DCR_EATTEST, "collateral: %s has bytes after its DER CRL", key);
	} else if (!crl_is_der(*out, der, len)) {
		r = dcr_err_set(err, DCR_EATTEST, "collateral: %s is not in DER (it encodes otherwise: a length in more "
			"bytes than it needs?)", key);
	} else if (dcr_pki_asn1_time(X509_CRL_get0_lastUpdate(*out), &t) < 0) {
		r = dcr_err_set(err, DCR_EATTEST, "collateral: %s has a malformed thisUpdate", key);
	} else if (dcr_pki_asn1_time(X509_CRL_get0_nextUpdate(*out), &t) < 0) {
		/* Optional in X.509, but without it nothing says when the CRL goes stale. */
		r = dcr_err_set(err, DCR_EATTEST, "collateral: %s has no nextUpdate", key);
	}
	if (r < 0) {
		X509_CRL_free(*out);
		*out = NULL;
	}
	free(der);
	ERR_clear_error();
	return r;
}

static int parse_chain(json_t *obj, const char *key, STACK_OF(X509) **out, struct dcr_err *err)
{
	char what[64];
	size_t len;
	const char *s = get_value(obj, key, &len);

	snprintf(what, sizeof(what), "collateral: %s", key);
	return pem_chain(s, len, 2, false, what, out, err);
}

static bool known_status(const char *s)
{
	for (const char *const *t = tcb_statuses; *t; t++)
		if (strcmp(s, *t) == 0)
			return true;
	return false;
}

/* One tcbLevels entry: status, date and advisories common to TCB info and QE identity. */
static int parse_level_common(json_t *lv, struct level *l, const char *what, struct dcr_err *err)
{
	json_t *adv = json_object_get(lv, "advisoryIDs");
	size_t i;
	json_t *a;

	l->status = get_string(lv, "tcbStatus", NULL);
	l->date = get_string(lv, "tcbDate", NULL);
	if (!l->status || !known_status(l->status))
		return dcr_err_set(err, DCR_EATTEST, "%s: a TCB level has a missing or unknown tcbStatus", what);
	if (!l->date)
		return dcr_err_set(err, DCR_EATTEST, "%s: a TCB level has no tcbDate", what);
	if (adv) {
		if (!json_is_array(adv) || json_array_size(adv) > MAX_ADVISORIES_PER_LEVEL)
			return dcr_err_set(err, DCR_EATTEST, "%s: advisoryIDs is not a short array", what);
		json_array_foreach(adv, i, a) {
			if (!json_is_string(a) || json_string_length(a) == 0 ||
			    json_string_length(a) >= DCR_SGX_ADVISORY_LEN)
				return dcr_err_set(err, DCR_EATTEST, "%s: an advisory ID is not a short string", what);
		}
		l->advisories = adv;
	}
	return 0;
}

/* A value from the collateral for a message: itself when short and printable, else "?". */
static const char *shown(const char *s)
{
	size_t n = strlen(s);

	if (n > 32)
		return "?";
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] >= 0x7f || s[i] == '"' || s[i] == '\'')
			return "?";
	return s;
}

static int parse_signed(json_t *root, const char *text_key, const char *sig_key, const char *chain_key,
	const char *id, struct signed_doc *d, json_t **body, struct dcr_err *err)
{
	size_t len;
	const char *text = get_value(root, text_key, &len), *s;
	json_error_t jerr;
	json_t *levels;
	int r;

	if (strlen(text) != len)
		return dcr_err_set(err, DCR_EATTEST, "collateral: %s holds a NUL character", text_key);
	if (!(d->text = malloc(len + 1)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	memcpy(d->text, text, len + 1);
	d->len = len;
	s = get_value(root, sig_key, &len);
	if (len != 2 * sizeof(d->sig) || lower_unhex(s, len, d->sig) < 0)
		return dcr_err_set(err, DCR_EATTEST, "collateral: %s is not %zu lower-case hex digits (r || s)", sig_key,
			2 * sizeof(d->sig));
	if ((r = parse_chain(root, chain_key, &d->chain, err)) < 0)
		return r;
	if (!(d->json = json_loadb(d->text, d->len, JSON_REJECT_DUPLICATES, &jerr)))
		return dcr_err_set(err, DCR_EATTEST, "collateral: %s is not JSON (byte %d: %s)", text_key, jerr.position,
			jerr.text);
	if (!json_is_object(d->json))
		return dcr_err_set(err, DCR_EATTEST, "collateral: %s is not a JSON object", text_key);
	*body = d->json;
	if (!(s = get_string(*body, "id", NULL)))
		return dcr_err_set(err, DCR_EATTEST, "collateral: %s has no \"id\" string", text_key);
	if (strcmp(s, id) != 0)
		return dcr_err_set(err, DCR_EATTEST, "collateral: %s id is \"%s\", not \"%s\"", text_key, shown(s), id);
	if (!(s = get_string(*body, "issueDate", NULL)) || dcr_time_parse(s, &d->issue) < 0)
		return dcr_err_set(err, DCR_EATTEST, "collateral: %s issueDate is missing or malformed", text_key);
	snprintf(d->issue_s, sizeof(d->issue_s), "%s", s);
	if (!(s = get_string(*body, "nextUpdate", NULL)) || dcr_time_parse(s, &d->next) < 0)
		return dcr_err_set(err, DCR_EATTEST, "collateral: %s nextUpdate is missing or malformed", text_key);
	snprintf(d->next_s, sizeof(d->next_s), "%s", s);
	levels = json_object_get(*body, "tcbLevels");
	if (!json_is_array(levels) || json_array_size(levels) == 0 || json_array_size(levels) > MAX_TCB_LEVELS)
		return dcr_err_set(err, DCR_EATTEST, "collateral: %s tcbLevels is not a non-empty array", text_key);
	d->n_levels = json_array_size(levels);
	if (!(d->levels = calloc(d->n_levels, sizeof(*d->levels))))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	return 0;
}

/* n TCB components (sgxtcbcomponents or tdxtcbcomponents) of level i into out. */
static int parse_components(json_t *tcb, const char *key, size_t i, uint8_t out[static 16], struct dcr_err *err)
{
	json_t *comps = json_object_get(tcb, key), *comp;
	long long v;
	size_t j;

	if (!json_is_array(comps) || json_array_size(comps) != 16)
		return dcr_err_set(err, DCR_EATTEST, "collateral: tcb_info level %zu does not have 16 %s", i, key);
	json_array_foreach(comps, j, comp) {
		if (get_int(comp, "svn", 255, &v) < 0)
			return dcr_err_set(err, DCR_EATTEST, "collateral: tcb_info level %zu has a malformed svn in %s", i,
				key);
		out[j] = (uint8_t)v;
	}
	return 0;
}

/* mrsigner, attributes and attributesMask of tdxModule or of one of tdxModuleIdentities. */
static int parse_module(json_t *m, uint8_t mrsigner[static 48], uint8_t attributes[static 8], uint8_t mask[static 8])
{
	return get_hex(m, "mrsigner", mrsigner, 48) < 0 || get_hex(m, "attributes", attributes, 8) < 0 ||
		get_hex(m, "attributesMask", mask, 8) < 0 ? -1 : 0;
}

#define MAX_MODULES 16

/* tdxModule and tdxModuleIdentities of a TDX TCB info. */
static int parse_tdx_modules(json_t *body, struct dcr_sgx_collateral *c, struct dcr_err *err)
{
	json_t *ids = json_object_get(body, "tdxModuleIdentities"), *m, *lv;
	long long v;
	size_t i, j;
	int r;

	if (parse_module(json_object_get(body, "tdxModule"), c->module_mrsigner, c->module_attributes,
	    c->module_attributes_mask) < 0)
		return dcr_err_set(err, DCR_EATTEST, "collateral: tcb_info tdxModule is missing or malformed");
	/* Without identities, only the modules of major version 0 (tdxModule) can be recognised. */
	if (!ids)
		return 0;
	if (!json_is_array(ids) || json_array_size(ids) > MAX_MODULES)
		return dcr_err_set(err, DCR_EATTEST, "collateral: tcb_info tdxModuleIdentities is not an array of at "
			"most %d", MAX_MODULES);
	if (!(c->modules = calloc(json_array_size(ids) + 1, sizeof(*c->modules))))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	json_array_foreach(ids, i, m) {
		struct module_identity *mi = &c->modules[i];
		const char *id = get_string(m, "id", NULL);
		json_t *levels = json_object_get(m, "tcbLevels");

		c->n_modules = i + 1;
		if (!id || strlen(id) != 6 || strncmp(id, "TDX_", 4) != 0 || !isxdigit((unsigned char)id[4]) ||
		    !isxdigit((unsigned char)id[5]))
			return dcr_err_set(err, DCR_EATTEST, "collateral: tcb_info TDX module identity %zu has an id that is "
				"not TDX_ and two hex digits", i);
		/* Intel writes the digits in upper case; the quote's byte is matched whichever case. */
		for (int k = 0; k < 6; k++)
			mi->id[k] = (char)toupper((unsigned char)id[k]);
		if (parse_module(m, mi->mrsigner, mi->attributes, mi->attributes_mask) < 0)
			return dcr_err_set(err, DCR_EATTEST, "collateral: tcb_info TDX module identity %s is malformed",
				mi->id);
		if (!json_is_array(levels) || json_array_size(levels) == 0 || json_array_size(levels) > MAX_TCB_LEVELS)
			return dcr_err_set(err, DCR_EATTEST, "collateral: tcb_info TDX module identity %s tcbLevels is not "
				"a non-empty array", mi->id);
		if (!(mi->levels = calloc(json_array_size(levels), sizeof(*mi->levels))))
			return dcr_err_set(err, DCR_ENOMEM, "out of memory");
		mi->n_levels = json_array_size(levels);
		json_array_foreach(levels, j, lv) {
			if (get_int(json_object_get(lv, "tcb"), "isvsvn", 255, &v) < 0)
				return dcr_err_set(err, DCR_EATTEST, "collateral: tcb_info TDX module identity %s level %zu has "
					"a malformed isvsvn", mi->id, j);
			mi->levels[j].isvsvn = (uint16_t)v;
			if ((r = parse_level_common(lv, &mi->levels[j], "collateral: tcb_info TDX module identity", err)) < 0)
				return r;
		}
	}
	return 0;
}

static int parse_tcb_info(json_t *root, struct dcr_sgx_collateral *c, struct dcr_err *err)
{
	bool tdx = c->kind == DCR_DCAP_TDX;
	json_t *body, *lv;
	long long v;
	size_t i;
	int r;

	if ((r = parse_signed(root, "tcb_info", "tcb_info_signature", "tcb_info_issuer_chain", tdx ? "TDX" : "SGX",
	    &c->tcb, &body, err)) < 0)
		return r;
	if (get_int(body, "version", 100, &v) < 0 || v != 3)
		return dcr_err_set(err, DCR_EATTEST, "collateral: tcb_info version is not 3");
	if (get_int(body, "tcbType", 100, &v) < 0 || v != 0)
		return dcr_err_set(err, DCR_EATTEST, "collateral: tcb_info tcbType is not 0");
	if (get_hex(body, "fmspc", c->fmspc, 6) < 0 || get_hex(body, "pceId", c->pceid, 2) < 0)
		return dcr_err_set(err, DCR_EATTEST, "collateral: tcb_info fmspc or pceId is malformed");
	if (tdx && (r = parse_tdx_modules(body, c, err)) < 0)
		return r;
	json_array_foreach(json_object_get(body, "tcbLevels"), i, lv) {
		struct level *l = &c->tcb.levels[i];
		json_t *tcb = json_object_get(lv, "tcb");

		if ((r = parse_components(tcb, "sgxtcbcomponents", i, l->comp, err)) < 0 ||
		    (tdx && (r = parse_components(tcb, "tdxtcbcomponents", i, l->tdxcomp, err)) < 0))
			return r;
		if (get_int(tcb, "pcesvn", 65535, &v) < 0)
			return dcr_err_set(err, DCR_EATTEST, "collateral: tcb_info level %zu has a malformed pcesvn", i);
		l->pcesvn = (uint16_t)v;
		if ((r = parse_level_common(lv, l, "collateral: tcb_info", err)) < 0)
			return r;
	}
	return 0;
}

static int parse_qe_identity(json_t *root, struct dcr_sgx_collateral *c, struct dcr_err *err)
{
	json_t *body, *lv;
	uint8_t b[4];
	long long v;
	size_t i;
	int r;

	if ((r = parse_signed(root, "qe_identity", "qe_identity_signature", "qe_identity_issuer_chain",
	    c->kind == DCR_DCAP_TDX ? "TD_QE" : "QE", &c->qe, &body, err)) < 0)
		return r;
	if (get_int(body, "version", 100, &v) < 0 || v != 2)
		return dcr_err_set(err, DCR_EATTEST, "collateral: qe_identity version is not 2");
	/* MISCSELECT is shown as the big-endian hex of the 32-bit value. */
	if (get_hex(body, "miscselect", b, 4) < 0)
		return dcr_err_set(err, DCR_EATTEST, "collateral: qe_identity miscselect is malformed");
	c->miscselect = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	if (get_hex(body, "miscselectMask", b, 4) < 0)
		return dcr_err_set(err, DCR_EATTEST, "collateral: qe_identity miscselectMask is malformed");
	c->miscselect_mask = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	if (get_hex(body, "attributes", c->attributes, 16) < 0 ||
	    get_hex(body, "attributesMask", c->attributes_mask, 16) < 0)
		return dcr_err_set(err, DCR_EATTEST, "collateral: qe_identity attributes or attributesMask is malformed");
	if (get_hex(body, "mrsigner", c->qe_mrsigner, 32) < 0)
		return dcr_err_set(err, DCR_EATTEST, "collateral: qe_identity mrsigner is malformed");
	if (get_int(body, "isvprodid", 65535, &v) < 0)
		return dcr_err_set(err, DCR_EATTEST, "collateral: qe_identity isvprodid is malformed");
	c->qe_isvprodid = (uint16_t)v;
	json_array_foreach(json_object_get(body, "tcbLevels"), i, lv) {
		struct level *l = &c->qe.levels[i];

		if (get_int(json_object_get(lv, "tcb"), "isvsvn", 65535, &v) < 0)
			return dcr_err_set(err, DCR_EATTEST, "collateral: qe_identity level %zu has a malformed isvsvn", i);
		l->isvsvn = (uint16_t)v;
		if ((r = parse_level_common(lv, l, "collateral: qe_identity", err)) < 0)
			return r;
	}
	return 0;
}

static const char *const collateral_keys[] = {
	"pck_crl_issuer_chain", "root_ca_crl", "pck_crl", "tcb_info_issuer_chain", "tcb_info",
	"tcb_info_signature", "qe_identity_issuer_chain", "qe_identity", "qe_identity_signature", NULL,
};

int dcr_sgx_collateral_parse(const uint8_t *buf, size_t len, struct dcr_sgx_collateral **out,
	struct dcr_err *err)
{
	return dcr_dcap_collateral_parse(DCR_DCAP_SGX, buf, len, out, err);
}

int dcr_dcap_collateral_parse(enum dcr_dcap_kind kind, const uint8_t *buf, size_t len,
	struct dcr_sgx_collateral **out, struct dcr_err *err)
{
	char missing[DCR_ERR_MSG_MAX];
	struct dcr_sgx_collateral *c;
	size_t n_missing = 0, used = 0;
	json_error_t jerr;
	const char *key;
	json_t *root, *v;
	int r = 0;

	*out = NULL;
	if (len > DCR_SGX_COLLATERAL_MAX)
		return dcr_err_set(err, DCR_EATTEST, "collateral is %zu bytes, more than %d", len, DCR_SGX_COLLATERAL_MAX);
	root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root || !json_is_object(root)) {
		json_decref(root);
		return dcr_err_set(err, DCR_EATTEST, "collateral: not a JSON object (line %d: %s)",
			root ? 1 : jerr.line, root ? "top level" : jerr.text);
	}
	/* The documented keys, each a string, all of them: anything else is not what Intel serves. */
	json_object_foreach(root, key, v) {
		const char *const *k;

		for (k = collateral_keys; *k && strcmp(*k, key) != 0; k++)
			;
		if (!*k)
			r = dcr_err_set(err, DCR_EATTEST, "collateral: unknown key '%s'", shown(key));
		else if (!json_is_string(v))
			r = dcr_err_set(err, DCR_EATTEST, "collateral: '%s' is not a string", key);
		if (r < 0) {
			json_decref(root);
			return r;
		}
	}
	for (const char *const *k = collateral_keys; *k; k++) {
		if (json_object_get(root, *k))
			continue;
		n_missing++;
		if (used < sizeof(missing))
			used += (size_t)snprintf(missing + used, sizeof(missing) - used, "%s'%s'", used ? ", " : "", *k);
	}
	if (n_missing) {
		json_decref(root);
		return dcr_err_set(err, DCR_EATTEST, "collateral: missing key%s %s", n_missing == 1 ? "" : "s", missing);
	}
	if (!(c = calloc(1, sizeof(*c)))) {
		json_decref(root);
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	}
	c->kind = kind;
	if ((r = parse_chain(root, "pck_crl_issuer_chain", &c->pck_crl_chain, err)) == 0 &&
	    (r = parse_hex_crl(root, "root_ca_crl", &c->root_crl, err)) == 0 &&
	    (r = parse_hex_crl(root, "pck_crl", &c->pck_crl, err)) == 0 &&
	    (r = parse_tcb_info(root, c, err)) == 0)
		r = parse_qe_identity(root, c, err);
	json_decref(root);
	if (r < 0) {
		dcr_sgx_collateral_free(c);
		return r;
	}
	*out = c;
	return 0;
}

int dcr_sgx_collateral_canonical(const uint8_t *json, size_t len, const char *what, struct dcr_err *err)
{
	const char *const *k = collateral_keys;
	json_error_t jerr;
	const char *key;
	char *again = NULL;
	json_t *root, *v;
	int r = 0;

	if (len > DCR_SGX_COLLATERAL_MAX)
		return dcr_err_set(err, DCR_EINTEGRITY, "%s is %zu bytes, more than %d", what, len, DCR_SGX_COLLATERAL_MAX);
	root = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root || !json_is_object(root)) {
		json_decref(root);
		return dcr_err_set(err, DCR_EINTEGRITY, "%s is not a JSON object", what);
	}
	/* jansson keeps an object's keys in the order they came. */
	json_object_foreach(root, key, v) {
		if (!*k || strcmp(*k, key) != 0) {
			r = dcr_err_set(err, DCR_EINTEGRITY, "%s is not in its canonical encoding: '%.64s' where %s%s%s "
							     "belongs", what, key, *k ? "'" : "", *k ? *k : "nothing", *k ? "'" : "");
			break;
		}
		k++;
	}
	if (r == 0 && *k)
		r = dcr_err_set(err, DCR_EINTEGRITY, "%s is not in its canonical encoding: '%s' is missing", what, *k);
	if (r == 0 && !(again = json_dumps(root, JSON_COMPACT)))
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if (r == 0 && (strlen(again) != len || memcmp(again, json, len) != 0))
		r = dcr_err_set(err, DCR_EINTEGRITY, "%s is not in its canonical encoding: it is not the compact text "
						     "dcrd writes", what);
	free(again);
	json_decref(root);
	return r;
}

static void signed_doc_release(struct signed_doc *d)
{
	free(d->text);
	free(d->levels);
	json_decref(d->json);
	sk_X509_pop_free(d->chain, X509_free);
}

void dcr_sgx_collateral_free(struct dcr_sgx_collateral *c)
{
	if (!c)
		return;
	sk_X509_pop_free(c->pck_crl_chain, X509_free);
	X509_CRL_free(c->root_crl);
	X509_CRL_free(c->pck_crl);
	signed_doc_release(&c->tcb);
	signed_doc_release(&c->qe);
	for (size_t i = 0; i < c->n_modules; i++)
		free(c->modules[i].levels);
	free(c->modules);
	free(c);
}

/* Signatures. */

static bool is_p256(EVP_PKEY *k)
{
	char name[32];

	return k && EVP_PKEY_get_base_id(k) == EVP_PKEY_EC &&
		EVP_PKEY_get_group_name(k, name, sizeof(name), NULL) == 1 && strcmp(name, "prime256v1") == 0;
}

/* 1 valid, 0 invalid, -1 local failure. sig is r || s as in quotes and collateral. */
static int ecdsa_verify(EVP_PKEY *key, const void *msg, size_t len, const uint8_t sig[static 64])
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL), *ss = BN_bin2bn(sig + 32, 32, NULL);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	int dlen, ok = -1;

	if (!s || !r || !ss || !md || !ECDSA_SIG_set0(s, r, ss)) {
		BN_free(r);
		BN_free(ss);
		goto out;
	}
	if ((dlen = i2d_ECDSA_SIG(s, &der)) <= 0)
		goto out;
	if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) != 1)
		goto out;
	ok = EVP_DigestVerify(md, der, (size_t)dlen, msg, len) == 1;
out:
	ERR_clear_error();
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	ECDSA_SIG_free(s);
	return ok;
}

static EVP_PKEY *raw_p256(const uint8_t xy[static 64])
{
	uint8_t pt[65];
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *k = NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
		OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt)),
		OSSL_PARAM_END,
	};

	pt[0] = 0x04;
	memcpy(pt + 1, xy, 64);
	if (!pc || EVP_PKEY_fromdata_init(pc) != 1 || EVP_PKEY_fromdata(pc, &k, EVP_PKEY_PUBLIC_KEY, params) != 1)
		k = NULL;
	EVP_PKEY_CTX_free(pc);
	ERR_clear_error();
	return k;
}

/* Certificates. */

/* The one common name in name; NULL when it has none or several. */
static const ASN1_STRING *one_cn(const X509_NAME *name)
{
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);

	if (i < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
		return NULL;
	return X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
}

/* The common name for a message: non-printable bytes as '?'. */
static void name_cn(const X509_NAME *name, char *buf, size_t size)
{
	const ASN1_STRING *cn = one_cn(name);
	const unsigned char *d;
	size_t o = 0;

	if (!cn) {
		snprintf(buf, size, "(no common name)");
		return;
	}
	d = ASN1_STRING_get0_data(cn);
	for (int i = 0; i < ASN1_STRING_length(cn) && o + 1 < size; i++)
		buf[o++] = d[i] >= 0x20 && d[i] < 0x7f && d[i] != '\'' ? (char)d[i] : '?';
	buf[o] = '\0';
}

static void cert_cn(X509 *x, char *buf, size_t size)
{
	name_cn(X509_get_subject_name(x), buf, size);
}

/* Whether the one common name of name is want, byte for byte. */
static bool name_is(const X509_NAME *name, const char *want)
{
	const ASN1_STRING *cn = one_cn(name);

	return cn && (size_t)ASN1_STRING_length(cn) == strlen(want) &&
		memcmp(ASN1_STRING_get0_data(cn), want, strlen(want)) == 0;
}

/* Whether a and b are the same DER certificate. */
static bool same_der(X509 *a, X509 *b)
{
	unsigned char *da = NULL, *db = NULL;
	int la = i2d_X509(a, &da), lb = i2d_X509(b, &db);
	bool same = la > 0 && la == lb && memcmp(da, db, (size_t)la) == 0;

	OPENSSL_free(da);
	OPENSSL_free(db);
	return same;
}

/* What the certificates of each chain are called (the root aside), in order. */
static const char *const pck_leaf_cn[] = { "Intel SGX PCK Certificate", NULL };
static const char *const pck_ca_cn[] = { "Intel SGX PCK Processor CA", "Intel SGX PCK Platform CA", NULL };
static const char *const tcb_signer_cn[] = { "Intel SGX TCB Signing", NULL };
static const char *const *const pck_chain_cn[] = { pck_leaf_cn, pck_ca_cn };
static const char *const *const pck_crl_chain_cn[] = { pck_ca_cn };
static const char *const *const tcb_chain_cn[] = { tcb_signer_cn };

#define PCK_CHAIN "SGX quote PCK certificate chain"

/*
 * The documented shape of a chain as parsed: its last certificate the
 * pinned root, byte for byte (unless root is NULL), and certificate i
 * (from 1) with one of the common names cns[i - 1]. Nothing is verified.
 */
static int check_shape(STACK_OF(X509) *chain, X509 *root, const char *const *const *cns, const char *what,
	struct dcr_err *err)
{
	int n = sk_X509_num(chain);
	char cn[128], want[128];

	if (root && !same_der(sk_X509_value(chain, n - 1), root))
		return dcr_err_set(err, DCR_EATTEST, "%s: certificate %d is not the pinned Intel SGX Root CA", what, n);
	for (int i = 0; i < n - 1; i++) {
		X509 *x = sk_X509_value(chain, i);
		const char *const *k;
		size_t o = 0;

		for (k = cns[i]; *k && !name_is(X509_get_subject_name(x), *k); k++)
			;
		if (*k)
			continue;
		for (k = cns[i]; *k && o < sizeof(want); k++)
			o += (size_t)snprintf(want + o, sizeof(want) - o, "%s'%s'", k == cns[i] ? "" : " or ", *k);
		cert_cn(x, cn, sizeof(cn));
		return dcr_err_set(err, DCR_EATTEST, "%s: certificate %d is '%s', not %s", what, i + 1, cn, want);
	}
	return 0;
}

/* The quote's PCK chain parsed and checked for shape (root NULL: any root). *out: sk_X509_pop_free. */
static int pck_chain(const struct dcr_sgx_quote *q, X509 *root, STACK_OF(X509) **out, struct dcr_err *err)
{
	int r;

	if ((r = pem_chain((const char *)q->cert_data, q->cert_len, 3, true, PCK_CHAIN, out, err)) < 0)
		return r;
	if ((r = check_shape(*out, root, pck_chain_cn, PCK_CHAIN, err)) < 0) {
		sk_X509_pop_free(*out, X509_free);
		*out = NULL;
	}
	return r;
}

static int check_crl_time(X509_CRL *crl, const char *what, time_t now, struct dcr_err *err)
{
	char a[32], b[32];
	time_t t;

	if (dcr_pki_asn1_time(X509_CRL_get0_lastUpdate(crl), &t) < 0)
		return dcr_err_set(err, DCR_EATTEST, "%s has a malformed thisUpdate", what);
	if (now < t) {
		dcr_time_format(t, a), dcr_time_format(now, b);
		return dcr_err_set(err, DCR_EATTEST, "collateral not yet valid: %s thisUpdate %s is after %s", what, a, b);
	}
	if (dcr_pki_asn1_time(X509_CRL_get0_nextUpdate(crl), &t) < 0)
		return dcr_err_set(err, DCR_EATTEST, "%s has no nextUpdate", what);
	if (now >= t) {
		dcr_time_format(t, a), dcr_time_format(now, b);
		return dcr_err_set(err, DCR_EATTEST, "expired collateral: %s nextUpdate %s is %s %s", what, a,
			now > t ? "before" : "not after", b);
	}
	return 0;
}

static int check_doc_time(const struct signed_doc *d, const char *what, time_t now, struct dcr_err *err)
{
	char b[32];

	dcr_time_format(now, b);
	if (now < d->issue)
		return dcr_err_set(err, DCR_EATTEST, "collateral not yet valid: %s issueDate %s is after %s",
			what, d->issue_s, b);
	if (now >= d->next)
		return dcr_err_set(err, DCR_EATTEST, "expired collateral: %s nextUpdate %s is %s %s",
			what, d->next_s, now > d->next ? "before" : "not after", b);
	return 0;
}

int dcr_sgx_collateral_next_update(const struct dcr_sgx_collateral *c, time_t *out)
{
	time_t t, next = c->tcb.next < c->qe.next ? c->tcb.next : c->qe.next;

	if (dcr_pki_asn1_time(X509_CRL_get0_nextUpdate(c->pck_crl), &t) < 0)
		return DCR_EATTEST;
	next = t < next ? t : next;
	if (dcr_pki_asn1_time(X509_CRL_get0_nextUpdate(c->root_crl), &t) < 0)
		return DCR_EATTEST;
	*out = t < next ? t : next;
	return 0;
}

/*
 * Verify chain (leaf first, as sent; its last certificate the pinned root,
 * as check_shape made sure) at time now, with revocation checked for every
 * certificate against crls, and require OpenSSL to have built exactly that
 * chain: the given certificates in order, ending at the trusted root.
 */
static int verify_chain(STACK_OF(X509) *chain, X509 *root, STACK_OF(X509_CRL) *crls, time_t now,
	const char *what, struct dcr_err *err)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null(), *built;
	int n = sk_X509_num(chain), r = DCR_ENOMEM, e, ok;
	X509_VERIFY_PARAM *param;
	char cn[128];

	if (!store || !ctx || !untrusted || X509_STORE_add_cert(store, root) != 1)
		goto out;
	for (int i = 1; i < n - 1; i++)
		if (!sk_X509_push(untrusted, sk_X509_value(chain, i)))
			goto out;
	if (X509_STORE_CTX_init(ctx, store, sk_X509_value(chain, 0), untrusted) != 1)
		goto out;
	X509_STORE_CTX_set0_crls(ctx, crls);
	param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(param, now);
	X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL |
		X509_V_FLAG_X509_STRICT | X509_V_FLAG_CHECK_SS_SIGNATURE);
	ok = X509_verify_cert(ctx);
	ERR_clear_error();
	if (ok != 1) {
		e = X509_STORE_CTX_get_error(ctx);
		X509 *bad = X509_STORE_CTX_get_current_cert(ctx);

		if (bad)
			cert_cn(bad, cn, sizeof(cn));
		else
			snprintf(cn, sizeof(cn), "(unknown)");
		if (e == X509_V_ERR_CERT_REVOKED)
			r = dcr_err_set(err, DCR_EATTEST, "%s certificate%s revoked ('%s')", what,
				X509_STORE_CTX_get_error_depth(ctx) == 0 ? "" : " chain: an issuer CA", cn);
		else
			r = dcr_err_set(err, DCR_EATTEST, "%s certificate chain rejected at '%s': %s", what, cn,
				X509_verify_cert_error_string(e));
		goto out;
	}
	built = X509_STORE_CTX_get0_chain(ctx);
	ok = sk_X509_num(built) == n && sk_X509_value(built, n - 1) == root;
	for (int i = 0; ok && i < n - 1; i++)
		ok = sk_X509_value(built, i) == sk_X509_value(chain, i);
	if (!ok) {
		r = dcr_err_set(err, DCR_EATTEST, "%s certificate chain verifies only as another chain than the one given",
			what);
		goto out;
	}
	r = 0;
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_free(untrusted);
	if (r == DCR_ENOMEM)
		dcr_err_set(err, r, "out of memory");
	return r;
}

/* A signed collateral document, its chain's shape checked: the chain, the signer's key, the signature. */
static int verify_doc(const struct signed_doc *d, X509 *root, STACK_OF(X509_CRL) *crls, time_t now,
	const char *what, struct dcr_err *err)
{
	X509 *signer = sk_X509_value(d->chain, 0);
	int r;

	if ((r = verify_chain(d->chain, root, crls, now, what, err)) < 0)
		return r;
	if (!is_p256(X509_get0_pubkey(signer)))
		return dcr_err_set(err, DCR_EATTEST, "%s signing key is not ECDSA P-256", what);
	if ((r = ecdsa_verify(X509_get0_pubkey(signer), d->text, d->len, d->sig)) != 1)
		return r < 0 ? dcr_err_set(err, DCR_EFAIL, "cannot verify the %s signature", what)
			: dcr_err_set(err, DCR_EATTEST, "%s signature invalid", what);
	return 0;
}

/* The PCK certificate's SGX extension, read with a minimal strict DER walker. */

struct pck_ext {
	uint8_t comp[16];
	uint16_t pcesvn;
	uint8_t cpusvn[16];
	uint8_t pceid[2];
	uint8_t fmspc[6];
	unsigned seen;         /* bits 0..15 comps, 16 pcesvn, 17 cpusvn, 18 pceid, 19 fmspc */
};

struct der {
	const uint8_t *p;
	size_t len;
};

static int der_next(struct der *d, uint8_t *tag, struct der *content)
{
	size_t n, l = 0;

	if (d->len < 2)
		return -1;
	*tag = d->p[0];
	if ((*tag & 0x1f) == 0x1f)
		return -1;
	n = d->p[1];
	d->p += 2, d->len -= 2;
	if (n & 0x80) {
		n &= 0x7f;
		if (n == 0 || n > 3 || n > d->len)
			return -1;
		for (size_t i = 0; i < n; i++)
			l = l << 8 | d->p[i];
		d->p += n, d->len -= n;
	} else {
		l = n;
	}
	if (l > d->len)
		return -1;
	content->p = d->p, content->len = l;
	d->p += l, d->len -= l;
	return 0;
}

/* OID under the SGX extension arc: returns the sub-arcs after it (up to 2), or -1. */
static int sgx_oid(const struct der *oid, int *a, int *b)
{
	size_t n = sizeof(sgx_ext_oid);

	if (oid->len < n + 1 || oid->len > n + 2 || memcmp(oid->p, sgx_ext_oid, n) != 0)
		return -1;
	/* Single-byte arcs only: Intel's arcs are all below 128. */
	if (oid->p[n] & 0x80 || (oid->len == n + 2 && oid->p[n + 1] & 0x80))
		return -1;
	*a = oid->p[n];
	*b = oid->len == n + 2 ? oid->p[n + 1] : -1;
	return 0;
}

static int der_uint(const struct der *v, unsigned max, unsigned *out)
{
	unsigned x = 0;

	if (v->len == 0 || v->len > 3 || v->p[0] & 0x80 || (v->len > 1 && v->p[0] == 0 && !(v->p[1] & 0x80)))
		return -1;
	for (size_t i = 0; i < v->len; i++)
		x = x << 8 | v->p[i];
	if (x > max)
		return -1;
	*out = x;
	return 0;
}

static int parse_tcb_seq(struct der seq, struct pck_ext *e)
{
	struct der item, oid, val;
	uint8_t tag;
	int a, b;
	unsigned v;

	while (seq.len) {
		if (der_next(&seq, &tag, &item) < 0 || tag != 0x30)
			return -1;
		if (der_next(&item, &tag, &oid) < 0 || tag != 0x06 || sgx_oid(&oid, &a, &b) < 0 || a != 2 ||
		    der_next(&item, &tag, &val) < 0 || item.len)
			return -1;
		if (b >= 1 && b <= 16 && tag == 0x02) {
			if (der_uint(&val, 255, &v) < 0 || e->seen & 1u << (b - 1))
				return -1;
			e->comp[b - 1] = (uint8_t)v;
			e->seen |= 1u << (b - 1);
		} else if (b == 17 && tag == 0x02) {
			if (der_uint(&val, 65535, &v) < 0 || e->seen & 1u << 16)
				return -1;
			e->pcesvn = (uint16_t)v;
			e->seen |= 1u << 16;
		} else if (b == 18 && tag == 0x04 && val.len == 16 && !(e->seen & 1u << 17)) {
			memcpy(e->cpusvn, val.p, 16);
			e->seen |= 1u << 17;
		} else {
			return -1;
		}
	}
	return 0;
}

static int parse_pck_ext(X509 *leaf, struct pck_ext *e)
{
	ASN1_OBJECT *obj = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
	int idx = obj ? X509_get_ext_by_OBJ(leaf, obj, -1) : -1;
	X509_EXTENSION *ext;
	ASN1_OCTET_STRING *os;
	struct der all, seq, item, oid, val;
	uint8_t tag;
	int a, b;

	memset(e, 0, sizeof(*e));
	if (idx >= 0 && X509_get_ext_by_OBJ(leaf, obj, idx) >= 0)
		idx = -1; /* present twice */
	ASN1_OBJECT_free(obj);
	if (idx < 0 || !(ext = X509_get_ext(leaf, idx)) || !(os = X509_EXTENSION_get_data(ext)))
		return -1;
	all.p = ASN1_STRING_get0_data(os);
	all.len = (size_t)ASN1_STRING_length(os);
	if (der_next(&all, &tag, &seq) < 0 || tag != 0x30 || all.len)
		return -1;
	while (seq.len) {
		if (der_next(&seq, &tag, &item) < 0 || tag != 0x30 ||
		    der_next(&item, &tag, &oid) < 0 || tag != 0x06 || der_next(&item, &tag, &val) < 0 || item.len)
			return -1;
		if (sgx_oid(&oid, &a, &b) < 0 || b != -1)
			continue;
		if (a == 2 && tag == 0x30) {
			if (parse_tcb_seq(val, e) < 0)
				return -1;
		} else if (a == 3 && tag == 0x04 && val.len == 2 && !(e->seen & 1u << 18)) {
			memcpy(e->pceid, val.p, 2);
			e->seen |= 1u << 18;
		} else if (a == 4 && tag == 0x04 && val.len == 6 && !(e->seen & 1u << 19)) {
			memcpy(e->fmspc, val.p, 6);
			e->seen |= 1u << 19;
		} else if (a == 2 || a == 3 || a == 4) {
			return -1;
		}
	}
	return e->seen == 0xfffffu ? 0 : -1;
}

int dcr_sgx_quote_pck_info(const uint8_t *quote, size_t len, uint8_t fmspc[static 6], char ca[static 16],
	struct dcr_err *err)
{
	struct dcr_sgx_quote q;
	int r;

	if ((r = dcr_sgx_quote_parse(quote, len, &q, err)) < 0)
		return r;
	return dcr_dcap_pck_info(&q, fmspc, ca, err);
}

int dcr_dcap_pck_info(const struct dcr_sgx_quote *q, uint8_t fmspc[static 6], char ca[static 16], struct dcr_err *err)
{
	STACK_OF(X509) *chain;
	const char *which;
	struct pck_ext e;
	X509_NAME *issuer;
	char cn[128];
	int r;

	if ((r = pck_chain(q, NULL, &chain, err)) < 0)
		return r;
	issuer = X509_get_issuer_name(sk_X509_value(chain, 0));
	which = name_is(issuer, pck_ca_cn[0]) ? "processor" : name_is(issuer, pck_ca_cn[1]) ? "platform" : NULL;
	if (!which) {
		name_cn(issuer, cn, sizeof(cn));
		r = dcr_err_set(err, DCR_EATTEST,
			"PCK certificate issuer '%s' is neither 'Intel SGX PCK Processor CA' nor '... Platform CA'", cn);
	} else if (parse_pck_ext(sk_X509_value(chain, 0), &e) < 0) {
		r = dcr_err_set(err, DCR_EATTEST, "PCK certificate SGX extension is missing or malformed");
	} else {
		memcpy(fmspc, e.fmspc, 6);
		snprintf(ca, 16, "%s", which);
	}
	ERR_clear_error();
	sk_X509_pop_free(chain, X509_free);
	return r;
}

/* Intel's QVL: an out-of-date quoting enclave makes an otherwise current platform out of date. */
static const char *converge(const char *platform, const char *qe)
{
	if (strcmp(qe, "Revoked") == 0)
		return "Revoked";
	if (strcmp(qe, "OutOfDate") == 0) {
		if (strcmp(platform, "UpToDate") == 0 || strcmp(platform, "SWHardeningNeeded") == 0)
			return "OutOfDate";
		if (strcmp(platform, "ConfigurationNeeded") == 0 ||
		    strcmp(platform, "ConfigurationAndSWHardeningNeeded") == 0)
			return "OutOfDateConfigurationNeeded";
	}
	return platform;
}

static int add_advisories(struct dcr_dcap_outcome *res, json_t *adv, struct dcr_err *err)
{
	size_t i, j;
	json_t *a;

	json_array_foreach(adv, i, a) {
		const char *s = json_string_value(a);

		for (j = 0; j < res->n_advisory_ids && strcmp(res->advisory_ids[j], s) != 0; j++)
			;
		if (j < res->n_advisory_ids)
			continue;
		if (res->n_advisory_ids == DCR_SGX_ADVISORY_MAX)
			return dcr_err_set(err, DCR_EATTEST, "more than %d advisory IDs", DCR_SGX_ADVISORY_MAX);
		snprintf(res->advisory_ids[res->n_advisory_ids++], DCR_SGX_ADVISORY_LEN, "%s", s);
	}
	return 0;
}

static int check_qe(const struct dcr_sgx_quote *q, const struct dcr_sgx_collateral *c, const struct level **out,
	struct dcr_err *err)
{
	const struct dcr_sgx_report *qr = &q->qe_report;

	if (memcmp(qr->mrsigner, c->qe_mrsigner, 32) != 0)
		return dcr_err_set(err, DCR_EATTEST, "quoting enclave MRSIGNER does not match the QE identity");
	if (qr->isv_prod_id != c->qe_isvprodid)
		return dcr_err_set(err, DCR_EATTEST, "quoting enclave ISVPRODID %u is not the QE identity's %u",
			qr->isv_prod_id, c->qe_isvprodid);
	if ((qr->miscselect & c->miscselect_mask) != (c->miscselect & c->miscselect_mask))
		return dcr_err_set(err, DCR_EATTEST, "quoting enclave MISCSELECT does not match the QE identity");
	for (int i = 0; i < 16; i++)
		if ((qr->attributes[i] & c->attributes_mask[i]) != (c->attributes[i] & c->attributes_mask[i]))
			return dcr_err_set(err, DCR_EATTEST, "quoting enclave ATTRIBUTES do not match the QE identity");
	for (size_t i = 0; i < c->qe.n_levels; i++) {
		if (c->qe.levels[i].isvsvn <= qr->isv_svn) {
			*out = &c->qe.levels[i];
			return 0;
		}
	}
	return dcr_err_set(err, DCR_EATTEST, "quoting enclave ISVSVN %u is below every QE identity TCB level",
		qr->isv_svn);
}

/*
 * The first TCB level the platform reaches: its SGX components and PCESVN
 * (from the PCK certificate) and, for TDX, its TEE_TCB_SVN; bytes 0 and 1
 * of that (the TDX module's SVN and major version) only for modules of
 * major version 0, the others having their own identities.
 */
static const struct level *match_tcb(const struct dcr_sgx_collateral *c, const struct pck_ext *e,
	const struct dcr_dcap_tee *tee)
{
	for (size_t i = 0; i < c->tcb.n_levels; i++) {
		const struct level *l = &c->tcb.levels[i];
		int j;

		for (j = 0; j < 16 && l->comp[j] <= e->comp[j]; j++)
			;
		if (j < 16 || l->pcesvn > e->pcesvn)
			continue;
		if (!tee)
			return l;
		for (j = tee->tee_tcb_svn[1] > 0 ? 2 : 0; j < 16 && l->tdxcomp[j] <= tee->tee_tcb_svn[j]; j++)
			;
		if (j == 16)
			return l;
	}
	return NULL;
}

/*
 * The TDX module that signed the TD report is Intel's: MRSIGNERSEAM and
 * SEAMATTRIBUTES (under its mask) those of tdxModule for major version 0,
 * else of the identity "TDX_<major>", whose first level at or below the
 * module's SVN gives the module's TCB level (*out; NULL for version 0).
 */
static int check_module(const struct dcr_sgx_collateral *c, const struct dcr_dcap_tee *tee, const struct level **out,
	struct dcr_err *err)
{
	const uint8_t *mrsigner = c->module_mrsigner, *attr = c->module_attributes, *mask = c->module_attributes_mask;
	const struct module_identity *mi = NULL;
	uint8_t svn = tee->tee_tcb_svn[0], major = tee->tee_tcb_svn[1];
	char id[8];

	*out = NULL;
	if (major > 0) {
		snprintf(id, sizeof(id), "TDX_%02X", major);
		for (size_t i = 0; i < c->n_modules && !mi; i++)
			if (strcmp(c->modules[i].id, id) == 0)
				mi = &c->modules[i];
		if (!mi)
			return dcr_err_set(err, DCR_EATTEST, "TDX module major version %u has no identity (%s) in the TCB info",
				major, id);
		mrsigner = mi->mrsigner, attr = mi->attributes, mask = mi->attributes_mask;
	}
	if (memcmp(tee->mrsignerseam, mrsigner, 48) != 0)
		return dcr_err_set(err, DCR_EATTEST, "MRSIGNERSEAM is not the TDX module signer of the TCB info");
	for (int i = 0; i < 8; i++)
		if ((tee->seam_attributes[i] & mask[i]) != (attr[i] & mask[i]))
			return dcr_err_set(err, DCR_EATTEST, "SEAMATTRIBUTES do not match the TDX module of the TCB info");
	if (!mi)
		return 0;
	for (size_t i = 0; i < mi->n_levels; i++) {
		if (mi->levels[i].isvsvn <= svn) {
			*out = &mi->levels[i];
			return 0;
		}
	}
	return dcr_err_set(err, DCR_EATTEST, "TDX module SVN %u is below every level of identity %s (unsupported)", svn,
		mi->id);
}

/* The PCK chain from the quote, its shape checked, verified against both CRLs. */
static int verify_pck(STACK_OF(X509) *chain, X509 *root, STACK_OF(X509_CRL) *crls, time_t now, struct dcr_err *err)
{
	int r;

	if ((r = verify_chain(chain, root, crls, now, "PCK", err)) < 0)
		return r;
	if (!is_p256(X509_get0_pubkey(sk_X509_value(chain, 0))))
		return dcr_err_set(err, DCR_EATTEST, "PCK certificate key is not ECDSA P-256");
	return 0;
}

/*
 * What can be checked before any signature: the quote's PCK chain and the
 * collateral's issuer chains have their documented shapes under the pinned
 * root, and each CRL names the issuer it must have.
 */
static int check_shapes(const struct dcr_sgx_collateral *c, X509 *root, STACK_OF(X509) *pck, struct dcr_err *err)
{
	X509 *ca = sk_X509_value(c->pck_crl_chain, 0);
	int r;

	if ((r = check_shape(c->pck_crl_chain, root, pck_crl_chain_cn, "collateral: pck_crl_issuer_chain", err)) < 0 ||
	    (r = check_shape(c->tcb.chain, root, tcb_chain_cn, "collateral: tcb_info_issuer_chain", err)) < 0 ||
	    (r = check_shape(c->qe.chain, root, tcb_chain_cn, "collateral: qe_identity_issuer_chain", err)) < 0)
		return r;
	if (X509_NAME_cmp(X509_CRL_get_issuer(c->root_crl), X509_get_subject_name(root)) != 0)
		return dcr_err_set(err, DCR_EATTEST, "root CA CRL is not issued by the pinned root CA");
	/* The PCK CRL must come from the very CA that issued this PCK certificate. */
	if (!same_der(sk_X509_value(pck, 1), ca) ||
	    X509_NAME_cmp(X509_CRL_get_issuer(c->pck_crl), X509_get_subject_name(ca)) != 0)
		return dcr_err_set(err, DCR_EATTEST, "PCK CRL is not issued by the PCK certificate's issuer CA");
	return 0;
}

static X509 *parse_root(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x;

	if (!der || len == 0 || len > 65536)
		return NULL;
	x = d2i_X509(NULL, &p, (long)len);
	if (x && (p != der + len || !x509_is_der(x, der, len))) {
		X509_free(x);
		x = NULL;
	}
	ERR_clear_error();
	return x;
}

static int verify(const struct dcr_sgx_quote *q, const struct dcr_sgx_collateral *c, X509 *root,
	STACK_OF(X509_CRL) *crls, time_t now, const struct dcr_dcap_tee *tee, struct dcr_dcap_outcome *res,
	struct dcr_err *err)
{
	const char *what = tee ? "TDX quote" : "SGX quote";
	STACK_OF(X509) *pck = NULL;
	const struct level *tl, *ql = NULL, *ml = NULL;
	const char *status, *date;
	EVP_PKEY *ak = NULL;
	struct pck_ext e;
	uint8_t h[32], zero[32] = { 0 };
	struct dcr_sha256 *sh = NULL;
	int r;

	if ((c->kind == DCR_DCAP_TDX) != (tee != NULL))
		return dcr_err_set(err, DCR_EATTEST, "the collateral is for %s, not for this %s",
			c->kind == DCR_DCAP_TDX ? "TDX" : "SGX", what);
	if (memcmp(q->qe_vendor_id, intel_qe_vendor, 16) != 0)
		return dcr_err_set(err, DCR_EATTEST, "%s QE vendor ID is not Intel's", what);
	if ((r = pck_chain(q, root, &pck, err)) < 0 || (r = check_shapes(c, root, pck, err)) < 0)
		goto out;
	/* Dates first, so stale collateral is reported as such and not as a chain failure. */
	if ((r = check_doc_time(&c->tcb, "tcbInfo", now, err)) < 0 ||
	    (r = check_doc_time(&c->qe, "enclaveIdentity", now, err)) < 0 ||
	    (r = check_crl_time(c->root_crl, "root CA CRL", now, err)) < 0 ||
	    (r = check_crl_time(c->pck_crl, "PCK CRL", now, err)) < 0)
		goto out;
	if (X509_CRL_verify(c->root_crl, X509_get0_pubkey(root)) != 1) {
		ERR_clear_error();
		r = dcr_err_set(err, DCR_EATTEST, "root CA CRL is not signed by the pinned root CA");
		goto out;
	}
	if ((r = verify_chain(c->pck_crl_chain, root, crls, now, "PCK CRL issuer", err)) < 0)
		goto out;
	if (X509_CRL_verify(c->pck_crl, X509_get0_pubkey(sk_X509_value(c->pck_crl_chain, 0))) != 1) {
		ERR_clear_error();
		r = dcr_err_set(err, DCR_EATTEST, "PCK CRL signature invalid");
		goto out;
	}
	if ((r = verify_doc(&c->tcb, root, crls, now, "tcbInfo", err)) < 0 ||
	    (r = verify_doc(&c->qe, root, crls, now, "enclaveIdentity", err)) < 0 ||
	    (r = verify_pck(pck, root, crls, now, err)) < 0)
		goto out;
	if (parse_pck_ext(sk_X509_value(pck, 0), &e) < 0) {
		r = dcr_err_set(err, DCR_EATTEST, "PCK certificate SGX extension is missing or malformed");
		goto out;
	}
	if (memcmp(e.fmspc, c->fmspc, 6) != 0 || memcmp(e.pceid, c->pceid, 2) != 0) {
		char a[13], b[13];

		dcr_hex(e.fmspc, 6, a), dcr_hex(c->fmspc, 6, b);
		r = dcr_err_set(err, DCR_EATTEST, "PCK certificate FMSPC %s / PCEID %02x%02x does not match the TCB info's %s / %02x%02x",
			a, e.pceid[0], e.pceid[1], b, c->pceid[0], c->pceid[1]);
		goto out;
	}
	if ((r = ecdsa_verify(X509_get0_pubkey(sk_X509_value(pck, 0)), q->qe_report_raw, DCR_SGX_REPORT_LEN,
	    q->qe_report_sig)) != 1) {
		r = r < 0 ? dcr_err_set(err, DCR_EFAIL, "cannot verify the QE report signature")
			: dcr_err_set(err, DCR_EATTEST, "QE report signature invalid");
		goto out;
	}
	/* The QE vouches for the attestation key by hashing it into its own REPORTDATA. */
	if (!(sh = dcr_sha256_new())) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = dcr_sha256_update(sh, q->attest_key, 64, err)) < 0 ||
	    (r = dcr_sha256_update(sh, q->qe_auth, q->qe_auth_len, err)) < 0 ||
	    (r = dcr_sha256_final(sh, h, err)) < 0)
		goto out;
	if (memcmp(h, q->qe_report.report_data, 32) != 0 || memcmp(zero, q->qe_report.report_data + 32, 32) != 0) {
		r = dcr_err_set(err, DCR_EATTEST, "QE report data does not bind the attestation key");
		goto out;
	}
	if (!(ak = raw_p256(q->attest_key))) {
		r = dcr_err_set(err, DCR_EATTEST, "%s attestation key is not a P-256 point", what);
		goto out;
	}
	if ((r = ecdsa_verify(ak, q->signed_data, q->signed_len, q->signature)) != 1) {
		r = r < 0 ? dcr_err_set(err, DCR_EFAIL, "cannot verify the quote signature")
			: dcr_err_set(err, DCR_EATTEST, "quote signature invalid");
		goto out;
	}
	if ((r = check_qe(q, c, &ql, err)) < 0 || (tee && (r = check_module(c, tee, &ml, err)) < 0))
		goto out;
	/* Last, once every signature holds: the verdict on a genuine quote from an unsupported platform. */
	if (!(tl = match_tcb(c, &e, tee))) {
		r = dcr_err_set(err, DCR_EATTEST, "platform TCB is below every TCB level in the TCB info (unsupported)");
		goto out;
	}

	memcpy(res->fmspc, e.fmspc, 6);
	memcpy(res->pceid, e.pceid, 2);
	memcpy(res->cpusvn, e.cpusvn, 16);
	res->pcesvn = e.pcesvn;
	status = tl->status;
	snprintf(res->platform_tcb_status, sizeof(res->platform_tcb_status), "%s", tl->status);
	if (ml) {
		snprintf(res->module_tcb_status, sizeof(res->module_tcb_status), "%s", ml->status);
		status = converge(status, ml->status);
	}
	snprintf(res->qe_tcb_status, sizeof(res->qe_tcb_status), "%s", ql->status);
	snprintf(res->tcb_status, sizeof(res->tcb_status), "%s", converge(status, ql->status));
	/* The date of the oldest level it converged (platform, module, QE), as Intel's QVL reports it. */
	date = tl->date;
	if (ml && strcmp(ml->date, date) < 0)
		date = ml->date;
	if (strcmp(ql->date, date) < 0)
		date = ql->date;
	snprintf(res->tcb_date, sizeof(res->tcb_date), "%s", date);
	if ((r = add_advisories(res, tl->advisories, err)) < 0 ||
	    (ml && (r = add_advisories(res, ml->advisories, err)) < 0) ||
	    (r = add_advisories(res, ql->advisories, err)) < 0)
		goto out;
	r = 0;
out:
	dcr_sha256_free(sh);
	EVP_PKEY_free(ak);
	sk_X509_pop_free(pck, X509_free);
	return r;
}

int dcr_dcap_verify(const struct dcr_sgx_quote *q, const struct dcr_sgx_collateral *c, const uint8_t *root_der,
	size_t root_len, time_t now, const struct dcr_dcap_tee *tee, struct dcr_dcap_outcome *out, struct dcr_err *err)
{
	STACK_OF(X509_CRL) *crls = NULL;
	X509 *root;
	int r;

	memset(out, 0, sizeof(*out));
	if (!(root = parse_root(root_der, root_len)))
		return dcr_err_set(err, DCR_EATTEST, "the pinned Intel SGX Root CA is not a DER certificate");
	if (!(crls = sk_X509_CRL_new_null()) || !sk_X509_CRL_push(crls, c->root_crl) ||
	    !sk_X509_CRL_push(crls, c->pck_crl))
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
	else
		r = verify(q, c, root, crls, now, tee, out, err);
	sk_X509_CRL_free(crls);
	X509_free(root);
	return r;
}

int dcr_sgx_verify(const uint8_t *quote, size_t quote_len, const struct dcr_sgx_collateral *c,
	const uint8_t *root_der, size_t root_len, time_t now, struct dcr_sgx_result *out,
	struct dcr_err *err)
{
	struct dcr_dcap_outcome o;
	struct dcr_sgx_result res;
	struct dcr_sgx_quote q;
	int r;

	if ((r = dcr_sgx_quote_parse(quote, quote_len, &q, err)) < 0 ||
	    (r = dcr_dcap_verify(&q, c, root_der, root_len, now, NULL, &o, err)) < 0)
		return r;
	if (!out)
		return 0;
	memset(&res, 0, sizeof(res));
	memcpy(res.mrenclave, q.report.mrenclave, 32);
	memcpy(res.mrsigner, q.report.mrsigner, 32);
	res.isv_prod_id = q.report.isv_prod_id;
	res.isv_svn = q.report.isv_svn;
	res.miscselect = q.report.miscselect;
	memcpy(res.attributes, q.report.attributes, 16);
	res.debug = q.report.attributes[0] & DCR_SGX_FLAG_DEBUG;
	memcpy(res.cpusvn, q.report.cpusvn, 16);
	memcpy(res.report_data, q.report.report_data, 64);
	memcpy(res.fmspc, o.fmspc, 6);
	memcpy(res.pceid, o.pceid, 2);
	memcpy(res.tcb_status, o.tcb_status, sizeof(res.tcb_status));
	memcpy(res.platform_tcb_status, o.platform_tcb_status, sizeof(res.platform_tcb_status));
	memcpy(res.qe_tcb_status, o.qe_tcb_status, sizeof(res.qe_tcb_status));
	memcpy(res.tcb_date, o.tcb_date, sizeof(res.tcb_date));
	res.n_advisory_ids = o.n_advisory_ids;
	memcpy(res.advisory_ids, o.advisory_ids, sizeof(res.advisory_ids));
	*out = res;
	return 0;
}

int dcr_sgx_check_policy(const struct dcr_sgx_result *r, const struct dcr_spec *spec, struct dcr_err *err)
{
	char hex[65];

	if (spec->format != DCR_SPEC_SGX_DCAP)
		return dcr_err_set(err, DCR_EATTEST, "spec '%s' is not for sgx-dcap evidence", spec->name);
	if (!spec->has_measurement && !spec->has_signer)
		return dcr_err_set(err, DCR_EATTEST, "spec '%s' pins neither MRENCLAVE nor MRSIGNER", spec->name);
	if (spec->has_measurement && !dcr_ct_equal(r->mrenclave, spec->measurement, 32)) {
		dcr_hex(r->mrenclave, 32, hex);
		return dcr_err_set(err, DCR_EATTEST, "MRENCLAVE %s is not the one spec '%s' pins", hex, spec->name);
	}
	if (spec->has_signer) {
		if (!dcr_ct_equal(r->mrsigner, spec->mrsigner, 32)) {
			dcr_hex(r->mrsigner, 32, hex);
			return dcr_err_set(err, DCR_EATTEST, "MRSIGNER %s is not the one spec '%s' pins", hex, spec->name);
		}
		if (r->isv_prod_id != spec->isv_prod_id)
			return dcr_err_set(err, DCR_EATTEST, "ISVPRODID %u is not spec '%s''s %u",
				r->isv_prod_id, spec->name, (unsigned)spec->isv_prod_id);
		if (r->isv_svn < spec->min_isv_svn)
			return dcr_err_set(err, DCR_EATTEST, "ISVSVN %u is below spec '%s''s minimum %u",
				r->isv_svn, spec->name, (unsigned)spec->min_isv_svn);
	}
	if (r->debug && !spec->debug_allowed)
		return dcr_err_set(err, DCR_EATTEST, "enclave runs in debug mode, which spec '%s' does not allow",
			spec->name);
	return dcr_dcap_check_tcb_status(r->tcb_status, spec, err);
}

int dcr_dcap_check_tcb_status(const char *status, const struct dcr_spec *spec, struct dcr_err *err)
{
	if (strcmp(status, "Revoked") == 0)
		return dcr_err_set(err, DCR_EATTEST, "TCB status is Revoked");
	for (size_t i = 0; i < spec->n_tcb_statuses; i++)
		if (strcmp(spec->tcb_statuses[i], status) == 0)
			return 0;
	return dcr_err_set(err, DCR_EATTEST, "TCB status %s is not accepted by spec '%s'", status, spec->name);
}

int dcr_sgx_check_report_data(const struct dcr_sgx_result *r,
	const uint8_t expected[static DCR_SGX_REPORT_DATA_LEN], struct dcr_err *err)
{
	if (!dcr_ct_equal(r->report_data, expected, DCR_SGX_REPORT_DATA_LEN))
		return dcr_err_set(err, DCR_EATTEST, "REPORTDATA does not bind the expected enclave keys");
	return 0;
}
