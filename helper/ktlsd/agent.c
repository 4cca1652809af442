// SPDX-License-Identifier: GPL-2.0
/*
 * ktlsd - one request, in a child of its own: ACCEPT, handshake, DONE.
 *
 * The child opens its own netlink socket and sends ACCEPT from it, so the
 * kernel knows this process as the request's agent: it alone may use the
 * socket while the handshake runs, and if the child dies before DONE its
 * netlink socket closes and the request fails (ECONNABORTED) at once.  A
 * crash in one handshake therefore costs only that handshake.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/genl/genl.h>
#include <netlink/genl/ctrl.h>

#include "ktlsd.h"
#include "ktls_netlink.h"

struct exchange {
	struct request *req;		/* ACCEPT: filled from the reply */
	bool got_reply;
	bool acked;
	int error;			/* positive errno from the kernel */
};

static int on_valid(struct nl_msg *msg, void *arg)
{
	struct exchange *x = arg;
	struct nlattr *a[KTLS_A_MAX + 1];
	struct request *r = x->req;

	if (!r || genlmsg_parse(nlmsg_hdr(msg), 0, a, KTLS_A_MAX, NULL) < 0)
		return NL_SKIP;
	if (genlmsg_hdr(nlmsg_hdr(msg))->cmd != KTLS_CMD_ACCEPT ||
	    !a[KTLS_A_ID] || !a[KTLS_A_FD] || !a[KTLS_A_ROLE])
		return NL_SKIP;
	r->id = nla_get_u32(a[KTLS_A_ID]);
	r->fd = (int)nla_get_u32(a[KTLS_A_FD]);
	r->role = nla_get_u8(a[KTLS_A_ROLE]);
	r->timeout_ms = a[KTLS_A_TIMEOUT_MS] ?
			nla_get_u32(a[KTLS_A_TIMEOUT_MS]) : 30000;
	if (a[KTLS_A_SERVER_NAME])
		nla_strlcpy(r->server_name, a[KTLS_A_SERVER_NAME],
			    sizeof(r->server_name));
	if (a[KTLS_A_PROFILE])
		nla_strlcpy(r->profile, a[KTLS_A_PROFILE], sizeof(r->profile));
	if (a[KTLS_A_ALPN])
		nla_strlcpy(r->alpn, a[KTLS_A_ALPN], sizeof(r->alpn));
	x->got_reply = true;
	return NL_OK;
}

static int on_ack(struct nl_msg *msg, void *arg)
{
	struct exchange *x = arg;

	(void)msg;
	x->acked = true;
	return NL_STOP;
}

static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *err, void *arg)
{
	struct exchange *x = arg;

	(void)nla;
	x->error = -err->error;
	x->acked = true;
	return NL_STOP;
}

/* Send @msg (consumed) and wait for the kernel's answer. */
static int transact(struct nl_sock *sk, struct nl_msg *msg,
		    struct exchange *x)
{
	int ret;

	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, on_valid, x);
	nl_socket_modify_cb(sk, NL_CB_ACK, NL_CB_CUSTOM, on_ack, x);
	nl_socket_modify_err_cb(sk, NL_CB_CUSTOM, on_error, x);
	ret = nl_send_auto(sk, msg);
	nlmsg_free(msg);
	if (ret < 0) {
		log_err("netlink send: %s", nl_geterror(ret));
		return EIO;
	}
	while (!x->acked) {
		ret = nl_recvmsgs_default(sk);
		if (ret < 0 && !x->acked) {
			log_err("netlink receive: %s", nl_geterror(ret));
			return EIO;
		}
	}
	return x->error;
}

static struct nl_msg *new_msg(int family, uint8_t cmd)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (msg && !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, 0,
				cmd, KTLS_GENL_VERSION)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return msg;
}

static int report(struct nl_sock *sk, int family, const struct request *req,
		  const struct result *res)
{
	struct exchange x = { 0 };
	struct nl_msg *msg = new_msg(family, KTLS_CMD_DONE);
	int err;

	if (!msg)
		return ENOMEM;
	if (nla_put_u32(msg, KTLS_A_ID, req->id) ||
	    nla_put_u32(msg, KTLS_A_STATUS, res->status) ||
	    (!res->status &&
	     (nla_put_u16(msg, KTLS_A_VERSION, res->version) ||
	      nla_put_u16(msg, KTLS_A_CIPHER, res->cipher) ||
	      (res->alpn[0] && nla_put_string(msg, KTLS_A_ALPN, res->alpn)) ||
	      (res->peer[0] && nla_put_string(msg, KTLS_A_PEER, res->peer)) ||
	      (res->resumed && nla_put_flag(msg, KTLS_A_RESUMED))))) {
		nlmsg_free(msg);
		return EMSGSIZE;
	}
	err = transact(sk, msg, &x);
	if (err)
		log_err("request %u: DONE refused by the kernel: %s", req->id,
			strerror(err));
	return err;
}

int agent_run(const struct config *cfg)
{
	struct request req = { .fd = -1 };
	struct exchange x = { .req = &req };
	struct result res;
	struct nl_sock *sk;
	struct nl_msg *msg;
	int family, err = 1;

	sk = nl_socket_alloc();
	if (!sk || genl_connect(sk) < 0) {
		log_err("netlink: cannot open a generic netlink socket");
		goto out;
	}
	family = genl_ctrl_resolve(sk, KTLS_GENL_NAME);
	if (family < 0) {
		log_err("netlink: family %s: %s", KTLS_GENL_NAME,
			nl_geterror(family));
		goto out;
	}
	msg = new_msg(family, KTLS_CMD_ACCEPT);
	if (!msg)
		goto out;
	err = transact(sk, msg, &x);
	if (err == ENOENT) {		/* another child took it */
		err = 0;
		goto out;
	}
	if (err || !x.got_reply) {
		log_err("ACCEPT failed: %s", strerror(err ? err : EPROTO));
		err = 1;
		goto out;
	}
	log_debug("request %u: %s, fd %d, server '%s', profile '%s', alpn '%s', %u ms",
		  req.id, req.role == KTLS_ROLE_CLIENT ? "client" : "server",
		  req.fd, req.server_name, req.profile, req.alpn,
		  req.timeout_ms);

	/* The peer's bytes get parsed from here on: seccomp first. */
	if (sandbox_enter(cfg))
		res = (struct result){ .status = EPERM };
	else
		tls_handshake(cfg, &req, &res);
	/* The kernel must learn the result even if we cannot tell it
	 * everything; a status it refuses still fails the request. */
	err = report(sk, family, &req, &res) ? 1 : 0;
out:
	if (req.fd >= 0)
		close(req.fd);
	nl_socket_free(sk);
	return err;
}
