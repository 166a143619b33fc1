/* dcr's own HTTP/1.1 client for its calls to dcrd over plain http (see lib/http1.c). */
#ifndef DCR_HTTP1_H
#define DCR_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* How much of an answer may be status line and headers. */
#define DCR_HTTP1_HEAD_MAX (64u << 10)

/*
 * Whether dcr_http1_request can serve endpoint + path: an http:// URL
 * without user information, query or fragment, whose target is printable
 * ASCII, and no proxy configured for http in the environment (http_proxy,
 * all_proxy, ALL_PROXY: libcurl's rules); otherwise libcurl serves it.
 */
bool dcr_http1_usable(const char *endpoint, const char *path);

/*
 * One request (method "GET" without a body, or "POST"; anything else is
 * DCR_EUSAGE, never sent; body may be NULL) to endpoint +
 * path, on a connection of its own, closed after the answer: at most
 * connect_s seconds to connect, total_s for everything. The answer's body
 * (at most max_response bytes, NUL-terminated beyond its length; free with
 * free()) and status; reading ends at the server's close, or at the end
 * of an answer framed by Content-Length. Not reaching the service, or its
 * closing or timing out before a complete answer, is DCR_EUNREACHABLE "cannot reach SERVICE
 * at URL: REASON"; a malformed answer is DCR_EFAIL; a body larger than
 * max_response is DCR_EFAIL "URL: the answer is larger than N bytes".
 */
int dcr_http1_request(const char *endpoint, const char *path, const char *method, const char *content_type,
	const char *user_agent, const uint8_t *body, size_t body_len, size_t max_response, long connect_s,
	long total_s, const char *service, long *status, uint8_t **out, size_t *out_len, struct dcr_err *err);

/*
 * Parse a whole answer (the bytes up to the connection's close): skips 1xx
 * answers, then the status and the body by Transfer-Encoding: chunked,
 * Content-Length, or the close. *body_len bytes at *body (within raw, which
 * chunked decoding rewrites in place). -1 with a reason in why (size
 * why_size) for a malformed or incomplete answer; -2 when the body exceeds
 * max_body.
 */
int dcr_http1_parse(uint8_t *raw, size_t len, size_t max_body, long *status, uint8_t **body, size_t *body_len,
	char *why, size_t why_size);

#endif
