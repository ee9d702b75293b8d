/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pktio_test.c: the memory backend (round trip, ownership of the refused
 * tail, buffered TX), and the fault layer: off means no wrapper,
 * determinism (same seed, same faults), rates over 100,000 frames within
 * tolerance, delay bounds, both directions. Every test ends with the
 * mbuf pool back at its baseline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <rte_mbuf.h>
#include <rte_memcpy.h>
#include <rte_mempool.h>

#include "mx_pktio.h"
#include "mx_port.h"
#include "port_testenv.h"

#define POOL_SIZE 8191u
#define RATE_FRAMES 100000u

static struct rte_mempool *pool;
static unsigned ring_serial;

static struct rte_mbuf *
frame(uint32_t seq)
{
	uint8_t body[64] = { 0 };
	struct rte_mbuf *m;

	memcpy(body, &seq, sizeof(seq));
	m = rte_pktmbuf_alloc(pool);
	if (m == NULL || rte_pktmbuf_append(m, sizeof(body)) == NULL)
		fail_msg("no mbuf");
	rte_memcpy(rte_pktmbuf_mtod(m, void *), body, sizeof(body));
	return m;
}

static uint32_t
seq_of(const struct rte_mbuf *m)
{
	uint32_t s;

	memcpy(&s, rte_pktmbuf_mtod(m, const void *), sizeof(s));
	return s;
}

static struct mx_pktio *
mem_new(unsigned size)
{
	struct mx_pktio *io = NULL;
	char name[32];

	snprintf(name, sizeof(name), "pt%u", ring_serial++);
	assert_int_equal(mx_pktio_mem_create(name, size, &io), 0);
	return io;
}

static void
test_mem_round_trip(void **state)
{
	struct rte_mbuf *in[8], *out[16];
	unsigned base = rte_mempool_avail_count(pool), i;
	struct mx_pktio *io = mem_new(64);

	(void)state;
	for (i = 0; i < 8; i++)
		in[i] = frame(i);
	assert_int_equal(mx_pktio_mem_inject(io, in, 8), 8);
	assert_int_equal(mx_pktio_mem_rx_pending(io), 8);
	assert_int_equal(mx_pktio_rx_burst(io, out, 16), 8);
	for (i = 0; i < 8; i++)
		assert_ptr_equal(out[i], in[i]);
	assert_int_equal(mx_pktio_stats(io)->rx, 8);
	/* buffered: nothing leaves before the flush (burst not full) */
	for (i = 0; i < 8; i++)
		mx_pktio_send(io, out[i]);
	assert_int_equal(mx_pktio_mem_tx_pending(io), 0);
	mx_pktio_flush(io);
	assert_int_equal(mx_pktio_mem_tx_pending(io), 8);
	assert_int_equal(mx_pktio_mem_capture(io, out, 16), 8);
	for (i = 0; i < 8; i++)
		assert_int_equal(seq_of(out[i]), i);
	rte_pktmbuf_free_bulk(out, 8);
	assert_string_equal(mx_pktio_ops(io)->name, "memory");
	mx_pktio_free(io);
	assert_int_equal(rte_mempool_avail_count(pool), base);
}

/* A ring of 8 holds 7: tx_burst hands back the tail; the buffered path
 * keeps what the ring refused and sends it, in order, once there is room. */
static void
test_mem_tx_tail(void **state)
{
	struct rte_mbuf *pkts[MX_PKT_BURST];
	unsigned base = rte_mempool_avail_count(pool), i, sent, got, next, round;
	struct mx_pktio *io = mem_new(8);

	(void)state;
	for (i = 0; i < 10; i++)
		pkts[i] = frame(i);
	sent = mx_pktio_tx_burst(io, pkts, 10);
	assert_int_equal(sent, 7);
	rte_pktmbuf_free_bulk(&pkts[sent], 10 - sent); /* the caller's tail */
	assert_int_equal(mx_pktio_mem_capture(io, pkts, MX_PKT_BURST), 7);
	rte_pktmbuf_free_bulk(pkts, 7);
	for (i = 0; i < MX_PKT_BURST; i++)
		mx_pktio_send(io, frame(i)); /* the 32nd sends the burst */
	assert_int_equal(mx_pktio_stats(io)->tx_dropped, 0);
	assert_int_equal(mx_pktio_stats(io)->tx_deferred, MX_PKT_BURST - 7);
	/* Each flush after the peer side drained the ring moves 7 more, in
	 * the order they were sent. */
	for (round = 0, next = 0; next < MX_PKT_BURST && round < 10; round++) {
		got = mx_pktio_mem_capture(io, pkts, MX_PKT_BURST);
		for (i = 0; i < got; i++)
			assert_int_equal(seq_of(pkts[i]), next++);
		rte_pktmbuf_free_bulk(pkts, got);
		mx_pktio_flush(io);
	}
	assert_int_equal(next, MX_PKT_BURST);
	assert_int_equal(mx_pktio_stats(io)->tx, 7 + MX_PKT_BURST);
	mx_pktio_send(io, frame(99));
	mx_pktio_free(io); /* frees the buffered frame */
	assert_int_equal(rte_mempool_avail_count(pool), base);
}

/* Beyond MX_PKTIO_TX_BACKLOG refused frames, more are freed and counted;
 * free releases the whole backlog. */
static void
test_mem_tx_backlog_bound(void **state)
{
	unsigned base = rte_mempool_avail_count(pool), i;
	unsigned n = MX_PKTIO_TX_BACKLOG + 7 + 100;
	struct mx_pktio *io = mem_new(8);

	(void)state;
	for (i = 0; i < n; i++)
		mx_pktio_send(io, frame(i));
	mx_pktio_flush(io);
	assert_int_equal(mx_pktio_stats(io)->tx, 7);
	assert_int_equal(mx_pktio_stats(io)->tx_deferred, MX_PKTIO_TX_BACKLOG);
	assert_int_equal(mx_pktio_stats(io)->tx_dropped, 100);
	mx_pktio_free(io); /* the backlog and the ring's 7 */
	assert_int_equal(rte_mempool_avail_count(pool), base);
}

static void
test_fault_off_is_backend(void **state)
{
	struct mx_pktio_fault_conf fc;
	struct mx_pktio *io = mem_new(64), *w = NULL;
	struct mx_pktio_fault_stats st;

	(void)state;
	memset(&fc, 0, sizeof(fc));
	fc.seed = 42;
	fc.rx.reorder_gap = 3; /* no rate: still off */
	assert_false(mx_pktio_fault_enabled(&fc));
	assert_int_equal(mx_pktio_fault_create(io, &fc, &w), 0);
	assert_ptr_equal(w, io);
	assert_ptr_equal(mx_pktio_ops(w), mx_pktio_ops(io));
	assert_int_equal(mx_pktio_fault_stats(w, false, &st), -ENOENT);
	fc.tx.loss_pct = 101;
	assert_int_equal(mx_pktio_fault_create(io, &fc, &w), -EINVAL);
	assert_null(w);
	fc.tx.loss_pct = -1;
	assert_int_equal(mx_pktio_fault_create(io, &fc, &w), -EINVAL);
	fc.tx.loss_pct = 1;
	assert_int_equal(mx_pktio_fault_create(io, &fc, &w), 0);
	assert_ptr_not_equal(w, io);
	assert_string_equal(mx_pktio_ops(w)->name, "fault");
	mx_pktio_free(w); /* owns io */
}

struct run {
	uint32_t *seq;       /* output order */
	uint64_t *when;      /* output time minus injection time */
	unsigned n_out;
	unsigned held;       /* still held at the end */
	struct mx_pktio_fault_stats st;
};

/* Feeds total frames through the RX side of a fault wrapper, one burst
 * per virtual millisecond, then idles 100 ms so delayed frames leave. */
static void
run_rx(const struct mx_pktio_fault_conf *fc, unsigned total, struct run *r)
{
	struct rte_mbuf *pkts[MX_PKT_BURST];
	struct mx_pktio *mem = mem_new(1024), *io = NULL;
	uint64_t *t_in = calloc(total, sizeof(*t_in));
	unsigned sent = 0, i, k, rounds;
	uint64_t now = 0;

	assert_non_null(t_in);
	r->seq = calloc(2 * (size_t)total, sizeof(*r->seq));
	r->when = calloc(2 * (size_t)total, sizeof(*r->when));
	assert_true(r->seq != NULL && r->when != NULL);
	r->n_out = 0;
	assert_int_equal(mx_pktio_fault_create(mem, fc, &io), 0);
	for (rounds = 0; rounds < total * 4 + 100; rounds++) {
		if (sent == total && now > t_in[total - 1] + 100)
			break;
		mx_pktio_clock(io, now);
		k = MX_MIN(MX_PKT_BURST, total - sent);
		if (mx_pktio_mem_rx_pending(mem) > 512)
			k = 0;
		for (i = 0; i < k; i++) {
			t_in[sent] = now;
			pkts[i] = frame(sent++);
		}
		assert_int_equal(mx_pktio_mem_inject(mem, pkts, k), k);
		k = mx_pktio_rx_burst(io, pkts, MX_PKT_BURST);
		for (i = 0; i < k; i++) {
			uint32_t s = seq_of(pkts[i]);

			assert_true(s < total);
			assert_true(r->n_out < 2 * total);
			r->seq[r->n_out] = s;
			r->when[r->n_out++] = now - t_in[s];
		}
		rte_pktmbuf_free_bulk(pkts, k);
		now++;
	}
	assert_int_equal(sent, total);
	assert_int_equal(mx_pktio_fault_stats(io, false, &r->st), 0);
	r->held = mx_pktio_fault_held(io);
	mx_pktio_free(io);
	free(t_in);
}

static void
run_free(struct run *r)
{
	free(r->seq);
	free(r->when);
}

static void
fault_conf(struct mx_pktio_fault_conf *fc, uint64_t seed)
{
	memset(fc, 0, sizeof(*fc));
	fc->seed = seed;
	fc->rx.loss_pct = 5;
	fc->rx.reorder_pct = 25;
	fc->rx.reorder_gap = 2;
	fc->rx.dup_pct = 2;
	fc->rx.delay_ms = 20;
	fc->rx.jitter_ms = 10;
}

static void
test_fault_deterministic(void **state)
{
	struct mx_pktio_fault_conf fc;
	struct run a, b, c;
	unsigned base = rte_mempool_avail_count(pool);

	(void)state;
	fault_conf(&fc, 7);
	run_rx(&fc, 5000, &a);
	run_rx(&fc, 5000, &b);
	assert_int_equal(a.n_out, b.n_out);
	assert_memory_equal(a.seq, b.seq, a.n_out * sizeof(*a.seq));
	assert_memory_equal(a.when, b.when, a.n_out * sizeof(*a.when));
	assert_memory_equal(&a.st, &b.st, sizeof(a.st));
	fc.seed = 8;
	run_rx(&fc, 5000, &c);
	assert_true(c.n_out != a.n_out || memcmp(a.seq, c.seq, a.n_out * sizeof(*a.seq)) != 0);
	run_free(&a);
	run_free(&b);
	run_free(&c);
	assert_int_equal(rte_mempool_avail_count(pool), base);
}

static void
assert_near(uint64_t got, double want, double tol, const char *what)
{
	if ((double)got < want - tol || (double)got > want + tol)
		fail_msg("%s: %llu, want %.0f +- %.0f", what, (unsigned long long)got, want, tol);
}

/* Rates within tolerance, and conservation: every frame is out, lost or
 * still held; copies add. Delay stays within delay +- jitter (one tick
 * of polling granularity on top). */
static void
test_fault_rates(void **state)
{
	struct mx_pktio_fault_conf fc;
	unsigned base = rte_mempool_avail_count(pool), i, late = 0, early = 0;
	struct run r;

	(void)state;
	fault_conf(&fc, 12345);
	run_rx(&fc, RATE_FRAMES, &r);
	assert_near(r.st.lost, RATE_FRAMES * 0.05, RATE_FRAMES * 0.005, "lost");
	assert_near(r.st.duplicated, RATE_FRAMES * 0.95 * 0.02, RATE_FRAMES * 0.003, "dup");
	assert_near(r.st.reordered, RATE_FRAMES * 0.95 * 1.02 * 0.25, RATE_FRAMES * 0.01,
			"reordered");
	assert_int_equal(r.st.dup_failed, 0);
	assert_int_equal(r.st.delay_overflow, 0);
	assert_int_equal(r.n_out + r.st.lost + r.held, RATE_FRAMES + r.st.duplicated);
	/* every frame out went through the delay stage */
	assert_true(r.st.delayed >= r.n_out && r.st.delayed <= r.n_out + r.held);
	for (i = 0; i < r.n_out; i++) {
		early += r.when[i] < 10;
		late += r.when[i] > 30 + 1 + 8; /* a reorder hold adds a few ms */
	}
	assert_int_equal(early, 0);
	assert_true(late < r.n_out / 100);
	run_free(&r);
	assert_int_equal(rte_mempool_avail_count(pool), base);
}

/* Reordering alone: nothing lost or copied, the output is a permutation
 * of the input (minus what is still held), and some frames moved. */
static void
test_fault_reorder_only(void **state)
{
	struct mx_pktio_fault_conf fc;
	unsigned base = rte_mempool_avail_count(pool), i, moved = 0;
	uint8_t *seen;
	struct run r;

	(void)state;
	memset(&fc, 0, sizeof(fc));
	fc.seed = 3;
	fc.rx.reorder_pct = 10;
	fc.rx.reorder_gap = 3;
	run_rx(&fc, 4000, &r);
	seen = calloc(4000, 1);
	assert_non_null(seen);
	for (i = 0; i < r.n_out; i++) {
		assert_int_equal(seen[r.seq[i]], 0);
		seen[r.seq[i]] = 1;
		moved += r.seq[i] != i;
	}
	assert_int_equal(r.n_out + r.held, 4000);
	assert_true(moved > 0);
	assert_int_equal(r.st.lost + r.st.duplicated + r.st.delayed, 0);
	free(seen);
	run_free(&r);
	assert_int_equal(rte_mempool_avail_count(pool), base);
}

/* TX side: loss applies to what the stack sends, and delayed frames
 * leave only at a flush once due. */
static void
test_fault_tx(void **state)
{
	struct mx_pktio_fault_conf fc;
	struct mx_pktio *mem = mem_new(4096), *io = NULL;
	struct rte_mbuf *pkts[MX_PKT_BURST];
	struct mx_pktio_fault_stats st;
	unsigned base = rte_mempool_avail_count(pool), i, got = 0, n;

	(void)state;
	memset(&fc, 0, sizeof(fc));
	fc.seed = 99;
	fc.tx.loss_pct = 50;
	fc.tx.delay_ms = 5;
	assert_int_equal(mx_pktio_fault_create(mem, &fc, &io), 0);
	mx_pktio_clock(io, 1000);
	for (i = 0; i < 200; i++) {
		mx_pktio_send(io, frame(i));
		if (i % 16 == 15)
			mx_pktio_flush(io);
	}
	mx_pktio_flush(io);
	assert_int_equal(mx_pktio_mem_tx_pending(mem), 0); /* all delayed */
	mx_pktio_clock(io, 1004);
	mx_pktio_flush(io);
	assert_int_equal(mx_pktio_mem_tx_pending(mem), 0);
	mx_pktio_clock(io, 1005);
	mx_pktio_flush(io);
	assert_int_equal(mx_pktio_fault_stats(io, true, &st), 0);
	assert_int_equal(mx_pktio_mem_tx_pending(mem), 200 - st.lost);
	assert_near(st.lost, 100, 30, "tx lost");
	while ((n = mx_pktio_mem_capture(mem, pkts, MX_PKT_BURST)) > 0) {
		got += n;
		rte_pktmbuf_free_bulk(pkts, n);
	}
	assert_int_equal(got, 200 - st.lost);
	assert_int_equal(mx_pktio_fault_stats(io, false, &st), 0);
	assert_int_equal(st.lost, 0); /* the RX side untouched */
	mx_pktio_free(io);
	assert_int_equal(rte_mempool_avail_count(pool), base);
}

/* A full delay queue drops and counts instead of growing. */
static void
test_fault_delay_cap(void **state)
{
	struct mx_pktio_fault_conf fc;
	struct mx_pktio *mem = mem_new(64), *io = NULL;
	struct mx_pktio_fault_stats st;
	unsigned base = rte_mempool_avail_count(pool), i;

	(void)state;
	memset(&fc, 0, sizeof(fc));
	fc.tx.delay_ms = 100;
	fc.delay_cap = 8;
	assert_int_equal(mx_pktio_fault_create(mem, &fc, &io), 0);
	for (i = 0; i < 20; i++)
		mx_pktio_send(io, frame(i));
	mx_pktio_flush(io);
	assert_int_equal(mx_pktio_fault_stats(io, true, &st), 0);
	assert_int_equal(st.delayed, 8);
	assert_int_equal(st.delay_overflow, 12);
	assert_int_equal(mx_pktio_fault_held(io), 8);
	mx_pktio_free(io);
	assert_int_equal(rte_mempool_avail_count(pool), base);
}

/* The ethdev backend on a net_ring vdev (TX loops back to RX), alone
 * and under a fault wrapper that loses every frame it sends. */
static void
test_ethdev_backend(void **state)
{
	struct rte_mbuf *pkts[MX_PKT_BURST];
	struct mx_pktio_fault_conf fc;
	struct mx_pktio_fault_stats st;
	struct mx_port_conf c;
	struct mx_port *p = NULL;
	struct mx_pktio *io = NULL;
	unsigned base, i;

	(void)state;
	mx_port_conf_init(&c);
	c.name = "net_ring_pk";
	c.rx_desc = 64;
	c.tx_desc = 64;
	c.in_flight = 64;
	assert_int_equal(mx_port_create(&c, &p), 0);
	assert_int_equal(mx_pktio_ethdev_create(mx_port_info(p)->port_id, 0, &io), 0);
	assert_string_equal(mx_pktio_ops(io)->name, "ethdev");
	base = rte_mempool_avail_count(pool);
	for (i = 0; i < 8; i++)
		mx_pktio_send(io, frame(i));
	mx_pktio_flush(io);
	assert_int_equal(mx_pktio_rx_burst(io, pkts, MX_PKT_BURST), 8);
	for (i = 0; i < 8; i++)
		assert_int_equal(seq_of(pkts[i]), i);
	rte_pktmbuf_free_bulk(pkts, 8);
	memset(&fc, 0, sizeof(fc));
	fc.tx.loss_pct = 100;
	assert_int_equal(mx_pktio_fault_create(io, &fc, &io), 0);
	for (i = 0; i < 8; i++)
		mx_pktio_send(io, frame(i));
	mx_pktio_flush(io);
	assert_int_equal(mx_pktio_rx_burst(io, pkts, MX_PKT_BURST), 0);
	assert_int_equal(mx_pktio_fault_stats(io, true, &st), 0);
	assert_int_equal(st.lost, 8);
	mx_pktio_free(io);
	assert_int_equal(rte_mempool_avail_count(pool), base);
	mx_port_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mem_round_trip),
		cmocka_unit_test(test_mem_tx_tail),
		cmocka_unit_test(test_mem_tx_backlog_bound),
		cmocka_unit_test(test_fault_off_is_backend),
		cmocka_unit_test(test_fault_deterministic),
		cmocka_unit_test(test_fault_rates),
		cmocka_unit_test(test_fault_reorder_only),
		cmocka_unit_test(test_fault_tx),
		cmocka_unit_test(test_fault_delay_cap),
		cmocka_unit_test(test_ethdev_backend),
	};
	int rc;

	rc = port_testenv_start("pktio_test", "--vdev=net_ring_pk");
	if (rc != 0)
		return rc;
	pool = port_testenv_pool("pktio_test", POOL_SIZE, 512);
	if (pool == NULL) {
		port_testenv_end(NULL);
		return PORT_TESTENV_SKIP;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	port_testenv_end(pool);
	return rc;
}
