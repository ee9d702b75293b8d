/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DMARC record parser (RFC 7489 6.3, 6.4). The record is a DKIM-style
 * tag-list (RFC 6376 3.2): "tag=value" separated by ';', whitespace around
 * tags, '=' and values ignored. The input is DNS data, so nothing is
 * trusted: the parser reads only inside txt, allocates nothing and never
 * asserts on content.
 */
#include <errno.h>
#include <string.h>

#include "mx_dmarc.h"

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static struct mx_str
trim(struct mx_str s)
{
	while (s.len > 0 && is_wsp(s.p[0])) {
		s.p++;
		s.len--;
	}
	while (s.len > 0 && is_wsp(s.p[s.len - 1]))
		s.len--;
	return s;
}

static bool
str_eq(struct mx_str s, const char *lit)
{
	size_t n = strlen(lit);

	return s.len == n && memcmp(s.p, lit, n) == 0;
}

/* Tag names are case-sensitive, values like p= too (6.4 ABNF is case
 * insensitive for the keyword values, so those compare ignoring case). */
static int
parse_policy(struct mx_str v, enum mx_dmarc_policy *p)
{
	if (mx_str_ieq(v, "none"))
		*p = MX_DMARC_POLICY_NONE;
	else if (mx_str_ieq(v, "quarantine"))
		*p = MX_DMARC_POLICY_QUARANTINE;
	else if (mx_str_ieq(v, "reject"))
		*p = MX_DMARC_POLICY_REJECT;
	else
		return -EINVAL;
	return 0;
}

static void
parse_align(struct mx_str v, enum mx_dmarc_align *a)
{
	/* Invalid values keep the default (6.3: syntax errors in the
	 * remainder of the record are discarded in favour of defaults). */
	if (mx_str_ieq(v, "s"))
		*a = MX_DMARC_ALIGN_STRICT;
	else if (mx_str_ieq(v, "r"))
		*a = MX_DMARC_ALIGN_RELAXED;
}

static int
parse_uint(struct mx_str v, uint64_t max, uint64_t *out)
{
	uint64_t n = 0;
	size_t i;

	if (v.len == 0 || v.len > 10)
		return -EINVAL;
	for (i = 0; i < v.len; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return -EINVAL;
		n = n * 10 + (uint64_t)(v.p[i] - '0');
	}
	if (n > max)
		return -EINVAL;
	*out = n;
	return 0;
}

/* fo= is a colon-separated list of 0, 1, d, s (6.3); any bad element
 * discards the whole value (default "0"). */
static unsigned
parse_fo(struct mx_str v)
{
	unsigned fo = 0;
	size_t i = 0;

	while (i <= v.len) {
		size_t j = i;
		struct mx_str e;

		while (j < v.len && v.p[j] != ':')
			j++;
		e = trim((struct mx_str){ j - i, v.p + i });
		if (str_eq(e, "0"))
			fo |= MX_DMARC_FO_0;
		else if (str_eq(e, "1"))
			fo |= MX_DMARC_FO_1;
		else if (mx_str_ieq(e, "d"))
			fo |= MX_DMARC_FO_D;
		else if (mx_str_ieq(e, "s"))
			fo |= MX_DMARC_FO_S;
		else
			return MX_DMARC_FO_0;
		i = j + 1;
	}
	return fo;
}

/* rua/ruf: comma-separated URIs (6.4 dmarc-uri). Valid when at least one
 * element is an absolute URI ("scheme:..." with a letter-led scheme),
 * which is what 6.6.3 step 6 needs to know. */
static bool
uri_list_valid(struct mx_str v)
{
	size_t i = 0;

	while (i < v.len) {
		size_t j = i, k;
		struct mx_str e;

		while (j < v.len && v.p[j] != ',')
			j++;
		e = trim((struct mx_str){ j - i, v.p + i });
		for (k = 0; k < e.len && e.p[k] != ':'; k++) {
			char c = e.p[k];
			bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');

			if (!alpha && (k == 0 || !((c >= '0' && c <= '9') ||
					c == '+' || c == '-' || c == '.')))
				break;
		}
		if (k > 0 && k < e.len && e.p[k] == ':' && k + 1 < e.len)
			return true;
		i = j + 1;
	}
	return false;
}

enum rec_tag {
	TAG_V, TAG_P, TAG_SP, TAG_ADKIM, TAG_ASPF, TAG_PCT, TAG_FO,
	TAG_RUA, TAG_RUF, TAG_RF, TAG_RI, TAG_UNKNOWN,
};

/* Indexed by enum rec_tag. */
static const char *const tag_names[] = {
	"v", "p", "sp", "adkim", "aspf", "pct", "fo", "rua", "ruf", "rf", "ri",
};

static enum rec_tag
tag_of(struct mx_str t)
{
	unsigned i;

	for (i = 0; i < MX_ARRAY_SIZE(tag_names); i++)
		if (str_eq(t, tag_names[i]))
			return (enum rec_tag)i;
	return TAG_UNKNOWN;
}

struct rec_state {
	struct mx_dmarc_record *r;
	bool p_valid;
	bool sp_valid;
	bool sp_seen;
	bool rua_valid;
};

static void
apply_tag(struct rec_state *st, enum rec_tag tag, struct mx_str v)
{
	struct mx_dmarc_record *r = st->r;
	uint64_t n;

	switch (tag) {
	case TAG_P:
		st->p_valid = parse_policy(v, &r->p) == 0;
		break;
	case TAG_SP:
		st->sp_seen = true;
		st->sp_valid = parse_policy(v, &r->sp) == 0;
		break;
	case TAG_ADKIM:
		parse_align(v, &r->adkim);
		break;
	case TAG_ASPF:
		parse_align(v, &r->aspf);
		break;
	case TAG_PCT:
		if (parse_uint(v, 100, &n) == 0)
			r->pct = (unsigned)n;
		break;
	case TAG_FO:
		r->fo = parse_fo(v);
		break;
	case TAG_RUA:
		r->rua = v;
		st->rua_valid = uri_list_valid(v);
		break;
	case TAG_RUF:
		r->ruf = v;
		break;
	case TAG_RF:
		r->rf_afrf = mx_str_ieq(v, "afrf");
		break;
	case TAG_RI:
		if (parse_uint(v, UINT32_MAX, &n) == 0)
			r->ri = (uint32_t)n;
		break;
	case TAG_V:
	case TAG_UNKNOWN:
		break;
	}
}

static void
record_defaults(struct mx_dmarc_record *r)
{
	memset(r, 0, sizeof(*r));
	r->pct = 100;
	r->fo = MX_DMARC_FO_0;
	r->rf_afrf = true;
	r->ri = 86400;
}

/* v=DMARC1 must be the first tag (6.4: "v" MUST be first); anything else is
 * not a DMARC record and is discarded (6.6.3 step 3). */
static int
check_version(struct mx_str first)
{
	size_t eq;

	for (eq = 0; eq < first.len && first.p[eq] != '='; eq++)
		;
	if (eq == first.len)
		return -ENOENT;
	if (!str_eq(trim((struct mx_str){ eq, first.p }), "v"))
		return -ENOENT;
	if (!str_eq(trim((struct mx_str){ first.len - eq - 1, first.p + eq + 1 }),
			"DMARC1"))
		return -ENOENT;
	return 0;
}

static int
finish(struct rec_state *st)
{
	struct mx_dmarc_record *r = st->r;

	/* 6.6.3 step 6: without a valid p= (or with an invalid sp=) the record
	 * counts as p=none only if rua= has a valid URI; else no DMARC. */
	if (!st->p_valid || (st->sp_seen && !st->sp_valid)) {
		if (!st->rua_valid)
			return -EINVAL;
		r->p = MX_DMARC_POLICY_NONE;
		r->sp = MX_DMARC_POLICY_NONE;
		r->has_sp = false;
		r->p_assumed = true;
		return 0;
	}
	r->has_sp = st->sp_seen;
	if (!r->has_sp)
		r->sp = r->p;
	return 0;
}

int
mx_dmarc_record_parse(struct mx_str txt, struct mx_dmarc_record *out)
{
	struct rec_state st = { .r = out };
	unsigned seen = 0;
	size_t i = 0;
	bool first = true;
	int rc;

	record_defaults(out);
	while (i < txt.len || first) {
		size_t j = i, eq;
		struct mx_str item, name;
		enum rec_tag tag;

		while (j < txt.len && txt.p[j] != ';')
			j++;
		item = (struct mx_str){ j - i, txt.p + i };
		i = j + 1;
		if (first) {
			first = false;
			rc = check_version(item);
			if (rc < 0)
				return rc;
			seen |= 1u << TAG_V;
			continue;
		}
		if (trim(item).len == 0)
			continue; /* "a=b;;" and a trailing ';' are allowed */
		for (eq = 0; eq < item.len && item.p[eq] != '='; eq++)
			;
		if (eq == item.len)
			return -EINVAL; /* tag-spec without '=' */
		name = trim((struct mx_str){ eq, item.p });
		if (name.len == 0)
			return -EINVAL;
		tag = tag_of(name);
		if (tag != TAG_UNKNOWN) {
			if (seen & (1u << tag))
				return -EINVAL; /* RFC 6376 3.2: duplicate tag */
			seen |= 1u << tag;
		}
		apply_tag(&st, tag, trim((struct mx_str){ item.len - eq - 1,
				item.p + eq + 1 }));
	}
	return finish(&st);
}

const char *
mx_dmarc_policy_name(enum mx_dmarc_policy p)
{
	switch (p) {
	case MX_DMARC_POLICY_QUARANTINE:
		return "quarantine";
	case MX_DMARC_POLICY_REJECT:
		return "reject";
	case MX_DMARC_POLICY_NONE:
		break;
	}
	return "none";
}
