// SPDX-License-Identifier: GPL-2.0
/*
 * ktls_test: records ktls must refuse (fixture wire).
 *
 * Tampered ciphertext, tag or type, wrong sequence numbers, bad headers
 * (version, length, in the order the in-tree module judges them), records
 * too long or too short, garbage after a record, urgent data inside one,
 * EOF inside a record.
 *
 * Part of the ktls_test translation unit: ktls_test.c includes it after
 * ktls_test.h (see there why).
 */
#include "ktls_test.h"

/* A record sealed with the wrong sequence number is refused. */
TEST_F(wire, rx_wrong_seq)
{
	unsigned char got[64];

	wire_keys(_metadata, self, variant, 0);
	self->seal.seq = 1;
	wire_send_record(_metadata, self, CC_TYPE_DATA, "skipped", 7, 0);
	EXPECT_EQ(-1, recv(self->tls, got, sizeof(got), 0));
	EXPECT_EQ(EBADMSG, errno);
}

/*
 * Flip one bit of a record at where(len): the read fails with EBADMSG, and
 * again on the next read (the socket stays in error).  With @lenient (the
 * TLS 1.3 outer type), delivering the data intact is tolerated too.
 */
static void flip_and_expect_ebadmsg(struct __test_metadata *_metadata,
				    FIXTURE_DATA(wire) *self,
				    const FIXTURE_VARIANT(wire) *variant,
				    size_t (*where)(size_t len), bool lenient)
{
	unsigned char rec[CC_MAX_RECORD], data[500], got[600];
	ssize_t n;
	int c, s;
	union cc_crypto_info a, b;

	wire_keys(_metadata, self, variant, 0);
	fill_random(data, sizeof(data), 100);
	n = cc_seal(&self->seal, CC_TYPE_DATA, data, sizeof(data), 0, rec,
		    sizeof(rec));
	ASSERT_GT(n, 0);
	rec[where(n)] ^= 0x01;
	raw_write(_metadata, self->raw, rec, n);
	n = recv(self->tls, got, sizeof(got), 0);
	if (lenient && n == sizeof(data)) {
		EXPECT_EQ(0, memcmp(got, data, sizeof(data)));
		TH_LOG("the ULP ignored the flipped outer type");
	} else {
		EXPECT_EQ(-1, n);
		EXPECT_EQ(EBADMSG, errno);
		/* The error sticks. */
		EXPECT_EQ(-1, recv(self->tls, got, sizeof(got), 0));
		EXPECT_EQ(EBADMSG, errno);
	}
	/* Nothing else is hurt: a fresh pair works. */
	tls_pair(_metadata, variant->version, variant->cipher, &c, &s, &a, &b,
		 NULL);
	check_pair_alive(_metadata, c, s);
	close(c);
	close(s);
}

static size_t pos_ciphertext(size_t len)
{
	return len / 2;
}

static size_t pos_tag(size_t len)
{
	return len - 1;
}

static size_t pos_header_type(size_t len)
{
	(void)len;
	return 0;
}

TEST_F(wire, rx_tampered_ciphertext)
{
	flip_and_expect_ebadmsg(_metadata, self, variant, pos_ciphertext,
				false);
}

TEST_F(wire, rx_tampered_tag)
{
	flip_and_expect_ebadmsg(_metadata, self, variant, pos_tag, false);
}

/*
 * The header's type byte is authenticated on TLS 1.2 (part of the AAD).  On
 * TLS 1.3 the outer type should be 23 and RFC 8446 puts the header as
 * received in the AAD, but the in-tree 6.1 module always uses 23 in the AAD
 * and takes the type from inside: a flipped outer type goes unnoticed.
 * Either outcome is accepted on 1.3.
 */
TEST_F(wire, rx_tampered_type)
{
	flip_and_expect_ebadmsg(_metadata, self, variant, pos_header_type,
				variant->version == TLS_1_3_VERSION);
}

/* Hand-made header: @type, version @ver, length @len, then @extra zeros. */
static void raw_header(struct __test_metadata *_metadata, int fd,
		       uint8_t type, uint16_t ver, size_t len, size_t extra)
{
	unsigned char buf[CC_HDR_LEN + 64] = {
		type, ver >> 8, ver & 0xff, (len >> 8) & 0xff, len & 0xff,
	};

	raw_write(_metadata, fd, buf, CC_HDR_LEN + extra);
}

/* Largest ciphertext length the receiver accepts for the variant. */
static size_t max_payload(const FIXTURE_VARIANT(wire) *variant)
{
	return CC_MAX_PLAINTEXT +
	       cc_record_overhead(variant->version, variant->cipher) -
	       CC_HDR_LEN;
}

TEST_F(wire, rx_oversize_record)
{
	char got[64];

	wire_keys(_metadata, self, variant, 0);
	raw_header(_metadata, self->raw, CC_TYPE_DATA, 0x0303,
		   max_payload(variant) + 1, 40);
	EXPECT_EQ(-1, recv(self->tls, got, sizeof(got), 0));
	EXPECT_EQ(EMSGSIZE, errno);
}

TEST_F(wire, rx_max_size_record_accepted)
{
	unsigned char data[CC_MAX_PLAINTEXT], got[CC_MAX_PLAINTEXT];

	wire_keys(_metadata, self, variant, 0);
	fill_random(data, sizeof(data), 110);
	wire_send_record(_metadata, self, CC_TYPE_DATA, data, sizeof(data), 0);
	ASSERT_EQ(CC_MAX_PLAINTEXT, recv_all(self->tls, got, sizeof(got),
					     IO_RECV, false));
	EXPECT_EQ(0, memcmp(got, data, sizeof(data)));
}

TEST_F(wire, rx_bad_version)
{
	unsigned char rec[CC_MAX_RECORD], got[64];
	ssize_t n;

	wire_keys(_metadata, self, variant, 0);
	n = cc_seal(&self->seal, CC_TYPE_DATA, "version", 7, 0, rec,
		    sizeof(rec));
	ASSERT_GT(n, 0);
	rec[2] = 1;	/* 0x0301 */
	raw_write(_metadata, self->raw, rec, n);
	EXPECT_EQ(-1, recv(self->tls, got, sizeof(got), 0));
	EXPECT_EQ(EINVAL, errno);
}

/* Header bytes the receiver needs before judging a header: the header and
 * the explicit nonce. */
static size_t prepend_len(const FIXTURE_VARIANT(wire) *variant)
{
	return CC_HDR_LEN +
	       (cc_explicit_nonce(variant->version, variant->cipher) ? 8 : 0);
}

/* The smallest length a header may announce: explicit nonce and tag (a
 * TLS 1.3 record too short for its inner type fails decryption instead). */
static size_t min_payload(const FIXTURE_VARIANT(wire) *variant)
{
	return cc_record_overhead(variant->version, variant->cipher) -
	       CC_HDR_LEN - (variant->version == TLS_1_3_VERSION);
}

/*
 * Header checks come in the in-tree module's order: the length against the
 * largest record, then against the smallest, then the version.  A header
 * both too long and of a bad version is EMSGSIZE; both too short and of a
 * bad version, EBADMSG.
 */
TEST_F(wire, rx_header_too_long_and_bad_version)
{
	char got[64];

	wire_keys(_metadata, self, variant, 0);
	raw_header(_metadata, self->raw, CC_TYPE_DATA, 0x0301,
		   max_payload(variant) + 1, 40);
	EXPECT_EQ(-1, recv(self->tls, got, sizeof(got), 0));
	EXPECT_EQ(EMSGSIZE, errno);
}

TEST_F(wire, rx_header_too_short_and_bad_version)
{
	char got[64];

	wire_keys(_metadata, self, variant, 0);
	raw_header(_metadata, self->raw, CC_TYPE_DATA, 0x0301,
		   min_payload(variant) - 1, 40);
	EXPECT_EQ(-1, recv(self->tls, got, sizeof(got), 0));
	EXPECT_EQ(EBADMSG, errno);
}

/* The exact bounds pass the header checks: the largest record is read
 * (rx_max_size_record_accepted), the smallest reaches decryption, which
 * fails it (random bytes; on TLS 1.3 not even room for the inner type). */
TEST_F(wire, rx_header_min_length_reaches_decryption)
{
	char got[64];

	wire_keys(_metadata, self, variant, 0);
	raw_header(_metadata, self->raw, CC_TYPE_DATA, 0x0303,
		   min_payload(variant), min_payload(variant));
	EXPECT_EQ(-1, recv(self->tls, got, sizeof(got), 0));
	EXPECT_EQ(EBADMSG, errno);
}

/* A header is judged once its explicit nonce is there too (TLS 1.2 with
 * GCM or CCM); before that the record is merely incomplete. */
TEST_F(wire, rx_header_judged_with_explicit_nonce)
{
	size_t prepend = prepend_len(variant);
	char got[64];

	wire_keys(_metadata, self, variant, 0);
	raw_header(_metadata, self->raw, CC_TYPE_DATA, 0x0303,
		   max_payload(variant) + 1, 0);
	if (prepend > CC_HDR_LEN) {
		msleep(20);
		EXPECT_EQ(-1, recv(self->tls, got, sizeof(got), MSG_DONTWAIT));
		EXPECT_EQ(EAGAIN, errno);
		raw_write(_metadata, self->raw, "12345678",
			  prepend - CC_HDR_LEN);
	}
	EXPECT_EQ(-1, recv(self->tls, got, sizeof(got), 0));
	EXPECT_EQ(EMSGSIZE, errno);
}

/*
 * A malformed header is reported once, as the in-tree module does: sends
 * fail with it until a read has reported it; after that reads find nothing
 * (EAGAIN, or the timeout), sends work again, and the peer's FIN is end of
 * stream.
 */
TEST_F(wire, rx_header_error_reported_once)
{
	struct pollfd pfd = { .fd = self->tls, .events = POLLIN };
	struct timeval tv = { 0, 200000 };
	unsigned char got[64];

	wire_keys(_metadata, self, variant, 0);
	raw_header(_metadata, self->raw, CC_TYPE_DATA, 0x0301, 40, 40);

	ASSERT_EQ(1, poll(&pfd, 1, 2000));
	EXPECT_TRUE(pfd.revents & POLLERR);
	EXPECT_EQ(-1, send(self->tls, "x", 1, MSG_DONTWAIT));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, recv(self->tls, got, sizeof(got), MSG_DONTWAIT));
	EXPECT_EQ(EINVAL, errno);

	EXPECT_EQ(-1, recv(self->tls, got, sizeof(got), MSG_DONTWAIT));
	EXPECT_EQ(EAGAIN, errno);
	ASSERT_EQ(0, setsockopt(self->tls, SOL_SOCKET, SO_RCVTIMEO, &tv,
				sizeof(tv)));
	EXPECT_EQ(-1, recv(self->tls, got, sizeof(got), 0));
	EXPECT_EQ(EAGAIN, errno);
	pfd.revents = 0;
	EXPECT_EQ(0, poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLERR));
	/* 6.1's module reports EPOLLIN for any queued byte. */
	if (!ku_ulp_is_intree()) {
		EXPECT_EQ(0, pfd.revents & POLLIN);
	}

	ASSERT_EQ(4, send(self->tls, "more", 4, 0));
	EXPECT_EQ(1, wire_expect_data(_metadata, self,
				      (const unsigned char *)"more", 4));
	ASSERT_EQ(0, shutdown(self->raw, SHUT_WR));
	EXPECT_EQ(0, recv(self->tls, got, sizeof(got), 0));
}

/*
 * Garbage after a valid record: the record is delivered whole, then the
 * garbage fails the connection (stickily, with POLLERR), and only it.
 */
TEST_F(wire, rx_garbage_after_record)
{
	unsigned char wire[CC_MAX_RECORD + 64], got[64];
	struct pollfd pfd = { .fd = self->tls, .events = POLLIN };
	union cc_crypto_info a, b;
	int c = -1, s = -1, err;
	ssize_t n;

	wire_keys(_metadata, self, variant, 0);
	n = cc_seal(&self->seal, CC_TYPE_DATA, "valid", 5, 0, wire,
		    sizeof(wire));
	ASSERT_GT(n, 0);
	/* A header with an impossible length, then noise. */
	memcpy(wire + n, "\x17\x03\x03\xff\xf0", 5);
	fill_random(wire + n + 5, 59, 83);
	raw_write(_metadata, self->raw, wire, n + 64);

	ASSERT_EQ(5, recv(self->tls, got, sizeof(got), 0));
	EXPECT_EQ(0, memcmp(got, "valid", 5));
	EXPECT_EQ(1, poll(&pfd, 1, 1000));
	EXPECT_TRUE(pfd.revents & POLLERR);
	EXPECT_EQ(-1, recv(self->tls, got, sizeof(got), 0));
	err = errno;
	EXPECT_EQ(EMSGSIZE, err);
	/* A framing error is reported once (sock_error() clears it). */
	EXPECT_EQ(-1, recv(self->tls, got, sizeof(got), MSG_DONTWAIT));
	EXPECT_EQ(EAGAIN, errno);
	/* Other connections carry on. */
	tls_pair(_metadata, variant->version, variant->cipher, &c, &s, &a, &b,
		 NULL);
	check_pair_alive(_metadata, c, s);
	close(c);
	close(s);
}

TEST_F(wire, rx_too_short_record)
{
	char got[64];

	wire_keys(_metadata, self, variant, 0);
	/* Shorter than the tag (plus explicit nonce on 1.2). */
	raw_header(_metadata, self->raw, CC_TYPE_DATA, 0x0303, 4, 20);
	EXPECT_EQ(-1, recv(self->tls, got, sizeof(got), 0));
	EXPECT_EQ(EBADMSG, errno);
}

/*
 * A peer's TCP urgent pointer into a record: TLS has no urgent data, the
 * byte is one of the record's.  The record and the next one read intact,
 * and no urgent mark is left behind.  Before, with urgent data out of
 * line, tcp_inq() stopped at the mark, so the record never looked whole
 * and the reader waited for ever (and tcp_read_sock() would have stopped
 * there too when consuming it).
 */
TEST_F(wire, rx_urgent_pointer_in_record)
{
	unsigned char rec[CC_MAX_RECORD], data[1000], got[1000];
	struct pollfd pfd = { .fd = self->tls, .events = POLLPRI };
	ssize_t n;

	if (ku_ulp_is_intree())
		SKIP(return, "the in-tree 6.1 module stalls on it too");
	wire_keys(_metadata, self, variant, 0);
	fill_random(data, sizeof(data), 191);
	n = cc_seal(&self->seal, CC_TYPE_DATA, data, sizeof(data), 0, rec,
		    sizeof(rec));
	ASSERT_GT(n, 400);
	raw_write(_metadata, self->raw, rec, 300);
	ASSERT_EQ(1, send(self->raw, rec + 300, 1, MSG_OOB));
	raw_write(_metadata, self->raw, rec + 301, n - 301);
	wire_send_record(_metadata, self, CC_TYPE_DATA, "after", 5, 0);

	ASSERT_EQ(sizeof(data), recv_all(self->tls, got, sizeof(data),
					 IO_RECV, false));
	EXPECT_EQ(0, memcmp(got, data, sizeof(data)));
	ASSERT_EQ(5, recv(self->tls, got, sizeof(got), 0));
	EXPECT_EQ(0, memcmp(got, "after", 5));
	EXPECT_EQ(0, poll(&pfd, 1, 0));
}

/*
 * A second urgent pointer while the first urgent byte is the next one to
 * read: with urgent data out of line TCP skips that byte, under the
 * parser.  ktls keeps urgent data inline (SO_OOBINLINE on): nothing is
 * skipped and both records read intact.
 */
TEST_F(wire, rx_urgent_pointer_twice)
{
	unsigned char a[100], b[500], rec[CC_MAX_RECORD], got[500];
	int inline_on = 0;
	socklen_t len = sizeof(inline_on);
	ssize_t n;

	if (ku_ulp_is_intree())
		SKIP(return, "the in-tree 6.1 module lets TCP skip the byte");
	wire_keys(_metadata, self, variant, 0);
	fill_random(a, sizeof(a), 192);
	fill_random(b, sizeof(b), 193);
	wire_send_record(_metadata, self, CC_TYPE_DATA, a, sizeof(a), 0);
	n = cc_seal(&self->seal, CC_TYPE_DATA, b, sizeof(b), 0, rec,
		    sizeof(rec));
	ASSERT_GT(n, 10);
	ASSERT_EQ(1, send(self->raw, rec, 1, MSG_OOB));
	ASSERT_EQ(sizeof(a), recv_all(self->tls, got, sizeof(a), IO_RECV,
				      false));
	EXPECT_EQ(0, memcmp(got, a, sizeof(a)));
	msleep(20);
	raw_write(_metadata, self->raw, rec + 1, n - 2);
	ASSERT_EQ(1, send(self->raw, rec + n - 1, 1, MSG_OOB));
	ASSERT_EQ(sizeof(b), recv_all(self->tls, got, sizeof(b), IO_RECV,
				      false));
	EXPECT_EQ(0, memcmp(got, b, sizeof(b)));
	ASSERT_EQ(0, getsockopt(self->tls, SOL_SOCKET, SO_OOBINLINE,
				&inline_on, &len));
	EXPECT_EQ(1, inline_on);
}

/* EOF in the middle of a record is not a clean end of stream. */
TEST_F(wire, eof_inside_record)
{
	unsigned char rec[CC_MAX_RECORD], data[100], got[200];
	ssize_t n;

	wire_keys(_metadata, self, variant, 0);
	fill_random(data, sizeof(data), 160);
	wire_send_record(_metadata, self, CC_TYPE_DATA, data, 50, 0);
	n = cc_seal(&self->seal, CC_TYPE_DATA, data, sizeof(data), 0, rec,
		    sizeof(rec));
	ASSERT_GT(n, 0);
	raw_write(_metadata, self->raw, rec, n - 10);
	ASSERT_EQ(0, shutdown(self->raw, SHUT_WR));
	ASSERT_EQ(50, recv(self->tls, got, sizeof(got), 0));
	EXPECT_EQ(0, memcmp(got, data, 50));
	n = recv(self->tls, got, sizeof(got), 0);
	EXPECT_TRUE(n <= 0) {
		TH_LOG("a truncated record returned %zd bytes", n);
	}
}
