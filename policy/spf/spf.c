/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spf.c: check_host() of RFC 7208 sections 4 and 5 (and the Sender ID
 * record selection of RFC 4406 4.4), evaluated from the mx_dns cache
 * only, and the batch driver that re-runs evaluations over DNS rounds.
 *
 * Sans-I/O: every lookup reads the cache. A name that is not there is
 * submitted and the evaluation marked "missing"; it unwinds as a
 * temperror that nobody sees, and mx_spf_eval reports -EAGAIN. Where a
 * term needs several names at once (the hosts of an MX set, the PTR
 * names to validate) all of them are submitted before unwinding, so one
 * DNS round resolves them together. Answers are copied out of the cache
 * before the next lookup, since a submit may evict an entry.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mx_base.h"
#include "mx_dns.h"
#include "mx_log.h"
#include "mx_spf.h"
#include "spf_int.h"

/* RFC 7208 4.6.4: at most 10 terms that query DNS, 2 void lookups, 10
 * address lookups per "mx" or "ptr" term. */
#define SPF_MAX_TERMS 10
#define SPF_MAX_VOID 2
#define SPF_MAX_NAMES 10
/* Each round resolves at least one new name, and one evaluation needs
 * at most 10 terms x (1 + 10 names) plus records, %{p} and exp= names,
 * so this is never the limit of a conforming evaluation. */
#define SPF_MAX_ROUNDS 160

struct mx_spf {
	struct mx_dns *dns;
	char receiver[MX_SPF_DOMAIN_MAX];
};

/* One evaluation of one query. */
struct spf_run {
	struct mx_spf *s;
	struct spf_ip ip;
	const char *sender;   /* local-part@domain */
	const char *helo;
	bool pra;             /* Sender ID record selection */
	unsigned n_terms;
	unsigned n_void;
	bool missing;         /* a name was not in the cache */
	long long now;
	char *exp;            /* MX_SPF_EXP_MAX bytes */
};

enum spf_lk {
	LK_OK,
	LK_VOID,    /* NXDOMAIN or no RR of the type (RFC 7208 4.6.4) */
	LK_ERR,     /* SERVFAIL, timeout, resolver error */
	LK_MISSING, /* not in the cache yet: submitted */
};

/* What a term gives: a match, no match, or a final error result. */
enum spf_m {
	M_NO,
	M_YES,
	M_TEMP,
	M_PERM,
};

const char *
mx_spf_result_str(enum mx_spf_result r)
{
	switch (r) {
	case MX_SPF_NONE: return "none";
	case MX_SPF_NEUTRAL: return "neutral";
	case MX_SPF_PASS: return "pass";
	case MX_SPF_FAIL: return "fail";
	case MX_SPF_SOFTFAIL: return "softfail";
	case MX_SPF_TEMPERROR: return "temperror";
	case MX_SPF_PERMERROR: return "permerror";
	}
	return "permerror";
}

int
mx_spf_create(struct mx_dns *dns, const char *receiver, struct mx_spf **out)
{
	struct mx_spf *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL)
		return -ENOMEM;
	s->dns = dns;
	if (receiver != NULL)
		snprintf(s->receiver, sizeof(s->receiver), "%s", receiver);
	*out = s;
	return 0;
}

void
mx_spf_free(struct mx_spf *s)
{
	free(s);
}

static enum spf_lk
spf_lookup(struct spf_run *r, const char *name, uint16_t type,
		const struct mx_dns_answer **out)
{
	const struct mx_dns_answer *a;

	*out = NULL;
	/* RFC 7208 4.3: a name that cannot be put on the wire does not
	 * exist, and is never queried. */
	if (!mx_dns_name_ok(name))
		return LK_VOID;
	a = mx_dns_get(r->s->dns, name, type);
	if (a == NULL) {
		if (mx_dns_submit(r->s->dns, name, type) != 0)
			return LK_ERR;
		r->missing = true;
		return LK_MISSING;
	}
	switch (a->status) {
	case MX_DNS_PENDING:
		r->missing = true;
		return LK_MISSING;
	case MX_DNS_OK:
		*out = a;
		return LK_OK;
	case MX_DNS_NODATA:
	case MX_DNS_NXDOMAIN:
		return LK_VOID;
	default:
		return LK_ERR;
	}
}

/* A lookup a term depends on: a void answer counts toward the limit of
 * 4.6.4 (permerror past it); an error is a temperror (2.6.6). */
static enum spf_m
spf_term_lookup(struct spf_run *r, const char *name, uint16_t type,
		const struct mx_dns_answer **a)
{
	switch (spf_lookup(r, name, type, a)) {
	case LK_OK:
		return M_YES;
	case LK_VOID:
		return ++r->n_void > SPF_MAX_VOID ? M_PERM : M_NO;
	default:
		return M_TEMP;
	}
}

static bool
ip_in(const struct spf_ip *ip, const uint8_t *net, bool v6, unsigned cidr)
{
	unsigned bytes = cidr / 8, bits = cidr % 8;

	if (ip->v6 != v6)
		return false;
	if (memcmp(ip->b, net, bytes) != 0)
		return false;
	return bits == 0 || ((ip->b[bytes] ^ net[bytes]) & (0xff00 >> bits) & 0xff) == 0;
}

/* Whether an A/AAAA answer holds an address within cidr of the client. */
static bool
answer_has(const struct spf_run *r, const struct mx_dns_answer *a, unsigned cidr)
{
	for (unsigned i = 0; a != NULL && i < a->n_rr; i++) {
		if (a->rr[i].len == (r->ip.v6 ? 16 : 4) &&
				ip_in(&r->ip, a->rr[i].data, r->ip.v6, cidr))
			return true;
	}
	return false;
}

static uint16_t
addr_type(const struct spf_run *r)
{
	return r->ip.v6 ? MX_DNS_AAAA : MX_DNS_A;
}

/* The reverse name of the client (RFC 7208 5.5). */
static void
reverse_name(const struct spf_ip *ip, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (!ip->v6) {
		snprintf(out, size, "%u.%u.%u.%u.in-addr.arpa", ip->b[3], ip->b[2],
				ip->b[1], ip->b[0]);
		return;
	}
	for (int i = 15; i >= 0 && o + 4 < size; i--) {
		out[o++] = hex[ip->b[i] & 15];
		out[o++] = '.';
		out[o++] = hex[ip->b[i] >> 4];
		out[o++] = '.';
	}
	snprintf(out + o, size - o, "ip6.arpa");
}

/* Case-insensitive: name equals domain or is a subdomain of it; trailing
 * dots ignored. */
static bool
name_under(const char *name, const char *domain)
{
	size_t n = strlen(name), d = strlen(domain);

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (d > 0 && domain[d - 1] == '.')
		d--;
	if (d == 0 || n < d || strncasecmp(name + n - d, domain, d) != 0)
		return false;
	return n == d || name[n - d - 1] == '.';
}

static bool
name_eq(const char *a, const char *b)
{
	return name_under(a, b) && name_under(b, a);
}

struct spf_names {
	unsigned n;
	char name[SPF_MAX_NAMES][MX_DNS_NAME_MAX + 1];
};

/* Copies up to SPF_MAX_NAMES names out of a PTR or MX answer. */
static void
names_copy(const struct mx_dns_answer *a, struct spf_names *nm)
{
	nm->n = 0;
	for (unsigned i = 0; i < a->n_rr && nm->n < SPF_MAX_NAMES; i++)
		snprintf(nm->name[nm->n++], sizeof(nm->name[0]), "%s",
				(const char *)a->rr[i].data);
}

/* Whether a name's addresses include the client: 1, 0 (no, or a DNS
 * error: RFC 7208 5.5 skips such names), -1 missing. */
static int
validate(struct spf_run *r, const char *name)
{
	const struct mx_dns_answer *a;

	switch (spf_lookup(r, name, addr_type(r), &a)) {
	case LK_OK:
		return answer_has(r, a, r->ip.v6 ? 128 : 32);
	case LK_MISSING:
		return -1;
	default:
		return 0;
	}
}

/* The client's PTR names (first 10, RFC 7208 4.6.4), or an error. */
static enum spf_lk
ptr_names(struct spf_run *r, struct spf_names *nm)
{
	const struct mx_dns_answer *a;
	char rev[80];
	enum spf_lk lk;

	nm->n = 0;
	reverse_name(&r->ip, rev, sizeof(rev));
	lk = spf_lookup(r, rev, MX_DNS_PTR, &a);
	if (lk == LK_OK)
		names_copy(a, nm);
	return lk;
}

/* %{p} (RFC 7208 7.3, 5.5): a validated name equal to domain, else one
 * under it, else any validated name, else "unknown" (NULL). */
static const char *
ptr_macro(struct spf_run *r, const char *domain, struct spf_names *nm)
{
	bool ok[SPF_MAX_NAMES];
	bool miss = false;

	if (ptr_names(r, nm) != LK_OK)
		return NULL;
	for (unsigned i = 0; i < nm->n; i++) {
		int v = validate(r, nm->name[i]);

		ok[i] = v > 0;
		miss |= v < 0;
	}
	if (miss)
		return NULL;
	for (unsigned pass = 0; pass < 3; pass++) {
		for (unsigned i = 0; i < nm->n; i++) {
			if (ok[i] && (pass == 2 || (pass == 0 ? name_eq(nm->name[i], domain) :
					name_under(nm->name[i], domain))))
				return nm->name[i];
		}
	}
	return NULL;
}

/* Expands a domain-spec (or uses domain when there is none) into out
 * (MX_SPF_DOMAIN_MAX). Returns 0, -EINVAL (no usable name), or -EAGAIN
 * (%{p} needs names not yet in the cache). */
static int
target(struct spf_run *r, const char *domain, const char *spec, size_t len,
		bool exp_text, char *out, size_t size)
{
	struct spf_macro_in m = {
		.sender = r->sender, .domain = domain, .helo = r->helo,
		.receiver = r->s->receiver, .ip = r->ip, .now = r->now,
	};
	struct spf_names *nm = NULL;
	int rc;

	if (spec == NULL) {
		snprintf(out, size, "%s", domain);
		return 0;
	}
	if (spf_uses_p(spec, len)) {
		nm = malloc(sizeof(*nm));
		if (nm == NULL)
			return -ENOMEM;
		m.ptr = ptr_macro(r, domain, nm);
	}
	rc = r->missing ? -EAGAIN : spf_expand(&m, spec, len, exp_text, out, size);
	free(nm);
	return rc;
}

static enum spf_m
target_m(int rc)
{
	/* An expansion that yields no usable name matches nothing. */
	return rc == -EAGAIN || rc == -ENOMEM ? M_TEMP : M_NO;
}

/* "a" (5.3) and one host of "mx" (5.4). */
static enum spf_m
match_a(struct spf_run *r, const char *name, const struct spf_term *t, bool count_void)
{
	const struct mx_dns_answer *a;
	enum spf_m m;

	if (count_void)
		m = spf_term_lookup(r, name, addr_type(r), &a);
	else
		m = spf_lookup(r, name, addr_type(r), &a) == LK_OK ? M_YES :
			r->missing ? M_TEMP : M_NO;
	if (m != M_YES)
		return m;
	return answer_has(r, a, r->ip.v6 ? t->cidr6 : t->cidr4) ? M_YES : M_NO;
}

/* "mx" (5.4): more than 10 MX names is a permerror (4.6.4). All hosts'
 * addresses are asked for before the first missing one unwinds. */
static enum spf_m
match_mx(struct spf_run *r, const char *name, const struct spf_term *t)
{
	const struct mx_dns_answer *a;
	struct spf_names *nm;
	enum spf_m m = spf_term_lookup(r, name, MX_DNS_MX, &a), res = M_NO;

	if (m != M_YES)
		return m;
	if (a->n_rr > SPF_MAX_NAMES)
		return M_PERM;
	nm = malloc(sizeof(*nm));
	if (nm == NULL)
		return M_TEMP;
	names_copy(a, nm);
	for (unsigned i = 0; i < nm->n && res != M_YES; i++) {
		const struct mx_dns_answer *h;
		enum spf_lk lk;

		/* RFC 7505: a null MX ("." ) names no host. */
		if (nm->name[i][0] == '\0')
			continue;
		lk = spf_lookup(r, nm->name[i], addr_type(r), &h);
		if (lk == LK_OK && answer_has(r, h, r->ip.v6 ? t->cidr6 : t->cidr4))
			res = M_YES;
		else if (lk == LK_ERR)
			res = M_TEMP;
	}
	free(nm);
	if (r->missing)
		return M_TEMP;
	return res;
}

/* "ptr" (5.5): a validated PTR name under the target; DNS errors make
 * it not match rather than fail. */
static enum spf_m
match_ptr(struct spf_run *r, const char *name)
{
	struct spf_names *nm = malloc(sizeof(*nm));
	enum spf_m res = M_NO;
	enum spf_lk lk;

	if (nm == NULL)
		return M_TEMP;
	lk = ptr_names(r, nm);
	if (lk == LK_VOID && ++r->n_void > SPF_MAX_VOID)
		res = M_PERM;
	for (unsigned i = 0; lk == LK_OK && i < nm->n && res != M_YES; i++) {
		if (name_under(nm->name[i], name) && validate(r, nm->name[i]) > 0)
			res = M_YES;
	}
	free(nm);
	return r->missing ? M_TEMP : res;
}

static enum mx_spf_result check_host(struct spf_run *r, const char *domain, bool top,
		unsigned depth);

/* "include" (5.2): the included result decides whether it matches. */
static enum spf_m
match_include(struct spf_run *r, const char *name, unsigned depth)
{
	switch (check_host(r, name, false, depth + 1)) {
	case MX_SPF_PASS:
		return M_YES;
	case MX_SPF_FAIL:
	case MX_SPF_SOFTFAIL:
	case MX_SPF_NEUTRAL:
		return M_NO;
	case MX_SPF_TEMPERROR:
		return M_TEMP;
	default:
		/* 5.2: none and permerror both give permerror. */
		return M_PERM;
	}
}

/* One mechanism. RFC 7208 4.6.4: each term that queries DNS counts. */
static enum spf_m
match(struct spf_run *r, const char *domain, const struct spf_term *t, unsigned depth)
{
	char name[MX_SPF_DOMAIN_MAX];
	const struct mx_dns_answer *a;
	int rc;

	switch (t->kind) {
	case SPF_T_ALL:
		return M_YES;
	case SPF_T_IP4:
		return ip_in(&r->ip, t->net, false, t->cidr4) ? M_YES : M_NO;
	case SPF_T_IP6:
		return ip_in(&r->ip, t->net, true, t->cidr6) ? M_YES : M_NO;
	default:
		break;
	}
	if (++r->n_terms > SPF_MAX_TERMS)
		return M_PERM;
	rc = target(r, domain, t->spec, t->spec_len, false, name, sizeof(name));
	if (rc != 0)
		return target_m(rc);
	switch (t->kind) {
	case SPF_T_INCLUDE:
		return match_include(r, name, depth);
	case SPF_T_A:
		return match_a(r, name, t, true);
	case SPF_T_MX:
		return match_mx(r, name, t);
	case SPF_T_PTR:
		return match_ptr(r, name);
	default:
		/* "exists" (5.7): any A record, whatever the client's family. */
		return spf_term_lookup(r, name, MX_DNS_A, &a);
	}
}

static enum mx_spf_result
qual_result(char q)
{
	switch (q) {
	case '-': return MX_SPF_FAIL;
	case '~': return MX_SPF_SOFTFAIL;
	case '?': return MX_SPF_NEUTRAL;
	default: return MX_SPF_PASS;
	}
}

/* RFC 7208 6.2: the explanation of a fail; any problem leaves none. */
static void
explain(struct spf_run *r, const char *domain, const struct spf_term *exp)
{
	char name[MX_SPF_DOMAIN_MAX];
	const struct mx_dns_answer *a;
	char *text;

	if (target(r, domain, exp->spec, exp->spec_len, false, name, sizeof(name)) != 0)
		return;
	if (spf_lookup(r, name, MX_DNS_TXT, &a) != LK_OK || a->n_rr != 1)
		return;
	text = malloc((size_t)a->rr[0].len + 1);
	if (text == NULL)
		return;
	/* Copied: %{p} may need lookups, and a submit may evict it. */
	memcpy(text, a->rr[0].data, (size_t)a->rr[0].len + 1);
	if (target(r, domain, text, a->rr[0].len, true, r->exp, MX_SPF_EXP_MAX) != 0)
		r->exp[0] = '\0';
	free(text);
}

/* RFC 7208 4.5 (RFC 4406 4.4 for Sender ID): the one record to use, as
 * a malloc'ed copy with the offset of its terms, or the result that ends
 * the check (none, temperror, permerror). */
static int
select_record(struct spf_run *r, const char *domain, char **rec, size_t *len,
		size_t *start, enum mx_spf_result *res)
{
	const struct mx_dns_answer *a;
	const struct mx_dns_rr *v1 = NULL, *v2 = NULL;
	size_t v1_off = 0, v2_off = 0;
	unsigned n_v1 = 0, n_v2 = 0;
	const struct mx_dns_rr *pick;

	switch (spf_lookup(r, domain, MX_DNS_TXT, &a)) {
	case LK_OK:
		break;
	case LK_VOID:
		*res = MX_SPF_NONE;
		return -1;
	default:
		/* 4.4: a failed record lookup is a temperror. */
		*res = MX_SPF_TEMPERROR;
		return -1;
	}
	for (unsigned i = 0; i < a->n_rr; i++) {
		bool is_v1;
		size_t off = spf_version((const char *)a->rr[i].data, a->rr[i].len,
				r->pra, &is_v1);

		if (off == 0)
			continue;
		if (is_v1) {
			v1 = &a->rr[i];
			v1_off = off;
			n_v1++;
		} else {
			v2 = &a->rr[i];
			v2_off = off;
			n_v2++;
		}
	}
	/* RFC 4406 4.4: spf2.0 records with the scope win over v=spf1. */
	pick = n_v2 > 0 ? v2 : v1;
	*start = n_v2 > 0 ? v2_off : v1_off;
	if ((n_v2 > 0 ? n_v2 : n_v1) == 0) {
		*res = MX_SPF_NONE;
		return -1;
	}
	/* 4.5: more than one record is a permerror. */
	if ((n_v2 > 0 ? n_v2 : n_v1) > 1) {
		*res = MX_SPF_PERMERROR;
		return -1;
	}
	*len = pick->len;
	*rec = malloc(*len + 1);
	if (*rec == NULL) {
		*res = MX_SPF_TEMPERROR;
		return -1;
	}
	memcpy(*rec, pick->data, *len + 1);
	return 0;
}

/* RFC 7208 4.3: a malformed domain, or one that is not multi-label,
 * has no SPF record. */
static bool
domain_ok(const char *domain)
{
	size_t len = strlen(domain);

	if (len > 0 && domain[len - 1] == '.')
		len--;
	return mx_dns_name_ok(domain) && memchr(domain, '.', len) != NULL;
}

/* The directives in order (4.6.2); then redirect= (6.1), else neutral
 * (4.7). exp= explains a fail of this record's own (6.2). */
static enum mx_spf_result
eval_record(struct spf_run *r, const char *domain, const char *rec, size_t len,
		size_t start, bool top, unsigned depth)
{
	struct spf_term t, redirect = { .kind = SPF_T_ALL }, exp = { .kind = SPF_T_ALL };
	char name[MX_SPF_DOMAIN_MAX];
	enum mx_spf_result res;
	size_t pos = start;
	int rc;

	while (spf_term_next(rec, len, &pos, &t) == 1) {
		if (t.kind == SPF_T_REDIRECT)
			redirect = t;
		if (t.kind == SPF_T_EXP)
			exp = t;
	}
	pos = start;
	while (spf_term_next(rec, len, &pos, &t) == 1) {
		if (t.kind >= SPF_T_REDIRECT)
			continue;
		switch (match(r, domain, &t, depth)) {
		case M_NO:
			continue;
		case M_TEMP:
			return MX_SPF_TEMPERROR;
		case M_PERM:
			return MX_SPF_PERMERROR;
		case M_YES:
			break;
		}
		res = qual_result(t.qual);
		if (res == MX_SPF_FAIL && top && exp.kind == SPF_T_EXP)
			explain(r, domain, &exp);
		return res;
	}
	if (redirect.kind != SPF_T_REDIRECT)
		return MX_SPF_NEUTRAL;
	if (++r->n_terms > SPF_MAX_TERMS)
		return MX_SPF_PERMERROR;
	rc = target(r, domain, redirect.spec, redirect.spec_len, false, name, sizeof(name));
	if (rc == -EAGAIN || rc == -ENOMEM)
		return MX_SPF_TEMPERROR;
	/* 6.1: a redirect to a domain without a record is a permerror. */
	res = rc == 0 ? check_host(r, name, top, depth + 1) : MX_SPF_NONE;
	return res == MX_SPF_NONE ? MX_SPF_PERMERROR : res;
}

static enum mx_spf_result
check_host(struct spf_run *r, const char *domain, bool top, unsigned depth)
{
	enum mx_spf_result res;
	size_t len = 0, start = 0;
	char *rec = NULL;

	if (!domain_ok(domain))
		return MX_SPF_NONE;
	/* Each level of include/redirect counted one term, so depth stays
	 * within SPF_MAX_TERMS + 1; this guards the stack regardless. */
	if (depth > SPF_MAX_TERMS + 1)
		return MX_SPF_PERMERROR;
	if (select_record(r, domain, &rec, &len, &start, &res) != 0)
		return res;
	/* 4.6: the whole record is checked before any term is evaluated. */
	if (!spf_terms_ok(rec, len, start))
		res = MX_SPF_PERMERROR;
	else
		res = eval_record(r, domain, rec, len, start, top, depth);
	free(rec);
	return res;
}

/* The identity's sender and domain (RFC 7208 2.3, 2.4, 4.3; RFC 4406
 * for the PRA): HELO and the null reverse-path check postmaster@helo; a
 * sender without a local part has local part "postmaster". */
static void
spf_identity(const struct mx_spf_query *q, char *sender, size_t size,
		struct mx_spf_outcome *out)
{
	const char *from = q->mail_from;
	const char *at;

	if (q->identity == MX_SPF_PRA && (from == NULL || from[0] == '\0')) {
		/* RFC 4407 2, step 6: no PRA, nothing to check. */
		snprintf(sender, size, "postmaster@");
		out->domain[0] = '\0';
		return;
	}
	if (q->identity == MX_SPF_HELO || from == NULL || from[0] == '\0')
		snprintf(sender, size, "postmaster@%s", q->helo != NULL ? q->helo : "");
	else if (strchr(from, '@') == NULL || from[0] == '@')
		snprintf(sender, size, "postmaster@%s", from + (from[0] == '@'));
	else
		snprintf(sender, size, "%s", from);
	at = strrchr(sender, '@') + 1;
	/* Longer than any domain: it fails domain_ok as it should. */
	if (strlen(at) >= sizeof(out->domain))
		at = "..";
	memcpy(out->domain, at, strlen(at) + 1);
}

int
mx_spf_eval(struct mx_spf *s, const struct mx_spf_query *q, struct mx_spf_outcome *out)
{
	char sender[2 * MX_SPF_DOMAIN_MAX + 64];
	struct spf_run r = {
		.s = s,
		.pra = q->identity == MX_SPF_PRA,
		.helo = q->helo,
		.sender = sender,
		.exp = out->explanation,
		.now = (long long)time(NULL),
	};
	enum mx_spf_result res;

	out->result = MX_SPF_NONE;
	out->explanation[0] = '\0';
	out->n_rounds++;
	spf_identity(q, sender, sizeof(sender), out);
	if (!domain_ok(out->domain))
		return 0;
	if (spf_ip_parse(q->client_ip, &r.ip) != 0) {
		/* Unusable client address: nothing can be checked. */
		out->result = MX_SPF_PERMERROR;
		return 0;
	}
	res = check_host(&r, out->domain, true, 0);
	if (r.missing) {
		out->explanation[0] = '\0';
		return -EAGAIN;
	}
	out->result = res;
	if (res != MX_SPF_FAIL)
		out->explanation[0] = '\0';
	return 0;
}

void
mx_spf_check_batch(struct mx_spf *s, const struct mx_spf_query *q,
		struct mx_spf_outcome *out, size_t n)
{
	bool *done = calloc(n, sizeof(*done));
	size_t n_left = n;

	for (size_t i = 0; i < n; i++) {
		out[i].n_rounds = 0;
		out[i].result = MX_SPF_TEMPERROR;
	}
	if (done == NULL)
		return;
	for (unsigned round = 0; n_left > 0 && round < SPF_MAX_ROUNDS; round++) {
		for (size_t i = 0; i < n; i++) {
			if (done[i])
				continue;
			if (mx_spf_eval(s, &q[i], &out[i]) == 0) {
				done[i] = true;
				n_left--;
			}
		}
		if (n_left > 0)
			mx_dns_wait(s->dns);
	}
	for (size_t i = 0; i < n; i++) {
		if (!done[i])
			out[i].result = MX_SPF_TEMPERROR;
	}
	free(done);
}
