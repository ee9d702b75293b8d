/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_timer: one hashed timer wheel per worker (DESIGN "timers").
 *
 * Timers are intrusive: the owner embeds struct mx_timer and the wheel
 * links it, so arming and cancelling never allocate. The struct is exposed
 * for that reason only; touch its fields through the functions below.
 * Resolution is rounded up to one tick (MX_TIMER_TICK_MS), so a
 * timer never fires early. Expiry is capped per call (max) so one loop pass
 * stays bounded; what is left fires on the next pass.
 *
 * Thread: the wheel's owner thread only. Never blocks.
 */
#ifndef MX_TIMER_H
#define MX_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#define MX_TIMER_TICK_MS 4u

struct mx_wheel;
struct mx_timer;

typedef void mx_timer_fn(struct mx_timer *t, void *arg);

struct mx_timer {
	struct mx_timer *next, *prev; /* wheel slot list; NULL when idle */
	uint64_t expire_ms;
	mx_timer_fn *fn;
	void *arg;
};

/* Returns 0 or -ENOMEM. */
int mx_wheel_create(uint64_t now_ms, struct mx_wheel **out);
/* Pending timers are dropped without firing. */
void mx_wheel_free(struct mx_wheel *w);

void mx_timer_init(struct mx_timer *t, mx_timer_fn *fn, void *arg);
/* (Re)arms t to fire at or after expire_ms. */
void mx_timer_arm(struct mx_wheel *w, struct mx_timer *t, uint64_t expire_ms);
/* Safe on an idle timer. */
void mx_timer_cancel(struct mx_wheel *w, struct mx_timer *t);
bool mx_timer_armed(const struct mx_timer *t);

/* Fires every timer due at now_ms, at most max of them, in deadline order
 * (timers of the same tick in no defined order; a timer armed when already
 * due queues behind those already due); returns how many fired.
 * A callback may arm or cancel any timer, including its own; a timer it
 * cancels does not fire even if it was due in this call, and a timer it
 * arms at or before now_ms fires on the next call, not in this one. A
 * callback must not call mx_wheel_expire() on its own wheel. */
unsigned mx_wheel_expire(struct mx_wheel *w, uint64_t now_ms, unsigned max);
/* Milliseconds until the earliest pending timer (0 if one is due), or
 * UINT64_MAX when none is pending; used to bound the poll timeout. Never
 * more than the true wait. Exact (to the tick) for timers within the
 * wheel's current 64-tick span; for a farther timer it may be less, down
 * to the start of the wheel slot holding it, so a poll loop wakes up at
 * most once per wheel level on the way there and asks again (each such
 * pass cascades the timer closer and costs O(1)). */
uint64_t mx_wheel_next_in_ms(const struct mx_wheel *w, uint64_t now_ms);
unsigned mx_wheel_count(const struct mx_wheel *w);

#endif /* MX_TIMER_H */
