/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The transport-independent half of the stream API (mx_stream.h): every
 * mx_stream_* / mx_loop_* / mx_listener_* call dispatches through the ops
 * table of the transport behind the handle, and the state that is the
 * same for every transport (callbacks, ids, addresses, the timer wheel,
 * the pollers, the pass clock, the counters) lives in the base structs of
 * mx_stream_impl.h, which transports embed first in their own structs.
 *
 * mx_loop_create() picks the transport from conf->transport. Nothing here
 * blocks or allocates after mx_loop_create().
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "mx_base.h"
#include "mx_stream.h"
#include "mx_stream_impl.h"
#include "mx_timer.h"

/* Bounds that keep per-loop pool arithmetic far from overflow. */
#define STREAM_MAX_STREAMS (1u << 22)
#define STREAM_MAX_BUF ((size_t)1 << 30)
#define STREAM_WORKER_BITS 24u
#define STREAM_SEQ_BITS (64u - STREAM_WORKER_BITS)

static struct mx_loop_base *
lbase(struct mx_loop *loop)
{
	return (struct mx_loop_base *)loop;
}

static const struct mx_loop_base *
lbase_c(const struct mx_loop *loop)
{
	return (const struct mx_loop_base *)loop;
}

static struct mx_stream_base *
sbase(struct mx_stream *st)
{
	return (struct mx_stream_base *)st;
}

static const struct mx_stream_base *
sbase_c(const struct mx_stream *st)
{
	return (const struct mx_stream_base *)st;
}

static const struct mx_listener_base *
libase_c(const struct mx_listener *l)
{
	return (const struct mx_listener_base *)l;
}

int
mx_loop_base_init(struct mx_loop_base *b, const struct mx_loop_ops *ops,
		const struct mx_loop_conf *conf)
{
	int rc;

	if (conf->max_streams == 0 || conf->max_streams > STREAM_MAX_STREAMS ||
			conf->rcvbuf_bytes == 0 || conf->rcvbuf_bytes > STREAM_MAX_BUF ||
			conf->sndbuf_bytes == 0 || conf->sndbuf_bytes > STREAM_MAX_BUF ||
			conf->worker_id >= (1u << STREAM_WORKER_BITS))
		return -EINVAL;
	memset(b, 0, sizeof(*b));
	b->ops = ops;
	b->conf = *conf;
	if (b->conf.linger_ms == 0)
		b->conf.linger_ms = MX_LOOP_LINGER_MS_DEFAULT;
	b->now_ms = mx_clock_ms();
	rc = mx_wheel_create(b->now_ms, &b->wheel);
	if (rc < 0)
		return rc;
	return 0;
}

void
mx_loop_base_fini(struct mx_loop_base *b)
{
	mx_wheel_free(b->wheel);
	b->wheel = NULL;
}

void
mx_loop_base_tick(struct mx_loop_base *b)
{
	unsigned i;

	b->stats.timers_fired += mx_wheel_expire(b->wheel, b->now_ms,
		MX_LOOP_TIMER_BUDGET);
	for (i = 0; i < b->n_pollers; i++)
		b->pollers[i].fn(b->pollers[i].arg);
}

void
mx_stream_base_init(struct mx_stream_base *sb, const struct mx_stream_ops *ops,
		struct mx_loop *loop)
{
	struct mx_loop_base *b = lbase(loop);

	memset(sb, 0, sizeof(*sb));
	sb->ops = ops;
	sb->loop = loop;
	/* 2^40 streams per worker before the sequence wraps: never, in
	 * practice; the worker id keeps loops apart without atomics. */
	b->stream_seq = (b->stream_seq + 1) & ((UINT64_C(1) << STREAM_SEQ_BITS) - 1);
	sb->id = ((uint64_t)b->conf.worker_id << STREAM_SEQ_BITS) | b->stream_seq;
}

int
mx_loop_create(const struct mx_loop_conf *conf, struct mx_loop **out)
{
	if (conf == NULL || out == NULL)
		return -EINVAL;
	switch (conf->transport) {
	case MX_TRANSPORT_KERNEL:
		return mx_ksock_loop_create(conf, out);
	case MX_TRANSPORT_DPDK:
		return mx_dpdk_loop_create(conf, out);
	}
	return -EINVAL;
}

void
mx_loop_free(struct mx_loop *loop)
{
	if (loop == NULL)
		return;
	lbase(loop)->ops->free(loop);
}

int
mx_loop_run_once(struct mx_loop *loop, int timeout_ms)
{
	return lbase(loop)->ops->run_once(loop, timeout_ms);
}

uint64_t
mx_loop_now_ms(const struct mx_loop *loop)
{
	return lbase_c(loop)->now_ms;
}

struct mx_wheel *
mx_loop_wheel(struct mx_loop *loop)
{
	return lbase(loop)->wheel;
}

unsigned
mx_loop_worker_id(const struct mx_loop *loop)
{
	return lbase_c(loop)->conf.worker_id;
}

enum mx_transport
mx_loop_transport(const struct mx_loop *loop)
{
	return lbase_c(loop)->conf.transport;
}

unsigned
mx_loop_n_streams(const struct mx_loop *loop)
{
	return lbase_c(loop)->n_streams;
}

void
mx_loop_wakeup(struct mx_loop *loop)
{
	/* ops is written once at create: reading it from another thread
	 * is safe once the loop was handed over. */
	lbase(loop)->ops->wakeup(loop);
}

int
mx_loop_add_poller(struct mx_loop *loop, mx_poller_fn *fn, void *arg)
{
	struct mx_loop_base *b = lbase(loop);

	if (b->n_pollers >= MX_LOOP_MAX_POLLERS)
		return -ENOSPC;
	b->pollers[b->n_pollers].fn = fn;
	b->pollers[b->n_pollers].arg = arg;
	b->n_pollers++;
	return 0;
}

void
mx_loop_get_stats(const struct mx_loop *loop, struct mx_loop_stats *out)
{
	*out = lbase_c(loop)->stats;
}

int
mx_listen(struct mx_loop *loop, const struct mx_addr *addr,
		mx_accept_fn *fn, void *arg, struct mx_listener **out)
{
	if (addr == NULL || fn == NULL || out == NULL)
		return -EINVAL;
	return lbase(loop)->ops->listen(loop, addr, fn, arg, out);
}

void
mx_listener_close(struct mx_listener *l)
{
	if (l == NULL)
		return;
	libase_c(l)->ops->listener_close(l);
}

void
mx_listener_local(const struct mx_listener *l, struct mx_addr *out)
{
	libase_c(l)->ops->listener_local(l, out);
}

int
mx_stream_connect(struct mx_loop *loop, const struct mx_addr *dst,
		const struct mx_stream_cb *cb, void *arg, struct mx_stream **out)
{
	if (dst == NULL || cb == NULL || out == NULL)
		return -EINVAL;
	return lbase(loop)->ops->connect(loop, dst, cb, arg, out);
}

void
mx_stream_set_cb(struct mx_stream *st, const struct mx_stream_cb *cb, void *arg)
{
	sbase(st)->cb = cb;
	sbase(st)->cb_arg = arg;
}

size_t
mx_stream_read_view(struct mx_stream *st, const uint8_t **p)
{
	return sbase(st)->ops->read_view(st, p);
}

void
mx_stream_consume(struct mx_stream *st, size_t n)
{
	sbase(st)->ops->consume(st, n);
}

size_t
mx_stream_readable(const struct mx_stream *st)
{
	return sbase_c(st)->ops->readable(st);
}

bool
mx_stream_peer_closed(const struct mx_stream *st)
{
	return sbase_c(st)->peer_closed;
}

void
mx_stream_want_read(struct mx_stream *st)
{
	sbase(st)->ops->want_read(st);
}

long
mx_stream_send(struct mx_stream *st, const void *p, size_t len)
{
	return sbase(st)->ops->send(st, p, len);
}

size_t
mx_stream_send_space(const struct mx_stream *st)
{
	return sbase_c(st)->ops->send_space(st);
}

size_t
mx_stream_send_pending(const struct mx_stream *st)
{
	return sbase_c(st)->ops->send_pending(st);
}

void
mx_stream_close(struct mx_stream *st)
{
	sbase(st)->ops->close(st);
}

void
mx_stream_abort(struct mx_stream *st)
{
	sbase(st)->ops->abort(st);
}

void
mx_stream_peer(const struct mx_stream *st, struct mx_addr *out)
{
	*out = sbase_c(st)->peer;
}

void
mx_stream_local(const struct mx_stream *st, struct mx_addr *out)
{
	*out = sbase_c(st)->local;
}

uint64_t
mx_stream_id(const struct mx_stream *st)
{
	return sbase_c(st)->id;
}

struct mx_loop *
mx_stream_loop(const struct mx_stream *st)
{
	return sbase_c(st)->loop;
}
