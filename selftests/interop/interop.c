// SPDX-License-Identifier: GPL-2.0
/*
 * interop - one TLS connection over loopback between two TLS libraries,
 * each with its kernel TLS mode on, and proof that the kernel carried the
 * records.
 *
 *   interop [-v 1.2|1.3] [-c aes128gcm|aes256gcm|chacha20] [-n BYTES]
 *           [-f BYTES] [-s STATFILE] -C CERT -K KEY SERVER_LIB CLIENT_LIB
 *
 * SERVER_LIB and CLIENT_LIB are "openssl" (libssl, SSL_OP_ENABLE_KTLS) or
 * "gnutls" (its kTLS mode is switched on by its system configuration file:
 * the caller sets GNUTLS_SYSTEM_PRIORITY_FILE to a file holding
 * "[global]" / "ktls = true"; the library reads it when it is loaded).
 *
 * The process listens on 127.0.0.1, forks the client, and both sides:
 *   1. complete the handshake for exactly the version and cipher asked for;
 *   2. require their library to report kTLS for sending, and for receiving
 *      where the library can (OpenSSL 3.0 and 3.1 receive TLS 1.3 in
 *      userspace) (BIO_get_ktls_send/recv, gnutls_transport_is_ktls_enabled);
 *      a GnuTLS built without kTLS gets its keys installed here instead (see
 *      install_keys()); then require the kernel to report that version and
 *      cipher for those directions (getsockopt SOL_TLS TLS_TX/TLS_RX) under
 *      the ULP name "tls" (getsockopt TCP_ULP);
 *   3. move data: the client writes -n bytes (default 256 KiB) in uneven
 *      pieces, the server verifies them, writes -n bytes back and then -f
 *      bytes (default 128 KiB) from a file with the library's sendfile
 *      (SSL_sendfile, gnutls_record_send_file, or sendfile(2) on a socket
 *      whose keys were installed here); the client verifies all;
 *   4. exchange close_notify.
 * Then the server compares STATFILE (default /proc/net/ktls_stat) with its
 * state before the connection: TlsTxSw and TlsRxSw must have grown by the
 * number of sides whose library moved that direction to the kernel (2 for
 * TX), TlsCurrTxSw/TlsCurrRxSw must be back,
 * TlsDecryptError unchanged.  Records carried by the in-tree tls module or
 * by the library in userspace leave these counters alone.
 *
 * Prints "# " diagnostics and one result line; exits 0 only if all held.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <linux/tls.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <gnutls/gnutls.h>
#include <gnutls/socket.h>

#include "../crosscheck.h"
#include "../lib/ktls_util.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

enum lib { LIB_OPENSSL, LIB_GNUTLS };

struct cipher {
	const char *name;		/* our option value */
	uint16_t kernel;		/* TLS_CIPHER_* */
	const char *ossl12;		/* OpenSSL TLS 1.2 cipher list */
	const char *ossl13;		/* OpenSSL TLS 1.3 ciphersuites */
	const char *gnutls;		/* GnuTLS priority keyword */
};

static const struct cipher ciphers[] = {
	{ "aes128gcm", TLS_CIPHER_AES_GCM_128, "ECDHE-ECDSA-AES128-GCM-SHA256",
	  "TLS_AES_128_GCM_SHA256", "AES-128-GCM" },
	{ "aes256gcm", TLS_CIPHER_AES_GCM_256, "ECDHE-ECDSA-AES256-GCM-SHA384",
	  "TLS_AES_256_GCM_SHA384", "AES-256-GCM" },
	{ "chacha20", TLS_CIPHER_CHACHA20_POLY1305,
	  "ECDHE-ECDSA-CHACHA20-POLY1305", "TLS_CHACHA20_POLY1305_SHA256",
	  "CHACHA20-POLY1305" },
};

struct opts {
	int tls13;
	const struct cipher *cipher;
	size_t nbytes;
	size_t fbytes;
	const char *statfile;
	const char *cert;
	const char *key;
	enum lib lib[2];		/* [0] server, [1] client */
};

/* One end of the connection. */
struct side {
	const char *role;		/* "server" or "client" */
	int server;
	enum lib lib;
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	gnutls_certificate_credentials_t cred;
	gnutls_session_t gs;
	/* GnuTLS built without kTLS: keys installed by install_keys(), the
	 * record layer driven through the socket here. */
	int manual;
};

static const char *lib_name(enum lib lib)
{
	return lib == LIB_OPENSSL ? "openssl" : "gnutls";
}

static void diag(const struct side *s, const char *fmt, ...)
{
	va_list ap;

	printf("# %s(%s): ", s->role, lib_name(s->lib));
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void ossl_errors(const struct side *s)
{
	unsigned long e;
	char buf[256];

	while ((e = ERR_get_error())) {
		ERR_error_string_n(e, buf, sizeof(buf));
		diag(s, "openssl: %s", buf);
	}
}

/* Byte i of a stream: a hash of (seed, i), so any offset can be checked. */
static uint8_t pattern(uint32_t seed, uint64_t i)
{
	uint32_t x = seed ^ ((uint32_t)(i >> 2) * 0x9e3779b1u);

	x ^= x >> 15;
	x *= 0x85ebca6bu;
	x ^= x >> 13;
	x *= 0xc2b2ae35u;
	x ^= x >> 16;
	return (uint8_t)(x >> (8 * (i & 3)));
}

#define SEED_C2S	0x636c6e74u
#define SEED_S2C	0x73727672u

/* ---- GnuTLS without kTLS: what its kTLS mode would do ---------------------
 *
 * Debian 12's GnuTLS 3.7.9 is built without kTLS (gnutls-cli --list-config
 * shows no "ktls"; gnutls_transport_is_ktls_enabled() stays 0).  For it, the
 * GnuTLS side does by hand what GnuTLS's kTLS mode does after the handshake:
 * read the traffic keys back (gnutls_record_get_state), attach the ULP
 * "tls", install TLS_TX and TLS_RX, then use plain socket calls, with
 * record-type cmsgs for alerts and post-handshake messages.
 */
/*
 * cc_crypto_info_fill() (../crosscheck.c) takes key || salt || iv.
 * TLS 1.2 AES-GCM: GnuTLS's IV is the 4-byte salt; the explicit nonce of
 * the next record is its sequence number.  TLS 1.3 AES-GCM: salt is the
 * IV's first 4 bytes, iv the other 8.  ChaCha20: iv is the whole 12-byte
 * IV (no salt).  So the material is the key, GnuTLS's IV and, on TLS 1.2
 * with a salt, the sequence number.
 */
static int fill_info(struct side *s, const struct opts *o, int read,
		     union cc_crypto_info *ki, socklen_t *len)
{
	uint16_t version = o->tls13 ? TLS_1_3_VERSION : TLS_1_2_VERSION;
	unsigned char seq[8], material[64] = { 0 };
	size_t ksz, saltsz, ivsz, want_iv, i;
	gnutls_datum_t mac, iv, key;
	uint64_t rec_seq = 0;
	int ret = -1;

	if (gnutls_record_get_state(s->gs, read, &mac, &iv, &key, seq))
		return -1;
	/* The layout of this cipher's struct, from an all-zero fill. */
	if (!cc_crypto_info_fill(ki, version, o->cipher->kernel, material, 0) ||
	    !cc_crypto_info_field(ki, CC_KEY, &ksz) ||
	    !cc_crypto_info_field(ki, CC_SALT, &saltsz) ||
	    !cc_crypto_info_field(ki, CC_IV, &ivsz))
		return -1;
	want_iv = saltsz && !o->tls13 ? saltsz : saltsz + ivsz;
	if (key.size != ksz || iv.size != want_iv ||
	    ksz + saltsz + ivsz > sizeof(material))
		return -1;
	memcpy(material, key.data, ksz);
	memcpy(material + ksz, iv.data, iv.size);
	if (saltsz && !o->tls13)
		memcpy(material + ksz + saltsz, seq, ivsz);
	for (i = 0; i < sizeof(seq); i++)
		rec_seq = rec_seq << 8 | seq[i];
	*len = cc_crypto_info_fill(ki, version, o->cipher->kernel, material,
				   rec_seq);
	if (*len)
		ret = 0;
	explicit_bzero(material, sizeof(material));
	return ret;
}

static int install_keys(struct side *s, const struct opts *o)
{
	union cc_crypto_info ki;
	socklen_t len;
	int ret = -1;

	if (gnutls_record_check_pending(s->gs)) {
		diag(s, "GnuTLS holds decrypted data past the handshake");
		return -1;
	}
	if (ku_attach_ulp(s->fd, "tls")) {
		diag(s, "setsockopt(TCP_ULP, \"tls\"): %s", strerror(errno));
		return -1;
	}
	if (fill_info(s, o, 0, &ki, &len) ||
	    ku_set_crypto(s->fd, TLS_TX, &ki, len)) {
		diag(s, "TLS_TX: %s", strerror(errno));
		goto out;
	}
	if (fill_info(s, o, 1, &ki, &len) ||
	    ku_set_crypto(s->fd, TLS_RX, &ki, len)) {
		diag(s, "TLS_RX: %s", strerror(errno));
		goto out;
	}
	s->manual = 1;
	ret = 0;
out:
	explicit_bzero(&ki, sizeof(ki));
	return ret;
}

/* Application data, or 0 at close_notify; skips post-handshake messages
 * (TLS 1.3 NewSessionTicket). */
static ssize_t manual_read(struct side *s, uint8_t *buf, size_t len)
{
	char cbuf[CMSG_SPACE(sizeof(unsigned char))];
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
	};
	struct cmsghdr *cmsg;
	unsigned char type;
	ssize_t n;

	for (;;) {
		msg.msg_control = cbuf;
		msg.msg_controllen = sizeof(cbuf);
		n = recvmsg(s->fd, &msg, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			diag(s, "recvmsg: %s", strerror(errno));
			return -1;
		}
		if (n == 0) {
			diag(s, "TCP EOF without close_notify");
			return -1;
		}
		type = 23;
		cmsg = CMSG_FIRSTHDR(&msg);
		if (cmsg && cmsg->cmsg_level == SOL_TLS &&
		    cmsg->cmsg_type == TLS_GET_RECORD_TYPE)
			type = *CMSG_DATA(cmsg);
		if (type == 23)
			return n;
		if (type == 21 && n == 2 && buf[1] == 0)
			return 0;	/* close_notify */
		if (type != 22) {
			diag(s, "unexpected record type %u (%zd bytes)",
			     type, n);
			return -1;
		}
	}
}

static int manual_close_notify(struct side *s)
{
	char cbuf[CMSG_SPACE(sizeof(unsigned char))] = { 0 };
	unsigned char alert[2] = { 1, 0 };	/* warning, close_notify */
	struct iovec iov = { .iov_base = alert, .iov_len = sizeof(alert) };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf,
		.msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);

	cmsg->cmsg_level = SOL_TLS;
	cmsg->cmsg_type = TLS_SET_RECORD_TYPE;
	cmsg->cmsg_len = CMSG_LEN(sizeof(unsigned char));
	*CMSG_DATA(cmsg) = 21;
	if (sendmsg(s->fd, &msg, 0) != sizeof(alert)) {
		diag(s, "sending close_notify: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- library wrappers ---------------------------------------------------- */

static int side_setup(struct side *s, const struct opts *o)
{
	const struct cipher *c = o->cipher;
	int ver = o->tls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
	char prio[256];
	int ret;

	if (s->lib == LIB_OPENSSL) {
		s->ctx = SSL_CTX_new(s->server ? TLS_server_method() :
					      TLS_client_method());
		if (!s->ctx ||
		    !SSL_CTX_set_min_proto_version(s->ctx, ver) ||
		    !SSL_CTX_set_max_proto_version(s->ctx, ver))
			goto ossl_fail;
		if (o->tls13 ? !SSL_CTX_set_ciphersuites(s->ctx, c->ossl13) :
			       !SSL_CTX_set_cipher_list(s->ctx, c->ossl12))
			goto ossl_fail;
		SSL_CTX_set_options(s->ctx, SSL_OP_ENABLE_KTLS);
		if (s->server) {
			if (SSL_CTX_use_certificate_chain_file(s->ctx,
							       o->cert) != 1 ||
			    SSL_CTX_use_PrivateKey_file(s->ctx, o->key,
							SSL_FILETYPE_PEM) != 1)
				goto ossl_fail;
		} else {
			if (SSL_CTX_load_verify_locations(s->ctx, o->cert,
							  NULL) != 1)
				goto ossl_fail;
			SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER, NULL);
		}
		s->ssl = SSL_new(s->ctx);
		if (!s->ssl || SSL_set_fd(s->ssl, s->fd) != 1)
			goto ossl_fail;
		if (!s->server && SSL_set1_host(s->ssl, "localhost") != 1)
			goto ossl_fail;
		return 0;
ossl_fail:
		diag(s, "setup failed");
		ossl_errors(s);
		return -1;
	}

	snprintf(prio, sizeof(prio),
		 "NORMAL:-VERS-ALL:+VERS-TLS1.%d:-CIPHER-ALL:+%s",
		 o->tls13 ? 3 : 2, c->gnutls);
	ret = gnutls_certificate_allocate_credentials(&s->cred);
	if (ret < 0)
		goto gnutls_fail;
	if (s->server)
		ret = gnutls_certificate_set_x509_key_file(s->cred, o->cert,
							   o->key,
							   GNUTLS_X509_FMT_PEM);
	else
		ret = gnutls_certificate_set_x509_trust_file(s->cred, o->cert,
							     GNUTLS_X509_FMT_PEM);
	if (ret < 0)
		goto gnutls_fail;
	ret = gnutls_init(&s->gs, s->server ? GNUTLS_SERVER : GNUTLS_CLIENT);
	if (ret < 0)
		goto gnutls_fail;
	ret = gnutls_priority_set_direct(s->gs, prio, NULL);
	if (ret < 0)
		goto gnutls_fail;
	ret = gnutls_credentials_set(s->gs, GNUTLS_CRD_CERTIFICATE, s->cred);
	if (ret < 0)
		goto gnutls_fail;
	if (!s->server) {
		ret = gnutls_server_name_set(s->gs, GNUTLS_NAME_DNS,
					     "localhost", strlen("localhost"));
		if (ret < 0)
			goto gnutls_fail;
		gnutls_session_set_verify_cert(s->gs, "localhost", 0);
	}
	gnutls_transport_set_int(s->gs, s->fd);
	gnutls_handshake_set_timeout(s->gs, GNUTLS_DEFAULT_HANDSHAKE_TIMEOUT);
	return 0;
gnutls_fail:
	diag(s, "setup failed: %s", gnutls_strerror(ret));
	return -1;
}

static int side_handshake(struct side *s)
{
	int ret;

	if (s->lib == LIB_OPENSSL) {
		ret = s->server ? SSL_accept(s->ssl) : SSL_connect(s->ssl);
		if (ret == 1)
			return 0;
		diag(s, "handshake failed (SSL_get_error %d)",
		     SSL_get_error(s->ssl, ret));
		ossl_errors(s);
		return -1;
	}
	do {
		ret = gnutls_handshake(s->gs);
	} while (ret < 0 && !gnutls_error_is_fatal(ret));
	if (ret == 0)
		return 0;
	diag(s, "handshake failed: %s", gnutls_strerror(ret));
	return -1;
}

/* What the library says it handed to the kernel. */
static void side_ktls(struct side *s, int *tx, int *rx)
{
	if (s->lib == LIB_OPENSSL) {
		*tx = BIO_get_ktls_send(SSL_get_wbio(s->ssl));
		*rx = BIO_get_ktls_recv(SSL_get_rbio(s->ssl));
	} else {
		int f = gnutls_transport_is_ktls_enabled(s->gs);

		*tx = !!(f & GNUTLS_KTLS_SEND);
		*rx = !!(f & GNUTLS_KTLS_RECV);
	}
}

static int side_write(struct side *s, const uint8_t *buf, size_t len)
{
	while (len) {
		size_t done = 0;
		ssize_t n;

		if (s->manual) {
			n = send(s->fd, buf, len, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				diag(s, "send: %s", strerror(errno));
				return -1;
			}
			done = (size_t)n;
		} else if (s->lib == LIB_OPENSSL) {
			if (SSL_write_ex(s->ssl, buf, len, &done) != 1) {
				diag(s, "SSL_write_ex failed");
				ossl_errors(s);
				return -1;
			}
		} else {
			n = gnutls_record_send(s->gs, buf, len);
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
				continue;
			if (n < 0) {
				diag(s, "gnutls_record_send: %s",
				     gnutls_strerror((int)n));
				return -1;
			}
			done = (size_t)n;
		}
		buf += done;
		len -= done;
	}
	return 0;
}

/* Returns bytes read (> 0), 0 at close_notify, -1 on error. */
static ssize_t side_read(struct side *s, uint8_t *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;
	int err;

	if (s->manual)
		return manual_read(s, buf, len);
	if (s->lib == LIB_OPENSSL) {
		if (SSL_read_ex(s->ssl, buf, len, &done) == 1)
			return (ssize_t)done;
		err = SSL_get_error(s->ssl, 0);
		if (err == SSL_ERROR_ZERO_RETURN)
			return 0;
		diag(s, "SSL_read_ex failed (SSL_get_error %d, errno %s)",
		     err, strerror(errno));
		ossl_errors(s);
		return -1;
	}
	do {
		n = gnutls_record_recv(s->gs, buf, len);
	} while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
	if (n < 0) {
		diag(s, "gnutls_record_recv: %s", gnutls_strerror((int)n));
		return -1;
	}
	return n;
}

static int side_sendfile(struct side *s, int fd, size_t len)
{
	off_t off = 0;
	ssize_t n;

	while ((size_t)off < len) {
		if (s->manual) {
			n = sendfile(s->fd, fd, &off, len - (size_t)off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				diag(s, "sendfile: %s",
				     n ? strerror(errno) : "sent 0");
				return -1;
			}
		} else if (s->lib == LIB_OPENSSL) {
			n = SSL_sendfile(s->ssl, fd, off, len - (size_t)off, 0);
			if (n <= 0) {
				diag(s, "SSL_sendfile failed (%s)",
				     strerror(errno));
				ossl_errors(s);
				return -1;
			}
			off += n;
		} else {
			n = gnutls_record_send_file(s->gs, fd, &off,
						    len - (size_t)off);
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
				continue;
			if (n <= 0) {
				diag(s, "gnutls_record_send_file: %s",
				     n ? gnutls_strerror((int)n) : "sent 0");
				return -1;
			}
		}
	}
	return 0;
}

static int side_close_notify(struct side *s)
{
	int ret;

	if (s->manual)
		return manual_close_notify(s);
	if (s->lib == LIB_OPENSSL) {
		ret = SSL_shutdown(s->ssl);
		if (ret >= 0)
			return 0;
		diag(s, "SSL_shutdown failed");
		ossl_errors(s);
		return -1;
	}
	do {
		ret = gnutls_bye(s->gs, GNUTLS_SHUT_WR);
	} while (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED);
	if (ret == 0)
		return 0;
	diag(s, "gnutls_bye: %s", gnutls_strerror(ret));
	return -1;
}

static void side_free(struct side *s)
{
	if (s->ssl)
		SSL_free(s->ssl);
	if (s->ctx)
		SSL_CTX_free(s->ctx);
	if (s->gs)
		gnutls_deinit(s->gs);
	if (s->cred)
		gnutls_certificate_free_credentials(s->cred);
	if (s->fd >= 0)
		close(s->fd);
	s->ssl = NULL;
	s->ctx = NULL;
	s->gs = NULL;
	s->cred = NULL;
	s->fd = -1;
}

/* ---- checks ---------------------------------------------------------------- */

/* The kernel's view of the socket: ULP name, and version and cipher of each
 * direction. */
static int check_kernel(struct side *s, const struct opts *o, int rx)
{
	uint16_t ver = o->tls13 ? TLS_1_3_VERSION : TLS_1_2_VERSION;
	struct tls_crypto_info info;
	char ulp[16] = "";
	socklen_t len = sizeof(ulp) - 1;
	int opt, bad = 0;

	if (getsockopt(s->fd, IPPROTO_TCP, TCP_ULP, ulp, &len)) {
		diag(s, "getsockopt(TCP_ULP): %s", strerror(errno));
		return -1;
	}
	ulp[len < sizeof(ulp) ? len : sizeof(ulp) - 1] = '\0';
	if (strcmp(ulp, "tls")) {
		diag(s, "TCP_ULP reads \"%s\", want \"tls\"", ulp);
		bad = 1;
	}
	for (opt = TLS_TX; opt <= (rx ? TLS_RX : TLS_TX); opt++) {
		len = sizeof(info);
		memset(&info, 0, sizeof(info));
		if (getsockopt(s->fd, SOL_TLS, opt, &info, &len)) {
			diag(s, "getsockopt(SOL_TLS, %s): %s",
			     opt == TLS_TX ? "TLS_TX" : "TLS_RX",
			     strerror(errno));
			bad = 1;
			continue;
		}
		if (info.version != ver || info.cipher_type != o->cipher->kernel) {
			diag(s, "kernel %s: version %#x cipher %u, want %#x %u",
			     opt == TLS_TX ? "TX" : "RX", info.version,
			     info.cipher_type, ver, o->cipher->kernel);
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}

static int read_verify(struct side *s, uint32_t seed, size_t total)
{
	static uint8_t buf[65536];
	size_t got = 0, i;
	ssize_t n;

	while (got < total) {
		size_t want = total - got;

		if (want > sizeof(buf))
			want = sizeof(buf);
		n = side_read(s, buf, want);
		if (n < 0)
			return -1;
		if (n == 0) {
			diag(s, "close_notify after %zu of %zu bytes", got,
			     total);
			return -1;
		}
		for (i = 0; i < (size_t)n; i++) {
			if (buf[i] != pattern(seed, got + i)) {
				diag(s, "data differs at byte %zu", got + i);
				return -1;
			}
		}
		got += (size_t)n;
	}
	return 0;
}

/* Uneven pieces: records that end mid-write and writes that span records. */
static int write_pattern(struct side *s, uint32_t seed, size_t total)
{
	static const size_t pieces[] = { 1, 700, 16384, 20000, 5, 40000, 3000 };
	static uint8_t buf[40000];
	size_t sent = 0, k = 0, i, n;

	while (sent < total) {
		n = pieces[k++ % (sizeof(pieces) / sizeof(pieces[0]))];
		if (n > total - sent)
			n = total - sent;
		for (i = 0; i < n; i++)
			buf[i] = pattern(seed, sent + i);
		if (side_write(s, buf, n))
			return -1;
		sent += n;
	}
	return 0;
}

/* The file the server sendfile()s: the S2C stream from offset nbytes. */
static int pattern_file(const struct opts *o)
{
	char path[] = "/tmp/ktls-interop.XXXXXX";
	static uint8_t buf[65536];
	size_t off = 0, n, i;
	int fd;

	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	unlink(path);
	while (off < o->fbytes) {
		n = o->fbytes - off;
		if (n > sizeof(buf))
			n = sizeof(buf);
		for (i = 0; i < n; i++)
			buf[i] = pattern(SEED_S2C, o->nbytes + off + i);
		if (write(fd, buf, n) != (ssize_t)n) {
			close(fd);
			return -1;
		}
		off += n;
	}
	return fd;
}

/* ---- the two ends ---------------------------------------------------------- */

static void set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = 120 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/*
 * Whether the library hands its receive key to the kernel.  OpenSSL before
 * 3.2 does so for TLS 1.2 only: with TLS 1.3 it moves just its send key and
 * keeps decrypting in userspace (Debian 12 ships 3.0).
 */
static int lib_ktls_rx(enum lib lib, int tls13)
{
	if (lib == LIB_OPENSSL && tls13)
		return OpenSSL_version_num() >= 0x30200000L;
	return 1;
}

/* Common part: handshake and kTLS checks.  *ktls gets tx | rx << 1. */
static int side_start(struct side *s, const struct opts *o, int *ktls)
{
	int tx, rx, want_rx = lib_ktls_rx(s->lib, o->tls13);

	set_timeouts(s->fd);
	if (side_setup(s, o) || side_handshake(s))
		return -1;
	side_ktls(s, &tx, &rx);
	diag(s, "handshake done; library reports kTLS send %s, recv %s%s",
	     tx ? "on" : "off", rx ? "on" : "off",
	     want_rx ? "" : " (this library keeps recv in userspace here)");
	if (s->lib == LIB_GNUTLS && !tx && !rx) {
		diag(s, "GnuTLS has no kTLS built in: installing its keys as its kTLS mode would");
		if (install_keys(s, o))
			return -1;
		tx = rx = 1;
	}
	*ktls = tx | rx << 1;
	if (!tx || (want_rx && !rx)) {
		diag(s, "the library did not enable kTLS where it can");
		return -1;
	}
	return check_kernel(s, o, rx);
}

static int run_client(const struct opts *o, int port, int report)
{
	struct side s = { .role = "client", .lib = o->lib[1], .fd = -1 };
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	uint8_t end[64];
	int ktls = 0, rc = 1, reported = 0;

	s.fd = socket(AF_INET, SOCK_STREAM, 0);
	if (s.fd < 0 || connect(s.fd, (struct sockaddr *)&sa, sizeof(sa))) {
		diag(&s, "connect: %s", strerror(errno));
		goto out;
	}
	if (side_start(&s, o, &ktls))
		goto out;
	/* Now, in case the server gives up on us later. */
	if (write(report, &ktls, sizeof(ktls)) != sizeof(ktls))
		goto out;
	reported = 1;
	if (write_pattern(&s, SEED_C2S, o->nbytes))
		goto out;
	if (read_verify(&s, SEED_S2C, o->nbytes + o->fbytes))
		goto out;
	if (side_close_notify(&s))
		goto out;
	/* The server's close_notify must be next. */
	if (side_read(&s, end, sizeof(end)) != 0) {
		diag(&s, "no close_notify from the server");
		goto out;
	}
	diag(&s, "received and verified %zu bytes, sent %zu",
	     o->nbytes + o->fbytes, o->nbytes);
	rc = 0;
out:
	if (!reported && write(report, &ktls, sizeof(ktls)) != sizeof(ktls))
		rc = 1;
	side_free(&s);
	return rc;
}

static int run_server(const struct opts *o, int lfd, int *ktls)
{
	struct side s = { .role = "server", .server = 1, .lib = o->lib[0],
			  .fd = -1 };
	int ffd = -1, rc = -1;
	uint8_t end[64];

	s.fd = accept(lfd, NULL, NULL);
	if (s.fd < 0) {
		diag(&s, "accept: %s", strerror(errno));
		goto out;
	}
	if (side_start(&s, o, ktls))
		goto out;
	if (read_verify(&s, SEED_C2S, o->nbytes))
		goto out;
	if (write_pattern(&s, SEED_S2C, o->nbytes))
		goto out;
	if (o->fbytes) {
		ffd = pattern_file(o);
		if (ffd < 0) {
			diag(&s, "cannot write the sendfile source");
			goto out;
		}
		if (side_sendfile(&s, ffd, o->fbytes))
			goto out;
	}
	if (side_read(&s, end, sizeof(end)) != 0) {
		diag(&s, "no close_notify from the client");
		goto out;
	}
	if (side_close_notify(&s))
		goto out;
	diag(&s, "received and verified %zu bytes, sent %zu (%zu by sendfile)",
	     o->nbytes, o->nbytes + o->fbytes, o->fbytes);
	rc = 0;
out:
	if (ffd >= 0)
		close(ffd);
	side_free(&s);
	return rc;
}

/* ---- /proc/net/ktls_stat --------------------------------------------------- */

enum { ST_TX, ST_RX, ST_CURR_TX, ST_CURR_RX, ST_DECRYPT_ERR, ST_NUM };
static const char *const stat_names[ST_NUM] = {
	"TlsTxSw", "TlsRxSw", "TlsCurrTxSw", "TlsCurrRxSw", "TlsDecryptError",
};

static int read_stats(const char *path, long v[ST_NUM])
{
	char name[64];
	long val;
	int i, found = 0;
	FILE *f = fopen(path, "r");

	if (!f) {
		printf("# cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fscanf(f, "%63s %ld", name, &val) == 2) {
		for (i = 0; i < ST_NUM; i++) {
			if (!strcmp(name, stat_names[i])) {
				v[i] = val;
				found |= 1 << i;
			}
		}
	}
	fclose(f);
	if (found != (1 << ST_NUM) - 1) {
		printf("# %s lacks some of TlsTxSw, TlsRxSw, TlsCurr*, TlsDecryptError\n",
		       path);
		return -1;
	}
	return 0;
}

static int check_stats(const struct opts *o, const long before[ST_NUM],
		       int tx_sides, int rx_sides)
{
	const long want[ST_NUM] = { tx_sides, rx_sides, 0, 0, 0 };
	long after[ST_NUM];
	int i, bad = 0;

	if (read_stats(o->statfile, after))
		return -1;
	for (i = 0; i < ST_NUM; i++) {
		long d = after[i] - before[i];

		printf("# %s %s%ld (want %s%ld)\n", stat_names[i],
		       d >= 0 ? "+" : "", d, want[i] >= 0 ? "+" : "", want[i]);
		if (d != want[i])
			bad = 1;
	}
	return bad ? -1 : 0;
}

/* ---- main ------------------------------------------------------------------ */

static int parse_lib(const char *s, enum lib *lib)
{
	if (!strcmp(s, "openssl"))
		*lib = LIB_OPENSSL;
	else if (!strcmp(s, "gnutls"))
		*lib = LIB_GNUTLS;
	else
		return -1;
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: interop [-v 1.2|1.3] [-c aes128gcm|aes256gcm|chacha20] [-n BYTES]\n"
		"               [-f BYTES] [-s STATFILE] -C CERT -K KEY SERVER_LIB CLIENT_LIB\n"
		"       SERVER_LIB, CLIENT_LIB: openssl or gnutls\n");
	exit(2);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	size_t i;
	int c;

	o->tls13 = 1;
	o->cipher = &ciphers[0];
	o->nbytes = 256 * 1024;
	o->fbytes = 128 * 1024;
	o->statfile = "/proc/net/ktls_stat";
	while ((c = getopt(argc, argv, "v:c:n:f:s:C:K:")) != -1) {
		switch (c) {
		case 'v':
			if (strcmp(optarg, "1.2") && strcmp(optarg, "1.3"))
				usage();
			o->tls13 = !strcmp(optarg, "1.3");
			break;
		case 'c':
			o->cipher = NULL;
			for (i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++)
				if (!strcmp(optarg, ciphers[i].name))
					o->cipher = &ciphers[i];
			if (!o->cipher)
				usage();
			break;
		case 'n':
			o->nbytes = strtoul(optarg, NULL, 0);
			break;
		case 'f':
			o->fbytes = strtoul(optarg, NULL, 0);
			break;
		case 's':
			o->statfile = optarg;
			break;
		case 'C':
			o->cert = optarg;
			break;
		case 'K':
			o->key = optarg;
			break;
		default:
			usage();
		}
	}
	if (!o->cert || !o->key || argc - optind != 2 ||
	    parse_lib(argv[optind], &o->lib[0]) ||
	    parse_lib(argv[optind + 1], &o->lib[1]))
		usage();
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t salen = sizeof(sa);
	int lfd, pfd[2], one = 1, status, skt = 0, ckt = 0, rc;
	long before[ST_NUM];
	struct opts o = { 0 };
	pid_t pid;

	parse_args(argc, argv, &o);
	signal(SIGPIPE, SIG_IGN);
	if (o.lib[0] == LIB_GNUTLS || o.lib[1] == LIB_GNUTLS) {
		if (!getenv("GNUTLS_SYSTEM_PRIORITY_FILE"))
			printf("# GNUTLS_SYSTEM_PRIORITY_FILE is not set: GnuTLS will not use kTLS\n");
	}
	if (read_stats(o.statfile, before))
		return 1;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen)) {
		perror("interop: listen");
		return 1;
	}
	if (pipe(pfd)) {
		perror("interop: pipe");
		return 1;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("interop: fork");
		return 1;
	}
	if (pid == 0) {
		close(lfd);
		close(pfd[0]);
		_exit(run_client(&o, ntohs(sa.sin_port), pfd[1]));
	}
	close(pfd[1]);

	rc = run_server(&o, lfd, &skt);
	close(lfd);
	if (rc)
		kill(pid, SIGTERM);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		rc = -1;
	/* The client reported once, into the pipe's buffer, or not at all. */
	if (read(pfd[0], &ckt, sizeof(ckt)) != sizeof(ckt))
		ckt = 0;
	close(pfd[0]);
	if (check_stats(&o, before, (skt & 1) + (ckt & 1),
			(skt >> 1) + (ckt >> 1)))
		rc = -1;

	printf("%s: server %s, client %s, TLS 1.%d %s\n", rc ? "FAIL" : "ok",
	       lib_name(o.lib[0]), lib_name(o.lib[1]), o.tls13 ? 3 : 2,
	       o.cipher->name);
	return rc ? 1 : 0;
}
