/*
 * Benchmark and test helper: stream-tool enc|dec KEYFILE [CHUNK_SIZE [SALT]] < in > out, via the fd
 * functions; with SALT (64 hex digits) enc writes the one stream of that key, chunk size and salt.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "stream.h"

static int sink_fd(void *ctx, const uint8_t *buf, size_t len, struct dcr_err *err)
{
	if (fwrite(buf, 1, len, ctx) != len)
		return dcr_err_set(err, DCR_EIO, "cannot write the output");
	return 0;
}

/* Encrypt standard input with a given salt, through the encoder's own buffering. */
static int encrypt_with_salt(const uint8_t *key, uint32_t chunk, const uint8_t *salt, struct dcr_err *err)
{
	struct dcr_stream_enc *enc = dcr_stream_enc_new_with_salt(key, chunk, salt, sink_fd, stdout, err);
	uint8_t buf[65536];
	size_t n;
	int r = enc ? 0 : err->code;

	while (r == 0 && (n = fread(buf, 1, sizeof(buf), stdin)) > 0)
		r = dcr_stream_enc_write(enc, buf, n, err);
	if (r == 0 && ferror(stdin))
		r = dcr_err_set(err, DCR_EIO, "cannot read the input");
	if (r == 0)
		r = dcr_stream_enc_finish(enc, err);
	if (r == 0 && fflush(stdout) != 0)
		r = dcr_err_set(err, DCR_EIO, "cannot write the output");
	dcr_stream_enc_free(enc);
	return r;
}

#include "banned.h"

int main(int argc, char **argv)
{
	uint8_t key[DCR_STREAM_KEY_LEN], salt[DCR_STREAM_SALT_LEN];
	struct dcr_err err = { 0 };
	unsigned long chunk = 0;
	int r;

	if (argc < 3 || argc > 5 || (strcmp(argv[1], "enc") != 0 && strcmp(argv[1], "dec") != 0) ||
	    (argc == 5 && argv[1][0] != 'e')) {
		fprintf(stderr, "usage: stream-tool enc|dec KEYFILE [CHUNK_SIZE [SALT]] < in > out\n");
		return 2;
	}
	if (argc == 5 && (strlen(argv[4]) != 2 * sizeof(salt) || dcr_unhex(argv[4], salt, sizeof(salt)) < 0)) {
		fprintf(stderr, "stream-tool: bad salt '%s'\n", argv[4]);
		return 2;
	}
	if (argc >= 4) {
		char *end;

		chunk = strtoul(argv[3], &end, 10);
		if (*end || chunk > UINT32_MAX) {
			fprintf(stderr, "stream-tool: bad chunk size '%s'\n", argv[3]);
			return 2;
		}
	}
	r = dcr_keyfile_read(argv[2], key, sizeof(key), &err);
	if (r == 0 && argc == 5)
		r = encrypt_with_salt(key, (uint32_t)chunk, salt, &err);
	else if (r == 0)
		r = argv[1][0] == 'e'
			? dcr_stream_encrypt_fd(STDIN_FILENO, STDOUT_FILENO, key, (uint32_t)chunk, &err)
			: dcr_stream_decrypt_fd(STDIN_FILENO, STDOUT_FILENO, key, &err);
	dcr_wipe(key, sizeof(key));
	if (r < 0) {
		fprintf(stderr, "stream-tool: %s\n", err.msg);
		return dcr_err_exit_status(r);
	}
	return 0;
}
