/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ktls_bench - measure ktls.ko against the in-tree tls.ko, userspace TLS
 * (OpenSSL), plain TCP and the kernel's raw AEAD speed, in one VM run.
 *
 * One invocation measures one (workload, contender, version, cipher, size)
 * point once and prints one CSV line (see bench_print_header()).  The
 * repetitions, the matrix and the report are scripts/bench's business.
 *
 * Processes: the coordinator (main) sets up a loopback TCP pair, forks a
 * sender pinned to CPU 0 and a receiver pinned to CPU 1.  Each child does
 * its untimed set-up (ULP and keys, OpenSSL handshake, pre-sealing records)
 * and says "ready"; the coordinator samples the clock and /proc/stat, says
 * "go", and samples again when the receiver reports that everything
 * arrived.  CPU time is the guest-wide busy time from /proc/stat (user,
 * system, irq and softirq of every CPU), so softirq work done on behalf of
 * either end is counted.
 */
#ifndef KTLS_BENCH_H
#define KTLS_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../selftests/crosscheck.h"

enum contender {
	C_KTLS,		/* ULP "ktls", keys installed with setsockopt */
	C_TLS,		/* ULP "tls", the in-tree module */
	C_TCP,		/* plain TCP, no encryption */
	C_OSSL,		/* OpenSSL SSL_write/SSL_read in userspace */
	C_OSSL_KTLS,	/* OpenSSL with its kTLS (ULP "tls"): SSL_sendfile */
	C_AEAD,		/* AF_ALG aead, the kernel's raw AEAD */
};

enum workload {
	W_TX,		/* send() of -s bytes, TX-only keys, raw reader */
	W_RX,		/* raw writer of sealed records, RX keys, recv(-s) */
	W_SENDFILE,	/* sendfile() of a file, raw reader */
	W_RR,		/* 100-byte request/response, keys both ways */
	W_CONC,		/* -n connections, TX keys one end, RX the other */
	W_IDLEMEM,	/* -n idle connected pairs with keys: memory */
	W_AEAD,		/* AF_ALG: seal (or open, -d) -s byte records */
};

struct bench_opts {
	enum workload workload;
	enum contender contender;
	uint16_t version;	/* TLS_1_2_VERSION, TLS_1_3_VERSION */
	uint16_t cipher;	/* TLS_CIPHER_* */
	size_t size;		/* write/read size, or record size (aead) */
	uint64_t bytes;		/* plaintext bytes to move */
	unsigned int count;	/* rr round trips, conc/idlemem connections */
	bool decrypt;		/* aead: open instead of seal */
	const char *file;	/* sendfile: the file */
};

struct bench_result {
	uint64_t bytes;		/* plaintext bytes moved */
	double wall_s;
	double cpu_s;		/* guest-wide busy CPU seconds */
	double lat_us[3];	/* rr: p50, p90, p99 (microseconds) */
	double per_sock;	/* idlemem: bytes per socket (MemAvailable) */
	double per_sock_slab;	/* idlemem: slab bytes per socket */
	char note[64];		/* what carried it (ULP, AF_ALG driver) */
	double sys_s;		/* the system part of cpu_s */
	double softirq_s;	/* the softirq part of cpu_s */
	uint64_t ctxt;		/* context switches, guest-wide */
};

struct cpu_sample {
	double busy, sys, softirq;
	uint64_t ctxt;
};

/* main.c */
extern const struct bench_opts *opts;
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
					      noreturn));
const char *contender_name(enum contender c);
double now_s(void);
double cpu_busy_s(void);
void cpu_sample(struct cpu_sample *cs);
void cpu_delta(struct bench_result *r, const struct cpu_sample *a,
	       const struct cpu_sample *b);
void pin_cpu(int cpu);
void full_write(int fd, const void *buf, size_t len, const char *what);
void full_read(int fd, void *buf, size_t len, const char *what);
void tcp_pair(int *client, int *server);
void tcp_pairs(int *client, int *server, unsigned int n);
void set_nodelay(int fd);
/* Key material of one direction: dir 0 is client->server, 1 the reverse. */
size_t fill_crypto_info(union cc_crypto_info *ci, int dir);

/*
 * The timed pair: timed_pair() forks fn(0, client fds) on CPU 0 and
 * fn(1, server fds) on CPU 1.  Each calls sync_ready() when set up (it
 * returns at "go"); exactly one of them reports with sync_result(), which
 * stops the clock.
 */
struct bench_sync {
	int ready_w, go_r, res_w;
};
typedef void (*side_fn)(int role, int *fds, unsigned int n,
			struct bench_sync *s);
void sync_ready(struct bench_sync *s);
void sync_result(struct bench_sync *s, const void *buf, size_t len);
void timed_pair(side_fn fn, int *cfds, int *sfds, unsigned int n,
		void *res, size_t reslen, struct bench_result *r);

/* kern.c: the kernel contenders (ktls, tls; tcp is "no keys") */
void kern_attach(int fd);
void kern_key(int fd, int optname, int dir);
uint8_t *seal_stream(uint64_t bytes, size_t rec, int dir, size_t *len);

/* ossl.c: userspace TLS */
struct ossl;
struct ossl *ossl_new(int fd, bool server, bool ktls);
void ossl_handshake(struct ossl *o);
bool ossl_ktls_tx(struct ossl *o);
void ossl_write(struct ossl *o, const void *buf, size_t len);
size_t ossl_read(struct ossl *o, void *buf, size_t len);
void ossl_sendfile(struct ossl *o, int file, uint64_t size);
uint8_t *ossl_preseal(struct ossl *o, uint64_t bytes, size_t size,
		      size_t *len);
void ossl_free(struct ossl *o);
void ossl_global_init(void);

/* workloads.c */
void run_stream(struct bench_result *r);
void run_rr(struct bench_result *r);
void run_conc(struct bench_result *r);

/* mem.c */
void run_idlemem(struct bench_result *r);

/* aead.c */
void run_aead(struct bench_result *r);

#endif /* KTLS_BENCH_H */
