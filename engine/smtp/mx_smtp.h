/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_smtp: the SMTP receiver (RFC 5321 with PIPELINING 2920, SIZE 1870,
 * 8BITMIME 6152, SMTPUTF8 6531, ENHANCEDSTATUSCODES 2034/3463, CHUNKING
 * 3030), one state machine per connection over the stream API.
 *
 * Worker level: mx_smtp_worker holds one worker's session pool (fixed size,
 * from the configuration) and the per-worker services a session needs
 * (struct mx_smtp_env). The accept function is mx_smtp_accept(), given to
 * mx_listen() with the worker as its argument.
 *
 * Thread: everything here runs on the worker's loop thread, except
 * mx_smtp_parse_* which are pure functions usable anywhere (tests, fuzz).
 */
#ifndef MX_SMTP_H
#define MX_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mx_base.h"
#include "mx_stream.h"

struct mx_conf;
struct mx_deliver;
struct mx_vlog_port;
struct mx_stats;
struct mx_chunk_pool;
struct mx_connlimit;
struct mx_smtp_worker;

/* Per-worker services, owned by the worker; a session borrows them. */
struct mx_smtp_env {
	struct mx_loop *loop;
	struct mx_conf *conf;          /* current snapshot; sessions take a ref at accept */
	struct mx_deliver *deliver;    /* relay or spool */
	struct mx_vlog_port *vlog;     /* NULL: no verdict log */
	struct mx_stats *stats;
	struct mx_chunk_pool *pool;
	struct mx_connlimit *climit;   /* shared by all workers */
};

/* Allocates the session pool (env->conf->max_connections / workers,
 * rounded up, at least 1). Returns 0 or -ENOMEM. */
int mx_smtp_worker_create(const struct mx_smtp_env *env, unsigned max_sessions,
		struct mx_smtp_worker **out);
/* Every session must have ended (see mx_smtp_drain). */
void mx_smtp_worker_free(struct mx_smtp_worker *w);
/* Reload: new sessions get conf; running ones keep theirs. */
void mx_smtp_worker_set_conf(struct mx_smtp_worker *w, struct mx_conf *conf);
/* mx_accept_fn; arg is the struct mx_smtp_worker. */
void mx_smtp_accept(struct mx_listener *l, struct mx_stream *st, void *arg);
/* SIGTERM: idle sessions (between transactions) get 421 4.3.2 and are
 * closed at once; sessions inside a transaction get the 421 right after
 * their transaction's final reply. */
void mx_smtp_drain(struct mx_smtp_worker *w);
unsigned mx_smtp_n_sessions(const struct mx_smtp_worker *w);

#endif /* MX_SMTP_H */
