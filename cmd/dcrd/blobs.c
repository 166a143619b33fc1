/*
 * Blobs: ciphertext on the host's disk, in DIR/blobs/ID. Uploads arrive
 * with PUT /v1/blobs/ID in as many pieces as the client needs (HEAD tells
 * how much arrived), results leave with GET; each blob has a bearer token
 * that a call handed out, and only its SHA-256 is kept. The transfers
 * never see plaintext: the keys travel only inside encrypted calls. At
 * the end, reading a complete blob back: publish checks and jobs decrypt
 * one with the key of its sealed record.
 */
#define _GNU_SOURCE /* sync_file_range */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "dcrd.h"
#include "util.h"

#include "banned.h"

#define TOKEN_PREFIX "dcrbt_"

bool blob_id_valid(const char *id)
{
	return id && strlen(id) == DCR_BLOB_ID_LEN && strspn(id, "0123456789abcdef") == DCR_BLOB_ID_LEN;
}

int blob_path(const struct service *svc, const char *id, char *buf, size_t size, struct dcr_err *err)
{
	char rel[64];

	if (!blob_id_valid(id))
		return dcr_err_set(err, DCR_EINVALID, "a blob ID is %d lowercase hex digits", DCR_BLOB_ID_LEN);
	snprintf(rel, sizeof(rel), "blobs/%s", id);
	return data_path(buf, size, svc->data_dir, rel, err);
}

/*
 * Blob files whose records a committed transaction deleted: unlinked by
 * blobs_reap once the call lock is released, since freeing a file of
 * gigabytes takes the file system a while, and once the deletion is on
 * disk (its ticket synced: group commit), since a row that comes back
 * after a power cut must find its file. Should dcrd stop before, the
 * file is one no record names, which blobs_sweep deletes at the next start.
 */
struct doomed {
	struct doomed *next;
	struct state *state;
	uint64_t ticket;           /* state_ticket of the deletion's commit */
	char id[DCR_BLOB_ID_LEN + 1];
	char path[];
};

static struct {
	pthread_mutex_t mu;
	struct doomed *head;
} doomed = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void doom_on_commit(void *arg, bool committed)
{
	struct doomed *d = arg;

	if (!committed) {
		free(d);
		return;
	}
	d->ticket = state_ticket(d->state); /* under the lock the transaction committed under */
	pthread_mutex_lock(&doomed.mu);
	d->next = doomed.head;
	doomed.head = d;
	pthread_mutex_unlock(&doomed.mu);
}

int blob_delete_on_commit(const struct service *svc, const char *id, struct dcr_err *err)
{
	char path[4096];
	struct doomed *d;
	size_t len;
	int r;

	if ((r = blob_path(svc, id, path, sizeof(path), err)) < 0)
		return r;
	len = strlen(path) + 1;
	if (!(d = malloc(sizeof(*d) + len)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	snprintf(d->id, sizeof(d->id), "%s", id);
	memcpy(d->path, path, len);
	d->state = svc->state;
	if ((r = state_on_end(svc->state, doom_on_commit, d, err)) < 0)
		free(d);
	return r;
}

void blobs_reap(void)
{
	struct doomed *d, *ready = NULL, **at;

	/* Those whose deletion is on disk; the others wait for a later reap. */
	pthread_mutex_lock(&doomed.mu);
	for (at = &doomed.head; (d = *at);) {
		if (state_synced(d->state, d->ticket)) {
			*at = d->next;
			d->next = ready;
			ready = d;
		} else {
			at = &d->next;
		}
	}
	pthread_mutex_unlock(&doomed.mu);
	for (d = ready; d;) {
		struct doomed *next = d->next;

		if (unlink(d->path) < 0 && errno != ENOENT)
			fprintf(stderr, "dcrd: cannot delete the file of blob %s, whose records are deleted: %s; it is "
					"deleted at the next start\n", d->id, strerror(errno));
		free(d);
		d = next;
	}
}

/* Blobs being written now (under the service lock): one writer per blob, so many per uploader and address. */
#define MAX_UPLOADS 64
#define PEER_MAX 48                /* an IPv6 address in text */

static struct writer {
	char id[DCR_BLOB_ID_LEN + 1];  /* "": a free slot */
	struct caller_id owner;
	char peer[PEER_MAX];
} writing[MAX_UPLOADS];
static struct put_limits put_limits;
static atomic_uint n_writing;      /* for /metrics, which does not take the lock */

unsigned blob_writers(void)
{
	return atomic_load(&n_writing);
}

int blobs_init(const char *data_dir, const struct put_limits *lim, struct dcr_err *err)
{
	char path[4096];
	struct stat st;
	int r;

	put_limits = *lim;
	if ((r = data_path(path, sizeof(path), data_dir, "blobs", err)) < 0)
		return r;
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot create '%s'", path);
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return dcr_err_set(err, DCR_EIO, "'%s' is not a directory", path);
	return 0;
}

int blobs_sweep(struct service *svc, struct dcr_err *err)
{
	char path[4096];
	struct state_blob row;
	struct dirent *e;
	struct stat st;
	uint64_t files = 0, bytes = 0;
	DIR *d;
	int r = 0;

	if ((r = data_path(path, sizeof(path), svc->data_dir, "blobs", err)) < 0)
		return r;
	if (!(d = opendir(path)))
		return dcr_err_errno(err, DCR_EIO, errno, "cannot read '%s'", path);
	pthread_mutex_lock(svc->lock);
	for (;;) {
		errno = 0;
		if (!(e = readdir(d))) {
			if (errno)
				r = dcr_err_errno(err, DCR_EIO, errno, "cannot read '%s'", path);
			break;
		}
		/* Other names are not dcrd's: left alone. */
		if (!blob_id_valid(e->d_name))
			continue;
		if ((r = state_blob_get(svc->state, e->d_name, &row, err)) == 0)
			continue;
		if (r != DCR_ENOTFOUND)
			break;
		r = 0;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || unlinkat(dirfd(d), e->d_name, 0) < 0) {
			r = dcr_err_errno(err, DCR_EIO, errno, "cannot delete the unrecorded blob %s", e->d_name);
			break;
		}
		files++;
		bytes += (uint64_t)st.st_size;
	}
	state_unlock(svc->state, svc->lock);
	closedir(d);
	if (files)
		fprintf(stderr, "dcrd: deleted %" PRIu64 " blob file%s that no record names (%" PRIu64 " bytes), "
				"left by a stop between writing a file and its record, or deleting them\n",
			files, files == 1 ? "" : "s", bytes);
	return r;
}

int blob_mint(char id[static DCR_BLOB_ID_LEN + 1], char token[static DCR_BLOB_TOKEN_MAX], uint8_t hash[static 32],
	struct dcr_err *err)
{
	uint8_t raw_id[DCR_BLOB_ID_LEN / 2], secret[32];
	int r;

	if ((r = dcr_random(raw_id, sizeof(raw_id), err)) < 0 || (r = dcr_random(secret, sizeof(secret), err)) < 0)
		return r;
	dcr_hex(raw_id, sizeof(raw_id), id);
	memcpy(token, TOKEN_PREFIX, sizeof(TOKEN_PREFIX) - 1);
	dcr_hex(secret, sizeof(secret), token + sizeof(TOKEN_PREFIX) - 1);
	dcr_wipe(secret, sizeof(secret));
	return dcr_sha256(token, strlen(token), hash, err);
}

int blob_new(struct service *svc, uint64_t size, int complete, char id[static DCR_BLOB_ID_LEN + 1],
	char token[static DCR_BLOB_TOKEN_MAX], struct dcr_err *err)
{
	uint8_t hash[32];
	int r;

	if ((r = blob_mint(id, token, hash, err)) < 0)
		return r;
	return state_blob_add(svc->state, id, size, hash, complete, err);
}

/* "Bearer TOKEN" against the blob's token hash, in constant time. */
static bool token_matches(const char *authorization, const struct state_blob *b)
{
	uint8_t hash[32];
	const char *t;

	if (!authorization || strncmp(authorization, "Bearer ", 7) != 0)
		return false;
	t = authorization + 7;
	if (strlen(t) >= DCR_BLOB_TOKEN_MAX || dcr_sha256(t, strlen(t), hash, NULL) < 0)
		return false;
	return dcr_ct_equal(hash, b->token_hash, 32);
}

/* blob_authorize, under the lock. */
static int authorize_locked(struct service *svc, const char *id, const char *authorization, struct state_blob *out,
	unsigned *status, struct dcr_err *err)
{
	int r;
	bool expired = false;

	r = blob_id_valid(id) ? state_blob_get(svc->state, id, out, err) : DCR_ENOTFOUND;
	if (r == DCR_ENOTFOUND)
		expired = storage_expired(id, out, err);
	/* Only its own token learns that an upload expired. */
	if (expired && token_matches(authorization, out)) {
		*status = 410;
		return DCR_ENOTFOUND;
	}
	/* Unknown blob or wrong token: the same answer, so IDs cannot be probed. */
	if (r == DCR_ENOTFOUND || (r == 0 && !token_matches(authorization, out))) {
		*status = 404;
		return dcr_err_set(err, DCR_ENOTFOUND, "no such blob, or the token is not for it");
	}
	if (r < 0) {
		*status = 500;
		return r;
	}
	return 0;
}

int blob_authorize(struct service *svc, const char *id, const char *authorization, struct state_blob *out,
	unsigned *status, struct dcr_err *err)
{
	int r;

	pthread_mutex_lock(svc->lock);
	r = authorize_locked(svc, id, authorization, out, status, err);
	state_unlock(svc->state, svc->lock);
	return r;
}

bool blob_writing(const char *id)
{
	for (size_t i = 0; i < MAX_UPLOADS; i++)
		if (strcmp(writing[i].id, id) == 0)
			return true;
	return false;
}

/* A writer's slot for blob id, within the limits; 0, or the HTTP status of the refusal. */
static unsigned claim(const char *id, const struct caller_id *owner, const char *peer, struct dcr_err *err)
{
	size_t free_slot = MAX_UPLOADS;
	unsigned by_owner = 0, by_peer = 0;

	for (size_t i = 0; i < MAX_UPLOADS; i++) {
		if (!writing[i].id[0]) {
			if (free_slot == MAX_UPLOADS)
				free_slot = i;
			continue;
		}
		if (strcmp(writing[i].id, id) == 0) {
			dcr_err_set(err, DCR_EEXIST, "another upload to this blob is under way");
			return 409;
		}
		by_owner += caller_id_equal(&writing[i].owner, owner);
		by_peer += strcmp(writing[i].peer, peer) == 0;
	}
	if (by_owner >= put_limits.per_uploader) {
		dcr_err_set(err, DCR_EFAIL, "%u uploads of this uploader are under way, the most dcrd takes at once "
					    "(--max-puts-per-uploader); try again when one has finished", by_owner);
		return 429;
	}
	if (by_peer >= put_limits.per_address) {
		dcr_err_set(err, DCR_EFAIL, "%u uploads from this address are under way, the most dcrd takes at once "
					    "(--max-puts-per-address); try again when one has finished", by_peer);
		return 429;
	}
	if (free_slot == MAX_UPLOADS) {
		dcr_err_set(err, DCR_EFAIL, "dcrd takes %d uploads at once, and that many are under way; try again later",
			MAX_UPLOADS);
		return 503;
	}
	snprintf(writing[free_slot].id, sizeof(writing[0].id), "%s", id);
	writing[free_slot].owner = *owner;
	snprintf(writing[free_slot].peer, sizeof(writing[0].peer), "%s", peer);
	atomic_fetch_add(&n_writing, 1);
	return 0;
}

static void release(const char *id)
{
	for (size_t i = 0; i < MAX_UPLOADS; i++)
		if (strcmp(writing[i].id, id) == 0) {
			writing[i].id[0] = '\0';
			atomic_fetch_sub(&n_writing, 1);
		}
}

struct blob_upload {
	char id[DCR_BLOB_ID_LEN + 1];
	struct service *svc;
	int fd;
	uint64_t size, offset;
	uint64_t recorded;         /* what the state says has arrived */
	uint64_t started;          /* writeback started up to here */
	int64_t recorded_ms;       /* when it was last recorded (monotonic) */
	bool failed;
};

/*
 * What arrived is recorded (fsync, then the state) once 64 MiB are
 * unrecorded, or 8 MiB and a second since the last record: a fast upload
 * waits for few fsyncs, a slow one loses little to a crash.
 */
#define PROGRESS_EVERY (64u << 20)
#define PROGRESS_SOON (8u << 20)
#define PROGRESS_MS 1000
#define WRITEBACK_EVERY (1u << 20)

static void blob_release(struct service *svc, const char *id)
{
	pthread_mutex_lock(svc->lock);
	release(id);
	state_unlock(svc->state, svc->lock);
}

/* Upload-Offset must be what has arrived. */
static int check_put(const char *offset_header, const struct state_blob *b, unsigned long long *offset,
	unsigned *status, struct dcr_err *err)
{
	char *end;

	*offset = 0;
	if (offset_header) {
		errno = 0;
		*offset = strtoull(offset_header, &end, 10);
		if (errno || end == offset_header || *end || *offset_header == '-') {
			*status = 400;
			return dcr_err_set(err, DCR_EINVALID, "Upload-Offset is not a number");
		}
	}
	if (*offset != b->received) {
		*status = 409;
		return dcr_err_set(err, DCR_EINVALID, "Upload-Offset is %llu, but %llu bytes have arrived (HEAD tells)",
			*offset, (unsigned long long)b->received);
	}
	return 0;
}

int blob_put_begin(struct service *svc, const char *id, const char *authorization, const char *offset_header,
	const char *peer, struct blob_upload **out, unsigned *status, struct dcr_err *err)
{
	struct blob_upload *u;
	struct state_blob b;
	struct caller_id owner;
	char path[4096];
	unsigned long long offset = 0;
	int r;

	*out = NULL;
	/*
	 * The token, what has arrived and the writer's slot, under one hold of
	 * the lock: no other PUT can move the offset between the check and the
	 * writes, and a blob deleted or expired meanwhile is not found (404 or
	 * 410), never half found.
	 */
	pthread_mutex_lock(svc->lock);
	if ((r = authorize_locked(svc, id, authorization, &b, status, err)) < 0) {
		/* *status says why. */
	} else if (b.complete) {
		*status = 409;
		r = dcr_err_set(err, DCR_EEXIST, "the blob is complete already");
	} else if ((r = storage_put(svc, id, &owner, status, err)) == 0 &&
		   (*status = claim(id, &owner, peer ? peer : "", err)) != 0) {
		r = err->code;
	}
	state_unlock(svc->state, svc->lock);
	if (r < 0)
		return r;
	if ((r = check_put(offset_header, &b, &offset, status, err)) < 0 ||
	    (r = blob_path(svc, id, path, sizeof(path), err)) < 0) {
		if (*status == 0)
			*status = 500;
		blob_release(svc, id);
		return r;
	}
	if (!(u = calloc(1, sizeof(*u)))) {
		blob_release(svc, id);
		*status = 500;
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	}
	u->fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	/* Bytes past what was recorded may not have reached the disk: drop them. */
	if (u->fd < 0 || ftruncate(u->fd, (off_t)offset) < 0 || lseek(u->fd, (off_t)offset, SEEK_SET) < 0) {
		r = dcr_err_errno(err, DCR_EIO, errno, "cannot write blob %s", id);
		if (u->fd >= 0)
			close(u->fd);
		free(u);
		blob_release(svc, id);
		*status = 500;
		return r;
	}
	state_files_changed(svc->state); /* a new file's name on disk with the progress that names it */
	memcpy(u->id, id, sizeof(u->id));
	u->svc = svc;
	u->size = b.size;
	u->offset = u->recorded = u->started = offset;
	u->recorded_ms = dcr_monotonic_ms();
	*out = u;
	return 0;
}

/* Make what arrived durable and record it, so a killed dcrd resumes from here. */
static int record_progress(struct blob_upload *u, int complete, struct dcr_err *err)
{
	int r;

	if (fsync(u->fd) < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot write blob %s", u->id);
	pthread_mutex_lock(u->svc->lock);
	if ((r = state_blob_progress(u->svc->state, u->id, u->offset, complete, err)) == 0)
		storage_progress(u->id, u->offset, complete);
	state_unlock(u->svc->state, u->svc->lock);
	if (r == 0) {
		u->recorded = u->offset;
		u->recorded_ms = dcr_monotonic_ms();
	}
	return r;
}

int blob_put_write(struct blob_upload *u, const uint8_t *buf, size_t len, unsigned *status, struct dcr_err *err)
{
	if (u->failed)
		return DCR_EIO;
	if (len > u->size - u->offset) {
		u->failed = true;
		*status = 413;
		return dcr_err_set(err, DCR_EINVALID, "more bytes than the %llu announced", (unsigned long long)u->size);
	}
	while (len > 0) {
		ssize_t n = write(u->fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			u->failed = true;
			*status = 500;
			return dcr_err_errno(err, DCR_EIO, errno, "cannot write blob %s", u->id);
		}
		buf += n;
		len -= (size_t)n;
		u->offset += (uint64_t)n;
	}
	/*
	 * Writeback of each MiB starts as soon as it is in, not at the fsync
	 * of record_progress: the disk writes while more arrives, and that
	 * fsync, which holds up this connection, finds little left to write.
	 * Advisory: an error shows at the fsync.
	 */
	if (u->offset - u->started >= WRITEBACK_EVERY) {
		(void)sync_file_range(u->fd, (off_t)u->started, (off_t)(u->offset - u->started), SYNC_FILE_RANGE_WRITE);
		u->started = u->offset;
	}
	if ((u->offset - u->recorded >= PROGRESS_EVERY ||
		    (u->offset - u->recorded >= PROGRESS_SOON && dcr_monotonic_ms() - u->recorded_ms >= PROGRESS_MS)) &&
	    record_progress(u, 0, err) < 0) {
		u->failed = true;
		*status = 500;
		return err->code;
	}
	return 0;
}

int blob_put_end(struct service *svc, struct blob_upload *u, uint64_t *received, struct dcr_err *err)
{
	/* What is recorded as received must be on disk, whether or not the client finished. */
	int r = record_progress(u, u->offset == u->size, err);

	close(u->fd);
	blob_release(svc, u->id);
	if (received)
		*received = u->recorded;
	free(u);
	return r;
}

/* ---- reading a blob's plaintext ---- */

/*
 * The file of a blob its record says is complete, open for reading. The
 * file is the host's to delete or replace: one that is not there, or not a
 * regular file (a symbolic link, a directory, a FIFO that would block the
 * open), is an integrity violation like one whose bytes were changed.
 */
int open_blob(const struct service *svc, const char *blob_id, struct dcr_err *err)
{
	char path[4096];
	struct stat st;
	int fd, r;

	if ((r = blob_path(svc, blob_id, path, sizeof(path), err)) < 0)
		return r;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) < 0) {
		if (errno == ENOENT || errno == ELOOP)
			return dcr_err_set(err, DCR_EINTEGRITY, "blob %s is missing from the data directory (deleted or "
							     "replaced on the host)", blob_id);
		return dcr_err_errno(err, DCR_EIO, errno, "cannot read blob %s", blob_id);
	}
	if (fstat(fd, &st) < 0)
		r = dcr_err_errno(err, DCR_EIO, errno, "cannot read blob %s", blob_id);
	else if (!S_ISREG(st.st_mode))
		r = dcr_err_set(err, DCR_EINTEGRITY, "blob %s in the data directory is not a regular file (replaced on "
						     "the host)", blob_id);
	else
		return fd;
	close(fd);
	return r;
}

static int read_blob(const struct service *svc, const char *blob_id, const uint8_t *key, dcr_stream_sink *sink,
	void *ctx, struct dcr_err *err)
{
	int fd = open_blob(svc, blob_id, err), r;

	if (fd < 0)
		return fd;
	r = dcr_stream_decrypt_fd_sink(fd, key, sink, ctx, err);
	close(fd);
	return r;
}

int publication_read(const struct service *svc, const Dcr__V1__PublicationRecord *pub, dcr_stream_sink *sink,
	void *ctx, struct dcr_err *err)
{
	if (pub->key.len != DCR_STREAM_KEY_LEN)
		return dcr_err_set(err, DCR_EINTEGRITY, "a publication record has no key");
	return read_blob(svc, pub->blob_id, pub->key.data, sink, ctx, err);
}
