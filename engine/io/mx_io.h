/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_io: the I/O thread. Workers never block (DESIGN "the control thread
 * owns slow I/O"), so file writes, fsync and renames for the spool and the
 * verdict log run here. A worker talks to it through its own mx_io_port:
 * two lock-free single-producer/single-consumer rings (jobs out, results
 * back) and a wakeup of each side (eventfd for the I/O thread,
 * mx_loop_wakeup for the worker). No lock on either side.
 *
 * The I/O thread takes every queued job in one batch, runs each job's
 * run(), then calls batch_end() once per distinct ops table in the batch
 * (the spool's group commit: one directory fsync for many messages), then
 * hands every job back; done() runs on the worker's loop thread, from a
 * poller of that loop.
 *
 * Jobs are owned by the submitter; the I/O thread only borrows them
 * between submit and done.
 */
#ifndef MX_IO_H
#define MX_IO_H

#include <stdint.h>

struct mx_io;
struct mx_io_port;
struct mx_io_job;
struct mx_loop;

struct mx_io_job_ops {
	/* I/O thread: do the work, set job->rc (0 or -errno). */
	void (*run)(struct mx_io_job *job);
	/* I/O thread, optional: once per batch after every run() of jobs
	 * with these ops; may change their rc (a failed group fsync). */
	void (*batch_end)(struct mx_io_job **jobs, unsigned n);
	/* Worker loop thread: the job is back. */
	void (*done)(struct mx_io_job *job);
};

struct mx_io_job {
	const struct mx_io_job_ops *ops;
	struct mx_io_port *port; /* set by mx_io_submit */
	int rc;
	uint64_t submit_us;
};

/* Starts the thread. Returns 0 or -errno. */
int mx_io_create(struct mx_io **out);
/* Runs every job still queued, joins the thread, frees. Ports must be
 * idle (no job in flight) or their done() never runs. */
void mx_io_free(struct mx_io *io);
/* One port per worker loop; registers a poller on loop. Call before the
 * worker starts; the port lives as long as io. depth bounds the jobs in
 * flight. Returns 0 or -errno. */
int mx_io_port_create(struct mx_io *io, struct mx_loop *loop, unsigned depth,
		struct mx_io_port **out);
/* Worker thread. Returns 0 or -EAGAIN when depth jobs are in flight. */
int mx_io_submit(struct mx_io_port *port, struct mx_io_job *job);
unsigned mx_io_in_flight(const struct mx_io_port *port);

#endif /* MX_IO_H */
