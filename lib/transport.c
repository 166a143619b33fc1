/* HTTP transport to dcrd (libcurl): bounded GETs and POSTs with errors a user can act on. */
#include "transport.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

struct buffer {
	uint8_t *data;
	size_t len, max;
	int overflow;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void init_curl(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t collect(char *ptr, size_t size, size_t n, void *ctx)
{
	struct buffer *b = ctx;
	size_t len = size * n;
	uint8_t *grown;

	if (b->len + len > b->max) {
		b->overflow = 1;
		return 0; /* makes curl stop with CURLE_WRITE_ERROR */
	}
	grown = realloc(b->data, b->len + len + 1);
	if (!grown)
		return 0;
	b->data = grown;
	memcpy(b->data + b->len, ptr, len);
	b->len += len;
	b->data[b->len] = '\0';
	return len;
}

/* The first line of a text answer, printable characters only, for messages. */
static void first_line(const struct buffer *b, char *out, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; b->data && i < b->len && b->data[i] != '\n' && n + 1 < size; i++)
		out[n++] = b->data[i] >= 0x20 && b->data[i] < 0x7f ? (char)b->data[i] : '?';
	out[n] = '\0';
}

int dcr_http(const char *endpoint, const char *method, const char *path, const char *content_type,
	const uint8_t *body, size_t body_len, size_t max_response, uint8_t **out, size_t *out_len,
	struct dcr_err *err)
{
	struct buffer resp = { .max = max_response };
	char url[2048], errbuf[CURL_ERROR_SIZE] = "", header[128], line[160];
	struct curl_slist *headers = NULL;
	long status = 0;
	CURLcode rc;
	CURL *curl;
	int r = 0;

	*out = NULL;
	*out_len = 0;
	pthread_once(&curl_once, init_curl);
	if (curl_init_result != CURLE_OK)
		return dcr_err_set(err, DCR_EFAIL, "cannot initialise libcurl");
	if ((size_t)snprintf(url, sizeof(url), "%s%s", endpoint, path) >= sizeof(url))
		return dcr_err_set(err, DCR_EUSAGE, "endpoint URL too long");
	if (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0)
		return dcr_err_set(err, DCR_EUSAGE, "endpoint '%s' must start with http:// or https://", endpoint);
	curl = curl_easy_init();
	if (!curl)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 300L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "dcr/" DCR_VERSION);
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(curl, CURLOPT_POST, 1L);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	if (content_type) {
		snprintf(header, sizeof(header), "Content-Type: %s", content_type);
		headers = curl_slist_append(headers, header);
	}
	/* No "Expect: 100-continue" round trip for small calls. */
	headers = curl_slist_append(headers, "Expect:");
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	rc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (resp.overflow) {
		r = dcr_err_set(err, DCR_EFAIL, "%s: the answer is larger than %zu bytes", url, max_response);
	} else if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_OPERATION_TIMEDOUT ||
		   rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR || rc == CURLE_GOT_NOTHING) {
		r = dcr_err_set(err, DCR_EUNREACHABLE, "cannot reach dcrd at %s: %s", url,
			*errbuf ? errbuf : curl_easy_strerror(rc));
	} else if (rc != CURLE_OK) {
		r = dcr_err_set(err, DCR_EFAIL, "%s: %s", url, *errbuf ? errbuf : curl_easy_strerror(rc));
	} else if (status != 200) {
		first_line(&resp, line, sizeof(line));
		/* dcrd answers 400 only to a call it cannot decrypt or parse. */
		r = dcr_err_set(err, status == 404 ? DCR_ENOTFOUND : status == 400 ? DCR_EINVALID : DCR_EFAIL,
			"%s: HTTP %ld%s%s", url, status, *line ? ": " : "", line);
	}
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	if (r < 0) {
		free(resp.data);
		return r;
	}
	*out = resp.data;
	*out_len = resp.len;
	return 0;
}
