/* The built-in sensor types, in the order `fleetbench types` prints them. */
#include <stddef.h>
#include "sim/model.h"

extern const struct fb_model fb_model_noise, fb_model_waste, fb_model_water_level,
	fb_model_water_quality, fb_model_bike_counter, fb_model_pedestrian_counter,
	fb_model_streetlight;

const struct fb_model *const fb_builtin_models[] = {
	&fb_model_noise,
	&fb_model_waste,
	&fb_model_water_level,
	&fb_model_water_quality,
	&fb_model_bike_counter,
	&fb_model_pedestrian_counter,
	&fb_model_streetlight,
	NULL
};
