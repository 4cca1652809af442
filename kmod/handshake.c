// SPDX-License-Identifier: GPL-2.0
/*
 * ktls - the handshake upcall: the life of a handshake request.
 *
 * A request is created by setsockopt(SOL_TLS, KTLS_HANDSHAKE) or by
 * ktls_handshake_start(), waits on ktls_hs_pending until an agent (ktlsd)
 * accepts it, then on ktls_hs_running until the agent reports DONE.  It
 * finishes exactly once, in ktls_hs_finish(), for one of these reasons:
 *
 *	DONE from the agent		its status
 *	the timeout			-ETIMEDOUT (running: connection aborted)
 *	the agent's netlink socket	-ECONNABORTED (connection aborted)
 *	  closed before DONE
 *	the socket closed		-ECANCELED
 *	ktls_handshake_cancel()		-ECANCELED (running: connection aborted)
 *
 * While a request is not finished the socket sits on a "gate" proto table:
 * a copy of ktls's key-less table whose data entry points let only the
 * agent's process through (to whatever ktls table the socket's keys select)
 * and fail everyone else with EBUSY; poll shows nothing to them until the
 * request has finished.  Installing a key during the handshake keeps the
 * gate (ktls_update_sk_prot() asks ktls_hs_gate()); finishing lifts it.
 *
 * References to a request (ktls_hs_req.ref):
 *	ctx->hs		from submission until the socket closes or a newer
 *			request replaces it (taken over from the allocation)
 *	a list		while on ktls_hs_pending or ktls_hs_running
 *	the timer	while the timeout work is queued or running
 *	transient	a waiter in setsockopt, a netlink handler, the close
 *			hook, each for the duration of its use
 * The last put frees it after an RCU grace period: the gate reads ctx->hs
 * without the socket lock, and a newer request may replace it meanwhile.
 * A request holds the socket (sock_hold) but not its file: the file
 * pointer is only used by ACCEPT under ktls_hs_lock while the request is
 * still pending, which guarantees the file has not been freed yet (the
 * close hook, which runs before the file is freed, takes it off the list
 * first), and ACCEPT takes a file reference only if the count is not zero.
 */
#include <linux/module.h>
#include <linux/file.h>
#include <linux/slab.h>
#include <linux/sockptr.h>
#include <linux/sched.h>
#include <linux/pid.h>
#include <linux/cred.h>
#include <net/tcp.h>

#include "ktls.h"
#include "handshake.h"

static unsigned int handshake_max_pending = 1024;
module_param(handshake_max_pending, uint, 0644);
MODULE_PARM_DESC(handshake_max_pending,
		 "Handshake requests that may wait for an agent at once (EAGAIN beyond)");

static DEFINE_SPINLOCK(ktls_hs_lock);
static LIST_HEAD(ktls_hs_pending);
static LIST_HEAD(ktls_hs_running);
static unsigned int ktls_hs_npending;		/* under ktls_hs_lock */
static u32 ktls_hs_last_id;			/* under ktls_hs_lock */
static struct workqueue_struct *ktls_hs_wq;	/* timeouts */

/* ---- the gate proto table ---- */

enum { KTLS_HS_V4, KTLS_HS_V6, KTLS_HS_NFAMILIES };

struct ktls_hs_gate_table {
	struct proto prot;
	struct proto_ops ops;
	bool built;			/* published with release semantics */
};

static DEFINE_MUTEX(ktls_hs_gate_lock);	/* serialises building */
static struct ktls_hs_gate_table ktls_hs_gates[KTLS_HS_NFAMILIES];

static struct ktls_hs_gate_table *ktls_hs_gate_of(const struct sock *sk)
{
	return &ktls_hs_gates[sk->sk_family == AF_INET6 ? KTLS_HS_V6 :
			      KTLS_HS_V4];
}

static bool ktls_hs_active(const struct ktls_hs_req *req)
{
	return req && READ_ONCE(req->state) != KTLS_HS_STATE_DONE;
}

/* May the current task read and write @sk?  Everyone may, unless a
 * handshake is in progress and we are not its agent. */
bool ktls_hs_may_io(const struct sock *sk)
{
	struct ktls_ctx *ctx = ktls_get_ctx(sk);
	struct ktls_hs_req *req;
	bool ok;

	if (!ctx)
		return true;
	/* A newer request may replace and free ctx->hs meanwhile. */
	rcu_read_lock();
	req = READ_ONCE(ctx->hs);
	ok = !ktls_hs_active(req) ||
	     READ_ONCE(req->agent) == task_tgid(current);
	rcu_read_unlock();
	return ok;
}

/* The table the socket's keys select, gate aside. */
static const struct proto *ktls_hs_real(const struct sock *sk)
{
	const struct ktls_ctx *ctx = ktls_get_ctx(sk);

	return ktls_ulp_proto(sk, READ_ONCE(ctx->tx_conf),
			      READ_ONCE(ctx->rx_conf));
}

static const struct proto_ops *ktls_hs_real_ops(const struct sock *sk)
{
	const struct ktls_ctx *ctx = ktls_get_ctx(sk);

	return ktls_ulp_proto_ops(sk, READ_ONCE(ctx->tx_conf),
				  READ_ONCE(ctx->rx_conf));
}

static int ktls_hs_gate_sendmsg(struct sock *sk, struct msghdr *msg,
				size_t size)
{
	if (!ktls_hs_may_io(sk))
		return -EBUSY;
	return ktls_hs_real(sk)->sendmsg(sk, msg, size);
}

static int ktls_hs_gate_sendpage(struct sock *sk, struct page *page,
				 int offset, size_t size, int flags)
{
	if (!ktls_hs_may_io(sk))
		return -EBUSY;
	return ktls_hs_real(sk)->sendpage(sk, page, offset, size, flags);
}

static void ktls_hs_gate_splice_eof(struct socket *sock)
{
	const struct proto *p;

	if (!ktls_hs_may_io(sock->sk))
		return;
	p = ktls_hs_real(sock->sk);
	if (p->splice_eof)
		p->splice_eof(sock);
}

static int ktls_hs_gate_recvmsg(struct sock *sk, struct msghdr *msg,
				size_t len, int flags, int *addr_len)
{
	if (!ktls_hs_may_io(sk))
		return -EBUSY;
	return ktls_hs_real(sk)->recvmsg(sk, msg, len, flags, addr_len);
}

static bool ktls_hs_gate_readable(struct sock *sk)
{
	const struct proto *p;

	if (!ktls_hs_may_io(sk))
		return false;
	p = ktls_hs_real(sk);
	return p->sock_is_readable && p->sock_is_readable(sk);
}

static __poll_t ktls_hs_gate_poll(struct file *file, struct socket *sock,
				  struct poll_table_struct *wait)
{
	if (!ktls_hs_may_io(sock->sk)) {
		sock_poll_wait(file, sock, wait);
		/* ktls_hs_finish() wakes the queue after lifting the gate. */
		if (!ktls_hs_may_io(sock->sk))
			return 0;
	}
	return ktls_hs_real_ops(sock->sk)->poll(file, sock, wait);
}

/* Build this family's gate table from ktls's key-less table, which
 * exists: the socket, locked by the caller, is on it. */
static void ktls_hs_gate_prepare(const struct sock *sk)
{
	struct ktls_hs_gate_table *g = ktls_hs_gate_of(sk);
	struct proto *p = &g->prot;
	struct proto_ops *o = &g->ops;

	if (likely(smp_load_acquire(&g->built)))
		return;
	mutex_lock(&ktls_hs_gate_lock);
	if (g->built)
		goto out;
	*p = *ktls_ulp_proto(sk, KTLS_CONF_BASE, KTLS_CONF_BASE);
	*o = *ktls_ulp_proto_ops(sk, KTLS_CONF_BASE, KTLS_CONF_BASE);
	p->sendmsg = ktls_hs_gate_sendmsg;
	p->sendpage = ktls_hs_gate_sendpage;
	p->splice_eof = ktls_hs_gate_splice_eof;
	p->recvmsg = ktls_hs_gate_recvmsg;
	p->sock_is_readable = ktls_hs_gate_readable;
	o->poll = ktls_hs_gate_poll;
	/* In-kernel readers and writers have no business with a stream in
	 * the middle of a handshake. */
	o->sendmsg_locked = NULL;
	o->sendpage_locked = NULL;
	o->read_sock = NULL;
	o->read_skb = NULL;
	o->splice_read = NULL;
	smp_store_release(&g->built, true);
out:
	mutex_unlock(&ktls_hs_gate_lock);
}

/*
 * Called by ktls_update_sk_prot() with the socket locked and
 * sk_callback_lock held for writing: while a handshake is in progress the
 * socket stays on the gate table, whatever keys it gets.
 */
bool ktls_hs_gate(struct sock *sk, struct ktls_ctx *ctx)
{
	struct ktls_hs_gate_table *g = ktls_hs_gate_of(sk);

	sock_owned_by_me(sk);
	if (!ktls_hs_active(ctx->hs))
		return false;
	WRITE_ONCE(sk->sk_prot, &g->prot);
	WRITE_ONCE(sk->sk_socket->ops, &g->ops);
	return true;
}

/* ---- requests ---- */

static void ktls_hs_free(struct ktls_hs_req *req)
{
	put_pid(req->agent);
	put_pid(req->requester);
	if (req->groups)
		put_group_info(req->groups);
	if (req->sk)		/* not when submission failed early */
		sock_put(req->sk);
	kfree_rcu(req, rcu);
}

void ktls_hs_put(struct ktls_hs_req *req)
{
	if (refcount_dec_and_test(&req->ref))
		ktls_hs_free(req);
}

static void ktls_hs_wake(struct sock *sk)
{
	struct socket_wq *wq;

	rcu_read_lock();
	wq = rcu_dereference(sk->sk_wq);
	if (skwq_has_sleeper(wq))
		wake_up_interruptible_poll(&wq->wait, EPOLLIN | EPOLLRDNORM |
					   EPOLLOUT | EPOLLWRNORM);
	rcu_read_unlock();
}

/* Put the socket back on the table its keys select. */
static void ktls_hs_ungate(struct ktls_hs_req *req)
{
	struct sock *sk = req->sk;
	struct ktls_ctx *ctx;

	lock_sock(sk);
	ctx = ktls_get_ctx(sk);
	/* Not ours any more if the socket was closed (ctx gone) or a newer
	 * request replaced this one. */
	if (ctx && ctx->hs == req) {
		write_lock_bh(&sk->sk_callback_lock);
		ktls_update_sk_prot(sk, ctx);
		write_unlock_bh(&sk->sk_callback_lock);
	}
	release_sock(sk);
}

/*
 * Finish @req with @status (0 or negative errno) and, for a successful
 * DONE, @res.  Returns false if it had finished already.  @abort resets
 * the connection if an agent was working on it (its stream is then in an
 * unknown state); @notify calls the in-kernel requester's callback.  The
 * caller holds a reference; no lock may be held.
 */
static bool ktls_hs_finish(struct ktls_hs_req *req, int status,
			   const struct ktls_handshake_result *res,
			   bool abort, bool notify)
{
	bool listed, running, call;

	might_sleep();
	spin_lock(&ktls_hs_lock);
	if (req->state == KTLS_HS_STATE_DONE) {
		spin_unlock(&ktls_hs_lock);
		return false;
	}
	if (req->state == KTLS_HS_STATE_PENDING && !list_empty(&req->node))
		ktls_hs_npending--;
	running = req->state == KTLS_HS_STATE_RUNNING;
	listed = !list_empty(&req->node);
	list_del_init(&req->node);
	req->file = NULL;
	req->status = status;
	if (res)
		req->res = *res;
	call = req->notify && notify;
	req->notify = false;
	WRITE_ONCE(req->state, KTLS_HS_STATE_DONE);
	spin_unlock(&ktls_hs_lock);

	/* The work itself may be what is finishing us: then this fails and
	 * the work drops its own reference when it returns. */
	if (cancel_delayed_work(&req->timeout))
		ktls_hs_put(req);

	ktls_hs_ungate(req);
	if (abort && running)
		tcp_abort(req->sk, -status);
	complete_all(&req->done);
	ktls_hs_wake(req->sk);
	if (call)
		req->done_cb(req->data, status, &req->res);
	if (listed)
		ktls_hs_put(req);
	return true;
}

static void ktls_hs_timeout(struct work_struct *work)
{
	struct ktls_hs_req *req = container_of(to_delayed_work(work),
					       struct ktls_hs_req, timeout);

	ktls_hs_finish(req, -ETIMEDOUT, NULL, true, true);
	ktls_hs_put(req);
}

static bool ktls_hs_str_ok(const char *s, size_t size, const char *extra,
			   bool list)
{
	size_t len = strnlen(s, size), i;

	if (len == size)
		return false;		/* not terminated */
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!list) {
			if (!isalnum(c) && !strchr(extra, c))
				return false;
		} else if (!isgraph(c) ||
			   (c == ',' && (i == 0 || s[i + 1] == ',' ||
					 i == len - 1))) {
			return false;	/* a space or an empty item */
		}
	}
	return true;
}

static struct ktls_hs_req *ktls_hs_alloc(u32 role, u32 timeout_ms,
					 const char *server_name,
					 const char *profile, const char *alpn)
{
	struct ktls_hs_req *req;

	if (role != KTLS_ROLE_CLIENT && role != KTLS_ROLE_SERVER)
		return ERR_PTR(-EINVAL);
	if (timeout_ms > KTLS_HS_TIMEOUT_MAX_MS)
		return ERR_PTR(-EINVAL);
	req = kzalloc(sizeof(*req), GFP_KERNEL);
	if (!req)
		return ERR_PTR(-ENOMEM);
	if (strscpy(req->server_name, server_name ?: "",
		    sizeof(req->server_name)) < 0 ||
	    strscpy(req->profile, profile ?: "", sizeof(req->profile)) < 0 ||
	    strscpy(req->alpn, alpn ?: "", sizeof(req->alpn)) < 0 ||
	    !ktls_hs_str_ok(req->server_name, sizeof(req->server_name),
			    ".-_:", false) ||
	    !ktls_hs_str_ok(req->profile, sizeof(req->profile), ".-_",
			    false) ||
	    !ktls_hs_str_ok(req->alpn, sizeof(req->alpn), "", true)) {
		kfree(req);
		return ERR_PTR(-EINVAL);
	}
	req->uid = INVALID_UID;		/* until ktls_hs_set_requester() */
	req->gid = INVALID_GID;
	refcount_set(&req->ref, 1);
	INIT_LIST_HEAD(&req->node);
	INIT_DELAYED_WORK(&req->timeout, ktls_hs_timeout);
	init_completion(&req->done);
	req->state = KTLS_HS_STATE_PENDING;
	req->role = role;
	req->timeout_ms = timeout_ms ?: KTLS_HS_TIMEOUT_DEFAULT_MS;
	return req;
}

/*
 * Record who asks: the file-system ids of @cred (the ids the kernel checks
 * file access with, so that a setfsuid() server asks as the user it
 * serves) and @tgid, when the request comes from a process.  The agent
 * gets them mapped into its own user and pid namespaces at ACCEPT.
 */
static void ktls_hs_set_requester(struct ktls_hs_req *req,
				  const struct cred *cred, struct pid *tgid)
{
	req->uid = cred->fsuid;
	req->gid = cred->fsgid;
	req->groups = get_group_info(cred->group_info);
	req->requester = get_pid(tgid);
}

/* Is @sk a TCP socket with this module's ULP attached?  Socket locked. */
static bool ktls_hs_sock_ours(const struct sock *sk)
{
	const struct tcp_ulp_ops *ulp;

	if (sk->sk_type != SOCK_STREAM || sk->sk_protocol != IPPROTO_TCP ||
	    !sk_fullsock(sk))
		return false;
	ulp = inet_csk(sk)->icsk_ulp_ops;
	return ulp && ulp->owner == THIS_MODULE && ktls_get_ctx(sk);
}

/*
 * Queue @req for @sk and announce it.  Consumes the caller's allocation
 * reference in every case (on success it becomes ctx->hs's).  Returns 0 or
 * a negative errno; on error the in-kernel callback is never called.
 */
static int ktls_hs_submit(struct sock *sk, struct ktls_hs_req *req)
{
	struct net *net = sock_net(sk);
	struct ktls_hs_req *old = NULL;
	struct ktls_ctx *ctx;
	unsigned long delay;
	u32 id;
	int err;

	lock_sock(sk);
	err = -EINVAL;
	if (!ktls_hs_sock_ours(sk))
		goto out_unlock;
	ctx = ktls_get_ctx(sk);
	err = -EALREADY;
	if (ktls_hs_active(ctx->hs))
		goto out_unlock;
	err = -EISCONN;
	if (ctx->tx_conf != KTLS_CONF_BASE || ctx->rx_conf != KTLS_CONF_BASE)
		goto out_unlock;
	err = -EBADF;
	if (!sk->sk_socket || !sk->sk_socket->file)
		goto out_unlock;
	err = -ECONNREFUSED;
	if (!ktls_nl_has_agent(net))
		goto out_unlock;

	spin_lock(&ktls_hs_lock);
	if (ktls_hs_npending >= READ_ONCE(handshake_max_pending)) {
		spin_unlock(&ktls_hs_lock);
		err = -EAGAIN;
		goto out_unlock;
	}
	ktls_hs_npending++;		/* reserved: we cannot fail now */
	id = ++ktls_hs_last_id;
	if (!id)
		id = ++ktls_hs_last_id;
	req->id = id;
	spin_unlock(&ktls_hs_lock);

	sock_hold(sk);
	req->sk = sk;
	req->file = sk->sk_socket->file;
	delay = msecs_to_jiffies(req->timeout_ms);
	req->deadline = jiffies + delay;
	ktls_hs_gate_prepare(sk);

	old = ctx->hs;
	WRITE_ONCE(ctx->hs, req);
	write_lock_bh(&sk->sk_callback_lock);
	ktls_update_sk_prot(sk, ctx);		/* onto the gate */
	write_unlock_bh(&sk->sk_callback_lock);

	spin_lock(&ktls_hs_lock);
	refcount_inc(&req->ref);		/* the list's */
	list_add_tail(&req->node, &ktls_hs_pending);
	refcount_inc(&req->ref);		/* the timer's */
	queue_delayed_work(ktls_hs_wq, &req->timeout, delay);
	spin_unlock(&ktls_hs_lock);
	release_sock(sk);

	if (old)
		ktls_hs_put(old);

	err = ktls_nl_announce(net, id);
	if (err == -ESRCH) {
		/* The last agent left since we looked. */
		refcount_inc(&req->ref);
		ktls_hs_finish(req, -ECONNREFUSED, NULL, false, false);
		ktls_hs_put(req);
		return -ECONNREFUSED;
	}
	if (err)
		net_warn_ratelimited("ktls: handshake %u not announced: %d\n",
				     id, err);
	return 0;

out_unlock:
	release_sock(sk);
	ktls_hs_put(req);
	return err;
}

/* ---- socket options ---- */

int ktls_hs_setsockopt(struct sock *sk, sockptr_t optval,
		       unsigned int optlen)
{
	struct ktls_handshake_req *u;
	struct ktls_hs_req *req;
	bool nonblock;
	int err;

	if (sockptr_is_null(optval) || optlen != sizeof(*u))
		return -EINVAL;
	u = memdup_sockptr(optval, sizeof(*u));
	if (IS_ERR(u))
		return PTR_ERR(u);
	err = -EINVAL;
	if (u->flags || u->reserved ||
	    strnlen(u->server_name, sizeof(u->server_name)) ==
		sizeof(u->server_name) ||
	    strnlen(u->profile, sizeof(u->profile)) == sizeof(u->profile) ||
	    strnlen(u->alpn, sizeof(u->alpn)) == sizeof(u->alpn))
		goto out;
	req = ktls_hs_alloc(u->role, u->timeout_ms, u->server_name,
			    u->profile, u->alpn);
	if (IS_ERR(req)) {
		err = PTR_ERR(req);
		goto out;
	}
	ktls_hs_set_requester(req, current_cred(), task_tgid(current));

	nonblock = sk->sk_socket && sk->sk_socket->file &&
		   (sk->sk_socket->file->f_flags & O_NONBLOCK);
	refcount_inc(&req->ref);		/* ours, to wait */
	err = ktls_hs_submit(sk, req);
	if (err)
		goto out_put;
	if (nonblock) {
		err = -EINPROGRESS;
		goto out_put;
	}
	if (wait_for_completion_interruptible(&req->done))
		err = -EINTR;		/* it goes on; see the uapi header */
	else
		err = req->status;
out_put:
	ktls_hs_put(req);
out:
	kfree(u);
	return err;
}

int ktls_hs_getsockopt(struct sock *sk, struct ktls_ctx *ctx,
		       char __user *optval, int __user *optlen)
{
	struct ktls_handshake_status *st;
	struct ktls_hs_req *req;
	int len, err = 0;

	if (get_user(len, optlen))
		return -EFAULT;
	if (!optval || len < (int)sizeof(*st))
		return -EINVAL;
	st = kzalloc(sizeof(*st), GFP_KERNEL);
	if (!st)
		return -ENOMEM;

	lock_sock(sk);
	req = ctx->hs;
	if (req) {
		spin_lock(&ktls_hs_lock);
		st->state = req->state;
		if (req->state == KTLS_HS_STATE_DONE) {
			st->error = -req->status;
			if (!req->status) {
				st->version = req->res.version;
				st->cipher = req->res.cipher;
				if (req->res.resumed)
					st->flags |= KTLS_HS_F_RESUMED;
				strscpy(st->alpn, req->res.alpn,
					sizeof(st->alpn));
				strscpy(st->peer, req->res.peer,
					sizeof(st->peer));
			}
		}
		spin_unlock(&ktls_hs_lock);
	}
	release_sock(sk);

	if (put_user(sizeof(*st), optlen) ||
	    copy_to_user(optval, st, sizeof(*st)))
		err = -EFAULT;
	kfree(st);
	return err;
}

/* From ktls_close(), before it takes any lock. */
void ktls_hs_sock_close(struct sock *sk, struct ktls_ctx *ctx)
{
	struct ktls_hs_req *req;

	lock_sock(sk);
	req = ctx->hs;
	release_sock(sk);
	if (!req)
		return;
	ktls_hs_finish(req, -ECANCELED, NULL, false, true);
	lock_sock(sk);
	WRITE_ONCE(ctx->hs, NULL);
	release_sock(sk);
	ktls_hs_put(req);		/* ctx->hs's */
}

/* ---- the agent's side (netlink.c) ---- */

/*
 * ACCEPT: take the oldest pending request of @net for the agent whose
 * netlink socket is @portid.  Returns it with a reference, and in @filep a
 * reference to its socket's file, or ERR_PTR(-ENOENT).
 */
struct ktls_hs_req *ktls_hs_accept(struct net *net, u32 portid,
				   struct file **filep)
{
	struct ktls_hs_req *req;
	struct file *file;

again:
	spin_lock(&ktls_hs_lock);
	list_for_each_entry(req, &ktls_hs_pending, node) {
		if (net_eq(sock_net(req->sk), net))
			goto found;
	}
	spin_unlock(&ktls_hs_lock);
	return ERR_PTR(-ENOENT);

found:
	refcount_inc(&req->ref);
	file = req->file;
	/* A pending request's file is not freed yet (see the top of this
	 * file), but its last descriptor may be closing right now. */
	if (!atomic_long_inc_not_zero(&file->f_count)) {
		spin_unlock(&ktls_hs_lock);
		ktls_hs_finish(req, -ECANCELED, NULL, false, true);
		ktls_hs_put(req);
		goto again;
	}
	list_move_tail(&req->node, &ktls_hs_running);
	ktls_hs_npending--;
	req->file = NULL;
	req->agent_portid = portid;
	WRITE_ONCE(req->agent, get_pid(task_tgid(current)));
	WRITE_ONCE(req->state, KTLS_HS_STATE_RUNNING);
	spin_unlock(&ktls_hs_lock);
	*filep = file;
	return req;
}

/* Milliseconds left before the request times out. */
u32 ktls_hs_time_left(const struct ktls_hs_req *req)
{
	long left = (long)(req->deadline - jiffies);

	return left > 0 ? jiffies_to_msecs(left) : 0;
}

/* ACCEPT could not hand the request over: it fails with @err.  Nobody
 * touched the stream, so the connection is left alone. */
void ktls_hs_abandon(struct ktls_hs_req *req, int err)
{
	ktls_hs_finish(req, err, NULL, false, true);
}

/* DONE from the agent at @portid.  @status is 0 or a negative errno. */
int ktls_hs_done(struct net *net, u32 portid, u32 id, int status,
		 const struct ktls_handshake_result *res)
{
	struct ktls_hs_req *req;
	struct ktls_ctx *ctx;
	bool keys_ok;
	int err = 0;

	spin_lock(&ktls_hs_lock);
	list_for_each_entry(req, &ktls_hs_running, node) {
		if (req->id == id && req->agent_portid == portid &&
		    net_eq(sock_net(req->sk), net)) {
			refcount_inc(&req->ref);
			goto found;
		}
	}
	spin_unlock(&ktls_hs_lock);
	return -ENOENT;

found:
	spin_unlock(&ktls_hs_lock);
	if (!status) {
		/* Success means both directions carry the keys announced. */
		lock_sock(req->sk);
		ctx = ktls_get_ctx(req->sk);
		keys_ok = ctx && ctx->hs == req &&
			  ctx->tx_conf != KTLS_CONF_BASE &&
			  ctx->rx_conf != KTLS_CONF_BASE &&
			  ctx->prot.version == res->version &&
			  ctx->prot.cipher->type == res->cipher;
		release_sock(req->sk);
		if (!keys_ok) {
			status = -EPROTO;
			err = -EINVAL;
		}
	}
	if (!ktls_hs_finish(req, status, status ? NULL : res, false, true) &&
	    !err)
		err = -ENOENT;		/* timed out or cancelled meanwhile */
	ktls_hs_put(req);
	return err;
}

/* The netlink socket @portid was closed: its requests lost their agent. */
void ktls_hs_agent_gone(struct net *net, u32 portid)
{
	struct ktls_hs_req *req;

	for (;;) {
		spin_lock(&ktls_hs_lock);
		list_for_each_entry(req, &ktls_hs_running, node) {
			if (req->agent_portid == portid &&
			    net_eq(sock_net(req->sk), net)) {
				refcount_inc(&req->ref);
				goto found;
			}
		}
		spin_unlock(&ktls_hs_lock);
		return;
found:
		spin_unlock(&ktls_hs_lock);
		ktls_hs_finish(req, -ECONNABORTED, NULL, true, true);
		ktls_hs_put(req);
	}
}

/* ---- the in-kernel API (handshake.h) ---- */

int ktls_handshake_start(struct socket *sock,
			 const struct ktls_handshake_params *params)
{
	struct ktls_hs_req *req;

	if (!sock || !sock->sk || !params->done)
		return -EINVAL;
	req = ktls_hs_alloc(params->role, params->timeout_ms,
			    params->server_name, params->profile,
			    params->alpn);
	if (IS_ERR(req))
		return PTR_ERR(req);
	/* No process asks: the socket's opener does (its file is required,
	 * ktls_hs_submit() checks).  No pid. */
	if (sock->file)
		ktls_hs_set_requester(req, sock->file->f_cred, NULL);
	req->done_cb = params->done;
	req->data = params->data;
	req->notify = true;
	return ktls_hs_submit(sock->sk, req);
}
EXPORT_SYMBOL_GPL(ktls_handshake_start);

bool ktls_handshake_cancel(struct socket *sock)
{
	struct sock *sk = sock->sk;
	struct ktls_hs_req *req;
	bool cancelled;

	lock_sock(sk);
	req = ktls_hs_sock_ours(sk) ? ktls_get_ctx(sk)->hs : NULL;
	if (req)
		refcount_inc(&req->ref);
	release_sock(sk);
	if (!req)
		return false;
	cancelled = ktls_hs_finish(req, -ECANCELED, NULL, true, false);
	ktls_hs_put(req);
	return cancelled;
}
EXPORT_SYMBOL_GPL(ktls_handshake_cancel);

/* ---- module init and exit ---- */

int ktls_handshake_init(void)
{
	int err;

	ktls_hs_wq = alloc_workqueue("ktls_hs", WQ_UNBOUND, 0);
	if (!ktls_hs_wq)
		return -ENOMEM;
	err = ktls_nl_init();
	if (err)
		goto err_wq;
	return 0;

err_wq:
	destroy_workqueue(ktls_hs_wq);
	return err;
}

/*
 * No socket with the ULP exists any more (each pins the module), so every
 * request has finished; what may remain are timeout works on their way
 * out and netlink handlers, which the two calls below wait for.
 */
void ktls_handshake_exit(void)
{
	ktls_nl_exit();
	destroy_workqueue(ktls_hs_wq);
	WARN_ON(!list_empty(&ktls_hs_pending) ||
		!list_empty(&ktls_hs_running));
}
