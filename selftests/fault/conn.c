// SPDX-License-Identifier: GPL-2.0
/*
 * fault_test - loopback connections with the ULP and keys, and the data
 * helpers the checks use.  Nothing here runs under injection.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <linux/tls.h>

#include "fault.h"

#include "../../uapi/ktls.h"

const char *ulp_name(void)
{
	const char *u = getenv("KTLS_ULP");

	return u && *u ? u : "ktls";
}

void fill_pattern(unsigned char *buf, size_t len, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = x >> 24;
	}
}

void sock_timeouts(int fd, unsigned int seconds)
{
	struct timeval tv = { .tv_sec = seconds };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* A connected loopback pair; the listener is gone when this returns. */
static int tcp_pair(int *cli, int *srv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int l, one = 1;

	*cli = *srv = -1;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		goto fail;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &alen))
		goto fail;
	*cli = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*cli < 0 || connect(*cli, (struct sockaddr *)&a, sizeof(a)))
		goto fail;
	*srv = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (*srv < 0)
		goto fail;
	close(l);
	sock_timeouts(*cli, scaled(3));
	sock_timeouts(*srv, scaled(3));
	return 0;
fail:
	diag("loopback connection: %s", strerror(errno));
	if (l >= 0)
		close(l);
	if (*cli >= 0)
		close(*cli);
	*cli = -1;
	return -1;
}

int conn_attach(int fd)
{
	const char *u = ulp_name();

	return setsockopt(fd, IPPROTO_TCP, TCP_ULP, u, strlen(u));
}

/* The same key material for a given (version, direction) every time, so
 * that a retried install must give the same wire bytes. */
void conn_fill_info(struct conn *c, char which, void *info, size_t *len)
{
	struct tls12_crypto_info_aes_gcm_128 *ci = info;
	unsigned char m[64];

	fill_pattern(m, sizeof(m), (uint32_t)which * 7919u + c->version);
	memset(ci, 0, sizeof(*ci));
	ci->info.version = c->version;
	ci->info.cipher_type = TLS_CIPHER_AES_GCM_128;
	memcpy(ci->key, m, sizeof(ci->key));
	memcpy(ci->salt, m + 16, sizeof(ci->salt));
	memcpy(ci->iv, m + 24, sizeof(ci->iv));
	memcpy(ci->rec_seq, m + 32, sizeof(ci->rec_seq));
	ci->rec_seq[0] = 0;	/* far from wrapping */
	*len = sizeof(*ci);
}

int conn_key(struct conn *c, int fd, int optname, char which)
{
	struct tls12_crypto_info_aes_gcm_128 ci;
	size_t len;
	int ret;

	conn_fill_info(c, which, &ci, &len);
	ret = setsockopt(fd, SOL_TLS, optname, &ci, len);
	memset(&ci, 0, sizeof(ci));
	return ret;
}

void conn_close(struct conn *c)
{
	if (c->cli >= 0)
		close(c->cli);
	if (c->srv >= 0)
		close(c->srv);
	if (c->pipe[0] >= 0)
		close(c->pipe[0]);
	if (c->pipe[1] >= 0)
		close(c->pipe[1]);
	if (c->file >= 0)
		close(c->file);
	free(c->tx);
	free(c->rx);
	memset(c, 0, sizeof(*c));
	c->cli = c->srv = c->file = c->pipe[0] = c->pipe[1] = -1;
}

int conn_open(struct conn *c, uint16_t version, size_t size,
	      enum conn_stage stage)
{
	memset(c, 0, sizeof(*c));
	c->cli = c->srv = c->file = c->pipe[0] = c->pipe[1] = -1;
	c->version = version;
	c->size = size;
	c->tx = malloc(size + 1);
	c->rx = malloc(size + 1);
	if (!c->tx || !c->rx) {
		diag("out of memory in the test itself");
		goto fail;
	}
	fill_pattern(c->tx, size, (uint32_t)size);
	memset(c->rx, 0, size + 1);
	if (tcp_pair(&c->cli, &c->srv))
		goto fail;
	if (stage == STAGE_PLAIN)
		return 0;
	if (conn_attach(c->cli) || conn_attach(c->srv)) {
		diag("attaching ULP %s: %s", ulp_name(), strerror(errno));
		goto fail;
	}
	if (stage == STAGE_ULP)
		return 0;
	if (conn_key(c, c->cli, TLS_TX, 'A') || conn_key(c, c->srv, TLS_RX, 'A') ||
	    conn_key(c, c->srv, TLS_TX, 'B') || conn_key(c, c->cli, TLS_RX, 'B')) {
		diag("installing keys: %s", strerror(errno));
		goto fail;
	}
	return 0;
fail:
	conn_close(c);
	return -1;
}

int send_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= n;
	}
	return 0;
}

ssize_t recv_exact(int fd, void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(fd, p + got, len - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return got ? (ssize_t)got : -errno;
		if (n == 0)
			break;
		got += n;
	}
	return got;
}

int roundtrip(int from, int to, size_t len, const char *what)
{
	unsigned char *out = malloc(len), *in = malloc(len);
	ssize_t got;
	int err, ret = -1;

	if (!out || !in) {
		diag("out of memory in the test itself");
		goto out;
	}
	fill_pattern(out, len, (uint32_t)len ^ 0x5a5a);
	err = send_all(from, out, len);
	if (err) {
		diag("%s: sending %zu bytes: %s", what, len, strerror(-err));
		goto out;
	}
	got = recv_exact(to, in, len);
	if (got < 0) {
		diag("%s: receiving %zu bytes: %s", what, len, strerror(-got));
		goto out;
	}
	if ((size_t)got != len || memcmp(in, out, len)) {
		diag("%s: %zd of %zu bytes arrived intact", what, got, len);
		goto out;
	}
	ret = 0;
out:
	free(out);
	free(in);
	return ret;
}

long ulp_open_contexts(void)
{
	const char *path = strcmp(ulp_name(), "tls") ? "/proc/net/ktls_stat" :
						       "/proc/net/tls_stat";
	char name[64];
	long v, sum = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", name, &v) == 2) {
		if (!strcmp(name, "TlsCurrTxSw") || !strcmp(name, "TlsCurrRxSw"))
			sum += v;
	}
	fclose(f);
	return sum;
}
