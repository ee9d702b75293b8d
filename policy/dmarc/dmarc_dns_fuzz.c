/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmarc_dns_fuzz.c: arbitrary DNS answers reaching DMARC policy discovery
 * (RFC 7489 6.6.3). For a fixed set of messages (a From domain with given
 * SPF and DKIM outcomes) the fuzz input decides the TXT answers of
 * _dmarc.<from-domain> and of the organizational domain's record: rcode,
 * several RRs (DMARC and other records mixed), character-strings split
 * anywhere, NUL bytes, any record text. The answers go into an mx_dns
 * cache through mx_dns_cache_put (the decoding of unbound's answers;
 * policy/dns/dns_fuzz_support.c) and policy/auth's own TXT callback
 * (mx_auth_dns_txt) reads them: a name not in
 * the cache is submitted, the evaluation answers -EAGAIN and runs again
 * once the empty local zone has answered it NXDOMAIN. No network.
 *
 * Checked on every input: the evaluation ends within a few rounds; the
 * result is one DMARC can give; a record is reported exactly when the
 * result is pass or fail, only from one of the two names asked, and only
 * when that name's answer holds a TXT record; pass means aligned; the
 * disposition never exceeds the policy and is none unless the result is
 * fail.
 *
 * One mx_dns (and its unbound thread) and the DMARC context are made on
 * the first input and reused; every input starts and ends with an empty
 * cache.
 *
 * Input: [case][sample][answer]...; case picks the message, sample is the
 * pct= sample value. answer: [name][mode][n_rr] then n_rr x ([len hi]
 * [len lo][bytes]). mode bits 0-1: rcode (NOERROR, NXDOMAIN, SERVFAIL,
 * NOERROR); bit 2: the bytes are the rdata in wire form; otherwise they
 * are the record text, cut into character-strings of ((mode >> 3) + 1) * 8
 * octets (at most 255, RFC 1035 3.3.14).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mx_dmarc.h"
#include "dns_fuzz_support.h"
#include "mx_auth.h"
#include "mx_dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Rounds of evaluate, then resolve what was missing: the From domain's
 * name, then the organizational domain's. */
#define FZ_ROUNDS 4

/* The names the cases ask, and one they never do. */
static const char *const fz_names[] = {
	"_dmarc.example.org",
	"_dmarc.mail.example.org",
	"_dmarc.a.b.example.co.uk",
	"_dmarc.example.co.uk",
	"_dmarc.example.com",
	"_dmarc.b.example.co.uk",
};
#define FZ_N_NAMES (sizeof(fz_names) / sizeof(fz_names[0]))

#define FZ_STR(s) { sizeof(s) - 1, s }

static const struct mx_dmarc_dkim fz_dkim_org_pass[] = {
	{ FZ_STR("example.org"), MX_AUTH_PASS },
};
static const struct mx_dmarc_dkim fz_dkim_org_fail[] = {
	{ FZ_STR("example.org"), MX_AUTH_FAIL },
};
static const struct mx_dmarc_dkim fz_dkim_uk[] = {
	{ FZ_STR("other.example"), MX_AUTH_PASS },
	{ FZ_STR("b.example.co.uk"), MX_AUTH_PASS },
};
static const struct mx_dmarc_dkim fz_dkim_upper[] = {
	{ FZ_STR("MAIL.EXAMPLE.ORG."), MX_AUTH_PASS },
};

/* from_domain, SPF result and domain, DKIM signatures. */
static const struct mx_dmarc_in fz_cases[] = {
	{ "example.org", MX_AUTH_PASS, FZ_STR("example.org"), fz_dkim_org_pass, 1, 0 },
	{ "mail.example.org", MX_AUTH_PASS, FZ_STR("bounce.example.org"),
		fz_dkim_org_fail, 1, 0 },
	{ "a.b.example.co.uk", MX_AUTH_FAIL, FZ_STR("example.co.uk"), fz_dkim_uk, 2, 0 },
	{ "example.com", MX_AUTH_NONE, FZ_STR(""), NULL, 0, 0 },
	{ "mail.example.org", MX_AUTH_TEMPERROR, FZ_STR("mail.example.org"),
		fz_dkim_upper, 1, 0 },
	{ "example.co.uk", MX_AUTH_SOFTFAIL, FZ_STR("example.co.uk"),
		fz_dkim_org_pass, 1, 0 },
};
#define FZ_N_CASES (sizeof(fz_cases) / sizeof(fz_cases[0]))

struct fz_state {
	struct mx_dns *dns;
	struct mx_dmarc *dmarc;
};

static const struct fz_state *
fz_state(void)
{
	static struct fz_state st;
	struct mx_dmarc_conf conf = { .txt = mx_auth_dns_txt };

	if (st.dns != NULL)
		return &st;
	st.dns = mx_dns_fuzz_resolver(2000);
	conf.txt_ctx = st.dns;
	if (mx_dmarc_create(&conf, &st.dmarc) != 0)
		abort();
	return &st;
}

static bool
fz_any_dkim_pass(const struct mx_dmarc_in *in)
{
	for (unsigned i = 0; i < in->n_dkim; i++)
		if (in->dkim[i].result == MX_AUTH_PASS)
			return true;
	return false;
}

/* The record came from one of the names asked, whose answer has TXT. */
static void
fz_check_record(const struct fz_state *st, const struct mx_dmarc_out *out)
{
	char names[2][MX_DMARC_DOMAIN_MAX + 8], qname[MX_DMARC_DOMAIN_MAX + 8];
	unsigned n = mx_dmarc_query_names(st->dmarc, out->from_domain, names);
	const struct mx_dns_answer *a;
	unsigned i;

	snprintf(qname, sizeof(qname), "_dmarc.%s", out->record_domain);
	for (i = 0; i < n && strcmp(names[i], qname) != 0; i++)
		;
	if (i == n)
		abort();
	a = mx_dns_get(st->dns, qname, MX_DNS_TXT);
	if (a == NULL || a->status != MX_DNS_OK || a->n_rr == 0)
		abort();
	if (out->rec.pct > 100 || out->policy > MX_DMARC_POLICY_REJECT)
		abort();
}

static void
fz_check(const struct fz_state *st, const struct mx_dmarc_in *in,
		const struct mx_dmarc_out *out)
{
	bool found = out->record_domain[0] != '\0';

	switch (out->result) {
	case MX_AUTH_PASS:
	case MX_AUTH_FAIL:
		if (!found)
			abort();
		break;
	case MX_AUTH_NONE:
	case MX_AUTH_TEMPERROR:
	case MX_AUTH_PERMERROR:
		if (found || out->policy != MX_DMARC_POLICY_NONE)
			abort();
		break;
	default:
		abort();
	}
	if (strcmp(out->from_domain, in->from_domain) != 0)
		abort();
	if ((out->spf_aligned && in->spf != MX_AUTH_PASS) ||
			(out->dkim_aligned && !fz_any_dkim_pass(in)))
		abort();
	if ((out->result == MX_AUTH_PASS) != (out->spf_aligned || out->dkim_aligned))
		abort();
	if (out->result != MX_AUTH_FAIL ? out->disposition != MX_DMARC_POLICY_NONE :
			out->disposition > out->policy)
		abort();
	if (found)
		fz_check_record(st, out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct fz_state *st = fz_state();
	struct mx_dmarc_in in;
	struct mx_dmarc_out out;
	uint8_t *arena;
	int rc = -EAGAIN;

	if (size < 2)
		return 0;
	in = fz_cases[data[0] % FZ_N_CASES];
	in.sample = data[1];
	arena = malloc(2 * size + 16);
	if (arena == NULL)
		return 0;
	mx_dns_cache_clear(st->dns);
	mx_dns_fuzz_fill_txt(st->dns, data + 2, size - 2, fz_names, FZ_N_NAMES, arena);
	for (int round = 0; rc == -EAGAIN && round < FZ_ROUNDS; round++) {
		rc = mx_dmarc_eval(st->dmarc, &in, &out);
		if (rc == -EAGAIN)
			mx_dns_wait(st->dns);
	}
	/* Every name is answered (cache or zone) after at most two waits. */
	if (rc != 0)
		abort();
	fz_check(st, &in, &out);
	mx_dns_cache_clear(st->dns);
	free(arena);
	return 0;
}
