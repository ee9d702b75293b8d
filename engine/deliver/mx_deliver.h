/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_deliver: how a finished transaction is handed on. The SMTP session
 * submits the msg and answers the client only when the delivery reports:
 * mxedge never acknowledges a message it has not safely handed on
 * (DESIGN "Verdicts"). Two implementations: the downstream relay
 * (engine/relay) and the local spool (engine/spool).
 *
 * Contract of every implementation:
 * - submit() takes ownership of m on every return path (on error it is
 *   released before returning) and never calls done from inside submit;
 * - done runs later on the submitting worker's loop thread, exactly once,
 *   unless the submitter called detach() first;
 * - result.code is the reply the client gets: 2yz only when the message is
 *   durably in the downstream MTA's hands or fsynced in the spool; a
 *   temporary failure of ours or downstream's is 4yz; 5yz only when the
 *   downstream refused the message permanently;
 * - detach(handle): the session is gone (client disconnected); delivery
 *   still completes or fails on its own, done is not called. The client did
 *   not get a 250, so it retries: a duplicate at worst, never a loss.
 */
#ifndef MX_DELIVER_H
#define MX_DELIVER_H

#include <stdint.h>

struct mx_msg;

/* The TLS of the relay's hop to the downstream, for the verdict log
 * ("relay_tls"). All NULL: the delivery does no downstream TLS (spool, or
 * delivery.tls off). Static strings. */
struct mx_deliver_tls {
	const char *version; /* "TLSv1.2"; NULL: the hop stayed plaintext */
	const char *cipher;
	const char *verify;  /* "ok", "not verified", "not offered", or why it failed */
};

struct mx_deliver_result {
	int code;            /* SMTP reply code for the client */
	char text[256];      /* enhanced status code and text, no CRLF: "2.0.0 Ok: queued as ID" */
	const char *via;     /* "relay" or "spool" */
	uint64_t latency_us; /* submit to result */
	struct mx_deliver_tls tls;
};

typedef void mx_deliver_done_fn(void *arg, const struct mx_deliver_result *res);

struct mx_deliver_ops {
	int (*submit)(void *impl, struct mx_msg *m, mx_deliver_done_fn *done,
			void *arg, uint64_t *handle);
	void (*detach)(void *impl, uint64_t handle);
};

struct mx_deliver {
	const struct mx_deliver_ops *ops;
	void *impl;
};

/* Returns 0, or -errno when the message could not even be queued (m is
 * released; the caller answers 451 4.3.0). */
static inline int
mx_deliver_submit(struct mx_deliver *d, struct mx_msg *m,
		mx_deliver_done_fn *done, void *arg, uint64_t *handle)
{
	return d->ops->submit(d->impl, m, done, arg, handle);
}

static inline void
mx_deliver_detach(struct mx_deliver *d, uint64_t handle)
{
	d->ops->detach(d->impl, handle);
}

#endif /* MX_DELIVER_H */
