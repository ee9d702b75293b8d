/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fault.c: the fault-injection pktio. It wraps a backend and, per
 * direction, passes each frame through four stages in this order:
 *
 *   loss -> duplication -> reordering -> delay -> out queue
 *
 * Every random choice comes from the direction's own splitmix64 stream
 * seeded from the configuration, and time only from mx_pktio_clock(), so
 * the same seed and the same frames at the same times give the same
 * faults (a failing impairment run replays exactly). Reordering holds a
 * frame until reorder_gap later frames went past it; delay keeps frames in
 * a binary heap ordered by release time (ties in arrival order), so
 * jitter reorders too. Everything is bounded: the reorder hold, the heap
 * (delay_cap, overflow counted and freed) and the out queue, whose free
 * space decides how many frames a burst call takes in.
 *
 * Not in the path when off: mx_pktio_fault_create() then returns the
 * inner backend itself.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_mbuf.h>

#include "mx_pktio.h"

#define REORDER_CAP 64u
#define OUTQ_SIZE 512u /* power of two */
#define DEFAULT_DELAY_CAP 4096u

struct delayed {
	uint64_t release_ms;
	uint64_t seq;  /* arrival order breaks ties: FIFO among equal times */
	struct rte_mbuf *m;
};

struct held {
	struct rte_mbuf *m;
	unsigned left; /* frames still to pass before release */
};

struct fault_dir {
	uint64_t loss_thr, dup_thr, reorder_thr; /* out of 2^32 */
	unsigned gap;
	uint32_t delay_ms, jitter_ms;
	bool delaying;
	uint64_t rng;
	struct held hold[REORDER_CAP];
	unsigned n_hold;
	struct delayed *heap;
	unsigned heap_n, heap_cap;
	uint64_t seq;
	struct rte_mbuf *outq[OUTQ_SIZE];
	unsigned out_head, out_tail; /* free-running; count = tail - head */
	struct mx_pktio_fault_stats st;
};

struct pktio_fault {
	struct mx_pktio io; /* first: the container cast relies on it */
	struct mx_pktio *inner;
	struct fault_dir rx, tx;
};

/* splitmix64 (Steele, Lea, Flood 2014): one add and a mix per draw, a
 * full 2^64 period, and good enough for fault choices. */
static uint64_t
rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static bool
rng_hit(struct fault_dir *d, uint64_t thr)
{
	if (thr == 0)
		return false;
	return (rng_next(&d->rng) >> 32) < thr;
}

static unsigned
outq_count(const struct fault_dir *d)
{
	return d->out_tail - d->out_head;
}

static void
outq_push(struct fault_dir *d, struct rte_mbuf *m)
{
	/* Callers admit frames only while the queue has room for the worst
	 * case (see admit()); overflowing it is a bug of ours. */
	MX_ASSERT(outq_count(d) < OUTQ_SIZE);
	d->outq[d->out_tail++ & (OUTQ_SIZE - 1)] = m;
}

static void
heap_swap(struct delayed *a, struct delayed *b)
{
	struct delayed t = *a;

	*a = *b;
	*b = t;
}

static bool
heap_less(const struct delayed *a, const struct delayed *b)
{
	if (a->release_ms != b->release_ms)
		return a->release_ms < b->release_ms;
	return a->seq < b->seq;
}

static void
heap_push(struct fault_dir *d, struct rte_mbuf *m, uint64_t release_ms)
{
	unsigned i = d->heap_n++;

	d->heap[i] = (struct delayed){ release_ms, d->seq++, m };
	while (i > 0 && heap_less(&d->heap[i], &d->heap[(i - 1) / 2])) {
		heap_swap(&d->heap[i], &d->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
}

static struct rte_mbuf *
heap_pop(struct fault_dir *d)
{
	struct rte_mbuf *m = d->heap[0].m;
	unsigned i = 0;

	d->heap[0] = d->heap[--d->heap_n];
	for (;;) {
		unsigned l = 2 * i + 1, r = l + 1, min = i;

		if (l < d->heap_n && heap_less(&d->heap[l], &d->heap[min]))
			min = l;
		if (r < d->heap_n && heap_less(&d->heap[r], &d->heap[min]))
			min = r;
		if (min == i)
			break;
		heap_swap(&d->heap[i], &d->heap[min]);
		i = min;
	}
	return m;
}

static void
stage_delay(struct fault_dir *d, struct rte_mbuf *m, uint64_t now)
{
	int64_t ms;

	if (!d->delaying) {
		outq_push(d, m);
		return;
	}
	if (d->heap_n == d->heap_cap) {
		d->st.delay_overflow++;
		rte_pktmbuf_free(m);
		return;
	}
	ms = (int64_t)d->delay_ms;
	if (d->jitter_ms > 0)
		ms += (int64_t)(rng_next(&d->rng) % (2ull * d->jitter_ms + 1)) - d->jitter_ms;
	if (ms < 0)
		ms = 0;
	d->st.delayed++;
	heap_push(d, m, now + (uint64_t)ms);
}

/* A frame going past releases the held frames whose gap it completes,
 * right behind it. */
static void
stage_reorder(struct fault_dir *d, struct rte_mbuf *m, uint64_t now)
{
	unsigned i = 0;

	if (d->n_hold < REORDER_CAP && rng_hit(d, d->reorder_thr)) {
		d->hold[d->n_hold++] = (struct held){ m, d->gap };
		d->st.reordered++;
		return;
	}
	stage_delay(d, m, now);
	while (i < d->n_hold) {
		if (--d->hold[i].left > 0) {
			i++;
			continue;
		}
		stage_delay(d, d->hold[i].m, now);
		memmove(&d->hold[i], &d->hold[i + 1], (d->n_hold - i - 1) * sizeof(d->hold[0]));
		d->n_hold--;
	}
}

static void
process(struct fault_dir *d, struct rte_mbuf *m, uint64_t now)
{
	struct rte_mbuf *c = NULL;

	if (rng_hit(d, d->loss_thr)) {
		d->st.lost++;
		rte_pktmbuf_free(m);
		return;
	}
	if (rng_hit(d, d->dup_thr)) {
		/* A deep copy, not a refcount: the stack rewrites frames in
		 * place (ICMP echo, ARP reply). */
		c = rte_pktmbuf_copy(m, m->pool, 0, UINT32_MAX);
		if (c == NULL)
			d->st.dup_failed++;
		else
			d->st.duplicated++;
	}
	stage_reorder(d, m, now);
	if (c != NULL)
		stage_reorder(d, c, now);
}

static void
release_due(struct fault_dir *d, uint64_t now)
{
	while (d->heap_n > 0 && d->heap[0].release_ms <= now && outq_count(d) < OUTQ_SIZE)
		outq_push(d, heap_pop(d));
}

/* Frames one call may take in: each can become two (duplication) and the
 * reorder hold can empty on top, so the out queue must have room for
 * 2k + REORDER_CAP whatever the draws are. */
static uint16_t
admit(const struct fault_dir *d, uint16_t n)
{
	unsigned room = OUTQ_SIZE - outq_count(d);

	if (room <= REORDER_CAP + 1)
		return 0;
	return (uint16_t)MX_MIN((unsigned)n, MX_MIN((room - REORDER_CAP) / 2, MX_PKT_BURST));
}

static uint16_t
outq_pop(struct fault_dir *d, struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t i = 0;

	while (i < n && outq_count(d) > 0)
		pkts[i++] = d->outq[d->out_head++ & (OUTQ_SIZE - 1)];
	return i;
}

static uint16_t
fault_rx(struct mx_pktio *io, struct rte_mbuf **pkts, uint16_t n)
{
	struct pktio_fault *f = (struct pktio_fault *)io;
	struct rte_mbuf *buf[MX_PKT_BURST];
	uint16_t k, got, i;

	release_due(&f->rx, io->now_ms);
	k = admit(&f->rx, n);
	if (k > 0) {
		got = f->inner->ops->rx_burst(f->inner, buf, k);
		for (i = 0; i < got; i++)
			process(&f->rx, buf[i], io->now_ms);
		release_due(&f->rx, io->now_ms);
	}
	return outq_pop(&f->rx, pkts, n);
}

/* Sends the out queue in at most two contiguous runs; what the backend
 * refuses stays queued for the next call. */
static void
outq_send(struct pktio_fault *f)
{
	struct fault_dir *d = &f->tx;

	while (outq_count(d) > 0) {
		unsigned h = d->out_head & (OUTQ_SIZE - 1);
		unsigned run = MX_MIN(outq_count(d), OUTQ_SIZE - h);
		uint16_t want = (uint16_t)MX_MIN(run, 0xffffu);
		uint16_t sent = f->inner->ops->tx_burst(f->inner, &d->outq[h], want);

		d->out_head += sent;
		if (sent < want)
			break;
	}
}

static uint16_t
fault_tx(struct mx_pktio *io, struct rte_mbuf **pkts, uint16_t n)
{
	struct pktio_fault *f = (struct pktio_fault *)io;
	uint16_t k, i;

	release_due(&f->tx, io->now_ms);
	k = admit(&f->tx, n);
	for (i = 0; i < k; i++)
		process(&f->tx, pkts[i], io->now_ms);
	release_due(&f->tx, io->now_ms);
	outq_send(f);
	return k;
}

static void
fault_drain(struct mx_pktio *io)
{
	struct pktio_fault *f = (struct pktio_fault *)io;

	release_due(&f->tx, io->now_ms);
	outq_send(f);
	if (f->inner->ops->drain != NULL) {
		f->inner->now_ms = io->now_ms;
		f->inner->ops->drain(f->inner);
	}
}

static void
dir_release(struct fault_dir *d)
{
	unsigned i;

	for (i = 0; i < d->n_hold; i++)
		rte_pktmbuf_free(d->hold[i].m);
	d->n_hold = 0;
	for (i = 0; i < d->heap_n; i++)
		rte_pktmbuf_free(d->heap[i].m);
	d->heap_n = 0;
	while (outq_count(d) > 0)
		rte_pktmbuf_free(d->outq[d->out_head++ & (OUTQ_SIZE - 1)]);
	free(d->heap);
	d->heap = NULL;
}

static void
fault_free(struct mx_pktio *io)
{
	struct pktio_fault *f = (struct pktio_fault *)io;

	dir_release(&f->rx);
	dir_release(&f->tx);
	mx_pktio_free(f->inner);
	free(f);
}

static const struct mx_pktio_ops fault_ops = {
	.name = "fault",
	.rx_burst = fault_rx,
	.tx_burst = fault_tx,
	.drain = fault_drain,
	.free = fault_free,
};

static bool
dir_enabled(const struct mx_pktio_fault_dir *d)
{
	return d->loss_pct > 0 || d->dup_pct > 0 || d->reorder_pct > 0 ||
		d->delay_ms > 0 || d->jitter_ms > 0;
}

bool
mx_pktio_fault_enabled(const struct mx_pktio_fault_conf *c)
{
	return c != NULL && (dir_enabled(&c->rx) || dir_enabled(&c->tx));
}

static bool
pct_ok(double p)
{
	return p >= 0.0 && p <= 100.0; /* also false for NaN */
}

static bool
dir_valid(const struct mx_pktio_fault_dir *c)
{
	return pct_ok(c->loss_pct) && pct_ok(c->dup_pct) && pct_ok(c->reorder_pct);
}

static uint64_t
pct_thr(double p)
{
	return (uint64_t)(p / 100.0 * 4294967296.0);
}

static int
dir_init(struct fault_dir *d, const struct mx_pktio_fault_dir *c, uint64_t seed, unsigned cap)
{
	d->loss_thr = pct_thr(c->loss_pct);
	d->dup_thr = pct_thr(c->dup_pct);
	d->reorder_thr = pct_thr(c->reorder_pct);
	d->gap = c->reorder_gap > 0 ? c->reorder_gap : 1;
	d->delay_ms = c->delay_ms;
	d->jitter_ms = c->jitter_ms;
	d->delaying = c->delay_ms > 0 || c->jitter_ms > 0;
	d->rng = seed;
	d->heap_cap = cap;
	d->heap = calloc(cap, sizeof(*d->heap));
	return d->heap == NULL ? -ENOMEM : 0;
}

int
mx_pktio_fault_create(struct mx_pktio *inner, const struct mx_pktio_fault_conf *c,
		struct mx_pktio **out)
{
	struct pktio_fault *f;
	uint64_t s;
	unsigned cap;
	int rc;

	*out = NULL;
	if (inner == NULL || c == NULL || !dir_valid(&c->rx) || !dir_valid(&c->tx))
		return -EINVAL;
	if (!mx_pktio_fault_enabled(c)) {
		*out = inner;
		return 0;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -ENOMEM;
	cap = c->delay_cap > 0 ? c->delay_cap : DEFAULT_DELAY_CAP;
	/* Two independent streams, so the faults of one direction do not
	 * depend on the traffic of the other. */
	s = c->seed;
	rc = dir_init(&f->rx, &c->rx, rng_next(&s), cap);
	if (rc == 0)
		rc = dir_init(&f->tx, &c->tx, rng_next(&s), cap);
	if (rc < 0) {
		free(f->rx.heap);
		free(f->tx.heap);
		free(f);
		return rc;
	}
	f->io.ops = &fault_ops;
	f->inner = inner;
	*out = &f->io;
	return 0;
}

int
mx_pktio_fault_stats(const struct mx_pktio *io, bool tx, struct mx_pktio_fault_stats *out)
{
	const struct pktio_fault *f = (const struct pktio_fault *)io;

	if (io->ops != &fault_ops)
		return -ENOENT;
	*out = tx ? f->tx.st : f->rx.st;
	return 0;
}

static unsigned
dir_held(const struct fault_dir *d)
{
	return d->n_hold + d->heap_n + outq_count(d);
}

unsigned
mx_pktio_fault_held(const struct mx_pktio *io)
{
	const struct pktio_fault *f = (const struct pktio_fault *)io;

	if (io->ops != &fault_ops)
		return 0;
	return dir_held(&f->rx) + dir_held(&f->tx);
}
