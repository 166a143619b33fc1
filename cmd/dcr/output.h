/*
 * Where dcr writes a file the user names (run/fetch -o, auth ca issue -o,
 * audit --export): one writer, so that every such option means the same.
 *
 * The path is followed through symbolic links to what they end at. A
 * regular file there, or nothing yet, is replaced atomically: a temporary
 * file beside it (in the link target's directory) is written, synced and
 * renamed over it, so the links stay links and a failure leaves what was
 * there, with no temporary file behind. Anything else that exists there (a
 * device, a FIFO, a terminal) is written through, never replaced; the
 * standard output itself (/dev/stdout) is written on its descriptor.
 */
#ifndef DCR_OUTPUT_H
#define DCR_OUTPUT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

enum out_kind {
	OUT_STDOUT,  /* the standard output's own descriptor */
	OUT_THROUGH, /* opened and written, never replaced */
	OUT_ATOMIC,  /* a temporary file renamed over the resolved path */
};

struct out_file {
	enum out_kind kind;
	int fd;          /* what to write to */
	mode_t mode;     /* of a file made by OUT_ATOMIC */
	bool replace;    /* OUT_ATOMIC: whether an existing file may be replaced */
	const char *name; /* as the user gave it, for messages */
	char path[PATH_MAX]; /* OUT_ATOMIC: where the links end */
	char tmp[PATH_MAX];  /* OUT_ATOMIC: the temporary file beside it */
};

/* How name would be written (NULL: the standard output). */
enum out_kind out_kind_of(const char *name);

/* Whether writing name would replace a file that exists (an OUT_ATOMIC target that exists). */
bool out_would_replace(const char *name);

/*
 * Open name (NULL: the standard output) for writing; a new file gets mode
 * (0600, 0644). Without replace, an existing file at the end of the links
 * is refused (DCR_EEXIST), also one that appears before out_close.
 */
int out_open(struct out_file *o, const char *name, mode_t mode, bool replace, struct dcr_err *err);

/*
 * Finish what out_open began; r is the result of the writing so far. With
 * r == 0 an OUT_ATOMIC file is synced and put in place; otherwise (or if
 * that fails) the temporary file is removed and nothing changes. Returns
 * r, or the failure of finishing.
 */
int out_close(struct out_file *o, int r, struct dcr_err *err);

/* What out_write writes: bytes made by a producer into fd. */
typedef int out_producer(void *ctx, int fd, struct dcr_err *err);

/* out_open, produce, out_close. */
int out_write(const char *name, mode_t mode, bool replace, out_producer *produce, void *ctx, struct dcr_err *err);

/* out_write of len bytes at data. */
int out_write_buf(const char *name, mode_t mode, bool replace, const void *data, size_t len, struct dcr_err *err);

#endif
