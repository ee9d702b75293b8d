/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_pktio: the seam between the network stack and packet I/O (mTCP's
 * io_module idea): a small ops table with burst RX and TX, and three
 * implementations behind it.
 *
 * - ethdev: one RX/TX queue pair of a DPDK port (the production path).
 * - memory: a pair of rte_rings; a test injects frames the stack will
 *   receive and captures the frames the stack sent, all in-process.
 * - fault: wraps any backend and applies seeded, deterministic loss,
 *   reordering, duplication and delay in both directions. When the
 *   configuration asks for no fault, mx_pktio_fault_create() returns the
 *   inner backend itself: no wrapper, no cost on the path.
 *
 * mbuf ownership (STYLE pitfall 3):
 * - mx_pktio_rx_burst(): the caller owns every mbuf returned.
 * - mx_pktio_tx_burst(): returns how many of pkts[0..n) the pktio took
 *   (sent, or held by the fault layer); pkts[ret..n) stay the caller's
 *   and the caller frees or retries them.
 * - mx_pktio_send(): always takes m. It is buffered (l3fwd style) and
 *   sent when a burst is full or at mx_pktio_flush(); what the backend
 *   refuses then waits in a bounded backlog (MX_PKTIO_TX_BACKLOG frames,
 *   sent first at the next flush, so the order is kept) and only beyond
 *   it is freed and counted in tx_dropped. A burst of thousands of
 *   handshakes or greetings thus survives a full TX ring: a dropped
 *   final ACK of a SYN-cookie handshake is never retransmitted, and an
 *   SMTP client would wait for its 220 forever (RFC 4987 3.6).
 *
 * Thread: a pktio belongs to one worker lcore; no call locks, allocates
 * or makes a syscall, except create/free (control thread, at init).
 */
#ifndef MX_PKTIO_H
#define MX_PKTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "mx_base.h"
#include "mx_port.h"

struct rte_mbuf;
struct mx_pktio;

typedef uint16_t mx_pktio_burst_fn(struct mx_pktio *io, struct rte_mbuf **pkts, uint16_t n);
/* Releases what the backend holds that is due (the fault layer's delayed
 * frames); called by mx_pktio_flush(). May be NULL. */
typedef void mx_pktio_drain_fn(struct mx_pktio *io);
typedef void mx_pktio_free_fn(struct mx_pktio *io);

struct mx_pktio_ops {
	const char *name;
	mx_pktio_burst_fn *rx_burst;
	mx_pktio_burst_fn *tx_burst;
	mx_pktio_drain_fn *drain;
	mx_pktio_free_fn *free;
};

struct mx_pktio_stats {
	uint64_t rx;          /* frames returned by rx_burst */
	uint64_t tx;          /* frames the backend took */
	uint64_t tx_dropped;  /* refused with the backlog full: freed */
	uint64_t tx_deferred; /* refused and kept in the backlog for later */
};

/* Exposed so that the burst calls inline to one indirect call; backends
 * embed it as their first member. Touch it through the functions below. */
struct mx_pktio {
	const struct mx_pktio_ops *ops;
	uint64_t now_ms;      /* set by mx_pktio_clock(); the fault layer's time */
	uint16_t tx_len;
	uint32_t txq_head, txq_len;   /* the backlog ring */
	struct mx_pktio_stats stats;
	struct rte_mbuf *tx_buf[MX_PKT_BURST];
	struct rte_mbuf *txq[MX_PKTIO_TX_BACKLOG];
};

static inline void
mx_pktio_clock(struct mx_pktio *io, uint64_t now_ms)
{
	io->now_ms = now_ms;
}

static inline uint16_t
mx_pktio_rx_burst(struct mx_pktio *io, struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t got = io->ops->rx_burst(io, pkts, n);

	io->stats.rx += got;
	return got;
}

/* See the ownership rule above: pkts[ret..n) stay the caller's. */
static inline uint16_t
mx_pktio_tx_burst(struct mx_pktio *io, struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t sent = io->ops->tx_burst(io, pkts, n);

	io->stats.tx += sent;
	return sent;
}

static inline const struct mx_pktio_ops *
mx_pktio_ops(const struct mx_pktio *io)
{
	return io->ops;
}

/* Buffers m (always taken); a full buffer is sent at once. */
void mx_pktio_send(struct mx_pktio *io, struct rte_mbuf *m);
/* The drain tick: sends the buffer (the refused tail is freed and
 * counted), then lets the backend release what is due. */
void mx_pktio_flush(struct mx_pktio *io);
/* Frees buffered frames, then the backend (and a wrapped backend). NULL
 * is a no-op. */
void mx_pktio_free(struct mx_pktio *io);
const struct mx_pktio_stats *mx_pktio_stats(const struct mx_pktio *io);

/* Backends. All return 0 or -errno (-EINVAL, -ENOMEM, or the rte error). */
int mx_pktio_ethdev_create(uint16_t port_id, uint16_t queue_id, struct mx_pktio **out);

/* name: prefix of the two ring names (unique in the process); size: ring
 * capacity, a power of two. */
int mx_pktio_mem_create(const char *name, unsigned size, struct mx_pktio **out);
/* Test side of the memory backend. inject queues frames for the stack's
 * rx_burst and takes pkts[0..ret); capture returns frames the stack sent
 * (the caller owns them). Both return counts. */
unsigned mx_pktio_mem_inject(struct mx_pktio *io, struct rte_mbuf **pkts, unsigned n);
unsigned mx_pktio_mem_capture(struct mx_pktio *io, struct rte_mbuf **pkts, unsigned n);
/* Frames queued on the stack's side (not yet received) and on the test's
 * side (sent, not yet captured). */
unsigned mx_pktio_mem_rx_pending(const struct mx_pktio *io);
unsigned mx_pktio_mem_tx_pending(const struct mx_pktio *io);

/* Fault injection, one set of rates per direction. Percentages are 0..100
 * (fractions allowed). */
struct mx_pktio_fault_dir {
	double loss_pct;       /* frame dropped (freed) */
	double dup_pct;        /* frame copied, both go on */
	double reorder_pct;    /* frame held until reorder_gap later frames passed
	                        * (with no later traffic it stays held) */
	unsigned reorder_gap;  /* 0: 1 */
	uint32_t delay_ms;     /* every frame held delay ± jitter ms */
	uint32_t jitter_ms;    /* uniform in [delay - jitter, delay + jitter] */
};

struct mx_pktio_fault_conf {
	uint64_t seed;         /* same seed, same frames: same faults */
	struct mx_pktio_fault_dir rx, tx;
	unsigned delay_cap;    /* frames held for delay per direction; 0: 4096.
	                        * Beyond it a frame is dropped (delay_overflow). */
};

struct mx_pktio_fault_stats {
	uint64_t lost, duplicated, dup_failed, reordered, delayed, delay_overflow;
};

/* True when c asks for any fault. */
bool mx_pktio_fault_enabled(const struct mx_pktio_fault_conf *c);
/* Wraps inner. With no fault asked, *out = inner (the same object and
 * ops: the layer is not in the path). Otherwise *out owns inner: free
 * *out only. Rates outside 0..100 give -EINVAL. */
int mx_pktio_fault_create(struct mx_pktio *inner, const struct mx_pktio_fault_conf *c,
		struct mx_pktio **out);
/* Counters of a fault wrapper, direction rx or tx; -ENOENT when io is not
 * one. */
int mx_pktio_fault_stats(const struct mx_pktio *io, bool tx, struct mx_pktio_fault_stats *out);
/* Frames a fault wrapper still holds (reorder plus delay, both directions). */
unsigned mx_pktio_fault_held(const struct mx_pktio *io);

#endif /* MX_PKTIO_H */
