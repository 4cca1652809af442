// SPDX-License-Identifier: GPL-2.0
/*
 * ktls - generic netlink family "ktls": the handshake agent's side of the
 * upcall.  The protocol is described in uapi/ktls_netlink.h, the life of
 * a request in handshake.c; this file only moves attributes.
 *
 * The family runs with parallel_ops: its handlers run concurrently and
 * outside genl_mutex.  They share nothing but handshake.c's lists, under
 * ktls_hs_lock, and they never wait for an application's socket lock
 * (handshake.c defers what needs it to its workqueue), so that no
 * application can stall ktlsd or another generic netlink family.
 */
#include <linux/module.h>
#include <linux/file.h>
#include <linux/fdtable.h>
#include <linux/netlink.h>
#include <linux/slab.h>
#include <linux/cred.h>
#include <linux/user_namespace.h>
#include <net/genetlink.h>

#include "ktls.h"
#include "handshake.h"

enum {
	KTLS_NL_MCGRP_HANDSHAKE,
};

static const struct genl_multicast_group ktls_nl_mcgrps[] = {
	/* Only an agent may listen: a listener makes requests wait for it
	 * instead of failing with ECONNREFUSED. */
	[KTLS_NL_MCGRP_HANDSHAKE] = { .name = KTLS_GENL_MCGRP,
				      .flags = GENL_MCAST_CAP_NET_ADMIN },
};

/* ACCEPT takes no attribute at all. */
static const struct nla_policy ktls_nl_accept_policy[KTLS_A_MAX + 1] = {
	[KTLS_A_ID ... KTLS_A_MAX] = { .type = NLA_REJECT },
};

static const struct nla_policy ktls_nl_done_policy[KTLS_A_MAX + 1] = {
	[KTLS_A_ID]		= NLA_POLICY_MIN(NLA_U32, 1),
	[KTLS_A_FD]		= { .type = NLA_REJECT },
	[KTLS_A_ROLE]		= { .type = NLA_REJECT },
	[KTLS_A_SERVER_NAME]	= { .type = NLA_REJECT },
	[KTLS_A_PROFILE]	= { .type = NLA_REJECT },
	[KTLS_A_ALPN]		= { .type = NLA_NUL_STRING,
				    .len = KTLS_HS_NAME_MAX - 1 },
	[KTLS_A_TIMEOUT_MS]	= { .type = NLA_REJECT },
	[KTLS_A_STATUS]		= NLA_POLICY_MAX(NLA_U32, MAX_ERRNO),
	[KTLS_A_VERSION]	= NLA_POLICY_RANGE(NLA_U16, TLS_1_2_VERSION,
						   TLS_1_3_VERSION),
	[KTLS_A_CIPHER]		= { .type = NLA_U16 },
	[KTLS_A_PEER]		= { .type = NLA_NUL_STRING,
				    .len = KTLS_HS_NAME_MAX - 1 },
	[KTLS_A_RESUMED]	= { .type = NLA_FLAG },
	/* Who asked: the kernel tells, the agent never does. */
	[KTLS_A_UID]		= { .type = NLA_REJECT },
	[KTLS_A_GID]		= { .type = NLA_REJECT },
	[KTLS_A_GROUPS]		= { .type = NLA_REJECT },
	[KTLS_A_PID]		= { .type = NLA_REJECT },
	[KTLS_A_NETNS]		= { .type = NLA_REJECT },
};

static struct genl_family ktls_nl_family;

static int ktls_nl_put_str(struct sk_buff *msg, int type, const char *s)
{
	return s[0] ? nla_put_string(msg, type, s) : 0;
}

/*
 * The requester's ids, as the accepting process (current: the agent) sees
 * them; see "Who asked" in uapi/ktls_netlink.h.
 */
static int ktls_nl_put_requester(struct sk_buff *msg,
				 const struct ktls_hs_req *req)
{
	struct user_namespace *ns = current_user_ns();
	const struct group_info *gi = req->groups;
	struct nlattr *nla;
	u32 *ids;
	int i, n = 0;
	pid_t pid;

	if (nla_put_u32(msg, KTLS_A_UID, uid_valid(req->uid) ?
			from_kuid(ns, req->uid) : KTLS_HS_ID_UNMAPPED) ||
	    nla_put_u32(msg, KTLS_A_GID, gid_valid(req->gid) ?
			from_kgid(ns, req->gid) : KTLS_HS_ID_UNMAPPED) ||
	    nla_put_u32(msg, KTLS_A_NETNS, sock_net(req->sk)->ns.inum))
		return -EMSGSIZE;
	/* pid_vnr(): 0 when the requester is not in our pid namespace. */
	pid = req->requester ? pid_vnr(req->requester) : 0;
	if (pid && nla_put_u32(msg, KTLS_A_PID, pid))
		return -EMSGSIZE;
	if (!gi)
		return 0;
	/* The kernel keeps them sorted; unmapped ones are left out.  Count
	 * first, so that the attribute has its exact size. */
	for (i = 0; i < gi->ngroups && n < KTLS_HS_GROUPS_MAX; i++)
		if (from_kgid(ns, gi->gid[i]) != (gid_t)-1)
			n++;
	if (!n)
		return 0;
	nla = nla_reserve(msg, KTLS_A_GROUPS, n * sizeof(u32));
	if (!nla)
		return -EMSGSIZE;
	ids = nla_data(nla);
	for (i = 0; n; i++) {
		gid_t gid = from_kgid(ns, gi->gid[i]);

		if (gid != (gid_t)-1) {
			*ids++ = gid;
			n--;
		}
	}
	return 0;
}

static int ktls_nl_accept(struct sk_buff *skb, struct genl_info *info)
{
	struct ktls_hs_req *req;
	struct sk_buff *msg;
	struct file *file;
	void *hdr;
	int fd, err;

	req = ktls_hs_accept(genl_info_net(info), info->snd_portid, &file);
	if (IS_ERR(req)) {
		GENL_SET_ERR_MSG(info,
				 "no request waits for an agent in this network namespace");
		return PTR_ERR(req);
	}

	err = -ENOMEM;
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		goto err_file;
	err = -EMSGSIZE;
	hdr = genlmsg_put_reply(msg, info, &ktls_nl_family, 0,
				KTLS_CMD_ACCEPT);
	if (!hdr)
		goto err_msg;
	fd = ktls_receive_fd(file, O_CLOEXEC);
	if (fd < 0) {
		err = fd;
		goto err_msg;
	}
	if (nla_put_u32(msg, KTLS_A_ID, req->id) ||
	    nla_put_s32(msg, KTLS_A_FD, fd) ||
	    nla_put_u8(msg, KTLS_A_ROLE, req->role) ||
	    nla_put_u32(msg, KTLS_A_TIMEOUT_MS, ktls_hs_time_left(req)) ||
	    ktls_nl_put_str(msg, KTLS_A_SERVER_NAME, req->server_name) ||
	    ktls_nl_put_str(msg, KTLS_A_PROFILE, req->profile) ||
	    ktls_nl_put_str(msg, KTLS_A_ALPN, req->alpn) ||
	    ktls_nl_put_requester(msg, req))
		goto err_fd;
	genlmsg_end(msg, hdr);
	fput(file);

	err = genlmsg_reply(msg, info);
	if (err) {
		/* The agent will never learn about the descriptor. */
		close_fd(fd);
		ktls_hs_abandon(req, err);
	}
	ktls_hs_put(req);
	return err;

err_fd:
	close_fd(fd);
err_msg:
	nlmsg_free(msg);
err_file:
	fput(file);
	ktls_hs_abandon(req, err);
	ktls_hs_put(req);
	return err;
}

static int ktls_nl_done(struct sk_buff *skb, struct genl_info *info)
{
	struct ktls_handshake_result *res;
	struct nlattr **a = info->attrs;
	u32 status;
	int err;

	/* Everything decidable without the socket lock is decided here;
	 * the keys of a success are checked from handshake.c's workqueue. */
	if (GENL_REQ_ATTR_CHECK(info, KTLS_A_ID) ||
	    GENL_REQ_ATTR_CHECK(info, KTLS_A_STATUS))
		return -EINVAL;
	status = nla_get_u32(a[KTLS_A_STATUS]);
	if (!status && (GENL_REQ_ATTR_CHECK(info, KTLS_A_VERSION) ||
			GENL_REQ_ATTR_CHECK(info, KTLS_A_CIPHER)))
		return -EINVAL;

	res = kzalloc(sizeof(*res), GFP_KERNEL);
	if (!res)
		return -ENOMEM;
	if (!status) {
		res->version = nla_get_u16(a[KTLS_A_VERSION]);
		res->cipher = nla_get_u16(a[KTLS_A_CIPHER]);
		res->resumed = nla_get_flag(a[KTLS_A_RESUMED]);
		if (a[KTLS_A_ALPN])
			nla_strscpy(res->alpn, a[KTLS_A_ALPN],
				    sizeof(res->alpn));
		if (a[KTLS_A_PEER])
			nla_strscpy(res->peer, a[KTLS_A_PEER],
				    sizeof(res->peer));
	}
	err = ktls_hs_done(genl_info_net(info), info->snd_portid,
			   nla_get_u32(a[KTLS_A_ID]), -(int)status, res);
	if (err == -ENOENT)
		GENL_SET_ERR_MSG(info,
				 "no request with this id runs for this socket (unknown, not accepted here, or already reported or ended)");
	kfree(res);
	return err;
}

static const struct genl_ops ktls_nl_ops[] = {
	{
		.cmd		= KTLS_CMD_ACCEPT,
		.doit		= ktls_nl_accept,
		.policy		= ktls_nl_accept_policy,
		.maxattr	= KTLS_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= KTLS_CMD_DONE,
		.doit		= ktls_nl_done,
		.policy		= ktls_nl_done_policy,
		.maxattr	= KTLS_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
};

static struct genl_family ktls_nl_family __ro_after_init = {
	.name		= KTLS_GENL_NAME,
	.version	= KTLS_GENL_VERSION,
	.netnsok	= true,
	.parallel_ops	= true,		/* see the top of this file */
	.module		= THIS_MODULE,
	.ops		= ktls_nl_ops,
	.n_ops		= ARRAY_SIZE(ktls_nl_ops),
	/* Every command validates strictly, header included. */
	.resv_start_op	= KTLS_CMD_MAX + 1,
	.mcgrps		= ktls_nl_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(ktls_nl_mcgrps),
};

/*
 * Might an agent listen in @net?  Only a first answer: the kernel keeps
 * one listener bitmap for all namespaces, so a listener elsewhere makes
 * this true.  The announcement decides: it reaches listeners of @net only,
 * and -ESRCH from ktls_nl_announce() refuses the request (handshake.c).
 */
bool ktls_nl_has_agent(struct net *net)
{
	return genl_has_listeners(&ktls_nl_family, net,
				  KTLS_NL_MCGRP_HANDSHAKE) > 0;
}

/* READY to the agents of @net; -ESRCH when there is none. */
int ktls_nl_announce(struct net *net, u32 id)
{
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(nla_total_size(sizeof(u32)), GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put(msg, 0, 0, &ktls_nl_family, 0, KTLS_CMD_READY);
	if (!hdr || nla_put_u32(msg, KTLS_A_ID, id)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_multicast_netns(&ktls_nl_family, net, msg, 0,
				       KTLS_NL_MCGRP_HANDSHAKE, GFP_KERNEL);
}

/* An agent's netlink socket went away: its requests fail. */
static int ktls_nl_release(struct notifier_block *nb, unsigned long event,
			   void *ptr)
{
	struct netlink_notify *n = ptr;

	if (event != NETLINK_URELEASE || n->protocol != NETLINK_GENERIC ||
	    !n->portid)
		return NOTIFY_DONE;
	ktls_hs_agent_gone(n->net, n->portid);
	return NOTIFY_DONE;
}

static struct notifier_block ktls_nl_notifier = {
	.notifier_call = ktls_nl_release,
};

int ktls_nl_init(void)
{
	int err;

	err = netlink_register_notifier(&ktls_nl_notifier);
	if (err)
		return err;
	err = genl_register_family(&ktls_nl_family);
	if (err)
		goto err_notifier;
	return 0;

err_notifier:
	netlink_unregister_notifier(&ktls_nl_notifier);
	return err;
}

/* Waits for the handlers in flight (genl_unregister_family takes the genl
 * callback rwsem for writing; handlers hold it for reading, parallel_ops or
 * not) and for notifier calls. */
void ktls_nl_exit(void)
{
	genl_unregister_family(&ktls_nl_family);
	netlink_unregister_notifier(&ktls_nl_notifier);
}

MODULE_ALIAS_GENL_FAMILY(KTLS_GENL_NAME);
