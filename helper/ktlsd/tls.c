// SPDX-License-Identifier: GPL-2.0
/*
 * ktlsd - one TLS handshake with GnuTLS on the requester's socket, then
 * the keys into ktls.
 *
 * The socket may be non-blocking (the application's O_NONBLOCK is shared
 * with our descriptor), so GnuTLS reads and writes through our own
 * transport functions, which wait with poll() until the request's
 * deadline.  GnuTLS reads a record's header, then exactly the rest of the
 * record, so nothing past the last handshake record is taken from the
 * socket.  The one read after the handshake, a TLS 1.3 client's wait for
 * a session ticket, goes through the "guard" below, which lets GnuTLS
 * read a record only once it is known to hold nothing but tickets.  Should
 * application data still end up in GnuTLS's buffer
 * (gnutls_record_check_pending), it cannot be given to ktls, and the
 * handshake is refused with EPROTO rather than losing it.
 *
 * Keys leave GnuTLS through gnutls_record_get_state() into a
 * struct tls12_crypto_info_* on our stack, which is wiped once it has
 * been given to setsockopt().
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#include <linux/tls.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "ktlsd.h"
#include "ktls_netlink.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

/*
 * The guard: a TLS 1.3 client that resumes sessions waits, after a full
 * handshake, for the server's NewSessionTicket (gnutls_session_get_data2
 * reads one record, waiting its round-trip estimate plus 60 ms).  A
 * server may speak first instead, or send an alert; GnuTLS would read
 * and decrypt that record, and its bytes could no longer reach the
 * application through ktls.  On the wire every TLS 1.3 record is type 23,
 * so the header does not tell a ticket from data.  While the guard is on,
 * t_pull_timeout (which GnuTLS calls before each read with a timeout)
 * waits for a whole record, peeks at it (MSG_PEEK: it stays in the
 * socket) and decrypts a copy with GnuTLS's current read key and sequence
 * number (gnutls_record_get_state).  Only a record made of
 * NewSessionTicket messages is let through, and t_pull then reads exactly
 * its bytes.  Anything else (application data, an alert, a KeyUpdate, a
 * record that does not decrypt or is not complete in time, the end of the
 * stream) reads as a timeout: GnuTLS stops waiting, caches nothing, and
 * the record stays in the socket.  ktls gets it under the keys installed
 * next, whose sequence number is that record's, so the application reads
 * it as if GnuTLS had never waited.
 */
enum guard {
	GUARD_OFF,		/* the handshake: plain reads */
	GUARD_CHECK,		/* the next record must be checked */
	GUARD_PASS,		/* a ticket record: pass_left bytes may go */
	GUARD_STOP,		/* something else came: read nothing more */
};

struct transport {
	int fd;
	struct timespec deadline;
	bool timed_out;
	enum guard guard;
	size_t pass_left;
	gnutls_session_t session;
	uint32_t request;
};

static int ms_left(const struct timespec *deadline)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (deadline->tv_sec - now.tv_sec) * 1000LL +
	     (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms > 1000000 ? 1000000 : (int)ms;
}

static int wait_fd(struct transport *t, short events, int max_ms)
{
	struct pollfd pfd = { .fd = t->fd, .events = events };
	int left = ms_left(&t->deadline), ret;

	if (max_ms >= 0 && max_ms < left)
		left = max_ms;
	do {
		ret = poll(&pfd, 1, left);
	} while (ret < 0 && errno == EINTR);
	if (ret == 0 && max_ms < 0) {
		t->timed_out = true;
		errno = ETIMEDOUT;
		return -1;
	}
	return ret;
}

static ssize_t t_pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
	struct transport *t = p;
	ssize_t n;

	if (t->guard == GUARD_CHECK || t->guard == GUARD_STOP) {
		/* GnuTLS asks t_pull_timeout first; never read unchecked. */
		errno = EAGAIN;
		return -1;
	}
	if (t->guard == GUARD_PASS && len > t->pass_left)
		len = t->pass_left;
	for (;;) {
		n = recv(t->fd, buf, len, MSG_DONTWAIT);
		if (n > 0 && t->guard == GUARD_PASS) {
			t->pass_left -= n;
			if (!t->pass_left)
				t->guard = GUARD_CHECK;
		}
		if (n >= 0 || (errno != EAGAIN && errno != EINTR))
			return n;
		if (wait_fd(t, POLLIN, -1) < 0)
			return -1;
	}
}

static ssize_t t_push(gnutls_transport_ptr_t p, const void *buf, size_t len)
{
	struct transport *t = p;
	ssize_t n;

	for (;;) {
		n = send(t->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n >= 0 || (errno != EAGAIN && errno != EINTR))
			return n;
		if (wait_fd(t, POLLOUT, -1) < 0)
			return -1;
	}
}

#define REC_HDR		5
#define REC_MAX		(16384 + 256)	/* TLS 1.3 ciphertext, tag included */

/* NULL when the plaintext of a TLS 1.3 record (content, then the type, then
 * zero padding) is nothing but whole NewSessionTicket messages; else why
 * not. */
static const char *not_tickets(const unsigned char *pt, size_t n)
{
	size_t off = 0, len;

	while (n && !pt[n - 1])
		n--;
	if (!n)
		return "a record without a type";
	if (pt[n - 1] != 22)
		return pt[n - 1] == 23 ? "application data" :
		       pt[n - 1] == 21 ? "an alert" : "an unknown record type";
	n--;
	if (!n)
		return "an empty handshake record";
	while (off < n) {
		if (n - off < 4)
			return "a truncated handshake message";
		len = (size_t)pt[off + 1] << 16 | pt[off + 2] << 8 | pt[off + 3];
		if (pt[off] != 4)	/* new_session_ticket */
			return "a handshake message other than a ticket";
		if (len > n - off - 4)
			return "a handshake message split across records";
		off += 4 + len;
	}
	return NULL;
}

/* Decrypts a copy of the record in @rec (header included, @n bytes) with
 * the session's current read state. */
static const char *peek_decrypt(gnutls_session_t s, const unsigned char *rec,
				size_t n)
{
	static unsigned char pt[REC_MAX];
	gnutls_cipher_algorithm_t alg = gnutls_cipher_get(s);
	gnutls_aead_cipher_hd_t h;
	gnutls_datum_t iv, key;
	unsigned char seq[8], nonce[12];
	size_t ptlen = sizeof(pt), tag;
	const char *why = "a record that does not decrypt";
	int i;

	tag = gnutls_cipher_get_tag_size(alg);
	if (gnutls_record_get_state(s, 1, NULL, &iv, &key, seq) < 0 ||
	    iv.size != sizeof(nonce) || !tag || n - REC_HDR <= tag)
		return "a record ktlsd cannot decrypt";
	memcpy(nonce, iv.data, sizeof(nonce));
	for (i = 0; i < 8; i++)
		nonce[4 + i] ^= seq[i];
	if (gnutls_aead_cipher_init(&h, alg, &key) < 0)
		goto out;
	if (gnutls_aead_cipher_decrypt(h, nonce, sizeof(nonce), rec, REC_HDR,
				       tag, rec + REC_HDR, n - REC_HDR, pt,
				       &ptlen) >= 0)
		why = not_tickets(pt, ptlen);
	gnutls_aead_cipher_deinit(h);
	explicit_bzero(pt, sizeof(pt));
out:
	explicit_bzero(nonce, sizeof(nonce));
	explicit_bzero(seq, sizeof(seq));
	return why;
}

/* The guard's check (see above): the length of the next record when it
 * holds only tickets, 0 when it must stay in the socket. */
static size_t guard_check(struct transport *t, int ms)
{
	static unsigned char rec[REC_HDR + REC_MAX];
	struct timespec end;
	const char *why = NULL;
	size_t len = 0;
	ssize_t n;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += ms / 1000;
	end.tv_nsec += (ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	if (wait_fd(t, POLLIN, ms) <= 0)
		return 0;		/* nothing came: no ticket */
	for (;;) {
		n = recv(t->fd, rec, sizeof(rec), MSG_PEEK | MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			why = "the end of the stream or an error";
			break;
		}
		if (n >= REC_HDR) {
			len = (size_t)rec[3] << 8 | rec[4];
			if (rec[0] != 23 || len > REC_MAX) {
				why = "a record that is not TLS 1.3 ciphertext";
				break;
			}
			if ((size_t)n >= REC_HDR + len)
				break;
		}
		/* Part of a record: wait a little for the rest. */
		if (!ms_left(&end)) {
			why = "a record not complete in time";
			break;
		}
		poll(NULL, 0, 2);
	}
	if (!why)
		why = peek_decrypt(t->session, rec, REC_HDR + len);
	explicit_bzero(rec, n > 0 ? (size_t)n : 0);
	if (!why)
		return REC_HDR + len;
	log_debug("request %u: waiting for a session ticket, got %s instead; it stays in the socket for ktls, no session cached",
		  t->request, why);
	return 0;
}

static int t_pull_timeout(gnutls_transport_ptr_t p, unsigned int ms)
{
	struct transport *t = p;
	int wait = ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms;

	switch (t->guard) {
	case GUARD_OFF:
		break;
	case GUARD_PASS:
		return 1;	/* the record is there, whole */
	case GUARD_STOP:
		return 0;
	case GUARD_CHECK:
		t->pass_left = guard_check(t, wait < 0 ?
					   ms_left(&t->deadline) : wait);
		t->guard = t->pass_left ? GUARD_PASS : GUARD_STOP;
		return t->pass_left ? 1 : 0;
	}
	return wait_fd(p, POLLIN, wait);
}

static int set_alpn(gnutls_session_t s, const char *list, bool server)
{
	gnutls_datum_t protos[16];
	char buf[256], *tok, *save;
	unsigned int n = 0;

	if (!list || !*list)
		return 0;
	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok && n < 16;
	     tok = strtok_r(NULL, ",", &save)) {
		protos[n].data = (unsigned char *)tok;
		protos[n].size = strlen(tok);
		n++;
	}
	/* GnuTLS copies the protocols. */
	return gnutls_alpn_set_protocols(s, protos, n, server ?
					 GNUTLS_ALPN_SERVER_PRECEDENCE : 0);
}

static int ktls_cipher_of(gnutls_cipher_algorithm_t c)
{
	switch (c) {
	case GNUTLS_CIPHER_AES_128_GCM:
		return TLS_CIPHER_AES_GCM_128;
	case GNUTLS_CIPHER_AES_256_GCM:
		return TLS_CIPHER_AES_GCM_256;
	case GNUTLS_CIPHER_AES_128_CCM:
		return TLS_CIPHER_AES_CCM_128;
	case GNUTLS_CIPHER_CHACHA20_POLY1305:
		return TLS_CIPHER_CHACHA20_POLY1305;
	default:
		return -1;
	}
}

union crypto_info {
	struct tls_crypto_info info;
	struct tls12_crypto_info_aes_gcm_128 gcm128;
	struct tls12_crypto_info_aes_gcm_256 gcm256;
	struct tls12_crypto_info_aes_ccm_128 ccm128;
	struct tls12_crypto_info_chacha20_poly1305 chacha;
};

/*
 * Fill @ci with one direction's state.  GnuTLS gives the key, the IV
 * (TLS 1.3 and ChaCha20: the 12-byte static IV; TLS 1.2 GCM/CCM: the
 * 4-byte implicit salt, the explicit part being the sequence number) and
 * the sequence number.  Returns the struct's size, or -1.
 */
static int fill_info(gnutls_session_t s, bool read, uint16_t version,
		     int cipher, union crypto_info *ci)
{
	gnutls_datum_t mac, iv, key;
	unsigned char seq[8];
	unsigned char *k, *salt, *civ, *rs;
	size_t ksz, ssz, ivsz;
	int size;

	if (gnutls_record_get_state(s, read, &mac, &iv, &key, seq) < 0)
		return -1;
	memset(ci, 0, sizeof(*ci));
	ci->info.version = version;
	ci->info.cipher_type = cipher;
	switch (cipher) {
	case TLS_CIPHER_AES_GCM_128:
		k = ci->gcm128.key; salt = ci->gcm128.salt;
		civ = ci->gcm128.iv; rs = ci->gcm128.rec_seq;
		ksz = sizeof(ci->gcm128.key); size = sizeof(ci->gcm128);
		break;
	case TLS_CIPHER_AES_GCM_256:
		k = ci->gcm256.key; salt = ci->gcm256.salt;
		civ = ci->gcm256.iv; rs = ci->gcm256.rec_seq;
		ksz = sizeof(ci->gcm256.key); size = sizeof(ci->gcm256);
		break;
	case TLS_CIPHER_AES_CCM_128:
		k = ci->ccm128.key; salt = ci->ccm128.salt;
		civ = ci->ccm128.iv; rs = ci->ccm128.rec_seq;
		ksz = sizeof(ci->ccm128.key); size = sizeof(ci->ccm128);
		break;
	case TLS_CIPHER_CHACHA20_POLY1305:
		if (key.size != sizeof(ci->chacha.key) ||
		    iv.size != sizeof(ci->chacha.iv))
			return -1;
		memcpy(ci->chacha.key, key.data, key.size);
		memcpy(ci->chacha.iv, iv.data, iv.size);
		memcpy(ci->chacha.rec_seq, seq, sizeof(seq));
		explicit_bzero(seq, sizeof(seq));
		return sizeof(ci->chacha);
	default:
		return -1;
	}
	ssz = 4;		/* TLS_CIPHER_AES_*_SALT_SIZE */
	ivsz = 8;		/* TLS_CIPHER_AES_*_IV_SIZE */
	if (key.size != ksz)
		return -1;
	memcpy(k, key.data, ksz);
	if (iv.size == ssz + ivsz) {		/* TLS 1.3 */
		memcpy(salt, iv.data, ssz);
		memcpy(civ, iv.data + ssz, ivsz);
	} else if (iv.size == ssz) {		/* TLS 1.2 */
		memcpy(salt, iv.data, ssz);
		memcpy(civ, seq, ivsz);
	} else {
		return -1;
	}
	memcpy(rs, seq, sizeof(seq));
	explicit_bzero(seq, sizeof(seq));
	return size;
}

static int install_keys(gnutls_session_t s, int fd, uint16_t version,
			int cipher)
{
	union crypto_info ci;
	int size, err = 0;

	size = fill_info(s, false, version, cipher, &ci);
	if (size < 0) {
		err = EPROTO;
		goto out;
	}
	if (setsockopt(fd, SOL_TLS, TLS_TX, &ci, size)) {
		err = errno;
		goto out;
	}
	size = fill_info(s, true, version, cipher, &ci);
	if (size < 0) {
		err = EPROTO;
		goto out;
	}
	if (setsockopt(fd, SOL_TLS, TLS_RX, &ci, size))
		err = errno;
out:
	explicit_bzero(&ci, sizeof(ci));
	return err;
}

/*
 * The PSK of this child's one handshake: the profile whose identities the
 * server callback searches, and what it found there.
 */
static const struct profile *psk_profile;
static uint32_t psk_request;
static enum psk_seen psk_seen;

int tls_psk_lookup(gnutls_session_t s, const gnutls_datum_t *identity,
		   gnutls_datum_t *key)
{
	const struct profile *pr = psk_profile;
	char shown[KTLSD_PSK_ID_MAX + 1];
	unsigned int i;
	int j;

	(void)s;
	for (j = 0; pr && j < pr->npsk; j++) {
		const struct psk_entry *e = &pr->psk[j];

		if (identity->size != strlen(e->identity) ||
		    memcmp(identity->data, e->identity, identity->size))
			continue;
		key->data = gnutls_malloc(e->key_len);
		if (!key->data)
			return -1;
		memcpy(key->data, e->key, e->key_len);
		key->size = e->key_len;
		psk_seen = PSK_FOUND;
		return 0;
	}
	/* The identity comes from the network: show it printable. */
	for (i = 0; i < identity->size && i < KTLSD_PSK_ID_MAX; i++)
		shown[i] = identity->data[i] >= 0x20 &&
			   identity->data[i] < 0x7f ? identity->data[i] : '?';
	shown[i] = '\0';
	psk_seen = PSK_UNKNOWN;
	log_err("request %u (server, profile %s): unknown PSK identity '%s': not in %s",
		psk_request, pr ? pr->name : "?", shown,
		pr ? pr->psk_file : "any psk_file");
	return -1;
}

static void peer_identity(gnutls_session_t s, char *out, size_t size)
{
	const gnutls_datum_t *certs;
	gnutls_x509_crt_t crt;
	gnutls_datum_t dn = { NULL, 0 };
	unsigned int n = 0;

	out[0] = '\0';
	certs = gnutls_certificate_get_peers(s, &n);
	if (!certs || !n || gnutls_x509_crt_init(&crt) < 0)
		return;
	if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) >= 0 &&
	    gnutls_x509_crt_get_dn3(crt, &dn, 0) >= 0) {
		snprintf(out, size, "%.*s", (int)dn.size, dn.data);
		gnutls_free(dn.data);
	}
	gnutls_x509_crt_deinit(crt);
}

/*
 * Server: which of the parent's two ticket keys a client's ticket was
 * made under.  GnuTLS 3.7 takes one master key per session and derives
 * the real key from it: SHA3-512(T || master), T = now / (3 * the
 * expiration time), of which the first 16 bytes are the key name that
 * starts every ticket it makes (lib/stek.c); it decrypts under T and
 * T - 1.  A pre-hook on the ClientHello finds the tickets offered (TLS
 * 1.3: the pre_shared_key identities; TLS 1.2: the session_ticket
 * extension) and, when one bears a name of the previous key and none of
 * the current, gives GnuTLS the previous key before it reads the
 * extensions.  The session's own new ticket is then made under that key
 * too, and lives no longer than the first one (GnuTLS caps a resumed
 * session's ticket at the original session's lifetime).
 */
static const struct config *hook_cfg;
static uint32_t hook_request;

static bool made_under(const gnutls_datum_t *master, const unsigned char *name,
		       unsigned int expire)
{
	uint64_t t = (uint64_t)time(NULL) / (3ULL * expire);
	unsigned char in[8 + 64], out[64];
	bool found = false;
	int d, i;

	if (master->size != 64)
		return false;
	for (d = 0; d < 2 && !found && t > (uint64_t)d; d++) {
		for (i = 0; i < 8; i++)
			in[i] = (t - d) >> (56 - 8 * i);
		memcpy(in + 8, master->data, 64);
		if (gnutls_hash_fast(GNUTLS_DIG_SHA3_512, in, sizeof(in), out) < 0)
			break;
		found = !memcmp(out, name, 16);
	}
	explicit_bzero(in, sizeof(in));
	explicit_bzero(out, sizeof(out));
	return found;
}

/* A bounded reader of the ClientHello. */
struct rd {
	const unsigned char *p;
	size_t n;
};

static bool rd_skip(struct rd *r, size_t len, struct rd *out)
{
	if (r->n < len)
		return false;
	if (out)
		*out = (struct rd){ r->p, len };
	r->p += len;
	r->n -= len;
	return true;
}

/* A vector with a @width-byte length (1 or 2) into @out. */
static bool rd_vec(struct rd *r, int width, struct rd *out)
{
	size_t len;

	if (r->n < (size_t)width)
		return false;
	len = width == 1 ? r->p[0] : (size_t)r->p[0] << 8 | r->p[1];
	r->p += width;
	r->n -= width;
	return rd_skip(r, len, out);
}

/* 1: a ticket under the current key; 2: under the previous; 0: none;
 * -1: tickets, but under no key we hold. */
static int ticket_verdict(const unsigned char *t, size_t n,
			  const gnutls_datum_t *cur, const gnutls_datum_t *prev,
			  unsigned int expire)
{
	if (n < 16)
		return -1;
	if (made_under(cur, t, expire))
		return 1;
	if (prev && made_under(prev, t, expire))
		return 2;
	return -1;
}

static int ticket_hook(gnutls_session_t s, unsigned int htype, unsigned when,
		       unsigned int incoming, const gnutls_datum_t *msg)
{
	const gnutls_datum_t *cur = resume_ticket_key();
	const gnutls_datum_t *prev = resume_prev_ticket_key(hook_cfg);
	unsigned int expire = hook_cfg->ticket_key_rotation;
	struct rd r = { msg->data, msg->size }, exts, ext, ids, id;
	int verdict = 0, v, type;

	if (htype != GNUTLS_HANDSHAKE_CLIENT_HELLO || when != GNUTLS_HOOK_PRE ||
	    !incoming || !cur)
		return 0;
	/* version, random, session id, cipher suites, compression */
	if (!rd_skip(&r, 2 + 32, NULL) || !rd_vec(&r, 1, NULL) ||
	    !rd_vec(&r, 2, NULL) || !rd_vec(&r, 1, NULL) ||
	    !rd_vec(&r, 2, &exts))
		return 0;	/* GnuTLS will say what is wrong */
	while (exts.n >= 4 && verdict <= 0) {
		type = exts.p[0] << 8 | exts.p[1];
		rd_skip(&exts, 2, NULL);
		if (!rd_vec(&exts, 2, &ext))
			break;
		if (type == 35 && ext.n) {		/* session_ticket */
			v = ticket_verdict(ext.p, ext.n, cur, prev, expire);
			verdict = v > 0 ? v : -1;
		} else if (type == 41 && rd_vec(&ext, 2, &ids)) {
			/* pre_shared_key: identity<1..2^16-1>, age(4) */
			while (ids.n && verdict <= 0 && rd_vec(&ids, 2, &id) &&
			       rd_skip(&ids, 4, NULL)) {
				v = ticket_verdict(id.p, id.n, cur, prev,
						   expire);
				verdict = v > 0 ? v : -1;
			}
		}
	}
	if (verdict == 2) {
		/* Before GnuTLS touched a ticket key this always succeeds;
		 * a second ClientHello (after a HelloRetryRequest) keeps
		 * what the first chose. */
		if (gnutls_session_ticket_enable_server(s, prev) == 0)
			log_debug("request %u: the client's ticket was made under the previous ticket key",
				  hook_request);
	} else if (verdict < 0) {
		log_debug("request %u: the client offers a ticket under no ticket key held (an external PSK, or an old ticket): no resumption from it",
			  hook_request);
	}
	return 0;
}

/*
 * Session resumption (resume.c keeps the cache and the ticket keys).
 * Client: ask the parent for this (profile, server, peer) entry and give
 * it to GnuTLS.  Server: issue tickets under the parent's current key,
 * and accept them under the previous one too (ticket_hook above).
 * GnuTLS's ticket lifetime (its "cache expiration") is the rotation
 * period, which also makes GnuTLS's own key derivation change on our
 * boundaries (see resume.c).
 */
static int resume_setup(gnutls_session_t s, const struct config *cfg,
			const struct request *req, const struct profile *pr,
			bool client, bool *cached)
{
	const gnutls_datum_t *key;
	gnutls_datum_t data;
	int ret;

	if (!pr->resumption)
		return 0;
	if (!client) {
		key = resume_ticket_key();
		if (!key)
			return 0;
		gnutls_db_set_cache_expiration(s, cfg->ticket_key_rotation);
		ret = gnutls_session_ticket_enable_server(s, key);
		if (ret < 0)
			return ret;
		hook_cfg = cfg;
		hook_request = req->id;
		gnutls_handshake_set_hook_function(s,
			GNUTLS_HANDSHAKE_CLIENT_HELLO, GNUTLS_HOOK_PRE,
			ticket_hook);
		return 0;
	}
	if (resume_fetch(req, pr->name, &data) || !data.size)
		return 0;		/* a full handshake, then */
	ret = gnutls_session_set_data(s, data.data, data.size);
	explicit_bzero(data.data, data.size);
	gnutls_free(data.data);
	if (ret < 0) {
		log_warn("request %u: cached session refused by GnuTLS (%s); full handshake",
			 req->id, gnutls_strerror(ret));
		return 0;
	}
	log_debug("request %u: offering a cached session (%u bytes)",
		  req->id, data.size);
	*cached = true;
	return 0;
}

/*
 * Client: hand the session back to the parent's cache.  TLS 1.2 tickets
 * came inside the handshake.  A TLS 1.3 ticket comes after it, and
 * gnutls_session_get_data2() then waits for one record (GnuTLS 3.7: its
 * round-trip estimate plus 60 ms) and returns a 4-byte placeholder if no
 * ticket came.  That wait runs under the guard (see struct transport):
 * GnuTLS reads the next record only if it holds nothing but tickets;
 * application data, such as a server's greeting, stays in the socket
 * for ktls and the application.  A resumed handshake whose entry is
 * still cached does not wait: the entry stays, and a new ticket the
 * server sends reaches ktls.
 */
static void keep_session(gnutls_session_t s, struct transport *t,
			 const struct request *req, const struct profile *pr,
			 bool reuse)
{
	gnutls_datum_t data = { NULL, 0 };
	int ret;

	if (reuse)
		return;
	t->session = s;
	t->request = req->id;
	t->guard = GUARD_CHECK;
	ret = gnutls_session_get_data2(s, &data);
	t->guard = GUARD_OFF;
	if (ret < 0) {
		log_debug("request %u: no session to cache: %s", req->id,
			  gnutls_strerror(ret));
		return;
	}
	/* GnuTLS's placeholder when no TLS 1.3 ticket came. */
	if (data.size > 4)
		resume_store(req, pr->name, &data);
	else
		log_debug("request %u: the server sent no ticket", req->id);
	explicit_bzero(data.data, data.size);
	gnutls_free(data.data);
}

int tls_handshake(const struct config *cfg, const struct request *req,
		  struct result *res)
{
	const struct profile *pr = config_profile(cfg, req->profile);
	bool client = req->role == KTLS_ROLE_CLIENT;
	struct transport t = { .fd = req->fd };
	gnutls_session_t s;
	gnutls_datum_t alpn;
	bool cached = false;
	int ret, cipher, alert;

	memset(res, 0, sizeof(*res));
	if (!pr) {
		log_err("request %u: no profile '%s' in the configuration",
			req->id, req->profile[0] ? req->profile : "default");
		res->status = ENOENT;
		return res->status;
	}
	clock_gettime(CLOCK_MONOTONIC, &t.deadline);
	t.deadline.tv_sec += req->timeout_ms / 1000;
	t.deadline.tv_nsec += (req->timeout_ms % 1000) * 1000000L;
	if (t.deadline.tv_nsec >= 1000000000L) {
		t.deadline.tv_sec++;
		t.deadline.tv_nsec -= 1000000000L;
	}

	/* Without resumption no tickets are asked for or issued, so no
	 * NewSessionTicket follows the handshake either. */
	ret = gnutls_init(&s, (client ? GNUTLS_CLIENT : GNUTLS_SERVER) |
			  GNUTLS_NO_SIGNAL |
			  (pr->resumption ? 0 : GNUTLS_NO_TICKETS));
	if (ret < 0)
		goto gnutls_fail;
	ret = resume_setup(s, cfg, req, pr, client, &cached);
	if (ret < 0)
		goto gnutls_fail_deinit;
	ret = gnutls_priority_set_direct(s, pr->priority, NULL);
	if (ret < 0)
		goto gnutls_fail_deinit;
	ret = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, pr->cred);
	if (ret < 0)
		goto gnutls_fail_deinit;
	psk_profile = pr;
	psk_request = req->id;
	psk_seen = PSK_NONE;
	if (client ? !!pr->psk_client : !!pr->psk_server) {
		ret = gnutls_credentials_set(s, GNUTLS_CRD_PSK, client ?
					     (void *)pr->psk_client :
					     (void *)pr->psk_server);
		if (ret < 0)
			goto gnutls_fail_deinit;
		if (client)
			psk_seen = PSK_OFFERED;
	}
	if (client) {
		if (req->server_name[0]) {
			ret = gnutls_server_name_set(s, GNUTLS_NAME_DNS,
						     req->server_name,
						     strlen(req->server_name));
			if (ret < 0)
				goto gnutls_fail_deinit;
		}
		if (pr->verify)
			gnutls_session_set_verify_cert(s,
				req->server_name[0] ? req->server_name : NULL,
				0);
	} else if (pr->client_auth != CLIENT_AUTH_NONE) {
		gnutls_certificate_server_set_request(s,
			pr->client_auth == CLIENT_AUTH_REQUIRED ?
			GNUTLS_CERT_REQUIRE : GNUTLS_CERT_REQUEST);
		gnutls_session_set_verify_cert(s, NULL, 0);
	}
	ret = set_alpn(s, req->alpn[0] ? req->alpn : pr->alpn, !client);
	if (ret < 0)
		goto gnutls_fail_deinit;

	gnutls_transport_set_ptr(s, &t);
	gnutls_transport_set_pull_function(s, t_pull);
	gnutls_transport_set_push_function(s, t_push);
	gnutls_transport_set_pull_timeout_function(s, t_pull_timeout);

	do {
		ret = gnutls_handshake(s);
	} while (ret < 0 && !gnutls_error_is_fatal(ret));
	if (ret < 0) {
		res->status = t.timed_out ? ETIMEDOUT :
			      errors_from_gnutls(s, ret, &alert);
		if (!t.timed_out)
			res->status = errors_from_psk(s, ret, res->status,
						      psk_seen);
		/* Tell a PSK client why, so that it need not guess from a
		 * closed connection: unknown_psk_identity for an identity
		 * we lack, else what GnuTLS finds fitting (a wrong key:
		 * illegal_parameter, bad_record_mac). */
		if (!client && psk_seen == PSK_UNKNOWN)
			gnutls_alert_send(s, GNUTLS_AL_FATAL,
					  GNUTLS_A_UNKNOWN_PSK_IDENTITY);
		else if (!client && psk_seen == PSK_FOUND && !t.timed_out)
			gnutls_alert_send_appropriate(s, ret);
		log_err("request %u (%s, profile %s%s%s): %s: %s (%s)",
			req->id, client ? "client" : "server", pr->name,
			req->server_name[0] ? ", server " : "",
			req->server_name, errors_hint(res->status),
			strerror(res->status),
			t.timed_out ? "no answer in time" : gnutls_strerror(ret));
		goto out;
	}

	res->version = gnutls_protocol_get_version(s) == GNUTLS_TLS1_3 ?
		       TLS_1_3_VERSION : TLS_1_2_VERSION;
	cipher = ktls_cipher_of(gnutls_cipher_get(s));
	if (cipher < 0) {
		log_err("request %u: negotiated cipher %s is not one ktls has",
			req->id, gnutls_cipher_get_name(gnutls_cipher_get(s)));
		res->status = EOPNOTSUPP;
		goto out;
	}
	res->cipher = cipher;
	res->resumed = gnutls_session_is_resumed(s);
	if (client && pr->resumption)
		keep_session(s, &t, req, pr, res->resumed && cached);
	if (gnutls_record_check_pending(s)) {
		log_err("request %u: %zu bytes of application data came with the handshake; ktls cannot take them, refusing",
			req->id, gnutls_record_check_pending(s));
		res->status = EPROTO;
		goto out;
	}
	res->status = install_keys(s, req->fd, res->version, cipher);
	if (res->status) {
		log_err("request %u: installing the keys in ktls failed: %s",
			req->id, strerror(res->status));
		goto out;
	}
	if (gnutls_alpn_get_selected_protocol(s, &alpn) == 0)
		snprintf(res->alpn, sizeof(res->alpn), "%.*s",
			 (int)alpn.size, alpn.data);
	/* With verify = no nothing about the server was checked: name no
	 * peer, lest the application trust it. */
	if (!client || pr->verify)
		peer_identity(s, res->peer, sizeof(res->peer));
	if (!res->peer[0] && !client && psk_seen == PSK_FOUND) {
		gnutls_datum_t user;

		if (gnutls_psk_server_get_username2(s, &user) == 0)
			snprintf(res->peer, sizeof(res->peer), "psk:%.*s",
				 (int)user.size, user.data);
	}
	log_info("request %u: %s %s, %s, peer '%s'%s%s%s", req->id,
		 client ? "client" : "server",
		 res->version == TLS_1_3_VERSION ? "TLS 1.3" : "TLS 1.2",
		 gnutls_cipher_get_name(gnutls_cipher_get(s)), res->peer,
		 res->alpn[0] ? ", alpn " : "", res->alpn,
		 res->resumed ? ", resumed" : "");
out:
	/* GnuTLS wipes its key schedule when the session is freed. */
	gnutls_deinit(s);
	return res->status;

gnutls_fail_deinit:
	gnutls_deinit(s);
gnutls_fail:
	log_err("request %u: GnuTLS set-up failed: %s", req->id,
		gnutls_strerror(ret));
	res->status = EPROTO;
	return res->status;
}
