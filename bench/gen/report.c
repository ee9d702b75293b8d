/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * report.c: the generator's result as a human table (stdout) and as one
 * JSON object (bench/run reads it). Rates divide by the wall time of the
 * whole run; latencies are per SMTP phase in milliseconds (p50, p99,
 * p99.9, max) from the histograms. Every field is printed from counters,
 * none is derived from the configuration.
 */
#include <errno.h>
#include <stdio.h>

#include "mx_bench.h"

uint64_t
mx_bench_result_errors(const struct mx_bench_result *r)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < MX_BENCH_ERR_CODES; i++)
		n += r->err_code[i];
	for (unsigned i = 0; i < MX_BENCH_ERR_N; i++)
		n += r->err[i];
	return n;
}

static double
rate(uint64_t n, double s)
{
	return s > 0 ? (double)n / s : 0.0;
}

static double
ms(uint64_t us)
{
	return (double)us / 1000.0;
}

void
mx_bench_result_print(const struct mx_bench_result *r, const struct mx_bench_gen_conf *c)
{
	double s = r->elapsed_s;

	printf("mxedge-bench: %.3f s, sessions %llu ok / %llu failed, messages %llu ok / %llu failed\n",
			s, (unsigned long long)r->sessions_ok, (unsigned long long)r->sessions_failed,
			(unsigned long long)r->messages_ok, (unsigned long long)r->messages_failed);
	printf("  messages/s %.1f  sessions/s %.1f  handshakes/s %.1f (full %llu, resumed %llu)  MB/s %.2f\n",
			rate(r->messages_ok, s), rate(r->sessions_ok, s),
			rate(r->handshakes_full + r->handshakes_resumed, s),
			(unsigned long long)r->handshakes_full,
			(unsigned long long)r->handshakes_resumed,
			rate(r->bytes_ok, s) / 1e6);
	if (c->hold_s > 0)
		printf("  held at once: %llu\n", (unsigned long long)r->held_max);
	if (c->sink != NULL)
		printf("  sink on this loop: %llu messages, %llu bytes\n",
				(unsigned long long)r->sink_messages,
				(unsigned long long)r->sink_bytes);
	printf("  %-8s %10s %10s %10s %10s %10s\n", "phase", "count", "p50 ms", "p99 ms",
			"p99.9 ms", "max ms");
	for (unsigned i = 0; i < MX_BENCH_PH_N; i++) {
		const struct mx_bench_hist *h = &r->phase[i];

		if (h->count == 0)
			continue;
		printf("  %-8s %10llu %10.3f %10.3f %10.3f %10.3f\n",
				mx_bench_phase_name((enum mx_bench_phase)i),
				(unsigned long long)h->count,
				ms(mx_bench_hist_quantile(h, 0.5)),
				ms(mx_bench_hist_quantile(h, 0.99)),
				ms(mx_bench_hist_quantile(h, 0.999)), ms(h->max));
	}
	for (unsigned i = 0; i < MX_BENCH_ERR_CODES; i++)
		if (r->err_code[i] != 0)
			printf("  error reply %u: %llu\n", i, (unsigned long long)r->err_code[i]);
	for (unsigned i = 0; i < MX_BENCH_ERR_N; i++)
		if (r->err[i] != 0)
			printf("  error %s: %llu\n", mx_bench_err_name((enum mx_bench_err)i),
					(unsigned long long)r->err[i]);
}

static void
json_phases(FILE *f, const struct mx_bench_result *r)
{
	bool first = true;

	fprintf(f, "\"phases\":{");
	for (unsigned i = 0; i < MX_BENCH_PH_N; i++) {
		const struct mx_bench_hist *h = &r->phase[i];

		if (h->count == 0)
			continue;
		fprintf(f, "%s\"%s\":{\"count\":%llu,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
				"\"p999_ms\":%.3f,\"max_ms\":%.3f,\"mean_ms\":%.3f}",
				first ? "" : ",", mx_bench_phase_name((enum mx_bench_phase)i),
				(unsigned long long)h->count,
				ms(mx_bench_hist_quantile(h, 0.5)),
				ms(mx_bench_hist_quantile(h, 0.99)),
				ms(mx_bench_hist_quantile(h, 0.999)), ms(h->max),
				ms(h->sum) / (double)h->count);
		first = false;
	}
	fprintf(f, "}");
}

static void
json_errors(FILE *f, const struct mx_bench_result *r)
{
	bool first = true;

	fprintf(f, "\"errors_by\":{");
	for (unsigned i = 0; i < MX_BENCH_ERR_CODES; i++) {
		if (r->err_code[i] == 0)
			continue;
		fprintf(f, "%s\"%u\":%llu", first ? "" : ",", i,
				(unsigned long long)r->err_code[i]);
		first = false;
	}
	for (unsigned i = 0; i < MX_BENCH_ERR_N; i++) {
		if (r->err[i] == 0)
			continue;
		fprintf(f, "%s\"%s\":%llu", first ? "" : ",",
				mx_bench_err_name((enum mx_bench_err)i),
				(unsigned long long)r->err[i]);
		first = false;
	}
	fprintf(f, "}");
}

int
mx_bench_result_json(const struct mx_bench_result *r,
		const struct mx_bench_gen_conf *c, const char *path)
{
	const struct mx_bench_hist *dot = &r->phase[MX_BENCH_PH_DOT];
	double s = r->elapsed_s;
	FILE *f;
	int rc;

	f = fopen(path, "w");
	if (f == NULL)
		return -errno;
	fprintf(f, "{\"elapsed_s\":%.6f,\"concurrency\":%u,\"messages_per_session\":%u,"
			"\"rcpts\":%u,\"pipelining\":%s,\"starttls\":%.3f,\"resume\":%.3f,",
			s, c->concurrency, c->messages, c->rcpts,
			c->pipelining ? "true" : "false", c->starttls, c->resume);
	fprintf(f, "\"sessions_started\":%llu,\"sessions_ok\":%llu,\"sessions_failed\":%llu,"
			"\"messages_ok\":%llu,\"messages_failed\":%llu,\"bytes_ok\":%llu,"
			"\"handshakes_full\":%llu,\"handshakes_resumed\":%llu,\"held_max\":%llu,"
			"\"sink_messages\":%llu,\"sink_bytes\":%llu,",
			(unsigned long long)r->sessions_started, (unsigned long long)r->sessions_ok,
			(unsigned long long)r->sessions_failed, (unsigned long long)r->messages_ok,
			(unsigned long long)r->messages_failed, (unsigned long long)r->bytes_ok,
			(unsigned long long)r->handshakes_full,
			(unsigned long long)r->handshakes_resumed,
			(unsigned long long)r->held_max,
			(unsigned long long)r->sink_messages,
			(unsigned long long)r->sink_bytes);
	fprintf(f, "\"msgs_per_s\":%.3f,\"sessions_per_s\":%.3f,\"handshakes_per_s\":%.3f,"
			"\"bytes_per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,"
			"\"errors\":%llu,",
			rate(r->messages_ok, s), rate(r->sessions_ok, s),
			rate(r->handshakes_full + r->handshakes_resumed, s), rate(r->bytes_ok, s),
			ms(mx_bench_hist_quantile(dot, 0.5)), ms(mx_bench_hist_quantile(dot, 0.99)),
			ms(mx_bench_hist_quantile(dot, 0.999)),
			(unsigned long long)mx_bench_result_errors(r));
	json_errors(f, r);
	fprintf(f, ",");
	json_phases(f, r);
	fprintf(f, "}\n");
	rc = ferror(f) ? -EIO : 0;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	return rc;
}
