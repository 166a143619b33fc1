/*
 * dcrd's clock: the host's wall clock, which under SGX the host sets as it
 * likes, made to serve as the enclave's. It never goes back while dcrd
 * runs, and it starts no earlier than the latest call timestamp dcrd
 * accepted before (sealed in state.db), so setting the host's clock back
 * cannot make a call or certificate of the past current again.
 */
#include <stdatomic.h>

#include "dcrd.h"
#include "util.h"

#include "banned.h"

static atomic_int_fast64_t latest;

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
	return now > seen ? now : seen;
}

time_t clock_now(void)
{
	return (time_t)(clock_now_ms() / 1000);
}
