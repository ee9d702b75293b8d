/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * msg_test: the chunk pool (sizes, cap, failure injection, everything
 * returned on release), the data chain and zero-copy views across chunk
 * boundaries, the arena and envelope setters, the prepend block, a header
 * section spread over several chunks, and queue ids (format, and unique
 * over a million ids from each of two threads).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mx_msg.h"

#define CHUNK 16384u
#define LEN(lit) (sizeof(lit) - 1)

static uint64_t
lcg(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 33;
}

static void
test_pool_sizes(void **state)
{
	struct mx_chunk_pool *pool;
	struct mx_msg *m;

	(void)state;
	assert_int_equal(mx_chunk_pool_create(1, 1u << 20, &pool), 0);
	assert_int_equal(mx_chunk_pool_bytes_max(pool), 1u << 20);
	assert_int_equal(mx_chunk_pool_bytes_in_use(pool), 0);
	/* The msg lives in its first chunk: one chunk, nothing else. */
	assert_int_equal(mx_msg_create(pool, 10, 100, &m), 0);
	assert_int_equal(mx_chunk_pool_bytes_in_use(pool), CHUNK);
	mx_msg_release(m);
	assert_int_equal(mx_chunk_pool_bytes_in_use(pool), 0);
	mx_chunk_pool_free(pool);

	/* 20000 rounds up to 20480; the cap holds whole chunks only. */
	assert_int_equal(mx_chunk_pool_create(20000, 100000, &pool), 0);
	assert_int_equal(mx_chunk_pool_bytes_max(pool), 4 * 20480);
	mx_chunk_pool_free(pool);

	assert_int_equal(mx_chunk_pool_create(CHUNK, CHUNK - 1, &pool), -EINVAL);
	assert_int_equal(mx_chunk_pool_create(SIZE_MAX, SIZE_MAX, &pool), -EINVAL);
	mx_msg_release(NULL);
	mx_chunk_pool_free(NULL);
}

/* Appends size bytes of a seeded pattern in seeded pieces. */
static void
fill(struct mx_msg *m, uint8_t *ref, size_t size, uint64_t seed)
{
	size_t off = 0, k;
	uint64_t s = seed;

	for (off = 0; off < size; off++)
		ref[off] = (uint8_t)lcg(&s);
	for (off = 0; off < size; off += k) {
		k = 1 + lcg(&s) % 5000;
		if (k > size - off)
			k = size - off;
		assert_int_equal(mx_msg_append(m, ref + off, k), 0);
	}
}

static void
test_append_view(void **state)
{
	const size_t size = 5 * CHUNK + 123;
	struct mx_chunk_pool *pool;
	const uint8_t *p;
	struct mx_msg *m;
	uint8_t *ref;
	size_t off, k, runs = 0;

	(void)state;
	ref = malloc(size);
	assert_non_null(ref);
	assert_int_equal(mx_chunk_pool_create(CHUNK, 64 * CHUNK, &pool), 0);
	assert_int_equal(mx_msg_create(pool, 10, 100, &m), 0);
	/* No header section: the first byte is the body. */
	assert_int_equal(mx_msg_append(m, "\r\n", 2), 0);
	fill(m, ref + 2, size - 2, 7);
	memcpy(ref, "\r\n", 2);
	assert_int_equal(m->size, size);
	for (off = 0; off < size; off += k) {
		k = mx_msg_view(m, off, &p);
		assert_true(k > 0);
		assert_true(k <= CHUNK);
		assert_memory_equal(p, ref + off, k);
		runs++;
	}
	assert_int_equal(off, size);
	assert_true(runs >= 6);
	/* A view from the middle of a chunk runs to that chunk's end. */
	k = mx_msg_view(m, 100, &p);
	assert_memory_equal(p, ref + 100, k);
	assert_int_equal(mx_msg_view(m, size, &p), 0);
	assert_null(p);
	assert_int_equal(mx_msg_view(m, size + 1000, &p), 0);
	/* Data chunks plus the msg's own. */
	assert_true(mx_chunk_pool_bytes_in_use(pool) >= 7 * CHUNK);
	mx_msg_release(m);
	assert_int_equal(mx_chunk_pool_bytes_in_use(pool), 0);
	mx_chunk_pool_free(pool);
	free(ref);
}

/* Reads the whole message through mx_msg_view into buf. */
static size_t
read_all(const struct mx_msg *m, char *buf, size_t cap)
{
	const uint8_t *p;
	size_t off = 0, k;

	while ((k = mx_msg_view(m, off, &p)) > 0) {
		assert_true(off + k <= cap);
		memcpy(buf + off, p, k);
		off += k;
	}
	return off;
}

/* mx_msg_insert: a field renamed by a prefix before its name, with the
 * data spread over several chunks, several insertions in any order, the
 * offsets that move, and the refusals. */
static void
test_insert(void **state)
{
	static const char hdr[] = "Authentication-Results: mx.test; spf=pass\r\n"
		"Subject: s\r\n\r\n";
	static const struct {
		size_t off;          /* in the view before this insertion */
		const char *s;
		int rc;
	} t[] = {
		{ 0, "X-Mxedge-Forged-", 0 },
		{ 16 + 43, "X-", 0 },                /* before "Subject" */
		{ 3, "zz", -EINVAL },                /* inside an insertion */
		{ 0, "A: b\r\n", 0 },               /* in front of everything */
		{ 1u << 30, "x", -EINVAL },          /* past the end */
	};
	struct mx_chunk_pool *pool;
	struct mx_msg *m;
	char *body, *ref, *got;
	size_t body_len = 3 * CHUNK, n, i, ref_len;
	unsigned idx = 0;
	const struct mx_hdr *h;

	(void)state;
	body = malloc(body_len);
	ref = malloc(body_len + 256);
	got = malloc(body_len + 256);
	assert_non_null(body);
	assert_non_null(ref);
	assert_non_null(got);
	for (i = 0; i < body_len; i++)
		body[i] = (char)('a' + i % 26);
	assert_int_equal(mx_chunk_pool_create(CHUNK, 64 * CHUNK, &pool), 0);
	assert_int_equal(mx_msg_create(pool, 10, 1000, &m), 0);
	assert_int_equal(mx_msg_append(m, hdr, strlen(hdr)), 0);
	/* Before the data ended: refused. */
	assert_int_equal(mx_msg_insert(m, 0, "x", 1), -EINVAL);
	assert_int_equal(mx_msg_append(m, body, body_len), 0);
	mx_msg_finish(m);
	for (i = 0; i < MX_ARRAY_SIZE(t); i++)
		assert_int_equal(mx_msg_insert(m, t[i].off, t[i].s, strlen(t[i].s)), t[i].rc);
	ref_len = (size_t)snprintf(ref, 256, "A: b\r\nX-Mxedge-Forged-Authentication-Results: "
			"mx.test; spf=pass\r\nX-Subject: s\r\n\r\n");
	memcpy(ref + ref_len, body, body_len);
	ref_len += body_len;
	assert_int_equal(m->size, ref_len);
	n = read_all(m, got, body_len + 256);
	assert_int_equal(n, ref_len);
	assert_memory_equal(got, ref, n);
	/* The index follows: each field's offset is where its name now is,
	 * the body starts after the blank line. */
	h = mx_msg_find_hdr(m, "Subject", &idx);
	assert_non_null(h);
	assert_memory_equal(got + h->offset, "Subject:", 8);
	assert_memory_equal(got + m->body_offset, body, 16);
	/* No more appends once edited; a full edit list is -ENOSPC. */
	assert_int_equal(mx_msg_append(m, "x", 1), -EINVAL);
	for (i = 3; i < MX_MSG_MAX_INSERTS; i++)
		assert_int_equal(mx_msg_insert(m, m->size, "!", 1), 0);
	assert_int_equal(mx_msg_insert(m, 0, "!", 1), -ENOSPC);
	n = read_all(m, got, body_len + 256);
	assert_int_equal(n, ref_len + MX_MSG_MAX_INSERTS - 3);
	assert_memory_equal(got + ref_len, "!!!!!", MX_MSG_MAX_INSERTS - 3);
	mx_msg_release(m);
	mx_chunk_pool_free(pool);
	free(body);
	free(ref);
	free(got);
}

static void
test_arena_envelope(void **state)
{
	struct mx_chunk_pool *pool;
	struct mx_str s;
	struct mx_msg *m;
	char addr[64];
	unsigned i;
	void *p;

	(void)state;
	assert_int_equal(mx_chunk_pool_create(CHUNK, 64 * CHUNK, &pool), 0);
	assert_int_equal(mx_msg_create(pool, 10, 100, &m), 0);
	assert_int_equal(strlen(m->id), 16);

	assert_int_equal(mx_msg_strdup(m, MX_STR("abc"), &s), 0);
	assert_int_equal(s.len, 3);
	assert_string_equal(s.p, "abc");
	assert_int_equal(mx_msg_strdup(m, (struct mx_str){ 0, NULL }, &s), 0);
	assert_int_equal(s.len, 0);
	assert_string_equal(s.p, "");

	assert_int_equal(mx_msg_set_helo(m, MX_STR("client.example")), 0);
	assert_int_equal(mx_msg_set_mail(m, MX_STR("a@example.org"), MX_STR("SIZE=10")), 0);
	for (i = 0; i < 300; i++) {
		int n = snprintf(addr, sizeof(addr), "rcpt%u@example.org", i);

		assert_int_equal(mx_msg_add_rcpt(m, (struct mx_str){ (size_t)n, addr },
				i % 2 ? MX_STR("NOTIFY=NEVER") : MX_STR("")), 0);
	}
	/* Arena blocks are aligned for any type. */
	for (i = 0; i < 50; i++) {
		p = mx_msg_alloc(m, 1 + i * 7);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
		memset(p, 0xa5, 1 + i * 7);
	}
	assert_null(mx_msg_alloc(m, 2 * CHUNK));
	assert_int_equal(mx_msg_prepend(m, "Received: one\r\n", LEN("Received: one\r\n")), 0);
	assert_int_equal(mx_msg_prepend(m, "X-Two: 2\r\n", LEN("X-Two: 2\r\n")), 0);

	/* Everything still intact after all that arena traffic. */
	assert_string_equal(m->helo.p, "client.example");
	assert_int_equal(m->helo.len, LEN("client.example"));
	assert_string_equal(m->mail_from.p, "a@example.org");
	assert_string_equal(m->mail_params.p, "SIZE=10");
	assert_int_equal(m->n_rcpts, 300);
	for (i = 0; i < 300; i++) {
		snprintf(addr, sizeof(addr), "rcpt%u@example.org", i);
		assert_int_equal(m->rcpts[i].addr.len, strlen(addr));
		assert_string_equal(m->rcpts[i].addr.p, addr);
		assert_string_equal(m->rcpts[i].params.p, i % 2 ? "NOTIFY=NEVER" : "");
	}
	assert_int_equal(m->prepend.len, LEN("Received: one\r\nX-Two: 2\r\n"));
	assert_memory_equal(m->prepend.p, "Received: one\r\nX-Two: 2\r\n", m->prepend.len);

	/* The recipient array is one arena block: past what a chunk holds,
	 * -ENOMEM, and what was there stays. */
	for (i = 300; i < 2000; i++) {
		if (mx_msg_add_rcpt(m, MX_STR("x@example.org"), MX_STR("")) != 0)
			break;
	}
	assert_true(i > 500 && i < 2000);
	assert_int_equal(m->n_rcpts, i);
	assert_string_equal(m->rcpts[299].addr.p, "rcpt299@example.org");
	mx_msg_release(m);
	assert_int_equal(mx_chunk_pool_bytes_in_use(pool), 0);
	mx_chunk_pool_free(pool);
}

/* A header section of ~60 KiB over four 16 KiB chunks: fields that
 * straddle chunk boundaries are indexed whole. Also the cap of the index
 * to what one chunk holds. */
static void
test_headers_across_chunks(void **state)
{
	struct mx_chunk_pool *pool;
	struct mx_msg *m;
	char line[300], exp[300];
	size_t total = 0;
	unsigned i, n = 250;

	(void)state;
	assert_int_equal(mx_chunk_pool_create(CHUNK, 64 * CHUNK, &pool), 0);
	assert_int_equal(mx_msg_create(pool, 1000, 1000, &m), 0);
	assert_true(m->max_headers >= n && m->max_headers < 1000);
	for (i = 0; i < n; i++) {
		int len = snprintf(line, sizeof(line),
				"X-Field-%u: value %u %0*u\r\n"
				"\tand folded %u\r\n", i, i, 200, i, i);

		assert_int_equal(mx_msg_append(m, line, (size_t)len), 0);
		total += (size_t)len;
	}
	assert_true(total > 3 * CHUNK);
	assert_int_equal(mx_msg_append(m, "\r\nbody\r\n", 8), 0);
	mx_msg_finish(m);
	assert_int_equal(m->n_hdrs, n);
	assert_int_equal(m->hdr_flags, 0);
	assert_int_equal(m->body_offset, total + 2);
	for (i = 0; i < n; i++) {
		int len = snprintf(exp, sizeof(exp),
				"value %u %0*u\tand folded %u", i, 200, i, i);

		assert_int_equal(m->hdrs[i].value.len, (size_t)len);
		assert_memory_equal(m->hdrs[i].value.p, exp, (size_t)len);
		snprintf(exp, sizeof(exp), "X-Field-%u", i);
		assert_int_equal(m->hdrs[i].name.len, strlen(exp));
		assert_memory_equal(m->hdrs[i].name.p, exp, strlen(exp));
	}
	mx_msg_release(m);
	assert_int_equal(mx_chunk_pool_bytes_in_use(pool), 0);
	mx_chunk_pool_free(pool);
}

/* Running out: the pool cap, and the failure hook at every chunk take of
 * a message with headers (arena and data chunks). Every failure is
 * -ENOMEM, and release always returns every chunk. */
static void
test_exhaustion(void **state)
{
	static uint8_t big[20 * CHUNK];
	struct mx_chunk_pool *pool;
	struct mx_msg *m, *m2;
	char line[128];
	long n;
	int rc, i, len;

	(void)state;
	memset(big, 'x', sizeof(big));
	assert_int_equal(mx_chunk_pool_create(CHUNK, 4 * CHUNK, &pool), 0);
	assert_int_equal(mx_msg_create(pool, 10, 100, &m), 0);
	assert_int_equal(mx_msg_append(m, big, sizeof(big)), -ENOMEM);
	assert_int_equal(mx_chunk_pool_bytes_in_use(pool), 4 * CHUNK);
	assert_int_equal(mx_msg_create(pool, 10, 100, &m2), -ENOMEM);
	mx_msg_release(m);
	assert_int_equal(mx_chunk_pool_bytes_in_use(pool), 0);
	/* And the pool is whole again. */
	assert_int_equal(mx_msg_create(pool, 10, 100, &m), 0);
	assert_int_equal(mx_msg_append(m, big, 2 * CHUNK), 0);
	mx_msg_release(m);
	mx_chunk_pool_free(pool);

	assert_int_equal(mx_chunk_pool_create(CHUNK, 64 * CHUNK, &pool), 0);
	mx_chunk_pool_fail_after(pool, 0);
	assert_int_equal(mx_msg_create(pool, 10, 100, &m), -ENOMEM);
	for (n = 0; n < 12; n++) {
		mx_chunk_pool_fail_after(pool, n);
		rc = mx_msg_create(pool, 5000, 8000, &m);
		if (rc != 0) {
			assert_int_equal(rc, -ENOMEM);
			assert_int_equal(n, 0);
			continue;
		}
		for (i = 0; i < 2000 && rc == 0; i++) {
			len = snprintf(line, sizeof(line), "X-H-%d: %0*d\r\n", i, 40, i);
			rc = mx_msg_append(m, line, (size_t)len);
		}
		if (rc == 0)
			rc = mx_msg_append(m, big, sizeof(big));
		assert_int_equal(rc, -ENOMEM);
		mx_msg_release(m);
		assert_int_equal(mx_chunk_pool_bytes_in_use(pool), 0);
	}
	mx_chunk_pool_fail_after(pool, -1);
	assert_int_equal(mx_msg_create(pool, 10, 100, &m), 0);
	assert_int_equal(mx_msg_append(m, big, sizeof(big)), 0);
	assert_int_equal(mx_msg_set_helo(m, MX_STR("h")), 0);
	mx_msg_release(m);
	assert_int_equal(mx_chunk_pool_bytes_in_use(pool), 0);
	mx_chunk_pool_free(pool);
}

#define IDS_PER_THREAD 1000000u

static void *
id_thread(void *arg)
{
	char (*ids)[16] = arg;
	char id[MX_MSG_ID_SIZE];
	unsigned i;

	for (i = 0; i < IDS_PER_THREAD; i++) {
		mx_msg_new_id(id);
		memcpy(ids[i], id, 16);
	}
	return NULL;
}

static int
id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

static void
test_ids(void **state)
{
	static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	char (*ids)[16];
	char id[MX_MSG_ID_SIZE];
	pthread_t t[2];
	size_t i, n = 2 * IDS_PER_THREAD;

	(void)state;
	memset(id, 'x', sizeof(id));
	mx_msg_new_id(id);
	assert_int_equal(strlen(id), 16);
	for (i = 0; i < 16; i++)
		assert_non_null(strchr(alphabet, id[i]));
	for (i = 16; i < MX_MSG_ID_SIZE; i++)
		assert_int_equal(id[i], 0);

	ids = malloc(n * 16);
	assert_non_null(ids);
	assert_int_equal(pthread_create(&t[0], NULL, id_thread, ids), 0);
	assert_int_equal(pthread_create(&t[1], NULL, id_thread, ids + IDS_PER_THREAD), 0);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	qsort(ids, n, 16, id_cmp);
	for (i = 1; i < n; i++)
		assert_true(memcmp(ids[i - 1], ids[i], 16) != 0);
	free(ids);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_sizes),
		cmocka_unit_test(test_append_view),
		cmocka_unit_test(test_insert),
		cmocka_unit_test(test_arena_envelope),
		cmocka_unit_test(test_headers_across_chunks),
		cmocka_unit_test(test_exhaustion),
		cmocka_unit_test(test_ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
