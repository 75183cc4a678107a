/* libFuzzer harness: the JSON of a PUSH_DATA as the bench's LoRaWAN network-server collector
 * reads it (harness/collect_lorawan.c on the cursor of harness/jcur.h, reached here by including
 * the file). The bytes are the datagram after its 12-byte header, NUL-terminated as the
 * collector's receive buffer is. Each rxpk object is read as the collector reads it, and its
 * data base64-decoded into a PHYPayload buffer. Checked: nothing is read past the datagram, a
 * string points inside it, numbers convert without undefined behaviour (UBSan), and a document
 * the reader accepts is one that fb_jcur_skip() also walks. Seeds: fixtures/fuzz/push/. */
#include "harness/collect_lorawan.c"
#include "fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	FB_FUZZ_CHECK(buf);
	if (size)
		memcpy(buf, data, size);
	buf[size] = '\0';
	const char *end = buf + size;

	/* push_json's walk, with the rxpk objects checked instead of handed to the collector */
	struct fb_jcur j = { buf, end };
	bool whole = false;
	if (fb_jcur_lit(&j, '{')) {
		if (fb_jcur_lit(&j, '}')) {
			whole = true;
		} else {
			bool ok = true;
			do {
				const char *k;
				size_t kn;
				if (!fb_jcur_str(&j, &k, &kn, NULL) || !fb_jcur_lit(&j, ':')) {
					ok = false;
					break;
				}
				FB_FUZZ_CHECK(k >= buf && k + kn <= end);
				if (fb_jcur_key_is(k, kn, "rxpk")) {
					if (!fb_jcur_lit(&j, '[')) {
						ok = false;
						break;
					}
					if (fb_jcur_lit(&j, ']'))
						continue;
					do {
						struct rx r;
						if (!rxpk_object(&j, &r)) {
							ok = false;
							break;
						}
						FB_FUZZ_CHECK(r.size >= -1 && r.size <= 255);
						if (r.data) {
							FB_FUZZ_CHECK(r.data >= buf && r.data + r.data_len <= end);
							uint8_t phy[FB_LW_MAX_PHY];
							ssize_t n = fb_base64_decode(r.data, r.data_len, phy, sizeof phy);
							FB_FUZZ_CHECK(n >= -1 && n <= (ssize_t)sizeof phy);
						}
					} while (ok && fb_jcur_lit(&j, ','));
					if (!ok || !fb_jcur_lit(&j, ']')) {
						ok = false;
						break;
					}
				} else if (!fb_jcur_skip(&j, 1)) {
					ok = false;
					break;
				}
			} while (fb_jcur_lit(&j, ','));
			whole = ok && fb_jcur_lit(&j, '}');
		}
	}
	FB_FUZZ_CHECK(j.p >= buf && j.p <= end);
	/* the generic walker over the same bytes */
	struct fb_jcur k = { buf, end };
	bool walked = fb_jcur_skip(&k, 0);
	FB_FUZZ_CHECK(k.p >= buf && k.p <= end);
	if (whole)
		FB_FUZZ_CHECK(walked);
	free(buf);
	return 0;
}
