/* libFuzzer target for dcr's HTTP/1.1 answer parser (lib/http1.c): the host that answers is untrusted. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly the input's length: chunked decoding rewrites it, and reads past it are caught. */
	uint8_t *raw = malloc(size ? size : 1), *body;
	/*
	 * The body limit from the last byte (answers that parse all begin with
	 * "H"): odd, none at all (review C6-3, C6-4); even, up to 508 bytes.
	 */
	size_t body_len, max = size == 0 ? 0 : data[size - 1] & 1 ? SIZE_MAX : data[size - 1] * 2u;
	char why[200];
	long status;

	if (!raw)
		return 0;
	memcpy(raw, data, size);
	if (dcr_http1_parse(raw, size, max, &status, &body, &body_len, why, sizeof(why)) == 0) {
		if (body < raw || body_len > max || (size_t)(body - raw) + body_len > size || status < 200 || status > 599)
			abort();
		/* Every byte of the body is readable (ASan checks the reads). */
		volatile uint8_t sum = 0;

		for (size_t i = 0; i < body_len; i++)
			sum ^= body[i];
		(void)sum;
	}
	free(raw);
	return 0;
}
