/* Helpers shared by the cmocka unit tests: hex test vectors in and out. */
#ifndef DCR_TESTUTIL_H
#define DCR_TESTUTIL_H

/* Include after <cmocka.h>. */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "fileio.h"
#include "sgx.h"

/* Decode a vector's hex into out (at most max bytes); returns the length. */
static inline size_t unhex_any(const char *hex, uint8_t *out, size_t max)
{
	size_t n = strlen(hex) / 2;

	assert_int_equal(strlen(hex) % 2, 0);
	assert_true(n <= max);
	for (size_t i = 0; i < n; i++) {
		char pair[3] = { hex[2 * i], hex[2 * i + 1], 0 };

		assert_int_equal(dcr_unhex(pair, &out[i], 1), 0);
	}
	return n;
}

static inline void unhex_exact(const char *hex, uint8_t *out, size_t len)
{
	assert_int_equal(unhex_any(hex, out, len), len);
}

static inline void assert_hex(const uint8_t *got, size_t len, const char *want)
{
	char hex[2048];

	assert_true(2 * len + 1 <= sizeof(hex));
	dcr_hex(got, len, hex);
	assert_string_equal(hex, want);
}

/*
 * Examples in the man pages (man/PAGE.scd under $SOURCE_ROOT), so a test
 * checks the bytes the page shows against the real code and the two cannot
 * drift. In a preformatted block, an example starts with a line that starts
 * with its label followed by ":" or " (N bytes):".
 */
static inline char *page_read(const char *page)
{
	const char *root = getenv("SOURCE_ROOT");
	char path[4096];
	uint8_t *text = NULL;
	size_t len;
	struct dcr_err err;

	if (!root)
		fail_msg("SOURCE_ROOT is not set: the tests read the man pages from the source tree");
	snprintf(path, sizeof(path), "%s/man/%s.scd", root, page);
	if (dcr_read_file(path, 1u << 20, &text, &len, &err) < 0)
		fail_msg("%s", err.msg);
	return (char *)text;
}

/* The line after label's; *declared is N from "(N bytes)", or -1. */
static inline const char *page_label(const char *text, const char *page, const char *label, long *declared)
{
	size_t n = strlen(label);

	*declared = -1;
	for (const char *line = text; *line;) {
		const char *p = line + strspn(line, " \t"), *next = strchr(line, '\n');

		next = next ? next + 1 : line + strlen(line);
		if (strncmp(p, label, n) == 0 &&
		    (p[n] == ':' || (p[n] == ' ' && sscanf(p + n, " (%ld bytes):", declared) == 1)))
			return next;
		line = next;
	}
	fail_msg("%s: no example labelled '%s'", page, label);
	return NULL;
}

/*
 * The bytes of the hex dump labelled "label (N bytes):": the lines after
 * the label that hold bytes, up to the first that does not. Such a line is
 * runs of lowercase hex digit pairs separated by single spaces, then either
 * its end or two spaces and a comment. The dump must hold N bytes.
 * *out: free().
 */
static inline size_t page_hex(const char *page, const char *label, uint8_t **out)
{
	char *text = page_read(page);
	long declared;
	const char *p = page_label(text, page, label, &declared);
	size_t len = 0;
	uint8_t *buf;

	if (declared <= 0)
		fail_msg("%s, '%s': the label does not say how many bytes follow", page, label);
	assert_non_null(buf = malloc((size_t)declared + 64));
	for (;;) {
		const char *q = p + strspn(p, " "), *end = strchr(q, '\n');
		size_t n = 0;

		end = end ? end : q + strlen(q);
		/* A data line, all of it? */
		while (q + 1 < end && isxdigit((unsigned char)q[0]) && isxdigit((unsigned char)q[1]) &&
		       !isupper((unsigned char)q[0]) && !isupper((unsigned char)q[1])) {
			q += 2;
			n++;
			if (q < end && *q == ' ' && q + 1 < end && q[1] != ' ')
				q++;
		}
		if (n == 0 || (q != end && strncmp(q, "  ", 2) != 0))
			break;
		if (len + n > (size_t)declared)
			fail_msg("%s, '%s': more than the %ld bytes the page announces", page, label, declared);
		for (const char *h = p + strspn(p, " "); n > 0; n--) {
			buf[len++] = (uint8_t)(dcr_hex_digit(h[0]) << 4 | dcr_hex_digit(h[1]));
			h += h[2] == ' ' ? 3 : 2;
		}
		if (!*end)
			break;
		p = end + 1;
	}
	if ((size_t)declared != len)
		fail_msg("%s, '%s': the page says %ld bytes, its dump has %zu", page, label, declared, len);
	free(text);
	*out = buf;
	return len;
}

/* The text of an example: the lines after the label up to the end of the block, each with its newline. */
static inline char *page_lines(const char *page, const char *label)
{
	char *text = page_read(page), *copy;
	long declared;
	const char *p = page_label(text, page, label, &declared), *end = strstr(p, "```");

	if (!end)
		fail_msg("%s, '%s': the example is not in a preformatted block", page, label);
	assert_non_null(copy = strndup(p, (size_t)(end - p)));
	free(text);
	return copy;
}

/* A real DCAP quote and collateral in $SHARED_DIR/testdata/evidence/KIND (see its README); false when absent. */
struct sgx_sample {
	uint8_t *quote, *collateral, *root;
	size_t quote_len, collateral_len, root_len;
};

static inline bool dcap_sample_load(struct sgx_sample *r, const char *kind)
{
	const char *shared = getenv("SHARED_DIR");
	char path[4096];
	struct dcr_err err;

	memset(r, 0, sizeof(*r));
	if (!shared)
		return false;
	snprintf(path, sizeof(path), "%s/testdata/evidence/%s/quote.bin", shared, kind);
	if (dcr_read_file(path, DCR_SGX_QUOTE_MAX, &r->quote, &r->quote_len, &err) < 0)
		return false;
	snprintf(path, sizeof(path), "%s/testdata/evidence/%s/collateral.json", shared, kind);
	assert_int_equal(dcr_read_file(path, DCR_SGX_COLLATERAL_MAX, &r->collateral, &r->collateral_len, &err), 0);
	/* TDX has no root of its own: Intel's SGX Root CA is the anchor of both. */
	snprintf(path, sizeof(path), "%s/testdata/evidence/sgx-dcap/intel-sgx-root-ca.der", shared);
	assert_int_equal(dcr_read_file(path, 65536, &r->root, &r->root_len, &err), 0);
	return true;
}

static inline bool sgx_sample_load(struct sgx_sample *r)
{
	return dcap_sample_load(r, "sgx-dcap");
}

static inline bool tdx_sample_load(struct sgx_sample *r)
{
	return dcap_sample_load(r, "tdx");
}

static inline void sgx_sample_free(struct sgx_sample *r)
{
	free(r->quote);
	free(r->collateral);
	free(r->root);
}

#endif
