/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ipv4.c: IPv4 input validation and dispatch, and IPv4 output.
 *
 * Input checks run in the order of RFC 1812 section 5.2.2, starting from
 * what the link actually delivered (STYLE pitfall 2): every field is
 * range-checked against the received length before it is used, and the
 * smaller of the frame and the header's claim wins. Each failed check
 * has its own counter; the frame is freed.
 */
#include <errno.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_tcp.h>

#include "net_priv.h"

#define IP_OPT_EOL 0
#define IP_OPT_NOP 1
#define IP_OPT_LSRR 131
#define IP_OPT_SSRR 137

/* Walks the option list (RFC 791 section 3.1): each length byte must be
 * inside the header, at least 2 (a smaller one would never advance: STYLE
 * pitfall 1) and no longer than what is left. Returns the drop reason or
 * MX_NET_STAT__COUNT when the options are acceptable. */
static enum mx_net_stat
ipv4_options_check(const uint8_t *opt, unsigned len)
{
	unsigned i = 0;

	while (i < len) {
		uint8_t type = opt[i];

		if (type == IP_OPT_EOL)
			break;
		if (type == IP_OPT_NOP) {
			i++;
			continue;
		}
		if (i + 1 >= len || opt[i + 1] < 2 || opt[i + 1] > len - i)
			return MX_NET_DROP_IP_OPTIONS;
		/* Source routing lets a peer choose our reply path; RFC 7126
		 * sections 4.3 and 4.4 advise dropping it. */
		if (type == IP_OPT_LSRR || type == IP_OPT_SSRR)
			return MX_NET_DROP_IP_SRCROUTE;
		i += opt[i + 1];
	}
	return MX_NET_STAT__COUNT;
}

static bool
ipv4_cksum_ok(const struct mx_net *n, const struct rte_mbuf *m,
		const struct rte_ipv4_hdr *ip, unsigned hlen)
{
	uint64_t f = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;

	if (n->conf.rx_ipv4_cksum && f == RTE_MBUF_F_RX_IP_CKSUM_GOOD)
		return true;
	if (n->conf.rx_ipv4_cksum && f == RTE_MBUF_F_RX_IP_CKSUM_BAD)
		return false;
	/* A correct header sums to all ones (RFC 1071). */
	return mx_net_cksum(ip, hlen) == 0xffff;
}

/* RFC 1122 3.2.1.3: a source that is broadcast, multicast, "this host"
 * or loopback is never a legitimate peer; our own address means spoofing. */
static bool
ipv4_src_ok(const struct mx_net *n, uint32_t src)
{
	uint8_t first = (uint8_t)(rte_be_to_cpu_32(src) >> 24);

	if (src == 0 || src == 0xffffffffu || first == 127 || (first & 0xf0) == 0xe0)
		return false;
	return net_addr_index(n, src) < 0;
}

/* RFC 1122 3.3.6: limited broadcast, a directed broadcast of one of our
 * subnets, or multicast; we answer none of them (3.2.2.6). */
static bool
ipv4_is_broadcast(const struct mx_net *n, uint32_t dst)
{
	unsigned i;

	if (dst == 0xffffffffu || (rte_be_to_cpu_32(dst) >> 28) == 0xe)
		return true;
	for (i = 0; i < n->conf.n_addrs; i++) {
		uint32_t net = n->conf.addrs[i].addr & n->mask[i];

		if (n->conf.addrs[i].prefix < 31 && (dst | n->mask[i]) == 0xffffffffu &&
				(dst & n->mask[i]) == net)
			return true;
	}
	return false;
}

/* Returns the drop reason, or MX_NET_STAT__COUNT when the header is valid
 * (*hlen_out, *tot_out set). Numbered steps follow RFC 1812 5.2.2. */
static enum mx_net_stat
ipv4_validate(const struct mx_net *n, const struct rte_mbuf *m,
		uint16_t *hlen_out, uint16_t *tot_out)
{
	const struct rte_ipv4_hdr *ip;
	uint32_t avail = rte_pktmbuf_pkt_len(m) - RTE_ETHER_HDR_LEN;
	unsigned hlen, tot, frag;

	/* (1) the link delivered at least a minimal header */
	if (avail < sizeof(struct rte_ipv4_hdr))
		return MX_NET_DROP_IP_SHORT;
	if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN + sizeof(struct rte_ipv4_hdr))
		return MX_NET_DROP_SEGMENTED;
	ip = rte_pktmbuf_mtod_offset(m, const struct rte_ipv4_hdr *, RTE_ETHER_HDR_LEN);
	/* (2) version 4 */
	if ((ip->version_ihl >> 4) != 4)
		return MX_NET_DROP_IP_VERSION;
	/* (3) IHL at least 5 words, and (4) inside what was received */
	hlen = (ip->version_ihl & 0xf) * 4u;
	if (hlen < sizeof(struct rte_ipv4_hdr))
		return MX_NET_DROP_IP_IHL;
	if (hlen > avail)
		return MX_NET_DROP_IP_HDR_TRUNC;
	if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN + hlen)
		return MX_NET_DROP_SEGMENTED;
	/* (5) total length covers the header and no more than the frame */
	tot = rte_be_to_cpu_16(ip->total_length);
	if (tot < hlen || tot > avail)
		return MX_NET_DROP_IP_TOTLEN;
	/* (6) header checksum */
	if (!ipv4_cksum_ok(n, m, ip, hlen))
		return MX_NET_DROP_IP_CKSUM;
	/* (7) TTL: 0 never reaches a destination legitimately; 1 is fine
	 * here, we deliver and never forward. */
	if (ip->time_to_live == 0)
		return MX_NET_DROP_IP_TTL;
	/* (8) options */
	if (hlen > sizeof(struct rte_ipv4_hdr)) {
		enum mx_net_stat r = ipv4_options_check((const uint8_t *)(ip + 1),
				hlen - (unsigned)sizeof(struct rte_ipv4_hdr));

		if (r != MX_NET_STAT__COUNT)
			return r;
	}
	/* (9) fragments: counted drop, no reassembly. SMTP peers send TCP
	 * with DF and path MTU discovery (RFC 1191); RFC 8900 documents why
	 * fragmentation is fragile, and a reassembly queue is memory a
	 * peer could fill. XXX a middlebox fragmenting DF-less TCP breaks
	 * that peer; see issue 3. */
	frag = rte_be_to_cpu_16(ip->fragment_offset);
	if ((frag & (RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) != 0)
		return MX_NET_DROP_IP_FRAGMENT;
	/* (10) addresses */
	if (!ipv4_src_ok(n, ip->src_addr))
		return MX_NET_DROP_IP_BAD_SRC;
	if (net_addr_index(n, ip->dst_addr) < 0)
		return ipv4_is_broadcast(n, ip->dst_addr) ?
			MX_NET_DROP_IP_BROADCAST : MX_NET_DROP_IP_NOT_OURS;
	*hlen_out = (uint16_t)hlen;
	*tot_out = (uint16_t)tot;
	return MX_NET_STAT__COUNT;
}

static void
ipv4_tcp_up(struct mx_net *n, struct rte_mbuf *m, const struct rte_ipv4_hdr *ip,
		uint16_t hlen, uint16_t tot)
{
	uint64_t l4f = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
	struct mx_ipv4_info info = {
		.src = ip->src_addr,
		.dst = ip->dst_addr,
		.proto = ip->next_proto_id,
		.ttl = ip->time_to_live,
		.hdr_len = hlen,
		.l4_len = (uint16_t)(tot - hlen),
		.l4_cksum_good = l4f == RTE_MBUF_F_RX_L4_CKSUM_GOOD,
		.l4_cksum_bad = l4f == RTE_MBUF_F_RX_L4_CKSUM_BAD,
	};

	if (n->conf.tcp_input == NULL) {
		net_drop(n, m, MX_NET_DROP_TCP_NO_HOOK);
		return;
	}
	m->l2_len = RTE_ETHER_HDR_LEN;
	m->l3_len = hlen;
	rte_pktmbuf_adj(m, (uint16_t)(RTE_ETHER_HDR_LEN + hlen));
	net_count(n, MX_NET_TCP_RX);
	n->conf.tcp_input(n->conf.tcp_ctx, m, &info);
}

void
ipv4_input(struct mx_net *n, struct rte_mbuf *m, uint64_t now)
{
	const struct rte_ipv4_hdr *ip;
	uint16_t hlen = 0, tot = 0;
	uint32_t frame;
	enum mx_net_stat r;

	r = ipv4_validate(n, m, &hlen, &tot);
	if (r != MX_NET_STAT__COUNT) {
		net_drop(n, m, r);
		return;
	}
	net_count(n, MX_NET_IPV4_RX);
	/* Link padding (60-byte minimum frames) beyond total length goes;
	 * a multi-segment tail that cannot be trimmed is bounded by l4_len. */
	frame = RTE_ETHER_HDR_LEN + (uint32_t)tot;
	if (rte_pktmbuf_pkt_len(m) > frame)
		(void)rte_pktmbuf_trim(m, (uint16_t)(rte_pktmbuf_pkt_len(m) - frame));
	ip = rte_pktmbuf_mtod_offset(m, const struct rte_ipv4_hdr *, RTE_ETHER_HDR_LEN);
	switch (ip->next_proto_id) {
	case IPPROTO_TCP:
		ipv4_tcp_up(n, m, ip, hlen, tot);
		break;
	case IPPROTO_ICMP:
		icmp_input(n, m, hlen, tot, now);
		break;
	default:
		/* XXX no ICMP protocol/port unreachable (RFC 1122 3.2.2.1
		 * SHOULD): an SMTP edge has no UDP service to point at and
		 * silence gives scanners less; see issue 3. */
		net_drop(n, m, MX_NET_DROP_IP_PROTO);
		break;
	}
}

void
ipv4_cksum_out(const struct mx_net *n, struct rte_mbuf *m, struct rte_ipv4_hdr *ip)
{
	ip->hdr_checksum = 0;
	m->l2_len = RTE_ETHER_HDR_LEN;
	m->l3_len = (ip->version_ihl & 0xf) * 4u;
	m->ol_flags |= RTE_MBUF_F_TX_IPV4;
	if (n->conf.tx_ipv4_cksum)
		m->ol_flags |= RTE_MBUF_F_TX_IP_CKSUM;
	else
		ip->hdr_checksum = (uint16_t)~mx_net_cksum(ip, m->l3_len);
}

/* The NIC computes the TCP checksum: DPDK's contract for
 * RTE_MBUF_F_TX_TCP_CKSUM is the pseudo-header sum (RFC 9293 3.1) in the
 * checksum field and l2/l3/l4_len set. Only when the whole TCP header is in
 * the first segment; otherwise the checksum the caller wrote stays. */
static void
ipv4_tcp_cksum_offload(struct rte_mbuf *m, const struct rte_ipv4_hdr *ip)
{
	struct rte_tcp_hdr *th;
	uint32_t off = (uint32_t)m->l2_len + m->l3_len;

	if (rte_pktmbuf_data_len(m) < off + sizeof(*th))
		return;
	th = rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *, off);
	m->l4_len = (th->data_off >> 4) * 4u;
	m->ol_flags |= RTE_MBUF_F_TX_TCP_CKSUM;
	th->cksum = rte_ipv4_phdr_cksum(ip, m->ol_flags);
}

static void
ipv4_hdr_fill(struct mx_net *n, struct rte_ipv4_hdr *ip, uint32_t src, uint32_t dst,
		uint8_t proto, uint16_t tot)
{
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->type_of_service = 0;
	ip->total_length = rte_cpu_to_be_16(tot);
	/* RFC 6864 4.1: with DF set the ID has no reassembly meaning; a
	 * per-lcore counter is enough. */
	ip->packet_id = rte_cpu_to_be_16(n->ip_id++);
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = IPV4_TTL;
	ip->next_proto_id = proto;
	ip->src_addr = src;
	ip->dst_addr = dst;
}

int
mx_net_ipv4_output(struct mx_net *n, struct rte_mbuf *m, uint32_t src, uint32_t dst,
		uint8_t proto, uint64_t now_ms)
{
	struct rte_ether_hdr *eh;
	struct rte_ipv4_hdr *ip;
	uint32_t hop, len = rte_pktmbuf_pkt_len(m);

	if (net_on_link(n, dst))
		hop = dst;
	else if (n->conf.gateway != 0)
		hop = n->conf.gateway;
	else {
		net_drop(n, m, MX_NET_DROP_TX_NO_ROUTE);
		return -ENETUNREACH;
	}
	if (len + sizeof(*ip) > UINT16_MAX) {
		net_drop(n, m, MX_NET_DROP_TX_HEADROOM);
		return -EMSGSIZE;
	}
	eh = (struct rte_ether_hdr *)rte_pktmbuf_prepend(m, MX_NET_HDR_ROOM);
	if (eh == NULL) {
		net_drop(n, m, MX_NET_DROP_TX_HEADROOM);
		return -EMSGSIZE;
	}
	ip = (struct rte_ipv4_hdr *)(eh + 1);
	ipv4_hdr_fill(n, ip, src != 0 ? src : net_src_for(n, dst), dst, proto,
			(uint16_t)(len + sizeof(*ip)));
	ipv4_cksum_out(n, m, ip);
	if (proto == IPPROTO_TCP && n->conf.tx_tcp_cksum)
		ipv4_tcp_cksum_offload(m, ip);
	rte_ether_addr_copy(&n->mac, &eh->src_addr);
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	net_count(n, MX_NET_IPV4_TX);
	return arp_resolve_send(n, m, hop, now_ms);
}
