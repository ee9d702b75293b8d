/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_connlimit: connections in total and per client address, counted across
 * all workers without a lock. Flows from one client land on any worker
 * (SO_REUSEPORT or RSS hash the 4-tuple), so the per-address count must be
 * shared; it lives in a fixed table of 64-bit atomic slots keyed by a keyed
 * hash (SipHash, per-process secret) of the address: an attacker cannot
 * aim many addresses at one probe window.
 *
 * IPv6 clients are counted per /64, since one host easily owns a /64.
 * When the probe window of an address is full of other live addresses the
 * connection is admitted and counted in n_untracked (fail open: the total
 * limit still holds).
 *
 * The per-client limit is exact while an address holds one slot (the
 * normal case). When threads admit the first connections of a new address
 * at the same instant it can briefly hold two, and be over its limit by at
 * most one per racing thread until the extra claim is given back
 * (connlimit.c).
 */
#ifndef MX_CONNLIMIT_H
#define MX_CONNLIMIT_H

#include <stdint.h>

#include "mx_base.h"

struct mx_connlimit;

enum mx_connlimit_verdict {
	MX_CONNLIMIT_OK = 0,
	MX_CONNLIMIT_TOTAL,  /* max_total reached */
	MX_CONNLIMIT_CLIENT, /* max_per_client reached for this address */
};

/* slots is rounded up to a power of two, at least 16 (one probe window)
 * and at most 2^24. Returns 0 or -ENOMEM. */
int mx_connlimit_create(unsigned slots, struct mx_connlimit **out);
void mx_connlimit_free(struct mx_connlimit *cl);
/* Any thread. On MX_CONNLIMIT_OK the connection is counted and must be
 * released with mx_connlimit_release() exactly once. Limits are passed per
 * call so that a reload changes them without touching the table. */
enum mx_connlimit_verdict mx_connlimit_acquire(struct mx_connlimit *cl,
		const struct mx_addr *client, unsigned max_total, unsigned max_per_client);
void mx_connlimit_release(struct mx_connlimit *cl, const struct mx_addr *client);
unsigned mx_connlimit_total(const struct mx_connlimit *cl);
/* Connections admitted without a per-client slot since creation (a
 * counter for metrics). */
uint64_t mx_connlimit_untracked(const struct mx_connlimit *cl);
/* Live connections counted for client's address (its /64 for IPv6). Any
 * thread; a snapshot that may be stale when it returns. */
unsigned mx_connlimit_count(const struct mx_connlimit *cl, const struct mx_addr *client);

#endif /* MX_CONNLIMIT_H */
