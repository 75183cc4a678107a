/* LoRaWAN crypto against published vectors (fixtures/lorawan/crypto.txt). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "protocols/lorawan/crypto.h"
#include "protocols/lorawan/tests/lwtest.h"

static struct fb_lw_crypto cr;

static int hexfield(const struct lw_block *b, const char *name, uint8_t *buf, size_t cap)
{
	const char *v = lw_get(b, name);
	if (!v) {
		fprintf(stderr, "fixture block at line %d lacks '%s'\n", b->line, name);
		fail();
	}
	int n = lw_unhex(v, buf, cap);
	if (n < 0) {
		fprintf(stderr, "fixture block at line %d: bad hex in '%s'\n", b->line, name);
		fail();
	}
	return n;
}

static void key16(const struct lw_block *b, const char *name, uint8_t key[16])
{
	assert_int_equal(hexfield(b, name, key, 16), 16);
}

static uint32_t be_int(const struct lw_block *b, const char *name)
{
	uint8_t v[4];
	int n = hexfield(b, name, v, 4);
	uint32_t x = 0;
	for (int i = 0; i < n; i++)
		x = x << 8 | v[i];
	return x;
}

static void check_aes(const struct lw_block *b)
{
	uint8_t key[16], in[16], want[16], out[16], back[16];
	key16(b, "key", key);
	key16(b, "in", in);
	key16(b, "out", want);
	assert_int_equal(fb_lw_aes_encrypt(&cr, key, in, out), 0);
	assert_memory_equal(out, want, 16);
	assert_int_equal(fb_lw_aes_decrypt(&cr, key, out, back), 0);
	assert_memory_equal(back, in, 16);
}

static void check_cmac(const struct lw_block *b)
{
	uint8_t key[16], msg[128], want[16], tag[16];
	key16(b, "key", key);
	int n = hexfield(b, "msg", msg, sizeof(msg));
	key16(b, "tag", want);
	assert_int_equal(fb_lw_cmac(&cr, key, msg, (size_t)n, tag), 0);
	assert_memory_equal(tag, want, 16);
}

/* Reads DevAddr, FCnt, FPort and the direction from the frame bytes (1.0.4 §4.3), computes the
 * MIC and decrypts the FRMPayload with the key the FPort selects. */
static void check_data(const struct lw_block *b)
{
	uint8_t phy[256], nwk[16], app[16], plain[256], out[256], mic[4];
	int len = hexfield(b, "phy", phy, sizeof(phy));
	key16(b, "nwk_s_key", nwk);
	key16(b, "app_s_key", app);
	enum fb_lw_dir dir = ((phy[0] >> 5) & 1) ? FB_LW_DOWN : FB_LW_UP;   /* odd MTypes go down */
	uint32_t dev_addr = (uint32_t)fb_lw_get_le(phy + 1, 4);
	uint32_t fcnt = (uint32_t)fb_lw_get_le(phy + 6, 2);
	if (lw_get(b, "fcnt_high"))
		fcnt |= be_int(b, "fcnt_high") << 16;
	int fopts_len = phy[5] & 0x0f;
	int msg_len = len - 4;

	assert_int_equal(fb_lw_data_mic(&cr, nwk, dir, dev_addr, fcnt, phy, (size_t)msg_len, mic), 0);
	assert_memory_equal(mic, phy + msg_len, 4);

	/* A single flipped bit anywhere must change the MIC. */
	phy[msg_len - 1] ^= 0x01;
	fb_lw_data_mic(&cr, nwk, dir, dev_addr, fcnt, phy, (size_t)msg_len, mic);
	assert_memory_not_equal(mic, phy + msg_len, 4);
	phy[msg_len - 1] ^= 0x01;

	int port_at = 8 + fopts_len;
	if (port_at < msg_len && lw_get(b, "plain")) {   /* "plain" absent: the source gives the MIC only */
		int plen = msg_len - port_at - 1;
		const uint8_t *key = phy[port_at] == 0 ? nwk : app;
		assert_int_equal(hexfield(b, "plain", plain, sizeof(plain)), plen);
		assert_int_equal(fb_lw_payload_crypt(&cr, key, dir, dev_addr, fcnt, phy + port_at + 1,
		                                     (size_t)plen, out), 0);
		assert_memory_equal(out, plain, (size_t)plen);
		/* And encryption is the same operation. */
		fb_lw_payload_crypt(&cr, key, dir, dev_addr, fcnt, plain, (size_t)plen, out);
		assert_memory_equal(out, phy + port_at + 1, (size_t)plen);
	}
}

static void check_join_mic(const struct lw_block *b)
{
	uint8_t key[16], msg[64], want[4], mic[4];
	key16(b, "app_key", key);
	int n = hexfield(b, "msg", msg, sizeof(msg));
	assert_int_equal(hexfield(b, "mic", want, 4), 4);
	assert_int_equal(fb_lw_join_mic(&cr, key, msg, (size_t)n, mic), 0);
	assert_memory_equal(mic, want, 4);
}

static void check_join_accept(const struct lw_block *b)
{
	uint8_t key[16], plain[64], wire[64], out[64], mic[4];
	key16(b, "app_key", key);
	int n = hexfield(b, "plain", plain, sizeof(plain));
	assert_int_equal(hexfield(b, "wire", wire, sizeof(wire)), n);
	assert_int_equal(fb_lw_join_accept_encrypt(&cr, key, plain, (size_t)n, out), 0);
	assert_memory_equal(out, wire, (size_t)n);
	assert_int_equal(fb_lw_join_accept_decrypt(&cr, key, wire, (size_t)n, out), 0);
	assert_memory_equal(out, plain, (size_t)n);
	/* The plaintext's last 4 bytes are its MIC (1.0.4 §6.2.5). */
	fb_lw_join_mic(&cr, key, plain, (size_t)n - 4, mic);
	assert_memory_equal(mic, plain + n - 4, 4);
}

static void check_keys(const struct lw_block *b)
{
	uint8_t key[16], want_nwk[16], want_app[16], nwk[16], app[16];
	key16(b, "app_key", key);
	key16(b, "nwk_s_key", want_nwk);
	key16(b, "app_s_key", want_app);
	assert_int_equal(fb_lw_session_keys(&cr, key, be_int(b, "join_nonce"), be_int(b, "net_id"),
	                                    (uint16_t)be_int(b, "dev_nonce"), nwk, app), 0);
	assert_memory_equal(nwk, want_nwk, 16);
	assert_memory_equal(app, want_app, 16);
}

static void test_vectors(void **state)
{
	static const struct {
		const char *name;
		void (*check)(const struct lw_block *);
		int min;
	} kinds[] = {
		{ "aes", check_aes, 1 }, { "cmac", check_cmac, 4 }, { "data", check_data, 12 },
		{ "join_mic", check_join_mic, 5 }, { "join_accept", check_join_accept, 4 },
		{ "keys", check_keys, 3 },
	};
	int seen[6] = { 0 };
	FILE *f = lw_open_fixture("crypto.txt");
	struct lw_block b;
	int lineno = 0;
	while (lw_next_block(f, &lineno, &b)) {
		const char *kind = lw_get(&b, "test");
		assert_non_null(kind);
		size_t k;
		for (k = 0; k < 6 && strcmp(kinds[k].name, kind); k++)
			;
		if (k == 6) {
			fprintf(stderr, "fixture line %d: unknown test '%s'\n", b.line, kind);
			fail();
		}
		print_message("crypto.txt:%d %s\n", b.line, kind);
		kinds[k].check(&b);
		seen[k]++;
	}
	fclose(f);
	/* Guards against a truncated fixture passing silently. */
	for (size_t k = 0; k < 6; k++)
		assert_true(seen[k] >= kinds[k].min);
}

static void test_join_accept_bad_length(void **state)
{
	uint8_t key[16] = { 0 }, buf[40] = { 0x20 };
	assert_int_equal(fb_lw_join_accept_decrypt(&cr, key, buf, 16, buf), -1);
	assert_int_equal(fb_lw_join_accept_decrypt(&cr, key, buf, 20, buf), -1);
	assert_int_equal(fb_lw_join_accept_encrypt(&cr, key, buf, 0, buf), -1);
}

static void test_in_place(void **state)
{
	/* Vector A's payload decrypted in place gives the same bytes as out of place. */
	uint8_t key[16], buf[4] = { 0x95, 0x43, 0x78, 0x76 };
	lw_unhex("ec925802ae430ca77fd3dd73cb2cc588", key, 16);
	assert_int_equal(fb_lw_payload_crypt(&cr, key, FB_LW_UP, 0x49be7df1, 2, buf, 4, buf), 0);
	assert_memory_equal(buf, "test", 4);
}

static int setup(void **state)
{
	return fb_lw_crypto_init(&cr);
}

static int teardown(void **state)
{
	fb_lw_crypto_release(&cr);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_join_accept_bad_length),
		cmocka_unit_test(test_in_place),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
