// SPDX-License-Identifier: GPL-2.0
/*
 * ktls - TX device offload: records go to TCP in plaintext and the NIC
 * encrypts them on the way out (kmod/ktls_dev.h is the driver's side).
 *
 * The record layer is tx_sw.c's.  Records are built, sealed and pushed
 * the same way, with three differences when tx->dev is set:
 *   - sealing writes the header, the explicit nonce (TLS 1.2 AES-GCM/CCM)
 *     and, for TLS 1.3, the inner content type, and zeroes the room for
 *     the tag; it encrypts nothing;
 *   - TCP gets the bytes with MSG_SENDPAGE_DECRYPTED, so its skbs carry
 *     skb->decrypted, which keeps them apart from skbs of bytes sent
 *     before offload started and tells the driver what to encrypt;
 *   - a record TCP has taken is kept (struct ktls_tx_dev_rec, holding its
 *     pages) until TCP has it acked (clean_acked, from TCP's ACK
 *     processing): a retransmitted segment may start anywhere in a
 *     record, and the driver needs the whole record to compute its tag
 *     (ktls_dev_tx_record()).
 *
 * Life of the device state.  ktls_tx_dev_start() asks the driver's add
 * from setsockopt(TLS_TX); when add fails the direction runs in software
 * (counted in TlsTxDeviceRefused).  The state outlives close(): TCP goes
 * on sending, and retransmitting, the records of an orphaned socket, which
 * the device must still encrypt.  So close() keeps the ktls context
 * attached (ktls_tx_dev_closed()), and the socket's destructor, which runs
 * once no skb of the socket is left anywhere, hands the rest to a work
 * item: after a grace period (no transmit path is looking any more) it
 * calls the driver's del, frees the kept records and the context, and
 * drops the module reference taken at start.
 *
 * Locking: txd->lock (a spinlock, taken with bottom halves off) protects
 * the list of kept records.  They are added by the pusher (socket lock
 * owned), removed by clean_acked (softirq, socket bh-locked) and read by
 * the driver's transmit path (any CPU, bottom halves off, no socket lock).
 * Not from hard IRQ.
 *
 * Software fallback.  A marked skb that leaves through any other device
 * (a route change, a bond's other leg) or after the connection left the
 * device is encrypted here instead, the way the NIC would: each record it
 * touches is sealed whole into a bounce buffer with a synchronous
 * transform of our own (allocated at start, so that the fallback never
 * lacks one), and the segment's bytes are copied into a private copy of
 * the skb.  When the device goes down or is unregistered
 * (ktls_tx_dev_netdev_gone(), from device.c's notifier), each of its
 * connections leaves it: marked gone, so that every later skb takes the
 * fallback, then del after a grace period, and the device reference is
 * dropped.  New records still go to TCP in plaintext, sealed by the
 * fallback on their way out: the socket never notices.
 *
 * Not yet: TLS 1.3 KeyUpdate on an offloaded direction (refused with
 * EOPNOTSUPP), resync, and RX.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <crypto/aead.h>
#include <net/tcp.h>

#include "ktls.h"

/* What TCP still holds of one record, from its push until acked. */
struct ktls_tx_dev_rec {
	struct list_head node;		/* txd->recs, oldest first */
	u32 seq;			/* TCP sequence number of byte 0 */
	u32 len;			/* bytes on the wire */
	u8 rec_seq[KTLS_SEQ_SIZE];	/* big endian */
	u8 nfrags;
	struct ktls_frag frags[KTLS_TX_FRAGS];
};

struct ktls_tx_dev {
	struct list_head node;		/* ktls_tx_devs */
	/* The device, until the connection leaves it (ktls_tx_dev_lock). */
	struct ktls_dev *kd;		/* registry entry, held */
	struct net_device *netdev;	/* kd's device */
	bool gone;			/* left the device: fallback only */
	struct ktls_dev_conn *conn;	/* the driver's, from add to del */
	/* Software fallback (see the top). */
	struct crypto_aead *aead;	/* synchronous */
	struct ktls_prot prot;
	u8 nonce[KTLS_NONCE_SIZE];	/* salt || iv as installed */
	spinlock_t lock;		/* recs (see the top) */
	struct list_head recs;
	void (*sk_destruct)(struct sock *sk);	/* the socket's own */
	struct ktls_ctx *ctx;		/* freed with us, after close */
	struct work_struct free_work;
};

/* Frees what sockets leave behind; drained at module exit. */
static struct workqueue_struct *ktls_tx_dev_wq;

/*
 * Every connection on a device, for the notifier.  ktls_tx_dev_lock (a
 * mutex) protects the list and each entry's kd/netdev until it leaves the
 * device; the notifier takes it under RTNL (RTNL, then this lock), the
 * free work without.  The transmit path reads netdev and gone locklessly.
 */
static DEFINE_MUTEX(ktls_tx_dev_lock);
static LIST_HEAD(ktls_tx_devs);

static struct sk_buff *ktls_tx_dev_validate(struct sock *sk,
					    struct net_device *dev,
					    struct sk_buff *skb);

/*
 * The device state of a socket that has it: its validate hook is ours
 * exactly while the context is attached in device mode (set up last in
 * ktls_tx_dev_start(), cleared first by the destructor).  The caller
 * holds the socket (an skb of it, or the socket lock).
 */
static struct ktls_tx_dev *tx_dev_of(const struct sock *sk)
{
	const struct ktls_ctx *ctx;

	if (!sk_fullsock(sk) ||
	    READ_ONCE(sk->sk_validate_xmit_skb) != ktls_tx_dev_validate)
		return NULL;
	ctx = rcu_dereference_check(inet_csk(sk)->icsk_ulp_data, true);
	return ctx ? ctx->tx.dev : NULL;
}

struct ktls_tx_dev_rec *ktls_tx_dev_rec_alloc(struct sock *sk)
{
	struct mem_cgroup *memcg = ktls_memcg_enter(sk);
	struct ktls_tx_dev_rec *e;

	e = kzalloc(sizeof(*e), sk->sk_allocation | KTLS_GFP_ACCOUNT);
	ktls_memcg_exit(memcg);
	return e;
}

void ktls_tx_dev_rec_free(struct ktls_tx_dev_rec *e)
{
	unsigned int i;

	if (!e)
		return;
	for (i = 0; i < e->nfrags; i++)
		put_page(e->frags[i].page);
	kfree(e);
}

/* Sealed: the record sequence number it was sealed with. */
void ktls_tx_dev_rec_sealed(struct ktls_tx_dev_rec *e, const u8 *rec_seq)
{
	memcpy(e->rec_seq, rec_seq, KTLS_SEQ_SIZE);
}

/*
 * The record @e stands for goes to TCP now, its first byte as TCP
 * sequence number @seq: from here on TCP may send any part of it, so the
 * driver and the fallback must find it.  The list takes @e over, with a
 * page reference of its own on each of the record's frags (the ring keeps
 * its own until TCP has taken the whole record).  Socket lock owned.
 */
void ktls_tx_dev_rec_pushed(struct ktls_tx_dev *txd, struct ktls_tx_dev_rec *e,
			    u32 seq, const struct ktls_frag *frags,
			    unsigned int nfrags)
{
	unsigned int i;

	e->seq = seq;
	e->len = 0;
	for (i = 0; i < nfrags; i++) {
		e->frags[i] = frags[i];
		get_page(frags[i].page);
		e->len += frags[i].len;
	}
	e->nfrags = nfrags;
	spin_lock_bh(&txd->lock);
	list_add_tail(&e->node, &txd->recs);
	spin_unlock_bh(&txd->lock);
}

/* TCP's ACK processing: free the records acked up to @ack_seq. */
static void ktls_tx_dev_clean_acked(struct sock *sk, u32 ack_seq)
{
	struct ktls_ctx *ctx = rcu_dereference_protected(
		inet_csk(sk)->icsk_ulp_data, true);
	struct ktls_tx_dev *txd = ctx->tx.dev;
	struct ktls_tx_dev_rec *e, *tmp;
	LIST_HEAD(done);

	spin_lock_bh(&txd->lock);
	list_for_each_entry_safe(e, tmp, &txd->recs, node) {
		if (before(ack_seq, e->seq + e->len))
			break;
		list_move_tail(&e->node, &done);
	}
	spin_unlock_bh(&txd->lock);
	list_for_each_entry_safe(e, tmp, &done, node)
		ktls_tx_dev_rec_free(e);
}

/*
 * The fallback's seal of a whole record in @buf (header, explicit nonce,
 * plaintext, inner type for TLS 1.3, room for the tag), in place; the AAD
 * goes into @aad, outside the stack.
 */
static int ktls_tx_dev_seal(const struct ktls_tx_dev *txd, u8 *buf, u32 len,
			    const u8 *rec_seq, u8 *aad)
{
	const struct ktls_prot *prot = &txd->prot;
	u32 skip = prot->prepend, tag = prot->cipher->tag_size, plain;
	u8 nonce[KTLS_NONCE_SIZE], iv[KTLS_IV_MAX];
	struct scatterlist sg[2];
	struct aead_request *req;
	int i, err;

	if (len < skip + tag ||
	    ((buf[3] << 8) | buf[4]) != len - KTLS_HEADER_SIZE)
		return -EBADMSG;
	plain = len - skip - tag;
	memcpy(nonce, txd->nonce, KTLS_NONCE_SIZE);
	if (prot->explicit_nonce)
		memcpy(nonce + prot->cipher->salt_size,
		       buf + KTLS_HEADER_SIZE, prot->explicit_nonce);
	else
		for (i = 0; i < KTLS_SEQ_SIZE; i++)
			nonce[KTLS_NONCE_SIZE - KTLS_SEQ_SIZE + i] ^=
				rec_seq[i];
	ktls_req_iv(prot, nonce, iv);
	if (prot->version == TLS_1_3_VERSION) {
		memcpy(aad, buf, KTLS_HEADER_SIZE);
	} else {
		memcpy(aad, rec_seq, KTLS_SEQ_SIZE);
		memcpy(aad + KTLS_SEQ_SIZE, buf, 3);	/* type, version */
		aad[11] = plain >> 8;
		aad[12] = plain & 0xff;
	}

	req = aead_request_alloc(txd->aead, GFP_ATOMIC);
	if (!req) {
		err = -ENOMEM;
		goto out;
	}
	sg_init_table(sg, 2);
	sg_set_buf(&sg[0], aad, prot->aad_size);
	sg_set_buf(&sg[1], buf + skip, plain + tag);
	aead_request_set_callback(req, 0, NULL, NULL);
	aead_request_set_ad(req, prot->aad_size);
	aead_request_set_crypt(req, sg, sg, plain, iv);
	err = crypto_aead_encrypt(req);
	aead_request_free(req);
out:
	memzero_explicit(nonce, sizeof(nonce));
	memzero_explicit(iv, sizeof(iv));
	return err;
}

/* Copy the record holding @seq whole into @buf (txd->lock not held). */
static int ktls_tx_dev_copy(struct ktls_tx_dev *txd, u32 seq,
			    struct ktls_dev_tx_rec *rec, u8 *buf, u32 buf_len);

/*
 * Encrypt what a marked skb carries into a private copy, as a NIC would.
 * Returns the copy (the skb is freed), or NULL after freeing it.
 */
static struct sk_buff *ktls_tx_dev_fallback(struct ktls_tx_dev *txd,
					    struct sk_buff *skb)
{
	u32 hoff = skb_transport_offset(skb) + tcp_hdrlen(skb);
	struct ktls_dev_tx_rec rec;
	struct sk_buff *nskb;
	u32 plen, seq, done = 0;
	u8 *buf = NULL;
	int err = -ENOMEM;

	if (skb->len <= hoff) {
		skb->decrypted = 0;
		return skb;
	}
	nskb = skb_copy(skb, GFP_ATOMIC);
	consume_skb(skb);
	if (!nskb)
		goto fail;
	/* The checksum, if already computed, covered the plaintext. */
	err = -EPROTO;
	if (nskb->ip_summed != CHECKSUM_PARTIAL)
		goto fail;
	buf = kmalloc(KTLS_DEV_TX_REC_MAX + KTLS_AAD_MAX, GFP_ATOMIC);
	err = -ENOMEM;
	if (!buf)
		goto fail;
	seq = ntohl(tcp_hdr(nskb)->seq);
	plen = nskb->len - hoff;
	while (done < plen) {
		u32 at = seq + done, off, n;

		err = ktls_tx_dev_copy(txd, at, &rec, buf,
				       KTLS_DEV_TX_REC_MAX);
		if (!err)
			err = ktls_tx_dev_seal(txd, buf, rec.len, rec.rec_seq,
					       buf + KTLS_DEV_TX_REC_MAX);
		if (err)
			goto fail;
		off = at - rec.tcp_seq;
		n = min(rec.len - off, plen - done);
		memcpy(nskb->data + hoff + done, buf + off, n);
		done += n;
	}
	kfree_sensitive(buf);
	nskb->decrypted = 0;
	return nskb;

fail:
	net_warn_ratelimited("ktls: software fallback could not encrypt a segment (%d): dropped\n",
			     err);
	kfree_sensitive(buf);
	kfree_skb(nskb);
	return NULL;
}

/*
 * Every skb of the socket passes here on its way to a device
 * (validate_xmit_skb).  Plaintext records may only reach the device that
 * encrypts them; anywhere else they are encrypted here.
 */
static struct sk_buff *ktls_tx_dev_validate(struct sock *sk,
					    struct net_device *dev,
					    struct sk_buff *skb)
{
	struct ktls_tx_dev *txd;

	if (!skb->decrypted)
		return skb;
	txd = tx_dev_of(sk);
	if (unlikely(!txd)) {
		kfree_skb(skb);
		return NULL;
	}
	if (likely(!READ_ONCE(txd->gone) && dev == READ_ONCE(txd->netdev)))
		return skb;
	ktls_stat_inc(sk, KTLS_STAT_TX_DEVICE_FALLBACK);
	return ktls_tx_dev_fallback(txd, skb);
}

struct ktls_dev_conn *ktls_dev_tx_conn(const struct sk_buff *skb)
{
	struct ktls_tx_dev *txd = skb->sk ? tx_dev_of(skb->sk) : NULL;

	return txd && !READ_ONCE(txd->gone) ? txd->conn : NULL;
}
EXPORT_SYMBOL_GPL(ktls_dev_tx_conn);

static int ktls_tx_dev_copy(struct ktls_tx_dev *txd, u32 tcp_seq,
			    struct ktls_dev_tx_rec *rec, u8 *buf, u32 buf_len)
{
	struct ktls_tx_dev_rec *e;
	int err = -ENOENT;

	spin_lock_bh(&txd->lock);
	/* Fresh segments are at the tail, retransmissions near the head. */
	list_for_each_entry_reverse(e, &txd->recs, node) {
		unsigned int i;
		u32 off = 0;

		if (before(tcp_seq, e->seq))
			continue;
		if (!before(tcp_seq, e->seq + e->len))
			break;
		err = -EMSGSIZE;
		if (buf_len < e->len)
			break;
		for (i = 0; i < e->nfrags; i++) {
			memcpy(buf + off, page_address(e->frags[i].page) +
			       e->frags[i].off, e->frags[i].len);
			off += e->frags[i].len;
		}
		rec->tcp_seq = e->seq;
		rec->len = e->len;
		memcpy(rec->rec_seq, e->rec_seq, KTLS_SEQ_SIZE);
		err = 0;
		break;
	}
	spin_unlock_bh(&txd->lock);
	return err;
}

int ktls_dev_tx_record(struct ktls_dev_conn *conn, u32 tcp_seq,
		       struct ktls_dev_tx_rec *rec, u8 *buf, u32 buf_len)
{
	struct ktls_tx_dev *txd = tx_dev_of(conn->sk);

	if (!txd)
		return -ENOENT;
	return ktls_tx_dev_copy(txd, tcp_seq, rec, buf, buf_len);
}
EXPORT_SYMBOL_GPL(ktls_dev_tx_record);

/*
 * A connection leaves its device in two steps: marked gone, so that later
 * skbs take the fallback; then, once no transmit path can still be in the
 * driver with one of ours (a grace period, shared by all the connections
 * leaving together), del, and the device reference goes.  Process
 * context, ktls_tx_dev_lock held.
 */
static void ktls_tx_dev_detach(struct ktls_tx_dev *txd)
{
	ktls_dev_ops_of(txd->kd)->del(txd->netdev, txd->conn, KTLS_DEV_TX);
	ktls_dev_put(txd->kd);
	txd->kd = NULL;
	list_del(&txd->node);
}

/*
 * The device goes down or away (device.c: the notifier under RTNL, or the
 * driver's ktls_dev_unregister()): every connection on it continues in
 * software.
 */
void ktls_tx_dev_netdev_gone(struct net_device *dev)
{
	struct ktls_tx_dev *txd, *tmp;
	bool any = false;

	mutex_lock(&ktls_tx_dev_lock);
	list_for_each_entry(txd, &ktls_tx_devs, node) {
		if (txd->netdev == dev) {
			WRITE_ONCE(txd->gone, true);
			any = true;
		}
	}
	if (any) {
		synchronize_net();
		list_for_each_entry_safe(txd, tmp, &ktls_tx_devs, node)
			if (txd->netdev == dev)
				ktls_tx_dev_detach(txd);
	}
	mutex_unlock(&ktls_tx_dev_lock);
}

static void ktls_tx_dev_free_work(struct work_struct *work)
{
	struct ktls_tx_dev *txd = container_of(work, struct ktls_tx_dev,
					       free_work);
	struct ktls_tx_dev_rec *e, *tmp;

	mutex_lock(&ktls_tx_dev_lock);
	if (txd->kd) {
		WRITE_ONCE(txd->gone, true);
		synchronize_net();
		ktls_tx_dev_detach(txd);
	}
	mutex_unlock(&ktls_tx_dev_lock);
	list_for_each_entry_safe(e, tmp, &txd->recs, node)
		ktls_tx_dev_rec_free(e);
	crypto_free_aead(txd->aead);
	memzero_explicit(txd->nonce, sizeof(txd->nonce));
	kfree_sensitive(txd->conn);
	kfree_sensitive(txd->ctx);
	kfree(txd);
	module_put(THIS_MODULE);
}

/*
 * The socket is being freed: no skb of it is left.  Any context (softirq
 * included); the rest waits for the work item.
 */
static void ktls_tx_dev_sk_destruct(struct sock *sk)
{
	struct ktls_ctx *ctx = rcu_dereference_protected(
		inet_csk(sk)->icsk_ulp_data, true);
	struct ktls_tx_dev *txd = ctx->tx.dev;

	clean_acked_data_disable(inet_csk(sk));
	sk->sk_validate_xmit_skb = NULL;
	rcu_assign_pointer(inet_csk(sk)->icsk_ulp_data, NULL);
	txd->sk_destruct(sk);
	txd->ctx = ctx;
	queue_work(ktls_tx_dev_wq, &txd->free_work);
}

/*
 * close(): the record layer let go of everything it had not pushed; the
 * context stays attached for the destructor.  Returns true when it does
 * (the caller must not free it).
 */
bool ktls_tx_dev_closed(struct sock *sk, struct ktls_ctx *ctx)
{
	return ctx->tx_conf == KTLS_CONF_HW && ctx->tx.dev;
}

/* The fallback's own transform: synchronous, so softirq can use it. */
static int ktls_tx_dev_fallback_init(struct ktls_tx_dev *txd,
				     const struct ktls_ctx *ctx,
				     const struct tls_crypto_info *info)
{
	const struct ktls_cipher *c = ctx->prot.cipher;
	const u8 *key = (const u8 *)(info + 1) + c->iv_size;
	int err;

	txd->prot = ctx->prot;
	memcpy(txd->nonce, ctx->tx.d.nonce, KTLS_NONCE_SIZE);
	txd->aead = crypto_alloc_aead(c->alg, 0, CRYPTO_ALG_ASYNC);
	if (IS_ERR(txd->aead)) {
		err = PTR_ERR(txd->aead);
		txd->aead = NULL;
		return err;
	}
	err = crypto_aead_setkey(txd->aead, key, c->key_size);
	if (!err)
		err = crypto_aead_setauthsize(txd->aead, c->tag_size);
	return err;
}

/*
 * setsockopt(TLS_TX), first key: try the device @kd (a reference the
 * caller gives us) for this direction.  Returns 0 with ctx->tx.dev set,
 * or a negative errno with nothing changed (the reference dropped): the
 * direction then runs in software.  tx_lock and the socket lock held.
 */
int ktls_tx_dev_start(struct sock *sk, struct ktls_ctx *ctx,
		      struct ktls_dev *kd)
{
	const struct ktls_dev_ops *ops = ktls_dev_ops_of(kd);
	struct net_device *netdev = ktls_dev_netdev(kd);
	struct tls_crypto_info *info;
	struct ktls_tx_dev *txd;
	struct sk_buff *tail;
	int err = -ENOMEM;

	/* Another user of these hooks (the in-tree module cannot be on
	 * the same socket, but a BPF program or MPTCP could be). */
	if (sk->sk_validate_xmit_skb || inet_csk(sk)->icsk_clean_acked) {
		err = -EBUSY;
		goto put;
	}
	txd = kzalloc(sizeof(*txd), GFP_KERNEL_ACCOUNT);
	if (!txd)
		goto put;
	txd->conn = kzalloc(sizeof(*txd->conn) + ops->priv_size,
			    GFP_KERNEL_ACCOUNT);
	info = kmalloc(sizeof(ctx->tx.d.info), GFP_KERNEL);
	if (!txd->conn || !info)
		goto free;
	txd->kd = kd;
	txd->netdev = netdev;
	spin_lock_init(&txd->lock);
	INIT_LIST_HEAD(&txd->recs);
	INIT_WORK(&txd->free_work, ktls_tx_dev_free_work);
	txd->conn->dev = netdev;
	txd->conn->sk = sk;
	txd->conn->dir = KTLS_DEV_TX;
	txd->conn->version = ctx->prot.version;
	txd->conn->cipher = ctx->prot.cipher->type;

	/* Bytes already queued were sent as they were: the first record
	 * starts a new skb, so that none mixes them (skb->decrypted). */
	tail = tcp_write_queue_tail(sk);
	if (tail)
		TCP_SKB_CB(tail)->eor = 1;
	ktls_dir_export(&ctx->tx.d, &ctx->prot, info);
	err = ktls_tx_dev_fallback_init(txd, ctx, info);
	if (err)
		goto free;
	/*
	 * Under the lock the notifier walks the list with: if the device
	 * went down or away before we are on it, the notifier has been and
	 * gone, so we must see that here and not stay.
	 */
	mutex_lock(&ktls_tx_dev_lock);
	err = -ENODEV;
	if (netif_running(netdev) &&
	    READ_ONCE(netdev->reg_state) == NETREG_REGISTERED)
		err = ops->add(netdev, sk, txd->conn, KTLS_DEV_TX, info,
			       tcp_sk(sk)->write_seq);
	if (!err)
		list_add(&txd->node, &ktls_tx_devs);
	mutex_unlock(&ktls_tx_dev_lock);
	kfree_sensitive(info);
	info = NULL;
	if (err)
		goto free;

	__module_get(THIS_MODULE);	/* until the free work is done */
	txd->sk_destruct = sk->sk_destruct;
	sk->sk_destruct = ktls_tx_dev_sk_destruct;
	clean_acked_data_enable(inet_csk(sk), ktls_tx_dev_clean_acked);
	WRITE_ONCE(sk->sk_validate_xmit_skb, ktls_tx_dev_validate);
	ctx->tx.dev = txd;
	return 0;

free:
	kfree_sensitive(info);
	if (txd->aead)
		crypto_free_aead(txd->aead);
	kfree(txd->conn);
	kfree(txd);
put:
	ktls_dev_put(kd);
	ktls_stat_inc(sk, KTLS_STAT_TX_DEVICE_REFUSED);
	return err;
}

int ktls_tx_dev_init(void)
{
	ktls_tx_dev_wq = alloc_workqueue("ktls_tx_dev", WQ_MEM_RECLAIM, 0);
	return ktls_tx_dev_wq ? 0 : -ENOMEM;
}

/* Module exit: the last sockets' work items first. */
void ktls_tx_dev_exit(void)
{
	destroy_workqueue(ktls_tx_dev_wq);
}
