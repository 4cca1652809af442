// SPDX-License-Identifier: GPL-2.0
/*
 * ktls_demo - move a file through kernel TLS and prove it arrived intact.
 *
 *   ktls_demo [SIZE]      SIZE in bytes, K/M/G suffixes allowed (default 64M)
 *
 * Writes SIZE bytes of pseudo-random data to a temporary file, connects a
 * loopback TCP pair, attaches the ULP $KTLS_ULP (default "ktls") to both
 * ends, installs random TLS 1.3 AES-GCM-128 keys (one per direction), and
 * sendfile()s the file from a child process while the parent reads it back,
 * compares it byte for byte with the file, and hashes both with SHA-256.
 * Exits 0 only when everything matched.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/random.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <linux/tls.h>

#include <openssl/evp.h>

#include "../uapi/ktls.h"
#include "crosscheck.h"
#include "lib/ktls_util.h"

#define CHUNK (1024 * 1024)

static const char *ulp;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t parse_size(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		ku_die("bad size '%s'", s);
	switch (*end) {
	case 'g': case 'G':
		v <<= 10;
		/* fall through */
	case 'm': case 'M':
		v <<= 10;
		/* fall through */
	case 'k': case 'K':
		v <<= 10;
		end++;
		break;
	}
	if (*end || !v)
		ku_die("bad size '%s'", s);
	return v;
}

/* A file of @size pseudo-random bytes, already unlinked. */
static int make_file(uint64_t size, char *path, size_t plen)
{
	const char *dir = getenv("TMPDIR");
	unsigned char *buf = malloc(CHUNK);
	uint64_t x = 0x853c49e6748fea9bULL, left = size;
	int fd;

	if (!buf)
		ku_die("out of memory");
	snprintf(path, plen, "%s/ktls_demo.XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		ku_die("mkstemp %s: %s", path, strerror(errno));
	unlink(path);
	while (left) {
		size_t n = left < CHUNK ? left : CHUNK, i;

		for (i = 0; i < n; i += 8) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			memcpy(buf + i, &x, n - i < 8 ? n - i : 8);
		}
		if (write(fd, buf, n) != (ssize_t)n)
			ku_die("writing %s: %s", path, strerror(errno));
		left -= n;
	}
	free(buf);
	return fd;
}

/* A TLS 1.3 AES-GCM-128 crypto info with random key, salt and iv. */
static size_t random_key(union cc_crypto_info *ci)
{
	unsigned char material[64];
	size_t len;

	if (getrandom(material, sizeof(material), 0) != sizeof(material))
		ku_die("getrandom: %s", strerror(errno));
	len = cc_crypto_info_fill(ci, TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128,
				  material, 0);
	memset(material, 0, sizeof(material));
	return len;
}

static void set_key(int fd, int dir, const void *ci, size_t len,
		    const char *who)
{
	if (ku_set_crypto(fd, dir, ci, len))
		ku_die("setsockopt(SOL_TLS, %s) on the %s: %s",
		       dir == TLS_TX ? "TLS_TX" : "TLS_RX", who, strerror(errno));
}

static uint64_t rec_seq(int fd, int dir)
{
	struct tls12_crypto_info_aes_gcm_128 ci;
	socklen_t len = sizeof(ci);
	uint64_t v = 0;
	size_t i;

	if (getsockopt(fd, SOL_TLS, dir, &ci, &len))
		return UINT64_MAX;
	for (i = 0; i < sizeof(ci.rec_seq); i++)
		v = v << 8 | ci.rec_seq[i];
	return v;
}

/* The child: sendfile() everything, then report its TX rec_seq on @out. */
static void sender(int sock, int file, uint64_t size, int out)
{
	off_t off = 0;
	uint64_t seq;

	while ((uint64_t)off < size) {
		ssize_t n = sendfile(sock, file, &off, size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "sendfile at %lld: %s\n",
				(long long)off, n ? strerror(errno) : "EOF");
			_exit(1);
		}
	}
	seq = rec_seq(sock, TLS_TX);
	if (write(out, &seq, sizeof(seq)) != sizeof(seq))
		_exit(1);
	_exit(0);
}

static void hex(const unsigned char *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

static void sha256_file(int fd, uint64_t size, char out[65])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *buf = malloc(CHUNK), dig[32];
	unsigned int dlen = sizeof(dig);
	uint64_t off = 0;

	if (!md || !buf || !EVP_DigestInit_ex(md, EVP_sha256(), NULL))
		ku_die("SHA-256 setup");
	while (off < size) {
		ssize_t n = pread(fd, buf, CHUNK, off);

		if (n <= 0)
			ku_die("reading back the file: %s", strerror(errno));
		EVP_DigestUpdate(md, buf, n);
		off += n;
	}
	EVP_DigestFinal_ex(md, dig, &dlen);
	hex(dig, sizeof(dig), out);
	EVP_MD_CTX_free(md);
	free(buf);
}

/* The counters of the module that carried the records: ktls keeps its own
 * /proc/net/ktls_stat, the in-tree module /proc/net/tls_stat. */
static void show_tls_stat(void)
{
	const char *path = ku_stat_path();
	FILE *f = fopen(path, "r");
	char line[256];

	if (!f) {
		printf("  %s: absent\n", path);
		return;
	}
	printf("  %s:\n", path);
	while (fgets(line, sizeof(line), f))
		printf("    %s", line);
	fclose(f);
}

int main(int argc, char **argv)
{
	union cc_crypto_info k1, k2;
	size_t klen;
	uint64_t size = 64ULL << 20, got = 0, tx_seq = UINT64_MAX, rx_seq;
	unsigned char *buf, *ref, dig[32];
	unsigned int dlen = sizeof(dig);
	char path[256], file_sha[65], recv_sha[65];
	uint64_t first_diff = UINT64_MAX;
	int file, c, s, pipefd[2], status;
	double t0, t1;
	EVP_MD_CTX *md;
	pid_t pid;

	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: %s [SIZE[K|M|G]]\n", argv[0]);
		return 2;
	}
	if (argc == 2)
		size = parse_size(argv[1]);
	ulp = ku_ulp_name();
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);

	printf("ktls demo: sendfile() a file over loopback TCP through kernel TLS\n");
	file = make_file(size, path, sizeof(path));

	if (ku_tcp_pair(AF_INET, 0, &c, &s))
		ku_die("loopback TCP pair: %s", strerror(errno));
	if (ku_attach_ulp(c, ulp) || ku_attach_ulp(s, ulp))
		ku_die("attaching ULP \"%s\": %s%s", ulp, strerror(errno),
		       errno == ENOENT ? " (module not loaded?)" : "");
	klen = random_key(&k1);	/* sender -> receiver */
	random_key(&k2);	/* receiver -> sender */
	set_key(c, TLS_TX, &k1, klen, "sender");
	set_key(c, TLS_RX, &k2, klen, "sender");
	set_key(s, TLS_RX, &k1, klen, "receiver");
	set_key(s, TLS_TX, &k2, klen, "receiver");

	if (pipe(pipefd))
		ku_die("pipe: %s", strerror(errno));
	t0 = now_s();
	pid = fork();
	if (pid < 0)
		ku_die("fork: %s", strerror(errno));
	if (!pid) {
		close(s);
		close(pipefd[0]);
		sender(c, file, size, pipefd[1]);
	}
	close(c);
	close(pipefd[1]);

	buf = malloc(CHUNK);
	ref = malloc(CHUNK);
	md = EVP_MD_CTX_new();
	if (!buf || !ref || !md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL))
		ku_die("out of memory");
	while (got < size) {
		ssize_t n = recv(s, buf, CHUNK, 0), i;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ku_die("recv after %llu bytes: %s",
			       (unsigned long long)got, strerror(errno));
		if (n == 0)
			break;
		if (got + n > size)
			ku_die("received more than the file (%llu bytes)",
			       (unsigned long long)(got + n));
		EVP_DigestUpdate(md, buf, n);
		if (first_diff == UINT64_MAX) {
			if (pread(file, ref, n, got) != n)
				ku_die("reading back the file: %s",
				       strerror(errno));
			if (memcmp(buf, ref, n))
				for (i = 0; i < n; i++)
					if (buf[i] != ref[i]) {
						first_diff = got + i;
						break;
					}
		}
		got += n;
	}
	t1 = now_s();
	EVP_DigestFinal_ex(md, dig, &dlen);
	hex(dig, sizeof(dig), recv_sha);
	EVP_MD_CTX_free(md);
	rx_seq = rec_seq(s, TLS_RX);

	if (read(pipefd[0], &tx_seq, sizeof(tx_seq)) != sizeof(tx_seq))
		tx_seq = UINT64_MAX;
	if (waitpid(pid, &status, 0) != pid)
		ku_die("waitpid: %s", strerror(errno));
	sha256_file(file, size, file_sha);

	printf("  ULP:           %s\n", ulp);
	printf("  TLS:           1.3, AES-GCM-128, random keys per direction\n");
	printf("  file:          %llu bytes of pseudo-random data (%s)\n",
	       (unsigned long long)size, path);
	printf("  moved:         %llu bytes in %.2f s = %.1f MiB/s\n",
	       (unsigned long long)got, t1 - t0,
	       got / (1024.0 * 1024.0) / (t1 - t0 > 0 ? t1 - t0 : 1e-9));
	if (tx_seq != UINT64_MAX)
		printf("  records:       %llu sent (TX rec_seq), %llu received "
		       "(RX rec_seq)\n", (unsigned long long)tx_seq,
		       (unsigned long long)rx_seq);
	else
		printf("  records:       %llu received (RX rec_seq)\n",
		       (unsigned long long)rx_seq);
	printf("  SHA-256 file:  %s\n", file_sha);
	printf("  SHA-256 recv:  %s\n", recv_sha);
	printf("  byte compare:  %s\n", first_diff == UINT64_MAX ?
	       "identical" : "DIFFERENT");
	show_tls_stat();

	if (!WIFEXITED(status) || WEXITSTATUS(status))
		ku_die("the sending child failed");
	if (got != size)
		ku_die("received %llu of %llu bytes", (unsigned long long)got,
		       (unsigned long long)size);
	if (first_diff != UINT64_MAX)
		ku_die("data differs from byte %llu on",
		       (unsigned long long)first_diff);
	if (strcmp(file_sha, recv_sha))
		ku_die("SHA-256 differs");
	if (tx_seq != UINT64_MAX && tx_seq != rx_seq)
		ku_die("sender counted %llu records, receiver %llu",
		       (unsigned long long)tx_seq, (unsigned long long)rx_seq);
	printf("OK: file moved through %s and verified\n", ulp);
	close(s);
	close(file);
	return 0;
}
