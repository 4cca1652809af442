# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# ktlsctl (status, stats, sockets, connect), the handshake child's seccomp
# filter, the installed libktls (pkg-config, man pages) and the systemd
# unit.  Sourced by selftests/handshake/run with ktlsd running.

# From selftests/handshake/run (see its comment above the loop that
# sources this file): its variables and functions, the files in $W.
kt_needs W T KTLSD REPO PORT ktlsd_pid serv_pid t serve unserve \
	port_listening ktlsd_sighup start_ktlsd stop_ktlsd \
	"$W/srv.pem" "$W/srv.key" "$W/ktlsd.conf" "$W/ktlsd.log"
# Set by this file's test functions (each runs in a subshell) and read
# after them.
kt_keep sock_pids unit_umask

CTL=$REPO/helper/ktlsctl/ktlsctl

# ktlsctl_run EXPECTED_STATUS ARGS...: run ktlsctl, output to $W/ctl.out,
# fail unless it exits EXPECTED_STATUS.
ktlsctl_run() {
	local want=$1 rc
	shift
	"$CTL" "$@" >"$W/ctl.out" 2>&1
	rc=$?
	if [ "$rc" != "$want" ]; then
		echo "ktlsctl $*: exit $rc, expected $want"
		cat "$W/ctl.out"
		return 1
	fi
}

# ctl_has TEXT: $W/ctl.out contains TEXT (a grep -E pattern).
ctl_has() {
	ctl_has_file "$W/ctl.out" "$1"
}
ctl_has_file() {	# FILE TEXT
	grep -Eq -- "$2" "$1" && return 0
	echo "no '$2' in:"
	cat "$1"
	return 1
}

ktlsctl_usage() {
	local rc=0
	ktlsctl_run 2 || rc=1
	ktlsctl_run 2 frobnicate && ctl_has "unknown command 'frobnicate'" ||
		rc=1
	ktlsctl_run 2 status extra || rc=1
	ktlsctl_run 2 stats -x || rc=1
	ktlsctl_run 2 stats extra || rc=1
	ktlsctl_run 2 sockets extra || rc=1
	ktlsctl_run 2 connect || rc=1
	ktlsctl_run 2 connect 127.0.0.1 && ctl_has "is not HOST:PORT" || rc=1
	ktlsctl_run 2 connect ::1:443 || rc=1
	ktlsctl_run 2 connect '[::1]443' || rc=1
	ktlsctl_run 2 connect 127.0.0.1: || rc=1
	ktlsctl_run 2 connect a:1 b:2 || rc=1
	ktlsctl_run 2 connect -t 0 127.0.0.1:1 && ctl_has "1..600000" || rc=1
	ktlsctl_run 2 connect -t 600001 127.0.0.1:1 || rc=1
	ktlsctl_run 2 connect -t 5s 127.0.0.1:1 || rc=1
	ktlsctl_run 2 connect -q 127.0.0.1:1 || rc=1
	ktlsctl_run 0 -h && ctl_has "^usage: ktlsctl status" || rc=1
	return $rc
}
t ktlsctl_usage ktlsctl_usage

ktlsctl_status() {
	local max
	ktlsctl_run 0 status || return 1
	max=$(cat /sys/module/ktls/parameters/handshake_max_pending)
	ctl_has "^module: ktls loaded, refcount [0-9]+$" &&
		ctl_has "^  parameter handshake_max_pending = $max$" &&
		ctl_has "^netlink: family \"ktls\" id [0-9]+, group \"handshake\" id [0-9]+$" &&
		ctl_has "^agent: listening: pid $ktlsd_pid \(ktlsd\), netlink port [0-9]+$"
}
t ktlsctl_status ktlsctl_status

# The module missing (hidden in a mount namespace): exit 1.
ktlsctl_status_no_module() {
	unshare -m sh -c "mount -t tmpfs none /sys/module && exec $CTL status" \
		>"$W/ctl.out" 2>&1
	local rc=$?
	cat "$W/ctl.out"
	[ $rc = 1 ] && ctl_has "^module: ktls not loaded"
}
t ktlsctl_status_no_module ktlsctl_status_no_module

# ktlsd stopped: no agent (exit 3), and connect fails with ECONNREFUSED.
ktlsctl_status_no_agent() {
	local rc=0
	stop_ktlsd
	ktlsctl_run 3 status &&
		ctl_has "^agent: none listening" || rc=1
	if serve srv NORMAL; then
		ktlsctl_run 1 connect "127.0.0.1:$PORT" -n localhost &&
			ctl_has "no handshake agent: is ktlsd running\? \(ECONNREFUSED\)" ||
			rc=1
		unserve
	else
		rc=1
	fi
	cat "$W/ktlsd.log" >>"$W/ktlsd-before-ktlsctl.log"
	start_ktlsd "$W/ktlsd.log" || { echo "ktlsd did not restart"; rc=1; }
	ktlsctl_run 0 status || rc=1
	return $rc
}
t ktlsctl_status_no_agent ktlsctl_status_no_agent

# stats: the text is the file; a handshake moves TlsTxSw and TlsRxSw.
stat_of() {	# NAME: from ktlsctl stats -j
	"$CTL" stats -j | python3 -c \
		"import json, sys; print(json.load(sys.stdin)['$1'])"
}
ktlsctl_stats() {
	local tx rx tx2 rx2 rc=0
	ktlsctl_run 0 stats || return 1
	cmp "$W/ctl.out" /proc/net/ktls_stat || return 1
	tx=$(stat_of TlsTxSw) && rx=$(stat_of TlsRxSw) || return 1
	serve srv NORMAL || return 1
	ktlsctl_run 0 connect "127.0.0.1:$PORT" -n localhost || rc=1
	unserve
	tx2=$(stat_of TlsTxSw) && rx2=$(stat_of TlsRxSw) || return 1
	echo "TlsTxSw $tx -> $tx2, TlsRxSw $rx -> $rx2"
	[ "$tx2" -gt "$tx" ] && [ "$rx2" -gt "$rx" ] || rc=1
	return $rc
}
t ktlsctl_stats ktlsctl_stats

ktlsctl_stats_no_file() {
	unshare -m sh -c "mount -t tmpfs none /proc && exec $CTL stats" \
		>"$W/ctl.out" 2>&1
	local rc=$?
	[ $rc = 1 ] && ctl_has "ktls_stat: No such file or directory \(is ktls.ko loaded\?\)"
}
t ktlsctl_stats_no_file ktlsctl_stats_no_file

# connect: what was negotiated, over IPv4 and IPv6.
ktlsctl_connect() {
	local rc=0
	serve srv "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-256-GCM" ||
		return 1
	ktlsctl_run 0 connect "127.0.0.1:$PORT" -n localhost &&
		ctl_has "^version: TLS 1.3$" &&
		ctl_has "^cipher: AES-GCM-256$" &&
		ctl_has "^alpn: -$" &&
		ctl_has "^peer: .*CN=localhost" &&
		ctl_has "^resumed: no$" || rc=1
	ktlsctl_run 0 connect -n localhost -t 20000 "[::1]:$PORT" &&
		ctl_has "^version: TLS 1.3$" || rc=1
	unserve
	serve srv "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+CHACHA20-POLY1305" ||
		return 1
	ktlsctl_run 0 connect "localhost:$PORT" &&
		ctl_has "^version: TLS 1.2$" &&
		ctl_has "^cipher: CHACHA20-POLY1305$" || rc=1
	unserve
	return $rc
}
t ktlsctl_connect ktlsctl_connect

# ALPN: gnutls-serv that speaks only "ktls-test/1".
ktlsctl_connect_alpn() {
	local p=4480 sp rc=0
	gnutls-serv --echo --noticket -q -p $p --alpn=ktls-test/1 \
		--x509certfile "$W/srv.pem" --x509keyfile "$W/srv.key" \
		>"$W/alpn-serv.log" 2>&1 &
	sp=$!
	kt_wait_port "$p" 10 2>/dev/null
	ktlsctl_run 0 connect -a h2,ktls-test/1 "127.0.0.1:$p" -n localhost &&
		ctl_has "^alpn: ktls-test/1$" || rc=1
	kill $sp
	wait $sp 2>/dev/null
	return $rc
}
t ktlsctl_connect_alpn ktlsctl_connect_alpn

ktlsctl_connect_fail() {
	local rc=0
	serve srv NORMAL || return 1
	ktlsctl_run 1 connect "127.0.0.1:$PORT" -n wrong.example &&
		ctl_has "failed: certificate does not match the server name, or this user may not use the ktlsd profile \(EACCES\)" ||
		rc=1
	ktlsctl_run 1 connect -p nosuchprofile "127.0.0.1:$PORT" -n localhost &&
		ctl_has "no such profile in ktlsd.conf.*\(ENOENT\)" || rc=1
	ktlsctl_run 1 connect -a 'bad alpn' "127.0.0.1:$PORT" &&
		ctl_has "\(EINVAL\)" || rc=1
	unserve
	# Nothing listens there any more.
	ktlsctl_run 1 connect "127.0.0.1:$PORT" &&
		ctl_has "connect to 127.0.0.1 port $PORT: Connection refused" ||
		rc=1
	ktlsctl_run 1 connect no-such-host.invalid:443 &&
		ctl_has "^ktlsctl: no-such-host.invalid port 443: " || rc=1
	return $rc
}
t ktlsctl_connect_fail ktlsctl_connect_fail

# sockets: two live ktls-client connections, each to its own openssl
# s_server (plain TCP on that side):
#   IPv4  TLS 1.3, AES-GCM-128
#   IPv6  TLS 1.2, CHACHA20-POLY1305
# Both rows must say so, s_server's sockets must not be listed, and the
# IPv4 row's byte counts must grow by exactly one record each way: the
# client writes 4000 bytes at once (one TLS 1.3 record, 4000 + 22 bytes on
# the wire: 5 of header, 1 of content type, 16 of tag), s_server 3000
# (3022).  Each ktlsctl runs under timeout, so a dump that never ends
# fails the test.
#
# An earlier version echoed random bytes through gnutls-serv --echo and
# looked hung in the VM: gnutls-serv echoes text only, and closes each
# connection about 40 s after accepting it with an alert, which
# ktls-client's plain read() gets as EIO (a control record); the clients
# gone, each write into their FIFO (held open by the shell, so it never
# fails) waited for its timeout, for minutes.  s_server does neither.
SOCK_P4=4491
SOCK_P6=4492
sock_ctl() {	# ktlsctl sockets, bounded: a hang is a failure
	timeout -k 5 20 "$CTL" sockets
}
sock_row() {	# PEER: the row of the socket connected to PEER
	sock_ctl | awk -v p="$1" '$2 == p'
}
# sock_stable PEER: the row, once two readings in a row agree (no ACK
# was still on its way).
sock_stable() {
	local a b
	a=$(sock_row "$1")
	for _ in $(seq 20); do
		sleep 0.2
		b=$(sock_row "$1")
		[ "$a" = "$b" ] && break
		a=$b
	done
	echo "$b"
}
sock_field() {	# ROW N: the Nth column
	echo "$1" | awk -v n="$2" '{print $n}'
}
# sock_wait_size FILE BYTES: until FILE has BYTES bytes (10 s at most).
sock_wait_size() {
	local file=$1 size=$2
	kt_wait_until 10 eval '[ "$(stat -c %s "$file" 2>/dev/null)" = "$size" ]' \
		2>/dev/null && return 0
	echo "$1: $(stat -c %s "$1" 2>/dev/null) bytes, expected $2"
	return 1
}
sock_pids=
sock_stop() {
	local p
	# EOF on the clients' stdin, on s_server's too; then anything left.
	exec 6>&- 7>&- 8>&- 9>&-
	for p in $sock_pids; do
		kt_wait_pid_gone "$p" 3 2>/dev/null
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	sock_pids=
}
ktlsctl_sockets() {
	local rc=0 r r1 r2 f peer4="127.0.0.1:$SOCK_P4" peer6="[::1]:$SOCK_P6"
	local a1 b1 a2 b2
	for f in cin4 cin6 sin4 sin6; do
		rm -f "$W/$f"
		mkfifo "$W/$f" || return 1
	done
	# Read-write opens of a FIFO do not wait for the other end.  Every
	# program below closes the shell's ends of the FIFOs it does not read.
	exec 6<>"$W/sin4" 7<>"$W/cin4" 8<>"$W/cin6" 9<>"$W/sin6"
	openssl s_server -quiet -naccept 1 -num_tickets 0 -tls1_3 \
		-ciphersuites TLS_AES_128_GCM_SHA256 \
		-accept "127.0.0.1:$SOCK_P4" \
		-cert "$W/srv.pem" -key "$W/srv.key" \
		<"$W/sin4" >"$W/sgot4" 2>"$W/s4.err" 6>&- 7>&- 8>&- 9>&- &
	sock_pids="$sock_pids $!"
	openssl s_server -quiet -naccept 1 -tls1_2 \
		-cipher ECDHE-ECDSA-CHACHA20-POLY1305 \
		-accept "[::1]:$SOCK_P6" \
		-cert "$W/srv.pem" -key "$W/srv.key" \
		<"$W/sin6" >"$W/sgot6" 2>"$W/s6.err" 6>&- 7>&- 8>&- 9>&- &
	sock_pids="$sock_pids $!"
	port_listening "$SOCK_P4" && port_listening "$SOCK_P6" ||
		{ cat "$W/s4.err" "$W/s6.err"; sock_stop; return 1; }
	"$REPO/helper/examples/ktls-client" 127.0.0.1 "$SOCK_P4" localhost \
		<"$W/cin4" >"$W/cgot4" 2>"$W/c4.err" 6>&- 7>&- 8>&- 9>&- &
	sock_pids="$sock_pids $!"
	"$REPO/helper/examples/ktls-client" ::1 "$SOCK_P6" localhost \
		<"$W/cin6" >"$W/cgot6" 2>"$W/c6.err" 6>&- 7>&- 8>&- 9>&- &
	sock_pids="$sock_pids $!"
	kt_wait_until 15 eval 'grep -q "^TLS" "$W/c4.err" && grep -q "^TLS" "$W/c6.err"' \
		2>/dev/null
	echo "clients: $(cat "$W/c4.err" "$W/c6.err" | tr '\n' ' ')"

	sock_ctl >"$W/ctl.out" 2>&1 || { echo "ktlsctl sockets: exit $?"; rc=1; }
	cat "$W/ctl.out"
	ctl_has "^LOCAL +PEER +STATE +ULP +TLS +CIPHER +TX +RX +BYTES_ACKED +BYTES_RECV$" ||
		rc=1
	r=$(awk -v p="$peer4" '$2 == p' "$W/ctl.out")
	echo "$r" | grep -Eq "^127\.0\.0\.1:[0-9]+ +127\.0\.0\.1:$SOCK_P4 +ESTABLISHED +ktls +1\.3 +AES-GCM-128 +sw +sw +[0-9]+ +[0-9]+$" ||
		{ echo "no TLS 1.3 AES-GCM-128 row for $peer4: '$r'"; rc=1; }
	r=$(awk -v p="$peer6" '$2 == p' "$W/ctl.out")
	echo "$r" | grep -Eq "^\[::1\]:[0-9]+ +\[::1\]:$SOCK_P6 +ESTABLISHED +ktls +1\.2 +CHACHA20-POLY1305 +sw +sw +[0-9]+ +[0-9]+$" ||
		{ echo "no TLS 1.2 CHACHA20-POLY1305 row for $peer6: '$r'"; rc=1; }
	# s_server's side of both connections is plain TCP.
	awk 'NR > 1 {print $1}' "$W/ctl.out" | grep -E ":($SOCK_P4|$SOCK_P6)\$" &&
		{ echo "plain TCP listed"; rc=1; }

	# One record each way on the IPv4 connection.  A write of at most
	# PIPE_BUF bytes into a FIFO is read in one piece.
	head -c 4000 /dev/urandom >"$W/sock.up"
	head -c 3000 /dev/urandom >"$W/sock.down"
	r1=$(sock_stable "$peer4")
	timeout 10 dd if="$W/sock.up" bs=4000 count=1 status=none >&7 ||
		rc=1
	sock_wait_size "$W/sgot4" 4000 || rc=1
	timeout 10 dd if="$W/sock.down" bs=3000 count=1 status=none >&6 ||
		rc=1
	sock_wait_size "$W/cgot4" 3000 || rc=1
	cmp "$W/sock.up" "$W/sgot4" && cmp "$W/sock.down" "$W/cgot4" ||
		{ echo "the data arrived changed"; rc=1; }
	a1=$(sock_field "$r1" 9) b1=$(sock_field "$r1" 10)
	if [ -n "$a1" ] && [ -n "$b1" ]; then
		for _ in $(seq 50); do
			r2=$(sock_row "$peer4")
			a2=$(sock_field "$r2" 9) b2=$(sock_field "$r2" 10)
			[ "$a2" = $((a1 + 4022)) ] && [ "$b2" = $((b1 + 3022)) ] &&
				break
			sleep 0.2
		done
	fi
	echo "before: $r1"
	echo "after:  $r2"
	[ -n "$a1" ] && [ "$a2" = $((a1 + 4022)) ] && [ "$b2" = $((b1 + 3022)) ] ||
		{ echo "expected BYTES_ACKED +4022 and BYTES_RECV +3022"; rc=1; }
	# The same socket as ss (tcp_info, a second reader) sees it.
	r=$(ss -tinH dst "127.0.0.1:$SOCK_P4")
	echo "ss: $(echo "$r" | tr -s ' \n\t' ' ')"
	echo "$r" | grep -q "bytes_acked:$a2 .*bytes_received:$b2 " ||
		{ echo "ss disagrees with ktlsctl"; rc=1; }

	sock_stop
	[ $rc = 0 ] || cat "$W/c4.err" "$W/c6.err" "$W/s4.err" "$W/s6.err"
	return $rc
}
t ktlsctl_sockets ktlsctl_sockets

# Without CAP_NET_ADMIN the kernel hides the ULP: a clear refusal.
ktlsctl_sockets_unprivileged() {
	setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		--bounding-set=-all "$CTL" sockets >"$W/ctl.out" 2>&1
	local rc=$?
	[ $rc = 1 ] && ctl_has "only to CAP_NET_ADMIN: run as root"
}
t ktlsctl_sockets_unprivileged ktlsctl_sockets_unprivileged

# The sandbox: a handshake child held mid-handshake (gnutls-serv stopped,
# so the ServerHello never comes) runs under a seccomp filter; with
# "sandbox = no" it does not.
#
# The child is found by its own "sandbox:" log line and stopped there
# (SIGSTOP), so it is still there when its status is read, however slow
# the kernel.  (The child used to be read 0.2 s after it was seen and,
# on the debug kernel, had once timed out and gone by then.)  The request
# still ends by its timeout, which the kernel enforces without the child;
# then the child is let go and ends.  The timeout only has to outlast the
# child's start: it grows with KTLS_VM_SLOWDOWN.
SANDBOX_HOLD_MS=$((4000 * ${KTLS_VM_SLOWDOWN:-1}))
seccomp_of_child() {	# prints the Seccomp: field of ktlsd's child
	local cp pid="" n
	# No child left from an earlier request.
	kt_wait_until 5 eval '! pgrep -P "$ktlsd_pid" >/dev/null' 2>/dev/null
	n=$(grep -c "sandbox: " "$W/ktlsd.log")
	"$CTL" connect -t "$SANDBOX_HOLD_MS" "127.0.0.1:$PORT" -n localhost \
		>"$W/held.out" 2>&1 &
	cp=$!
	for _ in $(seq $((SANDBOX_HOLD_MS / 100))); do
		pid=$(grep "sandbox: " "$W/ktlsd.log" | sed -n "$((n + 1))s/^ktlsd\[\([0-9]*\)\]: .*/\1/p")
		[ -n "$pid" ] && break
		sleep 0.1
	done
	if [ -z "$pid" ]; then
		echo "no handshake child logged its sandbox within $SANDBOX_HOLD_MS ms" >&2
	elif ! kill -STOP "$pid" 2>/dev/null; then
		echo "child $pid gone before it could be held: its request's $SANDBOX_HOLD_MS ms ran out first" >&2
		pid=
	else
		grep -E "^(State|Seccomp(_filters)?):" "/proc/$pid/status" >&2
		awk '$1 == "Seccomp:" {print $2}' "/proc/$pid/status"
	fi
	wait "$cp"
	if [ -n "$pid" ]; then
		kill -CONT "$pid"
		kt_wait_pid_gone "$pid" 10 2>/dev/null
	fi
}
ktlsctl_sandbox() {
	local rc=0 mode
	serve srv NORMAL || return 1
	kill -STOP "$serv_pid"
	mode=$(seccomp_of_child)
	echo "sandbox on: Seccomp: $mode"
	[ "$mode" = 2 ] || rc=1
	# The held request ended by its timeout, not by a killed child.
	ctl_has_file "$W/held.out" "handshake timed out \(ETIMEDOUT\)" || rc=1
	grep -q "sandbox: seccomp filter on" "$W/ktlsd.log" || rc=1

	cp "$W/ktlsd.conf" "$W/ktlsd.conf.sandbox"
	sed -i '/^max_children/a sandbox = no' "$W/ktlsd.conf"
	ktlsd_sighup || rc=1
	mode=$(seccomp_of_child)
	echo "sandbox = no: Seccomp: $mode"
	[ "$mode" = 0 ] || rc=1
	ctl_has_file "$W/held.out" "handshake timed out \(ETIMEDOUT\)" || rc=1
	cp "$W/ktlsd.conf.sandbox" "$W/ktlsd.conf"
	ktlsd_sighup || rc=1
	kill -CONT "$serv_pid"
	unserve
	# After the reload the filter is back, and handshakes still work.
	serve srv NORMAL || return 1
	ktlsctl_run 0 connect "127.0.0.1:$PORT" -n localhost || rc=1
	unserve
	return $rc
}
t ktlsctl_sandbox ktlsctl_sandbox

# The filter itself (helper/ktlsd/sandbox.o, as built): a program installs
# it (unless given "off"), then makes one call.  What a handshake needs
# survives; the rest dies of SIGSYS (exit 159 from the shell).
ktlsctl_sandbox_kills() {
	local rc=0 call want got
	cat >"$W/sb.c" <<-'EOF'
	#include <fcntl.h>
	#include <stdio.h>
	#include <stdlib.h>
	#include <string.h>
	#include <unistd.h>
	#include <sys/mman.h>
	#include <sys/random.h>
	#include <sys/socket.h>
	#include <sys/time.h>
	#include <sys/syscall.h>
	#include "ktlsd.h"

	void log_debug(const char *fmt, ...) { (void)fmt; }
	void log_warn(const char *fmt, ...) { (void)fmt; }
	void log_errno(const char *fmt, ...) { perror(fmt); }

	int main(int argc, char **argv)
	{
		struct config cfg = { .sandbox = argc < 3 };
		int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
		const char *c = argc > 1 ? argv[1] : "";
		char buf[16];
		void *p;

		if (sandbox_enter(&cfg))
			return 10;
		p = malloc(1 << 20);	/* mmap */
		free(p);
		if (getrandom(buf, sizeof(buf), 0) != sizeof(buf))
			return 11;
		printf("ready\n");
		fflush(stdout);
		if (!strcmp(c, "open"))
			open("/etc/hostname", O_RDONLY);
		if (!strcmp(c, "setsockopt_socket"))
			setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (!strcmp(c, "setsockopt_tls"))	/* refused, not killed */
			setsockopt(s, 282, 1, &one, sizeof(one));
		if (!strcmp(c, "socket_inet"))
			socket(AF_INET, SOCK_STREAM, 0);
		if (!strcmp(c, "socket_unix"))
			socket(AF_UNIX, SOCK_DGRAM, 0);
		if (!strcmp(c, "mmap_exec"))
			mmap(NULL, 4096, PROT_READ | PROT_EXEC,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (!strcmp(c, "fork"))
			fork();
		if (!strcmp(c, "int80"))	/* i386 getpid */
			__asm__ volatile("int $0x80" : : "a"(20));
		if (!strcmp(c, "x32"))		/* x32 getpid */
			syscall(0x40000000 | 39);
		printf("survived %s\n", c);
		return 0;
	}
	EOF
	gcc -std=gnu11 -Wall -Werror -I"$REPO/helper/ktlsd" \
		$(pkg-config --cflags gnutls) -o "$W/sb" "$W/sb.c" \
		"$REPO/helper/ktlsd/sandbox.o" || return 1
	local calls="none:0 setsockopt_tls:0 socket_unix:0 open:159
		     setsockopt_socket:159 socket_inet:159 mmap_exec:159
		     fork:159 x32:159"
	# i386 calls, if this kernel takes them at all.
	if bash -c '"$0" int80 off' "$W/sb" >/dev/null 2>&1; then
		calls="$calls int80:159"
	else
		echo "int80: no i386 emulation in this kernel; not checked"
	fi
	for call in $calls; do
		want=${call#*:}
		call=${call%%:*}
		bash -c '"$0" "$1" >"$2" 2>&1' "$W/sb" "$call" "$W/sb.out" \
			2>/dev/null
		got=$?
		echo "$call: exit $got (want $want): $(tr '\n' ' ' <"$W/sb.out")"
		grep -q "ready" "$W/sb.out" || rc=1
		[ "$got" = "$want" ] || rc=1
	done
	return $rc
}
t ktlsctl_sandbox_kills ktlsctl_sandbox_kills

ktlsctl_sandbox_conf_bad() {
	printf 'sandbox = maybe\n[profile default]\n' >"$W/sandbox-bad.conf"
	! "$KTLSD" -n -c "$W/sandbox-bad.conf" 2>"$W/err" &&
		grep -q "sandbox-bad.conf:1: expected yes or no, not 'maybe'" \
			"$W/err"
}
t ktlsctl_sandbox_conf_bad ktlsctl_sandbox_conf_bad

# libktls as installed: make install into a staging root, then build a
# program with pkg-config (PKG_CONFIG_SYSROOT_DIR), link it against the
# shared library and run it against gnutls-serv.  The sources are copied
# first: the guest sees the repository read-only.
stage_install() {	# into $W/stage, once
	[ -d "$W/stage" ] && return 0
	rm -rf "$W/src"
	mkdir -p "$W/src"
	cp -a "$REPO/helper" "$REPO/uapi" "$W/src/" &&
		make -s -C "$W/src/helper" install DESTDIR="$W/stage" \
			PREFIX=/usr
}
ktlsctl_pkgconfig() {
	local d=$W/stage rc=0
	stage_install || return 1
	cat >"$W/pc.c" <<-'EOF'
	#include <errno.h>
	#include <stdio.h>
	#include <stdlib.h>
	#include <string.h>
	#include <unistd.h>
	#include <arpa/inet.h>
	#include <sys/socket.h>
	#include <sys/time.h>
	#include <ktls/ktls.h>

	int main(int argc, char **argv)
	{
		struct sockaddr_in a = { .sin_family = AF_INET };
		struct ktls_opts o = { .server_name = "localhost" };
		struct ktls_info info;
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		(void)argc;
		a.sin_port = htons(atoi(argv[1]));
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) ||
		    ktls_client_handshake(fd, &o) ||
		    ktls_handshake_result(fd, &info)) {
			printf("failed: %s\n", ktls_strerror(errno));
			return 1;
		}
		/* Data both ways through ktls.  gnutls-serv --echo
		 * answers whole lines only (handshake.md, "The alert from
		 * gnutls-serv"). */
		{
			struct timeval tv = { .tv_sec = 20 };
			char buf[16];
			ssize_t n;

			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
				   sizeof(tv));
			if (write(fd, "ping\n", 5) != 5) {
				printf("write failed: %s\n", strerror(errno));
				return 1;
			}
			n = read(fd, buf, sizeof(buf));
			if (n != 5 || memcmp(buf, "ping\n", 5)) {
				printf("echo: %zd bytes: %s\n", n,
				       n < 0 ? strerror(errno) : "wrong");
				return 1;
			}
		}
		printf("version %#x\n", info.version);
		return info.version != 0x0304 && info.version != 0x0303;
	}
	EOF
	local flags
	flags=$(PKG_CONFIG_PATH=$d/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$d \
		pkg-config --cflags --libs libktls) || return 1
	echo "pkg-config: $flags"
	case "$flags" in *"-I$d/usr/include"*"-L$d/usr/lib"*) ;; *) rc=1 ;; esac
	gcc -std=gnu11 -Wall -Werror -o "$W/pc" "$W/pc.c" $flags ||
		{ echo "gcc failed"; return 1; }
	LD_LIBRARY_PATH=$d/usr/lib ldd "$W/pc" | grep -q "$d/usr/lib/libktls.so.0" ||
		{ echo "not linked against the installed libktls.so.0"; rc=1; }
	serve srv NORMAL || { echo "gnutls-serv did not start"; return 1; }
	LD_LIBRARY_PATH=$d/usr/lib "$W/pc" "$PORT" ||
		{ echo "the program failed"; rc=1; }
	unserve
	# What else make install put there.
	for f in usr/sbin/ktlsd usr/sbin/ktlsctl usr/share/man/man8/ktlsctl.8 \
		 usr/share/man/man3/libktls.3 usr/lib/systemd/system/ktlsd.service; do
		[ -e "$d/$f" ] || { echo "not installed: $f"; rc=1; }
	done
	return $rc
}
t ktlsctl_pkgconfig ktlsctl_pkgconfig

# The man pages render without a warning.
ktlsctl_man() {
	local p out rc=0
	for p in ktlsctl.8 libktls.3 ktlsd.8 ktlsd.conf.5; do
		out=$(LC_ALL=C.UTF-8 groff -man -ww -z -Tutf8 \
			"$REPO/helper/man/$p" 2>&1)
		[ -z "$out" ] || { echo "$p: $out"; rc=1; }
	done
	return $rc
}
t ktlsctl_man ktlsctl_man

# The systemd unit as installed: systemd-analyze verify finds nothing to
# say (its commands pointed at the staging root, where they exist): no
# unknown or misspelt setting, no missing command or man page.
ktlsctl_unit() {
	local d=$W/stage u=$W/unit/ktlsd.service out
	command -v systemd-analyze >/dev/null || { echo "no systemd-analyze"; return 1; }
	stage_install || return 1
	mkdir -p "$W/unit"
	grep -q "^ExecStart=/usr/sbin/ktlsd$" \
		"$d/usr/lib/systemd/system/ktlsd.service" ||
		{ echo "ExecStart does not name the installed ktlsd"; return 1; }
	sed "s|=/usr/sbin/|=$d/usr/sbin/|" \
		"$d/usr/lib/systemd/system/ktlsd.service" >"$u"
	# Documentation= is checked with man(1): the installed pages.
	out=$(MANPATH=$d/usr/share/man SYSTEMD_LOG_LEVEL=notice \
		systemd-analyze verify "$u" 2>&1)
	echo "$out"
	[ -z "$out" ]
}
t ktlsctl_unit ktlsctl_unit

# The part of the unit's confinement a plain process can reproduce:
# ktlsd started with only the unit's CapabilityBoundingSet, no_new_privs
# and the unit's UMask (setpriv) comes up, drops to its user and serves a
# handshake.  The same with CAP_NET_ADMIN taken out of the set fails at
# start with "Operation not permitted", which shows the set is in force.
unit_ktlsd() {	# SETPRIV_BOUNDING_SET LOG
	: >"$2"
	(umask "$unit_umask"
	 exec setpriv --bounding-set="$1" --inh-caps=-all --no-new-privs \
		"$KTLSD" -d -c "$W/ktlsd.conf") 2>>"$2" &
	ktlsd_pid=$!
}

ktlsctl_unit_caps() {
	local d=$W/stage u caps set rc=0 c
	stage_install || return 1
	u=$d/usr/lib/systemd/system/ktlsd.service
	caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$u")
	unit_umask=$(sed -n 's/^UMask=//p' "$u")
	[ -n "$caps" ] && [ -n "$unit_umask" ] &&
		grep -q "^NoNewPrivileges=yes$" "$u" ||
		{ echo "the unit lost CapabilityBoundingSet, UMask or NoNewPrivileges"; return 1; }
	set=-all
	for c in $caps; do
		c=${c#CAP_}
		set=$set,+${c,,}
	done
	echo "bounding set: $set; umask $unit_umask"
	stop_ktlsd
	unit_ktlsd "$set" "$W/ktlsd.log"
	kt_wait_until 10 grep -q "ready:" "$W/ktlsd.log" 2>/dev/null
	if grep -q "ready:" "$W/ktlsd.log"; then
		grep "CapBnd" "/proc/$ktlsd_pid/status"
		serve srv NORMAL || rc=1
		"$T" client "$PORT" localhost 0 0 || rc=1
		unserve
	else
		echo "ktlsd did not come up under the unit's bounding set"
		tail -n 5 "$W/ktlsd.log"
		rc=1
	fi
	stop_ktlsd
	# Control: without CAP_NET_ADMIN it must refuse to run.
	unit_ktlsd "${set/,+net_admin/}" "$W/unit-noadmin.log"
	kt_wait_until 10 eval '! kill -0 "$ktlsd_pid" 2>/dev/null' 2>/dev/null
	if kill -0 "$ktlsd_pid" 2>/dev/null; then
		echo "ktlsd runs without CAP_NET_ADMIN in its bounding set"
		stop_ktlsd
		rc=1
	else
		wait "$ktlsd_pid" && { echo "ktlsd exited 0"; rc=1; }
		ktlsd_pid=
		grep "Operation not permitted" "$W/unit-noadmin.log" ||
			{ echo "no EPERM line"; cat "$W/unit-noadmin.log"; rc=1; }
	fi
	start_ktlsd "$W/ktlsd.log" || { echo "ktlsd did not restart"; rc=1; }
	return $rc
}
t ktlsctl_unit_caps ktlsctl_unit_caps
