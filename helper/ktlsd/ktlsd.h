/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ktlsd - the TLS handshake agent of ktls.ko.  Private declarations,
 * grouped by the file that defines them.
 *
 *   main.c     options, start-up (module, credentials, privileges), the
 *              event loop: netlink READY notifications and signals
 *   config.c   ktlsd.conf: profiles
 *   agent.c    one forked child per request: ACCEPT, handshake, DONE
 *   tls.c      the GnuTLS handshake and installing the keys in ktls
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

struct profile {
	char name[KTLSD_NAME_MAX];
	char cert[KTLSD_PATH_MAX];	/* PEM chain, leaf first; "" = none */
	char key[KTLSD_PATH_MAX];
	char trust[KTLSD_PATH_MAX];	/* PEM CA file, "system", "" = none */
	char priority[512];		/* GnuTLS priority string, built */
	char alpn[256];			/* server: protocols it accepts */
	enum client_auth client_auth;	/* server role */
	bool verify;			/* client role: check the server */
	/* Loaded by config_load_credentials(). */
	gnutls_certificate_credentials_t cred;
};

struct config {
	char user[KTLSD_NAME_MAX];	/* drop to this user; "" = stay */
	unsigned int max_children;
	int nprofiles;
	struct profile profiles[KTLSD_MAX_PROFILES];
};

int config_parse(const char *path, struct config *cfg);
int config_load_credentials(struct config *cfg);
void config_free(struct config *cfg);
const struct profile *config_profile(const struct config *cfg,
				     const char *name);

/* agent.c */
struct request {
	uint32_t id;
	int fd;
	int role;			/* KTLS_ROLE_* */
	uint32_t timeout_ms;
	char server_name[256];
	char profile[64];
	char alpn[256];
};

struct result {
	int status;			/* 0 or a positive errno */
	uint16_t version;		/* TLS_1_x_VERSION */
	uint16_t cipher;		/* TLS_CIPHER_* */
	bool resumed;
	char alpn[256];
	char peer[256];
};

/* In a forked child: accept one request, handshake, report.  Returns the
 * exit status for the child. */
int agent_run(const struct config *cfg);

/* tls.c */
int tls_handshake(const struct config *cfg, const struct request *req,
		  struct result *res);

/* errors.c */
int errors_from_gnutls(gnutls_session_t s, int gerr, int *alert_sent);
int errors_from_verify(unsigned int status);
const char *errors_hint(int err);

#endif /* KTLSD_H */
