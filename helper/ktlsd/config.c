// SPDX-License-Identifier: GPL-2.0
/*
 * ktlsd - the configuration file (ktlsd.conf(5)).
 *
 * Lines are "key = value"; '#' starts a comment; "[profile NAME]" opens a
 * profile.  Global keys (before the first profile):
 *   user          drop to this user after loading credentials
 *   max_children  handshakes at once (default 256)
 *   sandbox       yes (default): seccomp filter in each handshake child
 *   ticket_key_rotation  seconds a server ticket key lives (default 3600)
 * Profile keys:
 *   certificate   PEM file: the certificate chain, leaf first; up to
 *                 KTLSD_MAX_CERTS lines, the server picks one by SNI
 *   key           PEM file: its private key (n-th key, n-th certificate)
 *   crl           PEM file of CRLs for the peer's chain
 *   psk_file      "identity:hexkey" lines (psktool's format), not readable
 *                 by others; server: the identities it accepts
 *   psk_identity  client: offer this identity, its key from psk_file
 *   trust         PEM file of trusted CAs, or "system" (default), or "none"
 *   versions      any of: tls1.2 tls1.3 (default both)
 *   ciphers       any of: aes-128-gcm aes-256-gcm chacha20-poly1305
 *                 aes-128-ccm (default: the first three)
 *   alpn          server: comma-separated protocols it accepts
 *   client_auth   server: none (default), optional, required
 *   resumption    yes (default): client caches tickets, server issues
 *                 them; no: neither
 *   verify        client: yes (default) checks the server's certificate
 *                 and name; no accepts any (tests only), and then no
 *                 peer identity is reported
 *   require_server_name  client: yes (default) refuses a request without
 *                 a server name (EDESTADDRREQ); no lets it through
 *   allow_users   who may use the profile: user names, numeric uids, or
 *                 "*" for everyone; lines add up
 *   allow_groups  the same for groups (the requester's group or one of
 *                 its supplementary groups)
 *                 Without either: root only for a profile holding a
 *                 private key or a PSK, everyone for the others.  uid 0
 *                 may always (it can read the keys anyway).
 * A request naming no profile uses "default".  Every error names the file
 * and the line.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "ktlsd.h"
#include "ktls_netlink.h"

struct cipher_name {
	const char *conf;
	const char *gnutls;
};

static const struct cipher_name ciphers[] = {
	{ "aes-128-gcm", "AES-128-GCM" },
	{ "aes-256-gcm", "AES-256-GCM" },
	{ "chacha20-poly1305", "CHACHA20-POLY1305" },
	{ "aes-128-ccm", "AES-128-CCM" },
};

struct parse {
	const char *path;
	int line;
	struct profile *cur;
	/* The lists as written, turned into a priority string at the end of
	 * each profile. */
	char versions[128];
	char ciphers[256];
};

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static bool name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return false;
	return true;
}

static int copy(struct parse *p, char *dst, size_t size, const char *v)
{
	if (strlen(v) >= size) {
		log_err("%s:%d: value too long", p->path, p->line);
		return -1;
	}
	strcpy(dst, v);
	return 0;
}

/* Build the GnuTLS priority string of the profile just parsed. */
static int finish_profile(struct parse *p)
{
	struct profile *pr = p->cur;
	char buf[256], *tok, *save;
	const char *err_pos;
	gnutls_priority_t prio;
	int n, ret;
	size_t i;

	if (!pr)
		return 0;
	n = snprintf(pr->priority, sizeof(pr->priority),
		     "NORMAL:-VERS-ALL");
	snprintf(buf, sizeof(buf), "%s",
		 p->versions[0] ? p->versions : "tls1.3 tls1.2");
	for (tok = strtok_r(buf, " ,", &save); tok;
	     tok = strtok_r(NULL, " ,", &save)) {
		if (strcmp(tok, "tls1.2") && strcmp(tok, "tls1.3")) {
			log_err("%s: profile %s: unknown version '%s' (tls1.2, tls1.3)",
				p->path, pr->name, tok);
			return -1;
		}
		n += snprintf(pr->priority + n, sizeof(pr->priority) - n,
			      ":+VERS-TLS%s", tok + 3);
	}
	n += snprintf(pr->priority + n, sizeof(pr->priority) - n,
		      ":-CIPHER-ALL:-MAC-ALL:+AEAD");
	if (pr->ncert != pr->nkey) {
		log_err("%s: profile %s: %d certificate line%s but %d key line%s; they go in pairs",
			p->path, pr->name, pr->ncert, pr->ncert == 1 ? "" : "s",
			pr->nkey, pr->nkey == 1 ? "" : "s");
		return -1;
	}
	if (pr->psk_identity[0] && !pr->psk_file[0]) {
		log_err("%s: profile %s: psk_identity needs a psk_file holding its key",
			p->path, pr->name);
		return -1;
	}
	/* PSK key exchanges with (EC)DHE only: forward secrecy. */
	if (pr->psk_file[0])
		n += snprintf(pr->priority + n, sizeof(pr->priority) - n,
			      ":+ECDHE-PSK:+DHE-PSK");
	snprintf(buf, sizeof(buf), "%s",
		 p->ciphers[0] ? p->ciphers :
		 "aes-128-gcm aes-256-gcm chacha20-poly1305");
	for (tok = strtok_r(buf, " ,", &save); tok;
	     tok = strtok_r(NULL, " ,", &save)) {
		for (i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++)
			if (!strcmp(tok, ciphers[i].conf))
				break;
		if (i == sizeof(ciphers) / sizeof(ciphers[0])) {
			log_err("%s: profile %s: unknown or unsupported cipher '%s'",
				p->path, pr->name, tok);
			return -1;
		}
		n += snprintf(pr->priority + n, sizeof(pr->priority) - n,
			      ":+%s", ciphers[i].gnutls);
	}
	if ((size_t)n >= sizeof(pr->priority)) {
		log_err("%s: profile %s: too many settings", p->path, pr->name);
		return -1;
	}
	ret = gnutls_priority_init(&prio, pr->priority, &err_pos);
	if (ret < 0) {
		log_err("%s: profile %s: GnuTLS refuses '%s' at '%s': %s",
			p->path, pr->name, pr->priority, err_pos,
			gnutls_strerror(ret));
		return -1;
	}
	gnutls_priority_deinit(prio);
	p->versions[0] = '\0';
	p->ciphers[0] = '\0';
	return 0;
}

static int open_profile(struct parse *p, struct config *cfg, char *hdr)
{
	char *name;
	int i;

	if (finish_profile(p))
		return -1;
	if (strncmp(hdr, "profile", 7) || !isspace((unsigned char)hdr[7])) {
		log_err("%s:%d: expected [profile NAME]", p->path, p->line);
		return -1;
	}
	name = trim(hdr + 7);
	if (!name_ok(name) || strlen(name) >= KTLSD_NAME_MAX) {
		log_err("%s:%d: bad profile name '%s'", p->path, p->line, name);
		return -1;
	}
	for (i = 0; i < cfg->nprofiles; i++) {
		if (!strcmp(cfg->profiles[i].name, name)) {
			log_err("%s:%d: profile %s defined twice", p->path,
				p->line, name);
			return -1;
		}
	}
	if (cfg->nprofiles == KTLSD_MAX_PROFILES) {
		log_err("%s:%d: more than %d profiles", p->path, p->line,
			KTLSD_MAX_PROFILES);
		return -1;
	}
	p->cur = &cfg->profiles[cfg->nprofiles++];
	memset(p->cur, 0, sizeof(*p->cur));
	strcpy(p->cur->name, name);
	strcpy(p->cur->trust, "system");
	p->cur->verify = true;
	p->cur->resumption = true;
	p->cur->require_server_name = true;
	return 0;
}

/* A uid or gid written as a number: decimal digits only, and never
 * KTLS_HS_ID_UNMAPPED, which stands for "no id". */
static bool numeric_id(const char *s, uint32_t *out)
{
	unsigned long long n = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return false;
		n = n * 10 + (*s - '0');
		if (n >= 0xffffffffULL)
			return false;
	}
	*out = n;
	return true;
}

/* allow_users / allow_groups: names or numbers, separated by spaces or
 * commas; each name must exist now. */
static int parse_allow(struct parse *p, const char *v, bool users)
{
	struct profile *pr = p->cur;
	const char *what = users ? "allow_users" : "allow_groups";
	uint32_t *ids = users ? pr->allow_uid : pr->allow_gid;
	int *n = users ? &pr->nallow_uid : &pr->nallow_gid;
	char buf[1024], *tok, *save;
	uint32_t id;

	if (strlen(v) >= sizeof(buf)) {
		log_err("%s:%d: %s: value too long", p->path, p->line, what);
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", v);
	tok = strtok_r(buf, " \t,", &save);
	if (!tok) {
		log_err("%s:%d: %s: empty list (name the %s, or leave the line out)",
			p->path, p->line, what, users ? "users" : "groups");
		return -1;
	}
	pr->allow_set = true;
	for (; tok; tok = strtok_r(NULL, " \t,", &save)) {
		if (users && !strcmp(tok, "*")) {
			pr->allow_any = true;
			continue;
		}
		if (isdigit((unsigned char)tok[0])) {
			if (!numeric_id(tok, &id)) {
				log_err("%s:%d: %s: '%s' is not a %s id (0 to 4294967294)",
					p->path, p->line, what, tok,
					users ? "user" : "group");
				return -1;
			}
		} else if (users) {
			struct passwd *pw = getpwnam(tok);

			if (!pw) {
				log_err("%s:%d: allow_users: no user '%s'",
					p->path, p->line, tok);
				return -1;
			}
			id = pw->pw_uid;
		} else {
			struct group *gr = getgrnam(tok);

			if (!gr) {
				log_err("%s:%d: allow_groups: no group '%s'",
					p->path, p->line, tok);
				return -1;
			}
			id = gr->gr_gid;
		}
		if (*n == KTLSD_MAX_ALLOW) {
			log_err("%s:%d: %s: more than %d entries in profile %s",
				p->path, p->line, what, KTLSD_MAX_ALLOW,
				pr->name);
			return -1;
		}
		ids[(*n)++] = id;
	}
	return 0;
}

static int parse_bool(struct parse *p, const char *v, bool *out)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
		*out = false;
	else {
		log_err("%s:%d: expected yes or no, not '%s'", p->path,
			p->line, v);
		return -1;
	}
	return 0;
}

static int set_key(struct parse *p, struct config *cfg, const char *k,
		   const char *v)
{
	struct profile *pr = p->cur;

	if (!pr) {
		if (!strcmp(k, "user"))
			return copy(p, cfg->user, sizeof(cfg->user), v);
		if (!strcmp(k, "sandbox"))
			return parse_bool(p, v, &cfg->sandbox);
		if (!strcmp(k, "ticket_key_rotation")) {
			char *end;
			unsigned long n = strtoul(v, &end, 10);

			/* A TLS 1.3 ticket lives 7 days at most (RFC 8446). */
			if (!*v || *end || !n || n > 604800) {
				log_err("%s:%d: ticket_key_rotation: 1..604800 seconds",
					p->path, p->line);
				return -1;
			}
			cfg->ticket_key_rotation = n;
			return 0;
		}
		if (!strcmp(k, "max_children")) {
			char *end;
			unsigned long n = strtoul(v, &end, 10);

			if (*end || !n || n > 4096) {
				log_err("%s:%d: max_children: 1..4096", p->path,
					p->line);
				return -1;
			}
			cfg->max_children = n;
			return 0;
		}
		log_err("%s:%d: unknown global key '%s'", p->path, p->line, k);
		return -1;
	}
	if (!strcmp(k, "certificate") || !strcmp(k, "key")) {
		bool c = k[0] == 'c';
		int *n = c ? &pr->ncert : &pr->nkey;

		if (*n == KTLSD_MAX_CERTS) {
			log_err("%s:%d: more than %d %s lines in profile %s",
				p->path, p->line, KTLSD_MAX_CERTS, k, pr->name);
			return -1;
		}
		if (!*v) {
			log_err("%s:%d: %s: empty path", p->path, p->line, k);
			return -1;
		}
		(*n)++;
		if (*n == 1)
			return c ? copy(p, pr->cert, sizeof(pr->cert), v) :
				   copy(p, pr->key, sizeof(pr->key), v);
		return c ? copy(p, pr->more_cert[*n - 2], KTLSD_PATH_MAX, v) :
			   copy(p, pr->more_key[*n - 2], KTLSD_PATH_MAX, v);
	}
	if (!strcmp(k, "crl"))
		return copy(p, pr->crl, sizeof(pr->crl), v);
	if (!strcmp(k, "psk_file"))
		return copy(p, pr->psk_file, sizeof(pr->psk_file), v);
	if (!strcmp(k, "psk_identity")) {
		if (!*v || strchr(v, ':')) {
			log_err("%s:%d: psk_identity: 1 to %d bytes, no ':'",
				p->path, p->line, KTLSD_PSK_ID_MAX);
			return -1;
		}
		return copy(p, pr->psk_identity, sizeof(pr->psk_identity), v);
	}
	if (!strcmp(k, "trust"))
		return copy(p, pr->trust, sizeof(pr->trust),
			    strcmp(v, "none") ? v : "");
	if (!strcmp(k, "versions"))
		return copy(p, p->versions, sizeof(p->versions), v);
	if (!strcmp(k, "ciphers"))
		return copy(p, p->ciphers, sizeof(p->ciphers), v);
	if (!strcmp(k, "alpn"))
		return copy(p, pr->alpn, sizeof(pr->alpn), v);
	if (!strcmp(k, "verify"))
		return parse_bool(p, v, &pr->verify);
	if (!strcmp(k, "require_server_name"))
		return parse_bool(p, v, &pr->require_server_name);
	if (!strcmp(k, "allow_users") || !strcmp(k, "allow_groups"))
		return parse_allow(p, v, k[6] == 'u');
	if (!strcmp(k, "resumption"))
		return parse_bool(p, v, &pr->resumption);
	if (!strcmp(k, "client_auth")) {
		if (!strcmp(v, "none"))
			pr->client_auth = CLIENT_AUTH_NONE;
		else if (!strcmp(v, "optional"))
			pr->client_auth = CLIENT_AUTH_OPTIONAL;
		else if (!strcmp(v, "required"))
			pr->client_auth = CLIENT_AUTH_REQUIRED;
		else {
			log_err("%s:%d: client_auth: none, optional or required",
				p->path, p->line);
			return -1;
		}
		return 0;
	}
	log_err("%s:%d: unknown profile key '%s'", p->path, p->line, k);
	return -1;
}

int config_parse(const char *path, struct config *cfg)
{
	struct parse p = { .path = path };
	char line[KTLSD_PATH_MAX + 64];
	FILE *f;
	int ret = -1;

	memset(cfg, 0, sizeof(*cfg));
	cfg->max_children = 256;
	cfg->sandbox = true;
	cfg->ticket_key_rotation = 3600;
	f = fopen(path, "re");
	if (!f) {
		log_errno("cannot open %s", path);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *s, *eq, *hash;

		p.line++;
		if (!strchr(line, '\n') && !feof(f)) {
			log_err("%s:%d: line too long", path, p.line);
			goto out;
		}
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		s = trim(line);
		if (!*s)
			continue;
		if (*s == '[') {
			char *end = strchr(s, ']');

			if (!end || *trim(end + 1)) {
				log_err("%s:%d: unterminated section", path,
					p.line);
				goto out;
			}
			*end = '\0';
			if (open_profile(&p, cfg, trim(s + 1)))
				goto out;
			continue;
		}
		eq = strchr(s, '=');
		if (!eq) {
			log_err("%s:%d: expected key = value", path, p.line);
			goto out;
		}
		*eq = '\0';
		if (set_key(&p, cfg, trim(s), trim(eq + 1)))
			goto out;
	}
	if (ferror(f)) {
		log_errno("reading %s", path);
		goto out;
	}
	if (finish_profile(&p))
		goto out;
	if (!config_profile(cfg, "default"))
		log_warn("%s: no profile 'default': requests must name one",
			 path);
	ret = 0;
out:
	fclose(f);
	return ret;
}

/* Certificate/key pairs after the first: GnuTLS picks one by SNI. */
static int load_more_pairs(struct profile *pr)
{
	int i, ret;

	for (i = 0; i < pr->ncert - 1; i++) {
		ret = gnutls_certificate_set_x509_key_file(pr->cred,
				pr->more_cert[i], pr->more_key[i],
				GNUTLS_X509_FMT_PEM);
		if (ret < 0) {
			log_err("profile %s: cannot load %s / %s: %s",
				pr->name, pr->more_cert[i], pr->more_key[i],
				gnutls_strerror(ret));
			return -1;
		}
	}
	return 0;
}

/*
 * GnuTLS takes any CRL, but uses only those a trusted CA signed: refuse
 * the others, which would silently revoke nothing.  With trust = system
 * the check is left to GnuTLS.
 */
static int check_crl_issuers(const struct profile *pr)
{
	gnutls_datum_t crl_pem = { NULL, 0 }, ca_pem = { NULL, 0 };
	gnutls_x509_crl_t *crls = NULL;
	gnutls_x509_crt_t *cas = NULL;
	unsigned int ncrl = 0, nca = 0, i, status;
	int ret = -1, gret;

	if (!strcmp(pr->trust, "system"))
		return 0;
	gret = gnutls_load_file(pr->crl, &crl_pem);
	if (gret >= 0)
		gret = gnutls_x509_crl_list_import2(&crls, &ncrl, &crl_pem,
						    GNUTLS_X509_FMT_PEM, 0);
	if (gret >= 0) {
		gret = gnutls_load_file(pr->trust, &ca_pem);
		if (gret >= 0)
			gret = gnutls_x509_crt_list_import2(&cas, &nca,
					&ca_pem, GNUTLS_X509_FMT_PEM, 0);
	}
	if (gret < 0) {
		log_err("profile %s: checking CRL file %s against %s: %s",
			pr->name, pr->crl, pr->trust, gnutls_strerror(gret));
		goto out;
	}
	for (i = 0; i < ncrl; i++) {
		gret = gnutls_x509_crl_verify(crls[i], cas, nca, 0, &status);
		if (gret < 0 || status) {
			log_err("profile %s: CRL %u of %s is not signed by a CA of the trust store %s (a CA needs the cRLSign key usage)",
				pr->name, i + 1, pr->crl, pr->trust);
			goto out;
		}
	}
	ret = 0;
out:
	for (i = 0; i < ncrl; i++)
		gnutls_x509_crl_deinit(crls[i]);
	for (i = 0; i < nca; i++)
		gnutls_x509_crt_deinit(cas[i]);
	gnutls_free(crls);
	gnutls_free(cas);
	gnutls_free(crl_pem.data);
	gnutls_free(ca_pem.data);
	return ret;
}

/* After the trust store, which signs the CRLs. */
static int load_crl(struct profile *pr)
{
	int ret;

	if (!pr->crl[0])
		return 0;
	if (!pr->trust[0]) {
		log_err("profile %s: crl %s needs a trust store (trust = none)",
			pr->name, pr->crl);
		return -1;
	}
	ret = gnutls_certificate_set_x509_crl_file(pr->cred, pr->crl,
						   GNUTLS_X509_FMT_PEM);
	if (ret < 0) {
		log_err("profile %s: cannot load CRL file %s: %s", pr->name,
			pr->crl, gnutls_strerror(ret));
		return -1;
	}
	if (ret == 0) {
		log_err("profile %s: CRL file %s holds no CRL", pr->name,
			pr->crl);
		return -1;
	}
	return check_crl_issuers(pr);
}

static int unhex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* One "identity:hexkey" line of @path into @e.  Returns 0 or -1. */
static int psk_line(const char *path, int lineno, char *line,
		    struct psk_entry *e)
{
	char *colon = strchr(line, ':'), *hex;
	size_t idlen, hexlen, i;

	if (!colon || colon == line) {
		log_err("%s:%d: expected identity:hexkey", path, lineno);
		return -1;
	}
	idlen = colon - line;
	if (idlen > KTLSD_PSK_ID_MAX) {
		log_err("%s:%d: identity longer than %d bytes", path, lineno,
			KTLSD_PSK_ID_MAX);
		return -1;
	}
	memcpy(e->identity, line, idlen);
	e->identity[idlen] = '\0';
	hex = colon + 1;
	hexlen = strlen(hex);
	for (i = 0; i < hexlen; i++)
		if (unhex((unsigned char)hex[i]) < 0)
			break;
	if (i < hexlen || hexlen % 2) {
		log_err("%s:%d: the key of '%s' is not an even number of hex digits",
			path, lineno, e->identity);
		return -1;
	}
	if (hexlen / 2 < 16 || hexlen / 2 > KTLSD_PSK_KEY_MAX) {
		log_err("%s:%d: the key of '%s' has %zu bytes; 16 to %d are allowed",
			path, lineno, e->identity, hexlen / 2,
			KTLSD_PSK_KEY_MAX);
		return -1;
	}
	for (i = 0; i < hexlen / 2; i++)
		e->key[i] = unhex((unsigned char)hex[2 * i]) << 4 |
			    unhex((unsigned char)hex[2 * i + 1]);
	e->key_len = hexlen / 2;
	return 0;
}

static void psk_wipe(struct profile *pr)
{
	if (pr->psk) {
		explicit_bzero(pr->psk, pr->npsk * sizeof(*pr->psk));
		free(pr->psk);
	}
	pr->psk = NULL;
	pr->npsk = 0;
}

/* Read psk_file into pr->psk, refusing a file others may read. */
static int read_psk_file(struct profile *pr)
{
	char line[KTLSD_PSK_ID_MAX + 2 * KTLSD_PSK_KEY_MAX + 8];
	static char iobuf[4096];
	struct psk_entry e, *grown;
	struct stat st;
	int lineno = 0, ret = -1, i;
	FILE *f;

	f = fopen(pr->psk_file, "re");
	if (!f) {
		log_errno("profile %s: cannot open psk_file %s", pr->name,
			  pr->psk_file);
		return -1;
	}
	/* stdio's own buffer would keep the keys, in hex, in freed memory:
	 * ours is wiped below. */
	setvbuf(f, iobuf, _IOFBF, sizeof(iobuf));
	if (fstat(fileno(f), &st)) {
		log_errno("profile %s: psk_file %s", pr->name, pr->psk_file);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		log_err("profile %s: psk_file %s is not a regular file",
			pr->name, pr->psk_file);
		goto out;
	}
	if (st.st_mode & S_IRWXO) {
		log_err("profile %s: psk_file %s has mode %04o: its keys are secret, other users must not access it (chmod o-rwx %s)",
			pr->name, pr->psk_file, st.st_mode & 07777,
			pr->psk_file);
		goto out;
	}
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);

		lineno++;
		if (len && line[len - 1] != '\n' && !feof(f)) {
			log_err("%s:%d: line too long", pr->psk_file, lineno);
			goto out;
		}
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (!len || line[0] == '#')
			continue;
		if (psk_line(pr->psk_file, lineno, line, &e))
			goto out;
		for (i = 0; i < pr->npsk; i++) {
			if (!strcmp(pr->psk[i].identity, e.identity)) {
				log_err("%s:%d: identity '%s' listed twice",
					pr->psk_file, lineno, e.identity);
				goto out;
			}
		}
		/* Grow by hand: realloc() would leave keys in freed memory. */
		grown = calloc(pr->npsk + 1, sizeof(*grown));
		if (!grown) {
			log_err("profile %s: out of memory", pr->name);
			goto out;
		}
		if (pr->npsk)
			memcpy(grown, pr->psk, pr->npsk * sizeof(*grown));
		grown[pr->npsk] = e;
		i = pr->npsk + 1;
		psk_wipe(pr);
		pr->psk = grown;
		pr->npsk = i;
	}
	if (ferror(f)) {
		log_errno("reading %s", pr->psk_file);
		goto out;
	}
	if (!pr->npsk) {
		log_err("profile %s: psk_file %s has no identity:hexkey line",
			pr->name, pr->psk_file);
		goto out;
	}
	ret = 0;
out:
	explicit_bzero(line, sizeof(line));
	explicit_bzero(&e, sizeof(e));
	fclose(f);
	explicit_bzero(iobuf, sizeof(iobuf));
	return ret;
}

/* Server: every identity of psk_file; client: psk_identity's key. */
static int load_psk(struct profile *pr)
{
	const struct psk_entry *mine = NULL;
	gnutls_datum_t id, key;
	int i, ret;

	if (!pr->psk_file[0])
		return 0;
	if (read_psk_file(pr))
		return -1;
	ret = gnutls_psk_allocate_server_credentials(&pr->psk_server);
	if (ret < 0)
		goto gerr;
	gnutls_psk_set_server_credentials_function2(pr->psk_server,
						    tls_psk_lookup);
	ret = gnutls_psk_set_server_known_dh_params(pr->psk_server,
						    GNUTLS_SEC_PARAM_MEDIUM);
	if (ret < 0)
		goto gerr;
	if (!pr->psk_identity[0])
		return 0;
	for (i = 0; i < pr->npsk; i++)
		if (!strcmp(pr->psk[i].identity, pr->psk_identity))
			mine = &pr->psk[i];
	if (!mine) {
		log_err("profile %s: psk_identity '%s' is not in %s", pr->name,
			pr->psk_identity, pr->psk_file);
		return -1;
	}
	ret = gnutls_psk_allocate_client_credentials(&pr->psk_client);
	if (ret < 0)
		goto gerr;
	id.data = (unsigned char *)mine->identity;
	id.size = strlen(mine->identity);
	key.data = (unsigned char *)mine->key;
	key.size = mine->key_len;
	/* GnuTLS keeps its own copy. */
	ret = gnutls_psk_set_client_credentials2(pr->psk_client, &id, &key,
						 GNUTLS_PSK_KEY_RAW);
	if (ret < 0)
		goto gerr;
	return 0;
gerr:
	log_err("profile %s: PSK credentials: %s", pr->name,
		gnutls_strerror(ret));
	return -1;
}

int config_load_credentials(struct config *cfg)
{
	int i, ret;

	for (i = 0; i < cfg->nprofiles; i++) {
		struct profile *pr = &cfg->profiles[i];

		ret = gnutls_certificate_allocate_credentials(&pr->cred);
		if (ret < 0)
			goto gerr;
		if (pr->cert[0] || pr->key[0]) {
			if (!pr->cert[0] || !pr->key[0]) {
				log_err("profile %s: certificate and key go together",
					pr->name);
				return -1;
			}
			ret = gnutls_certificate_set_x509_key_file(pr->cred,
					pr->cert, pr->key, GNUTLS_X509_FMT_PEM);
			if (ret < 0) {
				log_err("profile %s: cannot load %s / %s: %s",
					pr->name, pr->cert, pr->key,
					gnutls_strerror(ret));
				return -1;
			}
		}
		if (!strcmp(pr->trust, "system"))
			ret = gnutls_certificate_set_x509_system_trust(pr->cred);
		else if (pr->trust[0])
			ret = gnutls_certificate_set_x509_trust_file(pr->cred,
					pr->trust, GNUTLS_X509_FMT_PEM);
		else
			ret = 0;
		if (ret < 0) {
			log_err("profile %s: cannot load trust store %s: %s",
				pr->name, pr->trust, gnutls_strerror(ret));
			return -1;
		}
		if (pr->trust[0] && ret == 0)
			log_warn("profile %s: trust store %s holds no certificate",
				 pr->name, pr->trust);
		if (load_more_pairs(pr) || load_crl(pr) || load_psk(pr))
			return -1;
	}
	return 0;
gerr:
	log_err("GnuTLS: %s", gnutls_strerror(ret));
	return -1;
}

/* The secrets of @pr: its certificate credentials (private keys), its
 * PSK credentials and table; GnuTLS wipes its own copies when freeing. */
static void profile_free_secrets(struct profile *pr)
{
	if (pr->cred)
		gnutls_certificate_free_credentials(pr->cred);
	pr->cred = NULL;
	/* Our table is wiped here; the client credentials hold GnuTLS's own
	 * copy of one key until this free. */
	if (pr->psk_client)
		gnutls_psk_free_client_credentials(pr->psk_client);
	pr->psk_client = NULL;
	if (pr->psk_server)
		gnutls_psk_free_server_credentials(pr->psk_server);
	pr->psk_server = NULL;
	psk_wipe(pr);
}

void config_free(struct config *cfg)
{
	int i;

	for (i = 0; i < cfg->nprofiles; i++)
		profile_free_secrets(&cfg->profiles[i]);
}

/*
 * A handshake child needs the secrets of its request's profile only: a
 * child that the peer's bytes take over must not find the host's other
 * keys, PSKs or (resume.c) ticket keys in its memory.
 */
void config_keep_only(struct config *cfg, const struct profile *keep)
{
	int i;

	for (i = 0; i < cfg->nprofiles; i++)
		if (&cfg->profiles[i] != keep)
			profile_free_secrets(&cfg->profiles[i]);
}

static bool id_in(uint32_t id, const uint32_t *list, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (list[i] == id)
			return true;
	return false;
}

bool config_allows(const struct profile *pr, uint32_t uid, uint32_t gid,
		   const uint32_t *groups, int ngroups)
{
	int i;

	if (uid == 0)
		return true;
	if (!pr->allow_set)
		return !pr->nkey && !pr->psk_file[0];
	if (pr->allow_any || id_in(uid, pr->allow_uid, pr->nallow_uid))
		return true;
	if (gid != KTLS_HS_ID_UNMAPPED &&
	    id_in(gid, pr->allow_gid, pr->nallow_gid))
		return true;
	for (i = 0; i < ngroups; i++)
		if (id_in(groups[i], pr->allow_gid, pr->nallow_gid))
			return true;
	return false;
}

const struct profile *config_profile(const struct config *cfg,
				     const char *name)
{
	int i;

	if (!name || !*name)
		name = "default";
	for (i = 0; i < cfg->nprofiles; i++)
		if (!strcmp(cfg->profiles[i].name, name))
			return &cfg->profiles[i];
	return NULL;
}
