/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * data_bench.c: the DATA reader (dot-unstuffing and end-of-data search,
 * engine/smtp/smtp_data.c) on one core.
 *
 *   data_bench [SECONDS]      default: 1 per case
 *
 * Each case is one message as a client sends it after DATA, ending in
 * CR LF "." CR LF, fed whole to mx_smtp_data_feed, whose output is copied
 * out as the engine's mx_msg does. Next to it, a plain memcpy of the same
 * bytes gives the copy's own cost. Prints one line per case:
 *
 *   case=.. bytes=.. ns_per_msg=.. MBps=.. memcpy_MBps=..
 *
 * A benchmark, not a test: it asserts nothing about speed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mx_base.h"
#include "mx_conf.h"
#include "mx_smtp.h"

#define MSG_MAX (256u << 10)

struct copy_out {
	uint8_t *buf;
	size_t len;
};

/* Seconds on the monotonic clock (mx_base.h). */
static double
now_s(void)
{
	return (double)mx_clock_us() / 1e6;
}

static void
copy_out(void *arg, const uint8_t *p, size_t n)
{
	struct copy_out *o = arg;

	if (o->len + n <= MSG_MAX) {
		memcpy(o->buf + o->len, p, n);
		o->len += n;
	}
}

/* size bytes of lines of line_len octets (CR LF included), each line
 * starting with lead ("" or "."), then the end of data. */
static size_t
make_msg(uint8_t *p, size_t size, size_t line_len, const char *lead)
{
	static const char alpha[] = "abcdefghijklmnopqrstuvwxyz0123456789 ";
	size_t n = 0, lead_len = strlen(lead);
	unsigned k = 0;

	while (n + line_len + 5 <= size) {
		memcpy(p + n, lead, lead_len);
		for (size_t i = lead_len; i + 2 < line_len; i++)
			p[n + i] = (uint8_t)alpha[k++ % (sizeof(alpha) - 1)];
		p[n + line_len - 2] = '\r';
		p[n + line_len - 1] = '\n';
		n += line_len;
	}
	memcpy(p + n, ".\r\n", 3);
	return n + 3;
}

static void
run_case(const char *name, size_t size, size_t line_len, const char *lead,
		double seconds, uint8_t *msg, uint8_t *dst)
{
	size_t len = make_msg(msg, size, line_len, lead);
	struct copy_out o = { .buf = dst };
	struct mx_smtp_data d;
	unsigned long rounds = 0, copies = 0;
	double t0 = now_s(), t1, t2;
	size_t used;

	do {
		for (int i = 0; i < 64; i++) {
			o.len = 0;
			mx_smtp_data_init(&d, MX_BARE_LF_REJECT, 1000);
			if (mx_smtp_data_feed(&d, msg, len, &used, copy_out, &o) != MX_OK ||
					used != len) {
				fprintf(stderr, "data_bench: %s did not end\n", name);
				exit(1);
			}
		}
		rounds += 64;
		t1 = now_s();
	} while (t1 - t0 < seconds);
	do {
		for (int i = 0; i < 64; i++) {
			memcpy(dst, msg, len);
			__asm__ volatile("" : : "r"(dst) : "memory");
		}
		copies += 64;
		t2 = now_s();
	} while (t2 - t1 < seconds);
	printf("case=%s bytes=%zu ns_per_msg=%.0f MBps=%.0f memcpy_MBps=%.0f\n", name,
			len, (t1 - t0) * 1e9 / (double)rounds,
			(double)len * (double)rounds / (t1 - t0) / 1e6,
			(double)len * (double)copies / (t2 - t1) / 1e6);
}

int
main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;
	uint8_t *msg = malloc(MSG_MAX), *dst = malloc(MSG_MAX);

	if (msg == NULL || dst == NULL || seconds <= 0) {
		fprintf(stderr, "usage: data_bench [SECONDS]\n");
		return 2;
	}
	run_case("text-4k-78", 4096, 78, "", seconds, msg, dst);
	run_case("base64-100k-78", 100u << 10, 78, "", seconds, msg, dst);
	run_case("dotted-4k-78", 4096, 78, ".", seconds, msg, dst);
	run_case("short-4k-12", 4096, 12, "", seconds, msg, dst);
	free(msg);
	free(dst);
	return 0;
}
