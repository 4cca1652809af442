// SPDX-License-Identifier: GPL-2.0
/*
 * ktls - the RX record parser's decisions, apart from the socket.
 *
 * rx_sw.c owns the TCP queue, the staging buffer and the crypto; it asks
 * this file what to do with the bytes it has: how many it needs before it
 * can go on (ktls_rx_frame), whether a header is acceptable and how long
 * its record is (ktls_rx_parse_header), and, once a TLS 1.3 record is
 * decrypted, where its plaintext ends and what it holds (inner type and
 * padding, KeyUpdate, NewSessionTicket messages).  The device RX path
 * needs the same answers.
 *
 * Every function here is pure: it reads only its arguments, and plaintext
 * through a struct ktls_rx_view, so the file builds unchanged in userspace
 * and selftests/fuzz fuzzes it (see Documentation/testing.md).
 */
#include <linux/errno.h>

#include "record.h"

/*
 * @have bytes of the record at the head of the stream are at hand
 * (staged or queued); @rec_len is 0 until its header has been judged, then
 * the whole record's length.  A header is judged together with its
 * explicit nonce, so the first step waits for the prepend.  *need is what
 * the step wants at hand, never less than the prepend nor more than the
 * largest record ktls_rx_parse_header() accepts.
 */
enum ktls_rx_step ktls_rx_frame(const struct ktls_prot *prot, u32 rec_len,
				u32 have, u32 *need)
{
	*need = rec_len ? rec_len : prot->prepend;
	if (have < *need)
		return KTLS_RX_MORE;
	return rec_len ? KTLS_RX_WHOLE : KTLS_RX_HEADER;
}

/*
 * Check a record's header, in the in-tree module's order: the length
 * against the largest record (EMSGSIZE), then against the explicit nonce
 * and tag every record carries (EBADMSG), then the legacy version
 * (EINVAL).  A TLS 1.3 record too short for its inner type passes here and
 * fails decryption, as there.  On success *rec_len is the whole record's
 * length, header included.
 */
int ktls_rx_parse_header(const struct ktls_prot *prot, const u8 *hdr,
			 u32 *rec_len)
{
	u32 max = KTLS_MAX_PAYLOAD + prot->explicit_nonce + prot->tail;
	u32 min = prot->explicit_nonce + prot->cipher->tag_size;
	u32 len = (hdr[3] << 8) | hdr[4];

	if (len > max)
		return -EMSGSIZE;
	if (len < min)
		return -EBADMSG;
	if (hdr[1] != TLS_1_2_VERSION_MAJOR || hdr[2] != TLS_1_2_VERSION_MINOR)
		return -EINVAL;
	*rec_len = KTLS_HEADER_SIZE + len;
	return 0;
}

/*
 * TLS 1.3: the content type is the last non-zero byte of the plaintext
 * [base, base + *len); the zeros after it are padding.  On success *len is
 * the length of the content and *type its type; a plaintext of zeros only
 * is EBADMSG.
 */
int ktls_rx_strip_padding(const struct ktls_rx_view *v, u32 base, u32 *len,
			  u8 *type)
{
	u32 pos = *len;

	while (pos) {
		u8 b = ktls_rx_byte(v, base + --pos);

		if (b) {
			*type = b;
			*len = pos;
			return 0;
		}
	}
	return -EBADMSG;
}

/*
 * TLS 1.3: does the content [base, base + len) of type @type start with a
 * KeyUpdate?  After it the peer's records use its next key.
 */
bool ktls_rx_key_update(const struct ktls_rx_view *v, u32 base, u32 len,
			u8 type)
{
	return type == KTLS_TYPE_HANDSHAKE && len &&
	       ktls_rx_byte(v, base) == KTLS_HANDSHAKE_KEY_UPDATE;
}

/*
 * Does [off, off + len) hold whole NewSessionTicket messages and nothing
 * else?  Each message is type(1) length(3) body; a message running past
 * @len, or any other message, is a no.  Nothing past @len is read.
 */
bool ktls_rx_only_tickets(const struct ktls_rx_view *v, u32 off, u32 len)
{
	u32 body;

	if (!len)
		return false;
	while (len) {
		if (len < KTLS_HANDSHAKE_HEADER_SIZE ||
		    ktls_rx_byte(v, off) != KTLS_HANDSHAKE_NEW_SESSION_TICKET)
			return false;
		body = ktls_rx_byte(v, off + 1) << 16 |
		       ktls_rx_byte(v, off + 2) << 8 | ktls_rx_byte(v, off + 3);
		if (body > len - KTLS_HANDSHAKE_HEADER_SIZE)
			return false;
		off += KTLS_HANDSHAKE_HEADER_SIZE + body;
		len -= KTLS_HANDSHAKE_HEADER_SIZE + body;
	}
	return true;
}
