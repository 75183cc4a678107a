/* libFuzzer harness: what a network server sends a Semtech UDP gateway (PUSH_ACK, PULL_ACK,
 * PULL_RESP with its txpk JSON) and the RFC 4648 base64 inside. The bytes go through
 * fb_sm_header() and fb_sm_parse_pull_resp() as a datagram, and again behind a valid PULL_RESP
 * header so the JSON parser is reached whatever the first bytes are. Checked: a parsed txpk is
 * within its bounds, and base64 that decodes re-encodes to a text that decodes to the same
 * bytes. Seeds: fixtures/fuzz/semtech/. */
#include <stdlib.h>
#include <string.h>
#include "fuzz/fuzz.h"
#include "protocols/lorawan/semtech.h"
#include "sim/log.h"

static void pull_resp(const uint8_t *p, size_t n)
{
	struct fb_sm_txpk tx;
	const char *what = NULL;
	memset(&tx, 0xA5, sizeof tx);
	int rc = fb_sm_parse_pull_resp(p, n, &tx, &what);
	FB_FUZZ_CHECK(rc <= 0 && rc >= FB_SM_EMODU);
	FB_FUZZ_CHECK(fb_sm_strerror(rc) != NULL);
	if (rc == 0) {
		FB_FUZZ_CHECK(tx.size <= sizeof tx.data);
		FB_FUZZ_CHECK(tx.dr >= 0 && tx.dr <= 5);
	}
}

static void base64(const uint8_t *p, size_t n)
{
	uint8_t *out = malloc(n ? n : 1);
	FB_FUZZ_CHECK(out);
	ssize_t k = fb_base64_decode((const char *)p, n, out, n);
	FB_FUZZ_CHECK(k >= -1 && k <= (ssize_t)n);
	if (k >= 0) {
		size_t enc_len = 4 * (((size_t)k + 2) / 3);
		char *enc = malloc(enc_len ? enc_len : 1);
		uint8_t *back = malloc(k ? (size_t)k : 1);
		FB_FUZZ_CHECK(enc && back);
		FB_FUZZ_CHECK(fb_base64_encode(out, (size_t)k, enc, enc_len) == (ssize_t)enc_len);
		FB_FUZZ_CHECK(fb_base64_decode(enc, enc_len, back, (size_t)k) == k);
		FB_FUZZ_CHECK(memcmp(back, out, (size_t)k) == 0);
		/* One byte short of room is refused, never overrun. */
		if (k > 0)
			FB_FUZZ_CHECK(fb_base64_decode((const char *)p, n, out, (size_t)k - 1) == -1);
		free(enc);
		free(back);
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fb_log_level = FB_LOG_ERROR;
	uint8_t ver, type;
	uint16_t token;
	int rc = fb_sm_header(data, size, &ver, &token, &type);
	FB_FUZZ_CHECK(rc == 0 || rc == FB_SM_ESHORT || rc == FB_SM_EVERSION || rc == FB_SM_ETYPE);
	if (rc == 0)
		FB_FUZZ_CHECK((ver == 1 || ver == 2) && type <= FB_SM_TX_ACK);
	pull_resp(data, size);

	/* The same bytes as the JSON of a PULL_RESP, in a block of exactly their size. */
	uint8_t *dg = malloc(size + 4);
	FB_FUZZ_CHECK(dg);
	dg[0] = 2; dg[1] = 0x12; dg[2] = 0x34; dg[3] = FB_SM_PULL_RESP;
	memcpy(dg + 4, data, size);
	pull_resp(dg, size + 4);
	free(dg);

	base64(data, size);
	return 0;
}
