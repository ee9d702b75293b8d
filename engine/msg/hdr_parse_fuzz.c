/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hdr_parse_fuzz: libFuzzer harness for the header-section parser inside
 * mx_msg_append(). The input is fed twice, once whole and once in
 * pieces whose sizes are derived from the input bytes, and both indexes
 * must be identical (split invariance); then the consumer walks the index
 * and checks the invariants any input must satisfy: raw is the message
 * bytes at offset, names non-empty, bounds respected, body_offset within
 * the message. The first input byte picks small limits so that the
 * TOO_MANY / TOO_LONG paths are reached. Everything is released and the
 * pool must be empty afterwards.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mx_base.h"
#include "mx_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
read_at(const struct mx_msg *m, size_t off, uint8_t *dst, size_t n)
{
	const uint8_t *p;
	size_t k;

	while (n > 0) {
		k = mx_msg_view(m, off, &p);
		MX_ASSERT(k > 0);
		k = MX_MIN(k, n);
		memcpy(dst, p, k);
		dst += k;
		off += k;
		n -= k;
	}
}

static void
check_index(const struct mx_msg *m, uint8_t *scratch)
{
	const struct mx_hdr *h;
	size_t prev_end = 0;
	unsigned i, idx;

	MX_ASSERT(m->hdrs_done);
	MX_ASSERT(m->body_offset <= m->size);
	MX_ASSERT(m->n_hdrs <= m->max_headers);
	for (i = 0; i < m->n_hdrs; i++) {
		h = &m->hdrs[i];
		MX_ASSERT(h->name.len > 0);
		MX_ASSERT(h->name.len <= h->raw.len);
		MX_ASSERT(h->raw.len <= m->max_header_bytes);
		MX_ASSERT(h->value.len <= h->raw.len);
		MX_ASSERT(h->offset >= prev_end);
		MX_ASSERT(h->offset + h->raw.len <= m->body_offset);
		MX_ASSERT(memcmp(h->name.p, h->raw.p, h->name.len) == 0);
		read_at(m, h->offset, scratch, h->raw.len);
		MX_ASSERT(memcmp(scratch, h->raw.p, h->raw.len) == 0);
		prev_end = h->offset + h->raw.len;
		/* The consumer's lookup finds this field or an earlier one of
		 * the same name. */
		memcpy(scratch, h->name.p, h->name.len);
		scratch[h->name.len] = '\0';
		if (memchr(scratch, '\0', h->name.len) == NULL) {
			idx = 0;
			MX_ASSERT(mx_msg_find_hdr(m, (const char *)scratch, &idx) != NULL);
			MX_ASSERT(idx <= i + 1);
		}
	}
}

static void
same_index(const struct mx_msg *a, const struct mx_msg *b)
{
	unsigned i;

	MX_ASSERT(a->n_hdrs == b->n_hdrs);
	MX_ASSERT(a->hdr_flags == b->hdr_flags);
	MX_ASSERT(a->body_offset == b->body_offset);
	for (i = 0; i < a->n_hdrs; i++) {
		MX_ASSERT(a->hdrs[i].offset == b->hdrs[i].offset);
		MX_ASSERT(a->hdrs[i].raw.len == b->hdrs[i].raw.len);
		MX_ASSERT(a->hdrs[i].name.len == b->hdrs[i].name.len);
		MX_ASSERT(a->hdrs[i].value.len == b->hdrs[i].value.len);
		MX_ASSERT(memcmp(a->hdrs[i].value.p, b->hdrs[i].value.p,
				a->hdrs[i].value.len) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mx_chunk_pool *pool;
	struct mx_msg *whole, *split;
	unsigned max_headers = 100;
	size_t max_bytes = 998, off, k, i = 0;
	uint8_t *scratch;

	if (size > 0 && data[0] & 1) {
		max_headers = 1 + data[0] % 7;
		max_bytes = 1 + data[0] % 61;
	}
	if (mx_chunk_pool_create(16384, 64u << 20, &pool) != 0)
		return 0;
	scratch = malloc(16384);
	if (scratch == NULL ||
			mx_msg_create(pool, max_headers, max_bytes, &whole) != 0 ||
			mx_msg_create(pool, max_headers, max_bytes, &split) != 0)
		abort();
	MX_ASSERT(mx_msg_append(whole, data, size) == 0);
	for (off = 0; off < size; off += k) {
		k = 1 + (size_t)data[i++ % size] % 17;
		k = MX_MIN(k, size - off);
		MX_ASSERT(mx_msg_append(split, data + off, k) == 0);
	}
	mx_msg_finish(whole);
	mx_msg_finish(split);
	check_index(whole, scratch);
	check_index(split, scratch);
	same_index(whole, split);
	mx_msg_release(whole);
	mx_msg_release(split);
	MX_ASSERT(mx_chunk_pool_bytes_in_use(pool) == 0);
	mx_chunk_pool_free(pool);
	free(scratch);
	return 0;
}
