/* dcrd serve: the HTTP service (libmicrohttpd), its data directory, and orderly shutdown. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "dcrd.h"
#include "evidence.pb-c.h"
#include "sandbox.h"
#include "sql.h"
#include "util.h"
#include "work.h"

#include "banned.h"

#define DEFAULT_LISTEN "127.0.0.1:7443"
/* The media types of request bodies (RFC 9458 for calls); anything else is answered 415. */
#define CALL_TYPE "message/ohttp-req"
#define BLOB_TYPE "application/octet-stream"
/* A call (1 MiB, see lib/call.c) with its signature, certificates and encapsulation. */
#define MAX_BODY ((1u << 20) + (64u << 10))
#define THREADS 4
#define CONNECTION_TIMEOUT 30      /* seconds */
#define CONNECTION_MEMORY (256u << 10)
#define DEFAULT_MAX_ROOM_JOBS 16
#define DEFAULT_MAX_CALLER_JOBS 8
#define DEFAULT_HEADER_TIMEOUT 10  /* seconds */
#define DEFAULT_BODY_MIN (64u << 10) /* bytes ... */
#define DEFAULT_BODY_WINDOW 30     /* ... in seconds */
#define DEFAULT_PER_ADDRESS 32     /* connections */
#define MAX_TIMEOUT 3600           /* the longest deadline an option takes, in seconds */
#define DEFAULT_MIN_FREE (1ull << 30) /* bytes, ... */
#define DEFAULT_MIN_FREE_PERCENT 5 /* ... or this share of the disk, whichever is more */
#define DEFAULT_MAX_UPLOAD_BYTES (64ull << 30)
#define DEFAULT_MAX_UPLOADS 1000
#define DEFAULT_MAX_UNFINISHED 8
#define DEFAULT_UPLOAD_EXPIRY (24 * 3600)
#define DEFAULT_UPLOAD_IDLE (10 * 60)
#define DEFAULT_MAX_RESULT_BYTES (16ull << 30)
#define DEFAULT_MAX_ROOM_RESULT_BYTES (64ull << 30)
#define DEFAULT_RESULT_EXPIRY (30 * 86400)
#define MAX_UPLOAD_EXPIRY (365 * 86400)
#define DEFAULT_PUTS_PER_UPLOADER 4
#define DEFAULT_PUTS_PER_ADDRESS 8
#define MAX_COUNT 1000000          /* the largest count an option takes */
/* The range of the service's job limits: those a room may declare (dcr-room(5)). */
#define JOB_TIME_MAX_MS (UINT64_C(24) * 3600 * 1000)
#define JOB_MEMORY_MIN (UINT64_C(16) << 20)
#define JOB_MEMORY_MAX (UINT64_C(64) << 30)
#define DEFAULT_SQL_MEMORY (1ull << 30)
#define DEFAULT_SQL_TIME_MS 60000 /* an SQL job's own time (--max-sql-time) */
#define DEFAULT_SQL_WORKER_IDLE_MS 2000 /* a room's SQL worker kept between its jobs (sql_run_warm) */
#define DEFAULT_DUCKDB_WORKER_IDLE_MS 60000 /* and one holding a DuckDB job's tables */
#define DEFAULT_SQL_WORKER_JOBS 100
#define MAX_SQL_WORKER_IDLE_MS (3600 * 1000)
/* Above an SQL job's budget, for state.db and for validating rooms (64 MiB each, one per thread). */
#define SQL_HEAP_HEADROOM (512ull << 20)

struct server {
	struct enclave enclave;
	struct state state;
	pthread_mutex_t lock;      /* one call at a time: actions and their log entries */
	struct state reader;       /* reads that need not wait for the lock (calls_prepare) */
	pthread_mutex_t reader_lock;
	struct creators creators;
	struct dcr_replay *replay;
	time_t started;
	int64_t started_ms;
	/* Calls stamped before this are refused: dcrd's start, or after the latest one accepted before it. */
	int64_t fresh_from_ms;
	atomic_ulong requests[6];  /* by status class: 1xx .. 5xx, [0] unused */
	atomic_ulong bytes_in, bytes_out;
	struct service svc;        /* for blob transfers, which outlive one handler call */
	struct job_bounds job_bounds;
};

/* Per-request state, kept across the access handler's calls. */
struct request {
	struct timespec start;
	char method[8];
	char path[96];
	uint8_t *body;
	size_t len;
	int too_large;
	/* PUT /v1/blobs/ID: written to disk as it arrives, never held whole. */
	struct blob_upload *upload;
	/* POST /v1/call: a bulk preparation under way, its connection suspended (call()). */
	struct call_wait *wait;
	/* Counted in bulk_running / resumed_waits until the connection is done with (completed()). */
	bool counted_bulk, counted_wait;
	unsigned blob_status;      /* a refusal to answer once the body is in */
	char blob_msg[DCR_ERR_MSG_MAX];
	/* A call suspended while it waits for a job to end, decrypted: made again when it resumes. */
	struct waited_call *waited;
};

struct waited_call {
	struct dcr_ohttp_ctx ctx;
	struct dcr_call_request creq;
	struct MHD_Connection *conn;
	atomic_bool woken; /* resumed, and counted in resumed_waits until answered or closed */
};

static struct server srv = { .lock = PTHREAD_MUTEX_INITIALIZER, .reader_lock = PTHREAD_MUTEX_INITIALIZER,
	.job_bounds = { JOB_TIME_DEFAULT_MS, JOB_MEMORY_DEFAULT } };

static int parse_listen(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || port < 1 || port > 65535)
		return -1;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

/* Create the data directory (0700) or check the one that is there. */
static int prepare_data_dir(const char *dir, struct dcr_err *err)
{
	struct stat st;

	if (mkdir(dir, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot create data directory '%s'", dir);
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return dcr_err_set(err, DCR_EIO, "'%s' is not a directory", dir);
	if (st.st_mode & 077)
		return dcr_err_set(err, DCR_EIO, "data directory '%s' is accessible to other users (mode %04o); "
						  "run chmod 700 on it", dir, (unsigned)(st.st_mode & 07777));
	if (access(dir, W_OK | X_OK) < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "data directory '%s' is not writable", dir);
	return 0;
}

/* One dcrd per data directory: a second would corrupt the state. */
static int lock_data_dir(const char *dir, struct dcr_err *err)
{
	char path[4096];
	int fd, r;

	if ((r = data_path(path, sizeof(path), dir, "lock", err)) < 0)
		return r;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot open '%s'", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		close(fd);
		if (e == EWOULDBLOCK)
			return dcr_err_set(err, DCR_EIO, "another dcrd is using data directory '%s'", dir);
		return dcr_err_errno(err, DCR_EIO, e, "cannot lock '%s'", path);
	}
	return fd; /* held until exit */
}

static int listen_socket(const struct sockaddr_in *sa, const char *listen_arg, struct dcr_err *err)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot create a socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 || listen(fd, 128) < 0) {
		int e = errno;

		close(fd);
		return dcr_err_errno(err, DCR_EIO, e, "cannot listen on %s", listen_arg);
	}
	return fd;
}

/* The answer; result (may be NULL): the Dcr-Result header, a result code of dcr-protocol(7) for an HTTP answer. */
static enum MHD_Result respond_result(struct MHD_Connection *conn, unsigned status, const char *type,
	const void *body, size_t len, const char *result)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result r;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (result)
		MHD_add_response_header(resp, "Dcr-Result", result);
	r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	atomic_fetch_add(&srv.bytes_out, len);
	return r;
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *type,
	const void *body, size_t len)
{
	return respond_result(conn, status, type, body, len, NULL);
}

static enum MHD_Result respond_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
	return respond(conn, status, "text/plain; charset=utf-8", text, strlen(text));
}

/* The text of /metrics, added to piece by piece; what does not fit is cut (the buffer is sized to fit). */
struct metrics_text {
	char buf[8192];
	size_t used;
};

static void emit(struct metrics_text *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(struct metrics_text *m, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(m->buf + m->used, sizeof(m->buf) - m->used, fmt, ap);
	va_end(ap);
	if (n > 0)
		m->used = (size_t)n < sizeof(m->buf) - m->used ? m->used + (size_t)n : sizeof(m->buf) - 1;
}

static enum MHD_Result metrics(struct MHD_Connection *conn)
{
	static const char *const classes[] = { "", "1xx", "2xx", "3xx", "4xx", "5xx" };
	struct metrics_text m = { .used = 0 };
	unsigned queued, running;
	unsigned long dropped_headers, dropped_bodies, dropped_answers, checked, reused;
	uint64_t writes, syncs;
	struct storage_status st;

	emit(&m,
		"# HELP dcrd_build_info The running dcrd.\n# TYPE dcrd_build_info gauge\n"
		"dcrd_build_info{version=\"%s\",attestation=\"%s\"} 1\n"
		"# HELP dcrd_start_time_seconds Start time since the Unix epoch.\n# TYPE dcrd_start_time_seconds gauge\n"
		"dcrd_start_time_seconds %lld\n"
		"# HELP dcrd_http_requests_total Requests answered, by status class.\n"
		"# TYPE dcrd_http_requests_total counter\n", DCR_VERSION, srv.enclave.opt.kind->lib->name,
		(long long)srv.started);
	for (int c = 1; c <= 5; c++)
		emit(&m, "dcrd_http_requests_total{code=\"%s\"} %lu\n",
			classes[c], atomic_load(&srv.requests[c]));
	emit(&m,
		"# HELP dcrd_http_received_bytes_total Request body bytes received.\n"
		"# TYPE dcrd_http_received_bytes_total counter\ndcrd_http_received_bytes_total %lu\n"
		"# HELP dcrd_http_sent_bytes_total Response body bytes sent.\n"
		"# TYPE dcrd_http_sent_bytes_total counter\ndcrd_http_sent_bytes_total %lu\n",
		atomic_load(&srv.bytes_in), atomic_load(&srv.bytes_out));
	jobs_counts(&queued, &running);
	emit(&m,
		"# HELP dcrd_jobs_queued Jobs waiting for the runner, all rooms together.\n"
		"# TYPE dcrd_jobs_queued gauge\ndcrd_jobs_queued %u\n"
		"# HELP dcrd_jobs_running Jobs running now.\n# TYPE dcrd_jobs_running gauge\ndcrd_jobs_running %u\n"
		"# HELP dcrd_calls_waiting job.get calls waiting for their job to end.\n"
		"# TYPE dcrd_calls_waiting gauge\ndcrd_calls_waiting %u\n",
		queued, running, jobs_waiting());
	dataset_check_counts(&checked, &reused);
	emit(&m,
		"# HELP dcrd_publish_checks_total Datasets decrypted and checked against a node for dataset.publish.\n"
		"# TYPE dcrd_publish_checks_total counter\ndcrd_publish_checks_total %lu\n"
		"# HELP dcrd_publish_checks_reused_total Publishes that took an earlier check of the same file.\n"
		"# TYPE dcrd_publish_checks_reused_total counter\ndcrd_publish_checks_reused_total %lu\n",
		checked, reused);
	watchdog_counts(&dropped_headers, &dropped_bodies, &dropped_answers);
	emit(&m,
		"# HELP dcrd_connections_dropped_total Connections closed for sending, or taking answers, too slowly.\n"
		"# TYPE dcrd_connections_dropped_total counter\n"
		"dcrd_connections_dropped_total{reason=\"header-timeout\"} %lu\n"
		"dcrd_connections_dropped_total{reason=\"slow-body\"} %lu\n"
		"dcrd_connections_dropped_total{reason=\"slow-answer\"} %lu\n", dropped_headers, dropped_bodies,
		dropped_answers);
	storage_status(srv.enclave.data_dir, &st);
	if (st.known)
		emit(&m,
			"# HELP dcrd_disk_free_bytes Free space of the data directory's disk.\n"
			"# TYPE dcrd_disk_free_bytes gauge\ndcrd_disk_free_bytes %llu\n"
			"# HELP dcrd_disk_min_free_bytes The floor new data does not go below (--min-free).\n"
			"# TYPE dcrd_disk_min_free_bytes gauge\ndcrd_disk_min_free_bytes %llu\n",
			(unsigned long long)st.free, (unsigned long long)st.floor);
	emit(&m,
		"# HELP dcrd_disk_below_floor 1 while free space is below the floor: new data is refused.\n"
		"# TYPE dcrd_disk_below_floor gauge\ndcrd_disk_below_floor %d\n"
		"# HELP dcrd_state_disk_full 1 while the state database cannot write for lack of space.\n"
		"# TYPE dcrd_state_disk_full gauge\ndcrd_state_disk_full %d\n"
		"# HELP dcrd_uploads_writing PUTs writing upload data now.\n"
		"# TYPE dcrd_uploads_writing gauge\ndcrd_uploads_writing %u\n"
		"# HELP dcrd_uploads_unfinished Uploads not complete yet.\n"
		"# TYPE dcrd_uploads_unfinished gauge\ndcrd_uploads_unfinished %u\n"
		"# HELP dcrd_uploads_reserved_bytes Space reserved for what unfinished uploads have still to send.\n"
		"# TYPE dcrd_uploads_reserved_bytes gauge\ndcrd_uploads_reserved_bytes %llu\n"
		"# HELP dcrd_uploads_expired_total Unfinished uploads deleted when their time was up.\n"
		"# TYPE dcrd_uploads_expired_total counter\ndcrd_uploads_expired_total %lu\n"
		"# HELP dcrd_uploads_lapsed_total Reservations given up by uploads idle for --upload-idle.\n"
		"# TYPE dcrd_uploads_lapsed_total counter\ndcrd_uploads_lapsed_total %lu\n"
		"# HELP dcrd_results_bytes Ciphertext of the jobs' results kept.\n"
		"# TYPE dcrd_results_bytes gauge\ndcrd_results_bytes %llu\n"
		"# HELP dcrd_results_expired_total Results deleted when --result-expiry was up.\n"
		"# TYPE dcrd_results_expired_total counter\ndcrd_results_expired_total %lu\n",
		st.below_floor, state_full(&srv.state), blob_writers(), st.unfinished, (unsigned long long)st.reserved, st.expired,
		st.lapsed, (unsigned long long)st.result_bytes, st.results_expired);
	state_sync_counts(&srv.state, &writes, &syncs);
	emit(&m,
		"# HELP dcrd_state_writes_total Releases of the state lock after changes, each on disk before its answer.\n"
		"# TYPE dcrd_state_writes_total counter\ndcrd_state_writes_total %llu\n"
		"# HELP dcrd_state_syncs_total fdatasyncs of the state's log that put them on disk (group commit).\n"
		"# TYPE dcrd_state_syncs_total counter\ndcrd_state_syncs_total %llu\n",
		(unsigned long long)writes, (unsigned long long)syncs);
	return respond(conn, MHD_HTTP_OK, "text/plain; version=0.0.4", m.buf, m.used);
}

/*
 * 200 "ok"; 200 "degraded: ..." while free space is below the floor (calls
 * and reads are served, new data is refused); 503 "failing: ..." while the
 * state database cannot write, which fails every call.
 */
static enum MHD_Result healthz(struct MHD_Connection *conn)
{
	struct storage_status st;

	if (state_full(&srv.state))
		return respond_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
			"failing: the state database cannot write: the disk is full\n");
	storage_status(srv.enclave.data_dir, &st);
	if (st.below_floor)
		return respond_text(conn, MHD_HTTP_OK, "degraded: free space below the floor; new data is refused\n");
	return respond_text(conn, MHD_HTTP_OK, "ok\n");
}

static const char *outcome_of(int r)
{
	switch (r) {
	case 0: return "allowed";
	case DCR_EDENIED: return "denied";
	case DCR_ENOTFOUND: return "not-found";
	case DCR_EINVALID: return "invalid";
	case DCR_EEXIST: return "exists";
	default: return "failed";
	}
}

/*
 * One encrypted call. Whatever happens after the request decrypts is
 * answered inside the encryption, so the host sees neither the method,
 * the caller nor the outcome; only undecryptable requests get a 400.
 * What needs no lock comes first (calls_prepare: validating a new room,
 * checking a dataset, reading the caller's rooms); then calls run one
 * at a time: each action commits together with the audit entry that
 * records it, and the answer carries the room's signed tree head with a
 * consistency proof from the size the caller last saw.
 */
static struct service service(void)
{
	return (struct service){
		.enclave = &srv.enclave,
		.state = &srv.state,
		.lock = &srv.lock,
		.data_dir = srv.enclave.data_dir,
		.creators = &srv.creators,
		.reader = srv.reader.db ? &srv.reader : NULL,
		.reader_lock = &srv.reader_lock,
		.job_bounds = &srv.job_bounds,
	};
}

/*
 * A call whose preparation is bulk work (calls_bulk): it runs in a thread
 * of its own, at a lower CPU priority, while the connection is suspended;
 * the HTTP thread serves other connections meanwhile, and libmicrohttpd
 * calls the handler again once the thread resumes the connection.
 */
struct call_wait {
	struct MHD_Connection *conn;
	struct service svc;
	struct dcr_ohttp_ctx ctx;
	struct dcr_call_request creq;
	struct call_prep prep;
	struct dcr_err err;
	int r;
	pthread_t thread;
};
/*
 * Bulk preparations whose connection has not taken its result back yet,
 * and waits for a job that were woken but not answered yet: dcrd stops
 * serving only once both are none, since libmicrohttpd must not stop with
 * a suspended connection (it aborts), and a resumed one it would close
 * unanswered. Once stopping is set, no call is suspended any more.
 */
static atomic_uint bulk_running, resumed_waits;
static atomic_bool stopping;

static void *bulk_prepare(void *arg)
{
	struct call_wait *w = arg;

	calls_bulk_priority();
	w->r = calls_prepare(&w->svc, &w->creq, &w->prep, &w->err);
	MHD_resume_connection(w->conn);
	return NULL;
}

/* Wait for w's thread and free what w holds (the connection closed before it was answered). */
static void bulk_abandon(struct call_wait *w)
{
	if (!w)
		return;
	pthread_join(w->thread, NULL);
	call_prep_release(&w->prep);
	dcr_call_request_release(&w->creq);
	dcr_ohttp_ctx_release(&w->ctx);
	free(w);
}

/* Start the preparation of an accepted call in its own thread, taking ctx and creq; false: do it here. */
static bool bulk_start(struct MHD_Connection *conn, struct request *req, const struct dcr_ohttp_ctx *ctx,
	const struct dcr_call_request *creq)
{
	struct call_wait *w = calloc(1, sizeof(*w));

	if (!w)
		return false;
	w->conn = conn;
	w->svc = service();
	w->svc.prep = &w->prep;
	w->ctx = *ctx;
	w->creq = *creq;
	/* Counted before stopping is read: dcrd's stop then either waits for it or this sees the stop. */
	atomic_fetch_add(&bulk_running, 1);
	if (atomic_load(&stopping)) {
		atomic_fetch_sub(&bulk_running, 1);
		free(w);
		return false;
	}
	MHD_suspend_connection(conn);
	if (pthread_create(&w->thread, NULL, bulk_prepare, w) != 0) {
		MHD_resume_connection(conn);
		atomic_fetch_sub(&bulk_running, 1);
		free(w);
		return false;
	}
	req->wait = w;
	req->counted_bulk = true;
	return true;
}

static void resume_call(void *arg)
{
	struct waited_call *w = arg;

	atomic_fetch_add(&resumed_waits, 1);
	atomic_store(&w->woken, true);
	MHD_resume_connection(w->conn);
}

static enum MHD_Result call(struct MHD_Connection *conn, struct request *req)
{
	struct service svc = service();
	struct job_wait wait = { .may = !req->waited };
	struct waited_call *waited = req->waited;
	struct job_waiter *waiter;
	struct audit_note note = { 0 };
	struct dcr_ohttp_ctx ctx = { 0 };
	struct dcr_call_request creq = { 0 };
	struct call_prep prep = { 0 };
	struct dcr_err err, rerr, lerr;
	uint8_t *answer = NULL, *resp = NULL, sig[64];
	size_t answer_len = 0, resp_len = 0;
	char room_id[65] = "";
	Dcr__V1__SignedTreeHead sth, *head = NULL;
	struct dcr_merkle_frontier f;
	struct dcr_merkle_proof proof = { 0 };
	ProtobufCBinaryData hashes[DCR_MERKLE_PROOF_MAX];
	enum MHD_Result result;
	int64_t fresh_from = 0;
	struct read_key rk = { .valid = false };
	bool repeat = false;
	int r, accepted, prepared = 0;

	if (req->wait) {
		/* Resumed: the bulk preparation is done. */
		pthread_join(req->wait->thread, NULL);
		ctx = req->wait->ctx;
		creq = req->wait->creq;
		prep = req->wait->prep;
		err = req->wait->err;
		r = req->wait->r;
		accepted = prepared = 1;
		free(req->wait);
		req->wait = NULL;
	} else if (waited) {
		/* Back from a wait for a job: accepted then, its nonce recorded. */
		ctx = waited->ctx;
		creq = waited->creq;
		req->counted_wait = atomic_load(&waited->woken);
		free(waited);
		req->waited = waited = NULL;
		r = 0;
		accepted = 1;
	} else {
		r = dcr_call_accept(srv.enclave.hpke_sk, &srv.enclave.ohttp, req->body, req->len, clock_now_ms(),
			srv.replay, &ctx, &creq, &err);
		accepted = r == 0;
		if (accepted && creq.timestamp_ms >= srv.fresh_from_ms && calls_bulk(creq.method) &&
		    bulk_start(conn, req, &ctx, &creq))
			return MHD_YES;
	}
	svc.prep = &prep;
	svc.wait = &wait;
	if (accepted && creq.timestamp_ms < srv.fresh_from_ms) {
		/*
		 * Made before this dcrd started (or no later than a call accepted
		 * before it): its nonce may have been in a table the host has since
		 * edited. Only the client who made it reads this answer, and it
		 * made the call just now: not an attack on it, but a call to make
		 * again, from fresh_from_ms on.
		 */
		fresh_from = srv.fresh_from_ms;
		r = dcr_err_set(&err, DCR_EFAIL,
			"call made before dcrd (re)started: it is stamped %.1f s before the earliest time dcrd accepts "
			"(a call made during the restart, or a slow clock); make it again",
			(double)(srv.fresh_from_ms - creq.timestamp_ms) / 1000);
	} else if (accepted && (prepared ? r : (r = calls_prepare(&svc, &creq, &prep, &err))) == 0) {
		pthread_mutex_lock(&srv.lock);
		/* The in-memory check is fast; this one survives restarts. */
		if (wait.may)
			r = state_use_nonce(&srv.state, creq.nonce, clock_now_ms(), creq.timestamp_ms, &err);
		/* Recorded: from here its nonce is never forgotten early to make room for others. */
		if (r == 0 && wait.may)
			dcr_replay_keep(srv.replay, creq.nonce);
		if (r == 0 && (r = state_begin(&srv.state, &err)) == 0) {
			svc.note = &note;
			r = calls_run(&svc, &creq, &answer, &answer_len, room_id, &err);
			/*
			 * A job.get that waits for its job to end: nothing is done or
			 * logged yet, the connection is suspended (no thread, no lock
			 * held), and the call is made again, and logged, when it resumes.
			 */
			if (r == 0 && wait.wanted && !atomic_load(&stopping) && (waited = calloc(1, sizeof(*waited))) &&
			    (waiter = jobs_waiter_new(&wait, resume_call, waited))) {
				state_rollback(&srv.state);
				waited->ctx = ctx;
				waited->creq = creq;
				waited->conn = conn;
				req->waited = waited;
				MHD_suspend_connection(conn);
				jobs_wait_start(waiter);
				state_unlock(&srv.state, &srv.lock);
				call_prep_release(&prep);
				free(answer);
				return MHD_YES;
			}
			free(waited);
			if (r < 0) {
				/* Undo what the action did; its refusal is still logged. */
				state_rollback(&srv.state);
				if (room_id[0] && state_begin(&srv.state, &lerr) < 0)
					room_id[0] = '\0';
			}
			/* A waiting client's repeated job.get: logged once per answer (reads.c). */
			repeat = r == 0 && room_id[0] &&
				 read_key_of(&rk, room_id, creq.email, creq.method, &note, answer, answer_len) &&
				 read_repeated(&rk);
			if (room_id[0] && !repeat && audit_record(&srv.state, room_id, creq.email, creq.method, outcome_of(r),
						  r < 0 ? err.msg : "", &note, &lerr) < 0) {
				if (r == 0) {
					free(answer);
					answer = NULL;
					answer_len = 0;
					err = lerr;
					r = lerr.code;
				}
				state_rollback(&srv.state);
				room_id[0] = '\0';
			} else if ((r == 0 || room_id[0]) && state_commit(&srv.state, &lerr) < 0) {
				/* Said so on the log, since an action may have logged what it did. */
				fprintf(stderr, "dcrd: a call's changes could not be committed and were undone: %s\n", lerr.msg);
				free(answer);
				answer = NULL;
				answer_len = 0;
				err = lerr;
				r = lerr.code;
				room_id[0] = '\0';
			} else if (r == 0 && !repeat) {
				read_logged(&rk);
			}
		}
		/* Outsiders were told there is no room (room_id is unset): no head for them either. */
		if (room_id[0] && strcmp(room_id, creq.audit_room) == 0 &&
		    audit_head(&svc, room_id, &sth, sig, &f, &lerr) == 0) {
			head = &sth;
			if (creq.audit_known_size > 0 && creq.audit_known_size <= f.size &&
			    state_audit_consistency(&srv.state, room_id, creq.audit_known_size, f.size, &proof, &lerr) < 0) {
				/*
				 * No proof to give: no head either, and the reason is the
				 * answer (what the call did is done and logged), which dcr
				 * reports as it is rather than as a fork.
				 */
				free(sth.head.data);
				head = NULL;
				free(answer);
				answer = NULL;
				answer_len = 0;
				err = lerr;
				r = lerr.code;
			}
			for (size_t i = 0; i < proof.len; i++)
				hashes[i] = (ProtobufCBinaryData){ 32, proof.hash[i] };
		}
		state_unlock(&srv.state, &srv.lock);
		blobs_reap(); /* the files of blobs this call deleted */
	}
	call_prep_release(&prep);
	if (ctx.aead_id == 0 ||
	    (fresh_from ? dcr_call_respond_fresh_from(&ctx, err.msg, fresh_from, &resp, &resp_len, &rerr)
			: dcr_call_respond_room(&ctx, r < 0 ? err.code : 0, r < 0 ? err.msg : "", answer, answer_len,
				  head, hashes, proof.len, &resp, &resp_len, &rerr)) < 0)
		result = respond_text(conn, MHD_HTTP_BAD_REQUEST, "malformed call: it does not decrypt with this enclave's key\n");
	else
		result = respond(conn, MHD_HTTP_OK, "message/ohttp-res", resp, resp_len);
	if (head)
		free(sth.head.data);
	dcr_call_request_release(&creq);
	dcr_ohttp_ctx_release(&ctx);
	free(answer);
	free(resp);
	return result;
}

static enum MHD_Result evidence(struct MHD_Connection *conn)
{
	enum MHD_Result result;
	struct dcr_err err;
	uint8_t *buf;
	size_t len;

	if (enclave_evidence(&srv.enclave, &buf, &len, &err) < 0)
		return respond_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot build the evidence\n");
	result = respond(conn, MHD_HTTP_OK, "application/x-protobuf", buf, len);
	free(buf);
	return result;
}

/* What dcrd found of its python sandbox at start (dcr-protocol(7)): not attested, the host's account. */
static enum MHD_Result sandbox_info(struct MHD_Connection *conn)
{
	const struct sandbox_report *rep = sandbox_report();
	Dcr__V1__SandboxReport msg = DCR__V1__SANDBOX_REPORT__INIT;
	Dcr__V1__SandboxPackage pkgs[SANDBOX_PACKAGES], *ptrs[SANDBOX_PACKAGES];
	enum MHD_Result result;
	uint8_t *buf;
	size_t len;

	msg.available = rep->available;
	msg.reason = (char *)rep->reason;
	msg.python = (char *)rep->python;
	for (size_t i = 0; rep->available && i < SANDBOX_PACKAGES; i++) {
		dcr__v1__sandbox_package__init(&pkgs[i]);
		pkgs[i].name = (char *)rep->packages[i].name;
		pkgs[i].version = (char *)rep->packages[i].version;
		ptrs[i] = &pkgs[i];
	}
	msg.n_packages = rep->available ? SANDBOX_PACKAGES : 0;
	msg.packages = ptrs;
	len = dcr__v1__sandbox_report__get_packed_size(&msg);
	if (!(buf = malloc(len ? len : 1)))
		return respond_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	dcr__v1__sandbox_report__pack(&msg, buf);
	result = respond(conn, MHD_HTTP_OK, "application/x-protobuf", buf, len);
	free(buf);
	return result;
}

static const char *blob_in(const char *url)
{
	return strncmp(url, "/v1/blobs/", 10) == 0 ? url + 10 : NULL;
}

/*
 * The media type a request body must have (dcr-protocol(7)), or NULL for
 * requests without one: an encapsulated call, or an upload's ciphertext.
 */
static const char *body_type(const char *method, const char *url)
{
	if (strcmp(method, "POST") == 0 && strcmp(url, "/v1/call") == 0)
		return CALL_TYPE;
	if (strcmp(method, "PUT") == 0 && blob_in(url))
		return BLOB_TYPE;
	return NULL;
}

/* Whether the request's Content-Type is want: type and subtype in any case, parameters ignored. */
static bool has_type(struct MHD_Connection *conn, const char *want)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	size_t n = strlen(want);

	if (!v)
		return false;
	v += strspn(v, " \t");
	if (strncasecmp(v, want, n) != 0)
		return false;
	v += n;
	v += strspn(v, " \t");
	return *v == '\0' || *v == ';';
}

static enum MHD_Result respond_status(struct MHD_Connection *conn, unsigned status, const char *msg)
{
	char text[DCR_ERR_MSG_MAX + 2];

	snprintf(text, sizeof(text), "%s\n", msg);
	return respond_text(conn, status, text);
}

/* HEAD tells an uploader how much arrived; GET sends a complete blob (a result's ciphertext). */
static enum MHD_Result blob_read(struct MHD_Connection *conn, const char *method, const char *id)
{
	const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	struct MHD_Response *resp;
	struct state_blob b;
	struct dcr_err err, gone;
	enum MHD_Result r;
	unsigned status;
	char num[32];
	struct stat st;
	int fd = -1;

	if (blob_authorize(&srv.svc, id, auth, &b, &status, &err) < 0)
		return respond_status(conn, status, err.msg);
	if (strcmp(method, "HEAD") == 0) {
		if (!(resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT)))
			return MHD_NO;
		snprintf(num, sizeof(num), "%llu", (unsigned long long)b.received);
		MHD_add_response_header(resp, "Upload-Offset", num);
		snprintf(num, sizeof(num), "%llu", (unsigned long long)b.size);
		MHD_add_response_header(resp, "Upload-Length", num);
		MHD_add_response_header(resp, "Cache-Control", "no-store");
		r = MHD_queue_response(conn, MHD_HTTP_OK, resp);
		MHD_destroy_response(resp);
		return r;
	}
	if (!b.complete)
		return respond_status(conn, MHD_HTTP_CONFLICT, "the blob is not complete yet");
	/* The host's file: not followed if a link, not waited on if a FIFO. */
	fd = open_blob(&srv.svc, id, &err);
	/* Deleted since it was authorized (a result that expired): as if it never was. */
	if (fd < 0 && blob_authorize(&srv.svc, id, auth, &b, &status, &gone) < 0)
		return respond_status(conn, MHD_HTTP_NOT_FOUND, "no such blob, or the token is not for it");
	/*
	 * The file is not the one dcrd wrote (gone, or a directory, FIFO or
	 * link in its place): said as an integrity violation, which dcr
	 * reports as one, not as a server that failed.
	 */
	if (fd < 0 && err.code == DCR_EINTEGRITY) {
		char text[DCR_ERR_MSG_MAX + 2];

		fprintf(stderr, "dcrd: %s\n", err.msg);
		snprintf(text, sizeof(text), "%s\n", err.msg);
		return respond_result(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8", text,
			strlen(text), "-9");
	}
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return respond_status(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot read the blob");
	}
	/*
	 * What is on disk, not what was recorded: the client's decoder then
	 * names what the host did (data appended, chunks cut off), where a
	 * body cut to the recorded size would hide an append and one longer
	 * than the file would leave the client waiting for bytes that never come.
	 */
	if ((uint64_t)st.st_size != b.size)
		fprintf(stderr, "dcrd: blob %s has %lld bytes on disk, %llu were recorded: altered on the host\n", id,
			(long long)st.st_size, (unsigned long long)b.size);
	if (!(resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd))) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	atomic_fetch_add(&srv.bytes_out, (uint64_t)st.st_size);
	r = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result blob_put_done(struct MHD_Connection *conn, struct request *req)
{
	struct MHD_Response *resp;
	struct dcr_err err;
	uint64_t received = 0;
	enum MHD_Result r;
	char num[32];

	if (req->blob_status)
		return respond_status(conn, req->blob_status, req->blob_msg);
	if (blob_put_end(&srv.svc, req->upload, &received, &err) < 0) {
		req->upload = NULL;
		return respond_status(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, err.msg);
	}
	req->upload = NULL;
	if (!(resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT)))
		return MHD_NO;
	snprintf(num, sizeof(num), "%llu", (unsigned long long)received);
	MHD_add_response_header(resp, "Upload-Offset", num);
	r = MHD_queue_response(conn, MHD_HTTP_NO_CONTENT, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result route(struct MHD_Connection *conn, const char *method, const char *url, struct request *req)
{
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;

	if (strcmp(url, "/healthz") == 0)
		return get ? healthz(conn) : respond_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET\n");
	if (strcmp(url, "/metrics") == 0)
		return get ? metrics(conn) : respond_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET\n");
	if (strcmp(url, "/v1/evidence") == 0)
		return get ? evidence(conn) : respond_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET\n");
	if (strcmp(url, "/v1/sandbox") == 0)
		return get ? sandbox_info(conn) : respond_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET\n");
	if (strcmp(url, "/v1/call") == 0)
		return strcmp(method, "POST") == 0 ? call(conn, req)
						    : respond_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST\n");
	if (blob_in(url)) {
		if (strcmp(method, "PUT") == 0)
			return blob_put_done(conn, req);
		return get ? blob_read(conn, method, blob_in(url))
			   : respond_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use PUT, HEAD or GET\n");
	}
	return respond_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* Periodic work from the watchdog's thread, which must not wait for a long call to end. */
static void chores(void)
{
	if (pthread_mutex_trylock(&srv.lock) != 0)
		return;
	storage_expire(&srv.svc);
	state_unlock(&srv.state, &srv.lock);
	blobs_reap(); /* the files of expired uploads and results */
}

/* The client's IP address in text, or "" if unknown. */
static void peer_address(struct MHD_Connection *conn, char *buf, size_t size)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = info ? info->client_addr : NULL;

	buf[0] = '\0';
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf, (socklen_t)size);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf, (socklen_t)size);
}

/* The watchdog's record of a connection (NULL when it has none). */
static struct conn *watched(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return info ? info->socket_context : NULL;
}

/* libmicrohttpd's messages, many of which a client can cause (a refused connection, a broken request). */
static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	library_log(fmt, ap);
}

static void connection_event(void *cls, struct MHD_Connection *conn, void **socket_context,
	enum MHD_ConnectionNotificationCode event)
{
	if (event == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		*socket_context = info ? conn_open(info->connect_fd) : NULL;
	} else if (event == MHD_CONNECTION_NOTIFY_CLOSED) {
		conn_close(*socket_context);
		*socket_context = NULL;
	}
}

static enum MHD_Result handle_request(struct MHD_Connection *conn, const char *url, const char *method,
	const char *upload, size_t *upload_len, void **state)
{
	struct request *req = *state;

	if (*upload_len)
		conn_body(watched(conn), *upload_len);
	if (!req) {
		/* The headers are in: from here the body's pace counts, not the header deadline. */
		conn_request(watched(conn));
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		clock_gettime(CLOCK_MONOTONIC, &req->start);
		snprintf(req->method, sizeof(req->method), "%s", method);
		snprintf(req->path, sizeof(req->path), "%s", url);
		/* Paths are ours; a client's garbage must not reach the log raw. */
		for (char *p = req->path; *p; p++)
			if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
				*p = '?';
		*state = req;
		/* Answered before the body, which is then never read. */
		if (body_type(method, url) && !has_type(conn, body_type(method, url))) {
			char text[80];

			snprintf(text, sizeof(text), "Content-Type must be %s\n", body_type(method, url));
			conn_answering(watched(conn));
			return respond_text(conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, text);
		}
		if (strcmp(method, "PUT") == 0 && blob_in(url)) {
			struct dcr_err err;
			char peer[INET6_ADDRSTRLEN];

			peer_address(conn, peer, sizeof(peer));
			if (blob_put_begin(&srv.svc, blob_in(url),
				    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
				    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Upload-Offset"), peer, &req->upload,
				    &req->blob_status, &err) < 0) {
				/* Answered before the body: a refused client cannot make dcrd read gigabytes. */
				conn_answering(watched(conn));
				return respond_status(conn, req->blob_status, err.msg);
			}
		}
		return MHD_YES;
	}
	if (*upload_len && (req->upload || req->blob_status)) {
		struct dcr_err err;

		if (!req->blob_status &&
		    blob_put_write(req->upload, (const uint8_t *)upload, *upload_len, &req->blob_status, &err) < 0)
			snprintf(req->blob_msg, sizeof(req->blob_msg), "%s", err.msg);
		req->len += *upload_len;
		atomic_fetch_add(&srv.bytes_in, *upload_len);
		*upload_len = 0;
		return MHD_YES;
	}
	if (*upload_len) {
		/* Bound what a client can make us hold. */
		if (req->too_large || req->len + *upload_len > MAX_BODY) {
			req->too_large = 1;
		} else {
			uint8_t *grown = realloc(req->body, req->len + *upload_len);

			if (!grown)
				return MHD_NO;
			req->body = grown;
			memcpy(req->body + req->len, upload, *upload_len);
			req->len += *upload_len;
		}
		atomic_fetch_add(&srv.bytes_in, *upload_len);
		*upload_len = 0;
		return MHD_YES;
	}
	conn_answering(watched(conn));
	if (req->too_large)
		return respond_text(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
	return route(conn, method, url, req);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	const char *version, const char *upload, size_t *upload_len, void **state)
{
	enum MHD_Result r;

	watchdog_busy(true);
	r = handle_request(conn, url, method, upload, upload_len, state);
	watchdog_busy(false);
	return r;
}

/* One log line per request: method, path, status, sizes, time. Never bodies. */
static void completed(void *cls, struct MHD_Connection *conn, void **state, enum MHD_RequestTerminationCode code)
{
	struct request *req = *state;
	const union MHD_ConnectionInfo *info;
	struct timespec now;
	unsigned status = 0;
	long ms;

	/* Keep-alive: the next request has the header deadline again. */
	conn_idle(watched(conn));
	if (!req)
		return;
	bulk_abandon(req->wait);
	if (req->upload) {
		/* The client went away mid-upload: keep what arrived, for it to resume. */
		struct dcr_err ignored;

		watchdog_busy(true);
		blob_put_end(&srv.svc, req->upload, NULL, &ignored);
		watchdog_busy(false);
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - req->start.tv_sec) * 1000 + (now.tv_nsec - req->start.tv_nsec) / 1000000;
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_HTTP_STATUS);
	if (info)
		status = info->http_status;
	if (status >= 100 && status < 600)
		atomic_fetch_add(&srv.requests[status / 100], 1);
	fprintf(stderr, "dcrd: %s %s %u in=%zu %ldms%s\n", req->method, req->path, status, req->len, ms,
		code == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (aborted)");
	/* Answered (or closed): dcrd's stop need not wait for this connection any more. */
	if (req->counted_bulk)
		atomic_fetch_sub(&bulk_running, 1);
	if (req->counted_wait || (req->waited && atomic_load(&req->waited->woken)))
		atomic_fetch_sub(&resumed_waits, 1);
	if (req->waited) {
		dcr_call_request_release(&req->waited->creq);
		dcr_ohttp_ctx_release(&req->waited->ctx);
		free(req->waited);
	}
	free(req->body);
	free(req);
	*state = NULL;
}

static void usage(FILE *out)
{
	char kinds[DCR_ATTEST_KIND_NAMES_MAX];

	fprintf(out, "usage: dcrd serve --data-dir DIR [--listen ADDR:PORT] [--attestation %s]\n"
		     "                  [--sgx-device DIR] [--pccs-url URL] [--pccs-ca FILE] [--sgx-root-crl URL]\n"
		     "                  [--tsm-dir DIR] [--tdx-sealing-key FILE] [--tdx-device FILE]\n"
		     "                  [--snp-device FILE] [--kds-url URL] [--snp-product NAME]\n"
		     "                  [--creator-ca FILE]... [--creator-platform] [--create-rate N/PERIOD]\n"
		     "                  [--max-rooms N] [--max-rooms-per-creator N]\n"
		     "                  [--max-room-jobs N] [--max-caller-jobs N] [--max-running-jobs N]\n"
		     "                  [--header-timeout DURATION]\n"
		     "                  [--min-body-rate SIZE/DURATION] [--max-connections-per-address N]\n"
		     "                  [--min-free SIZE|PERCENT%%] [--max-upload-bytes SIZE] [--max-uploads N]\n"
		     "                  [--max-unfinished-uploads N] [--upload-expiry DURATION]\n"
		     "                  [--upload-idle DURATION] [--max-result-bytes SIZE]\n"
		     "                  [--max-room-result-bytes SIZE] [--result-expiry DURATION]\n"
		     "                  [--max-puts-per-uploader N] [--max-puts-per-address N]\n"
		     "                  [--sandbox-user USER|UID[:GID]] [--cgroup auto|off|PATH]\n"
		     "                  [--max-job-time DURATION] [--max-job-memory SIZE]\n"
		     "                  [--max-sql-memory SIZE] [--max-sql-time DURATION] [--duckdb-threads N]\n"
		     "                  [--sql-worker-idle DURATION] [--duckdb-worker-idle DURATION]\n"
		     "                  [--sql-worker-jobs N]\n",
		dcrd_kind_names("|", kinds, sizeof(kinds)));
}

/* A count for a limit: 1 to MAX_COUNT. */
static bool parse_count(const char *s, unsigned *out)
{
	uint64_t v;

	if (!dcr_parse_size(s, &v) || strspn(s, "0123456789") != strlen(s) || v < 1 || v > MAX_COUNT)
		return false;
	*out = (unsigned)v;
	return true;
}

/* AMOUNT/DURATION: AMOUNT into amount (less than size bytes), DURATION (1 s to max s) into *secs. */
static bool split_rate(const char *s, char *amount, size_t size, uint64_t max, uint64_t *secs)
{
	const char *slash = strchr(s, '/');

	if (!slash || (size_t)(slash - s) >= size)
		return false;
	memcpy(amount, s, (size_t)(slash - s));
	amount[slash - s] = '\0';
	return dcr_parse_duration(slash + 1, max, secs);
}

/* SIZE/DURATION, like 64K/30s: at least SIZE bytes (1 or more) in every DURATION (at most MAX_TIMEOUT). */
static bool parse_rate(const char *s, uint64_t *bytes, unsigned *seconds)
{
	char size[32];
	uint64_t secs;

	if (!split_rate(s, size, sizeof(size), MAX_TIMEOUT, &secs) || !dcr_parse_size(size, bytes) || *bytes == 0)
		return false;
	*seconds = (unsigned)secs;
	return true;
}

/* --create-rate N/PERIOD, like 20/1h: N a count, PERIOD a duration of at most 30 days. */
static bool parse_create_rate(const char *s, struct creators *c)
{
	char n[16];
	unsigned burst;
	uint64_t secs;

	if (!split_rate(s, n, sizeof(n), CREATORS_MAX_PERIOD_S, &secs) || !parse_count(n, &burst))
		return false;
	c->burst = burst;
	c->period_ms = (int64_t)secs * 1000;
	return true;
}

/* --min-free: SIZE, or PERCENT% of the disk (0 to 99). */
static bool parse_min_free(const char *s, struct storage_limits *lim)
{
	size_t n = strlen(s);
	char num[8];
	uint64_t v;

	if (n > 1 && s[n - 1] == '%') {
		if (n - 1 >= sizeof(num) || strspn(s, "0123456789") != n - 1)
			return false;
		memcpy(num, s, n - 1);
		num[n - 1] = '\0';
		if (!dcr_parse_size(num, &v) || v > 99)
			return false;
		lim->min_free = 0;
		lim->min_free_percent = (unsigned)v;
		return true;
	}
	if (!dcr_parse_size(s, &lim->min_free))
		return false;
	lim->min_free_percent = 0;
	return true;
}

/* The value of a limit option into *out, or exit status 2 with the reason. */
static int limit_option(const char *name, const char *value, unsigned *out)
{
	if (parse_count(value, out))
		return 0;
	fprintf(stderr, "dcrd: serve: invalid --%s '%s' (a whole number from 1 to %d)\n", name, value, MAX_COUNT);
	return 2;
}

/* getopt values of the limit options: long options only, clear of any letter. */
enum {
	OPT_COUNT = 256,           /* any option that takes a count, looked up by name */
	OPT_HEADER_TIMEOUT,
	OPT_MIN_BODY_RATE,
	OPT_MIN_FREE,
	OPT_MAX_UPLOAD_BYTES,
	OPT_UPLOAD_EXPIRY,
	OPT_UPLOAD_IDLE,
	OPT_MAX_RESULT_BYTES,
	OPT_MAX_ROOM_RESULT_BYTES,
	OPT_RESULT_EXPIRY,
	OPT_MAX_SQL_TIME,
	OPT_SQL_WORKER_IDLE,
	OPT_DUCKDB_WORKER_IDLE,
};

int cmd_serve(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		KIND_LONGOPTS,
		{ "creator-ca", required_argument, NULL, 'c' },
		{ "creator-platform", no_argument, NULL, 'p' },
		{ "create-rate", required_argument, NULL, 'r' },
		{ "max-rooms", required_argument, NULL, OPT_COUNT },
		{ "max-rooms-per-creator", required_argument, NULL, OPT_COUNT },
		{ "max-room-jobs", required_argument, NULL, OPT_COUNT },
		{ "max-caller-jobs", required_argument, NULL, OPT_COUNT },
		{ "max-running-jobs", required_argument, NULL, OPT_COUNT },
		{ "header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT },
		{ "min-body-rate", required_argument, NULL, OPT_MIN_BODY_RATE },
		{ "max-connections-per-address", required_argument, NULL, OPT_COUNT },
		{ "min-free", required_argument, NULL, OPT_MIN_FREE },
		{ "max-upload-bytes", required_argument, NULL, OPT_MAX_UPLOAD_BYTES },
		{ "max-uploads", required_argument, NULL, OPT_COUNT },
		{ "max-unfinished-uploads", required_argument, NULL, OPT_COUNT },
		{ "upload-expiry", required_argument, NULL, OPT_UPLOAD_EXPIRY },
		{ "upload-idle", required_argument, NULL, OPT_UPLOAD_IDLE },
		{ "max-result-bytes", required_argument, NULL, OPT_MAX_RESULT_BYTES },
		{ "max-room-result-bytes", required_argument, NULL, OPT_MAX_ROOM_RESULT_BYTES },
		{ "result-expiry", required_argument, NULL, OPT_RESULT_EXPIRY },
		{ "max-puts-per-uploader", required_argument, NULL, OPT_COUNT },
		{ "max-puts-per-address", required_argument, NULL, OPT_COUNT },
		{ "sandbox-user", required_argument, NULL, 'U' },
		{ "cgroup", required_argument, NULL, 'G' },
		{ "max-job-time", required_argument, NULL, 'T' },
		{ "max-job-memory", required_argument, NULL, 'M' },
		{ "max-sql-memory", required_argument, NULL, 'Q' },
		{ "max-sql-time", required_argument, NULL, OPT_MAX_SQL_TIME },
		{ "duckdb-threads", required_argument, NULL, OPT_COUNT },
		{ "sql-worker-idle", required_argument, NULL, OPT_SQL_WORKER_IDLE },
		{ "duckdb-worker-idle", required_argument, NULL, OPT_DUCKDB_WORKER_IDLE },
		{ "sql-worker-jobs", required_argument, NULL, OPT_COUNT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data_dir = NULL, *listen_arg = DEFAULT_LISTEN;
	struct enclave_options opt = { 0 };
	struct kind_args kind_args;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	struct job_limits jobs = { DEFAULT_MAX_ROOM_JOBS, DEFAULT_MAX_CALLER_JOBS,
		cores < 1 ? 1 : cores > JOBS_RUNNING_MAX ? JOBS_RUNNING_MAX : (unsigned)cores };
	struct conn_limits conns = { DEFAULT_HEADER_TIMEOUT, DEFAULT_BODY_MIN, DEFAULT_BODY_WINDOW };
	struct storage_limits storage = { DEFAULT_MIN_FREE, DEFAULT_MIN_FREE_PERCENT, DEFAULT_MAX_UPLOAD_BYTES,
		DEFAULT_MAX_UPLOADS, DEFAULT_MAX_UNFINISHED, DEFAULT_UPLOAD_EXPIRY, DEFAULT_UPLOAD_IDLE,
		DEFAULT_MAX_RESULT_BYTES, DEFAULT_MAX_ROOM_RESULT_BYTES, DEFAULT_RESULT_EXPIRY };
	struct put_limits puts = { DEFAULT_PUTS_PER_UPLOADER, DEFAULT_PUTS_PER_ADDRESS };
	unsigned duck_threads = cores < 1 ? 1 : cores > SQL_THREADS_MAX ? SQL_THREADS_MAX : (unsigned)cores;
	unsigned warm_jobs = DEFAULT_SQL_WORKER_JOBS;
	uint64_t warm_idle_ms = DEFAULT_SQL_WORKER_IDLE_MS, duck_idle_ms = DEFAULT_DUCKDB_WORKER_IDLE_MS;
	unsigned per_address = DEFAULT_PER_ADDRESS;
	/* The options that take a count, OPT_COUNT in longopts. */
	const struct {
		const char *name;
		unsigned *out;
	} counts[] = {
		{ "max-room-jobs", &jobs.per_room },
		{ "max-caller-jobs", &jobs.per_caller },
		{ "max-running-jobs", &jobs.running },
		{ "max-connections-per-address", &per_address },
		{ "max-uploads", &storage.max_datasets },
		{ "max-unfinished-uploads", &storage.max_unfinished },
		{ "max-puts-per-uploader", &puts.per_uploader },
		{ "max-puts-per-address", &puts.per_address },
		{ "max-rooms", &srv.creators.max_rooms },
		{ "max-rooms-per-creator", &srv.creators.max_per_creator },
		{ "duckdb-threads", &duck_threads },
		{ "sql-worker-jobs", &warm_jobs },
	};
	uint64_t secs;
	struct sandbox_options sandbox = { NULL, NULL, NULL };
	char sandbox_desc[3 * 4096];
	char buf[256], blobs_dir[4096];
	const char *creator_cas[64];
	size_t n_creator_cas = 0;
	uint64_t sql_memory = DEFAULT_SQL_MEMORY;
	uint64_t sql_time = DEFAULT_SQL_TIME_MS;
	int64_t mark = 0, last_call = 0;
	bool job_left;
	struct MHD_Daemon *daemon;
	struct sockaddr_in sa;
	struct dcr_err err;
	sigset_t signals;
	int c, r, index = 0, fd, lock, sig = 0, status = 1;

	optind = 0;
	opterr = 0;
	creators_init(&srv.creators);
	kind_args_init(&kind_args, &opt);
	while ((c = getopt_long(argc, argv, ":h", longopts, &index)) != -1) {
		if ((r = kind_args_take(&kind_args, &opt, c, optarg, "serve")) != 0) {
			if (r < 0)
				return 2;
			continue;
		}
		switch (c) {
		case 'd': data_dir = optarg; break;
		case 'l': listen_arg = optarg; break;
		case 'c':
			if (n_creator_cas == sizeof(creator_cas) / sizeof(*creator_cas)) {
				fprintf(stderr, "dcrd: serve: more than %zu --creator-ca files\n", n_creator_cas);
				return 2;
			}
			creator_cas[n_creator_cas++] = optarg;
			break;
		case 'p': srv.creators.platform = srv.creators.restricted = true; break;
		case 'r':
			if (!parse_create_rate(optarg, &srv.creators)) {
				fprintf(stderr, "dcrd: serve: invalid --create-rate '%s' (want N/PERIOD, like 20/1h: N from 1 "
						"to 1000000, PERIOD a whole number and s, m, h or d, at most 30d)\n", optarg);
				return 2;
			}
			break;
		case OPT_COUNT:
			for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
				if (strcmp(counts[i].name, longopts[index].name) == 0 &&
				    limit_option(counts[i].name, optarg, counts[i].out))
					return 2;
			break;
		case OPT_HEADER_TIMEOUT:
			if (!dcr_parse_duration(optarg, MAX_TIMEOUT, &secs)) {
				fprintf(stderr, "dcrd: serve: invalid --header-timeout '%s' (a number and s, m or h, like 10s; "
						"at most 1h)\n", optarg);
				return 2;
			}
			conns.header_timeout_s = (unsigned)secs;
			break;
		case OPT_MIN_BODY_RATE:
			if (!parse_rate(optarg, &conns.body_min_bytes, &conns.body_window_s)) {
				fprintf(stderr, "dcrd: serve: invalid --min-body-rate '%s' (bytes per time, like 64K/30s; "
						"at most 1h)\n", optarg);
				return 2;
			}
			break;
		case OPT_MIN_FREE:
			if (!parse_min_free(optarg, &storage)) {
				fprintf(stderr, "dcrd: serve: invalid --min-free '%s' (bytes, like 2G, or a share of the disk, "
						"like 10%%)\n", optarg);
				return 2;
			}
			break;
		case OPT_MAX_UPLOAD_BYTES:
			if (!dcr_parse_size(optarg, &storage.max_bytes) || storage.max_bytes == 0) {
				fprintf(stderr, "dcrd: serve: invalid --max-upload-bytes '%s' (bytes, like 500G)\n", optarg);
				return 2;
			}
			break;
		case OPT_UPLOAD_EXPIRY:
			if (!dcr_parse_duration(optarg, MAX_UPLOAD_EXPIRY, &storage.expiry_s)) {
				fprintf(stderr, "dcrd: serve: invalid --upload-expiry '%s' (a number and s, m, h or d, like 24h; "
						"at most 365d)\n", optarg);
				return 2;
			}
			break;
		case OPT_MAX_RESULT_BYTES:
		case OPT_MAX_ROOM_RESULT_BYTES: {
			uint64_t *v = c == OPT_MAX_RESULT_BYTES ? &storage.max_result_bytes : &storage.max_room_result_bytes;

			if (!dcr_parse_size(optarg, v) || *v == 0) {
				fprintf(stderr, "dcrd: serve: invalid --%s '%s' (bytes, like 16G)\n", longopts[index].name,
					optarg);
				return 2;
			}
			break;
		}
		case OPT_RESULT_EXPIRY:
			if (!dcr_parse_duration(optarg, MAX_UPLOAD_EXPIRY, &storage.result_expiry_s)) {
				fprintf(stderr, "dcrd: serve: invalid --result-expiry '%s' (a number and s, m, h or d, like 30d; "
						"at most 365d)\n", optarg);
				return 2;
			}
			break;
		case OPT_UPLOAD_IDLE:
			if (!dcr_parse_duration(optarg, MAX_UPLOAD_EXPIRY, &storage.idle_s)) {
				fprintf(stderr, "dcrd: serve: invalid --upload-idle '%s' (a number and s, m, h or d, like 10m; "
						"at most 365d)\n", optarg);
				return 2;
			}
			break;
		case 'U': sandbox.user = optarg; break;
		case 'G': sandbox.cgroup = optarg; break;
		case 'T':
			if (dcr_duration_parse(optarg, &srv.job_bounds.time_ms) < 0 || srv.job_bounds.time_ms == 0 ||
			    srv.job_bounds.time_ms > JOB_TIME_MAX_MS) {
				fprintf(stderr, "dcrd: serve: invalid --max-job-time '%s' (a number and ms, s, m or h, "
					"like 30m; above 0 and at most 24h)\n", optarg);
				return 2;
			}
			break;
		case 'M':
			if (!dcr_parse_size(optarg, &srv.job_bounds.memory) || srv.job_bounds.memory < JOB_MEMORY_MIN ||
			    srv.job_bounds.memory > JOB_MEMORY_MAX) {
				fprintf(stderr, "dcrd: serve: invalid --max-job-memory '%s' (bytes, like 8G or 8GiB; "
					"from 16MiB to 64GiB)\n", optarg);
				return 2;
			}
			break;
		case OPT_MAX_SQL_TIME:
			if (dcr_duration_parse(optarg, &sql_time) < 0 || sql_time == 0 || sql_time > JOB_TIME_MAX_MS) {
				fprintf(stderr, "dcrd: serve: invalid --max-sql-time '%s' (a number and ms, s, m or h, "
					"like 10m; above 0 and at most 24h)\n", optarg);
				return 2;
			}
			break;
		case 'Q':
			if (!dcr_parse_size(optarg, &sql_memory) || sql_memory < (16u << 20) ||
			    sql_memory > INT64_MAX - SQL_HEAP_HEADROOM) {
				fprintf(stderr, "dcrd: serve: invalid --max-sql-memory '%s' (bytes, like 2G or 512MiB; "
					"at least 16M)\n", optarg);
				return 2;
			}
			break;
		case OPT_SQL_WORKER_IDLE:
		case OPT_DUCKDB_WORKER_IDLE: {
			uint64_t *idle = c == OPT_SQL_WORKER_IDLE ? &warm_idle_ms : &duck_idle_ms;

			if (strcmp(optarg, "0") == 0) {
				*idle = 0;
			} else if (dcr_duration_parse(optarg, idle) < 0 || *idle > MAX_SQL_WORKER_IDLE_MS) {
				fprintf(stderr, "dcrd: serve: invalid --%s '%s' (0, or a number and ms, s, m or h, like "
					"2s; at most 1h)\n", c == OPT_SQL_WORKER_IDLE ? "sql-worker-idle" :
					"duckdb-worker-idle", optarg);
				return 2;
			}
			break;
		}
		case 'h':
			usage(stdout);
			printf("See dcrd(8).\n");
			return 0;
		case ':':
			fprintf(stderr, "dcrd: serve: option '%s' needs a value\n", argv[optind - 1]);
			usage(stderr);
			return 2;
		default:
			fprintf(stderr, "dcrd: serve: unknown option '%s'\n", argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	if (jobs.running > JOBS_RUNNING_MAX) {
		fprintf(stderr, "dcrd: serve: invalid --max-running-jobs '%u' (a whole number from 1 to %d)\n",
			jobs.running, JOBS_RUNNING_MAX);
		return 2;
	}
	if (duck_threads > SQL_THREADS_MAX) {
		fprintf(stderr, "dcrd: serve: invalid --duckdb-threads '%u' (a whole number from 1 to %d)\n",
			duck_threads, SQL_THREADS_MAX);
		return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "dcrd: serve: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!data_dir) {
		fprintf(stderr, "dcrd: serve: --data-dir is required\n");
		usage(stderr);
		return 2;
	}
	if (parse_listen(listen_arg, &sa) < 0) {
		fprintf(stderr, "dcrd: serve: invalid --listen '%s' (want IPV4:PORT, like 127.0.0.1:7443)\n", listen_arg);
		return 2;
	}
	if (kind_args_finish(&kind_args, &opt, "serve") < 0) {
		usage(stderr);
		return 2;
	}
	if (opt.kind->sandbox_refused && (sandbox.user || sandbox.cgroup)) {
		fprintf(stderr, "dcrd: serve: --sandbox-user and --cgroup are for python computations, which "
				"--attestation %s refuses\n", kind_args.attestation);
		usage(stderr);
		return 2;
	}
	sandbox.refuse = opt.kind->sandbox_refused;
	for (size_t i = 0; i < n_creator_cas; i++)
		if (creators_add_ca_file(&srv.creators, creator_cas[i], &err) < 0) {
			fprintf(stderr, "dcrd: serve: --creator-ca: %s\n", err.msg);
			creators_release(&srv.creators);
			return 1;
		}
	/*
	 * SQLite's allocations are charged to the database that makes them, so
	 * an SQL job and a room's validation each have a budget of their own;
	 * the whole process has a hard limit above them, state.db included.
	 */
	if (dcr_sql_init(&err) < 0) {
		fprintf(stderr, "dcrd: serve: %s\n", err.msg);
		creators_release(&srv.creators);
		return 1;
	}
	sqlite3_hard_heap_limit64((sqlite3_int64)(sql_memory + SQL_HEAP_HEADROOM));
	jobs_sql_memory(sql_memory);
	jobs_sql_time(sql_time);
	jobs_sql_threads(duck_threads);
	jobs_sql_warm(warm_idle_ms, duck_idle_ms, warm_jobs);
	/*
	 * dcrd holds the sealing key: no process of its user (a python
	 * sandbox, when dcrd is not root) may read its memory or descriptors
	 * through /proc or ptrace, and it leaves no core dump.
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		fprintf(stderr, "dcrd: serve: cannot make the process non-dumpable: %s\n", strerror(errno));
		creators_release(&srv.creators);
		return 1;
	}
	if (sandbox_configure(&sandbox, sandbox_desc, sizeof(sandbox_desc), &err) < 0) {
		fprintf(stderr, "dcrd: serve: %s\n", err.msg);
		creators_release(&srv.creators);
		return err.code == DCR_EFAIL ? 1 : 2;
	}
	/* Before any thread reads its report: rooms with python computations are refused if it fails. */
	(void)sandbox_available(NULL);
	/* Everything dcrd creates (state.db and its WAL too) is for its owner only. */
	umask(077);
	/* The port first: a busy port must not leave a new data directory behind. */
	if ((fd = listen_socket(&sa, listen_arg, &err)) < 0) {
		fprintf(stderr, "dcrd: serve: %s\n", err.msg);
		sandbox_shutdown();
		creators_release(&srv.creators);
		return 1;
	}
	if (prepare_data_dir(data_dir, &err) < 0 || (lock = lock_data_dir(data_dir, &err)) < 0 ||
	    enclave_open(&srv.enclave, data_dir, &opt, &err) < 0 ||
	    state_open(&srv.state, data_dir, srv.enclave.sealing_key, &err) < 0 ||
	    state_open(&srv.reader, data_dir, srv.enclave.sealing_key, &err) < 0 ||
	    platform_open(&srv.enclave, data_dir, &err) < 0 || blobs_init(data_dir, &puts, &err) < 0 ||
	    (!(srv.replay = dcr_replay_new()) && dcr_err_set(&err, DCR_ENOMEM, "out of memory") < 0)) {
		fprintf(stderr, "dcrd: serve: %s\n", err.msg);
		state_close(&srv.state);
		state_close(&srv.reader);
		enclave_close(&srv.enclave);
		close(fd);
		sandbox_shutdown();
		creators_release(&srv.creators);
		return 1;
	}
	/* Worker threads inherit this mask, so only sigwait below sees the signals. */
	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);
	srv.started = time(NULL);
	srv.svc = service();
	if (state_clock_mark(&srv.state, &mark, &last_call, &err) < 0) {
		fprintf(stderr, "dcrd: serve: %s\n", err.msg);
		goto stop;
	}
	/* dcrd's own clock, not a caller's timestamp: a caller cannot push it ahead. */
	clock_start(mark);
	srv.started_ms = clock_now_ms();
	srv.fresh_from_ms = last_call >= srv.started_ms ? last_call + 1 : srv.started_ms;
	if (creators_count_rooms(&srv.creators, &srv.state, &err) < 0 || room_index_build(&srv.state, &err) < 0 ||
	    blobs_sweep(&srv.svc, &err) < 0 || table_store_sweep(data_dir, &err) < 0 ||
	    storage_open(&srv.svc, &storage, &err) < 0 ||
	    /* Before any other thread uses the state: what start-up wrote is on disk already. */
	    data_path(blobs_dir, sizeof(blobs_dir), data_dir, "blobs", &err) < 0 ||
	    state_group_commit(&srv.state, data_dir, blobs_dir, &err) < 0 ||
	    jobs_start(&srv.svc, &jobs, &err) < 0 ||
	    watchdog_start(&conns, chores, &err) < 0) {
		fprintf(stderr, "dcrd: serve: %s\n", err.msg);
		goto stop;
	}
	fprintf(stderr, "dcrd: %s\n", sandbox_desc);
	if (!opt.kind->sandbox_refused) /* (which said why python is refused) */
		sandbox_log();
	{
		char t[32], m[32];

		dcr_duration_format(srv.job_bounds.time_ms, t);
		dcr_size_format(srv.job_bounds.memory, m);
		fprintf(stderr, "dcrd: every job may run for at most %s, python jobs use at most %s of memory "
				"(--max-job-time, --max-job-memory)\n", t, m);
		fprintf(stderr, "dcrd: up to %u jobs run at once, one of each room (--max-running-jobs)\n",
			jobs.running);
		dcr_duration_format(sql_time, t);
		fprintf(stderr, "dcrd: every SQL job may run for at most %s (--max-sql-time)\n", t);
		if (duck_version())
			fprintf(stderr, "dcrd: each DuckDB job uses %u threads (--duckdb-threads)\n", duck_threads);
	}
	/* Said before the daemon answers /healthz, so whoever waits for it finds the line in the log. */
	opt.kind->describe(&srv.enclave, buf, sizeof(buf));
	fprintf(stderr, "dcrd: listening on http://%s (data directory %s, attestation %s)\n", listen_arg, data_dir,
		buf);
	daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
			MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL,
		handle, NULL,
		MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)THREADS,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_address,
		MHD_OPTION_NOTIFY_CONNECTION, connection_event, NULL,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
		MHD_OPTION_END);
	if (!daemon) {
		fprintf(stderr, "dcrd: serve: cannot start the HTTP server on %s\n", listen_arg);
		goto stop;
	}
	while (sigwait(&signals, &sig) != 0)
		;
	fprintf(stderr, "dcrd: %s received, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
	/*
	 * libmicrohttpd aborts if stopped with a suspended connection: no call
	 * is suspended from here on, calls waiting for jobs are woken, and
	 * dcrd waits until each call that had a bulk preparation was answered
	 * or closed (it must: its thread resumes the connection), and each
	 * woken call too, for up to 5 s (completed() counts both off).
	 */
	atomic_store(&stopping, true);
	jobs_wait_stop();
	for (int i = 0; atomic_load(&bulk_running) > 0 || (atomic_load(&resumed_waits) > 0 && i < 500); i++)
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	MHD_stop_daemon(daemon);
	status = 0;
stop:
	watchdog_stop();
	job_left = jobs_stop();
	/* The runner takes the call lock for state and storage, which jobs_stop now holds: those may go. */
	storage_close();
	close(fd);
	state_close(&srv.state);
	state_close(&srv.reader);
	blobs_reap();
	creators_release(&srv.creators);
	dcr_replay_free(srv.replay);
	if (job_left) {
		/*
		 * The job still runs in the sandbox, with the enclave's data
		 * directory and options: leave those, wipe the keys, and end
		 * without exit handlers, which would tear down OpenSSL and SQLite
		 * under the job's thread. The job runs again at the next start.
		 */
		enclave_wipe_keys(&srv.enclave);
		fprintf(stderr, "dcrd: stopped; the job that was running runs again at the next start\n");
		_exit(status);
	}
	sandbox_shutdown();
	enclave_close(&srv.enclave);
	close(lock);
	if (status == 0)
		fprintf(stderr, "dcrd: stopped\n");
	return status;
}
