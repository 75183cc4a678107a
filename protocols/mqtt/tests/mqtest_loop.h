/* Turning the libev loop of an MQTT test until something holds (readiness polling with a
 * deadline, never a fixed sleep). Header-only: each test program is one file. */
#ifndef FB_MQTEST_LOOP_H
#define FB_MQTEST_LOOP_H
#include <stdbool.h>
#include <ev.h>

static inline void mqt_deadline_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l; (void)revents;
	*(bool *)w->data = true;
}

static inline void mqt_tick_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l; (void)w; (void)revents;
}

/* Runs the loop until cond(arg) holds or timeout_s passes; returns cond(arg). A 5 ms tick
 * re-checks the condition when the last thing that changed it was a write (no further event
 * would wake the loop). */
static inline bool mqt_run_until(struct ev_loop *l, bool (*cond)(void *), void *arg,
                                 double timeout_s)
{
	bool expired = false;
	ev_timer t, tick;
	ev_timer_init(&t, mqt_deadline_cb, timeout_s, 0.);
	ev_timer_init(&tick, mqt_tick_cb, 0.005, 0.005);
	t.data = &expired;
	ev_timer_start(l, &t);
	ev_timer_start(l, &tick);
	while (!cond(arg) && !expired)
		ev_run(l, EVRUN_ONCE);
	ev_timer_stop(l, &t);
	ev_timer_stop(l, &tick);
	return cond(arg);
}

/* Runs the loop for s seconds (what must not happen meanwhile is then checked). */
static inline void mqt_run_for(struct ev_loop *l, double s)
{
	bool expired = false;
	ev_timer t;
	ev_timer_init(&t, mqt_deadline_cb, s, 0.);
	t.data = &expired;
	ev_timer_start(l, &t);
	while (!expired)
		ev_run(l, EVRUN_ONCE);
}

#endif
