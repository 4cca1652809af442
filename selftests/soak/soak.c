// SPDX-License-Identifier: GPL-2.0
/*
 * soak - many kTLS connections at once for a long time, every byte checked.
 *
 *   soak [-n CONNS] [-d SECONDS] [-t THREADS] [-s SEED] [-k REKEY_SECONDS]
 *        [-R] [-w SETTLE_SECONDS]
 *
 *   -n  connections (default 1000); each is a loopback TCP pair with the
 *       ULP $KTLS_ULP (default "ktls") and keys on both ends
 *   -d  seconds of traffic (default 600)
 *   -t  threads, each with its own epoll set (default 4)
 *   -s  seed (default: from the clock; printed, so a run can be repeated)
 *   -k  mean seconds between two TLS 1.3 rekeys of one direction
 *       (default: a fifth of -d, at least 1)
 *   -R  no rekeys (the in-tree module of 6.1 cannot rekey; implied when
 *       $KTLS_ULP is not "ktls")
 *   -w  at most this many seconds for the slab to come back after close
 *       (default 90: TCP keeps TIME_WAIT sockets, and with them their port
 *       buckets, for 60 s)
 *
 * KTLS_ULP=none runs the same traffic over plain TCP (no ULP, no keys, no
 * rekeys): it checks the harness itself on a host without kernel TLS.
 * KTLS_SOAK_BREAK breaks one thing on purpose, to prove a check fails:
 * "corrupt" flips one received byte before it is checked, "fd" leaks a
 * descriptor, "slab" keeps CONNS unconnected TCP sockets open past the
 * end, "rekey" installs the next TX key without sending the KeyUpdate.
 *
 * Connection i uses TLS 1.2 or 1.3 and one of AES-GCM-128, AES-GCM-256,
 * AES-CCM-128 and ChaCha20-Poly1305 (i % 8 walks all eight).  Both ends
 * send and receive at once on non-blocking sockets; the two ends of a
 * connection live in different threads.  Each direction's bytes are a
 * function of (seed, connection, direction, offset), so the receiver checks
 * every byte it reads against what the sender must have sent.  Sends use
 * mixed sizes (1 byte to 64 KiB), sometimes several iovecs, sometimes
 * MSG_MORE; reads use mixed sizes too, so a KeyUpdate may come in
 * pieces.  A TLS 1.3 direction rekeys at random times: the sender sends a
 * KeyUpdate handshake record (TLS_SET_RECORD_TYPE 22) and installs its
 * next TX key; the receiver reads the KeyUpdate, checks that reads now
 * fail with EKEYEXPIRED, and installs its next RX key
 * (Documentation/uapi.md, section 5).
 *
 * At the end every sender flushes and shuts down its write side, every
 * receiver reads to EOF, and the program checks, printing one
 * "ok N - ..." / "not ok N - ..." line each and "N passed, N failed":
 *   - no corrupted byte, no socket error, every stream complete (bytes
 *     received = bytes sent, EOF seen) before the drain deadline;
 *   - KeyUpdates received = KeyUpdates sent, every TLS 1.3 direction
 *     rekeyed at least once;
 *   - /proc/net/ktls_stat (ktls only): TlsTxSw/TlsRxSw grew by one per end,
 *     the Tls*RekeyOk counters by the rekeys done, TlsRxRekeyReceived by the
 *     KeyUpdates read, no TlsDecryptError nor rekey error, and
 *     TlsCurrTxSw/TlsCurrRxSw back to where they were after close;
 *   - the file descriptors open after close are those open before;
 *   - the slab is back: after close (waiting until TCP's TIME_WAIT sockets
 *     are gone and TCP allocates no more sockets than before, for RCU frees,
 *     shrinking the caches through /sys/kernel/slab/<cache>/shrink and, in
 *     the VM, dropping reclaimable dentries and inodes), no cache that is
 *     not reclaimable (nor filp, lsm_file_cache, lsm_inode_cache: see
 *     cache_exempt()) holds more than max(64, CONNS / 4) objects more than
 *     before the connections were made, and Slab in /proc/meminfo is at
 *     most 4 MiB above it.  While the connections are open the "TCP"
 *     cache must hold at least 2 * CONNS more objects than before, proving
 *     the measurement sees sockets.
 *
 * A short warm-up (16 connections, 2 s) runs first, so that one-time
 * allocations (crypto transforms, per-CPU caches) are in the baseline.
 * Everything is bounded: traffic stops at the deadline, the drain has
 * max(60, d / 5) seconds, the slab wait -w seconds.
 *
 * A summary line gives bytes moved, throughput, the CPU time of this
 * process (user, system) and the guest's CPU use from /proc/stat.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <linux/sockios.h>
#include <linux/tls.h>

#include "../crosscheck.h"
#include "../lib/ktls_util.h"
#include "../../uapi/ktls.h"

#define MAX_IO		(64 * 1024)
#define MAX_THREADS	64
#define WARMUP_CONNS	16
#define WARMUP_SECONDS	2.0
#define SLAB_TOTAL_TOL_KB	4096
#define MAX_CACHES	1024
#define MAX_REPORTS	20

static const uint8_t key_update_msg[] = {
	KTLS_HANDSHAKE_KEY_UPDATE, 0, 0, 1, 0,	/* update_not_requested */
};

static const struct {
	uint16_t version, cipher;
} variants[] = {
	{ TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128 },
	{ TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128 },
	{ TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_256 },
	{ TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_256 },
	{ TLS_1_2_VERSION, TLS_CIPHER_AES_CCM_128 },
	{ TLS_1_3_VERSION, TLS_CIPHER_AES_CCM_128 },
	{ TLS_1_2_VERSION, TLS_CIPHER_CHACHA20_POLY1305 },
	{ TLS_1_3_VERSION, TLS_CIPHER_CHACHA20_POLY1305 },
};
#define N_VARIANTS (sizeof(variants) / sizeof(variants[0]))

enum tx_state { TX_RUN, TX_FLUSH, TX_DONE };

struct conn;

/* One end of a connection; only its thread touches it while traffic runs. */
struct end {
	struct conn *conn;
	int side;			/* 0: connecting end, 1: accepted end */
	int fd;
	int thread;
	uint64_t rng;			/* sizes, flags, rekey times */
	/* sending */
	enum tx_state tx_state;
	uint64_t tx_bytes;
	uint32_t tx_gen;		/* TX key generation = rekeys sent */
	double next_rekey;
	bool more_open;			/* the last send had MSG_MORE */
	uint64_t sends;
	/* receiving */
	uint64_t rx_bytes;
	uint32_t rx_gen;		/* RX key generation = KeyUpdates read */
	unsigned char hs[sizeof(key_update_msg)];	/* KeyUpdate so far */
	size_t hs_len;			/* a short read may split it */
	bool rx_eof;
	uint64_t corrupt;		/* bytes that differed */
	int failed;			/* an error was reported for this end */
	bool finished;			/* out of its epoll set */
};

struct conn {
	unsigned int idx;
	uint16_t version, cipher;
	size_t info_len;
	struct end e[2];
};

struct worker {
	pthread_t tid;
	int ep;
	unsigned int ends;		/* ends not finished yet */
	unsigned char txbuf[MAX_IO], rxbuf[MAX_IO], expect[MAX_IO];
	struct rusage ru;
	atomic_uint_fast64_t moved;	/* bytes read, for the progress lines */
	atomic_bool returned;
};

/* Settings and the state all threads read. */
static const char *ulp = "ktls";
static uint64_t seed;
static bool rekeys = true;
static bool plain;			/* KTLS_ULP=none: plain TCP */
static const char *break_what = "";		/* KTLS_SOAK_BREAK */
static atomic_bool broke;
static double rekey_mean;
static unsigned int nthreads = 4;
static atomic_bool stop;
static double hard_deadline;
static atomic_uint reports;
static atomic_uint stalled_reported;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
						     noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("soak: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	printf("not ok 1 - soak could not run\n0 passed, 1 failed\n");
	exit(1);
}

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t next_rand(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ULL;
	return splitmix(*s);
}

/* Uniform in [lo, hi]. */
static uint64_t rand_range(uint64_t *s, uint64_t lo, uint64_t hi)
{
	return lo + next_rand(s) % (hi - lo + 1);
}

static double rand_unit(uint64_t *s)
{
	return (next_rand(s) >> 11) / 9007199254740992.0;
}

/* The seed of the stream that end @side of connection @idx sends. */
static uint64_t stream_seed(unsigned int idx, int side)
{
	return splitmix(seed ^ splitmix(((uint64_t)idx << 1 | side) + 1));
}

/* Bytes [off, off + len) of the stream @sseed: 8 bytes per splitmix call. */
static void stream_fill(uint64_t sseed, uint64_t off, unsigned char *p,
			size_t len)
{
	while (len) {
		uint64_t v = splitmix(sseed + (off >> 3));
		unsigned int b = off & 7;

		for (; b < 8 && len; b++, len--, off++)
			*p++ = v >> (8 * b);
	}
}

/* Key generation @gen of the direction end @side of @c sends. */
static size_t dir_key(const struct conn *c, int side, uint32_t gen,
		      union cc_crypto_info *ci)
{
	unsigned char material[64];
	uint64_t s = splitmix(stream_seed(c->idx, side) ^ 0x6b6579ULL) + gen;
	uint64_t rec_seq = 0;
	size_t i;

	for (i = 0; i < sizeof(material); i += 8) {
		uint64_t v = next_rand(&s);

		memcpy(material + i, &v, 8);
	}
	/* The first key starts somewhere; a KeyUpdate restarts at 0. */
	if (!gen)
		rec_seq = next_rand(&s) >> 24;
	return cc_crypto_info_fill(ci, c->version, c->cipher, material,
				   rec_seq);
}

static void report(struct end *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void report(struct end *e, const char *fmt, ...)
{
	va_list ap;
	char msg[256];

	e->failed = 1;
	if (atomic_fetch_add(&reports, 1) >= MAX_REPORTS)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "soak: connection %u (%s, %s) end %d: %s\n",
		e->conn->idx,
		e->conn->version == TLS_1_3_VERSION ? "TLS 1.3" : "TLS 1.2",
		cc_cipher_name(e->conn->cipher), e->side, msg);
}

static double rekey_delay(struct end *e)
{
	return rekey_mean * (0.5 + rand_unit(&e->rng));
}

/* A send or read size: a quarter each up to 256, 4096, 16384, 65536. */
static size_t pick_size(uint64_t *rng)
{
	static const size_t top[] = { 256, 4096, 16384, MAX_IO };
	unsigned int q = next_rand(rng) & 3;

	return rand_range(rng, q ? top[q - 1] + 1 : 1, top[q]);
}

static void ep_mod(struct worker *w, struct end *e, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = e };

	if (epoll_ctl(w->ep, EPOLL_CTL_MOD, e->fd, &ev))
		report(e, "epoll_ctl(MOD): %s", strerror(errno));
}

/* Out of the epoll set once both directions are done or it failed. */
static void maybe_finish(struct worker *w, struct end *e)
{
	if (e->finished)
		return;
	if (!e->failed && !(e->rx_eof && e->tx_state == TX_DONE))
		return;
	if (epoll_ctl(w->ep, EPOLL_CTL_DEL, e->fd, NULL))
		report(e, "epoll_ctl(DEL): %s", strerror(errno));
	e->finished = true;
	w->ends--;
}


/* Send a KeyUpdate and install the next TX key.  0, or -1 to retry later. */
static int tx_rekey(struct worker *w, struct end *e)
{
	char cbuf[CMSG_SPACE(sizeof(uint8_t))] = { 0 };
	struct iovec iov = {
		.iov_base = (void *)key_update_msg,
		.iov_len = sizeof(key_update_msg),
	};
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	union cc_crypto_info ci;
	ssize_t n;

	cm->cmsg_level = SOL_TLS;
	cm->cmsg_type = TLS_SET_RECORD_TYPE;
	cm->cmsg_len = CMSG_LEN(sizeof(uint8_t));
	*CMSG_DATA(cm) = CC_TYPE_HANDSHAKE;
	if (!strcmp(break_what, "rekey") && !atomic_load(&broke))
		n = sizeof(key_update_msg);	/* pretend it went */
	else
		n = sendmsg(e->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -1;
	if (n != (ssize_t)sizeof(key_update_msg)) {
		report(e, "sending the KeyUpdate returned %zd (%s)", n,
		       n < 0 ? strerror(errno) : "short");
		return -1;
	}
	e->more_open = false;	/* the open record went out first */
	if (dir_key(e->conn, e->side, e->tx_gen + 1, &ci) != e->conn->info_len ||
	    ku_set_crypto(e->fd, TLS_TX, &ci, e->conn->info_len)) {
		report(e, "TLS_TX rekey to generation %u: %s", e->tx_gen + 1,
		       strerror(errno));
		return -1;
	}
	e->tx_gen++;
	e->next_rekey = now_s() + rekey_delay(e);
	(void)w;
	return 0;
}

static void do_tx(struct worker *w, struct end *e, double now)
{
	struct iovec iov[3];
	struct msghdr msg = { .msg_iov = iov };
	uint64_t sseed = stream_seed(e->conn->idx, e->side);
	size_t len, cut1, cut2;
	int flags = MSG_DONTWAIT | MSG_NOSIGNAL;
	ssize_t n;

	if (e->tx_state == TX_DONE || e->failed)
		return;
	if (e->tx_state == TX_RUN && rekeys &&
	    e->conn->version == TLS_1_3_VERSION && now >= e->next_rekey) {
		if (tx_rekey(w, e))
			return;
	}
	if (e->tx_state == TX_FLUSH && !e->more_open)
		goto shut;

	len = pick_size(&e->rng);
	stream_fill(sseed, e->tx_bytes, w->txbuf, len);
	/* One to three iovecs. */
	cut1 = rand_range(&e->rng, 0, len);
	cut2 = rand_range(&e->rng, cut1, len);
	switch (next_rand(&e->rng) % 3) {
	case 0:
		iov[0] = (struct iovec){ w->txbuf, len };
		msg.msg_iovlen = 1;
		break;
	case 1:
		iov[0] = (struct iovec){ w->txbuf, cut1 };
		iov[1] = (struct iovec){ w->txbuf + cut1, len - cut1 };
		msg.msg_iovlen = 2;
		break;
	default:
		iov[0] = (struct iovec){ w->txbuf, cut1 };
		iov[1] = (struct iovec){ w->txbuf + cut1, cut2 - cut1 };
		iov[2] = (struct iovec){ w->txbuf + cut2, len - cut2 };
		msg.msg_iovlen = 3;
		break;
	}
	if (e->tx_state == TX_RUN && !(next_rand(&e->rng) & 7))
		flags |= MSG_MORE;
	n = sendmsg(e->fd, &msg, flags);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			report(e, "sendmsg of %zu bytes at offset %" PRIu64
			       ": %s", len, e->tx_bytes, strerror(errno));
		return;
	}
	if (n == 0 || (size_t)n > len) {
		report(e, "sendmsg of %zu bytes returned %zd", len, n);
		return;
	}
	e->tx_bytes += n;
	e->sends++;
	e->more_open = flags & MSG_MORE;
	if (e->tx_state != TX_FLUSH)
		return;
shut:
	if (shutdown(e->fd, SHUT_WR)) {
		report(e, "shutdown(SHUT_WR): %s", strerror(errno));
		return;
	}
	e->tx_state = TX_DONE;
	ep_mod(w, e, EPOLLIN);
}

/* Count the bytes of @got that differ from @want; report the first. */
static void check_bytes(struct end *e, const unsigned char *got,
			const unsigned char *want, size_t len)
{
	uint64_t bad = 0;
	size_t i, first = 0;

	if (!memcmp(got, want, len))
		return;
	for (i = 0; i < len; i++) {
		if (got[i] != want[i]) {
			if (!bad)
				first = i;
			bad++;
		}
	}
	e->corrupt += bad;
	report(e, "%" PRIu64 " corrupted bytes in a read of %zu at stream "
	       "offset %" PRIu64 " (first at +%zu: got 0x%02x, want 0x%02x)",
	       bad, len, e->rx_bytes, first, got[first], want[first]);
}

static void rx_key_update(struct end *e)
{
	union cc_crypto_info ci;
	char c;

	/* Until the next key is in, reads fail with EKEYEXPIRED. */
	if (recv(e->fd, &c, 1, MSG_DONTWAIT | MSG_PEEK) != -1 ||
	    errno != EKEYEXPIRED) {
		report(e, "after KeyUpdate %u, a read did not fail with "
		       "EKEYEXPIRED (%s)", e->rx_gen + 1, strerror(errno));
		return;
	}
	if (dir_key(e->conn, !e->side, e->rx_gen + 1, &ci) != e->conn->info_len ||
	    ku_set_crypto(e->fd, TLS_RX, &ci, e->conn->info_len)) {
		report(e, "TLS_RX rekey to generation %u: %s", e->rx_gen + 1,
		       strerror(errno));
		return;
	}
	e->rx_gen++;
}

static void do_rx(struct worker *w, struct end *e)
{
	uint64_t sseed = stream_seed(e->conn->idx, !e->side);
	int i;

	for (i = 0; i < 4 && !e->rx_eof && !e->failed; i++) {
		char cbuf[CMSG_SPACE(sizeof(uint8_t))];
		struct iovec iov = { w->rxbuf, pick_size(&e->rng) };
		struct msghdr msg = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
		};
		struct cmsghdr *cm;
		int type = -1;
		ssize_t n;

		n = recvmsg(e->fd, &msg, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			report(e, "recvmsg at stream offset %" PRIu64 ": %s",
			       e->rx_bytes, strerror(errno));
			return;
		}
		if (n == 0) {
			e->rx_eof = true;
			return;
		}
		if (plain)
			type = CC_TYPE_DATA;
		for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
			if (cm->cmsg_level == SOL_TLS &&
			    cm->cmsg_type == TLS_GET_RECORD_TYPE)
				type = *CMSG_DATA(cm);
		if (type == CC_TYPE_DATA && !e->hs_len) {
			if (!strcmp(break_what, "corrupt") &&
			    !atomic_exchange(&broke, true))
				w->rxbuf[n / 2] ^= 0x20;
			stream_fill(sseed, e->rx_bytes, w->expect, n);
			check_bytes(e, w->rxbuf, w->expect, n);
			e->rx_bytes += n;
			atomic_fetch_add_explicit(&w->moved, n,
						  memory_order_relaxed);
		} else if (type == CC_TYPE_HANDSHAKE && rekeys &&
			   e->conn->version == TLS_1_3_VERSION &&
			   e->hs_len + n <= sizeof(key_update_msg)) {
			/* A read shorter than the record returns part of it. */
			memcpy(e->hs + e->hs_len, w->rxbuf, n);
			e->hs_len += n;
			if (e->hs_len < sizeof(key_update_msg))
				continue;
			e->hs_len = 0;
			if (memcmp(e->hs, key_update_msg, sizeof(e->hs)))
				report(e, "a handshake record that is not our "
				       "KeyUpdate at stream offset %" PRIu64,
				       e->rx_bytes);
			else
				rx_key_update(e);
		} else {
			report(e, "unexpected record: type %d, %zd bytes, at "
			       "stream offset %" PRIu64 " (%zu bytes of a "
			       "KeyUpdate before)", type, n, e->rx_bytes,
			       e->hs_len);
		}
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event ev[64];
	bool flushing = false;

	while (w->ends) {
		double now = now_s();
		int n, i;

		if (now >= hard_deadline)
			break;
		if (!flushing && atomic_load(&stop))
			flushing = true;	/* ends switch as they run */
		n = epoll_wait(w->ep, ev, 64, 100);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "soak: epoll_wait: %s\n",
				strerror(errno));
			break;
		}
		for (i = 0; i < n; i++) {
			struct end *e = ev[i].data.ptr;

			if (e->finished)
				continue;
			if (flushing && e->tx_state == TX_RUN)
				e->tx_state = TX_FLUSH;
			if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				do_rx(w, e);
			if (ev[i].events & EPOLLOUT)
				do_tx(w, e, now);
			maybe_finish(w, e);
		}
	}
	getrusage(RUSAGE_THREAD, &w->ru);
	atomic_store(&w->returned, true);
	return NULL;
}

/* ---- setting up ---- */

static int listener(struct sockaddr_in *a)
{
	socklen_t alen = sizeof(*a);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a->sin_port = 0;
	if (l < 0 || bind(l, (struct sockaddr *)a, sizeof(*a)) ||
	    listen(l, 64) || getsockname(l, (struct sockaddr *)a, &alen))
		die("listener: %s", strerror(errno));
	return l;
}

static void conn_open(struct conn *c, unsigned int idx, int l,
		      const struct sockaddr_in *a, struct worker *w,
		      double now)
{
	union cc_crypto_info ci;
	int s;

	memset(c, 0, sizeof(*c));
	c->idx = idx;
	c->version = variants[idx % N_VARIANTS].version;
	c->cipher = variants[idx % N_VARIANTS].cipher;
	c->e[0].fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->e[0].fd < 0 ||
	    connect(c->e[0].fd, (const struct sockaddr *)a, sizeof(*a)))
		die("connection %u: connect: %s", idx, strerror(errno));
	c->e[1].fd = accept(l, NULL, NULL);
	if (c->e[1].fd < 0)
		die("connection %u: accept: %s", idx, strerror(errno));
	for (s = 0; s < 2; s++) {
		struct end *e = &c->e[s];
		struct epoll_event ev = { EPOLLIN | EPOLLOUT, { .ptr = e } };
		int buf = 128 * 1024;

		e->conn = c;
		e->side = s;
		e->rng = splitmix(stream_seed(idx, s) ^ 0x726e67ULL);
		e->thread = (idx + s) % nthreads;
		/* Half the connections with fixed buffers, half autotuned. */
		if (idx & 2 &&
		    (setsockopt(e->fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf)) ||
		     setsockopt(e->fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf))))
			die("connection %u: SO_SNDBUF/SO_RCVBUF: %s", idx,
			    strerror(errno));
		c->info_len = dir_key(c, s, 0, &ci);
		if (plain)
			goto keyed;
		if (ku_attach_ulp(e->fd, ulp))
			die("connection %u: TCP_ULP %s: %s", idx, ulp,
			    strerror(errno));
		if (!c->info_len || ku_set_crypto(e->fd, TLS_TX, &ci, c->info_len))
			die("connection %u (%s): TLS_TX: %s", idx,
			    cc_cipher_name(c->cipher), strerror(errno));
		if (dir_key(c, !s, 0, &ci) != c->info_len ||
		    ku_set_crypto(e->fd, TLS_RX, &ci, c->info_len))
			die("connection %u (%s): TLS_RX: %s", idx,
			    cc_cipher_name(c->cipher), strerror(errno));
keyed:
		if (fcntl(e->fd, F_SETFL, O_NONBLOCK))
			die("O_NONBLOCK: %s", strerror(errno));
		e->next_rekey = now + rekey_mean * rand_unit(&e->rng);
		if (epoll_ctl(w[e->thread].ep, EPOLL_CTL_ADD, e->fd, &ev))
			die("epoll_ctl(ADD): %s", strerror(errno));
		w[e->thread].ends++;
	}
}

/* ---- measuring ---- */

struct cache {
	char name[64];
	long active, objsize;
};

struct slab {
	struct cache c[MAX_CACHES];
	int n;
	long slab_kb, sunreclaim_kb;
	long tcp_alloc, tcp_tw;		/* /proc/net/sockstat */
};

static void sockstat_read(long *alloc, long *tw)
{
	FILE *f = fopen("/proc/net/sockstat", "r");
	char line[256];

	*alloc = *tw = -1;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *p;

		if (strncmp(line, "TCP:", 4))
			continue;
		p = strstr(line, " tw ");
		if (p)
			*tw = strtol(p + 4, NULL, 10);
		p = strstr(line, " alloc ");
		if (p)
			*alloc = strtol(p + 7, NULL, 10);
	}
	fclose(f);
}

static long meminfo_kb(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	size_t klen = strlen(key);
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':')
			v = strtol(line + klen + 1, NULL, 10);
	fclose(f);
	return v;
}

/*
 * Drop reclaimable dentries and inodes, and ask SLUB to give back per-CPU
 * and empty slabs; best-effort (the tolerances cover what stays).
 */
static void slab_shrink(void)
{
	DIR *d;
	struct dirent *de;
	/* Only inside the test VM (scripts/vm sets KTLS_VM_KERNEL there),
	 * never on a shared host. */
	int dc = getenv("KTLS_VM_KERNEL") ?
		 open("/proc/sys/vm/drop_caches", O_WRONLY) : -1;

	if (dc >= 0) {
		if (write(dc, "2", 1) < 0) {
			/* best-effort */
		}
		close(dc);
	}
	d = opendir("/sys/kernel/slab");
	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[512];
		int fd;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink",
			 de->d_name);
		fd = open(path, O_WRONLY);
		if (fd < 0)
			continue;
		if (write(fd, "1", 1) < 0) {
			/* not fatal: the tolerance covers what stays */
		}
		close(fd);
	}
	closedir(d);
}

static void slab_read(struct slab *s)
{
	FILE *f = fopen("/proc/slabinfo", "r");
	char line[512];

	s->n = 0;
	s->slab_kb = meminfo_kb("Slab");
	s->sunreclaim_kb = meminfo_kb("SUnreclaim");
	sockstat_read(&s->tcp_alloc, &s->tcp_tw);
	if (!f)
		die("/proc/slabinfo: %s (run as root)", strerror(errno));
	while (fgets(line, sizeof(line), f) && s->n < MAX_CACHES) {
		struct cache *c = &s->c[s->n];
		long num;

		if (line[0] == '#' || !strncmp(line, "slabinfo", 8))
			continue;
		if (sscanf(line, "%63s %ld %ld %ld", c->name, &c->active, &num,
			   &c->objsize) == 4)
			s->n++;
	}
	fclose(f);
}

static long cache_active(const struct slab *s, const char *name)
{
	int i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->c[i].name, name))
			return s->c[i].active;
	return 0;
}

/*
 * Whether a cache's growth is not ours to judge: reclaimable caches
 * (dentries, inodes: /proc and /sys reads make them, memory pressure takes
 * them back), and the VFS's file and inode blobs: the first run after the
 * VM boots leaves 150-200 of them behind, with plain TCP as with ktls
 * (measured), while a second run in the same boot leaves none.  A socket
 * file leaked by the kernel would keep its socket, which the TCP cache and
 * sockstat's TCP alloc count.
 */
static bool cache_exempt(const char *name)
{
	static const char *const vfs[] = {
		"filp", "lsm_file_cache", "lsm_inode_cache",
	};
	char path[256], v = '0';
	unsigned int i;
	int fd;

	for (i = 0; i < sizeof(vfs) / sizeof(vfs[0]); i++)
		if (!strcmp(name, vfs[i]))
			return true;
	snprintf(path, sizeof(path), "/sys/kernel/slab/%s/reclaim_account",
		 name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	if (read(fd, &v, 1) != 1)
		v = '0';
	close(fd);
	return v == '1';
}

/*
 * Caches (not exempt) holding more than @tol objects more than in @base;
 * with @print, name them.  Returns how many.
 */
static int slab_grown(const struct slab *base, const struct slab *now,
		      long tol, bool print)
{
	int i, bad = 0;

	for (i = 0; i < now->n; i++) {
		long d = now->c[i].active - cache_active(base, now->c[i].name);

		if (d <= tol || cache_exempt(now->c[i].name))
			continue;
		bad++;
		if (print)
			printf("# slab: %s holds %ld objects of %ld bytes more "
			       "than before (tolerance %ld)\n",
			       now->c[i].name, d, now->c[i].objsize, tol);
	}
	return bad;
}

/* The @k caches that grew most in bytes, for the log. */
static void slab_top(const struct slab *base, const struct slab *now, int k)
{
	bool *used = calloc(now->n, sizeof(*used));
	int i, j;

	if (!used)
		return;
	for (j = 0; j < k; j++) {
		long best = 0;
		int bi = -1;

		for (i = 0; i < now->n; i++) {
			long d = (now->c[i].active -
				  cache_active(base, now->c[i].name)) *
				 now->c[i].objsize;

			if (!used[i] && d > best) {
				best = d;
				bi = i;
			}
		}
		if (bi < 0)
			break;
		used[bi] = true;
		printf("# slab after close: %s %+ld objects (%+ld bytes)\n",
		       now->c[bi].name,
		       now->c[bi].active - cache_active(base, now->c[bi].name),
		       best);
	}
	free(used);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		die("/proc/self/fd: %s", strerror(errno));
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory's own fd */
}

enum { ST_TX_SW, ST_RX_SW, ST_CURR_TX, ST_CURR_RX, ST_DECRYPT_ERR,
       ST_RX_REKEY_OK, ST_RX_REKEY_ERR, ST_TX_REKEY_OK, ST_TX_REKEY_ERR,
       ST_RX_REKEY_RECV, ST_N };

static const char *const stat_names[ST_N] = {
	"TlsTxSw", "TlsRxSw", "TlsCurrTxSw", "TlsCurrRxSw", "TlsDecryptError",
	"TlsRxRekeyOk", "TlsRxRekeyError", "TlsTxRekeyOk", "TlsTxRekeyError",
	"TlsRxRekeyReceived",
};

/* false when there is no /proc/net/ktls_stat (another ULP). */
static bool stat_read(long *v)
{
	FILE *f = fopen("/proc/net/ktls_stat", "r");
	char name[64];
	long val;
	int i;

	for (i = 0; i < ST_N; i++)
		v[i] = -1;
	if (!f)
		return false;
	while (fscanf(f, "%63s %ld", name, &val) == 2)
		for (i = 0; i < ST_N; i++)
			if (!strcmp(name, stat_names[i]))
				v[i] = val;
	fclose(f);
	return true;
}

struct cpu {
	struct rusage ru;
	unsigned long long busy, total;
};

static void cpu_read(struct cpu *c)
{
	FILE *f = fopen("/proc/stat", "r");
	unsigned long long v[8] = { 0 };

	getrusage(RUSAGE_SELF, &c->ru);
	c->busy = c->total = 0;
	if (!f)
		return;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
		   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
		c->busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
		c->total = c->busy + v[3] + v[4];
	}
	fclose(f);
}

static double tv_s(const struct timeval *tv)
{
	return tv->tv_sec + tv->tv_usec / 1e6;
}

static void sleep_until(double t)
{
	for (;;) {
		double d = t - now_s();
		struct timespec ts;

		if (d <= 0)
			return;
		ts.tv_sec = (time_t)d;
		ts.tv_nsec = (long)((d - ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
	}
}

/* Print what every thread of this process is doing in the kernel. */
static void dump_tasks(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		static const char *const files[] = { "stat", "wchan", "stack" };
		unsigned int i;

		if (de->d_name[0] == '.')
			continue;
		for (i = 0; i < 3; i++) {
			char path[300], buf[4096];
			ssize_t n;
			int fd;

			snprintf(path, sizeof(path), "/proc/self/task/%s/%s",
				 de->d_name, files[i]);
			fd = open(path, O_RDONLY);
			if (fd < 0)
				continue;
			n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (n <= 0)
				continue;
			buf[n] = 0;
			printf("# task %s %s: %s%s", de->d_name, files[i], buf,
			       buf[n - 1] == '\n' ? "" : "\n");
		}
	}
	closedir(d);
}

static uint64_t moved_so_far(struct worker *w)
{
	uint64_t sum = 0;
	unsigned int t;

	for (t = 0; t < nthreads; t++)
		sum += atomic_load_explicit(&w[t].moved, memory_order_relaxed);
	return sum;
}

/*
 * Sleep until @t, printing progress at every multiple of @every seconds
 * since @start that is still ahead (a second call goes on from where the
 * first stopped, rather than printing the past lines again at once).
 */
static void wait_progress(struct worker *w, double start, double t,
			  double every)
{
	double next = start + every;

	while (next <= now_s())
		next += every;
	while (next <= t) {
		sleep_until(next);
		printf("# %.0f s: %.1f MiB moved\n", next - start,
		       moved_so_far(w) / 1048576.0);
		next += every;
	}
	sleep_until(t);
}

/*
 * Join the workers; one still in the kernel 30 s after the hard deadline
 * means a socket call never returned: show the threads' kernel stacks and
 * stop here (closing the sockets could block the same way).
 */
static void join_workers(struct worker *w)
{
	unsigned int t;

	for (t = 0; t < nthreads; t++) {
		struct timespec ts;
		double left = hard_deadline + 30 - now_s();

		clock_gettime(CLOCK_REALTIME, &ts);
		if (left > 0) {
			ts.tv_sec += (time_t)left;
			ts.tv_nsec += (long)((left - (time_t)left) * 1e9);
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
		}
		if (!pthread_timedjoin_np(w[t].tid, NULL, &ts))
			continue;
		printf("# worker %u did not return 30 s after the drain "
		       "deadline: a socket call is stuck in the kernel\n", t);
		dump_tasks();
		printf("not ok 1 - every worker thread returned (worker %u is "
		       "stuck in the kernel; %.1f MiB had moved)\n"
		       "0 passed, 1 failed\n", t, moved_so_far(w) / 1048576.0);
		fflush(stdout);
		_exit(1);
	}
}

/* ---- one run ---- */

struct result {
	double seconds, setup_s, drain_s;
	uint64_t bytes, sends, tx_rekeys, rx_rekeys, corrupt;
	unsigned int incomplete, failed_ends, unrekeyed, rekey_mismatch;
	unsigned int tls13;
	struct cpu cpu0, cpu1;
	long slab_during_kb, tcp_during;
};

/*
 * Where an incomplete end's bytes are: TCP's own view of the socket (its
 * state, retransmission backoff, bytes it holds unsent or unacknowledged)
 * tells a stall in TCP (memory pressure, RTO backoff) from data that never
 * left ktls (TCP empty while the peer is short).
 */
static void report_tcp_end(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int outq = -1, nsd = -1, inq = -1;

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		return;
	ioctl(fd, SIOCOUTQ, &outq);
	ioctl(fd, SIOCOUTQNSD, &nsd);
	ioctl(fd, SIOCINQ, &inq);
	printf("#   tcp: state %u ca_state %u retransmits %u backoff %u "
	       "rto %u ms unacked %u lost %u cwnd %u; "
	       "queued %d (unsent %d), readable %d\n", ti.tcpi_state,
	       ti.tcpi_ca_state, ti.tcpi_retransmits, ti.tcpi_backoff,
	       ti.tcpi_rto / 1000, ti.tcpi_unacked, ti.tcpi_lost,
	       ti.tcpi_snd_cwnd, outq, nsd, inq);
}

/* TCP's memory-pressure counters (TcpExt in /proc/net/netstat), the
 * global memory in use and its limits, for the summary. */
static void report_tcp_pressure(void)
{
	static const char *const keys[] = {
		"TCPMemoryPressures", "PruneCalled", "RcvPruned",
		"TCPRcvQDrop", "TCPBacklogDrop", "TCPOFODrop", "TCPTimeouts",
		"TCPAbortOnMemory",
	};
	char names[4096], vals[4096], mem[128] = "", line[256];
	FILE *f = fopen("/proc/net/netstat", "r");
	unsigned int k;

	if (!f)
		return;
	while (fgets(names, sizeof(names), f) &&
	       fgets(vals, sizeof(vals), f)) {
		char *sn, *sv, *n, *v;

		if (strncmp(names, "TcpExt:", 7))
			continue;
		printf("# tcp pressure:");
		n = strtok_r(names, " \n", &sn);
		v = strtok_r(vals, " \n", &sv);
		while ((n = strtok_r(NULL, " \n", &sn)) &&
		       (v = strtok_r(NULL, " \n", &sv)))
			for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
				if (!strcmp(n, keys[k]))
					printf(" %s %s", n, v);
		printf("\n");
		break;
	}
	fclose(f);
	f = fopen("/proc/net/sockstat", "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "TCP:", 4))
			snprintf(mem, sizeof(mem), "%s", strstr(line, "mem") ?
				 strstr(line, "mem") : "");
	if (f)
		fclose(f);
	mem[strcspn(mem, "\n")] = 0;
	if (!ku_read_text("/proc/sys/net/ipv4/tcp_mem", line, sizeof(line)))
		printf("# tcp memory: %s pages in use, tcp_mem %s\n", mem + 4,
		       line);
}

static void run(unsigned int nconns, double duration, struct result *r,
		bool sample)
{
	struct worker *w = calloc(nthreads, sizeof(*w));
	struct conn *c = calloc(nconns, sizeof(*c));
	struct sockaddr_in a;
	double t0, start, deadline;
	unsigned int i, t;
	int l, s;

	if (!w || !c)
		die("out of memory");
	memset(r, 0, sizeof(*r));
	for (t = 0; t < nthreads; t++) {
		w[t].ep = epoll_create1(0);
		if (w[t].ep < 0)
			die("epoll_create1: %s", strerror(errno));
	}
	atomic_store(&stop, false);
	t0 = now_s();
	l = listener(&a);
	for (i = 0; i < nconns; i++)
		conn_open(&c[i], i, l, &a, w, t0);
	close(l);
	start = now_s();
	r->setup_s = start - t0;
	/* Rekey times were drawn from the setup's start. */
	for (i = 0; i < nconns; i++)
		for (s = 0; s < 2; s++)
			c[i].e[s].next_rekey += start - t0;
	deadline = start + duration;
	hard_deadline = deadline + (duration / 5 > 60 ? duration / 5 : 60);
	cpu_read(&r->cpu0);
	for (t = 0; t < nthreads; t++)
		if (pthread_create(&w[t].tid, NULL, worker_main, &w[t]))
			die("pthread_create failed");
	if (sample) {
		struct slab *sl = malloc(sizeof(*sl));

		if (!sl)
			die("out of memory");
		wait_progress(w, start, start + duration / 2, 60);
		slab_read(sl);
		r->slab_during_kb = sl->slab_kb;
		r->tcp_during = cache_active(sl, "TCP");
		free(sl);
	}
	wait_progress(w, start, deadline, 60);
	atomic_store(&stop, true);
	join_workers(w);
	cpu_read(&r->cpu1);
	r->drain_s = now_s() - deadline;
	r->seconds = now_s() - start;

	for (i = 0; i < nconns; i++) {
		for (s = 0; s < 2; s++) {
			struct end *e = &c[i].e[s], *p = &c[i].e[!s];

			r->bytes += e->rx_bytes;
			r->sends += e->sends;
			r->tx_rekeys += e->tx_gen;
			r->rx_rekeys += e->rx_gen;
			r->corrupt += e->corrupt;
			if (e->failed)
				r->failed_ends++;
			if (!e->rx_eof || e->rx_bytes != p->tx_bytes ||
			    e->tx_state != TX_DONE || e->hs_len) {
				r->incomplete++;
				if (atomic_fetch_add(&stalled_reported, 1) <
				    MAX_REPORTS)
					printf("# connection %u end %d: read "
					       "%" PRIu64 " of %" PRIu64 " bytes,"
					       " EOF %s, write side %s\n", i, s,
					       e->rx_bytes, p->tx_bytes,
					       e->rx_eof ? "seen" : "not seen",
					       e->tx_state == TX_DONE ?
					       "shut" : "not shut");
				report_tcp_end(e->fd);
			}
			if (e->rx_gen != p->tx_gen)
				r->rekey_mismatch++;
			if (c[i].version == TLS_1_3_VERSION) {
				r->tls13++;
				if (rekeys && !e->tx_gen)
					r->unrekeyed++;
			}
		}
		close(c[i].e[0].fd);
		close(c[i].e[1].fd);
	}
	for (t = 0; t < nthreads; t++)
		close(w[t].ep);
	r->tls13 /= 2;
	free(c);
	free(w);
}

/* ---- main ---- */

static unsigned int passed, failed;

static void check(bool ok, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void check(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %u - ", ok ? "" : "not ", passed + failed + 1);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (ok)
		passed++;
	else
		failed++;
}

static unsigned long parse_ul(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || end == s || *end)
		die("bad %s '%s'", what, s);
	return v;
}

static void raise_nofile(unsigned int nconns)
{
	rlim_t need = 2 * (rlim_t)nconns + 64;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		die("getrlimit: %s", strerror(errno));
	if (rl.rlim_cur >= need)
		return;
	rl.rlim_cur = need;
	if (rl.rlim_max < need)
		rl.rlim_max = need;	/* root may raise the hard limit */
	if (setrlimit(RLIMIT_NOFILE, &rl))
		die("RLIMIT_NOFILE to %llu: %s", (unsigned long long)need,
		    strerror(errno));
}

int main(int argc, char **argv)
{
	unsigned int nconns = 1000, settle = 90;
	double duration = 600, settled_after = 0;
	long st0[ST_N], st1[ST_N], st2[ST_N], tol;
	struct slab *base, *after;
	struct result r, warm;
	bool have_stat, slab_ok = false;
	int fds0, fds1, opt, i;
	double cpu_user, cpu_sys, busy;
	const char *env = getenv("KTLS_ULP");

	seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	rekey_mean = 0;
	while ((opt = getopt(argc, argv, "n:d:t:s:k:Rw:")) != -1) {
		switch (opt) {
		case 'n': nconns = parse_ul(optarg, "connection count"); break;
		case 'd': duration = parse_ul(optarg, "duration"); break;
		case 't': nthreads = parse_ul(optarg, "thread count"); break;
		case 's': seed = parse_ul(optarg, "seed"); break;
		case 'k': rekey_mean = parse_ul(optarg, "rekey interval"); break;
		case 'R': rekeys = false; break;
		case 'w': settle = parse_ul(optarg, "settle time"); break;
		default:
			fprintf(stderr, "usage: soak [-n CONNS] [-d SECONDS] "
				"[-t THREADS] [-s SEED] [-k REKEY_SECONDS] "
				"[-R] [-w SETTLE_SECONDS]\n");
			return 2;
		}
	}
	if (!nconns || !duration || !nthreads || nthreads > MAX_THREADS)
		die("need at least one connection, second and thread "
		    "(at most %d threads)", MAX_THREADS);
	if (env && *env)
		ulp = env;
	if (strcmp(ulp, "ktls"))
		rekeys = false;
	plain = !strcmp(ulp, "none");
	env = getenv("KTLS_SOAK_BREAK");
	if (env)
		break_what = env;
	if (!rekey_mean)
		rekey_mean = duration / 5 >= 1 ? duration / 5 : 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	raise_nofile(nconns > WARMUP_CONNS ? nconns : WARMUP_CONNS);
	printf("# soak: ULP %s, %u connections, %u threads, %.0f s, seed "
	       "%" PRIu64 ", rekeys %s (mean %.0f s)\n", ulp, nconns, nthreads,
	       duration, seed, rekeys ? "on" : "off", rekey_mean);

	base = malloc(sizeof(*base));
	after = malloc(sizeof(*after));
	if (!base || !after)
		die("out of memory");

	/* Warm-up: one-time allocations go into the baseline. */
	{
		double keep = rekey_mean;

		rekey_mean = 0.5;
		atomic_store(&broke, true);	/* breaks wait for the run */
		run(WARMUP_CONNS, WARMUP_SECONDS, &warm, false);
		rekey_mean = keep;
		atomic_store(&broke, false);
		if (warm.corrupt || warm.failed_ends || warm.incomplete)
			die("the warm-up failed: %" PRIu64 " corrupted bytes, "
			    "%u ends failed, %u incomplete", warm.corrupt,
			    warm.failed_ends, warm.incomplete);
	}
	sleep(2);

	fds0 = count_fds();
	have_stat = !plain && stat_read(st0);
	slab_shrink();
	slab_read(base);

	run(nconns, duration, &r, true);
	if (!strcmp(break_what, "fd") && dup(0) < 0)
		die("dup: %s", strerror(errno));
	if (!strcmp(break_what, "slab"))
		for (i = 0; i < (int)nconns; i++)
			if (socket(AF_INET, SOCK_STREAM, 0) < 0)
				die("socket: %s", strerror(errno));

	have_stat = stat_read(st1) && have_stat;
	/* Wait for the sockets, RCU frees and deferred fputs. */
	tol = nconns / 4 > 64 ? nconns / 4 : 64;
	for (i = 0; i <= (int)settle; i++) {
		sleep(1);
		slab_shrink();
		slab_read(after);
		if (after->tcp_tw <= base->tcp_tw &&
		    after->tcp_alloc <= base->tcp_alloc &&
		    !slab_grown(base, after, tol, false) &&
		    after->slab_kb - base->slab_kb <= SLAB_TOTAL_TOL_KB) {
			slab_ok = true;
			settled_after = i + 1;
			break;
		}
	}
	fds1 = count_fds();
	if (have_stat)
		stat_read(st2);

	cpu_user = tv_s(&r.cpu1.ru.ru_utime) - tv_s(&r.cpu0.ru.ru_utime);
	cpu_sys = tv_s(&r.cpu1.ru.ru_stime) - tv_s(&r.cpu0.ru.ru_stime);
	busy = r.cpu1.total > r.cpu0.total ?
	       100.0 * (r.cpu1.busy - r.cpu0.busy) /
	       (r.cpu1.total - r.cpu0.total) : 0;
	printf("soak: %u connections (%u TLS 1.3, %u TLS 1.2; AES-GCM-128/256,"
	       " AES-CCM-128, ChaCha20-Poly1305), %u threads, %.1f s "
	       "(setup %.1f s, drain %.1f s): %.1f MiB moved, %.2f MiB/s, "
	       "%" PRIu64 " sends, rekeys %" PRIu64 " sent / %" PRIu64
	       " received, %" PRIu64 " corrupted bytes; CPU user %.1f s sys "
	       "%.1f s, guest busy %.0f%%; slab %ld kB before, %ld kB during, "
	       "%ld kB after; fds %d before, %d after; seed %" PRIu64 "\n",
	       nconns, r.tls13, nconns - r.tls13, nthreads, r.seconds,
	       r.setup_s, r.drain_s, r.bytes / 1048576.0,
	       r.bytes / 1048576.0 / r.seconds, r.sends, r.tx_rekeys,
	       r.rx_rekeys, r.corrupt, cpu_user, cpu_sys, busy, base->slab_kb,
	       r.slab_during_kb, after->slab_kb, fds0, fds1, seed);
	report_tcp_pressure();

	check(r.corrupt == 0, "no corrupted byte (%" PRIu64 " of %" PRIu64
	      " differ)", r.corrupt, r.bytes);
	check(r.failed_ends == 0, "no socket call failed (%u of %u ends "
	      "reported an error)", r.failed_ends, 2 * nconns);
	check(r.incomplete == 0 && r.bytes > 0, "every stream complete: "
	      "all bytes sent were read, then EOF (%u of %u incomplete)",
	      r.incomplete, 2 * nconns);
	if (rekeys) {
		check(r.rekey_mismatch == 0 && r.tx_rekeys == r.rx_rekeys &&
		      r.unrekeyed == 0 && r.tx_rekeys > 0,
		      "TLS 1.3 rekeys: %" PRIu64 " KeyUpdates sent, %" PRIu64
		      " read and installed; %u directions disagree, %u never "
		      "rekeyed", r.tx_rekeys, r.rx_rekeys, r.rekey_mismatch,
		      r.unrekeyed);
	}
	if (have_stat) {
		long d[ST_N];

		for (i = 0; i < ST_N; i++)
			d[i] = st1[i] - st0[i];
		check(d[ST_TX_SW] == 2 * nconns && d[ST_RX_SW] == 2 * nconns,
		      "ktls_stat: TlsTxSw +%ld, TlsRxSw +%ld (want +%u each)",
		      d[ST_TX_SW], d[ST_RX_SW], 2 * nconns);
		check(d[ST_TX_REKEY_OK] == (long)r.tx_rekeys &&
		      d[ST_RX_REKEY_OK] == (long)r.rx_rekeys &&
		      d[ST_RX_REKEY_RECV] == (long)r.rx_rekeys &&
		      !d[ST_TX_REKEY_ERR] && !d[ST_RX_REKEY_ERR] &&
		      !d[ST_DECRYPT_ERR],
		      "ktls_stat: TlsTxRekeyOk +%ld, TlsRxRekeyOk +%ld, "
		      "TlsRxRekeyReceived +%ld, rekey errors +%ld/+%ld, "
		      "TlsDecryptError +%ld", d[ST_TX_REKEY_OK],
		      d[ST_RX_REKEY_OK], d[ST_RX_REKEY_RECV],
		      d[ST_TX_REKEY_ERR], d[ST_RX_REKEY_ERR],
		      d[ST_DECRYPT_ERR]);
		check(st2[ST_CURR_TX] == st0[ST_CURR_TX] &&
		      st2[ST_CURR_RX] == st0[ST_CURR_RX],
		      "ktls_stat after close: TlsCurrTxSw %ld, TlsCurrRxSw %ld "
		      "(before: %ld, %ld)", st2[ST_CURR_TX], st2[ST_CURR_RX],
		      st0[ST_CURR_TX], st0[ST_CURR_RX]);
	}
	check(fds1 == fds0, "no file descriptor leaked (%d open before, %d "
	      "after)", fds0, fds1);
	check(r.tcp_during - cache_active(base, "TCP") >= 2L * nconns,
	      "slab measurement sees the sockets: TCP cache +%ld objects "
	      "while open (want >= %u)",
	      r.tcp_during - cache_active(base, "TCP"), 2 * nconns);
	slab_top(base, after, 6);
	if (!slab_ok)
		slab_grown(base, after, tol, true);
	check(slab_ok, "slab back after close%s%.0f s: Slab %+ld kB "
	      "(tolerance %d kB), SUnreclaim %+ld kB, TCP %+ld objects, "
	      "sockstat TCP alloc %+ld tw %+ld, no cache more than %ld "
	      "objects up", slab_ok ? " within " : ", not within ",
	      slab_ok ? settled_after : (double)settle,
	      after->slab_kb - base->slab_kb, SLAB_TOTAL_TOL_KB,
	      after->sunreclaim_kb - base->sunreclaim_kb,
	      cache_active(after, "TCP") - cache_active(base, "TCP"),
	      after->tcp_alloc - base->tcp_alloc,
	      after->tcp_tw - base->tcp_tw, tol);
	printf("%u passed, %u failed\n", passed, failed);
	free(base);
	free(after);
	return failed ? 1 : 0;
}
