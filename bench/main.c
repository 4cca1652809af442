// SPDX-License-Identifier: GPL-2.0
/*
 * ktls_bench - one measurement, one CSV line.  See bench.h for the process
 * model and usage() for the options.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "bench.h"

static struct bench_opts the_opts = {
	.version = TLS_1_3_VERSION,
	.cipher = TLS_CIPHER_AES_GCM_128,
	.size = 16384,
	.bytes = 8 << 20,
	.count = 0,
};
const struct bench_opts *opts = &the_opts;

static unsigned int timeout_s = 300;

void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ktls_bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static const char *const contender_names[] = {
	[C_KTLS] = "ktls", [C_TLS] = "tls", [C_TCP] = "tcp",
	[C_OSSL] = "ossl", [C_OSSL_KTLS] = "ossl-ktls", [C_AEAD] = "aead",
};

static const char *const workload_names[] = {
	[W_TX] = "tx", [W_RX] = "rx", [W_SENDFILE] = "sendfile",
	[W_RR] = "rr", [W_CONC] = "conc", [W_IDLEMEM] = "idlemem",
	[W_AEAD] = "aead",
};

static const struct {
	const char *name;
	uint16_t type;
} ciphers[] = {
	{ "aes128", TLS_CIPHER_AES_GCM_128 },
	{ "aes256", TLS_CIPHER_AES_GCM_256 },
	{ "chacha", TLS_CIPHER_CHACHA20_POLY1305 },
};

const char *contender_name(enum contender c)
{
	return contender_names[c];
}

static const char *cipher_short(uint16_t type)
{
	size_t i;

	for (i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++)
		if (ciphers[i].type == type)
			return ciphers[i].name;
	return "?";
}

static int lookup(const char *const *names, size_t n, const char *s,
		  const char *what)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (names[i] && !strcmp(names[i], s))
			return (int)i;
	die("unknown %s '%s' (see -h)", what, s);
}

/* A size with an optional K, M or G suffix (powers of 1024). */
static uint64_t parse_size(const char *s, const char *what)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		die("%s: '%s' is not a size", what, s);
	switch (*end) {
	case 'K': case 'k': shift = 10; end++; break;
	case 'M': case 'm': shift = 20; end++; break;
	case 'G': case 'g': shift = 30; end++; break;
	default: break;
	}
	if (v > (ULLONG_MAX >> shift))
		die("%s: '%s' is too large", what, s);
	v <<= shift;
	if (*end || v == 0)
		die("%s: '%s' is not a positive size", what, s);
	return v;
}

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * The guest's own accounting from /proc/stat: busy time of all CPUs (all
 * but idle and iowait; guest time is already inside user), its system and
 * softirq parts, and the number of context switches.
 */
void cpu_sample(struct cpu_sample *cs)
{
	unsigned long long v[8] = { 0 }, ctxt = 0;
	double hz = sysconf(_SC_CLK_TCK);
	FILE *f = fopen("/proc/stat", "r");
	char line[256];
	int n = 0;

	if (!f)
		die("/proc/stat: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "cpu ", 4))
			n = sscanf(line, "cpu %llu %llu %llu %llu %llu %llu "
				   "%llu %llu", &v[0], &v[1], &v[2], &v[3],
				   &v[4], &v[5], &v[6], &v[7]);
		else
			sscanf(line, "ctxt %llu", &ctxt);
	}
	fclose(f);
	if (n < 8 || !ctxt)
		die("/proc/stat: unexpected format");
	cs->busy = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / hz;
	cs->sys = v[2] / hz;
	cs->softirq = v[6] / hz;
	cs->ctxt = ctxt;
}

double cpu_busy_s(void)
{
	struct cpu_sample cs;

	cpu_sample(&cs);
	return cs.busy;
}

void pin_cpu(int cpu)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;

	if (ncpu < 2)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu % ncpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

void full_write(int fd, const void *buf, size_t len, const char *what)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("%s: write: %s", what, n ? strerror(errno) : "EOF");
		p += n;
		len -= n;
	}
}

void full_read(int fd, void *buf, size_t len, const char *what)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("%s: read: %s", what, n ? strerror(errno) : "EOF");
		p += n;
		len -= n;
	}
}

static int listener(struct sockaddr_in *a)
{
	socklen_t alen = sizeof(*a);
	int one = 1, l;

	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0)
		die("socket: %s", strerror(errno));
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(l, (struct sockaddr *)a, sizeof(*a)) ||
	    listen(l, 1024) || getsockname(l, (struct sockaddr *)a, &alen))
		die("listen on loopback: %s", strerror(errno));
	return l;
}

void tcp_pairs(int *client, int *server, unsigned int n)
{
	struct sockaddr_in a;
	unsigned int i, done = 0;
	int l = listener(&a);

	/* Connect in batches below the backlog, then accept them. */
	while (done < n) {
		unsigned int batch = n - done > 256 ? 256 : n - done;

		for (i = done; i < done + batch; i++) {
			client[i] = socket(AF_INET, SOCK_STREAM, 0);
			if (client[i] < 0 ||
			    connect(client[i], (struct sockaddr *)&a,
				    sizeof(a)))
				die("connect #%u: %s", i, strerror(errno));
		}
		for (i = done; i < done + batch; i++) {
			server[i] = accept(l, NULL, NULL);
			if (server[i] < 0)
				die("accept #%u: %s", i, strerror(errno));
		}
		done += batch;
	}
	close(l);
}

void tcp_pair(int *client, int *server)
{
	tcp_pairs(client, server, 1);
}

void set_nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		die("TCP_NODELAY: %s", strerror(errno));
}

/*
 * Fixed test key material per direction; the benchmark measures speed,
 * the keys protect nothing.
 */
size_t fill_crypto_info(union cc_crypto_info *ci, int dir)
{
	unsigned char material[64];
	size_t i, len;

	for (i = 0; i < sizeof(material); i++)
		material[i] = (unsigned char)(i * 7 + dir * 101 + 1);
	len = cc_crypto_info_fill(ci, opts->version, opts->cipher, material,
				  0);
	if (!len)
		die("cipher %u unknown to crosscheck", opts->cipher);
	return len;
}

void cpu_delta(struct bench_result *r, const struct cpu_sample *a,
	       const struct cpu_sample *b)
{
	r->cpu_s = b->busy - a->busy;
	r->sys_s = b->sys - a->sys;
	r->softirq_s = b->softirq - a->softirq;
	r->ctxt = b->ctxt - a->ctxt;
}

/* ---- the timed pair of processes ---------------------------------------- */

void sync_ready(struct bench_sync *s)
{
	char c = 'r';

	full_write(s->ready_w, &c, 1, "ready pipe");
	full_read(s->go_r, &c, 1, "go pipe");
}

void sync_result(struct bench_sync *s, const void *buf, size_t len)
{
	full_write(s->res_w, buf, len, "result pipe");
}

/* Read @len bytes from @fd, giving up when a child has failed. */
static void coord_read(int fd, void *buf, size_t len, pid_t *pid)
{
	char *p = buf;
	double deadline = now_s() + timeout_s;

	while (len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int status, i;
		ssize_t n;

		for (i = 0; i < 2; i++) {
			if (pid[i] <= 0 || waitpid(pid[i], &status, WNOHANG) <= 0)
				continue;
			pid[i] = 0;
			if (!WIFEXITED(status) || WEXITSTATUS(status)) {
				if (pid[!i] > 0)
					kill(pid[!i], SIGKILL);
				die("the %s failed",
				    i ? "server side" : "client side");
			}
		}
		if (now_s() > deadline) {
			for (i = 0; i < 2; i++)
				if (pid[i] > 0)
					kill(pid[i], SIGKILL);
			die("timed out after %u s", timeout_s);
		}
		if (poll(&pfd, 1, 200) <= 0)
			continue;
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("coordinator read: %s", strerror(errno));
		if (n == 0)
			continue;	/* a child exited; the loop sees it */
		p += n;
		len -= n;
	}
}

void timed_pair(side_fn fn, int *cfds, int *sfds, unsigned int n,
		void *res, size_t reslen, struct bench_result *r)
{
	int ready[2], go[2], result[2], role;
	pid_t pid[2];
	struct cpu_sample c0, c1;
	double t0;
	char buf[2];
	unsigned int i;

	if (pipe(ready) || pipe(go) || pipe(result))
		die("pipe: %s", strerror(errno));
	for (role = 0; role < 2; role++) {
		pid[role] = fork();
		if (pid[role] < 0)
			die("fork: %s", strerror(errno));
		if (!pid[role]) {
			struct bench_sync s = {
				.ready_w = ready[1], .go_r = go[0],
				.res_w = result[1],
			};
			int *mine = role ? sfds : cfds;
			int *other = role ? cfds : sfds;

			for (i = 0; i < n; i++)
				close(other[i]);
			close(ready[0]);
			close(go[1]);
			close(result[0]);
			pin_cpu(role);
			fn(role, mine, n, &s);
			exit(0);
		}
	}
	close(ready[1]);
	close(go[0]);
	close(result[1]);
	for (i = 0; i < n; i++) {
		close(cfds[i]);
		close(sfds[i]);
	}
	coord_read(ready[0], buf, 2, pid);
	cpu_sample(&c0);
	t0 = now_s();
	full_write(go[1], "gg", 2, "go pipe");
	coord_read(result[0], res, reslen, pid);
	r->wall_s = now_s() - t0;
	cpu_sample(&c1);
	cpu_delta(r, &c0, &c1);
	for (role = 0; role < 2; role++) {
		int status;

		if (pid[role] <= 0)
			continue;
		if (waitpid(pid[role], &status, 0) < 0 ||
		    !WIFEXITED(status) || WEXITSTATUS(status))
			die("the %s failed after the measurement",
			    role ? "server side" : "client side");
	}
	close(ready[0]);
	close(go[1]);
	close(result[0]);
}

/* ---- command line and output -------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: ktls_bench WORKLOAD -c CONTENDER [options]\n"
"  WORKLOAD   tx | rx | sendfile | rr | conc | idlemem | aead\n"
"  -c NAME    ktls | tls | tcp | ossl | ossl-ktls (sendfile only) | aead\n"
"  -V 12|13   TLS version (default 13)\n"
"  -C NAME    aes128 | aes256 | chacha (default aes128)\n"
"  -s SIZE    send/recv size; aead: record size (default 16K)\n"
"  -b BYTES   plaintext bytes to move (default 8M; K/M/G suffixes)\n"
"  -n COUNT   rr: round trips; conc, idlemem: connections\n"
"  -f FILE    sendfile: the file to send (its whole length)\n"
"  -d         aead: open (decrypt) instead of seal\n"
"  -T SECS    give up after SECS (default 300)\n"
"  -H         print the CSV header and exit\n"
"Prints one CSV line: workload,contender,tls,cipher,size,count,bytes,\n"
"wall_s,cpu_s,mib_s,cpu_s_per_gib,p50_us,p90_us,p99_us,sock_bytes,\n"
"sock_slab_bytes,note,sys_s,softirq_s,ctxt\n");
}

static void print_header(void)
{
	puts("workload,contender,tls,cipher,size,count,bytes,wall_s,cpu_s,"
	     "mib_s,cpu_s_per_gib,p50_us,p90_us,p99_us,sock_bytes,"
	     "sock_slab_bytes,note,sys_s,softirq_s,ctxt");
}

static void print_result(const struct bench_result *r)
{
	const struct bench_opts *o = opts;
	bool tput = r->bytes && r->wall_s > 0;
	size_t i;
	double gib = r->bytes / (double)(1 << 30);

	printf("%s%s,%s,%s,%s,%zu,%u,%llu,%.4f,%.3f,",
	       workload_names[o->workload],
	       o->workload != W_AEAD ? "" : o->decrypt ? "-open" : "-seal",
	       contender_names[o->contender],
	       o->contender == C_TCP ? "-" :
	       o->version == TLS_1_2_VERSION ? "1.2" : "1.3",
	       o->contender == C_TCP ? "-" : cipher_short(o->cipher),
	       o->size, o->count, (unsigned long long)r->bytes, r->wall_s,
	       r->cpu_s);
	if (tput)
		printf("%.3f,%.3f,", r->bytes / r->wall_s / (1 << 20),
		       r->cpu_s / gib);
	else
		printf("-,-,");
	if (o->workload == W_RR)
		printf("%.1f,%.1f,%.1f,", r->lat_us[0], r->lat_us[1],
		       r->lat_us[2]);
	else
		printf("-,-,-,");
	if (o->workload == W_IDLEMEM)
		printf("%.0f,%.0f,", r->per_sock, r->per_sock_slab);
	else
		printf("-,-,");
	/* The note is the last CSV field: keep it free of commas. */
	for (i = 0; r->note[i]; i++)
		putchar(r->note[i] == ',' ? '+' : r->note[i]);
	printf(",%.3f,%.3f,%llu\n", r->sys_s, r->softirq_s,
	       (unsigned long long)r->ctxt);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct bench_opts *o = &the_opts;
	struct bench_result r = { 0 };
	struct rlimit rl = { 8192, 8192 };
	int c;

	if (argc > 1 && !strcmp(argv[1], "-H")) {
		print_header();
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	if (argc < 2 || argv[1][0] == '-') {
		usage(stderr);
		return 2;
	}
	o->workload = lookup(workload_names, sizeof(workload_names) /
			     sizeof(workload_names[0]), argv[1], "workload");
	o->contender = (enum contender)-1;
	optind = 2;
	while ((c = getopt(argc, argv, "c:V:C:s:b:n:f:dT:h")) != -1) {
		switch (c) {
		case 'c':
			o->contender = lookup(contender_names,
					      sizeof(contender_names) /
					      sizeof(contender_names[0]),
					      optarg, "contender");
			break;
		case 'V':
			if (!strcmp(optarg, "12") || !strcmp(optarg, "1.2"))
				o->version = TLS_1_2_VERSION;
			else if (!strcmp(optarg, "13") ||
				 !strcmp(optarg, "1.3"))
				o->version = TLS_1_3_VERSION;
			else
				die("-V: TLS version must be 12 or 13");
			break;
		case 'C': {
			size_t i, n = sizeof(ciphers) / sizeof(ciphers[0]);

			for (i = 0; i < n; i++)
				if (!strcmp(ciphers[i].name, optarg))
					break;
			if (i == n)
				die("-C: unknown cipher '%s'", optarg);
			o->cipher = ciphers[i].type;
			break;
		}
		case 's':
			o->size = parse_size(optarg, "-s");
			break;
		case 'b':
			o->bytes = parse_size(optarg, "-b");
			break;
		case 'n': {
			uint64_t n = parse_size(optarg, "-n");

			if (n > 100000000)
				die("-n: '%s' is too large", optarg);
			o->count = n;
			break;
		}
		case 'f':
			o->file = optarg;
			break;
		case 'd':
			o->decrypt = true;
			break;
		case 'T': {
			uint64_t t = parse_size(optarg, "-T");

			if (t > 86400)
				die("-T: at most 86400 seconds");
			timeout_s = t;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc)
		die("unexpected argument '%s'", argv[optind]);
	if ((int)o->contender < 0)
		die("-c CONTENDER is required");
	if (o->size > (64 << 20))
		die("-s: at most 64M");
	if ((o->workload == W_AEAD) != (o->contender == C_AEAD))
		die("the aead contender goes with the aead workload only");
	if (o->contender == C_OSSL_KTLS && o->workload != W_SENDFILE)
		die("ossl-ktls is a sendfile contender (SSL_sendfile)");
	if (o->decrypt && o->workload != W_AEAD)
		die("-d belongs to the aead workload");
	if (o->workload == W_SENDFILE && !o->file)
		die("sendfile needs -f FILE");
	if ((o->workload == W_CONC || o->workload == W_IDLEMEM) &&
	    (o->count == 0 || o->count > 2048))
		die("%s needs -n 1..2048 connections",
		    workload_names[o->workload]);
	if (o->workload == W_RR && (o->count == 0 || o->count > 10000000))
		die("rr needs -n 1..10000000 round trips");
	if (o->workload == W_RX && o->bytes > (1ULL << 30))
		die("rx holds the sealed stream in memory: -b at most 1G");
	if (o->bytes > (64ULL << 30))
		die("-b: at most 64G");
	if (setrlimit(RLIMIT_NOFILE, &rl))
		die("RLIMIT_NOFILE 8192: %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	ossl_global_init();

	switch (o->workload) {
	case W_TX:
	case W_RX:
	case W_SENDFILE:
		run_stream(&r);
		break;
	case W_RR:
		run_rr(&r);
		break;
	case W_CONC:
		run_conc(&r);
		break;
	case W_IDLEMEM:
		run_idlemem(&r);
		break;
	case W_AEAD:
		run_aead(&r);
		break;
	}
	print_result(&r);
	return 0;
}
