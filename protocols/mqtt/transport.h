/* The `mqtt` transport's ops (protocols/transport.h), registered in protocols/transports.c. */
#ifndef FB_MQTT_TRANSPORT_H
#define FB_MQTT_TRANSPORT_H
#include "protocols/transport.h"

extern const struct fb_transport_ops fb_transport_mqtt;
struct fb_mqtt_pool;
/* The connection pool of an mqtt transport instance (NULL when this shard has no device on it),
 * for tests that read the client's counters. */
struct fb_mqtt_pool *fb_transport_mqtt_pool(struct fb_transport *t);

#endif
