/* Test helper: answering configfs-tsm report entries in a folder, as the kernel would (see fake-tsm.c). */
#include "tsm-serve.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"

#include "banned.h"

void nap_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * A FIFO has no "one open, one report" boundary as a configfs file has:
 * were it reopened before the reader of this report saw end-of-file, that
 * reader would stay connected and read the next report too. So wait until
 * it has taken every byte (or gone), close, and give it time to see EOF
 * and close before the next open. A new reader meanwhile waits in open().
 */
void fifo_hand_over(int fd)
{
	for (int i = 0; i < 10000; i++) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int pending = 0;

		if (poll(&p, 1, 0) < 0 || (p.revents & POLLERR))
			break;
#ifdef FIONREAD
		if (ioctl(fd, FIONREAD, &pending) < 0)
			break;
#endif
		if (pending == 0)
			break;
		nap_ms(1);
	}
	close(fd);
	nap_ms(50);
}

static bool join(char buf[static 4096], const char *dir, const char *name)
{
	int n = snprintf(buf, 4096, "%s/%s", dir, name);

	return n >= 0 && n < 4096;
}

/* entry/name read whole into buf (at most size - 1 bytes, NUL-terminated); -1 on failure. */
static ssize_t read_small(const char *entry, const char *name, char *buf, size_t size)
{
	char path[4096];
	ssize_t n;
	int fd;

	if (!join(path, entry, name) || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

/* Replace entry/name with len bytes of data, at once (rename), as a reader may look at any time. */
static int replace(const char *entry, const char *name, const void *data, size_t len)
{
	char path[4096], tmp[4096];
	int fd;

	if (!join(path, entry, name) || snprintf(tmp, sizeof(tmp), "%s.new", path) >= (int)sizeof(tmp) ||
	    (fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return -1;
	if (dcr_write_all(fd, data, len) < 0 || close(fd) < 0 || rename(tmp, path) < 0)
		return -1;
	return 0;
}

/* One entry: if a reader waits on its outblob, answer it. */
static void serve_entry(const char *prog, const char *entry, const char *race, tsm_answer_fn *answer, void *ctx,
	unsigned long *served)
{
	char path[4096], gen[32];
	uint8_t rd[64 + 2]; /* room to see an inblob longer than 64 bytes, and read_small's NUL */
	const uint8_t *out, *aux;
	size_t out_len, aux_len;
	unsigned long long g;
	struct stat st;
	ssize_t n;
	int fd;

	if (!join(path, entry, "outblob") || (fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0)
		return; /* no reader yet (ENXIO), or no such entry any more */
	fcntl(fd, F_SETFL, 0);
	n = read_small(entry, "inblob", (char *)rd, sizeof(rd));
	if (n != 64 || answer(ctx, rd, &out, &out_len, &aux, &aux_len) < 0 ||
	    read_small(entry, "generation", gen, sizeof(gen)) < 0) {
		fprintf(stderr, "%s: %s: no report (inblob of %zd bytes)\n", prog, entry, n);
		fifo_hand_over(fd);
		return;
	}
	g = strtoull(gen, NULL, 10) + (race && stat(race, &st) == 0 ? 2 : 1);
	snprintf(gen, sizeof(gen), "%llu\n", g);
	if (replace(entry, "auxblob", aux, aux_len) < 0 || replace(entry, "generation", gen, strlen(gen)) < 0)
		fprintf(stderr, "%s: %s: cannot update auxblob or generation: %s\n", prog, entry, strerror(errno));
	if (dcr_write_all(fd, out, out_len) < 0)
		fprintf(stderr, "%s: report %lu not delivered: %s\n", prog, *served + 1, strerror(errno));
	else
		fprintf(stderr, "%s: served report %lu (%zu bytes) on %s\n", prog, ++*served, out_len, entry);
	fifo_hand_over(fd);
}

_Noreturn void tsm_serve(const char *prog, const char *report_dir, const char *race, tsm_answer_fn *answer, void *ctx)
{
	char entry[4096];
	unsigned long served = 0;
	struct dirent *de;
	DIR *d;

	fprintf(stderr, "%s: serving reports on '%s'\n", prog, report_dir);
	for (;;) {
		if (!(d = opendir(report_dir))) {
			fprintf(stderr, "%s: cannot open '%s': %s\n", prog, report_dir, strerror(errno));
			exit(1);
		}
		while ((de = readdir(d)))
			if (de->d_name[0] != '.' && join(entry, report_dir, de->d_name))
				serve_entry(prog, entry, race, answer, ctx, &served);
		closedir(d);
		nap_ms(10);
	}
}
