/*
 * libFuzzer target for dcrd's check of the ZIP a python sandbox returns
 * (cmd/dcrd/sandbox-zip.c) and the name rule under it (lib/outname.c):
 * any bytes must be refused or accepted without a crash, and an accepted
 * ZIP must hold only names the rule accepts, as dcr fetch --extract will
 * check them again. An accepted ZIP also goes through sandbox_zip_single
 * (result: file), which may take a file out only when there is exactly one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "outname.h"
#include "sandbox-impl.h"
#include "sandbox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dcr_err err;
	zip_error_t ze;
	zip_source_t *src;
	zip_t *za;
	zip_int64_t files = 0;
	uint8_t *one;
	size_t one_len;
	int r;

	/* The name rule alone, on the raw bytes. */
	(void)dcr_outname_check((const char *)data, size, &err);
	if (sandbox_zip_check(data, size, UINT64_C(1) << 30, &err) != 0)
		return 0;
	zip_error_init(&ze);
	if (!(src = zip_source_buffer_create(data, size, 0, &ze)) ||
	    !(za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze)))
		abort(); /* accepted, so it must open */
	for (zip_int64_t i = 0, n = zip_get_num_entries(za, 0); i < n; i++) {
		const char *name = zip_get_name(za, (zip_uint64_t)i, ZIP_FL_ENC_RAW);

		if (!name || dcr_outname_check(name, strlen(name), &err) != 0)
			abort();
		files += name[strlen(name) - 1] != '/';
	}
	zip_discard(za);
	/* One file or a refusal (its data may still be damaged: the check reads names, not data). */
	r = sandbox_zip_single(data, size, &one, &one_len, &err);
	if (r == 0)
		free(one);
	if (r == 0 && files != 1)
		abort();
	zip_error_fini(&ze);
	return 0;
}
