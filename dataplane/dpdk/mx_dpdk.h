/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_dpdk: the DPDK transport. It glues one port queue pair (mx_pktio),
 * L2/L3 (mx_net) and the userspace TCP engine (mx_tcp) of one worker into
 * a struct mx_loop behind the stream API (mx_stream_impl.h), so SMTP and
 * the relay run on it unchanged.
 *
 * Two phases:
 * - Process set-up, control thread, once: mx_dpdk_start() starts the EAL,
 *   creates the port with one RX/TX queue pair per worker and remembers
 *   the addresses and the gateway; mx_dpdk_start_pktio() does the same
 *   over packet-I/O backends the caller made (the memory backend of the
 *   unit tests, no NIC). mx_dpdk_stop() undoes it after every loop is
 *   freed. Between the two the set-up is read-only.
 * - Per worker: mx_loop_create() with MX_TRANSPORT_DPDK calls
 *   mx_dpdk_loop_create(); conf->worker_id is the queue the loop owns.
 *   Every flow of that loop comes back on that queue: passive opens
 *   through RSS, active opens through the source port (chosen so that the
 *   Toeplitz hash of the reply's tuple lands on the queue).
 *
 * A loop polls: mx_loop_run_once() never sleeps while packets flow; when
 * a pass found nothing to do and timeout_ms allows, it naps briefly (see
 * dpdk.c) so that an idle worker does not burn a shared core.
 * Nothing on the per-packet path allocates (mbufs come from the port's
 * pools), locks or makes a syscall.
 * This header includes no DPDK header so any module can include it.
 */
#ifndef MX_DPDK_H
#define MX_DPDK_H

#include <stdbool.h>
#include <stdint.h>

#include "mx_net.h"
#include "mx_pktio.h"
#include "mx_stream.h"
#include "mx_tcp.h"

struct rte_mempool;
struct mx_pktio;

struct mx_dpdk_conf {
	const char *eal;           /* EAL arguments (mx_port_eal_split syntax) */
	const char *dev;           /* port device name; NULL: the first port */
	uint16_t n_queues;         /* one RX/TX queue pair per worker */
	uint16_t mtu;              /* 0: the device's */
	struct mx_net_addr addrs[MX_NET_MAX_ADDRS]; /* our IPv4 addresses */
	unsigned n_addrs;
	uint32_t gateway;          /* network order; 0: on-link only */
	/* Seeded faults at every queue's packet-I/O seam (queue q draws from
	 * seed + q); all zero: the ethdev queue is used bare, nothing in the
	 * path. mx_dpdk_start_pktio ignores it (wrap the backends instead). */
	struct mx_pktio_fault_conf fault;
};

/* Starts the EAL (once per process; a second start reuses it) and the
 * port. Returns 0, -EALREADY (already started), -EINVAL (bad conf) or the
 * error of the EAL / port set-up (logged). Control thread. */
int mx_dpdk_start(const struct mx_dpdk_conf *c);
/* Same over n existing backends (ios[q] is queue q's), all allocating
 * from pool, with mac as our MAC; no EAL start, no port. The caller keeps
 * ownership of ios and pool and frees them after mx_dpdk_stop(). */
int mx_dpdk_start_pktio(const struct mx_dpdk_conf *c, const uint8_t mac[6],
		struct rte_mempool *pool, struct mx_pktio *const *ios, uint16_t n);
/* Frees the port (after every DPDK loop is freed). NULL-safe to repeat. */
void mx_dpdk_stop(void);
bool mx_dpdk_started(void);

/* The loop constructor mx_loop_create() dispatches to. Returns 0, -ENOTSUP
 * (mx_dpdk_start not called), -EINVAL (worker_id is not a queue, bad
 * conf), -ENOMEM. Control thread; the loop then runs on one worker. */
int mx_dpdk_loop_create(const struct mx_loop_conf *conf, struct mx_loop **out);

/* The fault wrapper's counters of the loop's queue, direction rx or tx;
 * -ENOENT when the loop runs without one. The loop's thread only. */
int mx_dpdk_loop_fault_stats(const struct mx_loop *loop, bool tx,
		struct mx_pktio_fault_stats *out);

/* One pass of the loop (receive, process, timers, transmit) at a virtual
 * time now_ms instead of the clock: deterministic tests and fuzzers.
 * Start from mx_loop_now_ms(loop); a time before the loop's is taken as
 * the loop's. Returns the frames received (with those other workers
 * handed over, see mx_dpdk_loop_stats). Not mixed with
 * mx_loop_run_once() on one loop. */
unsigned mx_dpdk_loop_pass_at(struct mx_loop *loop, uint64_t now_ms);

/* Counters of the glue itself; every drop it makes has one. */
struct mx_dpdk_loop_stats {
	uint64_t rx_frames;
	uint64_t rx_bursts;           /* rx_burst calls that returned frames */
	uint64_t tcp_drop_malformed;  /* mx_tcp_hdr_parse refused the segment */
	uint64_t tcp_drop_csum;       /* bad checksum (NIC or software) */
	uint64_t tcp_drop_segmented;  /* segment not in one mbuf */
	uint64_t tx_nombuf;           /* no mbuf for an emitted segment: TCP recovers */
	uint64_t tx_build_failed;     /* segment did not fit an mbuf */
	uint64_t tx_net_dropped;      /* mx_net_ipv4_output refused it (counted there) */
	uint64_t connect_no_port;     /* no source port mapped to this queue */
	uint64_t idle_naps;
	/* Without usable RSS, a segment for another worker's active open
	 * is handed to it over an SPSC ring (dpdk.c, "Flow ownership"). */
	uint64_t handoff_out;         /* segments handed to their owner */
	uint64_t handoff_in;          /* segments another worker handed here */
	uint64_t handoff_drop_full;   /* owner's ring full: dropped, TCP recovers */
	/* With several workers, every ARP binding one receives is copied
	 * to the others (dpdk.c, "Flow ownership"). */
	uint64_t arp_share_out;       /* copies sent to other workers */
	uint64_t arp_share_in;        /* copies merged from other workers */
	uint64_t arp_share_drop_full; /* a worker's ARP ring was full */
};

/* The loop's counters, its TCP stack's and its L2/L3 layer; the loop's
 * thread only. loop must be a DPDK loop. */
void mx_dpdk_loop_stats(const struct mx_loop *loop, struct mx_dpdk_loop_stats *out);
void mx_dpdk_loop_tcp_stats(const struct mx_loop *loop, struct mx_tcp_stats *out);
const struct mx_net *mx_dpdk_loop_net(const struct mx_loop *loop);

/* The dataplane's /metrics families (mx_metrics_export_fn, registered
 * by the engine with mx_metrics_add_exporter): per port and queue, per
 * worker lcore (glue, L2/L3 and TCP counters, drops by reason), TCP
 * gauges and the fault layer's counters. Each worker publishes them
 * every 500 ms; any thread may call this, before, during or after the
 * port's life. arg is unused. */
size_t mx_dpdk_metrics_export(void *arg, char *buf, size_t size);

/* Bytes of per-connection state of the transport: the stream wrapper and
 * the TCP connection, without data buffers (issue 3 item 8). */
size_t mx_dpdk_stream_size(void);

#endif /* MX_DPDK_H */
