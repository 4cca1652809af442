# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# tests.d/10-interop.sh - ktls through ktlsd against OpenSSL and GnuTLS,
# and hundreds of handshakes at once.  Sourced by selftests/handshake/run
# (see there) with ktlsd running; tests are named interop_*.
#
# The matrix: TLS 1.2 and 1.3 x AES-128-GCM, AES-256-GCM and
# ChaCha20-Poly1305 x four peers:
#
#   ktls_peer client  <->  openssl s_server   (interop_*_client_openssl)
#   ktls_peer client  <->  gnutls-serv --echo (interop_*_client_gnutls)
#   ktls_peer server  <->  openssl s_client   (interop_*_server_openssl)
#   ktls_peer server  <->  gnutls-cli         (interop_*_server_gnutls)
#
# ktls_peer's handshake goes through ktlsd with a profile allowing only
# that version and cipher; the peer allows anything.  Each test moves
# data both ways and compares it byte for byte, reads the negotiated
# version and cipher from the peer's own output, and checks that
# /proc/net/ktls_stat counted one more kTLS socket in each direction (and
# one fewer open one afterwards, and no decryption error).  Per version,
# a large transfer both ways (KTLS_IO_BIG_MB MiB, default 24) and a
# sendfile() of a file that size, checked with sha256sum.
#
# interop_many_300 (KTLS_IO_MANY sets the number): two network namespaces
# joined by a veth pair, each with its own ktlsd: 300 clients in one
# connect to 300 servers in the other, all at once.  The clients' ktlsd
# has max_children = 24: it must never run more children than that, every
# handshake must still complete, and neither daemon may keep a descriptor
# it did not hold before.  (One ktlsd serving both ends with fewer
# children than handshakes could fill every child with clients waiting
# for servers that wait for a child; separate daemons, the servers' with
# room for all, are the deployment that avoids it.)
#
# interop_queue_max_children: with max_children = 1, a second request
# waits, logged as queued, while the one child is busy, and is served once
# it ends; with 2 it is served at once.  See the test.

# From selftests/handshake/run (see its comment above the loop that
# sources this file): its variables and functions, the files in $W.
kt_needs W KTLSD REPO HERE FILTER PORT ktlsd_pid t serve unserve \
	port_listening ktlsd_sighup \
	"$W/ca.pem" "$W/srv.pem" "$W/srv.key" "$W/ktlsd.conf" "$W/ktlsd.log"
# Set by this file's test functions (each runs in a subshell) and read
# after them.
kt_keep io_tx0 io_rx0 io_ctx0 io_crx0 io_derr0 io_nst0 io_ktlsd ioq_a ioq_b ioq_child ioq_peer

IO_PEER=$HERE/ktls_peer
IO_PORT=4600
IO_MB=${KTLS_IO_BIG_MB:-24}
IO_MANY=${KTLS_IO_MANY:-300}
declare -A IO_ID=([AES-128-GCM]=51 [AES-256-GCM]=52 [CHACHA20-POLY1305]=54)
declare -A IO_KW=([AES-128-GCM]=aes-128-gcm [AES-256-GCM]=aes-256-gcm
	[CHACHA20-POLY1305]=chacha20-poly1305)
# OpenSSL's names for the suites, TLS 1.3 and TLS 1.2 (ECDSA certificate).
declare -A IO_OSSL13=([AES-128-GCM]=TLS_AES_128_GCM_SHA256
	[AES-256-GCM]=TLS_AES_256_GCM_SHA384
	[CHACHA20-POLY1305]=TLS_CHACHA20_POLY1305_SHA256)
declare -A IO_OSSL12=([AES-128-GCM]=ECDHE-ECDSA-AES128-GCM-SHA256
	[AES-256-GCM]=ECDHE-ECDSA-AES256-GCM-SHA384
	[CHACHA20-POLY1305]=ECDHE-ECDSA-CHACHA20-POLY1305)

# io_stat NAME: one counter of /proc/net/ktls_stat (this namespace).
io_stat() {
	awk -v k="$1" '$1 == k { print $2 }' /proc/net/ktls_stat
}

io_snap() {
	io_tx0=$(io_stat TlsTxSw)
	io_rx0=$(io_stat TlsRxSw)
	io_ctx0=$(io_stat TlsCurrTxSw)
	io_crx0=$(io_stat TlsCurrRxSw)
	io_derr0=$(io_stat TlsDecryptError)
	io_nst0=$(io_stat TlsRxSessionTicket)
}

# io_check_stat N: N more kTLS sockets each way since io_snap, all of
# them closed again, and no record that failed to decrypt.
io_check_stat() {
	local n=$1 tx rx t0=$SECONDS
	tx=$(($(io_stat TlsTxSw) - io_tx0))
	rx=$(($(io_stat TlsRxSw) - io_rx0))
	echo "ktls_stat: TlsTxSw +$tx, TlsRxSw +$rx"
	if [ "$tx" != "$n" ] || [ "$rx" != "$n" ]; then
		echo "expected +$n kTLS sockets in each direction"
		return 1
	fi
	kt_wait_until 5 eval '[ "$(io_stat TlsCurrTxSw)" = "$io_ctx0" ] &&
		[ "$(io_stat TlsCurrRxSw)" = "$io_crx0" ]' 2>/dev/null
	if [ "$(io_stat TlsCurrTxSw)" != "$io_ctx0" ] ||
	   [ "$(io_stat TlsCurrRxSw)" != "$io_crx0" ]; then
		echo "kTLS sockets still open: TlsCurrTxSw $(io_stat TlsCurrTxSw)" \
			"(was $io_ctx0), TlsCurrRxSw $(io_stat TlsCurrRxSw)" \
			"(was $io_crx0)"
		return 1
	fi
	echo "open kTLS sockets back to their count in $((SECONDS - t0)) s"
	if [ "$(io_stat TlsDecryptError)" != "$io_derr0" ]; then
		echo "TlsDecryptError went from $io_derr0 to" \
			"$(io_stat TlsDecryptError)"
		return 1
	fi
}

# io_feed WAITFILE WAITTEXT DATA DONEFILE: once WAITFILE shows WAITTEXT
# (empty: at once), write DATA to stdout; then keep stdout open until
# DONEFILE exists, so that the peer reading it does not see EOF and hang
# up before the other direction is done.
io_feed() {
	if [ -n "$2" ]; then
		kt_wait_until 30 grep -q "$2" "$1" 2>/dev/null
	fi
	cat "$3"
	kt_wait_until 120 test -e "$4" 2>/dev/null
	return 0
}

io_size() {
	stat -c %s "$1"
}

io_same() {	# EXPECTED GOT WHAT
	if ! cmp "$1" "$2"; then
		echo "$3: the data differs ($(io_size "$1") bytes sent," \
			"$(io_size "$2") received)"
		return 1
	fi
}

# Profiles io_<version>_<cipher>, each allowing one version and cipher.
io_profiles() {
	local v c
	cp "$W/ktlsd.conf" "$W/ktlsd.conf.io-orig"
	for v in 1.2 1.3; do
		for c in AES-128-GCM AES-256-GCM CHACHA20-POLY1305; do
			printf '\n[profile io_%s_%s]\ncertificate = %s\nkey = %s\ntrust = %s\nversions = tls%s\nciphers = %s\n' \
				"$v" "$c" "$W/srv.pem" "$W/srv.key" "$W/ca.pem" \
				"$v" "${IO_KW[$c]}"
		done
	done >>"$W/ktlsd.conf"
}

io_kill() {	# PID...: stop what a test left running
	local p
	for p in "$@"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null
	done
	for p in "$@"; do
		[ -n "$p" ] && wait "$p" 2>/dev/null
	done
	return 0
}

# ---- the ktls client against openssl s_server ----
io_client_openssl() {	# VERSION CIPHER A B
	local v=$1 c=$2 a=$3 b=$4 spid rc=0 name
	local port=$((IO_PORT += 1)) sv=-tls1_3 tickets
	[ "$v" = 1.2 ] && sv=-tls1_2
	rm -f "$W/io.done" "$W/io.serr"
	: >"$W/io.serr"
	io_feed "$W/io.serr" '^Ciphersuite:' "$b" "$W/io.done" |
		openssl s_server -accept "127.0.0.1:$port" -naccept 1 -brief \
		"$sv" -cert "$W/srv.pem" -key "$W/srv.key" \
		>"$W/io.got_a" 2>"$W/io.serr" &
	spid=$!
	port_listening "$port" || { touch "$W/io.done"; io_kill "$spid"; return 1; }
	io_snap
	timeout 120 "$IO_PEER" client -p "io_${v}_$c" -V "$v" -C "${IO_ID[$c]}" \
		-N localhost -i "$a" -r "$(io_size "$b")" -o "$W/io.got_b" \
		127.0.0.1 "$port" 2>"$W/io.peer" || rc=1
	cat "$W/io.peer"
	# s_server ends after its one connection closes.
	kt_wait_pid_gone "$spid" 10 2>/dev/null
	touch "$W/io.done"
	io_kill "$spid"
	io_same "$a" "$W/io.got_a" "client to s_server" || rc=1
	io_same "$b" "$W/io.got_b" "s_server to client" || rc=1
	grep -v '^Client cipher list\|^Signature Al\|^Supported groups' \
		"$W/io.serr"
	grep -qx "Protocol version: TLSv$v" "$W/io.serr" || {
		echo "s_server did not report TLSv$v"; rc=1; }
	if [ "$v" = 1.3 ]; then name=${IO_OSSL13[$c]}; else name=${IO_OSSL12[$c]}; fi
	grep -qx "Ciphersuite: $name" "$W/io.serr" || {
		echo "s_server did not report $name"; rc=1; }
	if [ "$v" = 1.3 ]; then
		# s_server sends two session tickets after a TLS 1.3
		# handshake.  ktlsd's child reads the first; ktls consumes
		# the rest on this upcall socket (TlsRxSessionTicket), so
		# the application sees none.
		tickets=$(sed -n 's/.*, \([0-9]*\) ticket(s) skipped/\1/p' \
			"$W/io.peer")
		[ "${tickets:-0}" = 0 ] || {
			echo "$tickets ticket(s) reached the application"; rc=1; }
		[ "$(io_stat TlsRxSessionTicket)" -gt "$io_nst0" ] || {
			echo "TlsRxSessionTicket did not move"; rc=1; }
	fi
	io_check_stat 1 || rc=1
	return $rc
}

# ---- the ktls client against gnutls-serv --echo ----
io_client_gnutls() {	# VERSION CIPHER A
	local v=$1 c=$2 a=$3 spid rc=0
	local port=$((IO_PORT += 1))
	# Tickets stay on: in TLS 1.3 the ones ktlsd's child does not read
	# are consumed by ktls.
	gnutls-serv --echo -p "$port" --x509certfile "$W/srv.pem" \
		--x509keyfile "$W/srv.key" >"$W/io.gserv" 2>&1 &
	spid=$!
	port_listening "$port" || { io_kill "$spid"; return 1; }
	io_snap
	timeout 120 "$IO_PEER" client -p "io_${v}_$c" -V "$v" -C "${IO_ID[$c]}" \
		-N localhost -i "$a" -r "$(io_size "$a")" -o "$W/io.got_a" \
		127.0.0.1 "$port" || rc=1
	kt_wait_until 5 grep -q "^- Description:" "$W/io.gserv" 2>/dev/null
	io_kill "$spid"
	io_same "$a" "$W/io.got_a" "echo through gnutls-serv" || rc=1
	grep "^- Description:" "$W/io.gserv"
	grep -q "^- Description: (TLS$v-.*-($c)\$" "$W/io.gserv" || {
		echo "gnutls-serv did not report TLS$v with $c"; rc=1; }
	io_check_stat 1 || rc=1
	return $rc
}

# ---- the ktls server against openssl s_client ----
io_server_openssl() {	# VERSION CIPHER A B [-f]
	local v=$1 c=$2 a=$3 b=$4 f=${5:-} spid rc=0 name
	local port=$((IO_PORT += 1))
	io_snap
	timeout 120 "$IO_PEER" server -p "io_${v}_$c" -V "$v" \
		-C "${IO_ID[$c]}" -i "$b" ${f:+"$f"} -r "$(io_size "$a")" \
		-o "$W/io.got_a" "$port" 2>"$W/io.peer" &
	spid=$!
	port_listening "$port" || { io_kill "$spid"; return 1; }
	# -ign_eof: keep reading after stdin ends, until the server closes.
	timeout 120 openssl s_client -connect "127.0.0.1:$port" -brief \
		-servername localhost -CAfile "$W/ca.pem" -verify_return_error \
		-ign_eof <"$a" >"$W/io.got_b" 2>"$W/io.cerr"
	wait "$spid" || rc=1
	cat "$W/io.peer" "$W/io.cerr"
	io_same "$a" "$W/io.got_a" "s_client to server" || rc=1
	if [ -n "$f" ]; then
		# A large file: compare digests, as a user would.
		local want got
		want=$(sha256sum <"$b")
		got=$(sha256sum <"$W/io.got_b")
		echo "sha256: sent ${want%% *}"
		echo "sha256: got  ${got%% *}"
		[ "$want" = "$got" ] || {
			echo "sendfile(): the file arrived changed"; rc=1; }
	else
		io_same "$b" "$W/io.got_b" "server to s_client" || rc=1
	fi
	grep -qx "Protocol version: TLSv$v" "$W/io.cerr" || {
		echo "s_client did not report TLSv$v"; rc=1; }
	if [ "$v" = 1.3 ]; then name=${IO_OSSL13[$c]}; else name=${IO_OSSL12[$c]}; fi
	grep -qx "Ciphersuite: $name" "$W/io.cerr" || {
		echo "s_client did not report $name"; rc=1; }
	grep -qx "Verification: OK" "$W/io.cerr" || {
		echo "s_client did not verify the chain"; rc=1; }
	io_check_stat 1 || rc=1
	return $rc
}

# ---- the ktls server against gnutls-cli ----
io_server_gnutls() {	# VERSION CIPHER A B
	local v=$1 c=$2 a=$3 b=$4 spid rc=0
	local port=$((IO_PORT += 1))
	rm -f "$W/io.done"
	io_snap
	timeout 120 "$IO_PEER" server -p "io_${v}_$c" -V "$v" \
		-C "${IO_ID[$c]}" -i "$b" -r "$(io_size "$a")" \
		-o "$W/io.got_a" "$port" 2>"$W/io.peer" &
	spid=$!
	port_listening "$port" || { io_kill "$spid"; return 1; }
	# gnutls-cli hangs up when its stdin ends: hold it open until the
	# server is done.
	io_feed "" "" "$a" "$W/io.done" |
		timeout 120 gnutls-cli -p "$port" --x509cafile "$W/ca.pem" \
		--logfile "$W/io.clog" localhost >"$W/io.got_b" &
	local cpid=$!
	wait "$spid" || rc=1
	kt_wait_pid_gone "$cpid" 10 2>/dev/null
	touch "$W/io.done"
	io_kill "$cpid"
	cat "$W/io.peer"
	io_same "$a" "$W/io.got_a" "gnutls-cli to server" || rc=1
	io_same "$b" "$W/io.got_b" "server to gnutls-cli" || rc=1
	grep "^- Description:" "$W/io.clog"
	grep -q "^- Description: (TLS$v-.*-($c)\$" "$W/io.clog" || {
		echo "gnutls-cli did not report TLS$v with $c"; rc=1; }
	io_check_stat 1 || rc=1
	return $rc
}

# A check that the checks bite: ktls_peer must refuse a cipher other
# than the one it was told to expect.
io_mismatch() {
	local port=$((IO_PORT += 1)) spid rc=0
	gnutls-serv --echo -q -p "$port" --x509certfile "$W/srv.pem" \
		--x509keyfile "$W/srv.key" >/dev/null 2>&1 &
	spid=$!
	port_listening "$port" || { io_kill "$spid"; return 1; }
	if timeout 60 "$IO_PEER" client -p io_1.3_AES-128-GCM -V 1.3 -C 52 \
		-N localhost -i "$W/io.a" -r 1 127.0.0.1 "$port" \
		2>"$W/io.peer"; then
		echo "ktls_peer accepted AES-128-GCM when told to expect AES-256-GCM"
		rc=1
	fi
	cat "$W/io.peer"
	grep -q "negotiated TLS 1.3 AES-128-GCM, expected TLS 1.3 AES-256-GCM" \
		"$W/io.peer" || rc=1
	io_kill "$spid"
	return $rc
}

io_matrix() {
	local v c
	for v in 1.3 1.2; do
		for c in AES-128-GCM AES-256-GCM CHACHA20-POLY1305; do
			t "interop_tls${v}_${c}_client_openssl" io_client_openssl \
				"$v" "$c" "$W/io.a" "$W/io.b"
			t "interop_tls${v}_${c}_client_gnutls" io_client_gnutls \
				"$v" "$c" "$W/io.a"
			t "interop_tls${v}_${c}_server_openssl" io_server_openssl \
				"$v" "$c" "$W/io.a" "$W/io.b"
			t "interop_tls${v}_${c}_server_gnutls" io_server_gnutls \
				"$v" "$c" "$W/io.a" "$W/io.b"
		done
		t "interop_tls${v}_large_client_openssl" io_client_openssl \
			"$v" AES-256-GCM "$W/io.big_a" "$W/io.big_b"
		# (gnutls-cli takes minutes to print tens of MB.)
		t "interop_tls${v}_sendfile_server_openssl" io_server_openssl \
			"$v" CHACHA20-POLY1305 "$W/io.a" "$W/io.big_b" -f
	done
	t interop_expect_mismatch io_mismatch
}

# ---- interop_many_300 ----
IO_NS_C=ktls-io-c
IO_NS_S=ktls-io-s

io_children() {	# PID: how many children it has now
	pgrep -c -P "$1" 2>/dev/null
}

io_fds() {	# PID
	ls "/proc/$1/fd" | wc -l
}

# io_in NS CMD...: run CMD in network namespace NS, nothing else changed
# (nsenter execs CMD: started with & directly, $! is CMD's pid).
io_in() {
	local ns=$1
	shift
	nsenter "--net=/run/netns/$ns" "$@"
}

# io_ns_ktlsd NS CONF LOG: start a ktlsd in namespace NS; its pid in
# io_ktlsd.
io_ns_ktlsd() {
	: >"$3"
	nsenter "--net=/run/netns/$1" "$KTLSD" -d -c "$2" >>"$3" 2>&1 \
		</dev/null &
	io_ktlsd=$!
	local log=$3
	kt_wait_until 15 eval 'grep -q "ready:" "$log" ||
		! kill -0 "$io_ktlsd" 2>/dev/null' 2>/dev/null &&
		grep -q "ready:" "$3" && return 0
	echo "ktlsd in $1 did not start:"
	cat "$3"
	io_kill "$io_ktlsd"
	return 1
}

io_many() {	# COUNT CLIENT_MAX_CHILDREN
	local n=$1 cmax=$2 rc=0 cpid="" spid="" srv="" sampler="" port=4800
	local cfd0 sfd0 peak speak ctx stx
	ip netns del "$IO_NS_C" 2>/dev/null
	ip netns del "$IO_NS_S" 2>/dev/null
	ip netns add "$IO_NS_C" && ip netns add "$IO_NS_S" &&
	ip link add io-c type veth peer name io-s &&
	ip link set io-c netns "$IO_NS_C" && ip link set io-s netns "$IO_NS_S" &&
	ip -n "$IO_NS_C" addr add 10.77.0.1/24 dev io-c &&
	ip -n "$IO_NS_S" addr add 10.77.0.2/24 dev io-s &&
	ip -n "$IO_NS_C" link set io-c up && ip -n "$IO_NS_C" link set lo up &&
	ip -n "$IO_NS_S" link set io-s up && ip -n "$IO_NS_S" link set lo up ||
		{ echo "cannot build the two namespaces"; rc=1; }
	printf 'user = nobody\nmax_children = %s\n\n[profile default]\ncertificate = %s\nkey = %s\ntrust = %s\n' \
		"$cmax" "$W/srv.pem" "$W/srv.key" "$W/ca.pem" >"$W/io-c.conf"
	# The servers' daemon has a child for every request: see the top.
	printf 'user = nobody\nmax_children = %s\n\n[profile default]\ncertificate = %s\nkey = %s\ntrust = %s\n' \
		"$((n + 16))" "$W/srv.pem" "$W/srv.key" "$W/ca.pem" >"$W/io-s.conf"
	if [ $rc = 0 ] &&
	   io_ns_ktlsd "$IO_NS_C" "$W/io-c.conf" "$W/ktlsd-io-c.log"; then
		cpid=$io_ktlsd
	else
		rc=1
	fi
	if [ $rc = 0 ] &&
	   io_ns_ktlsd "$IO_NS_S" "$W/io-s.conf" "$W/ktlsd-io-s.log"; then
		spid=$io_ktlsd
	else
		rc=1
	fi
	if [ $rc = 0 ]; then
		cfd0=$(io_fds "$cpid")
		sfd0=$(io_fds "$spid")
		ctx=$(io_in "$IO_NS_C" awk '$1 == "TlsTxSw" { print $2 }' \
			/proc/net/ktls_stat)
		stx=$(io_in "$IO_NS_S" awk '$1 == "TlsTxSw" { print $2 }' \
			/proc/net/ktls_stat)
		rm -f "$W/io.many-done"
		# Sample how many handshake children each daemon has.
		(
			local c s pc=0 ps=0
			while [ ! -e "$W/io.many-done" ]; do
				c=$(io_children "$cpid")
				s=$(io_children "$spid")
				[ "$c" -gt "$pc" ] && pc=$c
				[ "$s" -gt "$ps" ] && ps=$s
				echo "$pc $ps" >"$W/io.peaks"
				sleep 0.05
			done
		) &
		sampler=$!
		timeout 300 nsenter "--net=/run/netns/$IO_NS_S" \
			"$IO_PEER" server -n "$n" -t 240000 \
			"$port" 2>"$W/io.many-s" &
		srv=$!
		# (kt_wait_port reads this namespace's /proc/net/tcp.)
		kt_wait_until 10 eval 'io_in "$IO_NS_S" ss -ltn | grep -q ":$port "' \
			2>/dev/null
		SECONDS=0
		timeout 280 nsenter "--net=/run/netns/$IO_NS_C" \
			"$IO_PEER" client -n "$n" \
			-t 240000 -N localhost 10.77.0.2 "$port" \
			2>"$W/io.many-c" || rc=1
		wait "$srv" || rc=1
		echo "$n connections in ${SECONDS}s"
		touch "$W/io.many-done"
		wait "$sampler"
		grep -v "^ktls_peer .* #" "$W/io.many-c" "$W/io.many-s"
		grep -h "^ktls_peer .* #" "$W/io.many-c" "$W/io.many-s" | head -20
		read -r peak speak <"$W/io.peaks"
		echo "children at once: at most $peak in the clients' ktlsd" \
			"(max_children $cmax), $speak in the servers'"
		if [ "$peak" -gt "$cmax" ]; then
			echo "max_children = $cmax was not honoured"
			rc=1
		fi
		# Whether the requests queued at all: sampled every 50 ms, the
		# clients' daemon has shown no child in the lead's runs (cause
		# not found yet), so this is reported, not judged here;
		# interop_queue_max_children proves the queueing itself.
		if [ "$peak" -lt "$cmax" ] || [ "$speak" -le "$cmax" ]; then
			echo "note: no queueing was observed"
		fi
		# Every child gone, then the daemons hold what they held before.
		kt_wait_until 10 eval '[ "$(io_children "$cpid")" = 0 ] &&
			[ "$(io_children "$spid")" = 0 ]' 2>/dev/null
		echo "ktlsd descriptors: clients' $cfd0 -> $(io_fds "$cpid")," \
			"servers' $sfd0 -> $(io_fds "$spid")"
		if [ "$(io_fds "$cpid")" != "$cfd0" ] ||
		   [ "$(io_fds "$spid")" != "$sfd0" ]; then
			echo "ktlsd leaked descriptors:"
			ls -l "/proc/$cpid/fd" "/proc/$spid/fd"
			rc=1
		fi
		ctx=$(($(io_in "$IO_NS_C" awk '$1 == "TlsTxSw" { print $2 }' \
			/proc/net/ktls_stat) - ctx))
		stx=$(($(io_in "$IO_NS_S" awk '$1 == "TlsTxSw" { print $2 }' \
			/proc/net/ktls_stat) - stx))
		echo "ktls_stat TlsTxSw: +$ctx in the clients' namespace," \
			"+$stx in the servers'"
		[ "$ctx" = "$n" ] && [ "$stx" = "$n" ] || rc=1
		grep -h "killed by signal\|DONE refused" "$W/ktlsd-io-c.log" \
			"$W/ktlsd-io-s.log" && rc=1
	fi
	io_kill "$cpid" "$spid"
	ip netns del "$IO_NS_C" 2>/dev/null
	ip netns del "$IO_NS_S" 2>/dev/null
	return $rc
}

# ---- interop_queue_max_children ----
# max_children makes a request wait for a child, shown step by step with
# ktlsd reloaded to max_children = 1:
#   A  a request to a peer that accepts TCP but never answers (a listening
#      socket nobody accepts on): its child waits for a ServerHello.  The
#      child is stopped (SIGSTOP) once it has taken A, so it holds the only
#      slot for as long as the test needs, however slow the machine.
#   B  a request to gnutls-serv, made while A's child holds the slot.  It
#      must be queued: ktlsd logs "request queued" for it; its ktlsctl is
#      still waiting (not failed); no child took it (not served) and
#      ktlsd has one child.  It stays so after A itself has failed by its
#      timeout (ETIMEDOUT, enforced by the kernel): the slot is the child's
#      until ktlsd's watchdog kills it, 2 s past A's deadline (checked
#      right after A's ktlsctl ends, usually well within those 2 s; on
#      the debug kernel the watchdog can be first, and that check is
#      then moot and skipped).
#   Then A's child is let go (or already killed); it ends, and only after
#   its last log line does a child take B, which completes (TLS 1.3).
# The same with max_children = 2 serves B at once while A's child is still
# held: what made B wait was max_children.  (interop_many_300 cannot show
# this: its clients' daemon was never seen to queue.)
IOQ_PORT=4590
ioq_peer=
ioq_a=
ioq_b=
ioq_child=
# ioq_log_from LINE TEXT: the first line number after LINE whose line
# contains TEXT (fixed string), or nothing.
ioq_log_from() {
	tail -n "+$(($1 + 1))" "$W/ktlsd.log" | grep -nF -- "$2" | head -n1 |
		awk -F: -v b="$1" '{print $1 + b}'
}
# ioq_wait_log LINE TEXT: ioq_log_from, waiting up to 20 s.
ioq_wait_log() {
	local at
	for _ in $(seq 200); do
		at=$(ioq_log_from "$1" "$2")
		[ -n "$at" ] && { echo "$at"; return 0; }
		sleep 0.1
	done
	echo "no '$2' in ktlsd's log after line $1" >&2
	return 1
}
ioq_cleanup() {	# what a round left
	[ -n "$ioq_child" ] && kill -CONT "$ioq_child" 2>/dev/null
	io_kill "$ioq_a" "$ioq_b"
	ioq_a='' ioq_b='' ioq_child=''
}
# ioq_round MAX: A held, then B; prints what it saw; fails if B was not
# queued (MAX 1) or not served at once (MAX 2).
ioq_round() {
	local max=$1 rc=0 mark at_a at_q at_b at_last pid_a step ok
	local tmo=$((5000 * ${KTLS_VM_SLOWDOWN:-1}))
	sed -i "s/^max_children = .*/max_children = $max/" "$W/ktlsd.conf"
	ktlsd_sighup -k || return 1
	grep -q "^max_children = $max$" "$W/ktlsd.conf" || return 1
	mark=$(wc -l <"$W/ktlsd.log")
	"$REPO/helper/ktlsctl/ktlsctl" connect -t "$tmo" \
		"127.0.0.1:$IOQ_PORT" -n held.example >"$W/ioq.a" 2>&1 &
	ioq_a=$!
	at_a=$(ioq_wait_log "$mark" "server 'held.example'") || return 1
	pid_a=$(sed -n "${at_a}s/^ktlsd\[\([0-9]*\)\]: .*/\1/p" "$W/ktlsd.log")
	kill -STOP "$pid_a" || { echo "A's child $pid_a is gone already"; return 1; }
	ioq_child=$pid_a
	echo "A: taken by child $pid_a (log line $at_a), which is held"
	"$REPO/helper/ktlsctl/ktlsctl" connect -t 60000 "127.0.0.1:$PORT" \
		-n localhost >"$W/ioq.b" 2>&1 &
	ioq_b=$!
	if [ "$max" = 1 ]; then
		at_q=$(ioq_wait_log "$at_a" "request queued: 1 handshake running (max_children 1), 1 waiting") ||
			return 1
		echo "B: queued (log line $at_q): $(sed -n "${at_q}p" "$W/ktlsd.log")"
		# Not failed, not served, while A's child holds the slot; then
		# A fails by its timeout and B still waits.
		for step in "while A runs" "after A's timeout"; do
			if [ "$step" = "after A's timeout" ]; then
				wait "$ioq_a"
				echo "A: $(cat "$W/ioq.a")"
				grep -q "handshake timed out (ETIMEDOUT)" "$W/ioq.a" ||
					{ echo "A did not end by its timeout"; rc=1; }
				ioq_a=
				# On a slow kernel (the debug one) the
				# watchdog may already have killed A's child
				# (2 s past A's deadline): then the slot is
				# free and B may go; the order check below
				# still holds.
				if ! kill -0 "$pid_a" 2>/dev/null; then
					echo "A's child already ended after A's timeout (watchdog): nothing to check $step"
					continue
				fi
			fi
			ok=1
			kill -0 "$ioq_b" 2>/dev/null ||
				{ echo "B ended $step: $(cat "$W/ioq.b")"; ok=0; }
			[ -n "$(ioq_log_from "$at_a" "server 'localhost'")" ] &&
				{ echo "B was taken by a child $step"; ok=0; }
			[ "$(pgrep -c -P "$ktlsd_pid")" = 1 ] ||
				{ echo "ktlsd has $(pgrep -c -P "$ktlsd_pid") children $step"; ok=0; }
			[ $ok = 1 ] || { rc=1; continue; }
			echo "B $step: waiting, no child for it, ktlsd has one child"
		done
		kill -CONT "$pid_a" 2>/dev/null
		ioq_child=
	fi
	at_b=$(ioq_wait_log "$at_a" "server 'localhost'") || rc=1
	wait "$ioq_b" || rc=1
	ioq_b=
	echo "B: $(tr '\n' ' ' <"$W/ioq.b")"
	grep -q "^version: TLS 1.3$" "$W/ioq.b" || { echo "B did not complete"; rc=1; }
	if [ "$max" = 1 ]; then
		# B's child came after A's child had logged its last line.
		kt_wait_pid_gone "$pid_a" 10 2>/dev/null
		at_last=$(grep -n "^ktlsd\[$pid_a\]: " "$W/ktlsd.log" | tail -n1 | cut -d: -f1)
		echo "A's child's last line: $at_last: $(sed -n "${at_last}p" "$W/ktlsd.log")"
		echo "B taken at line $at_b"
		[ -n "$at_b" ] && [ "$at_b" -gt "$at_last" ] ||
			{ echo "B was taken before A's child ended"; rc=1; }
	else
		# Served while A's child is still held: no queueing.
		kill -0 "$pid_a" 2>/dev/null ||
			{ echo "A's child ended before B was served"; rc=1; }
		[ -z "$(ioq_log_from "$mark" "request queued")" ] ||
			{ echo "B was queued with max_children = 2"; rc=1; }
		echo "with max_children = 2, B was served while A's child was held"
		kill -CONT "$pid_a"
		ioq_child=
		wait "$ioq_a"
		ioq_a=
	fi
	return $rc
}
io_queue() {
	local rc=0
	cp "$W/ktlsd.conf" "$W/ktlsd.conf.ioq-orig"
	/usr/bin/python3 -c 'import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
time.sleep(600)' "$IOQ_PORT" &
	ioq_peer=$!
	if port_listening "$IOQ_PORT" && serve srv NORMAL; then
		echo "-- max_children = 1"
		ioq_round 1 || rc=1
		ioq_cleanup
		echo "-- max_children = 2"
		ioq_round 2 || rc=1
	else
		rc=1
	fi
	ioq_cleanup
	io_kill "$ioq_peer"
	ioq_peer=
	unserve
	cp "$W/ktlsd.conf.ioq-orig" "$W/ktlsd.conf"
	ktlsd_sighup -k || rc=1
	return $rc
}

io_setup() {
	[ -x "$IO_PEER" ] || { echo "ktls_peer not built (make -C selftests/handshake)"; return 1; }
	# Lines of text: gnutls-serv --echo answers line by line.
	head -c 3750 /dev/urandom | base64 -w 75 >"$W/io.a"
	head -c 7001 /dev/urandom >"$W/io.b"
	head -c $((IO_MB << 20)) /dev/urandom >"$W/io.big_a"
	head -c $((IO_MB << 20)) /dev/urandom >"$W/io.big_b"
	io_profiles
	ktlsd_sighup -k
}

io_restore() {
	local rc=0
	cp "$W/ktlsd.conf.io-orig" "$W/ktlsd.conf"
	ktlsd_sighup -k || rc=1
	rm -f "$W"/io.*
	return $rc
}

# Set up (the data, the profiles) only when some interop test will run;
# setup and restore themselves always run then.
io_wanted() {
	local v c p
	for v in 1.3 1.2; do
		for c in AES-128-GCM AES-256-GCM CHACHA20-POLY1305 large sendfile; do
			for p in client_openssl client_gnutls server_openssl \
				 server_gnutls; do
				case "interop_tls${v}_${c}_$p" in
				*"$FILTER"*) return 0 ;;
				esac
			done
		done
	done
	case "interop_expect_mismatch interop_many_$IO_MANY" in
	*"$FILTER"*) return 0 ;;
	esac
	return 1
}

if io_wanted; then
	FILTER='' t interop_setup io_setup
	io_matrix
	t "interop_many_$IO_MANY" io_many "$IO_MANY" 24
	FILTER='' t interop_restore io_restore
fi
t interop_queue_max_children io_queue
