/*
 * Unit tests for lib/merkle.c: RFC 6962 vectors, and a cross-check against
 * the RFC's recursion, for proofs built from every leaf and from the roots
 * of perfect subtrees.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "crypto.h"
#include "merkle.h"

/* Exhaustive proof checks up to this size; roots and appends further. */
#define N_MAX 300
#define ROOTS_MAX (2 * N_MAX + 2)
#define APPEND_MAX 1000

/*
 * The test data of the Certificate Transparency implementations
 * (transparency-dev/merkle proof/verify_test.go, also in trillian and
 * certificate-transparency-go): eight entries, the roots of their first
 * 1..8, and proofs among them. Their leaf numbers are 1-based; ours 0-based.
 */
static const char *const ct_entries[] = {
	"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
	"606162636465666768696a6b6c6d6e6f",
};

static const char *const ct_roots[] = {
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static const struct {
	uint64_t index, size;
	const char *proof[3];
} ct_inclusion[] = {
	{ 0, 8, { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		  "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		  "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 5, 8, { "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
		  "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
		  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 2, 3, { "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125" } },
	{ 1, 5, { "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		  "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		  "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
	{ 0, 1, { NULL } },
};

static const struct {
	uint64_t old_size, new_size;
	const char *proof[3];
} ct_consistency[] = {
	{ 1, 1, { NULL } },
	{ 1, 8, { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		  "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		  "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 6, 8, { "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
		  "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
		  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 2, 5, { "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		  "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
	{ 6, 7, { "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
		  "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
		  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
};

/*
 * Leaf i is the CT entry i for i < 8 and "entry i" after, so sizes up to 8
 * have the published roots and every leaf differs from every other.
 */
static uint8_t leaves[APPEND_MAX][32];
static uint8_t roots[ROOTS_MAX][32];
static uint8_t empty_root[32];

/* ---- The reference: RFC 9162 sections 2.1.1, 2.1.3.1 and 2.1.4.1, recursion and all. ---- */

static void ref_node(const uint8_t left[32], const uint8_t right[32], uint8_t out[32])
{
	uint8_t buf[65];

	buf[0] = 0x01;
	memcpy(buf + 1, left, 32);
	memcpy(buf + 33, right, 32);
	assert_int_equal(dcr_sha256(buf, sizeof(buf), out, NULL), 0);
}

static void ref_leaf(const uint8_t *entry, size_t len, uint8_t out[32])
{
	uint8_t buf[64];

	assert_true(len < sizeof(buf));
	buf[0] = 0x00;
	memcpy(buf + 1, entry, len);
	assert_int_equal(dcr_sha256(buf, len + 1, out, NULL), 0);
}

/* The largest power of two smaller than n, found the slow way on purpose. */
static uint64_t ref_split(uint64_t n)
{
	uint64_t k = 1;

	while (k < n - k)
		k *= 2;
	return k;
}

static uint8_t memo[N_MAX + 1][N_MAX + 1][32];
static bool memo_ok[N_MAX + 1][N_MAX + 1];

/* MTH(D[lo:hi]) over the test leaves. */
static void ref_mth(uint64_t lo, uint64_t hi, uint8_t out[32])
{
	uint8_t left[32], right[32];
	uint64_t k;

	if (hi <= N_MAX && memo_ok[lo][hi]) {
		memcpy(out, memo[lo][hi], 32);
		return;
	}
	if (hi == lo) {
		assert_int_equal(dcr_sha256("", 0, out, NULL), 0);
	} else if (hi - lo == 1) {
		memcpy(out, leaves[lo], 32);
	} else {
		k = ref_split(hi - lo);
		ref_mth(lo, lo + k, left);
		ref_mth(lo + k, hi, right);
		ref_node(left, right, out);
	}
	if (hi <= N_MAX) {
		memcpy(memo[lo][hi], out, 32);
		memo_ok[lo][hi] = true;
	}
}

/* PATH(m, D[lo:hi]), m relative to lo. */
static void ref_path(uint64_t m, uint64_t lo, uint64_t hi, struct dcr_merkle_proof *p)
{
	uint64_t k;

	if (hi - lo == 1) {
		p->len = 0;
		return;
	}
	k = ref_split(hi - lo);
	if (m < k) {
		ref_path(m, lo, lo + k, p);
		ref_mth(lo + k, hi, p->hash[p->len++]);
	} else {
		ref_path(m - k, lo + k, hi, p);
		ref_mth(lo, lo + k, p->hash[p->len++]);
	}
}

/* SUBPROOF(m, D[lo:hi], b), m relative to lo. */
static void ref_subproof(uint64_t m, uint64_t lo, uint64_t hi, bool b, struct dcr_merkle_proof *p)
{
	uint64_t k;

	if (m == hi - lo) {
		p->len = 0;
		if (!b)
			ref_mth(lo, hi, p->hash[p->len++]);
		return;
	}
	k = ref_split(hi - lo);
	if (m <= k) {
		ref_subproof(m, lo, lo + k, b, p);
		ref_mth(lo + k, hi, p->hash[p->len++]);
	} else {
		ref_subproof(m - k, lo + k, hi, false, p);
		ref_mth(lo, lo + k, p->hash[p->len++]);
	}
}

/*
 * The same definitions for a tree whose leaves are all one hash, where
 * MTH depends on the size alone: that reaches sizes near 2^63.
 */
static uint8_t uni_leaf[32];
static uint8_t uni_pow[64][32]; /* MTH of 2^j leaves */

static void uni_mth(uint64_t n, uint8_t out[32])
{
	uint8_t right[32];
	uint64_t k;
	unsigned j = 0;

	if (n == 1) {
		memcpy(out, uni_leaf, 32);
		return;
	}
	k = ref_split(n);
	while (((uint64_t)1 << j) != k)
		j++;
	if (n == 2 * k) {
		ref_node(uni_pow[j], uni_pow[j], out);
		return;
	}
	uni_mth(n - k, right);
	ref_node(uni_pow[j], right, out);
}

static void uni_path(uint64_t m, uint64_t n, struct dcr_merkle_proof *p)
{
	uint64_t k;

	if (n == 1) {
		p->len = 0;
		return;
	}
	k = ref_split(n);
	if (m < k) {
		uni_path(m, k, p);
		uni_mth(n - k, p->hash[p->len++]);
	} else {
		uni_path(m - k, n - k, p);
		uni_mth(k, p->hash[p->len++]);
	}
}

static void uni_subproof(uint64_t m, uint64_t n, bool b, struct dcr_merkle_proof *p)
{
	uint64_t k;

	if (m == n) {
		p->len = 0;
		if (!b)
			uni_mth(n, p->hash[p->len++]);
		return;
	}
	k = ref_split(n);
	if (m <= k) {
		uni_subproof(m, k, b, p);
		uni_mth(n - k, p->hash[p->len++]);
	} else {
		uni_subproof(m - k, n - k, false, p);
		uni_mth(k, p->hash[p->len++]);
	}
}

/* ---- The library's view of the leaves. ---- */

struct reader {
	uint64_t size;      /* the size the library was asked about */
	uint64_t reads;
	uint64_t fail_at;   /* UINT64_MAX: never */
	bool uniform;
};

static int read_leaf(void *ctx, uint64_t index, uint8_t out[32])
{
	struct reader *r = ctx;

	assert_true(index < r->size);
	r->reads++;
	if (index == r->fail_at)
		return DCR_EIO;
	memcpy(out, r->uniform ? uni_leaf : leaves[index], 32);
	return 0;
}

static void lib_inclusion(uint64_t index, uint64_t size, struct dcr_merkle_proof *p)
{
	struct reader r = { .size = size, .fail_at = UINT64_MAX };
	struct dcr_err err;

	assert_int_equal(dcr_merkle_inclusion_proof(index, size, read_leaf, &r, p, &err), 0);
	/* Every leaf but the proven one, once at most. */
	assert_true(r.reads < size);
}

static void lib_consistency(uint64_t old_size, uint64_t new_size, struct dcr_merkle_proof *p)
{
	struct reader r = { .size = new_size, .fail_at = UINT64_MAX };
	struct dcr_err err;

	assert_int_equal(dcr_merkle_consistency_proof(old_size, new_size, read_leaf, &r, p, &err), 0);
	assert_true(r.reads <= new_size);
}

/*
 * The roots of perfect subtrees, from the reference (or from what the
 * frontier's appends gave, in test_append_nodes), with every read checked
 * to lie below the size the library was asked about.
 */
static uint8_t (*kept)[APPEND_MAX][32]; /* kept[level][index], when set */

static int read_node(void *ctx, unsigned level, uint64_t index, uint8_t out[32])
{
	struct reader *r = ctx;

	assert_true(level < 64);
	assert_true(index < (r->size >> level));
	if (r->reads++ == r->fail_at)
		return DCR_EIO;
	if (r->uniform)
		memcpy(out, uni_pow[level], 32);
	else if (kept)
		memcpy(out, kept[level][index], 32);
	else
		ref_mth(index << level, (index + 1) << level, out);
	return 0;
}

static unsigned ceil_log2(uint64_t n)
{
	unsigned b = 0;

	while (b < 64 && ((uint64_t)1 << b) < n)
		b++;
	return b;
}

static void nodes_inclusion(uint64_t index, uint64_t size, struct dcr_merkle_proof *p)
{
	struct reader r = { .size = size, .fail_at = UINT64_MAX };
	struct dcr_err err;

	assert_int_equal(dcr_merkle_inclusion_proof_nodes(index, size, read_node, &r, p, &err), 0);
	assert_true(r.reads <= 2 * ceil_log2(size));
}

static void nodes_consistency(uint64_t old_size, uint64_t new_size, struct dcr_merkle_proof *p)
{
	struct reader r = { .size = new_size, .fail_at = UINT64_MAX };
	struct dcr_err err;

	assert_int_equal(dcr_merkle_consistency_proof_nodes(old_size, new_size, read_node, &r, p, &err), 0);
	assert_true(r.reads <= 2 * ceil_log2(new_size) + 1);
}

static void assert_same_proof(const struct dcr_merkle_proof *a, const struct dcr_merkle_proof *b)
{
	assert_int_equal(a->len, b->len);
	assert_memory_equal(a->hash, b->hash, a->len * 32);
}

static int setup(void **state)
{
	char entry[32];

	for (size_t i = 0; i < APPEND_MAX; i++) {
		uint8_t buf[32];
		size_t len;

		if (i < 8) {
			len = unhex_any(ct_entries[i], buf, sizeof(buf));
		} else {
			len = (size_t)snprintf(entry, sizeof(entry), "entry %zu", i);
			memcpy(buf, entry, len);
		}
		ref_leaf(buf, len, leaves[i]);
	}
	for (size_t n = 0; n < ROOTS_MAX; n++)
		ref_mth(0, n, roots[n]);
	assert_int_equal(dcr_sha256("", 0, empty_root, NULL), 0);

	ref_leaf((const uint8_t *)"same", 4, uni_leaf);
	memcpy(uni_pow[0], uni_leaf, 32);
	for (int j = 1; j < 64; j++)
		ref_node(uni_pow[j - 1], uni_pow[j - 1], uni_pow[j]);
	return 0;
}

static void flip(uint8_t *h, unsigned bit)
{
	h[bit / 8] ^= (uint8_t)(1u << (bit % 8));
}

static void assert_fails(int r)
{
	assert_true(r == DCR_EINTEGRITY || r == DCR_EINVALID);
}

/* ---- Tests. ---- */

static void test_vectors(void **state)
{
	struct dcr_merkle_frontier f;
	struct dcr_merkle_proof p, want;
	uint8_t root[32], entry[16], lh[32];
	struct dcr_err err;

	/* The reference itself must agree with the published roots first. */
	for (size_t n = 0; n <= 8; n++)
		assert_hex(roots[n], 32, ct_roots[n]);

	dcr_merkle_frontier_init(&f);
	for (uint64_t n = 0; n <= 8; n++) {
		struct reader r = { .size = n, .fail_at = UINT64_MAX };

		assert_int_equal(dcr_merkle_root(n, read_leaf, &r, root, &err), 0);
		assert_hex(root, 32, ct_roots[n]);
		assert_int_equal(r.reads, n);
		assert_int_equal(dcr_merkle_frontier_root(&f, root, &err), 0);
		assert_hex(root, 32, ct_roots[n]);
		if (n < 8) {
			size_t len = unhex_any(ct_entries[n], entry, sizeof(entry));

			assert_int_equal(dcr_merkle_leaf_hash(entry, len, lh, &err), 0);
			assert_memory_equal(lh, leaves[n], 32);
			assert_int_equal(dcr_merkle_frontier_append(&f, lh, &err), 0);
		}
	}

	for (size_t v = 0; v < sizeof(ct_inclusion) / sizeof(*ct_inclusion); v++) {
		uint64_t i = ct_inclusion[v].index, n = ct_inclusion[v].size;

		want.len = 0;
		while (want.len < 3 && ct_inclusion[v].proof[want.len]) {
			unhex_exact(ct_inclusion[v].proof[want.len], want.hash[want.len], 32);
			want.len++;
		}
		lib_inclusion(i, n, &p);
		assert_same_proof(&p, &want);
		nodes_inclusion(i, n, &p);
		assert_same_proof(&p, &want);
		assert_int_equal(dcr_merkle_inclusion_verify(i, n, leaves[i], &want, roots[n], &err), 0);
	}

	for (size_t v = 0; v < sizeof(ct_consistency) / sizeof(*ct_consistency); v++) {
		uint64_t m = ct_consistency[v].old_size, n = ct_consistency[v].new_size;

		want.len = 0;
		while (want.len < 3 && ct_consistency[v].proof[want.len]) {
			unhex_exact(ct_consistency[v].proof[want.len], want.hash[want.len], 32);
			want.len++;
		}
		lib_consistency(m, n, &p);
		assert_same_proof(&p, &want);
		nodes_consistency(m, n, &p);
		assert_same_proof(&p, &want);
		assert_int_equal(dcr_merkle_consistency_verify(m, n, roots[m], roots[n], &want, &err), 0);
	}
}

static void inclusion_corruptions(uint64_t i, uint64_t n, const struct dcr_merkle_proof *p,
	bool every_bit)
{
	const uint64_t other_index[] = { i - 1, i + 1, i ^ 1, i ^ 2, i ^ 4, n - 1 - i, 0, n - 1 };
	const uint64_t other_size[] = { n - 1, n + 1, n / 2, 2 * n, i, i + 1 };
	struct dcr_merkle_proof q;
	uint8_t bad[32];
	struct dcr_err err;

	for (size_t j = 0; j < p->len; j++) {
		for (unsigned bit = 0; bit < 256; bit++) {
			if (!every_bit && bit != (i * 31 + n * 7 + j * 13) % 256)
				continue;
			q = *p;
			flip(q.hash[j], bit);
			assert_int_equal(dcr_merkle_inclusion_verify(i, n, leaves[i], &q, roots[n], &err),
				DCR_EINTEGRITY);
		}
	}
	if (p->len > 0)
		assert_non_null(strstr(err.msg, "does not lead to the root"));

	/* Another leaf, another root. */
	memcpy(bad, leaves[i], 32);
	flip(bad, (unsigned)(i % 256));
	assert_int_equal(dcr_merkle_inclusion_verify(i, n, bad, p, roots[n], &err), DCR_EINTEGRITY);
	assert_int_equal(dcr_merkle_inclusion_verify(i, n, leaves[i + 1], p, roots[n], &err),
		DCR_EINTEGRITY);
	memcpy(bad, roots[n], 32);
	flip(bad, (unsigned)(n % 256));
	assert_int_equal(dcr_merkle_inclusion_verify(i, n, leaves[i], p, bad, &err), DCR_EINTEGRITY);
	assert_fails(dcr_merkle_inclusion_verify(i, n, leaves[i], p, roots[n + 1], &err));
	assert_fails(dcr_merkle_inclusion_verify(i, n, leaves[i], p, roots[n - 1], &err));
	assert_fails(dcr_merkle_inclusion_verify(i, n, leaves[i], p, empty_root, &err));

	/* The leaf claimed at another place. */
	for (size_t k = 0; k < sizeof(other_index) / sizeof(*other_index); k++) {
		uint64_t o = other_index[k];

		if (o == i)
			continue;
		if (o >= n)
			assert_int_equal(dcr_merkle_inclusion_verify(o, n, leaves[i], p, roots[n], &err),
				DCR_EINVALID);
		else
			assert_fails(dcr_merkle_inclusion_verify(o, n, leaves[i], p, roots[n], &err));
	}

	/*
	 * The proof replayed against another tree head (a size with its own
	 * root). Another size under the same root is the signer's lie to
	 * catch, not the proof's: RFC 9162 paths do not commit to the size.
	 */
	for (size_t k = 0; k < sizeof(other_size) / sizeof(*other_size); k++) {
		uint64_t s = other_size[k];

		if (s == n || s >= ROOTS_MAX)
			continue;
		if (s <= i)
			assert_int_equal(dcr_merkle_inclusion_verify(i, s, leaves[i], p, roots[s], &err),
				DCR_EINVALID);
		else
			assert_fails(dcr_merkle_inclusion_verify(i, s, leaves[i], p, roots[s], &err));
	}

	/* Wrong length: truncated, extended, with something in front, over the limit. */
	if (p->len > 0) {
		q = *p;
		q.len--;
		assert_int_equal(dcr_merkle_inclusion_verify(i, n, leaves[i], &q, roots[n], &err),
			DCR_EINVALID);
		memmove(q.hash[0], q.hash[1], q.len * 32);
		assert_int_equal(dcr_merkle_inclusion_verify(i, n, leaves[i], &q, roots[n], &err),
			DCR_EINVALID);
	}
	q = *p;
	memcpy(q.hash[q.len++], roots[n], 32);
	assert_int_equal(dcr_merkle_inclusion_verify(i, n, leaves[i], &q, roots[n], &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "hashes"));
	q = *p;
	memmove(q.hash[1], q.hash[0], q.len * 32);
	memset(q.hash[0], 0, 32);
	q.len++;
	assert_int_equal(dcr_merkle_inclusion_verify(i, n, leaves[i], &q, roots[n], &err), DCR_EINVALID);
	q.len = DCR_MERKLE_PROOF_MAX + 1;
	assert_int_equal(dcr_merkle_inclusion_verify(i, n, leaves[i], &q, roots[n], &err), DCR_EINVALID);
}

static void test_inclusion_all(void **state)
{
	struct dcr_merkle_proof p, want;
	struct dcr_err err;

	for (uint64_t n = 1; n <= N_MAX; n++) {
		for (uint64_t i = 0; i < n; i++) {
			ref_path(i, 0, n, &want);
			lib_inclusion(i, n, &p);
			assert_same_proof(&p, &want);
			nodes_inclusion(i, n, &p);
			assert_same_proof(&p, &want);
			assert_int_equal(dcr_merkle_inclusion_verify(i, n, leaves[i], &p, roots[n], &err), 0);
			inclusion_corruptions(i, n, &p, n <= 20);
		}
	}
}

static void consistency_corruptions(uint64_t m, uint64_t n, const struct dcr_merkle_proof *p,
	bool every_bit)
{
	const uint64_t other_old[] = { m - 1, m + 1, m ^ 1, m ^ 2, m ^ 4, m / 2, 2 * m, n };
	const uint64_t other_new[] = { n - 1, n + 1, n / 2, 2 * n, m };
	struct dcr_merkle_proof q;
	uint8_t bad[32];
	struct dcr_err err;

	for (size_t j = 0; j < p->len; j++) {
		for (unsigned bit = 0; bit < 256; bit++) {
			if (!every_bit && bit != (m * 31 + n * 7 + j * 13) % 256)
				continue;
			q = *p;
			flip(q.hash[j], bit);
			assert_int_equal(dcr_merkle_consistency_verify(m, n, roots[m], roots[n], &q, &err),
				DCR_EINTEGRITY);
		}
	}

	/* Roots that are not the trees'. */
	memcpy(bad, roots[m], 32);
	flip(bad, (unsigned)(m % 256));
	assert_int_equal(dcr_merkle_consistency_verify(m, n, bad, roots[n], p, &err), DCR_EINTEGRITY);
	if (m < n)
		assert_non_null(strstr(err.msg, "old root"));
	memcpy(bad, roots[n], 32);
	flip(bad, (unsigned)(n % 256));
	assert_int_equal(dcr_merkle_consistency_verify(m, n, roots[m], bad, p, &err), DCR_EINTEGRITY);
	if (m < n) {
		assert_non_null(strstr(err.msg, (m & (m - 1)) ? "new root mismatch" :
			"the old root does not lead to the new root"));
		assert_int_equal(dcr_merkle_consistency_verify(m, n, roots[n], roots[m], p, &err),
			DCR_EINTEGRITY);
		assert_int_equal(dcr_merkle_consistency_verify(m, n, roots[m], roots[n + 1], p, &err),
			DCR_EINTEGRITY);
	}

	/* Another old or new tree head, each with its own root. */
	for (size_t k = 0; k < sizeof(other_old) / sizeof(*other_old); k++) {
		uint64_t o = other_old[k];

		/* Every tree extends the empty one, so old size 0 proves nothing wrong. */
		if (o == m || o == 0 || o >= ROOTS_MAX)
			continue;
		if (o > n)
			assert_int_equal(dcr_merkle_consistency_verify(o, n, roots[o], roots[n], p, &err),
				DCR_EINVALID);
		else
			assert_fails(dcr_merkle_consistency_verify(o, n, roots[o], roots[n], p, &err));
	}
	for (size_t k = 0; k < sizeof(other_new) / sizeof(*other_new); k++) {
		uint64_t s = other_new[k];

		if (s == n || s >= ROOTS_MAX)
			continue;
		if (s < m)
			assert_int_equal(dcr_merkle_consistency_verify(m, s, roots[m], roots[s], p, &err),
				DCR_EINVALID);
		else
			assert_fails(dcr_merkle_consistency_verify(m, s, roots[m], roots[s], p, &err));
	}

	/* Wrong length. */
	if (p->len > 0) {
		q = *p;
		q.len--;
		assert_int_equal(dcr_merkle_consistency_verify(m, n, roots[m], roots[n], &q, &err),
			DCR_EINVALID);
		q.len = 0;
		assert_int_equal(dcr_merkle_consistency_verify(m, n, roots[m], roots[n], &q, &err),
			DCR_EINVALID);
	}
	q = *p;
	memcpy(q.hash[q.len++], roots[n], 32);
	assert_int_equal(dcr_merkle_consistency_verify(m, n, roots[m], roots[n], &q, &err), DCR_EINVALID);
	q = *p;
	memmove(q.hash[1], q.hash[0], q.len * 32);
	memcpy(q.hash[0], roots[m], 32);
	q.len++;
	assert_int_equal(dcr_merkle_consistency_verify(m, n, roots[m], roots[n], &q, &err), DCR_EINVALID);
	q.len = DCR_MERKLE_PROOF_MAX + 1;
	assert_int_equal(dcr_merkle_consistency_verify(m, n, roots[m], roots[n], &q, &err), DCR_EINVALID);
}

static void test_consistency_all(void **state)
{
	struct dcr_merkle_proof p, want;
	struct dcr_err err;

	for (uint64_t n = 1; n <= N_MAX; n++) {
		for (uint64_t m = 1; m <= n; m++) {
			ref_subproof(m, 0, n, true, &want);
			lib_consistency(m, n, &p);
			assert_same_proof(&p, &want);
			nodes_consistency(m, n, &p);
			assert_same_proof(&p, &want);
			assert_int_equal(dcr_merkle_consistency_verify(m, n, roots[m], roots[n], &p, &err), 0);
			consistency_corruptions(m, n, &p, n <= 16);
		}
	}
}

/* Sizes 0 and equal sizes have empty proofs and only the roots to check. */
static void test_consistency_trivial(void **state)
{
	struct dcr_merkle_proof p;
	struct dcr_err err;

	for (uint64_t n = 0; n <= 20; n++) {
		nodes_consistency(0, n, &p);
		assert_int_equal(p.len, 0);
		nodes_consistency(n, n, &p);
		assert_int_equal(p.len, 0);
		lib_consistency(0, n, &p);
		assert_int_equal(p.len, 0);
		assert_int_equal(dcr_merkle_consistency_verify(0, n, empty_root, roots[n], &p, &err), 0);
		assert_int_equal(dcr_merkle_consistency_verify(0, n, roots[1], roots[n], &p, &err),
			DCR_EINTEGRITY);
		assert_non_null(strstr(err.msg, "old root mismatch"));
		lib_consistency(n, n, &p);
		assert_int_equal(p.len, 0);
		assert_int_equal(dcr_merkle_consistency_verify(n, n, roots[n], roots[n], &p, &err), 0);
		assert_int_equal(dcr_merkle_consistency_verify(n, n, roots[n], roots[n + 1], &p, &err),
			DCR_EINTEGRITY);
		p.len = 1;
		memcpy(p.hash[0], roots[n], 32);
		assert_int_equal(dcr_merkle_consistency_verify(n, n, roots[n], roots[n], &p, &err),
			DCR_EINVALID);
		assert_int_equal(dcr_merkle_consistency_verify(0, n, empty_root, roots[n], &p, &err),
			DCR_EINVALID);
	}
}

static void test_append(void **state)
{
	struct dcr_merkle_frontier f;
	uint8_t got[32], batch[32], want[32];
	struct dcr_err err;

	dcr_merkle_frontier_init(&f);
	for (uint64_t n = 0; n <= APPEND_MAX; n++) {
		struct reader r = { .size = n, .fail_at = UINT64_MAX };

		assert_int_equal(f.size, n);
		assert_int_equal(dcr_merkle_frontier_root(&f, got, &err), 0);
		assert_int_equal(dcr_merkle_root(n, read_leaf, &r, batch, &err), 0);
		assert_int_equal(r.reads, n);
		assert_memory_equal(got, batch, 32);
		if (n < ROOTS_MAX)
			memcpy(want, roots[n], 32);
		else
			ref_mth(0, n, want);
		assert_memory_equal(got, want, 32);
		if (n < APPEND_MAX)
			assert_int_equal(dcr_merkle_frontier_append(&f, leaves[n], &err), 0);
	}
}

/*
 * The subtrees each append completes are the reference's, at the place the
 * header gives; kept, they serve every proof the reference gives, for
 * every pair of sizes up to 128 and a sweep of old sizes against each
 * size up to N_MAX (where the reference keeps what it computed).
 */
static uint8_t kept_nodes[11][APPEND_MAX][32];

static void test_append_nodes(void **state)
{
	struct dcr_merkle_frontier f;
	uint8_t nodes[DCR_MERKLE_PROOF_MAX][32], want[32], root[32];
	struct dcr_merkle_proof p, ref;
	struct dcr_err err;
	unsigned n_nodes;

	assert_true(APPEND_MAX < 1 << 11);
	dcr_merkle_frontier_init(&f);
	for (uint64_t n = 0; n < APPEND_MAX; n++) {
		assert_int_equal(dcr_merkle_frontier_append_nodes(&f, leaves[n], nodes, &n_nodes, &err), 0);
		assert_int_equal(f.size, n + 1);
		assert_int_equal(n_nodes, (unsigned)__builtin_ctzll(n + 1));
		memcpy(kept_nodes[0][n], leaves[n], 32);
		for (unsigned i = 0; i < n_nodes; i++) {
			uint64_t index = (f.size >> (i + 1)) - 1;

			ref_mth(index << (i + 1), (index + 1) << (i + 1), want);
			assert_memory_equal(nodes[i], want, 32);
			memcpy(kept_nodes[i + 1][index], nodes[i], 32);
		}
		assert_int_equal(dcr_merkle_frontier_root(&f, root, &err), 0);
		ref_mth(0, n + 1, want);
		assert_memory_equal(root, want, 32);
	}
	kept = kept_nodes;
	for (uint64_t n = 0; n <= APPEND_MAX; n++) {
		struct reader r = { .size = n, .fail_at = UINT64_MAX };

		assert_int_equal(dcr_merkle_root_nodes(n, read_node, &r, root, &err), 0);
		assert_int_equal(r.reads, (uint64_t)__builtin_popcountll(n));
		if (n < ROOTS_MAX)
			assert_memory_equal(root, roots[n], 32);
	}
	for (uint64_t n = 1; n <= N_MAX; n++) {
		for (uint64_t m = 0; m <= n; m += n <= 128 ? 1 : 7) {
			ref.len = 0;
			if (m > 0 && m < n)
				ref_subproof(m, 0, n, true, &ref);
			nodes_consistency(m, n, &p);
			assert_same_proof(&p, &ref);
			if (m < n) {
				ref_path(m, 0, n, &ref);
				nodes_inclusion(m, n, &p);
				assert_same_proof(&p, &ref);
			}
		}
	}
	kept = NULL;
	/* Without a place for them, the same append and no nodes. */
	dcr_merkle_frontier_init(&f);
	f.size = 3;
	assert_int_equal(dcr_merkle_frontier_append_nodes(&f, leaves[3], NULL, &n_nodes, &err), 0);
	assert_int_equal(n_nodes, 2);
}

/* The top of the size range, on trees of identical leaves. */
static void test_huge(void **state)
{
	const uint64_t top = DCR_MERKLE_SIZE_MAX;
	const uint64_t sizes[] = {
		top, top - 1, top / 2 + 1, top / 2, ((uint64_t)1 << 32) + 5, 0x5a5a5a5a5a5a5a5bull,
		0x7fffffff00000001ull, 1000003,
	};
	struct dcr_merkle_frontier f;
	struct dcr_merkle_proof p, q;
	uint8_t root[32], want[32], old_root[32];
	struct dcr_err err;

	for (size_t s = 0; s < sizeof(sizes) / sizeof(*sizes); s++) {
		uint64_t n = sizes[s];
		const uint64_t indexes[] = { 0, 1, n / 3, n / 2, n - 2, n - 1 };

		uni_mth(n, root);
		for (size_t k = 0; k < sizeof(indexes) / sizeof(*indexes); k++) {
			uint64_t i = indexes[k];

			uni_path(i, n, &p);
			assert_true(p.len <= 63);
			{
				struct reader r = { .size = n, .fail_at = UINT64_MAX, .uniform = true };

				assert_int_equal(dcr_merkle_inclusion_proof_nodes(i, n, read_node, &r, &q, &err), 0);
				assert_same_proof(&q, &p);
				assert_true(r.reads <= 2 * ceil_log2(n));
			}
			assert_int_equal(dcr_merkle_inclusion_verify(i, n, uni_leaf, &p, root, &err), 0);
			for (size_t j = 0; j < p.len; j++) {
				q = p;
				flip(q.hash[j], (unsigned)(j * 5 % 256));
				assert_int_equal(dcr_merkle_inclusion_verify(i, n, uni_leaf, &q, root, &err),
					DCR_EINTEGRITY);
			}
		}
		for (size_t k = 0; k < sizeof(sizes) / sizeof(*sizes); k++) {
			uint64_t m = sizes[k];

			if (m > n)
				continue;
			for (uint64_t d = 0; d < 3 && d < m; d++) {
				uni_mth(m - d, old_root);
				uni_subproof(m - d, n, true, &p);
				assert_true(p.len <= DCR_MERKLE_PROOF_MAX);
				{
					struct reader r = { .size = n, .fail_at = UINT64_MAX, .uniform = true };

					assert_int_equal(dcr_merkle_consistency_proof_nodes(m - d, n, read_node, &r,
						&q, &err), 0);
					assert_same_proof(&q, &p);
					assert_true(r.reads <= 2 * ceil_log2(n) + 1);
				}
				assert_int_equal(dcr_merkle_consistency_verify(m - d, n, old_root, root, &p,
					&err), 0);
				for (size_t j = 0; j < p.len; j++) {
					q = p;
					flip(q.hash[j], (unsigned)(j * 11 % 256));
					assert_int_equal(dcr_merkle_consistency_verify(m - d, n, old_root, root,
						&q, &err), DCR_EINTEGRITY);
				}
			}
		}
	}

	/* Both proofs reach their limits: 63 and 64 hashes. */
	uni_path(top - 1, top, &p);
	assert_int_equal(p.len, 63);
	uni_subproof(top - 1, top, true, &p);
	assert_int_equal(p.len, 64);
	uni_mth(top - 1, old_root);
	uni_mth(top, root);
	assert_int_equal(dcr_merkle_consistency_verify(top - 1, top, old_root, root, &p, &err), 0);

	/* A frontier one leaf short of full, filled, then refusing more. */
	dcr_merkle_frontier_init(&f);
	f.size = top - 1;
	for (int j = 0; j < 63; j++)
		memcpy(f.hash[j], uni_pow[j], 32);
	assert_int_equal(dcr_merkle_frontier_root(&f, root, &err), 0);
	uni_mth(top - 1, want);
	assert_memory_equal(root, want, 32);
	assert_int_equal(dcr_merkle_frontier_append(&f, uni_leaf, &err), 0);
	assert_int_equal(dcr_merkle_frontier_root(&f, root, &err), 0);
	assert_memory_equal(root, uni_pow[63], 32);
	assert_int_equal(dcr_merkle_frontier_append(&f, uni_leaf, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "full"));
	assert_int_equal(f.size, top);
}

static void test_invalid(void **state)
{
	const uint64_t over = DCR_MERKLE_SIZE_MAX + 1;
	struct reader r = { .size = 10, .fail_at = UINT64_MAX };
	struct dcr_merkle_proof p = { .len = 0 };
	uint8_t root[32];
	struct dcr_err err;

	assert_int_equal(dcr_merkle_inclusion_proof(10, 10, read_leaf, &r, &p, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "leaf 10 is not in a tree of 10 leaves"));
	assert_int_equal(dcr_merkle_inclusion_proof(0, 0, read_leaf, &r, &p, &err), DCR_EINVALID);
	assert_int_equal(dcr_merkle_inclusion_proof(0, over, read_leaf, &r, &p, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "2^63"));
	assert_int_equal(dcr_merkle_consistency_proof(5, 4, read_leaf, &r, &p, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "old size 5 is larger than new size 4"));
	assert_int_equal(dcr_merkle_consistency_proof(1, over, read_leaf, &r, &p, &err), DCR_EINVALID);
	assert_int_equal(dcr_merkle_root(over, read_leaf, &r, root, &err), DCR_EINVALID);
	assert_int_equal(r.reads, 0);

	assert_int_equal(dcr_merkle_inclusion_verify(0, 0, leaves[0], &p, empty_root, &err), DCR_EINVALID);
	assert_int_equal(dcr_merkle_inclusion_verify(3, 3, leaves[3], &p, roots[3], &err), DCR_EINVALID);
	assert_int_equal(dcr_merkle_inclusion_verify(0, over, leaves[0], &p, roots[1], &err),
		DCR_EINVALID);
	assert_int_equal(dcr_merkle_inclusion_verify(UINT64_MAX, UINT64_MAX, leaves[0], &p, roots[1],
		&err), DCR_EINVALID);
	assert_int_equal(dcr_merkle_consistency_verify(2, 1, roots[2], roots[1], &p, &err),
		DCR_EINVALID);
	assert_int_equal(dcr_merkle_consistency_verify(1, over, roots[1], roots[2], &p, &err),
		DCR_EINVALID);
	assert_int_equal(dcr_merkle_consistency_verify(over, over, roots[1], roots[1], &p, &err),
		DCR_EINVALID);

	/* A one-leaf tree: the leaf is the root, and the proof is empty. */
	assert_int_equal(dcr_merkle_inclusion_verify(0, 1, leaves[0], &p, roots[1], &err), 0);
	assert_int_equal(dcr_merkle_inclusion_verify(0, 1, leaves[1], &p, roots[1], &err),
		DCR_EINTEGRITY);
	assert_string_equal(err.msg, "inclusion proof does not lead to the root (leaf 0, tree size 1)");
	p.len = 1;
	memcpy(p.hash[0], leaves[0], 32);
	assert_int_equal(dcr_merkle_inclusion_verify(0, 1, leaves[0], &p, roots[1], &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "inclusion proof has 1 hashes"));
}

/* A reader's failure is passed on with the leaf named, and no half-built proof escapes. */
static void test_reader_failure(void **state)
{
	struct dcr_merkle_proof p;
	uint8_t root[32];
	struct dcr_err err;

	for (uint64_t bad = 0; bad < 13; bad++) {
		struct reader r = { .size = 13, .fail_at = bad };
		char want[64];

		snprintf(want, sizeof(want), "cannot read leaf %" PRIu64, bad);
		assert_int_equal(dcr_merkle_root(13, read_leaf, &r, root, &err), DCR_EIO);
		assert_non_null(strstr(err.msg, want));
		if (bad != 6) {
			assert_int_equal(dcr_merkle_inclusion_proof(6, 13, read_leaf, &r, &p, &err), DCR_EIO);
			assert_int_equal(p.len, 0);
		}
		if (bad >= 5) {
			assert_int_equal(dcr_merkle_consistency_proof(5, 13, read_leaf, &r, &p, &err),
				DCR_EIO);
			assert_int_equal(p.len, 0);
			assert_non_null(strstr(err.msg, want));
		}
	}
	/* The same for node reads: each read in turn fails, and the failure is passed on. */
	for (uint64_t bad = 0; bad < 7; bad++) {
		struct reader r = { .size = 13, .fail_at = bad };

		if (dcr_merkle_consistency_proof_nodes(5, 13, read_node, &r, &p, &err) == 0) {
			assert_true(r.reads <= bad);
			continue;
		}
		assert_int_equal(err.code, DCR_EIO);
		assert_int_equal(p.len, 0);
		assert_non_null(strstr(err.msg, "cannot read node"));
		r = (struct reader){ .size = 13, .fail_at = bad };
		if (dcr_merkle_inclusion_proof_nodes(6, 13, read_node, &r, &p, &err) < 0) {
			assert_int_equal(p.len, 0);
			assert_non_null(strstr(err.msg, "cannot read node"));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_inclusion_all),
		cmocka_unit_test(test_consistency_all),
		cmocka_unit_test(test_consistency_trivial),
		cmocka_unit_test(test_append),
		cmocka_unit_test(test_append_nodes),
		cmocka_unit_test(test_huge),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_reader_failure),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
