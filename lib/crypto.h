/* Cryptographic primitives: hashing, HKDF, Ed25519, randomness, key files, wiping. */
#ifndef DCR_CRYPTO_H
#define DCR_CRYPTO_H

#include <openssl/types.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define DCR_SHA256_LEN 32
#define DCR_ED25519_SK_LEN 32
#define DCR_ED25519_PK_LEN 32
#define DCR_ED25519_SIG_LEN 64

/*
 * SHA-256, and AES-GCM with a key of key_len bytes (16 or 32), fetched once
 * for the whole process (never freed); NULL if OpenSSL has none, or for
 * another key length.
 */
const EVP_MD *dcr_md_sha256(void);
const EVP_CIPHER *dcr_cipher_aes_gcm(size_t key_len);

/*
 * A 32-byte private key (X25519, Ed25519) kept imported under its own
 * bytes: a service signs, or opens, every call with the same key, and at
 * each import OpenSSL computes the public half, a scalar multiplication
 * as costly as the signature. Only the import is kept; the bytes are
 * compared in constant time. A static object, set to DCR_KEPT_KEY_INIT.
 */
struct dcr_kept_key {
	pthread_mutex_t lock;
	EVP_PKEY *key;
	uint8_t sk[32];
	uint64_t generation; /* one more at each forget: an import begun before one is not kept */
};
#define DCR_KEPT_KEY_INIT { .lock = PTHREAD_MUTEX_INITIALIZER }

/*
 * sk as a key of type (EVP_PKEY_X25519 or EVP_PKEY_ED25519), with a
 * reference for the caller (EVP_PKEY_free): the kept one when it is sk's,
 * else sk imported, and kept instead. NULL when OpenSSL fails.
 */
EVP_PKEY *dcr_kept_key_get(struct dcr_kept_key *k, int type, const uint8_t sk[static 32]);
/* Drop the kept key and wipe its bytes. */
void dcr_kept_key_forget(struct dcr_kept_key *k);

/* Fill buf with len bytes from the operating system's CSPRNG (via OpenSSL). */
int dcr_random(void *buf, size_t len, struct dcr_err *err);

/* Overwrite len bytes at p with zeros in a way the compiler cannot elide; p may be NULL. */
void dcr_wipe(void *p, size_t len);

/*
 * Make room for need bytes in the buffer *p of capacity *cap that holds len
 * bytes of secrets: capacity doubles from 4 KiB, but never past max (0: no
 * limit). Growing copies into a new buffer and wipes the old one, which
 * realloc would leave behind. -1 when need > max or memory is short (the
 * buffer is unchanged).
 */
int dcr_secure_reserve(uint8_t **p, size_t *cap, size_t len, size_t need, size_t max);

/* True when a and b hold the same len bytes; the time taken depends only on len. */
bool dcr_ct_equal(const void *a, const void *b, size_t len);

/* Lowercase hex of len bytes into out, which must hold 2 * len + 1 bytes. */
void dcr_hex(const void *data, size_t len, char *out);

/* Parse exactly 2 * len hex digits into out; -1 on any other input. */
int dcr_unhex(const char *hex, void *out, size_t len);
/* The value of one hex digit (either case), or -1. */
int dcr_hex_digit(int c);

int dcr_sha256(const void *data, size_t len, uint8_t out[static DCR_SHA256_LEN],
	struct dcr_err *err);

/* Incremental SHA-256. _new returns NULL on allocation failure; _free accepts NULL. */
struct dcr_sha256;
struct dcr_sha256 *dcr_sha256_new(void);
int dcr_sha256_update(struct dcr_sha256 *h, const void *data, size_t len, struct dcr_err *err);
int dcr_sha256_final(struct dcr_sha256 *h, uint8_t out[static DCR_SHA256_LEN], struct dcr_err *err);
/* The digest of what h has taken so far; h goes on as if not asked. */
int dcr_sha256_peek(const struct dcr_sha256 *h, uint8_t out[static DCR_SHA256_LEN], struct dcr_err *err);
void dcr_sha256_free(struct dcr_sha256 *h);

/*
 * A new buffer (free()) holding domain, its terminating NUL as a separator,
 * then len bytes of data: what dcr signs, so a signature made for one
 * purpose never verifies for another. NULL when out of memory.
 */
uint8_t *dcr_domain_message(const char *domain, const void *data, size_t len, size_t *out_len);

/* SHA-256 of a whole file, read in constant memory. */
int dcr_sha256_file(const char *path, uint8_t out[static DCR_SHA256_LEN], struct dcr_err *err);

/* HKDF-SHA256 (RFC 5869). salt may be NULL when salt_len is 0. */
int dcr_hkdf_extract(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
	uint8_t prk[static DCR_SHA256_LEN], struct dcr_err *err);
/* out_len is at most 255 * 32. */
int dcr_hkdf_expand(const uint8_t prk[static DCR_SHA256_LEN], const uint8_t *info, size_t info_len,
	uint8_t *out, size_t out_len, struct dcr_err *err);

/* Ed25519 (RFC 8032) on raw 32-byte keys. */
int dcr_ed25519_keygen(uint8_t sk[static DCR_ED25519_SK_LEN], uint8_t pk[static DCR_ED25519_PK_LEN],
	struct dcr_err *err);
int dcr_ed25519_public(const uint8_t sk[static DCR_ED25519_SK_LEN],
	uint8_t pk[static DCR_ED25519_PK_LEN], struct dcr_err *err);
/* The last sk is kept imported (see struct dcr_kept_key): dcrd signs every tree head with one key. */
int dcr_ed25519_sign(const uint8_t sk[static DCR_ED25519_SK_LEN], const void *msg, size_t len,
	uint8_t sig[static DCR_ED25519_SIG_LEN], struct dcr_err *err);
/* Drop the key dcr_ed25519_sign keeps, wiping its copy: when the caller wipes its own. */
void dcr_ed25519_forget(void);
/* 0 when sig is valid; DCR_EINTEGRITY when it is not. */
int dcr_ed25519_verify(const uint8_t pk[static DCR_ED25519_PK_LEN], const void *msg, size_t len,
	const uint8_t sig[static DCR_ED25519_SIG_LEN], struct dcr_err *err);

/*
 * Write a secret to a new file with mode 0600. Refuses (DCR_EEXIST) to
 * replace an existing file or follow a symbolic link; the data is on disk
 * when this returns 0, and no partial file is left behind on failure.
 */
int dcr_keyfile_write(const char *path, const void *data, size_t len, struct dcr_err *err);

/*
 * Read a secret of exactly len bytes. Refuses a file that group or others
 * may read or write (DCR_EINTEGRITY), or whose size is not len (DCR_EINVALID).
 */
int dcr_keyfile_read(const char *path, void *out, size_t len, struct dcr_err *err);

#endif
