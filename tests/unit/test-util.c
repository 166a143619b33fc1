/* Unit tests for lib/util.c: the size and duration syntax of command-line options. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "util.h"

static void test_sizes(void **state)
{
	uint64_t v = 7;

	assert_true(dcr_parse_size("0", &v));
	assert_int_equal(v, 0);
	assert_true(dcr_parse_size("1234", &v));
	assert_int_equal(v, 1234);
	assert_true(dcr_parse_size("500K", &v));
	assert_int_equal(v, 500ull << 10);
	assert_true(dcr_parse_size("10M", &v));
	assert_int_equal(v, 10ull << 20);
	assert_true(dcr_parse_size("1G", &v));
	assert_int_equal(v, 1ull << 30);
	assert_true(dcr_parse_size("3T", &v));
	assert_int_equal(v, 3ull << 40);
	assert_true(dcr_parse_size("16777215T", &v));
	assert_int_equal(v, 16777215ull << 40);
	/* The room syntax too (dcr-room(5)), and powers of 1000. */
	assert_true(dcr_parse_size("1KB", &v));
	assert_int_equal(v, 1000);
	assert_true(dcr_parse_size("512MiB", &v));
	assert_int_equal(v, UINT64_C(512) << 20);
	assert_true(dcr_parse_size("2TB", &v));
	assert_int_equal(v, UINT64_C(2000000000000));
	/* One more terabyte does not fit in 64 bits. */
	v = 7;
	assert_false(dcr_parse_size("16777216T", &v));
	assert_false(dcr_parse_size("18446744073709551616", &v));
	assert_int_equal(v, 7);
	assert_false(dcr_parse_size("", &v));
	assert_false(dcr_parse_size(NULL, &v));
	assert_false(dcr_parse_size("-1", &v));
	assert_false(dcr_parse_size("+1", &v));
	assert_false(dcr_parse_size(" 1", &v));
	assert_false(dcr_parse_size("1k", &v));
	assert_false(dcr_parse_size("1kB", &v));
	assert_false(dcr_parse_size("1 MiB", &v));
	assert_false(dcr_parse_size("1X", &v));
	assert_false(dcr_parse_size("K", &v));
	assert_false(dcr_parse_size("1.5G", &v));
	assert_int_equal(v, 7);
}

static void test_durations(void **state)
{
	uint64_t v = 7;

	assert_true(dcr_parse_duration("90s", 3600, &v));
	assert_int_equal(v, 90);
	assert_true(dcr_parse_duration("30m", 3600, &v));
	assert_int_equal(v, 1800);
	assert_true(dcr_parse_duration("1h", 3600, &v));
	assert_int_equal(v, 3600);
	assert_true(dcr_parse_duration("7d", UINT64_MAX, &v));
	assert_int_equal(v, 7 * 86400);
	assert_true(dcr_parse_duration("213503982334601d", UINT64_MAX, &v));
	assert_int_equal(v, 213503982334601ull * 86400);
	v = 7;
	assert_false(dcr_parse_duration("61m", 3600, &v));
	assert_false(dcr_parse_duration("0s", 3600, &v));
	assert_false(dcr_parse_duration("10", 3600, &v));
	assert_false(dcr_parse_duration("10sec", 3600, &v));
	assert_false(dcr_parse_duration("s", 3600, &v));
	assert_false(dcr_parse_duration("-5s", 3600, &v));
	assert_false(dcr_parse_duration("5w", 3600, &v));
	assert_false(dcr_parse_duration("213503982334602d", UINT64_MAX, &v));
	assert_false(dcr_parse_duration(NULL, 3600, &v));
	assert_int_equal(v, 7);
}

/* Strict UTF-8, and text made valid UTF-8: what a cut left at the end goes, other stray bytes become '?'. */
static void test_utf8(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "plain", "plain" },
		{ "\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9" },
		{ "caf\xc3", "caf" },                      /* a two-byte sequence cut after its lead */
		{ "euro \xe2\x82", "euro " },             /* a three-byte one after two */
		{ "emoji \xf0\x9f\x98", "emoji " },      /* a four-byte one after three */
		{ "\xff\xfe ok", "?? ok" },               /* bytes that are never UTF-8 */
		{ "\xc3(", "?(" },                         /* a lead without its continuation */
		{ "\x80x", "?x" },                         /* a continuation without a lead */
		{ "\xc0\xaf", "??" },                     /* an overlong '/' */
		{ "\xed\xa0\x80", "???" },               /* a surrogate */
		{ "\xf4\x90\x80\x80", "????" },         /* above U+10FFFF */
		{ "\xc2\x9b kept", "\xc2\x9b kept" },   /* a C1 control is UTF-8: display escapes it */
		{ "a\xe2\x82\xac" "b\xc3", "a\xe2\x82\xac" "b" },
	};
	char buf[64];
	uint32_t cp;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf), "%s", cases[i].in);
		dcr_utf8_repair(buf);
		assert_string_equal(buf, cases[i].out);
	}
	assert_int_equal(dcr_utf8_decode((const unsigned char *)"\xe2\x82\xac", 3, &cp), 3);
	assert_int_equal(cp, 0x20ac);
	assert_int_equal(dcr_utf8_decode((const unsigned char *)"\xe2\x82\xac", 2, &cp), 0);
	assert_int_equal(dcr_utf8_decode((const unsigned char *)"\xe0\x80\x80", 3, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
