/*
 * Test helper, loaded with LD_PRELOAD into dcrd: makes the folder named by
 * $DCR_FAKE_TSM behave like configfs-tsm's report directory for mkdir and
 * rmdir, as the kernel's does. A directory made in it gets, at once, the
 * attributes configfs gives a report entry: inblob (empty), generation
 * ("0"), provider ($DCR_FAKE_TSM_PROVIDER, default "tdx_guest"), auxblob
 * (empty) and outblob, a FIFO that `sgx-fake-device serve` (TDX) or
 * `snp-fake-guest serve` (SEV-SNP) answers with a report for the inblob,
 * replacing auxblob and bumping generation as the kernel does for the
 * write (tests/tools/tsm-serve.c). rmdir removes them with the entry.
 *
 * For TDX it also plays /dev/tdx_guest: TDX_CMD_GET_REPORT0 on the file
 * $DCR_FAKE_TDX/tdx-guest (DCR_FAKE_TDX the folder `sgx-fake-device init
 * --tdx` made) answers a TDREPORT whose TDINFO holds the TD report body of
 * the folder's quote template, as the TDX module would for the TD that
 * the served quotes describe, and whose REPORTDATA is the request's. While
 * DCR_FAKE_TDX/state/tdreport-mrtd exists, its 96 hex digits are the MRTD
 * instead: a TD other than the one in the quotes the host hands back.
 * Everything else passes through.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int mkdir(const char *path, mode_t mode);
int rmdir(const char *path);
int ioctl(int fd, unsigned long op, ...);

/* linux/tdx-guest.h */
struct tdx_report_req {
	uint8_t reportdata[64];
	uint8_t tdreport[1024];
};
#define TDX_CMD_GET_REPORT0 _IOWR('T', 1, struct tdx_report_req)
#define TEMPLATE_MAX (64 * 1024)
#define BODY_TD_ATTRIBUTES 120 /* TD_ATTRIBUTES, XFAM, MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG, RTMR0-3: 400 bytes */
#define TDINFO 512

static const char *const attrs[] = { "inblob", "generation", "provider", "auxblob", "outblob" };

/* Whether path is an entry right under $DCR_FAKE_TSM. */
static int in_fake(const char *path)
{
	const char *dir = getenv("DCR_FAKE_TSM"), *slash = strrchr(path, '/');
	size_t n = dir ? strlen(dir) : 0;

	return dir && slash && (size_t)(slash - path) == n && strncmp(path, dir, n) == 0 && slash[1];
}

static void put(const char *entry, const char *name, const char *text)
{
	char path[4096];
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", entry, name) >= (int)sizeof(path))
		return;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return;
	if (write(fd, text, strlen(text)) < 0)
		perror("fake-tsm: write");
	close(fd);
}

int mkdir(const char *path, mode_t mode)
{
	int (*real)(const char *, mode_t) = (int (*)(const char *, mode_t))dlsym(RTLD_NEXT, "mkdir");
	const char *provider = getenv("DCR_FAKE_TSM_PROVIDER");
	char fifo[4096];
	int r = real ? real(path, mode) : -1;

	if (r < 0 || !in_fake(path))
		return r;
	put(path, "inblob", "");
	put(path, "generation", "0\n");
	put(path, "provider", provider ? provider : "tdx_guest\n");
	put(path, "auxblob", "");
	if (snprintf(fifo, sizeof(fifo), "%s/outblob", path) < (int)sizeof(fifo))
		mkfifo(fifo, 0600);
	return 0;
}

static ssize_t slurp(const char *dir, const char *name, uint8_t *buf, size_t size)
{
	char path[4096];
	ssize_t n, used = 0;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	while ((size_t)used < size && (n = read(fd, buf + used, size - (size_t)used)) > 0)
		used += n;
	close(fd);
	return used;
}

static int unhex(const char *s, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

static int get_report(const char *dir, struct tdx_report_req *req)
{
	static uint8_t q[TEMPLATE_MAX];
	char hex[97];
	ssize_t n = slurp(dir, "state/quote-template.bin", q, sizeof(q));
	size_t body = n >= 2 && q[0] == 5 ? 54 : 48; /* version 5: body type and size before the body */

	if (n < (ssize_t)(body + BODY_TD_ATTRIBUTES + 400)) {
		errno = EIO;
		return -1;
	}
	memset(req->tdreport, 0, sizeof(req->tdreport));
	memcpy(req->tdreport + 128, req->reportdata, 64);
	memcpy(req->tdreport + TDINFO, q + body + BODY_TD_ATTRIBUTES, 400);
	memset(hex, 0, sizeof(hex));
	if (slurp(dir, "state/tdreport-mrtd", (uint8_t *)hex, 96) == 96 && unhex(hex, req->tdreport + TDINFO + 16, 48) < 0) {
		errno = EIO;
		return -1;
	}
	return 0;
}

static int is_tdx_guest(int fd, const char *dir)
{
	char path[4096];
	struct stat a, b;

	return snprintf(path, sizeof(path), "%s/tdx-guest", dir) < (int)sizeof(path) && fstat(fd, &a) == 0 &&
		stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int ioctl(int fd, unsigned long op, ...)
{
	static int (*real)(int, unsigned long, void *);
	const char *dir = getenv("DCR_FAKE_TDX");
	va_list ap;
	void *arg;

	va_start(ap, op);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (dir && op == TDX_CMD_GET_REPORT0 && is_tdx_guest(fd, dir))
		return get_report(dir, arg);
	if (!real)
		real = (int (*)(int, unsigned long, void *))dlsym(RTLD_NEXT, "ioctl");
	return real(fd, op, arg);
}

int rmdir(const char *path)
{
	int (*real)(const char *) = (int (*)(const char *))dlsym(RTLD_NEXT, "rmdir");
	char file[4096];

	for (size_t i = 0; in_fake(path) && i < sizeof(attrs) / sizeof(attrs[0]); i++)
		if (snprintf(file, sizeof(file), "%s/%s", path, attrs[i]) < (int)sizeof(file))
			unlink(file);
	return real ? real(path) : -1;
}
