/* Unit tests for lib/err.c: message formatting and exit statuses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"

static void test_exit_status(void **state)
{
	assert_int_equal(dcr_err_exit_status(DCR_OK), 0);
	assert_int_equal(dcr_err_exit_status(DCR_EFAIL), 1);
	assert_int_equal(dcr_err_exit_status(DCR_EUSAGE), 2);
	assert_int_equal(dcr_err_exit_status(DCR_EDENIED), 3);
	assert_int_equal(dcr_err_exit_status(DCR_ENOTFOUND), 4);
	assert_int_equal(dcr_err_exit_status(DCR_EATTEST), 5);
	assert_int_equal(dcr_err_exit_status(DCR_EINVALID), 6);
	assert_int_equal(dcr_err_exit_status(DCR_ECOMPUTE), 7);
	assert_int_equal(dcr_err_exit_status(DCR_EUNREACHABLE), 8);
	assert_int_equal(dcr_err_exit_status(DCR_EINTEGRITY), 9);
	assert_int_equal(dcr_err_exit_status(DCR_ENOMEM), 1);
	assert_int_equal(dcr_err_exit_status(DCR_EIO), 1);
	assert_int_equal(dcr_err_exit_status(DCR_EEXIST), 1);
	assert_int_equal(dcr_err_exit_status(-1000), 1);
}

static void test_messages(void **state)
{
	struct dcr_err err;

	assert_int_equal(dcr_err_set(&err, DCR_EINVALID, "bad '%s'", "x"), DCR_EINVALID);
	assert_int_equal(err.code, DCR_EINVALID);
	assert_string_equal(err.msg, "bad 'x'");
	dcr_err_prefix(&err, "room.yaml:%d", 3);
	assert_string_equal(err.msg, "room.yaml:3: bad 'x'");
	dcr_err_errno(&err, DCR_EIO, ENOENT, "cannot open '%s'", "f");
	assert_string_equal(err.msg, "cannot open 'f': No such file or directory");
	/* The message may be an argument of the next one: it was once printed empty. */
	dcr_err_set(&err, DCR_EATTEST, "%s", err.msg);
	assert_string_equal(err.msg, "cannot open 'f': No such file or directory");
	dcr_err_set(&err, DCR_EATTEST, "again: %s", err.msg);
	assert_string_equal(err.msg, "again: cannot open 'f': No such file or directory");
	/* A NULL detail is allowed and the code still comes back. */
	assert_int_equal(dcr_err_set(NULL, DCR_EDENIED, "x"), DCR_EDENIED);
	assert_string_equal(dcr_err_name(DCR_EDENIED), "denied");
}

static void test_truncation(void **state)
{
	struct dcr_err err;
	char big[2 * DCR_ERR_MSG_MAX];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	dcr_err_set(&err, DCR_EFAIL, "%s", big);
	assert_int_equal(strlen(err.msg), DCR_ERR_MSG_MAX - 1);
	dcr_err_prefix(&err, "prefix");
	assert_int_equal(strlen(err.msg), DCR_ERR_MSG_MAX - 1);
	assert_memory_equal(err.msg, "prefix: aaa", 11);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_status),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_truncation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
