/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * header_parse_test: the RFC 5322 header-section index built by
 * mx_msg_append(), table-driven. Every case runs three ways: in one
 * append, split in two at every byte offset, and one byte per append; all
 * must give the expected index. Every run also checks the invariants that
 * hold for any input: raw is a verbatim copy of the message bytes at
 * offset, offsets grow, names are non-empty, body_offset <= size.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mx_msg.h"

#define SKIP ((size_t)-1)
#define LEN(lit) (sizeof(lit) - 1)

struct exp_hdr {
	const char *name;
	const char *value;
	size_t value_len;   /* 0: strlen(value) */
	const char *raw;    /* NULL: not checked beyond the invariants */
	size_t offset;      /* SKIP: not checked */
};

struct hdr_case {
	const char *what;
	const char *in;
	size_t in_len;         /* 0: strlen(in) */
	unsigned max_headers;  /* 0: 100 */
	size_t max_hdr_bytes;  /* 0: 1000 */
	unsigned flags;
	size_t body_offset;    /* SKIP: the input length */
	unsigned n_hdrs;
	struct exp_hdr h[4];
};

static const struct hdr_case cases[] = {
	{ "simple", "Subject: hi\r\nFrom: a@b\r\n\r\nbody\r\n", 0, 0, 0, 0,
		LEN("Subject: hi\r\nFrom: a@b\r\n\r\n"), 2, {
			{ "Subject", "hi", 0, "Subject: hi", 0 },
			{ "From", "a@b", 0, "From: a@b", LEN("Subject: hi\r\n") } } },
	{ "folded spaces and tabs", "Subject: a\r\n b\r\n\tc\r\nX: y\r\n\r\n", 0, 0, 0, 0,
		LEN("Subject: a\r\n b\r\n\tc\r\nX: y\r\n\r\n"), 2, {
			{ "Subject", "a b\tc", 0, "Subject: a\r\n b\r\n\tc", 0 },
			{ "X", "y", 0, "X: y", LEN("Subject: a\r\n b\r\n\tc\r\n") } } },
	{ "fold right after the colon", "To:\r\n  x@y\r\n\r\n", 0, 0, 0, 0,
		LEN("To:\r\n  x@y\r\n\r\n"), 1, {
			{ "To", "x@y", 0, "To:\r\n  x@y", 0 } } },
	{ "whitespace-only continuation", "A: x\r\n \r\n\r\n", 0, 0, 0, 0,
		LEN("A: x\r\n \r\n\r\n"), 1, {
			{ "A", "x", 0, "A: x\r\n ", 0 } } },
	{ "empty values", "X-Empty:\r\nY: \t \r\n\r\n", 0, 0, 0, 0,
		LEN("X-Empty:\r\nY: \t \r\n\r\n"), 2, {
			{ "X-Empty", "", 0, "X-Empty:", 0 },
			{ "Y", "", 0, "Y: \t ", LEN("X-Empty:\r\n") } } },
	{ "no body", "A: 1\r\n\r\n", 0, 0, 0, 0, SKIP, 1, {
			{ "A", "1", 0, "A: 1", 0 } } },
	{ "no empty line at the end", "A: 1\r\nB: 2\r\n", 0, 0, 0, 0, SKIP, 2, {
			{ "A", "1", 0, "A: 1", 0 },
			{ "B", "2", 0, "B: 2", LEN("A: 1\r\n") } } },
	{ "no final CRLF", "A: 1", 0, 0, 0, 0, SKIP, 1, {
			{ "A", "1", 0, "A: 1", 0 } } },
	{ "final bare CR", "A: 1\r", 0, 0, 0, 0, SKIP, 1, {
			{ "A", "1\r", 0, "A: 1\r", 0 } } },
	{ "empty input", "", 0, 0, 0, 0, 0, 0, { { 0 } } },
	{ "CRLF CRLF at start: empty header section", "\r\n\r\nbody", 0, 0, 0, 0, 2, 0,
		{ { 0 } } },
	{ "mbox From line on top", "From a@b Mon Jan  1 00:00:00 2024\r\nSubject: x\r\n\r\nb",
		0, 0, 0, MX_HDR_F_NO_COLON, 0, 0, { { 0 } } },
	{ "line without colon ends the section", "A: 1\r\nnot a header\r\nB: 2\r\n\r\n",
		0, 0, 0, MX_HDR_F_NO_COLON, LEN("A: 1\r\n"), 1, {
			{ "A", "1", 0, "A: 1", 0 } } },
	{ "name alone on a line", "A: 1\r\nB\r\n\r\n", 0, 0, 0, MX_HDR_F_NO_COLON,
		LEN("A: 1\r\n"), 1, { { "A", "1", 0, "A: 1", 0 } } },
	{ "name alone at end of data", "A: 1\r\nBcd", 0, 0, 0, MX_HDR_F_NO_COLON,
		LEN("A: 1\r\n"), 1, { { "A", "1", 0, "A: 1", 0 } } },
	{ "WSP inside the name", "X Y: z\r\n\r\n", 0, 0, 0, MX_HDR_F_NO_COLON, 0, 0,
		{ { 0 } } },
	{ "leading colon", ": x\r\n\r\n", 0, 0, 0, MX_HDR_F_NO_COLON, 0, 0, { { 0 } } },
	{ "leading WSP", " A: 1\r\n\r\n", 0, 0, 0, MX_HDR_F_LEADING_WSP, 0, 0, { { 0 } } },
	{ "WSP before the colon", "Subject \t: x\r\n\r\n", 0, 0, 0, 0,
		LEN("Subject \t: x\r\n\r\n"), 1, {
			{ "Subject", "x", 0, "Subject \t: x", 0 } } },
	{ "control byte in name", "X\x01Y: v\r\n\r\n", 0, 0, 0, MX_HDR_F_BAD_NAME,
		LEN("X\x01Y: v\r\n\r\n"), 1, { { "X\x01Y", "v", 0, "X\x01Y: v", 0 } } },
	{ "8-bit name", "Caf\xc3\xa9: v\r\n\r\n", 0, 0, 0, MX_HDR_F_BAD_NAME | MX_HDR_F_8BIT,
		LEN("Caf\xc3\xa9: v\r\n\r\n"), 1, { { "Caf\xc3\xa9", "v", 0, NULL, 0 } } },
	{ "bare CR in name", "X\rY: v\r\n\r\n", 0, 0, 0, MX_HDR_F_BAD_NAME,
		LEN("X\rY: v\r\n\r\n"), 1, { { "X\rY", "v", 0, "X\rY: v", 0 } } },
	{ "8-bit value", "Subject: caf\xc3\xa9\r\n\r\n", 0, 0, 0, MX_HDR_F_8BIT, SKIP, 1, {
			{ "Subject", "caf\xc3\xa9", 0, NULL, 0 } } },
	{ "NUL in value", "A: x\0y\r\n\r\n", LEN("A: x\0y\r\n\r\n"), 0, 0, MX_HDR_F_NUL,
		SKIP, 1, { { "A", "x\0y", 3, NULL, 0 } } },
	{ "NUL in name", "A\0: x\r\n\r\n", LEN("A\0: x\r\n\r\n"), 0, 0,
		MX_HDR_F_NUL | MX_HDR_F_BAD_NAME, SKIP, 1, { { NULL, "x", 0, NULL, 0 } } },
	{ "bare CR and LF in value", "A: x\ry\nz\r\n\r\n", 0, 0, 0, 0, SKIP, 1, {
			{ "A", "x\ry\nz", 0, "A: x\ry\nz", 0 } } },
	{ "duplicate fields", "Received: a\r\nReceived: b\r\n\r\n", 0, 0, 0, 0, SKIP, 2, {
			{ "Received", "a", 0, "Received: a", 0 },
			{ "Received", "b", 0, "Received: b", LEN("Received: a\r\n") } } },
	{ "field over max_header_bytes", "Subject: 0123456789abcdef\r\nB: 1\r\n\r\nx", 0, 0, 16,
		MX_HDR_F_TOO_LONG, LEN("Subject: 0123456789abcdef\r\nB: 1\r\n\r\n"), 2, {
			{ "Subject", "0123456", 0, "Subject: 0123456", 0 },
			{ "B", "1", 0, "B: 1", LEN("Subject: 0123456789abcdef\r\n") } } },
	{ "truncated inside the name", "Subject: x\r\n\r\n", 0, 0, 4, MX_HDR_F_TOO_LONG,
		SKIP, 1, { { "Subj", "", 0, "Subj", 0 } } },
	{ "truncated inside a fold", "A: 123456\r\n 789\r\n\r\n", 0, 0, 12, MX_HDR_F_TOO_LONG,
		SKIP, 1, { { "A", "123456", 0, "A: 123456\r\n ", 0 } } },
	{ "more than max_headers", "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\nbody", 0, 2, 0,
		MX_HDR_F_TOO_MANY, LEN("A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"), 2, {
			{ "A", "1", 0, "A: 1", 0 },
			{ "B", "2", 0, "B: 2", LEN("A: 1\r\n") } } },
	{ "LF-only input is one long field", "A: 1\nB: 2\n\nbody", 0, 0, 0, 0, SKIP, 1, {
			{ "A", "1\nB: 2\n\nbody", 0, "A: 1\nB: 2\n\nbody", 0 } } },
	{ "LF-only input, truncated", "A: 1\nB: 2\n\nbody", 0, 0, 6, MX_HDR_F_TOO_LONG, SKIP,
		1, { { "A", "1\nB", 0, "A: 1\nB", 0 } } },
	{ "body looks like headers", "A: 1\r\n\r\nB: 2\r\n", 0, 0, 0, 0, LEN("A: 1\r\n\r\n"), 1,
		{ { "A", "1", 0, "A: 1", 0 } } },
};

struct env {
	struct mx_chunk_pool *pool;
};

static int
setup(void **state)
{
	static struct env e;

	assert_int_equal(mx_chunk_pool_create(16384, 8u << 20, &e.pool), 0);
	*state = &e;
	return 0;
}

static int
teardown(void **state)
{
	struct env *e = *state;

	assert_int_equal(mx_chunk_pool_bytes_in_use(e->pool), 0);
	mx_chunk_pool_free(e->pool);
	return 0;
}

static size_t
case_len(const struct hdr_case *c)
{
	return c->in_len ? c->in_len : strlen(c->in);
}

/* Copies n message bytes at off out of the chunk chain. */
static void
msg_read(const struct mx_msg *m, size_t off, void *dst, size_t n)
{
	const uint8_t *p;
	size_t k;

	while (n > 0) {
		k = mx_msg_view(m, off, &p);
		assert_true(k > 0);
		k = k < n ? k : n;
		memcpy(dst, p, k);
		dst = (uint8_t *)dst + k;
		off += k;
		n -= k;
	}
}

static void
check_invariants(const struct mx_msg *m)
{
	static uint8_t buf[1 << 16];
	size_t prev_end = 0;
	unsigned i;

	assert_true(m->hdrs_done);
	assert_true(m->body_offset <= m->size);
	assert_true(m->n_hdrs <= m->max_headers);
	for (i = 0; i < m->n_hdrs; i++) {
		const struct mx_hdr *h = &m->hdrs[i];

		assert_true(h->name.len > 0);
		assert_true(h->raw.len <= m->max_header_bytes);
		assert_true(h->offset >= prev_end);
		assert_true(h->offset + h->raw.len <= m->body_offset);
		assert_true(h->name.len <= h->raw.len);
		assert_memory_equal(h->name.p, h->raw.p, h->name.len);
		assert_true(h->raw.len <= sizeof(buf));
		msg_read(m, h->offset, buf, h->raw.len);
		assert_memory_equal(buf, h->raw.p, h->raw.len);
		prev_end = h->offset + h->raw.len;
	}
}

static void
check_case(const struct hdr_case *c, const struct mx_msg *m)
{
	size_t body = c->body_offset == SKIP ? case_len(c) : c->body_offset;
	unsigned i;

	check_invariants(m);
	assert_int_equal(m->size, case_len(c));
	assert_int_equal(m->hdr_flags, c->flags);
	assert_int_equal(m->body_offset, body);
	assert_int_equal(m->n_hdrs, c->n_hdrs);
	for (i = 0; i < c->n_hdrs; i++) {
		const struct exp_hdr *e = &c->h[i];
		const struct mx_hdr *h = &m->hdrs[i];
		size_t vlen = e->value_len ? e->value_len : strlen(e->value);

		if (e->name != NULL) {
			assert_int_equal(h->name.len, strlen(e->name));
			assert_memory_equal(h->name.p, e->name, h->name.len);
		}
		assert_int_equal(h->value.len, vlen);
		assert_memory_equal(h->value.p, e->value, vlen);
		if (e->raw != NULL) {
			assert_int_equal(h->raw.len, strlen(e->raw));
			assert_memory_equal(h->raw.p, e->raw, h->raw.len);
		}
		if (e->offset != SKIP)
			assert_int_equal(h->offset, e->offset);
	}
}

static struct mx_msg *
new_msg(struct env *e, const struct hdr_case *c)
{
	struct mx_msg *m;

	assert_int_equal(mx_msg_create(e->pool, c->max_headers ? c->max_headers : 100,
			c->max_hdr_bytes ? c->max_hdr_bytes : 1000, &m), 0);
	return m;
}

static void
run_split(struct env *e, const struct hdr_case *c, size_t split)
{
	size_t n = case_len(c);
	struct mx_msg *m = new_msg(e, c);

	assert_int_equal(mx_msg_append(m, c->in, split), 0);
	assert_int_equal(mx_msg_append(m, c->in + split, n - split), 0);
	mx_msg_finish(m);
	check_case(c, m);
	mx_msg_release(m);
}

static void
run_bytewise(struct env *e, const struct hdr_case *c)
{
	size_t i, n = case_len(c);
	struct mx_msg *m = new_msg(e, c);

	for (i = 0; i < n; i++)
		assert_int_equal(mx_msg_append(m, c->in + i, 1), 0);
	mx_msg_finish(m);
	check_case(c, m);
	mx_msg_release(m);
}

static void
test_table_every_split(void **state)
{
	struct env *e = *state;
	size_t i, k;

	for (i = 0; i < MX_ARRAY_SIZE(cases); i++) {
		print_message("case: %s\n", cases[i].what);
		for (k = 0; k <= case_len(&cases[i]); k++)
			run_split(e, &cases[i], k);
		run_bytewise(e, &cases[i]);
	}
}

/* The index is complete as soon as the empty line arrives, before
 * mx_msg_finish(); body_offset tracks size until then. */
static void
test_ready_at_empty_line(void **state)
{
	struct env *e = *state;
	struct mx_msg *m;

	assert_int_equal(mx_msg_create(e->pool, 10, 100, &m), 0);
	assert_int_equal(mx_msg_append(m, "A: 1\r\nB: 2\r", 11), 0);
	assert_false(m->hdrs_done);
	assert_int_equal(m->body_offset, 11);
	assert_int_equal(m->n_hdrs, 1);
	assert_int_equal(mx_msg_append(m, "\n", 1), 0);
	assert_false(m->hdrs_done);
	assert_int_equal(mx_msg_append(m, "\r\nbody", 6), 0);
	assert_true(m->hdrs_done);
	assert_int_equal(m->n_hdrs, 2);
	assert_int_equal(m->body_offset, 14);
	assert_int_equal(mx_msg_append(m, "\r\nC: 3\r\n", 8), 0);
	assert_int_equal(m->n_hdrs, 2);
	assert_int_equal(m->body_offset, 14);
	mx_msg_finish(m);
	assert_int_equal(m->n_hdrs, 2);
	assert_int_equal(m->body_offset, 14);
	assert_int_equal(m->size, 26);
	mx_msg_release(m);
}

static void
test_find_hdr(void **state)
{
	static const char in[] = "received: 1\r\nSubject: s\r\nRECEIVED: 2\r\n"
		"Receivedx: no\r\nReceived : 3\r\n\r\n";
	struct env *e = *state;
	const struct mx_hdr *h;
	struct mx_msg *m;
	unsigned idx = 0;

	assert_int_equal(mx_msg_create(e->pool, 10, 100, &m), 0);
	assert_int_equal(mx_msg_append(m, in, LEN(in)), 0);
	mx_msg_finish(m);
	h = mx_msg_find_hdr(m, "Received", &idx);
	assert_non_null(h);
	assert_memory_equal(h->value.p, "1", 1);
	assert_int_equal(idx, 1);
	h = mx_msg_find_hdr(m, "Received", &idx);
	assert_non_null(h);
	assert_memory_equal(h->value.p, "2", 1);
	h = mx_msg_find_hdr(m, "Received", &idx);
	assert_non_null(h);
	assert_memory_equal(h->value.p, "3", 1);
	assert_null(mx_msg_find_hdr(m, "Received", &idx));
	idx = 0;
	h = mx_msg_find_hdr(m, "sUBJECT", &idx);
	assert_non_null(h);
	assert_int_equal(idx, 2);
	idx = 0;
	assert_null(mx_msg_find_hdr(m, "Subj", &idx));
	mx_msg_release(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_every_split),
		cmocka_unit_test(test_ready_at_empty_line),
		cmocka_unit_test(test_find_hdr),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
