// SPDX-License-Identifier: Apache-2.0
/*
 * A getppid() storm that reports its own speed: every 100 ms it prints
 * "<unix ms> <ns per call>" for that window, for DURATION_MS in total.
 *
 *   storm DURATION_MS
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
	long calls = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		for (int i = 0; i < 1000; i++)
			syscall(SYS_getppid);
		calls += 1000;
		long long t = now_ns(CLOCK_MONOTONIC);
		if (t - window >= 100000000LL) {
			printf("%lld %.1f\n", now_ns(CLOCK_REALTIME) / 1000000, (double)(t - window) / calls);
			window = t;
			calls = 0;
		}
		if (t - start >= duration)
			break;
	}
	return 0;
}
