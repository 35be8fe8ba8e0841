// SPDX-License-Identifier: Apache-2.0
/*
 * Benchmark workload: a context-switch load that times itself.
 *
 *   pipe_pingpong SECONDS
 *
 * A parent and a forked child pass one byte back and forth over a pair of
 * pipes for about SECONDS seconds: every round trip is two blocking reads and
 * two wake-ups (pipe(7)), so on one CPU (taskset -c N) each round trip is two
 * context switches. Then prints
 *
 *   round_trips N
 *   wall_ns W     (CLOCK_MONOTONIC around the round trips)
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The child echoes every byte until the parent closes its end (read returns 0). */
static int echo(int in, int out)
{
	char c;

	while (read(in, &c, 1) == 1)
		if (write(out, &c, 1) != 1)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 5;
	int to_child[2], to_parent[2];
	long long start, end, deadline;
	long trips = 0;
	int status, ret = 1;
	pid_t pid;
	char c = 'x';

	if (seconds <= 0) {
		fprintf(stderr, "usage: pipe_pingpong SECONDS\n");
		return 2;
	}
	if (pipe(to_child) || pipe(to_parent)) {
		perror("pipe");
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		close(to_child[1]);
		close(to_parent[0]);
		_exit(echo(to_child[0], to_parent[1]));
	}
	close(to_child[0]);
	close(to_parent[1]);

	start = now_ns();
	deadline = start + (long long)(seconds * 1e9);
	end = start;
	/* Reading the clock every 1024 round trips keeps its cost out of the measurement. */
	while (end < deadline) {
		for (int i = 0; i < 1024; i++) {
			if (write(to_child[1], &c, 1) != 1 || read(to_parent[0], &c, 1) != 1) {
				perror("ping-pong");
				goto cleanup;
			}
		}
		trips += 1024;
		end = now_ns();
	}
	printf("round_trips %ld\nwall_ns %lld\n", trips, end - start);
	ret = 0;
cleanup:
	close(to_child[1]);
	close(to_parent[0]);
	waitpid(pid, &status, 0);
	return ret;
}
