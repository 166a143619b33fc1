/* The writer of every file the user names for output: see output.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "output.h"

#include "banned.h"

/* As many links as the kernel follows (MAXSYMLINKS). */
enum { MAX_LINKS = 40 };

/*
 * Follow name through symbolic links to where they end: path, and whether
 * something exists there (st: what).
 */
static int resolve(const char *name, char *path, size_t size, struct stat *st, bool *exists, struct dcr_err *err)
{
	char target[PATH_MAX], joined[PATH_MAX];

	if ((size_t)snprintf(path, size, "%s", name) >= size)
		return dcr_err_set(err, DCR_EINVALID, "path too long: '%s'", name);
	for (int hops = 0;; hops++) {
		const char *slash;
		ssize_t n;

		if (lstat(path, st) < 0) {
			if (errno != ENOENT)
				return dcr_err_errno(err, DCR_EIO, errno, "cannot write '%s'", name);
			*exists = false;
			return 0;
		}
		if (!S_ISLNK(st->st_mode)) {
			*exists = true;
			return 0;
		}
		if (hops == MAX_LINKS)
			return dcr_err_errno(err, DCR_EIO, ELOOP, "cannot write '%s'", name);
		if ((n = readlink(path, target, sizeof(target) - 1)) < 0)
			return dcr_err_errno(err, DCR_EIO, errno, "cannot write '%s'", name);
		target[n] = '\0';
		/* A relative link is relative to the directory that holds it. */
		slash = strrchr(path, '/');
		if (target[0] == '/' || !slash)
			n = snprintf(joined, sizeof(joined), "%s", target);
		else
			n = snprintf(joined, sizeof(joined), "%.*s/%s", (int)(slash - path), path, target);
		if (n < 0 || (size_t)n >= sizeof(joined) || (size_t)n >= size)
			return dcr_err_set(err, DCR_EINVALID, "path too long: where '%s' leads", name);
		memcpy(path, joined, (size_t)n + 1);
	}
}

/* The kind of name, with the resolved path for OUT_ATOMIC. */
static int classify(const char *name, char *path, size_t size, enum out_kind *kind, bool *exists,
	struct dcr_err *err)
{
	struct stat st, lst, out;
	int r;

	*exists = false;
	if (!name) {
		*kind = OUT_STDOUT;
		return 0;
	}
	/* What the links end at, as the kernel follows them (also /proc's links to pipes and terminals). */
	if (stat(name, &st) == 0 && lstat(name, &lst) == 0 && fstat(STDOUT_FILENO, &out) == 0 &&
	    st.st_dev == out.st_dev && st.st_ino == out.st_ino && (S_ISLNK(lst.st_mode) || !S_ISREG(st.st_mode))) {
		/* /dev/stdout, or a link to what standard output is: its descriptor as is (appending, say). */
		*exists = true;
		*kind = OUT_STDOUT;
		return 0;
	}
	if (stat(name, &st) == 0 && !S_ISREG(st.st_mode)) {
		*exists = true;
		*kind = OUT_THROUGH;
		return 0;
	}
	if ((r = resolve(name, path, size, &st, exists, err)) < 0)
		return r;
	if (*exists && !S_ISREG(st.st_mode))
		return dcr_err_set(err, DCR_EIO, "cannot write '%s': it changed while it was looked at", name);
	*kind = OUT_ATOMIC;
	return 0;
}

enum out_kind out_kind_of(const char *name)
{
	char path[PATH_MAX];
	enum out_kind kind = OUT_ATOMIC;
	struct dcr_err err;
	bool exists;

	classify(name, path, sizeof(path), &kind, &exists, &err);
	return kind;
}

bool out_would_replace(const char *name)
{
	char path[PATH_MAX];
	enum out_kind kind;
	struct dcr_err err;
	bool exists;

	return classify(name, path, sizeof(path), &kind, &exists, &err) == 0 && kind == OUT_ATOMIC && exists;
}

int out_open(struct out_file *o, const char *name, mode_t mode, bool replace, struct dcr_err *err)
{
	bool exists;
	int r;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	o->name = name ? name : "standard output";
	o->mode = mode;
	o->replace = replace;
	if ((r = classify(name, o->path, sizeof(o->path), &o->kind, &exists, err)) < 0)
		return r;
	switch (o->kind) {
	case OUT_STDOUT:
		o->fd = STDOUT_FILENO;
		return 0;
	case OUT_THROUGH:
		if ((o->fd = open(name, O_WRONLY | O_NOCTTY | O_CLOEXEC)) < 0)
			return dcr_err_errno(err, DCR_EIO, errno, "cannot write '%s'", name);
		return 0;
	case OUT_ATOMIC:
		break;
	}
	if (exists && !replace)
		return dcr_err_set(err, DCR_EEXIST, "'%s' already exists", name);
	if ((size_t)snprintf(o->tmp, sizeof(o->tmp), "%s.part-XXXXXX", o->path) >= sizeof(o->tmp))
		return dcr_err_set(err, DCR_EINVALID, "path too long: '%s'", name);
	if ((o->fd = mkstemp(o->tmp)) < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot write '%s': cannot create '%s'", name, o->tmp);
	return 0;
}

/* Put the finished temporary file in place: over what is there, or only where nothing is. */
static int put_in_place(struct out_file *o, struct dcr_err *err)
{
	if (o->replace) {
		if (rename(o->tmp, o->path) < 0)
			return dcr_err_errno(err, DCR_EIO, errno, "cannot write '%s'", o->name);
	} else if (dcr_rename_noreplace(o->tmp, o->path) < 0) {
		if (errno == EEXIST)
			return dcr_err_set(err, DCR_EEXIST, "'%s' already exists", o->name);
		return dcr_err_errno(err, DCR_EIO, errno, "cannot write '%s'", o->name);
	}
	/* The rename is durable only once the directory entry is on disk. */
	return dcr_sync_parent_dir(o->path, o->name, err);
}

int out_close(struct out_file *o, int r, struct dcr_err *err)
{
	switch (o->kind) {
	case OUT_STDOUT:
		return r;
	case OUT_THROUGH:
		if (o->fd >= 0 && close(o->fd) < 0 && r == 0)
			r = dcr_err_errno(err, DCR_EIO, errno, "cannot write '%s'", o->name);
		o->fd = -1;
		return r;
	case OUT_ATOMIC:
		break;
	}
	if (o->fd < 0)
		return r;
	if (r == 0 && (fchmod(o->fd, o->mode) < 0 || fsync(o->fd) < 0))
		r = dcr_err_errno(err, DCR_EIO, errno, "cannot write '%s'", o->name);
	if (close(o->fd) < 0 && r == 0)
		r = dcr_err_errno(err, DCR_EIO, errno, "cannot write '%s'", o->name);
	o->fd = -1;
	if (r == 0)
		r = put_in_place(o, err);
	if (r < 0)
		unlink(o->tmp);
	return r;
}

int out_write(const char *name, mode_t mode, bool replace, out_producer *produce, void *ctx, struct dcr_err *err)
{
	struct out_file o;
	int r;

	if ((r = out_open(&o, name, mode, replace, err)) < 0)
		return r;
	return out_close(&o, produce(ctx, o.fd, err), err);
}

struct buf {
	const char *name;
	const void *data;
	size_t len;
};

static int write_buf(void *ctx, int fd, struct dcr_err *err)
{
	const struct buf *b = ctx;

	if (dcr_write_all(fd, b->data, b->len) < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot write '%s'", b->name ? b->name : "standard output");
	return 0;
}

int out_write_buf(const char *name, mode_t mode, bool replace, const void *data, size_t len, struct dcr_err *err)
{
	struct buf b = { name, data, len };

	return out_write(name, mode, replace, write_buf, &b, err);
}
