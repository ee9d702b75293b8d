/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tls_ossl: the OpenSSL 3 backend's own types (tls_backend.h), shared by
 * tls_ossl_ctx.c (configuration, certificates, tickets, generations),
 * tls_ossl_policy.c (connection profiles, client certificates, MAIL FROM
 * checks), tls_ossl_stream.c (the stream over a stream, for both roles)
 * and tls_ossl_client.c (the relay's client side).
 *
 * Per worker, generation and connection profile one SSL_CTX of our own
 * (ossl_worker.pc[], picked by index when a stream is made), so a
 * handshake touches no SSL_CTX another worker uses: OpenSSL's session
 * cache lock is per SSL_CTX and so never contended, and no lock of ours
 * is on the handshake path. Ticket keys are shared without sharing
 * state: every worker derives the key of a period from one secret of the
 * ctx (HMAC-SHA256 of the period number), so all workers encrypt with the
 * same key and rotate at the same instant, with nothing to synchronise.
 */
#ifndef MX_TLS_OSSL_H
#define MX_TLS_OSSL_H

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "mx_stream_impl.h"
#include "mx_timer.h"
#include "mx_tls.h"
#include "tls_backend.h"

#define OSSL_TICKET_NAME 16u
#define OSSL_TICKET_KEY 32u

/* One period's ticket keys (name, AES-256 key, HMAC-SHA256 key). */
struct ossl_tkey {
	uint64_t period;
	uint8_t name[OSSL_TICKET_NAME];
	uint8_t aes[OSSL_TICKET_KEY];
	uint8_t mac[OSSL_TICKET_KEY];
	bool valid;
};

struct ossl_gen;

/* Most cipher suites one profile can allow, both lists together. */
#define OSSL_PROF_SUITES 64u

/* A connection profile as a generation keeps it (tls_ossl_policy.c;
 * strings owned). ids[] are the IANA suite numbers the profile allows,
 * TLS 1.3 ones included, for the MAIL FROM check. */
struct ossl_prof {
	struct tls_prof_base b;      /* matches and requirements (tls.c) */
	char *list12;                /* OpenSSL cipher list, TLS 1.2 and below */
	char *list13;                /* TLS 1.3 ciphersuites; NULL: OpenSSL's */
	bool no13;                   /* named suites without a TLS 1.3 one */
	uint16_t ids[OSSL_PROF_SUITES];
	unsigned n_ids;
	char *ca_file;               /* NULL: none */
};

/* Per worker: only that worker's thread touches it after create.
 * pc[0] is the SSL_CTX without a profile, pc[1 + i] profile i's. */
struct ossl_worker {
	SSL_CTX *pc[MX_TLS_MAX_PROFILES + 1];
	struct ossl_gen *gen;
	struct ossl_tkey tk[TLS_TICKET_KEYS]; /* [0] current, [1] previous */
	/* Made once: the MAIL FROM check of a client certificate against a
	 * profile the handshake did not run under reuses it. */
	X509_STORE_CTX *xs;
} MX_CACHE_ALIGNED;

/* One generation (reload): certificates and the per-worker SSL_CTXs.
 * Reference counted as in the mbedTLS backend. */
struct ossl_gen {
	_Atomic unsigned refs;
	struct tls_ossl_ctx *ctx;
	struct mx_tls_conf cf;       /* file names point into names[] */
	char names[MX_TLS_MAX_CERTS][2][256];
	unsigned n_certs;
	X509 *crt[MX_TLS_MAX_CERTS];
	STACK_OF(X509) *chain[MX_TLS_MAX_CERTS];
	EVP_PKEY *pk[MX_TLS_MAX_CERTS];
	long days[MX_TLS_MAX_CERTS];
	struct ossl_prof *prof;      /* [n_prof] */
	unsigned n_prof;
	/* Some sender-domain profile checks client certificates at MAIL
	 * FROM: every handshake then asks for one. */
	bool sender_cert;
	unsigned n_workers;
	struct ossl_worker *w;
};

struct ossl_wslot {
	_Atomic(struct ossl_gen *) next;
	struct ossl_gen *cur;
} MX_CACHE_ALIGNED;

struct tls_ossl_ctx {
	struct mx_tls_ctx pub;       /* first: the public pointer is this */
	struct ossl_gen *gen;        /* current: control thread */
	struct ossl_wslot *slot;     /* [n_workers] */
	/* The secret every period's ticket keys derive from; kept across
	 * reloads so tickets issued before stay valid. */
	uint8_t ticket_secret[32];
	unsigned ticket_lifetime_s;  /* 0: no tickets */
};

/* tls_ossl_ctx.c */
/* The OpenSSL cipher list of a strength floor and version floor (TLS
 * 1.0 and 1.1 need security level 0: they sign with SHA-1). */
#define OSSL_LIST_MAX 1024u
/* TLS1_VERSION ... TLS1_3_VERSION. */
int ossl_version(enum mx_tls_version v);
void ossl_suite_list(enum mx_tls_suites suites, enum mx_tls_version minv, char *buf,
		size_t size);
struct ossl_gen *ossl_gen_adopt(struct tls_ossl_ctx *ctx, unsigned wid);
void ossl_gen_put(struct ossl_gen *g);
/* tls_ossl_policy.c */
int ossl_prof_build(struct ossl_gen *g, const struct mx_tls_policy *policy,
		char *err, size_t errsize);
void ossl_prof_free(struct ossl_gen *g);
/* Applies profile i (-1: none) to a worker's SSL_CTX c. */
int ossl_prof_conf(struct ossl_gen *g, int i, SSL_CTX *c);
int ossl_prof_by_addr(const struct ossl_gen *g, const struct mx_addr *addr);
/* Handshake failures by reason, as the mbedTLS backend counts them. */
void ossl_count_failure(struct tls_ossl_ctx *ctx, const SSL *ssl, int sslerr,
		unsigned long e, bool eof);
/* tls_ossl_stream.c */
/* The established session of a TLS stream made by this backend (NULL
 * otherwise), with its generation and connection profile. */
const SSL *ossl_stream_ssl(const struct mx_stream *st, struct ossl_gen **gen,
		int *prof);
const char *ossl_stream_cipher(const struct mx_stream *st);
/* "TLSv1.0" ... "TLSv1.3" for an OpenSSL version number. */
const char *ossl_version_name(int v);
int tls_ossl_stream_create(struct mx_tls_ctx *pub, struct mx_stream *raw,
		struct mx_stream **out);
bool tls_ossl_stream_is(const struct mx_stream *st);
int tls_ossl_stream_info(const struct mx_stream *st, struct mx_tls_info *out);
int tls_ossl_policy_mail(struct mx_tls_ctx *pub, struct mx_stream *st,
		struct mx_str domain, char *reply, size_t size);

/* ---- tls_ossl_stream.c: a session as a stream over a stream ---------- */

/* Plaintext buffered for the owner (SMTP lines are at most 512 bytes,
 * message data streams through). */
#define OSSL_PLAIN_BUF 4096u

enum ossl_state {
	OSSL_HS = 0,
	OSSL_OPEN,
	OSSL_CLOSED,
	OSSL_DEAD,
};

struct ossl_stream;

/* What differs between the server session (tls_ossl_stream.c) and the
 * relay's client session (tls_ossl_client.c); the stream mechanics
 * (BIO pair, driving, buffers, close) are one code for both. */
struct ossl_role {
	const char *what;            /* logs: "session", "downstream" */
	/* The handshake completed: false when the role ended the stream. */
	bool (*established)(struct ossl_stream *t);
	/* The handshake or the session failed (OpenSSL's error e, or none;
	 * eof: the peer left); the stream is closing. */
	void (*failed)(struct ossl_stream *t, int sslerr, unsigned long e, bool eof);
	/* A close left output behind (NULL: not counted). */
	void (*dropped)(struct ossl_stream *t);
	/* After the owner's on_closed, before the stream is freed (NULL:
	 * nothing to release). */
	void (*release)(struct ossl_stream *t);
};

struct tls_ossl_client;

struct ossl_stream {
	struct mx_stream_base base;  /* first: struct mx_stream * is this */
	const struct ossl_role *role;
	/* Server role: */
	struct ossl_gen *gen;        /* referenced while the stream lives */
	struct ossl_worker *w;
	int prof;                    /* connection profile, -1: none */
	/* Client role: */
	struct tls_ossl_client *cl;
	unsigned vflags;             /* OSSL_VF_* the certificate check saw */
	/* Both: */
	int fail_err;                /* the owner's on_closed error; 0: raw's */
	const char *verify;          /* client: mx_tls_client_info.verify */
	struct mx_stream *raw;
	SSL *ssl;
	BIO *ext;                    /* our end of the pair */
	struct mx_timer kick;
	enum ossl_state state;
	bool established;
	bool want_writable;
	bool notify_read;
	bool eof;
	size_t roff, rlen;
	const char *cipher;          /* static */
	uint8_t rbuf[OSSL_PLAIN_BUF];
};

/* A new session of c for t, over a fresh BIO pair, with app data app. */
int ossl_stream_session(struct ossl_stream *t, SSL_CTX *c, void *app);
/* t (session made) becomes the stream over raw, whose callbacks it takes;
 * kick: drive it at once (a client speaks first). */
void ossl_stream_start(struct ossl_stream *t, const struct ossl_role *role,
		struct mx_stream *raw, bool kick);
bool ossl_stream_of(const struct mx_stream *st, const struct ossl_role *role);
void ossl_kick(struct ossl_stream *t);
/* The IANA suite name in the mbedTLS backend's spelling (static). */
const char *ossl_cipher_name(const SSL *ssl);

/* ---- tls_ossl_client.c: the relay's client side ------------------------ */
int tls_ossl_client_create(const struct mx_tls_client_conf *conf,
		struct mx_tls_client **out, char *err, size_t errsize);
void tls_ossl_client_free(struct mx_tls_client *cl);
int tls_ossl_client_stream_create(struct mx_tls_client *cl, struct mx_stream *raw,
		const char *name, const struct mx_stream_cb *cb, void *arg,
		struct mx_stream **out);
bool tls_ossl_client_stream_is(const struct mx_stream *st);
int tls_ossl_client_stream_info(const struct mx_stream *st,
		struct mx_tls_client_info *out);

#endif /* MX_TLS_OSSL_H */
