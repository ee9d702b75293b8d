/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hierarchical hashed timer wheel (mx_timer.h).
 *
 * Time is counted in ticks of MX_TIMER_TICK_MS; a timer due at expire_ms
 * belongs to tick ceil(expire_ms / tick), and the wheel fires it once its
 * position (cur, the last tick it processed) has reached that tick, so a
 * timer never fires early. The wheel has WHEEL_LEVELS levels of 64 slots;
 * level l holds the timers whose tick first differs from cur in the l-th
 * base-64 digit, in the slot named by that digit (the Linux and
 * W. Ahern "timeout.c" layout). 11 levels of 6 bits cover the whole 64-bit
 * tick space, so no deadline needs clamping.
 *
 * Two properties make it cheap:
 * - a timer's slot is a function of its tick and cur alone, so cancel
 *   finds it without storing it (and clears the slot's bit when it empties);
 * - every occupied slot of a level has a digit above cur's digit, and a
 *   lower level always holds earlier timers than a higher one, so the next
 *   event is the lowest set bit of the lowest non-empty level's bitmap:
 *   advancing over a long idle gap and answering next_in_ms cost
 *   O(levels), not O(ticks).
 * Reaching a slot's first tick cascades its timers one or more levels down
 * (or onto the due list); each timer cascades at most once per level.
 *
 * Expiry is two-stage: advancing moves every timer that has become due
 * onto the due list (in tick order), then at most max of them fire. The
 * batch being fired sits on its own list, so a timer (re)armed by a
 * callback at or before now waits for the next call instead of firing in
 * this one (no livelock), and cancelling a timer of the batch simply
 * unlinks it, so it does not fire.
 */
#include <errno.h>
#include <stdlib.h>

#include "mx_base.h"
#include "mx_timer.h"

#define WHEEL_BITS 6u
#define WHEEL_SLOTS (1u << WHEEL_BITS)
#define WHEEL_LEVELS 11u /* ceil(64 / WHEEL_BITS) */

struct mx_wheel {
	uint64_t cur;                       /* last tick processed */
	unsigned n_timers;
	bool expiring;                      /* inside mx_wheel_expire */
	uint64_t occupied[WHEEL_LEVELS];    /* bit d: slot d is non-empty */
	struct mx_timer due;                /* list head: due, not fired yet */
	struct mx_timer firing;             /* list head: batch being fired */
	struct mx_timer slot[WHEEL_LEVELS][WHEEL_SLOTS]; /* list heads */
};

/* Circular doubly-linked lists with a sentinel head; a timer that is on
 * no list has next == prev == NULL (mx_timer_armed). */
static void
list_init(struct mx_timer *h)
{
	h->next = h;
	h->prev = h;
}

static bool
list_empty(const struct mx_timer *h)
{
	return h->next == h;
}

static void
list_append(struct mx_timer *h, struct mx_timer *t)
{
	t->prev = h->prev;
	t->next = h;
	h->prev->next = t;
	h->prev = t;
}

static void
list_unlink(struct mx_timer *t)
{
	t->prev->next = t->next;
	t->next->prev = t->prev;
	t->next = NULL;
	t->prev = NULL;
}

/* Moves every element of src to the end (or front) of dst. */
static void
list_splice(struct mx_timer *dst, struct mx_timer *src, bool at_front)
{
	struct mx_timer *first = src->next, *last = src->prev;
	struct mx_timer *after, *before;

	if (list_empty(src))
		return;
	before = at_front ? dst : dst->prev;
	after = before->next;
	before->next = first;
	first->prev = before;
	last->next = after;
	after->prev = last;
	list_init(src);
}

/* Unlinks every timer of h and marks it idle. */
static void
list_drop(struct mx_timer *h)
{
	while (!list_empty(h))
		list_unlink(h->next);
}

static uint64_t
ms_to_tick(uint64_t ms)
{
	/* Rounded up, written so that UINT64_MAX does not overflow. */
	return ms / MX_TIMER_TICK_MS + (ms % MX_TIMER_TICK_MS != 0);
}

static unsigned
level_of(uint64_t tick, uint64_t cur)
{
	/* tick != cur here: the highest differing bit picks the level. */
	return (unsigned)(63 - __builtin_clzll(tick ^ cur)) / WHEEL_BITS;
}

static unsigned
digit_of(uint64_t tick, unsigned level)
{
	return (unsigned)(tick >> (level * WHEEL_BITS)) & (WHEEL_SLOTS - 1);
}

/* The first tick of slot d of level l, given the wheel's position. */
static uint64_t
slot_start(uint64_t cur, unsigned level, unsigned d)
{
	unsigned above = (level + 1) * WHEEL_BITS;
	uint64_t prefix = above >= 64 ? 0 : cur & ~((UINT64_C(1) << above) - 1);

	return prefix | ((uint64_t)d << (level * WHEEL_BITS));
}

static void
place(struct mx_wheel *w, struct mx_timer *t)
{
	uint64_t tick = ms_to_tick(t->expire_ms);
	unsigned level, d;

	if (tick <= w->cur) {
		list_append(&w->due, t);
		return;
	}
	level = level_of(tick, w->cur);
	d = digit_of(tick, level);
	list_append(&w->slot[level][d], t);
	w->occupied[level] |= UINT64_C(1) << d;
}

/* Finds the earliest non-empty slot; false when the wheel part is empty. */
static bool
next_slot(const struct mx_wheel *w, unsigned *level, unsigned *d)
{
	unsigned l;

	for (l = 0; l < WHEEL_LEVELS; l++) {
		if (w->occupied[l] != 0) {
			*level = l;
			*d = (unsigned)__builtin_ctzll(w->occupied[l]);
			return true;
		}
	}
	return false;
}

/* Moves the wheel's position to now_tick, cascading every slot whose first
 * tick is passed on the way; timers that become due land on w->due. */
static void
advance(struct mx_wheel *w, uint64_t now_tick)
{
	struct mx_timer batch;
	unsigned level, d;
	uint64_t start;

	while (w->cur < now_tick) {
		if (!next_slot(w, &level, &d)) {
			w->cur = now_tick;
			return;
		}
		start = slot_start(w->cur, level, d);
		if (start > now_tick) {
			w->cur = now_tick;
			return;
		}
		w->cur = start;
		list_init(&batch);
		list_splice(&batch, &w->slot[level][d], false);
		w->occupied[level] &= ~(UINT64_C(1) << d);
		while (!list_empty(&batch)) {
			struct mx_timer *t = batch.next;

			list_unlink(t);
			place(w, t);
		}
	}
}

int
mx_wheel_create(uint64_t now_ms, struct mx_wheel **out)
{
	struct mx_wheel *w;
	unsigned l, d;

	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->cur = now_ms / MX_TIMER_TICK_MS;
	list_init(&w->due);
	list_init(&w->firing);
	for (l = 0; l < WHEEL_LEVELS; l++)
		for (d = 0; d < WHEEL_SLOTS; d++)
			list_init(&w->slot[l][d]);
	*out = w;
	return 0;
}

void
mx_wheel_free(struct mx_wheel *w)
{
	unsigned l, d;

	if (w == NULL)
		return;
	/* Owners may still test mx_timer_armed() on their timers. */
	list_drop(&w->due);
	list_drop(&w->firing);
	for (l = 0; l < WHEEL_LEVELS; l++)
		for (d = 0; d < WHEEL_SLOTS; d++)
			list_drop(&w->slot[l][d]);
	free(w);
}

void
mx_timer_init(struct mx_timer *t, mx_timer_fn *fn, void *arg)
{
	t->next = NULL;
	t->prev = NULL;
	t->expire_ms = 0;
	t->fn = fn;
	t->arg = arg;
}

bool
mx_timer_armed(const struct mx_timer *t)
{
	return t->next != NULL;
}

void
mx_timer_arm(struct mx_wheel *w, struct mx_timer *t, uint64_t expire_ms)
{
	mx_timer_cancel(w, t);
	t->expire_ms = expire_ms;
	place(w, t);
	w->n_timers++;
}

void
mx_timer_cancel(struct mx_wheel *w, struct mx_timer *t)
{
	uint64_t tick;
	unsigned level, d;

	if (t->next == NULL)
		return;
	tick = ms_to_tick(t->expire_ms);
	list_unlink(t);
	w->n_timers--;
	/* A timer past cur sits on a due/firing list, not in a slot. */
	if (tick <= w->cur)
		return;
	level = level_of(tick, w->cur);
	d = digit_of(tick, level);
	if (list_empty(&w->slot[level][d]))
		w->occupied[level] &= ~(UINT64_C(1) << d);
}

unsigned
mx_wheel_expire(struct mx_wheel *w, uint64_t now_ms, unsigned max)
{
	unsigned n = 0;

	/* A callback that expires its own wheel would fire timers out of
	 * order and break the batch bookkeeping: a caller bug. */
	MX_ASSERT(!w->expiring);
	advance(w, now_ms / MX_TIMER_TICK_MS);
	if (max == 0 || list_empty(&w->due))
		return 0;
	w->expiring = true;
	list_splice(&w->firing, &w->due, false);
	while (n < max && !list_empty(&w->firing)) {
		struct mx_timer *t = w->firing.next;

		list_unlink(t);
		w->n_timers--;
		n++;
		t->fn(t, t->arg);
	}
	/* Leftovers are older than anything armed meanwhile: keep them first. */
	list_splice(&w->due, &w->firing, true);
	w->expiring = false;
	return n;
}

uint64_t
mx_wheel_next_in_ms(const struct mx_wheel *w, uint64_t now_ms)
{
	unsigned level, d;
	uint64_t start;

	if (!list_empty(&w->due) || !list_empty(&w->firing))
		return 0;
	if (!next_slot(w, &level, &d))
		return UINT64_MAX;
	/* Exact for level 0 (one tick per slot); for a higher level the
	 * slot's first tick, a lower bound (see mx_timer.h). */
	start = slot_start(w->cur, level, d);
	if (start > UINT64_MAX / MX_TIMER_TICK_MS)
		return UINT64_MAX;
	start *= MX_TIMER_TICK_MS;
	return start <= now_ms ? 0 : start - now_ms;
}

unsigned
mx_wheel_count(const struct mx_wheel *w)
{
	return w->n_timers;
}
