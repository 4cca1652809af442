/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ktls_util - the set-up every ktls test program repeats: a connected
 * loopback TCP pair, the ULP, the TX/RX keys, whole-buffer reads and
 * writes.
 *
 * Every function returns -1 with errno set on failure (nothing is
 * printed): the caller reports in its own way (a harness ASSERT, a diag
 * line, a fatal message).  The crypto info itself is filled by
 * cc_crypto_info_fill() (../crosscheck.h); these functions take it as
 * an opaque struct tls12_crypto_info_* of @len bytes.
 */
#ifndef KTLS_UTIL_H
#define KTLS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* For programs that stop at the first failure: prints "FAIL: " and the
 * message on stdout and exits with status 1. */
void ku_die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
						 noreturn));

/* $KTLS_ULP, or "ktls" when it is unset or empty. */
const char *ku_ulp_name(void);
/* Whether ku_ulp_name() is the in-tree module ("tls"). */
bool ku_ulp_is_intree(void);
/* The statistics file of ku_ulp_name(): /proc/net/ktls_stat, or the
 * in-tree module's /proc/net/tls_stat. */
const char *ku_stat_path(void);
/* One counter of that file (this network namespace); -1 when the file or
 * the name is absent. */
long ku_stat(const char *name);

/*
 * A connected loopback TCP pair of @family (AF_INET: 127.0.0.1, AF_INET6:
 * ::1): *@c connected, *@s accepted; the listener is closed again.
 * @flags (SOCK_CLOEXEC, SOCK_NONBLOCK) apply to both ends once connected.
 * On failure both are -1.
 */
int ku_tcp_pair(int family, int flags, int *c, int *s);

/* setsockopt(TCP_ULP) with @ulp, or ku_ulp_name() when @ulp is NULL. */
int ku_attach_ulp(int fd, const char *ulp);

/* setsockopt(SOL_TLS, @dir) with the @len-byte crypto info @ci. */
int ku_set_crypto(int fd, int dir, const void *ci, size_t len);

/*
 * Attach @ulp (as ku_attach_ulp) to @fd and install @tx as TLS_TX and @rx
 * as TLS_RX, both @len bytes; a NULL key is left out.
 */
int ku_tls_setup(int fd, const char *ulp, const void *tx, const void *rx,
		 size_t len);

/* SO_RCVTIMEO and SO_SNDTIMEO of @ms milliseconds. */
int ku_set_timeouts(int fd, unsigned int ms);

/*
 * send() all @len bytes (MSG_NOSIGNAL, EINTR retried).  Returns @len, or
 * -1 with errno; *@done (if not NULL) says how much went out either way.
 */
ssize_t ku_write_all(int fd, const void *buf, size_t len, size_t *done);

/*
 * recv() until @len bytes arrived or EOF (EINTR retried).  Returns the
 * count (less than @len only at EOF), or -1 with errno; *@done (if not
 * NULL) says how much arrived either way.
 */
ssize_t ku_read_all(int fd, void *buf, size_t len, size_t *done);

/*
 * recvmsg() of one record's data with room for its type: *@type is the
 * TLS_GET_RECORD_TYPE cmsg's value, or -1 when none came.  Returns what
 * recvmsg() returned (-1 with errno).
 */
/*
 * A small text file (/proc, /sys): its first line into @buf, newline
 * dropped; or @text written to it in one write.  0, or -1 with errno.
 */
int ku_read_text(const char *path, char *buf, size_t len);
int ku_write_text(const char *path, const char *text);

ssize_t ku_recv_type(int fd, void *buf, size_t len, int flags, int *type);

#endif /* KTLS_UTIL_H */
