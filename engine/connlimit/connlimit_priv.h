/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to engine/connlimit (and its unit test, which checks the final
 * state of every slot): the table layout.
 *
 * A slot is one 64-bit word: the high 48 bits are the address's tag (a
 * keyed hash, never 0), the low 16 bits its count of live connections.
 * 0 is an empty slot. An address lives in the probe window that starts at
 * its hash; it owns at most one slot there except for a short moment
 * when two threads claim a slot for it at once (see connlimit.c).
 */
#ifndef MX_CONNLIMIT_PRIV_H
#define MX_CONNLIMIT_PRIV_H

#include <stdatomic.h>
#include <stdint.h>

#include "mx_base.h"

#define MX_CONNLIMIT_WINDOW 16          /* slots probed per address */
#define MX_CONNLIMIT_COUNT_BITS 16
#define MX_CONNLIMIT_COUNT_MASK ((UINT64_C(1) << MX_CONNLIMIT_COUNT_BITS) - 1)
#define MX_CONNLIMIT_MAX_SLOTS (1u << 24)

struct mx_connlimit {
	uint8_t key[16];                  /* SipHash key, per process */
	unsigned mask;                    /* slots - 1 */
	unsigned window;                  /* MX_MIN(MX_CONNLIMIT_WINDOW, slots) */
	_Atomic unsigned total MX_CACHE_ALIGNED;
	_Atomic uint64_t untracked;
	_Atomic uint64_t slot[] MX_CACHE_ALIGNED;
};

#endif /* MX_CONNLIMIT_PRIV_H */
