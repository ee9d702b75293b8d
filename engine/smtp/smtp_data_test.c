/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smtp_data_test: the DATA reader (end of data, dot-unstuffing, bare CR/LF
 * policy, line bound) and the BDAT chunk reader, table-driven. Every DATA
 * case runs whole, split at every byte offset, and byte by byte; all must
 * give the same output, the same end and the same flags. The smuggling
 * cases are the ones of the SMTP smuggling reports: no bare CR or LF may
 * ever end the data or count as the CRLF before the dot.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mx_conf.h"
#include "mx_smtp.h"

struct sink {
	char buf[1024];
	size_t len;
};

static void
sink_out(void *arg, const uint8_t *p, size_t n)
{
	struct sink *k = arg;

	assert_true(n > 0);
	assert_true(k->len + n <= sizeof(k->buf));
	memcpy(k->buf + k->len, p, n);
	k->len += n;
}

#define REJ MX_BARE_LF_REJECT
#define NORM MX_BARE_LF_NORMALIZE

struct data_case {
	const char *in;
	int policy;
	size_t max_line;
	bool end;          /* MX_OK */
	size_t used;       /* bytes up to the end (when end) */
	const char *out;
	uint64_t n_bare;
	bool too_long;
};

static const struct data_case data_cases[] = {
	/* Plain end of data; the DATA line's CRLF counts before the dot. */
	{ ".\r\n", REJ, 1000, true, 3, "", 0, false },
	{ "\r\n.\r\n", REJ, 1000, true, 5, "\r\n", 0, false },
	{ "a\r\n.\r\n", REJ, 1000, true, 6, "a\r\n", 0, false },
	{ "a\r\nb\r\n.\r\nMAIL FROM:<x@y>\r\n", REJ, 1000, true, 9, "a\r\nb\r\n", 0, false },
	{ "a\r\n.\r", REJ, 1000, false, 0, "a\r\n", 0, false },
	{ "a\r\n.", REJ, 1000, false, 0, "a\r\n", 0, false },
	{ "a\r\n", REJ, 1000, false, 0, "a\r\n", 0, false },
	/* Dot-unstuffing (RFC 5321 4.5.2). */
	{ "..\r\n.\r\n", REJ, 1000, true, 7, ".\r\n", 0, false },
	{ "x\r\n..\r\n.\r\n", REJ, 1000, true, 10, "x\r\n.\r\n", 0, false },
	{ "..x\r\n.\r\n", REJ, 1000, true, 8, ".x\r\n", 0, false },
	{ ".x\r\n.\r\n", REJ, 1000, true, 7, "x\r\n", 0, false },
	{ "a.\r\n.b\r\n.\r\n", REJ, 1000, true, 11, "a.\r\nb\r\n", 0, false },
	{ "...\r\n.\r\n", REJ, 1000, true, 8, "..\r\n", 0, false },
	/* Smuggling: a bare LF or CR never ends the data. */
	{ "a\n.\nb\r\n.\r\n", REJ, 1000, true, 10, "a\n.\nb\r\n", 2, false },
	{ "a\n.\nb\r\n.\r\n", NORM, 1000, true, 10, "a\r\n.\r\nb\r\n", 2, false },
	{ "a\r\n.\nb\r\n.\r\n", REJ, 1000, true, 11, "a\r\n.\nb\r\n", 1, false },
	{ "a\r\n.\nb\r\n.\r\n", NORM, 1000, true, 11, "a\r\n.\r\nb\r\n", 1, false },
	{ "a\n.\r\nb\r\n.\r\n", REJ, 1000, true, 11, "a\n.\r\nb\r\n", 1, false },
	{ "a\n.\r\nb\r\n.\r\n", NORM, 1000, true, 11, "a\r\n.\r\nb\r\n", 1, false },
	{ "a\r.\r\nb\r\n.\r\n", REJ, 1000, true, 11, "a\r.\r\nb\r\n", 1, false },
	{ "a\r.\r\nb\r\n.\r\n", NORM, 1000, true, 11, "a\r\n.\r\nb\r\n", 1, false },
	{ "a\r\n.\rb\r\n.\r\n", REJ, 1000, true, 11, "a\r\n.\rb\r\n", 1, false },
	{ "a\r\n.\rb\r\n.\r\n", NORM, 1000, true, 11, "a\r\n.\r\nb\r\n", 1, false },
	{ "a\r\n.\r.\r\n", NORM, 1000, false, 0, "a\r\n.\r\n.\r\n", 1, false },
	{ "a\rb\r\n.\r\n", REJ, 1000, true, 8, "a\rb\r\n", 1, false },
	{ "a\rb\r\n.\r\n", NORM, 1000, true, 8, "a\r\nb\r\n", 1, false },
	{ "a\nb\r\n.\r\n", NORM, 1000, true, 8, "a\r\nb\r\n", 1, false },
	{ "\n.\r\n", REJ, 1000, false, 0, "\n.\r\n", 1, false },
	{ "\n.\n", NORM, 1000, false, 0, "\r\n.\r\n", 2, false },
	{ "\r.\r\n", NORM, 1000, false, 0, "\r\n.\r\n", 1, false },
	{ "a\r\n.\n.\r\n", REJ, 1000, false, 0, "a\r\n.\n.\r\n", 1, false },
	{ "a\r\n.\r\r\n.\r\n", NORM, 1000, true, 10, "a\r\n.\r\n\r\n", 1, false },
	/* A bare CR then a real CRLF: that CRLF is real, the dot ends. */
	{ "a\r\r\n.\r\n", NORM, 1000, true, 7, "a\r\n\r\n", 1, false },
	{ "a\n\r\n.\r\n", REJ, 1000, true, 7, "a\n\r\n", 1, false },
	/* After a bare break the next dot is data, never stuffing. */
	{ "a\n..\r\n.\r\n", NORM, 1000, true, 9, "a\r\n..\r\n", 1, false },
	/* Line bound: 8 + CRLF = 10 fits, 9 + CRLF does not. */
	{ "01234567\r\n.\r\n", REJ, 10, true, 13, "01234567\r\n", 0, false },
	{ "012345678\r\n.\r\n", REJ, 10, true, 14, "012345678\r\n", 0, true },
	/* The stuffing dot does not count against the line. */
	{ "..1234567\r\n.\r\n", REJ, 10, true, 14, ".1234567\r\n", 0, false },
	{ "0123456789012345\n.\r\n", NORM, 10, false, 0, "0123456789012345\r\n.\r\n", 1, true },
	{ "x\r\n", REJ, 0, false, 0, "x\r\n", 0, false },
};

static void
data_run(const struct data_case *c, const size_t *cuts, size_t n_cuts,
		struct sink *k, struct mx_smtp_data *d, enum mx_rc *rc, size_t *end)
{
	size_t n = strlen(c->in), start = 0, i;

	memset(k, 0, sizeof(*k));
	mx_smtp_data_init(d, c->policy, c->max_line);
	*rc = MX_AGAIN;
	*end = 0;
	for (i = 0; i <= n_cuts && *rc == MX_AGAIN; i++) {
		size_t stop = i < n_cuts ? cuts[i] : n, used = 0;

		*rc = mx_smtp_data_feed(d, (const uint8_t *)c->in + start, stop - start,
				&used, sink_out, k);
		assert_true(used <= stop - start);
		if (*rc == MX_AGAIN)
			assert_int_equal(used, stop - start);
		*end = start + used;
		start = stop;
	}
}

static void
data_check(size_t idx, const char *how, const struct data_case *c,
		const struct sink *k, const struct mx_smtp_data *d, enum mx_rc rc, size_t end)
{
	if ((rc == MX_OK) != c->end)
		fail_msg("case %zu %s: end %d", idx, how, rc == MX_OK);
	if (c->end && end != c->used)
		fail_msg("case %zu %s: used %zu want %zu", idx, how, end, c->used);
	if (k->len != strlen(c->out) || memcmp(k->buf, c->out, k->len) != 0)
		fail_msg("case %zu %s: output differs (%zu bytes)", idx, how, k->len);
	if (d->n_bare != c->n_bare)
		fail_msg("case %zu %s: n_bare %llu", idx, how, (unsigned long long)d->n_bare);
	if (d->line_too_long != c->too_long)
		fail_msg("case %zu %s: too_long %d", idx, how, d->line_too_long);
}

static void
test_data_reader(void **state)
{
	size_t i, cut, j;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(data_cases); i++) {
		const struct data_case *c = &data_cases[i];
		size_t n = strlen(c->in), cuts[128], end;
		struct mx_smtp_data d;
		struct sink k;
		enum mx_rc rc;

		data_run(c, NULL, 0, &k, &d, &rc, &end);
		data_check(i, "whole", c, &k, &d, rc, end);
		for (cut = 1; cut < n; cut++) {
			data_run(c, &cut, 1, &k, &d, &rc, &end);
			data_check(i, "split", c, &k, &d, rc, end);
		}
		assert_true(n < MX_ARRAY_SIZE(cuts));
		for (j = 1; j < n; j++)
			cuts[j - 1] = j;
		data_run(c, cuts, n - 1, &k, &d, &rc, &end);
		data_check(i, "bytewise", c, &k, &d, rc, end);
	}
}

/* One client transaction is never two messages: after the end the reader
 * stops, so whatever follows (a smuggled "MAIL FROM") is not data. */
static void
test_data_stops_at_end(void **state)
{
	static const char in[] = "Subject: x\r\n\r\nbody\r\n.\r\nMAIL FROM:<e@vil>\r\n";
	struct mx_smtp_data d;
	struct sink k = { { 0 }, 0 };
	size_t used = 0;

	(void)state;
	mx_smtp_data_init(&d, REJ, 1000);
	assert_int_equal(mx_smtp_data_feed(&d, (const uint8_t *)in, sizeof(in) - 1,
			&used, sink_out, &k), MX_OK);
	assert_int_equal(used, strlen("Subject: x\r\n\r\nbody\r\n.\r\n"));
	assert_int_equal(k.len, strlen("Subject: x\r\n\r\nbody\r\n"));
}

struct chunk_case {
	const char *chunks[4];
	int policy;
	const char *out;
	uint64_t n_bare;
};

static const struct chunk_case chunk_cases[] = {
	{ { "abc", "def", NULL }, REJ, "abcdef", 0 },
	{ { "a\r\nb", NULL }, REJ, "a\r\nb", 0 },
	{ { "a\r", "\nb", NULL }, REJ, "a\r\nb", 0 },
	{ { "a\r", "", "\nb", NULL }, REJ, "a\r\nb", 0 },
	{ { "a\r", "b", NULL }, REJ, "a\rb", 1 },
	{ { "a\r", "b", NULL }, NORM, "a\r\nb", 1 },
	{ { "a\nb", NULL }, REJ, "a\nb", 1 },
	{ { "a\nb", NULL }, NORM, "a\r\nb", 1 },
	{ { "a\r", NULL }, NORM, "a\r\n", 1 },
	{ { "a\r", NULL }, REJ, "a\r", 1 },
	{ { "\r\r\n\n", NULL }, NORM, "\r\n\r\n\r\n", 2 },
	/* No dot processing in BDAT: the content is taken as it is. */
	{ { "a\r\n.\r\n", "..\r\n", NULL }, REJ, "a\r\n.\r\n..\r\n", 0 },
};

static void
test_chunk_reader(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(chunk_cases); i++) {
		const struct chunk_case *c = &chunk_cases[i];
		struct mx_smtp_data d;
		struct sink k = { { 0 }, 0 };

		mx_smtp_chunk_init(&d, c->policy);
		for (j = 0; j < 4 && c->chunks[j] != NULL; j++) {
			const char *p = c->chunks[j];
			size_t n = strlen(p), b;

			/* Byte by byte inside each chunk as well. */
			for (b = 0; b < n; b++)
				mx_smtp_chunk_feed(&d, (const uint8_t *)p + b, 1, sink_out, &k);
		}
		mx_smtp_chunk_end(&d, sink_out, &k);
		if (k.len != strlen(c->out) || memcmp(k.buf, c->out, k.len) != 0)
			fail_msg("chunk case %zu: output differs (%zu bytes)", i, k.len);
		if (d.n_bare != c->n_bare)
			fail_msg("chunk case %zu: n_bare %llu", i, (unsigned long long)d.n_bare);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_reader),
		cmocka_unit_test(test_data_stops_at_end),
		cmocka_unit_test(test_chunk_reader),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
