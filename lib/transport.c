/* HTTP transport (libcurl): bounded calls to dcrd and GETs from collateral services, with errors a user can act on. */
#include "transport.h"

#include <arpa/inet.h>
/* The calls go through pointers (below), which gcc's type-checking macros cannot wrap. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "crypto.h"
#include "http1.h"

#include "banned.h"

/* Header values we capture are issuer chains, about 3 KiB percent-encoded. */
#define HEADER_VALUE_MAX (64 * 1024)

struct buffer {
	uint8_t *data;
	size_t len, max;
	int overflow;
};

/*
 * libcurl is loaded when the first transfer begins, not when the program
 * starts: with the 30 libraries it pulls in (TLS, Kerberos, LDAP, SSH, IDN)
 * it was about two thirds of the dynamic loader's work at every start of
 * dcr, also for commands that never touch the network (see
 * docs/performance.md). Its ABI has been libcurl.so.4 since 2006; the
 * headers it is compiled against are the same package's.
 */
#define LIBCURL_SONAME "libcurl.so.4"
#define MIN_CURL_VERSION 0x075500 /* 7.85.0: CURLOPT_PROTOCOLS_STR */

static struct curl_api {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
	CURLcode (*easy_perform)(CURL *curl);
	CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
	void (*easy_cleanup)(CURL *curl);
	const char *(*easy_strerror)(CURLcode code);
	struct curl_slist *(*slist_append)(struct curl_slist *list, const char *string);
	void (*slist_free_all)(struct curl_slist *list);
	CURLU *(*url)(void);
	CURLUcode (*url_set)(CURLU *u, CURLUPart what, const char *part, unsigned int flags);
	CURLUcode (*url_get)(const CURLU *u, CURLUPart what, char **part, unsigned int flags);
	void (*url_cleanup)(CURLU *u);
	void (*free)(void *p);
	curl_version_info_data *(*version_info)(CURLversion age);
} libcurl;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static char curl_load_error[256];

/* Every symbol or none: a missing one leaves the table unusable and says which. */
static void init_curl(void)
{
	static const struct {
		const char *name;
		size_t offset;
	} symbols[] = {
#define SYM(field, name) { name, offsetof(struct curl_api, field) }
		SYM(global_init, "curl_global_init"), SYM(easy_init, "curl_easy_init"),
		SYM(easy_setopt, "curl_easy_setopt"), SYM(easy_perform, "curl_easy_perform"),
		SYM(easy_getinfo, "curl_easy_getinfo"), SYM(easy_cleanup, "curl_easy_cleanup"),
		SYM(easy_strerror, "curl_easy_strerror"), SYM(slist_append, "curl_slist_append"),
		SYM(slist_free_all, "curl_slist_free_all"), SYM(url, "curl_url"), SYM(url_set, "curl_url_set"),
		SYM(url_get, "curl_url_get"), SYM(url_cleanup, "curl_url_cleanup"), SYM(free, "curl_free"),
		SYM(version_info, "curl_version_info"),
#undef SYM
	};
	/* Lazy: a third less of the loader's work, for the few of libcurl's functions a transfer calls. */
	void *lib = dlopen(LIBCURL_SONAME, RTLD_LAZY | RTLD_LOCAL);
	struct curl_api table;

	if (!lib) {
		snprintf(curl_load_error, sizeof(curl_load_error), "cannot load %s: %s", LIBCURL_SONAME, dlerror());
		return;
	}
	const curl_version_info_data *v;

	for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
		void *fn = dlsym(lib, symbols[i].name);

		if (!fn) {
			snprintf(curl_load_error, sizeof(curl_load_error), "%s lacks %s", LIBCURL_SONAME, symbols[i].name);
			dlclose(lib);
			return;
		}
		memcpy((char *)&table + symbols[i].offset, &fn, sizeof(fn));
	}
	/* Older ones lack CURLOPT_PROTOCOLS_STR: the http/https-only rule would be lost (setopt fails too). */
	if (!(v = table.version_info(CURLVERSION_NOW)) || v->version_num < MIN_CURL_VERSION) {
		snprintf(curl_load_error, sizeof(curl_load_error), "%s is libcurl %s; dcr needs 7.85.0 or later",
			LIBCURL_SONAME, v && v->version ? v->version : "of an unknown version");
		dlclose(lib);
		return;
	}
	if (table.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(curl_load_error, sizeof(curl_load_error), "cannot initialise libcurl");
		dlclose(lib);
		return;
	}
	libcurl = table;
}

/*
 * Typed setopt: the library is called through a pointer, so curl's own
 * type checks are off (CURL_DISABLE_TYPECHECK); each wrapper passes exactly
 * the type its options take. The first failure is kept in *rc, and the
 * transfer is not performed (transfer_error reports it).
 */
static void opt_long(CURL *curl, CURLoption option, long value, CURLcode *rc)
{
	if (*rc == CURLE_OK)
		*rc = libcurl.easy_setopt(curl, option, value);
}

static void opt_off(CURL *curl, CURLoption option, curl_off_t value, CURLcode *rc)
{
	if (*rc == CURLE_OK)
		*rc = libcurl.easy_setopt(curl, option, value);
}

static void opt_ptr(CURL *curl, CURLoption option, const void *value, CURLcode *rc)
{
	if (*rc == CURLE_OK)
		*rc = libcurl.easy_setopt(curl, option, value);
}

static void opt_write(CURL *curl, CURLoption option, curl_write_callback fn, CURLcode *rc)
{
	if (*rc == CURLE_OK)
		*rc = libcurl.easy_setopt(curl, option, fn);
}

static void opt_read(CURL *curl, CURLoption option, curl_read_callback fn, CURLcode *rc)
{
	if (*rc == CURLE_OK)
		*rc = libcurl.easy_setopt(curl, option, fn);
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

/* Before any other use of libcurl. */
static int curl_ready(struct dcr_err *err)
{
	pthread_once(&curl_once, init_curl);
	if (!libcurl.easy_init)
		return dcr_err_set(err, DCR_EFAIL, "%s", curl_load_error);
	return 0;
}

/* A handle with the options every transfer shares: bounded answer, timeouts, http(s) only, no redirects. */
static CURL *new_handle(const char *url, char *errbuf, struct buffer *resp, long connect_s, long total_s,
	CURLcode *rc)
{
	CURL *curl = libcurl.easy_init();

	*rc = CURLE_OK;
	if (!curl)
		return NULL;
	opt_ptr(curl, CURLOPT_ERRORBUFFER, errbuf, rc);
	opt_ptr(curl, CURLOPT_URL, url, rc);
	opt_write(curl, CURLOPT_WRITEFUNCTION, collect, rc);
	opt_ptr(curl, CURLOPT_WRITEDATA, resp, rc);
	opt_long(curl, CURLOPT_CONNECTTIMEOUT, connect_s, rc);
	opt_long(curl, CURLOPT_TIMEOUT, total_s, rc);
	opt_long(curl, CURLOPT_NOSIGNAL, 1L, rc);
	opt_ptr(curl, CURLOPT_PROTOCOLS_STR, "http,https", rc);
	opt_ptr(curl, CURLOPT_USERAGENT, "dcr/" DCR_VERSION, rc);
	return curl;
}

/* What went wrong below HTTP, or 0; service names the peer in "cannot reach" (NULL: the URL alone). */
static int transfer_error(CURLcode rc, const struct buffer *resp, const char *url, const char *service,
	const char *errbuf, struct dcr_err *err)
{
	if (resp->overflow)
		return dcr_err_set(err, DCR_EFAIL, "%s: the answer is larger than %zu bytes", url, resp->max);
	if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_OPERATION_TIMEDOUT ||
	    rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR || rc == CURLE_GOT_NOTHING)
		return dcr_err_set(err, DCR_EUNREACHABLE, "cannot reach %s%s%s: %s", service ? service : "",
			service ? " at " : "", url, *errbuf ? errbuf : libcurl.easy_strerror(rc));
	if (rc != CURLE_OK)
		return dcr_err_set(err, DCR_EFAIL, "%s: %s", url, *errbuf ? errbuf : libcurl.easy_strerror(rc));
	return 0;
}

/* dcr_http over dcr's own HTTP/1.1 client (lib/http1.c): plain http, no proxy; the same answers and errors. */
static int http1(const char *endpoint, const char *method, const char *path, const char *content_type,
	const uint8_t *body, size_t body_len, size_t max_response, uint8_t **out, size_t *out_len,
	struct dcr_err *err)
{
	struct buffer resp = { .max = max_response };
	char line[160];
	long status = 0;
	int r;

	r = dcr_http1_request(endpoint, path, method, content_type, "dcr/" DCR_VERSION, body, body_len, max_response,
		10L, 300L, "dcrd", &status, &resp.data, &resp.len, err);
	if (r == 0 && status != 200) {
		first_line(&resp, line, sizeof(line));
		/* dcrd answers 400 only to a call it cannot decrypt or parse. */
		r = dcr_err_set(err, status == 404 ? DCR_ENOTFOUND : status == 400 ? DCR_EINVALID : DCR_EFAIL,
			"%s%s: HTTP %ld%s%s", endpoint, path, status, *line ? ": " : "", line);
	}
	if (r < 0) {
		free(resp.data);
		return r;
	}
	*out = resp.data;
	*out_len = resp.len;
	return 0;
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
	if (dcr_http1_usable(endpoint, path))
		return http1(endpoint, method, path, content_type, body, body_len, max_response, out, out_len, err);
	if ((r = curl_ready(err)) < 0)
		return r;
	if ((size_t)snprintf(url, sizeof(url), "%s%s", endpoint, path) >= sizeof(url))
		return dcr_err_set(err, DCR_EUSAGE, "endpoint URL too long");
	if (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0)
		return dcr_err_set(err, DCR_EUSAGE, "endpoint '%s' must start with http:// or https://", endpoint);
	curl = new_handle(url, errbuf, &resp, 10L, 300L, &rc);
	if (!curl)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if (strcmp(method, "POST") == 0) {
		opt_long(curl, CURLOPT_POST, 1L, &rc);
		opt_ptr(curl, CURLOPT_POSTFIELDS, body ? (const char *)body : "", &rc);
		opt_off(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len, &rc);
	}
	if (content_type) {
		snprintf(header, sizeof(header), "Content-Type: %s", content_type);
		headers = libcurl.slist_append(headers, header);
	}
	/* No "Expect: 100-continue" round trip for small calls. */
	headers = libcurl.slist_append(headers, "Expect:");
	opt_ptr(curl, CURLOPT_HTTPHEADER, headers, &rc);
	if (rc == CURLE_OK)
		rc = libcurl.easy_perform(curl);
	libcurl.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	r = transfer_error(rc, &resp, url, "dcrd", errbuf, err);
	if (r == 0 && status != 200) {
		first_line(&resp, line, sizeof(line));
		/* dcrd answers 400 only to a call it cannot decrypt or parse. */
		r = dcr_err_set(err, status == 404 ? DCR_ENOTFOUND : status == 400 ? DCR_EINVALID : DCR_EFAIL,
			"%s: HTTP %ld%s%s", url, status, *line ? ": " : "", line);
	}
	libcurl.slist_free_all(headers);
	libcurl.easy_cleanup(curl);
	if (r < 0) {
		free(resp.data);
		return r;
	}
	*out = resp.data;
	*out_len = resp.len;
	return 0;
}

struct capture {
	struct dcr_http_header *h;
	size_t n;
	const char *twice;     /* a header that came twice */
	const char *bad;       /* a header too long or with a NUL byte */
	bool nomem;
};

static void drop_headers(struct dcr_http_header *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(h[i].value);
		h[i].value = NULL;
	}
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* libcurl hands over one header line at a time, not NUL-terminated. */
static size_t on_header(char *line, size_t size, size_t n, void *ctx)
{
	struct capture *c = ctx;
	size_t len = size * n, name_len, start, end;
	const char *colon;

	/* A status line starts another response (1xx, a proxy's CONNECT): only the last one counts. */
	if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		drop_headers(c->h, c->n);
		return len;
	}
	if (!(colon = memchr(line, ':', len)))
		return len;
	name_len = (size_t)(colon - line);
	for (size_t i = 0; i < c->n; i++) {
		struct dcr_http_header *h = &c->h[i];

		if (strlen(h->name) != name_len || strncasecmp(line, h->name, name_len) != 0)
			continue;
		if (h->value) {
			c->twice = h->name;
			return 0;
		}
		for (start = name_len + 1; start < len && is_blank(line[start]); start++)
			;
		for (end = len; end > start && is_blank(line[end - 1]); end--)
			;
		if (end - start > HEADER_VALUE_MAX || memchr(line + start, '\0', end - start)) {
			c->bad = h->name;
			return 0;
		}
		if (!(h->value = malloc(end - start + 1))) {
			c->nomem = true;
			return 0;
		}
		memcpy(h->value, line + start, end - start);
		h->value[end - start] = '\0';
	}
	return len;
}

static bool is_loopback(const char *host)
{
	struct in_addr a;

	if (strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
		return true;
	return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

/* Collateral is signed, but TLS still keeps a network attacker from choosing what we cache. */
static int check_get_url(const char *url, struct dcr_err *err)
{
	CURLU *u = libcurl.url();
	char *scheme = NULL, *host = NULL;
	int r = 0;

	if (!u)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if (libcurl.url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    libcurl.url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    libcurl.url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		r = dcr_err_set(err, DCR_EUSAGE, "'%s' is not a URL", url);
	else if (strcmp(scheme, "https") != 0 && !(strcmp(scheme, "http") == 0 && is_loopback(host)))
		r = dcr_err_set(err, DCR_EUSAGE, "URL '%s' must start with https:// (http:// only to a loopback address)",
			url);
	libcurl.free(scheme);
	libcurl.free(host);
	libcurl.url_cleanup(u);
	return r;
}

int dcr_http_get(const char *url, const char *ca_file, long timeout_s, size_t max_response,
	struct dcr_http_header *headers,
	size_t n_headers, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	struct buffer resp = { .max = max_response };
	struct capture cap = { .h = headers, .n = n_headers };
	char errbuf[CURL_ERROR_SIZE] = "", line[160];
	long status = 0;
	CURLcode rc;
	CURL *curl;
	int r;

	*out = NULL;
	*out_len = 0;
	for (size_t i = 0; i < n_headers; i++)
		headers[i].value = NULL;
	if ((r = curl_ready(err)) < 0 || (r = check_get_url(url, err)) < 0)
		return r;
	if (timeout_s <= 0)
		return dcr_err_set(err, DCR_EUSAGE, "timeout %ld is not a positive number of seconds", timeout_s);
	if (!(curl = new_handle(url, errbuf, &resp, timeout_s < 10 ? timeout_s : 10L, timeout_s, &rc)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	opt_long(curl, CURLOPT_SSL_VERIFYPEER, 1L, &rc);
	opt_long(curl, CURLOPT_SSL_VERIFYHOST, 2L, &rc);
	if (ca_file)
		opt_ptr(curl, CURLOPT_CAINFO, ca_file, &rc);
	opt_write(curl, CURLOPT_HEADERFUNCTION, on_header, &rc);
	opt_ptr(curl, CURLOPT_HEADERDATA, &cap, &rc);
	if (rc == CURLE_OK)
		rc = libcurl.easy_perform(curl);
	libcurl.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (cap.nomem)
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
	else if (cap.twice || cap.bad)
		r = dcr_err_set(err, DCR_EFAIL, "%s: the %s header %s", url, cap.twice ? cap.twice : cap.bad,
			cap.twice ? "comes twice" : "is too long or has a NUL byte");
	else
		r = transfer_error(rc, &resp, url, NULL, errbuf, err);
	if (r == 0 && status != 200) {
		first_line(&resp, line, sizeof(line));
		r = dcr_err_set(err, DCR_EFAIL, "HTTP %ld from %s%s%s", status, url, *line ? ": " : "", line);
	}
	libcurl.easy_cleanup(curl);
	if (r < 0) {
		free(resp.data);
		drop_headers(headers, n_headers);
		return r;
	}
	*out = resp.data;
	*out_len = resp.len;
	return 0;
}

/* ---- blobs: PUT, HEAD and GET /v1/blobs/ID with a bearer token ---- */

struct blob_xfer {
	CURL *curl;
	struct curl_slist *headers;
	struct buffer resp;        /* error answers */
	char url[2048], errbuf[CURL_ERROR_SIZE];
	CURLcode rc;               /* how the transfer ended */
};

static int blob_begin(struct blob_xfer *x, const char *endpoint, const char *id, const char *token, long total_s,
	struct dcr_err *err)
{
	char header[160];
	int r;

	memset(x, 0, sizeof(*x));
	x->resp.max = 4096;
	if ((r = curl_ready(err)) < 0)
		return r;
	if (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0)
		return dcr_err_set(err, DCR_EUSAGE, "endpoint '%s' must start with http:// or https://", endpoint);
	if ((size_t)snprintf(x->url, sizeof(x->url), "%s/v1/blobs/%s", endpoint, id) >= sizeof(x->url) ||
	    (size_t)snprintf(header, sizeof(header), "Authorization: Bearer %s", token) >= sizeof(header))
		return dcr_err_set(err, DCR_EUSAGE, "endpoint URL or token too long");
	if (!(x->curl = new_handle(x->url, x->errbuf, &x->resp, 10L, total_s, &x->rc)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	x->headers = libcurl.slist_append(NULL, header);
	dcr_wipe(header, sizeof(header));
	return x->headers ? 0 : dcr_err_set(err, DCR_ENOMEM, "out of memory");
}

/* Run the transfer; any status but want is an error that quotes dcrd's one-line reason. */
static int blob_finish(struct blob_xfer *x, long want, struct dcr_err *err)
{
	long status = 0;
	char line[300];
	CURLcode rc;
	int r;

	opt_ptr(x->curl, CURLOPT_HTTPHEADER, x->headers, &x->rc);
	if (x->rc == CURLE_OK)
		x->rc = libcurl.easy_perform(x->curl);
	rc = x->rc;
	libcurl.easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
	r = transfer_error(rc, &x->resp, x->url, "dcrd", x->errbuf, err);
	if (r == 0 && status != want) {
		first_line(&x->resp, line, sizeof(line));
		/* 410: the upload expired, and is as good as gone (an answer to HEAD has no body to say so). */
		if (status == 410 && !*line)
			snprintf(line, sizeof(line), "the upload expired on dcrd and was deleted");
		r = dcr_err_set(err, status == 404 || status == 410 ? DCR_ENOTFOUND : status == 413 ? DCR_EINVALID : DCR_EFAIL,
			"%s: HTTP %ld%s%s", x->url, status, *line ? ": " : "", line);
	}
	return r;
}

static void blob_end(struct blob_xfer *x)
{
	/* Both are set only once libcurl is loaded. */
	if (x->headers)
		libcurl.slist_free_all(x->headers);
	if (x->curl)
		libcurl.easy_cleanup(x->curl);
	free(x->resp.data);
}

struct header_number {
	const char *name;
	uint64_t value;
	bool seen;
};

static size_t number_header(char *line, size_t size, size_t n, void *ctx)
{
	struct header_number *h = ctx;
	size_t len = size * n, name_len = strlen(h->name);
	char buf[32];

	if (len > name_len + 1 && strncasecmp(line, h->name, name_len) == 0 && line[name_len] == ':') {
		size_t i = name_len + 1, k = 0;

		while (i < len && is_blank(line[i]))
			i++;
		while (i < len && k + 1 < sizeof(buf) && line[i] >= '0' && line[i] <= '9')
			buf[k++] = line[i++];
		buf[k] = '\0';
		if (k > 0 && k < 20) {
			h->value = strtoull(buf, NULL, 10);
			h->seen = true;
		}
	}
	return len;
}

int dcr_blob_head(const char *endpoint, const char *id, const char *token, uint64_t *received, struct dcr_err *err)
{
	struct header_number h = { "Upload-Offset", 0, false };
	struct blob_xfer x;
	int r;

	if ((r = blob_begin(&x, endpoint, id, token, 60L, err)) == 0) {
		opt_long(x.curl, CURLOPT_NOBODY, 1L, &x.rc);
		opt_write(x.curl, CURLOPT_HEADERFUNCTION, number_header, &x.rc);
		opt_ptr(x.curl, CURLOPT_HEADERDATA, &h, &x.rc);
		r = blob_finish(&x, 200, err);
		if (r == 0 && !h.seen)
			r = dcr_err_set(err, DCR_EFAIL, "%s: no Upload-Offset in the answer", x.url);
	}
	blob_end(&x);
	*received = h.value;
	return r;
}

struct put_source {
	dcr_blob_source *read;
	void *read_ctx;
	uint64_t left;
	int (*progress)(void *ctx, uint64_t sent);
	void *ctx;
	uint64_t sent;
	struct dcr_err read_err;   /* the source's own error, kept from curl's "aborted by callback" */
	int failed;                /* the source's code */
};

static size_t read_source(char *buf, size_t size, size_t n, void *ctx)
{
	struct put_source *s = ctx;
	size_t want = size * n, got = 0;
	int r;

	if (want > s->left)
		want = (size_t)s->left;
	if (want == 0)
		return 0;
	if ((r = s->read(s->read_ctx, (uint8_t *)buf, want, &got, &s->read_err)) == 0 && got == 0)
		r = dcr_err_set(&s->read_err, DCR_EIO, "the upload's source ended %llu bytes early",
			(unsigned long long)s->left);
	if (r < 0) {
		s->failed = r;
		return CURL_READFUNC_ABORT;
	}
	s->left -= (uint64_t)got;
	s->sent += (uint64_t)got;
	if (s->progress)
		s->progress(s->ctx, s->sent);
	return got;
}

int dcr_blob_put_from(const char *endpoint, const char *id, const char *token, uint64_t offset, uint64_t len,
	uint64_t max_rate, dcr_blob_source *source, void *source_ctx, int (*progress)(void *ctx, uint64_t sent),
	void *ctx, struct dcr_err *err)
{
	struct put_source src = { .read = source, .read_ctx = source_ctx, .left = len, .progress = progress, .ctx = ctx };
	struct blob_xfer x;
	char header[64];
	int r;

	/* No overall timeout for big uploads; a stalled connection still ends (low-speed limit). */
	if ((r = blob_begin(&x, endpoint, id, token, 0L, err)) == 0) {
		snprintf(header, sizeof(header), "Upload-Offset: %llu", (unsigned long long)offset);
		x.headers = libcurl.slist_append(x.headers, header);
		x.headers = libcurl.slist_append(x.headers, "Content-Type: application/octet-stream");
		/*
		 * dcrd refuses a PUT (expired, no room, too many at once) before
		 * reading its body, and then closes: without 100-continue the
		 * refusal is lost in a broken pipe once the body outgrows the
		 * socket's buffers.
		 */
		x.headers = libcurl.slist_append(x.headers, "Expect: 100-continue");
		opt_long(x.curl, CURLOPT_UPLOAD, 1L, &x.rc);
		opt_read(x.curl, CURLOPT_READFUNCTION, read_source, &x.rc);
		opt_ptr(x.curl, CURLOPT_READDATA, &src, &x.rc);
		opt_off(x.curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len, &x.rc);
		opt_long(x.curl, CURLOPT_LOW_SPEED_LIMIT, 1L, &x.rc);
		opt_long(x.curl, CURLOPT_LOW_SPEED_TIME, 60L, &x.rc);
		/*
		 * Unlimited: fewer, larger sends (the default 64 KiB costs a
		 * callback and a syscall each), and room for a whole sealed chunk
		 * of the default size (1 MiB and 92 bytes at most), which a
		 * source can then encrypt in place (2 MiB: libcurl's largest).
		 */
		if (max_rate)
			opt_off(x.curl, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)max_rate, &x.rc);
		else
			opt_long(x.curl, CURLOPT_UPLOAD_BUFFERSIZE, 2L << 20, &x.rc);
		r = blob_finish(&x, 204, err);
		if (src.failed) {
			r = src.failed;
			if (err)
				*err = src.read_err;
		}
	}
	blob_end(&x);
	return r;
}

static int fd_source(void *ctx, uint8_t *buf, size_t want, size_t *got, struct dcr_err *err)
{
	ssize_t n;

	do
		n = read(*(int *)ctx, buf, want);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot read the ciphertext");
	*got = (size_t)n;
	return 0;
}

int dcr_blob_put(const char *endpoint, const char *id, const char *token, int fd, uint64_t offset, uint64_t len,
	uint64_t max_rate, int (*progress)(void *ctx, uint64_t sent), void *ctx, struct dcr_err *err)
{
	if (lseek(fd, (off_t)offset, SEEK_SET) < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot seek in the ciphertext");
	return dcr_blob_put_from(endpoint, id, token, offset, len, max_rate, fd_source, &fd, progress, ctx, err);
}

struct get_sink {
	int (*sink)(void *ctx, const uint8_t *buf, size_t len, struct dcr_err *err);
	void *ctx;
	struct dcr_err sink_err;   /* the sink's own error, kept from curl's "write error" */
	int failed;                /* the sink's code */
	long status;
	CURL *curl;
	struct buffer *errors;
};

static size_t write_sink(char *ptr, size_t size, size_t n, void *ctx)
{
	struct get_sink *g = ctx;
	size_t len = size * n;
	int r;

	if (g->status == 0)
		libcurl.easy_getinfo(g->curl, CURLINFO_RESPONSE_CODE, &g->status);
	/* An error answer is a line of text for the message, not data. */
	if (g->status != 200)
		return collect(ptr, size, n, g->errors);
	if ((r = g->sink(g->ctx, (const uint8_t *)ptr, len, &g->sink_err)) < 0) {
		g->failed = r;
		return 0; /* curl stops with CURLE_WRITE_ERROR */
	}
	return len;
}

/* Whether a header line is "Dcr-Result: -9": dcrd found the blob's file altered on the host. */
static size_t integrity_header(char *line, size_t size, size_t n, void *ctx)
{
	static const char name[] = "Dcr-Result:";
	bool *violated = ctx;
	size_t len = size * n, i = sizeof(name) - 1;

	if (len > i && strncasecmp(line, name, i) == 0) {
		while (i < len && is_blank(line[i]))
			i++;
		*violated = len - i >= 2 && memcmp(line + i, "-9", 2) == 0 &&
			    (len - i == 2 || line[i + 2] == '\r' || line[i + 2] == '\n' || is_blank(line[i + 2]));
	}
	return len;
}

int dcr_blob_get(const char *endpoint, const char *id, const char *token,
	int (*sink)(void *ctx, const uint8_t *buf, size_t len, struct dcr_err *err), void *ctx, struct dcr_err *err)
{
	struct blob_xfer x;
	struct get_sink g = { .sink = sink, .ctx = ctx };
	curl_off_t got = 0, announced = -1;
	bool violated = false;
	int r;

	if ((r = blob_begin(&x, endpoint, id, token, 0L, err)) == 0) {
		g.curl = x.curl;
		g.errors = &x.resp;
		opt_write(x.curl, CURLOPT_WRITEFUNCTION, write_sink, &x.rc);
		opt_ptr(x.curl, CURLOPT_WRITEDATA, &g, &x.rc);
		opt_write(x.curl, CURLOPT_HEADERFUNCTION, integrity_header, &x.rc);
		opt_ptr(x.curl, CURLOPT_HEADERDATA, &violated, &x.rc);
		opt_long(x.curl, CURLOPT_LOW_SPEED_LIMIT, 1L, &x.rc);
		opt_long(x.curl, CURLOPT_LOW_SPEED_TIME, 60L, &x.rc);
		r = blob_finish(&x, 200, err);
		if (r == DCR_EFAIL && violated) {
			/* A refusal that says the stored blob was tampered with: as any altered result. */
			r = DCR_EINTEGRITY;
			if (err)
				err->code = r;
		} else if (g.failed) {
			r = g.failed;
			if (err)
				*err = g.sink_err;
		} else if (x.rc == CURLE_PARTIAL_FILE && g.status == 200) {
			/* The connection closed cleanly before the announced length: bytes were withheld. */
			libcurl.easy_getinfo(x.curl, CURLINFO_SIZE_DOWNLOAD_T, &got);
			libcurl.easy_getinfo(x.curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &announced);
			r = dcr_err_set(err, DCR_EINTEGRITY, "%s: the answer ended after %lld of the %lld bytes it announced "
							     "(withheld on the way)", x.url, (long long)got, (long long)announced);
		}
	}
	blob_end(&x);
	return r;
}
