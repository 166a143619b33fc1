/* The table of dcrd's attestation kinds (kind.h): one row per kind. */
#include "kind.h"

#include <stdio.h>
#include <string.h>

#include "banned.h"

const struct dcrd_kind *const dcrd_kinds[] = {
	&dcrd_kind_sim,
	&dcrd_kind_sgx_dcap,
	&dcrd_kind_sev_snp,
	NULL,
};

const struct dcrd_kind *dcrd_kind_find(const char *name)
{
	for (const struct dcrd_kind *const *k = dcrd_kinds; *k; k++)
		if (strcmp((*k)->lib->name, name) == 0)
			return *k;
	return NULL;
}

const char *dcrd_kind_names(const char *sep, char *buf, size_t size)
{
	size_t n = 0, count = 0, used = 0;

	buf[0] = '\0';
	while (dcrd_kinds[count])
		count++;
	for (const struct dcrd_kind *const *k = dcrd_kinds; *k; k++, n++) {
		const char *s = n == 0 ? "" : sep ? sep : n + 1 == count ? " or " : ", ";
		int w = snprintf(buf + used, size - used, "%s%s", s, (*k)->lib->name);

		if (w < 0 || (size_t)w >= size - used)
			break;
		used += (size_t)w;
	}
	return buf;
}
