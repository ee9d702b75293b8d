/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smtp_auth: the session's side of sender authentication (policy/auth).
 * The worker never evaluates and never waits on DNS: it hands jobs to the
 * verifier stage through its port and parks the session (state
 * SMTP_S_AUTH: no input is read, pipelined commands stay buffered) until
 * the job comes back in mx_smtp_auth_done() on this loop.
 *
 *   MAIL FROM   auth.spf enforce: an SPF job; the MAIL reply waits for it
 *               (550 5.7.23 on fail, RFC 7372 3.2). Otherwise a prefetch
 *               of the SPF names (RFC 7208 2.3, 2.4) when any check is on.
 *   headers end a prefetch of the DKIM key names and the DMARC records.
 *   end of data the message job (SPF unless done, DKIM, DMARC); its
 *               results go into the transaction's verdict, which
 *               policy/verdict composes; then the Authentication-Results
 *               field (RFC 8601) is prepended, fields claiming our
 *               authserv-id are renamed (RFC 8601 5), and the
 *               transaction ends as the verdict says.
 *
 * Every string a job reads lives in the msg's arena, so a job whose
 * session went away (detached) stays valid: it then owns the msg and
 * releases it when it comes back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mx_auth.h"
#include "mx_authres.h"
#include "mx_json.h"
#include "mx_log.h"
#include "smtp_priv.h"

bool
smtp_auth_on(const struct smtp_session *s)
{
	return s->w->env.auth != NULL && (s->conf->auth_spf != MX_CONF_AUTH_OFF ||
			s->conf->auth_dmarc != MX_CONF_AUTH_OFF);
}

static const char *
smtp_auth_id(const struct smtp_session *s)
{
	return s->conf->auth_authserv_id != NULL ? s->conf->auth_authserv_id :
		s->conf->hostname;
}

/* The job's strings, NUL-terminated in the msg's arena. */
static int
smtp_auth_fill(struct smtp_session *s, struct mx_auth_job *job)
{
	struct mx_msg *m = s->tx.msg;
	char ip[INET6_ADDRSTRLEN];
	struct mx_str out;

	mx_addr_format(&s->peer, false, ip, sizeof(ip));
	if (mx_msg_strdup(m, (struct mx_str){ strlen(ip), ip }, &out) < 0)
		return -ENOMEM;
	job->client_ip = out.p;
	job->helo = m->helo.p;
	job->mail_from = m->mail_from.p;
	job->msg = m;
	job->user = s;
	return 0;
}

/* A prefetch goes out when a job is free; it is only a head start, so
 * none free means none sent. */
static void
smtp_auth_prefetch(struct smtp_session *s, bool hdrs)
{
	struct mx_auth_port *p = s->w->env.auth;
	struct mx_auth_job *job = mx_auth_job_get(p);
	const struct mx_msg *m = s->tx.msg;

	if (job == NULL)
		return;
	if (hdrs)
		mx_auth_prefetch_msg(job, m);
	else
		mx_auth_prefetch_spf(job, m->helo.p, m->mail_from.p);
	if (job->n_names == 0 && job->from_domain[0] == '\0') {
		mx_auth_job_put(p, job);
		return;
	}
	if (mx_auth_port_submit(p, job) != 0)
		mx_auth_job_put(p, job);
}

/* The verifier cannot take the job: the checks are temperror (RFC 8601
 * 2.7.1), which auth.temperror then turns into 451 or an accept. */
static void
smtp_auth_unavailable(struct smtp_session *s)
{
	struct mx_verdict *v = &s->tx.verdict;

	mx_stat_inc(s->w->env.stats, MX_STAT_AUTH_UNAVAILABLE);
	v->spf = v->helo = MX_AUTH_TEMPERROR;
	v->dkim = v->dmarc = MX_AUTH_TEMPERROR;
}

static int
smtp_auth_submit(struct smtp_session *s, struct mx_auth_job *job)
{
	struct mx_auth_port *p = s->w->env.auth;

	if (mx_auth_port_submit(p, job) != 0)
		return -EAGAIN;
	s->tx.auth = job;
	s->tx.auth_busy = true;
	s->state = SMTP_S_AUTH;
	return 0;
}

bool
smtp_auth_mail(struct smtp_session *s)
{
	struct mx_auth_port *p = s->w->env.auth;
	struct mx_auth_job *job;

	if (!smtp_auth_on(s))
		return false;
	if (s->conf->auth_spf != MX_CONF_AUTH_ENFORCE) {
		smtp_auth_prefetch(s, false);
		return false;
	}
	job = mx_auth_job_get(p);
	if (job != NULL && smtp_auth_fill(s, job) == 0) {
		job->kind = MX_AUTH_JOB_SPF;
		if (smtp_auth_submit(s, job) == 0)
			return true;
	}
	if (job != NULL)
		mx_auth_job_put(p, job);
	smtp_auth_unavailable(s);
	smtp_auth_mail_verdict(s);
	return true;
}

void
smtp_auth_data(struct smtp_session *s)
{
	const struct mx_msg *m = s->tx.msg;

	if (s->tx.auth_hdrs || !m->hdrs_done || !smtp_auth_on(s))
		return;
	s->tx.auth_hdrs = true;
	smtp_auth_prefetch(s, true);
}

bool
smtp_auth_end(struct smtp_session *s)
{
	struct mx_auth_port *p = s->w->env.auth;
	struct smtp_txn *tx = &s->tx;
	struct mx_auth_job *job = tx->auth;

	if (!smtp_auth_on(s))
		return false;
	/* The SPF job of MAIL FROM goes on as the message job. */
	if (job == NULL) {
		job = mx_auth_job_get(p);
		if (job == NULL || smtp_auth_fill(s, job) != 0) {
			if (job != NULL)
				mx_auth_job_put(p, job);
			smtp_auth_unavailable(s);
			return false;
		}
		job->spf_done = false;
	} else {
		job->spf_done = true;
	}
	job->kind = MX_AUTH_JOB_MESSAGE;
	if (smtp_auth_submit(s, job) == 0)
		return true;
	if (tx->auth == NULL)
		mx_auth_job_put(p, job);
	smtp_auth_unavailable(s);
	return false;
}

/* The verdict's auth part from the job and the configuration. */
static void
smtp_auth_verdict_fill(struct smtp_session *s)
{
	struct mx_verdict *v = &s->tx.verdict;
	const struct mx_auth_job *job = s->tx.auth;

	v->auth.spf_mode = (enum mx_verdict_mode)s->conf->auth_spf;
	v->auth.dmarc_mode = (enum mx_verdict_mode)s->conf->auth_dmarc;
	v->auth.temperror_tempfail = s->conf->auth_temperror == 1;
	if (job == NULL)
		return;
	v->spf = job->res.spf_word;
	v->helo = job->res.helo_word;
	v->auth.spf_explanation = job->res.spf.explanation;
	if (!job->res.checked_msg)
		return;
	v->dkim = job->res.dkim_best;
	v->dmarc = job->res.dmarc.result;
	v->auth.from_domain = job->res.dmarc.from_domain;
	v->auth.dmarc_disposition = (enum mx_verdict_dmarc)job->res.dmarc.disposition;
}

static void
smtp_auth_log(struct smtp_session *s, const char *what)
{
	char peer[64];

	mx_addr_format(&s->peer, true, peer, sizeof(peer));
	MX_LOG_RL(MX_LOG_INFO, SMTP_LOG, "session %llu %s: %s by sender authentication",
			(unsigned long long)s->id, peer, what);
}

/* MAIL FROM under auth.spf enforce: the reply the SPF result calls for. */
void
smtp_auth_mail_verdict(struct smtp_session *s)
{
	struct mx_verdict *v = &s->tx.verdict;
	char reply[SMTP_REPLY_MAX - 2];

	smtp_auth_verdict_fill(s);
	mx_verdict_compose(v);
	if (v->action == MX_VERDICT_REJECT || v->action == MX_VERDICT_TEMPFAIL) {
		mx_stat_inc(s->w->env.stats, v->action == MX_VERDICT_REJECT ?
				MX_STAT_AUTH_REJECTED : MX_STAT_AUTH_TEMPFAILED);
		smtp_auth_log(s, v->action == MX_VERDICT_REJECT ? "MAIL refused" :
				"MAIL deferred");
		mx_verdict_reply_format(&v->reply, reply, sizeof(reply));
		smtp_reply(s, "%s", reply);
		/* The transaction never started: its log line says why. */
		s->state = SMTP_S_READY;
		smtp_txn_abandon(s, "mail");
		return;
	}
	s->state = SMTP_S_MAIL;
	smtp_reply(s, "250 2.1.0 Ok");
}

/* RFC 8601 5: fields that claim our authserv-id cannot come from us yet:
 * they are renamed, without copying the message (mx_msg_insert). */
static int
smtp_auth_rename_forged(struct smtp_session *s)
{
	const char *id = smtp_auth_id(s);
	unsigned idx[MX_MSG_MAX_INSERTS];
	struct mx_msg *m = s->tx.msg;
	unsigned i, n;
	int rc;

	n = mx_authres_find_ours(m, (struct mx_str){ strlen(id), id }, idx,
			MX_MSG_MAX_INSERTS);
	if (n > MX_MSG_MAX_INSERTS)
		return -ENOSPC; /* more forgeries than edits: refuse, never pass one */
	/* Back to front: an insertion moves the offsets after it. */
	for (i = n; i > 0; i--) {
		rc = mx_msg_insert(m, m->hdrs[idx[i - 1]].offset, MX_AUTH_FORGED_PREFIX,
				sizeof(MX_AUTH_FORGED_PREFIX) - 1);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Without a result (the verifier was unavailable): every check
 * temperror, so the downstream still sees what was not checked. */
static int
smtp_auth_ar_temperror(struct smtp_session *s)
{
	const struct mx_msg *m = s->tx.msg;
	const char *id = smtp_auth_id(s);
	struct mx_authres a = {
		.authserv_id = { strlen(id), id },
		.has_spf = true, .spf = MX_AUTH_TEMPERROR, .mailfrom = m->mail_from,
		.has_helo = true, .helo = MX_AUTH_TEMPERROR, .helo_name = m->helo,
		.has_dmarc = true, .dmarc = MX_AUTH_TEMPERROR,
	};
	char field[512];
	size_t len;

	if (mx_authres_format(&a, true, field, sizeof(field), &len) != 0)
		return -ENOSPC;
	return mx_msg_prepend(s->tx.msg, field, len);
}

static int
smtp_auth_headers(struct smtp_session *s)
{
	const struct mx_auth_job *job = s->tx.auth;
	const struct mx_verdict *v = &s->tx.verdict;
	int rc;

	if (job != NULL && job->res.ar_field_len > 0)
		rc = mx_msg_prepend(s->tx.msg, job->res.ar_field, job->res.ar_field_len);
	else
		rc = smtp_auth_ar_temperror(s);
	if (rc == 0)
		rc = smtp_auth_rename_forged(s);
	/* DMARC quarantine: the content path's verdict field, unless the
	 * content rules wrote it already. */
	if (rc == 0 && v->action == MX_VERDICT_QUARANTINE &&
			v->content_action != MX_VERDICT_CONTENT_QUARANTINE) {
		static const char q[] = "X-Mxedge-Verdict: quarantine; score=0; rules=dmarc\r\n";

		mx_stat_inc(s->w->env.stats, MX_STAT_AUTH_QUARANTINED);
		rc = mx_msg_prepend(s->tx.msg, q, sizeof(q) - 1);
	}
	return rc;
}

/* End of data: the composed verdict becomes the sticky error or the
 * headers for the downstream. */
void
smtp_auth_end_verdict(struct smtp_session *s)
{
	struct smtp_txn *tx = &s->tx;
	struct mx_verdict *v = &tx->verdict;

	smtp_auth_verdict_fill(s);
	mx_verdict_compose(v);
	if (v->action == MX_VERDICT_REJECT || v->action == MX_VERDICT_TEMPFAIL) {
		mx_stat_inc(s->w->env.stats, v->action == MX_VERDICT_REJECT ?
				MX_STAT_AUTH_REJECTED : MX_STAT_AUTH_TEMPFAILED);
		smtp_auth_log(s, v->action == MX_VERDICT_REJECT ? "message refused" :
				"message deferred");
		mx_verdict_reply_format(&v->reply, tx->auth_reply, sizeof(tx->auth_reply));
		tx->error = tx->auth_reply;
		return;
	}
	if (smtp_auth_headers(s) != 0) {
		mx_stat_inc(s->w->env.stats, MX_STAT_MEM_EXHAUSTED);
		tx->error = "452 4.3.1 Insufficient system storage";
	}
}

void
mx_smtp_auth_done(struct mx_auth_job *job)
{
	struct smtp_session *s = job->user;
	struct mx_auth_port *p = job->port;

	if (s == NULL) {
		/* Detached: the session went away; the job owns the msg. */
		mx_msg_release((struct mx_msg *)(uintptr_t)job->msg);
		mx_auth_job_put(p, job);
		return;
	}
	s->tx.auth_busy = false;
	if (job->kind == MX_AUTH_JOB_SPF)
		smtp_auth_mail_verdict(s);
	else
		smtp_txn_end_verified(s);
	if (s->state == SMTP_S_CLOSING)
		return;
	/* The idle limit of the state we are back in runs from now (none
	 * ran while parked), and the input left unread is read again. */
	/* A draining worker's session that is idle again leaves now. */
	if (s->draining && !smtp_session_in_txn(s)) {
		smtp_drain_now(s);
		return;
	}
	if (job->kind == MX_AUTH_JOB_SPF) {
		s->last_ms = mx_loop_now_ms(s->w->env.loop);
		smtp_timer_update(s);
	}
	mx_stream_want_read(s->st);
}

void
smtp_auth_reset(struct smtp_session *s)
{
	struct smtp_txn *tx = &s->tx;
	struct mx_auth_job *job = tx->auth;

	if (job == NULL)
		return;
	tx->auth = NULL;
	if (!tx->auth_busy) {
		mx_auth_job_put(s->w->env.auth, job);
		return;
	}
	/* The verifier still reads the msg: it goes with the job. */
	job->user = NULL;
	tx->msg = NULL;
	tx->auth_busy = false;
}

/* The verdict log's "auth" member: what the checks found, beyond the
 * result words of "checks". Nothing while the verifier holds the job. */
void
smtp_auth_vlog(struct smtp_session *s, struct mx_json *j)
{
	const struct mx_auth_job *job = s->tx.auth;
	const struct mx_auth_res *r;
	unsigned i;

	if (job == NULL || s->tx.auth_busy)
		return;
	r = &job->res;
	mx_json_obj_open(j, "auth");
	mx_json_obj_open(j, "spf");
	mx_json_cstr(j, "result", mx_auth_result_name(r->spf_word));
	mx_json_cstr(j, "domain", r->spf.domain);
	mx_json_cstr(j, "helo", mx_auth_result_name(r->helo_word));
	mx_json_obj_close(j);
	if (r->checked_msg) {
		mx_json_arr_open(j, "dkim");
		for (i = 0; i < r->dkim.n_sigs; i++) {
			mx_json_obj_open(j, NULL);
			mx_json_cstr(j, "d", r->dkim.sigs[i].domain);
			mx_json_cstr(j, "s", r->dkim.sigs[i].selector);
			mx_json_cstr(j, "result", mx_auth_result_name(r->dkim.sigs[i].result));
			mx_json_obj_close(j);
		}
		mx_json_arr_close(j);
		mx_json_obj_open(j, "dmarc");
		mx_json_cstr(j, "result", mx_auth_result_name(r->dmarc.result));
		mx_json_cstr(j, "from_domain", r->dmarc.from_domain);
		mx_json_cstr(j, "policy", mx_dmarc_policy_name(r->dmarc.policy));
		mx_json_cstr(j, "disposition", mx_dmarc_policy_name(r->dmarc.disposition));
		mx_json_obj_close(j);
		if (r->has_senderid) {
			mx_json_obj_open(j, "senderid");
			mx_json_cstr(j, "result", mx_auth_result_name(r->senderid_word));
			mx_json_cstr(j, "pra", r->pra);
			mx_json_obj_close(j);
		}
	}
	mx_json_obj_close(j);
}
