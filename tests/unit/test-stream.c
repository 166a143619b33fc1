/* Unit tests for lib/stream.c: round trips, a known answer, and every attack the format must catch. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "testutil.h"

#include "crypto.h"
#include "stream.h"

#define H DCR_STREAM_HEADER_LEN
#define T DCR_STREAM_TAG_LEN

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static int buf_sink(void *ctx, const uint8_t *data, size_t len, struct dcr_err *err)
{
	struct buf *b = ctx;

	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

static void buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static const uint8_t key_a[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
	17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };

/* Deterministic filler so a failure reproduces; not random in any sense that matters. */
static uint8_t *pattern(size_t len, uint32_t seed)
{
	uint8_t *p = malloc(len ? len : 1);
	uint32_t x = seed * 2654435761u + 1;

	assert_non_null(p);
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
	return p;
}

/*
 * Piece sizes for splitting writes: piece 0 writes everything at once
 * (exercising the no-copy path); otherwise sizes cycle through odd values
 * around the given one so that writes straddle chunk boundaries.
 */
static size_t next_piece(size_t piece, size_t *k)
{
	static const size_t mult[] = { 1, 3, 7, 2, 11 };

	size_t i = (*k)++;

	if (piece == 0)
		return SIZE_MAX;
	return piece * mult[i % 5] + (i & 1);
}

static void encrypt(const uint8_t key[32], uint32_t chunk, const uint8_t *salt,
	const uint8_t *pt, size_t len, size_t piece, struct buf *out)
{
	struct dcr_err err = { 0 };
	struct dcr_stream_enc *enc;
	size_t done = 0, k = 0;

	enc = salt ? dcr_stream_enc_new_with_salt(key, chunk, salt, buf_sink, out, &err)
		   : dcr_stream_enc_new(key, chunk, buf_sink, out, &err);
	assert_non_null(enc);
	while (done < len) {
		size_t n = next_piece(piece, &k);

		if (n > len - done)
			n = len - done;
		assert_int_equal(dcr_stream_enc_write(enc, pt + done, n, &err), 0);
		done += n;
	}
	assert_int_equal(dcr_stream_enc_finish(enc, &err), 0);
	dcr_stream_enc_free(enc);
}

/* Returns 0 or the first error; out receives what the decoder released. */
static int decrypt(const uint8_t key[32], const uint8_t *ct, size_t len, size_t piece,
	struct buf *out, struct dcr_err *err)
{
	struct dcr_stream_dec *dec = dcr_stream_dec_new(key, buf_sink, out, err);
	size_t done = 0, k = 0;
	int r = 0;

	assert_non_null(dec);
	while (r == 0 && done < len) {
		size_t n = next_piece(piece, &k);

		if (n > len - done)
			n = len - done;
		r = dcr_stream_dec_write(dec, ct + done, n, err);
		done += n;
	}
	if (r == 0)
		r = dcr_stream_dec_finish(dec, err);
	dcr_stream_dec_free(dec);
	return r;
}

static size_t wire_len(size_t len, size_t chunk)
{
	size_t chunks = len == 0 ? 1 : (len + chunk - 1) / chunk;

	return H + chunks * T + len;
}

static void round_trip(uint32_t chunk, size_t len, size_t enc_piece, size_t dec_piece)
{
	uint8_t *pt = pattern(len, (uint32_t)len);
	struct buf ct = { 0 }, back = { 0 };
	struct dcr_err err = { 0 };
	size_t c = chunk ? chunk : DCR_STREAM_CHUNK_DEFAULT;

	encrypt(key_a, chunk, NULL, pt, len, enc_piece, &ct);
	assert_int_equal(ct.len, wire_len(len, c));
	if (decrypt(key_a, ct.p, ct.len, dec_piece, &back, &err) != 0)
		fail_msg("chunk %zu, len %zu: %s", c, len, err.msg);
	assert_int_equal(back.len, len);
	if (len)
		assert_memory_equal(back.p, pt, len);
	buf_free(&ct);
	buf_free(&back);
	free(pt);
}

static void test_round_trip_small_chunks(void **state)
{
	static const uint32_t chunks[] = { 16, 17, 64 };
	static const size_t pieces[] = { 0, 1, 5, 16, 63 };

	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		size_t c = chunks[i];
		size_t lens[] = { 0, 1, c - 1, c, c + 1, 2 * c, 3 * c - 1, 5 * c + 7, 40 * c };

		for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++)
			for (size_t p = 0; p < sizeof(pieces) / sizeof(pieces[0]); p++)
				round_trip(chunks[i], lens[j], pieces[p], pieces[(p + 2) % 5]);
	}
}

static void test_round_trip_default_chunk(void **state)
{
	size_t c = DCR_STREAM_CHUNK_DEFAULT;
	size_t lens[] = { 0, 1, c - 1, c, c + 1, 5 * c / 2, 3 * c };

	for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
		round_trip(0, lens[j], 0, 0);
		round_trip(0, lens[j], 65537, 4093);
	}
	/* The largest chunk size is accepted at both ends. */
	round_trip(DCR_STREAM_CHUNK_MAX, 1000, 0, 0);
}

static void test_bad_chunk_size(void **state)
{
	struct dcr_err err = { 0 };
	struct buf out = { 0 };

	assert_null(dcr_stream_enc_new(key_a, 15, buf_sink, &out, &err));
	assert_int_equal(err.code, DCR_EINVALID);
	assert_string_equal(err.msg, "invalid chunk size 15 (allowed 16 to 16777216)");
	assert_null(dcr_stream_enc_new(key_a, DCR_STREAM_CHUNK_MAX + 1, buf_sink, &out, &err));
	assert_int_equal(err.code, DCR_EINVALID);
	dcr_stream_enc_free(NULL);
	dcr_stream_dec_free(NULL);
}

/* Computed independently (Python, cryptography's AESGCM and hmac) from dcr-formats(5). */
static const uint8_t kat_header[H] =
	"\x44\x43\x52\x53\x54\x52\x4d\x01\x00\x00\x00\x10\x40\x41\x42\x43"
	"\x44\x45\x46\x47\x48\x49\x4a\x4b\x4c\x4d\x4e\x4f\x50\x51\x52\x53"
	"\x54\x55\x56\x57\x58\x59\x5a\x5b\x5c\x5d\x5e\x5f\xfc\x35\x90\x3a"
	"\xac\x44\xee\x7b\x39\x6a\x06\x12\xcb\x1b\x02\x34\x66\x86\xf3\x96"
	"\x50\x36\x9c\x22\xde\x9b\x22\x9d\x34\xbe\x51\x39";
static const uint8_t kat_body[91] =
	"\xc1\x44\x0f\x54\x01\xf3\xbc\x57\xd0\x5a\x16\x00\x0a\x1f\xd3\x15"
	"\x13\xd1\x75\xa2\xca\x24\x13\x78\x8a\xc8\x19\x34\xbf\x1a\x61\x4c"
	"\x98\xa6\x37\xd1\xa1\xac\x1a\xc3\x56\x65\x97\x43\x68\xb2\xc5\xd4"
	"\x36\x74\xc4\xa9\xd4\xb1\x28\x9b\x52\x0a\x9c\x35\x53\xbd\x3d\x81"
	"\xb4\x15\x5b\xb7\x6b\x35\x5c\xd0\xfb\x8b\xdf\xbe\x06\xfd\xba\xeb"
	"\xf4\xe6\x0b\xf4\x6a\xa1\xd8\xb9\x48\x33\xca";
static const uint8_t kat_empty_tag[T] =
	"\x30\xf4\xeb\xeb\x9c\x10\xed\xa7\xe4\x87\x52\x7f\xb0\x2f\xba\xdb";

/* A sink that records the size of each call, to check chunk framing. */
struct framing {
	struct buf all;
	size_t sizes[8];
	size_t calls;
};

static int framing_sink(void *ctx, const uint8_t *data, size_t len, struct dcr_err *err)
{
	struct framing *f = ctx;

	if (f->calls < 8)
		f->sizes[f->calls] = len;
	f->calls++;
	return buf_sink(&f->all, data, len, err);
}

static void test_known_answer(void **state)
{
	static const char text[] = "The quick brown fox jumps over the lazy dog";
	uint8_t key[32], salt[32];
	struct framing f = { 0 };
	struct buf back = { 0 }, empty = { 0 };
	struct dcr_err err = { 0 };
	struct dcr_stream_enc *enc;

	for (int i = 0; i < 32; i++) {
		key[i] = (uint8_t)i;
		salt[i] = (uint8_t)(0x40 + i);
	}
	enc = dcr_stream_enc_new_with_salt(key, 16, salt, framing_sink, &f, &err);
	assert_non_null(enc);
	assert_int_equal(dcr_stream_enc_write(enc, text, strlen(text), &err), 0);
	assert_int_equal(dcr_stream_enc_finish(enc, &err), 0);
	dcr_stream_enc_free(enc);

	assert_int_equal(f.all.len, H + sizeof(kat_body));
	assert_memory_equal(f.all.p, kat_header, H);
	assert_memory_equal(f.all.p + H, kat_body, sizeof(kat_body));
	/* Header, then chunks of 16 + 16, 16 + 16 and 11 + 16 bytes. */
	assert_int_equal(f.calls, 4);
	assert_int_equal(f.sizes[0], H);
	assert_int_equal(f.sizes[1], 32);
	assert_int_equal(f.sizes[2], 32);
	assert_int_equal(f.sizes[3], 27);

	assert_int_equal(decrypt(key, f.all.p, f.all.len, 0, &back, &err), 0);
	assert_int_equal(back.len, strlen(text));
	assert_memory_equal(back.p, text, strlen(text));

	/* Empty plaintext: the header and one bare tag. */
	encrypt(key, 16, salt, NULL, 0, 0, &empty);
	assert_int_equal(empty.len, H + T);
	assert_memory_equal(empty.p, kat_header, H);
	assert_memory_equal(empty.p + H, kat_empty_tag, T);
	buf_free(&f.all);
	buf_free(&back);
	buf_free(&empty);
}

static void test_random_salt(void **state)
{
	struct buf a = { 0 }, b = { 0 };

	encrypt(key_a, 0, NULL, (const uint8_t *)"x", 1, 0, &a);
	encrypt(key_a, 0, NULL, (const uint8_t *)"x", 1, 0, &b);
	assert_int_equal(a.len, b.len);
	assert_memory_not_equal(a.p + 12, b.p + 12, DCR_STREAM_SALT_LEN);
	buf_free(&a);
	buf_free(&b);
}

/*
 * The attack fixtures: chunk size 64, so chunk k starts at H + 80 k.
 * "partial" has 4 full chunks and a final one of 10 bytes (26 on the wire);
 * "full" has 4 chunks, the final one full.
 */
#define C 64
#define W (C + T)
#define AT(k) (H + (size_t)(k) * W)

struct fixture {
	uint8_t *pt;
	size_t pt_len;
	struct buf ct;
};

static void fixture_make(struct fixture *f, size_t len, const uint8_t key[32], uint8_t salt_byte)
{
	uint8_t salt[32];

	memset(salt, salt_byte, sizeof(salt));
	f->pt = pattern(len, 7);
	f->pt_len = len;
	memset(&f->ct, 0, sizeof(f->ct));
	encrypt(key, C, salt, f->pt, len, 0, &f->ct);
}

static void fixture_free(struct fixture *f)
{
	free(f->pt);
	buf_free(&f->ct);
}

/*
 * Decode ct whole and in 1- and 7-byte pieces: each must fail with code and
 * exactly msg, and release no more than the first `released` plaintext bytes
 * (the chunks before the bad one), all of them authentic.
 */
static void expect_reject(const uint8_t *ct, size_t len, const uint8_t key[32], int code,
	const char *msg, const struct fixture *f, size_t released)
{
	static const size_t pieces[] = { 0, 1, 7 };

	for (size_t i = 0; i < 3; i++) {
		struct dcr_err err = { 0 };
		struct buf out = { 0 };
		int r = decrypt(key, ct, len, pieces[i], &out, &err);

		assert_int_equal(r, code);
		assert_int_equal(err.code, code);
		assert_string_equal(err.msg, msg);
		assert_true(out.len <= released);
		if (f && out.len)
			assert_memory_equal(out.p, f->pt, out.len);
		buf_free(&out);
	}
}

static void test_truncation(void **state)
{
	struct fixture p, full;
	uint8_t *ct;

	fixture_make(&p, 4 * C + 10, key_a, 1);
	fixture_make(&full, 4 * C, key_a, 1);
	ct = p.ct.p;
	assert_int_equal(p.ct.len, AT(4) + 26);

	/* At a chunk boundary: chunk 2 is intact but was sealed as non-final. */
	expect_reject(ct, AT(3), key_a, DCR_EINTEGRITY, "stream truncated after chunk 2", &p, 2 * C);
	/* In the middle of a chunk. */
	expect_reject(ct, AT(2) + 30, key_a, DCR_EINTEGRITY,
		"chunk 2: authentication failed (corrupted or reordered data)", &p, 2 * C);
	/* Dropping the final chunk, short or full. */
	expect_reject(ct, AT(4), key_a, DCR_EINTEGRITY, "stream truncated after chunk 3", &p, 3 * C);
	expect_reject(full.ct.p, AT(3), key_a, DCR_EINTEGRITY, "stream truncated after chunk 2",
		&full, 2 * C);
	/* Inside the last tag. */
	expect_reject(ct, AT(4) + 10, key_a, DCR_EINTEGRITY,
		"chunk 4: truncated (10 bytes, shorter than its 16-byte tag)", &p, 4 * C);
	/* Right after the header, inside the header, nothing at all. */
	expect_reject(ct, H, key_a, DCR_EINTEGRITY, "stream truncated after the header (no chunks)",
		&p, 0);
	expect_reject(ct, 40, key_a, DCR_EINTEGRITY, "stream truncated inside the header (40 of 76 bytes)",
		&p, 0);
	expect_reject(ct, 0, key_a, DCR_EINTEGRITY, "not a dcr encrypted stream (empty input)", &p, 0);
	fixture_free(&p);
	fixture_free(&full);
}

static void test_empty_final_chunk(void **state)
{
	struct fixture p;
	uint8_t *ct;

	/* Four non-final chunks and then a bare 16-byte "final chunk". */
	fixture_make(&p, 4 * C + 10, key_a, 1);
	ct = p.ct.p;
	expect_reject(ct, AT(4) + T, key_a, DCR_EINTEGRITY,
		"chunk 4: empty final chunk after earlier chunks (truncated or altered stream)", &p, 4 * C);
	fixture_free(&p);
}

static void swap(uint8_t *a, uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t t = a[i];

		a[i] = b[i];
		b[i] = t;
	}
}

static void test_reorder(void **state)
{
	struct fixture p;
	uint8_t *ct;

	fixture_make(&p, 4 * C + 10, key_a, 1);
	ct = p.ct.p;
	swap(ct + AT(1), ct + AT(2), W);
	expect_reject(ct, p.ct.len, key_a, DCR_EINTEGRITY,
		"chunk 1: authentication failed (corrupted or reordered data)", &p, C);
	swap(ct + AT(1), ct + AT(2), W);
	/* A chunk copied over the final one fails there, flag or no flag. */
	ct = realloc(ct, AT(5));
	assert_non_null(ct);
	p.ct.p = ct;
	memcpy(ct + AT(4), ct + AT(2), W);
	expect_reject(ct, AT(5), key_a, DCR_EINTEGRITY,
		"chunk 4: authentication failed (corrupted or reordered data)", &p, 4 * C);
	fixture_free(&p);
}

static void test_splice(void **state)
{
	struct fixture a, b;

	/* Same key and plaintext, another salt. */
	fixture_make(&a, 4 * C + 10, key_a, 1);
	fixture_make(&b, 4 * C + 10, key_a, 2);
	memcpy(a.ct.p + AT(1), b.ct.p + AT(1), W);
	expect_reject(a.ct.p, a.ct.len, key_a, DCR_EINTEGRITY,
		"chunk 1: authentication failed (corrupted or reordered data)", &a, C);
	/* Header of b, body of a. */
	memcpy(a.ct.p, b.ct.p, H);
	expect_reject(a.ct.p, a.ct.len, key_a, DCR_EINTEGRITY,
		"chunk 0: authentication failed (corrupted or reordered data)", &a, 0);
	fixture_free(&a);
	fixture_free(&b);
}

static void test_appended(void **state)
{
	struct fixture full, p;
	uint8_t *ct;

	fixture_make(&full, 4 * C, key_a, 1);
	fixture_make(&p, 4 * C + 10, key_a, 1);
	/* After a full final chunk: one byte, and a whole chunk from elsewhere. */
	ct = realloc(full.ct.p, full.ct.len + W);
	assert_non_null(ct);
	full.ct.p = ct;
	ct[full.ct.len] = 0;
	expect_reject(ct, full.ct.len + 1, key_a, DCR_EINTEGRITY,
		"chunk 3: data after the final chunk", &full, 3 * C);
	memcpy(ct + full.ct.len, p.ct.p + AT(0), W);
	expect_reject(ct, full.ct.len + W, key_a, DCR_EINTEGRITY,
		"chunk 3: data after the final chunk", &full, 3 * C);
	/* After a short final chunk the boundary is unknown: the chunk fails. */
	ct = realloc(p.ct.p, p.ct.len + 1);
	assert_non_null(ct);
	p.ct.p = ct;
	ct[p.ct.len] = 0;
	expect_reject(ct, p.ct.len + 1, key_a, DCR_EINTEGRITY,
		"chunk 4: authentication failed (corrupted or reordered data)", &p, 4 * C);
	fixture_free(&full);
	fixture_free(&p);
}

static void flip(uint8_t *ct, size_t byte, int bit)
{
	ct[byte] ^= (uint8_t)(1u << bit);
}

static void test_header_flips(void **state)
{
	static const char corrupt[] = "wrong key or corrupted header";
	struct fixture p;
	uint8_t *ct;

	fixture_make(&p, 4 * C + 10, key_a, 1);
	ct = p.ct.p;

	flip(ct, 3, 0);
	expect_reject(ct, p.ct.len, key_a, DCR_EINTEGRITY, "not a dcr encrypted stream (bad magic)", &p, 0);
	flip(ct, 3, 0);
	flip(ct, 7, 1);
	expect_reject(ct, p.ct.len, key_a, DCR_EINTEGRITY,
		"unsupported stream version 3 (this dcr reads version 1)", &p, 0);
	flip(ct, 7, 1);
	flip(ct, 8, 7);
	expect_reject(ct, p.ct.len, key_a, DCR_EINTEGRITY,
		"invalid chunk size 2147483712 in stream header (allowed 16 to 16777216)", &p, 0);
	flip(ct, 8, 7);
	flip(ct, 11, 0);
	expect_reject(ct, p.ct.len, key_a, DCR_EINTEGRITY, corrupt, &p, 0);
	flip(ct, 11, 0);
	flip(ct, 20, 4);
	expect_reject(ct, p.ct.len, key_a, DCR_EINTEGRITY, corrupt, &p, 0);
	flip(ct, 20, 4);
	flip(ct, 75, 7);
	expect_reject(ct, p.ct.len, key_a, DCR_EINTEGRITY, corrupt, &p, 0);
	flip(ct, 75, 7);

	/* Every other bit of the header too; none may get as far as a chunk. */
	for (size_t i = 0; i < H; i++) {
		for (int bit = 0; bit < 8; bit++) {
			struct dcr_err err = { 0 };
			struct buf out = { 0 };

			flip(ct, i, bit);
			assert_true(decrypt(key_a, ct, p.ct.len, 0, &out, &err) < 0);
			assert_int_equal(out.len, 0);
			assert_int_not_equal(strncmp(err.msg, "chunk ", 6), 0);
			assert_null(strstr(err.msg, "after chunk"));
			flip(ct, i, bit);
			buf_free(&out);
		}
	}
	fixture_free(&p);
}

static void test_body_flips(void **state)
{
	struct fixture p, full;
	uint8_t *ct;

	fixture_make(&p, 4 * C + 10, key_a, 1);
	fixture_make(&full, 4 * C, key_a, 1);
	ct = p.ct.p;

	flip(ct, AT(2) + 5, 3);
	expect_reject(ct, p.ct.len, key_a, DCR_EINTEGRITY,
		"chunk 2: authentication failed (corrupted or reordered data)", &p, 2 * C);
	flip(ct, AT(2) + 5, 3);
	flip(ct, AT(1) + C + 3, 0);
	expect_reject(ct, p.ct.len, key_a, DCR_EINTEGRITY,
		"chunk 1: authentication failed (corrupted or reordered data)", &p, C);
	flip(ct, AT(1) + C + 3, 0);
	flip(ct, AT(4) + 2, 6);
	expect_reject(ct, p.ct.len, key_a, DCR_EINTEGRITY,
		"chunk 4: authentication failed (corrupted or reordered data)", &p, 4 * C);
	flip(ct, AT(4) + 2, 6);
	flip(full.ct.p, AT(3) + C + T - 1, 1);
	expect_reject(full.ct.p, full.ct.len, key_a, DCR_EINTEGRITY,
		"chunk 3: authentication failed (corrupted or reordered data)", &full, 3 * C);
	flip(full.ct.p, AT(3) + C + T - 1, 1);

	/* Every bit of every chunk: the error names the chunk the bit is in. */
	for (size_t i = H; i < p.ct.len; i++) {
		char want[64];

		snprintf(want, sizeof(want), "chunk %zu: authentication failed", (i - H) / W);
		for (int bit = 0; bit < 8; bit++) {
			struct dcr_err err = { 0 };
			struct buf out = { 0 };

			flip(ct, i, bit);
			assert_int_equal(decrypt(key_a, ct, p.ct.len, 0, &out, &err), DCR_EINTEGRITY);
			assert_int_equal(strncmp(err.msg, want, strlen(want)), 0);
			assert_int_equal(out.len, (i - H) / W * C);
			flip(ct, i, bit);
			buf_free(&out);
		}
	}
	fixture_free(&p);
	fixture_free(&full);
}

static void test_wrong_key(void **state)
{
	uint8_t key_b[32];
	struct fixture p;

	memcpy(key_b, key_a, 32);
	key_b[31] ^= 0x80;
	fixture_make(&p, 4 * C + 10, key_a, 1);
	expect_reject(p.ct.p, p.ct.len, key_b, DCR_EINTEGRITY, "wrong key or corrupted header", &p, 0);
	fixture_free(&p);
}

static void test_not_a_stream(void **state)
{
	static const char text[] = "name,age\nalice,41\n";
	struct dcr_err err = { 0 };
	struct buf out = { 0 };
	struct dcr_stream_dec *dec = dcr_stream_dec_new(key_a, buf_sink, &out, &err);

	/* Plaintext is refused on the first write, not after 76 bytes. */
	assert_int_equal(dcr_stream_dec_write(dec, text, 5, &err), DCR_EINTEGRITY);
	assert_string_equal(err.msg, "not a dcr encrypted stream (bad magic)");
	/* And the decoder stays failed. */
	assert_int_equal(dcr_stream_dec_write(dec, text, 5, &err), DCR_EINTEGRITY);
	assert_int_equal(dcr_stream_dec_finish(dec, &err), DCR_EINTEGRITY);
	dcr_stream_dec_free(dec);
	expect_reject((const uint8_t *)text, 5, key_a, DCR_EINTEGRITY,
		"not a dcr encrypted stream (bad magic)", NULL, 0);
}

static int failing_sink(void *ctx, const uint8_t *data, size_t len, struct dcr_err *err)
{
	int *calls = ctx;

	if ((*calls)++ == 1)
		return dcr_err_set(err, DCR_EIO, "disk full");
	return 0;
}

static void test_sink_error(void **state)
{
	struct dcr_err err = { 0 };
	uint8_t data[200] = { 0 };
	struct buf out = { 0 };
	int calls = 0;
	struct dcr_stream_enc *enc = dcr_stream_enc_new(key_a, 16, failing_sink, &calls, &err);
	struct dcr_stream_dec *dec;

	/* The header goes through, the first chunk does not. */
	assert_int_equal(dcr_stream_enc_write(enc, data, sizeof(data), &err), DCR_EIO);
	assert_string_equal(err.msg, "disk full");
	assert_int_equal(dcr_stream_enc_write(enc, data, 1, &err), DCR_EIO);
	assert_int_equal(dcr_stream_enc_finish(enc, &err), DCR_EIO);
	dcr_stream_enc_free(enc);

	enc = dcr_stream_enc_new(key_a, 16, buf_sink, &out, &err);
	assert_int_equal(dcr_stream_enc_write(enc, data, sizeof(data), &err), 0);
	assert_int_equal(dcr_stream_enc_finish(enc, &err), 0);
	assert_int_equal(dcr_stream_enc_write(enc, data, 1, &err), DCR_EFAIL);
	dcr_stream_enc_free(enc);

	/* A decoder's sink error (a schema violation, a full disk) is passed on as the sink said, not as tampering. */
	calls = 0;
	dec = dcr_stream_dec_new(key_a, failing_sink, &calls, &err);
	assert_int_equal(dcr_stream_dec_write(dec, out.p, out.len, &err), DCR_EIO);
	assert_string_equal(err.msg, "disk full");
	assert_int_equal(dcr_stream_dec_finish(dec, &err), DCR_EIO);
	dcr_stream_dec_free(dec);
	buf_free(&out);
}

static int temp_file(char *path)
{
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	return fd;
}

/* Every length class around the chunk size, through temporary files. */
static void test_fd_sizes(void **state)
{
	static const size_t c = 1000;
	size_t lens[] = { 0, 1, c - 1, c, c + 1, 2 * c, 3 * c + 17 };
	char p1[] = "/tmp/test-stream-XXXXXX", p2[] = "/tmp/test-stream-XXXXXX",
	     p3[] = "/tmp/test-stream-XXXXXX";
	int plain = temp_file(p1), sealed = temp_file(p2), opened = temp_file(p3);

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t len = lens[i];
		uint8_t *pt = pattern(len, (uint32_t)i), *back = malloc(len + 1);
		struct dcr_err err = { 0 };

		assert_non_null(back);
		assert_int_equal(ftruncate(plain, 0), 0);
		assert_int_equal(ftruncate(sealed, 0), 0);
		assert_int_equal(ftruncate(opened, 0), 0);
		assert_int_equal(pwrite(plain, pt, len, 0), (ssize_t)len);
		assert_int_equal(lseek(plain, 0, SEEK_SET), 0);
		assert_int_equal(lseek(sealed, 0, SEEK_SET), 0);
		assert_int_equal(lseek(opened, 0, SEEK_SET), 0);
		if (dcr_stream_encrypt_fd(plain, sealed, key_a, c, &err) != 0)
			fail_msg("encrypt %zu bytes: %s", len, err.msg);
		assert_int_equal(lseek(sealed, 0, SEEK_CUR), (off_t)wire_len(len, c));
		assert_int_equal(lseek(sealed, 0, SEEK_SET), 0);
		if (dcr_stream_decrypt_fd(sealed, opened, key_a, &err) != 0)
			fail_msg("decrypt %zu bytes: %s", len, err.msg);
		assert_int_equal(pread(opened, back, len + 1, 0), (ssize_t)len);
		if (len)
			assert_memory_equal(back, pt, len);
		free(pt);
		free(back);
	}
	close(plain);
	close(sealed);
	close(opened);
}

static void test_fd(void **state)
{
	size_t len = 3 * 100000 + 123;
	uint8_t *pt = pattern(len, 99), *back = malloc(len + 1);
	char p1[] = "/tmp/test-stream-XXXXXX", p2[] = "/tmp/test-stream-XXXXXX",
	     p3[] = "/tmp/test-stream-XXXXXX";
	int plain = temp_file(p1), sealed = temp_file(p2), opened = temp_file(p3);
	struct dcr_err err = { 0 };
	int pipefd[2];
	pid_t pid;
	int status;
	off_t size;

	assert_non_null(back);
	assert_int_equal(write(plain, pt, len), (ssize_t)len);
	assert_int_equal(lseek(plain, 0, SEEK_SET), 0);
	assert_int_equal(dcr_stream_encrypt_fd(plain, sealed, key_a, 100000, &err), 0);
	size = lseek(sealed, 0, SEEK_CUR);
	assert_int_equal(size, (off_t)wire_len(len, 100000));
	assert_int_equal(lseek(sealed, 0, SEEK_SET), 0);
	assert_int_equal(dcr_stream_decrypt_fd(sealed, opened, key_a, &err), 0);
	assert_int_equal(pread(opened, back, len + 1, 0), (ssize_t)len);
	assert_memory_equal(back, pt, len);

	/* Through a pipe, whose reads come in pieces unrelated to chunks. */
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint8_t *buf = malloc((size_t)size);

		close(pipefd[0]);
		if (!buf || pread(sealed, buf, (size_t)size, 0) != size)
			_exit(1);
		for (off_t off = 0; off < size; off += 777)
			if (write(pipefd[1], buf + off, size - off < 777 ? (size_t)(size - off) : 777) < 0)
				_exit(1);
		_exit(0);
	}
	close(pipefd[1]);
	assert_int_equal(ftruncate(opened, 0), 0);
	assert_int_equal(lseek(opened, 0, SEEK_SET), 0);
	assert_int_equal(dcr_stream_decrypt_fd(pipefd[0], opened, key_a, &err), 0);
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	memset(back, 0, len);
	assert_int_equal(pread(opened, back, len + 1, 0), (ssize_t)len);
	assert_memory_equal(back, pt, len);

	/* Errors come through the fd functions unchanged. */
	assert_int_equal(ftruncate(sealed, size - (123 + T) + 3), 0);
	assert_int_equal(lseek(sealed, 0, SEEK_SET), 0);
	assert_int_equal(dcr_stream_decrypt_fd(sealed, opened, key_a, &err), DCR_EINTEGRITY);
	assert_string_equal(err.msg, "chunk 3: truncated (3 bytes, shorter than its 16-byte tag)");
	assert_int_equal(dcr_stream_decrypt_fd(-1, opened, key_a, &err), DCR_EIO);
	assert_int_equal(dcr_stream_encrypt_fd(plain, -1, key_a, 0, &err), DCR_EIO);

	/* Empty input. */
	assert_int_equal(ftruncate(plain, 0), 0);
	assert_int_equal(ftruncate(sealed, 0), 0);
	assert_int_equal(lseek(sealed, 0, SEEK_SET), 0);
	assert_int_equal(dcr_stream_encrypt_fd(plain, sealed, key_a, 0, &err), 0);
	assert_int_equal(lseek(sealed, 0, SEEK_CUR), H + T);
	close(plain);
	close(sealed);
	close(opened);
	free(pt);
	free(back);
}

/* ---- the examples of dcr-formats(5), read out of the page and checked against it ---- */

/* The page's key schedule: PRK, then the two keys, with the page's labels. */
static void page_keys(const uint8_t key[32], const uint8_t salt[32], uint8_t prk[32], uint8_t mac_key[32],
	uint8_t payload_key[32])
{
	assert_int_equal(dcr_hkdf_extract(salt, 32, key, 32, prk, NULL), 0);
	assert_int_equal(dcr_hkdf_expand(prk, (const uint8_t *)"dcr stream v1 header", 20, mac_key, 32, NULL), 0);
	assert_int_equal(dcr_hkdf_expand(prk, (const uint8_t *)"dcr stream v1 payload", 21, payload_key, 32, NULL), 0);
}

/* Open one chunk as the page says, with plain AES-256-GCM: 0 when its tag verifies. */
static int page_open_chunk(const uint8_t payload_key[32], const uint8_t nonce[12], const uint8_t *header,
	const uint8_t *chunk, size_t len)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t *pt = malloc(len);
	int n, ok;

	assert_true(c && pt && len >= T);
	ok = EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, payload_key, nonce) == 1 &&
		EVP_DecryptUpdate(c, NULL, &n, header, H) == 1 &&
		EVP_DecryptUpdate(c, pt, &n, chunk, (int)(len - T)) == 1 &&
		EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, T, (void *)(chunk + len - T)) == 1 &&
		EVP_DecryptFinal_ex(c, pt, &n) == 1;
	EVP_CIPHER_CTX_free(c);
	free(pt);
	return ok ? 0 : -1;
}

static void test_documented_vector(void **state)
{
	static const char text[] = "The quick brown fox jumps over the lazy dog";
	uint8_t key[32], salt[32], prk[32], mac_key[32], payload_key[32], mac[32], nonce[12] = { 0 };
	uint8_t *want_prk, *want_mac_key, *want_payload_key, *stream;
	size_t stream_len, at = H, chunk_no = 0;
	unsigned mac_len = 0;
	struct buf ct = { 0 }, back = { 0 };
	struct dcr_err err;

	(void)state;
	for (int i = 0; i < 32; i++) {
		key[i] = (uint8_t)i;
		salt[i] = (uint8_t)(0x40 + i);
	}
	assert_int_equal(page_hex("dcr-formats.5", "PRK", &want_prk), 32);
	assert_int_equal(page_hex("dcr-formats.5", "mac_key", &want_mac_key), 32);
	assert_int_equal(page_hex("dcr-formats.5", "payload_key", &want_payload_key), 32);
	stream_len = page_hex("dcr-formats.5", "stream", &stream);
	page_keys(key, salt, prk, mac_key, payload_key);
	assert_memory_equal(prk, want_prk, 32);
	assert_memory_equal(mac_key, want_mac_key, 32);
	assert_memory_equal(payload_key, want_payload_key, 32);

	/* The encoder writes the page's stream; the decoder reads it back. */
	encrypt(key, 16, salt, (const uint8_t *)text, strlen(text), 0, &ct);
	assert_int_equal(ct.len, stream_len);
	assert_memory_equal(ct.p, stream, stream_len);
	assert_int_equal(decrypt(key, stream, stream_len, 0, &back, &err), 0);
	assert_int_equal(back.len, strlen(text));
	assert_memory_equal(back.p, text, back.len);

	/* The header as the page lays it out, and each chunk opened as the page says. */
	assert_memory_equal(stream, "DCRSTRM\x01\x00\x00\x00\x10", 12);
	assert_memory_equal(stream + 12, salt, 32);
	assert_non_null(HMAC(EVP_sha256(), mac_key, 32, stream, 44, mac, &mac_len));
	assert_memory_equal(stream + 44, mac, 32);
	while (at < stream_len) {
		size_t len = stream_len - at > 16 + T ? 16 + T : stream_len - at;

		nonce[10] = (uint8_t)chunk_no;
		nonce[11] = at + len == stream_len;
		assert_int_equal(page_open_chunk(payload_key, nonce, stream, stream + at, len), 0);
		nonce[11] ^= 1;
		assert_int_equal(page_open_chunk(payload_key, nonce, stream, stream + at, len), -1);
		at += len;
		chunk_no++;
	}
	assert_int_equal(chunk_no, 3);
	buf_free(&ct);
	buf_free(&back);
	free(want_prk);
	free(want_mac_key);
	free(want_payload_key);
	free(stream);
}

/* The page's table for a 2621440-byte plaintext: every offset, length and nonce. */
static void test_documented_layout(void **state)
{
	char *table = page_lines("dcr-formats.5", "stream of 2621440 bytes");
	uint8_t *pt = pattern(2621440, 7), prk[32], mac_key[32], payload_key[32], nonce[8][12];
	unsigned long long offset[8] = { 0 }, length[8] = { 0 };
	bool has_nonce[8] = { false };
	struct buf ct = { 0 };
	int rows = 0;

	(void)state;
	/* Rows are "OFFSET LENGTH contents" or, at the end, "OFFSET end: ..."; a nonce belongs to the row above. */
	for (char *line = table, *next, *nonce_at; *line; line = next) {
		int used = 0;

		next = strchr(line, '\n');
		*next++ = '\0';
		nonce_at = strstr(line, "nonce ");
		assert_true(rows < 8);
		if (sscanf(line, "%llu %llu", &offset[rows], &length[rows]) == 2 ||
		    (sscanf(line, "%llu %n", &offset[rows], &used) == 1 && strncmp(line + used, "end:", 4) == 0))
			rows++;
		if (nonce_at) {
			assert_true(rows > 0);
			for (int i = 0; i < 12; i++)
				assert_int_equal(sscanf(nonce_at + 6 + 3 * i, "%2hhx", &nonce[rows - 1][i]), 1);
			has_nonce[rows - 1] = true;
		}
	}
	/* The header, three chunks, the end. */
	assert_int_equal(rows, 5);
	encrypt(key_a, 0, NULL, pt, 2621440, 0, &ct);
	assert_int_equal(ct.len, offset[4]);
	assert_int_equal(offset[0], 0);
	assert_int_equal(length[0], H);
	assert_memory_equal(ct.p + 8, "\x00\x10\x00\x00", 4);
	page_keys(key_a, ct.p + 12, prk, mac_key, payload_key);
	for (int i = 1; i <= 3; i++) {
		assert_true(has_nonce[i]);
		assert_int_equal(offset[i], offset[i - 1] + length[i - 1]);
		assert_int_equal(page_open_chunk(payload_key, nonce[i], ct.p, ct.p + offset[i], length[i]), 0);
	}
	assert_int_equal(offset[3] + length[3], offset[4]);
	buf_free(&ct);
	free(pt);
	free(table);
}

/*
 * Resuming an upload re-encrypts from a chunk in the middle: an encoder
 * started at chunk c with the same salt emits exactly the tail of the whole
 * stream, sealing whole chunks gives the bytes _write and _finish give, and
 * the length formula matches the stream.
 */
static void test_resume_at_chunk(void **state)
{
	static const size_t lens[] = { 0, 1, 16, 17, 64, 100 };
	uint8_t salt[32];
	struct dcr_err err = { 0 };

	(void)state;
	memset(salt, 0x5a, sizeof(salt));
	for (size_t t = 0; t < sizeof(lens) / sizeof(lens[0]); t++) {
		size_t len = lens[t], chunks = len == 0 ? 1 : (len + 15) / 16;
		uint8_t *pt = pattern(len, (uint32_t)t);
		struct buf whole = { 0 };

		encrypt(key_a, 16, salt, pt, len, 0, &whole);
		assert_int_equal(whole.len, dcr_stream_encoded_size(len, 16));
		for (size_t c = 0; c < chunks; c++) {
			struct buf tail = { 0 };
			struct dcr_stream_enc *enc = dcr_stream_enc_new_at(key_a, 16, salt, c, buf_sink, &tail, &err);

			assert_non_null(enc);
			for (size_t i = c; i < chunks; i++) {
				size_t n = len - i * 16 < 16 ? len - i * 16 : 16;

				assert_int_equal(dcr_stream_enc_seal(enc, pt + i * 16, n, i + 1 == chunks, &err), 0);
			}
			/* Finished: nothing more is taken. */
			assert_int_not_equal(dcr_stream_enc_seal(enc, pt, 0, true, &err), 0);
			dcr_stream_enc_free(enc);
			size_t from = c == 0 ? 0 : H + c * (16 + T);
			assert_int_equal(tail.len, whole.len - from);
			assert_memory_equal(tail.p, whole.p + from, tail.len);
			buf_free(&tail);
		}
		buf_free(&whole);
		free(pt);
	}
	/* A short chunk that is not the last, or an empty one after others, is refused. */
	struct buf out = { 0 };
	uint8_t pt[16] = { 0 };
	struct dcr_stream_enc *enc = dcr_stream_enc_new_at(key_a, 16, salt, 0, buf_sink, &out, &err);

	assert_int_equal(dcr_stream_enc_seal(enc, pt, 15, false, &err), DCR_EINVALID);
	dcr_stream_enc_free(enc);
	enc = dcr_stream_enc_new_at(key_a, 16, salt, 1, buf_sink, &out, &err);
	assert_int_equal(dcr_stream_enc_seal(enc, pt, 0, true, &err), DCR_EINVALID);
	dcr_stream_enc_free(enc);
	buf_free(&out);
	assert_int_equal(dcr_stream_encoded_size(0, 0), H + T);
	assert_int_equal(dcr_stream_encoded_size(1u << 20, 0), H + T + (1u << 20));
	assert_int_equal(dcr_stream_encoded_size((1u << 20) + 1, 0), H + 2 * T + (1u << 20) + 1);
	assert_int_equal(dcr_stream_encoded_size(UINT64_MAX - 10, 0), UINT64_MAX);
}

/* Sealed into the caller's buffer: the very bytes the sink would get, from the header or from any chunk on. */
static void test_seal_into(void **state)
{
	static const size_t lens[] = { 0, 1, 16, 17, 64, 100 };
	uint8_t salt[32], room[H + 16 + T + 1];
	struct dcr_err err = { 0 };
	size_t got;

	(void)state;
	memset(salt, 0xa5, sizeof(salt));
	for (size_t t = 0; t < sizeof(lens) / sizeof(lens[0]); t++) {
		size_t len = lens[t], chunks = len == 0 ? 1 : (len + 15) / 16;
		uint8_t *pt = pattern(len, (uint32_t)t + 7);
		struct buf whole = { 0 };

		encrypt(key_a, 16, salt, pt, len, 0, &whole);
		for (size_t c = 0; c < chunks; c++) {
			struct dcr_stream_enc *enc = dcr_stream_enc_new_at(key_a, 16, salt, c, NULL, NULL, &err);
			size_t at = c == 0 ? 0 : H + c * (16 + T);

			assert_non_null(enc);
			for (size_t i = c; i < chunks; i++) {
				size_t n = len - i * 16 < 16 ? len - i * 16 : 16, need = (i == 0 ? H : 0) + n + T;
				bool last = i + 1 == chunks;

				/* One byte short is refused, and the encoder goes on as if it had not been asked. */
				assert_int_equal(dcr_stream_enc_seal_into(enc, pt + i * 16, n, last, room, need - 1, &got,
							 &err),
					DCR_EINVALID);
				assert_int_equal(got, 0);
				assert_int_equal(dcr_stream_enc_seal_into(enc, pt + i * 16, n, last, room, sizeof(room), &got,
							 &err),
					0);
				assert_int_equal(got, need);
				assert_true(at + got <= whole.len);
				assert_memory_equal(room, whole.p + at, got);
				at += got;
			}
			assert_int_equal(at, whole.len);
			/* Finished: nothing more is taken. */
			assert_int_not_equal(dcr_stream_enc_seal_into(enc, pt, 0, true, room, sizeof(room), &got, &err), 0);
			dcr_stream_enc_free(enc);
		}
		buf_free(&whole);
		free(pt);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_small_chunks),
		cmocka_unit_test(test_round_trip_default_chunk),
		cmocka_unit_test(test_bad_chunk_size),
		cmocka_unit_test(test_known_answer),
		cmocka_unit_test(test_random_salt),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_empty_final_chunk),
		cmocka_unit_test(test_reorder),
		cmocka_unit_test(test_splice),
		cmocka_unit_test(test_appended),
		cmocka_unit_test(test_header_flips),
		cmocka_unit_test(test_body_flips),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_not_a_stream),
		cmocka_unit_test(test_sink_error),
		cmocka_unit_test(test_fd_sizes),
		cmocka_unit_test(test_fd),
		cmocka_unit_test(test_documented_vector),
		cmocka_unit_test(test_documented_layout),
		cmocka_unit_test(test_resume_at_chunk),
		cmocka_unit_test(test_seal_into),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
