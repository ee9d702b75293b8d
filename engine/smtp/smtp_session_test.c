/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smtp_session_test: the SMTP receiver end to end over the real kernel
 * transport (dataplane/ksock through mx_stream.h) on 127.0.0.1 with an
 * ephemeral port. The test is the client, through a plain socket, and
 * pumps mx_loop_run_once() until the reply it expects has arrived; every
 * wait is bounded in passes. Delivery is a recording sink implementing
 * mx_deliver_ops: it keeps the message bytes (Received header included)
 * and answers 250, 451 or 554 as a test asks, at once or when told.
 *
 * The tests: every command in every state (a table), pipelining, each
 * limit with a negative test, BDAT, timeouts, early talker, the
 * synchronisation errors, relay denial, the smuggling sequences, drain
 * and reload.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "mx_conf.h"
#include "mx_connlimit.h"
#include "mx_deliver.h"
#include "mx_log.h"
#include "mx_metrics.h"
#include "mx_msg.h"
#include "mx_smtp.h"
#include "mx_stream.h"
#include "mx_io.h"
#include "mx_vlog.h"

#define HOST "mx.test"
#define PASSES 1500   /* x 5 ms: a reply that takes longer is a failure */

/* ---- recording delivery sink ---- */

enum sink_mode {
	SINK_AUTO = 0, /* answer on the next loop pass */
	SINK_HOLD,     /* wait for sink_complete() */
	SINK_FAIL,     /* submit itself fails */
};

struct sink {
	struct mx_deliver d;
	enum sink_mode mode;
	int code;
	char text[256];
	bool live;
	mx_deliver_done_fn *done;
	void *arg;
	uint64_t handle, next_handle;
	unsigned n_submit, n_detach;
	char data[131072];
	size_t len;
	char rcpt[4][300];
	unsigned n_rcpt;
	char mail_from[300];
	char id[MX_MSG_ID_SIZE];
};

static int
sink_submit(void *impl, struct mx_msg *m, mx_deliver_done_fn *done, void *arg,
		uint64_t *handle)
{
	struct sink *k = impl;
	size_t off = 0, n;
	const uint8_t *p;
	unsigned i;

	k->n_submit++;
	k->len = 0;
	assert_true(m->prepend.len < sizeof(k->data));
	memcpy(k->data, m->prepend.p, m->prepend.len);
	k->len = m->prepend.len;
	while ((n = mx_msg_view(m, off, &p)) > 0) {
		assert_true(k->len + n <= sizeof(k->data));
		memcpy(k->data + k->len, p, n);
		k->len += n;
		off += n;
	}
	assert_int_equal(off, m->size);
	k->n_rcpt = m->n_rcpts;
	for (i = 0; i < m->n_rcpts && i < 4; i++)
		snprintf(k->rcpt[i], sizeof(k->rcpt[i]), "%.*s",
				(int)m->rcpts[i].addr.len, m->rcpts[i].addr.p);
	snprintf(k->mail_from, sizeof(k->mail_from), "%.*s",
			(int)m->mail_from.len, m->mail_from.p);
	memcpy(k->id, m->id, sizeof(k->id));
	/* The session must not touch the msg after submit: release it now
	 * so ASan sees any use after the hand-off. */
	mx_msg_release(m);
	if (k->mode == SINK_FAIL)
		return -EIO;
	k->live = true;
	k->done = done;
	k->arg = arg;
	k->handle = *handle = ++k->next_handle;
	return 0;
}

static void
sink_detach(void *impl, uint64_t handle)
{
	struct sink *k = impl;

	if (k->live && handle == k->handle) {
		k->live = false;
		k->n_detach++;
	}
}

static const struct mx_deliver_ops sink_ops = { sink_submit, sink_detach };

static void
sink_complete(struct sink *k)
{
	struct mx_deliver_result res;

	if (!k->live)
		return;
	k->live = false;
	memset(&res, 0, sizeof(res));
	res.code = k->code;
	snprintf(res.text, sizeof(res.text), "%s", k->text);
	res.via = "spool";
	res.latency_us = 7;
	k->done(k->arg, &res);
}

static void
sink_poll(void *arg)
{
	struct sink *k = arg;

	if (k->mode == SINK_AUTO)
		sink_complete(k);
}

/* ---- the server under test ---- */

struct server {
	struct mx_conf *conf;
	struct mx_loop *loop;
	struct mx_listener *l;
	struct mx_smtp_worker *w;
	struct mx_chunk_pool *pool;
	struct mx_connlimit *cl;
	struct mx_addr addr;
	struct sink sink;
	struct mx_io *io;         /* verdict log test only */
	struct mx_vlog *vlog;
	struct mx_vlog_port *vport;
};

static struct server S;
static struct mx_stats stats;

typedef void tweak_fn(struct mx_conf *c);

static struct mx_conf *
conf_make(tweak_fn *tweak)
{
	struct mx_conf *c;
	char err[256];

	assert_int_equal(mx_conf_new(&c), 0);
	snprintf(c->hostname, sizeof(c->hostname), "%s", HOST);
	assert_int_equal(mx_conf_set(c, "local-domain", "example.org", err, sizeof(err)), 0);
	assert_int_equal(mx_conf_set(c, "local-domain", "example.net", err, sizeof(err)), 0);
	if (tweak != NULL)
		tweak(c);
	return c;
}

static void
server_start_vlog(tweak_fn *tweak, unsigned max_sessions, const char *vlog_path)
{
	struct mx_loop_conf lc = {
		.transport = MX_TRANSPORT_KERNEL,
		.max_streams = 64,
		.rcvbuf_bytes = 65536,
		.sndbuf_bytes = 65536,
	};
	struct mx_smtp_env env;
	struct mx_addr any;

	memset(&S, 0, sizeof(S));
	memset(&stats, 0, sizeof(stats));
	S.conf = conf_make(tweak);
	assert_int_equal(mx_loop_create(&lc, &S.loop), 0);
	assert_int_equal(mx_chunk_pool_create(16384, 4u << 20, &S.pool), 0);
	assert_int_equal(mx_connlimit_create(1024, &S.cl), 0);
	S.sink.d.ops = &sink_ops;
	S.sink.d.impl = &S.sink;
	S.sink.code = 250;
	snprintf(S.sink.text, sizeof(S.sink.text), "2.0.0 Ok: queued");
	assert_int_equal(mx_loop_add_poller(S.loop, sink_poll, &S.sink), 0);
	memset(&env, 0, sizeof(env));
	env.loop = S.loop;
	env.conf = S.conf;
	env.deliver = &S.sink.d;
	env.stats = &stats;
	env.pool = S.pool;
	env.climit = S.cl;
	if (vlog_path != NULL) {
		struct mx_io_port *port;

		assert_int_equal(mx_io_create(&S.io), 0);
		assert_int_equal(mx_io_port_create(S.io, S.loop, 64, &port), 0);
		assert_int_equal(mx_vlog_open(vlog_path, S.io, &S.vlog), 0);
		assert_int_equal(mx_vlog_port_create(S.vlog, port, &stats, &S.vport), 0);
		env.vlog = S.vport;
	}
	assert_int_equal(mx_smtp_worker_create(&env, max_sessions, &S.w), 0);
	assert_int_equal(mx_addr_parse("127.0.0.1:0", -1, &any), 0);
	assert_int_equal(mx_listen(S.loop, &any, mx_smtp_accept, S.w, &S.l), 0);
	mx_listener_local(S.l, &S.addr);
}

static void
server_start(tweak_fn *tweak, unsigned max_sessions)
{
	server_start_vlog(tweak, max_sessions, NULL);
}

static void
pump(void)
{
	assert_true(mx_loop_run_once(S.loop, 5) >= 0);
}

static void
server_stop(void)
{
	int i;

	for (i = 0; i < PASSES && mx_smtp_n_sessions(S.w) > 0; i++)
		pump();
	mx_listener_close(S.l);
	mx_loop_free(S.loop);
	if (S.io != NULL) {
		/* After the loop: the I/O thread finishes what is queued,
		 * then the vlog writes what is left in its ring. */
		mx_io_free(S.io);
		mx_vlog_free(S.vlog);
	}
	assert_int_equal(mx_smtp_n_sessions(S.w), 0);
	mx_smtp_worker_free(S.w);
	assert_int_equal(mx_chunk_pool_bytes_in_use(S.pool), 0);
	mx_chunk_pool_free(S.pool);
	assert_int_equal(mx_connlimit_total(S.cl), 0);
	mx_connlimit_free(S.cl);
	mx_conf_put(S.conf);
}

static uint64_t
st_get(enum mx_stat k)
{
	return atomic_load(&stats.v[k]);
}

/* ---- the client ---- */

struct client {
	int fd;
	char buf[65536];
	size_t len;
	bool eof;
};

static void
cl_read(struct client *c)
{
	for (;;) {
		ssize_t n;

		if (c->len == sizeof(c->buf))
			return;
		n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (n > 0) {
			c->len += (size_t)n;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			c->eof = true;
		return;
	}
}

static void
cl_connect(struct client *c)
{
	struct sockaddr_in sa;

	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(c->fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(S.addr.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* Blocking connect: the kernel completes it from the backlog. */
	assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(fcntl(c->fd, F_SETFL, O_NONBLOCK), 0);
}

static void
cl_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static void
cl_send_n(struct client *c, const char *p, size_t n)
{
	size_t off = 0;
	int tries = 0;

	while (off < n) {
		ssize_t k = send(c->fd, p + off, n - off, MSG_NOSIGNAL);

		if (k > 0) {
			off += (size_t)k;
			continue;
		}
		assert_true(k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
		assert_true(++tries < PASSES);
		pump();
		cl_read(c);
	}
}

static void
cl_send(struct client *c, const char *s)
{
	cl_send_n(c, s, strlen(s));
}

/* Length of the first complete reply in the buffer (the line whose code
 * is followed by a space ends it), or 0. */
static size_t
reply_len(const struct client *c)
{
	size_t i = 0;

	while (i < c->len) {
		const char *nl = memchr(c->buf + i, '\n', c->len - i);
		size_t line;

		if (nl == NULL)
			return 0;
		line = (size_t)(nl - (c->buf + i)) + 1;
		if (line < 5 || c->buf[i + 3] != '-')
			return i + line;
		i += line;
	}
	return 0;
}

/* Waits for one reply; copies it (NUL-terminated) and returns its code,
 * or -1 when the connection closed first. */
static int
cl_reply(struct client *c, char *out, size_t size)
{
	size_t n;
	int i;

	for (i = 0; i < PASSES; i++) {
		n = reply_len(c);
		if (n > 0) {
			snprintf(out, size, "%.*s", (int)n, c->buf);
			if (getenv("SMTP_T_DEBUG") != NULL)
				fprintf(stderr, "reply: [%s]\n", out);
			memmove(c->buf, c->buf + n, c->len - n);
			c->len -= n;
			return atoi(out);
		}
		if (c->eof)
			return -1;
		pump();
		cl_read(c);
	}
	fail_msg("no reply within %d passes (have %zu bytes)", PASSES, c->len);
	return -1;
}

/* Expects a reply starting with want ("250 2.1.0", "354", ...). */
static void
cl_expect_at(struct client *c, const char *want, int line)
{
	char r[4096];

	if (cl_reply(c, r, sizeof(r)) < 0 || strncmp(r, want, strlen(want)) != 0)
		fail_msg("line %d: want \"%s\", got \"%s\"", line, want, r);
}

#define cl_expect(c, w) cl_expect_at((c), (w), __LINE__)

/* The server closed: EOF within the bound, with nothing else sent. */
static void
cl_expect_closed_at(struct client *c, int line)
{
	int i;

	for (i = 0; i < PASSES && !c->eof; i++) {
		pump();
		cl_read(c);
	}
	if (!c->eof || c->len != 0)
		fail_msg("line %d: want close, eof %d, %zu bytes left", line, c->eof, c->len);
}

#define cl_expect_closed(c) cl_expect_closed_at((c), __LINE__)

static void
cl_open(struct client *c)
{
	cl_connect(c);
	cl_expect(c, "220 " HOST " ESMTP mxedge");
}

static void
cl_ehlo(struct client *c)
{
	cl_open(c);
	cl_send(c, "EHLO client.example\r\n");
	cl_expect(c, "250-" HOST);
}

static void
cl_rcpt(struct client *c)
{
	cl_ehlo(c);
	cl_send(c, "MAIL FROM:<a@b.example>\r\n");
	cl_expect(c, "250 2.1.0");
	cl_send(c, "RCPT TO:<u@example.org>\r\n");
	cl_expect(c, "250 2.1.5");
}

/* Runs the loop a while with no reply expected. */
static void
settle(struct client *c, int passes)
{
	int i;

	for (i = 0; i < passes; i++) {
		pump();
		cl_read(c);
	}
}

/* ---- every command in every state ---- */

enum st { ST_INIT, ST_HELO, ST_EHLO, ST_MAIL, ST_RCPT, ST__N };

struct cmd_row {
	const char *cmd;
	const char *want[ST__N];
};

static const struct cmd_row cmd_rows[] = {
	{ "HELO x.example", { "250 " HOST, "250 " HOST, "250 " HOST, "250 " HOST, "250 " HOST } },
	{ "EHLO x.example", { "250-" HOST, "250-" HOST, "250-" HOST, "250-" HOST, "250-" HOST } },
	{ "HELO", { "501 5.5.4", "501 5.5.4", "501 5.5.4", "501 5.5.4", "501 5.5.4" } },
	{ "EHLO two words", { "501 5.5.4", "501 5.5.4", "501 5.5.4", "501 5.5.4", "501 5.5.4" } },
	{ "MAIL FROM:<s@b.example>", { "503 5.5.1", "250 2.1.0", "250 2.1.0", "503 5.5.1", "503 5.5.1" } },
	{ "MAIL FROM:<>", { "503 5.5.1", "250 2.1.0", "250 2.1.0", "503 5.5.1", "503 5.5.1" } },
	{ "MAIL FROM:<s@b.example> SIZE=10", { "503 5.5.1", "555 5.5.4", "250 2.1.0", "503 5.5.1", "503 5.5.1" } },
	{ "MAIL FROM:s@b.example", { "503 5.5.1", "501 5.1.7", "501 5.1.7", "503 5.5.1", "503 5.5.1" } },
	{ "MAIL TO:<s@b.example>", { "503 5.5.1", "501 5.5.4", "501 5.5.4", "503 5.5.1", "503 5.5.1" } },
	{ "RCPT TO:<v@example.org>", { "503 5.5.1", "503 5.5.1", "503 5.5.1", "250 2.1.5", "250 2.1.5" } },
	{ "RCPT TO:<v@EXAMPLE.NET>", { "503 5.5.1", "503 5.5.1", "503 5.5.1", "250 2.1.5", "250 2.1.5" } },
	{ "RCPT TO:<postmaster>", { "503 5.5.1", "503 5.5.1", "503 5.5.1", "250 2.1.5", "250 2.1.5" } },
	{ "RCPT TO:<v@elsewhere.example>", { "503 5.5.1", "503 5.5.1", "503 5.5.1", "550 5.7.1", "550 5.7.1" } },
	{ "RCPT TO:<v@[192.0.2.1]>", { "503 5.5.1", "503 5.5.1", "503 5.5.1", "550 5.7.1", "550 5.7.1" } },
	{ "RCPT TO:v@example.org", { "503 5.5.1", "503 5.5.1", "503 5.5.1", "501 5.1.3", "501 5.1.3" } },
	{ "RCPT TO:<v@example.org> NOTIFY=NEVER", { "503 5.5.1", "503 5.5.1", "503 5.5.1", "555 5.5.4", "555 5.5.4" } },
	{ "RCPT TO:<\xc3\xbc@example.org>", { "503 5.5.1", "503 5.5.1", "503 5.5.1", "553 5.6.7", "553 5.6.7" } },
	{ "DATA", { "503 5.5.1", "503 5.5.1", "503 5.5.1", "503 5.5.1", "354" } },
	{ "DATA now", { "501 5.5.4", "501 5.5.4", "501 5.5.4", "501 5.5.4", "501 5.5.4" } },
	{ "BDAT 0 LAST", { "502 5.5.1", "502 5.5.1", "503 5.5.1", "503 5.5.1", "250 2.0.0" } },
	{ "RSET", { "250 2.0.0", "250 2.0.0", "250 2.0.0", "250 2.0.0", "250 2.0.0" } },
	{ "RSET now", { "501 5.5.4", "501 5.5.4", "501 5.5.4", "501 5.5.4", "501 5.5.4" } },
	{ "NOOP", { "250 2.0.0", "250 2.0.0", "250 2.0.0", "250 2.0.0", "250 2.0.0" } },
	{ "NOOP with text", { "250 2.0.0", "250 2.0.0", "250 2.0.0", "250 2.0.0", "250 2.0.0" } },
	{ "QUIT", { "221 2.0.0", "221 2.0.0", "221 2.0.0", "221 2.0.0", "221 2.0.0" } },
	{ "QUIT now", { "501 5.5.4", "501 5.5.4", "501 5.5.4", "501 5.5.4", "501 5.5.4" } },
	{ "HELP", { "214 2.0.0", "214 2.0.0", "214 2.0.0", "214 2.0.0", "214 2.0.0" } },
	{ "VRFY root", { "252 2.5.0", "252 2.5.0", "252 2.5.0", "252 2.5.0", "252 2.5.0" } },
	{ "VRFY", { "501 5.5.4", "501 5.5.4", "501 5.5.4", "501 5.5.4", "501 5.5.4" } },
	{ "EXPN staff", { "502 5.5.1", "502 5.5.1", "502 5.5.1", "502 5.5.1", "502 5.5.1" } },
	{ "STARTTLS", { "502 5.5.1", "502 5.5.1", "502 5.5.1", "502 5.5.1", "502 5.5.1" } },
	{ "AUTH PLAIN AGFAAGI=", { "502 5.5.1", "502 5.5.1", "502 5.5.1", "502 5.5.1", "502 5.5.1" } },
	{ "TURN", { "500 5.5.2", "500 5.5.2", "500 5.5.2", "500 5.5.2", "500 5.5.2" } },
	{ "ETRN example.org", { "500 5.5.2", "500 5.5.2", "500 5.5.2", "500 5.5.2", "500 5.5.2" } },
	{ "GET / HTTP/1.1", { "554 5.7.0", "554 5.7.0", "554 5.7.0", "554 5.7.0", "554 5.7.0" } },
	{ "", { "500 5.5.2", "500 5.5.2", "500 5.5.2", "500 5.5.2", "500 5.5.2" } },
};

static void
goto_state(struct client *c, enum st st)
{
	cl_open(c);
	if (st == ST_INIT)
		return;
	if (st == ST_HELO) {
		cl_send(c, "HELO client.example\r\n");
		cl_expect(c, "250 " HOST);
		return;
	}
	cl_send(c, "EHLO client.example\r\n");
	cl_expect(c, "250-" HOST);
	if (st == ST_EHLO)
		return;
	cl_send(c, "MAIL FROM:<a@b.example>\r\n");
	cl_expect(c, "250 2.1.0");
	if (st == ST_MAIL)
		return;
	cl_send(c, "RCPT TO:<u@example.org>\r\n");
	cl_expect(c, "250 2.1.5");
}

static void
test_every_command_every_state(void **state)
{
	size_t i;
	int st;

	(void)state;
	server_start(NULL, 16);
	for (i = 0; i < MX_ARRAY_SIZE(cmd_rows); i++) {
		for (st = 0; st < ST__N; st++) {
			struct client c;
			char line[512], r[4096];

			goto_state(&c, (enum st)st);
			snprintf(line, sizeof(line), "%s\r\n", cmd_rows[i].cmd);
			cl_send(&c, line);
			if (cl_reply(&c, r, sizeof(r)) < 0 ||
					strncmp(r, cmd_rows[i].want[st], strlen(cmd_rows[i].want[st])) != 0)
				fail_msg("\"%s\" in state %d: want \"%s\", got \"%s\"",
						cmd_rows[i].cmd, st, cmd_rows[i].want[st], r);
			/* After a good command the session still answers. */
			if (atoi(r) != 221 && atoi(r) != 554 && atoi(r) != 354) {
				cl_send(&c, "NOOP\r\n");
				cl_expect(&c, "250 2.0.0");
			}
			cl_close(&c);
		}
	}
	server_stop();
}

/* ---- greeting, EHLO, transaction ---- */

static void
test_ehlo_keywords(void **state)
{
	struct client c;
	char r[4096];

	(void)state;
	server_start(NULL, 4);
	cl_open(&c);
	cl_send(&c, "EHLO client.example\r\n");
	assert_int_equal(cl_reply(&c, r, sizeof(r)), 250);
	assert_string_equal(r, "250-" HOST "\r\n250-PIPELINING\r\n250-SIZE 36700160\r\n"
			"250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n"
			"250 CHUNKING\r\n");
	cl_close(&c);
	server_stop();
}

static void
tweak_no_ext(struct mx_conf *c)
{
	c->pipelining = false;
	c->chunking = false;
	c->max_message_size = 1000;
}

static void
test_ehlo_without_pipelining_chunking(void **state)
{
	struct client c;
	char r[4096];

	(void)state;
	server_start(tweak_no_ext, 4);
	cl_open(&c);
	cl_send(&c, "EHLO client.example\r\n");
	assert_int_equal(cl_reply(&c, r, sizeof(r)), 250);
	assert_string_equal(r, "250-" HOST "\r\n250-SIZE 1000\r\n250-8BITMIME\r\n"
			"250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES\r\n");
	cl_close(&c);
	server_stop();
}

static void
test_data_transaction(void **state)
{
	struct client c;
	char r[512];
	const char *body;

	(void)state;
	server_start(NULL, 4);
	cl_rcpt(&c);
	cl_send(&c, "DATA\r\n");
	cl_expect(&c, "354");
	cl_send(&c, "Subject: t\r\n\r\n..leading dot\r\nline\r\n.\r\n");
	assert_int_equal(cl_reply(&c, r, sizeof(r)), 250);
	assert_string_equal(r, "250 2.0.0 Ok: queued\r\n");
	assert_int_equal(S.sink.n_submit, 1);
	assert_int_equal(S.sink.n_rcpt, 1);
	assert_string_equal(S.sink.rcpt[0], "u@example.org");
	assert_string_equal(S.sink.mail_from, "a@b.example");
	/* RFC 5321 4.4 trace field first, then the unstuffed message. */
	S.sink.data[S.sink.len] = '\0';
	{
		static const char rcvd[] = "Received: from client.example (unknown [127.0.0.1])\r\n"
				"\tby " HOST " (mxedge) with ESMTP id ";

		assert_true(strncmp(S.sink.data, rcvd, sizeof(rcvd) - 1) == 0);
	}
	assert_non_null(strstr(S.sink.data, S.sink.id));
	assert_non_null(strstr(S.sink.data, "\r\n\tfor <u@example.org>; "));
	body = strstr(S.sink.data, "\r\nSubject: t\r\n");
	assert_non_null(body);
	assert_string_equal(body + 2, "Subject: t\r\n\r\n.leading dot\r\nline\r\n");
	assert_int_equal(st_get(MX_STAT_TXN_ACCEPTED), 1);
	/* The session goes on: a second transaction on the same connection. */
	cl_send(&c, "MAIL FROM:<>\r\n");
	cl_expect(&c, "250 2.1.0");
	cl_send(&c, "RCPT TO:<u@example.org>\r\n");
	cl_expect(&c, "250 2.1.5");
	cl_send(&c, "RCPT TO:<postmaster>\r\n");
	cl_expect(&c, "250 2.1.5");
	cl_send(&c, "DATA\r\n");
	cl_expect(&c, "354");
	cl_send(&c, ".\r\n");
	cl_expect(&c, "250 2.0.0");
	assert_int_equal(S.sink.n_submit, 2);
	assert_int_equal(S.sink.n_rcpt, 2);
	assert_string_equal(S.sink.rcpt[1], "postmaster@example.org");
	assert_string_equal(S.sink.mail_from, "");
	S.sink.data[S.sink.len] = '\0';
	assert_null(strstr(S.sink.data, "\tfor <"));
	cl_send(&c, "QUIT\r\n");
	cl_expect(&c, "221 2.0.0");
	cl_expect_closed(&c);
	cl_close(&c);
	server_stop();
}

static void
test_delivery_results(void **state)
{
	struct client c;
	char r[512];

	(void)state;
	server_start(NULL, 4);
	cl_rcpt(&c);
	S.sink.code = 451;
	snprintf(S.sink.text, sizeof(S.sink.text), "4.4.1 downstream\r\nbusy");
	cl_send(&c, "DATA\r\n");
	cl_expect(&c, "354");
	cl_send(&c, "x\r\n.\r\n");
	assert_int_equal(cl_reply(&c, r, sizeof(r)), 451);
	/* The downstream's text reaches the client printable only. */
	assert_string_equal(r, "451 4.4.1 downstreambusy\r\n");
	assert_int_equal(st_get(MX_STAT_TXN_TEMPFAIL), 1);
	S.sink.code = 554;
	snprintf(S.sink.text, sizeof(S.sink.text), "5.7.1 refused");
	cl_send(&c, "MAIL FROM:<a@b.example>\r\nRCPT TO:<u@example.org>\r\nDATA\r\n");
	cl_expect(&c, "250 2.1.0");
	cl_expect(&c, "250 2.1.5");
	cl_expect(&c, "354");
	cl_send(&c, "x\r\n.\r\n");
	cl_expect(&c, "554 5.7.1 refused");
	assert_int_equal(st_get(MX_STAT_TXN_REJECTED), 1);
	/* A submit that fails outright: 451 4.3.0. */
	S.sink.mode = SINK_FAIL;
	cl_send(&c, "MAIL FROM:<a@b.example>\r\nRCPT TO:<u@example.org>\r\nDATA\r\n");
	cl_expect(&c, "250 2.1.0");
	cl_expect(&c, "250 2.1.5");
	cl_expect(&c, "354");
	cl_send(&c, "x\r\n.\r\n");
	cl_expect(&c, "451 4.3.0");
	assert_int_equal(st_get(MX_STAT_TXN_TEMPFAIL), 2);
	cl_close(&c);
	server_stop();
}

/* Input is not read while the delivery runs; the pipelined QUIT is
 * answered after the final reply, in order. */
static void
test_delivery_holds_input(void **state)
{
	struct client c;

	(void)state;
	server_start(NULL, 4);
	S.sink.mode = SINK_HOLD;
	cl_rcpt(&c);
	cl_send(&c, "DATA\r\n");
	cl_expect(&c, "354");
	cl_send(&c, "x\r\n.\r\nQUIT\r\n");
	settle(&c, 40);
	assert_int_equal(c.len, 0);
	assert_false(c.eof);
	assert_int_equal(S.sink.n_submit, 1);
	sink_complete(&S.sink);
	cl_expect(&c, "250 2.0.0");
	cl_expect(&c, "221 2.0.0");
	cl_expect_closed(&c);
	cl_close(&c);
	server_stop();
}

static void
test_disconnect_during_delivery(void **state)
{
	struct client c;
	int i;

	(void)state;
	server_start(NULL, 4);
	S.sink.mode = SINK_HOLD;
	cl_rcpt(&c);
	cl_send(&c, "DATA\r\n");
	cl_expect(&c, "354");
	cl_send(&c, "x\r\n.\r\n");
	for (i = 0; i < PASSES && S.sink.n_submit == 0; i++)
		pump();
	assert_int_equal(S.sink.n_submit, 1);
	/* RST: the transport reports the stream gone. */
	{
		struct linger lg = { 1, 0 };

		setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	cl_close(&c);
	for (i = 0; i < PASSES && mx_smtp_n_sessions(S.w) > 0; i++)
		pump();
	assert_int_equal(mx_smtp_n_sessions(S.w), 0);
	assert_int_equal(S.sink.n_detach, 1);
	assert_false(S.sink.live);
	server_stop();
}

/* ---- pipelining ---- */

static void
test_pipelined_replies_in_order(void **state)
{
	struct client c;

	(void)state;
	server_start(NULL, 4);
	cl_ehlo(&c);
	cl_send(&c, "MAIL FROM:<a@b.example>\r\nRCPT TO:<u@example.org>\r\n"
			"RCPT TO:<x@elsewhere.example>\r\nRCPT TO:bad\r\n"
			"RCPT TO:<v@example.net>\r\nDATA\r\n");
	cl_expect(&c, "250 2.1.0");
	cl_expect(&c, "250 2.1.5");
	cl_expect(&c, "550 5.7.1");
	cl_expect(&c, "501 5.1.3");
	cl_expect(&c, "250 2.1.5");
	cl_expect(&c, "354");
	cl_send(&c, "hello\r\n.\r\nRSET\r\nNOOP\r\n");
	cl_expect(&c, "250 2.0.0 Ok: queued");
	cl_expect(&c, "250 2.0.0");
	cl_expect(&c, "250 2.0.0");
	assert_int_equal(S.sink.n_rcpt, 2);
	assert_int_equal(st_get(MX_STAT_RELAY_DENIED), 1);
	cl_close(&c);
	server_stop();
}

struct sync_case {
	const char *setup;   /* "EHLO" or "HELO" */
	const char *burst;
	const char *first;   /* replies before the 554, NULL for none */
};

static const struct sync_case sync_cases[] = {
	/* EHLO is last in a group (RFC 2920 3.1). */
	{ NULL, "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\n", NULL },
	/* DATA is last: content before 354 is a violation, never data. */
	{ "EHLO", "MAIL FROM:<a@b.example>\r\nRCPT TO:<u@example.org>\r\nDATA\r\nSubject: x\r\n", "250 2.1.0|250 2.1.5" },
	{ "EHLO", "NOOP\r\nNOOP\r\n", NULL },
	/* After HELO nothing may be pipelined. */
	{ "HELO", "MAIL FROM:<a@b.example>\r\nRCPT TO:<u@example.org>\r\n", NULL },
	{ "HELO", "RSET\r\nNOOP\r\n", NULL },
};

static void
test_sync_errors(void **state)
{
	size_t i;

	(void)state;
	server_start(NULL, 4);
	for (i = 0; i < MX_ARRAY_SIZE(sync_cases); i++) {
		const struct sync_case *sc = &sync_cases[i];
		uint64_t before = st_get(MX_STAT_PIPELINING_REFUSED);
		struct client c;

		cl_open(&c);
		if (sc->setup != NULL) {
			cl_send(&c, sc->setup[0] == 'E' ? "EHLO c.example\r\n" : "HELO c.example\r\n");
			cl_expect(&c, "250");
		}
		cl_send(&c, sc->burst);
		if (sc->first != NULL) {
			char want[64];
			const char *p = sc->first, *bar;

			while (p != NULL) {
				bar = strchr(p, '|');
				snprintf(want, sizeof(want), "%.*s",
						(int)(bar != NULL ? (size_t)(bar - p) : strlen(p)), p);
				cl_expect(&c, want);
				p = bar != NULL ? bar + 1 : NULL;
			}
		}
		cl_expect(&c, "554 5.5.0 Error: SMTP protocol synchronization");
		cl_expect_closed(&c);
		assert_int_equal(st_get(MX_STAT_PIPELINING_REFUSED), before + 1);
		cl_close(&c);
	}
	assert_int_equal(S.sink.n_submit, 0);
	server_stop();
}

/* ---- greeting delay and early talkers ---- */

static void
tweak_delay(struct mx_conf *c)
{
	c->greeting_delay_ms = 500;
}

static void
test_early_talker(void **state)
{
	struct client c;

	(void)state;
	server_start(tweak_delay, 4);
	cl_connect(&c);
	cl_send(&c, "EHLO eager.example\r\n");
	cl_expect(&c, "554 5.5.0 " HOST " Error: SMTP protocol synchronization");
	cl_expect_closed(&c);
	assert_int_equal(st_get(MX_STAT_EARLY_TALKER), 1);
	cl_close(&c);
	/* A patient client gets the 220 after the delay. */
	cl_connect(&c);
	cl_expect(&c, "220 " HOST " ESMTP mxedge");
	cl_send(&c, "EHLO patient.example\r\n");
	cl_expect(&c, "250-" HOST);
	assert_int_equal(st_get(MX_STAT_EARLY_TALKER), 1);
	cl_close(&c);
	server_stop();
}

/* ---- limits, each with a negative test ---- */

static void
tweak_limits(struct mx_conf *c)
{
	c->max_command_line = 64;
	c->max_text_line = 100;
	c->max_message_size = 1000;
	c->max_recipients = 2;
	c->max_errors = 5;
}

static void
test_command_line_limit(void **state)
{
	struct client c;
	char line[200];

	(void)state;
	server_start(tweak_limits, 4);
	cl_ehlo(&c);
	/* 62 bytes + CRLF = 64: fits. */
	memset(line, 'a', sizeof(line));
	memcpy(line, "NOOP ", 5);
	memcpy(line + 62, "\r\n", 3);
	cl_send(&c, line);
	cl_expect(&c, "250 2.0.0");
	/* 63 + CRLF: too long; the tail ("QUIT") is never a command. */
	memset(line, 'a', sizeof(line));
	memcpy(line, "NOOP ", 5);
	memcpy(line + 59, "QUIT\r\n", 7);
	cl_send(&c, line);
	cl_expect(&c, "500 5.5.2 Error: line too long");
	cl_send(&c, "NOOP\r\n");
	cl_expect(&c, "250 2.0.0");
	assert_int_equal(st_get(MX_STAT_LINE_TOO_LONG), 1);
	cl_close(&c);
	server_stop();
}

static void
test_text_line_limit(void **state)
{
	struct client c;
	char data[300];

	(void)state;
	server_start(tweak_limits, 4);
	cl_rcpt(&c);
	cl_send(&c, "DATA\r\n");
	cl_expect(&c, "354");
	/* 98 + CRLF = 100 fits. */
	memset(data, 'x', sizeof(data));
	memcpy(data + 98, "\r\n.\r\n", 6);
	cl_send(&c, data);
	cl_expect(&c, "250 2.0.0");
	cl_send(&c, "MAIL FROM:<a@b.example>\r\nRCPT TO:<u@example.org>\r\nDATA\r\n");
	cl_expect(&c, "250 2.1.0");
	cl_expect(&c, "250 2.1.5");
	cl_expect(&c, "354");
	/* 99 + CRLF does not: the error is sticky, the reply comes once at
	 * the end, nothing is delivered. */
	memset(data, 'x', sizeof(data));
	memcpy(data + 99, "\r\nmore\r\n.\r\n", 12);
	cl_send(&c, data);
	cl_expect(&c, "552 5.3.4 Error: message line too long");
	assert_int_equal(S.sink.n_submit, 1);
	cl_send(&c, "NOOP\r\n");
	cl_expect(&c, "250 2.0.0");
	cl_close(&c);
	server_stop();
}

static void
test_message_size_limit(void **state)
{
	struct client c;
	char data[1200];

	(void)state;
	server_start(tweak_limits, 4);
	cl_ehlo(&c);
	/* RFC 1870: refused at MAIL when the declared size is too big. */
	cl_send(&c, "MAIL FROM:<a@b.example> SIZE=1001\r\n");
	cl_expect(&c, "552 5.3.4");
	cl_send(&c, "MAIL FROM:<a@b.example> SIZE=1000\r\n");
	cl_expect(&c, "250 2.1.0");
	cl_send(&c, "RCPT TO:<u@example.org>\r\nDATA\r\n");
	cl_expect(&c, "250 2.1.5");
	cl_expect(&c, "354");
	/* 990 + Received would not count: the limit is on what the client
	 * sent. 11 lines of 90 + CRLF = 1012 > 1000. */
	for (int i = 0; i < 11; i++) {
		memset(data + i * 92, 'y', 90);
		memcpy(data + i * 92 + 90, "\r\n", 2);
	}
	memcpy(data + 11 * 92, ".\r\n", 4);
	cl_send(&c, data);
	cl_expect(&c, "552 5.3.4 Message size exceeds fixed maximum message size");
	assert_int_equal(S.sink.n_submit, 0);
	/* Exactly at the limit is fine: 10 x 92 + 78 + CRLF = 1000. */
	cl_send(&c, "MAIL FROM:<a@b.example>\r\nRCPT TO:<u@example.org>\r\nDATA\r\n");
	cl_expect(&c, "250 2.1.0");
	cl_expect(&c, "250 2.1.5");
	cl_expect(&c, "354");
	memset(data, 'y', sizeof(data));
	for (int i = 0; i < 10; i++)
		memcpy(data + i * 92 + 90, "\r\n", 2);
	memcpy(data + 920 + 78, "\r\n.\r\n", 6);
	cl_send(&c, data);
	cl_expect(&c, "250 2.0.0");
	assert_int_equal(S.sink.n_submit, 1);
	cl_close(&c);
	server_stop();
}

static void
test_recipient_limit(void **state)
{
	struct client c;

	(void)state;
	server_start(tweak_limits, 4);
	cl_rcpt(&c);
	cl_send(&c, "RCPT TO:<v@example.org>\r\n");
	cl_expect(&c, "250 2.1.5");
	cl_send(&c, "RCPT TO:<w@example.org>\r\n");
	cl_expect(&c, "452 4.5.3");
	cl_send(&c, "DATA\r\n");
	cl_expect(&c, "354");
	cl_send(&c, ".\r\n");
	cl_expect(&c, "250 2.0.0");
	assert_int_equal(S.sink.n_rcpt, 2);
	cl_close(&c);
	server_stop();
}

static void
test_error_limit(void **state)
{
	struct client c;
	int i;

	(void)state;
	server_start(tweak_limits, 4);
	cl_open(&c);
	for (i = 0; i < 4; i++) {
		cl_send(&c, "XYZZY\r\n");
		cl_expect(&c, "500 5.5.2");
	}
	cl_send(&c, "MAIL FROM:<a@b.example>\r\n");
	cl_expect(&c, "503 5.5.1");
	cl_expect(&c, "421 4.7.0 " HOST " Error: too many errors");
	cl_expect_closed(&c);
	assert_int_equal(st_get(MX_STAT_ERROR_LIMIT), 1);
	assert_int_equal(st_get(MX_STAT_UNKNOWN_COMMAND), 4);
	cl_close(&c);
	/* Four errors and good commands: still served. */
	cl_open(&c);
	for (i = 0; i < 4; i++) {
		cl_send(&c, "XYZZY\r\n");
		cl_expect(&c, "500 5.5.2");
		cl_send(&c, "NOOP\r\n");
		cl_expect(&c, "250 2.0.0");
	}
	cl_close(&c);
	server_stop();
}

static void
tweak_timeouts(struct mx_conf *c)
{
	c->timeout_greeting_ms = 300;
	c->timeout_command_ms = 300;
	c->timeout_data_ms = 300;
}

static void
test_timeouts(void **state)
{
	struct client c;
	int i;

	(void)state;
	server_start(tweak_timeouts, 4);
	/* Before EHLO. */
	cl_open(&c);
	cl_expect(&c, "421 4.4.2 " HOST " Error: timeout exceeded");
	cl_expect_closed(&c);
	cl_close(&c);
	/* Between commands, after activity (lazy re-arm keeps a chatty
	 * client alive past the first deadline). */
	cl_ehlo(&c);
	for (i = 0; i < 20; i++) {
		settle(&c, 4);
		cl_send(&c, "NOOP\r\n");
		cl_expect(&c, "250 2.0.0");
	}
	cl_expect(&c, "421 4.4.2 " HOST " Error: timeout exceeded");
	cl_expect_closed(&c);
	cl_close(&c);
	/* Inside DATA. */
	cl_rcpt(&c);
	cl_send(&c, "DATA\r\n");
	cl_expect(&c, "354");
	cl_send(&c, "partial line");
	cl_expect(&c, "421 4.4.2");
	cl_expect_closed(&c);
	cl_close(&c);
	assert_int_equal(st_get(MX_STAT_TIMEOUT), 3);
	assert_int_equal(S.sink.n_submit, 0);
	server_stop();
}

static void
tweak_per_client(struct mx_conf *c)
{
	c->max_connections_per_client = 2;
}

static void
tweak_total(struct mx_conf *c)
{
	c->max_connections = 1;
}

static void
test_connection_limits(void **state)
{
	struct client a, b, c;

	(void)state;
	server_start(tweak_per_client, 8);
	cl_open(&a);
	cl_open(&b);
	cl_connect(&c);
	cl_expect(&c, "421 4.7.0 " HOST " Too many connections");
	cl_expect_closed(&c);
	cl_close(&c);
	assert_int_equal(st_get(MX_STAT_CONN_REFUSED_CLIENT), 1);
	/* One leaves: the next is served. */
	cl_send(&a, "QUIT\r\n");
	cl_expect(&a, "221");
	cl_expect_closed(&a);
	cl_close(&a);
	for (int i = 0; i < PASSES && mx_connlimit_total(S.cl) > 1; i++)
		pump();
	cl_open(&c);
	cl_close(&c);
	cl_close(&b);
	server_stop();

	server_start(tweak_total, 8);
	cl_open(&a);
	cl_connect(&b);
	cl_expect(&b, "421 4.7.0 " HOST " Too many connections");
	cl_expect_closed(&b);
	assert_int_equal(st_get(MX_STAT_CONN_REFUSED_TOTAL), 1);
	cl_close(&b);
	cl_close(&a);
	server_stop();
}

static void
test_session_pool_empty(void **state)
{
	struct client a, b;

	(void)state;
	server_start(NULL, 1);
	cl_open(&a);
	cl_connect(&b);
	cl_expect(&b, "421 4.3.2 " HOST);
	cl_expect_closed(&b);
	assert_int_equal(st_get(MX_STAT_CONN_REFUSED_MEMORY), 1);
	cl_close(&b);
	cl_send(&a, "NOOP\r\n");
	cl_expect(&a, "250 2.0.0");
	cl_close(&a);
	server_stop();
}

static void
test_chunk_pool_exhausted(void **state)
{
	struct client c;
	static char data[70000];

	(void)state;
	server_start(NULL, 4);
	cl_rcpt(&c);
	cl_send(&c, "DATA\r\n");
	cl_expect(&c, "354");
	mx_chunk_pool_fail_after(S.pool, 0);
	for (size_t i = 0; i < sizeof(data); i += 100) {
		memset(data + i, 'z', 98);
		memcpy(data + i + 98, "\r\n", 2);
	}
	cl_send_n(&c, data, sizeof(data));
	cl_send(&c, ".\r\n");
	cl_expect(&c, "452 4.3.1 Insufficient system storage");
	assert_int_equal(S.sink.n_submit, 0);
	assert_true(st_get(MX_STAT_MEM_EXHAUSTED) >= 1);
	/* MAIL itself cannot get memory either. */
	cl_send(&c, "MAIL FROM:<a@b.example>\r\n");
	cl_expect(&c, "452 4.3.1");
	mx_chunk_pool_fail_after(S.pool, -1);
	cl_send(&c, "MAIL FROM:<a@b.example>\r\n");
	cl_expect(&c, "250 2.1.0");
	cl_close(&c);
	server_stop();
}

/* ---- bare CR / LF and smuggling ---- */

static void
tweak_normalize(struct mx_conf *c)
{
	c->bare_lf = MX_BARE_LF_NORMALIZE;
}

static const char *const smuggle[] = {
	"a\n.\nMAIL FROM:<e@vil.example>\nRCPT TO:<u@example.org>\nDATA\nx\n.\n",
	"a\r\n.\nMAIL FROM:<e@vil.example>\r\n",
	"a\n.\r\nMAIL FROM:<e@vil.example>\r\n",
	"a\r.\r\nMAIL FROM:<e@vil.example>\r\n",
	"a\r\n.\rMAIL FROM:<e@vil.example>\r\n",
	"a\rb\r\n",
};

static void
test_bare_lf_reject(void **state)
{
	struct client c;
	size_t i;

	(void)state;
	server_start(NULL, 4);
	cl_rcpt(&c);
	for (i = 0; i < MX_ARRAY_SIZE(smuggle); i++) {
		cl_send(&c, "DATA\r\n");
		cl_expect(&c, "354");
		cl_send(&c, smuggle[i]);
		cl_send(&c, "\r\n.\r\n");
		cl_expect(&c, "550 5.5.2 Error: message contains bare CR or LF");
		cl_send(&c, "MAIL FROM:<a@b.example>\r\nRCPT TO:<u@example.org>\r\n");
		cl_expect(&c, "250 2.1.0");
		cl_expect(&c, "250 2.1.5");
	}
	assert_int_equal(S.sink.n_submit, 0);
	assert_int_equal(st_get(MX_STAT_BARE_LF_REJECTED), MX_ARRAY_SIZE(smuggle));
	cl_close(&c);
	server_stop();
}

static void
test_bare_lf_normalize(void **state)
{
	struct client c;
	const char *body;

	(void)state;
	server_start(tweak_normalize, 4);
	cl_rcpt(&c);
	cl_send(&c, "DATA\r\n");
	cl_expect(&c, "354");
	cl_send(&c, smuggle[0]);
	cl_send(&c, "\r\n.\r\n");
	cl_expect(&c, "250 2.0.0");
	/* One message, every bare LF stored as CRLF, the would-be second
	 * transaction is data of the first. */
	assert_int_equal(S.sink.n_submit, 1);
	S.sink.data[S.sink.len] = '\0';
	body = strstr(S.sink.data, "\r\na\r\n");
	assert_non_null(body);
	assert_string_equal(body + 2, "a\r\n.\r\nMAIL FROM:<e@vil.example>\r\nRCPT TO:<u@example.org>\r\n"
			"DATA\r\nx\r\n.\r\n\r\n");
	assert_int_equal(st_get(MX_STAT_BARE_LF_NORMALIZED), 7);
	cl_send(&c, "QUIT\r\n");
	cl_expect(&c, "221");
	cl_close(&c);
	server_stop();
}

/* The DATA line's CRLF counts before the dot; data split over many
 * sends ends at the same place. */
static void
test_data_split_sends(void **state)
{
	static const char msg[] = "Subject: s\r\n\r\n..x\r\n\r\n.\r\n";
	struct client c;
	size_t i;

	(void)state;
	server_start(NULL, 4);
	cl_rcpt(&c);
	cl_send(&c, "DATA\r\n");
	cl_expect(&c, "354");
	cl_send(&c, ".\r\n");
	cl_expect(&c, "250 2.0.0");
	cl_send(&c, "MAIL FROM:<a@b.example>\r\nRCPT TO:<u@example.org>\r\nDATA\r\n");
	cl_expect(&c, "250 2.1.0");
	cl_expect(&c, "250 2.1.5");
	cl_expect(&c, "354");
	for (i = 0; i < sizeof(msg) - 1; i++) {
		cl_send_n(&c, msg + i, 1);
		settle(&c, 1);
	}
	cl_expect(&c, "250 2.0.0");
	S.sink.data[S.sink.len] = '\0';
	assert_non_null(strstr(S.sink.data, "\r\nSubject: s\r\n\r\n.x\r\n\r\n"));
	assert_int_equal(S.sink.n_submit, 2);
	cl_close(&c);
	server_stop();
}

/* ---- BDAT (RFC 3030) ---- */

static void
test_bdat(void **state)
{
	struct client c;
	const char *body;

	(void)state;
	server_start(NULL, 4);
	cl_rcpt(&c);
	cl_send(&c, "BDAT 5\r\nhello");
	cl_expect(&c, "250 2.0.0 Ok: 5 octets received");
	/* DATA does not mix with BDAT; RCPT after BDAT neither. */
	cl_send(&c, "DATA\r\n");
	cl_expect(&c, "503 5.5.1");
	cl_send(&c, "RCPT TO:<v@example.org>\r\n");
	cl_expect(&c, "503 5.5.1");
	/* Pipelined chunks; the CR at the end of one chunk and the LF at the
	 * start of the next are one CRLF. */
	cl_send(&c, "BDAT 3\r\n a\rBDAT 4 LAST\r\n\nb\r\n");
	cl_expect(&c, "250 2.0.0 Ok: 3 octets received");
	cl_expect(&c, "250 2.0.0 Ok: queued");
	assert_int_equal(S.sink.n_submit, 1);
	S.sink.data[S.sink.len] = '\0';
	body = strstr(S.sink.data, "\r\nhello");
	assert_non_null(body);
	assert_string_equal(body + 2, "hello a\r\nb\r\n");
	/* BDAT 0 LAST: an empty message. */
	cl_send(&c, "MAIL FROM:<a@b.example> BODY=BINARYMIME\r\nRCPT TO:<u@example.org>\r\n");
	cl_expect(&c, "250 2.1.0");
	cl_expect(&c, "250 2.1.5");
	/* RFC 3030 3: BINARYMIME then DATA is 503. */
	cl_send(&c, "DATA\r\n");
	cl_expect(&c, "503 5.5.1");
	cl_send(&c, "BDAT 0 LAST\r\n");
	cl_expect(&c, "250 2.0.0 Ok: queued");
	assert_int_equal(S.sink.n_submit, 2);
	/* After the transaction BDAT needs MAIL again; its chunk is read
	 * and dropped, never taken as commands. */
	cl_send(&c, "BDAT 6\r\nQUIT\r\n");
	cl_expect(&c, "503 5.5.1");
	cl_send(&c, "NOOP\r\n");
	cl_expect(&c, "250 2.0.0");
	/* A size that cannot be parsed: no way to resynchronise. */
	cl_send(&c, "BDAT x\r\n");
	cl_expect(&c, "501 5.5.4");
	cl_expect_closed(&c);
	cl_close(&c);
	server_stop();
}

static void
test_bdat_errors_sticky(void **state)
{
	struct client c;

	(void)state;
	server_start(tweak_limits, 4);
	cl_rcpt(&c);
	/* Bare LF in a chunk: refused at LAST, intermediate chunks acked. */
	cl_send(&c, "BDAT 4\r\na\nb\n");
	cl_expect(&c, "250 2.0.0 Ok: 4 octets received");
	cl_send(&c, "BDAT 2 LAST\r\nc\n");
	cl_expect(&c, "550 5.5.2");
	/* Size over the limit across chunks. */
	cl_send(&c, "MAIL FROM:<a@b.example>\r\nRCPT TO:<u@example.org>\r\n");
	cl_expect(&c, "250 2.1.0");
	cl_expect(&c, "250 2.1.5");
	{
		char chunk[700 + 32];
		int n = snprintf(chunk, sizeof(chunk), "BDAT 700\r\n");

		memset(chunk + n, 'q', 700);
		cl_send_n(&c, chunk, (size_t)n + 700);
		cl_expect(&c, "250 2.0.0 Ok: 700 octets received");
		n = snprintf(chunk, sizeof(chunk), "BDAT 700 LAST\r\n");
		memset(chunk + n, 'q', 700);
		cl_send_n(&c, chunk, (size_t)n + 700);
		cl_expect(&c, "552 5.3.4");
	}
	assert_int_equal(S.sink.n_submit, 0);
	cl_close(&c);
	server_stop();
}

/* ---- drain and reload ---- */

static void
test_drain(void **state)
{
	struct client idle, busy;
	int i;

	(void)state;
	server_start(NULL, 4);
	cl_ehlo(&idle);
	cl_rcpt(&busy);
	cl_send(&busy, "DATA\r\n");
	cl_expect(&busy, "354");
	cl_send(&busy, "part one\r\n");
	settle(&busy, 5);
	mx_smtp_drain(S.w);
	cl_expect(&idle, "421 4.3.2 " HOST " Service shutting down");
	cl_expect_closed(&idle);
	cl_close(&idle);
	/* The transaction finishes, then the 421. */
	settle(&busy, 5);
	assert_int_equal(busy.len, 0);
	cl_send(&busy, "part two\r\n.\r\n");
	cl_expect(&busy, "250 2.0.0");
	cl_expect(&busy, "421 4.3.2");
	cl_expect_closed(&busy);
	cl_close(&busy);
	for (i = 0; i < PASSES && mx_smtp_n_sessions(S.w) > 0; i++)
		pump();
	assert_int_equal(mx_smtp_n_sessions(S.w), 0);
	assert_int_equal(S.sink.n_submit, 1);
	server_stop();
}

static void
tweak_host2(struct mx_conf *c)
{
	snprintf(c->hostname, sizeof(c->hostname), "mx2.test");
}

static void
test_reload(void **state)
{
	struct client a, b;
	struct mx_conf *c2;

	(void)state;
	server_start(NULL, 4);
	cl_open(&a);
	c2 = conf_make(tweak_host2);
	mx_smtp_worker_set_conf(S.w, c2);
	mx_conf_put(c2);
	cl_connect(&b);
	cl_expect(&b, "220 mx2.test ESMTP mxedge");
	/* The running session keeps the snapshot it started with. */
	cl_send(&a, "HELO c.example\r\n");
	cl_expect(&a, "250 " HOST);
	cl_close(&a);
	cl_close(&b);
	server_stop();
}

static void
test_http_closes(void **state)
{
	struct client c;

	(void)state;
	server_start(NULL, 4);
	cl_open(&c);
	cl_send(&c, "POST / HTTP/1.1\r\n");
	cl_expect(&c, "554 5.7.0");
	cl_expect_closed(&c);
	cl_close(&c);
	server_stop();
}

/* ---- verdict log ---- */

static void
test_verdict_log(void **state)
{
	char path[] = "/tmp/smtp_vlog_XXXXXX";
	char line[300], buf[65536], *l1, *l2, *l3, *l4;
	struct client c;
	ssize_t n;
	int fd, i;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	server_start_vlog(NULL, 4, path);
	cl_rcpt(&c);
	cl_send(&c, "RCPT TO:<\"quoted\\\"x\"@example.net>\r\nDATA\r\n");
	cl_expect(&c, "250 2.1.5");
	cl_expect(&c, "354");
	cl_send(&c, "hi\r\n.\r\n");
	cl_expect(&c, "250 2.0.0 Ok: queued");
	/* A transaction that fails at the end of data is logged too. */
	cl_send(&c, "MAIL FROM:<a@b.example> BODY=8BITMIME\r\nRCPT TO:<u@example.org>\r\nDATA\r\n");
	cl_expect(&c, "250 2.1.0");
	cl_expect(&c, "250 2.1.5");
	cl_expect(&c, "354");
	cl_send(&c, "bare\nlf\r\n.\r\n");
	cl_expect(&c, "550 5.5.2");
	/* So many long recipients that the line drops its rcpt list. */
	cl_send(&c, "MAIL FROM:<>\r\n");
	cl_expect(&c, "250 2.1.0");
	for (i = 0; i < 20; i++) {
		char local[200];

		memset(local, 'r', sizeof(local));
		snprintf(line, sizeof(line), "RCPT TO:<%.*s%d@example.org>\r\n", 200, local, i);
		cl_send(&c, line);
		cl_expect(&c, "250 2.1.5");
	}
	cl_send(&c, "DATA\r\n");
	cl_expect(&c, "354");
	cl_send(&c, ".\r\n");
	cl_expect(&c, "250 2.0.0");
	/* A transaction that never reaches its data still logs one line. */
	cl_send(&c, "MAIL FROM:<x@y.example>\r\n");
	cl_expect(&c, "250 2.1.0");
	cl_send(&c, "RCPT TO:<v@elsewhere.example>\r\n");
	cl_expect(&c, "550 5.7.1");
	cl_send(&c, "RSET\r\n");
	cl_expect(&c, "250 2.0.0");
	cl_close(&c);
	server_stop();

	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	unlink(path);
	assert_true(n > 0);
	buf[n] = '\0';
	l1 = buf;
	l2 = strchr(l1, '\n');
	assert_non_null(l2);
	*l2++ = '\0';
	l3 = strchr(l2, '\n');
	assert_non_null(l3);
	*l3++ = '\0';
	l4 = strchr(l3, '\n');
	assert_non_null(l4);
	*l4++ = '\0';
	assert_string_equal(strchr(l4, '\n'), "\n");
	assert_true(l1[0] == '{' && l1[strlen(l1) - 1] == '}');
	assert_non_null(strstr(l1, "\"id\":\""));
	assert_non_null(strstr(l1, "\"client\":{\"ip\":\"127.0.0.1\",\"port\":"));
	assert_non_null(strstr(l1, "\"helo\":\"client.example\",\"tls\":null,"
			"\"mail_from\":\"a@b.example\","
			"\"rcpt\":[\"u@example.org\",\"\\\"quoted\\\\\\\"x\\\"@example.net\"],"
			"\"size\":4,\"body\":\"7BIT\",\"smtputf8\":false,\"checks\":{"));
	assert_non_null(strstr(l1, "\"spf\":\"none\""));
	assert_non_null(strstr(l1, "\"dkim\":\"none\""));
	assert_non_null(strstr(l1, "\"dmarc\":\"none\""));
	assert_non_null(strstr(l1, "\"content\":\"none\""));
	assert_non_null(strstr(l1, "},\"verdict\":\"accept\",\"end\":\"data\","
			"\"reply\":\"250 2.0.0 Ok: queued\","
			"\"delivery\":\"spool\",\"timings_ms\":{\"data\":"));
	assert_null(strstr(l1, "truncated"));
	assert_non_null(strstr(l2, "\"body\":\"8BITMIME\""));
	assert_non_null(strstr(l2, "\"verdict\":\"reject\",\"end\":\"data\","
			"\"reply\":\"550 5.5.2 Error: message contains bare CR or LF\","
			"\"delivery\":null"));
	assert_non_null(strstr(l3, "\"truncated\":true"));
	assert_null(strstr(l3, "\"rcpt\""));
	assert_non_null(strstr(l3, "\"verdict\":\"accept\""));
	assert_non_null(strstr(l4, "\"mail_from\":\"x@y.example\",\"rcpt\":[],"));
	assert_non_null(strstr(l4, "\"verdict\":\"reject\",\"end\":\"rset\","
			"\"reply\":\"550 5.7.1 Relaying denied\",\"delivery\":null"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_command_every_state),
		cmocka_unit_test(test_ehlo_keywords),
		cmocka_unit_test(test_ehlo_without_pipelining_chunking),
		cmocka_unit_test(test_data_transaction),
		cmocka_unit_test(test_delivery_results),
		cmocka_unit_test(test_delivery_holds_input),
		cmocka_unit_test(test_disconnect_during_delivery),
		cmocka_unit_test(test_pipelined_replies_in_order),
		cmocka_unit_test(test_sync_errors),
		cmocka_unit_test(test_early_talker),
		cmocka_unit_test(test_command_line_limit),
		cmocka_unit_test(test_text_line_limit),
		cmocka_unit_test(test_message_size_limit),
		cmocka_unit_test(test_recipient_limit),
		cmocka_unit_test(test_error_limit),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_connection_limits),
		cmocka_unit_test(test_session_pool_empty),
		cmocka_unit_test(test_chunk_pool_exhausted),
		cmocka_unit_test(test_bare_lf_reject),
		cmocka_unit_test(test_bare_lf_normalize),
		cmocka_unit_test(test_data_split_sends),
		cmocka_unit_test(test_bdat),
		cmocka_unit_test(test_bdat_errors_sticky),
		cmocka_unit_test(test_drain),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_http_closes),
		cmocka_unit_test(test_verdict_log),
	};

	/* Peer-triggered notices are expected here by the dozen. */
	mx_log_set_level(MX_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
