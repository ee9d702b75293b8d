/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_dmarc: DMARC (RFC 7489) for one message: the RFC 5322.From domain,
 * policy discovery (the record at _dmarc.<from-domain>, else at
 * _dmarc.<organizational domain>, the organizational domain taken from the
 * public suffix list through libpsl), identifier alignment of the SPF and
 * DKIM results (strict or relaxed), and the result, policy and disposition
 * (pct sampled deterministically per message).
 *
 * DNS. The context never resolves a name itself: TXT answers come from a
 * lookup callback (the DNS cache of policy/dns in the engine and in
 * `mxedge verify`, a table in the unit tests). A callback answer of
 * -EAGAIN ("not in the cache yet") makes mx_dmarc_eval() return -EAGAIN;
 * the caller resolves mx_dmarc_query_names() and runs the evaluation
 * again, so nothing ever waits on one name.
 *
 * Several From fields, no From field, a From without an address, or one
 * From field with addresses of different domains: RFC 7489 6.6.1 leaves
 * the choice to the receiver ("typically rejected"); mxedge evaluates
 * nothing and reports dmarc=permerror with policy and disposition none,
 * so the site policy decides (it may reject permerror). Several addresses
 * that all share one domain are evaluated as that domain (6.6.1).
 *
 * Threads: a context is used by one thread at a time; the record parser
 * and mx_dmarc_from_domain() are pure and reentrant. Nothing here blocks
 * unless the lookup callback does.
 */
#ifndef MX_DMARC_H
#define MX_DMARC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mx_base.h"
#include "mx_msg.h"
#include "mx_verdict.h"

#define MX_DMARC_DOMAIN_MAX 254 /* 253 octets + NUL (RFC 1035 2.3.4) */
#define MX_DMARC_MAX_TXT 8      /* TXT records read per name */

enum mx_dmarc_policy {
	MX_DMARC_POLICY_NONE = 0,
	MX_DMARC_POLICY_QUARANTINE,
	MX_DMARC_POLICY_REJECT,
};

enum mx_dmarc_align {
	MX_DMARC_ALIGN_RELAXED = 0,
	MX_DMARC_ALIGN_STRICT,
};

/* fo= bits (RFC 7489 6.3). */
enum mx_dmarc_fo {
	MX_DMARC_FO_0 = 1u << 0,
	MX_DMARC_FO_1 = 1u << 1,
	MX_DMARC_FO_D = 1u << 2,
	MX_DMARC_FO_S = 1u << 3,
};

/* A parsed record. rua/ruf point into the parsed text. */
struct mx_dmarc_record {
	enum mx_dmarc_policy p;
	enum mx_dmarc_policy sp;    /* == p when the record has no sp= */
	bool has_sp;
	bool p_assumed;             /* p= absent or invalid, rua= valid: p=none (6.6.3) */
	enum mx_dmarc_align adkim;
	enum mx_dmarc_align aspf;
	unsigned pct;               /* 0..100, default 100 */
	unsigned fo;                /* enum mx_dmarc_fo bits, default 0 */
	bool rf_afrf;               /* rf= names afrf (the only defined format) */
	uint32_t ri;                /* seconds, default 86400 */
	struct mx_str rua;
	struct mx_str ruf;
};

/*
 * Parses one TXT record (character-strings already joined).
 * Returns 0 (out filled), -ENOENT when the text is not a DMARC record at all
 * (it does not start with "v=DMARC1": RFC 7489 6.6.3 discards it), or
 * -EINVAL when it is a DMARC record that cannot be used: a duplicated tag
 * (the tag-list rule of RFC 6376 3.2 that 6.4 builds on), a malformed
 * tag-list, or no valid p= and no valid rua= (6.6.3 step 6). Invalid values
 * of the other tags fall back to their defaults (6.3). Unknown tags are
 * ignored (6.3). Pure, no allocation.
 */
int mx_dmarc_record_parse(struct mx_str txt, struct mx_dmarc_record *out);

/*
 * The RFC 5322.From domain of m, lower-cased, without a trailing dot, into
 * dom (MX_DMARC_DOMAIN_MAX bytes). Returns 0, -ENOENT (no From field),
 * -EMLINK (several From fields), -EXDEV (addresses of different domains),
 * -EINVAL (no usable address or domain). Pure over the header index.
 */
int mx_dmarc_from_domain(const struct mx_msg *m, char dom[MX_DMARC_DOMAIN_MAX]);

/*
 * TXT lookup: stores up to max strings, one per TXT record of qname (its
 * character-strings joined, RFC 7208 3.3 style), in recs; the strings stay
 * valid until the evaluation returns. Returns the number of records (0 for
 * NXDOMAIN or no TXT), -EAGAIN when the answer is not available yet, or
 * another negative errno for a temporary DNS failure (timeout, SERVFAIL).
 */
typedef int (*mx_dmarc_txt_fn)(void *ctx, const char *qname,
		struct mx_str *recs, unsigned max);

struct mx_dmarc_conf {
	mx_dmarc_txt_fn txt;
	void *txt_ctx;
	/* Public suffix list file (DAFSA or text); NULL: psl_latest(), the
	 * newest of Debian's publicsuffix data and libpsl's built-in list. */
	const char *psl_file;
};

struct mx_dmarc;

/* Returns 0, -EINVAL (no callback), -ENOENT (no public suffix data) or
 * -ENOMEM. Control plane only: it loads the list. */
int mx_dmarc_create(const struct mx_dmarc_conf *conf, struct mx_dmarc **out);
void mx_dmarc_free(struct mx_dmarc *d);

/* Organizational domain (RFC 7489 3.2) of a lower-case domain, into org;
 * returns 0 or -EINVAL (the domain is itself a public suffix or too long). */
int mx_dmarc_org_domain(const struct mx_dmarc *d, const char *domain,
		char org[MX_DMARC_DOMAIN_MAX]);

/* One DKIM signature as DMARC sees it (RFC 7489 3.1.1). */
struct mx_dmarc_dkim {
	struct mx_str domain; /* d= */
	enum mx_auth_result result;
};

struct mx_dmarc_in {
	const char *from_domain;     /* from mx_dmarc_from_domain(), lower case */
	enum mx_auth_result spf;     /* MAIL FROM identity */
	struct mx_str spf_domain;    /* its domain (the HELO name for the null sender) */
	const struct mx_dmarc_dkim *dkim;
	unsigned n_dkim;
	/* Any per-message value (e.g. a hash of the queue id): the message is
	 * in the pct= sample when sample % 100 < pct (RFC 7489 6.6.4). */
	uint64_t sample;
};

struct mx_dmarc_out {
	enum mx_auth_result result;  /* PASS FAIL NONE TEMPERROR PERMERROR */
	enum mx_dmarc_policy policy; /* p= or sp= that applies (none without a record) */
	enum mx_dmarc_policy disposition; /* after pct= */
	char from_domain[MX_DMARC_DOMAIN_MAX];
	char record_domain[MX_DMARC_DOMAIN_MAX]; /* where the record was found */
	bool spf_aligned;
	bool dkim_aligned;
	bool sampled_out;            /* policy not applied because of pct= */
	struct mx_dmarc_record rec;  /* valid when record_domain[0] != 0; rua/ruf
	                              * point at callback memory, gone after return */
};

/*
 * Evaluates one message. Returns 0 with out filled, or -EAGAIN when a TXT
 * answer is not available yet (run again once mx_dmarc_query_names() are
 * resolved). DNS failures are not errors of the call: they are
 * result TEMPERROR. A NULL or empty from_domain gives PERMERROR (see the
 * file comment).
 */
int mx_dmarc_eval(struct mx_dmarc *d, const struct mx_dmarc_in *in,
		struct mx_dmarc_out *out);

/* The names mx_dmarc_eval() may ask (for DNS prefetch at end of headers):
 * "_dmarc.<from>" and, when different, "_dmarc.<org>". Returns how many
 * were written (0..2). */
unsigned mx_dmarc_query_names(const struct mx_dmarc *d, const char *from_domain,
		char names[2][MX_DMARC_DOMAIN_MAX + 8]);

const char *mx_dmarc_policy_name(enum mx_dmarc_policy p);

#endif /* MX_DMARC_H */
