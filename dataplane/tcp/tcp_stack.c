/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The TCP stack object: pools made once at creation (connections, their
 * receive and send rings, TIME_WAIT entries, per-address counters), the
 * keyed connection table, ISNs and SYN cookies, listeners, the
 * application calls, and the flush step that emits queued segments and
 * delivers events. Nothing here allocates after mx_tcp_stack_create().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_priv.h"

/* Issue 3 item 8: at most 1 KiB of TCP state per connection, data buffers
 * excluded. Measured: 312 bytes on x86_64 (gcc 12 and clang 14), of which
 * 80 are the two embedded timers and 32 the out-of-order ranges. */
static_assert(sizeof(struct mx_tcp_conn) <= 1024, "TCP state per connection");
/* A TIME_WAIT entry is a small fraction of a connection: 88 bytes. */
static_assert(sizeof(struct tcp_tw) <= 96, "TIME_WAIT footprint");

/* SYN cookie MSS table (RFC 4987 3.3: 3 bits of the cookie), common
 * values from 536 (the default) up to Ethernet's 1460. */
static const uint16_t cookie_mss[8] = {
	536, 1024, 1200, 1300, 1360, 1400, 1440, 1460,
};

/* The cookie's time counter advances every 64 s; a cookie of the current
 * or the previous period is valid (RFC 4987 3.3). */
#define COOKIE_PERIOD_MS 64000u

enum hash_tag {
	TAG_TABLE = 1,
	TAG_ISN,
	TAG_ADDR,
	TAG_TW,
};

void
mx_tcp_conf_defaults(struct mx_tcp_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->max_conns = 1024;
	conf->syn_backlog = 256;
	conf->tw_slots = 1024;
	conf->tw_ms = 60000;
	conf->fin_wait2_ms = 60000;
	conf->rcvbuf = 65536;
	conf->sndbuf = 65536;
	conf->mss = 1460;
	conf->wscale = 7;
	conf->rto_init_ms = 1000;
	conf->rto_min_ms = 200;
	conf->rto_max_ms = 60000;
	conf->delack_ms = 40;
	conf->syn_retries = 5;
	conf->max_retries = 12;
	conf->challenge_acks_per_s = 1000;
}

static uint64_t
tuple_hash(const struct mx_tcp_stack *s, enum hash_tag tag, uint32_t laddr,
		uint16_t lport, uint32_t raddr, uint16_t rport)
{
	uint8_t b[13];

	b[0] = (uint8_t)tag;
	memcpy(b + 1, &laddr, 4);
	memcpy(b + 5, &raddr, 4);
	memcpy(b + 9, &lport, 2);
	memcpy(b + 11, &rport, 2);
	return mx_siphash(s->conf.isn_secret, b, sizeof(b));
}

static uint32_t
pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n && p < (1u << 30))
		p <<= 1;
	return p;
}

static int
conf_check(const struct mx_tcp_conf *c)
{
	if (c->max_conns == 0 || c->max_conns > (1u << 22))
		return -EINVAL;
	if (c->rcvbuf < 1024 || c->rcvbuf > (1u << 30) ||
			c->sndbuf < 1024 || c->sndbuf > (1u << 30))
		return -EINVAL;
	if (c->mss < 64 || c->wscale > MX_TCP_WSCALE_MAX)
		return -EINVAL;
	if (c->delack_ms == 0 || c->delack_ms > 200)
		return -EINVAL;
	if (c->rto_min_ms == 0 || c->rto_min_ms > c->rto_max_ms ||
			c->rto_init_ms < c->rto_min_ms ||
			c->rto_init_ms > c->rto_max_ms)
		return -EINVAL;
	if (c->tw_slots > (1u << 22) || c->output == NULL || c->event == NULL)
		return -EINVAL;
	if (c->max_retries == 0 || c->max_retries > 30 || c->syn_retries > 30)
		return -EINVAL;
	return 0;
}

/* The rings of all connections in one reserved mapping, a receive ring
 * then a send ring per connection, laid out so that an empty receive ring
 * (starting over at bufs.a_home) and the send ring's start share a page
 * (mx_slots_map). */
#define TCP_RX_SHARE 3072u

static int
pools_create(struct mx_tcp_stack *s)
{
	const struct mx_tcp_conf *cf = &s->conf;
	size_t per = (size_t)cf->rcvbuf + cf->sndbuf;
	unsigned i;

	s->bucket_mask = pow2_at_least(cf->max_conns * 2) - 1;
	s->conns = calloc(cf->max_conns, sizeof(*s->conns));
	if (mx_slots_map(&s->bufs, cf->rcvbuf, cf->sndbuf, cf->max_conns,
			TCP_RX_SHARE) != 0)
		return -ENOMEM;
	s->buckets = calloc(s->bucket_mask + 1, sizeof(*s->buckets));
	s->addrs = calloc(cf->max_conns, sizeof(*s->addrs));
	s->addr_buckets = calloc(s->bucket_mask + 1, sizeof(*s->addr_buckets));
	s->scratch = malloc(cf->mss);
	if (s->conns == NULL || s->buckets == NULL ||
			s->addrs == NULL || s->addr_buckets == NULL ||
			s->scratch == NULL)
		return -ENOMEM;
	for (i = cf->max_conns; i-- > 0;) {
		struct mx_tcp_conn *c = &s->conns[i];

		c->s = s;
		c->rbuf = s->bufs.base + per * i;
		c->sbuf = c->rbuf + cf->rcvbuf;
		c->hnext = s->conn_free;
		s->conn_free = c;
		s->addrs[i].next = s->addr_free;
		s->addr_free = &s->addrs[i];
	}
	if (cf->tw_slots == 0)
		return 0;
	s->tw_mask = pow2_at_least(cf->tw_slots * 2) - 1;
	s->tws = calloc(cf->tw_slots, sizeof(*s->tws));
	s->tw_buckets = calloc(s->tw_mask + 1, sizeof(*s->tw_buckets));
	if (s->tws == NULL || s->tw_buckets == NULL)
		return -ENOMEM;
	for (i = cf->tw_slots; i-- > 0;) {
		s->tws[i].hnext = s->tw_free;
		s->tw_free = &s->tws[i];
	}
	return 0;
}

int
mx_tcp_stack_create(const struct mx_tcp_conf *conf, uint64_t now_ms,
		struct mx_tcp_stack **out)
{
	struct mx_tcp_stack *s;
	int rc;

	rc = conf_check(conf);
	if (rc != 0)
		return rc;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->conf = *conf;
	s->now = now_ms;
	if (conf->wheel != NULL) {
		s->wheel = conf->wheel;
	} else {
		rc = mx_wheel_create(now_ms, &s->wheel);
		if (rc != 0)
			goto fail;
		s->own_wheel = true;
	}
	rc = pools_create(s);
	if (rc != 0)
		goto fail;
	*out = s;
	return 0;
fail:
	mx_tcp_stack_free(s);
	return rc;
}

void
mx_tcp_stack_free(struct mx_tcp_stack *s)
{
	unsigned i;

	if (s == NULL)
		return;
	/* A shared wheel outlives us: unlink every timer we armed in it. */
	if (s->conns != NULL) {
		for (i = 0; i < s->conf.max_conns; i++) {
			mx_timer_cancel(s->wheel, &s->conns[i].rtx_tmr);
			mx_timer_cancel(s->wheel, &s->conns[i].dack_tmr);
		}
	}
	if (s->tws != NULL) {
		for (i = 0; i < s->conf.tw_slots; i++)
			mx_timer_cancel(s->wheel, &s->tws[i].tmr);
	}
	if (s->own_wheel)
		mx_wheel_free(s->wheel);
	free(s->conns);
	mx_slots_unmap(&s->bufs);
	free(s->buckets);
	free(s->addrs);
	free(s->addr_buckets);
	free(s->scratch);
	free(s->tws);
	free(s->tw_buckets);
	free(s);
}

/* ---- connection table ---- */

static struct mx_tcp_conn **
bucket_of(struct mx_tcp_stack *s, uint32_t laddr, uint16_t lport,
		uint32_t raddr, uint16_t rport)
{
	uint64_t h = tuple_hash(s, TAG_TABLE, laddr, lport, raddr, rport);

	return &s->buckets[h & s->bucket_mask];
}

struct mx_tcp_conn *
tcp_lookup(struct mx_tcp_stack *s, uint32_t laddr, uint16_t lport,
		uint32_t raddr, uint16_t rport)
{
	struct mx_tcp_conn *c = *bucket_of(s, laddr, lport, raddr, rport);

	for (; c != NULL; c = c->hnext) {
		if (c->laddr == laddr && c->raddr == raddr &&
				c->lport == lport && c->rport == rport)
			return c;
	}
	return NULL;
}

static void
table_remove(struct mx_tcp_conn *c)
{
	struct mx_tcp_conn **pp = bucket_of(c->s, c->laddr, c->lport,
			c->raddr, c->rport);

	for (; *pp != NULL; pp = &(*pp)->hnext) {
		if (*pp == c) {
			*pp = c->hnext;
			c->hnext = NULL;
			return;
		}
	}
	MX_PANIC("tcp: connection not in its bucket");
}

static bool halfopen_reclaim(struct mx_tcp_stack *s);

struct mx_tcp_conn *
tcp_conn_new(struct mx_tcp_stack *s, uint32_t laddr, uint16_t lport,
		uint32_t raddr, uint16_t rport, bool passive)
{
	struct mx_tcp_conn **b;
	struct mx_tcp_conn *c, *it;
	unsigned n = 0;
	uint8_t *rbuf, *sbuf;

	if (s->conn_free == NULL && !halfopen_reclaim(s)) {
		s->st.drop_conn_limit++;
		return NULL;
	}
	b = bucket_of(s, laddr, lport, raddr, rport);
	for (it = *b; it != NULL; it = it->hnext)
		n++;
	if (n >= TCP_BUCKET_MAX) {
		s->st.drop_bucket_full++;
		return NULL;
	}
	c = s->conn_free;
	s->conn_free = c->hnext;
	rbuf = c->rbuf;
	sbuf = c->sbuf;
	memset(c, 0, sizeof(*c));
	c->s = s;
	c->rbuf = rbuf;
	c->sbuf = sbuf;
	c->r_off = (uint32_t)s->bufs.a_home;
	mx_timer_init(&c->rtx_tmr, tcp_rtx_timeout, c);
	mx_timer_init(&c->dack_tmr, tcp_dack_timeout, c);
	c->laddr = laddr;
	c->raddr = raddr;
	c->lport = lport;
	c->rport = rport;
	c->flags = passive ? CF_PASSIVE : 0;
	c->rto = s->conf.rto_init_ms;
	c->smss = MX_MIN(s->conf.mss, MX_TCP_MSS_DEFAULT);
	c->hnext = *b;
	*b = c;
	s->n_conns++;
	return c;
}

static void
conn_free(struct mx_tcp_conn *c)
{
	struct mx_tcp_stack *s = c->s;

	c->state = MX_TCP_CLOSED;
	c->hnext = s->conn_free;
	s->conn_free = c;
	s->n_conns--;
}

/* Undoes tcp_conn_new() for a connection nobody has seen yet. */
void
tcp_conn_discard(struct mx_tcp_conn *c)
{
	table_remove(c);
	conn_free(c);
}

/* ---- per-address limit ---- */

static struct tcp_addr **
addr_bucket(struct mx_tcp_stack *s, uint32_t addr)
{
	uint64_t h = tuple_hash(s, TAG_ADDR, 0, 0, addr, 0);

	return &s->addr_buckets[h & s->bucket_mask];
}

/* Counts a passive connection against its peer address; -EMFILE when the
 * address is at max_per_addr. */
int
tcp_addr_acquire(struct mx_tcp_conn *c)
{
	struct mx_tcp_stack *s = c->s;
	struct tcp_addr **b, *a;

	if (s->conf.max_per_addr == 0)
		return 0;
	b = addr_bucket(s, c->raddr);
	for (a = *b; a != NULL; a = a->next) {
		if (a->addr == c->raddr)
			break;
	}
	if (a == NULL) {
		/* One entry per connection exists, so this cannot run dry. */
		a = s->addr_free;
		MX_ASSERT(a != NULL);
		s->addr_free = a->next;
		a->addr = c->raddr;
		a->count = 0;
		a->next = *b;
		*b = a;
	}
	if (a->count >= s->conf.max_per_addr) {
		s->st.drop_addr_limit++;
		if (a->count == 0) {
			*b = a->next;
			a->next = s->addr_free;
			s->addr_free = a;
		}
		return -EMFILE;
	}
	a->count++;
	c->flags |= CF_COUNTED;
	return 0;
}

static void
addr_release(struct mx_tcp_conn *c)
{
	struct mx_tcp_stack *s = c->s;
	struct tcp_addr **pp, *a;

	if (!(c->flags & CF_COUNTED))
		return;
	c->flags &= ~CF_COUNTED;
	for (pp = addr_bucket(s, c->raddr); *pp != NULL; pp = &(*pp)->next) {
		a = *pp;
		if (a->addr != c->raddr)
			continue;
		if (--a->count == 0) {
			*pp = a->next;
			a->next = s->addr_free;
			s->addr_free = a;
		}
		return;
	}
	MX_PANIC("tcp: per-address entry missing");
}

/* ---- state changes and closing ---- */

static void
halfopen_link(struct mx_tcp_stack *s, struct mx_tcp_conn *c)
{
	c->ho_next = NULL;
	c->ho_prev = s->ho_newest;
	if (s->ho_newest != NULL)
		s->ho_newest->ho_next = c;
	else
		s->ho_oldest = c;
	s->ho_newest = c;
	s->n_halfopen++;
}

static void
halfopen_unlink(struct mx_tcp_stack *s, struct mx_tcp_conn *c)
{
	if (c->ho_prev != NULL)
		c->ho_prev->ho_next = c->ho_next;
	else
		s->ho_oldest = c->ho_next;
	if (c->ho_next != NULL)
		c->ho_next->ho_prev = c->ho_prev;
	else
		s->ho_newest = c->ho_prev;
	c->ho_prev = c->ho_next = NULL;
	s->n_halfopen--;
}

void
tcp_conn_set_state(struct mx_tcp_conn *c, enum mx_tcp_state st)
{
	if (c->state == MX_TCP_SYN_RCVD && (c->flags & CF_PASSIVE))
		halfopen_unlink(c->s, c);
	if (st == MX_TCP_SYN_RCVD && (c->flags & CF_PASSIVE))
		halfopen_link(c->s, c);
	c->state = (uint8_t)st;
}

/*
 * The table is full: the oldest half-open connection gives its slot up,
 * silently (FreeBSD's syncache does the same when a bucket overflows).
 * Nothing is lost for a peer that still completes the handshake: every
 * passive SYN-ACK carries a SYN cookie as its ISN (listen_syn), so its
 * ACK then opens the connection through the cookie path, as if the SYN
 * had been answered statelessly. Half-open connections may therefore
 * take any free slot without starving established ones. One the owner
 * has pending work for is left alone (it cannot be freed before flush).
 */
static bool
halfopen_reclaim(struct mx_tcp_stack *s)
{
	struct mx_tcp_conn *c = s->ho_oldest;

	if (c == NULL || c->queued)
		return false;
	tcp_conn_set_state(c, MX_TCP_CLOSED);
	mx_timer_cancel(s->wheel, &c->rtx_tmr);
	mx_timer_cancel(s->wheel, &c->dack_tmr);
	table_remove(c);
	addr_release(c);
	conn_free(c);
	s->st.halfopen_reclaimed++;
	return true;
}

/*
 * The connection leaves the table now (later segments of its tuple find
 * nothing, or its TIME_WAIT entry) and is freed by the flush step after
 * the owner has seen MX_TCP_EV_CLOSED. An active open that never
 * connected reports MX_TCP_EV_CONNECTED with the error first.
 */
void
tcp_conn_close(struct mx_tcp_conn *c, int err)
{
	struct mx_tcp_stack *s = c->s;

	if (c->state == MX_TCP_CLOSED)
		return;
	if (!(c->flags & CF_PASSIVE) && err != -ECONNABORTED &&
			(c->state == MX_TCP_SYN_SENT ||
			 c->state == MX_TCP_SYN_RCVD))
		c->ev |= EV_CONNECTED;
	tcp_conn_set_state(c, MX_TCP_CLOSED);
	mx_timer_cancel(s->wheel, &c->rtx_tmr);
	mx_timer_cancel(s->wheel, &c->dack_tmr);
	table_remove(c);
	addr_release(c);
	c->err = err;
	c->ev |= EV_CLOSED;
	tcp_pend(c);
}

/* ---- TIME_WAIT ---- */

static struct tcp_tw **
tw_bucket(struct mx_tcp_stack *s, uint32_t laddr, uint16_t lport,
		uint32_t raddr, uint16_t rport)
{
	uint64_t h = tuple_hash(s, TAG_TW, laddr, lport, raddr, rport);

	return &s->tw_buckets[h & s->tw_mask];
}

struct tcp_tw *
tcp_tw_lookup(struct mx_tcp_stack *s, uint32_t laddr, uint16_t lport,
		uint32_t raddr, uint16_t rport)
{
	struct tcp_tw *tw;

	if (s->n_tw == 0)
		return NULL;
	for (tw = *tw_bucket(s, laddr, lport, raddr, rport); tw != NULL;
			tw = tw->hnext) {
		if (tw->laddr == laddr && tw->raddr == raddr &&
				tw->lport == lport && tw->rport == rport)
			return tw;
	}
	return NULL;
}

static void
tw_unlink_age(struct mx_tcp_stack *s, struct tcp_tw *tw)
{
	if (tw->older != NULL)
		tw->older->newer = tw->newer;
	else
		s->tw_oldest = tw->newer;
	if (tw->newer != NULL)
		tw->newer->older = tw->older;
	else
		s->tw_newest = tw->older;
	tw->older = NULL;
	tw->newer = NULL;
}

static void
tw_link_newest(struct mx_tcp_stack *s, struct tcp_tw *tw)
{
	tw->older = s->tw_newest;
	tw->newer = NULL;
	if (s->tw_newest != NULL)
		s->tw_newest->newer = tw;
	else
		s->tw_oldest = tw;
	s->tw_newest = tw;
}

void
tcp_tw_remove(struct mx_tcp_stack *s, struct tcp_tw *tw)
{
	struct tcp_tw **pp = tw_bucket(s, tw->laddr, tw->lport, tw->raddr,
			tw->rport);

	for (; *pp != NULL; pp = &(*pp)->hnext) {
		if (*pp == tw) {
			*pp = tw->hnext;
			break;
		}
	}
	mx_timer_cancel(s->wheel, &tw->tmr);
	tw_unlink_age(s, tw);
	tw->hnext = s->tw_free;
	s->tw_free = tw;
	s->n_tw--;
}

static void
tw_timeout(struct mx_timer *t, void *arg)
{
	tcp_tw_remove(arg, (struct tcp_tw *)t);
}

/* Restarting 2MSL makes the entry the youngest, so eviction stays
 * oldest-expiry first. */
void
tcp_tw_rearm(struct mx_tcp_stack *s, struct tcp_tw *tw)
{
	tw_unlink_age(s, tw);
	tw_link_newest(s, tw);
	mx_timer_arm(s->wheel, &tw->tmr, s->now + s->conf.tw_ms);
}

/* The oldest entry of a full hash chain: the last one, as entries are
 * pushed at the head. */
static struct tcp_tw *
tw_chain_oldest(struct tcp_tw *head, unsigned *n)
{
	struct tcp_tw *it, *last = NULL;

	*n = 0;
	for (it = head; it != NULL; it = it->hnext) {
		last = it;
		(*n)++;
	}
	return last;
}

/* Replaces the connection by a TIME_WAIT entry. A full table or hash
 * chain evicts its oldest entry (counted in tw_overflow): that entry is
 * the closest to expiry anyway, and skipping the new one instead would
 * leave the newest sequence space unguarded (RFC 9293 3.6.1). Only with
 * no table at all (tw_slots 0) does the connection close without one. */
void
tcp_tw_enter(struct mx_tcp_conn *c)
{
	struct mx_tcp_stack *s = c->s;
	struct tcp_tw **b, *tw, *last;
	unsigned n;

	s->st.tw_entered++;
	if (s->tws == NULL) {
		s->st.tw_overflow++;
		goto out;
	}
	b = tw_bucket(s, c->laddr, c->lport, c->raddr, c->rport);
	last = tw_chain_oldest(*b, &n);
	if (n >= TCP_BUCKET_MAX) {
		s->st.tw_overflow++;
		tcp_tw_remove(s, last);
	}
	if (s->tw_free == NULL) {
		s->st.tw_overflow++;
		tcp_tw_remove(s, s->tw_oldest);
	}
	tw = s->tw_free;
	s->tw_free = tw->hnext;
	mx_timer_init(&tw->tmr, tw_timeout, s);
	tw->laddr = c->laddr;
	tw->raddr = c->raddr;
	tw->lport = c->lport;
	tw->rport = c->rport;
	tw->snd_nxt = c->snd_max;
	tw->rcv_nxt = c->rcv_nxt;
	tw->challenged = false;
	tw->older = NULL;
	tw->newer = NULL;
	tw->hnext = *b;
	*b = tw;
	s->n_tw++;
	tw_link_newest(s, tw);
	mx_timer_arm(s->wheel, &tw->tmr, s->now + s->conf.tw_ms);
out:
	tcp_conn_close(c, 0);
}

/* ---- ISN and SYN cookies ---- */

/* RFC 6528 3: ISN = M + F(4-tuple, secret), M a 4 µs clock. */
uint32_t
tcp_isn(struct mx_tcp_stack *s, uint32_t laddr, uint16_t lport,
		uint32_t raddr, uint16_t rport)
{
	uint64_t f = tuple_hash(s, TAG_ISN, laddr, lport, raddr, rport);

	return (uint32_t)f + (uint32_t)(s->now * 250);
}

static uint32_t
cookie_hash(struct mx_tcp_stack *s, const struct mx_tcp_seg *seg,
		uint32_t peer_isn, uint32_t t)
{
	uint8_t b[20];

	/* Our side is the segment's destination. */
	memcpy(b, &seg->daddr, 4);
	memcpy(b + 4, &seg->saddr, 4);
	memcpy(b + 8, &seg->dport, 2);
	memcpy(b + 10, &seg->sport, 2);
	memcpy(b + 12, &peer_isn, 4);
	memcpy(b + 16, &t, 4);
	return (uint32_t)mx_siphash(s->conf.cookie_secret, b, sizeof(b)) &
		0xffffffu;
}

/*
 * RFC 4987 3.3: the ISN of a cookie SYN-ACK is t (5 bits of a 64 s
 * counter), m (3 bits: an index into cookie_mss, the largest not above
 * the peer's MSS) and s (24 bits: a keyed hash of the 4-tuple, the peer's
 * ISN and t). No state is kept. XXX: the cookie cannot hold the window
 * scale without timestamps, so a cookie SYN-ACK offers no window scaling
 * and the connection runs unscaled (issue 3).
 */
uint32_t
tcp_cookie_make(struct mx_tcp_stack *s, const struct mx_tcp_seg *seg,
		uint16_t peer_mss, uint16_t *mss_out)
{
	uint32_t t = (uint32_t)(s->now / COOKIE_PERIOD_MS) & 31;
	uint16_t want = MX_MIN(peer_mss, s->conf.mss);
	uint32_t m = 0;

	while (m + 1 < MX_ARRAY_SIZE(cookie_mss) && cookie_mss[m + 1] <= want)
		m++;
	*mss_out = cookie_mss[m];
	return t << 27 | m << 24 | cookie_hash(s, seg, seg->seq, t);
}

bool
tcp_cookie_check(struct mx_tcp_stack *s, const struct mx_tcp_seg *seg,
		uint16_t *mss_out)
{
	uint32_t cookie = seg->ack - 1;
	uint32_t t = cookie >> 27;
	uint32_t now_t = (uint32_t)(s->now / COOKIE_PERIOD_MS) & 31;

	if (t != now_t && t != ((now_t - 1) & 31))
		return false;
	if ((cookie & 0xffffffu) != cookie_hash(s, seg, seg->seq - 1, t))
		return false;
	*mss_out = MX_MIN(cookie_mss[(cookie >> 24) & 7], s->conf.mss);
	return true;
}

/* ---- listeners ---- */

struct mx_tcp_listener *
tcp_listener_find(struct mx_tcp_stack *s, uint32_t addr, uint16_t port)
{
	unsigned i;

	for (i = 0; i < MX_TCP_MAX_LISTENERS; i++) {
		struct mx_tcp_listener *l = &s->lst[i];

		if (l->used && l->port == port &&
				(l->addr == 0 || l->addr == addr))
			return l;
	}
	return NULL;
}

int
mx_tcp_listen(struct mx_tcp_stack *s, uint32_t addr, uint16_t port,
		mx_tcp_accept_fn *fn, void *arg, struct mx_tcp_listener **out)
{
	struct mx_tcp_listener *free_l = NULL;
	unsigned i;

	if (port == 0 || fn == NULL)
		return -EINVAL;
	for (i = 0; i < MX_TCP_MAX_LISTENERS; i++) {
		struct mx_tcp_listener *l = &s->lst[i];

		if (!l->used) {
			if (free_l == NULL)
				free_l = l;
			continue;
		}
		if (l->port == port && (l->addr == addr || l->addr == 0 ||
				addr == 0))
			return -EADDRINUSE;
	}
	if (free_l == NULL)
		return -ENOSPC;
	free_l->s = s;
	free_l->fn = fn;
	free_l->arg = arg;
	free_l->addr = addr;
	free_l->port = port;
	free_l->used = true;
	*out = free_l;
	return 0;
}

void
mx_tcp_unlisten(struct mx_tcp_listener *l)
{
	struct mx_tcp_stack *s = l->s;
	unsigned i;

	/* Cold path: connections not yet handed to the owner go with it. */
	for (i = 0; i < s->conf.max_conns; i++) {
		struct mx_tcp_conn *c = &s->conns[i];

		if (c->lst != l || c->state == MX_TCP_CLOSED ||
				(c->flags & CF_ACCEPTED))
			continue;
		if (c->state != MX_TCP_SYN_RCVD)
			tcp_send_rst_conn(c);
		tcp_conn_close(c, -ECONNABORTED);
	}
	l->used = false;
	mx_tcp_flush(s);
}

/* ---- active open ---- */

int
mx_tcp_connect(struct mx_tcp_stack *s, uint32_t laddr, uint16_t lport,
		uint32_t raddr, uint16_t rport, void *user,
		struct mx_tcp_conn **out)
{
	struct mx_tcp_conn *c;

	if (lport == 0 || rport == 0 || raddr == 0)
		return -EINVAL;
	if (tcp_lookup(s, laddr, lport, raddr, rport) != NULL ||
			tcp_tw_lookup(s, laddr, lport, raddr, rport) != NULL)
		return -EADDRINUSE;
	c = tcp_conn_new(s, laddr, lport, raddr, rport, false);
	if (c == NULL)
		return -ENOBUFS;
	c->user = user;
	c->flags |= CF_WS; /* offered in our SYN (RFC 7323 1.3) */
	c->flags |= CF_SACK; /* offered in our SYN (RFC 2018 2) */
	c->iss = tcp_isn(s, laddr, lport, raddr, rport);
	c->snd_una = c->iss;
	c->snd_nxt = c->iss;
	c->snd_max = c->iss;
	tcp_conn_set_state(c, MX_TCP_SYN_SENT);
	s->st.connects++;
	tcp_pend(c);
	*out = c;
	return 0;
}

/* ---- application calls ---- */

void
mx_tcp_conn_set_user(struct mx_tcp_conn *c, void *user)
{
	c->user = user;
}

void *
mx_tcp_conn_user(const struct mx_tcp_conn *c)
{
	return c->user;
}

enum mx_tcp_state
mx_tcp_conn_state(const struct mx_tcp_conn *c)
{
	return (enum mx_tcp_state)c->state;
}

static const char *const state_names[] = {
	"CLOSED", "SYN_SENT", "SYN_RCVD", "ESTABLISHED",
	"FIN_WAIT_1", "FIN_WAIT_2", "CLOSING", "TIME_WAIT",
	"CLOSE_WAIT", "LAST_ACK",
};

const char *
mx_tcp_state_name(enum mx_tcp_state st)
{
	if ((unsigned)st >= MX_ARRAY_SIZE(state_names))
		return "?";
	return state_names[st];
}

void
mx_tcp_conn_tuple(const struct mx_tcp_conn *c, uint32_t *laddr,
		uint16_t *lport, uint32_t *raddr, uint16_t *rport)
{
	*laddr = c->laddr;
	*lport = c->lport;
	*raddr = c->raddr;
	*rport = c->rport;
}

size_t
mx_tcp_read_view(struct mx_tcp_conn *c, const uint8_t **p)
{
	uint32_t run = MX_MIN(c->r_len, c->s->conf.rcvbuf - c->r_off);

	*p = c->rbuf + c->r_off;
	return run;
}

void
mx_tcp_consume(struct mx_tcp_conn *c, size_t n)
{
	uint32_t before, after, k;

	k = (uint32_t)MX_MIN(n, (size_t)c->r_len);
	if (k == 0)
		return;
	before = tcp_rcv_space(c);
	c->r_off = (c->r_off + k) % c->s->conf.rcvbuf;
	c->r_len -= k;
	/* An empty ring with nothing held out of order starts over at its
	 * home (TCP_RX_SHARE): a connection's resident buffer pages are then
	 * the most it ever held at once, not every page of the ring that a
	 * long session walked across. */
	if (c->r_len == 0 && c->n_ooo == 0)
		c->r_off = (uint32_t)c->s->bufs.a_home;
	after = tcp_rcv_space(c);
	/* RFC 9293 3.8.6.2.2 (receiver SWS avoidance): announce the opened
	 * window only once the right edge moves by min(buffer/2, MSS). */
	if (tcp_synchronized(c) && !(c->flags & CF_FIN_RCVD) &&
			SEQ_GEQ(c->rcv_nxt + after, c->rcv_adv +
				MX_MIN(c->s->conf.rcvbuf / 2, c->s->conf.mss)) &&
			after > before) {
		c->flags |= CF_ACK_NOW;
		tcp_pend(c);
	}
}

size_t
mx_tcp_readable(const struct mx_tcp_conn *c)
{
	return c->r_len;
}

bool
mx_tcp_peer_closed(const struct mx_tcp_conn *c)
{
	return (c->flags & CF_FIN_RCVD) != 0;
}

void
mx_tcp_want_read(struct mx_tcp_conn *c)
{
	if (c->r_len > 0 || (c->flags & CF_FIN_RCVD)) {
		c->ev |= EV_READABLE;
		tcp_pend(c);
	}
}

long
mx_tcp_send(struct mx_tcp_conn *c, const void *p, size_t len)
{
	uint32_t size = c->s->conf.sndbuf;
	uint32_t n, pos, first;

	if (c->flags & (CF_CLOSE_REQ | CF_ABORT_REQ))
		return -EPIPE;
	if (c->state == MX_TCP_CLOSED)
		return -ENOTCONN;
	n = (uint32_t)MX_MIN(len, (size_t)(size - c->s_len));
	if (n < len)
		c->flags |= CF_WANT_WRITE;
	if (n == 0)
		return 0;
	pos = (c->s_off + c->s_len) % size;
	first = MX_MIN(n, size - pos);
	memcpy(c->sbuf + pos, p, first);
	memcpy(c->sbuf, (const uint8_t *)p + first, n - first);
	c->s_len += n;
	tcp_pend(c);
	return n;
}

size_t
mx_tcp_send_space(const struct mx_tcp_conn *c)
{
	if (c->flags & (CF_CLOSE_REQ | CF_ABORT_REQ) ||
			c->state == MX_TCP_CLOSED)
		return 0;
	return c->s->conf.sndbuf - c->s_len;
}

size_t
mx_tcp_send_pending(const struct mx_tcp_conn *c)
{
	return c->s_len;
}

void
mx_tcp_close(struct mx_tcp_conn *c)
{
	if (c->flags & (CF_CLOSE_REQ | CF_ABORT_REQ) ||
			c->state == MX_TCP_CLOSED)
		return;
	c->flags |= CF_CLOSE_REQ;
	tcp_pend(c);
}

void
mx_tcp_abort(struct mx_tcp_conn *c)
{
	if (c->flags & CF_ABORT_REQ || c->state == MX_TCP_CLOSED)
		return;
	c->flags |= CF_ABORT_REQ;
	tcp_pend(c);
}

size_t
mx_tcp_conn_size(void)
{
	return sizeof(struct mx_tcp_conn);
}

/* ---- flush: output and events ---- */

void
tcp_pend(struct mx_tcp_conn *c)
{
	struct mx_tcp_stack *s = c->s;

	if (c->queued)
		return;
	c->queued = 1;
	c->pnext = NULL;
	if (s->pend_tail != NULL)
		s->pend_tail->pnext = c;
	else
		s->pend_head = c;
	s->pend_tail = c;
}

static void
emit_event(struct mx_tcp_conn *c, enum mx_tcp_event ev, int err)
{
	c->s->conf.event(c, ev, err, c->user);
}

/* Delivers the events that do not end the connection; the owner may
 * call anything from its handlers, which may queue more work. */
static void
deliver_events(struct mx_tcp_conn *c)
{
	struct mx_tcp_stack *s = c->s;

	if ((c->flags & CF_PASSIVE) && !(c->flags & CF_ACCEPTED)) {
		if (!(c->ev & EV_ACCEPT) || c->state == MX_TCP_CLOSED)
			return;
		c->ev &= (uint8_t)~EV_ACCEPT;
		c->flags |= CF_ACCEPTED;
		s->st.accepts++;
		if (c->lst != NULL && c->lst->used) {
			c->lst->fn(c->lst, c, c->lst->arg);
		} else {
			tcp_send_rst_conn(c);
			tcp_conn_close(c, -ECONNABORTED);
			return;
		}
	}
	if (c->ev & EV_CONNECTED) {
		c->ev &= (uint8_t)~EV_CONNECTED;
		emit_event(c, MX_TCP_EV_CONNECTED,
				c->state == MX_TCP_CLOSED ? c->err : 0);
	}
	if ((c->ev & EV_READABLE) && !(c->flags & CF_ABORT_REQ)) {
		c->ev &= (uint8_t)~EV_READABLE;
		emit_event(c, MX_TCP_EV_READABLE, 0);
	}
	if ((c->ev & EV_WRITABLE) && c->state != MX_TCP_CLOSED &&
			!(c->flags & (CF_ABORT_REQ | CF_CLOSE_REQ))) {
		c->ev &= (uint8_t)~EV_WRITABLE;
		emit_event(c, MX_TCP_EV_WRITABLE, 0);
	}
}

static void
service(struct mx_tcp_conn *c)
{
	if (c->flags & CF_DEAD) {
		if (!c->queued)
			conn_free(c);
		return;
	}
	if (c->state != MX_TCP_CLOSED)
		deliver_events(c);
	if (c->state != MX_TCP_CLOSED && (c->flags & CF_ABORT_REQ)) {
		/* RFC 9293 3.10.5: ABORT sends a RST except in SYN_SENT. */
		if (c->state != MX_TCP_SYN_SENT)
			tcp_send_rst_conn(c);
		tcp_conn_close(c, -ECONNABORTED);
	}
	if (c->state == MX_TCP_SYN_SENT && c->snd_nxt == c->iss)
		tcp_send_syn(c);
	else if (c->state != MX_TCP_CLOSED)
		tcp_output(c);
	if (c->state != MX_TCP_CLOSED)
		return;
	/* Closed: a passive connection the owner never saw goes silently. */
	if (!(c->flags & CF_PASSIVE) || (c->flags & CF_ACCEPTED)) {
		if (c->ev & EV_CONNECTED) {
			c->ev &= (uint8_t)~EV_CONNECTED;
			emit_event(c, MX_TCP_EV_CONNECTED, c->err);
		}
		if (c->ev & EV_READABLE) {
			c->ev &= (uint8_t)~EV_READABLE;
			emit_event(c, MX_TCP_EV_READABLE, 0);
		}
		emit_event(c, MX_TCP_EV_CLOSED, c->err);
	}
	c->ev = 0;
	/* A handler may have queued it again: it is freed when popped. */
	c->flags |= CF_DEAD;
	if (!c->queued)
		conn_free(c);
}

void
mx_tcp_flush(struct mx_tcp_stack *s)
{
	/* Each connection can re-queue itself from its handlers; the bound
	 * keeps one flush finite, the rest waits for the next one. */
	unsigned budget = 4 * s->conf.max_conns + 16;

	if (s->flushing)
		return;
	s->flushing = true;
	while (s->pend_head != NULL && budget-- > 0) {
		struct mx_tcp_conn *c = s->pend_head;

		s->pend_head = c->pnext;
		if (s->pend_head == NULL)
			s->pend_tail = NULL;
		c->pnext = NULL;
		c->queued = 0;
		service(c);
	}
	s->flushing = false;
}

void
mx_tcp_tick(struct mx_tcp_stack *s, uint64_t now_ms)
{
	if (now_ms > s->now)
		s->now = now_ms;
	if (s->own_wheel)
		mx_wheel_expire(s->wheel, s->now, UINT32_MAX);
	mx_tcp_flush(s);
}

void
mx_tcp_get_stats(const struct mx_tcp_stack *s, struct mx_tcp_stats *out)
{
	*out = s->st;
}

unsigned
mx_tcp_n_conns(const struct mx_tcp_stack *s)
{
	return s->n_conns;
}

unsigned
mx_tcp_n_time_wait(const struct mx_tcp_stack *s)
{
	return s->n_tw;
}
