// SPDX-License-Identifier: GPL-2.0
/*
 * hs_fault - the "daemon faults" campaign: ktlsd killed with SIGKILL at
 * random points while handshakes are in flight.
 *
 *   hs_fault -k KTLSD -c CONF -l LOG [-r ROUNDS] [-n PAIRS] [-t MS]
 *            [-w MS] [-s SEED] [-a]
 *
 * Runs as root in the VM, with ktls.ko loaded and no other ktlsd running
 * (selftests/handshake/tests.d/70-daemon-faults.sh).  This program starts
 * ktlsd itself (KTLSD -d -c CONF, its stderr appended to LOG, in a process
 * group of its own) and is the child subreaper, so that handshake children
 * orphaned by a killed parent come back to it and are accounted for.
 *
 * It keeps PAIRS (default 8) loopback connections in flight, each with a
 * client and a server handshake requested through ktlsd on its two ends
 * (non-blocking, timeout -t, default 5000 ms, server name "localhost").
 * That default and the margins below grow with $KTLS_VM_SLOWDOWN (set
 * by scripts/vm: 4 on the debug kernel).
 * A finished pair is replaced at once.  Each of ROUNDS (default 10)
 * rounds, at a random point within -w ms (default 1500), kills with
 * SIGKILL one of:
 *	child	a random handshake child of the running ktlsd (50 %)
 *	parent	the ktlsd parent alone; its children are orphaned (30 %)
 *	group	the parent and all its children at once (20 %)
 * and after a parent or group kill starts a new ktlsd 0-300 ms later,
 * traffic going on meanwhile (requests then fail with ECONNREFUSED); one
 * time in three that one is killed too (parent or group) 0-200 ms after
 * its start, and another started 0-300 ms later.  In half the rounds
 * that kill a parent no new request is made after the kill, so that the
 * next ktlsd gets no READY that would wake it up to the requests left.
 * After a further 200-800 ms of traffic no new pair starts and the round
 * drains.  The random choices come from SEED (printed; default from the
 * clock); the timing of the kernel and ktlsd make a run reproducible only
 * roughly.
 *
 * Checks (each failure is a "FAIL:" line; exit status 1 if any):
 *  - every request ends, with success or an error, within its timeout
 *    plus 2 s (the application is never left waiting), and with an error
 *    a request may end with (ECONNREFUSED, ECONNABORTED, ETIMEDOUT,
 *    ECONNRESET, EPROTO, ...), not one that means a leak or a mix-up
 *    (EAGAIN: a pending count that never came down; EALREADY, EBUSY,
 *    EINVAL, EISCONN, EBADF, ENOENT);
 *  - no request ends by its timeout (ETIMEDOUT; -a allows it), although
 *    the issue asks only for an error within the timeout: a request whose
 *    agent died fails at once (below), and one whose READY died with a
 *    ktlsd parent, or with a child killed before its ACCEPT, is taken by
 *    the next ktlsd or child (helper/ktlsd/main.c, "draining") and then
 *    fails soon if its peer has gone;
 *  - a request whose agent was killed ends within 2 s of the kill, not
 *    at its timeout: after a parent or group kill, every request the
 *    kernel showed as running (KTLS_HANDSHAKE_STATUS) once the parent
 *    could be reaped, since the kernel fails what was accepted on the
 *    netlink sockets the parent held; after a child kill, the request
 *    whose socket the child held in its descriptor table (the parent
 *    reports ECONNABORTED for it);
 *  - a pair whose two handshakes both succeeded moves data both ways;
 *  - after each round: no orphaned handshake child is left (they must end
 *    by themselves within the timeout plus 3 s), the running ktlsd has no
 *    child left, no TCP socket of the campaign's port is left in any
 *    state but TIME_WAIT, the ktls module's reference count (one per
 *    socket with the ULP) is back to what it was before the campaign, and
 *    ktlsd serves a new pair, data included, with handshake_max_pending
 *    set to 1: a request left counted as pending in the kernel makes that
 *    fail with EAGAIN;
 *  - ktlsd never dies unless killed here;
 *  - at the end a freshly started ktlsd serves a pair the same way, and
 *    stops on SIGTERM.
 * The last line sums up: rounds, kills of each kind, requests ok and
 * failed by errno, the longest wait for an error, failures.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/tls.h>

#include "ktls_netlink.h"
#include "../../helper/lib/ktls.h"
#include "../lib/ktls_util.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

#define MAX_PAIRS	64
/* Each times $KTLS_VM_SLOWDOWN (the debug kernel's factor), as is the
 * default timeout. */
#define SLACK_MS	(2000 * slow)	/* past a request's timeout: stuck */
#define ORPHAN_MS	(3000 * slow)	/* past the timeout: an orphan lives */
#define SETTLE_MS	(5000 * slow)	/* sockets and module refs back */
#define READY_MS	(10000 * slow)	/* a new ktlsd answers requests */
#define PROMPT_MS	(2000 * slow)	/* a killed agent's request ended */
#define MAX_PENDING	"/sys/module/ktls/parameters/handshake_max_pending"
#define REFCNT		"/sys/module/ktls/refcnt"

static const char *ktlsd_path, *conf_path, *log_path;
static unsigned int npairs = 8, timeout_ms, window_ms = 1500, slow = 1;
static int failures;
static uint64_t rng;
static char max_pending[32];	/* the parameter's value before us */
static bool allow_timeouts;	/* -a */

/* ktlsd: its pid (and process group), 0 when none runs. */
static pid_t ktlsd;
static bool ktlsd_killed;	/* by us: its death is expected */

static struct {
	unsigned int kill_child, kill_parent, kill_group, no_child;
	unsigned int kill_young;	/* of those, right after a restart */
	unsigned int quiet;	/* parent kills with no request after them */
	unsigned int ok, failed, pairs_ok, data_ok, orphans;
	unsigned int err[256];	/* by errno */
	unsigned int max_err_ms, max_ok_ms;
	unsigned int killed_reqs, max_kill_ms;	/* requests of killed agents */
} st;

static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("  FAIL: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
	failures++;
}

static void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
}

static void die(const char *what)
{
	fail("%s: %s", what, strerror(errno));
	if (ktlsd > 0)
		kill(-ktlsd, SIGKILL);
	exit(1);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* xorshift64*: the campaign's only source of randomness. */
static uint32_t rnd(uint32_t n)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return n ? (uint32_t)((rng * 0x2545F4914F6CDD1DULL) >> 32) % n : 0;
}

static void msleep(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* ---- /proc and /sys ---- */

static long read_long(const char *path)
{
	char buf[64] = "";
	long v = -1;
	int fd = open(path, O_RDONLY);

	if (fd >= 0) {
		if (read(fd, buf, sizeof(buf) - 1) > 0)
			v = strtol(buf, NULL, 10);
		close(fd);
	}
	return v;
}

static int write_str(const char *path, const char *v)
{
	int fd = open(path, O_WRONLY), ret = -1;

	if (fd >= 0) {
		if (write(fd, v, strlen(v)) == (ssize_t)strlen(v))
			ret = 0;
		close(fd);
	}
	return ret;
}

/* Up to @max pids whose parent is @ppid (and not @except); returns how
 * many there are. */
static int children_of(pid_t ppid, pid_t except, pid_t *out, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	if (!d)
		die("/proc");
	while ((e = readdir(d))) {
		char path[64], buf[512], *p;
		pid_t pid, pp;
		ssize_t len;
		int fd;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pid = atoi(e->d_name);
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = 0;
		/* pid (comm) state ppid: comm may hold anything */
		p = strrchr(buf, ')');
		if (!p || sscanf(p + 1, " %*c %d", &pp) != 1)
			continue;
		if (pp != ppid || pid == except)
			continue;
		if (n < max)
			out[n] = pid;
		n++;
	}
	closedir(d);
	return n;
}

/* TCP sockets of @port in /proc/net/tcp, in any state but LISTEN and
 * TIME_WAIT. */
static int sockets_of(int port)
{
	FILE *f = fopen("/proc/net/tcp", "r");
	char line[512];
	unsigned int lp, rp, state;
	int n = 0;

	if (!f)
		die("/proc/net/tcp");
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, " %*d: %*x:%x %*x:%x %x", &lp, &rp,
			   &state) != 3)
			continue;
		if ((lp == (unsigned int)port || rp == (unsigned int)port) &&
		    state != 0x0a && state != 0x06)
			n++;
	}
	fclose(f);
	return n;
}

/* ---- ktlsd ---- */

static void start_ktlsd(void)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT, 0644);

		setpgid(0, 0);
		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(127);
		close(fd);
		execl(ktlsd_path, "ktlsd", "-d", "-c", conf_path, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	ktlsd = pid;
	ktlsd_killed = false;
}

/* Reap whatever ended: ktlsd itself (a failure unless we killed it) and
 * orphaned handshake children. */
static void reap(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == ktlsd) {
			if (!ktlsd_killed)
				fail("ktlsd %d ended by itself (status %#x)",
				     pid, status);
			ktlsd = 0;
		} else {
			st.orphans++;
		}
	}
}

static void on_term(int sig)
{
	(void)sig;
	if (ktlsd > 0)
		kill(-ktlsd, SIGKILL);
	if (max_pending[0])
		write_str(MAX_PENDING, max_pending);
	_exit(1);
}

/* ---- pairs ---- */

struct side {
	int fd;
	bool running;
	int err;		/* 0 or an errno, once finished */
	uint64_t t0;
	uint64_t killed;	/* when its agent was killed; 0: not */
	bool late;		/* failed already for running too long since */
};

struct pair {
	bool used;
	struct side s[2];	/* [0] client, [1] server */
};

static struct pair pairs[MAX_PAIRS];
static int lfd, lport;

static void listen_loopback(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (void *)&a, sizeof(a)) ||
	    listen(lfd, 512) || getsockname(lfd, (void *)&a, &len))
		die("listen");
	lport = ntohs(a.sin_port);
}

static void connect_pair(int fds[2])
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(lport),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fds[0] < 0 || connect(fds[0], (void *)&a, sizeof(a)))
		die("connect");
	fds[1] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fds[1] < 0)
		die("accept");
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
}

static bool err_allowed(int err)
{
	switch (err) {
	case EAGAIN: case EALREADY: case EBUSY: case EINVAL: case EISCONN:
	case EBADF: case ENOENT: case EINPROGRESS:
		return false;
	}
	return true;
}

/* @s finished now with @err. */
static void side_end(struct side *s, int err)
{
	unsigned int ms = now_ms() - s->t0;

	s->running = false;
	s->err = err;
	if (!err) {
		st.ok++;
		if (ms > st.max_ok_ms)
			st.max_ok_ms = ms;
	} else {
		st.failed++;
		st.err[err & 255]++;
		if (ms > st.max_err_ms)
			st.max_err_ms = ms;
		if (!err_allowed(err))
			fail("a request failed with %s (%d)", strerror(err),
			     err);
	}
	if (ms > timeout_ms + SLACK_MS)
		fail("a request ended after %u ms (%s), its timeout is %u ms",
		     ms, err ? strerror(err) : "success", timeout_ms);
	else if (err == ETIMEDOUT && !allow_timeouts)
		fail("a request waited for its timeout (ETIMEDOUT after %u ms): no agent took it, or its agent did not end it",
		     ms);
	if (s->killed) {
		ms = now_ms() - s->killed;
		if (ms > st.max_kill_ms)
			st.max_kill_ms = ms;
		if (ms > PROMPT_MS && !s->late)
			fail("a request ended (%s) %u ms after its agent was killed, not within %u ms",
			     err ? strerror(err) : "success", ms, PROMPT_MS);
	}
}

static void side_request(struct side *s, bool server)
{
	struct ktls_opts o = { .server_name = "localhost",
			       .timeout_ms = timeout_ms };
	int ret;

	s->t0 = now_ms();
	s->running = true;
	ret = server ? ktls_server_handshake(s->fd, &o) :
		       ktls_client_handshake(s->fd, &o);
	if (ret < 0 && errno == EINPROGRESS)
		return;
	side_end(s, ret ? errno : 0);
}

static unsigned long inode_of(int fd)
{
	struct stat sb;

	return fstat(fd, &sb) ? 0 : sb.st_ino;
}

/* Its agent was killed just now: @s must end within PROMPT_MS. */
static void side_killed(struct side *s)
{
	s->killed = now_ms();
	st.killed_reqs++;
}

/* The parent was killed: every request accepted (running) ends soon, as
 * the kernel fails what was accepted on the netlink sockets it held. */
static void killed_running(void)
{
	struct ktls_handshake_status hs;
	socklen_t len;
	unsigned int i, j;

	for (i = 0; i < npairs; i++) {
		for (j = 0; pairs[i].used && j < 2; j++) {
			struct side *s = &pairs[i].s[j];

			len = sizeof(hs);
			if (s->running &&
			    !getsockopt(s->fd, SOL_TLS, KTLS_HANDSHAKE_STATUS,
					&hs, &len) &&
			    hs.state == KTLS_HS_STATE_RUNNING)
				side_killed(s);
		}
	}
}

/* A handshake child is about to be killed: the request whose socket it
 * holds (ACCEPT installed it in the child's descriptor table), if any. */
static struct side *held_by(pid_t pid)
{
	char path[64], link[64];
	unsigned long ino;
	struct dirent *e;
	unsigned int i, j;
	ssize_t n;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (!d)
		return NULL;
	while ((e = readdir(d))) {
		n = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (sscanf(link, "socket:[%lu]", &ino) != 1)
			continue;
		for (i = 0; i < npairs; i++)
			for (j = 0; pairs[i].used && j < 2; j++)
				if (pairs[i].s[j].running &&
				    inode_of(pairs[i].s[j].fd) == ino) {
					closedir(d);
					return &pairs[i].s[j];
				}
	}
	closedir(d);
	return NULL;
}

static void pair_start(struct pair *p)
{
	int fds[2], first = rnd(2);

	connect_pair(fds);
	memset(p, 0, sizeof(*p));
	p->used = true;
	p->s[0].fd = fds[0];
	p->s[1].fd = fds[1];
	side_request(&p->s[first], first == 1);
	side_request(&p->s[!first], first != 1);
}

/* recv() of application data, passing over post-handshake messages (a
 * TLS 1.3 server's tickets reach the client's application as records of
 * type 22 when its handshake child had stopped reading). */
static ssize_t recv_data(int fd, char *buf, size_t len)
{
	ssize_t n;
	int type;

	for (;;) {
		n = ku_recv_type(fd, buf, len, 0, &type);
		if (n < 0 || type < 0 || type == 23)
			return n;
		if (type != 22) {
			errno = EIO;
			return -1;
		}
	}
}

static bool recv_all(int fd, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = recv_data(fd, buf + got, len - got);
		if (n <= 0)
			return false;
		got += n;
	}
	return true;
}

/* Both handshakes of @p succeeded: a message each way through ktls. */
static bool pair_data(struct pair *p)
{
	struct timeval tv = { 3, 0 };
	char out[1000], in[1000];
	size_t i;
	int j;

	for (j = 0; j < 2; j++) {
		fcntl(p->s[j].fd, F_SETFL, 0);
		setsockopt(p->s[j].fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
			   sizeof(tv));
		setsockopt(p->s[j].fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
			   sizeof(tv));
	}
	for (i = 0; i < sizeof(out); i++)
		out[i] = 'a' + rnd(26);
	if (send(p->s[0].fd, out, sizeof(out), 0) != sizeof(out) ||
	    !recv_all(p->s[1].fd, in, sizeof(in)) ||
	    memcmp(in, out, sizeof(in))) {
		fail("data client -> server: %s", strerror(errno));
		return false;
	}
	for (i = 0; i < sizeof(out); i++)
		out[i] = 'A' + rnd(26);
	if (send(p->s[1].fd, out, sizeof(out), 0) != sizeof(out) ||
	    !recv_all(p->s[0].fd, in, sizeof(in)) ||
	    memcmp(in, out, sizeof(in))) {
		fail("data server -> client: %s", strerror(errno));
		return false;
	}
	st.data_ok++;
	return true;
}

static void pair_close(struct pair *p)
{
	if (p->s[0].fd >= 0)
		close(p->s[0].fd);
	if (p->s[1].fd >= 0)
		close(p->s[1].fd);
	p->used = false;
}

/* Poll the running requests for up to @ms; finish pairs; with @refill,
 * start new ones in free places. */
static void pump(unsigned int ms, bool refill)
{
	struct pollfd pfd[2 * MAX_PAIRS];
	struct side *who[2 * MAX_PAIRS];
	uint64_t end = now_ms() + ms;
	unsigned int i, j;
	int n, ret;

	do {
		reap();
		n = 0;
		for (i = 0; i < npairs; i++) {
			struct pair *p = &pairs[i];

			if (!p->used && refill)
				pair_start(p);
			if (!p->used)
				continue;
			for (j = 0; j < 2; j++) {
				struct side *s = &p->s[j];

				if (!s->running)
					continue;
				if (now_ms() - s->t0 > timeout_ms + SLACK_MS) {
					/* side_end() fails it */
					side_end(s, ETIME);
					continue;
				}
				if (s->killed && !s->late &&
				    now_ms() - s->killed > PROMPT_MS + 1000) {
					fail("a request still runs %u ms after its agent was killed",
					     (unsigned int)(now_ms() - s->killed));
					s->late = true;
				}
				pfd[n] = (struct pollfd){ .fd = s->fd,
					.events = POLLIN | POLLOUT };
				who[n++] = s;
			}
			/* A side that failed is closed, as an application
			 * would: the other side's handshake then fails
			 * soon instead of waiting for a peer that never
			 * speaks until its timeout. */
			for (j = 0; j < 2; j++) {
				struct side *s = &p->s[j];

				if (!s->running && s->err && s->fd >= 0 &&
				    p->s[!j].running) {
					close(s->fd);
					s->fd = -1;
				}
			}
			if (!p->s[0].running && !p->s[1].running) {
				if (!p->s[0].err && !p->s[1].err) {
					st.pairs_ok++;
					pair_data(p);
				}
				pair_close(p);
				if (refill)	/* polled from the next turn */
					pair_start(p);
			}
		}
		if (!n) {
			if (!refill)
				return;
			/* All refused at once (no agent): not a busy loop. */
			msleep(10);
			continue;
		}
		ret = poll(pfd, n, 10);
		if (ret < 0 && errno != EINTR)
			die("poll");
		for (i = 0; ret > 0 && i < (unsigned int)n; i++) {
			if (!pfd[i].revents)
				continue;
			if (!ktls_handshake_result(pfd[i].fd, NULL))
				side_end(who[i], 0);
			else if (errno != EINPROGRESS)
				side_end(who[i], errno);
		}
	} while (now_ms() < end);
}

static bool any_running(void)
{
	unsigned int i;

	for (i = 0; i < npairs; i++)
		if (pairs[i].used)
			return true;
	return false;
}

/* ---- one round's checks ---- */

/* One pair, with handshake_max_pending at 1: ktlsd (started lately,
 * perhaps) serves it and data moves.  Requests refused for want of an
 * agent are tried again for READY_MS. */
static void serve_check(const char *when)
{
	struct ktls_opts o = { .server_name = "localhost",
			       .timeout_ms = timeout_ms };
	uint64_t end = now_ms() + READY_MS;
	struct pair p;
	int fds[2], ret, i;

	if (write_str(MAX_PENDING, "1"))
		die(MAX_PENDING);
	for (;;) {
		reap();
		connect_pair(fds);
		memset(&p, 0, sizeof(p));
		p.used = true;
		p.s[0].fd = fds[0];
		p.s[1].fd = fds[1];
		p.s[0].t0 = now_ms();
		ret = ktls_client_handshake(fds[0], &o);
		if (ret < 0 && errno == ECONNREFUSED && now_ms() < end) {
			pair_close(&p);
			msleep(50);
			continue;
		}
		break;
	}
	if (ret < 0 && errno != EINPROGRESS) {
		fail("%s: the client request failed at once: %s%s", when,
		     strerror(errno), errno == EAGAIN ?
		     " (a request is still counted as pending)" : "");
		goto out;
	}
	p.s[0].running = true;
	/* The client's request may still be pending: one at a time. */
	p.s[1].t0 = now_ms();
	while ((ret = ktls_server_handshake(fds[1], &o)) < 0 &&
	       errno == EAGAIN && now_ms() - p.s[1].t0 < 3000)
		msleep(10);
	if (ret < 0 && errno != EINPROGRESS) {
		fail("%s: the server request failed at once: %s", when,
		     strerror(errno));
		goto out;
	}
	p.s[1].running = true;
	for (i = 0; i < 2; i++) {
		struct pollfd pfd = { .fd = fds[i], .events = POLLOUT };

		if (poll(&pfd, 1, timeout_ms + SLACK_MS) != 1) {
			fail("%s: request %d never finished", when, i);
			goto out;
		}
		if (ktls_handshake_result(fds[i], NULL)) {
			fail("%s: the %s handshake failed: %s", when,
			     i ? "server" : "client", strerror(errno));
			goto out;
		}
	}
	if (!pair_data(&p))
		fail("%s: no data through the new pair", when);
out:
	pair_close(&p);
	if (write_str(MAX_PENDING, max_pending))
		die(MAX_PENDING);
}

/* Orphans end, ktlsd's children end, sockets and module refs come back. */
static void settle(long refs, const char *when)
{
	uint64_t t0 = now_ms();
	pid_t pids[16];
	int n, m = 0;
	long r = -1;

	do {
		reap();
		n = children_of(getpid(), ktlsd, pids, 16);
		if (!n)
			break;
		msleep(20);
	} while (now_ms() - t0 < timeout_ms + ORPHAN_MS);
	if (n)
		fail("%s: %d orphaned handshake children still alive after %u ms (pid %d ...)",
		     when, n, timeout_ms + ORPHAN_MS, pids[0]);
	t0 = now_ms();
	do {
		n = ktlsd ? children_of(ktlsd, 0, pids, 16) : 0;
		m = sockets_of(lport);
		r = read_long(REFCNT);
		if (!n && !m && r == refs)
			return;
		msleep(20);
	} while (now_ms() - t0 < SETTLE_MS);
	if (n)
		fail("%s: ktlsd %d still has %d handshake children (pid %d ...)",
		     when, ktlsd, n, pids[0]);
	if (m)
		fail("%s: %d TCP sockets of port %d left (not TIME_WAIT)",
		     when, m, lport);
	if (r != refs)
		fail("%s: ktls module refcnt %ld, %ld before the campaign: sockets with the ULP left",
		     when, r, refs);
}

/* ---- the campaign ---- */

static void kill_ktlsd(int kind)
{
	struct side *held;
	pid_t pids[64];
	uint64_t t0;
	int n;

	if (!ktlsd)
		return;
	if (kind == 0) {
		t0 = now_ms();
		while (!(n = children_of(ktlsd, 0, pids, 64)) &&
		       now_ms() - t0 < 1000)
			pump(5, true);
		if (!n || !ktlsd) {
			st.no_child++;
			note("  no handshake child to kill");
			return;
		}
		n = rnd(n > 64 ? 64 : n);
		held = held_by(pids[n]);
		note("  kill -9 handshake child %d%s", pids[n],
		     held ? ", which holds a request's socket" : "");
		kill(pids[n], SIGKILL);
		if (held)
			side_killed(held);
		st.kill_child++;
		return;
	}
	ktlsd_killed = true;
	note("  kill -9 ktlsd %d%s", ktlsd, kind == 1 ? "" : " and children");
	if (kind == 1) {
		kill(ktlsd, SIGKILL);
		st.kill_parent++;
	} else {
		kill(-ktlsd, SIGKILL);
		st.kill_group++;
	}
	if (waitpid(ktlsd, NULL, 0) != ktlsd)
		die("waitpid ktlsd");
	ktlsd = 0;
	/* Its descriptors are closed once it can be reaped. */
	killed_running();
}

static void round_run(unsigned int r, long refs)
{
	unsigned int at = rnd(window_ms), kind = rnd(10), tail;
	unsigned int ok = st.ok, failed = st.failed;
	bool more;
	char when[32];

	kind = kind < 5 ? 0 : kind < 8 ? 1 : 2;
	/* Half the parent kills, no new request after it: the next ktlsd
	 * must find what is left waiting without a READY to wake it. */
	more = !kind || rnd(2);
	note("round %u: kill %s at %u ms%s", r,
	     kind == 0 ? "a child" : kind == 1 ? "the parent" : "the group",
	     at, more ? "" : ", no new request after it");
	if (!ktlsd)
		start_ktlsd();
	pump(at, true);
	kill_ktlsd(kind);
	if (!more)
		st.quiet++;
	if (!ktlsd) {
		pump(rnd(300), more);
		start_ktlsd();
		/* One time in three, the new one dies young: in its
		 * start-up, or while it takes the requests its predecessor
		 * left waiting. */
		if (!rnd(3)) {
			pump(rnd(200), more);
			st.kill_young++;
			kill_ktlsd(rnd(2) + 1);
			pump(rnd(300), more);
			start_ktlsd();
		}
	}
	tail = 200 + rnd(600);
	pump(tail, more);
	while (any_running())
		pump(100, false);
	snprintf(when, sizeof(when), "round %u", r);
	settle(refs, when);
	serve_check(when);
	note("  %u ok, %u failed; longest wait for an error so far %u ms",
	     st.ok - ok, st.failed - failed, st.max_err_ms);
}

static void usage(void)
{
	fprintf(stderr, "usage: hs_fault -k KTLSD -c CONF -l LOG [-r ROUNDS] [-n PAIRS] [-t MS] [-w MS] [-s SEED] [-a]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned int rounds = 10, r;
	unsigned long long seed = 0;
	bool seeded = false;
	long refs;
	int opt, i, status;
	uint64_t t0;

	if (getenv("KTLS_VM_SLOWDOWN") && atoi(getenv("KTLS_VM_SLOWDOWN")) > 0)
		slow = atoi(getenv("KTLS_VM_SLOWDOWN"));
	timeout_ms = 5000 * slow;
	while ((opt = getopt(argc, argv, "ak:c:l:r:n:t:w:s:")) != -1) {
		switch (opt) {
		case 'a': allow_timeouts = true; break;
		case 'k': ktlsd_path = optarg; break;
		case 'c': conf_path = optarg; break;
		case 'l': log_path = optarg; break;
		case 'r': rounds = strtoul(optarg, NULL, 0); break;
		case 'n': npairs = strtoul(optarg, NULL, 0); break;
		case 't': timeout_ms = strtoul(optarg, NULL, 0); break;
		case 'w': window_ms = strtoul(optarg, NULL, 0); break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			seeded = true;
			break;
		default: usage();
		}
	}
	if (!ktlsd_path || !conf_path || !log_path || optind != argc ||
	    !npairs || npairs > MAX_PAIRS || !timeout_ms || !window_ms)
		usage();
	if (!seeded)
		seed = (unsigned long long)time(NULL) ^
		       ((unsigned long long)getpid() << 20);
	rng = seed ? seed : 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGPIPE, SIG_IGN);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1))
		die("PR_SET_CHILD_SUBREAPER");
	listen_loopback();
	refs = read_long(REFCNT);
	snprintf(max_pending, sizeof(max_pending), "%ld",
		 read_long(MAX_PENDING));
	note("hs_fault: seed %llu, %u rounds, %u pairs, timeout %u ms, kill window %u ms, slowdown %u, port %d, module refcnt %ld",
	     seed, rounds, npairs, timeout_ms, window_ms, slow, lport, refs);

	for (r = 1; r <= rounds; r++)
		round_run(r, refs);

	/* A fresh ktlsd after the last kill serves normally. */
	note("last: a fresh ktlsd");
	if (ktlsd)
		kill_ktlsd(2);
	settle(refs, "before the fresh ktlsd");
	start_ktlsd();
	serve_check("the fresh ktlsd");
	settle(refs, "after the fresh ktlsd");
	kill(ktlsd, SIGTERM);
	for (t0 = now_ms(); now_ms() - t0 < 10000; msleep(20))
		if (waitpid(ktlsd, &status, WNOHANG) == ktlsd)
			break;
	if (now_ms() - t0 >= 10000) {
		fail("ktlsd did not stop on SIGTERM");
		kill(-ktlsd, SIGKILL);
		waitpid(ktlsd, &status, 0);
	} else if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fail("ktlsd stopped with status %#x", status);
	}
	ktlsd = 0;
	reap();

	printf("hs_fault: seed %llu: %u rounds; kills: %u child, %u parent, %u group (%u of these within 200 ms of a restart, %u rounds without a new request after the kill; %u rounds found no child); requests: %u ok, %u failed (",
	       seed, rounds, st.kill_child, st.kill_parent, st.kill_group,
	       st.kill_young, st.quiet, st.no_child, st.ok, st.failed);
	for (i = 1, opt = 0; i < 256; i++)
		if (st.err[i])
			printf("%s%s %u", opt++ ? ", " : "", strerrorname_np(i) ?: "?",
			       st.err[i]);
	printf("); pairs: %u both ok, %u with data checked; longest wait: error %u ms, success %u ms; %u requests of killed agents, ended at most %u ms after the kill; orphans reaped %u; %d failures\n",
	       st.pairs_ok, st.data_ok, st.max_err_ms, st.max_ok_ms,
	       st.killed_reqs, st.max_kill_ms, st.orphans, failures);
	return failures ? 1 : 0;
}
