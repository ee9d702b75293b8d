/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * relay_test: the relay against a scripted downstream. The test owns a
 * plain TCP listening socket on 127.0.0.1 (port 0) and plays the
 * downstream MTA byte by byte from the same thread, pumping the relay's
 * loop (real kernel-socket transport) between its own reads and writes.
 * Every wait is bounded in passes and in wall-clock time; what the relay
 * sends is compared byte for byte, and what our client would be told is
 * checked through the done callback.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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

#include <cmocka.h>

#include "mx_conf.h"
#include "mx_deliver.h"
#include "mx_metrics.h"
#include "mx_msg.h"
#include "mx_relay.h"
#include "mx_stream.h"

#define PUMP_PASSES 200000
#define PUMP_WALL_MS 20000
#define MAX_FDS 16
#define HELO "relay.test"
#define EHLO_LINE "EHLO " HELO "\r\n"
#define EHLO_PIPE "250-ds.test\r\n250-PIPELINING\r\n250-SIZE 100000000\r\n" \
	"250-8BITMIME\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"
#define EHLO_PLAIN "250-ds.test\r\n250 8BITMIME\r\n"

struct fx {
	struct mx_loop *loop;
	struct mx_conf *conf;
	struct mx_metrics *metrics;
	struct mx_stats *stats;
	struct mx_chunk_pool *pool;
	struct mx_relay *relay;
	struct mx_deliver *d;
	int lfd;
	uint16_t port;
	int fds[MAX_FDS];
	unsigned n_fds;
};

struct rec {
	int calls;
	int order;            /* completion order, over all recs of a test */
	struct mx_deliver_result res;
};

static int rec_seq;

static void
rec_done(void *arg, const struct mx_deliver_result *res)
{
	struct rec *r = arg;

	r->calls++;
	r->order = ++rec_seq;
	r->res = *res;
}

/* ---- fixture ---- */

static int
listen_local(uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static void
conf_downstream(struct mx_conf *c, uint16_t port)
{
	char s[64];

	snprintf(s, sizeof(s), "127.0.0.1:%u", port);
	assert_int_equal(mx_addr_parse(s, -1, &c->downstream), 0);
	snprintf(c->downstream_host, sizeof(c->downstream_host), "%s", s);
	c->has_downstream = true;
}

static struct mx_conf *
conf_make(uint16_t port)
{
	struct mx_conf *c;

	assert_int_equal(mx_conf_new(&c), 0);
	snprintf(c->hostname, sizeof(c->hostname), "mx.test");
	snprintf(c->helo_name, sizeof(c->helo_name), HELO);
	conf_downstream(c, port);
	c->relay_pool_size = 4;
	/* One connection unless a test says otherwise: a message submitted
	 * right after a refusal then waits for the RSET of the same
	 * connection instead of racing it with a new one. */
	c->relay_max_conns = 1;
	c->timeout_relay_connect_ms = 3000;
	c->timeout_relay_reply_ms = 3000;
	c->timeout_relay_data_ms = 3000;
	c->relay_idle_ms = 60000;
	return c;
}

/* Configuration snapshots are immutable: a change is a new snapshot. */
static struct mx_conf *
fx_conf(struct fx *f)
{
	struct mx_conf *c = conf_make(f->port);

	c->relay_pool_size = f->conf->relay_pool_size;
	c->relay_max_conns = f->conf->relay_max_conns;
	c->timeout_relay_reply_ms = f->conf->timeout_relay_reply_ms;
	c->timeout_relay_data_ms = f->conf->timeout_relay_data_ms;
	c->relay_idle_ms = f->conf->relay_idle_ms;
	c->downstream = f->conf->downstream;
	return c;
}

static void
fx_set_conf(struct fx *f, struct mx_conf *c)
{
	mx_relay_set_conf(f->relay, c);
	mx_conf_put(f->conf);
	f->conf = c;
}

static int
fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct mx_loop_conf lc = {
		.transport = MX_TRANSPORT_KERNEL,
		.worker_id = 0,
		.max_streams = 64,
		.rcvbuf_bytes = 64 * 1024,
		.sndbuf_bytes = 64 * 1024,
	};

	assert_non_null(f);
	f->lfd = listen_local(&f->port);
	f->conf = conf_make(f->port);
	assert_int_equal(mx_loop_create(&lc, &f->loop), 0);
	assert_int_equal(mx_metrics_create(1, &f->metrics), 0);
	f->stats = mx_metrics_stats(f->metrics, 0);
	assert_int_equal(mx_chunk_pool_create(64 * 1024, 64u << 20, &f->pool), 0);
	assert_int_equal(mx_relay_create(f->loop, f->conf, f->stats, &f->relay), 0);
	f->d = mx_relay_deliver(f->relay);
	rec_seq = 0;
	*state = f;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *f = *state;

	if (f->relay != NULL)
		mx_relay_free(f->relay);
	for (unsigned i = 0; i < f->n_fds; i++)
		close(f->fds[i]);
	close(f->lfd);
	mx_loop_free(f->loop);
	/* Every msg went back to the pool: the relay released all it got. */
	assert_int_equal(mx_chunk_pool_bytes_in_use(f->pool), 0);
	mx_chunk_pool_free(f->pool);
	mx_metrics_free(f->metrics);
	mx_conf_put(f->conf);
	free(f);
	return 0;
}

static uint64_t
stat_get(struct fx *f, enum mx_stat k)
{
	return atomic_load(&f->stats->v[k]);
}

/* ---- pumping ---- */

static void
pump(struct fx *f)
{
	assert_int_equal(mx_loop_run_once(f->loop, 2), 0);
}

#define PUMP_UNTIL(f, cond)                                                    \
	do {                                                                   \
		uint64_t t0_ = mx_clock_ms();                                  \
		for (int i_ = 0; !(cond); i_++) {                              \
			if (i_ >= PUMP_PASSES || mx_clock_ms() - t0_ > PUMP_WALL_MS) \
				fail_msg("gave up waiting for %s", #cond);     \
			pump(f);                                               \
		}                                                              \
	} while (0)

static void
wait_done(struct fx *f, struct rec *r)
{
	PUMP_UNTIL(f, r->calls > 0);
	assert_int_equal(r->calls, 1);
}

/* ---- the scripted downstream ---- */

static int
ds_accept(struct fx *f)
{
	int fd = -1;

	PUMP_UNTIL(f, (fd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0);
	assert_true(f->n_fds < MAX_FDS);
	f->fds[f->n_fds++] = fd;
	return fd;
}

/* No connection waits to be accepted. */
static void
ds_no_pending(struct fx *f)
{
	int fd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd >= 0) {
		close(fd);
		fail_msg("an unexpected connection to the downstream");
	}
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

static void
ds_close(struct fx *f, int fd)
{
	for (unsigned i = 0; i < f->n_fds; i++) {
		if (f->fds[i] == fd) {
			f->fds[i] = f->fds[--f->n_fds];
			close(fd);
			return;
		}
	}
	fail_msg("fd %d not ours", fd);
}

static void
ds_send(int fd, const char *s)
{
	size_t len = strlen(s);

	assert_int_equal(send(fd, s, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* One non-blocking recv: > 0 bytes, 0 at EOF or reset, -1 when nothing
 * is there yet. */
static ssize_t
ds_recv(int fd, void *buf, size_t size)
{
	ssize_t n = recv(fd, buf, size, MSG_DONTWAIT);

	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return -1;
	return 0;
}

/* Reads exactly len bytes (pumping the relay meanwhile) into buf. */
static void
ds_read(struct fx *f, int fd, char *buf, size_t len)
{
	uint64_t t0 = mx_clock_ms();
	size_t got = 0;

	for (int i = 0; got < len; i++) {
		ssize_t n = ds_recv(fd, buf + got, len - got);

		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0)
			fail_msg("downstream: closed after %zu of %zu bytes", got, len);
		if (i >= PUMP_PASSES || mx_clock_ms() - t0 > PUMP_WALL_MS)
			fail_msg("downstream: gave up after %zu of %zu bytes", got, len);
		pump(f);
	}
}

static void
ds_expect(struct fx *f, int fd, const char *want)
{
	size_t len = strlen(want);
	char *buf = malloc(len + 1);

	assert_non_null(buf);
	ds_read(f, fd, buf, len);
	buf[len] = '\0';
	assert_string_equal(buf, want);
	free(buf);
}

/* One recv once anything is there: what the relay sent in one write. */
static size_t
ds_read_once(struct fx *f, int fd, char *buf, size_t size)
{
	ssize_t n = -1;

	PUMP_UNTIL(f, (n = ds_recv(fd, buf, size - 1)) >= 0);
	assert_true(n > 0);
	buf[n] = '\0';
	return (size_t)n;
}

/* Reads until EOF or reset; returns how many bytes came before. */
static size_t
ds_drain_until_closed(struct fx *f, int fd, char *buf, size_t size)
{
	uint64_t t0 = mx_clock_ms();
	size_t got = 0;
	char scratch[4096];

	for (int i = 0;; i++) {
		ssize_t n = got < size ? ds_recv(fd, buf + got, size - got) :
			ds_recv(fd, scratch, sizeof(scratch));

		if (n == 0)
			return got;
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (i >= PUMP_PASSES || mx_clock_ms() - t0 > PUMP_WALL_MS)
			fail_msg("downstream: connection not closed");
		pump(f);
	}
}

static void
ds_expect_closed(struct fx *f, int fd, const char *want)
{
	char buf[512];
	size_t n = ds_drain_until_closed(f, fd, buf, sizeof(buf) - 1);

	buf[MX_MIN(n, sizeof(buf) - 1)] = '\0';
	assert_string_equal(buf, want);
}

static int
ds_open(struct fx *f, const char *ehlo_reply)
{
	int fd = ds_accept(f);

	ds_send(fd, "220 ds.test ESMTP\r\n");
	ds_expect(f, fd, EHLO_LINE);
	ds_send(fd, ehlo_reply);
	return fd;
}

/* ---- messages ---- */

static struct mx_str
S(const char *s)
{
	return (struct mx_str){ strlen(s), s };
}

static struct mx_msg *
msg_make(struct fx *f, const char *from, const char *rcpts, const void *body, size_t len)
{
	struct mx_msg *m;
	char buf[256];
	const char *p = rcpts, *comma;

	assert_int_equal(mx_msg_create(f->pool, 100, 8192, &m), 0);
	mx_msg_new_id(m->id);
	assert_int_equal(mx_msg_set_mail(m, S(from), S("")), 0);
	/* rcpts: comma-separated */
	while (*p != '\0') {
		comma = strchr(p, ',');
		size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);

		assert_true(n < sizeof(buf));
		memcpy(buf, p, n);
		assert_int_equal(mx_msg_add_rcpt(m, (struct mx_str){ n, buf }, S("")), 0);
		p += n + (comma != NULL);
	}
	if (len > 0)
		assert_int_equal(mx_msg_append(m, body, len), 0);
	mx_msg_finish(m);
	return m;
}

static struct mx_msg *
msg_simple(struct fx *f, const char *rcpts, const char *body)
{
	return msg_make(f, "a@x.test", rcpts, body, strlen(body));
}

static uint64_t
submit(struct fx *f, struct mx_msg *m, struct rec *r)
{
	uint64_t h = 0;

	assert_int_equal(mx_deliver_submit(f->d, m, rec_done, r, &h), 0);
	/* mx_deliver.h: done never runs inside submit. */
	assert_int_equal(r->calls, 0);
	return h;
}

static char *
mail_line(char *buf, size_t size, const char *from, size_t msg_size, const char *extra)
{
	snprintf(buf, size, "MAIL FROM:<%s> SIZE=%zu%s\r\n", from, msg_size, extra);
	return buf;
}

static void
expect_text_has(const struct rec *r, const char *needle)
{
	if (strstr(r->res.text, needle) == NULL)
		fail_msg("reply \"%d %s\" lacks \"%s\"", r->res.code, r->res.text, needle);
}

/* Plays a whole successful pipelined transaction of one recipient. */
static void
ds_txn_ok(struct fx *f, int fd, const char *rcpt, size_t size, const char *data)
{
	char want[512], mail[128];

	snprintf(want, sizeof(want), "%sRCPT TO:<%s>\r\nDATA\r\n",
			mail_line(mail, sizeof(mail), "a@x.test", size, ""), rcpt);
	ds_expect(f, fd, want);
	ds_send(fd, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n");
	ds_expect(f, fd, data);
	ds_send(fd, "250 2.0.0 Ok: queued as DS1\r\n");
}

/* ---- tests ---- */

/* EHLO with PIPELINING: MAIL, every RCPT and DATA arrive in one write
 * (RFC 2920), then the prepend block and the message, then the dot. */
static void
test_pipelined_delivery(void **state)
{
	struct fx *f = *state;
	const char *body = "Subject: hi\r\n\r\nhello\r\n";
	struct mx_msg *m = msg_simple(f, "b@y.test,c@y.test", body);
	struct rec r = { 0 };
	char buf[1024], want[512], mail[128], id[MX_MSG_ID_SIZE];
	size_t size;
	int fd;

	assert_int_equal(mx_msg_prepend(m, "X-Test: 1\r\n", 11), 0);
	size = 11 + strlen(body);
	memcpy(id, m->id, sizeof(id));
	submit(f, m, &r);
	assert_int_equal(mx_relay_in_flight(f->relay), 1);
	fd = ds_open(f, EHLO_PIPE);
	ds_read_once(f, fd, buf, sizeof(buf));
	snprintf(want, sizeof(want), "%sRCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\nDATA\r\n",
			mail_line(mail, sizeof(mail), "a@x.test", size, ""));
	assert_string_equal(buf, want);
	ds_send(fd, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data\r\n");
	ds_expect(f, fd, "X-Test: 1\r\nSubject: hi\r\n\r\nhello\r\n.\r\n");
	assert_int_equal(r.calls, 0);
	ds_send(fd, "250 2.0.0 Ok: queued as 4XyZ\r\n");
	wait_done(f, &r);
	assert_int_equal(r.res.code, 250);
	assert_string_equal(r.res.via, "relay");
	snprintf(want, sizeof(want), "2.0.0 Ok: queued as %s (downstream: 2.0.0 Ok: queued as 4XyZ)", id);
	assert_string_equal(r.res.text, want);
	assert_int_equal(mx_relay_in_flight(f->relay), 0);
	assert_int_equal(stat_get(f, MX_STAT_RELAY_OK), 1);
	assert_int_equal(stat_get(f, MX_STAT_RELAY_CONNS_OPENED), 1);
	assert_int_equal(atomic_load(&f->stats->histo[MX_HISTO_RELAY].count), 1);
}

/* Without PIPELINING every command waits for its reply; BODY=8BITMIME
 * goes with an 8-bit message to a server offering 8BITMIME, and no SIZE
 * to a server not offering SIZE (RFC 1870). */
static void
test_lockstep(void **state)
{
	struct fx *f = *state;
	const char *body = "caf\xc3\xa9\r\n";
	struct mx_msg *m = msg_simple(f, "b@y.test,c@y.test", body);
	struct rec r = { 0 };
	int fd;

	m->body = MX_BODY_8BITMIME;
	submit(f, m, &r);
	fd = ds_open(f, EHLO_PLAIN);
	ds_expect(f, fd, "MAIL FROM:<a@x.test> BODY=8BITMIME\r\n");
	ds_send(fd, "250 ok\r\n");
	ds_expect(f, fd, "RCPT TO:<b@y.test>\r\n");
	ds_send(fd, "250 ok\r\n");
	ds_expect(f, fd, "RCPT TO:<c@y.test>\r\n");
	ds_send(fd, "250 ok\r\n");
	ds_expect(f, fd, "DATA\r\n");
	ds_send(fd, "354 go\r\n");
	ds_expect(f, fd, "caf\xc3\xa9\r\n.\r\n");
	ds_send(fd, "250 queued\r\n");
	wait_done(f, &r);
	assert_int_equal(r.res.code, 250);
	expect_text_has(&r, "(downstream: queued)");
}

struct stuff_case {
	const char *body;
	size_t len;          /* 0: strlen */
	const char *wire;    /* what goes after 354 */
};

static const struct stuff_case stuff_cases[] = {
	{ "plain\r\n", 0, "plain\r\n.\r\n" },
	{ ".hidden\r\n", 0, "..hidden\r\n.\r\n" },
	{ "a\r\n.\r\nb\r\n", 0, "a\r\n..\r\nb\r\n.\r\n" },
	{ "x\r\n..\r\n", 0, "x\r\n...\r\n.\r\n" },
	{ "no crlf at end", 0, "no crlf at end\r\n.\r\n" },
	{ "ends with cr\r", 0, "ends with cr\r\r\n.\r\n" },
	{ "", 0, ".\r\n" },
	{ ".", 0, "..\r\n.\r\n" },
	{ ".\r\n", 0, "..\r\n.\r\n" },
	{ "a\n.b\r\n", 0, "a\n..b\r\n.\r\n" },
	{ "a\r\n.", 0, "a\r\n..\r\n.\r\n" },
	{ "\r\n.\r\n", 0, "\r\n..\r\n.\r\n" },
};

/* RFC 5321 4.5.2 transparency, 4.1.1.4 the end of data; all the cases
 * over one pooled connection (which is reused each time). */
static void
test_dot_stuffing(void **state)
{
	struct fx *f = *state;
	int fd = -1;

	for (size_t i = 0; i < MX_ARRAY_SIZE(stuff_cases); i++) {
		const struct stuff_case *tc = &stuff_cases[i];
		size_t len = tc->len != 0 ? tc->len : strlen(tc->body);
		struct mx_msg *m = msg_make(f, "a@x.test", "b@y.test", tc->body, len);
		struct rec r = { 0 };

		submit(f, m, &r);
		if (fd < 0)
			fd = ds_open(f, EHLO_PIPE);
		ds_txn_ok(f, fd, "b@y.test", len, tc->wire);
		wait_done(f, &r);
		assert_int_equal(r.res.code, 250);
	}
	ds_no_pending(f);
	assert_int_equal(stat_get(f, MX_STAT_RELAY_CONNS_OPENED), 1);
}

/* The prepend block and the message are one stream for stuffing: a "."
 * that starts the message follows the prepend's last CRLF. */
static void
test_dot_after_prepend(void **state)
{
	struct fx *f = *state;
	struct mx_msg *m = msg_simple(f, "b@y.test", ".dot\r\n");
	struct rec r = { 0 };
	int fd;

	assert_int_equal(mx_msg_prepend(m, "X-A: 1\r\n", 8), 0);
	assert_int_equal(mx_msg_prepend(m, "X-B: 2\r\n", 8), 0);
	submit(f, m, &r);
	fd = ds_open(f, EHLO_PIPE);
	ds_txn_ok(f, fd, "b@y.test", 16 + 6, "X-A: 1\r\nX-B: 2\r\n..dot\r\n.\r\n");
	wait_done(f, &r);
	assert_int_equal(r.res.code, 250);
}

/* RFC 5321 4.2: multi-line replies everywhere; the client's text is the
 * first line of the final reply. */
static void
test_multiline_replies(void **state)
{
	struct fx *f = *state;
	struct mx_msg *m = msg_simple(f, "b@y.test", "x\r\n");
	struct rec r = { 0 };
	char want[256], mail[128];
	int fd;

	submit(f, m, &r);
	fd = ds_accept(f);
	ds_send(fd, "220-ds.test first\r\n220-second\r\n220 third\r\n");
	ds_expect(f, fd, EHLO_LINE);
	ds_send(fd, EHLO_PIPE);
	snprintf(want, sizeof(want), "%sRCPT TO:<b@y.test>\r\nDATA\r\n",
			mail_line(mail, sizeof(mail), "a@x.test", 3, ""));
	ds_expect(f, fd, want);
	ds_send(fd, "250-2.1.0 one\r\n250 2.1.0 Ok\r\n250-2.1.5 a\r\n250-2.1.5 b\r\n250 2.1.5 c\r\n"
			"354-go\r\n354 ahead\r\n");
	ds_expect(f, fd, "x\r\n.\r\n");
	ds_send(fd, "250-2.0.0 first line\r\n250 2.0.0 second line\r\n");
	wait_done(f, &r);
	assert_int_equal(r.res.code, 250);
	expect_text_has(&r, "(downstream: 2.0.0 first line)");
}

/* Pipelined, every recipient refused (one 4yz, one 5yz): DATA is
 * refused too, the connection is RSET and reused. A temporary refusal
 * wins: the client retries the whole message. */
static void
test_rcpt_refused_mixed(void **state)
{
	struct fx *f = *state;
	struct mx_msg *m = msg_simple(f, "b@y.test,c@y.test", "x\r\n");
	struct rec r = { 0 }, r2 = { 0 };
	char want[256], mail[128];
	int fd;

	submit(f, m, &r);
	fd = ds_open(f, EHLO_PIPE);
	snprintf(want, sizeof(want), "%sRCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\nDATA\r\n",
			mail_line(mail, sizeof(mail), "a@x.test", 3, ""));
	ds_expect(f, fd, want);
	ds_send(fd, "250 2.1.0 Ok\r\n550 5.1.1 unknown user\r\n450 4.2.1 mailbox busy\r\n"
			"554 5.5.1 Error: no valid recipients\r\n");
	ds_expect(f, fd, "RSET\r\n");
	wait_done(f, &r);
	assert_int_equal(r.res.code, 451);
	assert_string_equal(r.res.text,
			"4.2.1 downstream refused recipient <c@y.test>: mailbox busy");
	ds_send(fd, "250 2.0.0 Ok\r\n");
	/* the same connection carries the next message */
	submit(f, msg_simple(f, "d@y.test", "y\r\n"), &r2);
	ds_txn_ok(f, fd, "d@y.test", 3, "y\r\n.\r\n");
	wait_done(f, &r2);
	assert_int_equal(r2.res.code, 250);
	ds_no_pending(f);
	assert_int_equal(stat_get(f, MX_STAT_RELAY_TEMPFAIL), 1);
	assert_int_equal(stat_get(f, MX_STAT_RELAY_OK), 1);
}

/* Every refusal permanent: the client gets the downstream's 5yz and its
 * enhanced code, or 5.1.1 when it gave none. */
static void
test_rcpt_refused_all_5xx(void **state)
{
	struct fx *f = *state;
	struct rec r = { 0 }, r2 = { 0 };
	char want[256], mail[128];
	int fd;

	submit(f, msg_simple(f, "b@y.test,c@y.test", "x\r\n"), &r);
	fd = ds_open(f, EHLO_PIPE);
	snprintf(want, sizeof(want), "%sRCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\nDATA\r\n",
			mail_line(mail, sizeof(mail), "a@x.test", 3, ""));
	ds_expect(f, fd, want);
	ds_send(fd, "250 Ok\r\n553 relay denied\r\n550 5.7.1 no\r\n554 no valid recipients\r\n");
	ds_expect(f, fd, "RSET\r\n");
	ds_send(fd, "250 Ok\r\n");
	wait_done(f, &r);
	assert_int_equal(r.res.code, 553);
	assert_string_equal(r.res.text, "5.1.1 downstream refused recipient <b@y.test>: relay denied");
	assert_int_equal(stat_get(f, MX_STAT_RELAY_PERMFAIL), 1);

	submit(f, msg_simple(f, "b@y.test", "x\r\n"), &r2);
	snprintf(want, sizeof(want), "%sRCPT TO:<b@y.test>\r\nDATA\r\n",
			mail_line(mail, sizeof(mail), "a@x.test", 3, ""));
	ds_expect(f, fd, want);
	ds_send(fd, "250 Ok\r\n550 5.1.1 <b@y.test>: unknown\r\n554 5.5.1 no valid recipients\r\n");
	ds_expect(f, fd, "RSET\r\n");
	ds_send(fd, "250 Ok\r\n");
	wait_done(f, &r2);
	assert_int_equal(r2.res.code, 550);
	assert_string_equal(r2.res.text,
			"5.1.1 downstream refused recipient <b@y.test>: <b@y.test>: unknown");
}

/* A recipient refused, another accepted, and the pipelined DATA got 354
 * anyway: a final dot would deliver an empty message to the accepted
 * one, so the relay sends nothing more and resets the connection. */
static void
test_354_after_refusal_aborts(void **state)
{
	struct fx *f = *state;
	struct rec r = { 0 }, r2 = { 0 };
	char want[256], mail[128];
	int fd, fd2;

	submit(f, msg_simple(f, "b@y.test,c@y.test", "payload\r\n"), &r);
	fd = ds_open(f, EHLO_PIPE);
	snprintf(want, sizeof(want), "%sRCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\nDATA\r\n",
			mail_line(mail, sizeof(mail), "a@x.test", 9, ""));
	ds_expect(f, fd, want);
	ds_send(fd, "250 Ok\r\n250 Ok\r\n550 5.1.1 unknown\r\n354 go ahead\r\n");
	wait_done(f, &r);
	assert_int_equal(r.res.code, 550);
	assert_string_equal(r.res.text, "5.1.1 downstream refused recipient <c@y.test>: unknown");
	/* not one byte of data, not even the dot */
	ds_expect_closed(f, fd, "");
	/* the next message needs a new connection */
	submit(f, msg_simple(f, "b@y.test", "x\r\n"), &r2);
	fd2 = ds_open(f, EHLO_PIPE);
	ds_txn_ok(f, fd2, "b@y.test", 3, "x\r\n.\r\n");
	wait_done(f, &r2);
	assert_int_equal(r2.res.code, 250);
	assert_int_equal(stat_get(f, MX_STAT_RELAY_CONNS_OPENED), 2);
}

/* Lock-step: a refused recipient does not stop the other RCPTs (the
 * client's code depends on all refusals), but DATA is never sent. */
static void
test_lockstep_rcpt_refused(void **state)
{
	struct fx *f = *state;
	struct rec r = { 0 };
	int fd;

	submit(f, msg_simple(f, "b@y.test,c@y.test", "x\r\n"), &r);
	fd = ds_open(f, EHLO_PLAIN);
	ds_expect(f, fd, "MAIL FROM:<a@x.test>\r\n");
	ds_send(fd, "250 ok\r\n");
	ds_expect(f, fd, "RCPT TO:<b@y.test>\r\n");
	ds_send(fd, "450 try later\r\n");
	ds_expect(f, fd, "RCPT TO:<c@y.test>\r\n");
	ds_send(fd, "250 ok\r\n");
	ds_expect(f, fd, "RSET\r\n");
	ds_send(fd, "250 ok\r\n");
	wait_done(f, &r);
	assert_int_equal(r.res.code, 451);
	assert_string_equal(r.res.text, "4.1.0 downstream refused recipient <b@y.test>: try later");
}

/* MAIL refused: its class decides; pipelined RCPT/DATA replies are read
 * and the connection is reset. */
static void
test_mail_refused(void **state)
{
	struct fx *f = *state;
	struct mx_conf *c;
	struct rec r = { 0 }, r2 = { 0 };
	char want[256], mail[128];
	int fd, fd2;

	submit(f, msg_simple(f, "b@y.test", "x\r\n"), &r);
	fd = ds_open(f, EHLO_PIPE);
	snprintf(want, sizeof(want), "%sRCPT TO:<b@y.test>\r\nDATA\r\n",
			mail_line(mail, sizeof(mail), "a@x.test", 3, ""));
	ds_expect(f, fd, want);
	ds_send(fd, "451 4.3.0 sender check failed\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need RCPT\r\n");
	ds_expect(f, fd, "RSET\r\n");
	ds_send(fd, "250 ok\r\n");
	wait_done(f, &r);
	assert_int_equal(r.res.code, 451);
	assert_string_equal(r.res.text, "4.3.0 downstream refused sender <a@x.test>: sender check failed");

	/* lock-step, permanent: RSET right after MAIL; an empty pool makes
	 * the relay close the first connection and open a new one */
	c = fx_conf(f);
	c->relay_pool_size = 0;
	fx_set_conf(f, c);
	ds_expect_closed(f, fd, "QUIT\r\n");
	submit(f, msg_simple(f, "b@y.test", "x\r\n"), &r2);
	fd2 = ds_open(f, EHLO_PLAIN);
	ds_expect(f, fd2, "MAIL FROM:<a@x.test>\r\n");
	ds_send(fd2, "550 5.7.1 go away\r\n");
	ds_expect(f, fd2, "RSET\r\n");
	wait_done(f, &r2);
	assert_int_equal(r2.res.code, 550);
	assert_string_equal(r2.res.text, "5.7.1 downstream refused sender <a@x.test>: go away");
}

/* 5yz and 4yz to the final dot. */
static void
test_final_refused(void **state)
{
	struct fx *f = *state;
	struct rec r = { 0 }, r2 = { 0 };
	char want[256], mail[128];
	int fd;

	submit(f, msg_simple(f, "b@y.test", "spam\r\n"), &r);
	fd = ds_open(f, EHLO_PIPE);
	snprintf(want, sizeof(want), "%sRCPT TO:<b@y.test>\r\nDATA\r\n",
			mail_line(mail, sizeof(mail), "a@x.test", 6, ""));
	ds_expect(f, fd, want);
	ds_send(fd, "250 ok\r\n250 ok\r\n354 go\r\n");
	ds_expect(f, fd, "spam\r\n.\r\n");
	ds_send(fd, "554 5.7.1 looks like spam\r\n");
	wait_done(f, &r);
	assert_int_equal(r.res.code, 554);
	assert_string_equal(r.res.text, "5.7.1 downstream rejected the message: looks like spam");

	/* the transaction is over: no RSET needed, the connection goes on */
	submit(f, msg_simple(f, "b@y.test", "later\r\n"), &r2);
	snprintf(want, sizeof(want), "%sRCPT TO:<b@y.test>\r\nDATA\r\n",
			mail_line(mail, sizeof(mail), "a@x.test", 7, ""));
	ds_expect(f, fd, want);
	ds_send(fd, "250 ok\r\n250 ok\r\n354 go\r\n");
	ds_expect(f, fd, "later\r\n.\r\n");
	ds_send(fd, "452 4.3.1 insufficient storage\r\n");
	wait_done(f, &r2);
	assert_int_equal(r2.res.code, 451);
	assert_string_equal(r2.res.text,
			"4.4.0 downstream deferred the message: 4.3.1 insufficient storage");
	ds_no_pending(f);
}

/* A 4yz greeting: the downstream is unavailable. */
static void
test_greeting_4xx(void **state)
{
	struct fx *f = *state;
	struct rec r = { 0 };
	int fd;

	submit(f, msg_simple(f, "b@y.test", "x\r\n"), &r);
	fd = ds_accept(f);
	ds_send(fd, "421 4.3.2 busy\r\n");
	wait_done(f, &r);
	assert_int_equal(r.res.code, 451);
	assert_string_equal(r.res.text, "4.4.1 downstream unavailable");
	ds_expect_closed(f, fd, "");
	assert_int_equal(stat_get(f, MX_STAT_RELAY_CONNECT_FAIL), 1);
}

/* EHLO refused with 5yz: HELO, and then no extensions (lock-step, no
 * SIZE). */
static void
test_ehlo_fallback_helo(void **state)
{
	struct fx *f = *state;
	struct rec r = { 0 };
	int fd;

	submit(f, msg_simple(f, "b@y.test", "x\r\n"), &r);
	fd = ds_accept(f);
	ds_send(fd, "220 old.test SMTP\r\n");
	ds_expect(f, fd, EHLO_LINE);
	ds_send(fd, "502 5.5.2 what?\r\n");
	ds_expect(f, fd, "HELO " HELO "\r\n");
	ds_send(fd, "250 old.test\r\n");
	ds_expect(f, fd, "MAIL FROM:<a@x.test>\r\n");
	ds_send(fd, "250 ok\r\n");
	ds_expect(f, fd, "RCPT TO:<b@y.test>\r\n");
	ds_send(fd, "250 ok\r\n");
	ds_expect(f, fd, "DATA\r\n");
	ds_send(fd, "354 go\r\n");
	ds_expect(f, fd, "x\r\n.\r\n");
	ds_send(fd, "250 ok\r\n");
	wait_done(f, &r);
	assert_int_equal(r.res.code, 250);
}

/* Nothing listening: 451 4.4.1 and a connect failure counted. */
static void
test_connection_refused(void **state)
{
	struct fx *f = *state;
	struct mx_conf *c;
	struct rec r = { 0 };
	uint16_t port;
	int fd = listen_local(&port);

	close(fd);
	c = fx_conf(f);
	conf_downstream(c, port);
	fx_set_conf(f, c);
	submit(f, msg_simple(f, "b@y.test", "x\r\n"), &r);
	wait_done(f, &r);
	assert_int_equal(r.res.code, 451);
	assert_string_equal(r.res.text, "4.4.1 downstream unavailable");
	assert_int_equal(stat_get(f, MX_STAT_RELAY_CONNECT_FAIL), 1);
	assert_int_equal(stat_get(f, MX_STAT_RELAY_TEMPFAIL), 1);
	assert_int_equal(mx_relay_in_flight(f->relay), 0);
}

/* A downstream that accepts the connection and never says a word. */
static void
test_timeout_greeting(void **state)
{
	struct fx *f = *state;
	struct mx_conf *c;
	struct rec r = { 0 };
	int fd;

	c = fx_conf(f);
	c->timeout_relay_reply_ms = 150;
	fx_set_conf(f, c);
	submit(f, msg_simple(f, "b@y.test", "x\r\n"), &r);
	fd = ds_accept(f);
	wait_done(f, &r);
	assert_int_equal(r.res.code, 451);
	assert_string_equal(r.res.text, "4.4.2 downstream timeout");
	ds_expect_closed(f, fd, "");
}

/* No reply to the final dot within timeout_relay_data_ms. */
static void
test_timeout_final(void **state)
{
	struct fx *f = *state;
	struct mx_conf *c;
	struct rec r = { 0 };
	char want[256], mail[128];
	int fd;

	c = fx_conf(f);
	c->timeout_relay_data_ms = 150;
	fx_set_conf(f, c);
	submit(f, msg_simple(f, "b@y.test", "x\r\n"), &r);
	fd = ds_open(f, EHLO_PIPE);
	snprintf(want, sizeof(want), "%sRCPT TO:<b@y.test>\r\nDATA\r\n",
			mail_line(mail, sizeof(mail), "a@x.test", 3, ""));
	ds_expect(f, fd, want);
	ds_send(fd, "250 ok\r\n250 ok\r\n354 go\r\n");
	ds_expect(f, fd, "x\r\n.\r\n");
	wait_done(f, &r);
	assert_int_equal(r.res.code, 451);
	assert_string_equal(r.res.text, "4.4.2 downstream timeout");
	ds_expect_closed(f, fd, "");
}

/* The downstream closes after the final dot without a reply: it may
 * have the message or not; the client must retry (RFC 1047). */
static void
test_close_after_dot(void **state)
{
	struct fx *f = *state;
	struct rec r = { 0 };
	char want[256], mail[128];
	int fd;

	submit(f, msg_simple(f, "b@y.test", "x\r\n"), &r);
	fd = ds_open(f, EHLO_PIPE);
	snprintf(want, sizeof(want), "%sRCPT TO:<b@y.test>\r\nDATA\r\n",
			mail_line(mail, sizeof(mail), "a@x.test", 3, ""));
	ds_expect(f, fd, want);
	ds_send(fd, "250 ok\r\n250 ok\r\n354 go\r\n");
	ds_expect(f, fd, "x\r\n.\r\n");
	shutdown(fd, SHUT_RDWR);
	wait_done(f, &r);
	assert_int_equal(r.res.code, 451);
	assert_string_equal(r.res.text, "4.4.1 downstream unavailable");
}

/* A malformed reply: the connection is dropped, the client told 451. */
static void
test_protocol_error(void **state)
{
	struct fx *f = *state;
	struct rec r = { 0 };
	char want[256], mail[128];
	int fd;

	submit(f, msg_simple(f, "b@y.test", "x\r\n"), &r);
	fd = ds_open(f, EHLO_PIPE);
	snprintf(want, sizeof(want), "%sRCPT TO:<b@y.test>\r\nDATA\r\n",
			mail_line(mail, sizeof(mail), "a@x.test", 3, ""));
	ds_expect(f, fd, want);
	ds_send(fd, "250 ok\r\nhello there\r\n");
	wait_done(f, &r);
	assert_int_equal(r.res.code, 451);
	ds_expect_closed(f, fd, "");
}

/* A reply line over 512 bytes (RFC 5321 4.5.3.1.5): the connection is
 * dropped, the client told 451. */
static void
test_reply_too_long(void **state)
{
	struct fx *f = *state;
	struct rec r = { 0 };
	char line[700];
	int fd;

	submit(f, msg_simple(f, "b@y.test", "x\r\n"), &r);
	fd = ds_accept(f);
	memset(line, 'x', sizeof(line));
	memcpy(line, "220 ", 4);
	memcpy(line + sizeof(line) - 3, "\r\n", 3);
	ds_send(fd, line);
	wait_done(f, &r);
	assert_int_equal(r.res.code, 451);
	ds_expect_closed(f, fd, "");
}

/* So many recipients that the pipelined group outgrows the 64 KiB send
 * buffer: the commands go out in pieces as space frees, in order, and
 * the replies are matched to them. */
static void
test_many_recipients(void **state)
{
	struct fx *f = *state;
	enum { N = 1500 };
	size_t cap = N * 64 + 256, len = 0, rlen = 0;
	char *rcpts = malloc(cap), *want = malloc(cap), *replies = malloc(N * 16 + 64);
	char mail[128];
	struct rec r = { 0 };
	int fd;

	assert_non_null(rcpts);
	assert_non_null(want);
	assert_non_null(replies);
	len = (size_t)snprintf(want, cap, "%s", mail_line(mail, sizeof(mail), "a@x.test", 3, ""));
	for (int i = 0; i < N; i++) {
		int n = snprintf(rcpts + rlen, cap - rlen, "%suser-%04d@a-rather-long-domain.example",
				i > 0 ? "," : "", i);

		rlen += (size_t)n;
		len += (size_t)snprintf(want + len, cap - len,
				"RCPT TO:<user-%04d@a-rather-long-domain.example>\r\n", i);
	}
	len += (size_t)snprintf(want + len, cap - len, "DATA\r\n");
	assert_true(len > 64 * 1024);
	submit(f, msg_make(f, "a@x.test", rcpts, "x\r\n", 3), &r);
	fd = ds_open(f, EHLO_PIPE);
	ds_expect(f, fd, want);
	rlen = (size_t)snprintf(replies, N * 16 + 64, "250 ok\r\n");
	for (int i = 0; i < N; i++)
		rlen += (size_t)snprintf(replies + rlen, N * 16 + 64 - rlen, "250 ok\r\n");
	snprintf(replies + rlen, N * 16 + 64 - rlen, "354 go\r\n");
	ds_send(fd, replies);
	ds_expect(f, fd, "x\r\n.\r\n");
	ds_send(fd, "250 ok\r\n");
	wait_done(f, &r);
	assert_int_equal(r.res.code, 250);
	free(rcpts);
	free(want);
	free(replies);
}

/* An SMTPUTF8 message to a downstream without SMTPUTF8, and one larger
 * than the downstream's SIZE: answered without a MAIL command, and the
 * connection stays usable. */
static void
test_smtputf8_and_size(void **state)
{
	struct fx *f = *state;
	struct mx_msg *m;
	struct rec r = { 0 }, r2 = { 0 }, r3 = { 0 };
	char want[256], mail[128];
	int fd;

	m = msg_simple(f, "b@y.test", "x\r\n");
	m->smtputf8 = true;
	submit(f, m, &r);
	fd = ds_open(f, "250-ds.test\r\n250-PIPELINING\r\n250 SIZE 20\r\n");
	wait_done(f, &r);
	assert_int_equal(r.res.code, 451);
	assert_string_equal(r.res.text, "4.6.7 downstream lacks SMTPUTF8");

	submit(f, msg_simple(f, "b@y.test", "0123456789012345678901234\r\n"), &r2);
	wait_done(f, &r2);
	assert_int_equal(r2.res.code, 552);
	assert_string_equal(r2.res.text, "5.3.4 message size exceeds the downstream's limit");

	submit(f, msg_simple(f, "b@y.test", "small\r\n"), &r3);
	snprintf(want, sizeof(want), "%sRCPT TO:<b@y.test>\r\nDATA\r\n",
			mail_line(mail, sizeof(mail), "a@x.test", 7, ""));
	ds_expect(f, fd, want);
	ds_send(fd, "250 ok\r\n250 ok\r\n354 go\r\n");
	ds_expect(f, fd, "small\r\n.\r\n");
	ds_send(fd, "250 ok\r\n");
	wait_done(f, &r3);
	assert_int_equal(r3.res.code, 250);
	ds_no_pending(f);
}

/* SMTPUTF8 is passed on when offered. */
static void
test_smtputf8_param(void **state)
{
	struct fx *f = *state;
	struct mx_msg *m = msg_make(f, "j\xc3\xb6rg@x.test", "b@y.test", "x\r\n", 3);
	struct rec r = { 0 };
	int fd;

	m->smtputf8 = true;
	m->body = MX_BODY_8BITMIME;
	submit(f, m, &r);
	fd = ds_open(f, EHLO_PIPE);
	ds_expect(f, fd, "MAIL FROM:<j\xc3\xb6rg@x.test> SIZE=3 BODY=8BITMIME SMTPUTF8\r\n"
			"RCPT TO:<b@y.test>\r\nDATA\r\n");
	ds_send(fd, "250 ok\r\n250 ok\r\n354 go\r\n");
	ds_expect(f, fd, "x\r\n.\r\n");
	ds_send(fd, "250 ok\r\n");
	wait_done(f, &r);
	assert_int_equal(r.res.code, 250);
}

/* An envelope with a CR or LF would inject commands downstream. */
static void
test_envelope_injection(void **state)
{
	struct fx *f = *state;
	struct rec r = { 0 };

	submit(f, msg_simple(f, "b@y.test>\r\nRCPT TO:<evil@z.test", "x\r\n"), &r);
	wait_done(f, &r);
	assert_int_equal(r.res.code, 451);
	ds_no_pending(f);
}

/* relay_max_conns = 1: three messages share one connection in FIFO
 * order. */
static void
test_pool_fifo(void **state)
{
	struct fx *f = *state;
	struct mx_conf *c;
	struct rec r[3] = { { 0 } };
	char body[3][16];
	int fd;

	c = fx_conf(f);
	c->relay_max_conns = 1;
	fx_set_conf(f, c);
	for (int i = 0; i < 3; i++) {
		snprintf(body[i], sizeof(body[i]), "msg %d\r\n", i);
		submit(f, msg_simple(f, "b@y.test", body[i]), &r[i]);
	}
	assert_int_equal(mx_relay_in_flight(f->relay), 3);
	fd = ds_open(f, EHLO_PIPE);
	for (int i = 0; i < 3; i++) {
		char data[32];

		snprintf(data, sizeof(data), "msg %d\r\n.\r\n", i);
		ds_txn_ok(f, fd, "b@y.test", strlen(body[i]), data);
		wait_done(f, &r[i]);
		assert_int_equal(r[i].res.code, 250);
		assert_int_equal(r[i].order, i + 1);
		ds_no_pending(f);
	}
	assert_int_equal(stat_get(f, MX_STAT_RELAY_CONNS_OPENED), 1);
}

/* relay_max_conns = 2: three messages open two connections, not three;
 * the third waits and goes on the first connection that is free. */
static void
test_pool_bound(void **state)
{
	struct fx *f = *state;
	struct mx_conf *c;
	struct rec r[3] = { { 0 } };
	char body[3][16], grp[256], mail[128], data[16];
	int fd[2], seen = 0;

	c = fx_conf(f);
	c->relay_max_conns = 2;
	fx_set_conf(f, c);
	for (int i = 0; i < 3; i++) {
		snprintf(body[i], sizeof(body[i]), "msg %d\r\n", i);
		submit(f, msg_simple(f, "b@y.test", body[i]), &r[i]);
	}
	fd[0] = ds_open(f, EHLO_PIPE);
	fd[1] = ds_open(f, EHLO_PIPE);
	snprintf(grp, sizeof(grp), "%sRCPT TO:<b@y.test>\r\nDATA\r\n",
			mail_line(mail, sizeof(mail), "a@x.test", 7, ""));
	for (int k = 0; k < 2; k++) {
		ds_expect(f, fd[k], grp);
		ds_send(fd[k], "250 ok\r\n250 ok\r\n354 go\r\n");
		ds_read(f, fd[k], data, 10);
		data[10] = '\0';
		assert_true(strcmp(data, "msg 0\r\n.\r\n") == 0 ||
				strcmp(data, "msg 1\r\n.\r\n") == 0);
		seen |= 1 << (data[4] - '0');
	}
	assert_int_equal(seen, 3);
	ds_no_pending(f);
	assert_int_equal(mx_relay_in_flight(f->relay), 3);
	ds_send(fd[0], "250 ok\r\n");
	ds_txn_ok(f, fd[0], "b@y.test", 7, "msg 2\r\n.\r\n");
	ds_send(fd[1], "250 ok\r\n");
	for (int i = 0; i < 3; i++) {
		wait_done(f, &r[i]);
		assert_int_equal(r[i].res.code, 250);
	}
	ds_no_pending(f);
	assert_int_equal(stat_get(f, MX_STAT_RELAY_CONNS_OPENED), 2);
}

/* Past the queue bound a submission is answered 451 4.3.2, on the next
 * pass; mx_relay_free then answers everything still in flight with 451. */
static void
test_queue_bound_and_free(void **state)
{
	struct fx *f = *state;
	struct mx_conf *c;
	const unsigned n = MX_RELAY_QUEUE_PER_CONN + 2;
	struct rec r[MX_RELAY_QUEUE_PER_CONN + 2];
	int fd;

	memset(r, 0, sizeof(r));
	c = fx_conf(f);
	c->relay_max_conns = 1;
	fx_set_conf(f, c);
	for (unsigned i = 0; i < n; i++)
		submit(f, msg_simple(f, "b@y.test", "x\r\n"), &r[i]);
	assert_int_equal(mx_relay_in_flight(f->relay), n);
	fd = ds_accept(f);
	wait_done(f, &r[n - 1]);
	assert_int_equal(r[n - 1].res.code, 451);
	assert_string_equal(r[n - 1].res.text, "4.3.2 downstream busy, try again later");
	for (unsigned i = 0; i < n - 1; i++)
		assert_int_equal(r[i].calls, 0);
	assert_int_equal(mx_relay_in_flight(f->relay), n - 1);

	/* the first one is mid-handshake, the rest queued */
	ds_send(fd, "220 ds.test ESMTP\r\n");
	ds_expect(f, fd, EHLO_LINE);
	mx_relay_free(f->relay);
	f->relay = NULL;
	for (unsigned i = 0; i < n - 1; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].res.code, 451);
	}
	ds_expect_closed(f, fd, "");
}

/* Free while the message is going out: done runs with 451 inside free,
 * the connection is reset, and nothing of ours is touched afterwards
 * when the transport reports the close. */
static void
test_free_in_data(void **state)
{
	struct fx *f = *state;
	struct rec r = { 0 };
	char want[256], mail[128];
	int fd;

	submit(f, msg_simple(f, "b@y.test", "x\r\n"), &r);
	fd = ds_open(f, EHLO_PIPE);
	snprintf(want, sizeof(want), "%sRCPT TO:<b@y.test>\r\nDATA\r\n",
			mail_line(mail, sizeof(mail), "a@x.test", 3, ""));
	ds_expect(f, fd, want);
	ds_send(fd, "250 ok\r\n250 ok\r\n354 go\r\n");
	ds_expect(f, fd, "x\r\n.\r\n");
	mx_relay_free(f->relay);
	f->relay = NULL;
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.res.code, 451);
	/* the transport reports the reset to the orphaned callbacks */
	ds_expect_closed(f, fd, "");
	for (int i = 0; i < 20; i++)
		pump(f);
}

/* detach: the client went away; the delivery still completes, done is
 * not called, the msg is released. */
static void
test_detach(void **state)
{
	struct fx *f = *state;
	struct rec r = { 0 };
	uint64_t h;
	int fd;

	h = submit(f, msg_simple(f, "b@y.test", "x\r\n"), &r);
	mx_deliver_detach(f->d, h);
	fd = ds_open(f, EHLO_PIPE);
	ds_txn_ok(f, fd, "b@y.test", 3, "x\r\n.\r\n");
	PUMP_UNTIL(f, mx_relay_in_flight(f->relay) == 0);
	assert_int_equal(r.calls, 0);
	assert_int_equal(stat_get(f, MX_STAT_RELAY_OK), 1);
	assert_int_equal(mx_chunk_pool_bytes_in_use(f->pool), 0);
	/* a stale handle is harmless */
	mx_deliver_detach(f->d, h);
}

/* Idle connections are closed with QUIT after relay_idle_ms. */
static void
test_idle_close(void **state)
{
	struct fx *f = *state;
	struct mx_conf *c;
	struct rec r = { 0 };
	int fd;

	c = fx_conf(f);
	c->relay_idle_ms = 100;
	fx_set_conf(f, c);
	submit(f, msg_simple(f, "b@y.test", "x\r\n"), &r);
	fd = ds_open(f, EHLO_PIPE);
	ds_txn_ok(f, fd, "b@y.test", 3, "x\r\n.\r\n");
	wait_done(f, &r);
	ds_expect_closed(f, fd, "QUIT\r\n");
}

/* A new downstream: idle connections to the old one close, the next
 * message goes to the new one. */
static void
test_set_conf_new_downstream(void **state)
{
	struct fx *f = *state;
	struct mx_conf *c;
	struct rec r = { 0 }, r2 = { 0 };
	uint16_t port2;
	int lfd2 = listen_local(&port2), fd, fd2, lfd1;

	submit(f, msg_simple(f, "b@y.test", "x\r\n"), &r);
	fd = ds_open(f, EHLO_PIPE);
	ds_txn_ok(f, fd, "b@y.test", 3, "x\r\n.\r\n");
	wait_done(f, &r);

	c = fx_conf(f);
	conf_downstream(c, port2);
	fx_set_conf(f, c);
	ds_expect_closed(f, fd, "QUIT\r\n");
	submit(f, msg_simple(f, "b@y.test", "y\r\n"), &r2);
	lfd1 = f->lfd;
	f->lfd = lfd2;
	fd2 = ds_open(f, EHLO_PIPE);
	ds_txn_ok(f, fd2, "b@y.test", 3, "y\r\n.\r\n");
	wait_done(f, &r2);
	assert_int_equal(r2.res.code, 250);
	f->lfd = lfd1;
	close(lfd2);
}

/* The downstream closed a pooled connection while it was idle: the next
 * message goes over a new connection instead of failing. */
static void
test_pooled_conn_closed_by_downstream(void **state)
{
	struct fx *f = *state;
	struct rec r = { 0 }, r2 = { 0 };
	int fd, fd2;

	submit(f, msg_simple(f, "b@y.test", "x\r\n"), &r);
	fd = ds_open(f, EHLO_PIPE);
	ds_txn_ok(f, fd, "b@y.test", 3, "x\r\n.\r\n");
	wait_done(f, &r);
	ds_send(fd, "421 4.4.2 idle too long\r\n");
	ds_expect_closed(f, fd, "QUIT\r\n");
	submit(f, msg_simple(f, "b@y.test", "y\r\n"), &r2);
	fd2 = ds_open(f, EHLO_PIPE);
	ds_txn_ok(f, fd2, "b@y.test", 3, "y\r\n.\r\n");
	wait_done(f, &r2);
	assert_int_equal(r2.res.code, 250);
}

/* The downstream closed a pooled connection and the relay learns it only
 * after it sent the next envelope on it: no reply came, so nothing can
 * have been delivered, and the message goes over a new connection. */
static void
test_pooled_conn_closed_retry(void **state)
{
	struct fx *f = *state;
	struct rec r = { 0 }, r2 = { 0 };
	int fd, fd2;

	submit(f, msg_simple(f, "b@y.test", "x\r\n"), &r);
	fd = ds_open(f, EHLO_PIPE);
	ds_txn_ok(f, fd, "b@y.test", 3, "x\r\n.\r\n");
	wait_done(f, &r);
	/* no pass between the close and the submission: the relay still
	 * takes the connection for healthy */
	ds_close(f, fd);
	submit(f, msg_simple(f, "b@y.test", "y\r\n"), &r2);
	fd2 = ds_open(f, EHLO_PIPE);
	ds_txn_ok(f, fd2, "b@y.test", 3, "y\r\n.\r\n");
	wait_done(f, &r2);
	assert_int_equal(r2.res.code, 250);
	assert_int_equal(stat_get(f, MX_STAT_RELAY_CONNS_OPENED), 2);
}

/* Reference dot-stuffing, byte at a time. */
static size_t
stuff_ref(const uint8_t *in, size_t len, uint8_t *out)
{
	size_t o = 0;
	bool bol = true;

	for (size_t i = 0; i < len; i++) {
		if (bol && in[i] == '.')
			out[o++] = '.';
		out[o++] = in[i];
		bol = in[i] == '\n';
	}
	if (len > 0 && !(len >= 2 && in[len - 2] == '\r' && in[len - 1] == '\n')) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	memcpy(out + o, ".\r\n", 3);
	return o + 3;
}

/* 10 MiB with many dot lines, through 64 KiB send buffers: the bytes on
 * the wire are exactly the stuffed message. */
static void
test_large_message(void **state)
{
	struct fx *f = *state;
	const size_t size = 10u << 20;
	uint8_t *body = malloc(size), *want = malloc(2 * size + 8), *got;
	struct rec r = { 0 };
	uint32_t x = 12345;
	size_t i = 0, wlen, have = 0;
	char grp[256], mail[128];
	ssize_t n;
	int fd;

	assert_non_null(body);
	assert_non_null(want);
	while (i < size) {
		size_t line;

		x = x * 1103515245u + 12345u;
		line = (x >> 16) % 300;
		if (((x >> 8) & 7) == 0 && i < size)
			body[i++] = '.';
		for (size_t k = 0; k < line && i < size; k++)
			body[i++] = (uint8_t)('a' + (k + (x >> 4)) % 26);
		if (i < size)
			body[i++] = '\r';
		if (i < size)
			body[i++] = '\n';
	}
	wlen = stuff_ref(body, size, want);
	got = malloc(wlen);
	assert_non_null(got);
	submit(f, msg_make(f, "a@x.test", "b@y.test", body, size), &r);
	fd = ds_open(f, EHLO_PIPE);
	snprintf(grp, sizeof(grp), "%sRCPT TO:<b@y.test>\r\nDATA\r\n",
			mail_line(mail, sizeof(mail), "a@x.test", size, ""));
	ds_expect(f, fd, grp);
	ds_send(fd, "250 ok\r\n250 ok\r\n354 go\r\n");
	PUMP_UNTIL(f, have == wlen ||
		((n = ds_recv(fd, got + have, wlen - have)) > 0 && (have += (size_t)n, false)));
	assert_int_equal(have, wlen);
	assert_true(memcmp(got, want, wlen) == 0);
	ds_send(fd, "250 ok\r\n");
	wait_done(f, &r);
	assert_int_equal(r.res.code, 250);
	free(body);
	free(want);
	free(got);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
		T(test_pipelined_delivery),
		T(test_lockstep),
		T(test_dot_stuffing),
		T(test_dot_after_prepend),
		T(test_multiline_replies),
		T(test_rcpt_refused_mixed),
		T(test_rcpt_refused_all_5xx),
		T(test_354_after_refusal_aborts),
		T(test_lockstep_rcpt_refused),
		T(test_mail_refused),
		T(test_final_refused),
		T(test_greeting_4xx),
		T(test_ehlo_fallback_helo),
		T(test_connection_refused),
		T(test_timeout_greeting),
		T(test_timeout_final),
		T(test_close_after_dot),
		T(test_protocol_error),
		T(test_reply_too_long),
		T(test_many_recipients),
		T(test_smtputf8_and_size),
		T(test_smtputf8_param),
		T(test_envelope_injection),
		T(test_pool_fifo),
		T(test_pool_bound),
		T(test_queue_bound_and_free),
		T(test_free_in_data),
		T(test_detach),
		T(test_idle_close),
		T(test_set_conf_new_downstream),
		T(test_pooled_conn_closed_by_downstream),
		T(test_pooled_conn_closed_retry),
		T(test_large_message),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
