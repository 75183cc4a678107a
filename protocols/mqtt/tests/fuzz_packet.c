/* libFuzzer harness: MQTT 3.1.1 and 5.0 packets as a broker sends them to the client. The first
 * byte picks the protocol version, the rest is a byte stream. Checked:
 *   - the stream decodes to the same packets (and ends in the same state) whether it is given
 *     whole or in small reads with the buffer grown on demand, as the client reads a socket
 *     (protocols/mqtt/client.c read_conn);
 *   - a decoded packet re-encodes (encoded_len agrees with encode), and that encoding decodes to
 *     a packet that encodes to the same bytes;
 *   - fb_mqtt_decode() of the whole input agrees with the incremental decoder on a single packet.
 * Seeds: fixtures/fuzz/packet/ (from the .hex files of fixtures/mqtt). */
#include <stdlib.h>
#include <string.h>
#include "fuzz/fuzz.h"
#include "protocols/mqtt/packet.h"

#define MAX_PACKET (1u << 16)

/* The canonical form of what a stream decoded to: each packet's re-encoding (or its encode
 * error), then the final decoder status. */
struct trace {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct trace *t, const void *p, size_t n)
{
	if (t->len + n > t->cap) {
		t->cap = (t->len + n) * 2;
		t->p = realloc(t->p, t->cap);
		FB_FUZZ_CHECK(t->p);
	}
	memcpy(t->p + t->len, p, n);
	t->len += n;
}

static void record(struct trace *t, const struct fb_mqtt_packet *pk, uint8_t version)
{
	ssize_t len = fb_mqtt_encoded_len(pk, version);
	if (len < 0) {
		int8_t e = (int8_t)len;
		put(t, "E", 1);
		put(t, &e, 1);
		return;
	}
	uint8_t *enc = malloc((size_t)len);
	FB_FUZZ_CHECK(enc);
	FB_FUZZ_CHECK(fb_mqtt_encode(pk, version, enc, (size_t)len) == len);
	/* Round trip: what we encode, we decode, to the same packet. */
	struct fb_mqtt_packet again;
	FB_FUZZ_CHECK(fb_mqtt_decode(enc, (size_t)len, version, &again) == 0);
	ssize_t len2 = fb_mqtt_encoded_len(&again, version);
	FB_FUZZ_CHECK(len2 == len);
	uint8_t *enc2 = malloc((size_t)len);
	FB_FUZZ_CHECK(enc2);
	FB_FUZZ_CHECK(fb_mqtt_encode(&again, version, enc2, (size_t)len) == len);
	FB_FUZZ_CHECK(memcmp(enc, enc2, (size_t)len) == 0);
	put(t, "P", 1);
	put(t, enc, (size_t)len);
	free(enc);
	free(enc2);
}

/* Feeds p[n] to a decoder in reads of at most `chunk_max` bytes (1 when 0: byte by byte),
 * starting with a buffer of `cap0` bytes. Returns the final status: 0 when the stream ended
 * between or inside packets, else the decoder's error. */
static int decode_stream(const uint8_t *p, size_t n, uint8_t version, size_t cap0, size_t chunk_max,
                         struct trace *t)
{
	struct fb_mqtt_decoder d;
	size_t cap = cap0;
	uint8_t *buf = malloc(cap);
	FB_FUZZ_CHECK(buf);
	fb_mqtt_decoder_init(&d, buf, cap, MAX_PACKET, version);
	size_t off = 0;
	uint32_t rng = (uint32_t)n * 2654435761u + 1;
	int rc = 0;
	while (rc >= 0) {
		size_t room;
		uint8_t *dst = fb_mqtt_decoder_space(&d, &room);
		FB_FUZZ_CHECK(dst >= buf && dst + room <= buf + cap);
		if (room == 0) {
			size_t want = d.need ? d.need : cap * 2;
			FB_FUZZ_CHECK(want > cap && want <= MAX_PACKET * 2);
			uint8_t *nb = malloc(want);
			FB_FUZZ_CHECK(nb);
			fb_mqtt_decoder_rebuffer(&d, nb, want);
			free(buf);
			buf = nb;
			cap = want;
			continue;
		}
		if (off == n)
			break;
		rng = rng * 1103515245u + 12345u;
		size_t k = chunk_max ? 1 + (rng >> 16) % chunk_max : 1;
		if (k > room)
			k = room;
		if (k > n - off)
			k = n - off;
		memcpy(dst, p + off, k);
		off += k;
		fb_mqtt_decoder_commit(&d, k);
		struct fb_mqtt_packet pk;
		while ((rc = fb_mqtt_decoder_next(&d, &pk)) > 0) {
			FB_FUZZ_CHECK(d.need == 0);
			record(t, &pk, version);
		}
		if (rc == 0 && d.need > cap) {
			FB_FUZZ_CHECK(d.need <= MAX_PACKET);
			uint8_t *nb = malloc(d.need);
			FB_FUZZ_CHECK(nb);
			fb_mqtt_decoder_rebuffer(&d, nb, d.need);
			free(buf);
			buf = nb;
			cap = d.need;
		}
	}
	free(buf);
	int8_t e = (int8_t)(rc < 0 ? rc : 0);
	put(t, "S", 1);
	put(t, &e, 1);
	return rc < 0 ? rc : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static const uint8_t versions[] = { FB_MQTT_V311, FB_MQTT_V5, FB_MQTT_V31 };
	uint8_t version = versions[data[0] % 3];
	const uint8_t *p = data + 1;
	size_t n = size - 1;

	struct trace whole = { 0 }, bytes = { 0 }, chunks = { 0 };
	int rc_whole = decode_stream(p, n, version, n ? n : 1, n ? n : 1, &whole);
	int rc_bytes = decode_stream(p, n, version, 2, 0, &bytes);
	int rc_chunks = decode_stream(p, n, version, 16, 37, &chunks);
	FB_FUZZ_CHECK(rc_whole == rc_bytes && rc_whole == rc_chunks);
	FB_FUZZ_CHECK(whole.len == bytes.len && !memcmp(whole.p, bytes.p, whole.len));
	FB_FUZZ_CHECK(whole.len == chunks.len && !memcmp(whole.p, chunks.p, whole.len));

	/* One packet of exactly n bytes: fb_mqtt_decode agrees with the stream decoder. */
	struct fb_mqtt_packet pk;
	uint8_t *copy = malloc(n ? n : 1);
	FB_FUZZ_CHECK(copy);
	memcpy(copy, p, n);
	if (fb_mqtt_decode(copy, n, version, &pk) == 0) {
		struct trace one = { 0 };
		record(&one, &pk, version);
		FB_FUZZ_CHECK(whole.len >= one.len && !memcmp(whole.p, one.p, one.len));
		free(one.p);
	}
	free(copy);
	free(whole.p);
	free(bytes.p);
	free(chunks.p);
	return 0;
}
