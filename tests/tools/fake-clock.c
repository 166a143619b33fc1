/*
 * Test helper, loaded with LD_PRELOAD into dcrd: the host's wall clock as
 * a hostile host sets it. CLOCK_REALTIME (and time(), gettimeofday()) run
 * ahead by the milliseconds written in the file $DCR_TEST_CLOCK_FILE
 * (behind if negative; 0 while the file is absent), read at every call so
 * a test can move the clock while the program runs. Other clocks, and the
 * kernel's timers, are left alone.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int64_t offset_ms(void)
{
	const char *path = getenv("DCR_TEST_CLOCK_FILE");
	char buf[32];
	ssize_t n = 0;
	int fd;

	if (!path || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strtoll(buf, NULL, 10);
}

static void shift(struct timespec *ts)
{
	int64_t off = offset_ms(), ns = (int64_t)ts->tv_nsec + off % 1000 * 1000000;

	ts->tv_sec += (time_t)(off / 1000);
	if (ns < 0) {
		ns += 1000000000;
		ts->tv_sec--;
	} else if (ns >= 1000000000) {
		ns -= 1000000000;
		ts->tv_sec++;
	}
	ts->tv_nsec = (long)ns;
}

int clock_gettime(clockid_t clk, struct timespec *ts)
{
	int r = (int)syscall(SYS_clock_gettime, clk, ts);

	if (r == 0 && (clk == CLOCK_REALTIME || clk == CLOCK_REALTIME_COARSE))
		shift(ts);
	return r;
}

time_t time(time_t *t)
{
	struct timespec ts = { 0, 0 };

	clock_gettime(CLOCK_REALTIME, &ts);
	if (t)
		*t = ts.tv_sec;
	return ts.tv_sec;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	struct timespec ts = { 0, 0 };

	(void)tz;
	clock_gettime(CLOCK_REALTIME, &ts);
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}
