// SPDX-License-Identifier: Apache-2.0
/*
 * A function to put a uprobe on, for collector tests.
 *
 *   uprobe_target COUNT
 *   uprobe_target --bench COUNT
 *
 * Prints "ready <pid>", waits for one byte on stdin, calls
 * fleettrace_test_fn() COUNT times, prints "done" and exits when stdin closes.
 * With --bench it calls it COUNT times at once and prints the mean ns per call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

volatile unsigned long sink;

__attribute__((noinline)) unsigned long fleettrace_test_fn(unsigned long x)
{
	/* some work, so a call takes a measurable time */
	for (int i = 0; i < 100; i++)
		sink += x * i;
	return sink;
}

int main(int argc, char **argv)
{
	long count = argc > 1 ? atol(argv[argc - 1]) : 1000;
	char c;

	if (argc > 2 && strcmp(argv[1], "--bench") == 0) {
		struct timespec a, b;

		clock_gettime(CLOCK_MONOTONIC, &a);
		for (long i = 0; i < count; i++)
			fleettrace_test_fn(i);
		clock_gettime(CLOCK_MONOTONIC, &b);
		printf("%.2f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / count);
		return 0;
	}

	printf("ready %d\n", getpid());
	fflush(stdout);
	if (read(0, &c, 1) != 1)
		return 1;
	for (long i = 0; i < count; i++)
		fleettrace_test_fn(i);
	printf("done\n");
	fflush(stdout);
	while (read(0, &c, 1) > 0)
		;
	return 0;
}
