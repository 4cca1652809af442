// SPDX-License-Identifier: GPL-2.0
/*
 * ktlsctl sockets - the TCP sockets that use ktls, from sock_diag.
 *
 * One inet_diag dump per address family, asking for INET_DIAG_INFO (the
 * kernel's struct tcp_info: bytes acknowledged and received) and getting,
 * for a caller with CAP_NET_ADMIN, INET_DIAG_ULP_INFO: the ULP's name and,
 * nested in INET_ULP_INFO_TLS, what kmod/diag.c reports (version, cipher,
 * TX and RX configuration, TLS_TX_ZEROCOPY_RO).  Sockets whose ULP is
 * "ktls" (or "tls", the name the drop-in mode answers to) are shown.
 *
 * The dump ends with NLMSG_DONE, whose payload is the dump's own status
 * (negative: the kernel gave up part-way); a reply bigger than the buffer
 * is an error (EMSGSIZE), not a silently shortened listing; and no receive
 * waits more than KTLSCTL_DIAG_WAIT_S for the kernel (ETIMEDOUT).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <linux/capability.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <linux/tls.h>

#include "ktlsctl.h"

static const char *prog = "ktlsctl";

#define KTLSCTL_DIAG_WAIT_S	10	/* the longest one receive may wait */

static bool has_net_admin(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data))
		return false;
	return data[CAP_NET_ADMIN / 32].effective &
	       (1U << (CAP_NET_ADMIN % 32));
}

static const char *const tcp_states[] = {
	"?", "ESTABLISHED", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1",
	"FIN-WAIT-2", "TIME-WAIT", "CLOSE", "CLOSE-WAIT", "LAST-ACK",
	"LISTEN", "CLOSING", "NEW-SYN-RECV",
};

static const char *conf_name(unsigned int c)
{
	switch (c) {
	case TLS_CONF_BASE:
		return "-";
	case TLS_CONF_SW:
		return "sw";
	case TLS_CONF_HW:
		return "hw";
	case TLS_CONF_HW_RECORD:
		return "hw-record";
	}
	return "?";
}

static void format_addr(char *buf, size_t size, int family,
			const __be32 *addr, __be16 port)
{
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(family, addr, ip, sizeof(ip));
	snprintf(buf, size, family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip,
		 ntohs(port));
}

struct tls_diag {
	char ulp[16];
	unsigned int version, cipher, txconf, rxconf;
	bool zc_ro_tx;
	struct tcp_info info;
	bool have_info;
};

static unsigned int attr_u16(const struct rtattr *a)
{
	uint16_t v = 0;

	if (RTA_PAYLOAD(a) >= sizeof(v))
		memcpy(&v, RTA_DATA(a), sizeof(v));
	return v;
}

static void parse_tls_info(const struct rtattr *nest, struct tls_diag *d)
{
	const struct rtattr *a;
	int len = RTA_PAYLOAD(nest);

	for (a = RTA_DATA(nest); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		switch (a->rta_type & NLA_TYPE_MASK) {
		case TLS_INFO_VERSION:
			d->version = attr_u16(a);
			break;
		case TLS_INFO_CIPHER:
			d->cipher = attr_u16(a);
			break;
		case TLS_INFO_TXCONF:
			d->txconf = attr_u16(a);
			break;
		case TLS_INFO_RXCONF:
			d->rxconf = attr_u16(a);
			break;
		case TLS_INFO_ZC_RO_TX:
			d->zc_ro_tx = true;
			break;
		}
	}
}

static void parse_ulp(const struct rtattr *nest, struct tls_diag *d)
{
	const struct rtattr *a;
	int len = RTA_PAYLOAD(nest);
	size_t n;

	for (a = RTA_DATA(nest); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		switch (a->rta_type & NLA_TYPE_MASK) {
		case INET_ULP_INFO_NAME:
			n = RTA_PAYLOAD(a);
			if (n >= sizeof(d->ulp))
				n = sizeof(d->ulp) - 1;
			memcpy(d->ulp, RTA_DATA(a), n);
			d->ulp[n] = '\0';
			break;
		case INET_ULP_INFO_TLS:
			parse_tls_info(a, d);
			break;
		}
	}
}

/* One inet_diag_msg: printed if its ULP is ktls's. Returns 1 if shown. */
static int show_socket(const struct nlmsghdr *h)
{
	const struct inet_diag_msg *m = NLMSG_DATA(h);
	char local[INET6_ADDRSTRLEN + 8], peer[INET6_ADDRSTRLEN + 8];
	struct tls_diag d = { .ulp = "" };
	const struct rtattr *a;
	int len = h->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
	size_t n;

	if (len < 0)
		return 0;
	for (a = (const struct rtattr *)(m + 1); RTA_OK(a, len);
	     a = RTA_NEXT(a, len)) {
		switch (a->rta_type) {
		case INET_DIAG_ULP_INFO:
			parse_ulp(a, &d);
			break;
		case INET_DIAG_INFO:
			n = RTA_PAYLOAD(a);
			if (n > sizeof(d.info))
				n = sizeof(d.info);
			memset(&d.info, 0, sizeof(d.info));
			memcpy(&d.info, RTA_DATA(a), n);
			d.have_info = true;
			break;
		}
	}
	if (strcmp(d.ulp, "ktls") && strcmp(d.ulp, "tls"))
		return 0;
	format_addr(local, sizeof(local), m->idiag_family, m->id.idiag_src,
		    m->id.idiag_sport);
	format_addr(peer, sizeof(peer), m->idiag_family, m->id.idiag_dst,
		    m->id.idiag_dport);
	printf("%-24s %-24s %-11s %-4s %-3s %-17s %-2s %-2s",
	       local, peer,
	       m->idiag_state < sizeof(tcp_states) / sizeof(tcp_states[0]) ?
	       tcp_states[m->idiag_state] : "?",
	       d.ulp, d.version ? ktlsctl_version_name(d.version) : "-",
	       d.version ? ktlsctl_cipher_name(d.cipher) : "-",
	       conf_name(d.txconf), conf_name(d.rxconf));
	if (d.have_info)
		printf(" %12llu %12llu",
		       (unsigned long long)d.info.tcpi_bytes_acked,
		       (unsigned long long)d.info.tcpi_bytes_received);
	else
		printf(" %12s %12s", "?", "?");
	printf("%s\n", d.zc_ro_tx ? " zerocopy-ro" : "");
	return 1;
}

/* Dump the TCP sockets of @family; print ktls's.  Returns the count or
 * -1 with errno set. */
static int dump_family(int nl, int family)
{
	struct {
		struct nlmsghdr h;
		struct inet_diag_req_v2 r;
	} req = {
		.h = {
			.nlmsg_len = sizeof(req),
			.nlmsg_type = SOCK_DIAG_BY_FAMILY,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			.nlmsg_seq = (unsigned int)family,
		},
		.r = {
			.sdiag_family = (unsigned char)family,
			.sdiag_protocol = IPPROTO_TCP,
			.idiag_ext = 1 << (INET_DIAG_INFO - 1),
			.idiag_states = ~0U,
		},
	};
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	static char buf[32768] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	const struct nlmsghdr *h;
	int count = 0, status;
	ssize_t len;

	if (sendto(nl, &req, sizeof(req), 0, (struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0)
		return -1;
	for (;;) {
		len = recvmsg(nl, &mh, 0);
		if (len < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				errno = ETIMEDOUT;	/* SO_RCVTIMEO */
			return -1;
		}
		if (mh.msg_flags & MSG_TRUNC) {
			errno = EMSGSIZE;
			return -1;
		}
		if (len == 0) {
			errno = EPROTO;
			return -1;
		}
		for (h = (const struct nlmsghdr *)buf; NLMSG_OK(h, len);
		     h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_seq != req.h.nlmsg_seq)
				continue;
			if (h->nlmsg_type == NLMSG_DONE) {
				if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(status))) {
					memcpy(&status, NLMSG_DATA(h),
					       sizeof(status));
					if (status < 0) {
						errno = -status;
						return -1;
					}
				}
				return count;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				errno = h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)) ?
					EPROTO : -e->error;
				return -1;
			}
			if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY)
				count += show_socket(h);
		}
	}
}

int ktlsctl_sockets(int argc, char **argv)
{
	static const int families[] = { AF_INET, AF_INET6 };
	struct timeval wait = { .tv_sec = KTLSCTL_DIAG_WAIT_S };
	int nl, ret = 1;
	size_t i;

	(void)argv;
	if (argc > 1)
		return ktlsctl_usage_error("sockets takes no arguments");
	if (!has_net_admin()) {
		fprintf(stderr, "%s: sockets: the kernel shows a socket's ULP and TLS details only to CAP_NET_ADMIN: run as root\n",
			prog);
		return 1;
	}
	/* A row at a time, also into a pipe or a file. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0) {
		fprintf(stderr, "%s: sock_diag socket: %s\n", prog,
			strerror(errno));
		return 1;
	}
	if (setsockopt(nl, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait))) {
		fprintf(stderr, "%s: sock_diag socket: SO_RCVTIMEO: %s\n", prog,
			strerror(errno));
		goto out;
	}
	printf("%-24s %-24s %-11s %-4s %-3s %-17s %-2s %-2s %12s %12s\n",
	       "LOCAL", "PEER", "STATE", "ULP", "TLS", "CIPHER", "TX", "RX",
	       "BYTES_ACKED", "BYTES_RECV");
	for (i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		if (dump_family(nl, families[i]) < 0) {
			fprintf(stderr, "%s: sock_diag dump of %s sockets: %s\n",
				prog, families[i] == AF_INET ? "IPv4" : "IPv6",
				strerror(errno));
			goto out;
		}
	}
	ret = 0;
out:
	close(nl);
	return ret;
}
