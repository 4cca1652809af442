// SPDX-License-Identifier: GPL-2.0
/*
 * ktls - SOL_TLS socket options.
 *
 * TLS_TX / TLS_RX take a struct tls12_crypto_info_* whose size must match
 * the cipher exactly.  Errors follow the in-tree module:
 *   EINVAL  short buffer, unknown version or cipher, wrong size, or a
 *           version/cipher different from the other direction's
 *   EBUSY   the direction is already configured on TLS 1.2 (TLS 1.2 has
 *           no KeyUpdate)
 * On TLS 1.3, setting a configured direction again installs a new key
 * (KeyUpdate, as in Linux >= 6.14): same version and cipher, else EINVAL.
 *   EFAULT  unreadable buffer
 * getsockopt of a direction returns EINVAL for a missing or short buffer and
 * EBUSY until the direction is configured; with a
 * struct tls_crypto_info sized buffer it returns version and cipher only,
 * with the cipher's full struct it also returns key, salt, iv and rec_seq.
 *
 * getsockopt(SOL_TCP, TCP_ZEROCOPY_RECEIVE) is refused with EOPNOTSUPP on
 * every socket with the ULP: it would hand out ciphertext and consume it
 * from under the record parser (or a handshake from under its agent).
 *
 * TLS_TX_ZEROCOPY_RO and TLS_TX_MAX_PAYLOAD_LEN are described in
 * uapi/ktls.h.  KTLS_HANDSHAKE and KTLS_HANDSHAKE_STATUS (the handshake
 * upcall) in uapi/ktls_netlink.h.
 */
#include <linux/kernel.h>
#include <linux/uaccess.h>
#include <linux/sockptr.h>
#include <net/tcp.h>

#include "ktls.h"

static const char *ktls_dir_name(bool tx)
{
	return tx ? "TLS_TX" : "TLS_RX";
}

/*
 * The data path a direction gets with its first key.  TX: the device the
 * socket's route leaves through (device.c), when it offers the direction
 * and its add takes the connection (tx_dev.c); else software, and a
 * refusal is counted.  RX has only the software path so far: the device
 * is looked up, and such a direction runs in software uncounted.
 */
static const struct ktls_tx_ops *ktls_tx_pick(struct sock *sk,
					      struct ktls_ctx *ctx)
{
	struct ktls_dev *kd = ktls_dev_lookup(sk, KTLS_DEV_TX, &ctx->prot);

#if IS_ENABLED(CONFIG_TLS_DEVICE)
	if (kd && !ktls_tx_dev_start(sk, ctx, kd))
		return &ktls_tx_dev_ops;
#else
	if (kd)
		ktls_dev_put(kd);
#endif
	return &ktls_tx_sw_ops;
}

static const struct ktls_rx_ops *ktls_rx_pick(struct sock *sk,
					      struct ktls_ctx *ctx)
{
	struct ktls_dev *kd = ktls_dev_lookup(sk, KTLS_DEV_RX, &ctx->prot);

	if (kd)
		ktls_dev_put(kd);
	return &ktls_rx_sw_ops;
}

/* Set up a direction whose key is in place: its path, then the socket. */
static int ktls_start_tx(struct sock *sk, struct ktls_ctx *ctx)
{
	const struct ktls_tx_ops *ops = ktls_tx_pick(sk, ctx);
	int err;

	err = ops->init(sk, ctx);
	if (err)
		return err;
	ktls_ulp_attach_tx(sk, ctx, ops);
	ktls_stat_inc(sk, ops->stat_new);
	ktls_stat_inc(sk, ops->stat_curr);
	return 0;
}

static int ktls_start_rx(struct sock *sk, struct ktls_ctx *ctx)
{
	const struct ktls_rx_ops *ops = ktls_rx_pick(sk, ctx);
	int err;

	err = ops->init(sk, ctx);
	if (err)
		return err;
	ktls_ulp_attach_rx(sk, ctx, ops);
	ktls_stat_inc(sk, ops->stat_new);
	ktls_stat_inc(sk, ops->stat_curr);
	/* Records may have arrived before the key. */
	ops->data_ready(sk);
	return 0;
}

static int ktls_set_crypto(struct sock *sk, struct ktls_ctx *ctx,
			   sockptr_t optval, unsigned int optlen, bool tx)
{
	const struct ktls_cipher *cipher;
	struct tls_crypto_info hdr;
	struct ktls_prot prot;
	struct ktls_dir *d;
	union {
		struct tls_crypto_info info;
		u8 bytes[sizeof(ctx->tx.d.info)];
	} *buf;
	u8 conf = tx ? ctx->tx_conf : ctx->rx_conf;
	u8 other = tx ? ctx->rx_conf : ctx->tx_conf;
	int err;

	bool rekey = conf != KTLS_CONF_BASE;

	if (sockptr_is_null(optval) || optlen < sizeof(hdr))
		return -EINVAL;
	if (rekey && ctx->prot.version != TLS_1_3_VERSION)
		return -EBUSY;
	if (copy_from_sockptr(&hdr, optval, sizeof(hdr)))
		return -EFAULT;

	if (hdr.version != TLS_1_2_VERSION && hdr.version != TLS_1_3_VERSION)
		return -EINVAL;
	if ((rekey || other != KTLS_CONF_BASE) &&
	    (hdr.version != ctx->prot.version ||
	     hdr.cipher_type != ctx->prot.cipher->type))
		return -EINVAL;
	cipher = ktls_cipher_find(hdr.cipher_type);
	if (!cipher || optlen != cipher->info_size)
		return -EINVAL;
	err = ktls_prot_init(&prot, hdr.version, cipher);
	if (err)
		return err;

	buf = kmalloc(sizeof(*buf), GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	if (copy_from_sockptr(buf, optval, optlen)) {
		err = -EFAULT;
		goto out;
	}
	/* The buffer may have changed under us; trust only the header we
	 * validated. */
	buf->info = hdr;

	if (rekey) {
		err = tx ? ctx->tx_ops->rekey(sk, ctx, &buf->info) :
			   ctx->rx_ops->rekey(sk, ctx, &buf->info);
		if (tx)
			ktls_stat_inc(sk, err ? KTLS_STAT_TX_REKEY_ERROR :
					       KTLS_STAT_TX_REKEY_OK);
		else
			ktls_stat_inc(sk, err ? KTLS_STAT_RX_REKEY_ERROR :
					       KTLS_STAT_RX_REKEY_OK);
		goto out;
	}

	ctx->prot = prot;
	d = tx ? &ctx->tx.d : &ctx->rx.d;
	err = ktls_dir_init(d, &prot, &buf->info);
	if (err)
		goto out;
	err = tx ? ktls_start_tx(sk, ctx) : ktls_start_rx(sk, ctx);
	if (err)
		ktls_dir_free(d);
out:
	kfree_sensitive(buf);
	if (err && err != -EFAULT && err != -ENOMEM)
		net_warn_ratelimited("ktls: %s setup failed: %d\n",
				     ktls_dir_name(tx), err);
	return err;
}

static int ktls_set_zerocopy_ro(struct ktls_ctx *ctx, sockptr_t optval,
				unsigned int optlen)
{
	unsigned int value;

	if (sockptr_is_null(optval) || optlen != sizeof(value))
		return -EINVAL;
	if (copy_from_sockptr(&value, optval, sizeof(value)))
		return -EFAULT;
	if (value > 1)
		return -EINVAL;
	ctx->zerocopy_ro = value;
	return 0;
}

/*
 * TLS_RX_EXPECT_NO_PAD: TLS 1.3 with a receive key only.  As in the kernel,
 * a longer buffer is accepted when the extra bytes are zero.
 */
static int ktls_set_no_pad(struct ktls_ctx *ctx, sockptr_t optval,
			   unsigned int optlen)
{
	u32 value;
	int ret;

	if (ctx->rx_conf == KTLS_CONF_BASE ||
	    ctx->prot.version != TLS_1_3_VERSION)
		return -EINVAL;
	if (sockptr_is_null(optval) || optlen < sizeof(value))
		return -EINVAL;
	if (copy_from_sockptr(&value, optval, sizeof(value)))
		return -EFAULT;
	if (value > 1)
		return -EINVAL;
	ret = check_zeroed_sockptr(optval, sizeof(value),
				   optlen - sizeof(value));
	if (ret < 1)
		return ret ? ret : -EINVAL;
	ctx->rx.no_pad = value;
	return 0;
}

static int ktls_set_max_payload(struct ktls_ctx *ctx, sockptr_t optval,
				unsigned int optlen)
{
	u16 value;

	if (sockptr_is_null(optval) || optlen != sizeof(value))
		return -EINVAL;
	if (copy_from_sockptr(&value, optval, sizeof(value)))
		return -EFAULT;
	if (value < KTLS_MIN_RECORD_PAYLOAD || value > KTLS_MAX_PAYLOAD)
		return -EINVAL;
	/* The open record was started under the old limit. */
	if (ctx->tx_conf != KTLS_CONF_BASE && ctx->tx_ops->open(ctx))
		return -EBUSY;
	ctx->tx_max_payload = value;
	return 0;
}

int ktls_setsockopt(struct sock *sk, int level, int optname,
		    sockptr_t optval, unsigned int optlen)
{
	struct ktls_ctx *ctx = ktls_get_ctx(sk);
	int err;

	if (level != SOL_TLS)
		return ctx->sk_proto->setsockopt(sk, level, optname, optval,
						 optlen);
	/* The handshake upcall (handshake.c) waits without these locks;
	 * while it runs, only its agent may configure the socket. */
	if (optname == KTLS_HANDSHAKE)
		return ktls_hs_setsockopt(sk, optval, optlen);
	if (!ktls_hs_may_io(sk))
		return -EBUSY;

	mutex_lock(&ctx->tx_lock);
	lock_sock(sk);
	switch (optname) {
	case TLS_TX:
	case TLS_RX:
		err = ktls_set_crypto(sk, ctx, optval, optlen,
				      optname == TLS_TX);
		break;
	case TLS_TX_ZEROCOPY_RO:
		err = ktls_set_zerocopy_ro(ctx, optval, optlen);
		break;
	case TLS_TX_MAX_PAYLOAD_LEN:
		err = ktls_set_max_payload(ctx, optval, optlen);
		break;
	case TLS_RX_EXPECT_NO_PAD:
		err = ktls_set_no_pad(ctx, optval, optlen);
		break;
	default:
		err = -ENOPROTOOPT;
		break;
	}
	release_sock(sk);
	mutex_unlock(&ctx->tx_lock);
	return err;
}

static int ktls_get_crypto(struct sock *sk, struct ktls_ctx *ctx,
			   char __user *optval, int __user *optlen, bool tx)
{
	struct ktls_dir *d = tx ? &ctx->tx.d : &ctx->rx.d;
	union {
		struct tls_crypto_info info;
		u8 bytes[sizeof(d->info)];
	} *buf;
	unsigned int size;
	int len, err = 0;

	if (get_user(len, optlen))
		return -EFAULT;
	if (!optval || len < (int)sizeof(struct tls_crypto_info))
		return -EINVAL;

	lock_sock(sk);
	if ((tx ? ctx->tx_conf : ctx->rx_conf) == KTLS_CONF_BASE) {
		release_sock(sk);
		return -EBUSY;
	}
	if (len == sizeof(struct tls_crypto_info)) {
		struct tls_crypto_info hdr = d->info.info;

		release_sock(sk);
		if (copy_to_user(optval, &hdr, sizeof(hdr)))
			return -EFAULT;
		return 0;
	}
	size = ctx->prot.cipher->info_size;
	if (len != size) {
		release_sock(sk);
		return -EINVAL;
	}
	buf = kmalloc(sizeof(*buf), GFP_KERNEL);
	if (!buf) {
		release_sock(sk);
		return -ENOMEM;
	}
	ktls_dir_export(d, &ctx->prot, &buf->info);
	release_sock(sk);

	if (copy_to_user(optval, buf, size))
		err = -EFAULT;
	kfree_sensitive(buf);
	return err;
}

static int ktls_get_zerocopy_ro(struct ktls_ctx *ctx, char __user *optval,
				int __user *optlen)
{
	unsigned int value = READ_ONCE(ctx->zerocopy_ro);
	int len;

	if (get_user(len, optlen))
		return -EFAULT;
	if (len != sizeof(value))
		return -EINVAL;
	if (copy_to_user(optval, &value, sizeof(value)))
		return -EFAULT;
	return 0;
}

static int ktls_get_max_payload(struct ktls_ctx *ctx, char __user *optval,
				int __user *optlen)
{
	u16 value = READ_ONCE(ctx->tx_max_payload);
	int len;

	if (get_user(len, optlen))
		return -EFAULT;
	if (len < (int)sizeof(value))
		return -EINVAL;
	if (put_user(sizeof(value), optlen))
		return -EFAULT;
	if (copy_to_user(optval, &value, sizeof(value)))
		return -EFAULT;
	return 0;
}

static int ktls_get_no_pad(struct sock *sk, struct ktls_ctx *ctx,
			   char __user *optval, int __user *optlen)
{
	int value, len;

	if (get_user(len, optlen))
		return -EFAULT;
	if (len < (int)sizeof(value))
		return -EINVAL;
	lock_sock(sk);
	value = ctx->rx.no_pad;
	if (ctx->rx_conf == KTLS_CONF_BASE ||
	    ctx->prot.version != TLS_1_3_VERSION)
		value = -EINVAL;
	release_sock(sk);
	if (value < 0)
		return value;
	if (put_user(sizeof(value), optlen))
		return -EFAULT;
	if (copy_to_user(optval, &value, sizeof(value)))
		return -EFAULT;
	return 0;
}

int ktls_getsockopt(struct sock *sk, int level, int optname,
		    char __user *optval, int __user *optlen)
{
	struct ktls_ctx *ctx = ktls_get_ctx(sk);

	/* It reads TCP's receive queue directly: records from under the
	 * parser, or a handshake from under its agent. */
	if (level == SOL_TCP && optname == TCP_ZEROCOPY_RECEIVE) {
		net_info_ratelimited("ktls: TCP_ZEROCOPY_RECEIVE refused on a kTLS socket (pid %d, %s): read it with recv()\n",
				     task_pid_nr(current), current->comm);
		return -EOPNOTSUPP;
	}
	if (level != SOL_TLS)
		return ctx->sk_proto->getsockopt(sk, level, optname, optval,
						 optlen);

	switch (optname) {
	case KTLS_HANDSHAKE_STATUS:
		return ktls_hs_getsockopt(sk, ctx, optval, optlen);
	case TLS_TX:
	case TLS_RX:
		return ktls_get_crypto(sk, ctx, optval, optlen,
				       optname == TLS_TX);
	case TLS_TX_ZEROCOPY_RO:
		return ktls_get_zerocopy_ro(ctx, optval, optlen);
	case TLS_TX_MAX_PAYLOAD_LEN:
		return ktls_get_max_payload(ctx, optval, optlen);
	case TLS_RX_EXPECT_NO_PAD:
		return ktls_get_no_pad(sk, ctx, optval, optlen);
	default:
		return -ENOPROTOOPT;
	}
}
