/* Helpers shared by the cmocka unit tests: hex test vectors in and out. */
#ifndef DCR_TESTUTIL_H
#define DCR_TESTUTIL_H

/* Include after <cmocka.h>. */
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

/* The real SGX quote, collateral and root in $SHARED_DIR/testdata (see its README); false when absent. */
struct sgx_sample {
	uint8_t *quote, *collateral, *root;
	size_t quote_len, collateral_len, root_len;
};

static inline bool sgx_sample_load(struct sgx_sample *r)
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

static inline void sgx_sample_free(struct sgx_sample *r)
{
	free(r->quote);
	free(r->collateral);
	free(r->root);
}

#endif
