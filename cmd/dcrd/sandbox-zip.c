/* The check of the ZIP a sandbox returns (sandbox-impl.h): exactly what the supervisor writes, or refused. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "crypto.h"
#include "outname.h"
#include "sandbox-impl.h"
#include "sandbox.h"

#include "banned.h"

/* The external attributes the supervisor gives: Unix modes in the high half, MS-DOS's directory bit. */
#define ATTR_DIR ((UINT32_C(040755) << 16) | 0x10)
#define ATTR_FILE (UINT32_C(0100644) << 16)

struct entry {
	const char *name;
	size_t len;
	bool dir;
};

/* Byte order of names, shorter first on a common prefix. */
static int compare(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c ? c : (alen > blen) - (alen < blen);
}

/* The entry called name (len bytes) among the n sorted entries, or NULL. */
static const struct entry *find(const struct entry *e, size_t n, const char *name, size_t len)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = compare(e[mid].name, e[mid].len, name, len);

		if (c == 0)
			return &e[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* One entry as the supervisor writes it: its name, kind, mode, method and size; len: its name's. */
static int check_entry(zip_t *za, zip_int64_t i, struct entry *e, uint64_t *total, uint64_t max_size,
	struct dcr_err *err)
{
	zip_stat_t st;
	zip_uint8_t opsys;
	zip_uint32_t attr;
	struct dcr_err why;

	zip_stat_init(&st);
	if (zip_stat_index(za, (zip_uint64_t)i, ZIP_FL_ENC_RAW, &st) < 0 || !(st.valid & ZIP_STAT_NAME) ||
	    !(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_METHOD) ||
	    zip_file_get_external_attributes(za, (zip_uint64_t)i, 0, &opsys, &attr) < 0)
		return dcr_err_set(err, DCR_ECOMPUTE, "the sandbox returned a damaged ZIP of the output directory: "
			"entry %" PRId64 " cannot be read", (int64_t)i);
	e->name = st.name;
	e->len = strlen(st.name);
	if (dcr_outname_check(e->name, e->len, &why) < 0)
		return dcr_err_set(err, DCR_ECOMPUTE, "the output's ZIP entry %" PRId64 " is refused: %s", (int64_t)i,
			why.msg);
	e->dir = e->name[e->len - 1] == '/';
	if (opsys != ZIP_OPSYS_UNIX || attr != (e->dir ? ATTR_DIR : ATTR_FILE))
		return dcr_err_set(err, DCR_ECOMPUTE, "the output's ZIP entry %" PRId64 " is refused: not a regular file "
			"of mode 0644 or a directory of mode 0755 (system %u, mode %06o)", (int64_t)i, (unsigned)opsys,
			(unsigned)(attr >> 16));
	if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
		return dcr_err_set(err, DCR_ECOMPUTE, "the output's ZIP entry %" PRId64 " is refused: it is encrypted",
			(int64_t)i);
	if (st.comp_method != ZIP_CM_STORE && st.comp_method != ZIP_CM_DEFLATE)
		return dcr_err_set(err, DCR_ECOMPUTE, "the output's ZIP entry %" PRId64 " is refused: compression "
			"method %u", (int64_t)i, (unsigned)st.comp_method);
	if (e->dir && st.size != 0)
		return dcr_err_set(err, DCR_ECOMPUTE, "the output's ZIP entry %" PRId64 " is refused: a directory with "
			"data", (int64_t)i);
	if (st.size > max_size - *total)
		return dcr_err_set(err, DCR_ECOMPUTE, "the output directory holds more than %" PRIu64 " bytes",
			max_size);
	*total += st.size;
	return 0;
}

int sandbox_zip_check(const uint8_t *data, size_t len, uint64_t max_size, struct dcr_err *err)
{
	struct entry *e = NULL;
	zip_error_t ze;
	zip_source_t *src;
	zip_t *za;
	zip_int64_t n;
	uint64_t total = 0;
	int r = 0;

	zip_error_init(&ze);
	if (!(src = zip_source_buffer_create(data, len, 0, &ze))) {
		r = dcr_err_set(err, DCR_ENOMEM, "cannot read the output's ZIP: %s", zip_error_strerror(&ze));
		goto out;
	}
	if (!(za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze))) {
		zip_source_free(src);
		r = dcr_err_set(err, DCR_ECOMPUTE, "the sandbox returned a damaged ZIP of the output directory: %s",
			zip_error_strerror(&ze));
		goto out;
	}
	if ((n = zip_get_num_entries(za, 0)) > SANDBOX_ZIP_ENTRIES_MAX || n < 0)
		r = dcr_err_set(err, DCR_ECOMPUTE, "the output directory holds %" PRId64 " files and directories; "
			"at most %d are allowed", (int64_t)n, SANDBOX_ZIP_ENTRIES_MAX);
	else if (n && !(e = calloc((size_t)n, sizeof(*e))))
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory checking the output's ZIP");
	for (zip_int64_t i = 0; r == 0 && i < n; i++) {
		if ((r = check_entry(za, i, &e[i], &total, max_size, err)) < 0)
			break;
		/* Sorted by name, byte by byte, as the supervisor writes them: so no name twice. */
		if (i && compare(e[i - 1].name, e[i - 1].len, e[i].name, e[i].len) >= 0)
			r = dcr_err_set(err, DCR_ECOMPUTE, "the output's ZIP entry %" PRId64 " is refused: out of order or "
				"a name given twice", (int64_t)i);
	}
	for (zip_int64_t i = 0; r == 0 && i < n; i++) {
		size_t base = e[i].dir ? e[i].len - 1 : e[i].len, cut = base;
		const struct entry *parent;

		/* Its directory is an entry: the supervisor writes every one. */
		while (cut && e[i].name[cut - 1] != '/')
			cut--;
		if (cut && (!(parent = find(e, (size_t)n, e[i].name, cut)) || !parent->dir))
			r = dcr_err_set(err, DCR_ECOMPUTE, "the output's ZIP entry %" PRId64 " is refused: its directory "
				"is not in the ZIP", (int64_t)i);
		/* Nor may a directory and a file have the same name. */
		else if (e[i].dir && find(e, (size_t)n, e[i].name, base))
			r = dcr_err_set(err, DCR_ECOMPUTE, "the output's ZIP entry %" PRId64 " is refused: a file has the "
				"same name", (int64_t)i);
	}
	free(e);
	zip_discard(za);
out:
	zip_error_fini(&ze);
	return r;
}

int sandbox_zip_single(const uint8_t *zip, size_t len, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	zip_int64_t n, files = 0, found = -1, got;
	zip_stat_t st;
	zip_error_t ze;
	zip_source_t *src;
	zip_file_t *f;
	zip_t *za;
	uint8_t *buf = NULL;
	int r = 0;

	*out = NULL;
	*out_len = 0;
	zip_error_init(&ze);
	if (!(src = zip_source_buffer_create(zip, len, 0, &ze))) {
		r = dcr_err_set(err, DCR_ENOMEM, "cannot read the output's ZIP: %s", zip_error_strerror(&ze));
		goto out;
	}
	if (!(za = zip_open_from_source(src, ZIP_RDONLY, &ze))) {
		zip_source_free(src);
		r = dcr_err_set(err, DCR_ECOMPUTE, "cannot read the output's ZIP: %s", zip_error_strerror(&ze));
		goto out;
	}
	n = zip_get_num_entries(za, 0);
	for (zip_int64_t i = 0; i < n; i++) {
		const char *name = zip_get_name(za, (zip_uint64_t)i, ZIP_FL_ENC_RAW);

		if (name && *name && name[strlen(name) - 1] != '/') {
			files++;
			found = i;
		}
	}
	zip_stat_init(&st);
	if (files != 1)
		r = dcr_err_set(err, DCR_ECOMPUTE, "the computation's result is one file (result: file), but its output "
			"directory holds %" PRId64 " files", (int64_t)files);
	else if (zip_stat_index(za, (zip_uint64_t)found, 0, &st) < 0 || !(st.valid & ZIP_STAT_SIZE) ||
		 st.size > SIZE_MAX - 1)
		r = dcr_err_set(err, DCR_ECOMPUTE, "cannot read the output's file");
	else if (!(buf = malloc((size_t)st.size + 1)))
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory reading the output's file");
	else if (!(f = zip_fopen_index(za, (zip_uint64_t)found, 0)))
		r = dcr_err_set(err, DCR_ECOMPUTE, "cannot read the output's file");
	else {
		/* One byte more than announced: a file longer than its entry says is refused, not cut. */
		got = zip_fread(f, buf, st.size + 1);
		zip_fclose(f);
		if (got < 0 || (zip_uint64_t)got != st.size)
			r = dcr_err_set(err, DCR_ECOMPUTE, "cannot read the output's file");
	}
	if (r == 0) {
		*out = buf;
		*out_len = (size_t)st.size;
	} else if (buf) {
		dcr_wipe(buf, (size_t)st.size + 1);
		free(buf);
	}
	zip_discard(za);
out:
	zip_error_fini(&ze);
	return r;
}
