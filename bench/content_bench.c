/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * content_bench.c: content scan throughput per core (issue 6).
 *
 *   content_bench [N_RULES...]      default: 1000 10000
 *
 * For each rule count it generates a rules file (literals, literals with
 * classes and repeats, alternations; mostly body, some raw and header
 * rules; half caseless), compiles it with mx_content_rules_load (the
 * engine's loader), and scans a generated corpus of MIME messages (plain,
 * quoted-printable and base64 text parts, an attachment) through the
 * engine's streaming scan in 16 KiB feeds, on one thread. Next to it, a
 * plain memory-read pass (a 64-bit sum) over the same bytes gives the
 * machine's ceiling. Prints one line per rule count:
 *
 *   rules=N compile_ms=.. cached_load_ms=.. scan_MBps=.. memread_MBps=.. hits/msg=..
 *
 *   content_bench --write-rules N FILE
 *
 * only writes the generated rules file (bench/run gives it to the engine
 * for its content scenario, so both measure the same rule set).
 *
 * A benchmark, not a test: it asserts nothing about speed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mx_base.h"
#include "mx_content.h"

#define CORPUS_MSGS 64
#define MSG_TEXT 60000
#define FEED 16384
#define ROUNDS_MIN_S 1.0

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Seconds on the monotonic clock (mx_base.h). */
static double
now_s(void)
{
	return (double)mx_clock_us() / 1e6;
}

static void
word(char *w, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i++)
		w[i] = (char)('a' + rnd() % 26);
	w[n - 1] = '\0';
}

static int
write_rules(const char *path, unsigned n)
{
	FILE *f = fopen(path, "w");
	unsigned i;

	if (f == NULL)
		return -1;
	fprintf(f, "rules:\n");
	for (i = 0; i < n; i++) {
		char a[10], b[8];
		const char *target = i % 10 == 0 ? "raw" : i % 10 == 1 ? "header:Subject" : "body";

		word(a, 5 + rnd() % 5);
		word(b, 4 + rnd() % 4);
		fprintf(f, "  - id: r%u\n    target: '%s'\n", i, target);
		switch (i % 4) {
		case 0:
			fprintf(f, "    pattern: '%s %s'\n", a, b);
			break;
		case 1:
			fprintf(f, "    pattern: '%s[0-9]{2,6}%s'\n", a, b);
			break;
		case 2:
			fprintf(f, "    pattern: '(%s|%s)\\s+now'\n", a, b);
			break;
		default:
			fprintf(f, "    pattern: '%s.{0,20}%s'\n", a, b);
			break;
		}
		fprintf(f, "    flags: [%s]\n", i % 2 ? "caseless" : "dotall");
		fprintf(f, "    action: score\n    score: 1\n");
	}
	fprintf(f, "thresholds: {quarantine: 50, reject: 100}\n");
	return fclose(f);
}

static size_t
text_fill(char *p, size_t n)
{
	size_t len = 0;

	while (len + 16 < n) {
		char w[12];

		word(w, 2 + rnd() % 9);
		len += (size_t)snprintf(p + len, n - len, "%s%s", w,
			rnd() % 12 == 0 ? "\r\n" : " ");
	}
	return len;
}

static size_t
b64(const char *in, size_t n, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0, col = 0;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)(uint8_t)in[i] << 16 | (uint32_t)(uint8_t)in[i + 1] << 8 |
			(uint8_t)in[i + 2];

		out[o++] = t[v >> 18];
		out[o++] = t[(v >> 12) & 63];
		out[o++] = t[(v >> 6) & 63];
		out[o++] = t[v & 63];
		if ((col += 4) == 76) {
			out[o++] = '\r';
			out[o++] = '\n';
			col = 0;
		}
	}
	return o;
}

static size_t
make_msg(char *m, size_t size, unsigned k)
{
	static char text[MSG_TEXT], enc[MSG_TEXT * 2];
	size_t len, tl = text_fill(text, sizeof(text));

	len = (size_t)snprintf(m, size,
		"From: a@example.org\r\nTo: b@example.net\r\nSubject: message %u\r\n"
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"bnd%u\"\r\n\r\n"
		"--bnd%u\r\nContent-Type: text/plain; charset=utf-8\r\n"
		"Content-Transfer-Encoding: %s\r\n\r\n", k, k, k,
		k % 3 == 0 ? "base64" : k % 3 == 1 ? "quoted-printable" : "8bit");
	if (k % 3 == 0) {
		size_t el = b64(text, tl, enc);

		memcpy(m + len, enc, el);
		len += el;
	} else {
		memcpy(m + len, text, tl);
		len += tl;
	}
	len += (size_t)snprintf(m + len, size - len,
		"\r\n--bnd%u\r\nContent-Type: application/pdf\r\n"
		"Content-Disposition: attachment; filename=\"doc%u.pdf\"\r\n"
		"Content-Transfer-Encoding: base64\r\n\r\n", k, k);
	len += b64(text, tl / 4, m + len);
	len += (size_t)snprintf(m + len, size - len, "\r\n--bnd%u--\r\n", k);
	return len;
}

static int
bench(unsigned n_rules, char **msgs, size_t *lens, size_t total)
{
	char path[64], cache[64], cmd[160];
	struct mx_content_rules *r;
	struct mx_content_scratch *sc;
	struct mx_content_scan *s;
	double t0, t_compile, t_cached, t_scan, t_read;
	uint64_t rounds = 0, sum = 0, hits = 0;
	unsigned i;

	snprintf(path, sizeof(path), "/tmp/mx_content_bench.%ld.yaml", (long)getpid());
	snprintf(cache, sizeof(cache), "/tmp/mx_content_bench.%ld.d", (long)getpid());
	if (write_rules(path, n_rules) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "rm -rf %s && mkdir %s", cache, cache);
	if (system(cmd) != 0)
		return -1;
	t0 = now_s();
	if (mx_content_rules_load(path, cache, stderr, &r) != 0)
		return -1;
	t_compile = now_s() - t0;
	mx_content_rules_put(r);
	t0 = now_s();
	if (mx_content_rules_load(path, cache, stderr, &r) != 0)
		return -1;
	t_cached = now_s() - t0;
	if (mx_content_scratch_create(r, &sc) != 0 || mx_content_scan_create(r, &s) != 0)
		return -1;

	t0 = now_s();
	do {
		for (i = 0; i < CORPUS_MSGS; i++) {
			size_t off;

			mx_content_scan_begin(s, sc);
			for (off = 0; off < lens[i]; off += FEED)
				mx_content_scan_feed(s, msgs[i] + off,
					lens[i] - off < FEED ? lens[i] - off : FEED);
			hits += mx_content_scan_end(s)->n_hits;
		}
		rounds++;
	} while ((t_scan = now_s() - t0) < ROUNDS_MIN_S);

	t0 = now_s();
	for (uint64_t k = 0; k < rounds * 4; k++) {
		for (i = 0; i < CORPUS_MSGS; i++) {
			const uint64_t *p = (const uint64_t *)(void *)msgs[i];
			size_t w;

			for (w = 0; w < lens[i] / 8; w++)
				sum += p[w];
		}
		__asm__ volatile("" : : "r"(sum) : "memory");
	}
	t_read = (now_s() - t0) / 4;

	printf("rules=%u refused=%u compile_ms=%.0f cached_load_ms=%.1f "
		"scan_MBps=%.1f memread_MBps=%.0f corpus_MB=%.2f hits/msg=%.2f\n",
		n_rules, mx_content_rules_info(r)->n_refused, t_compile * 1e3,
		t_cached * 1e3, (double)total * (double)rounds / t_scan / 1e6,
		(double)total * (double)rounds / t_read / 1e6, (double)total / 1e6,
		(double)hits / (double)(rounds * CORPUS_MSGS));
	mx_content_scan_free(s);
	mx_content_scratch_free(sc);
	mx_content_rules_put(r);
	unlink(path);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", cache);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(int argc, char **argv)
{
	static const unsigned def[] = { 1000, 10000 };
	char *msgs[CORPUS_MSGS];
	size_t lens[CORPUS_MSGS], total = 0;
	unsigned i;
	int a;

	if (argc == 4 && strcmp(argv[1], "--write-rules") == 0)
		return write_rules(argv[3], (unsigned)strtoul(argv[2], NULL, 10)) == 0 ? 0 : 1;
	for (i = 0; i < CORPUS_MSGS; i++) {
		msgs[i] = aligned_alloc(64, MSG_TEXT * 3);
		if (msgs[i] == NULL)
			return 1;
		lens[i] = make_msg(msgs[i], MSG_TEXT * 3, i);
		total += lens[i];
	}
	if (argc > 1) {
		for (a = 1; a < argc; a++)
			if (bench((unsigned)strtoul(argv[a], NULL, 10), msgs, lens, total) != 0)
				return 1;
	} else {
		for (i = 0; i < 2; i++)
			if (bench(def[i], msgs, lens, total) != 0)
				return 1;
	}
	for (i = 0; i < CORPUS_MSGS; i++)
		free(msgs[i]);
	return 0;
}
