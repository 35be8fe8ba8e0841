// SPDX-License-Identifier: Apache-2.0
/*
 * A function to put a uprobe on, for collector tests.
 *
 *   uprobe_target COUNT
 *
 * Prints "ready <pid>", waits for one byte on stdin, calls
 * fleettrace_test_fn() COUNT times, prints "done" and exits when stdin closes.
 */
#include <stdio.h>
#include <stdlib.h>
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
	long count = argc > 1 ? atol(argv[1]) : 1000;
	char c;

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
