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

/* A connected loopback pair with bounded blocking calls. */
static int tcp_pair(int *cli, int *srv)
{
	if (ku_tcp_pair(AF_INET, SOCK_CLOEXEC, cli, srv)) {
		diag("loopback connection: %s", strerror(errno));
		return -1;
	}
	sock_timeouts(*cli, scaled(3));
	sock_timeouts(*srv, scaled(3));
	return 0;
}

/* The same key material for a given (version, direction) every time, so
 * that a retried install must give the same wire bytes. */
void conn_fill_info(struct conn *c, char which, union cc_crypto_info *ci,
		    size_t *len)
{
	unsigned char m[64];
	uint64_t seq = 0;
	int i;

	fill_pattern(m, sizeof(m), (uint32_t)which * 7919u + c->version);
	for (i = 1; i < 8; i++)		/* the top byte 0: far from wrapping */
		seq = seq << 8 | m[56 + i];
	*len = cc_crypto_info_fill(ci, c->version, TLS_CIPHER_AES_GCM_128, m,
				   seq);
}

int conn_key(struct conn *c, int fd, int optname, char which)
{
	union cc_crypto_info ci;
	size_t len;
	int ret;

	conn_fill_info(c, which, &ci, &len);
	ret = ku_set_crypto(fd, optname, &ci, len);
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
	if (ku_attach_ulp(c->cli, NULL) || ku_attach_ulp(c->srv, NULL)) {
		diag("attaching ULP %s: %s", ku_ulp_name(), strerror(errno));
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
	return ku_write_all(fd, buf, len, NULL) < 0 ? -errno : 0;
}

ssize_t recv_exact(int fd, void *buf, size_t len)
{
	size_t got;

	if (ku_read_all(fd, buf, len, &got) < 0 && !got)
		return -errno;
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
	long tx = ku_stat("TlsCurrTxSw"), rx = ku_stat("TlsCurrRxSw");

	if (tx < 0 || rx < 0)
		return -1;
	return tx + rx;
}
