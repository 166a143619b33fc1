/* lib/http1.c: dcr's HTTP/1.1 client for calls to dcrd over plain http, and its answer parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http1.h"
#include "transport.h"

/* Parse text as a whole answer; the result, with the body copied into body (NUL-terminated). */
static int parse(const char *text, size_t max, long *status, char *body, size_t body_size)
{
	size_t len = strlen(text), blen = 0;
	uint8_t *raw = malloc(len + 1), *b;
	char why[200] = "";
	int r;

	assert_non_null(raw);
	memcpy(raw, text, len);
	r = dcr_http1_parse(raw, len, max, status, &b, &blen, why, sizeof(why));
	if (r == 0) {
		assert_true(blen < body_size);
		memcpy(body, b, blen);
		body[blen] = '\0';
	} else {
		assert_true(r == -2 || why[0] != '\0');
	}
	free(raw);
	return r;
}

static void test_parse_answers(void **state)
{
	char body[256];
	long status;

	(void)state;
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 100, &status, body, sizeof(body)), 0);
	assert_int_equal(status, 200);
	assert_string_equal(body, "hello");
	/* Bytes beyond Content-Length are not the body. */
	assert_int_equal(parse("HTTP/1.1 200 OK\r\ncontent-length:  3 \r\n\r\nhello", 100, &status, body, sizeof(body)), 0);
	assert_string_equal(body, "hel");
	/* Chunked, with an extension, a trailer, upper-case hex; LF-only lines. */
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n3;x=y\r\nhel\r\nA\r\nlo, world!\r\n"
		"0\r\nX-Trailer: 1\r\n\r\n", 100, &status, body, sizeof(body)), 0);
	assert_string_equal(body, "hello, world!");
	assert_int_equal(parse("HTTP/1.0 404 Not Found\nServer: x\n\nnot found\n", 100, &status, body, sizeof(body)), 0);
	assert_int_equal(status, 404);
	assert_string_equal(body, "not found\n");
	/* 1xx answers come first and are skipped. */
	assert_int_equal(parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 100, &status, body,
		sizeof(body)), 0);
	assert_int_equal(status, 200);
	assert_string_equal(body, "ok");
	assert_int_equal(parse("HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", 100, &status, body, sizeof(body)), 0);
	assert_string_equal(body, "");
	/* The status line's reason may be absent. */
	assert_int_equal(parse("HTTP/1.1 503\r\n\r\nbusy", 100, &status, body, sizeof(body)), 0);
	assert_int_equal(status, 503);
}

static void test_parse_refusals(void **state)
{
	char body[256], *big;
	long status;

	(void)state;
	/* Larger than allowed, however it is framed. */
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello!", 5, &status, body, sizeof(body)), -2);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\n\r\nhello!", 5, &status, body, sizeof(body)), -2);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n3\r\nlo!\r\n0\r\n\r\n", 5,
		&status, body, sizeof(body)), -2);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nx", 5, &status,
		body, sizeof(body)), -2);
	/* A chunk size near 2^64 with no limit to stop it first: refused, not read around (review C6-3). */
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffe\r\nx", SIZE_MAX,
		&status, body, sizeof(body)), -1);
	/* Incomplete or malformed. */
	const char *bad[] = {
		"",
		"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n",
		"HTTP/2 200\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1 099 x\r\n\r\n",
		"http/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
		"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\n folded: header\r\n\r\n",
		"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
		"HTTP/1.1 100 Continue\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		int r = parse(bad[i], 100, &status, body, sizeof(body));

		if (r != -1)
			fail_msg("answer %zu was not refused: %d", i, r);
	}
	/* Headers longer than DCR_HTTP1_HEAD_MAX, complete or not. */
	big = malloc(DCR_HTTP1_HEAD_MAX + 100);
	assert_non_null(big);
	memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
	memset(big + 20, 'a', DCR_HTTP1_HEAD_MAX);
	big[DCR_HTTP1_HEAD_MAX + 20] = '\0';
	assert_int_equal(parse(big, 100, &status, body, sizeof(body)), -1);
	memcpy(big + DCR_HTTP1_HEAD_MAX + 20, "\r\n\r\n", 5);
	assert_int_equal(parse(big, 100, &status, body, sizeof(body)), -1);
	free(big);
}

static void test_usable(void **state)
{
	(void)state;
	unsetenv("http_proxy");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	assert_true(dcr_http1_usable("http://127.0.0.1:7443", "/v1/call"));
	assert_true(dcr_http1_usable("http://localhost", "/v1/call"));
	assert_true(dcr_http1_usable("http://[::1]:7443/dcrd", "/v1/call"));
	assert_true(dcr_http1_usable("http://dcrd.example:80", "/v1/evidence"));
	/* libcurl serves the rest. */
	assert_false(dcr_http1_usable("https://dcrd.example", "/v1/call"));
	assert_false(dcr_http1_usable("http://user:pw@dcrd.example", "/v1/call"));
	assert_false(dcr_http1_usable("http://dcrd.example?x=1", "/v1/call"));
	assert_false(dcr_http1_usable("http://dcrd.example:0", "/v1/call"));
	assert_false(dcr_http1_usable("http://dcrd.example:65536", "/v1/call"));
	assert_false(dcr_http1_usable("http://dcrd.example:80x", "/v1/call"));
	assert_false(dcr_http1_usable("http://", "/v1/call"));
	assert_false(dcr_http1_usable("http://[::1", "/v1/call"));
	assert_false(dcr_http1_usable("http://dcrd example", "/v1/call"));
	assert_false(dcr_http1_usable("http://dcrd.example/a b", "/v1/call"));
	/* A proxy for http is libcurl's to use, as it was. */
	setenv("http_proxy", "http://proxy.example:3128", 1);
	assert_false(dcr_http1_usable("http://127.0.0.1:7443", "/v1/call"));
	unsetenv("http_proxy");
	setenv("ALL_PROXY", "socks5://proxy.example", 1);
	assert_false(dcr_http1_usable("http://127.0.0.1:7443", "/v1/call"));
	unsetenv("ALL_PROXY");
	/* HTTP_PROXY in capitals is not libcurl's for http (httpoxy), nor ours. */
	setenv("HTTP_PROXY", "http://proxy.example:3128", 1);
	assert_true(dcr_http1_usable("http://127.0.0.1:7443", "/v1/call"));
	unsetenv("HTTP_PROXY");
}

/* A one-connection server: reads the request up to its body's end, answers with answer, closes. */
struct server {
	int listener;
	const char *answer;
	char request[4096];
	size_t request_len;
	int hold[2];               /* a pipe: when set, the answer's connection stays open until the test writes to it */
};

static void *serve(void *arg)
{
	struct server *s = arg;
	int fd = accept(s->listener, NULL, NULL);
	char *end;
	size_t want = 0;

	if (fd < 0)
		return NULL;
	while (s->request_len < sizeof(s->request) - 1) {
		ssize_t n = read(fd, s->request + s->request_len, sizeof(s->request) - 1 - s->request_len);

		if (n <= 0)
			break;
		s->request_len += (size_t)n;
		s->request[s->request_len] = '\0';
		if ((end = strstr(s->request, "\r\n\r\n"))) {
			const char *cl = strstr(s->request, "Content-Length: ");

			want = (size_t)(end + 4 - s->request) + (cl ? strtoul(cl + 16, NULL, 10) : 0);
			if (s->request_len >= want)
				break;
		}
	}
	if (s->answer && write(fd, s->answer, strlen(s->answer)) < 0)
		fail_msg("cannot answer");
	if (s->hold[0] > 0 && read(s->hold[0], s->request, 1) < 0)
		fail_msg("cannot wait");
	close(fd);
	return NULL;
}

static void start(struct server *s, const char *answer, char *endpoint, size_t size, pthread_t *t)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);

	memset(s, 0, sizeof(*s));
	s->answer = answer;
	s->listener = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->listener >= 0);
	assert_int_equal(bind(s->listener, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->listener, 1), 0);
	assert_int_equal(getsockname(s->listener, (struct sockaddr *)&a, &alen), 0);
	snprintf(endpoint, size, "http://127.0.0.1:%u", ntohs(a.sin_port));
	assert_int_equal(pthread_create(t, NULL, serve, s), 0);
}

static void stop(struct server *s, pthread_t t)
{
	pthread_join(t, NULL);
	close(s->listener);
}

static void test_requests(void **state)
{
	char endpoint[64], url[128];
	struct dcr_err err;
	struct server s;
	uint8_t *out;
	size_t len;
	pthread_t t;

	(void)state;
	/* A call: its request on the wire, a chunked answer, NUL-terminated. */
	start(&s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", endpoint, sizeof(endpoint), &t);
	assert_int_equal(dcr_http(endpoint, "POST", "/v1/call", "message/ohttp-req", (const uint8_t *)"abc", 3, 100, &out,
		&len, &err), 0);
	stop(&s, t);
	assert_int_equal(len, 5);
	assert_string_equal((char *)out, "hello");
	free(out);
	assert_non_null(strstr(s.request, "POST /v1/call HTTP/1.1\r\n"));
	assert_non_null(strstr(s.request, "\r\nContent-Type: message/ohttp-req\r\n"));
	assert_non_null(strstr(s.request, "\r\nContent-Length: 3\r\n"));
	assert_non_null(strstr(s.request, "\r\nConnection: close\r\n"));
	assert_null(strstr(s.request, "Expect:"));
	assert_string_equal(s.request + s.request_len - 7, "\r\n\r\nabc");

	/* A whole answer (Content-Length) on a connection the server keeps open: taken at once (review C6-5). */
	start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", endpoint, sizeof(endpoint), &t);
	assert_int_equal(pipe(s.hold), 0);
	/* A client that waits for the close never returns (the test's time limit ends it). */
	assert_int_equal(dcr_http(endpoint, "POST", "/v1/call", NULL, (const uint8_t *)"abc", 3, 100, &out, &len, &err),
		0);
	assert_int_equal(write(s.hold[1], "x", 1), 1);
	stop(&s, t);
	close(s.hold[0]);
	close(s.hold[1]);
	assert_int_equal(len, 5);
	assert_string_equal((char *)out, "hello");
	free(out);

	/* A refusal: the status and the answer's first line, as with libcurl. */
	start(&s, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 15\r\n\r\nbusy, try again", endpoint,
		sizeof(endpoint), &t);
	assert_int_equal(dcr_http(endpoint, "GET", "/v1/evidence", NULL, NULL, 0, 100, &out, &len, &err), DCR_EFAIL);
	stop(&s, t);
	snprintf(url, sizeof(url), "%s/v1/evidence: HTTP 503: busy, try again", endpoint);
	assert_string_equal(err.msg, url);
	assert_non_null(strstr(s.request, "GET /v1/evidence HTTP/1.1\r\n"));
	assert_null(strstr(s.request, "Content-Length"));

	start(&s, "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found", endpoint, sizeof(endpoint), &t);
	assert_int_equal(dcr_http(endpoint, "GET", "/v1/x", NULL, NULL, 0, 100, &out, &len, &err), DCR_ENOTFOUND);
	stop(&s, t);

	/* Closed without an answer: unreachable, naming the URL. */
	start(&s, NULL, endpoint, sizeof(endpoint), &t);
	assert_int_equal(dcr_http(endpoint, "POST", "/v1/call", NULL, (const uint8_t *)"x", 1, 100, &out, &len, &err),
		DCR_EUNREACHABLE);
	stop(&s, t);
	snprintf(url, sizeof(url), "cannot reach dcrd at %s/v1/call: ", endpoint);
	assert_memory_equal(err.msg, url, strlen(url));

	/* Too large, and malformed. */
	start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n", endpoint, sizeof(endpoint), &t);
	assert_int_equal(dcr_http(endpoint, "GET", "/v1/evidence", NULL, NULL, 0, 100, &out, &len, &err), DCR_EFAIL);
	stop(&s, t);
	assert_non_null(strstr(err.msg, "the answer is larger than 100 bytes"));
	start(&s, "SSH-2.0-OpenSSH_9.2\r\n", endpoint, sizeof(endpoint), &t);
	assert_int_equal(dcr_http(endpoint, "GET", "/v1/evidence", NULL, NULL, 0, 100, &out, &len, &err), DCR_EFAIL);
	stop(&s, t);
	assert_non_null(strstr(err.msg, "a malformed HTTP answer"));

	/* A method other than GET or POST, or a GET with a body, is never sent (review C6-7). */
	{
		long status;

		assert_int_equal(dcr_http1_request(endpoint, "/v1/x", "GET\r\nX-A: b", NULL, "t", NULL, 0, 100, 1, 1, "dcrd",
			&status, &out, &len, &err), DCR_EUSAGE);
		assert_int_equal(dcr_http1_request(endpoint, "/v1/x", "GET", NULL, "t", (const uint8_t *)"x", 1, 100, 1, 1,
			"dcrd", &status, &out, &len, &err), DCR_EUSAGE);
	}

	/* Nobody listening. */
	start(&s, "", endpoint, sizeof(endpoint), &t);
	close(s.listener);
	pthread_cancel(t);
	pthread_join(t, NULL);
	assert_int_equal(dcr_http(endpoint, "GET", "/v1/evidence", NULL, NULL, 0, 100, &out, &len, &err),
		DCR_EUNREACHABLE);
	assert_non_null(strstr(err.msg, "Connection refused"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_answers),
		cmocka_unit_test(test_parse_refusals),
		cmocka_unit_test(test_usable),
		cmocka_unit_test(test_requests),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
