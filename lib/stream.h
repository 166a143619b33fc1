/* The encrypted dataset stream: chunked AES-256-GCM with a MAC'd header (see dcr-formats(5)). */
#ifndef DCR_STREAM_H
#define DCR_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define DCR_STREAM_KEY_LEN 32
#define DCR_STREAM_SALT_LEN 32
#define DCR_STREAM_HEADER_LEN 76
#define DCR_STREAM_TAG_LEN 16
#define DCR_STREAM_CHUNK_MIN 16u
#define DCR_STREAM_CHUNK_MAX (16u << 20)
#define DCR_STREAM_CHUNK_DEFAULT (1u << 20)

/*
 * Where encoded or decoded bytes go. buf is valid only during the call.
 * Return 0, or a negative DCR_E* code after filling err; the code is then
 * passed on by the stream function that called the sink, and the stream
 * object refuses further work.
 */
typedef int dcr_stream_sink(void *ctx, const uint8_t *buf, size_t len, struct dcr_err *err);

/*
 * Encoder. _new draws a fresh salt and returns NULL (err filled) when the
 * chunk size is out of range or memory or randomness is short; chunk_size 0
 * means DCR_STREAM_CHUNK_DEFAULT. The key is copied into derived keys only;
 * the caller keeps and wipes its own copy. Output reaches sink in whole
 * chunks (after the header), and memory is about two chunks whatever the
 * input size.
 * _finish seals the last chunk; without it the stream is unreadable (by
 * design: a decoder reports it as truncated). The caller frees the encoder
 * with _free, which accepts NULL and wipes keys and buffers.
 */
struct dcr_stream_enc;
struct dcr_stream_enc *dcr_stream_enc_new(const uint8_t key[static DCR_STREAM_KEY_LEN],
	uint32_t chunk_size, dcr_stream_sink *sink, void *ctx, struct dcr_err *err);
/*
 * With a caller-chosen salt the output is a function of key, chunk size,
 * salt and plaintext: known-answer tests, and uploads that resume by
 * encrypting the same file again. The caller draws the salt from
 * dcr_random for anything but a test; a salt is never reused with another
 * plaintext under the same key.
 */
struct dcr_stream_enc *dcr_stream_enc_new_with_salt(const uint8_t key[static DCR_STREAM_KEY_LEN],
	uint32_t chunk_size, const uint8_t salt[static DCR_STREAM_SALT_LEN],
	dcr_stream_sink *sink, void *ctx, struct dcr_err *err);
/*
 * The same stream from chunk number counter on (0: from the header): the
 * bytes it emits are those of an encoder from _new_with_salt from stream
 * offset 76 + counter * (chunk_size + 16) on, given the same plaintext
 * from offset counter * chunk_size.
 */
struct dcr_stream_enc *dcr_stream_enc_new_at(const uint8_t key[static DCR_STREAM_KEY_LEN],
	uint32_t chunk_size, const uint8_t salt[static DCR_STREAM_SALT_LEN], uint64_t counter,
	dcr_stream_sink *sink, void *ctx, struct dcr_err *err);
/*
 * For a caller that knows where its input ends: seal len bytes as the next
 * chunk, the final one if last. len is the chunk size except for the final
 * chunk, which may be shorter (and empty only as the only chunk). The
 * header goes first if it has not been sent. After a last chunk the
 * encoder is finished. Mixing this with _write on one encoder is refused.
 */
int dcr_stream_enc_seal(struct dcr_stream_enc *enc, const void *buf, size_t len, bool last,
	struct dcr_err *err);
/*
 * The same, with the output written to out instead of passed to the sink
 * (which may then be NULL): the header first if it has not been emitted,
 * then the sealed chunk; *out_len is the number of bytes written. A buffer
 * of fewer than len + DCR_STREAM_TAG_LEN bytes (plus DCR_STREAM_HEADER_LEN
 * while the header is due) is refused with DCR_EINVALID and changes
 * nothing. Saves a copy for a caller that has somewhere to put a chunk.
 */
int dcr_stream_enc_seal_into(struct dcr_stream_enc *enc, const void *buf, size_t len, bool last, uint8_t *out,
	size_t out_size, size_t *out_len, struct dcr_err *err);
/* The length of the stream of a plaintext of size bytes (chunk_size 0: the default). */
uint64_t dcr_stream_encoded_size(uint64_t size, uint32_t chunk_size);
int dcr_stream_enc_write(struct dcr_stream_enc *enc, const void *buf, size_t len,
	struct dcr_err *err);
int dcr_stream_enc_finish(struct dcr_stream_enc *enc, struct dcr_err *err);
void dcr_stream_enc_free(struct dcr_stream_enc *enc);

/*
 * Decoder. Feed it the encoded stream in pieces of any size; it passes a
 * chunk's plaintext to sink only after that chunk's tag has verified.
 * Every way the input can fail to be the stream the encoder wrote is
 * DCR_EINTEGRITY, naming the check: empty or short input, a malformed
 * header (magic, version, chunk size), a wrong key, any tampering,
 * truncation or reordering, with the chunk (numbered from 0) named in the
 * message. Streams are read back from where an untrusted host kept them,
 * so a malformed header is tampering too. An error a sink returns is
 * passed on unchanged. Plaintext already passed to sink
 * is authentic but may be incomplete: only a 0 from _finish says the whole
 * stream arrived, so a caller must discard the output on any error. Memory
 * is about two chunks of the size named in the header (at most 16 MiB),
 * allocated only after the header MAC verifies. _free accepts NULL and
 * wipes keys and buffers.
 */
struct dcr_stream_dec;
struct dcr_stream_dec *dcr_stream_dec_new(const uint8_t key[static DCR_STREAM_KEY_LEN],
	dcr_stream_sink *sink, void *ctx, struct dcr_err *err);
int dcr_stream_dec_write(struct dcr_stream_dec *dec, const void *buf, size_t len,
	struct dcr_err *err);
int dcr_stream_dec_finish(struct dcr_stream_dec *dec, struct dcr_err *err);
void dcr_stream_dec_free(struct dcr_stream_dec *dec);

/*
 * Encrypt everything readable from in to out, or decrypt it, with about
 * three chunks of memory. Neither closes the descriptors. On a decryption error, out may already hold the
 * authentic plaintext of earlier chunks; the caller must discard it.
 */
int dcr_stream_encrypt_fd(int in, int out, const uint8_t key[static DCR_STREAM_KEY_LEN],
	uint32_t chunk_size, struct dcr_err *err);
int dcr_stream_decrypt_fd(int in, int out, const uint8_t key[static DCR_STREAM_KEY_LEN],
	struct dcr_err *err);
/* The same, with the plaintext going to sink (in pieces) instead of a descriptor. */
int dcr_stream_decrypt_fd_sink(int in, const uint8_t key[static DCR_STREAM_KEY_LEN], dcr_stream_sink *sink,
	void *ctx, struct dcr_err *err);

#endif
