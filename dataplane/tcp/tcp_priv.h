/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Internals of the TCP engine shared by its files: tcp_stack.c (pools,
 * tables, TIME_WAIT, SYN cookies, the application calls and the flush
 * step), tcp_in.c (segment arrival, RFC 9293 3.10.7) and tcp_out.c (segment
 * emission, retransmission, congestion control, timers). Not a public
 * header: nothing outside dataplane/tcp includes it.
 */
#ifndef TCP_PRIV_H
#define TCP_PRIV_H

#include <assert.h>

#include "mx_base.h"
#include "mx_tcp.h"
#include "mx_timer.h"

#define SEQ_LT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b) SEQ_LT(b, a)
#define SEQ_GEQ(a, b) SEQ_LEQ(b, a)

/* Out-of-order ranges kept per connection; a segment that would need a
 * fifth disjoint range is dropped (the peer retransmits it). Four ranges
 * cover the loss patterns of a lossy path without letting a peer make us
 * scan long lists. */
#define TCP_OOO_MAX 4
/* Hash chain bound: with a keyed hash and twice as many buckets as
 * entries, a chain this long only happens when the table is nearly full,
 * and it caps the lookup cost an attacker can cause (STYLE pitfall 7). */
#define TCP_BUCKET_MAX 8
/* Segments emitted per connection per flush; the window bounds it anyway,
 * this bounds the loop. */
#define TCP_OUTPUT_BURST 64

/* Connection flags. */
#define CF_CLOSE_REQ   0x0001u /* the owner asked for our FIN */
#define CF_FIN_SENT    0x0002u /* our FIN is in the sequence space */
#define CF_FIN_RCVD    0x0004u /* the peer's FIN arrived in order */
#define CF_ACK_NOW     0x0008u /* an ACK must leave at the next output */
#define CF_WANT_WRITE  0x0010u /* a send was short: report WRITABLE */
#define CF_PASSIVE     0x0020u /* created by a listener */
#define CF_RECOVERY    0x0040u /* NewReno fast recovery (RFC 6582) */
#define CF_RTT_TIMING  0x0080u /* rtt_seq/rtt_ts time a segment */
#define CF_PERSIST     0x0100u /* the rtx timer is the persist timer */
#define CF_ABORT_REQ   0x0200u /* the owner asked for a RST */
#define CF_ACCEPTED    0x0400u /* the accept callback ran */
#define CF_SYN_RETX    0x0800u /* SYN or SYN-ACK was retransmitted */
#define CF_PARTIAL_ACK 0x1000u /* a partial ACK of this recovery was seen */
#define CF_COUNTED     0x2000u /* counted in the per-address table */
#define CF_DEAD        0x4000u /* closed and reported; free when unqueued */
#define CF_WS          0x8000u /* window scaling offered / agreed (RFC 7323) */
#define CF_HAVE_RTT    0x10000u /* srtt8/rttvar4 hold a sample */
#define CF_FIN_ACKED   0x20000u /* our FIN was acknowledged */
#define CF_SACK        0x40000u /* SACK-permitted offered / agreed (RFC 2018) */

/* Pending events, delivered by the flush step. */
#define EV_ACCEPT    0x01u
#define EV_READABLE  0x02u
#define EV_WRITABLE  0x04u
#define EV_CONNECTED 0x08u
#define EV_CLOSED    0x10u

struct tcp_range {
	uint32_t start, end;
};

struct mx_tcp_listener {
	struct mx_tcp_stack *s;
	mx_tcp_accept_fn *fn;
	void *arg;
	uint32_t addr;
	uint16_t port;
	bool used;
};

struct mx_tcp_conn {
	struct mx_timer rtx_tmr;       /* retransmission, persist, FIN_WAIT_2 */
	struct mx_timer dack_tmr;      /* delayed ACK */
	struct mx_tcp_stack *s;
	struct mx_tcp_conn *hnext;     /* hash chain, or the free list */
	struct mx_tcp_conn *pnext;     /* pending-work list */
	struct mx_tcp_conn *ho_prev, *ho_next; /* half-open, oldest first */
	struct mx_tcp_listener *lst;
	void *user;
	uint8_t *rbuf;
	uint8_t *sbuf;
	uint64_t rtt_ts;
	uint32_t laddr, raddr;
	uint16_t lport, rport;
	uint32_t flags;                /* CF_* */
	uint16_t smss;                 /* largest segment we send */
	uint8_t state;                 /* enum mx_tcp_state */
	uint8_t ev;                    /* EV_* */
	uint8_t snd_ws, rcv_ws;        /* RFC 7323 shifts; 0 when not agreed */
	uint8_t queued;                /* on the pending list */
	uint8_t n_ooo;
	uint8_t retries;
	uint8_t dupacks;
	uint8_t persist_shift;
	uint8_t rcv_segs;              /* data segments since our last ACK */
	int err;                       /* reason given with EV_CLOSED */
	uint32_t iss, irs;
	uint32_t snd_una, snd_nxt, snd_max;
	uint32_t snd_wnd, snd_wl1, snd_wl2, max_snd_wnd;
	uint32_t cwnd, ssthresh, recover;
	uint32_t rcv_nxt, rcv_adv;
	uint32_t srtt8, rttvar4, rto, rtt_seq;
	uint32_t r_off, r_len;         /* unread in-order bytes in rbuf */
	uint32_t s_off, s_len;         /* snd_una's byte in sbuf; bytes queued */
	struct tcp_range ooo[TCP_OOO_MAX];
};

/* A connection in TIME_WAIT keeps only what it needs to answer a
 * retransmitted FIN and to tell an old duplicate from a new SYN
 * (RFC 9293 3.6.1, 3.10.7.4 TIME-WAIT). */
struct tcp_tw {
	struct mx_timer tmr;           /* first: the timer handler casts */
	struct tcp_tw *hnext;
	struct tcp_tw *older, *newer;  /* age order, to evict the oldest */
	uint32_t laddr, raddr;
	uint16_t lport, rport;
	uint32_t snd_nxt, rcv_nxt;
	bool challenged;               /* an old-sequence SYN got our ACK */
};

struct tcp_addr {
	struct tcp_addr *next;
	uint32_t addr;
	uint32_t count;
};

struct mx_tcp_stack {
	struct mx_tcp_conf conf;
	struct mx_wheel *wheel;
	bool own_wheel;
	bool flushing;
	uint64_t now;
	struct mx_tcp_conn *conns;
	struct mx_slots bufs;          /* rings: receive (a), send (b) */
	struct mx_tcp_conn *conn_free;
	struct mx_tcp_conn **buckets;
	uint32_t bucket_mask;
	unsigned n_conns;
	unsigned n_halfopen;
	struct mx_tcp_conn *ho_oldest, *ho_newest;
	struct mx_tcp_conn *pend_head, *pend_tail;
	struct tcp_tw *tws;
	struct tcp_tw *tw_free;
	struct tcp_tw **tw_buckets;
	uint32_t tw_mask;
	unsigned n_tw;
	struct tcp_tw *tw_oldest, *tw_newest;
	struct tcp_addr *addrs;
	struct tcp_addr *addr_free;
	struct tcp_addr **addr_buckets;
	uint64_t chack_sec;
	unsigned chack_count;
	uint8_t *scratch;              /* one segment, when the ring wraps */
	struct mx_tcp_listener lst[MX_TCP_MAX_LISTENERS];
	struct mx_tcp_stats st;
};

static inline bool
tcp_synchronized(const struct mx_tcp_conn *c)
{
	return c->state >= MX_TCP_ESTABLISHED;
}

/* tcp_stack.c */
void tcp_pend(struct mx_tcp_conn *c);
struct mx_tcp_conn *tcp_lookup(struct mx_tcp_stack *s, uint32_t laddr,
		uint16_t lport, uint32_t raddr, uint16_t rport);
struct mx_tcp_conn *tcp_conn_new(struct mx_tcp_stack *s, uint32_t laddr,
		uint16_t lport, uint32_t raddr, uint16_t rport, bool passive);
void tcp_conn_close(struct mx_tcp_conn *c, int err);
void tcp_conn_discard(struct mx_tcp_conn *c);
void tcp_conn_set_state(struct mx_tcp_conn *c, enum mx_tcp_state st);
struct tcp_tw *tcp_tw_lookup(struct mx_tcp_stack *s, uint32_t laddr,
		uint16_t lport, uint32_t raddr, uint16_t rport);
void tcp_tw_remove(struct mx_tcp_stack *s, struct tcp_tw *tw);
void tcp_tw_enter(struct mx_tcp_conn *c);
void tcp_tw_rearm(struct mx_tcp_stack *s, struct tcp_tw *tw);
uint32_t tcp_isn(struct mx_tcp_stack *s, uint32_t laddr, uint16_t lport,
		uint32_t raddr, uint16_t rport);
uint32_t tcp_cookie_make(struct mx_tcp_stack *s, const struct mx_tcp_seg *seg,
		uint16_t peer_mss, uint16_t *mss_out);
bool tcp_cookie_check(struct mx_tcp_stack *s, const struct mx_tcp_seg *seg,
		uint16_t *mss_out);
struct mx_tcp_listener *tcp_listener_find(struct mx_tcp_stack *s,
		uint32_t addr, uint16_t port);
int tcp_addr_acquire(struct mx_tcp_conn *c);

/* tcp_in.c */
void tcp_conn_input(struct mx_tcp_conn *c, const struct mx_tcp_seg *seg,
		const struct mx_tcp_opts *o);

/* tcp_out.c */
void tcp_output(struct mx_tcp_conn *c);
void tcp_send_syn(struct mx_tcp_conn *c);
void tcp_send_ack(struct mx_tcp_conn *c);
void tcp_send_rst_conn(struct mx_tcp_conn *c);
void tcp_send_rst_reply(struct mx_tcp_stack *s, const struct mx_tcp_seg *seg);
void tcp_send_raw(struct mx_tcp_stack *s, const struct mx_tcp_seg *seg);
bool tcp_challenge_budget(struct mx_tcp_stack *s);
void tcp_challenge_ack(struct mx_tcp_conn *c);
void tcp_ack_received(struct mx_tcp_conn *c, uint32_t ack, uint32_t wnd_field,
		const struct mx_tcp_seg *seg);
void tcp_rtt_sample(struct mx_tcp_conn *c, uint32_t r);
void tcp_rtx_arm(struct mx_tcp_conn *c, uint32_t after_ms);
void tcp_rtx_stop(struct mx_tcp_conn *c);
void tcp_dack_arm(struct mx_tcp_conn *c);
void tcp_cc_init(struct mx_tcp_conn *c);
uint32_t tcp_rcv_space(const struct mx_tcp_conn *c);
mx_timer_fn tcp_rtx_timeout;
mx_timer_fn tcp_dack_timeout;

#endif /* TCP_PRIV_H */
