/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dns.c: the asynchronous resolver of mx_dns.h over libunbound, and its
 * answer cache.
 *
 * Every (name, type) has one cache entry, created pending by
 * mx_dns_submit and filled by unbound's callback (run from ub_process in
 * the owner's thread) or by the deadline. Entries live in a SipHash table
 * (names are chosen by whoever wrote the SPF record or the message, so
 * the table is keyed: STYLE 3.7), on an LRU list for eviction, and while
 * pending on a FIFO whose head holds the earliest deadline (every query
 * has the same timeout). Decoded RRs sit in one allocation per entry,
 * bounded by MX_DNS_MAX_RR and MX_DNS_MAX_DATA.
 *
 * This runs on the verifier stage, which may allocate (STYLE 2.5), never
 * on a worker.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <unbound.h>

#include "mx_base.h"
#include "mx_dns.h"
#include "mx_log.h"

#define DNS_DEFAULT_TIMEOUT_MS 2000
#define DNS_DEFAULT_MAX_ENTRIES 65536
/* An answer is kept at least this long, whatever its TTL, so that an
 * evaluation re-run after the round that fetched it still finds it. */
#define DNS_MIN_KEEP_MS 5000
/* Failures (SERVFAIL, timeout) are remembered this long, so one batch
 * does not ask again for what just failed. */
#define DNS_FAIL_KEEP_MS 5000
#define DNS_MAX_ZONE_BYTES (16u << 20)

struct dns_entry {
	struct dns_entry *hnext;
	struct dns_entry *lru_prev, *lru_next;
	struct dns_entry *pend_prev, *pend_next;
	struct mx_dns *owner;
	uint64_t hash;
	uint64_t expires_ms;
	uint64_t deadline_ms;
	int async_id;
	bool pending;
	struct mx_dns_answer ans;
	void *blob; /* rr array followed by the decoded data */
	uint16_t type;
	char name[MX_DNS_NAME_MAX + 1];
};

struct mx_dns {
	struct ub_ctx *ub;
	uint32_t timeout_ms;
	uint32_t max_entries;
	uint32_t n_entries;
	unsigned n_pending;
	size_t n_buckets; /* power of two */
	struct dns_entry **bucket;
	struct dns_entry *lru_head, *lru_tail;
	struct dns_entry *pend_head, *pend_tail;
	struct mx_dns_stats st;
};

const char *
mx_dns_status_str(enum mx_dns_status s)
{
	switch (s) {
	case MX_DNS_PENDING: return "pending";
	case MX_DNS_OK: return "ok";
	case MX_DNS_NODATA: return "nodata";
	case MX_DNS_NXDOMAIN: return "nxdomain";
	case MX_DNS_SERVFAIL: return "servfail";
	case MX_DNS_TIMEOUT: return "timeout";
	}
	return "?";
}

bool
mx_dns_name_ok(const char *name)
{
	size_t len = strlen(name);
	size_t label = 0;
	size_t i;

	if (len > 0 && name[len - 1] == '.')
		len--;
	/* RFC 1035 2.3.4: 255 octets on the wire, 253 characters in text. */
	if (len == 0 || len > 253)
		return false;
	for (i = 0; i < len; i++) {
		if (name[i] == '.') {
			/* RFC 7208 4.3: an empty label cannot be queried. */
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		/* RFC 1035 2.3.4: labels are 63 octets or less. */
		if (++label > 63)
			return false;
	}
	return label > 0;
}

/* Lower-cased copy without the trailing dot; false if it does not fit. */
static bool
dns_norm(const char *name, char *out)
{
	size_t len = strlen(name);
	size_t i;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len > MX_DNS_NAME_MAX)
		return false;
	for (i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)name[i]);
	out[len] = '\0';
	return true;
}

static uint64_t
dns_hash(const char *name, uint16_t type)
{
	uint8_t buf[MX_DNS_NAME_MAX + 3];
	size_t len = strlen(name);

	memcpy(buf, name, len);
	buf[len] = (uint8_t)(type >> 8);
	buf[len + 1] = (uint8_t)type;
	return mx_siphash(mx_secret_key(), buf, len + 2);
}

static void
lru_unlink(struct mx_dns *d, struct dns_entry *e)
{
	if (e->lru_prev != NULL)
		e->lru_prev->lru_next = e->lru_next;
	else
		d->lru_head = e->lru_next;
	if (e->lru_next != NULL)
		e->lru_next->lru_prev = e->lru_prev;
	else
		d->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void
lru_push(struct mx_dns *d, struct dns_entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = d->lru_head;
	if (d->lru_head != NULL)
		d->lru_head->lru_prev = e;
	d->lru_head = e;
	if (d->lru_tail == NULL)
		d->lru_tail = e;
}

static void
pend_unlink(struct mx_dns *d, struct dns_entry *e)
{
	if (!e->pending)
		return;
	if (e->pend_prev != NULL)
		e->pend_prev->pend_next = e->pend_next;
	else
		d->pend_head = e->pend_next;
	if (e->pend_next != NULL)
		e->pend_next->pend_prev = e->pend_prev;
	else
		d->pend_tail = e->pend_prev;
	e->pend_prev = e->pend_next = NULL;
	e->pending = false;
	d->n_pending--;
}

static void
pend_push(struct mx_dns *d, struct dns_entry *e)
{
	e->pend_next = NULL;
	e->pend_prev = d->pend_tail;
	if (d->pend_tail != NULL)
		d->pend_tail->pend_next = e;
	d->pend_tail = e;
	if (d->pend_head == NULL)
		d->pend_head = e;
	e->pending = true;
	d->n_pending++;
}

static struct dns_entry *
dns_find(struct mx_dns *d, const char *norm, uint16_t type, uint64_t h)
{
	struct dns_entry *e;

	for (e = d->bucket[h & (d->n_buckets - 1)]; e != NULL; e = e->hnext) {
		if (e->hash == h && e->type == type && strcmp(e->name, norm) == 0)
			return e;
	}
	return NULL;
}

static void
dns_remove(struct mx_dns *d, struct dns_entry *e)
{
	struct dns_entry **pp = &d->bucket[e->hash & (d->n_buckets - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	if (e->pending) {
		ub_cancel(d->ub, e->async_id);
		pend_unlink(d, e);
	}
	lru_unlink(d, e);
	d->n_entries--;
	free(e->blob);
	free(e);
}

/* Drops least recently used answers (never a pending query) until there
 * is room for one more entry. */
static void
dns_evict(struct mx_dns *d)
{
	struct dns_entry *e = d->lru_tail;

	while (d->n_entries >= d->max_entries && e != NULL) {
		struct dns_entry *prev = e->lru_prev;

		if (!e->pending) {
			dns_remove(d, e);
			d->st.evictions++;
		}
		e = prev;
	}
}

static void
dns_finish(struct dns_entry *e, enum mx_dns_status st, uint32_t ttl, uint64_t now)
{
	uint64_t keep = (uint64_t)ttl * 1000;

	if (st == MX_DNS_SERVFAIL || st == MX_DNS_TIMEOUT)
		keep = DNS_FAIL_KEEP_MS;
	else if (keep < DNS_MIN_KEEP_MS)
		keep = DNS_MIN_KEEP_MS;
	e->ans.status = st;
	e->ans.ttl = ttl;
	e->expires_ms = now + keep;
	pend_unlink(e->owner, e);
}

/* Writes a wire-format name (RFC 1035 3.1, uncompressed as unbound
 * hands rdata out) as text without the trailing dot. Returns the octets
 * consumed, or -1 if it is malformed or does not fit. */
static int
wire_name(const uint8_t *p, size_t len, char *out, size_t size)
{
	size_t i = 0, o = 0;

	for (;;) {
		size_t l;

		if (i >= len)
			return -1;
		l = p[i++];
		if (l == 0)
			break;
		if (l > 63 || i + l > len)
			return -1;
		if (o != 0) {
			if (o + 1 >= size)
				return -1;
			out[o++] = '.';
		}
		for (; l > 0; l--, i++) {
			uint8_t c = p[i];

			if (c <= ' ' || c >= 0x7f || c == '.' || c == '\\') {
				if (o + 4 >= size)
					return -1;
				o += (size_t)snprintf(out + o, size - o, "\\%03u", c);
			} else {
				if (o + 1 >= size)
					return -1;
				out[o++] = (char)c;
			}
		}
	}
	out[o] = '\0';
	return (int)i;
}

/* Decodes one rdata into dst (capacity room); returns its length, or -1
 * when it is malformed for its type. */
static int
decode_rdata(uint16_t type, const uint8_t *p, size_t len, uint8_t *dst,
		size_t room, uint16_t *pref)
{
	size_t i, o;
	int n;

	*pref = 0;
	switch (type) {
	case MX_DNS_A:
	case MX_DNS_AAAA:
		if (len != (type == MX_DNS_A ? 4u : 16u) || room < len)
			return -1;
		memcpy(dst, p, len);
		return (int)len;
	case MX_DNS_TXT:
	case MX_DNS_SPF:
		/* RFC 7208 3.3: the character-strings of one RR are joined
		 * with no separator. */
		for (i = 0, o = 0; i < len; i += 1 + p[i]) {
			if (i + 1 + p[i] > len || o + p[i] + 1 > room)
				return -1;
			memcpy(dst + o, p + i + 1, p[i]);
			o += p[i];
		}
		dst[o] = '\0';
		return (int)o;
	case MX_DNS_MX:
		if (len < 3)
			return -1;
		*pref = (uint16_t)(p[0] << 8 | p[1]);
		p += 2;
		len -= 2;
		/* fallthrough */
	case MX_DNS_PTR:
	case MX_DNS_CNAME:
		n = wire_name(p, len, (char *)dst, MX_MIN(room, (size_t)MX_DNS_NAME_MAX + 1));
		if (n < 0 || (size_t)n != len)
			return -1;
		return (int)strlen((char *)dst);
	default:
		return -1;
	}
}

/* ---- reading a response packet (RFC 1035 4.1) ---- */

#define PKT_HDR 12
#define PKT_CLASS_IN 1
/* A name follows at most this many compression pointers, each to an
 * earlier offset: with the 255-octet bound on the name itself, a hostile
 * chain of pointers stays finite. */
#define PKT_MAX_HOPS 128

static uint16_t
pkt_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Reads the name at *off, following compression pointers (RFC 1035
 * 4.1.4), and moves *off past it. The uncompressed wire form goes to
 * out (at most MX_DNS_NAME_MAX + 1 octets) when out is not NULL.
 * Returns its length, or -1 when malformed. */
static int
pkt_name(const uint8_t *pkt, size_t len, size_t *off, uint8_t *out)
{
	size_t at = *off, o = 0, end = 0;
	unsigned hops = 0;

	for (;;) {
		uint8_t l;

		if (at >= len)
			return -1;
		l = pkt[at];
		if ((l & 0xc0) == 0xc0) {
			size_t to;

			if (at + 1 >= len || ++hops > PKT_MAX_HOPS)
				return -1;
			to = (size_t)(l & 0x3f) << 8 | pkt[at + 1];
			if (end == 0)
				end = at + 2;
			if (to >= at)
				return -1;
			at = to;
			continue;
		}
		if ((l & 0xc0) != 0 || at + 1 + l > len || o + 1 + l > MX_DNS_NAME_MAX)
			return -1;
		if (out != NULL)
			memcpy(out + o, pkt + at, 1u + l);
		o += 1u + l;
		at += 1u + l;
		if (l == 0)
			break;
	}
	*off = end != 0 ? end : at;
	return (int)o;
}

/* Takes one RR's rdata into out->rdata[out->n]: as it is, or with its
 * name expanded for the types that may compress one (RFC 3597 4). */
static int
pkt_take(const uint8_t *pkt, size_t len, size_t rd, size_t rdlen, uint16_t type,
		struct mx_dns_packet *out, size_t *names_used)
{
	uint8_t *dst = out->names + *names_used;
	size_t off = rd, pre = type == MX_DNS_MX ? 2 : 0;
	int n;

	if (type != MX_DNS_MX && type != MX_DNS_PTR && type != MX_DNS_CNAME) {
		out->rdata[out->n] = pkt + rd;
		out->len[out->n] = rdlen;
		return 0;
	}
	if (rdlen < pre + 1)
		return -1;
	memcpy(dst, pkt + rd, pre);
	off += pre;
	n = pkt_name(pkt, rd + rdlen, &off, dst + pre);
	if (n < 0 || off != rd + rdlen)
		return -1;
	out->rdata[out->n] = dst;
	out->len[out->n] = pre + (size_t)n;
	*names_used += pre + (size_t)n;
	return 0;
}

int
mx_dns_packet_read(const uint8_t *pkt, size_t len, uint16_t type,
		struct mx_dns_packet *out)
{
	size_t off = PKT_HDR, names_used = 0;
	unsigned qd, an;

	memset(out, 0, offsetof(struct mx_dns_packet, rdata));
	if (len < PKT_HDR || (pkt[2] & 0x80) == 0)
		return -EINVAL;
	out->rcode = pkt[3] & 0x0f;
	qd = pkt_u16(pkt + 4);
	an = pkt_u16(pkt + 6);
	for (unsigned i = 0; i < qd; i++) {
		if (pkt_name(pkt, len, &off, NULL) < 0 || off + 4 > len)
			return -EINVAL;
		off += 4;
	}
	for (unsigned i = 0; i < an; i++) {
		uint16_t t, cls, rdlen;
		uint32_t ttl;

		if (pkt_name(pkt, len, &off, NULL) < 0 || off + 10 > len)
			return -EINVAL;
		t = pkt_u16(pkt + off);
		cls = pkt_u16(pkt + off + 2);
		ttl = (uint32_t)pkt_u16(pkt + off + 4) << 16 | pkt_u16(pkt + off + 6);
		rdlen = pkt_u16(pkt + off + 8);
		off += 10;
		if (off + rdlen > len)
			return -EINVAL;
		if (t == type && cls == PKT_CLASS_IN && out->n < MX_DNS_MAX_RR + 1) {
			/* RFC 2181 8: a TTL with the top bit set is zero. */
			ttl = (ttl & 0x80000000u) != 0 ? 0 : ttl;
			if (pkt_take(pkt, len, off, rdlen, type, out, &names_used) != 0)
				return -EINVAL;
			out->ttl = out->n == 0 ? ttl : MX_MIN(out->ttl, ttl);
			out->n++;
		}
		off += rdlen;
	}
	return 0;
}

/* Fills e from an unbound result: decoded RRs in one allocation. */
static void
dns_fill(struct dns_entry *e, const struct ub_result *r, uint64_t now)
{
	struct mx_dns *d = e->owner;
	size_t n = 0, room = 0, used = 0;
	struct mx_dns_rr *rr;
	uint8_t *data;

	if (r->rcode == 3 || r->nxdomain) {
		d->st.nxdomain++;
		dns_finish(e, MX_DNS_NXDOMAIN, (uint32_t)MX_MAX(r->ttl, 0), now);
		return;
	}
	if (r->rcode != 0 || r->bogus) {
		d->st.servfail++;
		dns_finish(e, MX_DNS_SERVFAIL, 0, now);
		return;
	}
	while (r->havedata && r->data[n] != NULL)
		room += (size_t)r->len[n++] + 1;
	if (n > MX_DNS_MAX_RR || room > MX_DNS_MAX_DATA) {
		d->st.truncated++;
		n = MX_MIN(n, (size_t)MX_DNS_MAX_RR);
		room = MX_MIN(room, (size_t)MX_DNS_MAX_DATA);
	}
	room += MX_DNS_NAME_MAX + 1;
	e->blob = malloc(n * sizeof(*rr) + room);
	if (e->blob == NULL) {
		d->st.servfail++;
		dns_finish(e, MX_DNS_SERVFAIL, 0, now);
		return;
	}
	rr = e->blob;
	data = (uint8_t *)(rr + n);
	e->ans.n_rr = 0;
	for (size_t i = 0; i < n; i++) {
		struct mx_dns_rr *x = &rr[e->ans.n_rr];
		int len = decode_rdata(e->type, (const uint8_t *)r->data[i],
				(size_t)r->len[i], data + used, room - used, &x->pref);

		if (len < 0) {
			/* A malformed RR is skipped, counted, never trusted. */
			d->st.truncated++;
			continue;
		}
		x->data = data + used;
		x->len = (uint16_t)len;
		used += (size_t)len + 1;
		e->ans.n_rr++;
	}
	e->ans.rr = rr;
	if (e->ans.n_rr == 0) {
		d->st.nodata++;
		dns_finish(e, MX_DNS_NODATA, (uint32_t)MX_MAX(r->ttl, 0), now);
		return;
	}
	d->st.answers_ok++;
	dns_finish(e, MX_DNS_OK, (uint32_t)MX_MAX(r->ttl, 0), now);
}

/* Fills e from rdata in wire form, through the same decoding as an
 * answer from unbound. */
static void
dns_fill_rdata(struct dns_entry *e, int rcode, const uint8_t *const *rdata,
		const size_t *len, size_t n, uint32_t ttl, uint64_t now)
{
	char *data[MX_DNS_MAX_RR + 2];
	int lens[MX_DNS_MAX_RR + 2];
	struct ub_result r = { .rcode = rcode, .nxdomain = rcode == 3,
		.ttl = (int)MX_MIN(ttl, 86400u) };

	n = MX_MIN(n, (size_t)MX_DNS_MAX_RR + 1);
	for (size_t i = 0; i < n; i++) {
		data[i] = (char *)(uintptr_t)rdata[i];
		lens[i] = (int)MX_MIN(len[i], (size_t)65535);
	}
	data[n] = NULL;
	r.data = data;
	r.len = lens;
	r.havedata = n > 0;
	dns_fill(e, &r, now);
}

/* libunbound (1.17) answers SERVFAIL to its caller when it cannot hand
 * an RRset out, as for a TXT RR with no character-string (RFC 1035
 * 3.3.14 wants one; zones that hold one exist, and RFC 7208's suite has
 * one), while the answer packet it built says NOERROR and holds the
 * RRs. Such an answer is read from that packet, so one malformed RR
 * does not turn a whole RRset into a temperror. */
static bool
dns_repair(struct dns_entry *e, const struct ub_result *r, uint64_t now)
{
	struct mx_dns_packet *p;
	const uint8_t *pkt = r->answer_packet;

	if (r->rcode != 2 || r->bogus || pkt == NULL || r->answer_len < PKT_HDR ||
			(pkt[3] & 0x0f) != 0)
		return false;
	p = malloc(sizeof(*p));
	if (p == NULL)
		return false;
	if (mx_dns_packet_read(pkt, (size_t)r->answer_len, e->type, p) != 0) {
		free(p);
		return false;
	}
	e->owner->st.repaired++;
	dns_fill_rdata(e, p->rcode, p->rdata, p->len, p->n, p->ttl, now);
	free(p);
	return true;
}

static void
dns_callback(void *arg, int err, struct ub_result *r)
{
	struct dns_entry *e = arg;
	uint64_t now = mx_clock_ms();

	if (err != 0 || r == NULL) {
		e->owner->st.servfail++;
		dns_finish(e, MX_DNS_SERVFAIL, 0, now);
	} else if (!dns_repair(e, r, now)) {
		dns_fill(e, r, now);
	}
	if (r != NULL)
		ub_resolve_free(r);
}

/* The presentation form unbound parses (RFC 1035 5.1): octets that are
 * special there, or not printable, become \DDD, so a name that SPF macro
 * expansion filled with spaces or quotes is asked for as it is. */
static void
dns_escape(const char *name, char *out, size_t size)
{
	size_t o = 0;

	for (const char *p = name; *p != '\0' && o + 5 < size; p++) {
		uint8_t c = (uint8_t)*p;

		if (c <= ' ' || c >= 0x7f || strchr("\"();\\@$", c) != NULL)
			o += (size_t)snprintf(out + o, size - o, "\\%03u", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

int
mx_dns_submit(struct mx_dns *d, const char *name, uint16_t type)
{
	char norm[MX_DNS_NAME_MAX + 1], wire[4 * MX_DNS_NAME_MAX + 1];
	struct dns_entry *e;
	uint64_t h, now;
	int rc;

	if (!mx_dns_name_ok(name) || !dns_norm(name, norm)) {
		d->st.rejected++;
		return -EINVAL;
	}
	h = dns_hash(norm, type);
	now = mx_clock_ms();
	e = dns_find(d, norm, type, h);
	if (e != NULL && (e->pending || e->expires_ms > now)) {
		d->st.cache_hits += !e->pending;
		return 0;
	}
	if (e != NULL)
		dns_remove(d, e);
	dns_evict(d);
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	memcpy(e->name, norm, strlen(norm) + 1);
	e->type = type;
	e->hash = h;
	e->owner = d;
	e->ans.type = type;
	e->ans.status = MX_DNS_PENDING;
	e->deadline_ms = now + d->timeout_ms;
	e->hnext = d->bucket[h & (d->n_buckets - 1)];
	d->bucket[h & (d->n_buckets - 1)] = e;
	d->n_entries++;
	lru_push(d, e);
	pend_push(d, e);
	d->st.queries++;
	dns_escape(norm, wire, sizeof(wire));
	rc = ub_resolve_async(d->ub, norm[0] == '\0' ? "." : wire, type, 1, e,
			dns_callback, &e->async_id);
	if (rc != 0) {
		pend_unlink(d, e);
		dns_remove(d, e);
		MX_LOG_RL(MX_LOG_WARN, "dns", "ub_resolve_async: %s", ub_strerror(rc));
		return -ENOMEM;
	}
	return 0;
}

int
mx_dns_cache_put(struct mx_dns *d, const char *name, uint16_t type, int rcode,
		const uint8_t *const *rdata, const size_t *len, size_t n, uint32_t ttl)
{
	char norm[MX_DNS_NAME_MAX + 1];
	struct dns_entry *e;
	uint64_t h;

	if (!mx_dns_name_ok(name) || !dns_norm(name, norm))
		return -EINVAL;
	h = dns_hash(norm, type);
	e = dns_find(d, norm, type, h);
	if (e != NULL && e->pending)
		return -EBUSY;
	if (e != NULL)
		dns_remove(d, e);
	dns_evict(d);
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	memcpy(e->name, norm, strlen(norm) + 1);
	e->type = type;
	e->hash = h;
	e->owner = d;
	e->ans.type = type;
	e->hnext = d->bucket[h & (d->n_buckets - 1)];
	d->bucket[h & (d->n_buckets - 1)] = e;
	d->n_entries++;
	lru_push(d, e);
	dns_fill_rdata(e, rcode, rdata, len, n, ttl, mx_clock_ms());
	return 0;
}

void
mx_dns_cache_clear(struct mx_dns *d)
{
	/* dns_remove cancels a pending query with unbound before freeing
	 * the entry its callback would have written. */
	while (d->lru_head != NULL)
		dns_remove(d, d->lru_head);
}

const struct mx_dns_answer *
mx_dns_get(struct mx_dns *d, const char *name, uint16_t type)
{
	char norm[MX_DNS_NAME_MAX + 1];
	struct dns_entry *e;

	if (!dns_norm(name, norm))
		return NULL;
	e = dns_find(d, norm, type, dns_hash(norm, type));
	if (e == NULL)
		return NULL;
	if (!e->pending && e->expires_ms <= mx_clock_ms()) {
		dns_remove(d, e);
		return NULL;
	}
	lru_unlink(d, e);
	lru_push(d, e);
	return &e->ans;
}

int
mx_dns_fd(const struct mx_dns *d)
{
	return ub_fd(d->ub);
}

unsigned
mx_dns_process(struct mx_dns *d)
{
	uint64_t now;

	if (d->n_pending > 0 && ub_poll(d->ub))
		ub_process(d->ub);
	now = mx_clock_ms();
	/* Same timeout for every query: the FIFO head expires first. */
	while (d->pend_head != NULL && d->pend_head->deadline_ms <= now) {
		struct dns_entry *e = d->pend_head;

		ub_cancel(d->ub, e->async_id);
		d->st.timeouts++;
		dns_finish(e, MX_DNS_TIMEOUT, 0, now);
	}
	return d->n_pending;
}

uint64_t
mx_dns_next_deadline_ms(const struct mx_dns *d)
{
	return d->pend_head != NULL ? d->pend_head->deadline_ms : 0;
}

unsigned
mx_dns_n_pending(const struct mx_dns *d)
{
	return d->n_pending;
}

void
mx_dns_wait(struct mx_dns *d)
{
	while (mx_dns_process(d) > 0) {
		struct pollfd pfd = { .fd = ub_fd(d->ub), .events = POLLIN };
		uint64_t now = mx_clock_ms();
		uint64_t dl = mx_dns_next_deadline_ms(d);
		int wait_ms = dl > now ? (int)MX_MIN(dl - now, (uint64_t)1000) : 0;

		(void)poll(&pfd, 1, wait_ms);
	}
}

const struct mx_dns_stats *
mx_dns_stats(const struct mx_dns *d)
{
	return &d->st;
}

/* Zone file (RFC 1035 5.1) ------------------------------------------ */

#define ZONE_MAX_TOK 512

struct zone_tok {
	const char *p;
	size_t len;
};

struct zone_state {
	char origin[MX_DNS_NAME_MAX + 2];
	char last_owner[MX_DNS_NAME_MAX + 2];
	char ttl[16];
	char *out;
	size_t out_size;
};

/* Splits one logical record (parentheses may span lines) into tokens.
 * Returns the position after it, sets *blank when it starts with
 * whitespace (the owner is the previous one), *n to the token count, or
 * returns NULL on a syntax error. */
static const char *
zone_record(const char *p, const char *end, struct zone_tok *t, unsigned *n,
		bool *blank, unsigned *line)
{
	int depth = 0;

	*n = 0;
	*blank = p < end && (*p == ' ' || *p == '\t');
	while (p < end) {
		if (*p == ';') {
			while (p < end && *p != '\n')
				p++;
		} else if (*p == '\n') {
			(*line)++;
			p++;
			if (depth == 0)
				return p;
		} else if (*p == ' ' || *p == '\t' || *p == '\r') {
			p++;
		} else if (*p == '(' || *p == ')') {
			depth += *p == '(' ? 1 : -1;
			if (depth < 0 || depth > 1)
				return NULL;
			p++;
		} else {
			const char *s = p;

			if (*p == '"') {
				for (p++; p < end && *p != '"' && *p != '\n'; p++) {
					if (*p == '\\' && p + 1 < end)
						p++;
				}
				if (p >= end || *p != '"')
					return NULL;
				p++;
			} else {
				while (p < end && strchr(" \t\r\n;()\"", *p) == NULL)
					p++;
			}
			if (*n == ZONE_MAX_TOK)
				return NULL;
			t[*n].p = s;
			t[(*n)++].len = (size_t)(p - s);
		}
	}
	return depth == 0 ? p : NULL;
}

/* Absolute form (trailing dot) of a name relative to the origin. */
static int
zone_abs(const struct zone_tok *t, const char *origin, char *out)
{
	int n;

	if (t->len == 1 && t->p[0] == '@')
		n = snprintf(out, MX_DNS_NAME_MAX + 2, "%s", origin);
	else if (t->len > 0 && t->p[t->len - 1] == '.')
		n = snprintf(out, MX_DNS_NAME_MAX + 2, "%.*s", (int)t->len, t->p);
	else if (origin[0] == '\0')
		return -EINVAL;
	else
		n = snprintf(out, MX_DNS_NAME_MAX + 2, "%.*s.%s", (int)t->len,
				t->p, strcmp(origin, ".") == 0 ? "" : origin);
	return n > 0 && n < MX_DNS_NAME_MAX + 2 ? 0 : -EINVAL;
}

static bool
tok_is(const struct zone_tok *t, const char *s)
{
	return t->len == strlen(s) && strncasecmp(t->p, s, t->len) == 0;
}

static bool
tok_digits(const struct zone_tok *t)
{
	for (size_t i = 0; i < t->len; i++) {
		if (!isdigit((unsigned char)t->p[i]))
			return false;
	}
	return t->len > 0 && t->len < 11;
}

/* The number of leading rdata tokens that are domain names, by type. */
static unsigned
zone_name_fields(const struct zone_tok *type, unsigned *first)
{
	*first = 0;
	if (tok_is(type, "CNAME") || tok_is(type, "PTR") || tok_is(type, "NS"))
		return 1;
	if (tok_is(type, "SOA"))
		return 2;
	if (tok_is(type, "MX")) {
		*first = 1;
		return 1;
	}
	return 0;
}

static int
zone_emit(struct zone_state *z, const struct zone_tok *t, unsigned n, bool blank,
		mx_dns_rr_fn rr_fn, void *arg)
{
	char owner[MX_DNS_NAME_MAX + 2];
	const char *ttl = z->ttl;
	char ttlbuf[16];
	unsigned i = 0, first, n_names;
	size_t o;

	if (blank) {
		if (z->last_owner[0] == '\0')
			return -EINVAL;
		memcpy(owner, z->last_owner, sizeof(owner));
	} else {
		if (zone_abs(&t[0], z->origin, owner) != 0)
			return -EINVAL;
		memcpy(z->last_owner, owner, sizeof(owner));
		i = 1;
	}
	/* RFC 1035 5.1: [TTL] [class] or [class] [TTL], in either order. */
	for (unsigned k = 0; k < 2 && i < n; k++) {
		if (tok_digits(&t[i])) {
			snprintf(ttlbuf, sizeof(ttlbuf), "%.*s", (int)t[i].len, t[i].p);
			ttl = ttlbuf;
			i++;
		} else if (tok_is(&t[i], "IN")) {
			i++;
		}
	}
	if (i + 1 >= n)
		return -EINVAL;
	o = (size_t)snprintf(z->out, z->out_size, "%s %s IN %.*s", owner, ttl,
			(int)t[i].len, t[i].p);
	n_names = zone_name_fields(&t[i], &first);
	for (unsigned k = 0, j = i + 1; j < n; j++, k++) {
		char name[MX_DNS_NAME_MAX + 2];
		const char *s = t[j].p;
		size_t len = t[j].len;

		if (k >= first && k < first + n_names) {
			if (zone_abs(&t[j], z->origin, name) != 0)
				return -EINVAL;
			s = name;
			len = strlen(name);
		}
		if (o + len + 2 >= z->out_size)
			return -EINVAL;
		z->out[o++] = ' ';
		memcpy(z->out + o, s, len);
		o += len;
		z->out[o] = '\0';
	}
	return rr_fn(arg, z->out);
}

static int
zone_directive(struct zone_state *z, const struct zone_tok *t, unsigned n)
{
	if (tok_is(&t[0], "$ORIGIN") && n == 2) {
		if (t[1].len == 0 || t[1].p[t[1].len - 1] != '.' ||
				t[1].len > MX_DNS_NAME_MAX)
			return -EINVAL;
		snprintf(z->origin, sizeof(z->origin), "%.*s", (int)t[1].len, t[1].p);
		return 0;
	}
	if (tok_is(&t[0], "$TTL") && n == 2 && tok_digits(&t[1])) {
		snprintf(z->ttl, sizeof(z->ttl), "%.*s", (int)t[1].len, t[1].p);
		return 0;
	}
	/* $INCLUDE and unknown directives are refused, not ignored. */
	return -EINVAL;
}

int
mx_dns_zone_parse(const char *text, size_t len, const char *origin,
		mx_dns_rr_fn rr_fn, void *arg, unsigned *bad_line)
{
	struct zone_tok *t = malloc(ZONE_MAX_TOK * sizeof(*t));
	struct zone_state z = { .ttl = "3600" };
	const char *p = text, *end = text + len;
	unsigned line = 1;
	int rc = 0;

	*bad_line = 0;
	if (t == NULL)
		return -ENOMEM;
	z.out_size = len + 4 * MX_DNS_NAME_MAX + 64;
	z.out = malloc(z.out_size);
	if (z.out == NULL) {
		free(t);
		return -ENOMEM;
	}
	if (origin != NULL)
		snprintf(z.origin, sizeof(z.origin), "%s", origin);
	while (p < end && rc == 0) {
		unsigned n, start = line;
		bool blank;
		const char *next = zone_record(p, end, t, &n, &blank, &line);

		if (next == NULL) {
			rc = -EINVAL;
			*bad_line = start;
			break;
		}
		p = next;
		if (n == 0)
			continue;
		if (!blank && t[0].p[0] == '$')
			rc = zone_directive(&z, t, n);
		else
			rc = zone_emit(&z, t, n, blank, rr_fn, arg);
		if (rc != 0)
			*bad_line = start;
	}
	free(z.out);
	free(t);
	return rc;
}

/* Creation ---------------------------------------------------------- */

static int
zone_add_rr(void *arg, const char *rr)
{
	return ub_ctx_data_add(arg, rr) == 0 ? 0 : -EINVAL;
}

static int
dns_load_zone(struct ub_ctx *ub, const char *path, FILE *err)
{
	char *buf = NULL;
	struct stat sb;
	unsigned bad = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = -EINVAL;

	if (fd < 0 || fstat(fd, &sb) != 0 || sb.st_size > DNS_MAX_ZONE_BYTES) {
		if (err != NULL)
			fprintf(err, "mxedge: dns zone %s: cannot read it\n", path);
		goto out;
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (buf == NULL || read(fd, buf, (size_t)sb.st_size) != sb.st_size) {
		if (err != NULL)
			fprintf(err, "mxedge: dns zone %s: cannot read it\n", path);
		goto out;
	}
	rc = mx_dns_zone_parse(buf, (size_t)sb.st_size, NULL, zone_add_rr, ub, &bad);
	if (rc != 0 && err != NULL)
		fprintf(err, "mxedge: dns zone %s:%u: invalid record\n", path, bad);
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int
dns_set_forwarder(struct ub_ctx *ub, const char *resolver, FILE *err)
{
	struct mx_addr a;
	char ip[64], fwd[80];

	if (mx_addr_parse(resolver, 53, &a) != 0) {
		if (err != NULL)
			fprintf(err, "mxedge: --resolver %s: not IP:PORT\n", resolver);
		return -EINVAL;
	}
	mx_addr_format(&a, false, ip, sizeof(ip));
	/* unbound's forward syntax is IP@PORT. */
	snprintf(fwd, sizeof(fwd), "%s@%u", ip, a.port);
	return ub_ctx_set_fwd(ub, fwd) == 0 ? 0 : -EINVAL;
}

/* unbound answers these itself by default (RFC 6303 reverse zones of
 * private, link-local and documentation ranges; RFC 6761 names). When we
 * forward, the forwarder decides: SPF's "ptr" and %{p} ask the reverse
 * names of exactly such addresses on private networks (RFC 7208 5.5).
 * The RFC 1918 and RFC 6598 reverse zones follow unblock-lan-zones. */
static const char *const dns_unblock[] = {
	"0.in-addr.arpa", "254.169.in-addr.arpa", "2.0.192.in-addr.arpa",
	"100.51.198.in-addr.arpa", "113.0.203.in-addr.arpa",
	"255.255.255.255.in-addr.arpa", "d.f.ip6.arpa", "8.e.f.ip6.arpa",
	"9.e.f.ip6.arpa", "a.e.f.ip6.arpa", "b.e.f.ip6.arpa",
	"8.b.d.0.1.0.0.2.ip6.arpa", "home.arpa", "test", "invalid",
};

static int
dns_unblock_zones(struct ub_ctx *ub)
{
	for (size_t i = 0; i < sizeof(dns_unblock) / sizeof(dns_unblock[0]); i++) {
		/* ub_ctx_zone_add retypes a default zone in place. */
		if (ub_ctx_zone_add(ub, dns_unblock[i], "transparent") != 0)
			return -EINVAL;
	}
	return 0;
}

static int
dns_setup(struct mx_dns *d, const struct mx_dns_conf *conf, FILE *err)
{
	struct ub_ctx *ub = d->ub;
	int rc = 0;

	/* A thread, not a forked process, answers; queries to a forwarder
	 * on loopback are allowed; truncated UDP answers are retried over
	 * TCP by unbound itself (tcp-upstream stays no). */
	if (ub_ctx_async(ub, 1) != 0 ||
			ub_ctx_set_option(ub, "do-not-query-localhost:", "no") != 0 ||
			ub_ctx_set_option(ub, "tcp-upstream:", "no") != 0 ||
			ub_ctx_set_option(ub, "unblock-lan-zones:", "yes") != 0 ||
			ub_ctx_set_option(ub, "insecure-lan-zones:", "yes") != 0)
		return -EINVAL;
	if (conf->resolver != NULL)
		rc = dns_set_forwarder(ub, conf->resolver, err);
	else if (conf->zone_file == NULL)
		rc = ub_ctx_resolvconf(ub, NULL) == 0 ? 0 : -EINVAL;
	if (rc == 0 && conf->zone_file != NULL) {
		/* Without a resolver, the zone data is all there is: every
		 * other name is NXDOMAIN, never a query to the internet. */
		if (conf->resolver == NULL && ub_ctx_zone_add(ub, ".", "static") != 0)
			return -EINVAL;
		rc = dns_load_zone(ub, conf->zone_file, err);
	}
	if (rc == 0 && (conf->resolver != NULL || conf->zone_file == NULL))
		rc = dns_unblock_zones(ub);
	if (rc == 0 && conf->trust_anchor != NULL &&
			ub_ctx_add_ta_file(ub, conf->trust_anchor) != 0) {
		if (err != NULL)
			fprintf(err, "mxedge: trust anchor %s: unusable\n", conf->trust_anchor);
		rc = -EINVAL;
	}
	return rc;
}

int
mx_dns_create(const struct mx_dns_conf *conf, struct mx_dns **out, FILE *err)
{
	struct mx_dns *d = calloc(1, sizeof(*d));
	int rc = -ENOMEM;

	*out = NULL;
	if (d == NULL)
		return -ENOMEM;
	d->timeout_ms = conf->timeout_ms != 0 ? conf->timeout_ms : DNS_DEFAULT_TIMEOUT_MS;
	d->max_entries = conf->max_entries != 0 ? conf->max_entries :
			DNS_DEFAULT_MAX_ENTRIES;
	d->n_buckets = 64;
	while (d->n_buckets < d->max_entries && d->n_buckets < (1u << 20))
		d->n_buckets <<= 1;
	d->bucket = calloc(d->n_buckets, sizeof(*d->bucket));
	d->ub = ub_ctx_create();
	if (d->bucket == NULL || d->ub == NULL)
		goto fail;
	rc = dns_setup(d, conf, err);
	if (rc != 0)
		goto fail;
	*out = d;
	return 0;
fail:
	mx_dns_free(d);
	return rc;
}

void
mx_dns_free(struct mx_dns *d)
{
	if (d == NULL)
		return;
	while (d->lru_head != NULL)
		dns_remove(d, d->lru_head);
	if (d->ub != NULL)
		ub_ctx_delete(d->ub);
	free(d->bucket);
	free(d);
}
