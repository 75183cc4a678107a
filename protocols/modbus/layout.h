/* Where each simulated Modbus device is served, shared by the transport (which listens there)
 * and the bench's poller (harness/collect_modbus.c, which reads there), so the two never
 * disagree: the `listen`, `layout` and `units_per_port` settings of `transports: modbus:`, a
 * device's position among the scenario's Modbus devices (fleet order, then position in the
 * fleet: the same in every shard), its port and unit id, and a fleet's register map (its
 * `params: modbus:` word_order and map file). */
#ifndef FB_MODBUS_LAYOUT_H
#define FB_MODBUS_LAYOUT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "protocols/modbus/regmap.h"
#include "sim/scenario.h"
#include "sim/ynode.h"

struct fb_mb_layout {
	char host[64];
	uint16_t first_port;          /* 0: any free ports (then only the transport knows them) */
	bool per_device;              /* one port per device, unit id 1 (and 255) */
	unsigned units_per_port;      /* gateway layout: unit ids 1..units_per_port on each port */
};

/* 127.0.0.1:5020, gateway layout, 247 units per port. */
void fb_mb_layout_defaults(struct fb_mb_layout *l);
/* Reads listen / layout / units_per_port of `transports: modbus:` (config may be NULL). Other
 * keys are the transport's to check. Prints located errors; 0 or -1. */
int fb_mb_layout_read(struct fb_mb_layout *l, const struct fb_ynode *config);
/* "host:port" or "[v6]:port" (a --local / --collect target) into host and first_port; 0 or -1
 * (nothing printed). */
int fb_mb_layout_target(struct fb_mb_layout *l, const char *target);
/* The position of `device` among the scenario's Modbus devices, or -1 when it is not one. */
int64_t fb_mb_layout_position(const struct fb_scenario *sc, uint32_t device);
/* The device at position k: port index p (served on first_port + p) and unit id. */
void fb_mb_layout_place(const struct fb_mb_layout *l, uint64_t k, size_t *port_index, uint8_t *unit);

/* The register map of a Modbus fleet: the type's default map in the fleet's word_order, or its
 * map file (relative to the scenario's folder). Prints located errors and returns NULL on bad
 * input. The caller frees it (fb_regmap_free). */
struct fb_regmap *fb_mb_fleet_regmap(const struct fb_scenario *sc, const struct fb_fleet *fl);

#endif
