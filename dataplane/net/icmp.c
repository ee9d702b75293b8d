/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * icmp.c: ICMP echo reply (RFC 792, RFC 1122 3.2.2.6), rate-limited by a
 * per-lcore token bucket so a ping flood cannot make us a reflector or
 * eat the TX queue. The request is turned into the reply in place (no
 * allocation); options of the request are not echoed (we drop source
 * routes on input and do not implement record route or timestamp).
 * Every other ICMP message is counted and dropped.
 */
#include <string.h>

#include <rte_byteorder.h>
#include <rte_icmp.h>

#include "net_priv.h"

#define ICMP_HDR_LEN 8u

static bool
icmp_rate_ok(struct mx_net *n, uint64_t now)
{
	uint64_t cap = (uint64_t)n->conf.icmp_burst * 1000;

	if (now > n->icmp_last_ms) {
		n->icmp_tokens += (now - n->icmp_last_ms) * n->conf.icmp_rate;
		if (n->icmp_tokens > cap)
			n->icmp_tokens = cap;
		n->icmp_last_ms = now;
	}
	if (n->icmp_tokens < 1000)
		return false;
	n->icmp_tokens -= 1000;
	return true;
}

/* Removes IPv4 options by sliding the Ethernet and fixed IPv4 headers
 * forward over them; returns the new IPv4 header. */
static struct rte_ipv4_hdr *
icmp_strip_options(struct rte_mbuf *m, uint16_t hlen)
{
	uint16_t extra = (uint16_t)(hlen - sizeof(struct rte_ipv4_hdr));
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);

	memmove(p + extra, p, RTE_ETHER_HDR_LEN + sizeof(struct rte_ipv4_hdr));
	rte_pktmbuf_adj(m, extra);
	return rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, RTE_ETHER_HDR_LEN);
}

static void
icmp_echo_reply(struct mx_net *n, struct rte_mbuf *m, uint16_t hlen, uint16_t icmp_len)
{
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ip;
	struct rte_icmp_hdr *ic;
	uint32_t a;

	/* Back to where it came from at L2: the sender, or the router that
	 * forwarded it to us. */
	rte_ether_addr_copy(&eh->src_addr, &eh->dst_addr);
	rte_ether_addr_copy(&n->mac, &eh->src_addr);
	ip = hlen > sizeof(*ip) ? icmp_strip_options(m, hlen) :
		rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, RTE_ETHER_HDR_LEN);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(sizeof(*ip) + icmp_len));
	a = ip->src_addr;
	ip->src_addr = ip->dst_addr;
	ip->dst_addr = a;
	ip->time_to_live = IPV4_TTL;
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ic = (struct rte_icmp_hdr *)(ip + 1);
	ic->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
	ic->icmp_cksum = 0;
	ic->icmp_cksum = (uint16_t)~mx_net_cksum(ic, icmp_len);
	m->ol_flags = 0;
	ipv4_cksum_out(n, m, ip);
	net_count(n, MX_NET_ICMP_ECHO_TX);
	mx_pktio_send(n->conf.io, m);
}

void
icmp_input(struct mx_net *n, struct rte_mbuf *m, uint16_t hlen, uint16_t tot, uint64_t now)
{
	const struct rte_icmp_hdr *ic;
	uint16_t len = (uint16_t)(tot - hlen);

	net_count(n, MX_NET_ICMP_RX);
	if (len < ICMP_HDR_LEN) {
		net_drop(n, m, MX_NET_DROP_ICMP_SHORT);
		return;
	}
	/* The checksum covers the whole message, so it must be contiguous;
	 * echo requests larger than a segment are not worth a gather. */
	if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN + (uint32_t)tot) {
		net_drop(n, m, MX_NET_DROP_SEGMENTED);
		return;
	}
	ic = rte_pktmbuf_mtod_offset(m, const struct rte_icmp_hdr *, RTE_ETHER_HDR_LEN + hlen);
	if (mx_net_cksum(ic, len) != 0xffff) {
		net_drop(n, m, MX_NET_DROP_ICMP_CKSUM);
		return;
	}
	if (ic->icmp_type != RTE_IP_ICMP_ECHO_REQUEST || ic->icmp_code != 0) {
		net_drop(n, m, MX_NET_DROP_ICMP_TYPE);
		return;
	}
	if (!icmp_rate_ok(n, now)) {
		net_drop(n, m, MX_NET_DROP_ICMP_RATE);
		return;
	}
	icmp_echo_reply(n, m, hlen, len);
}
