/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ktls - handshake upcall API for other kernel modules.
 *
 * A module that owns a connected TCP socket (with a file, as
 * sock_alloc_file() gives one) attaches the "ktls" ULP, then asks ktlsd to
 * perform the TLS handshake on it:
 *
 *	err = ktls_handshake_start(sock, &params);
 *
 * params.done(params.data, status, result) is called exactly once, in
 * process context, unless ktls_handshake_cancel() returned true first.  It
 * runs with none of ktls's locks and not the socket lock held, in one of
 * two places:
 *  - a work item of ktls's "ktls_hs" workqueue: the agent's DONE, the
 *    timeout, the agent's death, an ACCEPT that failed;
 *  - the release of the socket's last file reference (ktls_close(), from
 *    sock_close()), with status -ECANCELED: there the socket inode's lock
 *    is held, so the callback must not release the socket nor wait for
 *    anything that does.
 * status is 0 when both directions carry keys, or a negative errno (see
 * uapi/ktls_netlink.h for the values).  result is only valid during the
 * call, and its fields only with status 0.  The callback must not call
 * back into the handshake API for the same socket.
 *
 * The protocol with the agent is described in uapi/ktls_netlink.h.
 */
#ifndef _KTLS_HANDSHAKE_H
#define _KTLS_HANDSHAKE_H

#include <linux/types.h>
#include <linux/net.h>

#include <ktls_netlink.h>	/* uapi/ktls_netlink.h */

struct ktls_handshake_result {
	u16 version;			/* TLS_1_x_VERSION, status 0 only */
	u16 cipher;			/* TLS_CIPHER_* */
	bool resumed;
	char alpn[KTLS_HS_NAME_MAX];	/* "" when none */
	char peer[KTLS_HS_NAME_MAX];	/* "" when unknown */
};

struct ktls_handshake_params {
	u32 role;			/* KTLS_ROLE_CLIENT or _SERVER */
	u32 timeout_ms;			/* 0: KTLS_HS_TIMEOUT_DEFAULT_MS */
	const char *server_name;	/* may be NULL; as in the uapi */
	const char *profile;		/* may be NULL */
	const char *alpn;		/* may be NULL */
	void (*done)(void *data, int status,
		     const struct ktls_handshake_result *result);
	void *data;
};

/*
 * Queue a handshake for @sock.  Returns 0 (done() will follow, possibly
 * before this returns) or a negative errno and done() is never called:
 * -EINVAL (bad parameters, or the ULP is not attached), -EISCONN,
 * -EALREADY, -ECONNREFUSED, -EAGAIN (the socket's network namespace, or
 * the calling task's user unless it is the initial root, has too many
 * requests waiting), -EBADF (no file), -ENOMEM.
 */
int ktls_handshake_start(struct socket *sock,
			 const struct ktls_handshake_params *params);

/*
 * Withdraw the request of @sock.  True: it was cancelled and done() will
 * not be called.  False: there was none, or done() has run or is running.
 */
bool ktls_handshake_cancel(struct socket *sock);

#endif /* _KTLS_HANDSHAKE_H */
