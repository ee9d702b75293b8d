/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stage_test.c: the stage harness (mx_stage.h). A real stage thread
 * echoes jobs back to a real worker loop (kernel transport) through
 * windows of depth jobs, checking order, content and the idle mark; the
 * gather limit, the returning mark and the stop flag are checked with the
 * test itself playing the stage thread.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mx_stage.h"
#include "mx_stream.h"

#define ECHO_JOBS 2000u
#define ECHO_DEPTH 7u

struct echo_job {
	unsigned seq;
	unsigned seen;
	struct mx_stage_port *sp;
};

struct echo {
	struct mx_stage stage;
	void *batch[4];
};

struct port {
	struct mx_stage_port sp;
} MX_CACHE_ALIGNED;

static struct mx_loop *
loop_new(void)
{
	struct mx_loop_conf conf = {
		.transport = MX_TRANSPORT_KERNEL,
		.max_streams = 4,
		.rcvbuf_bytes = 4096,
		.sndbuf_bytes = 4096,
	};
	struct mx_loop *loop;

	assert_int_equal(mx_loop_create(&conf, &loop), 0);
	return loop;
}

static void *
echo_main(void *arg)
{
	struct echo *e = arg;
	struct echo_job *job;
	unsigned i, n;
	bool stopping;

	for (;;) {
		stopping = mx_stage_stopping(&e->stage);
		n = mx_stage_gather(&e->stage, e->batch, MX_ARRAY_SIZE(e->batch));
		for (i = 0; i < n; i++) {
			job = e->batch[i];
			job->seen++;
			mx_stage_return(job->sp, job, !stopping);
		}
		mx_stage_wake_ports(&e->stage, !stopping);
		if (n > 0)
			continue;
		if (stopping)
			break;
		mx_stage_wait(&e->stage, -1, -1);
	}
	return NULL;
}

/* Every job comes back once, in submit order, and the port ends idle. */
static void
test_echo(void **state)
{
	static struct echo e;
	static struct port p;
	struct echo_job *jobs = calloc(ECHO_JOBS, sizeof(*jobs));
	struct mx_loop *loop = loop_new();
	struct echo_job *job;
	unsigned sent = 0, back = 0, rounds = 0;

	(void)state;
	assert_non_null(jobs);
	mx_stage_init(&e.stage);
	assert_int_equal(mx_stage_port_init(&p.sp, &p, loop, ECHO_DEPTH), 0);
	assert_int_equal(p.sp.jobs.mask, 7);
	mx_stage_port_add(&e.stage, &p.sp);
	assert_ptr_equal(mx_stage_ports(&e.stage), &p.sp);
	assert_int_equal(mx_stage_start(&e.stage, "mx-stage-test", echo_main, &e), 0);
	while (back < ECHO_JOBS && rounds++ < 100000) {
		while (sent < ECHO_JOBS && sent - back < ECHO_DEPTH) {
			jobs[sent] = (struct echo_job){ .seq = sent, .sp = &p.sp };
			mx_stage_submit(&e.stage, &p.sp, &jobs[sent]);
			sent++;
		}
		/* The stage's wakeup ends this wait: no job is ever stranded. */
		mx_loop_run_once(loop, 1000);
		while ((job = mx_stage_port_result(&p.sp)) != NULL) {
			assert_int_equal(job->seq, back);
			assert_int_equal(job->seen, 1);
			back++;
		}
	}
	assert_int_equal(back, ECHO_JOBS);
	mx_stage_stop(&e.stage);
	assert_int_equal(e.stage.efd, -1);
	assert_int_equal(mx_stage_port_returning(&p.sp), 0);
	assert_null(mx_stage_port_result(&p.sp));
	mx_stage_port_fini(&p.sp);
	mx_loop_free(loop);
	free(jobs);
}

static void *
idle_main(void *arg)
{
	(void)arg;
	return NULL;
}

/* The test is the stage thread here (the started one exits at once). */
static void
test_gather_return(void **state)
{
	static struct mx_stage s;
	static struct port a, b;
	struct mx_loop *loop = loop_new();
	int x[5] = { 0, 1, 2, 3, 4 };
	void *out[8];

	(void)state;
	mx_stage_init(&s);
	assert_false(mx_stage_stopping(&s));
	assert_int_equal(mx_stage_port_init(&a.sp, &a, loop, 4), 0);
	assert_int_equal(mx_stage_port_init(&b.sp, &b, loop, 4), 0);
	mx_stage_port_add(&s, &a.sp);
	mx_stage_port_add(&s, &b.sp);
	assert_int_equal(mx_stage_start(&s, "mx-stage-idle", idle_main, NULL), 0);
	mx_stage_submit(&s, &a.sp, &x[0]);
	mx_stage_submit(&s, &a.sp, &x[1]);
	mx_stage_submit(&s, &b.sp, &x[2]);
	/* Newest port first; the limit holds across ports. */
	assert_int_equal(mx_stage_gather(&s, out, 2), 2);
	assert_ptr_equal(out[0], &x[2]);
	assert_ptr_equal(out[1], &x[0]);
	assert_int_equal(mx_stage_gather(&s, out, 8), 1);
	assert_ptr_equal(out[0], &x[1]);
	assert_int_equal(mx_stage_gather(&s, out, 8), 0);
	/* The eventfd was written (the ring was empty): no wait. */
	mx_stage_wait(&s, -1, 0);

	mx_stage_return(&a.sp, &x[0], true);
	mx_stage_return(&a.sp, &x[1], true);
	assert_int_equal(mx_stage_port_returning(&a.sp), 1);
	assert_int_equal(mx_stage_port_returning(&b.sp), 0);
	mx_stage_return(&b.sp, &x[2], false);
	assert_int_equal(mx_stage_port_returning(&b.sp), 0);
	mx_stage_wake_ports(&s, true);
	assert_int_equal(mx_stage_port_returning(&a.sp), 0);
	assert_false(a.sp.wake);
	assert_false(b.sp.wake);
	assert_ptr_equal(mx_stage_port_result(&a.sp), &x[0]);
	assert_ptr_equal(mx_stage_port_result(&a.sp), &x[1]);
	assert_null(mx_stage_port_result(&a.sp));
	assert_ptr_equal(mx_stage_port_result(&b.sp), &x[2]);

	mx_stage_stop(&s);
	assert_true(mx_stage_stopping(&s));
	mx_stage_stop(&s); /* once stopped, a no-op */
	mx_stage_port_fini(&a.sp);
	mx_stage_port_fini(&b.sp);
	mx_loop_free(loop);
}

/* A port that never crosses threads has no rings. */
static void
test_no_rings(void **state)
{
	struct port p;

	(void)state;
	assert_int_equal(mx_stage_port_init(&p.sp, &p, NULL, 0), 0);
	assert_null(p.sp.jobs.slot);
	assert_ptr_equal(p.sp.owner, &p);
	mx_stage_port_fini(&p.sp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo),
		cmocka_unit_test(test_gather_return),
		cmocka_unit_test(test_no_rings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
