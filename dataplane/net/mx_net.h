/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_net: per-lcore L2/L3 of the userspace stack: Ethernet, ARP
 * (RFC 826), IPv4 input validation (RFC 1812 5.2.2 order, RFC 1122) and
 * output, ICMP echo reply (RFC 792). TCP sits above through a hook.
 *
 * Input: mx_net_input() takes a burst of frames from the pktio and owns
 * every one: a frame is answered (ARP request, ICMP echo: rewritten in
 * place and sent), handed up (TCP: the hook then owns it), or counted
 * under its reason and freed. Nothing a peer sends can crash it.
 *
 * Policy choices (documented at the code that enforces them):
 * - VLAN-tagged frames are dropped (the port carries untagged traffic).
 * - IPv4 fragments are dropped and counted, never reassembled: SMTP peers
 *   send TCP with DF and use path MTU discovery (RFC 1191, RFC 8900), and
 *   a reassembly buffer is a memory-exhaustion target.
 * - IPv4 options are walked and checked (each length in bounds, >= 2) and
 *   then skipped; source-route options are dropped (RFC 7126 4.3, 4.4).
 * - TTL 0 is dropped (no router forwards it); TTL 1 is accepted: we are
 *   the destination, nothing is forwarded.
 * - Broadcast and multicast IPv4 destinations are dropped (RFC 1122
 *   3.2.2.6 lets a host ignore broadcast echo requests).
 *
 * Output: mx_net_ipv4_output() takes an mbuf whose data starts at the L4
 * header (with headroom for 34 bytes), prepends IPv4 and Ethernet, and
 * sends it through the pktio's buffered TX, or queues it (bounded) while
 * ARP resolves the next hop. It owns m on every path.
 *
 * Thread: one struct mx_net per worker lcore; never locks, never makes a
 * syscall, never allocates except mbufs from conf.pool. create/free run on
 * the control thread.
 * This header includes no DPDK header so any module can include it.
 */
#ifndef MX_NET_H
#define MX_NET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mx_base.h"

struct rte_mbuf;
struct rte_mempool;
struct mx_pktio;
struct mx_net;

#define MX_NET_MAX_ADDRS 8u
#define MX_NET_HDR_ROOM 34u /* Ethernet (14) + IPv4 without options (20) */

/* What the IPv4 layer learnt about a packet it hands up. Addresses are in
 * network byte order (ready for a pseudo-header); lengths in host order. */
struct mx_ipv4_info {
	uint32_t src;
	uint32_t dst;
	uint8_t proto;
	uint8_t ttl;
	uint16_t hdr_len;     /* IHL * 4 */
	uint16_t l4_len;      /* total length - header length: authoritative,
	                       * the mbuf may still carry link padding */
	bool l4_cksum_good;   /* the NIC verified the L4 checksum */
	bool l4_cksum_bad;    /* the NIC found it wrong (the hook decides) */
};

/* The TCP input hook. m's data starts at the L4 header (m->l2_len and
 * m->l3_len are set); the hook owns m from the call on. */
typedef void mx_net_l4_input_fn(void *ctx, struct rte_mbuf *m, const struct mx_ipv4_info *ip);

/* The ARP sharing hook: a valid ARP packet (request or reply) from a
 * sender with an address taught this worker's cache that ip is at mac;
 * for_us says its target was one of our addresses. ARP is not IP, so a
 * device's flow hash need not bring the reply to the worker that asked:
 * the transport hands the binding to its other workers, which merge it
 * with mx_net_arp_merge(). Called after the local merge and any answer. */
typedef void mx_net_arp_share_fn(void *ctx, uint32_t ip, const uint8_t mac[6], bool for_us);

enum mx_net_stat {
	MX_NET_RX_FRAMES = 0,
	MX_NET_DROP_ETH_SHORT,       /* below an Ethernet header */
	MX_NET_DROP_ETH_NOT_OURS,    /* unicast to another MAC, or multicast */
	MX_NET_DROP_ETH_VLAN,        /* 802.1Q/802.1ad tag, or VLAN stripped by the NIC */
	MX_NET_DROP_ETH_TYPE,        /* neither IPv4 nor ARP (IPv6 included) */
	MX_NET_DROP_SEGMENTED,       /* headers not in the first segment */
	MX_NET_ARP_RX,
	MX_NET_DROP_ARP_MALFORMED,   /* short, or not Ethernet/IPv4 sizes */
	MX_NET_DROP_ARP_NOT_OURS,    /* neither for us nor updating an entry */
	MX_NET_DROP_ARP_BAD_SENDER,  /* broadcast/multicast/zero sender MAC or our own IP */
	MX_NET_ARP_REPLY_TX,
	MX_NET_ARP_REQUEST_TX,
	MX_NET_ARP_LEARNED,
	MX_NET_ARP_UPDATED,
	MX_NET_ARP_EXPIRED,
	MX_NET_ARP_RESOLVE_FAILED,   /* no reply after the retries */
	MX_NET_DROP_ARP_PENDING_FULL,/* queue of a resolving entry full */
	MX_NET_DROP_ARP_TABLE_FULL,  /* no entry free to resolve with */
	MX_NET_DROP_ARP_UNRESOLVED,  /* queued frames freed when resolution failed */
	MX_NET_IPV4_RX,
	MX_NET_DROP_IP_SHORT,        /* frame shorter than a minimal IPv4 header */
	MX_NET_DROP_IP_VERSION,
	MX_NET_DROP_IP_IHL,          /* IHL < 5 */
	MX_NET_DROP_IP_HDR_TRUNC,    /* IHL * 4 beyond the frame */
	MX_NET_DROP_IP_TOTLEN,       /* total length < IHL * 4 or > frame */
	MX_NET_DROP_IP_CKSUM,
	MX_NET_DROP_IP_TTL,          /* TTL 0 */
	MX_NET_DROP_IP_OPTIONS,      /* malformed option list */
	MX_NET_DROP_IP_SRCROUTE,     /* LSRR/SSRR */
	MX_NET_DROP_IP_FRAGMENT,     /* MF or offset set: no reassembly */
	MX_NET_DROP_IP_BAD_SRC,      /* broadcast, multicast, 0, loopback source */
	MX_NET_DROP_IP_BROADCAST,    /* limited, subnet broadcast or multicast dst */
	MX_NET_DROP_IP_NOT_OURS,
	MX_NET_DROP_IP_PROTO,        /* neither ICMP nor TCP */
	MX_NET_DROP_TCP_NO_HOOK,
	MX_NET_TCP_RX,
	MX_NET_ICMP_RX,
	MX_NET_DROP_ICMP_SHORT,
	MX_NET_DROP_ICMP_CKSUM,
	MX_NET_DROP_ICMP_TYPE,       /* not an echo request */
	MX_NET_DROP_ICMP_RATE,       /* echo replies over the rate limit */
	MX_NET_ICMP_ECHO_TX,
	MX_NET_IPV4_TX,
	MX_NET_DROP_TX_NO_ROUTE,     /* off-link with no gateway */
	MX_NET_DROP_TX_HEADROOM,
	MX_NET_DROP_TX_NOMBUF,       /* ARP request could not be allocated */
	MX_NET_STAT__COUNT
};

struct mx_net_stats {
	_Atomic uint64_t v[MX_NET_STAT__COUNT];
};

struct mx_net_addr {
	uint32_t addr;   /* network byte order */
	uint8_t prefix;  /* 0..32 */
};

struct mx_net_conf {
	uint8_t mac[6];
	struct mx_net_addr addrs[MX_NET_MAX_ADDRS];
	unsigned n_addrs;
	uint32_t gateway;          /* network order; 0: none (on-link only) */
	struct rte_mempool *pool;  /* ARP requests and gratuitous ARP */
	struct mx_pktio *io;       /* every frame goes out here */
	mx_net_l4_input_fn *tcp_input;
	void *tcp_ctx;
	mx_net_arp_share_fn *arp_share;  /* NULL: ARP stays per worker */
	void *arp_ctx;
	bool rx_ipv4_cksum;        /* trust the NIC's IPv4 checksum flags */
	bool tx_ipv4_cksum;        /* let the NIC fill the IPv4 checksum */
	bool tx_tcp_cksum;         /* let the NIC fill the TCP checksum (the
	                            * field gets the pseudo-header sum) */
	unsigned arp_entries;      /* 0: 256 (rounded up to a power of two) */
	unsigned arp_pending;      /* frames queued per resolving entry; 0: 4, max 16 */
	uint32_t arp_ttl_ms;       /* 0: 300000 */
	uint32_t arp_retry_ms;     /* 0: 1000 */
	unsigned arp_retries;      /* 0: 3 */
	uint32_t icmp_rate;        /* echo replies per second; 0: 100 */
	uint32_t icmp_burst;       /* 0: 50 */
};

/* Fills defaults (every field zero). */
void mx_net_conf_init(struct mx_net_conf *c);
/* Returns 0, -EINVAL (no address, prefix > 32, NULL pool or io), -ENOMEM. */
int mx_net_create(const struct mx_net_conf *c, uint64_t now_ms, struct mx_net **out);
/* Frees frames still waiting for ARP. NULL is a no-op. */
void mx_net_free(struct mx_net *n);

/* Sends a gratuitous ARP (RFC 5227 announcement) for each address. */
void mx_net_start(struct mx_net *n, uint64_t now_ms);
/* Takes every frame of pkts[0..count). */
void mx_net_input(struct mx_net *n, struct rte_mbuf **pkts, uint16_t count, uint64_t now_ms);
/* ARP retries, expiry and failure; scans a bounded slice of the table per
 * call (call it every few milliseconds). */
void mx_net_tick(struct mx_net *n, uint64_t now_ms);

/* m: data at the L4 header, L4 checksum done (or its offload flags set by
 * the caller; with conf.tx_tcp_cksum a TCP segment's checksum is handed
 * to the NIC here, whatever the field held). src 0: the address on dst's subnet, else the first one.
 * Owns m on every path. Returns 0 (sent or queued for ARP), or the reason
 * m was dropped (counted): -ENETUNREACH, -ENOBUFS (ARP queue or table
 * full), -EMSGSIZE (no headroom or too long). */
int mx_net_ipv4_output(struct mx_net *n, struct rte_mbuf *m, uint32_t src, uint32_t dst,
		uint8_t proto, uint64_t now_ms);

/* Merges a binding another worker's mx_net received (see
 * mx_net_arp_share_fn), exactly as if this worker had received the ARP
 * packet (RFC 826 "Packet Reception"): an existing entry is updated and
 * its queued frames leave; a new entry is added only when for_us. Never
 * answers (the receiving worker did). */
void mx_net_arp_merge(struct mx_net *n, uint32_t ip, const uint8_t mac[6], bool for_us,
		uint64_t now_ms);

/* The MAC of ip when resolved (tests, diagnostics). 0 or -ENOENT. */
int mx_net_arp_lookup(const struct mx_net *n, uint32_t ip, uint8_t mac[6]);
const struct mx_net_stats *mx_net_stats(const struct mx_net *n);
/* Counter names for the metrics exporter ("drop_ip_cksum", ...). */
const char *mx_net_stat_name(enum mx_net_stat k);

/* Internet checksum (RFC 1071) of len bytes, folded, not complemented;
 * handles odd lengths (mx_inet_sum and mx_inet_fold of mx_base.h). */
uint16_t mx_net_cksum(const void *p, size_t len);

static inline uint64_t
mx_net_stat(const struct mx_net *n, enum mx_net_stat k)
{
	return atomic_load_explicit(&mx_net_stats(n)->v[k], memory_order_relaxed);
}

#endif /* MX_NET_H */
