// SPDX-License-Identifier: Apache-2.0
/*
 * Process churn with a known syscall count: starts N short processes, as fast
 * as they come (at most PARALLEL alive at once), each of which becomes UID
 * (when given, as root), makes exactly CALLS getppid() calls and exits. With
 * ALIVE > 0, that many more processes sleep (alive at once) for the whole run.
 * Prints "started N", then "done <processes> <getppid calls> <ms>" — the calls
 * its children made, which a tracer must match. With EXEC, each child then
 * executes that program with no arguments (a CGI or cron run: a new image, a
 * new comm); it must exit 0.
 *
 *   churn N CALLS [UID] [PARALLEL] [ALIVE] [EXEC]
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Waits for one child; returns 1 when it made all its calls (exit status 0). */
static int reap(void)
{
	int status;

	while (wait(&status) < 0)
		if (errno != EINTR)
			return 0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000;
	long calls = argc > 2 ? atol(argv[2]) : 10;
	long uid = argc > 3 ? atol(argv[3]) : -1;
	long parallel = argc > 4 ? atol(argv[4]) : 8;
	long alive = argc > 5 ? atol(argv[5]) : 0;
	const char *exec = argc > 6 ? argv[6] : NULL;
	long running = 0, ok = 0, started = 0;
	long long t0;
	pid_t *sleepers = calloc(alive > 0 ? alive : 1, sizeof(pid_t));

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (parallel < 1)
		parallel = 1;
	for (long i = 0; i < alive; i++) {
		pid_t p = fork();

		if (p == 0) {
			for (;;)
				pause();
		}
		sleepers[i] = p;
	}
	printf("started %ld\n", n);
	t0 = now_ms();
	while (started < n || running > 0) {
		if (started < n && running < parallel) {
			pid_t p = fork();

			if (p < 0) {
				perror("fork");
				return 1;
			}
			if (p == 0) {
				if (uid >= 0 && (setgid((gid_t)uid) != 0 || setuid((uid_t)uid) != 0))
					_exit(2);
				for (long c = 0; c < calls; c++)
					syscall(SYS_getppid);
				if (exec) {
					execl(exec, exec, (char *)NULL);
					_exit(3);
				}
				_exit(0);
			}
			started++;
			running++;
			continue;
		}
		ok += reap();
		running--;
	}
	long long elapsed = now_ms() - t0;
	for (long i = 0; i < alive; i++)
		kill(sleepers[i], SIGKILL);
	for (long i = 0; i < alive; i++)
		waitpid(sleepers[i], NULL, 0);
	printf("done %ld %ld %lld\n", ok, ok * calls, elapsed);
	return ok == n ? 0 : 1;
}
