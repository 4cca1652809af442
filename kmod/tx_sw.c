// SPDX-License-Identifier: GPL-2.0
/*
 * ktls - software TX: build, encrypt and push records.
 *
 * A record is built in pages taken from the socket's own page_frag:
 *
 *   frags[0]                        frags[1..]
 *   | header | explicit nonce | plaintext ...... | inner type | tag |
 *   '------ prepend -------'
 *
 * Plaintext is copied once from the caller, encrypted in place, and the
 * pages are handed to TCP with do_tcp_sendpages(), which takes its own
 * page references: no second copy and no per-record allocation beyond the
 * page_frag refills.  Each frag holds a page reference of ours until TCP
 * has taken the whole record.
 *
 * At most one record exists at a time: it is open (taking plaintext) or
 * sealed (encrypted, partly handed to TCP).  A sealed record is always
 * finished before a new one is opened, so records never interleave.
 */
#include <linux/kernel.h>
#include <linux/uio.h>
#include <linux/bvec.h>
#include <net/tcp.h>

#include "ktls.h"

static void tx_put_frags(struct ktls_tx *tx)
{
	unsigned int i;

	for (i = 0; i < tx->nfrags; i++)
		put_page(tx->frags[i].page);
	tx->nfrags = 0;
	tx->open = false;
	tx->sealed = false;
	tx->len = 0;
	tx->push_frag = 0;
	tx->push_off = 0;
}

/*
 * Find room for up to @want more bytes at the end of the record, using at
 * most @max_frags frags.  Returns the number of contiguous bytes available
 * at *dst (at least min(want, PAGE_SIZE) when a new page is needed) or a
 * negative errno.  The caller commits what it used with tx_commit().
 */
static int tx_room(struct sock *sk, struct ktls_tx *tx, u32 want, u8 **dst,
		   unsigned int max_frags)
{
	struct page_frag *pf = &tx->pfrag;
	struct ktls_frag *last = tx->nfrags ? &tx->frags[tx->nfrags - 1] :
				 NULL;

	if (last && pf->page == last->page &&
	    pf->offset == last->off + last->len && pf->offset < pf->size) {
		*dst = (u8 *)page_address(pf->page) + pf->offset;
		return min_t(u32, want, pf->size - pf->offset);
	}
	if (tx->nfrags >= max_frags)
		return -ENOSPC;
	if (!skb_page_frag_refill(min_t(u32, want, PAGE_SIZE), pf,
				  sk->sk_allocation)) {
		sk_stream_moderate_sndbuf(sk);
		return -ENOMEM;
	}
	last = &tx->frags[tx->nfrags++];
	last->page = pf->page;
	last->off = pf->offset;
	last->len = 0;
	get_page(pf->page);
	*dst = (u8 *)page_address(pf->page) + pf->offset;
	return min_t(u32, want, pf->size - pf->offset);
}

static void tx_commit(struct ktls_tx *tx, u32 n)
{
	tx->frags[tx->nfrags - 1].len += n;
	tx->pfrag.offset += n;
}

/* Take back the last @n bytes appended (a seal that could not finish). */
static void tx_trim(struct ktls_tx *tx, u32 n)
{
	while (n) {
		struct ktls_frag *last = &tx->frags[tx->nfrags - 1];
		u32 k = min(n, last->len);

		if (tx->pfrag.page == last->page &&
		    tx->pfrag.offset == last->off + last->len)
			tx->pfrag.offset -= k;
		last->len -= k;
		n -= k;
		if (!last->len && tx->nfrags > 1) {
			put_page(last->page);
			tx->nfrags--;
		}
	}
}

/* Data may not use the last frags: sealing needs them for the tail. */
#define KTLS_TX_DATA_FRAGS	(KTLS_TX_FRAGS - 2)

/* Append @n bytes to the record, from @from or (if NULL) uninitialised. */
static int tx_put(struct sock *sk, struct ktls_tx *tx, struct iov_iter *from,
		  u32 n, u32 *done, unsigned int max_frags)
{
	u8 *dst;
	int room;

	*done = 0;
	while (*done < n) {
		room = tx_room(sk, tx, n - *done, &dst, max_frags);
		if (room < 0)
			return room;
		if (from) {
			size_t got = copy_from_iter(dst, room, from);

			tx_commit(tx, got);
			*done += got;
			if (got != room)
				return -EFAULT;
		} else {
			tx_commit(tx, room);
			*done += room;
		}
	}
	return 0;
}

static int tx_open(struct sock *sk, struct ktls_ctx *ctx, u8 type)
{
	struct ktls_tx *tx = &ctx->tx;
	u32 done;
	int err;

	err = tx_put(sk, tx, NULL, ctx->prot.prepend, &done,
		     KTLS_TX_DATA_FRAGS);
	if (err) {
		tx_put_frags(tx);
		return err;
	}
	tx->open = true;
	tx->type = type;
	tx->len = 0;
	return 0;
}

/*
 * Encrypt the open record in place; it becomes sealed.  If there is no
 * memory for the tail, the record stays open as it was and -ENOMEM is
 * returned; any other failure is fatal for the socket.
 */
static int tx_seal(struct sock *sk, struct ktls_ctx *ctx)
{
	const struct ktls_prot *prot = &ctx->prot;
	struct ktls_tx *tx = &ctx->tx;
	struct ktls_dir *d = &tx->d;
	u32 plain = tx->len, tail = 0, done, ct_len;
	u8 nonce[KTLS_NONCE_SIZE], iv[KTLS_IV_MAX];
	struct scatterlist *sg;
	unsigned int i, n;
	u8 *hdr, *dst;
	int err;

	if (d->exhausted)
		return -EBADMSG;

	if (prot->version == TLS_1_3_VERSION) {
		err = tx_room(sk, tx, 1, &dst, KTLS_TX_FRAGS);
		if (err < 0)
			return err;
		*dst = tx->type;
		tx_commit(tx, 1);
		plain++;
		tail++;
	}
	err = tx_put(sk, tx, NULL, prot->cipher->tag_size, &done,
		     KTLS_TX_FRAGS);
	tail += done;
	if (err) {
		tx_trim(tx, tail);
		return err;
	}

	/* tx_open() got the prepend in one piece at the start of frags[0]. */
	hdr = (u8 *)page_address(tx->frags[0].page) + tx->frags[0].off;
	ct_len = prot->explicit_nonce + plain + prot->cipher->tag_size;
	hdr[0] = prot->version == TLS_1_3_VERSION ? KTLS_TYPE_DATA : tx->type;
	hdr[1] = TLS_1_2_VERSION_MAJOR;
	hdr[2] = TLS_1_2_VERSION_MINOR;
	hdr[3] = ct_len >> 8;
	hdr[4] = ct_len & 0xff;
	memcpy(hdr + KTLS_HEADER_SIZE, d->nonce + prot->cipher->salt_size,
	       prot->explicit_nonce);

	ktls_dir_aad(d, prot, tx->type, tx->len, hdr);
	ktls_dir_nonce(d, prot, nonce);

	/* [aad][plaintext ... tail] with the prepend skipped. */
	sg = tx->sg;
	sg_init_table(sg, tx->nfrags + 1);
	sg_set_buf(&sg[0], d->aad, prot->aad_size);
	n = 1;
	for (i = 0; i < tx->nfrags; i++) {
		u32 off = tx->frags[i].off, len = tx->frags[i].len;

		if (i == 0) {
			off += prot->prepend;
			len -= prot->prepend;
			if (!len)
				continue;
		}
		sg_set_page(&sg[n++], tx->frags[i].page, len, off);
	}
	sg_mark_end(&sg[n - 1]);

	ktls_req_iv(prot, nonce, iv);
	aead_request_set_crypt(d->req, sg, sg, plain, iv);
	err = crypto_wait_req(crypto_aead_encrypt(d->req), &d->wait);
	memzero_explicit(nonce, sizeof(nonce));
	memzero_explicit(iv, sizeof(iv));
	if (err) {
		net_warn_ratelimited("ktls: record encryption failed: %d\n",
				     err);
		return err;
	}
	/* A wrapped sequence number only stops the records after this one. */
	ktls_dir_advance(d, prot);
	tx->open = false;
	tx->sealed = true;
	tx->push_frag = 0;
	tx->push_off = 0;
	return 0;
}

/*
 * Hand the sealed record to TCP.  Returns 0 once TCP holds all of it, or a
 * negative errno (-EAGAIN when the socket is full and we may not wait);
 * what was handed over stays handed over.
 */
static int tx_push(struct sock *sk, struct ktls_tx *tx, int flags)
{
	while (tx->push_frag < tx->nfrags) {
		struct ktls_frag *f = &tx->frags[tx->push_frag];
		int fl = flags;
		ssize_t ret;

		if (tx->push_frag + 1 < tx->nfrags)
			fl |= MSG_SENDPAGE_NOTLAST;
		tx->in_push = true;
		ret = do_tcp_sendpages(sk, f->page, f->off + tx->push_off,
				       f->len - tx->push_off, fl);
		tx->in_push = false;
		if (ret <= 0)
			return ret ? ret : -EAGAIN;
		tx->push_off += ret;
		if (tx->push_off == f->len) {
			tx->push_frag++;
			tx->push_off = 0;
		}
	}
	tx_put_frags(tx);
	return 0;
}

/*
 * A sealed record TCP did not take all of waits for the next push.  When
 * TCP was out of room, write_space starts it once room frees up; when TCP
 * had room and failed anyway (an allocation), no write_space is coming, so
 * retry after a while, as sk_stream_wait_memory() does for TCP's own
 * writers.  The data was accepted: it must not wait for the next call.
 */
#define KTLS_TX_RETRY	(HZ / 5)

static void tx_push_later(struct sock *sk, struct ktls_tx *tx)
{
	if (tx->sealed && sk_stream_memory_free(sk))
		schedule_delayed_work(&tx->work, KTLS_TX_RETRY);
}

static int tx_close_record(struct sock *sk, struct ktls_ctx *ctx, int flags)
{
	int err;

	err = tx_seal(sk, ctx);
	if (err == -ENOMEM || err == -ENOSPC)
		return -ENOMEM;		/* still open: a later call retries */
	if (err) {
		ctx->tx.err = err;
		tx_put_frags(&ctx->tx);
		ktls_err_abort(sk, err);
		return err;
	}
	return tx_push(sk, &ctx->tx, flags);
}

static int tx_check(struct sock *sk, struct ktls_tx *tx, int flags)
{
	if (unlikely(tx->err))
		return tx->err;
	/* The last sequence number was used: another record would reuse a
	 * nonce. */
	if (unlikely(tx->d.exhausted))
		return -EBADMSG;
	if (unlikely(sk->sk_err))
		return -sock_error(sk);
	if (unlikely(sk->sk_shutdown & SEND_SHUTDOWN))
		return sk_stream_error(sk, flags, -EPIPE);
	return 0;
}

/*
 * Move everything in @from into records of @type.  With MSG_MORE (or
 * MSG_SENDPAGE_NOTLAST) the last record stays open for the next call.
 * Called with tx_lock and the socket lock held.  Returns bytes taken or a
 * negative errno if none were.
 */
static int tx_write(struct sock *sk, struct ktls_ctx *ctx,
		    struct iov_iter *from, int flags, u8 type)
{
	bool more = flags & (MSG_MORE | MSG_SENDPAGE_NOTLAST);
	int tcp_flags = flags & (MSG_DONTWAIT | MSG_NOSIGNAL);
	struct ktls_tx *tx = &ctx->tx;
	size_t left = iov_iter_count(from);
	size_t copied = 0;
	int err;

	err = tx_check(sk, tx, flags);
	if (err)
		return err;

	/* Finish what an earlier call left half-pushed. */
	if (tx->sealed) {
		err = tx_push(sk, tx, tcp_flags);
		if (err)
			return err;
	}
	/* Records of different types never share a record. */
	if (tx->open && tx->type != type && tx->len) {
		err = tx_close_record(sk, ctx, tcp_flags);
		if (err)
			return err;
	}
	if (tx->open && tx->type != type)
		tx->type = type;

	do {
		int fault = 0;

		if (left) {
			u32 n, done;

			if (!tx->open) {
				err = tx_open(sk, ctx, type);
				if (err)
					break;
			}
			n = min_t(size_t, left, ctx->tx_max_payload - tx->len);
			fault = tx_put(sk, tx, from, n, &done,
				       KTLS_TX_DATA_FRAGS);
			tx->len += done;
			copied += done;
			left -= done;
			if (fault && fault != -EFAULT) {
				/* Out of memory or frags: send what we have
				 * and let the caller retry the rest. */
				err = fault;
				if (!tx->len)
					break;
				fault = 0;
				left = 0;
				more = false;
			}
		}
		if (tx->open && tx->len &&
		    (tx->len >= ctx->tx_max_payload || (!left && !more) ||
		     fault)) {
			int push_flags = tcp_flags;

			if (left || more)
				push_flags |= MSG_SENDPAGE_NOTLAST;
			err = tx_close_record(sk, ctx, push_flags);
			if (err)
				break;
		}
		if (fault) {
			err = fault;
			break;
		}
	} while (left);

	tx_push_later(sk, tx);
	return copied ? copied : err;
}

static int ktls_sw_sendmsg(struct sock *sk, struct msghdr *msg, size_t size)
{
	struct ktls_ctx *ctx = ktls_get_ctx(sk);
	u8 type = KTLS_TYPE_DATA;
	struct cmsghdr *cmsg;
	int ret;

	if (msg->msg_flags & ~(MSG_MORE | MSG_DONTWAIT | MSG_NOSIGNAL |
			       MSG_EOR | MSG_CMSG_COMPAT))
		return -EOPNOTSUPP;

	for_each_cmsghdr(cmsg, msg) {
		if (!CMSG_OK(msg, cmsg))
			return -EINVAL;
		if (cmsg->cmsg_level != SOL_TLS)
			continue;
		if (cmsg->cmsg_type != TLS_SET_RECORD_TYPE ||
		    cmsg->cmsg_len < CMSG_LEN(sizeof(u8)))
			return -EINVAL;
		/* A control record is always one whole message. */
		if (msg->msg_flags & MSG_MORE)
			return -EINVAL;
		type = *(u8 *)CMSG_DATA(cmsg);
	}

	mutex_lock(&ctx->tx_lock);
	lock_sock(sk);
	ret = tx_write(sk, ctx, &msg->msg_iter, msg->msg_flags, type);
	release_sock(sk);
	mutex_unlock(&ctx->tx_lock);
	return ret;
}

/* sendfile() and splice() to the socket arrive here one page at a time. */
static int ktls_sw_sendpage(struct sock *sk, struct page *page, int offset,
			    size_t size, int flags)
{
	struct ktls_ctx *ctx = ktls_get_ctx(sk);
	struct bio_vec bvec = {
		.bv_page = page,
		.bv_offset = offset,
		.bv_len = size,
	};
	struct iov_iter from;
	int ret;

	if (flags & ~(MSG_MORE | MSG_DONTWAIT | MSG_NOSIGNAL |
		      MSG_SENDPAGE_NOTLAST | MSG_SENDPAGE_NOPOLICY |
		      MSG_NO_SHARED_FRAGS))
		return -EOPNOTSUPP;

	iov_iter_bvec(&from, ITER_SOURCE, &bvec, 1, size);
	mutex_lock(&ctx->tx_lock);
	lock_sock(sk);
	ret = tx_write(sk, ctx, &from, flags, KTLS_TYPE_DATA);
	release_sock(sk);
	mutex_unlock(&ctx->tx_lock);
	return ret;
}

static int tx_nonblock_flags(struct sock *sk)
{
	struct socket *sock = sk->sk_socket;

	return sock && sock->file && (sock->file->f_flags & O_NONBLOCK) ?
	       MSG_DONTWAIT : 0;
}

/* splice/sendfile ended with MSG_MORE still set: close the record. */
static void ktls_sw_flush(struct sock *sk)
{
	struct ktls_ctx *ctx = ktls_get_ctx(sk);
	struct ktls_tx *tx = &ctx->tx;
	int flags = tx_nonblock_flags(sk);

	mutex_lock(&ctx->tx_lock);
	lock_sock(sk);
	if (!tx_check(sk, tx, MSG_NOSIGNAL)) {
		if (tx->sealed)
			tx_push(sk, tx, flags);
		else if (tx->open && tx->len)
			tx_close_record(sk, ctx, flags);
		tx_push_later(sk, tx);
	}
	release_sock(sk);
	mutex_unlock(&ctx->tx_lock);
}

/* The deferred push: TCP has room again for a half-pushed record, or a
 * failed allocation is worth another try. */
static void ktls_tx_work(struct work_struct *work)
{
	struct ktls_tx *tx = container_of(to_delayed_work(work), struct ktls_tx,
					  work);
	struct ktls_ctx *ctx = container_of(tx, struct ktls_ctx, tx);
	struct sock *sk = ctx->sk;

	mutex_lock(&ctx->tx_lock);
	lock_sock(sk);
	if (tx->sealed && !tx_check(sk, tx, MSG_NOSIGNAL) &&
	    tx_push(sk, tx, MSG_DONTWAIT | MSG_NOSIGNAL))
		tx_push_later(sk, tx);
	release_sock(sk);
	mutex_unlock(&ctx->tx_lock);
}

/* Called with the socket lock held (TCP invokes it from its receive path). */
void ktls_tx_write_space(struct sock *sk)
{
	struct ktls_ctx *ctx = ktls_get_ctx(sk);

	/* While do_tcp_sendpages() waits for room, it is the one to wake. */
	if (ctx->tx.sealed && !ctx->tx.in_push)
		mod_delayed_work(system_wq, &ctx->tx.work, 0);
	ctx->sk_write_space(sk);
}

/* close(): send what is still open, as the in-tree module does. */
static void ktls_sw_tx_release(struct sock *sk, struct ktls_ctx *ctx)
{
	struct ktls_tx *tx = &ctx->tx;

	if (!tx_check(sk, tx, MSG_NOSIGNAL)) {
		if (tx->open && tx->len)
			tx_close_record(sk, ctx, MSG_NOSIGNAL);
		if (tx->sealed)
			tx_push(sk, tx, MSG_NOSIGNAL);
	}
	tx_put_frags(tx);
}

static void ktls_sw_tx_free(struct ktls_ctx *ctx)
{
	struct ktls_tx *tx = &ctx->tx;

	cancel_delayed_work_sync(&tx->work);
	tx_put_frags(tx);
	if (tx->pfrag.page) {
		put_page(tx->pfrag.page);
		tx->pfrag.page = NULL;
	}
	ktls_dir_free(&tx->d);
}

int ktls_tx_sw_init(struct sock *sk, struct ktls_ctx *ctx)
{
	struct ktls_tx *tx = &ctx->tx;

	INIT_DELAYED_WORK(&tx->work, ktls_tx_work);
	tx->nfrags = 0;
	tx->open = false;
	tx->sealed = false;
	tx->err = 0;

	write_lock_bh(&sk->sk_callback_lock);
	ctx->tx_ops = &ktls_tx_sw_ops;
	ctx->tx_conf = KTLS_CONF_SW;
	sk->sk_write_space = ktls_tx_write_space;
	ktls_update_sk_prot(sk, ctx);
	write_unlock_bh(&sk->sk_callback_lock);
	return 0;
}

/*
 * TLS 1.3 KeyUpdate on TX: data already taken was sent after the old key's
 * last record in the application's view, so the open record is sealed
 * under the old key first; TX never pauses.
 */
int ktls_tx_sw_rekey(struct sock *sk, struct ktls_ctx *ctx,
		     const struct tls_crypto_info *info)
{
	struct ktls_tx *tx = &ctx->tx;
	int err;

	if (tx->err)
		return tx->err;
	if (tx->open && tx->len) {
		err = tx_close_record(sk, ctx, MSG_DONTWAIT | MSG_NOSIGNAL);
		/* A record TCP could not take yet is already sealed. */
		if (err && err != -EAGAIN)
			return err;
	}
	return ktls_dir_rekey(&tx->d, &ctx->prot, info);
}

const struct ktls_tx_ops ktls_tx_sw_ops = {
	.sendmsg	= ktls_sw_sendmsg,
	.sendpage	= ktls_sw_sendpage,
	.flush		= ktls_sw_flush,
	.release	= ktls_sw_tx_release,
	.free		= ktls_sw_tx_free,
};
