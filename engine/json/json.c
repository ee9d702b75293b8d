/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * json.c: bounded JSON writer (see mx_json.h). Strings are escaped per
 * RFC 8259 section 7; bytes that are not valid UTF-8 (RFC 3629: no
 * overlongs, no surrogates, nothing above U+10FFFF) become U+FFFD, so a
 * peer's bytes can never produce a line that a JSON reader rejects.
 */
#include <string.h>

#include "mx_json.h"

void
mx_json_init(struct mx_json *j, char *buf, size_t size)
{
	memset(j, 0, sizeof(*j));
	j->buf = buf;
	j->size = size;
	if (size > 0)
		buf[0] = '\0';
}

static void
put(struct mx_json *j, const char *p, size_t n)
{
	if (j->overflow)
		return;
	/* Keep one byte for the terminating NUL. */
	if (j->size == 0 || n > j->size - 1 - j->len) {
		j->overflow = true;
		return;
	}
	memcpy(j->buf + j->len, p, n);
	j->len += n;
	j->buf[j->len] = '\0';
}

static void
putc1(struct mx_json *j, char c)
{
	put(j, &c, 1);
}

/* Length of a valid UTF-8 sequence at p (1..4), or 0 when invalid. */
static size_t
utf8_len(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	if (cp >= 0xd800 && cp <= 0xdfff)
		return 0;
	return len;
}

/* Printable ASCII other than '"' and '\\': copied as it is. */
static bool
plain(uint8_t c)
{
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

static void
put_escaped(struct mx_json *j, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0;

	putc1(j, '"');
	while (i < len && !j->overflow) {
		uint8_t c = p[i];
		size_t ul, run;

		/* Most of a record is plain text: one copy per run, not per
		 * byte (the verdict record is written for every message). */
		for (run = i; run < len && plain(p[run]); run++)
			;
		if (run > i) {
			put(j, s + i, run - i);
			i = run;
			continue;
		}
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };

			put(j, e, 2);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

			put(j, e, 6);
			i++;
		} else if ((ul = utf8_len(p + i, len - i)) == 0) {
			put(j, "\\ufffd", 6);
			i++;
		} else {
			put(j, (const char *)p + i, ul);
			i += ul;
		}
	}
	putc1(j, '"');
}

static void
member(struct mx_json *j, const char *key)
{
	if (j->depth > 0 && j->depth <= MX_JSON_MAX_DEPTH) {
		if (j->need_comma[j->depth - 1])
			putc1(j, ',');
		j->need_comma[j->depth - 1] = true;
	}
	if (key != NULL) {
		put_escaped(j, key, strlen(key));
		putc1(j, ':');
	}
}

static void
open_(struct mx_json *j, const char *key, char c)
{
	member(j, key);
	putc1(j, c);
	if (j->depth >= MX_JSON_MAX_DEPTH) {
		j->overflow = true;
		return;
	}
	j->need_comma[j->depth++] = false;
}

static void
close_(struct mx_json *j, char c)
{
	if (j->depth == 0) {
		j->overflow = true;
		return;
	}
	j->depth--;
	putc1(j, c);
}

void mx_json_obj_open(struct mx_json *j, const char *key) { open_(j, key, '{'); }
void mx_json_obj_close(struct mx_json *j) { close_(j, '}'); }
void mx_json_arr_open(struct mx_json *j, const char *key) { open_(j, key, '['); }
void mx_json_arr_close(struct mx_json *j) { close_(j, ']'); }

void
mx_json_str(struct mx_json *j, const char *key, const char *s, size_t len)
{
	member(j, key);
	if (s == NULL)
		put(j, "null", 4);
	else
		put_escaped(j, s, len);
}

void
mx_json_cstr(struct mx_json *j, const char *key, const char *s)
{
	mx_json_str(j, key, s, s == NULL ? 0 : strlen(s));
}

/* Decimal digits of v, written backwards ending at end; returns the
 * first. printf is a tenth of a worker's per-message time otherwise. */
static char *
digits(char *end, uint64_t v)
{
	do {
		*--end = (char)('0' + v % 10u);
		v /= 10u;
	} while (v != 0);
	return end;
}

static void
put_u64(struct mx_json *j, uint64_t v, bool neg)
{
	char b[24], *end = b + sizeof(b), *p = digits(end, v);

	if (neg)
		*--p = '-';
	put(j, p, (size_t)(end - p));
}

void
mx_json_u64(struct mx_json *j, const char *key, uint64_t v)
{
	member(j, key);
	put_u64(j, v, false);
}

void
mx_json_i64(struct mx_json *j, const char *key, int64_t v)
{
	member(j, key);
	/* The magnitude of INT64_MIN does not fit an int64_t. */
	put_u64(j, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, v < 0);
}

void
mx_json_bool(struct mx_json *j, const char *key, bool v)
{
	member(j, key);
	if (v)
		put(j, "true", 4);
	else
		put(j, "false", 5);
}

void
mx_json_null(struct mx_json *j, const char *key)
{
	member(j, key);
	put(j, "null", 4);
}

void
mx_json_ms(struct mx_json *j, const char *key, uint64_t us)
{
	char frac[4] = { '.', (char)('0' + us / 100u % 10u),
		(char)('0' + us / 10u % 10u), (char)('0' + us % 10u) };

	member(j, key);
	put_u64(j, us / 1000u, false);
	put(j, frac, sizeof(frac));
}

bool
mx_json_ok(const struct mx_json *j)
{
	return !j->overflow && j->depth == 0;
}

size_t
mx_json_len(const struct mx_json *j)
{
	return j->len;
}
