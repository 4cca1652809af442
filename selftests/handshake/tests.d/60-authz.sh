# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Who may use a profile, and what a handshake child holds (tests named
# authz_*).  Sourced by selftests/handshake/run with ktlsd running as
# nobody.  Each test attacks a boundary the way a local user would:
#
#   authz_check_config      ktlsd -n refuses bad allow_users/allow_groups
#                           and require_server_name lines, naming the line
#   authz_default_root_only a user other than root asks for the default
#                           profile (it has a private key): EACCES, and
#                           the log names the profile and the uid
#   authz_allow_lists       allow_users and allow_groups (primary and
#                           supplementary group) let exactly those in; a
#                           profile without key or PSK serves everyone
#   authz_server_name       a client request without a server name:
#                           EDESTADDRREQ, unless require_server_name = no
#   authz_verify_no         verify = no reports no peer identity
#   authz_ticket_per_profile  a ticket issued under one server profile
#                           resumes under it, but not under another
#                           profile, not even one that requires a client
#                           certificate (the ticket would skip that)
#   authz_child_secrets     a handshake child's memory holds no other
#                           profile's PSK, while the parent's does
#   authz_sandbox_connect   the child's seccomp filter (sandbox.c compiled
#                           into a test program): connect() to an
#                           abstract AF_UNIX address fails with EACCES and
#                           reaches no one, socket(AF_UNIX) fails, and
#                           sendmsg or sendto with an address kill
#
# The requester runs as another user with setpriv.  The configuration
# gets the profiles below; the original comes back, with a reload, at the
# end.

# From selftests/handshake/run (see its comment above the loop that
# sources this file): its variables and functions, the files in $W.
kt_needs W T KTLSD REPO HERE FILTER PORT ktlsd_pid serv_pid t serve \
	unserve port_listening ktlsd_sighup \
	"$W/ca.pem" "$W/srv.pem" "$W/srv.key" "$W/ktlsd.conf" "$W/ktlsd.log"
# Set by this file's test functions (each runs in a subshell) and read
# after them.
kt_keep az_mark AZ_SPORT az_spid

AZ_CTL=$REPO/helper/ktlsctl/ktlsctl
# A PSK only profile "secret" holds; 32 bytes nobody else has.
AZ_PSK=5ec12e75ec12e75ec12e75ec12e75ec1a11ce0b0bca7f00d0123456789abcdef

# az_as UID GID [GROUPS] -- CMD...: CMD as that user, no capability.
az_as() {
	local uid=$1 gid=$2 groups=--clear-groups
	shift 2
	if [ "$1" != -- ]; then
		groups=--groups=$1
		shift
	fi
	shift
	setpriv --reuid="$uid" --regid="$gid" "$groups" --inh-caps=-all -- "$@"
}

# az_logged TEXT: ktlsd logged TEXT since the test began ($az_mark lines).
az_mark=0
az_begin() {
	az_mark=$(wc -l <"$W/ktlsd.log")
}
az_logged() {
	local text=$1
	kt_wait_until 5 eval 'tail -n +"$((az_mark + 1))" "$W/ktlsd.log" |
		grep -q -- "$text"' 2>/dev/null && return 0
	echo "ktlsd did not log '$1'; its last lines:"
	tail -n 5 "$W/ktlsd.log"
	return 1
}

az_setup() {
	chmod 755 "$W"
	chmod 644 "$W"/*.key
	printf 'alice:%s\n' "$AZ_PSK" >"$W/az.psk"
	chmod 600 "$W/az.psk"
	chown nobody "$W/az.psk"
	cp "$W/ktlsd.conf" "$W/ktlsd.conf.authz"
	{
		cat "$W/ktlsd.conf.authz"
		# a client profile without key or PSK: everyone
		printf '[profile pub]\ntrust = %s\n' "$W/ca.pem"
		printf '[profile byuser]\ncertificate = %s\nkey = %s\ntrust = %s\nallow_users = nobody\n' \
			"$W/srv.pem" "$W/srv.key" "$W/ca.pem"
		printf '[profile bygroup]\ncertificate = %s\nkey = %s\ntrust = %s\nallow_groups = 4242\n' \
			"$W/srv.pem" "$W/srv.key" "$W/ca.pem"
		printf '[profile noname]\ntrust = %s\nrequire_server_name = no\n' \
			"$W/ca.pem"
		printf '[profile noverify]\ntrust = none\nverify = no\n'
		printf '[profile secret]\npsk_file = %s\n' "$W/az.psk"
		# two server profiles with the same certificate; tB wants a
		# client certificate
		printf '[profile tA]\ncertificate = %s\nkey = %s\ntrust = %s\n' \
			"$W/srv.pem" "$W/srv.key" "$W/ca.pem"
		printf '[profile tC]\ncertificate = %s\nkey = %s\ntrust = %s\n' \
			"$W/srv.pem" "$W/srv.key" "$W/ca.pem"
		printf '[profile tB]\ncertificate = %s\nkey = %s\ntrust = %s\nclient_auth = required\n' \
			"$W/srv.pem" "$W/srv.key" "$W/ca.pem"
	} >"$W/ktlsd.conf"
	ktlsd_sighup -k
}

az_check_config() {
	local rc=0 c i
	# FILE-CONTENT EXPECTED-ERROR
	local -a cases=(
		"allow_users = nosuchuser.x"	"az.conf:3: allow_users: no user 'nosuchuser.x'"
		"allow_groups = nosuchgroup.x"	"az.conf:3: allow_groups: no group 'nosuchgroup.x'"
		"allow_users = 12x"		"az.conf:3: allow_users: '12x' is not a user id"
		"allow_users = 4294967295"	"az.conf:3: allow_users: '4294967295' is not a user id"
		"allow_groups = ,"		"az.conf:3: allow_groups: empty list"
		"require_server_name = maybe"	"az.conf:3: expected yes or no"
	)
	for ((i = 0; i < ${#cases[@]}; i += 2)); do
		printf '[profile default]\ntrust = none\n%s\n' "${cases[i]}" \
			>"$W/az.conf"
		if "$KTLSD" -n -c "$W/az.conf" 2>"$W/err"; then
			echo "accepted: ${cases[i]}"
			rc=1
		elif ! grep -qF "${cases[i + 1]}" "$W/err"; then
			echo "for '${cases[i]}' want '${cases[i + 1]}', got:"
			cat "$W/err"
			rc=1
		fi
	done
	printf '[profile default]\ntrust = none\nallow_users = nobody, 0 *\nallow_users = 1000\nallow_groups = nogroup 4242\nrequire_server_name = no\n' \
		>"$W/az.conf"
	c=$("$KTLSD" -n -c "$W/az.conf" 2>&1) || { echo "$c"; rc=1; }
	return $rc
}
t authz_check_config az_check_config

# The profiles, when a test here is selected.  On a ktlsd that refuses
# them the tests run against the configuration as it was, and fail.
az_setup_ok=0
for az_n in authz_default_root_only authz_allow_lists authz_server_name \
	authz_verify_no authz_ticket_per_profile authz_child_secrets; do
	[[ "$az_n" == *"$FILTER"* ]] || continue
	if az_setup >"$W/az_setup.out" 2>&1; then
		az_setup_ok=1
	else
		echo "# authz: the test profiles were refused:"
		sed 's/^/#   /' "$W/az_setup.out"
		cp "$W/ktlsd.conf.authz" "$W/ktlsd.conf"
	fi
	break
done

# EACCES 13, EDESTADDRREQ 89
az_default_root_only() {
	local rc=0
	serve srv NORMAL || return 1
	az_begin
	az_as 65534 65534 -- "$T" expect "$PORT" localhost 13 || rc=1
	az_logged "profile default refused to uid 65534 (pid [0-9]*) gid 65534" ||
		rc=1
	# a uid no profile names, in root's group: still refused
	az_as 12345 0 -- "$T" expect "$PORT" localhost 13 || rc=1
	az_logged "profile default refused to uid 12345" || rc=1
	# root may
	"$T" client "$PORT" localhost 0 0 || rc=1
	unserve
	return $rc
}
t authz_default_root_only az_default_root_only

az_allow_lists() {
	local rc=0
	serve srv NORMAL || return 1
	az_begin
	echo "pub: anyone"
	HS_PROFILE=pub az_as 12345 12345 -- "$T" client "$PORT" localhost 0 0 ||
		rc=1
	echo "byuser: nobody yes, 12345 no"
	HS_PROFILE=byuser az_as 65534 65534 -- "$T" client "$PORT" localhost 0 0 ||
		rc=1
	HS_PROFILE=byuser az_as 12345 12345 -- "$T" expect "$PORT" localhost 13 ||
		rc=1
	az_logged "profile byuser refused to uid 12345" || rc=1
	echo "bygroup: gid 4242 yes, supplementary 4242 yes, neither no"
	HS_PROFILE=bygroup az_as 12345 4242 -- "$T" client "$PORT" localhost 0 0 ||
		rc=1
	HS_PROFILE=bygroup az_as 12345 100 4242 -- "$T" client "$PORT" localhost 0 0 ||
		rc=1
	HS_PROFILE=bygroup az_as 12345 100 4343 -- "$T" expect "$PORT" localhost 13 ||
		rc=1
	az_logged "profile bygroup refused to uid 12345 (pid [0-9]*) gid 100" ||
		rc=1
	unserve
	return $rc
}
t authz_allow_lists az_allow_lists

az_server_name() {
	local rc=0
	serve srv NORMAL || return 1
	az_begin
	"$T" expect "$PORT" "" 89 || rc=1
	az_logged "(client, profile default) from uid 0 (pid [0-9]*): no server name" ||
		rc=1
	# the profile allows it: the chain is still checked
	HS_PROFILE=noname "$T" client "$PORT" "" 0 0 || rc=1
	unserve
	# and a server the CA did not sign still fails (EKEYREJECTED 129)
	serve selfsigned NORMAL || return 1
	HS_PROFILE=noname "$T" expect "$PORT" "" 129 || rc=1
	unserve
	return $rc
}
t authz_server_name az_server_name

az_verify_no() {
	local rc=0
	serve srv NORMAL || return 1
	timeout 60 "$AZ_CTL" connect -p noverify "127.0.0.1:$PORT" -n localhost \
		>"$W/az.out" 2>&1 || rc=1
	cat "$W/az.out"
	grep -qx "peer: -" "$W/az.out" || rc=1
	# with verification the peer is named (the check above can see it)
	timeout 60 "$AZ_CTL" connect "127.0.0.1:$PORT" -n localhost \
		>"$W/az.out" 2>&1 || rc=1
	cat "$W/az.out"
	grep -q "^peer: CN=localhost" "$W/az.out" || rc=1
	unserve
	return $rc
}
t authz_verify_no az_verify_no

# A ktls server through ktlsd with a given profile: each of N connections
# gets a handshake, then "resumed=0|1 peer=..." or "errno N" on stdout,
# and the line "ok" back through ktls.
cat >"$W/az_server.py" <<'EOF'
import socket, sys
import libktls  # selftests/handshake/libktls.py, on PYTHONPATH

lib = libktls.Lib(sys.argv[1])
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[2])))
l.listen(4)
for _ in range(int(sys.argv[4])):
    c, _ = l.accept()
    e = lib.server_handshake(c.fileno(), profile=sys.argv[3],
                             timeout_ms=20000)
    if e:
        print("errno %d" % e, flush=True)
        c.close()
        continue
    _, info = lib.handshake_result(c.fileno())
    print("resumed=%d peer=%s" % (info.resumed, info.peer.decode()),
          flush=True)
    c.sendall(b"ok\n")
    c.close()
EOF

AZ_SPORT=4620
# az_serve PROFILE N: the server above on a new $AZ_SPORT
az_serve() {
	AZ_SPORT=$((AZ_SPORT + 1))
	PYTHONPATH=$HERE PYTHONDONTWRITEBYTECODE=1 \
	timeout 120 python3 "$W/az_server.py" "$REPO/helper/lib/libktls.so" \
		"$AZ_SPORT" "$1" "$2" >"$W/az_py.out" 2>&1 &
	az_spid=$!
	port_listening "$AZ_SPORT"
}
az_unserve() {
	wait "$az_spid"
	sed 's/^/server: /' "$W/az_py.out"
}
# az_sc ARGS...: openssl s_client, TLS 1.3, to the server; prints New or
# Reused (or nothing when the handshake failed).
az_sc() {
	timeout 60 openssl s_client -connect "127.0.0.1:$AZ_SPORT" -tls1_3 \
		-servername localhost -CAfile "$W/ca.pem" -verify_return_error \
		-ign_eof "$@" </dev/null >"$W/az_sc.out" 2>&1
	grep -ao "^\(New\|Reused\), TLSv1.3" "$W/az_sc.out" | head -1
}

az_ticket_per_profile() {
	local rc=0 got
	rm -f "$W/az.sess"
	az_serve tA 2 || return 1
	got=$(az_sc -sess_out "$W/az.sess")
	echo "tA, first: $got"
	[ "$got" = "New, TLSv1.3" ] || rc=1
	got=$(az_sc -sess_in "$W/az.sess")
	echo "tA, with its ticket: $got"
	[ "$got" = "Reused, TLSv1.3" ] || rc=1
	az_unserve
	grep -q "^resumed=1" "$W/az_py.out" || rc=1
	[ -s "$W/az.sess" ] || { echo "no session saved"; return 1; }

	# The same certificate, another profile: a full handshake.
	az_serve tC 1 || return 1
	got=$(az_sc -sess_in "$W/az.sess")
	echo "tC, with tA's ticket: $got"
	[ "$got" = "New, TLSv1.3" ] || rc=1
	az_unserve
	grep -q "^resumed=0" "$W/az_py.out" || rc=1

	# A profile that wants a client certificate: tA's ticket must not
	# skip that.  Without a certificate the handshake fails.
	az_serve tB 1 || return 1
	got=$(az_sc -sess_in "$W/az.sess")
	echo "tB, with tA's ticket and no client certificate: '$got'"
	[ "$got" != "Reused, TLSv1.3" ] || rc=1
	az_unserve
	grep -q "^errno " "$W/az_py.out" || rc=1
	return $rc
}
t authz_ticket_per_profile az_ticket_per_profile

# az_find PID HEX: does PID's memory hold the bytes HEX (or their hex
# text, either case)?  Prints where.
cat >"$W/az_find.py" <<'EOF'
import re, sys
pid, raw = sys.argv[1], bytes.fromhex(sys.argv[2])
needles = [raw, sys.argv[2].lower().encode(), sys.argv[2].upper().encode()]
found = 0
with open("/proc/%s/maps" % pid) as maps, \
        open("/proc/%s/mem" % pid, "rb", 0) as mem:
    for line in maps:
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
        lo, hi, perm = int(m.group(1), 16), int(m.group(2), 16), m.group(3)
        if perm[0] != "r" or "[vvar]" in line or "[vsyscall]" in line:
            continue
        try:
            mem.seek(lo)
            data = mem.read(hi - lo)
        except OSError:
            continue
        for n in needles:
            i = data.find(n)
            if i >= 0:
                print("found at %#x: %s" % (lo + i, line.strip()))
                found += 1
sys.exit(0 if found else 1)
EOF

az_child_secrets() {
	local rc=0 child=
	serve srv NORMAL || return 1
	kill -STOP "$serv_pid"
	# a default-profile client, held before the ServerHello
	# ECONNABORTED 103 once the child is killed below
	"$T" expect "$PORT" localhost 103 >/dev/null 2>&1 &
	local req=$!
	for _ in $(seq 100); do
		child=$(pgrep -P "$ktlsd_pid" | head -n1)
		[ -n "$child" ] && grep -q "sandbox: " "$W/ktlsd.log" && break
		sleep 0.1
	done
	if [ -z "$child" ]; then
		echo "no handshake child"
		rc=1
	else
		sleep 0.5	# past its sandbox: it waits for the server
		kill -STOP "$child"
		echo "parent $ktlsd_pid (must hold profile secret's PSK):"
		python3 "$W/az_find.py" "$ktlsd_pid" "$AZ_PSK" || rc=1
		echo "child $child (must not):"
		python3 "$W/az_find.py" "$child" "$AZ_PSK" && rc=1
		kill -CONT "$child"
		kill -9 "$child"
	fi
	kill -CONT "$serv_pid"
	wait "$req"
	unserve
	return $rc
}
t authz_child_secrets az_child_secrets

az_sandbox_connect() {
	cat >"$W/sb.c" <<'CEOF'
/* sandbox.c's filter against a child that would hand something to a
 * local process. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include "sandbox.c"

#define LOGFN(name) void name(const char *fmt, ...) \
	{ va_list ap; va_start(ap, fmt); vfprintf(stderr, fmt, ap); \
	  va_end(ap); fputc('\n', stderr); }
LOGFN(log_err)
LOGFN(log_errno)
LOGFN(log_warn)
LOGFN(log_info)
LOGFN(log_debug)

static struct sockaddr_un abstract(int type, int *fd)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	memcpy(a.sun_path, "\0ktls-sandbox-test", 18);
	*fd = socket(AF_UNIX, type | SOCK_NONBLOCK, 0);
	if (*fd < 0 || bind(*fd, (void *)&a, sizeof(a.sun_family) + 18) ||
	    (type == SOCK_STREAM && listen(*fd, 4))) {
		perror("listener");
		exit(2);
	}
	return a;
}

/* Run @fn in a sandboxed child: its exit status, or 128 + signal. */
static int boxed(int (*fn)(void))
{
	static struct config cfg = { .sandbox = true };
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		if (sandbox_enter(&cfg))
			_exit(3);
		_exit(fn());
	}
	waitpid(pid, &st, 0);
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

static struct sockaddr_un target;
static int pre;		/* an AF_UNIX socket made before the sandbox */

static int do_connect(void)
{
	socklen_t len = sizeof(target.sun_family) + 18;

	if (!connect(pre, (void *)&target, len))
		return 10;		/* connected: the hole */
	return errno == EACCES ? 0 : 11;
}

static int do_socket(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	return fd < 0 && errno == EACCES ? 0 : 12;
}

static int do_sendto(void)
{
	sendto(pre, "x", 1, 0, (void *)&target,
	       sizeof(target.sun_family) + 18);
	return 13;			/* still alive */
}

static int do_sendmsg(void)
{
	char c = 'x';
	struct iovec iov = { &c, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	sendmsg(pre, &m, 0);
	return 14;
}

/* what the child still needs: send() on a socket it holds */
static int sv[2];
static int do_send(void)
{
	return send(sv[1], "y", 1, MSG_NOSIGNAL) == 1 ? 0 : 15;
}

int main(void)
{
	int l, d, failures = 0, r, c;
	char buf[4];

	target = abstract(SOCK_STREAM, &l);
	pre = socket(AF_UNIX, SOCK_STREAM, 0);
	r = boxed(do_connect);
	c = accept(l, NULL, NULL);
	printf("connect to an abstract address: %d (0: EACCES); listener accepted %s\n",
	       r, c >= 0 ? "a connection" : "nothing");
	failures += r != 0 || c >= 0;
	r = boxed(do_socket);
	printf("socket(AF_UNIX): %d (0: EACCES)\n", r);
	failures += r != 0;

	close(pre);
	close(l);
	target = abstract(SOCK_DGRAM, &d);
	pre = socket(AF_UNIX, SOCK_DGRAM, 0);
	r = boxed(do_sendto);
	printf("sendto an abstract address: %d (159: SIGSYS); datagram %s\n",
	       r, recv(d, buf, 1, 0) == 1 ? "arrived" : "did not arrive");
	failures += r != 128 + SIGSYS;
	r = boxed(do_sendmsg);
	printf("sendmsg: %d (159: SIGSYS)\n", r);
	failures += r != 128 + SIGSYS;
	socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv);
	r = boxed(do_send);
	printf("send on a socket held: %d (0)\n", r);
	failures += r != 0;
	printf("%d failed\n", failures);
	return failures != 0;
}
CEOF
	gcc -std=gnu11 -Wall -Wextra -Werror -I"$REPO/helper/ktlsd" \
		-I"$REPO/uapi" $(pkg-config --cflags gnutls) \
		-o "$W/sb" "$W/sb.c" $(pkg-config --libs gnutls) || return 1
	"$W/sb"
}
t authz_sandbox_connect az_sandbox_connect

if [ "$az_setup_ok" = 1 ]; then
	cp "$W/ktlsd.conf.authz" "$W/ktlsd.conf"
	ktlsd_sighup -k >"$W/az_setup.out" 2>&1 ||
		echo "# authz: the original configuration did not come back"
fi
