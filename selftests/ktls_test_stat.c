// SPDX-License-Identifier: GPL-2.0
/*
 * ktls_test: statistics and sock_diag.
 *
 * /proc/net/ktls_stat (or, in-tree, tls_stat) per network namespace, the
 * key and decryption-error counters, and INET_DIAG_ULP_INFO.
 *
 * Part of the ktls_test translation unit: ktls_test.c includes it after
 * ktls_test.h (see there why).
 */
#include "ktls_test.h"

/* ---- statistics: /proc/net/ktls_stat or, in-tree, /proc/net/tls_stat ---- */

static const char *const stat_names[] = {
	"TlsCurrTxSw", "TlsCurrRxSw", "TlsCurrTxDevice", "TlsCurrRxDevice",
	"TlsTxSw", "TlsRxSw", "TlsTxDevice", "TlsRxDevice",
	"TlsDecryptError", "TlsRxDeviceResync", "TlsDecryptRetry",
	"TlsRxNoPadViolation",
	/* Linux >= 6.14 and ktls; not in the 6.1 in-tree module */
	"TlsRxRekeyOk", "TlsRxRekeyError", "TlsTxRekeyOk", "TlsTxRekeyError",
	"TlsRxRekeyReceived",
};

#define STAT_NAMES_INTREE 12

enum {
	ST_CURR_TX, ST_CURR_RX, ST_CURR_TX_DEV, ST_CURR_RX_DEV,
	ST_TX, ST_RX, ST_TX_DEV, ST_RX_DEV,
	ST_DECRYPT_ERR, ST_RESYNC, ST_DECRYPT_RETRY, ST_NO_PAD,
	ST_RX_REKEY_OK, ST_RX_REKEY_ERR, ST_TX_REKEY_OK, ST_TX_REKEY_ERR,
	ST_RX_REKEY_RCVD,
	ST_NUM
};

/* The counters of this network namespace; -1 for a name not listed. */
static void stats_read(struct __test_metadata *_metadata, long *v)
{
	const char *path = ku_stat_path();
	char name[64];
	long val;
	FILE *f = fopen(path, "r");
	int i;

	ASSERT_NE(NULL, f) {
		TH_LOG("%s: %s", path, strerror(errno));
	}
	for (i = 0; i < ST_NUM; i++)
		v[i] = -1;
	while (fscanf(f, "%63s %ld", name, &val) == 2)
		for (i = 0; i < ST_NUM; i++)
			if (!strcmp(name, stat_names[i]))
				v[i] = val;
	fclose(f);
}

/* Every counter the ULP has must have moved by exactly @delta[i]. */
static void stats_expect(struct __test_metadata *_metadata,
			 const long *before, const long *delta)
{
	int n = ku_ulp_is_intree() ? STAT_NAMES_INTREE : ST_NUM;
	long now[ST_NUM];
	int i;

	stats_read(_metadata, now);
	for (i = 0; i < n; i++) {
		ASSERT_LE(0, before[i]) {
			TH_LOG("%s is missing", stat_names[i]);
		}
		EXPECT_EQ(before[i] + delta[i], now[i]) {
			TH_LOG("%s: %ld, expected %ld + %ld", stat_names[i],
			       now[i], before[i], delta[i]);
		}
	}
}

/* Move this process into a new network namespace with lo up. */
static void fresh_netns(struct __test_metadata *_metadata)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd;

	if (unshare(CLONE_NEWNET))
		SKIP(_exit(HARNESS_SKIP_EXIT), "unshare(CLONE_NEWNET): %s",
		     strerror(errno));
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ioctl(fd, SIOCGIFFLAGS, &ifr));
	ifr.ifr_flags |= IFF_UP;
	ASSERT_EQ(0, ioctl(fd, SIOCSIFFLAGS, &ifr));
	close(fd);
}

/* ---- sock_diag: INET_DIAG_ULP_INFO of one socket ------------------------- */

struct ulp_diag {
	bool found;		/* the socket was in the dump */
	char name[32];		/* INET_ULP_INFO_NAME, "" if none */
	bool tls;		/* INET_ULP_INFO_TLS present */
	int version, cipher;	/* -1 when absent */
	int txconf, rxconf;
};

static void diag_parse_tls(struct ulp_diag *d, struct rtattr *rta, int len)
{
	for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		uint16_t v;

		if (RTA_PAYLOAD(rta) < sizeof(v))
			continue;
		memcpy(&v, RTA_DATA(rta), sizeof(v));
		switch (rta->rta_type & NLA_TYPE_MASK) {
		case TLS_INFO_VERSION:
			d->version = v;
			break;
		case TLS_INFO_CIPHER:
			d->cipher = v;
			break;
		case TLS_INFO_TXCONF:
			d->txconf = v;
			break;
		case TLS_INFO_RXCONF:
			d->rxconf = v;
			break;
		}
	}
}

static void diag_parse_ulp(struct ulp_diag *d, struct rtattr *rta, int len)
{
	for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		switch (rta->rta_type & NLA_TYPE_MASK) {
		case INET_ULP_INFO_NAME:
			snprintf(d->name, sizeof(d->name), "%.*s",
				 (int)RTA_PAYLOAD(rta),
				 (const char *)RTA_DATA(rta));
			break;
		case INET_ULP_INFO_TLS:
			d->tls = true;
			diag_parse_tls(d, RTA_DATA(rta), RTA_PAYLOAD(rta));
			break;
		}
	}
}

/*
 * Dump every TCP socket of @fd's family with INET_DIAG_INFO requested and
 * fill @d from the entry whose inode is @fd's.
 */
static void diag_ulp(struct __test_metadata *_metadata, int fd,
		     struct ulp_diag *d)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} q = {
		.nlh = {
			.nlmsg_len = sizeof(q),
			.nlmsg_type = SOCK_DIAG_BY_FAMILY,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			.nlmsg_seq = 1,
		},
		.req = {
			.sdiag_protocol = IPPROTO_TCP,
			.idiag_ext = 1 << (INET_DIAG_INFO - 1),
			.idiag_states = ~0U,
		},
	};
	struct sockaddr_storage ss;
	socklen_t slen = sizeof(ss);
	static uint32_t buf[16384];
	struct stat st;
	bool done = false;
	int nl;

	memset(d, 0, sizeof(*d));
	d->version = d->cipher = d->txconf = d->rxconf = -1;
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(0, getsockname(fd, (struct sockaddr *)&ss, &slen));
	q.req.sdiag_family = ss.ss_family;
	nl = socket(AF_NETLINK, SOCK_DGRAM, NETLINK_SOCK_DIAG);
	ASSERT_GE(nl, 0);
	ASSERT_EQ(sizeof(q), send(nl, &q, sizeof(q), 0));
	while (!done) {
		ssize_t n = recv(nl, buf, sizeof(buf), 0);
		struct nlmsghdr *h = (struct nlmsghdr *)buf;

		ASSERT_GT(n, 0);
		for (; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
			struct inet_diag_msg *m = NLMSG_DATA(h);
			struct rtattr *rta;
			int len;

			if (h->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			ASSERT_NE(NLMSG_ERROR, h->nlmsg_type) {
				struct nlmsgerr *e = NLMSG_DATA(h);

				TH_LOG("inet_diag: %s", strerror(-e->error));
			}
			if (m->idiag_inode != st.st_ino)
				continue;
			d->found = true;
			rta = (struct rtattr *)(m + 1);
			len = h->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
			for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
				if ((rta->rta_type & NLA_TYPE_MASK) ==
				    INET_DIAG_ULP_INFO)
					diag_parse_ulp(d, RTA_DATA(rta),
						       RTA_PAYLOAD(rta));
		}
	}
	close(nl);
	ASSERT_TRUE(d->found) {
		TH_LOG("socket inode %lu not in the inet_diag dump",
		       (unsigned long)st.st_ino);
	}
}

/*
 * The counters are per network namespace: a new one starts at zero, keys
 * count there, and closing a socket takes it out of the Curr counters.
 */
TEST(stat_per_netns)
{
	long before[ST_NUM], delta[ST_NUM] = {};
	union cc_crypto_info a, b;
	int c, s, c2, s2;

	/* Some use in the namespace the test starts in... */
	tls_pair(_metadata, TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128, &c, &s,
		 &a, &b, NULL);
	stats_read(_metadata, before);
	EXPECT_LE(2, before[ST_CURR_TX]);
	EXPECT_LE(2, before[ST_TX]);

	/* ...is not seen from a new one. */
	fresh_netns(_metadata);
	memset(before, 0, sizeof(before));
	stats_expect(_metadata, before, delta);

	tls_pair(_metadata, TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128, &c2, &s2,
		 &a, &b, NULL);
	delta[ST_CURR_TX] = delta[ST_CURR_RX] = 2;
	delta[ST_TX] = delta[ST_RX] = 2;
	stats_expect(_metadata, before, delta);
	check_pair_alive(_metadata, c2, s2);
	close(c2);
	delta[ST_CURR_TX] = delta[ST_CURR_RX] = 1;
	stats_expect(_metadata, before, delta);
	close(s2);
	delta[ST_CURR_TX] = delta[ST_CURR_RX] = 0;
	stats_expect(_metadata, before, delta);
	close(c);
	close(s);
}

/* Keys count once per direction; a record failing authentication once. */
TEST_F(wire, stat_keys_and_decrypt_error)
{
	long before[ST_NUM], delta[ST_NUM] = {};
	unsigned char rec[CC_MAX_RECORD], got[64];
	ssize_t n;

	stats_read(_metadata, before);
	wire_keys(_metadata, self, variant, 0);
	delta[ST_CURR_TX] = delta[ST_CURR_RX] = 1;
	delta[ST_TX] = delta[ST_RX] = 1;
	stats_expect(_metadata, before, delta);

	n = cc_seal(&self->seal, CC_TYPE_DATA, "tampered", 8, 0, rec,
		    sizeof(rec));
	ASSERT_GT(n, 0);
	rec[n - 1] ^= 0x80;
	raw_write(_metadata, self->raw, rec, n);
	EXPECT_EQ(-1, recv(self->tls, got, sizeof(got), 0));
	EXPECT_EQ(EBADMSG, errno);
	delta[ST_DECRYPT_ERR] = 1;
	stats_expect(_metadata, before, delta);
}

/* TLS 1.3 KeyUpdate: one received, one RX and one TX rekey counted. */
TEST_F(wire, stat_rekey)
{
	long before[ST_NUM], delta[ST_NUM] = {};
	union cc_crypto_info next_rx, next_tx;
	unsigned char got[64];
	uint8_t type;

	if (skip_rekey(variant))
		SKIP(return, "KeyUpdate: TLS 1.3 on ktls only");
	wire_keys(_metadata, self, variant, 0);
	stats_read(_metadata, before);

	ASSERT_EQ(self->len, make_info(&next_tx, variant->version,
				       variant->cipher, SEED_A + 1, 0));
	set_key(_metadata, self->tls, TLS_TX, &next_tx, self->len);
	delta[ST_TX_REKEY_OK] = 1;
	stats_expect(_metadata, before, delta);

	wire_send_record(_metadata, self, CC_TYPE_HANDSHAKE, key_update_msg,
			 sizeof(key_update_msg), 0);
	ASSERT_EQ(sizeof(key_update_msg),
		  recv_record_type(self->tls, got, sizeof(got), &type, 0));
	EXPECT_EQ(CC_TYPE_HANDSHAKE, type);
	delta[ST_RX_REKEY_RCVD] = 1;
	/* ktls first tried it as data, zero-copy (a TLS 1.3 guess). */
	delta[ST_DECRYPT_RETRY] = 1;
	stats_expect(_metadata, before, delta);

	ASSERT_EQ(self->len, make_info(&next_rx, variant->version,
				       variant->cipher, SEED_B + 1, 0));
	set_key(_metadata, self->tls, TLS_RX, &next_rx, self->len);
	delta[ST_RX_REKEY_OK] = 1;
	stats_expect(_metadata, before, delta);
}

/* ==== sock_diag =========================================================== */

/* INET_DIAG_ULP_INFO of a socket keyed both ways. */
TEST_F(tls, sock_diag_ulp_info)
{
	struct ulp_diag d;

	diag_ulp(_metadata, self->fd, &d);
	EXPECT_STREQ(ku_ulp_name(), d.name);
	ASSERT_TRUE(d.tls);
	EXPECT_EQ(variant->version, d.version);
	EXPECT_EQ(variant->cipher, d.cipher);
	EXPECT_EQ(TLS_CONF_SW, d.txconf);
	EXPECT_EQ(TLS_CONF_SW, d.rxconf);
}

/* Before any key: base configuration and no version; then TX only. */
TEST_F(api, sock_diag_ulp_info)
{
	struct ulp_diag d;

	diag_ulp(_metadata, self->fd, &d);
	EXPECT_STREQ(ku_ulp_name(), d.name);
	ASSERT_TRUE(d.tls);
	EXPECT_EQ(-1, d.version);
	EXPECT_EQ(-1, d.cipher);
	EXPECT_EQ(TLS_CONF_BASE, d.txconf);
	EXPECT_EQ(TLS_CONF_BASE, d.rxconf);

	set_key(_metadata, self->fd, TLS_TX, &self->ci, self->len);
	diag_ulp(_metadata, self->fd, &d);
	EXPECT_EQ(variant->version, d.version);
	EXPECT_EQ(variant->cipher, d.cipher);
	EXPECT_EQ(TLS_CONF_SW, d.txconf);
	EXPECT_EQ(TLS_CONF_BASE, d.rxconf);

	/* A plain TCP socket has no ULP information. */
	diag_ulp(_metadata, self->cfd, &d);
	EXPECT_STREQ("", d.name);
	EXPECT_FALSE(d.tls);
}
