/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ktls - the TLS record layer's constants, a direction's record layout,
 * and the RX record parser's pure functions (rx_parse.c).
 *
 * Nothing here touches a socket, a page or the crypto API: this header and
 * rx_parse.c need only <linux/types.h>, <linux/errno.h> and the uapi
 * headers, so the same files also build in userspace, where
 * selftests/fuzz feeds them fuzzed input (selftests/fuzz/shim provides
 * the kernel's u8/u16/u32).
 */
#ifndef _KTLS_RECORD_H
#define _KTLS_RECORD_H

#include <linux/types.h>
#include <linux/tls.h>

#include <ktls.h>		/* uapi/ktls.h */

#define KTLS_HEADER_SIZE	5	/* type(1) version(2) length(2) */
#define KTLS_MAX_PAYLOAD	16384	/* 2^14 bytes of plaintext */
#define KTLS_NONCE_SIZE		12	/* every TLS AEAD uses a 96-bit nonce */
#define KTLS_IV_MAX		16	/* the crypto API's IV: CCM adds L' and a counter */
#define KTLS_SEQ_SIZE		8
#define KTLS_AAD_MAX		13	/* TLS 1.2: seq(8) type(1) ver(2) len(2) */
#define KTLS_TAG_MAX		16

#define KTLS_TYPE_CHANGE_CIPHER	20
#define KTLS_TYPE_ALERT		21
#define KTLS_TYPE_HANDSHAKE	22
#define KTLS_TYPE_DATA		23

/* Handshake message types the record layer looks at (TLS 1.3). */
#define KTLS_HANDSHAKE_NEW_SESSION_TICKET	4
/* and KTLS_HANDSHAKE_KEY_UPDATE (uapi/ktls.h) */

/* A handshake message's header: type(1) length(3). */
#define KTLS_HANDSHAKE_HEADER_SIZE	4

/* How a record of this cipher is built; one static entry per cipher. */
struct ktls_cipher {
	u16 type;		/* TLS_CIPHER_* */
	u16 info_size;		/* exact size of its struct tls12_crypto_info_* */
	u8 key_size;
	u8 salt_size;
	u8 iv_size;		/* the crypto_info iv field */
	u8 tag_size;
	bool xor_nonce_12;	/* TLS 1.2 also XORs seq into a 12-byte iv */
	bool ccm_iv;		/* request IV is L' || nonce || counter */
	bool tls12_only;
	const char *alg;	/* kernel crypto API name */
};

/* Per-direction constants derived from (version, cipher). */
struct ktls_prot {
	const struct ktls_cipher *cipher;
	u16 version;		/* TLS_1_2_VERSION or TLS_1_3_VERSION */
	u8 prepend;		/* header + explicit nonce on the wire */
	u8 tail;		/* inner type byte (1.3) + tag */
	u8 aad_size;
	u8 explicit_nonce;	/* bytes of nonce carried in each record */
};

/*
 * A read-only view of bytes spread over equal chunks of 1 << shift bytes:
 * chunk[i] holds bytes [i << shift, (i + 1) << shift).  In the kernel the
 * chunks are the RX buffer's pages; the fuzzer uses any power of two, so
 * that every read across a chunk boundary is exercised.
 */
struct ktls_rx_view {
	const u8 *const *chunk;
	unsigned int shift;
};

static inline u8 ktls_rx_byte(const struct ktls_rx_view *v, u32 pos)
{
	return v->chunk[pos >> v->shift][pos & ((1U << v->shift) - 1)];
}

/*
 * The framer's next step for the record at the head of the stream
 * (ktls_rx_frame): the parser waits until the step's bytes are at hand.
 */
enum ktls_rx_step {
	KTLS_RX_MORE,		/* fewer than *need bytes at hand: wait */
	KTLS_RX_HEADER,		/* judge the header (ktls_rx_parse_header) */
	KTLS_RX_WHOLE,		/* the whole record is at hand */
};

/* rx_parse.c */
enum ktls_rx_step ktls_rx_frame(const struct ktls_prot *prot, u32 rec_len,
				u32 have, u32 *need);
int ktls_rx_parse_header(const struct ktls_prot *prot, const u8 *hdr,
			 u32 *rec_len);
int ktls_rx_strip_padding(const struct ktls_rx_view *v, u32 base, u32 *len,
			  u8 *type);
bool ktls_rx_key_update(const struct ktls_rx_view *v, u32 base, u32 len,
			u8 type);
bool ktls_rx_only_tickets(const struct ktls_rx_view *v, u32 off, u32 len);

#endif /* _KTLS_RECORD_H */
