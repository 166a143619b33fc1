/* The table of dcrd's attestation kinds (kind.h): one row per kind. */
#include "kind.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "dcrd.h"
#include "fileio.h"

#include "banned.h"

int kind_file_read(const char *what, const char *path, uint8_t *buf, size_t max, size_t *len, struct dcr_err *err)
{
	uint8_t extra;
	size_t used = 0;
	ssize_t n;
	int fd, e;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return dcr_err_set(err, DCR_EFAIL, "cannot open %s '%s': %s", what, path, strerror(errno));
	for (;;) {
		n = used < max ? read(fd, buf + used, max - used) : read(fd, &extra, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (used == max) {
			close(fd);
			return dcr_err_set(err, DCR_EFAIL, "'%s' holds more than %zu bytes", path, max);
		}
		used += (size_t)n;
	}
	e = errno;
	close(fd);
	if (n < 0)
		return dcr_err_set(err, DCR_EFAIL, "cannot read '%s': %s", path, strerror(e));
	*len = used;
	return 0;
}

int kind_file_write(const char *what, const char *path, const uint8_t *buf, size_t len, struct dcr_err *err)
{
	int fd, r;

	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return dcr_err_set(err, DCR_EFAIL, "cannot open %s '%s': %s", what, path, strerror(errno));
	r = dcr_write_all(fd, buf, len);
	if (close(fd) < 0 && r == 0)
		r = -1;
	if (r < 0)
		return dcr_err_set(err, DCR_EFAIL, "cannot write '%s': %s", path, strerror(errno));
	return 0;
}

int kind_sealing_key(struct enclave *e, const uint8_t *secret, size_t len, const uint8_t *info, size_t info_len,
	struct dcr_err *err)
{
	uint8_t prk[DCR_SHA256_LEN];
	int r;

	if ((r = dcr_hkdf_extract(NULL, 0, secret, len, prk, err)) == 0)
		r = dcr_hkdf_expand(prk, info, info_len, e->sealing_key, sizeof(e->sealing_key), err);
	dcr_wipe(prk, sizeof(prk));
	return r;
}

const struct dcrd_kind *const dcrd_kinds[] = {
	&dcrd_kind_sim,
	&dcrd_kind_sgx_dcap,
	&dcrd_kind_tdx,
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
