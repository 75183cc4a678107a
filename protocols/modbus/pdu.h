/* Modbus application layer (Modbus Application Protocol v1.1b3): one request PDU against one
 * device's register map, into one response PDU. Pure: caller-owned buffers, no I/O. The same code
 * answers TCP (MBAP, mbap.h) and RTU (rtu.h). */
#ifndef FB_MODBUS_PDU_H
#define FB_MODBUS_PDU_H
#include <stddef.h>
#include <stdint.h>
#include "protocols/modbus/regmap.h"

enum { FB_MB_PDU_MAX = 253 };

/* The unit a request is addressed to. */
struct fb_mb_target {
	const struct fb_regmap *map;
	struct fb_mb_devview view;
	fb_mb_write_fn write;      /* writes become commands through it */
	void *write_arg;
};

/* Answers FC 01, 02, 03, 04, 05, 06, 15, 16, 17 and 43/14; any other function code gets
 * exception 01, a malformed PDU of a known function exception 03, an address outside the map
 * exception 02. Writes resp (FB_MB_PDU_MAX bytes) and returns its length (always >= 2). */
size_t fb_mb_pdu_reply(const struct fb_mb_target *t, const uint8_t *req, size_t len, uint8_t *resp);
/* An exception response to function `fc`: 2 bytes. */
size_t fb_mb_pdu_exception(uint8_t fc, uint8_t code, uint8_t *resp);

#endif
