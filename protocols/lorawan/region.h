/* EU868 regional parameters (LoRaWAN Regional Parameters RP002-1.0.x §2.4, LoRaMac-node
 * RegionEU868): channels (the three default join channels plus CFList / NewChannelReq ones),
 * data rates DR0..DR5 (SF12..SF7 at 125 kHz), maximum payload per DR, time on air (Semtech
 * AN1200.13) and the ETSI sub-band duty cycle. Pure functions and caller-owned state. */
#ifndef FB_LW_REGION_H
#define FB_LW_REGION_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "sim/fbtime.h"

#define FB_LW_MAX_CHANNELS 16
#define FB_LW_DR_MIN 0
#define FB_LW_DR_MAX 5                  /* LoRa 125 kHz data rates used here */
#define FB_LW_RX2_FREQ_HZ 869525000u    /* RP002 §2.4.7 */
#define FB_LW_RX2_DR 0
#define FB_LW_RECEIVE_DELAY1_US (1 * FB_US_PER_S)
#define FB_LW_JOIN_ACCEPT_DELAY1_US (5 * FB_US_PER_S)
#define FB_LW_MAX_EIRP_DBM 16
#define FB_LW_NB_BANDS 6

struct fb_lw_channel {
	uint32_t freq_hz;        /* 0: slot unused */
	uint8_t min_dr, max_dr;
	bool enabled;
};

struct fb_lw_channels {
	struct fb_lw_channel ch[FB_LW_MAX_CHANNELS];
};

/* Spreading factor (12..7) and bandwidth of a data rate, or -1 / 0 for one outside DR0..DR5. */
int fb_lw_dr_sf(int dr);
uint32_t fb_lw_dr_bw_hz(int dr);
/* "SF7BW125" for DR5; buf holds at least 10 bytes. Returns the length, or -1. */
int fb_lw_dr_name(int dr, char *buf, size_t cap);
/* The DR of a datr string ("SF12BW125" -> 0), or -1. */
int fb_lw_dr_parse(const char *datr);
/* RP002 Table "EU863-870 maximum payload size": FRMPayload N (51 / 115 / 242), MACPayload M = N+8. */
int fb_lw_max_payload(int dr);
/* TX power index (0..7) to EIRP dBm: 16 - 2*index; -1 for an index not allowed. */
int fb_lw_tx_power_dbm(int index);

/* Time on air in µs (AN1200.13 §4): phy_len PHYPayload bytes, coding rate 4/(4+cr) with cr 1..4,
 * explicit header, low-data-rate optimisation on for SF11/12 at 125 kHz. */
fb_time_us fb_lw_airtime_us(int sf, uint32_t bw_hz, size_t phy_len, bool crc, int cr,
                            int preamble_symbols);
/* The LoRaWAN uplink case: CR 4/5, 8 preamble symbols, CRC on. */
fb_time_us fb_lw_uplink_airtime_us(int dr, size_t phy_len);

/* The three default channels, DR0..5, enabled; the other slots empty. */
void fb_lw_channels_default(struct fb_lw_channels *c);
/* CFList type 0 (RP002 §2.4.4): up to five frequencies into slots 3..7 (0 Hz leaves a slot
 * empty). Frequencies outside 863..870 MHz are ignored. Returns how many were set. */
int fb_lw_channels_apply_cflist(struct fb_lw_channels *c, const uint32_t hz[5]);
/* LinkADRReq channel mask (RP002 §2.4.5): ChMaskCntl 0 applies mask to slots 0..15, 6 enables
 * all defined channels. Returns the Channel-mask-ACK (1) or 0 when the result would leave no
 * channel or enable an undefined one. Applies nothing on 0. */
int fb_lw_channels_apply_mask(struct fb_lw_channels *c, uint16_t mask, uint8_t cntl);
/* NewChannelReq (1.0.4 §5.7): returns the NewChannelAns status bits (bit 1 DR range ok, bit 0
 * frequency ok); applies only when both are set. Slots 0..2 cannot be changed. */
uint8_t fb_lw_channels_new(struct fb_lw_channels *c, uint8_t index, uint32_t freq_hz,
                           uint8_t min_dr, uint8_t max_dr);
/* How many channels are enabled and allow `dr`. */
int fb_lw_channels_count(const struct fb_lw_channels *c, int dr);
/* The k-th (0-based) enabled channel allowing dr, or -1. */
int fb_lw_channels_pick(const struct fb_lw_channels *c, int dr, unsigned k);

/* ETSI EN 300 220 sub-bands as RP002 / LoRaMac-node EU868_BANDx use them: index or -1. */
int fb_lw_band_of(uint32_t freq_hz);
/* The band's duty cycle as a fraction (0.01 = 1 %). */
double fb_lw_band_duty(int band);

/* Per-device duty-cycle accounting: a band is free again at start + airtime / duty. */
struct fb_lw_dutycycle {
	fb_time_us band_free_at[FB_LW_NB_BANDS];
	fb_time_us aggregated_free_at;   /* DutyCycleReq: 1 / 2^max_duty_cycle over all bands */
	uint8_t max_duty_cycle;
};
void fb_lw_duty_init(struct fb_lw_dutycycle *d);
/* Earliest time a frame may start on freq_hz. */
fb_time_us fb_lw_duty_free_at(const struct fb_lw_dutycycle *d, uint32_t freq_hz);
/* Records a transmission of `airtime` started at `start` on freq_hz. */
void fb_lw_duty_record(struct fb_lw_dutycycle *d, uint32_t freq_hz, fb_time_us start,
                       fb_time_us airtime);

#endif
