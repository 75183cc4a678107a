/* Identities and keys (derivation, CSV round trip, provisioning formats) and the
 * `transports: lorawan:` section with its located errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>
#include "protocols/lorawan/lorawan.h"
#include "sim/ynode.h"

static void test_derive(void **state)
{
	struct fb_lw_identity a, b, c;
	fb_lw_identity_derive(1, 5, 0x13, &a);
	fb_lw_identity_derive(1, 5, 0x13, &b);
	assert_memory_equal(&a, &b, sizeof(a));            /* deterministic */
	fb_lw_identity_derive(1, 6, 0x13, &c);
	assert_true(c.dev_eui == a.dev_eui + 1);
	assert_true(c.join_eui == a.join_eui);
	assert_memory_not_equal(c.app_key, a.app_key, 16);
	assert_memory_not_equal(a.app_key, a.nwk_s_key, 16);
	assert_memory_not_equal(a.nwk_s_key, a.app_s_key, 16);
	assert_int_equal(a.dev_addr, 0x26000005);            /* NetID 000013: NwkID 0x13 -> 26000000/7 */
	assert_int_equal((a.dev_eui >> 48), 0x02fb);         /* locally administered prefix */
	fb_lw_identity_derive(2, 5, 0, &c);                   /* another seed: other keys and EUIs */
	assert_memory_not_equal(c.app_key, a.app_key, 16);
	assert_true(c.dev_eui != a.dev_eui);
	assert_int_equal(c.dev_addr, 5);
	assert_true(fb_lw_gateway_eui(3) == 0x02fbfffe00000003ULL);
}

static char *write_all(enum fb_lw_keys_format fmt, bool abp, unsigned n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(fb_lw_keys_write_begin(f, fmt), 0);
	for (unsigned i = 0; i < n; i++) {
		struct fb_lw_identity id;
		char name[32];
		fb_lw_identity_derive(9, i, 0, &id);
		snprintf(name, sizeof(name), "light-%06u", i);
		assert_int_equal(fb_lw_keys_write_device(f, fmt, name, &id, abp, "1.0.4", i == 0), 0);
	}
	assert_int_equal(fb_lw_keys_write_end(f, fmt), 0);
	fclose(f);
	return buf;
}

static void test_csv_roundtrip(void **state)
{
	char *csv = write_all(FB_LW_KEYS_CSV, true, 4);
	assert_memory_equal(csv, "device,dev_eui,join_eui,app_key,dev_addr,nwk_s_key,app_s_key\n0,02fb", 67);
	char path[] = "/tmp/fb-lw-keys-XXXXXX";
	int fd = mkstemp(path);
	assert_int_equal(write(fd, csv, strlen(csv)), (ssize_t)strlen(csv));
	close(fd);
	struct fb_lw_identity ids[3], want;
	assert_int_equal(fb_lw_keys_load_csv(path, 1, 3, ids, NULL), 0);
	for (int i = 0; i < 3; i++) {
		fb_lw_identity_derive(9, (uint32_t)i + 1, 0, &want);
		assert_memory_equal(&ids[i], &want, sizeof(want));
	}
	/* a device missing from the file */
	assert_int_equal(fb_lw_keys_load_csv(path, 2, 3, ids, NULL), -1);
	/* ... unless that device does not use the transport */
	const bool need[3] = { true, true, false };
	assert_int_equal(fb_lw_keys_load_csv(path, 2, 3, ids, need), 0);
	/* OTAA rows (empty ABP columns) load too */
	free(csv);
	csv = write_all(FB_LW_KEYS_CSV, false, 2);
	assert_non_null(strstr(csv, ",,,\n"));
	FILE *f = fopen(path, "w");
	fputs(csv, f);
	fclose(f);
	assert_int_equal(fb_lw_keys_load_csv(path, 0, 2, ids, NULL), 0);
	fb_lw_identity_derive(9, 1, 0, &want);
	assert_memory_equal(ids[1].app_key, want.app_key, 16);
	/* a bad header and a bad key are refused */
	f = fopen(path, "w");
	fputs("dev,eui\n", f);
	fclose(f);
	assert_int_equal(fb_lw_keys_load_csv(path, 0, 1, ids, NULL), -1);
	f = fopen(path, "w");
	fputs("device,dev_eui,join_eui,app_key,dev_addr,nwk_s_key,app_s_key\n0,02fb000000000000,02fb000000000000,zz,,,\n", f);
	fclose(f);
	assert_int_equal(fb_lw_keys_load_csv(path, 0, 1, ids, NULL), -1);
	unlink(path);
	free(csv);
}

static void test_provisioning_formats(void **state)
{
	json_error_t err;
	char *cs = write_all(FB_LW_KEYS_CHIRPSTACK, false, 3);
	json_t *j = json_loads(cs, 0, &err);
	assert_non_null(j);
	assert_int_equal(json_array_size(j), 3);
	struct fb_lw_identity id;
	fb_lw_identity_derive(9, 2, 0, &id);
	char hex[33];
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", id.app_key[i]);
	/* ChirpStack v4 keeps a 1.0.x AppKey in nwkKey */
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(j, 2), "deviceKeys"), "nwkKey")), hex);
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(j, 2), "device"), "name")), "light-000002");
	json_decref(j);
	free(cs);
	char *tts = write_all(FB_LW_KEYS_TTS, true, 2);
	char *line2 = strchr(tts, '\n') + 1;
	j = json_loadb(line2, strcspn(line2, "\n"), 0, &err);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "lorawan_version")), "MAC_V1_0_4");
	assert_true(json_is_false(json_object_get(j, "supports_join")));
	assert_non_null(json_object_get(json_object_get(json_object_get(j, "session"), "keys"), "app_s_key"));
	json_decref(j);
	free(tts);
	assert_int_equal(fb_lw_keys_format_parse("tts"), FB_LW_KEYS_TTS);
	assert_int_equal(fb_lw_keys_format_parse("ttn"), -1);
}

static int read_cfg(const char *yaml, struct fb_lw_config *c)
{
	struct fb_ynode *root = fb_ynode_load_string(yaml, "scenario.yaml");
	assert_non_null(root);
	fb_lw_config_defaults(c);
	int rc = fb_lw_config_read(c, fb_ynode_get(root, "lorawan"));
	fb_ynode_free(root);
	return rc;
}

static void test_config(void **state)
{
	struct fb_lw_config c;
	assert_int_equal(read_cfg("lorawan:\n"
	                          "  server: udp://127.0.0.1:1700\n"
	                          "  protocol: 1\n"
	                          "  gateways: {per_site: 2, height: 30m}\n"
	                          "  activation: abp\n"
	                          "  region: EU868\n"
	                          "  lorawan_version: 1.0.3\n"
	                          "  keys: {seed_derived: true}\n"
	                          "  payload: lpp\n"
	                          "  duty_cycle: off\n"
	                          "  confirmed: true\n"
	                          "  class: C\n"
	                          "  net_id: \"000013\"\n"
	                          "  push_timeout: 250ms\n"
	                          "  radio: {gamma: 2.5, shadowing: 4}\n", &c), 0);
	assert_int_equal(c.protocol_version, 1);
	assert_int_equal(c.per_site, 2);
	assert_float_equal(c.gw_height_m, 30, 1e-9);
	assert_false(c.otaa);
	assert_true(c.v103);
	assert_string_equal(c.payload, "lpp");
	assert_false(c.duty_cycle);
	assert_true(c.confirmed && c.class_c);
	assert_int_equal(c.net_id, 0x13);
	assert_int_equal(c.push_timeout_us, 250000);
	assert_float_equal(c.radio.gamma, 2.5, 1e-9);
	assert_int_equal(c.server_len > 0, 1);
	fb_lw_config_release(&c);

	assert_int_equal(read_cfg("lorawan:\n  server: udp://127.0.0.1:1700\n  gateways:\n"
	                          "    - {eui: \"0102030405060708\", lat: 43.3, lon: 5.4}\n"
	                          "    - {lat: 43.31, lon: 5.41, height: 12m}\n"
	                          "  keys: {file: keys.csv}\n", &c), 0);
	assert_int_equal(c.ngateways, 2);
	assert_true(c.gateways[0].eui == 0x0102030405060708ULL);
	assert_true(c.gateways[1].eui == fb_lw_gateway_eui(1));
	assert_float_equal(c.gateways[1].height_m, 12, 1e-9);
	assert_string_equal(c.keys_file, "keys.csv");
	fb_lw_config_release(&c);

	static const char *const bad[] = {
		"lorawan:\n  protocol: 2\n",                                         /* no server */
		"lorawan:\n  server: tcp://127.0.0.1:1700\n",
		"lorawan:\n  server: udp://127.0.0.1:99999\n",
		"lorawan:\n  server: udp://127.0.0.1:1700\n  activaton: otaa\n",     /* typo */
		"lorawan:\n  server: udp://127.0.0.1:1700\n  activation: otta\n",
		"lorawan:\n  server: udp://127.0.0.1:1700\n  region: US915\n",
		"lorawan:\n  server: udp://127.0.0.1:1700\n  lorawan_version: 1.1\n",
		"lorawan:\n  server: udp://127.0.0.1:1700\n  keys: {seed_derived: true, file: k.csv}\n",
		"lorawan:\n  server: udp://127.0.0.1:1700\n  gateways: {per_site: 0}\n",
		"lorawan:\n  server: udp://127.0.0.1:1700\n  gateways: [{lat: 1}]\n",
		"lorawan:\n  server: udp://127.0.0.1:1700\n  net_id: \"13\"\n",
		"lorawan:\n  server: udp://127.0.0.1:1700\n  radio: {gamma: -1}\n",
		"lorawan: 5\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = read_cfg(bad[i], &c);
		if (rc != -1)
			print_error("accepted: %s\n", bad[i]);
		assert_int_equal(rc, -1);
		fb_lw_config_release(&c);
	}
}

static void test_keys_command(void **state)
{
	char path[] = "/tmp/fb-lw-scn-XXXXXX";
	int fd = mkstemp(path);
	const char *yaml =
		"name: keys\nseed: 5\nstart: 2026-06-01T00:00:00Z\nduration: 1h\n"
		"sites:\n  - {id: a, name: A, lat: 43.3, lon: 5.4, radius: 100m}\n"
		"transports:\n  lorawan:\n    server: udp://127.0.0.1:1700\n    activation: abp\n    net_id: \"000013\"\n"
		"fleets:\n  - {type: noise, count: 2, site: a}\n"
		"  - {type: streetlight, count: 3, site: a, transport: lorawan}\n";
	assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
	close(fd);
	struct fb_scenario *sc = fb_scenario_load(path, NULL);
	assert_non_null(sc);
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	assert_int_equal(fb_lw_keys_command(sc, FB_LW_KEYS_CSV, out), 0);
	fclose(out);
	/* the header, then the three lorawan devices (global indexes 2..4) with ABP columns */
	int lines = 0;
	for (char *p = buf; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 4);
	struct fb_lw_identity id;
	fb_lw_identity_derive(5, 2, 0x13, &id);
	char want[64];
	snprintf(want, sizeof(want), "\n2,%016llx,", (unsigned long long)id.dev_eui);
	assert_non_null(strstr(buf, want));
	assert_non_null(strstr(buf, ",26000004,"));
	assert_null(strstr(buf, "\n0,"));
	free(buf);
	fb_scenario_free(sc);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_derive),
		cmocka_unit_test(test_csv_roundtrip),
		cmocka_unit_test(test_provisioning_formats),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_keys_command),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
