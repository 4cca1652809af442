// SPDX-License-Identifier: GPL-2.0
/*
 * ktls - software RX: record parser, decryption, delivery, poll.
 *
 * Records stay in the TCP receive queue until they are whole.  The parser
 * runs from sk_data_ready: it reads the 5-byte header at copied_seq,
 * validates it and marks the socket ready once tcp_inq() covers the whole
 * record; only then are readers woken, so poll never reports a partial
 * record as readable.  What to do with the bytes at hand (wait, judge the
 * header, take the whole record) and what a decrypted TLS 1.3 record holds
 * are decided by the pure functions of rx_parse.c; this file does what
 * they decide.
 *
 * recvmsg decrypts the record straight out of the skbs into a per-socket
 * plaintext buffer, consumes it from TCP with tcp_read_sock() and copies
 * plaintext out; a short read keeps the rest of the record for the next
 * call.  A record spread over too many skb fragments is first copied into
 * the same buffer and decrypted in place.
 *
 * The buffer (KTLS_RX_BUF_PAGES pages and the source scatterlist) exists
 * only while the socket has something to receive: it is allocated when a
 * record first needs it and freed, wiped, once a read leaves nothing
 * decrypted, staged or queued.  An idle socket holds no pages.  Staging
 * from softirq allocates atomically; when that fails, rx.stage_work
 * retries from process context, and only if that fails too is the
 * connection aborted with ENOMEM.
 *
 * TLS 1.3 NewSessionTicket: on a socket whose handshake went through the
 * upcall (ctx->hs), tickets are for the agent, which is done with the
 * socket by the time they arrive; a record holding only whole
 * NewSessionTicket messages is consumed here and counted in
 * TlsRxSessionTicket, so the application never sees it.  Elsewhere (keys
 * set by an application's own TLS library) it is a control record as any.
 *
 * TLS 1.3 KeyUpdate: a handshake record starting with a KeyUpdate message
 * is delivered as a control record; after it nothing more is parsed or
 * decrypted, reads fail with EKEYEXPIRED and poll shows no EPOLLIN, until
 * userspace installs the peer's next key with TLS_RX.
 *
 * Errors: a record that fails authentication or decryption leaves the
 * socket returning EBADMSG to every later read (sticky), and sets sk_err
 * so poll reports EPOLLERR.  A malformed header (EMSGSIZE, EBADMSG,
 * EINVAL; see ktls_rx_parse_header) stops the parser and is reported once
 * through sk_err, as the in-tree module does (rx_stop).  Either way nothing
 * outside the socket is affected.
 */
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/pipe_fs_i.h>
#include <linux/slab.h>
#include <linux/splice.h>
#include <linux/uio.h>
#include <net/tcp.h>

#include "ktls.h"

/* Sequence number of the first data byte of @skb. */
static u32 rx_skb_start(const struct sk_buff *skb)
{
	u32 start = TCP_SKB_CB(skb)->seq;

	if (TCP_SKB_CB(skb)->tcp_flags & TCPHDR_SYN)
		start++;
	return start;
}

/*
 * Allocate what is missing of the request and of the record buffer's
 * first @len bytes (the reader asks for its record's size; staging, for
 * all of it).
 */
static int rx_buf_get(struct ktls_ctx *ctx, u32 len, gfp_t gfp)
{
	struct ktls_rx *rx = &ctx->rx;
	unsigned int i, npages = DIV_ROUND_UP(len, PAGE_SIZE);
	struct mem_cgroup *memcg;
	int err = -ENOMEM;

	gfp |= KTLS_GFP_ACCOUNT;
	memcg = ktls_memcg_enter(ctx->sk);
	if (ktls_dir_get_req(&rx->d, &ctx->prot, gfp))
		goto out;
	if (!rx->sg_src) {
		rx->sg_src = kmalloc_array(KTLS_RX_SG_MAX + 1,
					   sizeof(*rx->sg_src), gfp);
		if (!rx->sg_src)
			goto out;
	}
	for (i = 0; i < min_t(unsigned int, npages, KTLS_RX_BUF_PAGES); i++) {
		if (rx->pages[i])
			continue;
		rx->pages[i] = alloc_page(gfp);
		if (!rx->pages[i])
			goto out;
	}
	err = 0;
out:
	ktls_memcg_exit(memcg);
	return err;
}

/* Note that [0, @end) of the buffer may hold data to wipe. */
static void rx_buf_dirty(struct ktls_rx *rx, u32 end)
{
	rx->buf_dirty = max(rx->buf_dirty, end);
}

static void rx_buf_free(struct ktls_rx *rx)
{
	unsigned int i;

	for (i = 0; i < KTLS_RX_BUF_PAGES; i++) {
		u32 start = i * PAGE_SIZE;

		if (!rx->pages[i])
			continue;
		/* Decrypted data is as private as the key. */
		if (rx->buf_dirty > start)
			memzero_explicit(page_address(rx->pages[i]),
					 min_t(u32, PAGE_SIZE,
					       rx->buf_dirty - start));
		__free_page(rx->pages[i]);
		rx->pages[i] = NULL;
	}
	rx->buf_dirty = 0;
	kfree(rx->sg_src);
	rx->sg_src = NULL;
	ktls_dir_put_req(&rx->d);
}

/* Copy @len bytes starting @off bytes past copied_seq. */
static int rx_peek(struct sock *sk, u32 off, void *to, u32 len)
{
	u32 seq = tcp_sk(sk)->copied_seq + off;
	struct sk_buff *skb;

	skb_queue_walk(&sk->sk_receive_queue, skb) {
		u32 start = rx_skb_start(skb), skb_off, n;

		if (!before(seq, start + skb->len))
			continue;
		skb_off = seq - start;
		n = min(len, skb->len - skb_off);
		if (skb_copy_bits(skb, skb_off, to, n))
			return -EFAULT;
		to += n;
		seq += n;
		len -= n;
		if (!len)
			return 0;
	}
	return -EAGAIN;
}

/* Map @len bytes starting @off past copied_seq into @sg, without copying. */
static int rx_skb_sg(struct sock *sk, struct scatterlist *sg, int max,
		     u32 off, u32 len)
{
	u32 seq = tcp_sk(sk)->copied_seq + off;
	struct sk_buff *skb;
	int n = 0;

	skb_queue_walk(&sk->sk_receive_queue, skb) {
		u32 start = rx_skb_start(skb), skb_off, chunk;
		int ret;

		if (!before(seq, start + skb->len))
			continue;
		if (skb_has_frag_list(skb) ||
		    n + 1 + skb_shinfo(skb)->nr_frags > max)
			return -EMSGSIZE;
		skb_off = seq - start;
		chunk = min(len, skb->len - skb_off);
		ret = skb_to_sgvec_nomark(skb, sg + n, skb_off, chunk);
		if (ret < 0)
			return ret;
		n += ret;
		seq += chunk;
		len -= chunk;
		if (!len)
			return n;
	}
	return -EAGAIN;
}

/*
 * Drop one record's bytes from the TCP queue; TCP then opens the window.
 * A peer's urgent pointer into the record is only a mark on a byte of it
 * here (TLS has no urgent data): tcp_read_sock() would stop there, so the
 * bytes are taken with tcp_read_done(), and the mark is dropped once read
 * past, as tcp_recvmsg() does.
 */
static void rx_consume(struct sock *sk, u32 len)
{
	struct tcp_sock *tp = tcp_sk(sk);

	/* A FIN right behind the record is consumed with it (copied_seq
	 * counts it, as tcp_recvmsg() does). */
	tcp_read_done(sk, len);
	if (unlikely(tp->urg_data) && after(tp->copied_seq, tp->urg_seq)) {
		WRITE_ONCE(tp->urg_data, 0);
		tcp_fast_path_check(sk);
	}
}

static void rx_fail(struct sock *sk, struct ktls_ctx *ctx, int err)
{
	WRITE_ONCE(ctx->rx.err, err);
	ktls_err_abort(sk, err);
}

/*
 * A malformed header stops the parser for good.  As in the in-tree module,
 * the error is reported through sk_err: the next read (or poll's EPOLLERR)
 * reports it once, and after that the socket has nothing to read (EAGAIN,
 * or end of stream once the peer closes).  Sends fail with it until then.
 */
static void rx_stop(struct sock *sk, struct ktls_ctx *ctx, int err)
{
	WRITE_ONCE(ctx->rx.stopped, true);
	ktls_err_abort(sk, err);
}

/* Address of buffer offset @off; *chunk: how much of @len fits in its page. */
static u8 *rx_buf_at(const struct ktls_rx *rx, u32 off, u32 len, u32 *chunk)
{
	u32 poff = off % PAGE_SIZE;

	*chunk = min_t(u32, len, PAGE_SIZE - poff);
	return (u8 *)page_address(rx->pages[off / PAGE_SIZE]) + poff;
}

static void rx_buf_read(const struct ktls_rx *rx, u32 off, u8 *to, u32 len)
{
	u32 chunk;

	while (len) {
		const u8 *from = rx_buf_at(rx, off, len, &chunk);

		memcpy(to, from, chunk);
		to += chunk;
		off += chunk;
		len -= chunk;
	}
}

/* Move @len bytes from the head of the TCP queue to the end of the staged
 * part of the record. */
static void rx_stage(struct sock *sk, struct ktls_rx *rx, u32 len)
{
	u32 done = 0, chunk;

	while (done < len) {
		u8 *to = rx_buf_at(rx, rx->staged + done, len - done, &chunk);

		/* Short only if TCP moved copied_seq under us (a peer's
		 * urgent data with SO_OOBINLINE turned off): the caller
		 * fails the stream. */
		if (rx_peek(sk, done, to, chunk))
			break;
		done += chunk;
	}
	rx_consume(sk, done);
	rx->staged += done;
	rx_buf_dirty(rx, rx->staged);
}

/*
 * Look at the record at the head of the stream.  Returns true when readers
 * should be woken (a whole record is there, or the stream is broken).
 * Called with the socket lock held (owned, or bh-locked from softirq).
 *
 * A record normally stays in the TCP queue until it is whole.  When TCP
 * cannot take the rest of it (receive buffer full or window closed), the
 * part that is there is staged: copied into rx->pages and consumed, so the
 * window reopens; the rest is staged as it arrives.  The buffer may also
 * hold plaintext not yet read, so staging waits until that is delivered.
 */
static bool rx_parse(struct sock *sk, struct ktls_ctx *ctx)
{
	struct ktls_rx *rx = &ctx->rx;
	u8 hdr[KTLS_HEADER_SIZE];
	enum ktls_rx_step step;
	u32 need, n;
	int avail, err;

	if (rx->ready || rx->err || rx->key_expired || rx->stopped)
		return false;
	avail = tcp_inq(sk);

	for (;;) {
		step = ktls_rx_frame(&ctx->prot, rx->rec_len,
				     rx->staged + avail, &need);
		/* A record being staged is staged up to what the step
		 * wants, or as far as the queue goes. */
		if (rx->staged) {
			n = min_t(u32, avail, need - rx->staged);
			if (n)
				rx_stage(sk, rx, n);
			avail -= n;
		}
		if (step == KTLS_RX_WHOLE)
			break;
		if (step == KTLS_RX_MORE) {
			if (rx->staged)
				return false;
			goto pressure;
		}
		/* KTLS_RX_HEADER, judged with its explicit nonce. */
		if (rx->staged)
			rx_buf_read(rx, 0, hdr, sizeof(hdr));
		else if (rx_peek(sk, 0, hdr, sizeof(hdr)))
			return false;
		err = ktls_rx_parse_header(&ctx->prot, hdr, &rx->rec_len);
		if (err) {
			rx_stop(sk, ctx, err);
			return true;
		}
	}
	WRITE_ONCE(rx->ready, true);
	return true;

pressure:
	if (avail > 0 && !rx->pt_len && tcp_epollin_ready(sk, INT_MAX)) {
		if (rx_buf_get(ctx, KTLS_RX_BUF_SIZE,
			       GFP_ATOMIC | __GFP_NOWARN))
			queue_work(system_wq, &rx->stage_work);
		else
			rx_stage(sk, rx, avail);
	}
	return false;
}

/* Staging found no memory in softirq: try again where we may sleep. */
static void rx_stage_work(struct work_struct *work)
{
	struct ktls_rx *rx = container_of(work, struct ktls_rx, stage_work);
	struct ktls_ctx *ctx = container_of(rx, struct ktls_ctx, rx);
	struct sock *sk = ctx->sk;

	lock_sock(sk);
	/* close() may have detached us since the work was queued. */
	if (rcu_access_pointer(inet_csk(sk)->icsk_ulp_data) == ctx) {
		if (rx_buf_get(ctx, KTLS_RX_BUF_SIZE, GFP_KERNEL)) {
			net_warn_ratelimited("ktls: no memory for a receive buffer: aborting the connection\n");
			rx_fail(sk, ctx, -ENOMEM);
			ctx->sk_data_ready(sk);
		} else if (rx_parse(sk, ctx)) {
			ctx->sk_data_ready(sk);
		}
	}
	release_sock(sk);
}

static void ktls_rx_sw_data_ready(struct sock *sk)
{
	struct ktls_ctx *ctx = ktls_get_ctx(sk);

	if (rx_parse(sk, ctx))
		ctx->sk_data_ready(sk);
}

/* Describe [off, off + len) of the record buffer, after the AAD. */
static void rx_buf_sg(struct ktls_rx *rx, struct scatterlist *sg,
		      const struct ktls_prot *prot, u32 off, u32 len)
{
	unsigned int n = 1;

	sg_init_table(sg, KTLS_RX_BUF_PAGES + 1);
	sg_set_buf(&sg[0], rx->d.aad, prot->aad_size);
	while (len) {
		u32 poff = off % PAGE_SIZE;
		u32 chunk = min_t(u32, len, PAGE_SIZE - poff);

		sg_set_page(&sg[n++], rx->pages[off / PAGE_SIZE], chunk, poff);
		off += chunk;
		len -= chunk;
	}
	sg_mark_end(&sg[n - 1]);
}

/* The buffer's pages as a view for rx_parse.c; only allocated pages are
 * mapped, and only those are read. */
static void rx_buf_view(const struct ktls_rx *rx, struct ktls_rx_view *v,
			const u8 **chunk)
{
	unsigned int i;

	for (i = 0; i < KTLS_RX_BUF_PAGES; i++)
		chunk[i] = rx->pages[i] ? page_address(rx->pages[i]) : NULL;
	v->chunk = chunk;
	v->shift = PAGE_SHIFT;
}

/* Run the AEAD over one record: @src holds the AAD slot then the
 * ciphertext and tag, @dst the AAD slot then room for the plaintext. */
static int rx_crypt(struct sock *sk, struct ktls_ctx *ctx, const u8 *prepend,
		    struct scatterlist *src, struct scatterlist *dst,
		    u32 ct_len)
{
	const struct ktls_prot *prot = &ctx->prot;
	struct ktls_dir *d = &ctx->rx.d;
	u8 nonce[KTLS_NONCE_SIZE], iv[KTLS_IV_MAX];
	int err;

	ktls_dir_nonce(d, prot, nonce);
	if (prot->explicit_nonce)
		memcpy(nonce + prot->cipher->salt_size,
		       prepend + KTLS_HEADER_SIZE, prot->explicit_nonce);
	ktls_dir_aad(d, prot, prepend[0], ct_len - prot->cipher->tag_size,
		     prepend);
	ktls_req_iv(prot, nonce, iv);
	aead_request_set_crypt(d->req, src, dst, ct_len, iv);
	err = crypto_wait_req(crypto_aead_decrypt(d->req), &d->wait);
	memzero_explicit(nonce, sizeof(nonce));
	memzero_explicit(iv, sizeof(iv));
	if (err == -EBADMSG)
		ktls_stat_inc(sk, KTLS_STAT_DECRYPT_ERROR);
	return err;
}

/* The ready record was decrypted: drop its ciphertext, advance. */
static void rx_record_done(struct sock *sk, struct ktls_ctx *ctx)
{
	struct ktls_rx *rx = &ctx->rx;

	if (!rx->staged)
		rx_consume(sk, rx->rec_len);
	rx->rec_len = 0;
	rx->staged = 0;
	WRITE_ONCE(rx->ready, false);
	ktls_dir_advance(&rx->d, &ctx->prot);
}

/*
 * Decrypt the ready record.  One still in the TCP queue is decrypted
 * straight from the skbs into the buffer, then consumed; a staged one (or
 * one too fragmented to map, which is staged first) is decrypted in place.
 */
static int rx_decrypt(struct sock *sk, struct ktls_ctx *ctx)
{
	const struct ktls_prot *prot = &ctx->prot;
	struct ktls_rx *rx = &ctx->rx;
	struct ktls_dir *d = &rx->d;
	u8 prepend[KTLS_HEADER_SIZE + KTLS_SEQ_SIZE];
	struct scatterlist *src = rx->sg_src;
	u32 ct_len, plain_len, base;
	u8 type;
	int n, err;

	if (d->exhausted)
		return -EBADMSG;
	ct_len = rx->rec_len - prot->prepend;
	plain_len = ct_len - prot->cipher->tag_size;

	if (!rx->staged) {
		sg_init_table(src, KTLS_RX_SG_MAX + 1);
		sg_set_buf(&src[0], d->aad, prot->aad_size);
		n = rx_skb_sg(sk, src + 1, KTLS_RX_SG_MAX, prot->prepend,
			      ct_len);
		if (n > 0) {
			sg_mark_end(&src[n]);
			if (rx_peek(sk, 0, prepend, prot->prepend))
				return -EBADMSG;
		} else {
			rx_stage(sk, rx, rx->rec_len);
			if (rx->staged != rx->rec_len)
				return -EBADMSG;
		}
	}
	if (rx->staged) {
		rx_buf_read(rx, 0, prepend, prot->prepend);
		base = prot->prepend;
		rx_buf_sg(rx, rx->sg_dst, prot, base, ct_len);
		src = rx->sg_dst;
	} else {
		base = 0;
		rx_buf_sg(rx, rx->sg_dst, prot, base, plain_len);
	}

	rx_buf_dirty(rx, base + ct_len);
	err = rx_crypt(sk, ctx, prepend, src, rx->sg_dst, ct_len);
	if (err)
		return err;
	rx_record_done(sk, ctx);

	type = prepend[0];
	if (prot->version == TLS_1_3_VERSION) {
		const u8 *chunk[KTLS_RX_BUF_PAGES];
		struct ktls_rx_view v;

		rx_buf_view(rx, &v, chunk);
		err = ktls_rx_strip_padding(&v, base, &plain_len, &type);
		if (err)
			return err;
		/* The peer's next record uses its next key: stop here until
		 * userspace installs it. */
		if (ktls_rx_key_update(&v, base, plain_len, type)) {
			rx->key_expired = true;
			ktls_stat_inc(sk, KTLS_STAT_RX_REKEY_RECEIVED);
		} else if (type == KTLS_TYPE_HANDSHAKE && ctx->hs &&
			   ktls_rx_only_tickets(&v, base, plain_len)) {
			/* Nothing to deliver: the reader goes on to the
			 * next record. */
			ktls_stat_inc(sk, KTLS_STAT_RX_SESSION_TICKET);
			plain_len = 0;
			type = KTLS_TYPE_DATA;
		}
	}
	rx->pt_type = type;
	rx->pt_off = base;
	WRITE_ONCE(rx->pt_len, plain_len);
	return 0;
}

/*
 * Zero-copy receive: decrypt the ready record straight into the reader's
 * buffer, which must take all of it.  TLS 1.2 data records always qualify.
 * In TLS 1.3 the inner type (the last plaintext byte, caught in zc_tail)
 * and any padding are known only after decryption, so it is a guess: a
 * record that turns out padded or not data is undone (the buffer wiped,
 * the iterator rewound, the ciphertext still queued) and counted as a
 * retry.  With TLS_RX_EXPECT_NO_PAD the guess is made for every record, as
 * the application promised; without it, until the peer pads a record
 * (zc_padded), after which its records take the copying path at once.
 * Returns the plaintext length, -EAGAIN when the copying path must take
 * the record, or another negative errno.
 */
static int rx_decrypt_zc(struct sock *sk, struct ktls_ctx *ctx,
			 struct iov_iter *to, size_t room)
{
	const struct ktls_prot *prot = &ctx->prot;
	struct ktls_rx *rx = &ctx->rx;
	bool tls13 = prot->version == TLS_1_3_VERSION;
	u32 ct_len = rx->rec_len - prot->prepend;
	/* A TLS 1.3 record without room for its inner type is left to the
	 * copying path, which fails it. */
	u32 user_len = max_t(int, (int)ct_len - prot->cipher->tag_size -
				  tls13, 0);
	u8 prepend[KTLS_HEADER_SIZE + KTLS_SEQ_SIZE];
	struct scatterlist dst[KTLS_RX_ZC_SG + 2];
	struct page *pages[KTLS_RX_ZC_SG];
	struct scatterlist *src = rx->sg_src;
	unsigned int npages = 0, nsg = 0, i;
	size_t pinned = 0;
	int n, err;

	if (rx->d.exhausted || !user_len || user_len > room)
		return -EAGAIN;
	if (rx->staged) {
		rx_buf_read(rx, 0, prepend, prot->prepend);
		rx_buf_sg(rx, rx->sg_dst, prot, prot->prepend, ct_len);
		src = rx->sg_dst;
	} else {
		if (rx_peek(sk, 0, prepend, prot->prepend))
			return -EAGAIN;
		sg_init_table(src, KTLS_RX_SG_MAX + 1);
		sg_set_buf(&src[0], rx->d.aad, prot->aad_size);
		n = rx_skb_sg(sk, src + 1, KTLS_RX_SG_MAX, prot->prepend,
			      ct_len);
		if (n <= 0)
			return -EAGAIN;
		sg_mark_end(&src[n]);
	}
	if (prepend[0] != KTLS_TYPE_DATA)
		return -EAGAIN;

	sg_init_table(dst, ARRAY_SIZE(dst));
	sg_set_buf(&dst[0], rx->d.aad, prot->aad_size);
	while (pinned < user_len) {
		unsigned int got_pages;
		size_t start;
		ssize_t got;

		if (npages == KTLS_RX_ZC_SG) {
			err = -EAGAIN;
			goto undo;
		}
		got = iov_iter_get_pages2(to, pages + npages,
					  user_len - pinned,
					  KTLS_RX_ZC_SG - npages, &start);
		if (got <= 0) {
			/* A bad buffer: the copying path reports EFAULT
			 * and keeps the record. */
			err = -EAGAIN;
			goto undo;
		}
		pinned += got;
		got_pages = DIV_ROUND_UP(start + got, PAGE_SIZE);
		for (i = 0; i < got_pages; i++) {
			size_t chunk = min_t(size_t, got, PAGE_SIZE - start);

			sg_set_page(&dst[1 + nsg++], pages[npages + i], chunk,
				    start);
			got -= chunk;
			start = 0;
		}
		npages += got_pages;
	}
	if (tls13)
		sg_set_buf(&dst[1 + nsg++], &rx->zc_tail, 1);
	sg_mark_end(&dst[nsg]);

	err = rx_crypt(sk, ctx, prepend, src, dst, ct_len);
	if (!err && tls13 && rx->zc_tail != KTLS_TYPE_DATA) {
		if (!rx->zc_tail && rx->no_pad)
			ktls_stat_inc(sk, KTLS_STAT_RX_NO_PAD_VIOLATION);
		else if (!rx->zc_tail)
			rx->zc_padded = true;
		ktls_stat_inc(sk, KTLS_STAT_DECRYPT_RETRY);
		err = -EAGAIN;
	}
	if (err) {
		/* Neither unauthenticated bytes nor a record the reader
		 * was not given stay in its buffer. */
		sg_zero_buffer(dst + 1, nsg, user_len, 0);
		goto undo;
	}
	for (i = 0; i < npages; i++) {
		set_page_dirty_lock(pages[i]);
		put_page(pages[i]);
	}
	rx_record_done(sk, ctx);
	return user_len;

undo:
	for (i = 0; i < npages; i++)
		put_page(pages[i]);
	iov_iter_revert(to, pinned);
	return err;
}

/*
 * Wait for a whole record.  Returns 1 when one is ready, 0 at end of
 * stream, or a negative errno.
 */
static int rx_wait(struct sock *sk, struct ktls_ctx *ctx, long *timeo)
{
	DEFINE_WAIT_FUNC(wait, woken_wake_function);
	struct ktls_rx *rx = &ctx->rx;

	for (;;) {
		if (rx->key_expired)
			return -EKEYEXPIRED;
		rx_parse(sk, ctx);
		if (rx->err)
			return rx->err;
		if (rx->ready)
			return 1;
		if (sk->sk_err)
			return sock_error(sk);
		if (sk->sk_shutdown & RCV_SHUTDOWN)
			return 0;
		if (sock_flag(sk, SOCK_DONE))
			return 0;
		if (!*timeo)
			return -EAGAIN;
		if (signal_pending(current))
			return sock_intr_errno(*timeo);

		add_wait_queue(sk_sleep(sk), &wait);
		sk_set_bit(SOCKWQ_ASYNC_WAITDATA, sk);
		sk_wait_event(sk, timeo,
			      READ_ONCE(rx->ready) || READ_ONCE(rx->err) ||
			      READ_ONCE(sk->sk_err) ||
			      (READ_ONCE(sk->sk_shutdown) & RCV_SHUTDOWN),
			      &wait);
		sk_clear_bit(SOCKWQ_ASYNC_WAITDATA, sk);
		remove_wait_queue(sk_sleep(sk), &wait);
	}
}

/* A decrypted piece the reader may get next: a held record, or pt. */
struct rx_seg {
	struct ktls_rx_rec *rec;	/* NULL: pt, in the buffer's pages */
	u8 type;
	u32 len;
};

/*
 * The decrypted piece after @prev (NULL: the first one): the held records
 * in order, then pt.  False when there is none.
 */
static bool rx_next_seg(struct ktls_rx *rx, const struct rx_seg *prev,
			struct rx_seg *seg)
{
	struct ktls_rx_rec *rec;

	if (prev && !prev->rec)
		return false;
	if (!prev)
		rec = list_first_entry_or_null(&rx->held, struct ktls_rx_rec,
					       list);
	else if (list_is_last(&prev->rec->list, &rx->held))
		rec = NULL;
	else
		rec = list_next_entry(prev->rec, list);
	if (rec) {
		*seg = (struct rx_seg){ .rec = rec, .type = rec->type,
					.len = rec->len };
		return true;
	}
	if (!rx->pt_len)
		return false;
	*seg = (struct rx_seg){ .type = rx->pt_type, .len = rx->pt_len };
	return true;
}

/*
 * Copy out of a piece.  copy_to_iter() rather than copy_page_to_iter(): a
 * pipe must get a copy, never a reference to pages the next record will
 * overwrite.
 */
static size_t rx_seg_copy(const struct ktls_rx *rx, const struct rx_seg *seg,
			  struct iov_iter *to, u32 n)
{
	size_t done = 0;

	if (seg->rec)
		return copy_to_iter(seg->rec->data + seg->rec->off, n, to);
	while (done < n) {
		u32 chunk;
		const u8 *from = rx_buf_at(rx, rx->pt_off + done, n - done,
					   &chunk);
		size_t got = copy_to_iter(from, chunk, to);

		done += got;
		if (got != chunk)
			break;
	}
	return done;
}

static void rx_rec_free(struct ktls_rx_rec *rec)
{
	/* Decrypted data is as private as the key. */
	kvfree_sensitive(rec, struct_size(rec, data, rec->off + rec->len));
}

static void rx_seg_consume(struct ktls_rx *rx, const struct rx_seg *seg,
			   u32 n)
{
	struct ktls_rx_rec *rec = seg->rec;

	if (!rec) {
		rx->pt_off += n;
		WRITE_ONCE(rx->pt_len, rx->pt_len - n);
		return;
	}
	rec->off += n;
	rec->len -= n;
	WRITE_ONCE(rx->held_bytes, rx->held_bytes - n);
	if (!rec->len) {
		list_del(&rec->list);
		rx_rec_free(rec);
	}
}

/* MSG_PEEK wants the record after pt: move pt to the end of the held list
 * so that the buffer can take the next one. */
static struct ktls_rx_rec *rx_hold_pt(struct ktls_rx *rx)
{
	struct ktls_ctx *ctx = container_of(rx, struct ktls_ctx, rx);
	struct mem_cgroup *memcg;
	struct ktls_rx_rec *rec;

	memcg = ktls_memcg_enter(ctx->sk);
	rec = kvmalloc(struct_size(rec, data, rx->pt_len), GFP_KERNEL_ACCOUNT);
	ktls_memcg_exit(memcg);
	if (!rec)
		return NULL;
	rec->off = 0;
	rec->len = rx->pt_len;
	rec->type = rx->pt_type;
	rx_buf_read(rx, rx->pt_off, rec->data, rec->len);
	list_add_tail(&rec->list, &rx->held);
	WRITE_ONCE(rx->held_bytes, rx->held_bytes + rec->len);
	WRITE_ONCE(rx->pt_len, 0);
	return rec;
}

/*
 * The first piece of a read fixes its record type; one read never mixes
 * types and returns a control record on its own.  recvmsg reports the type
 * in a TLS_GET_RECORD_TYPE cmsg (EIO for a control record the caller has
 * no room for); splice takes data only (EINVAL).  The record stays queued
 * on either error.  Returns 0 to go on, 1 to stop before this piece.
 */
static int rx_check_type(struct msghdr *msg, u8 *ctype, u8 type, bool splice)
{
	int err;

	if (*ctype)
		return *ctype == type ? 0 : 1;
	if (splice) {
		if (type != KTLS_TYPE_DATA)
			return -EINVAL;
		*ctype = type;
		return 0;
	}
	*ctype = type;
	err = put_cmsg(msg, SOL_TLS, TLS_GET_RECORD_TYPE, sizeof(type), &type);
	if (type != KTLS_TYPE_DATA && (err || (msg->msg_flags & MSG_CTRUNC)))
		return -EIO;
	return 0;
}

/*
 * One reader at a time, for the whole call, waits included: a reader that
 * sleeps for data releases the socket lock, and a second one slipping in
 * would take the bytes between two pieces of the first one's read, or
 * decrypt over a record the first has not finished.  Called and returns
 * with the socket lock held; honours the caller's timeout and signals.
 */
static int rx_reader_enter(struct sock *sk, struct ktls_rx *rx, long *timeo)
{
	DEFINE_WAIT_FUNC(wait, woken_wake_function);

	while (rx->reader) {
		if (!*timeo)
			return -EAGAIN;
		if (signal_pending(current))
			return sock_intr_errno(*timeo);
		add_wait_queue(&rx->reader_wq, &wait);
		sk_wait_event(sk, timeo, !READ_ONCE(rx->reader), &wait);
		remove_wait_queue(&rx->reader_wq, &wait);
	}
	rx->reader = true;
	return 0;
}

static void rx_reader_exit(struct ktls_rx *rx)
{
	WRITE_ONCE(rx->reader, false);
	wake_up(&rx->reader_wq);
}

/*
 * The read side of recvmsg and splice.  Decrypted pieces go first (held
 * records, then pt); then records are decrypted as they become whole,
 * straight into the reader's buffer when it can take one (rx_decrypt_zc).
 * A peek copies without consuming and may decrypt records ahead, holding
 * them, up to SO_RCVBUF bytes.
 */
static int rx_read(struct sock *sk, struct ktls_ctx *ctx, struct msghdr *msg,
		   size_t len, int flags, bool splice)
{
	struct ktls_rx *rx = &ctx->rx;
	bool peek = flags & MSG_PEEK;
	struct rx_seg seg, cursor;
	bool have_cursor = false;
	size_t copied = 0;
	u8 ctype = 0;
	int target, err = 0;
	long timeo;

	lock_sock(sk);
	timeo = sock_rcvtimeo(sk, flags & MSG_DONTWAIT);
	target = sock_rcvlowat(sk, flags & MSG_WAITALL, len);
	err = rx_reader_enter(sk, rx, &timeo);
	if (err) {
		release_sock(sk);
		return err;
	}

	while (copied < len) {
		size_t n, got;

		if (!rx_next_seg(rx, peek && have_cursor ? &cursor : NULL,
				 &seg)) {
			if (copied >= target) {
				rx_parse(sk, ctx);
				if (!rx->ready)
					break;
			}
			if (peek && rx->pt_len) {
				if (rx->held_bytes + rx->pt_len >
				    READ_ONCE(sk->sk_rcvbuf))
					break;
				cursor.rec = rx_hold_pt(rx);
				if (!cursor.rec) {
					err = -ENOMEM;
					break;
				}
				have_cursor = true;
			}
			err = rx_wait(sk, ctx, copied >= target ? &(long){0} :
				      &timeo);
			if (err <= 0)
				break;
			/* Not sticky: the record stays queued. */
			err = rx_buf_get(ctx, rx->rec_len, GFP_KERNEL);
			if (err)
				break;
			if (!peek && !splice &&
			    user_backed_iter(&msg->msg_iter) &&
			    (ctx->prot.version == TLS_1_2_VERSION ||
			     rx->no_pad || !rx->zc_padded)) {
				err = rx_decrypt_zc(sk, ctx, &msg->msg_iter,
						    len - copied);
				if (err > 0) {
					copied += err;
					err = rx_check_type(msg, &ctype,
							    KTLS_TYPE_DATA,
							    false);
					if (err < 0)
						break;
					continue;
				}
				if (err != -EAGAIN) {
					rx_fail(sk, ctx, err);
					break;
				}
			}
			err = rx_decrypt(sk, ctx);
			if (err) {
				rx_fail(sk, ctx, err);
				break;
			}
			continue;
		}

		err = rx_check_type(msg, &ctype, seg.type, splice);
		if (err) {
			if (err > 0)
				err = 0;
			break;
		}
		n = min_t(size_t, len - copied, seg.len);
		got = rx_seg_copy(rx, &seg, &msg->msg_iter, n);
		copied += got;
		if (peek) {
			cursor = seg;
			have_cursor = true;
		} else {
			rx_seg_consume(rx, &seg, got);
		}
		if (got != n) {
			/* The splice core sized the pipe's iterator to the
			 * room in the pipe (ktls_splice_to_pipe): a short
			 * copy means a page for it could not be allocated. */
			err = splice ? -ENOMEM : -EFAULT;
			break;
		}
		/* A control record is returned on its own. */
		if (ctype != KTLS_TYPE_DATA)
			break;
	}

	/* The next record may be whole already (no data_ready will come
	 * for it), or may now be stageable. */
	if (!rx->pt_len && rx_parse(sk, ctx))
		ctx->sk_data_ready(sk);
	/* Nothing left to receive: give the buffer back. */
	if (!rx->pt_len && !rx->staged && !tcp_inq(sk))
		rx_buf_free(rx);
	rx_reader_exit(rx);
	release_sock(sk);
	return copied ? copied : err;
}

static int ktls_rx_sw_recvmsg(struct sock *sk, struct msghdr *msg, size_t len,
			   int flags, int *addr_len)
{
	if (unlikely(flags & MSG_ERRQUEUE))
		return sock_recv_errqueue(sk, msg, len, SOL_IP, IP_RECVERR);
	return rx_read(sk, ktls_get_ctx(sk), msg, len, flags, false);
}

/* splice(2) from the socket: decrypted data records, copied into the pipe;
 * a control record at the head fails with EINVAL and stays queued. */
static int rx_splice_fill(struct sock *sk, struct msghdr *msg, size_t len,
			  int flags)
{
	return rx_read(sk, ktls_get_ctx(sk), msg, len, flags, true);
}

static ssize_t ktls_rx_sw_splice_read(struct sock *sk,
				   struct pipe_inode_info *pipe, size_t len,
				   unsigned int flags)
{
	return ktls_splice_to_pipe(sk, pipe, len,
				flags & SPLICE_F_NONBLOCK ? MSG_DONTWAIT : 0,
				rx_splice_fill);
}

static bool ktls_rx_sw_readable(struct ktls_ctx *ctx)
{
	return READ_ONCE(ctx->rx.pt_len) || READ_ONCE(ctx->rx.held_bytes) ||
	       READ_ONCE(ctx->rx.ready) || READ_ONCE(ctx->rx.err);
}

/*
 * tcp_poll() reports EPOLLIN for any byte in the TCP queue; with a receive
 * key only a whole record (or an error, or end of stream) is readable.
 */
static __poll_t ktls_rx_sw_poll(struct file *file, struct socket *sock,
				struct poll_table_struct *wait)
{
	struct sock *sk = sock->sk;
	__poll_t mask = tcp_poll(file, sock, wait);

	if ((mask & EPOLLIN) && !(READ_ONCE(sk->sk_shutdown) & RCV_SHUTDOWN) &&
	    !ktls_rx_sw_readable(ktls_get_ctx(sk)))
		mask &= ~(EPOLLIN | EPOLLRDNORM);
	return mask;
}

static void ktls_rx_sw_free(struct ktls_ctx *ctx)
{
	struct ktls_rx *rx = &ctx->rx;
	struct ktls_rx_rec *rec, *tmp;

	list_for_each_entry_safe(rec, tmp, &rx->held, list) {
		list_del(&rec->list);
		rx_rec_free(rec);
	}
	rx->held_bytes = 0;
	/* Detached already: nothing queues the work again. */
	cancel_work_sync(&rx->stage_work);
	rx_buf_free(rx);
	ktls_dir_free(&rx->d);
}

/* The direction's state.  ulp.c attaches the socket afterwards, and
 * sockopt.c then calls data_ready for records that came before the key. */
static int ktls_rx_sw_init(struct sock *sk, struct ktls_ctx *ctx)
{
	struct ktls_rx *rx = &ctx->rx;

	INIT_LIST_HEAD(&rx->held);
	rx->held_bytes = 0;
	rx->reader = false;
	init_waitqueue_head(&rx->reader_wq);
	INIT_WORK(&rx->stage_work, rx_stage_work);
	rx->buf_dirty = 0;
	rx->zc_padded = false;
	rx->rec_len = 0;
	rx->staged = 0;
	rx->ready = false;
	rx->key_expired = false;
	rx->stopped = false;
	rx->err = 0;
	rx->pt_len = 0;
	return 0;
}

/*
 * TLS 1.3 KeyUpdate on RX: records from the next one on are decrypted with
 * the new key, including those already queued behind the KeyUpdate.
 */
static int ktls_rx_sw_rekey(struct sock *sk, struct ktls_ctx *ctx,
			    const struct tls_crypto_info *info)
{
	struct ktls_rx *rx = &ctx->rx;
	int err;

	if (rx->err)
		return rx->err;
	err = ktls_dir_rekey(&rx->d, &ctx->prot, info);
	if (err)
		return err;
	rx->key_expired = false;
	if (rx_parse(sk, ctx))
		ctx->sk_data_ready(sk);
	return 0;
}

const struct ktls_rx_ops ktls_rx_sw_ops = {
	.conf		= KTLS_CONF_SW,
	.stat_new	= KTLS_STAT_RX_SW,
	.stat_curr	= KTLS_STAT_CURR_RX_SW,
	.init		= ktls_rx_sw_init,
	.rekey		= ktls_rx_sw_rekey,
	.recvmsg	= ktls_rx_sw_recvmsg,
	.splice_read	= ktls_rx_sw_splice_read,
	.poll		= ktls_rx_sw_poll,
	.readable	= ktls_rx_sw_readable,
	.data_ready	= ktls_rx_sw_data_ready,
	.free		= ktls_rx_sw_free,
};
