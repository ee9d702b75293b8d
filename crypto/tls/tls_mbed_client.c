/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tls_client: the client side of mx_tls.h, used for STARTTLS to the
 * downstream MTA (RFC 3207): the configuration (trust anchors, optional
 * client certificate, version floor, verify mode) and a client TLS
 * session as a stream over a connected raw stream.
 *
 * The stream is the server session's core (tls_mbed_stream.c) with the
 * client role's hooks: mbedTLS's I/O over the raw stream's buffers, the
 * plaintext buffers, the driving and close are that one code; this file
 * holds only what a client does differently (the certificate check when
 * the handshake completes, on_connected, the owner's error and the
 * verify word on failure, freeing the session).
 *
 * Verification. The handshake runs with mbedTLS's "optional" mode when a
 * CA bundle is given, so the handshake completes and the verify flags are
 * ours to judge by the configured mode: VERIFY_NONE takes any certificate
 * (RFC 7435 opportunistic), VERIFY_CHAIN ignores only a name mismatch,
 * VERIFY_SECURE ignores nothing. A refused certificate gets a fatal
 * bad_certificate alert (RFC 5246 7.2.2) and the owner's on_closed sees
 * -EKEYREJECTED; nothing the owner queued is sent (a relay queues nothing
 * before on_connected anyway).
 *
 * Memory: one session per downstream connection, allocated when the
 * connection starts TLS (mbedTLS 2.28's two 16 KiB record buffers) and
 * freed when it ends. Relay connections are pooled and live for many
 * messages, so this is not a per-message cost.
 *
 * Threads: mx_tls_client_create/free on the control thread; the client
 * stream on the loop thread of its raw stream.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "mx_base.h"
#include "mx_log.h"
#include "mx_stream_impl.h"
#include "mx_timer.h"
#include "tls_mbed.h"

#define TLSC_LOG "crypto.tls.client"
#define TLSC_NAME_MAX 256u

struct tlsc_worker {
	mbedtls_ctr_drbg_context drbg;
	mbedtls_ssl_config conf;
} MX_CACHE_ALIGNED;

struct tlsc_client {
	struct mx_tls_client pub;    /* first: the public pointer is this */
	struct mx_tls_client_conf cf;
	mbedtls_x509_crt ca;
	mbedtls_x509_crt crt;
	mbedtls_pk_context pk;
	bool has_ca, has_crt;
	mbedtls_entropy_context entropy;
	unsigned n_workers;
	struct tlsc_worker *w;
};

static const struct tls_role tlsc_role;
/* Per-worker DRBG personalisation (the worker id is appended). */
static const unsigned char tlsc_pers[] = "mxedge tls client";

/* ---- configuration ----------------------------------------------------- */

static int
tlsc_minor(enum mx_tls_version v)
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

static int
tlsc_file_rc(int rc)
{
	return rc == MBEDTLS_ERR_X509_FILE_IO_ERROR || rc == MBEDTLS_ERR_PK_FILE_IO_ERROR ?
		-ENOENT : -EINVAL;
}

static int
tlsc_load(struct tlsc_client *cl, char *err, size_t errsize)
{
	char msg[128];
	int rc;

	if (cl->cf.ca_file != NULL) {
		rc = mbedtls_x509_crt_parse_file(&cl->ca, cl->cf.ca_file);
		/* A positive rc counts certificates that did not parse: a
		 * bundle may hold some this build cannot read. */
		if (rc < 0 || cl->ca.version == 0) {
			mbedtls_strerror(rc, msg, sizeof(msg));
			tls_err(err, errsize, "%s: %s", cl->cf.ca_file,
					rc < 0 ? msg : "no usable certificate");
			return rc < 0 ? tlsc_file_rc(rc) : -EINVAL;
		}
		cl->has_ca = true;
	}
	if (cl->cf.cert_file == NULL)
		return 0;
	rc = mbedtls_x509_crt_parse_file(&cl->crt, cl->cf.cert_file);
	if (rc != 0) {
		mbedtls_strerror(rc, msg, sizeof(msg));
		tls_err(err, errsize, "%s: %s", cl->cf.cert_file, msg);
		return tlsc_file_rc(rc);
	}
	rc = mbedtls_pk_parse_keyfile(&cl->pk, cl->cf.key_file, NULL);
	if (rc != 0) {
		mbedtls_strerror(rc, msg, sizeof(msg));
		tls_err(err, errsize, "%s: %s", cl->cf.key_file, msg);
		return tlsc_file_rc(rc);
	}
	if (mbedtls_pk_check_pair(&cl->crt.pk, &cl->pk) != 0) {
		tls_err(err, errsize, "%s: key does not match certificate %s",
				cl->cf.key_file, cl->cf.cert_file);
		return -EINVAL;
	}
	cl->has_crt = true;
	return 0;
}

static int
tlsc_worker_setup(struct tlsc_client *cl, struct tlsc_worker *w, unsigned id)
{
	mbedtls_ssl_config *c = &w->conf;
	unsigned char seed[sizeof(tlsc_pers) + sizeof(id)];

	memcpy(seed, tlsc_pers, sizeof(tlsc_pers));
	memcpy(seed + sizeof(tlsc_pers), &id, sizeof(id));
	if (mbedtls_ctr_drbg_seed(&w->drbg, mbedtls_entropy_func, &cl->entropy,
				seed, sizeof(seed)) != 0)
		return -EIO;
	if (mbedtls_ssl_config_defaults(c, MBEDTLS_SSL_IS_CLIENT,
				MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT) != 0)
		return -ENOMEM;
	mbedtls_ssl_conf_rng(c, mbedtls_ctr_drbg_random, &w->drbg);
	mbedtls_ssl_conf_min_version(c, MBEDTLS_SSL_MAJOR_VERSION_3,
			tlsc_minor(cl->cf.min_version));
	mbedtls_ssl_conf_max_version(c, MBEDTLS_SSL_MAJOR_VERSION_3,
			MBEDTLS_SSL_MINOR_VERSION_3);
	/* "Optional": the handshake completes and tlsc_judge() decides by
	 * the configured mode; with no CA there is nothing to check. */
	mbedtls_ssl_conf_authmode(c, cl->has_ca ? MBEDTLS_SSL_VERIFY_OPTIONAL :
			MBEDTLS_SSL_VERIFY_NONE);
	if (cl->has_ca)
		mbedtls_ssl_conf_ca_chain(c, &cl->ca, NULL);
	/* No renegotiation: SMTP never needs it (RFC 5746 safe or not). */
	mbedtls_ssl_conf_renegotiation(c, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
	mbedtls_ssl_conf_legacy_renegotiation(c, MBEDTLS_SSL_LEGACY_NO_RENEGOTIATION);
	if (cl->has_crt && mbedtls_ssl_conf_own_cert(c, &cl->crt, &cl->pk) != 0)
		return -ENOMEM;
	return 0;
}

static void
tlsc_init(struct tlsc_client *cl, const struct mx_tls_client_conf *conf)
{
	cl->cf = *conf;
	mbedtls_x509_crt_init(&cl->ca);
	mbedtls_x509_crt_init(&cl->crt);
	mbedtls_pk_init(&cl->pk);
	mbedtls_entropy_init(&cl->entropy);
}

static void
tlsc_free(struct tlsc_client *cl)
{
	unsigned i;

	if (cl == NULL)
		return;
	for (i = 0; i < cl->n_workers; i++) {
		mbedtls_ssl_config_free(&cl->w[i].conf);
		mbedtls_ctr_drbg_free(&cl->w[i].drbg);
	}
	free(cl->w);
	mbedtls_x509_crt_free(&cl->ca);
	mbedtls_x509_crt_free(&cl->crt);
	mbedtls_pk_free(&cl->pk);
	mbedtls_entropy_free(&cl->entropy);
	free(cl);
}

void
tls_mbed_client_free(struct mx_tls_client *pub)
{
	tlsc_free((struct tlsc_client *)pub);
}

int
tls_mbed_client_create(const struct mx_tls_client_conf *conf, struct mx_tls_client **out,
		char *err, size_t errsize)
{
	struct tlsc_client *cl;
	unsigned i;
	int rc;

	if (conf == NULL || out == NULL)
		return -EINVAL;
	rc = tls_client_conf_check(conf, MX_TLS_V1_2, err, errsize);
	if (rc < 0)
		return rc;
	cl = calloc(1, sizeof(*cl));
	if (cl == NULL)
		return -ENOMEM;
	cl->pub.be = &tls_mbed_backend;
	tlsc_init(cl, conf);
	rc = tlsc_load(cl, err, errsize);
	if (rc < 0)
		goto fail;
	rc = -ENOMEM;
	cl->w = aligned_alloc(64, sizeof(*cl->w) * conf->workers);
	if (cl->w == NULL)
		goto fail;
	memset(cl->w, 0, sizeof(*cl->w) * conf->workers);
	for (i = 0; i < conf->workers; i++) {
		mbedtls_ctr_drbg_init(&cl->w[i].drbg);
		mbedtls_ssl_config_init(&cl->w[i].conf);
		cl->n_workers = i + 1;
		rc = tlsc_worker_setup(cl, &cl->w[i], i);
		if (rc < 0) {
			tls_err(err, errsize, "tls client: worker %u setup failed", i);
			goto fail;
		}
	}
	*out = &cl->pub;
	return 0;
fail:
	tlsc_free(cl);
	return rc;
}

/* ---- the client role ---------------------------------------------------- */

/* The owner's on_closed gets -EPROTO for a failure of mbedTLS's, or the
 * error the certificate check set (-EKEYREJECTED). */
static void
tlsc_failed(struct tls_stream *t, int rc, const char *where, const char *peer)
{
	char why[96];

	if (rc != 0)
		mbedtls_strerror(rc, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "certificate %s", t->verify);
	MX_LOG_RL(MX_LOG_WARN, TLSC_LOG, "downstream %s: TLS %s failed: %s (-0x%04x)",
			peer, where, why, (unsigned)-rc);
	if (t->verify == NULL)
		t->verify = "handshake failed";
	if (t->fail_err == 0)
		t->fail_err = -EPROTO;
}

/* The verify flags of mbedTLS, in the words of mx_tls_client_info; the
 * worst problem first. */
static const char *
tlsc_verify_word(uint32_t flags)
{
	if (flags & (MBEDTLS_X509_BADCERT_NOT_TRUSTED | MBEDTLS_X509_BADCERT_MISSING |
				MBEDTLS_X509_BADCERT_SKIP_VERIFY))
		return "untrusted";
	if (flags & (MBEDTLS_X509_BADCERT_REVOKED | MBEDTLS_X509_BADCRL_NOT_TRUSTED))
		return "revoked";
	if (flags & MBEDTLS_X509_BADCERT_EXPIRED)
		return "expired";
	if (flags & MBEDTLS_X509_BADCERT_FUTURE)
		return "not yet valid";
	if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
		return "name mismatch";
	return "bad certificate";
}

/* The handshake is done: does the certificate pass the verify mode? */
static bool
tlsc_judge(struct tls_stream *t)
{
	uint32_t flags = mbedtls_ssl_get_verify_result(&t->ssl);

	switch (t->cl->cf.verify) {
	case MX_TLS_VERIFY_NONE:
		t->verify = "not verified";
		return true;
	case MX_TLS_VERIFY_CHAIN:
		flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH;
		break;
	case MX_TLS_VERIFY_SECURE:
		break;
	}
	if (flags == 0) {
		t->verify = "ok";
		return true;
	}
	t->verify = tlsc_verify_word(flags);
	(void)mbedtls_ssl_send_alert_message(&t->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
			MBEDTLS_SSL_ALERT_MSG_BAD_CERT);
	t->fail_err = -EKEYREJECTED;
	tls_stream_fail(t, 0, "certificate check");
	return false;
}

/* The handshake is done: verified, the owner learns it can speak. */
static bool
tlsc_established(struct tls_stream *t)
{
	const struct mx_stream_cb *cb = t->base.cb;

	if (!tlsc_judge(t))
		return false;
	if (cb != NULL && cb->on_connected != NULL)
		cb->on_connected((struct mx_stream *)t, 0, t->base.cb_arg);
	return true;
}

static void
tlsc_release(struct tls_stream *t)
{
	mbedtls_ssl_free(&t->ssl);
	free(t);
}

static const struct tls_role tlsc_role = {
	.established = tlsc_established,
	.failed = tlsc_failed,
	.dropped = NULL,
	.release = tlsc_release,
};

/* ---- public ------------------------------------------------------------ */

static int
tlsc_session(struct tlsc_client *cl, struct tls_stream *t, unsigned wid,
		const char *name)
{
	mbedtls_ssl_init(&t->ssl);
	if (mbedtls_ssl_setup(&t->ssl, &cl->w[wid].conf) != 0)
		return -ENOMEM;
	/* SNI (RFC 6066 3) and the name mbedTLS checks the certificate
	 * against; NULL leaves both out (only VERIFY_NONE/CHAIN get here
	 * without a name, and CHAIN ignores the mismatch flag). */
	if (mbedtls_ssl_set_hostname(&t->ssl, name) != 0)
		return -ENOMEM;
	return 0;
}

int
tls_mbed_client_stream_create(struct mx_tls_client *pub, struct mx_stream *raw,
		const char *name, const struct mx_stream_cb *cb, void *arg,
		struct mx_stream **out)
{
	struct tlsc_client *cl = (struct tlsc_client *)pub;
	unsigned wid = mx_loop_worker_id(mx_stream_loop(raw));
	struct tls_stream *t;

	if (name != NULL && name[0] == '\0')
		name = NULL;
	if (wid >= cl->n_workers || (name != NULL && strlen(name) >= TLSC_NAME_MAX) ||
			(name == NULL && cl->cf.verify == MX_TLS_VERIFY_SECURE))
		return -EINVAL;
	t = malloc(sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	memset(t, 0, offsetof(struct tls_stream, rbuf));
	if (tlsc_session(cl, t, wid, name) != 0) {
		mbedtls_ssl_free(&t->ssl);
		free(t);
		return -ENOMEM;
	}
	t->cl = cl;
	t->prof = -1;
	/* The client speaks first: the ClientHello goes on the next pass. */
	tls_stream_start(t, &tlsc_role, raw, true);
	t->base.cb = cb;
	t->base.cb_arg = arg;
	*out = (struct mx_stream *)t;
	return 0;
}

bool
tls_mbed_client_stream_is(const struct mx_stream *st)
{
	return tls_stream_of(st, &tlsc_role);
}

int
tls_mbed_client_stream_info(const struct mx_stream *st, struct mx_tls_client_info *out)
{
	const struct tls_stream *t;

	if (!tls_mbed_client_stream_is(st))
		return -EINVAL;
	t = (const struct tls_stream *)st;
	memset(out, 0, sizeof(*out));
	out->verify = t->verify;
	if (t->verify == NULL || t->fail_err != 0 || t->state == TLS_HS)
		return 0;
	out->version = mbedtls_ssl_get_version(&t->ssl);
	out->cipher = mbedtls_ssl_get_ciphersuite(&t->ssl);
	return 0;
}
