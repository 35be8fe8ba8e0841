// SPDX-License-Identifier: Apache-2.0
/*
 * Process-lifecycle workload for collector tests.
 *
 *   proc_workload [--wait] exit N      exit with status N
 *   proc_workload [--wait] segv        dereference NULL
 *   proc_workload [--wait] alloc MB    allocate and touch MB MiB, 1 MiB at a time
 *   proc_workload [--wait] sleep MS    sleep MS milliseconds once
 *   proc_workload [--wait] sleeploop N MS   sleep MS milliseconds N times
 *
 * With --wait it prints "ready <pid>" and waits for one byte on stdin first,
 * so a test can move it into a cgroup before it starts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int i = 1;
	char c;

	if (i < argc && strcmp(argv[i], "--wait") == 0) {
		printf("ready %d\n", getpid());
		fflush(stdout);
		if (read(0, &c, 1) != 1)
			return 1;
		i++;
	}
	if (i >= argc)
		return 2;
	if (strcmp(argv[i], "exit") == 0 && i + 1 < argc)
		return atoi(argv[i + 1]);
	if (strcmp(argv[i], "segv") == 0) {
		volatile int *p = NULL;
		return *p;
	}
	if (strcmp(argv[i], "alloc") == 0 && i + 1 < argc) {
		long mb = atol(argv[i + 1]);
		for (long m = 0; m < mb; m++) {
			char *block = malloc(1 << 20);
			if (!block)
				return 3;
			memset(block, 0x5a, 1 << 20);
		}
		return 0;
	}
	if (strcmp(argv[i], "sleep") == 0 && i + 1 < argc) {
		long ms = atol(argv[i + 1]);
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		return 0;
	}
	if (strcmp(argv[i], "sleeploop") == 0 && i + 2 < argc) {
		long n = atol(argv[i + 1]), ms = atol(argv[i + 2]);
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
		for (long k = 0; k < n; k++)
			nanosleep(&ts, NULL);
		printf("done\n");
		fflush(stdout);
		return 0;
	}
	return 2;
}
