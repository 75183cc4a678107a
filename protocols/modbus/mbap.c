#include "protocols/modbus/mbap.h"

int fb_mbap_frame(const uint8_t *buf, size_t n, struct fb_mbap *h)
{
	if (n < FB_MBAP_HEADER)
		return FB_MBAP_NEED_MORE;
	h->transaction = (uint16_t)(buf[0] << 8 | buf[1]);
	h->protocol = (uint16_t)(buf[2] << 8 | buf[3]);
	h->length = (uint16_t)(buf[4] << 8 | buf[5]);
	h->unit = buf[6];
	if (h->protocol != 0)
		return FB_MBAP_BAD_PROTOCOL;
	/* unit id + at least a function code, at most unit id + a 253-byte PDU */
	if (h->length < 2 || h->length > 254)
		return FB_MBAP_BAD_LENGTH;
	size_t total = 6u + h->length;
	return n >= total ? (int)total : FB_MBAP_NEED_MORE;
}

size_t fb_mbap_header(uint8_t *out, uint16_t transaction, uint8_t unit, size_t pdu_len)
{
	out[0] = (uint8_t)(transaction >> 8);
	out[1] = (uint8_t)transaction;
	out[2] = 0;
	out[3] = 0;
	out[4] = (uint8_t)((pdu_len + 1) >> 8);
	out[5] = (uint8_t)(pdu_len + 1);
	out[6] = unit;
	return FB_MBAP_HEADER;
}

uint16_t fb_rtu_crc16(const uint8_t *buf, size_t n)
{
	uint16_t crc = 0xFFFF;
	for (size_t i = 0; i < n; i++) {
		crc ^= buf[i];
		for (int b = 0; b < 8; b++)
			crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) : (uint16_t)(crc >> 1);
	}
	return crc;
}

int fb_rtu_request_length(const uint8_t *buf, size_t n)
{
	if (n < 2)
		return 0;
	switch (buf[1]) {
	case 0x01: case 0x02: case 0x03: case 0x04: case 0x05: case 0x06:
		return 8;                       /* addr fc a16 v16 crc16 */
	case 0x0F: case 0x10:
		if (n < 7)
			return 0;
		return 9 + buf[6];              /* addr fc a16 q16 nbytes data crc16 */
	case 0x11:
		return 4;                       /* addr fc crc16 */
	case 0x2B:
		return 7;                       /* addr fc mei code object crc16 */
	default:
		return -1;
	}
}
