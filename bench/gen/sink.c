/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sink.c: mxedge-bench's downstream MTA (mx_bench_sink_run). It accepts
 * SMTP (RFC 5321), answers 250 to every envelope command, reads each
 * message to its final dot (4.5.2) and discards it, counting sessions,
 * messages, recipients and bytes, so the engine under test can relay to
 * it without the downstream being the bottleneck. It offers PIPELINING
 * (RFC 2920) and answers pipelined groups in order. Optionally the first
 * save_max messages are written to save_dir as they arrived on the wire
 * (dot-stuffed, without the final dot line) for byte-exact checks.
 *
 * Connections come from a pool allocated at start (max_conns); one more
 * is reset and counted. A command line over 1,000 bytes (RFC 5321
 * 4.5.3.1.4 allows 512) gets 500 and the connection is closed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mx_bench.h"

#define LINE_MAX_BYTES 1000u
#define OUT_BYTES 512u

enum dot_state {
	D_BOL = 0,   /* at the start of a line */
	D_IN,        /* inside a line */
	D_CR,        /* after a CR */
	D_DOT,       /* a dot at the start of a line */
	D_DOTCR,     /* dot, CR */
};

struct sconn {
	struct mx_bench_sink *k;
	struct mx_stream *st;
	unsigned idx;
	bool data, closing;
	enum dot_state dot;
	uint64_t msg_bytes;
	char line[LINE_MAX_BYTES];
	size_t line_len;
	char out[OUT_BYTES];        /* replies the stream did not take yet */
	size_t out_len, out_off;
	uint8_t *save;              /* this message, when it is kept */
	size_t save_len, save_cap;
	unsigned save_seq;
};

struct mx_bench_sink {
	const struct mx_bench_sink_conf *c;
	struct mx_bench_sink_stats *st;
	struct mx_loop *loop;
	struct mx_listener *lis;
	struct sconn *conns;
	unsigned *free_idx;
	unsigned n_free;
	unsigned save_started;
};

static const char ehlo_reply[] =
	"250-sink.bench.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 104857600\r\n";

static void
conn_flush(struct sconn *c)
{
	long n;

	if (c->out_off >= c->out_len)
		return;
	n = mx_stream_send(c->st, c->out + c->out_off, c->out_len - c->out_off);
	if (n > 0)
		c->out_off += (size_t)n;
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
}

/* Returns false when the reply does not fit behind replies still waiting
 * for send space: the caller stops reading until on_writable. */
static bool
reply(struct sconn *c, const char *r, size_t n)
{
	if (c->out_len == 0) {
		long w = mx_stream_send(c->st, r, n);

		if (w < 0)
			return true; /* closing anyway */
		r += w;
		n -= (size_t)w;
	}
	if (n == 0)
		return true;
	if (c->out_len + n > sizeof(c->out))
		return false;
	memcpy(c->out + c->out_len, r, n);
	c->out_len += n;
	return true;
}

#define REPLY(c, lit) reply((c), (lit), sizeof(lit) - 1)

static void
save_write(struct sconn *c)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/msg-%06u.eml", c->k->c->save_dir, c->save_seq);
	f = fopen(path, "wb");
	if (f != NULL) {
		if (fwrite(c->save, 1, c->save_len, f) == c->save_len)
			c->k->st->saved++;
		fclose(f);
	}
	free(c->save);
	c->save = NULL;
	c->save_len = c->save_cap = 0;
}

static void
save_append(struct sconn *c, const uint8_t *p, size_t n)
{
	if (c->save_len + n > c->save_cap) {
		size_t cap = MX_MAX(c->save_cap * 2, c->save_len + n + 4096);
		uint8_t *q = cap <= MX_BENCH_SIZE_LIMIT * 2u ? realloc(c->save, cap) : NULL;

		if (q == NULL) {
			free(c->save);
			c->save = NULL;
			c->save_len = c->save_cap = 0;
			c->save_seq = 0; /* give up on this one */
			return;
		}
		c->save = q;
		c->save_cap = cap;
	}
	memcpy(c->save + c->save_len, p, n);
	c->save_len += n;
}

/* Scans message bytes for CRLF.CRLF; returns how many it took, up to and
 * including the terminator when it found it (then c->data is false). */
static size_t
data_scan(struct sconn *c, const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (c->dot == D_IN) {
			const uint8_t *cr = memchr(p + i, '\r', n - i);

			if (cr == NULL) {
				i = n;
				break;
			}
			i = (size_t)(cr - p) + 1;
			c->dot = D_CR;
			continue;
		}
		switch (c->dot) {
		case D_BOL:
			c->dot = p[i] == '.' ? D_DOT : p[i] == '\r' ? D_CR : D_IN;
			break;
		case D_CR:
			c->dot = p[i] == '\n' ? D_BOL : p[i] == '\r' ? D_CR : D_IN;
			break;
		case D_DOT:
			c->dot = p[i] == '\r' ? D_DOTCR : D_IN;
			break;
		case D_DOTCR:
			if (p[i] == '\n') {
				c->data = false;
				return i + 1;
			}
			c->dot = p[i] == '\r' ? D_CR : D_IN;
			break;
		default:
			break;
		}
		i++;
	}
	return i;
}

static void
message_end(struct sconn *c)
{
	struct mx_bench_sink *k = c->k;

	/* the terminator ".\r\n" is not message content */
	k->st->messages++;
	k->st->bytes += c->msg_bytes >= 3 ? c->msg_bytes - 3 : 0;
	if (c->save != NULL && c->save_seq != 0) {
		c->save_len = c->save_len >= 3 ? c->save_len - 3 : 0;
		save_write(c);
	}
}

static bool
command(struct sconn *c, const char *l, size_t n)
{
	struct mx_bench_sink *k = c->k;

	while (n > 0 && (l[n - 1] == '\r' || l[n - 1] == '\n'))
		n--;
	if (n >= 4 && strncasecmp(l, "EHLO", 4) == 0)
		return REPLY(c, ehlo_reply);
	if (n >= 4 && strncasecmp(l, "HELO", 4) == 0)
		return REPLY(c, "250 sink.bench.test\r\n");
	if (n >= 4 && strncasecmp(l, "MAIL", 4) == 0)
		return REPLY(c, "250 2.1.0 Ok\r\n");
	if (n >= 4 && strncasecmp(l, "RCPT", 4) == 0) {
		k->st->rcpts++;
		return REPLY(c, "250 2.1.5 Ok\r\n");
	}
	if (n == 4 && strncasecmp(l, "DATA", 4) == 0) {
		if (!REPLY(c, "354 End data with <CR><LF>.<CR><LF>\r\n"))
			return false;
		c->data = true;
		c->dot = D_BOL;
		c->msg_bytes = 0;
		c->save_seq = 0;
		if (k->c->save_dir != NULL && k->save_started < k->c->save_max)
			c->save_seq = ++k->save_started;
		return true;
	}
	if (n >= 4 && (strncasecmp(l, "RSET", 4) == 0 || strncasecmp(l, "NOOP", 4) == 0))
		return REPLY(c, "250 2.0.0 Ok\r\n");
	if (n == 4 && strncasecmp(l, "QUIT", 4) == 0) {
		if (!REPLY(c, "221 2.0.0 Bye\r\n"))
			return false;
		c->closing = true;
		mx_stream_close(c->st);
		return true;
	}
	return REPLY(c, "502 5.5.2 Command not recognized\r\n");
}

/* One command line, possibly split over reads. Returns the bytes taken,
 * or 0 when a reply could not be queued (stop reading). */
static size_t
command_bytes(struct sconn *c, const uint8_t *p, size_t n)
{
	const uint8_t *lf = memchr(p, '\n', n);
	size_t take = lf != NULL ? (size_t)(lf - p) + 1 : n;

	/* One reply waiting at most: a client that pipelines without reading
	 * is read no further until on_writable (RFC 2920 3.1 flow control). */
	if (c->out_len != 0)
		return 0;

	if (c->line_len + take > sizeof(c->line)) {
		c->k->st->bad_lines++;
		REPLY(c, "500 5.5.2 Line too long\r\n");
		c->closing = true;
		mx_stream_close(c->st);
		return n;
	}
	if (lf == NULL) {
		memcpy(c->line + c->line_len, p, take);
		c->line_len += take;
		return take;
	}
	if (c->line_len == 0) {
		if (!command(c, (const char *)p, take))
			return 0;
		return take;
	}
	memcpy(c->line + c->line_len, p, take);
	if (!command(c, c->line, c->line_len + take))
		return 0;
	c->line_len = 0;
	return take;
}

static void
conn_input(struct sconn *c)
{
	const uint8_t *p;
	size_t n, used;

	while (!c->closing && (n = mx_stream_read_view(c->st, &p)) > 0) {
		if (c->data) {
			used = data_scan(c, p, n);
			c->msg_bytes += used;
			if (c->save_seq != 0)
				save_append(c, p, used);
			if (!c->data) {
				message_end(c);
				/* Fits: commands are only read with no reply
				 * waiting, so at most the 354 is queued. */
				REPLY(c, "250 2.0.0 Ok: queued\r\n");
			}
		} else {
			used = command_bytes(c, p, n);
			if (used == 0)
				return; /* on_writable resumes */
		}
		mx_stream_consume(c->st, used);
	}
	if (c->closing) {
		mx_stream_consume(c->st, mx_stream_readable(c->st));
		return;
	}
	if (mx_stream_peer_closed(c->st)) {
		c->closing = true;
		mx_stream_close(c->st);
	}
}

static void
sc_readable(struct mx_stream *st, void *arg)
{
	conn_input(arg);
}

static void
sc_writable(struct mx_stream *st, void *arg)
{
	struct sconn *c = arg;

	conn_flush(c);
	if (c->out_len == 0 && !c->closing) {
		conn_input(c);
		mx_stream_want_read(st);
	}
}

static void
sc_connected(struct mx_stream *st, int err, void *arg)
{
}

static void
sc_closed(struct mx_stream *st, int err, void *arg)
{
	struct sconn *c = arg;
	struct mx_bench_sink *k = c->k;

	free(c->save);
	c->save = NULL;
	c->st = NULL;
	k->free_idx[k->n_free++] = c->idx;
}

static const struct mx_stream_cb sconn_cb = {
	.on_readable = sc_readable,
	.on_writable = sc_writable,
	.on_connected = sc_connected,
	.on_closed = sc_closed,
};

static void
sink_accept(struct mx_listener *l, struct mx_stream *st, void *arg)
{
	struct mx_bench_sink *k = arg;
	struct sconn *c;
	unsigned idx;

	if (k->n_free == 0) {
		k->st->refused++;
		mx_stream_abort(st);
		return;
	}
	idx = k->free_idx[--k->n_free];
	c = &k->conns[idx];
	memset(c, 0, sizeof(*c));
	c->k = k;
	c->idx = idx;
	c->st = st;
	k->st->sessions++;
	mx_stream_set_cb(st, &sconn_cb, c);
	REPLY(c, "220 sink.bench.test ESMTP mxedge-bench sink\r\n");
}

/* The connection pool and the listener, on a loop that has room for
 * c->max_conns more streams. */
int
mx_bench_sink_attach(struct mx_loop *loop, const struct mx_bench_sink_conf *c,
		struct mx_bench_sink_stats *st, struct mx_bench_sink **out)
{
	struct mx_bench_sink *k;
	int rc;

	if (c->max_conns == 0 || c->max_conns > MX_BENCH_CONCURRENCY_CAP)
		return -EINVAL;
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return -ENOMEM;
	k->c = c;
	k->st = st;
	k->loop = loop;
	k->conns = calloc(c->max_conns, sizeof(*k->conns));
	k->free_idx = calloc(c->max_conns, sizeof(*k->free_idx));
	if (k->conns == NULL || k->free_idx == NULL) {
		mx_bench_sink_free(k);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < c->max_conns; i++)
		k->free_idx[i] = c->max_conns - 1u - i;
	k->n_free = c->max_conns;
	rc = mx_listen(loop, &c->listen, sink_accept, k, &k->lis);
	if (rc != 0) {
		mx_bench_sink_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

void
mx_bench_sink_local(const struct mx_bench_sink *k, struct mx_addr *out)
{
	mx_listener_local(k->lis, out);
}

void
mx_bench_sink_close(struct mx_bench_sink *k)
{
	if (k->lis != NULL)
		mx_listener_close(k->lis);
	k->lis = NULL;
}

void
mx_bench_sink_free(struct mx_bench_sink *k)
{
	if (k == NULL)
		return;
	for (unsigned i = 0; k->conns != NULL && i < k->c->max_conns; i++)
		free(k->conns[i].save);
	free(k->conns);
	free(k->free_idx);
	free(k);
}

int
mx_bench_sink_run(const struct mx_bench_sink_conf *c, volatile int *stop,
		struct mx_bench_sink_stats *st)
{
	struct mx_bench_sink *k = NULL;
	struct mx_loop *loop = NULL;
	struct mx_loop_conf lc;
	struct mx_addr bound;
	uint64_t end;
	char buf[64];
	int rc = -EINVAL;

	if (c->duration_s == 0 || c->duration_s > MX_BENCH_DURATION_CAP_S * 24u ||
			c->max_conns == 0 || c->max_conns > MX_BENCH_CONCURRENCY_CAP)
		return rc;
	memset(&lc, 0, sizeof(lc));
	lc.transport = c->transport;
	lc.max_streams = c->max_conns + 16u;
	lc.rcvbuf_bytes = 64u << 10;
	lc.sndbuf_bytes = 16u << 10;
	lc.linger_ms = 2000;
	rc = mx_loop_create(&lc, &loop);
	if (rc == 0)
		rc = mx_bench_sink_attach(loop, c, st, &k);
	if (rc == 0) {
		mx_bench_sink_local(k, &bound);
		mx_addr_format(&bound, true, buf, sizeof(buf));
		printf("sink listening on %s\n", buf);
		fflush(stdout);
		end = mx_clock_ms() + (uint64_t)c->duration_s * 1000u;
		while (!*stop && mx_clock_ms() < end)
			if (mx_loop_run_once(loop, 100) != 0)
				break;
		mx_bench_sink_close(k);
	}
	/* the loop first: closing its streams still touches the pool */
	if (loop != NULL)
		mx_loop_free(loop);
	mx_bench_sink_free(k);
	return rc;
}
