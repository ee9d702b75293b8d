/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_metrics: counters and the Prometheus endpoint.
 *
 * Each worker owns one struct mx_stats (cache-aligned, never shared for
 * writing): it is the only writer, so an increment is a relaxed load and a
 * relaxed store, no locked instruction on the hot path. The control thread
 * sums the workers' blocks when it renders the Prometheus text format
 * (served by libmicrohttpd on the management address). Every drop, reject
 * or exhaustion in mxedge increments a counter here first (STYLE 2.9).
 *
 * The struct is exposed so the increment inlines; the names, help texts
 * and types of the counters live in one table in metrics.c.
 */
#ifndef MX_METRICS_H
#define MX_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "mx_base.h"

enum mx_stat {
	MX_STAT_CONN_ACCEPTED = 0,
	MX_STAT_CONN_REFUSED_TOTAL,     /* max_connections reached: 421 */
	MX_STAT_CONN_REFUSED_CLIENT,    /* max_connections_per_client reached: 421 */
	MX_STAT_CONN_REFUSED_MEMORY,    /* session pool or memory exhausted: 421 */
	MX_STAT_CONN_CLOSED,
	MX_STAT_CONN_ACTIVE,            /* gauge */
	MX_STAT_EARLY_TALKER,
	MX_STAT_TIMEOUT,
	MX_STAT_ERROR_LIMIT,            /* closed after max_errors */
	MX_STAT_PIPELINING_REFUSED,     /* pipelined without PIPELINING offered */
	MX_STAT_UNKNOWN_COMMAND,
	MX_STAT_LINE_TOO_LONG,
	MX_STAT_BARE_LF_REJECTED,       /* smuggling defence */
	MX_STAT_BARE_LF_NORMALIZED,
	MX_STAT_RELAY_DENIED,           /* RCPT outside local domains */
	MX_STAT_TXN_STARTED,            /* MAIL FROM accepted */
	MX_STAT_TXN_ACCEPTED,           /* 250 after end of data */
	MX_STAT_TXN_TEMPFAIL,           /* 4xx after end of data */
	MX_STAT_TXN_REJECTED,           /* 5xx after end of data */
	MX_STAT_REPLY_2XX,
	MX_STAT_REPLY_3XX,
	MX_STAT_REPLY_4XX,
	MX_STAT_REPLY_5XX,
	MX_STAT_BYTES_IN,
	MX_STAT_BYTES_OUT,
	MX_STAT_MSG_BYTES,              /* message data accepted */
	MX_STAT_RELAY_OK,
	MX_STAT_RELAY_TEMPFAIL,
	MX_STAT_RELAY_PERMFAIL,
	MX_STAT_RELAY_CONNECT_FAIL,
	MX_STAT_RELAY_CONNS_OPENED,
	MX_STAT_SPOOL_OK,
	MX_STAT_SPOOL_FAIL,
	MX_STAT_VLOG_DROPPED,           /* verdict lines lost to a full queue */
	MX_STAT_MEM_EXHAUSTED,          /* chunk pool ran out: 452 4.3.1 */
	MX_STAT_CONTENT_SCANNED,        /* messages the content rules saw to the end */
	MX_STAT_CONTENT_REJECTED,       /* content verdict reject: 5yz */
	MX_STAT_CONTENT_QUARANTINED,    /* content verdict quarantine: marked, passed */
	MX_STAT_CONTENT_TRUNCATED,      /* scan stopped at the byte cap */
	MX_STAT_CONTENT_ERRORS,         /* scan could not be set up: 452 4.3.1 */
	MX_STAT_RELAY_TLS_OK,           /* downstream STARTTLS handshakes that passed */
	MX_STAT_RELAY_TLS_PLAIN,        /* opportunistic: not offered/refused, plaintext */
	MX_STAT_RELAY_TLS_NOT_OFFERED,  /* verify: STARTTLS missing or refused: 451 4.7.5 */
	MX_STAT_RELAY_TLS_CERT_FAIL,    /* verify: certificate refused: 451 4.7.5 */
	MX_STAT_RELAY_TLS_HS_FAIL,      /* handshake failed: 451 4.7.5 */
	MX_STAT_AUTH_REJECTED,          /* sender authentication: 550 (5.7.23, 5.7.1) */
	MX_STAT_AUTH_TEMPFAILED,        /* sender authentication: 451 4.4.3 */
	MX_STAT_AUTH_QUARANTINED,       /* DMARC quarantine: marked, passed */
	MX_STAT_AUTH_UNAVAILABLE,       /* no verifier job free: checks temperror */
	MX_STAT__COUNT
};

/* Latency histograms, microseconds. */
enum mx_histo_id {
	MX_HISTO_RELAY = 0, /* submit to downstream's final reply */
	MX_HISTO_SPOOL,     /* submit to fsync and rename done */
	MX_HISTO__COUNT
};

#define MX_HISTO_BUCKETS 14

struct mx_histo {
	_Atomic uint64_t bucket[MX_HISTO_BUCKETS + 1]; /* last is +Inf */
	_Atomic uint64_t count;
	_Atomic uint64_t sum_us;
};

struct mx_stats {
	_Atomic uint64_t v[MX_STAT__COUNT];
	struct mx_histo histo[MX_HISTO__COUNT];
} MX_CACHE_ALIGNED;

/* Single writer per block: no read-modify-write lock needed. */
static inline void
mx_stat_add(struct mx_stats *s, enum mx_stat k, uint64_t n)
{
	uint64_t v = atomic_load_explicit(&s->v[k], memory_order_relaxed);
	atomic_store_explicit(&s->v[k], v + n, memory_order_relaxed);
}

static inline void
mx_stat_inc(struct mx_stats *s, enum mx_stat k)
{
	mx_stat_add(s, k, 1);
}

static inline void
mx_stat_dec(struct mx_stats *s, enum mx_stat k)
{
	uint64_t v = atomic_load_explicit(&s->v[k], memory_order_relaxed);
	atomic_store_explicit(&s->v[k], v - 1, memory_order_relaxed);
}

/* Single writer per block, like mx_stat_add. */
void mx_histo_observe(struct mx_stats *s, enum mx_histo_id h, uint64_t us);

/* Counts a reply by its class (2xx..5xx). */
void mx_stat_reply(struct mx_stats *s, int code);

struct mx_metrics;

/* One stats block per worker plus one for the control thread. Returns 0,
 * -ENOMEM, or -EINVAL above 1024 workers. */
int mx_metrics_create(unsigned n_workers, struct mx_metrics **out);
/* Stops the server first if it runs. */
void mx_metrics_free(struct mx_metrics *m);
/* worker == n_workers is the control thread's block. */
struct mx_stats *mx_metrics_stats(struct mx_metrics *m, unsigned worker);
/* Gauges the control thread sets (reload generation, cert expiry, ...). */
void mx_metrics_set_gauge(struct mx_metrics *m, const char *name, const char *help, double v);
/* Renders the Prometheus text exposition format (version 0.0.4) into buf;
 * returns the length it needs (may be >= size: call again bigger). */
size_t mx_metrics_render(struct mx_metrics *m, char *buf, size_t size);
/* Serves GET /metrics on addr from libmicrohttpd's own thread (never a
 * worker). Returns 0 or -errno (-EADDRINUSE, ...; -EALREADY when serving
 * already). Also GET /healthz ("ok"). Port 0 lets the kernel choose. */
int mx_metrics_serve(struct mx_metrics *m, const struct mx_addr *addr);
/* The bound port while serving (the kernel's choice for port 0), else 0. */
uint16_t mx_metrics_port(const struct mx_metrics *m);

/* An exporter of another module (the DPDK dataplane) appends its own
 * families to the text: it writes at most size bytes into buf (snprintf
 * rules: buf is NULL when size is 0) and returns the length it needs. It
 * runs on the HTTP thread, so it reads only what its workers publish for
 * it (relaxed atomics in storage that outlives them), never a worker's
 * live state. */
typedef size_t mx_metrics_export_fn(void *arg, char *buf, size_t size);
#define MX_METRICS_MAX_EXPORTERS 4
/* Control thread, before mx_metrics_serve(). Returns 0 or -ENOSPC. */
int mx_metrics_add_exporter(struct mx_metrics *m, mx_metrics_export_fn *fn, void *arg);

/* Writing the text format (for the renderer and for exporters): a buffer
 * filled snprintf style, len growing to what the whole text needs even
 * past size (buf may be NULL when size is 0). Start it as
 * { buf, size, 0 } and return len. */
struct mx_metrics_buf {
	char *buf;
	size_t size;
	size_t len;
};
/* Appends printf-formatted text. */
MX_PRINTF(2, 3)
void mx_metrics_put(struct mx_metrics_buf *o, const char *fmt, ...);
/* A family's "# HELP name help" (help escaped as the format wants:
 * backslash, newline) and "# TYPE name type" lines; type is "counter",
 * "gauge" or "histogram". */
void mx_metrics_put_family(struct mx_metrics_buf *o, const char *name, const char *help,
		const char *type);
/* A sample row: "name{labels} v", or "name v" when labels is NULL. labels
 * is the text between the braces, e.g. result="pass" (already escaped). */
void mx_metrics_put_sample(struct mx_metrics_buf *o, const char *name, const char *labels,
		uint64_t v);

#endif /* MX_METRICS_H */
