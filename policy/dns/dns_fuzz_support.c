/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dns_fuzz_support.c: DNS answers from fuzz bytes into one reused mx_dns
 * cache (contract in dns_fuzz_support.h). Test support only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns_fuzz_support.h"

/* Text that still fits one rdata (65535) once cut into 8-octet strings. */
#define FZ_TEXT_MAX 58000u

static const int fz_rcodes[] = { 0, 3, 2, 0 };

/* The file is read by mx_dns_create and removed at once. */
static struct mx_dns *
fz_dns_create(unsigned timeout_ms)
{
	struct mx_dns_conf conf = { .timeout_ms = timeout_ms };
	struct mx_dns *dns = NULL;
	char zone[64];
	int fd, rc;

	snprintf(zone, sizeof(zone), "/tmp/mx_dns_fuzz_XXXXXX");
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

struct mx_dns *
mx_dns_fuzz_resolver(unsigned timeout_ms)
{
	/* One per process: a replay of thousands of inputs does not pay for
	 * a resolver (and its unbound thread) each. */
	static struct mx_dns *dns;

	if (dns == NULL)
		dns = fz_dns_create(timeout_ms);
	return dns;
}

void
mx_dns_fuzz_fill_wire(struct mx_dns *dns, const uint8_t *p, size_t size,
		const char *const *names, size_t n_names, const uint16_t *types, size_t n_types)
{
	size_t i = 0;

	while (i + 4 <= size) {
		const uint8_t *rd[MX_DNS_MAX_RR + 1];
		size_t len[MX_DNS_MAX_RR + 1];
		const char *name = names[p[i] % n_names];
		uint16_t type = types[p[i + 1] % n_types];
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

/* The record text as TXT rdata: character-strings of chunk octets. */
static size_t
fz_text_rdata(const uint8_t *p, size_t len, size_t chunk, uint8_t *out)
{
	size_t o = 0, i = 0;

	do {
		size_t n = MX_MIN(chunk, len - i);

		out[o++] = (uint8_t)n;
		memcpy(out + o, p + i, n);
		o += n;
		i += n;
	} while (i < len);
	return o;
}

void
mx_dns_fuzz_fill_txt(struct mx_dns *dns, const uint8_t *p, size_t size,
		const char *const *names, size_t n_names, uint8_t *arena)
{
	size_t i = 0, used = 0;

	while (i + 3 <= size) {
		const uint8_t *rd[MX_DNS_MAX_RR + 1];
		size_t len[MX_DNS_MAX_RR + 1];
		const char *name = names[p[i] % n_names];
		unsigned mode = p[i + 1];
		size_t n = p[i + 2] % (MX_DNS_MAX_RR + 2), k = 0;
		size_t chunk = MX_MIN(((mode >> 3) + 1) * 8u, 255u);

		i += 3;
		for (; k < n && i + 2 <= size; k++) {
			size_t l = (size_t)p[i] << 8 | p[i + 1];

			i += 2;
			l = MX_MIN(l, size - i);
			if ((mode & 4) != 0) {
				rd[k] = p + i;
				len[k] = l;
			} else {
				l = MX_MIN(l, (size_t)FZ_TEXT_MAX);
				rd[k] = arena + used;
				len[k] = fz_text_rdata(p + i, l, chunk, arena + used);
				used += len[k];
			}
			i += l;
		}
		(void)mx_dns_cache_put(dns, name, MX_DNS_TXT, fz_rcodes[mode & 3],
				rd, len, k, 300);
	}
}
