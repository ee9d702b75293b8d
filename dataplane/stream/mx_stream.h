/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_stream: the seam between transports and everything above them
 * (DESIGN "the stream API"). SMTP, TLS and the downstream relay see a
 * connection only as: bytes arrive, bytes can be queued to send, the peer
 * closed, the connection is writable again. The kernel-socket transport
 * (epoll) and the DPDK transport (userspace TCP) both implement it, so code
 * above this header never knows which one it runs on.
 *
 * A worker owns one struct mx_loop: its poll loop, its timer wheel, its
 * connections. Every function here must be called on the loop's own thread,
 * except mx_loop_wakeup(). None of them blocks.
 *
 * Callbacks are only ever invoked from mx_loop_run_once(), never from inside
 * another mx_* call, so a callback may call any function here (including
 * close) without re-entrancy surprises.
 *
 * Buffers are bounded (mx_loop_conf). Backpressure both ways:
 * - receive: bytes the owner has not consumed stay buffered; when the buffer
 *   is full the transport stops reading (the TCP window closes). After
 *   having left bytes unconsumed, the owner calls mx_stream_want_read() when
 *   it can take more, and on_readable runs again on the next pass.
 * - send: mx_stream_send() queues what fits and returns the count; when it
 *   returned less than asked, on_writable runs once space frees up.
 * Queued output is flushed at the end of each loop pass, so all replies
 * produced by one burst of input leave in one write where possible.
 */
#ifndef MX_STREAM_H
#define MX_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mx_base.h"

struct mx_loop;
struct mx_stream;
struct mx_listener;
struct mx_wheel;

enum mx_transport {
	MX_TRANSPORT_KERNEL = 0, /* non-blocking sockets on epoll */
	MX_TRANSPORT_DPDK,       /* userspace TCP on a DPDK port queue */
};

struct mx_loop_conf {
	enum mx_transport transport;
	unsigned worker_id;
	unsigned max_streams;   /* connections this loop may hold at once */
	size_t rcvbuf_bytes;    /* per-stream receive buffer bound */
	size_t sndbuf_bytes;    /* per-stream send buffer bound */
	/* Graceful close: how long to wait for the flush and the peer's FIN
	 * before giving up (0: MX_LOOP_LINGER_MS_DEFAULT). */
	unsigned linger_ms;
};

#define MX_LOOP_LINGER_MS_DEFAULT 5000u

/* Transport counters of one loop, for tests and metrics. Written by the
 * loop's thread only; read them on that thread (mx_loop_get_stats). */
struct mx_loop_stats {
	uint64_t passes;              /* mx_loop_run_once calls that polled */
	uint64_t accepts;             /* connections taken from a listener */
	uint64_t accept_errors;       /* accept failures of any kind */
	uint64_t accept_paused;       /* listener paused: EMFILE/ENFILE/ENOMEM */
	uint64_t refused_max_streams; /* accepted and reset: max_streams reached */
	uint64_t connects;            /* active opens started */
	uint64_t connect_errors;      /* active opens that failed */
	uint64_t read_calls;          /* read syscalls on streams */
	uint64_t write_calls;         /* write syscalls on streams */
	uint64_t bytes_in;
	uint64_t bytes_out;
	uint64_t rcvbuf_full;         /* reading stopped: receive buffer full */
	uint64_t discarded_bytes;     /* read and dropped after close */
	uint64_t resets;              /* streams ended by a socket error or RST */
	uint64_t aborts;              /* mx_stream_abort calls that took effect */
	uint64_t linger_timeouts;     /* graceful closes cut by linger_ms */
	uint64_t timers_fired;
};

struct mx_stream_cb {
	/* New bytes can be read (mx_stream_read_view), or the peer closed
	 * its side (mx_stream_peer_closed()). */
	void (*on_readable)(struct mx_stream *st, void *arg);
	/* Send space opened after mx_stream_send() queued less than asked. */
	void (*on_writable)(struct mx_stream *st, void *arg);
	/* Active open completed: err is 0 or a negative errno. On error,
	 * on_closed follows. */
	void (*on_connected)(struct mx_stream *st, int err, void *arg);
	/* The connection is gone, exactly once: err is 0 after a graceful
	 * mx_stream_close(), or a negative errno (-ECONNRESET, -ETIMEDOUT,
	 * -ECONNREFUSED, -ECONNABORTED after mx_stream_abort()). The stream is
	 * freed when this returns: drop every pointer to it. */
	void (*on_closed)(struct mx_stream *st, int err, void *arg);
};

/* A passive open: the new stream has no callbacks yet; the accept function
 * must call mx_stream_set_cb() or mx_stream_abort() before returning (a
 * stream left without callbacks is aborted, and that is logged). */
typedef void mx_accept_fn(struct mx_listener *l, struct mx_stream *st, void *arg);
/* Runs once per loop pass, after I/O and timers (result rings, chores). */
typedef void mx_poller_fn(void *arg);

/* Loop. Returns 0 or -errno (-EINVAL bad conf, -ENOTSUP transport not
 * built, -ENOMEM). */
int mx_loop_create(const struct mx_loop_conf *conf, struct mx_loop **out);
/* Aborts every remaining stream (their on_closed runs) and frees. */
void mx_loop_free(struct mx_loop *loop);
/* One pass: wait for I/O at most timeout_ms (0: do not wait; negative:
 * no limit of its own; the wait is also cut short by the next timer, by
 * pending work and by mx_loop_wakeup), run callbacks,
 * expire timers, run pollers, flush output. Returns 0 or -errno on a
 * failure of the poll mechanism itself. */
int mx_loop_run_once(struct mx_loop *loop, int timeout_ms);
/* Time read once at the top of the current pass. */
uint64_t mx_loop_now_ms(const struct mx_loop *loop);
struct mx_wheel *mx_loop_wheel(struct mx_loop *loop);
unsigned mx_loop_worker_id(const struct mx_loop *loop);
enum mx_transport mx_loop_transport(const struct mx_loop *loop);
unsigned mx_loop_n_streams(const struct mx_loop *loop);
/* Thread-safe: makes a waiting mx_loop_run_once() return soon. */
void mx_loop_wakeup(struct mx_loop *loop);
/* Returns 0 or -ENOSPC (at most 16 pollers). */
int mx_loop_add_poller(struct mx_loop *loop, mx_poller_fn *fn, void *arg);
/* Copies the loop's counters; the loop's thread only. */
void mx_loop_get_stats(const struct mx_loop *loop, struct mx_loop_stats *out);

/* Listening. On the kernel transport every worker binds its own socket
 * to addr with SO_REUSEPORT, so the kernel spreads flows over workers.
 * Returns 0 or -errno (-EADDRINUSE, -EACCES, ...). */
int mx_listen(struct mx_loop *loop, const struct mx_addr *addr,
		mx_accept_fn *fn, void *arg, struct mx_listener **out);
/* Stops accepting (drain); established streams are not touched. */
void mx_listener_close(struct mx_listener *l);
/* The bound address (the real port when addr had port 0). */
void mx_listener_local(const struct mx_listener *l, struct mx_addr *out);

/* Active open. The stream exists at once; on_connected tells the outcome.
 * Returns 0 or -errno (-EMFILE, -ENOBUFS when max_streams is reached). */
int mx_stream_connect(struct mx_loop *loop, const struct mx_addr *dst,
		const struct mx_stream_cb *cb, void *arg, struct mx_stream **out);

void mx_stream_set_cb(struct mx_stream *st, const struct mx_stream_cb *cb, void *arg);

/* Zero-copy read: points *p at the first contiguous run of unread bytes and
 * returns its length (0 when nothing is buffered). The bytes stay valid
 * until mx_stream_consume() or the callback returns. */
size_t mx_stream_read_view(struct mx_stream *st, const uint8_t **p);
/* Marks n bytes (at most the total buffered) as read. */
void mx_stream_consume(struct mx_stream *st, size_t n);
/* Total unread bytes buffered. */
size_t mx_stream_readable(const struct mx_stream *st);
/* The peer sent FIN (or the transport saw EOF); buffered bytes may remain. */
bool mx_stream_peer_closed(const struct mx_stream *st);
/* Ask for on_readable on the next pass if any bytes are buffered (or the
 * peer closed), after having left bytes unconsumed. */
void mx_stream_want_read(struct mx_stream *st);

/* Copies up to len bytes into the send buffer; returns how many (0..len),
 * or -EPIPE once the stream is closing or gone. */
long mx_stream_send(struct mx_stream *st, const void *p, size_t len);
size_t mx_stream_send_space(const struct mx_stream *st);
/* Bytes queued and not yet handed to the network. */
size_t mx_stream_send_pending(const struct mx_stream *st);

/* Graceful close: stop reading, send what is queued, then FIN; on_closed
 * (err 0, or an error if the flush fails) follows on a later pass. On the
 * kernel transport on_closed comes once the peer's FIN arrived too (input
 * after close is read and dropped), or when conf.linger_ms ran out: err 0
 * if everything was handed over, -ETIMEDOUT (and a RST) if not. Closing a
 * stream whose connect is still pending sends the queued bytes once it
 * connects; on_connected is then not called. */
void mx_stream_close(struct mx_stream *st);
/* Abortive close (RST); on_closed(-ECONNABORTED) follows on a later pass
 * (before a connect completed: no on_connected, just on_closed). */
void mx_stream_abort(struct mx_stream *st);

void mx_stream_peer(const struct mx_stream *st, struct mx_addr *out);
void mx_stream_local(const struct mx_stream *st, struct mx_addr *out);
/* Unique per process, for logs and session ids. */
uint64_t mx_stream_id(const struct mx_stream *st);
struct mx_loop *mx_stream_loop(const struct mx_stream *st);

#endif /* MX_STREAM_H */
