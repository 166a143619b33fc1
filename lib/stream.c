/* The encrypted dataset stream (STREAM construction, as in age) over AES-256-GCM. */
#include "stream.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"

#include "banned.h"

/* Not a string literal: the magic has no terminating NUL. */
static const uint8_t magic[7] = { 'D', 'C', 'R', 'S', 'T', 'R', 'M' };
#define VERSION 0x01
#define MAC_OFFSET 44
#define NONCE_LEN 12

static const char mac_label[] = "dcr stream v1 header";
static const char payload_label[] = "dcr stream v1 payload";

/*
 * Both keys come from one PRK so that a header which verifies under the
 * dataset key also fixes the payload key: HMAC commits to its key where
 * GCM alone would not.
 */
static int derive(const uint8_t key[static DCR_STREAM_KEY_LEN],
	const uint8_t salt[static DCR_STREAM_SALT_LEN], uint8_t mac_key[static 32],
	uint8_t payload_key[static 32], struct dcr_err *err)
{
	uint8_t prk[DCR_SHA256_LEN];
	int r;

	r = dcr_hkdf_extract(salt, DCR_STREAM_SALT_LEN, key, DCR_STREAM_KEY_LEN, prk, err);
	if (r == 0)
		r = dcr_hkdf_expand(prk, (const uint8_t *)mac_label, strlen(mac_label), mac_key, 32, err);
	if (r == 0)
		r = dcr_hkdf_expand(prk, (const uint8_t *)payload_label, strlen(payload_label),
			payload_key, 32, err);
	dcr_wipe(prk, sizeof(prk));
	return r;
}

static int header_mac(const uint8_t mac_key[static 32], const uint8_t header[static MAC_OFFSET],
	uint8_t out[static DCR_SHA256_LEN], struct dcr_err *err)
{
	size_t len = 0;

	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, mac_key, 32, header, MAC_OFFSET,
		    out, DCR_SHA256_LEN, &len) || len != DCR_SHA256_LEN)
		return dcr_err_openssl(err, DCR_EFAIL, "cannot compute the stream header MAC");
	return 0;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* 11-byte big-endian counter, then the last-chunk flag. */
static void make_nonce(uint8_t nonce[static NONCE_LEN], uint64_t counter, bool last)
{
	memset(nonce, 0, 3);
	for (int i = 0; i < 8; i++)
		nonce[3 + i] = (uint8_t)(counter >> (56 - 8 * i));
	nonce[11] = last ? 0x01 : 0x00;
}

static bool chunk_size_ok(uint32_t n)
{
	return n >= DCR_STREAM_CHUNK_MIN && n <= DCR_STREAM_CHUNK_MAX;
}

/* Read until len bytes or end of input; the count, or -1 with errno set. */
static ssize_t fill(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static int fd_sink(void *ctx, const uint8_t *buf, size_t len, struct dcr_err *err)
{
	int fd = *(int *)ctx;

	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return dcr_err_errno(err, DCR_EIO, errno, "cannot write output");
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * The kernel copies between the page cache and a buffer much faster (about
 * twice, measured) when both sit at the same offset within a cache line. So
 * buffers are page-aligned, and sealed chunk number counter, which starts at
 * stream offset 76 + counter * wire, is placed that offset mod 64 bytes into
 * a buffer with SLACK spare bytes.
 */
#define SLACK 64
#define SKEW(counter, wire) \
	((DCR_STREAM_HEADER_LEN % SLACK + (size_t)((counter) % SLACK) * ((wire) % SLACK)) % SLACK)

static void *buf_alloc(size_t len)
{
	void *p = NULL;

	return posix_memalign(&p, 4096, len) == 0 ? p : NULL;
}

/*
 * The chunk buffers are wiped when freed, but only as far as anything was
 * ever written into them: *span is the largest end offset written into any
 * of a coder's buffers. A 1 MiB chunk buffer of a small table is mostly
 * pages never touched; wiping all of it faulted them in only to zero them
 * (dcrd: 6 MiB, about a third of its CPU, per job; docs/performance.md).
 */
static void note_span(size_t *span, size_t end)
{
	if (end > *span)
		*span = end;
}

static void wipe_span(void *buf, size_t size, size_t span)
{
	if (buf)
		dcr_wipe(buf, span < size ? span : size);
}

struct dcr_stream_enc {
	EVP_CIPHER_CTX *cipher;
	dcr_stream_sink *sink;
	void *sink_ctx;
	uint8_t header[DCR_STREAM_HEADER_LEN];
	bool header_sent;
	bool finished;
	int failed;
	uint64_t counter;
	size_t chunk_size;
	uint8_t *in;  /* plaintext of the pending chunk */
	size_t in_len;
	uint8_t *out; /* chunk_size + tag + SLACK: one sealed chunk */
	size_t span;  /* of in, out and encrypt_fd's spare: see note_span */
};

struct dcr_stream_enc *dcr_stream_enc_new_at(const uint8_t key[static DCR_STREAM_KEY_LEN],
	uint32_t chunk_size, const uint8_t salt[static DCR_STREAM_SALT_LEN], uint64_t counter,
	dcr_stream_sink *sink, void *ctx, struct dcr_err *err)
{
	uint8_t mac_key[32], payload_key[32];
	struct dcr_stream_enc *enc;
	int r;

	if (chunk_size == 0)
		chunk_size = DCR_STREAM_CHUNK_DEFAULT;
	if (!chunk_size_ok(chunk_size)) {
		dcr_err_set(err, DCR_EINVALID, "invalid chunk size %" PRIu32 " (allowed %u to %u)",
			chunk_size, DCR_STREAM_CHUNK_MIN, DCR_STREAM_CHUNK_MAX);
		return NULL;
	}
	enc = calloc(1, sizeof(*enc));
	if (!enc) {
		dcr_err_set(err, DCR_ENOMEM, "out of memory");
		return NULL;
	}
	enc->sink = sink;
	enc->sink_ctx = ctx;
	enc->chunk_size = chunk_size;
	enc->counter = counter;
	enc->header_sent = counter > 0;
	enc->in = buf_alloc(chunk_size);
	enc->out = buf_alloc((size_t)chunk_size + DCR_STREAM_TAG_LEN + SLACK);
	enc->cipher = EVP_CIPHER_CTX_new();
	if (!enc->in || !enc->out || !enc->cipher) {
		dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto fail;
	}

	memcpy(enc->header, magic, sizeof(magic));
	enc->header[7] = VERSION;
	put_be32(enc->header + 8, chunk_size);
	memcpy(enc->header + 12, salt, DCR_STREAM_SALT_LEN);
	r = derive(key, salt, mac_key, payload_key, err);
	if (r == 0)
		r = header_mac(mac_key, enc->header, enc->header + MAC_OFFSET, err);
	if (r == 0 && EVP_EncryptInit_ex(enc->cipher, dcr_cipher_aes_gcm(32), NULL, payload_key, NULL) != 1)
		r = dcr_err_openssl(err, DCR_EFAIL, "cannot set up AES-256-GCM");
	dcr_wipe(mac_key, sizeof(mac_key));
	dcr_wipe(payload_key, sizeof(payload_key));
	if (r < 0)
		goto fail;
	return enc;
fail:
	dcr_stream_enc_free(enc);
	return NULL;
}

struct dcr_stream_enc *dcr_stream_enc_new_with_salt(const uint8_t key[static DCR_STREAM_KEY_LEN],
	uint32_t chunk_size, const uint8_t salt[static DCR_STREAM_SALT_LEN],
	dcr_stream_sink *sink, void *ctx, struct dcr_err *err)
{
	return dcr_stream_enc_new_at(key, chunk_size, salt, 0, sink, ctx, err);
}

struct dcr_stream_enc *dcr_stream_enc_new(const uint8_t key[static DCR_STREAM_KEY_LEN],
	uint32_t chunk_size, dcr_stream_sink *sink, void *ctx, struct dcr_err *err)
{
	uint8_t salt[DCR_STREAM_SALT_LEN];

	if (dcr_random(salt, sizeof(salt), err) < 0)
		return NULL;
	return dcr_stream_enc_new_with_salt(key, chunk_size, salt, sink, ctx, err);
}

void dcr_stream_enc_free(struct dcr_stream_enc *enc)
{
	if (!enc)
		return;
	EVP_CIPHER_CTX_free(enc->cipher);
	wipe_span(enc->in, enc->chunk_size, enc->span);
	wipe_span(enc->out, enc->chunk_size + DCR_STREAM_TAG_LEN + SLACK, enc->span);
	free(enc->in);
	free(enc->out);
	dcr_wipe(enc, sizeof(*enc));
	free(enc);
}

static int enc_check(struct dcr_stream_enc *enc, struct dcr_err *err)
{
	if (enc->failed)
		return dcr_err_set(err, enc->failed, "stream encoder stopped after an earlier error");
	if (enc->finished)
		return dcr_err_set(err, DCR_EFAIL, "stream encoder used after finish");
	return 0;
}

static int send_header(struct dcr_stream_enc *enc, struct dcr_err *err)
{
	int r;

	if (enc->header_sent)
		return 0;
	r = enc->sink(enc->sink_ctx, enc->header, sizeof(enc->header), err);
	if (r == 0)
		enc->header_sent = true;
	return r;
}

/* Seal len bytes at src as the next chunk into out (len + tag bytes). */
static int seal_into(struct dcr_stream_enc *enc, const uint8_t *src, size_t len, bool last, uint8_t *out,
	struct dcr_err *err)
{
	uint8_t nonce[NONCE_LEN];
	int n = 0, m = 0;

	/* Unreachable in practice (2^64 chunks), but a repeated nonce would be fatal. */
	if (enc->counter == UINT64_MAX)
		return dcr_err_set(err, DCR_EINVALID, "stream too long: chunk counter exhausted");
	make_nonce(nonce, enc->counter, last);
	if (EVP_EncryptInit_ex(enc->cipher, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_EncryptUpdate(enc->cipher, NULL, &n, enc->header, sizeof(enc->header)) != 1 ||
	    (len > 0 && EVP_EncryptUpdate(enc->cipher, out, &n, src, (int)len) != 1) ||
	    EVP_EncryptFinal_ex(enc->cipher, out + len, &m) != 1 ||
	    EVP_CIPHER_CTX_ctrl(enc->cipher, EVP_CTRL_AEAD_GET_TAG, DCR_STREAM_TAG_LEN,
		    out + len) != 1)
		return dcr_err_openssl(err, DCR_EFAIL, "chunk %" PRIu64 ": encryption failed",
			enc->counter);
	enc->counter++;
	return 0;
}

/* Seal len bytes at src (the caller's buffer or enc->in) as the next chunk and emit it. */
static int seal(struct dcr_stream_enc *enc, const uint8_t *src, size_t len, bool last,
	struct dcr_err *err)
{
	size_t skew = SKEW(enc->counter, enc->chunk_size + DCR_STREAM_TAG_LEN);
	uint8_t *out = enc->out + skew;
	int r;

	note_span(&enc->span, skew + len + DCR_STREAM_TAG_LEN);
	r = seal_into(enc, src, len, last, out, err);

	return r < 0 ? r : enc->sink(enc->sink_ctx, out, len + DCR_STREAM_TAG_LEN, err);
}

/*
 * A full chunk stays in enc->in until more input shows it is not the last;
 * only then is it sealed with the flag cleared.
 */
static int enc_push(struct dcr_stream_enc *enc, const uint8_t *p, size_t len, struct dcr_err *err)
{
	int r = send_header(enc, err);

	while (r == 0 && len > 0) {
		size_t take;

		if (enc->in_len == enc->chunk_size) {
			r = seal(enc, enc->in, enc->in_len, false, err);
			enc->in_len = 0;
			continue;
		}
		/* Whole chunks followed by more input go straight from the caller's buffer. */
		if (enc->in_len == 0 && len > enc->chunk_size) {
			r = seal(enc, p, enc->chunk_size, false, err);
			p += enc->chunk_size;
			len -= enc->chunk_size;
			continue;
		}
		take = enc->chunk_size - enc->in_len < len ? enc->chunk_size - enc->in_len : len;
		note_span(&enc->span, enc->in_len + take);
		memcpy(enc->in + enc->in_len, p, take);
		enc->in_len += take;
		p += take;
		len -= take;
	}
	return r;
}

int dcr_stream_enc_write(struct dcr_stream_enc *enc, const void *buf, size_t len,
	struct dcr_err *err)
{
	int r = enc_check(enc, err);

	if (r == 0)
		r = enc_push(enc, buf, len, err);
	if (r < 0 && !enc->failed)
		enc->failed = r;
	return r;
}

int dcr_stream_enc_finish(struct dcr_stream_enc *enc, struct dcr_err *err)
{
	int r = enc_check(enc, err);

	/* in_len is 0 here only for empty input, the one case with an empty final chunk. */
	if (r == 0)
		r = send_header(enc, err);
	if (r == 0)
		r = seal(enc, enc->in, enc->in_len, true, err);
	if (r == 0)
		enc->finished = true;
	else if (!enc->failed)
		enc->failed = r;
	return r;
}

/* The checks of dcr_stream_enc_seal and _seal_into: len fits the chunk it would be. */
static int seal_check(struct dcr_stream_enc *enc, size_t len, bool last, struct dcr_err *err)
{
	int r = enc_check(enc, err);

	if (r == 0 && enc->in_len != 0)
		r = dcr_err_set(err, DCR_EFAIL, "stream encoder: sealing a chunk after unsealed input");
	else if (r == 0 && (last ? len > enc->chunk_size || (len == 0 && enc->counter > 0) : len != enc->chunk_size))
		r = dcr_err_set(err, DCR_EINVALID, "chunk %" PRIu64 ": %zu bytes, not a %s chunk of a %zu-byte stream",
			enc->counter, len, last ? "final" : "whole", enc->chunk_size);
	return r;
}

static int sealed(struct dcr_stream_enc *enc, bool last, int r)
{
	if (r == 0 && last)
		enc->finished = true;
	else if (r < 0 && !enc->failed)
		enc->failed = r;
	return r;
}

int dcr_stream_enc_seal(struct dcr_stream_enc *enc, const void *buf, size_t len, bool last,
	struct dcr_err *err)
{
	int r = seal_check(enc, len, last, err);

	if (r == 0)
		r = send_header(enc, err);
	if (r == 0)
		r = seal(enc, buf, len, last, err);
	return sealed(enc, last, r);
}

int dcr_stream_enc_seal_into(struct dcr_stream_enc *enc, const void *buf, size_t len, bool last, uint8_t *out,
	size_t out_size, size_t *out_len, struct dcr_err *err)
{
	size_t head = enc->header_sent ? 0 : sizeof(enc->header);
	int r = seal_check(enc, len, last, err);

	*out_len = 0;
	/* Refused before anything changes: the caller may offer a larger buffer. */
	if (r == 0 && out_size < head + len + DCR_STREAM_TAG_LEN)
		return dcr_err_set(err, DCR_EINVALID, "chunk %" PRIu64 ": %zu bytes of room for %zu bytes of output",
			enc->counter, out_size, head + len + DCR_STREAM_TAG_LEN);
	if (r == 0) {
		memcpy(out, enc->header, head);
		r = seal_into(enc, buf, len, last, out + head, err);
	}
	if (r == 0) {
		enc->header_sent = true;
		*out_len = head + len + DCR_STREAM_TAG_LEN;
	}
	return sealed(enc, last, r);
}

uint64_t dcr_stream_encoded_size(uint64_t size, uint32_t chunk_size)
{
	uint64_t chunks;

	if (chunk_size == 0)
		chunk_size = DCR_STREAM_CHUNK_DEFAULT;
	chunks = size / chunk_size + (size % chunk_size != 0 || size == 0);
	if (size > UINT64_MAX - DCR_STREAM_HEADER_LEN ||
	    chunks > (UINT64_MAX - DCR_STREAM_HEADER_LEN - size) / DCR_STREAM_TAG_LEN)
		return UINT64_MAX;
	return DCR_STREAM_HEADER_LEN + chunks * DCR_STREAM_TAG_LEN + size;
}

/*
 * Two chunk buffers: a full chunk is sealed once the read into the other
 * buffer shows more input. Reading whole chunks into chunk-aligned buffers,
 * rather than copying through dcr_stream_enc_write, keeps the cost near
 * that of the reads and the cipher alone.
 */
int dcr_stream_encrypt_fd(int in, int out, const uint8_t key[static DCR_STREAM_KEY_LEN],
	uint32_t chunk_size, struct dcr_err *err)
{
	struct dcr_err local;
	struct dcr_stream_enc *enc;
	uint8_t *spare;
	ssize_t n;
	int r;

	if (!err)
		err = &local;
	enc = dcr_stream_enc_new(key, chunk_size, fd_sink, &out, err);
	if (!enc)
		return err->code;
	spare = buf_alloc(enc->chunk_size);
	if (!spare) {
		dcr_stream_enc_free(enc);
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	}
	r = send_header(enc, err);
	/* A failed read may have filled any part of a buffer. */
	note_span(&enc->span, enc->chunk_size);
	n = r == 0 ? fill(in, enc->in, enc->chunk_size) : 0;
	while (r == 0 && n == (ssize_t)enc->chunk_size) {
		uint8_t *full = enc->in;

		n = fill(in, spare, enc->chunk_size);
		if (n == 0) {
			n = (ssize_t)enc->chunk_size;
			break;
		}
		if (n > 0)
			r = seal(enc, full, enc->chunk_size, false, err);
		enc->in = spare;
		spare = full;
	}
	if (r == 0 && n < 0)
		r = dcr_err_errno(err, DCR_EIO, errno, "cannot read input");
	if (r == 0) {
		enc->in_len = (size_t)n;
		r = dcr_stream_enc_finish(enc, err);
	}
	wipe_span(spare, enc->chunk_size, enc->span);
	free(spare);
	dcr_stream_enc_free(enc);
	return r;
}

struct dcr_stream_dec {
	EVP_CIPHER_CTX *cipher;
	dcr_stream_sink *sink;
	void *sink_ctx;
	uint8_t key[DCR_STREAM_KEY_LEN]; /* only until the header is verified */
	uint8_t header[DCR_STREAM_HEADER_LEN];
	size_t header_len;
	bool finished;
	int failed;
	uint64_t counter;
	size_t chunk_size;
	size_t wire_size; /* chunk_size + tag */
	uint8_t *in;      /* the pending sealed chunk; wire_size + SLACK */
	size_t in_len;
	uint8_t *out;     /* plaintext, released only after its tag verifies */
	size_t span;      /* of in, out and decrypt_fd's spare: see note_span */
};

struct dcr_stream_dec *dcr_stream_dec_new(const uint8_t key[static DCR_STREAM_KEY_LEN],
	dcr_stream_sink *sink, void *ctx, struct dcr_err *err)
{
	struct dcr_stream_dec *dec = calloc(1, sizeof(*dec));

	if (!dec) {
		dcr_err_set(err, DCR_ENOMEM, "out of memory");
		return NULL;
	}
	dec->cipher = EVP_CIPHER_CTX_new();
	if (!dec->cipher) {
		dcr_err_set(err, DCR_ENOMEM, "out of memory");
		free(dec);
		return NULL;
	}
	memcpy(dec->key, key, DCR_STREAM_KEY_LEN);
	dec->sink = sink;
	dec->sink_ctx = ctx;
	return dec;
}

void dcr_stream_dec_free(struct dcr_stream_dec *dec)
{
	if (!dec)
		return;
	EVP_CIPHER_CTX_free(dec->cipher);
	wipe_span(dec->in, dec->wire_size + SLACK, dec->span);
	wipe_span(dec->out, dec->chunk_size, dec->span);
	free(dec->in);
	free(dec->out);
	dcr_wipe(dec, sizeof(*dec));
	free(dec);
}

static int dec_check(struct dcr_stream_dec *dec, struct dcr_err *err)
{
	if (dec->failed)
		return dcr_err_set(err, dec->failed, "stream decoder stopped after an earlier error");
	if (dec->finished)
		return dcr_err_set(err, DCR_EFAIL, "stream decoder used after finish");
	return 0;
}

static bool magic_ok(const struct dcr_stream_dec *dec)
{
	size_t n = dec->header_len < sizeof(magic) ? dec->header_len : sizeof(magic);

	return memcmp(dec->header, magic, n) == 0;
}

static int bad_magic(struct dcr_err *err)
{
	return dcr_err_set(err, DCR_EINTEGRITY, "not a dcr encrypted stream (bad magic)");
}

/* Runs once all header bytes are in; allocates only after the MAC verifies. */
static int parse_header(struct dcr_stream_dec *dec, struct dcr_err *err)
{
	uint8_t mac_key[32], payload_key[32], mac[DCR_SHA256_LEN];
	uint32_t chunk_size = get_be32(dec->header + 8);
	int r;

	if (!magic_ok(dec))
		return bad_magic(err);
	if (dec->header[7] != VERSION)
		return dcr_err_set(err, DCR_EINTEGRITY,
			"unsupported stream version %u (this dcr reads version %u)",
			dec->header[7], VERSION);
	if (!chunk_size_ok(chunk_size))
		return dcr_err_set(err, DCR_EINTEGRITY,
			"invalid chunk size %" PRIu32 " in stream header (allowed %u to %u)",
			chunk_size, DCR_STREAM_CHUNK_MIN, DCR_STREAM_CHUNK_MAX);
	r = derive(dec->key, dec->header + 12, mac_key, payload_key, err);
	dcr_wipe(dec->key, sizeof(dec->key));
	if (r == 0)
		r = header_mac(mac_key, dec->header, mac, err);
	if (r == 0 && !dcr_ct_equal(mac, dec->header + MAC_OFFSET, sizeof(mac)))
		r = dcr_err_set(err, DCR_EINTEGRITY, "wrong key or corrupted header");
	if (r == 0 && EVP_DecryptInit_ex(dec->cipher, dcr_cipher_aes_gcm(32), NULL, payload_key, NULL) != 1)
		r = dcr_err_openssl(err, DCR_EFAIL, "cannot set up AES-256-GCM");
	dcr_wipe(mac_key, sizeof(mac_key));
	dcr_wipe(payload_key, sizeof(payload_key));
	if (r < 0)
		return r;
	dec->chunk_size = chunk_size;
	dec->wire_size = (size_t)chunk_size + DCR_STREAM_TAG_LEN;
	dec->in = buf_alloc(dec->wire_size + SLACK);
	dec->out = buf_alloc(dec->chunk_size);
	if (!dec->in || !dec->out)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	return 0;
}

/* Decrypt into dec->out; true if the tag verified. Leaves no unverified plaintext behind. */
static bool try_open(struct dcr_stream_dec *dec, const uint8_t *src, size_t len, bool last)
{
	uint8_t nonce[NONCE_LEN];
	size_t pt_len = len - DCR_STREAM_TAG_LEN;
	int n = 0, m = 0;
	bool ok;

	make_nonce(nonce, dec->counter, last);
	note_span(&dec->span, pt_len);
	/* SET_TAG takes a non-const pointer but only copies the tag. */
	ok = EVP_DecryptInit_ex(dec->cipher, NULL, NULL, NULL, nonce) == 1 &&
		EVP_DecryptUpdate(dec->cipher, NULL, &n, dec->header, sizeof(dec->header)) == 1 &&
		(pt_len == 0 || EVP_DecryptUpdate(dec->cipher, dec->out, &n, src, (int)pt_len) == 1) &&
		EVP_CIPHER_CTX_ctrl(dec->cipher, EVP_CTRL_AEAD_SET_TAG, DCR_STREAM_TAG_LEN,
			(void *)(src + pt_len)) == 1 &&
		EVP_DecryptFinal_ex(dec->cipher, dec->out + pt_len, &m) == 1;
	if (!ok) {
		dcr_wipe(dec->out, pt_len);
		/* A failed tag check queues nothing useful; keep the queue clean for others. */
		ERR_clear_error();
	}
	return ok;
}

/*
 * Open the next chunk and release its plaintext. When the tag fails, trying
 * the other flag tells truncation and appended data apart from corruption;
 * the guess only picks the message (the chunk is rejected either way).
 */
static int open_chunk(struct dcr_stream_dec *dec, const uint8_t *src, size_t len, bool last,
	struct dcr_err *err)
{
	uint64_t i = dec->counter;

	if (i == UINT64_MAX)
		return dcr_err_set(err, DCR_EINTEGRITY, "stream too long: chunk counter exhausted");
	if (!try_open(dec, src, len, last)) {
		if (last && len == dec->wire_size && try_open(dec, src, len, false)) {
			dcr_wipe(dec->out, dec->chunk_size);
			return dcr_err_set(err, DCR_EINTEGRITY, "stream truncated after chunk %" PRIu64, i);
		}
		if (!last && try_open(dec, src, len, true)) {
			dcr_wipe(dec->out, dec->chunk_size);
			return dcr_err_set(err, DCR_EINTEGRITY,
				"chunk %" PRIu64 ": data after the final chunk", i);
		}
		return dcr_err_set(err, DCR_EINTEGRITY,
			"chunk %" PRIu64 ": authentication failed (corrupted or reordered data)", i);
	}
	dec->counter++;
	return dec->sink(dec->sink_ctx, dec->out, len - DCR_STREAM_TAG_LEN, err);
}

static int dec_push(struct dcr_stream_dec *dec, const uint8_t *p, size_t len, struct dcr_err *err)
{
	int r = 0;

	if (len == 0)
		return 0;
	if (dec->header_len < DCR_STREAM_HEADER_LEN) {
		size_t take = DCR_STREAM_HEADER_LEN - dec->header_len < len ?
			DCR_STREAM_HEADER_LEN - dec->header_len : len;

		memcpy(dec->header + dec->header_len, p, take);
		dec->header_len += take;
		p += take;
		len -= take;
		/* Say "not a stream" as early as possible, e.g. for a plaintext file. */
		if (!magic_ok(dec))
			return bad_magic(err);
		if (dec->header_len < DCR_STREAM_HEADER_LEN)
			return 0;
		r = parse_header(dec, err);
	}
	/* A full chunk is known not to be the last only once more bytes follow it. */
	while (r == 0 && len > 0) {
		size_t take;

		if (dec->in_len == dec->wire_size) {
			r = open_chunk(dec, dec->in, dec->in_len, false, err);
			dec->in_len = 0;
			continue;
		}
		if (dec->in_len == 0 && len > dec->wire_size) {
			r = open_chunk(dec, p, dec->wire_size, false, err);
			p += dec->wire_size;
			len -= dec->wire_size;
			continue;
		}
		take = dec->wire_size - dec->in_len < len ? dec->wire_size - dec->in_len : len;
		note_span(&dec->span, dec->in_len + take);
		memcpy(dec->in + dec->in_len, p, take);
		dec->in_len += take;
		p += take;
		len -= take;
	}
	return r;
}

int dcr_stream_dec_write(struct dcr_stream_dec *dec, const void *buf, size_t len,
	struct dcr_err *err)
{
	int r = dec_check(dec, err);

	if (r == 0)
		r = dec_push(dec, buf, len, err);
	if (r < 0 && !dec->failed)
		dec->failed = r;
	return r;
}

/* The final chunk is the len bytes at src. */
static int dec_end(struct dcr_stream_dec *dec, const uint8_t *src, size_t len, struct dcr_err *err)
{
	if (dec->header_len == 0)
		return dcr_err_set(err, DCR_EINTEGRITY, "not a dcr encrypted stream (empty input)");
	if (dec->header_len < DCR_STREAM_HEADER_LEN) {
		if (!magic_ok(dec))
			return bad_magic(err);
		return dcr_err_set(err, DCR_EINTEGRITY,
			"stream truncated inside the header (%zu of %d bytes)",
			dec->header_len, DCR_STREAM_HEADER_LEN);
	}
	/* Full chunks wait for a successor, so an empty buffer means no chunk at all. */
	if (len == 0)
		return dcr_err_set(err, DCR_EINTEGRITY, "stream truncated after the header (no chunks)");
	if (len < DCR_STREAM_TAG_LEN)
		return dcr_err_set(err, DCR_EINTEGRITY,
			"chunk %" PRIu64 ": truncated (%zu bytes, shorter than its %d-byte tag)",
			dec->counter, len, DCR_STREAM_TAG_LEN);
	/* Only an empty plaintext is encoded as an empty final chunk. */
	if (len == DCR_STREAM_TAG_LEN && dec->counter > 0)
		return dcr_err_set(err, DCR_EINTEGRITY,
			"chunk %" PRIu64 ": empty final chunk after earlier chunks (truncated or altered stream)",
			dec->counter);
	return open_chunk(dec, src, len, true, err);
}

static int finish_at(struct dcr_stream_dec *dec, const uint8_t *src, size_t len,
	struct dcr_err *err)
{
	int r = dec_check(dec, err);

	if (r == 0)
		r = dec_end(dec, src, len, err);
	if (r == 0)
		dec->finished = true;
	else if (!dec->failed)
		dec->failed = r;
	return r;
}

int dcr_stream_dec_finish(struct dcr_stream_dec *dec, struct dcr_err *err)
{
	return finish_at(dec, dec->in, dec->in_len, err);
}

/* Like encryption: two buffers, and a full chunk is opened once more input shows it is not the last. */
int dcr_stream_decrypt_fd(int in, int out, const uint8_t key[static DCR_STREAM_KEY_LEN],
	struct dcr_err *err)
{
	return dcr_stream_decrypt_fd_sink(in, key, fd_sink, &out, err);
}

int dcr_stream_decrypt_fd_sink(int in, const uint8_t key[static DCR_STREAM_KEY_LEN], dcr_stream_sink *sink,
	void *ctx, struct dcr_err *err)
{
	uint8_t header[DCR_STREAM_HEADER_LEN];
	struct dcr_err local;
	struct dcr_stream_dec *dec;
	uint8_t *spare = NULL, *at = NULL;
	ssize_t n;
	int r;

	if (!err)
		err = &local;
	dec = dcr_stream_dec_new(key, sink, ctx, err);
	if (!dec)
		return err->code;
	n = fill(in, header, sizeof(header));
	if (n < 0)
		r = dcr_err_errno(err, DCR_EIO, errno, "cannot read input");
	else
		r = dcr_stream_dec_write(dec, header, (size_t)n, err);
	/* Short or bad headers are reported by finish. */
	if (r < 0 || n < (ssize_t)sizeof(header))
		goto out;
	spare = buf_alloc(dec->wire_size + SLACK);
	if (!spare) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	at = dec->in + SKEW(dec->counter, dec->wire_size);
	n = fill(in, at, dec->wire_size);
	/* A failed read may have filled any part of the buffer. */
	note_span(&dec->span, (size_t)(at - dec->in) + (n < 0 ? dec->wire_size : (size_t)n));
	while (r == 0 && n == (ssize_t)dec->wire_size) {
		uint8_t *full = at, *base = dec->in;

		at = spare + SKEW(dec->counter + 1, dec->wire_size);
		/* The spare buffer's read may end anywhere up to SLACK + wire_size (a whole chunk was read). */
		note_span(&dec->span, SLACK + dec->wire_size);
		n = fill(in, at, dec->wire_size);
		if (n == 0) {
			at = full;
			n = (ssize_t)dec->wire_size;
			break;
		}
		if (n > 0)
			r = open_chunk(dec, full, dec->wire_size, false, err);
		dec->in = spare;
		spare = base;
	}
	if (r == 0 && n < 0)
		r = dcr_err_errno(err, DCR_EIO, errno, "cannot read input");
	if (r == 0)
		r = finish_at(dec, at, (size_t)n, err);
out:
	if (r == 0 && !dec->finished)
		r = dcr_stream_dec_finish(dec, err);
	wipe_span(spare, dec->wire_size + SLACK, dec->span);
	free(spare);
	dcr_stream_dec_free(dec);
	return r;
}
