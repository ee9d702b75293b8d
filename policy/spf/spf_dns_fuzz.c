/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spf_dns_fuzz.c: arbitrary DNS answers reaching the SPF evaluator. The
 * input is a list of answers, each for one of a few names the records can
 * reach (the fuzzer learns to write "include:a.example.com"), with any
 * type, rcode and rdata in wire form; they go into an mx_dns cache through
 * mx_dns_cache_put (the same decoding as unbound's answers;
 * policy/dns/dns_fuzz_support.c). Names not
 * listed are answered NXDOMAIN by local zone data: no network. Then SPF
 * runs for the MAIL FROM, HELO and PRA identities.
 *
 * One mx_dns (and its unbound thread) is made on the first input and
 * reused: each input starts and ends with an empty cache
 * (mx_dns_cache_clear), so inputs stay independent and a replay of
 * thousands of them does not pay for a resolver each.
 *
 * Input: repeated [name][type][rcode][n_rr] then n_rr x ([len][rdata]).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns_fuzz_support.h"
#include "mx_dns.h"
#include "mx_spf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fz_names[] = {
	"example.com", "a.example.com", "b.example.com", "mx.example.com",
	"1.2.0.192.in-addr.arpa", "host.example.com", "exp.example.com",
	"h.example.org",
};
static const uint16_t fz_types[] = {
	MX_DNS_TXT, MX_DNS_A, MX_DNS_AAAA, MX_DNS_MX, MX_DNS_PTR,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mx_spf_query q[3] = {
		{ MX_SPF_MAILFROM, "192.0.2.1", "h.example.org", "user@example.com" },
		{ MX_SPF_HELO, "2001:db8::1", "h.example.org", "" },
		{ MX_SPF_PRA, "::ffff:192.0.2.1", "h.example.org", "pra@a.example.com" },
	};
	struct mx_spf_outcome out[3];
	struct mx_dns *dns = mx_dns_fuzz_resolver(500);
	struct mx_spf *spf;

	mx_dns_cache_clear(dns);
	if (mx_spf_create(dns, "mx.example.net", &spf) != 0)
		return 0;
	mx_dns_fuzz_fill_wire(dns, data, size, fz_names, MX_ARRAY_SIZE(fz_names),
			fz_types, MX_ARRAY_SIZE(fz_types));
	mx_spf_check_batch(spf, q, out, 3);
	for (size_t i = 0; i < 3; i++) {
		if (out[i].result > MX_SPF_PERMERROR ||
				strlen(out[i].explanation) >= sizeof(out[i].explanation))
			abort();
	}
	mx_spf_free(spf);
	mx_dns_cache_clear(dns);
	return 0;
}
