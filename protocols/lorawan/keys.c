/* LoRaWAN identities and keys; see keys.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "protocols/lorawan/keys.h"
#include "sim/log.h"
#include "sim/rng.h"

static void key128(uint64_t seed, uint32_t device, uint64_t k, uint8_t out[16])
{
	uint64_t a = fb_hash64(seed, device, FB_RNG_IDS, 2 * k);
	uint64_t b = fb_hash64(seed, device, FB_RNG_IDS, 2 * k + 1);
	for (int i = 0; i < 8; i++) {
		out[i] = (uint8_t)(a >> (56 - 8 * i));
		out[8 + i] = (uint8_t)(b >> (56 - 8 * i));
	}
}

void fb_lw_identity_derive(uint64_t seed, uint32_t device, uint32_t net_id,
                           struct fb_lw_identity *out)
{
	memset(out, 0, sizeof(*out));      /* padding too: identities compare with memcmp */
	uint64_t tag = fb_hash64(seed, 0, FB_RNG_IDS, 0x7a9) & 0xffff;
	out->join_eui = 0x02fb000000000000ULL | tag << 32;
	out->dev_eui = 0x02fb000000000000ULL | tag << 32 | device;
	key128(seed, device, 1, out->app_key);
	out->dev_addr = fb_lw_dev_addr(net_id, device);
	key128(seed, device, 2, out->nwk_s_key);
	key128(seed, device, 3, out->app_s_key);
}

uint32_t fb_lw_dev_addr(uint32_t net_id, uint32_t device)
{
	/* a type-0 NetID's NwkID is its 6 low bits: DevAddr = NwkID (7 bits, type prefix 0) |
	 * NwkAddr (25 bits) */
	return (net_id & 0x3f) << 25 | (device & 0x1ffffff);
}

uint64_t fb_lw_gateway_eui(uint32_t index)
{
	return 0x02fbfffe00000000ULL | index;
}

uint64_t fb_lw_gateway_eui_shard(uint64_t eui, uint32_t shard_index)
{
	return eui ^ (uint64_t)(shard_index & 0xffffu) << 32;
}

static int parse_hex(const char *s, size_t len, uint8_t *out, size_t n)
{
	if (len != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int v = 0;
		for (int k = 0; k < 2; k++) {
			char c = s[2 * i + (size_t)k];
			int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
			      : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
			if (d < 0)
				return -1;
			v = v << 4 | d;
		}
		out[i] = (uint8_t)v;
	}
	return 0;
}

static uint64_t be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

int fb_lw_keys_load_csv(const char *path, uint32_t first, uint32_t count,
                        struct fb_lw_identity *ids, const bool *required)
{
	static const char header[] = "device,dev_eui,join_eui,app_key,dev_addr,nwk_s_key,app_s_key";
	FILE *f = fopen(path, "r");
	if (!f)
		return fb_error("cannot open keys file '%s': %s", path, strerror(errno));
	char line[512];
	int lineno = 0, rc = 0;
	uint8_t *seen = calloc(count ? count : 1, 1);
	if (!seen) {
		fclose(f);
		return fb_error("out of memory reading '%s'", path);
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		line[strcspn(line, "\r\n")] = 0;
		if (lineno == 1) {
			if (strcmp(line, header)) {
				rc = fb_error_at(path, 1, 1, "expected the header '%s'", header);
				break;
			}
			continue;
		}
		if (!line[0])
			continue;
		char *col[7];
		size_t ncol = 0;
		for (char *p = line; ncol < 7; ) {
			col[ncol++] = p;
			char *comma = strchr(p, ',');
			if (!comma)
				break;
			*comma = 0;
			p = comma + 1;
		}
		if (ncol != 7) {
			rc = fb_error_at(path, lineno, 1, "expected 7 columns");
			break;
		}
		char *end;
		errno = 0;
		unsigned long dev = strtoul(col[0], &end, 10);
		if (errno || *end || end == col[0]) {
			rc = fb_error_at(path, lineno, 1, "bad device index '%s'", col[0]);
			break;
		}
		if (dev < first || dev - first >= count)
			continue;
		struct fb_lw_identity *id = &ids[dev - first];
		uint8_t b[8];
		memset(id, 0, sizeof(*id));
		if (parse_hex(col[1], strlen(col[1]), b, 8)) {
			rc = fb_error_at(path, lineno, 0, "bad 'dev_eui' (16 hex digits)");
			break;
		}
		id->dev_eui = be(b, 8);
		if (parse_hex(col[2], strlen(col[2]), b, 8)) {
			rc = fb_error_at(path, lineno, 0, "bad 'join_eui' (16 hex digits)");
			break;
		}
		id->join_eui = be(b, 8);
		if ((col[3][0] || !col[4][0]) && parse_hex(col[3], strlen(col[3]), id->app_key, 16)) {
			rc = fb_error_at(path, lineno, 0, "bad 'app_key' (32 hex digits)");
			break;
		}
		if (col[4][0]) {
			if (parse_hex(col[4], strlen(col[4]), b, 4)
			    || parse_hex(col[5], strlen(col[5]), id->nwk_s_key, 16)
			    || parse_hex(col[6], strlen(col[6]), id->app_s_key, 16)) {
				rc = fb_error_at(path, lineno, 0, "bad ABP columns (dev_addr 8, keys 32 hex digits)");
				break;
			}
			id->dev_addr = (uint32_t)be(b, 4);
		}
		seen[dev - first] = 1;
	}
	if (!rc && ferror(f))
		rc = fb_error("cannot read '%s': %s", path, strerror(errno));
	for (uint32_t i = 0; !rc && i < count; i++)
		if (!seen[i] && (!required || required[i]))
			rc = fb_error("keys file '%s' has no row for device %u", path, first + i);
	free(seen);
	fclose(f);
	return rc;
}

int fb_lw_keys_format_parse(const char *name)
{
	if (!strcmp(name, "csv")) return FB_LW_KEYS_CSV;
	if (!strcmp(name, "chirpstack")) return FB_LW_KEYS_CHIRPSTACK;
	if (!strcmp(name, "tts")) return FB_LW_KEYS_TTS;
	return -1;
}

static void hex(FILE *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%02x", p[i]);
}

int fb_lw_keys_write_begin(FILE *out, enum fb_lw_keys_format format)
{
	if (format == FB_LW_KEYS_CSV)
		fputs("device,dev_eui,join_eui,app_key,dev_addr,nwk_s_key,app_s_key\n", out);
	else if (format == FB_LW_KEYS_CHIRPSTACK)
		fputs("[\n", out);
	return ferror(out) ? -1 : 0;
}

int fb_lw_keys_write_device(FILE *out, enum fb_lw_keys_format format, const char *name,
                            const struct fb_lw_identity *id, bool abp, const char *version,
                            bool first)
{
	/* the device index is the number after the last '-' of the id */
	const char *dash = strrchr(name, '-');
	unsigned long index = strtoul(dash ? dash + 1 : name, NULL, 10);
	switch (format) {
	case FB_LW_KEYS_CSV:
		fprintf(out, "%lu,%016llx,%016llx,", index, (unsigned long long)id->dev_eui,
		        (unsigned long long)id->join_eui);
		hex(out, id->app_key, 16);
		if (abp) {
			fprintf(out, ",%08x,", id->dev_addr);
			hex(out, id->nwk_s_key, 16);
			fputc(',', out);
			hex(out, id->app_s_key, 16);
			fputc('\n', out);
		} else {
			fputs(",,,\n", out);
		}
		break;
	case FB_LW_KEYS_CHIRPSTACK:
		/* ChirpStack v4 API shapes (CreateDeviceRequest, CreateDeviceKeysRequest /
		 * ActivateDeviceRequest). For LoRaWAN 1.0.x the AppKey goes in `nwkKey`. */
		fprintf(out, "%s  {\"device\":{\"devEui\":\"%016llx\",\"joinEui\":\"%016llx\",\"name\":\"%s\"},",
		        first ? "" : ",\n", (unsigned long long)id->dev_eui,
		        (unsigned long long)id->join_eui, name);
		if (abp) {
			fprintf(out, "\"deviceActivation\":{\"devAddr\":\"%08x\",\"nwkSEncKey\":\"", id->dev_addr);
			hex(out, id->nwk_s_key, 16);
			fputs("\",\"sNwkSIntKey\":\"", out);
			hex(out, id->nwk_s_key, 16);
			fputs("\",\"fNwkSIntKey\":\"", out);
			hex(out, id->nwk_s_key, 16);
			fputs("\",\"appSKey\":\"", out);
			hex(out, id->app_s_key, 16);
			fputs("\",\"fCntUp\":0,\"nFCntDown\":0,\"aFCntDown\":0}}", out);
		} else {
			fputs("\"deviceKeys\":{\"nwkKey\":\"", out);
			hex(out, id->app_key, 16);
			fputs("\"}}", out);
		}
		break;
	case FB_LW_KEYS_TTS:
		/* The Things Stack v3 end-device JSON, one object per line */
		fprintf(out, "{\"ids\":{\"device_id\":\"%s\",\"dev_eui\":\"%016llX\",\"join_eui\":\"%016llX\"",
		        name, (unsigned long long)id->dev_eui, (unsigned long long)id->join_eui);
		if (abp)
			fprintf(out, ",\"dev_addr\":\"%08X\"", id->dev_addr);
		fprintf(out, "},\"lorawan_version\":\"%s\",\"lorawan_phy_version\":\"PHY_V1_0_3_REV_A\","
		        "\"frequency_plan_id\":\"EU_863_870_TTN\",\"supports_join\":%s",
		        strcmp(version, "1.0.3") ? "MAC_V1_0_4" : "MAC_V1_0_3", abp ? "false" : "true");
		if (abp) {
			fputs(",\"session\":{\"dev_addr\":\"", out);
			fprintf(out, "%08X\",\"keys\":{\"f_nwk_s_int_key\":{\"key\":\"", id->dev_addr);
			hex(out, id->nwk_s_key, 16);
			fputs("\"},\"app_s_key\":{\"key\":\"", out);
			hex(out, id->app_s_key, 16);
			fputs("\"}}}}\n", out);
		} else {
			fputs(",\"root_keys\":{\"app_key\":{\"key\":\"", out);
			hex(out, id->app_key, 16);
			fputs("\"}}}\n", out);
		}
		break;
	}
	return ferror(out) ? -1 : 0;
}

int fb_lw_keys_write_end(FILE *out, enum fb_lw_keys_format format)
{
	if (format == FB_LW_KEYS_CHIRPSTACK)
		fputs("\n]\n", out);
	return ferror(out) ? -1 : 0;
}
