// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel contenders: attach the ULP named after the contender ("ktls"
 * or "tls") and install the fixed test keys; pre-seal a stream of records
 * with crosscheck.c for the RX workloads, so the sender only write()s.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "bench.h"

#include "../uapi/ktls.h"

void kern_attach(int fd)
{
	const char *ulp;

	switch (opts->contender) {
	case C_KTLS:
		ulp = "ktls";
		break;
	case C_TLS:
		ulp = "tls";
		break;
	default:
		return;
	}
	if (setsockopt(fd, SOL_TCP, TCP_ULP, ulp, strlen(ulp)))
		die("TCP_ULP \"%s\": %s%s", ulp, strerror(errno),
		    errno == ENOENT ? " (module not loaded?)" : "");
}

/* Install the key of direction @dir as TLS_TX or TLS_RX (@optname). */
void kern_key(int fd, int optname, int dir)
{
	union cc_crypto_info ci;
	size_t len;

	if (opts->contender != C_KTLS && opts->contender != C_TLS)
		return;
	len = fill_crypto_info(&ci, dir);
	if (setsockopt(fd, SOL_TLS, optname, &ci, len))
		die("setsockopt(SOL_TLS, %s): %s",
		    optname == TLS_TX ? "TLS_TX" : "TLS_RX", strerror(errno));
	memset(&ci, 0, sizeof(ci));
}

/*
 * @bytes of plaintext as data records of at most @rec bytes each, sealed
 * with the key of direction @dir starting at sequence number 0.
 */
uint8_t *seal_stream(uint64_t bytes, size_t rec, int dir, size_t *len)
{
	size_t per = rec > CC_MAX_PLAINTEXT ? CC_MAX_PLAINTEXT : rec;
	uint64_t nrec = (bytes + per - 1) / per, left = bytes;
	size_t over = cc_record_overhead(opts->version, opts->cipher);
	size_t cap = nrec * (per + over), off = 0;
	union cc_crypto_info ci;
	struct cc_state st;
	uint8_t *out, *plain;
	int err;

	out = malloc(cap);
	plain = malloc(per);
	if (!out || !plain)
		die("out of memory for %zu bytes of records", cap);
	memset(plain, 'p', per);
	err = cc_init(&st, &ci, fill_crypto_info(&ci, dir));
	memset(&ci, 0, sizeof(ci));
	if (err)
		die("crosscheck init: %s", strerror(-err));
	while (left) {
		size_t n = left < per ? left : per;
		ssize_t w = cc_seal(&st, CC_TYPE_DATA, plain, n, 0, out + off,
				    cap - off);

		if (w < 0)
			die("crosscheck seal: %s", strerror((int)-w));
		off += w;
		left -= n;
	}
	cc_free(&st);
	free(plain);
	*len = off;
	return out;
}
