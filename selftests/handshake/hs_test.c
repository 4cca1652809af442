// SPDX-License-Identifier: GPL-2.0
/*
 * hs_test - one handshake-upcall test per invocation: hs_test NAME [ARGS].
 * Exit status 0 means pass; every failed check prints why on stderr.
 * Run as root in the VM, with ktls.ko loaded; see selftests/handshake/run.
 *
 * Without ktlsd (this program plays the agent over netlink itself):
 *   noagent     no agent listening: ECONNREFUSED at once
 *   timeout     an agent listens but never accepts: ETIMEDOUT on time
 *   cap         handshake_max_pending=2: the third request gets EAGAIN
 *   gate        while pending, others get EBUSY and poll shows nothing;
 *               ACCEPT hands over the same socket, the agent's I/O passes,
 *               DONE with an error wakes the poller with that error
 *   eperm       an unprivileged process cannot listen, ACCEPT or DONE
 *   creds       ACCEPT names the requester's uid, gid, groups, pid and
 *               network namespace; DONE may carry none of them
 *   malformed   attributes ACCEPT does not take, DONE without id/status
 *               or out of range, unknown or finished ids, DONE before
 *               ACCEPT, success without keys (the request gets EPROTO)
 *   close       closing the socket cancels a pending request
 *   agentdeath  the agent exits before DONE: ECONNABORTED, reset; a new
 *               agent then serves a new request
 *   lockheld    the application holds its socket lock (a TCP_MD5SIG whose
 *               buffer faults on a userfaultfd page): DONE, nlctrl and an
 *               ACCEPT of another request still answer within 2 s; the
 *               result arrives once the application lets go
 *   abortdone   DONE with ECONNABORTED resets the connection; another
 *               failure leaves it alone
 *   nsshare     handshake_max_pending per network namespace: a user in a
 *               user+net namespace of its own fills its share, the host
 *               keeps its whole share and completes a request; a child
 *               user namespace cannot join the host's group; the per-user
 *               share (handshake_max_pending_user), root exempt
 * With ktlsd running:
 *   client PORT NAME VERSION CIPHER   handshake through ktlsd against a
 *               TLS echo server on 127.0.0.1:PORT, then data both ways
 *   server CAFILE VERSION CIPHER      ktls server through ktlsd; a GnuTLS
 *               client in a child process checks data both ways
 *   nonblock PORT NAME                O_NONBLOCK client: EINPROGRESS, poll,
 *               then the result through KTLS_HANDSHAKE_STATUS
 *   expect PORT NAME ERRNO            the handshake fails with ERRNO
 *   many PORT NAME N                  N handshakes at once
 *   resume PORT NAME VERSION RESUMED DATA   one client handshake; its
 *               status must say resumed (RESUMED 1) or not (0); DATA:
 *               "echo" (an echo server), "www" (openssl s_server -www,
 *               whose page must say Reused or New), "none"
 *   hstime PORT NAME N                N client handshakes one after the
 *               other; prints the median time and how many resumed
 *   speakfirst CERT KEY VERSION MODE  a GnuTLS server (in a child) that
 *               sends a greeting right after its handshake; two client
 *               handshakes through ktlsd must each read the greeting
 *               through ktls, then echo a line.  MODE: noticket (the
 *               server issues none), ticketfirst (its tickets, then the
 *               greeting: the second handshake resumes), datafirst (TLS
 *               1.3: the greeting, then a ticket)
 * Without the kernel module:
 *   cacheproto  ktlsd's session cache (helper/ktlsd/resume.c, compiled
 *               in here): the parent's checks of every child message
 *               (garbage, truncated, oversize, unterminated key, second
 *               GET, PUT for a key not asked for), a child dying after
 *               PUT, the LRU bound, MADV_WIPEONFORK in a forked child,
 *               and the child's checks of the parent's answers
 * VERSION is 1.2 or 1.3; CIPHER is the TLS_CIPHER_* number, 0 = any.
 * client and expect use the ktlsd profile named by $HS_PROFILE, if set.
 */
#define _GNU_SOURCE	/* unshare(), CLONE_NEW* */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/tls.h>
#include <linux/userfaultfd.h>

#include <gnutls/gnutls.h>
#include <netlink/netlink.h>
#include <netlink/genl/genl.h>
#include <netlink/genl/ctrl.h>

#include "ktls_netlink.h"
#include "../../helper/lib/ktls.h"
#include "../lib/ktls_util.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

static int failures;

static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "  FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	failures++;
}

#define CHECK(cond, ...) do { if (!(cond)) fail(__VA_ARGS__); } while (0)
#define REQUIRE(cond, ...) do {						\
	if (!(cond)) {							\
		fail(__VA_ARGS__);					\
		exit(1);						\
	}								\
} while (0)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- sockets ---- */

static int listen_any(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	REQUIRE(fd >= 0, "socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	REQUIRE(!bind(fd, (void *)&a, sizeof(a)) && !listen(fd, 512) &&
		!getsockname(fd, (void *)&a, &len), "listen: %s",
		strerror(errno));
	*port = ntohs(a.sin_port);
	return fd;
}

static int connect_to(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	REQUIRE(fd >= 0 && !connect(fd, (void *)&a, sizeof(a)),
		"connect to %d: %s", port, strerror(errno));
	return fd;
}

/* A connected pair; [0] gets the ULP. */
static void tcp_pair(int fds[2])
{
	REQUIRE(!ku_tcp_pair(AF_INET, 0, &fds[0], &fds[1]),
		"loopback TCP pair: %s", strerror(errno));
	REQUIRE(!ku_attach_ulp(fds[0], "ktls"), "TCP_ULP ktls: %s",
		strerror(errno));
}

static int request(int fd, unsigned int role, unsigned int timeout_ms,
		   bool nonblock)
{
	struct ktls_handshake_req r;

	memset(&r, 0, sizeof(r));
	r.role = role;
	r.timeout_ms = timeout_ms;
	strcpy(r.server_name, "test.example");
	strcpy(r.alpn, "h2,http/1.1");
	if (nonblock)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return setsockopt(fd, SOL_TLS, KTLS_HANDSHAKE, &r, sizeof(r)) ?
	       errno : 0;
}

static int status_of(int fd, struct ktls_handshake_status *st)
{
	socklen_t len = sizeof(*st);

	return getsockopt(fd, SOL_TLS, KTLS_HANDSHAKE_STATUS, st, &len) ?
	       errno : 0;
}

/* ---- a minimal agent over netlink ---- */

struct agent {
	struct nl_sock *sk;
	int family;
	/* last transaction */
	bool acked;
	int error;
	uint32_t id;
	int fd;
	uint8_t role;
	char server_name[256], alpn[256];
	uint32_t ready_id;		/* last READY seen */
	/* who asked, from the last ACCEPT; has_pid: KTLS_A_PID came */
	uint32_t uid, gid, pid, netns;
	bool has_creds, has_pid;
	uint32_t groups[KTLS_HS_GROUPS_MAX];
	int ngroups;
};

static int a_valid(struct nl_msg *msg, void *arg)
{
	struct agent *a = arg;
	struct nlattr *at[KTLS_A_MAX + 1];
	struct genlmsghdr *g = genlmsg_hdr(nlmsg_hdr(msg));

	if (genlmsg_parse(nlmsg_hdr(msg), 0, at, KTLS_A_MAX, NULL) < 0)
		return NL_SKIP;
	if (g->cmd == KTLS_CMD_READY && at[KTLS_A_ID])
		a->ready_id = nla_get_u32(at[KTLS_A_ID]);
	if (g->cmd != KTLS_CMD_ACCEPT)
		return NL_OK;
	a->id = at[KTLS_A_ID] ? nla_get_u32(at[KTLS_A_ID]) : 0;
	a->fd = at[KTLS_A_FD] ? (int)nla_get_u32(at[KTLS_A_FD]) : -1;
	a->role = at[KTLS_A_ROLE] ? nla_get_u8(at[KTLS_A_ROLE]) : 0;
	a->server_name[0] = a->alpn[0] = '\0';
	if (at[KTLS_A_SERVER_NAME])
		nla_strlcpy(a->server_name, at[KTLS_A_SERVER_NAME], 256);
	if (at[KTLS_A_ALPN])
		nla_strlcpy(a->alpn, at[KTLS_A_ALPN], 256);
	a->has_creds = at[KTLS_A_UID] && at[KTLS_A_GID] && at[KTLS_A_NETNS];
	a->uid = at[KTLS_A_UID] ? nla_get_u32(at[KTLS_A_UID]) : 0;
	a->gid = at[KTLS_A_GID] ? nla_get_u32(at[KTLS_A_GID]) : 0;
	a->netns = at[KTLS_A_NETNS] ? nla_get_u32(at[KTLS_A_NETNS]) : 0;
	a->has_pid = at[KTLS_A_PID];
	a->pid = at[KTLS_A_PID] ? nla_get_u32(at[KTLS_A_PID]) : 0;
	a->ngroups = 0;
	if (at[KTLS_A_GROUPS] && nla_len(at[KTLS_A_GROUPS]) % 4 == 0 &&
	    nla_len(at[KTLS_A_GROUPS]) <= (int)sizeof(a->groups)) {
		a->ngroups = nla_len(at[KTLS_A_GROUPS]) / 4;
		memcpy(a->groups, nla_data(at[KTLS_A_GROUPS]),
		       nla_len(at[KTLS_A_GROUPS]));
	}
	return NL_OK;
}

static int a_ack(struct nl_msg *msg, void *arg)
{
	(void)msg;
	((struct agent *)arg)->acked = true;
	return NL_STOP;
}

static int a_err(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct agent *a = arg;

	(void)nla;
	a->error = -e->error;
	a->acked = true;
	return NL_STOP;
}

/* Returns 0 or the errno of joining the group. */
static int agent_open(struct agent *a, bool listen)
{
	int grp;

	memset(a, 0, sizeof(*a));
	a->fd = -1;
	a->sk = nl_socket_alloc();
	REQUIRE(a->sk && genl_connect(a->sk) >= 0, "genl_connect");
	a->family = genl_ctrl_resolve(a->sk, KTLS_GENL_NAME);
	REQUIRE(a->family >= 0, "family %s not found", KTLS_GENL_NAME);
	nl_socket_disable_seq_check(a->sk);
	nl_socket_modify_cb(a->sk, NL_CB_VALID, NL_CB_CUSTOM, a_valid, a);
	nl_socket_modify_cb(a->sk, NL_CB_ACK, NL_CB_CUSTOM, a_ack, a);
	nl_socket_modify_err_cb(a->sk, NL_CB_CUSTOM, a_err, a);
	if (!listen)
		return 0;
	grp = genl_ctrl_resolve_grp(a->sk, KTLS_GENL_NAME, KTLS_GENL_MCGRP);
	REQUIRE(grp >= 0, "group %s not found", KTLS_GENL_MCGRP);
	return nl_socket_add_membership(a->sk, grp) ? EPERM : 0;
}

static struct nl_msg *agent_msg(struct agent *a, uint8_t cmd)
{
	struct nl_msg *m = nlmsg_alloc();

	REQUIRE(m && genlmsg_put(m, NL_AUTO_PORT, NL_AUTO_SEQ, a->family, 0,
				 0, cmd, KTLS_GENL_VERSION), "nlmsg");
	return m;
}

/* Send @m and wait for the ACK or error: returns 0 or a positive errno. */
static int agent_send(struct agent *a, struct nl_msg *m)
{
	int ret;

	a->acked = false;
	a->error = 0;
	ret = nl_send_auto(a->sk, m);
	nlmsg_free(m);
	REQUIRE(ret >= 0, "nl_send: %s", nl_geterror(ret));
	while (!a->acked) {
		ret = nl_recvmsgs_default(a->sk);
		REQUIRE(ret >= 0 || a->acked, "nl_recv: %s", nl_geterror(ret));
	}
	return a->error;
}

static int agent_accept(struct agent *a)
{
	a->fd = -1;
	return agent_send(a, agent_msg(a, KTLS_CMD_ACCEPT));
}

static int agent_done(struct agent *a, uint32_t id, uint32_t status)
{
	struct nl_msg *m = agent_msg(a, KTLS_CMD_DONE);

	nla_put_u32(m, KTLS_A_ID, id);
	nla_put_u32(m, KTLS_A_STATUS, status);
	if (!status) {
		nla_put_u16(m, KTLS_A_VERSION, TLS_1_3_VERSION);
		nla_put_u16(m, KTLS_A_CIPHER, TLS_CIPHER_AES_GCM_128);
	}
	return agent_send(a, m);
}

/* Read pending READY notifications without blocking. */
static void agent_poll_ready(struct agent *a)
{
	struct pollfd p = { .fd = nl_socket_get_fd(a->sk), .events = POLLIN };

	while (poll(&p, 1, 200) > 0)
		nl_recvmsgs_default(a->sk);
}

static void agent_close(struct agent *a)
{
	nl_socket_free(a->sk);
	a->sk = NULL;
}

/* Within @ms, the request on @fd has finished.  (Not with poll: these
 * tests are the agent too, and the gate lets the agent's poll through.) */
static bool wait_finished(int fd, int ms)
{
	struct ktls_handshake_status st;

	for (; ms > 0; ms -= 10) {
		if (!status_of(fd, &st) && st.state == KTLS_HS_STATE_DONE)
			return true;
		usleep(10000);
	}
	return false;
}

/* As an agent: TLS 1.3 AES-GCM-128 keys (all zero) in both directions of
 * the socket the agent got, as a handshake would leave them. */
static int install_keys(int fd)
{
	struct tls12_crypto_info_aes_gcm_128 ci;

	memset(&ci, 0, sizeof(ci));
	ci.info.version = TLS_1_3_VERSION;
	ci.info.cipher_type = TLS_CIPHER_AES_GCM_128;
	if (ku_set_crypto(fd, TLS_TX, &ci, sizeof(ci)) ||
	    ku_set_crypto(fd, TLS_RX, &ci, sizeof(ci)))
		return errno;
	return 0;
}

/* ---- tests without ktlsd ---- */

static void t_noagent(void)
{
	int fds[2], err;
	struct ktls_handshake_status st;
	double t0 = now_s();

	tcp_pair(fds);
	err = request(fds[0], KTLS_ROLE_CLIENT, 5000, false);
	CHECK(err == ECONNREFUSED, "no agent: got %s, want ECONNREFUSED",
	      strerror(err));
	CHECK(now_s() - t0 < 1.0, "no agent: took %.2f s", now_s() - t0);
	CHECK(!status_of(fds[0], &st) && st.state == KTLS_HS_STATE_NONE,
	      "no agent: state %u", st.state);
	/* The socket still works as plain TCP. */
	CHECK(write(fds[0], "x", 1) == 1, "write after refusal: %s",
	      strerror(errno));
}

static void t_timeout(void)
{
	struct ktls_handshake_status st;
	struct agent a;
	int fds[2], err;
	double t0, dt;

	REQUIRE(!agent_open(&a, true), "join group");
	tcp_pair(fds);
	t0 = now_s();
	err = request(fds[0], KTLS_ROLE_CLIENT, 300, false);
	dt = now_s() - t0;
	CHECK(err == ETIMEDOUT, "got %s, want ETIMEDOUT", strerror(err));
	CHECK(dt >= 0.29 && dt < 3.0, "took %.2f s for a 300 ms timeout", dt);
	CHECK(!status_of(fds[0], &st) && st.state == KTLS_HS_STATE_DONE &&
	      st.error == ETIMEDOUT, "status %u/%d", st.state, st.error);
	CHECK(agent_accept(&a) == ENOENT, "timed-out request still accepted");
	/* A second request on the same socket is allowed after a failure. */
	err = request(fds[0], KTLS_ROLE_CLIENT, 200, false);
	CHECK(err == ETIMEDOUT, "second request: %s", strerror(err));
	close(fds[0]);
	close(fds[1]);
	agent_close(&a);
}

static void write_file(const char *path, const char *v)
{
	int fd = open(path, O_WRONLY);

	REQUIRE(fd >= 0 && write(fd, v, strlen(v)) == (ssize_t)strlen(v),
		"%s: %s", path, strerror(errno));
	close(fd);
}

static void set_param(const char *name, const char *v)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/module/ktls/parameters/%s", name);
	write_file(path, v);
}

static void set_max_pending(const char *v)
{
	set_param("handshake_max_pending", v);
}

static void t_cap(void)
{
	int p[3][2], i, err;
	struct agent a;

	REQUIRE(!agent_open(&a, true), "join group");
	set_max_pending("2");
	for (i = 0; i < 3; i++)
		tcp_pair(p[i]);
	for (i = 0; i < 2; i++) {
		err = request(p[i][0], KTLS_ROLE_CLIENT, 5000, true);
		CHECK(err == EINPROGRESS, "request %d: %s", i, strerror(err));
	}
	err = request(p[2][0], KTLS_ROLE_CLIENT, 5000, true);
	CHECK(err == EAGAIN, "third request: %s, want EAGAIN", strerror(err));
	/* Accepting one frees a slot. */
	CHECK(!agent_accept(&a), "accept: %s", strerror(a.error));
	err = request(p[2][0], KTLS_ROLE_CLIENT, 5000, true);
	CHECK(err == EINPROGRESS, "after accept: %s", strerror(err));
	set_max_pending("1024");
	if (a.fd >= 0)
		close(a.fd);
	for (i = 0; i < 3; i++) {
		close(p[i][0]);
		close(p[i][1]);
	}
	agent_close(&a);	/* the accepted one fails: agent gone */
}

static void t_gate(void)
{
	struct ktls_handshake_status st;
	struct sockaddr_in s1, s2;
	socklen_t l1 = sizeof(s1), l2 = sizeof(s2);
	struct pollfd pfd;
	struct agent a;
	char buf[16];
	int fds[2], err, n, wst;
	pid_t pid;

	REQUIRE(!agent_open(&a, true), "join group");
	tcp_pair(fds);
	err = request(fds[0], KTLS_ROLE_CLIENT, 10000, true);
	REQUIRE(err == EINPROGRESS, "request: %s", strerror(err));
	CHECK(!status_of(fds[0], &st) && st.state == KTLS_HS_STATE_PENDING,
	      "state %u, want PENDING", st.state);
	CHECK(err == EINPROGRESS, "nonblocking request: %s", strerror(err));
	CHECK(request(fds[0], KTLS_ROLE_CLIENT, 0, true) == EALREADY,
	      "second request while pending not EALREADY");
	CHECK(send(fds[0], "x", 1, 0) < 0 && errno == EBUSY,
	      "send during handshake: %s", strerror(errno));
	CHECK(write(fds[1], "abc", 3) == 3, "peer write");
	usleep(100000);
	CHECK(recv(fds[0], buf, sizeof(buf), 0) < 0 && errno == EBUSY,
	      "recv during handshake: %s", strerror(errno));
	pfd = (struct pollfd){ .fd = fds[0], .events = POLLIN | POLLOUT };
	CHECK(poll(&pfd, 1, 200) == 0, "poll during handshake: revents %#x",
	      pfd.revents);
	CHECK(setsockopt(fds[0], SOL_TLS, TLS_TX, buf, 4) < 0 &&
	      errno == EBUSY, "TLS_TX during handshake: %s",
	      strerror(errno));

	agent_poll_ready(&a);
	CHECK(a.ready_id != 0, "no READY notification seen");
	REQUIRE(!agent_accept(&a), "accept: %s", strerror(a.error));
	CHECK(a.id == a.ready_id, "accepted id %u, READY said %u", a.id,
	      a.ready_id);
	CHECK(a.role == KTLS_ROLE_CLIENT, "role %u", a.role);
	CHECK(!strcmp(a.server_name, "test.example") &&
	      !strcmp(a.alpn, "h2,http/1.1"), "parameters '%s' '%s'",
	      a.server_name, a.alpn);
	REQUIRE(a.fd >= 0, "no fd");
	CHECK(!getsockname(a.fd, (void *)&s1, &l1) &&
	      !getsockname(fds[0], (void *)&s2, &l2) &&
	      s1.sin_port == s2.sin_port, "agent's fd is another socket");
	CHECK(fcntl(a.fd, F_GETFD) & FD_CLOEXEC, "agent's fd lacks CLOEXEC");
	CHECK(!status_of(fds[0], &st) && st.state == KTLS_HS_STATE_RUNNING,
	      "state %u, want RUNNING", st.state);
	/* The agent reads and writes the stream. */
	n = recv(a.fd, buf, sizeof(buf), 0);
	CHECK(n == 3 && !memcmp(buf, "abc", 3), "agent recv: %d %s", n,
	      n < 0 ? strerror(errno) : "");
	CHECK(send(a.fd, "hello", 5, 0) == 5, "agent send: %s",
	      strerror(errno));
	n = recv(fds[1], buf, sizeof(buf), 0);
	CHECK(n == 5 && !memcmp(buf, "hello", 5), "peer got %d", n);
	/* Any other process still may not (this one is now the agent). */
	pid = fork();
	if (pid == 0)
		_exit(send(fds[0], "x", 1, 0) < 0 && errno == EBUSY ? 0 : 1);
	CHECK(waitpid(pid, &wst, 0) == pid && WIFEXITED(wst) &&
	      !WEXITSTATUS(wst), "another process could send while running");

	CHECK(!agent_done(&a, a.id, EKEYEXPIRED), "DONE: %s",
	      strerror(a.error));
	/* The request finishes from the kernel's workqueue. */
	CHECK(wait_finished(fds[0], 2000), "no result 2 s after DONE");
	pfd = (struct pollfd){ .fd = fds[0], .events = POLLOUT };
	CHECK(poll(&pfd, 1, 2000) == 1 && (pfd.revents & POLLOUT),
	      "poll after DONE: %#x", pfd.revents);
	CHECK(!status_of(fds[0], &st) && st.state == KTLS_HS_STATE_DONE &&
	      st.error == EKEYEXPIRED, "status %u/%d", st.state, st.error);
	CHECK(ktls_handshake_result(fds[0], NULL) < 0 && errno == EKEYEXPIRED,
	      "ktls_handshake_result: %s", strerror(errno));
	CHECK(agent_done(&a, a.id, 0) == ENOENT, "second DONE accepted");
	/* The gate is gone: plain TCP again. */
	CHECK(send(fds[0], "y", 1, 0) == 1, "send after DONE: %s",
	      strerror(errno));
	close(a.fd);
	close(fds[0]);
	close(fds[1]);
	agent_close(&a);
}

static void t_eperm(void)
{
	struct agent a, owner;
	int fds[2], st;
	pid_t pid;

	REQUIRE(!agent_open(&owner, true), "join group");
	tcp_pair(fds);
	REQUIRE(request(fds[0], KTLS_ROLE_SERVER, 5000, true) == EINPROGRESS,
		"request");
	agent_poll_ready(&owner);
	pid = fork();
	if (pid == 0) {
		REQUIRE(!setgid(65534) && !setuid(65534), "setuid: %s",
			strerror(errno));
		CHECK(agent_open(&a, true) == EPERM,
		      "unprivileged join of the group allowed");
		CHECK(agent_accept(&a) == EPERM, "unprivileged ACCEPT: %s",
		      strerror(a.error));
		CHECK(agent_done(&a, owner.ready_id, EIO) == EPERM,
		      "unprivileged DONE: %s", strerror(a.error));
		_exit(failures ? 1 : 0);
	}
	REQUIRE(waitpid(pid, &st, 0) == pid, "waitpid");
	CHECK(WIFEXITED(st) && !WEXITSTATUS(st), "unprivileged child failed");
	/* The request is untouched. */
	CHECK(!agent_accept(&owner), "privileged ACCEPT after: %s",
	      strerror(owner.error));
	CHECK(!agent_done(&owner, owner.id, EIO), "DONE: %s",
	      strerror(owner.error));
	close(owner.fd);
	close(fds[0]);
	close(fds[1]);
	agent_close(&owner);
}

/*
 * Who asked: a process with uid 1234, gid 2345 and groups 4343 and 4242
 * requests; ACCEPT must name exactly those, its pid and our network
 * namespace.  DONE carrying any of those attributes is refused; the
 * request then ends with the DONE sent properly.
 */
static void t_creds(void)
{
	static const int who[] = { KTLS_A_UID, KTLS_A_GID, KTLS_A_GROUPS,
				   KTLS_A_PID, KTLS_A_NETNS };
	const gid_t groups[] = { 4343, 4242 };
	struct stat ns;
	struct agent a;
	struct nl_msg *m;
	int fds[2], st;
	size_t i;
	pid_t pid;

	REQUIRE(!agent_open(&a, true), "join group");
	REQUIRE(!stat("/proc/self/ns/net", &ns), "stat ns: %s",
		strerror(errno));
	tcp_pair(fds);
	pid = fork();
	if (pid == 0) {
		REQUIRE(!setgroups(2, groups) && !setgid(2345) &&
			!setuid(1234), "drop ids: %s",
			strerror(errno));
		_exit(request(fds[0], KTLS_ROLE_CLIENT, 10000, false) ==
		      EKEYEXPIRED ? 0 : 1);
	}
	for (i = 0; i < 50 && !a.ready_id; i++)
		agent_poll_ready(&a);
	REQUIRE(!agent_accept(&a), "accept: %s", strerror(a.error));
	CHECK(a.has_creds, "ACCEPT without KTLS_A_UID/GID/NETNS");
	CHECK(a.uid == 1234 && a.gid == 2345, "uid %u gid %u, want 1234 2345",
	      a.uid, a.gid);
	CHECK(a.ngroups == 2 && a.groups[0] == 4242 && a.groups[1] == 4343,
	      "%d groups (%u %u), want 4242 4343", a.ngroups, a.groups[0],
	      a.groups[1]);
	CHECK(a.has_pid && a.pid == (uint32_t)pid, "pid %u, want %d", a.pid,
	      (int)pid);
	CHECK(a.netns == (uint32_t)ns.st_ino, "netns %u, want %lu", a.netns,
	      (unsigned long)ns.st_ino);
	for (i = 0; i < sizeof(who) / sizeof(who[0]); i++) {
		m = agent_msg(&a, KTLS_CMD_DONE);
		nla_put_u32(m, KTLS_A_ID, a.id);
		nla_put_u32(m, KTLS_A_STATUS, EIO);
		nla_put_u32(m, who[i], 0);
		CHECK(agent_send(&a, m) == EINVAL,
		      "DONE with attribute %d: %s, want EINVAL", who[i],
		      strerror(a.error));
	}
	CHECK(!agent_done(&a, a.id, EKEYEXPIRED), "DONE: %s",
	      strerror(a.error));
	REQUIRE(waitpid(pid, &st, 0) == pid, "waitpid");
	CHECK(WIFEXITED(st) && !WEXITSTATUS(st),
	      "the requester did not get EKEYEXPIRED");
	close(a.fd);
	close(fds[0]);
	close(fds[1]);
	agent_close(&a);
}

static void t_malformed(void)
{
	struct ktls_handshake_status st;
	struct agent a, other;
	struct nl_msg *m;
	int fds[2], err;

	REQUIRE(!agent_open(&a, true), "join group");
	CHECK(agent_accept(&a) == ENOENT, "ACCEPT with nothing pending: %s",
	      strerror(a.error));
	m = agent_msg(&a, KTLS_CMD_ACCEPT);
	nla_put_u32(m, KTLS_A_ID, 1);
	CHECK(agent_send(&a, m) == EINVAL, "ACCEPT with an attribute: %s",
	      strerror(a.error));
	m = agent_msg(&a, KTLS_CMD_ACCEPT);
	nla_put_u32(m, KTLS_A_MAX + 5, 1);
	CHECK(agent_send(&a, m) == EINVAL, "ACCEPT with an unknown attribute: %s",
	      strerror(a.error));
	m = agent_msg(&a, KTLS_CMD_DONE);
	nla_put_u32(m, KTLS_A_ID, 1);
	CHECK(agent_send(&a, m) == EINVAL, "DONE without status: %s",
	      strerror(a.error));
	m = agent_msg(&a, KTLS_CMD_DONE);
	nla_put_u32(m, KTLS_A_STATUS, 0);
	CHECK(agent_send(&a, m) == EINVAL, "DONE without id: %s",
	      strerror(a.error));
	m = agent_msg(&a, KTLS_CMD_DONE);
	nla_put_u32(m, KTLS_A_ID, 1);
	nla_put_u32(m, KTLS_A_STATUS, 5000);
	err = agent_send(&a, m);
	CHECK(err == ERANGE || err == EINVAL, "DONE status 5000: %s",
	      strerror(err));
	m = agent_msg(&a, KTLS_CMD_DONE);
	nla_put_u32(m, KTLS_A_ID, 1);
	nla_put_u32(m, KTLS_A_STATUS, 5);
	nla_put_u32(m, KTLS_A_FD, 3);
	CHECK(agent_send(&a, m) == EINVAL, "DONE with a reply-only attribute: %s",
	      strerror(a.error));
	m = agent_msg(&a, KTLS_CMD_DONE);
	nla_put_u32(m, KTLS_A_ID, 1);
	nla_put_u32(m, KTLS_A_STATUS, 0);
	nla_put_u16(m, KTLS_A_VERSION, 0x0301);
	nla_put_u16(m, KTLS_A_CIPHER, TLS_CIPHER_AES_GCM_128);
	err = agent_send(&a, m);
	CHECK(err == ERANGE || err == EINVAL, "DONE with TLS 1.0: %s",
	      strerror(err));
	m = agent_msg(&a, KTLS_CMD_READY);
	CHECK(agent_send(&a, m) == EOPNOTSUPP, "READY sent to the kernel: %s",
	      strerror(a.error));
	CHECK(agent_done(&a, 0x7fffffff, EIO) == ENOENT,
	      "DONE for an unknown id: %s", strerror(a.error));

	tcp_pair(fds);
	REQUIRE(request(fds[0], KTLS_ROLE_CLIENT, 5000, true) == EINPROGRESS,
		"request");
	agent_poll_ready(&a);
	CHECK(agent_done(&a, a.ready_id, EIO) == ENOENT,
	      "DONE before ACCEPT: %s", strerror(a.error));
	REQUIRE(!agent_accept(&a), "ACCEPT: %s", strerror(a.error));
	agent_open(&other, false);
	CHECK(agent_done(&other, a.id, EIO) == ENOENT,
	      "DONE from another agent: %s", strerror(other.error));
	agent_close(&other);
	/* The keys are checked under the socket lock, from the kernel's
	 * workqueue: DONE is taken, and the request fails with EPROTO. */
	CHECK(!agent_done(&a, a.id, 0), "DONE success without keys: %s",
	      strerror(a.error));
	CHECK(wait_finished(fds[0], 2000), "no result 2 s after DONE");
	CHECK(!status_of(fds[0], &st) && st.state == KTLS_HS_STATE_DONE &&
	      st.error == EPROTO, "request after a keyless success: %u/%d",
	      st.state, st.error);
	CHECK(agent_done(&a, a.id, 0) == ENOENT,
	      "a second DONE for a reported request: %s", strerror(a.error));
	close(a.fd);
	close(fds[0]);
	close(fds[1]);
	agent_close(&a);
}

static void t_close(void)
{
	struct agent a;
	int fds[2], i;

	REQUIRE(!agent_open(&a, true), "join group");
	for (i = 0; i < 20; i++) {
		tcp_pair(fds);
		REQUIRE(request(fds[0], KTLS_ROLE_CLIENT, 5000, true) ==
			EINPROGRESS, "request");
		close(fds[0]);
		close(fds[1]);
	}
	CHECK(agent_accept(&a) == ENOENT,
	      "a closed socket's request was still accepted (fd %d)", a.fd);
	/* Closed after ACCEPT: the agent's descriptor keeps the socket; the
	 * agent finishes, and closing its descriptor releases everything. */
	tcp_pair(fds);
	REQUIRE(request(fds[0], KTLS_ROLE_CLIENT, 5000, true) == EINPROGRESS,
		"request");
	REQUIRE(!agent_accept(&a), "accept: %s", strerror(a.error));
	close(fds[0]);
	CHECK(send(a.fd, "z", 1, 0) == 1, "agent send after app close: %s",
	      strerror(errno));
	CHECK(!agent_done(&a, a.id, ECONNRESET), "DONE: %s",
	      strerror(a.error));
	close(a.fd);
	close(fds[1]);
	agent_close(&a);
}

static void t_agentdeath(void)
{
	struct agent a, listener;
	int fds[2], err, st;
	char c;
	pid_t pid;

	REQUIRE(!agent_open(&listener, true), "join group");
	tcp_pair(fds);
	pid = fork();
	if (pid == 0) {
		agent_poll_ready(&listener);
		agent_open(&a, false);
		REQUIRE(!agent_accept(&a), "child accept: %s",
			strerror(a.error));
		_exit(0);	/* dies without DONE */
	}
	err = request(fds[0], KTLS_ROLE_CLIENT, 20000, false);
	CHECK(err == ECONNABORTED, "agent died: got %s, want ECONNABORTED",
	      strerror(err));
	waitpid(pid, &st, 0);
	CHECK(recv(fds[1], &c, 1, 0) < 0 && errno == ECONNRESET,
	      "peer not reset: %s", strerror(errno));
	close(fds[0]);
	close(fds[1]);

	/* A new agent serves a new request. */
	tcp_pair(fds);
	REQUIRE(request(fds[0], KTLS_ROLE_CLIENT, 5000, true) == EINPROGRESS,
		"request");
	agent_open(&a, false);
	CHECK(!agent_accept(&a), "new agent accept: %s", strerror(a.error));
	CHECK(!agent_done(&a, a.id, EHOSTDOWN), "new agent DONE: %s",
	      strerror(a.error));
	close(a.fd);
	agent_close(&a);
	close(fds[0]);
	close(fds[1]);
	agent_close(&listener);
}

/*
 * A background job with a deadline: the old kernel hung such calls until
 * the application let go of its socket, so each is started in a thread
 * and judged by whether it ended in time.
 */
struct job {
	pthread_t thread;
	void (*fn)(struct job *j);
	struct agent *a;
	int fd;
	void *buf;
	uint32_t id;
	int err;			/* the call's outcome, positive errno */
	atomic_bool finished;
};

static void *job_main(void *arg)
{
	struct job *j = arg;

	j->fn(j);
	atomic_store(&j->finished, true);
	return NULL;
}

static void job_start(struct job *j, void (*fn)(struct job *j))
{
	j->fn = fn;
	atomic_store(&j->finished, false);
	REQUIRE(!pthread_create(&j->thread, NULL, job_main, j),
		"pthread_create");
}

/* Has @j ended within @ms? */
static bool job_wait(struct job *j, int ms)
{
	for (; ms > 0 && !atomic_load(&j->finished); ms -= 10)
		usleep(10000);
	return atomic_load(&j->finished);
}

static void job_done(struct job *j)
{
	j->err = agent_done(j->a, j->id, EKEYEXPIRED);
}

/* What any generic netlink client does first: ask nlctrl for a family. */
static void job_resolve(struct job *j)
{
	struct nl_sock *sk = nl_socket_alloc();

	j->err = EIO;
	if (sk && genl_connect(sk) >= 0 &&
	    genl_ctrl_resolve(sk, KTLS_GENL_NAME) >= 0)
		j->err = 0;
	nl_socket_free(sk);
}

static void job_accept(struct job *j)
{
	j->err = agent_accept(j->a);
}

/* The application: a TCP option whose user buffer faults on a
 * userfaultfd page; the kernel copies it holding the socket lock. */
static void job_md5sig(struct job *j)
{
	j->err = setsockopt(j->fd, IPPROTO_TCP, TCP_MD5SIG, j->buf,
			    sizeof(struct tcp_md5sig)) ? errno : 0;
}

static void t_lockheld(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;
	struct uffdio_zeropage zp;
	struct uffd_msg ev;
	struct ktls_handshake_status st;
	struct job app = { 0 }, done = { 0 }, ctrl = { 0 }, acc = { 0 };
	struct agent a, b;
	struct pollfd p;
	long pg = sysconf(_SC_PAGESIZE);
	int fds[2], fds2[2], uffd;
	char *area;

	REQUIRE(!agent_open(&a, true), "join group");
	agent_open(&b, false);
	tcp_pair(fds);
	REQUIRE(request(fds[0], KTLS_ROLE_CLIENT, 30000, true) == EINPROGRESS,
		"request");
	REQUIRE(!agent_accept(&a), "accept: %s", strerror(a.error));

	/* Two pages: the first is there, the second faults to us.  The
	 * option's first int (copied before the lock) lies in the first,
	 * the rest of struct tcp_md5sig (copied under it) in the second. */
	uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	REQUIRE(uffd >= 0, "userfaultfd: %s", strerror(errno));
	REQUIRE(!ioctl(uffd, UFFDIO_API, &api), "UFFDIO_API: %s",
		strerror(errno));
	area = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(area != MAP_FAILED, "mmap: %s", strerror(errno));
	memset(area, 0, pg);
	reg = (struct uffdio_register){
		.range = { .start = (unsigned long)area + pg, .len = pg },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	REQUIRE(!ioctl(uffd, UFFDIO_REGISTER, &reg), "UFFDIO_REGISTER: %s",
		strerror(errno));
	app.fd = fds[0];
	app.buf = area + pg - sizeof(int);
	job_start(&app, job_md5sig);
	p = (struct pollfd){ .fd = uffd, .events = POLLIN };
	REQUIRE(poll(&p, 1, 5000) == 1 &&
		read(uffd, &ev, sizeof(ev)) == sizeof(ev) &&
		ev.event == UFFD_EVENT_PAGEFAULT,
		"the application's setsockopt did not fault");
	/* The application now sleeps holding its socket lock. */

	done.a = &a;
	done.id = a.id;
	job_start(&done, job_done);
	CHECK(job_wait(&done, 2000),
	      "DONE waited for the application's socket lock");
	ctrl.a = &a;
	job_start(&ctrl, job_resolve);
	CHECK(job_wait(&ctrl, 2000),
	      "nlctrl (resolving a family) blocked while DONE waits for the application");
	tcp_pair(fds2);
	CHECK(request(fds2[0], KTLS_ROLE_CLIENT, 30000, true) == EINPROGRESS,
	      "second request");
	acc.a = &b;
	job_start(&acc, job_accept);
	CHECK(job_wait(&acc, 2000),
	      "ACCEPT of another request blocked behind the application");

	/* Let the application go: everything ends. */
	zp = (struct uffdio_zeropage){
		.range = { .start = (unsigned long)area + pg, .len = pg },
	};
	CHECK(!ioctl(uffd, UFFDIO_ZEROPAGE, &zp), "UFFDIO_ZEROPAGE: %s",
	      strerror(errno));
	pthread_join(app.thread, NULL);
	pthread_join(done.thread, NULL);
	pthread_join(ctrl.thread, NULL);
	pthread_join(acc.thread, NULL);
	CHECK(!done.err, "DONE: %s", strerror(done.err));
	CHECK(!ctrl.err, "resolving the family failed");
	CHECK(!acc.err && b.fd >= 0, "second ACCEPT: %s", strerror(acc.err));
	/* The result arrives once the socket lock is free. */
	CHECK(wait_finished(fds[0], 2000), "no result 2 s after the lock");
	CHECK(!status_of(fds[0], &st) && st.state == KTLS_HS_STATE_DONE &&
	      st.error == EKEYEXPIRED, "status %u/%d, want EKEYEXPIRED",
	      st.state, st.error);
	if (b.fd >= 0) {
		CHECK(!agent_done(&b, b.id, EIO), "second DONE: %s",
		      strerror(b.error));
		close(b.fd);
	}
	close(a.fd);
	close(uffd);
	munmap(area, 2 * pg);
	close(fds[0]);
	close(fds[1]);
	close(fds2[0]);
	close(fds2[1]);
	agent_close(&a);
	agent_close(&b);
}

/* DONE with ECONNABORTED resets the connection, as the agent's death
 * does; another failure leaves the stream to the application. */
static void t_abortdone(void)
{
	struct ktls_handshake_status st;
	struct pollfd p;
	struct agent a;
	int fds[2];
	char c;

	REQUIRE(!agent_open(&a, true), "join group");
	tcp_pair(fds);
	REQUIRE(request(fds[0], KTLS_ROLE_CLIENT, 10000, true) == EINPROGRESS,
		"request");
	REQUIRE(!agent_accept(&a), "accept: %s", strerror(a.error));
	CHECK(!agent_done(&a, a.id, ECONNABORTED), "DONE: %s",
	      strerror(a.error));
	CHECK(wait_finished(fds[0], 2000), "no result after DONE");
	CHECK(!status_of(fds[0], &st) && st.error == ECONNABORTED,
	      "status %d, want ECONNABORTED", st.error);
	p = (struct pollfd){ .fd = fds[1], .events = POLLIN };
	poll(&p, 1, 2000);
	CHECK(recv(fds[1], &c, 1, MSG_DONTWAIT) < 0 && errno == ECONNRESET,
	      "DONE(ECONNABORTED) did not reset the peer: %s",
	      strerror(errno));
	close(a.fd);
	close(fds[0]);
	close(fds[1]);

	tcp_pair(fds);
	REQUIRE(request(fds[0], KTLS_ROLE_CLIENT, 10000, true) == EINPROGRESS,
		"request");
	REQUIRE(!agent_accept(&a), "accept: %s", strerror(a.error));
	CHECK(!agent_done(&a, a.id, EKEYREJECTED), "DONE: %s",
	      strerror(a.error));
	CHECK(wait_finished(fds[0], 2000), "no result after DONE");
	usleep(100000);
	CHECK(recv(fds[1], &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN,
	      "DONE(EKEYREJECTED) touched the connection: %s",
	      strerror(errno));
	CHECK(send(fds[0], "x", 1, 0) == 1, "send after a failed handshake: %s",
	      strerror(errno));
	close(a.fd);
	close(fds[0]);
	close(fds[1]);
	agent_close(&a);
}

/*
 * In a forked child: become @uid, then enter a user namespace of our own
 * (root in it maps to @uid) and, with @netns, a network namespace it
 * owns, with lo up: what "unshare -Urn" gives an unprivileged user.
 */
static void enter_userns(uid_t uid, bool netns)
{
	struct ifreq ifr;
	char map[32];
	int fd;

	/* The kernel refuses a user namespace to a chrooted process, and
	 * the VM runs the tests chrooted: take PID 1's mount namespace,
	 * whose root is ours then. */
	fd = open("/proc/1/ns/mnt", O_RDONLY | O_CLOEXEC);
	REQUIRE(fd >= 0 && !setns(fd, CLONE_NEWNS),
		"entering PID 1's mount namespace: %s", strerror(errno));
	close(fd);
	REQUIRE(!setgroups(0, NULL) && !setgid(uid) && !setuid(uid),
		"becoming uid %u: %s", uid, strerror(errno));
	/* setuid() made us non-dumpable: /proc/self would stay root's. */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	REQUIRE(!unshare(CLONE_NEWUSER | (netns ? CLONE_NEWNET : 0)),
		"unshare: %s (kernel.unprivileged_userns_clone?)",
		strerror(errno));
	write_file("/proc/self/setgroups", "deny");
	snprintf(map, sizeof(map), "0 %u 1", uid);
	write_file("/proc/self/uid_map", map);
	write_file("/proc/self/gid_map", map);
	if (!netns)
		return;
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	REQUIRE(fd >= 0 && !ioctl(fd, SIOCGIFFLAGS, &ifr), "lo: %s",
		strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	REQUIRE(!ioctl(fd, SIOCSIFFLAGS, &ifr), "lo up: %s", strerror(errno));
	close(fd);
}

static bool child_ok(pid_t pid, const char *what)
{
	int st;

	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fail("%s failed (status %#x)", what, st);
		return false;
	}
	return true;
}

#define NS_CAP 3	/* handshake_max_pending during t_nsshare */

/*
 * The hog: an unprivileged user in a user and network namespace of its
 * own joins the group there (its namespace, its CAP_NET_ADMIN), cannot
 * ACCEPT (agents need CAP_NET_ADMIN in the initial user namespace), and
 * fills its namespace's share with requests nobody serves.  Writes 'R' on
 * @ready once full, and holds them until @hold closes.
 */
static int ns_hog(int ready, int hold)
{
	int p[NS_CAP + 1][2], i, err;
	struct agent a;
	char c;

	enter_userns(65534, true);
	CHECK(!agent_open(&a, true),
	      "joining the group in our own namespace refused");
	CHECK(agent_accept(&a) == EPERM,
	      "ACCEPT without CAP_NET_ADMIN in the initial user namespace: %s",
	      strerror(a.error));
	for (i = 0; i <= NS_CAP; i++) {
		tcp_pair(p[i]);
		err = request(p[i][0], KTLS_ROLE_CLIENT, 30000, true);
		if (i < NS_CAP)
			CHECK(err == EINPROGRESS, "hog request %d: %s", i,
			      strerror(err));
		else
			CHECK(err == EAGAIN,
			      "hog request beyond its namespace's share: %s",
			      strerror(err));
	}
	c = failures ? 'F' : 'R';
	if (write(ready, &c, 1) != 1)
		return 1;
	while (read(hold, &c, 1) > 0)
		;
	return failures ? 1 : 0;
}

/*
 * The pending-request shares: per network namespace and per user.  A
 * user in a fresh user+net namespace fills its own share; the host's
 * namespace neither sees its listener as an agent nor loses any of its
 * share, and completes a handshake.  Then one user (not root) holds at
 * most handshake_max_pending_user requests, and root is not limited so.
 */
static void t_nsshare(void)
{
	int ready[2], hold[2], h[NS_CAP + 1][2], i, err;
	struct ktls_handshake_status st;
	struct agent host;
	const char *clone_sysctl = "/proc/sys/kernel/unprivileged_userns_clone";
	char c = 0, num[16], clone_was = 0;
	pid_t pid;

	/* Debian's switch for user namespaces of unprivileged users. */
	i = open(clone_sysctl, O_RDONLY);
	if (i >= 0 && read(i, &clone_was, 1) == 1 && clone_was == '0')
		write_file(clone_sysctl, "1");
	if (i >= 0)
		close(i);

	/* Same network namespace, own user namespace: no joining. */
	pid = fork();
	if (pid == 0) {
		struct agent a;

		enter_userns(4243, false);
		_exit(agent_open(&a, true) == EPERM ? 0 : 1);
	}
	child_ok(pid, "joining the initial namespace's group from a child user namespace was allowed;");

	snprintf(num, sizeof(num), "%d", NS_CAP);
	set_max_pending(num);
	REQUIRE(!pipe(ready) && !pipe(hold), "pipe");
	pid = fork();
	if (pid == 0) {
		close(ready[0]);
		close(hold[1]);
		_exit(ns_hog(ready[1], hold[0]));
	}
	close(ready[1]);
	close(hold[0]);
	CHECK(read(ready[0], &c, 1) == 1 && c == 'R',
	      "the namespace hog did not fill its share");

	/* No agent in the initial namespace: the hog's does not count. */
	tcp_pair(h[0]);
	err = request(h[0][0], KTLS_ROLE_CLIENT, 5000, true);
	CHECK(err == ECONNREFUSED,
	      "a listener in another namespace counted as our agent: %s",
	      strerror(err));
	close(h[0][0]);
	close(h[0][1]);

	/* The whole share is ours, and no more. */
	REQUIRE(!agent_open(&host, true), "join group");
	for (i = 0; i <= NS_CAP; i++) {
		tcp_pair(h[i]);
		err = request(h[i][0], KTLS_ROLE_CLIENT, 10000, true);
		if (i < NS_CAP)
			CHECK(err == EINPROGRESS,
			      "host request %d while another namespace is full: %s",
			      i, strerror(err));
		else
			CHECK(err == EAGAIN, "host request beyond the share: %s",
			      strerror(err));
	}
	/* And is served: keys in, DONE, status 0. */
	REQUIRE(!agent_accept(&host), "accept: %s", strerror(host.error));
	CHECK(!install_keys(host.fd), "keys: %s", strerror(errno));
	CHECK(!agent_done(&host, host.id, 0), "DONE: %s",
	      strerror(host.error));
	CHECK(wait_finished(h[0][0], 2000), "no result after DONE");
	CHECK(!status_of(h[0][0], &st) && st.state == KTLS_HS_STATE_DONE &&
	      !st.error && st.version == TLS_1_3_VERSION,
	      "host handshake: %u/%d version %#x", st.state, st.error,
	      st.version);
	close(host.fd);
	close(hold[1]);
	child_ok(pid, "the namespace hog");
	close(ready[0]);
	for (i = 0; i <= NS_CAP; i++) {
		close(h[i][0]);
		close(h[i][1]);
	}
	set_max_pending("1024");

	/* One user's share; root is not held to it. */
	set_param("handshake_max_pending_user", "2");
	pid = fork();
	if (pid == 0) {
		REQUIRE(!setgid(4244) && !setuid(4244), "setuid: %s",
			strerror(errno));
		for (i = 0; i <= 2; i++) {
			tcp_pair(h[i]);
			err = request(h[i][0], KTLS_ROLE_CLIENT, 10000, true);
			if (i < 2)
				CHECK(err == EINPROGRESS, "user request %d: %s",
				      i, strerror(err));
			else
				CHECK(err == EAGAIN,
				      "user request beyond its share: %s",
				      strerror(err));
		}
		_exit(failures ? 1 : 0);
	}
	child_ok(pid, "the per-user share");
	for (i = 0; i <= 2; i++) {
		tcp_pair(h[i]);
		err = request(h[i][0], KTLS_ROLE_CLIENT, 10000, true);
		CHECK(err == EINPROGRESS, "root request %d: %s", i,
		      strerror(err));
	}
	set_param("handshake_max_pending_user", "256");
	if (clone_was == '0')
		write_file(clone_sysctl, "0");
	for (i = 0; i <= 2; i++) {
		close(h[i][0]);
		close(h[i][1]);
	}
	agent_close(&host);
}

/* ---- tests with ktlsd ---- */

static int version_arg(const char *s)
{
	return !strcmp(s, "1.2") ? TLS_1_2_VERSION :
	       !strcmp(s, "1.3") ? TLS_1_3_VERSION : 0;
}

/*
 * recv() that passes over TLS 1.3 post-handshake messages: a server may
 * send a NewSessionTicket after the one ktlsd's child read (after a
 * resumed handshake ktlsd reads none), and ktls hands such a record to
 * the application as a control record.  A close_notify alert reads as
 * the end of the stream; any other control record fails with EIO.
 */
static int handshake_records;

static ssize_t recv_data(int fd, void *buf, size_t len, int flags)
{
	ssize_t n;
	int type;

	for (;;) {
		n = ku_recv_type(fd, buf, len, flags, &type);
		if (n < 0 || type < 0 || type == 23)
			return n;
		/* close_notify: the end of the data */
		if (type == 21 && n == 2 &&
		    ((unsigned char *)buf)[0] == 1 &&
		    ((unsigned char *)buf)[1] == 0)
			return 0;
		if (type != 22) {
			fprintf(stderr, "  control record of type %d\n", type);
			errno = EIO;
			return -1;
		}
		handshake_records++;
	}
}

/* Send @len pattern bytes on @fd while reading them back (echo); @len
 * must be a multiple of 100. */
static void echo_check(int fd, size_t len)
{
	char *out = malloc(len), *in = malloc(len);
	size_t sent = 0, got = 0, i;
	struct pollfd p = { .fd = fd };
	ssize_t n;

	REQUIRE(out && in, "malloc");
	/* Lines: gnutls-serv --echo answers line by line. */
	for (i = 0; i < len; i++)
		out[i] = i % 100 == 99 ? '\n' : 'a' + (i * 7 + i / 251) % 26;
	while (got < len) {
		p.events = POLLIN | (sent < len ? POLLOUT : 0);
		if (poll(&p, 1, 10000) <= 0) {
			fail("echo: stalled at %zu/%zu sent, %zu received",
			     sent, len, got);
			break;
		}
		if ((p.revents & POLLOUT) && sent < len) {
			n = send(fd, out + sent, len - sent > 4000 ?
				 4000 : len - sent, MSG_DONTWAIT);
			if (n > 0)
				sent += n;
		}
		if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
			n = recv_data(fd, in + got, len - got, MSG_DONTWAIT);
			if (n <= 0 && !(n < 0 && errno == EAGAIN)) {
				fail("echo: recv %zd: %s", n, strerror(errno));
				break;
			}
			if (n > 0)
				got += n;
		}
	}
	CHECK(got != len || !memcmp(in, out, len),
	      "echo: data differs");
	free(out);
	free(in);
}

static void check_info(int fd, int version, int cipher)
{
	struct ktls_info info;
	struct tls_crypto_info ci;
	socklen_t len = sizeof(ci);

	REQUIRE(!ktls_handshake_result(fd, &info), "result: %s",
		ktls_strerror(errno));
	CHECK(!version || info.version == version, "version %#x, want %#x",
	      info.version, version);
	CHECK(!cipher || info.cipher == cipher, "cipher %u, want %d",
	      info.cipher, cipher);
	/* The keys really are in ktls. */
	CHECK(!getsockopt(fd, SOL_TLS, TLS_TX, &ci, &len) &&
	      ci.version == info.version && ci.cipher_type == info.cipher,
	      "TLS_TX getsockopt: %s", strerror(errno));
	len = sizeof(ci);
	CHECK(!getsockopt(fd, SOL_TLS, TLS_RX, &ci, &len) &&
	      ci.cipher_type == info.cipher, "TLS_RX getsockopt: %s",
	      strerror(errno));
	fprintf(stderr, "  negotiated %#x cipher %u peer '%s'\n",
		info.version, info.cipher, info.peer);
}

static void t_client(int argc, char **argv)
{
	struct ktls_opts o = { 0 };
	int fd;

	REQUIRE(argc == 4, "client PORT NAME VERSION CIPHER");
	fd = connect_to(atoi(argv[0]));
	o.server_name = argv[1];
	o.profile = getenv("HS_PROFILE");
	if (ktls_client_handshake(fd, &o)) {
		fail("handshake: %s (%s)", ktls_strerror(errno),
		     strerror(errno));
		return;
	}
	check_info(fd, version_arg(argv[2]), atoi(argv[3]));
	echo_check(fd, 256000);
	close(fd);
}

static void t_nonblock(int argc, char **argv)
{
	struct ktls_opts o = { 0 };
	struct pollfd p;
	int fd, ret;

	REQUIRE(argc == 2, "nonblock PORT NAME");
	fd = connect_to(atoi(argv[0]));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	o.server_name = argv[1];
	ret = ktls_client_handshake(fd, &o);
	REQUIRE(ret < 0 && errno == EINPROGRESS, "non-blocking: %s",
		strerror(errno));
	p = (struct pollfd){ .fd = fd, .events = POLLOUT };
	REQUIRE(poll(&p, 1, 30000) == 1, "poll: no completion");
	check_info(fd, 0, 0);
	echo_check(fd, 64000);
	close(fd);
}

static void t_expect(int argc, char **argv)
{
	struct ktls_opts o = { 0 };
	int fd, want;

	REQUIRE(argc == 3, "expect PORT NAME ERRNO");
	fd = connect_to(atoi(argv[0]));
	o.server_name = argv[1];
	o.profile = getenv("HS_PROFILE");
	want = atoi(argv[2]);
	if (!ktls_client_handshake(fd, &o))
		fail("handshake succeeded, want %s", strerror(want));
	else
		CHECK(errno == want, "got %s (%d), want %s (%d)",
		      strerror(errno), errno, strerror(want), want);
	close(fd);
}

static void t_many(int argc, char **argv)
{
	struct ktls_opts o = { 0 };
	int n, i, *fds, done = 0, left;
	struct pollfd *p;
	double t0 = now_s();

	REQUIRE(argc == 3, "many PORT NAME N");
	n = atoi(argv[2]);
	fds = calloc(n, sizeof(*fds));
	p = calloc(n, sizeof(*p));
	REQUIRE(fds && p, "calloc");
	o.server_name = argv[1];
	o.timeout_ms = 120000;
	for (i = 0; i < n; i++) {
		fds[i] = connect_to(atoi(argv[0]));
		fcntl(fds[i], F_SETFL, O_NONBLOCK);
		REQUIRE(ktls_client_handshake(fds[i], &o) < 0 &&
			errno == EINPROGRESS, "request %d: %s", i,
			strerror(errno));
		p[i] = (struct pollfd){ .fd = fds[i], .events = POLLOUT };
	}
	for (left = n; left > 0;) {
		if (poll(p, n, 120000) <= 0) {
			fail("%d handshakes never finished", left);
			break;
		}
		for (i = 0; i < n; i++) {
			if (p[i].fd < 0 || !p[i].revents)
				continue;
			if (ktls_handshake_result(fds[i], NULL))
				fail("handshake %d: %s", i,
				     ktls_strerror(errno));
			else
				done++;
			p[i].fd = -1;
			left--;
		}
	}
	fprintf(stderr, "  %d/%d handshakes in %.1f s\n", done, n,
		now_s() - t0);
	CHECK(done == n, "only %d of %d succeeded", done, n);
	for (i = 0; i < n; i++)
		close(fds[i]);
}

static void t_resume(int argc, char **argv)
{
	struct ktls_opts o = { 0 };
	struct ktls_info info;
	static char page[65536];
	char want_line[32], *p;
	ssize_t n;
	size_t got = 0;
	int fd, want;

	REQUIRE(argc == 5, "resume PORT NAME VERSION RESUMED DATA");
	fd = connect_to(atoi(argv[0]));
	o.server_name = argv[1];
	o.profile = getenv("HS_PROFILE");
	want = atoi(argv[3]);
	REQUIRE(!ktls_client_handshake(fd, &o), "handshake: %s (%s)",
		ktls_strerror(errno), strerror(errno));
	REQUIRE(!ktls_handshake_result(fd, &info), "result: %s",
		ktls_strerror(errno));
	fprintf(stderr, "  resumed=%d\n", info.resumed);
	CHECK(!!info.resumed == !!want, "resumed=%d, want %d", info.resumed,
	      want);
	check_info(fd, version_arg(argv[2]), 0);
	if (!strcmp(argv[4], "echo")) {
		echo_check(fd, 64000);
	} else if (!strcmp(argv[4], "www")) {
		/* openssl s_server -www answers with its own view of the
		 * session: "New, TLSv1.3, ..." or "Reused, TLSv1.3, ...". */
		REQUIRE(send(fd, "GET / HTTP/1.0\r\n\r\n", 18, 0) == 18,
			"send: %s", strerror(errno));
		while (got < sizeof(page) - 1) {
			n = recv_data(fd, page + got, sizeof(page) - 1 - got, 0);
			if (n < 0)
				fail("www: recv: %s", strerror(errno));
			if (n <= 0)
				break;
			got += n;
		}
		page[got] = '\0';
		snprintf(want_line, sizeof(want_line), "%s, TLSv%s,",
			 want ? "Reused" : "New", argv[2]);
		p = strstr(page, want_line);
		CHECK(p, "www: s_server's page lacks '%s' (%zu bytes)",
		      want_line, got);
		if (p)
			fprintf(stderr, "  s_server says: %.*s\n",
				(int)strcspn(p, "\n"), p);
	}
	if (handshake_records)
		fprintf(stderr, "  passed over %d post-handshake record%s\n",
			handshake_records, handshake_records == 1 ? "" : "s");
	close(fd);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void t_hstime(int argc, char **argv)
{
	struct ktls_opts o = { 0 };
	struct ktls_info info;
	int i, n, fd, resumed = 0;
	double *ms, t0;

	REQUIRE(argc == 3, "hstime PORT NAME N");
	n = atoi(argv[2]);
	REQUIRE(n > 0 && n <= 1000, "N: 1..1000");
	ms = calloc(n, sizeof(*ms));
	REQUIRE(ms, "calloc");
	o.server_name = argv[1];
	o.profile = getenv("HS_PROFILE");
	for (i = 0; i < n; i++) {
		fd = connect_to(atoi(argv[0]));
		t0 = now_s();
		REQUIRE(!ktls_client_handshake(fd, &o), "handshake %d: %s",
			i, ktls_strerror(errno));
		ms[i] = (now_s() - t0) * 1000;
		REQUIRE(!ktls_handshake_result(fd, &info), "result: %s",
			ktls_strerror(errno));
		resumed += !!info.resumed;
		close(fd);
	}
	qsort(ms, n, sizeof(*ms), cmp_double);
	printf("median_ms=%.2f resumed=%d n=%d\n", ms[n / 2], resumed, n);
	free(ms);
}

/*
 * A server that speaks first: a GnuTLS server serving @n connections on
 * @l, each: handshake, the greeting at once (in "datafirst" mode before
 * its ticket), then one line echoed.
 */
#define GREETING "hello from a server that speaks first\n"

static int speak_first_server(int l, int n, const char *cert, const char *key,
			      int version, const char *mode)
{
	gnutls_certificate_credentials_t cred;
	gnutls_session_t s;
	gnutls_datum_t tk;
	unsigned int flags = GNUTLS_SERVER;
	char line[256];
	int i, fd, ret;
	size_t got;

	gnutls_certificate_allocate_credentials(&cred);
	if (gnutls_certificate_set_x509_key_file(cred, cert, key,
						 GNUTLS_X509_FMT_PEM) < 0)
		return 20;
	if (gnutls_session_ticket_key_generate(&tk) < 0)
		return 21;
	if (!strcmp(mode, "noticket"))
		flags |= GNUTLS_NO_TICKETS;
	else if (!strcmp(mode, "datafirst"))
		flags |= GNUTLS_NO_AUTO_SEND_TICKET;
	for (i = 0; i < n; i++) {
		fd = accept(l, NULL, NULL);
		if (fd < 0)
			return 22;
		gnutls_init(&s, flags);
		if (strcmp(mode, "noticket"))
			gnutls_session_ticket_enable_server(s, &tk);
		gnutls_priority_set_direct(s, version == TLS_1_2_VERSION ?
			"NORMAL:-VERS-ALL:+VERS-TLS1.2" :
			"NORMAL:-VERS-ALL:+VERS-TLS1.3", NULL);
		gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
		gnutls_transport_set_int(s, fd);
		do {
			ret = gnutls_handshake(s);
		} while (ret < 0 && !gnutls_error_is_fatal(ret));
		if (ret < 0) {
			fprintf(stderr, "  speakfirst server: %s\n",
				gnutls_strerror(ret));
			return 23;
		}
		if (gnutls_record_send(s, GREETING, strlen(GREETING)) !=
		    (ssize_t)strlen(GREETING))
			return 24;
		if (!strcmp(mode, "datafirst") &&
		    gnutls_session_ticket_send(s, 1, 0) < 0)
			return 25;
		for (got = 0; got < sizeof(line) && (!got ||
		     line[got - 1] != '\n'); got += ret) {
			ret = gnutls_record_recv(s, line + got,
						 sizeof(line) - got);
			if (ret <= 0) {
				fprintf(stderr, "  speakfirst server recv: %s\n",
					gnutls_strerror(ret));
				return 26;
			}
		}
		if (gnutls_record_send(s, line, got) != (ssize_t)got)
			return 27;
		gnutls_bye(s, GNUTLS_SHUT_WR);
		gnutls_deinit(s);
		close(fd);
	}
	gnutls_free(tk.data);
	gnutls_certificate_free_credentials(cred);
	return 0;
}

/* Reads exactly @len bytes of application data (post-handshake records
 * passed over) within 10 s. */
static bool read_exact(int fd, char *buf, size_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		if (poll(&p, 1, 10000) != 1)
			return false;
		n = recv_data(fd, buf + got, len - got, MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN)
			continue;
		if (n <= 0)
			return false;
		got += n;
	}
	return true;
}

static void t_speakfirst(int argc, char **argv)
{
	struct ktls_opts o = { .server_name = "localhost" };
	struct ktls_info info;
	char buf[128];
	int l, port, fd, i, st, version;
	const char *mode;
	pid_t pid;

	REQUIRE(argc == 4, "speakfirst CERT KEY VERSION MODE");
	version = version_arg(argv[2]);
	mode = argv[3];
	REQUIRE(version && (!strcmp(mode, "noticket") ||
			    !strcmp(mode, "ticketfirst") ||
			    (!strcmp(mode, "datafirst") &&
			     version == TLS_1_3_VERSION)),
		"VERSION 1.2|1.3, MODE noticket|ticketfirst|datafirst (1.3)");
	l = listen_any(&port);
	pid = fork();
	if (pid == 0)
		_exit(speak_first_server(l, 2, argv[0], argv[1], version,
					 mode));
	close(l);
	for (i = 0; i < 2; i++) {
		fd = connect_to(port);
		if (ktls_client_handshake(fd, &o)) {
			fail("handshake %d: %s (%s)", i, ktls_strerror(errno),
			     strerror(errno));
			close(fd);
			break;
		}
		REQUIRE(!ktls_handshake_result(fd, &info), "result: %s",
			ktls_strerror(errno));
		check_info(fd, version, 0);
		/* Only tickets that came before the greeting can be kept. */
		fprintf(stderr, "  handshake %d: resumed=%d\n", i,
			info.resumed);
		CHECK(!!info.resumed == (i == 1 && !strcmp(mode, "ticketfirst")),
		      "handshake %d: resumed=%d in mode %s", i, info.resumed,
		      mode);
		memset(buf, 0, sizeof(buf));
		CHECK(read_exact(fd, buf, strlen(GREETING)) &&
		      !strcmp(buf, GREETING),
		      "handshake %d: the greeting did not arrive whole: '%s' (%s)",
		      i, buf, strerror(errno));
		CHECK(send(fd, "ping\n", 5, 0) == 5, "send: %s",
		      strerror(errno));
		memset(buf, 0, sizeof(buf));
		CHECK(read_exact(fd, buf, 5) && !strcmp(buf, "ping\n"),
		      "handshake %d: echo '%s'", i, buf);
		close(fd);
	}
	if (failures)
		kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	CHECK(failures || (WIFEXITED(st) && !WEXITSTATUS(st)),
	      "the server failed with %d", WEXITSTATUS(st));
	if (handshake_records)
		fprintf(stderr, "  passed over %d post-handshake record%s\n",
			handshake_records, handshake_records == 1 ? "" : "s");
}

/* ---- ktlsd's session cache, compiled in ---- */

#include "../../helper/ktlsd/resume.c"

static void log_line(const char *lvl, const char *fmt, va_list ap, int err)
{
	fprintf(stderr, "  ktlsd %s: ", lvl);
	vfprintf(stderr, fmt, ap);
	if (err)
		fprintf(stderr, ": %s", strerror(err));
	fprintf(stderr, "\n");
}

#define LOG_STUB(name, lvl, e)						\
void name(const char *fmt, ...)						\
{									\
	int err = errno;						\
	va_list ap;							\
									\
	va_start(ap, fmt);						\
	log_line(lvl, fmt, ap, e ? err : 0);				\
	va_end(ap);							\
}
LOG_STUB(log_info, "info", 0)
LOG_STUB(log_warn, "warn", 0)
LOG_STUB(log_err, "err", 0)
LOG_STUB(log_errno, "err", 1)
static int cp_debug_lines;
void log_debug(const char *fmt, ...)
{
	(void)fmt;
	cp_debug_lines++;
}

/* A channel as main.c makes one; returns the child's end. */
static int cp_channel(int *slot)
{
	int cfd, keep;

	*slot = resume_channel_open(&cfd);
	REQUIRE(*slot >= 0, "channel: %s", strerror(errno));
	keep = dup(cfd);
	resume_channel_forked(*slot, cfd, 4242);
	return keep;
}

/* Let the parent's loop handle what is pending. */
static void cp_parent(void)
{
	static struct pollfd p[KTLSD_MAX_CHILDREN];
	int n = resume_pollfds(p, KTLSD_MAX_CHILDREN);

	poll(p, n, 100);
	resume_poll_done(p, n);
}

static void cp_key(struct resume_key *k, const char *server)
{
	memset(k, 0, sizeof(*k));
	strcpy(k->profile, "default");
	snprintf(k->server, sizeof(k->server), "%s", server);
	strcpy(k->peer, "[127.0.0.1]:443");
}

static void cp_send(int fd, uint32_t type, const struct resume_key *k,
		    const void *data, uint32_t len, uint32_t claim)
{
	static unsigned char buf[sizeof(struct msg_hdr) + 2 * RESUME_DATA_MAX];
	struct msg_hdr h = { .type = type, .len = claim };

	h.key = *k;
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), data, len);
	REQUIRE(send(fd, buf, sizeof(h) + len, 0) ==
		(ssize_t)(sizeof(h) + len), "send: %s", strerror(errno));
}

/* GET @server on a fresh channel; returns the length answered, -1 when
 * the parent closed the channel; the data goes to @out. */
static int cp_get(const char *server, unsigned char *out)
{
	unsigned char buf[sizeof(struct msg_hdr) + RESUME_DATA_MAX];
	struct resume_key k;
	struct msg_hdr h;
	int fd, slot;
	ssize_t n;

	fd = cp_channel(&slot);
	cp_key(&k, server);
	cp_send(fd, MSG_GET, &k, NULL, 0, 0);
	cp_parent();
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	close(fd);
	cp_parent();
	if (n <= 0)
		return -1;
	REQUIRE((size_t)n >= sizeof(h), "short ENTRY");
	memcpy(&h, buf, sizeof(h));
	REQUIRE(h.type == MSG_ENTRY && h.len == n - sizeof(h),
		"bad ENTRY: type %u len %u in %zd bytes", h.type, h.len, n);
	if (out)
		memcpy(out, buf + sizeof(h), h.len);
	return h.len;
}

/* After something bad on @fd, the parent must have closed its end. */
static void cp_expect_closed(int fd, const char *what)
{
	char c;

	ssize_t n;

	cp_parent();
	n = recv(fd, &c, 1, MSG_DONTWAIT);
	CHECK(n == 0, "%s: the parent kept the channel open (%zd, %s)",
	      what, n, strerror(errno));
	close(fd);
}

static void t_cacheproto(void)
{
	struct config cfg = { .ticket_key_rotation = 3600 };
	static unsigned char data[RESUME_DATA_MAX + 100], got[RESUME_DATA_MAX];
	struct resume_key k, k2;
	struct request req = { .id = 1 };
	gnutls_datum_t d;
	int fd, slot, i, st, tcp[2], pair[2];
	pid_t pid;

	REQUIRE(!resume_init(&cfg), "resume_init");
	REQUIRE(resume_ticket_key() && resume_ticket_key()->size == 64,
		"no 64-byte ticket key");
	for (i = 0; i < (int)sizeof(data); i++)
		data[i] = i * 7 + 1;

	/* Nothing cached: an empty ENTRY.  Then PUT after GET. */
	CHECK(cp_get("a.example", NULL) == 0, "empty cache answered data");
	fd = cp_channel(&slot);
	cp_key(&k, "a.example");
	cp_send(fd, MSG_GET, &k, NULL, 0, 0);
	cp_parent();
	CHECK(recv(fd, got, sizeof(got), 0) == sizeof(struct msg_hdr),
	      "empty ENTRY expected");
	cp_send(fd, MSG_PUT, &k, data, 300, 300);
	/* The child dies right after its PUT: the parent still reads it. */
	close(fd);
	cp_parent();
	CHECK(cp_get("a.example", got) == 300 && !memcmp(got, data, 300),
	      "the session stored before the child died is not served");
	CHECK(cp_get("b.example", NULL) == 0, "b.example got a's session");

	/* Garbage, each closing its channel and changing nothing. */
	fd = cp_channel(&slot);
	REQUIRE(send(fd, "xyz", 3, 0) == 3, "send");
	cp_expect_closed(fd, "3 bytes of garbage");

	fd = cp_channel(&slot);
	cp_send(fd, 99, &k, NULL, 0, 0);
	cp_expect_closed(fd, "unknown type");

	fd = cp_channel(&slot);
	cp_send(fd, MSG_GET, &k, data, 10, 50);
	cp_expect_closed(fd, "length not matching the message");

	fd = cp_channel(&slot);
	cp_send(fd, MSG_GET, &k, data, 10, 10);
	cp_expect_closed(fd, "GET with data");

	fd = cp_channel(&slot);
	cp_send(fd, MSG_GET, &k, NULL, 0, 0);
	cp_parent();
	recv(fd, got, sizeof(got), 0);
	cp_send(fd, MSG_GET, &k, NULL, 0, 0);
	cp_expect_closed(fd, "second GET");

	fd = cp_channel(&slot);
	cp_send(fd, MSG_PUT, &k, data, 10, 10);
	cp_expect_closed(fd, "PUT before GET");

	fd = cp_channel(&slot);
	cp_key(&k2, "c.example");
	cp_send(fd, MSG_GET, &k2, NULL, 0, 0);
	cp_parent();
	recv(fd, got, sizeof(got), 0);
	cp_send(fd, MSG_PUT, &k, data + 1, 200, 200);
	cp_expect_closed(fd, "PUT for a key not asked for");

	fd = cp_channel(&slot);
	cp_send(fd, MSG_GET, &k, NULL, 0, 0);
	cp_parent();
	recv(fd, got, sizeof(got), 0);
	cp_send(fd, MSG_PUT, &k, data, RESUME_DATA_MAX + 100,
		RESUME_DATA_MAX + 100);
	cp_expect_closed(fd, "oversize PUT");

	fd = cp_channel(&slot);
	memset(&k2, 'x', sizeof(k2));
	cp_send(fd, MSG_GET, &k2, NULL, 0, 0);
	cp_expect_closed(fd, "unterminated key");

	fd = cp_channel(&slot);
	cp_key(&k2, "d.example");
	k2.peer[0] = '\0';
	cp_send(fd, MSG_GET, &k2, NULL, 0, 0);
	cp_expect_closed(fd, "empty peer");

	CHECK(cp_get("a.example", got) == 300 && !memcmp(got, data, 300),
	      "garbage changed a.example's entry");

	/* A forked child sees none of it. */
	pid = fork();
	if (pid == 0) {
		for (i = 0; i < RESUME_SLOTS; i++)
			if (arena->entries[i].expires ||
			    arena->entries[i].len)
				_exit(1);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && !WEXITSTATUS(st),
	      "a forked child inherited cache entries (no MADV_WIPEONFORK)");

	/* The bound: RESUME_SLOTS more entries push out the least recently
	 * used, a.example (used again just above) outlives b0. */
	for (i = 0; i < RESUME_SLOTS; i++) {
		char name[32];

		snprintf(name, sizeof(name), "b%d.example", i);
		fd = cp_channel(&slot);
		cp_key(&k2, name);
		cp_send(fd, MSG_GET, &k2, NULL, 0, 0);
		cp_parent();
		recv(fd, got, sizeof(got), 0);
		cp_send(fd, MSG_PUT, &k2, data, 20, 20);
		close(fd);
		cp_parent();
		if (i == 0)	/* a.example is now the older */
			CHECK(cp_get("a.example", NULL) == 300, "a.example lost");
	}
	CHECK(cp_get("b0.example", NULL) == 0,
	      "the least recently used entry was not dropped");
	CHECK(cp_get("b1.example", NULL) == 20, "b1.example lost");
	CHECK(cp_get("a.example", NULL) == 300, "a.example lost");

	/* The child's side: answers it must refuse. */
	i = listen_any(&st);
	tcp[0] = connect_to(st);
	tcp[1] = accept(i, NULL, NULL);
	close(i);
	req.fd = tcp[0];
	snprintf(req.server_name, sizeof(req.server_name), "a.example");
	REQUIRE(!socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pair), "socketpair");
	child_fd = pair[0];
	REQUIRE(!make_key(&req, "default", &k2), "make_key: %s",
		strerror(errno));
	cp_send(pair[1], MSG_GET, &k2, data, 10, 10);
	CHECK(resume_fetch(&req, "default", &d) < 0 && !d.data,
	      "child took a GET as an answer");
	recv(pair[1], got, sizeof(got), 0);
	cp_send(pair[1], MSG_ENTRY, &k2, data, 10, 20);
	CHECK(resume_fetch(&req, "default", &d) < 0 && !d.data,
	      "child took an answer with a wrong length");
	recv(pair[1], got, sizeof(got), 0);
	cp_key(&k, "other.example");
	cp_send(pair[1], MSG_ENTRY, &k, data, 10, 10);
	CHECK(resume_fetch(&req, "default", &d) < 0 && !d.data,
	      "child took another key's session");
	recv(pair[1], got, sizeof(got), 0);
	CHECK(resume_fetch(&req, "default", &d) < 0,
	      "child went on without an answer");
	recv(pair[1], got, sizeof(got), 0);
	cp_send(pair[1], MSG_ENTRY, &k2, data, 10, 10);
	CHECK(resume_fetch(&req, "default", &d) == 0 && d.size == 10 &&
	      !memcmp(d.data, data, 10), "child refused a good answer");
	gnutls_free(d.data);
	close(pair[0]);
	close(pair[1]);
	close(tcp[0]);
	close(tcp[1]);
	child_fd = -1;
	resume_exit();
}

/* A GnuTLS client on @port that sends data and expects it back. */
static int gnutls_echo_client(int port, const char *cafile, int version)
{
	gnutls_certificate_credentials_t cred;
	gnutls_session_t s;
	char out[5000], in[5000];
	size_t got;
	int fd, ret, i;

	gnutls_certificate_allocate_credentials(&cred);
	if (gnutls_certificate_set_x509_trust_file(cred, cafile,
						   GNUTLS_X509_FMT_PEM) <= 0)
		return 10;
	gnutls_init(&s, GNUTLS_CLIENT);
	gnutls_priority_set_direct(s, version == TLS_1_2_VERSION ?
		"NORMAL:-VERS-ALL:+VERS-TLS1.2" :
		"NORMAL:-VERS-ALL:+VERS-TLS1.3", NULL);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
	gnutls_server_name_set(s, GNUTLS_NAME_DNS, "localhost", 9);
	gnutls_session_set_verify_cert(s, "localhost", 0);
	fd = connect_to(port);
	gnutls_transport_set_int(s, fd);
	do {
		ret = gnutls_handshake(s);
	} while (ret < 0 && !gnutls_error_is_fatal(ret));
	if (ret < 0) {
		fprintf(stderr, "  gnutls client: %s\n", gnutls_strerror(ret));
		return 11;
	}
	for (i = 0; i < 20; i++) {
		memset(out, 'A' + i, sizeof(out));
		if (gnutls_record_send(s, out, sizeof(out)) != sizeof(out))
			return 12;
		for (got = 0; got < sizeof(out); got += ret) {
			ret = gnutls_record_recv(s, in + got,
						 sizeof(in) - got);
			/* After a TLS 1.3 NewSessionTicket from ktlsd (the
			 * server issues tickets by default), GnuTLS asks to
			 * be called again. */
			if (ret == GNUTLS_E_AGAIN ||
			    ret == GNUTLS_E_INTERRUPTED) {
				ret = 0;
				continue;
			}
			if (ret <= 0) {
				fprintf(stderr, "  gnutls client recv: %s\n",
					gnutls_strerror(ret));
				return 13;
			}
		}
		if (memcmp(in, out, sizeof(out)))
			return 14;
	}
	gnutls_bye(s, GNUTLS_SHUT_WR);
	close(fd);
	gnutls_deinit(s);
	gnutls_certificate_free_credentials(cred);
	return 0;
}

static void t_server(int argc, char **argv)
{
	int l, port, fd, st, version;
	char buf[16384];
	ssize_t n;
	pid_t pid;

	REQUIRE(argc == 3, "server CAFILE VERSION CIPHER");
	version = version_arg(argv[1]);
	l = listen_any(&port);
	pid = fork();
	if (pid == 0)
		_exit(gnutls_echo_client(port, argv[0], version));
	fd = accept(l, NULL, NULL);
	REQUIRE(fd >= 0, "accept");
	if (ktls_server_handshake(fd, NULL)) {
		fail("server handshake: %s", ktls_strerror(errno));
		kill(pid, SIGKILL);
	} else {
		check_info(fd, version, atoi(argv[2]));
		/* Echo through ktls until the client closes. */
		while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
			if (send(fd, buf, n, 0) != n)
				break;
	}
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && !WEXITSTATUS(st),
	      "GnuTLS client failed with %d", WEXITSTATUS(st));
	close(fd);
	close(l);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} plain[] = {
		{ "noagent", t_noagent }, { "timeout", t_timeout },
		{ "cap", t_cap }, { "gate", t_gate }, { "eperm", t_eperm },
		{ "malformed", t_malformed }, { "close", t_close },
		{ "creds", t_creds },
		{ "agentdeath", t_agentdeath }, { "cacheproto", t_cacheproto },
		{ "lockheld", t_lockheld }, { "abortdone", t_abortdone },
		{ "nsshare", t_nsshare },
	};
	static const struct {
		const char *name;
		void (*fn)(int argc, char **argv);
	} args[] = {
		{ "client", t_client }, { "server", t_server },
		{ "nonblock", t_nonblock }, { "expect", t_expect },
		{ "many", t_many }, { "resume", t_resume },
		{ "hstime", t_hstime }, { "speakfirst", t_speakfirst },
	};
	size_t i;

	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		fprintf(stderr, "usage: hs_test TEST [ARGS]\n");
		return 2;
	}
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (!strcmp(argv[1], plain[i].name)) {
			plain[i].fn();
			return failures ? 1 : 0;
		}
	for (i = 0; i < sizeof(args) / sizeof(args[0]); i++)
		if (!strcmp(argv[1], args[i].name)) {
			args[i].fn(argc - 2, argv + 2);
			return failures ? 1 : 0;
		}
	fprintf(stderr, "unknown test %s\n", argv[1]);
	return 2;
}
