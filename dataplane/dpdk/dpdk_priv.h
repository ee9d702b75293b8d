/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to dataplane/dpdk: what the loop (dpdk.c) publishes for the
 * /metrics exporter (dpdk_export.c). A worker copies its counters into
 * static storage every DP_EXPORT_MS with relaxed atomic stores; the
 * metrics thread reads them with relaxed loads. No lock, no shared
 * writer, and a scrape racing shutdown never reads freed memory.
 */
#ifndef MX_DPDK_PRIV_H
#define MX_DPDK_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "mx_dpdk.h"

#define DP_EXPORT_MS 500u

struct dp_export_loop {
	const struct mx_dpdk_loop_stats *glue;
	const struct mx_tcp_stats *tcp;
	const struct mx_net *net;
	unsigned conns, time_wait;
	const struct mx_pktio *io;   /* its fault counters, if a fault wrapper */
};

/* Queue q's worker, every DP_EXPORT_MS and at loop free. */
void dp_export_loop(uint16_t q, const struct dp_export_loop *l);
/* The worker of queue 0 (rte_eth_stats_get is a control-path call: read
 * at the export pace, never per burst). */
void dp_export_port(uint16_t port_id, uint16_t n_queues);

#endif /* MX_DPDK_PRIV_H */
