/* Register map files (YAML), so a fleet can mimic a real product:
 *
 *   name: vegapuls-like
 *   word_order: ABCD                 # default for 32-bit entries (else the fleet's order)
 *   ident: {vendor: VEGA, product_code: PS31, revision: "1.2", vendor_url: ..., product_name: ...,
 *           model_name: ..., server_id: 17}
 *   registers:
 *     - {table: holding, address: 2002, field: waterLevel, type: float32, order: DCBA}
 *     - {table: both, address: 0, field: noise, type: uint16, scale: 0.1}   # holding + input
 *     - {table: input, address: 2307, type: uint16, const: 0, name: deviceStatus}
 *     - {table: input, address: 100, type: bit, bit: 3, field: lampFailure}
 *     - {table: holding, address: 2308, type: string, length: 6, source: device_id}
 *     - {table: coil, address: 0, field: lampOn}
 *
 * Entries of writable fields in holding registers and coils accept writes unless
 * `writable: false`; `writable: true` on a read-only field is an error. */
#include <stdlib.h>
#include <string.h>
#include "protocols/modbus/regmap.h"
#include "sim/log.h"

static const char *const top_keys[] = { "name", "word_order", "ident", "registers", NULL };
static const char *const ident_keys[] = { "vendor", "product_code", "revision", "vendor_url",
                                          "product_name", "model_name", "application_name",
                                          "server_id", NULL };
static const char *const entry_keys[] = { "table", "address", "field", "type", "order", "scale",
                                          "bit", "length", "const", "source", "name", "writable",
                                          NULL };
static const char *const table_choices[] = { "coil", "discrete", "holding", "input", "both", NULL };
static const char *const type_choices[] = { "int16", "uint16", "int32", "uint32", "float32", "bit",
                                            "string", "reserved", NULL };
static const char *const order_choices[] = { "ABCD", "CDAB", "BADC", "DCBA", NULL };
static const char *const source_choices[] = { "field", "const", "device_id", "device_index", NULL };

static int parse_entry(const struct fb_ynode *n, const struct fb_model *m, enum fb_mb_order order,
                       struct fb_mb_entry *e, bool *both)
{
	const struct fb_ynode *v;
	int64_t i64;
	int choice;
	if (fb_ynode_expect(n, FB_Y_MAP, "register entry") < 0 ||
	    fb_ynode_check_keys(n, "register entry", entry_keys) < 0)
		return -1;
	memset(e, 0, sizeof *e);
	e->field = -1;
	e->scale = 1;
	e->span = 1;
	e->order = order;
	e->type = FB_MB_UINT16;

	if (!(v = fb_ynode_get(n, "table")))
		return fb_ynode_error(n, "register entry needs 'table' (coil, discrete, holding, input, both)");
	if (fb_ynode_enum(v, "'table'", table_choices, &choice) < 0)
		return -1;
	*both = choice == 4;
	e->table = *both ? FB_MB_HOLDING : (enum fb_mb_table)choice;

	if (!(v = fb_ynode_get(n, "address")))
		return fb_ynode_error(n, "register entry needs 'address' (0-based PDU address)");
	if (fb_ynode_int(v, "'address'", 0, 65535, &i64) < 0)
		return -1;
	e->address = (uint16_t)i64;

	bool bit_table = e->table == FB_MB_COILS || e->table == FB_MB_DISCRETE;
	if ((v = fb_ynode_get(n, "type"))) {
		if (fb_ynode_enum(v, "'type'", type_choices, &choice) < 0)
			return -1;
		e->type = (enum fb_mb_type)choice;
		if (bit_table && e->type != FB_MB_BIT)
			return fb_ynode_error(v, "coils and discrete inputs hold only type 'bit'");
	} else if (bit_table) {
		e->type = FB_MB_BIT;
	}
	if (e->type == FB_MB_INT32 || e->type == FB_MB_UINT32 || e->type == FB_MB_FLOAT32)
		e->span = 2;
	if ((v = fb_ynode_get(n, "order"))) {
		if (fb_ynode_enum(v, "'order'", order_choices, &choice) < 0)
			return -1;
		e->order = (enum fb_mb_order)choice;
	}
	if ((v = fb_ynode_get(n, "scale"))) {
		if (fb_ynode_number(v, "'scale'", &e->scale) < 0)
			return -1;
		if (!(e->scale != 0))
			return fb_ynode_error(v, "'scale' must not be 0");
	}
	if ((v = fb_ynode_get(n, "bit"))) {
		if (e->type != FB_MB_BIT || bit_table)
			return fb_ynode_error(v, "'bit' applies to type 'bit' in a holding or input register");
		if (fb_ynode_int(v, "'bit'", 0, 15, &i64) < 0)
			return -1;
		e->bit = (uint8_t)i64;
	}
	if ((v = fb_ynode_get(n, "length"))) {
		if (e->type != FB_MB_STRING)
			return fb_ynode_error(v, "'length' applies to type 'string' (registers)");
		if (fb_ynode_int(v, "'length'", 1, 64, &i64) < 0)
			return -1;
		e->span = (uint16_t)i64;
	} else if (e->type == FB_MB_STRING) {
		e->span = 8;
	}

	e->source = FB_MB_SRC_CONST;
	const struct fb_ynode *field = fb_ynode_get(n, "field");
	const struct fb_ynode *cnst = fb_ynode_get(n, "const");
	const struct fb_ynode *src = fb_ynode_get(n, "source");
	if ((field != NULL) + (cnst != NULL) + (src != NULL) > 1)
		return fb_ynode_error(n, "give one of 'field', 'const' and 'source'");
	if (src) {
		if (fb_ynode_enum(src, "'source'", source_choices, &choice) < 0)
			return -1;
		e->source = (enum fb_mb_source)choice;
		if (e->source == FB_MB_SRC_FIELD || e->source == FB_MB_SRC_CONST)
			return fb_ynode_error(src, "'source' is 'device_id' or 'device_index'; "
			                      "use 'field:' or 'const:' for the others");
		if ((e->source == FB_MB_SRC_DEVICE_ID) != (e->type == FB_MB_STRING))
			return fb_ynode_error(src, "'device_id' goes with type 'string' and only there");
	} else if (field) {
		const char *name;
		if (fb_ynode_string(field, "'field'", &name) < 0)
			return -1;
		e->field = fb_model_field_index(m, name);
		if (e->field < 0) {
			const char *names[FB_MAX_FIELDS + 1];
			unsigned k;
			for (k = 0; k < m->nfields && k < FB_MAX_FIELDS; k++)
				names[k] = m->fields[k].name;
			names[k] = NULL;
			const char *hint = fb_suggest(name, names);
			if (hint)
				return fb_ynode_error(field, "type '%s' has no field '%s' (did you mean '%s'?)",
				                      m->name, name, hint);
			return fb_ynode_error(field, "type '%s' has no field '%s'", m->name, name);
		}
		e->source = FB_MB_SRC_FIELD;
		snprintf(e->name, sizeof e->name, "%s", name);
	} else if (cnst) {
		if (fb_ynode_number(cnst, "'const'", &e->constant) < 0)
			return -1;
	} else if (e->type != FB_MB_RESERVED) {
		return fb_ynode_error(n, "register entry needs 'field', 'const' or 'source'");
	}
	if (e->type == FB_MB_STRING && e->source != FB_MB_SRC_DEVICE_ID)
		return fb_ynode_error(n, "type 'string' needs 'source: device_id'");

	bool can_write = e->source == FB_MB_SRC_FIELD && m->fields[e->field].writable &&
	                 (e->table == FB_MB_HOLDING || e->table == FB_MB_COILS) &&
	                 e->type != FB_MB_RESERVED;
	e->writable = can_write;
	if ((v = fb_ynode_get(n, "writable"))) {
		bool w;
		if (fb_ynode_bool(v, "'writable'", &w) < 0)
			return -1;
		if (w && !can_write)
			return fb_ynode_error(v, "only a writable field in a holding register or coil can be "
			                      "'writable'");
		e->writable = w;
	}
	if ((v = fb_ynode_get(n, "name"))) {
		const char *name;
		if (fb_ynode_string(v, "'name'", &name) < 0)
			return -1;
		snprintf(e->name, sizeof e->name, "%s", name);
	} else if (!e->name[0]) {
		snprintf(e->name, sizeof e->name, "%s",
		         e->source == FB_MB_SRC_DEVICE_ID ? "deviceId" :
		         e->source == FB_MB_SRC_DEVICE_INDEX ? "deviceIndex" :
		         e->type == FB_MB_RESERVED ? "(reserved)" : "constant");
	}
	return 0;
}

static int parse_ident(const struct fb_ynode *n, struct fb_mb_ident *id)
{
	if (fb_ynode_expect(n, FB_Y_MAP, "'ident'") < 0 ||
	    fb_ynode_check_keys(n, "'ident'", ident_keys) < 0)
		return -1;
	for (int i = 0; i < FB_MB_IDENT_OBJECTS; i++) {
		const struct fb_ynode *v = fb_ynode_get(n, ident_keys[i]);
		const char *s;
		if (!v)
			continue;
		if (fb_ynode_string(v, ident_keys[i], &s) < 0)
			return -1;
		if (strlen(s) > 64)
			return fb_ynode_error(v, "'%s' is longer than 64 characters", ident_keys[i]);
		free(id->object[i]);
		if (!(id->object[i] = strdup(s)))
			return fb_error("out of memory");
	}
	const struct fb_ynode *v = fb_ynode_get(n, "server_id");
	int64_t sid;
	if (v) {
		if (fb_ynode_int(v, "'server_id'", 0, 255, &sid) < 0)
			return -1;
		id->server_id = (uint8_t)sid;
	}
	return 0;
}

struct fb_regmap *fb_regmap_from_ynode(const struct fb_ynode *root, const struct fb_model *m,
                                       enum fb_mb_order default_order)
{
	const struct fb_ynode *v;
	const char *name = m->name;
	if (fb_ynode_expect(root, FB_Y_MAP, "register map") < 0 ||
	    fb_ynode_check_keys(root, "register map", top_keys) < 0)
		return NULL;
	/* Start from the default map for its identification objects, then replace the entries. */
	struct fb_regmap *map = fb_regmap_default(m, default_order);
	if (!map)
		return NULL;
	free(map->entries);
	map->entries = NULL;
	map->n = 0;
	if ((v = fb_ynode_get(root, "name")) && fb_ynode_string(v, "'name'", &name) < 0)
		goto fail;
	free(map->name);
	if (!(map->name = strdup(name)))
		goto oom;
	if ((v = fb_ynode_get(root, "word_order"))) {
		int choice;
		if (fb_ynode_enum(v, "'word_order'", order_choices, &choice) < 0)
			goto fail;
		map->order = (enum fb_mb_order)choice;
	}
	if ((v = fb_ynode_get(root, "ident")) && parse_ident(v, &map->ident) < 0)
		goto fail;
	const struct fb_ynode *regs = fb_ynode_get(root, "registers");
	if (!regs) {
		fb_ynode_error(root, "register map needs 'registers'");
		goto fail;
	}
	if (fb_ynode_expect(regs, FB_Y_SEQ, "'registers'") < 0)
		goto fail;
	if (!(map->entries = calloc(regs->n * 2 + 1, sizeof *map->entries)))
		goto oom;
	for (size_t i = 0; i < regs->n; i++) {
		bool both;
		struct fb_mb_entry *e = &map->entries[map->n];
		if (parse_entry(regs->items[i], m, map->order, e, &both) < 0)
			goto fail;
		map->n++;
		if (both) {
			map->entries[map->n] = *e;
			map->entries[map->n].table = FB_MB_INPUT;
			map->entries[map->n].writable = false;
			map->n++;
		}
	}
	if (fb_regmap_finish(map) < 0) {
		fb_ynode_error(regs, "register map '%s' is inconsistent (see above)", map->name);
		goto fail;
	}
	return map;
oom:
	fb_error("register map: out of memory");
fail:
	fb_regmap_free(map);
	return NULL;
}

struct fb_regmap *fb_regmap_load_file(const char *path, const struct fb_model *m,
                                      enum fb_mb_order default_order)
{
	struct fb_ynode *root = fb_ynode_load_file(path);
	if (!root)
		return NULL;
	struct fb_regmap *map = fb_regmap_from_ynode(root, m, default_order);
	fb_ynode_free(root);
	return map;
}
