/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ktlsd - the TLS handshake agent of ktls.ko.  Private declarations,
 * grouped by the file that defines them.
 *
 *   main.c     options, start-up (module, credentials, privileges), the
 *              event loop: netlink READY notifications, signals, the
 *              children's channels
 *   config.c   ktlsd.conf: profiles
 *   agent.c    one forked child per request: ACCEPT, no capability,
 *              handshake, result; the parent checks it and sends DONE
 *   tls.c      the GnuTLS handshake and installing the keys in ktls
 *   resume.c   session resumption: client ticket cache, server ticket key
 *   sandbox.c  the child's seccomp filter
 *   errors.c   GnuTLS failures to errno values and log lines
 *   log.c      syslog, or stderr with -d
 */
#ifndef KTLSD_H
#define KTLSD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gnutls/gnutls.h>

#define KTLSD_DEFAULT_CONF	"/etc/ktlsd.conf"
#define KTLSD_MAX_PROFILES	32
#define KTLSD_NAME_MAX		64
#define KTLSD_PATH_MAX		4096
#define KTLSD_MAX_CERTS		8	/* certificate/key pairs a profile */
#define KTLSD_PSK_ID_MAX	128	/* bytes of a PSK identity */
#define KTLSD_PSK_KEY_MAX	64	/* bytes of a PSK */
#define KTLSD_MAX_CHILDREN	4096	/* the most max_children allows */
#define KTLSD_MAX_ALLOW		64	/* users, groups in one allow list */

/* log.c */
void log_init(bool to_stderr, bool debug);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same with ": strerror(errno)" appended. */
void log_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* config.c */
enum client_auth {
	CLIENT_AUTH_NONE,
	CLIENT_AUTH_OPTIONAL,
	CLIENT_AUTH_REQUIRED,
};

/* One line of a psk_file. */
struct psk_entry {
	char identity[KTLSD_PSK_ID_MAX + 1];
	unsigned char key[KTLSD_PSK_KEY_MAX];
	unsigned int key_len;
};

struct profile {
	char name[KTLSD_NAME_MAX];
	char cert[KTLSD_PATH_MAX];	/* PEM chain, leaf first; "" = none */
	char key[KTLSD_PATH_MAX];
	char trust[KTLSD_PATH_MAX];	/* PEM CA file, "system", "" = none */
	char priority[512];		/* GnuTLS priority string, built */
	char alpn[256];			/* server: protocols it accepts */
	enum client_auth client_auth;	/* server role */
	bool verify;			/* client role: check the server */
	bool resumption;		/* tickets: cache (client), issue (server) */
	/* Loaded by config_load_credentials(). */
	gnutls_certificate_credentials_t cred;
	/* Pairs 2..KTLSD_MAX_CERTS (SNI); the n-th key goes with the n-th
	 * certificate line.  ncert/nkey count the lines, cert/key above
	 * included. */
	char more_cert[KTLSD_MAX_CERTS - 1][KTLSD_PATH_MAX];
	char more_key[KTLSD_MAX_CERTS - 1][KTLSD_PATH_MAX];
	int ncert, nkey;
	char crl[KTLSD_PATH_MAX];	/* PEM CRLs; "" = none */
	char psk_file[KTLSD_PATH_MAX];	/* "identity:hexkey" lines */
	char psk_identity[KTLSD_PSK_ID_MAX + 1];	/* client role */
	/* Who may use the profile (allow_users, allow_groups).  Without
	 * either line: root only when the profile holds a private key or a
	 * PSK, else everyone.  uid 0 always may. */
	bool allow_set;			/* either line was given */
	bool allow_any;			/* allow_users = * */
	int nallow_uid, nallow_gid;
	uint32_t allow_uid[KTLSD_MAX_ALLOW];
	uint32_t allow_gid[KTLSD_MAX_ALLOW];
	/* client: a request without a server name is refused (the
	 * certificate's name could not be checked) unless this is off */
	bool require_server_name;
	/* Loaded from psk_file by config_load_credentials(); the keys are
	 * wiped by config_free(). */
	struct psk_entry *psk;
	int npsk;
	gnutls_psk_client_credentials_t psk_client;	/* psk_identity set */
	gnutls_psk_server_credentials_t psk_server;	/* psk_file set */
};

struct config {
	char user[KTLSD_NAME_MAX];	/* drop to this user; "" = stay */
	unsigned int max_children;
	bool sandbox;			/* seccomp in children (sandbox.c) */
	unsigned int ticket_key_rotation;	/* seconds a ticket key lives */
	int nprofiles;
	struct profile profiles[KTLSD_MAX_PROFILES];
};

int config_parse(const char *path, struct config *cfg);
int config_load_credentials(struct config *cfg);
void config_free(struct config *cfg);
const struct profile *config_profile(const struct config *cfg,
				     const char *name);
/* May the requester with these ids use @pr? */
bool config_allows(const struct profile *pr, uint32_t uid, uint32_t gid,
		   const uint32_t *groups, int ngroups);
/* Child: free and wipe the secrets of every profile but @keep (NULL:
 * all). */
void config_keep_only(struct config *cfg, const struct profile *keep);

/* agent.c */
struct request {
	uint32_t id;
	int fd;
	int role;			/* KTLS_ROLE_* */
	uint32_t timeout_ms;
	char server_name[256];
	char profile[64];
	char alpn[256];
	/* Who asked (ACCEPT's KTLS_A_UID ...), in our namespaces.  A
	 * module that sends none leaves them KTLS_HS_ID_UNMAPPED. */
	uint32_t uid, gid;
	uint32_t groups[256];		/* KTLS_HS_GROUPS_MAX */
	int ngroups;
	uint32_t pid;			/* 0: not known */
	uint32_t netns;			/* 0: not known */
};

struct result {
	int status;			/* 0 or a positive errno */
	uint16_t version;		/* TLS_1_x_VERSION */
	uint16_t cipher;		/* TLS_CIPHER_* */
	bool resumed;
	char alpn[256];
	char peer[256];
};

/*
 * Parent: before fork(), agent_slot_open() makes the child's netlink
 * socket and result channel (-1: none; log line written); after it,
 * agent_slot_forked() (pid < 0: fork failed).  agent_pollfds() lists the
 * result channels to poll, agent_poll_done() reads them and sends DONE;
 * it returns how many children said ACCEPTED (each took a request).
 * agent_reaped(): a child was reaped (its pid may be reused); true when
 * the parent killed it after its request's DONE, as it does every child
 * that reported (its end is then no failure).
 * agent_busy(): a child's result, or the kernel's answer to a DONE, is
 * still awaited.  agent_watchdog(): kills children past their request's
 * deadline; returns the milliseconds until the next deadline (-1: none),
 * for the loop's poll timeout.
 */
struct pollfd;
int agent_slot_open(void);
void agent_slot_forked(int slot, int pid);
bool agent_reaped(int pid);
bool agent_busy(void);
int agent_watchdog(void);
int agent_pollfds(struct pollfd *p, int max);
int agent_poll_done(const struct pollfd *p, int n);
/* Child: accept one request, drop every capability, handshake, send the
 * result to the parent.  Returns the exit status for the child. */
int agent_child(struct config *cfg, int slot);

/* resume.c: the parent's session cache and ticket key; children reach
 * the cache over a channel made before fork(). */
struct pollfd;
int resume_init(const struct config *cfg);
void resume_exit(void);
int resume_timeout_ms(const struct config *cfg);
void resume_tick(const struct config *cfg);
int resume_channel_open(int *child_end);
void resume_channel_forked(int slot, int child_end, int pid);
void resume_child_setup(int slot, int child_end);
int resume_pollfds(struct pollfd *p, int max);
void resume_poll_done(const struct pollfd *p, int n);
int resume_fetch(const struct request *req, const char *profile,
		 gnutls_datum_t *out);
void resume_store(const struct request *req, const char *profile,
		  const gnutls_datum_t *data);
const gnutls_datum_t *resume_ticket_key(void);
const gnutls_datum_t *resume_prev_ticket_key(const struct config *cfg);
/* Child: the ticket keys become @pr's own (derived from the parent's and
 * the profile's identity); NULL wipes them. */
int resume_child_profile(const struct profile *pr);

/* tls.c */
int tls_handshake(const struct config *cfg, const struct request *req,
		  struct result *res);
/* Server PSK callback (gnutls_psk_set_server_credentials_function2). */
int tls_psk_lookup(gnutls_session_t s, const gnutls_datum_t *identity,
		   gnutls_datum_t *key);

/* errors.c */
/* What tls.c saw of the PSK in a handshake. */
enum psk_seen {
	PSK_NONE,		/* no PSK in this handshake */
	PSK_OFFERED,		/* client: our identity went out */
	PSK_FOUND,		/* server: the client's identity is ours */
	PSK_UNKNOWN,		/* server: the client's identity is not */
};

int errors_from_gnutls(gnutls_session_t s, int gerr, int *alert_sent);
int errors_from_psk(gnutls_session_t s, int gerr, int err,
		    enum psk_seen seen);
int errors_from_verify(unsigned int status);
const char *errors_hint(int err);

/* sandbox.c: the child's seccomp filter, unless cfg->sandbox is off. */
int sandbox_enter(const struct config *cfg);

#endif /* KTLSD_H */
