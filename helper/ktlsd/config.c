// SPDX-License-Identifier: GPL-2.0
/*
 * ktlsd - the configuration file (ktlsd.conf(5)).
 *
 * Lines are "key = value"; '#' starts a comment; "[profile NAME]" opens a
 * profile.  Global keys (before the first profile):
 *   user          drop to this user after loading credentials
 *   max_children  handshakes at once (default 256)
 * Profile keys:
 *   certificate   PEM file: the certificate chain, leaf first
 *   key           PEM file: its private key
 *   trust         PEM file of trusted CAs, or "system" (default), or "none"
 *   versions      any of: tls1.2 tls1.3 (default both)
 *   ciphers       any of: aes-128-gcm aes-256-gcm chacha20-poly1305
 *                 aes-128-ccm (default: the first three)
 *   alpn          server: comma-separated protocols it accepts
 *   client_auth   server: none (default), optional, required
 *   verify        client: yes (default) checks the server's certificate
 *                 and name; no accepts any (tests only)
 * A request naming no profile uses "default".  Every error names the file
 * and the line.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>

#include "ktlsd.h"

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
	if (!strcmp(k, "certificate"))
		return copy(p, pr->cert, sizeof(pr->cert), v);
	if (!strcmp(k, "key"))
		return copy(p, pr->key, sizeof(pr->key), v);
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
	}
	return 0;
gerr:
	log_err("GnuTLS: %s", gnutls_strerror(ret));
	return -1;
}

void config_free(struct config *cfg)
{
	int i;

	for (i = 0; i < cfg->nprofiles; i++) {
		if (cfg->profiles[i].cred)
			gnutls_certificate_free_credentials(cfg->profiles[i].cred);
		cfg->profiles[i].cred = NULL;
	}
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
