/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smtp_data_fuzz: libFuzzer harness for the DATA reader and the BDAT
 * chunk reader (smtp_data.c), under both bare CR/LF policies (chosen by
 * the first byte). Properties checked on every input (abort on failure):
 * - a split of the input at an offset taken from the input, and a feed
 *   of one byte at a time, give the same output, end and flags as the
 *   whole input (the whole input takes the word-at-a-time skip inside
 *   lines, single bytes never do);
 * - the data ends only right after "." CR LF that follows a CR LF (or the
 *   DATA line): no bare CR or LF ever ends it (SMTP smuggling);
 * - under NORMALIZE no bare CR or LF reaches the output, of either reader.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mx_conf.h"
#include "mx_smtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct digest {
	uint64_t h;
	size_t len;
	int last;   /* last byte seen, -1 none */
	bool bare;  /* a bare CR or LF reached the output */
};

static void
sink(void *arg, const uint8_t *p, size_t n)
{
	struct digest *d = arg;

	for (size_t i = 0; i < n; i++) {
		if (d->last == '\r' && p[i] != '\n')
			d->bare = true;
		if (p[i] == '\n' && d->last != '\r')
			d->bare = true;
		d->h = (d->h ^ p[i]) * 0x100000001b3ull;
		d->last = p[i];
	}
	d->len += n;
}

static void
digest_init(struct digest *dg)
{
	memset(dg, 0, sizeof(*dg));
	dg->h = 0xcbf29ce484222325ull;
	dg->last = '\n';
}

static void
run_data(const uint8_t *p, size_t n, int policy, size_t max_line, size_t cut,
		struct digest *dg, struct mx_smtp_data *d, enum mx_rc *rc, size_t *end)
{
	size_t used = 0;

	digest_init(dg);
	mx_smtp_data_init(d, policy, max_line);
	*end = 0;
	*rc = mx_smtp_data_feed(d, p, cut, &used, sink, dg);
	*end = used;
	if (*rc == MX_AGAIN && cut < n) {
		*rc = mx_smtp_data_feed(d, p + cut, n - cut, &used, sink, dg);
		*end = cut + used;
	}
}

static void
run_data_bytes(const uint8_t *p, size_t n, int policy, size_t max_line,
		struct digest *dg, struct mx_smtp_data *d, enum mx_rc *rc, size_t *end)
{
	size_t used = 0;

	digest_init(dg);
	mx_smtp_data_init(d, policy, max_line);
	*rc = MX_AGAIN;
	for (*end = 0; *end < n && *rc == MX_AGAIN; (*end)++)
		*rc = mx_smtp_data_feed(d, p + *end, 1, &used, sink, dg);
}

static bool
same_data(const struct digest *a, const struct mx_smtp_data *da, enum mx_rc ra,
		size_t ea, const struct digest *b, const struct mx_smtp_data *db,
		enum mx_rc rb, size_t eb)
{
	return ra == rb && ea == eb && a->h == b->h && a->len == b->len &&
			da->n_bare == db->n_bare && da->line_too_long == db->line_too_long;
}

static void
check_data(const uint8_t *p, size_t n, int policy, size_t max_line, size_t cut)
{
	struct digest a, b, c;
	struct mx_smtp_data da, db, dc;
	enum mx_rc ra, rb, rc;
	size_t ea, eb, ec;

	run_data(p, n, policy, max_line, n, &a, &da, &ra, &ea);
	run_data(p, n, policy, max_line, cut, &b, &db, &rb, &eb);
	run_data_bytes(p, n, policy, max_line, &c, &dc, &rc, &ec);
	if (!same_data(&a, &da, ra, ea, &b, &db, rb, eb) ||
			!same_data(&a, &da, ra, ea, &c, &dc, rc, ec))
		abort();
	if (ra == MX_OK) {
		if (ea < 3 || memcmp(p + ea - 3, ".\r\n", 3) != 0)
			abort();
		if (ea > 3 && (ea < 5 || memcmp(p + ea - 5, "\r\n", 2) != 0))
			abort();
	}
	if (policy == MX_BARE_LF_NORMALIZE && a.bare)
		abort();
}

/* step 0: p[0..cut) then the rest; else step bytes per call. */
static void
run_chunks(const uint8_t *p, size_t n, int policy, size_t cut, size_t step,
		struct digest *dg, struct mx_smtp_data *d)
{
	digest_init(dg);
	mx_smtp_chunk_init(d, policy);
	if (step == 0) {
		mx_smtp_chunk_feed(d, p, cut, sink, dg);
		mx_smtp_chunk_feed(d, p + cut, n - cut, sink, dg);
	} else {
		for (size_t i = 0; i < n; i += step)
			mx_smtp_chunk_feed(d, p + i, step, sink, dg);
	}
	mx_smtp_chunk_end(d, sink, dg);
}

static void
check_chunks(const uint8_t *p, size_t n, int policy, size_t cut)
{
	struct digest a, b;
	struct mx_smtp_data da, db;

	run_chunks(p, n, policy, cut, 0, &a, &da);
	run_chunks(p, n, policy, cut, 1, &b, &db);
	if (a.h != b.h || a.len != b.len || da.n_bare != db.n_bare)
		abort();
	if (policy == MX_BARE_LF_NORMALIZE && a.bare)
		abort();
	if (policy == MX_BARE_LF_REJECT && a.len != n)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int policy;
	size_t max_line, cut;

	if (size < 2)
		return 0;
	policy = (data[0] & 1) ? MX_BARE_LF_NORMALIZE : MX_BARE_LF_REJECT;
	max_line = (data[0] & 2) ? 0 : 8 + data[1];
	data += 2;
	size -= 2;
	cut = size > 0 ? (size_t)data[0] % (size + 1) : 0;
	check_data(data, size, policy, max_line, cut);
	check_chunks(data, size, policy, cut);
	return 0;
}
