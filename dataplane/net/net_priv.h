/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * net_priv.h: the per-lcore L2/L3 state shared by net.c (Ethernet,
 * create/free, counters), arp.c, ipv4.c and icmp.c. Not for other
 * modules: they use mx_net.h.
 */
#ifndef MX_NET_PRIV_H
#define MX_NET_PRIV_H

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "mx_net.h"
#include "mx_pktio.h"

#define ARP_PENDING_MAX 16u
#define ARP_PROBE 8u          /* slots probed per lookup (bounded work) */
#define ARP_TICK_SLICE 64u    /* entries visited per mx_net_tick() */
#define IPV4_TTL 64           /* RFC 1700 default, Linux's too */

enum arp_state {
	ARP_FREE = 0,
	ARP_INCOMPLETE,           /* request sent, frames may be queued */
	ARP_REACHABLE,
};

struct arp_entry {
	uint32_t ip;              /* network order */
	uint8_t state;
	uint8_t retries;
	uint8_t n_pending;
	bool refreshing;          /* a refresh request is out */
	struct rte_ether_addr mac;
	uint64_t deadline_ms;     /* REACHABLE: expiry; INCOMPLETE: next retry */
	uint64_t used_ms;         /* last use or update: eviction order */
	struct rte_mbuf *pending[ARP_PENDING_MAX];
};

struct mx_net {
	struct mx_net_conf conf;
	struct rte_ether_addr mac;
	uint32_t mask[MX_NET_MAX_ADDRS]; /* network order */
	struct mx_net_stats stats;
	uint16_t ip_id;
	uint64_t icmp_tokens;     /* thousandths of a token */
	uint64_t icmp_last_ms;
	struct arp_entry *arp;
	unsigned arp_mask;
	unsigned arp_cursor;
	uint8_t hash_key[16];
};

static inline void
net_count(struct mx_net *n, enum mx_net_stat k)
{
	uint64_t v = atomic_load_explicit(&n->stats.v[k], memory_order_relaxed);

	atomic_store_explicit(&n->stats.v[k], v + 1, memory_order_relaxed);
}

/* Counts k and frees m: the end of every dropped frame. */
static inline void
net_drop(struct mx_net *n, struct rte_mbuf *m, enum mx_net_stat k)
{
	net_count(n, k);
	rte_pktmbuf_free(m);
}

/* Index of our address equal to ip, or -1. */
int net_addr_index(const struct mx_net *n, uint32_t ip);
/* The address on ip's subnet, else the first one. */
uint32_t net_src_for(const struct mx_net *n, uint32_t ip);
bool net_on_link(const struct mx_net *n, uint32_t ip);

int arp_init(struct mx_net *n);
void arp_fini(struct mx_net *n);
void arp_input(struct mx_net *n, struct rte_mbuf *m, uint64_t now);
void arp_tick(struct mx_net *n, uint64_t now);
void arp_announce(struct mx_net *n, uint32_t ip);
/* Fills m's Ethernet destination and sends it, or queues it while hop
 * resolves. Owns m. 0 or -ENOBUFS. */
int arp_resolve_send(struct mx_net *n, struct rte_mbuf *m, uint32_t hop, uint64_t now);

void ipv4_input(struct mx_net *n, struct rte_mbuf *m, uint64_t now);
/* Sets the header checksum, in software or as offload flags. */
void ipv4_cksum_out(const struct mx_net *n, struct rte_mbuf *m, struct rte_ipv4_hdr *ip);
void icmp_input(struct mx_net *n, struct rte_mbuf *m, uint16_t hlen, uint16_t tot, uint64_t now);

#endif /* MX_NET_PRIV_H */
