/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tls_ossl_stream: the OpenSSL backend's server TLS session as a stream
 * over a stream (mx_tls.h), with the same contract and driving as
 * tls_mbed_stream.c: everything runs from the raw stream's callbacks and
 * a zero-delay "kick" timer, never blocking; the owner's on_closed comes
 * exactly once, from the raw stream's.
 *
 * Data path: a BIO pair. Ciphertext from the raw stream is copied once
 * into OpenSSL's side of the pair (BIO_nwrite0/BIO_nwrite, straight from
 * the raw receive buffer); OpenSSL's output is handed to the raw stream
 * from inside the pair (BIO_nread0/BIO_nread, no copy of ours). The
 * owner's plaintext is encrypted straight from its buffer: tls_send only
 * offers SSL_write as much as the pair is guaranteed to take whole, so
 * SSL_write never stops half-way and needs no retry with the same buffer.
 * Decrypted bytes land in a linear buffer the owner reads with
 * mx_stream_read_view, as on a transport.
 *
 * Thread: the loop's thread of the raw stream.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Only for mbedtls_ssl_get_ciphersuite_name: one spelling of suites. */
#include <mbedtls/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "mx_base.h"
#include "mx_log.h"
#include "mx_stream_impl.h"
#include "mx_timer.h"
#include "tls_ossl.h"

/* Most bytes one SSL_write call is offered, and what a record adds at
 * most (header, explicit IV, MAC or tag, padding; TLS 1.0's 1/n-1
 * split makes two records). */
#define OSSL_WRITE_MAX 16384u
#define OSSL_REC_OVERHEAD 512u

static const struct mx_stream_ops ossl_ops;
static const struct mx_stream_cb ossl_raw_cb;

static struct mx_stream *
ossl_mx(struct ossl_stream *t)
{
	return (struct mx_stream *)t;
}

void
ossl_kick(struct ossl_stream *t)
{
	struct mx_loop *loop = t->base.loop;

	if (!mx_timer_armed(&t->kick))
		mx_timer_arm(mx_loop_wheel(loop), &t->kick, mx_loop_now_ms(loop));
}

/* ---- ciphertext between the raw stream and the pair ------------------ */

/* Raw receive buffer into the pair; true when anything moved. */
static bool
ossl_feed(struct ossl_stream *t)
{
	const uint8_t *v;
	bool moved = false;
	char *wp;
	size_t n, k;
	int room;

	for (;;) {
		n = mx_stream_read_view(t->raw, &v);
		if (n == 0)
			break;
		room = BIO_nwrite0(t->ext, &wp);
		if (room <= 0)
			break;
		k = MX_MIN(n, (size_t)room);
		memcpy(wp, v, k);
		(void)BIO_nwrite(t->ext, &wp, (int)k);
		mx_stream_consume(t->raw, k);
		moved = true;
	}
	return moved;
}

/* What OpenSSL wrote, from inside the pair into the raw stream. Returns
 * 0, or -EPIPE when the raw stream refused. */
static int
ossl_drain(struct ossl_stream *t)
{
	char *p;
	long k;
	int n;

	for (;;) {
		n = BIO_nread0(t->ext, &p);
		if (n <= 0)
			return 0;
		k = mx_stream_send(t->raw, p, (size_t)n);
		if (k < 0)
			return -EPIPE;
		if (k == 0)
			return 0;
		(void)BIO_nread(t->ext, &p, (int)k);
	}
}

/* No more ciphertext will come: the peer's FIN, all of it fed. */
static bool
ossl_raw_done(const struct ossl_stream *t)
{
	return mx_stream_peer_closed(t->raw) && mx_stream_readable(t->raw) == 0;
}

/* ---- failures ---------------------------------------------------------- */

/* Ends a session OpenSSL gave up on: counted, logged (rate-limited: a
 * peer triggers it), and the raw stream closed gracefully so the alert
 * OpenSSL wrote still leaves. The owner's on_closed follows. */
static void
ossl_fail(struct ossl_stream *t, int sslerr, const char *where)
{
	unsigned long e = ERR_peek_last_error();
	char peer[64], why[160];

	t->role->failed(t, sslerr, e, ossl_raw_done(t));
	mx_addr_format(&t->base.peer, true, peer, sizeof(peer));
	if (e != 0)
		ERR_error_string_n(e, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "%s", ossl_raw_done(t) ?
				"peer closed the connection" : "I/O error");
	ERR_clear_error();
	MX_LOG_RL(MX_LOG_INFO, TLS_LOG, "%s %llu %s: TLS %s failed: %s",
			t->role->what, (unsigned long long)t->base.id, peer, where, why);
	(void)ossl_drain(t);
	t->state = OSSL_CLOSED;
	t->rlen = 0;
	mx_stream_close(t->raw);
}

/* ---- the engine -------------------------------------------------------- */

/* RFC 8446 B.4, in the spelling of the mbedTLS backend. */
static const char *const ossl_tls13_names[] = {
	"TLS-AES-128-GCM-SHA256",
	"TLS-AES-256-GCM-SHA384",
	"TLS-CHACHA20-POLY1305-SHA256",
	"TLS-AES-128-CCM-SHA256",
	"TLS-AES-128-CCM-8-SHA256",
};

/* The IANA name as the mbedTLS backend spells it (TLS-ECDHE-RSA-WITH-
 * ...), so logs read the same with either backend; a static string, as
 * mx_tls_info wants it to outlive the stream. */
const char *
ossl_cipher_name(const SSL *ssl)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	uint16_t id;
	const char *n;

	if (c == NULL)
		return NULL;
	id = SSL_CIPHER_get_protocol_id(c);
	if (id >= 0x1301 && id < 0x1301 + MX_ARRAY_SIZE(ossl_tls13_names))
		return ossl_tls13_names[id - 0x1301];
	n = mbedtls_ssl_get_ciphersuite_name(id);
	if (n == NULL || strcmp(n, "unknown") == 0)
		n = SSL_CIPHER_standard_name(c);
	return n;
}

/* One step of the handshake; true once it is complete. */
static bool
ossl_handshake(struct ossl_stream *t)
{
	int rc, e;

	do {
		ERR_clear_error();
		rc = SSL_do_handshake(t->ssl);
		if (ossl_drain(t) < 0) {
			ossl_fail(t, SSL_ERROR_SYSCALL, "handshake");
			return false;
		}
	} while (rc != 1 && SSL_get_error(t->ssl, rc) == SSL_ERROR_WANT_READ &&
			ossl_feed(t));
	if (rc == 1) {
		t->state = OSSL_OPEN;
		t->established = true;
		t->cipher = ossl_cipher_name(t->ssl);
		return t->role->established(t) && t->state == OSSL_OPEN;
	}
	e = SSL_get_error(t->ssl, rc);
	if ((e == SSL_ERROR_WANT_READ && !ossl_raw_done(t)) || e == SSL_ERROR_WANT_WRITE)
		return false;
	ossl_fail(t, e, "handshake");
	return false;
}

/* Decrypts into the plaintext buffer while it has room; true when
 * something new arrived (bytes or the end of the stream). */
static bool
ossl_fill(struct ossl_stream *t)
{
	bool got = false;
	size_t room;
	int rc, e;

	if (t->rlen == 0)
		t->roff = 0;
	else if (t->roff > 0 && OSSL_PLAIN_BUF - t->roff - t->rlen < OSSL_PLAIN_BUF / 2) {
		memmove(t->rbuf, t->rbuf + t->roff, t->rlen);
		t->roff = 0;
	}
	while (t->state == OSSL_OPEN && !t->eof) {
		room = OSSL_PLAIN_BUF - t->roff - t->rlen;
		if (room == 0)
			break;
		(void)ossl_feed(t);
		ERR_clear_error();
		rc = SSL_read(t->ssl, t->rbuf + t->roff + t->rlen, (int)room);
		/* A TLS 1.3 KeyUpdate or alert may need to leave. */
		if (ossl_drain(t) < 0) {
			ossl_fail(t, SSL_ERROR_SYSCALL, "read");
			return got;
		}
		if (rc > 0) {
			t->rlen += (size_t)rc;
			got = true;
			continue;
		}
		e = SSL_get_error(t->ssl, rc);
		if (e == SSL_ERROR_WANT_READ && mx_stream_readable(t->raw) > 0)
			continue;
		if (e == SSL_ERROR_WANT_READ && !ossl_raw_done(t))
			break;
		if (e == SSL_ERROR_WANT_WRITE)
			break;
		if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_WANT_READ ||
				(e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) ||
				(e == SSL_ERROR_SSL && ossl_raw_done(t) &&
				 ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
			/* close_notify, or a bare FIN (RFC 5246 7.2.1 lets
			 * SMTP treat it as the end; SMTP frames its data). */
			ERR_clear_error();
			t->eof = true;
			t->base.peer_closed = true;
			return true;
		}
		ossl_fail(t, e, "read");
		return got;
	}
	return got;
}

static size_t
ossl_space(const struct ossl_stream *t)
{
	size_t g = BIO_ctrl_get_write_guarantee(SSL_get_wbio(t->ssl));

	return g > OSSL_REC_OVERHEAD ? MX_MIN(g - OSSL_REC_OVERHEAD, OSSL_WRITE_MAX) : 0;
}

static void
ossl_pump(struct ossl_stream *t)
{
	bool got;

	if (t->state == OSSL_HS && !ossl_handshake(t))
		return;
	if (t->state != OSSL_OPEN)
		return;
	if (ossl_drain(t) < 0) {
		ossl_fail(t, SSL_ERROR_SYSCALL, "write");
		return;
	}
	got = ossl_fill(t);
	if (t->state != OSSL_OPEN)
		return;
	if ((got || t->notify_read) && (t->rlen > 0 || t->base.peer_closed)) {
		t->notify_read = false;
		if (t->base.cb != NULL && t->base.cb->on_readable != NULL)
			t->base.cb->on_readable(ossl_mx(t), t->base.cb_arg);
	}
	if (t->state == OSSL_OPEN && t->want_writable && ossl_space(t) > 0) {
		t->want_writable = false;
		if (t->base.cb != NULL && t->base.cb->on_writable != NULL)
			t->base.cb->on_writable(ossl_mx(t), t->base.cb_arg);
	}
}

static void
ossl_on_kick(struct mx_timer *tm, void *arg)
{
	(void)tm;
	ossl_pump(arg);
}

/* ---- raw stream callbacks ------------------------------------------------ */

static void
ossl_raw_readable(struct mx_stream *raw, void *arg)
{
	(void)raw;
	ossl_pump(arg);
}

static void
ossl_raw_writable(struct mx_stream *raw, void *arg)
{
	(void)raw;
	ossl_pump(arg);
}

static void
ossl_raw_connected(struct mx_stream *raw, int err, void *arg)
{
	/* The raw stream was established before it was wrapped. */
	(void)raw;
	(void)err;
	(void)arg;
}

static void
ossl_raw_closed(struct mx_stream *raw, int err, void *arg)
{
	struct ossl_stream *t = arg;
	const struct mx_stream_cb *cb = t->base.cb;

	(void)raw;
	t->state = OSSL_DEAD;
	mx_timer_cancel(mx_loop_wheel(t->base.loop), &t->kick);
	if (t->verify == NULL)
		t->verify = "handshake failed";
	if (cb != NULL && cb->on_closed != NULL)
		cb->on_closed(ossl_mx(t), t->fail_err != 0 ? t->fail_err : err,
				t->base.cb_arg);
	SSL_free(t->ssl);
	BIO_free(t->ext);
	if (t->role->release != NULL)
		t->role->release(t);
	free(t);
}

static const struct mx_stream_cb ossl_raw_cb = {
	.on_readable = ossl_raw_readable,
	.on_writable = ossl_raw_writable,
	.on_connected = ossl_raw_connected,
	.on_closed = ossl_raw_closed,
};

/* ---- stream ops (the owner's side) ---------------------------------------- */

static size_t
ossl_read_view(struct mx_stream *st, const uint8_t **p)
{
	struct ossl_stream *t = (struct ossl_stream *)st;

	if (t->state != OSSL_OPEN || t->rlen == 0) {
		*p = NULL;
		return 0;
	}
	*p = t->rbuf + t->roff;
	return t->rlen;
}

static void
ossl_consume(struct mx_stream *st, size_t n)
{
	struct ossl_stream *t = (struct ossl_stream *)st;

	if (t->state != OSSL_OPEN || n == 0)
		return;
	MX_ASSERT(n <= t->rlen);
	t->roff += n;
	t->rlen -= n;
	if (t->rlen == 0)
		t->roff = 0;
	/* Room again: more may wait inside OpenSSL, in the pair or in the
	 * raw buffer, and no raw event will announce it. */
	if (!t->eof && (SSL_pending(t->ssl) > 0 || BIO_ctrl_pending(SSL_get_rbio(t->ssl)) > 0 ||
			mx_stream_readable(t->raw) > 0))
		ossl_kick(t);
}

static size_t
ossl_readable(const struct mx_stream *st)
{
	const struct ossl_stream *t = (const struct ossl_stream *)st;

	return t->state == OSSL_OPEN ? t->rlen : 0;
}

static void
ossl_want_read(struct mx_stream *st)
{
	struct ossl_stream *t = (struct ossl_stream *)st;

	if (t->state != OSSL_OPEN && t->state != OSSL_HS)
		return;
	t->notify_read = true;
	if (t->state == OSSL_OPEN)
		ossl_kick(t);
}

static long
ossl_send(struct mx_stream *st, const void *p, size_t len)
{
	struct ossl_stream *t = (struct ossl_stream *)st;
	size_t done = 0, n;
	int rc;

	if (t->state == OSSL_HS) {
		/* Nothing goes out before the handshake; on_writable after. */
		t->want_writable = len > 0;
		return 0;
	}
	if (t->state != OSSL_OPEN)
		return -EPIPE;
	/* A short count only when the pair and the raw stream are both
	 * full: the raw on_writable then wakes the owner (ossl_pump). */
	while (done < len) {
		if (ossl_drain(t) < 0) {
			ossl_fail(t, SSL_ERROR_SYSCALL, "write");
			return done > 0 ? (long)done : -EPIPE;
		}
		n = MX_MIN(len - done, ossl_space(t));
		if (n == 0)
			break;
		ERR_clear_error();
		rc = SSL_write(t->ssl, (const uint8_t *)p + done, (int)n);
		if (rc <= 0) {
			ossl_fail(t, SSL_get_error(t->ssl, rc), "write");
			return done > 0 ? (long)done : -EPIPE;
		}
		done += (size_t)rc;
	}
	if (ossl_drain(t) < 0) {
		ossl_fail(t, SSL_ERROR_SYSCALL, "write");
		return done > 0 ? (long)done : -EPIPE;
	}
	if (done < len)
		t->want_writable = true;
	return (long)done;
}

static size_t
ossl_send_space(const struct mx_stream *st)
{
	const struct ossl_stream *t = (const struct ossl_stream *)st;

	return t->state == OSSL_OPEN ? ossl_space(t) : 0;
}

static size_t
ossl_send_pending(const struct mx_stream *st)
{
	const struct ossl_stream *t = (const struct ossl_stream *)st;

	if (t->state == OSSL_DEAD)
		return 0;
	return BIO_ctrl_pending(t->ext) + mx_stream_send_pending(t->raw);
}

static void
ossl_close(struct mx_stream *st)
{
	struct ossl_stream *t = (struct ossl_stream *)st;

	if (t->state != OSSL_OPEN && t->state != OSSL_HS)
		return;
	if (t->state == OSSL_OPEN) {
		/* RFC 8446 6.1 / RFC 5246 7.2.1: close_notify before the
		 * FIN; best effort. */
		ERR_clear_error();
		(void)SSL_shutdown(t->ssl);
		ERR_clear_error();
		(void)ossl_drain(t);
		/* Like the transport's close, only what fits now leaves: a
		 * peer that does not read loses the rest (counted). */
		if (BIO_ctrl_pending(t->ext) > 0 && t->role->dropped != NULL)
			t->role->dropped(t);
	}
	t->state = OSSL_CLOSED;
	t->rlen = 0;
	mx_timer_cancel(mx_loop_wheel(t->base.loop), &t->kick);
	mx_stream_close(t->raw);
}

static void
ossl_abort(struct mx_stream *st)
{
	struct ossl_stream *t = (struct ossl_stream *)st;

	if (t->state == OSSL_DEAD)
		return;
	t->state = OSSL_CLOSED;
	t->rlen = 0;
	mx_timer_cancel(mx_loop_wheel(t->base.loop), &t->kick);
	mx_stream_abort(t->raw);
}

static const struct mx_stream_ops ossl_ops = {
	.read_view = ossl_read_view,
	.consume = ossl_consume,
	.readable = ossl_readable,
	.want_read = ossl_want_read,
	.send = ossl_send,
	.send_space = ossl_send_space,
	.send_pending = ossl_send_pending,
	.close = ossl_close,
	.abort = ossl_abort,
};

/* ---- the two roles' common setup ------------------------------------------ */

int
ossl_stream_session(struct ossl_stream *t, SSL_CTX *c, void *app)
{
	BIO *in = NULL;

	t->ssl = SSL_new(c);
	if (t->ssl == NULL)
		return -ENOMEM;
	/* 0: OpenSSL's default pair buffers (17 KiB, a whole record). */
	if (BIO_new_bio_pair(&in, 0, &t->ext, 0) != 1) {
		SSL_free(t->ssl);
		t->ssl = NULL;
		return -ENOMEM;
	}
	SSL_set_bio(t->ssl, in, in);
	SSL_set_app_data(t->ssl, app);
	return 0;
}

void
ossl_stream_start(struct ossl_stream *t, const struct ossl_role *role,
		struct mx_stream *raw, bool kick)
{
	mx_stream_base_init(&t->base, &ossl_ops, mx_stream_loop(raw));
	t->base.id = mx_stream_id(raw);
	mx_stream_peer(raw, &t->base.peer);
	mx_stream_local(raw, &t->base.local);
	t->role = role;
	t->raw = raw;
	t->state = OSSL_HS;
	mx_timer_init(&t->kick, ossl_on_kick, t);
	mx_stream_set_cb(raw, &ossl_raw_cb, t);
	if (kick || mx_stream_readable(raw) > 0 || mx_stream_peer_closed(raw))
		ossl_kick(t);
}

bool
ossl_stream_of(const struct mx_stream *st, const struct ossl_role *role)
{
	return st != NULL && ((const struct mx_stream_base *)st)->ops == &ossl_ops &&
		((const struct ossl_stream *)st)->role == role;
}

/* ---- the server role (through tls.c) ---------------------------------------- */

static bool
ossl_srv_established(struct ossl_stream *t)
{
	struct mx_tls_stats *s = &t->gen->ctx->pub.stats;

	atomic_fetch_add_explicit(&s->handshakes, 1, memory_order_relaxed);
	if (SSL_session_reused(t->ssl))
		atomic_fetch_add_explicit(&s->resumed, 1, memory_order_relaxed);
	return true;
}

static void
ossl_srv_failed(struct ossl_stream *t, int sslerr, unsigned long e, bool eof)
{
	ossl_count_failure(t->gen->ctx, t->ssl, sslerr, e, eof);
}

static void
ossl_srv_dropped(struct ossl_stream *t)
{
	atomic_fetch_add_explicit(&t->gen->ctx->pub.stats.close_dropped, 1,
			memory_order_relaxed);
}

static void
ossl_srv_release(struct ossl_stream *t)
{
	ossl_gen_put(t->gen);
}

static const struct ossl_role ossl_server_role = {
	.what = "session",
	.established = ossl_srv_established,
	.failed = ossl_srv_failed,
	.dropped = ossl_srv_dropped,
	.release = ossl_srv_release,
};

int
tls_ossl_stream_create(struct mx_tls_ctx *pub, struct mx_stream *raw,
		struct mx_stream **out)
{
	struct tls_ossl_ctx *ctx = (struct tls_ossl_ctx *)pub;
	unsigned wid = mx_loop_worker_id(mx_stream_loop(raw));
	struct ossl_stream *t;
	struct ossl_gen *g;
	struct mx_addr peer;
	int prof;

	if (wid >= ctx->pub.n_workers)
		return -EINVAL;
	/* The connection profile is chosen now, by the client's address,
	 * so the handshake enforces its version, suites and certificate. */
	g = ossl_gen_adopt(ctx, wid);
	mx_stream_peer(raw, &peer);
	prof = ossl_prof_by_addr(g, &peer);
	t = calloc(1, sizeof(*t));
	if (t == NULL || ossl_stream_session(t, g->w[wid].pc[prof + 1], &g->w[wid]) < 0) {
		free(t);
		atomic_fetch_add_explicit(&ctx->pub.stats.alloc_fail, 1, memory_order_relaxed);
		return -ENOMEM;
	}
	SSL_set_accept_state(t->ssl);
	atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
	t->gen = g;
	t->w = &g->w[wid];
	t->prof = prof;
	ossl_stream_start(t, &ossl_server_role, raw, false);
	*out = ossl_mx(t);
	return 0;
}

bool
tls_ossl_stream_is(const struct mx_stream *st)
{
	return ossl_stream_of(st, &ossl_server_role);
}

/* The mbedTLS backend's names ("TLSv1.0", where OpenSSL says "TLSv1"). */
const char *
ossl_version_name(int v)
{
	switch (v) {
	case TLS1_VERSION:
		return tls_version_name(MX_TLS_V1_0);
	case TLS1_1_VERSION:
		return tls_version_name(MX_TLS_V1_1);
	case TLS1_2_VERSION:
		return tls_version_name(MX_TLS_V1_2);
	case TLS1_3_VERSION:
		return tls_version_name(MX_TLS_V1_3);
	default:
		return "unknown";
	}
}

static void
ossl_name(const X509_NAME *n, char *out, size_t size)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long len;

	out[0] = '\0';
	if (b == NULL)
		return;
	/* "CN=client, O=Example", the order and form of the mbedTLS
	 * backend's subject and issuer. */
	if (X509_NAME_print_ex(b, n, 0, XN_FLAG_SEP_CPLUS_SPC |
				(ASN1_STRFLGS_RFC2253 & ~ASN1_STRFLGS_ESC_MSB)) >= 0) {
		len = BIO_get_mem_data(b, &p);
		snprintf(out, size, "%.*s", (int)MX_MIN(len, (long)size - 1), p);
	}
	BIO_free(b);
}

static void
ossl_peer_info(X509 *crt, struct mx_tls_info *out)
{
	unsigned char dg[EVP_MAX_MD_SIZE];
	unsigned len = 0, i;

	out->peer_cert = true;
	ossl_name(X509_get_subject_name(crt), out->peer_subject, sizeof(out->peer_subject));
	ossl_name(X509_get_issuer_name(crt), out->peer_issuer, sizeof(out->peer_issuer));
	if (X509_digest(crt, EVP_sha256(), dg, &len) != 1 || len != 32) {
		out->peer_sha256[0] = '\0';
		return;
	}
	for (i = 0; i < len; i++)
		snprintf(out->peer_sha256 + 2 * i, 3, "%02x", dg[i]);
}

int
tls_ossl_stream_info(const struct mx_stream *st, struct mx_tls_info *out)
{
	const struct ossl_stream *t = (const struct ossl_stream *)st;
	X509 *crt;

	if (!t->established || t->state == OSSL_DEAD)
		return -EAGAIN;
	memset(out, 0, sizeof(*out));
	out->version = ossl_version_name(SSL_version(t->ssl));
	out->cipher = t->cipher;
	out->resumed = SSL_session_reused(t->ssl) != 0;
	crt = SSL_get0_peer_certificate(t->ssl);
	if (crt != NULL)
		ossl_peer_info(crt, out);
	if (t->prof >= 0) {
		out->profile = t->gen->prof[t->prof].b.name;
		out->peer_verified = crt != NULL && t->gen->prof[t->prof].ca_file != NULL &&
			SSL_get_verify_result(t->ssl) == X509_V_OK;
	}
	return 0;
}

const SSL *
ossl_stream_ssl(const struct mx_stream *st, struct ossl_gen **gen, int *prof)
{
	const struct ossl_stream *t = (const struct ossl_stream *)st;

	if (!tls_ossl_stream_is(st) || !t->established || t->state == OSSL_DEAD)
		return NULL;
	*gen = t->gen;
	*prof = t->prof;
	return t->ssl;
}

const char *
ossl_stream_cipher(const struct mx_stream *st)
{
	const struct ossl_stream *t = (const struct ossl_stream *)st;

	return tls_ossl_stream_is(st) ? t->cipher : NULL;
}
