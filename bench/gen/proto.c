/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * proto.c: the parsers of mx_bench.h that see outside input: the
 * message-size distribution of the command line, and SMTP replies from
 * the server under test (RFC 5321 4.2). Neither allocates; a malformed
 * reply is an error code for the caller to count, never an assert.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mx_bench.h"

static int
parse_u64(const char **sp, uint64_t *out)
{
	const char *s = *sp;
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9u) / 10u)
			return -EINVAL;
		v = v * 10u + (uint64_t)(*s - '0');
	}
	*sp = s;
	*out = v;
	return 0;
}

static int
parse_size(const char **sp, uint64_t *out)
{
	uint64_t v;

	if (parse_u64(sp, &v) != 0)
		return -EINVAL;
	switch (**sp) {
	case 'k': case 'K':
		if (v > MX_BENCH_SIZE_LIMIT)
			return -EINVAL;
		v <<= 10;
		(*sp)++;
		break;
	case 'm': case 'M':
		if (v > MX_BENCH_SIZE_LIMIT)
			return -EINVAL;
		v <<= 20;
		(*sp)++;
		break;
	default:
		break;
	}
	if (v == 0 || v > MX_BENCH_SIZE_LIMIT)
		return -EINVAL;
	*out = v;
	return 0;
}

int
mx_bench_sizes_parse(const char *s, struct mx_bench_sizes *out)
{
	struct mx_bench_sizes d;
	uint64_t size, w;

	memset(&d, 0, sizeof(d));
	if (s == NULL || *s == '\0')
		return -EINVAL;
	for (;;) {
		if (d.n == MX_BENCH_SIZES_MAX || parse_size(&s, &size) != 0)
			return -EINVAL;
		w = 1;
		if (*s == ':') {
			s++;
			if (parse_u64(&s, &w) != 0 || w == 0 || w > 1000000u)
				return -EINVAL;
		}
		d.size[d.n] = size;
		d.weight[d.n] = (unsigned)w;
		d.total += (unsigned)w;
		d.n++;
		if (*s == '\0')
			break;
		if (*s != ',')
			return -EINVAL;
		s++;
	}
	*out = d;
	return 0;
}

unsigned
mx_bench_sizes_pick(const struct mx_bench_sizes *d, uint64_t r)
{
	uint64_t x;

	if (d->n <= 1 || d->total == 0)
		return 0;
	x = r % d->total;
	for (unsigned i = 0; i < d->n; i++) {
		if (x < d->weight[i])
			return i;
		x -= d->weight[i];
	}
	return d->n - 1;
}

static bool
kw_is(const uint8_t *p, size_t len, const char *kw)
{
	size_t n = strlen(kw);

	if (len < n || strncasecmp((const char *)p, kw, n) != 0)
		return false;
	return len == n || p[n] == ' ';
}

/* EHLO keywords: the text of a line after the code (RFC 5321 4.1.1.1). */
static unsigned
line_ext(const uint8_t *t, size_t len)
{
	if (kw_is(t, len, "PIPELINING"))
		return MX_BENCH_EXT_PIPELINING;
	if (kw_is(t, len, "STARTTLS"))
		return MX_BENCH_EXT_STARTTLS;
	if (kw_is(t, len, "8BITMIME"))
		return MX_BENCH_EXT_8BITMIME;
	return 0;
}

long
mx_bench_reply_parse(const uint8_t *p, size_t len, struct mx_bench_reply *out)
{
	struct mx_bench_reply r = { 0, 0, 0 };
	size_t off = 0;

	for (;;) {
		const uint8_t *line = p + off, *lf;
		size_t avail = len - off, n;
		int code;

		lf = memchr(line, '\n', MX_MIN(avail, (size_t)MX_BENCH_REPLY_LINE_MAX));
		if (lf == NULL)
			return avail >= MX_BENCH_REPLY_LINE_MAX ? -EMSGSIZE : 0;
		n = (size_t)(lf - line);       /* without the LF */
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n < 3)
			return -EBADMSG;
		for (unsigned i = 0; i < 3; i++)
			if (line[i] < '0' || line[i] > '9')
				return -EBADMSG;
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		if (code < 200 || code > 599 || (r.lines > 0 && code != r.code))
			return -EBADMSG;
		r.code = code;
		if (r.lines > 0 && n > 4)
			r.ext |= line_ext(line + 4, n - 4);
		r.lines++;
		off += (size_t)(lf - line) + 1u;
		if (n == 3 || line[3] == ' ')
			break;
		if (line[3] != '-')
			return -EBADMSG;
	}
	*out = r;
	return (long)off;
}

static const char *const phase_names[MX_BENCH_PH_N] = {
	"connect", "ehlo", "tls", "mail", "rcpt", "data", "dot", "quit",
};

static const char *const err_names[MX_BENCH_ERR_N] = {
	"connect", "closed", "timeout", "protocol", "tls", "no_starttls",
};

const char *
mx_bench_phase_name(enum mx_bench_phase ph)
{
	return (unsigned)ph < MX_BENCH_PH_N ? phase_names[ph] : "?";
}

const char *
mx_bench_err_name(enum mx_bench_err e)
{
	return (unsigned)e < MX_BENCH_ERR_N ? err_names[e] : "?";
}
