/* libFuzzer target for the encrypted stream decoder: arbitrary input must never crash it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[DCR_STREAM_KEY_LEN] = { 0x42 };

struct buf {
	uint8_t *p;
	size_t len;
};

static int collect(void *ctx, const uint8_t *data, size_t len, struct dcr_err *err)
{
	struct buf *b = ctx;
	uint8_t *p = realloc(b->p, b->len + len + 1);

	if (!p)
		abort();
	memcpy(p + b->len, data, len);
	b->p = p;
	b->len += len;
	return 0;
}

static int decode(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len, struct buf *out)
{
	struct dcr_err err;
	struct dcr_stream_dec *dec = dcr_stream_dec_new(key, collect, out, &err);
	int r;

	if (!dec)
		abort();
	r = dcr_stream_dec_write(dec, a, a_len, &err);
	if (r == 0)
		r = dcr_stream_dec_write(dec, b, b_len, &err);
	if (r == 0)
		r = dcr_stream_dec_finish(dec, &err);
	dcr_stream_dec_free(dec);
	return r;
}

static void encode(uint32_t chunk, const uint8_t *pt, size_t len, size_t split, struct buf *out)
{
	static const uint8_t salt[DCR_STREAM_SALT_LEN] = { 0x17 };
	struct dcr_err err;
	struct dcr_stream_enc *enc = dcr_stream_enc_new_with_salt(key, chunk, salt, collect, out, &err);

	if (!enc || dcr_stream_enc_write(enc, pt, split, &err) < 0 ||
	    dcr_stream_enc_write(enc, pt + split, len - split, &err) < 0 ||
	    dcr_stream_enc_finish(enc, &err) < 0)
		abort();
	dcr_stream_enc_free(enc);
}

/*
 * Byte 0 picks a mode, bytes 1-2 a split point (and chunk size): raw bytes,
 * which rarely get past the header MAC; a valid header with the rest as
 * chunks, to reach the chunk logic; or a round trip that must return the
 * input and must fail once a chosen bit is flipped.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out = { 0 }, sealed = { 0 };
	uint32_t chunk;
	size_t split;

	if (size < 3)
		return 0;
	chunk = DCR_STREAM_CHUNK_MIN + data[1] % 64;
	split = (size_t)(data[1] << 8 | data[2]);
	switch (data[0] % 3) {
	case 0:
		data += 3;
		size -= 3;
		split %= size + 1;
		decode(data, split, data + split, size - split, &out);
		break;
	case 1:
		encode(chunk, NULL, 0, 0, &sealed);
		data += 3;
		size -= 3;
		split %= size + 1;
		/* The valid header, then the fuzzer's bytes as chunks. */
		decode(sealed.p, DCR_STREAM_HEADER_LEN, data, size, &out);
		break;
	case 2: {
		size_t cut, bit;

		data += 3;
		size -= 3;
		split %= size + 1;
		encode(chunk, data, size, split, &sealed);
		cut = split % (sealed.len + 1);
		if (decode(sealed.p, cut, sealed.p + cut, sealed.len - cut, &out) != 0 ||
		    out.len != size || (size && memcmp(out.p, data, size) != 0))
			abort();
		bit = (split * 131 + size) % (sealed.len * 8);
		sealed.p[bit / 8] ^= (uint8_t)(1u << bit % 8);
		out.len = 0;
		if (decode(sealed.p, sealed.len, NULL, 0, &out) == 0)
			abort();
		break;
	}
	}
	free(out.p);
	free(sealed.p);
	return 0;
}
