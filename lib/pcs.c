/* SGX DCAP collateral from a PCCS or Intel's PCS (API v4), assembled into dcr's collateral JSON. */
#include "pcs.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "sgx.h"
#include "tdx.h"
#include "transport.h"

#include "banned.h"

#define MAX_DEPTH 64
#define SIG_HEX_LEN 128
#define URL_MAX 2048

/*
 * A strict scanner for one JSON object. The TCB info and QE identity
 * signatures are over the exact text of a member's value, so we need where
 * that text lies, which a JSON library that parses into values cannot say.
 */

struct scan {
	const uint8_t *p;
	size_t len, pos;
	unsigned depth;
	const char *why;       /* the first error */
};

static bool fail_at(struct scan *s, const char *why)
{
	s->why = why;
	return false;
}

static bool is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_space(struct scan *s)
{
	while (s->pos < s->len && is_space(s->p[s->pos]))
		s->pos++;
}

static bool eat(struct scan *s, uint8_t c)
{
	if (s->pos < s->len && s->p[s->pos] == c) {
		s->pos++;
		return true;
	}
	return false;
}

static size_t eat_digits(struct scan *s)
{
	size_t n = 0;

	for (; s->pos < s->len && s->p[s->pos] >= '0' && s->p[s->pos] <= '9'; s->pos++)
		n++;
	return n;
}

static bool scan_string(struct scan *s)
{
	uint8_t c;

	if (!eat(s, '"'))
		return fail_at(s, "expected a string");
	while (s->pos < s->len) {
		c = s->p[s->pos];
		if (c == '"') {
			s->pos++;
			return true;
		}
		if (c < 0x20)
			return fail_at(s, "control character in a string");
		s->pos++;
		if (c != '\\')
			continue;
		if (s->pos == s->len)
			break;
		c = s->p[s->pos];
		if (c == 'u') {
			for (int i = 0; i < 4; i++)
				if (s->pos + 1 + (size_t)i >= s->len || dcr_hex_digit(s->p[s->pos + 1 + (size_t)i]) < 0)
					return fail_at(s, "malformed \\u escape");
			s->pos += 5;
		} else if (memchr("\"\\/bfnrt", c, 8)) {
			s->pos++;
		} else {
			return fail_at(s, "unknown escape in a string");
		}
	}
	return fail_at(s, "unterminated string");
}

static bool scan_number(struct scan *s)
{
	eat(s, '-');
	if (!eat(s, '0') && eat_digits(s) == 0)
		return fail_at(s, "malformed number");
	if (eat(s, '.') && eat_digits(s) == 0)
		return fail_at(s, "malformed number");
	if (eat(s, 'e') || eat(s, 'E')) {
		if (!eat(s, '+'))
			eat(s, '-');
		if (eat_digits(s) == 0)
			return fail_at(s, "malformed number");
	}
	return true;
}

static bool scan_literal(struct scan *s, const char *word)
{
	size_t n = strlen(word);

	if (s->len - s->pos < n || memcmp(s->p + s->pos, word, n) != 0)
		return fail_at(s, "unexpected character");
	s->pos += n;
	return true;
}

static bool scan_value(struct scan *s);

static bool scan_container(struct scan *s, uint8_t close)
{
	bool object = close == '}';

	if (++s->depth > MAX_DEPTH)
		return fail_at(s, "nested too deeply");
	s->pos++;
	skip_space(s);
	if (!eat(s, close)) {
		for (;;) {
			if (object) {
				if (!scan_string(s))
					return false;
				skip_space(s);
				if (!eat(s, ':'))
					return fail_at(s, "expected ':'");
				skip_space(s);
			}
			if (!scan_value(s))
				return false;
			skip_space(s);
			if (eat(s, close))
				break;
			if (!eat(s, ','))
				return fail_at(s, object ? "expected ',' or '}'" : "expected ',' or ']'");
			skip_space(s);
		}
	}
	s->depth--;
	return true;
}

static bool scan_value(struct scan *s)
{
	uint8_t c;

	if (s->pos == s->len)
		return fail_at(s, "unexpected end");
	c = s->p[s->pos];
	switch (c) {
	case '{':
		return scan_container(s, '}');
	case '[':
		return scan_container(s, ']');
	case '"':
		return scan_string(s);
	case 't':
		return scan_literal(s, "true");
	case 'f':
		return scan_literal(s, "false");
	case 'n':
		return scan_literal(s, "null");
	default:
		if (c == '-' || (c >= '0' && c <= '9'))
			return scan_number(s);
		return fail_at(s, "unexpected character");
	}
}

/* A member name for a message: at most 40 bytes, printable ASCII only. */
static void printable(const uint8_t *p, size_t len, char out[static 44])
{
	size_t n = len > 40 ? 40 : len, i;

	for (i = 0; i < n; i++)
		out[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	snprintf(out + i, 4, "%s", len > n ? "..." : "");
}

static int malformed(const struct scan *s, struct dcr_err *err)
{
	return dcr_err_set(err, DCR_EATTEST, "malformed JSON at byte %zu: %s", s->pos, s->why);
}

int dcr_pcs_json_members(const uint8_t *body, size_t len, struct dcr_pcs_member *m, size_t n,
	struct dcr_err *err)
{
	struct scan s = { .p = body, .len = len, .depth = 1 };
	size_t key, key_len, i;
	char name[44];

	for (i = 0; i < n; i++)
		m[i].off = m[i].len = 0;
	if (len > DCR_SGX_COLLATERAL_MAX)
		return dcr_err_set(err, DCR_EATTEST, "%zu bytes, more than %d", len, DCR_SGX_COLLATERAL_MAX);
	skip_space(&s);
	if (!eat(&s, '{'))
		return dcr_err_set(err, DCR_EATTEST, "not a JSON object");
	skip_space(&s);
	if (!eat(&s, '}')) {
		for (;;) {
			key = s.pos + 1;
			if (!scan_string(&s))
				return malformed(&s, err);
			key_len = s.pos - 1 - key;
			skip_space(&s);
			if (!eat(&s, ':')) {
				fail_at(&s, "expected ':'");
				return malformed(&s, err);
			}
			skip_space(&s);
			/* Names are compared as written: an escaped spelling of a known name is not that name. */
			for (i = 0; i < n && (strlen(m[i].name) != key_len || memcmp(m[i].name, body + key, key_len) != 0); i++)
				;
			if (i == n) {
				printable(body + key, key_len, name);
				return dcr_err_set(err, DCR_EATTEST, "unexpected member \"%s\" at byte %zu", name, key - 1);
			}
			/* Every value is at least one byte long, so len 0 means not seen yet. */
			if (m[i].len)
				return dcr_err_set(err, DCR_EATTEST, "duplicate member \"%s\" at byte %zu", m[i].name, key - 1);
			m[i].off = s.pos;
			if (!scan_value(&s))
				return malformed(&s, err);
			m[i].len = s.pos - m[i].off;
			skip_space(&s);
			if (eat(&s, '}'))
				break;
			if (!eat(&s, ',')) {
				fail_at(&s, "expected ',' or '}'");
				return malformed(&s, err);
			}
			skip_space(&s);
		}
	}
	skip_space(&s);
	if (s.pos != len)
		return dcr_err_set(err, DCR_EATTEST, "trailing bytes after the JSON object at byte %zu", s.pos);
	for (i = 0; i < n; i++)
		if (!m[i].len)
			return dcr_err_set(err, DCR_EATTEST, "no \"%s\" member", m[i].name);
	return 0;
}

/* The answers. */

static const char *source(const struct dcr_pcs_response *r)
{
	return r->url ? r->url : "the PCCS";
}

__attribute__((format(printf, 4, 5)))
static int bad(struct dcr_err *err, const char *what, const struct dcr_pcs_response *r, const char *fmt, ...)
{
	char msg[DCR_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return dcr_err_set(err, DCR_EATTEST, "%s from %s: %s", what, source(r), msg);
}

static int check_body(const struct dcr_pcs_response *r, const char *what, struct dcr_err *err)
{
	if (!r->body || r->body_len == 0)
		return bad(err, what, r, "the answer is empty");
	if (r->body_len > DCR_SGX_COLLATERAL_MAX)
		return bad(err, what, r, "the answer is %zu bytes, more than %d", r->body_len, DCR_SGX_COLLATERAL_MAX);
	return 0;
}

/* One PEM block labelled X509 CRL and nothing after it; text is trimmed of whitespace. */
static int pem_crl(const uint8_t *text, size_t len, uint8_t **der, size_t *der_len)
{
	BIO *bio = BIO_new_mem_buf(text, (int)len);
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long n = 0;
	int r = -1;

	if (bio && PEM_read_bio(bio, &name, &header, &data, &n) == 1 && strcmp(name, "X509 CRL") == 0 &&
	    header[0] == '\0' && BIO_pending(bio) == 0 && n > 0 && (*der = malloc((size_t)n))) {
		memcpy(*der, data, (size_t)n);
		*der_len = (size_t)n;
		r = 0;
	}
	ERR_clear_error();
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	BIO_free(bio);
	return r;
}

/* PCS and PCCS versions serve CRLs as DER, PEM or hex text: normalise to hex of DER. */
static int crl_hex(const struct dcr_pcs_response *r, const char *what, char **out, struct dcr_err *err)
{
	static const char begin[] = "-----BEGIN X509 CRL-----";
	const uint8_t *b = r->body, *der = b;
	size_t start = 0, end = r->body_len, der_len = r->body_len;
	uint8_t *buf = NULL;
	const unsigned char *p;
	X509_CRL *crl;
	bool ok;
	int ret;

	if ((ret = check_body(r, what, err)) < 0)
		return ret;
	/* A DER CRL starts with a SEQUENCE tag, 0x30, which no hex or PEM text starts with. */
	if (b[0] != 0x30) {
		while (start < end && is_space(b[start]))
			start++;
		while (end > start && is_space(b[end - 1]))
			end--;
		if (end - start >= sizeof(begin) - 1 && memcmp(b + start, begin, sizeof(begin) - 1) == 0) {
			if (pem_crl(b + start, end - start, &buf, &der_len) < 0)
				return bad(err, what, r, "not a single PEM X509 CRL");
		} else {
			for (size_t i = start; i < end; i++)
				if (dcr_hex_digit(b[i]) < 0)
					return bad(err, what, r, "neither DER, PEM nor hex: byte %zu is not a hex digit", i);
			if (end == start || (end - start) % 2)
				return bad(err, what, r, "neither DER, PEM nor an even number of hex digits");
			der_len = (end - start) / 2;
			if (!(buf = malloc(der_len)))
				return dcr_err_set(err, DCR_ENOMEM, "out of memory");
			for (size_t i = 0; i < der_len; i++)
				buf[i] = (uint8_t)(dcr_hex_digit(b[start + 2 * i]) << 4 | dcr_hex_digit(b[start + 2 * i + 1]));
		}
		der = buf;
	}
	p = der;
	crl = der_len <= DCR_SGX_COLLATERAL_MAX ? d2i_X509_CRL(NULL, &p, (long)der_len) : NULL;
	ok = crl && p == der + der_len;
	/* DER exactly, as the collateral's verifier wants it: d2i takes BER, whose lengths nothing signs. */
	if (ok) {
		unsigned char *enc = NULL;
		int n = i2d_X509_CRL(crl, &enc);

		ok = n > 0 && enc && (size_t)n == der_len && memcmp(enc, der, der_len) == 0;
		OPENSSL_free(enc);
	}
	X509_CRL_free(crl);
	ERR_clear_error();
	if (!ok) {
		free(buf);
		return bad(err, what, r, "not a DER CRL");
	}
	if (!(*out = malloc(2 * der_len + 1))) {
		free(buf);
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	}
	dcr_hex(der, der_len, *out);
	free(buf);
	return 0;
}

/*
 * Issuer chains come percent-encoded in a header (PEM has newlines). Decode
 * strictly: '%' must be followed by two hex digits, '+' is a plus sign, and
 * nothing may decode to a byte PEM cannot hold.
 */
static int chain_pem(const struct dcr_pcs_response *r, const char *what, const char *header, char **out,
	struct dcr_err *err)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----";
	const char *h = r->issuer_chain;
	size_t n, o = 0;
	char *pem;

	if (!h || !*h)
		return bad(err, what, r, "no %s header", header);
	if ((n = strlen(h)) > DCR_SGX_COLLATERAL_MAX)
		return bad(err, what, r, "the %s header is %zu bytes, more than %d", header, n, DCR_SGX_COLLATERAL_MAX);
	if (!(pem = malloc(n + 1)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	for (size_t i = 0, at = 0; i < n; i++) {
		int c = (unsigned char)h[i];

		at = i;
		if (c == '%') {
			int hi = i + 2 < n ? dcr_hex_digit((uint8_t)h[i + 1]) : -1;
			int lo = i + 2 < n ? dcr_hex_digit((uint8_t)h[i + 2]) : -1;

			if (hi < 0 || lo < 0) {
				free(pem);
				return bad(err, what, r, "the %s header has a malformed percent escape at byte %zu", header, i);
			}
			c = hi << 4 | lo;
			i += 2;
		}
		if ((c < 0x20 && c != '\n' && c != '\r') || c >= 0x7f) {
			free(pem);
			return bad(err, what, r, "the %s header holds byte 0x%02x, which PEM cannot (at byte %zu)",
				header, (unsigned)c, at);
		}
		pem[o++] = (char)c;
	}
	pem[o] = '\0';
	if (o < sizeof(begin) - 1 || memcmp(pem, begin, sizeof(begin) - 1) != 0) {
		free(pem);
		return bad(err, what, r, "the %s header is not a percent-encoded PEM certificate chain", header);
	}
	*out = pem;
	return 0;
}

struct signed_text {
	const char *text;      /* points into the answer's body */
	size_t len;
	char sig[SIG_HEX_LEN + 1];
};

/* {"<member>":{...},"signature":"<r || s in hex>"}, nothing else. */
static int signed_body(const struct dcr_pcs_response *r, const char *what, const char *member,
	struct signed_text *out, struct dcr_err *err)
{
	struct dcr_pcs_member m[2] = { { .name = member }, { .name = "signature" } };
	const char *body = (const char *)r->body, *sig;
	json_t *root = NULL, *inner = NULL;
	json_error_t jerr;
	uint8_t raw[SIG_HEX_LEN / 2];
	int ret;

	if ((ret = check_body(r, what, err)) < 0)
		return ret;
	if ((ret = dcr_pcs_json_members(r->body, r->body_len, m, 2, err)) < 0) {
		dcr_err_prefix(err, "%s from %s", what, source(r));
		return ret;
	}
	/* The scanner does not check UTF-8, escapes' meaning or nested duplicates: jansson does. */
	if (!(root = json_loadb(body, r->body_len, JSON_REJECT_DUPLICATES, &jerr))) {
		if (json_error_code(&jerr) == json_error_out_of_memory)
			return dcr_err_set(err, DCR_ENOMEM, "out of memory");
		return bad(err, what, r, "not valid JSON (byte %d: %s)", jerr.position, jerr.text);
	}
	if (body[m[0].off] != '{')
		ret = bad(err, what, r, "\"%s\" is not a JSON object", member);
	else if (!(inner = json_loadb(body + m[0].off, m[0].len, JSON_REJECT_DUPLICATES, &jerr)) ||
		 !json_equal(inner, json_object_get(root, member)))
		ret = bad(err, what, r, "cannot delimit the text of \"%s\"", member);
	else if (!(sig = json_string_value(json_object_get(root, "signature"))) ||
		 json_string_length(json_object_get(root, "signature")) != SIG_HEX_LEN || dcr_unhex(sig, raw, sizeof(raw)) < 0)
		ret = bad(err, what, r, "\"signature\" is not %d hex digits", SIG_HEX_LEN);
	if (ret == 0) {
		dcr_hex(raw, sizeof(raw), out->sig);
		out->text = body + m[0].off;
		out->len = m[0].len;
	}
	json_decref(inner);
	json_decref(root);
	return ret;
}

int dcr_pcs_assemble(const struct dcr_pcs_responses *in, uint8_t **json, size_t *json_len,
	struct dcr_err *err)
{
	char *pck_crl = NULL, *root_crl = NULL, *pck_chain = NULL, *tcb_chain = NULL, *qe_chain = NULL, *text = NULL;
	struct dcr_sgx_collateral *c = NULL;
	struct signed_text tcb, qe;
	json_t *root = NULL;
	int r;

	*json = NULL;
	*json_len = 0;
	if ((r = crl_hex(&in->pck_crl, "PCK CRL", &pck_crl, err)) < 0 ||
	    (r = chain_pem(&in->pck_crl, "PCK CRL", "SGX-PCK-CRL-Issuer-Chain", &pck_chain, err)) < 0 ||
	    (r = signed_body(&in->tcb_info, "TCB info", "tcbInfo", &tcb, err)) < 0 ||
	    (r = chain_pem(&in->tcb_info, "TCB info", "TCB-Info-Issuer-Chain", &tcb_chain, err)) < 0 ||
	    (r = signed_body(&in->qe_identity, "QE identity", "enclaveIdentity", &qe, err)) < 0 ||
	    (r = chain_pem(&in->qe_identity, "QE identity", "SGX-Enclave-Identity-Issuer-Chain", &qe_chain, err)) < 0 ||
	    (r = crl_hex(&in->root_ca_crl, "root CA CRL", &root_crl, err)) < 0)
		goto out;
	/* The keys of docs/sgx-verification.md; json_object_set_new takes NULL values as failures. */
	if (!(root = json_object()) ||
	    json_object_set_new(root, "pck_crl_issuer_chain", json_string(pck_chain)) < 0 ||
	    json_object_set_new(root, "root_ca_crl", json_string(root_crl)) < 0 ||
	    json_object_set_new(root, "pck_crl", json_string(pck_crl)) < 0 ||
	    json_object_set_new(root, "tcb_info_issuer_chain", json_string(tcb_chain)) < 0 ||
	    json_object_set_new(root, "tcb_info", json_stringn(tcb.text, tcb.len)) < 0 ||
	    json_object_set_new(root, "tcb_info_signature", json_string(tcb.sig)) < 0 ||
	    json_object_set_new(root, "qe_identity_issuer_chain", json_string(qe_chain)) < 0 ||
	    json_object_set_new(root, "qe_identity", json_stringn(qe.text, qe.len)) < 0 ||
	    json_object_set_new(root, "qe_identity_signature", json_string(qe.sig)) < 0 ||
	    !(text = json_dumps(root, JSON_COMPACT))) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = (in->tdx ? dcr_tdx_collateral_parse : dcr_sgx_collateral_parse)((const uint8_t *)text, strlen(text), &c,
	    err)) < 0) {
		dcr_err_prefix(err, "the collateral service's answers");
		goto out;
	}
	*json_len = strlen(text);
	*json = (uint8_t *)text;
	text = NULL;
out:
	dcr_sgx_collateral_free(c);
	json_decref(root);
	free(text);
	free(pck_crl);
	free(root_crl);
	free(pck_chain);
	free(tcb_chain);
	free(qe_chain);
	return r;
}

/* Fetching. */

static int fetch(bool tdx, const char *base_url, const char *root_crl_url, const char *ca_file, const uint8_t *quote,
	size_t quote_len, long timeout_s, uint8_t **json, size_t *json_len, struct dcr_err *err)
{
	const char *tee = tdx ? "tdx" : "sgx";
	struct dcr_http_header pck_h[] = { { .name = "SGX-PCK-CRL-Issuer-Chain" } };
	struct dcr_http_header tcb_h[] = { { .name = "TCB-Info-Issuer-Chain" }, { .name = "SGX-TCB-Info-Issuer-Chain" } };
	struct dcr_http_header qe_h[] = { { .name = "SGX-Enclave-Identity-Issuer-Chain" } };
	struct dcr_pcs_responses in;
	char url[4][URL_MAX], ca[16];
	uint8_t *body[4] = { NULL }, fmspc[6];
	size_t len[4] = { 0 }, base_len;
	const char *tcb_chain;
	int r;

	*json = NULL;
	*json_len = 0;
	if ((r = tdx ? dcr_tdx_quote_pck_info(quote, quote_len, fmspc, ca, err)
		     : dcr_sgx_quote_pck_info(quote, quote_len, fmspc, ca, err)) < 0)
		return r;
	for (base_len = strlen(base_url); base_len > 0 && base_url[base_len - 1] == '/'; base_len--)
		;
	if (base_len > URL_MAX / 2 || strlen(root_crl_url) >= URL_MAX)
		return dcr_err_set(err, DCR_EUSAGE, "collateral service URL too long");
	snprintf(url[0], URL_MAX, "%.*s/sgx/certification/v4/pckcrl?ca=%s&encoding=der", (int)base_len, base_url, ca);
	/* Intel writes FMSPCs in upper case; a PCCS may look them up as written. */
	/* The PCK CRL is the same for both; TDX has its own TCB info and (TD_)QE identity. */
	snprintf(url[1], URL_MAX, "%.*s/%s/certification/v4/tcb?fmspc=%02X%02X%02X%02X%02X%02X", (int)base_len,
		base_url, tee, fmspc[0], fmspc[1], fmspc[2], fmspc[3], fmspc[4], fmspc[5]);
	snprintf(url[2], URL_MAX, "%.*s/%s/certification/v4/qe/identity", (int)base_len, base_url, tee);
	snprintf(url[3], URL_MAX, "%s", root_crl_url);
	if ((r = dcr_http_get(url[0], ca_file, timeout_s, DCR_SGX_COLLATERAL_MAX, pck_h, 1, &body[0], &len[0], err)) < 0 ||
	    (r = dcr_http_get(url[1], ca_file, timeout_s, DCR_SGX_COLLATERAL_MAX, tcb_h, 2, &body[1], &len[1], err)) < 0 ||
	    (r = dcr_http_get(url[2], ca_file, timeout_s, DCR_SGX_COLLATERAL_MAX, qe_h, 1, &body[2], &len[2], err)) < 0 ||
	    (r = dcr_http_get(url[3], strncmp(root_crl_url, base_url, base_len) == 0 ? ca_file : NULL, timeout_s, DCR_SGX_COLLATERAL_MAX, NULL, 0, &body[3], &len[3], err)) < 0)
		goto out;
	/* API v4 names the TCB info chain header without "SGX-", v3 with it. */
	tcb_chain = tcb_h[0].value ? tcb_h[0].value : tcb_h[1].value;
	if (tcb_h[0].value && tcb_h[1].value && strcmp(tcb_h[0].value, tcb_h[1].value) != 0) {
		r = dcr_err_set(err, DCR_EATTEST, "TCB info from %s: the TCB-Info-Issuer-Chain and "
			"SGX-TCB-Info-Issuer-Chain headers differ", url[1]);
		goto out;
	}
	in = (struct dcr_pcs_responses){
		.pck_crl = { body[0], len[0], pck_h[0].value, url[0] },
		.tcb_info = { body[1], len[1], tcb_chain, url[1] },
		.qe_identity = { body[2], len[2], qe_h[0].value, url[2] },
		.root_ca_crl = { body[3], len[3], NULL, url[3] },
		.tdx = tdx,
	};
	r = dcr_pcs_assemble(&in, json, json_len, err);
out:
	for (int i = 0; i < 4; i++)
		free(body[i]);
	free(pck_h[0].value);
	free(tcb_h[0].value);
	free(tcb_h[1].value);
	free(qe_h[0].value);
	return r;
}

int dcr_pcs_fetch(const char *base_url, const char *root_crl_url, const char *ca_file, const uint8_t *quote,
	size_t quote_len, long timeout_s, uint8_t **json, size_t *json_len, struct dcr_err *err)
{
	return fetch(false, base_url, root_crl_url, ca_file, quote, quote_len, timeout_s, json, json_len, err);
}

int dcr_pcs_fetch_tdx(const char *base_url, const char *root_crl_url, const char *ca_file, const uint8_t *quote,
	size_t quote_len, long timeout_s, uint8_t **json, size_t *json_len, struct dcr_err *err)
{
	return fetch(true, base_url, root_crl_url, ca_file, quote, quote_len, timeout_s, json, json_len, err);
}
