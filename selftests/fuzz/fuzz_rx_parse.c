// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_rx_parse - fuzz the RX record parser's pure functions
 * (kmod/rx_parse.c, built unchanged in userspace through shim/).
 *
 * Input: cfg(1) seed(4) stream...
 *
 *   cfg   bit 0     TLS 1.3 (else 1.2)
 *         bits 1-2  cipher: AES-GCM-128, AES-GCM-256, AES-CCM-128,
 *                   ChaCha20-Poly1305
 *         bits 4-7  chunk shift of the plaintext view (capped at 12, a
 *                   page), so reads across chunk boundaries are exercised
 *   seed  drives how the stream arrives: segment sizes and when a record
 *         is staged out of the "TCP queue", as rx_sw.c does under memory
 *         pressure
 *   stream  the bytes as they come off TCP: records with headers
 *
 * The stream goes through the same loop as rx_sw.c's rx_parse(), with
 * ktls_rx_frame() and ktls_rx_parse_header() making every decision.  Each
 * whole record's payload, short of its explicit nonce and tag, then stands
 * for its plaintext (as if it had decrypted) and goes through
 * ktls_rx_strip_padding(), ktls_rx_key_update() and
 * ktls_rx_only_tickets(), read through a view of 1 << shift byte chunks
 * that ends exactly where the plaintext does.
 *
 * Every answer is checked against a reference written here from RFC 8446
 * and the in-tree module's rules, independently of rx_parse.c: the framing
 * must be the same whatever the segmentation, every length within bounds,
 * every error the one the first failing check gives.  A difference aborts,
 * so the fuzzer reports it as a crash, as it does ASan's and UBSan's
 * findings (built with -fno-sanitize-recover).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

#define CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "fuzz_rx_parse: %s:%d: %s: ",	\
				__FILE__, __LINE__, #cond);		\
			fprintf(stderr, __VA_ARGS__);			\
			fputc('\n', stderr);				\
			abort();					\
		}							\
	} while (0)

/* The fields rx_parse.c reads; the rest of the kernel's table is crypto. */
static const struct ktls_cipher ciphers[4] = {
	{ .type = TLS_CIPHER_AES_GCM_128, .salt_size = 4, .iv_size = 8,
	  .tag_size = 16 },
	{ .type = TLS_CIPHER_AES_GCM_256, .salt_size = 4, .iv_size = 8,
	  .tag_size = 16 },
	{ .type = TLS_CIPHER_AES_CCM_128, .salt_size = 4, .iv_size = 8,
	  .tag_size = 16, .ccm_iv = true },
	{ .type = TLS_CIPHER_CHACHA20_POLY1305, .salt_size = 12,
	  .iv_size = 0, .tag_size = 16, .xor_nonce_12 = true },
};

/* Most records the input describes; more are framed but not kept. */
#define MAX_RECS	4096

struct rec {
	size_t off;		/* in the stream */
	size_t len;		/* header included */
};

/* What framing the whole stream gives: records, then an error or not. */
struct framing {
	struct rec rec[MAX_RECS];
	size_t nrec;		/* all of them, also those not kept */
	int err;		/* 0: the stream ends inside a record or at one's end */
};

struct run {
	struct ktls_prot prot;
	unsigned int shift;
	u32 max_rec;		/* largest whole record, header included */
	u32 min_rec;		/* smallest one */
	uint32_t rng;
	const u8 *s;		/* the stream */
	size_t len;
	struct framing ref;
};

static uint32_t rnd(struct run *r)
{
	uint32_t x = r->rng;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return r->rng = x ? x : 0x9e3779b9;
}

/*
 * The reference header check.  Order of the in-tree module
 * (tls_rx_msg_size): too long (EMSGSIZE), too short for the explicit nonce
 * and tag (EBADMSG), legacy version not 3.3 (EINVAL); the type byte is not
 * judged here.
 */
static int ref_header(const struct run *r, const u8 *h, size_t *rec_len)
{
	size_t explicit = r->prot.version == TLS_1_2_VERSION &&
			  r->prot.cipher->iv_size == 8 ? 8 : 0;
	size_t inner = r->prot.version == TLS_1_3_VERSION;
	size_t tag = r->prot.cipher->tag_size;
	size_t len = (size_t)h[3] * 256 + h[4];
	int errs[3] = {
		len > (size_t)KTLS_MAX_PAYLOAD + explicit + tag + inner ?
			-EMSGSIZE : 0,
		len < explicit + tag ? -EBADMSG : 0,
		h[1] != 3 || h[2] != 3 ? -EINVAL : 0,
	};
	size_t i;

	for (i = 0; i < 3; i++)
		if (errs[i])
			return errs[i];
	*rec_len = KTLS_HEADER_SIZE + len;
	return 0;
}

/* The stream framed at once, record by record, by the reference. */
static void ref_framing(struct run *r)
{
	size_t off = 0, rec_len;
	int err;

	r->ref.nrec = 0;
	r->ref.err = 0;
	while (r->len - off >= r->prot.prepend) {
		err = ref_header(r, r->s + off, &rec_len);
		if (err) {
			r->ref.err = err;
			return;
		}
		if (r->len - off < rec_len)
			return;
		if (r->ref.nrec < MAX_RECS)
			r->ref.rec[r->ref.nrec] = (struct rec){ off, rec_len };
		r->ref.nrec++;
		off += rec_len;
	}
}

/* Reference: the last non-zero byte is the type; EBADMSG if none. */
static int ref_strip(const u8 *p, size_t len, size_t *content, u8 *type)
{
	size_t i;

	for (i = len; i > 0; i--) {
		if (p[i - 1]) {
			*content = i - 1;
			*type = p[i - 1];
			return 0;
		}
	}
	return -EBADMSG;
}

/* Reference: one or more NewSessionTickets, each whole, nothing else. */
static int ref_only_tickets(const u8 *p, size_t len)
{
	size_t at = 0;

	if (!len)
		return 0;
	while (at < len) {
		uint64_t body;

		if (len - at < 4 || p[at] != KTLS_HANDSHAKE_NEW_SESSION_TICKET)
			return 0;
		body = (uint64_t)p[at + 1] << 16 | (uint64_t)p[at + 2] << 8 |
		       p[at + 3];
		if (at + 4 + body > len)
			return 0;
		at += 4 + body;
	}
	return 1;
}

/*
 * A decrypted record's plaintext @p (@len bytes) at offset @base of the
 * receive buffer, as rx_sw.c leaves it: @base is the prepend for a staged
 * record, else 0.  The buffer ends exactly at base + len, and the view's
 * chunk table has exactly the chunks that cover it: a read past the
 * plaintext is a heap overflow for ASan.
 */
static void check_plaintext(struct run *r, const u8 *p, u32 len, u32 base)
{
	u32 total = base + len, nchunks, i, content;
	size_t ref_content = 0;
	struct ktls_rx_view v;
	const u8 **chunk;
	u8 *buf, type, ref_type = 0;
	int err, ref_err;

	buf = malloc(total ? total : 1);
	nchunks = total ? ((total - 1) >> r->shift) + 1 : 1;
	chunk = malloc(nchunks * sizeof(*chunk));
	CHECK(buf && chunk, "out of memory");
	memset(buf, 0xa5, base);
	memcpy(buf + base, p, len);
	for (i = 0; i < nchunks; i++)
		chunk[i] = buf + ((size_t)i << r->shift);
	v.chunk = chunk;
	v.shift = r->shift;

	/* Whole NewSessionTickets, on any plaintext. */
	CHECK(ktls_rx_only_tickets(&v, base, len) ==
	      !!ref_only_tickets(p, len), "tickets in %u bytes", len);

	if (r->prot.version == TLS_1_3_VERSION) {
		content = len;
		type = 0;
		err = ktls_rx_strip_padding(&v, base, &content, &type);
		ref_err = ref_strip(p, len, &ref_content, &ref_type);
		CHECK(err == ref_err, "strip_padding: %d, expected %d", err,
		      ref_err);
		if (!err) {
			CHECK(content == ref_content && type == ref_type,
			      "strip_padding: type %u at %u, expected %u at %zu",
			      type, content, ref_type, ref_content);
			CHECK(content < len && type && p[content] == type,
			      "strip_padding: type outside the plaintext");
			CHECK(ktls_rx_key_update(&v, base, content, type) ==
			      (type == KTLS_TYPE_HANDSHAKE && content &&
			       p[0] == KTLS_HANDSHAKE_KEY_UPDATE),
			      "key_update");
			CHECK(ktls_rx_only_tickets(&v, base, content) ==
			      !!ref_only_tickets(p, content),
			      "tickets in %u bytes of content", content);
		}
	}
	free(chunk);
	free(buf);
}

/* The receiving socket, as rx_sw.c keeps it. */
struct sock_model {
	size_t arrived;		/* stream bytes TCP has received */
	size_t head;		/* first byte still in the TCP queue */
	u8 *buf;		/* staging buffer: max_rec bytes exactly */
	u32 staged;
	u32 rec_len;
	size_t rec_off;		/* where the record being framed starts */
	size_t nrec;		/* records taken */
	int err;
	bool stopped;
};

static void stage(struct run *r, struct sock_model *m, u32 n)
{
	CHECK(m->staged + n <= r->max_rec && n <= m->arrived - m->head,
	      "staging %u bytes past %u", n, m->staged);
	memcpy(m->buf + m->staged, r->s + m->head, n);
	m->staged += n;
	m->head += n;
}

/* The ready record: check it is the reference's, "decrypt" it, drop it. */
static void take_record(struct run *r, struct sock_model *m)
{
	const struct ktls_prot *prot = &r->prot;
	const u8 *rec = m->staged ? m->buf : r->s + m->head;
	u32 tag = prot->cipher->tag_size;

	CHECK(m->rec_len >= r->min_rec && m->rec_len <= r->max_rec,
	      "record of %u bytes", m->rec_len);
	CHECK(m->nrec < r->ref.nrec, "record %zu past the reference's %zu",
	      m->nrec, r->ref.nrec);
	if (m->nrec < MAX_RECS)
		CHECK(r->ref.rec[m->nrec].off == m->rec_off &&
		      r->ref.rec[m->nrec].len == m->rec_len,
		      "record %zu at %zu+%u, expected %zu+%zu", m->nrec,
		      m->rec_off, m->rec_len, r->ref.rec[m->nrec].off,
		      r->ref.rec[m->nrec].len);
	CHECK(memcmp(rec, r->s + m->rec_off, m->rec_len) == 0,
	      "record %zu's bytes differ from the stream's", m->nrec);
	check_plaintext(r, rec + prot->prepend,
			m->rec_len - prot->prepend - tag,
			m->staged ? prot->prepend : 0);
	if (!m->staged)
		m->head += m->rec_len;
	m->nrec++;
	m->rec_off += m->rec_len;
	m->rec_len = 0;
	m->staged = 0;
}

/*
 * rx_sw.c's rx_parse(), on the model: true when a record is ready.  Under
 * "pressure" (the seed decides) what arrived of a record is staged.
 */
static bool parse(struct run *r, struct sock_model *m)
{
	const struct ktls_prot *prot = &r->prot;
	u32 avail = m->arrived - m->head, have, need, n, rec_len;
	enum ktls_rx_step step;
	u8 hdr[KTLS_HEADER_SIZE];
	size_t ref_len;
	int err, ref_err;

	if (m->stopped)
		return false;
	for (;;) {
		have = m->staged + avail;
		need = 0;
		step = ktls_rx_frame(prot, m->rec_len, have, &need);
		CHECK(need >= prot->prepend && need <= r->max_rec,
		      "need %u (prepend %u, max %u)", need, prot->prepend,
		      r->max_rec);
		CHECK(m->rec_len ? need == m->rec_len : need == prot->prepend,
		      "need %u for a record of %u", need, m->rec_len);
		CHECK(need >= m->staged, "need %u below the staged %u", need,
		      m->staged);
		CHECK(step == KTLS_RX_MORE ? have < need :
		      step == KTLS_RX_HEADER ? !m->rec_len && have >= need :
		      step == KTLS_RX_WHOLE ? m->rec_len && have >= need : 0,
		      "step %d with %u of %u at hand", step, have, need);
		if (m->staged) {
			n = avail < need - m->staged ? avail :
						       need - m->staged;
			stage(r, m, n);
			avail -= n;
		}
		if (step == KTLS_RX_WHOLE)
			return true;
		if (step == KTLS_RX_MORE) {
			if (!m->staged && avail && (rnd(r) & 7) == 0)
				stage(r, m, avail);
			return false;
		}
		memcpy(hdr, m->staged ? m->buf : r->s + m->head, sizeof(hdr));
		rec_len = 0;
		err = ktls_rx_parse_header(prot, hdr, &rec_len);
		ref_err = ref_header(r, hdr, &ref_len);
		CHECK(err == ref_err, "header %02x %02x%02x %02x%02x: %d, expected %d",
		      hdr[0], hdr[1], hdr[2], hdr[3], hdr[4], err, ref_err);
		if (err) {
			CHECK(m->nrec == r->ref.nrec && err == r->ref.err,
			      "error %d after %zu records, expected %d after %zu",
			      err, m->nrec, r->ref.err, r->ref.nrec);
			m->err = err;
			m->stopped = true;
			return false;
		}
		CHECK(rec_len == ref_len, "record length %u, expected %zu",
		      rec_len, ref_len);
		m->rec_len = rec_len;
	}
}

/* How many bytes TCP delivers next: mostly small, sometimes all. */
static size_t segment(struct run *r, size_t left)
{
	uint32_t x = rnd(r);
	size_t n;

	switch (x & 3) {
	case 0:
		n = 1;
		break;
	case 1:
		n = 1 + (x >> 8) % 16;
		break;
	case 2:
		n = 1 + (x >> 8) % 4096;
		break;
	default:
		n = left;
		break;
	}
	return n < left ? n : left;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run *r;
	struct sock_model m = { 0 };
	unsigned int cfg;
	u32 explicit;

	if (size < 5)
		return 0;
	r = calloc(1, sizeof(*r));
	CHECK(r, "out of memory");
	cfg = data[0];
	r->prot.version = cfg & 1 ? TLS_1_3_VERSION : TLS_1_2_VERSION;
	r->prot.cipher = &ciphers[(cfg >> 1) & 3];
	r->shift = cfg >> 4 > 12 ? 12 : cfg >> 4;
	/* cipher.c's ktls_prot_init(), for the fields the parser reads */
	explicit = r->prot.version == TLS_1_2_VERSION &&
		   !r->prot.cipher->xor_nonce_12 ? r->prot.cipher->iv_size : 0;
	r->prot.explicit_nonce = explicit;
	r->prot.tail = r->prot.cipher->tag_size +
		       (r->prot.version == TLS_1_3_VERSION);
	r->prot.prepend = KTLS_HEADER_SIZE + explicit;
	r->max_rec = KTLS_HEADER_SIZE + KTLS_MAX_PAYLOAD + explicit +
		     r->prot.tail;
	r->min_rec = KTLS_HEADER_SIZE + explicit + r->prot.cipher->tag_size;
	r->rng = (uint32_t)data[1] << 24 | data[2] << 16 | data[3] << 8 |
		 data[4];
	r->rng = r->rng ? r->rng : 1;
	r->s = data + 5;
	r->len = size - 5;
	ref_framing(r);

	m.buf = malloc(r->max_rec);
	CHECK(m.buf, "out of memory");
	while (m.arrived < r->len && !m.stopped) {
		m.arrived += segment(r, r->len - m.arrived);
		while (parse(r, &m))
			take_record(r, &m);
	}
	CHECK(m.nrec == r->ref.nrec && m.err == r->ref.err,
	      "%zu records and error %d, expected %zu and %d", m.nrec,
	      m.err, r->ref.nrec, r->ref.err);
	free(m.buf);
	free(r);
	return 0;
}
