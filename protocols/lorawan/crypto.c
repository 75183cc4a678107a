/* LoRaWAN 1.0.x cryptography on OpenSSL EVP AES-128-ECB; see crypto.h. */
#include <string.h>
#include <openssl/evp.h>
#include "protocols/lorawan/crypto.h"
#include "sim/log.h"

int fb_lw_crypto_init(struct fb_lw_crypto *c)
{
	memset(c, 0, sizeof(*c));
	c->enc = EVP_CIPHER_CTX_new();
	c->dec = EVP_CIPHER_CTX_new();
	if (!c->enc || !c->dec) {
		fb_lw_crypto_release(c);
		return fb_error("cannot create an 'AES-128' cipher context");
	}
	return 0;
}

void fb_lw_crypto_release(struct fb_lw_crypto *c)
{
	EVP_CIPHER_CTX_free(c->enc);
	EVP_CIPHER_CTX_free(c->dec);
	c->enc = c->dec = NULL;
	c->enc_keyed = c->dec_keyed = false;
}

/* Re-keys a context only when the key changed: the key schedule is the costly part. */
static int set_key(EVP_CIPHER_CTX *ctx, uint8_t cached[16], bool *keyed, const uint8_t key[16],
                   int encrypt)
{
	if (*keyed && !memcmp(cached, key, 16))
		return 0;
	*keyed = false;
	if (EVP_CipherInit_ex(ctx, EVP_aes_128_ecb(), NULL, key, NULL, encrypt) != 1)
		return -1;
	EVP_CIPHER_CTX_set_padding(ctx, 0);
	memcpy(cached, key, 16);
	*keyed = true;
	return 0;
}

static int run_block(EVP_CIPHER_CTX *ctx, const uint8_t in[16], uint8_t out[16])
{
	int outl = 0;
	if (EVP_CipherUpdate(ctx, out, &outl, in, 16) != 1 || outl != 16) {
		memset(out, 0, 16);
		return -1;
	}
	return 0;
}

int fb_lw_aes_encrypt(struct fb_lw_crypto *c, const uint8_t key[16], const uint8_t in[16],
                      uint8_t out[16])
{
	c->aes_blocks++;
	if (set_key(c->enc, c->enc_key, &c->enc_keyed, key, 1) < 0) {
		memset(out, 0, 16);
		return -1;
	}
	return run_block(c->enc, in, out);
}

int fb_lw_aes_decrypt(struct fb_lw_crypto *c, const uint8_t key[16], const uint8_t in[16],
                      uint8_t out[16])
{
	c->aes_blocks++;
	if (set_key(c->dec, c->dec_key, &c->dec_keyed, key, 0) < 0) {
		memset(out, 0, 16);
		return -1;
	}
	return run_block(c->dec, in, out);
}

/* RFC 4493 §2.3: K1 = L << 1 (xor Rb if the top bit of L was set), K2 = K1 << 1 likewise. */
static void shift_subkey(const uint8_t in[16], uint8_t out[16])
{
	uint8_t carry = 0;
	for (int i = 15; i >= 0; i--) {
		uint8_t b = in[i];
		out[i] = (uint8_t)((b << 1) | carry);
		carry = b >> 7;
	}
	if (in[0] & 0x80)
		out[15] ^= 0x87;
}

/* RFC 4493 §2.4 over a message given as two pieces (a header block such as B0, then the frame),
 * so callers need not copy the frame behind the header. */
static int cmac2(struct fb_lw_crypto *c, const uint8_t key[16], const uint8_t *head,
                 size_t head_len, const uint8_t *msg, size_t len, uint8_t tag[16])
{
	static const uint8_t zero[16];
	uint8_t l[16], k1[16], k2[16], x[16] = { 0 }, block[16];
	size_t total = head_len + len;
	int rc = 0;

	rc |= fb_lw_aes_encrypt(c, key, zero, l);
	shift_subkey(l, k1);
	shift_subkey(k1, k2);

	size_t nblocks = total ? (total + 15) / 16 : 1;
	bool complete = total && total % 16 == 0;
	size_t pos = 0;
	for (size_t b = 0; b < nblocks; b++) {
		size_t take = total - pos < 16 ? total - pos : 16;
		for (size_t i = 0; i < take; i++, pos++)
			block[i] = pos < head_len ? head[pos] : msg[pos - head_len];
		if (b == nblocks - 1) {
			if (complete) {
				for (int i = 0; i < 16; i++)
					block[i] ^= k1[i];
			} else {
				block[take] = 0x80;       /* padding 10^i */
				memset(block + take + 1, 0, 16 - take - 1);
				for (int i = 0; i < 16; i++)
					block[i] ^= k2[i];
			}
		}
		for (int i = 0; i < 16; i++)
			x[i] ^= block[i];
		rc |= fb_lw_aes_encrypt(c, key, x, x);
	}
	memcpy(tag, x, 16);
	return rc ? -1 : 0;
}

int fb_lw_cmac(struct fb_lw_crypto *c, const uint8_t key[16], const uint8_t *msg, size_t len,
               uint8_t tag[16])
{
	return cmac2(c, key, NULL, 0, msg, len, tag);
}

/* The B0 / Ai block layout shared by the MIC and the payload cipher (1.0.4 §4.3.3.1, §4.4). */
static void make_block(uint8_t b[16], uint8_t first, enum fb_lw_dir dir, uint32_t dev_addr,
                       uint32_t fcnt, uint8_t last)
{
	b[0] = first;
	memset(b + 1, 0, 4);
	b[5] = (uint8_t)dir;
	fb_lw_put_le(b + 6, dev_addr, 4);
	fb_lw_put_le(b + 10, fcnt, 4);
	b[14] = 0;
	b[15] = last;
}

int fb_lw_data_mic(struct fb_lw_crypto *c, const uint8_t nwk_s_key[16], enum fb_lw_dir dir,
                   uint32_t dev_addr, uint32_t fcnt, const uint8_t *msg, size_t len,
                   uint8_t mic[4])
{
	uint8_t b0[16], tag[16];
	make_block(b0, 0x49, dir, dev_addr, fcnt, (uint8_t)len);   /* LoRaWAN 1.0.4 §4.4: B0 */
	int rc = cmac2(c, nwk_s_key, b0, 16, msg, len, tag);
	memcpy(mic, tag, 4);
	return rc;
}

int fb_lw_payload_crypt(struct fb_lw_crypto *c, const uint8_t key[16], enum fb_lw_dir dir,
                        uint32_t dev_addr, uint32_t fcnt, const uint8_t *in, size_t len,
                        uint8_t *out)
{
	uint8_t a[16], s[16];
	int rc = 0;
	for (size_t pos = 0, i = 1; pos < len; i++) {
		make_block(a, 0x01, dir, dev_addr, fcnt, (uint8_t)i);   /* 1.0.4 §4.3.3.1: Ai */
		rc |= fb_lw_aes_encrypt(c, key, a, s);
		for (size_t k = 0; k < 16 && pos < len; k++, pos++)
			out[pos] = in[pos] ^ s[k];
	}
	return rc ? -1 : 0;
}

int fb_lw_join_mic(struct fb_lw_crypto *c, const uint8_t app_key[16], const uint8_t *msg,
                   size_t len, uint8_t mic[4])
{
	uint8_t tag[16];
	int rc = cmac2(c, app_key, NULL, 0, msg, len, tag);
	memcpy(mic, tag, 4);
	return rc;
}

static int join_accept_cipher(struct fb_lw_crypto *c, const uint8_t app_key[16],
                              const uint8_t *in, size_t len, uint8_t *out, bool network_side)
{
	if (len < 17 || (len - 1) % 16)
		return -1;
	int rc = 0;
	out[0] = in[0];
	for (size_t pos = 1; pos < len; pos += 16) {
		uint8_t blk[16];
		memcpy(blk, in + pos, 16);
		rc |= network_side ? fb_lw_aes_decrypt(c, app_key, blk, out + pos)
		                   : fb_lw_aes_encrypt(c, app_key, blk, out + pos);
	}
	return rc ? -1 : 0;
}

int fb_lw_join_accept_encrypt(struct fb_lw_crypto *c, const uint8_t app_key[16],
                              const uint8_t *plain, size_t len, uint8_t *wire)
{
	/* 1.0.4 §6.2.5: the network server encrypts with aes128_decrypt(AppKey, ...). */
	return join_accept_cipher(c, app_key, plain, len, wire, true);
}

int fb_lw_join_accept_decrypt(struct fb_lw_crypto *c, const uint8_t app_key[16],
                              const uint8_t *wire, size_t len, uint8_t *plain)
{
	/* ... so the end-device recovers it with aes128_encrypt. */
	return join_accept_cipher(c, app_key, wire, len, plain, false);
}

int fb_lw_session_keys(struct fb_lw_crypto *c, const uint8_t app_key[16], uint32_t join_nonce,
                       uint32_t net_id, uint16_t dev_nonce, uint8_t nwk_s_key[16],
                       uint8_t app_s_key[16])
{
	uint8_t b[16] = { 0 };
	int rc = 0;
	/* 1.0.4 §6.2.5: 0x0N | JoinNonce | NetID | DevNonce | pad16, all little-endian. */
	fb_lw_put_le(b + 1, join_nonce & 0xffffff, 3);
	fb_lw_put_le(b + 4, net_id & 0xffffff, 3);
	fb_lw_put_le(b + 7, dev_nonce, 2);
	b[0] = 0x01;
	rc |= fb_lw_aes_encrypt(c, app_key, b, nwk_s_key);
	b[0] = 0x02;
	rc |= fb_lw_aes_encrypt(c, app_key, b, app_s_key);
	return rc ? -1 : 0;
}
