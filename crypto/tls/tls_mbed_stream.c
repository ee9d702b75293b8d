/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tls_mbed_stream: the mbedTLS backend's TLS session as a stream over a
 * stream (mx_tls.h), one code for both roles: the server session (STARTTLS
 * for our clients, this file's server role) and the relay's client session
 * (tls_mbed_client.c). It implements struct mx_stream_ops for its owner
 * (the SMTP session, the relay) and is itself the owner of the raw stream
 * below it. A struct tls_role holds only what differs: handshake
 * completion (counting, or the certificate check), failure reporting and
 * counting, a close's dropped output, and releasing the session.
 *
 * Data path. mbedTLS's I/O callbacks are the raw stream: bio_recv copies
 * from the raw receive buffer (mx_stream_read_view/consume) and bio_send
 * queues into the raw send buffer (mx_stream_send); an empty buffer or a
 * full one is MBEDTLS_ERR_SSL_WANT_READ / _WANT_WRITE, never a wait.
 * Decrypted bytes go to a linear plaintext buffer that the owner reads
 * with mx_stream_read_view, as on a transport; the owner's output goes to
 * a plaintext staging buffer and is encrypted at once when the raw stream
 * has room. The staging buffer is what makes WANT_WRITE safe: mbedTLS
 * requires a write it interrupted to be retried with the same data and
 * length (STYLE pitfall 11); the bytes stay at the head of the buffer and
 * wflight remembers the length until the retry succeeds.
 *
 * Driving. Everything runs from the raw stream's callbacks (new bytes,
 * send space) and from a zero-delay timer ("kick") for the cases where no
 * raw event will come: the owner freed plaintext space, or asked for
 * on_readable again. Timers fire inside mx_loop_run_once, so the owner's
 * callbacks are never invoked from inside one of its own mx_stream_* calls
 * (mx_stream.h's rule).
 *
 * Lifetime. The owner's on_closed runs exactly once, from the raw stream's
 * on_closed (with the role's error, if it set one); the role then releases
 * the session: a server session goes back to its worker's pool (its 2 x 16
 * KiB mbedTLS record buffers are kept, mbedtls_ssl_session_reset) or is
 * freed when the pool is full. A failure closes the raw stream (so
 * mbedTLS's alert is still sent) and discards what either side buffered;
 * the server role counts the reason and logs it, rate-limited.
 *
 * Thread: the loop's thread of the raw stream.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl_internal.h>

#include "mx_base.h"
#include "mx_log.h"
#include "mx_stream_impl.h"
#include "mx_timer.h"
#include "tls_mbed.h"

static const struct mx_stream_ops tls_ops;
static const struct mx_stream_cb tls_raw_cb;
static const struct tls_role tls_server_role;

static struct tls_stream *
tls_of(struct mx_stream *st)
{
	return (struct tls_stream *)st;
}

static const struct tls_stream *
tls_of_c(const struct mx_stream *st)
{
	return (const struct tls_stream *)st;
}

static struct mx_stream *
tls_mx(struct tls_stream *t)
{
	return (struct mx_stream *)t;
}

/* ---- owner notifications -------------------------------------------- */

static void
tls_notify_readable(struct tls_stream *t)
{
	const struct mx_stream_cb *cb = t->base.cb;

	if (cb != NULL && cb->on_readable != NULL)
		cb->on_readable(tls_mx(t), t->base.cb_arg);
}

static void
tls_notify_writable(struct tls_stream *t)
{
	const struct mx_stream_cb *cb = t->base.cb;

	if (cb != NULL && cb->on_writable != NULL)
		cb->on_writable(tls_mx(t), t->base.cb_arg);
}

static void
tls_kick(struct tls_stream *t)
{
	struct mx_loop *loop = t->base.loop;

	if (!mx_timer_armed(&t->kick))
		mx_timer_arm(mx_loop_wheel(loop), &t->kick, mx_loop_now_ms(loop));
}

/* ---- mbedTLS I/O over the raw stream --------------------------------- */

static int
tls_bio_send(void *arg, const unsigned char *p, size_t len)
{
	struct tls_stream *t = arg;
	long n;

	n = mx_stream_send(t->raw, p, MX_MIN(len, (size_t)INT_MAX));
	if (n < 0)
		return MBEDTLS_ERR_NET_CONN_RESET;
	if (n == 0)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	return (int)n;
}

static int
tls_bio_recv(void *arg, unsigned char *p, size_t len)
{
	struct tls_stream *t = arg;
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
	/* 0 is end of stream for mbedTLS (MBEDTLS_ERR_SSL_CONN_EOF). */
	if (mx_stream_peer_closed(t->raw))
		return 0;
	return MBEDTLS_ERR_SSL_WANT_READ;
}

/* ---- failures --------------------------------------------------------- */

/* The role reports (and counts) first, while the session still says why;
 * then whatever either side buffered is discarded, and the raw stream is
 * closed gracefully so the alert mbedTLS queued still leaves. The owner's
 * on_closed follows from the raw stream's. */
void
tls_stream_fail(struct tls_stream *t, int rc, const char *where)
{
	char peer[64];

	mx_addr_format(&t->base.peer, true, peer, sizeof(peer));
	t->role->failed(t, rc, where, peer);
	t->state = TLS_CLOSED;
	t->rlen = 0;
	t->slen = 0;
	t->wflight = 0;
	mx_stream_close(t->raw);
}

/* ---- the engine ------------------------------------------------------- */

static bool
tls_want(int rc)
{
	return rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE;
}

/* One step of the handshake; true once it is complete and the role
 * accepted it. */
static bool
tls_handshake(struct tls_stream *t)
{
	int rc;

	rc = mbedtls_ssl_handshake(&t->ssl);
	if (tls_want(rc)) {
		/* A resumed handshake always stops once to wait for the
		 * client's Finished (the server's comes first, RFC 5246
		 * 7.3); mbedTLS only says "resume" while it runs. */
		if (t->ssl.handshake != NULL && t->ssl.handshake->resume)
			t->resumed = true;
		return false;
	}
	if (rc != 0) {
		tls_stream_fail(t, rc, "handshake");
		return false;
	}
	t->state = TLS_OPEN;
	t->established = true;
	return t->role->established(t) && t->state == TLS_OPEN;
}

/* Encrypts staged plaintext into the raw stream. */
static void
tls_flush_out(struct tls_stream *t)
{
	size_t len;
	int rc;

	while (t->state == TLS_OPEN && t->slen > 0) {
		/* Pitfall 11: after WANT_WRITE, the same bytes and length. */
		len = t->wflight > 0 ? t->wflight : t->slen;
		rc = mbedtls_ssl_write(&t->ssl, t->sbuf, len);
		if (tls_want(rc)) {
			t->wflight = len;
			return;
		}
		if (rc < 0) {
			tls_stream_fail(t, rc, "write");
			return;
		}
		t->wflight = 0;
		memmove(t->sbuf, t->sbuf + rc, t->slen - (size_t)rc);
		t->slen -= (size_t)rc;
	}
}

/* Decrypts into the plaintext buffer while it has room; true when
 * something new arrived (bytes or the end of the stream). */
static bool
tls_fill(struct tls_stream *t)
{
	bool got = false;
	size_t room;
	int rc;

	if (t->rlen == 0)
		t->roff = 0;
	else if (t->roff > 0 && TLS_PLAIN_BUF - t->roff - t->rlen < TLS_PLAIN_BUF / 2) {
		memmove(t->rbuf, t->rbuf + t->roff, t->rlen);
		t->roff = 0;
	}
	while (t->state == TLS_OPEN && !t->eof) {
		room = TLS_PLAIN_BUF - t->roff - t->rlen;
		if (room == 0)
			break;
		rc = mbedtls_ssl_read(&t->ssl, t->rbuf + t->roff + t->rlen, room);
		if (rc > 0) {
			t->rlen += (size_t)rc;
			got = true;
			continue;
		}
		if (tls_want(rc))
			break;
		if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY ||
				rc == MBEDTLS_ERR_SSL_CONN_EOF) {
			/* close_notify, or a bare FIN (RFC 5246 7.2.1 lets
			 * SMTP treat it as the end; SMTP frames its data). */
			t->eof = true;
			t->base.peer_closed = true;
			return true;
		}
		tls_stream_fail(t, rc, "read");
		return got;
	}
	return got;
}

/* Runs whatever can run now, then tells the owner. */
static void
tls_pump(struct tls_stream *t)
{
	bool got;

	if (t->state == TLS_HS && !tls_handshake(t))
		return;
	if (t->state != TLS_OPEN)
		return;
	tls_flush_out(t);
	got = tls_fill(t);
	if (t->state != TLS_OPEN)
		return;
	if ((got || t->notify_read) && (t->rlen > 0 || t->base.peer_closed)) {
		t->notify_read = false;
		tls_notify_readable(t);
	}
	if (t->state == TLS_OPEN && t->want_writable && t->slen < TLS_PLAIN_BUF) {
		t->want_writable = false;
		tls_notify_writable(t);
	}
}

static void
tls_on_kick(struct mx_timer *tm, void *arg)
{
	(void)tm;
	tls_pump(arg);
}

/* ---- raw stream callbacks --------------------------------------------- */

static void
tls_raw_readable(struct mx_stream *raw, void *arg)
{
	(void)raw;
	tls_pump(arg);
}

static void
tls_raw_writable(struct mx_stream *raw, void *arg)
{
	(void)raw;
	tls_pump(arg);
}

static void
tls_raw_connected(struct mx_stream *raw, int err, void *arg)
{
	/* The raw stream was established before it was wrapped. */
	(void)raw;
	(void)err;
	(void)arg;
}

static void
tls_raw_closed(struct mx_stream *raw, int err, void *arg)
{
	struct tls_stream *t = arg;
	const struct mx_stream_cb *cb = t->base.cb;

	(void)raw;
	t->state = TLS_DEAD;
	mx_timer_cancel(mx_loop_wheel(t->base.loop), &t->kick);
	/* Client role: a session that ended before its certificate check
	 * failed its handshake, in mx_tls_client_info's words. */
	if (t->verify == NULL)
		t->verify = "handshake failed";
	if (cb != NULL && cb->on_closed != NULL)
		cb->on_closed(tls_mx(t), t->fail_err != 0 ? t->fail_err : err,
				t->base.cb_arg);
	t->role->release(t);
}

static const struct mx_stream_cb tls_raw_cb = {
	.on_readable = tls_raw_readable,
	.on_writable = tls_raw_writable,
	.on_connected = tls_raw_connected,
	.on_closed = tls_raw_closed,
};

/* ---- stream ops (the owner's side) ------------------------------------ */

static size_t
tls_read_view(struct mx_stream *st, const uint8_t **p)
{
	struct tls_stream *t = tls_of(st);

	if (t->state != TLS_OPEN || t->rlen == 0) {
		*p = NULL;
		return 0;
	}
	*p = t->rbuf + t->roff;
	return t->rlen;
}

static void
tls_consume(struct mx_stream *st, size_t n)
{
	struct tls_stream *t = tls_of(st);

	if (t->state != TLS_OPEN || n == 0)
		return;
	MX_ASSERT(n <= t->rlen);
	t->roff += n;
	t->rlen -= n;
	if (t->rlen == 0)
		t->roff = 0;
	/* Room again: more may wait decrypted inside mbedTLS or encrypted
	 * in the raw buffer, and no raw event will announce it. */
	if (!t->eof && (mbedtls_ssl_get_bytes_avail(&t->ssl) > 0 ||
			mbedtls_ssl_check_pending(&t->ssl) ||
			mx_stream_readable(t->raw) > 0))
		tls_kick(t);
}

static size_t
tls_readable(const struct mx_stream *st)
{
	const struct tls_stream *t = tls_of_c(st);

	return t->state == TLS_OPEN ? t->rlen : 0;
}

static void
tls_want_read(struct mx_stream *st)
{
	struct tls_stream *t = tls_of(st);

	if (t->state != TLS_OPEN && t->state != TLS_HS)
		return;
	t->notify_read = true;
	if (t->state == TLS_OPEN)
		tls_kick(t);
}

static long
tls_send(struct mx_stream *st, const void *p, size_t len)
{
	struct tls_stream *t = tls_of(st);
	size_t done = 0, n;

	if (t->state != TLS_OPEN && t->state != TLS_HS)
		return -EPIPE;
	/* Stage, encrypt, stage again while the raw stream takes it: a
	 * short return must mean the raw stream is full (its on_writable
	 * will come and wake the owner through tls_pump), never that only
	 * our staging buffer was, or the owner would wait for an event that
	 * never comes. Each round stages bytes or stops. */
	while (done < len) {
		n = MX_MIN(len - done, TLS_PLAIN_BUF - t->slen);
		if (n == 0)
			break;
		memcpy(t->sbuf + t->slen, (const uint8_t *)p + done, n);
		t->slen += n;
		done += n;
		tls_flush_out(t);
		if (t->state != TLS_OPEN && t->state != TLS_HS)
			return done > 0 ? (long)done : -EPIPE;
	}
	if (done < len)
		t->want_writable = true;
	return (long)done;
}

static size_t
tls_send_space(const struct mx_stream *st)
{
	const struct tls_stream *t = tls_of_c(st);

	if (t->state != TLS_OPEN && t->state != TLS_HS)
		return 0;
	return TLS_PLAIN_BUF - t->slen;
}

static size_t
tls_send_pending(const struct mx_stream *st)
{
	const struct tls_stream *t = tls_of_c(st);

	if (t->state == TLS_DEAD)
		return 0;
	return t->slen + mx_stream_send_pending(t->raw);
}

static void
tls_close(struct mx_stream *st)
{
	struct tls_stream *t = tls_of(st);

	if (t->state != TLS_OPEN && t->state != TLS_HS)
		return;
	if (t->state == TLS_OPEN) {
		tls_flush_out(t);
		if (t->state != TLS_OPEN)
			return;
		/* Like the transport's close, this sends what is queued,
		 * but only what fits now: a peer that does not read loses
		 * the rest (counted), as it would lose it to linger_ms. */
		if (t->slen > 0 && t->role->dropped != NULL)
			t->role->dropped(t);
		/* RFC 5246 7.2.1: close_notify before the FIN; best effort. */
		(void)mbedtls_ssl_close_notify(&t->ssl);
	}
	t->state = TLS_CLOSED;
	t->rlen = 0;
	t->slen = 0;
	mx_timer_cancel(mx_loop_wheel(t->base.loop), &t->kick);
	mx_stream_close(t->raw);
}

static void
tls_abort(struct mx_stream *st)
{
	struct tls_stream *t = tls_of(st);

	if (t->state == TLS_DEAD)
		return;
	t->state = TLS_CLOSED;
	t->rlen = 0;
	t->slen = 0;
	mx_timer_cancel(mx_loop_wheel(t->base.loop), &t->kick);
	mx_stream_abort(t->raw);
}

static const struct mx_stream_ops tls_ops = {
	.read_view = tls_read_view,
	.consume = tls_consume,
	.readable = tls_readable,
	.want_read = tls_want_read,
	.send = tls_send,
	.send_space = tls_send_space,
	.send_pending = tls_send_pending,
	.close = tls_close,
	.abort = tls_abort,
};

/* ---- the core's entry points ------------------------------------------ */

void
tls_stream_start(struct tls_stream *t, const struct tls_role *role,
		struct mx_stream *raw, bool kick)
{
	mx_stream_base_init(&t->base, &tls_ops, mx_stream_loop(raw));
	/* The same connection: the same id and addresses in every log. */
	t->base.id = mx_stream_id(raw);
	mx_stream_peer(raw, &t->base.peer);
	mx_stream_local(raw, &t->base.local);
	t->role = role;
	t->verify = NULL;
	t->fail_err = 0;
	t->raw = raw;
	t->state = TLS_HS;
	t->established = false;
	t->resumed = false;
	t->want_writable = false;
	t->notify_read = false;
	t->eof = false;
	t->wflight = 0;
	t->roff = 0;
	t->rlen = 0;
	t->slen = 0;
	mx_timer_init(&t->kick, tls_on_kick, t);
	mbedtls_ssl_set_bio(&t->ssl, t, tls_bio_send, tls_bio_recv, NULL);
	mx_stream_set_cb(raw, &tls_raw_cb, t);
	/* A server's ClientHello may already be buffered. */
	if (kick || mx_stream_readable(raw) > 0 || mx_stream_peer_closed(raw))
		tls_kick(t);
}

bool
tls_stream_of(const struct mx_stream *st, const struct tls_role *role)
{
	return st != NULL && ((const struct mx_stream_base *)st)->ops == &tls_ops &&
		((const struct tls_stream *)st)->role == role;
}

/* ---- the server role --------------------------------------------------- */

static bool
tls_server_established(struct tls_stream *t)
{
	struct mx_tls_stats *s = &t->gen->ctx->pub.stats;

	atomic_fetch_add_explicit(&s->handshakes, 1, memory_order_relaxed);
	if (t->resumed)
		atomic_fetch_add_explicit(&s->resumed, 1, memory_order_relaxed);
	return true;
}

/* Counted by reason and logged, rate-limited: a peer triggers it. */
static void
tls_server_failed(struct tls_stream *t, int rc, const char *where, const char *peer)
{
	char why[96];

	tls_count_failure(t->gen->ctx, &t->ssl, rc);
	mbedtls_strerror(rc, why, sizeof(why));
	MX_LOG_RL(MX_LOG_INFO, TLS_LOG, "session %llu %s: TLS %s failed: %s (-0x%04x)",
			(unsigned long long)t->base.id, peer, where, why, (unsigned)-rc);
}

static void
tls_server_dropped(struct tls_stream *t)
{
	atomic_fetch_add_explicit(&t->gen->ctx->pub.stats.close_dropped, 1,
			memory_order_relaxed);
}

static void
tls_server_release(struct tls_stream *t)
{
	struct tls_pconf *pc = t->pc;
	struct tls_gen *g = t->gen;

	/* Pooled sessions hold no reference: the generation's last put
	 * frees them with it. */
	if (pc->n_pool < g->cf.pool_max &&
			mbedtls_ssl_session_reset(&t->ssl) == 0) {
		t->next_free = pc->pool;
		pc->pool = t;
		pc->n_pool++;
	} else {
		mbedtls_ssl_free(&t->ssl);
		free(t);
	}
	tls_gen_put(g);
}

static const struct tls_role tls_server_role = {
	.established = tls_server_established,
	.failed = tls_server_failed,
	.dropped = tls_server_dropped,
	.release = tls_server_release,
};

/* ---- pool and public API ---------------------------------------------- */

static struct tls_stream *
tls_get(struct tls_pconf *pc)
{
	struct tls_stream *t = pc->pool;

	if (t != NULL) {
		pc->pool = t->next_free;
		pc->n_pool--;
		return t;
	}
	t = malloc(sizeof(*t));
	if (t == NULL)
		return NULL;
	mbedtls_ssl_init(&t->ssl);
	/* Allocates the 2 x 16 KiB record buffers, kept while pooled. */
	if (mbedtls_ssl_setup(&t->ssl, &pc->conf) != 0) {
		mbedtls_ssl_free(&t->ssl);
		free(t);
		return NULL;
	}
	return t;
}

void
tls_pool_drain(struct tls_pconf *pc)
{
	struct tls_stream *t;

	while ((t = pc->pool) != NULL) {
		pc->pool = t->next_free;
		mbedtls_ssl_free(&t->ssl);
		free(t);
	}
	pc->n_pool = 0;
}

int
tls_mbed_stream_create(struct mx_tls_ctx *pub, struct mx_stream *raw,
		struct mx_stream **out)
{
	struct tls_mbed_ctx *ctx = (struct tls_mbed_ctx *)pub;
	unsigned wid = mx_loop_worker_id(mx_stream_loop(raw));
	struct tls_stream *t;
	struct tls_pconf *pc;
	struct tls_gen *g;
	struct mx_addr peer;
	int prof;

	if (wid >= ctx->pub.n_workers)
		return -EINVAL;
	/* The connection profile is chosen now, by the client's address,
	 * so the handshake enforces its version, suites and certificate. */
	g = tls_gen_adopt(ctx, wid);
	mx_stream_peer(raw, &peer);
	prof = tls_prof_by_addr(g, &peer);
	pc = &g->w[wid].pc[prof + 1];
	t = tls_get(pc);
	if (t == NULL) {
		atomic_fetch_add_explicit(&ctx->pub.stats.alloc_fail, 1, memory_order_relaxed);
		return -ENOMEM;
	}
	atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
	t->gen = g;
	t->pc = pc;
	t->prof = prof;
	t->next_free = NULL;
	t->cl = NULL;
	tls_stream_start(t, &tls_server_role, raw, false);
	*out = tls_mx(t);
	return 0;
}

bool
tls_mbed_stream_is(const struct mx_stream *st)
{
	return tls_stream_of(st, &tls_server_role);
}

static void
tls_peer_info(const mbedtls_x509_crt *crt, struct mx_tls_info *out)
{
	unsigned char dg[32];
	unsigned i;

	out->peer_cert = true;
	if (mbedtls_x509_dn_gets(out->peer_subject, sizeof(out->peer_subject),
				&crt->subject) < 0)
		out->peer_subject[0] = '\0';
	if (mbedtls_x509_dn_gets(out->peer_issuer, sizeof(out->peer_issuer),
				&crt->issuer) < 0)
		out->peer_issuer[0] = '\0';
	if (mbedtls_sha256_ret(crt->raw.p, crt->raw.len, dg, 0) != 0) {
		out->peer_sha256[0] = '\0';
		return;
	}
	for (i = 0; i < sizeof(dg); i++)
		snprintf(out->peer_sha256 + 2 * i, 3, "%02x", dg[i]);
}

int
tls_mbed_stream_info(const struct mx_stream *st, struct mx_tls_info *out)
{
	const struct tls_stream *t;
	const mbedtls_x509_crt *crt;

	if (!tls_mbed_stream_is(st))
		return -EINVAL;
	t = tls_of_c(st);
	if (!t->established || t->state == TLS_DEAD)
		return -EAGAIN;
	memset(out, 0, sizeof(*out));
	out->version = mbedtls_ssl_get_version(&t->ssl);
	out->cipher = mbedtls_ssl_get_ciphersuite(&t->ssl);
	out->resumed = t->resumed;
	crt = mbedtls_ssl_get_peer_cert(&t->ssl);
	if (crt != NULL)
		tls_peer_info(crt, out);
	if (t->prof >= 0) {
		out->profile = t->gen->prof[t->prof].b.name;
		out->peer_verified = crt != NULL && t->gen->prof[t->prof].has_ca &&
			mbedtls_ssl_get_verify_result(&t->ssl) == 0;
	}
	return 0;
}

const mbedtls_ssl_context *
tls_stream_ssl(const struct mx_stream *st, struct tls_gen **gen, int *prof)
{
	const struct tls_stream *t;

	if (!tls_mbed_stream_is(st))
		return NULL;
	t = tls_of_c(st);
	if (!t->established || t->state == TLS_DEAD)
		return NULL;
	*gen = t->gen;
	*prof = t->prof;
	return &t->ssl;
}
