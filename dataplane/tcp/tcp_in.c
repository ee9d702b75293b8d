/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TCP input side: segment arrival in the order of RFC 9293 3.10.7 with the
 * RFC 5961 hardening (exact-sequence RST, challenge ACKs for in-window
 * RSTs and for SYNs on synchronized connections, the ACK acceptability
 * range), listeners with the SYN backlog and SYN cookies (RFC 4987),
 * TIME_WAIT entries, receive-side reassembly with a bounded number of
 * out-of-order ranges, FIN handling and the delayed-ACK policy.
 */
#include <errno.h>
#include <string.h>

#include "tcp_priv.h"

/* ---- receive ring ---- */

static void
ring_write(struct mx_tcp_conn *c, uint32_t off, const uint8_t *p, uint32_t len)
{
	uint32_t size = c->s->conf.rcvbuf;
	uint32_t pos = (c->r_off + c->r_len + off) % size;
	uint32_t first = MX_MIN(len, size - pos);

	memcpy(c->rbuf + pos, p, first);
	memcpy(c->rbuf, p + first, len - first);
}

/* Records [start, end) as held out of order, merging with overlapping or
 * adjacent ranges; false when a new disjoint range would exceed the
 * bound. */
static bool
ooo_add(struct mx_tcp_conn *c, uint32_t start, uint32_t end)
{
	unsigned i, j;

	for (i = 0; i < c->n_ooo; i++) {
		struct tcp_range *r = &c->ooo[i];

		if (SEQ_GT(start, r->end) || SEQ_LT(end, r->start))
			continue;
		if (SEQ_LT(start, r->start))
			r->start = start;
		if (SEQ_GT(end, r->end))
			r->end = end;
		/* The grown range may now touch others: fold them in. */
		for (j = 0; j < c->n_ooo;) {
			struct tcp_range *o = &c->ooo[j];

			if (j == i || SEQ_GT(o->start, r->end) ||
					SEQ_LT(o->end, r->start)) {
				j++;
				continue;
			}
			if (SEQ_LT(o->start, r->start))
				r->start = o->start;
			if (SEQ_GT(o->end, r->end))
				r->end = o->end;
			c->ooo[j] = c->ooo[--c->n_ooo];
			if (i == c->n_ooo)
				i = j;
			r = &c->ooo[i];
			j = 0;
		}
		return true;
	}
	if (c->n_ooo >= TCP_OOO_MAX)
		return false;
	c->ooo[c->n_ooo].start = start;
	c->ooo[c->n_ooo].end = end;
	c->n_ooo++;
	return true;
}

/* Moves the range holding seq to the front: RFC 2018 4 wants the first
 * SACK block to report the most recently received segment. */
static void
ooo_touch(struct mx_tcp_conn *c, uint32_t seq)
{
	struct tcp_range r;
	unsigned i;

	for (i = 0; i < c->n_ooo; i++) {
		if (SEQ_GEQ(seq, c->ooo[i].start) && SEQ_LT(seq, c->ooo[i].end))
			break;
	}
	if (i == 0 || i == c->n_ooo)
		return;
	r = c->ooo[i];
	memmove(&c->ooo[1], &c->ooo[0], i * sizeof(c->ooo[0]));
	c->ooo[0] = r;
}

/* After rcv_nxt advanced: absorbs every held range it reached. */
static void
ooo_drain(struct mx_tcp_conn *c)
{
	unsigned i = 0;

	while (i < c->n_ooo) {
		struct tcp_range *r = &c->ooo[i];

		if (SEQ_GT(r->start, c->rcv_nxt)) {
			i++;
			continue;
		}
		if (SEQ_GT(r->end, c->rcv_nxt)) {
			c->r_len += r->end - c->rcv_nxt;
			c->rcv_nxt = r->end;
		}
		c->ooo[i] = c->ooo[--c->n_ooo];
		i = 0;
	}
}

/*
 * Payload of an acceptable segment, already trimmed on the left to
 * rcv_nxt. In-order bytes are appended; bytes beyond rcv_nxt are placed
 * at their offset in the ring and remembered as a range. Bytes beyond
 * the receive buffer were trimmed by the caller. Returns true when the
 * segment was in order (and the FIN, if any, may be processed).
 */
static bool
data_in(struct mx_tcp_conn *c, uint32_t seq, const uint8_t *p, uint32_t len)
{
	struct mx_tcp_stack *s = c->s;
	bool had_hole = c->n_ooo > 0;

	if (len == 0)
		return seq == c->rcv_nxt;
	if (seq != c->rcv_nxt) {
		if (!ooo_add(c, seq, seq + len)) {
			s->st.drop_ooo_full++;
		} else {
			ring_write(c, seq - c->rcv_nxt, p, len);
			ooo_touch(c, seq);
		}
		/* RFC 5681 4.2: an out-of-order segment is ACKed at once,
		 * one duplicate ACK per segment: flagging CF_ACK_NOW would
		 * fold a burst of them into one ACK at the flush, and the
		 * sender would never count three (RFC 5681 3.2). */
		s->st.dup_acks_out++;
		tcp_send_ack(c);
		return false;
	}
	ring_write(c, 0, p, len);
	c->r_len += len;
	c->rcv_nxt += len;
	ooo_drain(c);
	c->ev |= EV_READABLE;
	/* RFC 5681 4.2: ACK at once when a hole is filled; otherwise at
	 * least every second segment (RFC 9293 3.8.6.3), else the delayed
	 * ACK timer. */
	if (had_hole || ++c->rcv_segs >= 2)
		c->flags |= CF_ACK_NOW;
	else
		tcp_dack_arm(c);
	return true;
}

/* ---- synchronized states ---- */

/* RFC 9293 3.10.7.4, first check: is any of the segment in the window? */
static bool
seq_acceptable(const struct mx_tcp_conn *c, const struct mx_tcp_seg *seg,
		uint32_t seglen)
{
	uint32_t wnd = tcp_rcv_space(c);
	uint32_t nxt = c->rcv_nxt;

	if (SEQ_GT(c->rcv_adv, nxt + wnd))
		wnd = c->rcv_adv - nxt;
	if (seglen == 0) {
		if (wnd == 0)
			return seg->seq == nxt;
		return SEQ_GEQ(seg->seq, nxt) && SEQ_LT(seg->seq, nxt + wnd);
	}
	if (wnd == 0)
		return false;
	return (SEQ_GEQ(seg->seq, nxt) && SEQ_LT(seg->seq, nxt + wnd)) ||
		(SEQ_GEQ(seg->seq + seglen - 1, nxt) &&
		 SEQ_LT(seg->seq + seglen - 1, nxt + wnd));
}

/* RFC 5961 3.2: only a RST at exactly RCV.NXT resets; one elsewhere in
 * the window gets a challenge ACK; one outside it is dropped. */
static void
rst_in(struct mx_tcp_conn *c, const struct mx_tcp_seg *seg)
{
	struct mx_tcp_stack *s = c->s;
	uint32_t wnd = MX_MAX(tcp_rcv_space(c), 1u);

	s->st.rst_in++;
	if (seg->seq == c->rcv_nxt) {
		if (c->state == MX_TCP_SYN_RCVD && (c->flags & CF_PASSIVE)) {
			/* RFC 9293 3.10.7.4: back to LISTEN, silently. */
			tcp_conn_close(c, -ECONNREFUSED);
			return;
		}
		s->st.conn_resets++;
		tcp_conn_close(c, c->state == MX_TCP_SYN_RCVD ?
				-ECONNREFUSED : -ECONNRESET);
		return;
	}
	if (SEQ_GT(seg->seq, c->rcv_nxt) && SEQ_LT(seg->seq, c->rcv_nxt + wnd)) {
		tcp_challenge_ack(c);
		return;
	}
	s->st.drop_rst_ignored++;
}

/* Our SYN is acknowledged (seg->ack == ISS + 1, checked by the caller):
 * both opens end here (RFC 9293 3.10.7.3 and 3.10.7.4). wnd is the peer's
 * window in bytes, scaled or not as the caller's segment requires. RTT is
 * sampled only from an unretransmitted SYN (Karn's rule). The caller
 * raises the event (accept or connected). */
static void
handshake_done(struct mx_tcp_conn *c, const struct mx_tcp_seg *seg, uint32_t wnd)
{
	struct mx_tcp_stack *s = c->s;

	c->snd_una = seg->ack;
	if (SEQ_LT(c->snd_nxt, c->snd_una))
		c->snd_nxt = c->snd_una;
	c->snd_wnd = wnd;
	c->max_snd_wnd = c->snd_wnd;
	c->snd_wl1 = seg->seq;
	c->snd_wl2 = seg->ack;
	c->retries = 0;
	tcp_rtx_stop(c);
	if ((c->flags & CF_RTT_TIMING) && !(c->flags & CF_SYN_RETX))
		tcp_rtt_sample(c, (uint32_t)(s->now - c->rtt_ts));
	c->flags &= ~CF_RTT_TIMING;
	tcp_cc_init(c);
	tcp_conn_set_state(c, MX_TCP_ESTABLISHED);
}

/* The ACK field of a SYN_RCVD connection: the handshake completes. */
static bool
synrcvd_ack(struct mx_tcp_conn *c, const struct mx_tcp_seg *seg)
{
	struct mx_tcp_stack *s = c->s;

	if (seg->ack != c->iss + 1) {
		s->st.drop_bad_ack++;
		tcp_send_rst_reply(s, seg);
		return false;
	}
	handshake_done(c, seg, (uint32_t)seg->wnd << c->snd_ws);
	if (c->flags & CF_PASSIVE)
		c->ev |= EV_ACCEPT;
	else
		c->ev |= EV_CONNECTED;
	return true;
}

/* RFC 5961 5.2: the ACK must lie in [SND.UNA - MAX.SND.WND, SND.MAX]. */
static bool
ack_acceptable(struct mx_tcp_conn *c, const struct mx_tcp_seg *seg)
{
	if (SEQ_GT(seg->ack, c->snd_max) ||
			SEQ_LT(seg->ack, c->snd_una - c->max_snd_wnd)) {
		c->s->st.drop_bad_ack++;
		tcp_challenge_ack(c);
		return false;
	}
	return true;
}

/* Our FIN was acknowledged: the closing states move on. */
static void
fin_acked(struct mx_tcp_conn *c)
{
	switch (c->state) {
	case MX_TCP_FIN_WAIT_1:
		tcp_conn_set_state(c, MX_TCP_FIN_WAIT_2);
		tcp_rtx_arm(c, c->s->conf.fin_wait2_ms);
		break;
	case MX_TCP_CLOSING:
		tcp_tw_enter(c);
		break;
	case MX_TCP_LAST_ACK:
		tcp_conn_close(c, 0);
		break;
	default:
		break;
	}
}

/* The peer's FIN, in order (RFC 9293 3.10.7.4, eighth check). */
static void
fin_in(struct mx_tcp_conn *c)
{
	c->rcv_nxt++;
	c->flags |= CF_FIN_RCVD | CF_ACK_NOW;
	c->ev |= EV_READABLE;
	switch (c->state) {
	case MX_TCP_ESTABLISHED:
		tcp_conn_set_state(c, MX_TCP_CLOSE_WAIT);
		break;
	case MX_TCP_FIN_WAIT_1:
		tcp_conn_set_state(c, MX_TCP_CLOSING);
		break;
	case MX_TCP_FIN_WAIT_2:
		/* Send the ACK of the FIN before the TCB becomes a TIME_WAIT
		 * entry. */
		tcp_send_ack(c);
		tcp_tw_enter(c);
		break;
	default:
		break;
	}
}

/* Text and FIN of an acceptable segment of a synchronized connection. */
static void
text_in(struct mx_tcp_conn *c, const struct mx_tcp_seg *seg)
{
	uint32_t seq = seg->seq;
	const uint8_t *p = seg->payload;
	uint32_t len = seg->len;
	bool fin = (seg->flags & MX_TCP_FIN) != 0;
	uint32_t room, off;
	bool in_order;

	if (c->flags & CF_FIN_RCVD)
		return; /* nothing can follow the peer's FIN */
	if (c->state != MX_TCP_ESTABLISHED && c->state != MX_TCP_FIN_WAIT_1 &&
			c->state != MX_TCP_FIN_WAIT_2)
		return;
	/* RFC 9293 3.10.7.4: trim what was already received ... */
	if (SEQ_LT(seq, c->rcv_nxt)) {
		off = c->rcv_nxt - seq;
		if (off > len) {
			c->flags |= CF_ACK_NOW;
			return;
		}
		p += off;
		len -= off;
		seq = c->rcv_nxt;
		if (len == 0 && !fin) {
			c->flags |= CF_ACK_NOW; /* a pure duplicate */
			return;
		}
	}
	/* ... and what lies beyond the buffer (the window); a trimmed FIN
	 * is dropped with the bytes before it. */
	room = tcp_rcv_space(c);
	off = seq - c->rcv_nxt;
	if (off + len > room) {
		c->s->st.drop_out_of_window++;
		len = off < room ? room - off : 0;
		fin = false;
		c->flags |= CF_ACK_NOW;
	}
	in_order = data_in(c, seq, p, len);
	if (fin && in_order && seq + len == c->rcv_nxt)
		fin_in(c);
}

/*
 * Everything but SYN_SENT: RST, SYN, sequence, ACK, text and FIN checks in
 * the order of RFC 9293 3.10.7.4 with RFC 5961.
 */
static void
sync_input(struct mx_tcp_conn *c, const struct mx_tcp_seg *seg)
{
	struct mx_tcp_stack *s = c->s;
	uint32_t seglen = seg->len + !!(seg->flags & MX_TCP_SYN) +
		!!(seg->flags & MX_TCP_FIN);

	if (seg->flags & MX_TCP_RST) {
		rst_in(c, seg);
		return;
	}
	if (seg->flags & MX_TCP_SYN) {
		if (c->state == MX_TCP_SYN_RCVD && seg->seq == c->irs &&
				!(seg->flags & MX_TCP_ACK)) {
			/* The peer did not see our SYN-ACK: resend it. */
			tcp_send_syn(c);
			return;
		}
		/* RFC 5961 4.2: any SYN on a synchronized connection. */
		tcp_challenge_ack(c);
		return;
	}
	if (!seq_acceptable(c, seg, seglen)) {
		s->st.drop_out_of_window++;
		c->flags |= CF_ACK_NOW;
		return;
	}
	if (!(seg->flags & MX_TCP_ACK)) {
		s->st.drop_bad_seg++;
		return;
	}
	if (c->state == MX_TCP_SYN_RCVD && !synrcvd_ack(c, seg))
		return;
	if (!ack_acceptable(c, seg))
		return;
	tcp_ack_received(c, seg->ack, seg->wnd, seg);
	if ((c->flags & CF_FIN_SENT) && !(c->flags & CF_FIN_ACKED) &&
			c->s_len == 0 && c->snd_una == c->snd_max) {
		c->flags |= CF_FIN_ACKED;
		fin_acked(c);
		if (c->state == MX_TCP_CLOSED)
			return;
	}
	text_in(c, seg);
}

/* ---- SYN_SENT (RFC 9293 3.10.7.3) ---- */

static void
synsent_input(struct mx_tcp_conn *c, const struct mx_tcp_seg *seg,
		const struct mx_tcp_opts *o)
{
	struct mx_tcp_stack *s = c->s;
	bool ack = (seg->flags & MX_TCP_ACK) != 0;

	if (ack && seg->ack != c->iss + 1) {
		s->st.drop_bad_ack++;
		tcp_send_rst_reply(s, seg);
		return;
	}
	if (seg->flags & MX_TCP_RST) {
		s->st.rst_in++;
		/* RFC 5961 3.2 / RFC 9293: only with an acceptable ACK. */
		if (!ack) {
			s->st.drop_rst_ignored++;
			return;
		}
		tcp_conn_close(c, -ECONNREFUSED);
		return;
	}
	if (!(seg->flags & MX_TCP_SYN)) {
		s->st.drop_bad_seg++;
		return;
	}
	c->irs = seg->seq;
	c->rcv_nxt = seg->seq + 1;
	/* Our SYN announced this much (unscaled) before rcv_nxt was known. */
	c->rcv_adv = c->rcv_nxt + MX_MIN(tcp_rcv_space(c), 65535u);
	c->smss = MX_MIN(s->conf.mss, o->has_mss ? MX_MAX(o->mss, 64) :
			MX_TCP_MSS_DEFAULT);
	if ((c->flags & CF_WS) && o->has_wscale) {
		c->snd_ws = MX_MIN(o->wscale, MX_TCP_WSCALE_MAX);
		c->rcv_ws = s->conf.wscale;
	} else {
		c->flags &= ~CF_WS;
	}
	if (!o->sack_ok)
		c->flags &= ~CF_SACK;
	if (!ack) {
		/* Simultaneous open: answer with SYN-ACK. */
		c->snd_wnd = seg->wnd;
		c->snd_wl1 = seg->seq;
		c->snd_nxt = c->iss;
		c->flags |= CF_SYN_RETX;
		tcp_conn_set_state(c, MX_TCP_SYN_RCVD);
		tcp_send_syn(c);
		return;
	}
	/* The window of a SYN is never scaled (RFC 7323 2.2). */
	handshake_done(c, seg, seg->wnd);
	c->ev |= EV_CONNECTED;
	c->flags |= CF_ACK_NOW;
	/* Data or FIN riding on the SYN-ACK. */
	if (seg->len > 0 || (seg->flags & MX_TCP_FIN)) {
		struct mx_tcp_seg rest = *seg;

		rest.seq = seg->seq + 1;
		text_in(c, &rest);
	}
}

void
tcp_conn_input(struct mx_tcp_conn *c, const struct mx_tcp_seg *seg,
		const struct mx_tcp_opts *o)
{
	if (c->state == MX_TCP_SYN_SENT)
		synsent_input(c, seg, o);
	else
		sync_input(c, seg);
	tcp_pend(c);
}

/* ---- LISTEN (RFC 9293 3.10.7.2) ---- */

static struct mx_tcp_conn *
passive_new(struct mx_tcp_stack *s, struct mx_tcp_listener *l,
		const struct mx_tcp_seg *seg)
{
	struct mx_tcp_conn *c;

	c = tcp_conn_new(s, seg->daddr, seg->dport, seg->saddr, seg->sport,
			true);
	if (c == NULL)
		return NULL;
	if (tcp_addr_acquire(c) != 0) {
		tcp_conn_discard(c);
		return NULL;
	}
	c->lst = l;
	return c;
}

static void
listen_syn(struct mx_tcp_stack *s, struct mx_tcp_listener *l,
		const struct mx_tcp_seg *seg, const struct mx_tcp_opts *o)
{
	struct mx_tcp_conn *c;
	uint16_t cookie_mss;

	if (s->n_halfopen >= s->conf.syn_backlog) {
		/* RFC 4987 3.6: answer with a cookie and keep nothing. */
		struct mx_tcp_seg g;
		struct mx_tcp_opts so;
		uint8_t opt[MX_TCP_OPT_MAX];
		uint16_t mss;
		int n;

		memset(&g, 0, sizeof(g));
		g.saddr = seg->daddr;
		g.daddr = seg->saddr;
		g.sport = seg->dport;
		g.dport = seg->sport;
		g.seq = tcp_cookie_make(s, seg, o->has_mss ? o->mss :
				MX_TCP_MSS_DEFAULT, &mss);
		g.ack = seg->seq + 1;
		g.flags = MX_TCP_SYN | MX_TCP_ACK;
		g.wnd = (uint16_t)MX_MIN(s->conf.rcvbuf, 65535u);
		memset(&so, 0, sizeof(so));
		so.has_mss = true;
		so.mss = s->conf.mss;
		n = mx_tcp_opt_build(&so, opt, sizeof(opt));
		MX_ASSERT(n >= 0);
		g.opt = opt;
		g.opt_len = (uint8_t)n;
		s->st.syn_cookies_sent++;
		tcp_send_raw(s, &g);
		return;
	}
	c = passive_new(s, l, seg);
	if (c == NULL) {
		tcp_send_rst_reply(s, seg);
		return;
	}
	c->irs = seg->seq;
	c->rcv_nxt = seg->seq + 1;
	/* The ISN is a SYN cookie even though state is kept: if the table
	 * fills and this entry is reclaimed (tcp_stack.c), the peer's ACK
	 * still opens the connection, only without window scaling and SACK
	 * (which the cookie cannot hold). A cookie is an RFC 6528 ISN with
	 * a 64 s clock and 24 keyed bits, as FreeBSD's syncache sends. */
	c->iss = tcp_cookie_make(s, seg, o->has_mss ? o->mss : MX_TCP_MSS_DEFAULT,
			&cookie_mss);
	c->snd_una = c->iss;
	c->snd_nxt = c->iss;
	c->snd_max = c->iss;
	c->smss = MX_MIN(s->conf.mss, o->has_mss ? MX_MAX(o->mss, 64) :
			MX_TCP_MSS_DEFAULT);
	if (o->has_wscale) {
		c->flags |= CF_WS;
		c->snd_ws = MX_MIN(o->wscale, MX_TCP_WSCALE_MAX);
		c->rcv_ws = s->conf.wscale;
	}
	/* RFC 2018 2: SACK only when the SYN offered it. */
	if (o->sack_ok)
		c->flags |= CF_SACK;
	c->snd_wnd = seg->wnd;
	tcp_conn_set_state(c, MX_TCP_SYN_RCVD);
	tcp_send_syn(c);
}

/* An ACK to a listener: a SYN cookie's third segment, or garbage. */
static void
listen_ack(struct mx_tcp_stack *s, struct mx_tcp_listener *l,
		const struct mx_tcp_seg *seg)
{
	struct mx_tcp_conn *c;
	uint16_t mss;

	if ((seg->flags & (MX_TCP_SYN | MX_TCP_RST | MX_TCP_FIN)) ||
			!tcp_cookie_check(s, seg, &mss)) {
		s->st.syn_cookies_bad++;
		tcp_send_rst_reply(s, seg);
		return;
	}
	c = passive_new(s, l, seg);
	if (c == NULL) {
		tcp_send_rst_reply(s, seg);
		return;
	}
	s->st.syn_cookies_ok++;
	c->irs = seg->seq - 1;
	c->iss = seg->ack - 1;
	c->rcv_nxt = seg->seq;
	c->rcv_adv = seg->seq + MX_MIN(s->conf.rcvbuf, 65535u);
	c->snd_una = seg->ack;
	c->snd_nxt = seg->ack;
	c->snd_max = seg->ack;
	c->smss = mss;
	c->snd_wnd = seg->wnd;
	c->max_snd_wnd = seg->wnd;
	c->snd_wl1 = seg->seq;
	c->snd_wl2 = seg->ack;
	tcp_cc_init(c);
	c->state = MX_TCP_ESTABLISHED;
	c->ev |= EV_ACCEPT;
	text_in(c, seg);
	tcp_pend(c);
}

static void
listen_input(struct mx_tcp_stack *s, struct mx_tcp_listener *l,
		const struct mx_tcp_seg *seg, const struct mx_tcp_opts *o)
{
	if (seg->flags & MX_TCP_RST) {
		s->st.drop_rst_ignored++;
		return;
	}
	if (seg->flags & MX_TCP_ACK) {
		listen_ack(s, l, seg);
		return;
	}
	if (!(seg->flags & MX_TCP_SYN)) {
		s->st.drop_bad_seg++;
		return;
	}
	listen_syn(s, l, seg, o);
}

/* ---- TIME_WAIT (RFC 9293 3.10.7.4, RFC 1337, RFC 6191) ---- */

static void
tw_ack(struct mx_tcp_stack *s, const struct tcp_tw *tw)
{
	struct mx_tcp_seg g;

	memset(&g, 0, sizeof(g));
	g.saddr = tw->laddr;
	g.daddr = tw->raddr;
	g.sport = tw->lport;
	g.dport = tw->rport;
	g.seq = tw->snd_nxt;
	g.ack = tw->rcv_nxt;
	g.flags = MX_TCP_ACK;
	tcp_send_raw(s, &g);
}

/* RFC 5961 4 applied to TIME_WAIT: an old-sequence SYN gets an ACK from
 * the shared per-second budget, and the entry remembers it asked. */
static void
tw_challenge(struct mx_tcp_stack *s, struct tcp_tw *tw)
{
	if (!tcp_challenge_budget(s))
		return;
	tw->challenged = true;
	tw_ack(s, tw);
}

/* A RST in TIME_WAIT. RFC 1337 says ignore it, so an old duplicate
 * cannot cut 2MSL short. The one exception is the answer to our own
 * challenge ACK: a peer in SYN-SENT that reused the 4-tuple with an
 * old-looking ISN resets exactly at our RCV.NXT (RFC 9293 3.10.7.3,
 * SEQ=SEG.ACK). Releasing the entry then lets its SYN retransmission
 * open the new connection rather than fail until 2MSL runs out, which
 * is what Linux does (tcp_rfc1337=0) without the challenge condition. */
static void
tw_rst(struct mx_tcp_stack *s, struct tcp_tw *tw,
		const struct mx_tcp_seg *seg)
{
	s->st.rst_in++;
	if (tw->challenged && seg->seq == tw->rcv_nxt) {
		s->st.tw_released++;
		tcp_tw_remove(s, tw);
		return;
	}
	s->st.drop_rst_ignored++;
}

/* Returns true when the segment was consumed by the entry. */
static bool
tw_input(struct mx_tcp_stack *s, struct tcp_tw *tw,
		const struct mx_tcp_seg *seg)
{
	if (seg->flags & MX_TCP_RST) {
		tw_rst(s, tw, seg);
		return true;
	}
	if ((seg->flags & MX_TCP_SYN) && !(seg->flags & MX_TCP_ACK)) {
		if (SEQ_GT(seg->seq, tw->rcv_nxt)) {
			/* A new incarnation beyond the old sequence space
			 * (RFC 9293 3.10.7.4 TIME-WAIT, RFC 6191 without
			 * timestamps, which this stack does not negotiate). */
			s->st.tw_reused++;
			tcp_tw_remove(s, tw);
			return false;
		}
		/* RFC 6191 2: not acceptable; no state changes. */
		tw_challenge(s, tw);
		return true;
	}
	if (seg->flags & MX_TCP_FIN) {
		/* A retransmitted FIN: our ACK was lost; restart 2MSL. */
		tw_ack(s, tw);
		tcp_tw_rearm(s, tw);
		return true;
	}
	if (seg->len > 0 || seg->seq != tw->rcv_nxt ||
			(seg->flags & MX_TCP_SYN))
		tw_ack(s, tw);
	return true;
}

/* ---- entry point ---- */

static bool
seg_sane(struct mx_tcp_stack *s, const struct mx_tcp_seg *seg,
		struct mx_tcp_opts *o)
{
	if ((seg->flags & MX_TCP_SYN) &&
			(seg->flags & (MX_TCP_FIN | MX_TCP_RST))) {
		s->st.drop_bad_seg++;
		return false;
	}
	if (seg->opt_len > MX_TCP_OPT_MAX || (seg->len > 0 &&
			seg->payload == NULL) || (seg->opt_len > 0 &&
			seg->opt == NULL) || seg->len > 0xffff) {
		s->st.drop_bad_seg++;
		return false;
	}
	if (mx_tcp_opt_parse(seg->opt, seg->opt_len, o) != 0) {
		s->st.drop_bad_opts++;
		return false;
	}
	return true;
}

void
mx_tcp_input(struct mx_tcp_stack *s, const struct mx_tcp_seg *seg,
		uint64_t now_ms)
{
	struct mx_tcp_opts o;
	struct mx_tcp_conn *c;
	struct mx_tcp_listener *l;
	struct tcp_tw *tw;

	if (now_ms > s->now)
		s->now = now_ms;
	s->st.segs_in++;
	if (!seg_sane(s, seg, &o))
		goto out;
	c = tcp_lookup(s, seg->daddr, seg->dport, seg->saddr, seg->sport);
	if (c != NULL) {
		tcp_conn_input(c, seg, &o);
		goto out;
	}
	tw = tcp_tw_lookup(s, seg->daddr, seg->dport, seg->saddr, seg->sport);
	if (tw != NULL && tw_input(s, tw, seg))
		goto out;
	l = tcp_listener_find(s, seg->daddr, seg->dport);
	if (l != NULL) {
		listen_input(s, l, seg, &o);
		goto out;
	}
	s->st.drop_no_conn++;
	tcp_send_rst_reply(s, seg);
out:
	mx_tcp_flush(s);
}
