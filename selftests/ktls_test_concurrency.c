// SPDX-License-Identifier: GPL-2.0
/*
 * ktls_test: several threads and processes on one socket, and the TX worker.
 *
 * Writers and readers sharing a socket (threads and processes), and the
 * asynchronous TX pipeline with and without a spare CPU.
 *
 * Part of the ktls_test translation unit: ktls_test.c includes it after
 * ktls_test.h (see there why).
 */
#include "ktls_test.h"

/*
 * Tagged blocks for several writers on one socket: each block starts with
 * the writer's number and the block's index, the rest derives from both.
 */
#define TAG_BLOCK 20000		/* more than one record */

static void tag_fill(unsigned char *blk, uint32_t who, uint32_t index)
{
	fill_random(blk, TAG_BLOCK, (uint64_t)who << 32 | index);
	memcpy(blk, &who, sizeof(who));
	memcpy(blk + sizeof(who), &index, sizeof(index));
}

/* Send @count blocks as writer @who, one send() each; 0 or an errno. */
static int tag_send(int fd, uint32_t who, uint32_t count)
{
	unsigned char *blk = malloc(TAG_BLOCK);
	uint32_t i;
	int err = 0;

	if (!blk)
		return ENOMEM;
	for (i = 0; i < count && !err; i++) {
		ssize_t n;

		tag_fill(blk, who, i);
		n = send(fd, blk, TAG_BLOCK, MSG_NOSIGNAL);
		if (n != TAG_BLOCK)
			err = n < 0 ? errno : EMSGSIZE;
	}
	free(blk);
	return err;
}

/*
 * Read @writers x @count blocks from @fd: each must arrive whole and
 * intact, in order per writer, none missing.
 */
static void tag_check(struct __test_metadata *_metadata, int fd,
		      uint32_t writers, uint32_t count)
{
	size_t len = (size_t)writers * count * TAG_BLOCK, off;
	unsigned char *got = malloc(len), *want = malloc(TAG_BLOCK);
	uint32_t next[16] = {}, who, index, w;

	ASSERT_TRUE(got && want && writers <= 16);
	ASSERT_EQ((ssize_t)len, recv_all(fd, got, len, IO_RECV, false));
	for (off = 0; off < len; off += TAG_BLOCK) {
		memcpy(&who, got + off, sizeof(who));
		memcpy(&index, got + off + sizeof(who), sizeof(index));
		ASSERT_LT(who, writers) {
			TH_LOG("block at %zu: no block starts there", off);
		}
		ASSERT_EQ(next[who], index) {
			TH_LOG("block at %zu: writer %u block %u, expected %u",
			       off, who, index, next[who]);
		}
		tag_fill(want, who, index);
		ASSERT_EQ(0, memcmp(want, got + off, TAG_BLOCK)) {
			TH_LOG("writer %u block %u: interleaved or damaged",
			       who, index);
		}
		next[who]++;
	}
	for (w = 0; w < writers; w++)
		EXPECT_EQ(count, next[w]);
	free(got);
	free(want);
}

/*
 * A stream of 8-byte words numbering themselves, for several readers of
 * one socket.  Records and reads are multiples of 8 bytes, so every read
 * starts on a word.
 */
static uint64_t word_at(uint64_t i)
{
	return i ^ 0x5757000000000000ULL;
}

static unsigned char *word_stream(size_t words)
{
	uint64_t *w = malloc(words * 8);
	size_t i;

	if (w)
		for (i = 0; i < words; i++)
			w[i] = word_at(i);
	return (unsigned char *)w;
}

/*
 * Read until end of stream in pieces of @chunk bytes (a multiple of 8),
 * counting each word seen in @seen (shared by all readers).  Returns 0, an
 * errno, or -1 if a read was not a run of consecutive words.
 */
static int word_reader(int fd, size_t chunk, unsigned int *seen,
		       size_t words)
{
	uint64_t *buf = malloc(chunk);
	int ret = 0;

	if (!buf)
		return ENOMEM;
	for (;;) {
		ssize_t n = recv(fd, buf, chunk, 0);
		uint64_t first;
		size_t k;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? errno : 0;
			break;
		}
		first = word_at(buf[0]);
		if (n % 8 || first >= words) {
			ret = -1;
			break;
		}
		for (k = 0; k < (size_t)n / 8; k++) {
			if (buf[k] != word_at(first + k) ||
			    first + k >= words) {
				ret = -1;
				break;
			}
			__atomic_add_fetch(&seen[first + k], 1,
					   __ATOMIC_RELAXED);
		}
		if (ret)
			break;
	}
	free(buf);
	return ret;
}

static void check_words_seen(struct __test_metadata *_metadata,
			     const unsigned int *seen, size_t words)
{
	size_t i, bad = 0, first = 0, last = 0;

	for (i = 0; i < words; i++) {
		if (seen[i] == 1)
			continue;
		if (!bad++)
			first = i;
		last = i;
	}
	EXPECT_EQ(0, bad) {
		TH_LOG("%zu of %zu words not read exactly once (%zu..%zu), "
		       "bytes %zu..%zu", bad, words, first, last, first * 8,
		       last * 8 + 7);
	}
}

struct word_job {
	int fd;
	size_t chunk, words;
	unsigned int *seen;
	int err;
	pthread_t thr;
};

static void *word_reader_thread(void *arg)
{
	struct word_job *j = arg;

	j->err = word_reader(j->fd, j->chunk, j->seen, j->words);
	return NULL;
}

/* Wait for a child and return its exit status (-1 if it did not exit). */
static int child_status(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* ==== TX pipeline: records encrypted by a worker, or taken back ======== */

#define PIPE_BYTES	(1 << 20)
#define PIPE_SEED	61

/* The pipeline is the same for every cipher: one variant is enough. */
#define PIPE_ONE_VARIANT()						\
	do {								\
		if (ku_ulp_is_intree())					\
			SKIP(return, "ktls's TX pipeline");		\
		if (variant->version != TLS_1_3_VERSION ||		\
		    variant->cipher != TLS_CIPHER_AES_GCM_128)		\
			SKIP(return, "run for tls13_aes_gcm_128 only");	\
	} while (0)

/* A child that reads PIPE_BYTES from @fd and exits 0 if they are right. */
static pid_t pipe_reader(int fd)
{
	unsigned char *want, *got;
	pid_t pid = fork();

	if (pid)
		return pid;
	want = malloc(PIPE_BYTES);
	got = malloc(PIPE_BYTES);
	if (!want || !got)
		_exit(2);
	fill_random(want, PIPE_BYTES, PIPE_SEED);
	if (recv_all(fd, got, PIPE_BYTES, IO_RECV, false) != PIPE_BYTES)
		_exit(3);
	_exit(memcmp(want, got, PIPE_BYTES) ? 4 : 0);
}

static void pipe_write(struct __test_metadata *_metadata, int fd)
{
	unsigned char *data = malloc(PIPE_BYTES);
	size_t off;

	ASSERT_NE(NULL, data);
	fill_random(data, PIPE_BYTES, PIPE_SEED);
	for (off = 0; off < PIPE_BYTES; off += 16384)
		ASSERT_EQ(16384, send(fd, data + off, 16384, 0));
	free(data);
}

/* Full records go to the worker when a CPU is spare. */
TEST_F_TIMEOUT(tls, tx_async_with_spare_cpu, 120)
{
	long async = ku_stat("TlsTxAsync"), reclaimed;
	pid_t reader;

	PIPE_ONE_VARIANT();
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		SKIP(return, "needs two CPUs");
	ASSERT_LE(0, async);
	reclaimed = ku_stat("TlsTxAsyncReclaimed");
	ASSERT_LE(0, reclaimed);
	reader = pipe_reader(self->cfd);
	ASSERT_LT(0, reader);
	pipe_write(_metadata, self->fd);
	EXPECT_EQ(0, child_status(reader));
	/* 64 records of 16 KiB: most go to the worker. */
	EXPECT_LT(async + 8, ku_stat("TlsTxAsync"));
	TH_LOG("async %ld, reclaimed %ld", ku_stat("TlsTxAsync") - async,
	       ku_stat("TlsTxAsyncReclaimed") - reclaimed);
}

/*
 * Spin on @cpu at SCHED_FIFO @prio until killed, or for 30 s at most;
 * writes a byte to @ready once it runs there.
 */
static pid_t cpu_hog(int cpu, int prio, int ready)
{
	struct sched_param sp = { .sched_priority = prio };
	cpu_set_t set;
	pid_t pid = fork();

	if (pid)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm(30);
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) ||
	    sched_setscheduler(0, SCHED_FIFO, &sp) ||
	    write(ready, "", 1) != 1)
		_exit(1);
	for (;;)
		;
}

/*
 * No CPU spare: every other CPU runs a real-time spinner, and the writer
 * runs at real-time priority on its own, so the worker (an ordinary
 * kworker) gets no CPU while the writer fills the ring.  The writer must
 * take records back and encrypt them itself instead of sleeping until the
 * worker runs; the data still arrives intact and in order.
 */
TEST_F_TIMEOUT(tls, tx_async_reclaimed_without_spare_cpu, 120)
{
	struct sched_param rt = { .sched_priority = 1 }, other = { 0 };
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN), async, reclaimed;
	pid_t hogs[16], reader;
	struct rusage ru0, ru1;
	int i, nhogs = 0, ready[2];
	cpu_set_t set;
	char c;

	PIPE_ONE_VARIANT();
	if (ncpu < 2)
		SKIP(return, "needs two CPUs");
	async = ku_stat("TlsTxAsync");
	reclaimed = ku_stat("TlsTxAsyncReclaimed");
	ASSERT_LE(0, async);
	ASSERT_LE(0, reclaimed);
	/* Room for all of it in flight: the writer must not sleep on TCP
	 * (which would give the worker the CPU), only on the ring. */
	ASSERT_EQ(0, setsockopt(self->fd, SOL_SOCKET, SO_SNDBUFFORCE,
				&(int){ 4 * PIPE_BYTES }, sizeof(int)));
	ASSERT_EQ(0, setsockopt(self->cfd, SOL_SOCKET, SO_RCVBUFFORCE,
				&(int){ 4 * PIPE_BYTES }, sizeof(int)));
	reader = pipe_reader(self->cfd);
	ASSERT_LT(0, reader);

	/* Every spinner on its CPU before the writer takes CPU 0. */
	ASSERT_EQ(0, pipe(ready));
	for (i = 1; i < ncpu && nhogs < 16; i++) {
		hogs[nhogs] = cpu_hog(i, 2, ready[1]);
		ASSERT_LT(0, hogs[nhogs]);
		nhogs++;
	}
	for (i = 0; i < nhogs; i++)
		ASSERT_EQ(1, read(ready[0], &c, 1));
	close(ready[0]);
	close(ready[1]);
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(set), &set));
	ASSERT_EQ(0, getrusage(RUSAGE_THREAD, &ru0));
	ASSERT_EQ(0, sched_setscheduler(0, SCHED_FIFO, &rt));
	pipe_write(_metadata, self->fd);
	ASSERT_EQ(0, sched_setscheduler(0, SCHED_OTHER, &other));
	ASSERT_EQ(0, getrusage(RUSAGE_THREAD, &ru1));
	for (i = 0; i < nhogs; i++) {
		kill(hogs[i], SIGKILL);
		waitpid(hogs[i], NULL, 0);
	}

	EXPECT_EQ(0, child_status(reader));
	TH_LOG("async %ld, reclaimed %ld; writer slept %ld times",
	       ku_stat("TlsTxAsync") - async,
	       ku_stat("TlsTxAsyncReclaimed") - reclaimed,
	       ru1.ru_nvcsw - ru0.ru_nvcsw);
	EXPECT_LT(reclaimed, ku_stat("TlsTxAsyncReclaimed"));
}

/* ==== socket API: several writers and readers on one socket ============= */

#define TAG_WRITERS 4
#define TAG_COUNT 6

struct tag_job {
	int fd;
	uint32_t who;
	int err;
	pthread_t thr;
};

static void *tag_send_thread(void *arg)
{
	struct tag_job *j = arg;

	j->err = tag_send(j->fd, j->who, TAG_COUNT);
	return NULL;
}

/* Each send() of each thread arrives whole, in order, none lost. */
TEST_F_TIMEOUT(tls, threads_send, 60)
{
	struct tag_job j[TAG_WRITERS];
	int i;

	for (i = 0; i < TAG_WRITERS; i++) {
		j[i] = (struct tag_job){ .fd = self->fd, .who = i };
		ASSERT_EQ(0, pthread_create(&j[i].thr, NULL, tag_send_thread,
					    &j[i]));
	}
	tag_check(_metadata, self->cfd, TAG_WRITERS, TAG_COUNT);
	for (i = 0; i < TAG_WRITERS; i++) {
		pthread_join(j[i].thr, NULL);
		EXPECT_EQ(0, j[i].err);
	}
}

/* The same with processes sharing the socket after fork(). */
TEST_F_TIMEOUT(tls, processes_send, 60)
{
	pid_t pid[TAG_WRITERS];
	int i;

	for (i = 0; i < TAG_WRITERS; i++) {
		pid[i] = fork();
		ASSERT_LE(0, pid[i]);
		if (!pid[i])
			_exit(tag_send(self->fd, i, TAG_COUNT) ? 1 : 0);
	}
	tag_check(_metadata, self->cfd, TAG_WRITERS, TAG_COUNT);
	for (i = 0; i < TAG_WRITERS; i++)
		EXPECT_EQ(0, child_status(pid[i]));
}

#define WORD_READERS 4
#define WORDS (480000 / 8)

/* Every byte is read by exactly one of several reading threads. */
TEST_F_TIMEOUT(tls, threads_recv, 60)
{
	unsigned char *data = word_stream(WORDS);
	unsigned int *seen = calloc(WORDS, sizeof(*seen));
	struct xfer x = { .fd = self->fd, .buf = data, .len = WORDS * 8 };
	struct word_job j[WORD_READERS];
	int i;

	ASSERT_TRUE(data && seen);
	for (i = 0; i < WORD_READERS; i++) {
		j[i] = (struct word_job){ .fd = self->cfd, .seen = seen,
					  .words = WORDS,
					  .chunk = 8 * (101 + 700 * i) };
		ASSERT_EQ(0, pthread_create(&j[i].thr, NULL,
					    word_reader_thread, &j[i]));
	}
	ASSERT_EQ(0, xfer_start(&x));
	xfer_join(&x);
	EXPECT_EQ(0, x.err);
	ASSERT_EQ(0, shutdown(self->fd, SHUT_WR));
	for (i = 0; i < WORD_READERS; i++) {
		pthread_join(j[i].thr, NULL);
		EXPECT_EQ(0, j[i].err) {
			TH_LOG("reader %d: %s", i, j[i].err < 0 ?
			       "not a run of consecutive words" :
			       strerror(j[i].err));
		}
	}
	check_words_seen(_metadata, seen, WORDS);
	free(data);
	free(seen);
}

/* The same with reading processes after fork(). */
TEST_F_TIMEOUT(tls, processes_recv, 60)
{
	unsigned char *data = word_stream(WORDS);
	unsigned int *seen = mmap(NULL, WORDS * sizeof(*seen),
				  PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct xfer x = { .fd = self->fd, .buf = data, .len = WORDS * 8 };
	pid_t pid[WORD_READERS];
	int i;

	ASSERT_NE(NULL, data);
	ASSERT_NE(MAP_FAILED, seen);
	for (i = 0; i < WORD_READERS; i++) {
		pid[i] = fork();
		ASSERT_LE(0, pid[i]);
		if (!pid[i])
			_exit(word_reader(self->cfd, 8 * (333 + 500 * i), seen,
					  WORDS) ? 1 : 0);
	}
	ASSERT_EQ(0, xfer_start(&x));
	xfer_join(&x);
	EXPECT_EQ(0, x.err);
	ASSERT_EQ(0, shutdown(self->fd, SHUT_WR));
	for (i = 0; i < WORD_READERS; i++)
		EXPECT_EQ(0, child_status(pid[i]));
	check_words_seen(_metadata, seen, WORDS);
	munmap(seen, WORDS * sizeof(*seen));
	free(data);
}
