/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smtp_worker: one worker's session pool, the accept function, drain and
 * configuration reload.
 *
 * Contract: every session, its command line buffer and its verdict log
 * stage are allocated once in mx_smtp_worker_create() (nginx's free
 * connection list); accepting a connection never allocates. An empty pool
 * or a connection limit is answered with a 421 and a close, and counted.
 * A session takes a reference on the configuration it starts with and
 * keeps it to its end, so a reload never changes a running session's
 * limits. Everything runs on the worker's loop thread.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "mx_connlimit.h"
#include "mx_log.h"
#include "smtp_priv.h"

int
mx_smtp_worker_create(const struct mx_smtp_env *env, unsigned max_sessions,
		struct mx_smtp_worker **out)
{
	struct mx_smtp_worker *w;
	unsigned i;

	*out = NULL;
	if (env->loop == NULL || env->conf == NULL || env->deliver == NULL ||
			env->stats == NULL || env->pool == NULL)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->env = *env;
	w->max_sessions = max_sessions > 0 ? max_sessions : 1;
	/* The line buffers are sized from the configuration at creation.
	 * XXX: a reload that raises max_command_line is bounded by this
	 * size until the worker is created again (a session uses the
	 * smaller of the two); lowering it takes effect at once. */
	w->line_cap = env->conf->max_command_line;
	w->sessions = calloc(w->max_sessions, sizeof(*w->sessions));
	w->line_bufs = malloc(w->max_sessions * w->line_cap);
	w->scans = calloc(w->max_sessions, sizeof(*w->scans));
	if (w->sessions == NULL || w->line_bufs == NULL || w->scans == NULL)
		goto fail;
	w->env.content = NULL;
	if (env->content != NULL && mx_smtp_worker_set_content(w, env->content) != 0)
		goto fail;
	if (env->vlog != NULL) {
		w->vlog_stages = malloc((size_t)w->max_sessions * SMTP_VLOG_STAGE);
		w->vlog_buf = malloc(SMTP_VLOG_MAX);
		if (w->vlog_stages == NULL || w->vlog_buf == NULL)
			goto fail;
	}
	for (i = w->max_sessions; i-- > 0;) {
		struct smtp_session *s = &w->sessions[i];

		s->w = w;
		s->next = w->free_list;
		w->free_list = s;
	}
	w->conf = mx_conf_get(env->conf);
	w->env.conf = w->conf;
	*out = w;
	return 0;

fail:
	mx_content_scratch_free(w->scratch);
	mx_content_rules_put(w->content);
	free(w->scans);
	free(w->vlog_buf);
	free(w->vlog_stages);
	free(w->line_bufs);
	free(w->sessions);
	free(w);
	return -ENOMEM;
}

void
mx_smtp_worker_free(struct mx_smtp_worker *w)
{
	if (w == NULL)
		return;
	MX_ASSERT(w->n_active == 0);
	for (unsigned i = 0; i < w->max_sessions; i++)
		mx_content_scan_free(w->scans[i]);
	free(w->scans);
	mx_content_scratch_free(w->scratch);
	mx_content_rules_put(w->content);
	mx_conf_put(w->conf);
	free(w->vlog_buf);
	free(w->vlog_stages);
	free(w->line_bufs);
	free(w->sessions);
	free(w);
}

void
mx_smtp_worker_set_conf(struct mx_smtp_worker *w, struct mx_conf *conf)
{
	struct mx_conf *old = w->conf;

	w->conf = mx_conf_get(conf);
	w->env.conf = w->conf;
	mx_conf_put(old);
}

int
mx_smtp_worker_set_content(struct mx_smtp_worker *w, struct mx_content_rules *r)
{
	int rc;

	/* One scratch serves the old rules (messages in flight) and the
	 * new ones: hs_alloc_scratch grows it to fit both. */
	if (w->scratch == NULL)
		rc = mx_content_scratch_create(r, &w->scratch);
	else
		rc = mx_content_scratch_fit(w->scratch, r);
	if (rc != 0)
		return rc;
	mx_content_rules_get(r);
	mx_content_rules_put(w->content);
	w->content = r;
	return 0;
}

unsigned
mx_smtp_n_sessions(const struct mx_smtp_worker *w)
{
	return w->n_active;
}

void
mx_smtp_drain(struct mx_smtp_worker *w)
{
	struct smtp_session *s, *next;

	w->draining = true;
	/* Closing only marks a session (on_closed comes on a later pass),
	 * so the list is stable while we walk it. */
	for (s = w->active; s != NULL; s = next) {
		next = s->next;
		smtp_session_drain(s);
	}
}

/* ---- refusing at accept ---- */

static void
refuse_on_readable(struct mx_stream *st, void *arg)
{
	(void)arg;
	mx_stream_consume(st, mx_stream_readable(st));
}

static void
refuse_on_writable(struct mx_stream *st, void *arg)
{
	(void)st;
	(void)arg;
}

static void
refuse_on_connected(struct mx_stream *st, int err, void *arg)
{
	(void)st;
	(void)err;
	(void)arg;
}

static void
refuse_on_closed(struct mx_stream *st, int err, void *arg)
{
	(void)st;
	(void)err;
	(void)arg;
}

static const struct mx_stream_cb refuse_cb = {
	.on_readable = refuse_on_readable,
	.on_writable = refuse_on_writable,
	.on_connected = refuse_on_connected,
	.on_closed = refuse_on_closed,
};

/* RFC 5321 3.1: a server that cannot take the connection may answer 421
 * (or 554) instead of 220 and close. */
static void
smtp_refuse(struct mx_smtp_worker *w, struct mx_stream *st, enum mx_stat stat,
		const char *enh, const char *text)
{
	char buf[SMTP_REPLY_MAX];
	size_t len;

	mx_stat_inc(w->env.stats, stat);
	len = smtp_format(buf, sizeof(buf), "421 %s %s %s", enh, w->conf->hostname, text);
	mx_stream_set_cb(st, &refuse_cb, NULL);
	mx_stat_reply(w->env.stats, 421);
	mx_stat_add(w->env.stats, MX_STAT_BYTES_OUT, len);
	(void)mx_stream_send(st, buf, len);
	mx_stream_close(st);
}

static void
smtp_session_init(struct mx_smtp_worker *w, struct smtp_session *s,
		struct mx_stream *st)
{
	size_t idx = (size_t)(s - w->sessions);
	size_t cap;

	memset(s, 0, offsetof(struct smtp_session, pend));
	s->w = w;
	s->st = st;
	s->conf = mx_conf_get(w->conf);
	s->id = mx_stream_id(st);
	mx_stream_peer(st, &s->peer);
	cap = MX_MIN(w->line_cap, s->conf->max_command_line);
	mx_smtp_line_init(&s->line, w->line_bufs + idx * w->line_cap, cap);
	if (w->vlog_stages != NULL)
		s->vlog_stage = w->vlog_stages + idx * SMTP_VLOG_STAGE;
	/* Active list, for drain. */
	s->prev = NULL;
	s->next = w->active;
	if (w->active != NULL)
		w->active->prev = s;
	w->active = s;
	w->n_active++;
}

void
mx_smtp_accept(struct mx_listener *l, struct mx_stream *st, void *arg)
{
	struct mx_smtp_worker *w = arg;
	struct mx_conf *conf = w->conf;
	struct smtp_session *s;
	struct mx_addr peer;
	enum mx_connlimit_verdict v = MX_CONNLIMIT_OK;

	(void)l;
	if (w->draining) {
		smtp_refuse(w, st, MX_STAT_CONN_REFUSED_TOTAL, "4.3.2", "Service shutting down");
		return;
	}
	mx_stream_peer(st, &peer);
	if (w->env.climit != NULL)
		v = mx_connlimit_acquire(w->env.climit, &peer, conf->max_connections,
				conf->max_connections_per_client);
	if (v == MX_CONNLIMIT_TOTAL) {
		smtp_refuse(w, st, MX_STAT_CONN_REFUSED_TOTAL, "4.7.0", "Too many connections");
		return;
	}
	if (v == MX_CONNLIMIT_CLIENT) {
		smtp_refuse(w, st, MX_STAT_CONN_REFUSED_CLIENT, "4.7.0", "Too many connections");
		return;
	}
	s = w->free_list;
	if (s == NULL) {
		if (w->env.climit != NULL)
			mx_connlimit_release(w->env.climit, &peer);
		MX_LOG_RL(MX_LOG_WARN, SMTP_LOG,
				"worker session pool of %u is empty: connection refused (raise max_connections)",
				w->max_sessions);
		smtp_refuse(w, st, MX_STAT_CONN_REFUSED_MEMORY, "4.3.2", "Too many sessions, try later");
		return;
	}
	w->free_list = s->next;
	smtp_session_init(w, s, st);
	s->climit = w->env.climit != NULL;
	mx_stat_inc(w->env.stats, MX_STAT_CONN_ACCEPTED);
	mx_stat_inc(w->env.stats, MX_STAT_CONN_ACTIVE);
	mx_stream_set_cb(st, &smtp_session_cb, s);
	smtp_session_start(s);
}

void
smtp_worker_release(struct smtp_session *s)
{
	struct mx_smtp_worker *w = s->w;

	/* Disconnect, timeout, error limit or drain with a transaction open.
	 * With a delivery in flight the outcome is unknown to us: the
	 * message may still be delivered; the client, not told, retries. */
	smtp_txn_abandon(s, "disconnect");
	mx_timer_cancel(mx_loop_wheel(w->env.loop), &s->timer);
	if (s->climit && w->env.climit != NULL)
		mx_connlimit_release(w->env.climit, &s->peer);
	mx_conf_put(s->conf);
	s->conf = NULL;
	s->st = NULL;
	mx_stat_inc(w->env.stats, MX_STAT_CONN_CLOSED);
	mx_stat_dec(w->env.stats, MX_STAT_CONN_ACTIVE);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		w->active = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	s->prev = NULL;
	s->next = w->free_list;
	w->free_list = s;
	w->n_active--;
}
