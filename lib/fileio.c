/* Whole-file reads with a size bound, and atomic, durable replacement of files. */
#define _GNU_SOURCE /* renameat2 */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"

#include "banned.h"

/* A whole file; a secret one must be its owner's alone, and leaves nothing behind on failure. */
static int read_file(const char *path, size_t max, bool secret, uint8_t **out, size_t *len, struct dcr_err *err)
{
	/* O_NONBLOCK: a FIFO planted where a file should be must not hang us; regular files ignore it. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK), r = 0;
	uint8_t *buf = NULL;
	size_t got = 0;
	struct stat st;

	if (fd < 0)
		return dcr_err_errno(err, errno == ENOENT ? DCR_ENOTFOUND : DCR_EIO, errno,
			"cannot open '%s'", path);
	/* Checked on the open file, so what is read is what was checked. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		r = dcr_err_set(err, DCR_EIO, "'%s' is not a regular file", path);
	else if (secret && (st.st_mode & 077))
		r = dcr_err_set(err, DCR_EINVALID, "'%s' is accessible to other users (mode %04o); run chmod 600 on it",
			path, (unsigned)(st.st_mode & 07777));
	else if ((uintmax_t)st.st_size > max)
		r = dcr_err_set(err, DCR_EINVALID, "'%s' is larger than %zu bytes", path, max);
	else if (!(buf = malloc((size_t)st.st_size + 1)))
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory reading '%s'", path);
	while (r == 0 && got <= max) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = dcr_err_errno(err, DCR_EIO, errno, "cannot read '%s'", path);
		else if (n == 0)
			break;
		else if ((got += (size_t)n) > (size_t)st.st_size)
			/* The file grew while we read it. */
			r = dcr_err_set(err, DCR_EIO, "'%s' changed while being read", path);
	}
	close(fd);
	if (r < 0) {
		if (buf && secret)
			dcr_wipe(buf, got);
		free(buf);
		return r;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

int dcr_read_file(const char *path, size_t max, uint8_t **out, size_t *len, struct dcr_err *err)
{
	return read_file(path, max, false, out, len, err);
}

int dcr_read_key_file(const char *path, size_t max, uint8_t **out, size_t *len, struct dcr_err *err)
{
	return read_file(path, max, true, out, len, err);
}

int dcr_write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* data in a new file of mode 0600 beside path, synced; its name in tmp. */
static int write_temp(const char *path, const void *data, size_t len, char tmp[static 4096], struct dcr_err *err)
{
	uint8_t rnd[8];
	char hex[17];
	int fd, e;

	if (dcr_random(rnd, sizeof(rnd), err) < 0)
		return DCR_EFAIL;
	dcr_hex(rnd, sizeof(rnd), hex);
	if ((size_t)snprintf(tmp, 4096, "%s.%s.tmp", path, hex) >= 4096)
		return dcr_err_set(err, DCR_EINVALID, "path too long: '%.64s...'", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot create '%s'", tmp);
	if (fchmod(fd, 0600) < 0 || dcr_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		e = errno;
		close(fd);
		unlink(tmp);
		return dcr_err_errno(err, DCR_EIO, e, "cannot write '%s'", tmp);
	}
	if (close(fd) < 0) {
		e = errno;
		unlink(tmp);
		return dcr_err_errno(err, DCR_EIO, e, "cannot write '%s'", tmp);
	}
	return 0;
}

int dcr_write_atomic(const char *path, const void *data, size_t len, struct dcr_err *err)
{
	char tmp[4096];
	int r, e;

	if ((r = write_temp(path, data, len, tmp, err)) < 0)
		return r;
	if (rename(tmp, path) < 0) {
		e = errno;
		unlink(tmp);
		return dcr_err_errno(err, DCR_EIO, e, "cannot replace '%s'", path);
	}
	/* The rename is durable only once the directory entry is on disk. */
	return dcr_sync_parent_dir(path, path, err);
}

int dcr_rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL)
		return -1;
	/* A file system without RENAME_NOREPLACE (NFS): a hard link fails the same way on an existing name. */
	if (link(from, to) < 0)
		return -1;
	unlink(from);
	return 0;
}

int dcr_write_new(const char *path, const void *data, size_t len, struct dcr_err *err)
{
	char tmp[4096];
	int r, e;

	if ((r = write_temp(path, data, len, tmp, err)) < 0)
		return r;
	if (dcr_rename_noreplace(tmp, path) < 0) {
		e = errno;
		unlink(tmp);
		if (e == EEXIST)
			return dcr_err_set(err, DCR_EEXIST, "'%s' exists already", path);
		return dcr_err_errno(err, DCR_EIO, e, "cannot create '%s'", path);
	}
	return dcr_sync_parent_dir(path, path, err);
}

int dcr_sync_parent_dir(const char *path, const char *name, struct dcr_err *err)
{
	char dir[4096];
	int dfd, e;

	if ((size_t)snprintf(dir, sizeof(dir), "%s", path) >= sizeof(dir))
		return dcr_err_set(err, DCR_EINVALID, "path too long: '%.64s...'", name);
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) {
		e = errno;
		if (dfd >= 0)
			close(dfd);
		return dcr_err_errno(err, DCR_EIO, e, "cannot sync the directory of '%s'", name);
	}
	close(dfd);
	return 0;
}

int dcr_state_dir(const char *sub, bool create, char *buf, size_t size, struct dcr_err *err)
{
	const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	int n;

	if (state && state[0] == '/')
		n = snprintf(buf, size, "%s/dcr/%s", state, sub);
	else if (home && *home)
		n = snprintf(buf, size, "%s/.local/state/dcr/%s", home, sub);
	else
		return dcr_err_set(err, DCR_EFAIL, "neither XDG_STATE_HOME nor HOME is set: nowhere to keep dcr's state");
	if (n < 0 || (size_t)n >= size)
		return dcr_err_set(err, DCR_EFAIL, "state directory path too long");
	if (create) {
		/* mkdir -p: every missing level, private. */
		for (char *slash = strchr(buf + 1, '/');; slash = strchr(slash + 1, '/')) {
			if (slash)
				*slash = '\0';
			if (mkdir(buf, 0700) < 0 && errno != EEXIST) {
				int r = dcr_err_errno(err, DCR_EIO, errno, "cannot create '%s'", buf);

				if (slash)
					*slash = '/';
				return r;
			}
			if (!slash)
				break;
			*slash = '/';
		}
	}
	return 0;
}
