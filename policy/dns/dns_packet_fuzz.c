/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dns_packet_fuzz.c: arbitrary bytes as a DNS response packet, read by
 * mx_dns_packet_read for one RR type (the first input octet picks it),
 * the way the resolver reads an answer libunbound would not hand out.
 * Every rdata taken must lie inside the packet or inside the expanded
 * names, and then goes through the cache's own decoding (mx_dns_cache_put
 * into the shared fuzz resolver, policy/dns/dns_fuzz_support.c).
 *
 * Input: [type][packet].
 */
#include <stdint.h>
#include <stdlib.h>

#include "dns_fuzz_support.h"
#include "mx_dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint16_t fz_types[] = {
	MX_DNS_TXT, MX_DNS_A, MX_DNS_AAAA, MX_DNS_MX, MX_DNS_PTR, MX_DNS_CNAME,
	MX_DNS_SPF,
};

static bool
fz_inside(const uint8_t *p, size_t len, const uint8_t *base, size_t size)
{
	return p >= base && len <= size && (size_t)(p - base) <= size - len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mx_dns_packet pkt;
	struct mx_dns *dns = mx_dns_fuzz_resolver(500);
	uint16_t type;

	if (size < 1)
		return 0;
	type = fz_types[data[0] % (sizeof(fz_types) / sizeof(fz_types[0]))];
	if (mx_dns_packet_read(data + 1, size - 1, type, &pkt) != 0)
		return 0;
	MX_ASSERT(pkt.n <= MX_DNS_MAX_RR + 1);
	MX_ASSERT(pkt.rcode >= 0 && pkt.rcode <= 15);
	for (size_t i = 0; i < pkt.n; i++) {
		MX_ASSERT(fz_inside(pkt.rdata[i], pkt.len[i], data + 1, size - 1) ||
				fz_inside(pkt.rdata[i], pkt.len[i], pkt.names, sizeof(pkt.names)));
	}
	mx_dns_cache_clear(dns);
	(void)mx_dns_cache_put(dns, "fuzz.example.com", type, pkt.rcode, pkt.rdata,
			pkt.len, pkt.n, pkt.ttl);
	(void)mx_dns_get(dns, "fuzz.example.com", type);
	mx_dns_cache_clear(dns);
	return 0;
}
