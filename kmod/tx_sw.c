// SPDX-License-Identifier: GPL-2.0
/*
 * ktls - software TX: build, encrypt and push records.
 *
 * A record is built in pages taken from the socket's own page_frag, listed
 * in a struct ktls_tx_rec:
 *
 *   frags[0]                        frags[1..]
 *   | header | explicit nonce | plaintext ...... | inner type | tag |
 *   '------ prepend -------'
 *
 * Plaintext is copied once from the caller, encrypted in place, and the
 * pages are handed to TCP with ktls_tcp_send_page() (compat.h:
 * do_tcp_sendpages() on 6.1, tcp_sendmsg_locked() with MSG_SPLICE_PAGES
 * later), which takes its own page references: no second copy.  Each
 * frag holds a page reference of ours until TCP has taken the whole
 * record.
 *
 * Records live in a ring of KTLS_TX_RECS slots (tx.recs, each allocated
 * the first time it is used), oldest first.  A record goes
 *
 *   OPEN    taking plaintext; only the newest record may be open
 *   CRYPT   sequence number, header and nonce fixed, being encrypted by
 *           a worker on ktls_tx_wq
 *   SEALED  encrypted, waiting for TCP to take it (maybe partly taken)
 *
 * and back to free once TCP holds all of it.  Records reach TCP strictly
 * in ring order, whoever encrypted them.
 *
 * Pipelining: the encryption of a full record (at least
 * KTLS_TX_ASYNC_MIN bytes) is handed to a worker when no other record of
 * the socket is with one, so that the writer goes on copying the next
 * record, or returns to the application, while another CPU encrypts.  A
 * record closed while the worker is busy is encrypted by the writer
 * itself, and small records always are: a round trip of small messages
 * never waits for a worker to be scheduled.  So a socket keeps at most
 * two CPUs busy.  The worker takes no lock: a record in CRYPT belongs to
 * it; it publishes SEALED with release semantics and queues tx.work,
 * which pushes under the locks unless a writer does it first.  Whoever
 * must wait for a record (a full ring, close, a new key) waits for its
 * work item with flush_work().
 *
 * When no CPU is spare, the worker is not run before the writer has
 * filled the ring.  The writer then takes the oldest record back if no
 * worker has started on it (cancel_work() succeeds only for a work item
 * still pending) and encrypts it itself, so handing a record out never
 * costs more than a queue_work() and a cancel_work() over doing it in
 * place.  TlsTxAsync counts the records handed out, TlsTxAsyncReclaimed
 * those taken back.  And over all sockets, no more records are with the
 * worker than there are CPUs besides the writer's (ktls_tx_inflight): with
 * many busy sockets, no CPU is spare for any of them.
 */
#include <linux/kernel.h>
#include <linux/uio.h>
#include <linux/bvec.h>
#include <net/tcp.h>

#include "ktls.h"

/* Records worth giving to a worker; smaller ones are sealed in place. */
#define KTLS_TX_ASYNC_MIN	4096

/* Encrypts records for every socket; unbound, so any idle CPU helps. */
static struct workqueue_struct *ktls_tx_wq;

/*
 * Records with the worker, over all sockets.  A record is handed out only
 * while fewer than one per CPU besides the writer's are: with many busy
 * sockets the CPUs are spare for none of them, and hand-offs would only
 * add wakeups.
 */
static atomic_t ktls_tx_inflight = ATOMIC_INIT(0);

static bool tx_inflight_get(void)
{
	if (atomic_inc_return(&ktls_tx_inflight) < num_online_cpus())
		return true;
	atomic_dec(&ktls_tx_inflight);
	return false;
}

static void tx_inflight_put(void)
{
	atomic_dec(&ktls_tx_inflight);
}

enum {
	KTLS_REC_FREE,
	KTLS_REC_OPEN,
	KTLS_REC_CRYPT,
	KTLS_REC_SEALED,
};

static struct ktls_tx_rec *tx_rec(const struct ktls_tx *tx, unsigned int k)
{
	return tx->recs[(tx->head + k) % KTLS_TX_RECS];
}

static u8 tx_rec_state(const struct ktls_tx_rec *r)
{
	/* Pairs with the worker's release: a SEALED record's bytes and err
	 * are visible once its state is. */
	return smp_load_acquire(&r->state);
}

/* The newest record if it is open, else NULL. */
static struct ktls_tx_rec *tx_open_rec(const struct ktls_tx *tx)
{
	struct ktls_tx_rec *r;

	if (!tx->count)
		return NULL;
	r = tx_rec(tx, tx->count - 1);
	return r->state == KTLS_REC_OPEN ? r : NULL;
}

/* Is the oldest record encrypted and waiting for TCP? */
static bool tx_head_sealed(const struct ktls_tx *tx)
{
	return tx->count && tx_rec_state(tx_rec(tx, 0)) == KTLS_REC_SEALED;
}

/*
 * Is anything the application sent not all in TCP yet?  A record left open
 * with MSG_MORE does not count (it waits for the next send), unless it
 * was meant to go and only failed to close for memory (close_later).
 */
static bool tx_owed(const struct ktls_tx *tx)
{
	const struct ktls_tx_rec *r = tx_open_rec(tx);

	if (r)
		return tx->count > 1 || (tx->close_later && r->len);
	return tx->count > 0;
}

static void tx_put_frags(struct ktls_tx_rec *r)
{
	unsigned int i;

	ktls_tx_dev_rec_free(r->keep);
	r->keep = NULL;
	for (i = 0; i < r->nfrags; i++)
		put_page(r->frags[i].page);
	r->nfrags = 0;
	r->len = 0;
	r->push_frag = 0;
	r->push_off = 0;
	r->err = 0;
	r->state = KTLS_REC_FREE;
}

/* The oldest record went to TCP (or is dropped): free its slot.  (In
 * device mode tx_dev.c holds its pages too, from its first push until
 * TCP has it acked.) */
static void tx_retire_head(struct ktls_tx *tx)
{
	tx_put_frags(tx_rec(tx, 0));
	tx->head = (tx->head + 1) % KTLS_TX_RECS;
	tx->count--;
}

/*
 * Find room for up to @want more bytes at the end of @r, using at most
 * @max_frags frags.  Returns the number of contiguous bytes available at
 * *dst (at least min(want, PAGE_SIZE) when a new page is needed) or a
 * negative errno.  The caller commits what it used with tx_commit().
 */
static int tx_room(struct sock *sk, struct ktls_tx *tx, struct ktls_tx_rec *r,
		   u32 want, u8 **dst, unsigned int max_frags)
{
	struct page_frag *pf = &tx->pfrag;
	struct ktls_frag *last = r->nfrags ? &r->frags[r->nfrags - 1] : NULL;
	struct mem_cgroup *memcg;
	bool ok;

	if (last && pf->page == last->page &&
	    pf->offset == last->off + last->len && pf->offset < pf->size) {
		*dst = (u8 *)page_address(pf->page) + pf->offset;
		return min_t(u32, want, pf->size - pf->offset);
	}
	if (r->nfrags >= max_frags)
		return -ENOSPC;
	memcg = ktls_memcg_enter(sk);
	ok = skb_page_frag_refill(min_t(u32, want, PAGE_SIZE), pf,
				  sk->sk_allocation | KTLS_GFP_ACCOUNT);
	ktls_memcg_exit(memcg);
	if (!ok) {
		sk_stream_moderate_sndbuf(sk);
		return -ENOMEM;
	}
	last = &r->frags[r->nfrags++];
	last->page = pf->page;
	last->off = pf->offset;
	last->len = 0;
	get_page(pf->page);
	*dst = (u8 *)page_address(pf->page) + pf->offset;
	return min_t(u32, want, pf->size - pf->offset);
}

static void tx_commit(struct ktls_tx *tx, struct ktls_tx_rec *r, u32 n)
{
	r->frags[r->nfrags - 1].len += n;
	tx->pfrag.offset += n;
}

/* Take back the last @n bytes appended (a seal that could not finish). */
static void tx_trim(struct ktls_tx *tx, struct ktls_tx_rec *r, u32 n)
{
	while (n) {
		struct ktls_frag *last = &r->frags[r->nfrags - 1];
		u32 k = min(n, last->len);

		if (tx->pfrag.page == last->page &&
		    tx->pfrag.offset == last->off + last->len)
			tx->pfrag.offset -= k;
		last->len -= k;
		n -= k;
		if (!last->len && r->nfrags > 1) {
			put_page(last->page);
			r->nfrags--;
		}
	}
}

/* Data may not use the last frags: sealing needs them for the tail. */
#define KTLS_TX_DATA_FRAGS	(KTLS_TX_FRAGS - 2)

/* Append @n bytes to @r, from @from or (if NULL) uninitialised. */
static int tx_put(struct sock *sk, struct ktls_tx *tx, struct ktls_tx_rec *r,
		  struct iov_iter *from, u32 n, u32 *done,
		  unsigned int max_frags)
{
	u8 *dst;
	int room;

	*done = 0;
	while (*done < n) {
		room = tx_room(sk, tx, r, n - *done, &dst, max_frags);
		if (room < 0)
			return room;
		if (from) {
			size_t got = copy_from_iter(dst, room, from);

			tx_commit(tx, r, got);
			*done += got;
			if (got != room)
				return -EFAULT;
		} else {
			tx_commit(tx, r, room);
			*done += room;
		}
	}
	return 0;
}

static void tx_crypt_work(struct work_struct *work);

/*
 * Device mode's seal: the header and explicit nonce are written; zero the
 * room for the tag (the NIC writes the tag there, and no stale kernel
 * memory may reach a wire that does not), note the record sequence
 * number, and the record is ready for TCP as it is.
 */
static int tx_seal_plain(struct ktls_tx *tx, struct ktls_tx_rec *r,
			 const struct ktls_prot *prot, u32 plain)
{
	u32 left = prot->cipher->tag_size;
	int i;

	for (i = r->nfrags - 1; i >= 0 && left; i--) {
		struct ktls_frag *f = &r->frags[i];
		u32 n = min(left, f->len);

		memset((u8 *)page_address(f->page) + f->off + f->len - n, 0,
		       n);
		left -= n;
	}
	ktls_tx_dev_rec_sealed(r->keep, tx->d.seq);
	ktls_dir_advance(&tx->d, prot);
	r->plain = plain;
	r->push_frag = 0;
	r->push_off = 0;
	smp_store_release(&r->state, KTLS_REC_SEALED);
	return 0;
}

/* Is a record of ours with the worker?  (Only one ever is: crypt_busy, the
 * last one given to it, which stays set after the worker is done.) */
static bool tx_worker_busy(const struct ktls_tx *tx)
{
	return tx->crypt_busy &&
	       tx_rec_state(tx->crypt_busy) == KTLS_REC_CRYPT;
}

/* Open a record in the next free slot; the caller made sure there is one. */
static int tx_open(struct sock *sk, struct ktls_ctx *ctx, u8 type)
{
	struct ktls_tx *tx = &ctx->tx;
	unsigned int slot = (tx->head + tx->count) % KTLS_TX_RECS;
	struct ktls_tx_rec *r = tx->recs[slot];
	gfp_t gfp = sk->sk_allocation | KTLS_GFP_ACCOUNT;
	struct mem_cgroup *memcg;
	u32 done;
	int err;

	if (WARN_ON_ONCE(tx->count == KTLS_TX_RECS))
		return -ENOBUFS;
	/* Slots are allocated on first use: an idle socket has none. */
	if (!r) {
		memcg = ktls_memcg_enter(sk);
		r = kzalloc(sizeof(*r), gfp);
		ktls_memcg_exit(memcg);
		if (!r)
			return -ENOMEM;
		r->tx = tx;
		INIT_WORK(&r->work, tx_crypt_work);
		crypto_init_wait(&r->wait);
		tx->recs[slot] = r;
	}
	/* Bound to the current transform; a new key drops it.  Allocated
	 * here, before any data is taken, so that sealing needs no more
	 * than room for the tail. */
	if (!r->req) {
		memcg = ktls_memcg_enter(sk);
		r->req = aead_request_alloc(tx->d.aead, gfp);
		ktls_memcg_exit(memcg);
		if (!r->req)
			return -ENOMEM;
		aead_request_set_callback(r->req, CRYPTO_TFM_REQ_MAY_BACKLOG |
					  CRYPTO_TFM_REQ_MAY_SLEEP,
					  crypto_req_done, &r->wait);
		aead_request_set_ad(r->req, ctx->prot.aad_size);
	}
	err = tx_put(sk, tx, r, NULL, ctx->prot.prepend, &done,
		     KTLS_TX_DATA_FRAGS);
	if (err) {
		tx_put_frags(r);
		return err;
	}
	r->state = KTLS_REC_OPEN;
	r->type = type;
	r->len = 0;
	tx->count++;
	tx->close_later = false;
	return 0;
}

/* Run the AEAD over a prepared record, in place. */
static int tx_encrypt(struct ktls_tx_rec *r)
{
	int err;

	aead_request_set_crypt(r->req, r->sg, r->sg, r->plain, r->iv);
	err = crypto_wait_req(crypto_aead_encrypt(r->req), &r->wait);
	memzero_explicit(r->iv, sizeof(r->iv));
	if (err)
		net_warn_ratelimited("ktls: record encryption failed: %d\n",
				     err);
	return err;
}

static void tx_crypt_work(struct work_struct *work)
{
	struct ktls_tx_rec *r = container_of(work, struct ktls_tx_rec, work);
	struct ktls_tx *tx = r->tx;

	r->err = tx_encrypt(r);
	tx_inflight_put();
	smp_store_release(&r->state, KTLS_REC_SEALED);
	/* Pushing takes the socket lock: leave it to tx.work, or to a
	 * writer that gets there first. */
	mod_delayed_work(system_wq, &tx->work, 0);
}

/*
 * Close the open record @r: add the tail, fix its header, nonce and
 * sequence number, and encrypt it in place here or, when @async allows and
 * it pays (see the top of the file), on ktls_tx_wq.  If there is no memory
 * for the tail, the record stays open as it was and -ENOMEM is returned;
 * any other failure is fatal for the socket.
 */
static int tx_seal(struct sock *sk, struct ktls_ctx *ctx,
		   struct ktls_tx_rec *r, bool async)
{
	const struct ktls_prot *prot = &ctx->prot;
	struct ktls_tx *tx = &ctx->tx;
	struct ktls_dir *d = &tx->d;
	const struct ktls_frag *frags = r->frags;
	u32 plain = r->len, tail = 0, done, ct_len;
	u8 nonce[KTLS_NONCE_SIZE];
	struct scatterlist *sg;
	unsigned int i, n;
	u8 *hdr, *dst;
	int err;

	if (d->exhausted)
		return -EBADMSG;
	/* Device mode: what outlives the push, taken while failing is
	 * still harmless (the record stays open). */
	if (tx->dev && !r->keep) {
		r->keep = ktls_tx_dev_rec_alloc(sk);
		if (!r->keep)
			return -ENOMEM;
	}

	if (prot->version == TLS_1_3_VERSION) {
		err = tx_room(sk, tx, r, 1, &dst, KTLS_TX_FRAGS);
		if (err < 0)
			return err;
		*dst = r->type;
		tx_commit(tx, r, 1);
		plain++;
		tail++;
	}
	err = tx_put(sk, tx, r, NULL, prot->cipher->tag_size, &done,
		     KTLS_TX_FRAGS);
	tail += done;
	if (err) {
		tx_trim(tx, r, tail);
		return err;
	}

	/* tx_open() got the prepend in one piece at the start of frags[0]. */
	hdr = (u8 *)page_address(frags[0].page) + frags[0].off;
	ct_len = prot->explicit_nonce + plain + prot->cipher->tag_size;
	hdr[0] = prot->version == TLS_1_3_VERSION ? KTLS_TYPE_DATA : r->type;
	hdr[1] = TLS_1_2_VERSION_MAJOR;
	hdr[2] = TLS_1_2_VERSION_MINOR;
	hdr[3] = ct_len >> 8;
	hdr[4] = ct_len & 0xff;
	memcpy(hdr + KTLS_HEADER_SIZE, d->nonce + prot->cipher->salt_size,
	       prot->explicit_nonce);
	if (tx->dev)
		return tx_seal_plain(tx, r, prot, plain);

	ktls_dir_aad(d, prot, r->type, r->len, hdr);
	memcpy(r->aad, d->aad, prot->aad_size);
	ktls_dir_nonce(d, prot, nonce);
	ktls_req_iv(prot, nonce, r->iv);
	memzero_explicit(nonce, sizeof(nonce));

	/* [aad][plaintext ... tail] with the prepend skipped. */
	sg = r->sg;
	sg_init_table(sg, r->nfrags + 1);
	sg_set_buf(&sg[0], r->aad, prot->aad_size);
	n = 1;
	for (i = 0; i < r->nfrags; i++) {
		u32 off = frags[i].off, len = frags[i].len;

		if (i == 0) {
			off += prot->prepend;
			len -= prot->prepend;
			if (!len)
				continue;
		}
		sg_set_page(&sg[n++], frags[i].page, len, off);
	}
	sg_mark_end(&sg[n - 1]);
	r->plain = plain;
	/* A wrapped sequence number only stops the records after this one. */
	ktls_dir_advance(d, prot);
	r->push_frag = 0;
	r->push_off = 0;

	if (async && r->len >= KTLS_TX_ASYNC_MIN && !tx_worker_busy(tx) &&
	    tx_inflight_get()) {
		r->state = KTLS_REC_CRYPT;
		tx->crypt_busy = r;
		queue_work(ktls_tx_wq, &r->work);
		ktls_stat_inc(sk, KTLS_STAT_TX_ASYNC);
		return 0;
	}
	err = tx_encrypt(r);
	if (err)
		return err;
	r->state = KTLS_REC_SEALED;
	return 0;
}

/*
 * Wait until no worker runs for us: every slot's, since a worker that
 * published SEALED may still be queueing tx.work while a newer record is
 * with the next one.
 */
static void tx_wait_crypt(struct ktls_tx *tx)
{
	unsigned int i;

	for (i = 0; i < KTLS_TX_RECS; i++)
		if (tx->recs[i])
			flush_work(&tx->recs[i]->work);
}

static int tx_fail(struct sock *sk, struct ktls_tx *tx, int err)
{
	tx->err = err;
	ktls_err_abort(sk, err);
	return err;
}

static bool tx_room_or_stop(struct sock *sk, struct ktls_tx *tx, bool vm_wait)
{
	return READ_ONCE(sk->sk_err) ||
	       (READ_ONCE(sk->sk_shutdown) & SEND_SHUTDOWN) ||
	       READ_ONCE(tx->fin_pending) ||
	       (!vm_wait && sk_stream_memory_free(sk));
}

/*
 * A writer that may block waits for TCP to take more, as
 * sk_stream_wait_memory() makes TCP's own writers wait, except that it
 * also stops when shutdown(SHUT_WR) comes (fin_pending): shutdown() must
 * not wait behind a writer the peer stalls, and the writer returns what
 * it took, which goes before the FIN.  When TCP refused with room left
 * (an allocation failed) it sleeps a moment first, as TCP does.  tx->timeo
 * is what is left of the writer's timeout.  Called with tx_lock and the
 * socket lock held; the socket lock is dropped while sleeping.  Returns 0
 * when it is worth trying again.
 */
static int tx_wait_room(struct sock *sk, struct ktls_tx *tx)
{
	DEFINE_WAIT_FUNC(wait, woken_wake_function);
	long vm_wait = 0;
	int err = 0;

	if (sk_stream_memory_free(sk))
		vm_wait = get_random_u32() % (HZ / 5) + 2;
	add_wait_queue(sk_sleep(sk), &wait);
	for (;;) {
		long t, before;

		err = -READ_ONCE(sk->sk_err);
		if (err)
			break;
		if ((sk->sk_shutdown & SEND_SHUTDOWN) || tx->fin_pending) {
			err = -EPIPE;
			break;
		}
		if (!tx->timeo) {
			err = -EAGAIN;
			break;
		}
		if (signal_pending(current)) {
			err = sock_intr_errno(tx->timeo);
			break;
		}
		if (!vm_wait && sk_stream_memory_free(sk))
			break;
		sk_set_bit(SOCKWQ_ASYNC_NOSPACE, sk);
		set_bit(SOCK_NOSPACE, &sk->sk_socket->flags);
		before = vm_wait ? min(vm_wait, tx->timeo) : tx->timeo;
		t = before;
		sk->sk_write_pending++;
		sk_wait_event(sk, &t, tx_room_or_stop(sk, tx, vm_wait), &wait);
		sk->sk_write_pending--;
		if (tx->timeo != MAX_SCHEDULE_TIMEOUT)
			tx->timeo = max(tx->timeo - (before - t), 0L);
		vm_wait = 0;
	}
	remove_wait_queue(sk_sleep(sk), &wait);
	return err;
}

/*
 * Hand the sealed records at the head of the ring to TCP, oldest first,
 * stopping at one still open or being encrypted.  Returns 0 once TCP
 * holds all of those, or a negative errno (-EAGAIN when the socket is full
 * and we may not wait); what was handed over stays handed over.
 *
 * @flags with KTLS_MSG_MORE_IN says the caller has more for TCP soon.
 * On 6.1 TCP hears that in two ways.  MSG_SENDPAGE_NOTLAST
 * (KTLS_MSG_MORE_TCP) skips TCP's push entirely, so it is only for a call
 * that another call of this loop follows at once.  The last call says
 * MSG_MORE: TCP then holds back what is short of a segment, but still
 * sends it when an ACK comes or, with nothing in flight, from its probe
 * timer.  Data left unpushed instead has neither: if the writer is then
 * told the socket is full, it never calls again, and the stream stalls
 * until the peer sends something.  (Since 6.5 both are MSG_MORE.)
 */
static int tx_push(struct sock *sk, struct ktls_tx *tx, int flags)
{
	int more = flags & KTLS_MSG_MORE_IN ? MSG_MORE : 0;

	flags &= ~KTLS_MSG_MORE_IN;
	while (tx_head_sealed(tx)) {
		struct ktls_tx_rec *r = tx_rec(tx, 0);

		if (unlikely(r->err))
			return tx_fail(sk, tx, r->err);
		while (r->push_frag < r->nfrags) {
			struct ktls_frag *f = &r->frags[r->push_frag];
			/* TCP never waits itself (tx_wait_room), and SIGPIPE
			 * is the writer's to send (tx_write). */
			int fl = flags | MSG_DONTWAIT | MSG_NOSIGNAL;
			ssize_t ret;

			/* Device mode: TCP marks the skbs for the NIC, and
			 * before TCP may send any of the record, the NIC
			 * must be able to find it. */
			if (tx->dev) {
				fl |= MSG_SENDPAGE_DECRYPTED;
				if (r->keep) {
					ktls_tx_dev_rec_pushed(tx->dev,
						r->keep,
						tcp_sk(sk)->write_seq,
						r->frags, r->nfrags);
					r->keep = NULL;
				}
			}

			/* More follows at once: this record's next frag, or
			 * the next record if it is sealed too. */
			if (r->push_frag + 1 < r->nfrags ||
			    (tx->count > 1 &&
			     tx_rec_state(tx_rec(tx, 1)) == KTLS_REC_SEALED))
				fl |= KTLS_MSG_MORE_TCP;
			else
				fl |= more;
			tx->in_push = true;
			ret = ktls_tcp_send_page(sk, f->page,
						 f->off + r->push_off,
						 f->len - r->push_off, fl);
			if (!ret)
				ret = -EAGAIN;
			/* Room came: try the same frag again. */
			if (ret == -EAGAIN && !(flags & MSG_DONTWAIT))
				ret = tx_wait_room(sk, tx);
			tx->in_push = false;
			if (ret < 0)
				return ret;
			if (!ret)
				continue;
			r->push_off += ret;
			if (r->push_off == f->len) {
				r->push_frag++;
				r->push_off = 0;
			}
		}
		tx_retire_head(tx);
	}
	return 0;
}

/*
 * A sealed record TCP did not take all of waits for the next push.  When
 * TCP was out of room, write_space starts it once room frees up; when TCP
 * had room and failed anyway (an allocation), no write_space is coming, so
 * retry after a while, as sk_stream_wait_memory() does for TCP's own
 * writers.  The data was accepted: it must not wait for the next call.
 * (A record still with the worker is pushed by tx.work when it is done.)
 */
#define KTLS_TX_RETRY	(HZ / 5)

static void tx_push_later(struct sock *sk, struct ktls_tx *tx)
{
	if (tx_head_sealed(tx) && sk_stream_memory_free(sk))
		schedule_delayed_work(&tx->work, KTLS_TX_RETRY);
}

/*
 * A record that could not be closed for lack of memory stays open.  If the
 * caller meant it to be sent (no MSG_MORE), it must not wait for another
 * call either: tx.work tries again on the retry timer.
 */
static int tx_close_record(struct sock *sk, struct ktls_ctx *ctx,
			   struct ktls_tx_rec *r, int flags, bool async)
{
	struct ktls_tx *tx = &ctx->tx;
	int err;

	err = tx_seal(sk, ctx, r, async);
	if (err == -ENOMEM || err == -ENOSPC) {
		tx->close_later = true;
		schedule_delayed_work(&tx->work, KTLS_TX_RETRY);
		return -ENOMEM;
	}
	if (err)
		return tx_fail(sk, tx, err);
	tx->close_later = false;
	return tx_push(sk, tx, flags);
}

/*
 * The writer needs @r encrypted now.  If its work item is still pending, no
 * CPU had time for it: take it back and encrypt it here rather than sleep
 * until a CPU does.  Otherwise a worker runs it: wait for that.
 */
static void tx_finish_crypt(struct sock *sk, struct ktls_tx_rec *r)
{
	if (tx_rec_state(r) != KTLS_REC_CRYPT)
		return;
	if (cancel_work(&r->work)) {
		tx_inflight_put();
		r->err = tx_encrypt(r);
		r->state = KTLS_REC_SEALED;
		ktls_stat_inc(sk, KTLS_STAT_TX_ASYNC_RECLAIMED);
		return;
	}
	flush_work(&r->work);
}

/* Every record in the ring encrypted, and no worker left running for us. */
static void tx_finish_all(struct sock *sk, struct ktls_tx *tx)
{
	unsigned int k;

	for (k = 0; k < tx->count; k++)
		tx_finish_crypt(sk, tx_rec(tx, k));
	tx_wait_crypt(tx);
}

/* Free a slot for a new record: push the oldest, encrypted by now. */
static int tx_make_room(struct sock *sk, struct ktls_tx *tx, int flags)
{
	int err;

	while (tx->count == KTLS_TX_RECS) {
		tx_finish_crypt(sk, tx_rec(tx, 0));
		err = tx_push(sk, tx, flags);
		if (err)
			return err;
	}
	return 0;
}

/* May records still go to TCP? */
static int tx_push_err(struct sock *sk, const struct ktls_tx *tx)
{
	int sk_err;

	if (unlikely(tx->err))
		return tx->err;
	/* An error of the connection (or of the RX side) fails the send
	 * and stays for the reader to report, as in the in-tree module. */
	sk_err = READ_ONCE(sk->sk_err);
	if (unlikely(sk_err))
		return -sk_err;
	if (unlikely(sk->sk_shutdown & SEND_SHUTDOWN))
		return -EPIPE;
	return 0;
}

/* May the application add to the stream? */
static int tx_check(struct sock *sk, struct ktls_tx *tx, int flags)
{
	int err;

	if (unlikely(tx->err))
		return tx->err;
	/* The last sequence number was used: another record would reuse a
	 * nonce. */
	if (unlikely(tx->d.exhausted))
		return -EBADMSG;
	err = tx_push_err(sk, tx);
	if (!err && unlikely(tx->fin_pending))
		err = -EPIPE;
	if (err == -EPIPE)
		return sk_stream_error(sk, flags, err);
	return err;
}

/*
 * Move everything in @from into records of @type.  With MSG_MORE (or, on
 * 6.1, MSG_SENDPAGE_NOTLAST: KTLS_MSG_MORE_IN) the last record stays open
 * for the next call.
 * Called with tx_lock and the socket lock held.  Returns bytes taken or a
 * negative errno if none were.
 */
static int tx_write(struct sock *sk, struct ktls_ctx *ctx,
		    struct iov_iter *from, int flags, u8 type)
{
	bool more = flags & KTLS_MSG_MORE_IN;
	int tcp_flags = flags & (MSG_DONTWAIT | MSG_NOSIGNAL);
	struct ktls_tx *tx = &ctx->tx;
	size_t left = iov_iter_count(from);
	struct ktls_tx_rec *r;
	size_t copied = 0;
	int err;

	err = tx_check(sk, tx, flags);
	if (err)
		return err;
	tx->timeo = sock_sndtimeo(sk, flags & MSG_DONTWAIT);

	/* Finish what an earlier call left half-pushed. */
	err = tx_push(sk, tx, tcp_flags);
	if (err)
		return err;
	/* Records of different types never share a record. */
	r = tx_open_rec(tx);
	if (r && r->type != type && r->len) {
		err = tx_close_record(sk, ctx, r, tcp_flags, true);
		if (err)
			return err;
	}
	r = tx_open_rec(tx);
	if (r && r->type != type)
		r->type = type;

	do {
		int fault = 0;

		r = tx_open_rec(tx);
		if (left) {
			u32 n, done;

			if (!r) {
				/* shutdown() came while we were at it: what
				 * was taken goes before the FIN, no more. */
				if (unlikely(tx->fin_pending)) {
					err = -EPIPE;
					break;
				}
				err = tx_make_room(sk, tx, tcp_flags);
				if (!err)
					err = tx_open(sk, ctx, type);
				if (err)
					break;
				r = tx_open_rec(tx);
			}
			n = min_t(size_t, left, ctx->tx_max_payload - r->len);
			fault = tx_put(sk, tx, r, from, n, &done,
				       KTLS_TX_DATA_FRAGS);
			r->len += done;
			copied += done;
			left -= done;
			if (fault && fault != -EFAULT) {
				/* Out of memory or frags: send what we have
				 * and let the caller retry the rest. */
				err = fault;
				if (!r->len)
					break;
				fault = 0;
				left = 0;
				more = false;
			}
		}
		if (r && r->len &&
		    (r->len >= ctx->tx_max_payload || (!left && !more) ||
		     fault)) {
			int push_flags = tcp_flags;

			if (left || more)
				push_flags |= MSG_MORE;
			err = tx_close_record(sk, ctx, r, push_flags, true);
			if (err)
				break;
		}
		if (fault) {
			err = fault;
			break;
		}
	} while (left);

	tx_push_later(sk, tx);
	if (copied)
		return copied;
	/* The socket was shut (or shutdown() came) while we waited. */
	if (err == -EPIPE)
		err = sk_stream_error(sk, flags, err);
	return err;
}

static int ktls_tx_sw_sendmsg(struct sock *sk, struct msghdr *msg, size_t size)
{
	struct ktls_ctx *ctx = ktls_get_ctx(sk);
	u8 type = KTLS_TYPE_DATA;
	struct cmsghdr *cmsg;
	int ret;

	/* sendfile() and splice() arrive here too on kernels without
	 * sendpage (KTLS_MSG_SPLICE_IN). */
	if (msg->msg_flags & ~(MSG_MORE | MSG_DONTWAIT | MSG_NOSIGNAL |
			       MSG_EOR | MSG_CMSG_COMPAT | KTLS_MSG_SPLICE_IN))
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

#ifdef KTLS_COMPAT_SENDPAGE
/* sendfile() and splice() to the socket arrive here one page at a time. */
static int ktls_tx_sw_sendpage(struct sock *sk, struct page *page, int offset,
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
#endif

static int tx_nonblock_flags(struct sock *sk)
{
	struct socket *sock = sk->sk_socket;

	return sock && sock->file && (sock->file->f_flags & O_NONBLOCK) ?
	       MSG_DONTWAIT : 0;
}

/* splice/sendfile ended with MSG_MORE still set: close the record. */
static void ktls_tx_sw_flush(struct sock *sk)
{
	struct ktls_ctx *ctx = ktls_get_ctx(sk);
	struct ktls_tx *tx = &ctx->tx;
	int flags = tx_nonblock_flags(sk);
	struct ktls_tx_rec *r;

	mutex_lock(&ctx->tx_lock);
	lock_sock(sk);
	if (!tx_check(sk, tx, MSG_NOSIGNAL)) {
		tx->timeo = sock_sndtimeo(sk, flags & MSG_DONTWAIT);
		r = tx_open_rec(tx);
		if (r && r->len)
			tx_close_record(sk, ctx, r, flags, true);
		else
			tx_push(sk, tx, flags);
		tx_push_later(sk, tx);
	}
	release_sock(sk);
	mutex_unlock(&ctx->tx_lock);
}

/* Bytes of the sealed records at the head of the ring that TCP has not
 * taken yet. */
static u32 tx_unpushed(const struct ktls_tx *tx)
{
	u32 left = 0;
	unsigned int k, i;

	for (k = 0; k < tx->count; k++) {
		const struct ktls_tx_rec *r = tx_rec(tx, k);

		if (tx_rec_state(r) != KTLS_REC_SEALED)
			break;
		for (i = r->push_frag; i < r->nfrags; i++)
			left += r->frags[i].len;
		if (r->push_frag < r->nfrags)
			left -= r->push_off;
	}
	return left;
}

/*
 * Hand every sealed record to TCP now, without waiting for anyone, as TCP
 * itself queues what it holds at shutdown() and close().  Neither call may
 * wait for the peer: shutdown() on a non-blocking socket must not, and
 * close() may be the last fput of a descriptor that sat in a unix socket,
 * run by whatever task the garbage collector picked.
 *
 * First the send buffer is raised by what the records still need (at most
 * KTLS_TX_RECS of them).  Over TCP's global memory limit (tcp_mem) that is
 * not enough: TCP then refuses a socket under its send buffer, but takes
 * the write of one at its buffer, which could not wait (and charges its
 * memory cgroup regardless).  The records' pages exist already, so make
 * the socket one: set the buffer just past what is queued before each
 * try, segment by segment, then put it back.  Returns the bytes TCP still
 * refused (an allocation failed).
 */
static u32 tx_push_now(struct sock *sk, struct ktls_tx *tx)
{
	int sndbuf = READ_ONCE(sk->sk_sndbuf);
	u32 left = tx_unpushed(tx), before;

	if (!left)
		return 0;
	WRITE_ONCE(sk->sk_sndbuf, max_t(int, sndbuf,
					READ_ONCE(sk->sk_wmem_queued) +
					2 * left));
	tx_push(sk, tx, MSG_DONTWAIT | MSG_NOSIGNAL);
	for (left = tx_unpushed(tx); left; left = tx_unpushed(tx)) {
		before = left;
		WRITE_ONCE(sk->sk_sndbuf, READ_ONCE(sk->sk_wmem_queued) + 1);
		if (tx_push(sk, tx, MSG_DONTWAIT | MSG_NOSIGNAL) != -EAGAIN)
			break;
		if (tx_unpushed(tx) == before)
			break;
	}
	WRITE_ONCE(sk->sk_sndbuf, sndbuf);
	return tx_unpushed(tx);
}

/* The FIN shutdown(SHUT_WR) deferred, now that TCP holds every record
 * before it: what inet_shutdown() would have done then. */
static void tx_send_fin(struct sock *sk, struct ktls_ctx *ctx)
{
	ctx->tx.fin_pending = false;
	WRITE_ONCE(sk->sk_shutdown, sk->sk_shutdown | SEND_SHUTDOWN);
	ctx->sk_proto->shutdown(sk, SEND_SHUTDOWN);
	sk->sk_state_change(sk);
}

/*
 * shutdown(SHUT_WR): the records the application sent go to TCP ahead of
 * the FIN (tx_push_now).  If some cannot go yet, or a writer is inside,
 * perhaps waiting for a peer that does not read, the FIN is deferred
 * (fin_pending): sends fail with EPIPE from now on, a waiting writer
 * returns what it took (tx_wait_room), and tx.work sends the FIN once TCP
 * holds the last record.  shutdown() itself waits for nothing but the
 * encryption of records already closed.  Returns true if the FIN waits.
 * A record left open with MSG_MORE stays unsent, as in the in-tree module.
 */
static bool ktls_tx_sw_drain(struct sock *sk)
{
	struct ktls_ctx *ctx = ktls_get_ctx(sk);
	struct ktls_tx *tx = &ctx->tx;
	bool locked = mutex_trylock(&ctx->tx_lock);
	bool later = true;

	lock_sock(sk);
	if (tx->fin_pending)
		goto out;
	if (tx_push_err(sk, tx)) {
		later = false;
		goto out;
	}
	if (locked) {
		tx_finish_all(sk, tx);
		tx_push_now(sk, tx);
		later = !tx_push_err(sk, tx) && tx_owed(tx);
	}
	if (later) {
		tx->fin_pending = true;
		ktls_stat_inc(sk, KTLS_STAT_TX_FIN_DEFERRED);
		/* Wakes a writer in tx_wait_room. */
		sk->sk_state_change(sk);
		mod_delayed_work(system_wq, &tx->work, 0);
	}
out:
	release_sock(sk);
	if (locked)
		mutex_unlock(&ctx->tx_lock);
	return later;
}

/* The deferred push: the worker sealed a record, TCP has room again for a
 * half-pushed one, a failed allocation is worth another try, or a FIN
 * waits for the records. */
static void ktls_tx_sw_work(struct work_struct *work)
{
	struct ktls_tx *tx = container_of(to_delayed_work(work), struct ktls_tx,
					  work);
	struct ktls_ctx *ctx = container_of(tx, struct ktls_ctx, tx);
	struct sock *sk = ctx->sk;
	struct ktls_tx_rec *r;

	/* A writer may hold tx_lock for as long as the peer makes it wait
	 * for room.  Wait behind it killable, not uninterruptible: a worker
	 * is never killed, but neither is it reported as a hung task. */
	if (mutex_lock_killable(&ctx->tx_lock))
		return;
	lock_sock(sk);
	if (tx_push_err(sk, tx))
		goto out;
	r = tx_open_rec(tx);
	if (tx->close_later && r && r->len &&
	    tx_close_record(sk, ctx, r, MSG_DONTWAIT | MSG_NOSIGNAL,
			    true) == -ENOMEM)
		goto out;	/* still no memory: rescheduled */
	if (tx_push(sk, tx, MSG_DONTWAIT | MSG_NOSIGNAL))
		tx_push_later(sk, tx);
	else if (tx->fin_pending && !tx_owed(tx))
		tx_send_fin(sk, ctx);
out:
	release_sock(sk);
	mutex_unlock(&ctx->tx_lock);
}

/* Called with the socket lock held (TCP invokes it from its receive path). */
static void ktls_tx_sw_write_space(struct sock *sk)
{
	struct ktls_ctx *ctx = ktls_get_ctx(sk);

	/* While a writer pushes or waits for room, it is the one to wake. */
	if (tx_head_sealed(&ctx->tx) && !ctx->tx.in_push)
		mod_delayed_work(system_wq, &ctx->tx.work, 0);
	ctx->sk_write_space(sk);
}

/*
 * close(): send what is still open, as the in-tree module does (unless
 * the send side was shut first), but never wait for the peer
 * (tx_push_now).  Whatever the application sent that still cannot go (TCP
 * refused it even so, an allocation or the encryption failed) turns TCP's
 * close into an abort (zero linger): the peer sees a reset, not an end of
 * stream after missing data.  Not when the connection is gone already.
 */
static void ktls_tx_sw_release(struct sock *sk, struct ktls_ctx *ctx)
{
	struct ktls_tx *tx = &ctx->tx;
	struct ktls_tx_rec *r;
	bool shut;
	u32 left;

	tx_finish_all(sk, tx);
	shut = tx->fin_pending || (sk->sk_shutdown & SEND_SHUTDOWN);
	r = tx_open_rec(tx);
	if (r && (!r->len || (shut && !tx->close_later)))
		r = NULL;	/* nothing, or MSG_MORE data after SHUT_WR */
	if (!tx_push_err(sk, tx)) {
		if (r)
			tx_close_record(sk, ctx, r,
					MSG_DONTWAIT | MSG_NOSIGNAL, false);
		tx_push_now(sk, tx);
	}
	left = tx_unpushed(tx);
	r = tx_open_rec(tx);
	if (r && r->len && (!shut || tx->close_later))
		left += r->len;
	if (left && sk->sk_state != TCP_CLOSE) {
		net_warn_ratelimited("ktls: close() could not send %u bytes of TLS records: connection reset\n",
				     left);
		ktls_stat_inc(sk, KTLS_STAT_TX_CLOSE_RESET);
		sock_set_flag(sk, SOCK_LINGER);
		WRITE_ONCE(sk->sk_lingertime, 0);
	}
	while (tx->count)
		tx_retire_head(tx);
}

static void ktls_tx_sw_free(struct ktls_ctx *ctx)
{
	struct ktls_tx *tx = &ctx->tx;
	unsigned int i;

	/* Workers queue tx.work: stop them first. */
	tx_wait_crypt(tx);
	cancel_delayed_work_sync(&tx->work);
	for (i = 0; i < KTLS_TX_RECS; i++) {
		struct ktls_tx_rec *r = tx->recs[i];

		if (!r)
			continue;
		tx_put_frags(r);
		if (r->req)
			aead_request_free(r->req);	/* zeroes it */
		kfree_sensitive(r);
		tx->recs[i] = NULL;
	}
	tx->count = 0;
	if (tx->pfrag.page) {
		put_page(tx->pfrag.page);
		tx->pfrag.page = NULL;
	}
	ktls_dir_free(&tx->d);
}

/* The direction's state; ulp.c attaches the socket to it afterwards. */
static int ktls_tx_sw_init(struct sock *sk, struct ktls_ctx *ctx)
{
	struct ktls_tx *tx = &ctx->tx;

	INIT_DELAYED_WORK(&tx->work, ktls_tx_sw_work);
	memset(tx->recs, 0, sizeof(tx->recs));
	tx->head = 0;
	tx->count = 0;
	tx->crypt_busy = NULL;
	tx->in_push = false;
	tx->close_later = false;
	tx->fin_pending = false;
	tx->timeo = 0;
	tx->err = 0;
	return 0;
}

/*
 * TLS 1.3 KeyUpdate on TX: data already taken was sent after the old key's
 * last record in the application's view, so the open record is sealed
 * under the old key first; TX never pauses.  The records' requests belong
 * to the old transform: they go with it, once no worker uses one.
 */
static int ktls_tx_sw_rekey(struct sock *sk, struct ktls_ctx *ctx,
			    const struct tls_crypto_info *info)
{
	struct ktls_tx *tx = &ctx->tx;
	struct ktls_tx_rec *r;
	unsigned int i;
	int err;

	if (tx->err)
		return tx->err;
	r = tx_open_rec(tx);
	if (r && r->len) {
		err = tx_close_record(sk, ctx, r, MSG_DONTWAIT | MSG_NOSIGNAL,
				      false);
		/* A record TCP could not take yet is already sealed. */
		if (err && err != -EAGAIN)
			return err;
	}
	tx_wait_crypt(tx);
	/*
	 * An open record left empty (a send whose copy faulted, or that took
	 * no byte) has no data to seal; its request is about to go with the
	 * old transform, so drop the record: the next send opens a new one,
	 * bound to the new key.
	 */
	r = tx_open_rec(tx);
	if (r) {
		tx_put_frags(r);
		tx->count--;
		tx->close_later = false;
	}
	for (i = 0; i < KTLS_TX_RECS; i++) {
		r = tx->recs[i];
		if (r && r->req) {
			aead_request_free(r->req);
			r->req = NULL;
		}
	}
	return ktls_dir_rekey(&tx->d, &ctx->prot, info);
}

/* Can a new TX record size apply?  Not while a record is open with data. */
static bool ktls_tx_sw_open(const struct ktls_ctx *ctx)
{
	const struct ktls_tx_rec *r = tx_open_rec(&ctx->tx);

	return r && r->len;
}

int ktls_tx_sw_wq_init(void)
{
	ktls_tx_wq = alloc_workqueue("ktls_tx", WQ_UNBOUND | WQ_MEM_RECLAIM,
				     0);
	return ktls_tx_wq ? 0 : -ENOMEM;
}

void ktls_tx_sw_wq_exit(void)
{
	destroy_workqueue(ktls_tx_wq);
}

const struct ktls_tx_ops ktls_tx_sw_ops = {
	.conf		= KTLS_CONF_SW,
	.stat_new	= KTLS_STAT_TX_SW,
	.stat_curr	= KTLS_STAT_CURR_TX_SW,
	.init		= ktls_tx_sw_init,
	.rekey		= ktls_tx_sw_rekey,
	.open		= ktls_tx_sw_open,
	.sendmsg	= ktls_tx_sw_sendmsg,
#ifdef KTLS_COMPAT_SENDPAGE
	.sendpage	= ktls_tx_sw_sendpage,
#endif
	.flush		= ktls_tx_sw_flush,
	.drain		= ktls_tx_sw_drain,
	.write_space	= ktls_tx_sw_write_space,
	.release	= ktls_tx_sw_release,
	.free		= ktls_tx_sw_free,
};

#if IS_ENABLED(CONFIG_TLS_DEVICE)
/* TLS 1.3 KeyUpdate on an offloaded direction: not yet (tx_dev.c). */
static int ktls_tx_dev_rekey(struct sock *sk, struct ktls_ctx *ctx,
			     const struct tls_crypto_info *info)
{
	return -EOPNOTSUPP;
}

/* The same record layer, sealing for the NIC (tx->dev, tx_dev.c). */
const struct ktls_tx_ops ktls_tx_dev_ops = {
	.conf		= KTLS_CONF_HW,
	.stat_new	= KTLS_STAT_TX_DEVICE,
	.stat_curr	= KTLS_STAT_CURR_TX_DEVICE,
	.init		= ktls_tx_sw_init,
	.rekey		= ktls_tx_dev_rekey,
	.open		= ktls_tx_sw_open,
	.sendmsg	= ktls_tx_sw_sendmsg,
#ifdef KTLS_COMPAT_SENDPAGE
	.sendpage	= ktls_tx_sw_sendpage,
#endif
	.flush		= ktls_tx_sw_flush,
	.drain		= ktls_tx_sw_drain,
	.write_space	= ktls_tx_sw_write_space,
	.release	= ktls_tx_sw_release,
	.free		= ktls_tx_sw_free,
};
#endif
