/* Semtech UDP packet-forwarder protocol; see semtech.h. JSON is written by hand into the caller's
 * buffer (no printf, no allocation): this is the uplink hot path. */
#include <math.h>
#include <string.h>
#include <jansson.h>
#include "protocols/lorawan/region.h"
#include "protocols/lorawan/semtech.h"
#include "sim/fmt.h"

const char *fb_sm_strerror(int err)
{
	switch (err) {
	case 0: return "ok";
	case FB_SM_ENOSPC: return "no space";
	case FB_SM_ESHORT: return "datagram too short";
	case FB_SM_EVERSION: return "unknown protocol version";
	case FB_SM_ETYPE: return "unknown packet type";
	case FB_SM_EJSON: return "bad JSON";
	case FB_SM_EFIELD: return "bad or missing txpk field";
	case FB_SM_EBASE64: return "bad base64 data";
	case FB_SM_ESIZE: return "size does not match data";
	case FB_SM_EMODU: return "unsupported modulation or data rate";
	}
	return "unknown error";
}

struct out {
	uint8_t *p, *end;
	bool full;
};

static void put(struct out *o, const void *s, size_t n)
{
	if (o->full || (size_t)(o->end - o->p) < n) {
		o->full = true;
		return;
	}
	memcpy(o->p, s, n);
	o->p += n;
}
#define PUTS(o, lit) put((o), (lit), sizeof(lit) - 1)

static void put_u(struct out *o, uint64_t v)
{
	char tmp[21];
	put(o, tmp, fb_fmt_u64(v, tmp));
}

static void put_i(struct out *o, int64_t v)
{
	char tmp[21];
	put(o, tmp, fb_fmt_i64(v, tmp));
}

/* n digits, zero padded */
static void put_pad(struct out *o, unsigned v, int n)
{
	char tmp[12];
	for (int i = n - 1; i >= 0; i--, v /= 10)
		tmp[i] = (char)('0' + v % 10);
	put(o, tmp, (size_t)n);
}

static void header(struct out *o, uint8_t ver, uint16_t token, uint8_t type, const uint64_t *eui)
{
	uint8_t h[12] = { ver, (uint8_t)(token >> 8), (uint8_t)token, type };
	if (eui)
		for (int i = 0; i < 8; i++)      /* gateway EUI in network (display) order */
			h[4 + i] = (uint8_t)(*eui >> (56 - 8 * i));
	put(o, h, eui ? 12 : 4);
}

static void split_time(fb_time_us t, int *y, int *mo, int *d, int *h, int *mi, int *s, int *us)
{
	int64_t days = t / FB_US_PER_DAY, rem = t % FB_US_PER_DAY;
	if (rem < 0) {
		rem += FB_US_PER_DAY;
		days--;
	}
	fb_civil_from_days(days, y, mo, d);
	*h = (int)(rem / FB_US_PER_H);
	*mi = (int)(rem / FB_US_PER_MIN % 60);
	*s = (int)(rem / FB_US_PER_S % 60);
	*us = (int)(rem % FB_US_PER_S);
}

size_t fb_sm_format_rfc3339_us(fb_time_us t, char out[27])
{
	int y, mo, d, h, mi, s, us;
	split_time(t, &y, &mo, &d, &h, &mi, &s, &us);
	struct out o = { (uint8_t *)out, (uint8_t *)out + 27, false };
	put_pad(&o, (unsigned)y, 4); PUTS(&o, "-"); put_pad(&o, (unsigned)mo, 2); PUTS(&o, "-");
	put_pad(&o, (unsigned)d, 2); PUTS(&o, "T"); put_pad(&o, (unsigned)h, 2); PUTS(&o, ":");
	put_pad(&o, (unsigned)mi, 2); PUTS(&o, ":"); put_pad(&o, (unsigned)s, 2); PUTS(&o, ".");
	put_pad(&o, (unsigned)us, 6); PUTS(&o, "Z");
	return 27;
}

size_t fb_sm_format_stat_time(fb_time_us t, char out[23])
{
	int y, mo, d, h, mi, s, us;
	split_time(t, &y, &mo, &d, &h, &mi, &s, &us);
	struct out o = { (uint8_t *)out, (uint8_t *)out + 23, false };
	put_pad(&o, (unsigned)y, 4); PUTS(&o, "-"); put_pad(&o, (unsigned)mo, 2); PUTS(&o, "-");
	put_pad(&o, (unsigned)d, 2); PUTS(&o, " "); put_pad(&o, (unsigned)h, 2); PUTS(&o, ":");
	put_pad(&o, (unsigned)mi, 2); PUTS(&o, ":"); put_pad(&o, (unsigned)s, 2); PUTS(&o, " GMT");
	return 23;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

ssize_t fb_base64_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
	size_t need = (n + 2) / 3 * 4, j = 0;
	if (need > cap)
		return -1;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n) v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n) v |= in[i + 2];
		out[j++] = b64[v >> 18 & 63];
		out[j++] = b64[v >> 12 & 63];
		out[j++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
		out[j++] = i + 2 < n ? b64[v & 63] : '=';
	}
	return (ssize_t)need;
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

ssize_t fb_base64_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
	if (n % 4)
		return -1;
	size_t j = 0;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad)        /* data after padding */
				return -1;
			v[k] = b64val(in[i + k]);
			if (v[k] < 0)
				return -1;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		size_t take = 3 - (size_t)pad;
		if (j + take > cap)
			return -1;
		out[j++] = (uint8_t)(w >> 16);
		if (take > 1) out[j++] = (uint8_t)(w >> 8);
		if (take > 2) out[j++] = (uint8_t)w;
	}
	return (ssize_t)j;
}

/* "868.100000": MHz with exactly six decimals, from integer Hz (never a binary fraction). */
static void put_freq(struct out *o, uint32_t hz)
{
	put_u(o, hz / 1000000);
	PUTS(o, ".");
	put_pad(o, hz % 1000000, 6);
}

static void put_tenths(struct out *o, int v)
{
	if (v < 0) {
		PUTS(o, "-");
		v = -v;
	}
	put_u(o, (unsigned)v / 10);
	PUTS(o, ".");
	put_pad(o, (unsigned)v % 10, 1);
}

static void put_rxpk(struct out *o, const struct fb_sm_rxpk *r)
{
	char t[27], datr[16];
	PUTS(o, "{\"tmst\":"); put_u(o, r->tmst);
	PUTS(o, ",\"time\":\""); fb_sm_format_rfc3339_us(r->time, t); put(o, t, 27);
	PUTS(o, "\",\"chan\":"); put_u(o, r->chan);
	PUTS(o, ",\"rfch\":"); put_u(o, r->rfch);
	PUTS(o, ",\"freq\":"); put_freq(o, r->freq_hz);
	PUTS(o, ",\"stat\":"); put_i(o, r->stat);
	PUTS(o, ",\"modu\":\"LORA\",\"datr\":\"");
	int dn = fb_lw_dr_name(r->dr, datr, sizeof(datr));
	if (dn < 0) {
		o->full = true;
		return;
	}
	put(o, datr, (size_t)dn);
	PUTS(o, "\",\"codr\":\"4/5\",\"rssi\":"); put_i(o, r->rssi);
	PUTS(o, ",\"lsnr\":"); put_tenths(o, r->lsnr_tenths);
	PUTS(o, ",\"size\":"); put_u(o, r->size);
	PUTS(o, ",\"data\":\"");
	ssize_t bn = o->full ? -1 : fb_base64_encode(r->data, r->size, (char *)o->p, (size_t)(o->end - o->p));
	if (bn < 0) {
		o->full = true;
		return;
	}
	o->p += bn;
	PUTS(o, "\"}");
}

static void put_num(struct out *o, double v, int decimals)
{
	char tmp[32];
	put(o, tmp, fb_fmt_fixed(v, decimals, tmp));
}

static void put_stat(struct out *o, const struct fb_sm_stat *s)
{
	char t[23];
	PUTS(o, "\"stat\":{\"time\":\""); fb_sm_format_stat_time(s->time, t); put(o, t, 23);
	PUTS(o, "\"");
	if (s->has_gps) {
		PUTS(o, ",\"lati\":"); put_num(o, s->lat, 5);
		PUTS(o, ",\"long\":"); put_num(o, s->lon, 5);
		PUTS(o, ",\"alti\":"); put_i(o, s->alt);
	}
	PUTS(o, ",\"rxnb\":"); put_u(o, s->rxnb);
	PUTS(o, ",\"rxok\":"); put_u(o, s->rxok);
	PUTS(o, ",\"rxfw\":"); put_u(o, s->rxfw);
	PUTS(o, ",\"ackr\":"); put_num(o, s->ackr, 1);
	PUTS(o, ",\"dwnb\":"); put_u(o, s->dwnb);
	PUTS(o, ",\"txnb\":"); put_u(o, s->txnb);
	PUTS(o, "}");
}

ssize_t fb_sm_push_data(uint8_t ver, uint16_t token, uint64_t gw_eui, const struct fb_sm_rxpk *rx,
                        size_t n, const struct fb_sm_stat *stat, uint8_t *buf, size_t cap)
{
	struct out o = { buf, buf + cap, false };
	header(&o, ver, token, FB_SM_PUSH_DATA, &gw_eui);
	PUTS(&o, "{");
	if (n) {
		PUTS(&o, "\"rxpk\":[");
		for (size_t i = 0; i < n; i++) {
			if (i)
				PUTS(&o, ",");
			put_rxpk(&o, &rx[i]);
		}
		PUTS(&o, "]");
	}
	if (stat) {
		if (n)
			PUTS(&o, ",");
		put_stat(&o, stat);
	}
	PUTS(&o, "}");
	return o.full ? FB_SM_ENOSPC : (ssize_t)(o.p - buf);
}

ssize_t fb_sm_pull_data(uint8_t ver, uint16_t token, uint64_t gw_eui, uint8_t *buf, size_t cap)
{
	struct out o = { buf, buf + cap, false };
	header(&o, ver, token, FB_SM_PULL_DATA, &gw_eui);
	return o.full ? FB_SM_ENOSPC : (ssize_t)(o.p - buf);
}

ssize_t fb_sm_tx_ack(uint8_t ver, uint16_t token, uint64_t gw_eui, const char *error,
                     uint8_t *buf, size_t cap)
{
	struct out o = { buf, buf + cap, false };
	header(&o, ver, token, FB_SM_TX_ACK, &gw_eui);
	if (error && strcmp(error, "NONE")) {
		PUTS(&o, "{\"txpk_ack\":{\"error\":\"");
		put(&o, error, strlen(error));
		PUTS(&o, "\"}}");
	}
	return o.full ? FB_SM_ENOSPC : (ssize_t)(o.p - buf);
}

int fb_sm_header(const uint8_t *buf, size_t len, uint8_t *ver, uint16_t *token, uint8_t *type)
{
	if (len < 4)
		return FB_SM_ESHORT;
	if (buf[0] != 1 && buf[0] != 2)
		return FB_SM_EVERSION;
	if (buf[3] > FB_SM_TX_ACK)
		return FB_SM_ETYPE;
	*ver = buf[0];
	*token = (uint16_t)(buf[1] << 8 | buf[2]);
	*type = buf[3];
	return 0;
}

int fb_sm_parse_pull_resp(const uint8_t *buf, size_t len, struct fb_sm_txpk *tx, const char **what)
{
	uint8_t ver, type;
	uint16_t token;
	const char *dummy;
	if (!what)
		what = &dummy;
	*what = NULL;
	int rc = fb_sm_header(buf, len, &ver, &token, &type);
	if (rc)
		return rc;
	if (type != FB_SM_PULL_RESP)
		return FB_SM_ETYPE;
	json_error_t jerr;
	json_t *root = json_loadb((const char *)buf + 4, len - 4, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return FB_SM_EJSON;
	json_t *t = json_object_get(root, "txpk");
	rc = 0;
	memset(tx, 0, sizeof(*tx));
	if (!json_is_object(t)) {
		rc = FB_SM_EJSON;
		*what = "txpk";
		goto out;
	}
	json_t *v;
	tx->imme = json_is_true(json_object_get(t, "imme"));
	if ((v = json_object_get(t, "tmst"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT32_MAX) {
			rc = FB_SM_EFIELD; *what = "tmst"; goto out;
		}
		tx->has_tmst = true;
		tx->tmst = (uint32_t)json_integer_value(v);
	} else if (!tx->imme) {
		rc = FB_SM_EFIELD; *what = "tmst"; goto out;
	}
	v = json_object_get(t, "freq");
	if (!json_is_number(v) || json_number_value(v) < 100 || json_number_value(v) > 1100) {
		rc = FB_SM_EFIELD; *what = "freq"; goto out;
	}
	tx->freq_hz = (uint32_t)llround(json_number_value(v) * 1e6);
	if ((v = json_object_get(t, "rfch")) && json_is_integer(v))
		tx->rfch = (uint8_t)json_integer_value(v);
	tx->powe = 14;
	if ((v = json_object_get(t, "powe")) && json_is_integer(v))
		tx->powe = (int)json_integer_value(v);
	tx->ipol = json_is_true(json_object_get(t, "ipol"));
	v = json_object_get(t, "modu");
	if (v && (!json_is_string(v) || strcmp(json_string_value(v), "LORA"))) {
		rc = FB_SM_EMODU; *what = "modu"; goto out;
	}
	v = json_object_get(t, "datr");
	if (!json_is_string(v)) {
		rc = FB_SM_EFIELD; *what = "datr"; goto out;
	}
	int dr = fb_lw_dr_parse(json_string_value(v));
	if (dr < 0) {
		rc = FB_SM_EMODU; *what = "datr"; goto out;
	}
	tx->dr = (int8_t)dr;
	v = json_object_get(t, "data");
	if (!json_is_string(v)) {
		rc = FB_SM_EFIELD; *what = "data"; goto out;
	}
	ssize_t n = fb_base64_decode(json_string_value(v), json_string_length(v), tx->data,
	                             sizeof(tx->data));
	if (n < 0) {
		rc = FB_SM_EBASE64; *what = "data"; goto out;
	}
	tx->size = (size_t)n;
	if ((v = json_object_get(t, "size"))
	    && (!json_is_integer(v) || json_integer_value(v) != (json_int_t)n)) {
		rc = FB_SM_ESIZE; *what = "size"; goto out;
	}
out:
	json_decref(root);
	return rc;
}
