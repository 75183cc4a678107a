/* libFuzzer harness: LoRaWAN 1.0.x frames as a device hears them. The first byte picks a mode:
 *   0  the pure parsers (data frame, join-request, join-accept, MAC command lists both ways) on
 *      the rest, with their promises checked (nothing past len, counts within bounds);
 *   1  a joined ABP device receives the rest as a downlink *before* encryption and MIC: the
 *      harness sets the DevAddr, encrypts FRMPayload and appends the right MIC, so the fuzzer
 *      reaches the MAC commands and the payload instead of stopping at the MIC;
 *   2  a joining OTAA device receives the rest as a join-accept in clear: the harness appends
 *      its MIC and encrypts it as a network server would.
 * In modes 1 and 2 the device then sends an uplink, which must be a well-formed frame (its MAC
 * answers fit FOpts). Seeds: fixtures/fuzz/lorawan_frame/. */
#include <string.h>
#include "fuzz/fuzz.h"
#include "protocols/lorawan/device.h"
#include "protocols/lorawan/frame.h"
#include "sim/log.h"

static const fb_time_us T0 = 1780000000LL * FB_US_PER_S;

static void parsers(struct fb_lw_crypto *c, const uint8_t *p, size_t n)
{
	static const uint8_t key[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	struct fb_lw_data_frame f;
	if (fb_lw_data_parse(p, n, &f) == 0) {
		FB_FUZZ_CHECK(f.fopts_len <= FB_LW_MAX_FOPTS);
		FB_FUZZ_CHECK(f.fport >= -1 && f.fport <= 255);
		if (f.payload_len)
			FB_FUZZ_CHECK(f.payload >= p && f.payload + f.payload_len <= p + n);
		/* plain holds payload_len bytes: callers pass frames of at most FB_LW_MAX_PHY */
		uint8_t plain[FB_LW_MAX_PHY];
		if (n <= FB_LW_MAX_PHY) {
			int rc = fb_lw_data_open(c, p, n, &f, f.fcnt, key, key, plain);
			FB_FUZZ_CHECK(rc == 0 || rc == FB_LW_EMIC || rc == FB_LW_ECRYPTO || rc == FB_LW_ESHORT);
		}
	}
	struct fb_lw_join_request jr;
	fb_lw_join_request_parse(c, p, n, NULL, &jr);
	fb_lw_join_request_parse(c, p, n, key, &jr);
	struct fb_lw_join_accept ja;
	fb_lw_join_accept_open(c, p, n, key, &ja);
	struct fb_lw_mac macs[8];
	for (int dir = FB_LW_UP; dir <= FB_LW_DOWN; dir++) {
		int k = fb_lw_mac_decode(p, n, (enum fb_lw_dir)dir, macs, 8);
		FB_FUZZ_CHECK(k <= 8);
		if (k > 0) {
			/* What decodes encodes back to no more bytes than it came from. */
			uint8_t again[256];
			ssize_t m = fb_lw_mac_encode(macs, (size_t)k, (enum fb_lw_dir)dir, again, sizeof again);
			FB_FUZZ_CHECK(m >= 0 && (size_t)m <= n);
		}
	}
	if (n >= 2) {
		uint32_t last = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 8;
		uint16_t wire = (uint16_t)(p[n - 1] | p[n / 2] << 8);
		uint32_t x = fb_lw_fcnt_expand(last, wire);
		FB_FUZZ_CHECK((x & 0xFFFF) == wire);
	}
}

static void uplink_after(struct fb_lw_crypto *c, struct fb_lw_device *d)
{
	if (d->state != FB_LW_DEV_JOINED)
		return;
	struct fb_lw_tx tx;
	static const uint8_t pl[3] = { 1, 2, 3 };
	enum fb_lw_up_result r = fb_lw_device_uplink(c, d, T0 + 600 * FB_US_PER_S, pl, sizeof pl, 1,
	                                             false, &tx);
	if (r != FB_LW_UP_SENT)
		return;
	FB_FUZZ_CHECK(tx.len > 0 && tx.len <= 255);
	struct fb_lw_data_frame f;
	FB_FUZZ_CHECK(fb_lw_data_parse(tx.phy, tx.len, &f) == 0);
	FB_FUZZ_CHECK(f.dev_addr == d->id.dev_addr && f.fport == 1 && f.payload_len == sizeof pl);
	struct fb_lw_mac macs[16];
	FB_FUZZ_CHECK(fb_lw_mac_decode(f.fopts, f.fopts_len, FB_LW_UP, macs, 16) >= 0);
}

static void abp_downlink(struct fb_lw_crypto *c, const uint8_t *p, size_t n)
{
	struct fb_lw_identity id;
	fb_lw_identity_derive(7, 42, 0x13, &id);
	struct fb_lw_device_opts o = { .otaa = false, .adr = true, .duty_cycle = true, .initial_dr = 5,
	                               .max_retx = 2, .seed = 7 };
	struct fb_lw_device d;
	fb_lw_device_init(&d, 42, &id, &o);
	uint8_t phy[FB_LW_MAX_PHY + 4];
	if (n > FB_LW_MAX_PHY - 4)
		n = FB_LW_MAX_PHY - 4;
	memcpy(phy, p, n);
	memset(phy + n, 0, 4);
	struct fb_lw_data_frame f;
	if (n >= 5) {
		fb_lw_put_le(phy + 1, d.id.dev_addr, 4);
		if (fb_lw_data_parse(phy, n + 4, &f) == 0 && fb_lw_mtype_dir(f.mtype) == FB_LW_DOWN) {
			size_t off = (size_t)(f.payload - phy);
			if (f.payload_len)
				fb_lw_payload_crypt(c, f.fport == 0 ? d.id.nwk_s_key : d.id.app_s_key, FB_LW_DOWN,
				                    f.dev_addr, f.fcnt, phy + off, f.payload_len, phy + off);
			fb_lw_data_mic(c, d.id.nwk_s_key, FB_LW_DOWN, f.dev_addr, f.fcnt, phy, n, phy + n);
		}
	}
	struct fb_lw_dl_info info;
	enum fb_lw_dl_result r = fb_lw_device_downlink(c, &d, phy, n + 4, -3.5, &info);
	FB_FUZZ_CHECK(r >= FB_LW_DL_BAD_MAC && r <= FB_LW_DL_DATA);
	FB_FUZZ_CHECK(info.payload_len <= sizeof info.payload);
	FB_FUZZ_CHECK(d.mac_answers_len <= FB_LW_MAX_FOPTS);
	uplink_after(c, &d);
}

static void otaa_join_accept(struct fb_lw_crypto *c, const uint8_t *p, size_t n)
{
	struct fb_lw_identity id;
	fb_lw_identity_derive(7, 43, 0x13, &id);
	struct fb_lw_device_opts o = { .otaa = true, .adr = true, .duty_cycle = false, .initial_dr = 5,
	                               .max_retx = 2, .dev_nonce = 10, .seed = 7 };
	struct fb_lw_device d;
	fb_lw_device_init(&d, 43, &id, &o);
	struct fb_lw_tx tx;
	FB_FUZZ_CHECK(fb_lw_device_join(c, &d, T0, &tx) == FB_LW_UP_SENT);
	uint8_t plain[64], wire[64];
	size_t len = n + 4;
	if (len == 17 || len == 33) {
		memcpy(plain, p, n);
		fb_lw_join_mic(c, d.id.app_key, plain, n, plain + n);
		FB_FUZZ_CHECK(fb_lw_join_accept_encrypt(c, d.id.app_key, plain, len, wire) == 0);
	} else {
		len = n < sizeof wire ? n : sizeof wire;
		memcpy(wire, p, len);
	}
	struct fb_lw_dl_info info;
	enum fb_lw_dl_result r = fb_lw_device_downlink(c, &d, wire, len, 2.0, &info);
	FB_FUZZ_CHECK(r >= FB_LW_DL_BAD_MAC && r <= FB_LW_DL_DATA);
	uplink_after(c, &d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fb_lw_crypto c;
	static bool ready;
	if (!ready) {
		fb_log_level = FB_LOG_ERROR;
		FB_FUZZ_CHECK(fb_lw_crypto_init(&c) == 0);
		ready = true;
	}
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0: parsers(&c, data + 1, size - 1); break;
	case 1: abp_downlink(&c, data + 1, size - 1); break;
	case 2: otaa_join_accept(&c, data + 1, size - 1); break;
	}
	return 0;
}
