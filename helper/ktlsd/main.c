// SPDX-License-Identifier: GPL-2.0
/*
 * ktlsd - the TLS handshake agent of ktls.ko.
 *
 *   ktlsd [-c FILE] [-n] [-d]
 *	-c FILE  configuration (default /etc/ktlsd.conf)
 *	-n       check the configuration (and load its credentials), exit
 *	-d       log to stderr, with debug lines, instead of syslog
 *
 * Start-up, in this order: parse the configuration; make sure ktls.ko and
 * the crypto modules are loaded (libkmod); load every profile's
 * credentials; join the "handshake" multicast group; drop to the
 * configured user keeping only CAP_NET_ADMIN, which ACCEPT and DONE need,
 * with no_new_privs set.  Then a single-threaded loop waits on the netlink
 * socket and a signalfd: each READY notification forks a child that
 * handles one request (agent.c): the child sends ACCEPT, drops every
 * capability before it reads from the peer, and sends its result back;
 * the parent checks it and sends DONE.  SIGCHLD reaps the children;
 * SIGHUP reloads the configuration, atomically (a bad file keeps the old
 * one); SIGTERM and SIGINT make the daemon leave the group and exit once
 * the handshakes in progress have reported (a second one: at once).  The
 * loop also serves each child's channel to the session cache and
 * replaces the ticket key on time (resume.c), reads the kernel's answers
 * to DONE (never waiting for one), and kills children past their
 * request's deadline (agent.c's watchdog).  At start, and after a child
 * was killed, children look for requests whose READY was lost
 * ("draining", below).
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/capability.h>

#include <libkmod.h>
#include <netlink/netlink.h>
#include <netlink/genl/genl.h>
#include <netlink/genl/ctrl.h>

#include "ktlsd.h"
#include "ktls_netlink.h"

static struct config *cfg;		/* the one in force */
static unsigned int nchildren;
static unsigned int backlog;		/* READYs not yet given a child */
/*
 * Looking for requests whose READY was lost.  A daemon killed before us
 * took the READYs it had read, or that were queued on its socket, with
 * it; a child killed before its ACCEPT took its request's.  The kernel
 * announces a request once: it waits for an ACCEPT (the oldest request
 * first) until its timeout.  So one child looks (backlog), and while
 * children find requests, each one found sends one more child looking;
 * the first child that finds none (it exits 0 without a request) ends
 * the search.
 */
static bool draining;

/* Load @name (a module name or alias) unless it is there already. */
static void load_module(struct kmod_ctx *ctx, const char *name)
{
	struct kmod_list *list = NULL, *l;
	int ret;

	ret = kmod_module_new_from_lookup(ctx, name, &list);
	if (ret < 0 || !list) {
		log_debug("module %s: not found by libkmod", name);
		return;
	}
	kmod_list_foreach(l, list) {
		struct kmod_module *mod = kmod_module_get_module(l);

		ret = kmod_module_probe_insert_module(mod,
				KMOD_PROBE_IGNORE_LOADED, NULL, NULL, NULL,
				NULL);
		if (ret < 0)
			log_warn("cannot load module %s: %s",
				 kmod_module_get_name(mod), strerror(-ret));
		kmod_module_unref(mod);
	}
	kmod_module_unref_list(list);
}

/* ktls.ko, and the AEADs the kernel will need for our ciphers. */
static void load_modules(void)
{
	static const char *const names[] = {
		"ktls", "crypto-gcm(aes)", "crypto-ccm(aes)",
		"crypto-rfc7539(chacha20,poly1305)",
	};
	struct kmod_ctx *ctx;
	size_t i;

	ctx = kmod_new(NULL, NULL);
	if (!ctx) {
		log_warn("libkmod unavailable: not loading modules");
		return;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		load_module(ctx, names[i]);
	kmod_unref(ctx);
}

static struct nl_sock *join_group(void)
{
	struct nl_sock *sk;
	int grp, tries;

	sk = nl_socket_alloc();
	if (!sk || genl_connect(sk) < 0) {
		log_err("cannot open a generic netlink socket");
		return NULL;
	}
	for (tries = 0; tries < 2; tries++) {
		grp = genl_ctrl_resolve_grp(sk, KTLS_GENL_NAME,
					    KTLS_GENL_MCGRP);
		if (grp >= 0)
			break;
		if (tries == 0)
			load_modules();
	}
	if (grp < 0) {
		log_err("netlink family %s not found: is ktls.ko loaded? (%s)",
			KTLS_GENL_NAME, nl_geterror(grp));
		goto err;
	}
	nl_socket_disable_seq_check(sk);
	nl_socket_set_buffer_size(sk, 1 << 20, 0);
	if (nl_socket_add_membership(sk, grp) < 0) {
		log_errno("cannot join the %s multicast group", KTLS_GENL_MCGRP);
		goto err;
	}
	nl_socket_set_nonblocking(sk);
	return sk;
err:
	nl_socket_free(sk);
	return NULL;
}

/* Become @user, keeping CAP_NET_ADMIN only: the children inherit it for
 * ACCEPT and drop it (agent.c); the parent sends DONE. */
static int drop_privileges(const char *user)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2] = { { 0 } };
	struct passwd *pw;

	if (user[0]) {
		pw = getpwnam(user);
		if (!pw) {
			log_err("user %s does not exist", user);
			return -1;
		}
		if (prctl(PR_SET_KEEPCAPS, 1) ||
		    setgroups(0, NULL) || setgid(pw->pw_gid) ||
		    setuid(pw->pw_uid) || prctl(PR_SET_KEEPCAPS, 0)) {
			log_errno("cannot become user %s", user);
			return -1;
		}
	}
	data[CAP_NET_ADMIN / 32].permitted = 1U << (CAP_NET_ADMIN % 32);
	data[CAP_NET_ADMIN / 32].effective = 1U << (CAP_NET_ADMIN % 32);
	if (syscall(SYS_capset, &hdr, data)) {
		log_errno("cannot limit capabilities to CAP_NET_ADMIN");
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		log_errno("cannot set no_new_privs");
		return -1;
	}
	return 0;
}

static int on_ready(struct nl_msg *msg, void *arg)
{
	struct genlmsghdr *g = genlmsg_hdr(nlmsg_hdr(msg));

	(void)arg;
	if (g->cmd != KTLS_CMD_READY)
		return NL_OK;
	backlog++;
	/* Children are reaped before notifications are read, so this is
	 * what spawn() will find. */
	if (nchildren >= cfg->max_children)
		log_debug("request queued: %u handshake%s running (max_children %u), %u waiting",
			  nchildren, nchildren == 1 ? "" : "s",
			  cfg->max_children, backlog);
	return NL_OK;
}

static void spawn(int nl_fd, int sig_fd)
{
	int slot, cfd, aslot;
	pid_t pid;

	while (backlog && nchildren < cfg->max_children) {
		/* The child's netlink socket and result channel (agent.c). */
		aslot = agent_slot_open();
		if (aslot < 0)
			return;
		/* The child's channel to the session cache (resume.c);
		 * without one it makes full handshakes only. */
		slot = resume_channel_open(&cfd);
		pid = fork();
		if (pid != 0) {
			resume_channel_forked(slot, cfd, pid);
			agent_slot_forked(aslot, pid);
		}
		if (pid < 0) {
			log_errno("fork");
			return;
		}
		if (pid == 0) {
			sigset_t none;

			close(nl_fd);
			close(sig_fd);
			resume_child_setup(slot, cfd);
			sigemptyset(&none);
			sigprocmask(SIG_SETMASK, &none, NULL);
			_exit(agent_child(cfg, aslot));
		}
		backlog--;
		nchildren++;
	}
}

static void reap(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		bool after_done = agent_reaped(pid);

		nchildren--;
		if (!after_done && WIFSIGNALED(status) &&
		    WTERMSIG(status) == SIGKILL) {
			/* Perhaps before its ACCEPT (see draining).  Not for
			 * a crash: a child that crashes by itself would
			 * crash again, in a loop. */
			draining = true;
			backlog++;
		} else if (!after_done && WIFEXITED(status) &&
			   !WEXITSTATUS(status)) {
			draining = false;	/* its ACCEPT found nothing */
		}
		if (after_done && WIFSIGNALED(status) &&
		    WTERMSIG(status) == SIGKILL)
			log_debug("handshake child %d ended after its request's DONE",
				  (int)pid);
		else if (WIFSIGNALED(status))
			log_err("handshake child %d killed by signal %d; its request failed",
				(int)pid, WTERMSIG(status));
		else if (WEXITSTATUS(status))
			log_debug("handshake child %d exited with %d", (int)pid,
				  WEXITSTATUS(status));
	}
}

/*
 * SIGHUP: parse the file again and load its credentials into a fresh
 * configuration; swap it in only if all of that worked.  Children already
 * running keep the configuration they were forked with.  The user cannot
 * change without a restart (we are no longer root).
 */
static void reload(const char *conf)
{
	struct config *fresh = malloc(sizeof(*fresh));

	if (!fresh) {
		log_err("SIGHUP: out of memory; keeping the previous configuration");
		return;
	}
	if (config_parse(conf, fresh) || config_load_credentials(fresh)) {
		config_free(fresh);
		free(fresh);
		log_err("SIGHUP: %s has errors (above); keeping the previous configuration",
			conf);
		return;
	}
	if (strcmp(fresh->user, cfg->user))
		log_warn("SIGHUP: a new user takes a restart; staying '%s'",
			 cfg->user);
	strcpy(fresh->user, cfg->user);
	config_free(cfg);
	free(cfg);
	cfg = fresh;
	log_info("SIGHUP: reloaded %s: %d profile%s", conf, cfg->nprofiles,
		 cfg->nprofiles == 1 ? "" : "s");
}

/*
 * SIGTERM, SIGINT: leave the group, so that new requests fail at once
 * (ECONNREFUSED) rather than wait for a daemon on its way out, and let
 * the children running report their handshakes.
 */
static void stop_accepting(struct nl_sock **nl, struct pollfd *p)
{
	log_info("stopping: %u handshake%s to finish; a second signal ends them",
		 nchildren, nchildren == 1 ? "" : "s");
	nl_socket_free(*nl);
	*nl = NULL;
	p->fd = -1;
	backlog = 0;
	draining = false;
}

/* Each child costs the parent three descriptors while it runs (its
 * netlink socket, result and cache channels): take what the hard limit
 * allows. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		log_errno("cannot raise the open file limit");
}

static void usage(FILE *f)
{
	fprintf(f, "usage: ktlsd [-c FILE] [-n] [-d]\n"
		"  -c FILE  configuration file (default %s)\n"
		"  -n       check the configuration and exit\n"
		"  -d       log to stderr, with debug lines\n",
		KTLSD_DEFAULT_CONF);
}

int main(int argc, char **argv)
{
	const char *conf = KTLSD_DEFAULT_CONF;
	bool check = false, debug = false;
	static struct pollfd pfd[2 + 2 * KTLSD_MAX_CHILDREN];
	int nchan, nres, stops = 0;
	struct nl_sock *nl;
	sigset_t mask;
	int opt, sfd, ret, wait_ms;

	while ((opt = getopt(argc, argv, "c:ndh")) != -1) {
		switch (opt) {
		case 'c':
			conf = optarg;
			break;
		case 'n':
			check = true;
			break;
		case 'd':
			debug = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init(debug || check, debug);
	if (gnutls_global_init() < 0) {
		log_err("GnuTLS initialisation failed");
		return 1;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg || config_parse(conf, cfg) || config_load_credentials(cfg))
		return 1;
	if (!check && resume_init(cfg))
		return 1;
	if (check) {
		if (cfg->user[0] && !getpwnam(cfg->user)) {
			log_err("%s: user %s does not exist", conf, cfg->user);
			return 1;
		}
		fprintf(stdout, "%s: configuration OK, %d profile%s\n", conf,
			cfg->nprofiles, cfg->nprofiles == 1 ? "" : "s");
		config_free(cfg);
		return 0;
	}

	nl = join_group();
	if (!nl)
		return 1;
	nl_socket_modify_cb(nl, NL_CB_VALID, NL_CB_CUSTOM, on_ready, NULL);
	if (drop_privileges(cfg->user))
		return 1;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		log_errno("signalfd");
		return 1;
	}
	pfd[0] = (struct pollfd){ .fd = nl_socket_get_fd(nl), .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	log_info("ready: %d profile%s, up to %u handshakes at once",
		 cfg->nprofiles, cfg->nprofiles == 1 ? "" : "s",
		 cfg->max_children);

	raise_fd_limit();
	/* Requests a daemon before us left waiting (see draining): now,
	 * not when poll() first wakes up, which may be the next READY. */
	draining = true;
	backlog = 1;
	spawn(pfd[0].fd, sfd);
	while (stops < 2) {
		/* Stopping: once no child is left to report. */
		if (stops && !nchildren && !agent_busy())
			break;
		/* Children past their deadline die first (agent.c). */
		wait_ms = agent_watchdog();
		ret = resume_timeout_ms(cfg);
		if (wait_ms < 0 || ret < wait_ms)
			wait_ms = ret;
		nchan = resume_pollfds(pfd + 2, KTLSD_MAX_CHILDREN);
		nres = agent_pollfds(pfd + 2 + nchan, KTLSD_MAX_CHILDREN);
		if (poll(pfd, 2 + nchan + nres, wait_ms) < 0) {
			if (errno == EINTR)
				continue;
			log_errno("poll");
			break;
		}
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGCHLD)
					reap();
				else if (si.ssi_signo == SIGHUP)
					reload(conf);
				else if (!stops++ && nl)
					stop_accepting(&nl, &pfd[0]);
			}
		}
		if (nl && (pfd[0].revents & POLLIN)) {
			ret = nl_recvmsgs_default(nl);
			if (ret == -NLE_NOMEM) {
				/* Notifications overflowed: drain with
				 * children until ACCEPT finds nothing. */
				log_warn("notifications lost; accepting anyway");
				backlog += cfg->max_children;
			} else if (ret < 0 && ret != -NLE_AGAIN) {
				log_err("netlink: %s", nl_geterror(ret));
			}
		}
		resume_poll_done(pfd + 2, nchan);
		ret = agent_poll_done(pfd + 2 + nchan, nres);
		if (draining && nl)
			backlog += ret;
		resume_tick(cfg);
		if (nl)
			spawn(pfd[0].fd, sfd);
	}
	log_info("exiting");
	if (nl)
		nl_socket_free(nl);
	resume_exit();
	config_free(cfg);
	free(cfg);
	gnutls_global_deinit();
	return 0;
}
