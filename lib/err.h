/* Error codes and error details shared by libdcr and its programs. */
#ifndef DCR_ERR_H
#define DCR_ERR_H

/*
 * Library functions return 0 or one of these negative codes and fill a
 * caller-owned struct dcr_err with a message a user can act on. The first
 * nine are error classes whose negation is the documented exit status of
 * dcr(1); the rest are reported with exit status 1.
 */
enum dcr_code {
	DCR_OK = 0,
	DCR_EFAIL = -1,        /* general failure */
	DCR_EUSAGE = -2,       /* bad command line */
	DCR_EDENIED = -3,      /* permission denied */
	DCR_ENOTFOUND = -4,    /* no such room, node, job, file ... */
	DCR_EATTEST = -5,      /* attestation evidence rejected */
	DCR_EINVALID = -6,     /* input failed validation */
	DCR_ECOMPUTE = -7,     /* a computation failed */
	DCR_EUNREACHABLE = -8, /* service unreachable */
	DCR_EINTEGRITY = -9,   /* authentication or integrity check failed */
	DCR_ENOMEM = -10,      /* out of memory */
	DCR_EIO = -11,         /* an operating-system call failed */
	DCR_EEXIST = -12,      /* refusing to overwrite */
};

#define DCR_ERR_MSG_MAX 512

struct dcr_err {
	int code;
	char msg[DCR_ERR_MSG_MAX];
};

/* Record code and a printf-style message in err (which may be NULL); returns code. */
int dcr_err_set(struct dcr_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like dcr_err_set, with ": " and strerror(errnum) appended. */
int dcr_err_errno(struct dcr_err *err, int code, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Like dcr_err_set, with the first queued OpenSSL error appended (if any).
 * Clears the OpenSSL error queue so later errors are not misattributed.
 */
int dcr_err_openssl(struct dcr_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix the message already in err with "what: "; returns err->code. */
int dcr_err_prefix(struct dcr_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The exit status dcr(1) documents for code. */
int dcr_err_exit_status(int code);

/* A short name of the class of code, for messages and JSON ("denied", ...). */
const char *dcr_err_name(int code);

#endif
