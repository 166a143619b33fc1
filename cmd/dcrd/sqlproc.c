/*
 * SQL jobs in a process of their own: dcrd spawns "dcrd sql-worker", hands
 * it the room, streams it the plaintext it asks for, and kills it when the
 * job's time is up, whatever it is doing. A worker that ended a SQLite job
 * well may be kept warm for its room's next job (sql_run_warm).
 */
#define _GNU_SOURCE /* posix_spawn_file_actions_addclosefrom_np */
#include "work.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/seccomp.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "crypto.h"
#include "sandbox.h"
#include "sql.h"
#include "util.h"

#include "banned.h"

#define WORKER_FD 3                 /* the worker's end of the socket */
#define FRAME_MAX (64u << 10)       /* a frame's payload, but for the job's */
#define JOB_MAX (64u << 20)         /* the job's: its limits, name and room definition */
#define NODE_NAME_MAX 255
#define JOB_LIMITS 40               /* the job's limits and flags, before its name */
#define JOB_STORE_FIRST 1           /* flag: load every table into the table store first (no keeper) */
#define JOB_MAY_KEEP 2              /* flag: dcrd may keep the worker for the next job of the room (sql_run_warm) */
#define HEAP_HEADROOM (64ull << 20) /* the worker's SQLite heap beyond the job's budget */
#define PROCESS_HEADROOM (UINT64_C(256) << 20) /* the worker's writable memory beyond the job's budget */
#define CHECK_TIME_MS 30000         /* room.create's check of all the room's duckdb queries */
#define CHECK_MEMORY (UINT64_C(256) << 20) /* and the memory it may use (plus the headroom) */
#define DENY_ERRNO EACCES           /* what the worker's denied system calls fail with */

/*
 * The frames on the socket: a type (one byte), the payload's length (4
 * bytes, little-endian), the payload. The worker asks for tables as its
 * query's program names them, so it reads nothing it does not need.
 */
enum {
	MSG_JOB = 'j',   /* dcrd: u64 time_ms, max_result, max_memory, threads (little-endian, offsets 0, 8, 16,
			    24), u64 flags (JOB_STORE_FIRST, JOB_MAY_KEEP) at 32, then from offset 40 (JOB_LIMITS) the name, NUL, the
			    table store's directory, NUL, the
			    job's directory in it, NUL (both empty: no store), its key (32 bytes), the definition */
	MSG_CHECK = 'c', /* dcrd: as JOB, name and store empty: check the room's duckdb queries (DONE or FAIL, no READ) */
	MSG_READ = 'r',  /* worker: the name of a data node whose plaintext it wants */
	MSG_IDENT = 'i', /* worker: the name of a data node; dcrd: the SHA-256 of its plaintext and u64 its size
			    (work_inputs' identify) */
	MSG_DATA = 'd',  /* dcrd: a piece of that plaintext; worker: a piece of the result */
	MSG_END = 'e',   /* dcrd: that was all of it */
	MSG_STOP = 's',  /* worker: i32 DCR_E* code (little-endian): no more of it, loading it failed (dcrd then sends END) */
	MSG_FAIL = 'x',  /* either: i32 DCR_E* code (little-endian) and a message */
	MSG_DONE = 'o',  /* worker: u64 data rows, u64 groups suppressed, u8 thresholded, u8 keeping (1: KEPT or
			    FAIL follows, once its keeper wrote the table store); the result is the DATA it sent */
	MSG_KEPT = 'k',  /* worker, after DONE with keeping: the tables are in the table store; u8 1 if it holds the
			    job's database (duck_held) for the next job, 0 if not (dcrd then ends it) */
	MSG_AGAIN = 'a', /* worker: as FAIL, for a query that ran out of memory beside tables loaded in memory: run
			    the job again with JOB_STORE_FIRST (once) */
	MSG_ANEW = 'n',  /* worker, kept idle: as FAIL, nothing ran: the tables it holds are not the job's (or it holds
			    none); run the job in a new worker */
};
#define DONE_LEN 18

/* One end of the socket; with a deadline (dcrd's end), no wait lasts past it. */
struct chan {
	int fd;
	int64_t deadline;  /* CLOCK_MONOTONIC, ms; 0: none */
	bool late;         /* the deadline passed */
	bool gone;         /* the other end closed, broke the protocol, or the socket failed */
};

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* 0 once fd is ready for events (or broken: the call that follows tells), -1 past the deadline. */
static int wait_ready(struct chan *c, short events)
{
	for (;;) {
		struct pollfd p = { .fd = c->fd, .events = events };
		int64_t left = c->deadline ? c->deadline - dcr_monotonic_ms() : -1;
		int n;

		if (c->deadline && left <= 0) {
			c->late = true;
			return -1;
		}
		n = poll(&p, 1, left < 0 ? -1 : left > INT_MAX ? INT_MAX : (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR) {
			c->gone = true;
			return -1;
		}
	}
}

static int chan_write(struct chan *c, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_ready(c, POLLOUT) < 0)
				return -1;
		} else if (n < 0 && errno != EINTR) {
			c->gone = true;
			return -1;
		}
	}
	return 0;
}

static int chan_read(struct chan *c, void *data, size_t len)
{
	uint8_t *p = data;

	while (len > 0) {
		ssize_t n = recv(c->fd, p, len, MSG_DONTWAIT);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_ready(c, POLLIN) < 0)
				return -1;
		} else if (n == 0 || errno != EINTR) {
			c->gone = true;
			return -1;
		}
	}
	return 0;
}

/* A frame whose payload is a then b (either may be empty). */
static int send_frame(struct chan *c, int type, const void *a, size_t alen, const void *b, size_t blen)
{
	uint8_t head[5] = { (uint8_t)type };
	uint32_t len = (uint32_t)(alen + blen);

	for (int i = 0; i < 4; i++)
		head[1 + i] = (uint8_t)(len >> (8 * i));
	if (chan_write(c, head, sizeof(head)) < 0 || (alen && chan_write(c, a, alen) < 0) ||
	    (blen && chan_write(c, b, blen) < 0))
		return -1;
	return 0;
}

/* A DCR_E* code as the frames carry it: 4 bytes, little-endian; put_i32 gives back p. */
static uint8_t *put_i32(uint8_t p[static 4], int code)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)((uint32_t)code >> (8 * i));
	return p;
}

/* One of the DCR_E* codes, or DCR_ECOMPUTE for anything else. */
static int get_i32(const uint8_t p[static 4])
{
	int32_t code = (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);

	return code > DCR_EFAIL || code < DCR_EEXIST ? DCR_ECOMPUTE : code;
}

static int send_fail_as(struct chan *c, int type, int code, const char *msg)
{
	uint8_t head[4];

	return send_frame(c, type, put_i32(head, code), sizeof(head), msg, strlen(msg));
}

static int send_fail(struct chan *c, int code, const char *msg)
{
	return send_fail_as(c, MSG_FAIL, code, msg);
}

static int recv_head(struct chan *c, int *type, uint32_t *len)
{
	uint8_t head[5];

	if (chan_read(c, head, sizeof(head)) < 0)
		return -1;
	*type = head[0];
	*len = (uint32_t)head[1] | (uint32_t)head[2] << 8 | (uint32_t)head[3] << 16 | (uint32_t)head[4] << 24;
	return 0;
}

/* A frame of at most cap bytes into buf; a longer one breaks the protocol. */
static int recv_frame(struct chan *c, int *type, uint8_t *buf, size_t cap, size_t *len)
{
	uint32_t n;

	if (recv_head(c, type, &n) < 0)
		return -1;
	if (n > cap) {
		c->gone = true;
		return -1;
	}
	*len = n;
	return chan_read(c, buf, n);
}

/* A FAIL frame's code and message; a code that is no DCR_E* is a failed computation. */
static int parse_fail(const uint8_t *p, size_t len, struct dcr_err *err)
{
	if (len < 4)
		return dcr_err_set(err, DCR_ECOMPUTE, "the SQL worker failed without saying why");
	len -= 4;
	return dcr_err_set(err, get_i32(p), "%.*s", (int)(len < DCR_ERR_MSG_MAX ? len : DCR_ERR_MSG_MAX - 1), p + 4);
}

/* ---- dcrd's side ---- */

struct parent {
	struct chan c;
	const char *name;
	uint64_t time_ms;
	pid_t pid;
	bool stopped;              /* the worker sent STOP for the table on its way */
	int stop_code;             /* the code it sent with it */
	uint8_t *csv;              /* the result so far */
	size_t len, cap, max;
	uint8_t *frame;            /* FRAME_MAX bytes */
	char refused[NODE_NAME_MAX + 1]; /* a node the worker asked for and may not have */
	bool fresh;                /* a worker that ran no job yet (spawn_worker): only it gets the table key */
};

/*
 * The worker's whole environment, nothing of dcrd's: results must not
 * depend on the host's TZ or locale, and DuckDB reads HOME (its secret
 * directory), DUCKDB_* and ICU_DATA. A sanitizer build also gets its RSS
 * limit, for RLIMIT_DATA cannot work there (worker_limit), and no leak
 * check at exit (seccomp denies LeakSanitizer's ptrace; the same code runs
 * in the tests' own process, leak-checked).
 */
static void worker_env(char asan[static 128], uint64_t max_memory, char *env[static 7])
{
	size_t n = 0;

	env[n++] = "TZ=UTC";
	env[n++] = "LANG=C";
	env[n++] = "LC_ALL=C";
	env[n++] = "HOME=/nonexistent";
	/*
	 * DuckDB's jemalloc (its MALLOC_CONF under DuckDB's prefix) gives freed
	 * memory back to the kernel rather than keeping it mapped: kept, it
	 * counts against RLIMIT_DATA, and a 2 GiB load at 512 MiB outgrew the
	 * limit by that alone (docs/decisions.md).
	 */
	env[n++] = "DUCKDB_JE_MALLOC_CONF=retain:false";
	if (SANITIZED) {
		/* Twice the budget and 512 MiB: redzones, and a quarantine of freed memory cut to 64 MiB. */
		snprintf(asan, 128, "ASAN_OPTIONS=detect_leaks=0:quarantine_size_mb=64:hard_rss_limit_mb=%" PRIu64,
			(2 * max_memory + (UINT64_C(512) << 20)) >> 20);
		env[n++] = asan;
	}
	env[n] = NULL;
}

/*
 * The worker, on a socket of its own as descriptor WORKER_FD, with
 * standard input, output and error on /dev/null (what a crash or DuckDB's
 * profiler would print is not for the host's log; a sanitizer build keeps
 * dcrd's, for its reports), no other descriptor, default signals, in a
 * process group of its own, with worker_env's environment. It is this executable, whatever replaced it on disk since:
 * a new program, so nothing of dcrd's memory (keys) is in it.
 */
static int spawn_worker(struct parent *p, uint64_t max_memory, struct dcr_err *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	char parent[24], asan[128], *env[7];
	char *argv[] = { "dcrd", "sql-worker", parent, NULL };
	int sv[2], r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot start the SQL worker");
	/* dup2 onto itself would leave close-on-exec set. */
	if (sv[1] == WORKER_FD) {
		int moved = fcntl(sv[1], F_DUPFD_CLOEXEC, WORKER_FD + 1);

		close(sv[1]);
		if ((sv[1] = moved) < 0) {
			close(sv[0]);
			return dcr_err_errno(err, DCR_EIO, errno, "cannot start the SQL worker");
		}
	}
	snprintf(parent, sizeof(parent), "%ld", (long)getpid());
	worker_env(asan, max_memory, env);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	if ((r = posix_spawn_file_actions_adddup2(&fa, sv[1], WORKER_FD)) == 0 &&
	    (r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) == 0 &&
	    (r = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0)) == 0 &&
	    (SANITIZED || (r = posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0)) == 0) &&
	    (r = posix_spawn_file_actions_addclosefrom_np(&fa, WORKER_FD + 1)) == 0 &&
	    (r = posix_spawnattr_setsigmask(&at, &none)) == 0 && (r = posix_spawnattr_setsigdefault(&at, &all)) == 0 &&
	    (r = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
		     POSIX_SPAWN_SETPGROUP)) == 0)
		r = posix_spawn(&p->pid, "/proc/self/exe", &fa, &at, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(sv[1]);
	if (r != 0) {
		close(sv[0]);
		p->pid = 0;
		return dcr_err_errno(err, DCR_EIO, r, "cannot start the SQL worker");
	}
	p->c.fd = sv[0];
	p->fresh = true;
	return 0;
}

/* The worker, killed if it still runs, and reaped; a kill after the job is done is no failure. */
static void end_worker(struct parent *p, int *wstatus)
{
	pid_t w;

	*wstatus = 0;
	if (p->pid <= 0)
		return;
	(void)kill(p->pid, SIGKILL);
	do
		w = waitpid(p->pid, wstatus, 0);
	while (w < 0 && errno == EINTR);
	p->pid = 0;
}

/* Whether the worker asked for no more of the table being sent (STOP); a frame of another kind breaks the protocol. */
static bool worker_stopped(struct parent *p)
{
	struct pollfd pfd = { .fd = p->c.fd, .events = POLLIN };
	uint8_t code[4];
	uint32_t len;
	int type;

	if (p->stopped)
		return true;
	if (poll(&pfd, 1, 0) <= 0)
		return false;
	if (recv_head(&p->c, &type, &len) < 0)
		return true;
	if (type != MSG_STOP || len != 4 || chan_read(&p->c, code, sizeof(code)) < 0) {
		p->c.gone = true;
		return true;
	}
	p->stopped = true;
	p->stop_code = get_i32(code);
	return true;
}

/* The plaintext in->read streams, in frames to the worker. */
static int to_worker(void *ctx, const uint8_t *buf, size_t len, struct dcr_err *err)
{
	struct parent *p = ctx;

	while (len > 0) {
		size_t n = len < FRAME_MAX ? len : FRAME_MAX;

		/* A table the worker found does not fit its schema: the hashing goes on, to tell a replaced blob. */
		if (worker_stopped(p) && !p->c.gone)
			return dcr_err_set(err, p->stop_code == DCR_EINVALID ? DCR_EINVALID : DCR_ECOMPUTE,
				"the SQL worker takes no more of this data");
		if (p->c.gone || send_frame(&p->c, MSG_DATA, buf, n, NULL, 0) < 0)
			return dcr_err_set(err, DCR_ECOMPUTE, "the SQL worker takes no more data");
		buf += n;
		len -= n;
	}
	return 0;
}

/* Whether computation name of def is a duckdb one. */
static bool duck_named(const Dcr__V1__RoomDefinition *def, const char *name)
{
	for (size_t i = 0; i < def->n_compute; i++)
		if (strcmp(def->compute[i]->name, name) == 0)
			return duck_computation(def->compute[i]);
	return false;
}

/*
 * Whether the worker of p's computation may have node (a NUL-terminated
 * name of len bytes, into node): for a duckdb computation only a table
 * without a privacy rule, the only nodes its query can read, so that a
 * worker taken over through DuckDB gets no other (an SQLite worker applies
 * the privacy rules itself). A worker that asks for another is done with.
 */
static bool worker_may_read(struct parent *p, const Dcr__V1__RoomDefinition *def, const uint8_t *name, size_t len,
	char node[static NODE_NAME_MAX + 1])
{
	if (len == 0 || len > NODE_NAME_MAX || memchr(name, '\0', len)) {
		p->c.gone = true;
		return false;
	}
	memcpy(node, name, len);
	node[len] = '\0';
	if (duck_named(def, p->name) && !duck_may_read(def, node)) {
		memcpy(p->refused, node, len + 1);
		p->c.gone = true;
		return false;
	}
	return true;
}

/* The worker wants node: its plaintext, or why it cannot have it. */
static int serve_read(struct parent *p, const Dcr__V1__RoomDefinition *def, const struct work_inputs *in,
	const uint8_t *name, size_t len)
{
	char node[NODE_NAME_MAX + 1];
	struct dcr_err rerr;
	int r;

	if (!worker_may_read(p, def, name, len, node))
		return -1;
	p->stopped = false;
	r = in->read(in->ctx, node, to_worker, p, &rerr);
	if (p->c.late || p->c.gone)
		return -1;
	/*
	 * The worker knows why it stopped, unless the data was not what was
	 * published (read_input hashes it to the end for that): then the
	 * integrity failure is what the job says. Anything else is the input's
	 * failure, which the worker reports as its own.
	 */
	if (r == 0 || (p->stopped && r != DCR_EINTEGRITY))
		return send_frame(&p->c, MSG_END, NULL, 0, NULL, 0);
	return send_fail(&p->c, r, rerr.msg);
}

/* The worker wants to know which dataset is published to node: its SHA-256, or why not. */
static int serve_ident(struct parent *p, const Dcr__V1__RoomDefinition *def, const struct work_inputs *in,
	const uint8_t *name, size_t len)
{
	char node[NODE_NAME_MAX + 1];
	uint8_t sha[DCR_SHA256_LEN + 8];
	struct dcr_err ierr;
	uint64_t size = 0;
	int r;

	if (!in->identify) {
		p->c.gone = true;
		return -1;
	}
	if (!worker_may_read(p, def, name, len, node))
		return -1;
	if ((r = in->identify(in->ctx, node, sha, &size, &ierr)) < 0)
		return send_fail(&p->c, r, ierr.msg);
	put_u64(sha + DCR_SHA256_LEN, size);
	return send_frame(&p->c, MSG_IDENT, sha, sizeof(sha), NULL, 0);
}

static int add_result(struct parent *p, const uint8_t *buf, size_t len)
{
	if (len > p->max - p->len || dcr_secure_reserve(&p->csv, &p->cap, p->len, p->len + len, p->max) < 0) {
		p->c.gone = true;
		return -1;
	}
	memcpy(p->csv + p->len, buf, len);
	p->len += len;
	return 0;
}

/* What the worker's end says, when it did not send a result or a failure. */
static int worker_lost(struct parent *p, int wstatus, struct dcr_err *err)
{
	if (p->c.late)
		return sql_out_of_time(p->name, p->time_ms, err);
	if (WIFSIGNALED(wstatus) && WTERMSIG(wstatus) != SIGKILL)
		return dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': the SQL worker was killed by signal %d",
			p->name, WTERMSIG(wstatus));
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) != 0)
		return dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': the SQL worker failed (exit status %d)",
			p->name, WEXITSTATUS(wstatus));
	return dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': the SQL worker broke off", p->name);
}

/*
 * The conversation, from the job (type JOB, or CHECK with p->name "") to
 * the worker's last word: 0 (result in p), < 0 (err set), 1 (worker
 * lost), 2 (AGAIN: run it again, every table in the store first) or 3
 * (ANEW from a worker that ran a job before: run it in a new one).
 */
static int converse(struct parent *p, int job_type, uint64_t flags, const Dcr__V1__RoomDefinition *def,
	const struct work_inputs *in,
	const struct sql_limits *lim, struct sql_result *out, struct dcr_err *err)
{
	const struct table_store *ts = in && in->identify ? in->store : NULL;
	const char *dir = ts ? ts->dir : "", *jobdir = ts ? ts->job : "";
	size_t def_len = dcr__v1__room_definition__get_packed_size(def), n;
	size_t head = JOB_LIMITS + strlen(p->name) + 1 + strlen(dir) + 1 + strlen(jobdir) + 1 + 32, at = JOB_LIMITS;
	uint8_t *job;
	int type, r;

	if (def_len > JOB_MAX - head)
		return dcr_err_set(err, DCR_ECOMPUTE, "the room's definition is too large for the SQL worker");
	if (!(job = malloc(head + def_len)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	put_u64(job, p->time_ms);
	put_u64(job + 8, lim->max_result_bytes);
	put_u64(job + 16, lim->max_memory);
	put_u64(job + 24, lim->threads);
	put_u64(job + 32, flags);
	for (size_t i = 0; i < 3; i++) {
		const char *s = i == 0 ? p->name : i == 1 ? dir : jobdir;

		memcpy(job + at, s, strlen(s) + 1);
		at += strlen(s) + 1;
	}
	if (ts && p->fresh)
		memcpy(job + at, ts->key, 32);
	else
		memset(job + at, 0, 32);
	dcr__v1__room_definition__pack(def, job + head);
	r = send_frame(&p->c, job_type, job, head + def_len, NULL, 0);
	dcr_wipe(job, head);
	free(job);
	if (r < 0)
		return 1;
	for (;;) {
		if (recv_frame(&p->c, &type, p->frame, FRAME_MAX, &n) < 0)
			return 1;
		switch (type) {
		case MSG_READ:
			if (!in || serve_read(p, def, in, p->frame, n) < 0)
				return 1;
			break;
		case MSG_IDENT:
			if (!in || serve_ident(p, def, in, p->frame, n) < 0)
				return 1;
			break;
		case MSG_DATA:
			if (add_result(p, p->frame, n) < 0)
				return 1;
			break;
		case MSG_DONE:
			/* Keeping only where there is a store to keep in. */
			if (n != DONE_LEN || p->frame[16] > 1 || p->frame[17] > (ts && ts->job[0] ? 1 : 0))
				return 1;
			out->rows = get_u64(p->frame);
			out->groups_suppressed = get_u64(p->frame + 8);
			out->thresholded = p->frame[16];
			out->keeping = p->frame[17];
			return 0;
		case MSG_FAIL:
			return parse_fail(p->frame, n, err);
		case MSG_AGAIN:
			(void)parse_fail(p->frame, n, err);
			return 2;
		case MSG_ANEW:
			(void)parse_fail(p->frame, n, err);
			/* From a new worker, which holds nothing, it breaks the protocol. */
			return p->fresh ? 1 : 3;
		case MSG_STOP:
			/* For a table that was all sent before the worker found it could not load it. */
			break;
		default:
			p->c.gone = true;
			return 1;
		}
	}
}

/* ---- warm workers ---- */

/*
 * The workers kept between jobs, at most one per room (a room runs one job
 * at a time) and WARM_MAX in all: each ended its last job well (DONE) and
 * waits, confined, for the next job of the same room with the same memory
 * limit; it holds nothing of the jobs it ran (sql_worker_main), but a
 * DuckDB one its last job's database (duck_held; DUCK_WARM_MAX). The reaper
 * thread ends those idle for longer than idle_ms; sql_pool_stop ends all.
 */
#define WARM_MAX 64
#define DUCK_WARM_MAX 2            /* of which hold a DuckDB database (up to the job's memory each) */

struct warm {
	char room_id[65];          /* its key (sql_run_warm's room_id) */
	bool duck;                 /* it holds the database of its last job, a duckdb one */
	char room[65];             /* and then that job's room ID (sql_pool_end_room) */
	uint64_t max_memory;
	pid_t pid;
	int fd;
	unsigned jobs;             /* jobs it ran */
	int64_t idle_since;        /* dcr_monotonic_ms */
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;         /* on CLOCK_MONOTONIC: the reaper's */
	struct warm idle[WARM_MAX];
	unsigned n;
	uint64_t idle_ms, duck_idle_ms; /* how long a worker waits idle: a SQLite job's, one holding a DuckDB database */
	unsigned max_jobs;
	bool started, stop;
	pthread_t reaper;
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* Kill and reap a worker that is no job's. */
static void warm_end(pid_t pid, int fd)
{
	/* Never kill(0): that is dcrd's own process group. */
	if (pid > 0)
		(void)kill(pid, SIGKILL);
	while (pid > 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	if (fd >= 0)
		close(fd);
}

static void *reaper_main(void *arg)
{
	pthread_mutex_lock(&pool.mu);
	while (!pool.stop) {
		int64_t now = dcr_monotonic_ms(), next = INT64_MAX;
		struct warm gone[WARM_MAX];
		unsigned n_gone = 0;

		for (unsigned i = 0; i < pool.n;) {
			int64_t until = pool.idle[i].idle_since + (int64_t)(pool.idle[i].duck ? pool.duck_idle_ms :
				pool.idle_ms);

			if (now >= until) {
				gone[n_gone++] = pool.idle[i];
				pool.idle[i] = pool.idle[--pool.n];
				continue;
			}
			next = until < next ? until : next;
			i++;
		}
		if (n_gone) {
			pthread_mutex_unlock(&pool.mu);
			for (unsigned i = 0; i < n_gone; i++)
				warm_end(gone[i].pid, gone[i].fd);
			pthread_mutex_lock(&pool.mu);
			continue;
		}
		if (next == INT64_MAX) {
			pthread_cond_wait(&pool.cv, &pool.mu);
		} else {
			struct timespec at = { .tv_sec = (time_t)(next / 1000), .tv_nsec = (long)(next % 1000) * 1000000L };

			pthread_cond_timedwait(&pool.cv, &pool.mu, &at);
		}
	}
	pthread_mutex_unlock(&pool.mu);
	return NULL;
}

/*
 * Whether this kernel interface has seccomp, asked without changing
 * anything. Where it has none (Gramine: SGX) a worker runs unconfined,
 * and an unconfined worker is never kept (review W-1).
 */
static bool seccomp_available(void)
{
	uint32_t action = SECCOMP_RET_KILL_PROCESS;

	return syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
}

int sql_pool_start(uint64_t idle_ms, uint64_t duck_idle_ms, unsigned max_jobs, struct dcr_err *err)
{
	pthread_condattr_t ca;
	int r;

	if (pool.started || (idle_ms == 0 && duck_idle_ms == 0) || max_jobs <= 1 || !seccomp_available())
		return 0;
	pool.idle_ms = idle_ms;
	pool.duck_idle_ms = duck_idle_ms;
	pool.max_jobs = max_jobs;
	pool.stop = false;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	r = pthread_cond_init(&pool.cv, &ca);
	pthread_condattr_destroy(&ca);
	if (r != 0)
		return dcr_err_errno(err, DCR_EIO, r, "cannot keep SQL workers");
	if ((r = pthread_create(&pool.reaper, NULL, reaper_main, NULL)) != 0) {
		pthread_cond_destroy(&pool.cv);
		return dcr_err_errno(err, DCR_EIO, r, "cannot keep SQL workers");
	}
	pool.started = true;
	return 0;
}

void sql_pool_stop(void)
{
	if (!pool.started)
		return;
	pthread_mutex_lock(&pool.mu);
	pool.stop = true;
	pthread_cond_signal(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
	pthread_join(pool.reaper, NULL);
	for (unsigned i = 0; i < pool.n; i++)
		warm_end(pool.idle[i].pid, pool.idle[i].fd);
	pool.n = 0;
	pthread_cond_destroy(&pool.cv);
	pool.started = false;
}

void sql_pool_end_room(const char *room_id)
{
	struct warm gone[WARM_MAX];
	unsigned n_gone = 0;

	pthread_mutex_lock(&pool.mu);
	for (unsigned i = 0; i < pool.n;)
		if (pool.idle[i].duck && strcmp(pool.idle[i].room, room_id) == 0) {
			gone[n_gone++] = pool.idle[i];
			pool.idle[i] = pool.idle[--pool.n];
		} else {
			i++;
		}
	pthread_mutex_unlock(&pool.mu);
	for (unsigned i = 0; i < n_gone; i++)
		warm_end(gone[i].pid, gone[i].fd);
}

unsigned sql_pool_idle(void)
{
	unsigned n;

	pthread_mutex_lock(&pool.mu);
	n = pool.n;
	pthread_mutex_unlock(&pool.mu);
	return n;
}

/* The room's idle worker for max_memory, taken out of the pool into p (*jobs: what it ran); false: none. */
static bool warm_take(const char *room_id, uint64_t max_memory, struct parent *p, unsigned *jobs)
{
	struct warm w = { .pid = 0 };

	pthread_mutex_lock(&pool.mu);
	for (unsigned i = 0; i < pool.n; i++)
		if (strcmp(pool.idle[i].room_id, room_id) == 0 && pool.idle[i].max_memory == max_memory) {
			w = pool.idle[i];
			pool.idle[i] = pool.idle[--pool.n];
			break;
		}
	pthread_mutex_unlock(&pool.mu);
	if (w.pid <= 0)
		return false;
	/* Ended while idle (killed from outside): reaped here, and the job gets a new one. */
	if (waitpid(w.pid, NULL, WNOHANG) != 0) {
		close(w.fd);
		return false;
	}
	p->pid = w.pid;
	p->c.fd = w.fd;
	p->fresh = false;
	*jobs = w.jobs;
	return true;
}

/* The slot of pool.idle that the worker kept for room_id takes: its own, or one freed (*evicted: its worker). */
static unsigned warm_slot(const char *room_id, bool duck, struct warm *evicted)
{
	unsigned at, ducks = 0, oldest_duck = WARM_MAX;

	/* One per room: another the room's (which dcrd does not make) goes. */
	for (at = 0; at < pool.n && strcmp(pool.idle[at].room_id, room_id) != 0; at++)
		;
	if (at < pool.n) {
		*evicted = pool.idle[at];
		return at;
	}
	for (unsigned i = 0; i < pool.n; i++)
		if (pool.idle[i].duck && (ducks++, oldest_duck == WARM_MAX ||
		    pool.idle[i].idle_since < pool.idle[oldest_duck].idle_since))
			oldest_duck = i;
	/* At most DUCK_WARM_MAX holding DuckDB databases: the one idle longest goes. */
	if (duck && ducks >= DUCK_WARM_MAX) {
		*evicted = pool.idle[oldest_duck];
		return oldest_duck;
	}
	/* When full, the one idle longest. */
	if (pool.n == WARM_MAX) {
		at = 0;
		for (unsigned i = 1; i < pool.n; i++)
			if (pool.idle[i].idle_since < pool.idle[at].idle_since)
				at = i;
		*evicted = pool.idle[at];
		return at;
	}
	return pool.n++;
}

/*
 * Keep p's worker, which ran jobs jobs and the last well (duck, not NULL:
 * a duckdb job of that room ID, whose database it holds), for the room's
 * next; false: it is not (p unchanged).
 */
static bool warm_keep(const char *room_id, const char *duck, uint64_t max_memory, struct parent *p, unsigned jobs)
{
	struct warm evicted = { .pid = 0 };
	unsigned at;

	if (!pool.started || jobs >= pool.max_jobs || strlen(room_id) >= sizeof(evicted.room_id) ||
	    (duck && strlen(duck) >= sizeof(evicted.room)) || (duck ? pool.duck_idle_ms : pool.idle_ms) == 0)
		return false;
	pthread_mutex_lock(&pool.mu);
	if (pool.stop) {
		pthread_mutex_unlock(&pool.mu);
		return false;
	}
	at = warm_slot(room_id, duck != NULL, &evicted);
	pool.idle[at] = (struct warm){ .duck = duck != NULL, .max_memory = max_memory, .pid = p->pid, .fd = p->c.fd,
		.jobs = jobs, .idle_since = dcr_monotonic_ms() };
	memcpy(pool.idle[at].room_id, room_id, strlen(room_id) + 1);
	if (duck)
		memcpy(pool.idle[at].room, duck, strlen(duck) + 1);
	pthread_cond_signal(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
	if (evicted.pid > 0)
		warm_end(evicted.pid, evicted.fd);
	p->pid = 0;
	p->c.fd = -1;
	return true;
}

/* ---- the table store written beside the answer ---- */

/*
 * The table stores (their directories) whose tables this dcrd loads into
 * the store first (JOB_STORE_FIRST), for a keeper or a query ran out of
 * memory beside a table loaded in memory: the next job would again. The
 * last STORE_FIRST_MAX, until dcrd stops.
 */
#define STORE_FIRST_MAX 16
static struct {
	pthread_mutex_t mu;
	char dir[STORE_FIRST_MAX][TABLE_STORE_PATH_MAX];
	unsigned next;
} store_first = { .mu = PTHREAD_MUTEX_INITIALIZER };

static bool is_store_first(const char *dir)
{
	bool found = false;

	pthread_mutex_lock(&store_first.mu);
	for (unsigned i = 0; i < STORE_FIRST_MAX && !found; i++)
		found = strcmp(store_first.dir[i], dir) == 0;
	pthread_mutex_unlock(&store_first.mu);
	return found;
}

static void remember_store_first(const char *dir)
{
	bool found = false;

	if (!dir[0] || strlen(dir) >= TABLE_STORE_PATH_MAX)
		return;
	pthread_mutex_lock(&store_first.mu);
	for (unsigned i = 0; i < STORE_FIRST_MAX && !found; i++)
		found = strcmp(store_first.dir[i], dir) == 0;
	if (!found)
		memcpy(store_first.dir[store_first.next++ % STORE_FIRST_MAX], dir, strlen(dir) + 1);
	pthread_mutex_unlock(&store_first.mu);
}

/* Whether err is DuckDB's memory limit reached (its message, as duckwork.c's out_of_memory reads it). */
static bool duck_out_of_memory(const struct dcr_err *err)
{
	return err->code == DCR_ENOMEM || strstr(err->msg, "Out of Memory") || strstr(err->msg, "could not allocate") ||
		strstr(err->msg, "bad_alloc");
}

struct sql_keeping {
	struct parent p;           /* the worker: pid, socket and the job's deadline */
	struct table_store ts;     /* a copy of the job's, which this closes */
	char room_id[65];          /* its warm key (sql_run_warm), "": it is not kept afterwards */
	char room[65];             /* the job's room ID */
	uint64_t max_memory;
	unsigned jobs;             /* the jobs it ran, this one included */
};

/* p's worker, which answered with keeping: its KEPT (*held: whether it holds the job's database) or FAIL. */
static int keep_wait(struct parent *p, bool *held, struct dcr_err *err)
{
	uint8_t frame[DCR_ERR_MSG_MAX + 8];
	size_t n = 0;
	int type;

	if (recv_frame(&p->c, &type, frame, sizeof(frame), &n) < 0)
		return p->c.late ? sql_out_of_time(p->name, p->time_ms, err) :
			dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': the SQL worker broke off", p->name);
	if (type == MSG_FAIL)
		return parse_fail(frame, n, err);
	if (type != MSG_KEPT || n != 1 || frame[0] > 1)
		return dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': the SQL worker broke the protocol", p->name);
	*held = frame[0];
	return 0;
}

/* A worker that was allowed to hold its job's database (JOB_MAY_KEEP) said it did not: one line, no user data (M-9). */
static void log_not_held(void)
{
	fprintf(stderr, "dcrd: a SQL worker allowed to hold its computation's tables did not (their compression "
		"failed, or it could not hold them); the room's next job loads them from the table store\n");
}

int sql_keep_finish(struct sql_keeping *k, struct dcr_err *err)
{
	bool held = false;
	int wstatus, r;

	if (!k)
		return 0;
	if ((r = keep_wait(&k->p, &held, err)) < 0 && err && duck_out_of_memory(err))
		remember_store_first(k->ts.dir);
	if (r == 0 && !held && k->room_id[0] && pool.duck_idle_ms)
		log_not_held();
	/* Kept, it holds the job's database with the tables in memory, for the next job of its key. */
	if (!(r == 0 && held && k->room_id[0] && warm_keep(k->room_id, k->room, k->max_memory, &k->p, k->jobs))) {
		end_worker(&k->p, &wstatus);
		close(k->p.c.fd);
	}
	table_store_close(&k->ts);
	free(k);
	return r;
}

/* p's worker ended, and a new one in p for the rest of the same job (its deadline, name, limits and buffers). */
static int respawn(struct parent *p, uint64_t max_memory, struct dcr_err *err)
{
	int wstatus;

	end_worker(p, &wstatus);
	close(p->c.fd);
	*p = (struct parent){ .c = { .fd = -1, .deadline = p->c.deadline }, .name = p->name, .time_ms = p->time_ms,
		.max = p->max, .frame = p->frame, .csv = p->csv, .cap = p->cap };
	return spawn_worker(p, max_memory, err);
}

/* A job in a worker: a new one, or with room_id (not NULL) the room's warm one, kept afterwards if it can be. */
static int run_job(const char *room_id, const Dcr__V1__RoomDefinition *def, const char *name,
	const struct work_inputs *in, const struct sql_limits *lim, struct sql_result *out, struct dcr_err *err)
{
	struct sql_limits l = lim ? *lim : (struct sql_limits){ 0 };
	struct parent p = { .c = { .fd = -1 }, .name = name };
	const struct table_store *ts = in && in->identify && in->store ? in->store : NULL;
	uint64_t flags = (ts && is_store_first(ts->dir) ? JOB_STORE_FIRST : 0) |
		(room_id && pool.duck_idle_ms ? JOB_MAY_KEEP : 0);
	/* The room of a duckdb job: its table store's (table_store_room), "": none. */
	const char *room = ts && table_store_room(ts) ? table_store_room(ts) : "";
	struct sql_result res = { 0 };
	unsigned jobs = 0;
	int wstatus, r = 0;

	memset(out, 0, sizeof(*out));
	sql_limits_resolve(&l);
	p.time_ms = l.time_ms;
	p.max = (size_t)l.max_result_bytes;
	p.c.deadline = dcr_monotonic_ms() + (int64_t)p.time_ms;
	if (!(p.frame = malloc(FRAME_MAX)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if ((room_id && warm_take(room_id, l.max_memory, &p, &jobs)) || (r = spawn_worker(&p, l.max_memory, err)) == 0) {
		r = converse(&p, MSG_JOB, flags, def, in, &l, &res, err);
		/* A kept worker whose tables are no longer the job's (a dataset was published again): a new one. */
		if (r == 3 && (r = respawn(&p, l.max_memory, err)) == 0) {
			jobs = 0;
			memset(&res, 0, sizeof(res));
			r = converse(&p, MSG_JOB, flags, def, in, &l, &res, err);
		}
		/* Out of memory beside a table loaded in memory: once more, every table in the store first (as before). */
		if (r == 2 && ts && !(flags & JOB_STORE_FIRST)) {
			remember_store_first(ts->dir);
			jobs = 0;
			memset(&res, 0, sizeof(res));
			if ((r = respawn(&p, l.max_memory, err)) == 0)
				r = converse(&p, MSG_JOB, flags | JOB_STORE_FIRST, def, in, &l, &res, err);
		}
		if (r == 2)
			r = err && err->code < 0 ? err->code : DCR_ECOMPUTE;
		/* The answer is here; the worker writes the store: the caller waits for it later, or this now. */
		if (r == 0 && res.keeping) {
			struct sql_keeping *k = in->keeping ? calloc(1, sizeof(*k)) : NULL;
			struct dcr_err kerr;
			bool held = false;

			res.keeping = k != NULL;
			if (k) {
				k->p = (struct parent){ .c = p.c, .name = name, .time_ms = p.time_ms, .pid = p.pid };
				k->ts = *in->store;
				if (room_id && strlen(room_id) < sizeof(k->room_id) && strlen(room) < sizeof(k->room)) {
					memcpy(k->room_id, room_id, strlen(room_id) + 1);
					memcpy(k->room, room, strlen(room) + 1);
				}
				k->max_memory = l.max_memory;
				k->jobs = jobs + 1;
				*in->keeping = k;
				p.pid = 0;
				p.c.fd = -1;
				/* Whether it is kept is sql_keep_finish's word: no slot here for its worker (M-1). */
				room_id = NULL;
			} else if (keep_wait(&p, &held, &kerr) < 0) {
				fprintf(stderr, "dcrd: computation's tables not kept in the table store (%s)\n",
					dcr_err_name(kerr.code));
				/* Its word is not the one the next job would expect: not kept (review R7-1). */
				room_id = NULL;
			} else if (!held) {
				/* It holds no database: its next job would only answer ANEW. */
				if (flags & JOB_MAY_KEEP)
					log_not_held();
				room_id = NULL;
			}
		}
		/* Done or not, it goes, unless it ended well and is kept: it has nothing more to do, or no more time. */
		if (!(r == 0 && room_id && warm_keep(room_id, duck_named(def, name) ? room : NULL, l.max_memory, &p,
			jobs + 1))) {
			end_worker(&p, &wstatus);
			if (r == 1 && p.refused[0])
				r = dcr_err_set(err, DCR_ECOMPUTE, "computation '%s': the SQL worker asked for node '%s', "
					"which a duckdb computation cannot read", name, p.refused);
			else if (r == 1)
				r = worker_lost(&p, wstatus, err);
		}
	}
	if (p.c.fd >= 0)
		close(p.c.fd);
	dcr_wipe(p.frame, FRAME_MAX);
	free(p.frame);
	if (r < 0) {
		dcr_wipe(p.csv, p.cap);
		free(p.csv);
		return r;
	}
	*out = res;
	out->csv = p.csv;
	out->len = p.len;
	return 0;
}

int sql_run_isolated(const Dcr__V1__RoomDefinition *def, const char *name, const struct work_inputs *in,
	const struct sql_limits *lim, struct sql_result *out, struct dcr_err *err)
{
	return run_job(NULL, def, name, in, lim, out, err);
}

int sql_run_warm(const char *room_id, const Dcr__V1__RoomDefinition *def, const char *name,
	const struct work_inputs *in, const struct sql_limits *lim, struct sql_result *out, struct dcr_err *err)
{
	/* A DuckDB job's kept worker serves only with the table store: it holds its database (duck_held). */
	return run_job(pool.started && (!duck_named(def, name) || (in && in->identify && in->store)) ? room_id : NULL,
		def, name, in, lim, out, err);
}

int sql_check_isolated(const Dcr__V1__RoomDefinition *def, struct dcr_err *err)
{
	struct sql_limits l = { .time_ms = CHECK_TIME_MS, .max_result_bytes = 1, .max_memory = CHECK_MEMORY };
	struct parent p = { .c = { .fd = -1 }, .name = "", .time_ms = CHECK_TIME_MS };
	struct sql_result res = { 0 };
	bool any = false;
	int wstatus, r;

	for (size_t i = 0; i < def->n_compute; i++)
		any = any || duck_computation(def->compute[i]);
	if (!any)
		return 0;
	p.c.deadline = dcr_monotonic_ms() + CHECK_TIME_MS;
	if (!(p.frame = malloc(FRAME_MAX)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if ((r = spawn_worker(&p, l.max_memory, err)) == 0) {
		r = converse(&p, MSG_CHECK, 0, def, NULL, &l, &res, err);
		end_worker(&p, &wstatus);
		if (r == 1 && p.c.late)
			r = dcr_err_set(err, DCR_EINVALID, "the room's duckdb queries are refused: compiling them took "
				"more than %d s", CHECK_TIME_MS / 1000);
		else if (r == 1 || r == DCR_ENOMEM)
			r = dcr_err_set(err, DCR_EINVALID, "the room's duckdb queries are refused: compiling them took "
				"more than %" PRIu64 " MiB of memory, or failed", (CHECK_MEMORY + PROCESS_HEADROOM) >> 20);
	}
	if (p.c.fd >= 0)
		close(p.c.fd);
	free(p.frame);
	free(p.csv);
	return r;
}

/* ---- the worker's side ---- */

/* in->read for sql_run: ask dcrd, and feed the sink what comes back. */
static int from_dcrd(void *ctx, const char *node, dcr_stream_sink *sink, void *sink_ctx, struct dcr_err *err)
{
	struct chan *c = ctx;
	uint8_t *buf = malloc(FRAME_MAX), stop[4];
	struct dcr_err sink_err;
	size_t n;
	int type, r = 0;

	if (!buf)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if (send_frame(c, MSG_READ, node, strlen(node), NULL, 0) < 0)
		goto lost;
	for (;;) {
		if (recv_frame(c, &type, buf, FRAME_MAX, &n) < 0)
			goto lost;
		if (type == MSG_DATA) {
			/* After a failure the rest is read and dropped, until dcrd sees the STOP. */
			if (r == 0 && (r = sink(sink_ctx, buf, n, &sink_err)) < 0 &&
			    send_frame(c, MSG_STOP, put_i32(stop, r), sizeof(stop), NULL, 0) < 0)
				goto lost;
		} else if (type == MSG_END) {
			break;
		} else if (type == MSG_FAIL) {
			struct dcr_err why;
			int code = parse_fail(buf, n, &why);

			/* The data was replaced: that, not what loading it found, is why the job fails. */
			if (r == 0 || code == DCR_EINTEGRITY) {
				r = code;
				sink_err = why;
			}
			break;
		} else {
			goto lost;
		}
	}
	dcr_wipe(buf, FRAME_MAX);
	free(buf);
	if (r < 0 && err)
		*err = sink_err;
	return r;
lost:
	dcr_wipe(buf, FRAME_MAX);
	free(buf);
	return dcr_err_set(err, DCR_EIO, "lost dcrd");
}

/* identify for sql_run: ask dcrd. */
static int ident_from_dcrd(void *ctx, const char *node, uint8_t sha256[static 32], uint64_t *size,
	struct dcr_err *err)
{
	struct chan *c = ctx;
	uint8_t buf[DCR_ERR_MSG_MAX + 4];
	size_t n;
	int type;

	if (send_frame(c, MSG_IDENT, node, strlen(node), NULL, 0) < 0 || recv_frame(c, &type, buf, sizeof(buf), &n) < 0)
		return dcr_err_set(err, DCR_EIO, "lost dcrd");
	if (type == MSG_FAIL)
		return parse_fail(buf, n, err);
	if (type != MSG_IDENT || n != DCR_SHA256_LEN + 8)
		return dcr_err_set(err, DCR_EIO, "lost dcrd");
	memcpy(sha256, buf, DCR_SHA256_LEN);
	*size = get_u64(buf + DCR_SHA256_LEN);
	return 0;
}

/* The next NUL-terminated string of the job at *at (below len), or NULL. */
static const char *job_string(const uint8_t *job, size_t len, size_t *at)
{
	const char *s = (const char *)job + *at;
	size_t n = strnlen(s, len - *at);

	if (n == len - *at)
		return NULL;
	*at += n + 1;
	return s;
}

/* The job dcrd sent (*type JOB or CHECK): its limits, the computation's name, the table store and the room (free def). */
static int read_job(struct chan *c, int *type, struct sql_limits *lim, uint64_t *flags, char **name,
	struct table_store *ts, Dcr__V1__RoomDefinition **def, struct dcr_err *err)
{
	const char *n, *dir, *jobdir;
	uint8_t *job;
	uint32_t len;
	size_t at = JOB_LIMITS;

	if (recv_head(c, type, &len) < 0 || (*type != MSG_JOB && *type != MSG_CHECK) || len < JOB_LIMITS + 1 ||
	    len > JOB_MAX)
		return dcr_err_set(err, DCR_EIO, "no job from dcrd");
	if (!(job = malloc(len)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if (chan_read(c, job, len) < 0) {
		free(job);
		return dcr_err_set(err, DCR_EIO, "no job from dcrd");
	}
	lim->time_ms = get_u64(job);
	lim->max_result_bytes = get_u64(job + 8);
	lim->max_memory = get_u64(job + 16);
	lim->threads = get_u64(job + 24);
	*flags = get_u64(job + 32);
	*name = NULL;
	*def = NULL;
	if ((n = job_string(job, len, &at)) && (dir = job_string(job, len, &at)) &&
	    (jobdir = job_string(job, len, &at)) && len - at >= 32 && strlen(dir) < sizeof(ts->dir) &&
	    strlen(jobdir) < sizeof(ts->job) && (*name = strdup(n))) {
		memcpy(ts->dir, dir, strlen(dir) + 1);
		memcpy(ts->job, jobdir, strlen(jobdir) + 1);
		memcpy(ts->key, job + at, 32);
		at += 32;
		*def = dcr__v1__room_definition__unpack(NULL, len - at, job + at);
	}
	dcr_wipe(job, len);
	free(job);
	if (!*def) {
		free(*name);
		*name = NULL;
		return dcr_err_set(err, DCR_EIO, "a malformed job from dcrd");
	}
	return 0;
}

int sql_worker_confine(struct dcr_err *err)
{
	return sandbox_confine_worker(DENY_ERRNO, false, err);
}

/*
 * Where the kernel interface has no seccomp (Gramine: SGX), the worker
 * runs unconfined: SQLite jobs as before (its function allow-list), but no
 * DuckDB query, which nothing would then hold (review R1).
 */
static bool unconfined;

static int refuse_unconfined(const Dcr__V1__RoomDefinition *def, const char *name, int code, struct dcr_err *err)
{
	for (size_t i = 0; unconfined && i < def->n_compute; i++)
		if (duck_computation(def->compute[i]) && (!name[0] || strcmp(def->compute[i]->name, name) == 0))
			return dcr_err_set(err, code, "computation '%s' uses engine duckdb, which needs the SQL worker's "
				"seccomp confinement, and this platform has none", def->compute[i]->name);
	return 0;
}

/*
 * At most max_memory and the headroom of writable private memory
 * (RLIMIT_DATA: the heap, every allocator's mappings, thread stacks; what
 * seccomp leaves of shared memory is none): past it allocations fail, and
 * DuckDB reports running out of memory. Not in a sanitizer build, whose
 * shadow memory alone is terabytes: worker_env gives it a RSS limit.
 */
static int worker_limit(uint64_t max_memory, struct dcr_err *err)
{
	uint64_t cap = max_memory < UINT64_MAX - PROCESS_HEADROOM ? max_memory + PROCESS_HEADROOM : UINT64_MAX;
	struct rlimit rl = { (rlim_t)cap, (rlim_t)cap };

	sqlite3_hard_heap_limit64((sqlite3_int64)(max_memory < INT64_MAX - HEAP_HEADROOM ?
		max_memory + HEAP_HEADROOM : INT64_MAX));
	if (!SANITIZED && setrlimit(RLIMIT_DATA, &rl) < 0)
		return dcr_err_errno(err, DCR_EFAIL, errno, "cannot limit the SQL worker's memory");
	return 0;
}

/*
 * Set the worker up: it dies with dcrd (the signal comes when the thread
 * that spawned it ends, which waits for it), leaves no core dump, nothing
 * of its user may read its memory. It is confined (confine_now) once it
 * has its job (from dcrd), before any query is compiled or run on it.
 */
static int worker_setup(const char *parent, struct dcr_err *err)
{
	struct rlimit none = { 0, 0 };
	char *end;
	long ppid;

	errno = 0;
	ppid = strtol(parent, &end, 10);
	if (errno || end == parent || *end || ppid <= 1)
		return dcr_err_set(err, DCR_EUSAGE, "run by dcrd serve, not by hand");
	/* Not every kernel interface (Gramine's) has it; then dcrd's kill at the deadline is what ends a stuck job. */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != (pid_t)ppid)
		return dcr_err_set(err, DCR_EFAIL, "dcrd is gone");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || setrlimit(RLIMIT_CORE, &none) < 0)
		return dcr_err_errno(err, DCR_EFAIL, errno, "cannot protect the SQL worker's memory");
	if (fcntl(WORKER_FD, F_GETFD) < 0)
		return dcr_err_set(err, DCR_EUSAGE, "run by dcrd serve, not by hand");
	return dcr_sql_init(err);
}

/*
 * sql_worker_confine, or its first stage for a worker that loads tables
 * (sandbox_confine_worker's loading); where the kernel has no seccomp, the
 * worker goes on unconfined (refuse_unconfined).
 */
static int confine_now(bool loading, struct dcr_err *err)
{
	int r = sandbox_confine_worker(DENY_ERRNO, loading, err);

	if (r == DCR_EIO) {
		unconfined = true;
		r = 0;
	}
	return r;
}

/* The table store of this worker's job, whose key confine_for_store wipes. */
static struct table_store *job_store;

/*
 * work_inputs' confine for a job of a duckdb computation with the table
 * store, which duck_run calls once its tables are loaded, kept and
 * attached (files opened by path), before the query is compiled on them.
 * The room's table key goes first: it opens every table file of the room,
 * of other nodes and of datasets published later, and the query needs none
 * (review R5-3). Unconfined it does not go on.
 */
static int confine_for_store(struct dcr_err *err)
{
	int r;

	if (job_store)
		dcr_wipe(job_store->key, sizeof(job_store->key));
	r = sql_worker_confine(err);

	return r == DCR_EIO ? dcr_err_set(err, DCR_ECOMPUTE, "engine duckdb needs the SQL worker's seccomp "
		"confinement, and this platform has none") : r;
}

/*
 * One job of the worker's, from read_job on: its result (DATA, DONE) or
 * why not (FAIL) sent back. 0 when it ended well and the worker may take
 * another; 1 when it failed (and said so); < 0 when the worker cannot go
 * on (exit status 1). The first job sets the worker's limits and
 * confinement (*memory); later ones must be SQLite jobs of that same
 * memory limit, for the worker is confined and limited already.
 */
static int worker_job(struct chan *c, int type, const struct sql_limits *lim, uint64_t flags, const char *name,
	struct table_store *ts, const Dcr__V1__RoomDefinition *def, unsigned served, uint64_t *memory)
{
	bool again = false, anew = false;
	struct work_inputs in = { .read = from_dcrd, .ctx = c, .again = &again, .anew = &anew };
	struct sql_result res = { 0 };
	struct dcr_err err;
	uint8_t done[DONE_LEN];
	int r;

	if (served == 0) {
		*memory = lim->max_memory;
		if ((r = worker_limit(lim->max_memory, &err)) < 0) {
			fprintf(stderr, "dcrd: sql-worker: %s\n", err.msg);
			return r;
		}
		/*
		 * The store's files are opened by path: a duckdb job with it confines
		 * itself fully in duck_run, once its tables are in place, and loads
		 * them under the first stage (no program, socket or signal; review
		 * R5-1): the CSV it parses and appends is the parties'.
		 */
		if (type == MSG_JOB && ts->dir[0] && ts->job[0] && duck_named(def, name)) {
			in.identify = ident_from_dcrd;
			in.store = job_store = ts;
			in.confine = confine_for_store;
			in.keep_after = !(flags & JOB_STORE_FIRST);
			in.may_hold = flags & JOB_MAY_KEEP;
		}
		if ((r = confine_now(in.confine != NULL, &err)) < 0) {
			fprintf(stderr, "dcrd: sql-worker: %s\n", err.msg);
			return r;
		}
	} else if (type == MSG_JOB && lim->max_memory == *memory && duck_named(def, name)) {
		/* A duckdb job again: on the database this worker holds, whose tables it needs no key for. */
		dcr_wipe(ts->key, sizeof(ts->key));
		if (!duck_held()) {
			send_fail_as(c, MSG_ANEW, DCR_ECOMPUTE, "this SQL worker holds no DuckDB database");
			return 1;
		}
		in.identify = ident_from_dcrd;
		in.store = ts;
	} else if (type != MSG_JOB || lim->max_memory != *memory) {
		send_fail(c, DCR_EFAIL, "a SQL worker runs more than one job only if they have the same memory limit");
		return 1;
	} else if (duck_held()) {
		/* A SQLite job where a DuckDB job's tables are held: not here (review R7-5). */
		send_fail_as(c, MSG_ANEW, DCR_ECOMPUTE, "this SQL worker holds a DuckDB database");
		return 1;
	}
	if (type == MSG_CHECK)
		r = refuse_unconfined(def, "", DCR_EINVALID, &err) < 0 ? DCR_EINVALID : duck_check_room(def, &err);
	else
		r = refuse_unconfined(def, name, DCR_ECOMPUTE, &err) < 0 ? DCR_ECOMPUTE :
			sql_run(def, name, &in, lim, &res, &err);
	if (r < 0) {
		send_fail_as(c, again ? MSG_AGAIN : anew ? MSG_ANEW : MSG_FAIL, r, err.msg);
		r = 1;
	} else {
		r = 0;
		for (size_t at = 0; r == 0 && at < res.len; at += FRAME_MAX)
			if (send_frame(c, MSG_DATA, res.csv + at, res.len - at < FRAME_MAX ? res.len - at : FRAME_MAX,
				NULL, 0) < 0)
				r = 1;
		put_u64(done, res.rows);
		put_u64(done + 8, res.groups_suppressed);
		done[16] = res.thresholded;
		done[17] = res.keeping;
		if (r == 0 && send_frame(c, MSG_DONE, done, sizeof(done), NULL, 0) < 0)
			r = 1;
	}
	/*
	 * The answer is on its way: once the keeper has written the store
	 * (duck_keep), dcrd hears it, and whether the worker holds the job's
	 * database (duck_held): then dcrd may keep it for the next job; if
	 * not, it ends.
	 */
	if (res.keeping && r == 0) {
		uint8_t held;

		if (duck_keep(&err) < 0) {
			send_fail(c, err.code, err.msg);
			r = 1;
		} else {
			held = duck_held();
			if (send_frame(c, MSG_KEPT, &held, 1, NULL, 0) < 0)
				r = 1;
		}
	}
	if (res.csv)
		dcr_wipe(res.csv, res.len);
	free(res.csv);
	return r;
}

/*
 * The worker: its jobs one after the other, until one fails, dcrd closes
 * the socket (it keeps no worker, or ends a warm one), or kills it. Between
 * jobs it holds nothing of them but a DuckDB job's database (duck_held,
 * for the next job of the same computation): each had a database of its own, closed
 * (SQLite's freed memory wiped, dcr_sql_wipe_freed), and its result, name,
 * key and definition are wiped or freed here.
 */
int sql_worker_main(int argc, char **argv)
{
	struct chan c = { .fd = WORKER_FD };
	uint64_t memory = 0;
	struct dcr_err err;
	int r = 0;

	if (argc != 2) {
		fprintf(stderr, "dcrd: sql-worker: run by dcrd serve, not by hand\n");
		return 2;
	}
	if ((r = worker_setup(argv[1], &err)) < 0) {
		fprintf(stderr, "dcrd: sql-worker: %s\n", err.msg);
		return r == DCR_EUSAGE ? 2 : 1;
	}
	dcr_sql_wipe_freed();
	for (unsigned served = 0; r == 0; served++) {
		struct table_store ts = { 0 };
		Dcr__V1__RoomDefinition *def = NULL;
		struct sql_limits lim;
		uint64_t flags = 0;
		char *name = NULL;
		int type = 0;

		if ((r = read_job(&c, &type, &lim, &flags, &name, &ts, &def, &err)) < 0) {
			/* After a job, dcrd closing the socket is the end of a warm worker. */
			if (served == 0 || !c.gone) {
				fprintf(stderr, "dcrd: sql-worker: %s\n", err.msg);
				return 1;
			}
			return 0;
		}
		r = worker_job(&c, type, &lim, flags, name, &ts, def, served, &memory);
		job_store = NULL;
		free(name);
		dcr_wipe(&ts, sizeof(ts));
		dcr__v1__room_definition__free_unpacked(def, NULL);
		/* An idle worker holds no more than it needs (review W-3): the job's freed heap goes back. */
		malloc_trim(0);
	}
	return r < 0 ? 1 : 0;
}
