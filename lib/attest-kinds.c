/* The table of attestation kinds (lib/attest-kind.h): one row per kind. */
#include "attest-kind.h"

#include <stdio.h>
#include <string.h>

#include "banned.h"

const struct dcr_attest_kind *const dcr_attest_kinds[] = {
	&dcr_attest_kind_sim,
	&dcr_attest_kind_sgx_dcap,
	&dcr_attest_kind_tdx,
	&dcr_attest_kind_sev_snp,
	NULL,
};

const struct dcr_attest_kind *dcr_attest_kind_find(const char *name)
{
	for (const struct dcr_attest_kind *const *k = dcr_attest_kinds; *k; k++)
		if (strcmp((*k)->name, name) == 0)
			return *k;
	return NULL;
}

const struct dcr_attest_kind *dcr_attest_kind_of(enum dcr_spec_format f)
{
	for (const struct dcr_attest_kind *const *k = dcr_attest_kinds; *k; k++)
		if ((*k)->format == f)
			return *k;
	return NULL;
}

const char *dcr_attest_kind_names(char *buf, size_t size)
{
	size_t n = 0, count = 0, used = 0;

	buf[0] = '\0';
	while (dcr_attest_kinds[count])
		count++;
	for (const struct dcr_attest_kind *const *k = dcr_attest_kinds; *k; k++, n++) {
		const char *sep = n == 0 ? "" : n + 1 == count ? " or " : ", ";
		int w = snprintf(buf + used, size - used, "%s%s", sep, (*k)->name);

		if (w < 0 || (size_t)w >= size - used)
			break;
		used += (size_t)w;
	}
	return buf;
}
