/* A simulated LoRaWAN 1.0.x class A (or C) end device: OTAA join or ABP, 32-bit FCnt, confirmed
 * uplinks with retransmission, EU868 channels / DR / duty cycle, ADR with the ADRACKReq back-off,
 * and the MAC commands LinkCheck, LinkADR, DutyCycle, RXParamSetup, DevStatus, NewChannel,
 * RXTimingSetup. No I/O: the transport gives it virtual times and the bytes it hears, and sends
 * the bytes it builds. Fixed size, no allocation (10 000 devices are one array). */
#ifndef FB_LW_DEVICE_H
#define FB_LW_DEVICE_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "protocols/lorawan/frame.h"
#include "protocols/lorawan/keys.h"
#include "protocols/lorawan/region.h"
#include "sim/rng.h"

#define FB_LW_ADR_ACK_LIMIT 64       /* RP002 EU868 defaults */
#define FB_LW_ADR_ACK_DELAY 32
#define FB_LW_MAX_RETX 8

enum fb_lw_dev_state { FB_LW_DEV_IDLE, FB_LW_DEV_JOINING, FB_LW_DEV_JOINED };

struct fb_lw_device {
	uint32_t index;                    /* global device index */
	struct fb_lw_identity id;
	bool otaa, class_c, duty_cycle;
	enum fb_lw_dev_state state;
	uint16_t dev_nonce;                /* the next DevNonce to send (1.0.4: a counter) */
	uint32_t fcnt_up, fcnt_down;       /* fcnt_up: the next to send */
	bool got_down;                     /* fcnt_down valid */
	uint8_t dr, tx_power, nb_trans, max_retx;
	bool adr;
	uint8_t rx1_dr_offset, rx2_dr, rx_delay_s;
	uint32_t rx2_freq_hz;
	struct fb_lw_channels ch;
	struct fb_lw_dutycycle duty;
	struct fb_rng rng;                 /* channel choice */
	uint32_t adr_ack_cnt;
	uint8_t mac_answers[FB_LW_MAX_FOPTS], mac_answers_len;   /* for the next uplink's FOpts */
	bool mac_answers_sticky;           /* RXParamSetupAns / RXTimingSetupAns: repeat until a downlink */
	bool ack_next;                     /* last downlink was confirmed */
	bool link_check_req;               /* ask once (LinkCheckReq) on the next uplink */
	/* the uplink awaiting an answer (join, confirmed), for windows and retransmission */
	bool awaiting;                     /* join-accept or ACK expected */
	bool confirmed_pending;
	uint8_t retx_left;
	fb_time_us tx_start, tx_end;       /* virtual time of the last uplink */
	uint32_t tx_freq_hz;
	uint8_t tx_dr;
	uint8_t battery;                   /* DevStatusAns: 1..254, 255 unknown, 0 external (default) */
	int8_t last_margin_db;             /* demod margin of the last downlink */
	uint8_t last_fport;
	uint8_t last_payload_len;
	uint8_t last_payload[242];         /* for confirmed retransmission */
};

struct fb_lw_device_opts {
	bool otaa, class_c, adr, duty_cycle;
	uint8_t initial_dr;                /* ABP start DR; OTAA joins start at DR5 and fall back */
	uint8_t max_retx;                  /* confirmed retransmissions (NbTrans-like), <= 8 */
	uint16_t dev_nonce;                /* first DevNonce (from the state file) */
	uint64_t seed;
};
void fb_lw_device_init(struct fb_lw_device *d, uint32_t index, const struct fb_lw_identity *id,
                       const struct fb_lw_device_opts *o);

/* The transmission the device makes at virtual time t: its PHYPayload, channel and DR. */
struct fb_lw_tx {
	uint8_t phy[FB_LW_MAX_PHY];
	size_t len;
	uint32_t freq_hz;
	uint8_t dr;
	int8_t tx_power_dbm;
	fb_time_us start, airtime;
	bool join;                         /* a join-request */
	bool retransmission;
};

enum fb_lw_up_result {
	FB_LW_UP_SENT = 0,
	FB_LW_UP_DUTY = 1,                 /* the sub-band is in its off-time: deferred (not sent) */
	FB_LW_UP_TOO_LONG = 2,             /* payload above the DR's maximum: dropped */
	FB_LW_UP_NO_CHANNEL = 3,
	FB_LW_UP_ERROR = 4
};

/* A join-request (DevNonce consumed even when duty cycle defers it? no: only when sent). */
enum fb_lw_up_result fb_lw_device_join(struct fb_lw_crypto *c, struct fb_lw_device *d,
                                       fb_time_us t, struct fb_lw_tx *tx);
/* A data uplink with an application payload on fport (1..223), confirmed or not; piggybacks the
 * pending MAC answers and ACK. */
enum fb_lw_up_result fb_lw_device_uplink(struct fb_lw_crypto *c, struct fb_lw_device *d,
                                         fb_time_us t, const uint8_t *payload, size_t len,
                                         uint8_t fport, bool confirmed, struct fb_lw_tx *tx);
/* Retransmits the pending confirmed uplink (same FCnt) or the join-request (new DevNonce). */
enum fb_lw_up_result fb_lw_device_retransmit(struct fb_lw_crypto *c, struct fb_lw_device *d,
                                             fb_time_us t, struct fb_lw_tx *tx);

/* When the duty cycle next allows a frame at the current DR on some enabled channel. */
fb_time_us fb_lw_device_next_free(const struct fb_lw_device *d);

/* Virtual times of the receive windows of the last uplink (RX1 opens, RX2 closes). */
fb_time_us fb_lw_device_rx1_at(const struct fb_lw_device *d);
fb_time_us fb_lw_device_window_end(const struct fb_lw_device *d);
/* Which window a downlink scheduled `delay_us` after the uplink's rxpk.tmst targets: 1, 2, or 0
 * for none (1 s / 2 s for data, RxDelay-adjusted; 5 s / 6 s for join-accept), within ±20 ms. */
int fb_lw_device_window_of(const struct fb_lw_device *d, int64_t delay_us);

enum fb_lw_dl_result {
	FB_LW_DL_JOINED = 0,               /* join-accept applied */
	FB_LW_DL_DATA = 1,                 /* data downlink accepted (app payload maybe) */
	FB_LW_DL_BAD_MIC = -1,
	FB_LW_DL_MALFORMED = -2,
	FB_LW_DL_NOT_MINE = -3,            /* another DevAddr, or a join-accept when not joining */
	FB_LW_DL_REPLAY = -4,              /* FCntDown not above the last one */
	FB_LW_DL_BAD_MAC = -5              /* MAC command list malformed (payload still delivered) */
};

/* What a downlink carried for the application / counters. */
struct fb_lw_dl_info {
	bool ack;                          /* our confirmed uplink was acknowledged */
	bool confirmed;
	int fport;                         /* -1 none */
	size_t payload_len;
	unsigned mac_count;
	bool link_adr;                     /* a LinkADRReq was applied */
	bool link_check_ans;
	uint8_t link_check_margin, link_check_gw;
	uint8_t payload[242];              /* last: not cleared per downlink */
};

/* Processes a downlink PHYPayload heard at virtual time t; snr_db is the SNR at which the device
 * demodulated it (the DevStatusAns margin of a DevStatusReq it carries). */
enum fb_lw_dl_result fb_lw_device_downlink(struct fb_lw_crypto *c, struct fb_lw_device *d,
                                           const uint8_t *phy, size_t len, double snr_db,
                                           struct fb_lw_dl_info *info);

/* DevStatusAns battery byte (LoRaWAN 1.0.4 §5.5). A model without a battery field is mains
 * powered (street lights, ...): FB_LW_BATTERY_EXTERNAL. */
#define FB_LW_BATTERY_EXTERNAL 0
#define FB_LW_BATTERY_UNKNOWN 255
/* A remaining-charge fraction 0..1 as the byte 1..254 (out of range clamps; NaN: unknown). */
uint8_t fb_lw_battery_level(double fraction);

#endif
