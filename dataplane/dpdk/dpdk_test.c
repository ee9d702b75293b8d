/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dpdk_test.c: the DPDK transport end to end over the pktio memory
 * backend (no NIC): the test plays the remote host frame by frame. It
 * checks the gratuitous ARP at start, the ARP reply, ICMP echo, a passive
 * open (SYN in, SYN-ACK out, ACK), bytes both ways through the stream API
 * with an echo owner, both close orders, an active open with the ARP
 * resolution of the peer, max_streams refusal, and that freeing the loop
 * aborts what is left (RST on the wire, on_closed(-ECONNABORTED)), and
 * two workers without RSS handing an active open's reply to its owner. The
 * mbuf pool is back at its baseline after every test.
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

#include <arpa/inet.h>
#include <rte_arp.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "mx_dpdk.h"
#include "mx_net.h"
#include "mx_pktio.h"
#include "mx_port.h"
#include "port_testenv.h"
#include "mx_stream.h"
#include "mx_tcp.h"

#define OUR_IP "198.18.0.2"
#define PEER_IP "198.18.0.1"
#define PEER2_IP "198.18.0.3"
#define FRAME_MAX 1600
#define CAP_MAX 64

static const uint8_t our_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };
static const uint8_t peer_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };

static struct rte_mempool *pool;
static unsigned serial;

/* One captured TCP segment, copied out of its frame. */
struct cap {
	struct mx_tcp_seg seg;
	uint8_t data[FRAME_MAX];
	struct mx_tcp_opts opts;
};

struct echo {
	struct mx_stream *st;
	unsigned accepts;
	unsigned readable;
	unsigned connected;
	int connect_err;
	bool closed;
	int closed_err;
	bool close_on_eof;
	size_t echoed;
	size_t max_accept;
};

struct fx {
	struct mx_pktio *io;
	struct mx_loop *loop;
	struct mx_listener *l;
	struct echo e;
	unsigned base;
	unsigned arp_at_start;
};

static uint32_t
ip4(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

/* ---- the echo owner ---- */

static void
echo_readable(struct mx_stream *st, void *arg)
{
	struct echo *e = arg;
	const uint8_t *p;
	size_t n;
	long sent;

	e->readable++;
	while ((n = mx_stream_read_view(st, &p)) > 0) {
		sent = mx_stream_send(st, p, n);
		assert_true(sent >= 0);
		mx_stream_consume(st, (size_t)sent);
		e->echoed += (size_t)sent;
		if ((size_t)sent < n)
			return;
	}
	if (mx_stream_peer_closed(st) && e->close_on_eof)
		mx_stream_close(st);
}

static void
echo_writable(struct mx_stream *st, void *arg)
{
	echo_readable(st, arg);
}

static void
echo_connected(struct mx_stream *st, int err, void *arg)
{
	struct echo *e = arg;

	(void)st;
	e->connected++;
	e->connect_err = err;
}

static void
echo_closed(struct mx_stream *st, int err, void *arg)
{
	struct echo *e = arg;

	(void)st;
	e->closed = true;
	e->closed_err = err;
	e->st = NULL;
}

static const struct mx_stream_cb echo_cb = {
	.on_readable = echo_readable,
	.on_writable = echo_writable,
	.on_connected = echo_connected,
	.on_closed = echo_closed,
};

static void
echo_accept(struct mx_listener *l, struct mx_stream *st, void *arg)
{
	struct echo *e = arg;

	(void)l;
	e->accepts++;
	e->st = st;
	mx_stream_set_cb(st, &echo_cb, e);
}

/* ---- frames ---- */

static struct rte_mbuf *
mbuf_of(const uint8_t *b, size_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	char *d;

	assert_non_null(m);
	d = rte_pktmbuf_append(m, (uint16_t)len);
	assert_non_null(d);
	memcpy(d, b, len);
	return m;
}

static size_t
eth_ip(uint8_t *b, const uint8_t *dst_mac, uint8_t proto, uint32_t src,
		uint32_t dst, size_t l4_len)
{
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)b;
	struct rte_ipv4_hdr *ih = (struct rte_ipv4_hdr *)(b + 14);

	memcpy(eh->dst_addr.addr_bytes, dst_mac, 6);
	memcpy(eh->src_addr.addr_bytes, peer_mac, 6);
	eh->ether_type = htons(RTE_ETHER_TYPE_IPV4);
	memset(ih, 0, sizeof(*ih));
	ih->version_ihl = 0x45;
	ih->total_length = htons((uint16_t)(20 + l4_len));
	ih->fragment_offset = htons(RTE_IPV4_HDR_DF_FLAG);
	ih->time_to_live = 64;
	ih->next_proto_id = proto;
	ih->src_addr = src;
	ih->dst_addr = dst;
	ih->hdr_checksum = rte_ipv4_cksum(ih);
	return 34 + l4_len;
}

static void
inject(struct fx *f, const uint8_t *b, size_t len)
{
	struct rte_mbuf *m = mbuf_of(b, len);

	assert_int_equal(mx_pktio_mem_inject(f->io, &m, 1), 1);
}

/* The peer sends one segment from PEER_IP:pport to OUR_IP:oport. */
static void
send_seg(struct fx *f, uint16_t pport, uint16_t oport, uint32_t seq, uint32_t ack,
		uint8_t flags, const void *data, uint32_t len, bool mss)
{
	uint8_t b[FRAME_MAX], opt[40];
	struct mx_tcp_opts o;
	struct mx_tcp_seg s;
	int olen = 0;
	long l4;

	memset(&s, 0, sizeof(s));
	if (mss) {
		memset(&o, 0, sizeof(o));
		o.has_mss = true;
		o.mss = 1460;
		olen = mx_tcp_opt_build(&o, opt, sizeof(opt));
		assert_true(olen > 0);
		s.opt = opt;
		s.opt_len = (uint8_t)olen;
	}
	s.saddr = ip4(PEER_IP);
	s.daddr = ip4(OUR_IP);
	s.sport = pport;
	s.dport = oport;
	s.seq = seq;
	s.ack = ack;
	s.flags = flags;
	s.wnd = 65535;
	s.len = len;
	s.payload = data;
	l4 = mx_tcp_seg_build(&s, b + 34, sizeof(b) - 34);
	assert_true(l4 > 0);
	inject(f, b, eth_ip(b, our_mac, IPPROTO_TCP, s.saddr, s.daddr, (size_t)l4));
}

/* An ARP frame from the peer: a request for OUR_IP (which teaches the
 * stack the peer's MAC, RFC 826 "merge") or a reply from ip. */
static void
send_arp(struct fx *f, uint16_t op, uint32_t ip)
{
	uint8_t b[64];
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)b;
	struct rte_arp_hdr *ah = (struct rte_arp_hdr *)(b + 14);

	memset(b, 0, sizeof(b));
	if (op == RTE_ARP_OP_REQUEST)
		memset(eh->dst_addr.addr_bytes, 0xff, 6);
	else
		memcpy(eh->dst_addr.addr_bytes, our_mac, 6);
	memcpy(eh->src_addr.addr_bytes, peer_mac, 6);
	eh->ether_type = htons(RTE_ETHER_TYPE_ARP);
	ah->arp_hardware = htons(RTE_ARP_HRD_ETHER);
	ah->arp_protocol = htons(RTE_ETHER_TYPE_IPV4);
	ah->arp_hlen = 6;
	ah->arp_plen = 4;
	ah->arp_opcode = htons(op);
	memcpy(ah->arp_data.arp_sha.addr_bytes, peer_mac, 6);
	ah->arp_data.arp_sip = ip;
	if (op == RTE_ARP_OP_REPLY)
		memcpy(ah->arp_data.arp_tha.addr_bytes, our_mac, 6);
	ah->arp_data.arp_tip = ip4(OUR_IP);
	inject(f, b, 60);
}

static void
pass(struct fx *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(mx_loop_run_once(f->loop, 0), 0);
}

/* Takes every frame the stack sent; TCP segments are parsed into caps
 * (checksums verified), the others counted by EtherType in the arp and icmp counters. */
static unsigned
capture(struct fx *f, struct cap *caps, unsigned max, unsigned *arp, unsigned *icmp)
{
	struct rte_mbuf *m[CAP_MAX];
	unsigned n = mx_pktio_mem_capture(f->io, m, CAP_MAX), got = 0;

	for (unsigned i = 0; i < n; i++) {
		const uint8_t *b = rte_pktmbuf_mtod(m[i], const uint8_t *);
		const struct rte_ether_hdr *eh = (const void *)b;
		const struct rte_ipv4_hdr *ih = (const void *)(b + 14);
		size_t len = rte_pktmbuf_data_len(m[i]);

		if (eh->ether_type == htons(RTE_ETHER_TYPE_ARP)) {
			if (arp != NULL)
				(*arp)++;
		} else if (ih->next_proto_id == IPPROTO_ICMP) {
			if (icmp != NULL)
				(*icmp)++;
		} else if (ih->next_proto_id == IPPROTO_TCP && got < max) {
			size_t l4 = ntohs(ih->total_length) - 20u;
			struct cap *c = &caps[got++];

			assert_memory_equal(eh->src_addr.addr_bytes, our_mac, 6);
			assert_int_equal(rte_raw_cksum(ih, 20), 0xffff);
			assert_true(len >= 34 + l4);
			memcpy(c->data, b + 34, l4);
			assert_int_equal(mx_tcp_hdr_parse(c->data, l4, l4, ih->src_addr,
					ih->dst_addr, 0, &c->seg), 0);
			assert_int_equal(mx_tcp_opt_parse(c->seg.opt, c->seg.opt_len,
					&c->opts), 0);
		}
		rte_pktmbuf_free(m[i]);
	}
	return got;
}

static void
fx_open(struct fx *f, unsigned max_streams)
{
	struct mx_loop_conf lc = {
		.transport = MX_TRANSPORT_DPDK,
		.worker_id = 0,
		.max_streams = max_streams,
		.rcvbuf_bytes = 65536,
		.sndbuf_bytes = 65536,
		.linger_ms = 2000,
	};
	struct mx_dpdk_conf dc;
	struct mx_addr la;
	char name[32];

	/* A test that failed half-way left the set-up behind. */
	if (mx_dpdk_started())
		mx_dpdk_stop();
	memset(f, 0, sizeof(*f));
	f->base = rte_mempool_avail_count(pool);
	snprintf(name, sizeof(name), "dt%u", serial++);
	assert_int_equal(mx_pktio_mem_create(name, 256, &f->io), 0);
	memset(&dc, 0, sizeof(dc));
	dc.addrs[0].addr = ip4(OUR_IP);
	dc.addrs[0].prefix = 24;
	dc.n_addrs = 1;
	assert_int_equal(mx_dpdk_start_pktio(&dc, our_mac, pool, &f->io, 1), 0);
	assert_int_equal(mx_loop_create(&lc, &f->loop), 0);
	assert_int_equal(mx_loop_transport(f->loop), MX_TRANSPORT_DPDK);
	assert_int_equal(mx_addr_parse(OUR_IP ":25", -1, &la), 0);
	assert_int_equal(mx_listen(f->loop, &la, echo_accept, &f->e, &f->l), 0);
	/* The peer asks for us first, as a real one does: the stack learns
	 * its MAC, so replies to it need no resolution. */
	send_arp(f, RTE_ARP_OP_REQUEST, ip4(PEER_IP));
	pass(f, 1);
	capture(f, NULL, 0, &f->arp_at_start, NULL);
}

static void
fx_close(struct fx *f)
{
	struct rte_mbuf *m[CAP_MAX];
	unsigned n;

	mx_listener_close(f->l);
	mx_loop_free(f->loop);
	mx_dpdk_stop();
	while ((n = mx_pktio_mem_capture(f->io, m, CAP_MAX)) > 0)
		rte_pktmbuf_free_bulk(m, n);
	mx_pktio_free(f->io);
	assert_int_equal(rte_mempool_avail_count(pool), f->base);
}

/* Three-way handshake from the peer's port pport; returns our ISN + 1. */
static uint32_t
handshake(struct fx *f, uint16_t pport, uint32_t pisn)
{
	struct cap c[8];
	unsigned n;
	uint32_t our;

	send_seg(f, pport, 25, pisn, 0, MX_TCP_SYN, NULL, 0, true);
	pass(f, 1);
	n = capture(f, c, 8, NULL, NULL);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].seg.flags, MX_TCP_SYN | MX_TCP_ACK);
	assert_int_equal(c[0].seg.ack, pisn + 1);
	assert_int_equal(c[0].seg.sport, 25);
	assert_int_equal(c[0].seg.dport, pport);
	assert_true(c[0].opts.has_mss);
	assert_int_equal(c[0].opts.mss, 1460);
	our = c[0].seg.seq + 1;
	send_seg(f, pport, 25, pisn + 1, our, MX_TCP_ACK, NULL, 0, false);
	pass(f, 1);
	return our;
}

/* ---- tests ---- */

static void
test_not_started(void **state)
{
	struct mx_loop_conf lc = {
		.transport = MX_TRANSPORT_DPDK, .max_streams = 4,
		.rcvbuf_bytes = 4096, .sndbuf_bytes = 4096,
	};
	struct mx_dpdk_conf dc;
	struct mx_loop *loop = NULL;
	struct mx_pktio *io = NULL;

	(void)state;
	assert_false(mx_dpdk_started());
	assert_int_equal(mx_loop_create(&lc, &loop), -ENOTSUP);
	memset(&dc, 0, sizeof(dc));
	/* No address: refused. */
	assert_int_equal(mx_pktio_mem_create("dtbad", 16, &io), 0);
	assert_int_equal(mx_dpdk_start_pktio(&dc, our_mac, pool, &io, 1), -EINVAL);
	dc.addrs[0].addr = ip4(OUR_IP);
	dc.addrs[0].prefix = 33;
	dc.n_addrs = 1;
	assert_int_equal(mx_dpdk_start_pktio(&dc, our_mac, pool, &io, 1), -EINVAL);
	dc.addrs[0].prefix = 24;
	assert_int_equal(mx_dpdk_start_pktio(&dc, our_mac, pool, &io, 1), 0);
	assert_int_equal(mx_dpdk_start_pktio(&dc, our_mac, pool, &io, 1), -EALREADY);
	/* Worker 1 has no queue. */
	lc.worker_id = 1;
	assert_int_equal(mx_loop_create(&lc, &loop), -EINVAL);
	mx_dpdk_stop();
	mx_pktio_free(io);
}

static void
test_arp_and_ping(void **state)
{
	struct rte_icmp_hdr *ic;
	uint8_t b[128];
	unsigned arp = 0, icmp = 0;
	struct fx f;

	(void)state;
	fx_open(&f, 8);
	/* The gratuitous ARP of the start, and the reply to the peer. */
	assert_int_equal(f.arp_at_start, 2);
	assert_int_equal(mx_net_stat(mx_dpdk_loop_net(f.loop), MX_NET_ARP_REPLY_TX), 1);
	send_arp(&f, RTE_ARP_OP_REQUEST, ip4(PEER_IP));
	pass(&f, 1);
	capture(&f, NULL, 0, &arp, &icmp);
	assert_int_equal(arp, 1);
	assert_int_equal(mx_net_stat(mx_dpdk_loop_net(f.loop), MX_NET_ARP_REPLY_TX), 2);
	/* ping OUR_IP */
	memset(b, 0, sizeof(b));
	ic = (struct rte_icmp_hdr *)(b + 34);
	ic->icmp_type = RTE_IP_ICMP_ECHO_REQUEST;
	ic->icmp_ident = htons(7);
	ic->icmp_seq_nb = htons(1);
	memcpy(b + 42, "pingpong", 8);
	ic->icmp_cksum = (uint16_t)~rte_raw_cksum(ic, 16);
	inject(&f, b, eth_ip(b, our_mac, IPPROTO_ICMP, ip4(PEER_IP), ip4(OUR_IP), 16));
	pass(&f, 1);
	capture(&f, NULL, 0, NULL, &icmp);
	assert_int_equal(icmp, 1);
	fx_close(&f);
}

static void
test_passive_echo_peer_closes(void **state)
{
	static const char hello[] = "EHLO client.example\r\n";
	struct cap c[16];
	struct fx f;
	uint32_t our, pseq = 5000;
	unsigned n, data = 0, fin = 0;
	struct mx_addr peer;
	char buf[64];

	(void)state;
	fx_open(&f, 8);
	f.e.close_on_eof = true;
	our = handshake(&f, 40000, pseq);
	pseq++;
	assert_int_equal(f.e.accepts, 1);
	assert_non_null(f.e.st);
	mx_stream_peer(f.e.st, &peer);
	mx_addr_format(&peer, true, buf, sizeof(buf));
	assert_string_equal(buf, PEER_IP ":40000");
	/* Bytes in: the owner echoes them; they leave in this pass. */
	send_seg(&f, 40000, 25, pseq, our, MX_TCP_ACK | MX_TCP_PSH, hello,
			sizeof(hello) - 1, false);
	pseq += sizeof(hello) - 1;
	pass(&f, 1);
	n = capture(&f, c, 16, NULL, NULL);
	for (unsigned i = 0; i < n; i++) {
		if (c[i].seg.len == 0)
			continue;
		data++;
		assert_int_equal(c[i].seg.seq, our);
		assert_int_equal(c[i].seg.ack, pseq);
		assert_int_equal(c[i].seg.len, sizeof(hello) - 1);
		assert_memory_equal(c[i].seg.payload, hello, sizeof(hello) - 1);
	}
	assert_int_equal(data, 1);
	assert_int_equal(f.e.echoed, sizeof(hello) - 1);
	our += sizeof(hello) - 1;
	/* Peer FIN: the owner sees EOF and closes: our FIN. */
	send_seg(&f, 40000, 25, pseq, our, MX_TCP_ACK | MX_TCP_FIN, NULL, 0, false);
	pseq++;
	pass(&f, 2);
	n = capture(&f, c, 16, NULL, NULL);
	for (unsigned i = 0; i < n; i++) {
		if (c[i].seg.flags & MX_TCP_FIN) {
			fin++;
			assert_int_equal(c[i].seg.seq, our);
			assert_int_equal(c[i].seg.ack, pseq);
		}
	}
	assert_int_equal(fin, 1);
	assert_false(f.e.closed);
	send_seg(&f, 40000, 25, pseq, our + 1, MX_TCP_ACK, NULL, 0, false);
	pass(&f, 1);
	assert_true(f.e.closed);
	assert_int_equal(f.e.closed_err, 0);
	assert_int_equal(mx_loop_n_streams(f.loop), 0);
	fx_close(&f);
}

static void
test_passive_we_close_first(void **state)
{
	struct cap c[16];
	struct fx f;
	uint32_t our, pseq = 9000;
	unsigned n, fin = 0;
	struct mx_loop_stats ls;

	(void)state;
	fx_open(&f, 8);
	our = handshake(&f, 40001, pseq);
	pseq++;
	assert_non_null(f.e.st);
	assert_int_equal(mx_stream_send(f.e.st, "220 hi\r\n", 8), 8);
	mx_stream_close(f.e.st);
	assert_int_equal(mx_stream_send(f.e.st, "x", 1), -EPIPE);
	pass(&f, 1);
	n = capture(&f, c, 16, NULL, NULL);
	for (unsigned i = 0; i < n; i++) {
		if (c[i].seg.flags & MX_TCP_FIN) {
			fin++;
			assert_int_equal(c[i].seg.seq + c[i].seg.len, our + 8);
		}
	}
	assert_int_equal(fin, 1);
	/* Input after close is read and dropped; then the peer's FIN. */
	send_seg(&f, 40001, 25, pseq, our + 9, MX_TCP_ACK, "late", 4, false);
	pseq += 4;
	pass(&f, 1);
	assert_false(f.e.closed);
	send_seg(&f, 40001, 25, pseq, our + 9, MX_TCP_ACK | MX_TCP_FIN, NULL, 0, false);
	pass(&f, 1);
	assert_true(f.e.closed);
	assert_int_equal(f.e.closed_err, 0);
	mx_loop_get_stats(f.loop, &ls);
	assert_int_equal(ls.discarded_bytes, 4);
	assert_int_equal(ls.accepts, 1);
	fx_close(&f);
}

static void
test_active_open(void **state)
{
	struct cap c[16];
	struct fx f;
	struct mx_addr dst, local;
	struct mx_stream *st = NULL;
	struct echo e;
	unsigned n;
	uint32_t our;

	(void)state;
	fx_open(&f, 8);
	memset(&e, 0, sizeof(e));
	assert_int_equal(mx_addr_parse(PEER_IP ":2525", -1, &dst), 0);
	assert_int_equal(mx_stream_connect(f.loop, &dst, &echo_cb, &e, &st), 0);
	mx_stream_local(st, &local);
	assert_true(local.port >= 32768);
	assert_int_equal(local.ip.v4.s_addr, ip4(OUR_IP));
	/* The peer's MAC is known (fx_open): the SYN leaves at once. */
	pass(&f, 1);
	n = capture(&f, c, 16, NULL, NULL);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].seg.flags, MX_TCP_SYN);
	assert_int_equal(c[0].seg.sport, local.port);
	assert_int_equal(c[0].seg.dport, 2525);
	our = c[0].seg.seq + 1;
	assert_int_equal(e.connected, 0);
	send_seg(&f, 2525, local.port, 7000, our, MX_TCP_SYN | MX_TCP_ACK, NULL, 0, true);
	pass(&f, 1);
	assert_int_equal(e.connected, 1);
	assert_int_equal(e.connect_err, 0);
	n = capture(&f, c, 16, NULL, NULL);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].seg.flags, MX_TCP_ACK);
	assert_int_equal(c[0].seg.ack, 7001);
	/* The peer resets: on_closed(-ECONNRESET). */
	send_seg(&f, 2525, local.port, 7001, 0, MX_TCP_RST, NULL, 0, false);
	pass(&f, 1);
	assert_true(e.closed);
	assert_int_equal(e.closed_err, -ECONNRESET);
	fx_close(&f);
}

static void
test_max_streams_and_free_aborts(void **state)
{
	struct cap c[16];
	struct fx f;
	struct mx_loop_stats ls;
	unsigned n, rst = 0;

	(void)state;
	fx_open(&f, 1);
	handshake(&f, 41000, 100);
	assert_int_equal(f.e.accepts, 1);
	/* A second connection finds no stream: reset. */
	send_seg(&f, 41001, 25, 200, 0, MX_TCP_SYN, NULL, 0, true);
	pass(&f, 1);
	n = capture(&f, c, 16, NULL, NULL);
	assert_true(n >= 1);
	send_seg(&f, 41001, 25, 201, c[n - 1].seg.seq + 1, MX_TCP_ACK, NULL, 0, false);
	pass(&f, 1);
	mx_loop_get_stats(f.loop, &ls);
	assert_int_equal(f.e.accepts, 1);
	n = capture(&f, c, 16, NULL, NULL);
	for (unsigned i = 0; i < n; i++)
		rst += (c[i].seg.flags & MX_TCP_RST) != 0;
	assert_true(ls.refused_max_streams + rst >= 1);
	/* Freeing the loop aborts the established stream. */
	mx_listener_close(f.l);
	f.l = NULL;
	mx_loop_free(f.loop);
	f.loop = NULL;
	assert_true(f.e.closed);
	assert_int_equal(f.e.closed_err, -ECONNABORTED);
	rst = 0;
	n = capture(&f, c, 16, NULL, NULL);
	for (unsigned i = 0; i < n; i++)
		rst += (c[i].seg.flags & MX_TCP_RST) != 0;
	assert_int_equal(rst, 1);
	fx_close(&f);
}

static void
test_bad_segments_counted(void **state)
{
	uint8_t b[128];
	struct mx_dpdk_loop_stats ds;
	struct fx f;
	size_t len;

	(void)state;
	fx_open(&f, 4);
	/* A TCP header with data offset 15 in a 20-byte segment. */
	memset(b, 0, sizeof(b));
	len = eth_ip(b, our_mac, IPPROTO_TCP, ip4(PEER_IP), ip4(OUR_IP), 20);
	b[34] = 0x9c; b[35] = 0x40; b[36] = 0; b[37] = 25;
	b[46] = 0xf0;
	inject(&f, b, len);
	/* A valid-looking header with a wrong checksum. */
	b[46] = 0x50;
	b[47] = MX_TCP_SYN;
	b[50] = 0x12;
	inject(&f, b, len);
	pass(&f, 1);
	mx_dpdk_loop_stats(f.loop, &ds);
	assert_int_equal(ds.tcp_drop_malformed + ds.tcp_drop_csum, 2);
	assert_int_equal(ds.tcp_drop_csum, 1);
	assert_int_equal(f.e.accepts, 0);
	fx_close(&f);
}

/* /metrics: the loop publishes its counters (at free at the latest) and
 * the exporter renders them; the length contract is snprintf's. */
static void
test_metrics_export(void **state)
{
	static char text[256 * 1024];
	struct fx f;
	size_t need, got;

	(void)state;
	fx_open(&f, 8);
	handshake(&f, 40100, 9000);
	assert_int_equal(f.e.accepts, 1);
	fx_close(&f);
	need = mx_dpdk_metrics_export(NULL, NULL, 0);
	assert_true(need > 0 && need < sizeof(text));
	got = mx_dpdk_metrics_export(NULL, text, sizeof(text));
	assert_int_equal(got, need);
	assert_int_equal(strlen(text), need);
	assert_non_null(strstr(text, "# TYPE mxedge_dpdk_tcp_accepts_total counter\n"));
	assert_non_null(strstr(text, "mxedge_dpdk_tcp_accepts_total{worker=\"0\"} 1\n"));
	assert_non_null(strstr(text, "mxedge_dpdk_tcp_connections{worker=\"0\"} 0\n"));
	assert_non_null(strstr(text, "mxedge_dpdk_net_drop_ip_cksum_total{worker=\"0\"} "));
	assert_null(strstr(text, "mxedge_dpdk_lcore_rx_frames_total{worker=\"0\"} 0\n"));
	/* No fault wrapper, no port (memory backend): no such families. */
	assert_null(strstr(text, "mxedge_dpdk_fault_"));
	assert_null(strstr(text, "mxedge_dpdk_port_"));
	/* A short buffer: truncated, terminated, same length asked. */
	assert_int_equal(mx_dpdk_metrics_export(NULL, text, 100), need);
	assert_int_equal(strlen(text), 99);
}

/* Issue 3 item 5 without RSS (memory queues, like net_tap): worker 0's
 * active open takes a port of its own share of the dynamic range; the
 * SYN-ACK arrives on worker 1's queue, which hands it to worker 0 over
 * the ring: the connection completes on worker 0, the ACK leaves there,
 * and worker 1 sends nothing (no RST for a flow it does not own). */
static void
test_two_workers_handoff(void **state)
{
	struct mx_loop_conf lc = {
		.transport = MX_TRANSPORT_DPDK,
		.max_streams = 8,
		.rcvbuf_bytes = 65536,
		.sndbuf_bytes = 65536,
		.linger_ms = 2000,
	};
	struct mx_dpdk_loop_stats st0, st1;
	struct mx_pktio *ios[2];
	struct mx_dpdk_conf dc;
	struct mx_addr dst, local;
	struct mx_stream *st = NULL;
	struct cap c[16];
	struct fx w[2];
	struct echo e;
	unsigned base, n;
	char name[32];
	uint32_t our;

	(void)state;
	if (mx_dpdk_started())
		mx_dpdk_stop();
	base = rte_mempool_avail_count(pool);
	memset(w, 0, sizeof(w));
	memset(&e, 0, sizeof(e));
	for (unsigned i = 0; i < 2; i++) {
		snprintf(name, sizeof(name), "dt%u", serial++);
		assert_int_equal(mx_pktio_mem_create(name, 256, &ios[i]), 0);
		w[i].io = ios[i];
	}
	memset(&dc, 0, sizeof(dc));
	dc.addrs[0].addr = ip4(OUR_IP);
	dc.addrs[0].prefix = 24;
	dc.n_addrs = 1;
	assert_int_equal(mx_dpdk_start_pktio(&dc, our_mac, pool, ios, 2), 0);
	for (unsigned i = 0; i < 2; i++) {
		lc.worker_id = i;
		assert_int_equal(mx_loop_create(&lc, &w[i].loop), 0);
		send_arp(&w[i], RTE_ARP_OP_REQUEST, ip4(PEER_IP));
		pass(&w[i], 1);
		capture(&w[i], NULL, 0, NULL, NULL);
	}
	assert_int_equal(mx_addr_parse(PEER_IP ":2525", -1, &dst), 0);
	/* Several opens: every port is worker 0's share. */
	for (unsigned k = 0; k < 3; k++) {
		struct mx_stream *o = NULL;

		assert_int_equal(mx_stream_connect(w[0].loop, &dst, &echo_cb, &e, &o), 0);
		mx_stream_local(o, &local);
		assert_true(local.port >= 32768 && local.port <= 60999);
		assert_int_equal((local.port - 32768) % 2, 0);
		if (k > 0)
			mx_stream_abort(o);
		else
			st = o;
	}
	mx_stream_local(st, &local);
	pass(&w[0], 1);
	n = capture(&w[0], c, 16, NULL, NULL);
	assert_true(n >= 1);
	assert_int_equal(c[0].seg.flags, MX_TCP_SYN);
	assert_int_equal(c[0].seg.sport, local.port);
	our = c[0].seg.seq + 1;
	/* The reply reaches the other worker's queue. */
	send_seg(&w[1], 2525, local.port, 7000, our, MX_TCP_SYN | MX_TCP_ACK, NULL, 0, true);
	pass(&w[1], 1);
	assert_int_equal(capture(&w[1], c, 16, NULL, NULL), 0);
	assert_int_equal(e.connected, 0);
	pass(&w[0], 1);
	assert_int_equal(e.connected, 1);
	assert_int_equal(e.connect_err, 0);
	n = capture(&w[0], c, 16, NULL, NULL);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].seg.flags, MX_TCP_ACK);
	assert_int_equal(c[0].seg.ack, 7001);
	mx_dpdk_loop_stats(w[0].loop, &st0);
	mx_dpdk_loop_stats(w[1].loop, &st1);
	assert_int_equal(st1.handoff_out, 1);
	assert_int_equal(st0.handoff_in, 1);
	assert_int_equal(st1.handoff_drop_full, 0);
	/* A passive flow to port 25 is not handed over: worker 1 answers. */
	send_seg(&w[1], 41000, 25, 100, 0, MX_TCP_SYN, NULL, 0, true);
	pass(&w[1], 1);
	assert_int_equal(capture(&w[1], c, 16, NULL, NULL), 1);
	assert_int_equal(c[0].seg.flags, MX_TCP_RST | MX_TCP_ACK);
	/* A segment handed over but never drained is freed at stop. */
	send_seg(&w[1], 2525, local.port, 7001, our, MX_TCP_ACK, "x", 1, false);
	pass(&w[1], 1);
	for (unsigned i = 2; i-- > 0;)
		mx_loop_free(w[i].loop);
	mx_dpdk_stop();
	for (unsigned i = 0; i < 2; i++) {
		struct rte_mbuf *m[CAP_MAX];

		while ((n = mx_pktio_mem_capture(ios[i], m, CAP_MAX)) > 0)
			rte_pktmbuf_free_bulk(m, n);
		mx_pktio_free(ios[i]);
	}
	assert_int_equal(rte_mempool_avail_count(pool), base);
}

/* Two workers, ARP reply on the wrong queue: the worker whose SYN waits
 * for the peer's MAC learns it from the worker that received the reply;
 * a request for us is answered once, by the worker that received it,
 * and the binding reaches the other worker too. */
static void
test_two_workers_arp_shared(void **state)
{
	struct mx_loop_conf lc = {
		.transport = MX_TRANSPORT_DPDK,
		.max_streams = 8,
		.rcvbuf_bytes = 65536,
		.sndbuf_bytes = 65536,
		.linger_ms = 2000,
	};
	struct mx_dpdk_loop_stats st0, st1;
	struct mx_pktio *ios[2];
	struct mx_dpdk_conf dc;
	struct mx_addr dst;
	struct mx_stream *st = NULL;
	struct cap c[16];
	struct fx w[2];
	struct echo e;
	unsigned base, n, arp;
	uint8_t mac[6];
	char name[32];

	(void)state;
	if (mx_dpdk_started())
		mx_dpdk_stop();
	base = rte_mempool_avail_count(pool);
	memset(w, 0, sizeof(w));
	memset(&e, 0, sizeof(e));
	for (unsigned i = 0; i < 2; i++) {
		snprintf(name, sizeof(name), "dt%u", serial++);
		assert_int_equal(mx_pktio_mem_create(name, 256, &ios[i]), 0);
		w[i].io = ios[i];
	}
	memset(&dc, 0, sizeof(dc));
	dc.addrs[0].addr = ip4(OUR_IP);
	dc.addrs[0].prefix = 24;
	dc.n_addrs = 1;
	assert_int_equal(mx_dpdk_start_pktio(&dc, our_mac, pool, ios, 2), 0);
	for (unsigned i = 0; i < 2; i++) {
		lc.worker_id = i;
		assert_int_equal(mx_loop_create(&lc, &w[i].loop), 0);
		pass(&w[i], 1);
		capture(&w[i], NULL, 0, NULL, NULL);
	}
	/* Worker 0 opens: its SYN waits for ARP, the request goes out. */
	assert_int_equal(mx_addr_parse(PEER_IP ":2525", -1, &dst), 0);
	assert_int_equal(mx_stream_connect(w[0].loop, &dst, &echo_cb, &e, &st), 0);
	pass(&w[0], 1);
	arp = 0;
	assert_int_equal(capture(&w[0], c, 16, &arp, NULL), 0);
	assert_int_equal(arp, 1);
	/* The reply lands on worker 1, which never asked. */
	send_arp(&w[1], RTE_ARP_OP_REPLY, ip4(PEER_IP));
	pass(&w[1], 1);
	arp = 0;
	assert_int_equal(capture(&w[1], c, 16, &arp, NULL), 0);
	assert_int_equal(arp, 0);
	assert_int_equal(mx_net_arp_lookup(mx_dpdk_loop_net(w[1].loop), ip4(PEER_IP), mac), 0);
	/* Worker 0 merges the copy and its queued SYN leaves. */
	pass(&w[0], 1);
	n = capture(&w[0], c, 16, NULL, NULL);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].seg.flags, MX_TCP_SYN);
	assert_int_equal(mx_net_arp_lookup(mx_dpdk_loop_net(w[0].loop), ip4(PEER_IP), mac), 0);
	assert_memory_equal(mac, peer_mac, 6);
	mx_dpdk_loop_stats(w[0].loop, &st0);
	mx_dpdk_loop_stats(w[1].loop, &st1);
	assert_int_equal(st1.arp_share_out, 1);
	assert_int_equal(st0.arp_share_in, 1);
	assert_int_equal(st1.arp_share_drop_full, 0);
	/* A request for us from a new neighbour: one answer, from worker 0;
	 * worker 1 learns the binding without a word on the wire. */
	send_arp(&w[0], RTE_ARP_OP_REQUEST, ip4(PEER2_IP));
	pass(&w[0], 1);
	pass(&w[1], 1);
	arp = 0;
	capture(&w[0], NULL, 0, &arp, NULL);
	assert_int_equal(arp, 1);
	arp = 0;
	capture(&w[1], NULL, 0, &arp, NULL);
	assert_int_equal(arp, 0);
	assert_int_equal(mx_net_arp_lookup(mx_dpdk_loop_net(w[1].loop), ip4(PEER2_IP), mac), 0);
	assert_int_equal(mx_net_stat(mx_dpdk_loop_net(w[0].loop), MX_NET_ARP_REPLY_TX), 1);
	assert_int_equal(mx_net_stat(mx_dpdk_loop_net(w[1].loop), MX_NET_ARP_REPLY_TX), 0);
	mx_stream_abort(st);
	for (unsigned i = 2; i-- > 0;)
		mx_loop_free(w[i].loop);
	mx_dpdk_stop();
	for (unsigned i = 0; i < 2; i++) {
		struct rte_mbuf *m[CAP_MAX];

		while ((n = mx_pktio_mem_capture(ios[i], m, CAP_MAX)) > 0)
			rte_pktmbuf_free_bulk(m, n);
		mx_pktio_free(ios[i]);
	}
	assert_int_equal(rte_mempool_avail_count(pool), base);
}

static void
test_memory_figure(void **state)
{
	(void)state;
	/* Issue 3 item 8: TCP state at most 1 KiB per connection, and the
	 * stream wrapper adds little to it. */
	assert_true(mx_tcp_conn_size() <= 1024);
	assert_true(mx_dpdk_stream_size() > mx_tcp_conn_size());
	assert_true(mx_dpdk_stream_size() <= 1024);
	printf("# tcp conn %zu bytes, dpdk stream + tcp conn %zu bytes\n",
			mx_tcp_conn_size(), mx_dpdk_stream_size());
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_not_started),
		cmocka_unit_test(test_arp_and_ping),
		cmocka_unit_test(test_passive_echo_peer_closes),
		cmocka_unit_test(test_passive_we_close_first),
		cmocka_unit_test(test_active_open),
		cmocka_unit_test(test_max_streams_and_free_aborts),
		cmocka_unit_test(test_bad_segments_counted),
		cmocka_unit_test(test_metrics_export),
		cmocka_unit_test(test_memory_figure),
		cmocka_unit_test(test_two_workers_handoff),
		cmocka_unit_test(test_two_workers_arp_shared),
	};
	int rc;

	rc = port_testenv_start("dpdk_test", "");
	if (rc != 0)
		return rc;
	pool = port_testenv_pool("dpdk_test", 2047, RTE_MBUF_DEFAULT_BUF_SIZE);
	if (pool == NULL) {
		port_testenv_end(NULL);
		return PORT_TESTENV_SKIP;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	port_testenv_end(pool);
	return rc;
}
