/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Scalar syntax of the configuration file: integers, byte sizes with
 * binary suffixes, durations with units, RFC 1123 host names, and the
 * inverse formatters used by mx_conf_dump() so that a dump loads back to
 * the same values. Also the error buffer and the edit distance behind the
 * "did you mean" hints. Pure functions; no allocation.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "conf_priv.h"

void
mx_conf_errbuf_init(struct mx_conf_errbuf *e, char *buf, size_t size)
{
	e->buf = size > 0 ? buf : NULL;
	e->size = size;
	e->len = 0;
	e->n = 0;
	if (e->buf != NULL)
		e->buf[0] = '\0';
}

void
mx_conf_err(struct mx_conf_errbuf *e, const char *fmt, ...)
{
	va_list ap;
	int n;

	e->n++;
	if (e->buf == NULL || e->len + 1 >= e->size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(e->buf + e->len, e->size - e->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* Truncated lines stay truncated: the buffer is full anyway. */
	e->len = MX_MIN(e->len + (size_t)n, e->size - 1);
	if (e->len + 1 < e->size) {
		e->buf[e->len++] = '\n';
		e->buf[e->len] = '\0';
	}
}

/* Leading digits of s into *out; returns how many were used (0: none). */
static size_t
parse_digits(const char *s, size_t len, uint64_t *out, bool *overflow)
{
	uint64_t v = 0;
	size_t i;

	*overflow = false;
	for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (v > (UINT64_MAX - d) / 10)
			*overflow = true;
		else
			v = v * 10 + d;
	}
	*out = v;
	return i;
}

static enum mx_conf_num
parse_scaled(const char *s, size_t len, uint64_t *out,
		uint64_t (*unit)(const char *suf, size_t n))
{
	uint64_t v, mul;
	size_t used;
	bool overflow;

	if (len == 0)
		return MX_CONF_NUM_EMPTY;
	if (s[0] == '-')
		return MX_CONF_NUM_NEGATIVE;
	used = parse_digits(s, len, &v, &overflow);
	if (used == 0)
		return MX_CONF_NUM_JUNK;
	mul = unit(s + used, len - used);
	if (mul == 0)
		return MX_CONF_NUM_JUNK;
	if (overflow || (v != 0 && v > UINT64_MAX / mul))
		return MX_CONF_NUM_OVERFLOW;
	*out = v * mul;
	return MX_CONF_NUM_OK;
}

static uint64_t
unit_none(const char *suf, size_t n)
{
	(void)suf;
	return n == 0 ? 1 : 0;
}

static uint64_t
unit_size(const char *suf, size_t n)
{
	if (n == 0)
		return 1;
	if (n != 1)
		return 0;
	switch (suf[0]) {
	case 'k': case 'K':
		return UINT64_C(1) << 10;
	case 'm': case 'M':
		return UINT64_C(1) << 20;
	case 'g': case 'G':
		return UINT64_C(1) << 30;
	default:
		return 0;
	}
}

static uint64_t
unit_ms(const char *suf, size_t n)
{
	if (n == 0 || (n == 2 && memcmp(suf, "ms", 2) == 0))
		return 1;
	if (n != 1)
		return 0;
	switch (suf[0]) {
	case 's':
		return 1000;
	case 'm':
		return 60 * 1000;
	case 'h':
		return 60 * 60 * 1000;
	default:
		return 0;
	}
}

enum mx_conf_num
mx_conf_parse_uint(const char *s, size_t len, uint64_t *out)
{
	return parse_scaled(s, len, out, unit_none);
}

enum mx_conf_num
mx_conf_parse_size(const char *s, size_t len, uint64_t *out)
{
	return parse_scaled(s, len, out, unit_size);
}

enum mx_conf_num
mx_conf_parse_ms(const char *s, size_t len, uint64_t *out)
{
	return parse_scaled(s, len, out, unit_ms);
}

const char *
mx_conf_num_problem(enum mx_conf_num rc)
{
	switch (rc) {
	case MX_CONF_NUM_OK:
		return "ok";
	case MX_CONF_NUM_EMPTY:
		return "empty value";
	case MX_CONF_NUM_NEGATIVE:
		return "negative value";
	case MX_CONF_NUM_JUNK:
		return "not a number with a known suffix";
	case MX_CONF_NUM_OVERFLOW:
		return "number too large";
	}
	return "bad number";
}

/* RFC 1035 2.3.1: letters, digits and hyphens, 1..63 octets, no hyphen at
 * either end. RFC 1123 2.1 allows a leading digit. */
static bool
label_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-')
		return false;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!isalnum(ch) && ch != '-')
			return false;
	}
	return true;
}

static bool
all_digits(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

bool
mx_conf_hostname_ok(const char *s, size_t len)
{
	size_t start = 0, i;

	/* RFC 1035 2.3.4: 255 octets on the wire, 253 as text. */
	if (len == 0 || len > 253)
		return false;
	for (i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		if (!label_ok(s + start, i - start))
			return false;
		/* RFC 1123 2.1: a name must not look like #.#.#.#, so the
		 * top-level label is never all digits. */
		if (i == len && all_digits(s + start, i - start))
			return false;
		start = i + 1;
	}
	return true;
}

/* Largest unit first, so the dump picks the shortest exact form. */
static const struct {
	unsigned shift;
	char suf;
} size_units[] = {
	{ 30, 'G' }, { 20, 'M' }, { 10, 'k' },
};

static const struct {
	uint64_t ms;
	const char *unit;
} ms_units[] = {
	{ 3600000, "h" }, { 60000, "m" }, { 1000, "s" },
};

size_t
mx_conf_fmt_size(uint64_t v, char *buf, size_t size)
{
	size_t i;
	int n;

	for (i = 0; v != 0 && i < MX_ARRAY_SIZE(size_units); i++) {
		uint64_t mask = (UINT64_C(1) << size_units[i].shift) - 1;

		if ((v & mask) == 0) {
			n = snprintf(buf, size, "%" PRIu64 "%c",
					v >> size_units[i].shift, size_units[i].suf);
			return n < 0 ? 0 : (size_t)n;
		}
	}
	n = snprintf(buf, size, "%" PRIu64, v);
	return n < 0 ? 0 : (size_t)n;
}

size_t
mx_conf_fmt_ms(uint64_t v, char *buf, size_t size)
{
	size_t i;
	int n;

	for (i = 0; v != 0 && i < MX_ARRAY_SIZE(ms_units); i++) {
		if (v % ms_units[i].ms == 0) {
			n = snprintf(buf, size, "%" PRIu64 "%s",
					v / ms_units[i].ms, ms_units[i].unit);
			return n < 0 ? 0 : (size_t)n;
		}
	}
	if (v == 0)
		n = snprintf(buf, size, "0");
	else
		n = snprintf(buf, size, "%" PRIu64 "ms", v);
	return n < 0 ? 0 : (size_t)n;
}

unsigned
mx_conf_distance(const char *a, const char *b)
{
	unsigned row[65];
	size_t la = strlen(a), lb = strlen(b), i, j;

	if (la > 64 || lb > 64)
		return UINT32_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (i = 1; i <= la; i++) {
		unsigned diag = row[0];

		row[0] = (unsigned)i;
		for (j = 1; j <= lb; j++) {
			unsigned up = row[j];
			unsigned best = diag + (a[i - 1] != b[j - 1]);

			best = MX_MIN(best, up + 1);
			best = MX_MIN(best, row[j - 1] + 1);
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}
