# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Session resumption through ktlsd (sourced by selftests/handshake/run).
#
# Client role: against gnutls-serv and openssl s_server, both issuing
# tickets, the second connection resumes; the server says so itself
# (gnutls-serv: "This is a resumed session"; s_server -www: its page says
# "Reused, TLSv1.x").  Another server name or port offers nothing from
# the cache, and "resumption = no" never resumes.  Server role: openssl
# s_client resumes with a ticket ktlsd issued just before its ticket key
# rotated, and not two periods later.  A child killed mid-handshake
# leaves the cache intact.  A server that speaks first right after the
# handshake (speak_first_*) gets its greeting to the application.  The
# median times of full and resumed handshakes are printed as TAP
# comments, and resumed must be the faster.  hs_test cacheproto checks
# the parent's and the child's sides of the cache protocol directly.
#
# The configuration gets ticket_key_rotation = $R_ROT and two profiles
# (rnv: verify = no; norsm: resumption = no); the original comes back,
# with a reload, at the end.

# From selftests/handshake/run (see its comment above the loop that
# sources this file): its variables and functions, the files in $W.
kt_needs W T KTLSD REPO FILTER PORT ktlsd_pid serv_pid t unserve \
	wait_log ktlsd_sighup \
	"$W/ca.pem" "$W/srv.pem" "$W/srv.key" "$W/ktlsd.conf" "$W/ktlsd.log"

R_ROT=8
exec {R_OUT}>&1		# TAP comments from inside t (which captures 1, 2)

# r_offers: how many times ktlsd's children offered a cached session.
r_offers() {
	grep -c "offering a cached session" "$W/ktlsd.log"
}

# r_serve gnutls|openssl VERSION: a server issuing tickets on a new $PORT.
r_serve() {
	PORT=$((PORT + 1))
	if [ "$1" = gnutls ]; then
		gnutls-serv --echo -a -p "$PORT" \
			--x509certfile "$W/srv.pem" --x509keyfile "$W/srv.key" \
			--priority "NORMAL:-VERS-ALL:+VERS-TLS$2" \
			>"$W/rserv.log" 2>&1 &
	else
		# One ticket: ktlsd's child reads it; -www answers with the
		# server's own view of the session.
		openssl s_server -accept "$PORT" -cert "$W/srv.pem" \
			-key "$W/srv.key" -www -num_tickets 1 \
			"-tls${2/./_}" >"$W/rserv.log" 2>&1 &
	fi
	serv_pid=$!
	kt_wait_port "$PORT" 10 2>/dev/null && return 0
	echo "$1 server did not start: $(cat "$W/rserv.log")"
	return 1
}

r_setup() {
	chmod 755 "$W"
	chmod 644 "$W"/*.key
	cp "$W/ktlsd.conf" "$W/ktlsd.conf.resume"
	{
		echo "ticket_key_rotation = $R_ROT"
		cat "$W/ktlsd.conf.resume"
		printf '[profile rnv]\ncertificate = %s\nkey = %s\ntrust = %s\nverify = no\n' \
			"$W/srv.pem" "$W/srv.key" "$W/ca.pem"
		printf '[profile norsm]\ncertificate = %s\nkey = %s\ntrust = %s\nresumption = no\n' \
			"$W/srv.pem" "$W/srv.key" "$W/ca.pem"
	} >"$W/ktlsd.conf"
	ktlsd_sighup
}

# ktlsd -n refuses bad values, naming the line.
r_check_bad() {
	printf 'ticket_key_rotation = 0\n[profile default]\n' >"$W/r1.conf"
	printf '[profile default]\nresumption = maybe\n' >"$W/r2.conf"
	printf 'ticket_key_rotation = 604801\n[profile default]\n' >"$W/r3.conf"
	! "$KTLSD" -n -c "$W/r1.conf" 2>"$W/err" &&
		grep -q "r1.conf:1: ticket_key_rotation: 1..604800" "$W/err" &&
		! "$KTLSD" -n -c "$W/r2.conf" 2>"$W/err" &&
		grep -q "r2.conf:2: expected yes or no, not 'maybe'" "$W/err" &&
		! "$KTLSD" -n -c "$W/r3.conf" 2>"$W/err" &&
		grep -q "r3.conf:1: ticket_key_rotation" "$W/err"
}

# The second connection resumes, the server's log says so, and data
# flows; a new port (same name) is offered nothing from the cache.
r_client_gnutls() {	# VERSION
	local v=$1 rc=0 o0 port1
	r_serve gnutls "$v" || return 1
	port1=$PORT
	"$T" resume "$PORT" localhost "$v" 0 echo || rc=1
	"$T" resume "$PORT" localhost "$v" 1 echo || rc=1
	"$T" resume "$PORT" localhost "$v" 1 echo || rc=1
	if [ "$(grep -c "This is a resumed session" "$W/rserv.log")" != 2 ]; then
		echo "gnutls-serv did not report 2 resumed sessions:"
		cat "$W/rserv.log"
		rc=1
	fi
	unserve
	# Same name, another port: a different cache entry.
	r_serve gnutls "$v" || return 1
	[ "$PORT" != "$port1" ] || rc=1
	o0=$(r_offers)
	"$T" resume "$PORT" localhost "$v" 0 echo || rc=1
	if [ "$(r_offers)" != "$o0" ]; then
		echo "a cached session was offered to another port"
		rc=1
	fi
	"$T" resume "$PORT" localhost "$v" 1 echo || rc=1
	unserve
	return $rc
}

# Another server name (profile rnv, which does not check the name) on
# the same server, or the same name under another profile: not offered
# the first one's session.
r_client_name() {	# VERSION
	local v=$1 rc=0 o0
	r_serve gnutls "$v" || return 1
	HS_PROFILE=rnv "$T" resume "$PORT" a.example "$v" 0 none || rc=1
	HS_PROFILE=rnv "$T" resume "$PORT" a.example "$v" 1 none || rc=1
	o0=$(r_offers)
	HS_PROFILE=rnv "$T" resume "$PORT" b.example "$v" 0 none || rc=1
	if [ "$(r_offers)" != "$o0" ]; then
		echo "a.example's session was offered for b.example"
		rc=1
	fi
	# The same name and server under another profile: another entry.
	HS_PROFILE=rnv "$T" resume "$PORT" localhost "$v" 0 none || rc=1
	o0=$(r_offers)
	"$T" resume "$PORT" localhost "$v" 0 none || rc=1
	if [ "$(r_offers)" != "$o0" ]; then
		echo "profile rnv's session was offered under profile default"
		rc=1
	fi
	unserve
	return $rc
}

# resumption = no: nothing offered, nothing resumed.
r_client_off() {	# VERSION
	local v=$1 rc=0 o0
	r_serve gnutls "$v" || return 1
	o0=$(r_offers)
	HS_PROFILE=norsm "$T" resume "$PORT" localhost "$v" 0 echo || rc=1
	HS_PROFILE=norsm "$T" resume "$PORT" localhost "$v" 0 echo || rc=1
	[ "$(r_offers)" = "$o0" ] || { echo "resumption = no offered a session"; rc=1; }
	if grep -q "This is a resumed session" "$W/rserv.log"; then
		echo "gnutls-serv saw a resumption"
		rc=1
	fi
	unserve
	return $rc
}

r_client_openssl() {	# VERSION
	local v=$1 rc=0
	r_serve openssl "$v" || return 1
	"$T" resume "$PORT" localhost "$v" 0 www || rc=1
	"$T" resume "$PORT" localhost "$v" 1 www || rc=1
	"$T" resume "$PORT" localhost "$v" 1 www || rc=1
	unserve
	return $rc
}

# r_sc VERSION ARGS...: openssl s_client against examples/ktls-server on
# 4510; prints New or Reused.
r_sc() {
	local v=$1
	shift
	timeout 60 openssl s_client -connect 127.0.0.1:4510 "-tls${v/./_}" \
		-servername localhost -CAfile "$W/ca.pem" -verify_return_error \
		-ign_eof "$@" </dev/null >"$W/sc.out" 2>&1
	grep -ao "^\(New\|Reused\), TLSv$v" "$W/sc.out" | head -1
}

# r_ms: the wall clock in milliseconds; r_rotations: ticket keys ktlsd
# has made so far.
r_ms() {
	date +%s%3N
}
r_rotations() {
	grep -c "session ticket key replaced" "$W/ktlsd.log"
}

# r_wait_phase S: sleep until S seconds into a period of $R_ROT seconds.
r_wait_phase() {
	while [ $(($(date +%s) % R_ROT)) != "$1" ]; do
		sleep 0.1
	done
}

# r_wait_rotations N: until ktlsd has logged N ticket keys (at most
# three periods).
r_wait_rotations() {
	local want=$1
	kt_wait_until $((3 * R_ROT)) eval '[ "$(r_rotations)" -ge "$want" ]' \
		2>/dev/null && return 0
	echo "ktlsd did not log a new ticket key (wanted $1, has $(r_rotations))"
	return 1
}

# Server role, against examples/ktls-server through ktlsd.  A ticket is
# made in the last seconds of a key period; just after the rotation it
# still resumes (s_client: "Reused"; ktlsd: made under the previous
# key).  The same ticket two periods after its own is refused ("New").
# No step relies on a sleep being long enough: the times of both
# handshakes are measured, and an attempt that falls outside the claim
# (the ticket made in period k, used in period k+1 within its lifetime
# of $R_ROT s) is made again, starting earlier in the period, instead of
# judged.
r_server() {	# VERSION
	local v=$1 rc=0 sp got rot k t0 t1 t2 t3 prev attempt ok=0
	local phase=$((R_ROT - 3))
	printf 'ktls resumption test file\n' >"$W/rfile"
	"$REPO/helper/examples/ktls-server" 4510 "$W/rfile" 2>"$W/ks.err" &
	sp=$!
	kt_wait_port 4510 5 2>/dev/null
	for attempt in 1 2 3; do
		r_wait_phase "$phase"
		rot=$(r_rotations)
		t0=$(r_ms)
		got=$(r_sc "$v" -sess_out "$W/sess")
		t1=$(r_ms)
		[ "$got" = "New, TLSv$v" ] || { echo "first: '$got'"; cat "$W/sc.out"; rc=1; break; }
		grep -aq "ktls resumption test file" "$W/sc.out" ||
			{ echo "first: the file did not arrive"; rc=1; break; }
		k=$((t0 / 1000 / R_ROT))
		# If again: start so that this handshake's time ends a
		# second before the boundary.
		phase=$((R_ROT - 2 - (t1 - t0 + 999) / 1000))
		[ "$phase" -ge 0 ] || phase=0
		if [ $((t1 / 1000 / R_ROT)) != "$k" ]; then
			echo "attempt $attempt: the first handshake took $((t1 - t0)) ms and crossed the boundary; again, earlier"
			continue
		fi
		r_wait_rotations $((rot + 1)) || { rc=1; break; }
		prev=$(grep -c "ticket was made under the previous ticket key" "$W/ktlsd.log")
		t2=$(r_ms)
		got=$(r_sc "$v" -sess_in "$W/sess")
		t3=$(r_ms)
		echo "attempt $attempt: ticket made at $((t0 % (R_ROT * 1000))) ms into period $k, used $((t2 - t0)) ms later in period $((t2 / 1000 / R_ROT)): $got"
		if [ $((t2 / 1000 / R_ROT)) != $((k + 1)) ] ||
		   [ $((t3 - t0)) -ge $(((R_ROT - 1) * 1000)) ]; then
			echo "attempt $attempt: outside the claim; again"
			continue
		fi
		[ "$got" = "Reused, TLSv$v" ] || { echo "after one rotation: '$got'"; cat "$W/sc.out"; rc=1; }
		grep -aq "ktls resumption test file" "$W/sc.out" ||
			{ echo "after one rotation: the file did not arrive"; rc=1; }
		[ "$(grep -c "ticket was made under the previous ticket key" "$W/ktlsd.log")" -gt "$prev" ] ||
			{ echo "ktlsd did not log a ticket under the previous key"; rc=1; }
		ok=1
		break
	done
	[ $ok = 1 ] || { echo "no attempt made a ticket in one period and used it in the next"; rc=1; }
	if [ $ok = 1 ]; then
		# Two periods on: the previous key is gone.
		r_wait_rotations $((rot + 2)) || rc=1
		while [ $(($(date +%s) / R_ROT)) -lt $((k + 2)) ]; do
			sleep 0.1
		done
		got=$(r_sc "$v" -sess_in "$W/sess")
		echo "period $(($(date +%s) / R_ROT)), the ticket of period $k: $got"
		[ "$got" = "New, TLSv$v" ] || { echo "two periods on: '$got'"; cat "$W/sc.out"; rc=1; }
		grep -aq "ktls resumption test file" "$W/sc.out" ||
			{ echo "two periods on: the file did not arrive"; rc=1; }
	fi
	kill "$sp"
	wait "$sp" 2>/dev/null
	[ $rc = 0 ] || cat "$W/ks.err"
	return $rc
}

# A child killed in the middle of a handshake (the server stopped) costs
# that request only (ECONNABORTED 103); the cache still resumes.
r_child_death() {
	local rc=0 ep kids
	r_serve gnutls 1.3 || return 1
	"$T" resume "$PORT" localhost 1.3 0 none || rc=1
	kill -STOP "$serv_pid"
	"$T" expect "$PORT" localhost 103 &
	ep=$!
	kids=
	for _ in $(seq 100); do
		kids=$(pgrep -P "$ktlsd_pid")
		[ -n "$kids" ] && break
		sleep 0.1
	done
	[ -n "$kids" ] || { echo "no handshake child appeared"; rc=1; }
	sleep 0.5
	for k in $kids; do
		kill -9 "$k"
	done
	wait "$ep" || { echo "the killed handshake did not fail with ECONNABORTED"; rc=1; }
	kill -CONT "$serv_pid"
	wait_log "killed by signal 9" || rc=1
	"$T" resume "$PORT" localhost 1.3 1 echo || rc=1
	unserve
	return $rc
}

# A TLS server that speaks first, right after its handshake, while
# ktlsd's child may still wait for a session ticket: the greeting reaches
# the application through ktls (hs_test speakfirst).
r_speak_first() {	# VERSION MODE
	"$T" speakfirst "$W/srv.pem" "$W/srv.key" "$1" "$2" || return 1
	grep "stays in the socket for ktls" "$W/ktlsd.log" | tail -2
	return 0
}

# Medians of full (resumption = no) and resumed handshakes.
r_cheaper() {	# VERSION
	local v=$1 full res fm rm rn rc=0
	r_serve gnutls "$v" || return 1
	full=$(HS_PROFILE=norsm "$T" hstime "$PORT" localhost 21) || rc=1
	res=$("$T" hstime "$PORT" localhost 21) || rc=1
	unserve
	echo "full: $full; with resumption: $res"
	fm=${full#median_ms=}; fm=${fm%% *}
	rm=${res#median_ms=}; rm=${rm%% *}
	rn=${res#*resumed=}; rn=${rn%% *}
	echo "# resume TLS $v: median handshake $fm ms full, $rm ms resumed ($rn of 21 resumed)" >&"$R_OUT"
	[ "${full#*resumed=}" = "0 n=21" ] || { echo "resumption = no resumed"; rc=1; }
	[ "$rn" -ge 19 ] 2>/dev/null || { echo "only $rn of 21 resumed"; rc=1; }
	awk -v f="$fm" -v r="$rm" 'BEGIN { exit !(r + 0 < f + 0) }' ||
		{ echo "resumed is not faster"; rc=1; }
	return $rc
}

r_tests=(resume_check_bad resume_cache_protocol)
for v in 1.3 1.2; do
	r_tests+=("resume_client_gnutls_tls$v" "resume_client_name_tls$v"
		  "resume_client_off_tls$v" "resume_client_openssl_tls$v"
		  "resume_server_tls$v" "resume_cheaper_tls$v")
done
r_tests+=(resume_child_death speak_first_tls1.3_noticket
	  speak_first_tls1.3_ticketfirst speak_first_tls1.3_datafirst
	  speak_first_tls1.2_noticket speak_first_tls1.2_ticketfirst)
r_want=
for r_name in "${r_tests[@]}"; do
	case "$r_name" in *"$FILTER"*) r_want=1 ;; esac
done

# r_run NAME FUNC ARGS: t, or quietly when FILTER leaves NAME out
# (set-up and clean-up must run whenever a test of this file does).
r_run() {
	case "$1" in
	*"$FILTER"*) t "$@" ;;
	*) shift; "$@" >/dev/null 2>&1 ;;
	esac
}
r_restore() {
	cp "$W/ktlsd.conf.resume" "$W/ktlsd.conf" && ktlsd_sighup
}

if [ -n "$r_want" ]; then
	t resume_check_bad r_check_bad
	t resume_cache_protocol "$T" cacheproto
	r_run resume_setup r_setup
	for v in 1.3 1.2; do
		t "resume_client_gnutls_tls$v" r_client_gnutls "$v"
		t "resume_client_name_tls$v" r_client_name "$v"
		t "resume_client_off_tls$v" r_client_off "$v"
		t "resume_client_openssl_tls$v" r_client_openssl "$v"
		t "resume_server_tls$v" r_server "$v"
		t "resume_cheaper_tls$v" r_cheaper "$v"
	done
	t resume_child_death r_child_death
	for m in 1.3_noticket 1.3_ticketfirst 1.3_datafirst 1.2_noticket \
		 1.2_ticketfirst; do
		t "speak_first_tls$m" r_speak_first "${m%_*}" "${m#*_}"
	done
	r_run resume_restore r_restore
fi
exec {R_OUT}>&-
