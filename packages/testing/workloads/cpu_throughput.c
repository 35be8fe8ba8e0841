// SPDX-License-Identifier: Apache-2.0
/*
 * Benchmark workload: a fixed amount of CPU-bound work that times itself.
 *
 *   cpu_throughput ITERATIONS
 *
 * Runs ITERATIONS rounds of a 64-bit integer mix (the splitmix64 finalizer),
 * each depending on the previous one so the compiler can neither fold nor
 * vectorize the loop, through two frames that are not inlined so a profiler
 * walks a real user stack (build with -fno-omit-frame-pointer). Then prints
 *
 *   iterations N
 *   wall_ns W     (CLOCK_MONOTONIC around the work)
 *   cpu_ns C      (CLOCK_PROCESS_CPUTIME_ID around the work)
 *   hash H        (the result, so the work is not optimized away)
 *   preempted P   (involuntary context switches: time the CPU went to others)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#define BLOCK 65536

static long long clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

__attribute__((noinline)) static uint64_t fleettrace_bench_mix_block(uint64_t h, long n)
{
	for (long i = 0; i < n; i++) {
		h += 0x9e3779b97f4a7c15ULL;
		h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
		h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
		h ^= h >> 31;
	}
	return h;
}

__attribute__((noinline)) static uint64_t fleettrace_bench_work(long iterations)
{
	uint64_t h = 1;

	for (long done = 0; done < iterations; done += BLOCK)
		h = fleettrace_bench_mix_block(h, iterations - done < BLOCK ? iterations - done : BLOCK);
	return h;
}

int main(int argc, char **argv)
{
	long iterations = argc > 1 ? atol(argv[1]) : 100000000;
	long long wall0, cpu0, wall, cpu;
	struct rusage ru;
	uint64_t h;

	if (iterations <= 0) {
		fprintf(stderr, "usage: cpu_throughput ITERATIONS\n");
		return 2;
	}
	wall0 = clock_ns(CLOCK_MONOTONIC);
	cpu0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	h = fleettrace_bench_work(iterations);
	cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
	wall = clock_ns(CLOCK_MONOTONIC) - wall0;
	getrusage(RUSAGE_SELF, &ru);
	printf("iterations %ld\nwall_ns %lld\ncpu_ns %lld\nhash %llx\npreempted %ld\n", iterations,
	       wall, cpu, (unsigned long long)h, ru.ru_nivcsw);
	return 0;
}
