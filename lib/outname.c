/* The one rule for the names in a python computation's result (outname.h). */
#include <stdint.h>

#include "outname.h"

#include "banned.h"

/* The code point at s (at most n bytes) in *cp and its length, or 0 when the bytes are not UTF-8 in shortest form. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
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
	*cp = c;
	return len;
}

int dcr_outname_check(const char *name, size_t len, struct dcr_err *err)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t part = 0;

	if (len == 0)
		return dcr_err_set(err, DCR_EINVALID, "its name is empty");
	if (len > DCR_OUTNAME_MAX)
		return dcr_err_set(err, DCR_EINVALID, "its name is longer than %d bytes", DCR_OUTNAME_MAX);
	if (s[0] == '/')
		return dcr_err_set(err, DCR_EINVALID, "its name is absolute");
	for (size_t i = 0; i < len; ) {
		uint32_t cp;
		size_t n = utf8_decode(s + i, len - i, &cp);

		if (n == 0)
			return dcr_err_set(err, DCR_EINVALID, "its name is not UTF-8");
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return dcr_err_set(err, DCR_EINVALID, "its name has a control character");
		if (cp == '/') {
			if (part == 0)
				return dcr_err_set(err, DCR_EINVALID, "its name has an empty part");
			if ((part == 1 && s[i - 1] == '.') || (part == 2 && s[i - 1] == '.' && s[i - 2] == '.'))
				return dcr_err_set(err, DCR_EINVALID, "its name has a '.' or '..' part");
			part = 0;
		} else if ((part += n) > DCR_OUTNAME_PART_MAX) {
			return dcr_err_set(err, DCR_EINVALID, "its name has a part longer than %d bytes",
				DCR_OUTNAME_PART_MAX);
		}
		i += n;
	}
	/* The last part, unless the name is a directory's and ends with '/'. */
	if (s[len - 1] != '/' && ((part == 1 && s[len - 1] == '.') || (part == 2 && s[len - 1] == '.' && s[len - 2] == '.')))
		return dcr_err_set(err, DCR_EINVALID, "its name has a '.' or '..' part");
	return 0;
}
