# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Daemon faults (issue 16; the test named daemon_faults).  Sourced by
# selftests/handshake/run with ktlsd running.
#
# hs_fault (hs_fault.c says what it does and checks) stops nothing of
# ours: this file stops the suite's ktlsd, lets hs_fault start, kill
# (SIGKILL: a handshake child, the parent alone, or the parent and its
# children) and restart its own for $KTLS_FAULT_ROUNDS rounds (default
# 10) with 8 loopback pairs of handshakes in flight, then starts the
# suite's ktlsd again.  $KTLS_FAULT_SEED replays a run's random choices;
# $KTLS_FAULT_KTLSD runs another ktlsd binary (an old one, to see the
# test fail).
# The long form, 100 rounds: make fault-daemon.  hs_fault's summary line
# is printed as a TAP comment, and kept in $KTLS_RESULTS/daemon-faults.txt.

# From selftests/handshake/run: its variables and functions, the
# configuration in $W.  ktlsd_pid comes back through run's own kt_keep.
kt_needs W HERE KTLSD FILTER start_ktlsd stop_ktlsd "$W/ktlsd.conf"

DF_ROUNDS=${KTLS_FAULT_ROUNDS:-10}
# 40 s a round at most: the kill window, the restart, the drain (a 5 s
# timeout plus 2 s), the orphans' 8 s, the settling 5 s; all but the first
# two grow with KTLS_VM_SLOWDOWN (hs_fault reads it).
DF_SECS=$((DF_ROUNDS * 40 * ${KTLS_VM_SLOWDOWN:-1} + 120))

daemon_faults() {
	local rc=0 saved
	saved=$(cat /sys/module/ktls/parameters/handshake_max_pending)
	stop_ktlsd
	timeout "$DF_SECS" "$HERE/hs_fault" \
		-k "${KTLS_FAULT_KTLSD:-$KTLSD}" -c "$W/ktlsd.conf" \
		-l "$W/ktlsd-faults.log" \
		-r "$DF_ROUNDS" ${KTLS_FAULT_SEED:+-s "$KTLS_FAULT_SEED"} \
		>"$W/daemon-faults.txt" 2>&1 || rc=1
	cat "$W/daemon-faults.txt"
	echo "$saved" >/sys/module/ktls/parameters/handshake_max_pending
	[ -n "${KTLS_RESULTS:-}" ] &&
		cp "$W/daemon-faults.txt" "$KTLS_RESULTS/daemon-faults.txt"
	start_ktlsd "$W/ktlsd.log" || { echo "ktlsd did not restart"; rc=1; }
	return $rc
}
# Not run's t: the long form (make fault-daemon) outlasts its limit for
# shell functions; this one leaves a minute for the restart after hs_fault.
KT_FILTER=$FILTER kt_test -t $((DF_SECS + 60)) daemon_faults daemon_faults
# Its summary (nothing when FILTER left it out).
grep -h '^hs_fault: seed .*rounds' "$W/daemon-faults.txt" 2>/dev/null |
	sed 's/^/# /'
