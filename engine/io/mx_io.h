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
#include <sys/uio.h>

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
	struct mx_io_job *next;  /* private to mx_io (local completions) */
};

/* Starts the thread. Returns 0 or -errno. */
int mx_io_create(struct mx_io **out);
/* Runs every job still queued, joins the thread, frees. Ports must be
 * idle (no job in flight) or their done() never runs. Call it after the
 * worker loops stopped running (their pollers point at the ports); the
 * final drain does not wake them. */
void mx_io_free(struct mx_io *io);
/* One port per worker loop; registers a poller on loop. Call before the
 * worker starts; the port lives as long as io. depth bounds the jobs in
 * flight. Returns 0 or -errno. */
int mx_io_port_create(struct mx_io *io, struct mx_loop *loop, unsigned depth,
		struct mx_io_port **out);
/* Worker thread. Sets job->port and job->submit_us (mx_clock_us()).
 * Returns 0 or -EAGAIN when depth jobs are in flight (the job is then
 * untouched and still the caller's). Never blocks; one eventfd write when
 * the I/O thread may be asleep. */
int mx_io_submit(struct mx_io_port *port, struct mx_io_job *job);
/* Worker thread: jobs whose done() has not run yet (submitted, or queued
 * by mx_io_complete_later), plus one while the I/O thread is still
 * handing results back to this port's loop. 0 means the port is idle and
 * the I/O thread no longer touches the loop. */
unsigned mx_io_in_flight(const struct mx_io_port *port);
/* Worker thread: completes job without the I/O thread (typically after
 * mx_io_submit said -EAGAIN): job->rc = rc, and its done() runs from the
 * port's poller later, never from inside this call. */
void mx_io_complete_later(struct mx_io_port *port, struct mx_io_job *job, int rc);

/* For run() on the I/O thread (it blocks): writev until every byte of iov
 * is written, resuming after short writes and EINTR; iov is consumed
 * (modified). Returns 0 or -errno. */
int mx_io_write_all(int fd, struct iovec *iov, int iovcnt);

#endif /* MX_IO_H */
