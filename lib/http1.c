/*
 * dcr's own HTTP/1.1 client, for its calls to dcrd over plain http.
 *
 * libcurl, loaded at the first transfer, was a quarter of the CPU of a
 * `dcr run --wait` (its 30 libraries' relocations: 10 M of 38 M
 * instructions; docs/performance.md, issue 16), for what a call to dcrd
 * needs of HTTP: one request on a connection of its own and its answer. The
 * calls are end-to-end encrypted (OHTTP to the attested key): this client
 * adds nothing to trust, and the host that serves it is untrusted like the
 * network, so the answer is parsed with every length checked (fuzzed:
 * tests/fuzz/fuzz-http1.c). libcurl still serves https, proxies and blobs.
 */
#include "http1.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util.h"

#include "banned.h"

#define HOST_MAX 256
#define TARGET_MAX 2048

struct url {
	char host[HOST_MAX]; /* without an IPv6 literal's brackets */
	char port[8];
	char authority[HOST_MAX + 8];
	char target[TARGET_MAX];
};

static bool proxy_set(const char *name)
{
	const char *v = getenv(name);

	return v && *v;
}

/* endpoint + path as a URL this client serves; false: leave it to libcurl. */
static bool parse_url(const char *endpoint, const char *path, struct url *u)
{
	const char *auth, *rest, *colon = NULL, *host, *host_end;
	size_t auth_len, host_len, port_len;

	if (strncmp(endpoint, "http://", 7) != 0)
		return false;
	auth = endpoint + 7;
	rest = auth + strcspn(auth, "/");
	auth_len = (size_t)(rest - auth);
	if (auth_len == 0 || auth_len >= sizeof(u->authority) || memchr(auth, '@', auth_len))
		return false;
	if (*auth == '[') {
		host = auth + 1;
		if (!(host_end = memchr(auth, ']', auth_len)))
			return false;
		if (host_end + 1 < rest) {
			if (host_end[1] != ':')
				return false;
			colon = host_end + 1;
		}
	} else {
		host = auth;
		colon = memchr(auth, ':', auth_len);
		host_end = colon ? colon : rest;
	}
	host_len = (size_t)(host_end - host);
	port_len = colon ? (size_t)(rest - colon - 1) : 0;
	if (host_len == 0 || host_len >= sizeof(u->host) || port_len >= 6)
		return false;
	memcpy(u->host, host, host_len);
	u->host[host_len] = '\0';
	if (port_len == 0) {
		snprintf(u->port, sizeof(u->port), "80");
	} else {
		unsigned long port = 0;

		for (size_t i = 0; i < port_len; i++) {
			if (colon[1 + i] < '0' || colon[1 + i] > '9')
				return false;
			port = port * 10 + (unsigned long)(colon[1 + i] - '0');
		}
		if (port == 0 || port > 65535)
			return false;
		snprintf(u->port, sizeof(u->port), "%lu", port);
	}
	for (size_t i = 0; i < host_len; i++)
		if (u->host[i] <= ' ' || u->host[i] >= 0x7f || strchr("/?#@[]", u->host[i]))
			if (!(*auth == '[' && (u->host[i] == ':' || u->host[i] == '%')))
				return false;
	memcpy(u->authority, auth, auth_len);
	u->authority[auth_len] = '\0';
	if ((size_t)snprintf(u->target, sizeof(u->target), "%s%s", rest, path) >= sizeof(u->target) ||
	    u->target[0] != '/')
		return false;
	for (const char *p = u->target; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '?' || *p == '#')
			return false;
	return true;
}

bool dcr_http1_usable(const char *endpoint, const char *path)
{
	struct url u;

	/* libcurl's variables for an http URL (it ignores HTTP_PROXY in capitals). */
	if (proxy_set("http_proxy") || proxy_set("all_proxy") || proxy_set("ALL_PROXY"))
		return false;
	return parse_url(endpoint, path, &u);
}

/* ---- the answer ---- */

static void say(char *why, size_t size, const char *what)
{
	snprintf(why, size, "%s", what);
}

/* The next line of [*p, end): its start and length without CR LF (or LF); false if no LF before end. */
static bool next_line(uint8_t **p, const uint8_t *end, uint8_t **line, size_t *len)
{
	uint8_t *lf = memchr(*p, '\n', (size_t)(end - *p));

	if (!lf)
		return false;
	*line = *p;
	*len = (size_t)(lf - *p);
	if (*len > 0 && (*line)[*len - 1] == '\r')
		(*len)--;
	*p = lf + 1;
	return true;
}

static bool is_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static bool name_is(const uint8_t *line, size_t name_len, const char *name)
{
	return strlen(name) == name_len && strncasecmp((const char *)line, name, name_len) == 0;
}

/* A decimal of at most 18 digits (no sign, no blanks). */
static bool parse_decimal(const uint8_t *p, size_t len, uint64_t *v)
{
	*v = 0;
	if (len == 0 || len > 18)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		*v = *v * 10 + (uint64_t)(p[i] - '0');
	}
	return true;
}

struct head {
	long status;
	bool chunked, has_length;
	uint64_t length;
};

/* One status line and header block from *p; -1 malformed, 0 done, 1 incomplete. */
static int parse_head(uint8_t **p, const uint8_t *end, struct head *h, char *why, size_t why_size)
{
	uint8_t *line;
	size_t len;

	memset(h, 0, sizeof(*h));
	if (!next_line(p, end, &line, &len))
		return 1;
	if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' || line[7] > '9' || line[8] != ' ' ||
	    line[9] < '1' || line[9] > '5' || line[10] < '0' || line[10] > '9' || line[11] < '0' || line[11] > '9' ||
	    (len > 12 && line[12] != ' ')) {
		say(why, why_size, "not an HTTP/1 status line");
		return -1;
	}
	h->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
	for (;;) {
		size_t name_len, start, stop;
		const uint8_t *colon;
		uint64_t v;

		if (!next_line(p, end, &line, &len))
			return 1;
		if (len == 0)
			return 0;
		if (is_ows(line[0]) || !(colon = memchr(line, ':', len)) || colon == line) {
			say(why, why_size, "a malformed header line");
			return -1;
		}
		name_len = (size_t)(colon - line);
		for (size_t i = 0; i < name_len; i++)
			if (line[i] <= ' ' || line[i] >= 0x7f) {
				say(why, why_size, "a malformed header name");
				return -1;
			}
		for (start = name_len + 1; start < len && is_ows(line[start]); start++)
			;
		for (stop = len; stop > start && is_ows(line[stop - 1]); stop--)
			;
		if (name_is(line, name_len, "transfer-encoding")) {
			if (stop - start != 7 || strncasecmp((const char *)line + start, "chunked", 7) != 0) {
				say(why, why_size, "a transfer encoding other than chunked");
				return -1;
			}
			h->chunked = true;
		} else if (name_is(line, name_len, "content-length")) {
			if (!parse_decimal(line + start, stop - start, &v) || (h->has_length && v != h->length)) {
				say(why, why_size, "a malformed or contradictory Content-Length");
				return -1;
			}
			h->has_length = true;
			h->length = v;
		}
	}
}

/* Chunked body from p to end, decoded in place at p; 0, -1 malformed or incomplete, -2 too large. */
static int dechunk(uint8_t *p, const uint8_t *end, size_t max_body, size_t *body_len, char *why, size_t why_size)
{
	uint8_t *in = p, *line;
	size_t len, out = 0;

	for (;;) {
		uint64_t size = 0;
		size_t i;

		if (!next_line(&in, end, &line, &len)) {
			say(why, why_size, "the answer ended inside a chunk size");
			return -1;
		}
		for (i = 0; i < len && i < 16; i++) {
			uint8_t c = line[i];
			int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
				c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

			if (d < 0)
				break;
			size = size * 16 + (uint64_t)d;
		}
		/* At least one digit, then the end or an extension (ignored). */
		if (i == 0 || (i < len && line[i] != ';' && !is_ows(line[i]))) {
			say(why, why_size, "a malformed chunk size");
			return -1;
		}
		if (size == 0)
			break;
		if (size > max_body - out)
			return -2;
		/* size may be near 2^64 (16 hex digits) where max_body is: no size + 2 (review C6-3). */
		if ((uint64_t)(end - in) < 2 || (uint64_t)(end - in) - 2 < size) {
			say(why, why_size, "the answer ended inside a chunk");
			return -1;
		}
		if (!(in[size] == '\r' && in[size + 1] == '\n')) {
			say(why, why_size, "a chunk longer than its size");
			return -1;
		}
		memmove(p + out, in, (size_t)size);
		out += (size_t)size;
		in += size + 2;
	}
	/* Trailers, up to the empty line. */
	do {
		if (!next_line(&in, end, &line, &len)) {
			say(why, why_size, "the answer ended inside its trailers");
			return -1;
		}
	} while (len > 0);
	*body_len = out;
	return 0;
}

int dcr_http1_parse(uint8_t *raw, size_t len, size_t max_body, long *status, uint8_t **body, size_t *body_len,
	char *why, size_t why_size)
{
	const uint8_t *end = raw + len;
	uint8_t *p = raw;
	struct head h;
	int r;

	*status = 0;
	*body = NULL;
	*body_len = 0;
	/* 1xx answers come before the real one. */
	do {
		r = parse_head(&p, end, &h, why, why_size);
		if (r == 0 && (size_t)(p - raw) > DCR_HTTP1_HEAD_MAX)
			r = 2;
		if (r == 1 && len > DCR_HTTP1_HEAD_MAX)
			r = 2;
		if (r == 1)
			say(why, why_size, "the answer ended inside its headers");
		if (r == 2)
			say(why, why_size, "the answer's headers are too long");
		if (r)
			return -1;
	} while (h.status < 200);
	*status = h.status;
	*body = p;
	if (h.status == 204 || h.status == 304)
		return 0;
	if (h.chunked)
		return dechunk(p, end, max_body, body_len, why, why_size);
	if (h.has_length) {
		if (h.length > max_body)
			return -2;
		if ((uint64_t)(end - p) < h.length) {
			snprintf(why, why_size, "the answer ended after %zu of its %llu bytes", (size_t)(end - p),
				(unsigned long long)h.length);
			return -1;
		}
		*body_len = (size_t)h.length;
		return 0;
	}
	if ((size_t)(end - p) > max_body)
		return -2;
	*body_len = (size_t)(end - p);
	return 0;
}

/* ---- the connection ---- */

/* Milliseconds left until deadline, at least 0. */
static int left(uint64_t deadline)
{
	uint64_t now = (uint64_t)dcr_monotonic_ms();

	return now >= deadline ? 0 : deadline - now > 1000000 ? 1000000 : (int)(deadline - now);
}

/* Wait for events on fd until deadline; 0, or an errno (ETIMEDOUT). */
static int wait_for(int fd, short events, uint64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		int n = poll(&p, 1, left(deadline));

		if (n > 0)
			return 0;
		if (n == 0)
			return ETIMEDOUT;
		if (errno != EINTR)
			return errno;
	}
}

static int connect_one(const struct addrinfo *a, uint64_t deadline, int *fd_out)
{
	int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
	int e = 0, one = 1;
	socklen_t elen = sizeof(e);

	if (fd < 0)
		return errno;
	if (connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
		if (errno != EINPROGRESS)
			e = errno;
		else if (!(e = wait_for(fd, POLLOUT, deadline)) && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
			e = errno;
	}
	if (e) {
		close(fd);
		return e;
	}
	/* The request goes out in one write; its answer should not wait for an ACK either. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*fd_out = fd;
	return 0;
}

static int send_all(int fd, struct iovec *iov, int n, uint64_t deadline)
{
	while (n > 0) {
		struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		ssize_t sent = sendmsg(fd, &m, MSG_NOSIGNAL);

		if (sent < 0 && errno == EINTR)
			continue;
		if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int e = wait_for(fd, POLLOUT, deadline);

			if (e)
				return e;
			continue;
		}
		if (sent < 0)
			return errno;
		while (n > 0 && (size_t)sent >= iov->iov_len) {
			sent -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + sent;
			iov->iov_len -= (size_t)sent;
		}
	}
	return 0;
}

/*
 * Whether buf holds a whole answer framed by Content-Length (head and
 * body): reading stops there rather than at the peer's close (review
 * C6-5). A chunked answer is read to the close, and parsed then.
 */
static bool answer_whole(uint8_t *buf, size_t len)
{
	uint8_t *p = buf;
	struct head h;
	char why[8];

	return parse_head(&p, buf + len, &h, why, sizeof(why)) == 0 && h.status >= 200 && h.has_length && !h.chunked &&
		(uint64_t)(buf + len - p) >= h.length;
}

/* Everything up to the peer's close or a whole answer, at most max bytes (*over when there was more). */
static int recv_all(int fd, size_t max, uint64_t deadline, uint8_t **out, size_t *out_len, bool *over)
{
	size_t len = 0, cap = 0;
	uint8_t *buf = NULL;

	*over = false;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			size_t grown = cap ? cap * 2 : 16384;
			uint8_t *b;

			if (cap >= max + 1) {
				*over = true;
				break;
			}
			if (grown > max + 1)
				grown = max + 1;
			if (!(b = realloc(buf, grown + 1))) {
				free(buf);
				return ENOMEM;
			}
			buf = b;
			cap = grown;
		}
		n = recv(fd, buf + len, cap - len, 0);
		if (n > 0) {
			len += (size_t)n;
			if (answer_whole(buf, len))
				break;
			continue;
		}
		if (n == 0)
			break;
		if (errno == EINTR)
			continue;
		/* A reset after the answer: what came is parsed (a cut answer is refused there). */
		if (errno == ECONNRESET && len > 0)
			break;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int e = wait_for(fd, POLLIN, deadline);

			if (e) {
				free(buf);
				return e;
			}
			continue;
		}
		int e = errno;

		free(buf);
		return e;
	}
	*out = buf;
	*out_len = len;
	return 0;
}

static int unreachable(struct dcr_err *err, const char *service, const char *url, const char *reason)
{
	return dcr_err_set(err, DCR_EUNREACHABLE, "cannot reach %s%s%s: %s", service ? service : "",
		service ? " at " : "", url, reason);
}

int dcr_http1_request(const char *endpoint, const char *path, const char *method, const char *content_type,
	const char *user_agent, const uint8_t *body, size_t body_len, size_t max_response, long connect_s,
	long total_s, const char *service, long *status, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
	uint64_t start = (uint64_t)dcr_monotonic_ms(), deadline, connect_deadline;
	char head[TARGET_MAX + 1024], url[TARGET_MAX + 512], why[HOST_MAX + 256];
	size_t raw_len = 0, raw_max, blen;
	uint8_t *raw = NULL, *b;
	struct url u;
	int fd = -1, e, n, r;
	bool over;

	*out = NULL;
	*out_len = 0;
	*status = 0;
	if (!parse_url(endpoint, path, &u))
		return dcr_err_set(err, DCR_EUSAGE, "endpoint '%s' is not an http URL this client serves", endpoint);
	/* The method goes into the request line as it is, and only POST says how long its body is (review C6-7). */
	if (strcmp(method, "POST") != 0 && (strcmp(method, "GET") != 0 || body_len > 0))
		return dcr_err_set(err, DCR_EUSAGE, "this client sends a GET without a body or a POST only");
	snprintf(url, sizeof(url), "%s%s", endpoint, path);
	if (max_response > SIZE_MAX / 4)
		max_response = SIZE_MAX / 4;
	/* Room for 1xx answers, headers and chunk sizes. */
	raw_max = max_response + max_response / 4 + 2 * DCR_HTTP1_HEAD_MAX;
	deadline = start + (uint64_t)total_s * 1000;
	connect_deadline = start + (uint64_t)(connect_s < total_s ? connect_s : total_s) * 1000;
	n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: */*\r\n%s%s%s",
		method, u.target, u.authority, user_agent, content_type ? "Content-Type: " : "",
		content_type ? content_type : "", content_type ? "\r\n" : "");
	if (n >= 0 && (size_t)n < sizeof(head) && strcmp(method, "GET") != 0)
		n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %zu\r\n", body_len);
	if (n >= 0 && (size_t)n < sizeof(head))
		n += snprintf(head + n, sizeof(head) - (size_t)n, "Connection: close\r\n\r\n");
	if (n < 0 || (size_t)n >= sizeof(head))
		return dcr_err_set(err, DCR_EUSAGE, "request headers too long");

	if ((e = getaddrinfo(u.host, u.port, &hints, &res)) != 0) {
		snprintf(why, sizeof(why), "could not resolve host %s: %s", u.host,
			e == EAI_SYSTEM ? strerror(errno) : gai_strerror(e));
		return unreachable(err, service, url, why);
	}
	e = ECONNREFUSED;
	for (const struct addrinfo *a = res; a && fd < 0; a = a->ai_next)
		e = connect_one(a, connect_deadline, &fd);
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(why, sizeof(why), "cannot connect to %s port %s: %s", u.host, u.port,
			e == ETIMEDOUT ? "timed out" : strerror(e));
		return unreachable(err, service, url, why);
	}
	struct iovec iov[2] = { { head, (size_t)n }, { (void *)(body ? body : (const uint8_t *)""), body ? body_len : 0 } };

	e = send_all(fd, iov, body && body_len ? 2 : 1, deadline);
	if (!e)
		e = recv_all(fd, raw_max, deadline, &raw, &raw_len, &over);
	close(fd);
	if (e == ENOMEM)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if (e) {
		snprintf(why, sizeof(why), "%s", e == ETIMEDOUT ? "no complete answer in time" : strerror(e));
		return unreachable(err, service, url, why);
	}
	if (raw_len == 0) {
		free(raw);
		return unreachable(err, service, url, "the connection closed without an answer");
	}
	r = over ? -2 : dcr_http1_parse(raw, raw_len, max_response, status, &b, &blen, why, sizeof(why));
	if (r == -2) {
		free(raw);
		return dcr_err_set(err, DCR_EFAIL, "%s: the answer is larger than %zu bytes", url, max_response);
	}
	if (r < 0) {
		free(raw);
		return dcr_err_set(err, DCR_EFAIL, "%s: a malformed HTTP answer: %s", url, why);
	}
	/* The body moves to the front of the buffer, which is one byte longer than its capacity. */
	memmove(raw, b, blen);
	raw[blen] = '\0';
	*out = raw;
	*out_len = blen;
	return 0;
}
