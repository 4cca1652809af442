// SPDX-License-Identifier: GPL-2.0
/*
 * ktls_sim - a simulated TLS NIC for testing ktls's device offload.
 *
 *	ip link add sim0 type ktls_sim
 *
 * creates a pair of Ethernet devices joined back to back like veth: sim0
 * and its peer, named ktlssim%d by the kernel (stock iproute2 cannot
 * pass "peer name" for a link kind it does not know; rename the peer with
 * `ip link set ktlssimN name NAME`).  Each device's iflink is its peer's
 * ifindex.  Deleting either deletes both.  Both register with ktls
 * (kmod/ktls_dev.h) and show tls-hw-tx-offload and tls-hw-rx-offload,
 * on by default and togglable with ethtool -K.
 *
 * TX offload: add takes a TX direction (its own AEAD transform, from the
 * kernel crypto API, synchronous).  An skb that ktls marked
 * (skb->decrypted) is encrypted on its way out: for every record it
 * touches, the sim fetches the whole record from ktls
 * (ktls_dev_tx_record()), seals it as TLS does and copies the bytes of
 * the segment into a private copy of the skb, so that a segment may start
 * and end anywhere in a record, as retransmissions do.  The wire between
 * the two devices carries real TLS records.  An skb of a connection this
 * device does not hold is dropped (tx_unknown): no plaintext crosses.
 *
 * Not yet: RX offload (add declines RX with EOPNOTSUPP, the direction
 * stays in software), resync, and the knobs that force them.
 *
 * Knobs and counters, for all devices of the module, in
 * /sys/kernel/debug/ktls_sim/:
 *   max_contexts	(rw, also a module parameter) connection directions
 *			one device may hold; add fails with ENOSPC beyond
 *   fail_add		(rw) 1: add fails with EIO
 *   adds, add_refused, dels  (ro) calls seen, and adds that failed
 *   tx_records	(ro) records sealed on transmit (a retransmitted or
 *			split record counts each time)
 *   tx_unknown	(ro) marked skbs of no connection of the device, dropped
 *   tx_errors	(ro) marked skbs dropped for a failed lookup or seal
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/etherdevice.h>
#include <linux/ethtool.h>
#include <linux/netdevice.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/u64_stats_sync.h>
#include <crypto/aead.h>
#include <net/rtnetlink.h>
#include <net/tcp.h>
#include <net/tls.h>

#include "ktls_dev.h"
#include "compat.h"

#define KSIM_DRV_NAME	"ktls_sim"
#define KSIM_PEER_NAME	"ktlssim%d"

static unsigned int max_contexts = 1024;
module_param(max_contexts, uint, 0444);
MODULE_PARM_DESC(max_contexts,
		 "connection directions one device may hold (default 1024)");

static bool fail_add;
static atomic_t ksim_adds = ATOMIC_INIT(0);
static atomic_t ksim_add_refused = ATOMIC_INIT(0);
static atomic_t ksim_dels = ATOMIC_INIT(0);
static atomic_t ksim_tx_records = ATOMIC_INIT(0);
static atomic_t ksim_tx_unknown = ATOMIC_INIT(0);
static atomic_t ksim_tx_errors = ATOMIC_INIT(0);
static struct dentry *ksim_debugfs;

struct ksim_priv {
	/* The other end; RTNL for writers, RCU for the transmit path. */
	struct net_device __rcu *peer;
	atomic_t contexts;	/* connection directions held */
};

/*
 * The sim's own table of TLS AEADs: every struct tls12_crypto_info_* is
 * info | iv | key | salt | rec_seq.  explicit: TLS 1.2 sends the iv part
 * of the nonce in front of each record (AES-GCM, AES-CCM, SM4); else the
 * nonce is the static iv XORed with the record sequence number.
 */
struct ksim_cipher {
	u16 type;
	u8 iv_size;
	u8 key_size;
	u8 salt_size;
	bool explicit;
	bool ccm;
	const char *alg;
};

static const struct ksim_cipher ksim_ciphers[] = {
	{ TLS_CIPHER_AES_GCM_128, 8, 16, 4, true, false, "gcm(aes)" },
	{ TLS_CIPHER_AES_GCM_256, 8, 32, 4, true, false, "gcm(aes)" },
	{ TLS_CIPHER_AES_CCM_128, 8, 16, 4, true, true, "ccm(aes)" },
	{ TLS_CIPHER_CHACHA20_POLY1305, 12, 32, 0, false, false,
	  "rfc7539(chacha20,poly1305)" },
	{ TLS_CIPHER_SM4_GCM, 8, 16, 4, true, false, "gcm(sm4)" },
	{ TLS_CIPHER_SM4_CCM, 8, 16, 4, true, true, "ccm(sm4)" },
	{ TLS_CIPHER_ARIA_GCM_128, 8, 16, 4, true, false, "gcm(aria)" },
	{ TLS_CIPHER_ARIA_GCM_256, 8, 32, 4, true, false, "gcm(aria)" },
};

#define KSIM_TAG	16	/* every TLS AEAD's */

/* The driver's area of one connection direction (ktls_dev_conn). */
struct ksim_conn {
	u32 start_tcp_sn;
	const struct ksim_cipher *c;
	struct crypto_aead *aead;	/* TX: synchronous */
	u16 version;
	u8 iv[12];			/* salt || iv, as the nonce's base */
};

static struct rtnl_link_ops ksim_link_ops;

/* A record, and room for its AAD behind it (a scatterlist may not point
 * into the stack). */
#define KSIM_BUF_SIZE	(KTLS_DEV_TX_REC_MAX + 16)

/*
 * Seal the record in @buf (as ktls laid it out: header, explicit nonce,
 * plaintext, inner type for TLS 1.3, room for the tag) in place.
 */
static int ksim_seal(const struct ksim_conn *kc,
		     const struct ktls_dev_tx_rec *rec, u8 *buf)
{
	bool tls13 = kc->version == TLS_1_3_VERSION;
	u32 skip = 5 + (!tls13 && kc->c->explicit ? 8 : 0);
	u8 *aad = buf + KTLS_DEV_TX_REC_MAX, nonce[12], iv[16];
	struct scatterlist sg[2];
	struct aead_request *req;
	u32 plen, aad_len;
	int i, err;

	if (rec->len < skip + KSIM_TAG ||
	    ((buf[3] << 8) | buf[4]) != rec->len - 5)
		return -EBADMSG;
	plen = rec->len - skip - KSIM_TAG;

	memcpy(nonce, kc->iv, sizeof(nonce));
	if (!tls13 && kc->c->explicit) {
		memcpy(nonce + 4, buf + 5, 8);
	} else {
		for (i = 0; i < 8; i++)
			nonce[4 + i] ^= rec->rec_seq[i];
	}
	if (tls13) {
		memcpy(aad, buf, 5);
		aad_len = 5;
	} else {
		memcpy(aad, rec->rec_seq, 8);
		aad[8] = buf[0];
		aad[9] = buf[1];
		aad[10] = buf[2];
		aad[11] = plen >> 8;
		aad[12] = plen & 0xff;
		aad_len = 13;
	}
	if (kc->c->ccm) {
		memset(iv, 0, sizeof(iv));
		iv[0] = 2;		/* L' = 3-byte counter - 1 */
		memcpy(iv + 1, nonce, sizeof(nonce));
	} else {
		memcpy(iv, nonce, sizeof(nonce));
	}

	req = aead_request_alloc(kc->aead, GFP_ATOMIC);
	if (!req)
		return -ENOMEM;
	sg_init_table(sg, 2);
	sg_set_buf(&sg[0], aad, aad_len);
	sg_set_buf(&sg[1], buf + skip, plen + KSIM_TAG);
	aead_request_set_callback(req, 0, NULL, NULL);
	aead_request_set_ad(req, aad_len);
	aead_request_set_crypt(req, sg, sg, plen, iv);
	err = crypto_aead_encrypt(req);
	aead_request_free(req);
	memzero_explicit(nonce, sizeof(nonce));
	memzero_explicit(iv, sizeof(iv));
	return err;
}

/*
 * A marked skb: encrypt what it carries of each record into a private
 * copy (the pages are ktls's, which keeps them for retransmission).
 * Returns the skb to send, or NULL after freeing it.
 */
static struct sk_buff *ksim_tls_tx(struct net_device *dev,
				   struct sk_buff *skb)
{
	struct ktls_dev_conn *conn = ktls_dev_tx_conn(skb);
	struct ktls_dev_tx_rec rec;
	struct sk_buff *nskb;
	u32 hoff, plen, seq, done = 0;
	u8 *buf = NULL;
	int err;

	if (!conn || conn->dev != dev) {
		atomic_inc(&ksim_tx_unknown);
		kfree_skb(skb);
		return NULL;
	}
	hoff = skb_transport_offset(skb) + tcp_hdrlen(skb);
	if (skb->len <= hoff)
		return skb;
	nskb = skb_copy(skb, GFP_ATOMIC);
	consume_skb(skb);
	if (!nskb || nskb->ip_summed != CHECKSUM_PARTIAL)
		goto fail;
	buf = kmalloc(KSIM_BUF_SIZE, GFP_ATOMIC);
	if (!buf)
		goto fail;
	seq = ntohl(tcp_hdr(nskb)->seq);
	plen = nskb->len - hoff;
	while (done < plen) {
		u32 at = seq + done, off, n;

		err = ktls_dev_tx_record(conn, at, &rec, buf,
					 KTLS_DEV_TX_REC_MAX);
		if (err)
			goto fail;
		err = ksim_seal(ktls_dev_conn_priv(conn), &rec, buf);
		if (err)
			goto fail;
		atomic_inc(&ksim_tx_records);
		off = at - rec.tcp_seq;
		n = min(rec.len - off, plen - done);
		memcpy(nskb->data + hoff + done, buf + off, n);
		done += n;
	}
	kfree_sensitive(buf);
	nskb->decrypted = 0;
	return nskb;

fail:
	atomic_inc(&ksim_tx_errors);
	kfree_sensitive(buf);
	kfree_skb(nskb);
	return NULL;
}

static netdev_tx_t ksim_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct ksim_priv *priv = netdev_priv(dev);
	struct net_device *peer;
	unsigned int len;

	if (skb->decrypted) {
		skb = ksim_tls_tx(dev, skb);
		if (!skb) {
			dev_core_stats_tx_dropped_inc(dev);
			return NETDEV_TX_OK;
		}
	}
	len = skb->len;
	rcu_read_lock();
	peer = rcu_dereference(priv->peer);
	if (unlikely(!peer || !(peer->flags & IFF_UP))) {
		kfree_skb(skb);
		goto drop;
	}
	skb_tx_timestamp(skb);
	/* Scrubs the skb when crossing namespaces; frees it on failure. */
	if (dev_forward_skb(peer, skb) != NET_RX_SUCCESS)
		goto drop;
	dev_sw_netstats_tx_add(dev, 1, len);
	dev_sw_netstats_rx_add(peer, len);
	rcu_read_unlock();
	return NETDEV_TX_OK;

drop:
	dev_core_stats_tx_dropped_inc(dev);
	rcu_read_unlock();
	return NETDEV_TX_OK;
}

static int ksim_open(struct net_device *dev)
{
	struct ksim_priv *priv = netdev_priv(dev);
	struct net_device *peer = rtnl_dereference(priv->peer);

	if (!peer)
		return -ENOTCONN;
	if (peer->flags & IFF_UP) {
		netif_carrier_on(dev);
		netif_carrier_on(peer);
	}
	return 0;
}

static int ksim_close(struct net_device *dev)
{
	struct ksim_priv *priv = netdev_priv(dev);
	struct net_device *peer = rtnl_dereference(priv->peer);

	netif_carrier_off(dev);
	if (peer)
		netif_carrier_off(peer);
	return 0;
}

static int ksim_dev_init(struct net_device *dev)
{
	dev->tstats = netdev_alloc_pcpu_stats(struct pcpu_sw_netstats);
	return dev->tstats ? 0 : -ENOMEM;
}

static void ksim_dev_free(struct net_device *dev)
{
	free_percpu(dev->tstats);
}

static int ksim_get_iflink(const struct net_device *dev)
{
	struct ksim_priv *priv = netdev_priv(dev);
	struct net_device *peer;
	int iflink;

	rcu_read_lock();
	peer = rcu_dereference(priv->peer);
	iflink = peer ? peer->ifindex : 0;
	rcu_read_unlock();
	return iflink;
}

static const struct net_device_ops ksim_netdev_ops = {
	.ndo_init		= ksim_dev_init,
	.ndo_open		= ksim_open,
	.ndo_stop		= ksim_close,
	.ndo_start_xmit		= ksim_xmit,
	.ndo_get_stats64	= dev_get_tstats64,
	.ndo_get_iflink		= ksim_get_iflink,
	.ndo_set_mac_address	= eth_mac_addr,
	.ndo_validate_addr	= eth_validate_addr,
};

static void ksim_get_drvinfo(struct net_device *dev,
			     struct ethtool_drvinfo *info)
{
	strscpy(info->driver, KSIM_DRV_NAME, sizeof(info->driver));
}

static const struct ethtool_ops ksim_ethtool_ops = {
	.get_drvinfo	= ksim_get_drvinfo,
	.get_link	= ethtool_op_get_link,
};

/* TX: the connection's transform and nonce base, from ktls's info. */
static int ksim_tx_add(struct ksim_conn *kc,
		       const struct tls_crypto_info *info)
{
	const u8 *iv = (const u8 *)(info + 1), *key, *salt;
	const struct ksim_cipher *c = NULL;
	unsigned int i;
	int err;

	for (i = 0; i < ARRAY_SIZE(ksim_ciphers); i++)
		if (ksim_ciphers[i].type == info->cipher_type)
			c = &ksim_ciphers[i];
	if (!c)
		return -EOPNOTSUPP;
	key = iv + c->iv_size;
	salt = key + c->key_size;
	kc->aead = crypto_alloc_aead(c->alg, 0, CRYPTO_ALG_ASYNC);
	if (IS_ERR(kc->aead)) {
		err = PTR_ERR(kc->aead);
		kc->aead = NULL;
		return err == -ENOENT ? -EOPNOTSUPP : err;
	}
	err = crypto_aead_setkey(kc->aead, key, c->key_size);
	if (!err)
		err = crypto_aead_setauthsize(kc->aead, KSIM_TAG);
	if (err) {
		crypto_free_aead(kc->aead);
		kc->aead = NULL;
		return err;
	}
	kc->c = c;
	kc->version = info->version;
	/* The nonce's base: salt || iv (12 bytes for every cipher). */
	memcpy(kc->iv, salt, c->salt_size);
	memcpy(kc->iv + c->salt_size, iv, c->iv_size);
	return 0;
}

/* ktls's ops (see the top). */
static int ksim_tls_add(struct net_device *dev, struct sock *sk,
			struct ktls_dev_conn *conn, enum ktls_dev_dir dir,
			const struct tls_crypto_info *info, u32 start_tcp_sn)
{
	struct ksim_priv *priv = netdev_priv(dev);
	struct ksim_conn *kc = ktls_dev_conn_priv(conn);
	int err;

	atomic_inc(&ksim_adds);
	if (READ_ONCE(fail_add)) {
		err = -EIO;
		goto refused;
	}
	if (atomic_inc_return(&priv->contexts) > READ_ONCE(max_contexts)) {
		err = -ENOSPC;
		goto put;
	}
	kc->start_tcp_sn = start_tcp_sn;
	/* RX is the next step: declined, the direction stays in
	 * software. */
	err = dir == KTLS_DEV_TX ? ksim_tx_add(kc, info) : -EOPNOTSUPP;
	if (!err)
		return 0;
put:
	atomic_dec(&priv->contexts);
refused:
	atomic_inc(&ksim_add_refused);
	return err;
}

static void ksim_tls_del(struct net_device *dev, struct ktls_dev_conn *conn,
			 enum ktls_dev_dir dir)
{
	struct ksim_priv *priv = netdev_priv(dev);
	struct ksim_conn *kc = ktls_dev_conn_priv(conn);

	if (kc->aead)
		crypto_free_aead(kc->aead);	/* zeroes the key */
	memzero_explicit(kc->iv, sizeof(kc->iv));
	atomic_inc(&ksim_dels);
	atomic_dec(&priv->contexts);
}

static int ksim_tls_resync(struct net_device *dev, struct sock *sk,
			   struct ktls_dev_conn *conn, u32 tcp_seq,
			   const u8 *rec_seq, enum ktls_dev_dir dir)
{
	return -EOPNOTSUPP;
}

/* What the sim will offer: every version and cipher ktls has. */
#define KSIM_CIPHERS	(KTLS_DEV_CIPHER(AES_GCM_128) |		\
			 KTLS_DEV_CIPHER(AES_GCM_256) |		\
			 KTLS_DEV_CIPHER(AES_CCM_128) |		\
			 KTLS_DEV_CIPHER(CHACHA20_POLY1305) |	\
			 KTLS_DEV_CIPHER(SM4_GCM) |		\
			 KTLS_DEV_CIPHER(SM4_CCM) |		\
			 KTLS_DEV_CIPHER(ARIA_GCM_128) |	\
			 KTLS_DEV_CIPHER(ARIA_GCM_256))
#define KSIM_VERSIONS	(KTLS_DEV_TLS_1_2 | KTLS_DEV_TLS_1_3)

static const struct ktls_dev_ops ksim_tls_ops = {
	.tx		= { .versions = KSIM_VERSIONS, .ciphers = KSIM_CIPHERS },
	.rx		= { .versions = KSIM_VERSIONS, .ciphers = KSIM_CIPHERS },
	.priv_size	= sizeof(struct ksim_conn),
	.add		= ksim_tls_add,
	.del		= ksim_tls_del,
	.resync		= ksim_tls_resync,
};

#define KSIM_FEATURES	(NETIF_F_SG | NETIF_F_HW_CSUM | NETIF_F_RXCSUM | \
			 NETIF_F_HIGHDMA | NETIF_F_FRAGLIST | \
			 NETIF_F_GSO_SOFTWARE)
#define KSIM_TLS	(NETIF_F_HW_TLS_TX | NETIF_F_HW_TLS_RX)

static void ksim_setup(struct net_device *dev)
{
	ether_setup(dev);
	dev->priv_flags &= ~IFF_TX_SKB_SHARING;
	dev->priv_flags |= IFF_LIVE_ADDR_CHANGE | IFF_NO_QUEUE;
	dev->netdev_ops = &ksim_netdev_ops;
	dev->ethtool_ops = &ksim_ethtool_ops;
	dev->features |= KSIM_FEATURES | KSIM_TLS;
	ktls_netdev_set_lltx(dev);
	dev->hw_features = KSIM_FEATURES | KSIM_TLS;
	dev->max_mtu = ETH_MAX_MTU;
	dev->needs_free_netdev = true;
	dev->priv_destructor = ksim_dev_free;
#if IS_ENABLED(CONFIG_TLS_DEVICE)
	/* The TLS features would send tls.ko's sockets to a NULL op. */
	dev->tlsdev_ops = &ktls_dev_tlsdev_refuse;
#endif
}

static int ksim_validate(struct nlattr *tb[], struct nlattr *data[],
			 struct netlink_ext_ack *extack)
{
	if (tb[IFLA_ADDRESS]) {
		if (nla_len(tb[IFLA_ADDRESS]) != ETH_ALEN)
			return -EINVAL;
		if (!is_valid_ether_addr(nla_data(tb[IFLA_ADDRESS])))
			return -EADDRNOTAVAIL;
	}
	return 0;
}

static int ksim_newlink(struct net *src_net, struct net_device *dev,
			struct nlattr *tb[], struct nlattr *data[],
			struct netlink_ext_ack *extack)
{
	struct ksim_priv *priv = netdev_priv(dev), *peer_priv;
	struct nlattr *peer_tb[IFLA_MAX + 1] = {};
	struct net_device *peer;
	int err;

	/* The peer first, in the caller's namespace, with defaults. */
	peer = rtnl_create_link(src_net, KSIM_PEER_NAME, NET_NAME_ENUM,
				&ksim_link_ops, peer_tb, extack);
	if (IS_ERR(peer))
		return PTR_ERR(peer);
	eth_hw_addr_random(peer);
	err = register_netdevice(peer);
	if (err) {
		free_netdev(peer);
		return err;
	}
	netif_carrier_off(peer);

	if (!tb[IFLA_ADDRESS])
		eth_hw_addr_random(dev);
	err = register_netdevice(dev);
	if (err)
		goto err_peer;
	netif_carrier_off(dev);

	peer_priv = netdev_priv(peer);
	rcu_assign_pointer(priv->peer, peer);
	rcu_assign_pointer(peer_priv->peer, dev);

	err = ktls_dev_register(dev, &ksim_tls_ops);
	if (err)
		goto err_dev;
	err = ktls_dev_register(peer, &ksim_tls_ops);
	if (err)
		goto err_dev_ktls;
	return 0;

err_dev_ktls:
	ktls_dev_unregister(dev);
err_dev:
	RCU_INIT_POINTER(peer_priv->peer, NULL);
	RCU_INIT_POINTER(priv->peer, NULL);
	/* The caller's free_netdev() then leaves dev to the unregistering. */
	unregister_netdevice(dev);
err_peer:
	unregister_netdevice(peer);
	return err;
}

static void ksim_dellink(struct net_device *dev, struct list_head *head)
{
	struct ksim_priv *priv = netdev_priv(dev);
	struct net_device *peer = rtnl_dereference(priv->peer);

	ktls_dev_unregister(dev);
	RCU_INIT_POINTER(priv->peer, NULL);
	unregister_netdevice_queue(dev, head);
	if (peer) {
		priv = netdev_priv(peer);
		ktls_dev_unregister(peer);
		RCU_INIT_POINTER(priv->peer, NULL);
		unregister_netdevice_queue(peer, head);
	}
}

static struct net *ksim_get_link_net(const struct net_device *dev)
{
	struct ksim_priv *priv = netdev_priv(dev);
	struct net_device *peer = rtnl_dereference(priv->peer);

	return peer ? dev_net(peer) : dev_net(dev);
}

static struct rtnl_link_ops ksim_link_ops = {
	.kind		= KSIM_DRV_NAME,
	.priv_size	= sizeof(struct ksim_priv),
	.setup		= ksim_setup,
	.validate	= ksim_validate,
	.newlink	= ksim_newlink,
	.dellink	= ksim_dellink,
	.get_link_net	= ksim_get_link_net,
};

static void ksim_debugfs_init(void)
{
	ksim_debugfs = debugfs_create_dir(KSIM_DRV_NAME, NULL);
	debugfs_create_u32("max_contexts", 0600, ksim_debugfs, &max_contexts);
	debugfs_create_bool("fail_add", 0600, ksim_debugfs, &fail_add);
	debugfs_create_atomic_t("adds", 0400, ksim_debugfs, &ksim_adds);
	debugfs_create_atomic_t("add_refused", 0400, ksim_debugfs,
				&ksim_add_refused);
	debugfs_create_atomic_t("dels", 0400, ksim_debugfs, &ksim_dels);
	debugfs_create_atomic_t("tx_records", 0400, ksim_debugfs,
				&ksim_tx_records);
	debugfs_create_atomic_t("tx_unknown", 0400, ksim_debugfs,
				&ksim_tx_unknown);
	debugfs_create_atomic_t("tx_errors", 0400, ksim_debugfs,
				&ksim_tx_errors);
}

static int __init ksim_init(void)
{
	int err;

	err = rtnl_link_register(&ksim_link_ops);
	if (err)
		return err;
	ksim_debugfs_init();
	return 0;
}

/* Deletes every pair (dellink), which unregisters them from ktls. */
static void __exit ksim_exit(void)
{
	debugfs_remove_recursive(ksim_debugfs);
	rtnl_link_unregister(&ksim_link_ops);
}

module_init(ksim_init);
module_exit(ksim_exit);

MODULE_DESCRIPTION("ktls_sim: a simulated TLS offload NIC pair for ktls");
MODULE_LICENSE("GPL");
MODULE_ALIAS_RTNL_LINK(KSIM_DRV_NAME);
