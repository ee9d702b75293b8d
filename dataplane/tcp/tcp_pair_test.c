/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcp_pair_test: two TCP stacks talk to each other through an in-process
 * link that loses, duplicates, delays and reorders segments, driven by a
 * seeded PRNG and a virtual clock, so every run is the same. Every
 * segment crosses the link as wire bytes (mx_tcp_seg_build, then
 * mx_tcp_hdr_parse with the checksum checked). The client sends a stream
 * and closes; the server checks every byte, answers with a stream of its
 * own and closes; both sides must see every byte in order and a graceful
 * close. This is the engine against itself; interoperability with Linux
 * TCP is the integration test of the DPDK glue (issue 3).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mx_base.h"
#include "mx_tcp.h"

#define LINK_SLOTS 2048
#define FRAME_MAX 1600

struct frame {
	bool used;
	uint64_t due;
	uint64_t order;         /* FIFO among frames due at the same time */
	int to;                 /* 0: client stack, 1: server stack */
	size_t len;
	uint32_t saddr, daddr;
	uint8_t bytes[FRAME_MAX];
};

struct side {
	struct mx_tcp_stack *s;
	struct mx_tcp_conn *c;
	uint64_t to_send, sent;  /* stream this side sends */
	uint64_t to_recv, recvd; /* stream this side expects */
	int dir;                 /* the direction this side receives */
	bool closed_ok;
	bool close_sent;
	int closed_err;
};

struct pair {
	struct side side[2];
	struct frame link[LINK_SLOTS];
	uint64_t now;
	uint64_t rng;
	uint64_t order;
	unsigned loss_pct, dup_pct, jitter_ms;
	uint64_t dropped, duplicated, full;
};

static uint32_t
rnd(struct pair *p)
{
	/* xorshift64*: deterministic and good enough to pick faults. */
	p->rng ^= p->rng >> 12;
	p->rng ^= p->rng << 25;
	p->rng ^= p->rng >> 27;
	return (uint32_t)((p->rng * 0x2545f4914f6cdd1dull) >> 32);
}

static uint8_t
pat(int dir, uint64_t off)
{
	return (uint8_t)(dir ? off * 11 + 1 : off * 5 + 9);
}

static void
link_put(struct pair *p, int to, const struct mx_tcp_seg *g)
{
	unsigned i;
	long n;

	for (i = 0; i < LINK_SLOTS; i++) {
		struct frame *f = &p->link[i];

		if (f->used)
			continue;
		n = mx_tcp_seg_build(g, f->bytes, sizeof(f->bytes));
		assert_true(n > 0);
		f->len = (size_t)n;
		f->saddr = g->saddr;
		f->daddr = g->daddr;
		f->to = to;
		f->order = p->order++;
		f->due = p->now + 5 + (p->jitter_ms ? rnd(p) % p->jitter_ms : 0);
		f->used = true;
		return;
	}
	p->full++;
}

static void
out_client(const struct mx_tcp_seg *g, void *arg)
{
	struct pair *p = arg;

	if (rnd(p) % 100 < p->loss_pct) {
		p->dropped++;
		return;
	}
	link_put(p, 1, g);
	if (rnd(p) % 100 < p->dup_pct) {
		p->duplicated++;
		link_put(p, 1, g);
	}
}

static void
out_server(const struct mx_tcp_seg *g, void *arg)
{
	struct pair *p = arg;

	if (rnd(p) % 100 < p->loss_pct) {
		p->dropped++;
		return;
	}
	link_put(p, 0, g);
	if (rnd(p) % 100 < p->dup_pct) {
		p->duplicated++;
		link_put(p, 0, g);
	}
}

static void
pump_send(struct side *sd, int dir)
{
	uint8_t buf[4096];
	uint64_t left = sd->to_send - sd->sent;
	size_t n, i;
	long r;

	while (sd->c != NULL && left > 0) {
		n = (size_t)MX_MIN(left, (uint64_t)sizeof(buf));
		for (i = 0; i < n; i++)
			buf[i] = pat(dir, sd->sent + i);
		r = mx_tcp_send(sd->c, buf, n);
		assert_true(r >= 0);
		if (r == 0)
			return;
		sd->sent += (uint64_t)r;
		left -= (uint64_t)r;
	}
	if (sd->c != NULL && left == 0 && !sd->close_sent) {
		sd->close_sent = true;
		mx_tcp_close(sd->c);
	}
}

static void
drain(struct side *sd)
{
	const uint8_t *q;
	int dir = sd->dir;
	size_t n, i;

	while ((n = mx_tcp_read_view(sd->c, &q)) > 0) {
		for (i = 0; i < n; i++) {
			if (q[i] != pat(dir, sd->recvd + i))
				fail_msg("byte %llu of direction %d differs",
						(unsigned long long)(sd->recvd + i), dir);
		}
		sd->recvd += n;
		mx_tcp_consume(sd->c, n);
	}
}

/* Bytes are read in the READABLE handler: after MX_TCP_EV_CLOSED the
 * connection and its buffer are gone. Sending happens in the loop. */
static void
on_event(struct mx_tcp_conn *c, enum mx_tcp_event ev, int err, void *user)
{
	struct side *sd = user;

	if (sd->c == NULL)
		sd->c = c;
	switch (ev) {
	case MX_TCP_EV_CONNECTED:
		assert_int_equal(err, 0);
		break;
	case MX_TCP_EV_READABLE:
		drain(sd);
		break;
	case MX_TCP_EV_WRITABLE:
		break;
	case MX_TCP_EV_CLOSED:
		sd->closed_err = err;
		sd->closed_ok = err == 0;
		sd->c = NULL;
		break;
	}
}

static void
on_accept(struct mx_tcp_listener *l, struct mx_tcp_conn *c, void *arg)
{
	struct side *sd = arg;

	(void)l;
	sd->c = c;
	mx_tcp_conn_set_user(c, sd);
}

static void
make_stack(struct pair *p, int i, mx_tcp_output_fn *out)
{
	struct mx_tcp_conf conf;

	mx_tcp_conf_defaults(&conf);
	conf.max_conns = 4;
	conf.rcvbuf = 16384;
	conf.sndbuf = 32768;
	conf.mss = 1400;
	conf.wscale = 3;
	conf.tw_ms = 2000;
	conf.rto_min_ms = 100;
	conf.max_retries = 15;
	memset(conf.isn_secret, 0x11 * (i + 1), sizeof(conf.isn_secret));
	conf.output = out;
	conf.output_arg = p;
	conf.event = on_event;
	assert_int_equal(mx_tcp_stack_create(&conf, 0, &p->side[i].s), 0);
}

static void
deliver_due(struct pair *p)
{
	struct mx_tcp_seg g;
	struct frame *f, *best;
	unsigned i;

	/* Earliest due first, FIFO among equals: reordering only comes
	 * from the jitter, never from the slot a frame happened to get. */
	for (;;) {
		best = NULL;
		for (i = 0; i < LINK_SLOTS; i++) {
			f = &p->link[i];
			if (!f->used || f->due > p->now)
				continue;
			if (best == NULL || f->due < best->due ||
					(f->due == best->due && f->order < best->order))
				best = f;
		}
		if (best == NULL)
			return;
		best->used = false;
		assert_int_equal(mx_tcp_hdr_parse(best->bytes, best->len,
				best->len, best->saddr, best->daddr, 0, &g), 0);
		mx_tcp_input(p->side[best->to].s, &g, p->now);
	}
}

static void
run_pair(uint64_t seed, unsigned loss, unsigned dup, unsigned jitter,
		uint64_t c2s, uint64_t s2c)
{
	struct pair *p = calloc(1, sizeof(*p));
	struct mx_tcp_listener *l;
	struct mx_tcp_stats st[2];
	struct side *cl, *sv;
	uint64_t step;

	assert_non_null(p);
	p->rng = seed;
	p->loss_pct = loss;
	p->dup_pct = dup;
	p->jitter_ms = jitter;
	make_stack(p, 0, out_client);
	make_stack(p, 1, out_server);
	cl = &p->side[0];
	sv = &p->side[1];
	cl->dir = 1;
	sv->dir = 0;
	cl->to_send = c2s;
	cl->to_recv = s2c;
	sv->to_send = s2c;
	sv->to_recv = c2s;
	assert_int_equal(mx_tcp_listen(sv->s, 0, 25, on_accept, sv, &l), 0);
	assert_int_equal(mx_tcp_connect(cl->s, htonl(0xc6120002), 40000,
			htonl(0xc6120001), 25, cl, &cl->c), 0);
	/* Bounded: ten virtual minutes in 1 ms steps. */
	for (step = 0; step < 600000; step++) {
		p->now = step;
		deliver_due(p);
		mx_tcp_tick(cl->s, p->now);
		mx_tcp_tick(sv->s, p->now);
		if (cl->c != NULL && mx_tcp_conn_state(cl->c) != MX_TCP_SYN_SENT)
			pump_send(cl, 0);
		/* The server answers once it has the whole request. */
		if (sv->c != NULL && sv->recvd == sv->to_recv)
			pump_send(sv, 1);
		mx_tcp_flush(cl->s);
		mx_tcp_flush(sv->s);
		if (cl->c == NULL && sv->c == NULL)
			break;
	}
	assert_true(step < 600000);
	assert_int_equal(cl->recvd, s2c);
	assert_int_equal(sv->recvd, c2s);
	assert_int_equal(cl->closed_err, 0);
	assert_int_equal(sv->closed_err, 0);
	assert_int_equal(p->full, 0);
	mx_tcp_get_stats(cl->s, &st[0]);
	mx_tcp_get_stats(sv->s, &st[1]);
	printf("# seed %llu: done at %llu ms, %llu dropped, %llu duplicated, "
			"retransmits %llu+%llu (fast %llu+%llu, rto %llu+%llu, probes %llu+%llu)\n",
			(unsigned long long)seed, (unsigned long long)p->now,
			(unsigned long long)p->dropped,
			(unsigned long long)p->duplicated,
			(unsigned long long)st[0].retransmits,
			(unsigned long long)st[1].retransmits,
			(unsigned long long)st[0].fast_retransmits,
			(unsigned long long)st[1].fast_retransmits,
			(unsigned long long)st[0].rto_expired,
			(unsigned long long)st[1].rto_expired,
			(unsigned long long)st[0].zero_wnd_probes,
			(unsigned long long)st[1].zero_wnd_probes);
	if (loss > 0)
		assert_true(p->dropped > 0 && st[0].retransmits > 0);
	if (loss == 0 && jitter == 0 && dup == 0)
		assert_true(st[0].retransmits == 0 && st[1].retransmits == 0);
	mx_tcp_stack_free(cl->s);
	mx_tcp_stack_free(sv->s);
	free(p);
}

static void
test_clean_link(void **state)
{
	(void)state;
	run_pair(1, 0, 0, 0, 300000, 100000);
}

static void
test_lossy_link(void **state)
{
	(void)state;
	run_pair(2, 5, 0, 0, 300000, 100000);
}

static void
test_lossy_reordering_duplicating_link(void **state)
{
	uint64_t seed;

	(void)state;
	for (seed = 10; seed < 14; seed++)
		run_pair(seed, 5, 2, 20, 200000, 50000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean_link),
		cmocka_unit_test(test_lossy_link),
		cmocka_unit_test(test_lossy_reordering_duplicating_link),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
