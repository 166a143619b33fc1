/*
 * The table store's directories and key on dcrd's side (work.h): made for
 * each duckdb job, its scratch space removed after it and at start, a
 * room's tables removed when the room stops. duckwork.c fills it.
 */
#include "work.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"

#include "banned.h"

#define STORE_DIR "duckdb"
#define JOB_PREFIX "job-"
#define LINKS_PREFIX "/dev/shm/dcrd-duckdb-"
#define TREE_DEPTH 2 /* below DIR/duckdb/ROOM: job-X/FILE, what dcrd makes there goes no deeper */

/* A room ID as dcrd makes them: 64 lowercase hex digits, so never a path of its own. */
static bool room_id_valid(const char *id)
{
	return strlen(id) == 64 && strspn(id, "0123456789abcdef") == 64;
}

static int make_dir(const char *path, struct dcr_err *err)
{
	struct stat st;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot create '%s'", path);
	if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return dcr_err_set(err, DCR_EIO, "'%s' is not a directory", path);
	return 0;
}

/* name in the directory at, and all below it (depth levels at most); errors are ignored: what stays, stays. */
static void remove_at(int at, const char *name, int depth)
{
	struct dirent *e;
	DIR *d;
	int fd;

	if (unlinkat(at, name, 0) == 0 || (errno != EISDIR && errno != EPERM) || depth == 0)
		return;
	if ((fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return;
	if (!(d = fdopendir(fd))) {
		close(fd);
		return;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			remove_at(fd, e->d_name, depth - 1);
	closedir(d);
	(void)unlinkat(at, name, AT_REMOVEDIR);
}

/* The links' directory of job directory name "job-X" (X: 16 hex digits), or "" for another name. */
static void links_of(const char *job_name, char out[static TABLE_STORE_LINKS_MAX])
{
	const char *x;

	out[0] = '\0';
	if (strncmp(job_name, JOB_PREFIX, sizeof(JOB_PREFIX) - 1) != 0)
		return;
	x = job_name + sizeof(JOB_PREFIX) - 1;
	if (strlen(x) == 16 && strspn(x, "0123456789abcdef") == 16)
		snprintf(out, TABLE_STORE_LINKS_MAX, "%s%s", LINKS_PREFIX, x);
}

void table_store_links(const struct table_store *ts, char out[static TABLE_STORE_LINKS_MAX])
{
	const char *slash = strrchr(ts->job, '/');

	links_of(slash ? slash + 1 : ts->job, out);
}

static int path_of(char *buf, size_t size, const char *a, const char *b, const char *c, struct dcr_err *err)
{
	int n = snprintf(buf, size, "%s/%s%s%s", a, b, c ? "/" : "", c ? c : "");

	if (n < 0 || (size_t)n >= size) {
		buf[0] = '\0';
		return dcr_err_set(err, DCR_EIO, "the data directory's path is too long for the table store");
	}
	return 0;
}

int table_store_open(struct table_store *ts, const char *data_dir, const uint8_t sealing_key[static 32],
	const char *room_id, struct dcr_err *err)
{
	static const char salt[] = "dcr-duckdb-tables-v1";
	uint8_t prk[DCR_SHA256_LEN], rnd[8];
	char top[TABLE_STORE_PATH_MAX], name[sizeof(JOB_PREFIX) + 16], links[TABLE_STORE_LINKS_MAX];
	int r;

	memset(ts, 0, sizeof(*ts));
	if (!room_id_valid(room_id))
		return dcr_err_set(err, DCR_EINVALID, "'%s' is no room ID", room_id);
	if ((r = path_of(top, sizeof(top), data_dir, STORE_DIR, NULL, err)) < 0 || (r = make_dir(top, err)) < 0 ||
	    (r = path_of(ts->dir, sizeof(ts->dir), top, room_id, NULL, err)) < 0 || (r = make_dir(ts->dir, err)) < 0 ||
	    (r = dcr_random(rnd, sizeof(rnd), err)) < 0)
		return r;
	memcpy(name, JOB_PREFIX, sizeof(JOB_PREFIX) - 1);
	dcr_hex(rnd, sizeof(rnd), name + sizeof(JOB_PREFIX) - 1);
	if ((r = path_of(ts->job, sizeof(ts->job), ts->dir, name, NULL, err)) < 0)
		return r;
	if (mkdir(ts->job, 0700) < 0) {
		r = dcr_err_errno(err, DCR_EIO, errno, "cannot create '%s'", ts->job);
		ts->job[0] = '\0';
		return r;
	}
	table_store_links(ts, links);
	if (mkdir(links, 0700) < 0) {
		r = dcr_err_errno(err, DCR_EIO, errno, "cannot create '%s'", links);
		table_store_close(ts);
		return r;
	}
	/* The room's key: nothing but the sealing key and the room make it, so it is never stored. */
	r = dcr_hkdf_extract((const uint8_t *)salt, sizeof(salt) - 1, sealing_key, 32, prk, err);
	if (r == 0)
		r = dcr_hkdf_expand(prk, (const uint8_t *)room_id, 64, ts->key, sizeof(ts->key), err);
	dcr_wipe(prk, sizeof(prk));
	if (r < 0)
		table_store_close(ts);
	return r;
}

/* Whether name is TAG-FILE.duckdb.enc, TAG and FILE 32 lowercase hex digits each (duckwork.c's stored_names). */
static bool stored_name(const char *name)
{
	static const char hex[] = "0123456789abcdef", ext[] = ".duckdb.enc";

	return strlen(name) == 65 + sizeof(ext) - 1 && strspn(name, hex) == 32 && name[32] == '-' &&
		strspn(name + 33, hex) == 32 && strcmp(name + 65, ext) == 0;
}

int table_store_adopt(const struct table_store *ts, const char *name, struct dcr_err *err)
{
	char from[TABLE_STORE_PATH_MAX + 80], to[TABLE_STORE_PATH_MAX + 80];
	struct dirent *e;
	DIR *dir;

	if (!stored_name(name))
		return dcr_err_set(err, DCR_EINVALID, "the table store has no file called that");
	snprintf(from, sizeof(from), "%s/%s", ts->job, name);
	snprintf(to, sizeof(to), "%s/%s", ts->dir, name);
	/* The room stopped meanwhile (its directory is gone): the table is not kept. */
	if (!ts->job[0] || rename(from, to) < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot keep a table in '%s'", ts->dir);
	if (!(dir = opendir(ts->dir)))
		return 0;
	while ((e = readdir(dir)))
		if (strncmp(e->d_name, name, 33) == 0 && strcmp(e->d_name, name) != 0)
			(void)unlinkat(dirfd(dir), e->d_name, 0);
	closedir(dir);
	return 0;
}

void table_store_each_room(const char *data_dir, void (*fn)(const char *room_id))
{
	char path[TABLE_STORE_PATH_MAX], ids[64][65];
	struct dirent *e;
	size_t n;
	DIR *top;

	if (path_of(path, sizeof(path), data_dir, STORE_DIR, NULL, NULL) < 0 || !(top = opendir(path)))
		return;
	/* In batches: fn may remove the directory being read. */
	do {
		n = 0;
		while (n < 64 && (e = readdir(top)))
			if (room_id_valid(e->d_name))
				memcpy(ids[n++], e->d_name, 65);
		for (size_t i = 0; i < n; i++)
			fn(ids[i]);
	} while (n == 64);
	closedir(top);
}

const char *table_store_room(const struct table_store *ts)
{
	const char *slash = strrchr(ts->dir, '/');

	return slash && room_id_valid(slash + 1) ? slash + 1 : NULL;
}

void table_store_close(struct table_store *ts)
{
	char links[TABLE_STORE_LINKS_MAX];

	if (!ts)
		return;
	table_store_links(ts, links);
	if (links[0])
		remove_at(AT_FDCWD, links, 1);
	if (ts->job[0])
		remove_at(AT_FDCWD, ts->job, TREE_DEPTH - 1);
	dcr_wipe(ts->key, sizeof(ts->key));
	memset(ts, 0, sizeof(*ts));
}

int table_store_remove_room(const char *data_dir, const char *room_id, struct dcr_err *err)
{
	char path[TABLE_STORE_PATH_MAX];
	int r;

	if (!room_id_valid(room_id))
		return dcr_err_set(err, DCR_EINVALID, "'%s' is no room ID", room_id);
	if ((r = path_of(path, sizeof(path), data_dir, STORE_DIR, room_id, err)) < 0)
		return r;
	remove_at(AT_FDCWD, path, TREE_DEPTH);
	if (access(path, F_OK) == 0)
		return dcr_err_set(err, DCR_EIO, "cannot remove '%s'", path);
	return 0;
}

bool table_store_exists(const char *data_dir, const char *room_id)
{
	char path[TABLE_STORE_PATH_MAX];

	return room_id_valid(room_id) && path_of(path, sizeof(path), data_dir, STORE_DIR, room_id, NULL) == 0 &&
	       access(path, F_OK) == 0;
}

int table_store_sweep(const char *data_dir, struct dcr_err *err)
{
	char path[TABLE_STORE_PATH_MAX];
	unsigned removed = 0;
	struct dirent *e;
	DIR *top;
	int r;

	if ((r = path_of(path, sizeof(path), data_dir, STORE_DIR, NULL, err)) < 0)
		return r;
	if (!(top = opendir(path)))
		return errno == ENOENT ? 0 : dcr_err_errno(err, DCR_EIO, errno, "cannot read '%s'", path);
	while ((e = readdir(top))) {
		struct dirent *j;
		DIR *room;
		int fd;

		if (!room_id_valid(e->d_name) ||
		    (fd = openat(dirfd(top), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
			continue;
		if (!(room = fdopendir(fd))) {
			close(fd);
			continue;
		}
		while ((j = readdir(room)))
			if (strncmp(j->d_name, JOB_PREFIX, sizeof(JOB_PREFIX) - 1) == 0) {
				char links[TABLE_STORE_LINKS_MAX];

				links_of(j->d_name, links);
				if (links[0])
					remove_at(AT_FDCWD, links, 1);
				remove_at(fd, j->d_name, TREE_DEPTH - 1);
				removed++;
			}
		closedir(room);
	}
	closedir(top);
	if (removed)
		fprintf(stderr, "dcrd: removed %u job director%s of the table store, left by a stop during a job\n",
			removed, removed == 1 ? "y" : "ies");
	return 0;
}
