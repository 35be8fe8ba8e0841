// SPDX-License-Identifier: Apache-2.0
/*
 * Benchmark workload: a page-fault load that times itself.
 *
 *   fault_loop MIB ROUNDS
 *
 * Maps MIB MiB of anonymous memory (small pages only), writes one byte per
 * 4 KiB page (one fault each), unmaps it, ROUNDS times; then prints
 *
 *   faults N
 *   ns_per_fault X   (CLOCK_MONOTONIC around the rounds, divided by N)
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long mib = argc > 1 ? atol(argv[1]) : 64, rounds = argc > 2 ? atol(argv[2]) : 10;
	size_t len = (size_t)mib << 20;
	long long faults = 0, start = now_ns();

	for (long r = 0; r < rounds; r++) {
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED || madvise(p, len, MADV_NOHUGEPAGE) != 0) {
			perror("fault_loop");
			return 1;
		}
		for (size_t off = 0; off < len; off += 4096, faults++)
			((volatile char *)p)[off] = 1;
		munmap(p, len);
	}
	printf("faults %lld\nns_per_fault %.1f\n", faults, (double)(now_ns() - start) / faults);
	return 0;
}
