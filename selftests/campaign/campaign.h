/* SPDX-License-Identifier: GPL-2.0 */
/*
 * campaign - seeded, reproducible stress of ktls in the VM.
 *
 *   ktls_hostile  a crosscheck-driven peer sends valid-tag records with
 *                 hostile content to a ktls reader (hostile.c)
 *   ktls_apifuzz  random sequences of socket calls on ktls socket pairs
 *                 from several threads (apifuzz.c)
 *
 * Both take -s SEED and print it first; a failure prints the command that
 * replays it.  Helpers shared by both are in common.c.
 */
#ifndef KTLS_CAMPAIGN_H
#define KTLS_CAMPAIGN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../crosscheck.h"
#include "../lib/ktls_util.h"
#include "../../uapi/ktls.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* One (TLS version, cipher) pair. */
struct cm_variant {
	uint16_t version;
	uint16_t cipher;
	const char *name;
};

extern const struct cm_variant cm_variants[8];

/* splitmix64: the whole campaign's randomness comes from this. */
static inline uint64_t cm_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n); n > 0. */
static inline uint64_t cm_below(uint64_t *s, uint64_t n)
{
	return cm_rand(s) % n;
}

/* True with probability @pct percent. */
static inline bool cm_chance(uint64_t *s, unsigned int pct)
{
	return cm_below(s, 100) < pct;
}

/* A seed derived from @seed and @a, @b: independent streams. */
uint64_t cm_mix(uint64_t seed, uint64_t a, uint64_t b);

/* common.c */
/* The program's replay command, printed with every failure. */
void cm_set_replay(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
/* Print "FAIL: ...", the replay command, and exit 1 (any thread). */
void cm_fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
double cm_now(void);
void cm_sleep_us(unsigned int us);
/* A fresh network namespace with lo up: private counters and ports. */
int cm_netns(void);
/* Crypto info for @v keyed from @seed. */
size_t cm_info(union cc_crypto_info *ci, const struct cm_variant *v,
	       uint64_t seed);
/* Open file descriptors of the process. */
int cm_fd_count(void);

#endif /* KTLS_CAMPAIGN_H */
