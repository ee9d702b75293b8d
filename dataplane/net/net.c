/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * net.c: creation of the per-lcore L2/L3 state, Ethernet input (the
 * demultiplexer in front of ARP and IPv4), addresses and counters.
 *
 * Ethernet input accepts frames to our MAC and broadcast only; tagged
 * frames are dropped (the port carries untagged traffic; a tag means a
 * misconfigured switch port or a VLAN-hopping attempt).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_byteorder.h>

#include "mx_base.h"
#include "net_priv.h"

#define DEFAULT_ARP_ENTRIES 256u
#define DEFAULT_ARP_PENDING 4u
#define DEFAULT_ARP_TTL_MS 300000u  /* 5 minutes, like BSD's arpt_keep */
#define DEFAULT_ARP_RETRY_MS 1000u
#define DEFAULT_ARP_RETRIES 3u
#define DEFAULT_ICMP_RATE 100u      /* replies/s: ping works, a flood is no reflector */
#define DEFAULT_ICMP_BURST 50u

static const char *const stat_names[MX_NET_STAT__COUNT] = {
	[MX_NET_RX_FRAMES] = "rx_frames",
	[MX_NET_DROP_ETH_SHORT] = "drop_eth_short",
	[MX_NET_DROP_ETH_NOT_OURS] = "drop_eth_not_ours",
	[MX_NET_DROP_ETH_VLAN] = "drop_eth_vlan",
	[MX_NET_DROP_ETH_TYPE] = "drop_eth_type",
	[MX_NET_DROP_SEGMENTED] = "drop_segmented",
	[MX_NET_ARP_RX] = "arp_rx",
	[MX_NET_DROP_ARP_MALFORMED] = "drop_arp_malformed",
	[MX_NET_DROP_ARP_NOT_OURS] = "drop_arp_not_ours",
	[MX_NET_DROP_ARP_BAD_SENDER] = "drop_arp_bad_sender",
	[MX_NET_ARP_REPLY_TX] = "arp_reply_tx",
	[MX_NET_ARP_REQUEST_TX] = "arp_request_tx",
	[MX_NET_ARP_LEARNED] = "arp_learned",
	[MX_NET_ARP_UPDATED] = "arp_updated",
	[MX_NET_ARP_EXPIRED] = "arp_expired",
	[MX_NET_ARP_RESOLVE_FAILED] = "arp_resolve_failed",
	[MX_NET_DROP_ARP_PENDING_FULL] = "drop_arp_pending_full",
	[MX_NET_DROP_ARP_TABLE_FULL] = "drop_arp_table_full",
	[MX_NET_DROP_ARP_UNRESOLVED] = "drop_arp_unresolved",
	[MX_NET_IPV4_RX] = "ipv4_rx",
	[MX_NET_DROP_IP_SHORT] = "drop_ip_short",
	[MX_NET_DROP_IP_VERSION] = "drop_ip_version",
	[MX_NET_DROP_IP_IHL] = "drop_ip_ihl",
	[MX_NET_DROP_IP_HDR_TRUNC] = "drop_ip_hdr_trunc",
	[MX_NET_DROP_IP_TOTLEN] = "drop_ip_totlen",
	[MX_NET_DROP_IP_CKSUM] = "drop_ip_cksum",
	[MX_NET_DROP_IP_TTL] = "drop_ip_ttl",
	[MX_NET_DROP_IP_OPTIONS] = "drop_ip_options",
	[MX_NET_DROP_IP_SRCROUTE] = "drop_ip_srcroute",
	[MX_NET_DROP_IP_FRAGMENT] = "drop_ip_fragment",
	[MX_NET_DROP_IP_BAD_SRC] = "drop_ip_bad_src",
	[MX_NET_DROP_IP_BROADCAST] = "drop_ip_broadcast",
	[MX_NET_DROP_IP_NOT_OURS] = "drop_ip_not_ours",
	[MX_NET_DROP_IP_PROTO] = "drop_ip_proto",
	[MX_NET_DROP_TCP_NO_HOOK] = "drop_tcp_no_hook",
	[MX_NET_TCP_RX] = "tcp_rx",
	[MX_NET_ICMP_RX] = "icmp_rx",
	[MX_NET_DROP_ICMP_SHORT] = "drop_icmp_short",
	[MX_NET_DROP_ICMP_CKSUM] = "drop_icmp_cksum",
	[MX_NET_DROP_ICMP_TYPE] = "drop_icmp_type",
	[MX_NET_DROP_ICMP_RATE] = "drop_icmp_rate",
	[MX_NET_ICMP_ECHO_TX] = "icmp_echo_tx",
	[MX_NET_IPV4_TX] = "ipv4_tx",
	[MX_NET_DROP_TX_NO_ROUTE] = "drop_tx_no_route",
	[MX_NET_DROP_TX_HEADROOM] = "drop_tx_headroom",
	[MX_NET_DROP_TX_NOMBUF] = "drop_tx_nombuf",
};

const char *
mx_net_stat_name(enum mx_net_stat k)
{
	if ((unsigned)k >= MX_NET_STAT__COUNT || stat_names[k] == NULL)
		return "unknown";
	return stat_names[k];
}

const struct mx_net_stats *
mx_net_stats(const struct mx_net *n)
{
	return &n->stats;
}

void
mx_net_conf_init(struct mx_net_conf *c)
{
	memset(c, 0, sizeof(*c));
}

static uint32_t
prefix_mask(uint8_t prefix)
{
	return prefix == 0 ? 0 : rte_cpu_to_be_32(~0u << (32 - prefix));
}

static void
conf_defaults(struct mx_net_conf *c)
{
	if (c->arp_entries == 0)
		c->arp_entries = DEFAULT_ARP_ENTRIES;
	if (c->arp_pending == 0)
		c->arp_pending = DEFAULT_ARP_PENDING;
	if (c->arp_pending > ARP_PENDING_MAX)
		c->arp_pending = ARP_PENDING_MAX;
	if (c->arp_ttl_ms == 0)
		c->arp_ttl_ms = DEFAULT_ARP_TTL_MS;
	if (c->arp_retry_ms == 0)
		c->arp_retry_ms = DEFAULT_ARP_RETRY_MS;
	if (c->arp_retries == 0)
		c->arp_retries = DEFAULT_ARP_RETRIES;
	if (c->icmp_rate == 0)
		c->icmp_rate = DEFAULT_ICMP_RATE;
	if (c->icmp_burst == 0)
		c->icmp_burst = DEFAULT_ICMP_BURST;
}

static int
conf_check(const struct mx_net_conf *c)
{
	unsigned i;

	if (c->pool == NULL || c->io == NULL)
		return -EINVAL;
	if (c->n_addrs == 0 || c->n_addrs > MX_NET_MAX_ADDRS)
		return -EINVAL;
	for (i = 0; i < c->n_addrs; i++)
		if (c->addrs[i].prefix > 32 || c->addrs[i].addr == 0)
			return -EINVAL;
	if (c->arp_entries > (1u << 20))
		return -EINVAL;
	return 0;
}

int
mx_net_create(const struct mx_net_conf *c, uint64_t now_ms, struct mx_net **out)
{
	struct mx_net *n;
	unsigned i;
	int rc;

	*out = NULL;
	if (c == NULL || conf_check(c) < 0)
		return -EINVAL;
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	n->conf = *c;
	conf_defaults(&n->conf);
	memcpy(n->mac.addr_bytes, c->mac, RTE_ETHER_ADDR_LEN);
	for (i = 0; i < c->n_addrs; i++)
		n->mask[i] = prefix_mask(c->addrs[i].prefix);
	n->icmp_tokens = (uint64_t)n->conf.icmp_burst * 1000;
	n->icmp_last_ms = now_ms;
	memcpy(n->hash_key, mx_secret_key(), sizeof(n->hash_key));
	rc = arp_init(n);
	if (rc < 0) {
		free(n);
		return rc;
	}
	*out = n;
	return 0;
}

void
mx_net_free(struct mx_net *n)
{
	if (n == NULL)
		return;
	arp_fini(n);
	free(n);
}

int
net_addr_index(const struct mx_net *n, uint32_t ip)
{
	unsigned i;

	for (i = 0; i < n->conf.n_addrs; i++)
		if (n->conf.addrs[i].addr == ip)
			return (int)i;
	return -1;
}

bool
net_on_link(const struct mx_net *n, uint32_t ip)
{
	unsigned i;

	for (i = 0; i < n->conf.n_addrs; i++)
		if ((ip & n->mask[i]) == (n->conf.addrs[i].addr & n->mask[i]))
			return true;
	return false;
}

uint32_t
net_src_for(const struct mx_net *n, uint32_t ip)
{
	unsigned i;

	for (i = 0; i < n->conf.n_addrs; i++)
		if ((ip & n->mask[i]) == (n->conf.addrs[i].addr & n->mask[i]))
			return n->conf.addrs[i].addr;
	return n->conf.addrs[0].addr;
}

void
mx_net_start(struct mx_net *n, uint64_t now_ms)
{
	unsigned i;

	(void)now_ms;
	for (i = 0; i < n->conf.n_addrs; i++)
		arp_announce(n, n->conf.addrs[i].addr);
}

static bool
eth_is_tag(uint16_t type)
{
	return type == RTE_ETHER_TYPE_VLAN || type == RTE_ETHER_TYPE_QINQ ||
		type == RTE_ETHER_TYPE_QINQ1 || type == RTE_ETHER_TYPE_QINQ2;
}

static void
eth_input(struct mx_net *n, struct rte_mbuf *m, uint64_t now)
{
	const struct rte_ether_hdr *eh;
	uint16_t type;

	net_count(n, MX_NET_RX_FRAMES);
	if (rte_pktmbuf_pkt_len(m) < RTE_ETHER_HDR_LEN) {
		net_drop(n, m, MX_NET_DROP_ETH_SHORT);
		return;
	}
	if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN) {
		net_drop(n, m, MX_NET_DROP_SEGMENTED);
		return;
	}
	if ((m->ol_flags & (RTE_MBUF_F_RX_VLAN_STRIPPED | RTE_MBUF_F_RX_QINQ_STRIPPED)) != 0) {
		net_drop(n, m, MX_NET_DROP_ETH_VLAN);
		return;
	}
	eh = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	if (!rte_is_broadcast_ether_addr(&eh->dst_addr) &&
			!rte_is_same_ether_addr(&eh->dst_addr, &n->mac)) {
		net_drop(n, m, MX_NET_DROP_ETH_NOT_OURS);
		return;
	}
	type = rte_be_to_cpu_16(eh->ether_type);
	if (type == RTE_ETHER_TYPE_IPV4)
		ipv4_input(n, m, now);
	else if (type == RTE_ETHER_TYPE_ARP)
		arp_input(n, m, now);
	else if (eth_is_tag(type))
		net_drop(n, m, MX_NET_DROP_ETH_VLAN);
	else
		net_drop(n, m, MX_NET_DROP_ETH_TYPE);
}

void
mx_net_input(struct mx_net *n, struct rte_mbuf **pkts, uint16_t count, uint64_t now_ms)
{
	uint16_t i;

	for (i = 0; i < count; i++)
		eth_input(n, pkts[i], now_ms);
}

void
mx_net_tick(struct mx_net *n, uint64_t now_ms)
{
	arp_tick(n, now_ms);
}

uint16_t
mx_net_cksum(const void *p, size_t len)
{
	return mx_inet_fold(mx_inet_sum(0, p, len));
}
