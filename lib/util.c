/* Small helpers shared by the library and the programs. */
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

#define EDIT_MAX 64

size_t dcr_edit_distance(const char *a, const char *b, size_t limit)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t rows[3][EDIT_MAX + 1];
	size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];

	if (la > EDIT_MAX || lb > EDIT_MAX)
		return limit + 1;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	/* Optimal string alignment: a swap of two neighbours costs one, as typists expect. */
	for (size_t i = 1; i <= la; i++) {
		size_t *t;

		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t best = prev[j - 1] + (a[i - 1] != b[j - 1]);

			if (prev[j] + 1 < best)
				best = prev[j] + 1;
			if (cur[j - 1] + 1 < best)
				best = cur[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < best)
				best = prev2[j - 2] + 1;
			cur[j] = best;
		}
		t = prev2;
		prev2 = prev;
		prev = cur;
		cur = t;
	}
	return prev[lb] > limit ? limit + 1 : prev[lb];
}

const char *dcr_suggest(const char *word, const char *const *candidates)
{
	size_t limit = (strlen(word) + 2) / 3, best_d;
	const char *best = NULL;

	if (limit < 1)
		limit = 1;
	best_d = limit + 1;
	for (; *candidates; candidates++) {
		size_t d = dcr_edit_distance(word, *candidates, limit);

		if (d < best_d) {
			best_d = d;
			best = *candidates;
		}
	}
	return best;
}

const char *dcr_hint_phrase(const char *hint, char *buf, size_t size)
{
	if (hint)
		snprintf(buf, size, " (did you mean '%s'?)", hint);
	else if (size)
		buf[0] = '\0';
	return buf;
}

size_t dcr_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c, min;

	if (s[0] < 0x80) {
		len = 1, c = s[0], min = 0;
	} else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2, c = s[0] & 0x1f, min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3, c = s[0] & 0x0f, min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4, c = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	if (cp)
		*cp = c;
	return len;
}

void dcr_utf8_repair(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t n = strlen(s);

	for (size_t i = 0; i < n;) {
		size_t len = dcr_utf8_decode(p + i, n - i, NULL), want = p[i] >= 0xf0 ? 4 : p[i] >= 0xe0 ? 3 : 2;
		bool tail = p[i] >= 0xc2 && p[i] <= 0xf4 && n - i < want;

		if (len) {
			i += len;
			continue;
		}
		/* A lead byte and only continuation bytes up to the end, too few: what a length limit left. */
		for (size_t k = i + 1; tail && k < n; k++)
			tail = (p[k] & 0xc0) == 0x80;
		if (tail) {
			p[i] = '\0';
			return;
		}
		p[i++] = '?';
	}
}

int64_t dcr_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t dcr_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void dcr_sleep_ms(int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	while (ms > 0 && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

time_t dcr_time_from_tm(const struct tm *tm)
{
	return (time_t)(days_from_civil(tm->tm_year + 1900LL, tm->tm_mon + 1, tm->tm_mday) * 86400 +
		tm->tm_hour * 3600 + tm->tm_min * 60 + tm->tm_sec);
}

static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int dcr_time_parse(const char *s, time_t *out)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	struct tm tm = { 0 };
	int y, mo, d, h, mi, se;

	if (strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
	    s[19] != 'Z')
		return -1;
	y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
	h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h < 0 || h > 23 || mi < 0 || mi > 59 ||
	    se < 0 || se > 60 || (mo == 2 && d == 29 && (y % 4 != 0 || (y % 100 == 0 && y % 400 != 0))))
		return -1;
	tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d;
	tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = se;
	*out = dcr_time_from_tm(&tm);
	return 0;
}

void dcr_time_format(time_t t, char out[static 32])
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "@%lld", (long long)t);
}

/* A whole decimal number, digits only (strtoull alone takes signs and spaces); *end after it. */
static bool whole_number(const char *s, uint64_t *out, char **end)
{
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, end, 10);
	if (errno)
		return false;
	*out = v;
	return true;
}

struct unit {
	const char *name;
	uint64_t mult;
};

/* A whole number in s followed by exactly one of the n units; its value times the unit's. */
static bool with_unit(const char *s, const struct unit *units, size_t n, uint64_t *out)
{
	uint64_t v;
	char *end;

	if (!whole_number(s, &v, &end))
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(end, units[i].name) == 0) {
			if (v > UINT64_MAX / units[i].mult)
				return false;
			*out = v * units[i].mult;
			return true;
		}
	return false;
}

/* Sizes: the room syntax first (dcr-room(5)), then what options also take. */
static const struct unit size_units[] = {
	{ "KiB", UINT64_C(1) << 10 }, { "MiB", UINT64_C(1) << 20 }, { "GiB", UINT64_C(1) << 30 },
	{ "KB", UINT64_C(1000) }, { "MB", UINT64_C(1000000) }, { "GB", UINT64_C(1000000000) },
	{ "", 1 }, { "K", UINT64_C(1) << 10 }, { "M", UINT64_C(1) << 20 }, { "G", UINT64_C(1) << 30 },
	{ "T", UINT64_C(1) << 40 }, { "TiB", UINT64_C(1) << 40 }, { "TB", UINT64_C(1000000000000) },
};
#define ROOM_SIZE_UNITS 6

bool dcr_parse_size(const char *s, uint64_t *out)
{
	return with_unit(s, size_units, sizeof(size_units) / sizeof(size_units[0]), out);
}

bool dcr_parse_duration(const char *s, uint64_t max, uint64_t *out)
{
	static const struct unit units[] = { { "s", 1 }, { "m", 60 }, { "h", 3600 }, { "d", 86400 } };
	uint64_t v;

	if (!with_unit(s, units, sizeof(units) / sizeof(units[0]), &v) || v == 0 || v > max)
		return false;
	*out = v;
	return true;
}

int dcr_duration_parse(const char *s, uint64_t *ms)
{
	static const struct unit units[] = { { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 } };

	return with_unit(s, units, sizeof(units) / sizeof(units[0]), ms) ? 0 : -1;
}

int dcr_size_parse(const char *s, uint64_t *bytes)
{
	return with_unit(s, size_units, ROOM_SIZE_UNITS, bytes) ? 0 : -1;
}

void dcr_duration_format(uint64_t ms, char out[static 32])
{
	if (ms && ms % 3600000 == 0)
		snprintf(out, 32, "%" PRIu64 "h", ms / 3600000);
	else if (ms >= 120000 && ms % 60000 == 0)
		snprintf(out, 32, "%" PRIu64 "m", ms / 60000);
	else if (ms % 1000 == 0)
		snprintf(out, 32, "%" PRIu64 "s", ms / 1000);
	else
		snprintf(out, 32, "%" PRIu64 "ms", ms);
}

void dcr_size_format(uint64_t n, char out[static 32])
{
	if (n && n % (UINT64_C(1) << 30) == 0)
		snprintf(out, 32, "%" PRIu64 "GiB", n >> 30);
	else if (n && n % (UINT64_C(1) << 20) == 0)
		snprintf(out, 32, "%" PRIu64 "MiB", n >> 20);
	else if (n && n % 1024 == 0)
		snprintf(out, 32, "%" PRIu64 "KiB", n >> 10);
	else
		snprintf(out, 32, "%" PRIu64 " bytes", n);
}
