/*
 * Unit tests for cmd/dcrd/watchdog.c: a connection's deadline does not
 * count the time the thread serving it is busy in handlers, and only that
 * time (issue 12 review, finding 7: a thread busy at every tick shielded
 * every connection it served for as long as it stayed mostly busy).
 * Real threads, a real watchdog, sockets from socketpair().
 */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "dcrd.h"

/* A thread that serves one connection: busy for busy_ms, idle for idle_ms, round after round. */
struct worker {
	int fd;
	unsigned busy_ms, idle_ms, rounds;
	struct conn *conn;
	atomic_bool stop, done;
};

static void sleep_ms(unsigned ms)
{
	struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&t, &t) < 0)
		;
}

static void *serve(void *arg)
{
	struct worker *w = arg;

	w->conn = conn_open(w->fd);
	for (unsigned i = 0; (!w->rounds || i < w->rounds) && !atomic_load(&w->stop); i++) {
		watchdog_busy(true);
		sleep_ms(w->busy_ms);
		watchdog_busy(false);
		if (w->idle_ms)
			sleep_ms(w->idle_ms);
	}
	atomic_store(&w->done, true);
	return NULL;
}

/* Whether the watchdog shut the connection down: the peer reads end of file. */
static bool closed(int peer, int wait_ms)
{
	struct pollfd p = { peer, POLLIN, 0 };
	char c;

	return poll(&p, 1, wait_ms) == 1 && recv(peer, &c, 1, MSG_DONTWAIT) == 0;
}

static int setup(void **state)
{
	struct conn_limits lim = { 1, 64 << 10, 30 };
	struct dcr_err err;

	(void)state;
	if (watchdog_start(&lim, NULL, &err) < 0)
		fail_msg("%s", err.msg);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	watchdog_stop();
	return 0;
}

/*
 * Busy 450 ms of every 500: the connection waits for its headers 50 ms of
 * each round, so its 1 s deadline passes after about 20 rounds, 10 s; it
 * used to pass never, since a tick nearly always found the thread busy and
 * started its clock again.
 */
static void test_mostly_busy(void **state)
{
	struct worker w = { .busy_ms = 450, .idle_ms = 50 };
	unsigned long before, after, bodies, answers;
	pthread_t t;
	int sv[2];
	bool dropped = false;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	w.fd = sv[0];
	watchdog_counts(&before, &bodies, &answers);
	assert_int_equal(pthread_create(&t, NULL, serve, &w), 0);
	/* Up to two minutes, for a loaded machine. */
	for (int i = 0; i < 240 && !dropped; i++)
		dropped = closed(sv[1], 500);
	atomic_store(&w.stop, true);
	pthread_join(t, NULL);
	assert_true(dropped);
	watchdog_counts(&after, &bodies, &answers);
	assert_int_equal(after, before + 1);
	conn_close(w.conn);
	close(sv[0]);
	close(sv[1]);
}

/* Busy 3 s without a pause: the connection's 1 s has not passed when the handler ends, and passes after. */
static void test_busy_handler(void **state)
{
	struct worker w = { .busy_ms = 3000, .rounds = 1 };
	pthread_t t;
	int sv[2];
	bool dropped = false;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	w.fd = sv[0];
	assert_int_equal(pthread_create(&t, NULL, serve, &w), 0);
	while (!atomic_load(&w.done))
		assert_false(closed(sv[1], 50));
	pthread_join(t, NULL);
	assert_false(closed(sv[1], 0));
	for (int i = 0; i < 120 && !dropped; i++)
		dropped = closed(sv[1], 500);
	assert_true(dropped);
	conn_close(w.conn);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mostly_busy),
		cmocka_unit_test(test_busy_handler),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
