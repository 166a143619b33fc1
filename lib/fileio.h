/* Whole-file reads with a size bound, and atomic, durable replacement of files. */
#ifndef DCR_FILEIO_H
#define DCR_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/*
 * Read a whole regular file of at most max bytes into a new buffer (*out,
 * NUL-terminated for convenience, free with free()). Missing files are
 * DCR_ENOTFOUND; larger ones DCR_EINVALID.
 */
int dcr_read_file(const char *path, size_t max, uint8_t **out, size_t *len, struct dcr_err *err);

/*
 * The same for a file that holds a secret (a private key, a dataset key):
 * DCR_EINVALID, naming the file and its mode, when its group or others
 * have any permission on it (mode & 077), so a key that others could read
 * or replace is never used. On failure nothing of it stays in memory; on
 * success the caller wipes *out before freeing it.
 */
int dcr_read_key_file(const char *path, size_t max, uint8_t **out, size_t *len, struct dcr_err *err);

/*
 * Replace path with data, mode 0600: written to a new temporary file in the
 * same directory, synced, renamed over path, and the directory synced, so a
 * crash leaves either the old or the new contents, never a mix.
 */
int dcr_write_atomic(const char *path, const void *data, size_t len, struct dcr_err *err);

/*
 * Create path with data, mode 0600, refusing (DCR_EEXIST) a name that
 * exists: written to a new temporary file in the same directory, synced,
 * renamed to path by dcr_rename_noreplace, and the directory synced.
 * Whoever sees path sees all of data, even after a crash; a crash before
 * the rename leaves no path (and, at worst, the temporary file,
 * path.XXXXXXXXXXXXXXXX.tmp).
 */
int dcr_write_new(const char *path, const void *data, size_t len, struct dcr_err *err);

/*
 * rename(2) from to to, failing with EEXIST if to exists (RENAME_NOREPLACE;
 * where the file system lacks it, link(2) then unlink(2) of from, which
 * refuses an existing name the same way). -1 with errno set on failure,
 * from left in place.
 */
int dcr_rename_noreplace(const char *from, const char *to);

/*
 * Sync the directory that holds path (".", for a bare name), so that a
 * rename into it is durable; what names the file in messages is name.
 */
int dcr_sync_parent_dir(const char *path, const char *name, struct dcr_err *err);

/*
 * dcr's state folder for sub ("heads", ...): $XDG_STATE_HOME/dcr/sub if
 * XDG_STATE_HOME is an absolute path, else $HOME/.local/state/dcr/sub, in
 * buf. With create, every missing level is made, mode 0700. DCR_EFAIL when
 * neither variable is set or the path does not fit.
 */
int dcr_state_dir(const char *sub, bool create, char *buf, size_t size, struct dcr_err *err);

/* write(2) all len bytes, retrying after EINTR and short writes; -1 with errno set on failure. */
int dcr_write_all(int fd, const void *data, size_t len);

#endif
