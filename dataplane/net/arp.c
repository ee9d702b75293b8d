/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * arp.c: ARP for Ethernet and IPv4 (RFC 826): the per-lcore cache,
 * answers for our addresses, resolution of next hops with a bounded queue
 * of frames per resolving entry, expiry and refresh, and gratuitous ARP.
 *
 * The cache is open-addressed, keyed by SipHash of the IP with the
 * per-process secret (STYLE pitfall 7: a peer chooses which IPs we learn)
 * and probed over ARP_PROBE slots at most, so every operation is bounded.
 * We learn only what RFC 826 lets us: updates of entries we already have
 * ("merge"), and new entries from packets whose target is one of our
 * addresses. Unsolicited replies for other hosts never create entries
 * (cache poisoning by flooding).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_byteorder.h>

#include "net_priv.h"

#define ARP_FRAME_LEN (RTE_ETHER_HDR_LEN + sizeof(struct rte_arp_hdr))

static const struct rte_ether_addr bcast = {{ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }};
static const struct rte_ether_addr zero = {{ 0 }};

static unsigned
arp_slot(const struct mx_net *n, uint32_t ip)
{
	return (unsigned)mx_siphash(n->hash_key, &ip, sizeof(ip)) & n->arp_mask;
}

static struct arp_entry *
arp_find(const struct mx_net *n, uint32_t ip)
{
	unsigned s = arp_slot(n, ip), i;

	for (i = 0; i < ARP_PROBE; i++) {
		struct arp_entry *e = &n->arp[(s + i) & n->arp_mask];

		if (e->state != ARP_FREE && e->ip == ip)
			return e;
	}
	return NULL;
}

static void
entry_clear(struct arp_entry *e)
{
	memset(e, 0, sizeof(*e));
}

/* A free slot in ip's probe window, else the least recently used
 * resolved entry there (an entry with queued frames is never evicted). */
static struct arp_entry *
arp_alloc(struct mx_net *n, uint32_t ip)
{
	struct arp_entry *victim = NULL;
	unsigned s = arp_slot(n, ip), i;

	for (i = 0; i < ARP_PROBE; i++) {
		struct arp_entry *e = &n->arp[(s + i) & n->arp_mask];

		if (e->state == ARP_FREE)
			return e;
		if (e->state == ARP_REACHABLE && (victim == NULL || e->used_ms < victim->used_ms))
			victim = e;
	}
	if (victim != NULL)
		entry_clear(victim);
	return victim;
}

int
arp_init(struct mx_net *n)
{
	unsigned size = 1;

	while (size < n->conf.arp_entries)
		size <<= 1;
	if (size < ARP_PROBE)
		size = ARP_PROBE;
	n->arp = calloc(size, sizeof(*n->arp));
	if (n->arp == NULL)
		return -ENOMEM;
	n->arp_mask = size - 1;
	return 0;
}

void
arp_fini(struct mx_net *n)
{
	unsigned i, k;

	for (i = 0; i <= n->arp_mask; i++)
		for (k = 0; k < n->arp[i].n_pending; k++)
			rte_pktmbuf_free(n->arp[i].pending[k]);
	free(n->arp);
	n->arp = NULL;
}

static void
arp_fill(struct rte_mbuf *m, const struct rte_ether_addr *eth_dst,
		const struct rte_ether_addr *sha, uint32_t sip,
		const struct rte_ether_addr *tha, uint32_t tip, uint16_t op)
{
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_arp_hdr *ah = (struct rte_arp_hdr *)(eh + 1);

	rte_ether_addr_copy(eth_dst, &eh->dst_addr);
	rte_ether_addr_copy(sha, &eh->src_addr);
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	ah->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	ah->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ah->arp_hlen = RTE_ETHER_ADDR_LEN;
	ah->arp_plen = 4;
	ah->arp_opcode = rte_cpu_to_be_16(op);
	rte_ether_addr_copy(sha, &ah->arp_data.arp_sha);
	ah->arp_data.arp_sip = sip;
	rte_ether_addr_copy(tha, &ah->arp_data.arp_tha);
	ah->arp_data.arp_tip = tip;
}

/* Broadcast request for tip from sip; tip == sip is a gratuitous ARP. */
static void
arp_request(struct mx_net *n, uint32_t sip, uint32_t tip)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(n->conf.pool);

	if (m == NULL || rte_pktmbuf_append(m, ARP_FRAME_LEN) == NULL) {
		rte_pktmbuf_free(m);
		net_count(n, MX_NET_DROP_TX_NOMBUF);
		return;
	}
	arp_fill(m, &bcast, &n->mac, sip, &zero, tip, RTE_ARP_OP_REQUEST);
	net_count(n, MX_NET_ARP_REQUEST_TX);
	mx_pktio_send(n->conf.io, m);
}

void
arp_announce(struct mx_net *n, uint32_t ip)
{
	/* RFC 5227 section 3 announcement: sender and target both ours, so
	 * neighbours update stale entries after a restart or a NIC swap. */
	arp_request(n, ip, ip);
}

static void
entry_send(struct mx_net *n, const struct arp_entry *e, struct rte_mbuf *m)
{
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);

	rte_ether_addr_copy(&e->mac, &eh->dst_addr);
	mx_pktio_send(n->conf.io, m);
}

/* The entry now has a MAC: frames that waited for it go out in order. */
static void
entry_resolved(struct mx_net *n, struct arp_entry *e, const struct rte_ether_addr *mac,
		uint64_t now)
{
	unsigned k;

	rte_ether_addr_copy(mac, &e->mac);
	e->state = ARP_REACHABLE;
	e->refreshing = false;
	e->retries = 0;
	e->deadline_ms = now + n->conf.arp_ttl_ms;
	e->used_ms = now;
	for (k = 0; k < e->n_pending; k++)
		entry_send(n, e, e->pending[k]);
	e->n_pending = 0;
}

static bool
arp_hdr_ok(const struct rte_arp_hdr *ah)
{
	uint16_t op = rte_be_to_cpu_16(ah->arp_opcode);

	return rte_be_to_cpu_16(ah->arp_hardware) == RTE_ARP_HRD_ETHER &&
		rte_be_to_cpu_16(ah->arp_protocol) == RTE_ETHER_TYPE_IPV4 &&
		ah->arp_hlen == RTE_ETHER_ADDR_LEN && ah->arp_plen == 4 &&
		(op == RTE_ARP_OP_REQUEST || op == RTE_ARP_OP_REPLY);
}

/* Turns the request in m into our reply, in place (RFC 826 "swap"). */
static void
arp_reply(struct mx_net *n, struct rte_mbuf *m, struct rte_arp_hdr *ah)
{
	struct rte_ether_addr sha = ah->arp_data.arp_sha;
	uint32_t sip = ah->arp_data.arp_sip, tip = ah->arp_data.arp_tip;

	arp_fill(m, &sha, &n->mac, tip, &sha, sip, RTE_ARP_OP_REPLY);
	m->ol_flags = 0;
	net_count(n, MX_NET_ARP_REPLY_TX);
	mx_pktio_send(n->conf.io, m);
}

/* RFC 826 "Packet Reception": merge into an existing entry first, then
 * add the sender when the target is us, then answer requests. */
static void
arp_learn(struct mx_net *n, uint32_t sip, const struct rte_ether_addr *sha, bool for_us,
		bool *merged, uint64_t now)
{
	struct arp_entry *e;

	*merged = false;
	if (sip == 0)
		return; /* RFC 5227 probe: nothing to learn */
	e = arp_find(n, sip);
	if (e != NULL) {
		*merged = true;
		net_count(n, e->state == ARP_INCOMPLETE ? MX_NET_ARP_LEARNED : MX_NET_ARP_UPDATED);
		entry_resolved(n, e, sha, now);
		return;
	}
	if (!for_us)
		return;
	e = arp_alloc(n, sip);
	if (e == NULL) {
		net_count(n, MX_NET_DROP_ARP_TABLE_FULL);
		return;
	}
	e->ip = sip;
	net_count(n, MX_NET_ARP_LEARNED);
	entry_resolved(n, e, sha, now);
}

/* A sender claiming one of our addresses, or a non-unicast sender MAC,
 * would poison caches if believed (RFC 5227 2.4 conflict). */
static bool
arp_sender_ok(const struct mx_net *n, uint32_t sip, const struct rte_ether_addr *sha)
{
	return rte_is_unicast_ether_addr(sha) && !rte_is_zero_ether_addr(sha) &&
		net_addr_index(n, sip) < 0;
}

/* Offers the sender's binding to the other workers, each of which merges
 * it against its own cache (an entry this worker lacks may be theirs);
 * an RFC 5227 probe (sender 0) teaches nothing. */
static void
arp_share(struct mx_net *n, uint32_t sip, const struct rte_ether_addr *sha, bool for_us)
{
	if (n->conf.arp_share == NULL || sip == 0)
		return;
	n->conf.arp_share(n->conf.arp_ctx, sip, sha->addr_bytes, for_us);
}

void
mx_net_arp_merge(struct mx_net *n, uint32_t ip, const uint8_t mac[6], bool for_us,
		uint64_t now_ms)
{
	struct rte_ether_addr sha;
	bool merged;

	memcpy(sha.addr_bytes, mac, RTE_ETHER_ADDR_LEN);
	if (!arp_sender_ok(n, ip, &sha))
		return;
	arp_learn(n, ip, &sha, for_us, &merged, now_ms);
}

void
arp_input(struct mx_net *n, struct rte_mbuf *m, uint64_t now)
{
	struct rte_arp_hdr *ah;
	const struct rte_ether_addr *sha;
	struct rte_ether_addr sender;
	uint32_t sip;
	bool for_us, merged;

	if (rte_pktmbuf_pkt_len(m) < ARP_FRAME_LEN) {
		net_drop(n, m, MX_NET_DROP_ARP_MALFORMED);
		return;
	}
	if (rte_pktmbuf_data_len(m) < ARP_FRAME_LEN) {
		net_drop(n, m, MX_NET_DROP_SEGMENTED);
		return;
	}
	ah = rte_pktmbuf_mtod_offset(m, struct rte_arp_hdr *, RTE_ETHER_HDR_LEN);
	if (!arp_hdr_ok(ah)) {
		net_drop(n, m, MX_NET_DROP_ARP_MALFORMED);
		return;
	}
	sha = &ah->arp_data.arp_sha;
	if (!arp_sender_ok(n, ah->arp_data.arp_sip, sha)) {
		net_drop(n, m, MX_NET_DROP_ARP_BAD_SENDER);
		return;
	}
	net_count(n, MX_NET_ARP_RX);
	sip = ah->arp_data.arp_sip;
	sender = *sha;
	for_us = net_addr_index(n, ah->arp_data.arp_tip) >= 0;
	arp_learn(n, sip, &sender, for_us, &merged, now);
	if (for_us && rte_be_to_cpu_16(ah->arp_opcode) == RTE_ARP_OP_REQUEST) {
		/* Answered here only: the other workers just merge. */
		arp_reply(n, m, ah);
	} else {
		if (!for_us && !merged)
			net_count(n, MX_NET_DROP_ARP_NOT_OURS);
		rte_pktmbuf_free(m);
	}
	arp_share(n, sip, &sender, for_us);
}

static int
entry_queue(struct mx_net *n, struct arp_entry *e, struct rte_mbuf *m)
{
	if (e->n_pending >= n->conf.arp_pending) {
		net_drop(n, m, MX_NET_DROP_ARP_PENDING_FULL);
		return -ENOBUFS;
	}
	e->pending[e->n_pending++] = m;
	return 0;
}

int
arp_resolve_send(struct mx_net *n, struct rte_mbuf *m, uint32_t hop, uint64_t now)
{
	struct arp_entry *e = arp_find(n, hop);

	if (e != NULL && e->state == ARP_REACHABLE) {
		e->used_ms = now;
		/* Refresh ahead of expiry while the entry is in use, so a busy
		 * next hop never drops to INCOMPLETE and queues traffic. */
		if (!e->refreshing && now + n->conf.arp_ttl_ms / 8 >= e->deadline_ms) {
			e->refreshing = true;
			arp_request(n, net_src_for(n, hop), hop);
		}
		entry_send(n, e, m);
		return 0;
	}
	if (e != NULL)
		return entry_queue(n, e, m);
	e = arp_alloc(n, hop);
	if (e == NULL) {
		net_drop(n, m, MX_NET_DROP_ARP_TABLE_FULL);
		return -ENOBUFS;
	}
	e->ip = hop;
	e->state = ARP_INCOMPLETE;
	e->deadline_ms = now + n->conf.arp_retry_ms;
	e->used_ms = now;
	e->pending[e->n_pending++] = m;
	arp_request(n, net_src_for(n, hop), hop);
	return 0;
}

static void
entry_fail(struct mx_net *n, struct arp_entry *e)
{
	unsigned k;

	for (k = 0; k < e->n_pending; k++)
		net_drop(n, e->pending[k], MX_NET_DROP_ARP_UNRESOLVED);
	net_count(n, MX_NET_ARP_RESOLVE_FAILED);
	entry_clear(e);
}

static void
entry_tick(struct mx_net *n, struct arp_entry *e, uint64_t now)
{
	if (e->state == ARP_FREE || now < e->deadline_ms)
		return;
	if (e->state == ARP_REACHABLE) {
		net_count(n, MX_NET_ARP_EXPIRED);
		entry_clear(e);
		return;
	}
	if (e->retries + 1u >= n->conf.arp_retries) {
		entry_fail(n, e);
		return;
	}
	e->retries++;
	e->deadline_ms = now + n->conf.arp_retry_ms;
	arp_request(n, net_src_for(n, e->ip), e->ip);
}

/* A bounded slice per call, rotating (Redis clientsCron): every entry is
 * visited once per (entries / ARP_TICK_SLICE) ticks, no tick spikes. */
void
arp_tick(struct mx_net *n, uint64_t now)
{
	unsigned i, slice = MX_MIN(ARP_TICK_SLICE, n->arp_mask + 1);

	for (i = 0; i < slice; i++) {
		entry_tick(n, &n->arp[n->arp_cursor], now);
		n->arp_cursor = (n->arp_cursor + 1) & n->arp_mask;
	}
}

int
mx_net_arp_lookup(const struct mx_net *n, uint32_t ip, uint8_t mac[6])
{
	const struct arp_entry *e = arp_find(n, ip);

	if (e == NULL || e->state != ARP_REACHABLE)
		return -ENOENT;
	memcpy(mac, e->mac.addr_bytes, RTE_ETHER_ADDR_LEN);
	return 0;
}
