/* configfs-tsm reports: one entry per report, checked against concurrent writers and for its provider. */
#include "tsm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "fileio.h"

#include "banned.h"

#define PATH_MAX_LEN 4096

static int path_of(char buf[static PATH_MAX_LEN], const char *entry, const char *name, struct dcr_err *err)
{
	int n = snprintf(buf, PATH_MAX_LEN, "%s/%s", entry, name);

	if (n < 0 || n >= PATH_MAX_LEN)
		return dcr_err_set(err, DCR_EUSAGE, "configfs-tsm path '%s' too long", entry);
	return 0;
}

/* Read entry/name whole (at most max bytes) into a new buffer. Attributes are read with read(2) until EOF. */
static int read_attr(const char *entry, const char *name, size_t max, uint8_t **out, size_t *len, struct dcr_err *err)
{
	char path[PATH_MAX_LEN];
	size_t n = 0;
	uint8_t *buf;
	int fd, r;

	*out = NULL;
	if ((r = path_of(path, entry, name, err)) < 0)
		return r;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return dcr_err_set(err, DCR_EFAIL, "cannot open '%s': %s", path, strerror(errno));
	if (!(buf = malloc(max + 1))) {
		close(fd);
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	}
	for (;;) {
		ssize_t got = read(fd, buf + n, max + 1 - n);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = dcr_err_set(err, DCR_EFAIL, "cannot read '%s': %s", path, strerror(errno));
			break;
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n > max) {
			r = dcr_err_set(err, DCR_EFAIL, "'%s' holds more than %zu bytes", path, max);
			break;
		}
	}
	close(fd);
	if (r < 0) {
		free(buf);
		return r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* generation: a decimal number and a line feed. */
static int read_generation(const char *entry, unsigned long long *out, struct dcr_err *err)
{
	uint8_t *text;
	size_t len;
	char *end;
	int r;

	if ((r = read_attr(entry, "generation", 32, &text, &len, err)) < 0)
		return r;
	errno = 0;
	*out = strtoull((const char *)text, &end, 10);
	if (len == 0 || text[0] < '0' || text[0] > '9' || errno || (*end != '\0' && strcmp(end, "\n") != 0))
		r = dcr_err_set(err, DCR_EFAIL, "configfs-tsm entry '%s': generation is not a number", entry);
	free(text);
	return r;
}

static int write_inblob(const char *entry, const uint8_t inblob[static DCR_TSM_INBLOB_LEN], struct dcr_err *err)
{
	char path[PATH_MAX_LEN];
	int fd, r;

	if ((r = path_of(path, entry, "inblob", err)) < 0)
		return r;
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return dcr_err_set(err, DCR_EFAIL, "cannot open '%s': %s", path, strerror(errno));
	/* One write: each write to inblob replaces it and counts as a generation. */
	if (dcr_write_all(fd, inblob, DCR_TSM_INBLOB_LEN) < 0) {
		r = dcr_err_set(err, DCR_EFAIL, "cannot write '%s': %s", path, strerror(errno));
		close(fd);
		return r;
	}
	if (close(fd) < 0)
		return dcr_err_set(err, DCR_EFAIL, "cannot write '%s': %s", path, strerror(errno));
	return 0;
}

/* provider, without its line feed, must be want; DCR_EATTEST naming what it is otherwise. */
static int check_provider(const char *entry, const char *want, struct dcr_err *err)
{
	uint8_t *provider;
	size_t plen;
	int r;

	if ((r = read_attr(entry, "provider", DCR_TSM_PROVIDER_MAX, &provider, &plen, err)) < 0)
		return r;
	if (plen && provider[plen - 1] == '\n')
		provider[--plen] = '\0';
	if (strlen((const char *)provider) != plen || strcmp((const char *)provider, want) != 0) {
		for (size_t i = 0; i < plen; i++)
			if (provider[i] < 0x20 || provider[i] >= 0x7f || provider[i] == '\'')
				provider[i] = '?';
		r = dcr_err_set(err, DCR_EATTEST, "configfs-tsm provider is '%s', not '%s'", (const char *)provider, want);
	}
	free(provider);
	return r;
}

static int report(const char *entry, const char *want_provider, const uint8_t inblob[static DCR_TSM_INBLOB_LEN],
	size_t out_max, size_t aux_max, struct dcr_tsm_blobs *b, struct dcr_err *err)
{
	unsigned long long before, after;
	int r;

	if ((r = check_provider(entry, want_provider, err)) < 0 || (r = read_generation(entry, &before, err)) < 0 ||
	    (r = write_inblob(entry, inblob, err)) < 0 || (r = read_attr(entry, "outblob", out_max, &b->out, &b->out_len,
		    err)) < 0 || (aux_max && (r = read_attr(entry, "auxblob", aux_max, &b->aux, &b->aux_len, err)) < 0) ||
	    (r = read_generation(entry, &after, err)) < 0)
		return r;
	/* The kernel counts each write of inblob; ours is one, so anything else is another writer's. */
	if (after != before + 1)
		return dcr_err_set(err, DCR_EFAIL, "configfs-tsm entry '%s' was written by someone else meanwhile "
			"(generation %llu, then %llu)", entry, before, after);
	if (b->out_len == 0)
		return dcr_err_set(err, DCR_EFAIL, "configfs-tsm entry '%s' gave an empty report", entry);
	if (b->aux && b->aux_len == 0) {
		free(b->aux);
		b->aux = NULL;
	}
	return 0;
}

void dcr_tsm_blobs_free(struct dcr_tsm_blobs *b)
{
	free(b->out);
	free(b->aux);
	memset(b, 0, sizeof(*b));
}

int dcr_tsm_report(const char *report_dir, const char *want_provider, const uint8_t inblob[static DCR_TSM_INBLOB_LEN],
	size_t out_max, size_t aux_max, struct dcr_tsm_blobs *out, struct dcr_err *err)
{
	char entry[PATH_MAX_LEN], hex[17];
	uint8_t nonce[8];
	struct stat st;
	int n, r;

	memset(out, 0, sizeof(*out));
	if (stat(report_dir, &st) < 0 && errno == ENOENT)
		return dcr_err_set(err, DCR_ENOTFOUND, "no configfs-tsm report interface at '%s' (not a confidential VM, "
			"or configfs not mounted)", report_dir);
	if (stat(report_dir, &st) < 0)
		return dcr_err_set(err, DCR_EFAIL, "cannot read '%s': %s", report_dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return dcr_err_set(err, DCR_EFAIL, "'%s' is not a directory", report_dir);
	/* An entry of our own, so that no other process's writes mix with ours. */
	if ((r = dcr_random(nonce, sizeof(nonce), err)) < 0)
		return r;
	dcr_hex(nonce, sizeof(nonce), hex);
	n = snprintf(entry, sizeof(entry), "%s/dcr-%ld-%s", report_dir, (long)getpid(), hex);
	if (n < 0 || (size_t)n >= sizeof(entry))
		return dcr_err_set(err, DCR_EUSAGE, "configfs-tsm path '%s' too long", report_dir);
	if (mkdir(entry, 0700) < 0)
		return dcr_err_set(err, DCR_EFAIL, "cannot create the configfs-tsm entry '%s': %s", entry, strerror(errno));
	if ((r = report(entry, want_provider, inblob, out_max, aux_max, out, err)) < 0)
		dcr_tsm_blobs_free(out);
	/* configfs removes an entry with its attributes; the report is public, so a failure only leaves clutter. */
	(void)rmdir(entry);
	return r;
}
