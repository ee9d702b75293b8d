/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * net_test.c: L2/L3 over the pktio memory backend, the test playing the
 * peer frame by frame: ARP (answer, learn, resolve with a bounded queue,
 * retries and failure, expiry, refresh, gratuitous), the IPv4 validation
 * table (one row per malformed case, each with its own counter), ICMP
 * echo (checksums, payload echoed, odd lengths, rate limit), the TCP
 * hook and IPv4 output. The mbuf pool is back at its baseline after
 * every test.
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
#include <rte_tcp.h>

#include "mx_net.h"
#include "mx_pktio.h"
#include "mx_port.h"
#include "port_testenv.h"
#include "mx_tcp.h"

#define OUR_IP "198.18.0.1"
#define PEER_IP "198.18.0.2"
#define GW_IP "198.18.0.254"
#define FRAME_MAX 1600

static const uint8_t our_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t peer_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };
static const uint8_t bcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static struct rte_mempool *pool;
static unsigned serial;

struct fx {
	struct mx_pktio *io;
	struct mx_net *net;
	unsigned base;
	unsigned tcp_calls;
	struct mx_ipv4_info tcp_info;
	uint8_t tcp_first;
	uint16_t tcp_data_len;
};

static uint32_t
ip4(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static void
tcp_hook(void *ctx, struct rte_mbuf *m, const struct mx_ipv4_info *ip)
{
	struct fx *f = ctx;

	f->tcp_calls++;
	f->tcp_info = *ip;
	f->tcp_first = *rte_pktmbuf_mtod(m, uint8_t *);
	f->tcp_data_len = rte_pktmbuf_data_len(m);
	rte_pktmbuf_free(m);
}

static void
fx_open(struct fx *f, bool hook, bool gateway, void (*tune)(struct mx_net_conf *))
{
	struct mx_net_conf c;
	char name[32];

	memset(f, 0, sizeof(*f));
	f->base = rte_mempool_avail_count(pool);
	snprintf(name, sizeof(name), "nt%u", serial++);
	assert_int_equal(mx_pktio_mem_create(name, 256, &f->io), 0);
	mx_net_conf_init(&c);
	memcpy(c.mac, our_mac, 6);
	c.addrs[0].addr = ip4(OUR_IP);
	c.addrs[0].prefix = 24;
	c.n_addrs = 1;
	c.gateway = gateway ? ip4(GW_IP) : 0;
	c.pool = pool;
	c.io = f->io;
	if (hook) {
		c.tcp_input = tcp_hook;
		c.tcp_ctx = f;
	}
	if (tune != NULL)
		tune(&c);
	assert_int_equal(mx_net_create(&c, 0, &f->net), 0);
}

static void
fx_close(struct fx *f)
{
	mx_net_free(f->net);
	mx_pktio_free(f->io);
	assert_int_equal(rte_mempool_avail_count(pool), f->base);
}

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

/* Injects one frame, runs input at now, flushes TX; returns how many
 * frames the stack sent (left in the capture ring). */
static unsigned
fx_feed(struct fx *f, const uint8_t *b, size_t len, uint64_t now)
{
	struct rte_mbuf *m = mbuf_of(b, len), *pkts[MX_PKT_BURST];
	uint16_t n;

	assert_int_equal(mx_pktio_mem_inject(f->io, &m, 1), 1);
	n = mx_pktio_rx_burst(f->io, pkts, MX_PKT_BURST);
	assert_int_equal(n, 1);
	mx_net_input(f->net, pkts, n, now);
	mx_pktio_flush(f->io);
	return mx_pktio_mem_tx_pending(f->io);
}

static struct rte_mbuf *
fx_take(struct fx *f)
{
	struct rte_mbuf *m = NULL;

	assert_int_equal(mx_pktio_mem_capture(f->io, &m, 1), 1);
	return m;
}

static void
fx_discard(struct fx *f)
{
	struct rte_mbuf *m;

	while (mx_pktio_mem_capture(f->io, &m, 1) == 1)
		rte_pktmbuf_free(m);
}

static size_t
arp_frame(uint8_t *b, const uint8_t *eth_dst, uint16_t op, const uint8_t *sha,
		const char *sip, const uint8_t *tha, const char *tip)
{
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)b;
	struct rte_arp_hdr *ah = (struct rte_arp_hdr *)(eh + 1);

	memset(b, 0, 60);
	memcpy(eh->dst_addr.addr_bytes, eth_dst, 6);
	memcpy(eh->src_addr.addr_bytes, sha, 6);
	eh->ether_type = htons(RTE_ETHER_TYPE_ARP);
	ah->arp_hardware = htons(RTE_ARP_HRD_ETHER);
	ah->arp_protocol = htons(RTE_ETHER_TYPE_IPV4);
	ah->arp_hlen = 6;
	ah->arp_plen = 4;
	ah->arp_opcode = htons(op);
	memcpy(ah->arp_data.arp_sha.addr_bytes, sha, 6);
	ah->arp_data.arp_sip = ip4(sip);
	memcpy(ah->arp_data.arp_tha.addr_bytes, tha, 6);
	ah->arp_data.arp_tip = ip4(tip);
	return 60; /* padded to the Ethernet minimum, as on a wire */
}

static const struct rte_arp_hdr *
arp_of(const struct rte_mbuf *m)
{
	assert_true(rte_pktmbuf_pkt_len(m) >= RTE_ETHER_HDR_LEN + sizeof(struct rte_arp_hdr));
	return rte_pktmbuf_mtod_offset(m, const struct rte_arp_hdr *, RTE_ETHER_HDR_LEN);
}

static void
ip_fix_cksum(uint8_t *b)
{
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(b + RTE_ETHER_HDR_LEN);

	ip->hdr_checksum = 0;
	ip->hdr_checksum = (uint16_t)~mx_net_cksum(ip, (ip->version_ihl & 0xf) * 4u);
}

/* Ethernet + IPv4 (+ options) + an ICMP echo request with plen payload
 * bytes (or, for proto != ICMP, plen bytes of 0x5a after a marker). */
static size_t
ip_frame(uint8_t *b, uint8_t proto, const char *src, const char *dst,
		const uint8_t *opt, unsigned olen, unsigned plen)
{
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)b;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eh + 1);
	unsigned hlen = 20 + olen, i;
	uint8_t *l4 = (uint8_t *)ip + hlen;

	memset(b, 0, FRAME_MAX);
	memcpy(eh->dst_addr.addr_bytes, our_mac, 6);
	memcpy(eh->src_addr.addr_bytes, peer_mac, 6);
	eh->ether_type = htons(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = (uint8_t)(0x40 | (hlen / 4));
	ip->time_to_live = 64;
	ip->next_proto_id = proto;
	ip->packet_id = htons(0x1234);
	ip->fragment_offset = htons(RTE_IPV4_HDR_DF_FLAG);
	ip->src_addr = ip4(src);
	ip->dst_addr = ip4(dst);
	if (olen > 0)
		memcpy(ip + 1, opt, olen);
	if (proto == IPPROTO_ICMP) {
		struct rte_icmp_hdr *ic = (struct rte_icmp_hdr *)l4;

		ic->icmp_type = RTE_IP_ICMP_ECHO_REQUEST;
		ic->icmp_ident = htons(0x77);
		ic->icmp_seq_nb = htons(5);
		for (i = 0; i < plen; i++)
			l4[8 + i] = (uint8_t)(i * 7 + 1);
		ic->icmp_cksum = (uint16_t)~mx_net_cksum(ic, 8 + plen);
		plen += 8;
	} else {
		memset(l4, 0x5a, plen);
		if (plen > 0)
			l4[0] = 0xc3;
	}
	ip->total_length = htons((uint16_t)(hlen + plen));
	ip_fix_cksum(b);
	return RTE_ETHER_HDR_LEN + hlen + plen;
}

static void
test_cksum_vectors(void **state)
{
	/* RFC 1071 section 3 example: the folded sum is dd f2 in memory. */
	static const uint8_t v[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
	static const uint8_t odd[] = { 0x01, 0x02, 0x03 };
	uint16_t r;

	(void)state;
	r = mx_net_cksum(v, sizeof(v));
	assert_memory_equal(&r, "\xdd\xf2", 2);
	r = mx_net_cksum(odd, sizeof(odd)); /* 0x0102 + 0x0300 */
	assert_memory_equal(&r, "\x04\x02", 2);
	r = mx_net_cksum(v, 0);
	assert_int_equal(r, 0);
}

static void
test_arp_request_reply_learn(void **state)
{
	uint8_t b[FRAME_MAX], mac[6];
	const struct rte_arp_hdr *ah;
	const struct rte_ether_hdr *eh;
	struct rte_mbuf *m;
	struct fx f;
	size_t len;

	(void)state;
	fx_open(&f, false, false, NULL);
	len = arp_frame(b, bcast_mac, RTE_ARP_OP_REQUEST, peer_mac, PEER_IP, bcast_mac, OUR_IP);
	assert_int_equal(fx_feed(&f, b, len, 10), 1);
	m = fx_take(&f);
	eh = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	ah = arp_of(m);
	assert_memory_equal(eh->dst_addr.addr_bytes, peer_mac, 6);
	assert_memory_equal(eh->src_addr.addr_bytes, our_mac, 6);
	assert_int_equal(ntohs(ah->arp_opcode), RTE_ARP_OP_REPLY);
	assert_memory_equal(ah->arp_data.arp_sha.addr_bytes, our_mac, 6);
	assert_int_equal(ah->arp_data.arp_sip, ip4(OUR_IP));
	assert_memory_equal(ah->arp_data.arp_tha.addr_bytes, peer_mac, 6);
	assert_int_equal(ah->arp_data.arp_tip, ip4(PEER_IP));
	rte_pktmbuf_free(m);
	/* RFC 826: a request targeting us teaches us the sender. */
	assert_int_equal(mx_net_arp_lookup(f.net, ip4(PEER_IP), mac), 0);
	assert_memory_equal(mac, peer_mac, 6);
	assert_int_equal(mx_net_stat(f.net, MX_NET_ARP_REPLY_TX), 1);
	assert_int_equal(mx_net_stat(f.net, MX_NET_ARP_LEARNED), 1);
	/* A request for someone else: no answer, nothing learnt. */
	len = arp_frame(b, bcast_mac, RTE_ARP_OP_REQUEST, peer_mac, "198.18.0.3", bcast_mac,
			"198.18.0.9");
	assert_int_equal(fx_feed(&f, b, len, 11), 0);
	assert_int_equal(mx_net_arp_lookup(f.net, ip4("198.18.0.3"), mac), -ENOENT);
	assert_int_equal(mx_net_stat(f.net, MX_NET_DROP_ARP_NOT_OURS), 1);
	/* An unsolicited reply about a third host is not believed... */
	len = arp_frame(b, our_mac, RTE_ARP_OP_REPLY, peer_mac, "198.18.0.4", bcast_mac,
			"198.18.0.9");
	assert_int_equal(fx_feed(&f, b, len, 12), 0);
	assert_int_equal(mx_net_arp_lookup(f.net, ip4("198.18.0.4"), mac), -ENOENT);
	/* ...but one updating a known entry is (the merge rule). */
	{
		const uint8_t moved[6] = { 0x02, 0, 0, 0, 0, 0x22 };

		len = arp_frame(b, bcast_mac, RTE_ARP_OP_REPLY, moved, PEER_IP, bcast_mac,
				PEER_IP);
		assert_int_equal(fx_feed(&f, b, len, 13), 0);
		assert_int_equal(mx_net_arp_lookup(f.net, ip4(PEER_IP), mac), 0);
		assert_memory_equal(mac, moved, 6);
		assert_int_equal(mx_net_stat(f.net, MX_NET_ARP_UPDATED), 1);
	}
	fx_close(&f);
}

struct arp_bad {
	const char *name;
	size_t cut;            /* frame length; 0: full */
	uint8_t hlen;
	const uint8_t *sha;
	const char *sip;
	enum mx_net_stat want;
};

static void
test_arp_malformed(void **state)
{
	static const uint8_t mcast[6] = { 0x01, 0, 0x5e, 0, 0, 1 };
	static const uint8_t zero[6] = { 0 };
	const struct arp_bad cases[] = {
		{ "short", 30, 6, peer_mac, PEER_IP, MX_NET_DROP_ARP_MALFORMED },
		{ "hlen 8", 0, 8, peer_mac, PEER_IP, MX_NET_DROP_ARP_MALFORMED },
		{ "bcast sender", 0, 6, bcast_mac, PEER_IP, MX_NET_DROP_ARP_BAD_SENDER },
		{ "mcast sender", 0, 6, mcast, PEER_IP, MX_NET_DROP_ARP_BAD_SENDER },
		{ "zero sender", 0, 6, zero, PEER_IP, MX_NET_DROP_ARP_BAD_SENDER },
		{ "claims our ip", 0, 6, peer_mac, OUR_IP, MX_NET_DROP_ARP_BAD_SENDER },
	};
	uint8_t b[FRAME_MAX];
	unsigned i;
	struct fx f;

	(void)state;
	fx_open(&f, false, false, NULL);
	for (i = 0; i < MX_ARRAY_SIZE(cases); i++) {
		uint64_t before = mx_net_stat(f.net, cases[i].want);
		size_t len = arp_frame(b, bcast_mac, RTE_ARP_OP_REQUEST, cases[i].sha,
				cases[i].sip, bcast_mac, OUR_IP);

		b[RTE_ETHER_HDR_LEN + 4] = cases[i].hlen;
		if (cases[i].cut != 0)
			len = cases[i].cut;
		if (fx_feed(&f, b, len, 1) != 0)
			fail_msg("%s: answered", cases[i].name);
		if (mx_net_stat(f.net, cases[i].want) != before + 1)
			fail_msg("%s: counter %s did not move", cases[i].name,
					mx_net_stat_name(cases[i].want));
	}
	assert_int_equal(mx_net_stat(f.net, MX_NET_ARP_REPLY_TX), 0);
	fx_close(&f);
}

static void
test_arp_gratuitous(void **state)
{
	const struct rte_ether_hdr *eh;
	const struct rte_arp_hdr *ah;
	struct rte_mbuf *m;
	struct fx f;

	(void)state;
	fx_open(&f, false, false, NULL);
	mx_net_start(f.net, 0);
	mx_pktio_flush(f.io);
	m = fx_take(&f);
	eh = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	ah = arp_of(m);
	assert_memory_equal(eh->dst_addr.addr_bytes, bcast_mac, 6);
	assert_int_equal(ntohs(ah->arp_opcode), RTE_ARP_OP_REQUEST);
	assert_int_equal(ah->arp_data.arp_sip, ip4(OUR_IP));
	assert_int_equal(ah->arp_data.arp_tip, ip4(OUR_IP));
	assert_memory_equal(ah->arp_data.arp_sha.addr_bytes, our_mac, 6);
	rte_pktmbuf_free(m);
	assert_int_equal(mx_pktio_mem_tx_pending(f.io), 0);
	fx_close(&f);
}

/* An L4 payload with headroom, as TCP would hand it down. */
static struct rte_mbuf *
l4_mbuf(unsigned len, uint8_t tag)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	char *d;

	assert_non_null(m);
	d = rte_pktmbuf_append(m, (uint16_t)len);
	assert_non_null(d);
	memset(d, tag, len);
	return m;
}

static void
tune_small_arp(struct mx_net_conf *c)
{
	c->arp_pending = 2;
	c->arp_retry_ms = 100;
	c->arp_retries = 3;
	c->arp_ttl_ms = 1000;
	c->arp_entries = 8;
}

static void
test_arp_resolve_then_send(void **state)
{
	uint8_t b[FRAME_MAX];
	const struct rte_ipv4_hdr *ip;
	const struct rte_ether_hdr *eh;
	const struct rte_arp_hdr *ah;
	struct rte_mbuf *m;
	struct fx f;
	size_t len;

	(void)state;
	fx_open(&f, false, false, tune_small_arp);
	assert_int_equal(mx_net_ipv4_output(f.net, l4_mbuf(21, 0xaa), 0, ip4(PEER_IP),
			IPPROTO_TCP, 5), 0);
	assert_int_equal(mx_net_ipv4_output(f.net, l4_mbuf(22, 0xbb), 0, ip4(PEER_IP),
			IPPROTO_TCP, 5), 0);
	assert_int_equal(mx_net_ipv4_output(f.net, l4_mbuf(23, 0xcc), 0, ip4(PEER_IP),
			IPPROTO_TCP, 5), -ENOBUFS);
	assert_int_equal(mx_net_stat(f.net, MX_NET_DROP_ARP_PENDING_FULL), 1);
	mx_pktio_flush(f.io);
	assert_int_equal(mx_pktio_mem_tx_pending(f.io), 1); /* the request only */
	m = fx_take(&f);
	ah = arp_of(m);
	assert_int_equal(ntohs(ah->arp_opcode), RTE_ARP_OP_REQUEST);
	assert_int_equal(ah->arp_data.arp_tip, ip4(PEER_IP));
	assert_int_equal(ah->arp_data.arp_sip, ip4(OUR_IP));
	rte_pktmbuf_free(m);
	len = arp_frame(b, our_mac, RTE_ARP_OP_REPLY, peer_mac, PEER_IP, our_mac, OUR_IP);
	assert_int_equal(fx_feed(&f, b, len, 6), 2); /* both queued frames, in order */
	m = fx_take(&f);
	eh = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	ip = (const struct rte_ipv4_hdr *)(eh + 1);
	assert_memory_equal(eh->dst_addr.addr_bytes, peer_mac, 6);
	assert_memory_equal(eh->src_addr.addr_bytes, our_mac, 6);
	assert_int_equal(ntohs(eh->ether_type), RTE_ETHER_TYPE_IPV4);
	assert_int_equal(ip->version_ihl, 0x45);
	assert_int_equal(ntohs(ip->total_length), 20 + 21);
	assert_int_equal(ntohs(ip->fragment_offset), RTE_IPV4_HDR_DF_FLAG);
	assert_int_equal(ip->time_to_live, 64);
	assert_int_equal(ip->next_proto_id, IPPROTO_TCP);
	assert_int_equal(ip->src_addr, ip4(OUR_IP));
	assert_int_equal(ip->dst_addr, ip4(PEER_IP));
	assert_int_equal(mx_net_cksum(ip, 20), 0xffff);
	assert_int_equal(*((const uint8_t *)(ip + 1)), 0xaa);
	rte_pktmbuf_free(m);
	m = fx_take(&f);
	assert_int_equal(rte_pktmbuf_pkt_len(m), 14 + 20 + 22);
	rte_pktmbuf_free(m);
	/* resolved: the next frame leaves at once */
	assert_int_equal(mx_net_ipv4_output(f.net, l4_mbuf(30, 0xdd), 0, ip4(PEER_IP),
			IPPROTO_TCP, 7), 0);
	mx_pktio_flush(f.io);
	assert_int_equal(mx_pktio_mem_tx_pending(f.io), 1);
	fx_discard(&f);
	/* close to expiry, use triggers one refresh request beside the frame */
	assert_int_equal(mx_net_ipv4_output(f.net, l4_mbuf(30, 0xdd), 0, ip4(PEER_IP),
			IPPROTO_TCP, 6 + 950), 0);
	assert_int_equal(mx_net_ipv4_output(f.net, l4_mbuf(30, 0xdd), 0, ip4(PEER_IP),
			IPPROTO_TCP, 6 + 951), 0);
	mx_pktio_flush(f.io);
	assert_int_equal(mx_pktio_mem_tx_pending(f.io), 3);
	assert_int_equal(mx_net_stat(f.net, MX_NET_ARP_REQUEST_TX), 2);
	fx_discard(&f);
	/* expiry: the table of 8 is scanned in one tick */
	mx_net_tick(f.net, 6 + 999);
	assert_int_equal(mx_net_arp_lookup(f.net, ip4(PEER_IP), (uint8_t[6]){ 0 }), 0);
	mx_net_tick(f.net, 6 + 1000);
	assert_int_equal(mx_net_arp_lookup(f.net, ip4(PEER_IP), (uint8_t[6]){ 0 }), -ENOENT);
	assert_int_equal(mx_net_stat(f.net, MX_NET_ARP_EXPIRED), 1);
	fx_close(&f);
}

static void
test_arp_resolve_fails(void **state)
{
	struct fx f;
	uint64_t t;

	(void)state;
	fx_open(&f, false, true, tune_small_arp);
	/* off-link: resolves the gateway */
	assert_int_equal(mx_net_ipv4_output(f.net, l4_mbuf(10, 1), 0, ip4("192.0.2.7"),
			IPPROTO_TCP, 0), 0);
	mx_pktio_flush(f.io);
	{
		struct rte_mbuf *m = fx_take(&f);

		assert_int_equal(arp_of(m)->arp_data.arp_tip, ip4(GW_IP));
		rte_pktmbuf_free(m);
	}
	for (t = 0; t <= 400; t += 10) {
		mx_net_tick(f.net, t);
		mx_pktio_flush(f.io);
	}
	/* three requests in all (one above), then the queued frame goes */
	assert_int_equal(mx_pktio_mem_tx_pending(f.io), 2);
	assert_int_equal(mx_net_stat(f.net, MX_NET_ARP_REQUEST_TX), 3);
	assert_int_equal(mx_net_stat(f.net, MX_NET_ARP_RESOLVE_FAILED), 1);
	assert_int_equal(mx_net_stat(f.net, MX_NET_DROP_ARP_UNRESOLVED), 1);
	fx_discard(&f);
	fx_close(&f);
	/* no gateway: off-link is unreachable */
	fx_open(&f, false, false, NULL);
	assert_int_equal(mx_net_ipv4_output(f.net, l4_mbuf(10, 1), 0, ip4("192.0.2.7"),
			IPPROTO_TCP, 0), -ENETUNREACH);
	assert_int_equal(mx_net_stat(f.net, MX_NET_DROP_TX_NO_ROUTE), 1);
	fx_close(&f);
}

enum mut {
	M_NONE, M_CUT_ETH, M_CUT_IP, M_VERSION, M_IHL4, M_IHL15, M_TOT_BIG, M_TOT_SMALL,
	M_CKSUM, M_TTL0, M_TTL1, M_MF, M_OFFSET, M_DST_OTHER, M_DST_BCAST, M_DST_SUBBCAST,
	M_DST_MCAST, M_SRC_LOOP, M_SRC_OURS, M_SRC_ZERO, M_ETH_OTHER, M_ETH_VLAN,
	M_ETH_IPV6, M_PAD, M_UDP, M_ICMP_CKSUM, M_ICMP_TYPE, M_ICMP_SHORT,
};

struct ip_case {
	const char *name;
	enum mut mut;
	const uint8_t *opt;
	unsigned olen;
	enum mx_net_stat want;  /* MX_NET_ICMP_ECHO_TX for accepted */
};

static const uint8_t opt_nop[4] = { 1, 1, 1, 0 };
static const uint8_t opt_len0[4] = { 7, 0, 0, 0 };
static const uint8_t opt_len1[4] = { 1, 1, 7, 1 };
static const uint8_t opt_long[4] = { 7, 9, 0, 0 };
static const uint8_t opt_nolen[4] = { 1, 1, 1, 7 };
static const uint8_t opt_lsrr[8] = { 131, 7, 4, 198, 18, 0, 9, 0 };
static const uint8_t opt_ssrr[8] = { 1, 137, 6, 4, 1, 2, 3, 4 };
static const uint8_t opt_rr[8] = { 7, 7, 4, 0, 0, 0, 0, 0 };

static const struct ip_case ip_cases[] = {
	{ "valid", M_NONE, NULL, 0, MX_NET_ICMP_ECHO_TX },
	{ "short eth", M_CUT_ETH, NULL, 0, MX_NET_DROP_ETH_SHORT },
	{ "short ip", M_CUT_IP, NULL, 0, MX_NET_DROP_IP_SHORT },
	{ "version 6", M_VERSION, NULL, 0, MX_NET_DROP_IP_VERSION },
	{ "ihl 4", M_IHL4, NULL, 0, MX_NET_DROP_IP_IHL },
	{ "ihl beyond frame", M_IHL15, NULL, 0, MX_NET_DROP_IP_HDR_TRUNC },
	{ "tot_len > frame", M_TOT_BIG, NULL, 0, MX_NET_DROP_IP_TOTLEN },
	{ "tot_len < ihl", M_TOT_SMALL, NULL, 0, MX_NET_DROP_IP_TOTLEN },
	{ "bad checksum", M_CKSUM, NULL, 0, MX_NET_DROP_IP_CKSUM },
	{ "ttl 0", M_TTL0, NULL, 0, MX_NET_DROP_IP_TTL },
	{ "ttl 1 accepted", M_TTL1, NULL, 0, MX_NET_ICMP_ECHO_TX },
	{ "more fragments", M_MF, NULL, 0, MX_NET_DROP_IP_FRAGMENT },
	{ "fragment offset", M_OFFSET, NULL, 0, MX_NET_DROP_IP_FRAGMENT },
	{ "options nop/eol skipped", M_NONE, opt_nop, 4, MX_NET_ICMP_ECHO_TX },
	{ "option record route skipped", M_NONE, opt_rr, 8, MX_NET_ICMP_ECHO_TX },
	{ "option length 0", M_NONE, opt_len0, 4, MX_NET_DROP_IP_OPTIONS },
	{ "option length 1", M_NONE, opt_len1, 4, MX_NET_DROP_IP_OPTIONS },
	{ "option length past header", M_NONE, opt_long, 4, MX_NET_DROP_IP_OPTIONS },
	{ "option without length byte", M_NONE, opt_nolen, 4, MX_NET_DROP_IP_OPTIONS },
	{ "lsrr", M_NONE, opt_lsrr, 8, MX_NET_DROP_IP_SRCROUTE },
	{ "ssrr", M_NONE, opt_ssrr, 8, MX_NET_DROP_IP_SRCROUTE },
	{ "not ours", M_DST_OTHER, NULL, 0, MX_NET_DROP_IP_NOT_OURS },
	{ "limited broadcast", M_DST_BCAST, NULL, 0, MX_NET_DROP_IP_BROADCAST },
	{ "subnet broadcast", M_DST_SUBBCAST, NULL, 0, MX_NET_DROP_IP_BROADCAST },
	{ "multicast", M_DST_MCAST, NULL, 0, MX_NET_DROP_IP_BROADCAST },
	{ "loopback source", M_SRC_LOOP, NULL, 0, MX_NET_DROP_IP_BAD_SRC },
	{ "our own source", M_SRC_OURS, NULL, 0, MX_NET_DROP_IP_BAD_SRC },
	{ "zero source", M_SRC_ZERO, NULL, 0, MX_NET_DROP_IP_BAD_SRC },
	{ "other mac", M_ETH_OTHER, NULL, 0, MX_NET_DROP_ETH_NOT_OURS },
	{ "vlan tag", M_ETH_VLAN, NULL, 0, MX_NET_DROP_ETH_VLAN },
	{ "ipv6", M_ETH_IPV6, NULL, 0, MX_NET_DROP_ETH_TYPE },
	{ "link padding", M_PAD, NULL, 0, MX_NET_ICMP_ECHO_TX },
	{ "udp", M_UDP, NULL, 0, MX_NET_DROP_IP_PROTO },
	{ "icmp checksum", M_ICMP_CKSUM, NULL, 0, MX_NET_DROP_ICMP_CKSUM },
	{ "icmp timestamp", M_ICMP_TYPE, NULL, 0, MX_NET_DROP_ICMP_TYPE },
	{ "icmp short", M_ICMP_SHORT, NULL, 0, MX_NET_DROP_ICMP_SHORT },
};

static void
ip_set(uint8_t *b, size_t off, uint8_t v, bool fix)
{
	b[RTE_ETHER_HDR_LEN + off] = v;
	if (fix)
		ip_fix_cksum(b);
}

static void
ip_set_addr(uint8_t *b, size_t off, const char *a)
{
	uint32_t v = ip4(a);

	memcpy(b + RTE_ETHER_HDR_LEN + off, &v, 4);
	ip_fix_cksum(b);
}

static size_t
ip_mutate(uint8_t *b, size_t len, enum mut mut)
{
	switch (mut) {
	case M_NONE: case M_TTL1: break;
	case M_CUT_ETH: return 10;
	case M_CUT_IP: return RTE_ETHER_HDR_LEN + 19;
	case M_VERSION: ip_set(b, 0, 0x65, true); break;
	case M_IHL4: ip_set(b, 0, 0x44, true); break;
	case M_IHL15: ip_set(b, 0, 0x4f, false); break;
	case M_TOT_BIG: ip_set(b, 2, 0x7f, true); break;
	case M_TOT_SMALL: ip_set(b, 2, 0, false); ip_set(b, 3, 16, true); break;
	case M_CKSUM: ip_set(b, 10, (uint8_t)(b[RTE_ETHER_HDR_LEN + 10] ^ 1), false); break;
	case M_TTL0: ip_set(b, 8, 0, true); break;
	case M_MF: ip_set(b, 6, 0x20, true); break;
	case M_OFFSET: ip_set(b, 6, 0, false); ip_set(b, 7, 8, true); break;
	case M_DST_OTHER: ip_set_addr(b, 16, "198.18.0.3"); break;
	case M_DST_BCAST: ip_set_addr(b, 16, "255.255.255.255"); break;
	case M_DST_SUBBCAST: ip_set_addr(b, 16, "198.18.0.255"); break;
	case M_DST_MCAST: ip_set_addr(b, 16, "224.0.0.1"); break;
	case M_SRC_LOOP: ip_set_addr(b, 12, "127.0.0.1"); break;
	case M_SRC_OURS: ip_set_addr(b, 12, OUR_IP); break;
	case M_SRC_ZERO: ip_set_addr(b, 12, "0.0.0.0"); break;
	case M_ETH_OTHER: b[5] = 0x99; break;
	case M_ETH_VLAN: b[12] = 0x81; b[13] = 0x00; break;
	case M_ETH_IPV6: b[12] = 0x86; b[13] = 0xdd; break;
	case M_PAD: return 60; /* 14 + 20 + 8 + 2 payload, padded */
	case M_UDP: ip_set(b, 9, IPPROTO_UDP, true); break;
	case M_ICMP_CKSUM: b[RTE_ETHER_HDR_LEN + 20 + 8] ^= 0xff; break;
	case M_ICMP_TYPE: {
		/* a timestamp request with a correct checksum */
		struct rte_icmp_hdr *ic = (struct rte_icmp_hdr *)(b + RTE_ETHER_HDR_LEN + 20);

		ic->icmp_type = 13;
		ic->icmp_cksum = 0;
		ic->icmp_cksum = (uint16_t)~mx_net_cksum(ic, len - RTE_ETHER_HDR_LEN - 20);
		break;
	}
	case M_ICMP_SHORT:
		ip_set(b, 2, 0, false);
		ip_set(b, 3, 24, true);
		return RTE_ETHER_HDR_LEN + 24;
	}
	return len;
}

static void
test_ipv4_validation_table(void **state)
{
	uint8_t b[FRAME_MAX];
	unsigned i;
	struct fx f;

	(void)state;
	fx_open(&f, false, false, NULL);
	for (i = 0; i < MX_ARRAY_SIZE(ip_cases); i++) {
		const struct ip_case *c = &ip_cases[i];
		uint64_t before = mx_net_stat(f.net, c->want);
		unsigned plen = c->mut == M_PAD ? 2 : 16;
		size_t len = ip_frame(b, IPPROTO_ICMP, PEER_IP, OUR_IP, c->opt, c->olen, plen);
		unsigned sent;

		if (c->mut == M_TTL1)
			ip_set(b, 8, 1, true);
		len = ip_mutate(b, len, c->mut);
		sent = fx_feed(&f, b, len, 1000 + i);
		if (mx_net_stat(f.net, c->want) != before + 1)
			fail_msg("%s: counter %s did not move", c->name, mx_net_stat_name(c->want));
		if (sent != (c->want == MX_NET_ICMP_ECHO_TX ? 1u : 0u))
			fail_msg("%s: %u frames sent", c->name, sent);
		if (c->mut == M_PAD) {
			struct rte_mbuf *m = fx_take(&f);

			/* the reply carries no padding: 14 + 20 + 8 + 2 */
			assert_int_equal(rte_pktmbuf_pkt_len(m), 44);
			rte_pktmbuf_free(m);
		}
		fx_discard(&f);
	}
	/* every frame went into exactly one bucket */
	assert_int_equal(mx_net_stat(f.net, MX_NET_RX_FRAMES), MX_ARRAY_SIZE(ip_cases));
	fx_close(&f);
}

static void
check_echo_reply(struct rte_mbuf *m, unsigned plen, unsigned req_hlen)
{
	const struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(eh + 1);
	const struct rte_icmp_hdr *ic = (const struct rte_icmp_hdr *)(ip + 1);
	const uint8_t *p = (const uint8_t *)(ic + 1);
	unsigned i;

	(void)req_hlen;
	assert_int_equal(rte_pktmbuf_pkt_len(m), 14 + 20 + 8 + plen);
	assert_memory_equal(eh->dst_addr.addr_bytes, peer_mac, 6);
	assert_memory_equal(eh->src_addr.addr_bytes, our_mac, 6);
	assert_int_equal(ip->version_ihl, 0x45);
	assert_int_equal(ntohs(ip->total_length), 20 + 8 + plen);
	assert_int_equal(ip->src_addr, ip4(OUR_IP));
	assert_int_equal(ip->dst_addr, ip4(PEER_IP));
	assert_int_equal(mx_net_cksum(ip, 20), 0xffff);
	assert_int_equal(ic->icmp_type, RTE_IP_ICMP_ECHO_REPLY);
	assert_int_equal(ic->icmp_code, 0);
	assert_int_equal(ntohs(ic->icmp_ident), 0x77);
	assert_int_equal(ntohs(ic->icmp_seq_nb), 5);
	assert_int_equal(mx_net_cksum(ic, 8 + plen), 0xffff);
	for (i = 0; i < plen; i++)
		assert_int_equal(p[i], (uint8_t)(i * 7 + 1));
}

static void
test_icmp_echo_lengths(void **state)
{
	static const unsigned lens[] = { 0, 1, 7, 33, 56, 1000, 1471 };
	uint8_t b[FRAME_MAX];
	unsigned i;
	struct fx f;

	(void)state;
	fx_open(&f, false, false, NULL);
	for (i = 0; i < MX_ARRAY_SIZE(lens); i++) {
		size_t len = ip_frame(b, IPPROTO_ICMP, PEER_IP, OUR_IP, NULL, 0, lens[i]);
		struct rte_mbuf *m;

		assert_int_equal(fx_feed(&f, b, len, 5), 1);
		m = fx_take(&f);
		check_echo_reply(m, lens[i], 20);
		rte_pktmbuf_free(m);
	}
	/* with options in the request, the reply has none */
	{
		size_t len = ip_frame(b, IPPROTO_ICMP, PEER_IP, OUR_IP, opt_rr, 8, 9);
		struct rte_mbuf *m;

		assert_int_equal(fx_feed(&f, b, len, 5), 1);
		m = fx_take(&f);
		check_echo_reply(m, 9, 28);
		rte_pktmbuf_free(m);
	}
	fx_close(&f);
}

static void
tune_icmp(struct mx_net_conf *c)
{
	c->icmp_rate = 2;
	c->icmp_burst = 3;
}

static void
test_icmp_rate_limit(void **state)
{
	uint8_t b[FRAME_MAX];
	unsigned i, sent = 0;
	struct fx f;
	size_t len;

	(void)state;
	fx_open(&f, false, false, tune_icmp);
	len = ip_frame(b, IPPROTO_ICMP, PEER_IP, OUR_IP, NULL, 0, 8);
	for (i = 0; i < 10; i++) {
		sent += fx_feed(&f, b, len, 0) > 0;
		fx_discard(&f);
	}
	assert_int_equal(sent, 3);
	assert_int_equal(mx_net_stat(f.net, MX_NET_DROP_ICMP_RATE), 7);
	/* 2 per second: after 500 ms one more token */
	assert_int_equal(fx_feed(&f, b, len, 500), 1);
	fx_discard(&f);
	assert_int_equal(fx_feed(&f, b, len, 500), 0);
	fx_close(&f);
}

static void
test_tcp_hook(void **state)
{
	uint8_t b[FRAME_MAX];
	struct fx f;
	size_t len;

	(void)state;
	fx_open(&f, true, false, NULL);
	len = ip_frame(b, IPPROTO_TCP, PEER_IP, OUR_IP, opt_nop, 4, 40);
	assert_int_equal(fx_feed(&f, b, len, 1), 0);
	assert_int_equal(f.tcp_calls, 1);
	assert_int_equal(f.tcp_first, 0xc3); /* data starts at the L4 header */
	assert_int_equal(f.tcp_data_len, 40);
	assert_int_equal(f.tcp_info.src, ip4(PEER_IP));
	assert_int_equal(f.tcp_info.dst, ip4(OUR_IP));
	assert_int_equal(f.tcp_info.proto, IPPROTO_TCP);
	assert_int_equal(f.tcp_info.hdr_len, 24);
	assert_int_equal(f.tcp_info.l4_len, 40);
	assert_int_equal(mx_net_stat(f.net, MX_NET_TCP_RX), 1);
	fx_close(&f);
	fx_open(&f, false, false, NULL);
	assert_int_equal(fx_feed(&f, b, len, 1), 0);
	assert_int_equal(mx_net_stat(f.net, MX_NET_DROP_TCP_NO_HOOK), 1);
	fx_close(&f);
}

static void
test_create_errors(void **state)
{
	struct mx_net_conf c;
	struct mx_net *n = NULL;

	(void)state;
	mx_net_conf_init(&c);
	assert_int_equal(mx_net_create(&c, 0, &n), -EINVAL);
	c.pool = pool;
	c.io = (struct mx_pktio *)&c; /* never used: creation fails first */
	assert_int_equal(mx_net_create(&c, 0, &n), -EINVAL); /* no address */
	c.n_addrs = 1;
	c.addrs[0].addr = ip4(OUR_IP);
	c.addrs[0].prefix = 33;
	assert_int_equal(mx_net_create(&c, 0, &n), -EINVAL);
	assert_null(n);
	assert_string_equal(mx_net_stat_name(MX_NET_DROP_IP_CKSUM), "drop_ip_cksum");
	assert_string_equal(mx_net_stat_name(MX_NET_STAT__COUNT), "unknown");
}

static void
tune_tx_tcp_cksum(struct mx_net_conf *c)
{
	c->tx_tcp_cksum = true;
}

/* A 20-byte TCP header (data offset 5, checksum field 0x1234) and
 * payload bytes 0..plen-1, as TCP would hand it down. */
static struct rte_mbuf *
tcp_mbuf(unsigned plen)
{
	struct rte_mbuf *m = l4_mbuf(20 + plen, 0);
	uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
	unsigned i;

	d[12] = 5 << 4;
	d[16] = 0x12;
	d[17] = 0x34;
	for (i = 0; i < plen; i++)
		d[20 + i] = (uint8_t)i;
	return m;
}

/* A segment as the DPDK transport builds it (mx_tcp_seg_build_flags):
 * 4 option bytes (MSS) and payload bytes 0..plen-1, from us to the peer;
 * with MX_TCP_BUILD_NO_CSUM the software sum is skipped. */
static struct rte_mbuf *
tcp_built_mbuf(unsigned plen, unsigned flags)
{
	static const uint8_t mss[4] = { 2, 4, 0x05, 0xb4 };
	uint8_t payload[1460];
	struct mx_tcp_seg seg;
	struct rte_mbuf *m;
	uint8_t *d;

	assert_true(plen <= sizeof(payload));
	for (unsigned i = 0; i < plen; i++)
		payload[i] = (uint8_t)i;
	memset(&seg, 0, sizeof(seg));
	seg.saddr = ip4(OUR_IP);
	seg.daddr = ip4(PEER_IP);
	seg.sport = 25;
	seg.dport = 40000;
	seg.seq = 1000;
	seg.ack = 2000;
	seg.flags = MX_TCP_ACK | MX_TCP_PSH;
	seg.wnd = 65535;
	seg.opt = mss;
	seg.opt_len = sizeof(mss);
	seg.payload = payload;
	seg.len = plen;
	m = rte_pktmbuf_alloc(pool);
	assert_non_null(m);
	d = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(24 + plen));
	assert_non_null(d);
	memset(d, 0xee, 24 + plen);
	assert_int_equal(mx_tcp_seg_build_flags(&seg, d, 24 + plen, flags), 24 + (long)plen);
	return m;
}

/* TX TCP checksum offload: with conf.tx_tcp_cksum the frame carries the
 * offload flags, l4_len and the pseudo-header sum, so that a NIC summing
 * the segment from l4 on produces a checksum the receiver accepts;
 * without it the caller's checksum is left as it was. */
static void
test_tx_tcp_cksum_offload(void **state)
{
	/* built: the segment comes from mx_tcp_seg_build_flags (software
	 * sum skipped exactly when offloaded), else it is tcp_mbuf's. */
	static const struct {
		bool offload;
		bool built;
		unsigned plen;
	} cases[] = {
		{ true, false, 0 }, { true, false, 1 }, { true, false, 1460 },
		{ false, false, 0 }, { false, false, 33 },
		{ true, true, 0 }, { true, true, 1 }, { true, true, 1436 },
		{ false, true, 0 }, { false, true, 1 }, { false, true, 1436 },
	};
	unsigned hl;
	const struct rte_ipv4_hdr *ip;
	struct rte_tcp_hdr *th;
	uint8_t b[FRAME_MAX];
	struct rte_mbuf *m;
	struct fx f;
	size_t i, len;
	uint16_t nic;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fx_open(&f, false, false, cases[i].offload ? tune_tx_tcp_cksum : NULL);
		/* the peer asks for us: we learn its MAC and answer */
		len = arp_frame(b, bcast_mac, RTE_ARP_OP_REQUEST, peer_mac, PEER_IP,
				(const uint8_t[6]){ 0 }, OUR_IP);
		assert_int_equal(fx_feed(&f, b, len, 1), 1);
		fx_discard(&f);
		m = cases[i].built ? tcp_built_mbuf(cases[i].plen,
				cases[i].offload ? MX_TCP_BUILD_NO_CSUM : 0) : tcp_mbuf(cases[i].plen);
		hl = cases[i].built ? 24 : 20;
		assert_int_equal(mx_net_ipv4_output(f.net, m, 0, ip4(PEER_IP), IPPROTO_TCP, 2), 0);
		mx_pktio_flush(f.io);
		m = fx_take(&f);
		ip = rte_pktmbuf_mtod_offset(m, const struct rte_ipv4_hdr *, 14);
		th = rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *, 34);
		assert_int_equal(m->l2_len, 14);
		assert_int_equal(m->l3_len, 20);
		if (!cases[i].offload) {
			assert_int_equal(m->ol_flags & RTE_MBUF_F_TX_L4_MASK, 0);
			/* built: a full checksum the receiver accepts */
			if (cases[i].built)
				assert_int_equal(mx_tcp_csum(ip->src_addr, ip->dst_addr,
						th, hl + cases[i].plen), 0);
			else
				assert_int_equal(ntohs(th->cksum), 0x1234);
			rte_pktmbuf_free(m);
			fx_close(&f);
			continue;
		}
		assert_int_equal(m->ol_flags & RTE_MBUF_F_TX_L4_MASK, RTE_MBUF_F_TX_TCP_CKSUM);
		assert_true((m->ol_flags & RTE_MBUF_F_TX_IPV4) != 0);
		assert_int_equal(m->l4_len, hl);
		assert_int_equal(th->cksum, rte_ipv4_phdr_cksum(ip, m->ol_flags));
		/* what the NIC does: sum from the TCP header on, field included */
		nic = (uint16_t)~rte_raw_cksum(th, hl + cases[i].plen);
		if (nic == 0)
			nic = 0xffff;
		/* equals the full software checksum over the pseudo-header */
		th->cksum = 0;
		assert_int_equal(nic, rte_ipv4_udptcp_cksum(ip, th));
		rte_pktmbuf_free(m);
		fx_close(&f);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cksum_vectors),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_arp_request_reply_learn),
		cmocka_unit_test(test_arp_malformed),
		cmocka_unit_test(test_arp_gratuitous),
		cmocka_unit_test(test_arp_resolve_then_send),
		cmocka_unit_test(test_arp_resolve_fails),
		cmocka_unit_test(test_ipv4_validation_table),
		cmocka_unit_test(test_icmp_echo_lengths),
		cmocka_unit_test(test_icmp_rate_limit),
		cmocka_unit_test(test_tcp_hook),
		cmocka_unit_test(test_tx_tcp_cksum_offload),
	};
	int rc;

	rc = port_testenv_start("net_test", "");
	if (rc != 0)
		return rc;
	pool = port_testenv_pool("net_test", 2047, RTE_MBUF_DEFAULT_BUF_SIZE);
	if (pool == NULL) {
		port_testenv_end(NULL);
		return PORT_TESTENV_SKIP;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	port_testenv_end(pool);
	return rc;
}
