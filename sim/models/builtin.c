/* The built-in sensor types, in the order `fleetbench types` prints them. */
#include <stddef.h>
#include "sim/model.h"

const struct fb_model *const fb_builtin_models[] = {
	NULL
};
