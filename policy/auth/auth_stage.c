/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * auth_stage.c: the engine's verifier stage (contract in mx_auth.h).
 *
 * Thread mode. Each port has two single-producer/single-consumer rings of
 * job pointers, `jobs` (worker -> verifier) and `results` (verifier ->
 * worker), with free-running 32-bit indices over a power-of-two size >=
 * depth; a port never has more than depth jobs between submit and return,
 * so no ring overflows. The wakeup protocol is engine/io's: the worker
 * writes the eventfd only when its push found the ring drained, and the
 * seq_cst fences on both sides make sure either the verifier sees the job
 * or the worker sees the empty ring (a Dekker pair). Results go back with
 * a release store and one mx_loop_wakeup() per port per pass; until that
 * wakeup returned the port counts one more in flight ("returning"), so a
 * worker never frees its loop under the verifier's feet.
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
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "mx_auth.h"
#include "mx_stream.h"

#define STAGE_BATCH 256u
#define STAGE_DEPTH_MAX (1u << 16)
/* Worker mode: the loop does not watch the DNS descriptor, so while
 * answers are awaited it passes at least this often. */
#define STAGE_WORKER_POLL_MS 2

struct stage_ring {
	_Atomic uint32_t head MX_CACHE_ALIGNED;
	_Atomic uint32_t tail MX_CACHE_ALIGNED;
	struct mx_auth_job **slot MX_CACHE_ALIGNED;
	uint32_t mask;
};

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
	struct stage_ring jobs;
	struct stage_ring results;
	struct mx_auth_stage *st;
	struct mx_loop *loop;
	mx_auth_done_fn done;
	struct mx_auth *own;          /* worker mode */
	unsigned depth;
	unsigned in_flight;           /* worker only */
	struct mx_auth_job *pool;     /* depth jobs */
	struct mx_auth_job *free_list;
	_Atomic unsigned returning;
	bool wake;                    /* verifier only */
	struct stage_pub pub;         /* worker mode */
	struct mx_auth_port *next;
};

struct mx_auth_stage {
	struct mx_auth_conf conf;
	bool threaded;
	struct mx_auth *auth;         /* thread mode */
	pthread_t thread;
	int efd;
	_Atomic bool stop;
	_Atomic(struct mx_auth_port *) ports;
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

static int
ring_init(struct stage_ring *r, uint32_t size)
{
	r->slot = calloc(size, sizeof(*r->slot));
	if (r->slot == NULL)
		return -ENOMEM;
	r->mask = size - 1;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	return 0;
}

/* Producer side; true when the consumer had drained the ring. */
static bool
ring_push(struct stage_ring *r, struct mx_auth_job *job)
{
	uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint32_t h = atomic_load_explicit(&r->head, memory_order_acquire);

	MX_ASSERT(t - h <= r->mask);
	r->slot[t & r->mask] = job;
	atomic_store_explicit(&r->tail, t + 1, memory_order_release);
	atomic_thread_fence(memory_order_seq_cst);
	h = atomic_load_explicit(&r->head, memory_order_relaxed);
	return h == t;
}

static struct mx_auth_job *
ring_pop(struct stage_ring *r)
{
	uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
	struct mx_auth_job *job;

	if (h == t)
		return NULL;
	job = r->slot[h & r->mask];
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
	return job;
}

static void
efd_signal(int efd)
{
	uint64_t one = 1;

	/* Non-blocking; EAGAIN only when the counter is full, and then the
	 * verifier is awake anyway. */
	if (write(efd, &one, sizeof(one)) < 0)
		return;
}

/* ---- the verifier thread ---- */

static unsigned
stage_gather(struct mx_auth_stage *st)
{
	struct mx_auth_port *p;
	struct mx_auth_job *job;
	unsigned n = 0;

	atomic_thread_fence(memory_order_seq_cst);
	p = atomic_load_explicit(&st->ports, memory_order_acquire);
	for (; p != NULL; p = p->next) {
		while ((job = ring_pop(&p->jobs)) != NULL) {
			mx_auth_submit(st->auth, job);
			n++;
		}
	}
	return n;
}

static void
stage_return(struct mx_auth_stage *st, unsigned n)
{
	struct mx_auth_port *p;
	unsigned i;

	for (i = 0; i < n; i++) {
		p = st->done[i]->port;
		if (!p->wake)
			atomic_store_explicit(&p->returning, 1, memory_order_relaxed);
		p->wake = true;
		(void)ring_push(&p->results, st->done[i]);
	}
	p = atomic_load_explicit(&st->ports, memory_order_acquire);
	for (; p != NULL; p = p->next) {
		if (p->wake) {
			mx_loop_wakeup(p->loop);
			atomic_store_explicit(&p->returning, 0, memory_order_release);
		}
		p->wake = false;
	}
}

static void
stage_sleep(struct mx_auth_stage *st)
{
	struct pollfd pfd[2] = {
		{ .fd = st->efd, .events = POLLIN },
		{ .fd = mx_auth_fd(st->auth), .events = POLLIN },
	};
	uint64_t d = mx_auth_next_deadline_ms(st->auth), now = mx_clock_ms(), v;
	int timeout = -1;

	if (d != 0)
		timeout = d <= now ? 0 : (int)MX_MIN(d - now, (uint64_t)1000);
	if (poll(pfd, 2, timeout) <= 0)
		return;
	if ((pfd[0].revents & POLLIN) && read(st->efd, &v, sizeof(v)) < 0)
		return; /* EAGAIN: the count was read already */
}

static void *
stage_main(void *arg)
{
	struct mx_auth_stage *st = arg;
	unsigned n;
	bool stopping;

	for (;;) {
		stopping = atomic_load_explicit(&st->stop, memory_order_acquire);
		n = stage_gather(st);
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
	sigset_t all, old;
	int rc;

	if (st == NULL)
		return -ENOMEM;
	st->conf = *conf;
	st->threaded = own_thread;
	st->efd = -1;
	atomic_init(&st->stop, false);
	atomic_init(&st->ports, NULL);
	if (!own_thread) {
		*out = st;
		return 0;
	}
	rc = mx_auth_create(conf, &st->auth, err);
	if (rc != 0) {
		free(st);
		return rc;
	}
	st->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (st->efd < 0) {
		rc = -errno;
		goto fail;
	}
	/* Every signal blocked from its first instant: the process's
	 * handlers run on the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&st->thread, NULL, stage_main, st);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		goto fail;
	pthread_setname_np(st->thread, "mx-verifier");
	*out = st;
	return 0;
fail:
	if (st->efd >= 0)
		close(st->efd);
	mx_auth_free(st->auth);
	free(st);
	return rc;
}

static void
port_free(struct mx_auth_port *p)
{
	mx_auth_free(p->own);
	free(p->jobs.slot);
	free(p->results.slot);
	free(p->pool);
	free(p);
}

void
mx_auth_stage_free(struct mx_auth_stage *st)
{
	struct mx_auth_port *p, *next;

	if (st == NULL)
		return;
	if (st->threaded) {
		atomic_store_explicit(&st->stop, true, memory_order_release);
		efd_signal(st->efd);
		pthread_join(st->thread, NULL);
		close(st->efd);
		mx_auth_free(st->auth);
	}
	p = atomic_load_explicit(&st->ports, memory_order_acquire);
	for (; p != NULL; p = next) {
		next = p->next;
		port_free(p);
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
	while ((job = ring_pop(&p->results)) != NULL)
		port_back(p, job);
}

static uint32_t
pow2_at_least(unsigned n)
{
	uint32_t v = 1;

	while (v < n)
		v <<= 1;
	return v;
}

static int
port_init(struct mx_auth_port *p, FILE *err)
{
	unsigned i;
	int rc;

	p->pool = calloc(p->depth, sizeof(*p->pool));
	if (p->pool == NULL)
		return -ENOMEM;
	for (i = 0; i < p->depth; i++)
		mx_auth_job_put(p, &p->pool[i]);
	if (!p->st->threaded)
		return mx_auth_create(&p->st->conf, &p->own, err);
	rc = ring_init(&p->jobs, pow2_at_least(p->depth));
	if (rc == 0)
		rc = ring_init(&p->results, pow2_at_least(p->depth));
	return rc;
}

int
mx_auth_port_create(struct mx_auth_stage *st, struct mx_loop *loop, unsigned depth,
		mx_auth_done_fn done, FILE *err, struct mx_auth_port **out)
{
	struct mx_auth_port *p, *head;
	int rc;

	if (depth == 0 || depth > STAGE_DEPTH_MAX || done == NULL)
		return -EINVAL;
	p = aligned_alloc(64, (sizeof(*p) + 63) & ~(size_t)63);
	if (p == NULL)
		return -ENOMEM;
	memset(p, 0, sizeof(*p));
	p->st = st;
	p->loop = loop;
	p->done = done;
	p->depth = depth;
	atomic_init(&p->returning, 0);
	rc = port_init(p, err);
	if (rc == 0)
		rc = mx_loop_add_poller(loop, port_poll, p);
	if (rc != 0) {
		port_free(p);
		return rc;
	}
	head = atomic_load_explicit(&st->ports, memory_order_relaxed);
	do {
		p->next = head;
	} while (!atomic_compare_exchange_weak_explicit(&st->ports, &head, p,
			memory_order_release, memory_order_relaxed));
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
	if (ring_push(&p->jobs, job))
		efd_signal(p->st->efd);
	return 0;
}

unsigned
mx_auth_port_in_flight(const struct mx_auth_port *p)
{
	return p->in_flight + atomic_load_explicit(&p->returning, memory_order_acquire);
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
	const struct mx_auth_port *p;

	memset(out, 0, sizeof(*out));
	if (st == NULL)
		return;
	if (st->threaded)
		stats_add(out, &st->pub);
	p = atomic_load_explicit(&((struct mx_auth_stage *)(uintptr_t)st)->ports,
			memory_order_acquire);
	for (; p != NULL; p = p->next)
		if (!st->threaded)
			stats_add(out, &p->pub);
}

/* Appends to buf at *n, snprintf style (the length needed grows past size). */
MX_PRINTF(4, 5)
static void
put(char *buf, size_t size, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(*n < size ? buf + *n : NULL, *n < size ? size - *n : 0, fmt, ap);
	va_end(ap);
	if (k > 0)
		*n += (size_t)k;
}

static void
put_family(char *buf, size_t size, size_t *n, const char *name, const char *help,
		const uint64_t *by_result)
{
	unsigned i;

	put(buf, size, n, "# HELP mxedge_auth_%s_total %s\n# TYPE mxedge_auth_%s_total counter\n",
			name, help, name);
	for (i = 0; i <= MX_AUTH_PERMERROR; i++)
		put(buf, size, n, "mxedge_auth_%s_total{result=\"%s\"} %llu\n", name,
				mx_auth_result_name((enum mx_auth_result)i),
				(unsigned long long)by_result[i]);
}

static void
put_counter(char *buf, size_t size, size_t *n, const char *name, const char *help,
		const char *label, uint64_t v)
{
	/* A family's HELP and TYPE come once, with its first sample. */
	if (help != NULL)
		put(buf, size, n, "# HELP mxedge_%s %s\n# TYPE mxedge_%s counter\n",
				name, help, name);
	if (label != NULL)
		put(buf, size, n, "mxedge_%s{%s} %llu\n", name, label, (unsigned long long)v);
	else
		put(buf, size, n, "mxedge_%s %llu\n", name, (unsigned long long)v);
}

size_t
mx_auth_stage_metrics(void *arg, char *buf, size_t size)
{
	struct mx_auth_port_stats s;
	const struct mx_dns_stats *d = &s.dns;
	size_t n = 0;

	mx_auth_stage_stats(arg, &s);
	if (size > 0)
		buf[0] = '\0';
	put_counter(buf, size, &n, "auth_jobs_total", "Sender-authentication jobs completed.",
			NULL, s.auth.jobs);
	put_counter(buf, size, &n, "auth_prefetches_total",
			"DNS prefetches (MAIL FROM, end of headers) handed to the verifier.",
			NULL, s.auth.prefetches);
	put_counter(buf, size, &n, "auth_deadline_total",
			"Jobs cut by their deadline (unfinished checks temperror).",
			NULL, s.auth.timeouts);
	put_family(buf, size, &n, "spf", "SPF results of the MAIL FROM identity.", s.auth.spf);
	put_family(buf, size, &n, "dkim", "DKIM results, one per signature (none: unsigned).",
			s.auth.dkim);
	put_family(buf, size, &n, "dmarc", "DMARC results.", s.auth.dmarc);
	put_counter(buf, size, &n, "auth_dns_queries_total", "DNS queries sent by the verifier.",
			NULL, d->queries);
	put_counter(buf, size, &n, "auth_dns_cache_hits_total",
			"Verifier DNS names found in its cache.", NULL, d->cache_hits);
	put_counter(buf, size, &n, "auth_dns_answers_total", "Verifier DNS answers, by status.",
			"status=\"ok\"", d->answers_ok);
	put_counter(buf, size, &n, "auth_dns_answers_total", NULL, "status=\"nxdomain\"",
			d->nxdomain);
	put_counter(buf, size, &n, "auth_dns_answers_total", NULL, "status=\"nodata\"",
			d->nodata);
	put_counter(buf, size, &n, "auth_dns_answers_total", NULL, "status=\"servfail\"",
			d->servfail);
	put_counter(buf, size, &n, "auth_dns_answers_total", NULL, "status=\"timeout\"",
			d->timeouts);
	put_counter(buf, size, &n, "auth_dns_evictions_total",
			"Verifier DNS cache entries evicted to stay within bounds.", NULL, d->evictions);
	return n;
}
