/* Cryptographic primitives on top of OpenSSL 3, with errors translated at the boundary. */
#include "crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"

#include "banned.h"

/*
 * The algorithms of every call, each fetched once per process, at its
 * first use (the first of a kind sets up OpenSSL's table of all of that
 * kind). With OpenSSL 3, EVP_sha256() and EVP_aes_256_gcm() are looked up
 * again in the method store at each use, HMAC again by name at each HKDF
 * step and its digest again by name at each key; an HMAC-SHA256 without a
 * key is set up once and copied for each key. Nothing here holds a secret.
 * NULL where a fetch failed: the functions that use them then fail as
 * they would have.
 */
static EVP_MD *sha256;
static EVP_MAC_CTX *hmac_sha256;
static EVP_CIPHER *aes128_gcm, *aes256_gcm;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT, hmac_once = PTHREAD_ONCE_INIT, gcm_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	ERR_clear_error();
}

static void fetch_hmac(void)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
		OSSL_PARAM_END,
	};
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);

	if (mac && (hmac_sha256 = EVP_MAC_CTX_new(mac)) && EVP_MAC_CTX_set_params(hmac_sha256, params) != 1) {
		EVP_MAC_CTX_free(hmac_sha256);
		hmac_sha256 = NULL;
	}
	EVP_MAC_free(mac); /* the context holds its own reference */
	ERR_clear_error();
}

static void fetch_gcm(void)
{
	aes128_gcm = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
	aes256_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	ERR_clear_error();
}

const EVP_MD *dcr_md_sha256(void)
{
	pthread_once(&sha256_once, fetch_sha256);
	return sha256;
}

const EVP_CIPHER *dcr_cipher_aes_gcm(size_t key_len)
{
	pthread_once(&gcm_once, fetch_gcm);
	return key_len == 16 ? aes128_gcm : key_len == 32 ? aes256_gcm : NULL;
}

EVP_PKEY *dcr_kept_key_get(struct dcr_kept_key *k, int type, const uint8_t sk[static 32])
{
	EVP_PKEY *key = NULL;
	uint64_t generation;

	pthread_mutex_lock(&k->lock);
	if (k->key && EVP_PKEY_get_id(k->key) == type && CRYPTO_memcmp(k->sk, sk, sizeof(k->sk)) == 0 &&
	    EVP_PKEY_up_ref(k->key) == 1)
		key = k->key;
	generation = k->generation;
	pthread_mutex_unlock(&k->lock);
	if (key || !(key = EVP_PKEY_new_raw_private_key(type, NULL, sk, sizeof(k->sk))))
		return key;
	pthread_mutex_lock(&k->lock);
	/* Imported outside the lock: a forget meanwhile stays a forget (review S7-3). */
	if (k->generation == generation && EVP_PKEY_up_ref(key) == 1) {
		EVP_PKEY_free(k->key);
		k->key = key;
		memcpy(k->sk, sk, sizeof(k->sk));
	}
	pthread_mutex_unlock(&k->lock);
	return key;
}

void dcr_kept_key_forget(struct dcr_kept_key *k)
{
	pthread_mutex_lock(&k->lock);
	EVP_PKEY_free(k->key);
	k->key = NULL;
	dcr_wipe(k->sk, sizeof(k->sk));
	k->generation++;
	pthread_mutex_unlock(&k->lock);
}

int dcr_random(void *buf, size_t len, struct dcr_err *err)
{
	/* RAND_bytes takes an int: draw in pieces so any size_t works. */
	while (len > 0) {
		int n = len > (1u << 30) ? (1 << 30) : (int)len;

		if (RAND_bytes(buf, n) != 1)
			return dcr_err_openssl(err, DCR_EFAIL, "cannot read random bytes");
		buf = (uint8_t *)buf + n;
		len -= (size_t)n;
	}
	return 0;
}

void dcr_wipe(void *p, size_t len)
{
	if (p && len)
		OPENSSL_cleanse(p, len);
}

int dcr_secure_reserve(uint8_t **p, size_t *cap, size_t len, size_t need, size_t max)
{
	size_t grown = *cap ? *cap : 4096;
	uint8_t *q;

	if (need <= *cap)
		return 0;
	if (max && need > max)
		return -1;
	while (grown < need)
		grown = grown > SIZE_MAX / 2 ? SIZE_MAX : grown * 2;
	if (max && grown > max)
		grown = max;
	if (!(q = malloc(grown)))
		return -1;
	if (len)
		memcpy(q, *p, len);
	dcr_wipe(*p, *cap);
	free(*p);
	*p = q;
	*cap = grown;
	return 0;
}

bool dcr_ct_equal(const void *a, const void *b, size_t len)
{
	return len == 0 || CRYPTO_memcmp(a, b, len) == 0;
}

void dcr_hex(const void *data, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * len] = '\0';
}

int dcr_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int dcr_unhex(const char *hex, void *out, size_t len)
{
	uint8_t *p = out;

	if (strlen(hex) != 2 * len)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int hi = dcr_hex_digit((unsigned char)hex[2 * i]), lo = dcr_hex_digit((unsigned char)hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		p[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int dcr_sha256(const void *data, size_t len, uint8_t out[static DCR_SHA256_LEN],
	struct dcr_err *err)
{
	const EVP_MD *md = dcr_md_sha256();

	if (!md || EVP_Digest(data, len, out, NULL, md, NULL) != 1)
		return dcr_err_openssl(err, DCR_EFAIL, "SHA-256 failed");
	return 0;
}

struct dcr_sha256 {
	EVP_MD_CTX *md;
};

struct dcr_sha256 *dcr_sha256_new(void)
{
	struct dcr_sha256 *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->md = EVP_MD_CTX_new();
	if (!h->md || !dcr_md_sha256() || EVP_DigestInit_ex2(h->md, dcr_md_sha256(), NULL) != 1) {
		dcr_sha256_free(h);
		return NULL;
	}
	return h;
}

int dcr_sha256_update(struct dcr_sha256 *h, const void *data, size_t len, struct dcr_err *err)
{
	if (EVP_DigestUpdate(h->md, data, len) != 1)
		return dcr_err_openssl(err, DCR_EFAIL, "SHA-256 failed");
	return 0;
}

int dcr_sha256_final(struct dcr_sha256 *h, uint8_t out[static DCR_SHA256_LEN], struct dcr_err *err)
{
	if (EVP_DigestFinal_ex(h->md, out, NULL) != 1)
		return dcr_err_openssl(err, DCR_EFAIL, "SHA-256 failed");
	return 0;
}

int dcr_sha256_peek(const struct dcr_sha256 *h, uint8_t out[static DCR_SHA256_LEN], struct dcr_err *err)
{
	EVP_MD_CTX *copy = EVP_MD_CTX_new();
	int ok = copy && EVP_MD_CTX_copy_ex(copy, h->md) == 1 && EVP_DigestFinal_ex(copy, out, NULL) == 1;

	EVP_MD_CTX_free(copy);
	return ok ? 0 : dcr_err_openssl(err, DCR_EFAIL, "SHA-256 failed");
}

void dcr_sha256_free(struct dcr_sha256 *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->md);
	free(h);
}

uint8_t *dcr_domain_message(const char *domain, const void *data, size_t len, size_t *out_len)
{
	size_t n = strlen(domain) + 1;
	uint8_t *buf = malloc(n + len);

	if (!buf)
		return NULL;
	memcpy(buf, domain, n);
	if (len)
		memcpy(buf + n, data, len);
	*out_len = n + len;
	return buf;
}

int dcr_sha256_file(const char *path, uint8_t out[static DCR_SHA256_LEN], struct dcr_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct dcr_sha256 *h;
	uint8_t buf[65536];
	ssize_t n;
	int r = 0;

	if (fd < 0)
		return dcr_err_errno(err, errno == ENOENT ? DCR_ENOTFOUND : DCR_EIO, errno, "cannot open '%s'", path);
	h = dcr_sha256_new();
	if (!h) {
		close(fd);
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = dcr_err_errno(err, DCR_EIO, errno, "cannot read '%s'", path);
			break;
		}
		if ((r = dcr_sha256_update(h, buf, (size_t)n, err)) < 0)
			break;
	}
	if (r == 0)
		r = dcr_sha256_final(h, out, err);
	dcr_sha256_free(h);
	close(fd);
	return r;
}

/* HMAC-SHA256 over the concatenation of up to three pieces. */
static int hmac3(const uint8_t *key, size_t key_len, const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len,
	const uint8_t *c, size_t c_len, uint8_t out[static DCR_SHA256_LEN])
{
	static const uint8_t zero_key[1];
	EVP_MAC_CTX *ctx;
	size_t out_len = 0;
	int ok;

	pthread_once(&hmac_once, fetch_hmac);
	ctx = hmac_sha256 ? EVP_MAC_CTX_dup(hmac_sha256) : NULL;
	/* An HMAC key of length zero is valid; OpenSSL just wants a pointer. */
	if (key_len == 0)
		key = zero_key;
	ok = ctx && EVP_MAC_init(ctx, key, key_len, NULL) == 1 &&
		(a_len == 0 || EVP_MAC_update(ctx, a, a_len) == 1) &&
		(b_len == 0 || EVP_MAC_update(ctx, b, b_len) == 1) &&
		(c_len == 0 || EVP_MAC_update(ctx, c, c_len) == 1) &&
		EVP_MAC_final(ctx, out, &out_len, DCR_SHA256_LEN) == 1 &&
		out_len == DCR_SHA256_LEN;
	EVP_MAC_CTX_free(ctx);
	return ok ? 0 : -1;
}

int dcr_hkdf_extract(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
	uint8_t prk[static DCR_SHA256_LEN], struct dcr_err *err)
{
	static const uint8_t zeros[DCR_SHA256_LEN];

	/* RFC 5869: an absent salt is HashLen zero bytes. */
	if (salt_len == 0) {
		salt = zeros;
		salt_len = sizeof(zeros);
	}
	if (hmac3(salt, salt_len, ikm, ikm_len, NULL, 0, NULL, 0, prk) < 0)
		return dcr_err_openssl(err, DCR_EFAIL, "HKDF-Extract failed");
	return 0;
}

int dcr_hkdf_expand(const uint8_t prk[static DCR_SHA256_LEN], const uint8_t *info, size_t info_len,
	uint8_t *out, size_t out_len, struct dcr_err *err)
{
	uint8_t t[DCR_SHA256_LEN];
	size_t t_len = 0, done = 0;
	int r = 0;

	if (out_len > 255 * DCR_SHA256_LEN)
		return dcr_err_set(err, DCR_EFAIL, "HKDF-Expand: %zu bytes requested, at most %d possible",
			out_len, 255 * DCR_SHA256_LEN);
	for (uint8_t i = 1; done < out_len; i++) {
		size_t n = out_len - done < sizeof(t) ? out_len - done : sizeof(t);

		/* T(i) = HMAC(PRK, T(i-1) || info || i) */
		if (hmac3(prk, DCR_SHA256_LEN, t, t_len, info, info_len, &i, 1, t) < 0) {
			r = dcr_err_openssl(err, DCR_EFAIL, "HKDF-Expand failed");
			break;
		}
		t_len = sizeof(t);
		memcpy(out + done, t, n);
		done += n;
	}
	dcr_wipe(t, sizeof(t));
	return r;
}

static EVP_PKEY *ed25519_private(const uint8_t sk[static DCR_ED25519_SK_LEN], struct dcr_err *err)
{
	EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk, DCR_ED25519_SK_LEN);

	if (!pkey)
		dcr_err_openssl(err, DCR_EFAIL, "cannot load Ed25519 private key");
	return pkey;
}

int dcr_ed25519_public(const uint8_t sk[static DCR_ED25519_SK_LEN],
	uint8_t pk[static DCR_ED25519_PK_LEN], struct dcr_err *err)
{
	EVP_PKEY *pkey = ed25519_private(sk, err);
	size_t len = DCR_ED25519_PK_LEN;
	int r = 0;

	if (!pkey)
		return DCR_EFAIL;
	if (EVP_PKEY_get_raw_public_key(pkey, pk, &len) != 1 || len != DCR_ED25519_PK_LEN)
		r = dcr_err_openssl(err, DCR_EFAIL, "cannot derive Ed25519 public key");
	EVP_PKEY_free(pkey);
	return r;
}

int dcr_ed25519_keygen(uint8_t sk[static DCR_ED25519_SK_LEN], uint8_t pk[static DCR_ED25519_PK_LEN],
	struct dcr_err *err)
{
	int r = dcr_random(sk, DCR_ED25519_SK_LEN, err);

	if (r == 0)
		r = dcr_ed25519_public(sk, pk, err);
	if (r < 0)
		dcr_wipe(sk, DCR_ED25519_SK_LEN);
	return r;
}

static struct dcr_kept_key signer = DCR_KEPT_KEY_INIT;

void dcr_ed25519_forget(void)
{
	dcr_kept_key_forget(&signer);
}

int dcr_ed25519_sign(const uint8_t sk[static DCR_ED25519_SK_LEN], const void *msg, size_t len,
	uint8_t sig[static DCR_ED25519_SIG_LEN], struct dcr_err *err)
{
	EVP_PKEY *pkey = dcr_kept_key_get(&signer, EVP_PKEY_ED25519, sk);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t sig_len = DCR_ED25519_SIG_LEN;
	int r = 0;

	if (!pkey)
		r = dcr_err_openssl(err, DCR_EFAIL, "cannot load Ed25519 private key");
	else if (!md || EVP_DigestSignInit(md, NULL, NULL, NULL, pkey) != 1 ||
		 EVP_DigestSign(md, sig, &sig_len, msg, len) != 1 || sig_len != DCR_ED25519_SIG_LEN)
		r = dcr_err_openssl(err, DCR_EFAIL, "Ed25519 signing failed");
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	return r;
}

int dcr_ed25519_verify(const uint8_t pk[static DCR_ED25519_PK_LEN], const void *msg, size_t len,
	const uint8_t sig[static DCR_ED25519_SIG_LEN], struct dcr_err *err)
{
	EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, DCR_ED25519_PK_LEN);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int r = 0;

	if (!pkey || !md || EVP_DigestVerifyInit(md, NULL, NULL, NULL, pkey) != 1)
		r = dcr_err_openssl(err, DCR_EFAIL, "cannot set up Ed25519 verification");
	else if (EVP_DigestVerify(md, sig, DCR_ED25519_SIG_LEN, msg, len) != 1)
		r = dcr_err_openssl(err, DCR_EINTEGRITY, "Ed25519 signature is not valid");
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	return r;
}

int dcr_keyfile_write(const char *path, const void *data, size_t len, struct dcr_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	int saved;

	if (fd < 0) {
		if (errno == EEXIST)
			return dcr_err_set(err, DCR_EEXIST, "'%s' already exists; not overwriting a key", path);
		return dcr_err_errno(err, DCR_EIO, errno, "cannot create '%s'", path);
	}
	/* The umask may not be trusted to leave 0600 alone. */
	if (fchmod(fd, 0600) < 0 || dcr_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		saved = errno;
		close(fd);
		unlink(path);
		return dcr_err_errno(err, DCR_EIO, saved, "cannot write '%s'", path);
	}
	if (close(fd) < 0) {
		saved = errno;
		unlink(path);
		return dcr_err_errno(err, DCR_EIO, saved, "cannot write '%s'", path);
	}
	return 0;
}

int dcr_keyfile_read(const char *path, void *out, size_t len, struct dcr_err *err)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	uint8_t *p = out;
	size_t got = 0;
	struct stat st;
	int r = 0;

	if (fd < 0)
		return dcr_err_errno(err, errno == ENOENT ? DCR_ENOTFOUND : DCR_EIO, errno,
			"cannot open '%s'", path);
	if (fstat(fd, &st) < 0) {
		r = dcr_err_errno(err, DCR_EIO, errno, "cannot stat '%s'", path);
		goto out;
	}
	if (st.st_mode & 077) {
		r = dcr_err_set(err, DCR_EINTEGRITY,
			"'%s' is accessible to other users (mode %04o); run chmod 600 on it",
			path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uintmax_t)st.st_size != len) {
		r = dcr_err_set(err, DCR_EINVALID, "'%s' is not a %zu-byte key file", path, len);
		goto out;
	}
	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? dcr_err_errno(err, DCR_EIO, errno, "cannot read '%s'", path)
				  : dcr_err_set(err, DCR_EINVALID, "'%s' is shorter than %zu bytes", path, len);
			break;
		}
		got += (size_t)n;
	}
	if (r < 0)
		dcr_wipe(out, len);
out:
	close(fd);
	return r;
}
