// SPDX-License-Identifier: Apache-2.0
/*
 * A syscall workload whose own counts are exact, for collector tests.
 *
 *   syscall_workload [-r ROUNDS] [-s SLEEP_MS] OP COUNT [OP COUNT ...]
 *
 * OPs: getppid, openat_missing (openat of a path that does not exist), write100
 * (100 bytes to /dev/null), read_zero / readv_zero (64 KiB from /dev/zero with
 * read() / readv(): the kernel serves them through different functions), touch_mib
 * (COUNT MiB of fresh anonymous memory, small pages only, one write per 4 KiB
 * page: at least COUNT × 256 page faults). Prints "ready <pid>" and waits for one byte on
 * stdin before starting, so a tracer can load its filters for this pid first;
 * then runs ROUNDS rounds of every OP (sleeping SLEEP_MS between rounds),
 * prints "done", and exits when stdin closes.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static void run(const char *op, long count)
{
	static char buf[100];
	static char big[65536];
	int devnull = -1, zero = -1;

	if (strcmp(op, "touch_mib") == 0) {
		size_t len = (size_t)count << 20;
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED || madvise(p, len, MADV_NOHUGEPAGE) != 0) {
			perror("touch_mib");
			exit(1);
		}
		for (size_t off = 0; off < len; off += 4096)
			((volatile char *)p)[off] = 1;
		munmap(p, len);
		return;
	}
	if (strcmp(op, "write100") == 0)
		devnull = open("/dev/null", O_WRONLY);
	if (strncmp(op, "read", 4) == 0)
		zero = open("/dev/zero", O_RDONLY);
	for (long i = 0; i < count; i++) {
		if (strcmp(op, "getppid") == 0) {
			syscall(SYS_getppid);
		} else if (strcmp(op, "openat_missing") == 0) {
			syscall(SYS_openat, AT_FDCWD, "/nonexistent/fleettrace-test", O_RDONLY);
		} else if (strcmp(op, "write100") == 0) {
			syscall(SYS_write, devnull, buf, sizeof(buf));
		} else if (strcmp(op, "read_zero") == 0) {
			syscall(SYS_read, zero, big, sizeof(big));
		} else if (strcmp(op, "readv_zero") == 0) {
			struct iovec iov = { big, sizeof(big) };
			syscall(SYS_readv, zero, &iov, 1);
		} else {
			fprintf(stderr, "unknown op %s\n", op);
			exit(2);
		}
	}
	if (devnull >= 0)
		close(devnull);
	if (zero >= 0)
		close(zero);
}

int main(int argc, char **argv)
{
	long rounds = 1, sleep_ms = 0;
	int i = 1;
	char c;

	while (i + 1 < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "-r") == 0)
			rounds = atol(argv[i + 1]);
		else if (strcmp(argv[i], "-s") == 0)
			sleep_ms = atol(argv[i + 1]);
		i += 2;
	}
	printf("ready %d\n", getpid());
	fflush(stdout);
	if (read(0, &c, 1) != 1)
		return 1;
	for (long r = 0; r < rounds; r++) {
		for (int j = i; j + 1 < argc; j += 2)
			run(argv[j], atol(argv[j + 1]));
		if (sleep_ms > 0) {
			struct timespec ts = { sleep_ms / 1000, (sleep_ms % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
	printf("done\n");
	fflush(stdout);
	while (read(0, &c, 1) > 0)
		;
	return 0;
}
