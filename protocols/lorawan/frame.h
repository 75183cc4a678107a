/* LoRaWAN 1.0.x frames (1.0.4 §4, §5, §6.2): data frames (MHDR | FHDR | FPort | FRMPayload | MIC),
 * join-request, join-accept with CFList, and the MAC commands a class A device uses. Pure codec:
 * caller-owned buffers, no allocation; parsing never reads past `len`.
 * Multi-byte fields are host integers here, little-endian on the wire (1.0.4 §4). */
#ifndef FB_LW_FRAME_H
#define FB_LW_FRAME_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "protocols/lorawan/crypto.h"

#define FB_LW_MAX_PHY 256          /* no EU868 PHYPayload exceeds 255 bytes */
#define FB_LW_MAX_FOPTS 15

enum fb_lw_err {
	FB_LW_OK = 0,
	FB_LW_ENOSPC = -1,     /* output buffer too small, or a field too long for the frame */
	FB_LW_ESHORT = -2,     /* frame shorter than its header says */
	FB_LW_EMTYPE = -3,     /* not the expected message type */
	FB_LW_EMAJOR = -4,     /* MHDR Major is not LoRaWAN R1 */
	FB_LW_EMIC = -5,       /* MIC mismatch */
	FB_LW_EINVAL = -6,     /* bad field value or malformed MAC command list */
	FB_LW_ECRYPTO = -7     /* OpenSSL failed */
};
const char *fb_lw_strerror(int err);

/* MHDR MType (1.0.4 §4.2.1). */
enum fb_lw_mtype {
	FB_LW_JOIN_REQUEST = 0, FB_LW_JOIN_ACCEPT = 1, FB_LW_UNCONF_UP = 2, FB_LW_UNCONF_DOWN = 3,
	FB_LW_CONF_UP = 4, FB_LW_CONF_DOWN = 5, FB_LW_PROPRIETARY = 7
};
static inline enum fb_lw_dir fb_lw_mtype_dir(enum fb_lw_mtype t)
{
	return (t & 1) ? FB_LW_DOWN : FB_LW_UP;
}

struct fb_lw_data_frame {
	enum fb_lw_mtype mtype;         /* UNCONF_UP .. CONF_DOWN */
	uint32_t dev_addr;
	bool adr, adr_ack_req, ack;     /* adr_ack_req: uplink only (RFU downlink) */
	bool fpending;                  /* downlink FPending; uplink ClassB */
	uint32_t fcnt;                  /* build: the 32-bit counter; parse: the 16 wire bits */
	uint8_t fopts_len;
	uint8_t fopts[FB_LW_MAX_FOPTS];   /* cleartext MAC commands (1.0.x) */
	int fport;                      /* 0..255, or -1 when absent */
	const uint8_t *payload;         /* build: plaintext; parse: ciphertext inside the frame */
	size_t payload_len;
	uint8_t mic[4];                 /* parse only */
};

/* Builds a data frame: encrypts the payload (NwkSKey for FPort 0, else AppSKey) and appends the
 * MIC (NwkSKey, 32-bit FCnt in B0). Returns the PHYPayload length, or FB_LW_ENOSPC / EINVAL
 * (FPort 0 with FOpts, payload without FPort) / ECRYPTO. */
ssize_t fb_lw_data_build(struct fb_lw_crypto *c, const struct fb_lw_data_frame *f,
                         const uint8_t nwk_s_key[16], const uint8_t app_s_key[16],
                         uint8_t *buf, size_t cap);
/* Splits a data frame without keys: 0, or FB_LW_ESHORT / EMTYPE / EMAJOR. */
int fb_lw_data_parse(const uint8_t *buf, size_t len, struct fb_lw_data_frame *f);
/* Checks the MIC of a parsed frame for the 32-bit counter `fcnt` and decrypts its payload into
 * plain (f->payload_len bytes). Returns 0, FB_LW_EMIC or FB_LW_ECRYPTO. */
int fb_lw_data_open(struct fb_lw_crypto *c, const uint8_t *buf, size_t len,
                    const struct fb_lw_data_frame *f, uint32_t fcnt,
                    const uint8_t nwk_s_key[16], const uint8_t app_s_key[16], uint8_t *plain);
/* The 32-bit counter closest above `last` whose low 16 bits are `wire` (1.0.4 §4.3.1.5). */
uint32_t fb_lw_fcnt_expand(uint32_t last, uint16_t wire);

struct fb_lw_join_request {
	uint64_t join_eui, dev_eui;     /* display order, as printed: 70B3D57ED0000001 */
	uint16_t dev_nonce;
};
/* 23 bytes with the MIC (1.0.4 §6.2.4). */
ssize_t fb_lw_join_request_build(struct fb_lw_crypto *c, const struct fb_lw_join_request *jr,
                                 const uint8_t app_key[16], uint8_t *buf, size_t cap);
/* Parses; checks the MIC when app_key is not NULL. 0, ESHORT, EMTYPE, EMAJOR or EMIC. */
int fb_lw_join_request_parse(struct fb_lw_crypto *c, const uint8_t *buf, size_t len,
                             const uint8_t *app_key, struct fb_lw_join_request *jr);

struct fb_lw_join_accept {
	uint32_t join_nonce, net_id, dev_addr;   /* join_nonce and net_id: 24 bits */
	uint8_t rx1_dr_offset, rx2_dr;           /* DLSettings */
	uint8_t rx_delay_s;                      /* RxDelay: 0 means 1 s */
	bool has_cflist;
	uint32_t cflist_hz[5];                   /* EU868 CFList type 0: 0 = no channel */
};
/* The network side: plaintext with MIC, encrypted (17 or 33 bytes). */
ssize_t fb_lw_join_accept_build(struct fb_lw_crypto *c, const struct fb_lw_join_accept *ja,
                                const uint8_t app_key[16], uint8_t *buf, size_t cap);
/* The device side: decrypts, checks the MIC, parses. 0, ESHORT, EMTYPE, EMAJOR, EMIC, EINVAL
 * (CFList type not 0). */
int fb_lw_join_accept_open(struct fb_lw_crypto *c, const uint8_t *wire, size_t len,
                           const uint8_t app_key[16], struct fb_lw_join_accept *ja);

/* MAC commands (1.0.4 §5). CIDs; the payload meaning depends on the direction. */
enum fb_lw_cid {
	FB_LW_LINK_CHECK = 0x02, FB_LW_LINK_ADR = 0x03, FB_LW_DUTY_CYCLE = 0x04,
	FB_LW_RX_PARAM_SETUP = 0x05, FB_LW_DEV_STATUS = 0x06, FB_LW_NEW_CHANNEL = 0x07,
	FB_LW_RX_TIMING_SETUP = 0x08
};

struct fb_lw_mac {
	uint8_t cid;
	union {
		/* uplink answers with one status byte: LinkADRAns (bit 2 power, 1 DR, 0 channel mask),
		 * RXParamSetupAns (2 RX1DROffset, 1 RX2 DR, 0 channel), NewChannelAns (1 DR range,
		 * 0 frequency) */
		uint8_t status;
		struct { uint8_t battery; int8_t margin; } dev_status_ans;       /* margin -32..31 */
		struct { uint8_t margin, gw_cnt; } link_check_ans;
		struct { uint8_t dr, tx_power; uint16_t ch_mask; uint8_t ch_mask_cntl, nb_trans; } link_adr_req;
		struct { uint8_t max_duty_cycle; } duty_cycle_req;
		struct { uint8_t rx1_dr_offset, rx2_dr; uint32_t freq_hz; } rx_param_setup_req;
		struct { uint8_t ch_index; uint32_t freq_hz; uint8_t min_dr, max_dr; } new_channel_req;
		struct { uint8_t delay_s; } rx_timing_setup_req;
	} u;
};

/* Payload size of a command in a direction, or -1 for a CID not handled here. */
int fb_lw_mac_size(uint8_t cid, enum fb_lw_dir dir);
/* Encodes commands sent in direction dir. Returns the byte count, ENOSPC or EINVAL (unknown CID,
 * a value out of its field). */
ssize_t fb_lw_mac_encode(const struct fb_lw_mac *cmds, size_t n, enum fb_lw_dir dir,
                         uint8_t *buf, size_t cap);
/* Decodes commands sent in direction dir. Returns the number written (at most max), or EINVAL
 * on an unknown CID (nothing after it can be parsed, 1.0.4 §5) or ESHORT on a truncated one. */
int fb_lw_mac_decode(const uint8_t *buf, size_t len, enum fb_lw_dir dir, struct fb_lw_mac *out,
                     size_t max);

#endif
