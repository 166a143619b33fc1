/* Small helpers shared by the library and the programs. */
#include "util.h"

#include <stdio.h>
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
