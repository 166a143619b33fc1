/* The one rule for the names in a python computation's result (outname.h). */
#include <stdint.h>

#include "outname.h"
#include "util.h"

#include "banned.h"

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
		size_t n = dcr_utf8_decode(s + i, len - i, &cp);

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
