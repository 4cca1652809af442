// SPDX-License-Identifier: GPL-2.0
/*
 * ktls - cipher table and per-direction AEAD state.
 *
 * Nonce and AAD rules (RFC 5288/7905 for TLS 1.2, RFC 8446 for TLS 1.3):
 *
 *   TLS 1.2, AES-GCM: nonce = salt(4) || explicit(8); the explicit part is
 *     sent in front of each record.  It starts at the iv of the crypto_info
 *     and is incremented per record, as the in-tree module does, so that a
 *     library handing over iv == rec_seq gets nonce == sequence number.
 *     AAD = seq(8) || type(1) || version(2) || plaintext length(2).
 *   TLS 1.2, AES-CCM: as AES-GCM (RFC 6655/7251).
 *   TLS 1.2, ChaCha20-Poly1305 (RFC 7905): nonce = iv(12) XOR (0^32 || seq),
 *     nothing explicit on the wire; AAD as for AES-GCM.
 *   TLS 1.3: nonce = (salt || iv) XOR (0^32 || seq); nothing explicit on
 *     the wire.  AAD = the 5-byte record header.
 *
 * The kernel's ccm() template takes a 16-byte IV: L' = 2 (a 3-byte counter
 * behind a 12-byte nonce), the nonce, then the counter, zeroed.
 */
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <crypto/aead.h>

#include "ktls.h"

#define CIPHER(t, ty, a, ...) {						\
	.type = TLS_CIPHER_##t,						\
	.info_size = sizeof(struct ty),					\
	.key_size = TLS_CIPHER_##t##_KEY_SIZE,				\
	.salt_size = TLS_CIPHER_##t##_SALT_SIZE,			\
	.iv_size = TLS_CIPHER_##t##_IV_SIZE,				\
	.tag_size = TLS_CIPHER_##t##_TAG_SIZE,				\
	.alg = a,							\
	__VA_ARGS__							\
}

/* SM4 and ARIA are here for the API; Debian's 6.1 kernel has neither
 * algorithm, so installing them fails with the crypto API's ENOENT. */
static const struct ktls_cipher ktls_ciphers[] = {
	CIPHER(AES_GCM_128, tls12_crypto_info_aes_gcm_128, "gcm(aes)"),
	CIPHER(AES_GCM_256, tls12_crypto_info_aes_gcm_256, "gcm(aes)"),
	CIPHER(AES_CCM_128, tls12_crypto_info_aes_ccm_128, "ccm(aes)",
	       .ccm_iv = true),
	CIPHER(CHACHA20_POLY1305, tls12_crypto_info_chacha20_poly1305,
	       "rfc7539(chacha20,poly1305)", .xor_nonce_12 = true),
	CIPHER(SM4_GCM, tls12_crypto_info_sm4_gcm, "gcm(sm4)"),
	CIPHER(SM4_CCM, tls12_crypto_info_sm4_ccm, "ccm(sm4)",
	       .ccm_iv = true),
	CIPHER(ARIA_GCM_128, tls12_crypto_info_aria_gcm_128, "gcm(aria)",
	       .tls12_only = true),
	CIPHER(ARIA_GCM_256, tls12_crypto_info_aria_gcm_256, "gcm(aria)",
	       .tls12_only = true),
};

const struct ktls_cipher *ktls_cipher_find(u16 type)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(ktls_ciphers); i++)
		if (ktls_ciphers[i].type == type)
			return &ktls_ciphers[i];
	return NULL;
}

/* Field offsets inside every struct tls12_crypto_info_*: the layout is
 * info | iv | key | salt | rec_seq, all byte arrays. */
static inline const u8 *info_iv(const struct tls_crypto_info *info)
{
	return (const u8 *)(info + 1);
}

static inline const u8 *info_key(const struct tls_crypto_info *info,
				 const struct ktls_cipher *c)
{
	return info_iv(info) + c->iv_size;
}

static inline const u8 *info_salt(const struct tls_crypto_info *info,
				  const struct ktls_cipher *c)
{
	return info_key(info, c) + c->key_size;
}

static inline const u8 *info_seq(const struct tls_crypto_info *info,
				 const struct ktls_cipher *c)
{
	return info_salt(info, c) + c->salt_size;
}

int ktls_prot_init(struct ktls_prot *prot, u16 version,
		   const struct ktls_cipher *cipher)
{
	if (version != TLS_1_2_VERSION && version != TLS_1_3_VERSION)
		return -EINVAL;
	if (cipher->tls12_only && version != TLS_1_2_VERSION)
		return -EINVAL;
	if (cipher->salt_size + cipher->iv_size != KTLS_NONCE_SIZE)
		return -EINVAL;

	prot->cipher = cipher;
	prot->version = version;
	if (version == TLS_1_3_VERSION) {
		prot->explicit_nonce = 0;
		prot->aad_size = KTLS_HEADER_SIZE;
		prot->tail = cipher->tag_size + 1;
	} else {
		prot->explicit_nonce = cipher->xor_nonce_12 ? 0 :
				       cipher->iv_size;
		prot->aad_size = KTLS_AAD_MAX;
		prot->tail = cipher->tag_size;
	}
	prot->prepend = KTLS_HEADER_SIZE + prot->explicit_nonce;
	return 0;
}

/* A keyed transform, or an error and NULL in *aead. */
static int ktls_dir_alloc(const struct ktls_prot *prot,
			  const struct tls_crypto_info *info,
			  struct crypto_aead **aead)
{
	const struct ktls_cipher *c = prot->cipher;
	int err;

	*aead = crypto_alloc_aead(c->alg, 0, 0);
	if (IS_ERR(*aead)) {
		err = PTR_ERR(*aead);
		*aead = NULL;
		pr_warn_ratelimited("ktls: cannot allocate %s (%d): is its crypto module available?\n",
				    c->alg, err);
		return err;
	}
	err = crypto_aead_setkey(*aead, info_key(info, c), c->key_size);
	if (err)
		goto err_free_aead;
	err = crypto_aead_setauthsize(*aead, c->tag_size);
	if (err)
		goto err_free_aead;
	return 0;

err_free_aead:
	crypto_free_aead(*aead);
	*aead = NULL;
	return err;
}

/* Key material, nonce and sequence number from an installed crypto_info. */
static void ktls_dir_load(struct ktls_dir *d, const struct ktls_prot *prot,
			  const struct tls_crypto_info *info)
{
	const struct ktls_cipher *c = prot->cipher;

	memcpy(&d->info, info, c->info_size);
	memcpy(d->nonce, info_salt(info, c), c->salt_size);
	memcpy(d->nonce + c->salt_size, info_iv(info), c->iv_size);
	memcpy(d->seq, info_seq(info, c), KTLS_SEQ_SIZE);
	d->exhausted = false;
}

int ktls_dir_init(struct ktls_dir *d, const struct ktls_prot *prot,
		  const struct tls_crypto_info *info)
{
	int err;

	crypto_init_wait(&d->wait);
	d->req = NULL;
	err = ktls_dir_alloc(prot, info, &d->aead);
	if (err) {
		memzero_explicit(d, sizeof(*d));
		return err;
	}
	ktls_dir_load(d, prot, info);
	return 0;
}

/*
 * TLS 1.3 KeyUpdate: switch the direction to a new key.  The new transform
 * is ready before the old one goes, so a failure leaves the old key in use.
 */
int ktls_dir_rekey(struct ktls_dir *d, const struct ktls_prot *prot,
		   const struct tls_crypto_info *info)
{
	struct crypto_aead *aead;
	int err;

	err = ktls_dir_alloc(prot, info, &aead);
	if (err)
		return err;
	ktls_dir_put_req(d);	/* it belongs to the old transform */
	crypto_free_aead(d->aead);
	d->aead = aead;
	memzero_explicit(&d->info, sizeof(d->info));
	ktls_dir_load(d, prot, info);
	return 0;
}

/*
 * The direction's request, allocated when it is first needed (an idle
 * socket has none) and dropped with ktls_dir_put_req().  TX records carry
 * requests of their own (tx_sw.c); this one serves RX.
 */
int ktls_dir_get_req(struct ktls_dir *d, const struct ktls_prot *prot,
		     gfp_t gfp)
{
	if (d->req)
		return 0;
	d->req = aead_request_alloc(d->aead, gfp);
	if (!d->req)
		return -ENOMEM;
	aead_request_set_callback(d->req, CRYPTO_TFM_REQ_MAY_BACKLOG |
				  CRYPTO_TFM_REQ_MAY_SLEEP,
				  crypto_req_done, &d->wait);
	aead_request_set_ad(d->req, prot->aad_size);
	return 0;
}

void ktls_dir_put_req(struct ktls_dir *d)
{
	if (d->req)
		aead_request_free(d->req);	/* zeroes it */
	d->req = NULL;
}

void ktls_dir_free(struct ktls_dir *d)
{
	ktls_dir_put_req(d);
	if (d->aead)
		crypto_free_aead(d->aead);	/* zeroes the key schedule */
	memzero_explicit(d, sizeof(*d));
}

void ktls_dir_nonce(const struct ktls_dir *d, const struct ktls_prot *prot,
		    u8 *nonce)
{
	int i;

	memcpy(nonce, d->nonce, KTLS_NONCE_SIZE);
	if (prot->explicit_nonce)
		return;
	for (i = 0; i < KTLS_SEQ_SIZE; i++)
		nonce[KTLS_NONCE_SIZE - KTLS_SEQ_SIZE + i] ^= d->seq[i];
}

/* The IV handed to the crypto API for a record with this nonce. */
void ktls_req_iv(const struct ktls_prot *prot, const u8 *nonce, u8 *iv)
{
	if (!prot->cipher->ccm_iv) {
		memcpy(iv, nonce, KTLS_NONCE_SIZE);
		return;
	}
	iv[0] = KTLS_IV_MAX - KTLS_NONCE_SIZE - 2;	/* L' = L - 1 = 2 */
	memcpy(iv + 1, nonce, KTLS_NONCE_SIZE);
	memset(iv + 1 + KTLS_NONCE_SIZE, 0, KTLS_IV_MAX - 1 - KTLS_NONCE_SIZE);
}

static bool be_increment(u8 *p, int len)
{
	while (len--) {
		if (++p[len])
			return false;
	}
	return true;	/* wrapped to zero */
}

/*
 * Move to the next record.  A wrapped sequence number would reuse a nonce,
 * so the direction is marked exhausted and refuses further records.
 */
int ktls_dir_advance(struct ktls_dir *d, const struct ktls_prot *prot)
{
	const struct ktls_cipher *c = prot->cipher;

	if (be_increment(d->seq, KTLS_SEQ_SIZE))
		d->exhausted = true;
	if (prot->explicit_nonce)
		be_increment(d->nonce + c->salt_size, c->iv_size);
	return d->exhausted ? -EBADMSG : 0;
}

void ktls_dir_aad(struct ktls_dir *d, const struct ktls_prot *prot,
		  u8 type, u32 plain_len, const u8 *header)
{
	if (prot->version == TLS_1_3_VERSION) {
		memcpy(d->aad, header, KTLS_HEADER_SIZE);
		return;
	}
	memcpy(d->aad, d->seq, KTLS_SEQ_SIZE);
	d->aad[8] = type;
	d->aad[9] = TLS_1_2_VERSION_MAJOR;
	d->aad[10] = TLS_1_2_VERSION_MINOR;
	d->aad[11] = plain_len >> 8;
	d->aad[12] = plain_len & 0xff;
}

/* The crypto_info as installed, with the current iv and sequence number. */
void ktls_dir_export(const struct ktls_dir *d, const struct ktls_prot *prot,
		     struct tls_crypto_info *out)
{
	const struct ktls_cipher *c = prot->cipher;
	u8 *base = (u8 *)out;

	memcpy(out, &d->info, c->info_size);
	memcpy(base + (info_iv(out) - base), d->nonce + c->salt_size,
	       c->iv_size);
	memcpy(base + (info_seq(out, c) - base), d->seq, KTLS_SEQ_SIZE);
}
