/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Tests of the kernel-socket transport through the stream API, over real
 * loopback sockets (127.0.0.1, and ::1 when it is configured). The other
 * side is either another mx_stream or a plain socket the test drives
 * byte by byte (non-blocking, interleaved with loop passes). Every wait is
 * bounded in passes and in wall time; nothing asserts speed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "mx_base.h"
#include "mx_stream.h"
#include "mx_timer.h"

#define MAX_CONNS 256
#define WAIT_MS 10000
#define WAIT_PASSES 200000

/* Runs passes until cond holds; bounded in passes and time. */
#define RUN_UNTIL(loop, cond)                                              \
	do {                                                               \
		uint64_t dl_ = mx_clock_ms() + WAIT_MS;                    \
		unsigned i_ = 0;                                           \
		while (!(cond) && i_++ < WAIT_PASSES && mx_clock_ms() < dl_) \
			assert_int_equal(mx_loop_run_once((loop), 2), 0);  \
		assert_true(cond);                                         \
	} while (0)

enum mode {
	M_SINK = 0,      /* copy what arrives into in[], consume it all */
	M_ECHO,          /* send back what arrives, honouring backpressure */
	M_HOLD,          /* never consume */
	M_CLOSE_ON_READ, /* consume, then graceful close */
	M_ABORT_ON_READ,
	M_LINES,         /* one reply (one send) per complete line */
	M_WORKER,        /* reply "w<worker>\n" once a line is in, close */
};

struct app;

struct conn {
	struct app *app;
	struct mx_stream *st;
	enum mode mode;
	unsigned n_readable, n_writable, n_connected, n_closed;
	int connect_err, close_err;
	bool saw_peer_closed;
	bool close_on_eof;
	uint8_t *in;
	size_t in_len, in_cap;
	const uint8_t *out;
	size_t out_len, out_off;
	bool close_when_sent;
	unsigned n_short_sends;
	unsigned n_lines, n_sends, n_reply_bursts;
};

struct app {
	struct mx_loop *loop;
	struct conn c[MAX_CONNS];
	unsigned n;
	enum mode accept_mode;
	bool accept_abort;
	bool accept_no_cb;
	bool close_on_eof;
	const uint8_t *accept_out;
	size_t accept_out_len;
	bool accept_close_when_sent;
	size_t sink_cap;
	struct mx_listener *close_listener; /* closed by the next accept */
	unsigned n_accepts;
	unsigned n_served;
};

static const struct mx_stream_cb test_cb;

static bool
v6_available(void)
{
	struct sockaddr_in6 sin6;
	int fd = socket(AF_INET6, SOCK_STREAM, 0), rc;

	if (fd < 0)
		return false;
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	rc = bind(fd, (struct sockaddr *)&sin6, sizeof(sin6));
	close(fd);
	return rc == 0;
}

static void
conf_init(struct mx_loop_conf *c, size_t rcv, size_t snd, unsigned max)
{
	memset(c, 0, sizeof(*c));
	c->transport = MX_TRANSPORT_KERNEL;
	c->worker_id = 0;
	c->max_streams = max;
	c->rcvbuf_bytes = rcv;
	c->sndbuf_bytes = snd;
}

static struct app *
app_new_linger(size_t rcv, size_t snd, unsigned max, unsigned linger_ms)
{
	struct app *a = calloc(1, sizeof(*a));
	struct mx_loop_conf c;

	assert_non_null(a);
	conf_init(&c, rcv, snd, max);
	c.linger_ms = linger_ms;
	assert_int_equal(mx_loop_create(&c, &a->loop), 0);
	a->sink_cap = 1 << 16;
	return a;
}

static struct app *
app_new(size_t rcv, size_t snd, unsigned max)
{
	return app_new_linger(rcv, snd, max, 0);
}

static void
app_free(struct app *a)
{
	unsigned i;

	if (a->loop != NULL)
		mx_loop_free(a->loop);
	for (i = 0; i < a->n; i++)
		free(a->c[i].in);
	free(a);
}

static struct conn *
conn_new(struct app *a, struct mx_stream *st, enum mode mode)
{
	struct conn *c;

	assert_true(a->n < MAX_CONNS);
	c = &a->c[a->n++];
	memset(c, 0, sizeof(*c));
	c->app = a;
	c->st = st;
	c->mode = mode;
	c->close_on_eof = a->close_on_eof;
	c->in_cap = a->sink_cap;
	c->in = malloc(c->in_cap);
	assert_non_null(c->in);
	return c;
}

static void
pump_out(struct conn *c)
{
	long n;

	while (c->st != NULL && c->out_off < c->out_len) {
		n = mx_stream_send(c->st, c->out + c->out_off, c->out_len - c->out_off);
		assert_true(n >= 0);
		c->n_sends++;
		c->out_off += (size_t)n;
		if (c->out_off < c->out_len) {
			c->n_short_sends++;
			break;
		}
	}
	if (c->st != NULL && c->out != NULL && c->out_off == c->out_len &&
			c->close_when_sent)
		mx_stream_close(c->st);
}

static void
do_echo(struct conn *c)
{
	const uint8_t *p;
	size_t n;
	long k;
	unsigned guard = 0;

	while (guard++ < 1000 && (n = mx_stream_read_view(c->st, &p)) > 0) {
		k = mx_stream_send(c->st, p, n);
		assert_true(k >= 0);
		c->n_sends++;
		if (k > 0)
			mx_stream_consume(c->st, (size_t)k);
		if ((size_t)k < n) {
			c->n_short_sends++;
			return;
		}
	}
	if (mx_stream_peer_closed(c->st) && mx_stream_readable(c->st) == 0)
		mx_stream_close(c->st);
}

static void
do_sink(struct conn *c)
{
	const uint8_t *p;
	size_t n;

	while ((n = mx_stream_read_view(c->st, &p)) > 0) {
		assert_true(c->in_len + n <= c->in_cap);
		memcpy(c->in + c->in_len, p, n);
		c->in_len += n;
		mx_stream_consume(c->st, n);
	}
	if (c->close_on_eof && mx_stream_peer_closed(c->st))
		mx_stream_close(c->st);
}

static void
do_lines(struct conn *c)
{
	const uint8_t *p;
	size_t n, i, start = 0;
	char reply[32];
	bool sent = false;
	int len;

	n = mx_stream_read_view(c->st, &p);
	for (i = 0; i < n; i++) {
		if (p[i] != '\n')
			continue;
		c->n_lines++;
		len = snprintf(reply, sizeof(reply), "ok %u\r\n", c->n_lines);
		assert_int_equal(mx_stream_send(c->st, reply, (size_t)len), len);
		c->n_sends++;
		sent = true;
		start = i + 1;
	}
	mx_stream_consume(c->st, start);
	if (sent)
		c->n_reply_bursts++;
}

static void
do_worker(struct conn *c)
{
	const uint8_t *p;
	size_t n = mx_stream_read_view(c->st, &p);
	char reply[32];
	int len;

	if (n == 0 || memchr(p, '\n', n) == NULL)
		return;
	len = snprintf(reply, sizeof(reply), "w%u\n", mx_loop_worker_id(c->app->loop));
	assert_int_equal(mx_stream_send(c->st, reply, (size_t)len), len);
	mx_stream_consume(c->st, n);
	c->app->n_served++;
	mx_stream_close(c->st);
}

static void
on_readable(struct mx_stream *st, void *arg)
{
	struct conn *c = arg;

	assert_ptr_equal(c->st, st);
	assert_int_equal(c->n_closed, 0);
	c->n_readable++;
	if (mx_stream_peer_closed(st))
		c->saw_peer_closed = true;
	switch (c->mode) {
	case M_SINK:
		do_sink(c);
		break;
	case M_ECHO:
		do_echo(c);
		break;
	case M_HOLD:
		break;
	case M_CLOSE_ON_READ:
		mx_stream_consume(st, mx_stream_readable(st));
		mx_stream_close(st);
		/* after close: nothing to read, nothing to send */
		assert_int_equal(mx_stream_readable(st), 0);
		assert_int_equal(mx_stream_send(st, "x", 1), -EPIPE);
		break;
	case M_ABORT_ON_READ:
		mx_stream_abort(st);
		mx_stream_abort(st);
		mx_stream_close(st);
		break;
	case M_LINES:
		do_lines(c);
		break;
	case M_WORKER:
		do_worker(c);
		break;
	}
}

static void
on_writable(struct mx_stream *st, void *arg)
{
	struct conn *c = arg;

	assert_ptr_equal(c->st, st);
	assert_int_equal(c->n_closed, 0);
	c->n_writable++;
	if (c->mode == M_ECHO)
		do_echo(c);
	else
		pump_out(c);
}

static void
on_connected(struct mx_stream *st, int err, void *arg)
{
	struct conn *c = arg;

	assert_ptr_equal(c->st, st);
	assert_int_equal(c->n_connected, 0);
	assert_int_equal(c->n_closed, 0);
	c->n_connected++;
	c->connect_err = err;
	if (err == 0)
		pump_out(c);
}

static void
on_closed(struct mx_stream *st, int err, void *arg)
{
	struct conn *c = arg;

	assert_ptr_equal(c->st, st);
	assert_int_equal(c->n_closed, 0);
	c->n_closed++;
	c->close_err = err;
	c->st = NULL;
}

static const struct mx_stream_cb test_cb = {
	.on_readable = on_readable,
	.on_writable = on_writable,
	.on_connected = on_connected,
	.on_closed = on_closed,
};

static void
on_accept(struct mx_listener *l, struct mx_stream *st, void *arg)
{
	struct app *a = arg;
	struct conn *c;

	assert_non_null(l);
	a->n_accepts++;
	if (a->close_listener != NULL) {
		mx_listener_close(a->close_listener);
		a->close_listener = NULL;
	}
	if (a->accept_no_cb)
		return;
	c = conn_new(a, st, a->accept_mode);
	mx_stream_set_cb(st, &test_cb, c);
	if (a->accept_abort) {
		mx_stream_abort(st);
		return;
	}
	if (a->accept_out != NULL) {
		c->out = a->accept_out;
		c->out_len = a->accept_out_len;
		c->close_when_sent = a->accept_close_when_sent;
		pump_out(c);
	}
}

static struct mx_listener *
app_listen(struct app *a, const char *addr, struct mx_addr *local)
{
	struct mx_listener *l;
	struct mx_addr la;

	assert_int_equal(mx_addr_parse(addr, -1, &la), 0);
	assert_int_equal(mx_listen(a->loop, &la, on_accept, a, &l), 0);
	mx_listener_local(l, local);
	assert_int_equal(local->family, la.family);
	assert_true(local->port != 0);
	return l;
}

static socklen_t
to_sa(const struct mx_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(a->port);
		sin->sin_addr = a->ip.v4;
		return sizeof(*sin);
	}
	{
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(a->port);
		sin6->sin6_addr = a->ip.v6;
		return sizeof(*sin6);
	}
}

/* A plain client: blocking connect (completes through the backlog, the
 * loop need not run), then non-blocking; rcvbuf > 0 sets SO_RCVBUF. */
static int
client_connect_rcvbuf(const struct mx_addr *a, int rcvbuf)
{
	struct sockaddr_storage ss;
	socklen_t len = to_sa(a, &ss);
	int fd = socket(a->family, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	if (rcvbuf > 0)
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
			sizeof(rcvbuf)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
	return fd;
}

static int
client_connect(const struct mx_addr *a)
{
	return client_connect_rcvbuf(a, 0);
}

/* Non-blocking recv of whatever is there; returns bytes, 0 at EOF, or
 * -errno (-EAGAIN when empty). */
static long
client_recv(int fd, void *p, size_t len)
{
	ssize_t n = recv(fd, p, len, MSG_DONTWAIT);

	return n >= 0 ? (long)n : -errno;
}

/* Runs the loop until the client sees EOF or an error; returns 0 or
 * -errno, and appends what arrived to buf (at most cap). */
static long
client_wait_end(struct app *a, int fd, uint8_t *buf, size_t cap, size_t *got)
{
	uint64_t dl = mx_clock_ms() + WAIT_MS;
	uint8_t scratch[4096];
	unsigned i;
	long n;

	for (i = 0; i < WAIT_PASSES && mx_clock_ms() < dl; i++) {
		n = client_recv(fd, buf != NULL ? buf + *got : scratch,
			buf != NULL ? cap - *got : sizeof(scratch));
		if (n > 0 && buf != NULL)
			*got += (size_t)n;
		if (n == 0)
			return 0;
		if (n < 0 && n != -EAGAIN)
			return n;
		if (a != NULL)
			assert_int_equal(mx_loop_run_once(a->loop, 1), 0);
		else
			usleep(1000);
	}
	fail_msg("client saw neither EOF nor an error");
	return -ETIMEDOUT;
}

static uint8_t
pattern(size_t i)
{
	return (uint8_t)((i * 131u + (i >> 9) * 7u + 11u) & 0xff);
}

static uint8_t *
pattern_buf(size_t len)
{
	uint8_t *p = malloc(len > 0 ? len : 1);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < len; i++)
		p[i] = pattern(i);
	return p;
}

static uint16_t
closed_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd); /* bound, never listened: nothing accepts there */
	return ntohs(sin.sin_port);
}

static struct mx_loop_stats
loop_stats(struct app *a)
{
	struct mx_loop_stats s;

	mx_loop_get_stats(a->loop, &s);
	return s;
}

/* ---- tests ------------------------------------------------------------ */

static const char *const listen_addrs[] = { "127.0.0.1:0", "[::1]:0" };

struct listen_case {
	const char *listen;
	const char *connect_ip; /* NULL: the listener's own address */
	int v6;
};

static const struct listen_case listen_cases[] = {
	{ "127.0.0.1:0", NULL, 0 },
	{ "0.0.0.0:0", "127.0.0.1", 0 },
	{ "[::1]:0", NULL, 1 },
	{ "[::]:0", "::1", 1 },
};

static void
test_listen_accept(void **state)
{
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(listen_cases) / sizeof(listen_cases[0]); k++) {
		const struct listen_case *lc = &listen_cases[k];
		struct app *a;
		struct mx_addr local, dst, peer, sl, cl;
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		struct conn *c;
		int fd;

		if (lc->v6 && !v6_available()) {
			print_message("SKIP %s: ::1 is not configured here\n", lc->listen);
			continue;
		}
		print_message("%s\n", lc->listen);
		a = app_new(4096, 4096, 8);
		a->close_on_eof = true;
		app_listen(a, lc->listen, &local);
		dst = local;
		if (lc->connect_ip != NULL)
			assert_int_equal(mx_addr_parse(lc->connect_ip, local.port, &dst), 0);
		fd = client_connect(&dst);
		RUN_UNTIL(a->loop, a->n_accepts == 1);
		c = &a->c[0];
		assert_int_equal(mx_loop_n_streams(a->loop), 1);
		assert_int_equal(loop_stats(a).accepts, 1);
		assert_true(mx_stream_id(c->st) != 0);
		assert_ptr_equal(mx_stream_loop(c->st), a->loop);
		/* the stream's peer is the client's local end */
		assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
		mx_stream_peer(c->st, &peer);
		memset(&cl, 0, sizeof(cl));
		cl.family = ss.ss_family;
		if (ss.ss_family == AF_INET) {
			cl.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
			cl.ip.v4 = ((struct sockaddr_in *)&ss)->sin_addr;
		} else {
			cl.port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
			cl.ip.v6 = ((struct sockaddr_in6 *)&ss)->sin6_addr;
		}
		assert_true(mx_addr_eq_ip(&peer, &cl));
		assert_int_equal(peer.port, cl.port);
		/* its local end is the address the client reached, also
		 * behind a wildcard listener */
		mx_stream_local(c->st, &sl);
		assert_true(mx_addr_eq_ip(&sl, &dst));
		assert_int_equal(sl.port, local.port);
		/* bytes flow; EOF closes (close_on_eof) with err 0 */
		assert_int_equal(send(fd, "hello", 5, MSG_NOSIGNAL), 5);
		RUN_UNTIL(a->loop, c->in_len == 5);
		assert_memory_equal(c->in, "hello", 5);
		close(fd);
		RUN_UNTIL(a->loop, c->n_closed == 1);
		assert_true(c->saw_peer_closed);
		assert_int_equal(c->close_err, 0);
		assert_int_equal(mx_loop_n_streams(a->loop), 0);
		app_free(a);
	}
}

static void
test_connect_ok(void **state)
{
	size_t k;

	(void)state;
	for (k = 0; k < 2; k++) {
		struct app *a;
		struct mx_addr local, cpeer, clocal, speer;
		struct mx_stream *st;
		struct conn *cc, *sc;

		if (k == 1 && !v6_available()) {
			print_message("SKIP v6 case: ::1 is not configured here\n");
			continue;
		}
		a = app_new(4096, 4096, 8);
		a->accept_mode = M_ECHO;
		app_listen(a, listen_addrs[k], &local);
		cc = conn_new(a, NULL, M_SINK);
		cc->out = (const uint8_t *)"ping";
		cc->out_len = 4;
		assert_int_equal(mx_stream_connect(a->loop, &local, &test_cb, cc, &st), 0);
		cc->st = st;
		assert_int_equal(cc->n_connected, 0); /* never from inside the call */
		RUN_UNTIL(a->loop, cc->in_len == 4);
		assert_int_equal(cc->n_connected, 1);
		assert_int_equal(cc->connect_err, 0);
		assert_memory_equal(cc->in, "ping", 4);
		assert_int_equal(a->n_accepts, 1);
		sc = &a->c[1];
		mx_stream_peer(st, &cpeer);
		assert_true(mx_addr_eq_ip(&cpeer, &local));
		assert_int_equal(cpeer.port, local.port);
		mx_stream_local(st, &clocal);
		mx_stream_peer(sc->st, &speer);
		assert_int_equal(clocal.port, speer.port);
		assert_true(mx_stream_id(st) != mx_stream_id(sc->st));
		mx_stream_close(st);
		mx_stream_close(st); /* idempotent */
		RUN_UNTIL(a->loop, cc->n_closed == 1 && sc->n_closed == 1);
		assert_int_equal(cc->close_err, 0);
		assert_int_equal(sc->close_err, 0);
		assert_true(sc->saw_peer_closed);
		assert_int_equal(loop_stats(a).connects, 1);
		app_free(a);
	}
}

static void
test_connect_refused(void **state)
{
	struct app *a = app_new(4096, 4096, 8);
	struct mx_addr dst;
	struct mx_stream *st;
	struct conn *c;
	unsigned i;

	(void)state;
	memset(&dst, 0, sizeof(dst));
	dst.family = AF_INET;
	dst.ip.v4.s_addr = htonl(INADDR_LOOPBACK);
	dst.port = closed_port();
	c = conn_new(a, NULL, M_SINK);
	assert_int_equal(mx_stream_connect(a->loop, &dst, &test_cb, c, &st), 0);
	c->st = st;
	assert_int_equal(mx_loop_n_streams(a->loop), 1);
	RUN_UNTIL(a->loop, c->n_closed == 1);
	assert_int_equal(c->n_connected, 1);
	assert_int_equal(c->connect_err, -ECONNREFUSED);
	assert_int_equal(c->close_err, -ECONNREFUSED);
	for (i = 0; i < 5; i++)
		assert_int_equal(mx_loop_run_once(a->loop, 0), 0);
	assert_int_equal(c->n_closed, 1);
	assert_int_equal(mx_loop_n_streams(a->loop), 0);
	assert_int_equal(loop_stats(a).connect_errors, 1);
	app_free(a);
}

/* Pushes out through a plain client and collects the echo. */
static void
client_echo(struct app *a, int fd, const uint8_t *out, size_t len, uint8_t *in)
{
	uint64_t dl = mx_clock_ms() + 30000;
	size_t sent = 0, got = 0;
	bool shut = false;
	unsigned i;
	ssize_t n;

	for (i = 0; i < 4000000 && got < len && mx_clock_ms() < dl; i++) {
		if (sent < len) {
			n = send(fd, out + sent, MX_MIN(len - sent, (size_t)1 << 18),
				MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			else
				assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
		}
		if (sent == len && !shut) {
			assert_int_equal(shutdown(fd, SHUT_WR), 0);
			shut = true;
		}
		n = recv(fd, in + got, len - got, MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
		else
			assert_true(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
		assert_int_equal(mx_loop_run_once(a->loop, 0), 0);
	}
	assert_int_equal(got, len);
	assert_true(memcmp(in, out, len) == 0);
}

struct echo_case {
	size_t len;
	int v6;
};

static const struct echo_case echo_cases[] = {
	{ 1, 0 }, { 2, 0 }, { 100, 0 }, { 4095, 0 }, { 4096, 0 }, { 4097, 0 },
	{ 16384, 0 }, { 65536 + 3, 0 }, { (1u << 20) + 7, 0 }, { 8u << 20, 0 },
	{ 1, 1 }, { 300000, 1 },
};

static void
test_echo_sizes(void **state)
{
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(echo_cases) / sizeof(echo_cases[0]); k++) {
		const struct echo_case *ec = &echo_cases[k];
		struct app *a;
		struct mx_addr local;
		uint8_t *out, *in;
		struct mx_loop_stats s;
		struct conn *c;
		int fd;

		if (ec->v6 && !v6_available()) {
			print_message("SKIP v6 echo of %zu: ::1 is not configured here\n",
				ec->len);
			continue;
		}
		a = app_new(16384, 16384, 4);
		a->accept_mode = M_ECHO;
		app_listen(a, listen_addrs[ec->v6], &local);
		out = pattern_buf(ec->len);
		in = calloc(1, ec->len);
		assert_non_null(in);
		fd = client_connect(&local);
		client_echo(a, fd, out, ec->len, in);
		/* the server closes after echoing everything: EOF, no RST */
		assert_int_equal(client_wait_end(a, fd, NULL, 0, NULL), 0);
		close(fd);
		c = &a->c[0];
		RUN_UNTIL(a->loop, c->n_closed == 1);
		assert_int_equal(c->close_err, 0);
		s = loop_stats(a);
		assert_int_equal(s.bytes_in, ec->len);
		assert_int_equal(s.bytes_out, ec->len);
		print_message("echo %zu%s: %u sends, %" PRIu64 " reads, %" PRIu64
			" writes\n", ec->len, ec->v6 ? " v6" : "", c->n_sends,
			s.read_calls, s.write_calls);
		free(out);
		free(in);
		app_free(a);
	}
}

/* Stream to stream echo (both ends ours) over a larger payload. */
static void
test_stream_to_stream(void **state)
{
	struct app *a = app_new(8192, 8192, 4);
	size_t len = 3u << 20;
	uint8_t *out = pattern_buf(len);
	struct mx_addr local;
	struct mx_stream *st;
	struct conn *cc;

	(void)state;
	a->accept_mode = M_ECHO;
	a->sink_cap = len;
	app_listen(a, "127.0.0.1:0", &local);
	cc = conn_new(a, NULL, M_SINK);
	cc->out = out;
	cc->out_len = len;
	assert_int_equal(mx_stream_connect(a->loop, &local, &test_cb, cc, &st), 0);
	cc->st = st;
	RUN_UNTIL(a->loop, cc->in_len == len);
	assert_true(memcmp(cc->in, out, len) == 0);
	assert_true(cc->n_short_sends > 0);
	assert_true(cc->n_writable > 0);
	mx_stream_close(st);
	RUN_UNTIL(a->loop, cc->n_closed == 1 && a->c[1].n_closed == 1);
	assert_int_equal(cc->close_err, 0);
	assert_int_equal(a->c[1].close_err, 0);
	free(out);
	app_free(a);
}

static void
test_rcv_backpressure(void **state)
{
	struct app *a = app_new(4096, 4096, 4);
	uint8_t chunk[4096];
	struct mx_addr local;
	struct mx_loop_stats s0, s1;
	size_t total = 0, i;
	unsigned stalls = 0, k;
	struct conn *c;
	ssize_t n;
	int fd;

	(void)state;
	a->accept_mode = M_HOLD;
	a->sink_cap = 64u << 20;
	app_listen(a, "127.0.0.1:0", &local);
	fd = client_connect(&local);
	RUN_UNTIL(a->loop, a->n_accepts == 1);
	c = &a->c[0];
	/* the peer sends until its send blocks (kernel buffers full) */
	for (k = 0; k < 200000 && stalls < 50; k++) {
		for (i = 0; i < sizeof(chunk); i++)
			chunk[i] = pattern(total + i);
		n = send(fd, chunk, sizeof(chunk), MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			total += (size_t)n;
			stalls = 0;
		} else {
			assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
			stalls++;
		}
		assert_int_equal(mx_loop_run_once(a->loop, 1), 0);
	}
	assert_true(stalls >= 50);
	assert_true(total > 4096);
	assert_int_equal(mx_stream_readable(c->st), 4096);
	s0 = loop_stats(a);
	assert_true(s0.rcvbuf_full >= 1);
	/* the transport no longer reads while the owner holds the bytes */
	for (k = 0; k < 20; k++)
		assert_int_equal(mx_loop_run_once(a->loop, 1), 0);
	s1 = loop_stats(a);
	assert_int_equal(s1.read_calls, s0.read_calls);
	assert_int_equal(mx_stream_readable(c->st), 4096);
	/* the FIN waits behind the bytes the transport has not read */
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	for (k = 0; k < 5; k++)
		assert_int_equal(mx_loop_run_once(a->loop, 1), 0);
	assert_false(mx_stream_peer_closed(c->st));
	/* consume: reading resumes and every byte arrives, in order, then
	 * the EOF */
	c->mode = M_SINK;
	do_sink(c);
	mx_stream_want_read(c->st);
	RUN_UNTIL(a->loop, c->in_len == total && c->saw_peer_closed);
	for (i = 0; i < total; i++)
		if (c->in[i] != pattern(i))
			fail_msg("byte %zu differs", i);
	close(fd);
	app_free(a);
}

static void
test_snd_backpressure(void **state)
{
	struct app *a = app_new(4096, 4096, 4);
	size_t len = 12u << 20, got = 0, off0;
	uint8_t *out = pattern_buf(len), *in = malloc(len);
	struct mx_addr local;
	unsigned k, still = 0, w0;
	struct conn *c;
	long n;
	int fd;

	(void)state;
	assert_non_null(in);
	a->accept_mode = M_SINK;
	a->accept_out = out;
	a->accept_out_len = len;
	app_listen(a, "127.0.0.1:0", &local);
	fd = client_connect_rcvbuf(&local, 4096);
	RUN_UNTIL(a->loop, a->n_accepts == 1);
	c = &a->c[0];
	/* the peer does not read: sends come up short, then stall */
	off0 = c->out_off;
	for (k = 0; k < 100000 && still < 30; k++) {
		assert_int_equal(mx_loop_run_once(a->loop, 1), 0);
		still = c->out_off == off0 ? still + 1 : 0;
		off0 = c->out_off;
	}
	assert_true(still >= 30);
	assert_true(c->out_off < len);
	assert_true(c->n_short_sends >= 1);
	assert_int_equal(mx_stream_send_space(c->st), 0);
	assert_int_equal(mx_stream_send_pending(c->st), 4096);
	w0 = c->n_writable;
	/* the peer reads: on_writable comes, the rest goes out */
	for (k = 0; k < 4000000 && got < len; k++) {
		n = client_recv(fd, in + got, len - got);
		if (n > 0)
			got += (size_t)n;
		else
			assert_int_equal(n, -EAGAIN);
		assert_int_equal(mx_loop_run_once(a->loop, 0), 0);
	}
	assert_int_equal(got, len);
	assert_true(memcmp(in, out, len) == 0);
	assert_true(c->n_writable > w0);
	/* one on_writable per short send at most */
	assert_true(c->n_writable <= c->n_short_sends);
	close(fd);
	free(in);
	free(out);
	app_free(a);
}

static size_t
count_lf(const uint8_t *p, size_t n)
{
	size_t i, lf = 0;

	for (i = 0; i < n; i++)
		lf += p[i] == '\n';
	return lf;
}

static void
test_batched_replies(void **state)
{
	static const char *const bursts[] = {
		"a\r\nb\r\nc\r\n",
		"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\nDATA\r\n",
		"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n",
	};
	struct app *a = app_new(65536, 65536, 4);
	struct mx_addr local;
	struct mx_loop_stats s0, s1;
	uint8_t buf[512];
	size_t k, got, want_lines;
	unsigned lines0, bursts0, sends0;
	struct conn *c;
	long n;
	int fd;

	(void)state;
	a->accept_mode = M_LINES;
	app_listen(a, "127.0.0.1:0", &local);
	fd = client_connect(&local);
	RUN_UNTIL(a->loop, a->n_accepts == 1);
	c = &a->c[0];
	for (k = 0; k < sizeof(bursts) / sizeof(bursts[0]); k++) {
		const char *b = bursts[k];

		want_lines = 0;
		for (got = 0; b[got] != '\0'; got++)
			want_lines += b[got] == '\n';
		lines0 = c->n_lines;
		bursts0 = c->n_reply_bursts;
		sends0 = c->n_sends;
		s0 = loop_stats(a);
		assert_int_equal(send(fd, b, strlen(b), MSG_NOSIGNAL), (ssize_t)strlen(b));
		RUN_UNTIL(a->loop, c->n_lines == lines0 + want_lines &&
			mx_stream_send_pending(c->st) == 0);
		s1 = loop_stats(a);
		assert_int_equal(c->n_sends - sends0, want_lines);
		/* every burst of replies left in exactly one write */
		assert_int_equal(s1.write_calls - s0.write_calls,
			c->n_reply_bursts - bursts0);
		/* one send from the peer arrives as one burst on loopback */
		assert_int_equal(c->n_reply_bursts - bursts0, 1);
		got = 0;
		RUN_UNTIL(a->loop, (n = client_recv(fd, buf + got, sizeof(buf) - got),
			got += n > 0 ? (size_t)n : 0, count_lf(buf, got) == want_lines));
	}
	close(fd);
	app_free(a);
}

static void
test_peer_fin(void **state)
{
	struct app *a = app_new(4096, 4096, 4);
	struct mx_addr local;
	uint8_t buf[64];
	size_t got = 0;
	struct conn *c;
	int fd;

	(void)state;
	a->accept_mode = M_SINK;
	app_listen(a, "127.0.0.1:0", &local);
	fd = client_connect(&local);
	assert_int_equal(send(fd, "bye", 3, MSG_NOSIGNAL), 3);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	RUN_UNTIL(a->loop, a->n_accepts == 1 && a->c[0].saw_peer_closed);
	c = &a->c[0];
	assert_true(mx_stream_peer_closed(c->st));
	assert_int_equal(c->in_len, 3);
	assert_memory_equal(c->in, "bye", 3);
	/* half-closed: we can still send, then close */
	assert_int_equal(mx_stream_send(c->st, "later", 5), 5);
	mx_stream_close(c->st);
	assert_int_equal(client_wait_end(a, fd, buf, sizeof(buf), &got), 0);
	assert_int_equal(got, 5);
	assert_memory_equal(buf, "later", 5);
	RUN_UNTIL(a->loop, c->n_closed == 1);
	assert_int_equal(c->close_err, 0);
	close(fd);
	app_free(a);
}

static void
test_graceful_close_flush(void **state)
{
	struct app *a = app_new(4096, 512u << 10, 4);
	size_t len = 300u << 10, got = 0;
	uint8_t *out = pattern_buf(len), *in = malloc(len + 16);
	struct mx_addr local;
	struct conn *c;
	int fd;

	(void)state;
	assert_non_null(in);
	a->accept_mode = M_SINK;
	a->accept_out = out;
	a->accept_out_len = len;
	a->accept_close_when_sent = true; /* close right after queueing */
	app_listen(a, "127.0.0.1:0", &local);
	fd = client_connect_rcvbuf(&local, 8192);
	/* every queued byte arrives before the FIN */
	assert_int_equal(client_wait_end(a, fd, in, len + 16, &got), 0);
	assert_int_equal(got, len);
	assert_true(memcmp(in, out, len) == 0);
	c = &a->c[0];
	assert_int_equal(c->n_closed, 0); /* waits for our FIN */
	close(fd);
	RUN_UNTIL(a->loop, c->n_closed == 1);
	assert_int_equal(c->close_err, 0);
	free(in);
	free(out);
	app_free(a);
}

/*
 * Graceful close against a peer that never closes: after linger_ms the
 * socket is closed anyway. All bytes handed over: on_closed(0); bytes
 * still queued (the peer would not read): on_closed(-ETIMEDOUT) and a RST.
 * Input arriving after close is read and dropped (counted).
 */
static void
test_linger(void **state)
{
	size_t k;

	(void)state;
	for (k = 0; k < 2; k++) {
		struct app *a = app_new_linger(4096, 4096, 4, 200);
		size_t len = k == 0 ? 100 : 16u << 20;
		uint8_t *out = pattern_buf(len), junk[1000];
		struct mx_addr local;
		struct mx_loop_stats s;
		struct conn *c;
		unsigned i;
		int fd;

		memset(junk, 'j', sizeof(junk));
		a->accept_mode = M_SINK;
		a->accept_out = out;
		a->accept_out_len = len;
		a->accept_close_when_sent = k == 0;
		app_listen(a, "127.0.0.1:0", &local);
		fd = client_connect_rcvbuf(&local, 4096);
		RUN_UNTIL(a->loop, a->n_accepts == 1);
		c = &a->c[0];
		if (k == 1) {
			/* the peer reads nothing: close with bytes queued */
			size_t off0 = c->out_off;
			unsigned still = 0;

			for (i = 0; i < 100000 && still < 30; i++) {
				assert_int_equal(mx_loop_run_once(a->loop, 1), 0);
				still = c->out_off == off0 ? still + 1 : 0;
				off0 = c->out_off;
			}
			assert_true(mx_stream_send_pending(c->st) > 0);
			mx_stream_close(c->st);
		}
		if (k == 0) {
			/* closed at once (all fit); the peer talks on */
			assert_true(c->out_off == len);
			for (i = 0; i < 5; i++) {
				assert_int_equal(send(fd, junk, sizeof(junk), MSG_NOSIGNAL),
					(ssize_t)sizeof(junk));
				assert_int_equal(mx_loop_run_once(a->loop, 1), 0);
			}
		}
		RUN_UNTIL(a->loop, c->n_closed == 1);
		s = loop_stats(a);
		assert_int_equal(s.linger_timeouts, 1);
		if (k == 0) {
			assert_int_equal(c->close_err, 0);
			assert_int_equal(s.discarded_bytes, 5 * sizeof(junk));
			assert_int_equal(c->in_len, 0);
		} else {
			/* a flush that cannot finish ends in a RST */
			assert_int_equal(c->close_err, -ETIMEDOUT);
			assert_int_equal(client_wait_end(a, fd, NULL, 0, NULL),
				-ECONNRESET);
		}
		assert_int_equal(mx_loop_n_streams(a->loop), 0);
		close(fd);
		free(out);
		app_free(a);
	}
}

/* Bytes left unconsumed: no new on_readable until new bytes arrive or the
 * owner asks (want_read), which then comes on the next pass. */
static void
test_want_read(void **state)
{
	struct app *a = app_new(4096, 4096, 4);
	struct mx_addr local;
	struct conn *c;
	unsigned k, n0;
	int fd;

	(void)state;
	a->accept_mode = M_HOLD;
	app_listen(a, "127.0.0.1:0", &local);
	fd = client_connect(&local);
	assert_int_equal(send(fd, "abc", 3, MSG_NOSIGNAL), 3);
	RUN_UNTIL(a->loop, a->n_accepts == 1 && a->c[0].n_readable == 1);
	c = &a->c[0];
	for (k = 0; k < 10; k++)
		assert_int_equal(mx_loop_run_once(a->loop, 1), 0);
	assert_int_equal(c->n_readable, 1);
	assert_int_equal(mx_stream_readable(c->st), 3);
	/* new bytes: called again, with everything still there */
	assert_int_equal(send(fd, "de", 2, MSG_NOSIGNAL), 2);
	RUN_UNTIL(a->loop, c->n_readable == 2);
	assert_int_equal(mx_stream_readable(c->st), 5);
	/* asked for: called on the next pass, not inside the call */
	n0 = c->n_readable;
	mx_stream_want_read(c->st);
	assert_int_equal(c->n_readable, n0);
	assert_int_equal(mx_loop_run_once(a->loop, 0), 0);
	assert_int_equal(c->n_readable, n0 + 1);
	/* nothing buffered: want_read does not call */
	mx_stream_consume(c->st, 5);
	mx_stream_want_read(c->st);
	for (k = 0; k < 3; k++)
		assert_int_equal(mx_loop_run_once(a->loop, 0), 0);
	assert_int_equal(c->n_readable, n0 + 1);
	close(fd);
	app_free(a);
}

static void
test_abort_rst(void **state)
{
	struct app *a = app_new(4096, 4096, 4);
	struct mx_addr local;
	struct conn *c;
	unsigned k;
	int fd;

	(void)state;
	a->accept_mode = M_ABORT_ON_READ;
	app_listen(a, "127.0.0.1:0", &local);
	fd = client_connect(&local);
	assert_int_equal(send(fd, "x", 1, MSG_NOSIGNAL), 1);
	RUN_UNTIL(a->loop, a->n_accepts == 1 && a->c[0].n_closed == 1);
	c = &a->c[0];
	assert_int_equal(c->close_err, -ECONNABORTED);
	assert_int_equal(client_wait_end(a, fd, NULL, 0, NULL), -ECONNRESET);
	for (k = 0; k < 5; k++)
		assert_int_equal(mx_loop_run_once(a->loop, 0), 0);
	assert_int_equal(c->n_closed, 1);
	assert_int_equal(loop_stats(a).aborts, 1);
	close(fd);
	app_free(a);
}

static void
test_close_in_readable(void **state)
{
	struct app *a = app_new(4096, 4096, 4);
	struct mx_addr local;
	struct conn *c;
	unsigned k;
	int fd;

	(void)state;
	a->accept_mode = M_CLOSE_ON_READ;
	app_listen(a, "127.0.0.1:0", &local);
	fd = client_connect(&local);
	assert_int_equal(send(fd, "QUIT\r\n", 6, MSG_NOSIGNAL), 6);
	assert_int_equal(client_wait_end(a, fd, NULL, 0, NULL), 0);
	c = &a->c[0];
	assert_int_equal(c->n_readable, 1);
	close(fd);
	RUN_UNTIL(a->loop, c->n_closed == 1);
	assert_int_equal(c->close_err, 0);
	for (k = 0; k < 5; k++)
		assert_int_equal(mx_loop_run_once(a->loop, 0), 0);
	assert_int_equal(c->n_closed, 1);
	assert_int_equal(mx_loop_n_streams(a->loop), 0);
	app_free(a);
}

static void
test_abort_in_accept(void **state)
{
	size_t k;

	(void)state;
	/* k == 0: set_cb then abort; k == 1: neither (the transport aborts) */
	for (k = 0; k < 2; k++) {
		struct app *a = app_new(4096, 4096, 4);
		struct mx_addr local;
		unsigned i;
		int fd;

		a->accept_abort = k == 0;
		a->accept_no_cb = k == 1;
		app_listen(a, "127.0.0.1:0", &local);
		fd = client_connect(&local);
		RUN_UNTIL(a->loop, a->n_accepts == 1 && mx_loop_n_streams(a->loop) == 0);
		for (i = 0; i < 5; i++)
			assert_int_equal(mx_loop_run_once(a->loop, 0), 0);
		if (k == 0) {
			assert_int_equal(a->c[0].n_closed, 1);
			assert_int_equal(a->c[0].close_err, -ECONNABORTED);
			assert_int_equal(a->c[0].n_readable, 0);
		} else {
			assert_int_equal(a->n, 0);
		}
		assert_int_equal(client_wait_end(a, fd, NULL, 0, NULL), -ECONNRESET);
		close(fd);
		app_free(a);
	}
}

static void
test_peer_reset(void **state)
{
	struct app *a = app_new(4096, 4096, 4);
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct mx_addr local;
	struct conn *c;
	int fd;

	(void)state;
	a->accept_mode = M_HOLD;
	app_listen(a, "127.0.0.1:0", &local);
	fd = client_connect(&local);
	RUN_UNTIL(a->loop, a->n_accepts == 1);
	c = &a->c[0];
	assert_int_equal(mx_stream_send(c->st, "220 hi\r\n", 8), 8);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(fd);
	RUN_UNTIL(a->loop, c->n_closed == 1);
	assert_int_equal(c->close_err, -ECONNRESET);
	assert_true(loop_stats(a).resets >= 1);
	app_free(a);
}

static void *
wake_thread(void *arg)
{
	usleep(50 * 1000);
	mx_loop_wakeup(arg);
	return NULL;
}

static void
test_wakeup(void **state)
{
	struct app *a = app_new(4096, 4096, 4);
	pthread_t th;
	uint64_t t0;

	(void)state;
	/* a wakeup already pending: the next pass does not wait */
	mx_loop_wakeup(a->loop);
	t0 = mx_clock_ms();
	assert_int_equal(mx_loop_run_once(a->loop, 20000), 0);
	assert_true(mx_clock_ms() - t0 < 15000);
	/* from another thread, during a long wait */
	assert_int_equal(pthread_create(&th, NULL, wake_thread, a->loop), 0);
	t0 = mx_clock_ms();
	assert_int_equal(mx_loop_run_once(a->loop, 20000), 0);
	assert_true(mx_clock_ms() - t0 < 15000);
	assert_int_equal(pthread_join(th, NULL), 0);
	app_free(a);
}

static void
count_poll(void *arg)
{
	(*(unsigned *)arg)++;
}

static void
test_pollers(void **state)
{
	struct app *a = app_new(4096, 4096, 4);
	unsigned n1 = 0, n2 = 0, spare = 0, i;

	(void)state;
	assert_int_equal(mx_loop_add_poller(a->loop, count_poll, &n1), 0);
	assert_int_equal(mx_loop_add_poller(a->loop, count_poll, &n2), 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(mx_loop_run_once(a->loop, 0), 0);
	assert_int_equal(n1, 5);
	assert_int_equal(n2, 5);
	for (i = 2; i < 16; i++)
		assert_int_equal(mx_loop_add_poller(a->loop, count_poll, &spare), 0);
	assert_int_equal(mx_loop_add_poller(a->loop, count_poll, &spare), -ENOSPC);
	assert_int_equal(mx_loop_run_once(a->loop, 0), 0);
	assert_int_equal(n1, 6);
	assert_int_equal(spare, 14);
	app_free(a);
}

static void
timer_fired(struct mx_timer *t, void *arg)
{
	(void)t;
	*(uint64_t *)arg = 1;
}

static void
test_timer_cuts_wait(void **state)
{
	struct app *a = app_new(4096, 4096, 4);
	struct mx_timer t;
	uint64_t fired = 0, t0, deadline;
	unsigned passes = 0;

	(void)state;
	mx_timer_init(&t, timer_fired, &fired);
	deadline = mx_loop_now_ms(a->loop) + 30;
	mx_timer_arm(mx_loop_wheel(a->loop), &t, deadline);
	t0 = mx_clock_ms();
	while (fired == 0 && passes < 20) {
		assert_int_equal(mx_loop_run_once(a->loop, 20000), 0);
		passes++;
	}
	assert_int_equal(fired, 1);
	assert_true(mx_loop_now_ms(a->loop) >= deadline);
	assert_true(mx_clock_ms() - t0 < 15000);
	assert_true(loop_stats(a).timers_fired >= 1);
	app_free(a);
}

static void
test_max_streams(void **state)
{
	struct app *a = app_new(4096, 4096, 2);
	struct mx_addr local;
	struct mx_stream *st;
	int fd[3], k;

	(void)state;
	a->accept_mode = M_HOLD;
	app_listen(a, "127.0.0.1:0", &local);
	for (k = 0; k < 3; k++)
		fd[k] = client_connect(&local);
	RUN_UNTIL(a->loop, loop_stats(a).accepts == 3);
	assert_int_equal(a->n_accepts, 2);
	assert_int_equal(loop_stats(a).refused_max_streams, 1);
	assert_int_equal(mx_loop_n_streams(a->loop), 2);
	assert_int_equal(client_wait_end(a, fd[2], NULL, 0, NULL), -ECONNRESET);
	assert_int_equal(mx_stream_connect(a->loop, &local, &test_cb, NULL, &st),
		-ENOBUFS);
	/* a slot freed is usable again */
	close(fd[0]);
	RUN_UNTIL(a->loop, mx_loop_n_streams(a->loop) == 2 && a->c[0].saw_peer_closed);
	mx_stream_close(a->c[0].st);
	RUN_UNTIL(a->loop, a->c[0].n_closed == 1);
	fd[2] = client_connect(&local);
	RUN_UNTIL(a->loop, a->n_accepts == 3);
	for (k = 0; k < 3; k++)
		close(fd[k]);
	app_free(a);
}

static void
test_loop_free_live(void **state)
{
	struct app *a = app_new(4096, 4096, 8);
	struct mx_addr local;
	struct mx_stream *st;
	struct conn *cc;
	unsigned i;
	int fd[3];

	(void)state;
	a->accept_mode = M_HOLD;
	app_listen(a, "127.0.0.1:0", &local);
	for (i = 0; i < 3; i++)
		fd[i] = client_connect(&local);
	cc = conn_new(a, NULL, M_HOLD);
	assert_int_equal(mx_stream_connect(a->loop, &local, &test_cb, cc, &st), 0);
	cc->st = st;
	RUN_UNTIL(a->loop, a->n_accepts == 4 && cc->n_connected == 1);
	/* one stream mid-close too (nothing flushed yet: aborted as well) */
	assert_int_equal(mx_stream_send(a->c[1].st, "x", 1), 1);
	mx_stream_close(a->c[1].st);
	assert_int_equal(mx_loop_n_streams(a->loop), 5);
	mx_loop_free(a->loop);
	a->loop = NULL;
	assert_int_equal(a->n, 5);
	for (i = 0; i < a->n; i++) {
		assert_int_equal(a->c[i].n_closed, 1);
		assert_int_equal(a->c[i].close_err, -ECONNABORTED);
	}
	for (i = 0; i < 3; i++) {
		assert_int_equal(client_wait_end(NULL, fd[i], NULL, 0, NULL),
			-ECONNRESET);
		close(fd[i]);
	}
	app_free(a);
}

static void
test_listener_close(void **state)
{
	struct app *a = app_new(4096, 4096, 8);
	struct mx_addr local;
	struct sockaddr_storage ss;
	struct mx_listener *l;
	socklen_t len;
	uint8_t buf[8];
	size_t got = 0;
	int fd, fd2;
	long n;

	(void)state;
	a->accept_mode = M_ECHO;
	l = app_listen(a, "127.0.0.1:0", &local);
	fd = client_connect(&local);
	RUN_UNTIL(a->loop, a->n_accepts == 1);
	mx_listener_close(l);
	len = to_sa(&local, &ss);
	fd2 = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd2 >= 0);
	assert_int_equal(connect(fd2, (struct sockaddr *)&ss, len), -1);
	assert_int_equal(errno, ECONNREFUSED);
	close(fd2);
	/* the established stream is untouched */
	assert_int_equal(send(fd, "abc", 3, MSG_NOSIGNAL), 3);
	RUN_UNTIL(a->loop, (n = client_recv(fd, buf + got, sizeof(buf) - got),
		got += n > 0 ? (size_t)n : 0, got == 3));
	assert_memory_equal(buf, "abc", 3);
	close(fd);
	app_free(a);
}

/* An accept function closes its own listener with more in the queue. */
static void
test_listener_close_in_accept(void **state)
{
	struct app *a = app_new(4096, 4096, 8);
	struct mx_addr local;
	unsigned k;
	int fd[3];

	(void)state;
	a->accept_mode = M_HOLD;
	a->close_listener = app_listen(a, "127.0.0.1:0", &local);
	for (k = 0; k < 3; k++)
		fd[k] = client_connect(&local);
	RUN_UNTIL(a->loop, a->n_accepts == 1);
	for (k = 0; k < 10; k++)
		assert_int_equal(mx_loop_run_once(a->loop, 0), 0);
	assert_int_equal(a->n_accepts, 1);
	assert_int_equal(mx_loop_n_streams(a->loop), 1);
	/* the queued ones died with the listening socket */
	assert_int_equal(client_wait_end(a, fd[1], NULL, 0, NULL), -ECONNRESET);
	assert_int_equal(client_wait_end(a, fd[2], NULL, 0, NULL), -ECONNRESET);
	for (k = 0; k < 3; k++)
		close(fd[k]);
	app_free(a);
}

struct create_case {
	const char *name;
	int transport;
	unsigned worker, max;
	size_t rcv, snd;
	int rc;
};

static const struct create_case create_cases[] = {
	{ "ok", MX_TRANSPORT_KERNEL, 3, 4, 1024, 1024, 0 },
	{ "zero-max", MX_TRANSPORT_KERNEL, 0, 0, 1024, 1024, -EINVAL },
	{ "zero-rcv", MX_TRANSPORT_KERNEL, 0, 4, 0, 1024, -EINVAL },
	{ "zero-snd", MX_TRANSPORT_KERNEL, 0, 4, 1024, 0, -EINVAL },
	{ "huge-buf", MX_TRANSPORT_KERNEL, 0, 4, (size_t)1 << 40, 1024, -EINVAL },
	{ "huge-worker", MX_TRANSPORT_KERNEL, 1u << 24, 4, 1024, 1024, -EINVAL },
	{ "dpdk", MX_TRANSPORT_DPDK, 0, 4, 1024, 1024, -ENOTSUP },
	{ "bogus", 42, 0, 4, 1024, 1024, -EINVAL },
};

static void
test_create(void **state)
{
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(create_cases) / sizeof(create_cases[0]); k++) {
		const struct create_case *cc = &create_cases[k];
		struct mx_loop_conf c;
		struct mx_loop *loop = NULL;

		print_message("%s\n", cc->name);
		conf_init(&c, cc->rcv, cc->snd, cc->max);
		c.transport = (enum mx_transport)cc->transport;
		c.worker_id = cc->worker;
		assert_int_equal(mx_loop_create(&c, &loop), cc->rc);
		if (cc->rc == 0) {
			assert_int_equal(mx_loop_worker_id(loop), cc->worker);
			assert_int_equal(mx_loop_transport(loop), MX_TRANSPORT_KERNEL);
			assert_int_equal(mx_loop_n_streams(loop), 0);
			mx_loop_free(loop);
		}
	}
	assert_int_equal(mx_loop_create(NULL, NULL), -EINVAL);
}

static void
test_stream_ids(void **state)
{
	struct mx_loop_conf c;
	struct app *a[2];
	struct mx_addr local;
	uint64_t ids[20];
	unsigned i, j, k, n = 0;
	int fd[20];

	(void)state;
	for (k = 0; k < 2; k++) {
		a[k] = calloc(1, sizeof(*a[k]));
		assert_non_null(a[k]);
		a[k]->sink_cap = 1024;
		a[k]->accept_mode = M_HOLD;
		conf_init(&c, 1024, 1024, 16);
		c.worker_id = k + 1;
		assert_int_equal(mx_loop_create(&c, &a[k]->loop), 0);
		app_listen(a[k], "127.0.0.1:0", &local);
		for (i = 0; i < 10; i++)
			fd[n++] = client_connect(&local);
		RUN_UNTIL(a[k]->loop, a[k]->n_accepts == 10);
	}
	for (k = 0, n = 0; k < 2; k++)
		for (i = 0; i < 10; i++) {
			ids[n] = mx_stream_id(a[k]->c[i].st);
			assert_int_equal(ids[n] >> 40, k + 1);
			for (j = 0; j < n; j++)
				assert_true(ids[j] != ids[n]);
			n++;
		}
	for (k = 0; k < 2; k++)
		app_free(a[k]);
	for (i = 0; i < 20; i++)
		close(fd[i]);
}

/* Two loops on two threads, one port (SO_REUSEPORT). */
struct worker_arg {
	struct app *a;
	atomic_bool *stop;
};

static void *
worker_main(void *p)
{
	struct worker_arg *w = p;
	uint64_t dl = mx_clock_ms() + 60000;
	unsigned i;

	for (i = 0; i < 1000000 && !atomic_load(w->stop) && mx_clock_ms() < dl; i++)
		if (mx_loop_run_once(w->a->loop, 100) != 0)
			break;
	return NULL;
}

static void
test_two_loops_reuseport(void **state)
{
	struct mx_loop_conf c;
	struct app *a[2];
	struct worker_arg w[2];
	pthread_t th[2];
	atomic_bool stop = false;
	struct mx_addr local, l2;
	unsigned served[2] = { 0, 0 }, i, k;
	struct timeval tv = { .tv_sec = 5 };

	(void)state;
	for (k = 0; k < 2; k++) {
		a[k] = calloc(1, sizeof(*a[k]));
		assert_non_null(a[k]);
		a[k]->sink_cap = 64;
		a[k]->accept_mode = M_WORKER;
		conf_init(&c, 4096, 4096, 256);
		c.worker_id = k;
		assert_int_equal(mx_loop_create(&c, &a[k]->loop), 0);
	}
	app_listen(a[0], "127.0.0.1:0", &local);
	{
		char buf[64];

		mx_addr_format(&local, true, buf, sizeof(buf));
		app_listen(a[1], buf, &l2);
		assert_int_equal(l2.port, local.port);
	}
	for (k = 0; k < 2; k++) {
		w[k].a = a[k];
		w[k].stop = &stop;
		assert_int_equal(pthread_create(&th[k], NULL, worker_main, &w[k]), 0);
	}
	for (i = 0; i < 200; i++) {
		struct sockaddr_storage ss;
		socklen_t len = to_sa(&local, &ss);
		char buf[16];
		size_t got = 0;
		ssize_t n;
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		assert_true(fd >= 0);
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
		assert_int_equal(connect(fd, (struct sockaddr *)&ss, len), 0);
		assert_int_equal(send(fd, "ping\n", 5, MSG_NOSIGNAL), 5);
		for (k = 0; k < 16 && got < sizeof(buf); k++) {
			n = recv(fd, buf + got, sizeof(buf) - got, 0);
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		assert_true(got == 3 && buf[0] == 'w' && buf[2] == '\n');
		assert_true(buf[1] == '0' || buf[1] == '1');
		served[buf[1] - '0']++;
		close(fd);
	}
	atomic_store(&stop, true);
	for (k = 0; k < 2; k++)
		mx_loop_wakeup(a[k]->loop);
	for (k = 0; k < 2; k++)
		assert_int_equal(pthread_join(th[k], NULL), 0);
	print_message("served: worker 0 %u, worker 1 %u\n", served[0], served[1]);
	assert_int_equal(served[0] + served[1], 200);
	assert_true(served[0] > 0 && served[1] > 0);
	assert_int_equal(a[0]->n_served, served[0]);
	assert_int_equal(a[1]->n_served, served[1]);
	assert_int_equal(loop_stats(a[0]).accepts + loop_stats(a[1]).accepts, 200);
	for (k = 0; k < 2; k++)
		app_free(a[k]);
}

/* Out of descriptors at accept: counted, the listener pauses (no spin),
 * established streams keep working, accepting resumes later. */
static void
test_accept_emfile(void **state)
{
	struct app *a = app_new(4096, 4096, 8);
	struct mx_addr local;
	struct mx_loop_stats s0, s1;
	struct rlimit old, low;
	uint8_t buf[8];
	size_t got = 0;
	int fd0, fd1, fd2, probe;
	unsigned k;
	long n;

	(void)state;
	a->accept_mode = M_ECHO;
	app_listen(a, "127.0.0.1:0", &local);
	fd0 = client_connect(&local);
	RUN_UNTIL(a->loop, a->n_accepts == 1);
	fd1 = client_connect(&local);
	fd2 = client_connect(&local);
	/* every descriptor below probe is in use: cap the table there */
	probe = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(probe >= 0);
	close(probe);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)probe;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	assert_int_equal(mx_loop_run_once(a->loop, 10), 0);
	s0 = loop_stats(a);
	for (k = 0; k < 50; k++)
		assert_int_equal(mx_loop_run_once(a->loop, 0), 0);
	s1 = loop_stats(a);
	assert_true(s0.accept_paused >= 1);
	assert_true(s0.accept_errors >= 1);
	assert_int_equal(a->n_accepts, 1);
	/* paused: 50 passes did not each retry the accept */
	assert_true(s1.accept_errors - s0.accept_errors < 25);
	/* the established stream is still served */
	assert_int_equal(send(fd0, "abc", 3, MSG_NOSIGNAL), 3);
	RUN_UNTIL(a->loop, (n = client_recv(fd0, buf + got, sizeof(buf) - got),
		got += n > 0 ? (size_t)n : 0, got == 3));
	assert_memory_equal(buf, "abc", 3);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	RUN_UNTIL(a->loop, a->n_accepts == 3);
	close(fd0);
	close(fd1);
	close(fd2);
	app_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_listen_accept),
		cmocka_unit_test(test_connect_ok),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_echo_sizes),
		cmocka_unit_test(test_stream_to_stream),
		cmocka_unit_test(test_rcv_backpressure),
		cmocka_unit_test(test_snd_backpressure),
		cmocka_unit_test(test_batched_replies),
		cmocka_unit_test(test_peer_fin),
		cmocka_unit_test(test_graceful_close_flush),
		cmocka_unit_test(test_linger),
		cmocka_unit_test(test_want_read),
		cmocka_unit_test(test_abort_rst),
		cmocka_unit_test(test_close_in_readable),
		cmocka_unit_test(test_abort_in_accept),
		cmocka_unit_test(test_peer_reset),
		cmocka_unit_test(test_wakeup),
		cmocka_unit_test(test_pollers),
		cmocka_unit_test(test_timer_cuts_wait),
		cmocka_unit_test(test_max_streams),
		cmocka_unit_test(test_loop_free_live),
		cmocka_unit_test(test_listener_close),
		cmocka_unit_test(test_listener_close_in_accept),
		cmocka_unit_test(test_stream_ids),
		cmocka_unit_test(test_two_loops_reuseport),
		cmocka_unit_test(test_accept_emfile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
