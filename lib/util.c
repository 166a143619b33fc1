/* Small helpers shared by the library and the programs. */
#include "util.h"

#include <string.h>

#include "banned.h"

#define EDIT_MAX 64

size_t dcr_edit_distance(const char *a, const char *b, size_t limit)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[EDIT_MAX + 1];

	if (la > EDIT_MAX || lb > EDIT_MAX)
		return limit + 1;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb] > limit ? limit + 1 : row[lb];
}

const char *dcr_suggest(const char *word, const char *const *candidates)
{
	size_t limit = strlen(word) / 3, best_d;
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
