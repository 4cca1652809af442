/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fault_test - private declarations, grouped by the file that defines them.
 *
 * The test walks every fault-injection point of one operation on a kTLS
 * socket: for N = 1, 2, ... it builds a fresh loopback connection (no
 * injection), arms /proc/thread-self/fail-nth with N, runs the operation,
 * disarms, and checks what the caller saw and what the socket can still do.
 * The walk ends at the first N the operation never reached.
 */
#ifndef FAULT_H
#define FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../crosscheck.h"
#include "../lib/ktls_util.h"

/* ---- main.c ---- */
void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Seconds scaled by $KTLS_VM_SLOWDOWN (the debug kernel is slower). */
unsigned int scaled(unsigned int seconds);

/* ---- inject.c ---- */
/* 0 when fault injection can be driven here; else a reason in @why. */
int inject_probe(char *why, size_t len);
/* Make failslab and fail_page_alloc count every allocation of the task
 * (sleeping ones included), with a stack trace in the log for each
 * injected failure; quiet the console.  inject_restore() undoes it. */
int inject_setup(void);
void inject_restore(void);
/* Open the calling thread's fail-nth and make-it-fail (and the kernel
 * log); per process.  @persistent: arming fails every point from the N-th
 * on, not only the N-th. */
int inject_open(bool persistent, bool traces);
/* Arm: the @n-th fault point from now on fails (and, persistent, every
 * later one).  Disarm: true when point @n was reached. */
int inject_arm(unsigned int n);
bool inject_disarm(void);
/* The kernel log since kmsg_mark(), gathered by kmsg_collect(): printed
 * as diagnostics, or searched for where the injected failure hit (the
 * first caller above the allocator; "?" if the kernel logged no trace). */
void kmsg_mark(void);
void kmsg_collect(void);
void kmsg_print(int max_lines);
void kmsg_site(char *site, size_t size, bool *in_ktls);

/* ---- conn.c ---- */
struct conn {
	int cli;		/* the side under test */
	int srv;		/* its peer, never under injection */
	uint16_t version;	/* TLS_1_2_VERSION or TLS_1_3_VERSION */
	int pipe[2];		/* for the splice operations, or -1 */
	int file;		/* for sendfile, or -1 */
	unsigned char *tx;	/* what the operation sends or expects */
	unsigned char *rx;
	size_t size;
};

enum conn_stage {
	STAGE_PLAIN,		/* connected TCP pair */
	STAGE_ULP,		/* + the ULP on both ends */
	STAGE_KEYED,		/* + keys: cli TX -> srv RX, srv TX -> cli RX */
};

/* SO_RCVTIMEO and SO_SNDTIMEO: every blocking call is bounded. */
void sock_timeouts(int fd, unsigned int seconds);
/* Sets up @c up to @stage with buffers of @size bytes; 0 or -1 (diag'd). */
int conn_open(struct conn *c, uint16_t version, size_t size,
	      enum conn_stage stage);
void conn_close(struct conn *c);
/* Key of one direction: A for cli -> srv, B for srv -> cli. */
int conn_key(struct conn *c, int fd, int optname, char which);
void conn_fill_info(struct conn *c, char which, union cc_crypto_info *ci,
		    size_t *len);
/* Send all of @len bytes (blocking); 0 or -errno. */
int send_all(int fd, const void *buf, size_t len);
/* Receive exactly @len bytes; returns bytes received (short on EOF) or
 * -errno when nothing more could be read. */
ssize_t recv_exact(int fd, void *buf, size_t len);
/* @len pattern bytes from @from to @to, checked; 0 or -1 (diag'd). */
int roundtrip(int from, int to, size_t len, const char *what);
/* Current TlsCurrTxSw + TlsCurrRxSw of the ULP's stat file, or -1 if none. */
long ulp_open_contexts(void);
void fill_pattern(unsigned char *buf, size_t len, uint32_t seed);

/* ---- ops.c ---- */
struct outcome {
	bool persist;		/* every point from the armed one on failed */
	bool injected;		/* the armed point was reached */
	long ret;		/* the operation's return value */
	int err;		/* its errno when ret < 0 */
};

enum op_kind {
	OP_CALL,		/* returns 0 or -1 */
	OP_TX,			/* returns bytes taken; fewer is a short count */
	OP_RX,			/* returns bytes read; a record at a time */
	OP_CLOSE,
};

struct fault_op {
	const char *name;
	enum op_kind kind;
	bool versioned;		/* run for TLS 1.2 and 1.3 */
	const size_t *sizes;	/* 0-terminated, or NULL for one run */
	/* Sizes walked again in the persistent mode (NULL: none; an op
	 * without sizes uses any non-NULL list for its one run). */
	const size_t *persist_sizes;
	enum conn_stage stage;
	/* errnos the caller may see besides ENOMEM, 0-terminated */
	const int *errnos;
	int (*prepare)(struct conn *c);		/* after conn_open, optional */
	long (*run)(struct conn *c);		/* under injection; -1/errno */
	int (*check)(struct conn *c, const struct outcome *o);
};

extern const struct fault_op fault_ops[];
extern const unsigned int fault_nops;

/* Counters the checks update for the per-case summary. */
struct walk_notes {
	unsigned int sticky;	/* socket left in error after a failure */
	unsigned int lost;	/* data lost where no error could be reported */
};
extern struct walk_notes notes;

#endif /* FAULT_H */
