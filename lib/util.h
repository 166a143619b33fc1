/* Small helpers shared by the library and the programs. */
#ifndef DCR_UTIL_H
#define DCR_UTIL_H

#include <stddef.h>

/*
 * Edit distance (insertions, deletions, substitutions, and swaps of
 * neighbours) between a and b, or limit + 1 if it exceeds limit.
 * Used for "did you mean" suggestions; strings longer than 64 bytes compare
 * as far apart.
 */
size_t dcr_edit_distance(const char *a, const char *b, size_t limit);

/*
 * The candidate closest to word, or NULL when none is within a distance of
 * about a third of word's length (rounded up). candidates ends with NULL.
 */
const char *dcr_suggest(const char *word, const char *const *candidates);

/* " (did you mean 'HINT'?)" in buf, or "" when hint is NULL; returns buf. */
const char *dcr_hint_phrase(const char *hint, char *buf, size_t size);

#endif
