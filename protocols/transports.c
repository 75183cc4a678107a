/* The registry of transports. Each transport adds its ops here when it lands. */
#include <string.h>
#include "protocols/transport.h"

extern const struct fb_transport_ops fb_transport_modbus;
extern const struct fb_transport_ops fb_transport_lorawan;
extern const struct fb_transport_ops fb_transport_mqtt;

const struct fb_transport_ops *const fb_transports[] = {
	&fb_transport_modbus,
	&fb_transport_lorawan,
	&fb_transport_mqtt,
	NULL
};

const struct fb_transport_ops *fb_transport_find(const char *name)
{
	for (size_t i = 0; fb_transports[i]; i++)
		if (!strcmp(fb_transports[i]->name, name))
			return fb_transports[i];
	return NULL;
}
