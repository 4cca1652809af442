// SPDX-License-Identifier: GPL-2.0
/*
 * crosscheck_test - proves crosscheck.c right on its own, on the host,
 * before it is used to judge the kernel.
 *
 * The reference is GnuTLS (its record layer runs on nettle, not OpenSSL):
 * two GnuTLS sessions complete a handshake over a socketpair, then the
 * negotiated traffic keys are read back with gnutls_record_get_state() and
 * turned into a struct tls12_crypto_info_* exactly as a kTLS user would.
 *   - records GnuTLS writes are read raw off the socket and opened by
 *     crosscheck (including TLS 1.3 padding and an alert);
 *   - records crosscheck seals are written raw into the socket and must be
 *     accepted by GnuTLS's gnutls_record_recv();
 * for TLS 1.2 and 1.3 with AES-GCM-128/256, AES-CCM-128 and
 * ChaCha20-Poly1305.  Negative controls check that a wrong sequence number
 * or a flipped bit is refused.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "kselftest_harness.h"
#include "crosscheck.h"

struct gt_pair {
	int sv[2];			/* [0] client end, [1] server end */
	gnutls_session_t cli, srv;
	gnutls_certificate_credentials_t ccred, scred;
	gnutls_x509_privkey_t key;
	gnutls_x509_crt_t crt;
	int cli_ret;
};

/* A throwaway self-signed ECDSA P-256 certificate for the server. */
static int gt_make_cert(struct gt_pair *p)
{
	static const char dn[] = "CN=ktls-crosscheck";
	unsigned char serial = 1;
	time_t now = time(NULL);

	if (gnutls_x509_privkey_init(&p->key) ||
	    gnutls_x509_privkey_generate(p->key, GNUTLS_PK_ECDSA,
			GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) ||
	    gnutls_x509_crt_init(&p->crt) ||
	    gnutls_x509_crt_set_version(p->crt, 3) ||
	    gnutls_x509_crt_set_serial(p->crt, &serial, 1) ||
	    gnutls_x509_crt_set_activation_time(p->crt, now - 3600) ||
	    gnutls_x509_crt_set_expiration_time(p->crt, now + 3600) ||
	    gnutls_x509_crt_set_dn(p->crt, dn, NULL) ||
	    gnutls_x509_crt_set_key(p->crt, p->key) ||
	    gnutls_x509_crt_sign2(p->crt, p->crt, p->key, GNUTLS_DIG_SHA256, 0))
		return -1;
	return 0;
}

static void *gt_client_handshake(void *arg)
{
	struct gt_pair *p = arg;

	do {
		p->cli_ret = gnutls_handshake(p->cli);
	} while (p->cli_ret < 0 && !gnutls_error_is_fatal(p->cli_ret));
	if (p->cli_ret < 0)
		shutdown(p->sv[0], SHUT_RDWR);	/* wake the server */
	return NULL;
}

/*
 * Returns 0 when both ends completed the handshake with @prio.  The client
 * does not verify the certificate: only the record layer matters here.
 */
static int gt_connect(struct gt_pair *p, const char *prio)
{
	const char *err;
	pthread_t thr;
	int ret;

	memset(p, 0, sizeof(*p));
	p->sv[0] = p->sv[1] = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, p->sv))
		return -1;
	if (gt_make_cert(p) ||
	    gnutls_certificate_allocate_credentials(&p->ccred) ||
	    gnutls_certificate_allocate_credentials(&p->scred) ||
	    gnutls_certificate_set_x509_key(p->scred, &p->crt, 1, p->key))
		return -1;

	if (gnutls_init(&p->cli, GNUTLS_CLIENT | GNUTLS_NO_TICKETS) ||
	    gnutls_init(&p->srv, GNUTLS_SERVER | GNUTLS_NO_TICKETS))
		return -1;
	if (gnutls_priority_set_direct(p->cli, prio, &err) ||
	    gnutls_priority_set_direct(p->srv, prio, &err))
		return -1;
	gnutls_credentials_set(p->cli, GNUTLS_CRD_CERTIFICATE, p->ccred);
	gnutls_credentials_set(p->srv, GNUTLS_CRD_CERTIFICATE, p->scred);
	gnutls_transport_set_int(p->cli, p->sv[0]);
	gnutls_transport_set_int(p->srv, p->sv[1]);

	if (pthread_create(&thr, NULL, gt_client_handshake, p))
		return -1;
	do {
		ret = gnutls_handshake(p->srv);
	} while (ret < 0 && !gnutls_error_is_fatal(ret));
	if (ret < 0)
		shutdown(p->sv[1], SHUT_RDWR);	/* wake the client */
	pthread_join(thr, NULL);
	return ret < 0 || p->cli_ret < 0 ? -1 : 0;
}

static void gt_close(struct gt_pair *p)
{
	if (p->cli)
		gnutls_deinit(p->cli);
	if (p->srv)
		gnutls_deinit(p->srv);
	if (p->ccred)
		gnutls_certificate_free_credentials(p->ccred);
	if (p->scred)
		gnutls_certificate_free_credentials(p->scred);
	if (p->crt)
		gnutls_x509_crt_deinit(p->crt);
	if (p->key)
		gnutls_x509_privkey_deinit(p->key);
	close(p->sv[0]);
	close(p->sv[1]);
}

/*
 * What a kTLS user does: crypto_info from the session's current state in
 * one direction.  For TLS 1.2 GCM/CCM GnuTLS reports the 4-byte implicit
 * salt; the explicit part is ours to choose and, like the GnuTLS and OpenSSL
 * kTLS code, we use the sequence number.
 */
static size_t gt_crypto_info(gnutls_session_t s, int read,
			     union cc_crypto_info *ci)
{
	gnutls_datum_t mac, iv, key;
	unsigned char seq[8], material[64];
	uint16_t version, cipher;
	size_t n;

	if (gnutls_record_get_state(s, read, &mac, &iv, &key, seq))
		return 0;
	version = gnutls_protocol_get_version(s) == GNUTLS_TLS1_3 ?
		  TLS_1_3_VERSION : TLS_1_2_VERSION;
	switch (gnutls_cipher_get(s)) {
	case GNUTLS_CIPHER_AES_128_GCM:
		cipher = TLS_CIPHER_AES_GCM_128;
		break;
	case GNUTLS_CIPHER_AES_256_GCM:
		cipher = TLS_CIPHER_AES_GCM_256;
		break;
	case GNUTLS_CIPHER_AES_128_CCM:
		cipher = TLS_CIPHER_AES_CCM_128;
		break;
	case GNUTLS_CIPHER_CHACHA20_POLY1305:
		cipher = TLS_CIPHER_CHACHA20_POLY1305;
		break;
	default:
		return 0;
	}
	memset(material, 0, sizeof(material));
	memcpy(material, key.data, key.size);
	n = key.size;
	memcpy(material + n, iv.data, iv.size);
	n += iv.size;
	if (iv.size == 4)
		memcpy(material + n, seq, 8);
	return cc_crypto_info_fill(ci, version, cipher, material,
				   ((uint64_t)seq[0] << 56) |
				   ((uint64_t)seq[1] << 48) |
				   ((uint64_t)seq[2] << 40) |
				   ((uint64_t)seq[3] << 32) |
				   ((uint64_t)seq[4] << 24) |
				   ((uint64_t)seq[5] << 16) |
				   ((uint64_t)seq[6] << 8) | seq[7]);
}

/* One whole record from a stream socket. */
static ssize_t read_record(int fd, unsigned char *buf, size_t cap)
{
	size_t len;

	if (recv(fd, buf, CC_HDR_LEN, MSG_WAITALL) != CC_HDR_LEN)
		return -1;
	len = cc_record_len(buf);
	if (len > cap)
		return -1;
	if (recv(fd, buf + CC_HDR_LEN, len - CC_HDR_LEN, MSG_WAITALL) !=
	    (ssize_t)(len - CC_HDR_LEN))
		return -1;
	return len;
}

static void fill_pattern(unsigned char *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		seed = seed * 1103515245 + 12345;
		p[i] = seed >> 16;
	}
}

FIXTURE(gnutls)
{
	struct gt_pair p;
	bool tls13;
};

FIXTURE_VARIANT(gnutls)
{
	const char *prio;
	bool tls13;
	uint16_t cipher;
};

#define GT_PRIO(v, c) "NORMAL:-VERS-ALL:+VERS-" v ":-CIPHER-ALL:+" c

FIXTURE_VARIANT_ADD(gnutls, tls12_aes_gcm_128)
{
	.prio = GT_PRIO("TLS1.2", "AES-128-GCM"),
	.cipher = TLS_CIPHER_AES_GCM_128,
};

FIXTURE_VARIANT_ADD(gnutls, tls12_aes_gcm_256)
{
	.prio = GT_PRIO("TLS1.2", "AES-256-GCM"),
	.cipher = TLS_CIPHER_AES_GCM_256,
};

FIXTURE_VARIANT_ADD(gnutls, tls12_aes_ccm_128)
{
	.prio = GT_PRIO("TLS1.2", "AES-128-CCM"),
	.cipher = TLS_CIPHER_AES_CCM_128,
};

FIXTURE_VARIANT_ADD(gnutls, tls12_chacha20_poly1305)
{
	.prio = GT_PRIO("TLS1.2", "CHACHA20-POLY1305"),
	.cipher = TLS_CIPHER_CHACHA20_POLY1305,
};

FIXTURE_VARIANT_ADD(gnutls, tls13_aes_gcm_128)
{
	.prio = GT_PRIO("TLS1.3", "AES-128-GCM"),
	.tls13 = true,
	.cipher = TLS_CIPHER_AES_GCM_128,
};

FIXTURE_VARIANT_ADD(gnutls, tls13_aes_gcm_256)
{
	.prio = GT_PRIO("TLS1.3", "AES-256-GCM"),
	.tls13 = true,
	.cipher = TLS_CIPHER_AES_GCM_256,
};

FIXTURE_VARIANT_ADD(gnutls, tls13_aes_ccm_128)
{
	.prio = GT_PRIO("TLS1.3", "AES-128-CCM"),
	.tls13 = true,
	.cipher = TLS_CIPHER_AES_CCM_128,
};

FIXTURE_VARIANT_ADD(gnutls, tls13_chacha20_poly1305)
{
	.prio = GT_PRIO("TLS1.3", "CHACHA20-POLY1305"),
	.tls13 = true,
	.cipher = TLS_CIPHER_CHACHA20_POLY1305,
};

FIXTURE_SETUP(gnutls)
{
	ASSERT_EQ(0, gt_connect(&self->p, variant->prio)) {
		TH_LOG("GnuTLS handshake failed for %s", variant->prio);
	}
	ASSERT_EQ(variant->tls13 ? GNUTLS_TLS1_3 : GNUTLS_TLS1_2,
		  gnutls_protocol_get_version(self->p.cli));
}

FIXTURE_TEARDOWN(gnutls)
{
	gt_close(&self->p);
}

/* GnuTLS seals, crosscheck opens. */
TEST_F(gnutls, open_gnutls_records)
{
	static const size_t sizes[] = { 1, 13, 1000, 16383, 16384 };
	unsigned char data[CC_MAX_PLAINTEXT], rec[CC_MAX_RECORD];
	unsigned char pt[CC_MAX_PLAINTEXT + 1];
	union cc_crypto_info ci;
	struct cc_state st;
	size_t i, len;
	ssize_t n;
	uint8_t type;

	len = gt_crypto_info(self->p.cli, 0, &ci);
	ASSERT_NE(0, len);
	ASSERT_EQ(variant->cipher, ci.info.cipher_type);
	ASSERT_EQ(0, cc_init(&st, &ci, len));

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		fill_pattern(data, sizes[i], i);
		ASSERT_EQ((ssize_t)sizes[i],
			  gnutls_record_send(self->p.cli, data, sizes[i]));
		n = read_record(self->p.sv[1], rec, sizeof(rec));
		ASSERT_GT(n, 0);
		EXPECT_EQ(n, (ssize_t)(sizes[i] +
			  cc_record_overhead(ci.info.version,
					     ci.info.cipher_type)));
		n = cc_open(&st, rec, n, &type, pt, sizeof(pt));
		ASSERT_EQ((ssize_t)sizes[i], n);
		EXPECT_EQ(CC_TYPE_DATA, type);
		EXPECT_EQ(0, memcmp(pt, data, sizes[i]));
	}

	if (variant->tls13) {
		/* A record with 300 bytes of zero padding after the type. */
		fill_pattern(data, 500, 99);
		ASSERT_EQ(500, gnutls_record_send2(self->p.cli, data, 500,
						   300, 0));
		n = read_record(self->p.sv[1], rec, sizeof(rec));
		ASSERT_GT(n, 0);
		EXPECT_EQ(n, (ssize_t)(500 + 300 +
			  cc_record_overhead(ci.info.version,
					     ci.info.cipher_type)));
		n = cc_open(&st, rec, n, &type, pt, sizeof(pt));
		ASSERT_EQ(500, n);
		EXPECT_EQ(CC_TYPE_DATA, type);
		EXPECT_EQ(0, memcmp(pt, data, 500));
	}

	/* A non-data record: a warning alert (2 bytes). */
	ASSERT_EQ(0, gnutls_alert_send(self->p.cli, GNUTLS_AL_WARNING,
				       GNUTLS_A_USER_CANCELED));
	n = read_record(self->p.sv[1], rec, sizeof(rec));
	ASSERT_GT(n, 0);
	n = cc_open(&st, rec, n, &type, pt, sizeof(pt));
	ASSERT_EQ(2, n);
	EXPECT_EQ(CC_TYPE_ALERT, type);
	EXPECT_EQ(GNUTLS_A_USER_CANCELED, pt[1]);
	cc_free(&st);
}

/* crosscheck seals, GnuTLS opens. */
TEST_F(gnutls, seal_for_gnutls)
{
	static const size_t sizes[] = { 1, 2, 777, 16384 };
	unsigned char data[CC_MAX_PLAINTEXT], rec[CC_MAX_RECORD];
	unsigned char pt[CC_MAX_PLAINTEXT];
	union cc_crypto_info ci;
	struct cc_state st;
	size_t i, len;
	ssize_t n;

	len = gt_crypto_info(self->p.srv, 0, &ci);
	ASSERT_NE(0, len);
	ASSERT_EQ(0, cc_init(&st, &ci, len));

	for (i = 0; i < ARRAY_SIZE(sizes) + variant->tls13; i++) {
		size_t sz = i < ARRAY_SIZE(sizes) ? sizes[i] : 1000;
		size_t pad = i < ARRAY_SIZE(sizes) ? 0 : 200;

		fill_pattern(data, sz, 7 * i);
		n = cc_seal(&st, CC_TYPE_DATA, data, sz, pad, rec,
			    sizeof(rec));
		ASSERT_GT(n, 0);
		ASSERT_EQ(n, write(self->p.sv[1], rec, n));
		n = gnutls_record_recv(self->p.cli, pt, sizeof(pt));
		ASSERT_EQ((ssize_t)sz, n) {
			TH_LOG("gnutls_record_recv: %s",
			       n < 0 ? gnutls_strerror(n) : "short");
		}
		EXPECT_EQ(0, memcmp(pt, data, sz));
	}
	cc_free(&st);
}

/* A record opened with the wrong sequence number or one flipped bit fails. */
TEST_F(gnutls, negative_controls)
{
	unsigned char data[100], rec[CC_MAX_RECORD], copy[CC_MAX_RECORD];
	unsigned char pt[CC_MAX_PLAINTEXT + 1];
	union cc_crypto_info ci;
	struct cc_state st;
	size_t len, i;
	uint64_t seq0;
	ssize_t n;
	uint8_t type;

	len = gt_crypto_info(self->p.cli, 0, &ci);
	ASSERT_NE(0, len);
	ASSERT_EQ(0, cc_init(&st, &ci, len));
	seq0 = st.seq;	/* 1 on TLS 1.2: Finished used 0 */
	fill_pattern(data, sizeof(data), 3);
	ASSERT_EQ((ssize_t)sizeof(data),
		  gnutls_record_send(self->p.cli, data, sizeof(data)));
	n = read_record(self->p.sv[1], rec, sizeof(rec));
	ASSERT_GT(n, 0);

	st.seq++;
	EXPECT_EQ(-EBADMSG, cc_open(&st, rec, n, &type, pt, sizeof(pt)));
	st.seq--;
	for (i = CC_HDR_LEN; i < (size_t)n; i += 7) {
		memcpy(copy, rec, n);
		copy[i] ^= 0x10;
		EXPECT_EQ(-EBADMSG, cc_open(&st, copy, n, &type, pt,
					    sizeof(pt)));
	}
	memcpy(copy, rec, n);
	copy[1] = 1;
	EXPECT_EQ(-EINVAL, cc_open(&st, copy, n, &type, pt, sizeof(pt)));
	EXPECT_EQ(seq0, st.seq);
	EXPECT_EQ((ssize_t)sizeof(data), cc_open(&st, rec, n, &type, pt,
						 sizeof(pt)));
	EXPECT_EQ(0, memcmp(pt, data, sizeof(data)));
	EXPECT_EQ(seq0 + 1, st.seq);
	cc_free(&st);
}

/* seal/open round trip from a mid-stream sequence number, no GnuTLS. */
TEST(roundtrip_all)
{
	static const uint16_t ciphers[] = {
		TLS_CIPHER_AES_GCM_128, TLS_CIPHER_AES_GCM_256,
		TLS_CIPHER_AES_CCM_128, TLS_CIPHER_CHACHA20_POLY1305,
	};
	static const uint16_t versions[] = { TLS_1_2_VERSION,
					     TLS_1_3_VERSION };
	unsigned char material[64], data[CC_MAX_PLAINTEXT];
	unsigned char rec[CC_MAX_RECORD], pt[CC_MAX_PLAINTEXT + 1];
	union cc_crypto_info ci;
	struct cc_state tx, rx;
	size_t v, c, len, r;
	ssize_t n;
	uint8_t type;

	fill_pattern(material, sizeof(material), 11);
	for (v = 0; v < ARRAY_SIZE(versions); v++) {
		for (c = 0; c < ARRAY_SIZE(ciphers); c++) {
			len = cc_crypto_info_fill(&ci, versions[v], ciphers[c],
						  material,
						  0x0102030405060708ULL);
			ASSERT_EQ(cc_crypto_info_size(ciphers[c]), len);
			ASSERT_EQ(0, cc_init(&tx, &ci, len));
			ASSERT_EQ(0, cc_init(&rx, &ci, len));
			for (r = 0; r < 5; r++) {
				size_t sz = r * 4000 + 1;

				fill_pattern(data, sz, r);
				n = cc_seal(&tx, CC_TYPE_HANDSHAKE - (r & 1),
					    data, sz, 0, rec, sizeof(rec));
				ASSERT_GT(n, 0);
				n = cc_open(&rx, rec, n, &type, pt,
					    sizeof(pt));
				ASSERT_EQ((ssize_t)sz, n);
				EXPECT_EQ(CC_TYPE_HANDSHAKE - (r & 1), type);
				EXPECT_EQ(0, memcmp(pt, data, sz));
			}
			EXPECT_EQ(0x0102030405060708ULL + 5, rx.seq);
			cc_free(&tx);
			cc_free(&rx);
		}
	}
}

/*
 * cc_seal_inner: the same record as cc_seal when given cc_seal's inner
 * plaintext; records past the limit, empty or all-padding inner plaintext
 * are sealed, and cc_open refuses them as a receiver must.
 */
TEST(seal_inner)
{
	static const uint16_t versions[] = { TLS_1_2_VERSION,
					     TLS_1_3_VERSION };
	unsigned char material[64], inner[CC_MAX_PLAINTEXT + 2];
	unsigned char a[CC_MAX_RECORD + 8], b[CC_MAX_RECORD + 8];
	unsigned char pt[CC_MAX_PLAINTEXT + 2];
	union cc_crypto_info ci;
	struct cc_state s1, s2, rx;
	size_t v, len;
	ssize_t n, m;
	uint8_t type;

	fill_pattern(material, sizeof(material), 12);
	for (v = 0; v < ARRAY_SIZE(versions); v++) {
		bool tls13 = versions[v] == TLS_1_3_VERSION;

		len = cc_crypto_info_fill(&ci, versions[v],
					  TLS_CIPHER_AES_GCM_128, material, 7);
		ASSERT_EQ(0, cc_init(&s1, &ci, len));
		ASSERT_EQ(0, cc_init(&s2, &ci, len));
		ASSERT_EQ(0, cc_init(&rx, &ci, len));
		fill_pattern(inner, 100, 13);
		n = cc_seal(&s1, CC_TYPE_ALERT, inner, 100, tls13 ? 3 : 0, a,
			    sizeof(a));
		ASSERT_GT(n, 0);
		if (tls13) {
			inner[100] = CC_TYPE_ALERT;
			memset(inner + 101, 0, 3);
		}
		m = cc_seal_inner(&s2, CC_TYPE_ALERT, inner,
				  tls13 ? 104 : 100, b, sizeof(b));
		ASSERT_EQ(n, m);
		EXPECT_EQ(0, memcmp(a, b, n));
		EXPECT_EQ(100, cc_open(&rx, b, m, &type, pt, sizeof(pt)));
		EXPECT_EQ(CC_TYPE_ALERT, type);

		/* One byte past the largest record. */
		fill_pattern(inner, sizeof(inner), 14);
		len = CC_MAX_PLAINTEXT + 1 + tls13;
		inner[len - 1] = CC_TYPE_DATA;
		m = cc_seal_inner(&s2, CC_TYPE_DATA, inner, len, b, sizeof(b));
		ASSERT_GT(m, 0);
		EXPECT_EQ(-EMSGSIZE, cc_open(&rx, b, m, &type, pt,
					     sizeof(pt)));
		if (tls13) {
			/* Empty and all-padding inner plaintext. */
			s2.seq = rx.seq;
			m = cc_seal_inner(&s2, 0, inner, 0, b, sizeof(b));
			ASSERT_GT(m, 0);
			EXPECT_EQ(-EBADMSG, cc_open(&rx, b, m, &type, pt,
						    sizeof(pt)));
			s2.seq = rx.seq;
			memset(inner, 0, 40);
			m = cc_seal_inner(&s2, 0, inner, 40, b, sizeof(b));
			ASSERT_GT(m, 0);
			EXPECT_EQ(-EBADMSG, cc_open(&rx, b, m, &type, pt,
						    sizeof(pt)));
		}
		cc_free(&s1);
		cc_free(&s2);
		cc_free(&rx);
	}
}

TEST_HARNESS_MAIN
