/* Modbus request handling, built by hand rather than with modbus_reply(): the values come from
 * typed maps, and libmodbus 3.1.6 lacks FC 43/14, leaks "LMB3.1.6" in FC 17 and sleeps 0.5 s
 * before some exceptions. Clause numbers refer to Modbus Application Protocol v1.1b3. */
#include <string.h>
#include "protocols/modbus/pdu.h"

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

size_t fb_mb_pdu_exception(uint8_t fc, uint8_t code, uint8_t *resp)
{
	resp[0] = (uint8_t)(fc | 0x80);
	resp[1] = code;
	return 2;
}

/* §6.1-6.4: reads. */
static size_t read_reply(const struct fb_mb_target *t, const uint8_t *req, size_t len, uint8_t *resp)
{
	uint8_t fc = req[0];
	bool bits = fc == 0x01 || fc == 0x02;
	if (len != 5)
		return fb_mb_pdu_exception(fc, FB_MB_EX_ILLEGAL_VALUE, resp);
	uint16_t address = be16(req + 1), count = be16(req + 3);
	if (count < 1 || count > (bits ? 2000 : 125))
		return fb_mb_pdu_exception(fc, FB_MB_EX_ILLEGAL_VALUE, resp);
	if ((uint32_t)address + count > 65536)
		return fb_mb_pdu_exception(fc, FB_MB_EX_ILLEGAL_ADDRESS, resp);
	int ex;
	if (bits) {
		ex = fb_regmap_read_bits(t->map, fc == 0x01 ? FB_MB_COILS : FB_MB_DISCRETE, address,
		                         count, &t->view, resp + 2);
		if (ex)
			return fb_mb_pdu_exception(fc, (uint8_t)ex, resp);
		resp[0] = fc;
		resp[1] = (uint8_t)((count + 7) / 8);
		return 2u + resp[1];
	}
	uint16_t regs[125];
	ex = fb_regmap_read_regs(t->map, fc == 0x03 ? FB_MB_HOLDING : FB_MB_INPUT, address, count,
	                         &t->view, regs);
	if (ex)
		return fb_mb_pdu_exception(fc, (uint8_t)ex, resp);
	resp[0] = fc;
	resp[1] = (uint8_t)(2 * count);
	for (unsigned i = 0; i < count; i++)
		put16(resp + 2 + 2 * i, regs[i]);
	return 2u + resp[1];
}

/* §6.5, 6.6, 6.11, 6.12: writes; the reply echoes address and value or quantity. */
static size_t write_reply(const struct fb_mb_target *t, const uint8_t *req, size_t len, uint8_t *resp)
{
	uint8_t fc = req[0];
	int ex;
	if (fc == 0x05 || fc == 0x06) {
		if (len != 5)
			return fb_mb_pdu_exception(fc, FB_MB_EX_ILLEGAL_VALUE, resp);
		uint16_t address = be16(req + 1), value = be16(req + 3);
		if (fc == 0x05) {
			if (value != 0xFF00 && value != 0x0000)
				return fb_mb_pdu_exception(fc, FB_MB_EX_ILLEGAL_VALUE, resp);
			uint8_t bit = value ? 1 : 0;
			ex = fb_regmap_write_bits(t->map, address, 1, &bit, t->write, t->write_arg);
		} else {
			ex = fb_regmap_write_regs(t->map, address, 1, &value, &t->view, t->write,
			                          t->write_arg);
		}
		if (ex)
			return fb_mb_pdu_exception(fc, (uint8_t)ex, resp);
		memcpy(resp, req, 5);
		return 5;
	}
	if (len < 6)
		return fb_mb_pdu_exception(fc, FB_MB_EX_ILLEGAL_VALUE, resp);
	uint16_t address = be16(req + 1), count = be16(req + 3);
	uint8_t nbytes = req[5];
	bool coils = fc == 0x0F;
	if (count < 1 || count > (coils ? 0x7B0 : 0x7B) ||
	    nbytes != (coils ? (count + 7) / 8 : 2 * count) || len != 6u + nbytes)
		return fb_mb_pdu_exception(fc, FB_MB_EX_ILLEGAL_VALUE, resp);
	if ((uint32_t)address + count > 65536)
		return fb_mb_pdu_exception(fc, FB_MB_EX_ILLEGAL_ADDRESS, resp);
	if (coils) {
		ex = fb_regmap_write_bits(t->map, address, count, req + 6, t->write, t->write_arg);
	} else {
		uint16_t regs[0x7B];
		for (unsigned i = 0; i < count; i++)
			regs[i] = be16(req + 6 + 2 * i);
		ex = fb_regmap_write_regs(t->map, address, count, regs, &t->view, t->write, t->write_arg);
	}
	if (ex)
		return fb_mb_pdu_exception(fc, (uint8_t)ex, resp);
	memcpy(resp, req, 5);
	return 5;
}

static const char *ident_object(const struct fb_mb_target *t, unsigned id)
{
	if (id >= FB_MB_IDENT_OBJECTS)
		return NULL;
	if (t->map->ident.object[id])
		return t->map->ident.object[id];
	return id == 6 ? t->view.device_id : NULL;
}

/* §6.13 Report Server ID: server id, run indicator ON, then the identity as text. */
static size_t report_server_id(const struct fb_mb_target *t, size_t len, uint8_t *resp)
{
	if (len != 1)
		return fb_mb_pdu_exception(0x11, FB_MB_EX_ILLEGAL_VALUE, resp);
	char text[200];
	int n = snprintf(text, sizeof text, "%s %s %s", ident_object(t, 0) ? ident_object(t, 0) : "",
	                 ident_object(t, 1) ? ident_object(t, 1) : "",
	                 ident_object(t, 2) ? ident_object(t, 2) : "");
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof text)
		n = sizeof text - 1;
	resp[0] = 0x11;
	resp[1] = (uint8_t)(2 + n);
	resp[2] = t->map->ident.server_id;
	resp[3] = 0xFF;
	memcpy(resp + 4, text, (size_t)n);
	return 4u + (size_t)n;
}

/* §6.21 Read Device Identification (MEI 0x0E): basic (1), regular (2), extended (3) stream
 * access and individual access (4). Conformity 0x82: regular, stream and individual. */
static size_t read_device_id(const struct fb_mb_target *t, const uint8_t *req, size_t len,
                             uint8_t *resp)
{
	if (len < 2 || req[1] != 0x0E)
		return fb_mb_pdu_exception(0x2B, FB_MB_EX_ILLEGAL_FUNCTION, resp);
	if (len != 4 || req[2] < 1 || req[2] > 4)
		return fb_mb_pdu_exception(0x2B, FB_MB_EX_ILLEGAL_VALUE, resp);
	uint8_t code = req[2], first = req[3];
	unsigned last = code == 1 ? 2 : FB_MB_IDENT_OBJECTS - 1;
	if (code == 4) {
		if (!ident_object(t, first))
			return fb_mb_pdu_exception(0x2B, FB_MB_EX_ILLEGAL_ADDRESS, resp);
		last = first;
	} else if (first > last || !ident_object(t, first)) {
		first = 0;   /* §6.21: an unknown start object restarts the stream at 0 */
	}
	resp[0] = 0x2B;
	resp[1] = 0x0E;
	resp[2] = code;
	resp[3] = 0x82;
	resp[4] = 0x00;   /* more follows */
	resp[5] = 0x00;   /* next object id */
	resp[6] = 0;      /* number of objects */
	size_t n = 7;
	for (unsigned id = first; id <= last; id++) {
		const char *s = ident_object(t, id);
		if (!s)
			continue;
		size_t sl = strlen(s);
		if (sl > 245)
			sl = 245;
		if (n + 2 + sl > FB_MB_PDU_MAX) {
			resp[4] = 0xFF;
			resp[5] = (uint8_t)id;
			break;
		}
		resp[n++] = (uint8_t)id;
		resp[n++] = (uint8_t)sl;
		memcpy(resp + n, s, sl);
		n += sl;
		resp[6]++;
	}
	return n;
}

size_t fb_mb_pdu_reply(const struct fb_mb_target *t, const uint8_t *req, size_t len, uint8_t *resp)
{
	if (len < 1)
		return fb_mb_pdu_exception(0, FB_MB_EX_ILLEGAL_FUNCTION, resp);
	switch (req[0]) {
	case 0x01: case 0x02: case 0x03: case 0x04:
		return read_reply(t, req, len, resp);
	case 0x05: case 0x06: case 0x0F: case 0x10:
		return write_reply(t, req, len, resp);
	case 0x11:
		return report_server_id(t, len, resp);
	case 0x2B:
		return read_device_id(t, req, len, resp);
	default:
		return fb_mb_pdu_exception(req[0], FB_MB_EX_ILLEGAL_FUNCTION, resp);
	}
}
