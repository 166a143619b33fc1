/*
 * dcr run, dcr fetch, dcr jobs: computations run inside the enclave; their
 * results come back as ciphertext whose key only an authorised fetcher
 * receives, inside an encrypted call, and are checked against the SHA-256
 * the enclave recorded in the room's log.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zip.h>

#include "crypto.h"
#include "dcr.h"
#include "fileio.h"
#include "outname.h"
#include "output.h"
#include "stream.h"
#include "transport.h"
#include "util.h"

#include "banned.h"

#define MAX_EXTRACT_ENTRIES 10000

static const char *job_status_name(Dcr__V1__JobStatus s)
{
	switch (s) {
	case DCR__V1__JOB_STATUS__JOB_STATUS_QUEUED: return "queued";
	case DCR__V1__JOB_STATUS__JOB_STATUS_RUNNING: return "running";
	case DCR__V1__JOB_STATUS__JOB_STATUS_SUCCEEDED: return "succeeded";
	case DCR__V1__JOB_STATUS__JOB_STATUS_FAILED: return "failed";
	default: return "unknown";
	}
}

static bool finished(const Dcr__V1__JobInfo *j)
{
	return j->status == DCR__V1__JOB_STATUS__JOB_STATUS_SUCCEEDED ||
	       j->status == DCR__V1__JOB_STATUS__JOB_STATUS_FAILED;
}

/* The error class a failed job's record carries (jobs that failed before error codes were recorded: computation). */
static int job_error_code(const Dcr__V1__JobInfo *j)
{
	return j->error_code < 0 && j->error_code >= DCR_EEXIST ? j->error_code : DCR_ECOMPUTE;
}

static json_t *job_json(const Dcr__V1__JobInfo *j)
{
	char created[32], started[32], ended[32], hex[65] = "";
	json_t *o = json_object();

	if (j->result_sha256.len == 32)
		dcr_hex(j->result_sha256.data, 32, hex);
	json_object_set_new(o, "job", json_string(j->job_id));
	json_object_set_new(o, "computation", json_string(j->computation));
	json_object_set_new(o, "status", json_string(job_status_name(j->status)));
	json_object_set_new(o, "started_by", json_string(j->started_by));
	json_object_set_new(o, "created", json_string(time_text(j->created_ms, created)));
	json_object_set_new(o, "started", *time_text(j->started_ms, started) ? json_string(started) : json_null());
	json_object_set_new(o, "finished", *time_text(j->finished_ms, ended) ? json_string(ended) : json_null());
	json_object_set_new(o, "error", *j->error ? json_string(j->error) : json_null());
	json_object_set_new(o, "error_class", j->status == DCR__V1__JOB_STATUS__JOB_STATUS_FAILED ?
		json_string(dcr_err_name(job_error_code(j))) : json_null());
	json_object_set_new(o, "result_type", *j->result_type ? json_string(j->result_type) : json_null());
	json_object_set_new(o, "result_sha256", *hex ? json_string(hex) : json_null());
	json_object_set_new(o, "result_size", json_integer((json_int_t)j->result_size));
	json_object_set_new(o, "result_rows", json_integer((json_int_t)j->result_rows));
	json_object_set_new(o, "groups_suppressed",
		j->thresholded ? json_integer((json_int_t)j->groups_suppressed) : json_null());
	return o;
}

/* "dcr: fetch: job ID: 2 groups suppressed", for a job whose privacy thresholds left groups out (or none). */
static void note_suppressed(const struct command *cmd, const struct cli *cli, const Dcr__V1__JobInfo *j)
{
	if (j->thresholded && cli->verbosity >= 0)
		fprintf(stderr, "dcr: %s: job %s: %llu group%s suppressed\n", cmd->name, j->job_id,
			(unsigned long long)j->groups_suppressed, j->groups_suppressed == 1 ? "" : "s");
}

/* A failed job: its reason, with the exit status of its error class (7 for a computation). */
static int job_failed(const struct command *cmd, const Dcr__V1__JobInfo *j)
{
	struct dcr_err err;

	dcr_err_set(&err, job_error_code(j), "job %s (%s) failed: %s", j->job_id, j->computation, j->error);
	return report(cmd, &err);
}

/* "3f2a9c1b7e4d-7": the room's first 12 hex digits, '-', a number. */
static bool split_job_id(const char *job, char prefix[static 13])
{
	const char *dash = strchr(job, '-');
	size_t n = dash ? (size_t)(dash - job) : 0;

	if (n != 12 || strspn(job, "0123456789abcdef") != 12 || !dash[1] || strspn(dash + 1, "0123456789") != strlen(dash + 1) ||
	    strlen(dash + 1) > 19)
		return false;
	memcpy(prefix, job, 12);
	prefix[12] = '\0';
	return true;
}

/*
 * job.get until the job finishes. Each call asks dcrd to wait up to
 * WAIT_MS for the job to end (dcr-protocol(7)); an answer that comes back
 * unfinished well before that (a dcrd that does not wait, or has too many
 * calls waiting) is followed by a pause, from 100 ms doubling to 2 s.
 * *out: the last answer.
 */
#define WAIT_MS 20000
static int wait_job(const struct command *cmd, struct session *s, const char *room, const char *job,
	Dcr__V1__RunResponse **out)
{
	Dcr__V1__JobRef ref = DCR__V1__JOB_REF__INIT;
	unsigned delay_ms = 100;
	uint8_t *body;
	size_t len;
	int r;

	ref.room_id = (char *)room;
	ref.job_id = (char *)job;
	ref.wait_ms = WAIT_MS;
	*out = NULL;
	for (;;) {
		int64_t asked = dcr_monotonic_ms();
		struct timespec ts;

		if ((r = session_call(cmd, s, "job.get", &ref.base, &body, &len)) != 0)
			return r;
		*out = dcr__v1__run_response__unpack(NULL, len, body);
		free(body);
		if (!*out || !(*out)->job)
			return report_malformed(cmd, "job.get answer");
		if (finished((*out)->job))
			return 0;
		dcr__v1__run_response__free_unpacked(*out, NULL);
		*out = NULL;
		if (dcr_monotonic_ms() - asked >= WAIT_MS / 2) {
			delay_ms = 100;
			continue;
		}
		ts.tv_sec = delay_ms / 1000;
		ts.tv_nsec = (long)(delay_ms % 1000) * 1000000L;
		nanosleep(&ts, NULL);
		if (delay_ms < 2000)
			delay_ms = delay_ms * 2 > 2000 ? 2000 : delay_ms * 2;
	}
}

/* ---- receiving a result ---- */

struct receiving {
	struct dcr_stream_dec *dec;
	struct dcr_sha256 *hash;
	int fd;
	uint64_t size;
};

static int plain_sink(void *ctx, const uint8_t *buf, size_t len, struct dcr_err *err)
{
	struct receiving *rx = ctx;
	int r;

	rx->size += len;
	if ((r = dcr_sha256_update(rx->hash, buf, len, err)) < 0)
		return r;
	if (dcr_write_all(rx->fd, buf, len) < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot write the result");
	return 0;
}

static int cipher_sink(void *ctx, const uint8_t *buf, size_t len, struct dcr_err *err)
{
	struct receiving *rx = ctx;

	return dcr_stream_dec_write(rx->dec, buf, len, err);
}

/* Download and decrypt the result into fd, and check it is what the enclave recorded. */
static int receive(struct session *s, const Dcr__V1__FetchResponse *f, int fd, struct dcr_err *err)
{
	struct receiving rx = { NULL, dcr_sha256_new(), fd, 0 };
	uint8_t digest[32];
	int r;

	if (f->key.len != DCR_STREAM_KEY_LEN || !rx.hash) {
		dcr_sha256_free(rx.hash);
		return dcr_err_set(err, rx.hash ? DCR_EINTEGRITY : DCR_ENOMEM, "dcrd sent no usable result key");
	}
	if (!(rx.dec = dcr_stream_dec_new(f->key.data, plain_sink, &rx, err))) {
		dcr_sha256_free(rx.hash);
		return err->code;
	}
	r = dcr_blob_get(s->cli->endpoint, f->blob_id, f->download_token, cipher_sink, &rx, err);
	if (r == 0)
		r = dcr_stream_dec_finish(rx.dec, err);
	if (r == 0)
		r = dcr_sha256_final(rx.hash, digest, err);
	if (r == 0 && (f->job->result_sha256.len != 32 || !dcr_ct_equal(digest, f->job->result_sha256.data, 32) ||
		       rx.size != f->job->result_size))
		r = dcr_err_set(err, DCR_EINTEGRITY, "the result does not match the SHA-256 the enclave recorded for it");
	if (r == DCR_EINTEGRITY)
		dcr_err_prefix(err, "result of job %s", f->job->job_id);
	dcr_stream_dec_free(rx.dec);
	dcr_sha256_free(rx.hash);
	return r;
}

/* A temporary file in $TMPDIR, mode 0600. */
static int temp_file(char *tmp, size_t size, struct dcr_err *err)
{
	const char *dir = getenv("TMPDIR");
	int fd;

	snprintf(tmp, size, "%s/dcr-result-XXXXXX", dir && *dir ? dir : "/tmp");
	if ((fd = mkstemp(tmp)) < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot create '%s'", tmp);
	return fd;
}

/* What an extraction created, in order, so that a failure can take it all back. */
struct created {
	struct {
		char path[PATH_MAX];
		bool dir;
	} *items;
	size_t n, cap;
};

static int note_created(struct created *c, const char *path, bool dir, struct dcr_err *err)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 16;
		void *grown = realloc(c->items, cap * sizeof(*c->items));

		if (!grown)
			return dcr_err_set(err, DCR_ENOMEM, "out of memory");
		c->items = grown;
		c->cap = cap;
	}
	snprintf(c->items[c->n].path, PATH_MAX, "%s", path);
	c->items[c->n++].dir = dir;
	return 0;
}

/* Remove what was created, newest first: files, then the directories they were in. */
static void take_back(struct created *c)
{
	while (c->n > 0) {
		c->n--;
		if (c->items[c->n].dir)
			rmdir(c->items[c->n].path);
		else
			unlink(c->items[c->n].path);
	}
}

/* mkdir that notes what it made; an existing directory is fine. */
static int make_dir(struct created *c, const char *path, struct dcr_err *err)
{
	struct stat st;

	if (mkdir(path, 0700) == 0)
		return note_created(c, path, true, err);
	if (errno != EEXIST)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot create '%s'", path);
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return dcr_err_set(err, DCR_EEXIST, "cannot create '%s': it exists and is not a directory", path);
	return 0;
}

static int make_parents(struct created *c, const char *dir, const char *name, struct dcr_err *err)
{
	char path[PATH_MAX];
	int r;

	for (const char *p = strchr(name, '/'); p; p = strchr(p + 1, '/')) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%.*s", dir, (int)(p - name), name) >= sizeof(path))
			return dcr_err_set(err, DCR_EINVALID, "path too long in the result");
		if ((r = make_dir(c, path, err)) < 0)
			return r;
	}
	return 0;
}

/* One entry's file, written whole. */
static int extract_file(zip_t *z, zip_int64_t i, const char *name, const char *path, struct created *c,
	struct dcr_err *err)
{
	char buf[65536];
	zip_file_t *f;
	zip_int64_t got = 0;
	int fd, r = 0;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		return dcr_err_errno(err, errno == EEXIST ? DCR_EEXIST : DCR_EIO, errno, "cannot create '%s'", path);
	if ((r = note_created(c, path, false, err)) < 0) {
		close(fd);
		unlink(path);
		return r;
	}
	if (!(f = zip_fopen_index(z, (zip_uint64_t)i, 0))) {
		close(fd);
		return dcr_err_set(err, DCR_EINTEGRITY, "cannot read '%s' in the result", name);
	}
	while (r == 0 && (got = zip_fread(f, buf, sizeof(buf))) > 0)
		if (dcr_write_all(fd, buf, (size_t)got) < 0)
			r = dcr_err_errno(err, DCR_EIO, errno, "cannot write '%s'", path);
	if (r == 0 && got < 0)
		r = dcr_err_set(err, DCR_EINTEGRITY, "cannot read '%s' in the result", name);
	zip_fclose(f);
	if (close(fd) < 0 && r == 0)
		r = dcr_err_errno(err, DCR_EIO, errno, "cannot write '%s'", path);
	return r;
}

/*
 * Unpack the ZIP at zip_path into dir, refusing files that exist. Every
 * name is checked against the rule dcrd applies (lib/outname) before
 * anything is written: a result that breaks it did not come from dcrd's
 * check, and nothing of it is extracted. A file that exists already is
 * found before anything is written too; and should writing fail (a full
 * disk), what this extraction created is removed: all or nothing.
 */
static int extract(const char *zip_path, const char *dir, struct dcr_err *err)
{
	struct created made = { 0 };
	char path[PATH_MAX];
	struct stat st;
	zip_t *z;
	zip_int64_t n;
	int zerr = 0, r = 0;

	if (!(z = zip_open(zip_path, ZIP_RDONLY | ZIP_CHECKCONS, &zerr)))
		return dcr_err_set(err, DCR_EINTEGRITY, "the result is not a valid ZIP (libzip error %d)", zerr);
	n = zip_get_num_entries(z, 0);
	if (n < 0 || n > MAX_EXTRACT_ENTRIES)
		r = dcr_err_set(err, DCR_EINVALID, "the result has more than %d entries", MAX_EXTRACT_ENTRIES);
	for (zip_int64_t i = 0; r == 0 && i < n; i++) {
		const char *name = zip_get_name(z, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
		struct dcr_err why;

		if (!name)
			r = dcr_err_set(err, DCR_EINTEGRITY, "the result's entry %" PRId64 " cannot be read; nothing was "
				"extracted", (int64_t)i);
		else if (dcr_outname_check(name, strlen(name), &why) < 0)
			r = dcr_err_set(err, DCR_EINTEGRITY, "the result's entry %" PRId64 " is refused (%s); nothing was "
				"extracted", (int64_t)i, why.msg);
		else if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
			r = dcr_err_set(err, DCR_EINVALID, "path too long: '%s'; nothing was extracted", name);
		else if (name[strlen(name) - 1] != '/' && lstat(path, &st) == 0)
			r = dcr_err_set(err, DCR_EEXIST, "'%s' exists; nothing was extracted", path);
	}
	if (r == 0)
		r = make_dir(&made, dir, err);
	for (zip_int64_t i = 0; r == 0 && i < n; i++) {
		const char *name = zip_get_name(z, (zip_uint64_t)i, ZIP_FL_ENC_RAW);

		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if ((r = make_parents(&made, dir, name, err)) < 0)
			break;
		if (name[strlen(name) - 1] == '/')
			r = make_dir(&made, path, err);
		else
			r = extract_file(z, i, name, path, &made, err);
	}
	if (r < 0 && made.n) {
		take_back(&made);
		dcr_err_set(err, r, "%s; nothing was extracted", err->msg);
	}
	free(made.items);
	zip_discard(z);
	return r;
}

/* The whole of the descriptor *ctx, from its start. */
static int copy_fd(void *ctx, int out, struct dcr_err *err)
{
	int in = *(const int *)ctx;
	char buf[65536];
	ssize_t n;

	if (lseek(in, 0, SEEK_SET) < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot read the result");
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (dcr_write_all(out, buf, (size_t)n) < 0)
			return dcr_err_errno(err, DCR_EIO, errno, "cannot write the result");
	return n < 0 ? dcr_err_errno(err, DCR_EIO, errno, "cannot read the result") : 0;
}

/* One file of a ZIP result. */
struct zip_member {
	zip_t *z;
	zip_uint64_t index;
	const char *name;
};

static int copy_member(void *ctx, int out, struct dcr_err *err)
{
	const struct zip_member *m = ctx;
	char buf[65536];
	zip_int64_t got;
	zip_file_t *f;
	int r = 0;

	if (!(f = zip_fopen_index(m->z, m->index, 0)))
		return dcr_err_set(err, DCR_EINTEGRITY, "cannot read '%s' in the result", m->name);
	while (r == 0 && (got = zip_fread(f, buf, sizeof(buf))) > 0)
		if (dcr_write_all(out, buf, (size_t)got) < 0)
			r = dcr_err_errno(err, DCR_EIO, errno, "cannot write the result");
	if (r == 0 && got < 0)
		r = dcr_err_set(err, DCR_EINTEGRITY, "cannot read '%s' in the result", m->name);
	zip_fclose(f);
	return r;
}

/* The files a ZIP holds, for a message: "a.csv, b/c.txt" (the first few). */
static void member_names(zip_t *z, char *buf, size_t size)
{
	zip_int64_t n = zip_get_num_entries(z, 0);
	size_t used = 0, listed = 0;

	*buf = '\0';
	for (zip_int64_t i = 0; i < n && used < size; i++) {
		const char *name = zip_get_name(z, (zip_uint64_t)i, ZIP_FL_ENC_RAW);

		if (!name || !*name || name[strlen(name) - 1] == '/')
			continue;
		if (listed++ == 8) {
			used += (size_t)snprintf(buf + used, size - used, ", ...");
			break;
		}
		used += (size_t)snprintf(buf + used, size - used, "%s%s", listed > 1 ? ", " : "", name);
	}
	if (!listed)
		snprintf(buf, size, "no files");
}

/* The file called name in the ZIP at zip_path, written to output (see output.h). */
static int deliver_member(const char *zip_path, const char *name, const char *output, struct dcr_err *err)
{
	struct zip_member m = { NULL, 0, name };
	zip_int64_t i;
	char names[512];
	int zerr = 0, r;

	if (!(m.z = zip_open(zip_path, ZIP_RDONLY | ZIP_CHECKCONS, &zerr)))
		return dcr_err_set(err, DCR_EINTEGRITY, "the result is not a valid ZIP (libzip error %d)", zerr);
	if ((i = zip_name_locate(m.z, name, ZIP_FL_ENC_RAW)) < 0 || !*name || name[strlen(name) - 1] == '/') {
		member_names(m.z, names, sizeof(names));
		r = dcr_err_set(err, DCR_ENOTFOUND, "the result has no file '%s' (it has %s)", name, names);
	} else {
		m.index = (zip_uint64_t)i;
		r = out_write(output, 0600, true, copy_member, &m, err);
	}
	zip_discard(m.z);
	return r;
}

/*
 * Where a result goes: a file, written as -o says (output.h), a
 * directory (unzipped), or one file of it (--file NAME). It is downloaded
 * and checked against the enclave's record first, into a temporary file:
 * nothing unchecked reaches the destination.
 */
static int deliver(const struct command *cmd, struct session *s, const Dcr__V1__FetchResponse *f,
	const char *output, const char *extract_dir, const char *member)
{
	bool zip = strcmp(f->job->result_type, "application/zip") == 0;
	/* Where the writer writes: NULL for the standard output (no -o, or -o -). */
	const char *to = output && strcmp(output, "-") != 0 ? output : NULL;
	enum out_kind dest = out_kind_of(to);
	struct out_file o;
	char tmp[PATH_MAX];
	struct dcr_err err;
	int fd, r;

	if (!output && !extract_dir && !member && zip && isatty(STDOUT_FILENO)) {
		dcr_err_set(&err, DCR_EUSAGE, "the result is a ZIP file; use -o FILE (-o - for this terminal), "
			"--extract DIR or --file NAME");
		return report(cmd, &err);
	}
	if ((extract_dir || member) && !zip) {
		dcr_err_set(&err, DCR_EUSAGE, "%s is for ZIP results; this one is %s (use -o FILE)",
			extract_dir ? "--extract" : "--file", f->job->result_type);
		return report(cmd, &err);
	}
	if (!extract_dir && !member && dest == OUT_ATOMIC) {
		/* A file replaced atomically: received straight into its temporary file beside it. */
		if ((r = out_open(&o, to, 0600, true, &err)) == 0)
			r = out_close(&o, receive(s, f, o.fd, &err), &err);
	} else {
		/* Anything else: received and checked in $TMPDIR first, so nothing unchecked reaches it. */
		if ((fd = temp_file(tmp, sizeof(tmp), &err)) < 0)
			return report(cmd, &err);
		r = receive(s, f, fd, &err);
		if (r == 0 && extract_dir)
			r = extract(tmp, extract_dir, &err);
		else if (r == 0 && member)
			r = deliver_member(tmp, member, to, &err);
		else if (r == 0)
			r = out_write(to, 0600, true, copy_fd, &fd, &err);
		close(fd);
		unlink(tmp);
	}
	if (r < 0)
		return report(cmd, &err);
	if (s->cli->verbosity > 0 || ((dest != OUT_STDOUT || extract_dir) && s->cli->verbosity >= 0))
		fprintf(stderr, "dcr: %s: job %s: %llu bytes of %s, SHA-256 verified%s%s%s%s\n", cmd->name,
			f->job->job_id, (unsigned long long)f->job->result_size, f->job->result_type,
			member ? ", its file " : "", member ? member : "",
			extract_dir ? ", extracted into " : dest != OUT_STDOUT ? ", written to " : "",
			extract_dir ? extract_dir : dest != OUT_STDOUT ? to : "");
	note_suppressed(cmd, s->cli, f->job);
	return 0;
}

/*
 * What the script printed is the code provider's text: unless raw was
 * asked for, each of its lines is shown after "| ", escaped (put_bytes),
 * so none can pass for one of dcr's own or end the block early.
 */
static void show_logs(const struct session *s, const Dcr__V1__FetchResponse *f, bool raw)
{
	const uint8_t *p = f->logs.data, *end;

	if (!f->logs_visible || !f->logs.len || s->cli->verbosity < 0)
		return;
	end = p + f->logs.len;
	fprintf(stderr, "--- what job %s printed ---\n", f->job->job_id);
	if (raw) {
		fwrite(f->logs.data, 1, f->logs.len, stderr);
		if (end[-1] != '\n')
			fputc('\n', stderr);
	}
	while (!raw && p < end) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);

		fputs(len ? "| " : "|", stderr);
		put_bytes(stderr, p, len, true);
		fputc('\n', stderr);
		p += len + (nl != NULL);
	}
	fprintf(stderr, "---\n");
}

/* job.fetch once the job has finished; delivers the result or reports why there is none. */
static int fetch_job(const struct command *cmd, struct session *s, const char *room, const char *job,
	const char *output, const char *extract_dir, const char *member, bool raw_logs)
{
	Dcr__V1__JobRef ref = DCR__V1__JOB_REF__INIT;
	Dcr__V1__FetchResponse *f;
	Dcr__V1__RunResponse *w;
	uint8_t *body;
	size_t len;
	int r;

	if ((r = wait_job(cmd, s, room, job, &w)) != 0)
		return r;
	dcr__v1__run_response__free_unpacked(w, NULL);
	ref.room_id = (char *)room;
	ref.job_id = (char *)job;
	if ((r = session_call(cmd, s, "job.fetch", &ref.base, &body, &len)) != 0)
		return r;
	f = dcr__v1__fetch_response__unpack(NULL, len, body);
	dcr_wipe(body, len);
	free(body);
	if (!f || !f->job)
		r = report_malformed(cmd, "job.fetch answer");
	else if (show_logs(s, f, raw_logs), f->job->status == DCR__V1__JOB_STATUS__JOB_STATUS_FAILED)
		r = job_failed(cmd, f->job);
	else if (f->job->status != DCR__V1__JOB_STATUS__JOB_STATUS_SUCCEEDED)
		r = report_malformed(cmd, "job.fetch answer");
	else
		r = deliver(cmd, s, f, output, extract_dir, member);
	if (f && f->key.data)
		dcr_wipe(f->key.data, f->key.len);
	dcr__v1__fetch_response__free_unpacked(f, NULL);
	return r;
}

/* ---- dcr run ---- */

int cmd_run(const struct command *cmd, struct cli *cli, struct parsed *args)
{
	Dcr__V1__RunRequest req = DCR__V1__RUN_REQUEST__INIT;
	Dcr__V1__RunResponse *resp = NULL, *done = NULL;
	const char *output = opt_value(cmd, args, "output");
	bool wait = opt_set(cmd, args, "wait") || output;
	char room[DCR_ROOM_ID_HEX], job[64];
	struct session s;
	uint8_t *body;
	size_t len;
	int r;

	if (args->argc != 2)
		return usage_error(cmd, "expected ROOM COMPUTATION");
	if (opt_set(cmd, args, "raw-logs") && !output)
		return usage_error(cmd, "--raw-logs goes with -o, which fetches the result and shows the logs");
	if ((r = session_open(cmd, cli, &s)) != 0)
		return r;
	if ((r = session_resolve_room(cmd, &s, args->argv[0], room)) != 0)
		goto out;
	req.room_id = room;
	req.computation = args->argv[1];
	if ((r = session_call(cmd, &s, "job.run", &req.base, &body, &len)) != 0)
		goto out;
	resp = dcr__v1__run_response__unpack(NULL, len, body);
	free(body);
	if (!resp || !resp->job || strlen(resp->job->job_id) >= sizeof(job)) {
		r = report_malformed(cmd, "job.run answer");
		goto out;
	}
	snprintf(job, sizeof(job), "%s", resp->job->job_id);
	if (output) {
		r = fetch_job(cmd, &s, room, job, output, NULL, NULL, opt_set(cmd, args, "raw-logs"));
		goto out;
	}
	if (wait) {
		if ((r = wait_job(cmd, &s, room, job, &done)) != 0)
			goto out;
		if (done->job->status == DCR__V1__JOB_STATUS__JOB_STATUS_FAILED) {
			r = job_failed(cmd, done->job);
			goto out;
		}
	}
	if (cli->json)
		r = print_json(cmd, job_json(done ? done->job : resp->job));
	else
		printf("%s\n", job);
	if (!cli->json && done)
		note_suppressed(cmd, cli, done->job);
	if (!cli->json && cli->verbosity >= 0 && !done)
		fprintf(stderr, "dcr: run: job %s queued; dcr fetch %s gets its result\n", job, job);
out:
	dcr__v1__run_response__free_unpacked(resp, NULL);
	dcr__v1__run_response__free_unpacked(done, NULL);
	session_close(&s);
	return r;
}

/* ---- dcr fetch ---- */

int cmd_fetch(const struct command *cmd, struct cli *cli, struct parsed *args)
{
	const char *output = opt_value(cmd, args, "output"), *extract_dir = opt_value(cmd, args, "extract");
	const char *member = opt_value(cmd, args, "file");
	char room[DCR_ROOM_ID_HEX], prefix[13];
	struct session s;
	int r;

	if (args->argc != 1)
		return usage_error(cmd, "expected JOB");
	if (extract_dir && (output || member))
		return usage_error(cmd, "--extract excludes -o and --file");
	if (!split_job_id(args->argv[0], prefix))
		return usage_error(cmd, "'%s' is not a job ID (like 3f2a9c1b7e4d-7, as dcr run prints)", args->argv[0]);
	if ((r = session_open(cmd, cli, &s)) != 0)
		return r;
	if ((r = session_resolve_room(cmd, &s, prefix, room)) == 0)
		r = fetch_job(cmd, &s, room, args->argv[0], output, extract_dir, member,
			opt_set(cmd, args, "raw-logs"));
	session_close(&s);
	return r;
}

/* ---- dcr jobs ---- */

int cmd_jobs(const struct command *cmd, struct cli *cli, struct parsed *args)
{
	Dcr__V1__ListJobsResponse *list = NULL;
	char room[DCR_ROOM_ID_HEX], when[32];
	size_t w_job = 3, w_comp = 11, w_by = 10;
	struct session s;
	uint8_t *body;
	size_t len;
	int r;

	if (args->argc != 1)
		return usage_error(cmd, "expected ROOM");
	if ((r = session_open(cmd, cli, &s)) != 0)
		return r;
	if ((r = session_resolve_room(cmd, &s, args->argv[0], room)) != 0 ||
	    (r = session_room_call(cmd, &s, "job.list", room, &body, &len)) != 0)
		goto out;
	list = dcr__v1__list_jobs_response__unpack(NULL, len, body);
	free(body);
	if (!list) {
		r = report_malformed(cmd, "job.list answer");
		goto out;
	}
	if (cli->json) {
		json_t *a = json_array();

		for (size_t i = 0; i < list->n_jobs; i++)
			json_array_append_new(a, job_json(list->jobs[i]));
		r = print_json(cmd, a);
		goto out;
	}
	if (list->n_jobs == 0) {
		printf("(no jobs)\n");
		goto out;
	}
	for (size_t i = 0; i < list->n_jobs; i++) {
		size_t n;

		if ((n = columns_of(list->jobs[i]->job_id)) > w_job)
			w_job = n < 40 ? n : 40;
		if ((n = columns_of(list->jobs[i]->computation)) > w_comp)
			w_comp = n < 32 ? n : 32;
		if ((n = columns_of(list->jobs[i]->started_by)) > w_by)
			w_by = n < 40 ? n : 40;
	}
	put_cell("JOB", w_job, false);
	printf("  ");
	put_cell("COMPUTATION", w_comp, false);
	printf("  %-9s  ", "STATUS");
	put_cell("STARTED BY", w_by, false);
	printf("  %-20s  RESULT\n", "CREATED");
	for (size_t i = 0; i < list->n_jobs; i++) {
		const Dcr__V1__JobInfo *j = list->jobs[i];

		put_cell(j->job_id, w_job, false);
		printf("  ");
		put_cell(j->computation, w_comp, false);
		printf("  %-9s  ", job_status_name(j->status));
		put_cell(j->started_by, w_by, false);
		printf("  %-20s  ", time_text(j->created_ms, when));
		if (j->status == DCR__V1__JOB_STATUS__JOB_STATUS_SUCCEEDED)
			printf("%llu bytes%s", (unsigned long long)j->result_size,
				strcmp(j->result_type, "application/zip") == 0 ? " (zip)" :
				strcmp(j->result_type, "text/csv") == 0 ? "" : " (file)");
		if (j->status == DCR__V1__JOB_STATUS__JOB_STATUS_SUCCEEDED && j->thresholded)
			printf(", %llu group%s suppressed", (unsigned long long)j->groups_suppressed,
				j->groups_suppressed == 1 ? "" : "s");
		else if (j->status == DCR__V1__JOB_STATUS__JOB_STATUS_FAILED) {
			printf("%s", job_error_code(j) == DCR_EINTEGRITY ? "integrity violation: " : "");
			put_cell(j->error, 100, true);
		}
		printf("\n");
	}
out:
	dcr__v1__list_jobs_response__free_unpacked(list, NULL);
	session_close(&s);
	return r;
}
