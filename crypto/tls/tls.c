/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tls: the public calls of mx_tls.h that are not the backend's business
 * (tls_backend.h). It picks the backend at create and dispatches to it,
 * and holds the logic both backends share so it exists once: the
 * configuration defaults and checks, the matchers of connection profiles
 * (CIDR, sender domain, RFC 6125 names and cert_match patterns), the
 * MAIL FROM reply wording, and the Prometheus text of the counters.
 *
 * Threads: create, reload, free and the metrics view on the control
 * thread; the metrics text on any thread but a worker's (it takes the
 * control thread's mlock); the matchers and the stream calls on a
 * worker's thread, reading only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mx_base.h"
#include "mx_log.h"
#include "mx_metrics.h"
#include "tls_backend.h"

/* ::ffff:0:0/96, RFC 4291 2.5.5.2. */
static const uint8_t tls_v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static const struct tls_backend *const tls_backends[] = {
	[MX_TLS_BACKEND_MBEDTLS] = &tls_mbed_backend,
	[MX_TLS_BACKEND_OPENSSL] = &tls_ossl_backend,
};

void
tls_err(char *err, size_t errsize, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errsize == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errsize, fmt, ap);
	va_end(ap);
}

const char *
tls_version_name(enum mx_tls_version v)
{
	switch (v) {
	case MX_TLS_V1_0:
		return "TLSv1.0";
	case MX_TLS_V1_1:
		return "TLSv1.1";
	case MX_TLS_V1_2:
		return "TLSv1.2";
	case MX_TLS_V1_3:
		return "TLSv1.3";
	}
	return "TLS";
}

void
mx_tls_conf_defaults(struct mx_tls_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->backend = MX_TLS_BACKEND_MBEDTLS;
	c->min_version = MX_TLS_V1_0;
	c->suites = MX_TLS_SUITES_DEFAULT;
	c->workers = 1;
	/* A key is replaced every lifetime and kept one more to decrypt
	 * (TLS_TICKET_KEYS): a ticket stays valid one lifetime after issue. */
	c->ticket_lifetime_s = 12 * 3600;
	c->cache_size = 1000;
	c->cache_timeout_s = 3600;
	c->pool_max = 64;
	c->expiry_warn_days = 30;
}

int
tls_conf_check(const struct mx_tls_conf *c, char *err, size_t errsize)
{
	unsigned i;

	if (c->n_certs == 0 || c->n_certs > MX_TLS_MAX_CERTS) {
		tls_err(err, errsize, "tls: between 1 and %d certificates", MX_TLS_MAX_CERTS);
		return -EINVAL;
	}
	if (c->workers == 0 || c->workers > 4096 || c->min_version > MX_TLS_V1_3 ||
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
		if (strlen(c->cert_files[i]) >= 256 || strlen(c->key_files[i]) >= 256) {
			tls_err(err, errsize, "tls: certificate %u: file name too long", i + 1);
			return -EINVAL;
		}
	}
	return 0;
}

void
mx_tls_client_conf_defaults(struct mx_tls_client_conf *c)
{
	memset(c, 0, sizeof(*c));
	/* A hop we configure ourselves: no reason to accept less than TLS
	 * 1.2 (RFC 8996 deprecates 1.0 and 1.1). */
	c->min_version = MX_TLS_V1_2;
	c->verify = MX_TLS_VERIFY_SECURE;
	c->workers = 1;
	c->backend = MX_TLS_BACKEND_MBEDTLS;
}

int
tls_client_conf_check(const struct mx_tls_client_conf *c,
		enum mx_tls_version max_version, char *err, size_t errsize)
{
	if (c->workers == 0 || c->workers > 4096 || c->verify > MX_TLS_VERIFY_SECURE) {
		tls_err(err, errsize, "tls client: invalid configuration");
		return -EINVAL;
	}
	if (c->min_version > max_version) {
		tls_err(err, errsize, "tls client: %s is not available with this backend",
				tls_version_name(c->min_version));
		return -EINVAL;
	}
	if (c->verify != MX_TLS_VERIFY_NONE && c->ca_file == NULL) {
		tls_err(err, errsize, "tls client: verifying needs a CA file");
		return -EINVAL;
	}
	if ((c->cert_file == NULL) != (c->key_file == NULL)) {
		tls_err(err, errsize, "tls client: a client certificate needs its key "
				"and a key its certificate");
		return -EINVAL;
	}
	return 0;
}

/* ---- the ctx head and dispatch ------------------------------------------ */

void
tls_ctx_init(struct mx_tls_ctx *ctx, const struct tls_backend *be, unsigned workers)
{
	ctx->be = be;
	ctx->n_workers = workers;
	pthread_mutex_init(&ctx->mlock, NULL);
}

void
tls_ctx_fini(struct mx_tls_ctx *ctx)
{
	pthread_mutex_destroy(&ctx->mlock);
}

void
tls_ctx_show(struct mx_tls_ctx *ctx, const char *const *prof, unsigned n_prof,
		const char *const *files, const long *days, unsigned n_certs)
{
	unsigned i;

	pthread_mutex_lock(&ctx->mlock);
	for (i = 0; i < n_prof && i < MX_TLS_MAX_PROFILES; i++) {
		/* A profile renamed or moved by a reload starts from zero
		 * rather than inherit another profile's counts. */
		if (i >= ctx->n_prof_names || strcmp(ctx->prof_names[i], prof[i]) != 0) {
			atomic_store_explicit(&ctx->pstats.mail_plain[i + 1], 0,
					memory_order_relaxed);
			atomic_store_explicit(&ctx->pstats.mail_tls[i + 1], 0,
					memory_order_relaxed);
		}
		snprintf(ctx->prof_names[i], sizeof(ctx->prof_names[i]), "%s", prof[i]);
	}
	ctx->n_prof_names = i;
	for (i = 0; i < n_certs && i < MX_TLS_MAX_CERTS; i++) {
		snprintf(ctx->cert_files[i], sizeof(ctx->cert_files[i]), "%s", files[i]);
		ctx->cert_days[i] = days[i];
	}
	ctx->n_cert_files = i;
	pthread_mutex_unlock(&ctx->mlock);
}

int
mx_tls_ctx_create_policy(const struct mx_tls_conf *conf,
		const struct mx_tls_policy *policy, struct mx_tls_ctx **out,
		char *err, size_t errsize)
{
	if (conf == NULL || out == NULL)
		return -EINVAL;
	if ((unsigned)conf->backend >= MX_ARRAY_SIZE(tls_backends)) {
		tls_err(err, errsize, "tls: unknown backend");
		return -EINVAL;
	}
	return tls_backends[conf->backend]->ctx_create(conf, policy, out, err, errsize);
}

int
mx_tls_ctx_create(const struct mx_tls_conf *conf, struct mx_tls_ctx **out,
		char *err, size_t errsize)
{
	return mx_tls_ctx_create_policy(conf, NULL, out, err, errsize);
}

int
mx_tls_ctx_reload(struct mx_tls_ctx *ctx, const struct mx_tls_conf *conf,
		const struct mx_tls_policy *policy, char *err, size_t errsize)
{
	if (ctx == NULL || conf == NULL)
		return -EINVAL;
	if ((unsigned)conf->backend >= MX_ARRAY_SIZE(tls_backends) ||
			tls_backends[conf->backend] != ctx->be) {
		tls_err(err, errsize, "tls: the backend cannot change on reload "
				"(restart mxedge)");
		return -EINVAL;
	}
	if (conf->workers != ctx->n_workers) {
		tls_err(err, errsize, "tls: the number of workers cannot change on reload");
		return -EINVAL;
	}
	return ctx->be->ctx_reload(ctx, conf, policy, err, errsize);
}

void
mx_tls_ctx_free(struct mx_tls_ctx *ctx)
{
	if (ctx != NULL)
		ctx->be->ctx_free(ctx);
}

int
mx_tls_stream_create(struct mx_tls_ctx *ctx, struct mx_stream *raw,
		struct mx_stream **out)
{
	return ctx->be->stream_create(ctx, raw, out);
}

bool
mx_tls_stream_is(const struct mx_stream *st)
{
	size_t i;

	for (i = 0; st != NULL && i < MX_ARRAY_SIZE(tls_backends); i++)
		if (tls_backends[i]->stream_is(st))
			return true;
	return false;
}

int
mx_tls_stream_info(const struct mx_stream *st, struct mx_tls_info *out)
{
	size_t i;

	for (i = 0; st != NULL && i < MX_ARRAY_SIZE(tls_backends); i++)
		if (tls_backends[i]->stream_is(st))
			return tls_backends[i]->stream_info(st, out);
	return -EINVAL;
}

int
mx_tls_policy_mail(struct mx_tls_ctx *ctx, struct mx_stream *st, struct mx_str domain,
		char *reply, size_t size)
{
	if (ctx == NULL || reply == NULL || size == 0)
		return 0;
	reply[0] = '\0';
	return ctx->be->policy_mail(ctx, st, domain, reply, size);
}

long
mx_tls_ctx_days_to_expiry(const struct mx_tls_ctx *ctx)
{
	long d = LONG_MAX;
	unsigned i;

	/* const: the lock is not taken; the control thread is the only
	 * writer and the caller (run.c's gauge) runs on it. */
	for (i = 0; i < ctx->n_cert_files; i++)
		d = MX_MIN(d, ctx->cert_days[i]);
	return d;
}

unsigned
mx_tls_ctx_cert_expiry(struct mx_tls_ctx *ctx, const char **files, long *days,
		unsigned max)
{
	unsigned i;

	for (i = 0; i < ctx->n_cert_files && i < max; i++) {
		files[i] = ctx->cert_files[i];
		days[i] = ctx->cert_days[i];
	}
	return i;
}

struct mx_tls_stats *
mx_tls_ctx_stats(struct mx_tls_ctx *ctx)
{
	return &ctx->stats;
}

struct mx_tls_policy_stats *
mx_tls_ctx_policy_stats(struct mx_tls_ctx *ctx)
{
	return &ctx->pstats;
}

/* ---- matching ------------------------------------------------------------ */

/* RFC 6125 6.4.3: a "*" only as the whole left-most label, matching
 * exactly one label. Case-insensitive (RFC 4343). */
bool
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

/* ---- the backend-neutral half of a profile -------------------------------- */

int
tls_prof_base_init(struct tls_prof_base *q, const struct mx_tls_profile *p,
		unsigned idx, enum mx_tls_version max_version, char *err, size_t errsize)
{
	unsigned i;

	if (p->name != NULL && p->name[0] != '\0')
		snprintf(q->name, sizeof(q->name), "%s", p->name);
	else
		snprintf(q->name, sizeof(q->name), "profile%u", idx + 1);
	if (p->n_clients > MX_TLS_MAX_MATCH || p->n_sender_domains > MX_TLS_MAX_MATCH ||
			p->n_ciphers > MX_TLS_MAX_MATCH || p->min_version > max_version ||
			p->suites > MX_TLS_SUITES_STRONG) {
		tls_err(err, errsize, "tls profile %s: invalid", q->name);
		return -EINVAL;
	}
	if (p->n_clients == 0 && p->n_sender_domains == 0) {
		tls_err(err, errsize, "tls profile %s: matches nothing (give clients "
				"and/or sender_domains)", q->name);
		return -EINVAL;
	}
	for (i = 0; i < p->n_clients; i++) {
		q->net[i] = p->clients[i];
		q->prefix[i] = p->client_prefix[i];
	}
	q->n_net = p->n_clients;
	for (i = 0; i < p->n_sender_domains; i++) {
		q->domains[i] = strdup(p->sender_domains[i] != NULL ? p->sender_domains[i] : "");
		if (q->domains[i] == NULL)
			return -ENOMEM;
		q->n_domains = i + 1;
	}
	q->require_tls = p->require_tls;
	q->min_version = p->min_version;
	return 0;
}

int
tls_prof_base_client(struct tls_prof_base *q, const struct mx_tls_profile *p,
		char *err, size_t errsize)
{
	q->client_cert = p->client_cert;
	if (p->client_cert > MX_TLS_CLIENT_CERT_REQUIRED) {
		tls_err(err, errsize, "tls profile %s: invalid client_cert", q->name);
		return -EINVAL;
	}
	if (p->client_cert == MX_TLS_CLIENT_CERT_REQUIRED && p->ca_file == NULL) {
		tls_err(err, errsize, "tls profile %s: client_cert required needs ca_file "
				"(the CAs trusted for client certificates)", q->name);
		return -EINVAL;
	}
	return 0;
}

int
tls_prof_base_cert_match(struct tls_prof_base *q, const struct mx_tls_profile *p,
		char *err, size_t errsize)
{
	if (p->cert_match == NULL)
		return 0;
	if (strcasecmp(p->cert_match, TLS_SENDER_DOMAIN) == 0) {
		q->match_sender = true;
		return 0;
	}
	if (!tls_pattern_ok(p->cert_match)) {
		tls_err(err, errsize, "tls profile %s: cert_match %s is neither a host name, "
				"a \"*.\" pattern nor sender-domain", q->name, p->cert_match);
		return -EINVAL;
	}
	q->cert_match = strdup(p->cert_match);
	return q->cert_match == NULL ? -ENOMEM : 0;
}

void
tls_prof_base_free(struct tls_prof_base *q)
{
	unsigned i;

	for (i = 0; i < q->n_domains; i++)
		free(q->domains[i]);
	free(q->cert_match);
}

bool
tls_prof_base_by_addr(const struct tls_prof_base *q, const struct mx_addr *addr)
{
	unsigned i;

	for (i = 0; i < q->n_net; i++)
		if (mx_tls_cidr_match(&q->net[i], q->prefix[i], addr))
			return true;
	return false;
}

bool
tls_prof_base_by_domain(const struct tls_prof_base *q, struct mx_str domain)
{
	unsigned i;

	for (i = 0; i < q->n_domains; i++)
		if (mx_tls_domain_match(q->domains[i], domain))
			return true;
	return false;
}

bool
tls_pattern_ok(const char *s)
{
	size_t i, len = strlen(s);

	if (len == 0 || len > 253)
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '*') {
			/* Only the whole left-most label (RFC 6125 6.4.3). */
			if (i != 0 || len < 3 || s[1] != '.')
				return false;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
					(c >= '0' && c <= '9') || c == '-' || c == '.'))
			return false;
	}
	return true;
}

bool
mx_tls_name_match(const char *pat, const char *name, size_t nlen)
{
	if (pat == NULL || name == NULL)
		return false;
	return tls_name_match(pat, strlen(pat), name, nlen);
}

bool
mx_tls_domain_match(const char *pat, struct mx_str domain)
{
	size_t plen;

	if (pat == NULL || domain.len == 0)
		return false;
	plen = strlen(pat);
	if (pat[0] != '.')
		return plen == domain.len && strncasecmp(pat, domain.p, plen) == 0;
	/* ".example.com": strictly below example.com, any depth. */
	return domain.len > plen &&
		strncasecmp(domain.p + domain.len - plen, pat, plen) == 0;
}

/* The address bytes to compare: an IPv4-mapped IPv6 peer (a dual-stack
 * listener) is compared as the IPv4 address it is. */
static const uint8_t *
cidr_bytes(const struct mx_addr *a, sa_family_t want, size_t *len)
{
	if (a->family == AF_INET && want == AF_INET) {
		*len = 4;
		return (const uint8_t *)&a->ip.v4;
	}
	if (a->family == AF_INET6 && want == AF_INET6) {
		*len = 16;
		return a->ip.v6.s6_addr;
	}
	if (a->family == AF_INET6 && want == AF_INET &&
			memcmp(a->ip.v6.s6_addr, tls_v4mapped, sizeof(tls_v4mapped)) == 0) {
		*len = 4;
		return a->ip.v6.s6_addr + 12;
	}
	return NULL;
}

bool
mx_tls_cidr_match(const struct mx_addr *net, unsigned prefix, const struct mx_addr *addr)
{
	const uint8_t *n, *a;
	size_t nlen, alen;
	unsigned full, rest;
	uint8_t mask;

	n = cidr_bytes(net, net->family, &nlen);
	a = cidr_bytes(addr, net->family, &alen);
	if (n == NULL || a == NULL || nlen != alen || prefix > nlen * 8)
		return false;
	full = prefix / 8;
	rest = prefix % 8;
	if (memcmp(n, a, full) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (uint8_t)(0xffu << (8 - rest));
	return (n[full] & mask) == (a[full] & mask);
}

static bool
pub_by_addr(const struct mx_tls_profile *p, const struct mx_addr *addr)
{
	unsigned i;

	for (i = 0; i < p->n_clients; i++)
		if (mx_tls_cidr_match(&p->clients[i], p->client_prefix[i], addr))
			return true;
	return false;
}

static bool
pub_by_domain(const struct mx_tls_profile *p, struct mx_str domain)
{
	unsigned i;

	for (i = 0; i < p->n_sender_domains; i++)
		if (mx_tls_domain_match(p->sender_domains[i], domain))
			return true;
	return false;
}

int
mx_tls_policy_match(const struct mx_tls_policy *policy, const struct mx_addr *addr,
		struct mx_str domain)
{
	unsigned i;

	for (i = 0; policy != NULL && i < policy->n_profiles; i++) {
		const struct mx_tls_profile *p = &policy->profiles[i];

		if ((addr != NULL && pub_by_addr(p, addr)) || pub_by_domain(p, domain))
			return (int)i;
	}
	return -1;
}

/*
 * Reply codes at MAIL FROM. Plaintext where a profile wants TLS: 530
 * 5.7.0, the reply RFC 3207 4 gives for "Must issue a STARTTLS command
 * first"; the client can still upgrade and retry in the same session.
 * TLS that is there but not good enough (version, suite, client
 * certificate): 550 5.7.0. Not 454 (RFC 3207's temporary "TLS not
 * available"): the same client will negotiate the same version, suite and
 * certificate on every retry, so a temporary reply only queues the mail
 * for days before it bounces. Not 530 either: the session already is TLS
 * and a second STARTTLS is refused (RFC 3207 4.2), so "issue STARTTLS"
 * would be a false instruction. X.7.0 is RFC 3463 3.8's "other or
 * undefined security status"; the text says what was missing.
 */
int
tls_refuse(char *reply, size_t size, _Atomic uint64_t *ctr, const char *fmt, ...)
{
	va_list ap;

	atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed);
	va_start(ap, fmt);
	vsnprintf(reply, size, fmt, ap);
	va_end(ap);
	return (reply[0] == '5' && reply[1] == '3') ? 530 : 550;
}

/* ---- metrics --------------------------------------------------------------- */

static uint64_t
ld(const _Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

/* A label value: backslash, quote and newline escaped (text format). */
static void
mlabel(struct mx_metrics_buf *o, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			mx_metrics_put(o, "\\%c", *s);
		else if (*s == '\n')
			mx_metrics_put(o, "\\n");
		else
			mx_metrics_put(o, "%c", *s);
	}
}

static void
m_failures(struct mx_metrics_buf *o, struct mx_tls_ctx *ctx)
{
	const struct {
		const char *reason;
		const _Atomic uint64_t *v;
	} r[] = {
		{ "version", &ctx->stats.fail_version },
		{ "cipher", &ctx->stats.fail_cipher },
		{ "no_client_cert", &ctx->pstats.fail_no_client_cert },
		{ "bad_client_cert", &ctx->pstats.fail_bad_client_cert },
		{ "cert_mismatch", &ctx->pstats.fail_cert_mismatch },
		{ "protocol", &ctx->pstats.fail_protocol },
		{ "eof", &ctx->stats.fail_eof },
		{ "other", &ctx->stats.fail_other },
	};
	size_t i;

	mx_metrics_put_family(o, "mxedge_tls_handshake_failures_total",
			"TLS handshakes that failed, by reason.", "counter");
	for (i = 0; i < MX_ARRAY_SIZE(r); i++)
		mx_metrics_put(o, "mxedge_tls_handshake_failures_total{reason=\"%s\"} %" PRIu64 "\n",
				r[i].reason, ld(r[i].v));
}

static void
m_refused(struct mx_metrics_buf *o, struct mx_tls_ctx *ctx)
{
	const struct mx_tls_policy_stats *ps = &ctx->pstats;
	const struct {
		const char *reason;
		const _Atomic uint64_t *v;
	} r[] = {
		{ "plaintext", &ps->refused_plain },
		{ "version", &ps->refused_version },
		{ "cipher", &ps->refused_cipher },
		{ "no_client_cert", &ps->refused_no_client_cert },
		{ "bad_client_cert", &ps->refused_bad_client_cert },
		{ "cert_mismatch", &ps->refused_cert_mismatch },
	};
	size_t i;

	mx_metrics_put_family(o, "mxedge_tls_policy_refused_total",
			"MAIL FROM refused by a TLS profile, by what was missing.", "counter");
	for (i = 0; i < MX_ARRAY_SIZE(r); i++)
		mx_metrics_put(o, "mxedge_tls_policy_refused_total{reason=\"%s\"} %" PRIu64 "\n",
				r[i].reason, ld(r[i].v));
}

static void
m_profiles(struct mx_metrics_buf *o, struct mx_tls_ctx *ctx)
{
	unsigned i;

	mx_metrics_put_family(o, "mxedge_tls_mail_total",
			"MAIL FROM commands by matching TLS profile, over plaintext or TLS.",
			"counter");
	for (i = 0; i <= ctx->n_prof_names; i++) {
		mx_metrics_put(o, "mxedge_tls_mail_total{profile=\"");
		mlabel(o, i == 0 ? "none" : ctx->prof_names[i - 1]);
		mx_metrics_put(o, "\",tls=\"no\"} %" PRIu64 "\n", ld(&ctx->pstats.mail_plain[i]));
		mx_metrics_put(o, "mxedge_tls_mail_total{profile=\"");
		mlabel(o, i == 0 ? "none" : ctx->prof_names[i - 1]);
		mx_metrics_put(o, "\",tls=\"yes\"} %" PRIu64 "\n", ld(&ctx->pstats.mail_tls[i]));
	}
	mx_metrics_put_family(o, "mxedge_tls_cert_expiry_days",
			"Whole days until a server certificate expires, by file.", "gauge");
	for (i = 0; i < ctx->n_cert_files; i++) {
		mx_metrics_put(o, "mxedge_tls_cert_expiry_days{cert=\"");
		mlabel(o, ctx->cert_files[i]);
		mx_metrics_put(o, "\"} %ld\n", ctx->cert_days[i]);
	}
}

size_t
mx_tls_ctx_metrics(struct mx_tls_ctx *ctx, char *buf, size_t size)
{
	struct mx_metrics_buf o = { .buf = buf, .size = size, .len = 0 };

	if (size > 0)
		buf[0] = '\0';
	mx_metrics_put_family(&o, "mxedge_tls_handshakes_total", "TLS handshakes completed.",
			"counter");
	mx_metrics_put_sample(&o, "mxedge_tls_handshakes_total", NULL, ld(&ctx->stats.handshakes));
	mx_metrics_put_family(&o, "mxedge_tls_resumed_total",
			"TLS handshakes that resumed a session.", "counter");
	mx_metrics_put_sample(&o, "mxedge_tls_resumed_total", NULL, ld(&ctx->stats.resumed));
	m_failures(&o, ctx);
	m_refused(&o, ctx);
	pthread_mutex_lock(&ctx->mlock);
	m_profiles(&o, ctx);
	pthread_mutex_unlock(&ctx->mlock);
	return o.len;
}

/* ---- the client side: dispatch ------------------------------------------- */

int
mx_tls_client_create(const struct mx_tls_client_conf *conf, struct mx_tls_client **out,
		char *err, size_t errsize)
{
	if (conf == NULL || out == NULL)
		return -EINVAL;
	if ((unsigned)conf->backend >= MX_ARRAY_SIZE(tls_backends)) {
		tls_err(err, errsize, "tls client: unknown backend");
		return -EINVAL;
	}
	return tls_backends[conf->backend]->client_create(conf, out, err, errsize);
}

void
mx_tls_client_free(struct mx_tls_client *cl)
{
	if (cl != NULL)
		cl->be->client_free(cl);
}

int
mx_tls_client_stream_create(struct mx_tls_client *cl, struct mx_stream *raw,
		const char *name, const struct mx_stream_cb *cb, void *arg,
		struct mx_stream **out)
{
	if (cl == NULL || raw == NULL || out == NULL)
		return -EINVAL;
	return cl->be->client_stream_create(cl, raw, name, cb, arg, out);
}

bool
mx_tls_client_stream_is(const struct mx_stream *st)
{
	size_t i;

	for (i = 0; i < MX_ARRAY_SIZE(tls_backends); i++)
		if (tls_backends[i]->client_stream_is(st))
			return true;
	return false;
}

int
mx_tls_client_stream_info(const struct mx_stream *st, struct mx_tls_client_info *out)
{
	size_t i;

	for (i = 0; i < MX_ARRAY_SIZE(tls_backends); i++)
		if (tls_backends[i]->client_stream_is(st))
			return tls_backends[i]->client_stream_info(st, out);
	return -EINVAL;
}
