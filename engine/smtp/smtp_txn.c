/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smtp_txn: the end of a mail transaction: the message sink the DATA and
 * BDAT readers write into (size limit, sticky errors, mx_msg_append), the
 * Received header (RFC 5321 4.4), the hand-off to the delivery
 * (mx_deliver.h) and the final reply, and the verdict log line.
 *
 * Contract: errors inside the data phase are sticky (OpenSMTPD tx->error):
 * the first one is kept, the data is still read to its end, and it is the
 * one reply at the end. A message is answered 250 only with the delivery's
 * own 2yz, after the delivery reported (DESIGN "Verdicts"). While the
 * delivery is in flight the session reads no input (the bytes stay in the
 * stream), so a pipelined next command waits for the final reply.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mx_deliver.h"
#include "mx_json.h"
#include "mx_tls.h"
#include "mx_log.h"
#include "mx_verdict.h"
#include "mx_vlog.h"
#include "smtp_priv.h"

/* Sticky end-of-data replies. RFC 5321 4.3.2 lists the replies to the end
 * of data: 250, 552, 554, 451, 452, 450, 550. */
static const char err_bare[] = "550 5.5.2 Error: message contains bare CR or LF";
/* RFC 5321 4.5.3.1.6 bounds a text line at 1000 octets with its CRLF;
 * 552 is the listed end-of-data code for a limit exceeded. */
static const char err_line[] = "552 5.3.4 Error: message line too long";
/* RFC 1870 6.3 */
static const char err_size[] = "552 5.3.4 Message size exceeds fixed maximum message size";
static const char err_mem[] = "452 4.3.1 Insufficient system storage";

static void
smtp_txn_error(struct smtp_session *s, const char *err)
{
	struct smtp_txn *tx = &s->tx;

	if (tx->error != NULL)
		return;
	tx->error = err;
	if (err == err_mem)
		mx_stat_inc(s->w->env.stats, MX_STAT_MEM_EXHAUSTED);
}

/* The readers flag bare breaks and long lines as they pass them; a
 * flagged message stops growing at once. */
static void
smtp_txn_check_reader(struct smtp_session *s)
{
	const struct smtp_txn *tx = &s->tx;

	if (tx->rd.n_bare > 0 && tx->rd.bare_lf == MX_BARE_LF_REJECT)
		smtp_txn_error(s, err_bare);
	else if (tx->rd.line_too_long)
		smtp_txn_error(s, err_line);
}

void
smtp_txn_out(void *arg, const uint8_t *p, size_t n)
{
	struct smtp_session *s = arg;
	struct smtp_txn *tx = &s->tx;

	tx->size += n;
	smtp_txn_check_reader(s);
	if (tx->error != NULL)
		return;
	if (tx->size > s->conf->max_message_size) {
		smtp_txn_error(s, err_size);
		return;
	}
	if (mx_msg_append(tx->msg, p, n) < 0) {
		smtp_txn_error(s, err_mem);
		return;
	}
	if (tx->scanning)
		mx_content_scan_feed(s->w->scans[s - s->w->sessions], p, n);
	smtp_auth_data(s);
}

/* ---- content rules (policy/content) ---- */

void
smtp_txn_scan_begin(struct smtp_session *s)
{
	struct mx_smtp_worker *w = s->w;
	struct mx_content_scan **sc = &w->scans[s - w->sessions];

	if (w->content == NULL)
		return;
	/* A slot keeps its scan (Hyperscan streams) from message to
	 * message; only a reload makes a new one. */
	if (*sc != NULL && mx_content_scan_rules(*sc) != w->content) {
		mx_content_scan_free(*sc);
		*sc = NULL;
	}
	if (*sc == NULL && mx_content_scan_create(w->content, sc) != 0) {
		/* Fail closed: a message that cannot be scanned is not
		 * accepted unscanned. */
		mx_stat_inc(w->env.stats, MX_STAT_CONTENT_ERRORS);
		smtp_txn_error(s, err_mem);
		return;
	}
	mx_content_scan_begin(*sc, w->scratch);
	s->tx.scanning = true;
}

/* "X-Mxedge-Verdict: quarantine; score=N; rules=a,b" for the downstream:
 * the action and score from the composed verdict, the rule IDs from the
 * scan that produced it. */
static int
smtp_txn_quarantine_hdr(struct smtp_session *s)
{
	const struct mx_content_verdict *cv = s->tx.cv;
	const struct mx_verdict *v = &s->tx.verdict;
	char hdr[512];
	size_t n;
	unsigned i;

	n = (size_t)snprintf(hdr, sizeof(hdr), "X-Mxedge-Verdict: %s; score=%lld; rules=",
			mx_verdict_action_name(v->action), (long long)v->content_score);
	for (i = 0; i < cv->n_hits && n + strlen(cv->hits[i].id) + 8 < sizeof(hdr); i++)
		n += (size_t)snprintf(hdr + n, sizeof(hdr) - n, "%s%s", i > 0 ? "," : "",
				cv->hits[i].id);
	n += (size_t)snprintf(hdr + n, sizeof(hdr) - n, "\r\n");
	return mx_msg_prepend(s->tx.msg, hdr, n);
}

static enum mx_verdict_content
content_outcome(enum mx_content_action a)
{
	switch (a) {
	case MX_CONTENT_REJECT:
		return MX_VERDICT_CONTENT_REJECT;
	case MX_CONTENT_QUARANTINE:
		return MX_VERDICT_CONTENT_QUARANTINE;
	default:
		return MX_VERDICT_CONTENT_ACCEPT;
	}
}

static void
smtp_txn_content_stats(struct smtp_session *s, const struct mx_content_verdict *cv)
{
	struct mx_stats *stats = s->w->env.stats;

	mx_stat_inc(stats, MX_STAT_CONTENT_SCANNED);
	if (cv->defects & (1u << MX_CONTENT_D_SCAN_TRUNCATED))
		mx_stat_inc(stats, MX_STAT_CONTENT_TRUNCATED);
	if (cv->n_errors > 0)
		mx_stat_add(stats, MX_STAT_CONTENT_ERRORS, cv->n_errors);
	if (s->tx.verdict.action == MX_VERDICT_REJECT)
		mx_stat_inc(stats, MX_STAT_CONTENT_REJECTED);
	else if (s->tx.verdict.action == MX_VERDICT_QUARANTINE)
		mx_stat_inc(stats, MX_STAT_CONTENT_QUARANTINED);
}

/* End of data: the content scan fills the verdict, policy/verdict composes
 * the action, and we act on it. A reject becomes the sticky reply
 * (RFC 5321 4.3.2 lists 550 and 554 for the end of data); a quarantine
 * marks the message for the downstream and lets it through. */
static void
smtp_txn_content(struct smtp_session *s)
{
	struct smtp_txn *tx = &s->tx;
	const struct mx_content_verdict *cv;

	if (!tx->scanning)
		return;
	tx->scanning = false;
	cv = mx_content_scan_end(s->w->scans[s - s->w->sessions]);
	tx->cv = cv;
	mx_verdict_init(&tx->verdict);
	mx_verdict_set_content(&tx->verdict, content_outcome(cv->action), cv->score,
			cv->reply_code, cv->reply_text);
	mx_verdict_compose(&tx->verdict);
	smtp_txn_content_stats(s, cv);
	if (tx->verdict.action == MX_VERDICT_REJECT) {
		mx_verdict_reply_format(&tx->verdict.reply, tx->content_reply,
				sizeof(tx->content_reply));
		smtp_txn_error(s, tx->content_reply);
		MX_LOG_RL(MX_LOG_INFO, SMTP_LOG, "session %llu: content reject by %s (score %lld)",
				(unsigned long long)s->id,
				cv->reason_id != NULL ? cv->reason_id : "thresholds",
				(long long)tx->verdict.content_score);
	} else if (tx->verdict.action == MX_VERDICT_QUARANTINE &&
			smtp_txn_quarantine_hdr(s) < 0) {
		smtp_txn_error(s, err_mem);
	}
}

/* ---- verdict log ---- */

static const char *
body_name(int body)
{
	switch (body) {
	case MX_BODY_8BITMIME:
		return "8BITMIME";
	case MX_BODY_BINARYMIME:
		return "BINARYMIME";
	default:
		return "7BIT";
	}
}

/* "tls": null for plaintext, else what was negotiated and the client
 * certificate when one was presented. */
static void
vlog_tls(struct smtp_session *s, struct mx_json *j)
{
	struct mx_tls_info ti;

	if (!s->tls || mx_tls_stream_info(s->st, &ti) != 0) {
		mx_json_null(j, "tls");
		return;
	}
	mx_json_obj_open(j, "tls");
	mx_json_cstr(j, "version", ti.version);
	mx_json_cstr(j, "cipher", ti.cipher);
	mx_json_bool(j, "resumed", ti.resumed);
	if (ti.profile != NULL)
		mx_json_cstr(j, "profile", ti.profile);
	if (ti.peer_cert) {
		mx_json_obj_open(j, "client_cert");
		mx_json_cstr(j, "subject", ti.peer_subject);
		mx_json_cstr(j, "issuer", ti.peer_issuer);
		mx_json_cstr(j, "sha256", ti.peer_sha256);
		if (ti.profile != NULL)
			mx_json_bool(j, "verified", ti.peer_verified);
		mx_json_obj_close(j);
	}
	mx_json_obj_close(j);
}

static void
vlog_envelope(struct smtp_session *s, struct mx_json *j, bool with_rcpts)
{
	const struct mx_msg *m = s->tx.msg;
	char ts[40], ip[INET6_ADDRSTRLEN];
	unsigned i;

	mx_iso8601_ms(ts, sizeof(ts), mx_wall_ms());
	mx_addr_format(&s->peer, false, ip, sizeof(ip));
	mx_json_obj_open(j, NULL);
	mx_json_cstr(j, "ts", ts);
	mx_json_cstr(j, "id", m->id);
	mx_json_u64(j, "session", s->id);
	mx_json_obj_open(j, "client");
	mx_json_cstr(j, "ip", ip);
	mx_json_u64(j, "port", s->peer.port);
	mx_json_obj_close(j);
	mx_json_str(j, "helo", s->helo, s->helo_len);
	vlog_tls(s, j);
	mx_json_str(j, "mail_from", m->mail_from.p, m->mail_from.len);
	if (with_rcpts) {
		mx_json_arr_open(j, "rcpt");
		for (i = 0; i < m->n_rcpts; i++)
			mx_json_str(j, NULL, m->rcpts[i].addr.p, m->rcpts[i].addr.len);
		mx_json_arr_close(j);
	} else {
		mx_json_bool(j, "truncated", true);
	}
	mx_json_u64(j, "size", s->tx.size);
	mx_json_cstr(j, "body", body_name(s->tx.body));
	mx_json_bool(j, "smtputf8", s->tx.smtputf8);
	/* The record the end of data composed; a check that did not run
	 * (a zeroed transaction) is "none". */
	mx_verdict_json_checks(&s->tx.verdict, j);
	smtp_auth_vlog(s, j);
	if (s->tx.cv != NULL) {
		mx_json_obj_open(j, "content");
		mx_json_cstr(j, "action", mx_content_action_name(s->tx.cv->action));
		mx_json_i64(j, "score", s->tx.verdict.content_score);
		mx_json_arr_open(j, "hits");
		for (i = 0; i < s->tx.cv->n_hits; i++)
			mx_json_cstr(j, NULL, s->tx.cv->hits[i].id);
		mx_json_arr_close(j);
		mx_json_obj_close(j);
	}
	mx_json_obj_close(j);
}

/* The envelope half of the line, while the msg still exists, as a
 * complete object; vlog_finish() extends it. */
static void
vlog_stage(struct smtp_session *s)
{
	struct mx_json j;

	s->vlog_len = 0;
	if (s->vlog_stage == NULL)
		return;
	mx_json_init(&j, s->vlog_stage, SMTP_VLOG_STAGE);
	vlog_envelope(s, &j, true);
	if (!mx_json_ok(&j)) {
		mx_json_init(&j, s->vlog_stage, SMTP_VLOG_STAGE);
		vlog_envelope(s, &j, false);
	}
	if (mx_json_ok(&j))
		s->vlog_len = mx_json_len(&j);
}

static const char *
verdict_name(int code)
{
	return code < 400 ? "accept" : code < 500 ? "tempfail" : "reject";
}

/* The relay's hop to the downstream (delivery.tls): present only when
 * that hop does TLS or was asked to. */
static void
vlog_relay_tls(struct mx_json *j, const struct mx_deliver_tls *t)
{
	if (t == NULL || t->verify == NULL)
		return;
	mx_json_obj_open(j, "relay_tls");
	if (t->version != NULL)
		mx_json_cstr(j, "version", t->version);
	else
		mx_json_null(j, "version");
	if (t->cipher != NULL)
		mx_json_cstr(j, "cipher", t->cipher);
	else
		mx_json_null(j, "cipher");
	mx_json_cstr(j, "verify", t->verify);
	mx_json_obj_close(j);
}

/* Joins the staged envelope "{...}" and the outcome, written as its own
 * object "{...}" over the envelope's closing brace, whose "{" then
 * becomes the "," between the two: "{envelope,outcome}". */
static void
vlog_finish(struct smtp_session *s, const char *verdict, const char *end,
		const char *reply, size_t reply_len, const char *via, uint64_t delivery_us,
		const struct mx_deliver_tls *rtls)
{
	char *buf = s->w->vlog_buf;
	struct mx_json j;
	uint64_t now = mx_clock_us();
	const struct smtp_txn *tx = &s->tx;

	if (s->vlog_len == 0 || s->w->env.vlog == NULL)
		return;
	memcpy(buf, s->vlog_stage, s->vlog_len);
	mx_json_init(&j, buf + s->vlog_len - 1, SMTP_VLOG_MAX - s->vlog_len + 1);
	mx_json_obj_open(&j, NULL);
	mx_json_cstr(&j, "verdict", verdict);
	mx_json_cstr(&j, "end", end);
	mx_json_str(&j, "reply", reply, reply_len);
	if (via != NULL)
		mx_json_cstr(&j, "delivery", via);
	else
		mx_json_null(&j, "delivery");
	vlog_relay_tls(&j, rtls);
	mx_json_obj_open(&j, "timings_ms");
	mx_json_ms(&j, "data", tx->t_end_us >= tx->t_data_us ? tx->t_end_us - tx->t_data_us : 0);
	mx_json_ms(&j, "delivery", delivery_us);
	mx_json_ms(&j, "total", now - tx->t_mail_us);
	mx_json_obj_close(&j);
	mx_json_obj_close(&j);
	if (!mx_json_ok(&j)) {
		mx_stat_inc(s->w->env.stats, MX_STAT_VLOG_DROPPED);
		return;
	}
	buf[s->vlog_len - 1] = ',';
	/* -EAGAIN is counted by the vlog itself. */
	(void)mx_vlog_write(s->w->env.vlog, buf, s->vlog_len - 1 + mx_json_len(&j));
}

/* ---- final reply ---- */

static void
smtp_txn_final(struct smtp_session *s, const char *buf, size_t len,
		const char *via, uint64_t delivery_us, const struct mx_deliver_tls *rtls)
{
	struct mx_stats *stats = s->w->env.stats;
	int code = (buf[0] - '0') * 100 + (buf[1] - '0') * 10 + (buf[2] - '0');

	smtp_send_reply(s, buf, len, false);
	mx_stat_inc(stats, code < 400 ? MX_STAT_TXN_ACCEPTED :
			code < 500 ? MX_STAT_TXN_TEMPFAIL : MX_STAT_TXN_REJECTED);
	if (code < 400)
		mx_stat_add(stats, MX_STAT_MSG_BYTES, s->tx.size);
	vlog_finish(s, verdict_name(code), "data", buf, len - 2, via, delivery_us, rtls);
	smtp_txn_reset(s);
	s->state = SMTP_S_READY;
	s->last_ms = mx_loop_now_ms(s->w->env.loop);
	smtp_timer_update(s);
	if (s->draining)
		smtp_drain_now(s);
}

/* The delivery's reply text comes from the downstream MTA: only
 * printable ASCII of it reaches our client. */
static size_t
smtp_result_reply(char *buf, size_t size, const struct mx_deliver_result *res)
{
	char text[sizeof(res->text)];
	size_t i, n = 0;
	int code = res->code;

	for (i = 0; i < sizeof(res->text) && res->text[i] != '\0'; i++)
		if (res->text[i] >= 0x20 && res->text[i] < 0x7f)
			text[n++] = res->text[i];
	text[n] = '\0';
	if (code < 200 || code > 599 || (code >= 300 && code < 400)) {
		code = 451;
		snprintf(text, sizeof(text), "4.3.0 Error: delivery failed");
	}
	return smtp_format(buf, size, "%d %s", code, text);
}

static void
smtp_txn_delivered(void *arg, const struct mx_deliver_result *res)
{
	struct smtp_session *s = arg;
	char buf[SMTP_REPLY_MAX];
	size_t len;

	s->tx.delivering = false;
	len = smtp_result_reply(buf, sizeof(buf), res);
	smtp_txn_final(s, buf, len, res->via, res->latency_us, &res->tls);
	/* The bytes left unread while the delivery ran. */
	if (s->state != SMTP_S_CLOSING)
		mx_stream_want_read(s->st);
}

/* RFC 5321 4.4 trace field; the protocol word is from RFC 3848 (SMTP,
 * ESMTP) and RFC 6531 3.7.3 (UTF8SMTP when SMTPUTF8 was used). The HELO
 * name is printable ASCII without spaces (mx_smtp_parse_helo), so it
 * cannot break the header. */
static int
smtp_txn_received(struct smtp_session *s)
{
	const struct mx_msg *m = s->tx.msg;
	char hdr[1536], ip[INET6_ADDRSTRLEN], date[64];
	const char *proto = s->tx.smtputf8 ? "UTF8SMTP" : s->esmtp ? "ESMTP" : "SMTP";
	int n;

	mx_addr_format(&s->peer, false, ip, sizeof(ip));
	mx_rfc5322_date(date, sizeof(date), (int64_t)(mx_wall_ms() / 1000));
	if (m->n_rcpts == 1)
		n = snprintf(hdr, sizeof(hdr),
				"Received: from %.*s (unknown [%s%s])\r\n"
				"\tby %s (mxedge) with %s id %s\r\n"
				"\tfor <%.*s>; %s\r\n",
				(int)s->helo_len, s->helo,
				s->peer.family == AF_INET6 ? "IPv6:" : "", ip,
				s->conf->hostname, proto, m->id,
				(int)m->rcpts[0].addr.len, m->rcpts[0].addr.p, date);
	else
		n = snprintf(hdr, sizeof(hdr),
				"Received: from %.*s (unknown [%s%s])\r\n"
				"\tby %s (mxedge) with %s id %s;\r\n"
				"\t%s\r\n",
				(int)s->helo_len, s->helo,
				s->peer.family == AF_INET6 ? "IPv6:" : "", ip,
				s->conf->hostname, proto, m->id, date);
	if (n < 0 || (size_t)n >= sizeof(hdr))
		return -EMSGSIZE;
	return mx_msg_prepend(s->tx.msg, hdr, (size_t)n);
}

static void
smtp_txn_fail(struct smtp_session *s, const char *err)
{
	char buf[SMTP_REPLY_MAX];
	size_t len = smtp_format(buf, sizeof(buf), "%s", err);

	smtp_txn_final(s, buf, len, NULL, 0, NULL);
}

void
smtp_txn_end(struct smtp_session *s)
{
	struct smtp_txn *tx = &s->tx;

	tx->t_end_us = mx_clock_us();
	/* RFC 2920 3.1 without PIPELINING: nothing may follow the end of
	 * data before its reply. */
	if (!s->pipelining && mx_stream_readable(s->st) > 0) {
		mx_stat_inc(s->w->env.stats, MX_STAT_PIPELINING_REFUSED);
		smtp_reply(s, "554 5.5.0 Error: SMTP protocol synchronization");
		smtp_session_close(s);
		return;
	}
	smtp_txn_check_reader(s);
	if (tx->error == NULL) {
		mx_msg_finish(tx->msg);
		tx->msg->t_data_end_us = tx->t_end_us;
		if (smtp_txn_received(s) < 0)
			smtp_txn_error(s, err_mem);
		else
			smtp_txn_content(s);
	}
	if (tx->error == err_bare)
		mx_stat_inc(s->w->env.stats, MX_STAT_BARE_LF_REJECTED);
	else if (tx->rd.bare_lf == MX_BARE_LF_NORMALIZE && tx->rd.n_bare > 0)
		mx_stat_add(s->w->env.stats, MX_STAT_BARE_LF_NORMALIZED, tx->rd.n_bare);
	/* Sender authentication parks the session until its verdict. */
	if (tx->error == NULL && smtp_auth_end(s))
		return;
	smtp_txn_end_verified(s);
}

void
smtp_txn_end_verified(struct smtp_session *s)
{
	struct smtp_txn *tx = &s->tx;
	struct mx_msg *m;
	int rc;

	if (tx->error == NULL && smtp_auth_on(s))
		smtp_auth_end_verdict(s);
	vlog_stage(s);
	if (tx->error != NULL) {
		smtp_txn_fail(s, tx->error);
		return;
	}
	/* From here the delivery owns the msg on every path. */
	m = tx->msg;
	tx->msg = NULL;
	s->state = SMTP_S_DELIVER;
	tx->delivering = true;
	rc = mx_deliver_submit(s->w->env.deliver, m, smtp_txn_delivered, s, &tx->handle);
	if (rc < 0) {
		tx->delivering = false;
		smtp_txn_fail(s, "451 4.3.0 Error: queue file write error");
	}
}

/* A transaction that ends before its data: "reject" or "tempfail" when
 * the last thing the client heard was a 5yz or 4yz (every RCPT refused,
 * say), "unknown" when a delivery was in flight (the message may still
 * arrive downstream), else "abandoned" (the client gave up). */
static const char *
abandon_verdict(const struct smtp_txn *tx)
{
	if (tx->delivering)
		return "unknown";
	if (tx->last_reply_len > 0 && tx->last_reply[0] == '5')
		return "reject";
	if (tx->last_reply_len > 0 && tx->last_reply[0] == '4')
		return "tempfail";
	return "abandoned";
}

void
smtp_txn_abandon(struct smtp_session *s, const char *end)
{
	struct smtp_txn *tx = &s->tx;

	/* A delivery in flight was staged at end of data; otherwise stage
	 * the envelope now, while the msg exists. */
	if (tx->msg != NULL && !tx->delivering)
		vlog_stage(s);
	if (tx->msg != NULL || tx->delivering)
		vlog_finish(s, abandon_verdict(tx), end, tx->last_reply,
				tx->last_reply_len, NULL, 0, NULL);
	smtp_txn_reset(s);
}
