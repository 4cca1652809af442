/* SPDX-License-Identifier: GPL-2.0 */
/*
 * crosscheck - a userspace TLS record layer, written independently of the
 * kernel, used to check what ktls puts on the wire and to feed it records.
 *
 * It only does the record protection of TLS 1.2 (AEAD ciphers) and TLS 1.3,
 * keyed exactly the way the kernel is keyed: from a struct
 * tls12_crypto_info_* as passed to setsockopt(SOL_TLS, TLS_TX/TLS_RX).
 *
 *   TLS 1.2, AES-GCM / AES-CCM:
 *     record = type(1) 0x03 0x03 len(2) explicit_nonce(8) ciphertext tag
 *     nonce  = salt(4) || explicit_nonce(8)
 *     aad    = seq(8) || type(1) || 0x03 0x03 || plaintext_len(2)
 *   TLS 1.2, ChaCha20-Poly1305 (RFC 7905): no explicit nonce,
 *     nonce = iv(12) XOR (0^4 || seq(8)), same aad.
 *   TLS 1.3 (any cipher):
 *     record = 23 0x03 0x03 len(2) ciphertext tag
 *     nonce  = (salt || iv) XOR (0^4 || seq(8))
 *     aad    = the 5-byte record header
 *     inner plaintext = data || content_type(1) || zero padding
 *
 * The explicit nonce we put on records we seal is the crypto_info iv,
 * incremented (big endian) after each record: that is what the kernel does
 * on TX.  When opening a TLS 1.2 record the explicit nonce is taken from the
 * wire, like any receiver, and reported in cc_state.last_explicit so tests
 * can check the sender's rule.
 *
 * Each cipher is one row of a table in crosscheck.c.
 */
#ifndef KTLS_CROSSCHECK_H
#define KTLS_CROSSCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/tls.h>

#define CC_HDR_LEN		5
#define CC_MAX_PLAINTEXT	16384
/* TLS 1.3 allows up to 255 bytes of padding + type + 16 tag; 1.2 8 + 16. */
#define CC_MAX_RECORD		(CC_HDR_LEN + CC_MAX_PLAINTEXT + 256 + 16)

#define CC_TYPE_CHANGE_CIPHER	20
#define CC_TYPE_ALERT		21
#define CC_TYPE_HANDSHAKE	22
#define CC_TYPE_DATA		23

/* Large enough for every struct tls12_crypto_info_* this knows. */
union cc_crypto_info {
	struct tls_crypto_info info;
	struct tls12_crypto_info_aes_gcm_128 gcm128;
	struct tls12_crypto_info_aes_gcm_256 gcm256;
	struct tls12_crypto_info_aes_ccm_128 ccm128;
	struct tls12_crypto_info_chacha20_poly1305 chacha;
};

struct cc_cipher;

struct cc_state {
	const struct cc_cipher *cipher;
	uint16_t version;		/* TLS_1_2_VERSION or TLS_1_3_VERSION */
	unsigned char key[32];
	unsigned char nonce[12];	/* salt || iv, iv advanced on 1.2 */
	uint64_t seq;			/* next record sequence number */
	unsigned char last_explicit[8];	/* explicit nonce of last opened */
	void *evp;			/* EVP_CIPHER_CTX */
};

/* crosscheck.c */
const char *cc_cipher_name(uint16_t cipher_type);
/* sizeof the struct tls12_crypto_info_* for this cipher, 0 if unknown. */
size_t cc_crypto_info_size(uint16_t cipher_type);
/*
 * Fill @ci for (@version, @cipher_type): key, salt and iv are taken in that
 * order from @material (at least 64 bytes), rec_seq is set to @rec_seq.
 * Returns the struct size, 0 for an unknown cipher.
 */
size_t cc_crypto_info_fill(union cc_crypto_info *ci, uint16_t version,
			   uint16_t cipher_type, const unsigned char *material,
			   uint64_t rec_seq);
enum cc_field { CC_KEY, CC_SALT, CC_IV, CC_REC_SEQ };
/* Where @field of the crypto info @ci is, and its size; NULL if unknown. */
const unsigned char *cc_crypto_info_field(const union cc_crypto_info *ci,
					  enum cc_field field, size_t *len);
/* Whether (@version, @cipher_type) records carry an explicit nonce. */
bool cc_explicit_nonce(uint16_t version, uint16_t cipher_type);
/* Bytes a record adds to its plaintext (header, nonce, tag, 1.3 type). */
size_t cc_record_overhead(uint16_t version, uint16_t cipher_type);

/* Returns 0 or a negative errno (-EINVAL for what it cannot handle). */
int cc_init(struct cc_state *st, const void *crypto_info, size_t len);
void cc_free(struct cc_state *st);

/*
 * Protect @len bytes (<= CC_MAX_PLAINTEXT) of content @type into a record
 * at @out; @pad zero bytes of TLS 1.3 padding (must be 0 on 1.2).
 * Returns the record length or a negative errno.
 */
ssize_t cc_seal(struct cc_state *st, uint8_t type, const void *data,
		size_t len, size_t pad, void *out, size_t cap);

/*
 * For tests of a receiver's limits: protect exactly @len bytes at @inner
 * as the record's plaintext, with no size limit but the header's 16 bits.
 * On TLS 1.3 @inner is the whole inner plaintext (content, type, padding:
 * nothing is appended, so it may be empty or all zeros) and @type is
 * ignored; on TLS 1.2 @type goes in the header.  Returns as cc_seal.
 */
ssize_t cc_seal_inner(struct cc_state *st, uint8_t type, const void *inner,
		      size_t len, void *out, size_t cap);

/*
 * Length of the record whose header starts at @hdr (5 bytes), header
 * included.
 */
size_t cc_record_len(const void *hdr);

/*
 * Check and decrypt the complete record of @len bytes at @rec.  Returns the
 * plaintext length and the content type in *@type, or a negative errno:
 * -EINVAL bad header, -EMSGSIZE too long, -EBADMSG authentication or format
 * failure, -ENOSPC @cap too small.  The sequence number advances only on
 * success.
 */
ssize_t cc_open(struct cc_state *st, const void *rec, size_t len,
		uint8_t *type, void *out, size_t cap);

#endif /* KTLS_CROSSCHECK_H */
