/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * ktls - the handshake upcall: socket options and generic netlink protocol.
 *
 * ktls.ko does TLS records; the handshake runs in a userspace agent,
 * ktlsd(8), which installs the keys with SOL_TLS TLS_TX/TLS_RX when it is
 * done.  This header is the whole contract between the three parties:
 *
 *	application --setsockopt(KTLS_HANDSHAKE)--> ktls.ko
 *	ktls.ko --multicast KTLS_CMD_READY--> ktlsd
 *	ktlsd --KTLS_CMD_ACCEPT--> ktls.ko  (reply: a new fd for the socket
 *					     and the request's parameters)
 *	ktlsd: TLS handshake on that fd, setsockopt(TLS_TX), (TLS_RX)
 *	ktlsd --KTLS_CMD_DONE--> ktls.ko --> application wakes up
 *
 * Other kernel modules use ktls_handshake_start() (kmod/handshake.h)
 * instead of the socket option; the rest is the same.
 *
 * APPLICATION SIDE
 *
 * On a connected TCP socket with the ULP attached
 * (setsockopt(fd, SOL_TCP, TCP_ULP, "ktls", 4)) and no key installed:
 *
 *   setsockopt(fd, SOL_TLS, KTLS_HANDSHAKE, &req, sizeof(req))
 *	struct ktls_handshake_req below.  A blocking socket waits until the
 *	handshake ends and returns its result: 0 (keys installed in both
 *	directions) or the error.  With O_NONBLOCK it returns EINPROGRESS at
 *	once; poll() then reports nothing for the socket until the handshake
 *	has ended, and EPOLLOUT (at least) once it has; read the result with
 *	KTLS_HANDSHAKE_STATUS.  A signal interrupts a blocking wait with
 *	EINTR, and the handshake goes on as if the socket were non-blocking.
 *	Errors of the call itself:
 *	  EINVAL	wrong optlen, unknown role, flags or reserved not zero,
 *			a string not NUL-terminated or with characters outside
 *			its set, a timeout above KTLS_HS_TIMEOUT_MAX_MS
 *	  EALREADY	a handshake is already in progress on this socket
 *	  EISCONN	a key is already installed on the socket
 *	  ECONNREFUSED	no agent listens on the "handshake" multicast group
 *			(ktlsd is not running): fails at once
 *	  EAGAIN	too many requests wait for an agent: in the
 *			socket's network namespace (the module parameter
 *			handshake_max_pending, default 1024, counted in each
 *			namespace apart), or of the calling user (the
 *			effective uid, in all namespaces together:
 *			handshake_max_pending_user, default 256; the
 *			initial user namespace's root is not limited so).
 *			A request stops counting once an agent accepts it.
 *	  EBADF		the socket has no file (in-kernel sockets only)
 *	Results of the handshake (returned by a blocking call, or in
 *	ktls_handshake_status.error): 0, ETIMEDOUT (the timeout passed; if the
 *	agent had accepted the request the connection is aborted with a
 *	reset), ECONNABORTED (the agent died mid-handshake, or reported
 *	ECONNABORTED itself; the connection is aborted with a reset),
 *	EPROTO (the agent reported success without the keys in place),
 *	ECANCELED (the socket was closed first), or whatever errno
 *	the agent reports (ktlsd(8) lists them: EKEYEXPIRED for an expired
 *	certificate, EKEYREJECTED for an untrusted one, ...).  After a
 *	failure the stream may hold part of a handshake: close the socket.
 *
 *	While the handshake is in progress the socket belongs to the agent:
 *	send, recv, sendfile and splice by any other process fail with EBUSY,
 *	and so do the other SOL_TLS options.  Only the agent's process (the
 *	one that accepted the request) reads and writes the stream.  A close()
 *	before an agent accepted the request cancels it; after that the agent
 *	holds the socket too, so the request runs to its end (or its timeout)
 *	and the socket is released when the agent closes its descriptor.
 *
 *   getsockopt(fd, SOL_TLS, KTLS_HANDSHAKE_STATUS, &st, &len)
 *	struct ktls_handshake_status below; len must be at least its size.
 *	Works at any time, also from a process other than the requester.
 *
 * The option numbers sit at 0x4b00 ('K' << 8), far from mainline's SOL_TLS
 * options (1..5 in Linux 6.19), so that they never collide with a future
 * TLS_* number.
 *
 * GENERIC NETLINK FAMILY "ktls", version 1
 *
 * The family is per network namespace: an agent sees and accepts only the
 * requests of sockets in the namespace of its netlink socket, and only a
 * listener in that namespace counts as its agent.  The module is loaded
 * on demand when a process resolves the family (MODULE_ALIAS_GENL_FAMILY).
 * Every attribute of every command is checked by a policy, strictly: an
 * attribute a command does not take is rejected with EINVAL.  The family
 * runs its commands concurrently (parallel_ops) and never makes one wait
 * for an application's socket lock.
 *
 * Multicast group "handshake" (KTLS_GENL_MCGRP); joining it needs
 * CAP_NET_ADMIN in the user namespace that owns the socket's network
 * namespace (EPERM otherwise), so for the initial network namespace
 * CAP_NET_ADMIN in the initial user namespace:
 *   KTLS_CMD_READY	sent by the module each time a request is queued.
 *			Attributes: KTLS_A_ID.  It is a wake-up call, not an
 *			assignment: any agent may ACCEPT the request.
 * A user in a user and network namespace of its own may join there, which
 * makes its namespace's requests wait (up to their timeout) instead of
 * failing with ECONNREFUSED, but cannot serve them (below); those
 * requests count against that namespace's share only.
 *
 * Commands (both need CAP_NET_ADMIN in the initial user namespace, checked
 * as GENL_ADMIN_PERM does: the sender and the opener of its netlink
 * socket; EPERM otherwise, whatever namespace the socket is in):
 *   KTLS_CMD_ACCEPT	no attributes.  Takes the oldest request waiting in
 *			the caller's namespace (ENOENT if none), installs a
 *			new descriptor (O_CLOEXEC) for its socket in the
 *			caller's file table, and replies with KTLS_CMD_ACCEPT:
 *			  KTLS_A_ID, KTLS_A_FD, KTLS_A_ROLE, KTLS_A_TIMEOUT_MS
 *			  (what is left of the timeout), and when the requester
 *			  gave them KTLS_A_SERVER_NAME, KTLS_A_PROFILE,
 *			  KTLS_A_ALPN; then who asked: KTLS_A_UID, KTLS_A_GID,
 *			  KTLS_A_GROUPS, KTLS_A_NETNS, and KTLS_A_PID when
 *			  the requester is a process the agent can see.
 *			The agent decides with these whether the requester
 *			may use the profile it names (ktlsd.conf(5):
 *			allow_users, allow_groups); the kernel does not.
 *			From then on the caller's process is the request's
 *			agent: it alone may read and write the socket, and the
 *			request fails with ECONNABORTED if the netlink socket
 *			that sent ACCEPT is closed before DONE (the agent
 *			died).  Send ACCEPT from the process that will do
 *			the handshake.
 *   KTLS_CMD_DONE	reports the result.  Only the netlink socket that
 *			accepted the request may (ENOENT otherwise, also for a
 *			request already reported or finished).  DONE answers
 *			what it can decide without the socket's lock: EINVAL
 *			or ERANGE for its attributes, ENOENT as said; 0 means
 *			the report is taken, no second DONE is accepted for
 *			it, and the request no longer times out.  The request
 *			then finishes asynchronously, from a kernel work item
 *			that takes the socket's lock (an application holding
 *			it delays only its own result), unless the socket is
 *			closed first (ECANCELED).
 *			  KTLS_A_ID		required
 *			  KTLS_A_STATUS		required: 0 or a positive errno
 *			  KTLS_A_VERSION	required with status 0
 *			  KTLS_A_CIPHER		required with status 0
 *			  KTLS_A_ALPN		the protocol the peers agreed on
 *			  KTLS_A_PEER		the peer's identity (certificate
 *						subject or PSK identity)
 *			  KTLS_A_RESUMED	flag: the session was resumed
 *			With status 0 the socket must carry TLS_TX and TLS_RX
 *			keys of that version and cipher: otherwise the request
 *			fails with EPROTO, and the kernel log says so (DONE
 *			itself has returned 0 by then).  Status ECONNABORTED
 *			(the agent lost its handshake) also resets the
 *			connection, as the agent's death does.
 *
 * Attributes:
 *   KTLS_A_ID		u32, never 0: the request
 *   KTLS_A_FD		s32: the descriptor ACCEPT installed (reply only)
 *   KTLS_A_ROLE	u8: KTLS_ROLE_CLIENT or KTLS_ROLE_SERVER (reply only)
 *   KTLS_A_SERVER_NAME	NUL-terminated string, at most 255 bytes (reply only)
 *   KTLS_A_PROFILE	NUL-terminated string, at most 63 bytes (reply only)
 *   KTLS_A_ALPN	NUL-terminated string, at most 255 bytes: in the
 *			ACCEPT reply the comma-separated list the requester
 *			offers, in DONE the one protocol chosen
 *   KTLS_A_TIMEOUT_MS	u32 (reply only)
 *   KTLS_A_STATUS	u32, 0..4095
 *   KTLS_A_VERSION	u16: TLS_1_2_VERSION or TLS_1_3_VERSION
 *   KTLS_A_CIPHER	u16: TLS_CIPHER_*
 *   KTLS_A_PEER	NUL-terminated string, at most 255 bytes
 *   KTLS_A_RESUMED	flag
 *   KTLS_A_UID		u32 (reply only): the requester's fsuid
 *   KTLS_A_GID		u32 (reply only): the requester's fsgid
 *   KTLS_A_GROUPS	binary (reply only): its supplementary groups, an
 *			array of u32 in ascending order, at most
 *			KTLS_HS_GROUPS_MAX (the lowest ones when it has more;
 *			absent when it has none)
 *   KTLS_A_PID		u32 (reply only): the requester's process (thread
 *			group) id
 *   KTLS_A_NETNS	u32 (reply only): the inode number of the network
 *			namespace of the socket (what stat(2) shows for
 *			/proc/PID/ns/net); always the agent's own, since an
 *			agent accepts only its namespace's requests
 *
 * Who asked.  The ids are taken when the request is submitted: for
 * setsockopt(KTLS_HANDSHAKE), the calling thread's file-system uid and gid
 * (what the kernel checks file access with: the effective ids unless the
 * caller used setfsuid(2)) and supplementary groups, and its thread group;
 * for ktls_handshake_start() from a kernel module, the credentials of
 * whoever opened the socket's file (f_cred), and no KTLS_A_PID.  They are
 * mapped at ACCEPT into the user and pid namespaces of the process that
 * sends ACCEPT (as SCM_CREDENTIALS are for a receiver): a uid or gid with
 * no mapping there is KTLS_HS_ID_UNMAPPED, an unmapped group is left out
 * of KTLS_A_GROUPS, and a requester outside the agent's pid namespace
 * (or none) gets no KTLS_A_PID.  None of these may be sent by an agent:
 * ACCEPT takes no attribute and DONE rejects them (EINVAL).
 */
#ifndef _UAPI_KTLS_NETLINK_H
#define _UAPI_KTLS_NETLINK_H

#include <linux/types.h>

#define KTLS_GENL_NAME		"ktls"
#define KTLS_GENL_VERSION	1
#define KTLS_GENL_MCGRP		"handshake"

enum {
	KTLS_CMD_UNSPEC,
	KTLS_CMD_READY,
	KTLS_CMD_ACCEPT,
	KTLS_CMD_DONE,
	__KTLS_CMD_MAX,
};
#define KTLS_CMD_MAX		(__KTLS_CMD_MAX - 1)

enum {
	KTLS_A_UNSPEC,
	KTLS_A_ID,
	KTLS_A_FD,
	KTLS_A_ROLE,
	KTLS_A_SERVER_NAME,
	KTLS_A_PROFILE,
	KTLS_A_ALPN,
	KTLS_A_TIMEOUT_MS,
	KTLS_A_STATUS,
	KTLS_A_VERSION,
	KTLS_A_CIPHER,
	KTLS_A_PEER,
	KTLS_A_RESUMED,
	KTLS_A_UID,
	KTLS_A_GID,
	KTLS_A_GROUPS,
	KTLS_A_PID,
	KTLS_A_NETNS,
	__KTLS_A_MAX,
};
#define KTLS_A_MAX		(__KTLS_A_MAX - 1)

/* SOL_TLS options of the handshake upcall. */
#define KTLS_HANDSHAKE		0x4b00
#define KTLS_HANDSHAKE_STATUS	0x4b01

#define KTLS_ROLE_CLIENT	1
#define KTLS_ROLE_SERVER	2

#define KTLS_HS_NAME_MAX	256	/* server name, ALPN, peer: with NUL */
#define KTLS_HS_PROFILE_MAX	64	/* profile name, with NUL */
#define KTLS_HS_GROUPS_MAX	256	/* supplementary groups in ACCEPT */
#define KTLS_HS_ID_UNMAPPED	0xffffffffU	/* uid/gid with no mapping */
#define KTLS_HS_TIMEOUT_DEFAULT_MS	30000
#define KTLS_HS_TIMEOUT_MAX_MS		600000

/*
 * setsockopt(KTLS_HANDSHAKE).  Strings are NUL-terminated within their
 * field; an empty string means "none".
 *   server_name  client: the name sent in SNI and checked against the
 *                server's certificate; server: unused.  Letters, digits,
 *                '.', '-', '_', ':' (an address).
 *   profile      the ktlsd.conf profile to use; empty: "default".  Letters,
 *                digits, '.', '-', '_'.
 *   alpn         comma-separated protocols to offer (client) or accept
 *                (server), e.g. "h2,http/1.1": printable ASCII without
 *                spaces, no empty item.
 */
struct ktls_handshake_req {
	__u32 role;
	__u32 timeout_ms;	/* 0: KTLS_HS_TIMEOUT_DEFAULT_MS */
	__u32 flags;		/* must be 0 */
	__u32 reserved;		/* must be 0 */
	char server_name[KTLS_HS_NAME_MAX];
	char profile[KTLS_HS_PROFILE_MAX];
	char alpn[KTLS_HS_NAME_MAX];
};

enum {
	KTLS_HS_STATE_NONE,	/* no handshake was requested */
	KTLS_HS_STATE_PENDING,	/* waiting for an agent to accept it */
	KTLS_HS_STATE_RUNNING,	/* an agent is doing the handshake */
	KTLS_HS_STATE_DONE,	/* finished: see error */
};

#define KTLS_HS_F_RESUMED	(1U << 0)

/* getsockopt(KTLS_HANDSHAKE_STATUS) */
struct ktls_handshake_status {
	__u32 state;		/* KTLS_HS_STATE_* */
	__s32 error;		/* DONE: 0 or a positive errno */
	__u16 version;		/* DONE with error 0: TLS_1_x_VERSION */
	__u16 cipher;		/* and TLS_CIPHER_* */
	__u32 flags;		/* KTLS_HS_F_* */
	char alpn[KTLS_HS_NAME_MAX];	/* the protocol agreed on, or "" */
	char peer[KTLS_HS_NAME_MAX];	/* the peer's identity, or "" */
};

#endif /* _UAPI_KTLS_NETLINK_H */
