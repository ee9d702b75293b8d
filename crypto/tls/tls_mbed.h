/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tls_mbed: the mbedTLS backend's own types (tls_backend.h), shared by
 * tls_mbed_ctx.c (configuration, certificates), tls_mbed_stream.c (the
 * stream over a stream, for both roles), tls_mbed_client.c (the relay's
 * client role) and tls_mbed_policy.c (profiles). Only crypto/tls
 * sees mbedTLS types.
 */
#ifndef MX_TLS_PRIV_H
#define MX_TLS_PRIV_H

#include <pthread.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cache.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>

#include "mx_stream_impl.h"
#include "mx_timer.h"
#include "mx_tls.h"
#include "tls_backend.h"

#define TLS_MAX_SUITES 32

struct tls_stream;

/* One backend configuration (the default, or one profile's) on one
 * worker, with its pool of idle sessions set up for it. */
struct tls_pconf {
	mbedtls_ssl_config conf;
	struct tls_stream *pool;
	unsigned n_pool;
};

/* Per worker: only that worker's thread touches it after create. */
struct tls_worker {
	mbedtls_ctr_drbg_context drbg;
	struct tls_pconf *pc;       /* [gen->n_pc]: 0 the default, 1 + i profile i */
	unsigned n_pc;
} MX_CACHE_ALIGNED;

/* A profile as the generation keeps it (strings owned). */
struct tls_prof {
	struct tls_prof_base b;     /* matches and requirements (tls.c) */
	int suites[TLS_MAX_SUITES + 1];
	mbedtls_x509_crt ca;
	bool has_ca;
};

/* One generation: certificates, profiles and the per-worker backend
 * configurations. Reference counted: the ctx holds one, each worker's
 * slot one, each live TLS stream one; the last put frees it, on whatever
 * thread that is (no other thread can reach it then). */
struct tls_gen {
	_Atomic unsigned refs;
	struct tls_mbed_ctx *ctx;
	struct mx_tls_conf cf;      /* file names point into names[] */
	char names[MX_TLS_MAX_CERTS][2][256];
	unsigned n_certs;
	mbedtls_x509_crt crt[MX_TLS_MAX_CERTS];
	mbedtls_pk_context pk[MX_TLS_MAX_CERTS];
	long days[MX_TLS_MAX_CERTS];
	long days_left;
	int suites[TLS_MAX_SUITES + 1];
	struct tls_prof *prof;
	unsigned n_prof;
	bool sender_cert;           /* a profile checks client certificates at MAIL */
	unsigned n_workers;
	struct tls_worker *w;
};

/* A worker's view of the generations. */
struct tls_wslot {
	_Atomic(struct tls_gen *) next; /* published by the control thread */
	struct tls_gen *cur;            /* adopted: this worker's thread only */
} MX_CACHE_ALIGNED;

struct tls_mbed_ctx {
	struct mx_tls_ctx pub;      /* first: the public pointer is this */
	struct tls_gen *gen;        /* current: control thread */
	struct tls_wslot *slot;     /* [n_workers] */
	/* Shared by every generation, so a reload keeps resumption. */
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context ticket_drbg; /* used under the ticket mutex */
	mbedtls_ssl_ticket_context ticket;
	mbedtls_ssl_cache_context cache;
	bool has_ticket, has_cache;
};

/* ---- tls_mbed_stream.c: a session as a stream over a stream ---------- */

/* Plaintext buffered per direction. SMTP command lines are at most 512
 * bytes and replies far shorter; message data streams through. */
#define TLS_PLAIN_BUF 4096u

enum tls_state {
	TLS_HS = 0,   /* handshake in progress */
	TLS_OPEN,     /* application data */
	TLS_CLOSED,   /* owner closed or the session failed: raw closing */
	TLS_DEAD,     /* raw on_closed came: released */
};

struct tlsc_client;

/* What differs between the server session (tls_mbed_stream.c) and the
 * relay's client session (tls_mbed_client.c); the stream mechanics
 * (I/O over the raw stream, driving, buffers, close) are one code for
 * both. */
struct tls_role {
	/* The handshake completed (state TLS_OPEN): false when the role
	 * ended the stream. */
	bool (*established)(struct tls_stream *t);
	/* mbedTLS gave up on the session (its error rc; 0: the role's own
	 * reason) at where; peer is formatted for logs. The stream closes
	 * after this returns. */
	void (*failed)(struct tls_stream *t, int rc, const char *where, const char *peer);
	/* A close left output behind (NULL: not counted). */
	void (*dropped)(struct tls_stream *t);
	/* After the owner's on_closed: frees or pools t and its session. */
	void (*release)(struct tls_stream *t);
};

struct tls_stream {
	struct mx_stream_base base;  /* first: struct mx_stream * is this */
	const struct tls_role *role;
	/* Server role: */
	struct tls_gen *gen;         /* referenced while the stream lives */
	struct tls_pconf *pc;        /* its configuration and pool */
	int prof;                    /* connection profile, -1: none */
	struct tls_stream *next_free;
	/* Client role: */
	struct tlsc_client *cl;
	const char *verify;          /* mx_tls_client_info.verify */
	/* Both: */
	int fail_err;                /* the owner's on_closed error; 0: raw's */
	struct mx_stream *raw;
	mbedtls_ssl_context ssl;
	struct mx_timer kick;
	enum tls_state state;
	bool established;            /* the handshake completed */
	bool resumed;
	bool want_writable;          /* an owner send came up short */
	bool notify_read;            /* owner called want_read */
	bool eof;                    /* no more plaintext will come */
	size_t wflight;              /* length of a write mbedTLS interrupted */
	size_t roff, rlen;
	size_t slen;
	uint8_t rbuf[TLS_PLAIN_BUF];
	uint8_t sbuf[TLS_PLAIN_BUF];
};

/* t (session set up) becomes the stream over raw, whose callbacks it
 * takes; kick: drive it at once (a client speaks first). */
void tls_stream_start(struct tls_stream *t, const struct tls_role *role,
		struct mx_stream *raw, bool kick);
bool tls_stream_of(const struct mx_stream *st, const struct tls_role *role);
/* Ends the session (role->failed, then the raw stream closes gracefully
 * so an alert mbedTLS queued still leaves). */
void tls_stream_fail(struct tls_stream *t, int rc, const char *where);

/* tls_ctx.c: SNI, for the stream's configuration. */
int tls_sni_cb(void *arg, mbedtls_ssl_context *ssl, const unsigned char *name,
		size_t len);
/* tls_ctx.c: the worker's current generation (adopting a published one),
 * and releasing a reference. */
struct tls_gen *tls_gen_adopt(struct tls_mbed_ctx *ctx, unsigned wid);
void tls_gen_put(struct tls_gen *g);
/* tls_stream.c: frees the pooled sessions of one configuration. */
void tls_pool_drain(struct tls_pconf *pc);
/* tls_mbed_stream.c: the backend's stream calls. */
int tls_mbed_stream_create(struct mx_tls_ctx *pub, struct mx_stream *raw,
		struct mx_stream **out);
bool tls_mbed_stream_is(const struct mx_stream *st);
int tls_mbed_stream_info(const struct mx_stream *st, struct mx_tls_info *out);
/* tls_mbed_policy.c: the MAIL FROM check. */
int tls_mbed_policy_mail(struct mx_tls_ctx *pub, struct mx_stream *st,
		struct mx_str domain, char *reply, size_t size);
/* tls_stream.c: the stream's generation, connection profile (-1: none)
 * and backend session, for the policy check; NULL if st is not TLS. */
const mbedtls_ssl_context *tls_stream_ssl(const struct mx_stream *st,
		struct tls_gen **gen, int *prof);

/* tls_policy.c: builds the generation's profiles from policy. */
int tls_prof_build(struct tls_gen *g, const struct mx_tls_policy *policy,
		char *err, size_t errsize);
void tls_prof_free(struct tls_gen *g);
/* Sets up the backend configuration of profile i (or -1: the default)
 * over the base one made by tls_ctx.c. */
int tls_prof_conf(struct tls_gen *g, int i, mbedtls_ssl_config *c);
/* First connection profile whose clients contain addr, or -1. */
int tls_prof_by_addr(const struct tls_gen *g, const struct mx_addr *addr);
/* Counts a failed handshake by reason. */
void tls_count_failure(struct tls_mbed_ctx *ctx, const mbedtls_ssl_context *ssl, int rc);
/* tls_ctx.c: the backend's minor version number of v. */
int tls_minor(enum mx_tls_version v);
/* tls_ctx.c: the suite list of a strength, 0-terminated. */
void tls_suites_fill(int *dst, enum mx_tls_suites s);
/* tls_mbed_client.c: the relay's client side (tls_backend.h). */
int tls_mbed_client_create(const struct mx_tls_client_conf *conf,
		struct mx_tls_client **out, char *err, size_t errsize);
void tls_mbed_client_free(struct mx_tls_client *cl);
int tls_mbed_client_stream_create(struct mx_tls_client *cl, struct mx_stream *raw,
		const char *name, const struct mx_stream_cb *cb, void *arg,
		struct mx_stream **out);
bool tls_mbed_client_stream_is(const struct mx_stream *st);
int tls_mbed_client_stream_info(const struct mx_stream *st,
		struct mx_tls_client_info *out);

#endif /* MX_TLS_PRIV_H */
