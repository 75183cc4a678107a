/* Modbus TCP framing (MBAP header, Modbus Messaging on TCP/IP v1.0b §3.1.3) and Modbus RTU
 * framing (Modbus over Serial Line v1.02 §2.5.1): pure functions over caller-owned bytes. */
#ifndef FB_MODBUS_MBAP_H
#define FB_MODBUS_MBAP_H
#include <stddef.h>
#include <stdint.h>

enum { FB_MBAP_HEADER = 7, FB_MBAP_MAX_ADU = 260, FB_RTU_MAX_ADU = 256 };

struct fb_mbap {
	uint16_t transaction;
	uint16_t protocol;
	uint16_t length;      /* unit id + PDU */
	uint8_t unit;
};

enum fb_mbap_status {
	FB_MBAP_NEED_MORE = 0,
	FB_MBAP_BAD_PROTOCOL = -1,   /* protocol id is not 0 */
	FB_MBAP_BAD_LENGTH = -2      /* length field outside 2..254 */
};

/* Looks at the start of buf[n]: returns the length of a complete ADU (header + PDU), or a
 * fb_mbap_status. Fills *h once the header is there. */
int fb_mbap_frame(const uint8_t *buf, size_t n, struct fb_mbap *h);
/* Writes the 7-byte header of a response carrying pdu_len bytes; returns 7. */
size_t fb_mbap_header(uint8_t *out, uint16_t transaction, uint8_t unit, size_t pdu_len);

/* CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF); sent low byte first. */
uint16_t fb_rtu_crc16(const uint8_t *buf, size_t n);
/* Length of the request frame at the start of buf[n] (address, PDU, CRC) judged by its function
 * code: > 0 when known, 0 when more bytes are needed to know, -1 when the function code does not
 * tell (the caller then frames by the 3.5-character silence). */
int fb_rtu_request_length(const uint8_t *buf, size_t n);

#endif
