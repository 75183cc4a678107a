/* Radio channel model; see radio.h. */
#include <math.h>
#include "protocols/lorawan/radio.h"

void fb_lw_radio_defaults(struct fb_lw_radio_params *p)
{
	p->pl_d0_db = 127.41;
	p->d0_m = 40.0;
	p->gamma = 2.08;
	p->shadowing_db = 0.0;
	p->noise_figure_db = 6.0;
}

double fb_lw_distance_m(double lat1, double lon1, double h1_m, double lat2, double lon2, double h2_m)
{
	const double r = 6371008.8, rad = M_PI / 180.0;
	double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
	double a = sin(dlat / 2) * sin(dlat / 2)
	         + cos(lat1 * rad) * cos(lat2 * rad) * sin(dlon / 2) * sin(dlon / 2);
	double ground = 2 * r * atan2(sqrt(a), sqrt(1 - a));
	double dh = h2_m - h1_m;
	return sqrt(ground * ground + dh * dh);
}

double fb_lw_path_loss_db(const struct fb_lw_radio_params *p, double d_m, double shadow_db)
{
	if (d_m < 1.0)
		d_m = 1.0;
	return p->pl_d0_db + 10.0 * p->gamma * log10(d_m / p->d0_m) + shadow_db;
}

double fb_lw_noise_floor_dbm(const struct fb_lw_radio_params *p, uint32_t bw_hz)
{
	return -174.0 + 10.0 * log10((double)bw_hz) + p->noise_figure_db;
}

double fb_lw_snr_floor_db(int sf, uint32_t bw_hz)
{
	if (sf < 7 || sf > 12)
		return 0;
	double f = -7.5 - 2.5 * (sf - 7);
	return bw_hz == 250000 ? f + 3.0 : f;
}

double fb_lw_sensitivity_dbm(int sf)
{
	static const double s[] = { -124, -127, -130, -133, -135, -137 };   /* ns-3 lorawan doc */
	return sf >= 7 && sf <= 12 ? s[sf - 7] : 0;
}

void fb_lw_link_budget(const struct fb_lw_radio_params *p, double tx_dbm, double d_m,
                       double shadow_db, int sf, uint32_t bw_hz, struct fb_lw_link *out)
{
	out->rssi_dbm = tx_dbm - fb_lw_path_loss_db(p, d_m, shadow_db);
	out->snr_db = out->rssi_dbm - fb_lw_noise_floor_dbm(p, bw_hz);
	out->heard = out->rssi_dbm >= fb_lw_sensitivity_dbm(sf)
	          && out->snr_db >= fb_lw_snr_floor_db(sf, bw_hz);
}

bool fb_lw_rx_overlap(const struct fb_lw_rx *a, const struct fb_lw_rx *b)
{
	return a->freq_hz == b->freq_hz && a->sf == b->sf && a->start < b->end && b->start < a->end;
}

bool fb_lw_rx_capture(struct fb_lw_rx *a, struct fb_lw_rx *b)
{
	if (!fb_lw_rx_overlap(a, b))
		return false;
	double diff = a->rssi_dbm - b->rssi_dbm;
	if (diff >= 6.0) {
		b->lost = true;
	} else if (diff <= -6.0) {
		a->lost = true;
	} else {
		a->lost = b->lost = true;
	}
	return true;
}
