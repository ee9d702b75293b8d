/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * gen_tls.c: the generator's STARTTLS client (RFC 3207), mbedTLS over a
 * stream. crypto/tls is the engine's server side only, and this is the
 * traffic generator, not the engine, so the client lives here.
 *
 * One ssl config for the run; one ssl context per session slot, set up on
 * the slot's first STARTTLS and reset between sessions, so a running
 * generator does not allocate. The first full handshake's session (with
 * its ticket, RFC 5077) is kept; sessions drawn to resume offer it.
 *
 * The server certificate is not validated (this measures handshakes, it
 * does not protect mail); its verify callback only tells us whether the
 * handshake was a full one (a certificate came) or a resumption.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>

#include "gen_priv.h"

struct gen_tls {
	mbedtls_entropy_context ent;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_ssl_config conf;
	mbedtls_ssl_session saved;
	bool have_saved;
};

struct sess_tls {
	mbedtls_ssl_context ssl;
	bool cert_seen;
	bool done;
};

int
mx_bench_gen_tls_init(struct gen *g)
{
	struct gen_tls *t;
	int rc;

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	g->tls = t;
	mbedtls_entropy_init(&t->ent);
	mbedtls_ctr_drbg_init(&t->drbg);
	mbedtls_ssl_config_init(&t->conf);
	mbedtls_ssl_session_init(&t->saved);
	rc = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->ent,
			(const unsigned char *)"mxedge-bench", 12);
	if (rc == 0)
		rc = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT,
				MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (rc != 0)
		return -EIO;
	mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
	/* OPTIONAL, not NONE: mbedTLS then runs the verify callback on the
	 * certificate of every full handshake and never on a resumption. */
	mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_OPTIONAL);
	mbedtls_ssl_conf_session_tickets(&t->conf, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
	return 0;
}

void
mx_bench_gen_tls_free(struct gen *g)
{
	struct gen_tls *t = g->tls;

	if (t == NULL)
		return;
	for (unsigned i = 0; g->slots != NULL && i < g->c->concurrency; i++) {
		if (g->slots[i].tls_slot != NULL) {
			mbedtls_ssl_free(&g->slots[i].tls_slot->ssl);
			free(g->slots[i].tls_slot);
		}
	}
	mbedtls_ssl_session_free(&t->saved);
	mbedtls_ssl_config_free(&t->conf);
	mbedtls_ctr_drbg_free(&t->drbg);
	mbedtls_entropy_free(&t->ent);
	free(t);
	g->tls = NULL;
}

static int
bio_send(void *arg, const unsigned char *p, size_t n)
{
	struct sess *s = arg;
	long w = mx_stream_send(s->st, p, n);

	if (w < 0)
		return MBEDTLS_ERR_NET_SEND_FAILED;
	if (w == 0)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	return (int)w;
}

static int
bio_recv(void *arg, unsigned char *p, size_t n)
{
	struct sess *s = arg;
	const uint8_t *v;
	size_t got = mx_stream_read_view(s->st, &v);

	if (got == 0)
		return mx_stream_peer_closed(s->st) ? 0 : MBEDTLS_ERR_SSL_WANT_READ;
	got = MX_MIN(got, n);
	memcpy(p, v, got);
	mx_stream_consume(s->st, got);
	return (int)got;
}

static int
cert_seen(void *arg, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	struct sess_tls *t = arg;

	t->cert_seen = true;
	*flags = 0;
	return 0;
}

static void
tls_fail(struct sess *s)
{
	struct mx_bench_result *r = s->g->r;

	r->err[MX_BENCH_ERR_TLS]++;
	if (!s->failed) {
		s->failed = true;
		r->sessions_failed++;
		if (s->in_txn)
			r->messages_failed++;
	}
	s->state = S_CLOSING;
	mx_stream_abort(s->st);
}

void
mx_bench_gen_tls_start(struct sess *s)
{
	struct gen_tls *gt = s->g->tls;
	struct sess_tls *t = s->tls_slot;

	if (t == NULL) {
		t = calloc(1, sizeof(*t));
		if (t == NULL) {
			tls_fail(s);
			return;
		}
		mbedtls_ssl_init(&t->ssl);
		s->tls_slot = t;
		if (mbedtls_ssl_setup(&t->ssl, &gt->conf) != 0) {
			tls_fail(s);
			return;
		}
	} else if (mbedtls_ssl_session_reset(&t->ssl) != 0) {
		tls_fail(s);
		return;
	}
	t->cert_seen = false;
	t->done = false;
	mbedtls_ssl_set_bio(&t->ssl, s, bio_send, bio_recv, NULL);
	mbedtls_ssl_set_verify(&t->ssl, cert_seen, t);
	if (s->want_resume && gt->have_saved)
		mbedtls_ssl_set_session(&t->ssl, &gt->saved);
	s->tls = t;
	s->state = S_TLS;
	mx_bench_gen_tls_step(s);
}

void
mx_bench_gen_tls_step(struct sess *s)
{
	struct gen_tls *gt = s->g->tls;
	struct sess_tls *t = s->tls;
	int rc;

	rc = mbedtls_ssl_handshake(&t->ssl);
	if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
		return;
	if (rc != 0) {
		tls_fail(s);
		return;
	}
	t->done = true;
	if (t->cert_seen)
		s->g->r->handshakes_full++;
	else
		s->g->r->handshakes_resumed++;
	if (!gt->have_saved && mbedtls_ssl_get_session(&t->ssl, &gt->saved) == 0)
		gt->have_saved = true;
	s->last_ms = mx_clock_ms();
	mx_bench_gen_tls_done(s);
}

static void
tls_records(struct sess *s)
{
	struct sess_tls *t = s->tls;
	int rc;

	while (s->state != S_CLOSING && s->in_len < IN_SIZE) {
		rc = mbedtls_ssl_read(&t->ssl, s->in + s->in_len, IN_SIZE - s->in_len);
		if (rc > 0) {
			s->in_len += (size_t)rc;
			mx_bench_gen_input(s);
			continue;
		}
		if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
			return;
		if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
			s->g->r->err[MX_BENCH_ERR_CLOSED]++;
			if (!s->failed) {
				s->failed = true;
				s->g->r->sessions_failed++;
				if (s->in_txn)
					s->g->r->messages_failed++;
			}
			s->state = S_CLOSING;
			mx_stream_close(s->st);
			return;
		}
		tls_fail(s);
		return;
	}
}

void
mx_bench_gen_tls_readable(struct sess *s)
{
	if (s->state == S_TLS)
		mx_bench_gen_tls_step(s);
	if (s->state != S_TLS && s->state != S_CLOSING)
		tls_records(s);
	if (s->state == S_CLOSING)
		mx_stream_consume(s->st, mx_stream_readable(s->st));
}

void
mx_bench_gen_tls_end(struct sess *s)
{
	s->tls = NULL;
}

long
mx_bench_gen_write(struct sess *s, const uint8_t *p, size_t n)
{
	long w;
	int rc;

	if (s->tls == NULL) {
		w = mx_stream_send(s->st, p, n);
		if (w < 0) {
			s->write_err = true;
			return -1;
		}
		return w;
	}
	rc = mbedtls_ssl_write(&s->tls->ssl, p, n);
	if (rc >= 0)
		return rc;
	if (rc == MBEDTLS_ERR_SSL_WANT_WRITE || rc == MBEDTLS_ERR_SSL_WANT_READ)
		return 0;
	s->write_err = true;
	return -1;
}
