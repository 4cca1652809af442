# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# tests.d/40-psk-crl-sni.sh - ktlsd's other credentials: external PSK,
# CRLs, the server certificate chosen by SNI, and how their failures are
# told apart.  Sourced by selftests/handshake/run; every test is named
# auth_*, so "run auth_" runs just these.
#
#   client role  hs_test (through ktlsd) against gnutls-serv --pskpasswd
#                or gnutls-serv with a revoked certificate
#   server role  a small Python server calls ktls_server_handshake() from
#                libktls.so with a profile, then echoes a line through
#                ktls; gnutls-cli (PSK, client certificates) and
#                openssl s_client (SNI) are its peers
#   ktlsd -n     every new configuration error, with its message
#
# The profiles are added to a copy of $W/ktlsd.conf with SIGHUP; the
# original comes back, with another SIGHUP, at the end.

# From selftests/handshake/run (see its comment above the loop that
# sources this file): its variables and functions, the files in $W.
kt_needs W T KTLSD REPO HERE FILTER t ktlsd_sighup die \
	"$W/ca.pem" "$W/srv.pem" "$W/srv.key" "$W/ktlsd.conf" "$W/ktlsd.log"
# Set by this file's test functions (each runs in a subshell) and read
# after them.
kt_keep AUTH_PORT auth_sp auth_mark_line

AUTH_TESTS="auth_check_ok auth_check_psk_world_readable auth_check_psk_bad_hex
auth_check_psk_short_key auth_check_psk_duplicate auth_check_psk_empty
auth_check_psk_no_colon auth_check_psk_long_identity auth_check_psk_long_line
auth_check_psk_not_file auth_check_psk_missing auth_check_psk_identity_colon
auth_check_cert_empty auth_check_cert_too_many
auth_check_psk_identity_missing auth_check_psk_identity_without_file
auth_check_crl_garbage auth_check_crl_foreign_ca auth_check_crl_no_trust
auth_check_cert_key_pairs auth_reload
auth_psk_client_tls1.3 auth_psk_client_tls1.2
auth_psk_client_unknown_identity auth_psk_client_wrong_key
auth_psk_client_vs_ktlsd_unknown_identity auth_psk_client_vs_ktlsd_wrong_key
auth_psk_server_tls1.3 auth_psk_server_tls1.2 auth_psk_server_with_cert
auth_psk_server_unknown_identity auth_psk_server_wrong_key
auth_crl_client_revoked auth_crl_client_good auth_crl_client_without_crl
auth_crl_server_revoked_client auth_crl_server_good_client
auth_sni_a auth_sni_b auth_sni_none auth_sni_unknown auth_restore"

case "$AUTH_TESTS" in
*"$FILTER"*)
A=$W/auth
mkdir -p "$A"
AUTH_PORT=4700
auth_sp=

# ---- credentials: a CA that may sign CRLs, its certificates, PSKs ----
auth_cert() {	# NAME CN
	certtool --generate-privkey --key-type=ecdsa --outfile "$A/$1.key" \
		2>/dev/null
	printf 'cn = "%s"\ndns_name = "%s"\ntls_www_server\ntls_www_client\nsigning_key\nexpiration_days = 10\n' \
		"$2" "$2" >"$A/$1.tmpl"
	certtool --generate-certificate --load-privkey "$A/$1.key" \
		--load-ca-certificate "$A/ca.pem" --load-ca-privkey "$A/ca.key" \
		--template "$A/$1.tmpl" --outfile "$A/$1.pem" 2>/dev/null
}
certtool --generate-privkey --key-type=ecdsa --outfile "$A/ca.key" 2>/dev/null
printf 'cn = "ktls auth test CA"\nca\ncert_signing_key\ncrl_signing_key\nexpiration_days = 30\n' \
	>"$A/ca.tmpl"
certtool --generate-self-signed --load-privkey "$A/ca.key" \
	--template "$A/ca.tmpl" --outfile "$A/ca.pem" 2>/dev/null
auth_cert good localhost
auth_cert revoked localhost
auth_cert sni_a a.example
auth_cert sni_b b.example
printf 'crl_next_update = 30\ncrl_number = 7\n' >"$A/crl.tmpl"
certtool --generate-crl --load-ca-privkey "$A/ca.key" \
	--load-ca-certificate "$A/ca.pem" --load-certificate "$A/revoked.pem" \
	--template "$A/crl.tmpl" --outfile "$A/crl.pem" 2>/dev/null
# A CRL signed by a CA that the profiles do not trust.
certtool --generate-privkey --key-type=ecdsa --outfile "$A/ca2.key" \
	2>/dev/null
certtool --generate-self-signed --load-privkey "$A/ca2.key" \
	--template "$A/ca.tmpl" --outfile "$A/ca2.pem" 2>/dev/null
certtool --generate-crl --load-ca-privkey "$A/ca2.key" \
	--load-ca-certificate "$A/ca2.pem" --template "$A/crl.tmpl" \
	--outfile "$A/crl2.pem" 2>/dev/null
# psktool's format, identity:hexkey.  "psk" is the servers' and the
# clients'; "psk.wrong" gives alice another key; "psk.bob" knows bob,
# whom no server knows.
psktool -u alice -p "$A/psk" >/dev/null
psktool -u carol -p "$A/psk" >/dev/null
psktool -u alice -p "$A/psk.wrong" >/dev/null
psktool -u bob -p "$A/psk.bob" >/dev/null
ALICE_KEY=$(sed -n 's/^alice://p' "$A/psk")
WRONG_KEY=$(sed -n 's/^alice://p' "$A/psk.wrong")
# ktlsd reads these as nobody after a SIGHUP.
chmod 755 "$W" "$A"
chmod 644 "$A"/*.key
chown nobody "$A"/psk*
chmod 600 "$A"/psk*
[ -s "$A/crl.pem" ] && [ -s "$A/sni_b.pem" ] && [ -n "$ALICE_KEY" ] &&
	[ "$ALICE_KEY" != "$WRONG_KEY" ] ||
	die "certtool or psktool cannot make the auth_ credentials"

# ---- ktlsd -n: each configuration error names its cause ----
# auth_conf NAME BODY: a configuration of one profile, BODY its lines.
auth_conf() {
	printf '[profile default]\ntrust = %s\n%b' "$A/ca.pem" "$2" \
		>"$A/$1.conf"
}
# auth_check_bad NAME TEXT: ktlsd -n refuses $A/NAME.conf saying TEXT.
auth_check_bad() {
	if "$KTLSD" -n -c "$A/$1.conf" >"$A/check.out" 2>&1; then
		echo "ktlsd -n accepted $1.conf"
		return 1
	fi
	grep -qF -- "$2" "$A/check.out" && return 0
	echo "no '$2' in:"
	cat "$A/check.out"
	return 1
}
auth_conf all "certificate = $A/sni_a.pem\nkey = $A/sni_a.key\ncertificate = $A/sni_b.pem\nkey = $A/sni_b.key\ncrl = $A/crl.pem\npsk_file = $A/psk\npsk_identity = alice\n"
t auth_check_ok "$KTLSD" -n -c "$A/all.conf"

# The bad PSK files are private, so that only their fault shows.
umask_was=$(umask)
umask 077
cp "$A/psk" "$A/psk.open"
chmod 644 "$A/psk.open"
auth_conf psk_open "psk_file = $A/psk.open\n"
t auth_check_psk_world_readable auth_check_bad psk_open \
	"psk_file $A/psk.open has mode 0644: its keys are secret"

printf 'carol:%s\n\n# comment\nalice:%sx\n' "$ALICE_KEY" "$ALICE_KEY" \
	>"$A/psk.hex"
auth_conf psk_hex "psk_file = $A/psk.hex\n"
t auth_check_psk_bad_hex auth_check_bad psk_hex \
	"$A/psk.hex:4: the key of 'alice' is not an even number of hex digits"

printf 'alice:00112233445566778899aabbccddee\n' >"$A/psk.short"
auth_conf psk_short "psk_file = $A/psk.short\n"
t auth_check_psk_short_key auth_check_bad psk_short \
	"$A/psk.short:1: the key of 'alice' has 15 bytes; 16 to 64 are allowed"

printf 'alice:%s\nalice:%s\n' "$ALICE_KEY" "$WRONG_KEY" >"$A/psk.dup"
auth_conf psk_dup "psk_file = $A/psk.dup\n"
t auth_check_psk_duplicate auth_check_bad psk_dup \
	"$A/psk.dup:2: identity 'alice' listed twice"

printf '# nothing\n' >"$A/psk.empty"
auth_conf psk_empty "psk_file = $A/psk.empty\n"
t auth_check_psk_empty auth_check_bad psk_empty \
	"psk_file $A/psk.empty has no identity:hexkey line"

printf '%s\n' "$ALICE_KEY" >"$A/psk.nocolon"
auth_conf psk_nocolon "psk_file = $A/psk.nocolon\n"
t auth_check_psk_no_colon auth_check_bad psk_nocolon \
	"$A/psk.nocolon:1: expected identity:hexkey"

printf '%0129d:%s\n' 0 "$ALICE_KEY" >"$A/psk.longid"
auth_conf psk_longid "psk_file = $A/psk.longid\n"
t auth_check_psk_long_identity auth_check_bad psk_longid \
	"$A/psk.longid:1: identity longer than 128 bytes"

printf 'alice:%0400d\n' 0 >"$A/psk.longline"
auth_conf psk_longline "psk_file = $A/psk.longline\n"
t auth_check_psk_long_line auth_check_bad psk_longline \
	"$A/psk.longline:1: line too long"
umask "$umask_was"

mkdir -p "$A/psk.dir"
chmod 700 "$A/psk.dir"
auth_conf psk_dir "psk_file = $A/psk.dir\n"
t auth_check_psk_not_file auth_check_bad psk_dir \
	"psk_file $A/psk.dir is not a regular file"

auth_conf psk_missing "psk_file = $A/psk.missing\n"
t auth_check_psk_missing auth_check_bad psk_missing \
	"cannot open psk_file $A/psk.missing: No such file or directory"

auth_conf psk_idcolon "psk_file = $A/psk\npsk_identity = a:b\n"
t auth_check_psk_identity_colon auth_check_bad psk_idcolon \
	"psk_idcolon.conf:4: psk_identity: 1 to 128 bytes, no ':'"

auth_conf cert_empty "certificate =\n"
t auth_check_cert_empty auth_check_bad cert_empty \
	"cert_empty.conf:3: certificate: empty path"

auth_conf cert_many "$(for _ in 1 2 3 4 5 6 7 8 9; do
	printf 'certificate = %s\\nkey = %s\\n' "$A/sni_a.pem" "$A/sni_a.key"
done)"
t auth_check_cert_too_many auth_check_bad cert_many \
	"cert_many.conf:19: more than 8 certificate lines in profile default"

auth_conf psk_noid "psk_file = $A/psk\npsk_identity = dave\n"
t auth_check_psk_identity_missing auth_check_bad psk_noid \
	"psk_identity 'dave' is not in $A/psk"

auth_conf psk_nofile "psk_identity = alice\n"
t auth_check_psk_identity_without_file auth_check_bad psk_nofile \
	"psk_identity needs a psk_file"

printf 'not a CRL\n' >"$A/garbage.crl"
auth_conf crl_garbage "crl = $A/garbage.crl\n"
t auth_check_crl_garbage auth_check_bad crl_garbage \
	"cannot load CRL file $A/garbage.crl"

auth_conf crl_foreign "crl = $A/crl2.pem\n"
t auth_check_crl_foreign_ca auth_check_bad crl_foreign \
	"CRL 1 of $A/crl2.pem is not signed by a CA of the trust store"

printf '[profile default]\ntrust = none\ncrl = %s\n' "$A/crl.pem" \
	>"$A/crl_notrust.conf"
t auth_check_crl_no_trust auth_check_bad crl_notrust \
	"crl $A/crl.pem needs a trust store"

auth_conf pairs "certificate = $A/sni_a.pem\nkey = $A/sni_a.key\ncertificate = $A/sni_b.pem\n"
t auth_check_cert_key_pairs auth_check_bad pairs \
	"2 certificate lines but 1 key line; they go in pairs"

# ---- the profiles, in force after a SIGHUP ----
cp "$W/ktlsd.conf" "$A/ktlsd.conf.orig"
cat >>"$W/ktlsd.conf" <<EOF

# ---- added by tests.d/40-psk-crl-sni.sh ----
[profile auth_pskc]
psk_file = $A/psk
psk_identity = alice
trust = $W/ca.pem

[profile auth_pskc_bob]
psk_file = $A/psk.bob
psk_identity = bob
trust = $W/ca.pem

[profile auth_pskc_wrong]
psk_file = $A/psk.wrong
psk_identity = alice
trust = $W/ca.pem

[profile auth_psks]
psk_file = $A/psk
trust = none

[profile auth_psks_cert]
certificate = $W/srv.pem
key = $W/srv.key
psk_file = $A/psk
trust = $W/ca.pem

[profile auth_crlc]
trust = $A/ca.pem
crl = $A/crl.pem

[profile auth_nocrl]
trust = $A/ca.pem

[profile auth_crls]
certificate = $A/good.pem
key = $A/good.key
trust = $A/ca.pem
crl = $A/crl.pem
client_auth = required

[profile auth_sni]
certificate = $A/sni_a.pem
key = $A/sni_a.key
certificate = $A/sni_b.pem
key = $A/sni_b.key
trust = none
EOF
# Not through t, so that any FILTER gets the profiles, and the original
# back at the end.
ktlsd_sighup -k >"$A/reload.out" 2>&1
auth_reload_rc=$?
auth_reload() {
	cat "$A/reload.out"
	return "$auth_reload_rc"
}
t auth_reload auth_reload

# ---- client role: hs_test through ktlsd against gnutls-serv ----
# auth_gserv PRIORITY ARGS...: gnutls-serv --echo on $AUTH_PORT
auth_gserv() {
	local prio=$1
	shift
	AUTH_PORT=$((AUTH_PORT + 1))
	gnutls-serv --echo --noticket -q -p "$AUTH_PORT" --priority "$prio" \
		"$@" >"$A/gserv.log" 2>&1 &
	auth_sp=$!
	kt_wait_port "$AUTH_PORT" 10 2>/dev/null && return 0
	echo "gnutls-serv did not start: $(cat "$A/gserv.log")"
	return 1
}
auth_stop() {
	[ -n "$auth_sp" ] && kill "$auth_sp" 2>/dev/null
	[ -n "$auth_sp" ] && wait "$auth_sp" 2>/dev/null
	auth_sp=
}
# auth_mark: later auth_log calls look only at lines logged after it.
auth_mark() {
	auth_mark_line=$(wc -l <"$W/ktlsd.log")
}
auth_mark
# auth_log TEXT: ktlsd logged TEXT (a fixed string) since auth_mark.
auth_log() {
	local text=$1
	kt_wait_until 5 eval 'tail -n "+$((auth_mark_line + 1))" "$W/ktlsd.log" |
		grep -qF -- "$text"' 2>/dev/null && return 0
	echo "no '$1' in ktlsd's log since the test began; its end:"
	tail -5 "$W/ktlsd.log"
	return 1
}
PSK12="NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+ECDHE-PSK:+DHE-PSK"
PSK13="NORMAL:-VERS-ALL:+VERS-TLS1.3:+ECDHE-PSK:+DHE-PSK"

# auth_psk_client VERSION: 256 kB echoed through ktls after a PSK
# handshake; gnutls-serv has no certificate, so only the PSK can work.
auth_psk_client() {
	local rc=0 prio=$PSK13
	[ "$1" = 1.2 ] && prio=$PSK12
	auth_gserv "$prio" --pskpasswd "$A/psk" || return 1
	HS_PROFILE=auth_pskc "$T" client "$AUTH_PORT" localhost "$1" 0 || rc=1
	auth_stop
	return $rc
}
t auth_psk_client_tls1.3 auth_psk_client 1.3
t auth_psk_client_tls1.2 auth_psk_client 1.2

# auth_client_expect PROFILE ERRNO TEXT SERVER-ARGS...
auth_client_expect() {
	local profile=$1 err=$2 text=$3 rc=0
	shift 3
	auth_mark
	auth_gserv "$@" || return 1
	HS_PROFILE=$profile "$T" expect "$AUTH_PORT" localhost "$err" || rc=1
	auth_stop
	auth_log "profile $profile, server localhost): $text" || rc=1
	return $rc
}
# gnutls-serv gives an unknown identity a random key, so the client
# cannot tell it from a wrong key: both are EBADE (52), for both versions.
auth_psk_client_bad() {	# PROFILE
	auth_client_expect "$1" 52 "PSK refused" "$PSK13" \
		--pskpasswd "$A/psk" &&
		auth_client_expect "$1" 52 "PSK refused" "$PSK12" \
			--pskpasswd "$A/psk"
}
t auth_psk_client_unknown_identity auth_psk_client_bad auth_pskc_bob
t auth_psk_client_wrong_key auth_psk_client_bad auth_pskc_wrong

# ---- server role: ktls_server_handshake() from Python ----
cat >"$A/server.py" <<'EOF'
# server.py LIBKTLS PORT PROFILE: one connection; a ktls server handshake
# through ktlsd with PROFILE, then "ktls:" + the client's first line back
# through ktls.  Prints "errno N" if the handshake fails (exit 3), else
# the version and the peer that ktls_handshake_result() reports.
import os, socket, sys
import libktls  # selftests/handshake/libktls.py, on PYTHONPATH

lib = libktls.Lib(sys.argv[1])
l = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
l.bind(("::", int(sys.argv[2])))
l.listen(1)
c, _ = l.accept()
e = lib.server_handshake(c.fileno(), profile=sys.argv[3], timeout_ms=20000)
if e:
    print("errno %d (%s)" % (e, os.strerror(e)), flush=True)
    sys.exit(3)
e, info = lib.handshake_result(c.fileno())
if e:
    print("result errno %d" % e, flush=True)
    sys.exit(4)
print("handshake done: version %#x peer '%s'" %
      (info.version, info.peer.decode()), flush=True)
line = b""
while not line.endswith(b"\n"):
    got = c.recv(4096)
    if not got:
        break
    line += got
print("got %r" % line, flush=True)
c.sendall(b"ktls:" + line)
c.close()
EOF
# auth_pyserv PROFILE: server.py on $AUTH_PORT, its output in $A/py.out
auth_pyserv() {
	AUTH_PORT=$((AUTH_PORT + 1))
	PYTHONPATH=$HERE PYTHONDONTWRITEBYTECODE=1 \
	timeout 60 /usr/bin/python3 "$A/server.py" \
		"$REPO/helper/lib/libktls.so" "$AUTH_PORT" "$1" \
		>"$A/py.out" 2>&1 &
	auth_sp=$!
	kt_wait_port "$AUTH_PORT" 10 2>/dev/null && return 0
	echo "server.py did not start: $(cat "$A/py.out")"
	return 1
}
# auth_pywait: the server's exit status; its output is shown.
auth_pywait() {
	local rc
	wait "$auth_sp"
	rc=$?
	auth_sp=
	sed 's/^/server.py: /' "$A/py.out"
	return $rc
}
# auth_line OUT LINE: for a client's stdin: LINE, then nothing until OUT
# (the client's output, emptied by the caller first) holds the server's
# answer "ktls:LINE", or 20 s have passed (AUTH_WAIT tenths of a second:
# 3 s where no answer is expected).  A fixed wait lost the answer on a
# slow run.
auth_line() {
	local tenths=${AUTH_WAIT:-200}
	printf '%s\n' "$2"
	kt_wait_until "$((tenths / 10)).$((tenths % 10))" \
		grep -q "ktls:$2" "$1" 2>/dev/null
	return 0
}

# auth_cli OUT ARGS...: gnutls-cli to $AUTH_PORT sending one line, and
# staying until the answer came.
auth_cli() {
	local out=$1
	shift
	: >"$out"
	auth_line "$out" "ping-$AUTH_PORT" |
		timeout 30 gnutls-cli -p "$AUTH_PORT" "$@" >"$out" 2>&1
}

# auth_psk_server PROFILE VERSION: alice's PSK; a line each way.  TLS 1.2
# uses openssl s_client: Debian 12's gnutls-cli crashes after a TLS 1.2
# PSK handshake (in gnutls_psk_server_get_username()).
auth_psk_server() {
	local rc=0 want=0x304
	auth_pyserv "$1" || return 1
	if [ "$2" = 1.3 ]; then
		auth_cli "$A/cli.out" localhost --pskusername alice \
			--pskkey "$ALICE_KEY" --priority "$PSK13"
	else
		want=0x303
		: >"$A/cli.out"
		auth_line "$A/cli.out" "ping-$AUTH_PORT" |
			timeout 30 openssl s_client -quiet -tls1_2 \
			-connect "127.0.0.1:$AUTH_PORT" -psk_identity alice \
			-psk "$ALICE_KEY" \
			-cipher ECDHE-PSK-CHACHA20-POLY1305:DHE-PSK-AES128-GCM-SHA256 \
			>"$A/cli.out" 2>&1
	fi
	auth_pywait || rc=1
	grep -q "version $want peer 'psk:alice'" "$A/py.out" || rc=1
	grep -q "ktls:ping-$AUTH_PORT" "$A/cli.out" || {
		echo "the client did not get the line back:"
		cat "$A/cli.out"
		rc=1
	}
	return $rc
}
t auth_psk_server_tls1.3 auth_psk_server auth_psks 1.3
t auth_psk_server_tls1.2 auth_psk_server auth_psks 1.2
t auth_psk_server_with_cert auth_psk_server auth_psks_cert 1.3

# auth_server_expect PROFILE ERRNO TEXT CLIENT-ARGS...: the server's
# handshake fails with ERRNO, ktlsd logs TEXT.
auth_server_expect() {
	local profile=$1 err=$2 text=$3 rc=0
	shift 3
	auth_mark
	auth_pyserv "$profile" || return 1
	AUTH_WAIT=30 auth_cli "$A/cli.out" "$@"
	auth_pywait
	grep -q "^errno $err " "$A/py.out" || {
		echo "want errno $err"
		rc=1
	}
	auth_log "$text" || rc=1
	return $rc
}
# ESRCH 3: an identity not in psk_file, in both versions.
auth_psk_server_unknown() {
	auth_server_expect auth_psks 3 "unknown PSK identity 'mallory'" \
		localhost --pskusername mallory --pskkey "$ALICE_KEY" \
		--priority "$PSK13" &&
		auth_server_expect auth_psks 3 "unknown PSK identity 'mallory'" \
			localhost --pskusername mallory --pskkey "$ALICE_KEY" \
			--priority "$PSK12"
}
t auth_psk_server_unknown_identity auth_psk_server_unknown
# EBADE 52: a known identity with another key, in both versions.
auth_psk_server_wrong() {
	auth_server_expect auth_psks 52 "profile auth_psks): PSK refused" \
		localhost --pskusername alice --pskkey "$WRONG_KEY" \
		--priority "$PSK13" &&
		auth_server_expect auth_psks 52 "profile auth_psks): PSK refused" \
			localhost --pskusername alice --pskkey "$WRONG_KEY" \
			--priority "$PSK12"
}
t auth_psk_server_wrong_key auth_psk_server_wrong

# Both ends through ktlsd, which tells the client: an unknown identity
# is ESRCH on both sides (the unknown_psk_identity alert), a wrong key
# EBADE on both.
auth_psk_both() {	# CLIENT-PROFILE ERRNO TEXT
	local rc=0
	auth_mark
	auth_pyserv auth_psks || return 1
	HS_PROFILE=$1 "$T" expect "$AUTH_PORT" localhost "$2" || rc=1
	auth_pywait
	grep -q "^errno $2 " "$A/py.out" || rc=1
	auth_log "(server, profile auth_psks): $3" || rc=1
	auth_log "(client, profile $1, server localhost): $3" || rc=1
	return $rc
}
t auth_psk_client_vs_ktlsd_unknown_identity auth_psk_both auth_pskc_bob 3 \
	"unknown PSK identity"
t auth_psk_client_vs_ktlsd_wrong_key auth_psk_both auth_pskc_wrong 52 \
	"PSK refused"

# ---- CRLs ----
# EKEYREVOKED 128: the server's certificate is in the client's CRL.
t auth_crl_client_revoked auth_client_expect auth_crlc 128 \
	"certificate revoked" NORMAL --x509certfile "$A/revoked.pem" \
	--x509keyfile "$A/revoked.key"
auth_client_ok() {	# PROFILE CERT
	local rc=0
	auth_gserv NORMAL --x509certfile "$A/$2.pem" \
		--x509keyfile "$A/$2.key" || return 1
	HS_PROFILE=$1 "$T" client "$AUTH_PORT" localhost 0 0 || rc=1
	auth_stop
	return $rc
}
# The same CA's other certificate passes the same CRL, and without the
# CRL the revoked certificate passes: the CRL is what refused it.
t auth_crl_client_good auth_client_ok auth_crlc good
t auth_crl_client_without_crl auth_client_ok auth_nocrl revoked

# client_auth = required: the client's certificate is in the CRL.
t auth_crl_server_revoked_client auth_server_expect auth_crls 128 \
	"profile auth_crls): certificate revoked" localhost \
	--x509cafile "$A/ca.pem" --x509certfile "$A/revoked.pem" \
	--x509keyfile "$A/revoked.key"
auth_crl_server_good() {
	local rc=0
	auth_pyserv auth_crls || return 1
	auth_cli "$A/cli.out" localhost --x509cafile "$A/ca.pem" \
		--x509certfile "$A/good.pem" --x509keyfile "$A/good.key"
	auth_pywait || rc=1
	grep -q "ktls:ping-$AUTH_PORT" "$A/cli.out" || {
		cat "$A/cli.out"
		rc=1
	}
	return $rc
}
t auth_crl_server_good_client auth_crl_server_good

# ---- SNI: two pairs; the name picks one, no or an unknown name the first
auth_sni() {	# WANT_CN S_CLIENT_ARGS...
	local want=$1 rc=0
	shift
	auth_pyserv auth_sni || return 1
	: >"$A/sc.out"
	auth_line "$A/sc.out" ping |
		timeout 30 openssl s_client -connect "127.0.0.1:$AUTH_PORT" \
			"$@" >"$A/sc.out" 2>&1
	auth_pywait || rc=1
	grep -q "^subject=CN *= *$want\$" "$A/sc.out" || {
		echo "want subject CN $want:"
		grep "subject=" "$A/sc.out"
		rc=1
	}
	grep -q "ktls:ping" "$A/sc.out" || rc=1
	return $rc
}
t auth_sni_a auth_sni a.example -servername a.example
t auth_sni_b auth_sni b.example -servername b.example
t auth_sni_none auth_sni a.example -noservername
t auth_sni_unknown auth_sni a.example -servername c.example

# ---- the original configuration again ----
cp "$A/ktlsd.conf.orig" "$W/ktlsd.conf"
ktlsd_sighup -k >"$A/restore.out" 2>&1
auth_restore_rc=$?
auth_restore() {
	cat "$A/restore.out"
	return "$auth_restore_rc"
}
t auth_restore auth_restore
;;
esac
