// SPDX-License-Identifier: GPL-2.0
/*
 * ktlsctl - look at ktls.ko and ktlsd, and try a handshake.
 *
 *   ktlsctl status      the module, its parameters, the netlink family and
 *                       whether an agent listens for handshake requests
 *   ktlsctl stats [-j]  /proc/net/ktls_stat, as text or JSON
 *   ktlsctl sockets     every TCP socket using ktls (sock_diag)
 *   ktlsctl connect HOST:PORT [-n NAME] [-p PROFILE] [-a ALPN] [-t MS]
 *                       a client handshake through ktlsd (libktls)
 *
 * Exit status: 0 success; 1 failure (the reason on stderr); 2 usage;
 * status exits 3 when the module is ready but no agent listens.
 *
 * This file: the commands but sockets (sockets.c, which needs the kernel's
 * struct tcp_info, which clashes with libnl's headers).
 *
 * status never loads the module: it resolves the netlink family only when
 * /sys/module/ktls exists, since resolving it would otherwise load ktls.ko
 * (MODULE_ALIAS_GENL_FAMILY).
 */
#define _GNU_SOURCE		/* strerrorname_np */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/tls.h>

#include <netlink/netlink.h>
#include <netlink/genl/genl.h>
#include <netlink/genl/ctrl.h>

#include "ktls_netlink.h"
#include "../lib/ktls.h"
#include "ktlsctl.h"

#define SYS_MODULE	"/sys/module/ktls"
#define STAT_FILE	"/proc/net/ktls_stat"
#define NETLINK_FILE	"/proc/net/netlink"

#define EXIT_NO_AGENT	3

static const char *prog = "ktlsctl";

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ktlsctl status\n"
		"       ktlsctl stats [-j]\n"
		"       ktlsctl sockets\n"
		"       ktlsctl connect HOST:PORT [-n NAME] [-p PROFILE] [-a ALPN] [-t MS]\n"
		"  status   ktls.ko, its parameters, the netlink family, the agent\n"
		"  stats    the counters of /proc/net/ktls_stat (-j: JSON)\n"
		"  sockets  TCP sockets using ktls: version, cipher, bytes\n"
		"  connect  a client handshake through ktlsd; prints the result\n"
		"    -n NAME     server name for SNI and verification (default HOST)\n"
		"    -p PROFILE  ktlsd.conf profile (default: default)\n"
		"    -a ALPN     protocols to offer, comma-separated\n"
		"    -t MS       handshake timeout, 1..%u ms\n",
		KTLS_HS_TIMEOUT_MAX_MS);
}

int ktlsctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	usage(stderr);
	return EXIT_USAGE;
}

const char *ktlsctl_version_name(unsigned int v)
{
	switch (v) {
	case TLS_1_2_VERSION:
		return "1.2";
	case TLS_1_3_VERSION:
		return "1.3";
	}
	return "?";
}

const char *ktlsctl_cipher_name(unsigned int c)
{
	switch (c) {
	case TLS_CIPHER_AES_GCM_128:
		return "AES-GCM-128";
	case TLS_CIPHER_AES_GCM_256:
		return "AES-GCM-256";
	case TLS_CIPHER_AES_CCM_128:
		return "AES-CCM-128";
	case TLS_CIPHER_CHACHA20_POLY1305:
		return "CHACHA20-POLY1305";
	case TLS_CIPHER_SM4_GCM:
		return "SM4-GCM";
	case TLS_CIPHER_SM4_CCM:
		return "SM4-CCM";
	}
	return "?";
}

/* ---- status ---- */

/* The first line of @path, without its newline, into @buf. */
static int read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	int ret = -1;

	if (!f)
		return -1;
	if (fgets(buf, size, f)) {
		buf[strcspn(buf, "\n")] = '\0';
		ret = 0;
	}
	fclose(f);
	return ret;
}

static void show_module(void)
{
	char path[PATH_MAX], val[256];
	struct dirent *de;
	DIR *d;

	if (read_line(SYS_MODULE "/refcnt", val, sizeof(val)))
		snprintf(val, sizeof(val), "?");
	printf("module: ktls loaded, refcount %s\n", val);
	d = opendir(SYS_MODULE "/parameters");
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), SYS_MODULE "/parameters/%s",
			 de->d_name);
		if (read_line(path, val, sizeof(val)))
			snprintf(val, sizeof(val), "(unreadable: %s)",
				 strerror(errno));
		printf("  parameter %s = %s\n", de->d_name, val);
	}
	closedir(d);
}

/* The process holding the socket with inode @ino: its pid and name. */
static pid_t socket_owner(unsigned long ino, char *comm, size_t size)
{
	char want[64], path[PATH_MAX], link[64];
	struct dirent *pe, *fe;
	DIR *proc, *fds;
	pid_t found = 0;
	ssize_t n;

	snprintf(want, sizeof(want), "socket:[%lu]", ino);
	proc = opendir("/proc");
	if (!proc)
		return 0;
	while (!found && (pe = readdir(proc))) {
		if (!isdigit((unsigned char)pe->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", pe->d_name);
		fds = opendir(path);
		if (!fds)
			continue;
		while ((fe = readdir(fds))) {
			snprintf(path, sizeof(path), "/proc/%s/fd/%s",
				 pe->d_name, fe->d_name);
			n = readlink(path, link, sizeof(link) - 1);
			if (n <= 0)
				continue;
			link[n] = '\0';
			if (!strcmp(link, want)) {
				found = (pid_t)atoi(pe->d_name);
				break;
			}
		}
		closedir(fds);
	}
	closedir(proc);
	snprintf(comm, size, "?");
	if (found) {
		snprintf(path, sizeof(path), "/proc/%d/comm", (int)found);
		read_line(path, comm, size);
	}
	return found;
}

/*
 * Generic netlink sockets that joined multicast group @grp, from
 * /proc/net/netlink (this network namespace).  It shows only the first
 * 32 groups: returns -1 when @grp is beyond them.
 */
static int show_group_members(int grp)
{
	char line[512], comm[64];
	unsigned long ino, groups;
	unsigned int proto, portid;
	int count = 0;
	pid_t pid;
	FILE *f;

	if (grp < 1 || grp > 32)
		return -1;
	f = fopen(NETLINK_FILE, "re");
	if (!f) {
		fprintf(stderr, "%s: %s: %s\n", prog, NETLINK_FILE,
			strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		/* sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode */
		if (sscanf(line, "%*s %u %u %lx %*d %*d %*d %*d %*u %lu",
			   &proto, &portid, &groups, &ino) != 4)
			continue;
		if (proto != NETLINK_GENERIC || !(groups & (1UL << (grp - 1))))
			continue;
		count++;
		pid = socket_owner(ino, comm, sizeof(comm));
		if (pid)
			printf("agent: listening: pid %d (%s), netlink port %u\n",
			       (int)pid, comm, portid);
		else
			printf("agent: listening: netlink port %u (owner not visible: run as root to see it)\n",
			       portid);
	}
	fclose(f);
	return count;
}

/* Fallback: processes named ktlsd. */
static int show_ktlsd_processes(void)
{
	char path[PATH_MAX], comm[64];
	struct dirent *pe;
	int count = 0;
	DIR *proc;

	proc = opendir("/proc");
	if (!proc)
		return 0;
	while ((pe = readdir(proc))) {
		if (!isdigit((unsigned char)pe->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", pe->d_name);
		if (read_line(path, comm, sizeof(comm)) || strcmp(comm, "ktlsd"))
			continue;
		printf("agent: ktlsd process %s (group membership not checked)\n",
		       pe->d_name);
		count++;
	}
	closedir(proc);
	return count;
}

static int cmd_status(int argc, char **argv)
{
	struct nl_sock *sk;
	int family, grp, agents;
	int ret = 1;

	(void)argv;
	if (argc > 1)
		return ktlsctl_usage_error("status takes no arguments");
	if (access(SYS_MODULE, F_OK)) {
		printf("module: ktls not loaded (modprobe ktls, or start ktlsd)\n");
		return 1;
	}
	show_module();

	sk = nl_socket_alloc();
	if (!sk || genl_connect(sk) < 0) {
		fprintf(stderr, "%s: cannot open a generic netlink socket\n",
			prog);
		goto out;
	}
	family = genl_ctrl_resolve(sk, KTLS_GENL_NAME);
	if (family < 0) {
		printf("netlink: family \"%s\" missing: %s (is this ktls.ko built without the handshake upcall?)\n",
		       KTLS_GENL_NAME, nl_geterror(family));
		goto out;
	}
	grp = genl_ctrl_resolve_grp(sk, KTLS_GENL_NAME, KTLS_GENL_MCGRP);
	if (grp < 0) {
		printf("netlink: family \"%s\" id %d has no group \"%s\": %s\n",
		       KTLS_GENL_NAME, family, KTLS_GENL_MCGRP,
		       nl_geterror(grp));
		goto out;
	}
	printf("netlink: family \"%s\" id %d, group \"%s\" id %d\n",
	       KTLS_GENL_NAME, family, KTLS_GENL_MCGRP, grp);

	agents = show_group_members(grp);
	if (agents < 0) {
		printf("agent: group id %d is not shown in %s; looking for ktlsd processes instead\n",
		       grp, NETLINK_FILE);
		agents = show_ktlsd_processes();
	}
	if (!agents) {
		printf("agent: none listening: handshakes fail with ECONNREFUSED (start ktlsd)\n");
		ret = EXIT_NO_AGENT;
		goto out;
	}
	ret = 0;
out:
	nl_socket_free(sk);
	return ret;
}

/* ---- stats ---- */

static int cmd_stats(int argc, char **argv)
{
	bool json = false, first = true;
	char line[256], name[128];
	long long val;
	FILE *f;
	int opt;

	optind = 1;
	while ((opt = getopt(argc, argv, "+j")) != -1) {
		if (opt != 'j')
			return ktlsctl_usage_error("stats: unknown option");
		json = true;
	}
	if (optind != argc)
		return ktlsctl_usage_error("stats: unexpected argument '%s'",
				   argv[optind]);
	f = fopen(STAT_FILE, "re");
	if (!f) {
		fprintf(stderr, "%s: %s: %s%s\n", prog, STAT_FILE,
			strerror(errno),
			errno == ENOENT ? " (is ktls.ko loaded?)" : "");
		return 1;
	}
	if (json)
		printf("{");
	while (fgets(line, sizeof(line), f)) {
		if (!json) {
			fputs(line, stdout);
			continue;
		}
		if (sscanf(line, "%127s %lld", name, &val) != 2)
			continue;
		printf("%s\n  \"%s\": %lld", first ? "" : ",", name, val);
		first = false;
	}
	if (json)
		printf("\n}\n");
	fclose(f);
	return 0;
}

/* ---- connect ---- */

/* Split "host:port" or "[v6]:port" in place. */
static int split_host_port(char *arg, char **host, char **port)
{
	char *colon;

	if (arg[0] == '[') {
		char *end = strchr(arg, ']');

		if (!end || end[1] != ':')
			return -1;
		*end = '\0';
		*host = arg + 1;
		*port = end + 2;
	} else {
		colon = strrchr(arg, ':');
		if (!colon || strchr(arg, ':') != colon)
			return -1;	/* none, or a bare IPv6 address */
		*colon = '\0';
		*host = arg;
		*port = colon + 1;
	}
	return **host && **port ? 0 : -1;
}

static int dial(const char *host, const char *port)
{
	struct addrinfo hints = {
		.ai_socktype = SOCK_STREAM,
		.ai_protocol = IPPROTO_TCP,
	};
	struct addrinfo *res, *ai;
	int fd = -1, err;

	err = getaddrinfo(host, port, &hints, &res);
	if (err) {
		fprintf(stderr, "%s: %s port %s: %s\n", prog, host, port,
			gai_strerror(err));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (!connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		fprintf(stderr, "%s: connect to %s port %s: %s\n", prog, host,
			port, strerror(err));
	return fd;
}

static int cmd_connect(int argc, char **argv)
{
	struct ktls_opts o = { 0 };
	struct ktls_info info;
	char *host, *port, *end;
	unsigned long ms;
	int opt, fd, err;

	optind = 1;
	while ((opt = getopt(argc, argv, "n:p:a:t:")) != -1) {
		switch (opt) {
		case 'n':
			o.server_name = optarg;
			break;
		case 'p':
			o.profile = optarg;
			break;
		case 'a':
			o.alpn = optarg;
			break;
		case 't':
			errno = 0;
			ms = strtoul(optarg, &end, 10);
			if (errno || *end || !isdigit((unsigned char)*optarg) ||
			    !ms || ms > KTLS_HS_TIMEOUT_MAX_MS)
				return ktlsctl_usage_error("connect: -t wants milliseconds, 1..600000, not '%s'",
						   optarg);
			o.timeout_ms = ms;
			break;
		default:
			return ktlsctl_usage_error("connect: unknown option");
		}
	}
	if (argc - optind != 1)
		return ktlsctl_usage_error("connect: give one HOST:PORT");
	if (split_host_port(argv[optind], &host, &port))
		return ktlsctl_usage_error("connect: '%s' is not HOST:PORT (IPv6: [ADDR]:PORT)",
				   argv[optind]);
	if (!o.server_name)
		o.server_name = host;

	fd = dial(host, port);
	if (fd < 0)
		return 1;
	if (ktls_client_handshake(fd, &o) || ktls_handshake_result(fd, &info)) {
		err = errno;
		fprintf(stderr, "%s: handshake with %s port %s failed: %s (%s)\n",
			prog, host, port, ktls_strerror(err), strerrorname_np(err) ?
			strerrorname_np(err) : "?");
		close(fd);
		return 1;
	}
	printf("version: TLS %s\n", ktlsctl_version_name(info.version));
	printf("cipher: %s\n", ktlsctl_cipher_name(info.cipher));
	printf("alpn: %s\n", info.alpn[0] ? info.alpn : "-");
	printf("peer: %s\n", info.peer[0] ? info.peer : "-");
	printf("resumed: %s\n", info.resumed ? "yes" : "no");
	close(fd);
	return 0;
}

/* ---- main ---- */

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} cmds[] = {
		{ "status", cmd_status },
		{ "stats", cmd_stats },
		{ "sockets", ktlsctl_sockets },
		{ "connect", cmd_connect },
	};
	size_t i;

	if (argc < 2)
		return ktlsctl_usage_error("no command given");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	return ktlsctl_usage_error("unknown command '%s'", argv[1]);
}
