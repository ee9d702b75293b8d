/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * auth_stage.c: the engine's verifier stage (contract in mx_auth.h).
 *
 * Thread mode. Each port is a stage port (engine/stage, mx_stage.h): the
 * rings `jobs` (worker -> verifier) and `results` (verifier -> worker)
 * sized for depth, a port never having more than depth jobs between submit
 * and return; the eventfd wakeup of the verifier without a lost wakeup;
 * one mx_loop_wakeup() per port per pass, counted in flight
 * ("returning") until it returned, so a worker never frees its loop under
 * the verifier's feet.
 *
 * The verifier thread: gather every queued job into its struct mx_auth,
 * step it, push completed jobs back, then sleep in poll() on the eventfd
 * and the DNS descriptor until the next deadline.
 *
 * Worker mode. The port owns a struct mx_auth; submit queues into it and
 * the port's poller steps it on every pass of the worker's loop.
 *
 * Prefetch jobs come back like the others but go straight to the port's
 * pool, without done().
 */
#include <errno.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mx_auth.h"
#include "mx_metrics.h"
#include "mx_stage.h"
#include "mx_stream.h"

#define STAGE_BATCH 256u
#define STAGE_DEPTH_MAX (1u << 16)
/* Worker mode: the loop does not watch the DNS descriptor, so while
 * answers are awaited it passes at least this often. */
#define STAGE_WORKER_POLL_MS 2

/* The counters as published for other threads (metrics): relaxed atomic
 * copies of struct mx_auth_stats and struct mx_dns_stats, both made of
 * uint64_t only, refreshed by the owner after each step. */
#define PUB_AUTH (sizeof(struct mx_auth_stats) / sizeof(uint64_t))
#define PUB_DNS (sizeof(struct mx_dns_stats) / sizeof(uint64_t))
_Static_assert(sizeof(struct mx_auth_stats) % sizeof(uint64_t) == 0, "u64 only");
_Static_assert(sizeof(struct mx_dns_stats) % sizeof(uint64_t) == 0, "u64 only");

struct stage_pub {
	_Atomic uint64_t v[PUB_AUTH + PUB_DNS];
};

struct mx_auth_port {
	struct mx_stage_port sp;      /* first: the port's 64-byte alignment */
	struct mx_auth_stage *st;
	mx_auth_done_fn done;
	struct mx_auth *own;          /* worker mode */
	unsigned depth;
	unsigned in_flight;           /* worker only */
	struct mx_auth_job *pool;     /* depth jobs */
	struct mx_auth_job *free_list;
	struct stage_pub pub;         /* worker mode */
};

struct mx_auth_stage {
	struct mx_stage stage;        /* the thread (thread mode) and the ports */
	struct mx_auth_conf conf;
	bool threaded;
	struct mx_auth *auth;         /* thread mode */
	struct stage_pub pub;         /* thread mode */
	struct mx_auth_job *done[STAGE_BATCH];
};

static void
pub_store(struct stage_pub *pub, const struct mx_auth *a)
{
	uint64_t v[PUB_AUTH + PUB_DNS];
	unsigned i;

	memcpy(v, mx_auth_stats(a), sizeof(struct mx_auth_stats));
	memcpy(v + PUB_AUTH, mx_auth_dns_stats(a), sizeof(struct mx_dns_stats));
	for (i = 0; i < PUB_AUTH + PUB_DNS; i++)
		atomic_store_explicit(&pub->v[i], v[i], memory_order_relaxed);
}

/* ---- the verifier thread ---- */

/* Hands every queued job to the verifier's struct mx_auth. */
static void
stage_gather(struct mx_auth_stage *st)
{
	unsigned i, n;

	do {
		n = mx_stage_gather(&st->stage, (void **)st->done, STAGE_BATCH);
		for (i = 0; i < n; i++)
			mx_auth_submit(st->auth, st->done[i]);
	} while (n == STAGE_BATCH);
}

static void
stage_return(struct mx_auth_stage *st, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		mx_stage_return(&st->done[i]->port->sp, st->done[i], true);
	mx_stage_wake_ports(&st->stage, true);
}

static void
stage_sleep(struct mx_auth_stage *st)
{
	uint64_t d = mx_auth_next_deadline_ms(st->auth), now = mx_clock_ms();
	int timeout = -1;

	if (d != 0)
		timeout = d <= now ? 0 : (int)MX_MIN(d - now, (uint64_t)1000);
	mx_stage_wait(&st->stage, mx_auth_fd(st->auth), timeout);
}

static void *
stage_main(void *arg)
{
	struct mx_auth_stage *st = arg;
	unsigned n;
	bool stopping;

	for (;;) {
		stopping = mx_stage_stopping(&st->stage);
		stage_gather(st);
		do {
			n = mx_auth_step(st->auth, st->done, STAGE_BATCH);
			if (!stopping)
				stage_return(st, n);
		} while (n == STAGE_BATCH);
		pub_store(&st->pub, st->auth);
		if (stopping)
			break;
		stage_sleep(st);
	}
	return NULL;
}

int
mx_auth_stage_create(const struct mx_auth_conf *conf, bool own_thread,
		struct mx_auth_stage **out, FILE *err)
{
	struct mx_auth_stage *st = calloc(1, sizeof(*st));
	int rc;

	if (st == NULL)
		return -ENOMEM;
	st->conf = *conf;
	st->threaded = own_thread;
	mx_stage_init(&st->stage);
	if (!own_thread) {
		*out = st;
		return 0;
	}
	rc = mx_auth_create(conf, &st->auth, err);
	if (rc == 0)
		rc = mx_stage_start(&st->stage, "mx-verifier", stage_main, st);
	if (rc != 0) {
		mx_auth_free(st->auth);
		free(st);
		return rc;
	}
	*out = st;
	return 0;
}

static void
port_free(struct mx_auth_port *p)
{
	mx_auth_free(p->own);
	mx_stage_port_fini(&p->sp);
	free(p->pool);
	free(p);
}

void
mx_auth_stage_free(struct mx_auth_stage *st)
{
	struct mx_stage_port *sp, *next;

	if (st == NULL)
		return;
	mx_stage_stop(&st->stage);
	mx_auth_free(st->auth);
	for (sp = mx_stage_ports(&st->stage); sp != NULL; sp = next) {
		next = sp->next;
		port_free(sp->owner);
	}
	free(st);
}

/* ---- ports, worker side ---- */

static void
port_back(struct mx_auth_port *p, struct mx_auth_job *job)
{
	p->in_flight--;
	if (job->kind == MX_AUTH_JOB_PREFETCH)
		mx_auth_job_put(p, job);
	else
		p->done(job);
}

static void
port_poll(void *arg)
{
	struct mx_auth_port *p = arg;
	struct mx_auth_job *done[64];
	struct mx_auth_job *job;
	unsigned i, n;

	if (p->own != NULL) {
		if (mx_auth_n_jobs(p->own) == 0)
			return;
		do {
			n = mx_auth_step(p->own, done, MX_ARRAY_SIZE(done));
			for (i = 0; i < n; i++)
				port_back(p, done[i]);
		} while (n == MX_ARRAY_SIZE(done));
		pub_store(&p->pub, p->own);
		return;
	}
	while ((job = mx_stage_port_result(&p->sp)) != NULL)
		port_back(p, job);
}

static int
port_init(struct mx_auth_port *p, struct mx_loop *loop, FILE *err)
{
	unsigned i;
	int rc;

	p->pool = calloc(p->depth, sizeof(*p->pool));
	if (p->pool == NULL)
		return -ENOMEM;
	for (i = 0; i < p->depth; i++)
		mx_auth_job_put(p, &p->pool[i]);
	/* Worker mode: no rings, the port is listed for the stats only. */
	rc = mx_stage_port_init(&p->sp, p, loop, p->st->threaded ? p->depth : 0);
	if (rc == 0 && !p->st->threaded)
		rc = mx_auth_create(&p->st->conf, &p->own, err);
	return rc;
}

int
mx_auth_port_create(struct mx_auth_stage *st, struct mx_loop *loop, unsigned depth,
		mx_auth_done_fn done, FILE *err, struct mx_auth_port **out)
{
	struct mx_auth_port *p;
	int rc;

	if (depth == 0 || depth > STAGE_DEPTH_MAX || done == NULL)
		return -EINVAL;
	p = aligned_alloc(64, (sizeof(*p) + 63) & ~(size_t)63);
	if (p == NULL)
		return -ENOMEM;
	memset(p, 0, sizeof(*p));
	p->st = st;
	p->done = done;
	p->depth = depth;
	rc = port_init(p, loop, err);
	if (rc == 0)
		rc = mx_loop_add_poller(loop, port_poll, p);
	if (rc != 0) {
		port_free(p);
		return rc;
	}
	mx_stage_port_add(&st->stage, &p->sp);
	*out = p;
	return 0;
}

struct mx_auth_job *
mx_auth_job_get(struct mx_auth_port *p)
{
	struct mx_auth_job *job = p->free_list;

	if (job == NULL)
		return NULL;
	p->free_list = job->next;
	/* Only the inputs need to start clean: the results are written by
	 * the checks before anything reads them. */
	job->kind = MX_AUTH_JOB_SPF;
	job->client_ip = job->helo = job->mail_from = "";
	job->msg = NULL;
	job->spf_done = false;
	job->n_names = 0;
	job->from_domain[0] = '\0';
	job->user = NULL;
	job->detached = false;
	memset(&job->res, 0, offsetof(struct mx_auth_res, ar));
	job->res.ar[0] = '\0';
	job->res.ar_field[0] = '\0';
	job->res.ar_field_len = 0;
	job->next = NULL;
	return job;
}

void
mx_auth_job_put(struct mx_auth_port *p, struct mx_auth_job *job)
{
	job->next = p->free_list;
	p->free_list = job;
}

int
mx_auth_port_submit(struct mx_auth_port *p, struct mx_auth_job *job)
{
	if (p->in_flight >= p->depth)
		return -EAGAIN;
	job->port = p;
	p->in_flight++;
	if (p->own != NULL) {
		mx_auth_submit(p->own, job);
		return 0;
	}
	mx_stage_submit(&p->st->stage, &p->sp, job);
	return 0;
}

unsigned
mx_auth_port_in_flight(const struct mx_auth_port *p)
{
	return p->in_flight + mx_stage_port_returning(&p->sp);
}

int
mx_auth_port_timeout_ms(const struct mx_auth_port *p, int dflt)
{
	if (p == NULL || p->own == NULL || mx_auth_n_jobs(p->own) == 0)
		return dflt;
	return MX_MIN(dflt, STAGE_WORKER_POLL_MS);
}

static void
stats_add(struct mx_auth_port_stats *o, const struct stage_pub *pub)
{
	uint64_t v[PUB_AUTH + PUB_DNS], sum[PUB_AUTH + PUB_DNS];
	unsigned i;

	memcpy(sum, &o->auth, sizeof(o->auth));
	memcpy(sum + PUB_AUTH, &o->dns, sizeof(o->dns));
	for (i = 0; i < PUB_AUTH + PUB_DNS; i++) {
		v[i] = atomic_load_explicit(&pub->v[i], memory_order_relaxed);
		sum[i] += v[i];
	}
	memcpy(&o->auth, sum, sizeof(o->auth));
	memcpy(&o->dns, sum + PUB_AUTH, sizeof(o->dns));
}

void
mx_auth_stage_stats(const struct mx_auth_stage *st, struct mx_auth_port_stats *out)
{
	const struct mx_stage_port *sp;

	memset(out, 0, sizeof(*out));
	if (st == NULL)
		return;
	if (st->threaded)
		stats_add(out, &st->pub);
	for (sp = mx_stage_ports(&st->stage); sp != NULL; sp = sp->next)
		if (!st->threaded)
			stats_add(out, &((const struct mx_auth_port *)sp->owner)->pub);
}

static void
put_family(struct mx_metrics_buf *o, const char *name, const char *help,
		const uint64_t *by_result)
{
	char full[64], label[48];
	unsigned i;

	snprintf(full, sizeof(full), "mxedge_auth_%s_total", name);
	mx_metrics_put_family(o, full, help, "counter");
	for (i = 0; i <= MX_AUTH_PERMERROR; i++) {
		snprintf(label, sizeof(label), "result=\"%s\"",
				mx_auth_result_name((enum mx_auth_result)i));
		mx_metrics_put_sample(o, full, label, by_result[i]);
	}
}

/* A family's HELP and TYPE come once, with its first sample (help NULL
 * for the family's further samples). */
static void
put_counter(struct mx_metrics_buf *o, const char *name, const char *help,
		const char *label, uint64_t v)
{
	char full[64];

	snprintf(full, sizeof(full), "mxedge_%s", name);
	if (help != NULL)
		mx_metrics_put_family(o, full, help, "counter");
	mx_metrics_put_sample(o, full, label, v);
}

size_t
mx_auth_stage_metrics(void *arg, char *buf, size_t size)
{
	struct mx_auth_port_stats s;
	const struct mx_dns_stats *d = &s.dns;
	struct mx_metrics_buf o = { .buf = buf, .size = size, .len = 0 };

	mx_auth_stage_stats(arg, &s);
	if (size > 0)
		buf[0] = '\0';
	put_counter(&o, "auth_jobs_total", "Sender-authentication jobs completed.",
			NULL, s.auth.jobs);
	put_counter(&o, "auth_prefetches_total",
			"DNS prefetches (MAIL FROM, end of headers) handed to the verifier.",
			NULL, s.auth.prefetches);
	put_counter(&o, "auth_deadline_total",
			"Jobs cut by their deadline (unfinished checks temperror).",
			NULL, s.auth.timeouts);
	put_family(&o, "spf", "SPF results of the MAIL FROM identity.", s.auth.spf);
	put_family(&o, "dkim", "DKIM results, one per signature (none: unsigned).",
			s.auth.dkim);
	put_family(&o, "dmarc", "DMARC results.", s.auth.dmarc);
	put_counter(&o, "auth_dns_queries_total", "DNS queries sent by the verifier.",
			NULL, d->queries);
	put_counter(&o, "auth_dns_cache_hits_total",
			"Verifier DNS names found in its cache.", NULL, d->cache_hits);
	put_counter(&o, "auth_dns_answers_total", "Verifier DNS answers, by status.",
			"status=\"ok\"", d->answers_ok);
	put_counter(&o, "auth_dns_answers_total", NULL, "status=\"nxdomain\"",
			d->nxdomain);
	put_counter(&o, "auth_dns_answers_total", NULL, "status=\"nodata\"",
			d->nodata);
	put_counter(&o, "auth_dns_answers_total", NULL, "status=\"servfail\"",
			d->servfail);
	put_counter(&o, "auth_dns_answers_total", NULL, "status=\"timeout\"",
			d->timeouts);
	put_counter(&o, "auth_dns_repaired_total",
			"Verifier DNS answers libunbound refused whole, read from its answer packet.",
			NULL, d->repaired);
	put_counter(&o, "auth_dns_evictions_total",
			"Verifier DNS cache entries evicted to stay within bounds.", NULL, d->evictions);
	return o.len;
}
