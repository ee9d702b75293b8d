/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vlog_test: the verdict log through real worker loops and the real I/O
 * thread. 10,000 lines from two worker threads all land exactly once and
 * intact; after a rename and mx_vlog_reopen() new lines go to the new
 * file and old ones stayed in the renamed one; a full ring drops and
 * counts (MX_STAT_VLOG_DROPPED) and never writes a partial line; lines
 * still queued at shutdown are written by mx_vlog_free. A gate job that
 * holds the I/O thread makes the overflow deterministic. Every wait is
 * bounded.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "mx_base.h"
#include "mx_io.h"
#include "mx_metrics.h"
#include "mx_stream.h"
#include "mx_vlog.h"

#define DEADLINE_MS 30000u
#define LINES_PER_WORKER 5000u

struct wk {
	unsigned id;
	struct mx_io *io;
	struct mx_vlog *v;
	struct mx_stats *stats;
	struct mx_loop *loop;
	struct mx_io_port *port;
	struct mx_vlog_port *vp;
	unsigned written;
	bool idle;
};

static struct mx_loop *
loop_new(unsigned id)
{
	struct mx_loop_conf lc = {
		.transport = MX_TRANSPORT_KERNEL,
		.worker_id = id,
		.max_streams = 4,
		.rcvbuf_bytes = 4096,
		.sndbuf_bytes = 4096,
	};
	struct mx_loop *loop;

	assert_int_equal(mx_loop_create(&lc, &loop), 0);
	return loop;
}

static void
pump_idle(struct mx_loop *loop, struct mx_io_port *port)
{
	uint64_t end = mx_clock_ms() + DEADLINE_MS;

	while (mx_io_in_flight(port) != 0 && mx_clock_ms() < end)
		mx_loop_run_once(loop, 100);
}

/* Line n of worker w: a JSON-ish object whose padding length varies and
 * whose content can be checked. */
static int
make_line(char *buf, size_t size, unsigned w, unsigned n)
{
	unsigned pad = (n * 37u + w * 11u) % 300u;
	int len = snprintf(buf, size, "{\"w\":%u,\"n\":%u,\"pad\":\"", w, n);
	unsigned i;

	for (i = 0; i < pad; i++)
		buf[len++] = (char)('a' + (n + i) % 26);
	len += snprintf(buf + len, size - (size_t)len, "\"}");
	return len;
}

static void *
writer(void *arg)
{
	struct wk *w = arg;
	uint64_t end = mx_clock_ms() + DEADLINE_MS;
	char line[512];
	unsigned n = 0;
	int len;

	w->loop = loop_new(w->id);
	if (mx_io_port_create(w->io, w->loop, 16, &w->port) != 0 ||
			mx_vlog_port_create(w->v, w->port, w->stats, &w->vp) != 0)
		return NULL;
	while (n < LINES_PER_WORKER && mx_clock_ms() < end) {
		len = make_line(line, sizeof(line), w->id, n);
		if (mx_vlog_write(w->vp, line, (size_t)len) == 0)
			n++;
		else
			mx_loop_run_once(w->loop, 10); /* ring full: let it drain */
		if (n % 64 == 0)
			mx_loop_run_once(w->loop, 0);
	}
	w->written = n;
	pump_idle(w->loop, w->port);
	w->idle = mx_io_in_flight(w->port) == 0;
	return NULL;
}

static char *
slurp(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	FILE *f = fopen(path, "rb");

	assert_non_null(f);
	assert_int_equal(fstat(fileno(f), &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)st.st_size, f), (size_t)st.st_size);
	buf[st.st_size] = '\0';
	fclose(f);
	*len = (size_t)st.st_size;
	return buf;
}

/* Checks that every line of path is a valid line of (w, n) and marks it
 * in seen[w][n]; returns the number of lines. */
static unsigned
check_lines(const char *path, unsigned char seen[][LINES_PER_WORKER])
{
	char exp[512], *buf, *p, *nl;
	unsigned w, n, count = 0;
	size_t len;
	int elen;

	buf = slurp(path, &len);
	if (len > 0)
		assert_int_equal(buf[len - 1], '\n');
	for (p = buf; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		assert_non_null(nl);
		*nl = '\0';
		if (sscanf(p, "{\"w\":%u,\"n\":%u,", &w, &n) != 2)
			fail_msg("bad line '%s'", p);
		assert_true(w < 2 && n < LINES_PER_WORKER);
		elen = make_line(exp, sizeof(exp), w, n);
		assert_int_equal(strlen(p), (size_t)elen);
		assert_string_equal(p, exp);
		seen[w][n]++;
		count++;
	}
	free(buf);
	return count;
}

static void
tmp_path(char *buf, size_t size, const char *dir, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

static void
test_two_writers(void **state)
{
	static unsigned char seen[2][LINES_PER_WORKER];
	char dir[64], path[128];
	struct mx_metrics *metrics;
	struct mx_io *io;
	struct mx_vlog *v;
	struct wk w[2];
	pthread_t t[2];
	unsigned i, n;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/mx-vlog-test-XXXXXX");
	assert_non_null(mkdtemp(dir));
	tmp_path(path, sizeof(path), dir, "verdict.log");
	assert_int_equal(mx_metrics_create(2, &metrics), 0);
	assert_int_equal(mx_io_create(&io), 0);
	assert_int_equal(mx_vlog_open(path, io, &v), 0);
	memset(w, 0, sizeof(w));
	for (i = 0; i < 2; i++) {
		w[i].id = i;
		w[i].io = io;
		w[i].v = v;
		w[i].stats = mx_metrics_stats(metrics, i);
		assert_int_equal(pthread_create(&t[i], NULL, writer, &w[i]), 0);
	}
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < 2; i++) {
		assert_int_equal(w[i].written, LINES_PER_WORKER);
		assert_true(w[i].idle);
	}
	mx_io_free(io);
	mx_vlog_free(v);
	memset(seen, 0, sizeof(seen));
	n = check_lines(path, seen);
	assert_int_equal(n, 2 * LINES_PER_WORKER);
	for (i = 0; i < LINES_PER_WORKER; i++) {
		assert_int_equal(seen[0][i], 1);
		assert_int_equal(seen[1][i], 1);
	}
	for (i = 0; i < 2; i++)
		mx_loop_free(w[i].loop);
	mx_metrics_free(metrics);
	unlink(path);
	rmdir(dir);
}

static void
test_reopen(void **state)
{
	static unsigned char seen[2][LINES_PER_WORKER];
	char dir[64], path[128], rotated[128], line[512];
	struct mx_metrics *metrics;
	struct mx_io_port *port;
	struct mx_vlog_port *vp;
	struct mx_loop *loop;
	struct mx_io *io;
	struct mx_vlog *v;
	unsigned i;
	int len;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/mx-vlog-test-XXXXXX");
	assert_non_null(mkdtemp(dir));
	tmp_path(path, sizeof(path), dir, "verdict.log");
	tmp_path(rotated, sizeof(rotated), dir, "verdict.log.1");
	assert_int_equal(mx_metrics_create(1, &metrics), 0);
	loop = loop_new(0);
	assert_int_equal(mx_io_create(&io), 0);
	assert_int_equal(mx_io_port_create(io, loop, 16, &port), 0);
	assert_int_equal(mx_vlog_open(path, io, &v), 0);
	assert_int_equal(mx_vlog_port_create(v, port, mx_metrics_stats(metrics, 0), &vp), 0);
	for (i = 0; i < 100; i++) {
		len = make_line(line, sizeof(line), 0, i);
		assert_int_equal(mx_vlog_write(vp, line, (size_t)len), 0);
	}
	pump_idle(loop, port);
	assert_int_equal(rename(path, rotated), 0);
	assert_int_equal(mx_vlog_reopen(v), 0);
	for (i = 100; i < 200; i++) {
		len = make_line(line, sizeof(line), 0, i);
		assert_int_equal(mx_vlog_write(vp, line, (size_t)len), 0);
	}
	pump_idle(loop, port);
	/* Twice in a row, before any write: the last one wins, no fd leak
	 * visible as a second file. */
	assert_int_equal(mx_vlog_reopen(v), 0);
	assert_int_equal(mx_vlog_reopen(v), 0);
	for (i = 200; i < 210; i++) {
		len = make_line(line, sizeof(line), 0, i);
		assert_int_equal(mx_vlog_write(vp, line, (size_t)len), 0);
	}
	pump_idle(loop, port);
	mx_loop_free(loop);
	mx_io_free(io);
	mx_vlog_free(v);

	memset(seen, 0, sizeof(seen));
	assert_int_equal(check_lines(rotated, seen), 100);
	for (i = 0; i < 100; i++)
		assert_int_equal(seen[0][i], 1);
	memset(seen, 0, sizeof(seen));
	assert_int_equal(check_lines(path, seen), 110);
	for (i = 100; i < 210; i++)
		assert_int_equal(seen[0][i], 1);
	assert_int_equal(atomic_load(&mx_metrics_stats(metrics, 0)->v[MX_STAT_VLOG_DROPPED]), 0);
	mx_metrics_free(metrics);
	unlink(path);
	unlink(rotated);
	rmdir(dir);
}

/* Holds the I/O thread in run() until the test posts. */
static sem_t gate;

static void
gate_run(struct mx_io_job *job)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += DEADLINE_MS / 1000;
	(void)sem_timedwait(&gate, &ts);
	job->rc = 0;
}

static void
gate_done(struct mx_io_job *job)
{
	(void)job;
}

static const struct mx_io_job_ops gate_ops = { gate_run, NULL, gate_done };

static void
test_overflow(void **state)
{
	static unsigned char seen[2][LINES_PER_WORKER];
	static bool acc[2000];
	char dir[64], path[128], line[512], *huge;
	struct mx_io_job gate_job = { .ops = &gate_ops };
	struct mx_metrics *metrics;
	struct mx_io_port *port;
	struct mx_vlog_port *vp;
	struct mx_stats *stats;
	struct mx_loop *loop;
	struct mx_io *io;
	struct mx_vlog *v;
	unsigned i, accepted = 0, dropped = 0;
	int len;

	(void)state;
	assert_int_equal(sem_init(&gate, 0, 0), 0);
	snprintf(dir, sizeof(dir), "/tmp/mx-vlog-test-XXXXXX");
	assert_non_null(mkdtemp(dir));
	tmp_path(path, sizeof(path), dir, "verdict.log");
	assert_int_equal(mx_metrics_create(1, &metrics), 0);
	stats = mx_metrics_stats(metrics, 0);
	loop = loop_new(0);
	assert_int_equal(mx_io_create(&io), 0);
	assert_int_equal(mx_io_port_create(io, loop, 1, &port), 0);
	assert_int_equal(mx_vlog_open(path, io, &v), 0);
	assert_int_equal(mx_vlog_port_create(v, port, stats, &vp), 0);

	/* A line longer than the whole ring can never fit. */
	huge = malloc(1u << 20);
	assert_non_null(huge);
	memset(huge, 'x', 1u << 20);
	assert_int_equal(mx_vlog_write(vp, huge, 1u << 20), -EAGAIN);
	assert_int_equal(atomic_load(&stats->v[MX_STAT_VLOG_DROPPED]), 1);
	free(huge);

	assert_int_equal(mx_io_submit(port, &gate_job), 0);
	for (i = 0; i < 2000; i++) {
		len = make_line(line, sizeof(line), 0, i);
		acc[i] = mx_vlog_write(vp, line, (size_t)len) == 0;
		if (acc[i])
			accepted++;
		else
			dropped++;
	}
	/* 256 KiB hold well under 2000 lines of ~200 bytes. */
	assert_true(accepted > 500);
	assert_true(dropped > 0);
	assert_int_equal(accepted + dropped, 2000);
	assert_int_equal(atomic_load(&stats->v[MX_STAT_VLOG_DROPPED]), 1 + dropped);
	sem_post(&gate);
	pump_idle(loop, port);
	/* The queue (depth 1) was full the whole time, so no flush job ever
	 * went out: the accepted lines are still in the ring, and
	 * mx_vlog_free writes them. */
	mx_loop_free(loop);
	mx_io_free(io);
	mx_vlog_free(v);

	memset(seen, 0, sizeof(seen));
	assert_int_equal(check_lines(path, seen), accepted);
	for (i = 0; i < 2000; i++)
		assert_int_equal(seen[0][i], acc[i] ? 1 : 0);
	mx_metrics_free(metrics);
	unlink(path);
	rmdir(dir);
	sem_destroy(&gate);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_writers),
		cmocka_unit_test(test_reopen),
		cmocka_unit_test(test_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
