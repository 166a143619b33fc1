/* Unit tests for lib/outname.c: the one rule for the names in a python computation's result. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "outname.h"

static int check(const char *name, size_t len, char *why)
{
	struct dcr_err err = { 0 };
	int r = dcr_outname_check(name, len, &err);

	snprintf(why, DCR_ERR_MSG_MAX, "%s", r ? err.msg : "");
	return r;
}

static void test_good(void **state)
{
	static const char *const good[] = {
		"a", "a.txt", "dir/", "dir/sub/", "dir/sub/file.csv", "...", ".hidden", "a..b", "x/.y/",
		"with space", "back\\slash", "~tilde", "\303\274ber", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
		"\xef\xbf\xbf", "\xf4\x8f\xbf\xbf", "\xc2\xa0", "dir/..x", "\x7e",
	};
	char why[DCR_ERR_MSG_MAX], name[DCR_OUTNAME_MAX + 2];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (check(good[i], strlen(good[i]), why) != 0)
			fail_msg("'%s' refused: %s", good[i], why);
	/* Limits: a part of 255 bytes, a name of 1024 (a directory's '/' counted). */
	memset(name, 'a', 255);
	assert_int_equal(check(name, 255, why), 0);
	for (size_t i = 0; i < DCR_OUTNAME_MAX; i++)
		name[i] = i % 200 == 199 ? '/' : 'a';
	assert_int_equal(check(name, DCR_OUTNAME_MAX, why), 0);
	name[DCR_OUTNAME_MAX - 1] = '/';
	assert_int_equal(check(name, DCR_OUTNAME_MAX, why), 0);
}

static void test_bad(void **state)
{
	static const struct {
		const char *name;
		size_t len;              /* 0: strlen */
		const char *why;
	} bad[] = {
		{ "", 0, "empty" },
		{ "/abs", 0, "absolute" },
		{ "/", 0, "absolute" },
		{ "a\nb", 0, "control character" },
		{ "\x1b[31mred", 0, "control character" },
		{ "tab\t", 0, "control character" },
		{ "del\x7f", 0, "control character" },
		{ "nul\0x", 5, "control character" },
		{ "c1\xc2\x80", 0, "control character" },
		{ "c1\xc2\x9f", 0, "control character" },
		{ "\xff", 0, "not UTF-8" },
		{ "\xc0\xae", 0, "not UTF-8" },            /* overlong '.' */
		{ "\xe0\x80\xaf", 0, "not UTF-8" },        /* overlong '/' */
		{ "\xed\xa0\x80", 0, "not UTF-8" },        /* a surrogate */
		{ "\xf4\x90\x80\x80", 0, "not UTF-8" },    /* above U+10FFFF */
		{ "\xc3", 0, "not UTF-8" },                /* cut short */
		{ "\xe2\x82", 0, "not UTF-8" },
		{ "a\x80", 0, "not UTF-8" },
		{ ".", 0, "'.' or '..'" },
		{ "..", 0, "'.' or '..'" },
		{ "./", 0, "'.' or '..'" },
		{ "../", 0, "'.' or '..'" },
		{ "a/..", 0, "'.' or '..'" },
		{ "a/../b", 0, "'.' or '..'" },
		{ "a/./b", 0, "'.' or '..'" },
		{ "a//b", 0, "empty part" },
		{ "a//", 0, "empty part" },
	};
	char why[DCR_ERR_MSG_MAX], name[DCR_OUTNAME_MAX + 2];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = bad[i].len ? bad[i].len : strlen(bad[i].name);

		if (check(bad[i].name, len, why) != DCR_EINVALID)
			fail_msg("case %zu accepted", i);
		if (!strstr(why, bad[i].why))
			fail_msg("case %zu: '%s', want '%s'", i, why, bad[i].why);
	}
	memset(name, 'a', sizeof(name));
	assert_int_equal(check(name, 256, why), DCR_EINVALID);
	assert_string_equal(why, "its name has a part longer than 255 bytes");
	for (size_t i = 0; i < sizeof(name); i++)
		name[i] = i % 200 == 199 ? '/' : 'a';
	assert_int_equal(check(name, DCR_OUTNAME_MAX + 1, why), DCR_EINVALID);
	assert_string_equal(why, "its name is longer than 1024 bytes");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
