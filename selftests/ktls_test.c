// SPDX-License-Identifier: GPL-2.0
/*
 * ktls_test - kselftest-harness tests of the kernel kTLS socket API, run
 * against the ULP named by $KTLS_ULP ("ktls" by default; "tls" is the
 * in-tree module, the reference).
 *
 * Fixtures, each run for (TLS 1.2, TLS 1.3) x (AES-GCM-128, AES-GCM-256,
 * AES-CCM-128, ChaCha20-Poly1305):
 *   tls   a loopback TCP pair, the ULP and keys on both ends, one key per
 *         direction: data path, sendfile, partial reads, poll, non-blocking,
 *         close/shutdown, getsockopt, control records.
 *   api   a loopback TCP pair with the ULP on one end and no keys yet:
 *         setsockopt/getsockopt argument checking.
 *   wire  the ULP with keys on one end, a plain TCP socket on the other:
 *         what the kernel sends is opened by crosscheck.c, what crosscheck.c
 *         seals is fed to the kernel; malformed and split records, poll on a
 *         partial record.
 * plus a few variant-less tests: attaching the ULP, many sockets, IPv6,
 * ciphers the kernel lacks, statistics per namespace, memory accounting.
 *
 * One binary from one translation unit (the harness keeps its lists per
 * unit): this file includes ktls_test.h (helpers, variants, fixtures) and
 * one file per concern, then adds main() with the name filters.
 *   ktls_test_api.c          ULP attach, setsockopt/getsockopt checking
 *   ktls_test_data.c         send/recv, sendfile, peek, splice, poll, ...
 *   ktls_test_concurrency.c  threads and processes, the TX worker
 *   ktls_test_shutdown.c     shutdown and close
 *   ktls_test_wire_tx.c      TX records opened by crosscheck.c
 *   ktls_test_wire_rx.c      RX of records sealed by crosscheck.c
 *   ktls_test_wire_rx_err.c  RX of records that must be refused
 *   ktls_test_stat.c         /proc/net/ktls_stat and sock_diag
 *   ktls_test_memcg.c        memory cgroup charges
 *
 * Usage: ktls_test [-f FIXTURE] [-v VARIANT] [-t TEST] [-l]
 *   each filter may repeat and matches as a substring; -l lists and exits.
 */
#include "ktls_test.h"

#include "ktls_test_api.c"
#include "ktls_test_data.c"
#include "ktls_test_concurrency.c"
#include "ktls_test_shutdown.c"
#include "ktls_test_wire_tx.c"
#include "ktls_test_wire_rx.c"
#include "ktls_test_wire_rx_err.c"
#include "ktls_test_stat.c"
#include "ktls_test_memcg.c"

/* ---- main: the harness plus name filters -------------------------------- */

static bool name_match(const char *name, char **pats, int npats)
{
	int i;

	if (!npats)
		return true;
	for (i = 0; i < npats; i++)
		if (strstr(name, pats[i]))
			return true;
	return false;
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-f FIXTURE] [-v VARIANT] [-t TEST] [-l]\n"
		"  filters match substrings and may repeat; -l lists\n"
		"  KTLS_ULP selects the ULP (default \"ktls\")\n", prog);
	exit(2);
}

/* Drop what the filters exclude from the harness's lists. */
static int filter_tests(int argc, char **argv)
{
	char *fix[64], *var[64], *tst[64];
	int nf = 0, nv = 0, nt = 0, opt, list = 0;
	struct __fixture_metadata *f, **fp;

	while ((opt = getopt(argc, argv, "f:v:t:lh")) != -1) {
		switch (opt) {
		case 'f':
			if (nf < 64)
				fix[nf++] = optarg;
			break;
		case 'v':
			if (nv < 64)
				var[nv++] = optarg;
			break;
		case 't':
			if (nt < 64)
				tst[nt++] = optarg;
			break;
		case 'l':
			list = 1;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (optind != argc)
		usage(argv[0]);

	for (fp = &__fixture_list; (f = *fp);) {
		struct __fixture_variant_metadata *v, **vp;
		struct __test_metadata *t, **tp;

		for (tp = &f->tests; (t = *tp);) {
			if (name_match(t->name, tst, nt))
				tp = &t->next;
			else
				*tp = t->next;
		}
		for (vp = &f->variant; (v = *vp);) {
			if (name_match(v->name, var, nv))
				vp = &v->next;
			else
				*vp = v->next;
		}
		if (!f->tests || !name_match(f->name, fix, nf) ||
		    (nv && !f->variant)) {
			*fp = f->next;
			continue;
		}
		fp = &f->next;
	}

	if (list) {
		for (f = __fixture_list; f; f = f->next) {
			struct __fixture_variant_metadata none = { .name = "" };
			struct __fixture_variant_metadata *v;
			struct __test_metadata *t;

			for (v = f->variant ?: &none; v; v = v->next)
				for (t = f->tests; t; t = t->next)
					printf("%s%s%s.%s\n", f->name,
					       *v->name ? "." : "", v->name,
					       t->name);
		}
		exit(0);
	}
	return 0;
}

static void __attribute__((constructor)) ktls_test_order_last(void)
{
	/* What TEST_HARNESS_MAIN does, so tests run in file order. */
	if (!__constructor_order)
		__constructor_order = _CONSTRUCTOR_ORDER_BACKWARD;
}

int main(int argc, char **argv)
{
	filter_tests(argc, argv);
	fprintf(stderr, "# ktls_test: ULP \"%s\"\n", ku_ulp_name());
	return test_harness_run(argc, argv);
}
