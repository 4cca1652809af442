// SPDX-License-Identifier: GPL-2.0
/*
 * fault_test - walk every fault-injection point of ktls's allocating
 * paths: attach, key install (TX, RX), getsockopt, send, sendfile, splice
 * to and from the socket, recv, MSG_PEEK across records, close.  Runs as
 * root on the debug kernel (CONFIG_FAULT_INJECTION, FAILSLAB,
 * FAIL_PAGE_ALLOC, debugfs); anywhere else it skips with a message.
 *
 * Usage: fault_test [-l] [-T] [-t SUBSTRING]... [-n MAX_POINTS]
 *   -l  list the cases;  -t  run the cases whose name contains SUBSTRING
 *   -n  give up on a case after this many points (default 3000)
 *   -T  log a stack trace for every failure of the persistent mode too
 *
 * Two modes: point by point (the N-th fault point fails, the others
 * succeed), then, for a selection of cases suffixed "/persist", every
 * point from the N-th on fails, which reaches the out-of-memory returns
 * that one failure alone never does (the allocators fall back).
 *
 * Environment: KTLS_ULP (default "ktls"; "tls" walks the in-tree module),
 * KTLS_VM_SLOWDOWN (scales the timeouts; set by scripts/vm).
 *
 * Each case runs in a child process with a time limit.  Output is TAP; the
 * last line is "N passed, N failed".  Exit status 1 when a case failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <linux/tls.h>

#include "fault.h"

#define CASE_SECONDS	150	/* per case, before scaling */
#define SHOW_FAILURES	3	/* failing points reported in full */

struct fault_case {
	const struct fault_op *op;
	uint16_t version;
	size_t size;
	bool persist;		/* fail every point from the N-th on */
	char name[64];
};

/* Where a child is, for the parent to report a time-out. */
struct progress {
	unsigned int n;
	const char *stage;
};

static unsigned int slowdown = 1;
static unsigned int max_points = 3000;
static bool persist_traces;
static struct progress *progress;

void diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

unsigned int scaled(unsigned int seconds)
{
	return seconds * slowdown;
}

static bool errno_allowed(const struct fault_op *op, int err)
{
	const int *e;

	if (err == ENOMEM)
		return true;
	for (e = op->errnos; *e; e++) {
		if (*e == err)
			return true;
	}
	return false;
}

#define MAX_SITES	24

/* Tallies of one walk, for its summary lines. */
struct tally {
	unsigned int points;		/* injected failures walked */
	unsigned int refused;		/* the call failed (allowed errno) */
	unsigned int shortened;		/* it returned a short count */
	unsigned int absorbed;		/* it succeeded all the same */
	unsigned int in_ktls;		/* points with ktls on the stack */
	unsigned int failures;		/* points where a check failed */
	char failed_at[160];		/* their numbers */
	struct {
		char name[40];
		unsigned int count;
		bool ktls;
	} sites[MAX_SITES];
	unsigned int nsites;
};

static void note_site(struct tally *t)
{
	char site[40];
	bool ktls;
	unsigned int i;

	kmsg_site(site, sizeof(site), &ktls);
	if (ktls)
		t->in_ktls++;
	for (i = 0; i < t->nsites; i++) {
		if (!strcmp(t->sites[i].name, site) && t->sites[i].ktls == ktls)
			break;
	}
	if (i == t->nsites) {
		if (i == MAX_SITES)
			return;
		snprintf(t->sites[i].name, sizeof(t->sites[i].name), "%s", site);
		t->sites[i].ktls = ktls;
		t->nsites++;
	}
	t->sites[i].count++;
}

static void print_sites(const char *name, const struct tally *t)
{
	char line[1024];
	size_t len = 0;
	unsigned int i;

	for (i = 0; i < t->nsites && len < sizeof(line) - 64; i++)
		len += snprintf(line + len, sizeof(line) - len, "%s%s x%u%s",
				i ? ", " : "", t->sites[i].name, t->sites[i].count,
				t->sites[i].ktls ? " (ktls)" : "");
	if (t->nsites)
		diag("%s: failed allocations in: %s", name, line);
}

static void note_failure(struct tally *t, unsigned int n)
{
	size_t len = strlen(t->failed_at);

	if (len < sizeof(t->failed_at) - 12)
		snprintf(t->failed_at + len, sizeof(t->failed_at) - len, "%s%u",
			 len ? "," : "", n);
	else if (!strstr(t->failed_at, "..."))
		strcat(t->failed_at, ",...");
	t->failures++;
}

/* One iteration: fresh connection, point @n armed, checks.  Returns 0 when
 * all held; sets *done when the operation never reached point @n. */
static int step(const struct fault_case *fc, unsigned int n, struct tally *t,
		bool *done)
{
	const struct fault_op *op = fc->op;
	struct outcome o = { 0 };
	struct conn c;
	long open;
	int bad = 0;

	progress->n = n;
	progress->stage = "setting up";
	if (conn_open(&c, fc->version, fc->size, op->stage) ||
	    (op->prepare && op->prepare(&c))) {
		diag("%s N=%u: setting up without injection failed", fc->name, n);
		conn_close(&c);
		note_failure(t, n);
		*done = true;
		return -1;
	}

	/* Persistent failures keep TCP waiting for memory: a blocked call
	 * gives up after a second (EAGAIN) instead of the checks' limit. */
	if (fc->persist && c.cli >= 0)
		sock_timeouts(c.cli, 1);
	o.persist = fc->persist;

	kmsg_mark();
	progress->stage = "in the armed call";
	if (inject_arm(n)) {
		diag("cannot arm fail-nth: %s", strerror(errno));
		exit(2);
	}
	o.ret = op->run(&c);
	o.err = errno;
	o.injected = inject_disarm();
	progress->stage = "checking";
	kmsg_collect();
	if (fc->persist && c.cli >= 0)
		sock_timeouts(c.cli, scaled(3));

	if (o.ret < 0 && !o.injected) {
		diag("%s N=%u: failed with %s although no fault was injected",
		     fc->name, n, strerror(o.err));
		bad = 1;
	} else if (o.ret < 0 && !errno_allowed(op, o.err) &&
		   !(fc->persist && o.err == EAGAIN)) {
		diag("%s N=%u: the injected failure came back as %s, not ENOMEM",
		     fc->name, n, strerror(o.err));
		bad = 1;
	} else if (op->check(&c, &o)) {
		diag("%s N=%u: the call returned %ld%s%s; the check above failed",
		     fc->name, n, o.ret, o.ret < 0 ? " " : "",
		     o.ret < 0 ? strerror(o.err) : "");
		bad = 1;
	}
	conn_close(&c);

	progress->stage = "counting open contexts";
	open = ulp_open_contexts();
	if (open > 0) {
		diag("%s N=%u: %ld kTLS context(s) still counted open after every socket was closed",
		     fc->name, n, open);
		bad = 1;
	}
	/* The kernel's side of the first few: where the fault was injected. */
	if (bad && t->failures < SHOW_FAILURES)
		kmsg_print(40);

	*done = !o.injected;
	if (o.injected) {
		t->points++;
		if (!fc->persist)
			note_site(t);
		if (o.ret < 0)
			t->refused++;
		else if (op->kind == OP_TX && (size_t)o.ret < fc->size)
			t->shortened++;
		else
			t->absorbed++;
	}
	if (bad)
		note_failure(t, n);
	return bad ? -1 : 0;
}

static int walk(const struct fault_case *fc)
{
	struct tally t = { 0 };
	bool done = false;
	unsigned int n;

	for (n = 1; n <= max_points && !done; n++)
		step(fc, n, &t, &done);
	if (!done) {
		diag("%s: still reaching new fault points after %u, giving up",
		     fc->name, max_points);
		return 1;
	}
	diag("%s: %u fault points (%u with ktls on the stack): the call failed at %u, returned short at %u, succeeded anyway at %u",
	     fc->name, t.points, t.in_ktls, t.refused, t.shortened, t.absorbed);
	print_sites(fc->name, &t);
	if (notes.sticky || notes.lost)
		diag("%s: socket left in error %u time(s), data lost at close %u time(s)",
		     fc->name, notes.sticky, notes.lost);
	if (t.failures) {
		diag("%s: checks failed at %u point(s): N=%s", fc->name,
		     t.failures, t.failed_at);
		return 1;
	}
	return 0;
}

/* Deep enough for anything the walk calls, touched before anything is
 * armed: a stack page fault then would be a fault point of its own. */
static void prefault_stack(void)
{
	volatile char pad[256 * 1024];

	memset((char *)pad, 0, sizeof(pad));
}

static int run_child(const struct fault_case *fc)
{
	signal(SIGPIPE, SIG_IGN);
	if (mlockall(MCL_CURRENT | MCL_FUTURE))
		diag("mlockall: %s (page faults may take injected failures)",
		     strerror(errno));
	prefault_stack();
	if (inject_open(fc->persist, persist_traces))
		return 2;
	return walk(fc);
}

/* Runs one case in a child; returns true when it passed. */
static bool run_case(const struct fault_case *fc, unsigned int num)
{
	unsigned int limit = scaled(CASE_SECONDS) * 10, ticks = 0;
	const char *why = NULL;
	char reason[96];
	int status = 0;
	pid_t pid;

	progress->n = 0;
	progress->stage = "starting";
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		printf("not ok %u %s # fork: %s\n", num, fc->name, strerror(errno));
		return false;
	}
	if (!pid)
		_exit(run_child(fc));

	while (waitpid(pid, &status, WNOHANG) == 0) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		if (++ticks > limit) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			snprintf(reason, sizeof(reason),
				 "timed out after %u s at N=%u, %s",
				 limit / 10, progress->n, progress->stage);
			why = reason;
			break;
		}
		nanosleep(&ts, NULL);
	}
	if (!why && WIFSIGNALED(status)) {
		snprintf(reason, sizeof(reason), "killed by signal %d at N=%u, %s",
			 WTERMSIG(status), progress->n, progress->stage);
		why = reason;
	} else if (!why && WIFEXITED(status) && WEXITSTATUS(status) == 2) {
		why = "could not drive fault injection";
	}
	if (!why && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		printf("ok %u %s\n", num, fc->name);
		return true;
	}
	printf("not ok %u %s%s%s\n", num, fc->name, why ? " # " : "",
	       why ? why : "");
	return false;
}

static bool selected(const char *name, char **filters, int nfilters)
{
	int i;

	if (!nfilters)
		return true;
	for (i = 0; i < nfilters; i++) {
		if (strstr(name, filters[i]))
			return true;
	}
	return false;
}

struct case_list {
	struct fault_case *cases;
	unsigned int count, max;
	char **filters;
	int nfilters;
};

static void add_case(struct case_list *l, const struct fault_op *op,
		     unsigned int v, size_t size, bool persist)
{
	static const uint16_t versions[] = { TLS_1_2_VERSION, TLS_1_3_VERSION };
	struct fault_case *fc;
	int len;

	if (l->count == l->max)
		return;
	fc = &l->cases[l->count];
	fc->op = op;
	fc->version = versions[v];
	fc->size = size;
	fc->persist = persist;
	len = snprintf(fc->name, sizeof(fc->name), "%s", op->name);
	if (op->versioned)
		len += snprintf(fc->name + len, sizeof(fc->name) - len, "/%s",
				v ? "tls13" : "tls12");
	if (op->sizes)
		len += snprintf(fc->name + len, sizeof(fc->name) - len, "/%zu",
				size);
	if (persist)
		snprintf(fc->name + len, sizeof(fc->name) - len, "/persist");
	if (selected(fc->name, l->filters, l->nfilters))
		l->count++;
}

/* Every op x version x size walked point by point, then the persistent
 * mode's selection. */
static unsigned int build_cases(struct fault_case *cases, unsigned int max,
				char **filters, int nfilters)
{
	struct case_list l = { cases, 0, max, filters, nfilters };
	unsigned int i, v, mode;

	for (mode = 0; mode < 2; mode++) {
		for (i = 0; i < fault_nops; i++) {
			const struct fault_op *op = &fault_ops[i];
			const size_t *sizes = mode ? op->persist_sizes : op->sizes;
			const size_t *s;

			if (mode && !sizes)
				continue;
			for (v = 0; v < (op->versioned ? 2u : 1u); v++) {
				if (!op->sizes) {
					add_case(&l, op, v, 0, mode);
					continue;
				}
				for (s = sizes; *s; s++)
					add_case(&l, op, v, *s, mode);
			}
		}
	}
	return l.count;
}

int main(int argc, char **argv)
{
	struct fault_case cases[128];
	unsigned int ncases, i, passed = 0, failed = 0;
	char *filters[16];
	int nfilters = 0, opt, list = 0;
	const char *env;
	char why[256];

	while ((opt = getopt(argc, argv, "lTt:n:")) != -1) {
		switch (opt) {
		case 'l':
			list = 1;
			break;
		case 't':
			if (nfilters < 16)
				filters[nfilters++] = optarg;
			break;
		case 'n':
			max_points = strtoul(optarg, NULL, 10);
			break;
		case 'T':
			persist_traces = true;
			break;
		default:
			fprintf(stderr, "usage: %s [-l] [-T] [-t SUBSTRING]... [-n MAX_POINTS]\n",
				argv[0]);
			return 2;
		}
	}
	env = getenv("KTLS_VM_SLOWDOWN");
	if (env && atoi(env) > 0)
		slowdown = atoi(env);

	ncases = build_cases(cases, sizeof(cases) / sizeof(cases[0]),
			     filters, nfilters);
	if (list) {
		for (i = 0; i < ncases; i++)
			puts(cases[i].name);
		return 0;
	}

	printf("TAP version 13\n");
	if (inject_probe(why, sizeof(why))) {
		printf("1..0 # SKIP %s\n", why);
		printf("0 passed, 0 failed, %u skipped\n", ncases);
		return 0;
	}
	progress = mmap(NULL, sizeof(*progress), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (progress == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	if (inject_setup()) {
		inject_restore();
		printf("1..0 # SKIP cannot configure fault injection\n");
		printf("0 passed, 1 failed\n");
		return 1;
	}
	diag("ULP %s; every allocation of the calling thread may fail (failslab, fail_page_alloc)",
	     ku_ulp_name());
	printf("1..%u\n", ncases);
	for (i = 0; i < ncases; i++) {
		if (run_case(&cases[i], i + 1))
			passed++;
		else
			failed++;
	}
	inject_restore();
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
