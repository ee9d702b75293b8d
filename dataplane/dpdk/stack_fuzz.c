/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stack_fuzz.c: arbitrary input driven through the whole DPDK transport
 * (Ethernet, ARP, IPv4, the glue's TCP input, the TCP engine, SYN
 * cookies, the stream layer) of one loop with a listener on port 25 whose
 * owner speaks first, like SMTP: a 220 on accept, a reply per read, a
 * close on EOF. The pktio is the memory backend and time is virtual
 * (mx_dpdk_loop_pass_at). The loop draws fresh ISN and cookie secrets
 * (getrandom), so the harness tracks the sequence numbers mxedge sends
 * and lets records use them: established flows, FIN/RST in window and
 * cookie ACKs are reached whatever the secrets.
 *
 * The input is a series of records (at most 64):
 *
 *   byte 0   kind (low 2 bits) and the time to advance before it, in
 *            units of 25 ms (high 6 bits: up to 1.6 s, so RTO, delayed
 *            ACK, SYN-ACK retries and TIME_WAIT all fire)
 *   kind 0   raw frame: 2-byte length, then that many bytes as they are
 *   kind 1   TCP segment from client c (byte 1 & 7: 198.18.0.10+c, port
 *            40000+c): byte 2 flags, byte 3 mode (bit 0: seq is the
 *            client's next, bit 1: ack is what we sent next, as tracked
 *            from our own frames; else 4-byte values follow), 2-byte
 *            window, 1-byte payload length, the payload; checksums right
 *   kind 2   SYN burst: byte 1 * 2 SYNs (64 per input at most) from
 *            spoofed addresses and ports: they fill the SYN backlog, so
 *            the next SYNs are answered with cookies
 *   kind 3   like kind 1, with the checksum left wrong
 *
 * Whatever mxedge sends is captured (tracking the sequence numbers per
 * client) and freed; after each input the loop is freed and the mbuf pool
 * must be back at its baseline: a leak aborts like a crash.
 *
 * The EAL starts on the first input (no hugepages, nothing shared); if it
 * cannot, every input is skipped with one message.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <rte_arp.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "mx_dpdk.h"
#include "mx_net.h"
#include "mx_pktio.h"
#include "mx_port.h"
#include "mx_stream.h"
#include "mx_tcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_CLIENTS 8u
#define MAX_RECORDS 64u
#define FRAME_MAX 1600u
#define OUR_IP 0xc6120002u     /* 198.18.0.2, host order */
#define CLIENT_IP 0xc612000au  /* 198.18.0.10 + c */

static const uint8_t fz_our_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };
static const uint8_t fz_peer_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };

struct client {
	uint32_t peer_nxt;  /* the client's next sequence number */
	uint32_t our_nxt;   /* what mxedge sent next (SND.NXT as seen) */
};

/* Harness state, made once per process. */
static struct rte_mempool *fz_pool;
static struct mx_pktio *fz_io;
static int fz_state; /* 0 not tried, 1 ready, -1 unavailable */
static struct client fz_cl[N_CLIENTS];
static unsigned fz_burst_port;
static unsigned fz_burst_left; /* SYNs of bursts left for this input */

/* ---- the owner: speaks first, answers each read, closes on EOF ---- */

static void
fz_readable(struct mx_stream *st, void *arg)
{
	const uint8_t *p;
	size_t n;

	(void)arg;
	n = mx_stream_read_view(st, &p);
	if (n > 0 && p == NULL)
		abort();
	mx_stream_consume(st, n);
	if (n > 0)
		(void)mx_stream_send(st, "250 ok\r\n", 8);
	if (mx_stream_peer_closed(st))
		mx_stream_close(st);
}

static void
fz_closed(struct mx_stream *st, int err, void *arg)
{
	(void)st;
	(void)err;
	(void)arg;
}

static const struct mx_stream_cb fz_cb = {
	.on_readable = fz_readable,
	.on_writable = NULL,
	.on_connected = NULL,
	.on_closed = fz_closed,
};

static void
fz_accept(struct mx_listener *l, struct mx_stream *st, void *arg)
{
	(void)l;
	(void)arg;
	mx_stream_set_cb(st, &fz_cb, NULL);
	(void)mx_stream_send(st, "220 fuzz ESMTP\r\n", 16);
}

/* ---- frames ---- */

static void
fz_inject(const uint8_t *b, size_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(fz_pool);
	char *d;

	if (m == NULL)
		abort();
	len = MX_MIN(len, (size_t)rte_pktmbuf_tailroom(m));
	d = rte_pktmbuf_append(m, (uint16_t)len);
	if (d == NULL)
		abort();
	memcpy(d, b, len);
	if (mx_pktio_mem_inject(fz_io, &m, 1) != 1)
		rte_pktmbuf_free(m);
}

static size_t
fz_eth_ip(uint8_t *b, uint32_t src, size_t l4_len)
{
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)b;
	struct rte_ipv4_hdr *ih = (struct rte_ipv4_hdr *)(b + 14);

	memcpy(eh->dst_addr.addr_bytes, fz_our_mac, 6);
	memcpy(eh->src_addr.addr_bytes, fz_peer_mac, 6);
	eh->ether_type = htons(RTE_ETHER_TYPE_IPV4);
	memset(ih, 0, sizeof(*ih));
	ih->version_ihl = 0x45;
	ih->total_length = htons((uint16_t)(20 + l4_len));
	ih->time_to_live = 64;
	ih->next_proto_id = IPPROTO_TCP;
	ih->src_addr = src;
	ih->dst_addr = htonl(OUR_IP);
	ih->hdr_checksum = rte_ipv4_cksum(ih);
	return 34 + l4_len;
}

/* An ARP request from each client: the stack learns their MACs. */
static void
fz_arp_clients(void)
{
	uint8_t b[64];
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)b;
	struct rte_arp_hdr *ah = (struct rte_arp_hdr *)(b + 14);

	for (unsigned c = 0; c < N_CLIENTS; c++) {
		memset(b, 0, sizeof(b));
		memset(eh->dst_addr.addr_bytes, 0xff, 6);
		memcpy(eh->src_addr.addr_bytes, fz_peer_mac, 6);
		eh->ether_type = htons(RTE_ETHER_TYPE_ARP);
		ah->arp_hardware = htons(RTE_ARP_HRD_ETHER);
		ah->arp_protocol = htons(RTE_ETHER_TYPE_IPV4);
		ah->arp_hlen = 6;
		ah->arp_plen = 4;
		ah->arp_opcode = htons(RTE_ARP_OP_REQUEST);
		memcpy(ah->arp_data.arp_sha.addr_bytes, fz_peer_mac, 6);
		ah->arp_data.arp_sip = htonl(CLIENT_IP + c);
		ah->arp_data.arp_tip = htonl(OUR_IP);
		fz_inject(b, 60);
	}
}

static void
fz_seg(uint32_t src, uint16_t sport, uint32_t seq, uint32_t ack, uint8_t flags,
		uint16_t wnd, const uint8_t *payload, size_t len, bool bad_csum)
{
	uint8_t b[FRAME_MAX];
	struct mx_tcp_seg s;
	long l4;

	memset(&s, 0, sizeof(s));
	s.saddr = src;
	s.daddr = htonl(OUR_IP);
	s.sport = sport;
	s.dport = 25;
	s.seq = seq;
	s.ack = ack;
	s.flags = flags;
	s.wnd = wnd;
	s.len = (uint32_t)len;
	s.payload = payload;
	l4 = mx_tcp_seg_build(&s, b + 34, sizeof(b) - 34);
	if (l4 < 20)
		abort();
	if (bad_csum)
		b[34 + 16] ^= 0x5a;
	fz_inject(b, fz_eth_ip(b, src, (size_t)l4));
}

/* Takes every frame mxedge sent; remembers per client what it sent next. */
static void
fz_capture(void)
{
	struct rte_mbuf *out[MX_PKT_BURST];
	struct mx_tcp_seg g;
	unsigned n, i;

	while ((n = mx_pktio_mem_capture(fz_io, out, MX_PKT_BURST)) > 0) {
		for (i = 0; i < n; i++) {
			const uint8_t *p = rte_pktmbuf_mtod(out[i], const uint8_t *);
			size_t len = rte_pktmbuf_data_len(out[i]);
			const struct rte_ipv4_hdr *ih = (const void *)(p + 14);
			uint32_t c;

			if (len < 54 || p[12] != 0x08 || p[13] != 0x00 ||
					ih->next_proto_id != IPPROTO_TCP)
				continue;
			c = ntohl(ih->dst_addr) - CLIENT_IP;
			/* What we emit must parse, checksum included. */
			if (mx_tcp_hdr_parse(p + 34, len - 34, ntohs(ih->total_length) - 20u,
					ih->src_addr, ih->dst_addr, 0, &g) != 0)
				abort();
			if (c < N_CLIENTS && g.dport == 40000 + c)
				fz_cl[c].our_nxt = g.seq + g.len +
					((g.flags & (MX_TCP_SYN | MX_TCP_FIN)) != 0);
		}
		rte_pktmbuf_free_bulk(out, n);
	}
}

/* ---- records ---- */

static size_t
rec_raw(const uint8_t *d, size_t left)
{
	size_t len;

	if (left < 2)
		return left;
	len = MX_MIN((size_t)(d[0] << 8 | d[1]), left - 2);
	fz_inject(d + 2, len);
	return 2 + len;
}

static size_t
rec_seg(const uint8_t *d, size_t left, bool bad_csum)
{
	struct client *cl;
	uint32_t seq, ack;
	size_t off = 6, len;
	unsigned c;

	if (left < 6)
		return left;
	c = d[0] & (N_CLIENTS - 1);
	cl = &fz_cl[c];
	seq = cl->peer_nxt;
	ack = cl->our_nxt;
	if ((d[2] & 1) == 0) {
		if (left < off + 4)
			return left;
		memcpy(&seq, d + off, 4);
		off += 4;
	}
	if ((d[2] & 2) == 0) {
		if (left < off + 4)
			return left;
		memcpy(&ack, d + off, 4);
		off += 4;
	}
	len = MX_MIN((size_t)d[5], left - off);
	fz_seg(htonl(CLIENT_IP + c), (uint16_t)(40000 + c), seq, ack, d[1],
			(uint16_t)(d[3] << 8 | d[4]), d + off, len, bad_csum);
	/* The client's view of its own stream moves on. */
	cl->peer_nxt = seq + (uint32_t)len + ((d[1] & (MX_TCP_SYN | MX_TCP_FIN)) != 0);
	return off + len;
}

static size_t
rec_burst(const uint8_t *d, size_t left, struct mx_loop *loop, uint64_t now)
{
	unsigned n, i;

	if (left < 1)
		return left;
	/* The loop's SYN backlog is a quarter of its 16 streams: a few SYNs
	 * overflow it; more only slow the replay down. */
	n = MX_MIN((unsigned)d[0] * 2u, fz_burst_left);
	fz_burst_left -= n;
	for (i = 0; i < n; i++) {
		fz_seg(htonl(CLIENT_IP + N_CLIENTS + i % 64),
				(uint16_t)(1024 + fz_burst_port++ % 60000), i * 7919u, 0,
				MX_TCP_SYN, 65535, NULL, 0, false);
		/* The memory backend's ring holds 256 frames: pass often. */
		if ((i & 31) == 31) {
			mx_dpdk_loop_pass_at(loop, now);
			fz_capture();
		}
	}
	return 1;
}

/* ---- set-up ---- */

static void
fz_fini(void)
{
	char dir[64];

	mx_dpdk_stop();
	mx_pktio_free(fz_io);
	rte_mempool_free(fz_pool);
	mx_port_eal_cleanup();
	snprintf(dir, sizeof(dir), "/var/run/dpdk/mxsfuzz%d", (int)getpid());
	(void)rmdir(dir);
}

static int
fz_init(void)
{
	struct mx_dpdk_conf dc;
	char args[256];

	snprintf(args, sizeof(args), "-l 0 --no-huge --no-pci -m 128 --no-shconf "
			"--no-telemetry --file-prefix mxsfuzz%d --log-level=*:error",
			(int)getpid());
	if (mx_port_eal_init("stack_fuzz", args) < 0)
		return -1;
	atexit(fz_fini);
	fz_pool = rte_pktmbuf_pool_create("sfz", 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	if (fz_pool == NULL || mx_pktio_mem_create("sfz", 1024, &fz_io) < 0)
		return -1;
	memset(&dc, 0, sizeof(dc));
	dc.addrs[0].addr = htonl(OUR_IP);
	dc.addrs[0].prefix = 24;
	dc.n_addrs = 1;
	return mx_dpdk_start_pktio(&dc, fz_our_mac, fz_pool, &fz_io, 1) < 0 ? -1 : 1;
}

static struct mx_loop *
fz_loop(void)
{
	struct mx_loop_conf lc = {
		.transport = MX_TRANSPORT_DPDK,
		.worker_id = 0,
		.max_streams = 16,
		.rcvbuf_bytes = 4096,
		.sndbuf_bytes = 4096,
		.linger_ms = 2000,
	};
	struct mx_listener *l;
	struct mx_loop *loop;
	struct mx_addr la;

	if (mx_loop_create(&lc, &loop) != 0)
		abort();
	if (mx_addr_parse("198.18.0.2:25", -1, &la) != 0 ||
			mx_listen(loop, &la, fz_accept, NULL, &l) != 0)
		abort();
	return loop;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mx_loop *loop;
	unsigned base, records = 0;
	uint64_t now;
	size_t off = 0;

	if (fz_state == 0) {
		fz_state = fz_init();
		if (fz_state < 0)
			fprintf(stderr, "stack_fuzz: DPDK EAL unavailable, inputs skipped\n");
	}
	if (fz_state < 0)
		return 0;
	base = rte_mempool_avail_count(fz_pool);
	memset(fz_cl, 0, sizeof(fz_cl));
	fz_burst_left = 64;
	loop = fz_loop();
	now = mx_loop_now_ms(loop);
	fz_arp_clients();
	mx_dpdk_loop_pass_at(loop, now);
	fz_capture();
	while (off < size && records++ < MAX_RECORDS) {
		uint8_t k = data[off++];

		now += (uint64_t)(k >> 2) * 25;
		switch (k & 3) {
		case 0:
			off += rec_raw(data + off, size - off);
			break;
		case 1:
		case 3:
			off += rec_seg(data + off, size - off, (k & 3) == 3);
			break;
		default:
			off += rec_burst(data + off, size - off, loop, now);
			break;
		}
		mx_dpdk_loop_pass_at(loop, now);
		fz_capture();
	}
	/* Let every timer run out (retries, linger, TIME_WAIT). */
	for (unsigned i = 1; i <= 8; i++) {
		mx_dpdk_loop_pass_at(loop, now + i * 30000u);
		fz_capture();
	}
	mx_loop_free(loop);
	fz_capture();
	if (rte_mempool_avail_count(fz_pool) != base)
		abort();
	return 0;
}
