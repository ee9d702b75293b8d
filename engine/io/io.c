/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * io.c: the I/O thread and its per-worker ports (contract in mx_io.h).
 *
 * Each port is a stage port (engine/stage, mx_stage.h): two SPSC rings of
 * job pointers, `jobs` (worker -> I/O thread) and `results` (the other
 * way), sized for depth so neither can overflow, the eventfd wakeup of the
 * I/O thread without a lost wakeup or a syscall per job, and the worker
 * loop's wakeup when results are back, counted in mx_io_in_flight() until
 * it returned (so a worker that waits for 0 before freeing its loop never
 * races it). The port's poller on the worker loop pops the results and
 * runs done() there, in submit order.
 *
 * mx_io_complete_later() completes a job on the worker alone (a local
 * list drained by the same poller), so users such as the spool can answer
 * "queue full" through the same done() path, never from inside submit.
 *
 * The I/O thread takes up to IO_BATCH_MAX queued jobs from all ports in
 * one batch, runs them, calls batch_end once per distinct ops table, then
 * returns them all. It blocks every signal so the process's handlers run
 * on the main thread.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mx_base.h"
#include "mx_io.h"
#include "mx_log.h"
#include "mx_stage.h"
#include "mx_stream.h"

/* Jobs per batch. Bounded so the batch arrays are fixed; more queued jobs
 * simply make the next batch. 1024 group-committed messages per directory
 * fsync is far past the point where the fsync stops dominating. */
#define IO_BATCH_MAX 1024u
#define IO_DEPTH_MAX (1u << 20)

struct mx_io_port {
	struct mx_stage_port sp; /* first: the port's 64-byte alignment */
	struct mx_io *io;
	unsigned depth;
	unsigned in_flight;      /* worker only: submitted, done() not run */
	unsigned n_local;        /* worker only: on the local list */
	struct mx_io_job *local_head, *local_tail; /* worker only */
};

struct mx_io {
	struct mx_stage stage;
	/* I/O thread only. */
	unsigned n_batch;
	struct mx_io_job *batch[IO_BATCH_MAX];
	struct mx_io_job *group[IO_BATCH_MAX];
};

/* I/O thread: moves queued jobs of every port into the batch. */
static unsigned
io_gather(struct mx_io *io)
{
	io->n_batch = mx_stage_gather(&io->stage, (void **)io->batch, IO_BATCH_MAX);
	return io->n_batch;
}

static bool
ops_seen_before(struct mx_io *io, unsigned i)
{
	unsigned j;

	for (j = 0; j < i; j++)
		if (io->batch[j]->ops == io->batch[i]->ops)
			return true;
	return false;
}

/* batch_end once per distinct ops table, with that table's jobs in batch
 * order (the spool's group commit). */
static void
io_batch_end(struct mx_io *io)
{
	const struct mx_io_job_ops *ops;
	unsigned i, j, k;

	for (i = 0; i < io->n_batch; i++) {
		ops = io->batch[i]->ops;
		if (ops->batch_end == NULL || ops_seen_before(io, i))
			continue;
		k = 0;
		for (j = i; j < io->n_batch; j++)
			if (io->batch[j]->ops == ops)
				io->group[k++] = io->batch[j];
		ops->batch_end(io->group, k);
	}
}

static void
io_run_batch(struct mx_io *io, bool wake)
{
	unsigned i;

	for (i = 0; i < io->n_batch; i++)
		io->batch[i]->ops->run(io->batch[i]);
	io_batch_end(io);
	for (i = 0; i < io->n_batch; i++)
		mx_stage_return(&io->batch[i]->port->sp, io->batch[i], wake);
	mx_stage_wake_ports(&io->stage, wake);
}

static void *
io_main(void *arg)
{
	struct mx_io *io = arg;
	bool stopping;

	for (;;) {
		/* Read stop before gathering: a job pushed before the stop
		 * flag was set is then found by this gather. */
		stopping = mx_stage_stopping(&io->stage);
		if (io_gather(io) > 0) {
			io_run_batch(io, !stopping);
			continue;
		}
		if (stopping)
			break;
		mx_stage_wait(&io->stage, -1, -1);
	}
	return NULL;
}

int
mx_io_create(struct mx_io **out)
{
	struct mx_io *io;
	int rc;

	io = calloc(1, sizeof(*io));
	if (io == NULL)
		return -ENOMEM;
	mx_stage_init(&io->stage);
	rc = mx_stage_start(&io->stage, "mx-io", io_main, io);
	if (rc != 0) {
		free(io);
		return rc;
	}
	*out = io;
	return 0;
}

static void
port_free(struct mx_io_port *port)
{
	mx_stage_port_fini(&port->sp);
	free(port);
}

void
mx_io_free(struct mx_io *io)
{
	struct mx_stage_port *sp, *next;

	if (io == NULL)
		return;
	mx_stage_stop(&io->stage);
	for (sp = mx_stage_ports(&io->stage); sp != NULL; sp = next) {
		next = sp->next;
		port_free(sp->owner);
	}
	free(io);
}

/* Worker poller: every returned job's done(), in submit order, then the
 * local completions queued before this pass (those queued by a done()
 * here wait for the next pass, so the loop is bounded). */
static void
port_poll(void *arg)
{
	struct mx_io_port *port = arg;
	struct mx_io_job *job, *next;

	while ((job = mx_stage_port_result(&port->sp)) != NULL) {
		port->in_flight--;
		job->ops->done(job);
	}
	job = port->local_head;
	port->local_head = NULL;
	port->local_tail = NULL;
	for (; job != NULL; job = next) {
		next = job->next;
		port->n_local--;
		job->ops->done(job);
	}
}

int
mx_io_port_create(struct mx_io *io, struct mx_loop *loop, unsigned depth,
		struct mx_io_port **out)
{
	struct mx_io_port *port;
	int rc;

	if (depth == 0 || depth > IO_DEPTH_MAX)
		return -EINVAL;
	port = aligned_alloc(64, (sizeof(*port) + 63) & ~(size_t)63);
	if (port == NULL)
		return -ENOMEM;
	memset(port, 0, sizeof(*port));
	port->io = io;
	port->depth = depth;
	rc = mx_stage_port_init(&port->sp, port, loop, depth);
	if (rc == 0)
		rc = mx_loop_add_poller(loop, port_poll, port);
	if (rc != 0) {
		port_free(port);
		return rc;
	}
	mx_stage_port_add(&io->stage, &port->sp);
	*out = port;
	return 0;
}

int
mx_io_submit(struct mx_io_port *port, struct mx_io_job *job)
{
	if (port->in_flight >= port->depth)
		return -EAGAIN;
	job->port = port;
	job->submit_us = mx_clock_us();
	port->in_flight++;
	mx_stage_submit(&port->io->stage, &port->sp, job);
	return 0;
}

unsigned
mx_io_in_flight(const struct mx_io_port *port)
{
	return port->in_flight + port->n_local + mx_stage_port_returning(&port->sp);
}

void
mx_io_complete_later(struct mx_io_port *port, struct mx_io_job *job, int rc)
{
	job->port = port;
	job->rc = rc;
	job->next = NULL;
	if (port->local_tail == NULL)
		port->local_head = job;
	else
		port->local_tail->next = job;
	port->local_tail = job;
	port->n_local++;
	/* The poller may already have run in this pass: do not let the
	 * loop sleep on it. A rare path (queue full), so the syscall is
	 * fine. */
	mx_loop_wakeup(port->sp.loop);
}

int
mx_io_write_all(int fd, struct iovec *iov, int iovcnt)
{
	ssize_t w;

	while (iovcnt > 0) {
		if (iov->iov_len == 0) {
			iov++;
			iovcnt--;
			continue;
		}
		w = writev(fd, iov, MX_MIN(iovcnt, IOV_MAX));
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		/* The first buffer is not empty: 0 without an error would
		 * otherwise spin here. */
		if (w == 0)
			return -EIO;
		while (iovcnt > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (w > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}
