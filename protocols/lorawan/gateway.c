/* Simulated Semtech UDP gateway; see gateway.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "protocols/lorawan/gateway.h"
#include "sim/log.h"

#define KEEPALIVE_US (10 * FB_US_PER_S)    /* global_conf.json keepalive_interval */
#define STAT_US (30 * FB_US_PER_S)         /* stat_interval */

static fb_time_us loop_now(struct ev_loop *loop)
{
	return (fb_time_us)(ev_now(loop) * 1e6);
}

static void send_datagram(struct fb_lw_gateway *gw, const uint8_t *buf, size_t len)
{
	if (send(gw->fd, buf, len, MSG_DONTWAIT) < 0) {
		gw->c.send_errors++;
		if (fb_first_time(&gw->logged_send))
			fb_warn("gateway '%016llx': cannot send to the network server: %s (counted, not "
			        "logged again)", (unsigned long long)gw->eui, strerror(errno));
	}
}

static void rtt_record(struct fb_lw_gateway *gw, fb_time_us rtt)
{
	if (rtt < 0)
		rtt = 0;
	unsigned b = 0;
	while (b + 1 < FB_LW_RTT_BUCKETS && (1LL << (b + 1)) <= rtt)
		b++;
	gw->c.rtt_hist[b]++;
	gw->c.rtt_sum_us += (uint64_t)rtt;
	if ((uint64_t)rtt > gw->c.rtt_max_us)
		gw->c.rtt_max_us = (uint64_t)rtt;
}

static void bad(struct fb_lw_gateway *gw, const char *what, const char *detail)
{
	gw->c.bad_datagrams++;
	if (fb_first_time(&gw->logged_bad))
		fb_warn("gateway '%016llx': bad datagram from the network server: %s%s%s (counted, "
		        "not logged again)", (unsigned long long)gw->eui, what, detail ? " in " : "",
		        detail ? detail : "");
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fb_lw_gateway *gw = (struct fb_lw_gateway *)((char *)w - offsetof(struct fb_lw_gateway, io));
	uint8_t in[4096];
	for (int rounds = 0; rounds < 64; rounds++) {
		ssize_t n = recv(gw->fd, in, sizeof(in), MSG_DONTWAIT);
		if (n < 0)
			return;       /* EAGAIN, or ECONNREFUSED from an absent server: timeouts count it */
		uint8_t ver, type;
		uint16_t token;
		int rc = fb_sm_header(in, (size_t)n, &ver, &token, &type);
		if (rc) {
			bad(gw, fb_sm_strerror(rc), NULL);
			continue;
		}
		fb_time_us now = loop_now(loop);
		switch (type) {
		case FB_SM_PUSH_ACK: {
			bool found = false;
			for (int i = 0; i < FB_LW_GW_INFLIGHT; i++) {
				struct fb_lw_inflight *f = &gw->inflight[i];
				if (f->used && f->token == token) {
					f->used = false;
					gw->c.push_acked++;
					gw->up_acked++;
					rtt_record(gw, now - f->sent_wall);
					found = true;
					break;
				}
			}
			if (!found)
				gw->c.unknown_token++;
			break;
		}
		case FB_SM_PULL_ACK:
			if (gw->pull_outstanding && token == gw->pull_token) {
				gw->pull_outstanding = false;
				gw->pull_missed = 0;
				gw->c.pull_acked++;
			} else {
				gw->c.unknown_token++;
			}
			break;
		case FB_SM_PULL_RESP: {
			gw->dwnb++;
			gw->c.pull_resp++;
			struct fb_sm_txpk tx;
			const char *what = NULL;
			rc = fb_sm_parse_pull_resp(in, (size_t)n, &tx, &what);
			if (rc) {
				bad(gw, fb_sm_strerror(rc), what);
				break;
			}
			if (gw->on_downlink)
				gw->on_downlink(gw->arg, gw, token, &tx);
			break;
		}
		default:
			bad(gw, "unexpected packet type", NULL);
			break;
		}
	}
}

int fb_lw_gateway_open(struct fb_lw_gateway *gw, struct ev_loop *loop,
                       const struct sockaddr *server, socklen_t server_len)
{
	gw->loop = loop;
	gw->fd = socket(server->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (gw->fd < 0)
		return fb_error("cannot create a UDP socket for gateway '%016llx': %s",
		                (unsigned long long)gw->eui, strerror(errno));
	int size = 1 << 20;
	setsockopt(gw->fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	setsockopt(gw->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	/* a connected UDP socket: one source port for the whole run, and only the server's replies */
	if (connect(gw->fd, server, server_len) < 0) {
		int e = errno;
		close(gw->fd);
		gw->fd = -1;
		return fb_error("cannot connect gateway '%016llx' to the network server: %s",
		                (unsigned long long)gw->eui, strerror(e));
	}
	if (gw->push_retries) {
		for (int i = 0; i < FB_LW_GW_INFLIGHT; i++) {
			gw->inflight[i].buf = malloc(FB_SM_BUF_SIZE);
			if (!gw->inflight[i].buf)
				return fb_error("out of memory");
		}
	}
	ev_io_init(&gw->io, on_readable, gw->fd, EV_READ);
	ev_io_start(loop, &gw->io);
	gw->next_token = (uint16_t)(gw->eui * 0x9e37u + 1);
	fb_time_us now = loop_now(loop);
	gw->next_pull_wall = now;                /* PULL_DATA at once: opens the downlink path */
	gw->next_stat_wall = now + STAT_US;
	return 0;
}

void fb_lw_gateway_close(struct fb_lw_gateway *gw)
{
	if (gw->fd >= 0) {
		ev_io_stop(gw->loop, &gw->io);
		close(gw->fd);
		gw->fd = -1;
	}
	for (int i = 0; i < FB_LW_GW_INFLIGHT; i++) {
		free(gw->inflight[i].buf);
		gw->inflight[i].buf = NULL;
	}
}

uint32_t fb_lw_gateway_tmst(const struct fb_lw_gateway *gw, fb_time_us t)
{
	return (uint32_t)((uint64_t)t + gw->tmst_offset);
}

static void push(struct fb_lw_gateway *gw, const struct fb_sm_rxpk *rx, size_t n,
                 const struct fb_sm_stat *stat, fb_time_us wall_now)
{
	uint16_t token = gw->next_token++;
	ssize_t len = fb_sm_push_data(gw->version, token, gw->eui, rx, n, stat, gw->buf, sizeof(gw->buf));
	if (len < 0) {
		gw->c.send_errors++;
		return;
	}
	send_datagram(gw, gw->buf, (size_t)len);
	gw->c.push_sent++;
	gw->up_sent++;
	/* track for the PUSH_ACK: a free slot, else the oldest is given up as a timeout */
	struct fb_lw_inflight *slot = NULL;
	for (int i = 0; i < FB_LW_GW_INFLIGHT && !slot; i++)
		if (!gw->inflight[i].used)
			slot = &gw->inflight[i];
	if (!slot) {
		gw->c.push_untracked++;
		return;
	}
	slot->used = true;
	slot->token = token;
	slot->tries = 0;
	slot->sent_wall = wall_now;
	slot->len = (size_t)len;
	if (slot->buf)
		memcpy(slot->buf, gw->buf, (size_t)len);
}

bool fb_lw_gateway_queue(struct fb_lw_gateway *gw, const struct fb_sm_rxpk *rx, fb_time_us wall_now)
{
	size_t i = gw->npending;
	size_t size = rx->size < 256 ? rx->size : 256;
	memcpy(gw->pending_data[i], rx->data, size);
	gw->pending[i] = *rx;
	gw->pending[i].data = gw->pending_data[i];
	gw->pending[i].size = size;
	gw->npending++;
	gw->rxnb++;
	gw->rxok++;
	if (gw->npending == FB_SM_MAX_RXPK) {
		fb_lw_gateway_flush(gw, wall_now);
		return false;
	}
	return gw->npending == 1;
}

bool fb_lw_gateway_unqueue(struct fb_lw_gateway *gw, uint32_t tmst)
{
	for (size_t i = 0; i < gw->npending; i++) {
		if (gw->pending[i].tmst != tmst)
			continue;
		for (size_t k = i + 1; k < gw->npending; k++) {
			memcpy(gw->pending_data[k - 1], gw->pending_data[k], gw->pending[k].size);
			gw->pending[k - 1] = gw->pending[k];
			gw->pending[k - 1].data = gw->pending_data[k - 1];
		}
		gw->npending--;
		gw->rxok--;
		return true;
	}
	return false;
}

void fb_lw_gateway_flush(struct fb_lw_gateway *gw, fb_time_us wall_now)
{
	if (!gw->npending)
		return;
	push(gw, gw->pending, gw->npending, NULL, wall_now);
	gw->rxfw += (uint32_t)gw->npending;
	gw->c.rxpk_forwarded += gw->npending;
	gw->npending = 0;
}

void fb_lw_gateway_tick(struct fb_lw_gateway *gw, fb_time_us wall_now, fb_time_us virtual_now)
{
	for (int i = 0; i < FB_LW_GW_INFLIGHT; i++) {
		struct fb_lw_inflight *f = &gw->inflight[i];
		if (!f->used || wall_now - f->sent_wall < gw->push_timeout_us)
			continue;
		if (f->tries < gw->push_retries && f->buf) {
			f->tries++;
			f->sent_wall = wall_now;
			gw->c.push_retries++;
			send_datagram(gw, f->buf, f->len);
			continue;
		}
		f->used = false;
		gw->c.push_timeouts++;
		if (fb_first_time(&gw->logged_timeout))
			fb_warn("gateway '%016llx': no PUSH_ACK within %lld ms (counted, not logged again)",
			        (unsigned long long)gw->eui, (long long)(gw->push_timeout_us / 1000));
	}
	if (wall_now >= gw->next_pull_wall) {
		if (gw->pull_outstanding)
			gw->pull_missed++;
		gw->pull_token = gw->next_token++;
		ssize_t n = fb_sm_pull_data(gw->version, gw->pull_token, gw->eui, gw->buf, sizeof(gw->buf));
		if (n > 0)
			send_datagram(gw, gw->buf, (size_t)n);
		gw->pull_outstanding = true;
		gw->pull_sent_wall = wall_now;
		gw->c.pull_sent++;
		gw->next_pull_wall = wall_now + KEEPALIVE_US;
	}
	if (wall_now >= gw->next_stat_wall) {
		struct fb_sm_stat st = {
			.time = virtual_now, .has_gps = true, .lat = gw->lat, .lon = gw->lon,
			.alt = (int)gw->height_m, .rxnb = gw->rxnb, .rxok = gw->rxok, .rxfw = gw->rxfw,
			.ackr = gw->up_sent ? 100.0 * gw->up_acked / gw->up_sent : 0.0,
			.dwnb = gw->dwnb, .txnb = gw->txnb,
		};
		fb_lw_gateway_flush(gw, wall_now);
		push(gw, NULL, 0, &st, wall_now);
		gw->c.stat_sent++;
		gw->rxnb = gw->rxok = gw->rxfw = gw->dwnb = gw->txnb = gw->up_sent = gw->up_acked = 0;
		gw->next_stat_wall = wall_now + STAT_US;
	}
}

void fb_lw_gateway_tx_ack(struct fb_lw_gateway *gw, uint16_t token, const char *error)
{
	if (error && strcmp(error, "NONE"))
		gw->c.tx_ack_errors++;
	else
		gw->txnb++;
	if (gw->version < 2)
		return;                     /* TX_ACK exists from protocol version 2 */
	uint8_t buf[64];
	ssize_t n = fb_sm_tx_ack(gw->version, token, gw->eui, error, buf, sizeof(buf));
	if (n > 0) {
		send_datagram(gw, buf, (size_t)n);
		gw->c.tx_ack_sent++;
	}
}

unsigned fb_lw_gateway_inflight(const struct fb_lw_gateway *gw)
{
	unsigned n = 0;
	for (int i = 0; i < FB_LW_GW_INFLIGHT; i++)
		n += gw->inflight[i].used;
	return n;
}
