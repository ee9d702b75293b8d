/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spf_record.c: the RFC 7208 section 12 grammar of a whole SPF record,
 * checked before libspf2 evaluates it (mx_spf_record_ok in mx_spf.h).
 *
 * RFC 7208 4.6: a record is syntax-checked as a whole before any term is
 * evaluated, and any syntax error is a permerror. libspf2 accepts several
 * malformed records (duplicate modifiers, bad top labels, invalid macro
 * letters, control or non-ASCII bytes, leading zeros in CIDR lengths), so
 * we reject those here. The check is pure: bytes in, verdict out.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "mx_spf.h"

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
cidr_ok(struct span s, unsigned max)
{
	unsigned v = 0;

	if (s.n == 0 || s.n > 3 || (s.n > 1 && s.p[0] == '0'))
		return false;
	for (size_t i = 0; i < s.n; i++) {
		if (!is_digit(s.p[i]))
			return false;
		v = v * 10 + (unsigned)(s.p[i] - '0');
	}
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
a_mx_args_ok(struct span arg)
{
	struct span c4, c6;

	cut_cidr(&arg, &c6, true);
	cut_cidr(&arg, &c4, false);
	if (c6.n > 0 && !cidr_ok(c6, 128))
		return false;
	if (c4.n > 0 && !cidr_ok(c4, 32))
		return false;
	if (arg.n == 0)
		return true;
	if (arg.p[0] != ':')
		return false;
	arg.p++;
	arg.n--;
	return domain_spec_ok(arg);
}

/* RFC 7208 5.6: ip4-network / ip6-network [ cidr-length ]; the address
 * itself is left to libspf2, only the length is checked here. */
static bool
ip_args_ok(struct span arg, unsigned max)
{
	struct span c;

	cut_cidr(&arg, &c, false);
	if (arg.n < 2 || arg.p[0] != ':' || memchr(arg.p, '/', arg.n) != NULL)
		return false;
	return c.n == 0 || cidr_ok(c, max);
}

/* A directive (RFC 7208 4.6.1, 5): [qualifier] mechanism. */
static bool
directive_ok(struct span t)
{
	struct span name = t, arg;

	if (t.n > 0 && strchr("+-?~", t.p[0]) != NULL) {
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
	if (span_is(name, "all"))
		return arg.n == 0;
	if (span_is(name, "a") || span_is(name, "mx"))
		return a_mx_args_ok(arg);
	if (span_is(name, "ip4"))
		return ip_args_ok(arg, 32);
	if (span_is(name, "ip6"))
		return ip_args_ok(arg, 128);
	if (span_is(name, "ptr") && arg.n == 0)
		return true;
	if (span_is(name, "ptr") || span_is(name, "include") || span_is(name, "exists")) {
		if (arg.n < 1 || arg.p[0] != ':')
			return false;
		arg.p++;
		arg.n--;
		return domain_spec_ok(arg);
	}
	return false;
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

struct seen {
	bool redirect;
	bool exp;
};

/* A modifier (RFC 7208 6): redirect and exp take a domain-spec and
 * appear at most once (6: "MUST NOT appear in a record more than once
 * each"); unknown modifiers take a macro-string. */
static bool
modifier_ok(struct span t, size_t n, struct seen *seen)
{
	struct span name = { t.p, n };
	struct span val = { t.p + n + 1, t.n - n - 1 };
	bool last_macro;

	if (span_is(name, "redirect") || span_is(name, "exp")) {
		bool *once = span_is(name, "exp") ? &seen->exp : &seen->redirect;

		if (*once)
			return false;
		*once = true;
		return domain_spec_ok(val);
	}
	return macro_string(val, &last_macro);
}

bool
mx_spf_record_ok(const char *rec, size_t len)
{
	struct span v = { rec, 6 };
	struct seen seen = { false, false };
	size_t i = 6;

	if (len < 6 || !span_is(v, "v=spf1") || (len > 6 && rec[6] != ' '))
		return false;
	while (i < len) {
		struct span t;
		size_t n;

		/* RFC 7208 12: terms are separated by SP only. */
		if (rec[i] == ' ') {
			i++;
			continue;
		}
		t.p = rec + i;
		t.n = 0;
		while (i + t.n < len && rec[i + t.n] != ' ')
			t.n++;
		i += t.n;
		n = modifier_name(t);
		if (n > 0 ? !modifier_ok(t, n, &seen) : !directive_ok(t))
			return false;
	}
	return true;
}

bool
mx_spf_is_record(const char *txt, size_t len)
{
	struct span v = { txt, 6 };

	return len >= 6 && span_is(v, "v=spf1") && (len == 6 || txt[6] == ' ');
}
