// SPDX-License-Identifier: GPL-2.0
/*
 * ktlsd - why a handshake failed, as an errno the requester can act on.
 *
 *   EKEYEXPIRED     the peer's certificate has expired (or the peer says
 *                   ours has)
 *   ETIME           the peer's certificate is not valid yet: check clocks
 *   EACCES          the certificate does not match the server name
 *   EKEYREJECTED    the chain ends in an untrusted self-signed
 *                   certificate (or the peer rejects our CA)
 *   ENOKEY          the issuer is neither in the chain nor trusted: a
 *                   missing intermediate, or a CA we do not know
 *   EKEYREVOKED     the certificate was revoked (a CRL of the profile
 *                   lists it, or the peer says ours is)
 *   EBADMSG         another certificate problem (bad signature, ...)
 *   EPROTONOSUPPORT no protocol version both sides accept
 *   EOPNOTSUPP      no cipher suite both sides accept
 *   ECONNRESET      the peer closed the connection
 *   ETIMEDOUT       the handshake took longer than its timeout
 *   ESRCH           server: the client offered a PSK identity that is not
 *                   in the profile's psk_file (client: the server said so
 *                   with an unknown_psk_identity alert)
 *   EBADE           the PSK did not match: server, the identity is known
 *                   but the key differs; client, the server refused our
 *                   PSK (a wrong key, or an identity it lacks: a server
 *                   may hide which)
 *   EPROTO          any other TLS failure (the log line has GnuTLS's words)
 */
#include <errno.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "ktlsd.h"

int errors_from_verify(unsigned int status)
{
	if (status & GNUTLS_CERT_EXPIRED)
		return EKEYEXPIRED;
	if (status & GNUTLS_CERT_NOT_ACTIVATED)
		return ETIME;
	if (status & GNUTLS_CERT_REVOKED)
		return EKEYREVOKED;
	if (status & GNUTLS_CERT_UNEXPECTED_OWNER)
		return EACCES;
	if (status & GNUTLS_CERT_SIGNER_NOT_FOUND)
		return (status & GNUTLS_CERT_SIGNER_NOT_CA) ? EKEYREJECTED :
							       ENOKEY;
	if (status & GNUTLS_CERT_SIGNER_NOT_CA)
		return EKEYREJECTED;
	return EBADMSG;
}

static int from_alert(gnutls_alert_description_t alert)
{
	switch (alert) {
	case GNUTLS_A_CERTIFICATE_EXPIRED:
		return EKEYEXPIRED;
	case GNUTLS_A_UNKNOWN_CA:
		return EKEYREJECTED;
	case GNUTLS_A_CERTIFICATE_REVOKED:
		return EKEYREVOKED;
	case GNUTLS_A_BAD_CERTIFICATE:
	case GNUTLS_A_UNSUPPORTED_CERTIFICATE:
	case GNUTLS_A_CERTIFICATE_UNKNOWN:
	case GNUTLS_A_CERTIFICATE_REQUIRED:
		return EBADMSG;
	case GNUTLS_A_PROTOCOL_VERSION:
		return EPROTONOSUPPORT;
	case GNUTLS_A_HANDSHAKE_FAILURE:
	case GNUTLS_A_INSUFFICIENT_SECURITY:
		return EOPNOTSUPP;
	case GNUTLS_A_UNRECOGNIZED_NAME:
		return EACCES;
	default:
		return EPROTO;
	}
}

static bool top_self_signed(gnutls_session_t s)
{
	const gnutls_datum_t *certs;
	gnutls_x509_crt_t crt;
	unsigned int n = 0;
	bool self = false;

	certs = gnutls_certificate_get_peers(s, &n);
	if (!certs || !n || gnutls_x509_crt_init(&crt) < 0)
		return false;
	if (gnutls_x509_crt_import(crt, &certs[n - 1],
				   GNUTLS_X509_FMT_DER) >= 0)
		self = gnutls_x509_crt_check_issuer(crt, crt) == 1;
	gnutls_x509_crt_deinit(crt);
	return self;
}

/* A failed gnutls_handshake(): the errno to report. */
int errors_from_gnutls(gnutls_session_t s, int gerr, int *alert_sent)
{
	int err;

	*alert_sent = 0;
	switch (gerr) {
	case GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR:
	case GNUTLS_E_CERTIFICATE_ERROR:
		err = errors_from_verify(gnutls_session_get_verify_cert_status(s));
		/* An issuer nowhere to be found is a missing intermediate,
		 * unless the chain ends in a self-signed certificate that
		 * simply is not trusted. */
		if (err == ENOKEY && top_self_signed(s))
			err = EKEYREJECTED;
		return err;
	case GNUTLS_E_FATAL_ALERT_RECEIVED:
		return from_alert(gnutls_alert_get(s));
	case GNUTLS_E_UNSUPPORTED_VERSION_PACKET:
		return EPROTONOSUPPORT;
	case GNUTLS_E_NO_CIPHER_SUITES:
	case GNUTLS_E_UNKNOWN_CIPHER_SUITE:
	case GNUTLS_E_INSUFFICIENT_SECURITY:
	case GNUTLS_E_NO_COMMON_KEY_SHARE:
		return EOPNOTSUPP;
	case GNUTLS_E_PREMATURE_TERMINATION:
	case GNUTLS_E_PUSH_ERROR:
	case GNUTLS_E_PULL_ERROR:
		return ECONNRESET;
	case GNUTLS_E_TIMEDOUT:
		return ETIMEDOUT;
	case GNUTLS_E_NO_CERTIFICATE_FOUND:
	case GNUTLS_E_CERTIFICATE_REQUIRED:
		return EBADMSG;
	default:
		return EPROTO;
	}
}

/*
 * A failed handshake in which a PSK took part: refine @err, which
 * errors_from_gnutls() gave.  A wrong key shows as a binder that does not
 * verify (TLS 1.3: illegal_parameter) or a Finished that does not decrypt
 * (TLS 1.2: bad_record_mac, decrypt_error).
 */
int errors_from_psk(gnutls_session_t s, int gerr, int err,
		    enum psk_seen seen)
{
	int alert = -1;

	if (seen == PSK_NONE)
		return err;
	if (seen == PSK_UNKNOWN)
		return ESRCH;
	if (gerr == GNUTLS_E_FATAL_ALERT_RECEIVED)
		alert = gnutls_alert_get(s);
	if (alert == GNUTLS_A_UNKNOWN_PSK_IDENTITY)
		return ESRCH;
	switch (gerr) {
	case GNUTLS_E_RECEIVED_ILLEGAL_PARAMETER:
	case GNUTLS_E_DECRYPTION_FAILED:
	case GNUTLS_E_ERROR_IN_FINISHED_PACKET:
		return EBADE;
	}
	switch (alert) {
	case GNUTLS_A_ILLEGAL_PARAMETER:
	case GNUTLS_A_BAD_RECORD_MAC:
	case GNUTLS_A_DECRYPT_ERROR:
		return EBADE;
	}
	return err;
}

const char *errors_hint(int err)
{
	switch (err) {
	case EKEYEXPIRED:
		return "certificate expired";
	case ETIME:
		return "certificate not valid yet (check the clock)";
	case EACCES:
		return "certificate does not match the server name";
	case EKEYREJECTED:
		return "certificate issuer unknown or self-signed";
	case ENOKEY:
		return "certificate issuer not found (missing intermediate or unknown CA)";
	case EKEYREVOKED:
		return "certificate revoked";
	case EBADMSG:
		return "certificate refused";
	case EPROTONOSUPPORT:
		return "no shared protocol version";
	case EOPNOTSUPP:
		return "no shared cipher suite";
	case ECONNRESET:
		return "peer closed the connection";
	case ETIMEDOUT:
		return "handshake timed out";
	case ESRCH:
		return "unknown PSK identity";
	case EBADE:
		return "PSK refused: wrong key, or an identity the peer lacks";
	default:
		return "handshake failed";
	}
}
