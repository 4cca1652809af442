// SPDX-License-Identifier: GPL-2.0
/*
 * offload_xfer - one kTLS connection across two network namespaces, every
 * byte checked; the peer program of selftests/offload/run.
 *
 *   offload_xfer server PORT SIZE [-v 12|13] [-c CIPHER] [-p] [-H FILE]
 *   offload_xfer client ADDR PORT SIZE [-v 12|13] [-c CIPHER] [-p] [-H FILE]
 *
 * Both ends attach the ULP $KTLS_ULP (default "ktls"; each end may have
 * its own) and install fixed keys (TLS 1.3 by default, -v 12: TLS 1.2),
 * one per direction, of the cipher -c gcm128 (default), gcm256, ccm128 or
 * chacha.  The client sends SIZE bytes of a known pattern, the server
 * checks them and sends SIZE bytes of another pattern back, the client
 * checks those.  -p: plain TCP, no ULP.  -H FILE: then wait (30 s at most)
 * until FILE exists, try to send once more and report what send()
 * returned (the link may be gone by then: any result but a crash is
 * fine), and close with an abortive close (SO_LINGER 0), so that no
 * orphan socket outlives the test holding the module.
 * Prints "ok ..." and exits 0, or "FAIL: ..." and exits 1.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/tls.h>

#include "../../uapi/ktls.h"
#include "../lib/ktls_util.h"

#define BUF_SIZE	(64 * 1024)

static uint8_t pattern(uint64_t off, uint8_t seed)
{
	return (uint8_t)(((off * 2654435761u) >> 13) ^ (off >> 16) ^ seed);
}

/* The ciphers -c names; every crypto_info is info | iv | key | salt |
 * rec_seq. */
static const struct cipher {
	const char *name;
	uint16_t type;
	size_t iv, key, salt;
} ciphers[] = {
	{ "gcm128", TLS_CIPHER_AES_GCM_128, 8, 16, 4 },
	{ "gcm256", TLS_CIPHER_AES_GCM_256, 8, 32, 4 },
	{ "ccm128", TLS_CIPHER_AES_CCM_128, 8, 16, 4 },
	{ "chacha", TLS_CIPHER_CHACHA20_POLY1305, 12, 32, 0 },
};
static const struct cipher *cipher = &ciphers[0];

static void set_key(int fd, int optname, uint16_t version, uint8_t seed)
{
	uint8_t ci[sizeof(struct tls_crypto_info) + 12 + 32 + 4 + 8];
	struct tls_crypto_info info = {
		.version = version,
		.cipher_type = cipher->type,
	};
	uint8_t *p = ci + sizeof(info);
	size_t len = sizeof(info) + cipher->iv + cipher->key + cipher->salt +
		     8;

	memset(ci, 0, sizeof(ci));
	memcpy(ci, &info, sizeof(info));
	memset(p, seed ^ 0xa5, cipher->iv);
	memset(p + cipher->iv, seed, cipher->key);
	memset(p + cipher->iv + cipher->key, seed ^ 0x5a, cipher->salt);
	if (setsockopt(fd, SOL_TLS, optname, ci, len))
		ku_die("setsockopt(%s, %s): %s", optname == TLS_TX ? "TLS_TX" :
		       "TLS_RX", cipher->name, strerror(errno));
}

static void attach(int fd, bool server, uint16_t version)
{
	const char *ulp = getenv("KTLS_ULP") ? getenv("KTLS_ULP") : "ktls";

	if (setsockopt(fd, SOL_TCP, TCP_ULP, ulp, strlen(ulp)))
		ku_die("TCP_ULP %s: %s", ulp, strerror(errno));
	/* client to server: key 1; server to client: key 2 */
	set_key(fd, TLS_TX, version, server ? 2 : 1);
	set_key(fd, TLS_RX, version, server ? 1 : 2);
}

static void send_all(int fd, uint64_t size, uint8_t seed)
{
	static uint8_t buf[BUF_SIZE];
	uint64_t off = 0;

	while (off < size) {
		size_t n = size - off < BUF_SIZE ? size - off : BUF_SIZE;
		ssize_t r;
		size_t i;

		for (i = 0; i < n; i++)
			buf[i] = pattern(off + i, seed);
		r = send(fd, buf, n, 0);
		if (r < 0)
			ku_die("send at %llu: %s", (unsigned long long)off,
			       strerror(errno));
		off += r;
	}
}

static void recv_all(int fd, uint64_t size, uint8_t seed)
{
	static uint8_t buf[BUF_SIZE];
	uint64_t off = 0;

	while (off < size) {
		size_t n = size - off < BUF_SIZE ? size - off : BUF_SIZE;
		ssize_t r = recv(fd, buf, n, 0);
		ssize_t i;

		if (r < 0)
			ku_die("recv at %llu: %s", (unsigned long long)off,
			       strerror(errno));
		if (r == 0)
			ku_die("EOF at %llu of %llu", (unsigned long long)off,
			       (unsigned long long)size);
		for (i = 0; i < r; i++)
			if (buf[i] != pattern(off + i, seed))
				ku_die("byte %llu differs",
				       (unsigned long long)(off + i));
		off += r;
	}
}

/* -H: wait for the test to act, then one more send, then abort. */
static void hold(int fd, const char *file)
{
	static uint8_t buf[4096];
	struct timeval tv = { .tv_sec = 2 };
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct stat st;
	ssize_t r;
	int i;

	for (i = 0; i < 300 && stat(file, &st); i++)
		usleep(100 * 1000);
	if (i == 300)
		ku_die("%s did not appear", file);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(buf, 'x', sizeof(buf));
	r = send(fd, buf, sizeof(buf), MSG_DONTWAIT);
	printf("after %s: send returned %zd (%s)\n", file, r,
	       r < 0 ? strerror(errno) : "queued");
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)))
		ku_die("SO_LINGER: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	uint16_t version = TLS_1_3_VERSION;
	const char *hold_file = NULL;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	bool server, plain = false;
	uint64_t size;
	int fd, opt, one = 1;

	if (argc < 2)
		goto usage;
	server = !strcmp(argv[1], "server");
	if (!server && strcmp(argv[1], "client"))
		goto usage;
	optind = server ? 4 : 5;
	if (argc < optind)
		goto usage;
	while ((opt = getopt(argc, argv, "v:c:pH:")) != -1) {
		switch (opt) {
		case 'v':
			version = atoi(optarg) == 12 ? TLS_1_2_VERSION :
						       TLS_1_3_VERSION;
			break;
		case 'c': {
			size_t i;

			cipher = NULL;
			for (i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]);
			     i++)
				if (!strcmp(optarg, ciphers[i].name))
					cipher = &ciphers[i];
			if (!cipher)
				goto usage;
			break;
		}
		case 'p':
			plain = true;
			break;
		case 'H':
			hold_file = optarg;
			break;
		default:
			goto usage;
		}
	}
	sa.sin_port = htons(atoi(argv[server ? 2 : 3]));
	size = strtoull(argv[server ? 3 : 4], NULL, 0);

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		ku_die("socket: %s", strerror(errno));
	if (server) {
		int lfd = fd;

		setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
		    listen(lfd, 1))
			ku_die("bind/listen: %s", strerror(errno));
		printf("listening\n");
		fflush(stdout);
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			ku_die("accept: %s", strerror(errno));
		close(lfd);
	} else {
		if (inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1)
			ku_die("bad address %s", argv[2]);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			ku_die("connect: %s", strerror(errno));
	}
	if (!plain)
		attach(fd, server, version);
	if (server) {
		recv_all(fd, size, 1);
		send_all(fd, size, 2);
	} else {
		send_all(fd, size, 1);
		recv_all(fd, size, 2);
	}
	printf("ok %s %s: %llu bytes each way\n", argv[1],
	       plain ? "plain" : version == TLS_1_2_VERSION ? "tls1.2" :
							      "tls1.3",
	       (unsigned long long)size);
	fflush(stdout);
	if (hold_file)
		hold(fd, hold_file);
	close(fd);
	return 0;

usage:
	fprintf(stderr, "usage: %s server PORT SIZE [-v 12|13] [-c CIPHER] [-p] [-H FILE]\n"
		"       %s client ADDR PORT SIZE [-v 12|13] [-c CIPHER] [-p] [-H FILE]\n"
		"CIPHER: gcm128, gcm256, ccm128 or chacha\n",
		argv[0], argv[0]);
	return 2;
}
