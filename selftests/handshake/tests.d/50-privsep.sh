# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Privilege separation in ktlsd (tests named privsep_*).  Sourced by
# selftests/handshake/run with ktlsd running as nobody.
#
# A handshake child, held mid-handshake (its gnutls-serv stopped, so the
# ServerHello never comes), holds no capability (CapEff, CapPrm, CapAmb
# all zero) and no netlink socket, while the parent keeps CAP_NET_ADMIN
# alone; the parent still serves the next request.  A child killed
# mid-handshake makes the application's request fail with ECONNABORTED
# within seconds, not at its 30 s timeout: the parent, which holds the
# netlink socket the request was accepted on, reports DONE itself.  The
# next request succeeds.

P_CTL=$REPO/helper/ktlsctl/ktlsctl
P_NET_ADMIN=0000000000001000	# 1 << CAP_NET_ADMIN (12)
p_child=
p_req=

# p_hold CMD...: no child left from an earlier request; run CMD in the
# background ($p_req) and wait until ktlsd's child for it has entered its
# sandbox, which it does after dropping its capabilities ($p_child).
p_hold() {
	local n
	for _ in $(seq 50); do
		pgrep -P "$ktlsd_pid" >/dev/null || break
		sleep 0.1
	done
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

privsep_caps() {
	local rc=0 f v nl
	serve srv NORMAL || return 1
	kill -STOP "$serv_pid"
	if p_hold "$P_CTL" connect -t 4000 "127.0.0.1:$PORT" -n localhost; then
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
		[ "$nl" -ge 2 ] || rc=1
	else
		rc=1
	fi
	wait "$p_req"
	# The held request ended by its timeout; the parent reported it.
	ctl_has_file "$W/held.out" "handshake timed out \(ETIMEDOUT\)" || rc=1
	kill -CONT "$serv_pid"
	unserve
	# The parent still serves.
	serve srv NORMAL || return 1
	"$T" client "$PORT" localhost 0 0 || rc=1
	unserve
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
	# The next request succeeds.
	serve srv NORMAL || return 1
	"$T" client "$PORT" localhost 0 0 || rc=1
	unserve
	return $rc
}
t privsep_child_killed privsep_child_killed
