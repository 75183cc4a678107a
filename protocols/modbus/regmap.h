/* Typed Modbus register maps: which model field sits at which address of which table, in which
 * type, word and byte order and scale. Pure: reading and writing work on caller-owned arrays and
 * never allocate; only building a map (default or from a file) allocates.
 *
 * Addresses are 0-based PDU addresses throughout; printed maps also give the 1-based register
 * numbers vendors document (40001 + address for holding registers, 30001 + for input registers,
 * 00001 + for coils, 10001 + for discrete inputs). */
#ifndef FB_MODBUS_REGMAP_H
#define FB_MODBUS_REGMAP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "sim/model.h"
#include "sim/ynode.h"

enum fb_mb_table { FB_MB_COILS, FB_MB_DISCRETE, FB_MB_HOLDING, FB_MB_INPUT, FB_MB_NTABLES };

enum fb_mb_type {
	FB_MB_INT16, FB_MB_UINT16, FB_MB_INT32, FB_MB_UINT32, FB_MB_FLOAT32,
	FB_MB_BIT,       /* a coil or discrete input, or bit `bit` of a register (status words) */
	FB_MB_STRING,    /* ASCII, 2 characters per register, high byte first, NUL padded */
	FB_MB_RESERVED   /* a register that reads 0 and refuses writes (gaps inside a block) */
};

/* Byte order of a 32-bit value over two registers, A being the most significant byte:
 * ABCD = big endian (high word first), CDAB = low word first, BADC = bytes swapped in each word,
 * DCBA = little endian. For 16-bit values BADC and DCBA swap the two bytes of the register. */
enum fb_mb_order { FB_MB_ABCD, FB_MB_CDAB, FB_MB_BADC, FB_MB_DCBA };

/* Where an entry's value comes from. */
enum fb_mb_source {
	FB_MB_SRC_FIELD,         /* the device's latest value of model field `field` */
	FB_MB_SRC_CONST,         /* `constant` */
	FB_MB_SRC_DEVICE_ID,     /* the device id text ("noise-000042"), FB_MB_STRING only */
	FB_MB_SRC_DEVICE_INDEX   /* the global device index */
};

/* Modbus exception codes (Modbus Application Protocol v1.1b3 §7). */
enum fb_mb_exception {
	FB_MB_EX_ILLEGAL_FUNCTION = 0x01,
	FB_MB_EX_ILLEGAL_ADDRESS = 0x02,
	FB_MB_EX_ILLEGAL_VALUE = 0x03,
	FB_MB_EX_DEVICE_FAILURE = 0x04,
	FB_MB_EX_BUSY = 0x06,
	FB_MB_EX_GATEWAY_PATH = 0x0A,
	FB_MB_EX_GATEWAY_TARGET = 0x0B
};

struct fb_mb_entry {
	enum fb_mb_table table;
	uint16_t address;
	uint16_t span;              /* registers (or bits) covered: 1, 2, or the string length */
	uint8_t bit;                /* FB_MB_BIT in a register: bit number 0..15 */
	enum fb_mb_type type;
	enum fb_mb_order order;
	enum fb_mb_source source;
	int field;                  /* model field index (FB_MB_SRC_FIELD), else -1 */
	double scale;               /* value = raw * scale (1 when unscaled) */
	double constant;            /* FB_MB_SRC_CONST */
	bool writable;              /* a write becomes a command on `field` */
	char name[48];              /* label printed in the map (field name or what it is) */
};

/* FC 43/14 device identification objects 0..6 and FC 17 server id. */
enum { FB_MB_IDENT_OBJECTS = 7 };
struct fb_mb_ident {
	char *object[FB_MB_IDENT_OBJECTS];  /* VendorName, ProductCode, MajorMinorRevision, VendorUrl,
	                                       ProductName, ModelName, UserApplicationName (NULL: the
	                                       device id is used for object 6, absent otherwise) */
	uint8_t server_id;                  /* FC 17 */
};

struct fb_regmap {
	char *name;
	const struct fb_model *model;
	enum fb_mb_order order;             /* the map's default order */
	struct fb_mb_entry *entries;        /* sorted by (table, address, bit) */
	size_t n;
	size_t table_first[FB_MB_NTABLES + 1];  /* entries of table t: [table_first[t], table_first[t+1]) */
	uint16_t max_span[FB_MB_NTABLES];
	struct fb_mb_ident ident;
};

/* What a read or write sees of one device. */
struct fb_mb_devview {
	const double *values;     /* model->nfields values; NaN before the first sample */
	const char *device_id;
	uint32_t device;          /* global index */
};

/* A write accepted by the map becomes one call per field: returns 0, -2 if the field is not
 * writable, -3 if the value is out of range, other negative values for other failures. */
typedef int (*fb_mb_write_fn)(void *arg, int field, double value);

/* 32-bit and 16-bit codecs with an explicit order (libmodbus 3.1.6's float setters are wrong). */
void fb_mb_put32(uint32_t v, enum fb_mb_order o, uint16_t regs[2]);
uint32_t fb_mb_get32(const uint16_t regs[2], enum fb_mb_order o);
void fb_mb_put_float(float f, enum fb_mb_order o, uint16_t regs[2]);
float fb_mb_get_float(const uint16_t regs[2], enum fb_mb_order o);
uint16_t fb_mb_order16(uint16_t v, enum fb_mb_order o);

const char *fb_mb_order_name(enum fb_mb_order o);
const char *fb_mb_type_name(enum fb_mb_type t);
const char *fb_mb_table_name(enum fb_mb_table t);
/* Parses "ABCD", "cdab", ...; returns 0 or -1. */
int fb_mb_order_parse(const char *text, enum fb_mb_order *out);

/* The default map of a model (the layout is printed by fb_regmap_print and documented in
 * regmap.c). Returns NULL (after fb_error) when memory runs out. */
struct fb_regmap *fb_regmap_default(const struct fb_model *m, enum fb_mb_order order);
/* A map file (YAML) for model m: see fixtures/modbus/ for examples. Prints located errors and
 * returns NULL on bad input. `default_order` applies to entries that give none. */
struct fb_regmap *fb_regmap_from_ynode(const struct fb_ynode *root, const struct fb_model *m,
                                       enum fb_mb_order default_order);
struct fb_regmap *fb_regmap_load_file(const char *path, const struct fb_model *m,
                                      enum fb_mb_order default_order);
void fb_regmap_free(struct fb_regmap *map);
/* Sorts the entries and checks they do not overlap (bits of one register excepted); 0 or -1
 * after fb_error. Called by the builders; exposed for maps assembled by hand in tests. */
int fb_regmap_finish(struct fb_regmap *map);

/* Reads `count` registers of table FB_MB_HOLDING or FB_MB_INPUT from `address` into out[count].
 * Every register must belong to an entry. Returns 0 or FB_MB_EX_ILLEGAL_ADDRESS. A 32-bit entry
 * may be read in part. Missing values (NaN) read as the type's invalid marker: float NaN,
 * 0x7FFF int16, 0xFFFF uint16, 0x7FFFFFFF int32, 0xFFFFFFFF uint32. */
int fb_regmap_read_regs(const struct fb_regmap *map, enum fb_mb_table table, uint16_t address,
                        uint16_t count, const struct fb_mb_devview *d, uint16_t *out);
/* Reads `count` coils or discrete inputs packed LSB first into out[(count + 7) / 8]. */
int fb_regmap_read_bits(const struct fb_regmap *map, enum fb_mb_table table, uint16_t address,
                        uint16_t count, const struct fb_mb_devview *d, uint8_t *out);
/* Writes holding registers: all-or-nothing. Returns 0, FB_MB_EX_ILLEGAL_ADDRESS when a register
 * is unmapped or read-only or a 32-bit value is written in part, FB_MB_EX_ILLEGAL_VALUE when a
 * value is out of its field's range, FB_MB_EX_DEVICE_FAILURE when the command fails otherwise. */
int fb_regmap_write_regs(const struct fb_regmap *map, uint16_t address, uint16_t count,
                         const uint16_t *regs, const struct fb_mb_devview *d,
                         fb_mb_write_fn write, void *arg);
/* Writes coils from bits packed LSB first; same returns. */
int fb_regmap_write_bits(const struct fb_regmap *map, uint16_t address, uint16_t count,
                         const uint8_t *bits, fb_mb_write_fn write, void *arg);

enum fb_regmap_format { FB_REGMAP_MD, FB_REGMAP_CSV };
/* `fleetbench regmap TYPE --format md|csv`: one row per entry. Returns 0 or -1 on a write error. */
int fb_regmap_print(const struct fb_regmap *map, enum fb_regmap_format fmt, FILE *out);

#endif
