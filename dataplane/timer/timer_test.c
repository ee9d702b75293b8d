/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the timer wheel (mx_timer.h): deadline order, timers of
 * the same tick, deadlines many wheel revolutions away, cancel and re-arm
 * from inside callbacks, bounded expiry with leftovers, next_in_ms, and a
 * seeded comparison against a trivial model. Time is simulated: the tests
 * pass now_ms explicitly and never sleep.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mx_timer.h"

#define T_MAX 64
#define TICK MX_TIMER_TICK_MS

struct fixture;

enum act {
	ACT_NONE = 0,
	ACT_CANCEL,       /* cancel timer `target` */
	ACT_REARM,        /* re-arm timer `target` at now + `delta` */
};

struct tslot {
	struct mx_timer t;
	struct fixture *fx;
	unsigned id;
	uint64_t armed_ms;        /* the deadline it was last armed for */
	enum act act;
	unsigned target;
	uint64_t delta;
	unsigned n_act;           /* how many more times to act */
};

struct fixture {
	struct mx_wheel *w;
	uint64_t now;
	struct tslot s[T_MAX];
	unsigned n_fired;
	unsigned fired[4096];
	uint64_t fired_at[4096];
};

static uint64_t
tick_ceil_ms(uint64_t ms)
{
	return (ms / TICK + (ms % TICK != 0)) * TICK;
}

static void
on_fire(struct mx_timer *t, void *arg)
{
	struct tslot *s = arg;
	struct fixture *fx = s->fx;

	assert_ptr_equal(t, &s->t);
	assert_false(mx_timer_armed(t));
	assert_true(fx->n_fired < 4096);
	fx->fired[fx->n_fired] = s->id;
	fx->fired_at[fx->n_fired] = fx->now;
	fx->n_fired++;
	if (s->n_act == 0)
		return;
	s->n_act--;
	switch (s->act) {
	case ACT_CANCEL:
		mx_timer_cancel(fx->w, &fx->s[s->target].t);
		break;
	case ACT_REARM:
		fx->s[s->target].armed_ms = fx->now + s->delta;
		mx_timer_arm(fx->w, &fx->s[s->target].t, fx->now + s->delta);
		break;
	case ACT_NONE:
		break;
	}
}

static struct fixture *
fx_new(uint64_t now)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	unsigned i;

	assert_non_null(fx);
	fx->now = now;
	assert_int_equal(mx_wheel_create(now, &fx->w), 0);
	for (i = 0; i < T_MAX; i++) {
		fx->s[i].fx = fx;
		fx->s[i].id = i;
		mx_timer_init(&fx->s[i].t, on_fire, &fx->s[i]);
	}
	return fx;
}

static void
fx_free(struct fixture *fx)
{
	mx_wheel_free(fx->w);
	free(fx);
}

static void
fx_arm(struct fixture *fx, unsigned id, uint64_t expire_ms)
{
	fx->s[id].armed_ms = expire_ms;
	mx_timer_arm(fx->w, &fx->s[id].t, expire_ms);
}

/* Drives the wheel the way the loop does: sleep for next_in_ms, expire.
 * Returns the number of passes; bounded. */
static unsigned
fx_drive(struct fixture *fx, unsigned max_passes)
{
	unsigned passes = 0;
	uint64_t next;

	while (passes < max_passes) {
		next = mx_wheel_next_in_ms(fx->w, fx->now);
		if (next == UINT64_MAX)
			break;
		fx->now += next;
		mx_wheel_expire(fx->w, fx->now, UINT32_MAX);
		passes++;
	}
	return passes;
}

/*
 * Ordering, same tick, far future: each case arms timers at now + delay
 * and drives the wheel by next_in_ms. Every timer must fire exactly at the
 * first tick boundary at or after its deadline (next_in_ms never
 * overshoots, expiry is never early), in deadline order, and the number of
 * passes stays small (at most one per wheel level per timer).
 */
struct order_case {
	const char *name;
	uint64_t start;
	unsigned n;
	uint64_t delay[16];
};

static const struct order_case order_cases[] = {
	{ "ascending", 1000, 5, { 4, 8, 12, 16, 20 } },
	{ "descending", 1000, 5, { 20, 16, 12, 8, 4 } },
	{ "shuffled-unaligned", 1001, 6, { 17, 3, 250, 1, 99, 64 } },
	{ "same-tick", 4000, 6, { 9, 10, 11, 12, 12, 12 } },
	{ "level-carry", 252 * TICK, 3, { 8, 100, 300 } },
	{ "beyond-one-revolution", 0, 5,
		{ 256, 257, 16384, 5 * 60 * 1000, 3600 * 1000 } },
	{ "far-future", 123457, 6,
		{ 86400000ull * 30, 86400000ull * 365 * 10, 7, 1u << 31,
		  (1ull << 40) + 3, 1 } },
	{ "zero-delay", 800, 3, { 0, 0, 4 } },
};

static void
test_order(void **state)
{
	size_t c;

	(void)state;
	for (c = 0; c < sizeof(order_cases) / sizeof(order_cases[0]); c++) {
		const struct order_case *oc = &order_cases[c];
		struct fixture *fx = fx_new(oc->start);
		unsigned i, passes;

		for (i = 0; i < oc->n; i++)
			fx_arm(fx, i, oc->start + oc->delay[i]);
		assert_int_equal(mx_wheel_count(fx->w), oc->n);
		passes = fx_drive(fx, 100 * oc->n);
		print_message("%s: %u passes\n", oc->name, passes);
		assert_true(passes <= 12 * oc->n);
		assert_int_equal(fx->n_fired, oc->n);
		assert_int_equal(mx_wheel_count(fx->w), 0);
		for (i = 0; i < fx->n_fired; i++) {
			unsigned id = fx->fired[i];

			/* on time: the first tick boundary at or after it */
			assert_int_equal(fx->fired_at[i],
				tick_ceil_ms(fx->s[id].armed_ms));
			assert_false(mx_timer_armed(&fx->s[id].t));
			if (i > 0)
				assert_true(fx->fired_at[i - 1] <= fx->fired_at[i]);
		}
		fx_free(fx);
	}
}

/* Never early: expiring just before the deadline's tick fires nothing. */
static void
test_not_early(void **state)
{
	static const uint64_t deadlines[] = { 1001, 1004, 1005, 1260, 70000 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(deadlines) / sizeof(deadlines[0]); i++) {
		struct fixture *fx = fx_new(1000);
		uint64_t due = tick_ceil_ms(deadlines[i]);

		fx_arm(fx, 0, deadlines[i]);
		fx->now = due - 1;
		assert_int_equal(mx_wheel_expire(fx->w, fx->now, 100), 0);
		assert_true(mx_timer_armed(&fx->s[0].t));
		fx->now = due;
		assert_int_equal(mx_wheel_expire(fx->w, fx->now, 100), 1);
		assert_int_equal(fx->n_fired, 1);
		fx_free(fx);
	}
}

/* A big jump of time fires everything due, in deadline order. */
static void
test_jump(void **state)
{
	struct fixture *fx = fx_new(0);
	static const uint64_t d[] = { 900000, 40, 7, 65000, 4096, 262144, 5 };
	unsigned i;

	(void)state;
	for (i = 0; i < 7; i++)
		fx_arm(fx, i, d[i]);
	fx_arm(fx, 7, 900001); /* stays */
	fx->now = 900000;
	assert_int_equal(mx_wheel_expire(fx->w, fx->now, 100), 7);
	for (i = 1; i < fx->n_fired; i++)
		assert_true(tick_ceil_ms(fx->s[fx->fired[i - 1]].armed_ms) <=
			tick_ceil_ms(fx->s[fx->fired[i]].armed_ms));
	assert_int_equal(mx_wheel_count(fx->w), 1);
	assert_int_equal(mx_wheel_next_in_ms(fx->w, fx->now), 4);
	fx_free(fx);
}

/*
 * Callbacks acting on timers: cancel another timer due in the same pass
 * (it must not fire), cancel its own (no-op), re-arm itself later, re-arm
 * itself at now (fires on the next call, not this one), re-arm a pending
 * timer earlier or later. Each case lists the ids expected per expire call.
 */
struct cb_case {
	const char *name;
	unsigned n;
	uint64_t at[4];          /* deadlines, relative to start 0 */
	enum act act[4];
	unsigned target[4];
	uint64_t delta[4];
	unsigned n_act[4];
	unsigned n_steps;
	uint64_t step_now[4];
	int expect[4][6];        /* ids fired in each step, -1 terminated */
};

static const struct cb_case cb_cases[] = {
	{ "cancel-same-pass", 2, { 4, 8 }, { ACT_CANCEL }, { 1 }, { 0 }, { 1 },
		2, { 8, 100 }, { { 0, -1 }, { -1 } } },
	{ "cancel-self", 1, { 4 }, { ACT_CANCEL }, { 0 }, { 0 }, { 1 },
		1, { 4 }, { { 0, -1 } } },
	{ "cancel-future", 2, { 4, 5000 }, { ACT_CANCEL }, { 1 }, { 0 }, { 1 },
		2, { 4, 6000 }, { { 0, -1 }, { -1 } } },
	{ "rearm-self-later", 1, { 4 }, { ACT_REARM }, { 0 }, { 40 }, { 2 },
		4, { 4, 43, 44, 84 }, { { 0, -1 }, { -1 }, { 0, -1 }, { 0, -1 } } },
	{ "rearm-self-now", 1, { 4 }, { ACT_REARM }, { 0 }, { 0 }, { 1 },
		2, { 4, 4 }, { { 0, -1 }, { 0, -1 } } },
	{ "rearm-other-now", 2, { 4, 900 }, { ACT_REARM }, { 1 }, { 0 }, { 1 },
		2, { 4, 4 }, { { 0, -1 }, { 1, -1 } } },
	{ "rearm-other-same-pass-later", 2, { 4, 8 }, { ACT_REARM }, { 1 },
		{ 100 }, { 1 }, 2, { 8, 108 }, { { 0, -1 }, { 1, -1 } } },
};

static void
test_callbacks(void **state)
{
	size_t c;

	(void)state;
	for (c = 0; c < sizeof(cb_cases) / sizeof(cb_cases[0]); c++) {
		const struct cb_case *cc = &cb_cases[c];
		struct fixture *fx = fx_new(0);
		unsigned i, step, k, first = 0;

		print_message("%s\n", cc->name);
		for (i = 0; i < cc->n; i++) {
			fx->s[i].act = cc->act[i];
			fx->s[i].target = cc->target[i];
			fx->s[i].delta = cc->delta[i];
			fx->s[i].n_act = cc->n_act[i];
			fx_arm(fx, i, cc->at[i]);
		}
		for (step = 0; step < cc->n_steps; step++) {
			fx->now = cc->step_now[step];
			mx_wheel_expire(fx->w, fx->now, 100);
			for (k = 0; cc->expect[step][k] >= 0; k++) {
				assert_true(first + k < fx->n_fired);
				assert_int_equal(fx->fired[first + k],
					cc->expect[step][k]);
			}
			assert_int_equal(fx->n_fired, first + k);
			first = fx->n_fired;
		}
		fx_free(fx);
	}
}

/* Bounded expiry: leftovers stay due (next_in_ms 0) and fire first. */
static void
test_bounded(void **state)
{
	struct fixture *fx = fx_new(0);
	static const unsigned max[] = { 3, 3, 0, 3, 3, 3 };
	static const unsigned expect[] = { 3, 3, 0, 3, 2, 0 };
	unsigned i;

	(void)state;
	for (i = 0; i < 10; i++)
		fx_arm(fx, i, 8);
	fx->now = 8;
	for (i = 0; i < 6; i++) {
		if (i == 3)
			fx_arm(fx, 10, 8); /* armed while others wait */
		assert_int_equal(mx_wheel_expire(fx->w, fx->now, max[i]),
			expect[i]);
		if (i < 4)
			assert_int_equal(mx_wheel_next_in_ms(fx->w, fx->now), 0);
	}
	assert_int_equal(fx->n_fired, 11);
	assert_int_equal(fx->fired[10], 10); /* the late one fires last */
	assert_int_equal(mx_wheel_count(fx->w), 0);
	assert_int_equal(mx_wheel_next_in_ms(fx->w, fx->now), UINT64_MAX);
	fx_free(fx);
}

struct next_case {
	const char *name;
	uint64_t now;
	unsigned n;
	uint64_t at[4];
	uint64_t expect;
};

static const struct next_case next_cases[] = {
	{ "empty", 1000, 0, { 0 }, UINT64_MAX },
	{ "aligned", 1000, 1, { 1008 }, 8 },
	{ "rounded-up", 1000, 1, { 1001 }, 4 },
	{ "due", 1000, 1, { 1000 }, 0 },
	{ "past", 1000, 1, { 10 }, 0 },
	{ "earliest-of-several", 1000, 3, { 1040, 1012, 1200 }, 12 },
	{ "cancelled-earliest", 1024, 2, { 1036, 1064 }, 40 },
};

static void
test_next_in(void **state)
{
	size_t c;

	(void)state;
	for (c = 0; c < sizeof(next_cases) / sizeof(next_cases[0]); c++) {
		const struct next_case *nc = &next_cases[c];
		struct fixture *fx = fx_new(nc->now);
		unsigned i;

		print_message("%s\n", nc->name);
		for (i = 0; i < nc->n; i++)
			fx_arm(fx, i, nc->at[i]);
		if (strcmp(nc->name, "cancelled-earliest") == 0)
			mx_timer_cancel(fx->w, &fx->s[0].t);
		assert_int_equal(mx_wheel_next_in_ms(fx->w, nc->now), nc->expect);
		fx_free(fx);
	}
}

/* Far timers: next_in_ms is a lower bound that converges. */
static void
test_next_in_far(void **state)
{
	struct fixture *fx = fx_new(0);
	uint64_t next, deadline = 5 * 60 * 1000 + 3;
	unsigned passes = 0;

	(void)state;
	fx_arm(fx, 0, deadline);
	while (fx->n_fired == 0 && passes < 20) {
		next = mx_wheel_next_in_ms(fx->w, fx->now);
		assert_true(next != UINT64_MAX);
		assert_true(fx->now + next <= tick_ceil_ms(deadline));
		fx->now += next;
		mx_wheel_expire(fx->w, fx->now, 10);
		passes++;
	}
	assert_int_equal(fx->n_fired, 1);
	assert_int_equal(fx->fired_at[0], tick_ceil_ms(deadline));
	assert_true(passes <= 11);
	fx_free(fx);
}

/* Freeing a wheel drops pending timers without firing and idles them. */
static void
test_free_pending(void **state)
{
	struct fixture *fx = fx_new(0);
	struct mx_wheel *w = fx->w;

	(void)state;
	fx_arm(fx, 0, 4);
	fx_arm(fx, 1, 1u << 30);
	mx_wheel_expire(w, 0, 10);
	mx_wheel_free(w);
	fx->w = NULL;
	assert_false(mx_timer_armed(&fx->s[0].t));
	assert_false(mx_timer_armed(&fx->s[1].t));
	assert_int_equal(fx->n_fired, 0);
	free(fx);
}

/* Cancel of an idle timer, double arm, arm in the past. */
static void
test_arm_cancel_edges(void **state)
{
	struct fixture *fx = fx_new(1000);

	(void)state;
	mx_timer_cancel(fx->w, &fx->s[0].t);
	assert_int_equal(mx_wheel_count(fx->w), 0);
	fx_arm(fx, 0, 5000);
	fx_arm(fx, 0, 1100); /* re-arm moves it */
	assert_int_equal(mx_wheel_count(fx->w), 1);
	fx_arm(fx, 1, 3);    /* in the past: due at once */
	assert_int_equal(mx_wheel_next_in_ms(fx->w, fx->now), 0);
	assert_int_equal(mx_wheel_expire(fx->w, fx->now, 10), 1);
	assert_int_equal(fx->fired[0], 1);
	fx->now = 1100;
	assert_int_equal(mx_wheel_expire(fx->w, fx->now, 10), 1);
	fx->now = 6000;
	assert_int_equal(mx_wheel_expire(fx->w, fx->now, 10), 0);
	mx_timer_cancel(fx->w, &fx->s[0].t);
	fx_free(fx);
}

/*
 * Seeded model check: random arms (deadlines over many magnitudes),
 * cancels and time steps; after every expire, exactly the timers whose
 * rounded-up deadline has passed must have fired, in deadline order.
 */
static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
test_model(void **state)
{
	struct fixture *fx = fx_new(77);
	bool armed[T_MAX] = { false };
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	unsigned op, i, before, n_armed;

	(void)state;
	for (op = 0; op < 20000; op++) {
		uint64_t r = xorshift(&seed);
		unsigned id = (unsigned)(r % T_MAX);

		switch ((r >> 8) % 4) {
		case 0:
		case 1: {
			static const uint64_t mag[] = { 4, 64, 300, 20000,
				1000000, 100000000 };
			uint64_t d = (r >> 16) % mag[(r >> 12) % 6];

			fx_arm(fx, id, fx->now + d);
			armed[id] = true;
			break;
		}
		case 2:
			mx_timer_cancel(fx->w, &fx->s[id].t);
			armed[id] = false;
			break;
		default: {
			uint64_t step = (r >> 16) % ((r & 1) ? 50 : 5000000);

			fx->now += step;
			before = fx->n_fired;
			if (fx->n_fired > 3000)
				fx->n_fired = before = 0;
			mx_wheel_expire(fx->w, fx->now, UINT32_MAX);
			for (i = before; i < fx->n_fired; i++) {
				unsigned f = fx->fired[i];

				assert_true(armed[f]);
				assert_true(tick_ceil_ms(fx->s[f].armed_ms) <= fx->now);
				armed[f] = false;
				if (i > before)
					assert_true(tick_ceil_ms(fx->s[fx->fired[i - 1]].armed_ms) <=
						tick_ceil_ms(fx->s[f].armed_ms));
			}
			n_armed = 0;
			for (i = 0; i < T_MAX; i++) {
				assert_int_equal(mx_timer_armed(&fx->s[i].t), armed[i]);
				if (armed[i]) {
					n_armed++;
					assert_true(tick_ceil_ms(fx->s[i].armed_ms) > fx->now);
					assert_true(mx_wheel_next_in_ms(fx->w, fx->now) <=
						tick_ceil_ms(fx->s[i].armed_ms) - fx->now);
				}
			}
			assert_int_equal(mx_wheel_count(fx->w), n_armed);
			break;
		}
		}
	}
	fx_free(fx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_not_early),
		cmocka_unit_test(test_jump),
		cmocka_unit_test(test_callbacks),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_next_in),
		cmocka_unit_test(test_next_in_far),
		cmocka_unit_test(test_free_pending),
		cmocka_unit_test(test_arm_cancel_edges),
		cmocka_unit_test(test_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
