/* \summary: "now + ms" as an absolute timespec, for timed waits.
 *
 * pthread_cond_timedwait() and friends take an absolute time on the clock
 * the waitable was set up with (CLOCK_REALTIME unless told otherwise), so
 * the caller names the clock.
 */
#ifndef FP_DEADLINE_H
#define FP_DEADLINE_H

#include <time.h>

static inline struct timespec fp_deadline_ms(clockid_t clock, long ms)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

#endif
