// SPDX-License-Identifier: Apache-2.0
/*
 * CPU-bound workload for profiler tests; build with -fno-omit-frame-pointer.
 *
 *   burn [--wait] MS
 *
 * Spins in fleettrace_test_burn() until it used MS ms of CPU, prints
 * "cpu_ns <n>" (its own CPU time from getrusage) and exits. With --wait it
 * prints "ready <pid>" and waits for a byte on stdin first, and after the
 * burn waits for stdin to close.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static long long cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

volatile unsigned long sink;

__attribute__((noinline)) void fleettrace_test_burn(long ms)
{
	long long until = cpu_ns() + ms * 1000000LL;

	while (cpu_ns() < until) {
		for (unsigned long i = 0; i < 2000000; i++)
			sink += i * i;
	}
}

int main(int argc, char **argv)
{
	int wait = argc > 2 && strcmp(argv[1], "--wait") == 0;
	long ms = atol(argv[argc - 1]);
	struct rusage ru;
	char c;

	if (wait) {
		printf("ready %d\n", getpid());
		fflush(stdout);
		if (read(0, &c, 1) != 1)
			return 1;
	}
	fleettrace_test_burn(ms);
	getrusage(RUSAGE_SELF, &ru);
	printf("cpu_ns %lld\ndone\n",
	       (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
		       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL);
	fflush(stdout);
	if (wait)
		while (read(0, &c, 1) > 0)
			;
	return 0;
}
