/* The RFC 9162 Merkle tree: tree hashes, the append frontier, inclusion and consistency proofs. */
#include "merkle.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <string.h>

#include "crypto.h"

#include "banned.h"

#define HLEN DCR_MERKLE_HASH_LEN

/*
 * One fetched SHA-256 and one context per public call: proofs hash
 * thousands of nodes, and OpenSSL 3 looks the algorithm up again on every
 * EVP_Digest with EVP_sha256(), which more than doubles the cost.
 */
struct hasher {
	EVP_MD *md;
	EVP_MD_CTX *ctx;
};

static void hasher_release(struct hasher *h)
{
	EVP_MD_CTX_free(h->ctx);
	EVP_MD_free(h->md);
	h->ctx = NULL;
	h->md = NULL;
}

static int hasher_init(struct hasher *h, struct dcr_err *err)
{
	h->md = EVP_MD_fetch(NULL, "SHA256", NULL);
	h->ctx = EVP_MD_CTX_new();
	if (!h->md || !h->ctx) {
		hasher_release(h);
		return dcr_err_openssl(err, DCR_EFAIL, "cannot set up SHA-256");
	}
	return 0;
}

static int sha(struct hasher *h, const void *a, size_t a_len, const void *b, size_t b_len,
	uint8_t out[static HLEN], struct dcr_err *err)
{
	unsigned int len = 0;

	if (EVP_DigestInit_ex2(h->ctx, h->md, NULL) != 1 ||
	    EVP_DigestUpdate(h->ctx, a, a_len) != 1 ||
	    (b_len > 0 && EVP_DigestUpdate(h->ctx, b, b_len) != 1) ||
	    EVP_DigestFinal_ex(h->ctx, out, &len) != 1 || len != HLEN)
		return dcr_err_openssl(err, DCR_EFAIL, "cannot compute SHA-256");
	return 0;
}

/* out may be left or right. */
static int node(struct hasher *h, const uint8_t left[static HLEN], const uint8_t right[static HLEN],
	uint8_t out[static HLEN], struct dcr_err *err)
{
	uint8_t buf[1 + 2 * HLEN];

	buf[0] = 0x01;
	memcpy(buf + 1, left, HLEN);
	memcpy(buf + 1 + HLEN, right, HLEN);
	return sha(h, buf, sizeof(buf), NULL, 0, out, err);
}

int dcr_merkle_leaf_hash(const void *entry, size_t len, uint8_t out[static DCR_MERKLE_HASH_LEN],
	struct dcr_err *err)
{
	static const uint8_t prefix = 0x00;
	struct hasher h;
	int r;

	if ((r = hasher_init(&h, err)) < 0)
		return r;
	r = sha(&h, &prefix, 1, entry, len, out, err);
	hasher_release(&h);
	return r;
}

static unsigned bit_len(uint64_t x)
{
	return x ? 64u - (unsigned)__builtin_clzll(x) : 0;
}

/* The largest power of two below n, where the RFC splits a tree of n >= 2 leaves. */
static uint64_t split(uint64_t n)
{
	return (uint64_t)1 << (bit_len(n - 1) - 1);
}

/*
 * The number of hashes in PATH(index, D[size]): one per level where index
 * and the last leaf part ways, plus one per left sibling above that.
 */
static size_t inclusion_len(uint64_t index, uint64_t size)
{
	unsigned inner = bit_len(index ^ (size - 1));

	return inner + (size_t)__builtin_popcountll(inner < 64 ? index >> inner : 0);
}

/*
 * The number of hashes in PROOF(old, D[new]) for 0 < old < new: the path
 * from the largest perfect subtree ending at old up to the root, plus that
 * subtree itself unless it is the whole old tree (old a power of two).
 */
static size_t consistency_len(uint64_t old_size, uint64_t new_size)
{
	unsigned shift = (unsigned)__builtin_ctzll(old_size);
	uint64_t index = (old_size - 1) >> shift;

	return inclusion_len(index, ((new_size - 1) >> shift) + 1) + (index != 0);
}

static int read_leaf(dcr_merkle_leaf_reader *leaf, void *ctx, uint64_t index,
	uint8_t out[static HLEN], struct dcr_err *err)
{
	int r = leaf(ctx, index, out);

	if (r < 0)
		return dcr_err_set(err, r, "cannot read leaf %" PRIu64 " of the log", index);
	if (r > 0)
		return dcr_err_set(err, DCR_EFAIL, "cannot read leaf %" PRIu64 " of the log", index);
	return 0;
}

/*
 * f->size < DCR_MERKLE_SIZE_MAX, so the carry stops at level 63 at the
 * latest. The subtrees completed on the way go to nodes (if not NULL).
 */
static int frontier_push(struct hasher *h, struct dcr_merkle_frontier *f,
	const uint8_t leaf_hash[static HLEN], uint8_t (*nodes)[HLEN], unsigned *n_nodes,
	struct dcr_err *err)
{
	uint8_t cur[HLEN];
	uint64_t s = f->size;
	unsigned level;
	int r;

	memcpy(cur, leaf_hash, HLEN);
	for (level = 0; s & 1; level++, s >>= 1) {
		if ((r = node(h, f->hash[level], cur, cur, err)) < 0)
			return r;
		if (nodes)
			memcpy(nodes[level], cur, HLEN);
	}
	if (n_nodes)
		*n_nodes = level;
	memcpy(f->hash[level], cur, HLEN);
	f->size++;
	return 0;
}

/* Perfect subtrees combine right to left, smallest first, as MTH's recursion does. */
static int frontier_fold(struct hasher *h, const struct dcr_merkle_frontier *f,
	uint8_t root[static HLEN], struct dcr_err *err)
{
	uint8_t cur[HLEN];
	uint64_t s = f->size;
	unsigned level;
	int r;

	if (s == 0)
		return dcr_sha256("", 0, root, err);
	level = (unsigned)__builtin_ctzll(s);
	memcpy(cur, f->hash[level], HLEN);
	/* Two shifts: a single one by 64 would be undefined for size 2^63. */
	s >>= level;
	for (level++, s >>= 1; s; level++, s >>= 1)
		if ((s & 1) && (r = node(h, f->hash[level], cur, cur, err)) < 0)
			return r;
	memcpy(root, cur, HLEN);
	return 0;
}

/* Where a proof's hashes come from: every leaf, or the roots of perfect subtrees. */
struct source {
	dcr_merkle_leaf_reader *leaf;
	dcr_merkle_node_reader *node;
	void *ctx;
};

static int read_node(const struct source *src, unsigned level, uint64_t index, uint8_t out[static HLEN],
	struct dcr_err *err)
{
	int r = src->node(src->ctx, level, index, out);

	if (r < 0)
		return dcr_err_set(err, r, "cannot read node %" PRIu64 " of level %u of the log", index, level);
	if (r > 0)
		return dcr_err_set(err, DCR_EFAIL, "cannot read node %" PRIu64 " of level %u of the log", index,
			level);
	return 0;
}

/*
 * MTH(D[lo:hi]) from the roots of perfect subtrees. The proofs only ask
 * for ranges of the RFC's recursion, where lo is a multiple of the
 * smallest power of two not below hi - lo: the range is then the perfect
 * subtrees of the set bits of hi - lo, largest first, which fold right to
 * left as MTH's recursion does.
 */
static int subtree_nodes(struct hasher *h, uint64_t lo, uint64_t hi, const struct source *src,
	uint8_t out[static HLEN], struct dcr_err *err)
{
	uint64_t n = hi - lo;
	unsigned top = bit_len(n - 1);
	uint8_t piece[64][HLEN];
	unsigned k = 0;
	int r;

	if (n == 0)
		return dcr_sha256("", 0, out, err);
	if (top < 64 && (lo & (((uint64_t)1 << top) - 1)) != 0)
		return dcr_err_set(err, DCR_EINVALID, "leaves %" PRIu64 "..%" PRIu64 " are not a subtree of the log",
			lo, hi);
	for (unsigned b = 64; b-- > 0;)
		if (n >> b & 1) {
			if ((r = read_node(src, b, lo >> b, piece[k], err)) < 0)
				return r;
			k++;
			lo += (uint64_t)1 << b;
		}
	while (k > 1) {
		if ((r = node(h, piece[k - 2], piece[k - 1], piece[k - 2], err)) < 0)
			return r;
		k--;
	}
	memcpy(out, piece[0], HLEN);
	return 0;
}

/* MTH(D[lo:hi]): from the leaves in O(log) memory, or from subtree roots. */
static int subtree(struct hasher *h, uint64_t lo, uint64_t hi, const struct source *src,
	uint8_t out[static HLEN], struct dcr_err *err)
{
	struct dcr_merkle_frontier f = { .size = 0 };
	uint8_t lh[HLEN];
	int r;

	if (src->node)
		return subtree_nodes(h, lo, hi, src, out, err);
	for (uint64_t i = lo; i < hi; i++)
		if ((r = read_leaf(src->leaf, src->ctx, i, lh, err)) < 0 ||
		    (r = frontier_push(h, &f, lh, NULL, NULL, err)) < 0)
			return r;
	return frontier_fold(h, &f, out, err);
}

/* MTH(D[0:size]) from either source (subtree handles size 0 both ways). */
static int root_of(uint64_t size, const struct source *src, uint8_t root[static HLEN], struct dcr_err *err)
{
	struct hasher h;
	int r;

	if (size > DCR_MERKLE_SIZE_MAX)
		return dcr_err_set(err, DCR_EINVALID, "tree size %" PRIu64 " is over the limit of 2^63",
			size);
	if ((r = hasher_init(&h, err)) < 0)
		return r;
	r = subtree(&h, 0, size, src, root, err);
	hasher_release(&h);
	return r;
}

int dcr_merkle_root(uint64_t size, dcr_merkle_leaf_reader *leaf, void *ctx,
	uint8_t root[static DCR_MERKLE_HASH_LEN], struct dcr_err *err)
{
	return root_of(size, &(struct source){ .leaf = leaf, .ctx = ctx }, root, err);
}

int dcr_merkle_root_nodes(uint64_t size, dcr_merkle_node_reader *reader, void *ctx,
	uint8_t root[static DCR_MERKLE_HASH_LEN], struct dcr_err *err)
{
	return root_of(size, &(struct source){ .node = reader, .ctx = ctx }, root, err);
}

void dcr_merkle_frontier_init(struct dcr_merkle_frontier *f)
{
	memset(f, 0, sizeof(*f));
}

int dcr_merkle_frontier_append_nodes(struct dcr_merkle_frontier *f,
	const uint8_t leaf_hash[static DCR_MERKLE_HASH_LEN],
	uint8_t nodes[DCR_MERKLE_PROOF_MAX][DCR_MERKLE_HASH_LEN], unsigned *n_nodes,
	struct dcr_err *err)
{
	struct hasher h;
	int r;

	if (n_nodes)
		*n_nodes = 0;
	if (f->size >= DCR_MERKLE_SIZE_MAX)
		return dcr_err_set(err, DCR_EINVALID, "the log is full (2^63 entries)");
	if ((r = hasher_init(&h, err)) < 0)
		return r;
	r = frontier_push(&h, f, leaf_hash, nodes, n_nodes, err);
	hasher_release(&h);
	return r;
}

int dcr_merkle_frontier_append(struct dcr_merkle_frontier *f,
	const uint8_t leaf_hash[static DCR_MERKLE_HASH_LEN], struct dcr_err *err)
{
	return dcr_merkle_frontier_append_nodes(f, leaf_hash, NULL, NULL, err);
}

int dcr_merkle_frontier_root(const struct dcr_merkle_frontier *f,
	uint8_t root[static DCR_MERKLE_HASH_LEN], struct dcr_err *err)
{
	struct hasher h;
	int r;

	if (f->size > DCR_MERKLE_SIZE_MAX)
		return dcr_err_set(err, DCR_EINVALID, "tree size %" PRIu64 " is over the limit of 2^63",
			f->size);
	if ((r = hasher_init(&h, err)) < 0)
		return r;
	r = frontier_fold(&h, f, root, err);
	hasher_release(&h);
	return r;
}

/* The proof was collected from the root down; RFC order is from the leaves up. */
static void reverse(struct dcr_merkle_proof *proof, size_t from)
{
	uint8_t tmp[HLEN];

	for (size_t i = from, j = proof->len; i + 1 < j; i++, j--) {
		memcpy(tmp, proof->hash[i], HLEN);
		memcpy(proof->hash[i], proof->hash[j - 1], HLEN);
		memcpy(proof->hash[j - 1], tmp, HLEN);
	}
}

static int inclusion_proof(uint64_t index, uint64_t size, const struct source *src,
	struct dcr_merkle_proof *proof, struct dcr_err *err)
{
	struct hasher h;
	uint64_t lo = 0, hi = size;
	int r = 0;

	proof->len = 0;
	if (size > DCR_MERKLE_SIZE_MAX)
		return dcr_err_set(err, DCR_EINVALID, "tree size %" PRIu64 " is over the limit of 2^63",
			size);
	if (index >= size)
		return dcr_err_set(err, DCR_EINVALID,
			"inclusion proof: leaf %" PRIu64 " is not in a tree of %" PRIu64 " leaves",
			index, size);
	if ((r = hasher_init(&h, err)) < 0)
		return r;
	/* Each step halves the range at least, so a tree of 2^63 leaves needs 63 steps. */
	while (hi - lo > 1 && r == 0) {
		uint64_t k = split(hi - lo);

		if (index < lo + k) {
			r = subtree(&h, lo + k, hi, src, proof->hash[proof->len], err);
			hi = lo + k;
		} else {
			r = subtree(&h, lo, lo + k, src, proof->hash[proof->len], err);
			lo += k;
		}
		proof->len++;
	}
	hasher_release(&h);
	if (r < 0) {
		proof->len = 0;
		return r;
	}
	reverse(proof, 0);
	return 0;
}

int dcr_merkle_inclusion_proof(uint64_t index, uint64_t size, dcr_merkle_leaf_reader *leaf,
	void *ctx, struct dcr_merkle_proof *proof, struct dcr_err *err)
{
	return inclusion_proof(index, size, &(struct source){ .leaf = leaf, .ctx = ctx }, proof, err);
}

int dcr_merkle_inclusion_proof_nodes(uint64_t index, uint64_t size, dcr_merkle_node_reader *reader,
	void *ctx, struct dcr_merkle_proof *proof, struct dcr_err *err)
{
	return inclusion_proof(index, size, &(struct source){ .node = reader, .ctx = ctx }, proof, err);
}

static int consistency_proof(uint64_t old_size, uint64_t new_size, const struct source *src,
	struct dcr_merkle_proof *proof, struct dcr_err *err)
{
	struct hasher h;
	uint64_t lo = 0, hi = new_size;
	bool whole_old_tree = true;
	int r = 0;

	proof->len = 0;
	if (new_size > DCR_MERKLE_SIZE_MAX)
		return dcr_err_set(err, DCR_EINVALID, "tree size %" PRIu64 " is over the limit of 2^63",
			new_size);
	if (old_size > new_size)
		return dcr_err_set(err, DCR_EINVALID,
			"consistency proof: old size %" PRIu64 " is larger than new size %" PRIu64,
			old_size, new_size);
	if (old_size == 0 || old_size == new_size)
		return 0;
	if ((r = hasher_init(&h, err)) < 0)
		return r;
	/*
	 * SUBPROOF(m, D[lo:hi], b) unrolled; slot 0 stays free for the subtree
	 * the descent ends on, which the RFC puts first. At most 63 steps.
	 */
	proof->len = 1;
	while (old_size != hi && r == 0) {
		uint64_t k = split(hi - lo);

		if (old_size - lo <= k) {
			r = subtree(&h, lo + k, hi, src, proof->hash[proof->len], err);
			hi = lo + k;
		} else {
			r = subtree(&h, lo, lo + k, src, proof->hash[proof->len], err);
			lo += k;
			whole_old_tree = false;
		}
		proof->len++;
	}
	/* The verifier already has the old root; any other subtree it must be given. */
	if (r == 0 && !whole_old_tree)
		r = subtree(&h, lo, hi, src, proof->hash[0], err);
	hasher_release(&h);
	if (r < 0) {
		proof->len = 0;
		return r;
	}
	reverse(proof, 1);
	if (whole_old_tree) {
		memmove(proof->hash[0], proof->hash[1], (proof->len - 1) * HLEN);
		proof->len--;
	}
	return 0;
}

int dcr_merkle_consistency_proof(uint64_t old_size, uint64_t new_size,
	dcr_merkle_leaf_reader *leaf, void *ctx, struct dcr_merkle_proof *proof,
	struct dcr_err *err)
{
	return consistency_proof(old_size, new_size, &(struct source){ .leaf = leaf, .ctx = ctx }, proof,
		err);
}

int dcr_merkle_consistency_proof_nodes(uint64_t old_size, uint64_t new_size,
	dcr_merkle_node_reader *reader, void *ctx, struct dcr_merkle_proof *proof,
	struct dcr_err *err)
{
	return consistency_proof(old_size, new_size, &(struct source){ .node = reader, .ctx = ctx }, proof,
		err);
}

int dcr_merkle_inclusion_verify(uint64_t index, uint64_t size,
	const uint8_t leaf_hash[static DCR_MERKLE_HASH_LEN], const struct dcr_merkle_proof *proof,
	const uint8_t root[static DCR_MERKLE_HASH_LEN], struct dcr_err *err)
{
	struct hasher h;
	uint8_t r_hash[HLEN];
	uint64_t fn = index, sn;
	size_t want;
	int r = 0;

	if (size > DCR_MERKLE_SIZE_MAX)
		return dcr_err_set(err, DCR_EINVALID, "tree size %" PRIu64 " is over the limit of 2^63",
			size);
	if (index >= size)
		return dcr_err_set(err, DCR_EINVALID,
			"inclusion proof: leaf %" PRIu64 " is not in a tree of %" PRIu64 " leaves",
			index, size);
	want = inclusion_len(index, size);
	if (proof->len != want)
		return dcr_err_set(err, DCR_EINVALID,
			"inclusion proof has %zu hashes, and leaf %" PRIu64 " of a tree of %" PRIu64
			" leaves needs %zu", proof->len, index, size, want);
	if ((r = hasher_init(&h, err)) < 0)
		return r;

	/* RFC 9162 section 2.1.3.2, step by step. */
	sn = size - 1;
	memcpy(r_hash, leaf_hash, HLEN);
	for (size_t i = 0; i < proof->len && r == 0; i++) {
		if (sn == 0) {
			r = dcr_err_set(err, DCR_EINVALID, "inclusion proof is too long");
			break;
		}
		if ((fn & 1) || fn == sn) {
			r = node(&h, proof->hash[i], r_hash, r_hash, err);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			r = node(&h, r_hash, proof->hash[i], r_hash, err);
		}
		fn >>= 1;
		sn >>= 1;
	}
	hasher_release(&h);
	if (r < 0)
		return r;
	if (sn != 0)
		return dcr_err_set(err, DCR_EINVALID, "inclusion proof is too short");
	if (!dcr_ct_equal(r_hash, root, HLEN))
		return dcr_err_set(err, DCR_EINTEGRITY,
			"inclusion proof does not lead to the root (leaf %" PRIu64 ", tree size %" PRIu64 ")",
			index, size);
	return 0;
}

int dcr_merkle_consistency_verify(uint64_t old_size, uint64_t new_size,
	const uint8_t old_root[static DCR_MERKLE_HASH_LEN],
	const uint8_t new_root[static DCR_MERKLE_HASH_LEN], const struct dcr_merkle_proof *proof,
	struct dcr_err *err)
{
	struct hasher h;
	uint8_t fr[HLEN], sr[HLEN];
	uint64_t fn, sn;
	size_t want, i = 0;
	bool old_pow2;
	int r;

	if (new_size > DCR_MERKLE_SIZE_MAX)
		return dcr_err_set(err, DCR_EINVALID, "tree size %" PRIu64 " is over the limit of 2^63",
			new_size);
	if (old_size > new_size)
		return dcr_err_set(err, DCR_EINVALID,
			"consistency proof: old size %" PRIu64 " is larger than new size %" PRIu64,
			old_size, new_size);
	want = old_size == 0 || old_size == new_size ? 0 : consistency_len(old_size, new_size);
	if (proof->len != want)
		return dcr_err_set(err, DCR_EINVALID,
			"consistency proof has %zu hashes, and sizes %" PRIu64 " and %" PRIu64 " need %zu",
			proof->len, old_size, new_size, want);
	if (old_size == 0) {
		/* Every tree extends the empty one, whose root is fixed. */
		if ((r = dcr_sha256("", 0, fr, err)) < 0)
			return r;
		if (!dcr_ct_equal(fr, old_root, HLEN))
			return dcr_err_set(err, DCR_EINTEGRITY,
				"consistency proof: old root mismatch (not the empty tree's root)");
		if (new_size != 0)
			return 0;
	}
	if (old_size == new_size) {
		if (!dcr_ct_equal(old_root, new_root, HLEN))
			return dcr_err_set(err, DCR_EINTEGRITY,
				"consistency proof: two different roots for the same size %" PRIu64,
				new_size);
		return 0;
	}
	if ((r = hasher_init(&h, err)) < 0)
		return r;

	/* RFC 9162 section 2.1.4.2; a power-of-two old tree is its own first subtree. */
	fn = old_size - 1;
	sn = new_size - 1;
	old_pow2 = (old_size & (old_size - 1)) == 0;
	if (old_pow2) {
		memcpy(fr, old_root, HLEN);
	} else {
		memcpy(fr, proof->hash[0], HLEN);
		i = 1;
	}
	memcpy(sr, fr, HLEN);
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < proof->len && r == 0; i++) {
		if (sn == 0) {
			r = dcr_err_set(err, DCR_EINVALID, "consistency proof is too long");
			break;
		}
		if ((fn & 1) || fn == sn) {
			if ((r = node(&h, proof->hash[i], fr, fr, err)) < 0)
				break;
			r = node(&h, proof->hash[i], sr, sr, err);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			r = node(&h, sr, proof->hash[i], sr, err);
		}
		fn >>= 1;
		sn >>= 1;
	}
	hasher_release(&h);
	if (r < 0)
		return r;
	if (sn != 0)
		return dcr_err_set(err, DCR_EINVALID, "consistency proof is too short");
	if (!dcr_ct_equal(fr, old_root, HLEN))
		return dcr_err_set(err, DCR_EINTEGRITY,
			"consistency proof: old root mismatch (sizes %" PRIu64 " and %" PRIu64 ")",
			old_size, new_size);
	/* A power-of-two old root went into sr unchecked, so it may be the culprit. */
	if (!dcr_ct_equal(sr, new_root, HLEN))
		return dcr_err_set(err, DCR_EINTEGRITY,
			"consistency proof: %s (sizes %" PRIu64 " and %" PRIu64 ")",
			old_pow2 ? "the old root does not lead to the new root" : "new root mismatch",
			old_size, new_size);
	return 0;
}
