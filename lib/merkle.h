/* The RFC 9162 Merkle tree of the audit log: roots, appends, inclusion and consistency proofs. */
#ifndef DCR_MERKLE_H
#define DCR_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define DCR_MERKLE_HASH_LEN 32
/* Trees hold at most 2^63 leaves, so no proof needs more than 64 hashes. */
#define DCR_MERKLE_SIZE_MAX ((uint64_t)1 << 63)
#define DCR_MERKLE_PROOF_MAX 64

/*
 * Hashing (RFC 9162 section 2.1.1): a leaf is SHA-256(0x00 || entry), an
 * interior node SHA-256(0x01 || left || right), the empty tree SHA-256("").
 * The prefixes keep a leaf from ever passing for an interior node.
 */
int dcr_merkle_leaf_hash(const void *entry, size_t len, uint8_t out[static DCR_MERKLE_HASH_LEN],
	struct dcr_err *err);

/*
 * Reads the hash of leaf index (always below the tree size the caller
 * asked about) into out. Returns 0 or a negative DCR_E* code, which the
 * function that called it returns, with err naming the leaf; a reader that
 * needs to keep a more detailed message keeps it in ctx.
 */
typedef int dcr_merkle_leaf_reader(void *ctx, uint64_t index, uint8_t out[static DCR_MERKLE_HASH_LEN]);

/*
 * Reads the root of the perfect subtree of 2^level leaves that starts at
 * leaf index << level (level 0: the hash of leaf index) into out; the
 * proof builders only ask for subtrees that lie wholly below the tree
 * size the caller asked about. Returns 0 or a negative DCR_E* code, as
 * the leaf reader does. A log that keeps these roots as it grows (see
 * dcr_merkle_frontier_append_nodes) serves a proof in O(log size) reads.
 */
typedef int dcr_merkle_node_reader(void *ctx, unsigned level, uint64_t index,
	uint8_t out[static DCR_MERKLE_HASH_LEN]);

/*
 * A proof: len hashes (at most DCR_MERKLE_PROOF_MAX), in RFC 9162 order,
 * the one nearest the leaves first. Caller-owned; nothing to free.
 */
struct dcr_merkle_proof {
	size_t len;
	uint8_t hash[DCR_MERKLE_PROOF_MAX][DCR_MERKLE_HASH_LEN];
};

/*
 * MTH of the first size leaves (size at most DCR_MERKLE_SIZE_MAX; in
 * practice what the reader can serve). Reads each leaf once, in order,
 * in O(log size) memory.
 */
int dcr_merkle_root(uint64_t size, dcr_merkle_leaf_reader *leaf, void *ctx,
	uint8_t root[static DCR_MERKLE_HASH_LEN], struct dcr_err *err);

/*
 * MTH of the first size leaves from the roots of perfect subtrees: one
 * read per set bit of size.
 */
int dcr_merkle_root_nodes(uint64_t size, dcr_merkle_node_reader *reader, void *ctx,
	uint8_t root[static DCR_MERKLE_HASH_LEN], struct dcr_err *err);

/*
 * The log's growing edge: the roots of the perfect subtrees that make up
 * the tree so far (hash[i] is the root of 2^i leaves, for each bit i set
 * in size), so that appending and computing the new root cost O(log size)
 * hashes and never re-read old leaves. Caller-owned, about 2 KiB, nothing
 * to release; a log may persist size and the hashes of the set bits and
 * put them back to resume.
 */
struct dcr_merkle_frontier {
	uint64_t size;
	uint8_t hash[64][DCR_MERKLE_HASH_LEN];
};

void dcr_merkle_frontier_init(struct dcr_merkle_frontier *f);
/* DCR_EINVALID when the tree already holds DCR_MERKLE_SIZE_MAX leaves. */
int dcr_merkle_frontier_append(struct dcr_merkle_frontier *f,
	const uint8_t leaf_hash[static DCR_MERKLE_HASH_LEN], struct dcr_err *err);
/*
 * dcr_merkle_frontier_append that also gives the perfect subtrees the new
 * leaf completes, so that a log can keep them for
 * dcr_merkle_consistency_proof_nodes: *n_nodes (the number of trailing one
 * bits of the old size) roots, nodes[i] the one of 2^(i+1) leaves, whose
 * node index (as the node reader takes it) is (f->size >> (i+1)) - 1
 * with the new size.
 */
int dcr_merkle_frontier_append_nodes(struct dcr_merkle_frontier *f,
	const uint8_t leaf_hash[static DCR_MERKLE_HASH_LEN],
	uint8_t nodes[DCR_MERKLE_PROOF_MAX][DCR_MERKLE_HASH_LEN], unsigned *n_nodes,
	struct dcr_err *err);
int dcr_merkle_frontier_root(const struct dcr_merkle_frontier *f,
	uint8_t root[static DCR_MERKLE_HASH_LEN], struct dcr_err *err);

/*
 * PATH(index, D[size]) of RFC 9162 section 2.1.3.1, built from the leaves
 * the reader serves: O(size) leaf reads and hashes, O(log size) memory.
 * DCR_EINVALID unless index < size <= DCR_MERKLE_SIZE_MAX.
 */
int dcr_merkle_inclusion_proof(uint64_t index, uint64_t size, dcr_merkle_leaf_reader *leaf,
	void *ctx, struct dcr_merkle_proof *proof, struct dcr_err *err);

/*
 * The same proof from the roots of perfect subtrees: at most
 * 2 * ceil(log2(size)) node reads and no hashing beyond folding the
 * pieces of one subtree that is not perfect.
 */
int dcr_merkle_inclusion_proof_nodes(uint64_t index, uint64_t size, dcr_merkle_node_reader *node,
	void *ctx, struct dcr_merkle_proof *proof, struct dcr_err *err);

/*
 * Checks that the leaf with hash leaf_hash is leaf index of the tree of
 * size leaves whose root is root (RFC 9162 section 2.1.3.2). 0 when it is;
 * DCR_EINTEGRITY when the proof does not lead to the root; DCR_EINVALID
 * when index >= size, size > DCR_MERKLE_SIZE_MAX, or the proof does not
 * have the number of hashes index and size call for. The size is taken on
 * trust: a caller must take size and root from the same signed tree head.
 */
int dcr_merkle_inclusion_verify(uint64_t index, uint64_t size,
	const uint8_t leaf_hash[static DCR_MERKLE_HASH_LEN], const struct dcr_merkle_proof *proof,
	const uint8_t root[static DCR_MERKLE_HASH_LEN], struct dcr_err *err);

/*
 * PROOF(old_size, D[new_size]) of RFC 9162 section 2.1.4.1 (empty when
 * old_size is 0 or equals new_size). O(new_size) leaf reads and hashes,
 * O(log new_size) memory. DCR_EINVALID unless
 * old_size <= new_size <= DCR_MERKLE_SIZE_MAX.
 */
int dcr_merkle_consistency_proof(uint64_t old_size, uint64_t new_size,
	dcr_merkle_leaf_reader *leaf, void *ctx, struct dcr_merkle_proof *proof,
	struct dcr_err *err);

/*
 * The same proof from the roots of perfect subtrees, in at most
 * 2 * ceil(log2(new_size)) + 1 node reads.
 */
int dcr_merkle_consistency_proof_nodes(uint64_t old_size, uint64_t new_size,
	dcr_merkle_node_reader *node, void *ctx, struct dcr_merkle_proof *proof,
	struct dcr_err *err);

/*
 * Checks that the tree of new_size leaves with root new_root extends the
 * tree of old_size leaves with root old_root (RFC 9162 section 2.1.4.2).
 * Equal sizes need an empty proof and equal roots; old size 0 needs an
 * empty proof and the empty tree's root as old_root. 0 when consistent;
 * DCR_EINTEGRITY when not (a fork or a rollback, if the roots were
 * signed); DCR_EINVALID when old_size > new_size, new_size >
 * DCR_MERKLE_SIZE_MAX, or the proof has the wrong number of hashes.
 */
int dcr_merkle_consistency_verify(uint64_t old_size, uint64_t new_size,
	const uint8_t old_root[static DCR_MERKLE_HASH_LEN],
	const uint8_t new_root[static DCR_MERKLE_HASH_LEN], const struct dcr_merkle_proof *proof,
	struct dcr_err *err);

#endif
