// SPDX-License-Identifier: GPL-2.0
/*
 * Userspace TLS: OpenSSL SSL objects over the benchmark's sockets.  The
 * handshake is real (a self-signed P-256 certificate made at start-up,
 * untimed); the version and cipher suite are forced to the ones measured.
 * Without kTLS every record is sealed and opened in userspace; with
 * SSL_OP_ENABLE_KTLS OpenSSL installs the keys into the in-tree ULP "tls"
 * (it knows no other name), which SSL_sendfile() needs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "bench.h"

struct ossl {
	SSL_CTX *ctx;
	SSL *ssl;
	bool server;
};

static EVP_PKEY *pkey;
static X509 *cert;

static __attribute__((noreturn)) void ossl_die(const char *what)
{
	char buf[256];
	unsigned long e = ERR_get_error();

	ERR_error_string_n(e, buf, sizeof(buf));
	die("%s: %s", what, e ? buf : "failed");
}

/* A self-signed certificate, made once in the coordinator before fork. */
void ossl_global_init(void)
{
	X509_NAME *name;

	if (opts->contender != C_OSSL && opts->contender != C_OSSL_KTLS)
		return;
	pkey = EVP_EC_gen("P-256");
	cert = X509_new();
	if (!pkey || !cert)
		ossl_die("key generation");
	X509_set_version(cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
	X509_set_pubkey(cert, pkey);
	name = X509_get_subject_name(cert);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)"ktls-bench", -1, -1,
				   0);
	X509_set_issuer_name(cert, name);
	if (!X509_sign(cert, pkey, EVP_sha256()))
		ossl_die("self-signing the certificate");
}

static const char *suite(void)
{
	bool v13 = opts->version == TLS_1_3_VERSION;

	switch (opts->cipher) {
	case TLS_CIPHER_AES_GCM_128:
		return v13 ? "TLS_AES_128_GCM_SHA256" :
			     "ECDHE-ECDSA-AES128-GCM-SHA256";
	case TLS_CIPHER_AES_GCM_256:
		return v13 ? "TLS_AES_256_GCM_SHA384" :
			     "ECDHE-ECDSA-AES256-GCM-SHA384";
	case TLS_CIPHER_CHACHA20_POLY1305:
		return v13 ? "TLS_CHACHA20_POLY1305_SHA256" :
			     "ECDHE-ECDSA-CHACHA20-POLY1305";
	}
	die("no OpenSSL suite for cipher %u", opts->cipher);
}

struct ossl *ossl_new(int fd, bool server, bool ktls)
{
	int v = opts->version == TLS_1_3_VERSION ? TLS1_3_VERSION :
						   TLS1_2_VERSION;
	struct ossl *o = calloc(1, sizeof(*o));

	if (!o)
		die("out of memory");
	o->server = server;
	o->ctx = SSL_CTX_new(server ? TLS_server_method() :
				      TLS_client_method());
	if (!o->ctx)
		ossl_die("SSL_CTX_new");
	if (!SSL_CTX_set_min_proto_version(o->ctx, v) ||
	    !SSL_CTX_set_max_proto_version(o->ctx, v))
		ossl_die("protocol version");
	if (v == TLS1_3_VERSION ?
	    !SSL_CTX_set_ciphersuites(o->ctx, suite()) :
	    !SSL_CTX_set_cipher_list(o->ctx, suite()))
		ossl_die(suite());
	SSL_CTX_set_num_tickets(o->ctx, 0);
	if (ktls)
		SSL_CTX_set_options(o->ctx, SSL_OP_ENABLE_KTLS);
	else
		SSL_CTX_clear_options(o->ctx, SSL_OP_ENABLE_KTLS);
	if (server && (SSL_CTX_use_certificate(o->ctx, cert) != 1 ||
		       SSL_CTX_use_PrivateKey(o->ctx, pkey) != 1))
		ossl_die("server certificate");
	SSL_CTX_set_verify(o->ctx, SSL_VERIFY_NONE, NULL);
	o->ssl = SSL_new(o->ctx);
	if (!o->ssl || !SSL_set_fd(o->ssl, fd))
		ossl_die("SSL_new");
	return o;
}

void ossl_handshake(struct ossl *o)
{
	int ret = o->server ? SSL_accept(o->ssl) : SSL_connect(o->ssl);

	if (ret != 1)
		ossl_die(o->server ? "SSL_accept" : "SSL_connect");
}

bool ossl_ktls_tx(struct ossl *o)
{
	return BIO_get_ktls_send(SSL_get_wbio(o->ssl));
}

void ossl_write(struct ossl *o, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		size_t done = 0;

		if (SSL_write_ex(o->ssl, p, len, &done) != 1)
			ossl_die("SSL_write");
		p += done;
		len -= done;
	}
}

/* Up to @len bytes of plaintext; 0 at the end of the stream. */
size_t ossl_read(struct ossl *o, void *buf, size_t len)
{
	size_t done = 0;

	if (SSL_read_ex(o->ssl, buf, len, &done) == 1)
		return done;
	switch (SSL_get_error(o->ssl, 0)) {
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
	case SSL_ERROR_SSL:
		/* The peer closed without close_notify: also the end. */
		if (ERR_GET_REASON(ERR_peek_error()) ==
		    SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			ERR_clear_error();
			return 0;
		}
		break;
	}
	ossl_die("SSL_read");
}

void ossl_sendfile(struct ossl *o, int file, uint64_t size)
{
	uint64_t off = 0;

	while (off < size) {
		size_t chunk = size - off > (1 << 30) ? 1 << 30 : size - off;
		ossl_ssize_t n = SSL_sendfile(o->ssl, file, off, chunk, 0);

		if (n <= 0)
			ossl_die("SSL_sendfile");
		off += n;
	}
}

/*
 * Seal @bytes of data with SSL_write calls of @size into a memory BIO and
 * return the records, so that the timed phase only write()s them.
 */
uint8_t *ossl_preseal(struct ossl *o, uint64_t bytes, size_t size,
		      size_t *len)
{
	BIO *mem = BIO_new(BIO_s_mem());
	uint64_t left = bytes;
	char *plain, *data;
	uint8_t *out;
	long n;

	plain = malloc(size);
	if (!mem || !plain)
		die("out of memory");
	memset(plain, 'p', size);
	SSL_set0_wbio(o->ssl, mem);
	while (left) {
		size_t chunk = left < size ? left : size;

		ossl_write(o, plain, chunk);
		left -= chunk;
	}
	n = BIO_get_mem_data(mem, &data);
	out = malloc(n > 0 ? n : 1);
	if (n <= 0 || !out)
		die("pre-sealing %llu bytes failed",
		    (unsigned long long)bytes);
	memcpy(out, data, n);
	free(plain);
	*len = n;
	return out;
}

void ossl_free(struct ossl *o)
{
	SSL_free(o->ssl);
	SSL_CTX_free(o->ctx);
	free(o);
}
