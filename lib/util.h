/* Small helpers shared by the library and the programs. */
#ifndef DCR_UTIL_H
#define DCR_UTIL_H

#include <stdbool.h>
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

/*
 * The length of the well-formed UTF-8 sequence at s (n > 0 bytes there;
 * RFC 3629: shortest form, no surrogates, at most U+10FFFF), its code
 * point in *cp (which may be NULL); 0 when the bytes at s are not one.
 */
size_t dcr_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/*
 * Make the string s valid UTF-8, in place: a sequence cut off at its end
 * (by a length limit) is removed, every other byte that is not part of a
 * well-formed sequence becomes '?'.
 */
void dcr_utf8_repair(char *s);

/* Wall-clock milliseconds since the epoch. */
int64_t dcr_now_ms(void);
/* Milliseconds on the monotonic clock (CLOCK_MONOTONIC): for deadlines, which setting the wall clock must not move. */
int64_t dcr_monotonic_ms(void);
/* Sleep ms milliseconds (none if ms <= 0), through signals. */
void dcr_sleep_ms(int64_t ms);

/* A broken-down UTC time to seconds since the epoch (timegm, which POSIX lacks). */
time_t dcr_time_from_tm(const struct tm *tm);

/*
 * "YYYY-MM-DDTHH:MM:SSZ" (RFC 3339, UTC, no fraction), the form of Intel's
 * collateral and of --at, to seconds since the epoch; -1 if malformed.
 */
int dcr_time_parse(const char *s, time_t *out);

/* t in that form ("@SECONDS" if it has none). */
void dcr_time_format(time_t t, char out[static 32]);

/*
 * A size as options give it: a whole number of bytes, optionally followed
 * by K, M, G or T, or KiB, MiB, GiB or TiB (powers of 1024), or KB, MB, GB
 * or TB (of 1000), like 0, 500K, 1G or 512MiB. false when malformed or
 * beyond UINT64_MAX.
 */
bool dcr_parse_size(const char *s, uint64_t *out);

/*
 * A duration as options give it: a whole number followed by s, m, h or d,
 * like 90s, 30m or 7d, in seconds. false when malformed, zero, or longer
 * than max seconds.
 */
bool dcr_parse_duration(const char *s, uint64_t max, uint64_t *out);

/*
 * Limits as rooms and dcrd's options write them. A duration is a whole
 * number and a unit, ms, s, m or h, with no space ("90s"); a size a whole
 * number and KiB, MiB, GiB (powers of 1024), KB, MB or GB (of 1000)
 * ("512MiB"). 0, or -1 when s is malformed or overflows 64 bits; ranges
 * are the caller's to check.
 */
int dcr_duration_parse(const char *s, uint64_t *ms);
int dcr_size_parse(const char *s, uint64_t *bytes);

/* The way a room shows a limit: "1h", "5m", "90s", "1500ms"; "1GiB", "256MiB", "64KiB", "1000000 bytes". */
void dcr_duration_format(uint64_t ms, char out[static 32]);
void dcr_size_format(uint64_t bytes, char out[static 32]);

/* Little-endian integers in bytes of untrusted formats (SGX/TDX quotes, SEV-SNP reports): no alignment assumed. */
static inline uint16_t dcr_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t dcr_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t dcr_le64(const uint8_t *p)
{
	return (uint64_t)dcr_le32(p) | (uint64_t)dcr_le32(p + 4) << 32;
}

#endif
