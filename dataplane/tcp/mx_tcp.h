/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_tcp: the userspace TCP engine of one worker lcore (RFC 9293), built
 * sans-I/O: it never touches a socket, an mbuf or a clock. The owner feeds
 * it parsed segments (mx_tcp_input) and the time (mx_tcp_tick, and the
 * "now" of each input), and the engine hands every segment it emits to the
 * output callback of its configuration. That keeps it deterministic: the
 * unit tests drive it with a virtual clock and a scripted peer, and the
 * DPDK glue wraps segments into mbufs around it.
 *
 * Contract:
 * - One struct mx_tcp_stack per lcore; every function must be called on
 *   that lcore's thread. Nothing blocks; nothing allocates after
 *   mx_tcp_stack_create() (connections, TIME_WAIT entries and data buffers
 *   come from pools sized by the configuration).
 * - Output: conf.output is called synchronously, for each emitted segment,
 *   from inside mx_tcp_input(), mx_tcp_tick() and mx_tcp_flush(). The
 *   segment and the bytes it points to are valid during the call only.
 *   The callee may drop it (no mbuf): TCP recovers as from loss.
 * - Application calls (send, consume, close, abort, connect) only queue
 *   work; it happens, and its segments leave, at the next mx_tcp_flush()
 *   (the owner calls it once per loop pass, after its callbacks ran) or at
 *   the end of the next mx_tcp_input()/mx_tcp_tick(), which flush too.
 * - Events (accept, readable, writable, connected, closed) are delivered
 *   from the flush step only, never from inside an application call, so
 *   an event handler may call any function here. After MX_TCP_EV_CLOSED
 *   returns, the connection is gone: drop every pointer to it.
 * - Peer bytes are never trusted: a malformed or hostile segment is
 *   counted in struct mx_tcp_stats and dropped (or answered as the RFCs
 *   say); it never trips an assertion.
 *
 * Addresses are IPv4 in network byte order (as on the wire); ports,
 * sequence numbers and windows are in host order.
 */
#ifndef MX_TCP_H
#define MX_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mx_timer.h"

/* TCP header flags (RFC 9293 3.1). */
#define MX_TCP_FIN 0x01
#define MX_TCP_SYN 0x02
#define MX_TCP_RST 0x04
#define MX_TCP_PSH 0x08
#define MX_TCP_ACK 0x10
#define MX_TCP_URG 0x20
#define MX_TCP_ECE 0x40
#define MX_TCP_CWR 0x80

#define MX_TCP_HDR_MIN 20u
#define MX_TCP_OPT_MAX 40u    /* data offset 15 words minus the header */
#define MX_TCP_MSS_DEFAULT 536u /* RFC 9293 3.7.1: no MSS option seen */
#define MX_TCP_WSCALE_MAX 14u /* RFC 7323 2.3 */

/* Parsed TCP options (RFC 9293 3.1, RFC 7323, RFC 2018). */
struct mx_tcp_opts {
	bool has_mss;
	bool has_wscale;
	bool sack_ok;
	bool has_ts;
	uint16_t mss;
	uint8_t wscale;     /* as received; the user clamps to 14 (RFC 7323 2.3) */
	uint8_t n_sack;     /* SACK blocks seen (their content is ignored) */
	uint32_t ts_val;
	uint32_t ts_ecr;
};

/*
 * Parses len bytes of TCP options. Returns 0, or -EINVAL when an option's
 * length byte is missing, below 2, runs past the end, or does not match
 * the size its kind requires (MSS 4, WS 3, SACK-permitted 2, TS 10, SACK
 * 2+8n). Unknown kinds with a sane length are skipped. Parsing stops at
 * EOL (kind 0). Pure; out is fully written on success.
 */
int mx_tcp_opt_parse(const uint8_t *p, size_t len, struct mx_tcp_opts *out);
/*
 * Writes the options of o (MSS, window scale, SACK-permitted, timestamps,
 * in that order, padded with NOP to a multiple of 4) into buf. Returns the
 * length (0..40) or -ENOSPC when size is too small.
 */
int mx_tcp_opt_build(const struct mx_tcp_opts *o, uint8_t *buf, size_t size);

/* RFC 2018 3: at most 4 SACK blocks fit the 40 bytes of options. */
#define MX_TCP_SACK_MAX 4u
/*
 * Writes a SACK option (RFC 2018 3) with the n blocks (left edge, right
 * edge; sequence numbers) in the order given, after two NOPs, into buf.
 * Returns the length (4 + 8n), -EINVAL when n is 0 or above
 * MX_TCP_SACK_MAX, or -ENOSPC when size is too small.
 */
int mx_tcp_opt_build_sack(const uint32_t (*blocks)[2], unsigned n, uint8_t *buf,
		size_t size);

/* One TCP segment, in either direction. */
struct mx_tcp_seg {
	uint32_t saddr, daddr;    /* IPv4, network order */
	uint16_t sport, dport;    /* host order */
	uint32_t seq, ack;
	uint8_t flags;            /* MX_TCP_* */
	uint16_t wnd;             /* the header field, before scaling */
	uint8_t opt_len;          /* 0..40, a multiple of 4 on output */
	const uint8_t *opt;       /* raw option bytes */
	uint32_t len;             /* payload bytes */
	const uint8_t *payload;
};

/* Internet checksum (RFC 1071) of the IPv4 pseudo-header (RFC 9293 3.1)
 * and the l4_len bytes at p; returns it in network order ready for the
 * header (0 from a received segment whose checksum is correct). */
uint16_t mx_tcp_csum(uint32_t saddr, uint32_t daddr, const void *p, size_t l4_len);

#define MX_TCP_PARSE_NO_CSUM 0x1u /* the NIC verified the checksum */

/*
 * Parses and validates the TCP segment at p. l4_len is the TCP length the
 * IPv4 header claims (total length minus header length) and avail the bytes
 * actually received from p on: l4_len must not exceed avail (STYLE pitfall
 * 2). Checks: l4_len >= 20, data offset in 5..15 and within l4_len, the
 * checksum over the pseudo-header (unless MX_TCP_PARSE_NO_CSUM), ports not
 * zero, and the options (mx_tcp_opt_parse). Returns 0, -EINVAL for a
 * malformed header or options, -EBADMSG for a bad checksum. On success out
 * points into p (options, payload).
 */
int mx_tcp_hdr_parse(const uint8_t *p, size_t avail, size_t l4_len,
		uint32_t saddr, uint32_t daddr, unsigned flags,
		struct mx_tcp_seg *out);
/*
 * Writes seg (header, options, payload) with its checksum into buf.
 * Returns the TCP length or -ENOSPC / -EINVAL (opt_len not a multiple of
 * 4 or above 40).
 */
long mx_tcp_seg_build(const struct mx_tcp_seg *seg, uint8_t *buf, size_t size);
/* The NIC fills the checksum (TX TCP checksum offload): the build skips
 * the software sum over the whole segment and leaves the field 0 for L3,
 * which alone writes the pseudo-header sum the NIC starts from
 * (mx_net_ipv4_output with conf.tx_tcp_cksum). Only for a segment sent
 * through such a port, contiguous in its first mbuf. */
#define MX_TCP_BUILD_NO_CSUM 0x1u
/* mx_tcp_seg_build with MX_TCP_BUILD_* flags (0: the same). */
long mx_tcp_seg_build_flags(const struct mx_tcp_seg *seg, uint8_t *buf, size_t size,
		unsigned flags);

/* Connection states (RFC 9293 3.3.2). LISTEN is a listener, and TIME_WAIT
 * a compact table entry, not a connection. */
enum mx_tcp_state {
	MX_TCP_CLOSED = 0,
	MX_TCP_SYN_SENT,
	MX_TCP_SYN_RCVD,
	MX_TCP_ESTABLISHED,
	MX_TCP_FIN_WAIT_1,
	MX_TCP_FIN_WAIT_2,
	MX_TCP_CLOSING,
	MX_TCP_TIME_WAIT,
	MX_TCP_CLOSE_WAIT,
	MX_TCP_LAST_ACK,
};

enum mx_tcp_event {
	/* In-order bytes arrived, or the peer's FIN (mx_tcp_peer_closed). */
	MX_TCP_EV_READABLE = 0,
	/* Send space opened after mx_tcp_send() queued less than asked. */
	MX_TCP_EV_WRITABLE,
	/* Active open finished: err 0, or -ECONNREFUSED / -ETIMEDOUT /
	 * -ECONNRESET, and MX_TCP_EV_CLOSED follows. */
	MX_TCP_EV_CONNECTED,
	/* The connection is gone, exactly once: err 0 after a graceful close
	 * of both directions, -ECONNRESET (peer RST), -ETIMEDOUT
	 * (retransmissions exhausted), -ECONNREFUSED, -ECONNABORTED (after
	 * mx_tcp_abort). The connection is freed when the handler returns. */
	MX_TCP_EV_CLOSED,
};

struct mx_tcp_stack;
struct mx_tcp_conn;
struct mx_tcp_listener;

typedef void mx_tcp_output_fn(const struct mx_tcp_seg *seg, void *arg);
/* conn user pointer as set by mx_tcp_connect / mx_tcp_conn_set_user. */
typedef void mx_tcp_event_fn(struct mx_tcp_conn *c, enum mx_tcp_event ev,
		int err, void *user);
/* A passive open reached ESTABLISHED. The callee sets the user pointer
 * (mx_tcp_conn_set_user) or aborts the connection. */
typedef void mx_tcp_accept_fn(struct mx_tcp_listener *l, struct mx_tcp_conn *c,
		void *arg);

struct mx_tcp_conf {
	unsigned max_conns;       /* connections (any state but TIME_WAIT) */
	unsigned max_per_addr;    /* passive connections per peer IP; 0: no limit */
	unsigned syn_backlog;     /* half-open (SYN_RCVD) bound; beyond it SYN cookies */
	unsigned tw_slots;        /* TIME_WAIT entries; 0: no TIME_WAIT kept */
	uint32_t tw_ms;           /* TIME_WAIT duration, 2*MSL (RFC 9293 3.4.2) */
	uint32_t fin_wait2_ms;    /* FIN_WAIT_2 without the peer's FIN */
	uint32_t rcvbuf;          /* receive buffer bytes per connection */
	uint32_t sndbuf;          /* send buffer bytes per connection */
	uint16_t mss;             /* MSS we announce and send with at most */
	uint8_t wscale;           /* our window scale shift, 0..14 */
	uint32_t rto_init_ms;     /* RFC 6298 2.1: 1000 */
	uint32_t rto_min_ms;      /* RFC 6298 2.4 says 1000; Linux uses 200 */
	uint32_t rto_max_ms;      /* RFC 6298 2.5: at least 60000 */
	uint32_t delack_ms;       /* at most 200 (RFC 9293 3.8.6.3) */
	unsigned syn_retries;     /* SYN / SYN-ACK retransmissions */
	unsigned max_retries;     /* data retransmissions before -ETIMEDOUT */
	unsigned challenge_acks_per_s; /* RFC 5961 7: stack-wide limit */
	uint8_t isn_secret[16];   /* ISN (RFC 6528) and table hash key */
	uint8_t cookie_secret[16]; /* SYN cookies (RFC 4987) */
	/* The timer wheel to use, shared with the owner's loop; NULL: the
	 * stack makes its own and mx_tcp_tick() expires it. */
	struct mx_wheel *wheel;
	mx_tcp_output_fn *output;
	void *output_arg;
	mx_tcp_event_fn *event;
};

/* Defaults for everything but the secrets and callbacks. */
void mx_tcp_conf_defaults(struct mx_tcp_conf *conf);

/* Counters of one stack: every drop and reject has one. */
struct mx_tcp_stats {
	uint64_t segs_in;
	uint64_t segs_out;
	uint64_t retransmits;      /* segments resent (RTO and fast) */
	uint64_t rto_expired;
	uint64_t fast_retransmits;
	uint64_t zero_wnd_probes;
	uint64_t delayed_acks;     /* ACKs sent by the delayed-ACK timer */
	uint64_t dup_acks_out;     /* immediate ACKs of out-of-order segments */
	uint64_t challenge_acks;
	uint64_t challenge_acks_limited; /* suppressed by the rate limit */
	uint64_t rst_in;
	uint64_t rst_out;
	uint64_t drop_no_conn;     /* no connection, listener or TIME_WAIT */
	uint64_t drop_bad_ack;     /* unacceptable ACK */
	uint64_t drop_out_of_window;
	uint64_t drop_ooo_full;    /* out-of-order bound reached */
	uint64_t drop_rst_ignored; /* RST out of window or unacceptable */
	uint64_t drop_bad_opts;    /* malformed options in a SYN */
	uint64_t drop_bad_seg;     /* flag combinations that make no sense */
	uint64_t drop_conn_limit;  /* max_conns reached */
	uint64_t drop_addr_limit;  /* max_per_addr reached */
	uint64_t drop_bucket_full; /* hash chain bound reached */
	uint64_t syn_cookies_sent;
	uint64_t syn_cookies_ok;
	uint64_t syn_cookies_bad;
	uint64_t synack_timeouts;  /* half-open connections dropped */
	uint64_t halfopen_reclaimed; /* oldest half-open freed for a new connection */
	uint64_t accepts;
	uint64_t connects;
	uint64_t conn_resets;      /* connections ended by a peer RST */
	uint64_t conn_timeouts;
	uint64_t tw_entered;
	uint64_t tw_overflow;      /* TIME_WAIT table or chain full: oldest evicted */
	uint64_t tw_reused;        /* new SYN accepted over a TIME_WAIT */
	uint64_t tw_released;      /* entry ended by the RST answering our challenge */
};

/* Returns 0, -EINVAL (bad conf) or -ENOMEM. Everything is allocated here. */
int mx_tcp_stack_create(const struct mx_tcp_conf *conf, uint64_t now_ms,
		struct mx_tcp_stack **out);
/* Frees every connection without emitting or reporting anything. */
void mx_tcp_stack_free(struct mx_tcp_stack *s);

/* One received segment (checked by mx_tcp_hdr_parse or equivalent). The
 * payload is copied, so the caller may free it on return. */
void mx_tcp_input(struct mx_tcp_stack *s, const struct mx_tcp_seg *seg,
		uint64_t now_ms);
/* Sets the clock, fires due timers (when the stack owns its wheel) and
 * flushes. With a shared wheel the owner calls mx_tcp_tick() before it
 * expires the wheel, so timer handlers see the right time. */
void mx_tcp_tick(struct mx_tcp_stack *s, uint64_t now_ms);
/* Emits queued segments and delivers pending events. */
void mx_tcp_flush(struct mx_tcp_stack *s);
void mx_tcp_get_stats(const struct mx_tcp_stack *s, struct mx_tcp_stats *out);
unsigned mx_tcp_n_conns(const struct mx_tcp_stack *s);
/* TIME_WAIT entries held (bounded by the configuration). */
unsigned mx_tcp_n_time_wait(const struct mx_tcp_stack *s);

/* Passive open on addr (INADDR_ANY: 0) and port. Returns 0, -EADDRINUSE,
 * -ENOSPC (at most MX_TCP_MAX_LISTENERS) or -EINVAL. */
#define MX_TCP_MAX_LISTENERS 8
int mx_tcp_listen(struct mx_tcp_stack *s, uint32_t addr, uint16_t port,
		mx_tcp_accept_fn *fn, void *arg, struct mx_tcp_listener **out);
/* Stops accepting; half-open connections of the listener are dropped,
 * established ones are not touched. */
void mx_tcp_unlisten(struct mx_tcp_listener *l);

/* Active open from laddr:lport (the caller picks the port, e.g. for RSS)
 * to raddr:rport. The SYN leaves at the next flush. Returns 0, -EINVAL,
 * -EADDRINUSE (the 4-tuple exists, also in TIME_WAIT) or -ENOBUFS (no
 * connection left, or the hash chain is full). */
int mx_tcp_connect(struct mx_tcp_stack *s, uint32_t laddr, uint16_t lport,
		uint32_t raddr, uint16_t rport, void *user,
		struct mx_tcp_conn **out);

void mx_tcp_conn_set_user(struct mx_tcp_conn *c, void *user);
void *mx_tcp_conn_user(const struct mx_tcp_conn *c);
enum mx_tcp_state mx_tcp_conn_state(const struct mx_tcp_conn *c);
const char *mx_tcp_state_name(enum mx_tcp_state st);
void mx_tcp_conn_tuple(const struct mx_tcp_conn *c, uint32_t *laddr,
		uint16_t *lport, uint32_t *raddr, uint16_t *rport);

/* Zero-copy read of the first contiguous run of in-order bytes; valid
 * until the next call on this stack. Returns its length (0: none). */
size_t mx_tcp_read_view(struct mx_tcp_conn *c, const uint8_t **p);
/* Marks n bytes read (clamped to what is buffered); may open the window
 * (a window update leaves at the next flush). */
void mx_tcp_consume(struct mx_tcp_conn *c, size_t n);
size_t mx_tcp_readable(const struct mx_tcp_conn *c);
bool mx_tcp_peer_closed(const struct mx_tcp_conn *c);
/* Asks for MX_TCP_EV_READABLE at the next flush if bytes are buffered or
 * the peer closed. */
void mx_tcp_want_read(struct mx_tcp_conn *c);

/* Copies up to len bytes into the send buffer; returns how many, or
 * -EPIPE after mx_tcp_close/abort, or -ENOTCONN once the connection
 * failed. Bytes queued before the handshake completes leave after it. */
long mx_tcp_send(struct mx_tcp_conn *c, const void *p, size_t len);
size_t mx_tcp_send_space(const struct mx_tcp_conn *c);
/* Bytes in the send buffer: not yet sent plus sent and unacknowledged. */
size_t mx_tcp_send_pending(const struct mx_tcp_conn *c);

/* Half-close (shutdown of our direction): FIN after the queued data.
 * Reading stays possible until the peer's FIN; MX_TCP_EV_CLOSED(0) comes
 * once both directions are closed and our FIN is acknowledged (or
 * fin_wait2_ms ran out waiting for the peer's FIN). */
void mx_tcp_close(struct mx_tcp_conn *c);
/* Abortive close: a RST at the next flush, MX_TCP_EV_CLOSED(-ECONNABORTED). */
void mx_tcp_abort(struct mx_tcp_conn *c);

/* The TCP state of one connection in bytes, excluding its data buffers
 * (issue 3 item 8: target at most 1 KiB). */
size_t mx_tcp_conn_size(void);

#endif /* MX_TCP_H */
