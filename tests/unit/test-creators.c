/*
 * Unit tests for cmd/dcrd/creators.c: the room creation rate. Each caller
 * has a bucket of its own, keyed on what it cannot borrow (issue 12
 * review, finding 3: keyed on the e-mail and issuer name, an outsider
 * emptied another's bucket), the table of buckets holds at most the
 * 10000 callers dcrd(8) says (finding 9: it grew to 16384), and at most 2
 * definitions are validated at once (a refusal no test showed).
 */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"
#include "dcrd.h"

/* A call request as dcr_call_accept leaves it: an address and a leaf with a public key (any 32 bytes for Ed25519). */
static void request(struct dcr_call_request *req, const char *email, const char *issuer_cn)
{
	uint8_t raw[32];
	EVP_PKEY *pk;
	X509 *leaf = X509_new();
	X509_NAME *name = X509_NAME_new();

	assert_int_equal(dcr_random(raw, sizeof(raw), NULL), 0);
	assert_non_null(pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, sizeof(raw)));
	assert_non_null(leaf);
	assert_int_equal(X509_set_pubkey(leaf, pk), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)issuer_cn, -1, -1, 0),
		1);
	assert_int_equal(X509_set_issuer_name(leaf, name), 1);
	X509_NAME_free(name);
	EVP_PKEY_free(pk);
	memset(req, 0, sizeof(*req));
	snprintf(req->email, sizeof(req->email), "%s", email);
	req->chain = sk_X509_new_null();
	sk_X509_push(req->chain, leaf);
}

/* Another's certificate for the same address, under the same issuer name, has a bucket of its own. */
static void test_rate_per_key(void **state)
{
	struct creators c;
	struct dcr_call_request bob, impostor;
	struct dcr_err err;

	(void)state;
	creators_init(&c);
	c.burst = 2;
	request(&bob, "bob@beta.example", "beta-ca");
	request(&impostor, "bob@beta.example", "beta-ca");
	assert_int_equal(creators_admit(&c, &impostor, &err), 0);
	assert_int_equal(creators_admit(&c, &impostor, &err), 0);
	assert_int_equal(creators_admit(&c, &impostor, &err), DCR_EFAIL);
	assert_non_null(strstr(err.msg, "has created too many rooms lately"));
	assert_int_equal(creators_admit(&c, &bob, &err), 0);
	assert_int_equal(creators_admit(&c, &bob, &err), 0);
	assert_int_equal(creators_admit(&c, &bob, &err), DCR_EFAIL);
	dcr_call_request_release(&bob);
	dcr_call_request_release(&impostor);
	creators_release(&c);
}

/* 10000 callers are remembered, no more: the next one makes the longest idle forgotten, with its empty bucket. */
static void test_buckets_bounded(void **state)
{
	struct creators c;
	struct dcr_call_request first, req;
	struct dcr_err err;

	(void)state;
	creators_init(&c);
	c.burst = 1;
	request(&first, "first@example.org", "ca");
	assert_int_equal(creators_admit(&c, &first, &err), 0);
	assert_int_equal(creators_admit(&c, &first, &err), DCR_EFAIL);
	for (int i = 1; i < 10000; i++) {
		request(&req, "x@example.org", "ca");
		assert_int_equal(creators_admit(&c, &req, &err), 0);
		dcr_call_request_release(&req);
	}
	assert_int_equal(c.n, 10000);
	assert_true(c.cap <= 10000);
	request(&req, "x@example.org", "ca");
	assert_int_equal(creators_admit(&c, &req, &err), 0);
	dcr_call_request_release(&req);
	assert_int_equal(c.n, 10000);
	assert_true(c.cap <= 10000);
	assert_int_equal(creators_admit(&c, &first, &err), 0);
	dcr_call_request_release(&first);
	creators_release(&c);
}

/* Two definitions are validated at once; a third is refused as busy, and a slot given back is taken again. */
static void test_validation_slots(void **state)
{
	struct creators c;
	struct dcr_err err;

	(void)state;
	creators_init(&c);
	assert_int_equal(creators_begin_validation(&c, &err), 0);
	assert_int_equal(creators_begin_validation(&c, &err), 0);
	assert_int_equal(creators_begin_validation(&c, &err), DCR_EFAIL);
	assert_string_equal(err.msg, "dcrd is busy checking 2 other room definitions or datasets; try again in a moment");
	creators_end_validation(&c);
	assert_int_equal(creators_begin_validation(&c, &err), 0);
	assert_int_equal(creators_begin_validation(&c, &err), DCR_EFAIL);
	creators_end_validation(&c);
	creators_end_validation(&c);
	creators_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rate_per_key),
		cmocka_unit_test(test_buckets_bounded),
		cmocka_unit_test(test_validation_slots),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
