/*
 * Test helper, loaded with LD_PRELOAD into dcrd: the SEV-SNP guest
 * driver's SNP_GET_EXT_REPORT and SNP_GET_DERIVED_KEY on the file
 * $DCR_TEST_SNP_DIR/device, as tests/tools/snp-fake-guest.c lays it out.
 * A report is what snp-fake.c makes for the guest, with the host's
 * certificate table copied to certs_address as the driver does: a
 * certs_len that is not whole pages or more than the driver's 16 KiB is
 * EINVAL; a table longer than certs_len is EIO with VMM error
 * INVALID_LEN and certs_len set to the pages it needs. The key is SHA-256 of a
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

#include "snp-fake.h"

#define FW_INVALID_PARAM 0x16
#define PAGE 4096
#define CERTS_MAX (4 * PAGE) /* the guest driver's SEV_FW_BLOB_MAX_SIZE */

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

static int ext_report(const char *dir, struct snp_guest_request_ioctl *g)
{
	struct snp_ext_report_req *req = (void *)(uintptr_t)g->req_data;
	struct snp_report_resp *resp = (void *)(uintptr_t)g->resp_data;
	static uint8_t table[SNP_FAKE_TABLE_MAX];
	uint8_t report[SNP_SYNTH_REPORT_LEN];
	size_t len;

	g->exitinfo2 = 0;
	if (req->certs_len > CERTS_MAX || req->certs_len % PAGE || req->data.vmpl > 3) {
		errno = EINVAL;
		return -1;
	}
	if (snp_fake_report(dir, req->data.user_data, report, table, &len) < 0) {
		errno = EIO;
		return -1;
	}
	if (req->certs_len && len > req->certs_len) {
		req->certs_len = (uint32_t)((len + PAGE - 1) / PAGE * PAGE);
		g->vmm_error = SNP_GUEST_VMM_ERR_INVALID_LEN;
		errno = EIO;
		return -1;
	}
	if (req->certs_len) {
		memset((void *)(uintptr_t)req->certs_address, 0, req->certs_len);
		memcpy((void *)(uintptr_t)req->certs_address, table, len);
	}
	/* MSG_REPORT_RSP: status 0, the report's size, 24 reserved bytes, the report. */
	memset(resp, 0, sizeof(*resp));
	resp->data[4] = SNP_SYNTH_REPORT_LEN & 0xff;
	resp->data[5] = SNP_SYNTH_REPORT_LEN >> 8;
	memcpy(resp->data + 32, report, sizeof(report));
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
	if (dir && op == SNP_GET_EXT_REPORT && is_device(fd, dir))
		return ext_report(dir, arg);
	if (!real)
		real = (int (*)(int, unsigned long, void *))dlsym(RTLD_NEXT, "ioctl");
	return real(fd, op, arg);
}
