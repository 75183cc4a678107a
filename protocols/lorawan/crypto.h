/* LoRaWAN 1.0.x cryptography: AES-128 (OpenSSL EVP, ECB single blocks), AES-CMAC (RFC 4493),
 * the data-frame MIC and FRMPayload cipher (LoRaWAN 1.0.4 §4.3.3, §4.4), the join MICs, the
 * join-accept cipher and the session keys (§6.2.4, §6.2.5).
 *
 * A struct fb_lw_crypto holds two reusable EVP contexts (encrypt, decrypt) and remembers the key
 * each was last set to, so a hot path that reuses a key pays no key schedule and nothing here
 * allocates after fb_lw_crypto_init(). One context per caller (not thread safe).
 *
 * Byte order: every multi-byte value is passed as a host integer and written little-endian where
 * the spec puts it on the wire. Every function returns 0, or -1 if OpenSSL failed (never expected
 * with valid contexts; the output is then zeroed). */
#ifndef FB_LW_CRYPTO_H
#define FB_LW_CRYPTO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FB_LW_KEY_LEN 16

struct evp_cipher_ctx_st;

struct fb_lw_crypto {
	struct evp_cipher_ctx_st *enc, *dec;
	uint8_t enc_key[FB_LW_KEY_LEN], dec_key[FB_LW_KEY_LEN];
	bool enc_keyed, dec_keyed;
	uint64_t aes_blocks;        /* blocks through AES, for the bench */
};

enum fb_lw_dir { FB_LW_UP = 0, FB_LW_DOWN = 1 };

/* Returns 0, or -1 after fb_error when OpenSSL cannot give a context. */
int fb_lw_crypto_init(struct fb_lw_crypto *c);
void fb_lw_crypto_release(struct fb_lw_crypto *c);

/* One AES-128 block (FIPS-197). */
int fb_lw_aes_encrypt(struct fb_lw_crypto *c, const uint8_t key[16], const uint8_t in[16],
                      uint8_t out[16]);
int fb_lw_aes_decrypt(struct fb_lw_crypto *c, const uint8_t key[16], const uint8_t in[16],
                      uint8_t out[16]);

/* AES-CMAC (RFC 4493) of msg[0..len): the full 16-byte tag. */
int fb_lw_cmac(struct fb_lw_crypto *c, const uint8_t key[16], const uint8_t *msg, size_t len,
               uint8_t tag[16]);

/* Data-frame MIC (1.0.4 §4.4): the first 4 bytes of CMAC(NwkSKey, B0 | msg), msg = MHDR..FRMPayload,
 * B0 = 0x49 | 0^4 | dir | DevAddr | FCnt (32 bits) | 0x00 | len(msg). len(msg) must be < 256. */
int fb_lw_data_mic(struct fb_lw_crypto *c, const uint8_t nwk_s_key[16], enum fb_lw_dir dir,
                   uint32_t dev_addr, uint32_t fcnt, const uint8_t *msg, size_t len,
                   uint8_t mic[4]);

/* FRMPayload encryption, which is also decryption (1.0.4 §4.3.3.1): XOR with AES(K, Ai),
 * Ai = 0x01 | 0^4 | dir | DevAddr | FCnt (32 bits) | 0x00 | i, i = 1.. . in and out may alias. */
int fb_lw_payload_crypt(struct fb_lw_crypto *c, const uint8_t key[16], enum fb_lw_dir dir,
                        uint32_t dev_addr, uint32_t fcnt, const uint8_t *in, size_t len,
                        uint8_t *out);

/* Join-request and join-accept MIC (1.0.4 §6.2.4, §6.2.5): first 4 bytes of CMAC(AppKey, msg). */
int fb_lw_join_mic(struct fb_lw_crypto *c, const uint8_t app_key[16], const uint8_t *msg,
                   size_t len, uint8_t mic[4]);

/* Join-accept cipher (1.0.4 §6.2.5). `len` is the whole PHYPayload (17 or 33 bytes: MHDR, then a
 * multiple of 16). The network side "encrypts" with AES decrypt so that the device, which has
 * only AES encrypt, recovers the plaintext with AES encrypt. The MHDR byte is copied. Returns -1
 * (no error printed) when len is not 1 + 16k. in and out may alias. */
int fb_lw_join_accept_encrypt(struct fb_lw_crypto *c, const uint8_t app_key[16],
                              const uint8_t *plain, size_t len, uint8_t *wire);
int fb_lw_join_accept_decrypt(struct fb_lw_crypto *c, const uint8_t app_key[16],
                              const uint8_t *wire, size_t len, uint8_t *plain);

/* Session keys (1.0.4 §6.2.5): NwkSKey = AES(AppKey, 0x01 | JoinNonce(3) | NetID(3) | DevNonce(2)
 * | pad16), AppSKey the same with 0x02. join_nonce and net_id use their low 24 bits. */
int fb_lw_session_keys(struct fb_lw_crypto *c, const uint8_t app_key[16], uint32_t join_nonce,
                       uint32_t net_id, uint16_t dev_nonce, uint8_t nwk_s_key[16],
                       uint8_t app_s_key[16]);

/* Little-endian helpers shared by the LoRaWAN modules. */
static inline void fb_lw_put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint64_t fb_lw_get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

#endif
