// SPDX-License-Identifier: GPL-2.0
/*
 * ktls_test: attaching the ULP and the setsockopt/getsockopt API.
 *
 * Argument checking in the in-tree module's order (fixture api), the ULP
 * attach errors, many sockets, the module pinned by a socket, ciphers the
 * kernel lacks (no fixture), and the crypto info getsockopt reports back
 * (fixture tls).
 *
 * Part of the ktls_test translation unit: ktls_test.c includes it after
 * ktls_test.h (see there why).
 */
#include "ktls_test.h"

static bool info_field_eq(const union cc_crypto_info *a,
			  const union cc_crypto_info *b, enum cc_field f)
{
	size_t la = 0, lb = 0;
	const unsigned char *pa = cc_crypto_info_field(a, f, &la);
	const unsigned char *pb = cc_crypto_info_field(b, f, &lb);

	return pa && pb && la == lb && !memcmp(pa, pb, la);
}

static void check_info(struct __test_metadata *_metadata, int fd, int dir,
		       const union cc_crypto_info *set, size_t len,
		       uint64_t records)
{
	union cc_crypto_info got;
	socklen_t optlen = sizeof(struct tls_crypto_info);
	uint64_t iv0 = info_iv(set), iv;

	memset(&got, 0xee, sizeof(got));
	ASSERT_EQ(0, getsockopt(fd, SOL_TLS, dir, &got, &optlen));
	EXPECT_EQ(sizeof(struct tls_crypto_info), optlen);
	EXPECT_EQ(set->info.version, got.info.version);
	EXPECT_EQ(set->info.cipher_type, got.info.cipher_type);

	memset(&got, 0xee, sizeof(got));
	optlen = len;
	ASSERT_EQ(0, getsockopt(fd, SOL_TLS, dir, &got, &optlen));
	ASSERT_EQ(len, optlen);
	EXPECT_EQ(set->info.version, got.info.version);
	EXPECT_EQ(set->info.cipher_type, got.info.cipher_type);
	EXPECT_TRUE(info_field_eq(set, &got, CC_KEY));
	EXPECT_TRUE(info_field_eq(set, &got, CC_SALT));
	EXPECT_EQ(info_seq(set) + records, info_seq(&got));
	/*
	 * The iv reported is the current one: where records carry an
	 * explicit nonce (TLS 1.2 GCM/CCM) it is the next one, advanced once
	 * per record; otherwise it never changes.
	 */
	iv = info_iv(&got);
	if (cc_explicit_nonce(set->info.version, set->info.cipher_type)) {
		EXPECT_EQ(iv0 + records, iv);
	} else {
		EXPECT_EQ(iv0, iv);
	}
}

TEST_F(tls, getsockopt_state)
{
	unsigned char buf[300];
	int i;

	check_info(_metadata, self->fd, TLS_TX, &self->a, self->info_len, 0);
	check_info(_metadata, self->fd, TLS_RX, &self->b, self->info_len, 0);
	check_info(_metadata, self->cfd, TLS_RX, &self->a, self->info_len, 0);
	/* Three separate sends are three records. */
	for (i = 0; i < 3; i++)
		ASSERT_EQ(100, send(self->fd, buf, 100, 0));
	ASSERT_EQ(300, recv_all(self->cfd, buf, 300, IO_RECV, false));
	check_info(_metadata, self->fd, TLS_TX, &self->a, self->info_len, 3);
	check_info(_metadata, self->cfd, TLS_RX, &self->a, self->info_len, 3);
	/* A large send: 100000 bytes make 7 full-size-or-less records. */
	{
		unsigned char *big = random_buf(100000, 19);
		unsigned char *got = malloc(100000);
		struct xfer x = { .fd = self->cfd, .buf = big, .len = 100000 };

		ASSERT_TRUE(big && got);
		ASSERT_EQ(0, xfer_start(&x));
		ASSERT_EQ(100000, recv_all(self->fd, got, 100000, IO_RECV,
					   false));
		xfer_join(&x);
		check_info(_metadata, self->cfd, TLS_TX, &self->b,
			   self->info_len, 7);
		check_info(_metadata, self->fd, TLS_RX, &self->b,
			   self->info_len, 7);
		free(big);
		free(got);
	}
}

TEST_F(tls, getsockopt_bad_len)
{
	union cc_crypto_info got;
	socklen_t optlen;

	optlen = sizeof(struct tls_crypto_info) - 1;
	EXPECT_EQ(-1, getsockopt(self->fd, SOL_TLS, TLS_TX, &got, &optlen));
	EXPECT_EQ(EINVAL, errno);
	optlen = sizeof(struct tls_crypto_info) + 1;
	EXPECT_EQ(-1, getsockopt(self->fd, SOL_TLS, TLS_TX, &got, &optlen));
	EXPECT_EQ(EINVAL, errno);
	optlen = self->info_len + 1;
	EXPECT_EQ(-1, getsockopt(self->fd, SOL_TLS, TLS_RX, &got, &optlen));
	EXPECT_EQ(EINVAL, errno);
	optlen = self->info_len;
	EXPECT_EQ(-1, getsockopt(self->fd, SOL_TLS, TLS_TX, NULL, &optlen));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, getsockopt(self->fd, SOL_TLS, TLS_TX, &got, NULL));
	EXPECT_EQ(EFAULT, errno);
	optlen = sizeof(got);
	EXPECT_EQ(-1, getsockopt(self->fd, SOL_TLS, 99, &got, &optlen));
	EXPECT_EQ(ENOPROTOOPT, errno);
}

/*
 * 6.1 keys each direction once.  TLS 1.3 rekeying appears in later kernels
 * (and later in ktls), so only TLS 1.2 is asserted here.
 */
TEST_F(tls, set_key_twice)
{
	union cc_crypto_info other;

	if (variant->version != TLS_1_2_VERSION)
		SKIP(return, "%s: TLS 1.3 rekey is not part of this test",
		     _metadata->name);
	ASSERT_EQ(self->info_len, make_info(&other, variant->version,
					    variant->cipher, 77, 0));
	EXPECT_EQ(-1, setsockopt(self->fd, SOL_TLS, TLS_TX, &other,
				 self->info_len));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(-1, setsockopt(self->fd, SOL_TLS, TLS_RX, &other,
				 self->info_len));
	EXPECT_EQ(EBUSY, errno);
	/* The refused keys changed nothing. */
	check_pair_alive(_metadata, self->fd, self->cfd);
}

TEST_F(api, wrong_length)
{
	EXPECT_EQ(-1, setsockopt(self->fd, SOL_TLS, TLS_TX, &self->ci,
				 self->len - 1));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, setsockopt(self->fd, SOL_TLS, TLS_TX, &self->ci,
				 self->len + 1));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, setsockopt(self->fd, SOL_TLS, TLS_RX, &self->ci,
				 sizeof(struct tls_crypto_info)));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, setsockopt(self->fd, SOL_TLS, TLS_RX, &self->ci,
				 sizeof(struct tls_crypto_info) - 1));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, setsockopt(self->fd, SOL_TLS, TLS_TX, &self->ci, 0));
	EXPECT_EQ(EINVAL, errno);
	/* Failed attempts leave the socket configurable. */
	set_key(_metadata, self->fd, TLS_TX, &self->ci, self->len);
}

TEST_F(api, null_and_bad_pointer)
{
	EXPECT_EQ(-1, setsockopt(self->fd, SOL_TLS, TLS_TX, NULL, self->len));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, setsockopt(self->fd, SOL_TLS, TLS_TX, (void *)8,
				 self->len));
	EXPECT_EQ(EFAULT, errno);
	set_key(_metadata, self->fd, TLS_TX, &self->ci, self->len);
}

TEST_F(api, unknown_cipher)
{
	union cc_crypto_info bad = self->ci;

	bad.info.cipher_type = 9999;
	EXPECT_EQ(-1, setsockopt(self->fd, SOL_TLS, TLS_TX, &bad, self->len));
	EXPECT_EQ(EINVAL, errno);
	bad.info.cipher_type = 0;
	EXPECT_EQ(-1, setsockopt(self->fd, SOL_TLS, TLS_RX, &bad, self->len));
	EXPECT_EQ(EINVAL, errno);
	set_key(_metadata, self->fd, TLS_RX, &self->ci, self->len);
}

TEST_F(api, unknown_version)
{
	static const uint16_t bad_versions[] = { 0, 0x0301, 0x0302, 0x0305,
						 0x0403, 0xfefd };
	union cc_crypto_info bad = self->ci;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad_versions); i++) {
		bad.info.version = bad_versions[i];
		EXPECT_EQ(-1, setsockopt(self->fd, SOL_TLS, TLS_TX, &bad,
					 self->len));
		EXPECT_EQ(EINVAL, errno);
		EXPECT_EQ(-1, setsockopt(self->fd, SOL_TLS, TLS_RX, &bad,
					 self->len));
		EXPECT_EQ(EINVAL, errno);
	}
	set_key(_metadata, self->fd, TLS_TX, &self->ci, self->len);
}

/* TX and RX must agree on version and cipher, whichever is set first. */
TEST_F(api, rx_tx_mismatch)
{
	uint16_t other_version = variant->version == TLS_1_2_VERSION ?
				 TLS_1_3_VERSION : TLS_1_2_VERSION;
	uint16_t other_cipher = variant->cipher == TLS_CIPHER_AES_GCM_128 ?
				TLS_CIPHER_AES_GCM_256 : TLS_CIPHER_AES_GCM_128;
	union cc_crypto_info o;
	size_t olen;

	set_key(_metadata, self->fd, TLS_TX, &self->ci, self->len);

	olen = make_info(&o, other_version, variant->cipher, SEED_B, 0);
	EXPECT_EQ(-1, setsockopt(self->fd, SOL_TLS, TLS_RX, &o, olen));
	EXPECT_EQ(EINVAL, errno);
	olen = make_info(&o, variant->version, other_cipher, SEED_B, 0);
	EXPECT_EQ(-1, setsockopt(self->fd, SOL_TLS, TLS_RX, &o, olen));
	EXPECT_EQ(EINVAL, errno);
	olen = make_info(&o, variant->version, variant->cipher, SEED_B, 0);
	EXPECT_EQ(0, setsockopt(self->fd, SOL_TLS, TLS_RX, &o, olen));
}

TEST_F(api, tx_rx_mismatch)
{
	uint16_t other_version = variant->version == TLS_1_2_VERSION ?
				 TLS_1_3_VERSION : TLS_1_2_VERSION;
	union cc_crypto_info o;
	size_t olen;

	set_key(_metadata, self->fd, TLS_RX, &self->ci, self->len);
	olen = make_info(&o, other_version, variant->cipher, SEED_B, 0);
	EXPECT_EQ(-1, setsockopt(self->fd, SOL_TLS, TLS_TX, &o, olen));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(api, getsockopt_before_set)
{
	union cc_crypto_info got;
	socklen_t optlen = self->len;

	EXPECT_EQ(-1, getsockopt(self->fd, SOL_TLS, TLS_TX, &got, &optlen));
	EXPECT_EQ(EBUSY, errno);
	optlen = sizeof(struct tls_crypto_info);
	EXPECT_EQ(-1, getsockopt(self->fd, SOL_TLS, TLS_RX, &got, &optlen));
	EXPECT_EQ(EBUSY, errno);
	/* Setting TX makes TX readable, not RX. */
	set_key(_metadata, self->fd, TLS_TX, &self->ci, self->len);
	optlen = self->len;
	EXPECT_EQ(0, getsockopt(self->fd, SOL_TLS, TLS_TX, &got, &optlen));
	EXPECT_EQ(-1, getsockopt(self->fd, SOL_TLS, TLS_RX, &got, &optlen));
	EXPECT_EQ(EBUSY, errno);
}

/* Accepted and reported; it only matters with device offload. */
TEST_F(api, zerocopy_ro)
{
	unsigned int v = 1, got = 7;
	socklen_t optlen = sizeof(got);
	uint64_t big = 1;

	ASSERT_EQ(0, setsockopt(self->fd, SOL_TLS, TLS_TX_ZEROCOPY_RO, &v,
				sizeof(v)));
	ASSERT_EQ(0, getsockopt(self->fd, SOL_TLS, TLS_TX_ZEROCOPY_RO, &got,
				&optlen));
	EXPECT_EQ(1, got);
	v = 2;
	EXPECT_EQ(-1, setsockopt(self->fd, SOL_TLS, TLS_TX_ZEROCOPY_RO, &v,
				 sizeof(v)));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, setsockopt(self->fd, SOL_TLS, TLS_TX_ZEROCOPY_RO, &big,
				 sizeof(big)));
	EXPECT_EQ(EINVAL, errno);
	optlen = sizeof(big);
	EXPECT_EQ(-1, getsockopt(self->fd, SOL_TLS, TLS_TX_ZEROCOPY_RO, &big,
				 &optlen));
	EXPECT_EQ(EINVAL, errno);
}

/* connect(AF_UNSPEC) would disconnect TCP under the record layer. */
TEST_F(api, connect_unspec_refused)
{
	struct sockaddr sa = { .sa_family = AF_UNSPEC };

	EXPECT_EQ(-1, connect(self->fd, &sa, sizeof(sa)));
	EXPECT_EQ(EOPNOTSUPP, errno);
}

TEST_F(api, unknown_option)
{
	int one = 1;

	EXPECT_EQ(-1, setsockopt(self->fd, SOL_TLS, 99, &one, sizeof(one)));
	EXPECT_EQ(ENOPROTOOPT, errno);
}

/* Before any key the socket is plain TCP in both directions. */
TEST_F(api, no_key_is_plain_tcp)
{
	char buf[16];

	ASSERT_EQ(5, send(self->fd, "plain", 5, 0));
	ASSERT_EQ(5, recv(self->cfd, buf, sizeof(buf), 0));
	EXPECT_EQ(0, memcmp(buf, "plain", 5));
	ASSERT_EQ(4, send(self->cfd, "text", 4, 0));
	ASSERT_EQ(4, recv(self->fd, buf, sizeof(buf), 0));
	EXPECT_EQ(0, memcmp(buf, "text", 4));
}

/* TX only: sends are encrypted, receives stay plain TCP. */
TEST_F(api, tx_only)
{
	unsigned char rec[CC_MAX_RECORD], pt[CC_MAX_PLAINTEXT + 1];
	struct cc_state st;
	uint8_t type;
	char buf[16];
	ssize_t n;

	set_key(_metadata, self->fd, TLS_TX, &self->ci, self->len);
	ASSERT_EQ(0, cc_init(&st, &self->ci, self->len));
	ASSERT_EQ(6, send(self->fd, "secret", 6, 0));
	n = recv(self->cfd, rec, CC_HDR_LEN, MSG_WAITALL);
	ASSERT_EQ(CC_HDR_LEN, n);
	n = cc_record_len(rec);
	ASSERT_EQ(n - CC_HDR_LEN, recv(self->cfd, rec + CC_HDR_LEN,
				       n - CC_HDR_LEN, MSG_WAITALL));
	ASSERT_EQ(6, cc_open(&st, rec, n, &type, pt, sizeof(pt)));
	EXPECT_EQ(0, memcmp(pt, "secret", 6));
	ASSERT_EQ(4, send(self->cfd, "text", 4, 0));
	ASSERT_EQ(4, recv(self->fd, buf, sizeof(buf), 0));
	EXPECT_EQ(0, memcmp(buf, "text", 4));
	cc_free(&st);
}

/* ==== attaching the ULP (no variants) ==================================== */

TEST(ulp_not_connected)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ASSERT_GE(fd, 0);
	EXPECT_EQ(-1, ku_attach_ulp(fd, NULL));
	EXPECT_EQ(ENOTCONN, errno);
	close(fd);
}

TEST(ulp_twice)
{
	int c, s;

	tcp_pair(_metadata, &c, &s);
	ASSERT_EQ(0, ku_attach_ulp(c, NULL)) {
		TH_LOG("attach ULP '%s': %s", ku_ulp_name(), strerror(errno));
	}
	EXPECT_EQ(-1, ku_attach_ulp(c, NULL));
	EXPECT_EQ(EEXIST, errno);
	close(c);
	close(s);
}

TEST(ulp_name_reported)
{
	char name[32] = {};
	socklen_t len = sizeof(name);
	int c, s;

	tcp_pair(_metadata, &c, &s);
	ASSERT_EQ(0, ku_attach_ulp(c, NULL));
	ASSERT_EQ(0, getsockopt(c, SOL_TCP, TCP_ULP, name, &len));
	EXPECT_STREQ(ku_ulp_name(), name);
	close(c);
	close(s);
}

TEST(ulp_unknown_name)
{
	static const char bogus[] = "no-such-ulp";
	int c, s;

	tcp_pair(_metadata, &c, &s);
	EXPECT_EQ(-1, setsockopt(c, SOL_TCP, TCP_ULP, bogus, strlen(bogus)));
	EXPECT_EQ(ENOENT, errno);
	close(c);
	close(s);
}

TEST(sol_tls_without_ulp)
{
	union cc_crypto_info ci;
	size_t len = make_info(&ci, TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128,
			       1, 0);
	int c, s;

	tcp_pair(_metadata, &c, &s);
	EXPECT_EQ(-1, setsockopt(c, SOL_TLS, TLS_TX, &ci, len));
	EXPECT_EQ(ENOPROTOOPT, errno);
	close(c);
	close(s);
}

/* Many sockets with the ULP at once, closed in a different order. */
TEST(many_sockets)
{
	enum { N = 32 };
	union cc_crypto_info a, b;
	int c[N], s[N], i;

	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < N; i++)
		tls_pair(_metadata, i & 1 ? TLS_1_3_VERSION : TLS_1_2_VERSION,
			 TLS_CIPHER_AES_GCM_128, &c[i], &s[i], &a, &b, NULL);
	for (i = 0; i < N; i++)
		ASSERT_EQ(3, send(c[i], "abc", 3, 0));
	for (i = 0; i < N; i += 2)
		close(s[i]);
	for (i = 1; i < N; i += 2) {
		char buf[8];

		ASSERT_EQ(3, recv(s[i], buf, sizeof(buf), 0));
		close(c[i]);
		close(s[i]);
	}
	for (i = 0; i < N; i += 2)
		close(c[i]);
}

/*
 * A socket using the ULP pins its module: unloading it must fail while the
 * socket exists (the VM runner unloads ktls after the run, so the clean
 * unload afterwards is checked there).
 */
TEST(module_pinned_by_socket)
{
	union cc_crypto_info a;
	size_t len;
	int c, s;

	tcp_pair(_metadata, &c, &s);
	ASSERT_EQ(0, ku_attach_ulp(c, NULL));
	len = make_info(&a, TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128, SEED_A, 0);
	set_key(_metadata, c, TLS_TX, &a, len);
	EXPECT_EQ(-1, syscall(SYS_delete_module, ku_ulp_name(), O_NONBLOCK));
	EXPECT_TRUE(errno == EWOULDBLOCK || errno == EBUSY) {
		TH_LOG("delete_module(%s): %s", ku_ulp_name(), strerror(errno));
	}
	/* Still working after the refused unload. */
	ASSERT_EQ(5, send(c, "still", 5, 0));
	close(c);
	close(s);
}

/*
 * Ciphers the API knows but Debian's 6.1 kernel cannot run (no SM4, no
 * ARIA): installing one fails cleanly and leaves the socket configurable.
 * ktls reports the crypto API's ENOENT, and EINVAL for ARIA with TLS 1.3
 * (ARIA is TLS 1.2 only); the in-tree 6.1 module does not know ARIA at all
 * (EINVAL).
 */
TEST(unavailable_ciphers)
{
	static const struct {
		uint16_t version, cipher;
		size_t size;
		int ktls_errno;
	} cases[] = {
		{ TLS_1_3_VERSION, TLS_CIPHER_SM4_GCM,
		  sizeof(struct tls12_crypto_info_sm4_gcm), ENOENT },
		{ TLS_1_3_VERSION, TLS_CIPHER_SM4_CCM,
		  sizeof(struct tls12_crypto_info_sm4_ccm), ENOENT },
		{ TLS_1_2_VERSION, TLS_CIPHER_ARIA_GCM_128,
		  sizeof(struct tls12_crypto_info_aria_gcm_128), ENOENT },
		{ TLS_1_2_VERSION, TLS_CIPHER_ARIA_GCM_256,
		  sizeof(struct tls12_crypto_info_aria_gcm_256), ENOENT },
		{ TLS_1_3_VERSION, TLS_CIPHER_ARIA_GCM_128,
		  sizeof(struct tls12_crypto_info_aria_gcm_128), EINVAL },
	};
	union cc_crypto_info a, b;
	unsigned char raw[64];
	size_t i, len;
	int c, s;

	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct tls_crypto_info hdr = {
			.version = cases[i].version,
			.cipher_type = cases[i].cipher,
		};

		tcp_pair(_metadata, &c, &s);
		ASSERT_EQ(0, ku_attach_ulp(c, NULL));
		ASSERT_EQ(0, ku_attach_ulp(s, NULL));
		fill_random(raw, sizeof(raw), i);
		memcpy(raw, &hdr, sizeof(hdr));
		ASSERT_LE(cases[i].size, sizeof(raw));
		EXPECT_EQ(-1, setsockopt(c, SOL_TLS, TLS_TX, raw,
					 cases[i].size));
		if (ku_ulp_is_intree()) {
			EXPECT_TRUE(errno == ENOENT || errno == EINVAL);
		} else {
			EXPECT_EQ(cases[i].ktls_errno, errno) {
				TH_LOG("case %zu: %s", i, strerror(errno));
			}
		}
		/* Nothing was half-installed. */
		len = make_info(&a, TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128,
				SEED_A, 0);
		make_info(&b, TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128,
			  SEED_B, 0);
		set_key(_metadata, c, TLS_TX, &a, len);
		set_key(_metadata, s, TLS_RX, &a, len);
		set_key(_metadata, s, TLS_TX, &b, len);
		set_key(_metadata, c, TLS_RX, &b, len);
		check_pair_alive(_metadata, c, s);
		close(c);
		close(s);
	}
}
