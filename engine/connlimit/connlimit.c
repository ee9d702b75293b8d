/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Connection limits without a lock: a total counter and a table of
 * per-address counts, shared by every worker (layout in connlimit_priv.h).
 *
 * acquire: take one from the total (CAS, never past max_total), then scan
 * the address's probe window. If the counts of its slots reach
 * max_per_client the total is given back and the client is refused.
 * Otherwise the count of its first slot goes up by a CAS on the exact
 * value that was summed, so the check and the increment are one atomic
 * step and the limit holds exactly. A new address claims the first empty
 * slot. Two threads can claim two slots for one new address at once; the
 * claimer then rescans and gives its count back when an earlier slot
 * exists or the sum went past the limit, so a second slot lives only for
 * that moment (or, when kept, is only ever decremented: releases drain the
 * last slot of an address first and acquires fill the first). In that
 * moment the address can be over its limit by one per racing thread.
 *
 * Every loop retries only after a CAS failed, that is after another
 * thread made progress; the scans are bounded by the window. Atomics are
 * sequentially consistent: a claimer's rescan must see a concurrent
 * claimer's slot (or that one must see ours), which acquire/release alone
 * does not give. This runs once per connection, not per packet.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "mx_connlimit.h"

#include "connlimit_priv.h"

struct probe {
	uint64_t tag;       /* shifted into place: tag << COUNT_BITS */
	unsigned start;
};

struct window {
	unsigned sum;       /* connections counted for the tag */
	int first;          /* probe position of the first slot of the tag, or -1 */
	int last;           /* probe position of its last slot, or -1 */
	int empty;          /* probe position of the first empty slot, or -1 */
	uint64_t first_v, last_v;
};

int
mx_connlimit_create(unsigned slots, struct mx_connlimit **out)
{
	struct mx_connlimit *cl;
	unsigned n = MX_CONNLIMIT_WINDOW;
	size_t size;

	while (n < slots && n < MX_CONNLIMIT_MAX_SLOTS)
		n <<= 1;
	size = sizeof(*cl) + (size_t)n * sizeof(cl->slot[0]);
	size = (size + 63) & ~(size_t)63;       /* aligned_alloc wants a multiple */
	cl = aligned_alloc(64, size);
	if (cl == NULL)
		return -ENOMEM;
	memset(cl, 0, size);
	/* Per process and secret: a client cannot choose addresses that
	 * crowd one window (STYLE 3.7). */
	memcpy(cl->key, mx_secret_key(), sizeof(cl->key));
	cl->mask = n - 1;
	cl->window = MX_MIN(MX_CONNLIMIT_WINDOW, n);
	atomic_init(&cl->total, 0);
	atomic_init(&cl->untracked, 0);
	*out = cl;
	return 0;
}

void
mx_connlimit_free(struct mx_connlimit *cl)
{
	free(cl);
}

/* IPv4 by its full address; IPv6 by its /64, since one host routinely
 * owns a whole /64 (RFC 4291 2.5.1) and would otherwise get 2^64 quotas.
 * An IPv4-mapped IPv6 address (a dual-stack socket) counts as the IPv4
 * client it is. */
static struct probe
probe_of(const struct mx_connlimit *cl, const struct mx_addr *a)
{
	uint8_t buf[1 + 8];
	struct probe pr;
	uint64_t h, tag;
	size_t n;

	if (a->family == AF_INET6 && !IN6_IS_ADDR_V4MAPPED(&a->ip.v6)) {
		buf[0] = 6;
		memcpy(buf + 1, a->ip.v6.s6_addr, 8);
		n = 9;
	} else if (a->family == AF_INET6) {
		buf[0] = 4;
		memcpy(buf + 1, a->ip.v6.s6_addr + 12, 4);
		n = 5;
	} else {
		buf[0] = 4;
		memcpy(buf + 1, &a->ip.v4, 4);
		n = 5;
	}
	h = mx_siphash(cl->key, buf, n);
	tag = h >> MX_CONNLIMIT_COUNT_BITS;
	if (tag == 0)
		tag = 1;        /* 0 marks an empty slot */
	pr.tag = tag << MX_CONNLIMIT_COUNT_BITS;
	pr.start = (unsigned)h & cl->mask;
	return pr;
}

static _Atomic uint64_t *
slot_at(struct mx_connlimit *cl, const struct probe *pr, int pos)
{
	return &cl->slot[(pr->start + (unsigned)pos) & cl->mask];
}

static bool
is_tag(uint64_t v, const struct probe *pr)
{
	return v != 0 && (v & ~MX_CONNLIMIT_COUNT_MASK) == pr->tag;
}

static void
scan(struct mx_connlimit *cl, const struct probe *pr, struct window *w)
{
	unsigned i;
	uint64_t v;

	memset(w, 0, sizeof(*w));
	w->first = w->last = w->empty = -1;
	for (i = 0; i < cl->window; i++) {
		v = atomic_load(slot_at(cl, pr, (int)i));
		if (v == 0) {
			if (w->empty < 0)
				w->empty = (int)i;
			continue;
		}
		if (!is_tag(v, pr))
			continue;
		w->sum += (unsigned)(v & MX_CONNLIMIT_COUNT_MASK);
		if (w->first < 0) {
			w->first = (int)i;
			w->first_v = v;
		}
		w->last = (int)i;
		w->last_v = v;
	}
}

static bool
total_take(struct mx_connlimit *cl, unsigned max_total)
{
	unsigned t = atomic_load(&cl->total);

	do {
		if (t >= max_total)
			return false;
	} while (!atomic_compare_exchange_weak(&cl->total, &t, t + 1));
	return true;
}

static void
total_put(struct mx_connlimit *cl)
{
	unsigned was = atomic_fetch_sub(&cl->total, 1);

	/* Releasing more than was acquired is a caller bug, never a peer's
	 * doing: the counts would be wrong from here on. */
	MX_ASSERT(was > 0);
}

/* Takes one count off the address, from its last slot, so a second slot
 * drains while acquires keep filling the first. Counts of one address are
 * interchangeable: this is both a release and the undo of a claim (whose
 * own slot may meanwhile have been drained by a release of another
 * connection from the same address). Returns false when the address has
 * no count in the window: it was admitted untracked (fail open), or its
 * count was taken by the release of such a connection. */
static bool
tag_put(struct mx_connlimit *cl, const struct probe *pr)
{
	struct window w;
	uint64_t nv;

	for (;;) {
		scan(cl, pr, &w);
		if (w.last < 0)
			return false;
		nv = (w.last_v & MX_CONNLIMIT_COUNT_MASK) == 1 ? 0 : w.last_v - 1;
		if (atomic_compare_exchange_strong(slot_at(cl, pr, w.last), &w.last_v, nv))
			return true;
	}
}

/* After claiming the empty slot at pos: keep it unless another slot of
 * the address comes first, the claim took the address past its limit, or
 * the count is gone already (a release of the same address drained it). */
static bool
claim_keep(struct mx_connlimit *cl, const struct probe *pr, int pos, unsigned limit)
{
	struct window w;

	scan(cl, pr, &w);
	if (w.first < pos)
		return false;
	return w.sum <= limit;
}

enum mx_connlimit_verdict
mx_connlimit_acquire(struct mx_connlimit *cl, const struct mx_addr *client,
		unsigned max_total, unsigned max_per_client)
{
	struct probe pr = probe_of(cl, client);
	unsigned limit = (unsigned)MX_MIN(max_per_client, MX_CONNLIMIT_COUNT_MASK);
	struct window w;
	uint64_t empty;

	if (!total_take(cl, max_total))
		return MX_CONNLIMIT_TOTAL;
	for (;;) {
		scan(cl, &pr, &w);
		if (w.sum >= limit) {
			total_put(cl);
			return MX_CONNLIMIT_CLIENT;
		}
		if (w.first >= 0) {
			if (atomic_compare_exchange_strong(slot_at(cl, &pr, w.first),
						&w.first_v, w.first_v + 1))
				return MX_CONNLIMIT_OK;
			continue;
		}
		if (w.empty < 0) {
			/* Fail open: the window is full of other live clients
			 * (header); the total limit still holds. */
			atomic_fetch_add(&cl->untracked, 1);
			return MX_CONNLIMIT_OK;
		}
		empty = 0;
		if (!atomic_compare_exchange_strong(slot_at(cl, &pr, w.empty), &empty, pr.tag | 1))
			continue;
		if (claim_keep(cl, &pr, w.empty, limit))
			return MX_CONNLIMIT_OK;
		(void)tag_put(cl, &pr);
	}
}

void
mx_connlimit_release(struct mx_connlimit *cl, const struct mx_addr *client)
{
	struct probe pr = probe_of(cl, client);

	(void)tag_put(cl, &pr);
	total_put(cl);
}

unsigned
mx_connlimit_total(const struct mx_connlimit *cl)
{
	return atomic_load(&((struct mx_connlimit *)(uintptr_t)cl)->total);
}

uint64_t
mx_connlimit_untracked(const struct mx_connlimit *cl)
{
	return atomic_load(&((struct mx_connlimit *)(uintptr_t)cl)->untracked);
}

unsigned
mx_connlimit_count(const struct mx_connlimit *cl, const struct mx_addr *client)
{
	struct mx_connlimit *m = (struct mx_connlimit *)(uintptr_t)cl;
	struct probe pr = probe_of(cl, client);
	struct window w;

	scan(m, &pr, &w);
	return w.sum;
}
