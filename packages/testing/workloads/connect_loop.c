// SPDX-License-Identifier: Apache-2.0
/*
 * Benchmark loop: N TCP connections on loopback (connect, one byte each way,
 * close) against a server in a forked child, prints the mean ns per
 * connection.
 *   connect_loop N
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 5000;
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	int one = 1, lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct timespec a, b;
	char c = 'x';
	pid_t child;

	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) || listen(lfd, 128) ||
	    getsockname(lfd, (struct sockaddr *)&addr, &len)) {
		perror("connect_loop: listen");
		return 1;
	}
	child = fork();
	if (child == 0) {
		for (long i = 0; i < n; i++) {
			int fd = accept(lfd, NULL, NULL);

			if (fd < 0)
				return 1;
			if (read(fd, &c, 1) == 1)
				(void)!write(fd, &c, 1);
			close(fd);
		}
		return 0;
	}
	close(lfd);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) || write(fd, &c, 1) != 1 ||
		    read(fd, &c, 1) != 1) {
			perror("connect_loop: connect");
			return 1;
		}
		close(fd);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	waitpid(child, NULL, 0);
	printf("%.2f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
	return 0;
}
