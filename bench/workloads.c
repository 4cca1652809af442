// SPDX-License-Identifier: GPL-2.0
/*
 * The socket workloads: bulk TX, bulk RX, sendfile, request/response and
 * many concurrent connections.  Role 0 is the client (CPU 0), role 1 the
 * server (CPU 1); see timed_pair().
 *
 *   tx        client: keys TX (or SSL_write) and send(-s); server: reads
 *             the ciphertext raw and throws it away, so only TX is paid.
 *   rx        client: write()s records sealed before the clock started
 *             (crosscheck.c for the kernel contenders, SSL_write into a
 *             memory BIO for OpenSSL); server: keys RX and recv(-s).
 *   sendfile  like tx, with sendfile() of -f FILE (read()+SSL_write for
 *             ossl, SSL_sendfile for ossl-ktls).
 *   rr        -n round trips of 100 bytes each way, keys both ways.
 *   conc      -n connections at once (epoll, non-blocking), client TX
 *             keys, server RX keys, -b bytes in all.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "bench.h"

#define RR_SIZE		100
#define RAW_BUF		(256 * 1024)

static bool is_kern(void)
{
	return opts->contender == C_KTLS || opts->contender == C_TLS;
}

static bool is_ossl(void)
{
	return opts->contender == C_OSSL || opts->contender == C_OSSL_KTLS;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		die("out of memory (%zu bytes)", n);
	return p;
}

static void send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("send: %s", n ? strerror(errno) : "nothing sent");
		p += n;
		len -= n;
	}
}

/* Read and discard until EOF; returns the number of bytes. */
static uint64_t drain(int fd)
{
	char *buf = xmalloc(RAW_BUF);
	uint64_t got = 0;

	for (;;) {
		ssize_t n = recv(fd, buf, RAW_BUF, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("recv: %s", strerror(errno));
		if (n == 0)
			break;
		got += n;
	}
	free(buf);
	return got;
}

static uint64_t file_size(int fd)
{
	struct stat st;

	if (fstat(fd, &st))
		die("fstat: %s", strerror(errno));
	return st.st_size;
}

/* ---- tx, rx, sendfile --------------------------------------------------- */

static void stream_client(int fd, struct bench_sync *s)
{
	uint64_t left = opts->bytes;
	struct ossl *o = NULL;
	uint8_t *sealed = NULL;
	size_t sealed_len = 0;
	int file = -1;
	char *buf;

	buf = xmalloc(opts->size);
	memset(buf, 'p', opts->size);
	if (is_ossl()) {
		o = ossl_new(fd, false, opts->contender == C_OSSL_KTLS);
		ossl_handshake(o);
		if (opts->contender == C_OSSL_KTLS && !ossl_ktls_tx(o))
			die("OpenSSL did not switch TX to kTLS (ULP \"tls\")");
		if (opts->contender == C_OSSL && ossl_ktls_tx(o))
			die("OpenSSL switched TX to kTLS; want userspace");
	}
	if (opts->workload == W_RX) {
		if (is_kern())
			sealed = seal_stream(opts->bytes, opts->size, 0,
					     &sealed_len);
		else if (o)
			sealed = ossl_preseal(o, opts->bytes, opts->size,
					      &sealed_len);
	} else if (is_kern()) {
		kern_attach(fd);
		kern_key(fd, TLS_TX, 0);
	}
	if (opts->workload == W_SENDFILE) {
		file = open(opts->file, O_RDONLY);
		if (file < 0)
			die("%s: %s", opts->file, strerror(errno));
		left = file_size(file);
	}
	sync_ready(s);

	if (opts->workload == W_RX && sealed) {
		size_t off;

		for (off = 0; off < sealed_len; off += RAW_BUF) {
			size_t n = sealed_len - off;

			full_write(fd, sealed + off, n < RAW_BUF ? n : RAW_BUF,
				   "sealed records");
		}
	} else if (opts->workload == W_SENDFILE && o &&
		   opts->contender == C_OSSL_KTLS) {
		ossl_sendfile(o, file, left);
	} else if (opts->workload == W_SENDFILE && o) {
		char *fbuf = xmalloc(RAW_BUF);

		while (left) {
			ssize_t n = read(file, fbuf, RAW_BUF);

			if (n <= 0)
				die("read %s: %s", opts->file,
				    n ? strerror(errno) : "short file");
			ossl_write(o, fbuf, n);
			left -= n;
		}
		free(fbuf);
	} else if (opts->workload == W_SENDFILE) {
		off_t off = 0;

		while ((uint64_t)off < left) {
			ssize_t n = sendfile(fd, file, &off, left - off);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				die("sendfile at %lld: %s", (long long)off,
				    n ? strerror(errno) : "nothing sent");
		}
	} else {
		while (left) {
			size_t n = left < opts->size ? left : opts->size;

			if (o)
				ossl_write(o, buf, n);
			else
				send_all(fd, buf, n);
			left -= n;
		}
	}
	if (o)
		ossl_free(o);
	close(fd);
	free(sealed);
	free(buf);
}

static void stream_server(int fd, struct bench_sync *s)
{
	uint64_t got = 0, want = opts->bytes;
	struct ossl *o = NULL;
	char *buf;

	if (is_ossl()) {
		o = ossl_new(fd, true, false);
		ossl_handshake(o);
	}
	if (opts->workload == W_RX && is_kern()) {
		kern_attach(fd);
		kern_key(fd, TLS_RX, 0);
	}
	buf = xmalloc(opts->size);
	sync_ready(s);

	if (opts->workload != W_RX) {
		/* Ciphertext (or plain TCP) on the wire: at least as long. */
		got = drain(fd);
	} else {
		while (got < want) {
			ssize_t n;

			if (o) {
				n = ossl_read(o, buf, opts->size);
			} else {
				n = recv(fd, buf, opts->size, 0);
				if (n < 0 && errno == EINTR)
					continue;
				if (n < 0)
					die("recv after %llu bytes: %s",
					    (unsigned long long)got,
					    strerror(errno));
			}
			if (n == 0)
				break;
			got += n;
		}
	}
	sync_result(s, &got, sizeof(got));
	if (o)
		ossl_free(o);
	free(buf);
}

static void stream_side(int role, int *fds, unsigned int n,
			struct bench_sync *s)
{
	(void)n;
	if (role == 0)
		stream_client(fds[0], s);
	else
		stream_server(fds[0], s);
}

void run_stream(struct bench_result *r)
{
	uint64_t want = opts->bytes, got = 0;
	int c, s;

	if (opts->workload == W_SENDFILE) {
		int f = open(opts->file, O_RDONLY);

		if (f < 0)
			die("%s: %s", opts->file, strerror(errno));
		want = file_size(f);
		close(f);
		if (!want)
			die("%s is empty", opts->file);
	}
	tcp_pair(&c, &s);
	timed_pair(stream_side, &c, &s, 1, &got, sizeof(got), r);
	if (opts->workload == W_RX ? got != want : got < want)
		die("the receiver got %llu bytes, expected %s%llu",
		    (unsigned long long)got,
		    opts->workload == W_RX ? "" : "at least ",
		    (unsigned long long)want);
	/* Records add a header and a tag: no more bytes means plaintext. */
	if (opts->workload != W_RX && opts->contender != C_TCP && got <= want)
		die("%llu bytes on the wire for %llu of plaintext: not TLS",
		    (unsigned long long)got, (unsigned long long)want);
	r->bytes = want;
	snprintf(r->note, sizeof(r->note), "%s",
		 opts->contender == C_KTLS ? "ULP ktls" :
		 opts->contender == C_TLS ? "ULP tls" :
		 opts->contender == C_OSSL_KTLS ? "SSL_sendfile via ULP tls" :
		 opts->contender == C_OSSL ? "OpenSSL userspace records" :
		 "plain TCP");
}

/* ---- request/response --------------------------------------------------- */

struct rr_result {
	double lat_us[3];
};

static void rr_keys(int fd, int role, struct ossl **o)
{
	if (is_ossl()) {
		*o = ossl_new(fd, role == 1, false);
		ossl_handshake(*o);
	} else if (is_kern()) {
		kern_attach(fd);
		kern_key(fd, TLS_TX, role);
		kern_key(fd, TLS_RX, !role);
	}
	set_nodelay(fd);
}

/* Exactly @len bytes, or false at EOF before the first byte. */
static bool rr_read(int fd, struct ossl *o, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n;

		if (o) {
			n = ossl_read(o, buf + got, len - got);
		} else {
			n = recv(fd, buf + got, len - got, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				die("recv: %s", strerror(errno));
		}
		if (n == 0) {
			if (got)
				die("EOF inside a message");
			return false;
		}
		got += n;
	}
	return true;
}

static void rr_write(int fd, struct ossl *o, const char *buf, size_t len)
{
	if (o)
		ossl_write(o, buf, len);
	else
		send_all(fd, buf, len);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void rr_side(int role, int *fds, unsigned int n,
		    struct bench_sync *s)
{
	char buf[RR_SIZE];
	struct ossl *o = NULL;
	unsigned int i;
	int fd = fds[0];

	(void)n;
	memset(buf, 'q', sizeof(buf));
	rr_keys(fd, role, &o);
	sync_ready(s);
	if (role == 1) {
		while (rr_read(fd, o, buf, sizeof(buf)))
			rr_write(fd, o, buf, sizeof(buf));
	} else {
		double *lat = xmalloc(opts->count * sizeof(*lat));
		struct rr_result res;

		for (i = 0; i < opts->count; i++) {
			double t = now_s();

			rr_write(fd, o, buf, sizeof(buf));
			if (!rr_read(fd, o, buf, sizeof(buf)))
				die("server closed after %u round trips", i);
			lat[i] = (now_s() - t) * 1e6;
		}
		qsort(lat, opts->count, sizeof(*lat), cmp_double);
		res.lat_us[0] = lat[(size_t)(opts->count * 0.50)];
		res.lat_us[1] = lat[(size_t)(opts->count * 0.90)];
		res.lat_us[2] = lat[(size_t)(opts->count * 0.99)];
		sync_result(s, &res, sizeof(res));
		free(lat);
	}
	if (o)
		ossl_free(o);
	close(fd);
}

void run_rr(struct bench_result *r)
{
	struct rr_result res;
	int c, s;

	if (opts->contender == C_OSSL_KTLS)
		die("rr: ossl-ktls is a sendfile contender");
	tcp_pair(&c, &s);
	timed_pair(rr_side, &c, &s, 1, &res, sizeof(res), r);
	memcpy(r->lat_us, res.lat_us, sizeof(r->lat_us));
	r->bytes = (uint64_t)opts->count * RR_SIZE * 2;
	snprintf(r->note, sizeof(r->note), "%u round trips of %d B",
		 opts->count, RR_SIZE);
}

/* ---- many connections --------------------------------------------------- */

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK))
		die("O_NONBLOCK: %s", strerror(errno));
}

static int epoll_all(int *fds, unsigned int n, uint32_t events)
{
	int ep = epoll_create1(0);
	unsigned int i;

	if (ep < 0)
		die("epoll_create1: %s", strerror(errno));
	for (i = 0; i < n; i++) {
		struct epoll_event ev = { .events = events, .data.u32 = i };

		set_nonblock(fds[i]);
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev))
			die("epoll_ctl: %s", strerror(errno));
	}
	return ep;
}

/* Events on the connections' epoll set; a 10 s silence is a stall. */
static int conc_wait(int ep, struct epoll_event ev[64])
{
	for (;;) {
		int m = epoll_wait(ep, ev, 64, 10000);

		if (m < 0 && errno == EINTR)
			continue;
		if (m <= 0)
			die("conc: epoll_wait: %s", m ? strerror(errno) :
			    "stalled for 10 s");
		return m;
	}
}

static void conc_client(int *fds, unsigned int n, struct bench_sync *s)
{
	uint64_t share = opts->bytes / n, *left = xmalloc(n * sizeof(*left));
	struct epoll_event ev[64];
	char *buf = xmalloc(opts->size);
	unsigned int i, open = n;
	int ep;

	memset(buf, 'p', opts->size);
	for (i = 0; i < n; i++) {
		kern_attach(fds[i]);
		kern_key(fds[i], TLS_TX, 0);
		left[i] = share;
	}
	ep = epoll_all(fds, n, EPOLLOUT);
	sync_ready(s);
	while (open) {
		int k, m = conc_wait(ep, ev);

		for (k = 0; k < m; k++) {
			unsigned int c = ev[k].data.u32;
			size_t len = left[c] < opts->size ? left[c] :
							    opts->size;
			ssize_t w = send(fds[c], buf, len, MSG_DONTWAIT);

			if (w < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (w <= 0)
				die("conc: send: %s", w ? strerror(errno) :
				    "nothing sent");
			left[c] -= w;
			if (!left[c]) {
				epoll_ctl(ep, EPOLL_CTL_DEL, fds[c], NULL);
				close(fds[c]);
				open--;
			}
		}
	}
	close(ep);
	free(buf);
	free(left);
}

static void conc_server(int *fds, unsigned int n, struct bench_sync *s)
{
	char *buf = xmalloc(opts->size);
	struct epoll_event ev[64];
	unsigned int i, open = n;
	uint64_t got = 0;
	int ep;

	for (i = 0; i < n; i++) {
		kern_attach(fds[i]);
		kern_key(fds[i], TLS_RX, 0);
	}
	ep = epoll_all(fds, n, EPOLLIN);
	sync_ready(s);
	while (open) {
		int k, m = conc_wait(ep, ev);

		for (k = 0; k < m; k++) {
			unsigned int c = ev[k].data.u32;
			ssize_t rd = recv(fds[c], buf, opts->size,
					  MSG_DONTWAIT);

			if (rd < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (rd < 0)
				die("conc: recv: %s", strerror(errno));
			if (rd == 0) {
				epoll_ctl(ep, EPOLL_CTL_DEL, fds[c], NULL);
				close(fds[c]);
				open--;
				continue;
			}
			got += rd;
		}
	}
	sync_result(s, &got, sizeof(got));
	close(ep);
	free(buf);
}

static void conc_side(int role, int *fds, unsigned int n,
		      struct bench_sync *s)
{
	if (role == 0)
		conc_client(fds, n, s);
	else
		conc_server(fds, n, s);
}

void run_conc(struct bench_result *r)
{
	unsigned int n = opts->count;
	int *c = malloc(n * sizeof(int)), *s = malloc(n * sizeof(int));
	uint64_t got = 0, want = opts->bytes / n * n;

	if (is_ossl())
		die("conc: the OpenSSL contender is not implemented (one "
		    "handshake per connection would dominate under TCG)");
	if (!c || !s)
		die("out of memory");
	if (opts->bytes < n)
		die("conc: -b must be at least one byte per connection");
	tcp_pairs(c, s, n);
	timed_pair(conc_side, c, s, n, &got, sizeof(got), r);
	if (got != want)
		die("conc: received %llu bytes, expected %llu",
		    (unsigned long long)got, (unsigned long long)want);
	r->bytes = want;
	snprintf(r->note, sizeof(r->note), "%u connections of %llu B", n,
		 (unsigned long long)(want / n));
	free(c);
	free(s);
}
