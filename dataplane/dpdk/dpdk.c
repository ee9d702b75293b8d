/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The DPDK transport (mx_dpdk.h): one struct mx_loop per worker over one
 * port queue pair. Each pass of mx_loop_run_once() reads the clock once,
 * receives a burst (mx_pktio) and hands it to L2/L3 (mx_net), whose TCP
 * hook parses each segment into the sans-I/O engine (mx_tcp); then TCP
 * timers, the loop's wheel and pollers, the TCP flush (segments queued by
 * the callbacks) and the buffered TX flush. Segments the engine emits are
 * built straight into an mbuf and sent through mx_net_ipv4_output().
 *
 * A stream is a thin wrapper around one TCP connection, taken from a pool
 * sized by conf.max_streams: stream calls forward to mx_tcp_*, and TCP
 * events (delivered only from the engine's flush step, which only runs
 * inside a pass) become the stream callbacks. The wrapper adds what the
 * stream API promises on top of TCP: input after mx_stream_close() is
 * read and dropped, and a graceful close gives up after linger_ms.
 *
 * Flow ownership (issue 3 item 5). Every connection lives in one
 * worker's TCP stack, so every segment of it must be processed by that
 * worker. Passive opens: the device's flow hash (RSS, or tap's kernel
 * flow hash) puts the client's SYN and all its followers on one queue,
 * whose worker accepts it. Active opens have two designs:
 * - the device told us its Toeplitz key and redirection table (rss):
 *   connect() picks a source port whose reply tuple hashes to the
 *   opening worker's own queue, so the device delivers it there;
 * - otherwise (net_tap, whose queue comes from the kernel's flow hash,
 *   or any vdev without a readable RSS configuration) the dynamic port
 *   range is partitioned: port p belongs to worker (p - EPH_LO) % n, a
 *   worker opens only from its own ports, and a TCP segment for a port
 *   of that range received by another worker is handed, with what L3
 *   learnt about it, to the owner over a single-producer single-consumer
 *   ring per (from, to) pair (no lock; a full ring drops and counts, and
 *   TCP retransmits). The partition also keeps two workers from ever
 *   opening the same 4-tuple. A listener on a port of that range works
 *   but serves from one worker only.
 * ARP is per worker too, but ARP is not IP: a device's flow hash (or a
 * NIC's RSS, which leaves non-IP frames on queue 0) need not bring the
 * reply to the worker that asked. So with several workers, each ARP
 * packet's sender binding is answered (if a request for us) and merged
 * by the worker that received it, then copied over a small SPSC ring
 * per (from, to) pair to every other worker, which merges it as RFC 826
 * says (mx_net_arp_merge). A full ring drops the copy and counts it;
 * the resolving worker's own retries still stand.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_thash.h>

#include "mx_base.h"
#include "mx_dpdk.h"
#include "mx_log.h"
#include "mx_net.h"
#include "mx_pktio.h"

#include "dpdk_priv.h"
#include "mx_port.h"
#include "mx_stream_impl.h"
#include "mx_tcp.h"
#include "mx_timer.h"

#define LOG_COMP "dpdk"

/* RFC 6335 6: the dynamic range, as Linux's default local port range. */
#define EPH_LO 32768u
#define EPH_HI 60999u
#define RSS_KEY_MAX 64u
#define RETA_MAX RTE_ETH_RSS_RETA_SIZE_512
/* Hand-off ring per (from, to) worker pair: a few bursts deep. */
#define HANDOFF_RING 1024u
/* ARP sharing ring per pair: ARP is a few packets per neighbour. */
#define ARP_RING 256u
/* mx_net_tick scans a bounded slice of the ARP table: a few ms apart. */
#define NET_TICK_MS 5u
/* Empty passes before an idle loop naps, and the nap: short enough that
 * a waking flow waits well under a delayed ACK, long enough that an idle
 * worker leaves a shared core to others. */
#define IDLE_SPIN 1024u
#define IDLE_NAP_NS 100000L

/* Process-wide set-up: written on the control thread before any loop
 * exists (mx_dpdk_start*), read-only while loops run. */
struct dpdk_setup {
	bool started;
	struct mx_port *port;           /* NULL with mx_dpdk_start_pktio */
	struct mx_dpdk_conf conf;
	uint8_t mac[6];
	uint16_t port_id;
	uint16_t mtu;
	struct rte_mempool *pool;       /* mx_dpdk_start_pktio only */
	struct mx_pktio *ios[MX_PORT_MAX_QUEUES];
	bool rx_ipv4_cksum, tx_ipv4_cksum, rx_tcp_cksum;
	bool tx_tcp_cksum;
	/* Software RSS for active opens: usable only when the device
	 * spreads flows itself and told us its key and table. */
	bool rss;
	uint8_t rss_key[RSS_KEY_MAX];
	uint16_t reta[RETA_MAX];
	uint16_t reta_size;
	/* No usable RSS with several queues: ports partitioned, segments of
	 * active opens handed to their owner, rings[from][to]. */
	bool handoff;
	struct rte_ring *rings[MX_PORT_MAX_QUEUES][MX_PORT_MAX_QUEUES];
	/* Several queues: ARP bindings shared, arp_rings[from][to]. */
	bool arp_sharing;
	struct rte_ring *arp_rings[MX_PORT_MAX_QUEUES][MX_PORT_MAX_QUEUES];
};

/* One element of a hand-off ring: the segment (data at the L4 header)
 * and what L3 found, so the owner resumes exactly where L3 left it. */
struct dp_handoff {
	struct rte_mbuf *m;
	struct mx_ipv4_info ip;
};
/* rte_ring_create_elem wants a multiple of 4 bytes. */
_Static_assert(sizeof(struct dp_handoff) % 4 == 0, "ring element size");

/* One element of an ARP sharing ring: what mx_net_arp_share_fn gives. */
struct dp_arp {
	uint32_t ip;
	uint8_t mac[6];
	uint8_t for_us;
	uint8_t pad;
};
_Static_assert(sizeof(struct dp_arp) % 4 == 0, "ring element size");

static struct dpdk_setup setup;

struct dp_loop;

struct dp_stream {
	struct mx_stream_base base;     /* first: stream.c casts */
	struct dp_loop *dl;
	struct mx_tcp_conn *conn;       /* NULL when free */
	struct mx_timer linger;
	int close_err;                  /* reported instead of TCP's, if set */
	bool has_close_err;
	bool closing;
	bool aborted;
	bool connecting;
	struct dp_stream *next_free;
};

struct dp_listener {
	struct mx_listener_base base;   /* first: stream.c casts */
	struct dp_loop *dl;
	struct mx_tcp_listener *tl;
	mx_accept_fn *fn;
	void *arg;
	struct mx_addr local;
};

struct dp_loop {
	struct mx_loop_base base;       /* first: stream.c casts */
	uint16_t queue;
	bool own_io;
	bool registered;                /* worker thread known to the EAL */
	struct mx_pktio *io;
	struct rte_mempool *pool;
	struct mx_net *net;
	struct mx_tcp_stack *tcp;
	struct dp_stream *streams;
	struct dp_stream *free_list;
	struct dp_listener listeners[MX_TCP_MAX_LISTENERS];
	uint32_t port_cursor;
	uint64_t last_net_tick;
	uint64_t last_export;
	unsigned idle_passes;
	atomic_bool wake;
	struct mx_dpdk_loop_stats st;
	struct rte_mbuf *rx[MX_PKT_BURST];
};

static const struct mx_stream_ops dp_stream_ops;
static const struct mx_loop_ops dp_loop_ops;

static struct dp_loop *
dl_of(struct mx_loop *loop)
{
	return (struct dp_loop *)loop;
}

static const struct dp_loop *
dl_c(const struct mx_loop *loop)
{
	return (const struct dp_loop *)loop;
}

static struct dp_stream *
ds(struct mx_stream *st)
{
	return (struct dp_stream *)st;
}

static const struct dp_stream *
ds_c(const struct mx_stream *st)
{
	return (const struct dp_stream *)st;
}

static struct mx_stream *
mx(struct dp_stream *s)
{
	return (struct mx_stream *)s;
}

static struct mx_loop *
lp(struct dp_loop *dl)
{
	return (struct mx_loop *)dl;
}

/* ---- process set-up ---- */

static int
conf_check(const struct mx_dpdk_conf *c, uint16_t n_queues)
{
	if (c == NULL || c->n_addrs == 0 || c->n_addrs > MX_NET_MAX_ADDRS ||
			n_queues == 0 || n_queues > MX_PORT_MAX_QUEUES)
		return -EINVAL;
	for (unsigned i = 0; i < c->n_addrs; i++) {
		if (c->addrs[i].prefix > 32 || c->addrs[i].addr == 0)
			return -EINVAL;
	}
	return 0;
}

/* Reads the Toeplitz key and redirection table the device uses, so that
 * connect() can predict the queue of a reply. Any failure leaves RSS
 * unusable for that purpose: active opens then take any free port. */
static void
rss_learn(uint16_t port_id)
{
	struct rte_eth_rss_reta_entry64 reta[RETA_MAX / RTE_ETH_RETA_GROUP_SIZE];
	struct rte_eth_rss_conf rc;
	struct rte_eth_dev_info di;
	unsigned i;

	setup.rss = false;
	if (rte_eth_dev_info_get(port_id, &di) != 0 || di.reta_size == 0 ||
			di.reta_size > RETA_MAX || di.hash_key_size == 0 ||
			di.hash_key_size > RSS_KEY_MAX)
		return;
	memset(&rc, 0, sizeof(rc));
	rc.rss_key = setup.rss_key;
	rc.rss_key_len = di.hash_key_size;
	if (rte_eth_dev_rss_hash_conf_get(port_id, &rc) != 0)
		return;
	memset(reta, 0, sizeof(reta));
	for (i = 0; i < di.reta_size / RTE_ETH_RETA_GROUP_SIZE; i++)
		reta[i].mask = UINT64_MAX;
	if (rte_eth_dev_rss_reta_query(port_id, reta, di.reta_size) != 0)
		return;
	for (i = 0; i < di.reta_size; i++)
		setup.reta[i] = reta[i / RTE_ETH_RETA_GROUP_SIZE]
			.reta[i % RTE_ETH_RETA_GROUP_SIZE];
	setup.reta_size = di.reta_size;
	setup.rss = true;
}

/* Frees the hand-off rings, and the segments still in them. */
static void
handoff_free(void)
{
	struct dp_handoff h;

	for (unsigned f = 0; f < MX_PORT_MAX_QUEUES; f++) {
		for (unsigned t = 0; t < MX_PORT_MAX_QUEUES; t++) {
			struct rte_ring *r = setup.rings[f][t];

			if (r == NULL)
				continue;
			while (rte_ring_sc_dequeue_elem(r, &h, sizeof(h)) == 0)
				rte_pktmbuf_free(h.m);
			rte_ring_free(r);
			setup.rings[f][t] = NULL;
		}
	}
	setup.handoff = false;
}

static int handoff_create(uint16_t n_queues);

static void
arp_rings_free(void)
{
	for (unsigned f = 0; f < MX_PORT_MAX_QUEUES; f++) {
		for (unsigned t = 0; t < MX_PORT_MAX_QUEUES; t++) {
			rte_ring_free(setup.arp_rings[f][t]);
			setup.arp_rings[f][t] = NULL;
		}
	}
	setup.arp_sharing = false;
}

/* Several queues, RSS or not: every worker gets every ARP binding. */
static int
arp_rings_create(uint16_t n_queues)
{
	char name[RTE_RING_NAMESIZE];

	if (n_queues < 2)
		return 0;
	for (unsigned f = 0; f < n_queues; f++) {
		for (unsigned t = 0; t < n_queues; t++) {
			if (f == t)
				continue;
			snprintf(name, sizeof(name), "mxarp%u_%u", f, t);
			setup.arp_rings[f][t] = rte_ring_create_elem(name,
					sizeof(struct dp_arp), ARP_RING, SOCKET_ID_ANY,
					RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (setup.arp_rings[f][t] == NULL) {
				arp_rings_free();
				return -ENOMEM;
			}
		}
	}
	setup.arp_sharing = true;
	return 0;
}

/* Both kinds of ring, or none. */
static int
rings_create(uint16_t n_queues)
{
	int rc = handoff_create(n_queues);

	if (rc != 0)
		return rc;
	rc = arp_rings_create(n_queues);
	if (rc != 0)
		handoff_free();
	return rc;
}

/* Several queues and no RSS we can predict: partition the ports and
 * create the rings (see "Flow ownership" above). */
static int
handoff_create(uint16_t n_queues)
{
	char name[RTE_RING_NAMESIZE];

	if (n_queues < 2 || setup.rss)
		return 0;
	for (unsigned f = 0; f < n_queues; f++) {
		for (unsigned t = 0; t < n_queues; t++) {
			if (f == t)
				continue;
			snprintf(name, sizeof(name), "mxho%u_%u", f, t);
			setup.rings[f][t] = rte_ring_create_elem(name,
					sizeof(struct dp_handoff), HANDOFF_RING, SOCKET_ID_ANY,
					RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (setup.rings[f][t] == NULL) {
				handoff_free();
				return -ENOMEM;
			}
		}
	}
	setup.handoff = true;
	return 0;
}

int
mx_dpdk_start(const struct mx_dpdk_conf *c)
{
	const struct mx_port_info *info;
	struct mx_port_conf pc;
	int rc;

	if (setup.started)
		return -EALREADY;
	rc = conf_check(c, c == NULL ? 0 : c->n_queues);
	if (rc != 0)
		return rc;
	rc = mx_port_eal_init("mxedge", c->eal != NULL ? c->eal : "");
	if (rc != 0 && rc != -EALREADY)
		return rc;
	mx_port_conf_init(&pc);
	pc.name = c->dev;
	pc.n_queues = c->n_queues;
	pc.mtu = c->mtu;
	pc.link_wait_ms = 3000;
	if (c->dev == NULL) {
		if (rte_eth_dev_count_avail() == 0) {
			MX_LOG(MX_LOG_ERR, LOG_COMP, "no DPDK port: give one with --eal (-a PCI or --vdev)");
			return -ENODEV;
		}
		RTE_ETH_FOREACH_DEV(pc.port_id)
			break;
	}
	rc = mx_port_create(&pc, &setup.port);
	if (rc != 0)
		return rc;
	info = mx_port_info(setup.port);
	memset(&setup.conf, 0, sizeof(setup.conf));
	setup.conf = *c;
	setup.conf.eal = NULL;
	setup.conf.dev = NULL;
	memcpy(setup.mac, info->mac, 6);
	setup.port_id = info->port_id;
	setup.mtu = info->mtu;
	setup.rx_ipv4_cksum = info->rx_ipv4_cksum;
	setup.tx_ipv4_cksum = info->tx_ipv4_cksum;
	setup.tx_tcp_cksum = info->tx_tcp_cksum;
	setup.rx_tcp_cksum = info->rx_tcp_cksum;
	if (info->rss && c->n_queues > 1)
		rss_learn(info->port_id);
	rc = rings_create(c->n_queues);
	if (rc != 0) {
		mx_port_free(setup.port);
		setup.port = NULL;
		return rc;
	}
	if (setup.handoff)
		MX_LOG(MX_LOG_NOTICE, LOG_COMP, "port %u (%s): no usable RSS: source "
				"ports partitioned per worker, replies handed to their owner",
				info->port_id, info->driver);
	MX_LOG(MX_LOG_NOTICE, LOG_COMP, "port %u (%s): %u queue(s), mtu %u, link %s, "
			"rss %s", info->port_id, info->driver, info->n_queues, info->mtu,
			info->link_up ? "up" : "down", setup.rss ? "on" : "off");
	setup.started = true;
	return 0;
}

int
mx_dpdk_start_pktio(const struct mx_dpdk_conf *c, const uint8_t mac[6],
		struct rte_mempool *pool, struct mx_pktio *const *ios, uint16_t n)
{
	int rc;

	if (setup.started)
		return -EALREADY;
	rc = conf_check(c, n);
	if (rc != 0)
		return rc;
	if (mac == NULL || pool == NULL || ios == NULL)
		return -EINVAL;
	memset(&setup, 0, sizeof(setup));
	setup.conf = *c;
	setup.conf.eal = NULL;
	setup.conf.dev = NULL;
	setup.conf.n_queues = n;
	memcpy(setup.mac, mac, 6);
	setup.mtu = RTE_ETHER_MTU;
	setup.pool = pool;
	for (uint16_t q = 0; q < n; q++) {
		if (ios[q] == NULL)
			return -EINVAL;
		setup.ios[q] = ios[q];
	}
	/* Memory queues have no RSS: the hand-off design, as on net_tap. */
	rc = rings_create(n);
	if (rc != 0)
		return rc;
	setup.started = true;
	return 0;
}

void
mx_dpdk_stop(void)
{
	handoff_free();
	arp_rings_free();
	/* The EAL was started by mx_dpdk_start with the port: both go. */
	if (setup.port != NULL) {
		mx_port_free(setup.port);
		mx_port_eal_cleanup();
	}
	memset(&setup, 0, sizeof(setup));
}

bool
mx_dpdk_started(void)
{
	return setup.started;
}

/* ---- packets ---- */

/* The worker that owns local port p when ports are partitioned; -1 for
 * a port outside the dynamic range (its flows follow the device). */
static int
port_owner(uint16_t p)
{
	if (p < EPH_LO || p > EPH_HI)
		return -1;
	return (int)((p - EPH_LO) % setup.conf.n_queues);
}

/* The segment is for another worker's port: hand it over. True when m
 * left (handed over, or dropped and counted on a full ring). */
static bool
handoff(struct dp_loop *dl, struct rte_mbuf *m, const struct mx_ipv4_info *ip)
{
	const uint8_t *th = rte_pktmbuf_mtod(m, const uint8_t *);
	struct dp_handoff h;
	int owner;

	/* Too short to hold the ports: the owner-less path counts it. */
	if (rte_pktmbuf_data_len(m) < 4 || ip->l4_len < 4)
		return false;
	owner = port_owner((uint16_t)(th[2] << 8 | th[3]));
	if (owner < 0 || owner == dl->queue)
		return false;
	h.m = m;
	h.ip = *ip;
	if (rte_ring_sp_enqueue_elem(setup.rings[dl->queue][owner], &h, sizeof(h)) != 0) {
		dl->st.handoff_drop_full++;
		rte_pktmbuf_free(m);
		return true;
	}
	dl->st.handoff_out++;
	return true;
}

static void tcp_deliver(struct dp_loop *dl, struct rte_mbuf *m,
		const struct mx_ipv4_info *ip);

/* mx_net's TCP hook. */
static void
dp_tcp_input(void *ctx, struct rte_mbuf *m, const struct mx_ipv4_info *ip)
{
	struct dp_loop *dl = ctx;

	if (setup.handoff && handoff(dl, m, ip))
		return;
	tcp_deliver(dl, m, ip);
}

/* Segments other workers handed to this one, a burst per ring. */
static uint16_t
handoff_drain(struct dp_loop *dl)
{
	struct dp_handoff h[MX_PKT_BURST];
	uint16_t total = 0;

	for (uint16_t f = 0; f < setup.conf.n_queues; f++) {
		struct rte_ring *r = setup.rings[f][dl->queue];
		unsigned n;

		if (r == NULL)
			continue;
		n = rte_ring_sc_dequeue_burst_elem(r, h, sizeof(h[0]), MX_PKT_BURST, NULL);
		for (unsigned i = 0; i < n; i++)
			tcp_deliver(dl, h[i].m, &h[i].ip);
		total = (uint16_t)(total + n);
	}
	dl->st.handoff_in += total;
	return total;
}

/* mx_net's ARP sharing hook: a copy of the binding to every other
 * worker (see "Flow ownership"). */
static void
dp_arp_share(void *ctx, uint32_t ip, const uint8_t mac[6], bool for_us)
{
	struct dp_loop *dl = ctx;
	struct dp_arp a;

	a.ip = ip;
	memcpy(a.mac, mac, sizeof(a.mac));
	a.for_us = for_us;
	a.pad = 0;
	for (uint16_t t = 0; t < setup.conf.n_queues; t++) {
		struct rte_ring *r = setup.arp_rings[dl->queue][t];

		if (r == NULL)
			continue;
		if (rte_ring_sp_enqueue_elem(r, &a, sizeof(a)) != 0)
			dl->st.arp_share_drop_full++;
		else
			dl->st.arp_share_out++;
	}
}

/* Bindings other workers learnt, merged into this worker's cache. */
static void
arp_drain(struct dp_loop *dl)
{
	struct dp_arp a[MX_PKT_BURST];

	for (uint16_t f = 0; f < setup.conf.n_queues; f++) {
		struct rte_ring *r = setup.arp_rings[f][dl->queue];
		unsigned n;

		if (r == NULL)
			continue;
		n = rte_ring_sc_dequeue_burst_elem(r, a, sizeof(a[0]), MX_PKT_BURST, NULL);
		for (unsigned i = 0; i < n; i++)
			mx_net_arp_merge(dl->net, a[i].ip, a[i].mac, a[i].for_us != 0,
					dl->base.now_ms);
		dl->st.arp_share_in += n;
	}
}

/* Parses m (data at the L4 header) into this worker's TCP stack. */
static void
tcp_deliver(struct dp_loop *dl, struct rte_mbuf *m, const struct mx_ipv4_info *ip)
{
	struct mx_tcp_seg seg;
	unsigned flags = 0;
	int rc;

	if (ip->l4_cksum_bad) {
		dl->st.tcp_drop_csum++;
		goto out;
	}
	/* mx_tcp_hdr_parse wants the segment contiguous; a chained mbuf
	 * only happens with scatter RX, which the port does not enable. */
	if (rte_pktmbuf_data_len(m) < ip->l4_len) {
		dl->st.tcp_drop_segmented++;
		goto out;
	}
	if (ip->l4_cksum_good)
		flags |= MX_TCP_PARSE_NO_CSUM;
	rc = mx_tcp_hdr_parse(rte_pktmbuf_mtod(m, const uint8_t *),
			rte_pktmbuf_data_len(m), ip->l4_len, ip->src, ip->dst, flags, &seg);
	if (rc == -EBADMSG)
		dl->st.tcp_drop_csum++;
	else if (rc != 0)
		dl->st.tcp_drop_malformed++;
	else
		mx_tcp_input(dl->tcp, &seg, dl->base.now_ms);
out:
	/* mx_tcp_input copied the payload. */
	rte_pktmbuf_free(m);
}

/* The engine's output: one segment into one fresh mbuf, then IPv4. A
 * segment we cannot send is dropped and counted; TCP retransmits it.
 * With the port's TCP checksum offload the build skips the software sum
 * and mx_net writes the pseudo-header sum (the segment is contiguous). */
static void
dp_output(const struct mx_tcp_seg *seg, void *arg)
{
	struct dp_loop *dl = arg;
	size_t size = MX_TCP_HDR_MIN + (size_t)seg->opt_len + seg->len;
	struct rte_mbuf *m;
	uint8_t *p;

	m = rte_pktmbuf_alloc(dl->pool);
	if (m == NULL) {
		dl->st.tx_nombuf++;
		return;
	}
	if (rte_pktmbuf_headroom(m) < MX_NET_HDR_ROOM || size > UINT16_MAX ||
			rte_pktmbuf_tailroom(m) < size) {
		dl->st.tx_build_failed++;
		rte_pktmbuf_free(m);
		return;
	}
	p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)size);
	if (p == NULL || mx_tcp_seg_build_flags(seg, p, size,
			setup.tx_tcp_cksum ? MX_TCP_BUILD_NO_CSUM : 0) < 0) {
		dl->st.tx_build_failed++;
		rte_pktmbuf_free(m);
		return;
	}
	if (mx_net_ipv4_output(dl->net, m, seg->saddr, seg->daddr, IPPROTO_TCP,
			dl->base.now_ms) != 0)
		dl->st.tx_net_dropped++;
}

/* ---- streams ---- */

static struct dp_stream *
stream_alloc(struct dp_loop *dl)
{
	struct dp_stream *s = dl->free_list;

	if (s == NULL)
		return NULL;
	dl->free_list = s->next_free;
	mx_stream_base_init(&s->base, &dp_stream_ops, lp(dl));
	s->dl = dl;
	s->conn = NULL;
	s->close_err = 0;
	s->has_close_err = false;
	s->closing = false;
	s->aborted = false;
	s->connecting = false;
	s->next_free = NULL;
	dl->base.n_streams++;
	return s;
}

static void
stream_release(struct dp_stream *s)
{
	struct dp_loop *dl = s->dl;

	mx_timer_cancel(dl->base.wheel, &s->linger);
	s->conn = NULL;
	s->base.cb = NULL;
	s->next_free = dl->free_list;
	dl->free_list = s;
	dl->base.n_streams--;
}

static void
addr_v4(struct mx_addr *a, uint32_t ip, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->family = AF_INET;
	a->ip.v4.s_addr = ip;
	a->port = port;
}

static void
ev_readable(struct dp_stream *s)
{
	size_t n;

	s->base.peer_closed = mx_tcp_peer_closed(s->conn);
	if (s->closing || s->aborted) {
		/* The stream API: input after close is read and dropped. */
		n = mx_tcp_readable(s->conn);
		mx_tcp_consume(s->conn, n);
		s->dl->base.stats.discarded_bytes += n;
		return;
	}
	if (s->base.cb != NULL)
		s->base.cb->on_readable(mx(s), s->base.cb_arg);
}

static void
ev_connected(struct dp_stream *s, int err)
{
	s->connecting = false;
	if (err != 0)
		s->dl->base.stats.connect_errors++;
	/* mx_stream_close before the connect completed: no on_connected. */
	if (s->closing || s->aborted || s->base.cb == NULL)
		return;
	s->base.cb->on_connected(mx(s), err, s->base.cb_arg);
}

static void
ev_closed(struct dp_stream *s, int err)
{
	struct dp_loop *dl = s->dl;
	const struct mx_stream_cb *cb = s->base.cb;
	void *arg = s->base.cb_arg;

	if (s->has_close_err)
		err = s->close_err;
	else if (err == -ECONNRESET || err == -ETIMEDOUT)
		dl->base.stats.resets++;
	s->base.peer_closed = true;
	s->conn = NULL;
	if (cb != NULL)
		cb->on_closed(mx(s), err, arg);
	stream_release(s);
}

static void
dp_event(struct mx_tcp_conn *c, enum mx_tcp_event ev, int err, void *user)
{
	struct dp_stream *s = user;

	(void)c;
	if (s == NULL || s->conn == NULL)
		return;
	switch (ev) {
	case MX_TCP_EV_READABLE:
		ev_readable(s);
		break;
	case MX_TCP_EV_WRITABLE:
		if (!s->closing && !s->aborted && s->base.cb != NULL)
			s->base.cb->on_writable(mx(s), s->base.cb_arg);
		break;
	case MX_TCP_EV_CONNECTED:
		ev_connected(s, err);
		break;
	case MX_TCP_EV_CLOSED:
		ev_closed(s, err);
		break;
	}
}

static size_t
dp_read_view(struct mx_stream *st, const uint8_t **p)
{
	struct dp_stream *s = ds(st);

	*p = NULL;
	if (s->conn == NULL)
		return 0;
	return mx_tcp_read_view(s->conn, p);
}

static void
dp_consume(struct mx_stream *st, size_t n)
{
	struct dp_stream *s = ds(st);
	size_t have;

	if (s->conn == NULL)
		return;
	have = mx_tcp_readable(s->conn);
	if (n > have)
		n = have;
	mx_tcp_consume(s->conn, n);
	s->dl->base.stats.bytes_in += n;
}

static size_t
dp_readable(const struct mx_stream *st)
{
	const struct dp_stream *s = ds_c(st);

	return s->conn == NULL ? 0 : mx_tcp_readable(s->conn);
}

static void
dp_want_read(struct mx_stream *st)
{
	struct dp_stream *s = ds(st);

	if (s->conn != NULL)
		mx_tcp_want_read(s->conn);
}

static long
dp_send(struct mx_stream *st, const void *p, size_t len)
{
	struct dp_stream *s = ds(st);
	long n;

	if (s->conn == NULL || s->closing || s->aborted)
		return -EPIPE;
	n = mx_tcp_send(s->conn, p, len);
	if (n < 0)
		return -EPIPE;
	s->dl->base.stats.bytes_out += (uint64_t)n;
	return n;
}

static size_t
dp_send_space(const struct mx_stream *st)
{
	const struct dp_stream *s = ds_c(st);

	if (s->conn == NULL || s->closing || s->aborted)
		return 0;
	return mx_tcp_send_space(s->conn);
}

static size_t
dp_send_pending(const struct mx_stream *st)
{
	const struct dp_stream *s = ds_c(st);

	return s->conn == NULL ? 0 : mx_tcp_send_pending(s->conn);
}

/* linger_ms ran out on a graceful close: cut it with a RST; err 0 when
 * every byte had been acknowledged (only the peer's FIN was missing). */
static void
on_linger(struct mx_timer *t, void *arg)
{
	struct dp_stream *s = arg;

	(void)t;
	if (s->conn == NULL || s->aborted)
		return;
	s->dl->base.stats.linger_timeouts++;
	s->has_close_err = true;
	s->close_err = mx_tcp_send_pending(s->conn) == 0 ? 0 : -ETIMEDOUT;
	s->aborted = true;
	mx_tcp_abort(s->conn);
}

static void
dp_close(struct mx_stream *st)
{
	struct dp_stream *s = ds(st);
	size_t n;

	if (s->conn == NULL || s->closing || s->aborted)
		return;
	s->closing = true;
	n = mx_tcp_readable(s->conn);
	mx_tcp_consume(s->conn, n);
	s->dl->base.stats.discarded_bytes += n;
	mx_tcp_close(s->conn);
	mx_timer_arm(s->dl->base.wheel, &s->linger,
			s->dl->base.now_ms + s->dl->base.conf.linger_ms);
}

static void
dp_abort(struct mx_stream *st)
{
	struct dp_stream *s = ds(st);

	if (s->conn == NULL || s->aborted)
		return;
	s->aborted = true;
	s->has_close_err = true;
	s->close_err = -ECONNABORTED;
	s->dl->base.stats.aborts++;
	mx_tcp_abort(s->conn);
}

/* ---- listening and connecting ---- */

static bool
addr_is_ours(uint32_t ip)
{
	for (unsigned i = 0; i < setup.conf.n_addrs; i++) {
		if (setup.conf.addrs[i].addr == ip)
			return true;
	}
	return false;
}

static void
on_accept(struct mx_tcp_listener *tl, struct mx_tcp_conn *c, void *arg)
{
	struct dp_listener *l = arg;
	struct dp_loop *dl = l->dl;
	struct dp_stream *s;
	uint32_t la, ra;
	uint16_t lport, rport;

	(void)tl;
	s = stream_alloc(dl);
	if (s == NULL) {
		dl->base.stats.refused_max_streams++;
		mx_tcp_abort(c);
		return;
	}
	mx_tcp_conn_tuple(c, &la, &lport, &ra, &rport);
	addr_v4(&s->base.local, la, lport);
	addr_v4(&s->base.peer, ra, rport);
	s->conn = c;
	mx_tcp_conn_set_user(c, s);
	dl->base.stats.accepts++;
	l->fn((struct mx_listener *)l, mx(s), l->arg);
	if (s->base.cb == NULL && !s->aborted) {
		MX_LOG_RL(MX_LOG_WARN, LOG_COMP, "accepted stream left without callbacks: aborted");
		dp_abort(mx(s));
	}
}

static int
dp_listen(struct mx_loop *loop, const struct mx_addr *addr,
		mx_accept_fn *fn, void *arg, struct mx_listener **out)
{
	struct dp_loop *dl = dl_of(loop);
	struct dp_listener *l = NULL;
	uint32_t ip;
	int rc;

	if (addr->family != AF_INET)
		return -EAFNOSUPPORT;
	/* XXX: port 0 (pick one) is a kernel-transport nicety the engine
	 * does not use; refuse it rather than guess. */
	if (addr->port == 0)
		return -EINVAL;
	/* The listen port applies to each of our addresses unless the
	 * listen address is one of them. */
	ip = addr->ip.v4.s_addr;
	if (!addr_is_ours(ip))
		ip = 0;
	for (unsigned i = 0; i < MX_TCP_MAX_LISTENERS; i++) {
		if (dl->listeners[i].tl == NULL) {
			l = &dl->listeners[i];
			break;
		}
	}
	if (l == NULL)
		return -ENOSPC;
	memset(l, 0, sizeof(*l));
	l->base.ops = &dp_loop_ops;
	l->base.loop = loop;
	l->dl = dl;
	l->fn = fn;
	l->arg = arg;
	l->local = *addr;
	rc = mx_tcp_listen(dl->tcp, ip, addr->port, on_accept, l, &l->tl);
	if (rc != 0) {
		l->tl = NULL;
		return rc;
	}
	*out = (struct mx_listener *)l;
	return 0;
}

static void
dp_listener_close(struct mx_listener *ml)
{
	struct dp_listener *l = (struct dp_listener *)ml;

	if (l->tl == NULL)
		return;
	mx_tcp_unlisten(l->tl);
	l->tl = NULL;
}

static void
dp_listener_local(const struct mx_listener *ml, struct mx_addr *out)
{
	*out = ((const struct dp_listener *)ml)->local;
}

/* The source address for dst: ours on dst's subnet, else the first. */
static uint32_t
source_for(uint32_t dst)
{
	for (unsigned i = 0; i < setup.conf.n_addrs; i++) {
		const struct mx_net_addr *a = &setup.conf.addrs[i];
		uint32_t mask = a->prefix == 0 ? 0 : htonl(~0u << (32 - a->prefix));

		if ((a->addr & mask) == (dst & mask))
			return a->addr;
	}
	return setup.conf.addrs[0].addr;
}

/* Would the device put the reply (raddr:rport -> laddr:lport) on queue?
 * The NIC hashes the received tuple with its Toeplitz key and looks the
 * hash up in its redirection table; we do the same in software. */
static bool
port_maps_here(uint16_t queue, uint32_t laddr, uint16_t lport,
		uint32_t raddr, uint16_t rport)
{
	struct rte_ipv4_tuple t;
	uint32_t h;

	if (setup.handoff)
		return port_owner(lport) == queue;
	if (!setup.rss)
		return true;
	memset(&t, 0, sizeof(t));
	t.src_addr = ntohl(raddr);
	t.dst_addr = ntohl(laddr);
	t.sport = rport;
	t.dport = lport;
	h = rte_softrss((uint32_t *)&t, RTE_THASH_V4_L4_LEN, setup.rss_key);
	return setup.reta[h % setup.reta_size] == queue;
}

static int
pick_and_connect(struct dp_loop *dl, uint32_t laddr, uint32_t raddr,
		uint16_t rport, struct dp_stream *s)
{
	const uint32_t range = EPH_HI - EPH_LO + 1;
	int rc = -EADDRNOTAVAIL;

	for (uint32_t i = 0; i < range; i++) {
		uint16_t lport = (uint16_t)(EPH_LO + dl->port_cursor % range);

		dl->port_cursor++;
		if (!port_maps_here(dl->queue, laddr, lport, raddr, rport))
			continue;
		rc = mx_tcp_connect(dl->tcp, laddr, lport, raddr, rport, s, &s->conn);
		if (rc != -EADDRINUSE) {
			if (rc == 0)
				addr_v4(&s->base.local, laddr, lport);
			return rc;
		}
	}
	dl->st.connect_no_port++;
	return rc;
}

static int
dp_connect(struct mx_loop *loop, const struct mx_addr *dst,
		const struct mx_stream_cb *cb, void *arg, struct mx_stream **out)
{
	struct dp_loop *dl = dl_of(loop);
	struct dp_stream *s;
	uint32_t laddr;
	int rc;

	if (dst->family != AF_INET || dst->port == 0) {
		dl->base.stats.connect_errors++;
		return -EAFNOSUPPORT;
	}
	s = stream_alloc(dl);
	if (s == NULL) {
		dl->base.stats.connect_errors++;
		return -ENOBUFS;
	}
	laddr = source_for(dst->ip.v4.s_addr);
	rc = pick_and_connect(dl, laddr, dst->ip.v4.s_addr, dst->port, s);
	if (rc != 0) {
		dl->base.stats.connect_errors++;
		stream_release(s);
		return rc == -EADDRNOTAVAIL ? rc : -ENOBUFS;
	}
	s->base.peer = *dst;
	s->base.cb = cb;
	s->base.cb_arg = arg;
	s->connecting = true;
	dl->base.stats.connects++;
	*out = mx(s);
	return 0;
}

/* ---- the loop ---- */

/* An idle pass may nap (a syscall, but never while packets or work are
 * pending): a poll-mode worker would otherwise hold its core at 100% on a
 * machine that shares cores. mx_loop_wakeup() cuts the spin short. */
static void
idle_nap(struct dp_loop *dl, uint16_t got, int timeout_ms)
{
	struct timespec ts = { 0, IDLE_NAP_NS };

	if (got != 0 || timeout_ms == 0 || atomic_exchange(&dl->wake, false)) {
		dl->idle_passes = 0;
		return;
	}
	if (++dl->idle_passes < IDLE_SPIN)
		return;
	dl->st.idle_naps++;
	nanosleep(&ts, NULL);
}

static void
thread_register(struct dp_loop *dl)
{
	dl->registered = true;
	/* The engine's worker is a plain pthread: registering it gives it an
	 * lcore id, hence the mempool's per-lcore cache. Without it (no slot
	 * left) the pool still works, through its ring. */
	if (rte_lcore_id() == LCORE_ID_ANY && rte_thread_register() != 0)
		MX_LOG(MX_LOG_WARN, LOG_COMP, "worker %u: not registered with the EAL",
				dl->base.conf.worker_id);
}

/* Copies the counters for /metrics (dpdk_priv.h): a few hundred bytes
 * every DP_EXPORT_MS, off the per-packet path. */
static void
publish(struct dp_loop *dl)
{
	struct mx_tcp_stats ts;
	struct dp_export_loop l;

	memset(&ts, 0, sizeof(ts));
	if (dl->tcp != NULL)
		mx_tcp_get_stats(dl->tcp, &ts);
	l.glue = &dl->st;
	l.tcp = &ts;
	l.net = dl->net;
	l.conns = dl->tcp != NULL ? mx_tcp_n_conns(dl->tcp) : 0;
	l.time_wait = dl->tcp != NULL ? mx_tcp_n_time_wait(dl->tcp) : 0;
	l.io = dl->io;
	dp_export_loop(dl->queue, &l);
	if (dl->queue == 0 && setup.port != NULL)
		dp_export_port(setup.port_id, setup.conf.n_queues);
}

/* One pass at time now: receive, process, timers, transmit. */
static uint16_t
dp_pass(struct dp_loop *dl, uint64_t now)
{
	uint16_t got;

	dl->base.now_ms = now;
	mx_pktio_clock(dl->io, now);
	got = mx_pktio_rx_burst(dl->io, dl->rx, MX_PKT_BURST);
	if (got != 0) {
		dl->st.rx_frames += got;
		dl->st.rx_bursts++;
		mx_net_input(dl->net, dl->rx, got, now);
	}
	if (setup.handoff)
		got = (uint16_t)(got + handoff_drain(dl));
	if (setup.arp_sharing)
		arp_drain(dl);
	mx_tcp_tick(dl->tcp, now);
	mx_loop_base_tick(&dl->base);
	if (now - dl->last_net_tick >= NET_TICK_MS) {
		mx_net_tick(dl->net, now);
		dl->last_net_tick = now;
	}
	mx_tcp_flush(dl->tcp);
	mx_pktio_flush(dl->io);
	if (now - dl->last_export >= DP_EXPORT_MS) {
		publish(dl);
		dl->last_export = now;
	}
	dl->base.stats.passes++;
	return got;
}

static int
dp_run_once(struct mx_loop *loop, int timeout_ms)
{
	struct dp_loop *dl = dl_of(loop);
	uint16_t got;

	if (!dl->registered)
		thread_register(dl);
	got = dp_pass(dl, mx_clock_ms());
	idle_nap(dl, got, timeout_ms);
	return 0;
}

unsigned
mx_dpdk_loop_pass_at(struct mx_loop *loop, uint64_t now_ms)
{
	struct dp_loop *dl = dl_of(loop);

	/* Time never goes back: the wheel and TCP's RTT samples rely on it. */
	return dp_pass(dl, MX_MAX(now_ms, dl->base.now_ms));
}

static void
dp_wakeup(struct mx_loop *loop)
{
	atomic_store(&dl_of(loop)->wake, true);
}

static void
dp_free(struct mx_loop *loop)
{
	struct dp_loop *dl = dl_of(loop);

	for (unsigned i = 0; i < MX_TCP_MAX_LISTENERS; i++)
		dp_listener_close((struct mx_listener *)&dl->listeners[i]);
	if (dl->tcp != NULL) {
		for (unsigned i = 0; dl->streams != NULL && i < dl->base.conf.max_streams; i++) {
			struct dp_stream *s = &dl->streams[i];

			if (s->conn != NULL && !s->aborted)
				dp_abort(mx(s));
		}
		/* Delivers the on_closed of every aborted stream, sends the RSTs. */
		mx_tcp_flush(dl->tcp);
		mx_pktio_flush(dl->io);
		if (dl->net != NULL && dl->io != NULL)
			publish(dl);
		mx_tcp_stack_free(dl->tcp);
	}
	mx_net_free(dl->net);
	if (dl->own_io)
		mx_pktio_free(dl->io);
	free(dl->streams);
	mx_loop_base_fini(&dl->base);
	free(dl);
}

static int
tcp_create(struct dp_loop *dl)
{
	struct mx_tcp_conf tc;
	uint32_t mtu = setup.mtu != 0 ? setup.mtu : RTE_ETHER_MTU;

	mx_tcp_conf_defaults(&tc);
	tc.max_conns = dl->base.conf.max_streams;
	/* Half-open entries may take any free slot: a full table hands the
	 * oldest one's slot to whoever needs it (tcp_stack.c), and every
	 * SYN-ACK's ISN is a SYN cookie, so a reclaimed peer still gets in
	 * and a flood never starves established sessions. Answering with
	 * stateless cookies early instead (RFC 4987 3.6) lost sessions: a
	 * cookie handshake whose final ACK is dropped leaves a
	 * server-speaks-first client waiting for a 220 nobody will send,
	 * and 10,000 opens at once over memif lost 450 to 1,760 that way. */
	tc.syn_backlog = tc.max_conns;
	/* One TIME_WAIT entry (88 bytes) per connection slot: every session
	 * of a full table can close into TIME_WAIT at once without evicting
	 * the guard of another. */
	tc.tw_slots = MX_MAX(tc.tw_slots, tc.max_conns);
	tc.rcvbuf = (uint32_t)MX_MIN(dl->base.conf.rcvbuf_bytes, (size_t)UINT32_MAX);
	tc.sndbuf = (uint32_t)MX_MIN(dl->base.conf.sndbuf_bytes, (size_t)UINT32_MAX);
	/* RFC 9293 3.7.1: MSS = MTU - 40 (IPv4 and TCP without options). */
	tc.mss = (uint16_t)MX_MIN(mtu - 40u, 1460u);
	tc.wheel = dl->base.wheel;
	tc.output = dp_output;
	tc.output_arg = dl;
	tc.event = dp_event;
	if (getrandom(tc.isn_secret, sizeof(tc.isn_secret), 0) != (ssize_t)sizeof(tc.isn_secret) ||
			getrandom(tc.cookie_secret, sizeof(tc.cookie_secret), 0) !=
			(ssize_t)sizeof(tc.cookie_secret))
		return -EIO;
	return mx_tcp_stack_create(&tc, dl->base.now_ms, &dl->tcp);
}

static int
net_create(struct dp_loop *dl)
{
	struct mx_net_conf nc;

	mx_net_conf_init(&nc);
	memcpy(nc.mac, setup.mac, 6);
	memcpy(nc.addrs, setup.conf.addrs, sizeof(nc.addrs));
	nc.n_addrs = setup.conf.n_addrs;
	nc.gateway = setup.conf.gateway;
	nc.pool = dl->pool;
	nc.io = dl->io;
	nc.tcp_input = dp_tcp_input;
	nc.tcp_ctx = dl;
	if (setup.arp_sharing) {
		nc.arp_share = dp_arp_share;
		nc.arp_ctx = dl;
	}
	nc.rx_ipv4_cksum = setup.rx_ipv4_cksum;
	nc.tx_ipv4_cksum = setup.tx_ipv4_cksum;
	nc.tx_tcp_cksum = setup.tx_tcp_cksum;
	return mx_net_create(&nc, dl->base.now_ms, &dl->net);
}

static int
io_create(struct dp_loop *dl)
{
	if (setup.port == NULL) {
		dl->io = setup.ios[dl->queue];
		dl->pool = setup.pool;
		return 0;
	}
	struct mx_pktio_fault_conf fc = setup.conf.fault;
	struct mx_pktio *bare;
	int rc;

	dl->pool = mx_port_pool(setup.port, dl->queue);
	dl->own_io = true;
	rc = mx_pktio_ethdev_create(setup.port_id, dl->queue, &bare);
	if (rc != 0)
		return rc;
	/* With no fault asked this hands back the bare queue: the layer
	 * costs nothing when off. Each queue its own stream, the same run
	 * after run. */
	fc.seed += dl->queue;
	rc = mx_pktio_fault_create(bare, &fc, &dl->io);
	if (rc != 0) {
		mx_pktio_free(bare);
		return rc;
	}
	if (dl->io != bare)
		MX_LOG(MX_LOG_WARN, LOG_COMP, "queue %u: fault injection on (loss %.0f%%, "
				"reorder %.0f%%, dup %.0f%%, delay %u+-%u ms, seed %" PRIu64 ")",
				dl->queue, fc.rx.loss_pct, fc.rx.reorder_pct, fc.rx.dup_pct,
				fc.rx.delay_ms, fc.rx.jitter_ms, fc.seed);
	return 0;
}

static int
streams_create(struct dp_loop *dl)
{
	unsigned n = dl->base.conf.max_streams;

	dl->streams = calloc(n, sizeof(*dl->streams));
	if (dl->streams == NULL)
		return -ENOMEM;
	for (unsigned i = n; i-- > 0;) {
		struct dp_stream *s = &dl->streams[i];

		mx_timer_init(&s->linger, on_linger, s);
		s->dl = dl;
		s->next_free = dl->free_list;
		dl->free_list = s;
	}
	return 0;
}

int
mx_dpdk_loop_create(const struct mx_loop_conf *conf, struct mx_loop **out)
{
	struct dp_loop *dl;
	int rc;

	/* Not started: the transport is not available to this process,
	 * which callers report like a build without it. */
	if (!setup.started)
		return -ENOTSUP;
	if (conf->worker_id >= setup.conf.n_queues)
		return -EINVAL;
	dl = calloc(1, sizeof(*dl));
	if (dl == NULL)
		return -ENOMEM;
	rc = mx_loop_base_init(&dl->base, &dp_loop_ops, conf);
	if (rc != 0) {
		free(dl);
		return rc;
	}
	dl->queue = (uint16_t)conf->worker_id;
	dl->port_cursor = (uint32_t)rte_rand();
	atomic_init(&dl->wake, false);
	rc = io_create(dl);
	if (rc == 0)
		rc = streams_create(dl);
	if (rc == 0)
		rc = net_create(dl);
	if (rc == 0)
		rc = tcp_create(dl);
	if (rc != 0) {
		dp_free(lp(dl));
		return rc;
	}
	/* RFC 5227 announcement, leaves with the first pass's TX flush. */
	mx_net_start(dl->net, dl->base.now_ms);
	*out = lp(dl);
	return 0;
}

int
mx_dpdk_loop_fault_stats(const struct mx_loop *loop, bool tx, struct mx_pktio_fault_stats *out)
{
	return mx_pktio_fault_stats(dl_c(loop)->io, tx, out);
}

void
mx_dpdk_loop_stats(const struct mx_loop *loop, struct mx_dpdk_loop_stats *out)
{
	*out = dl_c(loop)->st;
}

void
mx_dpdk_loop_tcp_stats(const struct mx_loop *loop, struct mx_tcp_stats *out)
{
	mx_tcp_get_stats(dl_c(loop)->tcp, out);
}

const struct mx_net *
mx_dpdk_loop_net(const struct mx_loop *loop)
{
	return dl_c(loop)->net;
}

size_t
mx_dpdk_stream_size(void)
{
	return sizeof(struct dp_stream) + mx_tcp_conn_size();
}

static const struct mx_stream_ops dp_stream_ops = {
	.read_view = dp_read_view,
	.consume = dp_consume,
	.readable = dp_readable,
	.want_read = dp_want_read,
	.send = dp_send,
	.send_space = dp_send_space,
	.send_pending = dp_send_pending,
	.close = dp_close,
	.abort = dp_abort,
};

static const struct mx_loop_ops dp_loop_ops = {
	.run_once = dp_run_once,
	.wakeup = dp_wakeup,
	.listen = dp_listen,
	.listener_close = dp_listener_close,
	.listener_local = dp_listener_local,
	.connect = dp_connect,
	.free = dp_free,
};
