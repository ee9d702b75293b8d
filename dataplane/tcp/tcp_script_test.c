/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcp_script_test: the protocol-script harness of the TCP engine. Each
 * script plays the remote peer: it injects segments (built as wire bytes
 * and run through mx_tcp_hdr_parse, so checksums and lengths are real),
 * moves a virtual clock, acts as the application (send, read, close,
 * abort, connect) and asserts on every segment the stack emits (flags,
 * sequence and acknowledgment numbers, window, options, payload bytes) and
 * on every event it reports. At the end of a script nothing emitted or
 * reported may be left unchecked.
 *
 * Sequence numbers in scripts are relative: our side counts from the ISS
 * the stack chose (captured from its SYN or SYN-ACK), the peer's side
 * from PEER_ISN. Payload bytes follow a per-direction pattern of the
 * stream offset, so every byte delivered or sent is checked.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mx_base.h"
#include "mx_tcp.h"

#define PEER_ISN 1000u
#define ANY 0xffffffffu
#define W 16000u      /* the peer's default window */
#define LPORT 25
#define PPORT 40000
#define A_LPORT 50000 /* our port for active opens */
#define A_PPORT 2525
#define EV_ACC 100    /* the accept callback, logged like an event */

enum op {
	OP_END = 0,
	OP_IN,        /* inject a segment through the wire parser */
	OP_DIRECT,    /* inject the parsed form directly (bypass the parser) */
	OP_EXP,       /* the next emitted segment must match */
	OP_NONE,      /* nothing emitted and not yet checked */
	OP_AT,        /* advance the clock to arg ms and tick */
	OP_SEND,      /* the app sends arg bytes; mx_tcp_send returns arg2 */
	OP_READ,      /* exactly arg bytes are readable; read and check them */
	OP_CLOSE,
	OP_ABORT,
	OP_CONNECT,
	OP_EV,        /* the next event must be arg with err arg2 */
	OP_STATE,
	OP_NCONN,
	OP_NTW,
	OP_STAT,      /* a counter of struct mx_tcp_stats equals arg */
	OP_PEERCLOSED,
};

enum mangle {
	MG_NONE = 0,
	MG_CSUM,      /* flip a checksum bit */
	MG_DOFF_LOW,  /* data offset 4 words */
	MG_DOFF_HIGH, /* data offset beyond the segment */
	MG_TRUNC,     /* the IP length claims more than arrived */
};

struct step {
	uint8_t op;
	uint8_t fl;
	uint8_t mangle;
	uint8_t abs;            /* seq/ack are absolute */
	uint8_t peer2;          /* from the second peer address */
	uint16_t lp, pp;
	uint32_t seq, ack, wnd, len;
	int64_t arg, arg2;
	const char *opts;       /* "mss=N ws=N sack ts"; on EXP "" = none,
	                         * and "nsack=N sack0=L:R" (SACK blocks, the
	                         * first one's edges relative to PEER_ISN) */
	const char *raw;        /* raw option bytes (length raw_len) */
	uint8_t raw_len;
	size_t off;             /* OP_STAT: offsetof(struct mx_tcp_stats, x) */
};

struct script {
	const char *name;
	void (*conf)(struct mx_tcp_conf *c);
	struct step steps[48];
};

#define SEG(o, l_, p_, a2, f, s, a, w, n, op_, raw_, rl) \
	{ .op = (o), .lp = (l_), .pp = (p_), .peer2 = (a2), .fl = (f), \
	  .seq = (s), .ack = (a), .wnd = (w), .len = (n), .opts = (op_), \
	  .raw = (raw_), .raw_len = (rl) }
#define IN(f, s, a, w, n) SEG(OP_IN, LPORT, PPORT, 0, f, s, a, w, n, NULL, NULL, 0)
#define INO(f, s, a, w, n, o) SEG(OP_IN, LPORT, PPORT, 0, f, s, a, w, n, o, NULL, 0)
#define INP(pp, f, s, a, w, n, o) SEG(OP_IN, LPORT, pp, 0, f, s, a, w, n, o, NULL, 0)
#define INP2(pp, f, s, a, w, n, o) SEG(OP_IN, LPORT, pp, 1, f, s, a, w, n, o, NULL, 0)
#define INRAW(f, s, a, w, raw, rl) SEG(OP_IN, LPORT, PPORT, 0, f, s, a, w, 0, NULL, raw, rl)
#define DIRRAW(f, s, a, w, raw, rl) SEG(OP_DIRECT, LPORT, PPORT, 0, f, s, a, w, 0, NULL, raw, rl)
#define INM(mg, f, s, a, w, n) \
	{ .op = OP_IN, .lp = LPORT, .pp = PPORT, .fl = (f), .seq = (s), \
	  .ack = (a), .wnd = (w), .len = (n), .mangle = (mg) }
#define INABS(port, f, s, a, w) \
	{ .op = OP_IN, .lp = LPORT, .pp = (port), .fl = (f), .seq = (s), \
	  .ack = (a), .wnd = (w), .abs = 1 }
#define AIN(f, s, a, w, n, o) SEG(OP_IN, A_LPORT, A_PPORT, 0, f, s, a, w, n, o, NULL, 0)
#define EXP(f, s, a, w, n) SEG(OP_EXP, LPORT, PPORT, 0, f, s, a, w, n, NULL, NULL, 0)
#define EXPO(f, s, a, w, n, o) SEG(OP_EXP, LPORT, PPORT, 0, f, s, a, w, n, o, NULL, 0)
#define EXPP(pp, f, s, a, w, n, o) SEG(OP_EXP, LPORT, pp, 0, f, s, a, w, n, o, NULL, 0)
#define EXPP2(pp, f, s, a, w, n, o) SEG(OP_EXP, LPORT, pp, 1, f, s, a, w, n, o, NULL, 0)
#define EXPABS(port, f, s, a) \
	{ .op = OP_EXP, .lp = LPORT, .pp = (port), .fl = (f), .seq = (s), \
	  .ack = (a), .wnd = ANY, .abs = 1 }
#define AEXP(f, s, a, w, n, o) SEG(OP_EXP, A_LPORT, A_PPORT, 0, f, s, a, w, n, o, NULL, 0)
#define NONE { .op = OP_NONE }
#define AT(t) { .op = OP_AT, .arg = (t) }
#define SEND(n, r) { .op = OP_SEND, .arg = (n), .arg2 = (r) }
#define READ(n) { .op = OP_READ, .arg = (n) }
#define CLOSE { .op = OP_CLOSE }
#define ABORT { .op = OP_ABORT }
#define CONNECT(r) { .op = OP_CONNECT, .arg = (r) }
#define EV(e, err) { .op = OP_EV, .arg = (e), .arg2 = (err) }
#define STATE(st) { .op = OP_STATE, .arg = (st) }
#define NCONN(n) { .op = OP_NCONN, .arg = (n) }
#define NTW(n) { .op = OP_NTW, .arg = (n) }
#define STAT(f, v) { .op = OP_STAT, .off = offsetof(struct mx_tcp_stats, f), .arg = (v) }
#define PEERCLOSED(b) { .op = OP_PEERCLOSED, .arg = (b) }

#define A MX_TCP_ACK
#define S MX_TCP_SYN
#define F MX_TCP_FIN
#define R MX_TCP_RST
#define P MX_TCP_PSH
#define READABLE MX_TCP_EV_READABLE
#define WRITABLE MX_TCP_EV_WRITABLE
#define CONNECTED MX_TCP_EV_CONNECTED
#define CLOSED MX_TCP_EV_CLOSED

/* The passive handshake most scripts start with: the peer offers MSS
 * 1000 and window scale 0; we answer with MSS 1460 and our shift 2; our
 * 8192-byte buffer is announced unscaled in the SYN-ACK. */
#define HS \
	INO(S, 0, 0, 65535, 0, "mss=1000 ws=0"), \
	EXPO(S | A, 0, 1, 8192, 0, "mss=1460 ws=2"), \
	IN(A, 1, 1, W, 0), \
	EV(EV_ACC, 0)

/* A passive connection from peer port pp that we close first, so it
 * ends in TIME_WAIT (10 steps). */
#define HS_TW(pp) \
	INP(pp, S, 0, 0, 65535, 0, "mss=1000 ws=0"), \
	EXPP(pp, S | A, 0, 1, 8192, 0, "mss=1460 ws=2"), \
	INP(pp, A, 1, 1, W, 0, NULL), \
	EV(EV_ACC, 0), \
	CLOSE, \
	EXPP(pp, F | A, 1, 1, 2048, 0, NULL), \
	INP(pp, F | A, 1, 2, W, 0, NULL), \
	EXPP(pp, A, 2, 2, ANY, 0, NULL), \
	EV(READABLE, 0), \
	EV(CLOSED, 0)

/* ---- the harness ---- */

struct out_seg {
	struct mx_tcp_seg g;
	uint8_t opt[MX_TCP_OPT_MAX];
	uint8_t data[2048];
};

struct ev_rec {
	int ev;
	int err;
};

struct iss_rec {
	uint32_t raddr;
	uint16_t lport, rport;
	uint32_t iss;
};

struct harness {
	const struct script *sc;
	unsigned step;
	struct mx_tcp_stack *s;
	struct mx_tcp_conn *conn;
	uint64_t now;
	struct out_seg out[64];
	unsigned n_out, out_head;
	struct ev_rec evs[32];
	unsigned n_ev, ev_head;
	struct iss_rec iss[16];
	unsigned n_iss;
	uint64_t sent_off;  /* our stream offset of the next app byte */
	uint64_t read_off;  /* peer stream offset of the next unread byte */
};

static uint32_t
addr_us(void)
{
	return htonl(0xc6120001); /* 198.18.0.1 */
}

static uint32_t
addr_peer(int second)
{
	return htonl(second ? 0xc6120003 : 0xc6120002);
}

static uint8_t
pat_peer(uint64_t off)
{
	return (uint8_t)(off * 7 + 3);
}

static uint8_t
pat_ours(uint64_t off)
{
	return (uint8_t)(off * 13 + 5);
}

static void
failf(struct harness *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
failf(struct harness *h, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fail_msg("script %s, step %u: %s", h->sc->name, h->step, msg);
}

#define CHECK_EQ(h, what, got, want) do { \
	if ((uint64_t)(got) != (uint64_t)(want)) \
		failf((h), "%s: got %llu (0x%llx), want %llu (0x%llx)", (what), \
			(unsigned long long)(got), (unsigned long long)(got), \
			(unsigned long long)(want), (unsigned long long)(want)); \
} while (0)

static struct iss_rec *
iss_find(struct harness *h, uint32_t raddr, uint16_t lport, uint16_t rport)
{
	unsigned i;

	for (i = 0; i < h->n_iss; i++) {
		if (h->iss[i].raddr == raddr && h->iss[i].lport == lport &&
				h->iss[i].rport == rport)
			return &h->iss[i];
	}
	return NULL;
}

static void
out_cb(const struct mx_tcp_seg *g, void *arg)
{
	struct harness *h = arg;
	struct out_seg *o;
	struct iss_rec *r;

	if (h->n_out - h->out_head >= MX_ARRAY_SIZE(h->out))
		failf(h, "more than %zu segments unchecked", MX_ARRAY_SIZE(h->out));
	o = &h->out[h->n_out++ % MX_ARRAY_SIZE(h->out)];
	o->g = *g;
	assert_true(g->opt_len <= sizeof(o->opt) && g->len <= sizeof(o->data));
	/* memcpy from NULL is undefined even for 0 bytes (C11 7.24.1). */
	if (g->opt_len > 0)
		memcpy(o->opt, g->opt, g->opt_len);
	if (g->len > 0)
		memcpy(o->data, g->payload, g->len);
	o->g.opt = o->opt;
	o->g.payload = o->data;
	if (g->flags & MX_TCP_SYN) {
		r = iss_find(h, g->daddr, g->sport, g->dport);
		if (r == NULL) {
			assert_true(h->n_iss < MX_ARRAY_SIZE(h->iss));
			r = &h->iss[h->n_iss++];
		}
		r->raddr = g->daddr;
		r->lport = g->sport;
		r->rport = g->dport;
		r->iss = g->seq;
	}
}

static void
log_ev(struct harness *h, int ev, int err)
{
	if (h->n_ev - h->ev_head >= MX_ARRAY_SIZE(h->evs))
		failf(h, "too many events unchecked");
	h->evs[h->n_ev % MX_ARRAY_SIZE(h->evs)] = (struct ev_rec){ ev, err };
	h->n_ev++;
}

static void
ev_cb(struct mx_tcp_conn *c, enum mx_tcp_event ev, int err, void *user)
{
	struct harness *h = user;

	log_ev(h, (int)ev, err);
	if (ev == MX_TCP_EV_CLOSED && c == h->conn)
		h->conn = NULL;
}

static void
accept_cb(struct mx_tcp_listener *l, struct mx_tcp_conn *c, void *arg)
{
	struct harness *h = arg;

	(void)l;
	mx_tcp_conn_set_user(c, h);
	h->conn = c;
	log_ev(h, EV_ACC, 0);
}

static void
base_conf(struct mx_tcp_conf *c, struct harness *h)
{
	unsigned i;

	mx_tcp_conf_defaults(c);
	c->max_conns = 8;
	c->max_per_addr = 0;
	c->syn_backlog = 4;
	c->tw_slots = 4;
	c->tw_ms = 1000;
	c->fin_wait2_ms = 2000;
	c->rcvbuf = 8192;
	c->sndbuf = 16384;
	c->mss = 1460;
	c->wscale = 2;
	c->rto_init_ms = 1000;
	c->rto_min_ms = 200;
	c->rto_max_ms = 8000;
	c->delack_ms = 100;
	c->syn_retries = 3;
	c->max_retries = 4;
	c->challenge_acks_per_s = 3;
	for (i = 0; i < 16; i++) {
		c->isn_secret[i] = (uint8_t)(i + 1);
		c->cookie_secret[i] = (uint8_t)(0xa0 + i);
	}
	c->output = out_cb;
	c->output_arg = h;
	c->event = ev_cb;
}

/* Options from "mss=N ws=N sack ts". */
static void
opts_from_spec(const char *spec, struct mx_tcp_opts *o)
{
	const char *p = spec;

	memset(o, 0, sizeof(*o));
	while (p != NULL && *p != '\0') {
		if (strncmp(p, "mss=", 4) == 0) {
			o->has_mss = true;
			o->mss = (uint16_t)strtoul(p + 4, NULL, 10);
		} else if (strncmp(p, "ws=", 3) == 0) {
			o->has_wscale = true;
			o->wscale = (uint8_t)strtoul(p + 3, NULL, 10);
		} else if (strncmp(p, "nsack=", 6) == 0) {
			o->n_sack = (uint8_t)strtoul(p + 6, NULL, 10);
		} else if (strncmp(p, "sack0=", 6) == 0) {
			/* checked by sack0_check */
		} else if (strncmp(p, "sack", 4) == 0) {
			o->sack_ok = true;
		} else if (strncmp(p, "ts", 2) == 0) {
			o->has_ts = true;
			o->ts_val = 1;
		}
		p = strchr(p, ' ');
		if (p != NULL)
			p++;
	}
}

static uint32_t
our_base(struct harness *h, const struct step *st)
{
	struct iss_rec *r = iss_find(h, addr_peer(st->peer2), st->lp, st->pp);

	return r != NULL ? r->iss : 0;
}

static void
do_in(struct harness *h, const struct step *st)
{
	uint8_t opt[MX_TCP_OPT_MAX], payload[2048], frame[4096];
	struct mx_tcp_opts o;
	struct mx_tcp_seg g, parsed;
	size_t l4, avail;
	long n;
	int rc, i;

	memset(&g, 0, sizeof(g));
	g.saddr = addr_peer(st->peer2);
	g.daddr = addr_us();
	g.sport = st->pp;
	g.dport = st->lp;
	g.flags = st->fl;
	g.wnd = (uint16_t)st->wnd;
	g.seq = st->abs ? st->seq : PEER_ISN + st->seq;
	g.ack = st->abs ? st->ack : our_base(h, st) + st->ack;
	if (st->raw != NULL) {
		memset(opt, 0, sizeof(opt));
		memcpy(opt, st->raw, st->raw_len);
		g.opt_len = (uint8_t)((st->raw_len + 3) & ~3);
	} else {
		opts_from_spec(st->opts, &o);
		rc = mx_tcp_opt_build(&o, opt, sizeof(opt));
		assert_true(rc >= 0);
		g.opt_len = (uint8_t)rc;
	}
	g.opt = opt;
	assert_true(st->len <= sizeof(payload));
	for (i = 0; i < (int)st->len; i++)
		payload[i] = pat_peer(g.seq - PEER_ISN - 1 + (uint32_t)i);
	g.payload = payload;
	g.len = st->len;
	if (st->op == OP_DIRECT) {
		mx_tcp_input(h->s, &g, h->now);
		return;
	}
	n = mx_tcp_seg_build(&g, frame, sizeof(frame));
	assert_true(n > 0);
	l4 = (size_t)n;
	avail = l4;
	switch (st->mangle) {
	case MG_CSUM:
		frame[16] ^= 0x01;
		break;
	case MG_DOFF_LOW:
		frame[12] = 4 << 4;
		break;
	case MG_DOFF_HIGH:
		frame[12] = 15 << 4;
		break;
	case MG_TRUNC:
		avail = l4 - 1;
		break;
	default:
		break;
	}
	rc = mx_tcp_hdr_parse(frame, avail, l4, g.saddr, g.daddr, 0, &parsed);
	if (st->mangle != MG_NONE || st->raw != NULL) {
		/* Malformed on purpose: the parser must refuse it, and then
		 * the stack never sees it (as in the real receive path). */
		if (rc == 0 && st->raw == NULL)
			failf(h, "mangled segment parsed");
		if (rc != 0)
			return;
	} else if (rc != 0) {
		failf(h, "harness segment did not parse: %d", rc);
	}
	mx_tcp_input(h->s, &parsed, h->now);
}

/* "sack0=L:R" in spec: the first SACK block of the emitted options
 * must be [PEER_ISN + L, PEER_ISN + R) (RFC 2018 4: the most recent). */
static void
sack0_check(struct harness *h, const char *spec, const uint8_t *opt, unsigned len)
{
	const char *p = strstr(spec, "sack0=");
	unsigned i = 0;
	uint32_t l, r;

	if (p == NULL)
		return;
	l = (uint32_t)strtoul(p + 6, NULL, 10);
	r = (uint32_t)strtoul(strchr(p, ':') + 1, NULL, 10);
	while (i < len && opt[i] == 1)
		i++;
	if (i + 10 > len || opt[i] != 5)
		failf(h, "no SACK option where sack0 is expected");
	CHECK_EQ(h, "sack0 left", (uint32_t)(opt[i + 2] << 24 | opt[i + 3] << 16 |
			opt[i + 4] << 8 | opt[i + 5]) - PEER_ISN, l);
	CHECK_EQ(h, "sack0 right", (uint32_t)(opt[i + 6] << 24 | opt[i + 7] << 16 |
			opt[i + 8] << 8 | opt[i + 9]) - PEER_ISN, r);
}

static void
do_exp(struct harness *h, const struct step *st)
{
	struct out_seg *o;
	struct mx_tcp_opts got, want;
	uint32_t base, seq, ack;
	uint32_t i;

	if (h->out_head == h->n_out)
		failf(h, "expected a segment (flags 0x%x), none emitted", st->fl);
	o = &h->out[h->out_head++ % MX_ARRAY_SIZE(h->out)];
	CHECK_EQ(h, "saddr", o->g.saddr, addr_us());
	CHECK_EQ(h, "daddr", o->g.daddr, addr_peer(st->peer2));
	CHECK_EQ(h, "sport", o->g.sport, st->lp);
	CHECK_EQ(h, "dport", o->g.dport, st->pp);
	CHECK_EQ(h, "flags", o->g.flags, st->fl);
	base = our_base(h, st);
	seq = st->abs ? st->seq : base + st->seq;
	ack = st->abs ? st->ack : PEER_ISN + st->ack;
	if (st->seq != ANY)
		CHECK_EQ(h, "seq (relative)", o->g.seq - (st->abs ? 0 : base),
				seq - (st->abs ? 0 : base));
	if (st->ack != ANY && !(st->fl & MX_TCP_ACK))
		CHECK_EQ(h, "ack (absolute, no ACK flag)", o->g.ack, st->ack);
	else if (st->ack != ANY)
		CHECK_EQ(h, "ack (relative)", o->g.ack - (st->abs ? 0 : PEER_ISN),
				ack - (st->abs ? 0 : PEER_ISN));
	if (st->wnd != ANY)
		CHECK_EQ(h, "window", o->g.wnd, st->wnd);
	CHECK_EQ(h, "payload length", o->g.len, st->len);
	for (i = 0; i < o->g.len; i++)
		CHECK_EQ(h, "payload byte", o->data[i],
				pat_ours(o->g.seq - base - 1 + i));
	if (st->opts != NULL) {
		assert_int_equal(mx_tcp_opt_parse(o->opt, o->g.opt_len, &got), 0);
		opts_from_spec(st->opts, &want);
		CHECK_EQ(h, "opt mss", got.has_mss ? got.mss : 0,
				want.has_mss ? want.mss : 0);
		CHECK_EQ(h, "opt ws present", got.has_wscale, want.has_wscale);
		CHECK_EQ(h, "opt ws", got.wscale, want.wscale);
		CHECK_EQ(h, "opt sack", got.sack_ok, want.sack_ok);
		CHECK_EQ(h, "opt ts", got.has_ts, want.has_ts);
		CHECK_EQ(h, "opt sack blocks", got.n_sack, want.n_sack);
		sack0_check(h, st->opts, o->opt, o->g.opt_len);
	}
}

static void
do_send(struct harness *h, const struct step *st)
{
	uint8_t buf[32768];
	long n;
	int64_t i;

	if (h->conn == NULL)
		failf(h, "send without a connection");
	assert_true(st->arg <= (int64_t)sizeof(buf));
	for (i = 0; i < st->arg; i++)
		buf[i] = pat_ours(h->sent_off + (uint64_t)i);
	n = mx_tcp_send(h->conn, buf, (size_t)st->arg);
	CHECK_EQ(h, "send return", n, st->arg2);
	if (n > 0)
		h->sent_off += (uint64_t)n;
	if (st->mangle == 0) /* mangle set: no flush, the next app call flushes */
		mx_tcp_flush(h->s);
}

static void
do_read(struct harness *h, const struct step *st)
{
	const uint8_t *p;
	size_t n, i, left = (size_t)st->arg;

	if (h->conn == NULL)
		failf(h, "read without a connection");
	CHECK_EQ(h, "readable", mx_tcp_readable(h->conn), st->arg);
	while (left > 0) {
		n = mx_tcp_read_view(h->conn, &p);
		if (n == 0)
			failf(h, "read view empty with %zu left", left);
		n = MX_MIN(n, left);
		for (i = 0; i < n; i++)
			CHECK_EQ(h, "received byte", p[i], pat_peer(h->read_off + i));
		h->read_off += n;
		mx_tcp_consume(h->conn, n);
		left -= n;
	}
	mx_tcp_flush(h->s);
}

static void
do_ev(struct harness *h, const struct step *st)
{
	struct ev_rec *e;

	if (h->ev_head == h->n_ev)
		failf(h, "expected event %d, none", (int)st->arg);
	e = &h->evs[h->ev_head++ % MX_ARRAY_SIZE(h->evs)];
	CHECK_EQ(h, "event", e->ev, st->arg);
	CHECK_EQ(h, "event err", (int64_t)e->err, st->arg2);
}

static void
do_step(struct harness *h, const struct step *st)
{
	struct mx_tcp_stats stats;
	uint64_t v;
	int rc;

	switch (st->op) {
	case OP_IN:
	case OP_DIRECT:
		do_in(h, st);
		break;
	case OP_EXP:
		do_exp(h, st);
		break;
	case OP_NONE:
		if (h->out_head != h->n_out)
			failf(h, "unexpected segment: flags 0x%x len %u",
				h->out[h->out_head % MX_ARRAY_SIZE(h->out)].g.flags,
				h->out[h->out_head % MX_ARRAY_SIZE(h->out)].g.len);
		if (h->ev_head != h->n_ev)
			failf(h, "unexpected event %d",
				h->evs[h->ev_head % MX_ARRAY_SIZE(h->evs)].ev);
		break;
	case OP_AT:
		assert_true((uint64_t)st->arg >= h->now);
		h->now = (uint64_t)st->arg;
		mx_tcp_tick(h->s, h->now);
		break;
	case OP_SEND:
		do_send(h, st);
		break;
	case OP_READ:
		do_read(h, st);
		break;
	case OP_CLOSE:
		mx_tcp_close(h->conn);
		mx_tcp_flush(h->s);
		break;
	case OP_ABORT:
		mx_tcp_abort(h->conn);
		mx_tcp_flush(h->s);
		break;
	case OP_CONNECT:
		rc = mx_tcp_connect(h->s, addr_us(), A_LPORT, addr_peer(0),
				A_PPORT, h, &h->conn);
		CHECK_EQ(h, "connect", (int64_t)rc, st->arg);
		mx_tcp_flush(h->s);
		break;
	case OP_EV:
		do_ev(h, st);
		break;
	case OP_STATE:
		if (h->conn == NULL)
			failf(h, "no connection for a state check");
		CHECK_EQ(h, "state", mx_tcp_conn_state(h->conn), st->arg);
		break;
	case OP_NCONN:
		CHECK_EQ(h, "connections", mx_tcp_n_conns(h->s), st->arg);
		break;
	case OP_NTW:
		CHECK_EQ(h, "TIME_WAIT entries", mx_tcp_n_time_wait(h->s), st->arg);
		break;
	case OP_STAT:
		mx_tcp_get_stats(h->s, &stats);
		memcpy(&v, (const uint8_t *)&stats + st->off, sizeof(v));
		CHECK_EQ(h, "counter", v, st->arg);
		break;
	case OP_PEERCLOSED:
		CHECK_EQ(h, "peer closed", mx_tcp_peer_closed(h->conn), st->arg);
		break;
	default:
		failf(h, "bad op %u", st->op);
	}
}

static void
run_script(void **state)
{
	const struct script *sc = *state;
	struct harness *h = calloc(1, sizeof(*h));
	struct mx_tcp_listener *l;
	struct mx_tcp_conf conf;
	unsigned i;

	assert_non_null(h);
	h->sc = sc;
	base_conf(&conf, h);
	if (sc->conf != NULL)
		sc->conf(&conf);
	assert_int_equal(mx_tcp_stack_create(&conf, 0, &h->s), 0);
	assert_int_equal(mx_tcp_listen(h->s, 0, LPORT, accept_cb, h, &l), 0);
	for (i = 0; i < MX_ARRAY_SIZE(sc->steps) && sc->steps[i].op != OP_END; i++) {
		h->step = i;
		do_step(h, &sc->steps[i]);
	}
	h->step = i;
	if (h->out_head != h->n_out)
		failf(h, "%u emitted segments left unchecked (first flags 0x%x)",
				h->n_out - h->out_head,
				h->out[h->out_head % MX_ARRAY_SIZE(h->out)].g.flags);
	if (h->ev_head != h->n_ev)
		failf(h, "%u events left unchecked (first %d)",
				h->n_ev - h->ev_head,
				h->evs[h->ev_head % MX_ARRAY_SIZE(h->evs)].ev);
	mx_tcp_stack_free(h->s);
	free(h);
}

/* ---- per-script configurations ---- */

static void
conf_small_rcvbuf(struct mx_tcp_conf *c)
{
	c->rcvbuf = 2048;
}

static void
conf_rto_min_20(struct mx_tcp_conf *c)
{
	c->rto_min_ms = 20;
}

static void
conf_backlog_1(struct mx_tcp_conf *c)
{
	c->syn_backlog = 1;
}

static void
conf_max_conns_2(struct mx_tcp_conf *c)
{
	c->max_conns = 2;
}

static void
conf_per_addr_1(struct mx_tcp_conf *c)
{
	c->max_per_addr = 1;
}

static void
conf_no_tw(struct mx_tcp_conf *c)
{
	c->tw_slots = 0;
}

static void
conf_tw_2(struct mx_tcp_conf *c)
{
	c->tw_slots = 2;
}

/* ---- the scripts ---- */

static const struct script scripts[] = {
{ "passive_handshake", NULL, {
	INO(S, 0, 0, 65535, 0, "mss=1000 ws=0"),
	EXPO(S | A, 0, 1, 8192, 0, "mss=1460 ws=2"),
	STAT(accepts, 0),
	IN(A, 1, 1, W, 0),
	EV(EV_ACC, 0),
	STATE(MX_TCP_ESTABLISHED),
	NCONN(1),
	NONE,
} },
{ "passive_handshake_no_options_mss_536", NULL, {
	INO(S, 0, 0, 65535, 0, ""),
	/* No window scale offered by the peer: none in our SYN-ACK. */
	EXPO(S | A, 0, 1, 8192, 0, "mss=1460"),
	IN(A, 1, 1, W, 0),
	EV(EV_ACC, 0),
	/* RFC 9293 3.7.1: no MSS option means 536. */
	SEND(1200, 1200),
	EXP(A, 1, 1, 8192, 536),
	EXP(A, 537, 1, 8192, 536),
	EXP(A | P, 1073, 1, 8192, 128),
	NONE,
} },
{ "mss_from_peer_bounds_segments", NULL, {
	HS,
	SEND(2500, 2500),
	EXP(A, 1, 1, 2048, 1000),
	EXP(A, 1001, 1, 2048, 1000),
	EXP(A | P, 2001, 1, 2048, 500),
	NONE,
} },
{ "our_mss_bounds_large_peer_mss", NULL, {
	INO(S, 0, 0, 65535, 0, "mss=9000 ws=0"),
	EXPO(S | A, 0, 1, 8192, 0, "mss=1460 ws=2"),
	IN(A, 1, 1, W, 0),
	EV(EV_ACC, 0),
	SEND(3000, 3000),
	EXP(A, 1, 1, 2048, 1460),
	EXP(A, 1461, 1, 2048, 1460),
	EXP(A | P, 2921, 1, 2048, 80),
	NONE,
} },
{ "window_scale_applied_to_peer_window", NULL, {
	INO(S, 0, 0, 65535, 0, "mss=1000 ws=3"),
	EXPO(S | A, 0, 1, 8192, 0, "mss=1460 ws=2"),
	/* 250 << 3 = 2000 bytes: two segments, not 250 bytes. */
	IN(A, 1, 1, 250, 0),
	EV(EV_ACC, 0),
	SEND(5000, 5000),
	EXP(A, 1, 1, 2048, 1000),
	EXP(A, 1001, 1, 2048, 1000),
	NONE,
	IN(A, 1, 2001, 250, 0),
	EXP(A, 2001, 1, 2048, 1000),
	EXP(A, 3001, 1, 2048, 1000),
	NONE,
} },
{ "window_scale_declined_when_peer_lacks_it", NULL, {
	INO(S, 0, 0, 65535, 0, "mss=1000"),
	EXPO(S | A, 0, 1, 8192, 0, "mss=1460"),
	IN(A, 1, 1, W, 0),
	EV(EV_ACC, 0),
	IN(A, 1, 1, W, 1),
	EV(READABLE, 0),
	IN(A, 2, 1, W, 1),
	EV(READABLE, 0),
	/* Unscaled: the window field is the byte count. */
	EXP(A, 1, 3, 8190, 0),
	READ(2),
	NONE,
} },
{ "active_handshake", NULL, {
	CONNECT(0),
	AEXP(S, 0, 0, 8192, 0, "mss=1460 ws=2 sack"),
	STATE(MX_TCP_SYN_SENT),
	AIN(S | A, 0, 1, W, 0, "mss=1000 ws=0"),
	AEXP(A, 1, 1, 2048, 0, NULL),
	EV(CONNECTED, 0),
	STATE(MX_TCP_ESTABLISHED),
	SEND(100, 100),
	AEXP(A | P, 1, 1, 2048, 100, NULL),
	NONE,
} },
{ "active_handshake_peer_without_window_scale", NULL, {
	CONNECT(0),
	AEXP(S, 0, 0, 8192, 0, "mss=1460 ws=2 sack"),
	AIN(S | A, 0, 1, W, 0, "mss=536"),
	AEXP(A, 1, 1, 8192, 0, NULL),
	EV(CONNECTED, 0),
	SEND(600, 600),
	AEXP(A, 1, 1, 8192, 536, NULL),
	AEXP(A | P, 537, 1, 8192, 64, NULL),
	NONE,
} },
{ "active_data_queued_before_connect", NULL, {
	CONNECT(0),
	AEXP(S, 0, 0, 8192, 0, "mss=1460 ws=2 sack"),
	SEND(50, 50),
	NONE,
	AIN(S | A, 0, 1, W, 0, "mss=1000 ws=0"),
	/* The queued bytes carry the handshake's ACK. */
	AEXP(A | P, 1, 1, 2048, 50, NULL),
	EV(CONNECTED, 0),
	NONE,
} },
{ "active_syn_retransmit_backoff_then_timeout", NULL, {
	CONNECT(0),
	AEXP(S, 0, 0, 8192, 0, NULL),
	AT(996), NONE,
	AT(1000), AEXP(S, 0, 0, 8192, 0, NULL),
	AT(2996), NONE,
	AT(3000), AEXP(S, 0, 0, 8192, 0, NULL),
	AT(6996), NONE,
	AT(7000), AEXP(S, 0, 0, 8192, 0, NULL),
	AT(14996), NONE,
	AT(15000),
	EV(CONNECTED, -ETIMEDOUT),
	EV(CLOSED, -ETIMEDOUT),
	NCONN(0),
	NONE,
} },
{ "active_rst_with_right_ack_refuses", NULL, {
	CONNECT(0),
	AEXP(S, 0, 0, 8192, 0, NULL),
	AIN(R | A, 0, 1, 0, 0, NULL),
	EV(CONNECTED, -ECONNREFUSED),
	EV(CLOSED, -ECONNREFUSED),
	NCONN(0),
	NONE,
} },
{ "active_rst_with_wrong_ack_ignored", NULL, {
	CONNECT(0),
	AEXP(S, 0, 0, 8192, 0, NULL),
	AIN(R | A, 0, 7, 0, 0, NULL),
	AIN(R, 0, 0, 0, 0, NULL),
	NONE,
	STATE(MX_TCP_SYN_SENT),
	STAT(drop_rst_ignored, 1),
	/* A SYN-ACK with a wrong ACK is answered by a RST (RFC 9293
	 * 3.10.7.3). */
	AIN(S | A, 0, 9, W, 0, "mss=1000"),
	{ .op = OP_EXP, .lp = A_LPORT, .pp = A_PPORT, .fl = R, .seq = 9,
	  .ack = ANY, .wnd = ANY },
	STATE(MX_TCP_SYN_SENT),
	NONE,
} },
{ "delayed_ack_fires_after_timeout", NULL, {
	HS,
	IN(A, 1, 1, W, 100),
	EV(READABLE, 0),
	NONE,
	AT(96), NONE,
	AT(100),
	EXP(A, 1, 101, 2023, 0),
	STAT(delayed_acks, 1),
	READ(100),
	NONE,
} },
{ "ack_every_second_segment", NULL, {
	HS,
	IN(A, 1, 1, W, 1000),
	EV(READABLE, 0),
	NONE,
	IN(A, 1001, 1, W, 1000),
	EV(READABLE, 0),
	EXP(A, 1, 2001, 1548, 0),
	AT(200), NONE,
	STAT(delayed_acks, 0),
	READ(2000),
	EXP(A, 1, 2001, 2048, 0),
	NONE,
} },
{ "reply_carries_the_delayed_ack", NULL, {
	HS,
	IN(A, 1, 1, W, 10),
	EV(READABLE, 0),
	READ(10),
	SEND(20, 20),
	/* 10 bytes read do not move the announced edge (SWS). */
	EXP(A | P, 1, 11, 2045, 20),
	IN(A, 11, 21, W, 0),
	/* No delayed ACK left to send, no retransmission. */
	AT(400), NONE,
} },
{ "receiver_sws_keeps_window_edge", NULL, {
	HS,
	IN(A, 1, 1, W, 300),
	EV(READABLE, 0),
	READ(300),
	/* 300 bytes read < min(4096, 1460): the right edge stays. */
	AT(100),
	EXP(A, 1, 301, 1973, 0),
	NONE,
} },
{ "data_out_acked", NULL, {
	HS,
	SEND(500, 500),
	EXP(A | P, 1, 1, 2048, 500),
	IN(A, 1, 501, W, 0),
	SEND(300, 300),
	EXP(A | P, 501, 1, 2048, 300),
	IN(A, 1, 801, W, 0),
	AT(1000),
	NONE,
} },
{ "send_buffer_backpressure_and_writable", NULL, {
	HS,
	SEND(20000, 16384),
	/* IW = 4 * 1000 (RFC 5681 3.1, SMSS <= 1095). */
	EXP(A, 1, 1, 2048, 1000),
	EXP(A, 1001, 1, 2048, 1000),
	EXP(A, 2001, 1, 2048, 1000),
	EXP(A, 3001, 1, 2048, 1000),
	NONE,
	SEND(10, 0),
	IN(A, 1, 1001, W, 0),
	EV(WRITABLE, 0),
	/* Slow start: cwnd 5000, 3000 in flight. */
	EXP(A, 4001, 1, 2048, 1000),
	EXP(A, 5001, 1, 2048, 1000),
	NONE,
} },
{ "rto_backoff_then_timeout_with_rst", NULL, {
	HS,
	SEND(100, 100),
	EXP(A | P, 1, 1, 2048, 100),
	AT(196), NONE,
	AT(200), EXP(A | P, 1, 1, 2048, 100),
	AT(596), NONE,
	AT(600), EXP(A | P, 1, 1, 2048, 100),
	AT(1396), NONE,
	AT(1400), EXP(A | P, 1, 1, 2048, 100),
	AT(2996), NONE,
	AT(3000), EXP(A | P, 1, 1, 2048, 100),
	STAT(rto_expired, 4),
	AT(6196), NONE,
	AT(6200),
	EXP(R, 101, 0, 0, 0),
	EV(CLOSED, -ETIMEDOUT),
	NCONN(0),
	NONE,
} },
{ "karn_no_sample_from_retransmission", NULL, {
	HS,
	SEND(100, 100),
	EXP(A | P, 1, 1, 2048, 100),
	AT(200), EXP(A | P, 1, 1, 2048, 100),
	AT(252), IN(A, 1, 101, W, 0),
	/* No RTT sample (it would give RTO 200): the backed-off 400
	 * stays. */
	SEND(100, 100),
	EXP(A | P, 101, 1, 2048, 100),
	AT(648), NONE,
	AT(652), EXP(A | P, 101, 1, 2048, 100),
	NONE,
} },
{ "rtt_samples_set_rto", conf_rto_min_20, {
	INO(S, 0, 0, 65535, 0, "mss=1000 ws=0"),
	EXPO(S | A, 0, 1, 8192, 0, "mss=1460 ws=2"),
	/* First sample R = 100: SRTT 100, RTTVAR 50, RTO 300. */
	AT(100),
	IN(A, 1, 1, W, 0),
	EV(EV_ACC, 0),
	SEND(100, 100),
	EXP(A | P, 1, 1, 2048, 100),
	/* Second sample R = 80: SRTT 97, 4*RTTVAR 170, RTO 267. */
	AT(180), IN(A, 1, 101, W, 0),
	SEND(100, 100),
	EXP(A | P, 101, 1, 2048, 100),
	AT(444), NONE,
	AT(448), EXP(A | P, 101, 1, 2048, 100),
	/* Backed off: 534 later, rounded up to the 4 ms tick. */
	AT(980), NONE,
	AT(984), EXP(A | P, 101, 1, 2048, 100),
	NONE,
} },
{ "three_dupacks_fast_retransmit", NULL, {
	HS,
	SEND(4000, 4000),
	EXP(A, 1, 1, 2048, 1000),
	EXP(A, 1001, 1, 2048, 1000),
	EXP(A, 2001, 1, 2048, 1000),
	EXP(A | P, 3001, 1, 2048, 1000),
	IN(A, 1, 1001, W, 0),
	IN(A, 1, 1001, W, 0),
	IN(A, 1, 1001, W, 0),
	NONE,
	IN(A, 1, 1001, W, 0),
	EXP(A, 1001, 1, 2048, 1000),
	STAT(fast_retransmits, 1),
	IN(A, 1, 4001, W, 0),
	AT(1000),
	NONE,
} },
{ "newreno_partial_ack_and_deflation", NULL, {
	HS,
	SEND(4000, 4000),
	EXP(A, 1, 1, 2048, 1000),
	EXP(A, 1001, 1, 2048, 1000),
	EXP(A, 2001, 1, 2048, 1000),
	EXP(A | P, 3001, 1, 2048, 1000),
	IN(A, 1, 1001, W, 0),
	IN(A, 1, 1001, W, 0),
	IN(A, 1, 1001, W, 0),
	IN(A, 1, 1001, W, 0),
	EXP(A, 1001, 1, 2048, 1000),
	/* Partial ACK: the next hole is resent at once (RFC 6582). */
	IN(A, 1, 2001, W, 0),
	EXP(A, 2001, 1, 2048, 1000),
	NONE,
	/* Full ACK: cwnd = min(ssthresh 2000, 0 + 1000 + 1000). */
	IN(A, 1, 4001, W, 0),
	SEND(3000, 3000),
	EXP(A, 4001, 1, 2048, 1000),
	EXP(A, 5001, 1, 2048, 1000),
	NONE,
} },
{ "two_dupacks_do_nothing", NULL, {
	HS,
	SEND(3000, 3000),
	EXP(A, 1, 1, 2048, 1000),
	EXP(A, 1001, 1, 2048, 1000),
	EXP(A | P, 2001, 1, 2048, 1000),
	IN(A, 1, 1, W, 0),
	IN(A, 1, 1, W, 0),
	NONE,
	STAT(fast_retransmits, 0),
} },
{ "window_changes_are_not_dupacks", NULL, {
	HS,
	SEND(3000, 3000),
	EXP(A, 1, 1, 2048, 1000),
	EXP(A, 1001, 1, 2048, 1000),
	EXP(A | P, 2001, 1, 2048, 1000),
	IN(A, 1, 1, W + 1, 0),
	IN(A, 1, 1, W + 2, 0),
	IN(A, 1, 1, W + 3, 0),
	IN(A, 1, 1, W + 4, 0),
	NONE,
	STAT(fast_retransmits, 0),
} },
{ "zero_window_probes_with_backoff", NULL, {
	HS,
	IN(A, 1, 1, 0, 0),
	SEND(100, 100),
	NONE,
	AT(196), NONE,
	AT(200), EXP(A, 1, 1, 2048, 1),
	AT(596), NONE,
	AT(600), EXP(A, 1, 1, 2048, 1),
	AT(1396), NONE,
	AT(1400), EXP(A, 1, 1, 2048, 1),
	STAT(zero_wnd_probes, 3),
	/* The window reopens: everything goes, the probe timer stops. */
	AT(1500), IN(A, 1, 1, W, 0),
	EXP(A | P, 1, 1, 2048, 100),
	IN(A, 1, 101, W, 0),
	AT(5000),
	NONE,
} },
{ "zero_window_probe_byte_accepted", NULL, {
	HS,
	IN(A, 1, 1, 0, 0),
	SEND(100, 100),
	AT(200), EXP(A, 1, 1, 2048, 1),
	/* The peer took the byte but its window is still zero. */
	IN(A, 1, 2, 0, 0),
	AT(396), NONE,
	AT(400), EXP(A, 2, 1, 2048, 1),
	IN(A, 1, 2, 1000, 0),
	EXP(A | P, 2, 1, 2048, 99),
	NONE,
} },
{ "window_update_reopens_sending", NULL, {
	HS,
	IN(A, 1, 1, 1000, 0),
	SEND(3000, 3000),
	EXP(A, 1, 1, 2048, 1000),
	NONE,
	IN(A, 1, 1001, 2000, 0),
	EXP(A, 1001, 1, 2048, 1000),
	EXP(A | P, 2001, 1, 2048, 1000),
	NONE,
} },
{ "receive_window_closes_and_reopens", conf_small_rcvbuf, {
	INO(S, 0, 0, 65535, 0, "mss=1000 ws=0"),
	EXPO(S | A, 0, 1, 2048, 0, "mss=1460 ws=2"),
	IN(A, 1, 1, W, 0),
	EV(EV_ACC, 0),
	IN(A, 1, 1, W, 1000),
	EV(READABLE, 0),
	IN(A, 1001, 1, W, 1000),
	EV(READABLE, 0),
	EXP(A, 1, 2001, 12, 0),
	IN(A, 2001, 1, W, 48),
	EV(READABLE, 0),
	AT(100),
	EXP(A, 1, 2049, 0, 0),
	/* The peer's probe is outside the zero window: ACK, drop. */
	IN(A, 2049, 1, W, 1),
	EXP(A, 1, 2049, 0, 0),
	STAT(drop_out_of_window, 1),
	READ(2048),
	/* Fully read: the window opens by 2048 >= 1024, update at once. */
	EXP(A, 1, 2049, 512, 0),
	NONE,
} },
{ "out_of_order_delivered_when_hole_fills", NULL, {
	HS,
	IN(A, 1001, 1, W, 1000),
	EXP(A, 1, 1, ANY, 0),
	IN(A, 2001, 1, W, 1000),
	EXP(A, 1, 1, ANY, 0),
	NONE,
	IN(A, 1, 1, W, 1000),
	EV(READABLE, 0),
	EXP(A, 1, 3001, 1298, 0),
	READ(3000),
	/* Reading opened the window by more than an MSS: update. */
	EXP(A, 1, 3001, 2048, 0),
	NONE,
} },
{ "overlapping_out_of_order_segments", NULL, {
	HS,
	IN(A, 501, 1, W, 1000),
	EXP(A, 1, 1, ANY, 0),
	IN(A, 1001, 1, W, 1000),
	EXP(A, 1, 1, ANY, 0),
	IN(A, 1, 1, W, 1000),
	EV(READABLE, 0),
	EXP(A, 1, 2001, ANY, 0),
	READ(2000),
	EXP(A, 1, 2001, 2048, 0),
	NONE,
} },
{ "retransmission_overlapping_received_data_trimmed", NULL, {
	HS,
	IN(A, 1, 1, W, 1000),
	EV(READABLE, 0),
	IN(A, 501, 1, W, 1000),
	EV(READABLE, 0),
	EXP(A, 1, 1501, ANY, 0),
	READ(1500),
	EXP(A, 1, 1501, 2048, 0),
	NONE,
} },
{ "duplicate_segment_acked_and_dropped", NULL, {
	HS,
	IN(A, 1, 1, W, 100),
	EV(READABLE, 0),
	IN(A, 1, 1, W, 100),
	EXP(A, 1, 101, ANY, 0),
	READ(100),
	NONE,
} },
/* RFC 5681 4.2: one immediate duplicate ACK per out-of-order segment,
 * even when several arrive in one burst (no flush between them): the
 * sender needs three to fast-retransmit (RFC 5681 3.2). */
{ "out_of_order_burst_one_dup_ack_each", NULL, {
	HS,
	IN(A, 1001, 1, W, 100),
	IN(A, 2001, 1, W, 100),
	IN(A, 3001, 1, W, 100),
	EXP(A, 1, 1, 2048, 0),
	EXP(A, 1, 1, 2048, 0),
	EXP(A, 1, 1, 2048, 0),
	STAT(dup_acks_out, 3),
	NONE,
	/* The hole fills: an immediate ACK, never a delayed one. */
	IN(A, 1, 1, W, 1000),
	EV(READABLE, 0),
	EXP(A, 1, 1101, ANY, 0),
	NONE,
} },
/* RFC 2018: SACK-permitted agreed on a SYN that offers it; every pure
 * ACK while data is held reports the ranges, the one holding the most
 * recent segment first (RFC 2018 4); the window does not shrink for
 * data held out of order. */
{ "sack_blocks_most_recent_first", NULL, {
	INO(S, 0, 0, 65535, 0, "mss=1000 ws=0 sack"),
	EXPO(S | A, 0, 1, 8192, 0, "mss=1460 ws=2 sack"),
	IN(A, 1, 1, W, 0),
	EV(EV_ACC, 0),
	IN(A, 1001, 1, W, 100),
	EXPO(A, 1, 1, 2048, 0, "nsack=1 sack0=1001:1101"),
	IN(A, 2001, 1, W, 100),
	EXPO(A, 1, 1, 2048, 0, "nsack=2 sack0=2001:2101"),
	IN(A, 1101, 1, W, 100),
	EXPO(A, 1, 1, 2048, 0, "nsack=2 sack0=1001:1201"),
	IN(A, 1, 1, W, 1000),
	EV(READABLE, 0),
	EXPO(A, 1, 1201, ANY, 0, "nsack=1 sack0=2001:2101"),
	NONE,
} },
{ "out_of_order_ranges_are_bounded", NULL, {
	HS,
	IN(A, 1001, 1, W, 100), EXP(A, 1, 1, ANY, 0),
	IN(A, 2001, 1, W, 100), EXP(A, 1, 1, ANY, 0),
	IN(A, 3001, 1, W, 100), EXP(A, 1, 1, ANY, 0),
	IN(A, 4001, 1, W, 100), EXP(A, 1, 1, ANY, 0),
	IN(A, 5001, 1, W, 100), EXP(A, 1, 1, ANY, 0),
	STAT(drop_ooo_full, 1),
	IN(A, 1, 1, W, 1000),
	EV(READABLE, 0),
	EXP(A, 1, 1101, ANY, 0),
	READ(1100),
	NONE,
} },
{ "data_beyond_receive_window_dropped", NULL, {
	HS,
	/* Window 8192: of this segment only bytes up to 8192 are kept. */
	IN(A, 8001, 1, W, 1000),
	EXP(A, 1, 1, ANY, 0),
	IN(A, 9001, 1, W, 100),
	EXP(A, 1, 1, ANY, 0),
	STAT(drop_out_of_window, 2),
	NONE,
} },
{ "active_close_fin_wait_time_wait", NULL, {
	HS,
	CLOSE,
	EXP(F | A, 1, 1, 2048, 0),
	STATE(MX_TCP_FIN_WAIT_1),
	IN(A, 1, 2, W, 0),
	STATE(MX_TCP_FIN_WAIT_2),
	AT(100),
	IN(F | A, 1, 2, W, 0),
	EXP(A, 2, 2, ANY, 0),
	EV(READABLE, 0),
	EV(CLOSED, 0),
	NCONN(0),
	NTW(1),
	AT(1096), NTW(1),
	AT(1100), NTW(0),
	NONE,
} },
{ "time_wait_reacks_fin_and_ignores_rst", NULL, {
	HS,
	CLOSE,
	EXP(F | A, 1, 1, 2048, 0),
	IN(F | A, 1, 2, W, 0),
	EXP(A, 2, 2, ANY, 0),
	EV(READABLE, 0),
	EV(CLOSED, 0),
	AT(500),
	IN(F | A, 1, 2, W, 0),
	EXP(A, 2, 2, 0, 0),
	IN(R, 2, 0, 0, 0),
	STAT(drop_rst_ignored, 1),
	/* The retransmitted FIN restarted 2MSL. */
	AT(1496), NTW(1),
	AT(1500), NTW(0),
	NONE,
} },
{ "time_wait_new_syn_starts_new_connection", NULL, {
	HS,
	CLOSE,
	EXP(F | A, 1, 1, 2048, 0),
	IN(F | A, 1, 2, W, 0),
	EXP(A, 2, 2, ANY, 0),
	EV(READABLE, 0),
	EV(CLOSED, 0),
	AT(300),
	INO(S, 100000, 0, 65535, 0, "mss=1000"),
	EXPO(S | A, 0, 100001, 8192, 0, "mss=1460"),
	STAT(tw_reused, 1),
	NTW(0),
	IN(A, 100001, 1, W, 0),
	EV(EV_ACC, 0),
	NONE,
} },
{ "time_wait_table_full_skips_entry", conf_no_tw, {
	HS,
	CLOSE,
	EXP(F | A, 1, 1, 2048, 0),
	IN(F | A, 1, 2, W, 0),
	EXP(A, 2, 2, ANY, 0),
	EV(READABLE, 0),
	EV(CLOSED, 0),
	NTW(0),
	STAT(tw_overflow, 1),
	NONE,
} },
/* RFC 6191 2 / RFC 5961 4: a SYN reusing the 4-tuple with an ISN not
 * beyond the old connection's sequence space gets an ACK and changes
 * nothing; the peer (in SYN-SENT) answers with a RST at exactly our
 * RCV.NXT, which releases the entry, and its SYN retransmission opens
 * the new connection well before 2MSL runs out. */
{ "time_wait_old_isn_challenge_rst_then_syn_opens", NULL, {
	HS_TW(PPORT),
	AT(100),
	INO(S, 0, 0, 65535, 0, "mss=1000 ws=0"),
	EXP(A, 2, 2, ANY, 0),
	STAT(challenge_acks, 1),
	STAT(tw_reused, 0),
	NTW(1),
	NCONN(0),
	IN(R, 2, 0, 0, 0),
	STAT(tw_released, 1),
	NTW(0),
	AT(600),
	INO(S, 0, 0, 65535, 0, "mss=1000 ws=0"),
	EXPO(S | A, 0, 1, 8192, 0, "mss=1460 ws=2"),
	IN(A, 1, 1, W, 0),
	EV(EV_ACC, 0),
	NCONN(1),
	NONE,
} },
/* Without our challenge, or off RCV.NXT, a RST still cannot end
 * TIME_WAIT (RFC 1337); old SYNs are answered from the RFC 5961 7
 * budget (3 per second here) and never open a connection. */
{ "time_wait_old_isn_rst_off_sequence_ignored", NULL, {
	HS_TW(PPORT),
	AT(100),
	IN(R, 2, 0, 0, 0),
	STAT(drop_rst_ignored, 1),
	INO(S, 1, 0, 65535, 0, "mss=1000 ws=0"),
	EXP(A, 2, 2, ANY, 0),
	IN(R, 3, 0, 0, 0),
	STAT(drop_rst_ignored, 2),
	INO(S, 2, 0, 65535, 0, "mss=1000 ws=0"),
	EXP(A, 2, 2, ANY, 0),
	INO(S, 0, 0, 65535, 0, "mss=1000 ws=0"),
	EXP(A, 2, 2, ANY, 0),
	INO(S, 0, 0, 65535, 0, "mss=1000 ws=0"),
	STAT(challenge_acks, 3),
	STAT(challenge_acks_limited, 1),
	STAT(tw_released, 0),
	NTW(1),
	NCONN(0),
	NONE,
} },
/* A full TIME_WAIT table evicts its oldest entry for the newest: the
 * first port's old SYN reaches the listener, the second's is still
 * guarded. */
{ "time_wait_table_full_evicts_oldest", conf_tw_2, {
	HS_TW(PPORT),
	HS_TW(PPORT + 1),
	HS_TW(PPORT + 2),
	NTW(2),
	STAT(tw_overflow, 1),
	INP(PPORT + 1, S, 0, 0, 65535, 0, "mss=1000 ws=0"),
	EXPP(PPORT + 1, A, 2, 2, ANY, 0, NULL),
	INP(PPORT, S, 0, 0, 65535, 0, "mss=1000 ws=0"),
	EXPP(PPORT, S | A, 0, 1, 8192, 0, "mss=1460 ws=2"),
	NTW(2),
	NONE,
} },
{ "passive_close_close_wait_last_ack", NULL, {
	HS,
	IN(F | A, 1, 1, W, 0),
	EXP(A, 1, 2, ANY, 0),
	EV(READABLE, 0),
	PEERCLOSED(1),
	STATE(MX_TCP_CLOSE_WAIT),
	/* Half-close: our direction still carries data. */
	SEND(100, 100),
	EXP(A | P, 1, 2, ANY, 100),
	IN(A, 2, 101, W, 0),
	CLOSE,
	EXP(F | A, 101, 2, ANY, 0),
	STATE(MX_TCP_LAST_ACK),
	IN(A, 2, 102, W, 0),
	EV(CLOSED, 0),
	NCONN(0),
	NTW(0),
	NONE,
} },
{ "simultaneous_close_closing", NULL, {
	HS,
	CLOSE,
	EXP(F | A, 1, 1, 2048, 0),
	IN(F | A, 1, 1, W, 0),
	EXP(A, 2, 2, ANY, 0),
	EV(READABLE, 0),
	STATE(MX_TCP_CLOSING),
	IN(A, 2, 2, W, 0),
	EV(CLOSED, 0),
	NTW(1),
	NONE,
} },
{ "half_close_peer_keeps_sending", NULL, {
	HS,
	CLOSE,
	EXP(F | A, 1, 1, 2048, 0),
	IN(A, 1, 2, W, 0),
	STATE(MX_TCP_FIN_WAIT_2),
	IN(A, 1, 2, W, 100),
	EV(READABLE, 0),
	READ(100),
	AT(100),
	EXP(A, 2, 101, ANY, 0),
	IN(F | A, 101, 2, W, 0),
	EXP(A, 2, 102, ANY, 0),
	EV(READABLE, 0),
	EV(CLOSED, 0),
	NONE,
} },
{ "fin_wait_2_timeout", NULL, {
	HS,
	CLOSE,
	EXP(F | A, 1, 1, 2048, 0),
	IN(A, 1, 2, W, 0),
	AT(1996), NONE,
	AT(2000),
	EV(CLOSED, 0),
	NCONN(0),
	NONE,
} },
{ "fin_retransmitted", NULL, {
	HS,
	CLOSE,
	EXP(F | A, 1, 1, 2048, 0),
	AT(200),
	EXP(F | A, 1, 1, 2048, 0),
	IN(A, 1, 2, W, 0),
	STATE(MX_TCP_FIN_WAIT_2),
	NONE,
} },
{ "close_sends_queued_data_then_fin", NULL, {
	HS,
	/* Data and close in one pass: the FIN rides on the data. */
	{ .op = OP_SEND, .arg = 100, .arg2 = 100, .mangle = 1 },
	CLOSE,
	EXP(F | P | A, 1, 1, 2048, 100),
	SEND(1, -EPIPE),
	NONE,
} },
{ "rst_exact_sequence_resets", NULL, {
	HS,
	IN(R, 1, 0, 0, 0),
	EV(CLOSED, -ECONNRESET),
	NCONN(0),
	NONE,
} },
{ "rst_in_window_gets_challenge_ack", NULL, {
	HS,
	IN(R, 101, 0, 0, 0),
	EXP(A, 1, 1, 2048, 0),
	STATE(MX_TCP_ESTABLISHED),
	STAT(challenge_acks, 1),
	NONE,
} },
{ "rst_out_of_window_ignored", NULL, {
	HS,
	IN(R, 100000, 0, 0, 0),
	NONE,
	STATE(MX_TCP_ESTABLISHED),
	STAT(drop_rst_ignored, 1),
} },
{ "syn_in_established_gets_challenge_ack", NULL, {
	HS,
	INO(S, 500, 0, W, 0, "mss=1000"),
	EXP(A, 1, 1, 2048, 0),
	STATE(MX_TCP_ESTABLISHED),
	NONE,
} },
{ "challenge_acks_rate_limited", NULL, {
	HS,
	IN(R, 101, 0, 0, 0), EXP(A, 1, 1, 2048, 0),
	IN(R, 102, 0, 0, 0), EXP(A, 1, 1, 2048, 0),
	IN(R, 103, 0, 0, 0), EXP(A, 1, 1, 2048, 0),
	IN(R, 104, 0, 0, 0),
	NONE,
	STAT(challenge_acks_limited, 1),
	AT(1000),
	IN(R, 105, 0, 0, 0), EXP(A, 1, 1, 2048, 0),
	NONE,
} },
{ "ack_of_unsent_data_challenged", NULL, {
	HS,
	IN(A, 1, 500, W, 10),
	EXP(A, 1, 1, 2048, 0),
	STAT(drop_bad_ack, 1),
	NONE,
} },
{ "old_sequence_keepalive_acked", NULL, {
	HS,
	IN(A, 0, 1, W, 0),
	EXP(A, 1, 1, 2048, 0),
	NONE,
} },
{ "syn_cookie_when_backlog_full", conf_backlog_1, {
	INP(40001, S, 0, 0, 65535, 0, "mss=1460 ws=0"),
	EXPP(40001, S | A, 0, 1, 8192, 0, "mss=1460 ws=2"),
	INP(40002, S, 0, 0, 65535, 0, "mss=1000 ws=0"),
	/* Cookie SYN-ACK: no state, no window scale. */
	EXPP(40002, S | A, 0, 1, 8192, 0, "mss=1460"),
	NCONN(1),
	STAT(syn_cookies_sent, 1),
	INP(40002, A, 1, 1, W, 0, NULL),
	EV(EV_ACC, 0),
	NCONN(2),
	STAT(syn_cookies_ok, 1),
	STATE(MX_TCP_ESTABLISHED),
	/* MSS 1000 was encoded as the cookie table's 536. */
	SEND(600, 600),
	EXPP(40002, A, 1, 1, 8192, 536, NULL),
	EXPP(40002, A | P, 537, 1, 8192, 64, NULL),
	NONE,
} },
{ "syn_cookie_forged_ack_gets_rst", conf_backlog_1, {
	INP(40001, S, 0, 0, 65535, 0, "mss=1460"),
	EXPP(40001, S | A, 0, 1, 8192, 0, "mss=1460"),
	INP(40002, S, 0, 0, 65535, 0, "mss=1460"),
	EXPP(40002, S | A, 0, 1, 8192, 0, "mss=1460"),
	INABS(40002, A, PEER_ISN + 1, 12345, W),
	EXPABS(40002, R, 12345, 0),
	STAT(syn_cookies_bad, 1),
	NCONN(1),
	NONE,
} },
{ "syn_cookie_expires", conf_backlog_1, {
	INP(40001, S, 0, 0, 65535, 0, "mss=1460"),
	EXPP(40001, S | A, 0, 1, 8192, 0, "mss=1460"),
	INP(40002, S, 0, 0, 65535, 0, "mss=1460"),
	EXPP(40002, S | A, 0, 1, 8192, 0, "mss=1460"),
	/* Meanwhile the half-open connection retries and gives up. */
	AT(1000), EXPP(40001, S | A, 0, 1, 8192, 0, "mss=1460"),
	AT(3000), EXPP(40001, S | A, 0, 1, 8192, 0, "mss=1460"),
	AT(7000), EXPP(40001, S | A, 0, 1, 8192, 0, "mss=1460"),
	AT(15000),
	STAT(synack_timeouts, 1),
	AT(128000),
	INP(40002, A, 1, 1, W, 0, NULL),
	EXPP(40002, R, 1, ANY, ANY, 0, NULL),
	STAT(syn_cookies_bad, 1),
	NCONN(0),
	NONE,
} },
{ "synack_retransmit_then_half_open_dropped", NULL, {
	INO(S, 0, 0, 65535, 0, "mss=1000"),
	EXPO(S | A, 0, 1, 8192, 0, "mss=1460"),
	AT(996), NONE,
	AT(1000), EXPO(S | A, 0, 1, 8192, 0, "mss=1460"),
	AT(3000), EXPO(S | A, 0, 1, 8192, 0, "mss=1460"),
	AT(7000), EXPO(S | A, 0, 1, 8192, 0, "mss=1460"),
	AT(15000),
	NCONN(0),
	STAT(synack_timeouts, 1),
	NONE,
} },
{ "peer_syn_retransmission_resends_synack", NULL, {
	INO(S, 0, 0, 65535, 0, "mss=1000"),
	EXPO(S | A, 0, 1, 8192, 0, "mss=1460"),
	INO(S, 0, 0, 65535, 0, "mss=1000"),
	EXPO(S | A, 0, 1, 8192, 0, "mss=1460"),
	NCONN(1),
	NONE,
} },
{ "synrcvd_bad_ack_gets_rst", NULL, {
	INO(S, 0, 0, 65535, 0, "mss=1000"),
	EXPO(S | A, 0, 1, 8192, 0, "mss=1460"),
	IN(A, 1, 77, W, 0),
	EXP(R, 77, 0, 0, 0),
	STAT(drop_bad_ack, 1),
	NONE,
} },
{ "synrcvd_rst_returns_to_listen", NULL, {
	INO(S, 0, 0, 65535, 0, "mss=1000"),
	EXPO(S | A, 0, 1, 8192, 0, "mss=1460"),
	IN(R, 1, 0, 0, 0),
	NCONN(0),
	NONE,
} },
/* A table full of established connections refuses a SYN with a RST. */
{ "connection_limit_resets_syn", conf_max_conns_2, {
	INP(40001, S, 0, 0, 65535, 0, "mss=1000"),
	EXPP(40001, S | A, 0, 1, 8192, 0, "mss=1460"),
	INP(40001, A, 1, 1, W, 0, NULL),
	EV(EV_ACC, 0),
	INP(40002, S, 0, 0, 65535, 0, "mss=1000"),
	EXPP(40002, S | A, 0, 1, 8192, 0, "mss=1460"),
	INP(40002, A, 1, 1, W, 0, NULL),
	EV(EV_ACC, 0),
	INP(40003, S, 0, 0, 65535, 0, "mss=1000"),
	EXPABS(40003, R | A, 0, PEER_ISN + 1),
	STAT(drop_conn_limit, 1),
	NCONN(2),
	NONE,
} },
/* A table full of half-open connections gives the oldest one's slot to
 * a new SYN; that peer's ACK still opens its connection, through the
 * cookie every SYN-ACK carries, taking the next oldest slot in turn. */
{ "connection_limit_reclaims_halfopen", conf_max_conns_2, {
	INP(40001, S, 0, 0, 65535, 0, "mss=1000"),
	EXPP(40001, S | A, 0, 1, 8192, 0, "mss=1460"),
	INP(40002, S, 0, 0, 65535, 0, "mss=1000"),
	EXPP(40002, S | A, 0, 1, 8192, 0, "mss=1460"),
	INP(40003, S, 0, 0, 65535, 0, "mss=1000"),
	EXPP(40003, S | A, 0, 1, 8192, 0, "mss=1460"),
	STAT(halfopen_reclaimed, 1),
	STAT(drop_conn_limit, 0),
	NCONN(2),
	INP(40001, A, 1, 1, W, 0, NULL),
	EV(EV_ACC, 0),
	STATE(MX_TCP_ESTABLISHED),
	STAT(syn_cookies_ok, 1),
	STAT(halfopen_reclaimed, 2),
	NCONN(2),
	NONE,
} },
{ "per_address_limit", conf_per_addr_1, {
	INP(40001, S, 0, 0, 65535, 0, "mss=1000"),
	EXPP(40001, S | A, 0, 1, 8192, 0, "mss=1460"),
	INP(40002, S, 0, 0, 65535, 0, "mss=1000"),
	EXPABS(40002, R | A, 0, PEER_ISN + 1),
	STAT(drop_addr_limit, 1),
	INP2(40002, S, 0, 0, 65535, 0, "mss=1000"),
	EXPP2(40002, S | A, 0, 1, 8192, 0, "mss=1460"),
	NCONN(2),
	/* The first one goes away: its address may connect again. */
	INP(40001, R, 1, 0, 0, 0, NULL),
	INP(40003, S, 0, 0, 65535, 0, "mss=1000"),
	EXPP(40003, S | A, 0, 1, 8192, 0, "mss=1460"),
	NONE,
} },
{ "no_listener_gets_rst", NULL, {
	INP(40001, S, 0, 0, 65535, 0, "mss=1000"),
	EXPP(40001, S | A, 0, 1, 8192, 0, "mss=1460"),
	{ .op = OP_IN, .lp = 26, .pp = PPORT, .fl = S, .seq = 0, .wnd = 100 },
	{ .op = OP_EXP, .lp = 26, .pp = PPORT, .fl = R | A, .seq = 0,
	  .ack = 1, .wnd = 0 },
	{ .op = OP_IN, .lp = 26, .pp = PPORT, .fl = A, .seq = 5,
	  .ack = 4242, .wnd = 100, .abs = 1 },
	{ .op = OP_EXP, .lp = 26, .pp = PPORT, .fl = R, .seq = 4242,
	  .ack = 0, .wnd = 0, .abs = 1 },
	STAT(drop_no_conn, 2),
	NONE,
} },
{ "bad_checksum_dropped", NULL, {
	HS,
	INM(MG_CSUM, A, 1, 1, W, 100),
	INM(MG_CSUM, S, 0, 0, W, 0),
	AT(500),
	NONE,
	IN(A, 1, 1, W, 100),
	EV(READABLE, 0),
	READ(100),
	AT(600),
	EXP(A, 1, 101, ANY, 0),
	NONE,
} },
{ "bad_data_offset_and_truncation_dropped", NULL, {
	HS,
	INM(MG_DOFF_LOW, A, 1, 1, W, 10),
	INM(MG_DOFF_HIGH, A, 1, 1, W, 10),
	INM(MG_TRUNC, A, 1, 1, W, 10),
	AT(500),
	NONE,
	STATE(MX_TCP_ESTABLISHED),
} },
{ "malformed_options_never_reach_the_stack", NULL, {
	/* MSS with length 0, length 1, a length past the end, and a
	 * window scale of the wrong size. */
	INRAW(S, 0, 0, W, "\x02\x00\x05\xb4", 4),
	INRAW(S, 0, 0, W, "\x01\x01\x01\x02", 4),
	INRAW(S, 0, 0, W, "\x02\x08\x05\xb4", 4),
	INRAW(S, 0, 0, W, "\x03\x04\x07\x00", 4),
	NCONN(0),
	NONE,
	/* Handed over without the parser, the stack checks again. */
	DIRRAW(S, 0, 0, W, "\x02\x00\x05\xb4", 4),
	DIRRAW(S, 0, 0, W, "\x02\x01\x00\x00", 4),
	DIRRAW(S, 0, 0, W, "\x01\x01\x01\x02", 4),
	STAT(drop_bad_opts, 3),
	NCONN(0),
	NONE,
	/* Unknown kinds with sane lengths and SACK-permitted are fine;
	 * SACK is agreed: our SYN-ACK offers it back (RFC 2018 2). */
	INRAW(S, 0, 0, W, "\x04\x02\x1e\x04\x01\x01\x01\x00", 8),
	EXPO(S | A, 0, 1, 8192, 0, "mss=1460 sack"),
	NONE,
} },
{ "syn_fin_dropped", NULL, {
	IN(S | F, 0, 0, W, 0),
	STAT(drop_bad_seg, 1),
	NCONN(0),
	NONE,
} },
{ "abort_sends_rst", NULL, {
	HS,
	SEND(10, 10),
	EXP(A | P, 1, 1, 2048, 10),
	ABORT,
	EXP(R, 11, 0, 0, 0),
	EV(CLOSED, -ECONNABORTED),
	NCONN(0),
	IN(A, 1, 11, W, 0),
	EXP(R, 11, 0, 0, 0),
	NONE,
} },
{ "abort_in_syn_sent_is_silent", NULL, {
	CONNECT(0),
	AEXP(S, 0, 0, 8192, 0, NULL),
	ABORT,
	EV(CLOSED, -ECONNABORTED),
	NCONN(0),
	AT(5000),
	NONE,
} },
{ "connect_to_existing_tuple_refused", NULL, {
	CONNECT(0),
	AEXP(S, 0, 0, 8192, 0, NULL),
	CONNECT(-EADDRINUSE),
	NONE,
} },
{ "peer_rst_after_data_reports_reset", NULL, {
	HS,
	IN(A, 1, 1, W, 10),
	EV(READABLE, 0),
	IN(R, 11, 0, 0, 0),
	EV(CLOSED, -ECONNRESET),
	STAT(conn_resets, 1),
	NONE,
} },
};

int
main(void)
{
	struct CMUnitTest tests[MX_ARRAY_SIZE(scripts) + 1];
	size_t i;

	for (i = 0; i < MX_ARRAY_SIZE(scripts); i++) {
		memset(&tests[i], 0, sizeof(tests[i]));
		tests[i].name = scripts[i].name;
		tests[i].test_func = run_script;
		tests[i].initial_state = (void *)&scripts[i];
	}
	/* The per-connection footprint, issue 3 item 8. */
	printf("# sizeof TCP state per connection: %zu bytes; %zu scripts\n",
			mx_tcp_conn_size(), MX_ARRAY_SIZE(scripts));
	assert_true(mx_tcp_conn_size() <= 1024);
	return _cmocka_run_group_tests("tcp_script", tests,
			MX_ARRAY_SIZE(scripts), NULL, NULL);
}
