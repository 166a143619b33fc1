/* Benchmark helper: stream-tool enc|dec KEYFILE [CHUNK_SIZE] < in > out, via the fd functions. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "stream.h"

#include "banned.h"

int main(int argc, char **argv)
{
	uint8_t key[DCR_STREAM_KEY_LEN];
	struct dcr_err err = { 0 };
	unsigned long chunk = 0;
	int r;

	if ((argc != 3 && argc != 4) || (strcmp(argv[1], "enc") != 0 && strcmp(argv[1], "dec") != 0)) {
		fprintf(stderr, "usage: stream-tool enc|dec KEYFILE [CHUNK_SIZE] < in > out\n");
		return 2;
	}
	if (argc == 4) {
		char *end;

		chunk = strtoul(argv[3], &end, 10);
		if (*end || chunk > UINT32_MAX) {
			fprintf(stderr, "stream-tool: bad chunk size '%s'\n", argv[3]);
			return 2;
		}
	}
	r = dcr_keyfile_read(argv[2], key, sizeof(key), &err);
	if (r == 0)
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
