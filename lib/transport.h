/* HTTP transport to dcrd (libcurl): bounded GETs and POSTs with errors a user can act on. */
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

#endif
