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
 * A finish that would take the socket lock from a netlink handler or the
 * netlink release notifier (DONE, a failed ACCEPT, the agent's death) is
 * deferred instead: ktls_hs_defer() takes the request off its list at once,
 * so that nothing else in netlink finds it again, and a work item on
 * ktls_hs_wq finishes it.  An application that holds its own socket lock
 * for long (a setsockopt copying from a userfaultfd page) then delays only
 * its own result, never the agent or another generic netlink family; the
 * family runs with parallel_ops, outside genl_mutex.
 *
 * Pending requests are counted per network namespace (at most
 * handshake_max_pending each) and per user (at most
 * handshake_max_pending_user for each kuid over all namespaces, the
 * initial namespace's root excepted), so that a user in a namespace of
 * its own cannot take the host's share.
 *
 * While a request is not finished the socket sits on ulp.c's "gate" proto
 * table: ktls's key-less table whose data entry points let only the
 * agent's process through (to whatever ktls table the socket's keys select)
 * and fail everyone else with EBUSY; poll shows nothing to them until the
 * request has finished.  Installing a key during the handshake keeps the
 * gate (ktls_switch_proto() asks ktls_hs_gated()); finishing lifts it.
 *
 * References to a request (ktls_hs_req.ref):
 *	ctx->hs		from submission until the socket closes or a newer
 *			request replaces it (taken over from the allocation)
 *	a list		while on ktls_hs_pending or ktls_hs_running
 *	the timer	while the timeout work is queued or running
 *	a deferred	while finish_work is queued or running (handed
 *	  finish	over from the list's reference)
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
#include <linux/hashtable.h>
#include <linux/cred.h>
#include <linux/slab.h>
#include <linux/sockptr.h>
#include <linux/sched.h>
#include <linux/pid.h>
#include <linux/cred.h>
#include <net/tcp.h>
#include <net/netns/generic.h>

#include "ktls.h"
#include "handshake.h"

static unsigned int handshake_max_pending = 1024;
module_param(handshake_max_pending, uint, 0644);
MODULE_PARM_DESC(handshake_max_pending,
		 "Handshake requests that may wait for an agent at once in each network namespace (EAGAIN beyond)");

static unsigned int handshake_max_pending_user = 256;
module_param(handshake_max_pending_user, uint, 0644);
MODULE_PARM_DESC(handshake_max_pending_user,
		 "Handshake requests one user (kuid, all namespaces together; not the initial root) may have waiting for an agent (EAGAIN beyond)");

static DEFINE_SPINLOCK(ktls_hs_lock);
static LIST_HEAD(ktls_hs_pending);
static LIST_HEAD(ktls_hs_running);
static u32 ktls_hs_last_id;			/* under ktls_hs_lock */
static struct workqueue_struct *ktls_hs_wq;	/* timeouts, deferred finishes */

/* Per network namespace: its pending requests (under ktls_hs_lock). */
struct ktls_hs_net {
	unsigned int npending;
};

static unsigned int ktls_hs_net_id __read_mostly;

static struct ktls_hs_net *ktls_hs_net(const struct net *net)
{
	return net_generic(net, ktls_hs_net_id);
}

/* Per user with requests pending, the initial root aside: one entry each,
 * freed when its count drops to zero (all under ktls_hs_lock). */
struct ktls_hs_user {
	struct hlist_node node;
	kuid_t uid;
	unsigned int npending;
};

static DEFINE_HASHTABLE(ktls_hs_users, 6);

/* ---- who may use the socket (ulp.c's gate table asks) ---- */

static bool ktls_hs_active(const struct ktls_hs_req *req)
{
	return req && READ_ONCE(req->state) != KTLS_HS_STATE_DONE;
}

/* Is a handshake in progress on the socket?  ulp.c keeps the socket on
 * its gate table while one is.  Socket locked. */
bool ktls_hs_gated(const struct ktls_ctx *ctx)
{
	return ktls_hs_active(ctx->hs);
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

/*
 * Count @req, about to be queued for @net, against the namespace's and its
 * user's shares, and give it an id.  Returns 0, or -EAGAIN when a share is
 * full (with a log line saying which).
 */
static int ktls_hs_charge(struct ktls_hs_req *req, struct net *net)
{
	struct ktls_hs_net *hn = ktls_hs_net(net);
	struct ktls_hs_user *u, *spare = NULL;
	kuid_t uid = current_euid();
	unsigned int max;
	u32 id;

	if (!uid_eq(uid, GLOBAL_ROOT_UID)) {
		spare = kzalloc(sizeof(*spare), GFP_KERNEL);
		if (!spare)
			return -ENOMEM;
	}
	spin_lock(&ktls_hs_lock);
	max = READ_ONCE(handshake_max_pending);
	if (hn->npending >= max) {
		spin_unlock(&ktls_hs_lock);
		kfree(spare);
		net_info_ratelimited("ktls: handshake refused (EAGAIN): %u requests of this network namespace already wait for an agent (handshake_max_pending); is its agent serving?\n",
				     max);
		return -EAGAIN;
	}
	u = NULL;
	if (spare) {
		hash_for_each_possible(ktls_hs_users, u, node, __kuid_val(uid))
			if (uid_eq(u->uid, uid))
				break;
		max = READ_ONCE(handshake_max_pending_user);
		if (u && u->npending >= max) {
			spin_unlock(&ktls_hs_lock);
			kfree(spare);
			net_info_ratelimited("ktls: handshake refused (EAGAIN): user %u already has %u requests waiting for an agent (handshake_max_pending_user)\n",
					     from_kuid(&init_user_ns, uid), max);
			return -EAGAIN;
		}
		if (!u) {
			u = spare;
			spare = NULL;
			u->uid = uid;
			hash_add(ktls_hs_users, &u->node, __kuid_val(uid));
		}
		u->npending++;
	}
	hn->npending++;
	req->user = u;
	id = ++ktls_hs_last_id;
	if (!id)
		id = ++ktls_hs_last_id;
	req->id = id;
	spin_unlock(&ktls_hs_lock);
	kfree(spare);
	return 0;
}

/* @req leaves the pending list: its shares are free again. */
static void ktls_hs_uncharge(struct ktls_hs_req *req)
{
	struct ktls_hs_user *u = req->user;

	lockdep_assert_held(&ktls_hs_lock);
	ktls_hs_net(sock_net(req->sk))->npending--;
	req->user = NULL;
	if (u && !--u->npending) {
		hash_del(&u->node);
		kfree(u);
	}
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
	if (ctx && ctx->hs == req)
		ktls_switch_proto(sk, ctx);
	release_sock(sk);
}

/*
 * Finish @req with @status (0 or negative errno) and, for a successful
 * DONE, @res.  Returns false if it had finished already.  @abort resets
 * the connection if an agent was working on it (its stream is then in an
 * unknown state); @notify calls the in-kernel requester's callback.  The
 * caller holds a reference; no lock of ours nor the socket lock may be
 * held, and it may not be a netlink handler or notifier (see
 * ktls_hs_defer()): this waits for the socket lock.
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
		ktls_hs_uncharge(req);
	running = req->state == KTLS_HS_STATE_RUNNING;
	listed = !list_empty(&req->node);
	list_del_init(&req->node);
	req->file = NULL;
	req->status = status;
	/* A deferred DONE left its result in req->res already. */
	if (res)
		req->res = *res;
	else if (status)
		memset(&req->res, 0, sizeof(req->res));
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

/* Success means both directions carry the keys the agent announced. */
static bool ktls_hs_keys_ok(struct ktls_hs_req *req)
{
	struct sock *sk = req->sk;
	struct ktls_ctx *ctx;
	bool ok;

	lock_sock(sk);
	ctx = ktls_get_ctx(sk);
	ok = ctx && ctx->hs == req &&
	     ctx->tx_conf != KTLS_CONF_BASE && ctx->rx_conf != KTLS_CONF_BASE &&
	     ctx->prot.version == req->res.version &&
	     ctx->prot.cipher->type == req->res.cipher;
	release_sock(sk);
	return ok;
}

static void ktls_hs_finish_work(struct work_struct *work)
{
	struct ktls_hs_req *req = container_of(work, struct ktls_hs_req,
					       finish_work);
	int status = req->deferred_status;
	bool keys = status || ktls_hs_keys_ok(req);

	if (!keys)
		status = -EPROTO;
	if (!ktls_hs_finish(req, status, NULL, req->deferred_abort, true))
		net_info_ratelimited("ktls: handshake %u: the socket was closed, or the request timed out, before its result (%d) was applied\n",
				     req->id, status);
	else if (!keys)
		net_warn_ratelimited("ktls: handshake %u: the agent reported success, but the socket lacks TLS_TX and TLS_RX keys of that version and cipher; the request failed with EPROTO\n",
				     req->id);
	ktls_hs_put(req);		/* the list's, handed over */
}

/*
 * Finish @req with @status (and @abort, as ktls_hs_finish()) from
 * ktls_hs_wq: for netlink handlers and the netlink notifier, which must not
 * wait for an application's socket lock.  Takes @req off its list, so that
 * no ACCEPT, DONE or ktls_hs_agent_gone() finds it again, and hands the
 * list's reference to the work.  A timeout, close or cancel that comes
 * before the work still wins.  Caller holds ktls_hs_lock; @req is listed.
 */
static void ktls_hs_defer(struct ktls_hs_req *req, int status, bool abort)
{
	lockdep_assert_held(&ktls_hs_lock);
	if (req->state == KTLS_HS_STATE_PENDING)
		ktls_hs_uncharge(req);
	list_del_init(&req->node);
	req->file = NULL;
	req->deferred_status = status;
	req->deferred_abort = abort;
	queue_work(ktls_hs_wq, &req->finish_work);
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
	req = kzalloc(sizeof(*req), GFP_KERNEL_ACCOUNT);
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
	INIT_WORK(&req->finish_work, ktls_hs_finish_work);
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
 * The last agent left between ktls_nl_has_agent() and the announcement of
 * @req.  Refuse it only if it is still pending: an agent may have taken it
 * without a READY, or a timeout or close may have finished it and called
 * done() already, and then the caller must see success.  Returns
 * -ECONNREFUSED (done() will never be called) or 0.
 */
static int ktls_hs_unannounced(struct ktls_hs_req *req)
{
	bool refuse;

	spin_lock(&ktls_hs_lock);
	refuse = req->state == KTLS_HS_STATE_PENDING &&
		 !list_empty(&req->node);
	if (refuse) {
		/* Off the list (its reference is ours now), and no callback
		 * whoever finishes it. */
		ktls_hs_uncharge(req);
		list_del_init(&req->node);
		req->file = NULL;
		req->notify = false;
	}
	spin_unlock(&ktls_hs_lock);
	if (!refuse)
		return 0;
	ktls_hs_finish(req, -ECONNREFUSED, NULL, false, false);
	ktls_hs_put(req);		/* the list's */
	return -ECONNREFUSED;
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

	err = ktls_hs_charge(req, net);	/* reserved: we cannot fail now */
	if (err)
		goto out_unlock;
	id = req->id;

	sock_hold(sk);
	req->sk = sk;
	req->file = sk->sk_socket->file;
	delay = msecs_to_jiffies(req->timeout_ms);
	req->deadline = jiffies + delay;

	old = ctx->hs;
	WRITE_ONCE(ctx->hs, req);
	ktls_switch_proto(sk, ctx);		/* onto the gate */

	spin_lock(&ktls_hs_lock);
	refcount_inc(&req->ref);		/* the list's */
	list_add_tail(&req->node, &ktls_hs_pending);
	refcount_inc(&req->ref);		/* the timer's */
	queue_delayed_work(ktls_hs_wq, &req->timeout, delay);
	refcount_inc(&req->ref);		/* ours, for the announcement */
	spin_unlock(&ktls_hs_lock);
	release_sock(sk);

	if (old)
		ktls_hs_put(old);

	err = ktls_nl_announce(net, id);
	if (err == -ESRCH) {
		err = ktls_hs_unannounced(req);
	} else if (err) {
		net_warn_ratelimited("ktls: handshake %u not announced (%d); it waits for an agent's next ACCEPT or its timeout\n",
				     id, err);
		err = 0;
	}
	ktls_hs_put(req);		/* ours */
	return err;

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
	struct ktls_hs_req *req, *tmp;
	struct file *file;

	spin_lock(&ktls_hs_lock);
	list_for_each_entry_safe(req, tmp, &ktls_hs_pending, node) {
		if (!net_eq(sock_net(req->sk), net))
			continue;
		file = req->file;
		/* A pending request's file is not freed yet (see the top of
		 * this file), but its last descriptor may be closing right
		 * now: the request is cancelled, from the workqueue. */
		if (!atomic_long_inc_not_zero(&file->f_count)) {
			ktls_hs_defer(req, -ECANCELED, false);
			continue;
		}
		goto found;
	}
	spin_unlock(&ktls_hs_lock);
	return ERR_PTR(-ENOENT);

found:
	refcount_inc(&req->ref);
	ktls_hs_uncharge(req);
	list_move_tail(&req->node, &ktls_hs_running);
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

/* ACCEPT could not hand the request over: it fails with @err, from the
 * workqueue.  Nobody touched the stream, so the connection is left alone. */
void ktls_hs_abandon(struct ktls_hs_req *req, int err)
{
	spin_lock(&ktls_hs_lock);
	/* Unless a timeout or close is finishing it already. */
	if (req->state == KTLS_HS_STATE_RUNNING && !list_empty(&req->node))
		ktls_hs_defer(req, err, false);
	spin_unlock(&ktls_hs_lock);
}

/*
 * DONE from the agent at @portid.  @status is 0 or a negative errno; @res
 * the details of a success.  Returns 0 once the report is taken: the
 * request finishes from the workqueue, where a success is checked against
 * the socket's keys (EPROTO for the request if they do not match), and
 * ECONNABORTED resets the connection, as the agent's death does.  -ENOENT:
 * no request @id runs for that agent (unknown, not accepted, accepted on
 * another socket, or already reported or finished).
 */
int ktls_hs_done(struct net *net, u32 portid, u32 id, int status,
		 const struct ktls_handshake_result *res)
{
	struct ktls_hs_req *req;
	bool timer;

	spin_lock(&ktls_hs_lock);
	list_for_each_entry(req, &ktls_hs_running, node) {
		if (req->id == id && req->agent_portid == portid &&
		    net_eq(sock_net(req->sk), net))
			goto found;
	}
	spin_unlock(&ktls_hs_lock);
	return -ENOENT;

found:
	refcount_inc(&req->ref);
	if (!status)
		req->res = *res;
	ktls_hs_defer(req, status, status == -ECONNABORTED);
	/* The report is in: the timeout no longer applies. */
	timer = cancel_delayed_work(&req->timeout);
	spin_unlock(&ktls_hs_lock);
	if (timer)
		ktls_hs_put(req);	/* the timer's */
	ktls_hs_put(req);
	return 0;
}

/* The netlink socket @portid was closed: its requests lost their agent.
 * From the netlink notifier, so they fail from the workqueue. */
void ktls_hs_agent_gone(struct net *net, u32 portid)
{
	struct ktls_hs_req *req, *tmp;

	spin_lock(&ktls_hs_lock);
	list_for_each_entry_safe(req, tmp, &ktls_hs_running, node) {
		if (req->agent_portid == portid &&
		    net_eq(sock_net(req->sk), net))
			ktls_hs_defer(req, -ECONNABORTED, true);
	}
	spin_unlock(&ktls_hs_lock);
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

static void __net_exit ktls_hs_net_exit(struct net *net)
{
	/* Every socket of @net is gone, so every request has finished. */
	WARN_ON_ONCE(ktls_hs_net(net)->npending);
}

static struct pernet_operations ktls_hs_net_ops = {
	.exit	= ktls_hs_net_exit,
	.id	= &ktls_hs_net_id,
	.size	= sizeof(struct ktls_hs_net),
};

int ktls_handshake_init(void)
{
	int err;

	ktls_hs_wq = alloc_workqueue("ktls_hs", WQ_UNBOUND, 0);
	if (!ktls_hs_wq)
		return -ENOMEM;
	err = register_pernet_subsys(&ktls_hs_net_ops);
	if (err)
		goto err_wq;
	err = ktls_nl_init();
	if (err)
		goto err_pernet;
	return 0;

err_pernet:
	unregister_pernet_subsys(&ktls_hs_net_ops);
err_wq:
	destroy_workqueue(ktls_hs_wq);
	return err;
}

/*
 * No socket with the ULP exists any more (each pins the module), so every
 * request has finished or has its finish queued on ktls_hs_wq.  What may
 * remain: netlink handlers in flight (the family has parallel_ops, but
 * genl_unregister_family() still waits for them: they run under the genl
 * callback rwsem it takes for writing), the netlink notifier (unregistered
 * next, which waits for callers), and works on ktls_hs_wq (timeouts,
 * deferred finishes; nothing queues one once the family and the notifier
 * are gone), which destroy_workqueue() runs to their end.
 */
void ktls_handshake_exit(void)
{
	ktls_nl_exit();
	destroy_workqueue(ktls_hs_wq);
	unregister_pernet_subsys(&ktls_hs_net_ops);
	WARN_ON(!list_empty(&ktls_hs_pending) ||
		!list_empty(&ktls_hs_running) || !hash_empty(ktls_hs_users));
}
