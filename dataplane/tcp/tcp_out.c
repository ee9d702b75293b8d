/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TCP output side: building and emitting segments, the window we
 * announce, the send loop (flow control, congestion window, sender SWS
 * avoidance, FIN), retransmission (RFC 6298 timer, RFC 5681 fast
 * retransmit, RFC 6582 NewReno recovery), zero-window probes and the
 * delayed ACK. Every segment leaves through conf.output.
 */
#include <errno.h>
#include <string.h>

#include "tcp_priv.h"

uint32_t
tcp_rcv_space(const struct mx_tcp_conn *c)
{
	return c->s->conf.rcvbuf - c->r_len;
}

/*
 * The window field of a segment. A SYN's window is never scaled (RFC 7323
 * 2.2). Receiver SWS avoidance (RFC 9293 3.8.6.2.2): the right edge only
 * moves right by at least min(buffer/2, MSS); it never moves left.
 */
static uint16_t
rcv_wnd_field(struct mx_tcp_conn *c, bool syn)
{
	const struct mx_tcp_conf *cf = &c->s->conf;
	uint32_t space = tcp_rcv_space(c);
	uint32_t thresh = MX_MIN(cf->rcvbuf / 2, cf->mss);
	uint32_t field;

	if (syn) {
		field = MX_MIN(space, 65535u);
		c->rcv_adv = c->rcv_nxt + field;
		return (uint16_t)field;
	}
	if (SEQ_GEQ(c->rcv_adv, c->rcv_nxt) &&
			SEQ_GT(c->rcv_nxt + space, c->rcv_adv) &&
			SEQ_LT(c->rcv_nxt + space, c->rcv_adv + thresh))
		space = c->rcv_adv - c->rcv_nxt;
	field = MX_MIN(space >> c->rcv_ws, 65535u);
	if (SEQ_GT(c->rcv_nxt + (field << c->rcv_ws), c->rcv_adv))
		c->rcv_adv = c->rcv_nxt + (field << c->rcv_ws);
	return (uint16_t)field;
}

void
tcp_send_raw(struct mx_tcp_stack *s, const struct mx_tcp_seg *seg)
{
	s->st.segs_out++;
	if (seg->flags & MX_TCP_RST)
		s->st.rst_out++;
	s->conf.output(seg, s->conf.output_arg);
}

/*
 * The SACK option of a pure ACK while data is held out of order (RFC 2018
 * 4: most recent range first, as ooo_touch keeps them). Returns its length
 * or 0. XXX: only pure ACKs carry it: our MSS counted no option bytes, so
 * a full data segment has no room; the next pure ACK reports the ranges.
 */
static uint8_t
sack_opt(const struct mx_tcp_conn *c, uint8_t *opt, size_t size)
{
	uint32_t blk[MX_TCP_SACK_MAX][2];
	unsigned n = MX_MIN((unsigned)c->n_ooo, MX_TCP_SACK_MAX);
	int len;

	if (!(c->flags & CF_SACK) || n == 0)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		blk[i][0] = c->ooo[i].start;
		blk[i][1] = c->ooo[i].end;
	}
	len = mx_tcp_opt_build_sack((const uint32_t (*)[2])blk, n, opt, size);
	return len < 0 ? 0 : (uint8_t)len;
}

/* Emits one segment of c: len payload bytes from the send ring at seq. */
static void
emit(struct mx_tcp_conn *c, uint32_t seq, uint8_t flags, uint32_t len)
{
	struct mx_tcp_stack *s = c->s;
	struct mx_tcp_seg g;
	struct mx_tcp_opts o;
	uint8_t opt[MX_TCP_OPT_MAX];
	int n;

	memset(&g, 0, sizeof(g));
	g.saddr = c->laddr;
	g.daddr = c->raddr;
	g.sport = c->lport;
	g.dport = c->rport;
	g.seq = seq;
	g.flags = flags;
	if (flags & MX_TCP_ACK)
		g.ack = c->rcv_nxt;
	if (!(flags & MX_TCP_RST))
		g.wnd = rcv_wnd_field(c, (flags & MX_TCP_SYN) != 0);
	if (flags & MX_TCP_SYN) {
		memset(&o, 0, sizeof(o));
		o.has_mss = true;
		o.mss = s->conf.mss;
		o.has_wscale = (c->flags & CF_WS) != 0;
		o.wscale = s->conf.wscale;
		o.sack_ok = (c->flags & CF_SACK) != 0;
		n = mx_tcp_opt_build(&o, opt, sizeof(opt));
		MX_ASSERT(n >= 0);
		g.opt = opt;
		g.opt_len = (uint8_t)n;
	} else if (len == 0 && (flags & MX_TCP_ACK) && !(flags & MX_TCP_RST)) {
		g.opt_len = sack_opt(c, opt, sizeof(opt));
		g.opt = g.opt_len > 0 ? opt : NULL;
	}
	if (len > 0) {
		uint32_t size = s->conf.sndbuf;
		uint32_t pos = (c->s_off + (seq - c->snd_una)) % size;

		MX_ASSERT(len <= s->conf.mss && seq - c->snd_una + len <= c->s_len);
		if (pos + len <= size) {
			g.payload = c->sbuf + pos;
		} else {
			memcpy(s->scratch, c->sbuf + pos, size - pos);
			memcpy(s->scratch + (size - pos), c->sbuf,
					len - (size - pos));
			g.payload = s->scratch;
		}
		g.len = len;
	}
	if (flags & MX_TCP_ACK) {
		c->flags &= ~CF_ACK_NOW;
		c->rcv_segs = 0;
		mx_timer_cancel(s->wheel, &c->dack_tmr);
	}
	tcp_send_raw(s, &g);
}

void
tcp_rtx_arm(struct mx_tcp_conn *c, uint32_t after_ms)
{
	mx_timer_arm(c->s->wheel, &c->rtx_tmr, c->s->now + after_ms);
}

void
tcp_rtx_stop(struct mx_tcp_conn *c)
{
	mx_timer_cancel(c->s->wheel, &c->rtx_tmr);
	c->flags &= ~CF_PERSIST;
}

void
tcp_dack_arm(struct mx_tcp_conn *c)
{
	if (!mx_timer_armed(&c->dack_tmr))
		mx_timer_arm(c->s->wheel, &c->dack_tmr,
				c->s->now + c->s->conf.delack_ms);
}

/*
 * Initial congestion state once the peer's MSS is known. IW per RFC 5681
 * 3.1 (2 to 4 segments by SMSS); RFC 6928's 10 segments is not used: a
 * gateway mostly sends short SMTP replies, and the smaller IW is the
 * conservative choice for the relay side. ssthresh starts "arbitrarily
 * high" (RFC 5681 3.1).
 */
void
tcp_cc_init(struct mx_tcp_conn *c)
{
	uint32_t m = c->smss;

	if (m > 2190)
		c->cwnd = 2 * m;
	else if (m > 1095)
		c->cwnd = 3 * m;
	else
		c->cwnd = 4 * m;
	c->ssthresh = UINT32_MAX / 2;
	c->recover = c->iss;
}

/*
 * RFC 6298 2.2/2.3 in the scaled integers of Jacobson's code: srtt8 is
 * 8*SRTT and rttvar4 is 4*RTTVAR, so alpha = 1/8 and beta = 1/4 are
 * shifts. G is the timer wheel's tick. The result is clamped to the
 * configured bounds (2.4, 2.5).
 */
void
tcp_rtt_sample(struct mx_tcp_conn *c, uint32_t r)
{
	const struct mx_tcp_conf *cf = &c->s->conf;
	int64_t delta;
	uint32_t rto;

	if (!(c->flags & CF_HAVE_RTT)) {
		c->srtt8 = r * 8;
		c->rttvar4 = r * 2;
		c->flags |= CF_HAVE_RTT;
	} else {
		delta = (int64_t)r - c->srtt8 / 8;
		c->srtt8 = (uint32_t)((int64_t)c->srtt8 + delta);
		if (delta < 0)
			delta = -delta;
		c->rttvar4 = (uint32_t)((int64_t)c->rttvar4 + delta -
				c->rttvar4 / 4);
	}
	rto = c->srtt8 / 8 + MX_MAX(MX_TIMER_TICK_MS, c->rttvar4);
	c->rto = MX_MIN(MX_MAX(rto, cf->rto_min_ms), cf->rto_max_ms);
}

void
tcp_send_syn(struct mx_tcp_conn *c)
{
	uint8_t flags = MX_TCP_SYN;

	if (c->state == MX_TCP_SYN_RCVD)
		flags |= MX_TCP_ACK;
	if (c->snd_nxt == c->iss) {
		/* First transmission: time the handshake (RFC 6298 allows
		 * the sample; Karn's rule drops it after a retransmission). */
		c->snd_nxt = c->iss + 1;
		c->snd_max = c->iss + 1;
		c->rtt_seq = c->iss;
		c->rtt_ts = c->s->now;
		c->flags |= CF_RTT_TIMING;
	}
	emit(c, c->iss, flags, 0);
	tcp_rtx_arm(c, c->rto);
}

void
tcp_send_ack(struct mx_tcp_conn *c)
{
	emit(c, c->snd_nxt, MX_TCP_ACK, 0);
}

/* RFC 5961 7: challenge ACKs share one per-second budget per stack so
 * that they cannot be used to amplify or to probe at line rate. True
 * when one may be sent (and it is counted). */
bool
tcp_challenge_budget(struct mx_tcp_stack *s)
{
	uint64_t sec = s->now / 1000;

	if (sec != s->chack_sec) {
		s->chack_sec = sec;
		s->chack_count = 0;
	}
	if (s->chack_count >= s->conf.challenge_acks_per_s) {
		s->st.challenge_acks_limited++;
		return false;
	}
	s->chack_count++;
	s->st.challenge_acks++;
	return true;
}

void
tcp_challenge_ack(struct mx_tcp_conn *c)
{
	if (tcp_challenge_budget(c->s))
		tcp_send_ack(c);
}

/* RFC 9293 3.10.5 ABORT: <SEQ=SND.NXT><CTL=RST>. */
void
tcp_send_rst_conn(struct mx_tcp_conn *c)
{
	emit(c, c->snd_nxt, MX_TCP_RST, 0);
}

/* RFC 9293 3.10.7.1: the reset for a segment that has no connection. */
void
tcp_send_rst_reply(struct mx_tcp_stack *s, const struct mx_tcp_seg *seg)
{
	struct mx_tcp_seg g;

	if (seg->flags & MX_TCP_RST)
		return;
	memset(&g, 0, sizeof(g));
	g.saddr = seg->daddr;
	g.daddr = seg->saddr;
	g.sport = seg->dport;
	g.dport = seg->sport;
	if (seg->flags & MX_TCP_ACK) {
		g.seq = seg->ack;
		g.flags = MX_TCP_RST;
	} else {
		g.ack = seg->seq + seg->len + !!(seg->flags & MX_TCP_SYN) +
			!!(seg->flags & MX_TCP_FIN);
		g.flags = MX_TCP_RST | MX_TCP_ACK;
	}
	tcp_send_raw(s, &g);
}

/* Resends the first unacknowledged segment (fast retransmit, partial
 * ACK) without moving snd_nxt. */
static void
retransmit_first(struct mx_tcp_conn *c)
{
	uint32_t len = MX_MIN((uint32_t)c->smss, c->s_len);
	uint8_t flags = MX_TCP_ACK;

	if (len == c->s_len && (c->flags & CF_FIN_SENT))
		flags |= MX_TCP_FIN;
	if (len == 0 && !(flags & MX_TCP_FIN))
		return;
	c->s->st.retransmits++;
	emit(c, c->snd_una, flags, len);
}

/* One segment of new or retransmitted data (or a lone FIN) if the send
 * window, the congestion window and SWS avoidance allow; false if not. */
static bool
output_one(struct mx_tcp_conn *c)
{
	uint32_t data_end = c->snd_una + c->s_len;
	uint32_t unsent = SEQ_LT(c->snd_nxt, data_end) ? data_end - c->snd_nxt : 0;
	uint32_t flight = c->snd_nxt - c->snd_una;
	uint32_t wnd = MX_MIN(c->snd_wnd, c->cwnd);
	uint32_t usable = wnd > flight ? wnd - flight : 0;
	uint32_t len = MX_MIN(MX_MIN(unsent, (uint32_t)c->smss), usable);
	bool fin = (c->flags & CF_CLOSE_REQ) && !(c->flags & CF_FIN_ACKED) &&
		len == unsent && SEQ_LEQ(c->snd_nxt, data_end);
	uint8_t flags = MX_TCP_ACK;
	uint32_t seq = c->snd_nxt;

	if (len == 0 && !fin)
		return false;
	/* Sender SWS avoidance (RFC 9293 3.8.6.2.1): no small segment that is
	 * small only because of the window while data is in flight, unless
	 * it is at least half the largest window the peer offered. */
	if (len > 0 && len < c->smss && len < unsent && flight > 0 &&
			len < c->max_snd_wnd / 2)
		return false;
	if (len > 0 && len == unsent)
		flags |= MX_TCP_PSH;
	if (fin)
		flags |= MX_TCP_FIN;
	if (SEQ_LT(seq, c->snd_max)) {
		c->s->st.retransmits++;
	} else if (!(c->flags & CF_RTT_TIMING)) {
		c->rtt_seq = seq;
		c->rtt_ts = c->s->now;
		c->flags |= CF_RTT_TIMING;
	}
	emit(c, seq, flags, len);
	c->snd_nxt += len + fin;
	if (SEQ_GT(c->snd_nxt, c->snd_max))
		c->snd_max = c->snd_nxt;
	if (fin) {
		c->flags |= CF_FIN_SENT;
		if (c->state == MX_TCP_ESTABLISHED)
			tcp_conn_set_state(c, MX_TCP_FIN_WAIT_1);
		else if (c->state == MX_TCP_CLOSE_WAIT)
			tcp_conn_set_state(c, MX_TCP_LAST_ACK);
	}
	if (!mx_timer_armed(&c->rtx_tmr) || (c->flags & CF_PERSIST)) {
		c->flags &= ~CF_PERSIST;
		tcp_rtx_arm(c, c->rto);
	}
	return !fin;
}

static uint32_t
persist_interval(const struct mx_tcp_conn *c)
{
	const struct mx_tcp_conf *cf = &c->s->conf;
	uint64_t iv = (uint64_t)MX_MAX(c->rto, cf->rto_min_ms) << c->persist_shift;

	return (uint32_t)MX_MIN(iv, (uint64_t)cf->rto_max_ms);
}

void
tcp_output(struct mx_tcp_conn *c)
{
	uint32_t data_end;
	unsigned n;

	if (!tcp_synchronized(c))
		return;
	for (n = 0; n < TCP_OUTPUT_BURST; n++) {
		if (!output_one(c))
			break;
	}
	if (c->flags & CF_ACK_NOW)
		tcp_send_ack(c);
	/* Zero window with data waiting and nothing in flight: the persist
	 * timer probes it (RFC 9293 3.8.6.1). */
	data_end = c->snd_una + c->s_len;
	if (c->snd_wnd == 0 && SEQ_LT(c->snd_nxt, data_end) &&
			c->snd_nxt == c->snd_una &&
			!mx_timer_armed(&c->rtx_tmr)) {
		c->flags |= CF_PERSIST;
		c->persist_shift = 0;
		tcp_rtx_arm(c, persist_interval(c));
	}
}

/* ---- ACK processing (RFC 9293 3.10.7.4, RFC 5681, RFC 6582) ---- */

/* Congestion window on an ACK of new data; returns whether the
 * retransmission timer restarts (RFC 6582 3.2 step 5: only on the first
 * partial ACK of a recovery). */
static bool
cc_on_ack(struct mx_tcp_conn *c, uint32_t acked)
{
	uint32_t flight;
	bool first;

	if (c->flags & CF_RECOVERY) {
		if (SEQ_GEQ(c->snd_una, c->recover)) {
			/* Full ACK: deflate (RFC 6582 3.2 step 3, option 1). */
			flight = c->snd_max - c->snd_una;
			c->cwnd = MX_MIN(c->ssthresh,
					MX_MAX(flight, (uint32_t)c->smss) + c->smss);
			c->flags &= ~(CF_RECOVERY | CF_PARTIAL_ACK);
			c->dupacks = 0;
			return true;
		}
		/* Partial ACK: resend the next hole, deflate by what was
		 * acked and add back one SMSS if that was at least SMSS. */
		retransmit_first(c);
		c->cwnd = c->cwnd > acked ? c->cwnd - acked : 0;
		if (acked >= c->smss)
			c->cwnd += c->smss;
		c->cwnd = MX_MAX(c->cwnd, (uint32_t)c->smss);
		first = !(c->flags & CF_PARTIAL_ACK);
		c->flags |= CF_PARTIAL_ACK;
		return first;
	}
	c->dupacks = 0;
	if (c->cwnd < c->ssthresh)
		c->cwnd += MX_MIN(acked, (uint32_t)c->smss); /* RFC 5681 eq. 2 */
	else
		c->cwnd += MX_MAX(1u, (uint32_t)c->smss * c->smss / c->cwnd);
	return true;
}

static void
ack_new(struct mx_tcp_conn *c, uint32_t ack)
{
	struct mx_tcp_stack *s = c->s;
	uint32_t acked = ack - c->snd_una;
	uint32_t data = MX_MIN(acked, c->s_len);
	bool rearm;

	c->s_off = (c->s_off + data) % s->conf.sndbuf;
	c->s_len -= data;
	/* All acknowledged: the ring starts over at its first byte, which
	 * shares a page with the receive ring's home (TCP_RX_SHARE). */
	if (c->s_len == 0)
		c->s_off = 0;
	c->snd_una = ack;
	if (SEQ_LT(c->snd_nxt, ack))
		c->snd_nxt = ack;
	/* Karn's rule: the timing is cancelled whenever something is
	 * retransmitted, so a sample here is from a segment sent once. */
	if ((c->flags & CF_RTT_TIMING) && SEQ_GT(ack, c->rtt_seq)) {
		c->flags &= ~CF_RTT_TIMING;
		tcp_rtt_sample(c, (uint32_t)(s->now - c->rtt_ts));
	}
	c->retries = 0;
	rearm = cc_on_ack(c, acked);
	if (c->snd_una == c->snd_max)
		tcp_rtx_stop(c);
	else if (rearm && !(c->flags & CF_PERSIST))
		tcp_rtx_arm(c, c->rto);
	if (data > 0 && (c->flags & CF_WANT_WRITE)) {
		c->flags &= ~CF_WANT_WRITE;
		c->ev |= EV_WRITABLE;
	}
}

/* RFC 5681 3.2 / RFC 6582 3.2: the third duplicate ACK starts fast
 * retransmit unless it belongs to a loss already being recovered. */
static void
dupack(struct mx_tcp_conn *c)
{
	uint32_t flight;

	if (c->dupacks < UINT8_MAX)
		c->dupacks++;
	if (c->flags & CF_RECOVERY) {
		c->cwnd += c->smss;
		return;
	}
	if (c->dupacks != 3 || !SEQ_GEQ(c->snd_una, c->recover))
		return;
	flight = c->snd_max - c->snd_una;
	c->ssthresh = MX_MAX(flight / 2, 2u * c->smss);
	c->recover = c->snd_max;
	c->flags |= CF_RECOVERY;
	c->flags &= ~(CF_RTT_TIMING | CF_PARTIAL_ACK);
	c->s->st.fast_retransmits++;
	retransmit_first(c);
	c->cwnd = c->ssthresh + 3u * c->smss;
}

/* An acceptable ACK (SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.MAX) of a
 * synchronized connection. */
void
tcp_ack_received(struct mx_tcp_conn *c, uint32_t ack, uint32_t wnd_field,
		const struct mx_tcp_seg *seg)
{
	uint32_t wnd = wnd_field << c->snd_ws;

	if (SEQ_LT(ack, c->snd_una))
		return; /* old duplicate: nothing to learn (RFC 9293 3.10.7.4) */
	if (SEQ_GT(ack, c->snd_una))
		ack_new(c, ack);
	else if (seg->len == 0 && !(seg->flags & (MX_TCP_SYN | MX_TCP_FIN)) &&
			wnd == c->snd_wnd && wnd > 0 &&
			!(c->flags & CF_PERSIST) && c->snd_max != c->snd_una)
		dupack(c); /* RFC 5681 2; answers to window probes are not */
	/* Window update only from a newer segment (SND.WL1/SND.WL2). */
	if (SEQ_LT(c->snd_wl1, seg->seq) ||
			(c->snd_wl1 == seg->seq && SEQ_LEQ(c->snd_wl2, ack))) {
		c->snd_wnd = wnd;
		c->snd_wl1 = seg->seq;
		c->snd_wl2 = ack;
		c->max_snd_wnd = MX_MAX(c->max_snd_wnd, wnd);
		if (wnd > 0 && (c->flags & CF_PERSIST)) {
			tcp_rtx_stop(c);
			c->persist_shift = 0;
		}
	}
}

/* ---- timers ---- */

static void
persist_probe(struct mx_tcp_conn *c)
{
	struct mx_tcp_stack *s = c->s;

	if (c->snd_wnd > 0 || c->s_len == 0) {
		c->flags &= ~CF_PERSIST;
		tcp_output(c);
		return;
	}
	/* One byte beyond the zero window (RFC 9293 3.8.6.1); snd_nxt stays,
	 * so the byte counts as sent only once the peer accepts it. */
	s->st.zero_wnd_probes++;
	emit(c, c->snd_una, MX_TCP_ACK, 1);
	if (SEQ_GT(c->snd_una + 1, c->snd_max))
		c->snd_max = c->snd_una + 1;
	if (c->persist_shift < 16)
		c->persist_shift++;
	tcp_rtx_arm(c, persist_interval(c));
}

static void
syn_timeout(struct mx_tcp_conn *c)
{
	struct mx_tcp_stack *s = c->s;

	if (++c->retries > s->conf.syn_retries) {
		if (c->flags & CF_PASSIVE)
			s->st.synack_timeouts++;
		s->st.conn_timeouts++;
		tcp_conn_close(c, -ETIMEDOUT);
		return;
	}
	c->flags |= CF_SYN_RETX;
	c->flags &= ~CF_RTT_TIMING;
	c->rto = MX_MIN(c->rto * 2, s->conf.rto_max_ms);
	s->st.retransmits++;
	tcp_send_syn(c);
}

/* RFC 6298 5.4-5.6 and RFC 5681 3.1 eq. 4: resend the first segment,
 * back off the timer, collapse cwnd to one segment. */
static void
rto_expired(struct mx_tcp_conn *c)
{
	struct mx_tcp_stack *s = c->s;
	uint32_t flight = c->snd_max - c->snd_una;

	if (++c->retries > s->conf.max_retries) {
		s->st.conn_timeouts++;
		tcp_send_rst_conn(c);
		tcp_conn_close(c, -ETIMEDOUT);
		return;
	}
	s->st.rto_expired++;
	if (c->retries == 1)
		c->ssthresh = MX_MAX(flight / 2, 2u * c->smss);
	c->cwnd = c->smss;
	c->recover = c->snd_max;
	c->flags &= ~(CF_RECOVERY | CF_RTT_TIMING | CF_PARTIAL_ACK);
	c->dupacks = 0;
	c->snd_nxt = c->snd_una;
	c->rto = MX_MIN(c->rto * 2, s->conf.rto_max_ms);
	tcp_output(c);
}

void
tcp_rtx_timeout(struct mx_timer *t, void *arg)
{
	struct mx_tcp_conn *c = arg;

	(void)t;
	switch (c->state) {
	case MX_TCP_SYN_SENT:
	case MX_TCP_SYN_RCVD:
		syn_timeout(c);
		break;
	case MX_TCP_FIN_WAIT_2:
		/* The peer never sent its FIN: all our data was acknowledged,
		 * so the close still counts as graceful. */
		tcp_conn_close(c, 0);
		break;
	case MX_TCP_CLOSED:
	case MX_TCP_TIME_WAIT:
		break;
	default:
		if (c->flags & CF_PERSIST)
			persist_probe(c);
		else if (c->snd_una != c->snd_max)
			rto_expired(c);
		break;
	}
	tcp_pend(c);
}

void
tcp_dack_timeout(struct mx_timer *t, void *arg)
{
	struct mx_tcp_conn *c = arg;

	(void)t;
	if (!tcp_synchronized(c) || !(c->rcv_segs > 0 ||
			(c->flags & CF_ACK_NOW)))
		return;
	c->s->st.delayed_acks++;
	c->flags |= CF_ACK_NOW;
	tcp_pend(c);
}
