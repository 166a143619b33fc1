/* dcrd serve: the HTTP service (libmicrohttpd), its data directory, and orderly shutdown. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "dcrd.h"
#include "sql.h"
#include "util.h"

#include "banned.h"

#define DEFAULT_LISTEN "127.0.0.1:7443"
#define DEFAULT_SGX_DEVICE "/dev/attestation"
#define DEFAULT_PCCS_URL "https://api.trustedservices.intel.com"
/* The CRL distribution point named in the Intel SGX Root CA certificate. */
#define DEFAULT_ROOT_CRL_URL "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der"
/* A call (1 MiB, see lib/call.c) with its signature, certificates and encapsulation. */
#define MAX_BODY ((1u << 20) + (64u << 10))
#define THREADS 4
#define CONNECTION_TIMEOUT 30      /* seconds */
#define CONNECTION_MEMORY (64u << 10)
#define DEFAULT_SQL_MEMORY (1ull << 30)
/* Above an SQL job's budget, for state.db and for validating rooms (64 MiB each, one per thread). */
#define SQL_HEAP_HEADROOM (512ull << 20)

struct server {
	struct enclave enclave;
	struct state state;
	pthread_mutex_t lock;      /* one call at a time: actions and their log entries */
	struct dcr_replay *replay;
	time_t started;
	int64_t started_ms;
	atomic_ulong requests[6];  /* by status class: 1xx .. 5xx, [0] unused */
	atomic_ulong bytes_in, bytes_out;
	struct service svc;        /* for blob transfers, which outlive one handler call */
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
	unsigned blob_status;      /* a refusal to answer once the body is in */
	char blob_msg[DCR_ERR_MSG_MAX];
};

static struct server srv = { .lock = PTHREAD_MUTEX_INITIALIZER };

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

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *type,
	const void *body, size_t len)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result r;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	atomic_fetch_add(&srv.bytes_out, len);
	return r;
}

static enum MHD_Result respond_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
	return respond(conn, status, "text/plain; charset=utf-8", text, strlen(text));
}

static enum MHD_Result metrics(struct MHD_Connection *conn)
{
	static const char *const classes[] = { "", "1xx", "2xx", "3xx", "4xx", "5xx" };
	char buf[2048];
	size_t used = 0;

	used += (size_t)snprintf(buf + used, sizeof(buf) - used,
		"# HELP dcrd_build_info The running dcrd.\n# TYPE dcrd_build_info gauge\n"
		"dcrd_build_info{version=\"%s\",attestation=\"%s\"} 1\n"
		"# HELP dcrd_start_time_seconds Start time since the Unix epoch.\n# TYPE dcrd_start_time_seconds gauge\n"
		"dcrd_start_time_seconds %lld\n"
		"# HELP dcrd_http_requests_total Requests answered, by status class.\n"
		"# TYPE dcrd_http_requests_total counter\n", DCR_VERSION, srv.enclave.opt.sgx ? "sgx-dcap" : "sim",
		(long long)srv.started);
	for (int c = 1; c <= 5; c++)
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, "dcrd_http_requests_total{code=\"%s\"} %lu\n",
			classes[c], atomic_load(&srv.requests[c]));
	used += (size_t)snprintf(buf + used, sizeof(buf) - used,
		"# HELP dcrd_http_received_bytes_total Request body bytes received.\n"
		"# TYPE dcrd_http_received_bytes_total counter\ndcrd_http_received_bytes_total %lu\n"
		"# HELP dcrd_http_sent_bytes_total Response body bytes sent.\n"
		"# TYPE dcrd_http_sent_bytes_total counter\ndcrd_http_sent_bytes_total %lu\n",
		atomic_load(&srv.bytes_in), atomic_load(&srv.bytes_out));
	return respond(conn, MHD_HTTP_OK, "text/plain; version=0.0.4", buf, used);
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
 * Calls run one at a time: each action commits together with the audit
 * entry that records it, and the answer carries the room's signed tree
 * head with a consistency proof from the size the caller last saw.
 */
static struct service service(void)
{
	return (struct service){ &srv.enclave, &srv.state, &srv.lock, srv.enclave.data_dir, NULL };
}


static enum MHD_Result call(struct MHD_Connection *conn, struct request *req)
{
	struct service svc = service();
	struct audit_note note = { 0 };
	struct dcr_ohttp_ctx ctx = { 0 };
	struct dcr_call_request creq = { 0 };
	struct dcr_err err, rerr, lerr;
	uint8_t *answer = NULL, *resp = NULL, sig[64];
	size_t answer_len = 0, resp_len = 0;
	char room_id[65] = "";
	Dcr__V1__SignedTreeHead sth, *head = NULL;
	struct dcr_merkle_frontier f;
	struct dcr_merkle_proof proof = { 0 };
	ProtobufCBinaryData hashes[DCR_MERKLE_PROOF_MAX];
	enum MHD_Result result;
	int r, accepted;

	r = dcr_call_accept(srv.enclave.hpke_sk, &srv.enclave.ohttp, req->body, req->len, dcr_now_ms(), srv.replay, &ctx,
		&creq, &err);
	accepted = r == 0;
	pthread_mutex_lock(&srv.lock);
	if (accepted && creq.timestamp_ms < srv.started_ms) {
		/*
		 * Made before this dcrd started: its nonce may have been in a table
		 * the host has since edited. A genuine client simply calls again.
		 */
		r = dcr_err_set(&err, DCR_EINTEGRITY,
			"call made before dcrd (re)started, so it may be a replay; make the call again");
	} else if (accepted) {
		/* The in-memory check is fast; this one survives restarts. */
		r = state_use_nonce(&srv.state, creq.nonce, dcr_now_ms(), &err);
		if (r == 0 && (r = state_begin(&srv.state, &err)) == 0) {
			svc.note = &note;
			r = rooms_call(&svc, &creq, &answer, &answer_len, room_id, &err);
			if (r < 0) {
				/* Undo what the action did; its refusal is still logged. */
				state_rollback(&srv.state);
				if (room_id[0] && state_begin(&srv.state, &lerr) < 0)
					room_id[0] = '\0';
			}
			if (room_id[0] && audit_record(&srv.state, room_id, creq.email, creq.method, outcome_of(r),
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
			}
		}
		/* Outsiders were told there is no room (room_id is unset): no head for them either. */
		if (room_id[0] && strcmp(room_id, creq.audit_room) == 0 &&
		    audit_head(&svc, room_id, &sth, sig, &f, &lerr) == 0) {
			head = &sth;
			if (creq.audit_known_size > 0 && creq.audit_known_size <= f.size &&
			    state_audit_consistency(&srv.state, room_id, creq.audit_known_size, f.size, &proof, &lerr) == 0)
				for (size_t i = 0; i < proof.len; i++)
					hashes[i] = (ProtobufCBinaryData){ 32, proof.hash[i] };
			else
				proof.len = 0;
		}
	}
	pthread_mutex_unlock(&srv.lock);
	if (ctx.aead_id == 0 || dcr_call_respond_room(&ctx, r < 0 ? err.code : 0, r < 0 ? err.msg : "", answer,
					 answer_len, head, hashes, proof.len, &resp, &resp_len, &rerr) < 0)
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

static const char *blob_in(const char *url)
{
	return strncmp(url, "/v1/blobs/", 10) == 0 ? url + 10 : NULL;
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
	struct dcr_err err;
	enum MHD_Result r;
	unsigned status;
	char path[4096], num[32];
	int fd;

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
	if (blob_path(&srv.svc, id, path, sizeof(path), &err) < 0 || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return respond_status(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot read the blob");
	if (!(resp = MHD_create_response_from_fd64(b.size, fd))) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	atomic_fetch_add(&srv.bytes_out, b.size);
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
		return get ? respond_text(conn, MHD_HTTP_OK, "ok\n")
			   : respond_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET\n");
	if (strcmp(url, "/metrics") == 0)
		return get ? metrics(conn) : respond_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET\n");
	if (strcmp(url, "/v1/evidence") == 0)
		return get ? evidence(conn) : respond_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET\n");
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

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	const char *version, const char *upload, size_t *upload_len, void **state)
{
	struct request *req = *state;

	if (!req) {
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
		if (strcmp(method, "PUT") == 0 && blob_in(url)) {
			struct dcr_err err;

			if (blob_put_begin(&srv.svc, blob_in(url),
				    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
				    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Upload-Offset"), &req->upload,
				    &req->blob_status, &err) < 0)
				/* Answered before the body: a refused client cannot make dcrd read gigabytes. */
				return respond_status(conn, req->blob_status, err.msg);
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
	if (req->too_large)
		return respond_text(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
	return route(conn, method, url, req);
}

/* One log line per request: method, path, status, sizes, time. Never bodies. */
static void completed(void *cls, struct MHD_Connection *conn, void **state, enum MHD_RequestTerminationCode code)
{
	struct request *req = *state;
	const union MHD_ConnectionInfo *info;
	struct timespec now;
	unsigned status = 0;
	long ms;

	if (!req)
		return;
	if (req->upload) {
		/* The client went away mid-upload: keep what arrived, for it to resume. */
		struct dcr_err ignored;

		blob_put_end(&srv.svc, req->upload, NULL, &ignored);
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
	free(req->body);
	free(req);
	*state = NULL;
}

/* A size as dcrd's options give it: bytes, with an optional K, M, G or T (powers of 1024), like 512M or 2G. */
static int parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	const char *unit;
	unsigned long long n;
	unsigned shift = 0;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno)
		return -1;
	if (*end && (unit = strchr(units, *end))) {
		shift = 10 * (unsigned)(unit - units + 1);
		end++;
	}
	if (*end || n > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)n << shift;
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: dcrd serve --data-dir DIR [--listen ADDR:PORT] [--attestation sim|sgx-dcap]\n"
		     "                  [--sgx-device DIR] [--pccs-url URL] [--pccs-ca FILE] [--sgx-root-crl URL]\n"
		     "                  [--max-sql-memory SIZE]\n");
}

int cmd_serve(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "attestation", required_argument, NULL, 'a' },
		{ "sgx-device", required_argument, NULL, 'D' },
		{ "pccs-url", required_argument, NULL, 'P' },
		{ "sgx-root-crl", required_argument, NULL, 'R' },
		{ "pccs-ca", required_argument, NULL, 'C' },
		{ "max-sql-memory", required_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data_dir = NULL, *listen_arg = DEFAULT_LISTEN, *attestation = "sim";
	struct enclave_options opt = { false, DEFAULT_SGX_DEVICE, DEFAULT_PCCS_URL, DEFAULT_ROOT_CRL_URL, NULL };
	bool sgx_option = false;
	uint64_t sql_memory = DEFAULT_SQL_MEMORY;
	struct MHD_Daemon *daemon;
	struct sockaddr_in sa;
	struct dcr_err err;
	sigset_t signals;
	int c, fd, lock, sig = 0;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': data_dir = optarg; break;
		case 'l': listen_arg = optarg; break;
		case 'a': attestation = optarg; break;
		case 'D': opt.device = optarg; sgx_option = true; break;
		case 'P': opt.pccs_url = optarg; sgx_option = true; break;
		case 'R': opt.root_crl_url = optarg; sgx_option = true; break;
		case 'C': opt.pccs_ca = optarg; sgx_option = true; break;
		case 'M':
			if (parse_size(optarg, &sql_memory) < 0 || sql_memory < (16u << 20) ||
			    sql_memory > INT64_MAX - SQL_HEAP_HEADROOM) {
				fprintf(stderr, "dcrd: serve: invalid --max-sql-memory '%s' (bytes with an optional K, M, "
					"G or T, at least 16M, like 2G)\n", optarg);
				return 2;
			}
			break;
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
	opt.sgx = strcmp(attestation, "sgx-dcap") == 0;
	if (!opt.sgx && strcmp(attestation, "sim") != 0) {
		fprintf(stderr, "dcrd: serve: unknown attestation '%s' (sim or sgx-dcap)\n", attestation);
		return 2;
	}
	if (!opt.sgx && sgx_option) {
		fprintf(stderr, "dcrd: serve: --sgx-device, --pccs-url, --pccs-ca and --sgx-root-crl need --attestation sgx-dcap\n");
		usage(stderr);
		return 2;
	}
	/*
	 * SQLite's allocations are charged to the database that makes them, so
	 * an SQL job and a room's validation each have a budget of their own;
	 * the whole process has a hard limit above them, state.db included.
	 */
	if (dcr_sql_init(&err) < 0) {
		fprintf(stderr, "dcrd: serve: %s\n", err.msg);
		return 1;
	}
	sqlite3_hard_heap_limit64((sqlite3_int64)(sql_memory + SQL_HEAP_HEADROOM));
	jobs_sql_memory(sql_memory);
	/* Everything dcrd creates (state.db and its WAL too) is for its owner only. */
	umask(077);
	/* The port first: a busy port must not leave a new data directory behind. */
	if ((fd = listen_socket(&sa, listen_arg, &err)) < 0) {
		fprintf(stderr, "dcrd: serve: %s\n", err.msg);
		return 1;
	}
	if (prepare_data_dir(data_dir, &err) < 0 || (lock = lock_data_dir(data_dir, &err)) < 0 ||
	    enclave_open(&srv.enclave, data_dir, &opt, &err) < 0 ||
	    state_open(&srv.state, data_dir, srv.enclave.sealing_key, &err) < 0 ||
	    platform_open(&srv.enclave, data_dir, &err) < 0 || blobs_init(data_dir, &err) < 0 ||
	    (!(srv.replay = dcr_replay_new()) && dcr_err_set(&err, DCR_ENOMEM, "out of memory") < 0)) {
		fprintf(stderr, "dcrd: serve: %s\n", err.msg);
		enclave_close(&srv.enclave);
		close(fd);
		return 1;
	}
	/* Worker threads inherit this mask, so only sigwait below sees the signals. */
	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);
	srv.started = time(NULL);
	srv.started_ms = dcr_now_ms();
	srv.svc = service();
	{
		if (jobs_start(&srv.svc, &err) < 0) {
			fprintf(stderr, "dcrd: serve: %s\n", err.msg);
			close(fd);
			state_close(&srv.state);
			dcr_replay_free(srv.replay);
			enclave_close(&srv.enclave);
			return 1;
		}
	}
	/* Said before the daemon answers /healthz, so whoever waits for it finds the line in the log. */
	if (opt.sgx)
		fprintf(stderr, "dcrd: listening on http://%s (data directory %s, attestation sgx-dcap%s)\n", listen_arg,
			data_dir, srv.enclave.report.attributes[0] & DCR_SGX_FLAG_DEBUG ? ": DEBUG enclave, NO protection" : "");
	else
		fprintf(stderr, "dcrd: listening on http://%s (data directory %s, attestation sim: NO hardware "
				"protection)\n", listen_arg, data_dir);
	daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
		handle, NULL,
		MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)THREADS,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
		MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
		MHD_OPTION_END);
	if (!daemon) {
		fprintf(stderr, "dcrd: serve: cannot start the HTTP server on %s\n", listen_arg);
		jobs_stop();
		close(fd);
		state_close(&srv.state);
		dcr_replay_free(srv.replay);
		enclave_close(&srv.enclave);
		return 1;
	}
	while (sigwait(&signals, &sig) != 0)
		;
	fprintf(stderr, "dcrd: %s received, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
	MHD_stop_daemon(daemon);
	jobs_stop();
	close(fd);
	state_close(&srv.state);
	dcr_replay_free(srv.replay);
	enclave_close(&srv.enclave);
	close(lock);
	fprintf(stderr, "dcrd: stopped\n");
	return 0;
}
