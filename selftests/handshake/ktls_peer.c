// SPDX-License-Identifier: GPL-2.0
/*
 * ktls_peer - one end of a TLS connection whose handshake ktlsd does and
 * whose records ktls.ko carries; the interop and concurrency tests of
 * selftests/handshake/tests.d/10-interop.sh run it against OpenSSL,
 * GnuTLS and itself.
 *
 *   ktls_peer client [OPTIONS] HOST PORT
 *   ktls_peer server [OPTIONS] PORT
 *
 *   -p PROFILE  ktlsd profile (default: ktlsd's "default")
 *   -N NAME     client: server name to send and verify (default HOST)
 *   -V 1.2|1.3  fail unless the handshake gave this version
 *   -C ID       fail unless it gave this TLS_CIPHER_* (51, 52, 54, ...)
 *   -i FILE     send FILE after the handshake, from a second thread
 *   -f          send it with sendfile() instead of write()
 *   -o FILE     write the plaintext received to FILE
 *   -r BYTES    stop reading after BYTES (default: until close_notify/EOF)
 *   -t MS       handshake timeout (default: the kernel's)
 *   -n COUNT    COUNT connections at once, one thread each; each moves
 *               -s BYTES of a seeded pattern both ways and checks it
 *   -s BYTES    with -n: bytes each way (default 4096)
 *
 * Records that are not application data are handled as a TLS library
 * would: a NewSessionTicket (handshake record) is skipped, close_notify
 * ends the stream, any other alert is an error.  Before closing, a
 * close_notify alert is sent.  A summary line goes to stderr; the exit
 * status is 0 only if every connection did what was asked.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "ktls.h"
#include "../../helper/lib/ktls.h"

#define REC_ALERT	21
#define REC_HANDSHAKE	22
#define REC_DATA	23

static struct {
	int server;
	const char *host, *port, *name, *profile, *in, *out;
	int version;		/* 0: any; else 0x0303 or 0x0304 */
	int cipher;		/* 0: any */
	int sendfile;
	long long limit;	/* -r; -1: until the end */
	unsigned int timeout_ms;
	int count;		/* -n; 0: one connection, -i/-o mode */
	long long size;		/* -s */
} opt = { .limit = -1, .size = 4096 };

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void say(int conn, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&out_lock);
	fprintf(stderr, "ktls_peer %s", opt.server ? "server" : "client");
	if (opt.count)
		fprintf(stderr, " #%d", conn);
	fputs(": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	pthread_mutex_unlock(&out_lock);
}

/* A seeded byte stream (xorshift64*) that both ends can compute. */
struct pattern {
	uint64_t s;
	uint64_t word;
	unsigned int left;
};

static void pattern_init(struct pattern *p, uint64_t seed)
{
	p->s = seed ? seed : 0x9e3779b97f4a7c15ULL;
	p->left = 0;
}

static unsigned char pattern_byte(struct pattern *p)
{
	if (!p->left) {
		p->s ^= p->s >> 12;
		p->s ^= p->s << 25;
		p->s ^= p->s >> 27;
		p->word = p->s * 0x2545f4914f6cdd1dULL;
		p->left = 8;
	}
	p->left--;
	return (unsigned char)(p->word >> (8 * p->left));
}

static const char *cipher_name(int c)
{
	switch (c) {
	case TLS_CIPHER_AES_GCM_128:
		return "AES-128-GCM";
	case TLS_CIPHER_AES_GCM_256:
		return "AES-256-GCM";
	case TLS_CIPHER_AES_CCM_128:
		return "AES-128-CCM";
	case TLS_CIPHER_CHACHA20_POLY1305:
		return "CHACHA20-POLY1305";
	}
	return "unknown";
}

/*
 * The handshake through ktlsd, then checks that the kernel holds keys of
 * the version and cipher that ktlsd reported and that -V/-C asked for.
 */
static int handshake(int conn, int fd)
{
	struct ktls_opts o = {
		.server_name = opt.server ? NULL : opt.name,
		.profile = opt.profile,
		.timeout_ms = opt.timeout_ms,
	};
	struct tls_crypto_info ci[2];
	socklen_t len;
	struct ktls_info info;
	int dir, ret;

	ret = opt.server ? ktls_server_handshake(fd, &o) :
			   ktls_client_handshake(fd, &o);
	if (ret || ktls_handshake_result(fd, &info)) {
		say(conn, "handshake failed: %s", ktls_strerror(errno));
		return -1;
	}
	for (dir = 0; dir < 2; dir++) {
		len = sizeof(ci[dir]);
		if (getsockopt(fd, SOL_TLS, dir ? TLS_RX : TLS_TX, &ci[dir],
			       &len)) {
			say(conn, "getsockopt(%s): %s", dir ? "TLS_RX" : "TLS_TX",
			    strerror(errno));
			return -1;
		}
		if (ci[dir].version != info.version ||
		    ci[dir].cipher_type != info.cipher) {
			say(conn, "%s key is %#x/%u, ktlsd reported %#x/%u",
			    dir ? "RX" : "TX", ci[dir].version,
			    ci[dir].cipher_type, info.version, info.cipher);
			return -1;
		}
	}
	if ((opt.version && info.version != opt.version) ||
	    (opt.cipher && info.cipher != opt.cipher)) {
		say(conn, "negotiated TLS %s %s, expected TLS %s %s",
		    info.version == TLS_1_3_VERSION ? "1.3" : "1.2",
		    cipher_name(info.cipher),
		    opt.version == TLS_1_3_VERSION ? "1.3" : "1.2",
		    cipher_name(opt.cipher));
		errno = EPROTO;
		return -1;
	}
	if (!opt.count)
		say(conn, "handshake done: TLS %s %s, peer '%s'",
		    info.version == TLS_1_3_VERSION ? "1.3" : "1.2",
		    cipher_name(info.cipher), info.peer);
	return 0;
}

/*
 * Read plaintext: 0 at close_notify or EOF, -1 on error, else the bytes
 * of one application-data record (or part of it).
 */
static ssize_t get(int conn, int fd, void *buf, size_t size, int *tickets)
{
	char cbuf[CMSG_SPACE(sizeof(unsigned char))];
	struct iovec iov;
	struct msghdr m;
	struct cmsghdr *c;
	unsigned char type;
	ssize_t n;

	for (;;) {
		iov = (struct iovec){ .iov_base = buf, .iov_len = size };
		m = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		n = recvmsg(fd, &m, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			say(conn, "recvmsg: %s", strerror(errno));
			return -1;
		}
		if (n == 0)
			return 0;
		type = REC_DATA;
		c = CMSG_FIRSTHDR(&m);
		if (c && c->cmsg_level == SOL_TLS &&
		    c->cmsg_type == TLS_GET_RECORD_TYPE)
			type = *CMSG_DATA(c);
		if (type == REC_DATA)
			return n;
		if (type == REC_HANDSHAKE) {	/* a session ticket */
			(*tickets)++;
			continue;
		}
		if (type == REC_ALERT && n == 2 &&
		    ((unsigned char *)buf)[1] == 0)	/* close_notify */
			return 0;
		if (type == REC_ALERT && n == 2)
			say(conn, "peer sent alert %u", ((unsigned char *)buf)[1]);
		else
			say(conn, "unexpected record type %u", type);
		errno = EPROTO;
		return -1;
	}
}

static int put(int conn, int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			say(conn, "send: %s", strerror(errno));
			return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

/* A close_notify alert (warning, 0), as a record of type 21. */
static void close_notify(int fd)
{
	static const unsigned char alert[2] = { 1, 0 };
	char cbuf[CMSG_SPACE(sizeof(unsigned char))] = { 0 };
	struct iovec iov = { .iov_base = (void *)alert, .iov_len = 2 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);

	c->cmsg_level = SOL_TLS;
	c->cmsg_type = TLS_SET_RECORD_TYPE;
	c->cmsg_len = CMSG_LEN(sizeof(unsigned char));
	*CMSG_DATA(c) = REC_ALERT;
	/* Best effort: the peer may have gone already. */
	if (sendmsg(fd, &m, MSG_NOSIGNAL) < 0 && errno != EPIPE &&
	    errno != ECONNRESET)
		say(0, "sending close_notify: %s", strerror(errno));
}

/* ---- one connection, -i/-o: files ---- */

struct sender {
	int fd;
	int file;
	off_t size;
	int ret;
};

static void *send_file(void *arg)
{
	struct sender *s = arg;
	char buf[16384];
	off_t off = 0;
	ssize_t n;

	s->ret = -1;
	while (off < s->size) {
		if (opt.sendfile) {
			n = sendfile(s->fd, s->file, &off, s->size - off);
		} else {
			n = pread(s->file, buf, sizeof(buf), off);
			if (n > 0 && put(0, s->fd, buf, n))
				return NULL;
			if (n > 0)
				off += n;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			say(0, "%s at byte %lld: %s",
			    opt.sendfile ? "sendfile" : "read", (long long)off,
			    n ? strerror(errno) : "file shrank");
			return NULL;
		}
	}
	s->ret = 0;
	return NULL;
}

static int run_files(int fd)
{
	struct sender s = { .fd = fd, .file = -1, .ret = 0 };
	long long got = 0;
	int out = -1, tickets = 0, ret = -1, sending = 0;
	char buf[16384];
	struct stat st;
	pthread_t tid;
	ssize_t n;
	int err;

	if (handshake(0, fd))
		return -1;
	if (opt.out) {
		out = open(opt.out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (out < 0) {
			say(0, "%s: %s", opt.out, strerror(errno));
			return -1;
		}
	}
	if (opt.in) {
		s.file = open(opt.in, O_RDONLY);
		if (s.file < 0 || fstat(s.file, &st)) {
			say(0, "%s: %s", opt.in, strerror(errno));
			goto out;
		}
		s.size = st.st_size;
		err = pthread_create(&tid, NULL, send_file, &s);
		if (err) {
			say(0, "pthread_create: %s", strerror(err));
			goto out;
		}
		sending = 1;
	}
	while (opt.limit < 0 || got < opt.limit) {
		size_t want = sizeof(buf);

		if (opt.limit >= 0 && (long long)want > opt.limit - got)
			want = opt.limit - got;
		n = get(0, fd, buf, want, &tickets);
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		if (out >= 0 && write(out, buf, n) != n) {
			say(0, "%s: %s", opt.out, strerror(errno));
			goto out;
		}
		got += n;
	}
	if (opt.limit >= 0 && got < opt.limit) {
		say(0, "the peer ended the stream after %lld of %lld bytes",
		    got, opt.limit);
		goto out;
	}
	ret = 0;
out:
	if (sending) {
		pthread_join(tid, NULL);
		if (s.ret)
			ret = -1;
	}
	if (!ret)
		say(0, "sent %lld bytes%s, received %lld, %d ticket(s) skipped",
		    (long long)s.size, opt.sendfile ? " with sendfile()" : "",
		    got, tickets);
	if (s.file >= 0)
		close(s.file);
	if (out >= 0 && close(out)) {
		say(0, "%s: %s", opt.out, strerror(errno));
		ret = -1;
	}
	return ret;
}

/* ---- -n COUNT: many connections, a pattern each way ---- */

#define SERVER_SALT 0x5a5a5a5a5a5a5a5aULL

static int read_full(int conn, int fd, void *buf, size_t len, int *tickets)
{
	char *p = buf;
	ssize_t n;

	while (len) {
		n = get(conn, fd, p, len, tickets);
		if (n < 0)
			return -1;
		if (n == 0) {
			say(conn, "the peer ended the stream early");
			return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

static int send_pattern(int conn, int fd, uint64_t seed)
{
	unsigned char buf[4096];
	struct pattern p;
	long long left = opt.size;
	size_t i, n;

	pattern_init(&p, seed);
	while (left) {
		n = left < (long long)sizeof(buf) ? (size_t)left : sizeof(buf);
		for (i = 0; i < n; i++)
			buf[i] = pattern_byte(&p);
		if (put(conn, fd, buf, n))
			return -1;
		left -= n;
	}
	return 0;
}

static int check_pattern(int conn, int fd, uint64_t seed, int *tickets)
{
	unsigned char buf[4096];
	struct pattern p;
	long long at = 0;
	size_t i, n;

	pattern_init(&p, seed);
	while (at < opt.size) {
		n = opt.size - at < (long long)sizeof(buf) ?
			(size_t)(opt.size - at) : sizeof(buf);
		if (read_full(conn, fd, buf, n, tickets))
			return -1;
		for (i = 0; i < n; i++)
			if (buf[i] != pattern_byte(&p)) {
				say(conn, "byte %lld differs", at + (long long)i);
				return -1;
			}
		at += n;
	}
	return 0;
}

struct conn {
	int id;
	int fd;
	pthread_t tid;
	int ret;
};

static int dial(int conn)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int fd = -1, err;

	err = getaddrinfo(opt.host, opt.port, &hints, &res);
	if (err) {
		say(conn, "%s: %s", opt.host, gai_strerror(err));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd >= 0 && !connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		err = errno;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		say(conn, "connect to %s port %s: %s", opt.host, opt.port,
		    strerror(err));
	return fd;
}

static void *one_conn(void *arg)
{
	struct conn *c = arg;
	unsigned char hdr[8];
	uint64_t seed = 0;
	int tickets = 0, i;

	c->ret = -1;
	if (c->fd < 0)		/* the client's dial failed */
		return NULL;
	if (handshake(c->id, c->fd))
		goto out;
	if (opt.server) {
		/* The client names its seed; the reply uses a salted one. */
		if (read_full(c->id, c->fd, hdr, sizeof(hdr), &tickets))
			goto out;
		for (i = 0; i < 8; i++)
			seed = seed << 8 | hdr[i];
		if (check_pattern(c->id, c->fd, seed, &tickets) ||
		    send_pattern(c->id, c->fd, seed ^ SERVER_SALT))
			goto out;
	} else {
		seed = (uint64_t)getpid() << 32 | (uint64_t)c->id << 1 | 1;
		for (i = 0; i < 8; i++)
			hdr[i] = seed >> (56 - 8 * i);
		if (put(c->id, c->fd, hdr, sizeof(hdr)) ||
		    send_pattern(c->id, c->fd, seed) ||
		    check_pattern(c->id, c->fd, seed ^ SERVER_SALT, &tickets))
			goto out;
	}
	c->ret = 0;
out:
	if (c->fd >= 0) {
		if (!c->ret)
			close_notify(c->fd);
		close(c->fd);
	}
	return NULL;
}

static int run_many(int lfd)
{
	struct conn *conns;
	pthread_attr_t attr;
	int i, started = 0, failed = 0, err;

	conns = calloc(opt.count, sizeof(*conns));
	if (!conns) {
		say(0, "out of memory for %d connections", opt.count);
		return -1;
	}
	/*
	 * The client connects everything first, then starts every
	 * handshake at once: the requests reach ktlsd as one burst, more
	 * than max_children, so that some must wait in the kernel.
	 */
	for (i = 0; i < opt.count; i++) {
		conns[i].id = i;
		conns[i].fd = opt.server ? -1 : dial(i);
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (i = 0; i < opt.count; i++) {
		if (opt.server) {
			conns[i].fd = accept(lfd, NULL, NULL);
			if (conns[i].fd < 0) {
				if (errno == EINTR) {
					i--;
					continue;
				}
				say(i, "accept: %s", strerror(errno));
				break;
			}
		}
		err = pthread_create(&conns[i].tid, &attr, one_conn, &conns[i]);
		if (err) {
			say(i, "pthread_create: %s", strerror(err));
			break;
		}
		started++;
	}
	pthread_attr_destroy(&attr);
	for (i = started; i < opt.count; i++)
		if (conns[i].fd >= 0)
			close(conns[i].fd);
	for (i = 0; i < started; i++) {
		pthread_join(conns[i].tid, NULL);
		if (conns[i].ret)
			failed++;
	}
	failed += opt.count - started;
	say(0, "%d of %d connections verified (%lld bytes each way)",
	    opt.count - failed, opt.count, opt.size);
	free(conns);
	return failed ? -1 : 0;
}

static int listen_on(const char *port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6 };
	int fd, one = 1;
	char *end;
	long p;

	errno = 0;
	p = strtol(port, &end, 10);
	if (errno || *end || p < 1 || p > 65535) {
		say(0, "bad port '%s'", port);
		return -1;
	}
	a.sin6_port = htons(p);
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(fd, opt.count > 128 ? opt.count : 128)) {
		say(0, "listen on port %s: %s", port, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static long long number(const char *s, long long min, long long max,
			const char *what)
{
	long long v;
	char *end;

	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "ktls_peer: %s must be %lld..%lld, not '%s'\n",
			what, min, max, s);
		exit(2);
	}
	return v;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: ktls_peer client [OPTIONS] HOST PORT\n"
		"       ktls_peer server [OPTIONS] PORT\n"
		"options: -p PROFILE -N NAME -V 1.2|1.3 -C CIPHER_ID -i FILE [-f]\n"
		"         -o FILE -r BYTES -t MS -n COUNT -s BYTES\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int c, fd, ret;

	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "server"))
		opt.server = 1;
	else if (strcmp(argv[1], "client"))
		usage();
	argv++;
	argc--;
	while ((c = getopt(argc, argv, "p:N:V:C:i:fo:r:t:n:s:")) != -1) {
		switch (c) {
		case 'p':
			opt.profile = optarg;
			break;
		case 'N':
			opt.name = optarg;
			break;
		case 'V':
			if (!strcmp(optarg, "1.2"))
				opt.version = TLS_1_2_VERSION;
			else if (!strcmp(optarg, "1.3"))
				opt.version = TLS_1_3_VERSION;
			else
				usage();
			break;
		case 'C':
			opt.cipher = number(optarg, 1, 65535, "-C");
			break;
		case 'i':
			opt.in = optarg;
			break;
		case 'f':
			opt.sendfile = 1;
			break;
		case 'o':
			opt.out = optarg;
			break;
		case 'r':
			opt.limit = number(optarg, 0, 1LL << 40, "-r");
			break;
		case 't':
			opt.timeout_ms = number(optarg, 1, 600000, "-t");
			break;
		case 'n':
			opt.count = number(optarg, 1, 10000, "-n");
			break;
		case 's':
			opt.size = number(optarg, 1, 1LL << 30, "-s");
			break;
		default:
			usage();
		}
	}
	if (argc - optind != (opt.server ? 1 : 2))
		usage();
	if (opt.count && (opt.in || opt.out || opt.limit >= 0)) {
		fprintf(stderr, "ktls_peer: -n cannot be combined with -i, -o or -r\n");
		return 2;
	}
	if (opt.sendfile && !opt.in) {
		fprintf(stderr, "ktls_peer: -f needs -i FILE\n");
		return 2;
	}
	if (opt.server) {
		opt.port = argv[optind];
		fd = listen_on(opt.port);
		if (fd < 0)
			return 1;
		if (opt.count) {
			ret = run_many(fd);
		} else {
			int cfd = accept(fd, NULL, NULL);

			if (cfd < 0) {
				say(0, "accept: %s", strerror(errno));
				return 1;
			}
			ret = run_files(cfd);
			if (!ret)
				close_notify(cfd);
			close(cfd);
		}
		close(fd);
		return ret ? 1 : 0;
	}
	opt.host = argv[optind];
	opt.port = argv[optind + 1];
	if (!opt.name)
		opt.name = opt.host;
	if (opt.count)
		return run_many(-1) ? 1 : 0;
	fd = dial(0);
	if (fd < 0)
		return 1;
	ret = run_files(fd);
	if (!ret)
		close_notify(fd);
	close(fd);
	return ret ? 1 : 0;
}
