/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dpdk_export.c: the dataplane's counters on /metrics (issue 3 item 1,
 * "per-port and per-queue counters", and the per-lcore ones of item 2).
 *
 * Families, all prefixed mxedge_dpdk_:
 * - port_*_total{port}, queue_*_total{port,queue}: rte_eth_stats of the
 *   port (rx/tx packets, bytes, errors, missed, rx_nombuf);
 * - lcore_*_total{worker}: the glue's own counters (mx_dpdk_loop_stats);
 * - net_*_total{worker}: every L2/L3 counter (enum mx_net_stat: frames,
 *   and each drop by its reason);
 * - tcp_*_total{worker}: struct mx_tcp_stats (retransmits, SYN cookies
 *   sent/validated/failed, challenge ACKs, drops by reason, ...), and the
 *   gauges tcp_connections, tcp_time_wait;
 * - pktio_*_total{worker}: TX frames kept in the backlog or dropped;
 * - fault_*_total{worker,dir}: the fault-injection layer, when on.
 *
 * Contract: dp_export_*() run on the worker that owns the counters;
 * mx_dpdk_metrics_export() on the metrics thread. See dpdk_priv.h.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>

#include <rte_ethdev.h>

#include "dpdk_priv.h"
#include "mx_metrics.h"

struct field {
	const char *name;
	size_t off;
	const char *help;
};

#define GLUE(f, h) { #f, offsetof(struct mx_dpdk_loop_stats, f), h }
static const struct field glue_fields[] = {
	GLUE(rx_frames, "Frames received by the worker's queue."),
	GLUE(rx_bursts, "rx_burst calls that returned frames."),
	GLUE(tcp_drop_malformed, "TCP segments dropped: malformed header."),
	GLUE(tcp_drop_csum, "TCP segments dropped: bad checksum."),
	GLUE(tcp_drop_segmented, "TCP segments dropped: not in one mbuf."),
	GLUE(tx_nombuf, "Segments not sent for want of an mbuf (TCP resends)."),
	GLUE(tx_build_failed, "Segments that did not fit an mbuf."),
	GLUE(tx_net_dropped, "Segments L3 refused (counted there by reason)."),
	GLUE(connect_no_port, "Active opens without a source port for this queue."),
	GLUE(idle_naps, "Idle naps of the poll loop."),
	GLUE(handoff_out, "Segments handed to the worker that owns their flow."),
	GLUE(handoff_in, "Segments another worker handed to this one."),
	GLUE(handoff_drop_full, "Segments dropped: the owner's hand-off ring was full."),
	GLUE(arp_share_out, "ARP bindings copied to the other workers."),
	GLUE(arp_share_in, "ARP bindings merged from other workers."),
	GLUE(arp_share_drop_full, "ARP binding copies dropped: a worker's ring was full."),
};
#undef GLUE

#define TCP(f, h) { #f, offsetof(struct mx_tcp_stats, f), h }
static const struct field tcp_fields[] = {
	TCP(segs_in, "Segments received."),
	TCP(segs_out, "Segments sent."),
	TCP(retransmits, "Segments resent (RTO and fast retransmit)."),
	TCP(rto_expired, "Retransmission timeouts (RFC 6298)."),
	TCP(fast_retransmits, "Fast retransmits (RFC 5681, RFC 6582)."),
	TCP(zero_wnd_probes, "Zero-window probes sent."),
	TCP(delayed_acks, "ACKs sent by the delayed-ACK timer."),
	TCP(challenge_acks, "Challenge ACKs sent (RFC 5961)."),
	TCP(challenge_acks_limited, "Challenge ACKs suppressed by the rate limit."),
	TCP(rst_in, "RSTs received."),
	TCP(rst_out, "RSTs sent."),
	TCP(drop_no_conn, "Segments dropped: no connection, listener or TIME_WAIT."),
	TCP(drop_bad_ack, "Segments dropped: unacceptable ACK."),
	TCP(drop_out_of_window, "Segments dropped: out of window."),
	TCP(drop_ooo_full, "Segments dropped: out-of-order bound reached."),
	TCP(drop_rst_ignored, "RSTs ignored: out of window or unacceptable."),
	TCP(drop_bad_opts, "SYNs dropped: malformed options."),
	TCP(drop_bad_seg, "Segments dropped: senseless flag combination."),
	TCP(drop_conn_limit, "SYNs dropped: connection table full."),
	TCP(drop_addr_limit, "SYNs dropped: per-address limit."),
	TCP(drop_bucket_full, "SYNs dropped: hash chain bound."),
	TCP(syn_cookies_sent, "SYN cookies sent (RFC 4987)."),
	TCP(syn_cookies_ok, "SYN cookies validated: connection created."),
	TCP(syn_cookies_bad, "ACKs with a cookie that failed validation."),
	TCP(synack_timeouts, "Half-open connections dropped after SYN-ACK retries."),
	TCP(halfopen_reclaimed, "Half-open connections freed for a new one: table full."),
	TCP(accepts, "Connections established by passive open."),
	TCP(connects, "Connections established by active open."),
	TCP(conn_resets, "Connections ended by a peer RST."),
	TCP(conn_timeouts, "Connections ended by a timeout."),
	TCP(tw_entered, "Connections that entered TIME_WAIT."),
	TCP(tw_overflow, "TIME_WAIT table or hash chain full: oldest entry evicted."),
	TCP(tw_reused, "New SYNs accepted over a TIME_WAIT."),
	TCP(tw_released, "TIME_WAIT entries ended by the RST answering a challenge ACK."),
	TCP(dup_acks_out, "Immediate ACKs of out-of-order segments (RFC 5681 4.2)."),
};
#undef TCP

#define FAULT(f, h) { #f, offsetof(struct mx_pktio_fault_stats, f), h }
static const struct field fault_fields[] = {
	FAULT(lost, "Frames the fault layer dropped."),
	FAULT(duplicated, "Frames the fault layer duplicated."),
	FAULT(dup_failed, "Duplications that found no mbuf."),
	FAULT(reordered, "Frames the fault layer held back to reorder."),
	FAULT(delayed, "Frames the fault layer delayed."),
	FAULT(delay_overflow, "Frames dropped: delay queue full."),
};
#undef FAULT

#define N_GLUE MX_ARRAY_SIZE(glue_fields)
#define N_TCP MX_ARRAY_SIZE(tcp_fields)
#define N_FAULT MX_ARRAY_SIZE(fault_fields)

#define PKTIO(f, h) { #f, offsetof(struct mx_pktio_stats, f), h }
static const struct field pktio_fields[] = {
	PKTIO(tx_deferred, "Frames the TX queue refused, kept in the backlog."),
	PKTIO(tx_dropped, "Frames the TX queue refused with the backlog full: freed."),
};
#undef PKTIO
#define N_PKTIO MX_ARRAY_SIZE(pktio_fields)

enum port_ctr { P_IPACKETS, P_OPACKETS, P_IBYTES, P_OBYTES, P_IMISSED, P_IERRORS,
	P_OERRORS, P_RX_NOMBUF, P__COUNT };
enum queue_ctr { Q_IPACKETS, Q_OPACKETS, Q_IBYTES, Q_OBYTES, Q_ERRORS, Q__COUNT };

static const struct field port_fields[P__COUNT] = {
	[P_IPACKETS] = { "rx_packets", 0, "Packets received by the port." },
	[P_OPACKETS] = { "tx_packets", 0, "Packets sent by the port." },
	[P_IBYTES] = { "rx_bytes", 0, "Bytes received by the port." },
	[P_OBYTES] = { "tx_bytes", 0, "Bytes sent by the port." },
	[P_IMISSED] = { "rx_missed", 0, "Packets the port dropped: RX queue full." },
	[P_IERRORS] = { "rx_errors", 0, "Erroneous packets received." },
	[P_OERRORS] = { "tx_errors", 0, "Packets the port failed to send." },
	[P_RX_NOMBUF] = { "rx_nombuf", 0, "RX mbuf allocation failures." },
};

static const struct field queue_fields[Q__COUNT] = {
	[Q_IPACKETS] = { "rx_packets", 0, "Packets received on the queue." },
	[Q_OPACKETS] = { "tx_packets", 0, "Packets sent on the queue." },
	[Q_IBYTES] = { "rx_bytes", 0, "Bytes received on the queue." },
	[Q_OBYTES] = { "tx_bytes", 0, "Bytes sent on the queue." },
	[Q_ERRORS] = { "rx_errors", 0, "Packets dropped on the queue (PMD)." },
};

struct loop_export {
	_Atomic bool live;
	_Atomic bool has_fault;
	_Atomic uint64_t glue[N_GLUE];
	_Atomic uint64_t tcp[N_TCP];
	_Atomic uint64_t net[MX_NET_STAT__COUNT];
	_Atomic uint64_t conns, time_wait;
	_Atomic uint64_t fault[2][N_FAULT];
	_Atomic uint64_t pktio[N_PKTIO];
} MX_CACHE_ALIGNED;

struct port_export {
	_Atomic bool live;
	_Atomic uint16_t port_id, n_queues;
	_Atomic uint64_t v[P__COUNT];
	_Atomic uint64_t q[MX_PORT_MAX_QUEUES][Q__COUNT];
} MX_CACHE_ALIGNED;

/* Static: outlives every loop and the port (see dpdk_priv.h). */
static struct loop_export loops[MX_PORT_MAX_QUEUES];
static struct port_export port;

static void
st(_Atomic uint64_t *p, uint64_t v)
{
	atomic_store_explicit(p, v, memory_order_relaxed);
}

static uint64_t
ld(const _Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

static uint64_t
field_of(const void *base, const struct field *f)
{
	const uint64_t *p = (const uint64_t *)(const void *)((const char *)base + f->off);

	return *p;
}

void
dp_export_loop(uint16_t q, const struct dp_export_loop *l)
{
	struct loop_export *e;
	struct mx_pktio_fault_stats fs[2];
	const struct mx_net_stats *ns;
	unsigned i, d;

	if (q >= MX_PORT_MAX_QUEUES)
		return;
	e = &loops[q];
	for (i = 0; i < N_GLUE; i++)
		st(&e->glue[i], field_of(l->glue, &glue_fields[i]));
	for (i = 0; i < N_TCP; i++)
		st(&e->tcp[i], field_of(l->tcp, &tcp_fields[i]));
	if (l->net != NULL) {
		ns = mx_net_stats(l->net);
		for (i = 0; i < MX_NET_STAT__COUNT; i++)
			st(&e->net[i], atomic_load_explicit(&ns->v[i], memory_order_relaxed));
	}
	st(&e->conns, l->conns);
	st(&e->time_wait, l->time_wait);
	if (l->io != NULL)
		for (i = 0; i < N_PKTIO; i++)
			st(&e->pktio[i], field_of(mx_pktio_stats(l->io), &pktio_fields[i]));
	if (mx_pktio_fault_stats(l->io, false, &fs[0]) == 0 &&
			mx_pktio_fault_stats(l->io, true, &fs[1]) == 0) {
		for (d = 0; d < 2; d++)
			for (i = 0; i < N_FAULT; i++)
				st(&e->fault[d][i], field_of(&fs[d], &fault_fields[i]));
		atomic_store_explicit(&e->has_fault, true, memory_order_relaxed);
	}
	atomic_store_explicit(&e->live, true, memory_order_release);
}

void
dp_export_port(uint16_t port_id, uint16_t n_queues)
{
	struct rte_eth_stats s;
	unsigned q;

	if (rte_eth_stats_get(port_id, &s) != 0)
		return;
	st(&port.v[P_IPACKETS], s.ipackets);
	st(&port.v[P_OPACKETS], s.opackets);
	st(&port.v[P_IBYTES], s.ibytes);
	st(&port.v[P_OBYTES], s.obytes);
	st(&port.v[P_IMISSED], s.imissed);
	st(&port.v[P_IERRORS], s.ierrors);
	st(&port.v[P_OERRORS], s.oerrors);
	st(&port.v[P_RX_NOMBUF], s.rx_nombuf);
	for (q = 0; q < n_queues && q < MX_PORT_MAX_QUEUES &&
			q < RTE_ETHDEV_QUEUE_STAT_CNTRS; q++) {
		st(&port.q[q][Q_IPACKETS], s.q_ipackets[q]);
		st(&port.q[q][Q_OPACKETS], s.q_opackets[q]);
		st(&port.q[q][Q_IBYTES], s.q_ibytes[q]);
		st(&port.q[q][Q_OBYTES], s.q_obytes[q]);
		st(&port.q[q][Q_ERRORS], s.q_errors[q]);
	}
	atomic_store_explicit(&port.port_id, port_id, memory_order_relaxed);
	atomic_store_explicit(&port.n_queues, n_queues, memory_order_relaxed);
	atomic_store_explicit(&port.live, true, memory_order_release);
}

/* ---- rendering (metrics thread) ---- */

static void
family(struct mx_metrics_buf *o, const char *group, const char *name, const char *help,
		bool gauge)
{
	char full[96];

	snprintf(full, sizeof(full), "mxedge_dpdk_%s_%s%s", group, name, gauge ? "" : "_total");
	mx_metrics_put_family(o, full, help, gauge ? "gauge" : "counter");
}

static bool
loop_live(unsigned q)
{
	return atomic_load_explicit(&loops[q].live, memory_order_acquire);
}

static void
render_port(struct mx_metrics_buf *o)
{
	unsigned i, q, nq;
	uint16_t pid;

	if (!atomic_load_explicit(&port.live, memory_order_acquire))
		return;
	pid = atomic_load_explicit(&port.port_id, memory_order_relaxed);
	nq = atomic_load_explicit(&port.n_queues, memory_order_relaxed);
	for (i = 0; i < P__COUNT; i++) {
		family(o, "port", port_fields[i].name, port_fields[i].help, false);
		mx_metrics_put(o, "mxedge_dpdk_port_%s_total{port=\"%u\"} %" PRIu64 "\n",
				port_fields[i].name, pid, ld(&port.v[i]));
	}
	for (i = 0; i < Q__COUNT; i++) {
		family(o, "queue", queue_fields[i].name, queue_fields[i].help, false);
		for (q = 0; q < nq && q < MX_PORT_MAX_QUEUES; q++)
			mx_metrics_put(o, "mxedge_dpdk_queue_%s_total{port=\"%u\",queue=\"%u\"} %" PRIu64 "\n",
					queue_fields[i].name, pid, q, ld(&port.q[q][i]));
	}
}

static void
render_array(struct mx_metrics_buf *o, const char *group, const struct field *f, size_t n,
		size_t stride, size_t base_off)
{
	unsigned i, q;

	for (i = 0; i < n; i++) {
		family(o, group, f[i].name, f[i].help, false);
		for (q = 0; q < MX_PORT_MAX_QUEUES; q++) {
			const _Atomic uint64_t *a;

			if (!loop_live(q))
				continue;
			a = (const _Atomic uint64_t *)(const void *)
				((const char *)&loops[q] + base_off + i * stride);
			mx_metrics_put(o, "mxedge_dpdk_%s_%s_total{worker=\"%u\"} %" PRIu64 "\n",
					group, f[i].name, q, ld(a));
		}
	}
}

static void
render_net(struct mx_metrics_buf *o)
{
	unsigned i, q;

	for (i = 0; i < MX_NET_STAT__COUNT; i++) {
		const char *name = mx_net_stat_name((enum mx_net_stat)i);

		family(o, "net", name, "L2/L3 counter, drops by reason (enum mx_net_stat).",
				false);
		for (q = 0; q < MX_PORT_MAX_QUEUES; q++)
			if (loop_live(q))
				mx_metrics_put(o, "mxedge_dpdk_net_%s_total{worker=\"%u\"} %" PRIu64 "\n",
						name, q, ld(&loops[q].net[i]));
	}
}

static void
render_gauges(struct mx_metrics_buf *o)
{
	unsigned q;

	family(o, "tcp", "connections", "TCP connections held (all states).", true);
	for (q = 0; q < MX_PORT_MAX_QUEUES; q++)
		if (loop_live(q))
			mx_metrics_put(o, "mxedge_dpdk_tcp_connections{worker=\"%u\"} %" PRIu64 "\n", q,
					ld(&loops[q].conns));
	family(o, "tcp", "time_wait", "TIME_WAIT entries held.", true);
	for (q = 0; q < MX_PORT_MAX_QUEUES; q++)
		if (loop_live(q))
			mx_metrics_put(o, "mxedge_dpdk_tcp_time_wait{worker=\"%u\"} %" PRIu64 "\n", q,
					ld(&loops[q].time_wait));
}

static const char *const fault_dir[2] = { "rx", "tx" };

static void
render_fault(struct mx_metrics_buf *o)
{
	bool any = false;
	unsigned i, q, d;

	for (q = 0; q < MX_PORT_MAX_QUEUES; q++)
		any |= loop_live(q) && atomic_load_explicit(&loops[q].has_fault,
				memory_order_relaxed);
	if (!any)
		return;
	for (i = 0; i < N_FAULT; i++) {
		family(o, "fault", fault_fields[i].name, fault_fields[i].help, false);
		for (q = 0; q < MX_PORT_MAX_QUEUES; q++) {
			if (!loop_live(q) || !atomic_load_explicit(&loops[q].has_fault,
						memory_order_relaxed))
				continue;
			for (d = 0; d < 2; d++)
				mx_metrics_put(o, "mxedge_dpdk_fault_%s_total{worker=\"%u\",dir=\"%s\"} %"
						PRIu64 "\n", fault_fields[i].name, q, fault_dir[d],
						ld(&loops[q].fault[d][i]));
		}
	}
}

size_t
mx_dpdk_metrics_export(void *arg, char *buf, size_t size)
{
	struct mx_metrics_buf o = { .buf = buf, .size = size, .len = 0 };

	(void)arg;
	if (size > 0)
		buf[0] = '\0';
	render_port(&o);
	render_array(&o, "lcore", glue_fields, N_GLUE, sizeof(_Atomic uint64_t),
			offsetof(struct loop_export, glue));
	render_net(&o);
	render_array(&o, "tcp", tcp_fields, N_TCP, sizeof(_Atomic uint64_t),
			offsetof(struct loop_export, tcp));
	render_array(&o, "pktio", pktio_fields, N_PKTIO, sizeof(_Atomic uint64_t),
			offsetof(struct loop_export, pktio));
	render_gauges(&o);
	render_fault(&o);
	return o.len;
}
