# shellcheck shell=bash disable=SC2034
# SPDX-License-Identifier: GPL-2.0
#
# scripts/lib/test.sh - what the shell-driven tests share.  Source it
# (bash); sourcing defines functions and a few kt_* variables, nothing else.
#
# Tests, TAP-ish:
#   kt_test [-t SECS] NAME CMD...
#             runs CMD (a program or a shell function) in a background
#             subshell of its own process group, with its output captured,
#             and prints "ok N NAME" or "not ok N NAME" followed by that
#             output, indented with "#   ".  Past SECS (default
#             $KT_TIMEOUT, 300) the group and every process still below
#             the subshell get SIGTERM, then SIGKILL 2 s later, and the test
#             fails with "timed out after SECS s".  Processes CMD leaves
#             running are not waited for.  Exit status 77 is a skip, with
#             the last line of the output as its reason; on success, lines
#             of the output that begin with "note: " are shown as "# ...".
#             Returns 1 when the test failed, else 0.  Tests whose NAME
#             does not contain $KT_FILTER are not run and not counted.  A shell function runs
#             in a subshell: variables it sets are lost unless named by
#             kt_keep.
#   kt_keep VAR...
#             after a shell function test returns, copy these variables
#             (set or unset there) back into the runner.
#   kt_skip NAME [WHY]
#             prints "ok N NAME # SKIP WHY" and counts a skip.
#   kt_ok TEXT / kt_not_ok TEXT
#             count a result decided by the caller (a check run in the
#             runner's own shell): print "ok N TEXT" or "not ok N TEXT".
#   kt_summary [PASSED FAILED [SKIPPED]]
#             prints the closing "N passed, N failed" (", N skipped" when
#             there were any) from kt_test's counters or the arguments;
#             returns 1 when FAILED is not 0.
#   kt_parse_summary [FILE|-]
#             finds the last "N passed, N failed[, N skipped]" line in FILE
#             (or stdin), sets KT_LINE, KT_PASSED, KT_FAILED and KT_SKIPPED
#             (0 when absent); returns 1, with all of them 0/empty, when
#             there is no such line.
#
# Waits, each returning 1 with a line on stderr when the time (seconds,
# fractions allowed) runs out:
#   kt_wait_until SECS CMD...   CMD succeeds (tried every 0.1 s)
#   kt_wait_port PORT [SECS]    a TCP socket listens on PORT (default 10 s)
#   kt_wait_pid_gone PID [SECS] PID has exited (a zombie counts as gone)
#   kt_wait_file FILE [SECS]    FILE exists and is not empty
#
# kt_needs NAME...: each NAME is a set variable or a defined function (a
# NAME with a / in it: an existing file), or the caller stops with
# "Bail out!" naming what is missing.

KT_TIMEOUT=${KT_TIMEOUT:-300}
KT_FILTER=${KT_FILTER:-}
kt_n=0 kt_passed=0 kt_failed=0 kt_skipped=0
kt_keep_vars=()

# The summary line, as CI and scripts/check grep for it.
KT_SUMMARY_RE='^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?'

kt_keep() {
	kt_keep_vars+=("$@")
}

# _kt_now: seconds since the epoch, with centiseconds.
_kt_now() {
	local t=${EPOCHREALTIME:-}
	if [ -n "$t" ]; then
		t=${t/,/.}
		echo "${t%????}"
	else
		date +%s.%N | cut -c1-13
	fi
}

# _kt_later A B: succeeds when time A is past time B (both from _kt_now).
_kt_later() {
	awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 > b + 0) }'
}

kt_wait_until() {
	# Names of their own: CMD may be eval and read the caller's locals.
	local _kt_secs=$1 _kt_end
	shift
	_kt_end=$(awk -v n="$(_kt_now)" -v s="$_kt_secs" 'BEGIN { printf "%.2f", n + s }')
	until "$@"; do
		if _kt_later "$(_kt_now)" "$_kt_end"; then
			echo "kt_wait_until: '$*' still failing after $_kt_secs s" >&2
			return 1
		fi
		sleep 0.1
	done
}

# _kt_port_listens PORT: a TCP (v4 or v6) socket in LISTEN on PORT.
_kt_port_listens() {
	local hex
	hex=$(printf ':%04X' "$1")
	# State 0A is LISTEN; the local address ends in :PORT in hex.
	awk -v p="$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 }
		END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

kt_wait_port() {
	local _kt_port=$1 _kt_secs=${2:-10}
	kt_wait_until "$_kt_secs" _kt_port_listens "$_kt_port" 2>/dev/null && return 0
	echo "nothing listens on port $_kt_port after $_kt_secs s" >&2
	return 1
}

# _kt_pid_gone PID: no such process, or only its zombie.
_kt_pid_gone() {
	local st
	kill -0 "$1" 2>/dev/null || return 0
	st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)
	[ "$st" = Z ] || [ -z "$st" ]
}

kt_wait_pid_gone() {
	local _kt_pid=$1 _kt_secs=${2:-10}
	kt_wait_until "$_kt_secs" _kt_pid_gone "$_kt_pid" 2>/dev/null && return 0
	echo "process $_kt_pid still running after $_kt_secs s" >&2
	return 1
}

kt_wait_file() {
	local _kt_file=$1 _kt_secs=${2:-10}
	kt_wait_until "$_kt_secs" test -s "$_kt_file" 2>/dev/null && return 0
	echo "$_kt_file still missing or empty after $_kt_secs s" >&2
	return 1
}

kt_needs() {
	local v missing=()
	for v in "$@"; do
		case $v in */*) [ -e "$v" ] || missing+=("$v"); continue ;; esac
		declare -F "$v" >/dev/null && continue
		[ -n "${!v+set}" ] && continue
		missing+=("$v")
	done
	[ ${#missing[@]} = 0 ] && return 0
	echo "Bail out! ${BASH_SOURCE[1]:-?}: needs ${missing[*]}, not set by its runner"
	exit 1
}

# _kt_tree PID: PID and every process below it, parents first.
_kt_tree() {
	local p
	echo "$1"
	for p in $(pgrep -P "$1" 2>/dev/null); do
		_kt_tree "$p"
	done
}

# _kt_watchdog SECS PID MARK: after SECS, mark the timeout and kill PID's
# process group and whatever still runs below PID.
_kt_watchdog() {
	local pids
	sleep "$1"
	: >"$3"
	pids=$(_kt_tree "$2")
	# shellcheck disable=SC2086 # one PID a word
	kill -TERM -- "-$2" $pids 2>/dev/null
	sleep 2
	# shellcheck disable=SC2086
	kill -KILL -- "-$2" $pids 2>/dev/null
}

# _kt_run SECS OUT KEEPFILE CMD...: run CMD as described for kt_test; sets
# kt_rc and kt_timed_out.
_kt_run() {
	local secs=$1 out=$2 keep=$3 pid wd had_m=
	shift 3
	case $- in *m*) had_m=1 ;; esac
	set -m
	(
		trap - EXIT INT TERM HUP
		"$@"
		rc=$?
		# As declarations the runner sources; global there, since
		# kt_test is a function.
		if [ -n "$keep" ]; then
			for v in "${kt_keep_vars[@]}"; do
				if [ -n "${!v+set}" ]; then
					declare -p "$v" | sed 's/^declare -/declare -g -/'
				else
					echo "unset -v $v"
				fi
			done >"$keep"
		fi
		exit $rc
	) >"$out" 2>&1 </dev/null &
	pid=$!
	_kt_watchdog "$secs" "$pid" "$out.timedout" >/dev/null 2>&1 </dev/null &
	wd=$!
	[ -n "$had_m" ] || set +m
	wait "$pid"
	kt_rc=$?
	kill -- "-$wd" 2>/dev/null
	wait "$wd" 2>/dev/null
	kt_timed_out=
	[ -e "$out.timedout" ] && kt_timed_out=1
	rm -f "$out.timedout"
}

kt_test() {
	local secs=$KT_TIMEOUT name out keep=
	if [ "${1:-}" = -t ]; then
		secs=$2
		shift 2
	fi
	name=$1
	shift
	case "$name" in *"$KT_FILTER"*) ;; *) return 0 ;; esac
	out=$(mktemp "${TMPDIR:-/tmp}/kt_test.XXXXXX")
	if declare -F "$1" >/dev/null && [ ${#kt_keep_vars[@]} -gt 0 ]; then
		keep=$out.keep
	fi
	_kt_run "$secs" "$out" "$keep" "$@"
	# (No process substitution: the VM's guest has no /dev/fd.)
	if [ -n "$keep" ] && [ -s "$keep" ]; then
		# shellcheck source=/dev/null
		. "$keep"
	fi
	local rc=0
	if [ -z "$kt_timed_out" ] && [ "$kt_rc" = 0 ]; then
		kt_ok "$name"
		sed -n 's/^note: /# /p' "$out"
	elif [ -z "$kt_timed_out" ] && [ "$kt_rc" = 77 ]; then
		kt_skip "$name" "$(tail -n1 "$out")"
	else
		kt_not_ok "$name"
		[ -n "$kt_timed_out" ] && echo "timed out after $secs s" >>"$out"
		sed 's/^/#   /' "$out"
		rc=1
	fi
	rm -f "$out" "$keep"
	return $rc
}

kt_ok() {
	kt_n=$((kt_n + 1))
	kt_passed=$((kt_passed + 1))
	echo "ok $kt_n $*"
}

kt_not_ok() {
	kt_n=$((kt_n + 1))
	kt_failed=$((kt_failed + 1))
	echo "not ok $kt_n $*"
}

kt_skip() {
	case "$1" in *"$KT_FILTER"*) ;; *) return 0 ;; esac
	kt_n=$((kt_n + 1))
	kt_skipped=$((kt_skipped + 1))
	echo "ok $kt_n $1 # SKIP${2:+ $2}"
}

kt_summary() {
	local p=${1:-$kt_passed} f=${2:-$kt_failed} s=${3:-$kt_skipped}
	if [ "${s:-0}" -gt 0 ]; then
		echo "$p passed, $f failed, $s skipped"
	else
		echo "$p passed, $f failed"
	fi
	[ "$f" -eq 0 ]
}

kt_parse_summary() {
	local line
	KT_LINE='' KT_PASSED=0 KT_FAILED=0 KT_SKIPPED=0
	line=$(grep -E "$KT_SUMMARY_RE" "${1:--}" | tail -n1)
	[ -n "$line" ] || return 1
	KT_LINE=$line
	[[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)? ]]
	KT_PASSED=${BASH_REMATCH[1]}
	KT_FAILED=${BASH_REMATCH[2]}
	KT_SKIPPED=${BASH_REMATCH[4]:-0}
}
