/*
 * A libcurl.so.4 that says it is 7.84.0 (tests/cli/upload-stream.sh links it
 * as libcurl.so.4 in a folder on LD_LIBRARY_PATH): dcr must refuse to load
 * it, since libcurl before 7.85.0 lacks CURLOPT_PROTOCOLS_STR. Nothing but
 * curl_version_info may be called.
 */
/* Definitions of the typed macros are not wanted here: these are the functions. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <stdlib.h>

static void never(void)
{
	abort();
}

CURLcode curl_global_init(long flags)
{
	(void)flags;
	never();
	return CURLE_FAILED_INIT;
}

CURL *curl_easy_init(void)
{
	never();
	return NULL;
}

CURLcode curl_easy_setopt(CURL *curl, CURLoption option, ...)
{
	(void)curl;
	(void)option;
	never();
	return CURLE_FAILED_INIT;
}

CURLcode curl_easy_perform(CURL *curl)
{
	(void)curl;
	never();
	return CURLE_FAILED_INIT;
}

CURLcode curl_easy_getinfo(CURL *curl, CURLINFO info, ...)
{
	(void)curl;
	(void)info;
	never();
	return CURLE_FAILED_INIT;
}

void curl_easy_cleanup(CURL *curl)
{
	(void)curl;
	never();
}

const char *curl_easy_strerror(CURLcode code)
{
	(void)code;
	never();
	return "";
}

struct curl_slist *curl_slist_append(struct curl_slist *list, const char *string)
{
	(void)list;
	(void)string;
	never();
	return NULL;
}

void curl_slist_free_all(struct curl_slist *list)
{
	(void)list;
	never();
}

CURLU *curl_url(void)
{
	never();
	return NULL;
}

CURLUcode curl_url_set(CURLU *u, CURLUPart what, const char *part, unsigned int flags)
{
	(void)u;
	(void)what;
	(void)part;
	(void)flags;
	never();
	return CURLUE_OUT_OF_MEMORY;
}

CURLUcode curl_url_get(CURLU *u, CURLUPart what, char **part, unsigned int flags)
{
	(void)u;
	(void)what;
	(void)part;
	(void)flags;
	never();
	return CURLUE_OUT_OF_MEMORY;
}

void curl_url_cleanup(CURLU *u)
{
	(void)u;
	never();
}

void curl_free(void *p)
{
	(void)p;
	never();
}

curl_version_info_data *curl_version_info(CURLversion age)
{
	static curl_version_info_data info = { .version = "7.84.0", .version_num = 0x075400 };

	info.age = age;
	return &info;
}
