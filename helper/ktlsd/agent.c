// SPDX-License-Identifier: GPL-2.0
/*
 * ktlsd - one request, in a child of its own; the privileged half stays
 * in the parent.
 *
 * Before fork() the parent makes two things for the child (a "slot"): a
 * generic netlink socket, on which it resolves the family, and a
 * SOCK_SEQPACKET socketpair, the result channel.  The child:
 *
 *  1. sends ACCEPT over that netlink socket, still holding the
 *     CAP_NET_ADMIN it inherited.  The child must be the one: the kernel
 *     makes the sender's thread group the request's agent, the only one
 *     that may read, write and key the socket while the handshake runs
 *     (the gate, kmod/handshake.c), and installs the socket's descriptor
 *     in the sender's file table;
 *  2. closes its copy of the netlink socket, sends ACCEPTED (the
 *     request's id and the time left before its timeout) to the parent,
 *     and drops every capability (capset to
 *     zero, the ambient set cleared, no_new_privs): all of that before it
 *     reads a byte from the peer;
 *  3. installs its seccomp filter (sandbox.c), does the handshake and
 *     installs the keys (tls.c: setsockopt SOL_TLS needs no capability),
 *     and sends RESULT: status, version, cipher, ALPN, peer, resumed.
 *
 * The parent never parses the peer's bytes.  It checks RESULT strictly,
 * since a child that parsed them is not trusted, and sends DONE over the
 * netlink socket the request was accepted on: the kernel takes DONE only
 * from that socket, and the parent holds the other copy of it.  When a
 * child that sent ACCEPTED dies without a RESULT, the parent reports
 * ECONNABORTED; when it sends anything malformed, the parent kills it and
 * reports EPROTO.  Either way the application's request fails at once.
 * When a child dies before ACCEPTED, the parent closes the netlink
 * socket, and the kernel fails any request accepted on it (ECONNABORTED).
 * A crash therefore costs only that handshake, and a child holds no
 * capability while it talks to the peer.
 *
 * DONE never blocks the parent's loop: it is sent, and the kernel's
 * answer is read when the slot's netlink socket becomes readable (the
 * kernel takes the report without waiting for the application's socket
 * lock and applies it from a work item).  Until that answer the slot stays
 * open, and the child waits for its channel to close.
 *
 * The watchdog (agent_watchdog(), from the loop): a child still running
 * WATCHDOG_GRACE_MS after its request's deadline (the time left that
 * ACCEPT reported; before ACCEPTED the longest timeout there is) is
 * killed with SIGKILL, reaped by the loop as any child, and its request
 * reported ETIMEDOUT.  The kernel has timed the request out by then and
 * reset the connection, so a child that can still notice ends by itself;
 * the watchdog is for one that cannot (stopped, stuck in a loop), which
 * would otherwise hold its slot, and count against max_children, for good.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <linux/tls.h>

#include <netlink/netlink.h>
#include <netlink/genl/genl.h>
#include <netlink/genl/ctrl.h>

#include "ktlsd.h"
#include "ktls_netlink.h"

#define AGENT_STATUS_MAX	4095	/* the kernel's MAX_ERRNO */
#define WATCHDOG_GRACE_MS	2000	/* after the request's deadline */
#define DONE_ANSWER_MS		5000	/* the kernel answers DONE at once */

/* Child -> parent, over the result channel.  Every byte not used by the
 * message's type must be zero. */
enum {
	AGENT_MSG_ACCEPTED = 1,		/* id, timeout_ms; nothing else */
	AGENT_MSG_RESULT = 2,		/* id, status; with status 0 the rest */
};

struct agent_msg {
	uint32_t type;
	uint32_t id;
	uint32_t timeout_ms;		/* ACCEPTED: the request's time left */
	uint32_t status;		/* 0 or a positive errno */
	uint16_t version;		/* TLS_1_x_VERSION */
	uint16_t cipher;		/* TLS_CIPHER_* */
	uint32_t resumed;		/* 0 or 1 */
	char alpn[256];
	char peer[256];
};

struct exchange {
	struct request *req;		/* ACCEPT: filled from the reply */
	bool got_reply;
	bool acked;
	int error;			/* positive errno from the kernel */
};

/* The parent's side of one child. */
struct slot {
	struct nl_sock *nl;		/* ACCEPT (child), DONE; NULL: free */
	int family;
	int fd;				/* parent's end of the result channel */
	int child_fd;			/* the child's end, until fork() */
	int pid;
	uint32_t id;			/* from ACCEPTED; 0 until then */
	uint64_t deadline;		/* monotonic ms: the watchdog's */
	bool reported;			/* DONE sent; awaiting its answer */
	uint32_t status;		/* what DONE said */
	struct exchange x;		/* DONE's answer */
};

static struct slot slots[KTLSD_MAX_CHILDREN];
/* ACCEPTED messages read by this agent_poll_done() call. */
static int accepted;
/* Children the parent killed after their DONE, until reaped: their end is
 * no failure.  0 = free. */
static int ended[KTLSD_MAX_CHILDREN];

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
	/* Who asked.  A module too old to say is "nobody we know": only
	 * profiles open to everyone serve it. */
	r->uid = a[KTLS_A_UID] ? nla_get_u32(a[KTLS_A_UID]) :
		 KTLS_HS_ID_UNMAPPED;
	r->gid = a[KTLS_A_GID] ? nla_get_u32(a[KTLS_A_GID]) :
		 KTLS_HS_ID_UNMAPPED;
	r->pid = a[KTLS_A_PID] ? nla_get_u32(a[KTLS_A_PID]) : 0;
	r->netns = a[KTLS_A_NETNS] ? nla_get_u32(a[KTLS_A_NETNS]) : 0;
	r->ngroups = 0;
	if (a[KTLS_A_GROUPS]) {
		int len = nla_len(a[KTLS_A_GROUPS]);

		if (len % 4 || len > (int)sizeof(r->groups))
			return NL_SKIP;		/* got_reply stays false */
		r->ngroups = len / 4;
		memcpy(r->groups, nla_data(a[KTLS_A_GROUPS]), len);
	}
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

/* ---- the parent ---- */

static void slot_close(int i)
{
	struct slot *s = &slots[i];

	if (!s->nl)
		return;
	nl_socket_free(s->nl);		/* any request still on it: aborted */
	if (s->fd >= 0)
		close(s->fd);
	if (s->child_fd >= 0)
		close(s->child_fd);
	memset(s, 0, sizeof(*s));
}

int agent_slot_open(void)
{
	struct slot *s;
	struct nl_sock *nl;
	int sv[2], i, family;

	for (i = 0; i < KTLSD_MAX_CHILDREN; i++)
		if (!slots[i].nl)
			break;
	if (i == KTLSD_MAX_CHILDREN) {
		log_err("no free handshake slot; the request waits");
		return -1;
	}
	nl = nl_socket_alloc();
	if (!nl || genl_connect(nl) < 0) {
		log_err("cannot open a generic netlink socket for a handshake child; the request waits");
		nl_socket_free(nl);
		return -1;
	}
	family = genl_ctrl_resolve(nl, KTLS_GENL_NAME);
	if (family < 0) {
		log_err("netlink: family %s: %s", KTLS_GENL_NAME,
			nl_geterror(family));
		nl_socket_free(nl);
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		log_errno("result channel: socketpair; the request waits");
		nl_socket_free(nl);
		return -1;
	}
	s = &slots[i];
	*s = (struct slot){ .nl = nl, .family = family, .fd = sv[0],
			    .child_fd = sv[1] };
	return i;
}

void agent_slot_forked(int slot, int pid)
{
	struct slot *s = &slots[slot];

	close(s->child_fd);
	s->child_fd = -1;
	if (pid < 0) {
		slot_close(slot);
		return;
	}
	s->pid = pid;
	/* Until ACCEPTED says better: no request lives longer. */
	s->deadline = now_ms() + KTLS_HS_TIMEOUT_MAX_MS + WATCHDOG_GRACE_MS;
}

bool agent_reaped(int pid)
{
	bool after_done = false;
	int i;

	/* Its pid may be reused from now on: never kill() it. */
	for (i = 0; i < KTLSD_MAX_CHILDREN; i++) {
		if (slots[i].nl && slots[i].pid == pid)
			slots[i].pid = 0;
		if (ended[i] == pid) {
			ended[i] = 0;
			after_done = true;
		}
	}
	return after_done;
}

bool agent_busy(void)
{
	int i;

	for (i = 0; i < KTLSD_MAX_CHILDREN; i++)
		if (slots[i].nl)
			return true;
	return false;
}

/* Until DONE: the child's result channel; then: the kernel's answer. */
static int slot_pollfd(const struct slot *s)
{
	return s->reported ? nl_socket_get_fd(s->nl) : s->fd;
}

int agent_pollfds(struct pollfd *p, int max)
{
	int i, n = 0;

	for (i = 0; i < KTLSD_MAX_CHILDREN && n < max; i++)
		if (slots[i].nl)
			p[n++] = (struct pollfd){ .fd = slot_pollfd(&slots[i]),
						  .events = POLLIN };
	return n;
}

/*
 * Send DONE for the request of slot @i without waiting for the kernel's
 * answer (agent_poll_done() reads it, then closes the slot); @m carries
 * the details of a success.  When DONE cannot be sent, the slot is closed
 * at once: closing its netlink socket fails the request (ECONNABORTED).
 */
static void report(int i, uint32_t status, const struct agent_msg *m)
{
	struct slot *s = &slots[i];
	struct nl_msg *msg = new_msg(s->family, KTLS_CMD_DONE);
	int ret;

	if (!msg) {
		log_err("request %u: out of memory for DONE; closing its netlink socket instead, the request fails with ECONNABORTED",
			s->id);
		slot_close(i);
		return;
	}
	if (nla_put_u32(msg, KTLS_A_ID, s->id) ||
	    nla_put_u32(msg, KTLS_A_STATUS, status) ||
	    (!status &&
	     (nla_put_u16(msg, KTLS_A_VERSION, m->version) ||
	      nla_put_u16(msg, KTLS_A_CIPHER, m->cipher) ||
	      (m->alpn[0] && nla_put_string(msg, KTLS_A_ALPN, m->alpn)) ||
	      (m->peer[0] && nla_put_string(msg, KTLS_A_PEER, m->peer)) ||
	      (m->resumed && nla_put_flag(msg, KTLS_A_RESUMED))))) {
		nlmsg_free(msg);
		log_err("request %u: DONE does not fit a message; closing its netlink socket instead, the request fails with ECONNABORTED",
			s->id);
		slot_close(i);
		return;
	}
	s->x = (struct exchange){ 0 };
	nl_socket_modify_cb(s->nl, NL_CB_VALID, NL_CB_CUSTOM, on_valid, &s->x);
	nl_socket_modify_cb(s->nl, NL_CB_ACK, NL_CB_CUSTOM, on_ack, &s->x);
	nl_socket_modify_err_cb(s->nl, NL_CB_CUSTOM, on_error, &s->x);
	ret = nl_send_auto(s->nl, msg);
	nlmsg_free(msg);
	if (ret < 0) {
		log_err("request %u: cannot send DONE (%s); closing its netlink socket instead, the request fails with ECONNABORTED",
			s->id, nl_geterror(ret));
		slot_close(i);
		return;
	}
	s->reported = true;
	s->status = status;
	s->deadline = now_ms() + DONE_ANSWER_MS;
}

/* The kernel's answer to DONE on slot @i: logged, and the slot closed. */
static void answer_read(int i)
{
	struct slot *s = &slots[i];
	int ret;

	ret = nl_recvmsgs_default(s->nl);
	if (ret < 0 && !s->x.acked) {
		if (ret == -NLE_AGAIN)
			return;
		log_err("request %u: reading the answer to DONE: %s; closing the slot",
			s->id, nl_geterror(ret));
	} else if (!s->x.acked) {
		return;
	} else if (s->x.error == ENOENT) {
		log_err("request %u: DONE refused by the kernel: %s (it had ended already: its timeout, or the socket closed)",
			s->id, strerror(s->x.error));
	} else if (s->x.error) {
		log_err("request %u: DONE refused by the kernel: %s", s->id,
			strerror(s->x.error));
	}
	slot_close(i);
}

static bool all_zero(const void *p, size_t len)
{
	const unsigned char *b = p;

	while (len--)
		if (*b++)
			return false;
	return true;
}

/* A NUL-terminated string filling @size bytes with zeros after it: no
 * control characters; with @token, printable ASCII without spaces. */
static bool string_ok(const char *str, size_t size, bool token)
{
	size_t i, len = strnlen(str, size);

	if (len == size)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)str[i];

		if (c < 0x20 || c == 0x7f || (token && (c == ' ' || c > 0x7e)))
			return false;
	}
	return all_zero(str + len, size - len);
}

static bool cipher_ok(uint16_t cipher)
{
	return cipher == TLS_CIPHER_AES_GCM_128 ||
	       cipher == TLS_CIPHER_AES_GCM_256 ||
	       cipher == TLS_CIPHER_AES_CCM_128 ||
	       cipher == TLS_CIPHER_CHACHA20_POLY1305;
}

/* NULL if @m may come from slot @s now, else what is wrong with it. */
static const char *check(const struct slot *s, const struct agent_msg *m)
{
	switch (m->type) {
	case AGENT_MSG_ACCEPTED:
		if (s->id)
			return "a second ACCEPTED";
		if (!m->id)
			return "ACCEPTED without an id";
		if (m->timeout_ms > KTLS_HS_TIMEOUT_MAX_MS)
			return "ACCEPTED with a time left above the longest timeout";
		if (m->status || m->version || m->cipher || m->resumed ||
		    !all_zero(m->alpn, sizeof(m->alpn)) ||
		    !all_zero(m->peer, sizeof(m->peer)))
			return "ACCEPTED with more than an id";
		return NULL;
	case AGENT_MSG_RESULT:
		if (!s->id)
			return "a result before ACCEPTED";
		if (m->id != s->id)
			return "a result for another request";
		if (m->timeout_ms)
			return "a result with a time left";
		if (m->status > AGENT_STATUS_MAX)
			return "a status above 4095";
		if (m->status) {
			if (m->version || m->cipher || m->resumed ||
			    !all_zero(m->alpn, sizeof(m->alpn)) ||
			    !all_zero(m->peer, sizeof(m->peer)))
				return "a failure with details of a success";
			return NULL;
		}
		if (m->version != TLS_1_2_VERSION &&
		    m->version != TLS_1_3_VERSION)
			return "an unknown TLS version";
		if (!cipher_ok(m->cipher))
			return "a cipher ktls does not take";
		if (m->resumed > 1)
			return "a resumed flag other than 0 or 1";
		if (!string_ok(m->alpn, sizeof(m->alpn), true))
			return "a malformed ALPN string";
		if (!string_ok(m->peer, sizeof(m->peer), false))
			return "a malformed peer string";
		return NULL;
	default:
		return "an unknown message type";
	}
}

/* A child broke the protocol: it dies, and so does its request. */
static void refuse(int i, const char *why)
{
	struct slot *s = &slots[i];

	if (s->id)
		log_err("request %u: handshake child %d sent %s; killing it, the request fails with EPROTO",
			s->id, s->pid, why);
	else
		log_err("handshake child %d sent %s; killing it", s->pid, why);
	if (s->pid > 0)
		kill(s->pid, SIGKILL);
	if (s->id)
		report(i, EPROTO, NULL);
	else
		slot_close(i);
}

/* Read one message of slot @i: 1 read one, 0 none waiting, -1 the slot
 * is closed. */
static int slot_read(int i)
{
	struct slot *s = &slots[i];
	struct agent_msg m;
	const char *why;
	char what[64];
	ssize_t n;
	int pid;

	n = recv(s->fd, &m, sizeof(m), MSG_DONTWAIT | MSG_TRUNC);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		if (n < 0)
			log_errno("request %u: result channel of child %d",
				  s->id, s->pid);
		/* The child is gone: never let its request hang. */
		if (s->id) {
			log_err("request %u: handshake child %d ended without a result; the request fails with ECONNABORTED",
				s->id, s->pid);
			report(i, ECONNABORTED, NULL);
		} else {
			slot_close(i);
		}
		return -1;
	}
	if ((size_t)n != sizeof(m)) {
		snprintf(what, sizeof(what), "a message of %zd bytes, not %zu",
			 n, sizeof(m));
		refuse(i, what);
		return -1;
	}
	why = check(s, &m);
	if (why) {
		refuse(i, why);
		return -1;
	}
	if (m.type == AGENT_MSG_ACCEPTED) {
		accepted++;
		s->id = m.id;
		s->deadline = now_ms() + m.timeout_ms + WATCHDOG_GRACE_MS;
		/* The child has closed its copy: DONE's answer is read from
		 * the loop, never waited for. */
		nl_socket_set_nonblocking(s->nl);
		return 1;
	}
	pid = s->pid;
	report(i, m.status, &m);
	/* The request is finished; the child has nothing left to do, but it
	 * still holds the application's socket, now with its keys in ktls.
	 * It is not trusted to let go by itself: it ends now, and its
	 * descriptor with it.  (Not reaped yet, so the pid is still its.)
	 * DONE went through the kernel's handler when it was sent; the slot
	 * stays for the kernel's answer (answer_read). */
	if (pid > 0 && !kill(pid, SIGKILL)) {
		int j;

		for (j = 0; j < KTLSD_MAX_CHILDREN && ended[j]; j++)
			;
		if (j < KTLSD_MAX_CHILDREN)	/* one per slot: always */
			ended[j] = pid;
	}
	return -1;
}

int agent_poll_done(const struct pollfd *p, int n)
{
	int i, j;

	accepted = 0;
	for (j = 0; j < n; j++) {
		if (!p[j].revents)
			continue;
		for (i = 0; i < KTLSD_MAX_CHILDREN; i++)
			if (slots[i].nl && slot_pollfd(&slots[i]) == p[j].fd)
				break;
		if (i == KTLSD_MAX_CHILDREN)
			continue;
		if (slots[i].reported) {
			answer_read(i);
			continue;
		}
		/* What the child sent before it hung up comes first. */
		while (slot_read(i) > 0)
			;
	}
	return accepted;
}

int agent_watchdog(void)
{
	uint64_t now = now_ms();
	int i, next = -1, left;
	struct slot *s;

	for (i = 0; i < KTLSD_MAX_CHILDREN; i++) {
		s = &slots[i];
		/* A child reaped before its result channel was read: the
		 * hang-up is handled by the loop. */
		if (!s->nl || (!s->pid && !s->reported))
			continue;
		if (s->deadline > now) {
			left = s->deadline - now > 3600000 ? 3600000 :
			       (int)(s->deadline - now);
			if (next < 0 || left < next)
				next = left;
			continue;
		}
		if (s->reported) {
			log_err("request %u: no answer from the kernel to DONE in %d ms; closing the slot",
				s->id, DONE_ANSWER_MS);
			slot_close(i);
			continue;
		}
		if (s->id)
			log_err("request %u: watchdog: handshake child %d still running %d ms past the request's deadline; killing it (SIGKILL), the request fails with ETIMEDOUT",
				s->id, s->pid, WATCHDOG_GRACE_MS);
		else
			log_err("watchdog: handshake child %d never accepted a request; killing it (SIGKILL)",
				s->pid);
		if (s->pid > 0)
			kill(s->pid, SIGKILL);
		if (s->id)
			report(i, ETIMEDOUT, NULL);
		else
			slot_close(i);
		if (slots[i].nl && (next < 0 || DONE_ANSWER_MS < next))
			next = DONE_ANSWER_MS;
	}
	return next;
}

/* ---- the child ---- */

/* No capability left, none to regain. */
static int drop_capabilities(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) &&
	    errno != EINVAL) {
		log_errno("cannot clear the ambient capabilities");
		return -1;
	}
	if (syscall(SYS_capset, &hdr, data)) {
		log_errno("cannot drop all capabilities");
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		log_errno("cannot set no_new_privs");
		return -1;
	}
	if (syscall(SYS_capget, &hdr, data) ||
	    !all_zero(data, sizeof(data))) {
		log_err("capabilities still held after dropping them all");
		return -1;
	}
	return 0;
}

static int child_send(int fd, const struct agent_msg *m)
{
	if (send(fd, m, sizeof(*m), MSG_NOSIGNAL) != (ssize_t)sizeof(*m)) {
		log_errno("cannot send to the parent");
		return -1;
	}
	return 0;
}

/*
 * May this request run at all?  0, or the errno it fails with; the log
 * line says why.  @pr: its profile, when there is one.
 */
static int admit(const struct config *cfg, const struct request *req,
		 const struct profile **prp)
{
	const struct profile *pr = config_profile(cfg, req->profile);
	const char *name = req->profile[0] ? req->profile : "default";
	char who[64];

	*prp = pr;
	if (req->pid)
		snprintf(who, sizeof(who), "uid %u (pid %u)", req->uid,
			 req->pid);
	else
		snprintf(who, sizeof(who), "uid %u", req->uid);
	if (!pr) {
		log_err("request %u from %s: no profile '%s' in the configuration",
			req->id, who, name);
		return ENOENT;
	}
	if (!config_allows(pr, req->uid, req->gid, req->groups,
			   req->ngroups)) {
		log_err("request %u: profile %s refused to %s gid %u: not in its allow_users or allow_groups%s; failing with EACCES",
			req->id, name, who, req->gid,
			pr->allow_set ? "" :
			" (none given: a profile with a private key or PSK serves root only)");
		return EACCES;
	}
	if (req->role == KTLS_ROLE_CLIENT && !req->server_name[0] &&
	    pr->require_server_name) {
		log_err("request %u (client, profile %s) from %s: no server name, so the server's certificate could not be checked against one; failing with EDESTADDRREQ (set require_server_name = no in the profile to allow it)",
			req->id, name, who);
		return EDESTADDRREQ;
	}
	return 0;
}

int agent_child(struct config *cfg, int slot)
{
	const struct profile *pr;
	struct slot *me = &slots[slot];
	struct request req = { .fd = -1 };
	struct exchange x = { .req = &req };
	struct agent_msg m;
	struct result res;
	struct nl_msg *msg;
	int i, err, chan = me->child_fd;

	/* Nothing of the other children's, nor the parent's end. */
	for (i = 0; i < KTLSD_MAX_CHILDREN; i++) {
		if (i == slot || !slots[i].nl)
			continue;
		nl_socket_free(slots[i].nl);
		close(slots[i].fd);
		memset(&slots[i], 0, sizeof(slots[i]));
	}
	close(me->fd);
	me->fd = -1;

	msg = new_msg(me->family, KTLS_CMD_ACCEPT);
	err = msg ? transact(me->nl, msg, &x) : ENOMEM;
	/* The parent sends DONE on this socket; we never touch it again. */
	nl_socket_free(me->nl);
	me->nl = NULL;
	if (err == ENOENT) {		/* another child took it */
		close(chan);
		return 0;
	}
	if (err || !x.got_reply) {
		log_err("ACCEPT failed: %s", strerror(err ? err : EPROTO));
		close(chan);
		return 1;
	}
	log_debug("request %u: %s, fd %d, server '%s', profile '%s', alpn '%s', %u ms, uid %u gid %u, %d groups, pid %u, netns %u",
		  req.id, req.role == KTLS_ROLE_CLIENT ? "client" : "server",
		  req.fd, req.server_name, req.profile, req.alpn,
		  req.timeout_ms, req.uid, req.gid, req.ngroups, req.pid,
		  req.netns);
	memset(&m, 0, sizeof(m));
	m.type = AGENT_MSG_ACCEPTED;
	m.id = req.id;
	m.timeout_ms = req.timeout_ms;
	if (child_send(chan, &m)) {
		/* The parent closes the netlink socket when we exit, and the
		 * kernel fails the request. */
		close(req.fd);
		close(chan);
		return 1;
	}

	/* The peer's bytes get parsed from here on: no capability, and
	 * seccomp, first. */
	memset(&res, 0, sizeof(res));
	res.status = admit(cfg, &req, &pr);
	/* Only this profile's secrets stay; none at all for a refusal. */
	config_keep_only(cfg, res.status ? NULL : pr);
	if (resume_child_profile(res.status ? NULL : pr) && !res.status)
		res.status = EPROTO;
	if (!res.status && (drop_capabilities() || sandbox_enter(cfg)))
		res.status = EPERM;
	if (!res.status)
		tls_handshake(cfg, &req, &res);

	memset(&m, 0, sizeof(m));
	m.type = AGENT_MSG_RESULT;
	m.id = req.id;
	m.status = res.status > 0 ? (uint32_t)res.status : 0;
	if (res.status < 0 || res.status > AGENT_STATUS_MAX)
		m.status = EPROTO;
	if (!m.status) {
		m.version = res.version;
		m.cipher = res.cipher;
		m.resumed = res.resumed;
		snprintf(m.alpn, sizeof(m.alpn), "%s", res.alpn);
		snprintf(m.peer, sizeof(m.peer), "%s", res.peer);
	}
	err = child_send(chan, &m) ? 1 : 0;
	/* Hold the socket until the parent has sent DONE and closed the
	 * channel: as before the split, the agent's descriptor is the last
	 * to go only after the request has finished. */
	if (!err) {
		char c;

		while (recv(chan, &c, 1, 0) > 0)
			;
	}
	close(req.fd);
	close(chan);
	return err;
}
