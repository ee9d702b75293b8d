/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tls_priv: what tls_ctx.c (configuration, certificates) and
 * tls_stream.c (the stream over a stream) share. Only crypto/tls sees
 * mbedTLS types.
 */
#ifndef MX_TLS_PRIV_H
#define MX_TLS_PRIV_H

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cache.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>

#include "mx_tls.h"

#define TLS_LOG "crypto.tls"
#define TLS_MAX_SUITES 32

struct tls_stream;

/* Per worker: only that worker's thread touches it after create. */
struct tls_worker {
	mbedtls_ctr_drbg_context drbg;
	mbedtls_ssl_config conf;
	struct tls_stream *pool;    /* idle sessions, already set up */
	unsigned n_pool;
} MX_CACHE_ALIGNED;

struct mx_tls_ctx {
	struct mx_tls_conf cf;
	unsigned n_certs;
	mbedtls_x509_crt crt[MX_TLS_MAX_CERTS];
	mbedtls_pk_context pk[MX_TLS_MAX_CERTS];
	long days_left;
	int suites[TLS_MAX_SUITES + 1];
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context ticket_drbg; /* used under the ticket mutex */
	mbedtls_ssl_ticket_context ticket;
	mbedtls_ssl_cache_context cache;
	bool has_ticket, has_cache;
	struct mx_tls_stats stats;
	unsigned n_workers;
	struct tls_worker *w;
};

/* tls_ctx.c: SNI, for the stream's configuration. */
int tls_sni_cb(void *arg, mbedtls_ssl_context *ssl, const unsigned char *name,
		size_t len);
/* tls_stream.c: frees the pooled sessions of one worker. */
void tls_pool_drain(struct tls_worker *w);

#endif /* MX_TLS_PRIV_H */
