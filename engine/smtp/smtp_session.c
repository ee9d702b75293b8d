/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smtp_session: the per-connection SMTP state machine (RFC 5321) over the
 * stream API: greeting, the command loop with its fixed order of checks,
 * the command table (check and proceed per verb, OpenSMTPD style; flags
 * per verb, Postfix style), the DATA and BDAT input phases and the idle
 * timers.
 *
 * Contract: runs on the worker's loop thread only; never blocks, never
 * allocates (the msg comes from the worker's chunk pool, everything else
 * is in the session, which comes from the worker's fixed pool). Every byte
 * from the client is untrusted: misbehaviour becomes a reply, an error
 * count and a counter, never an assert.
 *
 * Order of the checks for each command line (STYLE 2.8, Postfix smtpd):
 *  1. hard error limit: a session that reached max_errors is already gone
 *     (421 right after the error reply that reached it);
 *  2. line bound (RFC 5321 4.5.3.1.4): 500 5.5.2, resync at the next LF;
 *  3. bare CR in the line: 500 5.5.2. A line ended by LF alone is taken, as
 *     Postfix does for compatibility with old clients (RFC 5321 2.3.8 asks
 *     for CRLF); this never applies to message data, where only CRLF counts;
 *  4. UTF-8 validity of the whole line (RFC 6531 3.3 allows UTF-8 only as
 *     well-formed sequences): 500 5.5.2;
 *  5. tokenize; an HTTP-looking or other forbidden verb: 554 5.7.0 + close;
 *  6. unknown verb: 500 5.5.2 + error count;
 *  7. TLS requirement: with tls.mode mandatory, MAIL, RCPT, DATA and BDAT
 *     before STARTTLS get 530 5.7.0 (RFC 3207 4);
 *  8. pipelining synchronisation (RFC 2920, see the command table);
 *  9. the verb's check, then its proceed.
 */
#include <stdio.h>
#include <string.h>

#include "mx_connlimit.h"
#include "mx_deliver.h"
#include "mx_log.h"
#include "mx_tls.h"
#include "smtp_priv.h"

/* ---- helpers ---- */

static struct mx_wheel *
smtp_wheel(const struct smtp_session *s)
{
	return mx_loop_wheel(s->w->env.loop);
}

static uint64_t
smtp_now(const struct smtp_session *s)
{
	return mx_loop_now_ms(s->w->env.loop);
}

static const char *
smtp_host(const struct smtp_session *s)
{
	return s->conf->hostname;
}

static bool
smtp_greeted(const struct smtp_session *s)
{
	return s->helo_len > 0;
}

bool
smtp_session_in_txn(const struct smtp_session *s)
{
	switch (s->state) {
	case SMTP_S_MAIL:
	case SMTP_S_RCPT:
	case SMTP_S_DATA:
	case SMTP_S_BDAT:
	case SMTP_S_DELIVER:
	case SMTP_S_AUTH:
		return true;
	case SMTP_S_SKIP:
		return s->skip_ret == SMTP_S_MAIL || s->skip_ret == SMTP_S_RCPT;
	default:
		return false;
	}
}

void
smtp_session_close(struct smtp_session *s)
{
	if (s->state == SMTP_S_CLOSING)
		return;
	s->state = SMTP_S_CLOSING;
	mx_timer_cancel(smtp_wheel(s), &s->timer);
	/* Graceful: what is queued (the last reply) is sent, then FIN.
	 * Replies still waiting for send space get one more try; a client
	 * that does not read loses them, which it chose. */
	(void)smtp_flush_pending(s);
	mx_stream_close(s->st);
}

/* A reply and the end of the connection (RFC 5321 3.8: 421 may answer
 * anything when the server must close). */
static void
smtp_close_with(struct smtp_session *s, enum mx_stat stat, const char *reply)
{
	mx_stat_inc(s->w->env.stats, stat);
	smtp_reply(s, "%s", reply);
	smtp_session_close(s);
}

static void
smtp_sync_error(struct smtp_session *s, const char *where)
{
	char peer[64];

	mx_addr_format(&s->peer, true, peer, sizeof(peer));
	MX_LOG_RL(MX_LOG_INFO, SMTP_LOG, "session %llu %s: pipelining without permission after %s, closing",
			(unsigned long long)s->id, peer, where);
	smtp_close_with(s, MX_STAT_PIPELINING_REFUSED,
			"554 5.5.0 Error: SMTP protocol synchronization");
}

/* Sent after a transaction ended or at once when idle (mx_smtp_drain). */
void
smtp_drain_now(struct smtp_session *s)
{
	smtp_reply(s, "421 4.3.2 %s Service shutting down", smtp_host(s));
	smtp_session_close(s);
}

void
smtp_session_drain(struct smtp_session *s)
{
	s->draining = true;
	if (s->state != SMTP_S_CLOSING && !smtp_session_in_txn(s))
		smtp_drain_now(s);
}

void
smtp_txn_reset(struct smtp_session *s)
{
	struct smtp_txn *tx = &s->tx;

	if (tx->delivering)
		mx_deliver_detach(s->w->env.deliver, tx->handle);
	smtp_auth_reset(s);
	mx_msg_release(tx->msg);
	memset(tx, 0, sizeof(*tx));
	s->vlog_len = 0;
}

/* ---- timers ---- */

/* The idle limit of the state we are in (RFC 5321 4.5.3.2), 0 for none. */
static unsigned
smtp_timeout_ms(const struct smtp_session *s)
{
	switch (s->state) {
	case SMTP_S_INIT:
		return s->conf->timeout_greeting_ms;
	case SMTP_S_DATA:
	case SMTP_S_BDAT:
	case SMTP_S_SKIP:
		return s->conf->timeout_data_ms;
	case SMTP_S_READY:
	case SMTP_S_MAIL:
	case SMTP_S_RCPT:
		return s->conf->timeout_command_ms;
	default:
		/* GREETING has its own timer; DELIVER is bounded by the
		 * delivery's timeouts; CLOSING by the transport. */
		return 0;
	}
}

static void
smtp_timer_arm(struct smtp_session *s, uint64_t at_ms)
{
	s->timer_ms = at_ms;
	mx_timer_arm(smtp_wheel(s), &s->timer, at_ms);
}

/* Lazy re-arm (nginx): input only moves last_ms; the wheel is touched
 * when the timer fires early (it re-arms itself) or when a state change
 * makes the deadline earlier than the armed one. */
void
smtp_timer_update(struct smtp_session *s)
{
	unsigned t = smtp_timeout_ms(s);
	uint64_t deadline;

	if (t == 0)
		return;
	deadline = s->last_ms + t;
	if (!mx_timer_armed(&s->timer) || deadline < s->timer_ms)
		smtp_timer_arm(s, deadline);
}

static void smtp_greet(struct smtp_session *s);

static void
smtp_timer_fire(struct mx_timer *t, void *arg)
{
	struct smtp_session *s = arg;
	uint64_t now = smtp_now(s), deadline;
	unsigned limit;

	(void)t;
	if (s->state == SMTP_S_GREETING) {
		smtp_greet(s);
		return;
	}
	limit = smtp_timeout_ms(s);
	if (limit == 0)
		return;
	deadline = s->last_ms + limit;
	if (deadline > now) {
		smtp_timer_arm(s, deadline);
		return;
	}
	mx_stat_inc(s->w->env.stats, MX_STAT_TIMEOUT);
	smtp_reply(s, "421 4.4.2 %s Error: timeout exceeded", smtp_host(s));
	smtp_session_close(s);
}

/* ---- greeting ---- */

static void
smtp_early_talker(struct smtp_session *s)
{
	char peer[64];

	mx_addr_format(&s->peer, true, peer, sizeof(peer));
	MX_LOG_RL(MX_LOG_INFO, SMTP_LOG, "session %llu %s: talked before the greeting, closing",
			(unsigned long long)s->id, peer);
	mx_stat_inc(s->w->env.stats, MX_STAT_EARLY_TALKER);
	smtp_reply(s, "554 5.5.0 %s Error: SMTP protocol synchronization", smtp_host(s));
	smtp_session_close(s);
}

static void
smtp_greet(struct smtp_session *s)
{
	/* RFC 5321 4.3.1 and 3.1; RFC 2034 3: no enhanced code on 220. */
	smtp_reply(s, "220 %s ESMTP mxedge", smtp_host(s));
	s->state = SMTP_S_INIT;
	s->last_ms = smtp_now(s);
	smtp_timer_update(s);
}

void
smtp_session_start(struct smtp_session *s)
{
	mx_timer_init(&s->timer, smtp_timer_fire, s);
	s->last_ms = smtp_now(s);
	s->state = SMTP_S_GREETING;
	if (s->conf->greeting_delay_ms > 0) {
		smtp_timer_arm(s, s->last_ms + s->conf->greeting_delay_ms);
		return;
	}
	/* Without a delay, bytes that are already there at accept were sent
	 * before any greeting could have been seen. */
	if (mx_stream_readable(s->st) > 0) {
		smtp_early_talker(s);
		return;
	}
	smtp_greet(s);
}

/* ---- command checks and actions ---- */

/* A check replies and returns false when the command must not proceed. */
typedef bool smtp_check_fn(struct smtp_session *s, const struct mx_smtp_cmd *c);
typedef void smtp_proceed_fn(struct smtp_session *s, const struct mx_smtp_cmd *c);

static bool
smtp_check_no_arg(struct smtp_session *s, const struct mx_smtp_cmd *c)
{
	/* RFC 5321 4.1.1.4 (DATA), 4.1.1.5 (RSET), 4.1.1.10 (QUIT): the
	 * command takes no argument. */
	if (c->arg.len == 0)
		return true;
	smtp_reply_err(s, "501 5.5.4 Syntax: %s takes no argument",
			c->verb == MX_SMTP_VERB_DATA ? "DATA" :
			c->verb == MX_SMTP_VERB_RSET ? "RSET" : "QUIT");
	return false;
}

static bool
smtp_check_helo(struct smtp_session *s, const struct mx_smtp_cmd *c)
{
	if (mx_smtp_parse_helo(c->arg) == MX_SMTP_P_OK)
		return true;
	smtp_reply_err(s, "501 5.5.4 Syntax: %s hostname",
			c->verb == MX_SMTP_VERB_EHLO ? "EHLO" : "HELO");
	return false;
}

static void
smtp_set_helo(struct smtp_session *s, const struct mx_smtp_cmd *c)
{
	/* RFC 5321 4.1.4: HELO/EHLO in a transaction resets it. */
	smtp_txn_abandon(s, c->verb == MX_SMTP_VERB_EHLO ? "ehlo" : "helo");
	memcpy(s->helo, c->arg.p, c->arg.len);
	s->helo_len = c->arg.len;
	s->state = SMTP_S_READY;
}

static void
smtp_proceed_helo(struct smtp_session *s, const struct mx_smtp_cmd *c)
{
	smtp_set_helo(s, c);
	s->esmtp = false;
	s->pipelining = false;
	s->chunking = false;
	/* RFC 2034 3: no enhanced code in the reply to HELO/EHLO. */
	smtp_reply(s, "250 %s", smtp_host(s));
}

static void
smtp_proceed_ehlo(struct smtp_session *s, const struct mx_smtp_cmd *c)
{
	char buf[SMTP_REPLY_MAX];
	const char *ext[8];
	char size[32];
	size_t len, i, n = 0;

	smtp_set_helo(s, c);
	s->esmtp = true;
	s->pipelining = s->conf->pipelining;
	s->chunking = s->conf->chunking;
	if (s->pipelining)
		ext[n++] = "PIPELINING";
	snprintf(size, sizeof(size), "SIZE %llu",
			(unsigned long long)s->conf->max_message_size);
	ext[n++] = size;
	ext[n++] = "8BITMIME";
	ext[n++] = "SMTPUTF8";
	ext[n++] = "ENHANCEDSTATUSCODES";
	if (s->chunking)
		ext[n++] = "CHUNKING";
	/* RFC 3207 4.2: not offered again once TLS is on. */
	if (s->w->env.tls != NULL && !s->tls)
		ext[n++] = "STARTTLS";
	/* RFC 5321 4.2.1: every line but the last has "-" after the code. */
	len = smtp_format(buf, sizeof(buf), "250-%s", smtp_host(s));
	for (i = 0; i < n; i++)
		len += smtp_format(buf + len, sizeof(buf) - len, "250%c%s",
				i + 1 == n ? ' ' : '-', ext[i]);
	smtp_send_reply(s, buf, len, false);
}

static bool
smtp_check_mail(struct smtp_session *s, const struct mx_smtp_cmd *c)
{
	struct mx_smtp_parse_opts o = { s->esmtp, s->chunking };
	struct mx_smtp_mail_args *a = &s->args.mail;

	if (!smtp_greeted(s)) {
		smtp_reply_err(s, "503 5.5.1 Error: send HELO/EHLO first");
		return false;
	}
	if (s->state != SMTP_S_READY) {
		smtp_reply_err(s, "503 5.5.1 Error: nested MAIL command");
		return false;
	}
	switch (mx_smtp_parse_mail(c->arg, &o, a)) {
	case MX_SMTP_P_OK:
		break;
	case MX_SMTP_P_SYNTAX:
		smtp_reply_err(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return false;
	case MX_SMTP_P_BAD_PATH:
		smtp_reply_err(s, "501 5.1.7 Bad sender address syntax");
		return false;
	case MX_SMTP_P_PATH_TOO_LONG:
		smtp_reply_err(s, "501 5.1.7 Path too long");
		return false;
	case MX_SMTP_P_UTF8:
		/* RFC 6531 3.5 */
		smtp_reply_err(s, "553 5.6.7 Non-ASCII sender address needs SMTPUTF8");
		return false;
	case MX_SMTP_P_PARAM:
		/* RFC 5321 4.1.1.11 */
		smtp_reply_err(s, "555 5.5.4 Unsupported or malformed MAIL parameter");
		return false;
	}
	if (a->has_size && a->size > s->conf->max_message_size) {
		/* RFC 1870 6.1: refuse at MAIL what will not fit. */
		smtp_reply_err(s, "552 5.3.4 Message size exceeds fixed maximum message size");
		return false;
	}
	if (!smtp_tlspol_mail(s, a->path.domain))
		return false;
	return true;
}

static void
smtp_no_storage(struct smtp_session *s)
{
	mx_stat_inc(s->w->env.stats, MX_STAT_MEM_EXHAUSTED);
	smtp_reply(s, "452 4.3.1 Insufficient system storage");
}

static void
smtp_proceed_mail(struct smtp_session *s, const struct mx_smtp_cmd *c)
{
	const struct mx_smtp_mail_args *a = &s->args.mail;
	struct mx_smtp_env *env = &s->w->env;
	struct smtp_txn *tx = &s->tx;
	struct mx_msg *m;

	(void)c;
	if (mx_msg_create(env->pool, s->conf->max_headers, s->conf->max_header_bytes, &m) < 0) {
		smtp_no_storage(s);
		return;
	}
	tx->msg = m;
	if (mx_msg_set_helo(m, (struct mx_str){ s->helo_len, s->helo }) < 0 ||
			mx_msg_set_mail(m, a->path.mailbox, a->params) < 0) {
		smtp_txn_reset(s);
		smtp_no_storage(s);
		return;
	}
	/* The envelope fields without a setter in mx_msg.h. */
	m->session_id = s->id;
	m->client = s->peer;
	m->declared_size = a->has_size ? a->size : 0;
	m->body = (enum mx_body_type)a->body;
	m->smtputf8 = a->smtputf8;
	tx->body = a->body;
	tx->smtputf8 = a->smtputf8;
	tx->t_mail_us = mx_clock_us();
	m->t_start_us = tx->t_mail_us;
	s->state = SMTP_S_MAIL;
	mx_stat_inc(env->stats, MX_STAT_TXN_STARTED);
	if (smtp_auth_mail(s))
		return;
	smtp_reply(s, "250 2.1.0 Ok");
}

static bool
smtp_rcpt_parse_ok(struct smtp_session *s, const struct mx_smtp_cmd *c)
{
	switch (mx_smtp_parse_rcpt(c->arg, s->tx.smtputf8, &s->args.rcpt)) {
	case MX_SMTP_P_OK:
		return true;
	case MX_SMTP_P_SYNTAX:
		smtp_reply_err(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		break;
	case MX_SMTP_P_BAD_PATH:
		smtp_reply_err(s, "501 5.1.3 Bad recipient address syntax");
		break;
	case MX_SMTP_P_PATH_TOO_LONG:
		smtp_reply_err(s, "501 5.1.3 Path too long");
		break;
	case MX_SMTP_P_UTF8:
		smtp_reply_err(s, "553 5.6.7 Non-ASCII recipient address needs SMTPUTF8");
		break;
	case MX_SMTP_P_PARAM:
		smtp_reply_err(s, "555 5.5.4 Unsupported or malformed RCPT parameter");
		break;
	}
	return false;
}

static bool
smtp_check_rcpt(struct smtp_session *s, const struct mx_smtp_cmd *c)
{
	const struct mx_smtp_path *p = &s->args.rcpt.path;

	if (s->state != SMTP_S_MAIL && s->state != SMTP_S_RCPT) {
		smtp_reply_err(s, "503 5.5.1 Error: need MAIL command");
		return false;
	}
	if (s->tx.bdat) {
		smtp_reply_err(s, "503 5.5.1 Error: RCPT after BDAT");
		return false;
	}
	if (!smtp_rcpt_parse_ok(s, c))
		return false;
	if (s->tx.n_rcpt >= s->conf->max_recipients) {
		/* RFC 5321 4.5.3.1.10: 452, and the client goes on with the
		 * recipients it got; not a client error. */
		smtp_reply(s, "452 4.5.3 Error: too many recipients");
		return false;
	}
	/* No open relay: only local domains, and RFC 5321 4.5.1's bare
	 * <postmaster> when there is a local domain to give it to. */
	if (p->postmaster ? s->conf->n_local_domains == 0 :
			(p->literal || !mx_conf_is_local_domain(s->conf, p->domain))) {
		mx_stat_inc(s->w->env.stats, MX_STAT_RELAY_DENIED);
		smtp_reply_err(s, "550 5.7.1 Relaying denied");
		return false;
	}
	return true;
}

static void
smtp_proceed_rcpt(struct smtp_session *s, const struct mx_smtp_cmd *c)
{
	const struct mx_smtp_rcpt_args *a = &s->args.rcpt;
	struct mx_str addr = a->path.mailbox;
	char pm[16 + 256];
	int rc;

	(void)c;
	if (a->path.postmaster) {
		int n = snprintf(pm, sizeof(pm), "postmaster@%s", s->conf->local_domains[0]);

		addr = (struct mx_str){ MX_MIN((size_t)n, sizeof(pm) - 1), pm };
	}
	rc = mx_msg_add_rcpt(s->tx.msg, addr, a->params);
	if (rc < 0) {
		smtp_no_storage(s);
		return;
	}
	s->tx.n_rcpt++;
	s->state = SMTP_S_RCPT;
	smtp_reply(s, "250 2.1.5 Ok");
}

static bool
smtp_check_data(struct smtp_session *s, const struct mx_smtp_cmd *c)
{
	if (!smtp_check_no_arg(s, c))
		return false;
	if (s->state != SMTP_S_MAIL && s->state != SMTP_S_RCPT) {
		smtp_reply_err(s, "503 5.5.1 Error: need MAIL command");
		return false;
	}
	if (s->tx.bdat) {
		/* RFC 3030 2: DATA and BDAT do not mix in a transaction. */
		smtp_reply_err(s, "503 5.5.1 Error: DATA after BDAT");
		return false;
	}
	if (s->state == SMTP_S_MAIL) {
		smtp_reply_err(s, "503 5.5.1 Error: need RCPT command");
		return false;
	}
	if (s->tx.body == MX_BODY_BINARYMIME) {
		/* RFC 3030 3: BINARYMIME content only travels in BDAT. */
		smtp_reply_err(s, "503 5.5.1 Error: BODY=BINARYMIME needs BDAT");
		return false;
	}
	return true;
}

static void
smtp_proceed_data(struct smtp_session *s, const struct mx_smtp_cmd *c)
{
	(void)c;
	mx_smtp_data_init(&s->tx.rd, s->conf->bare_lf, s->conf->max_text_line);
	s->tx.t_data_us = mx_clock_us();
	smtp_txn_scan_begin(s);
	s->state = SMTP_S_DATA;
	smtp_timer_update(s);
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

/* A BDAT that is refused still announced its chunk: the bytes are read
 * and dropped so they are never taken for commands (RFC 3030 2). */
static void
smtp_skip_chunk(struct smtp_session *s, uint64_t size)
{
	if (size == 0)
		return;
	s->skip_ret = s->state;
	s->skip_left = size;
	s->state = SMTP_S_SKIP;
	smtp_timer_update(s);
}

static bool
smtp_check_bdat(struct smtp_session *s, const struct mx_smtp_cmd *c)
{
	uint64_t size;
	bool last;

	if (mx_smtp_parse_bdat(c->arg, &size, &last) != MX_SMTP_P_OK) {
		/* Without a size there is no telling where the chunk
		 * ends: what follows cannot be trusted as commands. */
		smtp_reply_err(s, "501 5.5.4 Syntax: BDAT chunk-size [LAST]");
		smtp_session_close(s);
		return false;
	}
	s->args.bdat.size = size;
	s->args.bdat.last = last;
	if (!s->chunking) {
		smtp_reply_err(s, "502 5.5.1 Error: CHUNKING not offered");
	} else if (s->state != SMTP_S_MAIL && s->state != SMTP_S_RCPT) {
		smtp_reply_err(s, "503 5.5.1 Error: need MAIL command");
	} else if (s->state == SMTP_S_MAIL) {
		smtp_reply_err(s, "503 5.5.1 Error: need RCPT command");
	} else {
		return true;
	}
	smtp_skip_chunk(s, size);
	return false;
}

static void smtp_bdat_chunk_done(struct smtp_session *s);

static void
smtp_proceed_bdat(struct smtp_session *s, const struct mx_smtp_cmd *c)
{
	struct smtp_txn *tx = &s->tx;

	(void)c;
	if (!tx->bdat) {
		tx->bdat = true;
		mx_smtp_chunk_init(&tx->rd, s->conf->bare_lf);
		tx->t_data_us = mx_clock_us();
		smtp_txn_scan_begin(s);
	}
	tx->bdat_chunk = s->args.bdat.size;
	tx->bdat_left = s->args.bdat.size;
	tx->bdat_last = s->args.bdat.last;
	s->state = SMTP_S_BDAT;
	smtp_timer_update(s);
	if (tx->bdat_left == 0)
		smtp_bdat_chunk_done(s);
}

static void
smtp_proceed_rset(struct smtp_session *s, const struct mx_smtp_cmd *c)
{
	(void)c;
	smtp_txn_abandon(s, "rset");
	s->state = smtp_greeted(s) ? SMTP_S_READY : SMTP_S_INIT;
	smtp_reply(s, "250 2.0.0 Ok");
}

static void
smtp_proceed_noop(struct smtp_session *s, const struct mx_smtp_cmd *c)
{
	(void)c;
	smtp_reply(s, "250 2.0.0 Ok");
}

static void
smtp_proceed_quit(struct smtp_session *s, const struct mx_smtp_cmd *c)
{
	(void)c;
	/* RFC 5321 4.1.1.10: an open transaction is aborted. */
	smtp_txn_abandon(s, "quit");
	smtp_reply(s, "221 2.0.0 %s Bye", smtp_host(s));
	smtp_session_close(s);
}

static void
smtp_proceed_help(struct smtp_session *s, const struct mx_smtp_cmd *c)
{
	(void)c;
	smtp_reply(s, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY");
}

static bool
smtp_check_vrfy(struct smtp_session *s, const struct mx_smtp_cmd *c)
{
	if (c->arg.len > 0)
		return true;
	smtp_reply_err(s, "501 5.5.4 Syntax: VRFY address");
	return false;
}

static void
smtp_proceed_vrfy(struct smtp_session *s, const struct mx_smtp_cmd *c)
{
	(void)c;
	/* RFC 5321 3.5.3: 252 says neither yes nor no, so the list of
	 * users cannot be harvested. */
	smtp_reply(s, "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery");
}

static void
smtp_proceed_expn(struct smtp_session *s, const struct mx_smtp_cmd *c)
{
	(void)c;
	/* RFC 5321 3.5.3 lets a server refuse EXPN: lists stay private. */
	smtp_reply(s, "502 5.5.1 Error: EXPN not available");
}

static void
smtp_proceed_not_offered(struct smtp_session *s, const struct mx_smtp_cmd *c)
{
	/* STARTTLS (RFC 3207) and AUTH (RFC 4954) are extensions we do not
	 * advertise, so for this server they are commands it does not
	 * implement: 502 (RFC 5321 4.2.4), counted like an unknown verb.
	 * 503 would mean "right command, wrong moment", which is not so. */
	smtp_reply_err(s, "502 5.5.1 Error: %s not available",
			c->verb == MX_SMTP_VERB_AUTH ? "AUTH" : "STARTTLS");
}

static bool
smtp_check_starttls(struct smtp_session *s, const struct mx_smtp_cmd *c)
{
	if (s->w->env.tls == NULL) {
		smtp_proceed_not_offered(s, c);
		return false;
	}
	/* RFC 3207 4: "STARTTLS" takes no parameters. */
	if (c->arg.len > 0) {
		smtp_reply_err(s, "501 5.5.4 Syntax: STARTTLS");
		return false;
	}
	/* RFC 3207 4.2: the client MUST NOT issue STARTTLS again. */
	if (s->tls) {
		smtp_reply_err(s, "503 5.5.1 Error: TLS already active");
		return false;
	}
	if (smtp_session_in_txn(s)) {
		smtp_reply_err(s, "503 5.5.1 Error: MAIL transaction in progress");
		return false;
	}
	return true;
}

/* Plaintext the client sent after STARTTLS, before the handshake, would
 * otherwise be read as if it came over TLS (CVE-2011-0411): RFC 3207 4.2
 * has the server discard it. It is whatever is still buffered now (the
 * STARTTLS line itself was consumed before it was handled). */
static void
smtp_tls_drop_plaintext(struct smtp_session *s)
{
	size_t junk = mx_stream_readable(s->st);
	char peer[64];

	if (junk == 0)
		return;
	mx_stream_consume(s->st, junk);
	mx_stat_inc(s->w->env.stats, MX_STAT_PIPELINING_REFUSED);
	mx_addr_format(&s->peer, true, peer, sizeof(peer));
	MX_LOG_RL(MX_LOG_INFO, SMTP_LOG, "session %llu %s: %zu plaintext bytes after "
			"STARTTLS discarded", (unsigned long long)s->id, peer, junk);
}

static void
smtp_proceed_starttls(struct smtp_session *s, const struct mx_smtp_cmd *c)
{
	struct mx_stream *t;
	int rc;

	(void)c;
	smtp_tls_drop_plaintext(s);
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	/* The 220 must leave in plaintext before any TLS byte: a reply
	 * still waiting for send space would go out encrypted. */
	if (s->pend_len > 0) {
		smtp_session_close(s);
		return;
	}
	rc = mx_tls_stream_create(s->w->env.tls, s->st, &t);
	if (rc != 0) {
		mx_stat_inc(s->w->env.stats, MX_STAT_MEM_EXHAUSTED);
		MX_LOG_RL(MX_LOG_WARN, SMTP_LOG, "session %llu: no TLS session: %s",
				(unsigned long long)s->id, strerror(-rc));
		smtp_session_close(s);
		return;
	}
	s->st = t;
	mx_stream_set_cb(t, &smtp_session_cb, s);
	s->tls = true;
	/* RFC 3207 4.2: the server MUST discard any knowledge obtained
	 * from the client (the HELO name, the extensions in force); a new
	 * EHLO is required. */
	s->state = SMTP_S_INIT;
	s->helo_len = 0;
	s->helo[0] = '\0';
	s->esmtp = false;
	s->pipelining = false;
	s->chunking = false;
	mx_smtp_line_init(&s->line, s->line.buf, s->line.cap);
}

/* RFC 3207 4: with TLS required, every command of a mail transaction
 * before STARTTLS is refused. */
static bool
smtp_tls_required(const struct smtp_session *s, enum mx_smtp_verb v)
{
	if (s->tls || s->conf->tls_mode != MX_TLS_MODE_MANDATORY)
		return false;
	return v == MX_SMTP_VERB_MAIL || v == MX_SMTP_VERB_RCPT ||
		v == MX_SMTP_VERB_DATA || v == MX_SMTP_VERB_BDAT;
}

/*
 * The command table. RFC 2920 3.1: "The EHLO, DATA, VRFY, EXPN, TURN,
 * QUIT, and NOOP commands can only appear as the last command in a group
 * since their success or failure produces a change of state which the
 * client SMTP must accommodate. (NOOP is included in this group so it can
 * be used as a synchronization point.)" and "Additional commands added by
 * other SMTP extensions may only appear as the last command in a group
 * unless otherwise specified": so STARTTLS (RFC 3207 4.2 says so itself)
 * and AUTH are last as well; HELO is EHLO's older form. BDAT is specified
 * as pipelinable (RFC 3030 4.2) and its chunk follows it at once, so its
 * synchronisation is checked at the end of its chunk instead.
 *
 * DATA is last in its group: the client must wait for 354 before sending
 * the content (RFC 2920 3.1, "the client SMTP ... must wait for the 354
 * response"), so bytes that follow DATA in the same burst are a
 * synchronisation error, refused with 554 and a close like Postfix does,
 * never taken as message data (that is how pipelined DATA smuggles).
 */
#define SMTP_CMD_LAST 0x1u  /* last in a pipelined group */

struct smtp_cmd_def {
	unsigned flags;
	smtp_check_fn *check;      /* NULL: nothing to check */
	smtp_proceed_fn *proceed;
};

static const struct smtp_cmd_def smtp_cmds[MX_SMTP_VERB__COUNT] = {
	[MX_SMTP_VERB_HELO] = { SMTP_CMD_LAST, smtp_check_helo, smtp_proceed_helo },
	[MX_SMTP_VERB_EHLO] = { SMTP_CMD_LAST, smtp_check_helo, smtp_proceed_ehlo },
	[MX_SMTP_VERB_MAIL] = { 0, smtp_check_mail, smtp_proceed_mail },
	[MX_SMTP_VERB_RCPT] = { 0, smtp_check_rcpt, smtp_proceed_rcpt },
	[MX_SMTP_VERB_DATA] = { SMTP_CMD_LAST, smtp_check_data, smtp_proceed_data },
	[MX_SMTP_VERB_BDAT] = { 0, smtp_check_bdat, smtp_proceed_bdat },
	[MX_SMTP_VERB_RSET] = { 0, smtp_check_no_arg, smtp_proceed_rset },
	[MX_SMTP_VERB_NOOP] = { SMTP_CMD_LAST, NULL, smtp_proceed_noop },
	[MX_SMTP_VERB_QUIT] = { SMTP_CMD_LAST, smtp_check_no_arg, smtp_proceed_quit },
	[MX_SMTP_VERB_HELP] = { 0, NULL, smtp_proceed_help },
	[MX_SMTP_VERB_VRFY] = { SMTP_CMD_LAST, smtp_check_vrfy, smtp_proceed_vrfy },
	[MX_SMTP_VERB_EXPN] = { SMTP_CMD_LAST, NULL, smtp_proceed_expn },
	[MX_SMTP_VERB_STARTTLS] = { SMTP_CMD_LAST, smtp_check_starttls, smtp_proceed_starttls },
	[MX_SMTP_VERB_AUTH] = { SMTP_CMD_LAST, NULL, smtp_proceed_not_offered },
};

/* RFC 2920: without PIPELINING offered every command waits for its reply;
 * with it, only the commands marked last do. The reply to this command is
 * still in our send buffer (flushed at the end of the pass), so any byte
 * already received was sent without waiting for it. */
static bool
smtp_sync_ok(const struct smtp_session *s, const struct mx_smtp_cmd *c,
		const struct smtp_cmd_def *def)
{
	if (c->verb == MX_SMTP_VERB_BDAT || mx_stream_readable(s->st) == 0)
		return true;
	/* What follows STARTTLS is discarded, not refused (RFC 3207 4.2;
	 * smtp_tls_drop_plaintext). */
	if (c->verb == MX_SMTP_VERB_STARTTLS && !s->tls && s->w->env.tls != NULL)
		return true;
	return s->pipelining && !(def->flags & SMTP_CMD_LAST);
}

static void
smtp_handle_line(struct smtp_session *s)
{
	const struct mx_smtp_line *l = &s->line;
	const struct smtp_cmd_def *def;
	struct mx_smtp_cmd c;

	if (l->bare_cr) {
		smtp_reply_err(s, "500 5.5.2 Error: bare CR in command line");
		return;
	}
	if (!mx_smtp_utf8_valid(l->text, l->len)) {
		smtp_reply_err(s, "500 5.5.2 Error: invalid UTF-8 in command line");
		return;
	}
	if (mx_smtp_parse_cmd(l->text, l->len, &c) != MX_OK ||
			c.verb == MX_SMTP_VERB_UNKNOWN) {
		mx_stat_inc(s->w->env.stats, MX_STAT_UNKNOWN_COMMAND);
		s->w->n_cmd[MX_SMTP_VERB_UNKNOWN]++;
		smtp_reply_err(s, "500 5.5.2 Error: command not recognized");
		return;
	}
	s->w->n_cmd[c.verb]++;
	if (c.verb == MX_SMTP_VERB_FORBIDDEN) {
		char peer[64];

		mx_addr_format(&s->peer, true, peer, sizeof(peer));
		MX_LOG_RL(MX_LOG_INFO, SMTP_LOG, "session %llu %s: non-SMTP command, closing",
				(unsigned long long)s->id, peer);
		mx_stat_inc(s->w->env.stats, MX_STAT_UNKNOWN_COMMAND);
		smtp_reply(s, "554 5.7.0 Error: this is an SMTP server");
		smtp_session_close(s);
		return;
	}
	def = &smtp_cmds[c.verb];
	if (smtp_tls_required(s, c.verb)) {
		smtp_reply_err(s, "530 5.7.0 Must issue a STARTTLS command first");
		return;
	}
	if (!smtp_sync_ok(s, &c, def)) {
		smtp_sync_error(s, c.verb == MX_SMTP_VERB_DATA ? "DATA" : "a command");
		return;
	}
	if (def->check != NULL && !def->check(s, &c))
		return;
	def->proceed(s, &c);
}

/* ---- input phases ---- */

static void
smtp_consume(struct smtp_session *s, size_t n)
{
	mx_stream_consume(s->st, n);
	mx_stat_add(s->w->env.stats, MX_STAT_BYTES_IN, n);
}

static void
smtp_cmd_input(struct smtp_session *s, const uint8_t *p, size_t n)
{
	size_t used = 0;
	enum mx_rc rc;

	rc = mx_smtp_line_feed(&s->line, p, n, &used);
	/* Consumed first: the sync check looks at what is left. */
	smtp_consume(s, used);
	if (rc == MX_TOOLONG) {
		mx_stat_inc(s->w->env.stats, MX_STAT_LINE_TOO_LONG);
		smtp_reply_err(s, "500 5.5.2 Error: line too long");
	} else if (rc == MX_OK) {
		smtp_handle_line(s);
	}
	if (s->state != SMTP_S_CLOSING && s->n_errors >= s->conf->max_errors) {
		mx_stat_inc(s->w->env.stats, MX_STAT_ERROR_LIMIT);
		smtp_reply(s, "421 4.7.0 %s Error: too many errors", smtp_host(s));
		smtp_session_close(s);
		return;
	}
	/* An idle session of a draining worker leaves after its reply. */
	if (s->draining && s->state != SMTP_S_CLOSING && !smtp_session_in_txn(s))
		smtp_drain_now(s);
}

static void
smtp_data_input(struct smtp_session *s, const uint8_t *p, size_t n)
{
	size_t used = 0;
	enum mx_rc rc;

	rc = mx_smtp_data_feed(&s->tx.rd, p, n, &used, smtp_txn_out, s);
	smtp_consume(s, used);
	if (rc == MX_OK)
		smtp_txn_end(s);
}

static void
smtp_bdat_chunk_done(struct smtp_session *s)
{
	struct smtp_txn *tx = &s->tx;

	if (tx->bdat_last) {
		mx_smtp_chunk_end(&tx->rd, smtp_txn_out, s);
		smtp_txn_end(s);
		return;
	}
	if (!s->pipelining && mx_stream_readable(s->st) > 0) {
		smtp_sync_error(s, "BDAT");
		return;
	}
	s->state = SMTP_S_RCPT;
	/* RFC 3030 2: each chunk is acknowledged; a sticky error is told
	 * once, after BDAT LAST. */
	smtp_reply(s, "250 2.0.0 Ok: %llu octets received",
			(unsigned long long)tx->bdat_chunk);
}

static void
smtp_bdat_input(struct smtp_session *s, const uint8_t *p, size_t n)
{
	struct smtp_txn *tx = &s->tx;
	size_t k = (size_t)MX_MIN((uint64_t)n, tx->bdat_left);

	mx_smtp_chunk_feed(&tx->rd, p, k, smtp_txn_out, s);
	smtp_consume(s, k);
	tx->bdat_left -= k;
	if (tx->bdat_left == 0)
		smtp_bdat_chunk_done(s);
}

static void
smtp_skip_input(struct smtp_session *s, size_t n)
{
	size_t k = (size_t)MX_MIN((uint64_t)n, s->skip_left);

	smtp_consume(s, k);
	s->skip_left -= k;
	if (s->skip_left > 0)
		return;
	s->state = s->skip_ret;
	if (!s->pipelining && mx_stream_readable(s->st) > 0)
		smtp_sync_error(s, "BDAT");
}

/* Reads what is buffered, one unit (line, data run, chunk run) at a time.
 * Each unit consumes at least one byte, so the loop ends with the buffer;
 * it also ends when the session must wait (delivery, a full send buffer)
 * and leaves the rest unconsumed for later. */
static void
smtp_input(struct smtp_session *s)
{
	const uint8_t *p;
	size_t n;

	for (;;) {
		if (s->state == SMTP_S_CLOSING || s->state == SMTP_S_DELIVER ||
				s->state == SMTP_S_AUTH || s->pend_len > 0)
			return;
		n = mx_stream_read_view(s->st, &p);
		if (n == 0)
			break;
		switch (s->state) {
		case SMTP_S_GREETING:
			smtp_early_talker(s);
			return;
		case SMTP_S_DATA:
			smtp_data_input(s, p, n);
			break;
		case SMTP_S_BDAT:
			smtp_bdat_input(s, p, n);
			break;
		case SMTP_S_SKIP:
			smtp_skip_input(s, n);
			break;
		default:
			smtp_cmd_input(s, p, n);
			break;
		}
	}
	if (mx_stream_peer_closed(s->st))
		smtp_session_close(s);
}

/* ---- stream callbacks ---- */

static void
smtp_on_readable(struct mx_stream *st, void *arg)
{
	struct smtp_session *s = arg;

	(void)st;
	if (s->state == SMTP_S_CLOSING)
		return;
	/* Activity, for the lazy idle timer. */
	s->last_ms = smtp_now(s);
	smtp_input(s);
	if (s->state != SMTP_S_CLOSING)
		smtp_timer_update(s);
}

static void
smtp_on_writable(struct mx_stream *st, void *arg)
{
	struct smtp_session *s = arg;

	if (s->state == SMTP_S_CLOSING)
		return;
	if (smtp_flush_pending(s))
		mx_stream_want_read(st);
}

static void
smtp_on_connected(struct mx_stream *st, int err, void *arg)
{
	/* Passive streams never connect; nothing to do. */
	(void)st;
	(void)err;
	(void)arg;
}

static void
smtp_on_closed(struct mx_stream *st, int err, void *arg)
{
	struct smtp_session *s = arg;

	(void)st;
	(void)err;
	smtp_worker_release(s);
}

const struct mx_stream_cb smtp_session_cb = {
	.on_readable = smtp_on_readable,
	.on_writable = smtp_on_writable,
	.on_connected = smtp_on_connected,
	.on_closed = smtp_on_closed,
};
