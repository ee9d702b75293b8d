/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * content_fuzz.c: libFuzzer harness for the whole scan (MIME walker,
 * decoders and the Hyperscan streams) with a fixed rule set touching every
 * target. Each input is scanned whole and again split in two at an offset
 * taken from its first byte; the verdicts must be equal, hit for hit
 * (the scan is split-independent). The rules are compiled once per process
 * (a fuzz harness, not worker code); scans are reused across inputs as a
 * session reuses its scan.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mx_content.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_rules[] =
	"rules:\n"
	"  - {id: h, target: 'header:Subject', pattern: 'win', flags: [caseless], action: score, score: 2}\n"
	"  - {id: hs, target: headers, pattern: '^X-Spam:', flags: [multiline], action: score, score: 3}\n"
	"  - {id: b, target: body, pattern: 'verify your acc(ou)?nt', flags: [caseless], action: reject}\n"
	"  - {id: b2, target: body, pattern: 'a.{0,8}b$', flags: [dotall, multiline], action: score, score: 1}\n"
	"  - {id: n, target: attachment-name, pattern: '\\.(exe|scr)$', flags: [caseless], action: quarantine}\n"
	"  - {id: t, target: attachment-type, pattern: '^application/', action: score, score: 1}\n"
	"  - {id: r, target: raw, pattern: 'ZZ[0-9]+', action: score, score: 1}\n"
	"  - {id: d, target: mime-defect, pattern: '.', flags: [dotall], action: score, score: 1}\n"
	"thresholds: {quarantine: 4, reject: 6}\n"
	"limits: {max_bytes: 4096, max_hits: 6}\n";

struct fz_state {
	struct mx_content_rules *r;
	struct mx_content_scratch *sc;
	struct mx_content_scan *a, *b;
};

static struct fz_state fz;

static void
fz_init(void)
{
	char path[] = "/tmp/mx_content_fuzz.XXXXXX";
	int fd = mkstemp(path);

	MX_ASSERT(fd >= 0);
	MX_ASSERT(write(fd, fuzz_rules, sizeof(fuzz_rules) - 1) == (ssize_t)sizeof(fuzz_rules) - 1);
	close(fd);
	MX_ASSERT(mx_content_rules_load(path, NULL, stderr, &fz.r) == 0);
	unlink(path);
	MX_ASSERT(mx_content_rules_info(fz.r)->n_refused == 0);
	MX_ASSERT(mx_content_scratch_create(fz.r, &fz.sc) == 0);
	MX_ASSERT(mx_content_scan_create(fz.r, &fz.a) == 0);
	MX_ASSERT(mx_content_scan_create(fz.r, &fz.b) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct mx_content_verdict *va, *vb;
	size_t split = size > 0 ? (size_t)data[0] * 13 % (size + 1) : 0;
	unsigned i;

	if (fz.r == NULL)
		fz_init();
	mx_content_scan_begin(fz.a, fz.sc);
	mx_content_scan_feed(fz.a, data, size);
	va = mx_content_scan_end(fz.a);

	mx_content_scan_begin(fz.b, fz.sc);
	mx_content_scan_feed(fz.b, data, split);
	mx_content_scan_feed(fz.b, data + split, size - split);
	vb = mx_content_scan_end(fz.b);

	/* Once the hit cap (6) stops a scan, what was seen before depends on
	 * the order of detection; below it everything must agree. */
	if (va->n_hits < 6 && vb->n_hits < 6) {
		MX_ASSERT(va->action == vb->action && va->score == vb->score &&
			va->defects == vb->defects && va->truncated == vb->truncated);
		MX_ASSERT(va->n_hits == vb->n_hits);
		for (i = 0; i < va->n_hits; i++)
			MX_ASSERT(strcmp(va->hits[i].id, vb->hits[i].id) == 0 &&
				va->hits[i].offset == vb->hits[i].offset);
	}
	return 0;
}
