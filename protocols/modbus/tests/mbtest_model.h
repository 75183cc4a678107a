/* A street-light-like model shared by the Modbus tests: the built-in models are written
 * concurrently, and these tests need a fixed field table they can pin addresses against. */
#ifndef FB_MBTEST_MODEL_H
#define FB_MBTEST_MODEL_H
#include "sim/model.h"

static const struct fb_field mbtest_fields[] = {
	{ .name = "dimmingLevel", .unit = "%", .kind = FB_FIELD_NUMBER, .min = 0, .max = 100,
	  .resolution = 1, .writable = true, .description = "dimming level" },
	{ .name = "powerConsumption", .unit = "W", .kind = FB_FIELD_NUMBER, .min = 0, .max = 250,
	  .resolution = 0.1, .description = "active power" },
	{ .name = "temperature", .unit = "Cel", .kind = FB_FIELD_NUMBER, .min = -40, .max = 85,
	  .resolution = 0.01, .description = "driver temperature" },
	{ .name = "energy", .unit = "Wh", .kind = FB_FIELD_INTEGER, .min = 0, .max = 4e9,
	  .resolution = 1, .description = "energy since install" },
	{ .name = "lampOn", .unit = "", .kind = FB_FIELD_BOOL, .min = 0, .max = 1,
	  .writable = true, .description = "lamp switched on" },
	{ .name = "lampFailure", .unit = "", .kind = FB_FIELD_BOOL, .min = 0, .max = 1,
	  .description = "lamp failure" },
};

static const struct fb_model mbtest_model = {
	.name = "mbtest-light",
	.description = "test street light",
	.fields = mbtest_fields,
	.nfields = sizeof mbtest_fields / sizeof mbtest_fields[0],
	.default_interval_us = 60000000,
};

#endif
