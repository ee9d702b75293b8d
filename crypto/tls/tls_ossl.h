/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tls_ossl: the OpenSSL 3 backend's own types (tls_backend.h), shared by
 * tls_ossl_ctx.c (configuration, certificates, tickets, generations) and
 * tls_ossl_stream.c (the stream over a stream).
 *
 * Per worker and generation one SSL_CTX of our own (ossl_worker), so a
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

/* Per worker: only that worker's thread touches it after create. */
struct ossl_worker {
	SSL_CTX *ssl_ctx;
	struct ossl_gen *gen;
	struct ossl_tkey tk[TLS_TICKET_KEYS]; /* [0] current, [1] previous */
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
struct ossl_gen *ossl_gen_adopt(struct tls_ossl_ctx *ctx, unsigned wid);
void ossl_gen_put(struct ossl_gen *g);
/* tls_ossl_stream.c */
int tls_ossl_stream_create(struct mx_tls_ctx *pub, struct mx_stream *raw,
		struct mx_stream **out);
bool tls_ossl_stream_is(const struct mx_stream *st);
int tls_ossl_stream_info(const struct mx_stream *st, struct mx_tls_info *out);
int tls_ossl_policy_mail(struct mx_tls_ctx *pub, struct mx_stream *st,
		struct mx_str domain, char *reply, size_t size);

#endif /* MX_TLS_OSSL_H */
