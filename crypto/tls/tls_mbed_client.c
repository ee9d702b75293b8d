/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tls_client: the client side of mx_tls.h, used for STARTTLS to the
 * downstream MTA (RFC 3207): the configuration (trust anchors, optional
 * client certificate, version floor, verify mode) and a client TLS
 * session as a stream over a connected raw stream.
 *
 * The data path is the server stream's (tls_stream.c): mbedTLS's I/O
 * callbacks read and write the raw stream's buffers and never wait
 * (WANT_READ / WANT_WRITE); decrypted bytes go to a linear plaintext
 * buffer the owner reads with mx_stream_read_view; the owner's output is
 * staged and encrypted as the raw stream has room, and a write mbedTLS
 * interrupted is retried with the same bytes and length (STYLE pitfall
 * 11). Everything runs from the raw stream's callbacks or a zero-delay
 * timer, so the owner's callbacks never run inside its own mx_stream_*
 * call.
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
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "mx_base.h"
#include "mx_log.h"
#include "mx_stream_impl.h"
#include "mx_timer.h"
#include "tls_mbed.h"

#define TLSC_LOG "crypto.tls.client"
/* Plaintext per direction: SMTP commands and replies, and the message
 * data the relay streams through under send backpressure. */
#define TLSC_BUF 4096u
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

enum tlsc_state {
	TLSC_HS = 0,   /* handshake in progress */
	TLSC_OPEN,     /* verified: application data */
	TLSC_CLOSED,   /* closing the raw stream */
	TLSC_DEAD,     /* raw on_closed came */
};

struct tlsc_stream {
	struct mx_stream_base base;  /* first: struct mx_stream * is this */
	struct tlsc_client *cl;
	struct mx_stream *raw;
	mbedtls_ssl_context ssl;
	struct mx_timer kick;
	enum tlsc_state state;
	int fail_err;                /* for the owner's on_closed; 0: raw's */
	const char *verify;          /* mx_tls_client_info.verify */
	bool want_writable;
	bool notify_read;
	bool eof;
	size_t wflight;
	size_t roff, rlen, slen;
	uint8_t rbuf[TLSC_BUF];
	uint8_t sbuf[TLSC_BUF];
};

static const struct mx_stream_ops tlsc_ops;
static const struct mx_stream_cb tlsc_raw_cb;
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

/* ---- the stream: helpers ----------------------------------------------- */

static struct mx_stream *
tlsc_mx(struct tlsc_stream *t)
{
	return (struct mx_stream *)t;
}

static void
tlsc_kick(struct tlsc_stream *t)
{
	struct mx_loop *loop = t->base.loop;

	if (!mx_timer_armed(&t->kick))
		mx_timer_arm(mx_loop_wheel(loop), &t->kick, mx_loop_now_ms(loop));
}

static bool
tlsc_want(int rc)
{
	return rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE;
}

static int
tlsc_bio_send(void *arg, const unsigned char *p, size_t len)
{
	struct tlsc_stream *t = arg;
	long n;

	n = mx_stream_send(t->raw, p, MX_MIN(len, (size_t)INT_MAX));
	if (n < 0)
		return MBEDTLS_ERR_NET_CONN_RESET;
	if (n == 0)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	return (int)n;
}

static int
tlsc_bio_recv(void *arg, unsigned char *p, size_t len)
{
	struct tlsc_stream *t = arg;
	const uint8_t *v;
	size_t got = 0, n, k;

	len = MX_MIN(len, (size_t)INT_MAX);
	while (got < len) {
		n = mx_stream_read_view(t->raw, &v);
		if (n == 0)
			break;
		k = MX_MIN(n, len - got);
		memcpy(p + got, v, k);
		mx_stream_consume(t->raw, k);
		got += k;
	}
	if (got > 0)
		return (int)got;
	if (mx_stream_peer_closed(t->raw))
		return 0;
	return MBEDTLS_ERR_SSL_WANT_READ;
}

/* Ends the session: the raw stream is closed gracefully so that an alert
 * mbedTLS queued still leaves; the owner's on_closed gets err. */
static void
tlsc_fail(struct tlsc_stream *t, int err, const char *verify, int rc, const char *where)
{
	char peer[64], why[96];

	mx_addr_format(&t->base.peer, true, peer, sizeof(peer));
	if (rc != 0)
		mbedtls_strerror(rc, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "certificate %s", verify);
	MX_LOG_RL(MX_LOG_WARN, TLSC_LOG, "downstream %s: TLS %s failed: %s (-0x%04x)",
			peer, where, why, (unsigned)-rc);
	if (t->verify == NULL)
		t->verify = verify;
	t->fail_err = err;
	t->state = TLSC_CLOSED;
	t->rlen = 0;
	t->slen = 0;
	t->wflight = 0;
	mx_stream_close(t->raw);
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
tlsc_judge(struct tlsc_stream *t)
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
	tlsc_fail(t, -EKEYREJECTED, t->verify, 0, "certificate check");
	return false;
}

/* One step of the handshake; true once it is complete and verified. */
static bool
tlsc_handshake(struct tlsc_stream *t)
{
	const struct mx_stream_cb *cb = t->base.cb;
	int rc;

	rc = mbedtls_ssl_handshake(&t->ssl);
	if (tlsc_want(rc))
		return false;
	if (rc != 0) {
		tlsc_fail(t, -EPROTO, "handshake failed", rc, "handshake");
		return false;
	}
	if (!tlsc_judge(t))
		return false;
	t->state = TLSC_OPEN;
	if (cb != NULL && cb->on_connected != NULL)
		cb->on_connected(tlsc_mx(t), 0, t->base.cb_arg);
	return t->state == TLSC_OPEN;
}

static void
tlsc_flush_out(struct tlsc_stream *t)
{
	size_t len;
	int rc;

	while (t->state == TLSC_OPEN && t->slen > 0) {
		len = t->wflight > 0 ? t->wflight : t->slen;
		rc = mbedtls_ssl_write(&t->ssl, t->sbuf, len);
		if (tlsc_want(rc)) {
			t->wflight = len;
			return;
		}
		if (rc < 0) {
			tlsc_fail(t, -EPROTO, NULL, rc, "write");
			return;
		}
		t->wflight = 0;
		memmove(t->sbuf, t->sbuf + rc, t->slen - (size_t)rc);
		t->slen -= (size_t)rc;
	}
}

/* Decrypts while the plaintext buffer has room; true when something new
 * arrived (bytes or the end of the stream). */
static bool
tlsc_fill(struct tlsc_stream *t)
{
	bool got = false;
	size_t room;
	int rc;

	if (t->rlen == 0) {
		t->roff = 0;
	} else if (t->roff > 0) {
		memmove(t->rbuf, t->rbuf + t->roff, t->rlen);
		t->roff = 0;
	}
	while (t->state == TLSC_OPEN && !t->eof) {
		room = TLSC_BUF - t->rlen;
		if (room == 0)
			break;
		rc = mbedtls_ssl_read(&t->ssl, t->rbuf + t->rlen, room);
		if (rc > 0) {
			t->rlen += (size_t)rc;
			got = true;
			continue;
		}
		if (tlsc_want(rc))
			break;
		if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY ||
				rc == MBEDTLS_ERR_SSL_CONN_EOF) {
			t->eof = true;
			t->base.peer_closed = true;
			return true;
		}
		tlsc_fail(t, -EPROTO, NULL, rc, "read");
		return got;
	}
	return got;
}

static void
tlsc_pump(struct tlsc_stream *t)
{
	const struct mx_stream_cb *cb;
	bool got;

	if (t->state == TLSC_HS && !tlsc_handshake(t))
		return;
	if (t->state != TLSC_OPEN)
		return;
	tlsc_flush_out(t);
	got = tlsc_fill(t);
	cb = t->base.cb;
	if (t->state == TLSC_OPEN && (got || t->notify_read) &&
			(t->rlen > 0 || t->base.peer_closed)) {
		t->notify_read = false;
		if (cb != NULL && cb->on_readable != NULL)
			cb->on_readable(tlsc_mx(t), t->base.cb_arg);
	}
	cb = t->base.cb;
	if (t->state == TLSC_OPEN && t->want_writable && t->slen < TLSC_BUF) {
		t->want_writable = false;
		if (cb != NULL && cb->on_writable != NULL)
			cb->on_writable(tlsc_mx(t), t->base.cb_arg);
	}
}

static void
tlsc_on_kick(struct mx_timer *tm, void *arg)
{
	(void)tm;
	tlsc_pump(arg);
}

/* ---- raw stream callbacks --------------------------------------------- */

static void
tlsc_raw_readable(struct mx_stream *raw, void *arg)
{
	(void)raw;
	tlsc_pump(arg);
}

static void
tlsc_raw_writable(struct mx_stream *raw, void *arg)
{
	(void)raw;
	tlsc_pump(arg);
}

static void
tlsc_raw_connected(struct mx_stream *raw, int err, void *arg)
{
	/* The raw stream was connected before it was wrapped. */
	(void)raw;
	(void)err;
	(void)arg;
}

static void
tlsc_raw_closed(struct mx_stream *raw, int err, void *arg)
{
	struct tlsc_stream *t = arg;
	const struct mx_stream_cb *cb = t->base.cb;

	(void)raw;
	t->state = TLSC_DEAD;
	mx_timer_cancel(mx_loop_wheel(t->base.loop), &t->kick);
	if (t->verify == NULL)
		t->verify = "handshake failed";
	if (cb != NULL && cb->on_closed != NULL)
		cb->on_closed(tlsc_mx(t), t->fail_err != 0 ? t->fail_err : err,
				t->base.cb_arg);
	mbedtls_ssl_free(&t->ssl);
	free(t);
}

static const struct mx_stream_cb tlsc_raw_cb = {
	.on_readable = tlsc_raw_readable,
	.on_writable = tlsc_raw_writable,
	.on_connected = tlsc_raw_connected,
	.on_closed = tlsc_raw_closed,
};

/* ---- stream ops (the owner's side) ------------------------------------ */

static size_t
tlsc_read_view(struct mx_stream *st, const uint8_t **p)
{
	struct tlsc_stream *t = (struct tlsc_stream *)st;

	if (t->state != TLSC_OPEN || t->rlen == 0) {
		*p = NULL;
		return 0;
	}
	*p = t->rbuf + t->roff;
	return t->rlen;
}

static void
tlsc_consume(struct mx_stream *st, size_t n)
{
	struct tlsc_stream *t = (struct tlsc_stream *)st;

	if (t->state != TLSC_OPEN || n == 0)
		return;
	MX_ASSERT(n <= t->rlen);
	t->roff += n;
	t->rlen -= n;
	if (t->rlen == 0)
		t->roff = 0;
	/* More may wait inside mbedTLS or in the raw buffer, and no raw
	 * event will announce it. */
	if (!t->eof && (mbedtls_ssl_get_bytes_avail(&t->ssl) > 0 ||
			mbedtls_ssl_check_pending(&t->ssl) ||
			mx_stream_readable(t->raw) > 0))
		tlsc_kick(t);
}

static size_t
tlsc_readable(const struct mx_stream *st)
{
	const struct tlsc_stream *t = (const struct tlsc_stream *)st;

	return t->state == TLSC_OPEN ? t->rlen : 0;
}

static void
tlsc_want_read(struct mx_stream *st)
{
	struct tlsc_stream *t = (struct tlsc_stream *)st;

	if (t->state != TLSC_OPEN && t->state != TLSC_HS)
		return;
	t->notify_read = true;
	if (t->state == TLSC_OPEN)
		tlsc_kick(t);
}

static long
tlsc_send(struct mx_stream *st, const void *p, size_t len)
{
	struct tlsc_stream *t = (struct tlsc_stream *)st;
	size_t done = 0, n;

	if (t->state != TLSC_OPEN && t->state != TLSC_HS)
		return -EPIPE;
	/* Stage, encrypt, stage again while the raw stream takes it: a
	 * short return must mean the raw stream is full (so its on_writable
	 * will come and wake the owner), never that only our staging
	 * buffer was, or the owner would wait for an event that never
	 * comes. Each round stages bytes or stops. */
	while (done < len) {
		n = MX_MIN(len - done, TLSC_BUF - t->slen);
		if (n == 0)
			break;
		memcpy(t->sbuf + t->slen, (const uint8_t *)p + done, n);
		t->slen += n;
		done += n;
		tlsc_flush_out(t);
		if (t->state != TLSC_OPEN && t->state != TLSC_HS)
			return done > 0 ? (long)done : -EPIPE;
	}
	if (done < len)
		t->want_writable = true;
	return (long)done;
}

static size_t
tlsc_send_space(const struct mx_stream *st)
{
	const struct tlsc_stream *t = (const struct tlsc_stream *)st;

	if (t->state != TLSC_OPEN && t->state != TLSC_HS)
		return 0;
	return TLSC_BUF - t->slen;
}

static size_t
tlsc_send_pending(const struct mx_stream *st)
{
	const struct tlsc_stream *t = (const struct tlsc_stream *)st;

	if (t->state == TLSC_DEAD)
		return 0;
	return t->slen + mx_stream_send_pending(t->raw);
}

static void
tlsc_close(struct mx_stream *st)
{
	struct tlsc_stream *t = (struct tlsc_stream *)st;

	if (t->state != TLSC_OPEN && t->state != TLSC_HS)
		return;
	if (t->state == TLSC_OPEN) {
		tlsc_flush_out(t);
		if (t->state != TLSC_OPEN)
			return;
		/* RFC 5246 7.2.1: close_notify before the FIN; best effort. */
		(void)mbedtls_ssl_close_notify(&t->ssl);
	}
	t->state = TLSC_CLOSED;
	t->rlen = 0;
	t->slen = 0;
	mx_timer_cancel(mx_loop_wheel(t->base.loop), &t->kick);
	mx_stream_close(t->raw);
}

static void
tlsc_abort(struct mx_stream *st)
{
	struct tlsc_stream *t = (struct tlsc_stream *)st;

	if (t->state == TLSC_DEAD)
		return;
	t->state = TLSC_CLOSED;
	t->rlen = 0;
	t->slen = 0;
	mx_timer_cancel(mx_loop_wheel(t->base.loop), &t->kick);
	mx_stream_abort(t->raw);
}

static const struct mx_stream_ops tlsc_ops = {
	.read_view = tlsc_read_view,
	.consume = tlsc_consume,
	.readable = tlsc_readable,
	.want_read = tlsc_want_read,
	.send = tlsc_send,
	.send_space = tlsc_send_space,
	.send_pending = tlsc_send_pending,
	.close = tlsc_close,
	.abort = tlsc_abort,
};

/* ---- public ------------------------------------------------------------ */

static int
tlsc_session(struct tlsc_client *cl, struct tlsc_stream *t, unsigned wid,
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
	mbedtls_ssl_set_bio(&t->ssl, t, tlsc_bio_send, tlsc_bio_recv, NULL);
	return 0;
}

int
tls_mbed_client_stream_create(struct mx_tls_client *pub, struct mx_stream *raw,
		const char *name, const struct mx_stream_cb *cb, void *arg,
		struct mx_stream **out)
{
	struct tlsc_client *cl = (struct tlsc_client *)pub;
	struct mx_loop *loop = mx_stream_loop(raw);
	unsigned wid = mx_loop_worker_id(loop);
	struct tlsc_stream *t;

	if (name != NULL && name[0] == '\0')
		name = NULL;
	if (wid >= cl->n_workers || (name != NULL && strlen(name) >= TLSC_NAME_MAX) ||
			(name == NULL && cl->cf.verify == MX_TLS_VERIFY_SECURE))
		return -EINVAL;
	t = malloc(sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	memset(t, 0, offsetof(struct tlsc_stream, rbuf));
	if (tlsc_session(cl, t, wid, name) != 0) {
		mbedtls_ssl_free(&t->ssl);
		free(t);
		return -ENOMEM;
	}
	mx_stream_base_init(&t->base, &tlsc_ops, loop);
	t->base.id = mx_stream_id(raw);
	mx_stream_peer(raw, &t->base.peer);
	mx_stream_local(raw, &t->base.local);
	t->base.cb = cb;
	t->base.cb_arg = arg;
	t->cl = cl;
	t->raw = raw;
	t->state = TLSC_HS;
	mx_timer_init(&t->kick, tlsc_on_kick, t);
	mx_stream_set_cb(raw, &tlsc_raw_cb, t);
	/* The client speaks first: the ClientHello goes on the next pass. */
	tlsc_kick(t);
	*out = tlsc_mx(t);
	return 0;
}

bool
tls_mbed_client_stream_is(const struct mx_stream *st)
{
	return st != NULL && ((const struct mx_stream_base *)st)->ops == &tlsc_ops;
}

int
tls_mbed_client_stream_info(const struct mx_stream *st, struct mx_tls_client_info *out)
{
	const struct tlsc_stream *t;

	if (!tls_mbed_client_stream_is(st))
		return -EINVAL;
	t = (const struct tlsc_stream *)st;
	memset(out, 0, sizeof(*out));
	out->verify = t->verify;
	if (t->verify == NULL || t->fail_err != 0 || t->state == TLSC_HS)
		return 0;
	out->version = mbedtls_ssl_get_version(&t->ssl);
	out->cipher = mbedtls_ssl_get_ciphersuite(&t->ssl);
	return 0;
}
