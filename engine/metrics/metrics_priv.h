/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to engine/metrics: struct mx_metrics, shared by the renderer
 * (metrics.c) and the HTTP endpoint (metrics_http.c).
 */
#ifndef MX_METRICS_PRIV_H
#define MX_METRICS_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "mx_metrics.h"

#define MX_METRICS_MAX_WORKERS 1024
#define MX_METRICS_MAX_GAUGES 32
#define MX_METRICS_NAME_MAX 96

struct MHD_Daemon;

/* A gauge of the control thread (reload generation, certificate expiry). */
struct mx_metrics_gauge {
	char name[MX_METRICS_NAME_MAX];
	char help[160];
	double v;
};

struct mx_metrics {
	unsigned n_workers;
	struct mx_stats *stats;          /* n_workers + 1 blocks, the last the control thread's */
	/* Between the control thread and the HTTP thread only. */
	pthread_mutex_t gauge_lock;
	struct mx_metrics_gauge gauges[MX_METRICS_MAX_GAUGES];
	unsigned n_gauges;
	/* Set before serving, read by the HTTP thread. */
	mx_metrics_export_fn *export_fn[MX_METRICS_MAX_EXPORTERS];
	void *export_arg[MX_METRICS_MAX_EXPORTERS];
	unsigned n_exporters;
	/* Written by the HTTP thread, which owns no stats block. */
	_Atomic uint64_t http_rejected;
	struct MHD_Daemon *httpd;
	uint16_t port;                   /* bound port while serving */
};

/* Stops the HTTP server if it runs (metrics_http.c). */
void mx_metrics_stop(struct mx_metrics *m);
/* The name of a counter in the table, for tests. */
const char *mx_metrics_stat_name(enum mx_stat k);

#endif /* MX_METRICS_PRIV_H */
