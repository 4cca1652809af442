// SPDX-License-Identifier: GPL-2.0
/*
 * The crypto ceiling: the kernel's AEAD for the same cipher and record size,
 * through AF_ALG ("gcm(aes)", "rfc7539(chacha20,poly1305)": the names the
 * kTLS modules allocate, so the crypto API picks the same driver).  One
 * operation per record: AAD (the TLS 1.2 or 1.3 size) plus -s bytes, sealed,
 * or opened (-d) from a record sealed once beforehand.  Single-threaded;
 * AF_ALG copies in and out, as kTLS copies in.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <linux/if_alg.h>

#include "bench.h"

#ifndef SOL_ALG
#define SOL_ALG 279
#endif

#define TAG_LEN 16
#define IV_LEN 12

static const char *alg_name(void)
{
	return opts->cipher == TLS_CIPHER_CHACHA20_POLY1305 ?
	       "rfc7539(chacha20,poly1305)" : "gcm(aes)";
}

/* The driver /proc/crypto lists for @name with the highest priority. */
static void alg_driver(const char *name, char *out, size_t len)
{
	char line[256], drv[128] = "", best[128] = "?";
	int prio = -1, best_prio = -1, match = 0;
	FILE *f = fopen("/proc/crypto", "r");

	if (!f)
		goto done;
	while (fgets(line, sizeof(line), f)) {
		char val[128];

		if (sscanf(line, "name : %127s", val) == 1) {
			match = !strcmp(val, name);
			drv[0] = 0;
			prio = -1;
		} else if (sscanf(line, "driver : %127s", val) == 1) {
			snprintf(drv, sizeof(drv), "%s", val);
		} else if (sscanf(line, "priority : %d", &prio) == 1) {
			if (match && prio > best_prio && drv[0]) {
				best_prio = prio;
				snprintf(best, sizeof(best), "%s", drv);
			}
		}
	}
	fclose(f);
done:
	snprintf(out, len, "AF_ALG %s", best);
}

/* One AEAD operation: @in (@in_len) through the op socket into @out. */
static void alg_op(int op, bool enc, const uint8_t *iv, size_t assoc,
		   const uint8_t *in, size_t in_len, uint8_t *out,
		   size_t out_len)
{
	char cbuf[CMSG_SPACE(sizeof(uint32_t)) * 2 +
		  CMSG_SPACE(sizeof(struct af_alg_iv) + IV_LEN)] = { 0 };
	struct iovec iov = { .iov_base = (void *)in, .iov_len = in_len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct af_alg_iv *aiv;
	struct cmsghdr *cm;
	uint32_t v;
	ssize_t n;

	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_ALG;
	cm->cmsg_type = ALG_SET_OP;
	cm->cmsg_len = CMSG_LEN(sizeof(uint32_t));
	v = enc ? ALG_OP_ENCRYPT : ALG_OP_DECRYPT;
	memcpy(CMSG_DATA(cm), &v, sizeof(v));

	cm = CMSG_NXTHDR(&msg, cm);
	cm->cmsg_level = SOL_ALG;
	cm->cmsg_type = ALG_SET_AEAD_ASSOCLEN;
	cm->cmsg_len = CMSG_LEN(sizeof(uint32_t));
	v = assoc;
	memcpy(CMSG_DATA(cm), &v, sizeof(v));

	cm = CMSG_NXTHDR(&msg, cm);
	cm->cmsg_level = SOL_ALG;
	cm->cmsg_type = ALG_SET_IV;
	cm->cmsg_len = CMSG_LEN(sizeof(struct af_alg_iv) + IV_LEN);
	aiv = (struct af_alg_iv *)CMSG_DATA(cm);
	aiv->ivlen = IV_LEN;
	memcpy(aiv->iv, iv, IV_LEN);

	n = sendmsg(op, &msg, 0);
	if (n != (ssize_t)in_len)
		die("AF_ALG sendmsg: %s", n < 0 ? strerror(errno) : "short");
	n = read(op, out, out_len);
	if (n != (ssize_t)out_len)
		die("AF_ALG %s: %s", enc ? "seal" : "open",
		    n < 0 ? strerror(errno) : "short read");
}

void run_aead(struct bench_result *r)
{
	struct sockaddr_alg sa = { .salg_family = AF_ALG, .salg_type = "aead" };
	size_t assoc = opts->version == TLS_1_3_VERSION ? 5 : 13;
	size_t size = opts->size, plain_len, sealed_len;
	uint64_t i, ops = opts->bytes / size;
	uint8_t key[32], iv[IV_LEN];
	uint8_t *plain, *sealed, *out;
	size_t keylen;
	int tfm, op;
	struct cpu_sample c0, c1;
	double t0;

	if (size > 65536)
		die("aead: -s at most 64K (one AF_ALG operation)");
	if (!ops)
		die("aead: -b must be at least -s");
	keylen = opts->cipher == TLS_CIPHER_AES_GCM_128 ? 16 : 32;
	for (i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 13 + 5);
	memset(iv, 0x42, sizeof(iv));
	snprintf((char *)sa.salg_name, sizeof(sa.salg_name), "%s",
		 alg_name());
	tfm = socket(AF_ALG, SOCK_SEQPACKET, 0);
	if (tfm < 0)
		die("socket(AF_ALG): %s (algif_aead loaded?)",
		    strerror(errno));
	if (bind(tfm, (struct sockaddr *)&sa, sizeof(sa)))
		die("AF_ALG bind %s: %s", alg_name(), strerror(errno));
	if (setsockopt(tfm, SOL_ALG, ALG_SET_KEY, key, keylen) ||
	    setsockopt(tfm, SOL_ALG, ALG_SET_AEAD_AUTHSIZE, NULL, TAG_LEN))
		die("AF_ALG key or tag size: %s", strerror(errno));
	memset(key, 0, sizeof(key));
	op = accept(tfm, NULL, 0);
	if (op < 0)
		die("AF_ALG accept: %s", strerror(errno));

	plain_len = assoc + size;
	sealed_len = plain_len + TAG_LEN;
	plain = calloc(1, sealed_len);
	sealed = calloc(1, sealed_len);
	out = calloc(1, sealed_len);
	if (!plain || !sealed || !out)
		die("out of memory");
	memset(plain, 'p', plain_len);
	alg_op(op, true, iv, assoc, plain, plain_len, sealed, sealed_len);

	cpu_sample(&c0);
	t0 = now_s();
	for (i = 0; i < ops; i++) {
		if (opts->decrypt)
			alg_op(op, false, iv, assoc, sealed, sealed_len, out,
			       plain_len);
		else
			alg_op(op, true, iv, assoc, plain, plain_len, out,
			       sealed_len);
	}
	r->wall_s = now_s() - t0;
	cpu_sample(&c1);
	cpu_delta(r, &c0, &c1);
	if (opts->decrypt && memcmp(out + assoc, plain + assoc, size))
		die("AF_ALG open returned the wrong plaintext");
	r->bytes = ops * size;
	alg_driver(alg_name(), r->note, sizeof(r->note));
	close(op);
	close(tfm);
	free(plain);
	free(sealed);
	free(out);
}
