/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spf_dns_fuzz.c: arbitrary DNS answers reaching the SPF evaluator. The
 * input is a list of answers, each for one of a few names the records can
 * reach (the fuzzer learns to write "include:a.example.com"), with any
 * type, rcode and rdata in wire form; they go into an mx_dns cache through
 * mx_dns_cache_put (the same decoding as unbound's answers). Names not
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
static const int fz_rcodes[] = { 0, 3, 2, 0 };

/* The resolver shared by every input: local data from an empty zone
 * file, so every name outside the cache is NXDOMAIN and nothing leaves
 * the process. The file is read by mx_dns_create and removed at once. */
static struct mx_dns *
fz_dns(void)
{
	static struct mx_dns *dns;
	struct mx_dns_conf conf = { .timeout_ms = 500 };
	char zone[64];
	int fd, rc;

	if (dns != NULL)
		return dns;
	snprintf(zone, sizeof(zone), "/tmp/mx_spf_fuzz_XXXXXX");
	fd = mkstemp(zone);
	if (fd < 0)
		abort();
	if (write(fd, "; empty\n", 8) != 8)
		abort();
	close(fd);
	conf.zone_file = zone;
	rc = mx_dns_create(&conf, &dns, stderr);
	unlink(zone);
	if (rc != 0)
		abort();
	return dns;
}

static void
fz_fill(struct mx_dns *dns, const uint8_t *p, size_t size)
{
	size_t i = 0;

	while (i + 4 <= size) {
		const uint8_t *rd[MX_DNS_MAX_RR + 1];
		size_t len[MX_DNS_MAX_RR + 1];
		const char *name = fz_names[p[i] % (sizeof(fz_names) / sizeof(fz_names[0]))];
		uint16_t type = fz_types[p[i + 1] % (sizeof(fz_types) / sizeof(fz_types[0]))];
		int rcode = fz_rcodes[p[i + 2] % 4];
		size_t n = p[i + 3] % (MX_DNS_MAX_RR + 2), k = 0;

		i += 4;
		for (; k < n && i < size; k++) {
			size_t l = p[i++];

			if (l > size - i)
				l = size - i;
			rd[k] = p + i;
			len[k] = l;
			i += l;
		}
		(void)mx_dns_cache_put(dns, name, type, rcode, rd, len, k, 300);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mx_spf_query q[3] = {
		{ MX_SPF_MAILFROM, "192.0.2.1", "h.example.org", "user@example.com" },
		{ MX_SPF_HELO, "2001:db8::1", "h.example.org", "" },
		{ MX_SPF_PRA, "::ffff:192.0.2.1", "h.example.org", "pra@a.example.com" },
	};
	struct mx_spf_outcome out[3];
	struct mx_dns *dns = fz_dns();
	struct mx_spf *spf;

	mx_dns_cache_clear(dns);
	if (mx_spf_create(dns, "mx.example.net", &spf) != 0)
		return 0;
	fz_fill(dns, data, size);
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
