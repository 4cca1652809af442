// SPDX-License-Identifier: GPL-2.0
/*
 * ktlsd - session resumption: the client's ticket cache and the server's
 * ticket key, both kept in the parent.
 *
 * Client cache.  Entries are keyed by (profile, server name, peer address
 * and port), hold GnuTLS's packed session (gnutls_session_get_data2), and
 * live in an anonymous mapping marked MADV_WIPEONFORK: a child starts
 * with that memory zeroed, so it never holds another server's tickets.
 * The cache is a fixed array of RESUME_SLOTS entries; a new entry takes
 * a free or expired slot, or else the least recently used one.  Entries
 * expire RESUME_TTL seconds after they were stored.  Freed entries are
 * wiped.
 *
 * Each child gets a SOCK_SEQPACKET socketpair made before fork().  The
 * child may send one GET (the key of its request), gets back one ENTRY
 * (the session, or nothing), and may then send PUTs for that same key.
 * The parent checks every message's type, size and key; a child that
 * breaks the protocol loses its channel, and a log line says so.  The
 * parent-side ends of the other children's channels are closed in the
 * child right after fork().
 *
 * Server ticket key.  The parent makes a 64-byte master key with
 * gnutls_session_ticket_key_generate() and replaces it whenever the
 * wall clock enters a new period of ticket_key_rotation seconds (periods
 * start at multiples of it since the epoch).  The key it replaces stays,
 * as the previous key, until the end of the new period; the key before
 * that is wiped.  Children get both by fork().  GnuTLS 3.7 never
 * encrypts with the key it is given: it derives SHA3-512(T || key),
 * T = now / (3 * the session's expiration time), and decrypts under the
 * T of now or T - 1 of that one key only.  tls.c sets the expiration
 * time (the ticket lifetime) to the rotation period, so GnuTLS's own
 * boundaries fall on ours, and before GnuTLS looks at a ticket it reads
 * the ticket's key name in the ClientHello: a ticket made under the
 * previous key gets that key instead of the current one.  So a ticket
 * resumes for its whole lifetime (one period), across one rotation, and
 * never under a key older than that.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <gnutls/crypto.h>

#include "ktlsd.h"

#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif

#define RESUME_SLOTS	256
#define RESUME_DATA_MAX	8192
#define RESUME_TTL	7200		/* seconds an entry is kept */
#define RESUME_WAIT_MS	1000		/* child: longest wait for ENTRY */

enum {
	MSG_GET = 1,			/* child -> parent: key, no data */
	MSG_PUT,			/* child -> parent: key, session */
	MSG_ENTRY,			/* parent -> child: session or none */
};

struct resume_key {
	char profile[KTLSD_NAME_MAX];
	char server[256];
	char peer[64];			/* "[address]:port" */
};

struct msg_hdr {
	uint32_t type;
	uint32_t len;			/* bytes of session data that follow */
	struct resume_key key;
};

struct entry {
	struct resume_key key;
	time_t expires;			/* CLOCK_MONOTONIC seconds; 0 = free */
	uint64_t last_use;
	uint32_t len;
	unsigned char data[RESUME_DATA_MAX];
};

struct channel {
	pid_t pid;			/* 0 = free */
	bool have_key;			/* GET seen: the only key allowed */
	struct resume_key key;
};

/* Wiped in every child (MADV_WIPEONFORK). */
struct arena {
	struct entry entries[RESUME_SLOTS];
	struct channel chans[KTLSD_MAX_CHILDREN];
	uint64_t clock;
};

static struct arena *arena;
/* The parent's ends of the channels, -1 = none; the child closes them. */
static int chan_fd[KTLSD_MAX_CHILDREN];
/* In a child: its end of its channel. */
static int child_fd = -1;

static gnutls_datum_t ticket_key;
static long long ticket_period;
/* The key before ticket_key, accepted until prev_until (wall clock). */
static gnutls_datum_t prev_key;
static time_t prev_until;

static void wipe_key(gnutls_datum_t *k)
{
	if (!k->data)
		return;
	explicit_bzero(k->data, k->size);
	gnutls_free(k->data);
	k->data = NULL;
	k->size = 0;
}

static time_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + 1;		/* never 0: 0 marks a free slot */
}

static void rotate_ticket_key(const struct config *cfg, bool force)
{
	time_t now = time(NULL);
	long long period = (long long)now / cfg->ticket_key_rotation;
	gnutls_datum_t fresh;
	int ret;

	/* The previous key's grace ends with the period after its own. */
	if (prev_key.data && now >= prev_until) {
		wipe_key(&prev_key);
		log_debug("previous session ticket key wiped");
	}
	if (!force && ticket_key.data && period == ticket_period)
		return;
	ret = gnutls_session_ticket_key_generate(&fresh);
	if (ret < 0) {
		/* Keep the old key rather than none; try again next time. */
		log_err("cannot make a new session ticket key: %s",
			gnutls_strerror(ret));
		return;
	}
	wipe_key(&prev_key);
	/* Only the key of the period just ended stays, and only for the
	 * period just begun (not after a jump over several periods, nor
	 * on a reload, which forces a new key in the same period). */
	if (ticket_key.data && !force && period == ticket_period + 1) {
		prev_key = ticket_key;
		prev_until = (time_t)(period + 1) * cfg->ticket_key_rotation;
	} else {
		wipe_key(&ticket_key);
	}
	ticket_key = fresh;
	ticket_period = period;
	log_debug("session ticket key replaced (period %lld, %u s)%s", period,
		  cfg->ticket_key_rotation,
		  prev_key.data ? "; the previous key is accepted until the period ends" : "");
}

int resume_init(const struct config *cfg)
{
	int i;

	arena = mmap(NULL, sizeof(*arena), PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (arena == MAP_FAILED) {
		arena = NULL;
		log_errno("session cache: cannot map %zu bytes",
			  sizeof(*arena));
		return -1;
	}
	if (madvise(arena, sizeof(*arena), MADV_WIPEONFORK)) {
		/* Without it children would inherit every ticket. */
		log_errno("session cache: madvise(MADV_WIPEONFORK)");
		munmap(arena, sizeof(*arena));
		arena = NULL;
		return -1;
	}
	for (i = 0; i < KTLSD_MAX_CHILDREN; i++)
		chan_fd[i] = -1;
	rotate_ticket_key(cfg, true);
	return ticket_key.data ? 0 : -1;
}

void resume_exit(void)
{
	int i;

	for (i = 0; i < KTLSD_MAX_CHILDREN; i++)
		if (chan_fd[i] >= 0)
			close(chan_fd[i]);
	if (arena) {
		explicit_bzero(arena, sizeof(*arena));
		munmap(arena, sizeof(*arena));
		arena = NULL;
	}
	wipe_key(&ticket_key);
	wipe_key(&prev_key);
}

/* ---- the parent's event loop ---- */

int resume_timeout_ms(const struct config *cfg)
{
	long long now = time(NULL), next;

	next = (ticket_period + 1) * cfg->ticket_key_rotation;
	/* The previous key goes at the same boundary, or sooner after a
	 * reload that shortened the period. */
	if (prev_key.data && prev_until < next)
		next = prev_until;
	if (next <= now)
		return 0;
	/* A little past the boundary, so the period has really changed. */
	return (next - now) > 3600 ? 3600000 : (int)(next - now) * 1000 + 10;
}

void resume_tick(const struct config *cfg)
{
	rotate_ticket_key(cfg, false);
}

int resume_channel_open(int *child_end)
{
	int sv[2], i;

	for (i = 0; i < KTLSD_MAX_CHILDREN; i++)
		if (chan_fd[i] < 0)
			break;
	*child_end = -1;
	if (i == KTLSD_MAX_CHILDREN || !arena)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		log_errno("session cache: socketpair; this handshake cannot resume");
		return -1;
	}
	chan_fd[i] = sv[0];
	memset(&arena->chans[i], 0, sizeof(arena->chans[i]));
	*child_end = sv[1];
	return i;
}

static void channel_close(int i)
{
	close(chan_fd[i]);
	chan_fd[i] = -1;
	memset(&arena->chans[i], 0, sizeof(arena->chans[i]));
}

void resume_channel_forked(int slot, int child_end, int pid)
{
	if (slot < 0)
		return;
	close(child_end);
	if (pid < 0)
		channel_close(slot);
	else
		arena->chans[slot].pid = pid;
}

void resume_child_setup(int slot, int child_end)
{
	int i;

	for (i = 0; i < KTLSD_MAX_CHILDREN; i++) {
		if (chan_fd[i] >= 0)
			close(chan_fd[i]);
		chan_fd[i] = -1;
	}
	child_fd = slot < 0 ? -1 : child_end;
}

int resume_pollfds(struct pollfd *p, int max)
{
	int i, n = 0;

	for (i = 0; i < KTLSD_MAX_CHILDREN && n < max; i++)
		if (chan_fd[i] >= 0)
			p[n++] = (struct pollfd){ .fd = chan_fd[i],
						  .events = POLLIN };
	return n;
}

/* Strings must end inside their field; the rest is zeroed so that keys
 * compare with memcmp. */
static bool key_ok(struct resume_key *k)
{
	size_t n;

	n = strnlen(k->profile, sizeof(k->profile));
	if (n == sizeof(k->profile))
		return false;
	memset(k->profile + n, 0, sizeof(k->profile) - n);
	n = strnlen(k->server, sizeof(k->server));
	if (n == sizeof(k->server))
		return false;
	memset(k->server + n, 0, sizeof(k->server) - n);
	n = strnlen(k->peer, sizeof(k->peer));
	if (!n || n == sizeof(k->peer))
		return false;
	memset(k->peer + n, 0, sizeof(k->peer) - n);
	return true;
}

static struct entry *lookup(const struct resume_key *k, time_t now)
{
	struct entry *e;
	int i;

	for (i = 0; i < RESUME_SLOTS; i++) {
		e = &arena->entries[i];
		if (!e->expires)
			continue;
		if (e->expires <= now) {
			explicit_bzero(e, sizeof(*e));
			continue;
		}
		if (!memcmp(&e->key, k, sizeof(*k)))
			return e;
	}
	return NULL;
}

static void store(const struct resume_key *k, const unsigned char *data,
		  uint32_t len, time_t now)
{
	struct entry *e = lookup(k, now), *victim = NULL;
	int i;

	for (i = 0; !e && i < RESUME_SLOTS; i++) {
		struct entry *c = &arena->entries[i];

		if (!c->expires) {
			e = c;
		} else if (!victim || c->last_use < victim->last_use) {
			victim = c;
		}
	}
	if (!e) {
		e = victim;
		log_debug("session cache full: dropping %s %s", e->key.server,
			  e->key.peer);
	}
	explicit_bzero(e, sizeof(*e));
	e->key = *k;
	e->expires = now + RESUME_TTL;
	e->last_use = ++arena->clock;
	e->len = len;
	memcpy(e->data, data, len);
}

static int reply(int fd, const struct entry *e)
{
	struct msg_hdr h = { .type = MSG_ENTRY, .len = e ? e->len : 0 };
	struct iovec iov[2] = {
		{ .iov_base = &h, .iov_len = sizeof(h) },
		{ .iov_base = e ? (void *)e->data : NULL,
		  .iov_len = e ? e->len : 0 },
	};
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };

	if (e)
		h.key = e->key;
	return sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 ? -1 : 0;
}

/* One message from channel @i.  Returns 1 for more, 0 when the channel
 * is empty, -1 when it must be closed. */
static int handle_one(int i)
{
	static union {
		struct msg_hdr h;
		unsigned char raw[sizeof(struct msg_hdr) + RESUME_DATA_MAX];
	} buf;
	struct channel *ch = &arena->chans[i];
	struct iovec iov = { .iov_base = &buf, .iov_len = sizeof(buf) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	time_t now = mono_s();
	struct entry *e;
	ssize_t n;
	int ret = 1;

	n = recvmsg(chan_fd[i], &m, MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (n == 0)
		return -1;		/* the child is gone */
	if (m.msg_flags & MSG_TRUNC || (size_t)n < sizeof(buf.h) ||
	    buf.h.len != (size_t)n - sizeof(buf.h) || !key_ok(&buf.h.key)) {
		log_err("session cache: malformed message (%zd bytes) from handshake child %d; closing its channel",
			n, (int)ch->pid);
		ret = -1;
		goto out;
	}
	switch (buf.h.type) {
	case MSG_GET:
		if (ch->have_key || buf.h.len) {
			log_err("session cache: handshake child %d sent a second or non-empty GET; closing its channel",
				(int)ch->pid);
			ret = -1;
			break;
		}
		ch->key = buf.h.key;
		ch->have_key = true;
		e = lookup(&ch->key, now);
		if (e)
			e->last_use = ++arena->clock;
		if (reply(chan_fd[i], e)) {
			log_errno("session cache: answering child %d",
				  (int)ch->pid);
			ret = -1;
		}
		break;
	case MSG_PUT:
		if (!ch->have_key || memcmp(&ch->key, &buf.h.key,
					    sizeof(ch->key)) || !buf.h.len) {
			log_err("session cache: handshake child %d stored a session for a key it did not ask for; closing its channel",
				(int)ch->pid);
			ret = -1;
			break;
		}
		store(&ch->key, buf.raw + sizeof(buf.h), buf.h.len, now);
		log_debug("session cache: stored %u bytes for %s %s (profile %s)",
			  buf.h.len, ch->key.server, ch->key.peer,
			  ch->key.profile);
		break;
	default:
		log_err("session cache: unknown message type %u from handshake child %d; closing its channel",
			buf.h.type, (int)ch->pid);
		ret = -1;
	}
out:
	explicit_bzero(&buf, n > 0 ? (size_t)n : 0);
	return ret;
}

void resume_poll_done(const struct pollfd *p, int n)
{
	int i, j, ret;

	for (j = 0; j < n; j++) {
		if (!p[j].revents)
			continue;
		for (i = 0; i < KTLSD_MAX_CHILDREN; i++)
			if (chan_fd[i] == p[j].fd)
				break;
		if (i == KTLSD_MAX_CHILDREN)
			continue;
		/* Read what the child left before it hung up. */
		while ((ret = handle_one(i)) > 0)
			;
		if (ret < 0)
			channel_close(i);
	}
}

/* ---- in a child ---- */

static int make_key(const struct request *req, const char *profile,
		    struct resume_key *k)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(struct sockaddr_in6);
	char addr[INET6_ADDRSTRLEN];
	unsigned int port;

	memset(k, 0, sizeof(*k));
	/* getsockopt rather than getpeername: the child's seccomp filter
	 * (sandbox.c) allows the former.  SO_PEERNAME refuses (EINVAL) a
	 * length above the address's: IPv6's first, then IPv4's. */
	if (getsockopt(req->fd, SOL_SOCKET, SO_PEERNAME, &ss, &len) &&
	    (errno != EINVAL ||
	     (len = sizeof(struct sockaddr_in),
	      getsockopt(req->fd, SOL_SOCKET, SO_PEERNAME, &ss, &len)))) {
		log_errno("request %u: session cache: the peer's address",
			  req->id);
		return -1;
	}
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr));
		port = ntohs(sin->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof(addr));
		port = ntohs(sin6->sin6_port);
	} else {
		errno = EAFNOSUPPORT;
		return -1;
	}
	snprintf(k->peer, sizeof(k->peer), "[%s]:%u", addr, port);
	snprintf(k->profile, sizeof(k->profile), "%s", profile);
	snprintf(k->server, sizeof(k->server), "%s", req->server_name);
	return 0;
}

int resume_fetch(const struct request *req, const char *profile,
		 gnutls_datum_t *out)
{
	static union {
		struct msg_hdr h;
		unsigned char raw[sizeof(struct msg_hdr) + RESUME_DATA_MAX];
	} buf;
	struct msg_hdr get = { .type = MSG_GET };
	struct pollfd p = { .fd = child_fd, .events = POLLIN };
	struct iovec iov = { .iov_base = &buf, .iov_len = sizeof(buf) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	int ret = -1;
	ssize_t n;

	out->data = NULL;
	out->size = 0;
	if (child_fd < 0 || make_key(req, profile, &get.key))
		return -1;
	if (send(child_fd, &get, sizeof(get), MSG_NOSIGNAL) !=
	    (ssize_t)sizeof(get)) {
		log_errno("request %u: session cache: asking the parent",
			  req->id);
		return -1;
	}
	if (poll(&p, 1, RESUME_WAIT_MS) != 1) {
		log_err("request %u: session cache: no answer from the parent",
			req->id);
		return -1;
	}
	n = recvmsg(child_fd, &m, 0);
	if (n < (ssize_t)sizeof(buf.h) || m.msg_flags & MSG_TRUNC ||
	    buf.h.type != MSG_ENTRY ||
	    buf.h.len != (size_t)n - sizeof(buf.h) ||
	    (buf.h.len && memcmp(&buf.h.key, &get.key, sizeof(get.key)))) {
		log_err("request %u: session cache: bad answer from the parent",
			req->id);
		goto out;
	}
	ret = 0;
	if (!buf.h.len)
		goto out;
	out->data = gnutls_malloc(buf.h.len);
	if (!out->data) {
		ret = -1;
		goto out;
	}
	memcpy(out->data, buf.raw + sizeof(buf.h), buf.h.len);
	out->size = buf.h.len;
out:
	explicit_bzero(&buf, sizeof(buf));
	return ret;
}

void resume_store(const struct request *req, const char *profile,
		  const gnutls_datum_t *data)
{
	/* One flat message for send(): the sandbox allows no sendmsg. */
	static union {
		struct msg_hdr h;
		unsigned char raw[sizeof(struct msg_hdr) + RESUME_DATA_MAX];
	} buf;
	size_t len = sizeof(buf.h) + data->size;

	if (child_fd < 0)
		return;
	if (data->size > RESUME_DATA_MAX) {
		log_warn("request %u: session of %u bytes is too large for the cache (%d)",
			 req->id, data->size, RESUME_DATA_MAX);
		return;
	}
	memset(&buf.h, 0, sizeof(buf.h));
	if (make_key(req, profile, &buf.h.key))
		return;
	buf.h.type = MSG_PUT;
	buf.h.len = data->size;
	memcpy(buf.raw + sizeof(buf.h), data->data, data->size);
	if (send(child_fd, &buf, len, MSG_NOSIGNAL) != (ssize_t)len)
		log_errno("request %u: session cache: storing", req->id);
	explicit_bzero(&buf, len);
}

/*
 * @pr's own key from a master key @k, in place: HKDF-SHA512 (RFC 5869),
 * extracted with a fixed salt, expanded with the profile's identity: its
 * name and what decides whom it trusts (trust store, CRL, client_auth,
 * verify).  So a ticket made under one profile, or before that profile's
 * trust settings changed, never decrypts under another, and a resumed
 * session can only carry what its own profile verified.
 */
static int derive_profile_key(gnutls_datum_t *k, const struct profile *pr)
{
	static const char salt_s[] = "ktlsd session ticket key v1";
	gnutls_datum_t salt = { (unsigned char *)salt_s, sizeof(salt_s) - 1 };
	unsigned char prk[64], out[64];
	char info_s[3 * KTLSD_PATH_MAX + KTLSD_NAME_MAX + 32];
	gnutls_datum_t prk_d = { prk, sizeof(prk) }, info;
	int n, ret;

	if (!k->data)
		return 0;
	if (k->size != sizeof(out))
		return GNUTLS_E_INVALID_REQUEST;
	n = snprintf(info_s, sizeof(info_s),
		     "profile=%s%ctrust=%s%ccrl=%s%cclient_auth=%d%cverify=%d",
		     pr->name, 0, pr->trust, 0, pr->crl, 0,
		     (int)pr->client_auth, 0, (int)pr->verify);
	if (n < 0 || (size_t)n >= sizeof(info_s))
		return GNUTLS_E_INVALID_REQUEST;
	info = (gnutls_datum_t){ (unsigned char *)info_s, n };
	ret = gnutls_hkdf_extract(GNUTLS_MAC_SHA512, k, &salt, prk);
	if (ret >= 0)
		ret = gnutls_hkdf_expand(GNUTLS_MAC_SHA512, &prk_d, &info, out,
					 sizeof(out));
	if (ret >= 0)
		memcpy(k->data, out, sizeof(out));
	explicit_bzero(prk, sizeof(prk));
	explicit_bzero(out, sizeof(out));
	return ret;
}

int resume_child_profile(const struct profile *pr)
{
	int ret;

	if (!pr) {
		wipe_key(&ticket_key);
		wipe_key(&prev_key);
		return 0;
	}
	ret = derive_profile_key(&ticket_key, pr);
	if (ret >= 0)
		ret = derive_profile_key(&prev_key, pr);
	if (ret < 0) {
		/* Never fall back to the master keys. */
		wipe_key(&ticket_key);
		wipe_key(&prev_key);
		log_err("profile %s: cannot derive its session ticket key: %s",
			pr->name, gnutls_strerror(ret));
		return -1;
	}
	return 0;
}

const gnutls_datum_t *resume_ticket_key(void)
{
	return ticket_key.data ? &ticket_key : NULL;
}

/* In a child: the previous ticket key while its grace lasts.  A child
 * forked before the parent rotated holds the key of the period just
 * ended as its current one; its previous key is then two periods old
 * and not offered. */
const gnutls_datum_t *resume_prev_ticket_key(const struct config *cfg)
{
	time_t now = time(NULL);

	if (!prev_key.data || now >= prev_until ||
	    (long long)now / cfg->ticket_key_rotation > ticket_period)
		return NULL;
	return &prev_key;
}
