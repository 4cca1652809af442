// SPDX-License-Identifier: GPL-2.0
/*
 * hs_bench - TLS handshakes per second and the latency of one handshake,
 * either through ktlsd (the upcall) or done by GnuTLS directly in this
 * process.  One invocation measures one point once and prints one CSV
 * line (-H prints the header); bench/run-in-vm makes the matrix and
 * bench/report the tables.
 *
 * Both contenders run the same program shape: a loopback listener, CONC
 * server threads that accept and handshake, and CONC client threads that
 * connect, handshake, and wait for the server to close.  Every handshake
 * is client and server together, with the same certificate (the server's
 * chain from DIR/srv.pem, DIR/srv.key), the same verification on the
 * client (DIR/ca.pem, server name "localhost") and the same GnuTLS
 * priority string as ktlsd builds for a profile with one version and the
 * default ciphers.
 *
 *   ktlsd   client sockets call ktls_client_handshake() and server sockets
 *           ktls_server_handshake() with the profile -p: both ends go
 *           through the kernel's upcall to ktlsd, which forks a child for
 *           each end, runs GnuTLS there and installs the keys.
 *   gnutls  the client and server threads run gnutls_handshake() on the
 *           plain sockets themselves, and nothing else: no kTLS keys.
 *
 * Resumed mode: the handshakes timed must all be resumptions, on both
 * ends (ktls_handshake_result()'s resumed flag, or
 * gnutls_session_is_resumed()); otherwise the measurement fails.  ktlsd
 * resumes by itself when the profile has "resumption = yes".  The gnutls
 * contender's server enables tickets with a key made here, and its
 * clients present the session data of the warm-up handshake.  Full mode:
 * no handshake may resume (GnuTLS: GNUTLS_NO_TICKETS on both ends).
 *
 * Before the clock, warm-up handshakes (untimed) run one at a time: the
 * first exchanges a line each way over the new keys (kTLS, or GnuTLS
 * records), which proves both ends hold the same keys; in resumed mode
 * more follow until one resumes (at most WARMUP_MAX), so that the ticket
 * is in place.  Then the clock and /proc/stat are sampled, the client
 * threads share COUNT handshakes, and the clock stops when the last
 * client has seen its server close.  A handshake's latency is measured
 * on its client, from socket() to the handshake's return.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <linux/tls.h>

#include <gnutls/gnutls.h>

#include "../helper/lib/ktls.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TLS_GET_RECORD_TYPE
#define TLS_GET_RECORD_TYPE 2
#endif

#define SERVER_NAME	"localhost"
#define CONC_MAX	64
#define COUNT_MAX	100000
#define WARMUP_MAX	4
#define PING		"ping from the client\n"
#define PONG		"pong from the server\n"

enum contender { C_KTLSD, C_GNUTLS };

struct bench {
	/* options */
	enum contender contender;
	int version;			/* 12 or 13 */
	bool resumed;
	unsigned int count, conc;
	unsigned int timeout_s;
	const char *dir;
	const char *ca;			/* -A, or DIR/ca.pem */
	const char *profile;
	char priority[160];

	struct sockaddr_in addr;
	int lfd;
	atomic_bool stopping;

	/* gnutls contender */
	gnutls_certificate_credentials_t ccred, scred;
	gnutls_datum_t ticket_key;	/* server: wiped at the end */
	gnutls_datum_t session;		/* client: the warm-up's */

	/* results */
	atomic_uint left;		/* timed handshakes not yet started */
	atomic_uint accepted;		/* connections the servers took */
	atomic_uint srv_resumed;	/* resumed handshakes, server side */
	atomic_uint nlat;
	double *lat;			/* each one's latency, seconds */
	atomic_int cipher;		/* TLS_CIPHER_* seen, 0 before any */
	pthread_barrier_t go;

	pthread_mutex_t lock;
	atomic_bool failed;
	char err[512];
};

static struct bench b = {
	.version = 13,
	.timeout_s = 300,
	.lfd = -1,
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

/* The first failure wins; every thread stops at its next check. */
static void fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&b.lock);
	if (!b.failed) {
		va_start(ap, fmt);
		vsnprintf(b.err, sizeof(b.err), fmt, ap);
		va_end(ap);
		atomic_store(&b.failed, true);
	}
	pthread_mutex_unlock(&b.lock);
}

static void die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "hs_bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void on_alarm(int sig)
{
	static const char msg[] = "hs_bench: timed out (-T): a handshake "
				  "or its peer is stuck\n";

	(void)sig;
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	_exit(1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Busy seconds of all CPUs from /proc/stat (idle and iowait excluded). */
static double cpu_busy_s(void)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	int n;

	if (!f)
		die("/proc/stat: %s", strerror(errno));
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
		   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n != 8)
		die("/proc/stat: unexpected first line");
	return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) /
	       (double)sysconf(_SC_CLK_TCK);
}

static const char *cipher_short(int type)
{
	switch (type) {
	case TLS_CIPHER_AES_GCM_128:
		return "aes128";
	case TLS_CIPHER_AES_GCM_256:
		return "aes256";
	case TLS_CIPHER_CHACHA20_POLY1305:
		return "chacha";
	case TLS_CIPHER_AES_CCM_128:
		return "aes128ccm";
	default:
		return "?";
	}
}

static int cipher_of_gnutls(gnutls_cipher_algorithm_t c)
{
	switch (c) {
	case GNUTLS_CIPHER_AES_128_GCM:
		return TLS_CIPHER_AES_GCM_128;
	case GNUTLS_CIPHER_AES_256_GCM:
		return TLS_CIPHER_AES_GCM_256;
	case GNUTLS_CIPHER_CHACHA20_POLY1305:
		return TLS_CIPHER_CHACHA20_POLY1305;
	case GNUTLS_CIPHER_AES_128_CCM:
		return TLS_CIPHER_AES_CCM_128;
	default:
		return -1;
	}
}

/*
 * What one end saw: the version asked for, and one cipher across the
 * whole measurement (both ends of both contenders pick the same).
 * Resumption is checked by the callers, which know what they expect.
 */
static bool check_outcome(const char *end, unsigned int version,
			  int cipher)
{
	unsigned int want = b.version == 13 ? TLS_1_3_VERSION :
			    TLS_1_2_VERSION;
	int seen = 0;

	if (version != want) {
		fail("%s: negotiated version 0x%04x, asked for TLS 1.%d",
		     end, version, b.version % 10);
		return false;
	}
	if (cipher <= 0) {
		fail("%s: negotiated a cipher kTLS has no name for", end);
		return false;
	}
	if (!atomic_compare_exchange_strong(&b.cipher, &seen, cipher) &&
	    seen != cipher) {
		fail("%s: negotiated %s after %s in the same measurement", end,
		     cipher_short(cipher), cipher_short(seen));
		return false;
	}
	return true;
}

/* ---- byte moving ------------------------------------------------------- */

/*
 * Without it, a flight written as two records (GnuTLS sends TLS 1.3's
 * ChangeCipherSpec and Finished apart) waits for the peer's delayed ACK,
 * and the benchmark would time TCP's 40 ms timer instead of handshakes.
 * ktlsd writes to the application's socket, so this covers it too.
 */
static bool nodelay(int fd, const char *end)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))) {
		fail("%s: TCP_NODELAY: %s", end, strerror(errno));
		return false;
	}
	return true;
}

static bool send_all(int fd, const char *buf, size_t len, const char *end)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fail("%s: send: %s", end, strerror(errno));
			return false;
		}
		buf += n;
		len -= n;
	}
	return true;
}

/*
 * Read up to @len bytes of application data from a kTLS socket, or EOF.
 * Records of another type (a TLS 1.3 NewSessionTicket the agent left for
 * the kernel) are read with their type in a cmsg and skipped.  Returns the
 * bytes read (0 at EOF), or -1 with errno set.
 */
static ssize_t ktls_read(int fd, char *buf, size_t len)
{
	char cbuf[CMSG_SPACE(sizeof(unsigned char))];
	struct iovec iov;
	struct msghdr msg;
	struct cmsghdr *cm;
	ssize_t n;

	for (;;) {
		iov.iov_base = buf;
		iov.iov_len = len;
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = cbuf;
		msg.msg_controllen = sizeof(cbuf);
		n = recvmsg(fd, &msg, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n;
		cm = CMSG_FIRSTHDR(&msg);
		if (cm && cm->cmsg_level == SOL_TLS &&
		    cm->cmsg_type == TLS_GET_RECORD_TYPE &&
		    *CMSG_DATA(cm) != 23)
			continue;
		return n;
	}
}

/* Read exactly the line @want, byte-for-byte, from a kTLS socket. */
static bool ktls_expect(int fd, const char *want, const char *end)
{
	size_t len = strlen(want), got = 0;
	char buf[64];

	while (got < len) {
		ssize_t n = ktls_read(fd, buf + got, len - got);

		if (n <= 0) {
			fail("%s: reading over kTLS after the handshake: %s",
			     end, n ? strerror(errno) : "EOF");
			return false;
		}
		got += n;
	}
	if (memcmp(buf, want, len)) {
		fail("%s: the line read over kTLS is not what the peer sent",
		     end);
		return false;
	}
	return true;
}

/*
 * Client: wait until the server has closed its end, so that a handshake
 * counts when both ends are done.  What arrives first (a ticket record
 * for either contender) is thrown away; a reset is as good as a close.
 */
static bool wait_server_close(int fd)
{
	char buf[512];
	ssize_t n;

	do {
		n = ktls_read(fd, buf, sizeof(buf));
	} while (n > 0);
	if (n < 0 && errno != ECONNRESET) {
		fail("client: waiting for the server to close: %s",
		     strerror(errno));
		return false;
	}
	return true;
}

/* ---- the ktlsd contender ------------------------------------------------ */

static struct ktls_opts ktlsd_opts(void)
{
	struct ktls_opts o = {
		.server_name = SERVER_NAME,
		.profile = b.profile,
		.timeout_ms = b.timeout_s * 1000,
	};

	return o;
}

static bool ktlsd_client(int fd, bool echo, bool *resumed)
{
	struct ktls_opts o = ktlsd_opts();
	struct ktls_info info;

	if (ktls_client_handshake(fd, &o) ||
	    ktls_handshake_result(fd, &info)) {
		fail("client: ktls_client_handshake: %s (%s)",
		     ktls_strerror(errno), strerror(errno));
		return false;
	}
	*resumed = info.resumed;
	if (!check_outcome("client", info.version, info.cipher))
		return false;
	if (echo)
		return send_all(fd, PING, strlen(PING), "client") &&
		       ktls_expect(fd, PONG, "client");
	return true;
}

static bool ktlsd_server(int fd, bool echo)
{
	struct ktls_opts o = ktlsd_opts();
	struct ktls_info info;

	o.server_name = NULL;
	if (ktls_server_handshake(fd, &o) ||
	    ktls_handshake_result(fd, &info)) {
		fail("server: ktls_server_handshake: %s (%s)",
		     ktls_strerror(errno), strerror(errno));
		return false;
	}
	if (info.resumed)
		atomic_fetch_add(&b.srv_resumed, 1);
	if (!check_outcome("server", info.version, info.cipher))
		return false;
	if (echo)
		return ktls_expect(fd, PING, "server") &&
		       send_all(fd, PONG, strlen(PONG), "server");
	return true;
}

/* ---- the gnutls contender ----------------------------------------------- */

static int gt_session(gnutls_session_t *s, int fd, bool server)
{
	unsigned int flags = (server ? GNUTLS_SERVER : GNUTLS_CLIENT) |
			     GNUTLS_NO_SIGNAL;
	int ret;

	if (!b.resumed)
		flags |= GNUTLS_NO_TICKETS;
	ret = gnutls_init(s, flags);
	if (ret < 0)
		return ret;
	ret = gnutls_priority_set_direct(*s, b.priority, NULL);
	if (ret >= 0)
		ret = gnutls_credentials_set(*s, GNUTLS_CRD_CERTIFICATE,
					     server ? b.scred : b.ccred);
	if (ret >= 0 && server && b.resumed)
		ret = gnutls_session_ticket_enable_server(*s, &b.ticket_key);
	if (ret >= 0 && !server) {
		ret = gnutls_server_name_set(*s, GNUTLS_NAME_DNS, SERVER_NAME,
					     strlen(SERVER_NAME));
		gnutls_session_set_verify_cert(*s, SERVER_NAME, 0);
		if (ret >= 0 && b.session.size)
			ret = gnutls_session_set_data(*s, b.session.data,
						      b.session.size);
	}
	if (ret < 0) {
		gnutls_deinit(*s);
		return ret;
	}
	gnutls_transport_set_int(*s, fd);
	gnutls_handshake_set_timeout(*s, b.timeout_s * 1000);
	do {
		ret = gnutls_handshake(*s);
	} while (ret < 0 && !gnutls_error_is_fatal(ret));
	if (ret < 0)
		gnutls_deinit(*s);
	return ret;
}

static unsigned int gt_version(gnutls_session_t s)
{
	switch (gnutls_protocol_get_version(s)) {
	case GNUTLS_TLS1_3:
		return TLS_1_3_VERSION;
	case GNUTLS_TLS1_2:
		return TLS_1_2_VERSION;
	default:
		return 0;
	}
}

static bool gt_expect(gnutls_session_t s, const char *want,
			  const char *end)
{
	size_t len = strlen(want), got = 0;
	char buf[64];

	while (got < len) {
		ssize_t n = gnutls_record_recv(s, buf + got, len - got);

		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n <= 0) {
			fail("%s: gnutls_record_recv after the handshake: %s",
			     end, n ? gnutls_strerror(n) : "EOF");
			return false;
		}
		got += n;
	}
	if (memcmp(buf, want, len)) {
		fail("%s: the line received is not what the peer sent", end);
		return false;
	}
	return true;
}

static bool gt_send_line(gnutls_session_t s, const char *line,
			     const char *end)
{
	ssize_t n;

	do {
		n = gnutls_record_send(s, line, strlen(line));
	} while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
	if (n != (ssize_t)strlen(line)) {
		fail("%s: gnutls_record_send: %s", end,
		     n < 0 ? gnutls_strerror(n) : "short write");
		return false;
	}
	return true;
}

static bool gt_client(int fd, bool echo, bool *resumed)
{
	gnutls_session_t s;
	bool ok = false;
	int ret;

	ret = gt_session(&s, fd, false);
	if (ret < 0) {
		fail("client: gnutls handshake: %s", gnutls_strerror(ret));
		return false;
	}
	*resumed = gnutls_session_is_resumed(s);
	if (!check_outcome("client", gt_version(s),
			   cipher_of_gnutls(gnutls_cipher_get(s))))
		goto out;
	if (echo && (!gt_send_line(s, PING, "client") ||
		     !gt_expect(s, PONG, "client")))
		goto out;
	/* The warm-up's session (with the ticket that came before the
	 * pong) is what every later client presents. */
	if (echo && b.resumed) {
		ret = gnutls_session_get_data2(s, &b.session);
		if (ret < 0 || !b.session.size) {
			fail("client: no session data to resume with: %s",
			     ret < 0 ? gnutls_strerror(ret) : "empty");
			goto out;
		}
	}
	ok = true;
out:
	gnutls_deinit(s);
	return ok;
}

static bool gt_server(int fd, bool echo)
{
	gnutls_session_t s;
	bool ok = false, resumed;
	int ret;

	ret = gt_session(&s, fd, true);
	if (ret < 0) {
		fail("server: gnutls handshake: %s", gnutls_strerror(ret));
		return false;
	}
	resumed = gnutls_session_is_resumed(s);
	if (resumed)
		atomic_fetch_add(&b.srv_resumed, 1);
	if (!check_outcome("server", gt_version(s),
			   cipher_of_gnutls(gnutls_cipher_get(s))))
		goto out;
	if (echo && (!gt_expect(s, PING, "server") ||
		     !gt_send_line(s, PONG, "server")))
		goto out;
	ok = true;
out:
	gnutls_deinit(s);
	return ok;
}

static int gt_setup(void)
{
	char ca[PATH_MAX], crt[PATH_MAX], key[PATH_MAX];
	int ret;

	if (b.ca)
		snprintf(ca, sizeof(ca), "%s", b.ca);
	else
		snprintf(ca, sizeof(ca), "%s/ca.pem", b.dir);
	snprintf(crt, sizeof(crt), "%s/srv.pem", b.dir);
	snprintf(key, sizeof(key), "%s/srv.key", b.dir);
	ret = gnutls_certificate_allocate_credentials(&b.ccred);
	if (ret < 0)
		goto fail;
	ret = gnutls_certificate_set_x509_trust_file(b.ccred, ca,
						     GNUTLS_X509_FMT_PEM);
	if (ret <= 0) {
		fprintf(stderr, "hs_bench: %s: no CA certificate loaded: %s\n",
			ca, ret ? gnutls_strerror(ret) : "none in the file");
		ret = 0;	/* said */
		goto fail_ccred;
	}
	ret = gnutls_certificate_allocate_credentials(&b.scred);
	if (ret < 0)
		goto fail_ccred;
	ret = gnutls_certificate_set_x509_key_file(b.scred, crt, key,
						   GNUTLS_X509_FMT_PEM);
	if (ret < 0) {
		fprintf(stderr, "hs_bench: %s with %s: %s\n", crt, key,
			gnutls_strerror(ret));
		ret = 0;	/* said */
		goto fail_scred;
	}
	if (b.resumed) {
		ret = gnutls_session_ticket_key_generate(&b.ticket_key);
		if (ret < 0)
			goto fail_scred;
	}
	return 0;

fail_scred:
	gnutls_certificate_free_credentials(b.scred);
fail_ccred:
	gnutls_certificate_free_credentials(b.ccred);
fail:
	if (ret < 0)
		fprintf(stderr, "hs_bench: GnuTLS set-up: %s\n",
			gnutls_strerror(ret));
	return -1;
}

static void gt_teardown(void)
{
	if (b.ticket_key.data) {
		explicit_bzero(b.ticket_key.data, b.ticket_key.size);
		gnutls_free(b.ticket_key.data);
	}
	if (b.session.data) {
		explicit_bzero(b.session.data, b.session.size);
		gnutls_free(b.session.data);
	}
	gnutls_certificate_free_credentials(b.scred);
	gnutls_certificate_free_credentials(b.ccred);
}

/* ---- the threads --------------------------------------------------------- */

static void *server_thread(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(b.lfd, NULL, NULL);
		bool echo;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (!atomic_load(&b.stopping))
				fail("server: accept: %s", strerror(errno));
			return NULL;
		}
		/* The first connection is the warm-up that checks keys. */
		echo = atomic_fetch_add(&b.accepted, 1) == 0;
		if (!atomic_load(&b.failed) && nodelay(fd, "server")) {
			if (b.contender == C_KTLSD)
				ktlsd_server(fd, echo);
			else
				gt_server(fd, echo);
		}
		close(fd);
	}
}

/* One handshake from the client's side; its latency in *lat. */
static bool client_once(bool echo, bool *resumed, double *lat)
{
	double t0 = now_s();
	bool ok;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		fail("client: socket: %s", strerror(errno));
		return false;
	}
	if (!nodelay(fd, "client")) {
		close(fd);
		return false;
	}
	if (connect(fd, (struct sockaddr *)&b.addr, sizeof(b.addr))) {
		fail("client: connect to the loopback listener: %s",
		     strerror(errno));
		close(fd);
		return false;
	}
	if (b.contender == C_KTLSD)
		ok = ktlsd_client(fd, echo, resumed);
	else
		ok = gt_client(fd, echo, resumed);
	*lat = now_s() - t0;
	ok = ok && wait_server_close(fd);
	close(fd);
	return ok;
}

static void *client_thread(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&b.go);
	while (!atomic_load(&b.failed)) {
		unsigned int left = atomic_load(&b.left);
		bool resumed;
		double lat;

		do {
			if (!left)
				return NULL;
		} while (!atomic_compare_exchange_weak(&b.left, &left,
						       left - 1));
		if (!client_once(false, &resumed, &lat))
			return NULL;
		if (resumed != b.resumed) {
			fail("client: a timed handshake %s in a %s "
			     "measurement", resumed ? "resumed" :
			     "did not resume", b.resumed ? "resumed" : "full");
			return NULL;
		}
		b.lat[atomic_fetch_add(&b.nlat, 1)] = lat;
	}
	return NULL;
}

/* ---- measurement and output ---------------------------------------------- */

static int cmp_double(const void *a, const void *c)
{
	double x = *(const double *)a, y = *(const double *)c;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of the sorted @v. */
static double pct(const double *v, unsigned int n, double q)
{
	unsigned int i = (unsigned int)ceil(q * n);

	return v[i ? i - 1 : 0];
}

static void print_header(void)
{
	puts("workload,contender,tls,cipher,conc,count,warmup,wall_s,cpu_s,"
	     "hs_per_s,cpu_ms_per_hs,p50_us,p90_us,p99_us,note");
}

static int listen_loopback(void)
{
	socklen_t alen = sizeof(b.addr);
	int one = 1;

	b.lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (b.lfd < 0)
		return -1;
	setsockopt(b.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&b.addr, 0, sizeof(b.addr));
	b.addr.sin_family = AF_INET;
	b.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(b.lfd, (struct sockaddr *)&b.addr, sizeof(b.addr)) ||
	    listen(b.lfd, 1024) ||
	    getsockname(b.lfd, (struct sockaddr *)&b.addr, &alen))
		return -1;
	return 0;
}

static int measure(void)
{
	pthread_t srv[CONC_MAX], cli[CONC_MAX];
	unsigned int i, warm = 0, nsrv = 0, ncli = 0;
	double t0, t1, c0, c1, wall, lat;
	bool resumed = false;
	int rc = 1;

	if (listen_loopback()) {
		fprintf(stderr, "hs_bench: listening on loopback: %s\n",
			strerror(errno));
		return 1;
	}
	b.lat = calloc(b.count, sizeof(*b.lat));
	if (!b.lat) {
		fprintf(stderr, "hs_bench: out of memory\n");
		goto out_close;
	}
	if (pthread_barrier_init(&b.go, NULL, b.conc + 1)) {
		fprintf(stderr, "hs_bench: pthread_barrier_init failed\n");
		goto out_free;
	}
	for (nsrv = 0; nsrv < b.conc; nsrv++)
		if (pthread_create(&srv[nsrv], NULL, server_thread, NULL)) {
			fail("cannot start server thread %u", nsrv);
			goto out_stop;
		}

	/* Untimed: keys checked, and in resumed mode a ticket in place. */
	do {
		if (!client_once(warm == 0, &resumed, &lat))
			goto out_stop;
		warm++;
	} while (b.resumed && !resumed && warm < WARMUP_MAX);
	if (b.resumed && !resumed) {
		fail("no warm-up handshake resumed in %u tries%s", warm,
		     b.contender == C_KTLSD ?
		     ": does the ktlsd profile have \"resumption = yes\"?" :
		     "");
		goto out_stop;
	}
	if (!b.resumed && resumed) {
		fail("the warm-up handshake resumed in a full measurement");
		goto out_stop;
	}

	atomic_store(&b.left, b.count);
	for (ncli = 0; ncli < b.conc; ncli++)
		if (pthread_create(&cli[ncli], NULL, client_thread, NULL))
			die("cannot start client thread %u", ncli);
	c0 = cpu_busy_s();
	t0 = now_s();
	pthread_barrier_wait(&b.go);
	for (i = 0; i < ncli; i++)
		pthread_join(cli[i], NULL);
	t1 = now_s();
	c1 = cpu_busy_s();
	wall = t1 - t0;

	if (!b.failed && atomic_load(&b.nlat) != b.count)
		fail("%u of %u handshakes done", atomic_load(&b.nlat),
		     b.count);
	/* Every timed one, and the warm-ups that resumed, on the server. */
	if (!b.failed && b.resumed &&
	    atomic_load(&b.srv_resumed) != b.count + 1)
		fail("server: %u handshakes resumed, expected %u",
		     atomic_load(&b.srv_resumed), b.count + 1);
	if (!b.failed && !b.resumed && atomic_load(&b.srv_resumed))
		fail("server: %u handshakes resumed in a full measurement",
		     atomic_load(&b.srv_resumed));
	if (!b.failed) {
		qsort(b.lat, b.count, sizeof(*b.lat), cmp_double);
		printf("hs-%s,%s,1.%d,%s,%u,%u,%u,%.4f,%.3f,%.2f,%.3f,"
		       "%.0f,%.0f,%.0f,%s\n",
		       b.resumed ? "resumed" : "full",
		       b.contender == C_KTLSD ? "ktlsd" : "gnutls",
		       b.version % 10, cipher_short(atomic_load(&b.cipher)),
		       b.conc, b.count, warm, wall, c1 - c0, b.count / wall,
		       (c1 - c0) * 1000 / b.count,
		       pct(b.lat, b.count, 0.50) * 1e6,
		       pct(b.lat, b.count, 0.90) * 1e6,
		       pct(b.lat, b.count, 0.99) * 1e6,
		       b.contender == C_KTLSD ? b.profile : "in-process");
		fflush(stdout);
		rc = 0;
	}

out_stop:
	/* Wake the servers blocked in accept(); they see "stopping". */
	atomic_store(&b.stopping, true);
	shutdown(b.lfd, SHUT_RDWR);
	for (i = 0; i < nsrv; i++)
		pthread_join(srv[i], NULL);
	pthread_barrier_destroy(&b.go);
	if (b.failed) {
		fprintf(stderr, "hs_bench: %s\n", b.err);
		rc = 1;
	}
out_free:
	free(b.lat);
out_close:
	close(b.lfd);
	return rc;
}

/* ---- command line -------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: hs_bench -c ktlsd|gnutls -d DIR [options]\n"
"  -c NAME     ktlsd: both ends through ktlsd (libktls); gnutls: GnuTLS\n"
"              handshakes in this process\n"
"  -d DIR      ca.pem, srv.pem, srv.key (the server's certificate is for\n"
"              \"localhost\"; the client verifies it against ca.pem)\n"
"  -p PROFILE  ktlsd: the ktlsd.conf profile of both ends (its versions\n"
"              must allow -V; resumed mode needs \"resumption = yes\")\n"
"  -V 12|13    TLS version (default 13)\n"
"  -m MODE     full (default): no handshake may resume; resumed: every\n"
"              timed handshake must resume\n"
"  -n COUNT    timed handshakes (default 100, at most %u)\n"
"  -j CONC     concurrent clients, and as many server threads (default 1,\n"
"              at most %u)\n"
"  -T SECS     give up after SECS (default 300)\n"
"  -A FILE     gnutls: trust FILE instead of DIR/ca.pem (to check that a\n"
"              client that cannot verify the server fails)\n"
"  -P          print the GnuTLS priority string of -V and exit\n"
"  -H          print the CSV header and exit\n"
"Prints one CSV line (see -H).  Exit status 0 when every handshake\n"
"succeeded as the mode requires, 1 otherwise, 2 for usage errors.\n",
		COUNT_MAX, CONC_MAX);
}

static unsigned int number(const char *s, unsigned int min,
			   unsigned int max, const char *what)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "hs_bench: %s: '%s' is not a number from %u "
			"to %u\n", what, s, min, max);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	const char *contender = NULL, *mode = "full";
	bool print_prio = false;
	int c, rc;

	b.count = 100;
	b.conc = 1;
	while ((c = getopt(argc, argv, "c:d:p:V:m:n:j:T:A:PHh")) != -1) {
		switch (c) {
		case 'c':
			contender = optarg;
			break;
		case 'd':
			b.dir = optarg;
			break;
		case 'p':
			b.profile = optarg;
			break;
		case 'V':
			b.version = number(optarg, 12, 13, "-V");
			break;
		case 'm':
			mode = optarg;
			break;
		case 'n':
			b.count = number(optarg, 1, COUNT_MAX, "-n");
			break;
		case 'j':
			b.conc = number(optarg, 1, CONC_MAX, "-j");
			break;
		case 'T':
			b.timeout_s = number(optarg, 1, 600, "-T");
			break;
		case 'A':
			b.ca = optarg;
			break;
		case 'P':
			print_prio = true;
			break;
		case 'H':
			print_header();
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "hs_bench: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	/* What ktlsd's config.c makes of "versions = tls1.X" with the
	 * default ciphers: the two contenders negotiate alike. */
	snprintf(b.priority, sizeof(b.priority),
		 "NORMAL:-VERS-ALL:+VERS-TLS1.%d:-CIPHER-ALL:-MAC-ALL:+AEAD:"
		 "+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305",
		 b.version % 10);
	if (print_prio) {
		puts(b.priority);
		return 0;
	}
	if (!contender || (strcmp(contender, "ktlsd") &&
			   strcmp(contender, "gnutls"))) {
		fprintf(stderr, "hs_bench: -c must be ktlsd or gnutls\n");
		return 2;
	}
	b.contender = strcmp(contender, "ktlsd") ? C_GNUTLS : C_KTLSD;
	if (strcmp(mode, "full") && strcmp(mode, "resumed")) {
		fprintf(stderr, "hs_bench: -m must be full or resumed, not "
			"'%s'\n", mode);
		return 2;
	}
	b.resumed = !strcmp(mode, "resumed");
	if (!b.dir) {
		fprintf(stderr, "hs_bench: -d DIR is required (the "
			"certificates)\n");
		return 2;
	}
	if (b.contender == C_KTLSD && !b.profile) {
		fprintf(stderr, "hs_bench: -c ktlsd needs -p PROFILE\n");
		return 2;
	}
	if (b.contender == C_GNUTLS && b.profile) {
		fprintf(stderr, "hs_bench: -p is for the ktlsd contender\n");
		return 2;
	}
	if (b.contender == C_KTLSD && b.ca) {
		fprintf(stderr, "hs_bench: -A is for the gnutls contender "
			"(ktlsd trusts what its profile says)\n");
		return 2;
	}

	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);
	alarm(b.timeout_s);
	if (b.contender == C_GNUTLS && gt_setup())
		return 1;
	rc = measure();
	if (b.contender == C_GNUTLS)
		gt_teardown();
	return rc;
}
