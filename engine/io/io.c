/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * io.c: the I/O thread and its per-worker ports (contract in mx_io.h).
 *
 * Each port has two single-producer/single-consumer rings of job pointers:
 * `jobs` (worker produces, I/O thread consumes) and `results` (the other
 * way). Indices are free-running 32-bit counters; the ring size is a power
 * of two >= depth, and a port never has more than depth jobs between
 * submit and done, so neither ring can overflow (asserted, an internal
 * invariant). Head and tail sit on their own cache lines so the two
 * threads do not bounce one line on every push and pop.
 *
 * Waking the I/O thread without losing a wakeup and without a syscall per
 * job: the worker writes the eventfd only when its push found the ring
 * drained (head == its own old tail). The two sides form a Dekker pair:
 * the worker stores tail then loads head, the I/O thread stores head then
 * loads tail (the next gather pass) before it sleeps, each with a seq_cst
 * fence between, so at least one of them sees the other: either the I/O
 * thread finds the job, or the worker sees an empty ring and writes the
 * eventfd (whose count survives until the I/O thread polls it).
 *
 * Results go back with a release store of the results tail and
 * mx_loop_wakeup() once per port per batch; the port's poller on the
 * worker loop pops them and runs done() there, in submit order. Until
 * that wakeup returned, the port counts one more in flight ("returning"),
 * so a worker that waits for mx_io_in_flight() == 0 before freeing its
 * loop never races the I/O thread's wakeup of it.
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
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "mx_base.h"
#include "mx_io.h"
#include "mx_log.h"
#include "mx_stream.h"

/* Jobs per batch. Bounded so the batch arrays are fixed; more queued jobs
 * simply make the next batch. 1024 group-committed messages per directory
 * fsync is far past the point where the fsync stops dominating. */
#define IO_BATCH_MAX 1024u
#define IO_DEPTH_MAX (1u << 20)

struct io_ring {
	_Atomic uint32_t head MX_CACHE_ALIGNED; /* next slot the consumer takes */
	_Atomic uint32_t tail MX_CACHE_ALIGNED; /* next slot the producer fills */
	struct mx_io_job **slot MX_CACHE_ALIGNED;
	uint32_t mask;
};

struct mx_io_port {
	struct io_ring jobs;     /* worker -> I/O thread */
	struct io_ring results;  /* I/O thread -> worker */
	struct mx_io *io;
	struct mx_loop *loop;
	unsigned depth;
	unsigned in_flight;      /* worker only: submitted, done() not run */
	unsigned n_local;        /* worker only: on the local list */
	struct mx_io_job *local_head, *local_tail; /* worker only */
	/* 1 from the first result pushed in a batch until the loop has been
	 * woken: the worker must not see the port idle (and free its loop)
	 * while the I/O thread is still about to call mx_loop_wakeup(). */
	_Atomic unsigned returning;
	bool wake;               /* I/O thread only: results pushed this batch */
	struct mx_io_port *next; /* io->ports, push-only */
};

struct mx_io {
	pthread_t thread;
	int efd;
	_Atomic bool stop;
	_Atomic(struct mx_io_port *) ports;
	/* I/O thread only. */
	unsigned n_batch;
	struct mx_io_job *batch[IO_BATCH_MAX];
	struct mx_io_job *group[IO_BATCH_MAX];
};

static int
ring_init(struct io_ring *r, uint32_t size)
{
	r->slot = calloc(size, sizeof(*r->slot));
	if (r->slot == NULL)
		return -ENOMEM;
	r->mask = size - 1;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	return 0;
}

/* Producer side. Returns true when the consumer had drained the ring
 * before this push (it may be asleep). */
static bool
ring_push(struct io_ring *r, struct mx_io_job *job)
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

/* Consumer side: the next job or NULL. */
static struct mx_io_job *
ring_pop(struct io_ring *r)
{
	uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
	struct mx_io_job *job;

	if (h == t)
		return NULL;
	job = r->slot[h & r->mask];
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
	return job;
}

/* I/O thread: moves queued jobs of every port into the batch. */
static unsigned
io_gather(struct mx_io *io)
{
	struct mx_io_port *port;
	struct mx_io_job *job;

	/* Orders the head stores of the previous pass before the tail
	 * loads of this one (the Dekker pair above). */
	atomic_thread_fence(memory_order_seq_cst);
	io->n_batch = 0;
	port = atomic_load_explicit(&io->ports, memory_order_acquire);
	for (; port != NULL && io->n_batch < IO_BATCH_MAX; port = port->next) {
		while (io->n_batch < IO_BATCH_MAX) {
			job = ring_pop(&port->jobs);
			if (job == NULL)
				break;
			io->batch[io->n_batch++] = job;
		}
	}
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
	struct mx_io_port *port;
	struct mx_io_job *job;
	unsigned i;

	for (i = 0; i < io->n_batch; i++)
		io->batch[i]->ops->run(io->batch[i]);
	io_batch_end(io);
	for (i = 0; i < io->n_batch; i++) {
		job = io->batch[i];
		port = job->port;
		if (!port->wake && wake)
			atomic_store_explicit(&port->returning, 1, memory_order_relaxed);
		port->wake = true;
		/* The release store of the tail also publishes returning. */
		(void)ring_push(&port->results, job);
	}
	port = atomic_load_explicit(&io->ports, memory_order_acquire);
	for (; port != NULL; port = port->next) {
		if (port->wake && wake) {
			mx_loop_wakeup(port->loop);
			atomic_store_explicit(&port->returning, 0, memory_order_release);
		}
		port->wake = false;
	}
}

static void
io_wait(struct mx_io *io)
{
	struct pollfd pfd = { .fd = io->efd, .events = POLLIN };
	uint64_t v;

	if (poll(&pfd, 1, -1) < 0)
		return; /* EINTR: the caller gathers again */
	if (read(io->efd, &v, sizeof(v)) < 0)
		return; /* EAGAIN: someone else's wakeup was already read */
}

static void *
io_main(void *arg)
{
	struct mx_io *io = arg;
	bool stopping;

	for (;;) {
		/* Read stop before gathering: a job pushed before the stop
		 * flag was set is then found by this gather. */
		stopping = atomic_load_explicit(&io->stop, memory_order_acquire);
		if (io_gather(io) > 0) {
			io_run_batch(io, !stopping);
			continue;
		}
		if (stopping)
			break;
		io_wait(io);
	}
	return NULL;
}

static void
efd_signal(int efd)
{
	uint64_t one = 1;

	/* Non-blocking; EAGAIN only if the counter is about to overflow,
	 * in which case the I/O thread is awake anyway. */
	if (write(efd, &one, sizeof(one)) < 0)
		return;
}

int
mx_io_create(struct mx_io **out)
{
	sigset_t all, old;
	struct mx_io *io;
	int rc;

	io = calloc(1, sizeof(*io));
	if (io == NULL)
		return -ENOMEM;
	io->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (io->efd < 0) {
		rc = -errno;
		free(io);
		return rc;
	}
	atomic_init(&io->stop, false);
	atomic_init(&io->ports, NULL);
	/* The thread starts with every signal blocked (inherited from this
	 * mask), so not even its first instant can take a process signal. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&io->thread, NULL, io_main, io);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		close(io->efd);
		free(io);
		return -rc;
	}
	pthread_setname_np(io->thread, "mx-io");
	*out = io;
	return 0;
}

static void
port_free(struct mx_io_port *port)
{
	free(port->jobs.slot);
	free(port->results.slot);
	free(port);
}

void
mx_io_free(struct mx_io *io)
{
	struct mx_io_port *port, *next;

	if (io == NULL)
		return;
	atomic_store_explicit(&io->stop, true, memory_order_release);
	efd_signal(io->efd);
	pthread_join(io->thread, NULL);
	close(io->efd);
	port = atomic_load_explicit(&io->ports, memory_order_acquire);
	for (; port != NULL; port = next) {
		next = port->next;
		port_free(port);
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

	while ((job = ring_pop(&port->results)) != NULL) {
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

static uint32_t
pow2_at_least(unsigned n)
{
	uint32_t v = 1;

	while (v < n)
		v <<= 1;
	return v;
}

int
mx_io_port_create(struct mx_io *io, struct mx_loop *loop, unsigned depth,
		struct mx_io_port **out)
{
	struct mx_io_port *port, *head;
	uint32_t size;
	int rc;

	if (depth == 0 || depth > IO_DEPTH_MAX)
		return -EINVAL;
	port = aligned_alloc(64, (sizeof(*port) + 63) & ~(size_t)63);
	if (port == NULL)
		return -ENOMEM;
	memset(port, 0, sizeof(*port));
	port->io = io;
	port->loop = loop;
	port->depth = depth;
	size = pow2_at_least(depth);
	rc = ring_init(&port->jobs, size);
	if (rc == 0)
		rc = ring_init(&port->results, size);
	if (rc == 0)
		rc = mx_loop_add_poller(loop, port_poll, port);
	if (rc != 0) {
		port_free(port);
		return rc;
	}
	head = atomic_load_explicit(&io->ports, memory_order_relaxed);
	do {
		port->next = head;
	} while (!atomic_compare_exchange_weak_explicit(&io->ports, &head, port,
			memory_order_release, memory_order_relaxed));
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
	if (ring_push(&port->jobs, job))
		efd_signal(port->io->efd);
	return 0;
}

unsigned
mx_io_in_flight(const struct mx_io_port *port)
{
	return port->in_flight + port->n_local +
		atomic_load_explicit(&port->returning, memory_order_acquire);
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
	mx_loop_wakeup(port->loop);
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
