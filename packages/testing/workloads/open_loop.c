// SPDX-License-Identifier: Apache-2.0
/*
 * Benchmark loop: N opens (half of an existing file, closed again, half of a
 * missing path), prints the mean ns per open.
 *   open_loop N
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) {
		int fd = open(i & 1 ? "/nonexistent/fleettrace-bench" : "/etc/hostname", O_RDONLY);

		if (fd >= 0)
			close(fd);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.2f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
	return 0;
}
