/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vlog.c: the verdict log (contract in mx_vlog.h).
 *
 * Each worker has a preallocated byte ring (VLOG_RING_BYTES) of finished
 * lines: the worker is the only producer (tail), the I/O thread the only
 * consumer (head), both free-running byte counters published with
 * release/acquire, on separate cache lines. mx_vlog_write copies the line
 * and its '\n' in whole or not at all (-EAGAIN, counted), so the ring
 * only ever holds complete lines, and submits the port's single flush
 * job unless it is already in flight. The flush job, on the I/O thread,
 * writes what is queued with writev (two pieces when the ring wraps) and
 * goes on while more arrives, up to a budget per run; its done() on the
 * worker resubmits if bytes remain. Only the I/O thread writes the file,
 * and it writes one port's bytes to the end before the next job runs, so
 * lines of different workers never interleave.
 *
 * Reopen (SIGHUP after logrotate) may come from any thread: it opens the
 * path anew and parks the descriptor in next_fd; the I/O thread swaps it
 * in before its next write, so the file is never switched under a write
 * in progress and no line is split across the two files.
 *
 * A write error (disk full, EIO) drops the bytes it could not write: they
 * are counted as lost lines and added to MX_STAT_VLOG_DROPPED by the
 * worker (the stats block has a single writer), and logged rate-limited.
 * XXX: a line cut by a failed write after a partial write leaves a
 * truncated line in the file.
 *
 * XXX: when the worker's I/O queue is full (mx_io_submit -EAGAIN) the
 * flush is retried at the next mx_vlog_write, so the last lines can wait
 * in the ring until then (mx_vlog_free writes them at the latest); they
 * are delayed, not lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mx_base.h"
#include "mx_io.h"
#include "mx_log.h"
#include "mx_metrics.h"
#include "mx_vlog.h"

/* Per worker. A verdict line is well under 4 KiB, so this holds some
 * hundred lines: enough to ride out a slow disk for a moment. */
#define VLOG_RING_BYTES ((size_t)256 * 1024)
/* Bytes one flush run writes at most before handing back (fairness with
 * other workers' jobs and the spool). */
#define VLOG_RUN_BUDGET (2 * VLOG_RING_BYTES)
#define VLOG_MODE 0640

struct mx_vlog {
	char *path;           /* NULL: stdout */
	int fd;               /* I/O thread only (and mx_vlog_free) */
	_Atomic int next_fd;  /* from reopen, taken by the I/O thread; -1: none */
	struct mx_io *io;
	_Atomic(struct mx_vlog_port *) ports;
};

struct mx_vlog_port {
	_Atomic size_t head MX_CACHE_ALIGNED;        /* bytes written out */
	_Atomic size_t tail MX_CACHE_ALIGNED;        /* bytes queued */
	_Atomic uint64_t lost_lines MX_CACHE_ALIGNED; /* I/O thread: write errors */
	struct mx_io_job job;
	struct mx_vlog *v;
	struct mx_io_port *port;
	struct mx_stats *stats;
	uint8_t *buf;
	size_t mask;
	bool pending;         /* worker: the flush job is in flight */
	uint64_t lost_seen;   /* worker: lost_lines already counted */
	struct mx_vlog_port *next;
};

static const char *
err_str(int e)
{
	const char *s = strerrordesc_np(e);

	return s != NULL ? s : "unknown error";
}

static int
vlog_open_fd(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, VLOG_MODE);

	return fd < 0 ? -errno : fd;
}

/* I/O thread (or mx_vlog_free once it is gone). */
static void
vlog_take_reopen(struct mx_vlog *v)
{
	int fd = atomic_exchange_explicit(&v->next_fd, -1, memory_order_acq_rel);

	if (fd < 0)
		return;
	if (v->fd >= 0)
		close(v->fd);
	v->fd = fd;
}

static uint64_t
count_lines(const uint8_t *p, size_t n)
{
	uint64_t lines = 0;
	const uint8_t *q;

	while (n > 0 && (q = memchr(p, '\n', n)) != NULL) {
		lines++;
		n -= (size_t)(q - p) + 1;
		p = q + 1;
	}
	return lines;
}

/* Writes ring bytes [h, t); returns 0 or -errno. */
static int
vlog_write_span(struct mx_vlog_port *vp, size_t h, size_t t, uint64_t *lost)
{
	size_t size = vp->mask + 1, at = h & vp->mask, n = t - h;
	size_t first = MX_MIN(n, size - at);
	struct iovec iov[2] = {
		{ vp->buf + at, first },
		{ vp->buf, n - first },
	};
	int rc;

	rc = mx_io_write_all(vp->v->fd, iov, 2);
	if (rc != 0)
		*lost = count_lines(vp->buf + at, first) + count_lines(vp->buf, n - first);
	return rc;
}

/* Writes everything queued, going on while more arrives, within budget. */
static void
vlog_drain(struct mx_vlog_port *vp, size_t budget)
{
	size_t h = atomic_load_explicit(&vp->head, memory_order_relaxed);
	size_t t = atomic_load_explicit(&vp->tail, memory_order_acquire);
	size_t done = 0;
	uint64_t lost = 0;
	int rc;

	while (h != t && done < budget) {
		vlog_take_reopen(vp->v);
		rc = vlog_write_span(vp, h, t, &lost);
		if (rc != 0) {
			atomic_fetch_add_explicit(&vp->lost_lines, lost, memory_order_relaxed);
			MX_LOG_RL(MX_LOG_ERR, "vlog", "write %s: %s; %lu lines lost",
					vp->v->path != NULL ? vp->v->path : "stdout",
					err_str(-rc), (unsigned long)lost);
		}
		done += t - h;
		h = t;
		atomic_store_explicit(&vp->head, h, memory_order_release);
		t = atomic_load_explicit(&vp->tail, memory_order_acquire);
	}
}

static void
vlog_run(struct mx_io_job *job)
{
	struct mx_vlog_port *vp = (struct mx_vlog_port *)((char *)job -
			offsetof(struct mx_vlog_port, job));

	vlog_take_reopen(vp->v);
	vlog_drain(vp, VLOG_RUN_BUDGET);
	job->rc = 0;
}

static void vlog_kick(struct mx_vlog_port *vp);

static void
vlog_done(struct mx_io_job *job)
{
	struct mx_vlog_port *vp = (struct mx_vlog_port *)((char *)job -
			offsetof(struct mx_vlog_port, job));
	uint64_t lost = atomic_load_explicit(&vp->lost_lines, memory_order_relaxed);

	vp->pending = false;
	if (lost != vp->lost_seen) {
		mx_stat_add(vp->stats, MX_STAT_VLOG_DROPPED, lost - vp->lost_seen);
		vp->lost_seen = lost;
	}
	if (atomic_load_explicit(&vp->head, memory_order_acquire) !=
			atomic_load_explicit(&vp->tail, memory_order_relaxed))
		vlog_kick(vp);
}

static const struct mx_io_job_ops vlog_job_ops = {
	.run = vlog_run,
	.done = vlog_done,
};

static void
vlog_kick(struct mx_vlog_port *vp)
{
	if (vp->pending)
		return;
	if (mx_io_submit(vp->port, &vp->job) == 0)
		vp->pending = true;
}

int
mx_vlog_write(struct mx_vlog_port *vp, const char *line, size_t len)
{
	size_t size = vp->mask + 1;
	size_t t = atomic_load_explicit(&vp->tail, memory_order_relaxed);
	size_t h = atomic_load_explicit(&vp->head, memory_order_acquire);
	size_t at = t & vp->mask, first;

	if (len >= size - (t - h)) {
		mx_stat_inc(vp->stats, MX_STAT_VLOG_DROPPED);
		return -EAGAIN;
	}
	first = MX_MIN(len, size - at);
	memcpy(vp->buf + at, line, first);
	memcpy(vp->buf, line + first, len - first);
	vp->buf[(t + len) & vp->mask] = '\n';
	atomic_store_explicit(&vp->tail, t + len + 1, memory_order_release);
	vlog_kick(vp);
	return 0;
}

int
mx_vlog_open(const char *path, struct mx_io *io, struct mx_vlog **out)
{
	struct mx_vlog *v;
	int fd;

	v = calloc(1, sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	v->io = io;
	atomic_init(&v->next_fd, -1);
	atomic_init(&v->ports, NULL);
	if (strcmp(path, "-") == 0) {
		v->fd = STDOUT_FILENO;
		*out = v;
		return 0;
	}
	v->path = strdup(path);
	if (v->path == NULL) {
		free(v);
		return -ENOMEM;
	}
	fd = vlog_open_fd(path);
	if (fd < 0) {
		free(v->path);
		free(v);
		return fd;
	}
	v->fd = fd;
	*out = v;
	return 0;
}

int
mx_vlog_reopen(struct mx_vlog *v)
{
	int fd, old;

	if (v->path == NULL)
		return 0;
	fd = vlog_open_fd(v->path);
	if (fd < 0)
		return fd;
	old = atomic_exchange_explicit(&v->next_fd, fd, memory_order_acq_rel);
	if (old >= 0)
		close(old);
	return 0;
}

int
mx_vlog_port_create(struct mx_vlog *v, struct mx_io_port *port,
		struct mx_stats *stats, struct mx_vlog_port **out)
{
	struct mx_vlog_port *vp, *head;

	vp = aligned_alloc(64, (sizeof(*vp) + 63) & ~(size_t)63);
	if (vp == NULL)
		return -ENOMEM;
	memset(vp, 0, sizeof(*vp));
	vp->buf = malloc(VLOG_RING_BYTES);
	if (vp->buf == NULL) {
		free(vp);
		return -ENOMEM;
	}
	vp->mask = VLOG_RING_BYTES - 1;
	atomic_init(&vp->head, 0);
	atomic_init(&vp->tail, 0);
	atomic_init(&vp->lost_lines, 0);
	vp->job.ops = &vlog_job_ops;
	vp->v = v;
	vp->port = port;
	vp->stats = stats;
	head = atomic_load_explicit(&v->ports, memory_order_relaxed);
	do {
		vp->next = head;
	} while (!atomic_compare_exchange_weak_explicit(&v->ports, &head, vp,
			memory_order_release, memory_order_relaxed));
	*out = vp;
	return 0;
}

/* After mx_io_free(): the I/O thread is gone, so this thread may write
 * what is still queued and close the file. */
void
mx_vlog_free(struct mx_vlog *v)
{
	struct mx_vlog_port *vp, *next;

	if (v == NULL)
		return;
	vlog_take_reopen(v);
	vp = atomic_load_explicit(&v->ports, memory_order_acquire);
	for (; vp != NULL; vp = next) {
		next = vp->next;
		vlog_drain(vp, SIZE_MAX);
		free(vp->buf);
		free(vp);
	}
	if (v->path != NULL && v->fd >= 0)
		close(v->fd);
	free(v->path);
	free(v);
}
