/* The registry of transports. Each transport adds its ops here when it lands. */
#include <string.h>
#include "protocols/transport.h"

const struct fb_transport_ops *const fb_transports[] = {
	NULL
};

const struct fb_transport_ops *fb_transport_find(const char *name)
{
	for (size_t i = 0; fb_transports[i]; i++)
		if (!strcmp(fb_transports[i]->name, name))
			return fb_transports[i];
	return NULL;
}
