// SPDX-License-Identifier: GPL-2.0
/*
 * crosscheck - independent userspace TLS record protection on OpenSSL's
 * EVP AEAD interface.  See crosscheck.h for the record formats.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "crosscheck.h"

enum cc_mode {
	CC_MODE_GCM,	/* also ChaCha20-Poly1305: same EVP call sequence */
	CC_MODE_CCM,	/* lengths and tag must be known before the data */
};

/*
 * One row per cipher: how to key EVP and where the fields of the
 * struct tls12_crypto_info_* are.
 */
struct cc_cipher {
	uint16_t type;			/* TLS_CIPHER_* */
	const char *name;
	const EVP_CIPHER *(*evp)(void);
	enum cc_mode mode;
	bool explicit_nonce;		/* TLS 1.2 records carry 8 bytes */
	size_t info_size;
	size_t key_size, salt_size, iv_size, tag_size;
	size_t key_off, salt_off, iv_off, seq_off;
};

#define CC_ROW(_type, _name, _evp, _mode, _explicit, _st, _pfx)		\
	{								\
		.type = _type,						\
		.name = _name,						\
		.evp = _evp,						\
		.mode = _mode,						\
		.explicit_nonce = _explicit,				\
		.info_size = sizeof(struct _st),			\
		.key_size = _pfx##_KEY_SIZE,				\
		.salt_size = _pfx##_SALT_SIZE,				\
		.iv_size = _pfx##_IV_SIZE,				\
		.tag_size = _pfx##_TAG_SIZE,				\
		.key_off = offsetof(struct _st, key),			\
		.salt_off = offsetof(struct _st, salt),			\
		.iv_off = offsetof(struct _st, iv),			\
		.seq_off = offsetof(struct _st, rec_seq),		\
	}

static const struct cc_cipher cc_ciphers[] = {
	CC_ROW(TLS_CIPHER_AES_GCM_128, "AES-GCM-128", EVP_aes_128_gcm,
	       CC_MODE_GCM, true, tls12_crypto_info_aes_gcm_128,
	       TLS_CIPHER_AES_GCM_128),
	CC_ROW(TLS_CIPHER_AES_GCM_256, "AES-GCM-256", EVP_aes_256_gcm,
	       CC_MODE_GCM, true, tls12_crypto_info_aes_gcm_256,
	       TLS_CIPHER_AES_GCM_256),
	CC_ROW(TLS_CIPHER_AES_CCM_128, "AES-CCM-128", EVP_aes_128_ccm,
	       CC_MODE_CCM, true, tls12_crypto_info_aes_ccm_128,
	       TLS_CIPHER_AES_CCM_128),
	CC_ROW(TLS_CIPHER_CHACHA20_POLY1305, "ChaCha20-Poly1305",
	       EVP_chacha20_poly1305, CC_MODE_GCM, false,
	       tls12_crypto_info_chacha20_poly1305,
	       TLS_CIPHER_CHACHA20_POLY1305),
};

static const struct cc_cipher *cc_cipher_find(uint16_t type)
{
	size_t i;

	for (i = 0; i < sizeof(cc_ciphers) / sizeof(cc_ciphers[0]); i++)
		if (cc_ciphers[i].type == type)
			return &cc_ciphers[i];
	return NULL;
}

const char *cc_cipher_name(uint16_t cipher_type)
{
	const struct cc_cipher *c = cc_cipher_find(cipher_type);

	return c ? c->name : "unknown";
}

size_t cc_crypto_info_size(uint16_t cipher_type)
{
	const struct cc_cipher *c = cc_cipher_find(cipher_type);

	return c ? c->info_size : 0;
}

static void put_be64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = v & 0xff;
}

static uint64_t get_be64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

size_t cc_crypto_info_fill(union cc_crypto_info *ci, uint16_t version,
			   uint16_t cipher_type, const unsigned char *material,
			   uint64_t rec_seq)
{
	const struct cc_cipher *c = cc_cipher_find(cipher_type);
	unsigned char *base = (unsigned char *)ci;

	if (!c)
		return 0;
	memset(ci, 0, sizeof(*ci));
	ci->info.version = version;
	ci->info.cipher_type = cipher_type;
	memcpy(base + c->key_off, material, c->key_size);
	material += c->key_size;
	memcpy(base + c->salt_off, material, c->salt_size);
	material += c->salt_size;
	memcpy(base + c->iv_off, material, c->iv_size);
	put_be64(base + c->seq_off, rec_seq);
	return c->info_size;
}

const unsigned char *cc_crypto_info_field(const union cc_crypto_info *ci,
					  enum cc_field field, size_t *len)
{
	const struct cc_cipher *c = cc_cipher_find(ci->info.cipher_type);
	const unsigned char *base = (const unsigned char *)ci;

	if (!c)
		return NULL;
	switch (field) {
	case CC_KEY:
		*len = c->key_size;
		return base + c->key_off;
	case CC_SALT:
		*len = c->salt_size;
		return base + c->salt_off;
	case CC_IV:
		*len = c->iv_size;
		return base + c->iv_off;
	case CC_REC_SEQ:
		*len = 8;
		return base + c->seq_off;
	}
	return NULL;
}

bool cc_explicit_nonce(uint16_t version, uint16_t cipher_type)
{
	const struct cc_cipher *c = cc_cipher_find(cipher_type);

	return c && version == TLS_1_2_VERSION && c->explicit_nonce;
}

static bool cc_has_explicit(const struct cc_state *st)
{
	return st->version == TLS_1_2_VERSION && st->cipher->explicit_nonce;
}

size_t cc_record_overhead(uint16_t version, uint16_t cipher_type)
{
	const struct cc_cipher *c = cc_cipher_find(cipher_type);
	size_t n = CC_HDR_LEN;

	if (!c)
		return 0;
	n += c->tag_size;
	if (version == TLS_1_3_VERSION)
		n += 1;
	else if (c->explicit_nonce)
		n += 8;
	return n;
}

int cc_init(struct cc_state *st, const void *crypto_info, size_t len)
{
	const struct tls_crypto_info *info = crypto_info;
	const unsigned char *base = crypto_info;
	const struct cc_cipher *c;

	memset(st, 0, sizeof(*st));
	if (len < sizeof(*info))
		return -EINVAL;
	if (info->version != TLS_1_2_VERSION &&
	    info->version != TLS_1_3_VERSION)
		return -EINVAL;
	c = cc_cipher_find(info->cipher_type);
	if (!c || len != c->info_size)
		return -EINVAL;
	if (c->salt_size + c->iv_size != sizeof(st->nonce))
		return -EINVAL;

	st->cipher = c;
	st->version = info->version;
	memcpy(st->key, base + c->key_off, c->key_size);
	memcpy(st->nonce, base + c->salt_off, c->salt_size);
	memcpy(st->nonce + c->salt_size, base + c->iv_off, c->iv_size);
	st->seq = get_be64(base + c->seq_off);
	st->evp = EVP_CIPHER_CTX_new();
	return st->evp ? 0 : -ENOMEM;
}

void cc_free(struct cc_state *st)
{
	if (st->evp)
		EVP_CIPHER_CTX_free(st->evp);
	OPENSSL_cleanse(st, sizeof(*st));
}

/* The per-record nonce: salt || explicit (1.2 GCM/CCM) or iv ^ seq. */
static void cc_nonce(const struct cc_state *st, const unsigned char *explicit,
		     unsigned char nonce[12])
{
	unsigned char seq[8];
	int i;

	if (explicit) {
		memcpy(nonce, st->nonce, 4);
		memcpy(nonce + 4, explicit, 8);
		return;
	}
	memcpy(nonce, st->nonce, 12);
	put_be64(seq, st->seq);
	for (i = 0; i < 8; i++)
		nonce[4 + i] ^= seq[i];
}

/* The 8-byte iv of a 1.2 explicit-nonce cipher, as a big-endian counter. */
static void cc_iv_increment(struct cc_state *st)
{
	int i;

	for (i = 11; i >= 4; i--)
		if (++st->nonce[i])
			break;
}

/*
 * One AEAD operation.  @in and @out may be the same buffer.  On encrypt the
 * tag is written to @tag, on decrypt it is checked against @tag.
 */
static int cc_aead(struct cc_state *st, bool enc, const unsigned char *nonce,
		   const unsigned char *aad, size_t aad_len,
		   const unsigned char *in, size_t len, unsigned char *out,
		   unsigned char *tag)
{
	const struct cc_cipher *c = st->cipher;
	EVP_CIPHER_CTX *ctx = st->evp;
	int outl, ok;

	if (!EVP_CIPHER_CTX_reset(ctx) ||
	    !EVP_CipherInit_ex(ctx, c->evp(), NULL, NULL, NULL, enc) ||
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL))
		return -EIO;
	if (c->mode == CC_MODE_CCM &&
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, c->tag_size,
				 enc ? NULL : tag))
		return -EIO;
	if (!EVP_CipherInit_ex(ctx, NULL, NULL, st->key, nonce, enc))
		return -EIO;
	if (c->mode == CC_MODE_CCM &&
	    !EVP_CipherUpdate(ctx, NULL, &outl, NULL, (int)len))
		return -EIO;
	if (!EVP_CipherUpdate(ctx, NULL, &outl, aad, (int)aad_len))
		return -EIO;

	if (c->mode == CC_MODE_CCM) {
		/* CCM verifies the tag inside the one data update. */
		ok = EVP_CipherUpdate(ctx, out, &outl, in, (int)len);
		if (!ok)
			return enc ? -EIO : -EBADMSG;
		if (enc && !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG,
						c->tag_size, tag))
			return -EIO;
		return 0;
	}

	if (len && !EVP_CipherUpdate(ctx, out, &outl, in, (int)len))
		return -EIO;
	if (!enc && !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG,
					 c->tag_size, tag))
		return -EIO;
	ok = EVP_CipherFinal_ex(ctx, out + len, &outl);
	if (!enc)
		return ok > 0 ? 0 : -EBADMSG;
	if (ok <= 0 || !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG,
					    c->tag_size, tag))
		return -EIO;
	return 0;
}

static void cc_header(unsigned char *hdr, uint8_t type, size_t len)
{
	hdr[0] = type;
	hdr[1] = 3;
	hdr[2] = 3;
	hdr[3] = (len >> 8) & 0xff;
	hdr[4] = len & 0xff;
}

/* TLS 1.2 AAD: seq || type || version || plaintext length. */
static void cc_aad12(const struct cc_state *st, unsigned char aad[13],
		     uint8_t type, size_t len)
{
	put_be64(aad, st->seq);
	cc_header(aad + 8, type, len);
}

/*
 * Seal @len bytes at @data as a record body: on TLS 1.3 followed by the
 * inner type byte @type (none when @type is negative) and @pad zeros, on
 * TLS 1.2 with @type in the header.  No limit on the size but the header's.
 */
static ssize_t cc_seal_body(struct cc_state *st, int type, const void *data,
			    size_t len, size_t pad, void *out, size_t cap)
{
	const struct cc_cipher *c = st->cipher;
	unsigned char *rec = out, *body, nonce[12], aad[13];
	size_t inner, total, explicit = 0;
	int err;

	if (st->version == TLS_1_3_VERSION) {
		inner = len + (type >= 0) + pad;
	} else {
		if (pad || type < 0)
			return -EINVAL;
		inner = len;
		if (cc_has_explicit(st))
			explicit = 8;
	}
	total = CC_HDR_LEN + explicit + inner + c->tag_size;
	if (total - CC_HDR_LEN > 0xffff)
		return -EMSGSIZE;
	if (total > cap)
		return -ENOSPC;

	body = rec + CC_HDR_LEN + explicit;
	memmove(body, data, len);
	if (st->version == TLS_1_3_VERSION) {
		if (type >= 0)
			body[len] = type;
		memset(body + len + (type >= 0), 0, pad);
		cc_header(rec, CC_TYPE_DATA, total - CC_HDR_LEN);
		cc_nonce(st, NULL, nonce);
		err = cc_aead(st, true, nonce, rec, CC_HDR_LEN, body, inner,
			      body, body + inner);
	} else {
		cc_header(rec, type, total - CC_HDR_LEN);
		if (explicit)
			memcpy(rec + CC_HDR_LEN, st->nonce + 4, 8);
		cc_nonce(st, explicit ? rec + CC_HDR_LEN : NULL, nonce);
		cc_aad12(st, aad, type, len);
		err = cc_aead(st, true, nonce, aad, sizeof(aad), body, inner,
			      body, body + inner);
	}
	if (err)
		return err;
	if (explicit)
		cc_iv_increment(st);
	st->seq++;
	return total;
}

ssize_t cc_seal(struct cc_state *st, uint8_t type, const void *data,
		size_t len, size_t pad, void *out, size_t cap)
{
	if (st->version == TLS_1_3_VERSION && len + pad > CC_MAX_PLAINTEXT)
		return -EMSGSIZE;
	if (st->version != TLS_1_3_VERSION && (pad || len > CC_MAX_PLAINTEXT))
		return -EINVAL;
	return cc_seal_body(st, type, data, len, pad, out, cap);
}

ssize_t cc_seal_inner(struct cc_state *st, uint8_t type, const void *inner,
		      size_t len, void *out, size_t cap)
{
	return cc_seal_body(st, st->version == TLS_1_3_VERSION ? -1 : type,
			    inner, len, 0, out, cap);
}

size_t cc_record_len(const void *hdr)
{
	const unsigned char *h = hdr;

	return CC_HDR_LEN + ((size_t)h[3] << 8 | h[4]);
}

ssize_t cc_open(struct cc_state *st, const void *rec, size_t len,
		uint8_t *type, void *out, size_t cap)
{
	const struct cc_cipher *c = st->cipher;
	const unsigned char *r = rec, *body, *tag;
	unsigned char nonce[12], aad[13], *pt = out;
	size_t explicit = cc_has_explicit(st) ? 8 : 0;
	size_t payload, clen;
	int err;

	if (len < CC_HDR_LEN || r[1] != 3 || r[2] != 3)
		return -EINVAL;
	payload = len - CC_HDR_LEN;
	if (cc_record_len(r) != len)
		return -EINVAL;
	if (st->version == TLS_1_3_VERSION && r[0] != CC_TYPE_DATA)
		return -EINVAL;
	if (payload < explicit + c->tag_size +
		      (st->version == TLS_1_3_VERSION))
		return -EBADMSG;
	clen = payload - explicit - c->tag_size;
	if (clen > CC_MAX_PLAINTEXT + (st->version == TLS_1_3_VERSION))
		return -EMSGSIZE;
	if (clen > cap)
		return -ENOSPC;

	body = r + CC_HDR_LEN + explicit;
	tag = body + clen;
	if (st->version == TLS_1_3_VERSION) {
		cc_nonce(st, NULL, nonce);
		err = cc_aead(st, false, nonce, r, CC_HDR_LEN, body, clen, pt,
			      (unsigned char *)tag);
	} else {
		cc_nonce(st, explicit ? r + CC_HDR_LEN : NULL, nonce);
		cc_aad12(st, aad, r[0], clen);
		err = cc_aead(st, false, nonce, aad, sizeof(aad), body, clen,
			      pt, (unsigned char *)tag);
	}
	if (err)
		return err;

	if (st->version == TLS_1_3_VERSION) {
		/* Strip the zero padding; the last non-zero byte is the type. */
		while (clen && !pt[clen - 1])
			clen--;
		if (!clen)
			return -EBADMSG;
		*type = pt[--clen];
	} else {
		*type = r[0];
	}

	if (explicit) {
		memcpy(st->last_explicit, r + CC_HDR_LEN, 8);
		cc_iv_increment(st);
	}
	st->seq++;
	return clen;
}
