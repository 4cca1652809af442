// SPDX-License-Identifier: GPL-2.0
/*
 * ktls_test: memory accounting.
 *
 * Plaintext held for MSG_PEEK is charged to the socket's memory cgroup.
 *
 * Part of the ktls_test translation unit: ktls_test.c includes it after
 * ktls_test.h (see there why).
 */
#include "ktls_test.h"

/* ---- memory accounting ---------------------------------------------------- */

static bool write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return false;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text);
}

static long read_long(const char *path)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? strtol(buf, NULL, 10) : -1;
}

/*
 * Move this process into a new cgroup v2 memory cgroup, mounting the
 * hierarchy if needed; false (and a reason in @why) when that is not
 * possible here.
 */
static bool memcg_enter(char *dir, size_t size, const char **why)
{
	char path[256];

	if (mount("none", "/sys/fs/cgroup", "cgroup2", 0, NULL) &&
	    errno != EBUSY) {
		*why = "cannot mount cgroup2";
		return false;
	}
	write_file("/sys/fs/cgroup/cgroup.subtree_control", "+memory");
	snprintf(dir, size, "/sys/fs/cgroup/ktls_test.%d", getpid());
	if (mkdir(dir, 0755) && errno != EEXIST) {
		*why = "cannot create a cgroup";
		return false;
	}
	snprintf(path, sizeof(path), "%s/memory.current", dir);
	if (read_long(path) < 0) {
		*why = "no memory controller";
		return false;
	}
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	if (!write_file(path, "0")) {
		*why = "cannot join the cgroup";
		return false;
	}
	return true;
}

static long memcg_current(const char *dir)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/memory.current", dir);
	return read_long(path);
}

static void memcg_leave(const char *dir)
{
	write_file("/sys/fs/cgroup/cgroup.procs", "0");
	rmdir(dir);
}

/*
 * Issue 16, finding 8: plaintext that MSG_PEEK decrypted ahead is held by
 * ktls after TCP freed (and uncharged) the ciphertext; it is charged to the
 * socket owner's memory cgroup, and uncharged when the socket closes.
 */
TEST(memcg_charges_peeked_plaintext)
{
	enum { NPAIRS = 16, PER = 8 * 16384 };
	union cc_crypto_info a, b;
	unsigned char *data = random_buf(PER, 181), *buf = malloc(PER);
	int c[NPAIRS], s[NPAIRS], big = 1 << 20, i, tries;
	const char *why = "";
	long m0, m2, m3;
	char dir[128];

	ASSERT_NE(NULL, data);
	ASSERT_NE(NULL, buf);
	memset(buf, 0, PER);
	if (ku_ulp_is_intree())
		SKIP(return, "the in-tree 6.1 module charges nobody for it");
	if (!memcg_enter(dir, sizeof(dir), &why))
		SKIP(return, "memory cgroup: %s", why);
	m0 = memcg_current(dir);
	for (i = 0; i < NPAIRS; i++) {
		tls_pair(_metadata, TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128,
			 &c[i], &s[i], &a, &b, NULL);
		ASSERT_EQ(0, setsockopt(s[i], SOL_SOCKET, SO_RCVBUF, &big,
					sizeof(big)));
		set_timeouts(_metadata, s[i]);
		ASSERT_EQ(PER, send(c[i], data, PER, 0));
	}
	for (i = 0; i < NPAIRS; i++) {
		ssize_t n = 0;

		/* The whole of it, peeked: every record decrypted and held. */
		for (tries = 0; tries < 100 && n != PER; tries++) {
			n = recv(s[i], buf, PER, MSG_PEEK);
			if (n != PER)
				msleep(20);
		}
		ASSERT_EQ(PER, n);
		EXPECT_EQ(0, memcmp(buf, data, PER));
	}
	m2 = memcg_current(dir);
	EXPECT_GE(m2 - m0, (long)NPAIRS * PER * 3 / 4) {
		TH_LOG("memory.current grew by %ld with %d bytes held",
		       m2 - m0, NPAIRS * PER);
	}
	for (i = 0; i < NPAIRS; i++) {
		close(c[i]);
		close(s[i]);
	}
	/* Freed after an RCU grace period or two. */
	for (tries = 0; tries < 50; tries++) {
		m3 = memcg_current(dir);
		if (m3 - m0 < (long)NPAIRS * PER / 4)
			break;
		msleep(100);
	}
	EXPECT_LT(m3 - m0, (long)NPAIRS * PER / 4) {
		TH_LOG("memory.current still %ld above the start after close",
		       m3 - m0);
	}
	memcg_leave(dir);
	free(data);
	free(buf);
}
