// SPDX-License-Identifier: Apache-2.0
/*
 * A getppid() storm that reports its own speed: every 100 ms it prints
 * "<unix ms> <ns per call>" for that window, for DURATION_MS in total, and
 * at the end "total <calls>". With CALLS_PER_SECOND it paces itself to that
 * rate (spinning on the vDSO clock between bursts of 1000 calls, so no other
 * syscall is made): a busy process whose call count does not depend on how
 * long each call takes, as long as the rate leaves it idle time.
 *
 *   storm DURATION_MS [CALLS_PER_SECOND]
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long long duration = (argc > 1 ? atoll(argv[1]) : 3000) * 1000000LL;
	long long start = now_ns(CLOCK_MONOTONIC), window = start;
	long calls = 0, total = 0;
	double rate = argc > 2 ? atof(argv[2]) : 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		for (int i = 0; i < 1000; i++)
			syscall(SYS_getppid);
		calls += 1000;
		total += 1000;
		long long t = now_ns(CLOCK_MONOTONIC);
		if (rate > 0) {
			long long due = start + (long long)(total / rate * 1e9);

			while (t < due && t - start < duration)
				t = now_ns(CLOCK_MONOTONIC);
		}
		if (t - window >= 100000000LL) {
			printf("%lld %.1f\n", now_ns(CLOCK_REALTIME) / 1000000, (double)(t - window) / calls);
			window = t;
			calls = 0;
		}
		if (t - start >= duration)
			break;
	}
	printf("total %ld\n", total);
	return 0;
}
