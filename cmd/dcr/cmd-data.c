/*
 * dcr upload, dcr publish, dcr datasets: data leaves the machine only as
 * ciphertext, and its key only inside an encrypted call to the attested
 * enclave. Keys live in the keystore, $XDG_DATA_HOME/dcr/datasets/ID.json
 * (0600). An upload from a file is encrypted as it is sent, and resumed by
 * encrypting the same file again (the key file keeps the salt), once the
 * digests in ID.sums show that what dcrd has is still the file's; only a
 * stream of unknown length (a pipe) is encrypted to ID.enc first.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "dcr.h"
#include "fileio.h"
#include "stream.h"
#include "transport.h"
#include "util.h"

#include "banned.h"

#define ATTEMPTS 5
/*
 * Plaintext read, hashed and recorded ahead of sealing, at most: the ring
 * of chunk buffers the reading thread fills. It syncs ID.sums once per
 * half of it.
 */
#define RECORD_AHEAD (8u << 20)
/* statfs(2) f_type of file systems whose files' st_size is not what a read gives */
#define PROC_SUPER_MAGIC 0x9fa0
#define SYSFS_MAGIC 0x62656572

/* ---- the keystore ---- */

static int keystore_dir(char *buf, size_t size, struct dcr_err *err)
{
	const char *data = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	char parent[4096];
	int n;

	if (data && *data == '/')
		n = snprintf(parent, sizeof(parent), "%s/dcr", data);
	else if (home && *home)
		n = snprintf(parent, sizeof(parent), "%s/.local/share/dcr", home);
	else
		return dcr_err_set(err, DCR_EFAIL, "neither XDG_DATA_HOME nor HOME is set: nowhere to keep dataset keys");
	if (n < 0 || (size_t)n >= sizeof(parent) || (size_t)snprintf(buf, size, "%s/datasets", parent) >= size)
		return dcr_err_set(err, DCR_EFAIL, "keystore path too long");
	/* Keys are secrets: the folders dcr creates are the owner's alone. */
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		n = mkdir(buf, 0700) < 0 && errno != EEXIST;
		*p = '/';
		if (n)
			break;
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot create the keystore '%s'", buf);
	return 0;
}

struct dataset_key {
	char id[33];
	uint8_t key[DCR_STREAM_KEY_LEN];
	uint8_t sha256[DCR_SHA256_LEN];
	char name[256];
	uint64_t size;             /* plaintext */
	uint64_t cipher_size;
	char token[96];            /* the upload token, until the upload completes */
	char endpoint[1024];
	bool complete;
	/* An upload streamed from a file, until it completes: what resuming it needs. */
	bool streamed;
	struct {
		char path[4096];   /* absolute */
		struct timespec mtime; /* any time_t: before 1970, after 2262 */
		uint32_t chunk_size;
		uint8_t salt[DCR_STREAM_SALT_LEN];
	} source;
};

static void wipe_key(struct dataset_key *k)
{
	dcr_wipe(k, sizeof(*k));
}

static int entry_path(char *buf, size_t size, const char *dir, const char *id, const char *ext, struct dcr_err *err)
{
	if ((size_t)snprintf(buf, size, "%s/%s%s", dir, id, ext) >= size)
		return dcr_err_set(err, DCR_EFAIL, "keystore path too long");
	return 0;
}

/* Write k's key file: over the one there, or (fresh) as a new one, DCR_EEXIST if the name is taken. */
static int key_save(const char *dir, const struct dataset_key *k, bool fresh, struct dcr_err *err)
{
	char path[4200], key_hex[65], sha_hex[65];
	json_t *j = json_object();
	char *text;
	int r;

	dcr_hex(k->key, sizeof(k->key), key_hex);
	dcr_hex(k->sha256, sizeof(k->sha256), sha_hex);
	json_object_set_new(j, "dataset", json_string(k->id));
	json_object_set_new(j, "key", json_string(key_hex));
	json_object_set_new(j, "sha256", json_string(sha_hex));
	json_object_set_new(j, "name", json_string(k->name));
	json_object_set_new(j, "size", json_integer((json_int_t)k->size));
	json_object_set_new(j, "ciphertext_size", json_integer((json_int_t)k->cipher_size));
	json_object_set_new(j, "endpoint", json_string(k->endpoint));
	json_object_set_new(j, "complete", json_boolean(k->complete));
	if (!k->complete)
		json_object_set_new(j, "upload_token", json_string(k->token));
	if (!k->complete && k->streamed) {
		char salt_hex[2 * DCR_STREAM_SALT_LEN + 1];

		dcr_hex(k->source.salt, sizeof(k->source.salt), salt_hex);
		json_object_set_new(j, "source", json_pack("{s:s, s:I, s:I, s:I, s:s}", "path", k->source.path, "mtime",
							  (json_int_t)k->source.mtime.tv_sec, "mtime_nsec",
							  (json_int_t)k->source.mtime.tv_nsec, "chunk_size",
							  (json_int_t)k->source.chunk_size, "salt", salt_hex));
	}
	text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);
	dcr_wipe(key_hex, sizeof(key_hex));
	if (!text)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if ((r = entry_path(path, sizeof(path), dir, k->id, ".json", err)) == 0)
		r = fresh ? dcr_write_new(path, text, strlen(text), err) : dcr_write_atomic(path, text, strlen(text), err);
	dcr_wipe(text, strlen(text));
	free(text);
	return r;
}

/* The source member of an unfinished upload from a file; false if malformed. */
static bool source_parse(const json_t *src, struct dataset_key *k)
{
	const char *file, *salt;
	json_int_t sec = 0, nsec = -1, ns = -1, chunk;

	/* mtime_ns (nanoseconds, not negative) is what dcr wrote before mtime and mtime_nsec. */
	if (json_unpack((json_t *)src, "{s:s, s?I, s?I, s?I, s:I, s:s}", "path", &file, "mtime", &sec, "mtime_nsec",
		    &nsec, "mtime_ns", &ns, "chunk_size", &chunk, "salt", &salt) < 0)
		return false;
	if (nsec < 0 && ns >= 0) {
		sec = ns / 1000000000;
		nsec = ns % 1000000000;
	}
	if (nsec < 0 || nsec > 999999999 || (time_t)sec != sec ||
	    *file != '/' || strlen(file) >= sizeof(k->source.path) || chunk < DCR_STREAM_CHUNK_MIN ||
	    chunk > DCR_STREAM_CHUNK_MAX || strlen(salt) != 2 * DCR_STREAM_SALT_LEN ||
	    dcr_unhex(salt, k->source.salt, sizeof(k->source.salt)) < 0)
		return false;
	snprintf(k->source.path, sizeof(k->source.path), "%s", file);
	k->source.mtime.tv_sec = (time_t)sec;
	k->source.mtime.tv_nsec = (long)nsec;
	k->source.chunk_size = (uint32_t)chunk;
	k->streamed = true;
	return true;
}

/* The key file of dataset want_id (see dcr-formats(5)). */
static int key_parse(const char *path, const char *want_id, const uint8_t *buf, size_t len, struct dataset_key *k,
	struct dcr_err *err)
{
	json_t *j = json_loadb((const char *)buf, len, 0, NULL), *src = NULL;
	const char *id, *key, *sha, *name, *endpoint, *token;
	json_int_t size, csize;
	int complete, r = 0;

	memset(k, 0, sizeof(*k));
	token = "";
	if (!j || json_unpack(j, "{s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:b, s?s, s?o}", "dataset", &id, "key", &key,
		      "sha256", &sha, "name", &name, "size", &size, "ciphertext_size", &csize, "endpoint", &endpoint,
		      "complete", &complete, "upload_token", &token, "source", &src) < 0 ||
	    strcmp(id, want_id) != 0 || dcr_unhex(key, k->key, sizeof(k->key)) < 0 || dcr_unhex(sha, k->sha256, 32) < 0 ||
	    size < 0 || csize < 0 || strlen(name) >= sizeof(k->name) || strlen(endpoint) >= sizeof(k->endpoint) ||
	    strlen(token) >= sizeof(k->token) || (src && !complete && !source_parse(src, k)))
		r = dcr_err_set(err, DCR_EINVALID, "'%s' is not a dataset key file", path);
	else {
		memcpy(k->id, id, 33);
		snprintf(k->name, sizeof(k->name), "%s", name);
		snprintf(k->endpoint, sizeof(k->endpoint), "%s", endpoint);
		snprintf(k->token, sizeof(k->token), "%s", token);
		k->size = (uint64_t)size;
		k->cipher_size = (uint64_t)csize;
		k->complete = complete;
	}
	json_decref(j);
	return r;
}

/* The keystore entry whose ID starts with prefix, and how many do. */
static int find_prefix(const char *dir, const char *prefix, char id[static 33], size_t *matches, struct dcr_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = strlen(prefix);

	*matches = 0;
	if (!d)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot read the keystore '%s'", dir);
	while ((e = readdir(d))) {
		if (strlen(e->d_name) != 37 || strcmp(e->d_name + 32, ".json") != 0 || strncmp(e->d_name, prefix, n) != 0)
			continue;
		if (++*matches == 1) {
			memcpy(id, e->d_name, 32);
			id[32] = '\0';
		}
	}
	closedir(d);
	return 0;
}

/* The key of dataset arg: its ID, or a unique prefix of at least 8 hex digits. */
static int key_load(const char *dir, const char *arg, struct dataset_key *k, struct dcr_err *err)
{
	char path[4200], id[33] = "";
	size_t n = strlen(arg), matches = 0;
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	if (n < 8 || n > 32 || strspn(arg, "0123456789abcdef") != n)
		return dcr_err_set(err, DCR_EUSAGE, "'%s' is not a dataset ID (32 hex digits, or a unique prefix of at "
						    "least 8)", arg);
	if (n == 32) {
		memcpy(id, arg, 33);
	} else {
		if ((r = find_prefix(dir, arg, id, &matches, err)) < 0)
			return r;
		if (matches > 1)
			return dcr_err_set(err, DCR_EUSAGE, "'%s' matches %zu datasets in the keystore; give more of the ID",
				arg, matches);
	}
	if (!*id || (r = entry_path(path, sizeof(path), dir, id, ".json", err)) < 0 ||
	    (r = dcr_read_key_file(path, 64 << 10, &buf, &len, err)) == DCR_ENOTFOUND)
		return dcr_err_set(err, DCR_ENOTFOUND, "no key for dataset '%s' in the keystore %s (it was uploaded "
						       "from another machine or account?)", arg, dir);
	if (r < 0)
		return r;
	r = key_parse(path, id, buf, len, k, err);
	dcr_wipe(buf, len);
	free(buf);
	return r;
}

/* ---- dcr upload ---- */

struct encrypting {
	int out;
	struct dcr_sha256 *hash;
};

static int write_sink(void *ctx, const uint8_t *buf, size_t len, struct dcr_err *err)
{
	struct encrypting *e = ctx;

	if (dcr_write_all(e->out, buf, len) < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot write the ciphertext");
	return 0;
}

/* Encrypt in to out under key, hashing the plaintext on the way. */
static int encrypt_file(int in, int out, const uint8_t *key, uint8_t sha256[static 32], uint64_t *size,
	struct dcr_err *err)
{
	struct encrypting e = { out, dcr_sha256_new() };
	struct dcr_stream_enc *enc = NULL;
	uint8_t *buf = malloc(1u << 20);
	int r = 0;

	*size = 0;
	if (!e.hash || !buf) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	if (!(enc = dcr_stream_enc_new(key, 0, write_sink, &e, err))) {
		r = err->code;
		goto out;
	}
	for (;;) {
		ssize_t n = read(in, buf, 1u << 20);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = dcr_err_errno(err, DCR_EIO, errno, "cannot read the file");
			break;
		}
		if (n == 0)
			break;
		*size += (uint64_t)n;
		if ((r = dcr_sha256_update(e.hash, buf, (size_t)n, err)) < 0 ||
		    (r = dcr_stream_enc_write(enc, buf, (size_t)n, err)) < 0)
			break;
	}
	if (r == 0 && (r = dcr_stream_enc_finish(enc, err)) == 0 && (r = dcr_sha256_final(e.hash, sha256, err)) == 0 &&
	    fsync(out) < 0)
		r = dcr_err_errno(err, DCR_EIO, errno, "cannot write the ciphertext");
out:
	dcr_stream_enc_free(enc);
	dcr_sha256_free(e.hash);
	if (buf)
		dcr_wipe(buf, 1u << 20);
	free(buf);
	return r;
}

struct progress {
	bool show;
	uint64_t base, total;
	time_t last;
};

static int show_progress(void *ctx, uint64_t sent)
{
	struct progress *p = ctx;
	time_t now = time(NULL);

	if (!p->show || (now == p->last && p->base + sent < p->total))
		return 0;
	p->last = now;
	fprintf(stderr, "\rdcr: upload: %llu of %llu bytes (%d%%)", (unsigned long long)(p->base + sent),
		(unsigned long long)p->total, p->total ? (int)((p->base + sent) * 100 / p->total) : 100);
	return 0;
}

/* Send ciphertext from offset received on: one PUT. */
typedef int send_fn(void *ctx, const struct dataset_key *k, uint64_t received, uint64_t max_rate,
	struct progress *p, struct dcr_err *err);

/* Send what dcrd lacks of k's ciphertext with put, resuming after a broken connection. */
static int send_ciphertext(const struct cli *cli, const struct dataset_key *k, send_fn *put, void *ctx,
	uint64_t max_rate, struct dcr_err *err)
{
	struct progress p = { cli->verbosity >= 0 && isatty(STDERR_FILENO), 0, k->cipher_size, 0 };
	uint64_t received = 0;
	int r = 0;

	for (int attempt = 1; attempt <= ATTEMPTS; attempt++) {
		if ((r = dcr_blob_head(k->endpoint, k->id, k->token, &received, err)) == 0) {
			if (received > k->cipher_size)
				return dcr_err_set(err, DCR_EINTEGRITY, "dcrd claims %llu bytes of a %llu-byte upload",
					(unsigned long long)received, (unsigned long long)k->cipher_size);
			p.base = received;
			r = put(ctx, k, received, max_rate, &p, err);
			if (r == 0)
				break;
		}
		if (r != DCR_EUNREACHABLE && r != DCR_EFAIL)
			break;
		if (attempt < ATTEMPTS) {
			if (cli->verbosity >= 0)
				fprintf(stderr, "%sdcr: upload: %s; trying again\n", p.show ? "\n" : "", err->msg);
			sleep((unsigned)attempt);
		}
	}
	if (p.show)
		fputc('\n', stderr);
	return r;
}

/* The spooled ciphertext of a stream of unknown length, from the keystore's ID.enc. */
static int put_spooled(void *ctx, const struct dataset_key *k, uint64_t received, uint64_t max_rate,
	struct progress *p, struct dcr_err *err)
{
	if (received == k->cipher_size)
		return 0;
	return dcr_blob_put(k->endpoint, k->id, k->token, *(int *)ctx, received, k->cipher_size - received, max_rate,
		show_progress, p, err);
}

/*
 * An upload from a file, encrypted as it is sent. The stream is a function
 * of key, salt and file, so a resumed upload encrypts the file again from
 * the chunk dcrd's offset falls in. Whether the file is still the one dcrd
 * has the start of is checked two ways: its size and modification time
 * (cheap, and they catch an edit), then, since both can be set back (cp -p,
 * rsync -t, touch -d), the SHA-256 of every prefix sealed before: before a
 * chunk is sealed for the first time, ID.sums gets the digest of the
 * plaintext up to the end of that chunk (32 bytes a chunk, appended), and
 * every attempt hashes the file again from its start, holding each chunk's
 * digest against its record before anything of it is sent again. The last
 * one is the digest of the whole file, which the key file keeps once dcrd
 * has everything.
 *
 * Two threads share the work, as two stages of a pipeline: a reader reads
 * chunks into a ring of buffers, hashes and records them, and makes each
 * batch of records durable; the sender (libcurl's read callback) seals the
 * chunks whose records are durable, straight into libcurl's buffer, and
 * gives their buffers back. The reader owns hash, hashed, records and sums
 * while it runs; next, ready, released, stop and failed are under lock.
 */
struct file_stream {
	const struct dataset_key *k;
	int fd, sums;
	uint64_t chunks;         /* of the whole stream */
	uint64_t records;        /* digests in ID.sums */
	uint64_t synced;         /* of them, known durable: fdatasync'd by this dcr */
	struct dcr_sha256 *hash; /* of the plaintext of chunks [0, hashed), read in this attempt */
	uint64_t hashed;
	struct dcr_stream_enc *enc;
	uint8_t *plain;          /* the ring: chunk i is read into slot i % slots */
	uint32_t slots, batch;   /* chunks in the ring; chunks a record sync covers */
	uint8_t *out;            /* sealed bytes libcurl had no room for at once */
	size_t out_len, out_pos;
	uint64_t skip;           /* bytes of the stream dcrd has already, still to drop */

	pthread_t reader;
	bool reading;            /* the reader thread was started and not joined */
	pthread_mutex_t lock;
	pthread_cond_t moved;    /* ready, released, stop or failed changed */
	uint64_t next;           /* the chunk to seal next */
	uint64_t ready;          /* chunks before it are read, hashed and durably recorded */
	uint64_t released;       /* chunks before it are sealed: their slots are free */
	bool stop;               /* the transfer ended: the reader stops */
	int failed;              /* the reader's error, in read_err */
	struct dcr_err read_err;
};

static int source_changed(const struct dataset_key *k, const char *how, struct dcr_err *err)
{
	return dcr_err_set(err, DCR_EINVALID, "'%s' changed %s; dcr upload --delete %s, then upload it again",
		k->source.path, how, k->id);
}

/* The file is the size it was, with the modification time it had, when its upload began. */
static int source_same(const struct file_stream *fs, struct dcr_err *err)
{
	struct stat st;

	if (fstat(fs->fd, &st) < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot read '%s'", fs->k->source.path);
	if ((uint64_t)st.st_size != fs->k->size ||
	    st.st_mtim.tv_sec != fs->k->source.mtime.tv_sec || st.st_mtim.tv_nsec != fs->k->source.mtime.tv_nsec)
		return source_changed(fs->k, "since its upload began (its size or modification time is not the same)",
			err);
	return 0;
}

/* The plaintext length of chunk i. */
static size_t chunk_len(const struct file_stream *fs, uint64_t i)
{
	uint64_t off = i * fs->k->source.chunk_size;

	return fs->k->size - off < fs->k->source.chunk_size ? (size_t)(fs->k->size - off) : fs->k->source.chunk_size;
}

static uint8_t *slot(const struct file_stream *fs, uint64_t i)
{
	return fs->plain + (size_t)(i % fs->slots) * fs->k->source.chunk_size;
}

/* Chunk i of the plaintext into buf. */
static int read_chunk(struct file_stream *fs, uint64_t i, uint8_t *buf, struct dcr_err *err)
{
	uint64_t off = i * fs->k->source.chunk_size;
	size_t want = chunk_len(fs, i), got = 0;

	while (got < want) {
		ssize_t n = pread(fs->fd, buf + got, want - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return dcr_err_errno(err, DCR_EIO, errno, "cannot read '%s'", fs->k->source.path);
		if (n == 0)
			return source_changed(fs->k, "while it was uploaded (it is shorter now)", err);
		got += (size_t)n;
	}
	return 0;
}

/*
 * Hash chunk i (just read into plain, the next in order) and hold the
 * digest so far against ID.sums: a chunk recorded before must give its
 * record again, else the file changed; a new one is recorded (the caller
 * makes the record durable before the chunk is sealed). So no chunk is
 * ever sealed twice with other bytes (its nonce is its number).
 */
static int hash_chunk(struct file_stream *fs, uint64_t i, const uint8_t *plain, struct dcr_err *err)
{
	uint8_t digest[DCR_SHA256_LEN], recorded[DCR_SHA256_LEN];
	size_t len = chunk_len(fs, i);
	char how[128];
	int r;

	if ((r = dcr_sha256_update(fs->hash, plain, len, err)) < 0 || (r = dcr_sha256_peek(fs->hash, digest, err)) < 0)
		return r;
	fs->hashed = i + 1;
	if (i >= fs->records) {
		if (dcr_write_all(fs->sums, digest, sizeof(digest)) < 0)
			return dcr_err_errno(err, DCR_EIO, errno, "cannot write the upload's digests in the keystore");
		fs->records++;
		return 0;
	}
	if (pread(fs->sums, recorded, sizeof(recorded), (off_t)(i * DCR_SHA256_LEN)) != (ssize_t)sizeof(recorded))
		return dcr_err_errno(err, DCR_EIO, errno, "cannot read the upload's digests in the keystore");
	if (dcr_ct_equal(digest, recorded, sizeof(digest)))
		return 0;
	snprintf(how, sizeof(how), "since its upload began (bytes %llu to %llu are not what was read to be sent)",
		(unsigned long long)i * fs->k->source.chunk_size, (unsigned long long)(i * fs->k->source.chunk_size + len));
	return source_changed(fs->k, how, err);
}

/* How many digests ID.sums holds; refuses more than the file has chunks. */
static int load_records(struct file_stream *fs, struct dcr_err *err)
{
	struct stat st;

	if (fstat(fs->sums, &st) < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot read the upload's digests in the keystore");
	/* A record cut short (dcr killed inside its write) was not followed by its chunk. */
	fs->records = (uint64_t)st.st_size / DCR_SHA256_LEN;
	if ((uint64_t)st.st_size % DCR_SHA256_LEN && ftruncate(fs->sums, (off_t)(fs->records * DCR_SHA256_LEN)) < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot repair the upload's digests in the keystore");
	if (fs->records > fs->chunks)
		return dcr_err_set(err, DCR_EINVALID, "the keystore's digests of dataset %s are damaged (%llu for %llu "
						      "chunks); dcr upload --delete %s, then upload it again",
			fs->k->id, (unsigned long long)fs->records, (unsigned long long)fs->chunks, fs->k->id);
	return 0;
}

/* Hash the file from its start to the end of chunk n - 1 afresh, holding every digest against ID.sums. */
static int hash_prefix(struct file_stream *fs, uint64_t n, struct dcr_err *err)
{
	int r = 0;

	dcr_sha256_free(fs->hash);
	if (!(fs->hash = dcr_sha256_new()))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	fs->hashed = 0;
	for (uint64_t i = 0; r == 0 && i < n; i++)
		if ((r = read_chunk(fs, i, fs->plain, err)) == 0)
			r = hash_chunk(fs, i, fs->plain, err);
	return r;
}

/* The file must end where its size said (procfs, sysfs or a file grown since): else it is not sent whole. */
static int source_ends(struct file_stream *fs, struct dcr_err *err)
{
	uint8_t more;
	ssize_t n;

	while ((n = pread(fs->fd, &more, 1, (off_t)fs->k->size)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot read '%s'", fs->k->source.path);
	return n > 0 ? source_changed(fs->k, "while it was uploaded (it is longer now)", err) : 0;
}

/*
 * Read and hash chunks i to end - 1 into their slots as these come free,
 * recording those not recorded yet; the records reach the disk (one
 * fdatasync a batch, not one a chunk) before any of their chunks is sealed,
 * so that no record a sent chunk needs can be lost, not even by a power cut.
 * That holds too for records this dcr did not sync: those an earlier dcr
 * wrote (still in the page cache after it was killed), and those of a batch
 * or of hash_prefix that stopped before its sync.
 * 1 if the sender stopped the reader meanwhile.
 */
static int read_batch(struct file_stream *fs, uint64_t i, uint64_t end, struct dcr_err *err)
{
	bool stop;
	int r;

	for (; i < end; i++) {
		pthread_mutex_lock(&fs->lock);
		while (!fs->stop && i >= fs->released + fs->slots)
			pthread_cond_wait(&fs->moved, &fs->lock);
		stop = fs->stop;
		pthread_mutex_unlock(&fs->lock);
		if (stop)
			return 1;
		if ((r = read_chunk(fs, i, slot(fs, i), err)) < 0 || (r = hash_chunk(fs, i, slot(fs, i), err)) < 0)
			return r;
	}
	if (end == fs->chunks && (r = source_ends(fs, err)) < 0)
		return r;
	if (fs->records > fs->synced) {
		if (fdatasync(fs->sums) < 0)
			return dcr_err_errno(err, DCR_EIO, errno, "cannot write the upload's digests in the keystore");
		fs->synced = fs->records;
	}
	return 0;
}

/* The reader thread: from chunk next to the end, a batch at a time, or until stopped. */
static void *read_ahead(void *arg)
{
	struct file_stream *fs = arg;
	struct dcr_err err = { 0 };
	uint64_t i = fs->next;
	int r = 0;

	while (r == 0 && i < fs->chunks) {
		uint64_t end = fs->chunks - i < fs->batch ? fs->chunks : i + fs->batch;

		if ((r = read_batch(fs, i, end, &err)) != 0)
			break;
		pthread_mutex_lock(&fs->lock);
		fs->ready = i = end;
		pthread_cond_broadcast(&fs->moved);
		pthread_mutex_unlock(&fs->lock);
	}
	if (r < 0) {
		pthread_mutex_lock(&fs->lock);
		fs->failed = r;
		fs->read_err = err;
		pthread_cond_broadcast(&fs->moved);
		pthread_mutex_unlock(&fs->lock);
	}
	return NULL;
}

/* Start the reader at chunk next, with all slots free. */
static int reader_start(struct file_stream *fs, uint64_t next, struct dcr_err *err)
{
	int e;

	fs->next = fs->ready = fs->released = next;
	fs->stop = false;
	fs->failed = 0;
	if ((e = pthread_create(&fs->reader, NULL, read_ahead, fs)) != 0)
		return dcr_err_errno(err, DCR_EFAIL, e, "cannot start a thread");
	fs->reading = true;
	return 0;
}

static void reader_stop(struct file_stream *fs)
{
	if (!fs->reading)
		return;
	pthread_mutex_lock(&fs->lock);
	fs->stop = true;
	pthread_cond_broadcast(&fs->moved);
	pthread_mutex_unlock(&fs->lock);
	pthread_join(fs->reader, NULL);
	fs->reading = false;
}

/*
 * libcurl's read callback: sealed chunks, each sealed once its record is
 * durable, straight into libcurl's buffer when it has room for a whole
 * one, else through out (and so too the first chunk of a resume, of which
 * dcrd has the skip bytes already).
 */
static int stream_read(void *ctx, uint8_t *buf, size_t want, size_t *got, struct dcr_err *err)
{
	struct file_stream *fs = ctx;
	size_t room = (size_t)fs->k->source.chunk_size + DCR_STREAM_TAG_LEN + DCR_STREAM_HEADER_LEN, len;
	bool direct;
	int r;

	while (fs->out_pos == fs->out_len && fs->next < fs->chunks) {
		pthread_mutex_lock(&fs->lock);
		while (fs->next >= fs->ready && !fs->failed)
			pthread_cond_wait(&fs->moved, &fs->lock);
		r = fs->failed;
		pthread_mutex_unlock(&fs->lock);
		if (r < 0) {
			*err = fs->read_err;
			return r;
		}
		/* The header goes with chunk 0. */
		len = chunk_len(fs, fs->next);
		direct = fs->skip == 0 && want >= (fs->next ? 0 : DCR_STREAM_HEADER_LEN) + len + DCR_STREAM_TAG_LEN;
		fs->out_pos = fs->out_len = 0;
		if ((r = dcr_stream_enc_seal_into(fs->enc, slot(fs, fs->next), len, fs->next + 1 == fs->chunks,
			     direct ? buf : fs->out, direct ? want : room, &len, err)) < 0)
			return r;
		pthread_mutex_lock(&fs->lock);
		fs->released = ++fs->next;
		pthread_cond_broadcast(&fs->moved);
		pthread_mutex_unlock(&fs->lock);
		if (direct) {
			*got = len;
			return 0;
		}
		fs->out_len = len;
		fs->out_pos = fs->skip < len ? (size_t)fs->skip : len;
		fs->skip -= fs->out_pos;
	}
	*got = fs->out_len - fs->out_pos < want ? fs->out_len - fs->out_pos : want;
	memcpy(buf, fs->out + fs->out_pos, *got);
	fs->out_pos += *got;
	return 0;
}

static int put_streamed(void *ctx, const struct dataset_key *k, uint64_t received, uint64_t max_rate,
	struct progress *p, struct dcr_err *err)
{
	struct file_stream *fs = ctx;
	uint64_t wire = (uint64_t)k->source.chunk_size + DCR_STREAM_TAG_LEN, counter = 0, need;
	int r;

	if ((r = source_same(fs, err)) < 0)
		return r;
	/* The encoder starts at the chunk dcrd's offset falls in (from the header, at chunk 0). */
	if (received >= DCR_STREAM_HEADER_LEN)
		counter = (received - DCR_STREAM_HEADER_LEN) / wire;
	fs->skip = received - (counter ? DCR_STREAM_HEADER_LEN + counter * wire : 0);
	/* Chunks dcrd has, whole or in part, must be the file's as it is now: ID.sums vouches for them. */
	need = counter + (received > DCR_STREAM_HEADER_LEN + counter * wire);
	if (received == k->cipher_size)
		need = fs->chunks;
	/* No chunk left without its durable record: dcrd claims bytes dcr never sent. */
	if (fs->records < need)
		return dcr_err_set(err, DCR_EINTEGRITY, "dcrd claims %llu bytes of dataset %s, more than dcr recorded "
							"before sending (%llu chunks); dcr upload --delete %s, then "
							"upload it again",
			(unsigned long long)received, k->id, (unsigned long long)fs->records, k->id);
	/*
	 * Every attempt reads what dcrd has of the file again: also after a
	 * dropped connection, since the file may have changed meanwhile. The
	 * chunks from counter on are checked as they are read to be sealed.
	 */
	if ((r = hash_prefix(fs, received == k->cipher_size ? fs->chunks : counter, err)) < 0 ||
	    received == k->cipher_size)
		return r;
	dcr_stream_enc_free(fs->enc);
	fs->out_pos = fs->out_len = 0;
	if (!(fs->enc = dcr_stream_enc_new_at(k->key, k->source.chunk_size, k->source.salt, counter, NULL, NULL, err)))
		return err->code;
	if ((r = reader_start(fs, counter, err)) < 0)
		return r;
	r = dcr_blob_put_from(k->endpoint, k->id, k->token, received, k->cipher_size - received, max_rate,
		stream_read, fs, show_progress, p, err);
	reader_stop(fs);
	return r;
}

/* Take the write lock on the open ID.sums fd: one dcr at a time sends, completes or removes an upload. */
static int lock_sums(int fd, const char *id, const char *path, struct dcr_err *err)
{
	struct flock lock = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	if (fcntl(fd, F_SETLK, &lock) == 0)
		return 0;
	return errno == EACCES || errno == EAGAIN ? dcr_err_set(err, DCR_EEXIST, "another dcr is uploading dataset %s now", id)
						  : dcr_err_errno(err, DCR_EIO, errno, "cannot lock '%s'", path);
}

/*
 * Send k's ciphertext, encrypting its file on the way; once dcrd has it
 * all, k->sha256 is the file's, and *held is ID.sums, still locked, for the
 * caller to close once the key file says the upload is complete.
 */
static int stream_upload(const struct cli *cli, const char *dir, struct dataset_key *k, int fd, uint64_t max_rate,
	int *held, struct dcr_err *err)
{
	struct file_stream fs = { .k = k, .fd = fd, .sums = -1, .lock = PTHREAD_MUTEX_INITIALIZER,
		.moved = PTHREAD_COND_INITIALIZER };
	struct dataset_key now;
	char path[4200];
	size_t plain_len;
	int r;

	/* Two slots at least: one sealed from while the reader fills the other. */
	fs.slots = k->source.chunk_size < RECORD_AHEAD / 2 ? RECORD_AHEAD / k->source.chunk_size : 2;
	fs.batch = fs.slots / 2;
	plain_len = (size_t)fs.slots * k->source.chunk_size;
	fs.chunks = k->size / k->source.chunk_size + (k->size % k->source.chunk_size != 0 || k->size == 0);
	if (k->cipher_size != dcr_stream_encoded_size(k->size, k->source.chunk_size))
		return dcr_err_set(err, DCR_EINVALID, "the key file of dataset %s gives a ciphertext size that does not "
						      "fit its size", k->id);
	if ((r = source_same(&fs, err)) < 0 || (r = entry_path(path, sizeof(path), dir, k->id, ".sums", err)) < 0)
		goto out;
	/*
	 * start_upload made ID.sums before the key file. Without it nothing
	 * says what the chunks dcrd (or the disk under it) may hold were
	 * sealed from, and sealing other bytes under their nonces would give
	 * the keystream away: never made afresh here.
	 */
	if ((fs.sums = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		int e = errno;

		/* Another dcr completing the upload removes it, after the key file says so. */
		if (e == ENOENT && key_load(dir, k->id, &now, err) == 0 && now.complete) {
			wipe_key(&now);
			r = dcr_err_set(err, DCR_EEXIST, "dataset %s is uploaded completely already", k->id);
			goto out;
		}
		wipe_key(&now);
		errno = e;
		r = errno == ENOENT ? dcr_err_set(err, DCR_EINVALID, "the digests of dataset %s ('%s') are missing, so "
								     "what was sent of '%s' cannot be checked; dcr upload "
								     "--delete %s, then upload it again",
					      k->id, path, k->source.path, k->id)
				    : dcr_err_errno(err, DCR_EIO, errno, "cannot open '%s'", path);
		goto out;
	}
	/*
	 * Two dcr sending one upload would append to one list of digests. The
	 * key file read before the lock may be stale: another dcr may have
	 * completed the upload (or it was deleted) since.
	 */
	if ((r = lock_sums(fs.sums, k->id, path, err)) < 0)
		goto out;
	if ((r = key_load(dir, k->id, &now, err)) == 0 && (now.complete || !now.streamed))
		r = dcr_err_set(err, DCR_EEXIST, "dataset %s is uploaded completely already", k->id);
	wipe_key(&now);
	if (r < 0)
		goto out;
	fs.plain = malloc(plain_len);
	fs.out = malloc((size_t)k->source.chunk_size + DCR_STREAM_TAG_LEN + DCR_STREAM_HEADER_LEN);
	if (!fs.plain || !fs.out) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = load_records(&fs, err)) < 0 || (r = send_ciphertext(cli, k, put_streamed, &fs, max_rate, err)) < 0)
		goto out;
	/* The last attempt hashed every chunk in order, each before its ciphertext left: the digest is the file's. */
	if (fs.hashed != fs.chunks)
		r = dcr_err_set(err, DCR_EFAIL, "dataset %s: %llu of %llu chunks hashed", k->id,
			(unsigned long long)fs.hashed, (unsigned long long)fs.chunks);
	else if ((r = source_same(&fs, err)) == 0)
		r = dcr_sha256_final(fs.hash, k->sha256, err);
out:
	if (fs.plain)
		dcr_wipe(fs.plain, plain_len);
	if (fs.out)
		dcr_wipe(fs.out, (size_t)k->source.chunk_size + DCR_STREAM_TAG_LEN + DCR_STREAM_HEADER_LEN);
	free(fs.plain);
	free(fs.out);
	dcr_stream_enc_free(fs.enc);
	dcr_sha256_free(fs.hash);
	pthread_mutex_destroy(&fs.lock);
	pthread_cond_destroy(&fs.moved);
	if (r == 0)
		*held = fs.sums;
	else if (fs.sums >= 0)
		close(fs.sums);
	return r;
}

/*
 * Remove the temporary copies of id's key file a dcr stopped inside
 * dcr_write_atomic or dcr_write_new left (ID.json.XXXXXXXXXXXXXXXX.tmp):
 * they hold the key.
 */
static void forget_temporaries(const char *dir, const char *id)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4200];

	if (!d)
		return;
	while ((e = readdir(d)))
		if (strlen(e->d_name) == 58 && strncmp(e->d_name, id, 32) == 0 &&
		    strncmp(e->d_name + 32, ".json.", 6) == 0 && strcmp(e->d_name + 54, ".tmp") == 0 &&
		    entry_path(path, sizeof(path), dir, e->d_name, "", &(struct dcr_err){ 0 }) == 0)
			unlink(path);
	closedir(d);
}

/* Send the rest of k's ciphertext; once dcrd has it all, the key file says so. */
static int complete_upload(const struct cli *cli, const char *dir, struct dataset_key *k, uint64_t max_rate,
	struct dcr_err *err)
{
	char enc[4200], sums[4200];
	struct stat st;
	int fd, held = -1, r;

	if ((r = entry_path(enc, sizeof(enc), dir, k->id, ".enc", err)) < 0 ||
	    (r = entry_path(sums, sizeof(sums), dir, k->id, ".sums", err)) < 0)
		return r;
	/* Not blocking in open: something else (a FIFO) may have taken the file's place. */
	if ((fd = open(k->streamed ? k->source.path : enc, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0)
		return dcr_err_errno(err, errno == ENOENT ? DCR_ENOTFOUND : DCR_EIO, errno, "cannot read %s '%s'",
			k->streamed ? "the file of the upload," : "the ciphertext", k->streamed ? k->source.path : enc);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || fcntl(fd, F_SETFL, 0) < 0) {
		close(fd);
		return k->streamed ? source_changed(k, "since its upload began (it is not a regular file now)", err)
				   : dcr_err_set(err, DCR_EINVALID, "'%s' is not a regular file", enc);
	}
	if (k->streamed)
		r = stream_upload(cli, dir, k, fd, max_rate, &held, err);
	else
		r = send_ciphertext(cli, k, put_spooled, &fd, max_rate, err);
	close(fd);
	if (r == DCR_ENOTFOUND) {
		dcr_err_prefix(err, "dataset %s cannot be resumed: upload the file again", k->id);
		return r;
	}
	/* A changed file or a lying dcrd cannot be resumed, and the message says what to do instead. */
	if (r < 0 && r != DCR_EINVALID && r != DCR_EINTEGRITY)
		dcr_err_prefix(err, "dataset %s is partly uploaded (dcr upload --resume %s continues)", k->id, k->id);
	if (r < 0)
		return r;
	/* Under the lock on ID.sums until it is gone, so no other dcr takes the upload for unfinished. */
	k->complete = true;
	if ((r = key_save(dir, k, false, err)) == 0) {
		unlink(enc);
		unlink(sums);
		forget_temporaries(dir, k->id);
	}
	if (held >= 0)
		close(held);
	return r;
}

/* Remove the keystore's files of dataset id: its key, and ciphertext not sent yet. */
static int forget_key(const char *dir, const char *id, struct dcr_err *err)
{
	static const char *const exts[] = { ".json", ".enc", ".sums" };
	char path[4200];
	int fd, r;

	/* Not while a dcr sends it (closing fd drops every lock this process has on it: only once all is gone). */
	if ((r = entry_path(path, sizeof(path), dir, id, ".sums", err)) < 0)
		return r;
	if ((fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) >= 0 && (r = lock_sums(fd, id, path, err)) < 0) {
		close(fd);
		return r;
	}
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		if ((r = entry_path(path, sizeof(path), dir, id, exts[i], err)) < 0)
			return r;
		if (unlink(path) < 0 && errno != ENOENT) {
			r = dcr_err_errno(err, DCR_EIO, errno, "cannot remove '%s'", path);
			break;
		}
	}
	if (r == 0)
		forget_temporaries(dir, id);
	if (fd >= 0)
		close(fd);
	return r;
}

/*
 * Save the key of the new dataset k->id, before a byte of it leaves, under
 * names made here or refused, so that a dcrd answering with the ID of a
 * dataset the keystore holds cannot have that key overwritten. For a file
 * streamed, ID.sums comes first, so a resume never finds it missing unless
 * it was lost. The key file appears whole (dcr_write_new): dcr stopped at
 * any point leaves no ID.json, or one that resumes.
 */
static int claim_id(const char *dir, const struct dataset_key *k, struct dcr_err *err)
{
	char sums[4200];
	int fd = -1, r;

	if ((r = entry_path(sums, sizeof(sums), dir, k->id, ".sums", err)) < 0)
		return r;
	if (k->streamed && (fd = open(sums, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
		return errno == EEXIST ? dcr_err_set(err, DCR_EINTEGRITY, "dcrd named the new dataset %s, which the "
									   "keystore holds already", k->id)
				       : dcr_err_errno(err, DCR_EIO, errno, "cannot create '%s'", sums);
	if (fd >= 0 && fsync(fd) < 0)
		r = dcr_err_errno(err, DCR_EIO, errno, "cannot create '%s'", sums);
	if (r == 0 && (r = key_save(dir, k, true, err)) == DCR_EEXIST)
		r = dcr_err_set(err, DCR_EINTEGRITY, "dcrd named the new dataset %s, which the keystore holds already",
			k->id);
	if (fd >= 0) {
		close(fd);
		if (r < 0)
			unlink(sums);
	}
	return r;
}

/* What dcr upload prints once an upload is complete. */
static int print_uploaded(const struct command *cmd, const struct cli *cli, const struct dataset_key *k)
{
	char hex[65];

	dcr_hex(k->sha256, 32, hex);
	if (cli->json) {
		json_t *j = json_object();

		json_object_set_new(j, "dataset", json_string(k->id));
		json_object_set_new(j, "name", json_string(k->name));
		json_object_set_new(j, "size", json_integer((json_int_t)k->size));
		json_object_set_new(j, "sha256", json_string(hex));
		return print_json(cmd, j);
	}
	printf("%s\n", k->id);
	if (cli->verbosity >= 0)
		fprintf(stderr, "dcr: upload: %s (%llu bytes, SHA-256 %s) is dataset %s; dcr publish ROOM NODE %s "
				"gives it to a room\n", k->name, (unsigned long long)k->size, hex, k->id, k->id);
	return 0;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash && slash[1] ? slash + 1 : path;
}

/* FILE as dcr upload reads it: "-" is standard input; anything but a directory is read as a stream. */
static int open_input(const char *file, struct dcr_err *err)
{
	struct stat st;
	int in;

	if (strcmp(file, "-") == 0)
		return STDIN_FILENO;
	if ((in = open(file, O_RDONLY | O_CLOEXEC)) < 0)
		return dcr_err_errno(err, errno == ENOENT ? DCR_ENOTFOUND : DCR_EIO, errno, "cannot open '%s'", file);
	if (fstat(in, &st) < 0 || S_ISDIR(st.st_mode)) {
		close(in);
		return dcr_err_set(err, DCR_EUSAGE, "'%s' is a directory", file);
	}
	return in;
}

/*
 * A regular file whose st_size is what a read gives: one that can be
 * streamed. An empty one may be a file of a pseudo file system that reads
 * as more (/proc/version), and sysfs gives 4096 for what reads as less:
 * those go through the keystore like a pipe.
 */
static bool size_is_true(int fd, struct stat *st)
{
	struct statfs fs;

	return fstat(fd, st) == 0 && S_ISREG(st->st_mode) && st->st_size > 0 && fstatfs(fd, &fs) == 0 &&
	       fs.f_type != PROC_SUPER_MAGIC && fs.f_type != SYSFS_MAGIC;
}

/*
 * Have dcrd accept an upload of file ("-": standard input); k gets the new
 * dataset's key, saved before a byte leaves, and complete_upload sends the
 * ciphertext. dataset.create announces the ciphertext's size: a regular
 * file's follows from its own, and it is encrypted as it is sent. A stream
 * of unknown length (a pipe, or standard input) is encrypted to a
 * temporary file (mode 0600) first, in pieces of 1 MiB; it is never held
 * whole in memory.
 */
static int start_upload(struct session *s, const char *dir, const char *file, const char *name,
	struct dataset_key *k, struct dcr_err *err)
{
	Dcr__V1__CreateDatasetRequest req = DCR__V1__CREATE_DATASET_REQUEST__INIT;
	Dcr__V1__CreateDatasetResponse *resp = NULL;
	char tmp[4200], path[4200], cwd[4096];
	uint8_t *body = NULL;
	struct stat st;
	size_t len = 0;
	int in, out = -1, r;

	memset(k, 0, sizeof(*k));
	if ((in = open_input(file, err)) < 0)
		return in;
	snprintf(k->name, sizeof(k->name), "%s", name ? name : strcmp(file, "-") == 0 ? "stdin" : base_name(file));
	snprintf(k->endpoint, sizeof(k->endpoint), "%s", s->cli->endpoint);
	k->streamed = in != STDIN_FILENO && size_is_true(in, &st);
	/* Attest before anything else: no point encrypting for an enclave we would not trust. */
	if ((r = dcr_client_attest(&s->client, err)) < 0 || (r = dcr_random(k->key, sizeof(k->key), err)) < 0)
		goto out;
	if (k->streamed) {
		/* --resume finds the file by this name, from any working directory. */
		if (*file != '/' && !getcwd(cwd, sizeof(cwd))) {
			r = dcr_err_errno(err, DCR_EIO, errno, "cannot name '%s' from the root", file);
			goto out;
		}
		if ((size_t)snprintf(k->source.path, sizeof(k->source.path), "%s%s%s", *file == '/' ? "" : cwd,
			    *file == '/' ? "" : "/", file) >= sizeof(k->source.path)) {
			r = dcr_err_set(err, DCR_EUSAGE, "the path of '%s' is too long", file);
			goto out;
		}
		k->source.mtime = st.st_mtim;
		k->source.chunk_size = DCR_STREAM_CHUNK_DEFAULT;
		k->size = (uint64_t)st.st_size;
		k->cipher_size = dcr_stream_encoded_size(k->size, k->source.chunk_size);
		if ((r = dcr_random(k->source.salt, sizeof(k->source.salt), err)) < 0)
			goto out;
	} else {
		if ((r = entry_path(tmp, sizeof(tmp), dir, "upload-XXXXXX", "", err)) < 0)
			goto out;
		if ((out = mkstemp(tmp)) < 0) {
			r = dcr_err_errno(err, DCR_EIO, errno, "cannot create a file in the keystore '%s'", dir);
			goto out;
		}
		if ((r = encrypt_file(in, out, k->key, k->sha256, &k->size, err)) < 0)
			goto out;
		k->cipher_size = (uint64_t)lseek(out, 0, SEEK_END);
	}
	req.name = k->name;
	req.size = k->cipher_size;
	if ((r = session_call_err(s, "dataset.create", &req.base, &body, &len, err)) < 0)
		goto out;
	resp = dcr__v1__create_dataset_response__unpack(NULL, len, body);
	if (!resp || strlen(resp->dataset_id) != 32 || strspn(resp->dataset_id, "0123456789abcdef") != 32 ||
	    strlen(resp->upload_token) >= sizeof(k->token)) {
		r = dcr_err_set(err, DCR_EINTEGRITY, "dcrd sent a malformed dataset.create answer");
		goto out;
	}
	memcpy(k->id, resp->dataset_id, 33);
	snprintf(k->token, sizeof(k->token), "%s", resp->upload_token);
	/* The key is saved before a byte leaves: an interrupted upload can be resumed. */
	if ((r = entry_path(path, sizeof(path), dir, k->id, ".enc", err)) < 0 || (r = claim_id(dir, k, err)) < 0)
		goto out;
	if (k->streamed)
		goto out;
	if (rename(tmp, path) < 0) {
		r = dcr_err_errno(err, DCR_EIO, errno, "cannot rename '%s'", tmp);
	} else {
		close(out);
		out = -1;
	}
out:
	if (in != STDIN_FILENO)
		close(in);
	if (out >= 0) {
		close(out);
		unlink(tmp);
	}
	if (body)
		dcr_wipe(body, len);
	free(body);
	dcr__v1__create_dataset_response__free_unpacked(resp, NULL);
	return r;
}

/* dcr upload FILE: a new dataset, uploaded whole. */
static int new_upload(const struct command *cmd, struct cli *cli, struct session *s, const char *dir,
	const char *file, const char *name, uint64_t max_rate)
{
	struct dataset_key k;
	struct dcr_err err;
	int r;

	if ((r = start_upload(s, dir, file, name, &k, &err)) == 0 &&
	    (r = complete_upload(cli, dir, &k, max_rate, &err)) == 0)
		r = print_uploaded(cmd, cli, &k);
	else
		r = report(cmd, &err);
	wipe_key(&k);
	return r;
}

/* Remove an upload from dcrd, then its key (and ciphertext) from the keystore. */
static int delete_upload(const struct command *cmd, struct cli *cli, const char *dir, const char *arg)
{
	Dcr__V1__DatasetRef req = DCR__V1__DATASET_REF__INIT;
	Dcr__V1__DeleteDatasetResponse *resp = NULL;
	struct dataset_key k;
	struct session s;
	struct dcr_err err;
	char id[33];
	uint8_t *body;
	size_t len, n = strlen(arg);
	int r;

	/*
	 * The keystore names it (a prefix will do); a dataset uploaded from
	 * elsewhere, or whose key file dcr refuses (such as the empty one that
	 * earlier versions left when stopped as an upload began), needs its
	 * whole ID.
	 */
	if ((r = key_load(dir, arg, &k, &err)) == 0) {
		memcpy(id, k.id, sizeof(id));
		wipe_key(&k);
	} else if ((r == DCR_ENOTFOUND || r == DCR_EINVALID) && n == 32 && strspn(arg, "0123456789abcdef") == n) {
		memcpy(id, arg, sizeof(id));
	} else {
		return report(cmd, &err);
	}
	if ((r = session_open(cmd, cli, &s)) != 0)
		return r;
	req.dataset_id = id;
	if ((r = session_call(cmd, &s, "dataset.delete", &req.base, &body, &len)) != 0)
		goto out;
	resp = dcr__v1__delete_dataset_response__unpack(NULL, len, body);
	free(body);
	if (!resp) {
		r = report_malformed(cmd, "dataset.delete answer");
		goto out;
	}
	/* dcrd has forgotten it: the key opens nothing any more. */
	if ((r = forget_key(dir, id, &err)) < 0) {
		r = report(cmd, &err);
		goto out;
	}
	if (cli->json) {
		json_t *j = json_object();

		json_object_set_new(j, "dataset", json_string(id));
		json_object_set_new(j, "deleted", json_true());
		json_object_set_new(j, "ciphertext_size", json_integer((json_int_t)resp->size));
		r = print_json(cmd, j);
	} else if (cli->verbosity >= 0) {
		fprintf(stderr, "dcr: upload: deleted dataset %s (%llu bytes of ciphertext) from dcrd, and its key\n", id,
			(unsigned long long)resp->size);
	}
out:
	dcr__v1__delete_dataset_response__free_unpacked(resp, NULL);
	session_close(&s);
	return r;
}

int cmd_upload(const struct command *cmd, struct cli *cli, struct parsed *args)
{
	const char *resume = opt_value(cmd, args, "resume"), *name = opt_value(cmd, args, "name");
	const char *rate = opt_value(cmd, args, "limit-rate"), *del = opt_value(cmd, args, "delete");
	uint64_t max_rate = 0;
	struct session s;
	struct dataset_key k;
	struct dcr_err err;
	char dir[4096];
	int r;

	if (del && (args->argc != 0 || resume || name || rate))
		return usage_error(cmd, "--delete takes no FILE and no other option");
	if (!del && (resume ? args->argc != 0 : args->argc != 1))
		return usage_error(cmd, resume ? "--resume takes no FILE" : "expected one FILE");
	if (resume && name)
		return usage_error(cmd, "--name is for a new upload, not --resume");
	if (rate && (!dcr_parse_size(rate, &max_rate) || max_rate == 0))
		return usage_error(cmd, "invalid --limit-rate '%s' (bytes a second, like 500K, 10M or 1G)", rate);
	if (keystore_dir(dir, sizeof(dir), &err) < 0)
		return report(cmd, &err);
	if (del)
		return delete_upload(cmd, cli, dir, del);
	if (resume) {
		if (key_load(dir, resume, &k, &err) < 0)
			return report(cmd, &err);
		if (k.complete) {
			wipe_key(&k);
			dcr_err_set(&err, DCR_EEXIST, "dataset %s is uploaded completely already", resume);
			return report(cmd, &err);
		}
		r = complete_upload(cli, dir, &k, max_rate, &err) < 0 ? report(cmd, &err) : print_uploaded(cmd, cli, &k);
		wipe_key(&k);
		return r;
	}
	if ((r = session_open(cmd, cli, &s)) != 0)
		return r;
	r = new_upload(cmd, cli, &s, dir, args->argv[0], name, max_rate);
	session_close(&s);
	return r;
}

/* ---- dcr publish ---- */

static json_t *dataset_json(const Dcr__V1__DatasetInfo *d)
{
	char hex[65] = "", when[32];
	json_t *j = json_object();

	if (d->plaintext_sha256.len == 32)
		dcr_hex(d->plaintext_sha256.data, 32, hex);
	json_object_set_new(j, "node", json_string(d->node));
	json_object_set_new(j, "dataset", json_string(d->dataset_id));
	json_object_set_new(j, "name", json_string(d->name));
	json_object_set_new(j, "publisher", json_string(d->publisher));
	json_object_set_new(j, "sha256", json_string(hex));
	json_object_set_new(j, "size", json_integer((json_int_t)d->size));
	json_object_set_new(j, "rows", json_integer((json_int_t)d->rows));
	json_object_set_new(j, "published", json_string(time_text(d->published_ms, when)));
	return j;
}

/*
 * Note in k's key file that it was published to node of room (see
 * dcr-formats(5), "published"), for dcr uploads. The other members stay as
 * they are; a second publication to the same node only updates its time.
 */
static int note_published(const char *dir, const struct dataset_key *k, const char *room, const char *node,
	struct dcr_err *err)
{
	char path[4200], when[32];
	uint8_t *buf = NULL;
	size_t len = 0, i;
	json_t *j = NULL, *list, *e = NULL;
	char *text = NULL;
	int r;

	if ((r = entry_path(path, sizeof(path), dir, k->id, ".json", err)) < 0 ||
	    (r = dcr_read_key_file(path, 64 << 10, &buf, &len, err)) < 0)
		return r;
	j = json_loadb((const char *)buf, len, 0, NULL);
	dcr_wipe(buf, len);
	free(buf);
	if (!j || !json_is_object(j)) {
		json_decref(j);
		return dcr_err_set(err, DCR_EINVALID, "'%s' is not a dataset key file", path);
	}
	if (!json_is_array(list = json_object_get(j, "published"))) {
		list = json_array();
		json_object_set_new(j, "published", list);
	}
	json_array_foreach(list, i, e)
		if (json_is_object(e) && json_is_string(json_object_get(e, "room")) &&
		    strcmp(json_string_value(json_object_get(e, "room")), room) == 0 &&
		    json_is_string(json_object_get(e, "node")) &&
		    strcmp(json_string_value(json_object_get(e, "node")), node) == 0)
			break;
	if (i == json_array_size(list)) {
		e = json_object();
		json_object_set_new(e, "room", json_string(room));
		json_object_set_new(e, "node", json_string(node));
		json_array_append_new(list, e);
	}
	json_object_set_new(e, "time", json_string(time_text((int64_t)time(NULL) * 1000, when)));
	text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (!text)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	r = dcr_write_atomic(path, text, strlen(text), err);
	dcr_wipe(text, strlen(text));
	free(text);
	return r;
}

/*
 * The last argument of dcr publish: a dataset of the keystore (its ID or a
 * unique prefix of at least 8 hex digits: *k), or else a file to upload
 * first (*file; "-" is standard input). A word that is both, a dataset and
 * a file that exists, is refused, as git refuses a word that is both a
 * revision and a path: "./NAME" always means the file.
 */
static int dataset_or_file(const char *dir, const char *arg, struct dataset_key *k, bool *file, struct dcr_err *err)
{
	size_t n = strlen(arg);
	struct stat st;
	bool exists = strcmp(arg, "-") == 0 || stat(arg, &st) == 0;
	int r;

	*file = !(n >= 8 && n <= 32 && strspn(arg, "0123456789abcdef") == n);
	if (*file)
		return 0;
	r = key_load(dir, arg, k, err);
	if (r == 0 && exists) {
		wipe_key(k);
		return dcr_err_set(err, DCR_EUSAGE, "'%s' is both a dataset in the keystore and a file; write ./%s "
			"for the file", arg, arg);
	}
	if (r == DCR_ENOTFOUND && exists) {
		*file = true;
		return 0;
	}
	return r;
}

int cmd_publish(const struct command *cmd, struct cli *cli, struct parsed *args)
{
	Dcr__V1__PublishRequest req = DCR__V1__PUBLISH_REQUEST__INIT;
	Dcr__V1__PublishResponse *resp = NULL;
	const char *name = opt_value(cmd, args, "name"), *rate = opt_value(cmd, args, "limit-rate");
	char room[DCR_ROOM_ID_HEX], dir[4096];
	struct dataset_key k = { 0 };
	struct session s;
	struct dcr_err err;
	uint64_t max_rate = 0;
	uint8_t *body;
	size_t len;
	bool file;
	int r;

	if (args->argc != 3)
		return usage_error(cmd, "expected ROOM NODE DATASET or ROOM NODE FILE");
	if (rate && (!dcr_parse_size(rate, &max_rate) || max_rate == 0))
		return usage_error(cmd, "invalid --limit-rate '%s' (bytes a second, like 500K, 10M or 1G)", rate);
	if (keystore_dir(dir, sizeof(dir), &err) < 0 || dataset_or_file(dir, args->argv[2], &k, &file, &err) < 0)
		return report(cmd, &err);
	if (!file && (name || rate)) {
		wipe_key(&k);
		return usage_error(cmd, "--name and --limit-rate are for a FILE to upload; '%s' is a dataset already",
			args->argv[2]);
	}
	if (!file && !k.complete) {
		wipe_key(&k);
		dcr_err_set(&err, DCR_EINVALID, "dataset %s is not completely uploaded; dcr upload --resume %s first",
			args->argv[2], args->argv[2]);
		return report(cmd, &err);
	}
	if ((r = session_open(cmd, cli, &s)) != 0) {
		wipe_key(&k);
		return r;
	}
	/* The room is checked before a file is uploaded for it. */
	if ((r = session_resolve_room(cmd, &s, args->argv[0], room)) != 0)
		goto out;
	if (file && ((r = start_upload(&s, dir, args->argv[2], name, &k, &err)) < 0 ||
		     (r = complete_upload(cli, dir, &k, max_rate, &err)) < 0)) {
		r = report(cmd, &err);
		goto out;
	}
	req.room_id = room;
	req.node = args->argv[1];
	req.dataset_id = k.id;
	req.key = (ProtobufCBinaryData){ sizeof(k.key), k.key };
	req.plaintext_sha256 = (ProtobufCBinaryData){ sizeof(k.sha256), k.sha256 };
	if ((r = session_call_err(&s, "dataset.publish", &req.base, &body, &len, &err)) < 0) {
		if (file)
			dcr_err_prefix(&err, "%s is uploaded as dataset %s, but not published (dcr publish %.16s %s %s "
				"tries again)", k.name, k.id, room, req.node, k.id);
		r = report(cmd, &err);
		goto out;
	}
	resp = dcr__v1__publish_response__unpack(NULL, len, body);
	free(body);
	if (!resp || !resp->dataset) {
		r = report_malformed(cmd, "dataset.publish answer");
		goto done;
	}
	/* The record is for dcr uploads only: failing to write it does not undo the publication. */
	if (note_published(dir, &k, room, req.node, &err) < 0 && cli->verbosity >= 0)
		fprintf(stderr, "dcr: publish: warning: cannot note the publication in the keystore: %s\n", err.msg);
	if (cli->json) {
		r = print_json(cmd, dataset_json(resp->dataset));
	} else if (cli->verbosity >= 0) {
		printf("published dataset %s (%s) to node '%s' of room %.16s: %llu bytes", k.id, k.name, req.node, room,
			(unsigned long long)resp->dataset->size);
		if (resp->dataset->rows)
			printf(", %llu rows", (unsigned long long)resp->dataset->rows);
		printf("\n");
	}
done:
	dcr__v1__publish_response__free_unpacked(resp, NULL);
out:
	session_close(&s);
	wipe_key(&k);
	return r;
}

/* ---- dcr datasets ---- */

int cmd_datasets(const struct command *cmd, struct cli *cli, struct parsed *args)
{
	Dcr__V1__ListDatasetsResponse *list = NULL;
	char room[DCR_ROOM_ID_HEX], when[32];
	struct session s;
	uint8_t *body;
	size_t len, w_node = 4, w_pub = 9;
	int r;

	if (args->argc != 1)
		return usage_error(cmd, "expected ROOM");
	if ((r = session_open(cmd, cli, &s)) != 0)
		return r;
	if ((r = session_resolve_room(cmd, &s, args->argv[0], room)) != 0 ||
	    (r = session_room_call(cmd, &s, "dataset.list", room, &body, &len)) != 0)
		goto out;
	list = dcr__v1__list_datasets_response__unpack(NULL, len, body);
	free(body);
	if (!list) {
		r = report_malformed(cmd, "dataset list");
		goto out;
	}
	if (cli->json) {
		json_t *a = json_array();

		for (size_t i = 0; i < list->n_datasets; i++)
			json_array_append_new(a, dataset_json(list->datasets[i]));
		r = print_json(cmd, a);
		goto out;
	}
	if (list->n_datasets == 0) {
		printf("(nothing published)\n");
		goto out;
	}
	for (size_t i = 0; i < list->n_datasets; i++) {
		size_t n;

		if ((n = columns_of(list->datasets[i]->node)) > w_node)
			w_node = n < 32 ? n : 32;
		if ((n = columns_of(list->datasets[i]->publisher)) > w_pub)
			w_pub = n < 40 ? n : 40;
	}
	put_cell("NODE", w_node, false);
	printf("  %-32s  ", "DATASET");
	put_cell("PUBLISHER", w_pub, false);
	printf("  %12s  %10s  %-20s  SHA-256\n", "BYTES", "ROWS", "PUBLISHED");
	for (size_t i = 0; i < list->n_datasets; i++) {
		const Dcr__V1__DatasetInfo *d = list->datasets[i];
		char hex[65] = "";

		if (d->plaintext_sha256.len == 32)
			dcr_hex(d->plaintext_sha256.data, 32, hex);
		put_cell(d->node, w_node, false);
		printf("  ");
		put_cell(d->dataset_id, 32, false);
		printf("  ");
		put_cell(d->publisher, w_pub, false);
		printf("  %12llu  %10llu  %-20s  %s\n", (unsigned long long)d->size, (unsigned long long)d->rows,
			time_text(d->published_ms, when), hex);
	}
out:
	dcr__v1__list_datasets_response__free_unpacked(list, NULL);
	session_close(&s);
	return r;
}

/* ---- dcr uploads ---- */

/* One entry of the keystore as dcr uploads shows it. */
struct upload_entry {
	struct dataset_key k;      /* its key wiped at once: a listing needs none */
	json_t *published;         /* the key file's "published", or NULL */
};

static int compare_entries(const void *a, const void *b)
{
	const struct upload_entry *x = a, *y = b;
	int c = strcmp(x->k.name, y->k.name);

	return c ? c : strcmp(x->k.id, y->k.id);
}

/* The key file of dataset id, for a listing; a file dcr would refuse is reported as such. */
static int entry_read(const char *dir, const char *id, struct upload_entry *e, struct dcr_err *err)
{
	char path[4200];
	uint8_t *buf = NULL;
	size_t len = 0;
	json_t *j;
	int r;

	e->published = NULL;
	if ((r = entry_path(path, sizeof(path), dir, id, ".json", err)) < 0 ||
	    (r = dcr_read_key_file(path, 64 << 10, &buf, &len, err)) < 0)
		return r;
	r = key_parse(path, id, buf, len, &e->k, err);
	dcr_wipe(e->k.key, sizeof(e->k.key));
	if (r == 0 && (j = json_loadb((const char *)buf, len, 0, NULL))) {
		json_t *p = json_object_get(j, "published");

		if (json_is_array(p))
			e->published = json_incref(p);
		json_decref(j);
	}
	dcr_wipe(buf, len);
	free(buf);
	return r;
}

/* "3f2a9c1b7e4d:pay, 5f2c9a01b7e4:acme" into buf: the nodes a dataset was published to from here. */
static const char *published_text(const json_t *list, char *buf, size_t size)
{
	size_t i, used = 0;
	json_t *p;

	*buf = '\0';
	json_array_foreach(list, i, p) {
		const char *room = json_string_value(json_object_get(p, "room"));
		const char *node = json_string_value(json_object_get(p, "node"));

		if (room && node && used < size)
			used += (size_t)snprintf(buf + used, size - used, "%s%.12s:%s", used ? ", " : "", room, node);
	}
	return *buf ? buf : "-";
}

static json_t *entry_json(const struct upload_entry *e)
{
	char hex[65];
	json_t *j = json_object(), *list = json_array();
	size_t i;
	json_t *p;

	dcr_hex(e->k.sha256, 32, hex);
	json_object_set_new(j, "dataset", json_string(e->k.id));
	json_object_set_new(j, "name", json_string(e->k.name));
	json_object_set_new(j, "size", json_integer((json_int_t)e->k.size));
	/* A file still being sent has no digest yet. */
	json_object_set_new(j, "sha256", e->k.streamed ? json_null() : json_string(hex));
	json_object_set_new(j, "complete", json_boolean(e->k.complete));
	json_object_set_new(j, "endpoint", json_string(e->k.endpoint));
	json_array_foreach(e->published, i, p) {
		const char *room = json_string_value(json_object_get(p, "room"));
		const char *node = json_string_value(json_object_get(p, "node"));
		const char *when = json_string_value(json_object_get(p, "time"));
		json_t *o;

		if (!room || !node)
			continue;
		o = json_object();
		json_object_set_new(o, "room", json_string(room));
		json_object_set_new(o, "node", json_string(node));
		json_object_set_new(o, "time", when ? json_string(when) : json_null());
		json_array_append_new(list, o);
	}
	json_object_set_new(j, "published", list);
	return j;
}

static void print_entries(const struct upload_entry *e, size_t n)
{
	size_t w_name = 4, w_pub = 9, cols;
	char pub[1024];

	for (size_t i = 0; i < n; i++) {
		if ((cols = columns_of(e[i].k.name)) > w_name)
			w_name = cols < 32 ? cols : 32;
		if ((cols = strlen(published_text(e[i].published, pub, sizeof(pub)))) > w_pub)
			w_pub = cols < 48 ? cols : 48;
	}
	printf("%-32s  ", "DATASET");
	put_cell("NAME", w_name, false);
	printf("  %12s  %-8s  ", "BYTES", "STATUS");
	put_cell("PUBLISHED", w_pub, false);
	printf("  SHA-256\n");
	for (size_t i = 0; i < n; i++) {
		char hex[65];

		if (e[i].k.streamed)
			snprintf(hex, sizeof(hex), "-");
		else
			dcr_hex(e[i].k.sha256, 32, hex);
		printf("%-32s  ", e[i].k.id);
		put_cell(e[i].k.name, w_name, false);
		printf("  %12llu  %-8s  ", (unsigned long long)e[i].k.size, e[i].k.complete ? "complete" : "partial");
		put_cell(published_text(e[i].published, pub, sizeof(pub)), w_pub, false);
		printf("  %s\n", hex);
	}
}

/* List the keystore: every dataset whose key is here, whatever the endpoint. */
static int list_uploads(const struct command *cmd, const struct cli *cli, const char *dir)
{
	struct upload_entry *e = NULL;
	size_t n = 0, cap = 0, bad = 0;
	struct dirent *d;
	struct dcr_err err;
	DIR *dp = opendir(dir);
	int r = 0;

	if (!dp) {
		dcr_err_errno(&err, DCR_EIO, errno, "cannot read the keystore '%s'", dir);
		return report(cmd, &err);
	}
	while ((d = readdir(dp))) {
		char id[33];

		if (strlen(d->d_name) != 37 || strcmp(d->d_name + 32, ".json") != 0 ||
		    strspn(d->d_name, "0123456789abcdef") != 32)
			continue;
		if (n == cap) {
			void *grown = realloc(e, (cap = cap ? 2 * cap : 16) * sizeof(*e));

			if (!grown) {
				dcr_err_set(&err, DCR_ENOMEM, "out of memory");
				r = report(cmd, &err);
				goto out;
			}
			e = grown;
		}
		memcpy(id, d->d_name, 32);
		id[32] = '\0';
		/* A key file dcr would refuse is named, the others are listed, and the status says so. */
		if (entry_read(dir, id, &e[n], &err) < 0) {
			bad++;
			r = report(cmd, &err);
			continue;
		}
		n++;
	}
	if (n)
		qsort(e, n, sizeof(*e), compare_entries);
	if (cli->json) {
		json_t *a = json_array();

		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, entry_json(&e[i]));
		if (print_json(cmd, a) && !r)
			r = 1;
	} else if (n) {
		print_entries(e, n);
	} else if (!bad) {
		printf("(no uploads in %s)\n", dir);
	}
out:
	closedir(dp);
	for (size_t i = 0; i < n; i++)
		json_decref(e[i].published);
	free(e);
	return r;
}

/* Ask on the terminal; true for "y" or "yes". */
static bool confirmed(const char *question)
{
	char line[64];

	fprintf(stderr, "%s [y/N] ", question);
	fflush(stderr);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	line[strcspn(line, "\r\n")] = '\0';
	return strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0;
}

/* Remove one key from the keystore, after confirmation (or --yes). */
static int forget_upload(const struct command *cmd, const struct cli *cli, const char *dir, const char *arg, bool yes)
{
	struct upload_entry e;
	struct dcr_err err;
	char question[1600], pub[1024];
	const char *where;
	char id[33];
	int r;

	if ((r = key_load(dir, arg, &e.k, &err)) < 0)
		return report(cmd, &err);
	memcpy(id, e.k.id, sizeof(id));
	wipe_key(&e.k);
	/* For the question: its name and where it went, as the listing shows them. */
	if ((r = entry_read(dir, id, &e, &err)) < 0)
		return report(cmd, &err);
	where = published_text(e.published, pub, sizeof(pub));
	json_decref(e.published);
	if (!yes && !isatty(STDIN_FILENO))
		return usage_error(cmd, "forgetting a key needs a confirmation, and standard input is not a terminal; "
			"add --yes");
	snprintf(question, sizeof(question), "dcr: uploads: forget the key of dataset %s (%s, %s)? Without it "
		"nobody can publish it again, and dcrd keeps its ciphertext (dcr upload --delete %s removes both).",
		e.k.id, e.k.name, strcmp(where, "-") ? where : "never published", e.k.id);
	if (!yes && !confirmed(question)) {
		dcr_err_set(&err, DCR_EFAIL, "not confirmed; the key of dataset %s stays", e.k.id);
		return report(cmd, &err);
	}
	if ((r = forget_key(dir, e.k.id, &err)) < 0)
		return report(cmd, &err);
	if (cli->json) {
		json_t *j = json_object();

		json_object_set_new(j, "dataset", json_string(e.k.id));
		json_object_set_new(j, "forgotten", json_true());
		return print_json(cmd, j);
	}
	if (cli->verbosity >= 0)
		fprintf(stderr, "dcr: uploads: forgot the key of dataset %s\n", e.k.id);
	return 0;
}

int cmd_uploads(const struct command *cmd, struct cli *cli, struct parsed *args)
{
	const char *forget = opt_value(cmd, args, "forget");
	struct dcr_err err;
	char dir[4096];

	if (args->argc != 0)
		return usage_error(cmd, "expected no arguments");
	if (opt_set(cmd, args, "yes") && !forget)
		return usage_error(cmd, "--yes goes with --forget");
	if (keystore_dir(dir, sizeof(dir), &err) < 0)
		return report(cmd, &err);
	return forget ? forget_upload(cmd, cli, dir, forget, opt_set(cmd, args, "yes")) : list_uploads(cmd, cli, dir);
}
