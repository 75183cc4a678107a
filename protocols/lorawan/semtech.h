/* Semtech UDP packet-forwarder protocol (GWMP; Lora-net/packet_forwarder PROTOCOL.TXT rev 1.4,
 * protocol version 2, version 1 selectable): datagram builders for the gateway side (PUSH_DATA
 * with rxpk[] and stat, PULL_DATA, TX_ACK) without allocation, and parsers for what the network
 * server sends (PUSH_ACK, PULL_ACK, PULL_RESP txpk via jansson). Also RFC 4648 base64. */
#ifndef FB_SEMTECH_H
#define FB_SEMTECH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "sim/fbtime.h"

enum fb_sm_type {
	FB_SM_PUSH_DATA = 0, FB_SM_PUSH_ACK = 1, FB_SM_PULL_DATA = 2, FB_SM_PULL_RESP = 3,
	FB_SM_PULL_ACK = 4, FB_SM_TX_ACK = 5
};

#define FB_SM_MAX_RXPK 8            /* NB_PKT_MAX in lora_pkt_fwd.c */
#define FB_SM_BUF_SIZE 8192         /* 8 rxpk of 255-byte frames fit with room to spare */

enum fb_sm_err {
	FB_SM_ENOSPC = -1,     /* output buffer too small */
	FB_SM_ESHORT = -2,     /* datagram shorter than its type needs */
	FB_SM_EVERSION = -3,   /* protocol version not 1 or 2 */
	FB_SM_ETYPE = -4,      /* unknown packet type */
	FB_SM_EJSON = -5,      /* not JSON, or no "txpk" object */
	FB_SM_EFIELD = -6,     /* a txpk field missing or of the wrong type or value */
	FB_SM_EBASE64 = -7,    /* "data" not valid padded base64 */
	FB_SM_ESIZE = -8,      /* "size" disagrees with the decoded data */
	FB_SM_EMODU = -9       /* not a LoRa 125 kHz txpk this simulator can receive */
};
const char *fb_sm_strerror(int err);

/* One received frame as the gateway reports it (PROTOCOL.TXT §4 rxpk). */
struct fb_sm_rxpk {
	uint32_t tmst;             /* gateway µs counter at end of reception */
	fb_time_us time;           /* UTC reception time ("time", RFC 3339 with µs) */
	uint32_t freq_hz;          /* printed exactly: 868100000 -> 868.100000 */
	uint8_t chan, rfch;
	int8_t stat;               /* CRC: 1 ok, -1 bad, 0 none */
	int8_t dr;                 /* 0..5 -> "SF12BW125".."SF7BW125" */
	int16_t rssi;              /* dBm */
	int16_t lsnr_tenths;       /* SNR in 0.1 dB */
	const uint8_t *data;
	size_t size;
};

/* Gateway statistics (PROTOCOL.TXT §4 stat). */
struct fb_sm_stat {
	fb_time_us time;           /* printed "YYYY-MM-DD hh:mm:ss GMT" */
	bool has_gps;
	double lat, lon;
	int alt;
	uint32_t rxnb, rxok, rxfw;
	double ackr;               /* % of upstream datagrams acknowledged */
	uint32_t dwnb, txnb;
};

/* PUSH_DATA: header (ver, token, 0x00, gateway EUI big-endian) and {"rxpk":[...],"stat":{...}}
 * (either may be absent: n == 0, stat == NULL). Returns the datagram length or FB_SM_ENOSPC. */
ssize_t fb_sm_push_data(uint8_t ver, uint16_t token, uint64_t gw_eui, const struct fb_sm_rxpk *rx,
                        size_t n, const struct fb_sm_stat *stat, uint8_t *buf, size_t cap);
/* PULL_DATA: 12 bytes. */
ssize_t fb_sm_pull_data(uint8_t ver, uint16_t token, uint64_t gw_eui, uint8_t *buf, size_t cap);
/* TX_ACK (v2) for the PULL_RESP's token: no JSON when error is NULL or "NONE" (as the reference
 * forwarder v4.0.1), else {"txpk_ack":{"error":"<error>"}}. */
ssize_t fb_sm_tx_ack(uint8_t ver, uint16_t token, uint64_t gw_eui, const char *error,
                     uint8_t *buf, size_t cap);
/* The 4-byte header of any datagram. Returns 0, FB_SM_ESHORT, FB_SM_EVERSION or FB_SM_ETYPE. */
int fb_sm_header(const uint8_t *buf, size_t len, uint8_t *ver, uint16_t *token, uint8_t *type);

/* A downlink request (PROTOCOL.TXT §6 txpk), LoRa only. */
struct fb_sm_txpk {
	bool imme;
	bool has_tmst;
	uint32_t tmst;
	uint32_t freq_hz;          /* rounded to the nearest Hz */
	uint8_t rfch;
	int powe;                  /* dBm; 14 when absent */
	int8_t dr;                 /* from "datr" */
	bool ipol;
	uint8_t data[256];
	size_t size;
};
/* Parses a whole PULL_RESP datagram (header included). Returns 0 or a negative fb_sm_err; `*what`
 * (may be NULL) names the offending field for the log. Uses jansson (allocates; downlinks are
 * rare compared with uplinks). */
int fb_sm_parse_pull_resp(const uint8_t *buf, size_t len, struct fb_sm_txpk *tx, const char **what);

/* Standard base64 with padding (RFC 4648 §4). encode writes 4*ceil(n/3) chars (no NUL) and
 * returns that length, or -1 when cap is too small. decode returns the byte count, or -1 on a
 * bad character, bad padding, a length that is not a multiple of 4, or overflow. */
ssize_t fb_base64_encode(const uint8_t *in, size_t n, char *out, size_t cap);
ssize_t fb_base64_decode(const char *in, size_t n, uint8_t *out, size_t cap);

/* "2013-03-31T16:21:17.528002Z" (27 chars) and "2014-01-12 08:59:28 GMT" (23 chars), no NUL. */
size_t fb_sm_format_rfc3339_us(fb_time_us t, char out[27]);
size_t fb_sm_format_stat_time(fb_time_us t, char out[23]);

#endif
