/* Unit tests for lib/pcs.c (collateral from PCCS answers) and the PCCS helpers of lib/sgx.c. */
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
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "testutil.h"

#include "fileio.h"
#include "pcs.h"
#include "sgx.h"

/* 2025-01-01, 2025-02-01 and 2025-01-20: the synthetic documents' window and an earlier CRL nextUpdate. */
#define T_ISSUE ((time_t)1735689600)
#define T_NEXT ((time_t)1738368000)
#define T_EARLY ((time_t)1737331200)

/* 2025-07-01T00:00:00Z, inside the real sample's window; its QE identity's nextUpdate, the earliest. */
#define REAL_INSIDE ((time_t)1751328000)
#define REAL_QE_NEXT ((time_t)1752919278)

#define SVN1 "{\"svn\":1}"
#define SVN4 SVN1 "," SVN1 "," SVN1 "," SVN1
static const char tcb_text[] =
	"{\"id\":\"SGX\",\"version\":3,\"issueDate\":\"2025-01-01T00:00:00Z\",\"nextUpdate\":\"2025-02-01T00:00:00Z\","
	"\"fmspc\":\"00906EA10000\",\"pceId\":\"0000\",\"tcbType\":0,\"tcbEvaluationDataNumber\":17,"
	"\"tcbLevels\":[{\"tcb\":{\"sgxtcbcomponents\":[" SVN4 "," SVN4 "," SVN4 "," SVN4 "],\"pcesvn\":13},"
	"\"tcbDate\":\"2024-11-13T00:00:00Z\",\"tcbStatus\":\"UpToDate\"}]}";
static const char qe_text[] =
	"{\"id\":\"QE\",\"version\":2,\"issueDate\":\"2025-01-01T00:00:00Z\",\"nextUpdate\":\"2025-02-01T00:00:00Z\","
	"\"tcbEvaluationDataNumber\":17,\"miscselect\":\"00000000\",\"miscselectMask\":\"FFFFFFFF\","
	"\"attributes\":\"11000000000000000000000000000000\",\"attributesMask\":\"FBFFFFFFFFFFFFFF0000000000000000\","
	"\"mrsigner\":\"8C4F5775D796503E96137F77C68A829A0056AC8DED70140B081B094490C57BFF\",\"isvprodid\":1,"
	"\"tcbLevels\":[{\"tcb\":{\"isvsvn\":8},\"tcbDate\":\"2024-11-13T00:00:00Z\",\"tcbStatus\":\"UpToDate\"}]}";
/* Upper case on the way in, lower case on the way out. */
#define SIG_IN "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789" \
	"ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789"
#define SIG_OUT "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789" \
	"abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"

/* Synthetic answers: syntactically real, signed by nobody in particular. */
struct fx {
	uint8_t *pck_crl, *root_crl;
	size_t pck_crl_len, root_crl_len;
	char *pem, *enc;               /* an issuer chain, and it percent-encoded */
	char tcb[8192], qe[8192];
	struct dcr_pcs_responses in;
};

static void der_crl(EVP_PKEY *key, X509 *issuer, time_t next, uint8_t **der, size_t *len)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t = ASN1_TIME_new();
	unsigned char *p;
	int n;

	assert_non_null(crl);
	assert_non_null(t);
	assert_int_equal(X509_CRL_set_version(crl, 1), 1);
	assert_int_equal(X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)), 1);
	assert_non_null(ASN1_TIME_set(t, T_ISSUE));
	assert_int_equal(X509_CRL_set1_lastUpdate(crl, t), 1);
	assert_non_null(ASN1_TIME_set(t, next));
	assert_int_equal(X509_CRL_set1_nextUpdate(crl, t), 1);
	assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
	assert_true((n = i2d_X509_CRL(crl, NULL)) > 0);
	*der = malloc((size_t)n);
	assert_non_null(*der);
	p = *der;
	assert_int_equal(i2d_X509_CRL(crl, &p), n);
	*len = (size_t)n;
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
}

/* Like JavaScript's encodeURIComponent, which a PCCS uses: all but A-Z a-z 0-9 - _ . ! ~ * ' ( ). */
static char *percent_encode(const char *s, bool lower)
{
	char *out = malloc(3 * strlen(s) + 1), *o = out;

	assert_non_null(out);
	for (; *s; s++) {
		if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr("-_.!~*'()", *s))
			*o++ = *s;
		else
			o += snprintf(o, 4, lower ? "%%%02x" : "%%%02X", (unsigned char)*s);
	}
	*o = '\0';
	return out;
}

/* Only what a header cannot hold escaped: newlines and spaces; '/', '+' and '=' stay as they are. */
static char *encode_minimal(const char *s)
{
	char *out = malloc(3 * strlen(s) + 1);
	size_t o = 0;

	assert_non_null(out);
	for (; *s; s++) {
		if (*s == '\n' || *s == ' ')
			o += (size_t)snprintf(out + o, 4, "%%%02X", (unsigned)*s);
		else
			out[o++] = *s;
	}
	out[o] = '\0';
	return out;
}

static void set_body(struct dcr_pcs_response *r, const void *body, size_t len)
{
	r->body = body;
	r->body_len = len;
}

static void set_text(struct dcr_pcs_response *r, const char *s)
{
	set_body(r, s, strlen(s));
}

static void fx_init(struct fx *f, time_t pck_crl_next, time_t root_crl_next)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	BIO *bio = BIO_new(BIO_s_mem());
	char *p;
	long n;

	memset(f, 0, sizeof(*f));
	assert_non_null(key);
	assert_non_null(x);
	assert_non_null(name);
	assert_non_null(bio);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"Test CA", -1, -1, 0), 1);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
	assert_int_equal(X509_set_subject_name(x, name), 1);
	assert_int_equal(X509_set_issuer_name(x, name), 1);
	assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), T_ISSUE));
	assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), T_NEXT));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	/* Two certificates, as Intel's chains have (leaf, root); the same one twice does for syntax. */
	assert_int_equal(PEM_write_bio_X509(bio, x), 1);
	assert_int_equal(PEM_write_bio_X509(bio, x), 1);
	n = BIO_get_mem_data(bio, &p);
	f->pem = strndup(p, (size_t)n);
	assert_non_null(f->pem);
	f->enc = percent_encode(f->pem, false);
	der_crl(key, x, pck_crl_next, &f->pck_crl, &f->pck_crl_len);
	der_crl(key, x, root_crl_next, &f->root_crl, &f->root_crl_len);
	snprintf(f->tcb, sizeof(f->tcb), "{\"tcbInfo\":%s,\"signature\":\"%s\"}", tcb_text, SIG_IN);
	snprintf(f->qe, sizeof(f->qe), "{\"enclaveIdentity\":%s,\"signature\":\"%s\"}", qe_text, SIG_IN);
	set_body(&f->in.pck_crl, f->pck_crl, f->pck_crl_len);
	f->in.pck_crl.issuer_chain = f->enc;
	set_text(&f->in.tcb_info, f->tcb);
	f->in.tcb_info.issuer_chain = f->enc;
	set_text(&f->in.qe_identity, f->qe);
	f->in.qe_identity.issuer_chain = f->enc;
	set_body(&f->in.root_ca_crl, f->root_crl, f->root_crl_len);
	BIO_free(bio);
	X509_NAME_free(name);
	X509_free(x);
	EVP_PKEY_free(key);
}

static void fx_release(struct fx *f)
{
	free(f->pck_crl);
	free(f->root_crl);
	free(f->pem);
	free(f->enc);
}

/* Assemble, expecting success, and return the collateral as JSON. */
static json_t *assemble_ok(const struct dcr_pcs_responses *in)
{
	struct dcr_err err = { 0 };
	uint8_t *out = NULL;
	size_t len = 0;
	json_t *j;

	if (dcr_pcs_assemble(in, &out, &len, &err) < 0)
		fail_msg("dcr_pcs_assemble: %s", err.msg);
	assert_non_null(out);
	assert_int_equal(strlen((char *)out), len);
	j = json_loadb((const char *)out, len, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(j);
	assert_int_equal(json_object_size(j), 9);
	free(out);
	return j;
}

static void assemble_fails(const struct dcr_pcs_responses *in, const char *want)
{
	struct dcr_err err = { 0 };
	uint8_t *out = (uint8_t *)"x";
	size_t len = 1;

	assert_int_equal(dcr_pcs_assemble(in, &out, &len, &err), DCR_EATTEST);
	assert_null(out);
	assert_int_equal(len, 0);
	/* A trailing '*' matches any end: jansson's own words may change between versions. */
	if (want[strlen(want) - 1] == '*' ? strncmp(err.msg, want, strlen(want) - 1) != 0 : strcmp(err.msg, want) != 0)
		fail_msg("got  \"%s\"\nwant \"%s\"", err.msg, want);
}

static const char *get(json_t *j, const char *key)
{
	const char *s = json_string_value(json_object_get(j, key));

	assert_non_null(s);
	return s;
}

static char *hex_of(const uint8_t *p, size_t len)
{
	char *h = malloc(2 * len + 1);

	assert_non_null(h);
	dcr_hex(p, len, h);
	return h;
}

static void test_assemble(void **state)
{
	struct fx f;
	json_t *j;
	char *hex;

	fx_init(&f, T_NEXT, T_NEXT);
	j = assemble_ok(&f.in);
	assert_string_equal(get(j, "tcb_info"), tcb_text);
	assert_string_equal(get(j, "qe_identity"), qe_text);
	assert_string_equal(get(j, "tcb_info_signature"), SIG_OUT);
	assert_string_equal(get(j, "qe_identity_signature"), SIG_OUT);
	assert_string_equal(get(j, "pck_crl_issuer_chain"), f.pem);
	assert_string_equal(get(j, "tcb_info_issuer_chain"), f.pem);
	assert_string_equal(get(j, "qe_identity_issuer_chain"), f.pem);
	hex = hex_of(f.pck_crl, f.pck_crl_len);
	assert_string_equal(get(j, "pck_crl"), hex);
	free(hex);
	hex = hex_of(f.root_crl, f.root_crl_len);
	assert_string_equal(get(j, "root_ca_crl"), hex);
	free(hex);
	json_decref(j);

	/* The final check: a v3 API's TCB info (version 2) does not make collateral. */
	snprintf(f.tcb, sizeof(f.tcb), "{\"tcbInfo\":%s,\"signature\":\"%s\"}", tcb_text, SIG_IN);
	memcpy(strstr(f.tcb, "\"version\":3"), "\"version\":2", 11);
	set_text(&f.in.tcb_info, f.tcb);
	assemble_fails(&f.in, "the collateral service's answers: collateral: tcb_info version is not 3");
	fx_release(&f);
}

/* Whitespace and member order around the signed text change nothing in it, nor does what is inside it. */
static void test_body_variations(void **state)
{
	static const char inner[] =
		"{ \"note\" : \"\\\"},\\\"tcbInfo\\\":{\\\"x\\\":1}, \\u00e9 \\\\\" ,\n"
		"  \"tcbInfo\": {\"tcbInfo\": [1, -2.5e+3, true, false, null, {}, []]},\n";
	char text[8192], body[16384];
	struct fx f;
	json_t *j;

	fx_init(&f, T_NEXT, T_NEXT);
	/* The real text after the opening brace, with tricky members and odd spacing put in front. */
	snprintf(text, sizeof(text), "%s%s", inner, tcb_text + 1);
	for (int i = 0; i < 4; i++) {
		if (i == 0)
			snprintf(body, sizeof(body), "{\"tcbInfo\":%s,\"signature\":\"%s\"}", text, SIG_IN);
		else if (i == 1)
			snprintf(body, sizeof(body), "{\"signature\":\"%s\",\"tcbInfo\":%s}", SIG_IN, text);
		else if (i == 2)
			snprintf(body, sizeof(body), " \r\n\t{ \"tcbInfo\" :\n\t%s\n ,\r\n \"signature\" : \"%s\" }\n\n",
				text, SIG_IN);
		else
			snprintf(body, sizeof(body), "{\"signature\"   :\"%s\"\n,\"tcbInfo\":%s}   ", SIG_IN, text);
		set_text(&f.in.tcb_info, body);
		j = assemble_ok(&f.in);
		assert_string_equal(get(j, "tcb_info"), text);
		json_decref(j);
	}
	fx_release(&f);
}

static void test_body_malformed(void **state)
{
	static const struct {
		const char *body, *want;
	} cases[] = {
		{ "", "the answer is empty" },
		{ "[]", "not a JSON object" },
		{ "\xef\xbb\xbf{}", "not a JSON object" },
		{ "{\"tcbInfo\":{}}", "no \"signature\" member" },
		{ "{\"signature\":\"" SIG_IN "\"}", "no \"tcbInfo\" member" },
		{ "{\"tcbInfo\":{},\"signature\":\"" SIG_IN "\",\"tcbInfo\":{}}", "duplicate member \"tcbInfo\" at byte 157" },
		{ "{\"tcbInfo\":{},\"signature\":\"" SIG_IN "\"}x", "trailing bytes after the JSON object at byte 157" },
		{ "{\"tcbInfo\":{},\"signature\":\"" SIG_IN "\"}{}", "trailing bytes after the JSON object at byte 157" },
		{ "{\"tcbInfo\":{},\"signature\":\"" SIG_IN "\",\"x\":1}", "unexpected member \"x\" at byte 157" },
		/* An escaped spelling is the same name to a JSON library, but not to the scanner. */
		{ "{\"tcb\\u0049nfo\":{},\"signature\":\"" SIG_IN "\"}", "unexpected member \"tcb\\u0049nfo\" at byte 1" },
		/* "tcbInfo" inside a string is no member, so the real one is missing. */
		{ "{\"signature\":\"" SIG_IN "\",\"s\":\"\\\",\\\"tcbInfo\\\":{}\"}", "unexpected member \"s\" at byte 144" },
		{ "{\"signature\":\"\\\",\\\"tcbInfo\\\":{}\"}", "no \"tcbInfo\" member" },
		{ "{\"tcbInfo\":{},\"signature\":\"" SIG_IN "\",}", "malformed JSON at byte 157: expected a string" },
		{ "{\"tcbInfo\":{\"a\":1,},\"signature\":\"" SIG_IN "\"}", "malformed JSON at byte 18: expected a string" },
		{ "{\"tcbInfo\":{\"a\":01},\"signature\":\"" SIG_IN "\"}", "malformed JSON at byte 17: expected ',' or '}'" },
		{ "{\"tcbInfo\":{\"a\":\"\x01\"},\"signature\":\"" SIG_IN "\"}", "malformed JSON at byte 17: control character in a string" },
		{ "{\"tcbInfo\":{\"a\":\"\\x\"},\"signature\":\"" SIG_IN "\"}", "malformed JSON at byte 18: unknown escape in a string" },
		{ "{\"tcbInfo\":{\"a\":\"\\u12\"},\"signature\":\"" SIG_IN "\"}", "malformed JSON at byte 18: malformed \\u escape" },
		{ "{\"tcbInfo\":{\"a\":tru},\"signature\":\"" SIG_IN "\"}", "malformed JSON at byte 16: unexpected character" },
		{ "{\"tcbInfo\":{\"a\":\"", "malformed JSON at byte 17: unterminated string" },
		{ "{\"tcbInfo\":{\"a\"", "malformed JSON at byte 15: expected ':'" },
		/* Well-formed to the scanner; jansson refuses what it does not check. */
		{ "{\"tcbInfo\":{\"a\":\"\xff\"},\"signature\":\"" SIG_IN "\"}", "not valid JSON (byte *" },
		{ "{\"tcbInfo\":{\"a\":1,\"a\":2},\"signature\":\"" SIG_IN "\"}", "not valid JSON (byte *" },
		{ "{\"tcbInfo\":{\"a\":\"\\u0000\"},\"signature\":\"" SIG_IN "\"}", "not valid JSON (byte *" },
		{ "{\"tcbInfo\":{\"a\":\"\\udc00\"},\"signature\":\"" SIG_IN "\"}", "not valid JSON (byte *" },
		{ "{\"tcbInfo\":\"{}\",\"signature\":\"" SIG_IN "\"}", "\"tcbInfo\" is not a JSON object" },
		{ "{\"tcbInfo\":{},\"signature\":\"" SIG_IN "0\"}", "\"signature\" is not 128 hex digits" },
		{ "{\"tcbInfo\":{},\"signature\":\"" SIG_IN "\",\"signature\":\"\"}", "duplicate member \"signature\" at byte 157" },
		{ "{\"tcbInfo\":{},\"signature\":12}", "\"signature\" is not 128 hex digits" },
		{ "{\"tcbInfo\":{},\"signature\":\"xx" SIG_IN "\"}", "\"signature\" is not 128 hex digits" },
	};
	char want[DCR_ERR_MSG_MAX], deep[400];
	struct fx f;
	size_t i;
	uint8_t *big;

	fx_init(&f, T_NEXT, T_NEXT);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		set_text(&f.in.tcb_info, cases[i].body);
		snprintf(want, sizeof(want), "TCB info from the PCCS: %s", cases[i].want);
		assemble_fails(&f.in, want);
	}
	/* Nesting beyond 64 levels. */
	i = (size_t)snprintf(deep, sizeof(deep), "{\"tcbInfo\":");
	for (int d = 0; d < 64; d++)
		deep[i++] = '[';
	snprintf(deep + i, sizeof(deep) - i, "]");
	set_text(&f.in.tcb_info, deep);
	assemble_fails(&f.in, "TCB info from the PCCS: malformed JSON at byte 74: nested too deeply");
	/* Oversized. */
	big = calloc(1, DCR_SGX_COLLATERAL_MAX + 1);
	assert_non_null(big);
	set_body(&f.in.tcb_info, big, DCR_SGX_COLLATERAL_MAX + 1);
	assemble_fails(&f.in, "TCB info from the PCCS: the answer is 1048577 bytes, more than 1048576");
	free(big);
	/* The QE identity is the same code with its own names. */
	set_text(&f.in.tcb_info, f.tcb);
	set_text(&f.in.qe_identity, "{\"tcbInfo\":{},\"signature\":\"" SIG_IN "\"}");
	f.in.qe_identity.url = "http://127.0.0.1:8081/sgx/certification/v4/qe/identity";
	assemble_fails(&f.in, "QE identity from http://127.0.0.1:8081/sgx/certification/v4/qe/identity: "
		"unexpected member \"tcbInfo\" at byte 1");
	fx_release(&f);
}

static void test_crl_encodings(void **state)
{
	char *hex, *pem_text, *body;
	struct fx f;
	json_t *j;
	X509_CRL *crl;
	const unsigned char *p;
	BIO *bio;
	char *mem;
	long n;

	fx_init(&f, T_NEXT, T_NEXT);
	hex = hex_of(f.pck_crl, f.pck_crl_len);
	p = f.pck_crl;
	crl = d2i_X509_CRL(NULL, &p, (long)f.pck_crl_len);
	assert_non_null(crl);
	bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_X509_CRL(bio, crl), 1);
	n = BIO_get_mem_data(bio, &mem);
	pem_text = strndup(mem, (size_t)n);
	body = malloc(strlen(pem_text) + strlen(hex) + 64);
	assert_non_null(body);

	/* PEM, hex in either case, with or without surrounding whitespace: all the same DER. */
	for (int i = 0; i < 6; i++) {
		const char *text = i < 3 ? pem_text : hex;

		snprintf(body, strlen(pem_text) + strlen(hex) + 64, "%s%s%s", i % 3 == 1 ? "\n  " : "", text,
			i % 3 == 1 ? "\n\n" : "");
		if (i == 5)
			for (char *c = body; *c; c++)
				*c = (char)(*c >= 'a' && *c <= 'f' ? *c - 32 : *c);
		set_text(&f.in.pck_crl, body);
		j = assemble_ok(&f.in);
		assert_string_equal(get(j, "pck_crl"), hex);
		json_decref(j);
	}
	set_text(&f.in.pck_crl, "");
	assemble_fails(&f.in, "PCK CRL from the PCCS: the answer is empty");
	set_text(&f.in.pck_crl, "  \n");
	assemble_fails(&f.in, "PCK CRL from the PCCS: neither DER, PEM nor an even number of hex digits");
	set_text(&f.in.pck_crl, "3082a");
	assemble_fails(&f.in, "PCK CRL from the PCCS: neither DER, PEM nor an even number of hex digits");
	set_text(&f.in.pck_crl, "30820g");
	assemble_fails(&f.in, "PCK CRL from the PCCS: neither DER, PEM nor hex: byte 5 is not a hex digit");
	set_text(&f.in.pck_crl, "3082");
	assemble_fails(&f.in, "PCK CRL from the PCCS: not a DER CRL");
	/* hex of one byte too few, DER with one byte too many. */
	hex[strlen(hex) - 2] = '\0';
	set_text(&f.in.pck_crl, hex);
	assemble_fails(&f.in, "PCK CRL from the PCCS: not a DER CRL");
	f.pck_crl = realloc(f.pck_crl, f.pck_crl_len + 2);
	f.pck_crl[f.pck_crl_len] = 0;
	set_body(&f.in.pck_crl, f.pck_crl, f.pck_crl_len + 1);
	assemble_fails(&f.in, "PCK CRL from the PCCS: not a DER CRL");
	/* BER that d2i takes: the outer length in one byte more than it needs (0x81 LL: 0x82 00 LL). */
	assert_true(f.pck_crl[1] == 0x81 || f.pck_crl[1] == 0x82);
	{
		uint8_t *ber = malloc(f.pck_crl_len + 1);

		assert_non_null(ber);
		ber[0] = 0x30, ber[1] = (uint8_t)(f.pck_crl[1] + 1), ber[2] = 0;
		memcpy(ber + 3, f.pck_crl + 2, f.pck_crl_len - 2);
		p = ber;
		X509_CRL_free(d2i_X509_CRL(NULL, &p, (long)f.pck_crl_len + 1));
		assert_ptr_equal(p, ber + f.pck_crl_len + 1); /* d2i takes it whole */
		set_body(&f.in.pck_crl, ber, f.pck_crl_len + 1);
		assemble_fails(&f.in, "PCK CRL from the PCCS: not a DER CRL");
		free(ber);
	}
	/* Two PEM blocks, text after the block, a PEM certificate. */
	snprintf(body, strlen(pem_text) + strlen(hex) + 64, "%s%s", pem_text, pem_text);
	set_text(&f.in.pck_crl, body);
	assemble_fails(&f.in, "PCK CRL from the PCCS: not a single PEM X509 CRL");
	snprintf(body, strlen(pem_text) + strlen(hex) + 64, "%sx\n", pem_text);
	set_text(&f.in.pck_crl, body);
	assemble_fails(&f.in, "PCK CRL from the PCCS: not a single PEM X509 CRL");
	set_text(&f.in.pck_crl, f.pem);
	assemble_fails(&f.in, "PCK CRL from the PCCS: neither DER, PEM nor hex: byte 0 is not a hex digit");
	/* The root CA CRL goes through the same code. */
	set_body(&f.in.pck_crl, f.pck_crl, f.pck_crl_len);
	set_text(&f.in.root_ca_crl, "zz");
	assemble_fails(&f.in, "root CA CRL from the PCCS: neither DER, PEM nor hex: byte 0 is not a hex digit");

	BIO_free(bio);
	X509_CRL_free(crl);
	free(body);
	free(pem_text);
	free(hex);
	fx_release(&f);
}

static void test_issuer_chain_header(void **state)
{
	static const struct {
		const char *header, *want;
	} cases[] = {
		{ "%2D%2D%2D%2D%2DBEGIN%20CERTIFICATE%2D%2D%2D%2D%2D%0A%4", "has a malformed percent escape at byte 52" },
		{ "%2D%2D%2D%2D%2DBEGIN%20CERTIFICATE%2D%2D%2D%2D%2D%0A%", "has a malformed percent escape at byte 52" },
		{ "%2D%2D%2D%2D%2DBEGIN%20CERTIFICATE%2D%2D%2D%2D%2D%0A%G0", "has a malformed percent escape at byte 52" },
		{ "%2D%2D%2D%2D%2DBEGIN%20CERTIFICATE%2D%2D%2D%2D%2D%0A%%41", "has a malformed percent escape at byte 52" },
		{ "-----BEGIN CERTIFICATE-----%00", "holds byte 0x00, which PEM cannot (at byte 27)" },
		{ "-----BEGIN CERTIFICATE-----%09", "holds byte 0x09, which PEM cannot (at byte 27)" },
		{ "-----BEGIN CERTIFICATE-----\xc3\xa9", "holds byte 0xc3, which PEM cannot (at byte 27)" },
		{ "-----BEGIN CERTIFICATE-----\t", "holds byte 0x09, which PEM cannot (at byte 27)" },
		{ "MIIC", "is not a percent-encoded PEM certificate chain" },
		{ "-----BEGIN%20X509%20CRL-----", "is not a percent-encoded PEM certificate chain" },
	};
	char want[DCR_ERR_MSG_MAX];
	char *lower, *raw;
	struct fx f;
	json_t *j;

	fx_init(&f, T_NEXT, T_NEXT);
	/* Escapes in lower case; and only the escapes a header needs. */
	lower = percent_encode(f.pem, true);
	f.in.tcb_info.issuer_chain = lower;
	raw = encode_minimal(f.pem);
	f.in.qe_identity.issuer_chain = raw;
	j = assemble_ok(&f.in);
	assert_string_equal(get(j, "tcb_info_issuer_chain"), f.pem);
	assert_string_equal(get(j, "qe_identity_issuer_chain"), f.pem);
	json_decref(j);
	f.in.tcb_info.issuer_chain = f.enc;
	f.in.qe_identity.issuer_chain = f.enc;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f.in.pck_crl.issuer_chain = cases[i].header;
		snprintf(want, sizeof(want), "PCK CRL from the PCCS: the SGX-PCK-CRL-Issuer-Chain header %s", cases[i].want);
		assemble_fails(&f.in, want);
	}
	f.in.pck_crl.issuer_chain = NULL;
	assemble_fails(&f.in, "PCK CRL from the PCCS: no SGX-PCK-CRL-Issuer-Chain header");
	f.in.pck_crl.issuer_chain = "";
	assemble_fails(&f.in, "PCK CRL from the PCCS: no SGX-PCK-CRL-Issuer-Chain header");
	f.in.pck_crl.issuer_chain = f.enc;
	f.in.tcb_info.issuer_chain = NULL;
	assemble_fails(&f.in, "TCB info from the PCCS: no TCB-Info-Issuer-Chain header");
	f.in.tcb_info.issuer_chain = f.enc;
	f.in.qe_identity.issuer_chain = "%ZZ";
	assemble_fails(&f.in, "QE identity from the PCCS: the SGX-Enclave-Identity-Issuer-Chain header has a "
		"malformed percent escape at byte 0");
	/* Decodes to PEM, but not to certificates: the final check catches it. */
	f.in.qe_identity.issuer_chain = "-----BEGIN%20CERTIFICATE-----%0AAAAA%0A-----END%20CERTIFICATE-----%0A";
	assemble_fails(&f.in, "the collateral service's answers: collateral: qe_identity_issuer_chain: certificate 1 "
		"is not a DER X.509 certificate");
	free(lower);
	free(raw);
	fx_release(&f);
}

static void test_json_members(void **state)
{
	static const char body[] = " { \"b\" : [1, {\"a\": \"}\"}] ,\"a\":\"x\\\"y\" } ";
	struct dcr_pcs_member m[2] = { { .name = "a" }, { .name = "b" } };
	struct dcr_err err;

	assert_int_equal(dcr_pcs_json_members((const uint8_t *)body, strlen(body), m, 2, &err), 0);
	assert_int_equal(m[0].off, 30);
	assert_int_equal(m[0].len, 6);
	assert_memory_equal(body + m[0].off, "\"x\\\"y\"", 6);
	assert_int_equal(m[1].off, 9);
	assert_memory_equal(body + m[1].off, "[1, {\"a\": \"}\"}]", m[1].len);
	/* Only the length given counts: a NUL-free prefix is not enough, a NUL inside is an error. */
	assert_int_equal(dcr_pcs_json_members((const uint8_t *)body, strlen(body) - 3, m, 2, &err), DCR_EATTEST);
	assert_int_equal(dcr_pcs_json_members((const uint8_t *)"{\"a\":1,\"b\":2}\0", 14, m, 2, &err), DCR_EATTEST);
	assert_string_equal(err.msg, "trailing bytes after the JSON object at byte 13");
	assert_int_equal(dcr_pcs_json_members((const uint8_t *)"{}", 2, m, 0, &err), 0);
	assert_int_equal(dcr_pcs_json_members((const uint8_t *)"{\"a\":-0.5e-7,\"b\":\"\"}", 20, m, 2, &err), 0);
	assert_int_equal(m[0].len, 7);
	assert_int_equal(m[1].len, 2);
	assert_int_equal(dcr_pcs_json_members((const uint8_t *)"{\"a\":-,\"b\":1}", 13, m, 2, &err), DCR_EATTEST);
	assert_string_equal(err.msg, "malformed JSON at byte 6: malformed number");
	assert_int_equal(dcr_pcs_json_members((const uint8_t *)"{\"a\":1.,\"b\":1}", 14, m, 2, &err), DCR_EATTEST);
	assert_string_equal(err.msg, "malformed JSON at byte 7: malformed number");
	assert_int_equal(dcr_pcs_json_members((const uint8_t *)"{\"a\":1e,\"b\":1}", 14, m, 2, &err), DCR_EATTEST);
	assert_string_equal(err.msg, "malformed JSON at byte 7: malformed number");
	assert_int_equal(dcr_pcs_json_members((const uint8_t *)"{\"a\":1 \"b\":1}", 13, m, 2, &err), DCR_EATTEST);
	assert_string_equal(err.msg, "malformed JSON at byte 7: expected ',' or '}'");
	assert_int_equal(dcr_pcs_json_members((const uint8_t *)"{\"a\":[1 2],\"b\":1}", 17, m, 2, &err), DCR_EATTEST);
	assert_string_equal(err.msg, "malformed JSON at byte 8: expected ',' or ']'");
	assert_int_equal(dcr_pcs_json_members((const uint8_t *)"{\"a\":", 5, m, 2, &err), DCR_EATTEST);
	assert_string_equal(err.msg, "malformed JSON at byte 5: unexpected end");
}

/* The real sample, wrapped as a PCS serves it. */

struct real {
	uint8_t *quote, *collateral, *root;
	size_t quote_len, collateral_len, root_len;
	json_t *col;
};

static bool load_real(struct real *r)
{
	struct sgx_sample sample;

	memset(r, 0, sizeof(*r));
	if (!sgx_sample_load(&sample))
		return false;
	r->quote = sample.quote;
	r->quote_len = sample.quote_len;
	r->collateral = sample.collateral;
	r->collateral_len = sample.collateral_len;
	r->root = sample.root;
	r->root_len = sample.root_len;
	r->col = json_loadb((const char *)r->collateral, r->collateral_len, 0, NULL);
	assert_non_null(r->col);
	return true;
}

static void free_real(struct real *r)
{
	json_decref(r->col);
	free(r->quote);
	free(r->collateral);
	free(r->root);
}

static uint8_t *unhex_alloc(const char *hex, size_t *len)
{
	uint8_t *p;

	*len = strlen(hex) / 2;
	p = malloc(*len);
	assert_non_null(p);
	unhex_exact(hex, p, *len);
	return p;
}

#define SKIP_WITHOUT_REAL(r) do { \
	if (!load_real(r)) { \
		print_message("SHARED_DIR/testdata/evidence/sgx-dcap is absent: skipping\n"); \
		skip(); \
	} \
} while (0)

static void test_real_collateral(void **state)
{
	static const char *const keys[] = {
		"pck_crl_issuer_chain", "root_ca_crl", "pck_crl", "tcb_info_issuer_chain", "tcb_info",
		"tcb_info_signature", "qe_identity_issuer_chain", "qe_identity", "qe_identity_signature",
	};
	struct dcr_pcs_responses in = { 0 };
	struct dcr_sgx_collateral *c;
	struct dcr_sgx_result res;
	struct dcr_err err;
	char *chains[3], *tcb, *qe;
	uint8_t *pck_der, *out;
	size_t pck_len, len;
	struct real r;
	json_t *j;

	SKIP_WITHOUT_REAL(&r);
	pck_der = unhex_alloc(get(r.col, "pck_crl"), &pck_len);
	chains[0] = percent_encode(get(r.col, "pck_crl_issuer_chain"), false);
	chains[1] = percent_encode(get(r.col, "tcb_info_issuer_chain"), true);
	chains[2] = encode_minimal(get(r.col, "qe_identity_issuer_chain"));
	assert_non_null(strchr(chains[2], '/'));
	assert_non_null(strchr(chains[2], '+'));
	assert_non_null(strchr(chains[2], '='));
	tcb = malloc(16384);
	qe = malloc(16384);
	assert_non_null(tcb);
	assert_non_null(qe);
	snprintf(tcb, 16384, "{\"tcbInfo\":%s,\"signature\":\"%s\"}", get(r.col, "tcb_info"),
		get(r.col, "tcb_info_signature"));
	snprintf(qe, 16384, "{ \"signature\": \"%s\",\n  \"enclaveIdentity\": %s }\n", get(r.col, "qe_identity_signature"),
		get(r.col, "qe_identity"));
	in.pck_crl = (struct dcr_pcs_response){ pck_der, pck_len, chains[0], NULL };
	in.tcb_info = (struct dcr_pcs_response){ (uint8_t *)tcb, strlen(tcb), chains[1], NULL };
	in.qe_identity = (struct dcr_pcs_response){ (uint8_t *)qe, strlen(qe), chains[2], NULL };
	in.root_ca_crl = (struct dcr_pcs_response){ (const uint8_t *)get(r.col, "root_ca_crl"),
		strlen(get(r.col, "root_ca_crl")), NULL, NULL };

	j = assemble_ok(&in);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_string_equal(get(j, keys[i]), get(r.col, keys[i]));
	json_decref(j);

	/* And it verifies, which it would not if a byte of a signed text had moved. */
	if (dcr_pcs_assemble(&in, &out, &len, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(dcr_sgx_collateral_parse(out, len, &c, &err), 0);
	if (dcr_sgx_verify(r.quote, r.quote_len, c, r.root, r.root_len, REAL_INSIDE, &res, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(res.tcb_status, "ConfigurationAndSWHardeningNeeded");
	dcr_sgx_collateral_free(c);
	free(out);

	for (int i = 0; i < 3; i++)
		free(chains[i]);
	free(tcb);
	free(qe);
	free(pck_der);
	free_real(&r);
}

static void test_pck_info(void **state)
{
	struct dcr_err err;
	uint8_t fmspc[6];
	char ca[16];
	struct real r;
	uint8_t *pem;

	assert_int_equal(dcr_sgx_quote_pck_info((const uint8_t *)"\3", 1, fmspc, ca, &err), DCR_EATTEST);
	assert_string_equal(err.msg, "SGX quote is truncated: 1 bytes");
	SKIP_WITHOUT_REAL(&r);
	if (dcr_sgx_quote_pck_info(r.quote, r.quote_len, fmspc, ca, &err) < 0)
		fail_msg("%s", err.msg);
	assert_hex(fmspc, 6, "00a067110000");
	assert_string_equal(ca, "processor");
	/* The PCK chain's first PEM line broken: no certificate to read. */
	for (pem = r.quote; pem + 27 <= r.quote + r.quote_len && memcmp(pem, "-----BEGIN CERTIFICATE-----", 27) != 0; pem++)
		;
	assert_true(pem + 27 <= r.quote + r.quote_len);
	pem[5] = 'b';
	assert_int_equal(dcr_sgx_quote_pck_info(r.quote, r.quote_len, fmspc, ca, &err), DCR_EATTEST);
	assert_string_equal(err.msg, "SGX quote PCK certificate chain: certificate 1 does not start with a "
		"'-----BEGIN CERTIFICATE-----' line (byte 0)");
	free_real(&r);
}

static void le32put(uint8_t *p, size_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void set_cn(X509 *x, bool issuer, const char *cn)
{
	X509_NAME *n = X509_NAME_dup(issuer ? X509_get_issuer_name(x) : X509_get_subject_name(x));
	int loc;

	assert_non_null(n);
	assert_true((loc = X509_NAME_get_index_by_NID(n, NID_commonName, -1)) >= 0);
	X509_NAME_ENTRY_free(X509_NAME_delete_entry(n, loc));
	assert_int_equal(X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_ASC, (const unsigned char *)cn, -1, loc, 0), 1);
	assert_int_equal(issuer ? X509_set_issuer_name(x, n) : X509_set_subject_name(x, n), 1);
	X509_NAME_free(n);
}

/* The real quote with its PCK leaf's names changed (pck_info checks no signature), lengths fixed up. */
static uint8_t *with_leaf_names(const struct real *r, const char *issuer_cn, const char *subject_cn, size_t *len)
{
	struct dcr_sgx_quote q;
	struct dcr_err err;
	size_t head, rest, pem_len;
	EVP_PKEY *key;
	BIO *in, *out;
	uint8_t *buf;
	char *pem;
	X509 *leaf;

	assert_int_equal(dcr_sgx_quote_parse(r->quote, r->quote_len, &q, &err), 0);
	in = BIO_new_mem_buf(q.cert_data, (int)q.cert_len);
	out = BIO_new(BIO_s_mem());
	assert_non_null(leaf = PEM_read_bio_X509(in, NULL, NULL, NULL));
	rest = q.cert_len - (size_t)BIO_pending(in);
	if (issuer_cn)
		set_cn(leaf, true, issuer_cn);
	if (subject_cn)
		set_cn(leaf, false, subject_cn);
	/* OpenSSL re-encodes a changed certificate only when signing it; any key will do here. */
	assert_non_null(key = EVP_EC_gen("P-256"));
	assert_true(X509_sign(leaf, key, EVP_sha256()) > 0);
	EVP_PKEY_free(key);
	assert_int_equal(PEM_write_bio_X509(out, leaf), 1);
	pem_len = (size_t)BIO_get_mem_data(out, &pem);
	head = (size_t)(q.cert_data - r->quote);
	*len = head + pem_len + q.cert_len - rest;
	assert_non_null(buf = malloc(*len));
	memcpy(buf, r->quote, head);
	memcpy(buf + head, pem, pem_len);
	memcpy(buf + head + pem_len, q.cert_data + rest, q.cert_len - rest);
	le32put(buf + head - 4, *len - head);
	le32put(buf + 432, *len - 436);
	X509_free(leaf);
	BIO_free(in);
	BIO_free(out);
	return buf;
}

static void test_pck_info_issuers(void **state)
{
	static const struct {
		const char *issuer, *subject, *ca, *want;
	} cases[] = {
		{ NULL, NULL, "processor", NULL },
		{ "Intel SGX PCK Platform CA", NULL, "platform", NULL },
		{ "Intel SGX PCK Platform CA ", NULL, NULL,
		  "PCK certificate issuer 'Intel SGX PCK Platform CA ' is neither 'Intel SGX PCK Processor CA' nor '... Platform CA'" },
		{ "Intel SGX Root CA", NULL, NULL,
		  "PCK certificate issuer 'Intel SGX Root CA' is neither 'Intel SGX PCK Processor CA' nor '... Platform CA'" },
		{ NULL, "Intel SGX TCB Signing", NULL,
		  "SGX quote PCK certificate chain: certificate 1 is 'Intel SGX TCB Signing', not 'Intel SGX PCK Certificate'" },
	};
	struct dcr_err err;
	uint8_t fmspc[6], *quote;
	char ca[16];
	struct real r;
	size_t len;

	SKIP_WITHOUT_REAL(&r);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		quote = with_leaf_names(&r, cases[i].issuer, cases[i].subject, &len);
		if (cases[i].ca) {
			if (dcr_sgx_quote_pck_info(quote, len, fmspc, ca, &err) < 0)
				fail_msg("%s", err.msg);
			assert_string_equal(ca, cases[i].ca);
			assert_hex(fmspc, 6, "00a067110000");
		} else {
			assert_int_equal(dcr_sgx_quote_pck_info(quote, len, fmspc, ca, &err), DCR_EATTEST);
			assert_string_equal(err.msg, cases[i].want);
		}
		free(quote);
	}
	free_real(&r);
}

static void test_next_update(void **state)
{
	struct dcr_sgx_collateral *c;
	struct dcr_err err;
	struct real r;
	uint8_t *out;
	size_t len;
	time_t t;

	/* Synthetic: the documents end at T_NEXT; then each CRL in turn ends earlier. */
	for (int which = 0; which < 3; which++) {
		struct fx f;

		fx_init(&f, which == 1 ? T_EARLY : T_NEXT, which == 2 ? T_EARLY - 1 : T_NEXT);
		assert_int_equal(dcr_pcs_assemble(&f.in, &out, &len, &err), 0);
		assert_int_equal(dcr_sgx_collateral_parse(out, len, &c, &err), 0);
		assert_int_equal(dcr_sgx_collateral_next_update(c, &t), 0);
		assert_int_equal(t, which == 0 ? T_NEXT : which == 1 ? T_EARLY : T_EARLY - 1);
		dcr_sgx_collateral_free(c);
		free(out);
		fx_release(&f);
	}

	SKIP_WITHOUT_REAL(&r);
	assert_int_equal(dcr_sgx_collateral_parse(r.collateral, r.collateral_len, &c, &err), 0);
	assert_int_equal(dcr_sgx_collateral_next_update(c, &t), 0);
	/* The QE identity's 2025-07-19T10:01:18Z; the PCK CRL ends at 10:23:18, the TCB info at 10:56:11. */
	assert_int_equal(t, REAL_QE_NEXT);
	dcr_sgx_collateral_free(c);
	free_real(&r);
}

/* No network: what dcr_pcs_fetch refuses before or instead of a transfer. */
static void test_fetch_refusals(void **state)
{
	struct dcr_err err;
	uint8_t *out;
	size_t len;
	struct real r;

	assert_int_equal(dcr_pcs_fetch("https://pccs.invalid", "https://pccs.invalid/crl", NULL, (const uint8_t *)"", 0, 5,
		&out, &len, &err), DCR_EATTEST);
	assert_null(out);
	SKIP_WITHOUT_REAL(&r);
	assert_int_equal(dcr_pcs_fetch("http://pccs.example:8081", "https://pccs.invalid/crl", NULL, r.quote, r.quote_len, 5,
		&out, &len, &err), DCR_EUSAGE);
	assert_string_equal(err.msg, "URL 'http://pccs.example:8081/sgx/certification/v4/pckcrl?ca=processor&encoding=der' "
		"must start with https:// (http:// only to a loopback address)");
	assert_int_equal(dcr_pcs_fetch("ftp://127.0.0.1", "https://pccs.invalid/crl", NULL, r.quote, r.quote_len, 5,
		&out, &len, &err), DCR_EUSAGE);
	/* Port 1 on loopback: nothing listens there. */
	assert_int_equal(dcr_pcs_fetch("http://127.0.0.1:1/", "https://pccs.invalid/crl", NULL, r.quote, r.quote_len, 5,
		&out, &len, &err), DCR_EUNREACHABLE);
	assert_non_null(strstr(err.msg, "cannot reach http://127.0.0.1:1/sgx/certification/v4/pckcrl?ca=processor&encoding=der: "));
	assert_null(out);
	free_real(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_assemble),
		cmocka_unit_test(test_body_variations),
		cmocka_unit_test(test_body_malformed),
		cmocka_unit_test(test_crl_encodings),
		cmocka_unit_test(test_issuer_chain_header),
		cmocka_unit_test(test_json_members),
		cmocka_unit_test(test_real_collateral),
		cmocka_unit_test(test_pck_info),
		cmocka_unit_test(test_pck_info_issuers),
		cmocka_unit_test(test_next_update),
		cmocka_unit_test(test_fetch_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
