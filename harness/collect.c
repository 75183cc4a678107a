/* The collector registry and shared helpers (harness/collect.h). */
#include <string.h>
#include <time.h>
#include "harness/collect.h"
#include "protocols/mqtt/client.h"

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

int fb_collect_mqtt_config(struct fb_mqtt_pool_config *pc, const char *host, uint16_t port, bool tls,
                           const char *tls_host, const struct fb_collect_cfg *cfg, uint64_t seed)
{
	memset(pc, 0, sizeof *pc);
	if (fb_mqtt_resolve(host, port, &pc->addr, &pc->addrlen))
		return -1;
	pc->version = FB_MQTT_V5;
	pc->keepalive_s = 30;
	pc->inflight = 20;
	pc->reconnect_min_us = 200 * FB_US_PER_MS;
	pc->reconnect_max_us = 5 * FB_US_PER_S;
	pc->reconnect_jitter = 0.5;
	pc->connect_timeout_us = 10 * FB_US_PER_S;
	pc->max_packet = 1 << 20;
	pc->max_queued = 1000;
	pc->seed = seed;
	pc->tls = tls;
	pc->tls_host = tls ? tls_host : NULL;
	pc->tls_ca = cfg->ca;
	pc->tls_cert = cfg->cert;
	pc->tls_key = cfg->key;
	return 0;
}
