/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tls_ctx: one TLS server configuration (mx_tls_ctx_create): certificate
 * and key loading with the hygiene checks of DESIGN "TLS policy", the
 * cipher policy, SNI, the shared session cache and ticket keys, and one
 * mbedTLS configuration with its own random generator per worker (so the
 * DRBG is never contended across workers).
 *
 * Contract: control thread only (reads files, seeds from the OS); the
 * result is then read-only apart from the cache and ticket keys, which
 * mbedTLS guards with its own mutexes (MBEDTLS_THREADING_PTHREAD is on in
 * Debian's build).
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
#include "tls_priv.h"

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

MX_PRINTF(3, 4)
static void
tls_err(char *err, size_t errsize, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errsize == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errsize, fmt, ap);
	va_end(ap);
}

void
mx_tls_conf_defaults(struct mx_tls_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->min_version = MX_TLS_V1_0;
	c->suites = MX_TLS_SUITES_DEFAULT;
	c->workers = 1;
	/* mbedTLS keeps two keys: a ticket stays valid for one lifetime
	 * after issue and a key is replaced every lifetime. */
	c->ticket_lifetime_s = 12 * 3600;
	c->cache_size = 1000;
	c->cache_timeout_s = 3600;
	c->pool_max = 64;
	c->expiry_warn_days = 30;
}

static void
tls_add_suites(struct mx_tls_ctx *ctx, const char *const *names, unsigned *n)
{
	int id;

	for (; *names != NULL && *n < TLS_MAX_SUITES; names++) {
		id = mbedtls_ssl_get_ciphersuite_id(*names);
		/* A suite this build of mbedTLS lacks is skipped. */
		if (id != 0)
			ctx->suites[(*n)++] = id;
	}
}

static void
tls_build_suites(struct mx_tls_ctx *ctx)
{
	unsigned n = 0;

	tls_add_suites(ctx, tls_suites_strong, &n);
	if (ctx->cf.suites == MX_TLS_SUITES_DEFAULT)
		tls_add_suites(ctx, tls_suites_compat, &n);
	ctx->suites[n] = 0;
}

/* RFC 6125 6.4.3: a "*" only as the whole left-most label, matching
 * exactly one label. Case-insensitive (RFC 4343). */
static bool
tls_name_match(const char *pat, size_t plen, const char *name, size_t nlen)
{
	const char *dot;

	if (plen == nlen && strncasecmp(pat, name, plen) == 0)
		return true;
	if (plen < 3 || pat[0] != '*' || pat[1] != '.')
		return false;
	dot = memchr(name, '.', nlen);
	if (dot == NULL || dot == name)
		return false;
	return (size_t)(name + nlen - dot) == plen - 1 &&
		strncasecmp(dot, pat + 1, plen - 1) == 0;
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
	struct mx_tls_ctx *ctx = arg;
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
tls_check_key(const struct mx_tls_ctx *ctx, unsigned i, char *err, size_t errsize)
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
tls_check_crt(struct mx_tls_ctx *ctx, unsigned i, char *err, size_t errsize)
{
	const mbedtls_x509_crt *crt = &ctx->crt[i];
	const char *host = ctx->cf.hostname;
	long days = tls_days_until(&crt->valid_to);

	if (days < 0 || mbedtls_x509_time_is_past(&crt->valid_to)) {
		tls_err(err, errsize, "%s: certificate has expired",
				ctx->cf.cert_files[i]);
		return -EINVAL;
	}
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
tls_load_one(struct mx_tls_ctx *ctx, unsigned i, char *err, size_t errsize)
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

static int
tls_minor(enum mx_tls_version v)
{
	switch (v) {
	case MX_TLS_V1_0:
		return MBEDTLS_SSL_MINOR_VERSION_1;
	case MX_TLS_V1_1:
		return MBEDTLS_SSL_MINOR_VERSION_2;
	case MX_TLS_V1_2:
		break;
	}
	return MBEDTLS_SSL_MINOR_VERSION_3;
}

static int
tls_worker_setup(struct mx_tls_ctx *ctx, struct tls_worker *w, unsigned id)
{
	mbedtls_ssl_config *c = &w->conf;
	unsigned i;
	int rc;

	rc = mbedtls_ctr_drbg_seed(&w->drbg, mbedtls_entropy_func, &ctx->entropy,
			(const unsigned char *)&id, sizeof(id));
	if (rc != 0)
		return -EIO;
	rc = mbedtls_ssl_config_defaults(c, MBEDTLS_SSL_IS_SERVER,
			MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (rc != 0)
		return -ENOMEM;
	mbedtls_ssl_conf_rng(c, mbedtls_ctr_drbg_random, &w->drbg);
	mbedtls_ssl_conf_min_version(c, MBEDTLS_SSL_MAJOR_VERSION_3,
			tls_minor(ctx->cf.min_version));
	mbedtls_ssl_conf_max_version(c, MBEDTLS_SSL_MAJOR_VERSION_3,
			MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_ciphersuites(c, ctx->suites);
	mbedtls_ssl_conf_authmode(c, MBEDTLS_SSL_VERIFY_NONE);
	/* RFC 5746 secure renegotiation only, and no client-initiated
	 * renegotiation at all: it is a CPU DoS lever and SMTP never
	 * needs it. */
	mbedtls_ssl_conf_renegotiation(c, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
	mbedtls_ssl_conf_legacy_renegotiation(c, MBEDTLS_SSL_LEGACY_NO_RENEGOTIATION);
	for (i = 0; i < ctx->n_certs; i++) {
		rc = mbedtls_ssl_conf_own_cert(c, &ctx->crt[i], &ctx->pk[i]);
		if (rc != 0)
			return -ENOMEM;
	}
	mbedtls_ssl_conf_sni(c, tls_sni_cb, ctx);
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
tls_shared_setup(struct mx_tls_ctx *ctx, char *err, size_t errsize)
{
	int rc;

	rc = mbedtls_ctr_drbg_seed(&ctx->ticket_drbg, mbedtls_entropy_func,
			&ctx->entropy, tls_ticket_pers, sizeof(tls_ticket_pers) - 1);
	if (rc != 0) {
		tls_err(err, errsize, "tls: cannot seed the random generator");
		return -EIO;
	}
	if (ctx->cf.ticket_lifetime_s > 0) {
		/* Keys rotate every lifetime inside mbedTLS (two keys kept, so
		 * a ticket issued just before a rotation still parses). */
		rc = mbedtls_ssl_ticket_setup(&ctx->ticket, mbedtls_ctr_drbg_random,
				&ctx->ticket_drbg, MBEDTLS_CIPHER_AES_256_GCM,
				ctx->cf.ticket_lifetime_s);
		if (rc != 0) {
			tls_err(err, errsize, "tls: ticket keys setup failed");
			return -ENOMEM;
		}
		ctx->has_ticket = true;
	}
	if (ctx->cf.cache_size > 0) {
		mbedtls_ssl_cache_set_max_entries(&ctx->cache, (int)ctx->cf.cache_size);
		mbedtls_ssl_cache_set_timeout(&ctx->cache, (int)ctx->cf.cache_timeout_s);
		ctx->has_cache = true;
	}
	return 0;
}

static int
tls_conf_check(const struct mx_tls_conf *c, char *err, size_t errsize)
{
	unsigned i;

	if (c->n_certs == 0 || c->n_certs > MX_TLS_MAX_CERTS) {
		tls_err(err, errsize, "tls: between 1 and %d certificates", MX_TLS_MAX_CERTS);
		return -EINVAL;
	}
	if (c->workers == 0 || c->workers > 4096 || c->min_version > MX_TLS_V1_2 ||
			c->suites > MX_TLS_SUITES_STRONG || c->cache_size > INT32_MAX ||
			c->cache_timeout_s > INT32_MAX) {
		tls_err(err, errsize, "tls: invalid configuration");
		return -EINVAL;
	}
	for (i = 0; i < c->n_certs; i++) {
		if (c->cert_files[i] == NULL || c->key_files[i] == NULL) {
			tls_err(err, errsize, "tls: certificate %u has no key", i + 1);
			return -EINVAL;
		}
	}
	return 0;
}

static void
tls_ctx_init(struct mx_tls_ctx *ctx, const struct mx_tls_conf *conf)
{
	ctx->cf = *conf;
	ctx->days_left = LONG_MAX;
	mbedtls_entropy_init(&ctx->entropy);
	mbedtls_ctr_drbg_init(&ctx->ticket_drbg);
	mbedtls_ssl_ticket_init(&ctx->ticket);
	mbedtls_ssl_cache_init(&ctx->cache);
	tls_build_suites(ctx);
}

int
mx_tls_ctx_create(const struct mx_tls_conf *conf, struct mx_tls_ctx **out,
		char *err, size_t errsize)
{
	struct mx_tls_ctx *ctx;
	unsigned i;
	int rc;

	if (conf == NULL || out == NULL)
		return -EINVAL;
	rc = tls_conf_check(conf, err, errsize);
	if (rc < 0)
		return rc;
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL)
		return -ENOMEM;
	tls_ctx_init(ctx, conf);
	for (i = 0; i < conf->n_certs; i++) {
		rc = tls_load_one(ctx, i, err, errsize);
		if (rc < 0)
			goto fail;
	}
	rc = tls_shared_setup(ctx, err, errsize);
	if (rc < 0)
		goto fail;
	rc = -ENOMEM;
	ctx->w = aligned_alloc(64, sizeof(*ctx->w) * conf->workers);
	if (ctx->w == NULL)
		goto fail;
	memset(ctx->w, 0, sizeof(*ctx->w) * conf->workers);
	for (i = 0; i < conf->workers; i++) {
		mbedtls_ctr_drbg_init(&ctx->w[i].drbg);
		mbedtls_ssl_config_init(&ctx->w[i].conf);
		ctx->n_workers = i + 1;
		rc = tls_worker_setup(ctx, &ctx->w[i], i);
		if (rc < 0) {
			tls_err(err, errsize, "tls: worker %u setup failed", i);
			goto fail;
		}
	}
	*out = ctx;
	return 0;
fail:
	mx_tls_ctx_free(ctx);
	return rc;
}

void
mx_tls_ctx_free(struct mx_tls_ctx *ctx)
{
	unsigned i;

	if (ctx == NULL)
		return;
	for (i = 0; i < ctx->n_workers; i++) {
		tls_pool_drain(&ctx->w[i]);
		mbedtls_ssl_config_free(&ctx->w[i].conf);
		mbedtls_ctr_drbg_free(&ctx->w[i].drbg);
	}
	free(ctx->w);
	for (i = 0; i < ctx->n_certs; i++) {
		mbedtls_x509_crt_free(&ctx->crt[i]);
		mbedtls_pk_free(&ctx->pk[i]);
	}
	mbedtls_ssl_cache_free(&ctx->cache);
	mbedtls_ssl_ticket_free(&ctx->ticket);
	mbedtls_ctr_drbg_free(&ctx->ticket_drbg);
	mbedtls_entropy_free(&ctx->entropy);
	free(ctx);
}

long
mx_tls_ctx_days_to_expiry(const struct mx_tls_ctx *ctx)
{
	return ctx->days_left;
}

struct mx_tls_stats *
mx_tls_ctx_stats(struct mx_tls_ctx *ctx)
{
	return &ctx->stats;
}
