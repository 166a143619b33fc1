/* Helpers shared by the cmocka unit tests: hex test vectors in and out. */
#ifndef DCR_TESTUTIL_H
#define DCR_TESTUTIL_H

/* Include after <cmocka.h>. */
#include <stdint.h>
#include <string.h>

#include "crypto.h"

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

#endif
