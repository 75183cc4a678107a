/* Register maps: each word/byte order pinned by fixed vectors, the default layout read and
 * written as a Modbus master would, and the printed map. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "protocols/modbus/regmap.h"
#include "protocols/modbus/tests/mbtest_model.h"

/* 123.456f = 0x42F6E979; 7.90f = 0x40FCCCCD (Yosemitech's documented DCBA example: CD CC FC 40). */
static void test_float_orders(void **state)
{
	static const struct { enum fb_mb_order o; float f; uint16_t r0, r1; } v[] = {
		{ FB_MB_ABCD, 123.456f, 0x42F6, 0xE979 },
		{ FB_MB_CDAB, 123.456f, 0xE979, 0x42F6 },
		{ FB_MB_BADC, 123.456f, 0xF642, 0x79E9 },
		{ FB_MB_DCBA, 123.456f, 0x79E9, 0xF642 },
		{ FB_MB_DCBA, 7.90f, 0xCDCC, 0xFC40 },
		{ FB_MB_ABCD, 23.5f, 0x41BC, 0x0000 },
		{ FB_MB_CDAB, -1.0f, 0x0000, 0xBF80 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		uint16_t r[2];
		fb_mb_put_float(v[i].f, v[i].o, r);
		assert_int_equal(r[0], v[i].r0);
		assert_int_equal(r[1], v[i].r1);
		assert_true(fb_mb_get_float(r, v[i].o) == v[i].f);
	}
}

static void test_u32_orders_and_names(void **state)
{
	uint16_t r[2];
	enum fb_mb_order o;
	(void)state;
	fb_mb_put32(0x11223344u, FB_MB_ABCD, r);
	assert_int_equal(r[0], 0x1122); assert_int_equal(r[1], 0x3344);
	fb_mb_put32(0x11223344u, FB_MB_CDAB, r);
	assert_int_equal(r[0], 0x3344); assert_int_equal(r[1], 0x1122);
	fb_mb_put32(0x11223344u, FB_MB_BADC, r);
	assert_int_equal(r[0], 0x2211); assert_int_equal(r[1], 0x4433);
	fb_mb_put32(0x11223344u, FB_MB_DCBA, r);
	assert_int_equal(r[0], 0x4433); assert_int_equal(r[1], 0x2211);
	for (int i = 0; i < 4; i++) {
		fb_mb_put32(0xA1B2C3D4u, (enum fb_mb_order)i, r);
		assert_int_equal(fb_mb_get32(r, (enum fb_mb_order)i), 0xA1B2C3D4u);
	}
	assert_int_equal(fb_mb_order16(0x1E00, FB_MB_DCBA), 0x001E);   /* Yosemitech: 30 min */
	assert_int_equal(fb_mb_order16(0x1E00, FB_MB_CDAB), 0x1E00);
	assert_int_equal(fb_mb_order_parse("cdab", &o), 0);
	assert_int_equal(o, FB_MB_CDAB);
	assert_int_equal(fb_mb_order_parse("ABDC", &o), -1);
}

struct writes { int n; int field[8]; double value[8]; int rc; };

static int record_write(void *arg, int field, double value)
{
	struct writes *w = arg;
	if (w->rc)
		return w->rc;
	w->field[w->n] = field;
	w->value[w->n++] = value;
	return 0;
}

static void test_default_map_reads(void **state)
{
	struct fb_regmap *map = fb_regmap_default(&mbtest_model, FB_MB_CDAB);
	double values[] = { 40, 37.3, -12.25, 3000000000.0, 1, 0 };
	struct fb_mb_devview d = { .values = values, .device_id = "light-000042", .device = 42 };
	uint16_t r[24];
	uint8_t bits[2];
	(void)state;
	assert_non_null(map);

	/* float32 block: field i at 2i, CDAB */
	assert_int_equal(fb_regmap_read_regs(map, FB_MB_HOLDING, 0, 12, &d, r), 0);
	assert_true(fb_mb_get_float(r + 2, FB_MB_CDAB) == 37.3f);
	assert_true(fb_mb_get_float(r + 4, FB_MB_CDAB) == -12.25f);
	assert_true(fb_mb_get_float(r + 8, FB_MB_CDAB) == 1.0f);
	/* scaled block: dimming uint16 1000, power 0.1 W uint16 1002, temperature 0.01 int16 1004,
	 * energy uint32 1006, reserved registers read 0 */
	assert_int_equal(fb_regmap_read_regs(map, FB_MB_INPUT, 1000, 8, &d, r), 0);
	assert_int_equal(r[0], 40);
	assert_int_equal(r[1], 0);
	assert_int_equal(r[2], 373);
	assert_int_equal(r[4], (uint16_t)-1225);
	assert_int_equal(fb_mb_get32(r + 6, FB_MB_CDAB), 3000000000u);
	/* status word: bit 0 lampOn, bit 1 lampFailure */
	assert_int_equal(fb_regmap_read_regs(map, FB_MB_INPUT, 2000, 1, &d, r), 0);
	assert_int_equal(r[0], 0x0001);
	/* identification block */
	assert_int_equal(fb_regmap_read_regs(map, FB_MB_HOLDING, 3000, 18, &d, r), 0);
	assert_int_equal(r[0], ('l' << 8) | 'i');
	assert_int_equal(r[5], ('4' << 8) | '2');
	assert_int_equal(r[6], 0);
	assert_int_equal(r[15], 0);
	assert_int_equal(fb_mb_get32(r + 16, FB_MB_CDAB), 42);
	/* the second half of a float may be read alone */
	assert_int_equal(fb_regmap_read_regs(map, FB_MB_HOLDING, 3, 1, &d, r), 0);
	uint16_t full[2];
	fb_mb_put_float(37.3f, FB_MB_CDAB, full);
	assert_int_equal(r[0], full[1]);
	/* unmapped addresses */
	assert_int_equal(fb_regmap_read_regs(map, FB_MB_HOLDING, 10, 4, &d, r), FB_MB_EX_ILLEGAL_ADDRESS);
	assert_int_equal(fb_regmap_read_regs(map, FB_MB_HOLDING, 11, 2, &d, r), FB_MB_EX_ILLEGAL_ADDRESS);
	assert_int_equal(fb_regmap_read_regs(map, FB_MB_HOLDING, 500, 1, &d, r), FB_MB_EX_ILLEGAL_ADDRESS);
	assert_int_equal(fb_regmap_read_regs(map, FB_MB_INPUT, 2001, 1, &d, r), FB_MB_EX_ILLEGAL_ADDRESS);
	assert_int_equal(fb_regmap_read_regs(map, FB_MB_INPUT, 65535, 1, &d, r), FB_MB_EX_ILLEGAL_ADDRESS);
	/* bits: discrete inputs are both booleans, coils the writable one */
	assert_int_equal(fb_regmap_read_bits(map, FB_MB_DISCRETE, 0, 2, &d, bits), 0);
	assert_int_equal(bits[0], 0x01);
	values[5] = 1;
	assert_int_equal(fb_regmap_read_bits(map, FB_MB_DISCRETE, 1, 1, &d, bits), 0);
	assert_int_equal(bits[0], 0x01);
	assert_int_equal(fb_regmap_read_bits(map, FB_MB_COILS, 0, 1, &d, bits), 0);
	assert_int_equal(bits[0], 0x01);
	assert_int_equal(fb_regmap_read_bits(map, FB_MB_COILS, 0, 2, &d, bits), FB_MB_EX_ILLEGAL_ADDRESS);
	assert_int_equal(fb_regmap_read_bits(map, FB_MB_DISCRETE, 0, 3, &d, bits), FB_MB_EX_ILLEGAL_ADDRESS);
	fb_regmap_free(map);
}

static void test_missing_values_read_as_invalid_markers(void **state)
{
	struct fb_regmap *map = fb_regmap_default(&mbtest_model, FB_MB_ABCD);
	double values[6];
	for (int i = 0; i < 6; i++)
		values[i] = NAN;
	struct fb_mb_devview d = { .values = values, .device_id = "x", .device = 1 };
	uint16_t r[8];
	(void)state;
	assert_int_equal(fb_regmap_read_regs(map, FB_MB_INPUT, 0, 2, &d, r), 0);
	assert_true(isnan(fb_mb_get_float(r, FB_MB_ABCD)));
	assert_int_equal(fb_regmap_read_regs(map, FB_MB_INPUT, 1000, 8, &d, r), 0);
	assert_int_equal(r[0], 0xFFFF);        /* uint16 */
	assert_int_equal(r[4], 0x7FFF);        /* int16 */
	assert_int_equal(r[6], 0xFFFF);        /* uint32 */
	assert_int_equal(r[7], 0xFFFF);
	fb_regmap_free(map);
}

static void test_default_map_writes(void **state)
{
	struct fb_regmap *map = fb_regmap_default(&mbtest_model, FB_MB_ABCD);
	struct writes w = { 0 };
	struct fb_mb_devview d = { 0 };
	uint16_t r[2];
	uint8_t bits[1];
	(void)state;
	/* dimming as float32 (two registers in one write) */
	fb_mb_put_float(55.0f, FB_MB_ABCD, r);
	assert_int_equal(fb_regmap_write_regs(map, 0, 2, r, &d, record_write, &w), 0);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.field[0], 0);
	assert_true(w.value[0] == 55.0);
	/* dimming as scaled uint16 */
	r[0] = 30;
	assert_int_equal(fb_regmap_write_regs(map, 1000, 1, r, &d, record_write, &w), 0);
	assert_int_equal(w.n, 2);
	assert_true(w.value[1] == 30.0);
	/* half a float, a read-only field, out of range, an unmapped address: nothing is written */
	assert_int_equal(fb_regmap_write_regs(map, 0, 1, r, &d, record_write, &w), FB_MB_EX_ILLEGAL_ADDRESS);
	assert_int_equal(fb_regmap_write_regs(map, 1, 1, r, &d, record_write, &w), FB_MB_EX_ILLEGAL_ADDRESS);
	assert_int_equal(fb_regmap_write_regs(map, 1002, 1, r, &d, record_write, &w), FB_MB_EX_ILLEGAL_ADDRESS);
	assert_int_equal(fb_regmap_write_regs(map, 1000, 2, r, &d, record_write, &w), FB_MB_EX_ILLEGAL_ADDRESS);
	r[0] = 101;
	assert_int_equal(fb_regmap_write_regs(map, 1000, 1, r, &d, record_write, &w), FB_MB_EX_ILLEGAL_VALUE);
	fb_mb_put_float(NAN, FB_MB_ABCD, r);
	assert_int_equal(fb_regmap_write_regs(map, 0, 2, r, &d, record_write, &w), FB_MB_EX_ILLEGAL_VALUE);
	assert_int_equal(w.n, 2);
	/* the model refuses: exception 03 */
	r[0] = 20;
	w.rc = -3;
	assert_int_equal(fb_regmap_write_regs(map, 1000, 1, r, &d, record_write, &w), FB_MB_EX_ILLEGAL_VALUE);
	w.rc = 0;
	/* coil: lampOn */
	bits[0] = 0;
	assert_int_equal(fb_regmap_write_bits(map, 0, 1, bits, record_write, &w), 0);
	assert_int_equal(w.n, 3);
	assert_int_equal(w.field[2], 4);
	assert_true(w.value[2] == 0.0);
	assert_int_equal(fb_regmap_write_bits(map, 0, 2, bits, record_write, &w), FB_MB_EX_ILLEGAL_ADDRESS);
	assert_int_equal(fb_regmap_write_bits(map, 1, 1, bits, record_write, &w), FB_MB_EX_ILLEGAL_ADDRESS);
	assert_int_equal(w.n, 3);
	fb_regmap_free(map);
}

static void test_overlap_rejected(void **state)
{
	struct fb_regmap *map = fb_regmap_default(&mbtest_model, FB_MB_ABCD);
	(void)state;
	/* move the second float onto the first one's second register */
	for (size_t i = 0; i < map->n; i++)
		if (map->entries[i].table == FB_MB_HOLDING && map->entries[i].address == 2)
			map->entries[i].address = 1;
	assert_int_equal(fb_regmap_finish(map), -1);
	fb_regmap_free(map);
}

static char *print_map(enum fb_regmap_format fmt)
{
	struct fb_regmap *map = fb_regmap_default(&mbtest_model, FB_MB_DCBA);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_int_equal(fb_regmap_print(map, fmt, f), 0);
	fclose(f);
	fb_regmap_free(map);
	return text;
}

static void test_print(void **state)
{
	(void)state;
	char *md = print_map(FB_REGMAP_MD);
	assert_non_null(strstr(md, "# Modbus register map: mbtest-light"));
	assert_non_null(strstr(md, "| holding | 0 | 40001 | dimmingLevel | float32 | DCBA |  | 1 | % | rw | dimming level |"));
	assert_non_null(strstr(md, "| input | 1002 | 31003 | powerConsumption | uint16 | DCBA |  | 0.1 | W | r | active power |"));
	assert_non_null(strstr(md, "| input | 2000 | 32001 | lampFailure | bit |  | 1 | 1 |  | r | lamp failure |"));
	assert_non_null(strstr(md, "| holding | 3000 | 43001 | deviceId | string[16] |"));
	assert_non_null(strstr(md, "| coil | 0 | 1 | lampOn | bit |"));
	free(md);
	char *csv = print_map(FB_REGMAP_CSV);
	assert_int_equal(strncmp(csv, "table,address,ref,name,type,order,bit,scale,unit,access,description\n", 68), 0);
	assert_non_null(strstr(csv, "\nholding,1006,41007,energy,uint32,DCBA,,1,Wh,r,energy since install\n"));
	free(csv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_float_orders),
		cmocka_unit_test(test_u32_orders_and_names),
		cmocka_unit_test(test_default_map_reads),
		cmocka_unit_test(test_missing_values_read_as_invalid_markers),
		cmocka_unit_test(test_default_map_writes),
		cmocka_unit_test(test_overlap_rejected),
		cmocka_unit_test(test_print),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
