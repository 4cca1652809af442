// SPDX-License-Identifier: GPL-2.0
/*
 * ktls - the TCP upper-layer protocol: attach, proto tables, close.
 *
 * setsockopt(TCP_ULP, "ktls") on an established TCP socket calls
 * ktls_ulp_init(), which allocates a struct ktls_ctx and switches the socket
 * to a copy of its TCP proto whose setsockopt/getsockopt/close/disconnect
 * are ours.  Installing a TX or RX key (sockopt.c) then moves the socket to
 * the variant of the table that also routes sendmsg (and sendpage, on
 * kernels that have it) or recvmsg through the direction's ops
 * (ktls_ulp_attach_tx/rx); a handshake in progress keeps it on the gate
 * table instead.  Every switch goes through
 * __ktls_switch_proto().  The tables are built once per base proto (IPv4
 * and IPv6 TCP), lazily, because tcpv6_prot may live in a module.
 *
 * With the parameter ulp_tls_alias=1 the same ULP is also registered under
 * the in-tree module's name "tls", so that libraries asking for "tls"
 * (OpenSSL, GnuTLS) get ktls unchanged.
 */
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <net/tcp.h>
#include <net/inet_common.h>

#include "ktls.h"

enum { KTLS_V4, KTLS_V6, KTLS_NFAMILIES };

/*
 * The tables of one address family: one per (TX, RX) configuration, and
 * the gate, where a socket waits while a handshake is in progress on it
 * (handshake.c): the key-less table whose data calls let only the agent
 * through, to the table its keys select, and fail everyone else with EBUSY.
 */
struct ktls_family {
	struct mutex lock;		/* serialises building the tables */
	const struct proto *base;	/* published with release semantics */
	struct proto protos[KTLS_CONF_NUM][KTLS_CONF_NUM];
	struct proto_ops ops[KTLS_CONF_NUM][KTLS_CONF_NUM];
	struct proto gate;
	struct proto_ops gate_ops;
};

static struct ktls_family ktls_families[KTLS_NFAMILIES] = {
	[KTLS_V4] = { .lock = __MUTEX_INITIALIZER(ktls_families[0].lock) },
	[KTLS_V6] = { .lock = __MUTEX_INITIALIZER(ktls_families[1].lock) },
};

static struct ktls_family *ktls_family_of(const struct sock *sk)
{
	return &ktls_families[sk->sk_family == AF_INET6 ? KTLS_V6 : KTLS_V4];
}

void ktls_err_abort(struct sock *sk, int err)
{
	WRITE_ONCE(sk->sk_err, -err);
	/* Pairs with the smp_rmb() in tcp_poll(). */
	smp_wmb();
	sk_error_report(sk);
}

/* ---- proto entry points that dispatch to the per-direction ops ---- */

static int ktls_sendmsg(struct sock *sk, struct msghdr *msg, size_t size)
{
	return ktls_get_ctx(sk)->tx_ops->sendmsg(sk, msg, size);
}

#ifdef KTLS_COMPAT_SENDPAGE
static int ktls_sendpage(struct sock *sk, struct page *page, int offset,
			 size_t size, int flags)
{
	return ktls_get_ctx(sk)->tx_ops->sendpage(sk, page, offset, size,
						  flags);
}
#endif

static void ktls_splice_eof(struct socket *sock)
{
	struct sock *sk = sock->sk;

	ktls_get_ctx(sk)->tx_ops->flush(sk);
}

/*
 * SHUT_WR: TCP queues its FIN behind what it holds, and after it refuses
 * more data; records the application closed but that are still being
 * encrypted or wait for room must get in first.  When they cannot yet,
 * the TX path sends the FIN itself once they are in, and only the read
 * side is shut here.  (A record left open with MSG_MORE is not closed, as
 * in the in-tree module.)
 */
static int ktls_shutdown(struct socket *sock, int how)
{
	struct ktls_ctx *ctx = ktls_get_ctx(sock->sk);

	if ((how == SHUT_WR || how == SHUT_RDWR) &&
	    ctx->tx_ops->drain(sock->sk)) {
		if (how == SHUT_WR)
			return 0;
		how = SHUT_RD;
	}
	return ctx->sk_ops->shutdown(sock, how);
}

static int ktls_recvmsg(struct sock *sk, struct msghdr *msg, size_t len,
			int flags, int *addr_len)
{
	return ktls_get_ctx(sk)->rx_ops->recvmsg(sk, msg, len, flags,
						 addr_len);
}

static ssize_t ktls_splice_read(struct socket *sock, loff_t *ppos,
				struct pipe_inode_info *pipe, size_t len,
				unsigned int flags)
{
	struct sock *sk = sock->sk;

	return ktls_get_ctx(sk)->rx_ops->splice_read(sk, pipe, len, flags);
}

static bool ktls_sock_is_readable(struct sock *sk)
{
	struct ktls_ctx *ctx = ktls_get_ctx(sk);

	return ctx && ctx->rx_ops && ctx->rx_ops->readable(ctx);
}

static __poll_t ktls_poll(struct file *file, struct socket *sock,
			  struct poll_table_struct *wait)
{
	struct ktls_ctx *ctx = ktls_get_ctx(sock->sk);

	/* close() restores TCP's ops before the context goes. */
	if (unlikely(!ctx || !ctx->rx_ops))
		return tcp_poll(file, sock, wait);
	return ctx->rx_ops->poll(file, sock, wait);
}

static void ktls_data_ready(struct sock *sk)
{
	ktls_get_ctx(sk)->rx_ops->data_ready(sk);
}

static void ktls_write_space(struct sock *sk)
{
	ktls_get_ctx(sk)->tx_ops->write_space(sk);
}

/* tcp_disconnect() would leave the record state describing a stream that
 * no longer exists; the newest kernels refuse it too. */
static int ktls_disconnect(struct sock *sk, int flags)
{
	return -EOPNOTSUPP;
}

/* ---- the gate: a handshake in progress ---- */

/* The table the socket's keys select, gate aside. */
static const struct proto *ktls_gate_real(const struct sock *sk)
{
	const struct ktls_ctx *ctx = ktls_get_ctx(sk);

	return &ktls_family_of(sk)->protos[READ_ONCE(ctx->tx_conf)]
					  [READ_ONCE(ctx->rx_conf)];
}

static int ktls_gate_sendmsg(struct sock *sk, struct msghdr *msg,
			     size_t size)
{
	if (!ktls_hs_may_io(sk))
		return -EBUSY;
	return ktls_gate_real(sk)->sendmsg(sk, msg, size);
}

#ifdef KTLS_COMPAT_SENDPAGE
static int ktls_gate_sendpage(struct sock *sk, struct page *page,
			      int offset, size_t size, int flags)
{
	if (!ktls_hs_may_io(sk))
		return -EBUSY;
	return ktls_gate_real(sk)->sendpage(sk, page, offset, size, flags);
}
#endif

static void ktls_gate_splice_eof(struct socket *sock)
{
	const struct proto *p;

	if (!ktls_hs_may_io(sock->sk))
		return;
	p = ktls_gate_real(sock->sk);
	if (p->splice_eof)
		p->splice_eof(sock);
}

static int ktls_gate_recvmsg(struct sock *sk, struct msghdr *msg,
			     size_t len, int flags, int *addr_len)
{
	if (!ktls_hs_may_io(sk))
		return -EBUSY;
	return ktls_gate_real(sk)->recvmsg(sk, msg, len, flags, addr_len);
}

static bool ktls_gate_readable(struct sock *sk)
{
	const struct proto *p;

	if (!ktls_hs_may_io(sk))
		return false;
	p = ktls_gate_real(sk);
	return p->sock_is_readable && p->sock_is_readable(sk);
}

static __poll_t ktls_gate_poll(struct file *file, struct socket *sock,
			       struct poll_table_struct *wait)
{
	const struct ktls_ctx *ctx;

	if (!ktls_hs_may_io(sock->sk)) {
		sock_poll_wait(file, sock, wait);
		/* Finishing the handshake wakes the queue after lifting the
		 * gate. */
		if (!ktls_hs_may_io(sock->sk))
			return 0;
	}
	ctx = ktls_get_ctx(sock->sk);
	return ktls_family_of(sock->sk)->ops[READ_ONCE(ctx->tx_conf)]
					    [READ_ONCE(ctx->rx_conf)]
					    .poll(file, sock, wait);
}

static void ktls_ctx_free_rcu(struct rcu_head *head)
{
	struct ktls_ctx *ctx = container_of(head, struct ktls_ctx, rcu);

	kfree_sensitive(ctx);
}

static void ktls_close(struct sock *sk, long timeout)
{
	struct ktls_ctx *ctx = ktls_get_ctx(sk);
	struct proto *base = ctx->sk_proto;
	bool keep;

	ktls_hs_sock_close(sk, ctx);	/* a handshake in progress ends */
	mutex_lock(&ctx->tx_lock);
	lock_sock(sk);
	if (ctx->tx_conf != KTLS_CONF_BASE)
		ctx->tx_ops->release(sk, ctx);

	/* An offloaded TX direction's records are still TCP's to send:
	 * the context stays attached until the socket is freed (tx_dev.c). */
	keep = ktls_tx_dev_closed(sk, ctx);
	write_lock_bh(&sk->sk_callback_lock);
	if (!keep)
		rcu_assign_pointer(inet_csk(sk)->icsk_ulp_data, NULL);
	WRITE_ONCE(sk->sk_prot, base);
	if (sk->sk_socket)
		WRITE_ONCE(sk->sk_socket->ops, ctx->sk_ops);
	if (ctx->rx_conf != KTLS_CONF_BASE)
		sk->sk_data_ready = ctx->sk_data_ready;
	if (ctx->tx_conf != KTLS_CONF_BASE)
		sk->sk_write_space = ctx->sk_write_space;
	write_unlock_bh(&sk->sk_callback_lock);
	release_sock(sk);
	mutex_unlock(&ctx->tx_lock);

	if (ctx->tx_conf != KTLS_CONF_BASE) {
		ctx->tx_ops->free(ctx);
		ktls_stat_dec(sk, ctx->tx_ops->stat_curr);
	}
	if (ctx->rx_conf != KTLS_CONF_BASE) {
		ctx->rx_ops->free(ctx);
		ktls_stat_dec(sk, ctx->rx_ops->stat_curr);
	}
	mutex_destroy(&ctx->tx_lock);
	/* sock_diag may still look at the context under RCU. */
	if (!keep)
		call_rcu(&ctx->rcu, ktls_ctx_free_rcu);

	base->close(sk, timeout);
}

static void ktls_build_tables(struct ktls_family *f, const struct proto *base,
			      const struct proto_ops *base_ops)
{
	int tx, rx;

	for (tx = 0; tx < KTLS_CONF_NUM; tx++) {
		for (rx = 0; rx < KTLS_CONF_NUM; rx++) {
			struct proto *p = &f->protos[tx][rx];
			struct proto_ops *o = &f->ops[tx][rx];

			*p = *base;
			p->setsockopt = ktls_setsockopt;
			p->getsockopt = ktls_getsockopt;
			p->close = ktls_close;
			p->disconnect = ktls_disconnect;
			*o = *base_ops;

			if (tx != KTLS_CONF_BASE) {
				p->sendmsg = ktls_sendmsg;
#ifdef KTLS_COMPAT_SENDPAGE
				p->sendpage = ktls_sendpage;
#endif
				p->splice_eof = ktls_splice_eof;
				/* In-kernel senders would bypass the record
				 * layer through these; refuse them. */
				o->sendmsg_locked = NULL;
#ifdef KTLS_COMPAT_SENDPAGE
				o->sendpage_locked = NULL;
#endif
				o->shutdown = ktls_shutdown;
			}
			if (rx != KTLS_CONF_BASE) {
				p->recvmsg = ktls_recvmsg;
				p->sock_is_readable = ktls_sock_is_readable;
				o->poll = ktls_poll;
				o->splice_read = ktls_splice_read;
				/* Would hand ciphertext to in-kernel readers. */
				o->read_sock = NULL;
				o->read_skb = NULL;
			}
		}
	}

	f->gate = f->protos[KTLS_CONF_BASE][KTLS_CONF_BASE];
	f->gate_ops = f->ops[KTLS_CONF_BASE][KTLS_CONF_BASE];
	f->gate.sendmsg = ktls_gate_sendmsg;
#ifdef KTLS_COMPAT_SENDPAGE
	f->gate.sendpage = ktls_gate_sendpage;
#endif
	f->gate.splice_eof = ktls_gate_splice_eof;
	f->gate.recvmsg = ktls_gate_recvmsg;
	f->gate.sock_is_readable = ktls_gate_readable;
	f->gate_ops.poll = ktls_gate_poll;
	/* In-kernel readers and writers have no business with a stream in
	 * the middle of a handshake. */
	f->gate_ops.sendmsg_locked = NULL;
#ifdef KTLS_COMPAT_SENDPAGE
	f->gate_ops.sendpage_locked = NULL;
#endif
	f->gate_ops.read_sock = NULL;
	f->gate_ops.read_skb = NULL;
	f->gate_ops.splice_read = NULL;
}

/*
 * Build the tables of this socket's family on first use.  They are built
 * once, from plain TCP, and never rebuilt while sockets point at them: a
 * socket whose proto was already replaced by another layer (a sockmap, say)
 * is refused instead.
 */
static int ktls_family_prepare(struct sock *sk)
{
	struct ktls_family *f = ktls_family_of(sk);
	const struct proto *prot = READ_ONCE(sk->sk_prot);
	int err = 0;

	if (likely(smp_load_acquire(&f->base) == prot))
		return 0;
	mutex_lock(&f->lock);
	if (f->base == prot)
		goto out;
	if (f->base || prot->close != tcp_close) {
		err = -EOPNOTSUPP;
		goto out;
	}
	ktls_build_tables(f, prot, sk->sk_socket->ops);
	smp_store_release(&f->base, prot);
out:
	mutex_unlock(&f->lock);
	return err;
}

/*
 * Put the socket on the table its state selects: the gate while a
 * handshake is in progress, else the one of its TX and RX configuration.
 * The socket is locked, and sk_callback_lock held for writing.
 */
static void __ktls_switch_proto(struct sock *sk, struct ktls_ctx *ctx)
{
	struct ktls_family *f = ktls_family_of(sk);

	sock_owned_by_me(sk);
	if (ktls_hs_gated(ctx)) {
		WRITE_ONCE(sk->sk_prot, &f->gate);
		WRITE_ONCE(sk->sk_socket->ops, &f->gate_ops);
		return;
	}
	WRITE_ONCE(sk->sk_prot, &f->protos[ctx->tx_conf][ctx->rx_conf]);
	WRITE_ONCE(sk->sk_socket->ops, &f->ops[ctx->tx_conf][ctx->rx_conf]);
}

/* The same for a state change that touches nothing else (handshake.c). */
void ktls_switch_proto(struct sock *sk, struct ktls_ctx *ctx)
{
	write_lock_bh(&sk->sk_callback_lock);
	__ktls_switch_proto(sk, ctx);
	write_unlock_bh(&sk->sk_callback_lock);
}

/*
 * Route a direction through @ops: its callback and the proto table of the
 * new configuration.  The socket is locked; the table was picked and
 * initialised by sockopt.c.
 */
void ktls_ulp_attach_tx(struct sock *sk, struct ktls_ctx *ctx,
			const struct ktls_tx_ops *ops)
{
	write_lock_bh(&sk->sk_callback_lock);
	ctx->tx_ops = ops;
	WRITE_ONCE(ctx->tx_conf, ops->conf);
	sk->sk_write_space = ktls_write_space;
	__ktls_switch_proto(sk, ctx);
	write_unlock_bh(&sk->sk_callback_lock);
}

void ktls_ulp_attach_rx(struct sock *sk, struct ktls_ctx *ctx,
			const struct ktls_rx_ops *ops)
{
	write_lock_bh(&sk->sk_callback_lock);
	ctx->rx_ops = ops;
	WRITE_ONCE(ctx->rx_conf, ops->conf);
	sk->sk_data_ready = ktls_data_ready;
	/* TLS has no urgent data: a byte a peer marks urgent is one of a
	 * record's, and TCP must not skip it (tcp_check_urg() does when
	 * urgent data is out of line). */
	sock_set_flag(sk, SOCK_URGINLINE);
	__ktls_switch_proto(sk, ctx);
	write_unlock_bh(&sk->sk_callback_lock);
}

static int ktls_ulp_init(struct sock *sk)
{
	struct ktls_ctx *ctx;
	int err;

	/* Only an established connection has a byte stream to frame; a
	 * listener's children would share the context. */
	if (sk->sk_state != TCP_ESTABLISHED)
		return -ENOTCONN;
	if (!sk->sk_socket)
		return -EINVAL;

	err = ktls_family_prepare(sk);
	if (err)
		return err;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL_ACCOUNT);
	if (!ctx)
		return -ENOMEM;
	ctx->sk = sk;
	mutex_init(&ctx->tx_lock);
	ctx->tx_conf = KTLS_CONF_BASE;
	ctx->rx_conf = KTLS_CONF_BASE;
	ctx->tx_max_payload = KTLS_MAX_PAYLOAD;

	write_lock_bh(&sk->sk_callback_lock);
	ctx->sk_proto = sk->sk_prot;
	ctx->sk_ops = sk->sk_socket->ops;
	ctx->sk_data_ready = sk->sk_data_ready;
	ctx->sk_write_space = sk->sk_write_space;
	rcu_assign_pointer(inet_csk(sk)->icsk_ulp_data, ctx);
	__ktls_switch_proto(sk, ctx);
	write_unlock_bh(&sk->sk_callback_lock);
	return 0;
}

/* A sockmap or similar layer replaces the proto underneath us. */
static void ktls_ulp_update(struct sock *sk, struct proto *p,
			    void (*write_space)(struct sock *sk))
{
	struct ktls_ctx *ctx = ktls_get_ctx(sk);

	if (likely(ctx)) {
		ctx->sk_write_space = write_space;
		ctx->sk_proto = p;
	} else {
		WRITE_ONCE(sk->sk_prot, p);
		sk->sk_write_space = write_space;
	}
}

static struct tcp_ulp_ops ktls_ulp_ops __read_mostly = {
	.name	= KTLS_ULP_NAME,
	.owner	= THIS_MODULE,
	.init	= ktls_ulp_init,
	.update	= ktls_ulp_update,
	.get_info	= ktls_diag_get_info,
	.get_info_size	= ktls_diag_get_info_size,
};

/*
 * The drop-in name.  A socket records the ops it attached through in
 * icsk_ulp_ops, and getsockopt(TCP_ULP) and sock_diag report that entry's
 * name: a socket that asked for "tls" reads back "tls".  Everything else is
 * shared with "ktls".
 */
static struct tcp_ulp_ops ktls_ulp_tls_ops __read_mostly = {
	.name	= KTLS_ULP_TLS_NAME,
	.owner	= THIS_MODULE,
	.init	= ktls_ulp_init,
	.update	= ktls_ulp_update,
	.get_info	= ktls_diag_get_info,
	.get_info_size	= ktls_diag_get_info_size,
};

static bool ulp_tls_alias;
module_param(ulp_tls_alias, bool, 0444);
MODULE_PARM_DESC(ulp_tls_alias,
		 "also register as TCP ULP \"tls\" (the in-tree tls module must not be loaded)");

/*
 * With the alias held, the in-tree module would still load: its init
 * ignores the -EEXIST of tcp_register_ulp(), so "tls" would silently keep
 * meaning ktls, and its exit would then list_del() an entry that was never
 * added.  Refuse it before its init runs, and say why.
 */
static int ktls_module_notify(struct notifier_block *nb, unsigned long state,
			      void *data)
{
	struct module *mod = data;

	if (state != MODULE_STATE_COMING || strcmp(mod->name, "tls"))
		return NOTIFY_DONE;
	pr_err("ktls: refusing to load module tls: ktls answers to TCP ULP \"tls\" (ulp_tls_alias=1); unload ktls first to use the in-tree module\n");
	return notifier_from_errno(-EBUSY);
}

static struct notifier_block ktls_module_nb = {
	.notifier_call = ktls_module_notify,
};

int ktls_ulp_register(void)
{
	int err;

	err = tcp_register_ulp(&ktls_ulp_ops);
	if (err || !ulp_tls_alias)
		return err;

	err = register_module_notifier(&ktls_module_nb);
	if (err)
		goto err_ulp;
	err = tcp_register_ulp(&ktls_ulp_tls_ops);
	if (err == -EEXIST)
		pr_err("ktls: TCP ULP \"tls\" is already registered (the in-tree tls module is loaded): unload it (rmmod tls) or load ktls without ulp_tls_alias=1\n");
	if (err)
		goto err_notifier;
	pr_info("ktls: also registered as TCP ULP \"%s\" (ulp_tls_alias=1)\n",
		KTLS_ULP_TLS_NAME);
	return 0;

err_notifier:
	unregister_module_notifier(&ktls_module_nb);
err_ulp:
	tcp_unregister_ulp(&ktls_ulp_ops);
	return err;
}

void ktls_ulp_unregister(void)
{
	if (ulp_tls_alias) {
		tcp_unregister_ulp(&ktls_ulp_tls_ops);
		unregister_module_notifier(&ktls_module_nb);
	}
	tcp_unregister_ulp(&ktls_ulp_ops);
	/* Contexts of closed sockets are freed by RCU callbacks that live
	 * in this module. */
	rcu_barrier();
}
