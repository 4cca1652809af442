// SPDX-License-Identifier: GPL-2.0
/*
 * fault_test - driving the kernel's fault injection.
 *
 * /proc/thread-self/fail-nth makes the N-th fault point the calling thread
 * passes fail, whatever the probability settings; it counts the points of
 * every enabled capability.  For the persistent mode, the capabilities
 * also fail every point of a task whose make-it-fail is set (probability
 * 100, task filter): with fail-nth counting down first, the points before
 * the N-th pass and every one from the N-th on fails.  Two capabilities
 * matter here, and both skip allocations that may sleep unless told
 * otherwise:
 *   failslab         kmalloc/kmem_cache_alloc
 *   fail_page_alloc  the page allocator (min-order 1 by default)
 * Allocations flagged __GFP_HIGHMEM (user pages) stay exempt, so that a
 * page fault of ours never turns into an OOM kill; the test also locks its
 * memory before it arms anything.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault.h"

#define DEBUGFS		"/sys/kernel/debug"
#define FAIL_NTH	"/proc/thread-self/fail-nth"
#define MAKE_IT_FAIL	"/proc/thread-self/make-it-fail"

struct knob {
	const char *path;
	const char *value;
	char saved[64];
	bool changed;
};

static struct knob knobs[] = {
	{ .path = DEBUGFS "/failslab/ignore-gfp-wait", .value = "N" },
	{ .path = DEBUGFS "/failslab/task-filter", .value = "Y" },
	{ .path = DEBUGFS "/failslab/probability", .value = "100" },
	{ .path = DEBUGFS "/failslab/interval", .value = "1" },
	{ .path = DEBUGFS "/failslab/times", .value = "-1" },
	{ .path = DEBUGFS "/failslab/space", .value = "0" },
	{ .path = DEBUGFS "/failslab/verbose", .value = "2" },
	{ .path = DEBUGFS "/failslab/verbose_ratelimit_burst", .value = "1000000" },
	{ .path = DEBUGFS "/fail_page_alloc/ignore-gfp-wait", .value = "N" },
	{ .path = DEBUGFS "/fail_page_alloc/task-filter", .value = "Y" },
	{ .path = DEBUGFS "/fail_page_alloc/probability", .value = "100" },
	{ .path = DEBUGFS "/fail_page_alloc/interval", .value = "1" },
	{ .path = DEBUGFS "/fail_page_alloc/times", .value = "-1" },
	{ .path = DEBUGFS "/fail_page_alloc/space", .value = "0" },
	{ .path = DEBUGFS "/fail_page_alloc/ignore-gfp-highmem", .value = "Y" },
	{ .path = DEBUGFS "/fail_page_alloc/min-order", .value = "0" },
	{ .path = DEBUGFS "/fail_page_alloc/verbose", .value = "2" },
	{ .path = DEBUGFS "/fail_page_alloc/verbose_ratelimit_burst", .value = "1000000" },
	/* Console log level 1: the traces of hundreds of injected failures
	 * would crawl over the emulated serial port.  They still reach the
	 * kernel log, which the VM runner checks. */
	{ .path = "/proc/sys/kernel/printk", .value = "1" },
};

#define NKNOBS (sizeof(knobs) / sizeof(knobs[0]))

static int nth_fd = -1;
static int miff_fd = -1;
static int kmsg_fd = -1;
static bool persist;

int inject_probe(char *why, size_t len)
{
	if (access(FAIL_NTH, W_OK)) {
		snprintf(why, len, "%s: %s (needs CONFIG_FAULT_INJECTION: the debug kernel, make check-debug)",
			 FAIL_NTH, strerror(errno));
		return -1;
	}
	if (access(DEBUGFS "/failslab/ignore-gfp-wait", W_OK) ||
	    access(DEBUGFS "/fail_page_alloc/min-order", W_OK)) {
		snprintf(why, len, "%s/failslab or fail_page_alloc: %s (needs FAILSLAB, FAIL_PAGE_ALLOC, debugfs and root)",
			 DEBUGFS, strerror(errno));
		return -1;
	}
	return 0;
}

int inject_setup(void)
{
	unsigned int i;

	for (i = 0; i < NKNOBS; i++) {
		struct knob *k = &knobs[i];

		if (ku_read_text(k->path, k->saved, sizeof(k->saved))) {
			diag("cannot read %s: %s", k->path, strerror(errno));
			return -1;
		}
		if (ku_write_text(k->path, k->value)) {
			diag("cannot write %s to %s: %s", k->value, k->path,
			     strerror(errno));
			return -1;
		}
		k->changed = true;
	}
	return 0;
}

int inject_open(bool persistent, bool traces)
{
	/* One trace per walk point is what names the failing call site; in
	 * the persistent mode every later allocation fails too, and a trace
	 * for each would flood the log (unless asked for). */
	const char *verbose = persistent && !traces ? "1" : "2";

	if (ku_write_text(DEBUGFS "/failslab/verbose", verbose) ||
	    ku_write_text(DEBUGFS "/fail_page_alloc/verbose", verbose)) {
		diag("cannot set the fault-injection verbosity: %s", strerror(errno));
		return -1;
	}
	persist = persistent;
	nth_fd = open(FAIL_NTH, O_RDWR | O_CLOEXEC);
	if (nth_fd < 0) {
		diag("cannot open %s: %s", FAIL_NTH, strerror(errno));
		return -1;
	}
	miff_fd = open(MAKE_IT_FAIL, O_RDWR | O_CLOEXEC);
	if (miff_fd < 0) {
		diag("cannot open %s: %s", MAKE_IT_FAIL, strerror(errno));
		return -1;
	}
	/* Best effort: without it failures are reported without traces. */
	kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	return 0;
}

void inject_restore(void)
{
	unsigned int i;

	for (i = 0; i < NKNOBS; i++) {
		if (knobs[i].changed)
			ku_write_text(knobs[i].path, knobs[i].saved);
		knobs[i].changed = false;
	}
}

int inject_arm(unsigned int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%u", n);

	if (pwrite(nth_fd, buf, len, 0) != len)
		return -1;
	if (persist && pwrite(miff_fd, "1", 1, 0) != 1)
		return -1;
	return 0;
}

bool inject_disarm(void)
{
	char buf[16] = "";
	unsigned long left;
	ssize_t n;

	if (persist && pwrite(miff_fd, "0", 1, 0) != 1) {
		diag("cannot clear %s: %s", MAKE_IT_FAIL, strerror(errno));
		exit(2);
	}
	n = pread(nth_fd, buf, sizeof(buf) - 1, 0);
	left = n > 0 ? strtoul(buf, NULL, 10) : 1;
	if (pwrite(nth_fd, "0", 1, 0) != 1) {
		diag("cannot disarm %s: %s", FAIL_NTH, strerror(errno));
		exit(2);
	}
	return left == 0;
}

/* The kernel log since kmsg_mark(): one message per line. */
static char klog[64 * 1024];
static size_t klog_len;

void kmsg_mark(void)
{
	klog_len = 0;
	klog[0] = '\0';
	if (kmsg_fd >= 0)
		lseek(kmsg_fd, 0, SEEK_END);
}

/* Records are "level,seq,time,flags;message\n" plus " KEY=value" lines. */
void kmsg_collect(void)
{
	char rec[2048];
	ssize_t n;

	if (kmsg_fd < 0)
		return;
	for (;;) {
		char *msg;
		size_t len;

		n = read(kmsg_fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)	/* overwritten: go on */
			continue;
		if (n <= 0)
			break;
		rec[n] = '\0';
		msg = strchr(rec, ';');
		if (!msg)
			continue;
		msg++;
		len = strcspn(msg, "\n");
		if (klog_len + len + 2 > sizeof(klog))
			continue;
		memcpy(klog + klog_len, msg, len);
		klog_len += len;
		klog[klog_len++] = '\n';
		klog[klog_len] = '\0';
	}
}

void kmsg_print(int max_lines)
{
	const char *p = klog;
	int lines = 0;

	while (*p) {
		size_t len = strcspn(p, "\n");

		if (lines++ < max_lines)
			diag("  kernel: %.*s", (int)len, p);
		p += len + (p[len] == '\n');
	}
	if (lines > max_lines)
		diag("  kernel: (%d more lines in the kernel log)", lines - max_lines);
}

/* Frames of the allocators and of fault injection itself. */
static bool allocator_frame(const char *f, size_t len)
{
	static const char *const prefixes[] = {
		"dump_stack", "should_fail", "__should_fail", "should_failslab",
		"kmem_cache_alloc", "__kmem_cache_alloc", "kmalloc", "__kmalloc",
		"kzalloc", "kvmalloc", "__kvmalloc", "kmalloc_reserve",
		"__alloc_pages", "alloc_pages", "__folio_alloc", "folio_alloc",
		"__get_free_pages", "get_zeroed_page", "alloc_slab_page",
		"allocate_slab", "new_slab", "___slab_alloc", "__slab_alloc",
		"slab_alloc", "prepare_alloc_pages", "kasan_", "__kasan_",
		"stack_depot_save", "__stack_depot_save",
	};
	unsigned int i;

	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t pl = strlen(prefixes[i]);

		if (pl <= len && !strncmp(f, prefixes[i], pl))
			return true;
	}
	return false;
}

/*
 * Where the injected failure hit: the first caller above the allocator in
 * the trace fault injection logged ("?" when it logged none, e.g. for
 * __GFP_NOWARN allocations), and whether ktls is on that stack.
 */
void kmsg_site(char *site, size_t size, bool *in_ktls)
{
	const char *p = strstr(klog, "FAULT_INJECTION: forcing a failure");
	bool in_trace = false;

	snprintf(site, size, "?");
	*in_ktls = false;
	if (!p)
		return;
	while (*p) {
		size_t len = strcspn(p, "\n");
		const char *f = p;

		while (f < p + len && *f == ' ')
			f++;
		if (!strncmp(f, "Call Trace:", 11)) {
			in_trace = true;
		} else if (in_trace && (!strncmp(f, "</TASK>", 7) ||
					!strncmp(f, "RIP:", 4))) {
			break;
		} else if (in_trace && *f != '?' && *f != '<') {
			size_t flen = strcspn(f, "+ \n");

			if (memmem(f, p + len - f, "[ktls]", 6))
				*in_ktls = true;
			if (!strcmp(site, "?") && !allocator_frame(f, flen))
				snprintf(site, size, "%.*s", (int)flen, f);
		}
		p += len + (p[len] == '\n');
	}
}
