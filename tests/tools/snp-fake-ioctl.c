/*
 * Test helper, loaded with LD_PRELOAD into dcrd: the SEV-SNP firmware's
 * SNP_GET_DERIVED_KEY on the file $DCR_TEST_SNP_DIR/device, as
 * tests/tools/snp-fake-guest.c lays it out. The key is SHA-256 of a
 * secret (DIR/state/secret) and of exactly what the firmware mixes in: the
 * request's fields and, as GUEST_FIELD_SELECT asks, the guest's policy
 * and measurement (DIR/state/policy, DIR/state/measurement); a TCB_VERSION
 * above the committed one (DIR/state/tcb) is refused, as the firmware
 * does. So a test can change what the guest is and see the key change.
 * Every other ioctl goes to the kernel.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sev-guest.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#define FW_INVALID_PARAM 0x16

int ioctl(int fd, unsigned long op, ...);

static size_t slurp(const char *dir, const char *name, char *buf, size_t size)
{
	char path[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, size - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}

static bool is_device(int fd, const char *dir)
{
	char path[4096];
	struct stat a, b;

	snprintf(path, sizeof(path), "%s/device", dir);
	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Each of the 8 TCB components of tcb no greater than committed's. */
static bool tcb_le(uint64_t tcb, uint64_t committed)
{
	for (int i = 0; i < 8; i++)
		if ((tcb >> (8 * i) & 0xff) > (committed >> (8 * i) & 0xff))
			return false;
	return true;
}

static int derived_key(const char *dir, struct snp_guest_request_ioctl *g)
{
	const struct snp_derived_key_req *req = (const void *)(uintptr_t)g->req_data;
	struct snp_derived_key_resp *resp = (void *)(uintptr_t)g->resp_data;
	char secret[64], measurement[128], policy[32], tcb[32];
	unsigned int len = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	memset(resp, 0, sizeof(*resp));
	if (slurp(dir, "state/secret", secret, sizeof(secret)) != 32 || !slurp(dir, "state/measurement", measurement,
	    sizeof(measurement)) || !slurp(dir, "state/policy", policy, sizeof(policy)) ||
	    !slurp(dir, "state/tcb", tcb, sizeof(tcb)) || !md) {
		EVP_MD_CTX_free(md);
		errno = EIO;
		return -1;
	}
	if (req->rsvd || req->root_key_select > 1 || !tcb_le(req->tcb_version, strtoull(tcb, NULL, 16))) {
		EVP_MD_CTX_free(md);
		g->fw_error = FW_INVALID_PARAM;
		errno = EIO;
		return -1;
	}
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	EVP_DigestUpdate(md, "snp-fake-derived-key", 20);
	EVP_DigestUpdate(md, secret, 32);
	EVP_DigestUpdate(md, req, sizeof(*req));
	if (req->guest_field_select & 1)
		EVP_DigestUpdate(md, policy, strlen(policy));
	if (req->guest_field_select & 8)
		EVP_DigestUpdate(md, measurement, strlen(measurement));
	EVP_DigestFinal_ex(md, resp->data + 32, &len);
	EVP_MD_CTX_free(md);
	g->fw_error = 0;
	return 0;
}

int ioctl(int fd, unsigned long op, ...)
{
	static int (*real)(int, unsigned long, void *);
	const char *dir = getenv("DCR_TEST_SNP_DIR");
	va_list ap;
	void *arg;

	va_start(ap, op);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (dir && op == SNP_GET_DERIVED_KEY && is_device(fd, dir))
		return derived_key(dir, arg);
	if (!real)
		real = (int (*)(int, unsigned long, void *))dlsym(RTLD_NEXT, "ioctl");
	return real(fd, op, arg);
}
