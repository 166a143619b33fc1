/* Text tables on a terminal: cells cut to fit, and nothing from other people that drives the terminal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "dcr.h"
#include "util.h"

#include "banned.h"

#define DEFAULT_WIDTH 160

/*
 * How the character at s (len > 0 bytes) is shown: *used bytes of s become
 * out (NUL-terminated), in the returned number of columns. A control
 * character (C0 but, if multiline, \n and \t; DEL; C1, which UTF-8 writes
 * 0xc2 0x80 to 0xc2 0x9f) and a byte that is not UTF-8 are written as
 * \xHH for each of their bytes: visible, and never a terminal's command.
 */
static size_t shown_as(const unsigned char *s, size_t len, bool multiline, size_t *used, char out[static 16])
{
	size_t n = dcr_utf8_decode(s, len, NULL);
	bool control = n == 1 ? (s[0] < 0x20 && !(multiline && (s[0] == '\n' || s[0] == '\t'))) || s[0] == 0x7f
			      : n == 2 && s[0] == 0xc2 && s[1] < 0xa0;

	*used = n ? n : 1;
	if (n && !control) {
		memcpy(out, s, n);
		out[n] = '\0';
		return 1;
	}
	for (size_t i = 0; i < *used; i++)
		snprintf(out + 4 * i, 5, "\\x%02x", s[i]);
	return 4 * *used;
}

void put_bytes(FILE *f, const void *text, size_t len, bool multiline)
{
	const unsigned char *s = text;
	char piece[16];

	for (size_t used; len > 0; s += used, len -= used) {
		shown_as(s, len, multiline, &used, piece);
		fputs(piece, f);
	}
}

void put_text(FILE *f, const char *s, bool multiline)
{
	put_bytes(f, s, strlen(s), multiline);
}

/* Where json_put's text goes; lead: a 0xc2 that may begin a C1 control, held back until the next byte. */
struct json_sink {
	FILE *f;
	bool lead;
};

/*
 * The text jansson writes is valid UTF-8 whose only raw control bytes are
 * in strings: DEL (0x7f) and C1 (0xc2 0x80 to 0xc2 0x9f). Written as
 * \u escapes they mean the same characters.
 */
static int json_chunk(const char *buf, size_t n, void *data)
{
	struct json_sink *o = data;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (o->lead) {
			o->lead = false;
			if (c >= 0x80 && c <= 0x9f) {
				fprintf(o->f, "\\u%04X", c); /* upper case, as jansson writes its escapes */
				continue;
			}
			fputc(0xc2, o->f);
		}
		if (c == 0xc2)
			o->lead = true;
		else if (c == 0x7f)
			fputs("\\u007F", o->f);
		else
			fputc(c, o->f);
	}
	return ferror(o->f) ? -1 : 0;
}

int json_put(FILE *f, const json_t *j)
{
	struct json_sink o = { f, false };

	if (json_dump_callback(j, json_chunk, &o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0)
		return -1;
	if (o.lead)
		fputc(0xc2, f);
	return ferror(f) ? -1 : 0;
}

/* Columns s takes on a terminal as put_text shows it: one per character, four per escaped byte. */
size_t columns_of(const char *s)
{
	size_t n = 0, len = strlen(s), used;
	char piece[16];

	for (const unsigned char *p = (const unsigned char *)s; len > 0; p += used, len -= used)
		n += shown_as(p, len, false, &used, piece);
	return n;
}

/*
 * Print s in at most width columns, padded to width unless last, cut with
 * "..." when longer; shown as put_text shows it, since the text comes from
 * other people (room definitions, dcrd's answers) and must not drive the
 * terminal.
 */
void put_cell(const char *s, size_t width, bool last)
{
	size_t cols = columns_of(s), keep = cols <= width ? cols : (width > 3 ? width - 3 : width), shown = 0;
	size_t len = strlen(s), used, n;
	char piece[16];

	for (const unsigned char *p = (const unsigned char *)s; len > 0; p += used, len -= used) {
		n = shown_as(p, len, false, &used, piece);
		if (shown + n > keep)
			break;
		fputs(piece, stdout);
		shown += n;
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
