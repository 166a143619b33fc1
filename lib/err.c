/* Error details: formatting messages and mapping codes to exit statuses. */
#include "err.h"

#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 3, 0)))
static void vset(struct dcr_err *err, int code, const char *fmt, va_list ap)
{
	char msg[sizeof(err->msg)];

	/* Through a copy: an argument may be err->msg itself, which vsnprintf must not overwrite as it reads. */
	vsnprintf(msg, sizeof(msg), fmt, ap);
	memcpy(err->msg, msg, sizeof(msg));
	err->code = code;
}

static void append(struct dcr_err *err, const char *sep, const char *what)
{
	size_t used = strlen(err->msg);

	if (used < sizeof(err->msg))
		snprintf(err->msg + used, sizeof(err->msg) - used, "%s%s", sep, what);
}

int dcr_err_set(struct dcr_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	va_start(ap, fmt);
	vset(err, code, fmt, ap);
	va_end(ap);
	return code;
}

int dcr_err_errno(struct dcr_err *err, int code, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	va_start(ap, fmt);
	vset(err, code, fmt, ap);
	va_end(ap);
	append(err, ": ", strerror(errnum));
	return code;
}

int dcr_err_openssl(struct dcr_err *err, int code, const char *fmt, ...)
{
	unsigned long e = ERR_get_error();
	char buf[256];
	va_list ap;

	ERR_clear_error();
	if (!err)
		return code;
	va_start(ap, fmt);
	vset(err, code, fmt, ap);
	va_end(ap);
	if (e) {
		ERR_error_string_n(e, buf, sizeof(buf));
		append(err, ": ", buf);
	}
	return code;
}

int dcr_err_prefix(struct dcr_err *err, const char *fmt, ...)
{
	char old[DCR_ERR_MSG_MAX];
	size_t used;
	va_list ap;

	if (!err)
		return DCR_EFAIL;
	memcpy(old, err->msg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	used = strlen(err->msg);
	if (used < sizeof(err->msg))
		snprintf(err->msg + used, sizeof(err->msg) - used, ": %s", old);
	return err->code;
}

int dcr_err_exit_status(int code)
{
	if (code == 0)
		return 0;
	if (code <= DCR_EUSAGE && code >= DCR_EINTEGRITY)
		return -code;
	return 1;
}

const char *dcr_err_name(int code)
{
	switch (code) {
	case DCR_OK: return "ok";
	case DCR_EUSAGE: return "usage";
	case DCR_EDENIED: return "denied";
	case DCR_ENOTFOUND: return "not-found";
	case DCR_EATTEST: return "attestation";
	case DCR_EINVALID: return "invalid";
	case DCR_ECOMPUTE: return "computation";
	case DCR_EUNREACHABLE: return "unreachable";
	case DCR_EINTEGRITY: return "integrity";
	case DCR_ENOMEM: return "no-memory";
	case DCR_EIO: return "io";
	case DCR_EEXIST: return "exists";
	default: return "failure";
	}
}
