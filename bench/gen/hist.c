/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hist.c: the generator's latency histogram (mx_bench.h), HDR-style
 * log-linear buckets: values 0..127 have a bucket each; above that every
 * power of two is split into 64 equal buckets, so a recorded value is
 * known to within 1/64 of itself. A fixed array of counters: recording is
 * an index computation and an increment, no allocation per sample.
 */
#include <string.h>

#include "mx_bench.h"

#define HALF (MX_BENCH_HIST_SUB / 2u)

void
mx_bench_hist_reset(struct mx_bench_hist *h)
{
	memset(h, 0, sizeof(*h));
}

unsigned
mx_bench_hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < MX_BENCH_HIST_SUB)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - 6u; /* keep the 7 top bits: mantissa 64..127 */
	return MX_BENCH_HIST_SUB + (shift - 1u) * HALF +
		(unsigned)((v >> shift) - HALF);
}

uint64_t
mx_bench_hist_low(unsigned idx)
{
	unsigned shift;
	uint64_t mant;

	if (idx < MX_BENCH_HIST_SUB)
		return idx;
	shift = (idx - MX_BENCH_HIST_SUB) / HALF + 1u;
	mant = (idx - MX_BENCH_HIST_SUB) % HALF + HALF;
	return mant << shift;
}

uint64_t
mx_bench_hist_high(unsigned idx)
{
	if (idx < MX_BENCH_HIST_SUB)
		return idx;
	if (idx + 1u >= MX_BENCH_HIST_BUCKETS)
		return UINT64_MAX;
	return mx_bench_hist_low(idx + 1u) - 1u;
}

void
mx_bench_hist_record(struct mx_bench_hist *h, uint64_t v)
{
	if (h->count == 0 || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->count++;
	h->sum += v;
	h->b[mx_bench_hist_index(v)]++;
}

void
mx_bench_hist_merge(struct mx_bench_hist *dst, const struct mx_bench_hist *src)
{
	if (src->count == 0)
		return;
	if (dst->count == 0 || src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->count += src->count;
	dst->sum += src->sum;
	for (unsigned i = 0; i < MX_BENCH_HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
}

uint64_t
mx_bench_hist_quantile(const struct mx_bench_hist *h, double q)
{
	uint64_t rank, seen = 0;
	double r;

	if (h->count == 0)
		return 0;
	if (!(q > 0.0))
		return h->min;
	if (q >= 1.0)
		return h->max;
	r = q * (double)h->count;
	rank = (uint64_t)r;
	if ((double)rank < r)
		rank++;
	if (rank == 0)
		rank = 1;
	for (unsigned i = 0; i < MX_BENCH_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank)
			return MX_MAX(h->min, MX_MIN(h->max, mx_bench_hist_high(i)));
	}
	return h->max;
}
