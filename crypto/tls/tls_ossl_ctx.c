/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tls_ossl_ctx: one OpenSSL 3 server configuration (the OpenSSL backend
 * of mx_tls_ctx_create, tls_backend.h): certificate and key loading with
 * the same hygiene rules as the mbedTLS backend (DESIGN "TLS policy"),
 * the cipher policy, SNI, the session cache, session tickets whose keys
 * every worker derives for itself (tls_ossl.h), and one SSL_CTX per
 * worker and generation.
 *
 * RSA and ECDSA at once: one certificate per key type goes into the
 * SSL_CTX and OpenSSL picks by the client's signature algorithms and
 * suites. SNI: a name that some certificates cover and the defaults do
 * not gets those certificates on its SSL (the servername callback).
 *
 * Generations (reload) work as in tls_mbed_ctx.c: built and checked on
 * the control thread, published to each worker's slot, adopted at the
 * worker's next handshake, freed by the last reference.
 *
 * Contract: create, reload and free on the control thread; the SSL_CTX
 * of a worker only on that worker's thread.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "mx_base.h"
#include "mx_log.h"
#include "tls_ossl.h"

/* The same suites and order as the mbedTLS backend (tls_mbed_ctx.c), in
 * OpenSSL's spelling: ECDHE with an AEAD first, the server's order. */
static const char ossl_suites_strong[] =
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";
/* Best effort adds what old MTAs speak (RFC 7435: better than the
 * plaintext they would fall back to); no RC4, 3DES, export or NULL. */
static const char ossl_suites_compat[] =
	":ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384:"
	"ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:"
	"ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA:"
	"ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:"
	"AES256-GCM-SHA384:AES128-GCM-SHA256:AES256-SHA256:AES128-SHA256:"
	"AES256-SHA:AES128-SHA";
/* TLS 1.0 and 1.1 sign with SHA-1, which OpenSSL 3's default security
 * level refuses; best effort down to 1.0 needs level 0 (the suite list
 * above still excludes everything weak). */
static const char ossl_seclevel0[] = ":@SECLEVEL=0";
static const unsigned char ossl_sid_ctx[] = "mxedge";

static const uint8_t ossl_lbl_name[] = "mxedge ticket name";
static const uint8_t ossl_lbl_aes[] = "mxedge ticket aes";
static const uint8_t ossl_lbl_mac[] = "mxedge ticket mac";

int
ossl_version(enum mx_tls_version v)
{
	switch (v) {
	case MX_TLS_V1_0:
		return TLS1_VERSION;
	case MX_TLS_V1_1:
		return TLS1_1_VERSION;
	case MX_TLS_V1_2:
		return TLS1_2_VERSION;
	case MX_TLS_V1_3:
		break;
	}
	return TLS1_3_VERSION;
}

/* ---- certificates and hygiene ------------------------------------------- */

/* Does any dNSName of crt's SAN cover name (RFC 6125 6.4.3)? */
static bool
ossl_covers(X509 *crt, const char *name, size_t nlen)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(crt, NID_subject_alt_name, NULL, NULL);
	const GENERAL_NAME *gn;
	bool hit = false;
	int i;

	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens) && !hit; i++) {
		gn = sk_GENERAL_NAME_value(gens, i);
		if (gn->type == GEN_DNS)
			hit = tls_name_match((const char *)ASN1_STRING_get0_data(gn->d.dNSName),
					(size_t)ASN1_STRING_length(gn->d.dNSName), name, nlen);
	}
	GENERAL_NAMES_free(gens);
	return hit;
}

static void
ossl_errstr(char *buf, size_t size)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		snprintf(buf, size, "not PEM");
	else
		ERR_error_string_n(e, buf, size);
	ERR_clear_error();
}

static int
ossl_read_crt(struct ossl_gen *g, unsigned i, char *err, size_t errsize)
{
	const char *file = g->cf.cert_files[i];
	char msg[160];
	X509 *x;
	FILE *f;

	f = fopen(file, "r");
	if (f == NULL) {
		tls_err(err, errsize, "%s: %s", file, strerror(errno));
		return -ENOENT;
	}
	g->crt[i] = PEM_read_X509(f, NULL, NULL, NULL);
	g->chain[i] = sk_X509_new_null();
	while (g->crt[i] != NULL && g->chain[i] != NULL &&
			(x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
		if (sk_X509_push(g->chain[i], x) == 0)
			X509_free(x);
	fclose(f);
	if (g->crt[i] == NULL || g->chain[i] == NULL) {
		ossl_errstr(msg, sizeof(msg));
		tls_err(err, errsize, "%s: no certificate: %s", file, msg);
		return -EINVAL;
	}
	/* The loop above ends on the end of the file: not an error. */
	ERR_clear_error();
	return 0;
}

static int
ossl_read_key(struct ossl_gen *g, unsigned i, char *err, size_t errsize)
{
	const char *file = g->cf.key_files[i];
	char msg[160];
	FILE *f;

	f = fopen(file, "r");
	if (f == NULL) {
		tls_err(err, errsize, "%s: %s", file, strerror(errno));
		return -ENOENT;
	}
	g->pk[i] = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (g->pk[i] == NULL) {
		ossl_errstr(msg, sizeof(msg));
		tls_err(err, errsize, "%s: %s", file, msg);
		return -EINVAL;
	}
	return 0;
}

static int
ossl_check_key(const struct ossl_gen *g, unsigned i, char *err, size_t errsize)
{
	EVP_PKEY *pk = g->pk[i];
	int bits = EVP_PKEY_get_bits(pk);
	const char *type;
	unsigned need;

	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA:
		need = TLS_MIN_RSA_BITS;
		type = "RSA";
		break;
	case EVP_PKEY_EC:
		need = TLS_MIN_EC_BITS;
		type = "EC";
		break;
	default:
		tls_err(err, errsize, "%s: key type not supported (RSA or ECDSA)",
				g->cf.key_files[i]);
		return -EINVAL;
	}
	if (bits < (int)need && !g->cf.allow_weak_keys) {
		tls_err(err, errsize, "%s: %s key of %d bits is below %u "
				"(tls.allow_weak_keys to accept it)",
				g->cf.key_files[i], type, bits, need);
		return -EINVAL;
	}
	if (X509_check_private_key(g->crt[i], pk) != 1) {
		ERR_clear_error();
		tls_err(err, errsize, "%s: key does not match certificate %s",
				g->cf.key_files[i], g->cf.cert_files[i]);
		return -EINVAL;
	}
	return 0;
}

static int
ossl_check_crt(struct ossl_gen *g, unsigned i, char *err, size_t errsize)
{
	const ASN1_TIME *to = X509_get0_notAfter(g->crt[i]);
	const char *host = g->cf.hostname;
	int days = 0, secs = 0;

	if (X509_cmp_current_time(to) <= 0 || ASN1_TIME_diff(&days, &secs, NULL, to) != 1) {
		tls_err(err, errsize, "%s: certificate has expired", g->cf.cert_files[i]);
		return -EINVAL;
	}
	g->days[i] = days;
	if (days < (long)g->cf.expiry_warn_days)
		MX_LOG(MX_LOG_WARN, TLS_LOG, "%s: certificate expires in %d days",
				g->cf.cert_files[i], days);
	if (host != NULL && host[0] != '\0' && !ossl_covers(g->crt[i], host, strlen(host))) {
		if (g->cf.require_san_match) {
			tls_err(err, errsize, "%s: no subjectAltName covers %s",
					g->cf.cert_files[i], host);
			return -EINVAL;
		}
		MX_LOG(MX_LOG_WARN, TLS_LOG, "%s: no subjectAltName covers %s "
				"(clients that verify names will fail)",
				g->cf.cert_files[i], host);
	}
	return 0;
}

static int
ossl_load_one(struct ossl_gen *g, unsigned i, char *err, size_t errsize)
{
	int rc;

	g->n_certs = i + 1;
	rc = ossl_read_crt(g, i, err, errsize);
	if (rc == 0)
		rc = ossl_read_key(g, i, err, errsize);
	if (rc == 0)
		rc = ossl_check_key(g, i, err, errsize);
	if (rc == 0)
		rc = ossl_check_crt(g, i, err, errsize);
	return rc;
}

/* ---- SNI ------------------------------------------------------------------ */

/* The first certificate of each key type among those mask allows: what
 * an SSL_CTX or SSL can hold (one per type). */
static unsigned
ossl_pick(const struct ossl_gen *g, unsigned mask)
{
	unsigned i, j, pick = 0;
	bool dup;

	for (i = 0; i < g->n_certs; i++) {
		if (!(mask & (1u << i)))
			continue;
		dup = false;
		for (j = 0; j < i && !dup; j++)
			dup = (pick & (1u << j)) &&
				EVP_PKEY_get_base_id(g->pk[j]) == EVP_PKEY_get_base_id(g->pk[i]);
		if (!dup)
			pick |= 1u << i;
	}
	return pick;
}

static int
ossl_sni_cb(SSL *ssl, int *al, void *arg)
{
	const struct ossl_gen *g = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	unsigned i, mask = 0, pick;

	(void)al;
	if (name == NULL)
		return SSL_TLSEXT_ERR_OK;
	for (i = 0; i < g->n_certs; i++)
		if (ossl_covers(g->crt[i], name, strlen(name)))
			mask |= 1u << i;
	/* A name we have no certificate for gets the defaults: refusing
	 * would only push the sender to plaintext. */
	pick = ossl_pick(g, mask);
	if (mask == 0 || pick == ossl_pick(g, (1u << g->n_certs) - 1))
		return SSL_TLSEXT_ERR_OK;
	SSL_certs_clear(ssl);
	for (i = 0; i < g->n_certs; i++)
		if ((pick & (1u << i)) &&
				SSL_use_cert_and_key(ssl, g->crt[i], g->pk[i], g->chain[i], 1) != 1)
			return SSL_TLSEXT_ERR_ALERT_FATAL;
	return SSL_TLSEXT_ERR_OK;
}

/* ---- session tickets -------------------------------------------------------- */

static void
ossl_derive(const struct tls_ossl_ctx *ctx, const uint8_t *lbl, size_t lbl_len,
		uint64_t period, uint8_t *out, size_t len)
{
	uint8_t in[64], md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0, i;

	memcpy(in, lbl, lbl_len);
	for (i = 0; i < 8; i++)
		in[lbl_len + i] = (uint8_t)(period >> (56 - 8 * i));
	HMAC(EVP_sha256(), ctx->ticket_secret, sizeof(ctx->ticket_secret), in,
			lbl_len + 8, md, &mdlen);
	memcpy(out, md, MX_MIN(len, (size_t)mdlen));
}

static void
ossl_tkey_make(const struct tls_ossl_ctx *ctx, struct ossl_tkey *k, uint64_t period)
{
	k->period = period;
	ossl_derive(ctx, ossl_lbl_name, sizeof(ossl_lbl_name) - 1, period, k->name,
			sizeof(k->name));
	ossl_derive(ctx, ossl_lbl_aes, sizeof(ossl_lbl_aes) - 1, period, k->aes,
			sizeof(k->aes));
	ossl_derive(ctx, ossl_lbl_mac, sizeof(ossl_lbl_mac) - 1, period, k->mac,
			sizeof(k->mac));
	k->valid = true;
}

/* The worker's keys for now: the current period's and the previous one
 * (TLS_TICKET_KEYS), derived again only when the period turns. */
static void
ossl_tkeys(const struct tls_ossl_ctx *ctx, struct ossl_worker *w)
{
	uint64_t period = (uint64_t)time(NULL) / ctx->ticket_lifetime_s;

	if (w->tk[0].valid && w->tk[0].period == period)
		return;
	if (w->tk[0].valid && w->tk[0].period + 1 == period)
		w->tk[1] = w->tk[0];
	else
		ossl_tkey_make(ctx, &w->tk[1], period - 1);
	ossl_tkey_make(ctx, &w->tk[0], period);
}

static int
ossl_ticket_mac(EVP_MAC_CTX *hctx, uint8_t *key)
{
	OSSL_PARAM p[3];

	p[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, OSSL_TICKET_KEY);
	p[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	p[2] = OSSL_PARAM_construct_end();
	return EVP_MAC_CTX_set_params(hctx, p) == 1 ? 0 : -1;
}

/* RFC 5077 4's recommended format (AES-256-CBC, HMAC-SHA256), with keys
 * named so a ticket finds its period. Returns as OpenSSL wants: 1 done,
 * 2 done but renew (an older key), 0 unknown key, -1 error. */
static int
ossl_ticket_cb(SSL *ssl, unsigned char *key_name, unsigned char *iv,
		EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct ossl_worker *w = SSL_get_app_data(ssl);
	const struct tls_ossl_ctx *ctx;
	unsigned i;

	if (w == NULL)
		return -1;
	ctx = w->gen->ctx;
	ossl_tkeys(ctx, w);
	if (enc) {
		memcpy(key_name, w->tk[0].name, OSSL_TICKET_NAME);
		if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1 ||
				EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, w->tk[0].aes, iv) != 1 ||
				ossl_ticket_mac(hctx, w->tk[0].mac) < 0)
			return -1;
		return 1;
	}
	for (i = 0; i < TLS_TICKET_KEYS; i++) {
		if (memcmp(key_name, w->tk[i].name, OSSL_TICKET_NAME) != 0)
			continue;
		if (ossl_ticket_mac(hctx, w->tk[i].mac) < 0 ||
				EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, w->tk[i].aes, iv) != 1)
			return -1;
		return i == 0 ? 1 : 2;
	}
	return 0;
}

/* ---- per-worker SSL_CTX ------------------------------------------------------ */

void
ossl_suite_list(enum mx_tls_suites suites, enum mx_tls_version minv, char *buf,
		size_t size)
{
	snprintf(buf, size, "%s%s%s", ossl_suites_strong,
			suites == MX_TLS_SUITES_DEFAULT ? ossl_suites_compat : "",
			minv < MX_TLS_V1_2 ? ossl_seclevel0 : "");
}

static int
ossl_ctx_suites(SSL_CTX *c, const struct mx_tls_conf *cf)
{
	char list[OSSL_LIST_MAX];

	ossl_suite_list(cf->suites, cf->min_version, list, sizeof(list));
	if (SSL_CTX_set_cipher_list(c, list) != 1 ||
			SSL_CTX_set1_groups_list(c, "X25519:P-256:P-384") != 1)
		return -EINVAL;
	return 0;
}

static int
ossl_ctx_sessions(SSL_CTX *c, const struct ossl_gen *g)
{
	const struct tls_ossl_ctx *ctx = g->ctx;

	if (SSL_CTX_set_session_id_context(c, ossl_sid_ctx, sizeof(ossl_sid_ctx) - 1) != 1)
		return -ENOMEM;
	if (g->cf.cache_size > 0) {
		/* XXX: the cache is per worker (its SSL_CTX), so a session id
		 * resumes only on the worker that made it; tickets, which
		 * every TLS 1.3 client and most TLS 1.2 ones use, resume on
		 * any worker. */
		SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER |
				SSL_SESS_CACHE_NO_AUTO_CLEAR);
		SSL_CTX_sess_set_cache_size(c, (long)g->cf.cache_size);
	} else {
		SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	}
	SSL_CTX_set_timeout(c, (long)MX_MAX(g->cf.cache_timeout_s, 1u));
	if (ctx->ticket_lifetime_s == 0) {
		SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
		return 0;
	}
	/* One TLS 1.3 ticket per handshake (a mail client resumes once). */
	SSL_CTX_set_num_tickets(c, 1);
	return SSL_CTX_set_tlsext_ticket_key_evp_cb(c, ossl_ticket_cb) == 1 ? 0 : -ENOMEM;
}

static int
ossl_ctx_certs(SSL_CTX *c, struct ossl_gen *g)
{
	unsigned i, pick = ossl_pick(g, (1u << g->n_certs) - 1);

	for (i = 0; i < g->n_certs; i++)
		if ((pick & (1u << i)) &&
				SSL_CTX_use_cert_and_key(c, g->crt[i], g->pk[i], g->chain[i], 1) != 1)
			return -EINVAL;
	SSL_CTX_set_tlsext_servername_callback(c, ossl_sni_cb);
	SSL_CTX_set_tlsext_servername_arg(c, g);
	return 0;
}

/* One SSL_CTX of worker w: profile prof's (-1: the one without). */
static int
ossl_worker_ctx(struct ossl_gen *g, struct ossl_worker *w, int prof)
{
	SSL_CTX *c;
	int rc;

	c = SSL_CTX_new(TLS_server_method());
	if (c == NULL)
		return -ENOMEM;
	w->pc[prof + 1] = c;
	/* No renegotiation (a CPU DoS lever SMTP never needs), no
	 * compression (CRIME), the server's suite order. */
	SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
			SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_min_proto_version(c, ossl_version(g->cf.min_version)) != 1 ||
			SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) != 1)
		return -EINVAL;
	rc = ossl_ctx_suites(c, &g->cf);
	if (rc == 0)
		rc = ossl_ctx_certs(c, g);
	if (rc == 0)
		rc = ossl_ctx_sessions(c, g);
	if (rc == 0)
		rc = ossl_prof_conf(g, prof, c);
	return rc;
}

static int
ossl_worker_setup(struct ossl_gen *g, struct ossl_worker *w)
{
	int i, rc = 0;

	w->gen = g;
	w->xs = X509_STORE_CTX_new();
	if (w->xs == NULL)
		return -ENOMEM;
	for (i = -1; rc == 0 && i < (int)g->n_prof; i++)
		rc = ossl_worker_ctx(g, w, i);
	return rc;
}

/* ---- generations ---------------------------------------------------------------- */

static void
ossl_gen_free(struct ossl_gen *g)
{
	unsigned i, j;

	for (i = 0; i < g->n_workers; i++) {
		for (j = 0; j <= MX_TLS_MAX_PROFILES; j++)
			SSL_CTX_free(g->w[i].pc[j]);
		X509_STORE_CTX_free(g->w[i].xs);
	}
	free(g->w);
	ossl_prof_free(g);
	for (i = 0; i < g->n_certs; i++) {
		X509_free(g->crt[i]);
		sk_X509_pop_free(g->chain[i], X509_free);
		EVP_PKEY_free(g->pk[i]);
	}
	free(g);
}

void
ossl_gen_put(struct ossl_gen *g)
{
	if (g != NULL && atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) == 1)
		ossl_gen_free(g);
}

static void
ossl_gen_names(struct ossl_gen *g, const struct mx_tls_conf *conf)
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
ossl_gen_workers(struct ossl_gen *g, char *err, size_t errsize)
{
	char msg[160];
	unsigned i;
	int rc;

	g->w = aligned_alloc(64, sizeof(*g->w) * g->cf.workers);
	if (g->w == NULL)
		return -ENOMEM;
	memset(g->w, 0, sizeof(*g->w) * g->cf.workers);
	for (i = 0; i < g->cf.workers; i++) {
		g->n_workers = i + 1;
		rc = ossl_worker_setup(g, &g->w[i]);
		if (rc < 0) {
			ossl_errstr(msg, sizeof(msg));
			tls_err(err, errsize, "tls: worker %u setup failed: %s", i, msg);
			return rc;
		}
	}
	return 0;
}

static int
ossl_gen_create(struct tls_ossl_ctx *ctx, const struct mx_tls_conf *conf,
		const struct mx_tls_policy *policy, struct ossl_gen **out,
		char *err, size_t errsize)
{
	struct ossl_gen *g;
	unsigned i;
	int rc;

	rc = tls_conf_check(conf, err, errsize);
	if (rc < 0)
		return rc;
	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return -ENOMEM;
	atomic_init(&g->refs, 1);
	g->ctx = ctx;
	ossl_gen_names(g, conf);
	for (i = 0; i < conf->n_certs; i++) {
		rc = ossl_load_one(g, i, err, errsize);
		if (rc < 0)
			goto fail;
	}
	g->cf.hostname = NULL;
	rc = ossl_prof_build(g, policy, err, errsize);
	if (rc < 0)
		goto fail;
	rc = ossl_gen_workers(g, err, errsize);
	if (rc < 0)
		goto fail;
	*out = g;
	return 0;
fail:
	ossl_gen_free(g);
	return rc;
}

static void
ossl_gen_publish(struct tls_ossl_ctx *ctx, struct ossl_gen *g)
{
	const char *names[MX_TLS_MAX_PROFILES];
	struct ossl_gen *old;
	unsigned i;

	atomic_fetch_add_explicit(&g->refs, ctx->pub.n_workers, memory_order_relaxed);
	for (i = 0; i < ctx->pub.n_workers; i++) {
		old = atomic_exchange_explicit(&ctx->slot[i].next, g, memory_order_acq_rel);
		ossl_gen_put(old);
	}
	for (i = 0; i < g->n_prof && i < MX_TLS_MAX_PROFILES; i++)
		names[i] = g->prof[i].b.name;
	tls_ctx_show(&ctx->pub, names, i, g->cf.cert_files, g->days, g->n_certs);
	old = ctx->gen;
	ctx->gen = g;
	ossl_gen_put(old);
}

/* XXX: as in tls_mbed_ctx.c, a worker without a handshake keeps its old
 * generation until its next one. */
struct ossl_gen *
ossl_gen_adopt(struct tls_ossl_ctx *ctx, unsigned wid)
{
	struct ossl_wslot *sl = &ctx->slot[wid];
	struct ossl_gen *g;

	if (atomic_load_explicit(&sl->next, memory_order_relaxed) != NULL) {
		g = atomic_exchange_explicit(&sl->next, NULL, memory_order_acq_rel);
		if (g != NULL) {
			ossl_gen_put(sl->cur);
			sl->cur = g;
		}
	}
	return sl->cur;
}

/* ---- the backend -------------------------------------------------------------------- */

static void tls_ossl_ctx_free(struct mx_tls_ctx *pub);

static int
tls_ossl_ctx_create(const struct mx_tls_conf *conf, const struct mx_tls_policy *policy,
		struct mx_tls_ctx **out, char *err, size_t errsize)
{
	struct tls_ossl_ctx *ctx;
	struct ossl_gen *g;
	int rc;

	rc = tls_conf_check(conf, err, errsize);
	if (rc < 0)
		return rc;
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL)
		return -ENOMEM;
	tls_ctx_init(&ctx->pub, &tls_ossl_backend, conf->workers);
	ctx->ticket_lifetime_s = conf->ticket_lifetime_s;
	rc = -ENOMEM;
	ctx->slot = aligned_alloc(64, sizeof(*ctx->slot) * conf->workers);
	if (ctx->slot == NULL)
		goto fail;
	memset(ctx->slot, 0, sizeof(*ctx->slot) * conf->workers);
	if (RAND_bytes(ctx->ticket_secret, sizeof(ctx->ticket_secret)) != 1) {
		tls_err(err, errsize, "tls: cannot seed the ticket keys");
		rc = -EIO;
		goto fail;
	}
	rc = ossl_gen_create(ctx, conf, policy, &g, err, errsize);
	if (rc < 0)
		goto fail;
	ossl_gen_publish(ctx, g);
	*out = &ctx->pub;
	return 0;
fail:
	tls_ossl_ctx_free(&ctx->pub);
	return rc;
}

static int
tls_ossl_ctx_reload(struct mx_tls_ctx *pub, const struct mx_tls_conf *conf,
		const struct mx_tls_policy *policy, char *err, size_t errsize)
{
	struct tls_ossl_ctx *ctx = (struct tls_ossl_ctx *)pub;
	struct ossl_gen *g;
	int rc;

	/* The ticket period is fixed at start: every worker must derive
	 * the same keys. */
	rc = ossl_gen_create(ctx, conf, policy, &g, err, errsize);
	if (rc < 0)
		return rc;
	ossl_gen_publish(ctx, g);
	return 0;
}

static void
tls_ossl_ctx_free(struct mx_tls_ctx *pub)
{
	struct tls_ossl_ctx *ctx = (struct tls_ossl_ctx *)pub;
	unsigned i;

	for (i = 0; ctx->slot != NULL && i < ctx->pub.n_workers; i++) {
		ossl_gen_put(atomic_exchange(&ctx->slot[i].next, NULL));
		ossl_gen_put(ctx->slot[i].cur);
	}
	free(ctx->slot);
	ossl_gen_put(ctx->gen);
	OPENSSL_cleanse(ctx->ticket_secret, sizeof(ctx->ticket_secret));
	tls_ctx_fini(&ctx->pub);
	free(ctx);
}

const struct tls_backend tls_ossl_backend = {
	.name = "openssl",
	.ctx_create = tls_ossl_ctx_create,
	.ctx_reload = tls_ossl_ctx_reload,
	.ctx_free = tls_ossl_ctx_free,
	.stream_create = tls_ossl_stream_create,
	.stream_is = tls_ossl_stream_is,
	.stream_info = tls_ossl_stream_info,
	.policy_mail = tls_ossl_policy_mail,
	.client_create = tls_ossl_client_create,
	.client_free = tls_ossl_client_free,
	.client_stream_create = tls_ossl_client_stream_create,
	.client_stream_is = tls_ossl_client_stream_is,
	.client_stream_info = tls_ossl_client_stream_info,
};
