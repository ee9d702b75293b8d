/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tls_ossl_policy: connection profiles (mx_tls.h "TLS policy") on the
 * OpenSSL backend, with the behaviour of tls_mbed_policy.c: the same
 * matching (the shared matchers of tls.c), the same reply wording
 * (tls_refuse) and the same failure reasons.
 *
 * Two places enforce a profile. At the handshake (profiles with clients,
 * chosen when the TLS stream is made, by address, without allocation):
 * each profile has its own SSL_CTX per worker, so OpenSSL itself refuses
 * a lower version, a suite outside the list or a missing or untrusted
 * client certificate, and ossl_verify_cb refuses a trusted certificate
 * that does not match cert_match (flagged X509_V_ERR_HOSTNAME_MISMATCH,
 * so it is counted as cert_mismatch, not as untrusted). At MAIL FROM
 * (tls_ossl_policy_mail): the first profile matching the address or the
 * sender domain is checked against the session as negotiated.
 *
 * Session resumption never crosses profiles: each profile's SSL_CTX has
 * its own session id context, which OpenSSL compares before it resumes
 * a session or a ticket, so a ticket from a profile without client
 * certificates cannot skip a profile that requires one.
 *
 * Threads: build and conf on the control thread; the matchers, the
 * verify callback and the MAIL FROM check on a worker's thread, reading
 * the generation and that worker's own SSL_CTXs only.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Only for mbedtls_ssl_get_ciphersuite_id: profiles name suites as the
 * mbedTLS backend spells them, so a configuration fits both. */
#include <mbedtls/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "mx_base.h"
#include "mx_log.h"
#include "tls_ossl.h"

/* RFC 8446 B.4 in the mbedTLS spelling (as tls_ossl_stream.c logs them),
 * beside OpenSSL's names. */
static const struct {
	const char *mx;
	const char *ossl;
	uint16_t id;
} ossl_tls13[] = {
	{ "TLS-AES-128-GCM-SHA256", "TLS_AES_128_GCM_SHA256", 0x1301 },
	{ "TLS-AES-256-GCM-SHA384", "TLS_AES_256_GCM_SHA384", 0x1302 },
	{ "TLS-CHACHA20-POLY1305-SHA256", "TLS_CHACHA20_POLY1305_SHA256", 0x1303 },
};

/* ---- matching --------------------------------------------------------------- */

int
ossl_prof_by_addr(const struct ossl_gen *g, const struct mx_addr *addr)
{
	unsigned i;

	for (i = 0; i < g->n_prof; i++)
		if (tls_prof_base_by_addr(&g->prof[i].b, addr))
			return (int)i;
	return -1;
}

/* ---- certificate names ------------------------------------------------------ */

typedef bool ossl_name_fn(const void *arg, const char *name, size_t len);

/* Calls fn on every dNSName of the SAN, or on the CN when there is no
 * dNSName (RFC 6125 6.4.4); true as soon as fn is. */
static bool
ossl_any_name(X509 *crt, ossl_name_fn *fn, const void *arg)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(crt, NID_subject_alt_name, NULL, NULL);
	const X509_NAME *subj = X509_get_subject_name(crt);
	const GENERAL_NAME *gn;
	const ASN1_STRING *v;
	bool had_dns = false, hit = false;
	int i;

	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens) && !hit; i++) {
		gn = sk_GENERAL_NAME_value(gens, i);
		if (gn->type != GEN_DNS)
			continue;
		had_dns = true;
		hit = fn(arg, (const char *)ASN1_STRING_get0_data(gn->d.dNSName),
				(size_t)ASN1_STRING_length(gn->d.dNSName));
	}
	GENERAL_NAMES_free(gens);
	if (hit || had_dns)
		return hit;
	for (i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1); i >= 0 && !hit;
			i = X509_NAME_get_index_by_NID(subj, NID_commonName, i)) {
		v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
		hit = fn(arg, (const char *)ASN1_STRING_get0_data(v),
				(size_t)ASN1_STRING_length(v));
	}
	return hit;
}

/* cert_match pattern (arg) against one certificate name. */
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

/* OpenSSL's verify callback on every handshake that asks for a client
 * certificate. Under a profile that requires one, OpenSSL's verdict
 * stands and depth 0 must also match cert_match; otherwise (optional,
 * or asked only for a sender-domain check at MAIL FROM) nothing is
 * enforced here: the result stays readable in SSL_get_verify_result. */
static int
ossl_verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	const struct ossl_prof *p;

	if (ssl == NULL)
		return ok;
	p = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	if (p == NULL || p->b.client_cert != MX_TLS_CLIENT_CERT_REQUIRED)
		return 1;
	if (!ok)
		return 0;
	if (X509_STORE_CTX_get_error_depth(xs) == 0 && p->b.cert_match != NULL &&
			!ossl_any_name(X509_STORE_CTX_get_current_cert(xs), name_fits_pattern,
				p->b.cert_match)) {
		X509_STORE_CTX_set_error(xs, X509_V_ERR_HOSTNAME_MISMATCH);
		return 0;
	}
	return 1;
}

/* ---- building --------------------------------------------------------------- */

/* Adds OpenSSL's name of the suite numbered id to list12 or list13. */
static int
suite_add(struct ossl_prof *q, STACK_OF(SSL_CIPHER) *all, uint16_t id,
		char *l12, char *l13, size_t size)
{
	const SSL_CIPHER *c;
	char *l;
	int i;

	for (i = 0; i < sk_SSL_CIPHER_num(all); i++) {
		c = sk_SSL_CIPHER_value(all, i);
		if (SSL_CIPHER_get_protocol_id(c) != id)
			continue;
		l = (id >> 8) == 0x13 ? l13 : l12;
		snprintf(l + strlen(l), size - strlen(l), "%s%s", l[0] != '\0' ? ":" : "",
				(id >> 8) == 0x13 ? SSL_CIPHER_standard_name(c) : SSL_CIPHER_get_name(c));
		if (q->n_ids < OSSL_PROF_SUITES)
			q->ids[q->n_ids++] = id;
		return 0;
	}
	return -ENOENT;
}

static int
suite_id(const char *name)
{
	unsigned i;

	for (i = 0; i < MX_ARRAY_SIZE(ossl_tls13); i++)
		if (strcasecmp(name, ossl_tls13[i].mx) == 0 ||
				strcasecmp(name, ossl_tls13[i].ossl) == 0)
			return ossl_tls13[i].id;
	return mbedtls_ssl_get_ciphersuite_id(name);
}

/* Named suites: every name must be one OpenSSL implements. Without a TLS
 * 1.3 name the profile allows no TLS 1.3 (its list is exhaustive). */
static int
prof_named(struct ossl_prof *q, const struct mx_tls_profile *p, SSL_CTX *tmp,
		char *err, size_t errsize)
{
	char l12[OSSL_LIST_MAX] = "", l13[256] = "";
	unsigned i;
	int id;

	if (SSL_CTX_set_cipher_list(tmp, "ALL:COMPLEMENTOFALL:@SECLEVEL=0") != 1)
		return -ENOMEM;
	for (i = 0; i < p->n_ciphers; i++) {
		id = p->ciphers[i] != NULL ? suite_id(p->ciphers[i]) : 0;
		if (id <= 0 || suite_add(q, SSL_CTX_get_ciphers(tmp), (uint16_t)id, l12, l13,
					sizeof(l12)) < 0) {
			tls_err(err, errsize, "tls profile %s: unknown cipher suite %s "
					"(IANA names as mbedTLS spells them, e.g. "
					"TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256)", q->b.name,
					p->ciphers[i] != NULL ? p->ciphers[i] : "(null)");
			return -EINVAL;
		}
	}
	if (l13[0] == '\0' && p->min_version == MX_TLS_V1_3) {
		tls_err(err, errsize, "tls profile %s: min_version 1.3 but no TLS 1.3 "
				"suite in ciphers", q->b.name);
		return -EINVAL;
	}
	if (l12[0] == '\0')
		snprintf(l12, sizeof(l12), "%s", ossl_tls13[0].ossl);
	else if (p->min_version < MX_TLS_V1_2)
		snprintf(l12 + strlen(l12), sizeof(l12) - strlen(l12), ":@SECLEVEL=0");
	q->list12 = strdup(l12);
	q->list13 = l13[0] != '\0' ? strdup(l13) : NULL;
	q->no13 = l13[0] == '\0';
	return q->list12 == NULL || (!q->no13 && q->list13 == NULL) ? -ENOMEM : 0;
}

/* A strength floor: the backend's own list for it, and every suite it
 * allows (OpenSSL's TLS 1.3 suites are all AEAD with ECDHE: allowed by
 * either floor). */
static int
prof_floor(struct ossl_prof *q, const struct mx_tls_profile *p, SSL_CTX *tmp)
{
	STACK_OF(SSL_CIPHER) *all;
	char l12[OSSL_LIST_MAX];
	int i;

	ossl_suite_list(p->suites, p->min_version, l12, sizeof(l12));
	if (SSL_CTX_set_cipher_list(tmp, l12) != 1)
		return -EINVAL;
	all = SSL_CTX_get_ciphers(tmp);
	for (i = 0; i < sk_SSL_CIPHER_num(all) && q->n_ids < OSSL_PROF_SUITES; i++)
		q->ids[q->n_ids++] = SSL_CIPHER_get_protocol_id(sk_SSL_CIPHER_value(all, i));
	q->list12 = strdup(l12);
	return q->list12 == NULL ? -ENOMEM : 0;
}

static int
prof_suites(struct ossl_prof *q, const struct mx_tls_profile *p, char *err, size_t errsize)
{
	SSL_CTX *tmp = SSL_CTX_new(TLS_server_method());
	int rc;

	if (tmp == NULL)
		return -ENOMEM;
	rc = p->n_ciphers > 0 ? prof_named(q, p, tmp, err, errsize) : prof_floor(q, p, tmp);
	SSL_CTX_free(tmp);
	ERR_clear_error();
	return rc;
}

/* The CA file must be readable and hold at least one certificate now,
 * so a mistake fails the start (or the reload), not every handshake. */
static int
prof_ca(struct ossl_prof *q, const char *file, char *err, size_t errsize)
{
	X509_STORE *st;
	FILE *f;
	int ok;

	f = fopen(file, "r");
	if (f == NULL) {
		tls_err(err, errsize, "tls profile %s: ca_file %s: %s", q->b.name, file,
				strerror(errno));
		return -ENOENT;
	}
	fclose(f);
	st = X509_STORE_new();
	if (st == NULL)
		return -ENOMEM;
	ok = X509_STORE_load_file(st, file) == 1 && sk_X509_OBJECT_num(X509_STORE_get0_objects(st)) > 0;
	X509_STORE_free(st);
	ERR_clear_error();
	if (!ok) {
		tls_err(err, errsize, "tls profile %s: ca_file %s: no certificate parsed",
				q->b.name, file);
		return -EINVAL;
	}
	q->ca_file = strdup(file);
	return q->ca_file == NULL ? -ENOMEM : 0;
}

static int
prof_cert(struct ossl_prof *q, const struct mx_tls_profile *p, char *err, size_t errsize)
{
	int rc;

	rc = tls_prof_base_client(&q->b, p, err, errsize);
	if (rc < 0)
		return rc;
	if (p->ca_file != NULL) {
		rc = prof_ca(q, p->ca_file, err, errsize);
		if (rc < 0)
			return rc;
	}
	return tls_prof_base_cert_match(&q->b, p, err, errsize);
}

static int
prof_one(struct ossl_prof *q, const struct mx_tls_profile *p, unsigned idx,
		char *err, size_t errsize)
{
	int rc;

	rc = tls_prof_base_init(&q->b, p, idx, MX_TLS_V1_3, err, errsize);
	if (rc < 0)
		return rc;
	rc = prof_suites(q, p, err, errsize);
	if (rc < 0)
		return rc;
	return prof_cert(q, p, err, errsize);
}

int
ossl_prof_build(struct ossl_gen *g, const struct mx_tls_policy *policy,
		char *err, size_t errsize)
{
	unsigned i;
	int rc;

	if (policy == NULL || policy->n_profiles == 0)
		return 0;
	if (policy->n_profiles > MX_TLS_MAX_PROFILES) {
		tls_err(err, errsize, "tls: more than %d profiles", MX_TLS_MAX_PROFILES);
		return -EINVAL;
	}
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
ossl_prof_free(struct ossl_gen *g)
{
	unsigned i;

	for (i = 0; i < g->n_prof; i++) {
		struct ossl_prof *q = &g->prof[i];

		tls_prof_base_free(&q->b);
		free(q->list12);
		free(q->list13);
		free(q->ca_file);
	}
	free(g->prof);
	g->prof = NULL;
	g->n_prof = 0;
}

static int
prof_verify(const struct ossl_prof *p, SSL_CTX *c)
{
	STACK_OF(X509_NAME) *names;
	int mode = SSL_VERIFY_PEER;

	if (p->b.client_cert == MX_TLS_CLIENT_CERT_REQUIRED)
		mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	if (p->b.client_cert != MX_TLS_CLIENT_CERT_NONE)
		SSL_CTX_set_verify(c, mode, ossl_verify_cb);
	if (p->ca_file == NULL)
		return 0;
	if (SSL_CTX_load_verify_file(c, p->ca_file) != 1)
		return -EINVAL;
	/* The CertificateRequest names the trusted CAs (RFC 5246 7.4.4),
	 * so a client with several certificates sends the right one. */
	names = SSL_load_client_CA_file(p->ca_file);
	if (names != NULL)
		SSL_CTX_set_client_CA_list(c, names);
	return 0;
}

int
ossl_prof_conf(struct ossl_gen *g, int i, SSL_CTX *c)
{
	unsigned char sid[32];
	const struct ossl_prof *p;
	int n;

	/* A sender-domain profile checks the client certificate at MAIL
	 * FROM, after the handshake: every handshake must then ask for one
	 * (and tolerate none), whatever connection profile it runs under. */
	if (g->sender_cert)
		SSL_CTX_set_verify(c, SSL_VERIFY_PEER, ossl_verify_cb);
	if (i < 0)
		return 0;
	p = &g->prof[i];
	SSL_CTX_set_app_data(c, (void *)(uintptr_t)p);
	n = snprintf((char *)sid, sizeof(sid), "mxedge-p%d", i);
	if (SSL_CTX_set_session_id_context(c, sid, (unsigned)n) != 1 ||
			SSL_CTX_set_min_proto_version(c, ossl_version(p->b.min_version)) != 1 ||
			SSL_CTX_set_cipher_list(c, p->list12) != 1)
		return -EINVAL;
	if (p->no13 && SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION) != 1)
		return -EINVAL;
	if (p->list13 != NULL && SSL_CTX_set_ciphersuites(c, p->list13) != 1)
		return -EINVAL;
	return prof_verify(p, c);
}

/* ---- failures ------------------------------------------------------------------ */

void
ossl_count_failure(struct tls_ossl_ctx *ctx, const SSL *ssl, int sslerr,
		unsigned long e, bool eof)
{
	struct mx_tls_stats *s = &ctx->pub.stats;
	struct mx_tls_policy_stats *ps = &ctx->pub.pstats;
	_Atomic uint64_t *c = &s->fail_other;

	if (e != 0 && ERR_GET_LIB(e) == ERR_LIB_SSL) {
		switch (ERR_GET_REASON(e)) {
		case SSL_R_UNSUPPORTED_PROTOCOL:
		case SSL_R_VERSION_TOO_LOW:
		case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
			c = &s->fail_version;
			break;
		case SSL_R_NO_SHARED_CIPHER:
		case SSL_R_NO_CIPHERS_AVAILABLE:
		case SSL_R_NO_SHARED_GROUPS:
			c = &s->fail_cipher;
			break;
		case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
			c = &ps->fail_no_client_cert;
			break;
		case SSL_R_CERTIFICATE_VERIFY_FAILED:
			/* Only our flag: trusted, but not what cert_match wants. */
			c = SSL_get_verify_result(ssl) == X509_V_ERR_HOSTNAME_MISMATCH ?
				&ps->fail_cert_mismatch : &ps->fail_bad_client_cert;
			break;
		default:
			c = &ps->fail_protocol;
			break;
		}
	} else if (sslerr == SSL_ERROR_SYSCALL || eof) {
		c = &s->fail_eof;
	}
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* ---- MAIL FROM ------------------------------------------------------------------- */

/* A MAIL FROM check; the reply codes and why: tls_refuse (tls.c). */
struct pol_check {
	const struct ossl_prof *p;
	struct ossl_worker *w;
	int idx;
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

/* Verifies crt against the profile's CA file, with the store of this
 * worker's own SSL_CTX for the profile (nothing shared with another
 * worker). XXX: X509_verify_cert allocates the chain it builds; this
 * runs once per MAIL FROM under a sender-domain profile with client
 * certificates, never per packet. */
static bool
pol_trusted(struct pol_check *k, const SSL *ssl, X509 *crt)
{
	X509_STORE *store = SSL_CTX_get_cert_store(k->w->pc[k->idx + 1]);
	bool ok;

	if (k->w->xs == NULL || store == NULL ||
			X509_STORE_CTX_init(k->w->xs, store, crt,
				SSL_get_peer_cert_chain(ssl)) != 1)
		return false;
	(void)X509_STORE_CTX_set_default(k->w->xs, "ssl_client");
	ok = X509_verify_cert(k->w->xs) == 1;
	X509_STORE_CTX_cleanup(k->w->xs);
	ERR_clear_error();
	return ok;
}

static int
pol_cert(struct tls_ossl_ctx *ctx, struct pol_check *k, const SSL *ssl,
		bool verified, struct mx_str domain)
{
	struct mx_tls_policy_stats *ps = &ctx->pub.pstats;
	X509 *crt = SSL_get0_peer_certificate(ssl);

	if (crt == NULL)
		return pol_refuse(k, &ps->refused_no_client_cert,
				"550 5.7.0 A client certificate is required for %s", k->who);
	if (!verified && !pol_trusted(k, ssl, crt))
		return pol_refuse(k, &ps->refused_bad_client_cert,
				"550 5.7.0 Client certificate not trusted for %s", k->who);
	if (k->p->b.match_sender && (domain.len == 0 ||
				!ossl_any_name(crt, name_covers_domain, &domain)))
		return pol_refuse(k, &ps->refused_cert_mismatch,
				"550 5.7.0 Client certificate does not name the sender domain %s",
				k->who);
	if (k->p->b.cert_match != NULL && !ossl_any_name(crt, name_fits_pattern,
				k->p->b.cert_match))
		return pol_refuse(k, &ps->refused_cert_mismatch,
				"550 5.7.0 Client certificate does not match the name required "
				"for %s", k->who);
	return 0;
}

static bool
suite_in(const struct ossl_prof *p, uint16_t id)
{
	unsigned i;

	for (i = 0; i < p->n_ids; i++)
		if (p->ids[i] == id)
			return true;
	return false;
}

static int
pol_tls(struct tls_ossl_ctx *ctx, struct pol_check *k, struct mx_stream *st,
		const SSL *ssl, bool same_prof, struct mx_str domain)
{
	struct mx_tls_policy_stats *ps = &ctx->pub.pstats;
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	const char *name = ossl_stream_cipher(st);

	if (SSL_version(ssl) < ossl_version(k->p->b.min_version))
		return pol_refuse(k, &ps->refused_version, "550 5.7.0 TLS version %s is "
				"below the %s required for %s", ossl_version_name(SSL_version(ssl)),
				tls_version_name(k->p->b.min_version), k->who);
	if (c == NULL || !suite_in(k->p, SSL_CIPHER_get_protocol_id(c)))
		return pol_refuse(k, &ps->refused_cipher, "550 5.7.0 TLS cipher suite %s "
				"is not allowed for %s", name != NULL ? name : "(none)", k->who);
	if (k->p->b.client_cert != MX_TLS_CLIENT_CERT_REQUIRED)
		return 0;
	return pol_cert(ctx, k, ssl, same_prof && SSL_get_verify_result(ssl) == X509_V_OK,
			domain);
}

int
tls_ossl_policy_mail(struct mx_tls_ctx *pub, struct mx_stream *st, struct mx_str domain,
		char *reply, size_t size)
{
	struct tls_ossl_ctx *ctx = (struct tls_ossl_ctx *)pub;
	struct pol_check k = { .reply = reply, .size = size };
	const SSL *ssl;
	struct ossl_gen *g;
	struct mx_addr peer;
	int conn_prof = -1;
	unsigned i, wid;

	wid = mx_loop_worker_id(mx_stream_loop(st));
	if (wid >= ctx->pub.n_workers)
		return 0;
	ssl = ossl_stream_ssl(st, &g, &conn_prof);
	if (ssl == NULL)
		g = ossl_gen_adopt(ctx, wid);
	mx_stream_peer(st, &peer);
	for (i = 0; i < g->n_prof; i++)
		if (tls_prof_base_by_addr(&g->prof[i].b, &peer) ||
				tls_prof_base_by_domain(&g->prof[i].b, domain))
			break;
	if (i == g->n_prof) {
		atomic_fetch_add_explicit(ssl != NULL ? &pub->pstats.mail_tls[0] :
				&pub->pstats.mail_plain[0], 1, memory_order_relaxed);
		return 0;
	}
	k.p = &g->prof[i];
	k.w = &g->w[wid];
	k.idx = (int)i;
	atomic_fetch_add_explicit(ssl != NULL ? &pub->pstats.mail_tls[i + 1] :
			&pub->pstats.mail_plain[i + 1], 1, memory_order_relaxed);
	if (tls_prof_base_by_domain(&k.p->b, domain))
		mx_printable(k.who, sizeof(k.who), domain.p, domain.len);
	else
		snprintf(k.who, sizeof(k.who), "your address");
	if (ssl != NULL)
		return pol_tls(ctx, &k, st, ssl, conn_prof == (int)i, domain);
	if (k.p->b.require_tls || k.p->b.client_cert == MX_TLS_CLIENT_CERT_REQUIRED)
		return pol_refuse(&k, &pub->pstats.refused_plain, "530 5.7.0 Must issue a "
				"STARTTLS command first (TLS required for %s)", k.who);
	return 0;
}
