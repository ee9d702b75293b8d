/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * io_test: the I/O thread with real worker loops (the kernel transport's
 * mx_loop, run in worker threads). Checks: run() on the I/O thread and
 * done() on the submitting worker's thread; per-port submit order kept;
 * batch_end once per distinct ops table per batch, after every run() of
 * the batch and before any done(), with that table's jobs in order, and
 * able to change their rc; -EAGAIN at depth; mx_io_free runs what is
 * still queued. A "gate" job that blocks in run() until the test opens it
 * makes batch contents deterministic (the jobs queued behind it form the
 * next batch), so nothing here depends on timing. Every wait is bounded.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "mx_base.h"
#include "mx_io.h"
#include "mx_stream.h"

#define DEADLINE_MS 30000u

struct tjob {
	struct mx_io_job io;
	unsigned seq;
	unsigned worker;
	bool ran;
	bool done;
	unsigned run_event;   /* event counter value at run() */
	unsigned done_event;  /* event counter value when done() ran */
};

/* Shared by the I/O thread (run, batch_end) and the workers (done). */
static _Atomic unsigned events;
static sem_t gate;
static pthread_t io_thread_seen;

struct worker {
	struct mx_io *io;
	struct mx_loop *loop;
	struct mx_io_port *port;
	pthread_t self;
	unsigned id;
	unsigned n_jobs;
	unsigned depth;
	struct tjob *jobs;
	unsigned next_done;
	unsigned n_done;
	bool wrong_thread;
	bool out_of_order;
	bool idle;
	int rc_mismatch;
};

static struct mx_loop *
loop_new(unsigned id)
{
	struct mx_loop_conf conf = {
		.transport = MX_TRANSPORT_KERNEL,
		.worker_id = id,
		.max_streams = 4,
		.rcvbuf_bytes = 4096,
		.sndbuf_bytes = 4096,
	};
	struct mx_loop *loop;

	assert_int_equal(mx_loop_create(&conf, &loop), 0);
	return loop;
}

static int
expected_rc(unsigned seq)
{
	return seq % 3 == 0 ? -EIO : 0;
}

static void
plain_run(struct mx_io_job *job)
{
	struct tjob *t = (struct tjob *)job;

	io_thread_seen = pthread_self();
	t->ran = true;
	t->run_event = atomic_fetch_add(&events, 1);
	job->rc = expected_rc(t->seq);
}

static void
gate_run(struct mx_io_job *job)
{
	struct timespec ts;

	plain_run(job);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += DEADLINE_MS / 1000;
	/* Bounded: a lost post fails the test instead of hanging it. */
	(void)sem_timedwait(&gate, &ts);
}

static struct worker *current_worker(struct tjob *t);

static void
plain_done(struct mx_io_job *job)
{
	struct tjob *t = (struct tjob *)job;
	struct worker *w = current_worker(t);

	t->done = true;
	t->done_event = atomic_fetch_add(&events, 1);
	if (!pthread_equal(pthread_self(), w->self))
		w->wrong_thread = true;
	if (t->seq != w->next_done)
		w->out_of_order = true;
	if (job->rc != expected_rc(t->seq) && job->rc != -ECANCELED)
		w->rc_mismatch++;
	w->next_done = t->seq + 1;
	w->n_done++;
}

/* batch_end bookkeeping, I/O thread only. */
struct be_log {
	unsigned calls;
	unsigned jobs;
	unsigned max_group;
	unsigned event;          /* event counter at the last call */
	bool mixed_ops;
	bool before_run;
	unsigned seqs[64];
	unsigned n_seqs;
};

static struct be_log be_a, be_c;
static const struct mx_io_job_ops ops_a, ops_b, ops_c, ops_gate;

static void
be_record(struct be_log *log, const struct mx_io_job_ops *ops,
		struct mx_io_job **jobs, unsigned n)
{
	unsigned i;

	log->calls++;
	log->jobs += n;
	log->max_group = MX_MAX(log->max_group, n);
	log->event = atomic_fetch_add(&events, 1);
	for (i = 0; i < n; i++) {
		struct tjob *t = (struct tjob *)jobs[i];

		if (jobs[i]->ops != ops)
			log->mixed_ops = true;
		if (!t->ran)
			log->before_run = true;
		if (log->n_seqs < MX_ARRAY_SIZE(log->seqs))
			log->seqs[log->n_seqs++] = t->seq;
	}
}

static void
be_a_fn(struct mx_io_job **jobs, unsigned n)
{
	unsigned i;

	be_record(&be_a, &ops_a, jobs, n);
	/* A failed group commit may fail jobs after their run(). */
	for (i = 0; i < n; i++)
		if (((struct tjob *)jobs[i])->seq == 3)
			jobs[i]->rc = -ECANCELED;
}

static void
be_c_fn(struct mx_io_job **jobs, unsigned n)
{
	be_record(&be_c, &ops_c, jobs, n);
}

static const struct mx_io_job_ops ops_a = { plain_run, be_a_fn, plain_done };
static const struct mx_io_job_ops ops_b = { plain_run, NULL, plain_done };
static const struct mx_io_job_ops ops_c = { plain_run, be_c_fn, plain_done };
static const struct mx_io_job_ops ops_gate = { gate_run, NULL, plain_done };

static struct worker workers[2];

static struct worker *
current_worker(struct tjob *t)
{
	return &workers[t->worker];
}

static void
reset_globals(void)
{
	atomic_store(&events, 0);
	memset(&be_a, 0, sizeof(be_a));
	memset(&be_c, 0, sizeof(be_c));
	memset(workers, 0, sizeof(workers));
	assert_int_equal(sem_init(&gate, 0, 0), 0);
}

static void
jobs_init(struct worker *w, unsigned n, const struct mx_io_job_ops *ops)
{
	unsigned i;

	w->jobs = calloc(n, sizeof(*w->jobs));
	assert_non_null(w->jobs);
	w->n_jobs = n;
	for (i = 0; i < n; i++) {
		w->jobs[i].io.ops = ops;
		w->jobs[i].seq = i;
		w->jobs[i].worker = w->id;
	}
}

/* Runs the loop until n_done reaches want and the port is idle, bounded
 * by DEADLINE_MS. */
static bool
pump_until(struct worker *w, unsigned want)
{
	uint64_t end = mx_clock_ms() + DEADLINE_MS;

	while ((w->n_done < want || mx_io_in_flight(w->port) != 0) && mx_clock_ms() < end)
		mx_loop_run_once(w->loop, 100);
	return w->n_done >= want && mx_io_in_flight(w->port) == 0;
}

/* Worker thread: submits n_jobs keeping up to depth in flight. */
static void *
flood_worker(void *arg)
{
	struct worker *w = arg;
	uint64_t end;
	unsigned next = 0;

	w->self = pthread_self();
	w->loop = loop_new(w->id);
	if (mx_io_port_create(w->io, w->loop, w->depth, &w->port) != 0)
		return NULL;
	end = mx_clock_ms() + DEADLINE_MS;
	while (w->n_done < w->n_jobs && mx_clock_ms() < end) {
		while (next < w->n_jobs && mx_io_submit(w->port, &w->jobs[next].io) == 0)
			next++;
		mx_loop_run_once(w->loop, 100);
	}
	(void)pump_until(w, w->n_jobs);
	w->idle = mx_io_in_flight(w->port) == 0;
	return NULL;
}

static void
test_two_workers(void **state)
{
	const unsigned n = 20000;
	struct mx_io *io;
	pthread_t t[2];
	unsigned i, j;

	(void)state;
	reset_globals();
	assert_int_equal(mx_io_create(&io), 0);
	for (i = 0; i < 2; i++) {
		workers[i].io = io;
		workers[i].id = i;
		workers[i].depth = 64;
		jobs_init(&workers[i], n, i == 0 ? &ops_a : &ops_c);
	}
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, flood_worker, &workers[i]), 0);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < 2; i++) {
		struct worker *w = &workers[i];

		assert_non_null(w->port);
		assert_int_equal(w->n_done, n);
		assert_false(w->wrong_thread);
		assert_false(w->out_of_order);
		/* Worker 0's job 3 was failed by batch_end. */
		assert_int_equal(w->rc_mismatch, 0);
		assert_true(w->idle);
		for (j = 0; j < n; j++) {
			assert_true(w->jobs[j].ran);
			assert_true(w->jobs[j].done);
		}
	}
	assert_int_equal(workers[0].jobs[3].io.rc, -ECANCELED);
	assert_int_equal(workers[1].jobs[3].io.rc, -EIO);
	/* Every job went through its batch_end exactly once, never mixed
	 * with the other ops table, always after its run(). */
	assert_int_equal(be_a.jobs, n);
	assert_int_equal(be_c.jobs, n);
	assert_false(be_a.mixed_ops);
	assert_false(be_c.mixed_ops);
	assert_false(be_a.before_run);
	assert_false(be_c.before_run);
	assert_false(pthread_equal(io_thread_seen, workers[0].self));
	assert_false(pthread_equal(io_thread_seen, workers[1].self));
	mx_io_free(io);
	for (i = 0; i < 2; i++) {
		mx_loop_free(workers[i].loop);
		free(workers[i].jobs);
	}
	sem_destroy(&gate);
}

/* Job 0 (gate) blocks the I/O thread; jobs 1..6 queue up behind it and
 * must come back as one batch: batch_end(A) once with 1,3,6 and
 * batch_end(C) once with 4, after all six run() and before any done(). */
static void
test_batch_grouping(void **state)
{
	static const struct mx_io_job_ops *const ops[] = {
		&ops_gate, &ops_a, &ops_b, &ops_a, &ops_c, &ops_b, &ops_a,
	};
	struct worker *w = &workers[0];
	struct mx_io *io;
	unsigned i, last_run = 0, first_done = UINT32_MAX;

	(void)state;
	reset_globals();
	w->self = pthread_self();
	w->loop = loop_new(0);
	assert_int_equal(mx_io_create(&io), 0);
	assert_int_equal(mx_io_port_create(io, w->loop, 16, &w->port), 0);
	jobs_init(w, MX_ARRAY_SIZE(ops), &ops_b);
	for (i = 0; i < MX_ARRAY_SIZE(ops); i++) {
		w->jobs[i].io.ops = ops[i];
		assert_int_equal(mx_io_submit(w->port, &w->jobs[i].io), 0);
	}
	assert_int_equal(mx_io_in_flight(w->port), MX_ARRAY_SIZE(ops));
	sem_post(&gate);
	assert_true(pump_until(w, MX_ARRAY_SIZE(ops)));
	assert_false(w->out_of_order);
	assert_false(w->wrong_thread);
	assert_int_equal(w->rc_mismatch, 0);
	assert_int_equal(be_a.calls, 1);
	assert_int_equal(be_a.n_seqs, 3);
	assert_int_equal(be_a.seqs[0], 1);
	assert_int_equal(be_a.seqs[1], 3);
	assert_int_equal(be_a.seqs[2], 6);
	assert_int_equal(be_c.calls, 1);
	assert_int_equal(be_c.n_seqs, 1);
	assert_int_equal(be_c.seqs[0], 4);
	assert_int_equal(w->jobs[3].io.rc, -ECANCELED);
	for (i = 1; i < MX_ARRAY_SIZE(ops); i++) {
		last_run = MX_MAX(last_run, w->jobs[i].run_event);
		first_done = MX_MIN(first_done, w->jobs[i].done_event);
	}
	assert_true(be_a.event > last_run);
	assert_true(be_c.event > last_run);
	assert_true(be_a.event < first_done);
	assert_true(be_c.event < first_done);
	assert_int_equal(mx_io_in_flight(w->port), 0);
	mx_io_free(io);
	mx_loop_free(w->loop);
	free(w->jobs);
	sem_destroy(&gate);
}

static void
test_depth(void **state)
{
	struct worker *w = &workers[0];
	struct tjob extra = { .io.ops = &ops_b, .seq = 4 };
	struct mx_io *io;
	unsigned i;

	(void)state;
	reset_globals();
	w->self = pthread_self();
	w->loop = loop_new(0);
	assert_int_equal(mx_io_create(&io), 0);
	assert_int_equal(mx_io_port_create(io, w->loop, 0, &w->port), -EINVAL);
	assert_int_equal(mx_io_port_create(io, w->loop, 4, &w->port), 0);
	jobs_init(w, 4, &ops_b);
	w->jobs[0].io.ops = &ops_gate;
	for (i = 0; i < 4; i++)
		assert_int_equal(mx_io_submit(w->port, &w->jobs[i].io), 0);
	assert_int_equal(mx_io_submit(w->port, &extra.io), -EAGAIN);
	assert_null(extra.io.port);
	assert_int_equal(mx_io_in_flight(w->port), 4);
	sem_post(&gate);
	assert_true(pump_until(w, 4));
	assert_int_equal(mx_io_in_flight(w->port), 0);
	assert_int_equal(mx_io_submit(w->port, &extra.io), 0);
	assert_true(pump_until(w, 5));
	assert_true(extra.done);
	assert_false(w->out_of_order);
	mx_io_free(io);
	mx_loop_free(w->loop);
	free(w->jobs);
	sem_destroy(&gate);
}

/* Local completion: done() runs from the port's poller on the worker,
 * after the call returned, in the order queued, and counts as in flight
 * until then; it mixes with real results. */
static void
test_complete_later(void **state)
{
	struct worker *w = &workers[0];
	struct mx_io *io;

	(void)state;
	reset_globals();
	w->self = pthread_self();
	w->loop = loop_new(0);
	assert_int_equal(mx_io_create(&io), 0);
	assert_int_equal(mx_io_port_create(io, w->loop, 1, &w->port), 0);
	jobs_init(w, 4, &ops_b);
	w->jobs[0].io.ops = &ops_gate;
	assert_int_equal(mx_io_submit(w->port, &w->jobs[0].io), 0);
	assert_int_equal(mx_io_submit(w->port, &w->jobs[1].io), -EAGAIN);
	mx_io_complete_later(w->port, &w->jobs[1].io, -EAGAIN);
	mx_io_complete_later(w->port, &w->jobs[2].io, -EAGAIN);
	assert_false(w->jobs[1].done);
	assert_int_equal(mx_io_in_flight(w->port), 3);
	/* The local ones come back while job 0 is still stuck in run(). */
	w->next_done = 1;
	mx_loop_run_once(w->loop, 1000);
	assert_true(w->jobs[1].done);
	assert_true(w->jobs[2].done);
	assert_int_equal(w->jobs[1].io.rc, -EAGAIN);
	assert_false(w->jobs[0].done);
	assert_int_equal(mx_io_in_flight(w->port), 1);
	sem_post(&gate);
	w->next_done = 0;
	assert_true(pump_until(w, 3));
	assert_true(w->jobs[0].done);
	assert_false(w->wrong_thread);
	mx_io_free(io);
	mx_loop_free(w->loop);
	free(w->jobs);
	sem_destroy(&gate);
}

/* mx_io_free runs what is still queued (done never runs: the worker is
 * not pumping its loop any more). */
static void
test_free_drains(void **state)
{
	struct worker *w = &workers[0];
	struct mx_io *io;
	unsigned i;

	(void)state;
	reset_globals();
	w->self = pthread_self();
	w->loop = loop_new(0);
	assert_int_equal(mx_io_create(&io), 0);
	assert_int_equal(mx_io_port_create(io, w->loop, 32, &w->port), 0);
	jobs_init(w, 20, &ops_a);
	w->jobs[0].io.ops = &ops_gate;
	for (i = 0; i < 20; i++)
		assert_int_equal(mx_io_submit(w->port, &w->jobs[i].io), 0);
	sem_post(&gate);
	mx_io_free(io);
	for (i = 0; i < 20; i++) {
		assert_true(w->jobs[i].ran);
		assert_false(w->jobs[i].done);
	}
	assert_int_equal(be_a.jobs, 19);
	mx_loop_free(w->loop);
	free(w->jobs);
	sem_destroy(&gate);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_workers),
		cmocka_unit_test(test_batch_grouping),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_complete_later),
		cmocka_unit_test(test_free_drains),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
