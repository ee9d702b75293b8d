/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * gen.c: the generator (mx_bench_gen_run): many sending MTAs against one
 * target, on one struct mx_loop. Each of `concurrency` session slots runs
 * one SMTP session at a time (RFC 5321 3.1-3.3: greeting, EHLO, optional
 * STARTTLS (RFC 3207) and EHLO again, `messages` transactions of MAIL,
 * `rcpts` RCPT, DATA and the message, then QUIT); when a session ends the
 * slot starts the next one until the session count or the duration runs
 * out. With pipelining (RFC 2920, when the server offers it) MAIL, the
 * RCPTs and DATA leave in one write and their replies are read in order.
 *
 * Every reply is timed from the moment its command was handed to the
 * stream; phases go to per-phase histograms. A reply other than the one
 * expected is counted by code and ends the session (QUIT, close): the
 * generator never guesses what the server meant.
 *
 * Slots, their buffers and their TLS contexts are allocated once at start;
 * the message bodies are built (or loaded from the corpus) once too, so a
 * running generator does not allocate.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gen_priv.h"

#define HOLD_POLL_MS 100

void
mx_bench_gen_conf_defaults(struct mx_bench_gen_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->transport = MX_TRANSPORT_KERNEL;
	c->sessions = 1000;
	c->duration_s = 600;
	c->concurrency = 10;
	c->messages = 1;
	c->rcpts = 1;
	c->pipelining = true;
	c->sizes.n = 1;
	c->sizes.total = 1;
	c->sizes.size[0] = 4096;
	c->sizes.weight[0] = 1;
	c->helo = "bench.gen.test";
	c->mail_from = "bench@gen.test";
	c->rcpt_domain = "example.test";
	c->reply_timeout_s = 60;
}

/* xorshift64*: cheap, deterministic, enough to pick sizes and shares. */
static uint64_t
rnd(struct gen *g)
{
	g->rng ^= g->rng >> 12;
	g->rng ^= g->rng << 25;
	g->rng ^= g->rng >> 27;
	return g->rng * 2685821657736338717ull;
}

static double
rnd01(struct gen *g)
{
	return (double)(rnd(g) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- bodies ---- */

/* One line of filler, without its CRLF; it does not start with a dot. */
static const char filler[] =
	"The quick brown fox jumps over the lazy dog; mxedge-bench payload 0123456789";

/* A message of exactly size bytes (headers included) ending in CRLF, no
 * line starting with a dot, so it needs no dot-stuffing. */
static int
body_make(struct gen *g, uint64_t size, struct body *b)
{
	char hdr[512];
	size_t off, hl;
	uint8_t *p;

	hl = (size_t)snprintf(hdr, sizeof(hdr),
			"From: <%s>\r\nTo: <user1@%s>\r\nSubject: mxedge-bench %llu bytes\r\n"
			"Message-ID: <%llu.bench@gen.test>\r\n\r\n",
			g->c->mail_from, g->c->rcpt_domain,
			(unsigned long long)size, (unsigned long long)size);
	if (hl >= sizeof(hdr))
		return -EINVAL;
	if (size < hl + 2)
		size = hl + 2;
	p = malloc(size);
	if (p == NULL)
		return -ENOMEM;
	memcpy(p, hdr, hl);
	/* Lines of at most 78 bytes with their CRLF; never leave a single
	 * byte over, since every line needs its CRLF. */
	for (off = hl; off < size;) {
		size_t left = size - off;
		size_t l = MX_MIN(left, sizeof(filler) + 1u);

		if (left - l == 1)
			l--;
		memcpy(p + off, filler, l - 2);
		memcpy(p + off + l - 2, "\r\n", 2);
		off += l;
	}
	b->p = p;
	b->len = size;
	return 0;
}

/* A corpus file as it goes on the wire: bare LF becomes CRLF, lines that
 * start with a dot are stuffed (RFC 5321 4.5.2), a final CRLF is added. */
static int
body_from_file(const char *path, struct body *b)
{
	struct stat sb;
	uint8_t *raw, *p;
	size_t n = 0, len;
	bool bol = true;
	int fd, rc = 0;
	ssize_t got;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) != 0 || sb.st_size <= 0 || sb.st_size > MX_BENCH_SIZE_LIMIT) {
		close(fd);
		return -EINVAL;
	}
	len = (size_t)sb.st_size;
	raw = malloc(len);
	p = malloc(len * 2 + 2);
	if (raw == NULL || p == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t off = 0; off < len; off += (size_t)got) {
		got = read(fd, raw + off, len - off);
		if (got <= 0) {
			rc = got < 0 ? -errno : -EIO;
			goto out;
		}
	}
	for (size_t i = 0; i < len; i++) {
		if (bol && raw[i] == '.')
			p[n++] = '.';
		if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r'))
			p[n++] = '\r';
		p[n++] = raw[i];
		bol = raw[i] == '\n';
	}
	if (!bol) {
		p[n++] = '\r';
		p[n++] = '\n';
	}
	b->p = p;
	b->len = n;
	p = NULL;
out:
	free(raw);
	free(p);
	close(fd);
	return rc;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
corpus_load(struct gen *g, const char *dir)
{
	char *names[MX_BENCH_CORPUS_CAP];
	unsigned n = 0;
	struct dirent *de;
	char path[4096];
	DIR *d;
	int rc = 0;

	d = opendir(dir);
	if (d == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL && n < MX_BENCH_CORPUS_CAP) {
		size_t l = strlen(de->d_name);

		if (l > 4 && strcmp(de->d_name + l - 4, ".eml") == 0)
			if ((names[n] = strdup(de->d_name)) != NULL)
				n++;
	}
	closedir(d);
	if (n == 0)
		return -ENOENT;
	qsort(names, n, sizeof(names[0]), name_cmp);
	g->bodies = calloc(n, sizeof(*g->bodies));
	if (g->bodies == NULL)
		rc = -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		if (rc == 0) {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
			rc = body_from_file(path, &g->bodies[i]);
			if (rc != 0)
				fprintf(stderr, "mxedge-bench: corpus %s: %s\n", path, strerror(-rc));
			else
				g->n_bodies++;
		}
		free(names[i]);
	}
	g->corpus = true;
	return rc;
}

static int
bodies_load(struct gen *g)
{
	int rc;

	if (g->c->corpus != NULL)
		return corpus_load(g, g->c->corpus);
	g->bodies = calloc(g->c->sizes.n, sizeof(*g->bodies));
	if (g->bodies == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < g->c->sizes.n; i++) {
		rc = body_make(g, g->c->sizes.size[i], &g->bodies[i]);
		if (rc != 0)
			return rc;
		g->n_bodies++;
	}
	return 0;
}

static const struct body *
body_next(struct gen *g)
{
	if (g->corpus)
		return &g->bodies[g->msg_seq++ % g->n_bodies];
	return &g->bodies[mx_bench_sizes_pick(&g->c->sizes, rnd(g))];
}

/* ---- output ---- */

static void
sess_fail(struct sess *s)
{
	if (s->failed)
		return;
	s->failed = true;
	s->g->r->sessions_failed++;
	if (s->in_txn)
		s->g->r->messages_failed++;
	s->in_txn = false;
}

/* Hands queued commands, then the body, then the final dot to the stream
 * (or to TLS). Stops when the stream takes no more; on_writable resumes. */
static void
sess_flush(struct sess *s)
{
	long n;

	for (;;) {
		if (s->out_off < s->out_len) {
			n = mx_bench_gen_write(s, s->out + s->out_off, s->out_len - s->out_off);
			if (n <= 0)
				break;
			s->out_off += (size_t)n;
			continue;
		}
		s->out_off = s->out_len = 0;
		if (s->body == NULL)
			break;
		if (s->body_off < s->body->len) {
			n = mx_bench_gen_write(s, s->body->p + s->body_off, s->body->len - s->body_off);
			if (n <= 0)
				break;
			s->body_off += (size_t)n;
			continue;
		}
		s->body = NULL;
		memcpy(s->out, ".\r\n", 3);
		s->out_len = 3;
		s->t_dot = mx_clock_us();
	}
	if (s->write_err || s->overflow) {
		s->g->r->err[s->overflow ? MX_BENCH_ERR_PROTOCOL :
			s->tls != NULL ? MX_BENCH_ERR_TLS : MX_BENCH_ERR_CLOSED]++;
		s->write_err = s->overflow = false;
		sess_fail(s);
		s->state = S_CLOSING;
		mx_stream_abort(s->st);
	}
}

/* Queues one command line; the buffer holds a whole pipelined group. */
MX_PRINTF(2, 3) static void
sess_cmd(struct sess *s, const char *fmt, ...)
{
	size_t room = s->g->out_size - s->out_len;
	va_list ap;
	int w;

	/* The buffer is sized at start for a whole group; only a server that
	 * answers commands it has not received yet can make it overflow. */
	va_start(ap, fmt);
	w = vsnprintf((char *)s->out + s->out_len, room, fmt, ap);
	va_end(ap);
	if (w <= 0 || (size_t)w >= room) {
		s->overflow = true;
		return;
	}
	s->out_len += (size_t)w;
}

/* ---- the session ---- */

static void
start_sessions(struct gen *g);

static void
sess_quit(struct sess *s)
{
	sess_cmd(s, "QUIT\r\n");
	s->t_cmd = mx_clock_us();
	s->state = S_QUIT;
	sess_flush(s);
}

/* Counts an unexpected reply and ends the session politely. */
static void
sess_bad_reply(struct sess *s, int code)
{
	s->g->r->err_code[code]++;
	sess_fail(s);
	if (s->state == S_QUIT || s->state == S_GREET) {
		s->state = S_CLOSING;
		mx_stream_close(s->st);
		return;
	}
	sess_cmd(s, "QUIT\r\n");
	s->state = S_CLOSING;
	sess_flush(s);
	mx_stream_close(s->st);
}

static void
phase(struct sess *s, enum mx_bench_phase ph, uint64_t since)
{
	uint64_t now = mx_clock_us();

	mx_bench_hist_record(&s->g->r->phase[ph], now > since ? now - since : 0);
	s->t_cmd = now;
}

static void
msg_start(struct sess *s)
{
	struct gen *g = s->g;

	s->in_txn = true;
	s->msg_body = body_next(g);
	s->rcpt_sent = 0;
	s->rcpt_replies = 0;
	sess_cmd(s, "MAIL FROM:<%s>\r\n", g->c->mail_from);
	if (s->pipelining) {
		for (unsigned i = 1; i <= g->c->rcpts; i++)
			sess_cmd(s, "RCPT TO:<user%u@%s>\r\n", i, g->c->rcpt_domain);
		s->rcpt_sent = g->c->rcpts;
		sess_cmd(s, "DATA\r\n");
	}
	s->t_cmd = mx_clock_us();
	s->state = S_MAIL;
	sess_flush(s);
}

static void
rcpt_send(struct sess *s)
{
	s->rcpt_sent++;
	sess_cmd(s, "RCPT TO:<user%u@%s>\r\n", s->rcpt_sent, s->g->c->rcpt_domain);
	s->t_cmd = mx_clock_us();
	sess_flush(s);
}

/* Idle mode: the session says nothing more until chores() ends it. */
static void
sess_hold(struct sess *s)
{
	struct gen *g = s->g;

	s->state = S_HOLD;
	s->held = true;
	s->hold_until = mx_clock_ms() + (uint64_t)g->c->hold_s * 1000u;
	g->held++;
	if (g->held > g->r->held_max)
		g->r->held_max = g->held;
}

static void
after_ehlo(struct sess *s, unsigned ext)
{
	struct gen *g = s->g;

	s->pipelining = g->c->pipelining && (ext & MX_BENCH_EXT_PIPELINING) != 0;
	if (s->want_tls && s->tls == NULL) {
		if ((ext & MX_BENCH_EXT_STARTTLS) == 0) {
			g->r->err[MX_BENCH_ERR_NOTLS]++;
			sess_fail(s);
			sess_cmd(s, "QUIT\r\n");
			s->state = S_CLOSING;
			sess_flush(s);
			mx_stream_close(s->st);
			return;
		}
		sess_cmd(s, "STARTTLS\r\n");
		s->t_tls = mx_clock_us();
		s->state = S_STARTTLS;
		sess_flush(s);
		return;
	}
	if (g->c->hold_s > 0 && g->c->hold_after == 0) {
		sess_hold(s);
		return;
	}
	msg_start(s);
}

static void
send_ehlo(struct sess *s)
{
	sess_cmd(s, "EHLO %s\r\n", s->g->c->helo);
	s->t_cmd = mx_clock_us();
	s->state = S_EHLO;
	sess_flush(s);
}

void
mx_bench_gen_tls_done(struct sess *s)
{
	phase(s, MX_BENCH_PH_TLS, s->t_tls);
	send_ehlo(s);
}

static void
on_dot(struct sess *s, int code)
{
	struct gen *g = s->g;

	if (code != 250) {
		sess_bad_reply(s, code);
		return;
	}
	phase(s, MX_BENCH_PH_DOT, s->t_dot);
	s->in_txn = false;
	g->r->messages_ok++;
	g->r->bytes_ok += s->msg_body->len;
	if (++s->msgs_done < (g->c->hold_s > 0 ? g->c->hold_after : g->c->messages))
		msg_start(s);
	else if (g->c->hold_s > 0)
		sess_hold(s);
	else
		sess_quit(s);
}

static void
on_data(struct sess *s, int code)
{
	if (code != 354) {
		sess_bad_reply(s, code);
		return;
	}
	phase(s, MX_BENCH_PH_DATA, s->t_cmd);
	s->body = s->msg_body;
	s->body_off = 0;
	s->state = S_DOT;
	sess_flush(s);
}

static void
on_rcpt(struct sess *s, int code)
{
	struct gen *g = s->g;

	if (code != 250 && code != 251) {
		sess_bad_reply(s, code);
		return;
	}
	phase(s, MX_BENCH_PH_RCPT, s->t_cmd);
	s->rcpt_replies++;
	if (s->rcpt_replies < g->c->rcpts) {
		if (!s->pipelining)
			rcpt_send(s);
		return;
	}
	s->state = S_DATA;
	if (!s->pipelining) {
		sess_cmd(s, "DATA\r\n");
		s->t_cmd = mx_clock_us();
		sess_flush(s);
	}
}

static void
on_starttls(struct sess *s, int code)
{
	if (code != 220) {
		sess_bad_reply(s, code);
		return;
	}
	/* RFC 3207 5: nothing may follow the 220 in clear text; bytes that
	 * did would be a STARTTLS injection. */
	if (s->in_len != 0 || mx_stream_readable(s->st) != 0) {
		s->g->r->err[MX_BENCH_ERR_PROTOCOL]++;
		sess_fail(s);
		s->state = S_CLOSING;
		mx_stream_abort(s->st);
		return;
	}
	mx_bench_gen_tls_start(s);
}

static void
on_mail(struct sess *s, int code)
{
	if (code != 250) {
		sess_bad_reply(s, code);
		return;
	}
	phase(s, MX_BENCH_PH_MAIL, s->t_cmd);
	s->state = S_RCPT;
	if (!s->pipelining)
		rcpt_send(s);
}

static void
on_quit(struct sess *s, int code)
{
	if (code != 221) {
		sess_bad_reply(s, code);
		return;
	}
	phase(s, MX_BENCH_PH_QUIT, s->t_cmd);
	s->ok = true;
	s->state = S_CLOSING;
	mx_stream_close(s->st);
}

/* One complete reply, in the order the commands went out. */
static void
on_reply(struct sess *s, const struct mx_bench_reply *rp)
{
	int code = rp->code;

	switch (s->state) {
	case S_GREET:
		if (code != 220) {
			sess_bad_reply(s, code);
			break;
		}
		phase(s, MX_BENCH_PH_CONNECT, s->t_conn);
		send_ehlo(s);
		break;
	case S_EHLO:
		if (code != 250) {
			sess_bad_reply(s, code);
			break;
		}
		phase(s, MX_BENCH_PH_EHLO, s->t_cmd);
		after_ehlo(s, rp->ext);
		break;
	case S_STARTTLS:
		on_starttls(s, code);
		break;
	case S_MAIL:
		on_mail(s, code);
		break;
	case S_RCPT:
		on_rcpt(s, code);
		break;
	case S_DATA:
		on_data(s, code);
		break;
	case S_DOT:
		/* a reply before our dot left is out of order */
		if (s->body != NULL || s->out_len != 0)
			sess_bad_reply(s, code);
		else
			on_dot(s, code);
		break;
	case S_QUIT:
		on_quit(s, code);
		break;
	default:
		/* holding (RFC 5321 4.5.3.2: the server may send 421) or
		 * closing: nothing more is expected */
		if (s->state == S_HOLD && code == 421) {
			s->g->r->err_code[code]++;
			sess_fail(s);
			s->g->held--;
			s->held = false;
			s->state = S_CLOSING;
			mx_stream_close(s->st);
		}
		break;
	}
}

void
mx_bench_gen_input(struct sess *s)
{
	struct mx_bench_reply rp;
	size_t off = 0;
	long n;

	while (s->state != S_CLOSING && off < s->in_len) {
		n = mx_bench_reply_parse(s->in + off, s->in_len - off, &rp);
		if (n == 0)
			break;
		if (n < 0) {
			s->g->r->err[MX_BENCH_ERR_PROTOCOL]++;
			sess_fail(s);
			s->state = S_CLOSING;
			mx_stream_abort(s->st);
			return;
		}
		off += (size_t)n;
		s->last_ms = mx_clock_ms();
		if (s->state == S_STARTTLS) {
			memmove(s->in, s->in + off, s->in_len - off);
			s->in_len -= off;
			off = 0;
		}
		on_reply(s, &rp);
	}
	if (off > 0) {
		memmove(s->in, s->in + off, s->in_len - off);
		s->in_len -= off;
	}
	if (s->in_len == IN_SIZE) {
		s->g->r->err[MX_BENCH_ERR_PROTOCOL]++;
		sess_fail(s);
		s->state = S_CLOSING;
		mx_stream_abort(s->st);
	}
}

static void
st_readable(struct mx_stream *st, void *arg)
{
	struct sess *s = arg;
	const uint8_t *p;
	size_t n;

	if (s->tls != NULL || s->state == S_TLS) {
		mx_bench_gen_tls_readable(s);
		return;
	}
	while (s->state != S_CLOSING && s->tls == NULL && s->in_len < IN_SIZE &&
			(n = mx_stream_read_view(st, &p)) > 0) {
		n = MX_MIN(n, IN_SIZE - s->in_len);
		memcpy(s->in + s->in_len, p, n);
		s->in_len += n;
		mx_stream_consume(st, n);
		mx_bench_gen_input(s);
	}
	if (s->state == S_CLOSING) {
		mx_stream_consume(st, mx_stream_readable(st));
		return;
	}
	if (s->tls != NULL)
		return;
	if (mx_stream_peer_closed(st)) {
		s->g->r->err[MX_BENCH_ERR_CLOSED]++;
		sess_fail(s);
		s->state = S_CLOSING;
		mx_stream_close(st);
	}
}

static void
st_writable(struct mx_stream *st, void *arg)
{
	struct sess *s = arg;

	if (s->state == S_TLS) {
		mx_bench_gen_tls_step(s);
		return;
	}
	sess_flush(s);
}

static void
st_connected(struct mx_stream *st, int err, void *arg)
{
	struct sess *s = arg;

	if (err != 0) {
		s->g->r->err[MX_BENCH_ERR_CONNECT]++;
		sess_fail(s);
		s->state = S_CLOSING;
		return;
	}
	s->state = S_GREET;
	s->last_ms = mx_clock_ms();
}

static void
st_closed(struct mx_stream *st, int err, void *arg)
{
	struct sess *s = arg;
	struct gen *g = s->g;

	if (!s->ok && !s->failed) {
		g->r->err[MX_BENCH_ERR_CLOSED]++;
		sess_fail(s);
	}
	if (s->ok && !s->failed)
		g->r->sessions_ok++;
	if (s->held)
		g->held--;
	s->held = false;
	mx_bench_gen_tls_end(s);
	s->st = NULL;
	s->state = S_FREE;
	g->active--;
	g->free_slots[g->n_free++] = s->idx;
	start_sessions(g);
}

static const struct mx_stream_cb sess_cb = {
	.on_readable = st_readable,
	.on_writable = st_writable,
	.on_connected = st_connected,
	.on_closed = st_closed,
};

static bool
more_sessions(const struct gen *g)
{
	if (g->stopping)
		return false;
	if (g->c->sessions > 0)
		return g->r->sessions_started < g->c->sessions;
	return mx_clock_ms() < g->t_end_ms;
}

static void
sess_begin(struct gen *g, struct sess *s)
{
	struct mx_stream *st;
	int rc;

	s->state = S_CONNECTING;
	s->in_len = s->out_len = s->out_off = 0;
	s->body = NULL;
	s->msgs_done = 0;
	s->ok = s->failed = s->in_txn = s->write_err = s->overflow = false;
	s->want_tls = g->c->starttls > 0 && rnd01(g) < g->c->starttls;
	s->want_resume = s->want_tls && g->c->resume > 0 && rnd01(g) < g->c->resume;
	s->t_conn = mx_clock_us();
	s->last_ms = mx_clock_ms();
	g->active++;
	rc = mx_stream_connect(g->loop, &g->c->targets[g->r->sessions_started %
			g->c->n_targets], &sess_cb, s, &st);
	g->r->sessions_started++;
	if (rc != 0) {
		g->r->err[MX_BENCH_ERR_CONNECT]++;
		g->r->sessions_failed++;
		g->active--;
		s->state = S_FREE;
		g->free_slots[g->n_free++] = s->idx;
		g->connect_fail_streak++;
		return;
	}
	g->connect_fail_streak = 0;
	s->st = st;
}

static void
start_sessions(struct gen *g)
{
	/* A burst of local connect failures (ports, descriptors) must not
	 * spin: retry on the next pass. */
	while (g->n_free > 0 && more_sessions(g) && g->connect_fail_streak < 64) {
		struct sess *s = &g->slots[g->free_slots[--g->n_free]];

		sess_begin(g, s);
	}
}

/* Once a second: reply timeouts, held sessions whose time is up, the
 * ready file of the idle mode. */
static void
chores(struct gen *g, uint64_t now)
{
	uint64_t tmo = (uint64_t)g->c->reply_timeout_s * 1000u;

	for (unsigned i = 0; i < g->c->concurrency; i++) {
		struct sess *s = &g->slots[i];

		if (s->state == S_FREE || s->state == S_CLOSING)
			continue;
		if (s->state == S_HOLD) {
			if (now >= s->hold_until || g->stopping) {
				g->held--;
				s->held = false;
				sess_quit(s);
				s->last_ms = now;
			}
			continue;
		}
		if (now - s->last_ms > tmo || g->aborting) {
			g->r->err[MX_BENCH_ERR_TIMEOUT]++;
			sess_fail(s);
			s->state = S_CLOSING;
			mx_stream_abort(s->st);
		}
	}
}

/* Idle mode: once a second, "HELD STARTED DONE" into the ready file
 * (written aside and renamed, so a reader never sees half a line); DONE
 * is 1 once every session started and each is held or gone. */
static void
ready_file(struct gen *g)
{
	char tmp[4096];
	bool done;
	FILE *f;

	if (g->c->ready_file == NULL || g->ready_written)
		return;
	done = !more_sessions(g) &&
		g->held + (g->c->concurrency - g->active) >= g->c->concurrency;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", g->c->ready_file) >= (int)sizeof(tmp))
		return;
	f = fopen(tmp, "w");
	if (f == NULL)
		return;
	fprintf(f, "%llu %llu %d\n", (unsigned long long)g->held,
			(unsigned long long)g->r->sessions_started, done ? 1 : 0);
	if (fclose(f) == 0 && rename(tmp, g->c->ready_file) == 0 && done)
		g->ready_written = true;
}

static int
gen_setup(struct gen *g)
{
	const struct mx_bench_gen_conf *c = g->c;
	struct mx_loop_conf lc;
	struct rlimit rl;
	int rc;

	if (c->concurrency == 0 || c->concurrency > MX_BENCH_CONCURRENCY_CAP ||
			c->messages == 0 || c->messages > MX_BENCH_MESSAGES_CAP ||
			c->rcpts == 0 || c->rcpts > MX_BENCH_RCPTS_CAP ||
			c->sessions > MX_BENCH_SESSIONS_CAP ||
			c->duration_s == 0 || c->duration_s > MX_BENCH_DURATION_CAP_S ||
			strlen(c->mail_from) > 200 || strlen(c->rcpt_domain) > 200 ||
			strlen(c->helo) > 200 || c->sizes.n == 0)
		return -EINVAL;
	/* One descriptor per session on the kernel transport; raising the
	 * hard limit works with CAP_SYS_RESOURCE, else the soft one goes as
	 * far as the hard one allows. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < c->concurrency + 1024u) {
		struct rlimit want = { c->concurrency + 1024u, MX_MAX(rl.rlim_max,
				(rlim_t)c->concurrency + 1024u) };

		if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	rc = bodies_load(g);
	if (rc != 0)
		return rc;
	g->out_size = 512u + 256u * (c->rcpts + 4u);
	g->slots = calloc(c->concurrency, sizeof(*g->slots));
	g->free_slots = calloc(c->concurrency, sizeof(*g->free_slots));
	g->bufs = malloc((size_t)c->concurrency * (IN_SIZE + g->out_size));
	if (g->slots == NULL || g->free_slots == NULL || g->bufs == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < c->concurrency; i++) {
		struct sess *s = &g->slots[i];

		s->g = g;
		s->idx = i;
		s->in = g->bufs + (size_t)i * (IN_SIZE + g->out_size);
		s->out = s->in + IN_SIZE;
		g->free_slots[c->concurrency - 1u - i] = i;
	}
	g->n_free = c->concurrency;
	if (c->starttls > 0) {
		rc = mx_bench_gen_tls_init(g);
		if (rc != 0)
			return rc;
	}
	memset(&lc, 0, sizeof(lc));
	lc.transport = c->transport;
	lc.max_streams = c->concurrency + 16u + (c->sink != NULL ? c->sink->max_conns : 0);
	lc.rcvbuf_bytes = 64u << 10;
	lc.sndbuf_bytes = 64u << 10;
	lc.linger_ms = 2000;
	rc = mx_loop_create(&lc, &g->loop);
	if (rc == 0 && c->sink != NULL)
		rc = mx_bench_sink_attach(g->loop, c->sink, c->sink_stats, &g->sink);
	return rc;
}

static void
gen_free(struct gen *g)
{
	if (g->sink != NULL)
		mx_bench_sink_close(g->sink);
	if (g->loop != NULL)
		mx_loop_free(g->loop);
	mx_bench_sink_free(g->sink);
	mx_bench_gen_tls_free(g);
	for (unsigned i = 0; i < g->n_bodies; i++)
		free((void *)g->bodies[i].p);
	free(g->bodies);
	free(g->bufs);
	free(g->free_slots);
	free(g->slots);
}

static void
gen_loop(struct gen *g, volatile int *stop)
{
	uint64_t next_chore = 0, now, grace_end = 0;

	g->t_end_ms = mx_clock_ms() + (uint64_t)g->c->duration_s * 1000u;
	start_sessions(g);
	while (g->active > 0 || more_sessions(g)) {
		now = mx_clock_ms();
		if ((*stop || now >= g->t_end_ms) && !g->stopping) {
			/* Out of time: no new sessions; running ones get a
			 * grace period to finish, then they are cut. */
			g->stopping = true;
			grace_end = now + 10000u;
		}
		if (g->stopping && now >= grace_end)
			g->aborting = true;
		if (now >= next_chore || g->aborting) {
			chores(g, now);
			ready_file(g);
			next_chore = now + 1000u;
		}
		if (g->connect_fail_streak > 0) {
			g->connect_fail_streak = 0;
			start_sessions(g);
		}
		if (mx_loop_run_once(g->loop, HOLD_POLL_MS) != 0)
			break;
	}
}

int
mx_bench_gen_run(const struct mx_bench_gen_conf *c, volatile int *stop,
		struct mx_bench_result *r)
{
	struct gen g;
	uint64_t t0;
	int rc;

	memset(&g, 0, sizeof(g));
	g.c = c;
	g.r = r;
	g.rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
	rc = gen_setup(&g);
	if (rc == 0) {
		t0 = mx_clock_us();
		gen_loop(&g, stop);
		r->elapsed_s = (double)(mx_clock_us() - t0) / 1e6;
	}
	gen_free(&g);
	return rc;
}
