/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tls_mbed_policy: connection profiles (mx_tls.h "TLS policy") on mbedTLS. A profile is
 * matched by client network and/or sender domain, first match in list
 * order; it says whether TLS is required, the lowest version, the suites,
 * and whether a client certificate is asked for, trusted by which CA
 * file and naming what.
 *
 * Two places enforce a profile. At the handshake (profiles with clients,
 * chosen when the TLS stream is made): each profile has its own mbedTLS
 * configuration per worker (tls_prof_conf), so mbedTLS itself refuses a
 * lower version, a suite outside the list or a missing or untrusted
 * client certificate, and tls_verify_name refuses a certificate that does
 * not match cert_match. At MAIL FROM (mx_tls_policy_mail): the first
 * profile matching the address or the sender domain is checked against
 * the session as negotiated, with a reply that names what was missing.
 *
 * Also here: counting failed handshakes by reason. The matchers, the
 * reply wording and the metrics text are shared with the other backend
 * (tls.c).
 *
 * Threads: build and conf on the control thread; the matchers and the
 * MAIL FROM check on a worker's thread, reading the generation only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>

#include "mx_base.h"
#include "mx_log.h"
#include "tls_mbed.h"

/* ---- matching ------------------------------------------------------------ */

int
tls_prof_by_addr(const struct tls_gen *g, const struct mx_addr *addr)
{
	unsigned i;

	for (i = 0; i < g->n_prof; i++)
		if (tls_prof_base_by_addr(&g->prof[i].b, addr))
			return (int)i;
	return -1;
}

/* ---- certificate names -------------------------------------------------- */

/* Calls fn on every dNSName of the SAN, or on the CN when there is no
 * dNSName (RFC 6125 6.4.4); true as soon as fn is. */
static bool
crt_any_name(const mbedtls_x509_crt *crt,
		bool (*fn)(const void *arg, const char *name, size_t len), const void *arg)
{
	const mbedtls_x509_sequence *cur;
	const mbedtls_x509_name *n;
	bool had_dns = false;

	for (cur = &crt->subject_alt_names; cur != NULL; cur = cur->next) {
		if (cur->buf.p == NULL || cur->buf.tag != (MBEDTLS_ASN1_CONTEXT_SPECIFIC |
					MBEDTLS_X509_SAN_DNS_NAME))
			continue;
		had_dns = true;
		if (fn(arg, (const char *)cur->buf.p, cur->buf.len))
			return true;
	}
	if (had_dns)
		return false;
	for (n = &crt->subject; n != NULL; n = n->next) {
		if (n->oid.p != NULL && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0 &&
				fn(arg, (const char *)n->val.p, n->val.len))
			return true;
	}
	return false;
}

/* cert_match pattern (arg) against one certificate name. A certificate
 * name that is itself a wildcard matches only the same pattern. */
static bool
name_fits_pattern(const void *arg, const char *name, size_t len)
{
	const char *pat = arg;

	return tls_name_match(pat, strlen(pat), name, len);
}

/* The certificate's name (a pattern, "*." allowed) covers the domain. */
static bool
name_covers_domain(const void *arg, const char *name, size_t len)
{
	const struct mx_str *d = arg;

	return tls_name_match(name, len, d->p, d->len);
}

/* Depth 0 is the client's own certificate: it must match cert_match.
 * Flagging CN_MISMATCH makes mbedTLS refuse it with the other flags
 * intact, so the failure is counted as a mismatch, not as untrusted. */
static int
tls_verify_name(void *arg, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	const struct tls_prof *p = arg;

	if (depth == 0 && !crt_any_name(crt, name_fits_pattern, p->b.cert_match))
		*flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
	return 0;
}

/* ---- building ------------------------------------------------------------ */

static int
prof_suites(struct tls_prof *q, const struct mx_tls_profile *p, char *err, size_t errsize)
{
	unsigned i;
	int id;

	if (p->n_ciphers == 0) {
		tls_suites_fill(q->suites, p->suites);
		return 0;
	}
	for (i = 0; i < p->n_ciphers && i < TLS_MAX_SUITES; i++) {
		id = p->ciphers[i] != NULL ? mbedtls_ssl_get_ciphersuite_id(p->ciphers[i]) : 0;
		if (id == 0) {
			tls_err(err, errsize, "tls profile %s: unknown cipher suite %s "
					"(IANA names as mbedTLS spells them, e.g. "
					"TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256)", q->b.name,
					p->ciphers[i] != NULL ? p->ciphers[i] : "(null)");
			return -EINVAL;
		}
		q->suites[i] = id;
	}
	q->suites[i] = 0;
	return 0;
}

static int
prof_cert(struct tls_prof *q, const struct mx_tls_profile *p, char *err, size_t errsize)
{
	char msg[128];
	int rc;

	rc = tls_prof_base_client(&q->b, p, err, errsize);
	if (rc < 0)
		return rc;
	if (p->ca_file != NULL) {
		mbedtls_x509_crt_init(&q->ca);
		q->has_ca = true;
		rc = mbedtls_x509_crt_parse_file(&q->ca, p->ca_file);
		if (rc != 0) {
			mbedtls_strerror(rc, msg, sizeof(msg));
			tls_err(err, errsize, "tls profile %s: ca_file %s: %s", q->b.name,
					p->ca_file, rc > 0 ? "some certificates did not parse" : msg);
			return (rc == MBEDTLS_ERR_X509_FILE_IO_ERROR ||
					rc == MBEDTLS_ERR_PK_FILE_IO_ERROR) ? -ENOENT : -EINVAL;
		}
	}
	return tls_prof_base_cert_match(&q->b, p, err, errsize);
}

static int
prof_one(struct tls_prof *q, const struct mx_tls_profile *p, unsigned idx,
		char *err, size_t errsize)
{
	int rc;

	rc = tls_prof_base_init(&q->b, p, idx, MX_TLS_V1_2, err, errsize);
	if (rc < 0)
		return rc;
	if (prof_suites(q, p, err, errsize) < 0)
		return -EINVAL;
	return prof_cert(q, p, err, errsize);
}

int
tls_prof_build(struct tls_gen *g, const struct mx_tls_policy *policy,
		char *err, size_t errsize)
{
	unsigned i;
	int rc;

	if (policy == NULL || policy->n_profiles == 0)
		return 0;
	g->prof = calloc(policy->n_profiles, sizeof(*g->prof));
	if (g->prof == NULL)
		return -ENOMEM;
	for (i = 0; i < policy->n_profiles; i++) {
		g->n_prof = i + 1;
		rc = prof_one(&g->prof[i], &policy->profiles[i], i, err, errsize);
		if (rc < 0)
			return rc;
		if (g->prof[i].b.client_cert != MX_TLS_CLIENT_CERT_NONE && g->prof[i].b.n_domains > 0)
			g->sender_cert = true;
	}
	return 0;
}

void
tls_prof_free(struct tls_gen *g)
{
	unsigned i;

	for (i = 0; i < g->n_prof; i++) {
		struct tls_prof *q = &g->prof[i];

		tls_prof_base_free(&q->b);
		if (q->has_ca)
			mbedtls_x509_crt_free(&q->ca);
	}
	free(g->prof);
	g->prof = NULL;
	g->n_prof = 0;
}

int
tls_prof_conf(struct tls_gen *g, int i, mbedtls_ssl_config *c)
{
	struct tls_prof *p;

	/* A sender-domain profile checks the client certificate at MAIL
	 * FROM, after the handshake: every handshake must then ask for one
	 * (and tolerate none), whatever connection profile it runs under. */
	if (g->sender_cert)
		mbedtls_ssl_conf_authmode(c, MBEDTLS_SSL_VERIFY_OPTIONAL);
	if (i < 0)
		return 0;
	p = &g->prof[i];
	mbedtls_ssl_conf_min_version(c, MBEDTLS_SSL_MAJOR_VERSION_3,
			tls_minor(p->b.min_version));
	mbedtls_ssl_conf_ciphersuites(c, p->suites);
	if (p->b.client_cert == MX_TLS_CLIENT_CERT_REQUIRED)
		mbedtls_ssl_conf_authmode(c, MBEDTLS_SSL_VERIFY_REQUIRED);
	else if (p->b.client_cert == MX_TLS_CLIENT_CERT_OPTIONAL)
		mbedtls_ssl_conf_authmode(c, MBEDTLS_SSL_VERIFY_OPTIONAL);
	if (p->has_ca)
		mbedtls_ssl_conf_ca_chain(c, &p->ca, NULL);
	if (p->b.cert_match != NULL)
		mbedtls_ssl_conf_verify(c, tls_verify_name, p);
	return 0;
}

/* ---- failures ------------------------------------------------------------- */

static void
bump(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* mbedTLS's SSL module errors (ssl.h): -0x6000 to -0x7F80. */
static bool
ssl_module_err(int rc)
{
	int high = (-rc) & 0xFF80;

	return high >= 0x6000 && high <= 0x7F80;
}

void
tls_count_failure(struct tls_mbed_ctx *ctx, const mbedtls_ssl_context *ssl, int rc)
{
	struct mx_tls_stats *s = &ctx->pub.stats;
	struct mx_tls_policy_stats *ps = &ctx->pub.pstats;

	switch (rc) {
	case MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION:
		bump(&s->fail_version);
		return;
	case MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN:
	case MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE:
		bump(&s->fail_cipher);
		return;
	case MBEDTLS_ERR_SSL_CONN_EOF:
	case MBEDTLS_ERR_NET_CONN_RESET:
		bump(&s->fail_eof);
		return;
	case MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE:
		bump(&ps->fail_no_client_cert);
		return;
	case MBEDTLS_ERR_X509_CERT_VERIFY_FAILED:
		/* Only our flag: trusted, but not the name cert_match wants. */
		if (mbedtls_ssl_get_verify_result(ssl) == MBEDTLS_X509_BADCERT_CN_MISMATCH)
			bump(&ps->fail_cert_mismatch);
		else
			bump(&ps->fail_bad_client_cert);
		return;
	case MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE:
	case MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE_VERIFY:
		bump(&ps->fail_bad_client_cert);
		return;
	default:
		break;
	}
	if (rc != MBEDTLS_ERR_SSL_ALLOC_FAILED && ssl_module_err(rc))
		bump(&ps->fail_protocol);
	else
		bump(&s->fail_other);
}

/* ---- MAIL FROM -------------------------------------------------------------- */

/* A MAIL FROM check; the reply codes and why: tls_refuse (tls.c). */
struct pol_check {
	const struct tls_prof *p;
	char who[128];          /* "example.com" or "your address" */
	char *reply;
	size_t size;
};

MX_PRINTF(3, 4)
static int
pol_refuse(struct pol_check *k, _Atomic uint64_t *ctr, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	return tls_refuse(k->reply, k->size, ctr, "%s", line);
}

static int
pol_cert(struct tls_mbed_ctx *ctx, struct pol_check *k, const mbedtls_ssl_context *ssl,
		bool verified, struct mx_str domain)
{
	struct mx_tls_policy_stats *ps = &ctx->pub.pstats;
	const mbedtls_x509_crt *crt = mbedtls_ssl_get_peer_cert(ssl);
	uint32_t flags = 0;

	if (crt == NULL)
		return pol_refuse(k, &ps->refused_no_client_cert,
				"550 5.7.0 A client certificate is required for %s", k->who);
	/* mbedtls_x509_crt_verify does not modify the chain; its prototype
	 * predates const. The handshake verified it already when it ran
	 * under this very profile. */
	if (!verified && mbedtls_x509_crt_verify((mbedtls_x509_crt *)(uintptr_t)crt,
				(mbedtls_x509_crt *)(uintptr_t)&k->p->ca, NULL, NULL, &flags,
				NULL, NULL) != 0)
		return pol_refuse(k, &ps->refused_bad_client_cert,
				"550 5.7.0 Client certificate not trusted for %s", k->who);
	if (k->p->b.match_sender && (domain.len == 0 ||
				!crt_any_name(crt, name_covers_domain, &domain)))
		return pol_refuse(k, &ps->refused_cert_mismatch,
				"550 5.7.0 Client certificate does not name the sender domain %s",
				k->who);
	if (k->p->b.cert_match != NULL && !crt_any_name(crt, name_fits_pattern,
				k->p->b.cert_match))
		return pol_refuse(k, &ps->refused_cert_mismatch,
				"550 5.7.0 Client certificate does not match the name required "
				"for %s", k->who);
	return 0;
}

static bool
suite_in(const int *list, int id)
{
	for (; *list != 0; list++)
		if (*list == id)
			return true;
	return false;
}

static int
pol_tls(struct tls_mbed_ctx *ctx, struct pol_check *k, const mbedtls_ssl_context *ssl,
		bool same_prof, struct mx_str domain)
{
	struct mx_tls_policy_stats *ps = &ctx->pub.pstats;
	const char *suite = mbedtls_ssl_get_ciphersuite(ssl);

	if (ssl->minor_ver < tls_minor(k->p->b.min_version))
		return pol_refuse(k, &ps->refused_version, "550 5.7.0 TLS version %s is "
				"below the %s required for %s", mbedtls_ssl_get_version(ssl),
				tls_version_name(k->p->b.min_version), k->who);
	if (suite == NULL || !suite_in(k->p->suites, mbedtls_ssl_get_ciphersuite_id(suite)))
		return pol_refuse(k, &ps->refused_cipher, "550 5.7.0 TLS cipher suite %s "
				"is not allowed for %s", suite != NULL ? suite : "(none)", k->who);
	if (k->p->b.client_cert != MX_TLS_CLIENT_CERT_REQUIRED)
		return 0;
	return pol_cert(ctx, k, ssl, same_prof, domain);
}

int
tls_mbed_policy_mail(struct mx_tls_ctx *pub, struct mx_stream *st, struct mx_str domain,
		char *reply, size_t size)
{
	struct tls_mbed_ctx *ctx = (struct tls_mbed_ctx *)pub;
	struct pol_check k = { .reply = reply, .size = size };
	const mbedtls_ssl_context *ssl;
	struct tls_gen *g;
	struct mx_addr peer;
	int conn_prof = -1;
	unsigned i, wid;

	ssl = tls_stream_ssl(st, &g, &conn_prof);
	if (ssl == NULL) {
		wid = mx_loop_worker_id(mx_stream_loop(st));
		if (wid >= ctx->pub.n_workers)
			return 0;
		g = tls_gen_adopt(ctx, wid);
	}
	mx_stream_peer(st, &peer);
	for (i = 0; i < g->n_prof; i++)
		if (tls_prof_base_by_addr(&g->prof[i].b, &peer) ||
				tls_prof_base_by_domain(&g->prof[i].b, domain))
			break;
	if (i == g->n_prof) {
		bump(ssl != NULL ? &ctx->pub.pstats.mail_tls[0] : &ctx->pub.pstats.mail_plain[0]);
		return 0;
	}
	k.p = &g->prof[i];
	bump(ssl != NULL ? &ctx->pub.pstats.mail_tls[i + 1] : &ctx->pub.pstats.mail_plain[i + 1]);
	if (tls_prof_base_by_domain(&k.p->b, domain))
		mx_printable(k.who, sizeof(k.who), domain.p, domain.len);
	else
		snprintf(k.who, sizeof(k.who), "your address");
	if (ssl != NULL)
		return pol_tls(ctx, &k, ssl, conn_prof == (int)i, domain);
	if (k.p->b.require_tls || k.p->b.client_cert == MX_TLS_CLIENT_CERT_REQUIRED)
		return pol_refuse(&k, &ctx->pub.pstats.refused_plain, "530 5.7.0 Must issue a "
				"STARTTLS command first (TLS required for %s)", k.who);
	return 0;
}
