/*
 * The connection watchdog: deadlines libmicrohttpd does not keep by itself.
 * Its connection timeout is for idleness, so a client that sends a byte
 * every few seconds, or takes an answer a few bytes at a time, would hold a
 * connection for ever. Here each connection has until a deadline to send
 * its request line and headers, and a request body must keep a minimum
 * pace, as must the client taking an answer; a connection that fails any
 * is shut down (shutdown(2) on its socket, which libmicrohttpd then closes
 * as if the client had). The time the thread that serves a connection spends
 * busy in handlers (a long call, a wait for the call lock) does not count
 * against it: that slowness is dcrd's, not the client's. The same thread
 * runs dcrd's periodic chores.
 */
#include <errno.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include "dcrd.h"

#include "banned.h"

#define TICK_MS 250
#define MAX_WORKERS 64             /* threads that serve connections */
#define LOG_BURST 20               /* lines about connections ... */
#define LOG_WINDOW_MS 10000        /* ... in each window of this long */

enum phase {
	WAITING,                   /* for a request line and headers */
	RECEIVING,                 /* a request's body */
	ANSWERING,                 /* the response, which the client must take at the body's pace */
	DROPPED,
};

struct conn {
	int fd;
	int worker;                /* the thread that serves it, in wd.workers; -1: unknown */
	enum phase phase;
	struct timespec since;     /* when this phase (or body window) began */
	uint64_t busy_at_since;    /* its worker's busy time then (busy_ms) */
	uint64_t window_bytes;     /* body bytes since then */
	uint64_t acked_at_since;   /* ANSWERING: the bytes the client had acknowledged then (acked()) */
	struct conn *prev, *next;
};

static struct {
	pthread_mutex_t mu;        /* the list and every conn in it */
	pthread_cond_t cv;
	struct conn *head;
	struct {
		pthread_t thread;
		bool busy;
		struct timespec busy_since; /* while busy */
		uint64_t busy_ms;          /* busy time before that, in all */
	} workers[MAX_WORKERS];
	size_t n_workers;
	struct conn_limits lim;
	void (*chores)(void);
	bool started, stop;
	pthread_t thread;
	atomic_ulong dropped_headers, dropped_bodies, dropped_answers;
} wd = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER }; /* cv: watchdog_start sets its clock */

/* The rate of lines of one kind about connections, which any client can cause. */
struct log_budget {
	const char *what, *prefix;
	pthread_mutex_t mu;
	struct timespec window;
	unsigned lines;
	unsigned long left_out;
};

static struct log_budget drops = { "lines about slow connections", "", PTHREAD_MUTEX_INITIALIZER, { 0, 0 }, 0, 0 },
			 library = { "lines from libmicrohttpd", "libmicrohttpd: ", PTHREAD_MUTEX_INITIALIZER, { 0, 0 }, 0, 0 };

static struct timespec now_mono(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t;
}

static uint64_t elapsed_ms(const struct timespec *from, const struct timespec *to)
{
	int64_t ms = (int64_t)(to->tv_sec - from->tv_sec) * 1000 + (to->tv_nsec - from->tv_nsec) / 1000000;

	return ms > 0 ? (uint64_t)ms : 0;
}

/* Under wd.mu: the calling thread's place in wd.workers, or -1 when they are all taken. */
static int this_worker(void)
{
	pthread_t self = pthread_self();

	for (size_t i = 0; i < wd.n_workers; i++)
		if (pthread_equal(wd.workers[i].thread, self))
			return (int)i;
	if (wd.n_workers == MAX_WORKERS)
		return -1;
	wd.workers[wd.n_workers].thread = self;
	wd.workers[wd.n_workers].busy = false;
	return (int)wd.n_workers++;
}

void watchdog_busy(bool busy)
{
	struct timespec now;
	int w;

	/* Every time is read under wd.mu, so they are in the order the lock was taken. */
	pthread_mutex_lock(&wd.mu);
	now = now_mono();
	if ((w = this_worker()) >= 0 && wd.workers[w].busy != busy) {
		if (busy)
			wd.workers[w].busy_since = now;
		else
			wd.workers[w].busy_ms += elapsed_ms(&wd.workers[w].busy_since, &now);
		wd.workers[w].busy = busy;
	}
	pthread_mutex_unlock(&wd.mu);
}

/* Under wd.mu: how long worker w has been busy in all, up to now (0 for an unknown worker). */
static uint64_t busy_ms(int w, const struct timespec *now)
{
	if (w < 0)
		return 0;
	return wd.workers[w].busy_ms + (wd.workers[w].busy ? elapsed_ms(&wd.workers[w].busy_since, now) : 0);
}

/*
 * The bytes the client has acknowledged on this connection in all (TCP
 * tcpi_bytes_acked), and whether it holds any of ours it has not (the
 * send queue); false where the socket does not tell (not TCP, or a kernel
 * or library layer without them), and then the answer's pace is not held.
 */
static bool acked(int fd, uint64_t *bytes, bool *waiting)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int queued = 0;

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
	    len < offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof(ti.tcpi_bytes_acked) ||
	    ioctl(fd, SIOCOUTQ, &queued) < 0)
		return false;
	*bytes = ti.tcpi_bytes_acked;
	*waiting = queued > 0;
	return true;
}

/* Under wd.mu: a new phase or window for c from now. */
static void restart(struct conn *c, const struct timespec *now)
{
	bool waiting;

	c->since = *now;
	c->busy_at_since = busy_ms(c->worker, now);
	c->window_bytes = 0;
	if (c->phase == ANSWERING && !acked(c->fd, &c->acked_at_since, &waiting))
		c->acked_at_since = 0;
}

/* Under wd.mu: how long c has been in its phase or window, less what its worker spent busy meanwhile. */
static uint64_t waited_ms(const struct conn *c, const struct timespec *now)
{
	uint64_t all = elapsed_ms(&c->since, now), busy = busy_ms(c->worker, now);

	busy = busy > c->busy_at_since ? busy - c->busy_at_since : 0;
	return all > busy ? all - busy : 0;
}

/* Under b->mu: a new window once the last is over, saying what it left out. */
static void log_window(struct log_budget *b, const struct timespec *now)
{
	if (b->lines && elapsed_ms(&b->window, now) < LOG_WINDOW_MS)
		return;
	if (b->left_out)
		fprintf(stderr, "dcrd: %lu more %s were left out\n", b->left_out, b->what);
	b->window = *now;
	b->lines = 0;
	b->left_out = 0;
}

static void log_line(struct log_budget *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void log_line(struct log_budget *b, const char *fmt, va_list ap)
{
	struct timespec now = now_mono();
	char line[512];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	pthread_mutex_lock(&b->mu);
	log_window(b, &now);
	if (b->lines < LOG_BURST) {
		b->lines++;
		fprintf(stderr, "dcrd: %s%s\n", b->prefix, line);
	} else {
		b->left_out++;
	}
	pthread_mutex_unlock(&b->mu);
}

static void drop_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void drop_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(&drops, fmt, ap);
	va_end(ap);
}

void library_log(const char *fmt, va_list ap)
{
	log_line(&library, fmt, ap);
}

struct conn *conn_open(int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct timespec now;

	/* Without memory the connection goes unwatched; libmicrohttpd's idle timeout still applies. */
	if (!c)
		return NULL;
	c->fd = fd;
	c->phase = WAITING;
	pthread_mutex_lock(&wd.mu);
	/* libmicrohttpd reports a connection from the thread that will serve it. */
	c->worker = this_worker();
	now = now_mono();
	restart(c, &now);
	c->next = wd.head;
	if (wd.head)
		wd.head->prev = c;
	wd.head = c;
	pthread_mutex_unlock(&wd.mu);
	return c;
}

void conn_close(struct conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&wd.mu);
	if (c->prev)
		c->prev->next = c->next;
	else
		wd.head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&wd.mu);
	free(c);
}

static void enter(struct conn *c, enum phase phase)
{
	struct timespec now;

	if (!c)
		return;
	pthread_mutex_lock(&wd.mu);
	now = now_mono();
	if (c->phase != DROPPED) {
		c->phase = phase;
		restart(c, &now);
	}
	pthread_mutex_unlock(&wd.mu);
}

void conn_request(struct conn *c)
{
	enter(c, RECEIVING);
}

void conn_body(struct conn *c, size_t n)
{
	if (!c)
		return;
	pthread_mutex_lock(&wd.mu);
	c->window_bytes += n;
	pthread_mutex_unlock(&wd.mu);
}

void conn_answering(struct conn *c)
{
	enter(c, ANSWERING);
}

void conn_idle(struct conn *c)
{
	enter(c, WAITING);
}

void watchdog_counts(unsigned long *headers, unsigned long *bodies, unsigned long *answers)
{
	*headers = atomic_load(&wd.dropped_headers);
	*bodies = atomic_load(&wd.dropped_bodies);
	*answers = atomic_load(&wd.dropped_answers);
}

/*
 * Under wd.mu. The socket is still open here: libmicrohttpd closes it only
 * after conn_close has taken the connection off the list under the same
 * lock, so the descriptor cannot be another connection's by now.
 */
static void drop(struct conn *c)
{
	shutdown(c->fd, SHUT_RDWR);
	c->phase = DROPPED;
}

static void check(const struct timespec *now)
{
	for (struct conn *c = wd.head; c; c = c->next) {
		/* Its thread's time in handlers does not count: the connection waited for dcrd then. */
		uint64_t ms = waited_ms(c, now);

		if (c->phase == WAITING && ms >= (uint64_t)wd.lim.header_timeout_s * 1000) {
			drop(c);
			atomic_fetch_add(&wd.dropped_headers, 1);
			drop_log("closed a connection that sent no complete request headers within %u s",
				wd.lim.header_timeout_s);
		} else if (c->phase == RECEIVING && ms >= (uint64_t)wd.lim.body_window_s * 1000) {
			if (c->window_bytes < wd.lim.body_min_bytes) {
				drop(c);
				atomic_fetch_add(&wd.dropped_bodies, 1);
				drop_log("closed a connection whose request body sent %llu bytes in %u s (at least %llu "
					 "wanted)", (unsigned long long)c->window_bytes, wd.lim.body_window_s,
					(unsigned long long)wd.lim.body_min_bytes);
			} else {
				restart(c, now);
			}
		} else if (c->phase == ANSWERING && ms >= (uint64_t)wd.lim.body_window_s * 1000) {
			uint64_t bytes;
			bool waiting;

			/* Too little taken while our bytes wait for the client: it is the one holding the answer up. */
			if (acked(c->fd, &bytes, &waiting) && waiting && bytes - c->acked_at_since < wd.lim.body_min_bytes) {
				drop(c);
				atomic_fetch_add(&wd.dropped_answers, 1);
				drop_log("closed a connection that took %llu bytes of its answer in %u s (at least %llu "
					 "wanted)", (unsigned long long)(bytes - c->acked_at_since), wd.lim.body_window_s,
					(unsigned long long)wd.lim.body_min_bytes);
			} else {
				restart(c, now);
			}
		}
	}
}

static void *watchdog_main(void *arg)
{
	struct timespec next;

	pthread_mutex_lock(&wd.mu);
	while (!wd.stop) {
		struct timespec now = now_mono();

		check(&now);
		pthread_mutex_unlock(&wd.mu);
		for (size_t i = 0; i < 2; i++) {
			struct log_budget *b = i ? &library : &drops;

			pthread_mutex_lock(&b->mu);
			log_window(b, &now);
			pthread_mutex_unlock(&b->mu);
		}
		if (wd.chores)
			wd.chores();
		pthread_mutex_lock(&wd.mu);
		/* The condition variable waits on the monotonic clock: setting the wall clock back must not stall it. */
		next = monotonic_in(TICK_MS);
		if (!wd.stop)
			pthread_cond_timedwait(&wd.cv, &wd.mu, &next);
	}
	pthread_mutex_unlock(&wd.mu);
	return NULL;
}

int watchdog_start(const struct conn_limits *lim, void (*chores)(void), struct dcr_err *err)
{
	int r;

	wd.lim = *lim;
	wd.chores = chores;
	wd.stop = false;
	if ((r = cond_init_monotonic(&wd.cv)) != 0)
		return dcr_err_errno(err, DCR_EIO, r, "cannot set up the connection watchdog");
	if ((r = pthread_create(&wd.thread, NULL, watchdog_main, NULL)) != 0)
		return dcr_err_errno(err, DCR_EIO, r, "cannot start the connection watchdog");
	wd.started = true;
	return 0;
}

void watchdog_stop(void)
{
	if (!wd.started)
		return;
	pthread_mutex_lock(&wd.mu);
	wd.stop = true;
	pthread_cond_signal(&wd.cv);
	pthread_mutex_unlock(&wd.mu);
	pthread_join(wd.thread, NULL);
	wd.started = false;
}
