/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spf_pra.c: the Purported Responsible Address of RFC 4407 section 2
 * (mx_spf_pra in mx_spf.h), chosen from a message's header block.
 *
 * Pure and bounded: the header block is read once to find the candidate
 * fields (by position), then the chosen field's value is reduced to one
 * addr-spec. Anything that is not exactly one mailbox with a domain is
 * the definitive failure of step 6 (-ENOENT), never a guess.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "mx_spf.h"

/* A field: the value's span within hdrs (with folding still in it). */
struct field {
	const char *v;
	size_t n;
};

enum pra_kind {
	F_OTHER,
	F_RESENT_SENDER,
	F_RESENT_FROM,
	F_SENDER,
	F_FROM,
	F_TRACE, /* Received, Return-Path (RFC 4407 2, step 1) */
};

static enum pra_kind
field_kind(const char *name, size_t n)
{
	static const struct {
		const char *name;
		enum pra_kind kind;
	} t[] = {
		{ "resent-sender", F_RESENT_SENDER }, { "resent-from", F_RESENT_FROM },
		{ "sender", F_SENDER }, { "from", F_FROM },
		{ "received", F_TRACE }, { "return-path", F_TRACE },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (strlen(t[i].name) == n && strncasecmp(name, t[i].name, n) == 0)
			return t[i].kind;
	}
	return F_OTHER;
}

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool
nonempty(struct field f)
{
	for (size_t i = 0; i < f.n; i++) {
		if (!is_wsp(f.v[i]))
			return true;
	}
	return false;
}

/* Reads the next field from *pos: kind and value. Returns false at the
 * end of the header block (an empty line or len). A line without a
 * colon is skipped as F_OTHER. */
static bool
next_field(const char *h, size_t len, size_t *pos, enum pra_kind *kind, struct field *f)
{
	size_t i = *pos, name_end, end;

	if (i >= len || h[i] == '\n' || (h[i] == '\r' && i + 1 < len && h[i + 1] == '\n'))
		return false;
	name_end = i;
	while (name_end < len && h[name_end] != ':' && h[name_end] != '\n')
		name_end++;
	end = name_end;
	/* RFC 5322 2.2.3: a line starting with WSP continues the field. */
	for (;;) {
		while (end < len && h[end] != '\n')
			end++;
		if (end + 1 < len && (h[end + 1] == ' ' || h[end + 1] == '\t')) {
			end++;
			continue;
		}
		break;
	}
	*pos = end < len ? end + 1 : len;
	if (name_end >= len || h[name_end] != ':') {
		*kind = F_OTHER;
		f->v = h + i;
		f->n = 0;
		return true;
	}
	*kind = field_kind(h + i, name_end - i);
	f->v = h + name_end + 1;
	f->n = end - name_end - 1;
	return true;
}

/* Copies the value without comments (RFC 5322 3.2.2) and folding, and
 * with quoted strings kept as they are. Returns the length, or -1 when a
 * comment or quoted string is not closed or out is too small. */
static long
strip_cfws(struct field f, char *out, size_t size)
{
	size_t o = 0;
	unsigned depth = 0;
	bool quoted = false;

	for (size_t i = 0; i < f.n; i++) {
		char c = f.v[i];

		if (c == '\r' || c == '\n')
			continue;
		if (c == '\\' && (quoted || depth > 0) && i + 1 < f.n) {
			i++;
			if (depth == 0) {
				if (o + 2 >= size)
					return -1;
				out[o++] = '\\';
				out[o++] = f.v[i];
			}
			continue;
		}
		if (depth == 0 && c == '"')
			quoted = !quoted;
		else if (!quoted && c == '(') {
			depth++;
			continue;
		} else if (!quoted && depth > 0 && c == ')') {
			depth--;
			continue;
		}
		if (depth > 0)
			continue;
		if (o + 1 >= size)
			return -1;
		out[o++] = c;
	}
	if (depth > 0 || quoted)
		return -1;
	out[o] = '\0';
	return (long)o;
}

static void
trim(const char **p, size_t *n)
{
	while (*n > 0 && is_wsp(**p)) {
		(*p)++;
		(*n)--;
	}
	while (*n > 0 && is_wsp((*p)[*n - 1]))
		(*n)--;
}

/* RFC 5322 3.2.3 atext for the domain: a dot-atom with at least two
 * labels; no domain-literal (step 5: the mailbox needs a domain name). */
static bool
domain_ok(const char *d, size_t n)
{
	bool dot = false;

	if (n == 0 || d[0] == '.' || d[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = d[i];

		if (c == '.') {
			if (d[i - 1] == '.')
				return false;
			dot = true;
		} else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				(c >= '0' && c <= '9') || c == '-' || c == '_')) {
			return false;
		}
	}
	return dot;
}

/* One addr-spec: local "@" domain, the '@' being the last one outside a
 * quoted local part. */
static int
addr_spec(const char *p, size_t n, char *out, size_t size)
{
	const char *at = NULL;
	bool quoted = false;

	trim(&p, &n);
	for (size_t i = 0; i < n; i++) {
		/* RFC 5322 3.2.3: no control octets (NUL included) in a
		 * mailbox, quoted or not. */
		if ((uint8_t)p[i] < 0x20 || p[i] == 0x7f)
			return -ENOENT;
		if (p[i] == '\\' && quoted) {
			i++;
			continue;
		}
		if (p[i] == '"')
			quoted = !quoted;
		else if (!quoted && (p[i] == ' ' || p[i] == '\t' || p[i] == '<' ||
				p[i] == '>' || p[i] == ',' || p[i] == ';' || p[i] == ':'))
			return -ENOENT;
		else if (!quoted && p[i] == '@')
			at = p + i;
	}
	if (at == NULL || at == p || !domain_ok(at + 1, (size_t)(p + n - at - 1)))
		return -ENOENT;
	if (n + 1 > size)
		return -ENOSPC;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

/* RFC 4407 2, step 5: exactly one mailbox, as "addr-spec" or
 * "[display-name] <addr-spec>"; groups and lists are malformed. */
static int
mailbox(struct field f, char *out, size_t size)
{
	char buf[1024];
	const char *lt, *gt, *p = buf;
	bool quoted = false;
	long n = strip_cfws(f, buf, sizeof(buf));
	size_t len;

	if (n <= 0)
		return -ENOENT;
	len = (size_t)n;
	lt = gt = NULL;
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\\' && quoted) {
			i++;
			continue;
		}
		if (buf[i] == '"')
			quoted = !quoted;
		else if (!quoted && buf[i] == '<' && lt == NULL)
			lt = buf + i;
		else if (!quoted && buf[i] == '>' && lt != NULL && gt == NULL)
			gt = buf + i;
		else if (!quoted && (buf[i] == ',' || buf[i] == ';' ||
				(buf[i] == ':' && lt == NULL) || (buf[i] == '<' && lt != NULL) ||
				(buf[i] == '>' && (lt == NULL || gt != NULL))))
			return -ENOENT;
	}
	if (lt == NULL)
		return addr_spec(p, len, out, size);
	if (gt == NULL)
		return -ENOENT;
	for (const char *q = gt + 1; q < buf + len; q++) {
		if (!is_wsp(*q))
			return -ENOENT;
	}
	return addr_spec(lt + 1, (size_t)(gt - lt - 1), out, size);
}

/* Step 1: the first non-empty Resent-Sender counts unless a non-empty
 * Resent-From comes before it with trace fields in between. */
static const struct field *
step1(const struct field *rs, bool rs_blocked)
{
	return rs != NULL && !rs_blocked ? rs : NULL;
}

int
mx_spf_pra(const char *hdrs, size_t len, char *out, size_t size)
{
	struct field f, rs = { 0 }, rf = { 0 }, sender = { 0 }, from = { 0 };
	bool has_rs = false, has_rf = false, trace_after_rf = false, rs_blocked = false;
	unsigned n_sender = 0, n_from = 0;
	const struct field *pick;
	enum pra_kind kind;
	size_t pos = 0;

	while (next_field(hdrs, len, &pos, &kind, &f)) {
		if (kind == F_OTHER || !nonempty(f))
			continue;
		switch (kind) {
		case F_RESENT_SENDER:
			if (!has_rs) {
				has_rs = true;
				rs = f;
				rs_blocked = has_rf && trace_after_rf;
			}
			break;
		case F_RESENT_FROM:
			if (!has_rf) {
				has_rf = true;
				rf = f;
			}
			break;
		case F_TRACE:
			trace_after_rf |= has_rf;
			break;
		case F_SENDER:
			sender = f;
			n_sender++;
			break;
		default:
			from = f;
			n_from++;
			break;
		}
	}
	pick = step1(has_rs ? &rs : NULL, rs_blocked);
	if (pick == NULL && has_rf)
		pick = &rf;                   /* step 2 */
	if (pick == NULL && n_sender > 1)
		return -ENOENT;               /* step 3 -> 6 */
	if (pick == NULL && n_sender == 1)
		pick = &sender;
	if (pick == NULL && n_from != 1)
		return -ENOENT;               /* step 4 -> 6 */
	if (pick == NULL)
		pick = &from;
	return mailbox(*pick, out, size);  /* step 5 */
}
