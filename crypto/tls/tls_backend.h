/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tls_backend: the seam between the public calls of mx_tls.h and the TLS
 * libraries behind them (issue 8). Internal to crypto/tls.
 *
 * A backend (mbedTLS in tls_mbed_*.c, OpenSSL 3 in tls_ossl_*.c) fills
 * one struct tls_backend. mx_tls_ctx_create_policy() picks it by
 * mx_tls_conf.backend; every later call on the ctx goes through ctx->be,
 * and the stream calls find their backend by asking each one whether it
 * made the stream (its own struct mx_stream_ops).
 *
 * struct mx_tls_ctx is the head every backend's own context starts with
 * (the backend's struct has it as its first member, so a backend turns
 * the public pointer into its own with a cast, as transports do with
 * mx_stream_base). It holds what is backend-neutral: the counters, and
 * the metrics view of the current generation (profile names, certificate
 * files and their days to expiry), which tls.c renders for both.
 *
 * Also here, shared by both backends so the rules exist once: the name
 * and pattern checks of RFC 6125, the hygiene thresholds, the ticket-key
 * rotation schedule, the version names.
 */
#ifndef MX_TLS_BACKEND_H
#define MX_TLS_BACKEND_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "mx_base.h"
#include "mx_tls.h"

#define TLS_LOG "crypto.tls"

struct tls_backend {
	const char *name;
	int (*ctx_create)(const struct mx_tls_conf *conf,
			const struct mx_tls_policy *policy, struct mx_tls_ctx **out,
			char *err, size_t errsize);
	int (*ctx_reload)(struct mx_tls_ctx *ctx, const struct mx_tls_conf *conf,
			const struct mx_tls_policy *policy, char *err, size_t errsize);
	void (*ctx_free)(struct mx_tls_ctx *ctx);
	int (*stream_create)(struct mx_tls_ctx *ctx, struct mx_stream *raw,
			struct mx_stream **out);
	bool (*stream_is)(const struct mx_stream *st);
	int (*stream_info)(const struct mx_stream *st, struct mx_tls_info *out);
	int (*policy_mail)(struct mx_tls_ctx *ctx, struct mx_stream *st,
			struct mx_str domain, char *reply, size_t size);
	/* The relay's client side (mx_tls_client_*): picked by
	 * mx_tls_client_conf.backend, found later through cl->be, and a
	 * client stream's backend by asking each one as for the server. */
	int (*client_create)(const struct mx_tls_client_conf *conf,
			struct mx_tls_client **out, char *err, size_t errsize);
	void (*client_free)(struct mx_tls_client *cl);
	int (*client_stream_create)(struct mx_tls_client *cl, struct mx_stream *raw,
			const char *name, const struct mx_stream_cb *cb, void *arg,
			struct mx_stream **out);
	bool (*client_stream_is)(const struct mx_stream *st);
	int (*client_stream_info)(const struct mx_stream *st,
			struct mx_tls_client_info *out);
};

extern const struct tls_backend tls_mbed_backend;
extern const struct tls_backend tls_ossl_backend;

struct mx_tls_ctx {
	const struct tls_backend *be;
	struct mx_tls_stats stats;
	struct mx_tls_policy_stats pstats;
	unsigned n_workers;
	/* What the metrics show of the current generation: written by the
	 * control thread, read by the metrics thread, under mlock (never
	 * taken by a worker). */
	pthread_mutex_t mlock;
	char prof_names[MX_TLS_MAX_PROFILES][MX_TLS_PROFILE_NAME];
	unsigned n_prof_names;
	char cert_files[MX_TLS_MAX_CERTS][256];
	long cert_days[MX_TLS_MAX_CERTS];
	unsigned n_cert_files;
};

/* The head every backend's client starts with, as struct mx_tls_ctx is
 * for the server side. */
struct mx_tls_client {
	const struct tls_backend *be;
};

/* Sets up the head (backend, workers, lock); tls_ctx_fini undoes it. */
void tls_ctx_init(struct mx_tls_ctx *ctx, const struct tls_backend *be,
		unsigned workers);
void tls_ctx_fini(struct mx_tls_ctx *ctx);
/* Publishes the metrics view of a generation now current: its profile
 * names (a renamed or moved profile restarts its counts from zero) and
 * its certificate files with their days to expiry. Control thread. */
void tls_ctx_show(struct mx_tls_ctx *ctx, const char *const *prof, unsigned n_prof,
		const char *const *files, const long *days, unsigned n_certs);

MX_PRINTF(3, 4)
void tls_err(char *err, size_t errsize, const char *fmt, ...);
/* The configuration checks both backends share (counts, ranges, file
 * names); the backend adds what it cannot do. */
int tls_conf_check(const struct mx_tls_conf *c, char *err, size_t errsize);
/* The client configuration checks both backends share; max_version is
 * the newest the backend can do. */
int tls_client_conf_check(const struct mx_tls_client_conf *c,
		enum mx_tls_version max_version, char *err, size_t errsize);

/* "TLSv1.0" ... "TLSv1.3". */
const char *tls_version_name(enum mx_tls_version v);

/* Hygiene (DESIGN "TLS policy"): the smallest key accepted. */
#define TLS_MIN_RSA_BITS 2048u
#define TLS_MIN_EC_BITS 256u

/* Ticket keys (both backends): a key encrypts new tickets for one
 * lifetime, then still decrypts for one more, so a ticket issued just
 * before a rotation stays valid for a full lifetime. */
#define TLS_TICKET_KEYS 2u

/* RFC 6125 6.4.3 name match on a length-delimited pattern. */
bool tls_name_match(const char *pat, size_t plen, const char *name, size_t nlen);
/* A cert_match value: a host name or a "*." pattern. */
bool tls_pattern_ok(const char *s);
#define TLS_SENDER_DOMAIN "sender-domain"

/* The backend-neutral half of a connection profile: what it matches and
 * what it asks of the client. Each backend's profile struct starts with
 * one (member b) and adds its library's objects (suites, CA store). */
struct tls_prof_base {
	char name[MX_TLS_PROFILE_NAME];
	struct mx_addr net[MX_TLS_MAX_MATCH];
	uint8_t prefix[MX_TLS_MAX_MATCH];
	unsigned n_net;
	char *domains[MX_TLS_MAX_MATCH];
	unsigned n_domains;
	bool require_tls;
	enum mx_tls_version min_version;
	enum mx_tls_client_cert client_cert;
	char *cert_match;           /* NULL, a name pattern */
	bool match_sender;          /* cert_match: sender-domain */
};

/* Profile idx's name, matches, require_tls and version floor (at most
 * max_version, what the backend can do); -EINVAL with the reason in err,
 * or -ENOMEM. */
int tls_prof_base_init(struct tls_prof_base *q, const struct mx_tls_profile *p,
		unsigned idx, enum mx_tls_version max_version, char *err, size_t errsize);
/* The client_cert mode, checked against the profile's ca_file. */
int tls_prof_base_client(struct tls_prof_base *q, const struct mx_tls_profile *p,
		char *err, size_t errsize);
/* cert_match: a name pattern, or the sender domain. */
int tls_prof_base_cert_match(struct tls_prof_base *q, const struct mx_tls_profile *p,
		char *err, size_t errsize);
void tls_prof_base_free(struct tls_prof_base *q);
bool tls_prof_base_by_addr(const struct tls_prof_base *q, const struct mx_addr *addr);
bool tls_prof_base_by_domain(const struct tls_prof_base *q, struct mx_str domain);

/* The MAIL FROM replies (RFC 3207 4, RFC 3463 3.8), counted in ctr; the
 * return is the reply code. See tls.c for why 530 or 550. */
MX_PRINTF(4, 5)
int tls_refuse(char *reply, size_t size, _Atomic uint64_t *ctr, const char *fmt, ...);

#endif /* MX_TLS_BACKEND_H */
