/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The key names a message's DKIM signatures will need, for DNS prefetch at
 * end of headers (DESIGN "DNS and batching"): d= and s= of each
 * DKIM-Signature tag-list (RFC 6376 3.2, 3.5), read from the unfolded
 * value in the header index. Peer data: every read is bounded.
 */
#include <stdio.h>
#include <string.h>

#include "mx_dkim.h"

static bool
is_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The value of tag name in a tag-list, whitespace removed at both ends. */
static bool
tag_value(struct mx_str v, const char *name, struct mx_str *out)
{
	size_t n = strlen(name), i = 0;

	while (i < v.len) {
		size_t j = i, k, e;

		while (j < v.len && v.p[j] != ';')
			j++;
		for (k = i; k < j && is_fws(v.p[k]); k++)
			;
		for (e = k; e < j && v.p[e] != '=' && !is_fws(v.p[e]); e++)
			;
		if (e - k == n && memcmp(v.p + k, name, n) == 0) {
			while (e < j && v.p[e] != '=')
				e++;
			for (e++; e < j && is_fws(v.p[e]); e++)
				;
			while (j > e && is_fws(v.p[j - 1]))
				j--;
			if (e > j)
				e = j;
			*out = (struct mx_str){ j - e, v.p + e };
			return true;
		}
		i = j + 1;
	}
	return false;
}

static bool
label_chars_ok(struct mx_str s)
{
	size_t i;

	if (s.len == 0)
		return false;
	for (i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (c <= 0x20 || c == 0x7f || c == ';' || c == '\\')
			return false;
	}
	return true;
}

unsigned
mx_dkim_key_names(const struct mx_msg *m, char (*names)[MX_DKIM_QNAME_MAX],
		unsigned max)
{
	const struct mx_hdr *h;
	unsigned idx = 0, n = 0, i;

	while (n < max && (h = mx_msg_find_hdr(m, "DKIM-Signature", &idx)) != NULL) {
		struct mx_str d, s;
		int w;
		bool dup = false;

		if (!tag_value(h->value, "d", &d) || !tag_value(h->value, "s", &s) ||
				!label_chars_ok(d) || !label_chars_ok(s))
			continue;
		if (s.len + d.len + sizeof("._domainkey.") > MX_DKIM_QNAME_MAX)
			continue;
		w = snprintf(names[n], MX_DKIM_QNAME_MAX, "%.*s._domainkey.%.*s",
				(int)s.len, s.p, (int)d.len, d.p);
		if (w < 0)
			continue;
		for (i = 0; i < n && !dup; i++)
			dup = strcasecmp(names[i], names[n]) == 0;
		if (!dup)
			n++;
	}
	return n;
}
