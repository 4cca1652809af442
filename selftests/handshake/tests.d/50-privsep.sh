# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Privilege separation in ktlsd (tests named privsep_*).  Sourced by
# selftests/handshake/run with ktlsd running as nobody.
#
# A handshake child, held mid-handshake (its gnutls-serv stopped, so the
# ServerHello does not come yet), holds no capability (CapEff, CapPrm,
# CapAmb all zero) and no netlink socket, while the parent keeps
# CAP_NET_ADMIN alone; once the server wakes up, the held handshake
# completes through the parent's DONE, and the parent serves the next
# request.  A child killed
# mid-handshake makes the application's request fail with ECONNABORTED
# within seconds, not at its 30 s timeout: the parent, which holds the
# netlink socket the request was accepted on, reports DONE itself.  The
# next request succeeds.

# From selftests/handshake/run (see its comment above the loop that
# sources this file): its variables and functions, the files in $W.
kt_needs W T REPO PORT ktlsd_pid serv_pid t serve unserve wait_log \
	"$W/ktlsd.log"
# Set by this file's test functions (each runs in a subshell) and read
# after them.
kt_keep p_req p_child

P_CTL=$REPO/helper/ktlsctl/ktlsctl
P_NET_ADMIN=0000000000001000	# 1 << CAP_NET_ADMIN (12)
p_child=
p_req=

# p_hold CMD...: no child left from an earlier request; run CMD in the
# background ($p_req) and wait until ktlsd's child for it has entered its
# sandbox, which it does after dropping its capabilities ($p_child).
p_hold() {
	local n
	kt_wait_until 5 eval '! pgrep -P "$ktlsd_pid" >/dev/null' 2>/dev/null
	n=$(grep -c "sandbox: " "$W/ktlsd.log")
	"$@" >"$W/held.out" 2>&1 &
	p_req=$!
	p_child=
	for _ in $(seq 100); do
		p_child=$(pgrep -P "$ktlsd_pid" | head -n1)
		[ -n "$p_child" ] &&
			[ "$(grep -c "sandbox: " "$W/ktlsd.log")" -gt "$n" ] &&
			return 0
		sleep 0.1
	done
	echo "no handshake child appeared"
	return 1
}

p_field() {	# PID FIELD: a field of /proc/PID/status
	awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"
}

# p_netlink_fds PID: how many of PID's descriptors are netlink sockets.
p_netlink_fds() {
	local inodes n=0 l
	inodes=$(awk 'NR > 1 {print $NF}' /proc/net/netlink)
	for l in /proc/"$1"/fd/*; do
		l=$(readlink "$l") || continue
		case "$l" in socket:\[*\]) ;; *) continue ;; esac
		l=${l#socket:[}
		l=${l%]}
		grep -qx "$l" <<<"$inodes" && n=$((n + 1))
	done
	echo "$n"
}

# After a held or killed child: the next request is served.
privsep_next_ok() {
	local rc=0

	serve srv NORMAL || return 1
	"$T" client "$PORT" localhost 0 0 || rc=1
	unserve
	return $rc
}

privsep_caps() {
	local rc=0 f v nl
	serve srv NORMAL || return 1
	kill -STOP "$serv_pid"
	if p_hold "$P_CTL" connect -t 30000 "127.0.0.1:$PORT" -n localhost; then
		for f in CapEff CapPrm CapAmb; do
			v=$(p_field "$p_child" $f)
			echo "child $p_child: $f $v"
			[ "$v" = 0000000000000000 ] || rc=1
		done
		grep -E "^(Uid|NoNewPrivs|Seccomp):" "/proc/$p_child/status"
		[ "$(p_field "$p_child" NoNewPrivs)" = 1 ] || rc=1
		nl=$(p_netlink_fds "$p_child")
		echo "child $p_child: $nl netlink sockets"
		[ "$nl" = 0 ] || rc=1
		# The parent: CAP_NET_ADMIN and nothing else, and netlink
		# sockets (the group's, the held child's), which shows the
		# count above can see them.
		for f in CapEff CapPrm; do
			v=$(p_field "$ktlsd_pid" $f)
			echo "parent $ktlsd_pid: $f $v"
			[ "$v" = "$P_NET_ADMIN" ] || rc=1
		done
		nl=$(p_netlink_fds "$ktlsd_pid")
		echo "parent $ktlsd_pid: $nl netlink sockets"
		[ "$nl" -ge 2 ] || {
			rc=1
			ls -l "/proc/$ktlsd_pid/fd" /proc/"$p_child"/fd
			cat /proc/net/netlink
		}
	else
		rc=1
	fi
	# The server wakes up: the held handshake completes, and the parent
	# reports the child's result.
	kill -CONT "$serv_pid"
	wait "$p_req" || rc=1
	ctl_has_file "$W/held.out" "peer: CN=localhost" || rc=1
	unserve
	# The parent still serves.
	privsep_next_ok || rc=1
	return $rc
}
t privsep_caps privsep_caps

privsep_child_killed() {
	local rc=0 t0 t1 before
	serve srv NORMAL || return 1
	kill -STOP "$serv_pid"
	before=$(grep -c "ended without a result" "$W/ktlsd.log")
	# ECONNABORTED 103
	if p_hold "$T" expect "$PORT" localhost 103; then
		t0=$(date +%s%N)
		kill -9 "$p_child"
		wait "$p_req" || rc=1
		t1=$(date +%s%N)
		echo "request failed $(((t1 - t0) / 1000000)) ms after the kill"
		cat "$W/held.out"
		# Well before the request's 30 s timeout.
		[ $(((t1 - t0) / 1000000)) -lt 5000 ] || rc=1
	else
		rc=1
		wait "$p_req"
	fi
	kill -CONT "$serv_pid"
	unserve
	wait_log "killed by signal 9" || rc=1
	[ "$(grep -c "ended without a result; the request fails with ECONNABORTED" \
		"$W/ktlsd.log")" -gt "$before" ] ||
		{ echo "no log line from the parent about the dead child"; rc=1; }
	privsep_next_ok || rc=1
	return $rc
}
t privsep_child_killed privsep_child_killed

# The parent's check of what a child sends (helper/ktlsd/agent.c compiled
# into a test program, with a real netlink socket per slot and a forked
# "child" that only waits): each malformed message kills the child,
# closes its slot and, once the request's id is known, sends DONE (the
# kernel refuses it: id 77 is no request of ours); a good result sends
# DONE and then kills the child, which still holds the application's
# socket; a child whose channel closes after
# ACCEPTED gets DONE(ECONNABORTED), before ACCEPTED nothing is said.
# DONE's answer is read from the loop (pump follows it); a child past
# its deadline is killed by the watchdog, its request reported ETIMEDOUT.
privsep_result_check() {
	cat >"$W/ap.c" <<'CEOF'
/* agent.c's parent side against hand-made child messages. */
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include "agent.c"

static char logbuf[8192];
static int failures;

static void keep(const char *fmt, va_list ap)
{
	size_t n = strlen(logbuf);

	vsnprintf(logbuf + n, sizeof(logbuf) - n, fmt, ap);
	n = strlen(logbuf);
	if (n + 1 < sizeof(logbuf))
		strcat(logbuf, "\n");
}
#define LOGFN(name) void name(const char *fmt, ...) \
	{ va_list ap; va_start(ap, fmt); keep(fmt, ap); va_end(ap); }
LOGFN(log_err)
LOGFN(log_errno)
LOGFN(log_warn)
LOGFN(log_info)
LOGFN(log_debug)

int sandbox_enter(const struct config *cfg)
{
	(void)cfg;
	return 0;
}

const struct profile *config_profile(const struct config *cfg,
				     const char *name)
{
	(void)cfg;
	(void)name;
	return NULL;
}

bool config_allows(const struct profile *pr, uint32_t uid, uint32_t gid,
		   const uint32_t *groups, int ngroups)
{
	(void)pr;
	(void)uid;
	(void)gid;
	(void)groups;
	(void)ngroups;
	return false;
}

void config_keep_only(struct config *cfg, const struct profile *keep)
{
	(void)cfg;
	(void)keep;
}

int resume_child_profile(const struct profile *pr)
{
	(void)pr;
	return 0;
}

int tls_handshake(const struct config *cfg, const struct request *req,
		  struct result *res)
{
	(void)cfg;
	(void)req;
	memset(res, 0, sizeof(*res));
	return 0;
}

/* A slot whose "child" only waits; *cfd: our copy of the child's end. */
static int open_slot(int *cfd, pid_t *pid)
{
	int i = agent_slot_open();

	if (i < 0) {
		printf("agent_slot_open failed:\n%s", logbuf);
		exit(1);
	}
	*cfd = dup(slots[i].child_fd);
	*pid = fork();
	if (*pid == 0) {
		pause();
		_exit(0);
	}
	agent_slot_forked(i, *pid);
	return i;
}

/* The parent handles slot @i: what the child sent and, when that made it
 * send DONE, the kernel's answer, which it reads from its loop too. */
static void pump(int i)
{
	struct pollfd p;
	bool reported;
	int k;

	for (k = 0; k < 5 && slots[i].nl; k++) {
		reported = slots[i].reported;
		p = (struct pollfd){ .fd = slot_pollfd(&slots[i]),
				     .events = POLLIN };
		if (poll(&p, 1, 2000) <= 0)
			break;
		agent_poll_done(&p, 1);
		if (!reported && !slots[i].reported)
			break;
	}
}

static struct agent_msg msg(uint32_t type, uint32_t id)
{
	struct agent_msg m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.id = id;
	return m;
}

static struct agent_msg result_ok(void)
{
	struct agent_msg m = msg(AGENT_MSG_RESULT, 77);

	m.version = TLS_1_3_VERSION;
	m.cipher = TLS_CIPHER_AES_GCM_128;
	m.resumed = 1;
	strcpy(m.alpn, "h2");
	strcpy(m.peer, "CN=localhost,O=\xc3\xa9t\xc3\xa9");
	return m;
}

/* Did the child die of SIGKILL (and is it reaped)? */
static bool killed(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return false;
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
}

/* The same, waiting 2 s at most; a child still alive then is killed
 * here (and the answer is no). */
static bool killed_soon(pid_t pid)
{
	int i, st;

	for (i = 0; i < 200; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
		usleep(10000);
	}
	printf("  child %d still alive after DONE\n", (int)pid);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return false;
}

static void verdict(const char *name, bool ok)
{
	printf("%s %s\n", ok ? "ok:  " : "FAIL:", name);
	if (!ok) {
		printf("  log:\n%s", logbuf);
		failures++;
	}
}

/* @m (@len bytes) from a child, after ACCEPTED(77) if @accepted: the
 * child is killed, the slot closed, the log says @why, and with an id
 * known the parent sent DONE (the kernel refuses id 77: no such
 * request). */
static void bad(const char *name, const void *m, size_t len, bool accepted,
		const char *why)
{
	struct agent_msg a = msg(AGENT_MSG_ACCEPTED, 77);
	int cfd, i;
	pid_t pid;
	bool ok = true;

	logbuf[0] = '\0';
	i = open_slot(&cfd, &pid);
	if (accepted) {
		send(cfd, &a, sizeof(a), 0);
		pump(i);
		ok &= slots[i].nl && slots[i].id == 77;
	}
	send(cfd, m, len, 0);
	pump(i);
	ok &= !slots[i].nl;
	ok &= killed(pid);
	ok &= strstr(logbuf, why) && strstr(logbuf, "killing it");
	if (accepted)
		ok &= strstr(logbuf, "request 77:") &&
		      strstr(logbuf, "fails with EPROTO") &&
		      strstr(logbuf, "DONE refused");
	else
		ok &= !strstr(logbuf, "DONE");
	verdict(name, ok);
	close(cfd);
}

/* A good exchange: the parent sends DONE, then kills the child, which
 * still holds the application's socket. */
static void good(const char *name, const struct agent_msg *r)
{
	struct agent_msg a = msg(AGENT_MSG_ACCEPTED, 77);
	int cfd, i;
	pid_t pid;
	bool ok;

	logbuf[0] = '\0';
	i = open_slot(&cfd, &pid);
	send(cfd, &a, sizeof(a), 0);
	send(cfd, r, sizeof(*r), 0);
	pump(i);
	ok = !slots[i].nl && killed_soon(pid) &&
	     strstr(logbuf, "request 77: DONE refused") &&
	     !strstr(logbuf, "killing");
	verdict(name, ok);
	close(cfd);
}

/* The watchdog: ACCEPTED with 100 ms left; 2.2 s later the child is
 * killed and the request reported ETIMEDOUT.  Nothing happens before. */
static void watchdog(void)
{
	struct agent_msg a = msg(AGENT_MSG_ACCEPTED, 77);
	int cfd, i;
	pid_t pid;
	bool ok;

	logbuf[0] = '\0';
	a.timeout_ms = 100;
	i = open_slot(&cfd, &pid);
	send(cfd, &a, sizeof(a), 0);
	pump(i);
	ok = agent_watchdog() > 0 && kill(pid, 0) == 0 && slots[i].nl;
	usleep(2200000);
	ok &= agent_watchdog() >= 0;
	ok &= killed(pid);
	pump(i);
	ok &= !slots[i].nl;
	ok &= strstr(logbuf, "request 77: watchdog: handshake child") &&
	      strstr(logbuf, "killing it (SIGKILL), the request fails with ETIMEDOUT") &&
	      strstr(logbuf, "DONE refused");
	verdict("watchdog", ok);
	close(cfd);
}

/* The child's end closes: with the id known, DONE(ECONNABORTED). */
static void dies(const char *name, bool accepted)
{
	struct agent_msg a = msg(AGENT_MSG_ACCEPTED, 77);
	int cfd, i;
	pid_t pid;
	bool ok = true;

	logbuf[0] = '\0';
	i = open_slot(&cfd, &pid);
	if (accepted)
		send(cfd, &a, sizeof(a), 0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(cfd);
	pump(i);
	ok &= !slots[i].nl;
	if (accepted)
		ok &= strstr(logbuf, "request 77: handshake child") &&
		      strstr(logbuf, "ended without a result; the request fails with ECONNABORTED") &&
		      strstr(logbuf, "DONE refused");
	else
		ok &= !logbuf[0];
	verdict(name, ok);
}

int main(void)
{
	struct agent_msg m, base = result_ok();
	char big[sizeof(m) + 8];

	memset(big, 0, sizeof(big));
	bad("short message", &base, 10, true, "a message of 10 bytes");
	bad("long message", big, sizeof(big), true, "a message of");
	m = msg(9, 77);
	bad("unknown type", &m, sizeof(m), true, "an unknown message type");
	bad("result before ACCEPTED", &base, sizeof(base), false,
	    "a result before ACCEPTED");
	m = msg(AGENT_MSG_ACCEPTED, 77);
	bad("second ACCEPTED", &m, sizeof(m), true, "a second ACCEPTED");
	m = msg(AGENT_MSG_ACCEPTED, 0);
	bad("ACCEPTED without id", &m, sizeof(m), false, "without an id");
	m.id = 77;
	m.status = 1;
	bad("ACCEPTED with a status", &m, sizeof(m), false, "more than an id");
	m = msg(AGENT_MSG_ACCEPTED, 77);
	m.timeout_ms = 600001;
	bad("ACCEPTED with too long a time", &m, sizeof(m), false,
	    "a time left above");
	m = base;
	m.timeout_ms = 5;
	bad("result with a time left", &m, sizeof(m), true,
	    "a result with a time left");
	m = base;
	m.id = 78;
	bad("result for another id", &m, sizeof(m), true, "another request");
	m = msg(AGENT_MSG_RESULT, 77);
	m.status = 4096;
	bad("status 4096", &m, sizeof(m), true, "a status above 4095");
	m.status = 5;
	m.version = TLS_1_3_VERSION;
	bad("failure with a version", &m, sizeof(m), true,
	    "a failure with details");
	m = msg(AGENT_MSG_RESULT, 77);
	m.status = 5;
	m.peer[200] = 'x';
	bad("failure with a peer", &m, sizeof(m), true,
	    "a failure with details");
	m = base;
	m.version = 0x0302;
	bad("TLS 1.1", &m, sizeof(m), true, "an unknown TLS version");
	m = base;
	m.cipher = 55;			/* SM4-GCM */
	bad("cipher 55", &m, sizeof(m), true, "a cipher ktls does not take");
	m = base;
	m.resumed = 2;
	bad("resumed 2", &m, sizeof(m), true, "a resumed flag");
	m = base;
	memset(m.alpn, 'a', sizeof(m.alpn));
	bad("ALPN unterminated", &m, sizeof(m), true, "a malformed ALPN");
	m = base;
	strcpy(m.alpn, "h2 x");
	bad("ALPN with a space", &m, sizeof(m), true, "a malformed ALPN");
	m = base;
	strcpy(m.alpn, "h\xc3\xa9");
	bad("ALPN not ASCII", &m, sizeof(m), true, "a malformed ALPN");
	m = base;
	strcpy(m.peer, "CN=a\nCN=b");
	bad("peer with a newline", &m, sizeof(m), true, "a malformed peer");
	m = base;
	m.peer[100] = 'x';
	bad("peer with bytes after its end", &m, sizeof(m), true,
	    "a malformed peer");
	m = base;
	memset(m.peer, 'p', sizeof(m.peer));
	bad("peer unterminated", &m, sizeof(m), true, "a malformed peer");

	good("a success", &base);
	m = msg(AGENT_MSG_RESULT, 77);
	m.status = EKEYREJECTED;
	good("a failure", &m);
	m = msg(AGENT_MSG_RESULT, 77);
	m.version = TLS_1_2_VERSION;
	m.cipher = TLS_CIPHER_CHACHA20_POLY1305;
	good("TLS 1.2 ChaCha20, no ALPN, no peer", &m);
	dies("child dies after ACCEPTED", true);
	dies("child dies before ACCEPTED", false);
	watchdog();

	printf("%d failed\n", failures);
	return failures != 0;
}
CEOF
	gcc -std=gnu11 -Wall -Wextra -Werror -I"$REPO/helper/ktlsd" \
		-I"$REPO/uapi" $(pkg-config --cflags libnl-genl-3.0 gnutls) \
		-o "$W/ap" "$W/ap.c" \
		$(pkg-config --libs libnl-genl-3.0 gnutls) || return 1
	"$W/ap"
}
t privsep_result_check privsep_result_check

# The watchdog: a child stopped mid-handshake (SIGSTOP: it cannot notice
# the kernel's timeout and reset) is killed with SIGKILL and reaped once
# its request's deadline (6 s) has passed by two seconds; the request fails
# with ETIMEDOUT, the log says why, and the next request is served.
privsep_watchdog() {
	local rc=0 gone=0
	serve srv NORMAL || return 1
	kill -STOP "$serv_pid"
	if p_hold "$P_CTL" connect -t 6000 "127.0.0.1:$PORT" -n localhost; then
		kill -STOP "$p_child"
		kt_wait_until 15 eval '[ ! -d "/proc/$p_child" ]' 2>/dev/null &&
			gone=1
		echo "child $p_child gone (killed and reaped): $gone"
		[ $gone = 1 ] || { rc=1; kill -9 "$p_child"; }
		wait "$p_req" && rc=1
		cat "$W/held.out"
		grep -q ETIMEDOUT "$W/held.out" || rc=1
		wait_log "watchdog: handshake child $p_child still running" ||
			rc=1
		wait_log "child $p_child killed by signal 9" || rc=1
	else
		rc=1
		wait "$p_req"
	fi
	kill -CONT "$serv_pid"
	unserve
	privsep_next_ok || rc=1
	return $rc
}
t privsep_watchdog privsep_watchdog
