// SPDX-License-Identifier: GPL-2.0
/*
 * ktls_test: what ktls sends, checked by crosscheck.c (fixture wire).
 *
 * Records of every size, sendfile, splice, MSG_MORE, control records,
 * TLS_TX_MAX_PAYLOAD_LEN, sequence numbers, TLS 1.3 KeyUpdate on TX and
 * sends that fault part way.
 *
 * Part of the ktls_test translation unit: ktls_test.c includes it after
 * ktls_test.h (see there why).
 */
#include "ktls_test.h"

/* (a) What the ULP sends opens with an independent implementation. */
TEST_F(wire, tx_records_crosscheck)
{
	static const size_t sizes[] = {
		1, 2, 100, 4096, 16383, 16384, 16385, 50000, 100000,
	};
	size_t i, records = 0;

	wire_keys(_metadata, self, variant, 0);
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		unsigned char *data = random_buf(sizes[i], 20 + i);
		struct xfer x = { .fd = self->tls, .buf = data,
				  .len = sizes[i] };
		size_t r;

		ASSERT_NE(NULL, data);
		ASSERT_EQ(0, xfer_start(&x));
		r = wire_expect_data(_metadata, self, data, sizes[i]);
		xfer_join(&x);
		ASSERT_EQ(0, x.err);
		/* Full records only: the fewest records that can carry it. */
		EXPECT_EQ((sizes[i] + CC_MAX_PLAINTEXT - 1) / CC_MAX_PLAINTEXT,
			  r);
		records += r;
		free(data);
	}
	EXPECT_EQ(records, tx_rec_seq(_metadata, self->tls, self->len));
}

/*
 * TLS 1.3 KeyUpdate on TX: an open record is sealed under the old key, what
 * follows uses the new one; a rekey must keep version and cipher.
 */
TEST_F(wire, tx_key_update)
{
	union cc_crypto_info next, other;
	uint16_t other_cipher;

	if (skip_rekey(variant))
		SKIP(return, "KeyUpdate: TLS 1.3 on ktls only");
	wire_keys(_metadata, self, variant, 0);
	ASSERT_EQ(3, send(self->tls, "old", 3, 0));
	EXPECT_EQ(1, wire_expect_data(_metadata, self,
				      (const unsigned char *)"old", 3));
	ASSERT_EQ(4, send(self->tls, "open", 4, MSG_MORE));

	other_cipher = variant->cipher == TLS_CIPHER_AES_GCM_128 ?
		       TLS_CIPHER_AES_GCM_256 : TLS_CIPHER_AES_GCM_128;
	make_info(&other, TLS_1_3_VERSION, other_cipher, SEED_A + 2, 0);
	EXPECT_EQ(-1, setsockopt(self->tls, SOL_TLS, TLS_TX, &other,
				 cc_crypto_info_size(other_cipher)));
	EXPECT_EQ(EINVAL, errno);

	ASSERT_EQ(self->len, make_info(&next, variant->version,
				       variant->cipher, SEED_A + 1, 0));
	set_key(_metadata, self->tls, TLS_TX, &next, self->len);
	/* The open record went out under the old key. */
	EXPECT_EQ(1, wire_expect_data(_metadata, self,
				      (const unsigned char *)"open", 4));
	cc_free(&self->open);
	ASSERT_EQ(0, cc_init(&self->open, &next, self->len));
	self->tx = next;
	ASSERT_EQ(3, send(self->tls, "new", 3, 0));
	EXPECT_EQ(1, wire_expect_data(_metadata, self,
				      (const unsigned char *)"new", 3));
	EXPECT_EQ(1, tx_rec_seq(_metadata, self->tls, self->len));
}

/* TLS_TX_MAX_PAYLOAD_LEN (kernels >= 6.19; not in the 6.1 in-tree module). */
TEST_F(wire, tx_max_payload)
{
	unsigned char *data = random_buf(1000, 31);
	socklen_t optlen = sizeof(uint16_t);
	uint16_t v = 100, got = 0;

	wire_keys(_metadata, self, variant, 0);
	if (ku_ulp_is_intree())
		SKIP(return, "the 6.1 in-tree module has no TLS_TX_MAX_PAYLOAD_LEN");
	ASSERT_NE(NULL, data);
	ASSERT_EQ(0, getsockopt(self->tls, SOL_TLS, TLS_TX_MAX_PAYLOAD_LEN,
				&got, &optlen));
	EXPECT_EQ(16384, got);
	EXPECT_EQ(sizeof(uint16_t), optlen);

	v = 63;
	EXPECT_EQ(-1, setsockopt(self->tls, SOL_TLS, TLS_TX_MAX_PAYLOAD_LEN,
				 &v, sizeof(v)));
	EXPECT_EQ(EINVAL, errno);
	v = 16385;
	EXPECT_EQ(-1, setsockopt(self->tls, SOL_TLS, TLS_TX_MAX_PAYLOAD_LEN,
				 &v, sizeof(v)));
	EXPECT_EQ(EINVAL, errno);
	v = 100;
	EXPECT_EQ(-1, setsockopt(self->tls, SOL_TLS, TLS_TX_MAX_PAYLOAD_LEN,
				 &v, sizeof(int)));
	EXPECT_EQ(EINVAL, errno);
	ASSERT_EQ(0, setsockopt(self->tls, SOL_TLS, TLS_TX_MAX_PAYLOAD_LEN,
				&v, sizeof(v)));
	optlen = sizeof(got);
	ASSERT_EQ(0, getsockopt(self->tls, SOL_TLS, TLS_TX_MAX_PAYLOAD_LEN,
				&got, &optlen));
	EXPECT_EQ(100, got);

	/* 1000 bytes in one send: ten records of 100, checked on the wire. */
	ASSERT_EQ(1000, send(self->tls, data, 1000, 0));
	EXPECT_EQ(10, wire_expect_data(_metadata, self, data, 1000));

	/* Not while a record is open. */
	ASSERT_EQ(10, send(self->tls, data, 10, MSG_MORE));
	v = 200;
	EXPECT_EQ(-1, setsockopt(self->tls, SOL_TLS, TLS_TX_MAX_PAYLOAD_LEN,
				 &v, sizeof(v)));
	EXPECT_EQ(EBUSY, errno);
	ASSERT_EQ(10, send(self->tls, data + 10, 10, 0));
	EXPECT_EQ(1, wire_expect_data(_metadata, self, data, 20));
	EXPECT_EQ(0, setsockopt(self->tls, SOL_TLS, TLS_TX_MAX_PAYLOAD_LEN,
				&v, sizeof(v)));
	free(data);
}

/*
 * The last sequence number may be used once; after it, a record would
 * reuse a nonce, so TX fails with EBADMSG and RX rejects the next record.
 * (The 6.1 in-tree module wraps around instead.)
 */
TEST_F(wire, seq_wrap)
{
	unsigned char rec[CC_MAX_RECORD];
	char buf[16];
	ssize_t n;

	if (ku_ulp_is_intree())
		SKIP(return, "the 6.1 in-tree module reuses the nonce after a wrap");
	wire_keys(_metadata, self, variant, UINT64_MAX);

	ASSERT_EQ(4, send(self->tls, "last", 4, 0));
	EXPECT_EQ(1, wire_expect_data(_metadata, self,
				      (const unsigned char *)"last", 4));
	EXPECT_EQ(-1, send(self->tls, "more", 4, 0));
	EXPECT_EQ(EBADMSG, errno);

	n = cc_seal(&self->seal, CC_TYPE_DATA, "last", 4, 0, rec, sizeof(rec));
	ASSERT_GT(n, 0);
	raw_write(_metadata, self->raw, rec, n);
	n = cc_seal(&self->seal, CC_TYPE_DATA, "next", 4, 0, rec, sizeof(rec));
	ASSERT_GT(n, 0);
	raw_write(_metadata, self->raw, rec, n);
	ASSERT_EQ(4, recv(self->tls, buf, sizeof(buf), 0));
	EXPECT_EQ(0, memcmp(buf, "last", 4));
	EXPECT_EQ(-1, recv(self->tls, buf, sizeof(buf), 0));
	EXPECT_EQ(EBADMSG, errno);
}

TEST_F(wire, tx_odd_sends_crosscheck)
{
	size_t len = 120001;
	unsigned char *data = random_buf(len, 30);
	struct xfer x = { .fd = self->tls, .buf = data, .len = len,
			  .odd = true, .mode = IO_SENDMSG };

	wire_keys(_metadata, self, variant, 0);
	ASSERT_NE(NULL, data);
	ASSERT_EQ(0, xfer_start(&x));
	wire_expect_data(_metadata, self, data, len);
	xfer_join(&x);
	EXPECT_EQ(0, x.err);
	free(data);
}

TEST_F_TIMEOUT(wire, tx_sendfile_crosscheck, 60)
{
	static const size_t sizes[] = { 100, 16384, MIB + 333 };
	size_t i;

	wire_keys(_metadata, self, variant, 0);
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		unsigned char *data = random_buf(sizes[i], 40 + i);
		struct xfer x = { .fd = self->tls, .mode = IO_SENDFILE,
				  .len = sizes[i] };

		ASSERT_NE(NULL, data);
		x.file_fd = temp_file(data, sizes[i]);
		ASSERT_GE(x.file_fd, 0);
		ASSERT_EQ(0, xfer_start(&x));
		wire_expect_data(_metadata, self, data, sizes[i]);
		xfer_join(&x);
		EXPECT_EQ(0, x.err);
		close(x.file_fd);
		free(data);
	}
}

/* MSG_MORE keeps the record open: two sends, one record. */
TEST_F(wire, tx_msg_more_one_record)
{
	unsigned char data[30];

	wire_keys(_metadata, self, variant, 0);
	fill_random(data, sizeof(data), 50);
	ASSERT_EQ(10, send(self->tls, data, 10, MSG_MORE));
	ASSERT_EQ(20, send(self->tls, data + 10, 20, 0));
	EXPECT_EQ(1, wire_expect_data(_metadata, self, data, sizeof(data)));
}

/*
 * Whole records sealed during a MSG_MORE send reach the peer without a
 * further send.  TCP may hold them back a moment, as it holds back any
 * MSG_MORE data short of a segment, but its probe timer sends them when
 * nothing else is in flight.  (The soak found ktls leaving records it had
 * sealed in place in TCP's queue unpushed and without that timer: with
 * the sender's buffer full the application never sent again, and both
 * directions of a connection stalled for good.)  Only the open record's
 * bytes wait.  Full records, then (ktls only) records of 1000 bytes, which
 * the writer always seals itself, never a worker that pushes on its own.
 */
TEST_F(wire, tx_msg_more_full_records_go)
{
	size_t sizes[] = { CC_MAX_PLAINTEXT, 1000 }, i;
	unsigned char *data = random_buf(3 * CC_MAX_PLAINTEXT + 101, 52);

	ASSERT_NE(NULL, data);
	wire_keys(_metadata, self, variant, 0);
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		size_t whole = 3 * sizes[i];
		uint16_t v = sizes[i];

		if (sizes[i] != CC_MAX_PLAINTEXT) {
			if (ku_ulp_is_intree())
				break;	/* no TLS_TX_MAX_PAYLOAD_LEN on 6.1 */
			ASSERT_EQ(0, setsockopt(self->tls, SOL_TLS,
						TLS_TX_MAX_PAYLOAD_LEN, &v,
						sizeof(v)));
		}
		ASSERT_EQ((ssize_t)(whole + 100),
			  send(self->tls, data, whole + 100, MSG_MORE));
		/* The raw side's reads time out after 10 s. */
		EXPECT_EQ(3, wire_expect_data(_metadata, self, data, whole)) {
			TH_LOG("records of %zu bytes", sizes[i]);
		}
		ASSERT_EQ(1, send(self->tls, data + whole + 100, 1, 0));
		EXPECT_EQ(1, wire_expect_data(_metadata, self, data + whole,
					      101));
	}
	free(data);
}

TEST_F(wire, tx_control_record)
{
	unsigned char rec[CC_MAX_RECORD], pt[CC_MAX_PLAINTEXT + 1];
	uint8_t type;
	ssize_t n;

	wire_keys(_metadata, self, variant, 0);
	ASSERT_EQ(9, send_record_type(self->tls, CC_TYPE_HANDSHAKE,
				      "handshake", 9, 0));
	n = raw_read_record(self->raw, rec);
	ASSERT_GT(n, 0);
	/* TLS 1.3 hides the real type inside; 1.2 shows it. */
	EXPECT_EQ(variant->version == TLS_1_3_VERSION ? CC_TYPE_DATA :
		  CC_TYPE_HANDSHAKE, rec[0]);
	n = cc_open(&self->open, rec, n, &type, pt, sizeof(pt));
	ASSERT_EQ(9, n);
	EXPECT_EQ(CC_TYPE_HANDSHAKE, type);
	EXPECT_EQ(0, memcmp(pt, "handshake", 9));
	ASSERT_EQ(4, send(self->tls, "data", 4, 0));
	EXPECT_EQ(1, wire_expect_data(_metadata, self,
				      (const unsigned char *)"data", 4));
}

/*
 * A send from a bad buffer fails with EFAULT, or takes the good part only;
 * the peer gets authentic records of exactly what was taken.
 */
TEST_F(wire, send_efault)
{
	unsigned char expect[1005], *page, *end, buf[16];
	size_t len = 0;
	ssize_t n;

	wire_keys(_metadata, self, variant, 0);
	page = guard_alloc(&end);
	ASSERT_NE(NULL, page);
	fill_random(end - 1000, 1000, 204);

	EXPECT_EQ(-1, send(self->tls, end, 100, 0));
	EXPECT_EQ(EFAULT, errno);
	n = send(self->tls, end - 1000, 3000, 0);
	if (n < 0) {
		EXPECT_EQ(EFAULT, errno);
	} else {
		ASSERT_EQ(1000, n);
		memcpy(expect, end - 1000, 1000);
		len = 1000;
	}
	ASSERT_EQ(5, send(self->tls, "after", 5, 0));
	memcpy(expect + len, "after", 5);
	len += 5;
	wire_expect_data(_metadata, self, expect, len);
	msleep(50);
	EXPECT_EQ(-1, recv(self->raw, buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ(EAGAIN, errno);
	guard_free(page);
}

/*
 * Issue 16, finding 1: a send whose copy faults leaves an empty open record;
 * a KeyUpdate then drops the records' requests with the old transform, and
 * the next send sealed that record with none (a NULL dereference).  The
 * next record goes out under the new key, and only it.
 */
TEST_F(wire, tx_key_update_after_efault)
{
	unsigned char *page, *end, buf[16];
	union cc_crypto_info next;

	if (skip_rekey(variant))
		SKIP(return, "KeyUpdate: TLS 1.3 on ktls only");
	wire_keys(_metadata, self, variant, 0);
	page = guard_alloc(&end);
	ASSERT_NE(NULL, page);

	EXPECT_EQ(-1, send(self->tls, end, 100, MSG_DONTWAIT));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, send(self->tls, (void *)1, 100, MSG_DONTWAIT));
	EXPECT_EQ(EFAULT, errno);
	ASSERT_EQ(self->len, make_info(&next, variant->version,
				       variant->cipher, SEED_A + 1, 0));
	set_key(_metadata, self->tls, TLS_TX, &next, self->len);
	ASSERT_EQ(5, send(self->tls, "hello", 5, 0));

	cc_free(&self->open);
	ASSERT_EQ(0, cc_init(&self->open, &next, self->len));
	self->tx = next;
	EXPECT_EQ(1, wire_expect_data(_metadata, self,
				      (const unsigned char *)"hello", 5));
	EXPECT_EQ(1, tx_rec_seq(_metadata, self->tls, self->len));
	msleep(50);
	EXPECT_EQ(-1, recv(self->raw, buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ(EAGAIN, errno);
	guard_free(page);
}

/* The same after a send that took some bytes before faulting: those are
 * sealed under the old key, the next send under the new one. */
TEST_F(wire, tx_key_update_after_partial_efault)
{
	unsigned char *page, *end;
	union cc_crypto_info next;
	ssize_t n;

	if (skip_rekey(variant))
		SKIP(return, "KeyUpdate: TLS 1.3 on ktls only");
	wire_keys(_metadata, self, variant, 0);
	page = guard_alloc(&end);
	ASSERT_NE(NULL, page);
	fill_random(end - 100, 100, 205);

	n = send(self->tls, end - 100, 3000, MSG_MORE);
	ASSERT_EQ(100, n);
	EXPECT_EQ(-1, send(self->tls, end, 100, MSG_MORE));
	EXPECT_EQ(EFAULT, errno);
	ASSERT_EQ(self->len, make_info(&next, variant->version,
				       variant->cipher, SEED_A + 1, 0));
	set_key(_metadata, self->tls, TLS_TX, &next, self->len);
	/* The faulting send closed the record behind MSG_MORE: the next
	 * send pushes it, ahead of its own. */
	ASSERT_EQ(5, send(self->tls, "after", 5, 0));
	EXPECT_EQ(1, wire_expect_data(_metadata, self, end - 100, 100));
	cc_free(&self->open);
	ASSERT_EQ(0, cc_init(&self->open, &next, self->len));
	self->tx = next;
	EXPECT_EQ(1, wire_expect_data(_metadata, self,
				      (const unsigned char *)"after", 5));
	guard_free(page);
}

/* What a splice from a pipe sends opens with crosscheck, in full records. */
TEST_F(wire, tx_splice_crosscheck)
{
	unsigned char *data = random_buf(40000, 207);
	int p[2];

	ASSERT_NE(NULL, data);
	wire_keys(_metadata, self, variant, 0);
	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(40000, write(p[1], data, 40000));
	ASSERT_EQ(40000, splice_to(p[0], self->tls, 40000, 0));
	EXPECT_EQ(3, wire_expect_data(_metadata, self, data, 40000));
	close(p[0]);
	close(p[1]);
	free(data);
}
