// SPDX-License-Identifier: GPL-2.0
/*
 * ktls-server PORT FILE - accept connections on PORT, let ktlsd do the
 * server side of the TLS handshake, then send FILE with sendfile(): ktls
 * encrypts it in the kernel.  One connection at a time.  An example of
 * libktls.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/tls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "../lib/ktls.h"

static const char *cipher_name(unsigned int cipher)
{
	switch (cipher) {
	case TLS_CIPHER_AES_GCM_128:
		return "AES-128-GCM";
	case TLS_CIPHER_AES_GCM_256:
		return "AES-256-GCM";
	case TLS_CIPHER_AES_CCM_128:
		return "AES-128-CCM";
	case TLS_CIPHER_CHACHA20_POLY1305:
		return "CHACHA20-POLY1305";
	}
	return "an unknown cipher";
}

static void serve(int fd, const char *path)
{
	struct ktls_info info;
	struct stat st;
	off_t off = 0;
	int file;

	if (ktls_server_handshake(fd, NULL) ||
	    ktls_handshake_result(fd, &info)) {
		fprintf(stderr, "TLS handshake: %s\n", ktls_strerror(errno));
		return;
	}
	file = open(path, O_RDONLY);
	if (file < 0 || fstat(file, &st)) {
		perror(path);
		return;
	}
	while (off < st.st_size)
		if (sendfile(fd, file, &off, st.st_size - off) <= 0) {
			perror("sendfile");
			break;
		}
	fprintf(stderr, "sent %lld bytes with sendfile() over TLS %s, %s\n",
		(long long)off, info.version == 0x0304 ? "1.3" : "1.2",
		cipher_name(info.cipher));
	close(file);
}

int main(int argc, char **argv)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6 };
	int l, fd, one = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: ktls-server PORT FILE\n");
		return 2;
	}
	a.sin6_port = htons(atoi(argv[1]));
	l = socket(AF_INET6, SOCK_STREAM, 0);
	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one,
				sizeof(one)) ||
	    bind(l, (void *)&a, sizeof(a)) || listen(l, 16)) {
		perror("listen");
		return 1;
	}
	for (;;) {
		fd = accept(l, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			perror("accept");
			return 1;
		}
		serve(fd, argv[2]);
		close(fd);
	}
}
