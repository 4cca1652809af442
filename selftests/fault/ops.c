// SPDX-License-Identifier: GPL-2.0
/*
 * fault_test - the operations walked under fault injection.
 *
 * Each operation has a prepare step (no injection), the call made with a
 * fault point armed, and a check of the aftermath (no injection):
 *   - the caller saw success, a short count, or ENOMEM (or an errno the
 *     operation documents; main.c enforces the list);
 *   - then either the socket still works (the rest of the data goes
 *     through, a retried setsockopt succeeds) and the peer receives
 *     exactly what was sent, or the socket reports an error from then on
 *     and closes cleanly, its peer having received an intact prefix;
 *   - never a corrupted record (EBADMSG at the peer) nor a hang.
 * Leaks are judged by kmemleak at the end of the VM run and by the ULP's
 * open-context counters after each iteration (main.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <linux/tls.h>

#include "fault.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

struct walk_notes notes;

/* Sizes: one byte, one page, just over one record, four records. */
static const size_t stream_sizes[] = { 1, 4096, 16385, 65536, 0 };
static const size_t short_sizes[] = { 4096, 65536, 0 };
static const int no_errnos[] = { 0 };

/* ---- shared checks ------------------------------------------------------ */

/* The peer reads until end of stream or error: what it got must be a
 * prefix of c->tx, and the stream must not end in a record error.  With
 * @may_be_silent, neither FIN nor RST may come (TCP could not allocate
 * them under injection); otherwise that is a hang. */
static int peer_gets_prefix(struct conn *c, size_t *got_out, bool may_be_silent)
{
	ssize_t got = recv_exact(c->srv, c->rx, c->size);

	if (got == -EAGAIN && !may_be_silent) {
		diag("peer: neither data nor end of stream within %u s", scaled(3));
		return -1;
	}
	if (got < 0) {
		if (got == -EBADMSG || got == -EINVAL || got == -EMSGSIZE) {
			diag("peer: %s: the stream carried a broken record",
			     strerror(-got));
			return -1;
		}
		got = 0;
	}
	if (memcmp(c->rx, c->tx, got)) {
		diag("peer: the %zd bytes received are not what was sent", got);
		return -1;
	}
	*got_out = got;
	return 0;
}

/* After a failed TX operation the socket refused the retry with @err: it
 * must keep refusing, close cleanly, and the peer must see an intact
 * prefix. */
static int tx_in_error(struct conn *c, size_t sent, int err)
{
	size_t got;
	int again;

	again = send(c->cli, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ? errno : 0;
	if (!again) {
		diag("retry after the failure: %s, but a later send worked",
		     strerror(err));
		return -1;
	}
	if (close(c->cli)) {
		diag("close after the failure: %s", strerror(errno));
		c->cli = -1;
		return -1;
	}
	c->cli = -1;
	if (peer_gets_prefix(c, &got, false))
		return -1;
	notes.sticky++;
	diag("note: after %zu bytes the socket stayed in error (%s); the peer got %zu bytes intact",
	     sent, strerror(err), got);
	return 0;
}

/* The peer must receive all of c->tx, then a reply must come back. */
static int peer_gets_all(struct conn *c, long ret)
{
	ssize_t got = recv_exact(c->srv, c->rx, c->size);

	if (got < 0) {
		diag("peer: %s after the call returned %ld of %zu bytes",
		     strerror(-got), ret, c->size);
		return -1;
	}
	if ((size_t)got != c->size) {
		diag("peer: got %zd of %zu bytes (the call returned %ld); the rest never came",
		     got, c->size, ret);
		return -1;
	}
	if (memcmp(c->rx, c->tx, c->size)) {
		diag("peer: data differs from what was sent");
		return -1;
	}
	return roundtrip(c->srv, c->cli, 100, "reply");
}

static int check_getsockopt_ebusy(int fd, int optname, const char *what)
{
	struct tls_crypto_info hdr;
	socklen_t len = sizeof(hdr);

	if (!getsockopt(fd, SOL_TLS, optname, &hdr, &len) || errno != EBUSY) {
		diag("%s failed, yet getsockopt says %s instead of EBUSY",
		     what, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- attach --------------------------------------------------------------- */

static long run_attach(struct conn *c)
{
	return ku_attach_ulp(c->cli, NULL);
}

static int check_attach(struct conn *c, const struct outcome *o)
{
	if (o->ret < 0) {
		/* Still plain TCP, and the ULP can be attached now. */
		if (roundtrip(c->cli, c->srv, 100, "plain TCP after the failure"))
			return -1;
		if (ku_attach_ulp(c->cli, NULL)) {
			diag("attaching again: %s", strerror(errno));
			return -1;
		}
	}
	if (ku_attach_ulp(c->srv, NULL) || conn_key(c, c->cli, TLS_TX, 'A') ||
	    conn_key(c, c->srv, TLS_RX, 'A') || conn_key(c, c->srv, TLS_TX, 'B') ||
	    conn_key(c, c->cli, TLS_RX, 'B')) {
		diag("keys after attaching: %s", strerror(errno));
		return -1;
	}
	return roundtrip(c->cli, c->srv, 20000, "cli->srv") ||
	       roundtrip(c->srv, c->cli, 20000, "srv->cli");
}

/* ---- key installation ---------------------------------------------------- */

static int prepare_tx_key(struct conn *c)
{
	return conn_key(c, c->srv, TLS_RX, 'A');
}

static long run_tx_key(struct conn *c)
{
	return conn_key(c, c->cli, TLS_TX, 'A');
}

static int check_tx_key(struct conn *c, const struct outcome *o)
{
	if (o->ret < 0) {
		if (check_getsockopt_ebusy(c->cli, TLS_TX, "TLS_TX"))
			return -1;
		if (conn_key(c, c->cli, TLS_TX, 'A')) {
			diag("installing TLS_TX again: %s", strerror(errno));
			return -1;
		}
	}
	return roundtrip(c->cli, c->srv, 20000, "cli->srv") ||
	       roundtrip(c->cli, c->srv, 1, "cli->srv");
}

/* The peer's first record is already queued: installing the key also
 * parses it. */
static int prepare_rx_key(struct conn *c)
{
	if (conn_key(c, c->cli, TLS_TX, 'A') || conn_key(c, c->srv, TLS_RX, 'A') ||
	    conn_key(c, c->srv, TLS_TX, 'B')) {
		diag("keys: %s", strerror(errno));
		return -1;
	}
	return send_all(c->srv, c->tx, c->size) ? -1 : 0;
}

static long run_rx_key(struct conn *c)
{
	return conn_key(c, c->cli, TLS_RX, 'B');
}

static int check_rx_key(struct conn *c, const struct outcome *o)
{
	ssize_t got;

	if (o->ret < 0) {
		if (check_getsockopt_ebusy(c->cli, TLS_RX, "TLS_RX"))
			return -1;
		if (conn_key(c, c->cli, TLS_RX, 'B')) {
			diag("installing TLS_RX again: %s", strerror(errno));
			return -1;
		}
	}
	got = recv_exact(c->cli, c->rx, c->size);
	if (got != (ssize_t)c->size || memcmp(c->rx, c->tx, c->size)) {
		diag("the record queued before the key: got %zd of %zu bytes%s",
		     got, c->size, got < 0 ? " (error)" : "");
		return -1;
	}
	return roundtrip(c->cli, c->srv, 100, "cli->srv") ||
	       roundtrip(c->srv, c->cli, 100, "srv->cli");
}

static const size_t rx_key_sizes[] = { 1000, 0 };

/* ---- getsockopt ------------------------------------------------------------ */

static long run_getsockopt(struct conn *c)
{
	struct tls12_crypto_info_aes_gcm_128 ci;
	socklen_t len = sizeof(ci);
	long ret = getsockopt(c->cli, SOL_TLS, TLS_TX, &ci, &len);

	memset(&ci, 0, sizeof(ci));
	return ret;
}

static int check_getsockopt(struct conn *c, const struct outcome *o)
{
	union cc_crypto_info got, want;
	socklen_t len;
	size_t wlen;
	int same;

	(void)o;
	/* The exact size of the cipher's crypto_info, as the kernel wants. */
	conn_fill_info(c, 'A', &want, &wlen);
	len = wlen;
	if (getsockopt(c->cli, SOL_TLS, TLS_TX, &got, &len)) {
		diag("getsockopt again: %s", strerror(errno));
		memset(&want, 0, sizeof(want));
		return -1;
	}
	same = len == wlen && !memcmp(&got, &want, wlen);
	memset(&got, 0, sizeof(got));
	memset(&want, 0, sizeof(want));
	if (!same) {
		diag("getsockopt returns a different crypto_info than installed");
		return -1;
	}
	return roundtrip(c->cli, c->srv, 100, "cli->srv");
}

/* ---- send, sendfile, splice to the socket -------------------------------------- */

static long run_send(struct conn *c)
{
	return send(c->cli, c->tx, c->size, MSG_NOSIGNAL);
}

/* The rest of c->tx after the armed call: the way it was sent. */
static int check_stream_tx(struct conn *c, const struct outcome *o,
			   int (*rest)(struct conn *c, size_t off))
{
	size_t done = o->ret > 0 ? (size_t)o->ret : 0;
	int err;

	if (done > c->size) {
		diag("the call claims %zu of %zu bytes", done, c->size);
		return -1;
	}
	err = rest(c, done);
	if (err == -EAGAIN) {
		diag("sending the rest after the call returned %ld: blocked for %u s",
		     o->ret, scaled(3));
		return -1;
	}
	if (err)
		return tx_in_error(c, done, -err);
	return peer_gets_all(c, o->ret);
}

static int rest_send(struct conn *c, size_t off)
{
	return send_all(c->cli, c->tx + off, c->size - off);
}

static int check_send(struct conn *c, const struct outcome *o)
{
	return check_stream_tx(c, o, rest_send);
}

static int prepare_sendfile(struct conn *c)
{
	char path[] = "/tmp/fault_test.XXXXXX";

	c->file = mkstemp(path);
	if (c->file < 0) {
		diag("mkstemp: %s", strerror(errno));
		return -1;
	}
	unlink(path);
	if (write(c->file, c->tx, c->size) != (ssize_t)c->size) {
		diag("writing the file: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static long run_sendfile(struct conn *c)
{
	off_t off = 0;

	return sendfile(c->cli, c->file, &off, c->size);
}

static int rest_sendfile(struct conn *c, size_t done)
{
	off_t off = done;

	while ((size_t)off < c->size) {
		if (sendfile(c->cli, c->file, &off, c->size - off) < 0)
			return -errno;
	}
	return 0;
}

static int check_sendfile(struct conn *c, const struct outcome *o)
{
	return check_stream_tx(c, o, rest_sendfile);
}

static int make_pipe(struct conn *c)
{
	if (pipe2(c->pipe, O_CLOEXEC)) {
		diag("pipe: %s", strerror(errno));
		return -1;
	}
	if (fcntl(c->pipe[1], F_SETPIPE_SZ, 2 * 65536) < 0) {
		diag("F_SETPIPE_SZ: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int prepare_splice_tx(struct conn *c)
{
	if (make_pipe(c))
		return -1;
	if (write(c->pipe[1], c->tx, c->size) != (ssize_t)c->size) {
		diag("filling the pipe: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static long run_splice_tx(struct conn *c)
{
	return splice(c->pipe[0], NULL, c->cli, NULL, c->size, 0);
}

/* What the armed call did not take is still in the pipe. */
static int rest_splice(struct conn *c, size_t done)
{
	while (done < c->size) {
		ssize_t n = splice(c->pipe[0], NULL, c->cli, NULL,
				   c->size - done, 0);

		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		done += n;
	}
	return 0;
}

static int check_splice_tx(struct conn *c, const struct outcome *o)
{
	return check_stream_tx(c, o, rest_splice);
}

/* ---- recv, splice from the socket ---------------------------------------------- */

static int prepare_rx(struct conn *c)
{
	if (send_all(c->srv, c->tx, c->size)) {
		diag("peer send: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static long run_recv(struct conn *c)
{
	return recv(c->cli, c->rx, c->size, 0);
}

/* @done bytes are in c->rx already: read the rest and compare. */
static int check_stream_rx(struct conn *c, long ret, size_t done)
{
	ssize_t got = 0;

	if (done < c->size) {
		got = recv_exact(c->cli, c->rx + done, c->size - done);
		if (got < 0) {
			if (got == -EBADMSG || got == -EINVAL || got == -EMSGSIZE) {
				diag("receiving the rest: %s (the call returned %ld): intact records rejected",
				     strerror(-got), ret);
				return -1;
			}
			if (got == -EAGAIN) {
				diag("receiving the rest: nothing within %u s (the call returned %ld, %zu bytes read)",
				     scaled(3), ret, done);
				return -1;
			}
			if (close(c->cli)) {
				diag("close after the failure: %s", strerror(errno));
				c->cli = -1;
				return -1;
			}
			c->cli = -1;
			notes.sticky++;
			diag("note: after %zu bytes the socket stayed in error (%s)",
			     done, strerror(-got));
			return 0;
		}
	}
	if (done + got != c->size || memcmp(c->rx, c->tx, c->size)) {
		diag("received %zu of %zu bytes intact (the call returned %ld)",
		     done + got, c->size, ret);
		return -1;
	}
	return roundtrip(c->cli, c->srv, 100, "cli->srv");
}

static int check_recv(struct conn *c, const struct outcome *o)
{
	if (o->ret > (long)c->size) {
		diag("recv returned %ld for %zu bytes", o->ret, c->size);
		return -1;
	}
	return check_stream_rx(c, o->ret, o->ret > 0 ? o->ret : 0);
}

static long run_peek(struct conn *c)
{
	return recv(c->cli, c->rx, c->size, MSG_PEEK | MSG_WAITALL);
}

/* A peek across records (ktls holds the records it decrypts ahead): what
 * it returned is the start of the stream, and all of the stream then
 * reads normally. */
static int check_peek(struct conn *c, const struct outcome *o)
{
	if (o->ret > (long)c->size) {
		diag("peek returned %ld for %zu bytes", o->ret, c->size);
		return -1;
	}
	if (o->ret > 0 && memcmp(c->rx, c->tx, o->ret)) {
		diag("the %ld peeked bytes are not the start of the stream",
		     o->ret);
		return -1;
	}
	return check_stream_rx(c, o->ret, 0);
}

static int prepare_splice_rx(struct conn *c)
{
	return make_pipe(c) || prepare_rx(c) ? -1 : 0;
}

static long run_splice_rx(struct conn *c)
{
	return splice(c->cli, NULL, c->pipe[1], NULL, c->size, 0);
}

static int check_splice_rx(struct conn *c, const struct outcome *o)
{
	size_t done = o->ret > 0 ? (size_t)o->ret : 0;

	if (done > c->size) {
		diag("splice returned %zu for %zu bytes", done, c->size);
		return -1;
	}
	if (done && read(c->pipe[0], c->rx, done) != (ssize_t)done) {
		diag("reading back %zu spliced bytes: %s", done, strerror(errno));
		return -1;
	}
	return check_stream_rx(c, o->ret, done);
}

/* ---- close ------------------------------------------------------------------- */

/* An open record waits for more: close() must send it. */
static int prepare_close_pending(struct conn *c)
{
	if (send(c->cli, c->tx, c->size, MSG_MORE | MSG_NOSIGNAL) != (ssize_t)c->size) {
		diag("send with MSG_MORE: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static long run_close(struct conn *c)
{
	long ret = close(c->cli);

	c->cli = -1;
	return ret;
}

static int check_close_pending(struct conn *c, const struct outcome *o)
{
	ssize_t got = recv_exact(c->srv, c->rx, c->size);

	if (got == (ssize_t)c->size && !memcmp(c->rx, c->tx, c->size))
		return 0;
	if (!o->injected) {
		diag("close() sent %zd of the %zu pending bytes", got, c->size);
		return -1;
	}
	/*
	 * A failed allocation may keep the record from going, but the peer
	 * must not take what came for the whole stream: a reset, or
	 * nothing within the wait if even the reset could not be sent.
	 */
	if (got >= 0) {
		diag("close() lost the pending record and the peer saw a clean end of stream after %zd of %zu bytes",
		     got, c->size);
		return -1;
	}
	if (got != -ECONNRESET && got != -EAGAIN) {
		diag("peer: %s after close() lost the pending record",
		     strerror((int)-got));
		return -1;
	}
	notes.lost++;
	diag("note: close() could not send the pending record: the peer got %s",
	     strerror((int)-got));
	return 0;
}

/* A whole record waits unread: close() frees it and resets the peer. */
static int prepare_close_unread(struct conn *c)
{
	struct pollfd p = { .fd = c->cli, .events = POLLIN };

	if (prepare_rx(c))
		return -1;
	if (poll(&p, 1, scaled(3) * 1000) != 1) {
		diag("the peer's record never became readable");
		return -1;
	}
	return 0;
}

static int check_close_unread(struct conn *c, const struct outcome *o)
{
	char b;
	ssize_t n = recv(c->srv, &b, 1, 0);

	if (n < 0 && errno == EAGAIN && o->injected) {
		/* TCP's own reset could not be allocated: the peer hears
		 * nothing.  Not ktls's doing, and nothing leaks. */
		diag("note: the peer got neither FIN nor RST after close()");
		return 0;
	}
	if (n > 0 || (n < 0 && errno != ECONNRESET && errno != EPIPE)) {
		diag("peer after close: %zd (%s), expected end of stream or a reset",
		     n, n < 0 ? strerror(errno) : "data");
		return -1;
	}
	return 0;
}

static const size_t close_sizes[] = { 3000, 0 };

/* Persistent-mode sizes: enough to cross records without tripling the
 * run time; ONE marks an operation without sizes. */
static const size_t p_small_big[] = { 4096, 65536, 0 };
static const size_t p_big[] = { 65536, 0 };
static const size_t ONE[] = { 0 };

#define OP(n, k, v, sz, psz, st, prep, r, chk)				\
	{ .name = n, .kind = k, .versioned = v, .sizes = sz,		\
	  .persist_sizes = psz, .stage = st, .errnos = no_errnos,	\
	  .prepare = prep, .run = r, .check = chk }

const struct fault_op fault_ops[] = {
	OP("attach", OP_CALL, false, NULL, ONE, STAGE_PLAIN,
	   NULL, run_attach, check_attach),
	OP("tx_key", OP_CALL, true, NULL, ONE, STAGE_ULP,
	   prepare_tx_key, run_tx_key, check_tx_key),
	OP("rx_key", OP_CALL, true, rx_key_sizes, rx_key_sizes, STAGE_ULP,
	   prepare_rx_key, run_rx_key, check_rx_key),
	OP("getsockopt", OP_CALL, false, NULL, ONE, STAGE_KEYED,
	   NULL, run_getsockopt, check_getsockopt),
	OP("send", OP_TX, true, stream_sizes, p_small_big, STAGE_KEYED,
	   NULL, run_send, check_send),
	OP("sendfile", OP_TX, true, short_sizes, p_big, STAGE_KEYED,
	   prepare_sendfile, run_sendfile, check_sendfile),
	OP("splice_tx", OP_TX, true, short_sizes, p_big, STAGE_KEYED,
	   prepare_splice_tx, run_splice_tx, check_splice_tx),
	OP("recv", OP_RX, true, stream_sizes, p_big, STAGE_KEYED,
	   prepare_rx, run_recv, check_recv),
	OP("splice_rx", OP_RX, true, short_sizes, NULL, STAGE_KEYED,
	   prepare_splice_rx, run_splice_rx, check_splice_rx),
	OP("peek", OP_RX, true, short_sizes, p_big, STAGE_KEYED,
	   prepare_rx, run_peek, check_peek),
	OP("close_pending", OP_CLOSE, true, close_sizes, close_sizes, STAGE_KEYED,
	   prepare_close_pending, run_close, check_close_pending),
	OP("close_unread", OP_CLOSE, true, close_sizes, NULL, STAGE_KEYED,
	   prepare_close_unread, run_close, check_close_unread),
};

const unsigned int fault_nops = sizeof(fault_ops) / sizeof(fault_ops[0]);
