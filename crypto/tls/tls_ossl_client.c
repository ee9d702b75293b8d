/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tls_ossl_client: the OpenSSL backend's client side of mx_tls.h, used
 * for STARTTLS to the downstream MTA (RFC 3207) when tls.backend is
 * openssl: the configuration (trust anchors, optional client
 * certificate, version floor, verify mode) and the client role of the
 * backend's stream over a stream (tls_ossl_stream.c does the data path
 * for both roles; this file only says what a client does differently).
 *
 * Contexts: one client SSL_CTX per worker, made at create, so a
 * handshake touches no SSL_CTX another worker uses and takes no lock of
 * ours. No session cache: relay connections are pooled and live for
 * many messages.
 *
 * Verification happens inside the handshake: a verify callback records
 * every problem OpenSSL reports (OSSL_VF_*) and stops the handshake on
 * the first one the verify mode does not forgive, so OpenSSL sends the
 * fatal alert that names it (RFC 5246 7.2.2, RFC 8446 6.2) and the
 * owner's on_closed gets -EKEYREJECTED. VERIFY_NONE takes any
 * certificate (RFC 7435 opportunistic); VERIFY_CHAIN checks the chain
 * only; VERIFY_SECURE also the name (X509_VERIFY_PARAM_set1_host: RFC
 * 6125 6.4, subjectAltName before CN). The words of
 * mx_tls_client_info.verify are the mbedTLS client's.
 *
 * Threads: create/free on the control thread; the client stream on the
 * loop thread of its raw stream.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "mx_base.h"
#include "mx_log.h"
#include "tls_ossl.h"

#define OSSLC_NAME_MAX 256u

/* What the certificate check saw, worst first in ossl_client_word. */
#define OSSL_VF_UNTRUSTED 0x01u
#define OSSL_VF_REVOKED 0x02u
#define OSSL_VF_EXPIRED 0x04u
#define OSSL_VF_FUTURE 0x08u
#define OSSL_VF_NAME 0x10u
#define OSSL_VF_OTHER 0x20u

struct tls_ossl_client {
	struct mx_tls_client pub;    /* first: the public pointer is this */
	struct mx_tls_client_conf cf;
	unsigned n_workers;
	SSL_CTX **w;                 /* [n_workers] */
};

static const struct ossl_role ossl_client_role;

/* ---- configuration ----------------------------------------------------- */

/* OpenSSL's error queue as the reason of a failed load. */
static void
osslc_load_err(char *err, size_t errsize, const char *file)
{
	char why[160];
	unsigned long e = ERR_peek_last_error();

	if (e != 0)
		ERR_error_string_n(e, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "unusable");
	ERR_clear_error();
	tls_err(err, errsize, "%s: %s", file, why);
}

/* -ENOENT for a file that cannot be read at all, as the mbedTLS client. */
static int
osslc_readable(const char *file, char *err, size_t errsize)
{
	if (access(file, R_OK) == 0)
		return 0;
	tls_err(err, errsize, "%s: %s", file, strerror(errno));
	return -ENOENT;
}

static int
osslc_ca(SSL_CTX *c, const char *ca_file, char *err, size_t errsize)
{
	int rc = osslc_readable(ca_file, err, errsize);

	if (rc < 0)
		return rc;
	if (SSL_CTX_load_verify_locations(c, ca_file, NULL) != 1) {
		osslc_load_err(err, errsize, ca_file);
		return -EINVAL;
	}
	return 0;
}

static int
osslc_own_cert(SSL_CTX *c, const struct mx_tls_client_conf *cf, char *err, size_t errsize)
{
	int rc = osslc_readable(cf->cert_file, err, errsize);

	if (rc == 0)
		rc = osslc_readable(cf->key_file, err, errsize);
	if (rc < 0)
		return rc;
	if (SSL_CTX_use_certificate_chain_file(c, cf->cert_file) != 1) {
		osslc_load_err(err, errsize, cf->cert_file);
		return -EINVAL;
	}
	if (SSL_CTX_use_PrivateKey_file(c, cf->key_file, SSL_FILETYPE_PEM) != 1) {
		osslc_load_err(err, errsize, cf->key_file);
		return -EINVAL;
	}
	if (SSL_CTX_check_private_key(c) != 1) {
		ERR_clear_error();
		tls_err(err, errsize, "%s: key does not match certificate %s",
				cf->key_file, cf->cert_file);
		return -EINVAL;
	}
	return 0;
}

static int osslc_verify_cb(int ok, X509_STORE_CTX *xs);

static int
osslc_ctx(const struct mx_tls_client_conf *cf, SSL_CTX **out, char *err, size_t errsize)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	int rc;

	*out = c;
	if (c == NULL)
		return -ENOMEM;
	/* TLS 1.0 and 1.1 (opportunistic relaying) sign with SHA-1, which
	 * needs security level 0; the verified modes keep OpenSSL's. */
	if (cf->min_version < MX_TLS_V1_2)
		SSL_CTX_set_security_level(c, 0);
	if (SSL_CTX_set_min_proto_version(c, ossl_version(cf->min_version)) != 1)
		return -EINVAL;
	/* No renegotiation: SMTP never needs it. No session cache: pooled
	 * relay connections live for many messages. */
	SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	if (cf->ca_file != NULL) {
		rc = osslc_ca(c, cf->ca_file, err, errsize);
		if (rc < 0)
			return rc;
	}
	if (cf->cert_file != NULL) {
		rc = osslc_own_cert(c, cf, err, errsize);
		if (rc < 0)
			return rc;
	}
	if (cf->verify != MX_TLS_VERIFY_NONE)
		SSL_CTX_set_verify(c, SSL_VERIFY_PEER, osslc_verify_cb);
	return 0;
}

void
tls_ossl_client_free(struct mx_tls_client *pub)
{
	struct tls_ossl_client *cl = (struct tls_ossl_client *)pub;
	unsigned i;

	if (cl == NULL)
		return;
	for (i = 0; i < cl->n_workers; i++)
		SSL_CTX_free(cl->w[i]);
	free(cl->w);
	free(cl);
}

int
tls_ossl_client_create(const struct mx_tls_client_conf *conf, struct mx_tls_client **out,
		char *err, size_t errsize)
{
	struct tls_ossl_client *cl;
	unsigned i;
	int rc;

	rc = tls_client_conf_check(conf, MX_TLS_V1_3, err, errsize);
	if (rc < 0)
		return rc;
	cl = calloc(1, sizeof(*cl));
	if (cl == NULL)
		return -ENOMEM;
	cl->pub.be = &tls_ossl_backend;
	cl->cf = *conf;
	cl->w = calloc(conf->workers, sizeof(*cl->w));
	if (cl->w == NULL) {
		free(cl);
		return -ENOMEM;
	}
	for (i = 0; i < conf->workers; i++) {
		cl->n_workers = i + 1;
		rc = osslc_ctx(conf, &cl->w[i], err, errsize);
		if (rc < 0) {
			ERR_clear_error();
			tls_ossl_client_free(&cl->pub);
			if (err != NULL && errsize > 0 && err[0] == '\0')
				tls_err(err, errsize, "tls client: worker %u setup failed", i);
			return rc;
		}
	}
	/* The files are loaded: the caller's strings need not outlive us. */
	cl->cf.ca_file = cl->cf.cert_file = cl->cf.key_file = NULL;
	*out = &cl->pub;
	return 0;
}

/* ---- verification -------------------------------------------------------- */

static unsigned
osslc_flag(int e)
{
	switch (e) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_UNTRUSTED:
	case X509_V_ERR_CERT_REJECTED:
	case X509_V_ERR_CERT_CHAIN_TOO_LONG:
		return OSSL_VF_UNTRUSTED;
	case X509_V_ERR_CERT_REVOKED:
		return OSSL_VF_REVOKED;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return OSSL_VF_EXPIRED;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return OSSL_VF_FUTURE;
	case X509_V_ERR_HOSTNAME_MISMATCH:
		return OSSL_VF_NAME;
	default:
		return OSSL_VF_OTHER;
	}
}

/* The words of mx_tls_client_info, worst problem first. */
static const char *
osslc_word(unsigned f)
{
	if (f & OSSL_VF_UNTRUSTED)
		return "untrusted";
	if (f & OSSL_VF_REVOKED)
		return "revoked";
	if (f & OSSL_VF_EXPIRED)
		return "expired";
	if (f & OSSL_VF_FUTURE)
		return "not yet valid";
	if (f & OSSL_VF_NAME)
		return "name mismatch";
	return "bad certificate";
}

/* VERIFY_CHAIN and VERIFY_SECURE (a name is only set for SECURE, so no
 * name problem can arise under CHAIN): any problem ends the handshake. */
static int
osslc_verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct ossl_stream *t = ssl != NULL ? SSL_get_app_data(ssl) : NULL;

	if (ok == 1)
		return 1;
	if (t != NULL)
		t->vflags |= osslc_flag(X509_STORE_CTX_get_error(xs));
	return 0;
}

/* ---- the client role ----------------------------------------------------- */

static bool
osslc_established(struct ossl_stream *t)
{
	const struct mx_stream_cb *cb = t->base.cb;

	t->verify = t->cl->cf.verify == MX_TLS_VERIFY_NONE ? "not verified" : "ok";
	if (cb != NULL && cb->on_connected != NULL)
		cb->on_connected((struct mx_stream *)t, 0, t->base.cb_arg);
	return true;
}

static void
osslc_failed(struct ossl_stream *t, int sslerr, unsigned long e, bool eof)
{
	(void)sslerr;
	(void)e;
	(void)eof;
	if (t->state != OSSL_HS) {
		t->fail_err = -EPROTO;
		return;
	}
	if (t->vflags != 0) {
		t->verify = osslc_word(t->vflags);
		t->fail_err = -EKEYREJECTED;
		return;
	}
	t->verify = "handshake failed";
	t->fail_err = -EPROTO;
}

static const struct ossl_role ossl_client_role = {
	.what = "downstream",
	.established = osslc_established,
	.failed = osslc_failed,
	.dropped = NULL,
	.release = NULL,
};

/* SNI (RFC 6066 3) for a name; under VERIFY_SECURE also the name the
 * certificate must match. */
static int
osslc_name(struct tls_ossl_client *cl, SSL *ssl, const char *name)
{
	X509_VERIFY_PARAM *vp;

	if (name == NULL)
		return 0;
	if (SSL_set_tlsext_host_name(ssl, name) != 1)
		return -ENOMEM;
	if (cl->cf.verify != MX_TLS_VERIFY_SECURE)
		return 0;
	vp = SSL_get0_param(ssl);
	X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return X509_VERIFY_PARAM_set1_host(vp, name, 0) == 1 ? 0 : -ENOMEM;
}

int
tls_ossl_client_stream_create(struct mx_tls_client *pub, struct mx_stream *raw,
		const char *name, const struct mx_stream_cb *cb, void *arg,
		struct mx_stream **out)
{
	struct tls_ossl_client *cl = (struct tls_ossl_client *)pub;
	unsigned wid = mx_loop_worker_id(mx_stream_loop(raw));
	struct ossl_stream *t;

	if (name != NULL && name[0] == '\0')
		name = NULL;
	if (wid >= cl->n_workers || (name != NULL && strlen(name) >= OSSLC_NAME_MAX) ||
			(name == NULL && cl->cf.verify == MX_TLS_VERIFY_SECURE))
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	if (ossl_stream_session(t, cl->w[wid], t) < 0) {
		free(t);
		return -ENOMEM;
	}
	if (osslc_name(cl, t->ssl, name) < 0) {
		ERR_clear_error();
		SSL_free(t->ssl);
		BIO_free(t->ext);
		free(t);
		return -ENOMEM;
	}
	SSL_set_connect_state(t->ssl);
	t->cl = cl;
	t->prof = -1;
	/* The client speaks first: the ClientHello goes on the next pass
	 * (a timer, so the callbacks set now are in place by then). */
	ossl_stream_start(t, &ossl_client_role, raw, true);
	t->base.cb = cb;
	t->base.cb_arg = arg;
	*out = (struct mx_stream *)t;
	return 0;
}

bool
tls_ossl_client_stream_is(const struct mx_stream *st)
{
	return ossl_stream_of(st, &ossl_client_role);
}

int
tls_ossl_client_stream_info(const struct mx_stream *st, struct mx_tls_client_info *out)
{
	const struct ossl_stream *t = (const struct ossl_stream *)st;

	if (!tls_ossl_client_stream_is(st))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->verify = t->verify;
	if (t->verify == NULL || t->fail_err != 0 || !t->established)
		return 0;
	out->version = ossl_version_name(SSL_version(t->ssl));
	out->cipher = t->cipher;
	return 0;
}
