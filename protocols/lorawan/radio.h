/* A simple LoRa radio channel: log-distance path loss with log-normal shadowing (LoRaSim
 * defaults, Bor et al. MSWiM'16), RSSI and SNR against a thermal noise floor, per-SF sensitivity
 * (ns-3 lorawan) and demodulation SNR floor (TTS demodulation_floor.go), and same-channel
 * same-SF collisions with a 6 dB capture threshold. Pure functions. */
#ifndef FB_LW_RADIO_H
#define FB_LW_RADIO_H
#include <stdbool.h>
#include <stdint.h>
#include "sim/fbtime.h"

struct fb_lw_radio_params {
	double pl_d0_db;          /* path loss at d0: 127.41 dB */
	double d0_m;              /* 40 m */
	double gamma;             /* exponent: 2.08 */
	double shadowing_db;      /* sigma of the log-normal shadowing: 0 disables */
	double noise_figure_db;   /* 6 dB */
};
void fb_lw_radio_defaults(struct fb_lw_radio_params *p);

/* Great-circle distance (haversine, mean Earth radius) in metres, with the height difference. */
double fb_lw_distance_m(double lat1, double lon1, double h1_m, double lat2, double lon2, double h2_m);

/* PL(d) = PL(d0) + 10 gamma log10(d / d0) + shadow (distances below 1 m count as 1 m). */
double fb_lw_path_loss_db(const struct fb_lw_radio_params *p, double d_m, double shadow_db);

/* Thermal noise floor at bandwidth bw: -174 + 10 log10(bw) + NF (dBm). */
double fb_lw_noise_floor_dbm(const struct fb_lw_radio_params *p, uint32_t bw_hz);
/* Demodulation floor (dB) for SF7..12 at 125 kHz: -7.5 .. -20; BW250 adds 3 dB. */
double fb_lw_snr_floor_db(int sf, uint32_t bw_hz);
/* Receiver sensitivity (dBm) for SF7..12 at 125 kHz: -124 .. -137. */
double fb_lw_sensitivity_dbm(int sf);

struct fb_lw_link {
	double rssi_dbm, snr_db;
	bool heard;               /* above both the sensitivity and the SNR floor */
};
void fb_lw_link_budget(const struct fb_lw_radio_params *p, double tx_dbm, double d_m,
                       double shadow_db, int sf, uint32_t bw_hz, struct fb_lw_link *out);

/* One reception at a gateway, for the collision check. */
struct fb_lw_rx {
	fb_time_us start, end;
	uint32_t freq_hz;
	int sf;
	double rssi_dbm;
	bool lost;
};
/* Same frequency and SF and overlapping airtime. */
bool fb_lw_rx_overlap(const struct fb_lw_rx *a, const struct fb_lw_rx *b);
/* Applies capture between two receptions: when they overlap, the one at least 6 dB stronger
 * survives and the other is lost; within 6 dB both are lost. Returns true if they overlapped. */
bool fb_lw_rx_capture(struct fb_lw_rx *a, struct fb_lw_rx *b);

#endif
