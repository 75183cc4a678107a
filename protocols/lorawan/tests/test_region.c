/* EU868 region and radio model: airtime against published figures, payload limits, channels,
 * duty-cycle off-time, link budget thresholds and capture. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "protocols/lorawan/radio.h"
#include "protocols/lorawan/region.h"
#include "protocols/lorawan/tests/lwtest.h"

static void test_airtime_table(void **state)
{
	FILE *f = lw_open_fixture("airtime.txt");
	char line[256];
	int rows = 0;
	while (fgets(line, sizeof(line), f)) {
		int sf, crc;
		unsigned bw, len;
		long long want;
		if (line[0] == '#')
			continue;
		assert_int_equal(sscanf(line, "%d %u %u %d %lld", &sf, &bw, &len, &crc, &want), 5);
		fb_time_us got = fb_lw_airtime_us(sf, bw, len, crc, 1, 8);
		if (got != want)
			print_error("airtime sf %d bw %u len %u: got %lld want %lld\n", sf, bw, len,
			            (long long)got, want);
		assert_int_equal(got, want);
		rows++;
	}
	fclose(f);
	assert_int_equal(rows, 27);
	assert_int_equal(fb_lw_uplink_airtime_us(5, 23), 61696);
	assert_int_equal(fb_lw_uplink_airtime_us(0, 23), 1482752);
}

static void test_data_rates(void **state)
{
	char name[16];
	assert_int_equal(fb_lw_dr_name(5, name, sizeof(name)), 8);
	assert_string_equal(name, "SF7BW125");
	fb_lw_dr_name(0, name, sizeof(name));
	assert_string_equal(name, "SF12BW125");
	assert_int_equal(fb_lw_dr_parse("SF12BW125"), 0);
	assert_int_equal(fb_lw_dr_parse("SF9BW125"), 3);
	assert_int_equal(fb_lw_dr_parse("SF7BW250"), -1);
	assert_int_equal(fb_lw_dr_name(6, name, sizeof(name)), -1);
	/* RP002 EU863-870 maximum FRMPayload */
	assert_int_equal(fb_lw_max_payload(0), 51);
	assert_int_equal(fb_lw_max_payload(2), 51);
	assert_int_equal(fb_lw_max_payload(3), 115);
	assert_int_equal(fb_lw_max_payload(5), 242);
	assert_int_equal(fb_lw_max_payload(6), -1);
	assert_int_equal(fb_lw_tx_power_dbm(0), 16);
	assert_int_equal(fb_lw_tx_power_dbm(7), 2);
	assert_int_equal(fb_lw_tx_power_dbm(8), -1);
}

static void test_channels(void **state)
{
	struct fb_lw_channels c;
	fb_lw_channels_default(&c);
	assert_int_equal(fb_lw_channels_count(&c, 5), 3);
	assert_int_equal(c.ch[fb_lw_channels_pick(&c, 0, 2)].freq_hz, 868500000);
	assert_int_equal(fb_lw_channels_pick(&c, 0, 3), -1);
	const uint32_t cf[5] = { 867100000, 867300000, 867500000, 867700000, 867900000 };
	assert_int_equal(fb_lw_channels_apply_cflist(&c, cf), 5);
	assert_int_equal(fb_lw_channels_count(&c, 3), 8);
	assert_int_equal(c.ch[7].freq_hz, 867900000);
	/* ChMask enabling only channels 3..7 */
	assert_int_equal(fb_lw_channels_apply_mask(&c, 0x00f8, 0), 1);
	assert_int_equal(fb_lw_channels_count(&c, 0), 5);
	assert_false(c.ch[0].enabled);
	/* a mask naming an undefined channel, or none, is refused and changes nothing */
	assert_int_equal(fb_lw_channels_apply_mask(&c, 0x0100, 0), 0);
	assert_int_equal(fb_lw_channels_apply_mask(&c, 0x0000, 0), 0);
	assert_int_equal(fb_lw_channels_count(&c, 0), 5);
	assert_int_equal(fb_lw_channels_apply_mask(&c, 0, 6), 1);
	assert_int_equal(fb_lw_channels_count(&c, 0), 8);
	/* NewChannelReq: slot 8 fine, slot 1 (default) refused, bad DR range refused */
	assert_int_equal(fb_lw_channels_new(&c, 8, 868800000, 0, 5), 3);
	assert_int_equal(fb_lw_channels_count(&c, 5), 9);
	assert_int_equal(fb_lw_channels_new(&c, 1, 868800000, 0, 5), 2);
	assert_int_equal(fb_lw_channels_new(&c, 9, 868800000, 5, 2), 1);
	assert_int_equal(fb_lw_channels_new(&c, 9, 915000000, 0, 5), 2);
	assert_int_equal(fb_lw_channels_count(&c, 5), 9);
	assert_int_equal(fb_lw_channels_new(&c, 8, 0, 0, 5), 3);      /* frequency 0 disables */
	assert_int_equal(fb_lw_channels_count(&c, 5), 8);
}

static void test_duty_cycle(void **state)
{
	struct fb_lw_dutycycle d;
	fb_lw_duty_init(&d);
	assert_int_equal(fb_lw_band_of(868100000), 2);
	assert_int_equal(fb_lw_band_of(867100000), 1);
	assert_int_equal(fb_lw_band_of(869525000), 4);
	assert_int_equal(fb_lw_band_of(868650000), -1);
	assert_true(fb_lw_duty_free_at(&d, 868100000) < 0);
	/* reference §4.2: 1 % with a 23 B SF12 frame: start-to-start at least 148.3 s */
	fb_time_us t0 = 1000 * FB_US_PER_S, air = fb_lw_uplink_airtime_us(0, 23);
	fb_lw_duty_record(&d, 868100000, t0, air);
	assert_int_equal(fb_lw_duty_free_at(&d, 868300000), t0 + 148275200);
	/* another sub-band is not affected */
	assert_true(fb_lw_duty_free_at(&d, 867100000) < t0);
	/* SF7: 6.17 s start to start */
	fb_lw_duty_record(&d, 867100000, t0, fb_lw_uplink_airtime_us(5, 23));
	assert_int_equal(fb_lw_duty_free_at(&d, 867500000), t0 + 6169600);
	/* DutyCycleReq MaxDCycle 7: 1/128 aggregated over all bands */
	d.max_duty_cycle = 7;
	fb_lw_duty_record(&d, 867100000, t0, 61696);
	assert_int_equal(fb_lw_duty_free_at(&d, 863500000), t0 + 61696 * 128);
}

static void test_link_budget(void **state)
{
	struct fb_lw_radio_params p;
	fb_lw_radio_defaults(&p);
	assert_float_equal(fb_lw_path_loss_db(&p, 40, 0), 127.41, 1e-9);
	assert_float_equal(fb_lw_path_loss_db(&p, 400, 0), 127.41 + 20.8, 1e-9);
	assert_float_equal(fb_lw_noise_floor_dbm(&p, 125000), -117.03, 0.01);
	assert_float_equal(fb_lw_snr_floor_db(7, 125000), -7.5, 1e-9);
	assert_float_equal(fb_lw_snr_floor_db(12, 125000), -20, 1e-9);
	assert_float_equal(fb_lw_snr_floor_db(12, 250000), -17, 1e-9);
	assert_float_equal(fb_lw_sensitivity_dbm(12), -137, 1e-9);
	/* Marseille Vieux-Port to Notre-Dame de la Garde is about 1.1 km */
	double d = fb_lw_distance_m(43.2951, 5.3745, 0, 43.2840, 5.3712, 0);
	assert_true(d > 1100 && d < 1350);
	assert_float_equal(fb_lw_distance_m(43, 5, 0, 43, 5, 25), 25, 1e-6);

	/* LoRaSim's (pessimistic) defaults: at 100 m SF7 is heard; at 400 m only SF12 is */
	struct fb_lw_link l;
	fb_lw_link_budget(&p, 14, 100, 0, 7, 125000, &l);
	assert_true(l.heard);
	assert_float_equal(l.rssi_dbm, 14 - (127.41 + 20.8 * log10(2.5)), 1e-9);
	assert_float_equal(l.snr_db, l.rssi_dbm + 117.03, 0.01);
	fb_lw_link_budget(&p, 14, 400, 0, 7, 125000, &l);
	assert_false(l.heard);
	fb_lw_link_budget(&p, 14, 400, 0, 12, 125000, &l);
	assert_true(l.heard);
	assert_true(l.snr_db < -7.5 && l.snr_db > -20);
	/* a weaker transmitter at the same place falls under SF12's floor too */
	struct fb_lw_link w;
	fb_lw_link_budget(&p, 2, 400, 0, 12, 125000, &w);
	assert_false(w.heard);
	/* shadowing moves RSSI dB for dB */
	struct fb_lw_link s;
	fb_lw_link_budget(&p, 14, 400, 4.5, 12, 125000, &s);
	assert_float_equal(s.rssi_dbm, l.rssi_dbm - 4.5, 1e-9);
}

static void test_capture(void **state)
{
	struct fb_lw_rx a = { 0, 100, 868100000, 7, -100, false }, b = { 50, 150, 868100000, 7, -107, false };
	assert_true(fb_lw_rx_capture(&a, &b));
	assert_false(a.lost);
	assert_true(b.lost);
	a.lost = b.lost = false;
	b.rssi_dbm = -103;
	assert_true(fb_lw_rx_capture(&a, &b));
	assert_true(a.lost && b.lost);
	a.lost = b.lost = false;
	b.sf = 8;               /* different SF: no collision */
	assert_false(fb_lw_rx_capture(&a, &b));
	b.sf = 7;
	b.start = 100;          /* back to back: no overlap */
	assert_false(fb_lw_rx_capture(&a, &b));
	b.start = 50;
	b.freq_hz = 868300000;
	assert_false(fb_lw_rx_capture(&a, &b));
	assert_false(a.lost || b.lost);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_airtime_table),
		cmocka_unit_test(test_data_rates),
		cmocka_unit_test(test_channels),
		cmocka_unit_test(test_duty_cycle),
		cmocka_unit_test(test_link_budget),
		cmocka_unit_test(test_capture),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
