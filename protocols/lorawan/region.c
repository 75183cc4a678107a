/* EU868 regional parameters; see region.h. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "protocols/lorawan/region.h"

int fb_lw_dr_sf(int dr)
{
	return dr >= FB_LW_DR_MIN && dr <= FB_LW_DR_MAX ? 12 - dr : -1;
}

uint32_t fb_lw_dr_bw_hz(int dr)
{
	return dr >= FB_LW_DR_MIN && dr <= FB_LW_DR_MAX ? 125000u : 0;
}

int fb_lw_dr_name(int dr, char *buf, size_t cap)
{
	int sf = fb_lw_dr_sf(dr);
	if (sf < 0)
		return -1;
	int n = snprintf(buf, cap, "SF%dBW125", sf);
	return n >= 0 && (size_t)n < cap ? n : -1;
}

int fb_lw_dr_parse(const char *datr)
{
	for (int dr = FB_LW_DR_MIN; dr <= FB_LW_DR_MAX; dr++) {
		char name[16];
		fb_lw_dr_name(dr, name, sizeof(name));
		if (!strcmp(name, datr))
			return dr;
	}
	return -1;
}

int fb_lw_max_payload(int dr)
{
	static const int n[] = { 51, 51, 51, 115, 242, 242 };   /* RP002 EU863-870, no repeater */
	return dr >= FB_LW_DR_MIN && dr <= FB_LW_DR_MAX ? n[dr] : -1;
}

int fb_lw_tx_power_dbm(int index)
{
	return index >= 0 && index <= 7 ? FB_LW_MAX_EIRP_DBM - 2 * index : -1;
}

fb_time_us fb_lw_airtime_us(int sf, uint32_t bw_hz, size_t phy_len, bool crc, int cr,
                            int preamble_symbols)
{
	/* AN1200.13: Tsym = 2^SF / BW; Tpreamble = (n + 4.25) Tsym;
	 * n_payload = 8 + max(ceil((8PL - 4SF + 28 + 16CRC - 20IH) / (4(SF - 2DE))) (CR + 4), 0) */
	double tsym_us = ldexp(1.0, sf) * 1e6 / (double)bw_hz;
	int de = (bw_hz == 125000 && sf >= 11) ? 1 : 0;
	double num = 8.0 * (double)phy_len - 4.0 * sf + 28 + (crc ? 16 : 0);
	double blocks = ceil(num / (4.0 * (sf - 2 * de)));
	double n_payload = 8 + (blocks > 0 ? blocks * (cr + 4) : 0);
	double t = (preamble_symbols + 4.25) * tsym_us + n_payload * tsym_us;
	return (fb_time_us)llround(t);
}

fb_time_us fb_lw_uplink_airtime_us(int dr, size_t phy_len)
{
	return fb_lw_airtime_us(fb_lw_dr_sf(dr), fb_lw_dr_bw_hz(dr), phy_len, true, 1, 8);
}

void fb_lw_channels_default(struct fb_lw_channels *c)
{
	memset(c, 0, sizeof(*c));
	static const uint32_t def[3] = { 868100000u, 868300000u, 868500000u };   /* RP002 §2.4.2 */
	for (int i = 0; i < 3; i++)
		c->ch[i] = (struct fb_lw_channel){ def[i], 0, 5, true };
}

static bool freq_ok(uint32_t hz)
{
	return hz >= 863000000u && hz <= 870000000u;
}

int fb_lw_channels_apply_cflist(struct fb_lw_channels *c, const uint32_t hz[5])
{
	int set = 0;
	for (int i = 0; i < 5; i++) {
		if (!hz[i] || !freq_ok(hz[i]))
			continue;
		c->ch[3 + i] = (struct fb_lw_channel){ hz[i], 0, 5, true };
		set++;
	}
	return set;
}

int fb_lw_channels_apply_mask(struct fb_lw_channels *c, uint16_t mask, uint8_t cntl)
{
	struct fb_lw_channels next = *c;
	if (cntl == 6) {
		for (int i = 0; i < FB_LW_MAX_CHANNELS; i++)
			next.ch[i].enabled = next.ch[i].freq_hz != 0;
	} else if (cntl == 0) {
		for (int i = 0; i < FB_LW_MAX_CHANNELS; i++) {
			bool on = mask & (1u << i);
			if (on && !next.ch[i].freq_hz)
				return 0;
			next.ch[i].enabled = on;
		}
	} else {
		return 0;
	}
	int any = 0;
	for (int i = 0; i < FB_LW_MAX_CHANNELS; i++)
		any += next.ch[i].enabled;
	if (!any)
		return 0;
	*c = next;
	return 1;
}

uint8_t fb_lw_channels_new(struct fb_lw_channels *c, uint8_t index, uint32_t freq_hz,
                           uint8_t min_dr, uint8_t max_dr)
{
	uint8_t status = 0;
	if (index >= 3 && index < FB_LW_MAX_CHANNELS && (freq_hz == 0 || freq_ok(freq_hz)))
		status |= 0x01;
	if (min_dr <= max_dr && max_dr <= FB_LW_DR_MAX)
		status |= 0x02;
	if (status == 0x03) {
		/* frequency 0 disables the channel (1.0.4 §5.7) */
		c->ch[index] = (struct fb_lw_channel){ freq_hz, min_dr, max_dr, freq_hz != 0 };
	}
	return status;
}

int fb_lw_channels_count(const struct fb_lw_channels *c, int dr)
{
	int n = 0;
	for (int i = 0; i < FB_LW_MAX_CHANNELS; i++)
		n += c->ch[i].enabled && dr >= c->ch[i].min_dr && dr <= c->ch[i].max_dr;
	return n;
}

int fb_lw_channels_pick(const struct fb_lw_channels *c, int dr, unsigned k)
{
	for (int i = 0; i < FB_LW_MAX_CHANNELS; i++)
		if (c->ch[i].enabled && dr >= c->ch[i].min_dr && dr <= c->ch[i].max_dr && k-- == 0)
			return i;
	return -1;
}

/* RP002 / LoRaMac-node EU868_BAND0..5 (ETSI EN 300 220 sub-bands), [lo, hi) in Hz. */
static const struct { uint32_t lo, hi; double duty; } bands[FB_LW_NB_BANDS] = {
	{ 863000000u, 865000000u, 0.001 },
	{ 865000000u, 868000000u, 0.01 },
	{ 868000000u, 868600000u, 0.01 },
	{ 868700000u, 869200000u, 0.001 },
	{ 869400000u, 869650000u, 0.1 },
	{ 869700000u, 870000001u, 0.01 },
};

int fb_lw_band_of(uint32_t freq_hz)
{
	for (int i = 0; i < FB_LW_NB_BANDS; i++)
		if (freq_hz >= bands[i].lo && freq_hz < bands[i].hi)
			return i;
	return -1;
}

double fb_lw_band_duty(int band)
{
	return band >= 0 && band < FB_LW_NB_BANDS ? bands[band].duty : 0.001;
}

void fb_lw_duty_init(struct fb_lw_dutycycle *d)
{
	memset(d, 0, sizeof(*d));
	for (int i = 0; i < FB_LW_NB_BANDS; i++)
		d->band_free_at[i] = INT64_MIN;
	d->aggregated_free_at = INT64_MIN;
}

fb_time_us fb_lw_duty_free_at(const struct fb_lw_dutycycle *d, uint32_t freq_hz)
{
	int b = fb_lw_band_of(freq_hz);
	fb_time_us t = b >= 0 ? d->band_free_at[b] : INT64_MAX;
	return t > d->aggregated_free_at ? t : d->aggregated_free_at;
}

void fb_lw_duty_record(struct fb_lw_dutycycle *d, uint32_t freq_hz, fb_time_us start,
                       fb_time_us airtime)
{
	int b = fb_lw_band_of(freq_hz);
	if (b < 0)
		return;
	/* t_off = t_air / dc - t_air, so the band is free at start + t_air / dc */
	d->band_free_at[b] = start + (fb_time_us)llround((double)airtime / bands[b].duty);
	if (d->max_duty_cycle)
		d->aggregated_free_at = start + airtime * ((fb_time_us)1 << d->max_duty_cycle);
}
