/* LoRaWAN uplink throughput: 10 000 ABP devices behind 20 gateways, each uplink built, encrypted,
 * MIC'd, put in a Semtech PUSH_DATA (batched, 8 rxpk at most) and sent over loopback UDP to a sink
 * thread that counts the rxpk and answers PUSH_ACK. Prints `name value unit` lines.
 * Usage: lw_bench [frames] (default 1 000 000). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include "protocols/lorawan/lorawan.h"
#include "sim/log.h"

#define NDEV 10000
#define NGW 20

static int sink_fd;
static atomic_ullong sink_rxpk, sink_datagrams;
static atomic_bool sink_stop;

static void *sink(void *arg)
{
	uint8_t buf[FB_SM_BUF_SIZE];
	struct sockaddr_storage from;
	while (!atomic_load(&sink_stop)) {
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(sink_fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n < 12)
			continue;
		if (buf[3] == FB_SM_PUSH_DATA || buf[3] == FB_SM_PULL_DATA) {
			uint8_t ack[4] = { buf[0], buf[1], buf[2], buf[3] == FB_SM_PUSH_DATA ? 1 : 4 };
			sendto(sink_fd, ack, 4, 0, (struct sockaddr *)&from, fl);
		}
		if (buf[3] != FB_SM_PUSH_DATA)
			continue;
		atomic_fetch_add(&sink_datagrams, 1);
		unsigned long long k = 0;
		for (const uint8_t *p = buf + 12; (p = memmem(p, (size_t)(buf + n - p), "\"tmst\"", 6)); p += 6)
			k++;
		atomic_fetch_add(&sink_rxpk, k);
	}
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	unsigned long long frames = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000ULL;
	fb_log_level = FB_LOG_ERROR;
	sink_fd = socket(AF_INET, SOCK_DGRAM, 0);
	int size = 8 << 20;
	setsockopt(sink_fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	if (bind(sink_fd, (struct sockaddr *)&a, sizeof(a)) || getsockname(sink_fd, (struct sockaddr *)&a, &al))
		return perror("sink"), 1;
	struct timeval tv = { 0, 100000 };
	setsockopt(sink_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	pthread_t th;
	pthread_create(&th, NULL, sink, NULL);

	struct ev_loop *loop = ev_default_loop(0);
	struct fb_lw_config cfg;
	fb_lw_config_defaults(&cfg);
	char url[64];
	snprintf(url, sizeof(url), "udp://127.0.0.1:%u", ntohs(a.sin_port));
	fb_lw_parse_server(&cfg, url);
	cfg.otaa = false;
	cfg.adr = false;
	cfg.push_timeout_us = 2 * FB_US_PER_S;
	static struct fb_site sites[NGW];
	static double lat[NDEV], lon[NDEV];
	static uint32_t site[NDEV];
	for (int s = 0; s < NGW; s++)
		sites[s] = (struct fb_site){ .id = "s", .lat = 43.2 + 0.01 * s, .lon = 5.3, .radius_m = 50,
		                             .index = (uint32_t)s };
	for (int i = 0; i < NDEV; i++) {
		site[i] = (uint32_t)(i % NGW);
		lat[i] = sites[site[i]].lat + 0.0002 * ((i / NGW) % 3);
		lon[i] = sites[site[i]].lon;
	}
	struct fb_lw_placement p = { .seed = 1, .first = 0, .count = NDEV, .lat = lat, .lon = lon,
	                             .site = site, .sites = sites, .nsites = NGW };
	struct fb_lw_net *net = fb_lw_net_new(loop, &cfg, &p, NULL);
	if (!net || fb_lw_net_start(net))
		return 1;
	uint8_t payload[10];
	fb_time_us t = 1780000000LL * FB_US_PER_S;
	double t0 = now_s();
	unsigned long long sent = 0;
	/* each device every 60 s of virtual time (duty cycle on: 61.7 ms at SF7 needs 6.2 s off) */
	while (sent < frames) {
		for (uint32_t i = 0; i < NDEV && sent < frames; i++, sent++) {
			memcpy(payload, &sent, sizeof(sent));
			payload[8] = (uint8_t)i;
			payload[9] = 0x42;
			fb_lw_net_uplink(net, i, t + (fb_time_us)i * 6000, payload, sizeof(payload), 1);
			if ((i & 255) == 255)
				ev_run(loop, EVRUN_NOWAIT);       /* flush batches, read PUSH_ACKs */
		}
		ev_run(loop, EVRUN_NOWAIT);
		t += 60 * FB_US_PER_S;
	}
	ev_run(loop, EVRUN_NOWAIT);
	double t1 = now_s();
	const struct fb_lw_counters *c = fb_lw_net_counters(net);
	/* let the sink catch up, bounded */
	for (int k = 0; k < 200 && atomic_load(&sink_rxpk) < c->rxpk_sent; k++) {
		ev_run(loop, EVRUN_NOWAIT);
		usleep(10000);
	}
	struct fb_lw_gw_counters g;
	fb_lw_net_gw_counters(net, &g);
	printf("lorawan_uplinks_per_s %.0f frames/s\n", (double)c->uplinks_sent / (t1 - t0));
	printf("lorawan_uplinks_sent %llu frames\n", (unsigned long long)c->uplinks_sent);
	printf("lorawan_rxpk_received_by_sink %llu frames\n", (unsigned long long)atomic_load(&sink_rxpk));
	printf("lorawan_push_data_sent %llu datagrams\n", (unsigned long long)g.push_sent);
	printf("lorawan_rxpk_per_push_data %.2f frames\n", g.push_sent ? (double)c->rxpk_sent / g.push_sent : 0);
	printf("lorawan_duty_cycle_deferrals %llu frames\n", (unsigned long long)c->duty_cycle_deferrals);
	printf("lorawan_send_errors %llu datagrams\n", (unsigned long long)g.send_errors);
	atomic_store(&sink_stop, true);
	pthread_join(th, NULL);
	fb_lw_net_free(net);
	fb_lw_config_release(&cfg);
	return atomic_load(&sink_rxpk) == c->rxpk_sent && c->uplinks_sent == frames ? 0 : 1;
}
