/* The collector registry and shared helpers (harness/collect.h). */
#include <string.h>
#include <time.h>
#include "harness/collect.h"

/* Each collector adds its line here when it lands. */
static const struct fb_collector_ops *const collectors[] = {
	&fb_collector_mqtt,
	&fb_collector_lorawan,
	&fb_collector_modbus,
	&fb_collector_nsint,
	NULL
};

const struct fb_collector_ops *fb_collector_find(const char *name)
{
	for (size_t i = 0; collectors[i]; i++)
		if (strcmp(collectors[i]->name, name) == 0)
			return collectors[i];
	return NULL;
}

fb_time_us fb_wall_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (fb_time_us)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
