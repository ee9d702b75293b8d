/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_stage.h: the harness of a stage thread that serves worker loops
 * (engine/io's I/O thread, policy/auth's verifier): per-worker ports of two
 * single-producer/single-consumer rings of job pointers, an eventfd that
 * wakes the stage thread, and the wakeup of a worker loop when its results
 * are back. The stage's own work (what a job is, how a batch runs) stays
 * with its owner; this file only moves pointers between threads.
 *
 * Contract:
 * - A port's `jobs` ring is pushed by one worker (mx_stage_submit) and
 *   popped by the stage thread (mx_stage_gather); `results` the other way
 *   (mx_stage_return, then mx_stage_port_result on the worker).
 * - Ring sizes are the power of two >= depth; the owner never has more
 *   than depth jobs between submit and result, so no ring overflows (an
 *   internal invariant, asserted).
 * - No wakeup is lost and there is no syscall per job: the worker writes
 *   the eventfd only when its push found the ring drained. Worker (store
 *   tail, load head) and stage thread (store head, then at the next
 *   mx_stage_gather load tail) form a Dekker pair with a seq_cst fence on
 *   each side, so either the stage finds the job or the worker sees the
 *   empty ring and writes the eventfd, whose count survives until
 *   mx_stage_wait.
 * - Results: mx_stage_return pushes with a release store; then
 *   mx_stage_wake_ports calls mx_loop_wakeup() once per port that got
 *   results. From the first result of a pass until that wakeup returned,
 *   mx_stage_port_returning() is 1, so a worker waiting for its port to
 *   be idle before freeing its loop never races the stage's wakeup of it.
 * - Ports are added at any time (lock-free push) and only freed, by the
 *   owner, after mx_stage_stop().
 */
#ifndef MX_STAGE_H
#define MX_STAGE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mx_base.h"

struct mx_loop;

struct mx_stage_ring {
	_Atomic uint32_t head MX_CACHE_ALIGNED; /* next slot the consumer takes */
	_Atomic uint32_t tail MX_CACHE_ALIGNED; /* next slot the producer fills */
	void **slot MX_CACHE_ALIGNED;
	uint32_t mask;
};

/* Embedded in the owner's port, which must be 64-byte aligned. */
struct mx_stage_port {
	struct mx_stage_ring jobs;    /* worker -> stage thread */
	struct mx_stage_ring results; /* stage thread -> worker */
	struct mx_loop *loop;
	void *owner;                  /* the owner's port, for its own walks */
	_Atomic unsigned returning;
	bool wake;                    /* stage thread only: results this pass */
	struct mx_stage_port *next;   /* the stage's port list, push-only */
};

struct mx_stage {
	pthread_t thread;
	int efd;                      /* -1 until mx_stage_start */
	_Atomic bool stop;
	_Atomic(struct mx_stage_port *) ports;
};

typedef void *(*mx_stage_main_fn)(void *arg);

/* An empty stage: no thread, no ports. */
void mx_stage_init(struct mx_stage *s);

/* Creates the eventfd and the thread `name`, which runs fn(arg) with every
 * signal blocked from its first instant (the process's handlers run on
 * the main thread). 0 or a negative errno (nothing left behind). */
int mx_stage_start(struct mx_stage *s, const char *name, mx_stage_main_fn fn, void *arg);

/* Sets the stop flag, wakes the thread and joins it; closes the eventfd.
 * A no-op on a stage never started. */
void mx_stage_stop(struct mx_stage *s);

/* The stop flag, for the thread: read it before a gather, so a job pushed
 * before the stop was set is still found by that gather. */
bool mx_stage_stopping(struct mx_stage *s);

/* Stage thread: sleeps until the eventfd is written, `fd` (when >= 0) is
 * readable, or timeout_ms passed (-1: no timeout); consumes the eventfd
 * count. Returns early on EINTR: the caller gathers again anyway. */
void mx_stage_wait(struct mx_stage *s, int fd, int timeout_ms);

/* Rings sized for depth jobs (none when depth is 0: a port that never
 * crosses threads, kept in the list for the owner's walks). 0 or
 * -ENOMEM. */
int mx_stage_port_init(struct mx_stage_port *sp, void *owner, struct mx_loop *loop,
		unsigned depth);
void mx_stage_port_fini(struct mx_stage_port *sp);
/* Publishes an initialised port to the stage thread. */
void mx_stage_port_add(struct mx_stage *s, struct mx_stage_port *sp);
/* The head of the port list (each ->next after it). */
struct mx_stage_port *mx_stage_ports(const struct mx_stage *s);

/* Worker: queues job for the stage thread, waking it when it may sleep. */
void mx_stage_submit(struct mx_stage *s, struct mx_stage_port *sp, void *job);
/* Worker: the next returned job, or NULL. */
void *mx_stage_port_result(struct mx_stage_port *sp);
/* Worker: 1 while the stage is between returning a result and waking
 * this port's loop, else 0. */
unsigned mx_stage_port_returning(const struct mx_stage_port *sp);

/* Stage thread: moves up to max queued jobs of all ports into out, in
 * port order; returns how many. */
unsigned mx_stage_gather(struct mx_stage *s, void **out, unsigned max);
/* Stage thread: hands job back to sp's worker; with wake false (the
 * stage is stopping) the worker loop is not to be woken for it. */
void mx_stage_return(struct mx_stage_port *sp, void *job, bool wake);
/* Stage thread, after a pass of returns: wakes each port's loop that got
 * results (when wake) and clears its returning mark. */
void mx_stage_wake_ports(struct mx_stage *s, bool wake);

#endif
