/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spf_record.c: the SPF record parser: the RFC 7208 section 12 grammar,
 * term by term (spf_term_next, used by the evaluator in spf_eval.c), and
 * the whole-record check built on it (mx_spf_record_ok in mx_spf.h).
 *
 * RFC 7208 4.6: a record is syntax-checked as a whole before any term is
 * evaluated, and any syntax error is a permerror: duplicate redirect= or
 * exp=, bad top labels, invalid macro letters, control or non-ASCII
 * bytes, leading zeros in CIDR lengths, malformed addresses. The version
 * tags are "v=spf1" (RFC 7208 4.5) and, for Sender ID, "spf2.0/<scopes>"
 * (RFC 4406 3.1). Pure: bytes in, verdict out.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "mx_spf.h"
#include "spf_int.h"

/* A span of the record: [p, p + n). */
struct span {
	const char *p;
	size_t n;
};

static bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive equality of a span and a literal (RFC 5234 2.3). */
static bool
span_is(struct span s, const char *lit)
{
	size_t n = strlen(lit);

	if (s.n != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (lower(s.p[i]) != lit[i])
			return false;
	}
	return true;
}

/* RFC 7208 7.1 macro-expand, starting at s[i] == '%'; returns the length
 * consumed or 0 when malformed. exp_text allows c, r and t (7.2: those
 * letters are for explanation text only). */
static size_t
macro_expand(struct span s, size_t i, bool exp_text)
{
	const char *letters = exp_text ? "slodiphcrtv" : "slodiphv";
	size_t j = i + 2;

	if (i + 1 >= s.n)
		return 0;
	if (s.p[i + 1] == '%' || s.p[i + 1] == '_' || s.p[i + 1] == '-')
		return 2;
	if (s.p[i + 1] != '{' || j >= s.n || strchr(letters, lower(s.p[j])) == NULL)
		return 0;
	j++;
	/* 7.1: "If a DIGIT is specified, the value MUST be nonzero." */
	if (j < s.n && s.p[j] == '0')
		return 0;
	while (j < s.n && is_digit(s.p[j]))
		j++;
	if (j < s.n && lower(s.p[j]) == 'r')
		j++;
	while (j < s.n && strchr(".-+,/_=", s.p[j]) != NULL)
		j++;
	if (j >= s.n || s.p[j] != '}')
		return 0;
	return j + 1 - i;
}

/* RFC 7208 7.1 macro-string: macro-expand or visible ASCII but '%'.
 * *last_macro tells whether the string ends with a macro-expand. */
static bool
macro_string(struct span s, bool *last_macro)
{
	*last_macro = false;
	for (size_t i = 0; i < s.n;) {
		size_t m;

		if (s.p[i] != '%') {
			if (s.p[i] < 0x21 || s.p[i] > 0x7e)
				return false;
			*last_macro = false;
			i++;
			continue;
		}
		m = macro_expand(s, i, false);
		if (m == 0)
			return false;
		*last_macro = true;
		i += m;
	}
	return true;
}

/* RFC 7208 7.1 toplabel: alphanumeric with at least one letter, or
 * alphanumeric with inner hyphens. */
static bool
toplabel_ok(struct span l)
{
	bool alpha = false;

	if (l.n == 0 || l.p[0] == '-' || l.p[l.n - 1] == '-')
		return false;
	for (size_t i = 0; i < l.n; i++) {
		if (l.p[i] == '-')
			alpha = true;
		else if (is_alpha(l.p[i]))
			alpha = true;
		else if (!is_digit(l.p[i]))
			return false;
	}
	return alpha;
}

/* RFC 7208 7.1: domain-spec = macro-string domain-end, domain-end =
 * ( "." toplabel [ "." ] ) / macro-expand. */
static bool
domain_spec_ok(struct span s)
{
	struct span l;
	bool last_macro;
	size_t end = s.n;

	if (s.n == 0 || !macro_string(s, &last_macro))
		return false;
	if (last_macro)
		return true;
	if (s.p[end - 1] == '.')
		end--;
	l.n = 0;
	while (l.n < end && s.p[end - l.n - 1] != '.')
		l.n++;
	if (l.n == end)
		return false;
	l.p = s.p + end - l.n;
	return toplabel_ok(l);
}

/* RFC 7208 5.6: a CIDR length is "0" or has no leading zero, and is at
 * most max. */
static bool
cidr_ok(struct span s, unsigned max, unsigned *out)
{
	unsigned v = 0;

	if (s.n == 0 || s.n > 3 || (s.n > 1 && s.p[0] == '0'))
		return false;
	for (size_t i = 0; i < s.n; i++) {
		if (!is_digit(s.p[i]))
			return false;
		v = v * 10 + (unsigned)(s.p[i] - '0');
	}
	*out = v;
	return v <= max;
}

/* Splits a trailing "/digits" off *s into *cidr (n == 0 when none). */
static void
cut_cidr(struct span *s, struct span *cidr, bool dual)
{
	size_t i = s->n;

	cidr->n = 0;
	while (i > 0 && is_digit(s->p[i - 1]))
		i--;
	if (i == s->n || i == 0 || s->p[i - 1] != '/')
		return;
	if (dual != (i >= 2 && s->p[i - 2] == '/'))
		return;
	cidr->p = s->p + i;
	cidr->n = s->n - i;
	s->n = i - (dual ? 2u : 1u);
}

/* RFC 7208 5.3, 5.4: [ ":" domain-spec ] [ dual-cidr-length ]. */
static bool
a_mx_args(struct span arg, struct spf_term *t)
{
	struct span c4, c6;

	cut_cidr(&arg, &c6, true);
	cut_cidr(&arg, &c4, false);
	if (c6.n > 0 && !cidr_ok(c6, 128, &t->cidr6))
		return false;
	if (c4.n > 0 && !cidr_ok(c4, 32, &t->cidr4))
		return false;
	if (arg.n == 0)
		return true;
	if (arg.p[0] != ':')
		return false;
	t->spec = arg.p + 1;
	t->spec_len = arg.n - 1;
	return domain_spec_ok((struct span){ t->spec, t->spec_len });
}

/* RFC 7208 5.6: ":" ip4-network / ip6-network [ cidr-length ]. The
 * address must parse as one of its family (inet_pton takes neither
 * leading zeros nor short forms in IPv4). */
static bool
ip_args(struct span arg, bool v6, struct spf_term *t)
{
	char text[INET6_ADDRSTRLEN + 1];
	struct span c;

	cut_cidr(&arg, &c, false);
	if (arg.n < 2 || arg.p[0] != ':' || arg.n - 1 >= sizeof(text))
		return false;
	if (c.n > 0 && !cidr_ok(c, v6 ? 128 : 32, v6 ? &t->cidr6 : &t->cidr4))
		return false;
	memcpy(text, arg.p + 1, arg.n - 1);
	text[arg.n - 1] = '\0';
	return inet_pton(v6 ? AF_INET6 : AF_INET, text, t->net) == 1;
}

/* ":" domain-spec, required (include, exists) or optional (ptr). */
static bool
spec_arg(struct span arg, bool required, struct spf_term *t)
{
	if (arg.n == 0)
		return !required;
	if (arg.p[0] != ':')
		return false;
	t->spec = arg.p + 1;
	t->spec_len = arg.n - 1;
	return domain_spec_ok((struct span){ t->spec, t->spec_len });
}

/* A directive (RFC 7208 4.6.1, 5): [qualifier] mechanism. */
static bool
directive(struct span d, struct spf_term *t)
{
	static const struct {
		const char *name;
		enum spf_kind kind;
	} mech[] = {
		{ "all", SPF_T_ALL }, { "include", SPF_T_INCLUDE }, { "a", SPF_T_A },
		{ "mx", SPF_T_MX }, { "ptr", SPF_T_PTR }, { "ip4", SPF_T_IP4 },
		{ "ip6", SPF_T_IP6 }, { "exists", SPF_T_EXISTS },
	};
	struct span name = d, arg;

	t->qual = '+';
	if (d.n > 0 && strchr("+-?~", d.p[0]) != NULL) {
		t->qual = d.p[0];
		name.p++;
		name.n--;
	}
	arg = name;
	name.n = 0;
	while (name.n < arg.n && is_alpha(name.p[name.n]) && name.n < 8)
		name.n++;
	if (name.n < arg.n && is_digit(name.p[name.n]))
		name.n++; /* ip4, ip6 */
	arg.p += name.n;
	arg.n -= name.n;
	for (size_t i = 0; i < sizeof(mech) / sizeof(mech[0]); i++) {
		if (span_is(name, mech[i].name)) {
			t->kind = mech[i].kind;
			break;
		}
		if (i + 1 == sizeof(mech) / sizeof(mech[0]))
			return false;
	}
	switch (t->kind) {
	case SPF_T_ALL:
		return arg.n == 0;
	case SPF_T_A:
	case SPF_T_MX:
		return a_mx_args(arg, t);
	case SPF_T_IP4:
	case SPF_T_IP6:
		return ip_args(arg, t->kind == SPF_T_IP6, t);
	default:
		return spec_arg(arg, t->kind != SPF_T_PTR, t);
	}
}

/* Length of a modifier's name (RFC 7208 12: ALPHA *( ALPHA / DIGIT /
 * "-" / "_" / "." )) when t is name "=" ..., else 0. */
static size_t
modifier_name(struct span t)
{
	size_t i = 1;

	if (t.n == 0 || !is_alpha(t.p[0]))
		return 0;
	while (i < t.n && (is_alpha(t.p[i]) || is_digit(t.p[i]) ||
			t.p[i] == '-' || t.p[i] == '_' || t.p[i] == '.'))
		i++;
	return i < t.n && t.p[i] == '=' ? i : 0;
}

/* A modifier (RFC 7208 6): redirect and exp take a domain-spec; unknown
 * modifiers take a macro-string. */
static bool
modifier(struct span m, size_t n, struct spf_term *t)
{
	struct span name = { m.p, n };
	struct span val = { m.p + n + 1, m.n - n - 1 };
	bool last_macro;

	t->spec = val.p;
	t->spec_len = val.n;
	if (span_is(name, "redirect") || span_is(name, "exp")) {
		t->kind = span_is(name, "exp") ? SPF_T_EXP : SPF_T_REDIRECT;
		return domain_spec_ok(val);
	}
	t->kind = SPF_T_UNKNOWN_MOD;
	return macro_string(val, &last_macro);
}

int
spf_term_next(const char *rec, size_t len, size_t *pos, struct spf_term *t)
{
	struct span m;
	size_t i = *pos, n;

	/* RFC 7208 12: terms are separated by SP only. */
	while (i < len && rec[i] == ' ')
		i++;
	if (i >= len) {
		*pos = i;
		return 0;
	}
	m.p = rec + i;
	m.n = 0;
	while (i + m.n < len && rec[i + m.n] != ' ')
		m.n++;
	*pos = i + m.n;
	memset(t, 0, sizeof(*t));
	t->qual = '+';
	t->cidr4 = 32;
	t->cidr6 = 128;
	n = modifier_name(m);
	if (n > 0 ? !modifier(m, n, t) : !directive(m, t))
		return -1;
	return 1;
}

bool
spf_terms_ok(const char *rec, size_t len, size_t start)
{
	bool redirect = false, exp = false;
	struct spf_term t;
	size_t pos = start;
	int rc;

	if (start < len && rec[start] != ' ')
		return false;
	while ((rc = spf_term_next(rec, len, &pos, &t)) == 1) {
		/* RFC 7208 6: redirect and exp "MUST NOT appear in a record
		 * more than once each". */
		bool *once = t.kind == SPF_T_EXP ? &exp :
				t.kind == SPF_T_REDIRECT ? &redirect : NULL;

		if (once != NULL && *once)
			return false;
		if (once != NULL)
			*once = true;
	}
	return rc == 0;
}

bool
mx_spf_record_ok(const char *rec, size_t len)
{
	return mx_spf_is_record(rec, len) && spf_terms_ok(rec, len, 6);
}

bool
mx_spf_is_record(const char *txt, size_t len)
{
	struct span v = { txt, 6 };

	return len >= 6 && span_is(v, "v=spf1") && (len == 6 || txt[6] == ' ');
}

/* RFC 4406 3.1: "spf2.0/" scope *( "," scope ), where a scope is a
 * name; returns the tag length when the scopes include "pra". */
static size_t
spf2_pra(const char *rec, size_t len)
{
	struct span v = { rec, 7 };
	bool pra = false;
	size_t i = 7;

	if (len < 8 || !span_is(v, "spf2.0/"))
		return 0;
	while (i < len && rec[i] != ' ') {
		struct span sc = { rec + i, 0 };

		while (i + sc.n < len && (is_alpha(rec[i + sc.n]) ||
				is_digit(rec[i + sc.n]) || rec[i + sc.n] == '-'))
			sc.n++;
		if (sc.n == 0)
			return 0;
		pra |= span_is(sc, "pra");
		i += sc.n;
		if (i < len && rec[i] == ',' && i + 1 < len && rec[i + 1] != ' ')
			i++;
		else if (i < len && rec[i] != ' ')
			return 0;
	}
	return pra ? i : 0;
}

size_t
spf_version(const char *rec, size_t len, bool pra, bool *is_v1)
{
	*is_v1 = mx_spf_is_record(rec, len);
	if (*is_v1)
		return 6;
	return pra ? spf2_pra(rec, len) : 0;
}
