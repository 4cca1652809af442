// SPDX-License-Identifier: GPL-2.0
/*
 * ktls - sock_diag: what `ss -tie` and other inet_diag users see.
 *
 * tcp_diag asks the ULP for its details (to CAP_NET_ADMIN callers only)
 * under rcu_read_lock(), possibly while the socket is being closed: the
 * context is freed after a grace period, and a closed socket has its
 * icsk_ulp_data cleared first, so it is simply reported without details.
 *
 * Attributes, nested in INET_ULP_INFO_TLS as the in-tree module does:
 * TLS_INFO_VERSION and TLS_INFO_CIPHER (u16, once a direction is
 * configured), TLS_INFO_TXCONF and TLS_INFO_RXCONF (u16, TLS_CONF_*), and
 * the flag TLS_INFO_ZC_RO_TX when TLS_TX_ZEROCOPY_RO is set.
 */
#include <linux/kernel.h>
#include <linux/inet_diag.h>
#include <net/netlink.h>
#include <net/tcp.h>

#include "ktls.h"

static u16 ktls_conf_uapi(u8 conf)
{
	switch (conf) {
	case KTLS_CONF_SW:
		return TLS_CONF_SW;
	case KTLS_CONF_HW:
		return TLS_CONF_HW;
	default:
		return TLS_CONF_BASE;
	}
}

int ktls_diag_get_info(struct sock *sk, struct sk_buff *skb)
{
	struct ktls_ctx *ctx;
	struct nlattr *start;
	u8 tx_conf, rx_conf;
	int err = 0;

	start = nla_nest_start_noflag(skb, INET_ULP_INFO_TLS);
	if (!start)
		return -EMSGSIZE;

	rcu_read_lock();
	ctx = rcu_dereference(inet_csk(sk)->icsk_ulp_data);
	if (!ctx)
		goto out;
	tx_conf = READ_ONCE(ctx->tx_conf);
	rx_conf = READ_ONCE(ctx->rx_conf);
	if (tx_conf != KTLS_CONF_BASE || rx_conf != KTLS_CONF_BASE) {
		err = nla_put_u16(skb, TLS_INFO_VERSION, ctx->prot.version);
		if (err)
			goto out;
		err = nla_put_u16(skb, TLS_INFO_CIPHER,
				  ctx->prot.cipher->type);
		if (err)
			goto out;
	}
	err = nla_put_u16(skb, TLS_INFO_TXCONF, ktls_conf_uapi(tx_conf));
	if (err)
		goto out;
	err = nla_put_u16(skb, TLS_INFO_RXCONF, ktls_conf_uapi(rx_conf));
	if (err)
		goto out;
	if (READ_ONCE(ctx->zerocopy_ro))
		err = nla_put_flag(skb, TLS_INFO_ZC_RO_TX);
out:
	rcu_read_unlock();
	if (err) {
		nla_nest_cancel(skb, start);
		return err;
	}
	nla_nest_end(skb, start);
	return 0;
}

size_t ktls_diag_get_info_size(const struct sock *sk)
{
	return nla_total_size(0) +		/* INET_ULP_INFO_TLS */
	       nla_total_size(sizeof(u16)) +	/* TLS_INFO_VERSION */
	       nla_total_size(sizeof(u16)) +	/* TLS_INFO_CIPHER */
	       nla_total_size(sizeof(u16)) +	/* TLS_INFO_TXCONF */
	       nla_total_size(sizeof(u16)) +	/* TLS_INFO_RXCONF */
	       nla_total_size(0);		/* TLS_INFO_ZC_RO_TX */
}
