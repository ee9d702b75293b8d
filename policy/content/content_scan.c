/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * content_scan.c: the per-message streaming scan (contract in
 * mx_content.h) and the per-worker scratch.
 *
 * Every fed byte goes to the raw stream and to the MIME walker; the
 * walker's callbacks feed the header stream, the body stream (decoded
 * text) and the block scans of named header values, part types, file
 * names and defect names. The match callback records a hit once per rule
 * (a bitmap), stops every scan of the message when max_hits is reached,
 * and filters header:NAME rules by the field being scanned: all named
 * header rules share one database, since a database per header name would
 * multiply compiles and scratch for no gain.
 *
 * Hyperscan streams are opened once per scan object and reset between
 * messages (hs_reset_stream), so the per-message path allocates nothing.
 *
 * Hyperscan never gets a pointer whose data ends where our buffer ends:
 * the 5.4.0 runtime (Debian 12's libhs.so.5, AVX-512 dispatch) can load a
 * vector that runs past the end of the data it is given, which faults
 * when a caller's buffer ends at a page boundary (a single stream rule
 * 'ZZ[0-9]+' over a 112-byte message does it). Stream feeds are scanned
 * in two calls, all but the last SCAN_TAIL bytes in place and those from
 * a padded copy (stream matches do not depend on the split); block scans
 * of header values, types, names and defect names are copied whole (they
 * are bounded by MX_MIME_FIELD_MAX).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mx_log.h"

#include "content_mime.h"
#include "content_priv.h"

/* Readable slack after the data handed to Hyperscan: a whole AVX-512
 * vector, so no load that starts inside the data can leave the buffer. */
#define SCAN_TAIL 64

struct mx_content_scratch {
	hs_scratch_t *s;
};

struct mx_content_scan {
	struct mx_content_rules *r;
	/* The wrapper, not the hs_scratch_t: a reload may grow (move) the
	 * scratch while this message is in flight. */
	struct mx_content_scratch *scratch;
	hs_stream_t *st[MX_CONTENT_T__COUNT];
	bool dirty;
	bool stopped;          /* a cap was reached: scan nothing more */
	bool byte_capped;
	uint64_t raw_off;
	struct mx_str cur_hdr;
	struct mx_content_hit *hits;
	unsigned *hit_rule;     /* rule index of hits[i] */
	unsigned n_hits;
	uint8_t *seen;         /* one bit per rule */
	struct mx_content_verdict v;
	struct mx_mime mime;
	/* Padded copies for Hyperscan (see the top of this file). */
	uint8_t tail[2 * SCAN_TAIL];
	uint8_t blk[MX_MIME_FIELD_MAX + SCAN_TAIL];
};

static const char *const target_names[MX_CONTENT_T__COUNT] = {
	[MX_CONTENT_T_HEADER] = "header",
	[MX_CONTENT_T_HEADERS] = "headers",
	[MX_CONTENT_T_BODY] = "body",
	[MX_CONTENT_T_ATT_NAME] = "attachment-name",
	[MX_CONTENT_T_ATT_TYPE] = "attachment-type",
	[MX_CONTENT_T_RAW] = "raw",
	[MX_CONTENT_T_MIME_DEFECT] = "mime-defect",
};

static const char *const defect_names[MX_CONTENT_D__COUNT] = {
	[MX_CONTENT_D_MISSING_BOUNDARY] = "missing-boundary",
	[MX_CONTENT_D_UNTERMINATED_MULTIPART] = "unterminated-multipart",
	[MX_CONTENT_D_NESTING_TOO_DEEP] = "nesting-too-deep",
	[MX_CONTENT_D_HEADER_TOO_LONG] = "header-too-long",
	[MX_CONTENT_D_BAD_HEADER] = "bad-header",
	[MX_CONTENT_D_BAD_BASE64] = "bad-base64",
	[MX_CONTENT_D_BAD_QP] = "bad-quoted-printable",
	[MX_CONTENT_D_BAD_ENCODED_WORD] = "bad-encoded-word",
	[MX_CONTENT_D_BAD_PARAM] = "bad-parameter",
	[MX_CONTENT_D_BOUNDARY_TOO_LONG] = "bad-boundary",
	[MX_CONTENT_D_SCAN_TRUNCATED] = "scan-truncated",
};

const char *
mx_content_target_name(enum mx_content_target t)
{
	return (unsigned)t < MX_CONTENT_T__COUNT ? target_names[t] : "?";
}

const char *
mx_content_action_name(enum mx_content_action a)
{
	switch (a) {
	case MX_CONTENT_REJECT:
		return "reject";
	case MX_CONTENT_QUARANTINE:
		return "quarantine";
	case MX_CONTENT_SCORE:
		return "score";
	default:
		return "accept";
	}
}

const char *
mx_content_defect_name(enum mx_content_defect d)
{
	return (unsigned)d < MX_CONTENT_D__COUNT ? defect_names[d] : "?";
}

/* ---- scratch ---- */

int
mx_content_scratch_fit(struct mx_content_scratch *s, const struct mx_content_rules *r)
{
	unsigned g;

	for (g = 0; g < MX_CONTENT_T__COUNT; g++) {
		/* hs_alloc_scratch grows an existing scratch so it serves
		 * the databases it served before and this one. */
		if (r->db[g] != NULL && hs_alloc_scratch(r->db[g], &s->s) != HS_SUCCESS)
			return -ENOMEM;
	}
	return 0;
}

int
mx_content_scratch_create(const struct mx_content_rules *r,
		struct mx_content_scratch **out)
{
	struct mx_content_scratch *s = calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (s == NULL)
		return -ENOMEM;
	if ((rc = mx_content_scratch_fit(s, r)) != 0) {
		mx_content_scratch_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void
mx_content_scratch_free(struct mx_content_scratch *s)
{
	if (s == NULL)
		return;
	hs_free_scratch(s->s);
	free(s);
}

/* ---- matching ---- */

static void
hit_add(struct mx_content_scan *s, unsigned id, uint64_t to)
{
	const struct mx_content_rule *ru = &s->r->rule[id];

	if ((s->seen[id >> 3] & (1u << (id & 7))) != 0)
		return;
	s->seen[id >> 3] |= (uint8_t)(1u << (id & 7));
	s->hit_rule[s->n_hits] = id;
	s->hits[s->n_hits++] = (struct mx_content_hit){
		.id = ru->id,
		.target = ru->target,
		.header = ru->hdr_name,
		.action = ru->action,
		.offset = to,
	};
}

static int
on_match(unsigned int id, unsigned long long from, unsigned long long to,
		unsigned int flags, void *ctx)
{
	struct mx_content_scan *s = ctx;
	const struct mx_content_rule *ru;

	if (id >= s->r->n_rules)
		return 0;
	ru = &s->r->rule[id];
	if (ru->target == MX_CONTENT_T_HEADER &&
			(ru->hdr_name_len != s->cur_hdr.len ||
			!mx_str_ieq(s->cur_hdr, ru->hdr_name)))
		return 0;
	hit_add(s, id, to);
	if (s->n_hits < s->r->max_hits)
		return 0;
	/* The hit cap bounds the work a message can cause: stop here. */
	s->stopped = true;
	s->v.truncated = true;
	return 1;
}

static void
stream_call(struct mx_content_scan *s, enum mx_content_target g,
		const uint8_t *p, size_t n)
{
	hs_error_t e;

	if (s->stopped || n == 0)
		return;
	e = hs_scan_stream(s->st[g], (const char *)p, (unsigned)n, 0,
			s->scratch->s, on_match, s);
	if (e != HS_SUCCESS && e != HS_SCAN_TERMINATED) {
		s->v.n_errors++;
		MX_LOG_RL(MX_LOG_WARN, "content", "hs_scan_stream(%s): error %d",
			mx_content_target_name(g), (int)e);
	}
}

/* The head is scanned in place (the tail we keep back is its slack), the
 * tail from a copy with SCAN_TAIL readable bytes after it. */
static void
scan_stream(struct mx_content_scan *s, enum mx_content_target g,
		const void *p, size_t n)
{
	const uint8_t *q = p;
	size_t head = n > SCAN_TAIL ? n - SCAN_TAIL : 0;

	if (s->st[g] == NULL || s->stopped || n == 0)
		return;
	stream_call(s, g, q, head);
	memcpy(s->tail, q + head, n - head);
	stream_call(s, g, s->tail, n - head);
}

static void
scan_block(struct mx_content_scan *s, enum mx_content_target g,
		const void *p, size_t n)
{
	hs_error_t e;

	if (s->r->db[g] == NULL || s->stopped)
		return;
	if (n > sizeof(s->blk) - SCAN_TAIL) {
		/* Cannot happen: the walker bounds every field. */
		MX_LOG_RL(MX_LOG_WARN, "content", "%s: %zu bytes not scanned",
			mx_content_target_name(g), n);
		return;
	}
	memcpy(s->blk, p, n);
	e = hs_scan(s->r->db[g], (const char *)s->blk, (unsigned)n, 0,
			s->scratch->s, on_match, s);
	if (e != HS_SUCCESS && e != HS_SCAN_TERMINATED) {
		s->v.n_errors++;
		MX_LOG_RL(MX_LOG_WARN, "content", "hs_scan(%s): error %d",
			mx_content_target_name(g), (int)e);
	}
}

/* ---- MIME walker callbacks ---- */

static void
cb_header_raw(void *u, const uint8_t *p, size_t n)
{
	scan_stream(u, MX_CONTENT_T_HEADERS, p, n);
}

static void
cb_header(void *u, unsigned depth, struct mx_str name, struct mx_str value)
{
	struct mx_content_scan *s = u;

	if (depth != 0)
		return;
	s->cur_hdr = name;
	scan_block(s, MX_CONTENT_T_HEADER, value.p, value.len);
}

static void
cb_part(void *u, const struct mx_mime_part *part)
{
	scan_block(u, MX_CONTENT_T_ATT_TYPE, part->type, part->type_len);
	if (part->name_len > 0)
		scan_block(u, MX_CONTENT_T_ATT_NAME, part->name, part->name_len);
}

static void
cb_text(void *u, const uint8_t *p, size_t n)
{
	scan_stream(u, MX_CONTENT_T_BODY, p, n);
}

static void
cb_defect(void *u, enum mx_content_defect d)
{
	struct mx_content_scan *s = u;
	const char *name = mx_content_defect_name(d);

	s->v.defects |= 1u << d;
	scan_block(s, MX_CONTENT_T_MIME_DEFECT, name, strlen(name));
}

static const struct mx_mime_ops scan_mime_ops = {
	.header_raw = cb_header_raw,
	.header = cb_header,
	.part = cb_part,
	.text = cb_text,
	.defect = cb_defect,
};

/* ---- scan ---- */

int
mx_content_scan_create(struct mx_content_rules *r, struct mx_content_scan **out)
{
	struct mx_content_scan *s = calloc(1, sizeof(*s));
	unsigned g;

	*out = NULL;
	if (s == NULL)
		return -ENOMEM;
	mx_content_rules_get(r);
	s->r = r;
	s->hits = calloc(r->max_hits, sizeof(*s->hits));
	s->hit_rule = calloc(r->max_hits, sizeof(*s->hit_rule));
	s->seen = calloc((r->n_rules + 7) / 8 + 1, 1);
	if (s->hits == NULL || s->hit_rule == NULL || s->seen == NULL)
		goto fail;
	for (g = 0; g < MX_CONTENT_T__COUNT; g++) {
		if (r->db[g] == NULL || !mx_content_group_streams(g))
			continue;
		if (hs_open_stream(r->db[g], 0, &s->st[g]) != HS_SUCCESS)
			goto fail;
	}
	mx_mime_init(&s->mime, &scan_mime_ops, s);
	*out = s;
	return 0;
fail:
	mx_content_scan_free(s);
	return -ENOMEM;
}

void
mx_content_scan_free(struct mx_content_scan *s)
{
	unsigned g;

	if (s == NULL)
		return;
	for (g = 0; g < MX_CONTENT_T__COUNT; g++)
		if (s->st[g] != NULL)
			hs_close_stream(s->st[g], NULL, NULL, NULL);
	free(s->hits);
	free(s->hit_rule);
	free(s->seen);
	mx_content_rules_put(s->r);
	free(s);
}

struct mx_content_rules *
mx_content_scan_rules(const struct mx_content_scan *s)
{
	return s->r;
}

void
mx_content_scan_begin(struct mx_content_scan *s, struct mx_content_scratch *scratch)
{
	unsigned g;

	if (s->dirty) {
		/* A message abandoned mid-way (RSET, a dropped link). */
		for (g = 0; g < MX_CONTENT_T__COUNT; g++)
			if (s->st[g] != NULL)
				hs_reset_stream(s->st[g], 0, NULL, NULL, NULL);
	}
	s->dirty = true;
	s->scratch = scratch;
	s->stopped = false;
	s->byte_capped = false;
	s->raw_off = 0;
	s->n_hits = 0;
	memset(s->seen, 0, (s->r->n_rules + 7) / 8 + 1);
	memset(&s->v, 0, sizeof(s->v));
	mx_mime_reset(&s->mime);
}

/* Hyperscan takes an unsigned int length: larger feeds go in slices. */
#define FEED_SLICE ((size_t)1 << 30)

static void scan_feed_one(struct mx_content_scan *s, const void *p, size_t len);

void
mx_content_scan_feed(struct mx_content_scan *s, const void *p, size_t len)
{
	const uint8_t *q = p;

	while (len > 0 && !s->stopped) {
		size_t k = MX_MIN(len, FEED_SLICE);

		scan_feed_one(s, q, k);
		q += k;
		len -= k;
	}
}

static void
scan_feed_one(struct mx_content_scan *s, const void *p, size_t len)
{
	size_t n;

	n = (size_t)MX_MIN((uint64_t)len, s->r->max_bytes - s->raw_off);
	scan_stream(s, MX_CONTENT_T_RAW, p, n);
	mx_mime_feed(&s->mime, p, n);
	s->raw_off += n;
	if (n < len && !s->stopped) {
		/* The byte cap: what lies beyond is not scanned, and a rule
		 * can act on that (target mime-defect, "scan-truncated"). */
		s->byte_capped = true;
		s->v.truncated = true;
		cb_defect(s, MX_CONTENT_D_SCAN_TRUNCATED);
		s->stopped = true;
	}
}

/* Hits in rules-file order, so the verdict and its report do not depend
 * on how the message was split into feeds. */
static void
hits_sort(struct mx_content_scan *s)
{
	unsigned i, j;

	for (i = 1; i < s->n_hits; i++) {
		struct mx_content_hit h = s->hits[i];
		unsigned k = s->hit_rule[i];

		for (j = i; j > 0 && s->hit_rule[j - 1] > k; j--) {
			s->hits[j] = s->hits[j - 1];
			s->hit_rule[j] = s->hit_rule[j - 1];
		}
		s->hits[j] = h;
		s->hit_rule[j] = k;
	}
}

static void
verdict(struct mx_content_scan *s)
{
	struct mx_content_verdict *v = &s->v;
	const struct mx_content_rule *decider = NULL;
	unsigned i;

	v->hits = s->hits;
	v->n_hits = s->n_hits;
	v->action = MX_CONTENT_ACCEPT;
	hits_sort(s);
	for (i = 0; i < s->n_hits; i++) {
		const struct mx_content_rule *ru = &s->r->rule[s->hit_rule[i]];

		if (ru->action == MX_CONTENT_SCORE) {
			v->score += ru->score;
		} else if (ru->action > v->action) {
			/* The first hit of the strongest action decides. */
			v->action = ru->action;
			decider = ru;
		}
	}
	if (v->action < MX_CONTENT_REJECT && s->r->thr_reject > 0 &&
			v->score >= s->r->thr_reject) {
		v->action = MX_CONTENT_REJECT;
		decider = NULL;
	} else if (v->action < MX_CONTENT_QUARANTINE && s->r->thr_quarantine > 0 &&
			v->score >= s->r->thr_quarantine) {
		v->action = MX_CONTENT_QUARANTINE;
		decider = NULL;
	}
	v->reason_id = decider != NULL ? decider->id : NULL;
	if (v->action == MX_CONTENT_REJECT) {
		v->reply_code = decider != NULL ? decider->code : 550;
		v->reply_text = decider != NULL && decider->text != NULL ?
			decider->text : "5.7.1 Message content rejected";
	}
}

const struct mx_content_verdict *
mx_content_scan_end(struct mx_content_scan *s)
{
	unsigned g;

	if (!s->stopped)
		mx_mime_finish(&s->mime);
	for (g = 0; g < MX_CONTENT_T__COUNT; g++) {
		if (s->st[g] == NULL)
			continue;
		/* Reports end-of-data matches ($ anchors) and readies the
		 * stream for the next message without allocating. */
		if (s->stopped)
			hs_reset_stream(s->st[g], 0, NULL, NULL, NULL);
		else
			hs_reset_stream(s->st[g], 0, s->scratch->s, on_match, s);
	}
	s->dirty = false;
	verdict(s);
	return &s->v;
}
