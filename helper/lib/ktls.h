/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libktls - TLS on a TCP socket, handshake by ktlsd(8), records by
 * ktls.ko.
 *
 *	struct ktls_opts o = { .server_name = "example.org" };
 *	if (ktls_client_handshake(fd, &o))
 *		fprintf(stderr, "TLS: %s\n", ktls_strerror(errno));
 *	// fd now sends and receives plaintext; the kernel does the records
 *
 * Both calls attach the "ktls" ULP if needed and ask the kernel for a
 * handshake (SOL_TLS KTLS_HANDSHAKE, see <ktls_netlink.h>).  They return
 * 0 when the handshake is done and both directions carry keys, or -1 with
 * errno set.  A blocking socket waits; a non-blocking one fails with
 * EINPROGRESS at once: wait until poll() reports POLLOUT, then call
 * ktls_handshake_result().
 */
#ifndef LIBKTLS_H
#define LIBKTLS_H

#ifdef __cplusplus
extern "C" {
#endif

struct ktls_opts {
	const char *server_name;	/* client: SNI and name to verify */
	const char *profile;		/* ktlsd.conf profile; NULL: default */
	const char *alpn;		/* "h2,http/1.1"; NULL: none */
	unsigned int timeout_ms;	/* 0: the kernel's default (30 s) */
};

struct ktls_info {
	unsigned short version;		/* 0x0303 TLS 1.2, 0x0304 TLS 1.3 */
	unsigned short cipher;		/* TLS_CIPHER_* of <linux/tls.h> */
	int resumed;
	char alpn[256];
	char peer[256];
};

int ktls_client_handshake(int fd, const struct ktls_opts *opts);
int ktls_server_handshake(int fd, const struct ktls_opts *opts);

/* After a handshake: 0 and *info filled (info may be NULL) when it
 * succeeded; -1 with errno set to its error, or to EINPROGRESS while it
 * runs, or to ENOENT if none was requested. */
int ktls_handshake_result(int fd, struct ktls_info *info);

/* Like strerror(), with what each errno means for a handshake. */
const char *ktls_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* LIBKTLS_H */
