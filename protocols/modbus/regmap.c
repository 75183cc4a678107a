/* Typed register maps: codecs with explicit word/byte order, the default map of a model, reads
 * and writes against a device's latest values, and the printer.
 *
 * Default map of a model with fields f0..fn-1 (the same layout in holding and input registers;
 * only holding registers and coils accept writes):
 *   0 + 2i      field i as float32 in the fleet's order (writable if the field is)
 *   1000 + 2i   field i as a scaled integer: value = raw * resolution; uint16 or int16 when the
 *               range fits (the odd register after it is reserved), else uint32 / int32
 *   2000 + k/16 status word: bit k%16 is the k-th boolean field
 *   3000..3015  device id, ASCII (32 characters); 3016..3017 global device index, uint32
 *   coils 0 + k          the k-th writable boolean field
 *   discrete inputs 0+k  the k-th boolean field
 * FC 43/14 objects: vendor "fleetbench", product code = type name, revision "1.0", product
 * name = description, model name = type name, user application name = device id. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "protocols/modbus/regmap.h"
#include "sim/log.h"

enum { DEFAULT_FLOAT_BASE = 0, DEFAULT_SCALED_BASE = 1000, DEFAULT_STATUS_BASE = 2000,
       DEFAULT_IDENT_BASE = 3000, DEVICE_ID_REGS = 16 };

static uint16_t swap16(uint16_t v) { return (uint16_t)((v << 8) | (v >> 8)); }

uint16_t fb_mb_order16(uint16_t v, enum fb_mb_order o)
{
	return (o == FB_MB_BADC || o == FB_MB_DCBA) ? swap16(v) : v;
}

void fb_mb_put32(uint32_t v, enum fb_mb_order o, uint16_t regs[2])
{
	uint16_t hi = (uint16_t)(v >> 16), lo = (uint16_t)v;
	switch (o) {
	case FB_MB_ABCD: regs[0] = hi; regs[1] = lo; break;
	case FB_MB_CDAB: regs[0] = lo; regs[1] = hi; break;
	case FB_MB_BADC: regs[0] = swap16(hi); regs[1] = swap16(lo); break;
	case FB_MB_DCBA: regs[0] = swap16(lo); regs[1] = swap16(hi); break;
	}
}

uint32_t fb_mb_get32(const uint16_t regs[2], enum fb_mb_order o)
{
	uint16_t hi = 0, lo = 0;
	switch (o) {
	case FB_MB_ABCD: hi = regs[0]; lo = regs[1]; break;
	case FB_MB_CDAB: lo = regs[0]; hi = regs[1]; break;
	case FB_MB_BADC: hi = swap16(regs[0]); lo = swap16(regs[1]); break;
	case FB_MB_DCBA: lo = swap16(regs[0]); hi = swap16(regs[1]); break;
	}
	return (uint32_t)hi << 16 | lo;
}

void fb_mb_put_float(float f, enum fb_mb_order o, uint16_t regs[2])
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	fb_mb_put32(u, o, regs);
}

float fb_mb_get_float(const uint16_t regs[2], enum fb_mb_order o)
{
	uint32_t u = fb_mb_get32(regs, o);
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

static const char *const order_names[] = { "ABCD", "CDAB", "BADC", "DCBA", NULL };
static const char *const type_names[] = { "int16", "uint16", "int32", "uint32", "float32", "bit",
                                          "string", "reserved", NULL };
static const char *const table_names[] = { "coil", "discrete", "holding", "input", NULL };

const char *fb_mb_order_name(enum fb_mb_order o) { return order_names[o]; }
const char *fb_mb_type_name(enum fb_mb_type t) { return type_names[t]; }
const char *fb_mb_table_name(enum fb_mb_table t) { return table_names[t]; }

int fb_mb_order_parse(const char *text, enum fb_mb_order *out)
{
	for (int i = 0; order_names[i]; i++)
		if (!strcasecmp(text, order_names[i])) {
			*out = (enum fb_mb_order)i;
			return 0;
		}
	return -1;
}

void fb_regmap_free(struct fb_regmap *map)
{
	if (!map)
		return;
	free(map->name);
	free(map->entries);
	for (int i = 0; i < FB_MB_IDENT_OBJECTS; i++)
		free(map->ident.object[i]);
	free(map);
}

static int entry_cmp(const void *a, const void *b)
{
	const struct fb_mb_entry *x = a, *y = b;
	if (x->table != y->table)
		return x->table < y->table ? -1 : 1;
	if (x->address != y->address)
		return x->address < y->address ? -1 : 1;
	return (x->bit > y->bit) - (x->bit < y->bit);
}

int fb_regmap_finish(struct fb_regmap *map)
{
	qsort(map->entries, map->n, sizeof *map->entries, entry_cmp);
	for (int t = 0; t <= FB_MB_NTABLES; t++)
		map->table_first[t] = 0;
	memset(map->max_span, 0, sizeof map->max_span);
	size_t i = 0;
	for (int t = 0; t < FB_MB_NTABLES; t++) {
		map->table_first[t] = i;
		uint32_t end = 0;
		const struct fb_mb_entry *prev = NULL;
		for (; i < map->n && map->entries[i].table == (enum fb_mb_table)t; i++) {
			const struct fb_mb_entry *e = &map->entries[i];
			bool bit_pair = prev && prev->type == FB_MB_BIT && e->type == FB_MB_BIT &&
			                prev->address == e->address && prev->bit != e->bit &&
			                (t == FB_MB_HOLDING || t == FB_MB_INPUT);
			if (e->span == 0 || (uint32_t)e->address + e->span > 65536)
				return fb_error("register map '%s': '%s' does not fit the address space",
				                map->name, e->name);
			if (prev && e->address < end && !bit_pair)
				return fb_error("register map '%s': '%s' overlaps '%s' at %s address %u",
				                map->name, e->name, prev->name, table_names[t], e->address);
			if ((uint32_t)e->address + e->span > end)
				end = (uint32_t)e->address + e->span;
			if (e->span > map->max_span[t])
				map->max_span[t] = e->span;
			prev = e;
		}
	}
	map->table_first[FB_MB_NTABLES] = i;
	return 0;
}

/* Scaled integer type for a field: the narrowest that holds its range at its resolution. */
static enum fb_mb_type scaled_type(const struct fb_field *f, double scale)
{
	double lo = f->min / scale, hi = f->max / scale;
	if (lo >= 0 && hi <= 65534)
		return FB_MB_UINT16;
	if (lo >= -32767 && hi <= 32767)
		return FB_MB_INT16;
	if (lo >= 0 && hi <= 4294967294.0)
		return FB_MB_UINT32;
	return FB_MB_INT32;
}

static struct fb_mb_entry *add(struct fb_regmap *map, size_t *cap)
{
	if (map->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 32;
		struct fb_mb_entry *ne = realloc(map->entries, ncap * sizeof *ne);
		if (!ne)
			return NULL;
		map->entries = ne;
		*cap = ncap;
	}
	struct fb_mb_entry *e = &map->entries[map->n++];
	memset(e, 0, sizeof *e);
	e->field = -1;
	e->scale = 1;
	e->span = 1;
	e->order = map->order;
	return e;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

struct fb_regmap *fb_regmap_default(const struct fb_model *m, enum fb_mb_order order)
{
	struct fb_regmap *map = calloc(1, sizeof *map);
	size_t cap = 0;
	if (!map)
		goto oom;
	map->model = m;
	map->order = order;
	map->name = strdup(m->name);
	map->ident.object[0] = strdup("fleetbench");
	map->ident.object[1] = strdup(m->name);
	map->ident.object[2] = strdup("1.0");
	map->ident.object[4] = dup_or_null(m->description ? m->description : m->name);
	map->ident.object[5] = strdup(m->name);
	map->ident.server_id = 1;
	if (!map->name || !map->ident.object[0] || !map->ident.object[1] || !map->ident.object[2] ||
	    !map->ident.object[4] || !map->ident.object[5])
		goto oom;

	unsigned nbool = 0, nwbool = 0;
	for (unsigned i = 0; i < m->nfields; i++) {
		const struct fb_field *f = &m->fields[i];
		for (int t = FB_MB_HOLDING; t <= FB_MB_INPUT; t++) {
			struct fb_mb_entry *e = add(map, &cap);
			if (!e)
				goto oom;
			e->table = (enum fb_mb_table)t;
			e->address = (uint16_t)(DEFAULT_FLOAT_BASE + 2 * i);
			e->span = 2;
			e->type = FB_MB_FLOAT32;
			e->field = (int)i;
			e->writable = t == FB_MB_HOLDING && f->writable;
			snprintf(e->name, sizeof e->name, "%s", f->name);

			double scale = f->kind == FB_FIELD_NUMBER && f->resolution > 0 ? f->resolution : 1;
			e = add(map, &cap);
			if (!e)
				goto oom;
			e->table = (enum fb_mb_table)t;
			e->address = (uint16_t)(DEFAULT_SCALED_BASE + 2 * i);
			e->type = scaled_type(f, scale);
			e->span = e->type == FB_MB_UINT16 || e->type == FB_MB_INT16 ? 1 : 2;
			e->scale = scale;
			e->field = (int)i;
			e->writable = t == FB_MB_HOLDING && f->writable;
			snprintf(e->name, sizeof e->name, "%s", f->name);
			if (e->span == 1) {
				e = add(map, &cap);
				if (!e)
					goto oom;
				e->table = (enum fb_mb_table)t;
				e->address = (uint16_t)(DEFAULT_SCALED_BASE + 2 * i + 1);
				e->type = FB_MB_RESERVED;
				snprintf(e->name, sizeof e->name, "(reserved)");
			}
			if (f->kind == FB_FIELD_BOOL) {
				e = add(map, &cap);
				if (!e)
					goto oom;
				e->table = (enum fb_mb_table)t;
				e->address = (uint16_t)(DEFAULT_STATUS_BASE + nbool / 16);
				e->bit = (uint8_t)(nbool % 16);
				e->type = FB_MB_BIT;
				e->field = (int)i;
				snprintf(e->name, sizeof e->name, "%s", f->name);
			}
		}
		if (f->kind == FB_FIELD_BOOL) {
			struct fb_mb_entry *e = add(map, &cap);
			if (!e)
				goto oom;
			e->table = FB_MB_DISCRETE;
			e->address = (uint16_t)nbool;
			e->type = FB_MB_BIT;
			e->field = (int)i;
			snprintf(e->name, sizeof e->name, "%s", f->name);
			if (f->writable) {
				e = add(map, &cap);
				if (!e)
					goto oom;
				e->table = FB_MB_COILS;
				e->address = (uint16_t)nwbool++;
				e->type = FB_MB_BIT;
				e->field = (int)i;
				e->writable = true;
				snprintf(e->name, sizeof e->name, "%s", f->name);
			}
			nbool++;
		}
	}
	for (int t = FB_MB_HOLDING; t <= FB_MB_INPUT; t++) {
		struct fb_mb_entry *e = add(map, &cap);
		if (!e)
			goto oom;
		e->table = (enum fb_mb_table)t;
		e->address = DEFAULT_IDENT_BASE;
		e->span = DEVICE_ID_REGS;
		e->type = FB_MB_STRING;
		e->source = FB_MB_SRC_DEVICE_ID;
		snprintf(e->name, sizeof e->name, "deviceId");
		e = add(map, &cap);
		if (!e)
			goto oom;
		e->table = (enum fb_mb_table)t;
		e->address = DEFAULT_IDENT_BASE + DEVICE_ID_REGS;
		e->span = 2;
		e->type = FB_MB_UINT32;
		e->source = FB_MB_SRC_DEVICE_INDEX;
		snprintf(e->name, sizeof e->name, "deviceIndex");
	}
	if (fb_regmap_finish(map) < 0) {
		fb_regmap_free(map);
		return NULL;
	}
	return map;
oom:
	fb_regmap_free(map);
	fb_error("register map for '%s': out of memory", m->name);
	return NULL;
}

/* Index of the first entry of `table` that can cover `address`. */
static size_t first_covering(const struct fb_regmap *map, enum fb_mb_table table, uint32_t address)
{
	size_t lo = map->table_first[table], hi = map->table_first[table + 1];
	uint32_t from = map->max_span[table] ? address + 1 - map->max_span[table] : address;
	if (address + 1 < map->max_span[table])
		from = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (map->entries[mid].address < from)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static double source_value(const struct fb_mb_entry *e, const struct fb_mb_devview *d)
{
	switch (e->source) {
	case FB_MB_SRC_FIELD: return d->values && e->field >= 0 ? d->values[e->field] : NAN;
	case FB_MB_SRC_CONST: return e->constant;
	case FB_MB_SRC_DEVICE_INDEX: return d->device;
	case FB_MB_SRC_DEVICE_ID: return NAN;
	}
	return NAN;
}

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Encodes a register entry (not FB_MB_BIT) into regs[span]. */
static void encode_entry(const struct fb_mb_entry *e, const struct fb_mb_devview *d, uint16_t *regs)
{
	double v = source_value(e, d);
	double raw = isnan(v) ? NAN : v / e->scale;
	switch (e->type) {
	case FB_MB_INT16:
		regs[0] = fb_mb_order16(isnan(raw) ? 0x7FFF :
		                        (uint16_t)(int16_t)llround(clampd(raw, -32768, 32767)), e->order);
		break;
	case FB_MB_UINT16:
		regs[0] = fb_mb_order16(isnan(raw) ? 0xFFFF : (uint16_t)llround(clampd(raw, 0, 65535)),
		                        e->order);
		break;
	case FB_MB_INT32:
		fb_mb_put32(isnan(raw) ? 0x7FFFFFFFu :
		            (uint32_t)(int32_t)llround(clampd(raw, -2147483648.0, 2147483647.0)),
		            e->order, regs);
		break;
	case FB_MB_UINT32:
		fb_mb_put32(isnan(raw) ? 0xFFFFFFFFu : (uint32_t)llround(clampd(raw, 0, 4294967295.0)),
		            e->order, regs);
		break;
	case FB_MB_FLOAT32:
		fb_mb_put_float(isnan(raw) ? NAN : (float)raw, e->order, regs);
		break;
	case FB_MB_STRING: {
		const char *s = e->source == FB_MB_SRC_DEVICE_ID && d->device_id ? d->device_id : "";
		size_t len = strlen(s);
		for (unsigned r = 0; r < e->span; r++) {
			uint8_t hi = 2 * r < len ? (uint8_t)s[2 * r] : 0;
			uint8_t lo = 2 * r + 1 < len ? (uint8_t)s[2 * r + 1] : 0;
			regs[r] = (uint16_t)(hi << 8 | lo);
		}
		break;
	}
	case FB_MB_BIT:
	case FB_MB_RESERVED:
		for (unsigned r = 0; r < e->span; r++)
			regs[r] = 0;
		break;
	}
}

static bool bit_value(const struct fb_mb_entry *e, const struct fb_mb_devview *d)
{
	double v = source_value(e, d);
	return !isnan(v) && v != 0;
}

int fb_regmap_read_regs(const struct fb_regmap *map, enum fb_mb_table table, uint16_t address,
                        uint16_t count, const struct fb_mb_devview *d, uint16_t *out)
{
	uint32_t start = address, end = (uint32_t)address + count, covered = start;
	if (table != FB_MB_HOLDING && table != FB_MB_INPUT)
		return FB_MB_EX_ILLEGAL_ADDRESS;
	memset(out, 0, count * sizeof *out);
	for (size_t i = first_covering(map, table, start); i < map->table_first[table + 1]; i++) {
		const struct fb_mb_entry *e = &map->entries[i];
		uint32_t e_end = (uint32_t)e->address + e->span;
		if (e->address >= end)
			break;
		if (e_end <= start)
			continue;
		if (e->address > covered)
			return FB_MB_EX_ILLEGAL_ADDRESS;
		if (e_end > covered)
			covered = e_end;
		if (e->type == FB_MB_BIT) {
			if (bit_value(e, d))
				out[e->address - start] |= (uint16_t)(1u << e->bit);
			continue;
		}
		uint16_t regs[128];
		encode_entry(e, d, regs);
		for (uint32_t a = e->address; a < e_end; a++)
			if (a >= start && a < end)
				out[a - start] = regs[a - e->address];
	}
	return covered >= end ? 0 : FB_MB_EX_ILLEGAL_ADDRESS;
}

int fb_regmap_read_bits(const struct fb_regmap *map, enum fb_mb_table table, uint16_t address,
                        uint16_t count, const struct fb_mb_devview *d, uint8_t *out)
{
	uint32_t start = address, end = (uint32_t)address + count, covered = start;
	if (table != FB_MB_COILS && table != FB_MB_DISCRETE)
		return FB_MB_EX_ILLEGAL_ADDRESS;
	memset(out, 0, (count + 7u) / 8u);
	for (size_t i = first_covering(map, table, start); i < map->table_first[table + 1]; i++) {
		const struct fb_mb_entry *e = &map->entries[i];
		if (e->address >= end)
			break;
		if (e->address < start)
			continue;
		if (e->address > covered)
			return FB_MB_EX_ILLEGAL_ADDRESS;
		covered = (uint32_t)e->address + 1;
		if (bit_value(e, d)) {
			uint32_t k = e->address - start;
			out[k / 8] |= (uint8_t)(1u << (k % 8));
		}
	}
	return covered >= end ? 0 : FB_MB_EX_ILLEGAL_ADDRESS;
}

static double decode_entry(const struct fb_mb_entry *e, const uint16_t *regs)
{
	switch (e->type) {
	case FB_MB_INT16: return (int16_t)fb_mb_order16(regs[0], e->order) * e->scale;
	case FB_MB_UINT16: return fb_mb_order16(regs[0], e->order) * e->scale;
	case FB_MB_INT32: return (int32_t)fb_mb_get32(regs, e->order) * e->scale;
	case FB_MB_UINT32: return fb_mb_get32(regs, e->order) * e->scale;
	case FB_MB_FLOAT32: return fb_mb_get_float(regs, e->order) * e->scale;
	case FB_MB_BIT: return (regs[0] >> e->bit) & 1u;
	default: return NAN;
	}
}

static int check_range(const struct fb_regmap *map, const struct fb_mb_entry *e, double v)
{
	if (!isfinite(v))
		return FB_MB_EX_ILLEGAL_VALUE;
	if (map->model && e->field >= 0 && (unsigned)e->field < map->model->nfields) {
		const struct fb_field *f = &map->model->fields[e->field];
		double tol = 1e-9 * (fabs(f->min) + fabs(f->max) + 1);
		if (v < f->min - tol || v > f->max + tol)
			return FB_MB_EX_ILLEGAL_VALUE;
	}
	return 0;
}

static int command_result(int rc)
{
	return rc == 0 ? 0 : rc == -2 ? FB_MB_EX_ILLEGAL_ADDRESS :
	       rc == -3 ? FB_MB_EX_ILLEGAL_VALUE : FB_MB_EX_DEVICE_FAILURE;
}

/* Two passes so a write is all-or-nothing from the map's view: first validate coverage,
 * writability and ranges, then issue the commands. */
int fb_regmap_write_regs(const struct fb_regmap *map, uint16_t address, uint16_t count,
                         const uint16_t *regs, const struct fb_mb_devview *d,
                         fb_mb_write_fn write, void *arg)
{
	uint32_t start = address, end = (uint32_t)address + count;
	for (int pass = 0; pass < 2; pass++) {
		uint32_t covered = start;
		for (size_t i = first_covering(map, FB_MB_HOLDING, start);
		     i < map->table_first[FB_MB_HOLDING + 1]; i++) {
			const struct fb_mb_entry *e = &map->entries[i];
			uint32_t e_end = (uint32_t)e->address + e->span;
			if (e->address >= end)
				break;
			if (e_end <= start)
				continue;
			if (e->address > covered || !e->writable || e->address < start || e_end > end ||
			    e->field < 0)
				return FB_MB_EX_ILLEGAL_ADDRESS;
			if (e_end > covered)
				covered = e_end;
			double v = decode_entry(e, regs + (e->address - start));
			if (pass == 0) {
				int rc = check_range(map, e, v);
				if (rc)
					return rc;
			} else {
				int rc = command_result(write(arg, e->field, v));
				if (rc)
					return rc;
			}
		}
		if (covered < end)
			return FB_MB_EX_ILLEGAL_ADDRESS;
	}
	(void)d;
	return 0;
}

int fb_regmap_write_bits(const struct fb_regmap *map, uint16_t address, uint16_t count,
                         const uint8_t *bits, fb_mb_write_fn write, void *arg)
{
	uint32_t start = address, end = (uint32_t)address + count;
	for (int pass = 0; pass < 2; pass++) {
		uint32_t covered = start;
		for (size_t i = first_covering(map, FB_MB_COILS, start);
		     i < map->table_first[FB_MB_COILS + 1]; i++) {
			const struct fb_mb_entry *e = &map->entries[i];
			if (e->address >= end)
				break;
			if (e->address < start)
				continue;
			if (e->address > covered || !e->writable || e->field < 0)
				return FB_MB_EX_ILLEGAL_ADDRESS;
			covered = (uint32_t)e->address + 1;
			uint32_t k = e->address - start;
			double v = (bits[k / 8] >> (k % 8)) & 1u;
			if (pass == 1) {
				int rc = command_result(write(arg, e->field, v));
				if (rc)
					return rc;
			}
		}
		if (covered < end)
			return FB_MB_EX_ILLEGAL_ADDRESS;
	}
	return 0;
}

static const char *entry_unit(const struct fb_regmap *map, const struct fb_mb_entry *e)
{
	if (e->field >= 0 && map->model && (unsigned)e->field < map->model->nfields &&
	    e->type != FB_MB_BIT && map->model->fields[e->field].unit)
		return map->model->fields[e->field].unit;
	return "";
}

static const char *entry_description(const struct fb_regmap *map, const struct fb_mb_entry *e)
{
	switch (e->source) {
	case FB_MB_SRC_DEVICE_ID: return "device id, ASCII, NUL padded";
	case FB_MB_SRC_DEVICE_INDEX: return "global device index";
	case FB_MB_SRC_CONST: return "constant";
	case FB_MB_SRC_FIELD: break;
	}
	if (e->type == FB_MB_RESERVED)
		return "reads 0";
	if (e->field >= 0 && map->model && (unsigned)e->field < map->model->nfields &&
	    map->model->fields[e->field].description)
		return map->model->fields[e->field].description;
	return "";
}

/* 1-based reference numbers as vendors print them (Modicon convention, 5 digits + 1 below
 * 10000, 6 digits above). */
static unsigned long reference_number(enum fb_mb_table t, uint16_t address)
{
	static const unsigned long base5[] = { 1, 10001, 40001, 30001 };
	static const unsigned long base6[] = { 1, 100001, 400001, 300001 };
	return address < 9999 ? base5[t] + address : base6[t] + address;
}

int fb_regmap_print(const struct fb_regmap *map, enum fb_regmap_format fmt, FILE *out)
{
	if (fmt == FB_REGMAP_MD) {
		fprintf(out, "# Modbus register map: %s\n\n", map->name);
		fprintf(out, "Addresses are 0-based PDU addresses; `ref` is the 1-based register number. "
		        "32-bit values default to %s order; value = raw x scale; missing values read as "
		        "NaN, 0x7FFF, 0xFFFF, 0x7FFFFFFF or 0xFFFFFFFF.\n\n", fb_mb_order_name(map->order));
		fprintf(out, "| table | address | ref | name | type | order | bit | scale | unit | access | "
		        "description |\n");
		fprintf(out, "|---|---|---|---|---|---|---|---|---|---|---|\n");
	} else {
		fprintf(out, "table,address,ref,name,type,order,bit,scale,unit,access,description\n");
	}
	for (size_t i = 0; i < map->n; i++) {
		const struct fb_mb_entry *e = &map->entries[i];
		char order[8] = "", bit[8] = "", span[16] = "";
		if (e->type == FB_MB_INT32 || e->type == FB_MB_UINT32 || e->type == FB_MB_FLOAT32 ||
		    ((e->type == FB_MB_INT16 || e->type == FB_MB_UINT16) &&
		     (e->order == FB_MB_BADC || e->order == FB_MB_DCBA)))
			snprintf(order, sizeof order, "%s", fb_mb_order_name(e->order));
		if (e->type == FB_MB_BIT && (e->table == FB_MB_HOLDING || e->table == FB_MB_INPUT))
			snprintf(bit, sizeof bit, "%u", e->bit);
		if (e->type == FB_MB_STRING)
			snprintf(span, sizeof span, "[%u]", e->span);
		const char *sep = fmt == FB_REGMAP_MD ? " | " : ",";
		const char *desc = entry_description(map, e);
		fprintf(out, "%s%s%s%u%s%lu%s%s%s%s%s%s%s%s%s%s%.10g%s%s%s%s%s",
		        fmt == FB_REGMAP_MD ? "| " : "", fb_mb_table_name(e->table), sep,
		        e->address, sep, reference_number(e->table, e->address), sep, e->name, sep,
		        fb_mb_type_name(e->type), span, sep, order, sep, bit, sep, e->scale, sep,
		        entry_unit(map, e), sep, e->writable ? "rw" : "r", sep);
		if (fmt == FB_REGMAP_CSV && strpbrk(desc, ",\"")) {
			fputc('"', out);
			for (const char *c = desc; *c; c++) {
				if (*c == '"')
					fputc('"', out);
				fputc(*c, out);
			}
			fputc('"', out);
		} else {
			fputs(desc, out);
		}
		fputs(fmt == FB_REGMAP_MD ? " |\n" : "\n", out);
	}
	return ferror(out) ? -1 : 0;
}
