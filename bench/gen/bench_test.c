/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_test.c: unit tests of mxedge-bench's parsers and histogram: the
 * log-linear buckets and their percentiles, the size-distribution syntax
 * and selection, and SMTP reply parsing (RFC 5321 4.2), table-driven.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mx_bench.h"

static void
test_hist_buckets(void **state)
{
	/* every value lies inside its bucket, buckets are contiguous, and a
	 * bucket is at most 1/64 of its values wide */
	static const uint64_t vals[] = {
		0, 1, 127, 128, 129, 255, 256, 1000, 4095, 4096, 65535, 1000000,
		123456789, 1ull << 40, (1ull << 62) + 12345, UINT64_MAX,
	};

	for (size_t i = 0; i < MX_ARRAY_SIZE(vals); i++) {
		unsigned idx = mx_bench_hist_index(vals[i]);

		assert_true(idx < MX_BENCH_HIST_BUCKETS);
		assert_true(mx_bench_hist_low(idx) <= vals[i]);
		assert_true(mx_bench_hist_high(idx) >= vals[i]);
		if (vals[i] < 128)
			assert_int_equal(mx_bench_hist_low(idx), vals[i]);
		else
			assert_true(mx_bench_hist_high(idx) - mx_bench_hist_low(idx) <=
					mx_bench_hist_low(idx) / 64u);
	}
	for (unsigned i = 0; i + 1 < MX_BENCH_HIST_BUCKETS; i++)
		assert_int_equal(mx_bench_hist_high(i) + 1, mx_bench_hist_low(i + 1));
	assert_int_equal(mx_bench_hist_index(UINT64_MAX), MX_BENCH_HIST_BUCKETS - 1);
}

static void
test_hist_quantiles(void **state)
{
	struct mx_bench_hist *h = calloc(1, sizeof(*h));
	struct {
		double q;
		uint64_t lo, hi;
	} cases[] = {
		{ 0.0, 1, 1 },
		{ 0.5, 4980, 5080 },      /* 5000 within a bucket */
		{ 0.99, 9850, 9990 },     /* 9900 */
		{ 0.999, 9950, 10000 },   /* 9990 */
		{ 1.0, 10000, 10000 },
	};

	assert_non_null(h);
	assert_int_equal(mx_bench_hist_quantile(h, 0.5), 0);
	for (uint64_t v = 1; v <= 10000; v++)
		mx_bench_hist_record(h, v);
	assert_int_equal(h->count, 10000);
	assert_int_equal(h->min, 1);
	assert_int_equal(h->max, 10000);
	assert_int_equal(h->sum, 10000ull * 10001ull / 2ull);
	for (size_t i = 0; i < MX_ARRAY_SIZE(cases); i++) {
		uint64_t v = mx_bench_hist_quantile(h, cases[i].q);

		assert_true(v >= cases[i].lo);
		assert_true(v <= cases[i].hi);
	}
	free(h);
}

static void
test_hist_small_exact_and_merge(void **state)
{
	struct mx_bench_hist *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));

	assert_non_null(a);
	assert_non_null(b);
	/* 90 samples of 3 and 10 of 100: p50 3, p90 3, p91 100, p99 100 */
	for (int i = 0; i < 90; i++)
		mx_bench_hist_record(a, 3);
	for (int i = 0; i < 10; i++)
		mx_bench_hist_record(b, 100);
	mx_bench_hist_merge(a, b);
	assert_int_equal(a->count, 100);
	assert_int_equal(a->min, 3);
	assert_int_equal(a->max, 100);
	assert_int_equal(mx_bench_hist_quantile(a, 0.5), 3);
	assert_int_equal(mx_bench_hist_quantile(a, 0.9), 3);
	assert_int_equal(mx_bench_hist_quantile(a, 0.91), 100);
	assert_int_equal(mx_bench_hist_quantile(a, 0.99), 100);
	mx_bench_hist_reset(a);
	assert_int_equal(a->count, 0);
	free(a);
	free(b);
}

static void
test_sizes_parse(void **state)
{
	struct {
		const char *in;
		int rc;
		unsigned n;
		uint64_t size0, size_last;
		unsigned total;
	} cases[] = {
		{ "4096", 0, 1, 4096, 4096, 1 },
		{ "4k", 0, 1, 4096, 4096, 1 },
		{ "100K", 0, 1, 102400, 102400, 1 },
		{ "1m", 0, 1, 1048576, 1048576, 1 },
		{ "4k:70,64k:25,1m:5", 0, 3, 4096, 1048576, 100 },
		{ "1:1,2", 0, 2, 1, 2, 2 },
		{ "64m", 0, 1, 64u << 20, 64u << 20, 1 },
		{ "", -EINVAL, 0, 0, 0, 0 },
		{ "0", -EINVAL, 0, 0, 0, 0 },
		{ "65m", -EINVAL, 0, 0, 0, 0 },
		{ "4k:", -EINVAL, 0, 0, 0, 0 },
		{ "4k:0", -EINVAL, 0, 0, 0, 0 },
		{ "4k,", -EINVAL, 0, 0, 0, 0 },
		{ "4g", -EINVAL, 0, 0, 0, 0 },
		{ "-4", -EINVAL, 0, 0, 0, 0 },
		{ "4k;64k", -EINVAL, 0, 0, 0, 0 },
		{ "99999999999999999999999", -EINVAL, 0, 0, 0, 0 },
		{ "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16", 0, 16, 1, 16, 16 },
		{ "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", -EINVAL, 0, 0, 0, 0 },
	};

	for (size_t i = 0; i < MX_ARRAY_SIZE(cases); i++) {
		struct mx_bench_sizes d;
		int rc = mx_bench_sizes_parse(cases[i].in, &d);

		assert_int_equal(rc, cases[i].rc);
		if (rc != 0)
			continue;
		assert_int_equal(d.n, cases[i].n);
		assert_int_equal(d.size[0], cases[i].size0);
		assert_int_equal(d.size[d.n - 1], cases[i].size_last);
		assert_int_equal(d.total, cases[i].total);
	}
}

static void
test_sizes_pick(void **state)
{
	struct mx_bench_sizes d;
	unsigned hits[3] = { 0, 0, 0 };

	assert_int_equal(mx_bench_sizes_parse("4k:70,64k:25,1m:5", &d), 0);
	/* every residue once: each entry is picked exactly weight times */
	for (uint64_t r = 0; r < 100; r++)
		hits[mx_bench_sizes_pick(&d, r + 1000)]++;
	assert_int_equal(hits[0], 70);
	assert_int_equal(hits[1], 25);
	assert_int_equal(hits[2], 5);
	assert_int_equal(mx_bench_sizes_pick(&d, 69), 0);
	assert_int_equal(mx_bench_sizes_pick(&d, 70), 1);
	assert_int_equal(mx_bench_sizes_pick(&d, 99), 2);
}

static void
test_reply_parse(void **state)
{
	char longline[1100];
	struct {
		const char *in;
		long rc;
		int code;
		unsigned lines, ext;
	} cases[] = {
		{ "220 mx.test ESMTP\r\n", 19, 220, 1, 0 },
		{ "250 ok\r\n354 more\r\n", 8, 250, 1, 0 },
		{ "250\r\n", 5, 250, 1, 0 },
		{ "250 ok\n", 7, 250, 1, 0 },
		{ "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 100\r\n250 STARTTLS\r\n", 57, 250, 4,
			MX_BENCH_EXT_PIPELINING | MX_BENCH_EXT_STARTTLS },
		{ "250-mx.test\r\n250-pipelining\r\n250 8BITMIME\r\n", 43, 250, 3,
			MX_BENCH_EXT_PIPELINING | MX_BENCH_EXT_8BITMIME },
		/* the first line is the greeting text, never a keyword */
		{ "250-PIPELINING\r\n250 ok\r\n", 24, 250, 2, 0 },
		{ "250-PIPELININGX\r\n250 STARTTLSX\r\n", 32, 250, 2, 0 },
		{ "550 5.7.1 no\r\n", 14, 550, 1, 0 },
		{ "250-mx.test\r\n250-PIPE", 0, 0, 0, 0 },
		{ "250 ok", 0, 0, 0, 0 },
		{ "", 0, 0, 0, 0 },
		{ "25 ok\r\n", -EBADMSG, 0, 0, 0 },
		{ "2x0 ok\r\n", -EBADMSG, 0, 0, 0 },
		{ "199 ok\r\n", -EBADMSG, 0, 0, 0 },
		{ "600 ok\r\n", -EBADMSG, 0, 0, 0 },
		{ "250-a\r\n251 b\r\n", -EBADMSG, 0, 0, 0 },
		{ "250_ok\r\n", -EBADMSG, 0, 0, 0 },
		{ "\r\n", -EBADMSG, 0, 0, 0 },
		{ longline, -EMSGSIZE, 0, 0, 0 },
	};

	memset(longline, 'x', sizeof(longline) - 1);
	memcpy(longline, "250 ", 4);
	longline[sizeof(longline) - 1] = '\0';
	for (size_t i = 0; i < MX_ARRAY_SIZE(cases); i++) {
		struct mx_bench_reply r = { -1, 0, 0 };
		long rc = mx_bench_reply_parse((const uint8_t *)cases[i].in,
				strlen(cases[i].in), &r);

		assert_int_equal(rc, cases[i].rc);
		if (rc <= 0)
			continue;
		assert_int_equal(r.code, cases[i].code);
		assert_int_equal(r.lines, cases[i].lines);
		assert_int_equal(r.ext, cases[i].ext);
	}
}

static void
test_names(void **state)
{
	assert_string_equal(mx_bench_phase_name(MX_BENCH_PH_DOT), "dot");
	assert_string_equal(mx_bench_phase_name(MX_BENCH_PH_N), "?");
	assert_string_equal(mx_bench_err_name(MX_BENCH_ERR_TIMEOUT), "timeout");
	assert_string_equal(mx_bench_err_name(MX_BENCH_ERR_N), "?");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_buckets),
		cmocka_unit_test(test_hist_quantiles),
		cmocka_unit_test(test_hist_small_exact_and_merge),
		cmocka_unit_test(test_sizes_parse),
		cmocka_unit_test(test_sizes_pick),
		cmocka_unit_test(test_reply_parse),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
