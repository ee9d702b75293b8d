/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_stream_impl: what a transport implements behind mx_stream.h. Only
 * transports include this (dataplane/ksock, later dataplane/tcp and a TLS
 * layer that is itself a stream over a stream). It is a second header of
 * the stream module on purpose: the users of the API must not see it.
 *
 * A transport embeds struct mx_stream_base first in its stream struct and
 * struct mx_loop_base first in its loop struct; the generic functions in
 * stream.c dispatch through the ops tables and keep the shared state
 * (callbacks, ids, the timer wheel, pollers, the pass clock).
 */
#ifndef MX_STREAM_IMPL_H
#define MX_STREAM_IMPL_H

#include "mx_stream.h"
#include "mx_timer.h"

struct mx_stream_ops {
	size_t (*read_view)(struct mx_stream *st, const uint8_t **p);
	void (*consume)(struct mx_stream *st, size_t n);
	size_t (*readable)(const struct mx_stream *st);
	void (*want_read)(struct mx_stream *st);
	long (*send)(struct mx_stream *st, const void *p, size_t len);
	size_t (*send_space)(const struct mx_stream *st);
	size_t (*send_pending)(const struct mx_stream *st);
	void (*close)(struct mx_stream *st);
	void (*abort)(struct mx_stream *st);
};

struct mx_loop_ops {
	int (*run_once)(struct mx_loop *loop, int timeout_ms);
	void (*wakeup)(struct mx_loop *loop);
	int (*listen)(struct mx_loop *loop, const struct mx_addr *addr,
			mx_accept_fn *fn, void *arg, struct mx_listener **out);
	void (*listener_close)(struct mx_listener *l);
	void (*listener_local)(const struct mx_listener *l, struct mx_addr *out);
	int (*connect)(struct mx_loop *loop, const struct mx_addr *dst,
			const struct mx_stream_cb *cb, void *arg,
			struct mx_stream **out);
	void (*free)(struct mx_loop *loop);
};

/* Embedded first in a transport's listener, so that the generic
 * mx_listener_* functions can dispatch. */
struct mx_listener_base {
	const struct mx_loop_ops *ops;
	struct mx_loop *loop;
};

struct mx_stream_base {
	const struct mx_stream_ops *ops;
	const struct mx_stream_cb *cb;
	void *cb_arg;
	struct mx_loop *loop;
	uint64_t id;
	struct mx_addr peer, local;
	bool peer_closed;
};

#define MX_LOOP_MAX_POLLERS 16

struct mx_loop_base {
	const struct mx_loop_ops *ops;
	struct mx_loop_conf conf;
	struct mx_wheel *wheel;
	uint64_t now_ms;
	unsigned n_streams;
	unsigned n_pollers;
	uint64_t stream_seq;          /* last stream id sequence number */
	struct mx_loop_stats stats;   /* written by the transport */
	struct {
		mx_poller_fn *fn;
		void *arg;
	} pollers[MX_LOOP_MAX_POLLERS];
};

/* Timers fired per pass at most (the rest fire on the next pass, which
 * then does not wait), so a burst of deadlines cannot starve I/O. */
#define MX_LOOP_TIMER_BUDGET 1024u

/* Generic parts for transports: set up/tear down the base, allocate ids,
 * run the pollers and timers of one pass (in that order: timers, then
 * pollers), and the per-transport constructors mx_loop_create() picks.
 * mx_loop_base_init validates conf (-EINVAL: max_streams, rcvbuf_bytes or
 * sndbuf_bytes zero or absurd, worker_id >= 2^24) and creates the wheel
 * (-ENOMEM). mx_stream_base_init gives the stream its id: the worker id in
 * the top 24 bits and a per-loop sequence number below, unique in the
 * process as long as loops have distinct worker ids. */
int mx_loop_base_init(struct mx_loop_base *b, const struct mx_loop_ops *ops,
		const struct mx_loop_conf *conf);
void mx_loop_base_fini(struct mx_loop_base *b);
void mx_loop_base_tick(struct mx_loop_base *b);
void mx_stream_base_init(struct mx_stream_base *sb, const struct mx_stream_ops *ops,
		struct mx_loop *loop);

int mx_ksock_loop_create(const struct mx_loop_conf *conf, struct mx_loop **out);
/* dataplane/dpdk: -ENOTSUP until mx_dpdk_start() ran (mx_dpdk.h). */
int mx_dpdk_loop_create(const struct mx_loop_conf *conf, struct mx_loop **out);

#endif /* MX_STREAM_IMPL_H */
