/* lib/sgx.c against every one-byte change of a quote and its signed collateral, and against other chain shapes. */
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
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "testutil.h"

#include "sgx-synth.h"
#include "sgx.h"

/* 2025-07-01T00:00:00Z: inside the real sample's window. */
#define REAL_INSIDE ((time_t)1751328000)

/* The synthetic sample's window is 2025-01-01 to 2025-02-01; it is verified on 2025-01-15. */
#define T_ISSUE ((time_t)1735689600)
#define T_NEXT ((time_t)1738368000)
#define T_NOW ((time_t)1736899200)

#define OFF_SIGLEN 432
#define OFF_SIG 436

static const char *const keys[] = {
	"pck_crl_issuer_chain", "root_ca_crl", "pck_crl", "tcb_info_issuer_chain", "tcb_info",
	"tcb_info_signature", "qe_identity_issuer_chain", "qe_identity", "qe_identity_signature",
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

/*
 * Under AddressSanitizer a verification is several times slower: the
 * sweeps there take every 7th byte (all of them in other builds), 7 being
 * prime to the 65 bytes of a PEM line, so that every column is reached.
 */
#if defined(__SANITIZE_ADDRESS__)
#define SWEEP_STRIDE 7
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SWEEP_STRIDE 7
#endif
#endif
#ifndef SWEEP_STRIDE
#define SWEEP_STRIDE 1
#endif

/* A quote, its collateral and the root it must chain to: the real sample, or a synthetic one. */
struct sample {
	const char *name;
	uint8_t *quote;
	size_t quote_len, cert_off;
	json_t *col;
	uint8_t *root;
	size_t root_len;
	char *impostor;         /* PEM: a self-made root with the pinned root's name and extensions */
	time_t at;
};

static struct sgx_synth_keys K;

static int setup(void **state)
{
	sgx_synth_keys_init(&K);
	return 0;
}

static int teardown(void **state)
{
	sgx_synth_keys_release(&K);
	return 0;
}

static void *xmemdup(const void *p, size_t n)
{
	void *c = malloc(n ? n : 1);

	assert_non_null(c);
	memcpy(c, p, n);
	return c;
}

static void sample_finish(struct sample *s)
{
	struct dcr_sgx_quote q;
	struct dcr_err err;

	assert_non_null(s->col);
	if (dcr_sgx_quote_parse(s->quote, s->quote_len, &q, &err) < 0)
		fail_msg("%s", err.msg);
	s->cert_off = (size_t)(q.cert_data - s->quote);
	s->impostor = sgx_synth_impostor_pem(s->root, s->root_len);
}

static bool sample_real(struct sample *s)
{
	struct sgx_sample r;

	memset(s, 0, sizeof(*s));
	if (!sgx_sample_load(&r))
		return false;
	s->name = "real";
	s->quote = r.quote, s->quote_len = r.quote_len;
	s->root = r.root, s->root_len = r.root_len;
	s->col = json_loadb((const char *)r.collateral, r.collateral_len, JSON_REJECT_DUPLICATES, NULL);
	free(r.collateral);
	s->at = REAL_INSIDE;
	sample_finish(s);
	return true;
}

static void sample_synthetic(struct sample *s)
{
	struct sgx_synth_opts o;
	struct sgx_synth f;

	memset(s, 0, sizeof(*s));
	sgx_synth_opts_default(&o, T_ISSUE, T_NEXT);
	sgx_synth_build(&K, &o, &f);
	s->name = "synthetic";
	s->quote = xmemdup(f.quote, f.quote_len), s->quote_len = f.quote_len;
	s->root = xmemdup(f.root, f.root_len), s->root_len = f.root_len;
	s->col = json_loads(f.collateral, JSON_REJECT_DUPLICATES, NULL);
	s->at = T_NOW;
	sgx_synth_release(&f);
	sample_finish(s);
}

static void sample_free(struct sample *s)
{
	free(s->quote);
	free(s->root);
	free(s->impostor);
	json_decref(s->col);
}

#define SKIP_WITHOUT_REAL(s) do { \
	if (!sample_real(s)) { \
		print_message("SHARED_DIR/testdata/evidence/sgx-dcap is absent: skipping\n"); \
		skip(); \
	} \
} while (0)

static int verify_parsed(const struct sample *s, const uint8_t *quote, size_t len,
	const struct dcr_sgx_collateral *c, struct dcr_err *err)
{
	return dcr_sgx_verify(quote, len, c, s->root, s->root_len, s->at, NULL, err);
}

/* Collateral as text, parsed, then the quote verified against it. */
static int verify_text(const struct sample *s, const uint8_t *quote, size_t len, const char *col, size_t col_len,
	struct dcr_err *err)
{
	struct dcr_sgx_collateral *c = NULL;
	int r;

	if ((r = dcr_sgx_collateral_parse((const uint8_t *)col, col_len, &c, err)) < 0) {
		assert_null(c);
		return r;
	}
	r = verify_parsed(s, quote, len, c, err);
	dcr_sgx_collateral_free(c);
	return r;
}

static int verify_json(const struct sample *s, const uint8_t *quote, size_t len, json_t *col, struct dcr_err *err)
{
	char *text = json_dumps(col, JSON_COMPACT);
	int r;

	assert_non_null(text);
	r = verify_text(s, quote, len, text, strlen(text), err);
	free(text);
	return r;
}

/*
 * Refusals counted by reason, with numbers replaced by '#' and quoted
 * names by '*' so that one reason is one line however many offsets it
 * refused; and what was accepted or refused without a reason, listed.
 */
#define TALLY_MAX 160
#define REASON_LEN 140

struct tally {
	size_t cases, bad, n;
	struct {
		char reason[REASON_LEN];
		size_t count;
	} r[TALLY_MAX];
};

static void tally_add(struct tally *t, const char *msg)
{
	char key[REASON_LEN];
	size_t o = 0, i;

	for (const char *p = msg; *p && o + 1 < sizeof(key); p++) {
		if (*p == '\'' && strchr(p + 1, '\'')) {
			key[o++] = '*';
			p = strchr(p + 1, '\'');
		} else if (*p >= '0' && *p <= '9') {
			if (o == 0 || key[o - 1] != '#')
				key[o++] = '#';
		} else {
			key[o++] = *p;
		}
	}
	key[o] = '\0';
	for (i = 0; i < t->n && strcmp(t->r[i].reason, key) != 0; i++)
		;
	if (i == t->n) {
		if (t->n == TALLY_MAX)
			i = t->n - 1, snprintf(key, sizeof(key), "(other reasons)");
		else
			t->n++;
		snprintf(t->r[i].reason, sizeof(t->r[i].reason), "%s", key);
	}
	t->r[i].count++;
}

/* Record the outcome of one changed input: it must be refused as evidence, with a reason. */
static void outcome(struct tally *t, int r, const struct dcr_err *err, const char *what, size_t off, uint8_t from,
	uint8_t to)
{
	t->cases++;
	if (r == DCR_EATTEST && err->msg[0]) {
		tally_add(t, err->msg);
		return;
	}
	if (t->bad++ < 20)
		print_message("  %s byte %zu changed from 0x%02x to 0x%02x: %s (%d) '%s'\n", what, off, from, to,
			r == 0 ? "ACCEPTED" : "refused", r, r == 0 ? "" : err->msg);
}

static void tally_end(const struct tally *t, const char *what)
{
	if (SWEEP_STRIDE == 1)
		print_message("%s: %zu changes, %zu refused with a reason (every byte)\n", what, t->cases, t->cases - t->bad);
	else
		print_message("%s: %zu changes, %zu refused with a reason (every %dth byte)\n", what, t->cases,
			t->cases - t->bad, SWEEP_STRIDE);
	for (size_t i = 0; i < t->n; i++)
		print_message("  %6zu  %s\n", t->r[i].count, t->r[i].reason);
	if (t->bad)
		fail_msg("%s: %zu of %zu changes were not refused with a reason", what, t->bad, t->cases);
	assert_true(t->cases > 0);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* What a region of the input is, which decides how its bytes are changed. */
enum kind { BINARY, PEM, HEX, JSON };

/*
 * What byte c is changed to: always its lowest bit flipped, and a change a
 * lax reader might let through. In PEM, the lowest of the six bits a base64
 * character stands for (the bits '=' padding hides), a line feed made a
 * carriage return, a NUL a line feed, '=' an 'A'. In hex, a letter's case.
 * In a signed JSON text the signature covers every byte: one change will do.
 */
static size_t changes(uint8_t c, enum kind k, uint8_t out[static 2])
{
	const char *at = c ? strchr(b64, c) : NULL;
	size_t n = 0;

	out[n++] = c ^ 0x01;
	if (k == PEM && at)
		out[n++] = (uint8_t)b64[(at - b64) ^ 1];
	else if (k == PEM && c == '\n')
		out[n++] = '\r';
	else if (k == PEM && c == '\0')
		out[n++] = '\n';
	else if (k == PEM && c == '=')
		out[n++] = 'A';
	else if (k == HEX && ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'))
		out[n++] = c ^ 0x20;
	return n == 2 && out[1] == out[0] ? 1 : n;
}

static void sweep_quote(const struct sample *s)
{
	struct dcr_sgx_collateral *c;
	struct tally *t = calloc(1, sizeof(*t));
	uint8_t *q = xmemdup(s->quote, s->quote_len), to[2];
	struct dcr_err err;
	char *text, what[64];

	assert_non_null(t);
	assert_non_null(text = json_dumps(s->col, JSON_COMPACT));
	if (dcr_sgx_collateral_parse((const uint8_t *)text, strlen(text), &c, &err) < 0)
		fail_msg("%s", err.msg);
	if (verify_parsed(s, q, s->quote_len, c, &err) < 0)
		fail_msg("%s: %s", s->name, err.msg);
	for (size_t i = 0; i < s->quote_len; i += SWEEP_STRIDE) {
		size_t n = changes(s->quote[i], i >= s->cert_off ? PEM : BINARY, to);

		for (size_t j = 0; j < n; j++) {
			q[i] = to[j];
			err.msg[0] = '\0';
			outcome(t, verify_parsed(s, q, s->quote_len, c, &err), &err, "quote", i, s->quote[i], to[j]);
		}
		q[i] = s->quote[i];
	}
	snprintf(what, sizeof(what), "%s quote (%zu bytes)", s->name, s->quote_len);
	tally_end(t, what);
	dcr_sgx_collateral_free(c);
	free(text);
	free(q);
	free(t);
}

/* Every byte of one value of the collateral, changed in the value itself (the JSON around it re-encodes it). */
static void sweep_value(const struct sample *s, const char *key, enum kind kind, struct tally *t)
{
	json_t *col = json_deep_copy(s->col);
	const char *orig = json_string_value(json_object_get(s->col, key));
	size_t len = json_string_length(json_object_get(s->col, key));
	char *v;
	uint8_t to[2];
	struct dcr_err err;

	assert_non_null(col);
	assert_non_null(orig);
	v = xmemdup(orig, len);
	for (size_t i = 0; i < len; i += SWEEP_STRIDE) {
		size_t n = changes((uint8_t)orig[i], kind, to);

		for (size_t j = 0; j < n; j++) {
			v[i] = (char)to[j];
			assert_int_equal(json_object_set_new(col, key, json_stringn(v, len)), 0);
			err.msg[0] = '\0';
			outcome(t, verify_json(s, s->quote, s->quote_len, col, &err), &err, key, i, (uint8_t)orig[i], to[j]);
		}
		v[i] = orig[i];
	}
	free(v);
	json_decref(col);
}

static void sweep_collateral(const struct sample *s)
{
	struct tally *t = calloc(1, sizeof(*t));
	char what[96];

	assert_non_null(t);
	for (size_t k = 0; k < N_KEYS; k++) {
		memset(t, 0, sizeof(*t));
		sweep_value(s, keys[k], strstr(keys[k], "chain") ? PEM : strstr(keys[k], "crl") ||
			strstr(keys[k], "signature") ? HEX : JSON, t);
		snprintf(what, sizeof(what), "%s collateral: %s (%zu bytes)", s->name, keys[k],
			json_string_length(json_object_get(s->col, keys[k])));
		tally_end(t, what);
	}
	free(t);
}

/* The real sample when it is there; else the synthetic one, so that the sweep still runs. */
static void sample_any(struct sample *s)
{
	if (!sample_real(s)) {
		print_message("SHARED_DIR/testdata/evidence/sgx-dcap is absent: sweeping the synthetic sample\n");
		sample_synthetic(s);
	}
}

static void test_sweep_quote(void **state)
{
	struct sample s;

	sample_any(&s);
	sweep_quote(&s);
	sample_free(&s);
}

static void test_sweep_collateral(void **state)
{
	struct sample s;

	sample_any(&s);
	sweep_collateral(&s);
	sample_free(&s);
}

/* Structural variants. */

/* The PEM blocks of a chain: where each starts and how long it is, its final line feed included. */
struct blocks {
	size_t n;
	const char *p[8];
	size_t len[8];
};

static void split_blocks(const char *text, size_t len, struct blocks *b)
{
	static const char end[] = "-----END CERTIFICATE-----\n";
	const char *p = text, *e;

	b->n = 0;
	while ((size_t)(p - text) < len && strncmp(p, "-----BEGIN", 10) == 0) {
		assert_true(b->n < 8);
		assert_non_null(e = strstr(p, end));
		b->p[b->n] = p;
		b->len[b->n++] = (size_t)(e + sizeof(end) - 1 - p);
		p = e + sizeof(end) - 1;
	}
	assert_true(b->n > 0);
}

/* A chain text from a recipe: digits pick blocks of b ('0' the first), 'I' the impostor root, other bytes as they are. */
static char *compose(const struct blocks *b, const char *impostor, const char *recipe, size_t recipe_len, size_t *out_len)
{
	size_t n = 0, cap = 16384;
	char *out = malloc(cap);

	assert_non_null(out);
	for (size_t i = 0; i < recipe_len; i++) {
		const char *p = &recipe[i];
		size_t len = 1;

		if (recipe[i] >= '0' && recipe[i] <= '9') {
			assert_true((size_t)(recipe[i] - '0') < b->n);
			p = b->p[recipe[i] - '0'], len = b->len[recipe[i] - '0'];
		} else if (recipe[i] == 'I') {
			p = impostor, len = strlen(impostor);
		}
		assert_true(n + len <= cap);
		memcpy(out + n, p, len);
		n += len;
	}
	*out_len = n;
	return out;
}

static void le32put(uint8_t *p, size_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The sample's quote with other certification data, its two length fields made to match. */
static uint8_t *quote_with(const struct sample *s, const char *cert, size_t cert_len, size_t *len)
{
	uint8_t *q;

	*len = s->cert_off + cert_len;
	assert_non_null(q = malloc(*len));
	memcpy(q, s->quote, s->cert_off);
	memcpy(q + s->cert_off, cert, cert_len);
	le32put(q + s->cert_off - 4, cert_len);
	le32put(q + OFF_SIGLEN, *len - OFF_SIG);
	return q;
}

struct variant {
	const char *recipe;     /* see compose */
	size_t recipe_len;      /* 0: strlen */
	const char *want;       /* a part of the refusal; NULL: accepted */
};

#define V(r, w) { r, sizeof(r) - 1, w }

static void expect(int r, const struct dcr_err *err, const char *what, const char *recipe, const char *want)
{
	if (!want) {
		if (r != 0)
			fail_msg("%s '%s': refused: %s", what, recipe, err->msg);
		return;
	}
	if (r != DCR_EATTEST || !strstr(err->msg, want))
		fail_msg("%s '%s': wanted a refusal with \"%s\", got %d \"%s\"", what, recipe, want, r, r ? err->msg : "");
}

/* The quote's PCK chain: blocks 0 (PCK leaf), 1 (PCK CA), 2 (root); the real quote ends with a NUL. */
static void quote_chains(const struct sample *s)
{
	static const struct variant cases[] = {
		V("012", NULL),
		V("012\0", NULL),
		V("01", "SGX quote PCK certificate chain holds 2 certificates, not 3"),
		V("01\0", "SGX quote PCK certificate chain holds 2 certificates, not 3"),
		V("0122", "SGX quote PCK certificate chain holds 4 certificates, not 3"),
		V("0121\0", "SGX quote PCK certificate chain holds 4 certificates, not 3"),
		V("2012", "SGX quote PCK certificate chain holds 4 certificates, not 3"),
		V("0", "SGX quote PCK certificate chain holds 1 certificate, not 3"),
		V("102", "certificate 1 is 'Intel SGX PCK Processor CA', not 'Intel SGX PCK Certificate'"),
		V("021", "certificate 3 is not the pinned Intel SGX Root CA"),
		V("002", "certificate 2 is 'Intel SGX PCK Certificate', not 'Intel SGX PCK Processor CA' or"),
		V("011", "certificate 3 is not the pinned Intel SGX Root CA"),
		V("01I", "certificate 3 is not the pinned Intel SGX Root CA"),
		V("01I\0", "certificate 3 is not the pinned Intel SGX Root CA"),
		V("012\0\0", "unexpected bytes after certificate 3, at byte"),
		V("012\n", "unexpected bytes after certificate 3, at byte"),
		V("012 ", "unexpected bytes after certificate 3, at byte"),
		V("012\0\n", "unexpected bytes after certificate 3, at byte"),
		V("\n012", "certificate 1 does not start with a '-----BEGIN CERTIFICATE-----' line (byte 0)"),
		V("0\n12", "unexpected bytes after certificate 1, at byte"),
		V("01\0" "2", "unexpected bytes after certificate 2, at byte"),
	};
	struct dcr_sgx_collateral *c;
	struct dcr_err err;
	struct blocks b;
	struct dcr_sgx_quote q;
	char *text, *cert;
	size_t cert_len, len;
	uint8_t *quote;

	assert_int_equal(dcr_sgx_quote_parse(s->quote, s->quote_len, &q, &err), 0);
	split_blocks((const char *)q.cert_data, q.cert_len, &b);
	assert_int_equal(b.n, 3);
	assert_non_null(text = json_dumps(s->col, JSON_COMPACT));
	assert_int_equal(dcr_sgx_collateral_parse((const uint8_t *)text, strlen(text), &c, &err), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cert = compose(&b, s->impostor, cases[i].recipe, cases[i].recipe_len, &cert_len);
		quote = quote_with(s, cert, cert_len, &len);
		err.msg[0] = '\0';
		expect(verify_parsed(s, quote, len, c, &err), &err, s->name, cases[i].recipe, cases[i].want);
		free(quote);
		free(cert);
	}
	dcr_sgx_collateral_free(c);
	free(text);
}

/* Edits of the PEM text of the quote's chain that keep its certificates but not its form. */
static void quote_pem_form(const struct sample *s)
{
	static const struct {
		const char *from, *to, *want;
	} cases[] = {
		{ "-----BEGIN CERTIFICATE-----\n", "-----BEGIN TRUSTED CERTIFICATE-----\n", "does not start with a '-----BEGIN" },
		{ "-----BEGIN CERTIFICATE-----\n", "-----BEGIN X509 CERTIFICATE-----\n", "does not start with a '-----BEGIN" },
		{ "-----BEGIN CERTIFICATE-----\n", "-----BEGIN CERTIFICATE-----\r\n", "does not start with a '-----BEGIN" },
		{ "-----BEGIN CERTIFICATE-----\n", "-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n\n", "line 1" },
		{ "-----END CERTIFICATE-----\n", "-----END CERTIFICATE-----\r\n", "is not '-----END CERTIFICATE-----'" },
		{ "-----END CERTIFICATE-----\n", "-----END CERTIFICATES-----\n", "is not '-----END CERTIFICATE-----'" },
		{ "-----END CERTIFICATE-----\n", "-----END CERTIFICATE----\n", "is not '-----END CERTIFICATE-----'" },
		{ "-----END CERTIFICATE-----\n", "-----END X509 CRL-----\n", "is not '-----END CERTIFICATE-----'" },
		{ "-----END CERTIFICATE-----\n", "-----END CERTIFICATE-----\n\n", "unexpected bytes after certificate 1" },
		{ "\n-----END CERTIFICATE-----\n", "\n\n-----END CERTIFICATE-----\n", "is empty" },
		{ "\n-----END CERTIFICATE-----\n", "\n \n-----END CERTIFICATE-----\n", "outside the base64 alphabet" },
		{ "\n-----END CERTIFICATE-----\n", "-----END CERTIFICATE-----\n", "line " },
		{ "\n", "\r\n", "outside the base64 alphabet" },
	};
	struct dcr_sgx_collateral *c;
	struct dcr_sgx_quote q;
	struct dcr_err err;
	char *text, *cert, *at;
	size_t len, cert_len;
	uint8_t *quote;

	assert_int_equal(dcr_sgx_quote_parse(s->quote, s->quote_len, &q, &err), 0);
	assert_non_null(text = json_dumps(s->col, JSON_COMPACT));
	assert_int_equal(dcr_sgx_collateral_parse((const uint8_t *)text, strlen(text), &c, &err), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t nf = strlen(cases[i].from), nt = strlen(cases[i].to), off;

		/* The first occurrence after the BEGIN line, so that "\n" is in the base64. */
		at = strstr((const char *)q.cert_data + (cases[i].from[0] == '-' ? 0 : 28), cases[i].from);
		assert_non_null(at);
		off = (size_t)(at - (const char *)q.cert_data);
		assert_non_null(cert = malloc(q.cert_len + nt));
		memcpy(cert, q.cert_data, off);
		memcpy(cert + off, cases[i].to, nt);
		memcpy(cert + off + nt, q.cert_data + off + nf, q.cert_len - off - nf);
		cert_len = q.cert_len - nf + nt;
		quote = quote_with(s, cert, cert_len, &len);
		err.msg[0] = '\0';
		expect(verify_parsed(s, quote, len, c, &err), &err, s->name, cases[i].to, cases[i].want);
		free(quote);
		free(cert);
	}

	/* The same certificates in lines of 76 characters, or 48: not the form Intel writes. */
	for (size_t width = 48; width <= 76; width += 28) {
		const char *p = (const char *)q.cert_data + 28, *e = strstr(p, "\n-----END");
		size_t n = 0, col = 0;

		assert_non_null(cert = malloc(2 * q.cert_len));
		memcpy(cert, q.cert_data, 28);
		n = 28;
		for (; p < e; p++) {
			if (*p == '\n')
				continue;
			cert[n++] = *p;
			if (++col == width)
				cert[n++] = '\n', col = 0;
		}
		if (col)
			cert[n++] = '\n';
		e++;
		memcpy(cert + n, e, q.cert_len - (size_t)(e - (const char *)q.cert_data));
		n += q.cert_len - (size_t)(e - (const char *)q.cert_data);
		quote = quote_with(s, cert, n, &len);
		err.msg[0] = '\0';
		expect(verify_parsed(s, quote, len, c, &err), &err, s->name, width == 48 ? "48 columns" : "76 columns",
			width == 48 ? "only the last line may be shorter than 64" : "more than 64 characters");
		free(quote);
		free(cert);
	}
	dcr_sgx_collateral_free(c);
	free(text);
}

/* An issuer chain of the collateral: blocks 0 (its signer or CA) and 1 (root). */
static void collateral_chains(const struct sample *s)
{
	static const struct {
		const char *key;
		struct variant v;
	} cases[] = {
		{ "pck_crl_issuer_chain", V("01", NULL) },
		{ "pck_crl_issuer_chain", V("0", "collateral: pck_crl_issuer_chain holds 1 certificate, not 2") },
		{ "pck_crl_issuer_chain", V("011", "collateral: pck_crl_issuer_chain holds 3 certificates, not 2") },
		{ "pck_crl_issuer_chain", V("001", "collateral: pck_crl_issuer_chain holds 3 certificates, not 2") },
		{ "pck_crl_issuer_chain", V("10", "pck_crl_issuer_chain: certificate 2 is not the pinned Intel SGX Root CA") },
		{ "pck_crl_issuer_chain", V("00", "pck_crl_issuer_chain: certificate 2 is not the pinned Intel SGX Root CA") },
		{ "pck_crl_issuer_chain", V("11", "pck_crl_issuer_chain: certificate 1 is 'Intel SGX Root CA', not 'Intel SGX PCK") },
		{ "pck_crl_issuer_chain", V("0I", "pck_crl_issuer_chain: certificate 2 is not the pinned Intel SGX Root CA") },
		{ "pck_crl_issuer_chain", V("01\n", "collateral: pck_crl_issuer_chain: unexpected bytes after certificate 2") },
		{ "tcb_info_issuer_chain", V("0I", "tcb_info_issuer_chain: certificate 2 is not the pinned Intel SGX Root CA") },
		{ "tcb_info_issuer_chain", V("10", "tcb_info_issuer_chain: certificate 2 is not the pinned Intel SGX Root CA") },
		{ "tcb_info_issuer_chain", V("011", "collateral: tcb_info_issuer_chain holds 3 certificates, not 2") },
		{ "tcb_info_issuer_chain", V("1", "collateral: tcb_info_issuer_chain holds 1 certificate, not 2") },
		{ "qe_identity_issuer_chain", V("0I", "qe_identity_issuer_chain: certificate 2 is not the pinned Intel SGX Root CA") },
		{ "qe_identity_issuer_chain", V("1", "collateral: qe_identity_issuer_chain holds 1 certificate, not 2") },
		{ "qe_identity_issuer_chain", V("01 ", "collateral: qe_identity_issuer_chain: unexpected bytes after certificate 2") },
	};
	struct dcr_err err;
	struct blocks b;
	size_t len;
	char *v;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *col = json_deep_copy(s->col);
		const char *orig = json_string_value(json_object_get(col, cases[i].key));

		assert_non_null(orig);
		split_blocks(orig, strlen(orig), &b);
		assert_int_equal(b.n, 2);
		v = compose(&b, s->impostor, cases[i].v.recipe, cases[i].v.recipe_len, &len);
		assert_int_equal(json_object_set_new(col, cases[i].key, json_stringn(v, len)), 0);
		err.msg[0] = '\0';
		expect(verify_json(s, s->quote, s->quote_len, col, &err), &err, cases[i].key, cases[i].v.recipe, cases[i].v.want);
		free(v);
		json_decref(col);
	}

	/* The last line feed missing; the END line missing. */
	for (int cut = 1; cut <= 26; cut += 25) {
		json_t *col = json_deep_copy(s->col);
		const char *orig = json_string_value(json_object_get(col, "tcb_info_issuer_chain"));

		assert_int_equal(json_object_set_new(col, "tcb_info_issuer_chain", json_stringn(orig, strlen(orig) - cut)),
			0);
		err.msg[0] = '\0';
		expect(verify_json(s, s->quote, s->quote_len, col, &err), &err, "tcb_info_issuer_chain", "cut",
			cut == 1 ? ") does not end with a line feed" :
			"collateral: tcb_info_issuer_chain: certificate 2 has no '-----END CERTIFICATE-----' line");
		json_decref(col);
	}

	/* The PCK CA as the collateral's signer; the TCB Signing certificate as the PCK CRL's issuer. */
	for (int swap = 0; swap < 2; swap++) {
		json_t *col = json_deep_copy(s->col);
		const char *from = swap ? "tcb_info_issuer_chain" : "pck_crl_issuer_chain";
		const char *to = swap ? "pck_crl_issuer_chain" : "tcb_info_issuer_chain";

		assert_int_equal(json_object_set(col, to, json_object_get(col, from)), 0);
		err.msg[0] = '\0';
		expect(verify_json(s, s->quote, s->quote_len, col, &err), &err, to, from,
			swap ? "collateral: pck_crl_issuer_chain: certificate 1 is 'Intel SGX TCB Signing', not 'Intel SGX PCK"
			     : "collateral: tcb_info_issuer_chain: certificate 1 is 'Intel SGX PCK Processor CA', not 'Intel SGX TCB Signing'");
		json_decref(col);
	}
}

/* Other values of the collateral's keys: CRLs swapped, hex in upper case, texts swapped. */
static void collateral_values(const struct sample *s)
{
	static const struct {
		const char *key, *from, *want;
		bool upper;
	} cases[] = {
		{ "root_ca_crl", "pck_crl", "root CA CRL is not issued by the pinned root CA", false },
		{ "pck_crl", "root_ca_crl", "PCK CRL is not issued by", false },
		{ "root_ca_crl", NULL, "collateral: root_ca_crl is not lower-case hex", true },
		{ "pck_crl", NULL, "collateral: pck_crl is not lower-case hex", true },
		{ "tcb_info_signature", NULL, "collateral: tcb_info_signature is not 128 lower-case hex digits", true },
		{ "qe_identity_signature", NULL, "collateral: qe_identity_signature is not 128 lower-case hex digits", true },
		{ "tcb_info_signature", "qe_identity_signature", "tcbInfo signature invalid", false },
		{ "qe_identity", "tcb_info", "collateral: qe_identity id is \"SGX\", not \"QE\"", false },
	};
	struct dcr_err err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *col = json_deep_copy(s->col);

		if (cases[i].from) {
			assert_int_equal(json_object_set(col, cases[i].key, json_object_get(s->col, cases[i].from)), 0);
		} else {
			char *v = strdup(json_string_value(json_object_get(col, cases[i].key)));

			assert_non_null(v);
			for (char *p = v; *p; p++)
				if (*p >= 'a' && *p <= 'f')
					*p = (char)(*p - 'a' + 'A');
			assert_int_equal(json_object_set_new(col, cases[i].key, json_string(v)), 0);
			free(v);
		}
		err.msg[0] = '\0';
		expect(verify_json(s, s->quote, s->quote_len, col, &err), &err, cases[i].key,
			cases[i].from ? cases[i].from : "upper case", cases[i].want);
		json_decref(col);
	}
}

/* Collateral that is not collateral: each refusal says what is wrong. */
static void collateral_json(const struct sample *s)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "{}", "collateral: missing keys 'pck_crl_issuer_chain', 'root_ca_crl', 'pck_crl', 'tcb_info_issuer_chain', "
			"'tcb_info', 'tcb_info_signature', 'qe_identity_issuer_chain', 'qe_identity', 'qe_identity_signature'" },
		{ "", "collateral: not a JSON object" },
		{ "[]", "collateral: not a JSON object" },
		{ "{\"a\":1,\"a\":2}", "collateral: not a JSON object (line 1: duplicate object key" },
		{ "{\"tcb_info\":1}", "collateral: 'tcb_info' is not a string" },
	};
	struct dcr_err err;
	char *full, *text;
	json_t *col;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err.msg[0] = '\0';
		expect(verify_text(s, s->quote, s->quote_len, cases[i].text, strlen(cases[i].text), &err), &err,
			"collateral", cases[i].text, cases[i].want);
	}
	/* Each key missing, and one too many. */
	for (size_t k = 0; k < N_KEYS; k++) {
		char want[128];

		col = json_deep_copy(s->col);
		assert_int_equal(json_object_del(col, keys[k]), 0);
		snprintf(want, sizeof(want), "collateral: missing key '%s'", keys[k]);
		err.msg[0] = '\0';
		expect(verify_json(s, s->quote, s->quote_len, col, &err), &err, "without", keys[k], want);
		json_decref(col);
	}
	col = json_deep_copy(s->col);
	assert_int_equal(json_object_set_new(col, "pck_cert_chain", json_string("x")), 0);
	err.msg[0] = '\0';
	expect(verify_json(s, s->quote, s->quote_len, col, &err), &err, "with", "pck_cert_chain",
		"collateral: unknown key 'pck_cert_chain'");
	json_decref(col);
	/* Bytes after the object. */
	assert_non_null(full = json_dumps(s->col, JSON_COMPACT));
	assert_non_null(text = malloc(strlen(full) + 3));
	snprintf(text, strlen(full) + 3, "%s x", full);
	err.msg[0] = '\0';
	expect(verify_text(s, s->quote, s->quote_len, text, strlen(text), &err), &err, "collateral", "trailing bytes",
		"collateral: not a JSON object (line 1: end of file expected");
	free(text);
	free(full);
}

/*
 * der (n bytes, an ASN.1 SEQUENCE) in BER that d2i takes: its outer length
 * written in one byte more than it needs, with a leading zero. Nothing a
 * signature covers changes. *out_len: its length; free().
 */
static uint8_t *ber_of(const uint8_t *der, size_t n, size_t *out_len)
{
	size_t len_bytes = der[1] < 0x80 ? 0 : der[1] & 0x7f;
	uint8_t *out = malloc(n + 2);

	assert_non_null(out);
	assert_true(der[0] == 0x30 && len_bytes < 4 && n > 2 + len_bytes);
	out[0] = der[0];
	out[1] = (uint8_t)(0x80 | (len_bytes + 1));
	out[2] = 0;
	if (len_bytes == 0)
		out[3] = der[1];
	else
		memcpy(out + 3, der + 2, len_bytes);
	memcpy(out + 3 + (len_bytes ? len_bytes : 1), der + 2 + len_bytes, n - 2 - len_bytes);
	*out_len = n + 1 + (len_bytes == 0);
	return out;
}

/* A PEM block (as in a chain, lines of 64) of the certificate in block, re-encoded as ber_of does. */
static char *ber_block(const char *block, size_t len)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----\n", end[] = "-----END CERTIFICATE-----\n";
	BIO *bio = BIO_new_mem_buf(block, (int)len);
	X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	unsigned char *der = NULL;
	size_t ber_len, n;
	int der_len = x ? i2d_X509(x, &der) : -1;
	uint8_t *ber;
	char *out;

	assert_true(der_len > 0);
	ber = ber_of(der, (size_t)der_len, &ber_len);
	assert_non_null(out = malloc(sizeof(begin) + ber_len * 2 + sizeof(end)));
	n = (size_t)sprintf(out, "%s", begin);
	for (size_t i = 0; i < ber_len; i += 48) {
		n += (size_t)EVP_EncodeBlock((unsigned char *)out + n, ber + i, (int)(ber_len - i < 48 ? ber_len - i : 48));
		out[n++] = '\n';
	}
	sprintf(out + n, "%s", end);
	free(ber);
	OPENSSL_free(der);
	X509_free(x);
	BIO_free(bio);
	return out;
}

/*
 * Certificates and CRLs in BER rather than DER: the lengths around the
 * signed part are not signed, so each would verify as the same document
 * with other bytes. Each certificate of the quote's chain and of each
 * collateral chain, and each CRL, is refused.
 */
static void der_form(const struct sample *s)
{
	static const char *const chains[] = { "pck_crl_issuer_chain", "tcb_info_issuer_chain", "qe_identity_issuer_chain" };
	static const char *const crls[] = { "root_ca_crl", "pck_crl" };
	struct dcr_sgx_collateral *c;
	struct dcr_sgx_quote q;
	struct dcr_err err;
	struct blocks b;
	char *text, want[128];

	assert_int_equal(dcr_sgx_quote_parse(s->quote, s->quote_len, &q, &err), 0);
	split_blocks((const char *)q.cert_data, q.cert_len, &b);
	assert_non_null(text = json_dumps(s->col, JSON_COMPACT));
	assert_int_equal(dcr_sgx_collateral_parse((const uint8_t *)text, strlen(text), &c, &err), 0);
	for (size_t i = 0; i < b.n; i++) {
		char *ber = ber_block(b.p[i], b.len[i]), *cert;
		size_t n = 0, len;
		uint8_t *quote;

		assert_non_null(cert = malloc(q.cert_len + strlen(ber)));
		for (size_t k = 0; k < b.n; k++) {
			const char *p = k == i ? ber : b.p[k];
			size_t l = k == i ? strlen(ber) : b.len[k];

			memcpy(cert + n, p, l);
			n += l;
		}
		/* And the NUL of the real quote. */
		memcpy(cert + n, b.p[b.n - 1] + b.len[b.n - 1], q.cert_len - (size_t)(b.p[b.n - 1] + b.len[b.n - 1] -
			(const char *)q.cert_data));
		n += q.cert_len - (size_t)(b.p[b.n - 1] + b.len[b.n - 1] - (const char *)q.cert_data);
		quote = quote_with(s, cert, n, &len);
		snprintf(want, sizeof(want), "SGX quote PCK certificate chain: certificate %zu is not in DER", i + 1);
		err.msg[0] = '\0';
		expect(verify_parsed(s, quote, len, c, &err), &err, s->name, "a certificate in BER", want);
		free(quote);
		free(cert);
		free(ber);
	}
	dcr_sgx_collateral_free(c);
	free(text);
	for (size_t k = 0; k < sizeof(chains) / sizeof(chains[0]); k++) {
		const char *orig = json_string_value(json_object_get(s->col, chains[k]));

		split_blocks(orig, strlen(orig), &b);
		for (size_t i = 0; i < b.n; i++) {
			json_t *col = json_deep_copy(s->col);
			char *ber = ber_block(b.p[i], b.len[i]), *v;

			assert_non_null(v = malloc(strlen(orig) + strlen(ber)));
			sprintf(v, "%.*s%s%s", (int)(b.p[i] - orig), orig, ber, b.p[i] + b.len[i]);
			assert_int_equal(json_object_set_new(col, chains[k], json_string(v)), 0);
			snprintf(want, sizeof(want), "collateral: %s: certificate %zu is not in DER", chains[k], i + 1);
			err.msg[0] = '\0';
			expect(verify_json(s, s->quote, s->quote_len, col, &err), &err, chains[k], "a certificate in BER", want);
			json_decref(col);
			free(ber);
			free(v);
		}
	}
	for (size_t k = 0; k < sizeof(crls) / sizeof(crls[0]); k++) {
		const char *hex = json_string_value(json_object_get(s->col, crls[k]));
		size_t n = strlen(hex) / 2, ber_len;
		uint8_t *der = malloc(n), *ber;
		char *v;
		json_t *col = json_deep_copy(s->col);

		assert_non_null(der);
		assert_int_equal(dcr_unhex(hex, der, n), 0);
		ber = ber_of(der, n, &ber_len);
		assert_non_null(v = malloc(2 * ber_len + 1));
		dcr_hex(ber, ber_len, v);
		assert_int_equal(json_object_set_new(col, crls[k], json_string(v)), 0);
		snprintf(want, sizeof(want), "collateral: %s is not in DER", crls[k]);
		err.msg[0] = '\0';
		expect(verify_json(s, s->quote, s->quote_len, col, &err), &err, crls[k], "a CRL in BER", want);
		json_decref(col);
		free(der);
		free(ber);
		free(v);
	}
}

static void variants(const struct sample *s)
{
	quote_chains(s);
	quote_pem_form(s);
	collateral_chains(s);
	collateral_values(s);
	collateral_json(s);
	der_form(s);
}

static void test_variants_real(void **state)
{
	struct sample s;

	SKIP_WITHOUT_REAL(&s);
	variants(&s);
	sample_free(&s);
}

static void test_variants_synthetic(void **state)
{
	struct sample s;

	sample_synthetic(&s);
	variants(&s);
	sample_free(&s);
}

/* The real quote against the real TDX collateral: the wrong kind of collateral, and it says so. */
static void test_variants_tdx(void **state)
{
	const char *shared = getenv("SHARED_DIR");
	struct dcr_err err;
	struct sample s;
	char path[4096];
	uint8_t *col;
	size_t len;

	SKIP_WITHOUT_REAL(&s);
	snprintf(path, sizeof(path), "%s/testdata/evidence/tdx/collateral.json", shared);
	assert_int_equal(dcr_read_file(path, DCR_SGX_COLLATERAL_MAX, &col, &len, &err), 0);
	err.msg[0] = '\0';
	expect(verify_text(&s, s.quote, s.quote_len, (const char *)col, len, &err), &err, "tdx", "collateral",
		"collateral: tcb_info id is \"TDX\", not \"SGX\"");
	free(col);
	sample_free(&s);
}

/* With an argument, only the tests whose names hold it: meson runs the parts side by side. */
int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_variants_synthetic),
		cmocka_unit_test(test_variants_real),
		cmocka_unit_test(test_variants_tdx),
		cmocka_unit_test(test_sweep_quote),
		cmocka_unit_test(test_sweep_collateral),
	};
	char filter[64];

	if (argc > 1) {
		snprintf(filter, sizeof(filter), "*%s*", argv[1]);
		cmocka_set_test_filter(filter);
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
