// SPDX-License-Identifier: GPL-2.0
/*
 * campaign - helpers shared by ktls_hostile and ktls_apifuzz.
 */
#define _GNU_SOURCE	/* unshare */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "campaign.h"

const struct cm_variant cm_variants[8] = {
	{ TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128, "tls12_aes_gcm_128" },
	{ TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_256, "tls12_aes_gcm_256" },
	{ TLS_1_2_VERSION, TLS_CIPHER_AES_CCM_128, "tls12_aes_ccm_128" },
	{ TLS_1_2_VERSION, TLS_CIPHER_CHACHA20_POLY1305,
	  "tls12_chacha20_poly1305" },
	{ TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128, "tls13_aes_gcm_128" },
	{ TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_256, "tls13_aes_gcm_256" },
	{ TLS_1_3_VERSION, TLS_CIPHER_AES_CCM_128, "tls13_aes_ccm_128" },
	{ TLS_1_3_VERSION, TLS_CIPHER_CHACHA20_POLY1305,
	  "tls13_chacha20_poly1305" },
};

static char replay[512] = "(no replay command)";

uint64_t cm_mix(uint64_t seed, uint64_t a, uint64_t b)
{
	uint64_t s = seed ^ (a * 0xd1b54a32d192ed03ULL);

	cm_rand(&s);
	s ^= b * 0x8cb92ba72f3d8dd7ULL;
	return cm_rand(&s);
}

void cm_set_replay(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(replay, sizeof(replay), fmt, ap);
	va_end(ap);
}

void cm_fail(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* One line each, whole, even with several threads failing. */
	fprintf(stdout, "FAIL: %s\nFAIL: replay with: %s\n", msg, replay);
	fflush(stdout);
	_exit(1);
}

double cm_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void cm_sleep_us(unsigned int us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

int cm_netns(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd, ret = 0;

	if (unshare(CLONE_NEWNET))
		return -errno;
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr))
			ret = -errno;
	} else {
		ret = -errno;
	}
	close(fd);
	return ret;
}

size_t cm_info(union cc_crypto_info *ci, const struct cm_variant *v,
	       uint64_t seed)
{
	unsigned char material[64];
	size_t i;

	for (i = 0; i < sizeof(material); i += 8) {
		uint64_t r = cm_rand(&seed);

		memcpy(material + i, &r, 8);
	}
	return cc_crypto_info_fill(ci, v->version, v->cipher, material, 0);
}


int cm_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;	/* the directory's own */
}
