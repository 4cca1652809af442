// SPDX-License-Identifier: GPL-2.0
/*
 * ktls_util - common set-up of the ktls test programs (see ktls_util.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <linux/tls.h>

#include "ktls_util.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

void ku_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("FAIL: ", stdout);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	exit(1);
}

const char *ku_ulp_name(void)
{
	const char *u = getenv("KTLS_ULP");

	return u && *u ? u : "ktls";
}

bool ku_ulp_is_intree(void)
{
	return !strcmp(ku_ulp_name(), "tls");
}

const char *ku_stat_path(void)
{
	return ku_ulp_is_intree() ? "/proc/net/tls_stat" : "/proc/net/ktls_stat";
}

long ku_stat(const char *name)
{
	char key[64];
	long value, found = -1;
	FILE *f = fopen(ku_stat_path(), "re");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", key, &value) == 2)
		if (!strcmp(key, name))
			found = value;
	fclose(f);
	return found;
}

/* Close @fd keeping errno, so the caller sees the first failure. */
static void close_keep_errno(int fd)
{
	int saved = errno;

	if (fd >= 0)
		close(fd);
	errno = saved;
}

static int add_flags(int fd, int flags)
{
	int fl;

	if (flags & SOCK_NONBLOCK) {
		fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK))
			return -1;
	}
	if (flags & SOCK_CLOEXEC) {
		fl = fcntl(fd, F_GETFD);
		if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC))
			return -1;
	}
	return 0;
}

int ku_tcp_pair(int family, int flags, int *c, int *s)
{
	struct sockaddr_storage ss;
	socklen_t alen;
	int l;

	*c = *s = -1;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		alen = sizeof(*a);
	} else if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		alen = sizeof(*a);
	} else {
		errno = EAFNOSUPPORT;
		return -1;
	}
	if (flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK)) {
		errno = EINVAL;
		return -1;
	}

	l = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		return -1;
	if (bind(l, (struct sockaddr *)&ss, alen) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&ss, &alen))
		goto fail;
	*c = socket(family, SOCK_STREAM, 0);
	if (*c < 0 || connect(*c, (struct sockaddr *)&ss, alen))
		goto fail;
	*s = accept(l, NULL, NULL);
	if (*s < 0)
		goto fail;
	if (add_flags(*c, flags) || add_flags(*s, flags))
		goto fail;
	close(l);
	return 0;
fail:
	close_keep_errno(*s);
	close_keep_errno(*c);
	close_keep_errno(l);
	*c = *s = -1;
	return -1;
}

int ku_attach_ulp(int fd, const char *ulp)
{
	if (!ulp)
		ulp = ku_ulp_name();
	return setsockopt(fd, SOL_TCP, TCP_ULP, ulp, strlen(ulp));
}

int ku_set_crypto(int fd, int dir, const void *ci, size_t len)
{
	return setsockopt(fd, SOL_TLS, dir, ci, len);
}

int ku_tls_setup(int fd, const char *ulp, const void *tx, const void *rx,
		 size_t len)
{
	if (ku_attach_ulp(fd, ulp))
		return -1;
	if (tx && ku_set_crypto(fd, TLS_TX, tx, len))
		return -1;
	if (rx && ku_set_crypto(fd, TLS_RX, rx, len))
		return -1;
	return 0;
}

int ku_set_timeouts(int fd, unsigned int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		return -1;
	return 0;
}

ssize_t ku_write_all(int fd, const void *buf, size_t len, size_t *done)
{
	const unsigned char *p = buf;
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		n = send(fd, p + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		off += n;
	}
	if (done)
		*done = off;
	return off == len ? (ssize_t)len : -1;
}

ssize_t ku_read_all(int fd, void *buf, size_t len, size_t *done)
{
	unsigned char *p = buf;
	size_t off = 0;
	ssize_t n = 0;

	while (off < len) {
		n = recv(fd, p + off, len - off, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += n;
	}
	if (done)
		*done = off;
	return n < 0 ? -1 : (ssize_t)off;
}

int ku_read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

int ku_write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

ssize_t ku_recv_type(int fd, void *buf, size_t len, int flags, int *type)
{
	char cbuf[CMSG_SPACE(sizeof(unsigned char))];
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	ssize_t n;

	*type = -1;
	n = recvmsg(fd, &msg, flags);
	if (n < 0)
		return n;
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_TLS &&
		    cm->cmsg_type == TLS_GET_RECORD_TYPE)
			*type = *CMSG_DATA(cm);
	return n;
}
