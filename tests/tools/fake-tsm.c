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
 * Everything else passes through.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int mkdir(const char *path, mode_t mode);
int rmdir(const char *path);

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

int rmdir(const char *path)
{
	int (*real)(const char *) = (int (*)(const char *))dlsym(RTLD_NEXT, "rmdir");
	char file[4096];

	for (size_t i = 0; in_fake(path) && i < sizeof(attrs) / sizeof(attrs[0]); i++)
		if (snprintf(file, sizeof(file), "%s/%s", path, attrs[i]) < (int)sizeof(file))
			unlink(file);
	return real ? real(path) : -1;
}
