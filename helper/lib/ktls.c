// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libktls - the application's side of the handshake upcall.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "ktls.h"
#include "ktls_netlink.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

static int copy_str(char *dst, size_t size, const char *src)
{
	if (!src)
		return 0;
	if (strlen(src) >= size) {
		errno = EINVAL;
		return -1;
	}
	strcpy(dst, src);
	return 0;
}

static int handshake(int fd, unsigned int role, const struct ktls_opts *o)
{
	struct ktls_handshake_req req;
	static const struct ktls_opts none;

	if (!o)
		o = &none;
	memset(&req, 0, sizeof(req));
	req.role = role;
	req.timeout_ms = o->timeout_ms;
	if (copy_str(req.server_name, sizeof(req.server_name),
		     o->server_name) ||
	    copy_str(req.profile, sizeof(req.profile), o->profile) ||
	    copy_str(req.alpn, sizeof(req.alpn), o->alpn))
		return -1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_ULP, "ktls", 4) &&
	    errno != EEXIST)
		return -1;
	return setsockopt(fd, SOL_TLS, KTLS_HANDSHAKE, &req, sizeof(req));
}

int ktls_client_handshake(int fd, const struct ktls_opts *opts)
{
	return handshake(fd, KTLS_ROLE_CLIENT, opts);
}

int ktls_server_handshake(int fd, const struct ktls_opts *opts)
{
	return handshake(fd, KTLS_ROLE_SERVER, opts);
}

int ktls_handshake_result(int fd, struct ktls_info *info)
{
	struct ktls_handshake_status st;
	socklen_t len = sizeof(st);

	if (getsockopt(fd, SOL_TLS, KTLS_HANDSHAKE_STATUS, &st, &len))
		return -1;
	switch (st.state) {
	case KTLS_HS_STATE_NONE:
		errno = ENOENT;
		return -1;
	case KTLS_HS_STATE_PENDING:
	case KTLS_HS_STATE_RUNNING:
		errno = EINPROGRESS;
		return -1;
	}
	if (st.error) {
		errno = st.error;
		return -1;
	}
	if (info) {
		memset(info, 0, sizeof(*info));
		info->version = st.version;
		info->cipher = st.cipher;
		info->resumed = !!(st.flags & KTLS_HS_F_RESUMED);
		memcpy(info->alpn, st.alpn, sizeof(info->alpn));
		info->alpn[sizeof(info->alpn) - 1] = '\0';
		memcpy(info->peer, st.peer, sizeof(info->peer));
		info->peer[sizeof(info->peer) - 1] = '\0';
	}
	return 0;
}

const char *ktls_strerror(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return "no handshake agent: is ktlsd running?";
	case EAGAIN:
		return "too many handshakes waiting for ktlsd";
	case ETIMEDOUT:
		return "handshake timed out";
	case ECONNABORTED:
		return "ktlsd died during the handshake";
	case ECANCELED:
		return "handshake cancelled: the socket was closed";
	case EALREADY:
		return "a handshake is already in progress on this socket";
	case EISCONN:
		return "the socket already carries TLS keys";
	case ENOENT:
		return "no such profile in ktlsd.conf, or the ktls ULP is missing";
	case EKEYEXPIRED:
		return "certificate expired";
	case ETIME:
		return "certificate not valid yet: check the clock";
	case EACCES:
		return "certificate does not match the server name, or this user may not use the ktlsd profile";
	case EDESTADDRREQ:
		return "no server name given, and the ktlsd profile requires one";
	case EKEYREJECTED:
		return "certificate issuer unknown or self-signed";
	case ENOKEY:
		return "certificate issuer not found: missing intermediate or unknown CA";
	case EKEYREVOKED:
		return "certificate revoked";
	case ESRCH:
		return "unknown PSK identity";
	case EBADE:
		return "PSK refused: wrong key, or an identity the server lacks";
	case EBADMSG:
		return "certificate refused";
	case EPROTONOSUPPORT:
		return "no TLS version both sides accept";
	case EOPNOTSUPP:
		return "no cipher suite both sides accept";
	case ECONNRESET:
		return "the peer closed the connection during the handshake";
	case EPROTO:
		return "TLS handshake failed (see ktlsd's log)";
	default:
		return strerror(err);
	}
}
