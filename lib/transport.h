/* HTTP transport (libcurl): bounded calls to dcrd and GETs from collateral services, with errors a user can act on. */
#ifndef DCR_TRANSPORT_H
#define DCR_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/*
 * Send a request to endpoint + path (method "GET" or "POST"; body may be
 * NULL for GET) and read at most max_response bytes of the answer into
 * *out (free with free()). A service that cannot be reached is
 * DCR_EUNREACHABLE naming the URL; an HTTP status other than 200 is
 * DCR_EFAIL with the status and the first line of the answer (404:
 * DCR_ENOTFOUND; 400, a malformed call: DCR_EINVALID).
 */
int dcr_http(const char *endpoint, const char *method, const char *path, const char *content_type,
	const uint8_t *body, size_t body_len, size_t max_response, uint8_t **out, size_t *out_len,
	struct dcr_err *err);

/* A response header to capture: name is matched without regard to case. */
struct dcr_http_header {
	const char *name;
	char *value;       /* set by dcr_http_get: trimmed, free with free(); NULL when absent */
};

/*
 * GET url (https; plain http only to a loopback address, for tests) within
 * timeout_s seconds, with TLS verification against ca_file (PEM; NULL: the
 * system's trusted CAs), reading at most max_response
 * bytes into *out (free with free()) and the n_headers headers asked for;
 * on failure no header value is left allocated. Unreachable is
 * DCR_EUNREACHABLE naming the URL; another status than 200 is DCR_EFAIL
 * "HTTP 503 from URL"; a header asked for that comes twice is DCR_EFAIL.
 */
int dcr_http_get(const char *url, const char *ca_file, long timeout_s, size_t max_response,
	struct dcr_http_header *headers,
	size_t n_headers, uint8_t **out, size_t *out_len, struct dcr_err *err);

/*
 * Blobs at dcrd (PUT, HEAD and GET /v1/blobs/ID), with the bearer token a
 * call handed out. dcr_blob_head: how many bytes of an upload arrived.
 * dcr_blob_put: len bytes of fd from offset, sent as Upload-Offset: offset,
 * at most max_rate bytes a second (0: no limit); progress (may be NULL)
 * hears the bytes sent so far. dcr_blob_get: the
 * blob's bytes to sink, in pieces; an error the sink returns ends the
 * transfer and is returned with the sink's code and message, and a body
 * that ends before the length its answer announced is DCR_EINTEGRITY (the
 * bytes were withheld), as is a refusal with the header Dcr-Result: -9
 * (dcrd found the blob's file altered). Refusals quote dcrd's one-line reason (404:
 * DCR_ENOTFOUND); unreachable is DCR_EUNREACHABLE.
 */
int dcr_blob_head(const char *endpoint, const char *id, const char *token, uint64_t *received, struct dcr_err *err);
int dcr_blob_put(const char *endpoint, const char *id, const char *token, int fd, uint64_t offset, uint64_t len,
	uint64_t max_rate, int (*progress)(void *ctx, uint64_t sent), void *ctx, struct dcr_err *err);
/*
 * dcr_blob_put_from: the same with the body from source, which puts up to
 * want bytes into buf and their count into *got (0 only at the end, which
 * is an error before len bytes). An error the source returns ends the
 * transfer and is returned with the source's code and message.
 */
typedef int dcr_blob_source(void *ctx, uint8_t *buf, size_t want, size_t *got, struct dcr_err *err);
int dcr_blob_put_from(const char *endpoint, const char *id, const char *token, uint64_t offset, uint64_t len,
	uint64_t max_rate, dcr_blob_source *source, void *source_ctx, int (*progress)(void *ctx, uint64_t sent),
	void *ctx, struct dcr_err *err);
int dcr_blob_get(const char *endpoint, const char *id, const char *token,
	int (*sink)(void *ctx, const uint8_t *buf, size_t len, struct dcr_err *err), void *ctx, struct dcr_err *err);

#endif
