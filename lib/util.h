/* Small helpers shared by the library and the programs. */
#ifndef DCR_UTIL_H
#define DCR_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

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

/* Wall-clock milliseconds since the epoch. */
int64_t dcr_now_ms(void);

/* A broken-down UTC time to seconds since the epoch (timegm, which POSIX lacks). */
time_t dcr_time_from_tm(const struct tm *tm);

/*
 * "YYYY-MM-DDTHH:MM:SSZ" (RFC 3339, UTC, no fraction), the form of Intel's
 * collateral and of --at, to seconds since the epoch; -1 if malformed.
 */
int dcr_time_parse(const char *s, time_t *out);

/* t in that form ("@SECONDS" if it has none). */
void dcr_time_format(time_t t, char out[static 32]);

#endif
