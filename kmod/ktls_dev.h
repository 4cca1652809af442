/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ktls - the interface for NIC drivers that take TLS record crypto.
 *
 * This is kernel-internal: a driver module includes it (with kmod/ on its
 * include path) and links against ktls.ko's Module.symvers.  It is the
 * whole contract; nothing else of ktls.ko is for drivers.
 * Documentation/offload.md explains it with kmod/sim/ktls_sim.c, the
 * simulated NIC, as the worked example.
 *
 * STATUS: TX offload works (kmod/tx_dev.c; kmod/sim/ktls_sim.c is the
 * worked example): ktls calls add and del for TX directions and hands the
 * driver plaintext records.  RX offload and resync do not exist yet:
 * ktls never calls add for RX, nor resync; the rules below for them are
 * what that step will keep.
 *
 * Registering
 * -----------
 * A driver offers offload on a net_device it has registered with
 * register_netdevice() by calling ktls_dev_register(dev, ops) and by
 * putting NETIF_F_HW_TLS_TX / NETIF_F_HW_TLS_RX in dev->hw_features (so
 * that `ethtool -K DEV tls-hw-tx-offload on|off` toggles them).  ktls
 * offloads a direction of a connection only while the matching bit is in
 * dev->features and ops->tx / ops->rx lists the connection's version and
 * cipher.  ktls_dev_unregister(dev) withdraws the offer; call it before
 * the device is unregistered (dellink, remove).  If the driver forgets,
 * ktls drops the registration itself when the device is unregistered
 * (NETDEV_UNREGISTER), and a later ktls_dev_unregister() is a no-op.
 * Moving the device to another network namespace keeps the
 * registration.  ops must stay valid until ktls_dev_unregister() returns.
 *
 * ktls_dev_register() returns 0, or:
 *   -EINVAL  an op or a capability is missing or unknown (add and del are
 *            required; resync too when ops->rx offers anything), or the
 *            kernel has CONFIG_TLS_DEVICE and dev->tlsdev_ops is NULL
 *            (see "The in-tree module" below)
 *   -ENODEV  dev is not registered (or being unregistered)
 *   -EEXIST  dev is registered with ktls already
 *   -ENOMEM
 * Both may be called with or without RTNL held; both may sleep.
 *
 * Module references: a driver using these symbols pins ktls.ko, so ktls
 * cannot be unloaded before the driver; the driver unloads first and its
 * devices unregister on the way out.
 *
 * The ops (shaped like the kernel's struct tlsdev_ops)
 * -------
 *   add(dev, sk, conn, dir, info, start_tcp_sn)
 *	The connection's direction dir (KTLS_DEV_TX or KTLS_DEV_RX) starts
 *	on the device with the key, salt, iv and record sequence number in
 *	info (a struct tls12_crypto_info_* of the cipher's exact size; the
 *	version is TLS 1.2 or 1.3).  start_tcp_sn is the TCP sequence number
 *	of the first byte of the first record the device handles: a record
 *	boundary.  TX: no byte before it is given to the device as
 *	plaintext.  RX: records from there on may be decrypted.  The driver
 *	keeps what it needs in its area, ktls_dev_conn_priv(conn)
 *	(ops->priv_size bytes, zeroed, 8-byte aligned); info is ktls's and
 *	is gone when add returns.  Return 0, or a negative errno, after
 *	which the direction stays on the software path (counted in
 *	TlsTxDeviceRefused) and del is not called: -ENOSPC when out of contexts, -EOPNOTSUPP when it
 *	declines this connection.
 *	Context: process, from setsockopt(SOL_TLS, TLS_TX/TLS_RX), with
 *	the socket lock held (lock_sock: owned, not spinning) and ktls's
 *	per-socket TX mutex held.  May sleep; GFP_KERNEL is fine.  Must not
 *	take the socket lock or RTNL.
 *   del(dev, conn, dir)
 *	The direction leaves the device: release what add set up.  Called
 *	exactly once per successful add: once the socket is freed (an
 *	orphaned socket's records are still the device's to encrypt after
 *	close()), when the device goes down or is unregistered (the socket
 *	continues in software), and from ktls_dev_unregister().  Turning
 *	the feature off keeps the connections already on the device; new
 *	ones stay in software.  (TLS 1.3 KeyUpdate on an offloaded TX
 *	direction is refused with EOPNOTSUPP for now.)  When it is called no
 *	packet of the connection is on its way to the driver any more
 *	(ktls waits for an RCU-net grace period, synchronize_net()), and no
 *	resync call for it is running or will come.  After del returns the
 *	driver must not use conn, its area or sk.
 *	Context: process, may sleep; RTNL may be held (notifier,
 *	ktls_dev_unregister() called under RTNL), the socket lock is not.
 *   resync(dev, sk, conn, tcp_seq, rec_seq, dir)
 *	The record starting at TCP sequence number tcp_seq has record
 *	sequence number rec_seq (8 bytes, big endian): the device resumes
 *	there.  RX: the answer to the driver's request (the request side is
 *	not part of the interface yet).  TX: the driver asked because it
 *	lost its place.  Return 0 or a negative errno (ktls then asks again
 *	at a later record, or falls back to software).
 *	Context: RX: softirq with the socket bh-locked, or process context
 *	with it owned: must not sleep (GFP_ATOMIC).  TX: process context,
 *	socket lock held.
 * The ops of one connection direction never run concurrently with each
 * other; different connections' may.
 *
 * Records and ordering (what the TX data path hands the driver)
 * --------------------
 * On an offloaded TX direction ktls writes whole records into the TCP
 * stream in plaintext, each laid out as on the wire: the 5-byte header,
 * the explicit nonce (TLS 1.2 AES-GCM/CCM: 8 bytes, filled in), the
 * plaintext, for TLS 1.3 the inner content type, and room for the tag
 * (zeroed).  The first record starts at start_tcp_sn, each next one where
 * the last ended; record sequence numbers grow by one per record from the
 * rec_seq given to add.  TCP marks the skbs carrying them (skb->decrypted:
 * "plaintext, the device encrypts") and never mixes them with bytes sent
 * before offload started.  Segments reach the driver in TCP sequence
 * order, except retransmissions, which may start anywhere in a record:
 * ktls_dev_tx_record() (below) finds a record by any TCP sequence number
 * in it, until TCP has it acked.  A segment routed through any other
 * device, or sent after the connection left this one (down, unregister),
 * never reaches the driver marked: ktls seals it in software on its way
 * out.  RX (not yet): the driver will mark each skb it decrypted and
 * authenticated (skb->decrypted); ktls will decrypt in software any
 * record of which not every byte came that way.
 *
 * The in-tree module
 * ------------------
 * ktls cannot use a driver's netdev->tlsdev_ops (the in-tree drivers'
 * mlx5, nfp, chelsio, fun ...): those callbacks assume tls.ko's objects.
 * tls_dev_del receives a struct tls_context; the drivers find their state
 * with tls_driver_ctx() inside tls.ko's tls_offload_context_{tx,rx},
 * call tls_get_ctx() and tls_offload_ctx_tx() on the socket, look up
 * retransmitted records with tls_get_record() in tls.ko's record list,
 * and ask for RX resync through tls_offload_rx_resync_request() writing
 * tls.ko's resync fields; their datapath takes the socket's ULP data to
 * be a struct tls_context.  On a ktls socket none of that exists, so the
 * drivers would read ktls's context as tls.ko's.  Porting one is
 * mechanical: tls_dev_add -> add (conn replaces the tls_context, the
 * driver area replaces tls_driver_ctx()), tls_dev_del -> del,
 * tls_dev_resync -> resync, and the tls.ko helpers -> ktls's (to come).
 *
 * The other way round is a crash: tls.ko's setsockopt calls
 * netdev->tlsdev_ops->tls_dev_add on any route device whose features
 * have NETIF_F_HW_TLS_TX, and its netdev notifier fails the registration
 * of a device with the TLS features and no tlsdev_ops.  A ktls-only
 * driver therefore sets dev->tlsdev_ops = &ktls_dev_tlsdev_refuse before
 * register_netdevice(): a table whose add refuses (tls.ko then stays in
 * software) and whose del and resync do nothing.
 */
#ifndef _KTLS_DEV_H
#define _KTLS_DEV_H

#include <linux/types.h>
#include <linux/bits.h>
#include <linux/tls.h>
#include <linux/netdevice.h>
#include <net/sock.h>

enum ktls_dev_dir {
	KTLS_DEV_TX,
	KTLS_DEV_RX,
};

/* Versions a device takes: bits of ktls_dev_caps.versions. */
#define KTLS_DEV_TLS_1_2	BIT(0)
#define KTLS_DEV_TLS_1_3	BIT(1)

/*
 * Ciphers, as bits of ktls_dev_caps.ciphers: KTLS_DEV_CIPHER(AES_GCM_128)
 * for TLS_CIPHER_AES_GCM_128 and so on, for every cipher of
 * <linux/tls.h> from AES_GCM_128 (51) to ARIA_GCM_256 (58).
 */
#define KTLS_DEV_CIPHER_FIRST	TLS_CIPHER_AES_GCM_128
#define KTLS_DEV_CIPHER_LAST	TLS_CIPHER_ARIA_GCM_256
#define KTLS_DEV_CIPHER(name)	BIT(TLS_CIPHER_##name - KTLS_DEV_CIPHER_FIRST)

/* What one direction of the device takes; empty: not that direction. */
struct ktls_dev_caps {
	u32 versions;	/* KTLS_DEV_TLS_* */
	u32 ciphers;	/* KTLS_DEV_CIPHER() */
};

/*
 * One direction of one connection on a device, from add to del.  ktls
 * allocates it; the driver reads the fields and owns priv[].
 */
struct ktls_dev_conn {
	struct net_device *dev;
	struct sock *sk;
	enum ktls_dev_dir dir;
	u16 version;		/* TLS_1_2_VERSION or TLS_1_3_VERSION */
	u16 cipher;		/* TLS_CIPHER_* */
	u64 priv[];		/* ops->priv_size bytes for the driver */
};

/* The largest per-connection driver area. */
#define KTLS_DEV_PRIV_MAX	256

static inline void *ktls_dev_conn_priv(struct ktls_dev_conn *conn)
{
	return conn->priv;
}

struct ktls_dev_ops {
	struct ktls_dev_caps tx;
	struct ktls_dev_caps rx;
	unsigned int priv_size;		/* <= KTLS_DEV_PRIV_MAX */
	int (*add)(struct net_device *dev, struct sock *sk,
		   struct ktls_dev_conn *conn, enum ktls_dev_dir dir,
		   const struct tls_crypto_info *info, u32 start_tcp_sn);
	void (*del)(struct net_device *dev, struct ktls_dev_conn *conn,
		    enum ktls_dev_dir dir);
	int (*resync)(struct net_device *dev, struct sock *sk,
		      struct ktls_dev_conn *conn, u32 tcp_seq,
		      const u8 *rec_seq, enum ktls_dev_dir dir);
};

int ktls_dev_register(struct net_device *dev, const struct ktls_dev_ops *ops);
void ktls_dev_unregister(struct net_device *dev);

/*
 * TX: the driver's transmit path, for an skb with skb->decrypted set.
 *
 * ktls_dev_tx_conn(skb) is the offloaded TX connection the skb belongs
 * to, or NULL (not a ktls socket in device mode: such an skb must not be
 * sent).  The driver checks conn->dev is itself.  Valid while the driver
 * holds the skb; bottom halves off (the transmit path), not hard IRQ.
 *
 * ktls_dev_tx_record(conn, seq, rec, buf, buf_len) finds the record that
 * holds TCP sequence number seq and copies all of it, as laid out on the
 * wire with room for the tag, into buf (at least rec->len bytes; any
 * record fits in KTLS_DEV_TX_REC_MAX): rec says where it starts, how long
 * it is and its record sequence number.  A segment may start and end
 * anywhere in a record (retransmissions, TSO); the tag needs all of it.
 * Returns 0, -ENOENT (no such record: acked already, or seq is before
 * offload started) or -EMSGSIZE (buf too small).  Same context.
 */
struct ktls_dev_tx_rec {
	u32 tcp_seq;		/* the record's first byte (its header) */
	u32 len;		/* its bytes on the wire, header to tag */
	u8 rec_seq[8];		/* record sequence number, big endian */
};

/* header(5) + explicit nonce(8) + 2^14 + inner type(1) + tag(16) */
#define KTLS_DEV_TX_REC_MAX	(5 + 8 + 16384 + 1 + 16)

struct ktls_dev_conn *ktls_dev_tx_conn(const struct sk_buff *skb);
int ktls_dev_tx_record(struct ktls_dev_conn *conn, u32 tcp_seq,
		       struct ktls_dev_tx_rec *rec, u8 *buf, u32 buf_len);

#if IS_ENABLED(CONFIG_TLS_DEVICE)
/* For dev->tlsdev_ops of a ktls-only device: keeps tls.ko off it. */
extern const struct tlsdev_ops ktls_dev_tlsdev_refuse;
#endif

#endif /* _KTLS_DEV_H */
