/*
 * libFuzzer target for the Merkle proof verifiers: no crash, and no proof
 * of a false statement; proofs built from leaves and from subtree roots agree.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "merkle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Input: mode, leaf count, one byte per leaf entry, then sizes and
 * indexes, then which of leaf, roots, proof length and proof hashes to
 * perturb, and the bytes to XOR into them. An input that runs out reads
 * as zeros, so a short input is a genuine proof that must be accepted, and
 * mutations start from there.
 */
#define LEAVES_MAX 48

enum {
	TOUCH_LEAF = 1,      /* the leaf hash, or the old root */
	TOUCH_ROOT = 2,      /* the root, or the new root */
	TOUCH_LEN = 4,
	TOUCH_HASHES = 8,
};

struct input {
	const uint8_t *p;
	size_t left;
};

static uint8_t take_u8(struct input *in)
{
	if (in->left == 0)
		return 0;
	in->left--;
	return *in->p++;
}

static uint64_t take_u64(struct input *in)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | take_u8(in);
	return v;
}

/* Mostly sizes near the tree's; now and then any 64-bit value. */
static uint64_t take_size(struct input *in, uint64_t n)
{
	uint8_t b = take_u8(in);

	return b & 0x80 ? take_u64(in) : (uint64_t)(b % (n + 2));
}

static void take_xor(struct input *in, uint8_t h[32])
{
	for (int i = 0; i < 32; i++)
		h[i] ^= take_u8(in);
}

/* The reference: RFC 9162's recursive MTH, independent of lib/merkle.c. */
static uint8_t leaves[LEAVES_MAX][32];

static void ref_node(const uint8_t l[32], const uint8_t r[32], uint8_t out[32])
{
	uint8_t buf[65];

	buf[0] = 0x01;
	memcpy(buf + 1, l, 32);
	memcpy(buf + 33, r, 32);
	if (dcr_sha256(buf, sizeof(buf), out, NULL) < 0)
		abort();
}

static void ref_mth(uint64_t lo, uint64_t hi, uint8_t out[32])
{
	uint8_t l[32], r[32];
	uint64_t k = 1;

	if (hi == lo) {
		if (dcr_sha256("", 0, out, NULL) < 0)
			abort();
		return;
	}
	if (hi - lo == 1) {
		memcpy(out, leaves[lo], 32);
		return;
	}
	while (k < hi - lo - k)
		k *= 2;
	ref_mth(lo, lo + k, l);
	ref_mth(lo + k, hi, r);
	ref_node(l, r, out);
}

static int read_leaf(void *ctx, uint64_t index, uint8_t out[32])
{
	uint64_t n = *(const uint64_t *)ctx;

	if (index >= n)
		abort();
	memcpy(out, leaves[index], 32);
	return 0;
}

/* The roots of perfect subtrees, from the reference. */
static int read_node(void *ctx, unsigned level, uint64_t index, uint8_t out[32])
{
	uint64_t n = *(const uint64_t *)ctx;

	if (level >= 64 || index >= (n >> level))
		abort();
	ref_mth(index << level, (index + 1) << level, out);
	return 0;
}

static void same_proof(const struct dcr_merkle_proof *a, const struct dcr_merkle_proof *b)
{
	if (a->len != b->len || memcmp(a->hash, b->hash, a->len * 32) != 0)
		abort();
}

static void check_code(int r)
{
	if (r != 0 && r != DCR_EINVALID && r != DCR_EINTEGRITY)
		abort();
}

static void perturb_proof(struct input *in, uint8_t touch, struct dcr_merkle_proof *p)
{
	if (touch & TOUCH_LEN) {
		size_t len = take_u8(in);

		/* Past the array too: the verifier must look at len before any hash. */
		for (size_t i = p->len; i < len && i < DCR_MERKLE_PROOF_MAX; i++)
			memset(p->hash[i], 0, 32);
		p->len = len;
	}
	if (touch & TOUCH_HASHES)
		for (size_t i = 0; i < p->len && i < DCR_MERKLE_PROOF_MAX; i++)
			take_xor(in, p->hash[i]);
}

static void inclusion(struct input *in, uint64_t n)
{
	uint64_t index = take_size(in, n), size = take_size(in, n);
	uint8_t touch = take_u8(in);
	struct dcr_merkle_proof p = { .len = 0 };
	uint8_t leaf[32] = { 0 }, root[32] = { 0 }, want_root[32];
	bool genuine = index < size && size <= n;
	int r;

	if (genuine) {
		struct dcr_merkle_proof q;

		if (dcr_merkle_inclusion_proof(index, size, read_leaf, &n, &p, NULL) < 0 ||
		    dcr_merkle_inclusion_proof_nodes(index, size, read_node, &size, &q, NULL) < 0)
			abort();
		same_proof(&p, &q);
		memcpy(leaf, leaves[index], 32);
		ref_mth(0, size, root);
	}
	memcpy(want_root, root, 32);
	if (touch & TOUCH_LEAF)
		take_xor(in, leaf);
	if (touch & TOUCH_ROOT)
		take_xor(in, root);
	perturb_proof(in, touch, &p);

	r = dcr_merkle_inclusion_verify(index, size, leaf, &p, root, NULL);
	check_code(r);
	if (genuine && touch == 0 && r != 0)
		abort();
	/* Accepted against the true root of a known tree: it must be the true leaf. */
	if (r == 0 && size <= n) {
		ref_mth(0, size, want_root);
		if (memcmp(root, want_root, 32) == 0 && memcmp(leaf, leaves[index], 32) != 0)
			abort();
	}
}

static void consistency(struct input *in, uint64_t n)
{
	uint64_t old_size = take_size(in, n), new_size = take_size(in, n);
	uint8_t touch = take_u8(in);
	struct dcr_merkle_proof p = { .len = 0 };
	uint8_t old_root[32] = { 0 }, new_root[32] = { 0 }, want[32];
	bool genuine = old_size <= new_size && new_size <= n;
	int r;

	if (genuine) {
		struct dcr_merkle_proof q;

		if (dcr_merkle_consistency_proof(old_size, new_size, read_leaf, &n, &p, NULL) < 0 ||
		    dcr_merkle_consistency_proof_nodes(old_size, new_size, read_node, &new_size, &q, NULL) < 0)
			abort();
		same_proof(&p, &q);
		ref_mth(0, old_size, old_root);
		ref_mth(0, new_size, new_root);
	}
	if (touch & TOUCH_LEAF)
		take_xor(in, old_root);
	if (touch & TOUCH_ROOT)
		take_xor(in, new_root);
	perturb_proof(in, touch, &p);

	r = dcr_merkle_consistency_verify(old_size, new_size, old_root, new_root, &p, NULL);
	check_code(r);
	if (genuine && touch == 0 && r != 0)
		abort();
	/* Accepted against the true new root of a known tree: the old root must be its prefix's. */
	if (r == 0 && new_size <= n) {
		if (old_size > new_size)
			abort();
		ref_mth(0, new_size, want);
		if (memcmp(new_root, want, 32) == 0) {
			ref_mth(0, old_size, want);
			if (memcmp(old_root, want, 32) != 0)
				abort();
		}
	}
}

/* The appender, and the subtrees it completes, must agree with the reference on the whole tree. */
static void frontier(uint64_t n)
{
	struct dcr_merkle_frontier f;
	uint8_t got[32], want[32], nodes[DCR_MERKLE_PROOF_MAX][32];
	unsigned n_nodes;

	dcr_merkle_frontier_init(&f);
	for (uint64_t i = 0; i < n; i++) {
		if (dcr_merkle_frontier_append_nodes(&f, leaves[i], nodes, &n_nodes, NULL) < 0)
			abort();
		for (unsigned l = 0; l < n_nodes; l++) {
			uint64_t index = (f.size >> (l + 1)) - 1;

			ref_mth(index << (l + 1), (index + 1) << (l + 1), want);
			if (memcmp(nodes[l], want, 32) != 0)
				abort();
		}
	}
	if (dcr_merkle_frontier_root(&f, got, NULL) < 0)
		abort();
	ref_mth(0, n, want);
	if (memcmp(got, want, 32) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	uint8_t mode = take_u8(&in);
	uint64_t n = 1 + take_u8(&in) % LEAVES_MAX;

	for (uint64_t i = 0; i < n; i++) {
		uint8_t entry[2] = { 0x00, take_u8(&in) };

		/* Repeated entries are allowed: equal leaves must not confuse the checks either. */
		if (dcr_sha256(entry, sizeof(entry), leaves[i], NULL) < 0)
			abort();
	}
	if (mode & 1)
		consistency(&in, n);
	else
		inclusion(&in, n);
	if (mode & 2)
		frontier(n);
	return 0;
}
