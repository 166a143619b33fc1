/*
 * Test helper, loaded with LD_PRELOAD: kills the process (SIGKILL, as a
 * power cut or kill -9 would stop it) just before its Nth change to the
 * files of one folder, so a test can stop a program at every such step in
 * turn and check what each leaves behind. $DCR_KILL_DIR is the folder (an
 * absolute path, as the program names it); $DCR_KILL_AT is N (from 1). The
 * changes counted are the calls, through libc's exported functions, that
 * create, open for writing, write, truncate, sync, rename (also
 * renameat2), link or unlink a file in the folder, or sync the folder
 * itself; with $DCR_KILL_CALL (a function's name, like "fdatasync") only
 * the calls of that function.
 */
#define _GNU_SOURCE
/* open and open64, ftruncate and ftruncate64 are each their own symbol here (meson sets 64 for the programs). */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static unsigned long counted;

/* Whether path is the folder or in it. */
static int in_dir(const char *path)
{
	const char *dir = getenv("DCR_KILL_DIR");
	size_t n = dir ? strlen(dir) : 0;

	return n && path && strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static int fd_in_dir(int fd)
{
	char link[64], path[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((n = readlink(link, path, sizeof(path) - 1)) < 0)
		return 0;
	path[n] = '\0';
	return in_dir(path);
}

/* A change to the folder (counts) by function name is about to be made: the Nth is not. */
static void step(const char *name, int counts)
{
	const char *at = getenv("DCR_KILL_AT"), *only = getenv("DCR_KILL_CALL");

	if (counts && at && (!only || strcmp(only, name) == 0) && __atomic_add_fetch(&counted, 1, __ATOMIC_SEQ_CST) == strtoul(at, NULL, 10))
		raise(SIGKILL);
}

#define STEP(counts) step(__func__, counts)
#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

static int writes(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC));
}

/* open(2) and its kin: the mode is passed on when the flags create a file. */
#define OPENER(name, params, args) \
	int name params \
	{ \
		va_list ap; \
		mode_t mode; \
\
		va_start(ap, flags); \
		mode = flags & (O_CREAT | __O_TMPFILE) ? (mode_t)va_arg(ap, int) : 0; \
		va_end(ap); \
		STEP(writes(flags) && in_dir(path)); \
		return REAL(name) args; \
	}

OPENER(open, (const char *path, int flags, ...), (path, flags, mode))
OPENER(open64, (const char *path, int flags, ...), (path, flags, mode))
OPENER(openat, (int dirfd, const char *path, int flags, ...), (dirfd, path, flags, mode))
OPENER(openat64, (int dirfd, const char *path, int flags, ...), (dirfd, path, flags, mode))

ssize_t write(int fd, const void *buf, size_t len)
{
	STEP(fd_in_dir(fd));
	return REAL(write)(fd, buf, len);
}

int ftruncate(int fd, off_t len)
{
	STEP(fd_in_dir(fd));
	return REAL(ftruncate)(fd, len);
}

int ftruncate64(int fd, off64_t len)
{
	STEP(fd_in_dir(fd));
	return REAL(ftruncate64)(fd, len);
}

int fsync(int fd)
{
	STEP(fd_in_dir(fd));
	return REAL(fsync)(fd);
}

int fdatasync(int fd)
{
	STEP(fd_in_dir(fd));
	return REAL(fdatasync)(fd);
}

int rename(const char *from, const char *to)
{
	STEP(in_dir(from) || in_dir(to));
	return REAL(rename)(from, to);
}

int renameat2(int fromfd, const char *from, int tofd, const char *to, unsigned int flags)
{
	STEP(in_dir(from) || in_dir(to));
	return REAL(renameat2)(fromfd, from, tofd, to, flags);
}

int link(const char *from, const char *to)
{
	STEP(in_dir(to));
	return REAL(link)(from, to);
}

int unlink(const char *path)
{
	STEP(in_dir(path));
	return REAL(unlink)(path);
}
