// SPDX-License-Identifier: GPL-2.0
/*
 * Memory per idle socket: -n connected loopback pairs, each end with the
 * ULP and both keys (TX and RX) installed, nothing sent.  The figure is
 * the drop of MemFree, and separately the growth of the slab
 * (SReclaimable + SUnreclaim), between before and after, divided by the
 * number of sockets (2n).  The plain TCP contender gives the baseline that
 * the report subtracts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

struct meminfo {
	long long free_kb, slab_kb;
};

static void read_meminfo(struct meminfo *m)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	long long v;

	if (!f)
		die("/proc/meminfo: %s", strerror(errno));
	m->free_kb = m->slab_kb = -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemFree: %lld kB", &v) == 1)
			m->free_kb = v;
		else if (sscanf(line, "Slab: %lld kB", &v) == 1)
			m->slab_kb = v;
	}
	fclose(f);
	if (m->free_kb < 0 || m->slab_kb < 0)
		die("/proc/meminfo lacks MemFree or Slab");
}

/* Let deferred frees of earlier work (RCU, TIME_WAIT) finish first. */
static void settle(void)
{
	sync();
	usleep(500 * 1000);
}

void run_idlemem(struct bench_result *r)
{
	unsigned int i, n = opts->count;
	int *c = malloc(n * sizeof(int)), *s = malloc(n * sizeof(int));
	struct meminfo before, after;
	struct cpu_sample c0, c1;
	double t0;

	if (!c || !s)
		die("out of memory");
	if (opts->contender != C_KTLS && opts->contender != C_TLS &&
	    opts->contender != C_TCP)
		die("idlemem: contenders are ktls, tls and tcp");
	settle();
	read_meminfo(&before);
	t0 = now_s();
	cpu_sample(&c0);
	tcp_pairs(c, s, n);
	for (i = 0; i < n; i++) {
		kern_attach(c[i]);
		kern_attach(s[i]);
		kern_key(c[i], TLS_TX, 0);
		kern_key(c[i], TLS_RX, 1);
		kern_key(s[i], TLS_TX, 1);
		kern_key(s[i], TLS_RX, 0);
	}
	r->wall_s = now_s() - t0;
	cpu_sample(&c1);
	cpu_delta(r, &c0, &c1);
	settle();
	read_meminfo(&after);
	r->per_sock = (before.free_kb - after.free_kb) * 1024.0 / (2.0 * n);
	r->per_sock_slab = (after.slab_kb - before.slab_kb) * 1024.0 /
			   (2.0 * n);
	snprintf(r->note, sizeof(r->note), "%u sockets%s", 2 * n,
		 opts->contender == C_TCP ? "" : " with TX and RX keys");
	for (i = 0; i < n; i++) {
		close(c[i]);
		close(s[i]);
	}
	free(c);
	free(s);
}
