/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The kernel-socket transport: mx_stream.h over non-blocking TCP sockets
 * on one epoll instance per loop. Its contract is the header's; what
 * follows are the choices behind it.
 *
 * Readiness. Streams are registered once, edge-triggered, for
 * IN|OUT|RDHUP, and never modified: readiness is cached per stream
 * (CAN_READ, CAN_WRITE) and consumed by reading until EAGAIN or a short
 * read, writing until EAGAIN or a short write. Backpressure then costs no
 * epoll_ctl: a stream whose receive buffer is full simply leaves CAN_READ
 * set and is read again (from the loop) when its owner consumed. Listeners
 * are level-triggered on purpose: the accept loop stops after
 * KS_ACCEPT_BURST connections so a storm cannot starve established
 * streams, and the level trigger reports the rest on the next pass.
 *
 * A pass (ks_run_once): wait (bounded by the caller, the next timer, and
 * zero when work is pending), read the clock once, handle the events
 * (reads and their on_readable, connect completions, accepts), run the
 * work list (reads resumed after a consume, want_read, on_writable owed),
 * expire timers and run pollers, report the streams that died this pass
 * (on_closed, then the slot is recycled), and finally flush: each stream
 * with queued output gets one sendmsg over its whole send ring, so all
 * replies a burst of input produced leave in one write. mx_stream_send
 * also writes at once when the ring fills. on_closed is only ever called
 * from the dead-stream phase (or mx_loop_free), never inside an API call.
 *
 * Memory. All stream structs and their buffers are allocated when the
 * loop is created: max_streams slots, each with a receive buffer (linear,
 * compacted before a read when its free tail is under half, so read_view
 * always shows every unread byte and a line never straddles a wrap) and a
 * send ring. The buffers are one anonymous MAP_NORESERVE mapping, so a
 * loop sized for many streams commits only the pages its streams touch;
 * slots are recycled LIFO so the warm ones are reused. No allocation
 * happens after create. XXX: pages touched during a connection spike stay
 * resident until the loop is freed (MADV_DONTNEED on cold slots would
 * return them).
 *
 * Stale events. A slot released in a pass can be reused later, and a
 * closed fd number can be reused at once; every epoll key therefore
 * carries the slot's generation, and events whose generation does not
 * match are dropped.
 *
 * Closing. Graceful (RFC 9293 3.6, a half-close): stop reading for the
 * owner (input is discarded from now on, so that close() never meets
 * unread data, which Linux answers with a RST that can destroy our last
 * reply in flight), flush, shutdown(SHUT_WR), wait for the peer's FIN,
 * close; the whole sequence is bounded by conf->linger_ms. Abort:
 * SO_LINGER {1, 0} and close, which sends a RST.
 *
 * Thread: the loop's thread, except ks_wakeup (an eventfd write).
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mx_base.h"
#include "mx_log.h"
#include "mx_stream.h"
#include "mx_stream_impl.h"
#include "mx_timer.h"

#define KS_LOG "dataplane.ksock"
#define KS_MAX_EVENTS 256
#define KS_ACCEPT_BURST 64
#define KS_MAX_LISTENERS 16
/* Out of descriptors: stop polling the listener this long rather than
 * spin on a level-triggered event that accept4 cannot clear. */
#define KS_ACCEPT_PAUSE_MS 100
/* read calls per stream per pass: a full linear buffer needs at most two
 * (one before, one after compaction); the bound only matters while
 * discarding after close, where a fast peer could keep us reading. */
#define KS_READ_BURST 4
#define KS_BUF_ALIGN 64
/* Bytes of an empty send ring in the page it shares with the receive
 * buffer (pool_init). */
#define KS_TX_SHARE 1024u

#define KS_TAG_SHIFT 62
#define KS_GEN_MASK 0x3fffffffu

enum ks_tag {
	KS_TAG_WAKEUP = 0,
	KS_TAG_LISTENER = 1,
	KS_TAG_STREAM = 2,
};

enum ks_state {
	KS_FREE = 0,
	KS_OPEN,     /* connecting (no KS_F_CONNECTED yet) or established */
	KS_CLOSING,  /* graceful close: flushing what is queued */
	KS_LINGER,   /* FIN sent: discarding input until the peer's FIN */
	KS_DEAD,     /* socket gone, on_closed pending */
};

/* stream flags */
#define KS_F_CONNECTED     0x01u
#define KS_F_CAN_READ      0x02u /* readable edge not yet drained */
#define KS_F_CAN_WRITE     0x04u
#define KS_F_RDHUP         0x08u /* FIN/HUP reported: read until EOF */
#define KS_F_WANT_WRITABLE 0x10u /* a send came up short */
#define KS_F_RCV_FULL      0x20u /* reading stopped on a full buffer */

/* work-list requests */
#define KS_W_READ          0x01u /* read again (space freed or burst cut) */
#define KS_W_NOTIFY_READ   0x02u /* owner asked (mx_stream_want_read) */
#define KS_W_NOTIFY_WRITE  0x04u /* on_writable owed */
#define KS_W_CONNECT_FAIL  0x08u /* connect() failed at once */

struct ks_link {
	struct ks_link *next, *prev;
};

#define KS_CONTAINER(p, type, member) \
	((type *)(void *)((char *)(p) - offsetof(type, member)))

struct ks_loop;

struct ks_stream {
	struct mx_stream_base base;  /* first: struct mx_stream * is this */
	struct ks_loop *kl;
	int fd;
	uint32_t idx;
	uint32_t gen;
	enum ks_state state;
	unsigned flags;
	unsigned work;
	int err;                     /* for on_closed */
	uint8_t *rbuf;
	size_t roff, rlen;
	uint8_t *sbuf;
	size_t shead, slen;
	struct ks_link work_link;    /* the loop's work or dead list */
	struct ks_link flush_link;   /* the loop's flush list */
	struct mx_timer linger;
};

struct ks_listener {
	struct mx_listener_base base; /* first: struct mx_listener * is this */
	struct ks_loop *kl;
	int fd;
	uint32_t idx;
	uint32_t gen;
	bool in_use;
	bool wildcard;
	mx_accept_fn *fn;
	void *arg;
	struct mx_addr local;
	struct mx_timer resume;
};

struct ks_loop {
	struct mx_loop_base base;    /* first: struct mx_loop * is this */
	int epfd;
	int evfd;
	bool freeing;
	size_t slot_bytes;
	struct mx_slots bufs; /* per stream: send ring (a), receive buffer (b) */
	struct ks_stream *streams;
	uint32_t *free_idx;
	unsigned n_free;
	struct ks_link work, dead, flush;
	struct ks_listener lst[KS_MAX_LISTENERS];
	struct epoll_event ev[KS_MAX_EVENTS];
};

static const struct mx_stream_ops ks_stream_ops;
static const struct mx_loop_ops ks_loop_ops;

/* ---- small helpers ---------------------------------------------------- */

static void
link_init(struct ks_link *h)
{
	h->next = h;
	h->prev = h;
}

static bool
link_empty(const struct ks_link *h)
{
	return h->next == h;
}

static bool
link_linked(const struct ks_link *n)
{
	return n->next != NULL;
}

static void
link_append(struct ks_link *h, struct ks_link *n)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

static void
link_unlink(struct ks_link *n)
{
	if (n->next == NULL)
		return;
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = NULL;
	n->prev = NULL;
}

/* Moves the whole of src into the empty list dst. */
static void
link_take(struct ks_link *dst, struct ks_link *src)
{
	link_init(dst);
	if (link_empty(src))
		return;
	dst->next = src->next;
	dst->prev = src->prev;
	dst->next->prev = dst;
	dst->prev->next = dst;
	link_init(src);
}

static struct ks_stream *
ks(struct mx_stream *st)
{
	return (struct ks_stream *)st;
}

static const struct ks_stream *
ks_c(const struct mx_stream *st)
{
	return (const struct ks_stream *)st;
}

static struct mx_stream *
mx(struct ks_stream *s)
{
	return (struct mx_stream *)s;
}

static struct ks_loop *
kl_of(struct mx_loop *loop)
{
	return (struct ks_loop *)loop;
}

static struct mx_loop_stats *
stats(struct ks_loop *kl)
{
	return &kl->base.stats;
}

static uint64_t
ev_key(enum ks_tag tag, uint32_t gen, uint32_t idx)
{
	return ((uint64_t)tag << KS_TAG_SHIFT) |
		((uint64_t)(gen & KS_GEN_MASK) << 32) | idx;
}

static socklen_t
addr_to_sa(const struct mx_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(a->port);
		sin->sin_addr = a->ip.v4;
		return sizeof(*sin);
	}
	if (a->family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(a->port);
		sin6->sin6_addr = a->ip.v6;
		return sizeof(*sin6);
	}
	return 0;
}

static void
addr_from_sa(const struct sockaddr_storage *ss, struct mx_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		a->family = AF_INET;
		a->port = ntohs(sin->sin_port);
		a->ip.v4 = sin->sin_addr;
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		a->family = AF_INET6;
		a->port = ntohs(sin6->sin6_port);
		a->ip.v6 = sin6->sin6_addr;
	}
}

static int
sock_local(int fd, struct mx_addr *out)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	addr_from_sa(&ss, out);
	return 0;
}

static int
sock_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}

static void
sock_nodelay(int fd)
{
	int one = 1;

	/* SMTP replies are small and latency-bound; we batch ourselves
	 * (one write per pass), so Nagle would only add delay. Failure
	 * costs latency, not correctness. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* close() that sends a RST instead of a FIN: the ABORT call of
 * RFC 9293 3.10.5 (SO_LINGER with a zero timeout). */
static void
sock_close_rst(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* ---- stream slots ----------------------------------------------------- */

static struct ks_stream *
slot_get(struct ks_loop *kl, int fd)
{
	struct ks_stream *s;

	if (kl->n_free == 0)
		return NULL;
	s = &kl->streams[kl->free_idx[--kl->n_free]];
	mx_stream_base_init(&s->base, &ks_stream_ops, (struct mx_loop *)kl);
	s->fd = fd;
	s->state = KS_OPEN;
	s->flags = 0;
	s->work = 0;
	s->err = 0;
	s->roff = 0;
	s->rlen = 0;
	s->shead = kl->bufs.a_home;
	s->slen = 0;
	kl->base.n_streams++;
	return s;
}

static void
slot_put(struct ks_loop *kl, struct ks_stream *s)
{
	s->state = KS_FREE;
	s->gen++;  /* events still queued for the old occupant are stale */
	kl->free_idx[kl->n_free++] = s->idx;
	kl->base.n_streams--;
}

static int
stream_register(struct ks_loop *kl, struct ks_stream *s)
{
	struct epoll_event e = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.u64 = ev_key(KS_TAG_STREAM, s->gen, s->idx),
	};

	if (epoll_ctl(kl->epfd, EPOLL_CTL_ADD, s->fd, &e) < 0)
		return -errno;
	return 0;
}

static void
work_add(struct ks_stream *s, unsigned w)
{
	if (s->state == KS_DEAD || s->state == KS_FREE)
		return;
	s->work |= w;
	if (!link_linked(&s->work_link))
		link_append(&s->kl->work, &s->work_link);
}

static void
flush_add(struct ks_stream *s)
{
	if (!link_linked(&s->flush_link))
		link_append(&s->kl->flush, &s->flush_link);
}

/* Ends the socket side of s; its on_closed(err) runs in the dead phase.
 * rst: abortive close. Safe to call in any live state. */
static void
stream_kill(struct ks_stream *s, int err, bool rst)
{
	struct ks_loop *kl = s->kl;

	if (s->state == KS_DEAD || s->state == KS_FREE)
		return;
	mx_timer_cancel(kl->base.wheel, &s->linger);
	link_unlink(&s->flush_link);
	link_unlink(&s->work_link);
	if (s->fd >= 0) {
		/* Nothing else holds the file, so close() also takes the fd
		 * out of the epoll set. */
		if (rst)
			sock_close_rst(s->fd);
		else
			close(s->fd);
		s->fd = -1;
	}
	s->state = KS_DEAD;
	s->err = err;
	s->rlen = 0;
	s->roff = 0;
	s->slen = 0;
	s->work = 0;
	link_append(&kl->dead, &s->work_link);
}

static void
stream_fail(struct ks_stream *s, int err)
{
	stats(s->kl)->resets++;
	stream_kill(s, err, false);
}

static void
notify_readable(struct ks_stream *s)
{
	const struct mx_stream_cb *cb = s->base.cb;

	if (cb != NULL && cb->on_readable != NULL)
		cb->on_readable(mx(s), s->base.cb_arg);
}

static void
notify_writable(struct ks_stream *s)
{
	const struct mx_stream_cb *cb = s->base.cb;

	if (cb != NULL && cb->on_writable != NULL)
		cb->on_writable(mx(s), s->base.cb_arg);
}

static void
notify_connected(struct ks_stream *s, int err)
{
	const struct mx_stream_cb *cb = s->base.cb;

	if (cb != NULL && cb->on_connected != NULL)
		cb->on_connected(mx(s), err, s->base.cb_arg);
}

/* ---- input ------------------------------------------------------------ */

/* Free room at the end of the receive buffer, compacting first when the
 * tail is under half (never while the owner holds a view: reads run from
 * the loop, outside that stream's callbacks). */
static size_t
rbuf_room(struct ks_stream *s)
{
	size_t size = s->kl->base.conf.rcvbuf_bytes;

	if (s->rlen == 0) {
		s->roff = 0;
	} else if (s->roff > 0 && size - s->roff - s->rlen < size / 2) {
		memmove(s->rbuf, s->rbuf + s->roff, s->rlen);
		s->roff = 0;
	}
	return size - s->roff - s->rlen;
}

/* Outcome of one read(2): bytes, EOF, drained, or the stream failed. */
enum ks_rd {
	KS_RD_DATA,
	KS_RD_EOF,
	KS_RD_AGAIN,
	KS_RD_FAILED,
};

static enum ks_rd
stream_read_once(struct ks_stream *s, uint8_t *p, size_t room, size_t *got)
{
	ssize_t n;

	for (;;) {
		n = read(s->fd, p, room);
		stats(s->kl)->read_calls++;
		if (n >= 0 || errno != EINTR)
			break;
	}
	if (n > 0) {
		*got = (size_t)n;
		stats(s->kl)->bytes_in += (uint64_t)n;
		/* With edge triggering a short read means the socket is empty
		 * now, unless a FIN is pending (RDHUP): then read on to EOF. */
		if ((size_t)n < room && !(s->flags & KS_F_RDHUP))
			s->flags &= ~KS_F_CAN_READ;
		return KS_RD_DATA;
	}
	if (n == 0) {
		s->flags &= ~KS_F_CAN_READ;
		return KS_RD_EOF;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		s->flags &= ~KS_F_CAN_READ;
		return KS_RD_AGAIN;
	}
	stream_fail(s, -errno);
	return KS_RD_FAILED;
}

/* Reads into the receive buffer. Returns true when bytes or the EOF
 * arrived. The stream may have died (check s->state). */
static bool
stream_read(struct ks_stream *s)
{
	bool news = false;
	unsigned i;
	size_t room, got;

	for (i = 0; i < KS_READ_BURST && (s->flags & KS_F_CAN_READ); i++) {
		room = rbuf_room(s);
		if (room == 0) {
			/* Backpressure: leave the bytes in the kernel, so the
			 * TCP window closes; consume() resumes us. */
			if (!(s->flags & KS_F_RCV_FULL))
				stats(s->kl)->rcvbuf_full++;
			s->flags |= KS_F_RCV_FULL;
			return news;
		}
		switch (stream_read_once(s, s->rbuf + s->roff + s->rlen, room, &got)) {
		case KS_RD_DATA:
			s->rlen += got;
			news = true;
			break;
		case KS_RD_EOF:
			if (!s->base.peer_closed)
				news = true;
			s->base.peer_closed = true;
			return news;
		case KS_RD_AGAIN:
			return news;
		case KS_RD_FAILED:
			return false;
		}
	}
	if ((s->flags & KS_F_CAN_READ) && rbuf_room(s) > 0)
		work_add(s, KS_W_READ);
	return news;
}

static void stream_finish(struct ks_stream *s);

/* After close: read and drop, so the final close() meets an empty
 * receive queue (a RST otherwise), and notice the peer's FIN. */
static void
stream_discard(struct ks_stream *s)
{
	size_t size = s->kl->base.conf.rcvbuf_bytes, got;
	unsigned i;

	for (i = 0; i < KS_READ_BURST && (s->flags & KS_F_CAN_READ); i++) {
		switch (stream_read_once(s, s->rbuf, size, &got)) {
		case KS_RD_DATA:
			stats(s->kl)->discarded_bytes += got;
			break;
		case KS_RD_EOF:
			s->base.peer_closed = true;
			goto out;
		case KS_RD_AGAIN:
			goto out;
		case KS_RD_FAILED:
			return;
		}
	}
	if (s->flags & KS_F_CAN_READ)
		work_add(s, KS_W_READ);
out:
	if (s->base.peer_closed && s->state == KS_LINGER)
		stream_finish(s);
}

static void
stream_input(struct ks_stream *s)
{
	switch (s->state) {
	case KS_OPEN:
		if (stream_read(s) && s->state == KS_OPEN)
			notify_readable(s);
		break;
	case KS_CLOSING:
	case KS_LINGER:
		stream_discard(s);
		break;
	case KS_FREE:
	case KS_DEAD:
		break;
	}
}

/* ---- output ----------------------------------------------------------- */

static size_t
sbuf_put(struct ks_stream *s, const uint8_t *p, size_t len)
{
	size_t size = s->kl->base.conf.sndbuf_bytes;
	size_t n = MX_MIN(len, size - s->slen), tail, first;

	if (n == 0)
		return 0;
	if (s->slen == 0)
		s->shead = s->kl->bufs.a_home;
	tail = (s->shead + s->slen) % size;
	first = MX_MIN(n, size - tail);
	memcpy(s->sbuf + tail, p, first);
	memcpy(s->sbuf, p + first, n - first);
	s->slen += n;
	return n;
}

/* Graceful close, all output handed over: half-close (our FIN). */
static void
stream_send_fin(struct ks_stream *s)
{
	if (shutdown(s->fd, SHUT_WR) < 0) {
		stream_fail(s, -errno);
		return;
	}
	s->state = KS_LINGER;
	if (s->base.peer_closed) {
		stream_finish(s);
		return;
	}
	if (s->flags & KS_F_CAN_READ)
		work_add(s, KS_W_READ);
}

/* Hands the send ring to the socket: one sendmsg for the whole of it (two
 * iovecs when it wraps), repeated only while the kernel takes it all. */
static void
stream_flush(struct ks_stream *s)
{
	size_t size = s->kl->base.conf.sndbuf_bytes, freed = 0, first, want;
	struct iovec iov[2];
	struct msghdr mh;
	ssize_t n;

	while (s->slen > 0 && (s->flags & KS_F_CAN_WRITE)) {
		want = s->slen;
		first = MX_MIN(want, size - s->shead);
		iov[0].iov_base = s->sbuf + s->shead;
		iov[0].iov_len = first;
		iov[1].iov_base = s->sbuf;
		iov[1].iov_len = want - first;
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = first < want ? 2 : 1;
		/* MSG_NOSIGNAL: a peer that reset must cost an EPIPE, not
		 * the process (SIGPIPE). */
		n = sendmsg(s->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		stats(s->kl)->write_calls++;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				s->flags &= ~KS_F_CAN_WRITE;
				break;
			}
			stream_fail(s, -errno);
			return;
		}
		s->shead = (s->shead + (size_t)n) % size;
		s->slen -= (size_t)n;
		freed += (size_t)n;
		stats(s->kl)->bytes_out += (uint64_t)n;
		/* A short write left the kernel's buffer full and armed the
		 * next EPOLLOUT edge (as after EAGAIN). */
		if ((size_t)n < want)
			s->flags &= ~KS_F_CAN_WRITE;
	}
	if (s->slen == 0)
		s->shead = s->kl->bufs.a_home;
	if (freed > 0 && (s->flags & KS_F_WANT_WRITABLE) && s->state == KS_OPEN) {
		s->flags &= ~KS_F_WANT_WRITABLE;
		work_add(s, KS_W_NOTIFY_WRITE);
	}
	if (s->state == KS_CLOSING && s->slen == 0)
		stream_send_fin(s);
}

/* ---- closing ---------------------------------------------------------- */

static void
stream_finish(struct ks_stream *s)
{
	stream_kill(s, 0, false);
}

static void
on_linger(struct mx_timer *t, void *arg)
{
	struct ks_stream *s = arg;

	(void)t;
	stats(s->kl)->linger_timeouts++;
	if (s->state == KS_CLOSING) {
		/* The peer would not take our bytes in time: give up on them
		 * with a RST rather than leave the kernel retrying. */
		stream_kill(s, -ETIMEDOUT, true);
	} else if (s->state == KS_LINGER) {
		/* Everything was handed over and our FIN sent; the peer just
		 * never closed its side. */
		stream_finish(s);
	}
}

/* ---- events ----------------------------------------------------------- */

/* Completion of a non-blocking connect. Returns false when the stream is
 * gone or not yet connected. */
static bool
stream_connected(struct ks_stream *s, uint32_t ev)
{
	bool tell = s->state == KS_OPEN;
	int err = sock_error(s->fd);

	if (err == 0 && !(ev & EPOLLOUT))
		return false;
	if (err != 0) {
		stats(s->kl)->connect_errors++;
		stream_kill(s, -err, false);
		if (tell)
			notify_connected(s, -err);
		return false;
	}
	s->flags |= KS_F_CONNECTED | KS_F_CAN_WRITE;
	(void)sock_local(s->fd, &s->base.local);
	if (s->slen > 0 || s->state == KS_CLOSING)
		flush_add(s);
	if (tell)
		notify_connected(s, 0);
	return s->state == KS_OPEN || s->state == KS_CLOSING;
}

static void
stream_event(struct ks_stream *s, uint32_t ev)
{
	int err;

	if (!(s->flags & KS_F_CONNECTED) && !stream_connected(s, ev))
		return;
	if (ev & EPOLLERR) {
		/* A stale or spurious report reads as 0: ignore it. */
		err = sock_error(s->fd);
		if (err != 0) {
			stream_fail(s, -err);
			return;
		}
	}
	if (ev & EPOLLOUT) {
		s->flags |= KS_F_CAN_WRITE;
		if (s->slen > 0 || s->state == KS_CLOSING)
			flush_add(s);
	}
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
		s->flags |= KS_F_CAN_READ;
		if (ev & (EPOLLRDHUP | EPOLLHUP))
			s->flags |= KS_F_RDHUP;
		stream_input(s);
	}
}

static void
stream_work(struct ks_stream *s, unsigned w)
{
	bool tell;

	if (w & KS_W_CONNECT_FAIL) {
		tell = s->state == KS_OPEN;
		stats(s->kl)->connect_errors++;
		stream_kill(s, s->err, false);
		if (tell)
			notify_connected(s, s->err);
		return;
	}
	if (s->state == KS_CLOSING || s->state == KS_LINGER) {
		if (w & KS_W_READ)
			stream_discard(s);
		return;
	}
	if (s->state != KS_OPEN)
		return;
	tell = (w & KS_W_NOTIFY_READ) != 0;
	if ((w & KS_W_READ) && stream_read(s))
		tell = true;
	if (tell && s->state == KS_OPEN && (s->rlen > 0 || s->base.peer_closed))
		notify_readable(s);
	if ((w & KS_W_NOTIFY_WRITE) && s->state == KS_OPEN)
		notify_writable(s);
}

static void listener_pause(struct ks_listener *l);
static void ks_abort(struct mx_stream *st);

/* Accept failures. Returns true when accepting may go on this pass. */
static bool
accept_error(struct ks_listener *l, int e)
{
	struct mx_loop_stats *st = stats(l->kl);

	if (e == EAGAIN || e == EWOULDBLOCK)
		return false;
	if (e == EINTR)
		return true;
	st->accept_errors++;
	switch (e) {
	case ECONNABORTED:
	case EPROTO:
	case EPERM:
		/* That connection died in the queue (or a firewall refused
		 * it); the next one may be fine. */
		return true;
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
		st->accept_paused++;
		MX_LOG_RL(MX_LOG_WARN, KS_LOG,
			"worker %u: accept4: %s; listener paused for %u ms",
			l->kl->base.conf.worker_id, strerror(e),
			(unsigned)KS_ACCEPT_PAUSE_MS);
		listener_pause(l);
		return false;
	default:
		MX_LOG_RL(MX_LOG_WARN, KS_LOG, "worker %u: accept4: %s",
			l->kl->base.conf.worker_id, strerror(e));
		return false;
	}
}

static void
accept_refuse(struct ks_listener *l, int fd, const struct sockaddr_storage *ss)
{
	struct mx_addr peer;
	char buf[64];

	stats(l->kl)->refused_max_streams++;
	/* A RST tells the client at once and leaves no TIME_WAIT here. */
	sock_close_rst(fd);
	addr_from_sa(ss, &peer);
	mx_addr_format(&peer, true, buf, sizeof(buf));
	MX_LOG_RL(MX_LOG_WARN, KS_LOG,
		"worker %u: max_streams (%u) reached: connection from %s reset",
		l->kl->base.conf.worker_id, l->kl->base.conf.max_streams, buf);
}

/* Takes one connection off the listener. Returns true to go on. */
static bool
accept_one(struct ks_listener *l)
{
	struct ks_loop *kl = l->kl;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct ks_stream *s;
	int fd, rc;

	fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return accept_error(l, errno);
	stats(kl)->accepts++;
	if (kl->base.n_streams >= kl->base.conf.max_streams) {
		accept_refuse(l, fd, &ss);
		return true;
	}
	s = slot_get(kl, fd);
	MX_ASSERT(s != NULL); /* n_streams < max_streams == number of slots */
	s->flags = KS_F_CONNECTED | KS_F_CAN_WRITE;
	sock_nodelay(fd);
	rc = stream_register(kl, s);
	if (rc < 0) {
		stats(kl)->accept_errors++;
		MX_LOG_RL(MX_LOG_WARN, KS_LOG, "worker %u: epoll_ctl: %s; connection dropped",
			kl->base.conf.worker_id, strerror(-rc));
		sock_close_rst(fd);
		slot_put(kl, s);
		return true;
	}
	addr_from_sa(&ss, &s->base.peer);
	if (!l->wildcard || sock_local(fd, &s->base.local) < 0)
		s->base.local = l->local;
	l->fn((struct mx_listener *)l, mx(s), l->arg);
	if (s->state == KS_OPEN && s->base.cb == NULL) {
		MX_LOG_RL(MX_LOG_ERR, KS_LOG,
			"accept function set no callbacks: stream aborted");
		ks_abort(mx(s));
	}
	return true;
}

static void
listener_event(struct ks_listener *l)
{
	uint32_t gen = l->gen;
	unsigned i;

	for (i = 0; i < KS_ACCEPT_BURST; i++) {
		/* An accept function may close this listener. */
		if (!l->in_use || l->gen != gen)
			return;
		if (!accept_one(l))
			return;
	}
}

static void
listener_pause(struct ks_listener *l)
{
	struct epoll_event e = {
		.events = 0,
		.data.u64 = ev_key(KS_TAG_LISTENER, l->gen, l->idx),
	};

	(void)epoll_ctl(l->kl->epfd, EPOLL_CTL_MOD, l->fd, &e);
	mx_timer_arm(l->kl->base.wheel, &l->resume,
		l->kl->base.now_ms + KS_ACCEPT_PAUSE_MS);
}

static void
on_listener_resume(struct mx_timer *t, void *arg)
{
	struct ks_listener *l = arg;
	struct epoll_event e = {
		.events = EPOLLIN,
		.data.u64 = ev_key(KS_TAG_LISTENER, l->gen, l->idx),
	};

	(void)t;
	if (l->in_use)
		(void)epoll_ctl(l->kl->epfd, EPOLL_CTL_MOD, l->fd, &e);
}

static void
wakeup_drain(struct ks_loop *kl)
{
	uint64_t v;
	ssize_t n = read(kl->evfd, &v, sizeof(v));

	(void)n; /* EAGAIN: already drained */
}

static void
dispatch(struct ks_loop *kl, const struct epoll_event *e)
{
	uint64_t key = e->data.u64;
	uint32_t gen = (uint32_t)(key >> 32) & KS_GEN_MASK;
	uint32_t idx = (uint32_t)key;
	struct ks_stream *s;
	struct ks_listener *l;

	switch ((enum ks_tag)(key >> KS_TAG_SHIFT)) {
	case KS_TAG_WAKEUP:
		wakeup_drain(kl);
		break;
	case KS_TAG_LISTENER:
		if (idx >= KS_MAX_LISTENERS)
			break;
		l = &kl->lst[idx];
		if (l->in_use && (l->gen & KS_GEN_MASK) == gen)
			listener_event(l);
		break;
	case KS_TAG_STREAM:
		if (idx >= kl->base.conf.max_streams)
			break;
		s = &kl->streams[idx];
		if ((s->gen & KS_GEN_MASK) != gen || s->state == KS_FREE ||
				s->state == KS_DEAD)
			break;
		stream_event(s, e->events);
		break;
	}
}

/* ---- pass phases ------------------------------------------------------ */

/* Requests made during this phase wait for the next pass (bounded). */
static void
work_phase(struct ks_loop *kl)
{
	struct ks_link batch;
	struct ks_stream *s;
	unsigned w;

	link_take(&batch, &kl->work);
	while (!link_empty(&batch)) {
		s = KS_CONTAINER(batch.next, struct ks_stream, work_link);
		link_unlink(&s->work_link);
		w = s->work;
		s->work = 0;
		stream_work(s, w);
	}
}

/* on_closed for the streams that died so far, then their slots return to
 * the pool; streams killed by these callbacks wait for the next pass. */
static void
dead_phase(struct ks_loop *kl)
{
	const struct mx_stream_cb *cb;
	struct ks_link batch;
	struct ks_stream *s;

	link_take(&batch, &kl->dead);
	while (!link_empty(&batch)) {
		s = KS_CONTAINER(batch.next, struct ks_stream, work_link);
		link_unlink(&s->work_link);
		cb = s->base.cb;
		if (cb != NULL && cb->on_closed != NULL)
			cb->on_closed(mx(s), s->err, s->base.cb_arg);
		slot_put(kl, s);
	}
}

static void
flush_phase(struct ks_loop *kl)
{
	struct ks_stream *s;

	/* stream_flush never calls back, so nothing joins the list here. */
	while (!link_empty(&kl->flush)) {
		s = KS_CONTAINER(kl->flush.next, struct ks_stream, flush_link);
		link_unlink(&s->flush_link);
		if ((s->state == KS_OPEN || s->state == KS_CLOSING) &&
				(s->flags & KS_F_CONNECTED))
			stream_flush(s);
	}
}

static int
poll_timeout(struct ks_loop *kl, int timeout_ms)
{
	uint64_t t, next;

	if (timeout_ms == 0 || !link_empty(&kl->work) || !link_empty(&kl->dead))
		return 0;
	t = timeout_ms < 0 ? UINT64_MAX : (uint64_t)timeout_ms;
	next = mx_wheel_next_in_ms(kl->base.wheel, kl->base.now_ms);
	t = MX_MIN(t, next);
	if (t == UINT64_MAX)
		return -1;
	return t > INT_MAX ? INT_MAX : (int)t;
}

static int
ks_run_once(struct mx_loop *loop, int timeout_ms)
{
	struct ks_loop *kl = kl_of(loop);
	int n, i, err;

	n = epoll_wait(kl->epfd, kl->ev, KS_MAX_EVENTS, poll_timeout(kl, timeout_ms));
	err = n < 0 ? errno : 0;
	kl->base.now_ms = mx_clock_ms();
	if (n < 0) {
		if (err != EINTR)
			return -err;
		n = 0;
	}
	stats(kl)->passes++;
	for (i = 0; i < n; i++)
		dispatch(kl, &kl->ev[i]);
	work_phase(kl);
	mx_loop_base_tick(&kl->base);
	dead_phase(kl);
	flush_phase(kl);
	return 0;
}

static void
ks_wakeup(struct mx_loop *loop)
{
	uint64_t one = 1;
	ssize_t n = write(kl_of(loop)->evfd, &one, sizeof(one));

	(void)n; /* EAGAIN: the counter is saturated, a wakeup is pending */
}

/* ---- listeners -------------------------------------------------------- */

static bool
addr_is_any(const struct mx_addr *a)
{
	if (a->family == AF_INET)
		return a->ip.v4.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&a->ip.v6);
}

static int
listen_socket(const struct mx_addr *addr, int *out)
{
	struct sockaddr_storage ss;
	socklen_t len = addr_to_sa(addr, &ss);
	int fd, one = 1, rc = 0;

	if (len == 0)
		return -EAFNOSUPPORT;
	fd = socket(addr->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* REUSEADDR: a restart rebinds past TIME_WAIT. REUSEPORT: every
	 * worker binds its own socket and the kernel spreads the flows
	 * (only sockets of the same uid can join the group). V6ONLY: [::]
	 * and 0.0.0.0 are separate listeners, each in its own group. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
			setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
			(addr->family == AF_INET6 &&
			 setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
			bind(fd, (struct sockaddr *)&ss, len) < 0 ||
			listen(fd, SOMAXCONN) < 0)
		rc = -errno;
	if (rc < 0) {
		close(fd);
		return rc;
	}
	*out = fd;
	return 0;
}

static int
ks_listen(struct mx_loop *loop, const struct mx_addr *addr,
		mx_accept_fn *fn, void *arg, struct mx_listener **out)
{
	struct ks_loop *kl = kl_of(loop);
	struct ks_listener *l = NULL;
	struct epoll_event e;
	unsigned i;
	int rc;

	for (i = 0; i < KS_MAX_LISTENERS && l == NULL; i++)
		if (!kl->lst[i].in_use)
			l = &kl->lst[i];
	if (l == NULL)
		return -ENOSPC;
	rc = listen_socket(addr, &l->fd);
	if (rc < 0)
		return rc;
	rc = sock_local(l->fd, &l->local);
	if (rc == 0) {
		e.events = EPOLLIN; /* level-triggered: see the top of file */
		e.data.u64 = ev_key(KS_TAG_LISTENER, l->gen, l->idx);
		if (epoll_ctl(kl->epfd, EPOLL_CTL_ADD, l->fd, &e) < 0)
			rc = -errno;
	}
	if (rc < 0) {
		close(l->fd);
		l->fd = -1;
		return rc;
	}
	l->in_use = true;
	l->wildcard = addr_is_any(addr);
	l->fn = fn;
	l->arg = arg;
	*out = (struct mx_listener *)l;
	return 0;
}

static void
ks_listener_close(struct mx_listener *ml)
{
	struct ks_listener *l = (struct ks_listener *)ml;

	if (!l->in_use)
		return;
	mx_timer_cancel(l->kl->base.wheel, &l->resume);
	(void)epoll_ctl(l->kl->epfd, EPOLL_CTL_DEL, l->fd, NULL);
	close(l->fd);
	l->fd = -1;
	l->in_use = false;
	l->gen++; /* events of this pass for it are now stale */
}

static void
ks_listener_local(const struct mx_listener *ml, struct mx_addr *out)
{
	*out = ((const struct ks_listener *)ml)->local;
}

/* ---- active open ------------------------------------------------------ */

/* Failures of connect() that belong to the outcome of the connection
 * (reported through on_connected), not to the call. */
static bool
connect_outcome_error(int e)
{
	switch (e) {
	case ECONNREFUSED:
	case ENETUNREACH:
	case EHOSTUNREACH:
	case ENETDOWN:
	case EHOSTDOWN:
	case ETIMEDOUT:
	case ECONNRESET:
		return true;
	default:
		return false;
	}
}

static int
ks_connect(struct mx_loop *loop, const struct mx_addr *dst,
		const struct mx_stream_cb *cb, void *arg, struct mx_stream **out)
{
	struct ks_loop *kl = kl_of(loop);
	struct sockaddr_storage ss;
	socklen_t len = addr_to_sa(dst, &ss);
	struct ks_stream *s;
	int fd, e = 0, rc;

	if (kl->freeing)
		return -ESHUTDOWN;
	if (kl->base.n_streams >= kl->base.conf.max_streams)
		return -ENOBUFS;
	if (len == 0)
		return -EAFNOSUPPORT;
	fd = socket(dst->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		stats(kl)->connect_errors++;
		return rc;
	}
	sock_nodelay(fd);
	if (connect(fd, (struct sockaddr *)&ss, len) < 0)
		e = errno;
	if (e == EINTR)
		e = EINPROGRESS; /* a non-blocking connect goes on regardless */
	if (e != 0 && e != EINPROGRESS && !connect_outcome_error(e)) {
		stats(kl)->connect_errors++;
		close(fd);
		return -e;
	}
	s = slot_get(kl, fd);
	MX_ASSERT(s != NULL);
	s->base.peer = *dst;
	s->base.cb = cb;
	s->base.cb_arg = arg;
	stats(kl)->connects++;
	if (e == 0 || e == EINPROGRESS) {
		rc = stream_register(kl, s);
		if (rc < 0) {
			close(fd);
			s->fd = -1;
			slot_put(kl, s);
			return rc;
		}
	} else {
		/* Refused at once (loopback): the outcome still goes through
		 * on_connected, from the loop. */
		close(fd);
		s->fd = -1;
		s->err = -e;
		work_add(s, KS_W_CONNECT_FAIL);
	}
	*out = mx(s);
	return 0;
}

/* ---- stream ops ------------------------------------------------------- */

static size_t
ks_read_view(struct mx_stream *st, const uint8_t **p)
{
	struct ks_stream *s = ks(st);

	if (s->state != KS_OPEN || s->rlen == 0) {
		*p = NULL;
		return 0;
	}
	*p = s->rbuf + s->roff;
	return s->rlen;
}

static void
ks_consume(struct mx_stream *st, size_t n)
{
	struct ks_stream *s = ks(st);

	/* After close the buffered bytes were dropped: nothing to mark. */
	if (s->state != KS_OPEN || n == 0)
		return;
	MX_ASSERT(n <= s->rlen);
	s->roff += n;
	s->rlen -= n;
	if (s->rlen == 0)
		s->roff = 0;
	s->flags &= ~KS_F_RCV_FULL;
	if (s->flags & KS_F_CAN_READ)
		work_add(s, KS_W_READ);
}

static size_t
ks_readable(const struct mx_stream *st)
{
	const struct ks_stream *s = ks_c(st);

	return s->state == KS_OPEN ? s->rlen : 0;
}

static void
ks_want_read(struct mx_stream *st)
{
	struct ks_stream *s = ks(st);

	if (s->state != KS_OPEN)
		return;
	work_add(s, KS_W_NOTIFY_READ | ((s->flags & KS_F_CAN_READ) ? KS_W_READ : 0));
}

static long
ks_send(struct mx_stream *st, const void *p, size_t len)
{
	struct ks_stream *s = ks(st);
	const uint8_t *b = p;
	size_t done;

	if (s->state != KS_OPEN)
		return -EPIPE;
	done = sbuf_put(s, b, len);
	if (done < len && (s->flags & KS_F_CONNECTED) && (s->flags & KS_F_CAN_WRITE)) {
		/* The ring is full: write now instead of at the end of the
		 * pass, then take what fits. */
		stream_flush(s);
		if (s->state != KS_OPEN)
			return done > 0 ? (long)done : -EPIPE;
		done += sbuf_put(s, b + done, len - done);
	}
	if (s->slen > 0)
		flush_add(s);
	if (done < len)
		s->flags |= KS_F_WANT_WRITABLE;
	return (long)done;
}

static size_t
ks_send_space(const struct mx_stream *st)
{
	const struct ks_stream *s = ks_c(st);

	if (s->state != KS_OPEN)
		return 0;
	return s->kl->base.conf.sndbuf_bytes - s->slen;
}

static size_t
ks_send_pending(const struct mx_stream *st)
{
	return ks_c(st)->slen;
}

static void
ks_close(struct mx_stream *st)
{
	struct ks_stream *s = ks(st);
	struct ks_loop *kl = s->kl;

	if (s->state != KS_OPEN)
		return;
	s->state = KS_CLOSING;
	s->rlen = 0;
	s->roff = 0;
	s->flags &= ~(KS_F_WANT_WRITABLE | KS_F_RCV_FULL);
	s->work &= ~(KS_W_NOTIFY_READ | KS_W_NOTIFY_WRITE);
	mx_timer_arm(kl->base.wheel, &s->linger,
		kl->base.now_ms + kl->base.conf.linger_ms);
	flush_add(s);
	if (s->flags & KS_F_CAN_READ)
		work_add(s, KS_W_READ);
}

static void
ks_abort(struct mx_stream *st)
{
	struct ks_stream *s = ks(st);

	if (s->state == KS_DEAD || s->state == KS_FREE)
		return;
	stats(s->kl)->aborts++;
	stream_kill(s, -ECONNABORTED, (s->flags & KS_F_CONNECTED) != 0);
}

/* ---- loop lifecycle --------------------------------------------------- */

static int
pool_init(struct ks_loop *kl)
{
	const struct mx_loop_conf *c = &kl->base.conf;
	size_t rcv = (c->rcvbuf_bytes + KS_BUF_ALIGN - 1) & ~(size_t)(KS_BUF_ALIGN - 1);
	size_t snd = (c->sndbuf_bytes + KS_BUF_ALIGN - 1) & ~(size_t)(KS_BUF_ALIGN - 1);
	unsigned i;

	/* mx_loop_base_init bounds max_streams and both sizes, so this
	 * product cannot overflow. */
	kl->slot_bytes = rcv + snd;
	/* A slot is its send ring, then its receive buffer, laid out so that
	 * an empty send ring (starting over at bufs.a_home, which lies
	 * within the configured ring size) and the receive buffer's start
	 * share a page (mx_slots_map). */
	if (mx_slots_map(&kl->bufs, snd, rcv, c->max_streams, KS_TX_SHARE) != 0)
		return -ENOMEM;
	kl->streams = calloc(c->max_streams, sizeof(*kl->streams));
	kl->free_idx = calloc(c->max_streams, sizeof(*kl->free_idx));
	if (kl->streams == NULL || kl->free_idx == NULL)
		return -ENOMEM;
	for (i = 0; i < c->max_streams; i++) {
		struct ks_stream *s = &kl->streams[i];

		s->kl = kl;
		s->fd = -1;
		s->idx = i;
		s->state = KS_FREE;
		s->sbuf = kl->bufs.base + (size_t)i * kl->slot_bytes;
		s->rbuf = s->sbuf + snd;
		mx_timer_init(&s->linger, on_linger, s);
		/* LIFO: slot 0 is taken first. */
		kl->free_idx[i] = c->max_streams - 1 - i;
	}
	kl->n_free = c->max_streams;
	return 0;
}

static void
loop_destroy(struct ks_loop *kl)
{
	if (kl->epfd >= 0)
		close(kl->epfd);
	if (kl->evfd >= 0)
		close(kl->evfd);
	mx_slots_unmap(&kl->bufs);
	free(kl->streams);
	free(kl->free_idx);
	mx_loop_base_fini(&kl->base);
	free(kl);
}

static int
loop_open_fds(struct ks_loop *kl)
{
	struct epoll_event e = {
		.events = EPOLLIN,
		.data.u64 = ev_key(KS_TAG_WAKEUP, 0, 0),
	};

	kl->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (kl->epfd < 0)
		return -errno;
	kl->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (kl->evfd < 0)
		return -errno;
	if (epoll_ctl(kl->epfd, EPOLL_CTL_ADD, kl->evfd, &e) < 0)
		return -errno;
	return 0;
}

int
mx_ksock_loop_create(const struct mx_loop_conf *conf, struct mx_loop **out)
{
	struct ks_loop *kl;
	unsigned i;
	int rc;

	kl = calloc(1, sizeof(*kl));
	if (kl == NULL)
		return -ENOMEM;
	kl->epfd = -1;
	kl->evfd = -1;
	link_init(&kl->work);
	link_init(&kl->dead);
	link_init(&kl->flush);
	rc = mx_loop_base_init(&kl->base, &ks_loop_ops, conf);
	if (rc < 0) {
		free(kl);
		return rc;
	}
	for (i = 0; i < KS_MAX_LISTENERS; i++) {
		struct ks_listener *l = &kl->lst[i];

		l->base.ops = &ks_loop_ops;
		l->base.loop = (struct mx_loop *)kl;
		l->kl = kl;
		l->fd = -1;
		l->idx = i;
		mx_timer_init(&l->resume, on_listener_resume, l);
	}
	rc = pool_init(kl);
	if (rc == 0)
		rc = loop_open_fds(kl);
	if (rc < 0) {
		loop_destroy(kl);
		return rc;
	}
	*out = (struct mx_loop *)kl;
	return 0;
}

static void
ks_free(struct mx_loop *loop)
{
	struct ks_loop *kl = kl_of(loop);
	unsigned i;

	/* No stream can be created from here on (connect: -ESHUTDOWN), so
	 * one dead phase reports every stream that is left. */
	kl->freeing = true;
	for (i = 0; i < kl->base.conf.max_streams; i++) {
		struct ks_stream *s = &kl->streams[i];

		if (s->state == KS_OPEN || s->state == KS_CLOSING ||
				s->state == KS_LINGER)
			ks_abort(mx(s));
	}
	dead_phase(kl);
	for (i = 0; i < KS_MAX_LISTENERS; i++)
		ks_listener_close((struct mx_listener *)&kl->lst[i]);
	loop_destroy(kl);
}

static const struct mx_stream_ops ks_stream_ops = {
	.read_view = ks_read_view,
	.consume = ks_consume,
	.readable = ks_readable,
	.want_read = ks_want_read,
	.send = ks_send,
	.send_space = ks_send_space,
	.send_pending = ks_send_pending,
	.close = ks_close,
	.abort = ks_abort,
};

static const struct mx_loop_ops ks_loop_ops = {
	.run_once = ks_run_once,
	.wakeup = ks_wakeup,
	.listen = ks_listen,
	.listener_close = ks_listener_close,
	.listener_local = ks_listener_local,
	.connect = ks_connect,
	.free = ks_free,
};
