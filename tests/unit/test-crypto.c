/* Unit tests for lib/crypto.c and lib/util.c against published vectors. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "crypto.h"
#include "util.h"



/* FIPS 180-2 examples. */
static void test_sha256(void **state)
{
	uint8_t md[32];
	struct dcr_sha256 *h;
	char block[1000];

	assert_int_equal(dcr_sha256("abc", 3, md, NULL), 0);
	assert_hex(md, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(dcr_sha256("", 0, md, NULL), 0);
	assert_hex(md, 32, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

	h = dcr_sha256_new();
	assert_non_null(h);
	memset(block, 'a', sizeof(block));
	for (int i = 0; i < 1000; i++)
		assert_int_equal(dcr_sha256_update(h, block, sizeof(block), NULL), 0);
	assert_int_equal(dcr_sha256_final(h, md, NULL), 0);
	assert_hex(md, 32, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	dcr_sha256_free(h);
	dcr_sha256_free(NULL);
}

/* RFC 5869 appendix A, test cases 1 and 3. */
static void test_hkdf(void **state)
{
	uint8_t ikm[22], salt[13], info[10], prk[32], okm[42];
	size_t n;

	memset(ikm, 0x0b, sizeof(ikm));
	n = unhex_any("000102030405060708090a0b0c", salt, sizeof(salt));
	assert_int_equal(n, 13);
	unhex_any("f0f1f2f3f4f5f6f7f8f9", info, sizeof(info));
	assert_int_equal(dcr_hkdf_extract(salt, sizeof(salt), ikm, sizeof(ikm), prk, NULL), 0);
	assert_hex(prk, 32, "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
	assert_int_equal(dcr_hkdf_expand(prk, info, sizeof(info), okm, sizeof(okm), NULL), 0);
	assert_hex(okm, 42, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");

	assert_int_equal(dcr_hkdf_extract(NULL, 0, ikm, sizeof(ikm), prk, NULL), 0);
	assert_hex(prk, 32, "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04");
	assert_int_equal(dcr_hkdf_expand(prk, NULL, 0, okm, sizeof(okm), NULL), 0);
	assert_hex(okm, 42, "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

/*
 * SHA-256 and HMAC are fetched once and shared by every thread (lib/crypto.c):
 * four threads at once still give the vectors, every time.
 */
static void *hkdf_thread(void *arg)
{
	uint8_t ikm[22], prk[32], okm[42], want_okm[42], md[32];
	size_t bad = 0;

	(void)arg;
	memset(ikm, 0x0b, sizeof(ikm));
	unhex_any("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8", want_okm,
		sizeof(want_okm));
	for (int i = 0; i < 300; i++) {
		if (dcr_hkdf_extract(NULL, 0, ikm, sizeof(ikm), prk, NULL) < 0 ||
		    dcr_hkdf_expand(prk, NULL, 0, okm, sizeof(okm), NULL) < 0 || memcmp(okm, want_okm, sizeof(okm)) != 0)
			bad++;
		if (dcr_sha256("abc", 3, md, NULL) < 0 || md[0] != 0xba || md[31] != 0xad)
			bad++;
	}
	return (void *)(uintptr_t)bad;
}

static void test_threads(void **state)
{
	pthread_t t[4];
	void *bad;

	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hkdf_thread, NULL), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &bad), 0);
		assert_int_equal((uintptr_t)bad, 0);
	}
}

static void test_hkdf_limit(void **state)
{
	static uint8_t out[255 * 32 + 1];
	uint8_t prk[32] = { 0 };
	struct dcr_err err;

	assert_int_equal(dcr_hkdf_expand(prk, NULL, 0, out, sizeof(out) - 1, &err), 0);
	assert_int_equal(dcr_hkdf_expand(prk, NULL, 0, out, sizeof(out), &err), DCR_EFAIL);
	assert_non_null(strstr(err.msg, "at most 8160"));
}

/* RFC 8032 section 7.1, tests 1 and 2. */
static void test_ed25519_vectors(void **state)
{
	static const struct {
		const char *sk, *pk, *msg, *sig;
	} v[] = {
		{ "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
		  "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
		  "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
		  "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b" },
		{ "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
		  "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
		  "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
		  "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00" },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(*v); i++) {
		uint8_t sk[32], pk[32], msg[8], sig[64], want[64];
		size_t mlen = unhex_any(v[i].msg, msg, sizeof(msg));

		unhex_any(v[i].sk, sk, 32);
		assert_int_equal(dcr_ed25519_public(sk, pk, NULL), 0);
		assert_hex(pk, 32, v[i].pk);
		assert_int_equal(dcr_ed25519_sign(sk, msg, mlen, sig, NULL), 0);
		unhex_any(v[i].sig, want, 64);
		assert_memory_equal(sig, want, 64);
		assert_int_equal(dcr_ed25519_verify(pk, msg, mlen, sig, NULL), 0);
	}
}

/*
 * dcr_ed25519_sign keeps the last key imported: with two keys signing in
 * turn, and the kept one forgotten in between, each signature is the one
 * its own key makes (Ed25519 is deterministic) and only its key verifies it.
 */
static void test_ed25519_kept(void **state)
{
	static const int order[] = { 0, 0, 1, 0, -1, 1, 1, 0 };
	uint8_t sk[2][32], pk[2][32], first[2][64], sig[64];
	struct dcr_err err;

	/* The second key is the first with its last byte's bit 0 flipped: keys differing in one bit are told apart. */
	assert_int_equal(dcr_ed25519_keygen(sk[0], pk[0], &err), 0);
	memcpy(sk[1], sk[0], 32);
	sk[1][31] ^= 0x01;
	assert_int_equal(dcr_ed25519_public(sk[1], pk[1], &err), 0);
	for (int k = 0; k < 2; k++)
		assert_int_equal(dcr_ed25519_sign(sk[k], "head", 4, first[k], &err), 0);
	assert_memory_not_equal(first[0], first[1], 64);
	for (size_t i = 0; i < sizeof(order) / sizeof(*order); i++) {
		int k = order[i];

		if (k < 0) {
			dcr_ed25519_forget();
			continue;
		}
		assert_int_equal(dcr_ed25519_sign(sk[k], "head", 4, sig, &err), 0);
		assert_memory_equal(sig, first[k], 64);
		assert_int_equal(dcr_ed25519_verify(pk[k], "head", 4, sig, &err), 0);
		assert_int_equal(dcr_ed25519_verify(pk[1 - k], "head", 4, sig, &err), DCR_EINTEGRITY);
	}
	dcr_ed25519_forget();
}

/* Two keys one bit apart, signing in turn from four threads while one of them forgets: every signature its key's. */
static uint8_t kept_sk[2][32], kept_pk[2][32], kept_sig[2][64];

static void *kept_thread(void *arg)
{
	uintptr_t id = (uintptr_t)arg, bad = 0;
	uint8_t sig[64];

	for (int i = 0; i < 200; i++) {
		int k = (int)((i + id) & 1);

		if (id == 0 && i % 16 == 0)
			dcr_ed25519_forget();
		if (dcr_ed25519_sign(kept_sk[k], "head", 4, sig, NULL) < 0 || memcmp(sig, kept_sig[k], 64) != 0 ||
		    dcr_ed25519_verify(kept_pk[k], "head", 4, sig, NULL) < 0)
			bad++;
	}
	return (void *)bad;
}

static void test_kept_threads(void **state)
{
	pthread_t t[4];
	void *bad;

	assert_int_equal(dcr_ed25519_keygen(kept_sk[0], kept_pk[0], NULL), 0);
	memcpy(kept_sk[1], kept_sk[0], 32);
	kept_sk[1][31] ^= 0x01;
	assert_int_equal(dcr_ed25519_public(kept_sk[1], kept_pk[1], NULL), 0);
	for (int k = 0; k < 2; k++) {
		dcr_ed25519_forget();
		assert_int_equal(dcr_ed25519_sign(kept_sk[k], "head", 4, kept_sig[k], NULL), 0);
	}
	for (uintptr_t i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, kept_thread, (void *)i), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &bad), 0);
		assert_int_equal((uintptr_t)bad, 0);
	}
	dcr_ed25519_forget();
}

/* A kept key is the import of its bytes, kept under them; forgetting drops it and wipes them. */
static void test_kept_key(void **state)
{
	static struct dcr_kept_key kept = DCR_KEPT_KEY_INIT;
	static const uint8_t zero[32];
	uint8_t sk[32];
	EVP_PKEY *a, *b;

	assert_int_equal(dcr_random(sk, sizeof(sk), NULL), 0);
	assert_non_null(a = dcr_kept_key_get(&kept, EVP_PKEY_ED25519, sk));
	assert_non_null(b = dcr_kept_key_get(&kept, EVP_PKEY_ED25519, sk));
	assert_ptr_equal(a, b);
	assert_memory_equal(kept.sk, sk, 32);
	EVP_PKEY_free(b);
	/* Of another type, the same bytes are another key. */
	assert_non_null(b = dcr_kept_key_get(&kept, EVP_PKEY_X25519, sk));
	assert_ptr_not_equal(a, b);
	assert_int_equal(EVP_PKEY_get_id(b), EVP_PKEY_X25519);
	EVP_PKEY_free(b);
	dcr_kept_key_forget(&kept);
	assert_null(kept.key);
	assert_memory_equal(kept.sk, zero, 32);
	assert_int_equal(kept.generation, 1);
	/* The caller's reference outlives the forget. */
	assert_int_equal(EVP_PKEY_get_id(a), EVP_PKEY_ED25519);
	EVP_PKEY_free(a);
}

static void test_ed25519_reject(void **state)
{
	uint8_t sk[32], pk[32], other_sk[32], other_pk[32], sig[64];
	const char msg[] = "tree head 7";
	struct dcr_err err;

	assert_int_equal(dcr_ed25519_keygen(sk, pk, NULL), 0);
	assert_int_equal(dcr_ed25519_keygen(other_sk, other_pk, NULL), 0);
	assert_memory_not_equal(pk, other_pk, 32);
	assert_int_equal(dcr_ed25519_sign(sk, msg, sizeof(msg), sig, NULL), 0);
	assert_int_equal(dcr_ed25519_verify(pk, msg, sizeof(msg), sig, &err), 0);
	assert_int_equal(dcr_ed25519_verify(other_pk, msg, sizeof(msg), sig, &err), DCR_EINTEGRITY);
	assert_int_equal(dcr_ed25519_verify(pk, msg, sizeof(msg) - 1, sig, &err), DCR_EINTEGRITY);
	for (int bit = 0; bit < 512; bit += 37) {
		sig[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		assert_int_equal(dcr_ed25519_verify(pk, msg, sizeof(msg), sig, &err), DCR_EINTEGRITY);
		sig[bit / 8] ^= (uint8_t)(1 << (bit % 8));
	}
	assert_non_null(strstr(err.msg, "not valid"));
}

static void test_random_wipe_compare(void **state)
{
	uint8_t a[32], b[32], zero[32] = { 0 };

	assert_int_equal(dcr_random(a, sizeof(a), NULL), 0);
	assert_int_equal(dcr_random(b, sizeof(b), NULL), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_int_equal(dcr_random(a, 0, NULL), 0);
	assert_false(dcr_ct_equal(a, b, sizeof(a)));
	memcpy(b, a, sizeof(a));
	assert_true(dcr_ct_equal(a, b, sizeof(a)));
	b[31] ^= 1;
	assert_false(dcr_ct_equal(a, b, sizeof(a)));
	dcr_wipe(a, sizeof(a));
	assert_memory_equal(a, zero, sizeof(a));
	dcr_wipe(NULL, 10);
}

static void test_hex(void **state)
{
	uint8_t bytes[3];
	char hex[7];

	assert_int_equal(dcr_unhex("00fFa9", bytes, 3), 0);
	dcr_hex(bytes, 3, hex);
	assert_string_equal(hex, "00ffa9");
	assert_int_equal(dcr_unhex("00ff", bytes, 3), -1);
	assert_int_equal(dcr_unhex("00ffa9a", bytes, 3), -1);
	assert_int_equal(dcr_unhex("00ffg9", bytes, 3), -1);
}

static void temp_dir(char *dir, size_t size)
{
	snprintf(dir, size, "%s/dcr-test-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(dir));
}

static void test_keyfile(void **state)
{
	char dir[256], path[300], link[300];
	uint8_t key[32], back[32], small[16];
	struct dcr_err err;
	struct stat st;
	mode_t old = umask(0);

	temp_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/key", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	assert_int_equal(dcr_random(key, sizeof(key), NULL), 0);

	assert_int_equal(dcr_keyfile_write(path, key, sizeof(key), &err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 32);
	assert_int_equal(dcr_keyfile_read(path, back, sizeof(back), &err), 0);
	assert_memory_equal(key, back, sizeof(key));

	/* Never overwrite, never follow a link. */
	assert_int_equal(dcr_keyfile_write(path, key, sizeof(key), &err), DCR_EEXIST);
	assert_non_null(strstr(err.msg, "already exists"));
	assert_int_equal(symlink(path, link), 0);
	assert_int_not_equal(dcr_keyfile_write(link, key, sizeof(key), &err), 0);
	assert_int_not_equal(dcr_keyfile_read(link, back, sizeof(back), &err), 0);

	assert_int_equal(dcr_keyfile_read(path, small, sizeof(small), &err), DCR_EINVALID);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(dcr_keyfile_read(path, back, sizeof(back), &err), DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "chmod 600"));

	unlink(link);
	unlink(path);
	assert_int_equal(dcr_keyfile_read(path, back, sizeof(back), &err), DCR_ENOTFOUND);
	rmdir(dir);
	umask(old);
}

static void test_suggest(void **state)
{
	const char *const words[] = { "create", "rooms", "status", "stop", "fetch", NULL };

	assert_int_equal(dcr_edit_distance("kitten", "sitting", 10), 3);
	assert_int_equal(dcr_edit_distance("", "abc", 10), 3);
	assert_int_equal(dcr_edit_distance("abc", "abc", 0), 0);
	assert_int_equal(dcr_edit_distance("abcdef", "ghijkl", 2), 3);
	assert_int_equal(dcr_edit_distance("nmae", "name", 10), 1);
	assert_int_equal(dcr_edit_distance("ca", "abc", 10), 3);
	assert_string_equal(dcr_suggest("craete", words), "create");
	assert_string_equal(dcr_suggest("stauts", words), "status");
	assert_null(dcr_suggest("xyzzy", words));
}

/* RFC 3339 UTC times as Intel's collateral and --at write them. */
static void test_time(void **state)
{
	static const char *const bad[] = { "2025-07-19T10:01:18", "2025-07-19 10:01:18Z", "2025-02-30T00:00:00Z",
		"2025-02-29T00:00:00Z", "2100-02-29T00:00:00Z", "2025-13-01T00:00:00Z", "1969-12-31T23:59:59Z", "2025-07-19T24:00:00Z", "+025-07-19T10:01:18Z",
		"2025-07-19T10:01:18.5Z", "", NULL };
	char buf[32];
	time_t t;

	assert_int_equal(dcr_time_parse("1970-01-01T00:00:00Z", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(dcr_time_parse("2025-07-19T10:01:18Z", &t), 0);
	assert_int_equal(t, 1752919278);
	dcr_time_format(t, buf);
	assert_string_equal(buf, "2025-07-19T10:01:18Z");
	assert_int_equal(dcr_time_parse("2024-02-29T23:59:59Z", &t), 0);
	assert_int_equal(t, 1709251199);
	for (size_t i = 0; bad[i]; i++)
		if (dcr_time_parse(bad[i], &t) == 0)
			fail_msg("'%s' parsed", bad[i]);
	assert_true(dcr_now_ms() > (int64_t)1752919278 * 1000);
}

/* Growing a buffer of secrets keeps its contents, stops at the limit, and fails cleanly past it. */
static void test_secure_reserve(void **state)
{
	uint8_t *p = NULL;
	size_t cap = 0, len = 0;

	(void)state;
	assert_int_equal(dcr_secure_reserve(&p, &cap, len, 10, 0), 0);
	assert_true(cap >= 10);
	memcpy(p, "0123456789", 10);
	len = 10;
	assert_int_equal(dcr_secure_reserve(&p, &cap, len, 5000, 6000), 0);
	assert_true(cap >= 5000 && cap <= 6000);
	assert_memory_equal(p, "0123456789", 10);
	assert_int_equal(dcr_secure_reserve(&p, &cap, len, 6001, 6000), -1);
	assert_memory_equal(p, "0123456789", 10);
	assert_int_equal(dcr_secure_reserve(&p, &cap, len, 6000, 6000), 0);
	assert_int_equal(cap, 6000);
	assert_memory_equal(p, "0123456789", 10);
	dcr_wipe(p, cap);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_hkdf),
		cmocka_unit_test(test_hkdf_limit),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_ed25519_vectors),
		cmocka_unit_test(test_ed25519_reject),
		cmocka_unit_test(test_ed25519_kept),
		cmocka_unit_test(test_kept_key),
		cmocka_unit_test(test_kept_threads),
		cmocka_unit_test(test_random_wipe_compare),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_keyfile),
		cmocka_unit_test(test_suggest),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_secure_reserve),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
