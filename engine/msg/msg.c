/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * msg.c: the chunk pool, the per-message bump arena, the data chain, the
 * envelope setters and queue ids (contract in mx_msg.h).
 *
 * Chunk pool. One virtual region of max_bytes is reserved at create
 * (MAP_NORESERVE: pages are committed only when first touched) and carved
 * into fixed-size chunks on demand; released chunks go on a free list and
 * are reused first. So a worker never calls the system allocator after
 * start, and the byte cap is simply the size of the region. The pool is
 * single-threaded (its worker); the I/O thread only reads chunks of a msg
 * the worker lent it. Under AddressSanitizer the payload of a free chunk
 * is poisoned, so a use after mx_msg_release() is reported.
 *
 * Message layout. The first chunk of a msg holds struct mx_msg followed by
 * the arena; further arena chunks are pushed in front of arena_head (the
 * newest is the one being bumped). Message bytes go to a separate chain
 * (data_head..data_tail), so mx_msg_view() returns long contiguous runs.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "mx_base.h"
#include "mx_log.h"
#include "mx_msg.h"
#include "msg_priv.h"

#if defined(__SANITIZE_ADDRESS__)
#define MX_MSG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MX_MSG_ASAN 1
#endif
#endif

#ifdef MX_MSG_ASAN
#include <sanitizer/asan_interface.h>
#define CHUNK_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define CHUNK_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define CHUNK_POISON(p, n) ((void)(p), (void)(n))
#define CHUNK_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define CHUNK_ROUND ((size_t)4096)
#define CHUNK_MIN ((size_t)16384)

struct mx_chunk_pool {
	uint8_t *base;          /* the reserved region */
	size_t region_bytes;
	size_t chunk_bytes;     /* one chunk, header included */
	size_t payload;         /* usable bytes of a chunk */
	size_t n_max;           /* chunks the region holds */
	size_t n_carved;        /* chunks ever handed out of the region */
	size_t n_taken;         /* chunks currently owned by msgs */
	struct mx_chunk *free_list;
	long fail_after;        /* < 0: no failure injection */
};

_Static_assert(sizeof(struct mx_msg) + sizeof(struct mx_chunk) < CHUNK_MIN / 4,
		"struct mx_msg must leave most of the first chunk to the arena");

static inline size_t
align_up(size_t n)
{
	return (n + MX_MSG_ALIGN - 1) & ~(MX_MSG_ALIGN - 1);
}

int
mx_chunk_pool_create(size_t chunk_bytes, size_t max_bytes, struct mx_chunk_pool **out)
{
	struct mx_chunk_pool *pool;
	size_t cb;
	void *base;

	if (chunk_bytes > SIZE_MAX / 2)
		return -EINVAL;
	cb = (chunk_bytes + CHUNK_ROUND - 1) & ~(CHUNK_ROUND - 1);
	if (cb < CHUNK_MIN)
		cb = CHUNK_MIN;
	if (max_bytes / cb == 0)
		return -EINVAL;
	pool = calloc(1, sizeof(*pool));
	if (pool == NULL)
		return -ENOMEM;
	pool->chunk_bytes = cb;
	pool->payload = cb - sizeof(struct mx_chunk);
	pool->n_max = max_bytes / cb;
	pool->region_bytes = pool->n_max * cb;
	pool->fail_after = -1;
	base = mmap(NULL, pool->region_bytes, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED) {
		free(pool);
		return -ENOMEM;
	}
	pool->base = base;
	*out = pool;
	return 0;
}

void
mx_chunk_pool_free(struct mx_chunk_pool *pool)
{
	if (pool == NULL)
		return;
	/* A msg still held here (a delivery that never reported because
	 * the I/O thread stopped first) dies with the pool: nothing can
	 * reach it any more, so say so and unmap. */
	if (pool->n_taken != 0)
		MX_LOG(MX_LOG_WARN, "msg", "chunk pool freed with %zu chunks still held",
				pool->n_taken);
	CHUNK_UNPOISON(pool->base, pool->region_bytes);
	munmap(pool->base, pool->region_bytes);
	free(pool);
}

size_t
mx_chunk_pool_bytes_in_use(const struct mx_chunk_pool *pool)
{
	return pool->n_taken * pool->chunk_bytes;
}

size_t
mx_chunk_pool_bytes_max(const struct mx_chunk_pool *pool)
{
	return pool->region_bytes;
}

void
mx_chunk_pool_fail_after(struct mx_chunk_pool *pool, long n)
{
	pool->fail_after = n < 0 ? -1 : n;
}

static struct mx_chunk *
chunk_take(struct mx_chunk_pool *pool)
{
	struct mx_chunk *c;

	if (pool->fail_after == 0)
		return NULL;
	if (pool->free_list != NULL) {
		c = pool->free_list;
		pool->free_list = c->next;
	} else if (pool->n_carved < pool->n_max) {
		c = (struct mx_chunk *)(pool->base + pool->n_carved * pool->chunk_bytes);
		pool->n_carved++;
	} else {
		return NULL;
	}
	if (pool->fail_after > 0)
		pool->fail_after--;
	CHUNK_UNPOISON(c->data, pool->payload);
	c->next = NULL;
	c->len = 0;
	pool->n_taken++;
	return c;
}

static void
chunk_put(struct mx_chunk_pool *pool, struct mx_chunk *c)
{
	MX_ASSERT(pool->n_taken > 0);
	CHUNK_POISON(c->data, pool->payload);
	c->next = pool->free_list;
	pool->free_list = c;
	pool->n_taken--;
}

void *
mx_msg_arena_alloc(struct mx_msg *m, size_t size)
{
	size_t payload = m->pool->payload;
	size_t off = align_up(m->arena_used);
	struct mx_chunk *c;

	if (size > payload)
		return NULL;
	if (off > payload || size > payload - off) {
		c = chunk_take(m->pool);
		if (c == NULL)
			return NULL;
		c->next = m->arena_head;
		m->arena_head = c;
		off = 0;
	}
	m->arena_used = off + size;
	return m->arena_head->data + off;
}

static bool
arena_is_top(const struct mx_msg *m, const void *p, size_t size)
{
	return (const uint8_t *)p + size == m->arena_head->data + m->arena_used;
}

void *
mx_msg_arena_grow(struct mx_msg *m, void *p, size_t old, size_t new_size)
{
	size_t more = new_size - old;
	void *q;

	MX_ASSERT(new_size >= old);
	if (p != NULL && arena_is_top(m, p, old) &&
			more <= m->pool->payload - m->arena_used) {
		m->arena_used += more;
		return p;
	}
	q = mx_msg_arena_alloc(m, new_size);
	if (q != NULL && old > 0)
		memcpy(q, p, old);
	return q;
}

void
mx_msg_arena_trim(struct mx_msg *m, void *p, size_t cap, size_t len)
{
	if (p != NULL && len <= cap && arena_is_top(m, p, cap))
		m->arena_used -= cap - len;
}

int
mx_msg_create(struct mx_chunk_pool *pool, unsigned max_headers,
		size_t max_header_bytes, struct mx_msg **out)
{
	struct mx_chunk *c;
	struct mx_msg *m;

	c = chunk_take(pool);
	if (c == NULL)
		return -ENOMEM;
	m = (struct mx_msg *)c->data;
	memset(m, 0, sizeof(*m));
	m->pool = pool;
	m->arena_head = c;
	m->arena_used = align_up(sizeof(*m));
	/* The index is one array and a field one block in the arena, so
	 * neither can exceed a chunk; a field keeps at least one byte so
	 * that every indexed name is non-empty. */
	m->max_headers = MX_MIN(max_headers, (unsigned)(pool->payload / sizeof(struct mx_hdr)));
	m->max_header_bytes = MX_MAX(MX_MIN(max_header_bytes, pool->payload / 2), (size_t)1);
	mx_msg_new_id(m->id);
	mx_msg_hdr_init(m);
	*out = m;
	return 0;
}

void
mx_msg_release(struct mx_msg *m)
{
	struct mx_chunk_pool *pool;
	struct mx_chunk *c, *next;

	if (m == NULL)
		return;
	pool = m->pool;
	c = m->data_head;
	for (; c != NULL; c = next) {
		next = c->next;
		chunk_put(pool, c);
	}
	/* The msg itself lives in the last arena chunk: read the list head
	 * before any chunk goes back. */
	c = m->arena_head;
	for (; c != NULL; c = next) {
		next = c->next;
		chunk_put(pool, c);
	}
}

void *
mx_msg_alloc(struct mx_msg *m, size_t size)
{
	return mx_msg_arena_alloc(m, size);
}

int
mx_msg_strdup(struct mx_msg *m, struct mx_str s, struct mx_str *out)
{
	char *p;

	if (s.len == SIZE_MAX)
		return -ENOMEM;
	p = mx_msg_arena_alloc(m, s.len + 1);
	if (p == NULL)
		return -ENOMEM;
	if (s.len > 0)
		memcpy(p, s.p, s.len);
	p[s.len] = '\0';
	out->p = p;
	out->len = s.len;
	return 0;
}

int
mx_msg_set_helo(struct mx_msg *m, struct mx_str helo)
{
	return mx_msg_strdup(m, helo, &m->helo);
}

int
mx_msg_set_mail(struct mx_msg *m, struct mx_str reverse_path, struct mx_str params)
{
	struct mx_str path, par;
	int rc;

	rc = mx_msg_strdup(m, reverse_path, &path);
	if (rc == 0)
		rc = mx_msg_strdup(m, params, &par);
	if (rc != 0)
		return rc;
	m->mail_from = path;
	m->mail_params = par;
	return 0;
}

static int
rcpt_reserve(struct mx_msg *m)
{
	unsigned cap, max = (unsigned)(m->pool->payload / sizeof(*m->rcpts));
	void *p;

	if (m->n_rcpts < m->rcpt_cap)
		return 0;
	if (m->rcpt_cap >= max)
		return -ENOMEM;
	cap = m->rcpt_cap == 0 ? 8 : MX_MIN(m->rcpt_cap * 2, max);
	p = mx_msg_arena_grow(m, m->rcpts, m->rcpt_cap * sizeof(*m->rcpts),
			cap * sizeof(*m->rcpts));
	if (p == NULL)
		return -ENOMEM;
	m->rcpts = p;
	m->rcpt_cap = cap;
	return 0;
}

int
mx_msg_add_rcpt(struct mx_msg *m, struct mx_str forward_path, struct mx_str params)
{
	struct mx_rcpt r;
	int rc;

	rc = mx_msg_strdup(m, forward_path, &r.addr);
	if (rc == 0)
		rc = mx_msg_strdup(m, params, &r.params);
	if (rc == 0)
		rc = rcpt_reserve(m);
	if (rc != 0)
		return rc;
	m->rcpts[m->n_rcpts++] = r;
	return 0;
}

int
mx_msg_prepend(struct mx_msg *m, const char *field, size_t len)
{
	size_t old = m->prepend.len;
	char *p;

	if (len > SIZE_MAX - old)
		return -ENOMEM;
	p = mx_msg_arena_grow(m, (char *)(uintptr_t)m->prepend.p, old, old + len);
	if (p == NULL)
		return -ENOMEM;
	memcpy(p + old, field, len);
	m->prepend.p = p;
	m->prepend.len = old + len;
	return 0;
}

static struct mx_chunk *
data_tail_with_room(struct mx_msg *m)
{
	struct mx_chunk *c = m->data_tail;

	if (c != NULL && c->len < m->pool->payload)
		return c;
	c = chunk_take(m->pool);
	if (c == NULL)
		return NULL;
	if (m->data_tail == NULL)
		m->data_head = c;
	else
		m->data_tail->next = c;
	m->data_tail = c;
	return c;
}

int
mx_msg_append(struct mx_msg *m, const void *p, size_t n)
{
	const uint8_t *src = p;
	struct mx_chunk *c;
	size_t k;
	int rc;

	/* Offsets past an insertion are no longer those of the data. */
	if (m->n_ins > 0 && n > 0)
		return -EINVAL;
	while (n > 0) {
		c = data_tail_with_room(m);
		if (c == NULL)
			return -ENOMEM;
		k = MX_MIN(n, m->pool->payload - c->len);
		memcpy(c->data + c->len, src, k);
		if (!m->hdrs_done) {
			rc = mx_msg_hdr_feed(m, src, k, m->size);
			if (rc != 0)
				return rc;
		}
		c->len += k;
		m->size += k;
		if (!m->hdrs_done)
			m->body_offset = m->size;
		src += k;
		n -= k;
	}
	return 0;
}

void
mx_msg_finish(struct mx_msg *m)
{
	m->ended = true;
	if (!m->hdrs_done)
		mx_msg_hdr_finish(m);
}

/* The appended bytes alone, without insertions. */
static size_t
view_data(const struct mx_msg *m, size_t off, const uint8_t **p)
{
	const struct mx_chunk *c;

	for (c = m->data_head; c != NULL; c = c->next) {
		if (off < c->len) {
			*p = c->data + off;
			return c->len - off;
		}
		off -= c->len;
	}
	*p = NULL;
	return 0;
}

size_t
mx_msg_view(const struct mx_msg *m, size_t off, const uint8_t **p)
{
	size_t data = 0, seg, n;
	unsigned i;

	for (i = 0; i < m->n_ins; i++) {
		seg = m->ins[i].off - data;
		if (off < seg) {
			n = view_data(m, data + off, p);
			return MX_MIN(n, seg - off);
		}
		off -= seg;
		data = m->ins[i].off;
		if (off < m->ins[i].len) {
			*p = (const uint8_t *)m->ins[i].p + off;
			return m->ins[i].len - off;
		}
		off -= m->ins[i].len;
	}
	return view_data(m, data + off, p);
}

int
mx_msg_insert(struct mx_msg *m, size_t off, const char *s, size_t len)
{
	size_t shift = 0;
	unsigned i, k;
	char *copy;

	if (!m->ended || off > m->size)
		return -EINVAL;
	if (m->n_ins >= MX_MSG_MAX_INSERTS)
		return -ENOSPC;
	/* Where off falls among the earlier insertions: before one (it
	 * then goes first), or inside one (refused). */
	for (i = 0; i < m->n_ins; i++) {
		if (off <= m->ins[i].off + shift)
			break;
		if (off < m->ins[i].off + shift + m->ins[i].len)
			return -EINVAL;
		shift += m->ins[i].len;
	}
	if (len == 0)
		return 0;
	copy = mx_msg_arena_alloc(m, len);
	if (copy == NULL)
		return -ENOMEM;
	memcpy(copy, s, len);
	memmove(&m->ins[i + 1], &m->ins[i], (m->n_ins - i) * sizeof(m->ins[0]));
	m->ins[i].off = off - shift;
	m->ins[i].p = copy;
	m->ins[i].len = len;
	m->n_ins++;
	for (k = 0; k < m->n_hdrs; k++)
		if (m->hdrs[k].offset >= off)
			m->hdrs[k].offset += len;
	if (m->body_offset >= off)
		m->body_offset += len;
	m->size += len;
	return 0;
}

const struct mx_hdr *
mx_msg_find_hdr(const struct mx_msg *m, const char *name, unsigned *idx)
{
	unsigned i;

	for (i = *idx; i < m->n_hdrs; i++) {
		if (mx_str_ieq(m->hdrs[i].name, name)) {
			*idx = i + 1;
			return &m->hdrs[i];
		}
	}
	*idx = m->n_hdrs;
	return NULL;
}

/*
 * Queue ids: 80 bits written as 16 characters of Crockford's base32
 * alphabet (no I, L, O, U: unambiguous when read aloud or retyped), most
 * significant first so that ids sort by time. The top 52 bits are the
 * wall clock in microseconds (good until the year 2112), the low 28 bits a
 * process-wide counter started at a per-process random offset. One relaxed
 * fetch-add per id keeps ids unique across threads without a lock: two ids
 * collide only if the same microsecond sees the counter wrap 2^28 times.
 * The random start keeps a restarted process from replaying the ids of
 * the previous one within the same microsecond after a clock step; the
 * spool's O_EXCL catches anything beyond that.
 */
static _Atomic uint64_t id_counter;
static const char id_b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void
mx_msg_new_id(char id[MX_MSG_ID_SIZE])
{
	const uint8_t *key = mx_secret_key();
	unsigned __int128 v;
	struct timespec ts;
	uint64_t us, seq, salt;
	int i;

	clock_gettime(CLOCK_REALTIME, &ts);
	us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	salt = (uint64_t)key[0] | (uint64_t)key[1] << 8 | (uint64_t)key[2] << 16 |
		(uint64_t)key[3] << 24;
	seq = atomic_fetch_add_explicit(&id_counter, 1, memory_order_relaxed) + salt;
	v = (unsigned __int128)(us & ((UINT64_C(1) << 52) - 1)) << 28 |
		(seq & ((UINT64_C(1) << 28) - 1));
	for (i = 15; i >= 0; i--) {
		id[i] = id_b32[(unsigned)(v & 31)];
		v >>= 5;
	}
	memset(id + 16, 0, MX_MSG_ID_SIZE - 16);
}
