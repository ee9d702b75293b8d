/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_spf: SPF (RFC 7208) for the MAIL FROM and HELO identities, with
 * libspf2 evaluating records and our DNS layer (mx_dns) answering it.
 *
 * libspf2 asks its DNS layer synchronously; ours answers from the mx_dns
 * cache only. A name that is not there yet is submitted and answered
 * "try again"; the evaluation is then thrown away and re-run once the
 * batch's missing names have all been resolved in one asynchronous round
 * (DESIGN.md, "DNS and batching"). So mx_spf_eval never waits, and
 * mx_spf_check_batch waits only in mx_dns_wait, on the verifier's own
 * thread.
 *
 * Enforced here rather than trusted to libspf2: the domain syntax checks
 * of RFC 7208 4.3 before any query (result none), the void-lookup limit
 * of 4.6.4 (libspf2 lacks it: shevek/libspf2#24), and the DNS-lookup and
 * MX/PTR limits of 4.6.4 through libspf2's own counters.
 *
 * Threads: one struct mx_spf per thread, bound to that thread's mx_dns.
 */
#ifndef MX_SPF_H
#define MX_SPF_H

#include <stdbool.h>
#include <stddef.h>

struct mx_dns;

enum mx_spf_result {
	MX_SPF_NONE = 0,
	MX_SPF_NEUTRAL,
	MX_SPF_PASS,
	MX_SPF_FAIL,
	MX_SPF_SOFTFAIL,
	MX_SPF_TEMPERROR,
	MX_SPF_PERMERROR,
};

enum mx_spf_identity {
	MX_SPF_MAILFROM = 0, /* RFC 7208 2.4; postmaster@helo for <> */
	MX_SPF_HELO,         /* RFC 7208 2.3 */
};

#define MX_SPF_DOMAIN_MAX 256
#define MX_SPF_EXP_MAX 512

struct mx_spf_query {
	enum mx_spf_identity identity;
	const char *client_ip; /* IPv4 or IPv6 text */
	const char *helo;
	const char *mail_from; /* "" is the null reverse-path */
};

struct mx_spf_outcome {
	enum mx_spf_result result;
	char domain[MX_SPF_DOMAIN_MAX];      /* the identity's domain */
	char explanation[MX_SPF_EXP_MAX];    /* fail only (RFC 7208 6.2) */
	unsigned n_rounds;                   /* DNS rounds it took */
};

struct mx_spf;

/* receiver: our host name, for the %{r} macro (RFC 7208 7.3). Returns 0
 * or -ENOMEM. dns stays owned by the caller and must outlive s. */
int mx_spf_create(struct mx_dns *dns, const char *receiver, struct mx_spf **out);
void mx_spf_free(struct mx_spf *s);

/* One evaluation from the cache. Returns 0 with *out final, or -EAGAIN
 * when names were missing: they have been submitted to the mx_dns, and
 * the caller re-runs the evaluation once they are answered. Never
 * blocks. */
int mx_spf_eval(struct mx_spf *s, const struct mx_spf_query *q,
		struct mx_spf_outcome *out);

/* Evaluates n queries: every round re-runs the unfinished ones, then
 * resolves all their missing names together (mx_dns_wait). Bounded by
 * the per-query DNS deadline and a round limit (temperror beyond). */
void mx_spf_check_batch(struct mx_spf *s, const struct mx_spf_query *q,
		struct mx_spf_outcome *out, size_t n);

const char *mx_spf_result_str(enum mx_spf_result r);

/* Whether a TXT string is an SPF record at all (RFC 7208 4.5: it starts
 * with "v=spf1" followed by a space or its end). */
bool mx_spf_is_record(const char *txt, size_t len);

/* Whether an SPF record matches the whole grammar of RFC 7208 section
 * 12 (4.6: checked before evaluation, any error is a permerror): terms
 * separated by SP only, known mechanisms, redirect= and exp= at most
 * once, domain-specs ending in a valid top label or a macro, valid macro
 * letters (c, r, t only in explanation text), CIDR lengths without
 * leading zeros and within 32 / 128. IP addresses themselves are left to
 * libspf2. */
bool mx_spf_record_ok(const char *rec, size_t len);

#endif /* MX_SPF_H */
