/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Counters, histograms and their Prometheus rendering.
 *
 * The one table below names every enum mx_stat: metric name, HELP text,
 * type, the label that tells apart counters sharing a name (replies by
 * class, refusals by reason...) and whether a per-worker breakdown is
 * rendered. Entries that share a name must be adjacent in the enum; they
 * form one metric family.
 *
 * Rendering: each family once, summed over all stats blocks (the workers
 * and the control thread). The connection and transaction counters are
 * also rendered per block, as a separate family mxedge_worker_<name> with
 * a label worker="0".."N-1" (or "control"), so that load imbalance between
 * workers shows, and a sum() over the labelled family never counts a
 * connection twice. Histograms are in seconds with cumulative buckets
 * (Prometheus text format 0.0.4). Gauges set by the control thread follow.
 *
 * Threads: workers write their own block (mx_metrics.h); the HTTP thread
 * of libmicrohttpd and the control thread read every block with relaxed
 * atomic loads; the gauge table is shared by the control thread (writer)
 * and the HTTP thread (reader) under a mutex that no worker ever takes.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "mx_log.h"
#include "mx_metrics.h"

#include "metrics_priv.h"

enum stat_type {
	STAT_COUNTER = 0,
	STAT_GAUGE,
};

struct stat_desc {
	const char *name;       /* without the worker prefix */
	const char *help;
	enum stat_type type;
	const char *label;      /* key="value" told apart within the family, or NULL */
	bool per_worker;        /* also rendered as mxedge_worker_<name>{worker=...} */
};

#define CNT(n, h) { "mxedge_" n "_total", h, STAT_COUNTER, NULL, false }
#define CNT_L(n, h, l) { "mxedge_" n "_total", h, STAT_COUNTER, l, false }
#define CNT_W(n, h) { "mxedge_" n "_total", h, STAT_COUNTER, NULL, true }
#define CNT_LW(n, h, l) { "mxedge_" n "_total", h, STAT_COUNTER, l, true }

static const struct stat_desc stat_desc[MX_STAT__COUNT] = {
	[MX_STAT_CONN_ACCEPTED] = CNT_W("connections_accepted",
		"SMTP connections accepted (before the connection limits)."),
	[MX_STAT_CONN_REFUSED_TOTAL] = CNT_L("connections_refused",
		"SMTP connections refused with 421, by reason.", "reason=\"max_connections\""),
	[MX_STAT_CONN_REFUSED_CLIENT] = CNT_L("connections_refused",
		"SMTP connections refused with 421, by reason.",
		"reason=\"max_connections_per_client\""),
	[MX_STAT_CONN_REFUSED_MEMORY] = CNT_L("connections_refused",
		"SMTP connections refused with 421, by reason.", "reason=\"memory\""),
	[MX_STAT_CONN_CLOSED] = CNT_W("connections_closed", "SMTP connections closed."),
	[MX_STAT_CONN_ACTIVE] = { "mxedge_connections_active", "SMTP connections open now.",
		STAT_GAUGE, NULL, true },
	[MX_STAT_EARLY_TALKER] = CNT("smtp_early_talkers",
		"Clients that sent before the greeting and were refused."),
	[MX_STAT_TIMEOUT] = CNT("smtp_timeouts", "SMTP sessions closed on a timeout."),
	[MX_STAT_ERROR_LIMIT] = CNT("smtp_error_limit",
		"SMTP sessions closed after smtp.max_errors errors."),
	[MX_STAT_PIPELINING_REFUSED] = CNT("smtp_pipelining_refused",
		"Commands pipelined without PIPELINING offered (RFC 2920)."),
	[MX_STAT_UNKNOWN_COMMAND] = CNT("smtp_unknown_commands",
		"Unknown SMTP commands (500)."),
	[MX_STAT_LINE_TOO_LONG] = CNT("smtp_lines_too_long",
		"Command or text lines over their limit (RFC 5321 4.5.3.1)."),
	[MX_STAT_BARE_LF_REJECTED] = CNT_L("smtp_bare_lf",
		"Messages with a bare CR or LF, by action taken (SMTP smuggling defence).",
		"action=\"rejected\""),
	[MX_STAT_BARE_LF_NORMALIZED] = CNT_L("smtp_bare_lf",
		"Messages with a bare CR or LF, by action taken (SMTP smuggling defence).",
		"action=\"normalized\""),
	[MX_STAT_RELAY_DENIED] = CNT("smtp_relay_denied",
		"Recipients refused because their domain is not local."),
	[MX_STAT_TXN_STARTED] = CNT_W("transactions_started",
		"Mail transactions started (MAIL FROM accepted)."),
	[MX_STAT_TXN_ACCEPTED] = CNT_LW("transactions_finished",
		"Mail transactions finished at end of data, by outcome.", "result=\"accepted\""),
	[MX_STAT_TXN_TEMPFAIL] = CNT_LW("transactions_finished",
		"Mail transactions finished at end of data, by outcome.", "result=\"tempfail\""),
	[MX_STAT_TXN_REJECTED] = CNT_LW("transactions_finished",
		"Mail transactions finished at end of data, by outcome.", "result=\"rejected\""),
	[MX_STAT_REPLY_2XX] = CNT_L("smtp_replies", "SMTP replies sent, by class.",
		"class=\"2xx\""),
	[MX_STAT_REPLY_3XX] = CNT_L("smtp_replies", "SMTP replies sent, by class.",
		"class=\"3xx\""),
	[MX_STAT_REPLY_4XX] = CNT_L("smtp_replies", "SMTP replies sent, by class.",
		"class=\"4xx\""),
	[MX_STAT_REPLY_5XX] = CNT_L("smtp_replies", "SMTP replies sent, by class.",
		"class=\"5xx\""),
	[MX_STAT_BYTES_IN] = CNT("smtp_received_bytes", "Bytes received from SMTP clients."),
	[MX_STAT_BYTES_OUT] = CNT("smtp_sent_bytes", "Bytes sent to SMTP clients."),
	[MX_STAT_MSG_BYTES] = CNT("message_bytes", "Message data accepted, in bytes."),
	[MX_STAT_RELAY_OK] = CNT_L("relay_results",
		"Messages handed to the downstream MTA, by its answer.", "result=\"ok\""),
	[MX_STAT_RELAY_TEMPFAIL] = CNT_L("relay_results",
		"Messages handed to the downstream MTA, by its answer.", "result=\"tempfail\""),
	[MX_STAT_RELAY_PERMFAIL] = CNT_L("relay_results",
		"Messages handed to the downstream MTA, by its answer.", "result=\"permfail\""),
	[MX_STAT_RELAY_CONNECT_FAIL] = CNT("relay_connect_failures",
		"Connections to the downstream MTA that failed."),
	[MX_STAT_RELAY_CONNS_OPENED] = CNT("relay_connections_opened",
		"Connections to the downstream MTA opened."),
	[MX_STAT_SPOOL_OK] = CNT_L("spool_writes", "Messages written to the spool, by result.",
		"result=\"ok\""),
	[MX_STAT_SPOOL_FAIL] = CNT_L("spool_writes", "Messages written to the spool, by result.",
		"result=\"fail\""),
	[MX_STAT_VLOG_DROPPED] = CNT("verdict_log_dropped",
		"Verdict log lines lost to a full queue."),
	[MX_STAT_MEM_EXHAUSTED] = CNT("memory_exhausted",
		"Message memory ran out (452 4.3.1)."),
	[MX_STAT_CONTENT_SCANNED] = CNT("content_scanned",
		"Messages scanned by the content rules to their end."),
	[MX_STAT_CONTENT_REJECTED] = CNT("content_rejected",
		"Messages rejected by the content rules."),
	[MX_STAT_CONTENT_QUARANTINED] = CNT("content_quarantined",
		"Messages quarantined (marked for the downstream) by the content rules."),
	[MX_STAT_CONTENT_TRUNCATED] = CNT("content_truncated",
		"Content scans that stopped at the byte cap (max_bytes)."),
	[MX_STAT_CONTENT_ERRORS] = CNT("content_errors",
		"Content scans that could not be set up (message refused 452 4.3.1)."),
	[MX_STAT_RELAY_TLS_OK] = CNT_L("relay_tls", "STARTTLS to the downstream MTA, by outcome.",
		"result=\"ok\""),
	[MX_STAT_RELAY_TLS_PLAIN] = CNT_L("relay_tls", "STARTTLS to the downstream MTA, by outcome.",
		"result=\"plaintext\""),
	[MX_STAT_RELAY_TLS_NOT_OFFERED] = CNT_L("relay_tls",
		"STARTTLS to the downstream MTA, by outcome.", "result=\"not_offered\""),
	[MX_STAT_RELAY_TLS_CERT_FAIL] = CNT_L("relay_tls",
		"STARTTLS to the downstream MTA, by outcome.", "result=\"cert_refused\""),
	[MX_STAT_RELAY_TLS_HS_FAIL] = CNT_L("relay_tls",
		"STARTTLS to the downstream MTA, by outcome.", "result=\"handshake_failed\""),
	[MX_STAT_AUTH_REJECTED] = CNT("auth_rejected",
		"Transactions refused by sender authentication (SPF 5.7.23, DMARC 5.7.1)."),
	[MX_STAT_AUTH_TEMPFAILED] = CNT("auth_tempfailed",
		"Transactions answered 451 4.4.3 on a DNS temperror (auth.temperror tempfail)."),
	[MX_STAT_AUTH_QUARANTINED] = CNT("auth_quarantined",
		"Messages marked for quarantine by the DMARC policy."),
	[MX_STAT_AUTH_UNAVAILABLE] = CNT("auth_unavailable",
		"Sender checks not run for want of a free verifier job (temperror)."),
};

/* Upper bounds in microseconds; the 14th bucket (30 s) catches a slow
 * downstream well before RFC 5321 4.5.3.2.6's 10-minute data timeout. */
static const uint64_t histo_le_us[MX_HISTO_BUCKETS] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000, 30000000,
};

static const char *const histo_le_text[MX_HISTO_BUCKETS] = {
	"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
	"1", "2.5", "5", "10", "30",
};

static const struct {
	const char *name;
	const char *help;
} histo_desc[MX_HISTO__COUNT] = {
	[MX_HISTO_RELAY] = { "mxedge_relay_duration_seconds",
		"Time from submitting a message to the downstream MTA's final reply." },
	[MX_HISTO_SPOOL] = { "mxedge_spool_duration_seconds",
		"Time from submitting a message to the spool until fsync and rename." },
};

const char *
mx_metrics_stat_name(enum mx_stat k)
{
	return k < MX_STAT__COUNT ? stat_desc[k].name : NULL;
}

void
mx_histo_observe(struct mx_stats *s, enum mx_histo_id h, uint64_t us)
{
	struct mx_histo *hi = &s->histo[h];
	unsigned i;
	uint64_t v;

	for (i = 0; i < MX_HISTO_BUCKETS && us > histo_le_us[i]; i++)
		;
	/* Single writer (mx_metrics.h): load and store, no locked add. */
	v = atomic_load_explicit(&hi->bucket[i], memory_order_relaxed);
	atomic_store_explicit(&hi->bucket[i], v + 1, memory_order_relaxed);
	v = atomic_load_explicit(&hi->count, memory_order_relaxed);
	atomic_store_explicit(&hi->count, v + 1, memory_order_relaxed);
	v = atomic_load_explicit(&hi->sum_us, memory_order_relaxed);
	atomic_store_explicit(&hi->sum_us, v + us, memory_order_relaxed);
}

void
mx_stat_reply(struct mx_stats *s, int code)
{
	/* Only 2xx..5xx exist as replies (RFC 5321 4.2.1); anything else is
	 * not ours to count. */
	if (code < 200 || code > 599)
		return;
	mx_stat_inc(s, (enum mx_stat)(MX_STAT_REPLY_2XX + (code / 100 - 2)));
}

int
mx_metrics_create(unsigned n_workers, struct mx_metrics **out)
{
	struct mx_metrics *m;
	size_t size;

	if (n_workers > MX_METRICS_MAX_WORKERS)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	size = sizeof(struct mx_stats) * (n_workers + 1);
	m->stats = aligned_alloc(_Alignof(struct mx_stats), size);
	if (m->stats == NULL) {
		free(m);
		return -ENOMEM;
	}
	memset(m->stats, 0, size);
	m->n_workers = n_workers;
	pthread_mutex_init(&m->gauge_lock, NULL);
	atomic_init(&m->http_rejected, 0);
	*out = m;
	return 0;
}

void
mx_metrics_free(struct mx_metrics *m)
{
	if (m == NULL)
		return;
	mx_metrics_stop(m);
	pthread_mutex_destroy(&m->gauge_lock);
	free(m->stats);
	free(m);
}

struct mx_stats *
mx_metrics_stats(struct mx_metrics *m, unsigned worker)
{
	MX_ASSERT(worker <= m->n_workers);
	return &m->stats[worker];
}

/* Prometheus metric names: [a-zA-Z_:][a-zA-Z0-9_:]*. */
static bool
name_ok(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) >= MX_METRICS_NAME_MAX)
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		char ch = s[i];
		bool alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			ch == '_' || ch == ':';

		if (!alpha && (i == 0 || ch < '0' || ch > '9'))
			return false;
	}
	return true;
}

void
mx_metrics_set_gauge(struct mx_metrics *m, const char *name, const char *help, double v)
{
	struct mx_metrics_gauge *g = NULL;
	unsigned i;

	if (!name_ok(name)) {
		MX_LOG(MX_LOG_WARN, "metrics", "gauge name '%s' is not a Prometheus name, ignored",
				name != NULL ? name : "(null)");
		return;
	}
	pthread_mutex_lock(&m->gauge_lock);
	for (i = 0; i < m->n_gauges; i++)
		if (strcmp(m->gauges[i].name, name) == 0)
			g = &m->gauges[i];
	if (g == NULL && m->n_gauges < MX_METRICS_MAX_GAUGES) {
		g = &m->gauges[m->n_gauges++];
		snprintf(g->name, sizeof(g->name), "%s", name);
	}
	if (g != NULL) {
		snprintf(g->help, sizeof(g->help), "%s", help != NULL ? help : "");
		g->v = v;
	}
	pthread_mutex_unlock(&m->gauge_lock);
	if (g == NULL)
		MX_LOG(MX_LOG_WARN, "metrics", "gauge table full (%d), '%s' ignored",
				MX_METRICS_MAX_GAUGES, name);
}

/* ---- rendering ---- */

/* HELP text escaping of the text format: backslash and newline. */
static void
put_help(struct mx_metrics_buf *o, const char *name, const char *help)
{
	mx_metrics_put(o, "# HELP %s ", name);
	for (; *help != '\0'; help++) {
		if (*help == '\\')
			mx_metrics_put(o, "\\\\");
		else if (*help == '\n')
			mx_metrics_put(o, "\\n");
		else
			mx_metrics_put(o, "%c", *help);
	}
	mx_metrics_put(o, "\n");
}

void
mx_metrics_put(struct mx_metrics_buf *o, const char *fmt, ...)
{
	char *dst = o->len < o->size ? o->buf + o->len : NULL;
	size_t room = o->len < o->size ? o->size - o->len : 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(dst, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

void
mx_metrics_put_family(struct mx_metrics_buf *o, const char *name, const char *help,
		const char *type)
{
	put_help(o, name, help);
	mx_metrics_put(o, "# TYPE %s %s\n", name, type);
}

void
mx_metrics_put_sample(struct mx_metrics_buf *o, const char *name, const char *labels,
		uint64_t v)
{
	if (labels != NULL)
		mx_metrics_put(o, "%s{%s} %" PRIu64 "\n", name, labels, v);
	else
		mx_metrics_put(o, "%s %" PRIu64 "\n", name, v);
}

static uint64_t
load(const _Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

static uint64_t
stat_sum(const struct mx_metrics *m, enum mx_stat k)
{
	uint64_t v = 0;
	unsigned w;

	/* The active gauge is an inc/dec pair per block: each block stays
	 * >= 0, and unsigned wrap-around makes the sum right regardless. */
	for (w = 0; w <= m->n_workers; w++)
		v += load(&m->stats[w].v[k]);
	return v;
}

static bool
family_start(enum mx_stat k)
{
	return k == 0 || strcmp(stat_desc[k].name, stat_desc[k - 1].name) != 0;
}

static void
render_sums(const struct mx_metrics *m, struct mx_metrics_buf *o)
{
	unsigned k;

	for (k = 0; k < MX_STAT__COUNT; k++) {
		const struct stat_desc *d = &stat_desc[k];

		if (family_start((enum mx_stat)k))
			mx_metrics_put_family(o, d->name, d->help,
					d->type == STAT_GAUGE ? "gauge" : "counter");
		mx_metrics_put_sample(o, d->name, d->label, stat_sum(m, (enum mx_stat)k));
	}
}

static void
put_worker_label(struct mx_metrics_buf *o, const struct mx_metrics *m, unsigned w)
{
	if (w == m->n_workers)
		mx_metrics_put(o, "worker=\"control\"");
	else
		mx_metrics_put(o, "worker=\"%u\"", w);
}

static void
render_workers(const struct mx_metrics *m, struct mx_metrics_buf *o)
{
	const char *base;
	unsigned k, w;

	for (k = 0; k < MX_STAT__COUNT; k++) {
		const struct stat_desc *d = &stat_desc[k];

		if (!d->per_worker)
			continue;
		base = d->name + strlen("mxedge_");
		if (family_start((enum mx_stat)k)) {
			mx_metrics_put(o, "# HELP mxedge_worker_%s %s (per worker)\n", base, d->help);
			mx_metrics_put(o, "# TYPE mxedge_worker_%s %s\n", base,
					d->type == STAT_GAUGE ? "gauge" : "counter");
		}
		for (w = 0; w <= m->n_workers; w++) {
			mx_metrics_put(o, "mxedge_worker_%s{", base);
			put_worker_label(o, m, w);
			if (d->label != NULL)
				mx_metrics_put(o, ",%s", d->label);
			mx_metrics_put(o, "} %" PRIu64 "\n", load(&m->stats[w].v[k]));
		}
	}
}

static void
render_histo(const struct mx_metrics *m, struct mx_metrics_buf *o, enum mx_histo_id h)
{
	const char *name = histo_desc[h].name;
	uint64_t cum = 0, sum_us = 0;
	unsigned i, w;

	mx_metrics_put_family(o, name, histo_desc[h].help, "histogram");
	for (i = 0; i <= MX_HISTO_BUCKETS; i++) {
		for (w = 0; w <= m->n_workers; w++)
			cum += load(&m->stats[w].histo[h].bucket[i]);
		mx_metrics_put(o, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name,
				i < MX_HISTO_BUCKETS ? histo_le_text[i] : "+Inf", cum);
	}
	for (w = 0; w <= m->n_workers; w++)
		sum_us += load(&m->stats[w].histo[h].sum_us);
	mx_metrics_put(o, "%s_sum %" PRIu64 ".%06" PRIu64 "\n", name, sum_us / 1000000, sum_us % 1000000);
	/* _count from the buckets just read, not from the count field: a
	 * scrape racing a worker must still show _count == the +Inf bucket,
	 * as the format requires. */
	mx_metrics_put(o, "%s_count %" PRIu64 "\n", name, cum);
}

static void
put_double(struct mx_metrics_buf *o, double v)
{
	if (isnan(v))
		mx_metrics_put(o, "NaN");
	else if (isinf(v))
		mx_metrics_put(o, v > 0 ? "+Inf" : "-Inf");
	else
		mx_metrics_put(o, "%.17g", v);
}

static void
render_gauges(struct mx_metrics *m, struct mx_metrics_buf *o)
{
	unsigned i;

	pthread_mutex_lock(&m->gauge_lock);
	for (i = 0; i < m->n_gauges; i++) {
		const struct mx_metrics_gauge *g = &m->gauges[i];

		mx_metrics_put_family(o, g->name, g->help, "gauge");
		mx_metrics_put(o, "%s ", g->name);
		put_double(o, g->v);
		mx_metrics_put(o, "\n");
	}
	pthread_mutex_unlock(&m->gauge_lock);
}

int
mx_metrics_add_exporter(struct mx_metrics *m, mx_metrics_export_fn *fn, void *arg)
{
	if (m->n_exporters == MX_METRICS_MAX_EXPORTERS)
		return -ENOSPC;
	m->export_fn[m->n_exporters] = fn;
	m->export_arg[m->n_exporters] = arg;
	m->n_exporters++;
	return 0;
}

static void
render_exporters(const struct mx_metrics *m, struct mx_metrics_buf *o)
{
	unsigned i;

	for (i = 0; i < m->n_exporters; i++) {
		char *dst = o->len < o->size ? o->buf + o->len : NULL;
		size_t room = o->len < o->size ? o->size - o->len : 0;

		o->len += m->export_fn[i](m->export_arg[i], dst, room);
	}
}

size_t
mx_metrics_render(struct mx_metrics *m, char *buf, size_t size)
{
	struct mx_metrics_buf o = { buf, size, 0 };
	unsigned h;

	if (size > 0)
		buf[0] = '\0';
	mx_metrics_put(&o, "# HELP mxedge_build_info The running mxedge version.\n"
			"# TYPE mxedge_build_info gauge\n"
			"mxedge_build_info{version=\"%s\"} 1\n", MX_VERSION);
	render_sums(m, &o);
	render_workers(m, &o);
	for (h = 0; h < MX_HISTO__COUNT; h++)
		render_histo(m, &o, (enum mx_histo_id)h);
	mx_metrics_put(&o, "# HELP mxedge_metrics_http_rejected_total Requests to the metrics "
			"endpoint answered 404 or 405.\n"
			"# TYPE mxedge_metrics_http_rejected_total counter\n"
			"mxedge_metrics_http_rejected_total %" PRIu64 "\n",
			atomic_load_explicit(&m->http_rejected, memory_order_relaxed));
	render_gauges(m, &o);
	render_exporters(m, &o);
	return o.len;
}
