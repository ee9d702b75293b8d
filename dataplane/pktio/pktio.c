/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pktio.c: the buffered TX shared by every backend, and the two plain
 * backends: an ethdev queue pair, and a pair of rte_rings for tests
 * (see mx_pktio.h for the mbuf ownership rules).
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "mx_pktio.h"

struct pktio_ethdev {
	struct mx_pktio io; /* first: the container cast below relies on it */
	uint16_t port_id;
	uint16_t queue_id;
};

struct pktio_mem {
	struct mx_pktio io;
	struct rte_ring *to_stack;   /* inject -> rx_burst */
	struct rte_ring *from_stack; /* tx_burst -> capture */
};

static_assert((MX_PKTIO_TX_BACKLOG & (MX_PKTIO_TX_BACKLOG - 1)) == 0,
		"backlog size is a power of two");

/* Sends the backlog, oldest first; false when the queue is still full. */
static bool
txq_drain(struct mx_pktio *io)
{
	uint32_t n;
	uint16_t sent;

	while (io->txq_len > 0) {
		n = RTE_MIN(io->txq_len, MX_PKTIO_TX_BACKLOG - io->txq_head);
		n = RTE_MIN(n, (uint32_t)UINT16_MAX);
		sent = mx_pktio_tx_burst(io, &io->txq[io->txq_head], (uint16_t)n);
		io->txq_head = (io->txq_head + sent) & (MX_PKTIO_TX_BACKLOG - 1);
		io->txq_len -= sent;
		if (sent < n)
			return false;
	}
	return true;
}

static void
txq_keep(struct mx_pktio *io, struct rte_mbuf *m)
{
	if (io->txq_len == MX_PKTIO_TX_BACKLOG) {
		rte_pktmbuf_free(m);
		io->stats.tx_dropped++;
		return;
	}
	io->txq[(io->txq_head + io->txq_len) & (MX_PKTIO_TX_BACKLOG - 1)] = m;
	io->txq_len++;
	io->stats.tx_deferred++;
}

static void
tx_buffer_send(struct mx_pktio *io)
{
	uint16_t sent = 0, i;

	if (io->tx_len == 0 && io->txq_len == 0)
		return;
	/* New frames go out only behind the backlog, to keep the order. */
	if (txq_drain(io) && io->tx_len > 0)
		sent = mx_pktio_tx_burst(io, io->tx_buf, io->tx_len);
	for (i = sent; i < io->tx_len; i++)
		txq_keep(io, io->tx_buf[i]);
	io->tx_len = 0;
}

void
mx_pktio_send(struct mx_pktio *io, struct rte_mbuf *m)
{
	io->tx_buf[io->tx_len++] = m;
	if (io->tx_len == MX_PKT_BURST)
		tx_buffer_send(io);
}

void
mx_pktio_flush(struct mx_pktio *io)
{
	tx_buffer_send(io);
	if (io->ops->drain != NULL)
		io->ops->drain(io);
}

void
mx_pktio_free(struct mx_pktio *io)
{
	uint16_t i;

	if (io == NULL)
		return;
	for (i = 0; i < io->tx_len; i++)
		rte_pktmbuf_free(io->tx_buf[i]);
	io->tx_len = 0;
	for (; io->txq_len > 0; io->txq_len--) {
		rte_pktmbuf_free(io->txq[io->txq_head]);
		io->txq_head = (io->txq_head + 1) & (MX_PKTIO_TX_BACKLOG - 1);
	}
	io->ops->free(io);
}

const struct mx_pktio_stats *
mx_pktio_stats(const struct mx_pktio *io)
{
	return &io->stats;
}

static uint16_t
ethdev_rx(struct mx_pktio *io, struct rte_mbuf **pkts, uint16_t n)
{
	struct pktio_ethdev *e = (struct pktio_ethdev *)io;

	return rte_eth_rx_burst(e->port_id, e->queue_id, pkts, n);
}

static uint16_t
ethdev_tx(struct mx_pktio *io, struct rte_mbuf **pkts, uint16_t n)
{
	struct pktio_ethdev *e = (struct pktio_ethdev *)io;

	return rte_eth_tx_burst(e->port_id, e->queue_id, pkts, n);
}

static void
ethdev_free(struct mx_pktio *io)
{
	free(io);
}

static const struct mx_pktio_ops ethdev_ops = {
	.name = "ethdev",
	.rx_burst = ethdev_rx,
	.tx_burst = ethdev_tx,
	.drain = NULL,
	.free = ethdev_free,
};

int
mx_pktio_ethdev_create(uint16_t port_id, uint16_t queue_id, struct mx_pktio **out)
{
	struct pktio_ethdev *e;

	*out = NULL;
	if (!rte_eth_dev_is_valid_port(port_id))
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	e->io.ops = &ethdev_ops;
	e->port_id = port_id;
	e->queue_id = queue_id;
	*out = &e->io;
	return 0;
}

static uint16_t
mem_rx(struct mx_pktio *io, struct rte_mbuf **pkts, uint16_t n)
{
	struct pktio_mem *m = (struct pktio_mem *)io;

	return (uint16_t)rte_ring_dequeue_burst(m->to_stack, (void **)pkts, n, NULL);
}

static uint16_t
mem_tx(struct mx_pktio *io, struct rte_mbuf **pkts, uint16_t n)
{
	struct pktio_mem *m = (struct pktio_mem *)io;

	return (uint16_t)rte_ring_enqueue_burst(m->from_stack, (void **)pkts, n, NULL);
}

static void
ring_drain_free(struct rte_ring *r)
{
	void *m;

	if (r == NULL)
		return;
	while (rte_ring_dequeue(r, &m) == 0)
		rte_pktmbuf_free(m);
	rte_ring_free(r);
}

static void
mem_free(struct mx_pktio *io)
{
	struct pktio_mem *m = (struct pktio_mem *)io;

	ring_drain_free(m->to_stack);
	ring_drain_free(m->from_stack);
	free(m);
}

static const struct mx_pktio_ops mem_ops = {
	.name = "memory",
	.rx_burst = mem_rx,
	.tx_burst = mem_tx,
	.drain = NULL,
	.free = mem_free,
};

static struct pktio_mem *
mem_of(const struct mx_pktio *io)
{
	MX_ASSERT(io->ops == &mem_ops);
	return (struct pktio_mem *)(uintptr_t)io;
}

int
mx_pktio_mem_create(const char *name, unsigned size, struct mx_pktio **out)
{
	char rname[RTE_RING_NAMESIZE];
	struct pktio_mem *m;

	*out = NULL;
	if (name == NULL || size < 2 || (size & (size - 1)) != 0)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	m->io.ops = &mem_ops;
	/* Single producer, single consumer: the test and the worker each own
	 * one end (tests drive both from one thread). */
	snprintf(rname, sizeof(rname), "%s_in", name);
	m->to_stack = rte_ring_create(rname, size, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	snprintf(rname, sizeof(rname), "%s_out", name);
	m->from_stack = rte_ring_create(rname, size, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (m->to_stack == NULL || m->from_stack == NULL) {
		int rc = rte_errno != 0 ? -rte_errno : -ENOMEM;

		mem_free(&m->io);
		return rc;
	}
	*out = &m->io;
	return 0;
}

unsigned
mx_pktio_mem_inject(struct mx_pktio *io, struct rte_mbuf **pkts, unsigned n)
{
	return rte_ring_enqueue_burst(mem_of(io)->to_stack, (void **)pkts, n, NULL);
}

unsigned
mx_pktio_mem_capture(struct mx_pktio *io, struct rte_mbuf **pkts, unsigned n)
{
	return rte_ring_dequeue_burst(mem_of(io)->from_stack, (void **)pkts, n, NULL);
}

unsigned
mx_pktio_mem_rx_pending(const struct mx_pktio *io)
{
	return rte_ring_count(mem_of(io)->to_stack);
}

unsigned
mx_pktio_mem_tx_pending(const struct mx_pktio *io)
{
	return rte_ring_count(mem_of(io)->from_stack);
}
