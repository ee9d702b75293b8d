/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RFC 8601 Authentication-Results: composition and the check for forged
 * fields that claim our authserv-id. See mx_authres.h for the contract.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mx_authres.h"

struct out {
	char *buf;
	size_t cap;
	size_t len;
	bool overflow;
};

static void
put(struct out *o, const char *s, size_t n)
{
	size_t room = o->cap - 1 - o->len;

	if (n > room) {
		n = room;
		o->overflow = true;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void
puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* RFC 2045 5.1 token: printable ASCII except SPACE and tspecials. '@' is a
 * tspecial but RFC 8601 2.3 lets pvalue be [local-part "@"] domain-name,
 * so an address is written bare when both sides are otherwise tokens. */
static bool
token_char(unsigned char c, bool allow_at)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	if (c == '@')
		return allow_at;
	return strchr("()<>,;:\\\"/[]?=", c) == NULL;
}

static bool
is_token(struct mx_str v, bool allow_at)
{
	size_t i, n_at = 0;

	if (v.len == 0)
		return false;
	for (i = 0; i < v.len; i++) {
		if (!token_char((unsigned char)v.p[i], allow_at))
			return false;
		n_at += v.p[i] == '@';
	}
	return n_at <= 1 && v.p[0] != '@' && v.p[v.len - 1] != '@';
}

static void
put_value(struct out *o, struct mx_str v, bool allow_at)
{
	size_t i;

	if (is_token(v, allow_at)) {
		put(o, v.p, v.len);
		return;
	}
	put(o, "\"", 1);
	for (i = 0; i < v.len; i++) {
		unsigned char c = (unsigned char)v.p[i];

		if (c == '"' || c == '\\')
			put(o, "\\", 1);
		if (c < 0x20 || c >= 0x7f)
			c = '?';
		put(o, (const char *)&c, 1);
	}
	put(o, "\"", 1);
}

static void
sep(struct out *o, bool fold)
{
	puts_(o, fold ? ";\r\n\t" : "; ");
}

static void
put_result(struct out *o, bool fold, const char *method,
		enum mx_auth_result r)
{
	sep(o, fold);
	puts_(o, method);
	puts_(o, "=");
	puts_(o, mx_auth_result_name(r));
}

static void
put_prop(struct out *o, const char *name, struct mx_str v, bool allow_at)
{
	puts_(o, " ");
	puts_(o, name);
	puts_(o, "=");
	put_value(o, v, allow_at);
}

static void
put_dkim(struct out *o, const struct mx_authres *a, bool fold)
{
	unsigned i;

	if (a->n_dkim == 0) {
		put_result(o, fold, "dkim", MX_AUTH_NONE);
		return;
	}
	for (i = 0; i < a->n_dkim; i++) {
		const struct mx_authres_dkim *k = &a->dkim[i];

		put_result(o, fold, "dkim", k->result);
		put_prop(o, "header.d", k->domain, false);
		put_prop(o, "header.s", k->selector, false);
	}
}

int
mx_authres_format(const struct mx_authres *a, bool fold, char *buf,
		size_t cap, size_t *len)
{
	struct out o = { .buf = buf, .cap = cap };

	if (cap == 0)
		return -ENOSPC;
	buf[0] = '\0';
	if (fold)
		puts_(&o, "Authentication-Results: ");
	put_value(&o, a->authserv_id, false);
	if (a->has_spf) {
		put_result(&o, fold, "spf", a->spf);
		put_prop(&o, "smtp.mailfrom", a->mailfrom, true);
	}
	if (a->has_helo) {
		put_result(&o, fold, "spf", a->helo);
		put_prop(&o, "smtp.helo", a->helo_name, false);
	}
	if (a->has_dkim)
		put_dkim(&o, a, fold);
	if (a->has_dmarc) {
		put_result(&o, fold, "dmarc", a->dmarc);
		put_prop(&o, "header.from", a->from_domain, false);
	}
	if (!a->has_spf && !a->has_helo && !a->has_dkim && !a->has_dmarc)
		puts_(&o, "; none");
	if (fold)
		puts_(&o, "\r\n");
	*len = o.len;
	return o.overflow ? -ENOSPC : 0;
}

int
mx_authres_append_result(char *buf, size_t cap, size_t *len, const char *method,
		enum mx_auth_result r)
{
	int n;

	if (*len >= cap)
		return -ENOSPC;
	n = snprintf(buf + *len, cap - *len, "; %s=%s", method, mx_auth_result_name(r));
	if (n < 0 || (size_t)n >= cap - *len) {
		buf[*len] = '\0';
		return -ENOSPC;
	}
	*len += (size_t)n;
	return 0;
}

/* Skips CFWS (RFC 5322 3.2.2): whitespace and nested comments. */
static size_t
skip_cfws(struct mx_str v, size_t i)
{
	unsigned depth = 0;

	for (; i < v.len; i++) {
		char c = v.p[i];

		if (depth > 0) {
			if (c == '\\')
				i++;
			else
				depth += (c == '(') - (c == ')');
			continue;
		}
		if (c == '(')
			depth = 1;
		else if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
			break;
	}
	return i;
}

/* authserv-id = value (token or quoted-string), RFC 8601 2.2. */
static bool
claims(struct mx_str v, struct mx_str id)
{
	char got[256];
	size_t i = skip_cfws(v, 0), n = 0;

	if (i < v.len && v.p[i] == '"') {
		for (i++; i < v.len && v.p[i] != '"'; i++) {
			if (v.p[i] == '\\' && i + 1 < v.len)
				i++;
			if (n == sizeof(got))
				return false;
			got[n++] = v.p[i];
		}
	} else {
		for (; i < v.len && token_char((unsigned char)v.p[i], true); i++) {
			if (n == sizeof(got))
				return false;
			got[n++] = v.p[i];
		}
	}
	if (n != id.len)
		return false;
	for (i = 0; i < n; i++) {
		char a = got[i], b = id.p[i];

		if (a >= 'A' && a <= 'Z')
			a = (char)(a - 'A' + 'a');
		if (b >= 'A' && b <= 'Z')
			b = (char)(b - 'A' + 'a');
		if (a != b)
			return false;
	}
	return n > 0;
}

unsigned
mx_authres_find_ours(const struct mx_msg *m, struct mx_str authserv_id,
		unsigned *idx, unsigned max)
{
	unsigned i, n = 0;

	for (i = 0; i < m->n_hdrs; i++) {
		if (!mx_str_ieq(m->hdrs[i].name, "Authentication-Results"))
			continue;
		if (!claims(m->hdrs[i].value, authserv_id))
			continue;
		if (n < max)
			idx[n] = i;
		n++;
	}
	return n;
}
