/*
 * dcrd's clock: the host's wall clock, which under SGX the host sets as it
 * likes, made to serve as the enclave's. It never goes back while dcrd
 * runs, and it starts no earlier than dcrd's own clock when it accepted
 * its latest call before (sealed in state.db), so setting the host's clock
 * back cannot make a call or certificate of the past current again.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "dcrd.h"
#include "util.h"

#include "banned.h"

static atomic_int_fast64_t latest;
/* Whether the host's clock was last seen more than DCR_CALL_MAX_AHEAD_MS behind: said once per episode. */
static atomic_bool behind;

void clock_start(int64_t floor_ms)
{
	atomic_store(&latest, floor_ms);
	(void)clock_now_ms();
}

int64_t clock_now_ms(void)
{
	int_fast64_t now = dcr_now_ms(), seen = atomic_load(&latest);

	/* Keep the largest time ever returned; compare_exchange refreshes seen when another thread moved it. */
	while (now > seen && !atomic_compare_exchange_weak(&latest, &seen, now))
		;
	if (now > seen)
		seen = now;
	/* Calls made by the host's clock look stale while it is far behind: the operator should know why. */
	if (now < seen - DCR_CALL_MAX_AHEAD_MS) {
		if (!atomic_exchange(&behind, true))
			fprintf(stderr, "dcrd: the host's clock is %.0f s behind dcrd's, which does not go back (was it "
					"set back, or was it fast before?); dcrd's clock holds until the host's catches "
					"up\n", ((double)seen - (double)now) / 1000);
	} else if (now >= seen && atomic_exchange(&behind, false)) {
		fprintf(stderr, "dcrd: the host's clock caught up with dcrd's\n");
	}
	return seen;
}

time_t clock_now(void)
{
	return (time_t)(clock_now_ms() / 1000);
}

int cond_init_monotonic(pthread_cond_t *cv)
{
	pthread_condattr_t attr;
	int r;

	if ((r = pthread_condattr_init(&attr)) != 0)
		return r;
	if ((r = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)) == 0 && (r = pthread_cond_destroy(cv)) == 0)
		r = pthread_cond_init(cv, &attr);
	pthread_condattr_destroy(&attr);
	return r;
}

struct timespec monotonic_in(int64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}
