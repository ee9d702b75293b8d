/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dns_fuzz_support.h: test support for the fuzz harnesses that feed DNS
 * answers to a policy check (SPF, DKIM key lookup, DMARC discovery). Built
 * into fuzz targets only (mx_dns_fuzz_support in meson), never into the
 * engine.
 *
 * Contract:
 * - mx_dns_fuzz_resolver() is the process's one resolver, made on the
 *   first call and reused by every input: its local data is an empty
 *   zone, so every name outside the cache is NXDOMAIN and nothing leaves
 *   the process. Harnesses clear its cache (mx_dns_cache_clear) at the
 *   start and end of each input, so inputs stay independent.
 * - The fill functions decode the input into answers and put them into
 *   the cache through mx_dns_cache_put (the decoding of unbound's
 *   answers). They read only within [p, p + size) and never fail.
 */
#ifndef DNS_FUZZ_SUPPORT_H
#define DNS_FUZZ_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "mx_base.h"
#include "mx_dns.h"

/* The shared resolver; timeout_ms is used by the first call only. Aborts
 * when it cannot be made (a harness without it tests nothing). */
struct mx_dns *mx_dns_fuzz_resolver(unsigned timeout_ms);

/* Answers of any type in wire form. Input: repeated
 * [name][type][rcode][n_rr] then n_rr x ([len][rdata]); name and type
 * index (modulo) the given tables, rcode picks NOERROR, NXDOMAIN,
 * SERVFAIL or NOERROR. */
void mx_dns_fuzz_fill_wire(struct mx_dns *dns, const uint8_t *p, size_t size,
		const char *const *names, size_t n_names, const uint16_t *types, size_t n_types);

/* TXT answers. Input: repeated [name][mode][n_rr] then n_rr x ([len hi]
 * [len lo][bytes]). mode bits 0-1: rcode as above; bit 2: the bytes are
 * the rdata in wire form; otherwise they are the record text, cut into
 * character-strings of ((mode >> 3) + 1) * 8 octets (at most 255, RFC
 * 1035 3.3.14). arena holds the rdata built from text: at least
 * 2 * size + 16 octets. */
void mx_dns_fuzz_fill_txt(struct mx_dns *dns, const uint8_t *p, size_t size,
		const char *const *names, size_t n_names, uint8_t *arena);

#endif
