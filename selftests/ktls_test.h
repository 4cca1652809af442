/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ktls_test.h - what every part of ktls_test shares: the helpers, the
 * cipher variants and the fixtures tls, api and wire with their helpers.
 *
 * ktls_test is one translation unit: ktls_test.c includes this header and
 * then each ktls_test_*.c, because the kselftest harness keeps its fixture
 * and test lists static to a unit (and defines the fixture set-up and a
 * few of its own functions non-static), so the parts cannot be compiled
 * and linked apart.  Everything here is static and included exactly once.
 */
#ifndef KTLS_TEST_H
#define KTLS_TEST_H

#define _GNU_SOURCE	/* splice */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tls.h>

#include "kselftest_harness.h"
#include "crosscheck.h"
#include "lib/ktls_util.h"
#include "../uapi/ktls.h"

/* The harness treats this exit status of a test child as SKIP. */
#define HARNESS_SKIP_EXIT 255

#define MIB (1024 * 1024)

/* ---- small helpers ------------------------------------------------------ */

static uint64_t rnd_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void fill_random(void *buf, size_t len, uint64_t seed)
{
	unsigned char *p = buf;
	uint64_t v;

	while (len) {
		size_t n = len < 8 ? len : 8;

		v = rnd_next(&seed);
		memcpy(p, &v, n);
		p += n;
		len -= n;
	}
}

static unsigned char *random_buf(size_t len, uint64_t seed)
{
	unsigned char *p = malloc(len ? len : 1);

	if (p)
		fill_random(p, len, seed);
	return p;
}

static uint64_t be64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void msleep(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Crypto info for (version, cipher) derived from @seed. */
static size_t make_info(union cc_crypto_info *ci, uint16_t version,
			uint16_t cipher, uint64_t seed, uint64_t rec_seq)
{
	unsigned char material[64];

	fill_random(material, sizeof(material), seed);
	return cc_crypto_info_fill(ci, version, cipher, material, rec_seq);
}

/*
 * The last 8 bytes of the iv field (all of it for GCM/CCM) and the record
 * sequence number of a crypto info, as numbers.
 */
static uint64_t info_iv(const union cc_crypto_info *ci)
{
	size_t len;
	const unsigned char *p = cc_crypto_info_field(ci, CC_IV, &len);

	return p && len >= 8 ? be64(p + len - 8) : 0;
}

static uint64_t info_seq(const union cc_crypto_info *ci)
{
	size_t len;
	const unsigned char *p = cc_crypto_info_field(ci, CC_REC_SEQ, &len);

	return p ? be64(p) : 0;
}

/* A connected loopback TCP pair: *c connected, *s accepted. */
static void tcp_pair(struct __test_metadata *_metadata, int *c, int *s)
{
	ASSERT_EQ(0, ku_tcp_pair(AF_INET, 0, c, s)) {
		TH_LOG("loopback TCP pair: %s", strerror(errno));
	}
}

/*
 * Install @ci on @fd as @dir.  A cipher the kernel lacks makes the whole
 * test a SKIP (this runs in the test's own child process).
 */
static void set_key(struct __test_metadata *_metadata, int fd, int dir,
		    const union cc_crypto_info *ci, size_t len)
{
	int ret = ku_set_crypto(fd, dir, ci, len);

	if (ret && (errno == ENOENT || errno == ENOPKG ||
		    errno == EOPNOTSUPP))
		SKIP(_exit(HARNESS_SKIP_EXIT), "%s: kernel lacks %s (%s)",
		     _metadata->name, cc_cipher_name(ci->info.cipher_type),
		     strerror(errno));
	ASSERT_EQ(0, ret) {
		TH_LOG("setsockopt(%s, %s): %s",
		       dir == TLS_TX ? "TLS_TX" : "TLS_RX",
		       cc_cipher_name(ci->info.cipher_type), strerror(errno));
	}
}

/*
 * Bound every blocking call on @fd, so a stalled transfer fails with what
 * it got so far instead of being killed silently by the harness timeout.
 */
static void set_timeouts(struct __test_metadata *_metadata, int fd)
{
	ASSERT_EQ(0, ku_set_timeouts(fd, 10000));
}

static int temp_file(const void *data, size_t len)
{
	const char *dir = getenv("TMPDIR");
	char path[256];
	const unsigned char *p = data;
	int fd;

	snprintf(path, sizeof(path), "%s/ktls_test.XXXXXX",
		 dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	unlink(path);
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n <= 0) {
			close(fd);
			return -1;
		}
		p += n;
		len -= n;
	}
	return fd;
}

/* ---- moving data -------------------------------------------------------- */

enum io_mode {
	IO_SEND,
	IO_WRITE,
	IO_SENDMSG,	/* several iovecs per call, one of them empty */
	IO_NONBLOCK,	/* O_NONBLOCK send, poll(POLLOUT) on EAGAIN */
	IO_SENDFILE,	/* from file_fd at *off */
	IO_RECV = IO_SEND,
	IO_READ = IO_WRITE,
	IO_RECVMSG = IO_SENDMSG,
};

/* Chunk sizes cycled through by odd-sized I/O. */
static const size_t odd_chunks[] = { 1, 7, 1000, 16383, 16385, 2, 33333, 13 };

struct xfer {
	int fd;
	enum io_mode mode;
	unsigned char *buf;
	size_t len;
	bool odd;		/* cycle through odd_chunks */
	int file_fd;		/* IO_SENDFILE */
	off_t off;
	unsigned int delay_ms;	/* before starting */
	/* results */
	size_t done;
	int err;
	size_t eagain;		/* EAGAIN or short sends seen */
	pthread_t thr;
};

static size_t xfer_piece(struct xfer *x, size_t i)
{
	size_t left = x->len - x->done;
	size_t n = x->odd ? odd_chunks[i % ARRAY_SIZE(odd_chunks)] : left;

	return n < left ? n : left;
}

static ssize_t sendmsg_split(int fd, const unsigned char *p, size_t n,
			     int flags)
{
	struct iovec iov[4];
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 4 };
	size_t a = n / 3, b = n / 5;

	iov[0].iov_base = (void *)p;
	iov[0].iov_len = a;
	iov[1].iov_base = (void *)(p + a);
	iov[1].iov_len = 0;
	iov[2].iov_base = (void *)(p + a);
	iov[2].iov_len = b;
	iov[3].iov_base = (void *)(p + a + b);
	iov[3].iov_len = n - a - b;
	return sendmsg(fd, &msg, flags);
}

static void *xfer_send_thread(void *arg)
{
	struct xfer *x = arg;
	size_t i = 0;

	if (x->delay_ms)
		msleep(x->delay_ms);
	while (x->done < x->len) {
		size_t n = xfer_piece(x, i++);
		const unsigned char *p = x->buf + x->done;
		ssize_t r;

		switch (x->mode) {
		case IO_WRITE:
			r = write(x->fd, p, n);
			break;
		case IO_SENDMSG:
			r = sendmsg_split(x->fd, p, n, MSG_NOSIGNAL);
			break;
		case IO_SENDFILE:
			r = sendfile(x->fd, x->file_fd, &x->off, n);
			break;
		case IO_NONBLOCK:
			r = send(x->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (r < 0 && errno == EAGAIN) {
				struct pollfd pfd = { x->fd, POLLOUT, 0 };

				x->eagain++;
				poll(&pfd, 1, 1000);
				i--;
				continue;
			}
			if (r >= 0 && (size_t)r < n)
				x->eagain++;
			break;
		default:
			r = send(x->fd, p, n, MSG_NOSIGNAL);
			break;
		}
		if (r < 0 && errno == EINTR) {
			i--;
			continue;
		}
		if (r <= 0) {
			x->err = r < 0 ? errno : EPIPE;
			break;
		}
		x->done += r;
	}
	return NULL;
}

static int xfer_start(struct xfer *x)
{
	return pthread_create(&x->thr, NULL, xfer_send_thread, x);
}

static void xfer_join(struct xfer *x)
{
	pthread_join(x->thr, NULL);
}

/*
 * Read exactly @len bytes (less on EOF or error) with @mode; @odd cycles
 * through odd buffer sizes.  Returns the count, or -1 with errno set when
 * nothing could be read because of an error.
 */
static ssize_t recv_all(int fd, unsigned char *buf, size_t len,
			enum io_mode mode, bool odd)
{
	size_t got = 0, i = 0;

	while (got < len) {
		size_t n = odd ? odd_chunks[(i++ + 3) % ARRAY_SIZE(odd_chunks)]
			       : len - got;
		ssize_t r;

		if (n > len - got)
			n = len - got;
		if (mode == IO_READ) {
			r = read(fd, buf + got, n);
		} else if (mode == IO_RECVMSG) {
			struct iovec iov[3] = {
				{ buf + got, n / 2 },
				{ buf + got + n / 2, 0 },
				{ buf + got + n / 2, n - n / 2 },
			};
			struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 3 };

			r = recvmsg(fd, &msg, 0);
		} else {
			r = recv(fd, buf + got, n, 0);
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return got ? (ssize_t)got : -1;
		if (r == 0)
			break;
		got += r;
	}
	return got;
}

static ssize_t send_record_type(int fd, uint8_t type, const void *data,
				size_t len, int flags)
{
	char cbuf[CMSG_SPACE(sizeof(type))] = {};
	struct iovec iov = { (void *)data, len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	cm->cmsg_level = SOL_TLS;
	cm->cmsg_type = TLS_SET_RECORD_TYPE;
	cm->cmsg_len = CMSG_LEN(sizeof(type));
	memcpy(CMSG_DATA(cm), &type, sizeof(type));
	return sendmsg(fd, &msg, flags);
}

/* recvmsg with room for the record type; *type = 0 when none reported. */
static ssize_t recv_record_type(int fd, void *buf, size_t len, uint8_t *type,
				int flags)
{
	int t;
	ssize_t n = ku_recv_type(fd, buf, len, flags, &t);

	*type = t < 0 ? 0 : t;
	return n;
}

/* ---- variants ----------------------------------------------------------- */

/*
 * Every fixture runs for each (version, cipher) below; crosscheck.c has a
 * row for each of these ciphers.
 */

#define TLS_VARIANTS(fix)						\
	FIXTURE_VARIANT(fix)						\
	{								\
		uint16_t version;					\
		uint16_t cipher;					\
	};								\
	FIXTURE_VARIANT_ADD(fix, tls12_aes_gcm_128)			\
	{								\
		.version = TLS_1_2_VERSION,				\
		.cipher = TLS_CIPHER_AES_GCM_128,			\
	};								\
	FIXTURE_VARIANT_ADD(fix, tls12_aes_gcm_256)			\
	{								\
		.version = TLS_1_2_VERSION,				\
		.cipher = TLS_CIPHER_AES_GCM_256,			\
	};								\
	FIXTURE_VARIANT_ADD(fix, tls13_aes_gcm_128)			\
	{								\
		.version = TLS_1_3_VERSION,				\
		.cipher = TLS_CIPHER_AES_GCM_128,			\
	};								\
	FIXTURE_VARIANT_ADD(fix, tls13_aes_gcm_256)			\
	{								\
		.version = TLS_1_3_VERSION,				\
		.cipher = TLS_CIPHER_AES_GCM_256,			\
	};								\
	FIXTURE_VARIANT_ADD(fix, tls12_aes_ccm_128)			\
	{								\
		.version = TLS_1_2_VERSION,				\
		.cipher = TLS_CIPHER_AES_CCM_128,			\
	};								\
	FIXTURE_VARIANT_ADD(fix, tls13_aes_ccm_128)			\
	{								\
		.version = TLS_1_3_VERSION,				\
		.cipher = TLS_CIPHER_AES_CCM_128,			\
	};								\
	FIXTURE_VARIANT_ADD(fix, tls12_chacha20_poly1305)		\
	{								\
		.version = TLS_1_2_VERSION,				\
		.cipher = TLS_CIPHER_CHACHA20_POLY1305,			\
	};								\
	FIXTURE_VARIANT_ADD(fix, tls13_chacha20_poly1305)		\
	{								\
		.version = TLS_1_3_VERSION,				\
		.cipher = TLS_CIPHER_CHACHA20_POLY1305,			\
	}

/* Seeds of the two directions' keys: a = client->server, b = reverse. */
#define SEED_A 0x6b746c7341ULL
#define SEED_B 0x6b746c7342ULL

/*
 * Both ends with the ULP; @c sends with key a and receives with key b,
 * @s the opposite.
 */
static void tls_pair(struct __test_metadata *_metadata, uint16_t version,
		     uint16_t cipher, int *c, int *s,
		     union cc_crypto_info *a, union cc_crypto_info *b,
		     size_t *info_len)
{
	size_t len;

	tcp_pair(_metadata, c, s);
	ASSERT_EQ(0, ku_attach_ulp(*c, NULL)) {
		TH_LOG("attach ULP '%s': %s", ku_ulp_name(), strerror(errno));
	}
	ASSERT_EQ(0, ku_attach_ulp(*s, NULL));
	len = make_info(a, version, cipher, SEED_A, 0);
	ASSERT_NE(0, len);
	ASSERT_EQ(len, make_info(b, version, cipher, SEED_B, 0));
	set_key(_metadata, *c, TLS_TX, a, len);
	set_key(_metadata, *s, TLS_RX, a, len);
	set_key(_metadata, *s, TLS_TX, b, len);
	set_key(_metadata, *c, TLS_RX, b, len);
	if (info_len)
		*info_len = len;
}

/* A quick round trip proving a pair works. */
static void check_pair_alive(struct __test_metadata *_metadata, int c, int s)
{
	char buf[32];

	ASSERT_EQ(5, send(c, "alive", 5, 0));
	ASSERT_EQ(5, recv(s, buf, sizeof(buf), 0));
	ASSERT_EQ(0, memcmp(buf, "alive", 5));
	ASSERT_EQ(4, send(s, "back", 4, 0));
	ASSERT_EQ(4, recv(c, buf, sizeof(buf), 0));
	ASSERT_EQ(0, memcmp(buf, "back", 4));
}

/* ==== fixture tls: both ends with the ULP ================================ */

FIXTURE(tls)
{
	int fd, cfd;
	union cc_crypto_info a, b;	/* a: fd -> cfd, b: cfd -> fd */
	size_t info_len;
};

TLS_VARIANTS(tls);

FIXTURE_SETUP(tls)
{
	signal(SIGPIPE, SIG_IGN);
	self->fd = self->cfd = -1;
	tls_pair(_metadata, variant->version, variant->cipher, &self->fd,
		 &self->cfd, &self->a, &self->b, &self->info_len);
	set_timeouts(_metadata, self->fd);
	set_timeouts(_metadata, self->cfd);
}

FIXTURE_TEARDOWN(tls)
{
	if (self->fd >= 0)
		close(self->fd);
	if (self->cfd >= 0)
		close(self->cfd);
}

/* ==== fixture api: argument checking ===================================== */

FIXTURE(api)
{
	int fd, cfd;	/* fd has the ULP, cfd is plain TCP */
	union cc_crypto_info ci;
	size_t len;
};

TLS_VARIANTS(api);

FIXTURE_SETUP(api)
{
	self->fd = self->cfd = -1;
	tcp_pair(_metadata, &self->fd, &self->cfd);
	ASSERT_EQ(0, ku_attach_ulp(self->fd, NULL)) {
		TH_LOG("attach ULP '%s': %s", ku_ulp_name(), strerror(errno));
	}
	self->len = make_info(&self->ci, variant->version, variant->cipher,
			      SEED_A, 0);
	ASSERT_NE(0, self->len);
}

FIXTURE_TEARDOWN(api)
{
	close(self->fd);
	close(self->cfd);
}

/* ==== fixture wire: the ULP against crosscheck.c over raw TCP ============ */

FIXTURE(wire)
{
	int tls, raw;		/* tls has the ULP; raw is plain TCP */
	union cc_crypto_info tx, rx;	/* keys of tls's TX and RX */
	size_t len;
	struct cc_state open;	/* opens what tls sends */
	struct cc_state seal;	/* seals what tls receives */
	bool keyed;
	char tcp_mem[64];	/* tcp_mem to put back (wire_set_tcp_mem) */
};

TLS_VARIANTS(wire);

FIXTURE_SETUP(wire)
{
	int one = 1;

	signal(SIGPIPE, SIG_IGN);
	self->tls = self->raw = -1;
	self->tcp_mem[0] = 0;
	tcp_pair(_metadata, &self->tls, &self->raw);
	ASSERT_EQ(0, ku_attach_ulp(self->tls, NULL)) {
		TH_LOG("attach ULP '%s': %s", ku_ulp_name(), strerror(errno));
	}
	ASSERT_EQ(0, setsockopt(self->raw, SOL_TCP, TCP_NODELAY, &one,
				sizeof(one)));
	set_timeouts(_metadata, self->raw);
	set_timeouts(_metadata, self->tls);
}

FIXTURE_TEARDOWN(wire)
{
	if (self->keyed) {
		cc_free(&self->open);
		cc_free(&self->seal);
	}
	close(self->tls);
	close(self->raw);
	if (self->tcp_mem[0])
		ku_write_text("/proc/sys/net/ipv4/tcp_mem", self->tcp_mem);
}

/* Key both directions of the ULP socket, records numbered from @seq. */
static void wire_keys(struct __test_metadata *_metadata,
		      FIXTURE_DATA(wire) *self,
		      const FIXTURE_VARIANT(wire) *variant, uint64_t seq)
{
	self->len = make_info(&self->tx, variant->version, variant->cipher,
			      SEED_A, seq);
	ASSERT_EQ(self->len, make_info(&self->rx, variant->version,
				       variant->cipher, SEED_B, seq));
	set_key(_metadata, self->tls, TLS_TX, &self->tx, self->len);
	set_key(_metadata, self->tls, TLS_RX, &self->rx, self->len);
	ASSERT_EQ(0, cc_init(&self->open, &self->tx, self->len));
	ASSERT_EQ(0, cc_init(&self->seal, &self->rx, self->len));
	self->keyed = true;
}

/* One whole record off the raw socket; returns its length. */
static ssize_t raw_read_record(int fd, unsigned char *rec)
{
	size_t len;

	if (recv(fd, rec, CC_HDR_LEN, MSG_WAITALL) != CC_HDR_LEN)
		return -1;
	len = cc_record_len(rec);
	if (len > CC_MAX_RECORD)
		return -1;
	if (recv(fd, rec + CC_HDR_LEN, len - CC_HDR_LEN, MSG_WAITALL) !=
	    (ssize_t)(len - CC_HDR_LEN))
		return -1;
	return len;
}

static void raw_write(struct __test_metadata *_metadata, int fd,
		      const void *buf, size_t len)
{
	ASSERT_EQ((ssize_t)len, send(fd, buf, len, MSG_NOSIGNAL));
}

/*
 * Read records from the raw side until @len plaintext bytes came, checking
 * each one: authentic under the expected key, nonce and sequence number,
 * a data record of 1..16384 bytes, on TLS 1.2 with the explicit nonce the
 * kernel uses (the crypto_info iv plus the record's index).
 * Returns the number of records.
 */
static size_t wire_expect_data(struct __test_metadata *_metadata,
			       FIXTURE_DATA(wire) *self,
			       const unsigned char *data, size_t len)
{
	unsigned char rec[CC_MAX_RECORD], pt[CC_MAX_PLAINTEXT + 1];
	size_t got = 0, records = 0;

	while (got < len) {
		uint64_t index = self->open.seq - info_seq(&self->tx);
		ssize_t n = raw_read_record(self->raw, rec);
		uint8_t type = 0;

		ASSERT_GT(n, 0) {
			TH_LOG("raw read after %zu of %zu bytes: %s", got,
			       len, strerror(errno));
		}
		if (self->tx.info.version == TLS_1_3_VERSION) {
			EXPECT_EQ(CC_TYPE_DATA, rec[0]);
		}
		n = cc_open(&self->open, rec, n, &type, pt, sizeof(pt));
		ASSERT_GT(n, 0) {
			TH_LOG("record %zu: cc_open: %s", records,
			       strerror((int)-n));
		}
		EXPECT_EQ(CC_TYPE_DATA, type);
		ASSERT_LE(n, CC_MAX_PLAINTEXT);
		ASSERT_LE(got + n, len);
		EXPECT_EQ(0, memcmp(pt, data + got, n)) {
			TH_LOG("record %zu: plaintext differs", records);
		}
		if (cc_explicit_nonce(self->tx.info.version,
				      self->tx.info.cipher_type)) {
			EXPECT_EQ(info_iv(&self->tx) + index,
				  be64(self->open.last_explicit)) {
				TH_LOG("record %zu: explicit nonce", records);
			}
		}
		got += n;
		records++;
	}
	return records;
}

static uint64_t tx_rec_seq(struct __test_metadata *_metadata, int fd,
			   size_t len)
{
	union cc_crypto_info got;
	socklen_t optlen = len;

	EXPECT_EQ(0, getsockopt(fd, SOL_TLS, TLS_TX, &got, &optlen));
	return info_seq(&got);
}

/* KeyUpdate(update_not_requested), a TLS 1.3 handshake message. */
static const uint8_t key_update_msg[] = {
	KTLS_HANDSHAKE_KEY_UPDATE, 0, 0, 1, 0,
};

static bool skip_rekey(const FIXTURE_VARIANT(wire) *variant)
{
	if (variant->version != TLS_1_3_VERSION)
		return true;	/* TLS 1.2 rekeying is EBUSY: set_key_twice */
	return ku_ulp_is_intree();	/* 6.1's module cannot rekey */
}

/* Seal one record with crosscheck and write it raw. */
static void wire_send_record(struct __test_metadata *_metadata,
			     FIXTURE_DATA(wire) *self, uint8_t type,
			     const void *data, size_t len, size_t pad)
{
	unsigned char rec[CC_MAX_RECORD];
	ssize_t n = cc_seal(&self->seal, type, data, len, pad, rec,
			    sizeof(rec));

	ASSERT_GT(n, 0);
	raw_write(_metadata, self->raw, rec, n);
}


struct delayed_write {
	int fd;
	const unsigned char *buf;
	size_t len;
	unsigned int delay_ms;
	pthread_t thr;
};

static void *delayed_write_thread(void *arg)
{
	struct delayed_write *d = arg;

	msleep(d->delay_ms);
	if (send(d->fd, d->buf, d->len, MSG_NOSIGNAL) != (ssize_t)d->len)
		d->len = 0;
	return NULL;
}

/* ---- helpers the socket-API tests of several parts share ------------------ */

/*
 * Two pages, the second PROT_NONE: a buffer that ends where the guard page
 * begins.  *end is the first inaccessible byte.  Free with guard_free().
 */
static unsigned char *guard_alloc(unsigned char **end)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (mprotect(p + page, page, PROT_NONE)) {
		munmap(p, 2 * page);
		return NULL;
	}
	*end = p + page;
	return p;
}

static void guard_free(unsigned char *p)
{
	munmap(p, 2 * sysconf(_SC_PAGESIZE));
}

/* Wait until @fd polls readable (a whole record, for a keyed socket). */
static bool wait_readable(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

static ssize_t splice_to(int from, int to, size_t len, unsigned int flags)
{
	return splice(from, NULL, to, NULL, len, flags);
}

#endif /* KTLS_TEST_H */
