// SPDX-License-Identifier: GPL-2.0
/*
 * ktls-client HOST PORT [SERVER_NAME] - connect, let ktlsd do the TLS
 * handshake, then copy stdin to the connection and the connection to
 * stdout through ktls.  An example of libktls.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "../lib/ktls.h"

static int dial(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int fd = -1, err;

	err = getaddrinfo(host, port, &hints, &res);
	if (err) {
		fprintf(stderr, "%s: %s\n", host, gai_strerror(err));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd >= 0 && !connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		perror("connect");
	return fd;
}

int main(int argc, char **argv)
{
	struct ktls_opts opts = { 0 };
	struct ktls_info info;
	struct pollfd p[2];
	char buf[16384];
	ssize_t n;
	int fd;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: ktls-client HOST PORT [SERVER_NAME]\n");
		return 2;
	}
	fd = dial(argv[1], argv[2]);
	if (fd < 0)
		return 1;
	opts.server_name = argc == 4 ? argv[3] : argv[1];
	if (ktls_client_handshake(fd, &opts) ||
	    ktls_handshake_result(fd, &info)) {
		fprintf(stderr, "TLS handshake: %s\n", ktls_strerror(errno));
		return 1;
	}
	fprintf(stderr, "TLS %s, cipher %u, peer %s\n",
		info.version == 0x0304 ? "1.3" : "1.2", info.cipher, info.peer);

	p[0] = (struct pollfd){ .fd = 0, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = fd, .events = POLLIN };
	while (poll(p, 2, -1) > 0) {
		if (p[0].revents) {
			n = read(0, buf, sizeof(buf));
			if (n <= 0) {
				shutdown(fd, SHUT_WR);
				p[0].fd = -1;
			} else if (write(fd, buf, n) != n) {
				perror("send");
				return 1;
			}
		}
		if (p[1].revents) {
			n = read(fd, buf, sizeof(buf));
			if (n < 0)
				perror("recv");
			if (n <= 0)
				break;
			if (write(1, buf, n) != n)
				return 1;
		}
	}
	close(fd);
	return 0;
}
