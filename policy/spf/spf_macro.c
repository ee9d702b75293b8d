/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spf_macro.c: macro expansion of RFC 7208 section 7 (spf_expand in
 * spf_int.h, mx_spf_macro_expand in mx_spf.h), and the client address
 * forms the macros need.
 *
 * Pure: the caller supplies every input, including the validated domain
 * name of %{p} (the evaluator resolves it first, from the DNS cache, only
 * when the string uses it). Output is bounded: a domain-spec keeps its
 * rightmost SPF_EXPAND_MAX bytes while expanding and is then cut to 253
 * characters from the left (7.3); explanation text is cut at the end.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mx_spf.h"
#include "spf_int.h"

/* One macro's value is bounded: a sender is at most 64 + 1 + 255 octets
 * (RFC 5321 4.5.3.1), an IPv6 %{i} is 63. */
#define MACRO_VAL_MAX 1024

/* Where expanded bytes go. */
struct sink {
	char *buf;
	size_t size;
	size_t len;
	bool keep_right; /* domain-spec: drop the oldest half when full */
};

static void
sink_put(struct sink *k, char c)
{
	if (k->len + 1 >= k->size) {
		if (!k->keep_right)
			return;
		/* 7.3: only the rightmost 253 characters can survive the
		 * truncation; keeping half the buffer keeps far more. */
		memmove(k->buf, k->buf + k->size / 2, k->len - k->size / 2);
		k->len -= k->size / 2;
	}
	k->buf[k->len++] = c;
}

int
spf_ip_parse(const char *text, struct spf_ip *ip)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	memset(ip, 0, sizeof(*ip));
	if (text == NULL)
		return -EINVAL;
	if (inet_pton(AF_INET, text, ip->b) == 1)
		return 0;
	if (inet_pton(AF_INET6, text, ip->b) != 1)
		return -EINVAL;
	ip->v6 = true;
	/* RFC 7208 5: an IPv4-mapped IPv6 client is an IPv4 client. */
	if (memcmp(ip->b, mapped, sizeof(mapped)) == 0) {
		memmove(ip->b, ip->b + 12, 4);
		memset(ip->b + 4, 0, 12);
		ip->v6 = false;
	}
	return 0;
}

/* %{i}: dotted quad, or 32 dot-separated nibbles for IPv6 (7.3). The
 * nibbles are upper case as the openspf suites expect (the RFC 7.4
 * example shows lower case; as a name either is the same, RFC 4343). */
static void
ip_dotted(const struct spf_ip *ip, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (!ip->v6) {
		snprintf(out, size, "%u.%u.%u.%u", ip->b[0], ip->b[1], ip->b[2], ip->b[3]);
		return;
	}
	for (size_t i = 0; i < 16 && o + 4 < size; i++) {
		out[o++] = hex[ip->b[i] >> 4];
		out[o++] = '.';
		out[o++] = hex[ip->b[i] & 15];
		out[o++] = i == 15 ? '\0' : '.';
	}
}

/* The value of one macro letter (already lower-cased). */
static void
macro_value(const struct spf_macro_in *m, char letter, char *out, size_t size)
{
	const char *at = strrchr(m->sender, '@');

	switch (letter) {
	case 's':
		snprintf(out, size, "%s", m->sender);
		break;
	case 'l':
		snprintf(out, size, "%.*s", at != NULL ? (int)(at - m->sender) :
				(int)strlen(m->sender), m->sender);
		break;
	case 'o':
		snprintf(out, size, "%s", at != NULL ? at + 1 : m->sender);
		break;
	case 'd':
		snprintf(out, size, "%s", m->domain);
		break;
	case 'i':
		ip_dotted(&m->ip, out, size);
		break;
	case 'p':
		snprintf(out, size, "%s", m->ptr != NULL ? m->ptr : "unknown");
		break;
	case 'v':
		snprintf(out, size, "%s", m->ip.v6 ? "ip6" : "in-addr");
		break;
	case 'h':
		snprintf(out, size, "%s", m->helo != NULL ? m->helo : "");
		break;
	case 'c':
		/* 7.3: the client IP in its readable form. */
		if (inet_ntop(m->ip.v6 ? AF_INET6 : AF_INET, m->ip.b, out, (socklen_t)size) == NULL)
			out[0] = '\0';
		break;
	case 'r':
		snprintf(out, size, "%s", m->receiver != NULL && m->receiver[0] != '\0' ?
				m->receiver : "unknown");
		break;
	default: /* 't' */
		snprintf(out, size, "%lld", m->now);
		break;
	}
}

/* RFC 3986 2.3 unreserved characters, kept by URL escaping (7.3). */
static bool
unreserved(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

static void
put_part(struct sink *k, const char *p, size_t n, bool escape)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		if (!escape || unreserved(p[i])) {
			sink_put(k, p[i]);
			continue;
		}
		sink_put(k, '%');
		sink_put(k, hex[(uint8_t)p[i] >> 4]);
		sink_put(k, hex[(uint8_t)p[i] & 15]);
	}
}

/* 7.3: split the value on the delimiters, reverse if asked, keep the
 * rightmost `keep` parts (0: all), join them with '.'. */
static void
transform(struct sink *k, const char *val, const char *delims, unsigned keep,
		bool reverse, bool escape)
{
	uint16_t off[MACRO_VAL_MAX + 1], len[MACRO_VAL_MAX + 1];
	size_t n = 0, vlen = strlen(val), first;

	for (size_t i = 0, start = 0; i <= vlen; i++) {
		if (i == vlen || strchr(delims, val[i]) != NULL) {
			off[n] = (uint16_t)start;
			len[n] = (uint16_t)(i - start);
			n++;
			start = i + 1;
		}
	}
	first = keep != 0 && keep < n ? n - keep : 0;
	for (size_t j = first; j < n; j++) {
		size_t x = reverse ? n - 1 - j : j;

		if (j > first)
			put_part(k, ".", 1, false);
		put_part(k, val + off[x], len[x], escape);
	}
}

static bool
is_lower_letter(char c, bool exp_text)
{
	return c != '\0' && strchr(exp_text ? "slodiphvcrt" : "slodiphv", c) != NULL;
}

/* One "%{...}" at s[i]; returns the bytes consumed, 0 if malformed. */
static size_t
expand_one(const struct spf_macro_in *m, const char *s, size_t len, size_t i,
		bool exp_text, struct sink *k)
{
	char val[MACRO_VAL_MAX], delims[8] = "";
	unsigned keep = 0;
	bool reverse = false, upper;
	size_t j = i + 2, nd = 0;
	char letter;

	if (j >= len)
		return 0;
	upper = s[j] >= 'A' && s[j] <= 'Z';
	letter = upper ? (char)(s[j] - 'A' + 'a') : s[j];
	if (!is_lower_letter(letter, exp_text))
		return 0;
	j++;
	/* 7.1: a DIGIT transformer is nonzero. */
	if (j < len && s[j] == '0')
		return 0;
	for (; j < len && s[j] >= '0' && s[j] <= '9'; j++)
		keep = keep < 1000 ? keep * 10 + (unsigned)(s[j] - '0') : keep;
	if (j < len && (s[j] == 'r' || s[j] == 'R')) {
		reverse = true;
		j++;
	}
	for (; j < len && strchr(".-+,/_=", s[j]) != NULL && s[j] != '\0'; j++) {
		if (strchr(delims, s[j]) == NULL && nd + 1 < sizeof(delims))
			delims[nd++] = s[j];
	}
	if (j >= len || s[j] != '}')
		return 0;
	macro_value(m, letter, val, sizeof(val));
	transform(k, val, nd > 0 ? delims : ".", keep, reverse, upper);
	return j + 1 - i;
}

/* 7.3: a domain longer than 253 characters loses whole labels from the
 * left; one that cannot be cut to fit is no name. */
static int
domain_cut(char *out, size_t len)
{
	size_t start = 0;

	if (len > 0 && out[len - 1] == '.')
		out[--len] = '\0';
	while (len - start > 253) {
		const char *dot = memchr(out + start, '.', len - start);

		if (dot == NULL)
			return -EINVAL;
		start = (size_t)(dot - out) + 1;
	}
	memmove(out, out + start, len - start + 1);
	return 0;
}

static int
expand_into(const struct spf_macro_in *m, const char *s, size_t len,
		bool exp_text, struct sink *k)
{
	for (size_t i = 0; i < len;) {
		size_t n;

		if (s[i] != '%') {
			/* 7.1 macro-literal, and SP in explanation text (7.2). */
			if ((s[i] < 0x21 || s[i] > 0x7e) && !(exp_text && s[i] == ' '))
				return -EINVAL;
			sink_put(k, s[i++]);
			continue;
		}
		if (i + 1 >= len)
			return -EINVAL;
		switch (s[i + 1]) {
		case '%': sink_put(k, '%'); n = 2; break;
		case '_': sink_put(k, ' '); n = 2; break;
		case '-': put_part(k, "%20", 3, false); n = 2; break;
		case '{': n = expand_one(m, s, len, i, exp_text, k); break;
		default: n = 0; break;
		}
		if (n == 0)
			return -EINVAL;
		i += n;
	}
	k->buf[k->len] = '\0';
	return 0;
}

int
spf_expand(const struct spf_macro_in *m, const char *s, size_t len,
		bool exp_text, char *out, size_t size)
{
	char tmp[SPF_EXPAND_MAX];
	struct sink k = { out, size, 0, false };
	int rc;

	if (size == 0 || (!exp_text && size < MX_SPF_DOMAIN_MAX))
		return -EINVAL;
	out[0] = '\0';
	if (exp_text)
		return expand_into(m, s, len, true, &k);
	k = (struct sink){ tmp, sizeof(tmp), 0, true };
	rc = expand_into(m, s, len, false, &k);
	if (rc == 0)
		rc = domain_cut(tmp, k.len);
	if (rc == 0)
		memcpy(out, tmp, strlen(tmp) + 1);
	return rc;
}

bool
spf_uses_p(const char *s, size_t len)
{
	for (size_t i = 0; i + 2 < len; i++) {
		if (s[i] == '%' && s[i + 1] == '%') {
			i++;
			continue;
		}
		if (s[i] == '%' && s[i + 1] == '{' && (s[i + 2] == 'p' || s[i + 2] == 'P'))
			return true;
	}
	return false;
}

int
mx_spf_macro_expand(const struct mx_spf_macro_env *env, const char *s, size_t len,
		bool exp_text, char *out, size_t size)
{
	struct spf_macro_in m = {
		.sender = env->sender,
		.domain = env->domain,
		.helo = env->helo,
		.receiver = env->receiver,
		.ptr = env->ptr,
		.now = env->now,
	};

	if (env->sender == NULL || env->domain == NULL ||
			spf_ip_parse(env->client_ip, &m.ip) != 0)
		return -EINVAL;
	return spf_expand(&m, s, len, exp_text, out, size);
}
