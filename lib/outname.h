/* The one rule for the names of the files and directories in a python computation's result (dcr-formats(5)). */
#ifndef DCR_OUTNAME_H
#define DCR_OUTNAME_H

#include <stddef.h>

#include "err.h"

#define DCR_OUTNAME_MAX 1024         /* bytes in a name, a directory's final '/' included */
#define DCR_OUTNAME_PART_MAX 255     /* bytes between two '/' */

/*
 * Whether name (len bytes, which need not end with NUL) may name an entry
 * of a result's ZIP: 1 to DCR_OUTNAME_MAX bytes of UTF-8 (shortest form,
 * no surrogates, at most U+10FFFF) without control characters (U+0000 to
 * U+001F, U+007F, U+0080 to U+009F); relative, its parts separated by
 * '/', none empty (but for the final '/' that marks a directory), "." or
 * "..", or longer than DCR_OUTNAME_PART_MAX bytes. DCR_EINVALID if not,
 * saying which rule it breaks but never quoting the name, which is data.
 */
int dcr_outname_check(const char *name, size_t len, struct dcr_err *err);

#endif
