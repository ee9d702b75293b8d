/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stage.c: rings, eventfd and loop wakeups between worker loops and a
 * stage thread (contract and the wakeup protocol in mx_stage.h).
 *
 * Ring indices are free-running 32-bit counters over a power-of-two slot
 * array; head and tail sit on their own cache lines so the two threads
 * do not bounce one line on every push and pop.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "mx_stage.h"
#include "mx_stream.h"

static uint32_t
pow2_at_least(unsigned n)
{
	uint32_t v = 1;

	while (v < n)
		v <<= 1;
	return v;
}

static int
ring_init(struct mx_stage_ring *r, unsigned depth)
{
	uint32_t size = pow2_at_least(depth);

	r->slot = calloc(size, sizeof(*r->slot));
	if (r->slot == NULL)
		return -ENOMEM;
	r->mask = size - 1;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	return 0;
}

/* Producer side. True when the consumer had drained the ring before this
 * push (it may be asleep). */
static bool
ring_push(struct mx_stage_ring *r, void *job)
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
static void *
ring_pop(struct mx_stage_ring *r)
{
	uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
	void *job;

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

	/* Non-blocking; EAGAIN only when the counter is about to overflow,
	 * and then the stage thread is awake anyway. */
	if (write(efd, &one, sizeof(one)) < 0)
		return;
}

void
mx_stage_init(struct mx_stage *s)
{
	s->efd = -1;
	atomic_init(&s->stop, false);
	atomic_init(&s->ports, NULL);
}

int
mx_stage_start(struct mx_stage *s, const char *name, mx_stage_main_fn fn, void *arg)
{
	sigset_t all, old;
	int rc;

	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->efd < 0)
		return -errno;
	/* The thread inherits this mask: not even its first instant can
	 * take a process signal. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&s->thread, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		close(s->efd);
		s->efd = -1;
		return -rc;
	}
	pthread_setname_np(s->thread, name);
	return 0;
}

void
mx_stage_stop(struct mx_stage *s)
{
	if (s->efd < 0)
		return;
	atomic_store_explicit(&s->stop, true, memory_order_release);
	efd_signal(s->efd);
	pthread_join(s->thread, NULL);
	close(s->efd);
	s->efd = -1;
}

bool
mx_stage_stopping(struct mx_stage *s)
{
	return atomic_load_explicit(&s->stop, memory_order_acquire);
}

void
mx_stage_wait(struct mx_stage *s, int fd, int timeout_ms)
{
	struct pollfd pfd[2] = {
		{ .fd = s->efd, .events = POLLIN },
		{ .fd = fd, .events = POLLIN },
	};
	uint64_t v;

	if (poll(pfd, fd >= 0 ? 2 : 1, timeout_ms) <= 0)
		return; /* EINTR or timeout: the caller gathers again */
	if ((pfd[0].revents & POLLIN) && read(s->efd, &v, sizeof(v)) < 0)
		return; /* EAGAIN: the count was read already */
}

int
mx_stage_port_init(struct mx_stage_port *sp, void *owner, struct mx_loop *loop,
		unsigned depth)
{
	int rc = 0;

	sp->loop = loop;
	sp->owner = owner;
	sp->wake = false;
	sp->next = NULL;
	sp->jobs.slot = NULL;
	sp->results.slot = NULL;
	atomic_init(&sp->returning, 0);
	if (depth == 0)
		return 0;
	rc = ring_init(&sp->jobs, depth);
	if (rc == 0)
		rc = ring_init(&sp->results, depth);
	return rc;
}

void
mx_stage_port_fini(struct mx_stage_port *sp)
{
	free(sp->jobs.slot);
	free(sp->results.slot);
	sp->jobs.slot = NULL;
	sp->results.slot = NULL;
}

void
mx_stage_port_add(struct mx_stage *s, struct mx_stage_port *sp)
{
	struct mx_stage_port *head = atomic_load_explicit(&s->ports, memory_order_relaxed);

	do {
		sp->next = head;
	} while (!atomic_compare_exchange_weak_explicit(&s->ports, &head, sp,
			memory_order_release, memory_order_relaxed));
}

struct mx_stage_port *
mx_stage_ports(const struct mx_stage *s)
{
	return atomic_load_explicit(&((struct mx_stage *)(uintptr_t)s)->ports,
			memory_order_acquire);
}

void
mx_stage_submit(struct mx_stage *s, struct mx_stage_port *sp, void *job)
{
	if (ring_push(&sp->jobs, job))
		efd_signal(s->efd);
}

void *
mx_stage_port_result(struct mx_stage_port *sp)
{
	return ring_pop(&sp->results);
}

unsigned
mx_stage_port_returning(const struct mx_stage_port *sp)
{
	return atomic_load_explicit(&((struct mx_stage_port *)(uintptr_t)sp)->returning,
			memory_order_acquire);
}

unsigned
mx_stage_gather(struct mx_stage *s, void **out, unsigned max)
{
	struct mx_stage_port *sp;
	unsigned n = 0;
	void *job;

	/* Orders the head stores of the previous pass before the tail
	 * loads of this one (the Dekker pair of mx_stage.h). */
	atomic_thread_fence(memory_order_seq_cst);
	sp = mx_stage_ports(s);
	for (; sp != NULL && n < max; sp = sp->next) {
		while (n < max && (job = ring_pop(&sp->jobs)) != NULL)
			out[n++] = job;
	}
	return n;
}

void
mx_stage_return(struct mx_stage_port *sp, void *job, bool wake)
{
	if (!sp->wake && wake)
		atomic_store_explicit(&sp->returning, 1, memory_order_relaxed);
	sp->wake = true;
	/* The release store of the tail also publishes returning. */
	(void)ring_push(&sp->results, job);
}

void
mx_stage_wake_ports(struct mx_stage *s, bool wake)
{
	struct mx_stage_port *sp = mx_stage_ports(s);

	for (; sp != NULL; sp = sp->next) {
		if (sp->wake && wake) {
			mx_loop_wakeup(sp->loop);
			atomic_store_explicit(&sp->returning, 0, memory_order_release);
		}
		sp->wake = false;
	}
}
