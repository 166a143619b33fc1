/* Text tables on a terminal: cells cut to fit, and nothing from other people that drives the terminal. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "dcr.h"
#include "util.h"

#include "banned.h"

#define DEFAULT_WIDTH 160

/* Columns s takes on a terminal: UTF-8 continuation bytes take none. */
size_t columns_of(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/*
 * Print s in at most width columns, padded to width unless last, cut with
 * "..." when longer. Control characters become '?': the text comes from
 * room definitions other people wrote and must not drive the terminal.
 */
void put_cell(const char *s, size_t width, bool last)
{
	size_t cols = columns_of(s), keep = cols <= width ? cols : (width > 3 ? width - 3 : width), shown = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c & 0xc0) != 0x80) {
			if (shown == keep)
				break;
			shown++;
		}
		putchar(c < 0x20 || c == 0x7f ? '?' : c);
	}
	if (cols > width && width > 3) {
		fputs("...", stdout);
		shown += 3;
	}
	for (; !last && shown < width; shown++)
		putchar(' ');
}

size_t terminal_width(void)
{
	struct winsize ws;
	const char *env = getenv("COLUMNS");
	long n;
	char *end;

	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	if (env && *env && (n = strtol(env, &end, 10)) > 0 && !*end && n < 10000)
		return (size_t)n;
	return DEFAULT_WIDTH;
}


char *time_text(int64_t ms, char out[static 32])
{
	out[0] = '\0';
	if (ms > 0)
		dcr_time_format((time_t)(ms / 1000), out);
	return out;
}
