// SPDX-License-Identifier: GPL-2.0
/*
 * ktls_hostile - a hostile TLS peer against a ktls reader.
 *
 * Sessions run one after another in a private network namespace.  Each
 * session is a loopback TCP pair: the ktls end gets a receive key, the raw
 * end is the peer, which seals records with crosscheck.c.  Everything a
 * session does is drawn from (seed, session number):
 *
 *   - the variant (TLS 1.2/1.3 x four ciphers);
 *   - records: data of 0..64 bytes mostly, sometimes up to 2000 or exactly
 *     16383/16384; TLS 1.3 padding, up to the largest inner plaintext;
 *     content that is random, zeros, or ends in zeros; control records of
 *     known and unknown content types (TLS 1.2 includes type 0), some of
 *     zero length; TLS 1.3 KeyUpdates, after which the peer seals with its
 *     next key while the reader must see EKEYEXPIRED, no POLLIN, and then
 *     install that key;
 *   - how the peer writes them: random chunks, each record split in two at
 *     every offset in turn, byte by byte, or in bulk;
 *   - how the reader reads: recv/recvmsg, recv without room for the cmsg
 *     (EIO on control records, then recvmsg), MSG_PEEK then recvmsg of
 *     part of what was peeked, splice to a pipe (EINVAL on control
 *     records), non-blocking reads after poll, or edge-triggered epoll;
 *     read sizes; a small SO_RCVBUF; TLS_RX_EXPECT_NO_PAD;
 *   - a racing thread doing poll and getsockopt(TLS_RX), or shutting the
 *     reader's socket down;
 *   - how the session ends:
 *       fin         FIN after the last record: read returns 0, twice
 *       fin_trunc   FIN inside a record: 0
 *       all_pad     TLS 1.3 record whose inner plaintext is all zeros:
 *                   EBADMSG, sticky, POLLERR
 *       empty       TLS 1.3 record with no inner plaintext at all: EBADMSG,
 *                   sticky
 *       bad_tag     a record with one tag bit flipped: EBADMSG, sticky,
 *                   TlsDecryptError + 1
 *       oversize    valid tag, one byte longer than the largest record:
 *                   EMSGSIZE once, then EAGAIN
 *       undersize   header length below explicit nonce + tag: EBADMSG
 *                   once, then EAGAIN
 *       bad_version header version 0x0301: EINVAL once, then EAGAIN
 *       rst         the peer resets the connection: a prefix of the
 *                   stream, then ECONNRESET or 0
 *       rd_shut     the racer shuts the reader's socket down (SHUT_RD)
 *                   during the session: a prefix, then 0
 *       rd_close    the reader closes its socket with records unread
 *     Valid records written after a terminal hostile record must never be
 *     delivered.
 *
 * Every byte read is compared with what the peer sealed, at its position
 * in the stream (so each arrives exactly once, in order), every control
 * record with its type and content; FNV-1a checksums of all data sealed
 * and read are printed.  Every wait is bounded (SO_RCVTIMEO, poll and
 * epoll timeouts: -w, default 20 s times $KTLS_VM_SLOWDOWN).  At the end
 * the counters of the namespace must agree: TlsDecryptError = bad_tag
 * sessions, TlsRxRekeyOk = keys installed, TlsRxRekeyReceived between
 * KeyUpdates read and sent, TlsCurrRxSw back to 0.
 *
 * Usage: ktls_hostile [-s SEED] [-n RECORDS] [-t SECONDS] [-k FIRST]
 *                     [-w WAIT_MS] [-v]
 *   -n  stop after this many records (default 100000) ...
 *   -t  ... or after this many seconds, whichever comes first
 *   -k  start at session FIRST (replays one failing session quickly)
 *   -v  one line per session
 * The last line is "hostile: ... ok" or a FAIL line with the replay command.
 */
#define _GNU_SOURCE	/* splice */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "campaign.h"

enum end_kind {
	END_FIN, END_FIN_TRUNC, END_ALL_PAD, END_EMPTY, END_BAD_TAG,
	END_OVERSIZE, END_UNDERSIZE, END_BAD_VERSION, END_RST, END_RD_SHUT,
	END_RD_CLOSE, END_KINDS
};

static const char *const end_names[END_KINDS] = {
	"fin", "fin_trunc", "all_pad", "empty", "bad_tag", "oversize",
	"undersize", "bad_version", "rst", "rd_shut", "rd_close",
};

enum read_mode {
	RM_RECV, RM_NOCMSG, RM_PEEK, RM_SPLICE, RM_POLL, RM_EPOLL, RM_MODES
};

static const char *const mode_names[RM_MODES] = {
	"recvmsg", "recv_nocmsg", "peek", "splice", "poll", "epoll_et",
};

enum write_mode { WM_RANDOM, WM_SPLIT, WM_BYTES, WM_BULK, WM_MODES };

static const char *const wmode_names[WM_MODES] = {
	"random", "split_every_offset", "bytes", "bulk",
};

/* What the reader must get, in order: a run of data or one control
 * record, as bytes of s->plain. */
struct item {
	int type;		/* 23: data run */
	bool key_update;
	size_t off, len;
};

struct session {
	unsigned long index;
	uint64_t seed;
	const struct cm_variant *v;
	enum end_kind end;
	enum read_mode mode;
	enum write_mode wmode;
	size_t read_max;
	bool racer, small_rcvbuf, no_pad;

	unsigned char *plain, *wire;
	size_t plain_len, plain_cap, wire_len, wire_cap;
	size_t *rec_end;	/* end offset of each record in wire */
	size_t nrec, rec_cap;
	struct item *items;
	size_t nitems, item_cap;
	size_t records, key_updates, data_bytes;
	size_t close_after;	/* rd_close: items read before closing */
	size_t fin_at;		/* wire bytes before the FIN (fin_trunc) */

	int tls, raw;
	atomic_bool reader_done, racer_stop;
	pthread_t writer, racer_thread;
};

static struct {
	uint64_t seed;
	unsigned long first;
	unsigned int wait_ms;
	bool verbose;
	/* Totals. */
	uint64_t records, sessions, data_bytes, ctrl_records, zero_len;
	uint64_t hostile[END_KINDS];
	uint64_t ku_sent, ku_read, ku_installed, bad_tag_reached;
	uint64_t sum_sealed, sum_read;	/* FNV-1a of data bytes */
	uint64_t reads, spurious;
} g = { .wait_ms = 20000 };

#define FNV_INIT 0xcbf29ce484222325ULL

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
	while (n--)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return h;
}

static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return p;
	while (*cap < need)
		*cap = *cap ? *cap * 2 : 1024;
	p = realloc(p, *cap * elem);
	if (!p)
		cm_fail("out of memory");
	return p;
}

#define SFAIL(s, fmt, ...)						\
	cm_fail("session %lu (%s, end %s, read %s, write %s): " fmt,	\
		(s)->index, (s)->v->name, end_names[(s)->end],		\
		mode_names[(s)->mode], wmode_names[(s)->wmode],		\
		##__VA_ARGS__)

/* ---- the peer's script ---------------------------------------------------- */

static uint64_t key_seed_gen(struct session *s, size_t gen)
{
	return cm_mix(s->seed, 1000 + gen, 7);
}

static void key_for(struct session *s, size_t gen, union cc_crypto_info *ci,
		    size_t *len)
{
	*len = cm_info(ci, s->v, key_seed_gen(s, gen));
}

static void add_item(struct session *s, int type, bool ku, size_t off,
		     size_t len)
{
	struct item *last = s->nitems ? &s->items[s->nitems - 1] : NULL;

	if (!len)
		return;		/* zero-length records deliver nothing */
	if (type == CC_TYPE_DATA && last && last->type == CC_TYPE_DATA &&
	    last->off + last->len == off) {
		last->len += len;
		return;
	}
	s->items = grow(s->items, &s->item_cap, s->nitems + 1,
			sizeof(*s->items));
	s->items[s->nitems++] = (struct item){ type, ku, off, len };
}

/*
 * The wire so far ends a record: every byte of the wire belongs to one of
 * rec_end[]'s records, which the split writer walks (it must never look
 * past the last).
 */
static void mark_record_end(struct session *s)
{
	s->rec_end = grow(s->rec_end, &s->rec_cap, s->nrec + 1,
			  sizeof(*s->rec_end));
	s->rec_end[s->nrec++] = s->wire_len;
}

/* Seal one record; @expected: the reader must get it. */
static void put_record(struct session *s, struct cc_state *st, int type,
		       const unsigned char *data, size_t len, size_t pad,
		       bool expected, bool ku)
{
	ssize_t n;

	s->wire = grow(s->wire, &s->wire_cap, s->wire_len + CC_MAX_RECORD + 8,
		       1);
	n = cc_seal(st, type, data, len, pad, s->wire + s->wire_len,
		    CC_MAX_RECORD + 8);
	if (n < 0)
		cm_fail("cc_seal: %s", strerror((int)-n));
	s->wire_len += n;
	mark_record_end(s);
	s->records++;
	if (!expected)
		return;
	s->plain = grow(s->plain, &s->plain_cap, s->plain_len + len, 1);
	memcpy(s->plain + s->plain_len, data, len);
	add_item(s, type, ku, s->plain_len, len);
	s->plain_len += len;
	if (type == CC_TYPE_DATA)
		s->data_bytes += len;
	if (!len)
		g.zero_len++;
	else if (type != CC_TYPE_DATA)
		g.ctrl_records++;
}

static void put_raw(struct session *s, const unsigned char *p, size_t len)
{
	s->wire = grow(s->wire, &s->wire_cap, s->wire_len + len, 1);
	memcpy(s->wire + s->wire_len, p, len);
	s->wire_len += len;
	mark_record_end(s);
}

static void fill_content(uint64_t *r, unsigned char *p, size_t len)
{
	size_t i, zeros;

	switch (cm_below(r, 8)) {
	case 0:
		memset(p, 0, len);
		return;
	case 1:
		memset(p, CC_TYPE_DATA, len);
		return;
	default:
		for (i = 0; i < len; i++)
			p[i] = cm_rand(r);
		/* Content ending in zeros looks like padding to a careless
		 * TLS 1.3 receiver. */
		if (cm_chance(r, 30)) {
			zeros = cm_below(r, len + 1);
			memset(p + len - zeros, 0, zeros);
		}
	}
}

static size_t data_len(uint64_t *r)
{
	unsigned int x = cm_below(r, 1000);

	if (x < 40)
		return 0;
	if (x < 45)
		return CC_MAX_PLAINTEXT - cm_below(r, 2);
	if (x < 120)
		return cm_below(r, 2001);
	return 1 + cm_below(r, 64);
}

static int ctrl_type(uint64_t *r, const struct cm_variant *v)
{
	static const int known[] = { CC_TYPE_ALERT, CC_TYPE_HANDSHAKE,
				     CC_TYPE_CHANGE_CIPHER };
	int t;

	if (cm_chance(r, 50))
		return known[cm_below(r, ARRAY_SIZE(known))];
	do {	/* TLS 1.3 has no inner type 0: that byte is padding. */
		t = cm_below(r, 256);
	} while (t == CC_TYPE_DATA ||
		 (v->version == TLS_1_3_VERSION && t == 0));
	return t;
}

static void build_script(struct session *s, unsigned long max_records)
{
	uint64_t r = cm_mix(s->seed, 1, 0);
	bool tls13 = s->v->version == TLS_1_3_VERSION;
	static unsigned char buf[CC_MAX_PLAINTEXT + 2];
	union cc_crypto_info ci;
	struct cc_state st;
	size_t n, i, len, gen = 0, ci_len, sweep_len = 0;

	key_for(s, 0, &ci, &ci_len);
	if (cc_init(&st, &ci, ci_len))
		cm_fail("cc_init");
	n = 20 + cm_below(&r, cm_chance(&r, 70) ? 400 : 4000);
	if (n > max_records)
		n = max_records ? max_records : 1;
	/* Byte-sized writes or reads: short sessions. */
	if (s->wmode == WM_BYTES && n > 60)
		n = 60;
	if (s->read_max <= 300 && n > 150)
		n = 150;
	/* A receive buffer smaller than a record: TCP's zero-window probes
	 * pace the peer (up to a second a record): short sessions. */
	if (s->small_rcvbuf && n > 40)
		n = 40;
	if (s->wmode == WM_SPLIT)
		sweep_len = cm_below(&r, 48);
	for (i = 0; i < n; i++) {
		unsigned int what = cm_below(&r, 100);
		size_t pad = 0;

		if (s->wmode == WM_SPLIT) {
			/* Same size records, each split at a different
			 * offset: the split point sweeps every byte. */
			len = sweep_len;
			fill_content(&r, buf, len);
			put_record(s, &st, CC_TYPE_DATA, buf, len, 0, true,
				   false);
			continue;
		}
		if (tls13 && what < 2 && i + 1 < n) {
			unsigned char ku[5] = { KTLS_HANDSHAKE_KEY_UPDATE, 0,
						0, 1, cm_below(&r, 2) };

			put_record(s, &st, CC_TYPE_HANDSHAKE, ku, sizeof(ku),
				   cm_chance(&r, 20) ? cm_below(&r, 40) : 0,
				   true, true);
			cc_free(&st);
			key_for(s, ++gen, &ci, &ci_len);
			if (cc_init(&st, &ci, ci_len))
				cm_fail("cc_init");
			s->key_updates++;
			continue;
		}
		if (what < 12) {
			int type = ctrl_type(&r, s->v);

			len = cm_chance(&r, 10) ? 0 : 1 + cm_below(&r, 100);
			fill_content(&r, buf, len);
			if (type == CC_TYPE_HANDSHAKE && len &&
			    buf[0] == KTLS_HANDSHAKE_KEY_UPDATE)
				buf[0] = 4;
			if (tls13 && cm_chance(&r, 30))
				pad = cm_below(&r, 64);
			put_record(s, &st, type, buf, len, pad, true, false);
			continue;
		}
		len = data_len(&r);
		fill_content(&r, buf, len);
		if (tls13 && cm_chance(&r, 25)) {
			pad = cm_chance(&r, 10) ? CC_MAX_PLAINTEXT - len :
						  cm_below(&r, 300);
			if (len + pad > CC_MAX_PLAINTEXT)
				pad = CC_MAX_PLAINTEXT - len;
		}
		put_record(s, &st, CC_TYPE_DATA, buf, len, pad, true, false);
	}

	/* The ending. */
	switch (s->end) {
	case END_FIN_TRUNC:
		len = 1 + cm_below(&r, 200);
		fill_content(&r, buf, len);
		put_record(s, &st, CC_TYPE_DATA, buf, len, 0, false, false);
		s->fin_at = s->wire_len - 1 - cm_below(&r, s->wire_len -
					     s->rec_end[s->nrec - 2] - 1);
		break;
	case END_ALL_PAD:
		len = 1 + (cm_chance(&r, 10) ? CC_MAX_PLAINTEXT :
					       cm_below(&r, 300));
		memset(buf, 0, len);
		s->wire = grow(s->wire, &s->wire_cap,
			       s->wire_len + CC_MAX_RECORD + 8, 1);
		n = cc_seal_inner(&st, 0, buf, len, s->wire + s->wire_len,
				  CC_MAX_RECORD + 8);
		if ((ssize_t)n < 0)
			cm_fail("cc_seal_inner");
		s->wire_len += n;
		mark_record_end(s);
		s->records++;
		break;
	case END_EMPTY:
	case END_OVERSIZE:
		len = s->end == END_EMPTY ? 0 : CC_MAX_PLAINTEXT + 1 + tls13;
		fill_content(&r, buf, len);
		if (len)
			buf[len - 1] = CC_TYPE_DATA;
		s->wire = grow(s->wire, &s->wire_cap,
			       s->wire_len + CC_MAX_RECORD + 8, 1);
		n = cc_seal_inner(&st, CC_TYPE_DATA, buf, len,
				  s->wire + s->wire_len, CC_MAX_RECORD + 8);
		if ((ssize_t)n < 0)
			cm_fail("cc_seal_inner: %s", strerror((int)-n));
		s->wire_len += n;
		mark_record_end(s);
		s->records++;
		break;
	case END_BAD_TAG:
		len = 1 + cm_below(&r, 200);
		fill_content(&r, buf, len);
		put_record(s, &st, CC_TYPE_DATA, buf, len, 0, false, false);
		s->wire[s->wire_len - 1 - cm_below(&r, 16)] ^=
			1 << cm_below(&r, 8);
		break;
	case END_UNDERSIZE:
	case END_BAD_VERSION: {
		size_t min = cc_record_overhead(s->v->version, s->v->cipher) -
			     CC_HDR_LEN - tls13;
		unsigned char h[CC_HDR_LEN + 72] = { CC_TYPE_DATA, 3, 3 };

		len = s->end == END_UNDERSIZE ? min - 1 - cm_below(&r, min) :
						min + cm_below(&r, 40);
		if (s->end == END_BAD_VERSION)
			h[2] = cm_below(&r, 3);
		h[3] = len >> 8;
		h[4] = len & 0xff;
		/* Junk, and 8 bytes more: a TLS 1.2 header is judged
		 * once its explicit nonce is there. */
		for (i = 0; i < len + 8; i++)
			h[CC_HDR_LEN + i] = cm_rand(&r);
		put_raw(s, h, CC_HDR_LEN + len + 8);
		s->records++;
		break;
	}
	default:
		break;
	}
	/* Valid records after a record that ends the stream must never be
	 * delivered. */
	if (s->end >= END_ALL_PAD && s->end <= END_BAD_VERSION) {
		for (i = cm_below(&r, 3); i; i--) {
			len = 1 + cm_below(&r, 64);
			fill_content(&r, buf, len);
			put_record(s, &st, CC_TYPE_DATA, buf, len, 0, false,
				   false);
		}
	}
	if (s->end == END_RD_CLOSE)
		s->close_after = cm_below(&r, s->nitems + 1);
	cc_free(&st);
}

/* ---- the peer's writer ---------------------------------------------------- */

/* Write all of [p, p + len); false when the reader went away. */
static bool write_all(struct session *s, const unsigned char *p, size_t len)
{
	double deadline = cm_now() + g.wait_ms / 1000.0;

	while (len) {
		ssize_t n = send(s->raw, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		struct pollfd pfd = { .fd = s->raw, .events = POLLOUT };

		if (n > 0) {
			p += n;
			len -= n;
			deadline = cm_now() + g.wait_ms / 1000.0;
			continue;
		}
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
			if (s->end == END_RD_CLOSE)
				return false;
			SFAIL(s, "peer send: %s", strerror(errno));
		}
		if (n < 0 && errno != EAGAIN)
			SFAIL(s, "peer send: %s", strerror(errno));
		if (atomic_load(&s->reader_done))
			return false;
		if (cm_now() > deadline)
			SFAIL(s, "peer: no room to write for %u ms: the "
			      "reader stalled", g.wait_ms);
		{
			double t0 = cm_now();

			poll(&pfd, 1, 100);
			if (g.verbose && cm_now() - t0 > 0.09)
				printf("# writer waited %.3f s at %zu left\n",
				       cm_now() - t0, len);
		}
	}
	return true;
}

static void *writer_main(void *arg)
{
	struct session *s = arg;
	uint64_t r = cm_mix(s->seed, 2, 0);
	size_t off = 0, rec = 0, end = s->end == END_FIN_TRUNC ? s->fin_at :
								 s->wire_len;
	size_t max_chunk = (size_t[]){ 7, 64, 700, 8192, 65536, 65536,
				       65536 }[cm_below(&r, 7)];
	struct linger lin = { 1, 0 };

	while (off < end) {
		size_t chunk;

		switch (s->wmode) {
		case WM_SPLIT: {
			size_t start = rec ? s->rec_end[rec - 1] : 0;
			size_t rlen;

			if (rec >= s->nrec)	/* a bug of the script */
				cm_fail("session %lu: wire byte %zu is in no "
					"record", s->index, off);
			rlen = s->rec_end[rec] - start;
			/* Record i: split i % (len - 1) + 1 bytes in. */
			if (off == start && rlen > 1)
				chunk = rec % (rlen - 1) + 1;
			else
				chunk = s->rec_end[rec] - off;
			break;
		}
		case WM_BYTES:
			chunk = 1;
			break;
		case WM_BULK:
			chunk = 65536;
			break;
		default:
			chunk = 1 + cm_below(&r, max_chunk);
		}
		if (chunk > end - off)
			chunk = end - off;
		if (!write_all(s, s->wire + off, chunk))
			return NULL;
		off += chunk;
		while (rec < s->nrec && s->rec_end[rec] <= off)
			rec++;
	}
	switch (s->end) {
	case END_FIN:
	case END_FIN_TRUNC:
	case END_RD_SHUT:
		shutdown(s->raw, SHUT_WR);
		break;
	case END_RST:
		cm_sleep_us(cm_below(&r, 3000));
		setsockopt(s->raw, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
		close(s->raw);
		s->raw = -1;
		break;
	default:
		break;
	}
	return NULL;
}

/* ---- the racer ------------------------------------------------------------ */

static void *racer_main(void *arg)
{
	struct session *s = arg;
	uint64_t r = cm_mix(s->seed, 3, 0);
	double shut_at = cm_now() + cm_below(&r, 20000) / 1e6;
	bool shut = s->end != END_RD_SHUT;

	while (!atomic_load(&s->racer_stop)) {
		struct tls_crypto_info info;
		socklen_t len = sizeof(info);
		struct pollfd pfd = { .fd = s->tls, .events = POLLIN };

		if (!shut && cm_now() >= shut_at) {
			if (shutdown(s->tls, SHUT_RD))
				SFAIL(s, "shutdown(SHUT_RD): %s",
				      strerror(errno));
			shut = true;
		}
		switch (cm_below(&r, 3)) {
		case 0:
			poll(&pfd, 1, 0);
			break;
		case 1:
			if (getsockopt(s->tls, SOL_TLS, TLS_RX, &info, &len))
				SFAIL(s, "racer: getsockopt(TLS_RX): %s",
				      strerror(errno));
			if (info.version != s->v->version ||
			    info.cipher_type != s->v->cipher)
				SFAIL(s, "racer: getsockopt(TLS_RX) reports "
				      "%#x/%u", info.version,
				      info.cipher_type);
			break;
		default:
			cm_sleep_us(cm_below(&r, 500));
		}
	}
	return NULL;
}

/* ---- the reader ----------------------------------------------------------- */

struct reader {
	struct session *s;
	uint64_t r;
	size_t idx, ioff;	/* position in s->items */
	size_t gen;		/* receive key generation */
	int pipe[2], ep;
	bool need_wait;		/* poll/epoll: wait before the next read */
	unsigned char buf[65536 + 16], peek[65536 + 16];
};

/* recvmsg with room for the type; *type -1 when no cmsg came. */
static ssize_t rd_recvmsg(int fd, void *buf, size_t len, int flags, int *type)
{
	ssize_t n = ku_recv_type(fd, buf, len, flags, type);

	return n < 0 ? -errno : n;
}

static ssize_t rd_splice(struct reader *rd, size_t len, int flags)
{
	ssize_t n = splice(rd->s->tls, NULL, rd->pipe[1], NULL, len,
			   flags & MSG_DONTWAIT ? SPLICE_F_NONBLOCK : 0);
	size_t got = 0;

	if (n <= 0)
		return n < 0 ? -errno : 0;
	while (got < (size_t)n) {
		ssize_t m = read(rd->pipe[0], rd->buf + got, n - got);

		if (m <= 0)
			SFAIL(rd->s, "pipe read: %s", strerror(errno));
		got += m;
	}
	return n;
}

/* Wait until the socket is readable (poll/epoll modes). */
static void rd_wait(struct reader *rd)
{
	struct session *s = rd->s;
	struct epoll_event ev;
	struct pollfd pfd = { .fd = s->tls, .events = POLLIN };
	int n;

	double t0 = cm_now();

	if (s->mode == RM_EPOLL)
		n = epoll_wait(rd->ep, &ev, 1, g.wait_ms);
	else
		n = poll(&pfd, 1, g.wait_ms);
	if (g.verbose && cm_now() - t0 > 0.1)
		printf("# slow wait %.3f s at item %zu/%zu off %zu\n",
		       cm_now() - t0, rd->idx, s->nitems, rd->ioff);
	if (n < 0)
		SFAIL(s, "wait: %s", strerror(errno));
	if (n == 0)
		SFAIL(s, "nothing readable for %u ms at item %zu of %zu "
		      "(offset %zu): the reader hangs", g.wait_ms, rd->idx,
		      s->nitems, rd->ioff);
}

/*
 * One read in the session's mode: returns a length (bytes in rd->buf) or
 * -errno; *type is the record type (-1 unknown).  In the poll and epoll
 * modes EAGAIN means "wait and try again" and is handled here.
 */
static ssize_t rd_read(struct reader *rd, int *type)
{
	struct session *s = rd->s;
	size_t len = 1 + cm_below(&rd->r, s->read_max);
	const struct item *it = rd->idx < s->nitems ? &s->items[rd->idx] :
						      NULL;
	bool ctrl = it && it->type != CC_TYPE_DATA;
	ssize_t n;

	g.reads++;
	switch (s->mode) {
	case RM_NOCMSG:
		n = recv(s->tls, rd->buf, len, 0);
		if (n < 0)
			n = -errno;
		*type = -1;
		if (ctrl && n == -EIO)
			return rd_recvmsg(s->tls, rd->buf, len, 0, type);
		if (ctrl && n >= 0 && s->end != END_RST &&
		    s->end != END_RD_SHUT)
			SFAIL(s, "recv without cmsg room at a control record "
			      "(type %d) returned %zd, not EIO", it->type, n);
		return n;
	case RM_SPLICE:
		*type = -1;
		n = rd_splice(rd, len, 0);
		if (ctrl && n == -EINVAL)
			return rd_recvmsg(s->tls, rd->buf, len, 0, type);
		if (ctrl && n >= 0 && s->end != END_RST &&
		    s->end != END_RD_SHUT)
			SFAIL(s, "splice at a control record (type %d) "
			      "returned %zd, not EINVAL", it->type, n);
		if (n > 0)
			*type = CC_TYPE_DATA;
		return n;
	case RM_PEEK: {
		int ptype;
		ssize_t p = rd_recvmsg(s->tls, rd->peek, len, MSG_PEEK,
				       &ptype);

		if (p <= 0)
			return p;
		len = 1 + cm_below(&rd->r, p);
		n = rd_recvmsg(s->tls, rd->buf, len, 0, type);
		if (n != (ssize_t)len || *type != ptype ||
		    memcmp(rd->buf, rd->peek, len))
			SFAIL(s, "read of %zu peeked bytes (type %d) got %zd "
			      "(type %d)%s", len, ptype, n, *type,
			      n == (ssize_t)len ? ", other bytes" : "");
		return n;
	}
	case RM_POLL:
	case RM_EPOLL:
		for (;;) {
			if (rd->need_wait)
				rd_wait(rd);
			n = rd_recvmsg(s->tls, rd->buf, len, MSG_DONTWAIT,
				       type);
			rd->need_wait = n == -EAGAIN;
			if (n != -EAGAIN)
				return n;
			g.spurious += s->mode == RM_POLL;
		}
	default:
		return rd_recvmsg(s->tls, rd->buf, len, 0, type);
	}
}

static bool prefix_end(const struct session *s)
{
	return s->end == END_RST || s->end == END_RD_SHUT;
}

/* After reading a KeyUpdate: EKEYEXPIRED, no POLLIN; install the key. */
static void rd_key_update(struct reader *rd)
{
	struct session *s = rd->s;
	struct pollfd pfd = { .fd = s->tls, .events = POLLIN | POLLRDHUP };
	union cc_crypto_info ci;
	size_t len;
	ssize_t n;
	int type;

	if (s->mode == RM_SPLICE)
		n = rd_splice(rd, 100, MSG_DONTWAIT);
	else
		n = rd_recvmsg(s->tls, rd->buf, 100,
			       MSG_DONTWAIT | (s->mode == RM_PEEK ?
					       MSG_PEEK : 0), &type);
	if (n != -EKEYEXPIRED)
		SFAIL(s, "read after a KeyUpdate: %zd (%s), not EKEYEXPIRED",
		      n, n < 0 ? strerror((int)-n) : "bytes");
	if (poll(&pfd, 1, 0) < 0)
		SFAIL(s, "poll: %s", strerror(errno));
	if ((pfd.revents & POLLIN) && !(pfd.revents & POLLRDHUP))
		SFAIL(s, "poll reports POLLIN (%#x) before the next key",
		      pfd.revents);
	key_for(s, ++rd->gen, &ci, &len);
	if (setsockopt(s->tls, SOL_TLS, TLS_RX, &ci, len))
		SFAIL(s, "installing receive key %zu: %s", rd->gen,
		      strerror(errno));
	g.ku_installed++;
	rd->need_wait = false;
}

/* Check @n bytes of type @type against the script; advance. */
static void rd_check(struct reader *rd, ssize_t n, int type)
{
	struct session *s = rd->s;
	const struct item *it;

	if (rd->idx >= s->nitems)
		SFAIL(s, "%zd bytes (type %d) after the last record", n, type);
	it = &s->items[rd->idx];
	if (type == -1 && s->mode != RM_NOCMSG && s->mode != RM_SPLICE)
		SFAIL(s, "no record type cmsg");
	if (type == -1)
		type = CC_TYPE_DATA;
	if (type != it->type)
		SFAIL(s, "item %zu: type %d read where %d was sent", rd->idx,
		      type, it->type);
	if ((size_t)n > it->len - rd->ioff)
		SFAIL(s, "item %zu (type %d): %zd bytes read, %zu left in it",
		      rd->idx, it->type, n, it->len - rd->ioff);
	if (memcmp(rd->buf, s->plain + it->off + rd->ioff, n))
		SFAIL(s, "item %zu (type %d): %zd bytes at offset %zu differ",
		      rd->idx, it->type, n, rd->ioff);
	if (type == CC_TYPE_DATA)
		g.sum_read = fnv(g.sum_read, rd->buf, n);
	rd->ioff += n;
	if (rd->ioff < it->len)
		return;
	rd->idx++;
	rd->ioff = 0;
	if (it->key_update) {
		g.ku_read++;
		rd_key_update(rd);
	}
}

static void rd_expect_end(struct reader *rd)
{
	struct session *s = rd->s;
	struct pollfd pfd = { .fd = s->tls, .events = POLLIN };
	int want, type, i;
	ssize_t n;

	switch (s->end) {
	case END_FIN:
	case END_FIN_TRUNC:
		for (i = 0; i < 2; i++) {
			n = rd_read(rd, &type);
			if (n)
				SFAIL(s, "end of stream %d: %zd (%s), not 0",
				      i, n, n < 0 ? strerror((int)-n) : "");
		}
		return;
	case END_ALL_PAD:
	case END_EMPTY:
	case END_BAD_TAG:
		for (i = 0; i < 2; i++) {
			n = rd_read(rd, &type);
			if (n != -EBADMSG)
				SFAIL(s, "read %d at the bad record: %zd (%s), "
				      "not EBADMSG", i, n,
				      n < 0 ? strerror((int)-n) : "bytes");
		}
		if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLERR))
			SFAIL(s, "no POLLERR after EBADMSG (%#x)",
			      pfd.revents);
		if (s->end == END_BAD_TAG)
			g.bad_tag_reached++;
		return;
	default:
		want = s->end == END_OVERSIZE ? EMSGSIZE :
		       s->end == END_BAD_VERSION ? EINVAL : EBADMSG;
		n = rd_read(rd, &type);
		if (n != -want)
			SFAIL(s, "read at the bad header: %zd (%s), not %s", n,
			      n < 0 ? strerror((int)-n) : "bytes",
			      strerror(want));
		n = rd_recvmsg(s->tls, rd->buf, 64, MSG_DONTWAIT, &type);
		if (n != -EAGAIN)
			SFAIL(s, "read after the header error: %zd (%s), "
			      "not EAGAIN", n,
			      n < 0 ? strerror((int)-n) : "bytes");
		return;
	}
}

static void reader_run(struct session *s)
{
	struct reader *rd = calloc(1, sizeof(*rd));
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
	ssize_t n;
	size_t i;
	int type;

	if (!rd)
		cm_fail("out of memory");
	rd->s = s;
	rd->r = cm_mix(s->seed, 4, 0);
	rd->pipe[0] = rd->pipe[1] = rd->ep = -1;
	if (s->mode == RM_SPLICE && pipe(rd->pipe))
		cm_fail("pipe: %s", strerror(errno));
	if (s->mode == RM_EPOLL) {
		rd->ep = epoll_create1(0);
		if (rd->ep < 0 ||
		    epoll_ctl(rd->ep, EPOLL_CTL_ADD, s->tls, &ev))
			cm_fail("epoll: %s", strerror(errno));
	}
	rd->need_wait = true;
	for (;;) {
		if (s->end == END_RD_CLOSE && rd->idx >= s->close_after &&
		    !rd->ioff)
			break;
		if (rd->idx >= s->nitems && !prefix_end(s)) {
			rd_expect_end(rd);
			break;
		}
		n = rd_read(rd, &type);
		if (n > 0) {
			rd_check(rd, n, type);
			continue;
		}
		if (prefix_end(s) &&
		    (n == 0 || (s->end == END_RST && n == -ECONNRESET)))
			break;
		SFAIL(s, "read at item %zu of %zu (offset %zu): %zd (%s)",
		      rd->idx, s->nitems, rd->ioff, n,
		      n < 0 ? strerror((int)-n) : "end of stream");
	}
	/* What was read must be what was sealed, up to where reading
	 * stopped. */
	for (i = 0; i <= rd->idx && i < s->nitems; i++) {
		const struct item *it = &s->items[i];

		if (it->type == CC_TYPE_DATA)
			g.sum_sealed = fnv(g.sum_sealed, s->plain + it->off,
					   i < rd->idx ? it->len : rd->ioff);
	}
	if (rd->pipe[0] >= 0) {
		close(rd->pipe[0]);
		close(rd->pipe[1]);
	}
	if (rd->ep >= 0)
		close(rd->ep);
	free(rd);
}

/* ---- one session ---------------------------------------------------------- */

static void session_free(struct session *s)
{
	free(s->plain);
	free(s->wire);
	free(s->rec_end);
	free(s->items);
}

static void session_run(struct session *s, unsigned long max_records)
{
	uint64_t r = cm_mix(s->seed, 0, 0);
	union cc_crypto_info ci;
	int one = 1, small = 4096;
	double t0 = cm_now();
	size_t len;

	s->v = &cm_variants[cm_below(&r, 8)];
	do {
		s->end = cm_below(&r, END_KINDS);
	} while (s->v->version != TLS_1_3_VERSION &&
		 (s->end == END_ALL_PAD || s->end == END_EMPTY));
	s->mode = cm_below(&r, RM_MODES);
	s->wmode = cm_below(&r, 10) < 6 ? WM_RANDOM :
		   (enum write_mode)(1 + cm_below(&r, WM_MODES - 1));
	s->read_max = (size_t[]){ 16, 300, 4096, 65536, 65536,
				  65536 }[cm_below(&r, 6)];
	s->racer = s->end == END_RD_SHUT || cm_chance(&r, 40);
	s->small_rcvbuf = cm_chance(&r, 5);
	s->no_pad = s->v->version == TLS_1_3_VERSION && cm_chance(&r, 30);
	build_script(s, max_records);

	if (ku_tcp_pair(AF_INET, 0, &s->tls, &s->raw))
		cm_fail("loopback pair: %s", strerror(errno));
	if (s->small_rcvbuf)
		setsockopt(s->tls, SOL_SOCKET, SO_RCVBUF, &small,
			   sizeof(small));
	setsockopt(s->raw, SOL_TCP, TCP_NODELAY, &one, sizeof(one));
	ku_set_timeouts(s->tls, g.wait_ms);
	if (ku_attach_ulp(s->tls, NULL))
		cm_fail("attach ULP: %s", strerror(errno));
	key_for(s, 0, &ci, &len);
	if (setsockopt(s->tls, SOL_TLS, TLS_RX, &ci, len))
		SFAIL(s, "TLS_RX: %s", strerror(errno));
	if (s->no_pad &&
	    setsockopt(s->tls, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &one,
		       sizeof(one)))
		SFAIL(s, "TLS_RX_EXPECT_NO_PAD: %s", strerror(errno));

	if (pthread_create(&s->writer, NULL, writer_main, s))
		cm_fail("pthread_create");
	if (s->racer && pthread_create(&s->racer_thread, NULL, racer_main, s))
		cm_fail("pthread_create");
	reader_run(s);
	atomic_store(&s->reader_done, true);
	atomic_store(&s->racer_stop, true);
	if (s->racer)
		pthread_join(s->racer_thread, NULL);
	if (s->end == END_RD_CLOSE) {
		close(s->tls);
		s->tls = -1;
	}
	pthread_join(s->writer, NULL);
	if (s->tls >= 0)
		close(s->tls);
	if (s->raw >= 0)
		close(s->raw);

	g.records += s->records;
	g.data_bytes += s->data_bytes;
	g.ku_sent += s->key_updates;
	g.hostile[s->end]++;
	g.sessions++;
	if (g.verbose)
		printf("# session %lu: %.3f s, %s, %zu records, %zu bytes, %zu "
		       "KeyUpdates, end %s, read %s/%zu%s%s, write %s\n",
		       s->index, cm_now() - t0, s->v->name, s->records,
		       s->data_bytes,
		       s->key_updates, end_names[s->end], mode_names[s->mode],
		       s->read_max, s->racer ? ", racer" : "",
		       s->small_rcvbuf ? ", small rcvbuf" : "",
		       wmode_names[s->wmode]);
}

/* ---- main ------------------------------------------------------------------ */

static void check_counters(long derr0, long rok0, long rrecv0)
{
	long derr = ku_stat("TlsDecryptError") - derr0;
	long rok = ku_stat("TlsRxRekeyOk") - rok0;
	long rrecv = ku_stat("TlsRxRekeyReceived") - rrecv0;
	long curr;
	int i;

	if (derr != (long)g.bad_tag_reached)
		cm_fail("TlsDecryptError moved by %ld, %" PRIu64 " bad tags "
			"were read", derr, g.bad_tag_reached);
	if (ku_ulp_is_intree())
		return;		/* 6.1's tls.ko cannot rekey anyway */
	if (rok != (long)g.ku_installed)
		cm_fail("TlsRxRekeyOk moved by %ld, %" PRIu64 " keys were "
			"installed", rok, g.ku_installed);
	if (rrecv < (long)g.ku_read || rrecv > (long)g.ku_sent)
		cm_fail("TlsRxRekeyReceived moved by %ld: %" PRIu64 " "
			"KeyUpdates read, %" PRIu64 " sent", rrecv, g.ku_read,
			g.ku_sent);
	for (i = 0; i < 100; i++) {
		curr = ku_stat("TlsCurrRxSw");
		if (curr == 0)
			return;
		cm_sleep_us(20000);
	}
	cm_fail("TlsCurrRxSw is %ld with every socket closed", curr);
}

int main(int argc, char **argv)
{
	unsigned long max_records = 100000, idx;
	double seconds = 0, t0, dt, shown;
	long derr0, rok0, rrecv0;
	const char *slow = getenv("KTLS_VM_SLOWDOWN");
	bool wait_set = false;
	int opt, err, k, fds;

	g.seed = cm_mix((uint64_t)time(NULL), getpid(), 0) & 0xffffffffffULL;
	while ((opt = getopt(argc, argv, "s:n:t:k:w:v")) != -1) {
		switch (opt) {
		case 's':
			g.seed = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			max_records = strtoul(optarg, NULL, 0);
			break;
		case 't':
			seconds = strtod(optarg, NULL);
			break;
		case 'k':
			g.first = strtoul(optarg, NULL, 0);
			break;
		case 'w':
			g.wait_ms = strtoul(optarg, NULL, 0);
			wait_set = true;
			break;
		case 'v':
			g.verbose = true;
			break;
		default:
			fprintf(stderr, "usage: %s [-s SEED] [-n RECORDS] "
				"[-t SECONDS] [-k FIRST] [-w WAIT_MS] [-v]\n",
				argv[0]);
			return 2;
		}
	}
	/* A slow kernel (the debug one: KASAN, lockdep) stretches every
	 * wait, a byte-by-byte writer's most of all. */
	if (!wait_set && slow && atoi(slow) > 1)
		g.wait_ms *= atoi(slow);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	printf("# hostile: seed %#" PRIx64 ", up to %lu records%s\n", g.seed,
	       max_records, seconds > 0 ? " (time-limited)" : "");
	err = cm_netns();
	if (err) {
		printf("# hostile: no private network namespace: %s\n",
		       strerror(-err));
		return 1;
	}
	derr0 = ku_stat("TlsDecryptError");
	rok0 = ku_stat("TlsRxRekeyOk");
	rrecv0 = ku_stat("TlsRxRekeyReceived");
	if (derr0 < 0) {
		printf("# hostile: no statistics file: is the ULP loaded?\n");
		return 1;
	}
	g.sum_sealed = g.sum_read = FNV_INIT;
	fds = cm_fd_count();
	t0 = shown = cm_now();
	for (idx = g.first; g.records < max_records; idx++) {
		struct session s = { .index = idx,
				     .seed = cm_mix(g.seed, idx, 0x5e55) };

		cm_set_replay("%s -s %#" PRIx64 " -k %lu -n %lu", argv[0],
			      g.seed, idx, max_records);
		session_run(&s, max_records - g.records);
		session_free(&s);
		/* A run cut short by a deadline says how far it got, and
		 * whether it was slow or stuck (no line for a minute). */
		if (cm_now() - shown >= 60) {
			shown = cm_now();
			printf("# hostile: %.0f s: %" PRIu64 " records in %"
			       PRIu64 " sessions (next -k %lu), %.0f records/s\n",
			       shown - t0, g.records, g.sessions, idx + 1,
			       g.records / (shown - t0));
		}
		if (seconds > 0 && cm_now() - t0 >= seconds)
			break;
	}
	dt = cm_now() - t0;
	cm_set_replay("%s -s %#" PRIx64 " -k %lu -n %lu", argv[0], g.seed,
		      g.first, max_records);
	if (g.sum_read != g.sum_sealed)
		cm_fail("checksums differ: sealed %#" PRIx64 ", read %#" PRIx64,
			g.sum_sealed, g.sum_read);
	check_counters(derr0, rok0, rrecv0);
	if (cm_fd_count() != fds)
		cm_fail("%d file descriptors open, %d at the start",
			cm_fd_count(), fds);
	printf("# hostile: ends:");
	for (k = 0; k < END_KINDS; k++)
		printf(" %s %" PRIu64, end_names[k], g.hostile[k]);
	printf("\n# hostile: %" PRIu64 " control records, %" PRIu64
	       " zero-length, %" PRIu64 " KeyUpdates sent, %" PRIu64
	       " read, %" PRIu64 " reads, %" PRIu64 " empty polls\n",
	       g.ctrl_records, g.zero_len, g.ku_sent, g.ku_read, g.reads,
	       g.spurious);
	printf("hostile: seed %#" PRIx64 ": %" PRIu64 " records in %" PRIu64
	       " sessions, %" PRIu64 " data bytes, %.1f s, %.0f records/s, "
	       "data checksum %#" PRIx64 ": ok\n", g.seed, g.records,
	       g.sessions, g.data_bytes, dt, g.records / dt, g.sum_read);
	return 0;
}
