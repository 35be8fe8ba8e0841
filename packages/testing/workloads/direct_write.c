// SPDX-License-Identifier: Apache-2.0
/*
 * Benchmark loop: N writes of 4 KiB with O_DIRECT to a file or block device
 * (offsets cycling over its first 64 MiB), prints the mean ns per write.
 *   direct_write PATH N
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[2]) : 10000;
	struct timespec a, b;
	void *buf;
	int fd;

	if (argc < 2) {
		fprintf(stderr, "usage: direct_write PATH [N]\n");
		return 2;
	}
	fd = open(argv[1], O_WRONLY | O_CREAT | O_DIRECT, 0600);
	if (fd < 0 || posix_memalign(&buf, 4096, 4096)) {
		perror("direct_write: open");
		return 1;
	}
	memset(buf, 'x', 4096);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) {
		if (pwrite(fd, buf, 4096, (off_t)(i % 16384) * 4096) != 4096) {
			perror("direct_write: pwrite");
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.2f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
	return 0;
}
