// SPDX-License-Identifier: GPL-2.0
/*
 * ktlsd - the handshake child's seccomp filter.
 *
 * A child parses everything the peer sends, so once it holds its request
 * (after ACCEPT, its netlink socket closed and its capabilities dropped:
 * agent.c) it gives up every system call the rest of its life does not
 * need: the TLS records over the socket ktls handed it (recv, send,
 * poll), installing the keys (setsockopt at level SOL_TLS only), its
 * AF_UNIX channels to the parent (the result and the session cache:
 * send, recvmsg, getsockopt for the peer's address), logging (write to
 * stderr, or send on syslog's socket, connected before the fork), memory
 * (brk, mmap without PROT_EXEC, munmap, ...), clocks, getrandom, and
 * exit.
 *
 * No new connection.  A child taken over by the peer must not hand the
 * application's socket (its keys now in ktls) or anything else to a
 * local process: SCM_RIGHTS needs sendmsg, and an AF_UNIX socket that
 * reaches the attacker needs connect() or an addressed send to, say, an
 * abstract address.  seccomp sees only the pointer to a sockaddr, never
 * the address, so the filter cannot tell an abstract address from
 * /dev/log; it refuses them all instead: connect() and socket(AF_UNIX)
 * fail with EACCES (glibc's syslog, finding its socket broken, then
 * drops the line rather than the child dying), socket() of any other
 * family, sendmsg, and sendto with an address (its 5th argument not NULL)
 * kill the child; send() is sendto with no address, on the connected
 * sockets the child already holds.  The child holds no netlink socket
 * any more (the parent sends DONE).  Anything else kills the process
 * (SECCOMP_RET_KILL_PROCESS): the parent reports the request failed
 * with ECONNABORTED and logs "killed by signal 31", and the kernel
 * log's audit line (type=1326) gives the system call's number.  So does a
 * system call of another ABI (x32, or i386 through int 0x80).
 *
 * The list comes from tracing GnuTLS handshakes (strace) and from the
 * handshake tests, which run with the filter on.  "sandbox = no" in
 * ktlsd.conf turns it off, for debugging a GnuTLS that needs more.
 *
 * no_new_privs, which an unprivileged process needs to install a filter,
 * was set by the parent when it dropped its privileges; it is set again
 * here so that the filter does not depend on that.
 */
#include <errno.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "ktlsd.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

#if defined(__x86_64__)
#define SANDBOX_ARCH	AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SANDBOX_ARCH	AUDIT_ARCH_AARCH64
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ARG_LO(n)	(offsetof(struct seccomp_data, args[n]))
#define ARG_HI(n)	(offsetof(struct seccomp_data, args[n]) + 4)
#else
#define ARG_LO(n)	(offsetof(struct seccomp_data, args[n]) + 4)
#define ARG_HI(n)	(offsetof(struct seccomp_data, args[n]))
#endif

#ifdef SANDBOX_ARCH

/* Allowed whatever their arguments. */
static const int allowed[] = {
	/* the peer's bytes, the channels to the parent, log lines */
	SYS_read, SYS_write, SYS_readv, SYS_writev,
	SYS_recvfrom, SYS_recvmsg,
#ifdef SYS_poll
	SYS_poll,
#endif
	SYS_ppoll, SYS_getsockopt, SYS_close,
	/* stdio asks what its stream is */
#ifdef SYS_fstat
	SYS_fstat,
#endif
	SYS_newfstatat, SYS_lseek, SYS_uname,
	/* memory; mmap and mprotect are checked below */
	SYS_brk, SYS_munmap, SYS_mremap, SYS_madvise,
	/* clocks, sleeps, randomness */
	SYS_clock_gettime, SYS_clock_getres, SYS_gettimeofday,
#ifdef SYS_time
	SYS_time,
#endif
	SYS_nanosleep, SYS_clock_nanosleep,
	SYS_getrandom, SYS_getpid, SYS_gettid,
	/* locks and signals */
	SYS_futex, SYS_rt_sigprocmask, SYS_rt_sigreturn,
	SYS_restart_syscall, SYS_sched_yield,
	/* the end */
	SYS_exit, SYS_exit_group,
};

#define STMT(code, k)		((struct sock_filter)BPF_STMT(code, k))
#define JUMP(code, k, t, f)	((struct sock_filter)BPF_JUMP(code, k, t, f))
#define LOAD_NR	STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define RET(v)	STMT(BPF_RET | BPF_K, (v))

#define N_ALLOWED	(sizeof(allowed) / sizeof(allowed[0]))
#define PROG_MAX	(16 + 2 * N_ALLOWED + 6 * 8)

int sandbox_enter(const struct config *cfg)
{
	struct sock_filter f[PROG_MAX];
	struct sock_fprog prog = { .filter = f };
	unsigned int n = 0;
	size_t i;

	if (!cfg->sandbox) {
		log_debug("sandbox: off (sandbox = no)");
		return 0;
	}

	/* The ABI first: numbers mean nothing in another one. */
	f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS,
		      offsetof(struct seccomp_data, arch));
	f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, SANDBOX_ARCH, 1, 0);
	f[n++] = RET(SECCOMP_RET_KILL_PROCESS);
	f[n++] = LOAD_NR;
#ifdef __x86_64__
	/* x32 system calls carry bit 30 under the same arch value. */
	f[n++] = JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1);
	f[n++] = RET(SECCOMP_RET_KILL_PROCESS);
#endif
	for (i = 0; i < N_ALLOWED; i++) {
		f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, allowed[i], 0, 1);
		f[n++] = RET(SECCOMP_RET_ALLOW);
	}

	/* setsockopt: SOL_TLS (the keys) only. */
	f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_setsockopt, 0, 4);
	f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(1));
	f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, SOL_TLS, 0, 1);
	f[n++] = RET(SECCOMP_RET_ALLOW);
	f[n++] = RET(SECCOMP_RET_KILL_PROCESS);

	/* sendto: only without an address (send), both halves of the
	 * pointer zero. */
	f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_sendto, 0, 6);
	f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(4));
	f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 3);
	f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, ARG_HI(4));
	f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1);
	f[n++] = RET(SECCOMP_RET_ALLOW);
	f[n++] = RET(SECCOMP_RET_KILL_PROCESS);

	/* No new connection (see the top): connect fails, and so does
	 * socket(AF_UNIX), which glibc's syslog may try. */
	f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_connect, 0, 1);
	f[n++] = RET(SECCOMP_RET_ERRNO | EACCES);
	f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_socket, 0, 4);
	f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(0));
	f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 0, 1);
	f[n++] = RET(SECCOMP_RET_ERRNO | EACCES);
	f[n++] = RET(SECCOMP_RET_KILL_PROCESS);

	/* mmap and mprotect: never executable memory. */
	f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 1, 0);
	f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mprotect, 0, 4);
	f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(2));
	f[n++] = JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC, 0, 1);
	f[n++] = RET(SECCOMP_RET_KILL_PROCESS);
	f[n++] = RET(SECCOMP_RET_ALLOW);

	f[n++] = RET(SECCOMP_RET_KILL_PROCESS);
	prog.len = n;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		log_errno("sandbox: cannot set no_new_privs");
		return -1;
	}
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
		log_errno("sandbox: cannot install the seccomp filter (set 'sandbox = no' in ktlsd.conf to run without it)");
		return -1;
	}
	log_debug("sandbox: seccomp filter on, %u instructions", n);
	return 0;
}

#else /* !SANDBOX_ARCH */

int sandbox_enter(const struct config *cfg)
{
	if (cfg->sandbox)
		log_warn("sandbox: no seccomp filter for this architecture; handshakes run without one");
	return 0;
}

#endif
