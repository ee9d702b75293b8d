/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_spf: SPF (RFC 7208) for the MAIL FROM and HELO identities, and
 * Sender ID (RFC 4406, 4407) for the PRA identity, evaluated by our own
 * check_host() from the mx_dns cache.
 *
 * libspf2 no longer evaluates (nor is it linked): its evaluation broke
 * RFC 7208 in ways a DNS layer cannot correct (CIDR /0, IPv4-mapped IPv6
 * clients, a/mx on NXDOMAIN, redirect and exp= interplay, macro
 * expansion, include past the lookup limit, no void-lookup limit:
 * shevek/libspf2#24), see README.md.
 *
 * Sans-I/O and re-runnable: the evaluation reads answers from the mx_dns
 * cache only. A name that is not there yet is submitted and the
 * evaluation is thrown away (mx_spf_eval returns -EAGAIN); it is re-run
 * once the batch's missing names have all been resolved in one
 * asynchronous round (DESIGN.md, "DNS and batching"). So mx_spf_eval
 * never waits, and mx_spf_check_batch waits only in mx_dns_wait, on the
 * verifier's own thread.
 *
 * RFC 7208 as enforced: record selection (4.5), the whole-record grammar
 * before evaluation (4.6, section 12), the domain checks of 4.3, the
 * limits of 4.6.4 (10 DNS-querying terms, 2 void lookups, 10 names per
 * mx/ptr term), IPv4-mapped IPv6 clients as IPv4 (5), dual CIDR lengths
 * (5.6), redirect= (6.1), exp= (6.2), and the macros of section 7.
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
	MX_SPF_PRA,          /* Sender ID, RFC 4406: PRA in mail_from */
};

#define MX_SPF_DOMAIN_MAX 256
#define MX_SPF_EXP_MAX 512

struct mx_spf_query {
	enum mx_spf_identity identity;
	const char *client_ip; /* IPv4 or IPv6 text */
	const char *helo;
	/* "" is the null reverse-path. With MX_SPF_PRA: the Purported
	 * Responsible Address (mx_spf_pra), checked against the "spf2.0/"
	 * record whose scopes include "pra", else the v=spf1 record (RFC
	 * 4406 4.4); "" or NULL is no PRA (result none). */
	const char *mail_from;
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
 * letters (c, r, t only in explanation text), nonzero digit
 * transformers, CIDR lengths without leading zeros and within 32 / 128,
 * well-formed ip4/ip6 addresses. */
bool mx_spf_record_ok(const char *rec, size_t len);

/* Inputs of the macro letters (RFC 7208 7.3) for mx_spf_macro_expand:
 * sender is <sender> (local-part@domain), domain the current <domain>,
 * ptr the validated name of %{p} (NULL: "unknown"), receiver %{r} (NULL:
 * "unknown"), now %{t}. */
struct mx_spf_macro_env {
	const char *sender;
	const char *domain;
	const char *client_ip;
	const char *helo;
	const char *receiver;
	const char *ptr;
	long long now;
};

/* Expands a macro-string (RFC 7208 7). exp_text: explanation text (c, r,
 * t allowed, output truncated to size). Otherwise a domain-spec: cut to
 * 253 characters by removing labels from the left (7.3), size >= 256.
 * Returns 0, or -EINVAL on a syntax error, a bad client_ip, or a domain
 * that cannot be cut to fit. Pure: no DNS (the evaluator resolves %{p}
 * first). */
int mx_spf_macro_expand(const struct mx_spf_macro_env *env, const char *s,
		size_t len, bool exp_text, char *out, size_t size);

/* RFC 4407 2: the Purported Responsible Address of a message from its
 * header block (hdrs, len: the header fields, CRLF or LF line ends,
 * ending at the first empty line or at len). First non-empty
 * Resent-Sender (unless a Resent-From precedes it with Received or
 * Return-Path fields between them), else the first non-empty
 * Resent-From, else the Sender field, else the From field. Writes the
 * addr-spec to out. Returns 0; -ENOENT when there is no PRA (no such
 * field, several Sender or From fields, a field with several mailboxes,
 * or a mailbox without a domain: the "definitive failure" of step 6);
 * -ENOSPC when out is too small. */
int mx_spf_pra(const char *hdrs, size_t len, char *out, size_t size);

#endif /* MX_SPF_H */
