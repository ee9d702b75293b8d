/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * relay.c: the SMTP client to the downstream MTA (RFC 5321 client side),
 * one struct mx_relay per worker loop, behind the mx_deliver contract
 * (mx_deliver.h) and implementing mx_relay.h.
 *
 * Pool. Up to relay_max_conns connections to the configured downstream;
 * at most relay_pool_size of them wait idle (most recently used first, so
 * the others age out) and an idle one is closed after relay_idle_ms. A new
 * connection reads the 220 greeting, says EHLO (HELO when EHLO gets a
 * 5yz) and notes the extensions it can use. A submission takes an idle
 * connection, or opens a new one, or waits in a bounded FIFO; past the
 * bound it is answered 451 4.3.2 at once (on the next loop pass).
 *
 * Transaction. MAIL FROM (SIZE, BODY=8BITMIME, SMTPUTF8 as the message
 * needs and the downstream offers), one RCPT TO per recipient, DATA; all
 * in one write with PIPELINING (RFC 2920), else lock-step. Only when every
 * recipient was accepted and DATA got 354 does the message go out: the
 * prepend block, then the message bytes read in place through
 * mx_msg_view() and dot-stuffed on the way (RFC 5321 4.5.2), under the
 * stream's send backpressure, then the final dot and its reply.
 *
 * One client transaction is delivered whole or not at all: a refused
 * recipient abandons the downstream transaction (RSET; or, when a
 * pipelined DATA got 354 regardless, an abortive close, since the final
 * dot would deliver an empty message to the accepted recipients), and
 * the client gets a 4yz (5yz when every refusal was permanent) and
 * retries the whole message. A connection that breaks after the final dot
 * and before its reply leaves the outcome unknown: the client gets 451,
 * so a duplicate is possible and a loss is not (RFC 1047).
 *
 * TLS (delivery.tls, RFC 3207). After EHLO, STARTTLS when configured and
 * offered; on 220 the raw stream is wrapped in a client TLS stream
 * (mx_tls.h) that reports through the same callbacks (on_connected when
 * the handshake and the certificate check passed), then EHLO again (4.2).
 * verify: no STARTTLS or a failed check answers the job 451 4.7.5 and
 * sends nothing; opportunistic: plaintext when STARTTLS is not offered.
 * Each job's result carries the hop's TLS for the verdict log.
 *
 * Threading: everything runs on the owning worker's loop thread; done()
 * runs from the loop (end of a stream callback or a zero-delay timer),
 * never inside submit. Nothing here blocks; connections and jobs are
 * recycled through free lists, so the steady state allocates nothing.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "mx_conf.h"
#include "mx_deliver.h"
#include "mx_log.h"
#include "mx_metrics.h"
#include "mx_msg.h"
#include "mx_relay.h"
#include "mx_stream.h"
#include "mx_timer.h"
#include "mx_tls.h"

#define RELAY_LOG "mxedge.engine.relay"
/* Longest path we relay: the SMTP session bounds a command line to 512
 * bytes (RFC 5321 4.5.3.1.4), so a path from it is always shorter. */
#define RELAY_PATH_MAX 512u
/* "MAIL FROM:<path> SIZE=n BODY=8BITMIME SMTPUTF8\r\n" fits with room. */
#define RELAY_CMD_MAX 640u
#define RELAY_ADDR_LOG 64u   /* an address in a client reply, escaped */
#define RELAY_TEXT_LOG 128u  /* downstream text in a client reply */

enum relay_state {
	RS_CONNECTING = 0,
	RS_GREETING,  /* waiting for 220 */
	RS_EHLO,
	RS_HELO,
	RS_STARTTLS,  /* STARTTLS sent, waiting for 220 */
	RS_TLS_HS,    /* TLS handshake with the downstream */
	RS_READY,     /* between transactions, taking a job or parking */
	RS_IDLE,      /* parked in the pool */
	RS_ENVELOPE,  /* MAIL/RCPT/DATA sent or being sent, reading replies */
	RS_DATA,      /* 354 seen: streaming the message */
	RS_FINAL,     /* final dot sent: waiting for its reply */
	RS_RSET,
	RS_CLOSING,   /* close or abort issued, on_closed pending */
};

static const char *const relay_state_name[] = {
	[RS_CONNECTING] = "connect",
	[RS_GREETING] = "greeting",
	[RS_EHLO] = "EHLO",
	[RS_HELO] = "HELO",
	[RS_STARTTLS] = "STARTTLS",
	[RS_TLS_HS] = "TLS handshake",
	[RS_READY] = "ready",
	[RS_IDLE] = "idle",
	[RS_ENVELOPE] = "envelope",
	[RS_DATA] = "data",
	[RS_FINAL] = "end of data",
	[RS_RSET] = "RSET",
	[RS_CLOSING] = "closing",
};

struct relay_conn;

struct relay_job {
	TAILQ_ENTRY(relay_job) q;   /* queue, done_q or job_free */
	TAILQ_ENTRY(relay_job) all; /* active: submitted, done not yet run */
	struct mx_msg *m;
	mx_deliver_done_fn *done;   /* NULL once detached */
	void *arg;
	uint64_t handle;
	uint64_t t_submit_us;
	struct relay_conn *conn;    /* while a connection works on it */
	unsigned retries;
	bool queued;
	bool finished;
	struct mx_deliver_result res;
};

/* A refusal kept for the client's reply, already escaped. */
struct relay_refusal {
	int code;                   /* 0: none */
	unsigned rcpt;              /* which recipient, for RCPT refusals */
	char esc[MX_RELAY_ESC_MAX];
	char text[RELAY_TEXT_LOG];
};

struct relay_conn {
	TAILQ_ENTRY(relay_conn) link;      /* conns or conn_free */
	TAILQ_ENTRY(relay_conn) idle_link; /* idle, while parked */
	struct mx_relay *r;
	struct mx_stream *st;              /* NULL once on_closed ran */
	struct mx_conf *conf;              /* downstream and HELO name it was opened with */
	enum relay_state state;
	bool parked;
	struct mx_timer timer;
	struct mx_relay_caps caps;
	struct relay_job *job;
	unsigned n_txn;                    /* transactions started on it */
	bool tls_on;                       /* STARTTLS done: c->st is the TLS stream */
	struct mx_deliver_tls tls;         /* what the verdict log says of this hop */
	char tls_name[256];                /* SNI and the name the certificate must match */

	/* commands waiting for send space */
	size_t out_len, out_off;
	char out[RELAY_CMD_MAX];

	/* envelope: command i is MAIL (0), RCPT (1..n) or DATA (n + 1) */
	bool pipelined;
	unsigned cmd_next;                 /* next command to send */
	unsigned reply_next;               /* next reply expected */
	struct relay_refusal mail_ref, rcpt_tmp, rcpt_perm, data_ref;
	int data_code;

	/* data */
	size_t data_off, data_total;
	bool at_bol;                       /* the next byte starts a line */
	bool dot_sent;                     /* the stuffing dot for it is queued */
	uint8_t last[2];                   /* the last two data bytes sent */
	const char *tail;                  /* end of data: [CRLF] "." CRLF */
	size_t tail_len, tail_off;
	bool end_sent;                     /* the final dot is queued */

	struct mx_relay_reply reply;
};

TAILQ_HEAD(relay_job_list, relay_job);
TAILQ_HEAD(relay_conn_list, relay_conn);

struct mx_relay {
	struct mx_loop *loop;
	struct mx_wheel *wheel;
	struct mx_conf *conf;
	struct mx_stats *stats;
	struct mx_deliver deliver;
	struct relay_conn_list conns;     /* every connection, closing ones too */
	struct relay_conn_list idle;      /* most recently used first */
	struct relay_conn_list conn_free;
	struct relay_job_list queue;      /* waiting for a connection, FIFO */
	struct relay_job_list done_q;     /* finished, done not yet run */
	struct relay_job_list active;
	struct relay_job_list job_free;
	unsigned n_conns;                 /* connections not closing */
	unsigned n_idle;
	unsigned n_queued;
	unsigned n_done;
	unsigned n_active;
	uint64_t next_handle;
	struct mx_tls_client *tls;        /* delivery.tls; NULL: none made */
	struct mx_timer defer;            /* runs done() for results made outside callbacks */
	bool freeing;
};

static void conn_on_readable(struct mx_stream *st, void *arg);
static void conn_on_writable(struct mx_stream *st, void *arg);
static void conn_on_connected(struct mx_stream *st, int err, void *arg);
static void conn_on_closed(struct mx_stream *st, int err, void *arg);
static void conn_timeout(struct mx_timer *t, void *arg);
static void conn_ready(struct relay_conn *c);
static void cmds_pump(struct relay_conn *c);

static const struct mx_stream_cb relay_conn_cb = {
	.on_readable = conn_on_readable,
	.on_writable = conn_on_writable,
	.on_connected = conn_on_connected,
	.on_closed = conn_on_closed,
};

/* ---- limits from the current configuration ---- */

static unsigned
relay_max_conns(const struct mx_relay *r)
{
	return MX_MAX(r->conf->relay_max_conns, 1u);
}

static unsigned
relay_queue_max(const struct mx_relay *r)
{
	return relay_max_conns(r) * MX_RELAY_QUEUE_PER_CONN;
}

static void
conn_arm(struct relay_conn *c, unsigned ms)
{
	/* The clock, not the pass time: submit() runs outside a pass, and a
	 * deadline computed from a stale pass time would fire early. */
	mx_timer_arm(c->r->wheel, &c->timer, mx_clock_ms() + MX_MAX(ms, 1u));
}

/* ---- jobs and their results ---- */

static struct relay_job *
job_get(struct mx_relay *r)
{
	struct relay_job *job = TAILQ_FIRST(&r->job_free);

	if (job != NULL) {
		TAILQ_REMOVE(&r->job_free, job, q);
		return job;
	}
	return malloc(sizeof(*job));
}

static void
queue_push(struct mx_relay *r, struct relay_job *job, bool head)
{
	if (head)
		TAILQ_INSERT_HEAD(&r->queue, job, q);
	else
		TAILQ_INSERT_TAIL(&r->queue, job, q);
	job->queued = true;
	r->n_queued++;
}

static struct relay_job *
queue_pop(struct mx_relay *r)
{
	struct relay_job *job = TAILQ_FIRST(&r->queue);

	if (job == NULL)
		return NULL;
	TAILQ_REMOVE(&r->queue, job, q);
	job->queued = false;
	r->n_queued--;
	return job;
}

static void
relay_count(struct mx_relay *r, int code, uint64_t latency_us)
{
	switch (code / 100) {
	case 2:
		mx_stat_inc(r->stats, MX_STAT_RELAY_OK);
		break;
	case 5:
		mx_stat_inc(r->stats, MX_STAT_RELAY_PERMFAIL);
		break;
	default:
		mx_stat_inc(r->stats, MX_STAT_RELAY_TEMPFAIL);
		break;
	}
	mx_histo_observe(r->stats, MX_HISTO_RELAY, latency_us);
}

/* The job's outcome is known: record it and hand it to the done queue.
 * done() itself runs later from the loop (relay_flush). */
MX_PRINTF(4, 5)
static void
job_finish(struct mx_relay *r, struct relay_job *job, int code, const char *fmt, ...)
{
	va_list ap;

	MX_ASSERT(!job->finished);
	if (job->queued) {
		TAILQ_REMOVE(&r->queue, job, q);
		job->queued = false;
		r->n_queued--;
	}
	if (job->conn != NULL) {
		job->conn->job = NULL;
		job->conn = NULL;
	}
	job->res.code = code;
	va_start(ap, fmt);
	vsnprintf(job->res.text, sizeof(job->res.text), fmt, ap);
	va_end(ap);
	job->res.via = "relay";
	job->res.latency_us = mx_clock_us() - job->t_submit_us;
	job->finished = true;
	relay_count(r, code, job->res.latency_us);
	TAILQ_INSERT_TAIL(&r->done_q, job, q);
	r->n_done++;
	if (!mx_timer_armed(&r->defer))
		mx_timer_arm(r->wheel, &r->defer, mx_clock_ms());
}

/* Runs done() for the results recorded so far: at the end of every stream
 * and timer callback, and from the defer timer for results recorded inside
 * submit(). Results that done() itself causes (a new submission answered
 * at once) wait for the next run, so done never nests. */
static void
relay_flush(struct mx_relay *r)
{
	unsigned n = r->n_done;
	struct relay_job *job;

	while (n-- > 0 && (job = TAILQ_FIRST(&r->done_q)) != NULL) {
		TAILQ_REMOVE(&r->done_q, job, q);
		r->n_done--;
		TAILQ_REMOVE(&r->active, job, all);
		r->n_active--;
		if (job->done != NULL)
			job->done(job->arg, &job->res);
		mx_msg_release(job->m);
		TAILQ_INSERT_HEAD(&r->job_free, job, q);
	}
	if (r->n_done == 0)
		mx_timer_cancel(r->wheel, &r->defer);
}

static void
relay_defer_fire(struct mx_timer *t, void *arg)
{
	relay_flush(arg);
}

static void
refusal_set(struct relay_refusal *ref, const struct mx_relay_reply *rp, unsigned rcpt)
{
	ref->code = rp->code;
	ref->rcpt = rcpt;
	memcpy(ref->esc, rp->esc, sizeof(ref->esc));
	mx_printable(ref->text, sizeof(ref->text), rp->text + rp->msg_off,
			rp->text_len - rp->msg_off);
}

/* A refusal becomes the client's reply: any 4yz is 451 with the
 * downstream's enhanced code when it gave one; a 5yz keeps the
 * downstream's code (RFC 3463 codes of class 5 say what is wrong for
 * good, and the client should bounce rather than retry). */
static void
job_refused(struct mx_relay *r, struct relay_job *job, const struct relay_refusal *ref,
		const char *what, const struct mx_str *addr, const char *esc4,
		const char *esc5)
{
	bool perm = ref->code / 100 == 5;
	const char *esc = ref->esc[0] != '\0' ? ref->esc : (perm ? esc5 : esc4);
	char a[RELAY_ADDR_LOG];

	if (addr == NULL) {
		job_finish(r, job, perm ? ref->code : 451, "%s downstream refused %s: %s",
				esc, what, ref->text);
		return;
	}
	mx_printable(a, sizeof(a), addr->p, addr->len);
	job_finish(r, job, perm ? ref->code : 451, "%s downstream refused %s <%s>: %s",
			esc, what, a, ref->text);
}

/* ---- connections ---- */

static struct relay_conn *
conn_get(struct mx_relay *r)
{
	struct relay_conn *c = TAILQ_FIRST(&r->conn_free);

	if (c != NULL) {
		TAILQ_REMOVE(&r->conn_free, c, link);
		return c;
	}
	return malloc(sizeof(*c));
}

static void
conn_unpark(struct relay_conn *c)
{
	struct mx_relay *r = c->r;

	if (!c->parked)
		return;
	TAILQ_REMOVE(&r->idle, c, idle_link);
	c->parked = false;
	r->n_idle--;
	mx_timer_cancel(r->wheel, &c->timer);
	c->state = RS_READY;
}

static bool
conn_opening(const struct relay_conn *c)
{
	return c->state == RS_CONNECTING || c->state == RS_GREETING ||
		c->state == RS_EHLO || c->state == RS_HELO || c->state == RS_STARTTLS ||
		c->state == RS_TLS_HS;
}

/* From here on the connection takes no work and no longer counts against
 * relay_max_conns; on_closed frees it. */
static void
conn_set_closing(struct relay_conn *c)
{
	if (c->state == RS_CLOSING)
		return;
	conn_unpark(c);
	c->r->n_conns--;
	c->state = RS_CLOSING;
	mx_timer_cancel(c->r->wheel, &c->timer);
}

/* Abortive close (RST): whatever was half sent is never taken for a
 * complete message by the downstream. */
static void
conn_abort(struct relay_conn *c)
{
	bool was_closing = c->state == RS_CLOSING;

	conn_set_closing(c);
	if (!was_closing && c->st != NULL)
		mx_stream_abort(c->st);
}

/* Polite close of a healthy connection (RFC 5321 4.1.1.10). */
static void
conn_quit(struct relay_conn *c)
{
	bool was_closing = c->state == RS_CLOSING;

	conn_set_closing(c);
	if (was_closing || c->st == NULL)
		return;
	if (c->out_off == c->out_len)
		(void)mx_stream_send(c->st, "QUIT\r\n", 6);
	mx_stream_close(c->st);
}

/* A pooled connection may have been closed by the downstream while it
 * sat idle (its own idle timeout, RFC 5321 4.5.3.2.7) and we learn it only
 * when the first command fails. Nothing can have been delivered before
 * the first reply, so the job goes back to the head of the queue, once. */
static bool
conn_may_retry(const struct relay_conn *c)
{
	return c->state == RS_ENVELOPE && c->reply_next == 0 && c->n_txn > 1 &&
		c->job->retries == 0 && !c->r->freeing;
}

static void
conn_log_fail(const struct relay_conn *c, const char *why, bool retry)
{
	if (c->end_sent) {
		/* RFC 1047: the reply to the final dot is lost, so the
		 * downstream may hold the message. A 4yz makes the client
		 * retry: a duplicate at worst, never a loss. */
		MX_LOG_RL(MX_LOG_WARN, RELAY_LOG,
				"downstream %s: %s after end of data; message %s may have been delivered, client told to retry",
				c->conf->downstream_host, why,
				c->job != NULL ? c->job->m->id : "-");
	} else {
		MX_LOG_RL(MX_LOG_WARN, RELAY_LOG, "downstream %s: %s in state %s%s",
				c->conf->downstream_host, why, relay_state_name[c->state],
				retry ? "; message retried on a new connection" : "");
	}
}

/* The connection cannot go on. Its job, if any, gets code/text (or one
 * more try, conn_may_retry); nothing half-sent is delivered (abort). */
static void
conn_fail(struct relay_conn *c, int code, const char *text, const char *why)
{
	struct mx_relay *r = c->r;
	struct relay_job *job = c->job;
	bool retry;

	if (c->state == RS_CLOSING)
		return;
	if (conn_opening(c))
		mx_stat_inc(r->stats, MX_STAT_RELAY_CONNECT_FAIL);
	retry = job != NULL && conn_may_retry(c);
	conn_log_fail(c, why, retry);
	if (retry) {
		job->conn = NULL;
		c->job = NULL;
		job->retries++;
		queue_push(r, job, true);
	} else if (job != NULL) {
		job_finish(r, job, code, "%s", text);
	}
	conn_abort(c);
}

static void
conn_protocol_error(struct relay_conn *c, const char *why)
{
	conn_fail(c, 451, "4.5.0 downstream protocol error", why);
}

/* Queues a command line for the connection's own use (EHLO, RSET, ...). */
MX_PRINTF(2, 3)
static void
conn_cmd(struct relay_conn *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->out_off != c->out_len) {
		conn_protocol_error(c, "reply ahead of the command it answers");
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(c->out, sizeof(c->out), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(c->out)) {
		conn_fail(c, 451, "4.3.0 local error in relay", "command too long");
		return;
	}
	c->out_len = (size_t)n;
	c->out_off = 0;
	cmds_pump(c);
}

static bool
conn_current(const struct relay_conn *c)
{
	const struct mx_conf *now = c->r->conf;
	const struct mx_addr *a = &c->conf->downstream, *b = &now->downstream;

	return now->has_downstream && a->port == b->port && mx_addr_eq_ip(a, b) &&
		strcmp(c->conf->helo_name, now->helo_name) == 0 &&
		strcmp(c->conf->hostname, now->hostname) == 0 &&
		c->conf->relay_tls == now->relay_tls;
}

/* Keeps a ready connection in the pool, or closes it past the pool size. */
static void
conn_park(struct relay_conn *c)
{
	struct mx_relay *r = c->r;

	if (r->n_idle >= r->conf->relay_pool_size) {
		conn_quit(c);
		return;
	}
	c->state = RS_IDLE;
	c->parked = true;
	TAILQ_INSERT_HEAD(&r->idle, c, idle_link);
	r->n_idle++;
	conn_arm(c, r->conf->relay_idle_ms);
}

static void
conn_open(struct mx_relay *r, struct relay_job *job)
{
	struct relay_conn *c = conn_get(r);
	int rc;

	if (c == NULL) {
		job_finish(r, job, 451, "4.3.0 local resources exhausted");
		return;
	}
	memset(c, 0, sizeof(*c));
	c->r = r;
	c->conf = mx_conf_get(r->conf);
	mx_timer_init(&c->timer, conn_timeout, c);
	mx_relay_reply_init(&c->reply);
	c->state = RS_CONNECTING;
	c->job = job;
	job->conn = c;
	TAILQ_INSERT_TAIL(&r->conns, c, link);
	r->n_conns++;
	rc = mx_stream_connect(r->loop, &c->conf->downstream, &relay_conn_cb, c, &c->st);
	if (rc != 0) {
		c->st = NULL;
		conn_fail(c, 451, "4.4.1 downstream unavailable", "connect failed");
		TAILQ_REMOVE(&r->conns, c, link);
		mx_conf_put(c->conf);
		TAILQ_INSERT_HEAD(&r->conn_free, c, link);
		return;
	}
	conn_arm(c, r->conf->timeout_relay_connect_ms);
}

/* Hands waiting jobs to idle connections, or to new ones while the limit
 * allows. Each round takes a job off the queue or an idle connection out
 * of the pool, so it ends. */
static void
relay_dispatch(struct mx_relay *r)
{
	struct relay_conn *c;

	while (r->n_queued > 0 && !r->freeing) {
		c = TAILQ_FIRST(&r->idle);
		if (c != NULL) {
			conn_unpark(c);
			conn_ready(c);
			continue;
		}
		if (r->n_conns >= relay_max_conns(r))
			break;
		conn_open(r, queue_pop(r));
	}
}

/* ---- the transaction ---- */

/* Every byte of a path goes into a command line: a CR or LF would let the
 * client inject commands into our downstream session (SMTP smuggling), so
 * control bytes are refused whatever the SMTP layer checked before. */
static bool
path_ok(struct mx_str s)
{
	if (s.len > RELAY_PATH_MAX)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char ch = (unsigned char)s.p[i];

		if (ch < 0x20 || ch == 0x7f)
			return false;
	}
	return true;
}

static bool
envelope_ok(const struct mx_msg *m)
{
	if (m->n_rcpts == 0 || !path_ok(m->mail_from))
		return false;
	for (unsigned i = 0; i < m->n_rcpts; i++)
		if (!path_ok(m->rcpts[i].addr))
			return false;
	return true;
}

static size_t
txn_size(const struct mx_msg *m)
{
	return m->prepend.len + m->size;
}

/* Formats command cmd_next of the envelope into the out buffer. */
static int
cmd_format(struct relay_conn *c)
{
	const struct mx_msg *m = c->job->m;
	unsigned i = c->cmd_next, n = m->n_rcpts;
	int len;

	if (i == 0) {
		bool eight = m->body != MX_BODY_7BIT &&
			(c->caps.flags & MX_RELAY_CAP_8BITMIME) != 0;
		char size[32] = "";

		/* RFC 1870 5: SIZE is the message size before dot-stuffing;
		 * RFC 6152 3: BODY=8BITMIME only to a server offering it.
		 * XXX: a message with 8-bit data to a server without 8BITMIME
		 * goes as is (no 7-bit downgrade), as most MTAs do; BINARYMIME
		 * needs BDAT, which we do not send yet. */
		if (c->caps.flags & MX_RELAY_CAP_SIZE)
			snprintf(size, sizeof(size), " SIZE=%zu", txn_size(m));
		len = snprintf(c->out, sizeof(c->out), "MAIL FROM:<%.*s>%s%s%s\r\n",
				(int)m->mail_from.len, m->mail_from.p, size,
				eight ? " BODY=8BITMIME" : "",
				m->smtputf8 ? " SMTPUTF8" : "");
	} else if (i <= n) {
		len = snprintf(c->out, sizeof(c->out), "RCPT TO:<%.*s>\r\n",
				(int)m->rcpts[i - 1].addr.len, m->rcpts[i - 1].addr.p);
	} else {
		len = snprintf(c->out, sizeof(c->out), "DATA\r\n");
	}
	if (len < 0 || (size_t)len >= sizeof(c->out))
		return -EMSGSIZE;
	c->out_len = (size_t)len;
	c->out_off = 0;
	c->cmd_next++;
	return 0;
}

/* RFC 2920 3.1: with PIPELINING the whole group MAIL, RCPT..., DATA goes
 * in one write; without it each command waits for the previous reply. */
static bool
cmd_due(const struct relay_conn *c)
{
	if (c->state != RS_ENVELOPE || c->cmd_next > c->job->m->n_rcpts + 1)
		return false;
	return c->pipelined || c->cmd_next == c->reply_next;
}

/* Sends what waits in the out buffer, then as many envelope commands as
 * are due; stops at the first short send (on_writable resumes). */
static void
cmds_pump(struct relay_conn *c)
{
	long n;

	for (;;) {
		if (c->out_off < c->out_len) {
			n = mx_stream_send(c->st, c->out + c->out_off, c->out_len - c->out_off);
			if (n < 0) {
				conn_fail(c, 451, "4.4.1 downstream unavailable", "send failed");
				return;
			}
			c->out_off += (size_t)n;
			if (c->out_off < c->out_len)
				return;
		}
		c->out_off = c->out_len = 0;
		if (!cmd_due(c))
			return;
		if (cmd_format(c) != 0) {
			conn_fail(c, 451, "4.3.0 local error in relay", "command too long");
			return;
		}
	}
}

/* Starts job on ready connection c. Returns 0 when the connection took
 * it, or -EAGAIN when the job was answered without using the connection
 * (which stays ready for the next one). */
static int
txn_start(struct relay_conn *c, struct relay_job *job)
{
	struct mx_relay *r = c->r;
	const struct mx_msg *m = job->m;

	if (m->smtputf8 && !(c->caps.flags & MX_RELAY_CAP_SMTPUTF8)) {
		/* RFC 6531 3.4: an SMTPUTF8 message must not go to a server
		 * without the extension. Taken as a configuration problem
		 * the operator can fix, hence temporary. */
		job_finish(r, job, 451, "4.6.7 downstream lacks SMTPUTF8");
		return -EAGAIN;
	}
	if ((c->caps.flags & MX_RELAY_CAP_SIZE) && c->caps.size_max != 0 &&
			txn_size(m) > c->caps.size_max) {
		/* RFC 1870 6: the downstream would refuse it for good. */
		job_finish(r, job, 552, "5.3.4 message size exceeds the downstream's limit");
		return -EAGAIN;
	}
	c->job = job;
	job->conn = c;
	job->res.tls = c->tls;
	c->n_txn++;
	memset(&c->mail_ref, 0, sizeof(c->mail_ref));
	memset(&c->rcpt_tmp, 0, sizeof(c->rcpt_tmp));
	memset(&c->rcpt_perm, 0, sizeof(c->rcpt_perm));
	memset(&c->data_ref, 0, sizeof(c->data_ref));
	c->data_code = 0;
	c->cmd_next = 0;
	c->reply_next = 0;
	c->end_sent = false;
	c->pipelined = (c->caps.flags & MX_RELAY_CAP_PIPELINING) != 0;
	c->state = RS_ENVELOPE;
	conn_arm(c, r->conf->timeout_relay_reply_ms);
	cmds_pump(c);
	return 0;
}

/* A connection is ready for work: after EHLO, after a transaction, after
 * RSET, or taken from the pool. */
static void
conn_ready(struct relay_conn *c)
{
	struct mx_relay *r = c->r;
	struct relay_job *job;

	c->state = RS_READY;
	if (!conn_current(c) || r->n_conns > relay_max_conns(r) || r->freeing ||
			mx_stream_peer_closed(c->st)) {
		/* Opened for an older configuration (or over a lowered
		 * limit, or closed by the downstream): the job it was opened for goes back to the head of
		 * the queue for a connection to the current downstream. */
		job = c->job;
		if (job != NULL) {
			job->conn = NULL;
			c->job = NULL;
			queue_push(r, job, true);
		}
		conn_quit(c);
		return;
	}
	for (;;) {
		job = c->job;
		c->job = NULL;
		if (job == NULL)
			job = queue_pop(r);
		if (job == NULL)
			break;
		if (txn_start(c, job) == 0)
			return;
	}
	conn_park(c);
}

static void
conn_rset(struct relay_conn *c)
{
	c->state = RS_RSET;
	conn_arm(c, c->r->conf->timeout_relay_reply_ms);
	conn_cmd(c, "RSET\r\n");
}

/* The envelope failed somewhere: the reply the client gets, most telling
 * refusal first. A temporary recipient refusal wins over permanent ones:
 * the client retries the whole message, which may then go through. */
static void
txn_answer_refused(struct relay_conn *c)
{
	struct mx_relay *r = c->r;
	struct relay_job *job = c->job;
	const struct mx_msg *m = job->m;

	/* RFC 3463 defaults when the downstream gave no enhanced code:
	 * X.1.0 other address status, X.1.1 bad destination mailbox. */
	if (c->mail_ref.code != 0)
		job_refused(r, job, &c->mail_ref, "sender", &m->mail_from, "4.1.0", "5.1.0");
	else if (c->rcpt_tmp.code != 0)
		job_refused(r, job, &c->rcpt_tmp, "recipient",
				&m->rcpts[c->rcpt_tmp.rcpt].addr, "4.1.0", "5.1.1");
	else if (c->rcpt_perm.code != 0)
		job_refused(r, job, &c->rcpt_perm, "recipient",
				&m->rcpts[c->rcpt_perm.rcpt].addr, "4.1.0", "5.1.1");
	else
		job_refused(r, job, &c->data_ref, "DATA", NULL, "4.0.0", "5.0.0");
}

static bool
txn_refused(const struct relay_conn *c)
{
	return c->mail_ref.code != 0 || c->rcpt_tmp.code != 0 || c->rcpt_perm.code != 0;
}

static void data_start(struct relay_conn *c);

/* Every envelope reply is in (or, lock-step, the DATA reply). */
static void
env_decide(struct relay_conn *c)
{
	if (c->data_code / 100 == 3) {
		if (txn_refused(c)) {
			/* RFC 2920 3.1 lets a server answer 354 after refusing
			 * recipients. Ending the data with "." now would deliver
			 * an empty message to the accepted ones, and RSET is not
			 * a command inside DATA: only an abortive close makes
			 * sure nothing is delivered (RFC 5321 4.1.1.4). */
			txn_answer_refused(c);
			MX_LOG_RL(MX_LOG_INFO, RELAY_LOG,
					"downstream %s: 354 after a refusal; connection aborted",
					c->conf->downstream_host);
			conn_abort(c);
			return;
		}
		data_start(c);
		return;
	}
	txn_answer_refused(c);
	conn_rset(c);
}

/* One reply of the envelope (index reply_next: MAIL, RCPTs, DATA). */
static void
env_reply(struct relay_conn *c)
{
	const struct mx_relay_reply *rp = &c->reply;
	unsigned i = c->reply_next, n = c->job->m->n_rcpts;
	int cls = rp->code / 100;

	if (i >= c->cmd_next) {
		conn_protocol_error(c, "reply to a command not sent");
		return;
	}
	c->reply_next++;
	if (i <= n) {
		if (cls == 3) {
			conn_protocol_error(c, "3yz reply to MAIL or RCPT");
			return;
		}
		if (cls != 2 && i == 0)
			refusal_set(&c->mail_ref, rp, 0);
		else if (cls == 4 && c->rcpt_tmp.code == 0)
			refusal_set(&c->rcpt_tmp, rp, i - 1);
		else if (cls == 5 && c->rcpt_perm.code == 0)
			refusal_set(&c->rcpt_perm, rp, i - 1);
	} else {
		c->data_code = rp->code;
		if (cls == 2) {
			conn_protocol_error(c, "2yz reply to DATA");
			return;
		}
		if (cls != 3)
			refusal_set(&c->data_ref, rp, 0);
	}
	conn_arm(c, c->r->conf->timeout_relay_reply_ms);
	if (c->pipelined) {
		if (i == n + 1)
			env_decide(c);
		return;
	}
	if (i == 0 && c->mail_ref.code != 0) {
		txn_answer_refused(c);
		conn_rset(c);
	} else if (i == n && txn_refused(c)) {
		txn_answer_refused(c);
		conn_rset(c);
	} else if (i <= n) {
		cmds_pump(c);
	} else {
		env_decide(c);
	}
}

/* ---- the message ---- */

static size_t
data_view(const struct relay_conn *c, size_t off, const uint8_t **p)
{
	const struct mx_msg *m = c->job->m;

	if (off < m->prepend.len) {
		*p = (const uint8_t *)m->prepend.p + off;
		return m->prepend.len - off;
	}
	return mx_msg_view(m, off - m->prepend.len, p);
}

/* Length of the run of p that can go out as is: up to and including the
 * first LF that a '.' follows (that '.' needs its stuffing dot first). */
static size_t
stuff_run(const uint8_t *p, size_t len)
{
	const uint8_t *q = p, *end = p + len, *lf;

	while ((lf = memchr(q, '\n', (size_t)(end - q))) != NULL) {
		if (lf + 1 < end && lf[1] == '.')
			return (size_t)(lf + 1 - p);
		q = lf + 1;
	}
	return len;
}

static void
data_sent(struct relay_conn *c, const uint8_t *p, size_t n)
{
	if (n >= 2) {
		c->last[0] = p[n - 2];
		c->last[1] = p[n - 1];
	} else {
		c->last[0] = c->last[1];
		c->last[1] = p[0];
	}
	c->data_off += n;
	c->at_bol = p[n - 1] == '\n';
	c->dot_sent = false;
}

/* RFC 5321 4.5.2: a line that starts with "." gets another "." in front.
 * Lines end in CRLF; after a bare LF (which the SMTP layer does not let
 * through by default) the next byte is stuffed too, so that no downstream
 * that takes LF for a line end can see a lone "." there. Returns 1 when
 * all data is queued, 0 when waiting for send space, -1 on failure. */
static int
data_pump_body(struct relay_conn *c)
{
	const uint8_t *p;
	size_t len, run;
	long n;

	while (c->data_off < c->data_total) {
		len = data_view(c, c->data_off, &p);
		if (len == 0) {
			MX_LOG_RL(MX_LOG_ERR, RELAY_LOG, "message %s: %zu bytes short",
					c->job->m->id, c->data_total - c->data_off);
			return -1;
		}
		len = MX_MIN(len, c->data_total - c->data_off);
		if (c->at_bol && p[0] == '.' && !c->dot_sent) {
			n = mx_stream_send(c->st, ".", 1);
			if (n <= 0)
				return n < 0 ? -1 : 0;
			c->dot_sent = true;
		}
		run = stuff_run(p, len);
		n = mx_stream_send(c->st, p, run);
		if (n < 0)
			return -1;
		if (n > 0)
			data_sent(c, p, (size_t)n);
		if ((size_t)n < run)
			return 0;
	}
	return 1;
}

static void
data_pump(struct relay_conn *c)
{
	int rc = data_pump_body(c);
	long n;

	if (rc < 0) {
		conn_fail(c, 451, "4.4.1 downstream unavailable", "data send failed");
		return;
	}
	if (rc == 0)
		return;
	if (c->tail == NULL) {
		/* RFC 5321 4.1.1.4: the data ends with CRLF "." CRLF; a
		 * message that does not end in CRLF gets one first, an empty
		 * message is just the "." line. */
		bool crlf = c->data_total == 0 || (c->last[0] == '\r' && c->last[1] == '\n');

		c->tail = crlf ? ".\r\n" : "\r\n.\r\n";
		c->tail_len = strlen(c->tail);
		c->tail_off = 0;
	}
	n = mx_stream_send(c->st, c->tail + c->tail_off, c->tail_len - c->tail_off);
	if (n < 0) {
		conn_fail(c, 451, "4.4.1 downstream unavailable", "data send failed");
		return;
	}
	c->tail_off += (size_t)n;
	if (c->tail_off < c->tail_len)
		return;
	c->end_sent = true;
	c->state = RS_FINAL;
	conn_arm(c, c->r->conf->timeout_relay_data_ms);
}

static void
data_start(struct relay_conn *c)
{
	c->state = RS_DATA;
	c->data_off = 0;
	c->data_total = txn_size(c->job->m);
	c->at_bol = true;
	c->dot_sent = false;
	c->last[0] = c->last[1] = 0;
	c->tail = NULL;
	conn_arm(c, c->r->conf->timeout_relay_reply_ms);
	data_pump(c);
}

/* The reply to the final dot. */
static void
final_reply(struct relay_conn *c)
{
	struct mx_relay *r = c->r;
	const struct mx_relay_reply *rp = &c->reply;
	struct relay_job *job = c->job;
	char text[RELAY_TEXT_LOG];
	struct relay_refusal ref;

	c->end_sent = false;
	switch (rp->code / 100) {
	case 2:
		mx_printable(text, sizeof(text), rp->text, rp->text_len);
		job_finish(r, job, 250, "2.0.0 Ok: queued as %s (downstream: %s)",
				job->m->id, text);
		break;
	case 4:
		/* mx_relay.h: a downstream 4yz is our 451 4.4.x. */
		mx_printable(text, sizeof(text), rp->text, rp->text_len);
		job_finish(r, job, 451, "4.4.0 downstream deferred the message: %s", text);
		break;
	case 5:
		refusal_set(&ref, rp, 0);
		job_finish(r, job, rp->code, "%s downstream rejected the message: %s",
				ref.esc[0] != '\0' ? ref.esc : "5.0.0", ref.text);
		break;
	default:
		/* A 3yz to the final dot: the outcome is unknown. */
		c->end_sent = true;
		conn_protocol_error(c, "3yz reply to the final dot");
		return;
	}
	conn_ready(c);
}

/* A reply while the message is still going out: the downstream gave up
 * on it early (a size limit, a shutdown). RFC 5321 has no way to go on
 * after that, so the reply is the outcome and the connection is dropped. */
static void
data_early_reply(struct relay_conn *c)
{
	const struct mx_relay_reply *rp = &c->reply;
	struct relay_refusal ref;

	if (rp->code / 100 == 5 && c->job != NULL) {
		refusal_set(&ref, rp, 0);
		job_finish(c->r, c->job, rp->code, "%s downstream rejected the message: %s",
				ref.esc[0] != '\0' ? ref.esc : "5.0.0", ref.text);
	}
	conn_fail(c, 451, "4.4.1 downstream unavailable", "reply during data");
}

/* ---- opening ---- */

static void
open_send_ehlo(struct relay_conn *c)
{
	const char *name = c->conf->helo_name[0] != '\0' ? c->conf->helo_name :
			c->conf->hostname;

	memset(&c->caps, 0, sizeof(c->caps));
	c->state = RS_EHLO;
	conn_arm(c, c->r->conf->timeout_relay_reply_ms);
	conn_cmd(c, "EHLO %s\r\n", name);
}

static void
open_greeting(struct relay_conn *c)
{
	if (c->reply.code / 100 != 2) {
		char text[RELAY_TEXT_LOG], why[RELAY_TEXT_LOG + 16];

		mx_printable(text, sizeof(text), c->reply.text, c->reply.text_len);
		snprintf(why, sizeof(why), "greeting %d %s", c->reply.code, text);
		conn_fail(c, 451, "4.4.1 downstream unavailable", why);
		return;
	}
	open_send_ehlo(c);
}

/* The name the downstream's certificate must match: delivery.tls_name,
 * else the host of delivery.downstream as written ("[::1]:25" -> "::1",
 * "mail.example.org:25" -> "mail.example.org"). */
static void
tls_name_of(const struct mx_conf *cf, char *buf, size_t size)
{
	const char *h = cf->downstream_host, *end;

	if (cf->relay_tls_name != NULL) {
		snprintf(buf, size, "%s", cf->relay_tls_name);
		return;
	}
	if (h[0] == '[') {
		h++;
		end = strchr(h, ']');
	} else {
		end = strrchr(h, ':');
	}
	if (end == NULL)
		end = h + strlen(h);
	snprintf(buf, size, "%.*s", (int)(end - h), h);
}

/* The hop cannot have the TLS delivery.tls asks for: in verify mode the
 * job gets 451 4.7.5 (RFC 3463 "cryptographic failure": the client keeps
 * the message and retries) and nothing is sent; opportunistic goes on in
 * plaintext (RFC 7435 3). */
static void
tls_missing(struct relay_conn *c, const char *verify, const char *why)
{
	struct mx_relay *r = c->r;

	c->tls.version = NULL;
	c->tls.cipher = NULL;
	c->tls.verify = verify;
	if (c->conf->relay_tls == MX_RELAY_TLS_OPPORTUNISTIC) {
		mx_stat_inc(r->stats, MX_STAT_RELAY_TLS_PLAIN);
		MX_LOG_RL(MX_LOG_INFO, RELAY_LOG, "downstream %s: %s; plaintext (opportunistic)",
				c->conf->downstream_host, why);
		conn_ready(c);
		return;
	}
	mx_stat_inc(r->stats, MX_STAT_RELAY_TLS_NOT_OFFERED);
	if (c->job != NULL)
		c->job->res.tls = c->tls;
	conn_fail(c, 451, "4.7.5 downstream TLS unavailable", why);
}

/* After a 2yz to EHLO or HELO: STARTTLS first when delivery.tls asks for
 * it and this connection has no TLS yet (RFC 3207 4). */
static void
open_after_ehlo(struct relay_conn *c)
{
	if (c->conf->relay_tls == MX_RELAY_TLS_OFF || c->tls_on) {
		conn_ready(c);
		return;
	}
	if (c->r->tls == NULL) {
		tls_missing(c, "no TLS client", "TLS client not configured");
		return;
	}
	if (!(c->caps.flags & MX_RELAY_CAP_STARTTLS)) {
		tls_missing(c, "not offered", "STARTTLS not offered");
		return;
	}
	c->state = RS_STARTTLS;
	conn_arm(c, c->r->conf->timeout_relay_reply_ms);
	conn_cmd(c, "STARTTLS\r\n");
}

/* The reply to STARTTLS. 220: the handshake starts on this connection;
 * RFC 3207 4.2 has the client forget what it knew, so EHLO is sent again
 * once TLS is up. */
static void
open_starttls(struct relay_conn *c)
{
	struct mx_relay *r = c->r;
	struct mx_stream *tls;
	int rc;

	if (c->reply.code != 220) {
		tls_missing(c, "refused", "STARTTLS refused");
		return;
	}
	/* Anything after the 220 came before the handshake, in plaintext:
	 * an injection (the CVE-2011-0411 class, client side). Taking it as
	 * TLS or as a reply would both be wrong. */
	if (mx_stream_readable(c->st) > 0) {
		conn_protocol_error(c, "bytes after 220 to STARTTLS");
		return;
	}
	tls_name_of(c->conf, c->tls_name, sizeof(c->tls_name));
	rc = mx_tls_client_stream_create(r->tls, c->st, c->tls_name, &relay_conn_cb, c, &tls);
	if (rc != 0) {
		mx_stat_inc(r->stats, MX_STAT_RELAY_TLS_HS_FAIL);
		c->tls.verify = "handshake failed";
		if (c->job != NULL)
			c->job->res.tls = c->tls;
		conn_fail(c, 451, "4.7.5 downstream TLS unavailable",
				rc == -ENOMEM ? "no memory for TLS" : "TLS name unusable");
		return;
	}
	c->st = tls;
	c->tls_on = true;
	c->state = RS_TLS_HS;
	conn_arm(c, r->conf->timeout_relay_reply_ms);
}

/* The handshake completed and the certificate passed (mx_tls.h). */
static void
open_tls_up(struct relay_conn *c)
{
	struct mx_tls_client_info ti;

	if (mx_tls_client_stream_info(c->st, &ti) == 0) {
		c->tls.version = ti.version;
		c->tls.cipher = ti.cipher;
		c->tls.verify = ti.verify;
	}
	mx_stat_inc(c->r->stats, MX_STAT_RELAY_TLS_OK);
	open_send_ehlo(c);
}

/* The TLS stream ended during its handshake: a refused certificate
 * (-EKEYREJECTED), a failed handshake, or a lost connection. */
static void
open_tls_failed(struct relay_conn *c, struct mx_stream *st, int err)
{
	struct mx_tls_client_info ti;
	char why[64 + sizeof(c->tls_name)];

	c->tls.version = NULL;
	c->tls.cipher = NULL;
	c->tls.verify = "handshake failed";
	if (mx_tls_client_stream_info(st, &ti) == 0 && ti.verify != NULL)
		c->tls.verify = ti.verify;
	mx_stat_inc(c->r->stats, err == -EKEYREJECTED ? MX_STAT_RELAY_TLS_CERT_FAIL :
			MX_STAT_RELAY_TLS_HS_FAIL);
	if (c->job != NULL)
		c->job->res.tls = c->tls;
	snprintf(why, sizeof(why), "TLS %s (name %s)", c->tls.verify, c->tls_name);
	c->st = NULL;
	conn_fail(c, 451, err == -EKEYREJECTED ? "4.7.5 downstream certificate refused" :
			"4.7.5 downstream TLS handshake failed", why);
}

static void
open_ehlo(struct relay_conn *c)
{
	const char *name = c->conf->helo_name[0] != '\0' ? c->conf->helo_name :
			c->conf->hostname;
	int cls = c->reply.code / 100;

	if (cls == 2) {
		open_after_ehlo(c);
	} else if (cls == 5 && c->state == RS_EHLO) {
		/* RFC 5321 3.2: a server that does not know EHLO says 5yz;
		 * fall back to HELO, without extensions. */
		memset(&c->caps, 0, sizeof(c->caps));
		c->state = RS_HELO;
		conn_arm(c, c->r->conf->timeout_relay_reply_ms);
		conn_cmd(c, "HELO %s\r\n", name);
	} else {
		conn_fail(c, 451, "4.4.1 downstream unavailable", "EHLO/HELO refused");
	}
}

/* ---- stream callbacks ---- */

static void
conn_on_reply(struct relay_conn *c)
{
	switch (c->state) {
	case RS_GREETING:
		open_greeting(c);
		break;
	case RS_EHLO:
	case RS_HELO:
		open_ehlo(c);
		break;
	case RS_STARTTLS:
		open_starttls(c);
		break;
	case RS_ENVELOPE:
		env_reply(c);
		break;
	case RS_DATA:
		data_early_reply(c);
		break;
	case RS_FINAL:
		final_reply(c);
		break;
	case RS_RSET:
		if (c->reply.code / 100 == 2)
			conn_ready(c);
		else
			conn_quit(c);
		break;
	case RS_IDLE:
		/* Unsolicited, e.g. 421 before an idle timeout (RFC 5321
		 * 3.8): the connection is of no further use. */
		conn_quit(c);
		break;
	default:
		conn_protocol_error(c, "unexpected reply");
		break;
	}
}

/* Reads replies; every round consumes at least one byte, so the loop is
 * bounded by what is buffered. */
static void
conn_read(struct relay_conn *c)
{
	const uint8_t *p;
	size_t len, used;
	enum mx_rc rc;

	while (c->state != RS_CLOSING) {
		len = mx_stream_read_view(c->st, &p);
		if (len == 0)
			return;
		rc = mx_relay_reply_parse(&c->reply, p, len, &used);
		mx_stream_consume(c->st, used);
		if (rc == MX_INVALID || rc == MX_TOOLONG) {
			conn_protocol_error(c, rc == MX_INVALID ? "malformed reply" :
					"reply too long");
			return;
		}
		if (c->reply.line_ready && c->state == RS_EHLO && c->reply.n_lines >= 2)
			mx_relay_caps_line(&c->caps, c->reply.line);
		if (rc == MX_OK)
			conn_on_reply(c);
	}
}

static void
conn_on_readable(struct mx_stream *st, void *arg)
{
	struct relay_conn *c = arg;
	struct mx_relay *r = c->r;

	conn_read(c);
	/* STARTTLS may have put the TLS stream in the raw one's place. */
	if (c->st != NULL)
		st = c->st;
	if (c->state == RS_CLOSING) {
		/* Nothing more is read from a connection we gave up on. */
		mx_stream_consume(st, mx_stream_readable(st));
	} else if (mx_stream_peer_closed(st)) {
		if (c->state == RS_IDLE)
			conn_quit(c);
		else
			conn_fail(c, 451, "4.4.1 downstream unavailable", "connection closed");
	}
	relay_dispatch(r);
	relay_flush(r);
}

static void
conn_on_writable(struct mx_stream *st, void *arg)
{
	struct relay_conn *c = arg;
	struct mx_relay *r = c->r;

	if (c->state == RS_DATA) {
		conn_arm(c, r->conf->timeout_relay_reply_ms);
		data_pump(c);
	} else if (c->state != RS_CLOSING) {
		cmds_pump(c);
	}
	relay_dispatch(r);
	relay_flush(r);
}

static void
conn_on_connected(struct mx_stream *st, int err, void *arg)
{
	struct relay_conn *c = arg;
	struct mx_relay *r = c->r;

	if (c->state == RS_TLS_HS && err == 0) {
		open_tls_up(c);
		relay_dispatch(r);
		relay_flush(r);
		return;
	}
	if (c->state != RS_CONNECTING)
		return;
	if (err != 0) {
		/* on_closed follows on its own: no abort here. */
		mx_stat_inc(r->stats, MX_STAT_RELAY_CONNECT_FAIL);
		char ebuf[64];

		MX_LOG_RL(MX_LOG_WARN, RELAY_LOG, "downstream %s: connect: %s",
				c->conf->downstream_host, strerror_r(-err, ebuf, sizeof(ebuf)));
		if (c->job != NULL)
			job_finish(r, c->job, 451, "4.4.1 downstream unavailable");
		conn_set_closing(c);
	} else {
		mx_stat_inc(r->stats, MX_STAT_RELAY_CONNS_OPENED);
		c->state = RS_GREETING;
		conn_arm(c, r->conf->timeout_relay_reply_ms);
	}
	relay_dispatch(r);
	relay_flush(r);
}

static void
conn_on_closed(struct mx_stream *st, int err, void *arg)
{
	struct relay_conn *c = arg;
	struct mx_relay *r = c->r;

	if (c->state == RS_TLS_HS) {
		open_tls_failed(c, st, err);
	} else if (c->state != RS_CLOSING) {
		c->st = NULL;
		conn_fail(c, 451, err == -ETIMEDOUT ? "4.4.2 downstream timeout" :
				"4.4.1 downstream unavailable", "connection lost");
	}
	c->st = NULL;
	mx_timer_cancel(r->wheel, &c->timer);
	TAILQ_REMOVE(&r->conns, c, link);
	mx_conf_put(c->conf);
	TAILQ_INSERT_HEAD(&r->conn_free, c, link);
	relay_dispatch(r);
	relay_flush(r);
}

static void
conn_timeout(struct mx_timer *t, void *arg)
{
	struct relay_conn *c = arg;
	struct mx_relay *r = c->r;

	if (c->state == RS_IDLE)
		conn_quit(c);
	else if (c->state != RS_CLOSING)
		conn_fail(c, 451, "4.4.2 downstream timeout", "timeout");
	relay_dispatch(r);
	relay_flush(r);
}

/* After mx_relay_free the streams still close on a later pass: their
 * callbacks must find nothing of ours. */
static void
orphan_readable(struct mx_stream *st, void *arg)
{
	mx_stream_consume(st, mx_stream_readable(st));
}

static void
orphan_writable(struct mx_stream *st, void *arg)
{
}

static void
orphan_connected(struct mx_stream *st, int err, void *arg)
{
}

static void
orphan_closed(struct mx_stream *st, int err, void *arg)
{
}

static const struct mx_stream_cb relay_orphan_cb = {
	.on_readable = orphan_readable,
	.on_writable = orphan_writable,
	.on_connected = orphan_connected,
	.on_closed = orphan_closed,
};

/* ---- mx_deliver ---- */

static int
relay_submit(void *impl, struct mx_msg *m, mx_deliver_done_fn *done, void *arg,
		uint64_t *handle)
{
	struct mx_relay *r = impl;
	struct relay_job *job;

	if (r->freeing) {
		mx_msg_release(m);
		return -ESHUTDOWN;
	}
	job = job_get(r);
	if (job == NULL) {
		mx_msg_release(m);
		return -ENOMEM;
	}
	memset(job, 0, sizeof(*job));
	job->m = m;
	job->done = done;
	job->arg = arg;
	job->handle = ++r->next_handle;
	job->t_submit_us = mx_clock_us();
	TAILQ_INSERT_TAIL(&r->active, job, all);
	r->n_active++;
	if (handle != NULL)
		*handle = job->handle;
	if (!r->conf->has_downstream) {
		job_finish(r, job, 451, "4.4.1 downstream unavailable: none configured");
	} else if (!envelope_ok(m)) {
		MX_LOG_RL(MX_LOG_ERR, RELAY_LOG, "message %s: envelope unfit to relay", m->id);
		job_finish(r, job, 451, "4.3.0 envelope unfit to relay");
	} else if (TAILQ_EMPTY(&r->idle) && r->n_conns >= relay_max_conns(r) &&
			r->n_queued >= relay_queue_max(r)) {
		job_finish(r, job, 451, "4.3.2 downstream busy, try again later");
	} else {
		queue_push(r, job, false);
		relay_dispatch(r);
	}
	return 0;
}

/* Linear in the jobs in flight, which are bounded by the connections and
 * the queue; detach only happens when a client goes away mid-delivery. */
static void
relay_detach(void *impl, uint64_t handle)
{
	struct mx_relay *r = impl;
	struct relay_job *job;

	TAILQ_FOREACH(job, &r->active, all) {
		if (job->handle == handle) {
			job->done = NULL;
			return;
		}
	}
}

static const struct mx_deliver_ops relay_ops = {
	.submit = relay_submit,
	.detach = relay_detach,
};

/* ---- public ---- */

int
mx_relay_create(struct mx_loop *loop, struct mx_conf *conf, struct mx_stats *stats,
		struct mx_relay **out)
{
	struct mx_relay *r;

	if (loop == NULL || conf == NULL || stats == NULL || out == NULL)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->loop = loop;
	r->wheel = mx_loop_wheel(loop);
	r->conf = mx_conf_get(conf);
	r->stats = stats;
	r->deliver.ops = &relay_ops;
	r->deliver.impl = r;
	TAILQ_INIT(&r->conns);
	TAILQ_INIT(&r->idle);
	TAILQ_INIT(&r->conn_free);
	TAILQ_INIT(&r->queue);
	TAILQ_INIT(&r->done_q);
	TAILQ_INIT(&r->active);
	TAILQ_INIT(&r->job_free);
	mx_timer_init(&r->defer, relay_defer_fire, r);
	*out = r;
	return 0;
}

void
mx_relay_set_conf(struct mx_relay *r, struct mx_conf *conf)
{
	struct mx_conf *old = r->conf;
	struct relay_conn *c, *next;

	r->conf = mx_conf_get(conf);
	mx_conf_put(old);
	/* Idle connections to an old downstream (or beyond a smaller pool)
	 * go now; busy ones go when their transaction ends (conn_ready). */
	for (c = TAILQ_FIRST(&r->idle); c != NULL; c = next) {
		next = TAILQ_NEXT(c, idle_link);
		if (!conn_current(c))
			conn_quit(c);
	}
	while (r->n_idle > r->conf->relay_pool_size)
		conn_quit(TAILQ_LAST(&r->idle, relay_conn_list));
	relay_dispatch(r);
}

void
mx_relay_set_tls(struct mx_relay *r, struct mx_tls_client *cl)
{
	r->tls = cl;
}

struct mx_deliver *
mx_relay_deliver(struct mx_relay *r)
{
	return &r->deliver;
}

unsigned
mx_relay_in_flight(const struct mx_relay *r)
{
	return r->n_active;
}

static void
relay_free_lists(struct mx_relay *r)
{
	struct relay_conn *c;
	struct relay_job *job;

	while ((c = TAILQ_FIRST(&r->conns)) != NULL) {
		TAILQ_REMOVE(&r->conns, c, link);
		mx_conf_put(c->conf);
		free(c);
	}
	while ((c = TAILQ_FIRST(&r->conn_free)) != NULL) {
		TAILQ_REMOVE(&r->conn_free, c, link);
		free(c);
	}
	while ((job = TAILQ_FIRST(&r->job_free)) != NULL) {
		TAILQ_REMOVE(&r->job_free, job, q);
		free(job);
	}
}

void
mx_relay_free(struct mx_relay *r)
{
	struct relay_conn *c;
	struct relay_job *job;

	if (r == NULL)
		return;
	r->freeing = true;
	while ((job = queue_pop(r)) != NULL)
		job_finish(r, job, 451, "4.3.2 delivery interrupted: shutting down");
	TAILQ_FOREACH(c, &r->conns, link) {
		if (c->job != NULL)
			job_finish(r, c->job, 451, "4.3.2 delivery interrupted: shutting down");
		mx_timer_cancel(r->wheel, &c->timer);
		if (c->st == NULL)
			continue;
		/* The stream outlives us by a pass or two. */
		mx_stream_set_cb(c->st, &relay_orphan_cb, NULL);
		if (c->state != RS_CLOSING)
			mx_stream_abort(c->st);
	}
	/* submit() refuses while freeing, so done() cannot add results. */
	while (r->n_done > 0)
		relay_flush(r);
	mx_timer_cancel(r->wheel, &r->defer);
	relay_free_lists(r);
	mx_conf_put(r->conf);
	free(r);
}
