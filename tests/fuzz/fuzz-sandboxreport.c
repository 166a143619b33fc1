/* libFuzzer target for dcr attest's reading of a dcrd's sandbox report (GET /v1/sandbox). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dcr_sandbox_info *info = malloc(sizeof(*info));
	struct dcr_err err;

	if (!info)
		return 0;
	if (dcr_attest_sandbox_parse(data, size, info, &err) == 0) {
		/* What it accepts is printable and within its bounds, NUL-ended. */
		if (info->n_packages > DCR_SANDBOX_PACKAGES_MAX || !memchr(info->reason, 0, sizeof(info->reason)) ||
		    !memchr(info->python, 0, sizeof(info->python)))
			abort();
		for (size_t i = 0; i < info->n_packages; i++)
			if (!info->packages[i].name[0] || !memchr(info->packages[i].version, 0,
							     sizeof(info->packages[i].version)))
				abort();
		for (const char *s = info->reason; *s; s++)
			if ((unsigned char)*s < 0x20 || *s == 0x7f)
				abort();
	} else if (info->n_packages || info->available) {
		abort(); /* a refusal leaves nothing behind */
	}
	free(info);
	return 0;
}
