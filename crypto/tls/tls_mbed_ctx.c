/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tls_mbed_ctx: one mbedTLS server configuration (the mbedTLS backend of
 * mx_tls_ctx_create, tls_backend.h): certificate
 * and key loading with the hygiene checks of DESIGN "TLS policy", the
 * cipher policy, SNI, the shared session cache and ticket keys, and one
 * mbedTLS configuration per profile with its own random generator per
 * worker (so the DRBG is never contended across workers).
 *
 * Generations (reload): certificates, profiles and the per-worker
 * configurations form a struct tls_gen. The control thread builds and
 * checks a new one, then hands one reference to each worker's slot (an
 * atomic exchange, as run.c hands over configuration snapshots); a worker
 * adopts it at its next handshake or MAIL FROM check and drops its
 * reference to the old one, whose live streams hold their own until they
 * end. The last reference frees a generation. The session cache and the
 * ticket keys stay in the ctx, shared by all generations.
 *
 * Contract: create, reload and free on the control thread only (they
 * read files, seed from the OS); the generation is then read-only apart
 * from the cache and ticket keys, which mbedTLS guards with its own
 * mutexes (MBEDTLS_THREADING_PTHREAD is on in Debian's build).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <mbedtls/error.h>
#include <mbedtls/oid.h>

#include "mx_base.h"
#include "mx_log.h"
#include "tls_mbed.h"

/* Preference order, strongest first (the server's order wins: mbedTLS
 * does not honour the client's unless told to). ECDHE gives forward
 * secrecy; AES-GCM and ChaCha20-Poly1305 are the AEADs of TLS 1.2. */
static const char *const tls_suites_strong[] = {
	"TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384",
	"TLS-ECDHE-RSA-WITH-AES-256-GCM-SHA384",
	"TLS-ECDHE-ECDSA-WITH-CHACHA20-POLY1305-SHA256",
	"TLS-ECDHE-RSA-WITH-CHACHA20-POLY1305-SHA256",
	"TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256",
	"TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256",
	NULL,
};

/* Best effort: what old MTAs still speak (TLS 1.0/1.1 have only CBC
 * suites; some peers lack ECDHE). Opportunistic TLS with these beats the
 * plaintext the sender would fall back to (RFC 7435). No RC4, no 3DES,
 * no export or NULL suites: those are worse than useless. */
static const char *const tls_suites_compat[] = {
	"TLS-ECDHE-ECDSA-WITH-AES-256-CBC-SHA384",
	"TLS-ECDHE-RSA-WITH-AES-256-CBC-SHA384",
	"TLS-ECDHE-ECDSA-WITH-AES-128-CBC-SHA256",
	"TLS-ECDHE-RSA-WITH-AES-128-CBC-SHA256",
	"TLS-ECDHE-ECDSA-WITH-AES-256-CBC-SHA",
	"TLS-ECDHE-RSA-WITH-AES-256-CBC-SHA",
	"TLS-ECDHE-ECDSA-WITH-AES-128-CBC-SHA",
	"TLS-ECDHE-RSA-WITH-AES-128-CBC-SHA",
	"TLS-RSA-WITH-AES-256-GCM-SHA384",
	"TLS-RSA-WITH-AES-128-GCM-SHA256",
	"TLS-RSA-WITH-AES-256-CBC-SHA256",
	"TLS-RSA-WITH-AES-128-CBC-SHA256",
	"TLS-RSA-WITH-AES-256-CBC-SHA",
	"TLS-RSA-WITH-AES-128-CBC-SHA",
	NULL,
};

static const unsigned char tls_ticket_pers[] = "mxedge tls ticket keys";

static void
tls_add_suites(int *dst, const char *const *names, unsigned *n)
{
	int id;

	for (; *names != NULL && *n < TLS_MAX_SUITES; names++) {
		id = mbedtls_ssl_get_ciphersuite_id(*names);
		/* A suite this build of mbedTLS lacks is skipped. */
		if (id != 0)
			dst[(*n)++] = id;
	}
}

void
tls_suites_fill(int *dst, enum mx_tls_suites s)
{
	unsigned n = 0;

	tls_add_suites(dst, tls_suites_strong, &n);
	if (s == MX_TLS_SUITES_DEFAULT)
		tls_add_suites(dst, tls_suites_compat, &n);
	dst[n] = 0;
}

/* Does any dNSName of crt's SAN cover name? */
static bool
tls_crt_covers(const mbedtls_x509_crt *crt, const char *name, size_t nlen)
{
	const mbedtls_x509_sequence *cur;

	for (cur = &crt->subject_alt_names; cur != NULL; cur = cur->next) {
		if (cur->buf.p == NULL ||
				cur->buf.tag != (MBEDTLS_ASN1_CONTEXT_SPECIFIC |
					MBEDTLS_X509_SAN_DNS_NAME))
			continue;
		if (tls_name_match((const char *)cur->buf.p, cur->buf.len, name, nlen))
			return true;
	}
	return false;
}

int
tls_sni_cb(void *arg, mbedtls_ssl_context *ssl, const unsigned char *name,
		size_t len)
{
	struct tls_gen *ctx = arg;
	unsigned i;

	/* Every certificate whose SAN covers the name is offered (an RSA
	 * and an ECDSA one for the same host); the handshake picks the one
	 * the chosen suite needs. A name we have no certificate for gets
	 * the default ones: refusing would only push the sender to
	 * plaintext. */
	for (i = 0; i < ctx->n_certs; i++)
		if (tls_crt_covers(&ctx->crt[i], (const char *)name, len) &&
				mbedtls_ssl_set_hs_own_cert(ssl, &ctx->crt[i], &ctx->pk[i]) != 0)
			return -1;
	return 0;
}

static long
tls_days_until(const mbedtls_x509_time *t)
{
	struct tm tm;
	time_t when;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = t->year - 1900;
	tm.tm_mon = t->mon - 1;
	tm.tm_mday = t->day;
	tm.tm_hour = t->hour;
	tm.tm_min = t->min;
	tm.tm_sec = t->sec;
	when = timegm(&tm);
	return (long)((when - time(NULL)) / 86400);
}

static int
tls_check_key(const struct tls_gen *ctx, unsigned i, char *err, size_t errsize)
{
	const mbedtls_pk_context *pk = &ctx->pk[i];
	size_t bits = mbedtls_pk_get_bitlen(pk);
	size_t need;

	switch (mbedtls_pk_get_type(pk)) {
	case MBEDTLS_PK_RSA:
		need = 2048;
		break;
	case MBEDTLS_PK_ECKEY:
	case MBEDTLS_PK_ECDSA:
		need = 256;
		break;
	default:
		tls_err(err, errsize, "%s: key type %s not supported",
				ctx->cf.key_files[i], mbedtls_pk_get_name(pk));
		return -EINVAL;
	}
	if (bits < need && !ctx->cf.allow_weak_keys) {
		tls_err(err, errsize, "%s: %s key of %zu bits is below %zu "
				"(tls.allow_weak_keys to accept it)",
				ctx->cf.key_files[i], mbedtls_pk_get_name(pk), bits, need);
		return -EINVAL;
	}
	if (mbedtls_pk_check_pair(&ctx->crt[i].pk, pk) != 0) {
		tls_err(err, errsize, "%s: key does not match certificate %s",
				ctx->cf.key_files[i], ctx->cf.cert_files[i]);
		return -EINVAL;
	}
	return 0;
}

static int
tls_check_crt(struct tls_gen *ctx, unsigned i, char *err, size_t errsize)
{
	const mbedtls_x509_crt *crt = &ctx->crt[i];
	const char *host = ctx->cf.hostname;
	long days = tls_days_until(&crt->valid_to);

	if (days < 0 || mbedtls_x509_time_is_past(&crt->valid_to)) {
		tls_err(err, errsize, "%s: certificate has expired",
				ctx->cf.cert_files[i]);
		return -EINVAL;
	}
	ctx->days[i] = days;
	if (days < ctx->days_left)
		ctx->days_left = days;
	if (days < (long)ctx->cf.expiry_warn_days)
		MX_LOG(MX_LOG_WARN, TLS_LOG, "%s: certificate expires in %ld days",
				ctx->cf.cert_files[i], days);
	if (host != NULL && host[0] != '\0' && !tls_crt_covers(crt, host, strlen(host))) {
		if (ctx->cf.require_san_match) {
			tls_err(err, errsize, "%s: no subjectAltName covers %s",
					ctx->cf.cert_files[i], host);
			return -EINVAL;
		}
		MX_LOG(MX_LOG_WARN, TLS_LOG, "%s: no subjectAltName covers %s "
				"(clients that verify names will fail)",
				ctx->cf.cert_files[i], host);
	}
	return 0;
}

static int
tls_load_one(struct tls_gen *ctx, unsigned i, char *err, size_t errsize)
{
	char msg[128];
	int rc;

	mbedtls_x509_crt_init(&ctx->crt[i]);
	mbedtls_pk_init(&ctx->pk[i]);
	ctx->n_certs = i + 1;
	rc = mbedtls_x509_crt_parse_file(&ctx->crt[i], ctx->cf.cert_files[i]);
	if (rc != 0) {
		mbedtls_strerror(rc, msg, sizeof(msg));
		tls_err(err, errsize, "%s: %s", ctx->cf.cert_files[i], msg);
		return rc == MBEDTLS_ERR_PK_FILE_IO_ERROR ? -ENOENT : -EINVAL;
	}
	rc = mbedtls_pk_parse_keyfile(&ctx->pk[i], ctx->cf.key_files[i], NULL);
	if (rc != 0) {
		mbedtls_strerror(rc, msg, sizeof(msg));
		tls_err(err, errsize, "%s: %s", ctx->cf.key_files[i], msg);
		return rc == MBEDTLS_ERR_PK_FILE_IO_ERROR ? -ENOENT : -EINVAL;
	}
	rc = tls_check_key(ctx, i, err, errsize);
	if (rc < 0)
		return rc;
	return tls_check_crt(ctx, i, err, errsize);
}

int
tls_minor(enum mx_tls_version v)
{
	switch (v) {
	case MX_TLS_V1_0:
		return MBEDTLS_SSL_MINOR_VERSION_1;
	case MX_TLS_V1_1:
		return MBEDTLS_SSL_MINOR_VERSION_2;
	case MX_TLS_V1_2:
	case MX_TLS_V1_3:             /* refused at create: no TLS 1.3 in 2.28 */
		break;
	}
	return MBEDTLS_SSL_MINOR_VERSION_3;
}


/* The configuration every policy starts from: the global version floor,
 * suites and certificates. tls_prof_conf then narrows it. */
static int
tls_base_conf(struct tls_gen *g, struct tls_worker *w, mbedtls_ssl_config *c)
{
	struct tls_mbed_ctx *ctx = g->ctx;
	unsigned i;
	int rc;

	rc = mbedtls_ssl_config_defaults(c, MBEDTLS_SSL_IS_SERVER,
			MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (rc != 0)
		return -ENOMEM;
	mbedtls_ssl_conf_rng(c, mbedtls_ctr_drbg_random, &w->drbg);
	mbedtls_ssl_conf_min_version(c, MBEDTLS_SSL_MAJOR_VERSION_3,
			tls_minor(g->cf.min_version));
	mbedtls_ssl_conf_max_version(c, MBEDTLS_SSL_MAJOR_VERSION_3,
			MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_ciphersuites(c, g->suites);
	mbedtls_ssl_conf_authmode(c, MBEDTLS_SSL_VERIFY_NONE);
	/* RFC 5746 secure renegotiation only, and no client-initiated
	 * renegotiation at all: it is a CPU DoS lever and SMTP never
	 * needs it. */
	mbedtls_ssl_conf_renegotiation(c, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
	mbedtls_ssl_conf_legacy_renegotiation(c, MBEDTLS_SSL_LEGACY_NO_RENEGOTIATION);
	for (i = 0; i < g->n_certs; i++) {
		rc = mbedtls_ssl_conf_own_cert(c, &g->crt[i], &g->pk[i]);
		if (rc != 0)
			return -ENOMEM;
	}
	mbedtls_ssl_conf_sni(c, tls_sni_cb, g);
	if (ctx->has_cache)
		mbedtls_ssl_conf_session_cache(c, &ctx->cache, mbedtls_ssl_cache_get,
				mbedtls_ssl_cache_set);
	if (ctx->has_ticket)
		mbedtls_ssl_conf_session_tickets_cb(c, mbedtls_ssl_ticket_write,
				mbedtls_ssl_ticket_parse, &ctx->ticket);
	else
		mbedtls_ssl_conf_session_tickets(c, MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
	return 0;
}

static int
tls_worker_setup(struct tls_gen *g, struct tls_worker *w, unsigned id)
{
	unsigned i;
	int rc;

	rc = mbedtls_ctr_drbg_seed(&w->drbg, mbedtls_entropy_func, &g->ctx->entropy,
			(const unsigned char *)&id, sizeof(id));
	if (rc != 0)
		return -EIO;
	w->pc = calloc(1 + g->n_prof, sizeof(*w->pc));
	if (w->pc == NULL)
		return -ENOMEM;
	for (i = 0; i < 1 + g->n_prof; i++) {
		mbedtls_ssl_config_init(&w->pc[i].conf);
		w->n_pc = i + 1;
		rc = tls_base_conf(g, w, &w->pc[i].conf);
		if (rc == 0)
			rc = tls_prof_conf(g, (int)i - 1, &w->pc[i].conf);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int
tls_shared_setup(struct tls_mbed_ctx *ctx, const struct mx_tls_conf *cf,
		char *err, size_t errsize)
{
	int rc;

	rc = mbedtls_ctr_drbg_seed(&ctx->ticket_drbg, mbedtls_entropy_func,
			&ctx->entropy, tls_ticket_pers, sizeof(tls_ticket_pers) - 1);
	if (rc != 0) {
		tls_err(err, errsize, "tls: cannot seed the random generator");
		return -EIO;
	}
	if (cf->ticket_lifetime_s > 0) {
		/* Keys rotate every lifetime inside mbedTLS (two keys kept, so
		 * a ticket issued just before a rotation still parses). */
		rc = mbedtls_ssl_ticket_setup(&ctx->ticket, mbedtls_ctr_drbg_random,
				&ctx->ticket_drbg, MBEDTLS_CIPHER_AES_256_GCM,
				cf->ticket_lifetime_s);
		if (rc != 0) {
			tls_err(err, errsize, "tls: ticket keys setup failed");
			return -ENOMEM;
		}
		ctx->has_ticket = true;
	}
	if (cf->cache_size > 0) {
		mbedtls_ssl_cache_set_max_entries(&ctx->cache, (int)cf->cache_size);
		mbedtls_ssl_cache_set_timeout(&ctx->cache, (int)cf->cache_timeout_s);
		ctx->has_cache = true;
	}
	return 0;
}

/* The shared checks, and what mbedTLS 2.28 cannot do. */
static int
tls_mbed_conf_check(const struct mx_tls_conf *c, char *err, size_t errsize)
{
	int rc = tls_conf_check(c, err, errsize);

	if (rc < 0)
		return rc;
	if (c->min_version > MX_TLS_V1_2) {
		tls_err(err, errsize, "tls: TLS 1.3 as minimum version needs "
				"tls.backend openssl (mbedTLS 2.28 stops at TLS 1.2)");
		return -EINVAL;
	}
	return 0;
}

static void
tls_gen_free(struct tls_gen *g)
{
	struct tls_worker *w;
	unsigned i, j;

	for (i = 0; i < g->n_workers; i++) {
		w = &g->w[i];
		for (j = 0; j < w->n_pc; j++) {
			tls_pool_drain(&w->pc[j]);
			mbedtls_ssl_config_free(&w->pc[j].conf);
		}
		free(w->pc);
		mbedtls_ctr_drbg_free(&w->drbg);
	}
	free(g->w);
	tls_prof_free(g);
	for (i = 0; i < g->n_certs; i++) {
		mbedtls_x509_crt_free(&g->crt[i]);
		mbedtls_pk_free(&g->pk[i]);
	}
	free(g);
}

void
tls_gen_put(struct tls_gen *g)
{
	if (g != NULL && atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) == 1)
		tls_gen_free(g);
}

/* The generation keeps its own copy of the file names: the caller's
 * strings (a configuration snapshot) may go before it does. */
static void
tls_gen_names(struct tls_gen *g, const struct mx_tls_conf *conf)
{
	unsigned i;

	g->cf = *conf;
	for (i = 0; i < conf->n_certs; i++) {
		snprintf(g->names[i][0], sizeof(g->names[i][0]), "%s", conf->cert_files[i]);
		snprintf(g->names[i][1], sizeof(g->names[i][1]), "%s", conf->key_files[i]);
		g->cf.cert_files[i] = g->names[i][0];
		g->cf.key_files[i] = g->names[i][1];
	}
}

static int
tls_gen_workers(struct tls_gen *g, char *err, size_t errsize)
{
	unsigned i;
	int rc;

	g->w = aligned_alloc(64, sizeof(*g->w) * g->cf.workers);
	if (g->w == NULL)
		return -ENOMEM;
	memset(g->w, 0, sizeof(*g->w) * g->cf.workers);
	for (i = 0; i < g->cf.workers; i++) {
		mbedtls_ctr_drbg_init(&g->w[i].drbg);
		g->n_workers = i + 1;
		rc = tls_worker_setup(g, &g->w[i], i);
		if (rc < 0) {
			tls_err(err, errsize, "tls: worker %u setup failed", i);
			return rc;
		}
	}
	return 0;
}

/* Loads, checks and sets up one generation; refs start at 1. */
static int
tls_gen_create(struct tls_mbed_ctx *ctx, const struct mx_tls_conf *conf,
		const struct mx_tls_policy *policy, struct tls_gen **out,
		char *err, size_t errsize)
{
	struct tls_gen *g;
	unsigned i;
	int rc;

	rc = tls_mbed_conf_check(conf, err, errsize);
	if (rc < 0)
		return rc;
	if (policy != NULL && policy->n_profiles > MX_TLS_MAX_PROFILES) {
		tls_err(err, errsize, "tls: more than %d profiles", MX_TLS_MAX_PROFILES);
		return -EINVAL;
	}
	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return -ENOMEM;
	atomic_init(&g->refs, 1);
	g->ctx = ctx;
	g->days_left = LONG_MAX;
	tls_gen_names(g, conf);
	tls_suites_fill(g->suites, conf->suites);
	for (i = 0; i < conf->n_certs; i++) {
		rc = tls_load_one(g, i, err, errsize);
		if (rc < 0)
			goto fail;
	}
	/* Only the checks above needed it; the caller's string may go. */
	g->cf.hostname = NULL;
	rc = tls_prof_build(g, policy, err, errsize);
	if (rc == 0)
		rc = tls_gen_workers(g, err, errsize);
	if (rc < 0)
		goto fail;
	*out = g;
	return 0;
fail:
	tls_gen_free(g);
	return rc;
}

/* What the metrics endpoint shows of the generation now current. */
static void
tls_gen_show(struct tls_mbed_ctx *ctx, const struct tls_gen *g)
{
	const char *prof[MX_TLS_MAX_PROFILES];
	unsigned i;

	for (i = 0; i < g->n_prof && i < MX_TLS_MAX_PROFILES; i++)
		prof[i] = g->prof[i].b.name;
	tls_ctx_show(&ctx->pub, prof, i, g->cf.cert_files, g->days, g->n_certs);
}

/* Hands g to every worker and makes it current. Takes over the
 * caller's reference. */
static void
tls_gen_publish(struct tls_mbed_ctx *ctx, struct tls_gen *g)
{
	struct tls_gen *old;
	unsigned i;

	atomic_fetch_add_explicit(&g->refs, ctx->pub.n_workers, memory_order_relaxed);
	for (i = 0; i < ctx->pub.n_workers; i++) {
		/* A generation published before and never adopted. */
		old = atomic_exchange_explicit(&ctx->slot[i].next, g, memory_order_acq_rel);
		tls_gen_put(old);
	}
	tls_gen_show(ctx, g);
	old = ctx->gen;
	ctx->gen = g;
	tls_gen_put(old);
}

/* XXX: a worker that sees no STARTTLS and no MAIL FROM keeps its old
 * generation (certificates, pooled sessions) until it does, or until
 * mx_tls_ctx_free; a nudge from the loop's wakeup would release it
 * sooner, at the cost of a call into crypto/ on every wakeup. */
struct tls_gen *
tls_gen_adopt(struct tls_mbed_ctx *ctx, unsigned wid)
{
	struct tls_wslot *sl = &ctx->slot[wid];
	struct tls_gen *g;

	/* A plain load first: the exchange (a locked instruction) only
	 * when something was published. */
	if (atomic_load_explicit(&sl->next, memory_order_relaxed) != NULL) {
		g = atomic_exchange_explicit(&sl->next, NULL, memory_order_acq_rel);
		if (g != NULL) {
			tls_gen_put(sl->cur);
			sl->cur = g;
		}
	}
	return sl->cur;
}

static void
tls_mbed_ctx_init(struct tls_mbed_ctx *ctx, unsigned workers)
{
	tls_ctx_init(&ctx->pub, &tls_mbed_backend, workers);
	mbedtls_entropy_init(&ctx->entropy);
	mbedtls_ctr_drbg_init(&ctx->ticket_drbg);
	mbedtls_ssl_ticket_init(&ctx->ticket);
	mbedtls_ssl_cache_init(&ctx->cache);
}

static void tls_mbed_ctx_free(struct mx_tls_ctx *pub);

static int
tls_mbed_ctx_create(const struct mx_tls_conf *conf,
		const struct mx_tls_policy *policy, struct mx_tls_ctx **out,
		char *err, size_t errsize)
{
	struct tls_mbed_ctx *ctx;
	struct tls_gen *g;
	int rc;

	rc = tls_mbed_conf_check(conf, err, errsize);
	if (rc < 0)
		return rc;
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL)
		return -ENOMEM;
	tls_mbed_ctx_init(ctx, conf->workers);
	rc = -ENOMEM;
	ctx->slot = aligned_alloc(64, sizeof(*ctx->slot) * conf->workers);
	if (ctx->slot == NULL)
		goto fail;
	memset(ctx->slot, 0, sizeof(*ctx->slot) * conf->workers);
	rc = tls_shared_setup(ctx, conf, err, errsize);
	if (rc == 0)
		rc = tls_gen_create(ctx, conf, policy, &g, err, errsize);
	if (rc < 0)
		goto fail;
	tls_gen_publish(ctx, g);
	*out = &ctx->pub;
	return 0;
fail:
	tls_mbed_ctx_free(&ctx->pub);
	return rc;
}

static int
tls_mbed_ctx_reload(struct mx_tls_ctx *pub, const struct mx_tls_conf *conf,
		const struct mx_tls_policy *policy, char *err, size_t errsize)
{
	struct tls_mbed_ctx *ctx = (struct tls_mbed_ctx *)pub;
	struct tls_gen *g;
	int rc;

	rc = tls_mbed_conf_check(conf, err, errsize);
	if (rc == 0)
		rc = tls_gen_create(ctx, conf, policy, &g, err, errsize);
	if (rc < 0)
		return rc;
	tls_gen_publish(ctx, g);
	return 0;
}

static void
tls_mbed_ctx_free(struct mx_tls_ctx *pub)
{
	struct tls_mbed_ctx *ctx = (struct tls_mbed_ctx *)pub;
	unsigned i;

	for (i = 0; ctx->slot != NULL && i < ctx->pub.n_workers; i++) {
		tls_gen_put(atomic_exchange(&ctx->slot[i].next, NULL));
		tls_gen_put(ctx->slot[i].cur);
	}
	free(ctx->slot);
	tls_gen_put(ctx->gen);
	mbedtls_ssl_cache_free(&ctx->cache);
	mbedtls_ssl_ticket_free(&ctx->ticket);
	mbedtls_ctr_drbg_free(&ctx->ticket_drbg);
	mbedtls_entropy_free(&ctx->entropy);
	tls_ctx_fini(&ctx->pub);
	free(ctx);
}

const struct tls_backend tls_mbed_backend = {
	.name = "mbedtls",
	.ctx_create = tls_mbed_ctx_create,
	.ctx_reload = tls_mbed_ctx_reload,
	.ctx_free = tls_mbed_ctx_free,
	.stream_create = tls_mbed_stream_create,
	.stream_is = tls_mbed_stream_is,
	.client_create = tls_mbed_client_create,
	.client_free = tls_mbed_client_free,
	.client_stream_create = tls_mbed_client_stream_create,
	.client_stream_is = tls_mbed_client_stream_is,
	.client_stream_info = tls_mbed_client_stream_info,
	.stream_info = tls_mbed_stream_info,
	.policy_mail = tls_mbed_policy_mail,
};
