/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of crypto/tls: certificate hygiene at mx_tls_ctx_create, and
 * the TLS stream over the real kernel transport on 127.0.0.1 against an
 * in-process mbedTLS client running in a thread on a blocking socket. The
 * server side is an echo owner that uses only the mx_stream API. Tiny
 * transport buffers force every WANT_READ/WANT_WRITE path of the glue
 * (handshake records that do not fit, writes retried with the same
 * length, records that arrive a few bytes at a time).
 *
 * Certificates are made at test time with the openssl command (skipped,
 * exit 77, when it is missing).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "mx_base.h"
#include "mx_stream.h"
#include "mx_tls.h"

static char dir[64];
/* The backend the group runs on: every test but the profile ones runs
 * once per backend (main). */
static enum mx_tls_backend backend;

static void
path_of(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

/* One self-signed certificate: key spec for openssl req -newkey. */
static int
make_cert(const char *name, const char *newkey, const char *san, int days)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		"openssl req -x509 -newkey %s -nodes -keyout %s/%s.key "
		"-out %s/%s.crt -days %d -subj /CN=%s "
		"-addext subjectAltName=DNS:%s >/dev/null 2>&1",
		newkey, dir, name, dir, name, days, san, san);
	return system(cmd);
}

static int
setup_mbedtls(void **state)
{
	(void)state;
	backend = MX_TLS_BACKEND_MBEDTLS;
	return 0;
}

static int
setup_openssl(void **state)
{
	(void)state;
	backend = MX_TLS_BACKEND_OPENSSL;
	return 0;
}

/* ---- server side ------------------------------------------------------ */

struct srv {
	struct mx_loop *loop;
	struct mx_listener *l;
	struct mx_tls_ctx *ctx;
	struct mx_stream *st;
	struct mx_tls_info info;
	int info_rc;
	bool closed;
	int close_err;
	size_t echoed;
	size_t blast;                /* > 0: answer the first bytes with this many */
	long blast_rc;               /* what the one mx_stream_send returned */
};

static uint8_t
blast_byte(size_t i)
{
	return (uint8_t)(i * 13 + 5);
}

/* Answers the client's first bytes with s->blast bytes in one send, more
 * than the TLS stream's 4 KiB plaintext staging buffer: with room in the
 * raw stream, all of it must be taken at once (a short count would wait
 * for an on_writable that no raw event ever brings). */
static void
srv_blast(struct mx_stream *st, struct srv *s)
{
	uint8_t *buf;
	const uint8_t *p;
	size_t i, n;

	n = mx_stream_read_view(st, &p);
	if (n == 0)
		return;
	mx_stream_consume(st, n);
	buf = malloc(s->blast);
	assert_non_null(buf);
	for (i = 0; i < s->blast; i++)
		buf[i] = blast_byte(i);
	s->blast_rc = mx_stream_send(st, buf, s->blast);
	free(buf);
	s->blast = 0;
	mx_stream_close(st);
}

static void
srv_pump(struct mx_stream *st, struct srv *s)
{
	const uint8_t *p;
	size_t n;
	long k;

	if (s->blast > 0) {
		srv_blast(st, s);
		return;
	}
	for (;;) {
		n = mx_stream_read_view(st, &p);
		if (n == 0)
			break;
		if (s->info_rc != 0)
			s->info_rc = mx_tls_stream_info(st, &s->info);
		k = mx_stream_send(st, p, n);
		assert_true(k >= 0);
		mx_stream_consume(st, (size_t)k);
		s->echoed += (size_t)k;
		if ((size_t)k < n)
			return; /* on_writable, then want_read */
	}
	if (mx_stream_peer_closed(st))
		mx_stream_close(st);
}

static void
srv_readable(struct mx_stream *st, void *arg)
{
	srv_pump(st, arg);
}

static void
srv_writable(struct mx_stream *st, void *arg)
{
	mx_stream_want_read(st);
	(void)arg;
}

static void
srv_connected(struct mx_stream *st, int err, void *arg)
{
	(void)st;
	(void)err;
	(void)arg;
}

static void
srv_closed(struct mx_stream *st, int err, void *arg)
{
	struct srv *s = arg;

	(void)st;
	s->closed = true;
	s->close_err = err;
	s->st = NULL;
}

static const struct mx_stream_cb srv_cb = {
	.on_readable = srv_readable,
	.on_writable = srv_writable,
	.on_connected = srv_connected,
	.on_closed = srv_closed,
};

static void
srv_accept(struct mx_listener *l, struct mx_stream *raw, void *arg)
{
	struct srv *s = arg;
	struct mx_stream *t;

	(void)l;
	assert_int_equal(mx_tls_stream_create(s->ctx, raw, &t), 0);
	assert_true(mx_tls_stream_is(t));
	assert_false(mx_tls_stream_is(raw));
	assert_int_equal(mx_stream_id(t), mx_stream_id(raw));
	mx_stream_set_cb(t, &srv_cb, s);
	s->st = t;
}

/* ---- client side (a thread, blocking socket) ------------------------- */

struct cli {
	uint16_t port;
	const char *sni;
	int min_minor, max_minor;
	const int *suites;
	size_t total, chunk;
	size_t expect;               /* > 0: send one byte, read this many */
	mbedtls_ssl_session *save;  /* out: session after the handshake */
	mbedtls_ssl_session *resume; /* in: session to resume */
	/* results */
	int hs_rc;
	bool data_ok;
	bool resumed_ticket;
	int peer_pk;                 /* mbedtls_pk_type_t of the server key */
	char peer_san[64];
};

static int
cli_write_all(mbedtls_ssl_context *ssl, const uint8_t *p, size_t n)
{
	size_t done = 0;
	int rc;

	while (done < n) {
		rc = mbedtls_ssl_write(ssl, p + done, n - done);
		if (rc < 0)
			return rc;
		done += (size_t)rc;
	}
	return 0;
}

static int
cli_read_all(mbedtls_ssl_context *ssl, uint8_t *p, size_t n)
{
	size_t done = 0;
	int rc;

	while (done < n) {
		rc = mbedtls_ssl_read(ssl, p + done, n - done);
		if (rc <= 0)
			return rc == 0 ? -1 : rc;
		done += (size_t)rc;
	}
	return 0;
}

static void
cli_peer(struct cli *c, mbedtls_ssl_context *ssl)
{
	const mbedtls_x509_crt *crt = mbedtls_ssl_get_peer_cert(ssl);
	const mbedtls_x509_sequence *san;

	if (crt == NULL)
		return;
	c->peer_pk = (int)mbedtls_pk_get_type(&crt->pk);
	san = &crt->subject_alt_names;
	if (san->buf.p != NULL)
		snprintf(c->peer_san, sizeof(c->peer_san), "%.*s",
				(int)san->buf.len, (const char *)san->buf.p);
}

static void
cli_exchange(struct cli *c, mbedtls_ssl_context *ssl)
{
	uint8_t out[1024], in[1024];
	size_t sent = 0, k, i;

	c->data_ok = true;
	while (sent < c->total && c->data_ok) {
		k = MX_MIN(c->chunk, c->total - sent);
		for (i = 0; i < k; i++)
			out[i] = (uint8_t)((sent + i) * 7 + 3);
		if (cli_write_all(ssl, out, k) != 0 || cli_read_all(ssl, in, k) != 0 ||
				memcmp(in, out, k) != 0)
			c->data_ok = false;
		sent += k;
	}
}

/* One byte out, then c->expect bytes of the server's pattern back. */
static void
cli_expect(struct cli *c, mbedtls_ssl_context *ssl)
{
	uint8_t go = '!', *in;
	size_t i;

	in = malloc(c->expect);
	c->data_ok = in != NULL && cli_write_all(ssl, &go, 1) == 0 &&
		cli_read_all(ssl, in, c->expect) == 0;
	for (i = 0; c->data_ok && i < c->expect; i++)
		if (in[i] != blast_byte(i))
			c->data_ok = false;
	free(in);
}

static void *
cli_main(void *arg)
{
	struct cli *c = arg;
	mbedtls_net_context net;
	mbedtls_entropy_context ent;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_ssl_config cf;
	mbedtls_ssl_context ssl;
	char port[8];

	mbedtls_net_init(&net);
	mbedtls_entropy_init(&ent);
	mbedtls_ctr_drbg_init(&drbg);
	mbedtls_ssl_config_init(&cf);
	mbedtls_ssl_init(&ssl);
	c->hs_rc = -1;
	snprintf(port, sizeof(port), "%u", c->port);
	if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent, NULL, 0) != 0 ||
			mbedtls_net_connect(&net, "127.0.0.1", port, MBEDTLS_NET_PROTO_TCP) != 0 ||
			mbedtls_ssl_config_defaults(&cf, MBEDTLS_SSL_IS_CLIENT,
				MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT) != 0)
		goto out;
	mbedtls_ssl_conf_rng(&cf, mbedtls_ctr_drbg_random, &drbg);
	mbedtls_ssl_conf_authmode(&cf, MBEDTLS_SSL_VERIFY_NONE);
	mbedtls_ssl_conf_min_version(&cf, 3, c->min_minor);
	mbedtls_ssl_conf_max_version(&cf, 3, c->max_minor);
	if (c->suites != NULL)
		mbedtls_ssl_conf_ciphersuites(&cf, c->suites);
	if (mbedtls_ssl_setup(&ssl, &cf) != 0)
		goto out;
	if (c->sni != NULL)
		(void)mbedtls_ssl_set_hostname(&ssl, c->sni);
	if (c->resume != NULL)
		(void)mbedtls_ssl_set_session(&ssl, c->resume);
	mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, mbedtls_net_recv, NULL);
	c->hs_rc = mbedtls_ssl_handshake(&ssl);
	if (c->hs_rc != 0)
		goto out;
	cli_peer(c, &ssl);
	if (c->save != NULL)
		(void)mbedtls_ssl_get_session(&ssl, c->save);
	if (c->expect > 0)
		cli_expect(c, &ssl);
	else
		cli_exchange(c, &ssl);
	(void)mbedtls_ssl_close_notify(&ssl);
out:
	mbedtls_net_free(&net);
	mbedtls_ssl_free(&ssl);
	mbedtls_ssl_config_free(&cf);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&ent);
	return NULL;
}

/* ---- harness ------------------------------------------------------------ */

struct run {
	size_t rcvbuf, sndbuf;
};

static void
srv_start(struct srv *s, struct mx_tls_ctx *ctx, const struct run *r, uint16_t *port)
{
	struct mx_loop_conf lc;
	struct mx_addr a, local;

	memset(s, 0, sizeof(*s));
	s->ctx = ctx;
	s->info_rc = -1;
	memset(&lc, 0, sizeof(lc));
	lc.transport = MX_TRANSPORT_KERNEL;
	lc.max_streams = 8;
	lc.rcvbuf_bytes = r->rcvbuf;
	lc.sndbuf_bytes = r->sndbuf;
	assert_int_equal(mx_loop_create(&lc, &s->loop), 0);
	assert_int_equal(mx_addr_parse("127.0.0.1:0", 0, &a), 0);
	assert_int_equal(mx_listen(s->loop, &a, srv_accept, s, &s->l), 0);
	mx_listener_local(s->l, &local);
	*port = local.port;
}

/* Runs the loop until the client thread ended and the server stream
 * closed, bounded in passes and in time. */
static void
run_client(struct srv *s, struct cli *c)
{
	pthread_t th;
	uint64_t t0 = mx_clock_ms();
	unsigned i;
	bool done = false;

	assert_int_equal(pthread_create(&th, NULL, cli_main, c), 0);
	for (i = 0; i < 200000 && mx_clock_ms() - t0 < 30000; i++) {
		assert_int_equal(mx_loop_run_once(s->loop, 5), 0);
		if (!done && pthread_tryjoin_np(th, NULL) == 0)
			done = true;
		if (done && (s->closed || s->st == NULL))
			break;
	}
	if (!done)
		assert_int_equal(pthread_join(th, NULL), 0);
	/* A few more passes for the close to complete. */
	for (i = 0; i < 100 && !s->closed && s->st != NULL; i++)
		assert_int_equal(mx_loop_run_once(s->loop, 5), 0);
}

static void
srv_stop(struct srv *s)
{
	mx_listener_close(s->l);
	mx_loop_free(s->loop);
}

static struct mx_tls_ctx *
ctx_make(const char *const *names, unsigned n, enum mx_tls_version minv,
		enum mx_tls_suites suites)
{
	static char cert[MX_TLS_MAX_CERTS][128], key[MX_TLS_MAX_CERTS][128];
	struct mx_tls_conf cf;
	struct mx_tls_ctx *ctx = NULL;
	char err[256], file[64];
	unsigned i;

	mx_tls_conf_defaults(&cf);
	cf.backend = backend;
	for (i = 0; i < n; i++) {
		snprintf(file, sizeof(file), "%s.crt", names[i]);
		path_of(cert[i], sizeof(cert[i]), file);
		snprintf(file, sizeof(file), "%s.key", names[i]);
		path_of(key[i], sizeof(key[i]), file);
		cf.cert_files[i] = cert[i];
		cf.key_files[i] = key[i];
	}
	cf.n_certs = n;
	cf.min_version = minv;
	cf.suites = suites;
	cf.hostname = "mx.test";
	err[0] = '\0';
	if (mx_tls_ctx_create(&cf, &ctx, err, sizeof(err)) != 0)
		fail_msg("ctx: %s", err);
	return ctx;
}

static void
cli_defaults(struct cli *c, uint16_t port)
{
	memset(c, 0, sizeof(*c));
	c->port = port;
	c->min_minor = MBEDTLS_SSL_MINOR_VERSION_1;
	c->max_minor = MBEDTLS_SSL_MINOR_VERSION_3;
	c->total = 16384;
	c->chunk = 1000;
}

/* ---- tests -------------------------------------------------------------- */

static void
echo_with(const struct run *r)
{
	static const char *const names[] = { "rsa", "ec" };
	struct mx_tls_ctx *ctx = ctx_make(names, 2, MX_TLS_V1_0, MX_TLS_SUITES_DEFAULT);
	struct srv s;
	struct cli c;
	uint16_t port;

	srv_start(&s, ctx, r, &port);
	cli_defaults(&c, port);
	run_client(&s, &c);
	assert_int_equal(c.hs_rc, 0);
	assert_true(c.data_ok);
	assert_true(s.closed);
	assert_int_equal(s.echoed, c.total);
	assert_int_equal(s.info_rc, 0);
	assert_string_equal(s.info.version, "TLSv1.2");
	/* The server's preference: ECDHE with an AEAD, ECDSA first. */
	assert_string_equal(s.info.cipher, "TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384");
	assert_false(s.info.peer_cert);
	assert_int_equal(c.peer_pk, MBEDTLS_PK_ECKEY);
	assert_int_equal(atomic_load(&mx_tls_ctx_stats(ctx)->handshakes), 1);
	srv_stop(&s);
	mx_tls_ctx_free(ctx);
}

static void
test_echo(void **state)
{
	const struct run r = { 65536, 65536 };

	(void)state;
	echo_with(&r);
}

/* 7-byte receive and 13-byte send buffers: every record arrives in
 * pieces (WANT_READ inside records) and no handshake message or record
 * fits the send buffer (WANT_WRITE, retried with the same length). */
static void
test_echo_tiny_buffers(void **state)
{
	const struct run r = { 7, 13 };

	(void)state;
	echo_with(&r);
}

/* A reply larger than the 4 KiB plaintext staging buffer (a long
 * multi-line EHLO reply) goes out in one send when the raw stream has
 * room, and reaches the client whole. */
static void
test_send_larger_than_buffer(void **state)
{
	static const char *const names[] = { "rsa", "ec" };
	struct mx_tls_ctx *ctx = ctx_make(names, 2, MX_TLS_V1_0, MX_TLS_SUITES_DEFAULT);
	const struct run r = { 65536, 65536 };
	struct srv s;
	struct cli c;
	uint16_t port;

	(void)state;
	srv_start(&s, ctx, &r, &port);
	s.blast = 3 * 4096 + 100;
	cli_defaults(&c, port);
	c.expect = s.blast;
	run_client(&s, &c);
	assert_int_equal(c.hs_rc, 0);
	assert_int_equal(s.blast_rc, (long)c.expect);
	assert_true(c.data_ok);
	srv_stop(&s);
	mx_tls_ctx_free(ctx);
}

static void
test_rsa_when_client_wants_rsa(void **state)
{
	static const char *const names[] = { "rsa", "ec" };
	static const int suites[] = {
		MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, 0,
	};
	struct mx_tls_ctx *ctx = ctx_make(names, 2, MX_TLS_V1_0, MX_TLS_SUITES_DEFAULT);
	const struct run r = { 65536, 65536 };
	struct srv s;
	struct cli c;
	uint16_t port;

	(void)state;
	srv_start(&s, ctx, &r, &port);
	cli_defaults(&c, port);
	c.suites = suites;
	run_client(&s, &c);
	assert_int_equal(c.hs_rc, 0);
	assert_true(c.data_ok);
	assert_int_equal(c.peer_pk, MBEDTLS_PK_RSA);
	srv_stop(&s);
	mx_tls_ctx_free(ctx);
}

static void
sni_case(struct mx_tls_ctx *ctx, const char *sni, const char *want_san)
{
	const struct run r = { 65536, 65536 };
	struct srv s;
	struct cli c;
	uint16_t port;

	srv_start(&s, ctx, &r, &port);
	cli_defaults(&c, port);
	c.sni = sni;
	c.total = 100;
	run_client(&s, &c);
	assert_int_equal(c.hs_rc, 0);
	assert_string_equal(c.peer_san, want_san);
	srv_stop(&s);
}

static void
test_sni(void **state)
{
	static const char *const names[] = { "a", "b" };
	struct mx_tls_ctx *ctx = ctx_make(names, 2, MX_TLS_V1_0, MX_TLS_SUITES_DEFAULT);

	(void)state;
	sni_case(ctx, "b.test", "b.test");
	sni_case(ctx, "a.test", "a.test");
	sni_case(ctx, "x.b.test", "a.test");   /* no match: the default */
	mx_tls_ctx_free(ctx);
}

static void
test_min_version_refused(void **state)
{
	static const char *const names[] = { "rsa" };
	struct mx_tls_ctx *ctx = ctx_make(names, 1, MX_TLS_V1_2, MX_TLS_SUITES_DEFAULT);
	const struct run r = { 65536, 65536 };
	struct srv s;
	struct cli c;
	uint16_t port;

	(void)state;
	srv_start(&s, ctx, &r, &port);
	cli_defaults(&c, port);
	c.max_minor = MBEDTLS_SSL_MINOR_VERSION_2; /* TLS 1.1 at most */
	run_client(&s, &c);
	assert_int_not_equal(c.hs_rc, 0);
	assert_true(s.closed);
	assert_int_equal(atomic_load(&mx_tls_ctx_stats(ctx)->fail_version), 1);
	assert_int_equal(atomic_load(&mx_tls_ctx_stats(ctx)->handshakes), 0);
	srv_stop(&s);
	mx_tls_ctx_free(ctx);
}

static void
test_old_version_best_effort(void **state)
{
	static const char *const names[] = { "rsa" };
	struct mx_tls_ctx *ctx = ctx_make(names, 1, MX_TLS_V1_0, MX_TLS_SUITES_DEFAULT);
	const struct run r = { 65536, 65536 };
	struct srv s;
	struct cli c;
	uint16_t port;

	(void)state;
	srv_start(&s, ctx, &r, &port);
	cli_defaults(&c, port);
	c.max_minor = MBEDTLS_SSL_MINOR_VERSION_1; /* TLS 1.0 */
	run_client(&s, &c);
	assert_int_equal(c.hs_rc, 0);
	assert_true(c.data_ok);
	assert_string_equal(s.info.version, "TLSv1.0");
	srv_stop(&s);
	mx_tls_ctx_free(ctx);
}

static void
suite_case(enum mx_tls_suites pol, bool ok)
{
	static const char *const names[] = { "rsa" };
	static const int suites[] = { MBEDTLS_TLS_RSA_WITH_AES_128_CBC_SHA, 0 };
	struct mx_tls_ctx *ctx = ctx_make(names, 1, MX_TLS_V1_0, pol);
	const struct run r = { 65536, 65536 };
	struct srv s;
	struct cli c;
	uint16_t port;

	srv_start(&s, ctx, &r, &port);
	cli_defaults(&c, port);
	c.suites = suites;
	run_client(&s, &c);
	if (ok) {
		assert_int_equal(c.hs_rc, 0);
		assert_string_equal(s.info.cipher, "TLS-RSA-WITH-AES-128-CBC-SHA");
	} else {
		assert_int_not_equal(c.hs_rc, 0);
		assert_int_equal(atomic_load(&mx_tls_ctx_stats(ctx)->fail_cipher), 1);
	}
	srv_stop(&s);
	mx_tls_ctx_free(ctx);
}

static void
test_suite_policy(void **state)
{
	(void)state;
	suite_case(MX_TLS_SUITES_DEFAULT, true);
	suite_case(MX_TLS_SUITES_STRONG, false);
}

static void
test_ticket_resumption(void **state)
{
	static const char *const names[] = { "rsa" };
	struct mx_tls_ctx *ctx = ctx_make(names, 1, MX_TLS_V1_0, MX_TLS_SUITES_DEFAULT);
	const struct run r = { 65536, 65536 };
	mbedtls_ssl_session sess;
	struct srv s;
	struct cli c;
	uint16_t port;

	(void)state;
	mbedtls_ssl_session_init(&sess);
	srv_start(&s, ctx, &r, &port);
	cli_defaults(&c, port);
	c.save = &sess;
	c.total = 10;
	run_client(&s, &c);
	assert_int_equal(c.hs_rc, 0);
	assert_false(s.info.resumed);
	srv_stop(&s);

	srv_start(&s, ctx, &r, &port);
	cli_defaults(&c, port);
	c.resume = &sess;
	c.total = 10;
	run_client(&s, &c);
	assert_int_equal(c.hs_rc, 0);
	assert_true(c.data_ok);
	assert_true(s.info.resumed);
	assert_int_equal(atomic_load(&mx_tls_ctx_stats(ctx)->resumed), 1);
	assert_int_equal(atomic_load(&mx_tls_ctx_stats(ctx)->handshakes), 2);
	srv_stop(&s);
	mbedtls_ssl_session_free(&sess);
	mx_tls_ctx_free(ctx);
}

/* Certificate hygiene, table-driven. */
struct hyg_case {
	const char *name;
	bool allow_weak;
	bool require_san;
	const char *host;
	int want;
};

static void
test_hygiene(void **state)
{
	static const struct hyg_case cases[] = {
		{ "rsa", false, true, "mx.test", 0 },
		{ "ec", false, true, "mx.test", 0 },
		{ "weak", false, false, "mx.test", -EINVAL },   /* RSA-1024 */
		{ "weak", true, false, "mx.test", 0 },
		{ "ec224", false, false, "mx.test", -EINVAL },  /* P-224 */
		{ "a", false, true, "mx.test", -EINVAL },       /* SAN a.test */
		{ "a", false, false, "mx.test", 0 },            /* only a warning */
		{ "wild", false, true, "mx.test", 0 },          /* *.test */
		{ "wild", false, true, "a.b.test", -EINVAL },   /* one label only */
		{ "mismatch", false, false, "mx.test", -EINVAL }, /* key of another cert */
		{ "missing", false, false, "mx.test", -ENOENT },
	};
	char cert[128], key[128], file[64], err[256];
	struct mx_tls_conf cf;
	struct mx_tls_ctx *ctx;
	unsigned i;
	int rc;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(cases); i++) {
		mx_tls_conf_defaults(&cf);
		cf.backend = backend;
		snprintf(file, sizeof(file), "%s.crt", cases[i].name);
		path_of(cert, sizeof(cert), file);
		snprintf(file, sizeof(file), "%s.key",
				strcmp(cases[i].name, "mismatch") == 0 ? "ec" : cases[i].name);
		if (strcmp(cases[i].name, "mismatch") == 0)
			path_of(cert, sizeof(cert), "rsa.crt");
		path_of(key, sizeof(key), file);
		cf.cert_files[0] = cert;
		cf.key_files[0] = key;
		cf.n_certs = 1;
		cf.hostname = cases[i].host;
		cf.allow_weak_keys = cases[i].allow_weak;
		cf.require_san_match = cases[i].require_san;
		ctx = NULL;
		err[0] = '\0';
		rc = mx_tls_ctx_create(&cf, &ctx, err, sizeof(err));
		if (rc != cases[i].want)
			fail_msg("case %u (%s): rc %d, want %d (%s)", i, cases[i].name,
					rc, cases[i].want, err);
		if (rc == 0) {
			/* openssl -days 365 */
			assert_true(mx_tls_ctx_days_to_expiry(ctx) >= 364);
			assert_true(mx_tls_ctx_days_to_expiry(ctx) <= 365);
			mx_tls_ctx_free(ctx);
		} else {
			assert_true(err[0] != '\0');
		}
	}
}

static int
make_all(void)
{
	static const struct {
		const char *name, *newkey, *san;
	} certs[] = {
		{ "rsa", "rsa:2048", "mx.test" },
		{ "ec", "ec -pkeyopt ec_paramgen_curve:P-256", "mx.test" },
		{ "weak", "rsa:1024", "mx.test" },
		{ "ec224", "ec -pkeyopt ec_paramgen_curve:P-224", "mx.test" },
		{ "a", "rsa:2048", "a.test" },
		{ "b", "rsa:2048", "b.test" },
		{ "wild", "ec -pkeyopt ec_paramgen_curve:P-256", "*.test" },
	};
	unsigned i;

	for (i = 0; i < MX_ARRAY_SIZE(certs); i++)
		if (make_cert(certs[i].name, certs[i].newkey, certs[i].san, 365) != 0)
			return -1;
	return 0;
}

/* ---- TLS policy: matching tables, profile checks, reload ---- */

static struct mx_addr
addr_of(const char *s)
{
	struct mx_addr a;

	assert_int_equal(mx_addr_parse(s, 0, &a), 0);
	return a;
}

static void
test_cidr_match(void **state)
{
	static const struct {
		const char *net;
		unsigned prefix;
		const char *addr;
		bool match;
	} cases[] = {
		{ "192.0.2.0", 24, "192.0.2.77", true },
		{ "192.0.2.0", 24, "192.0.3.1", false },
		{ "192.0.2.128", 25, "192.0.2.127", false },
		{ "192.0.2.128", 25, "192.0.2.200", true },
		{ "10.0.0.0", 8, "10.255.255.255", true },
		{ "127.0.0.2", 32, "127.0.0.2", true },
		{ "127.0.0.2", 32, "127.0.0.1", false },
		{ "0.0.0.0", 0, "203.0.113.9", true },
		{ "198.18.0.0", 15, "198.19.1.1", true },
		{ "198.18.0.0", 15, "198.20.0.1", false },
		{ "2001:db8::", 32, "2001:db8:1::5", true },
		{ "2001:db8::", 32, "2001:db9::5", false },
		{ "2001:db8::", 33, "2001:db8:8000::1", false },
		{ "192.0.2.0", 24, "::ffff:192.0.2.5", true },  /* dual-stack peer */
		{ "192.0.2.0", 24, "2001:db8::1", false },      /* family differs */
		{ "2001:db8::", 32, "192.0.2.1", false },
		{ "192.0.2.0", 33, "192.0.2.1", false },         /* prefix too long */
	};
	struct mx_addr net, a;
	unsigned i;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(cases); i++) {
		net = addr_of(cases[i].net);
		a = addr_of(cases[i].addr);
		if (mx_tls_cidr_match(&net, cases[i].prefix, &a) != cases[i].match)
			fail_msg("case %u: %s/%u vs %s", i, cases[i].net, cases[i].prefix,
					cases[i].addr);
	}
}

static void
test_domain_and_name_match(void **state)
{
	static const struct {
		const char *pat, *name;
		bool domain, cert;   /* sender-domain rule, cert_match rule */
	} cases[] = {
		{ "example.com", "example.com", true, true },
		{ "example.com", "EXAMPLE.Com", true, true },
		{ "example.com", "mail.example.com", false, false },
		{ ".example.com", "mail.example.com", true, false },
		{ ".example.com", "a.b.example.com", true, false },
		{ ".example.com", "example.com", false, false },
		{ ".example.com", "badexample.com", false, false },
		{ "*.example.com", "mail.example.com", false, true },
		{ "*.example.com", "MAIL.example.COM", false, true },
		{ "*.example.com", "a.b.example.com", false, false },  /* one label */
		{ "*.example.com", "example.com", false, false },
		{ "*.example.com", ".example.com", false, false },
		{ "example.com", "example.com.evil", false, false },
		{ "example.com", "", false, false },
	};
	struct mx_str d;
	unsigned i;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(cases); i++) {
		d.p = cases[i].name;
		d.len = strlen(cases[i].name);
		if (mx_tls_domain_match(cases[i].pat, d) != cases[i].domain)
			fail_msg("domain case %u: %s vs %s", i, cases[i].pat, cases[i].name);
		if (mx_tls_name_match(cases[i].pat, d.p, d.len) != cases[i].cert)
			fail_msg("name case %u: %s vs %s", i, cases[i].pat, cases[i].name);
	}
}

static void
test_policy_first_match(void **state)
{
	struct mx_tls_profile pr[3];
	struct mx_tls_policy pol = { pr, 3 };
	static const struct {
		const char *addr, *domain;
		int want;
	} cases[] = {
		{ "192.0.2.9", "", 0 },                  /* address, first profile */
		{ "192.0.2.9", "partner.test", 0 },      /* both match: first wins */
		{ "198.51.100.1", "partner.test", 1 },
		{ "198.51.100.1", "mx.partner.test", 2 },
		{ "198.51.100.1", "partner.test.evil", -1 },
		{ "192.0.2.200", "bank.test", 2 },       /* second net of profile 2 */
		{ "198.51.100.1", "", -1 },
	};
	struct mx_addr a;
	struct mx_str d;
	unsigned i;

	(void)state;
	memset(pr, 0, sizeof(pr));
	pr[0].clients[0] = addr_of("192.0.2.0");
	pr[0].client_prefix[0] = 25;
	pr[0].n_clients = 1;
	pr[1].sender_domains[0] = "partner.test";
	pr[1].n_sender_domains = 1;
	pr[2].sender_domains[0] = ".partner.test";
	pr[2].sender_domains[1] = "bank.test";
	pr[2].n_sender_domains = 2;
	pr[2].clients[0] = addr_of("203.0.113.0");
	pr[2].client_prefix[0] = 24;
	pr[2].clients[1] = addr_of("192.0.2.128");
	pr[2].client_prefix[1] = 25;
	pr[2].n_clients = 2;
	for (i = 0; i < MX_ARRAY_SIZE(cases); i++) {
		a = addr_of(cases[i].addr);
		d.p = cases[i].domain;
		d.len = strlen(cases[i].domain);
		if (mx_tls_policy_match(&pol, &a, d) != cases[i].want)
			fail_msg("case %u: %s %s: want %d", i, cases[i].addr, cases[i].domain,
					cases[i].want);
	}
}

/* Profiles refused at create, each with a message naming the profile. */
static void
test_profile_checks(void **state)
{
	struct {
		const char *what;
		int rc;
	} cases[] = {
		{ "ok", 0 },
		{ "no match", -EINVAL },
		{ "unknown cipher", -EINVAL },
		{ "required without ca", -EINVAL },
		{ "missing ca", -ENOENT },
		{ "bad pattern", -EINVAL },
	};
	char cert[128], key[128], ca[128], err[256];
	struct mx_tls_profile p;
	struct mx_tls_policy pol = { &p, 1 };
	struct mx_tls_conf cf;
	struct mx_tls_ctx *ctx;
	unsigned i;
	int rc;

	(void)state;
	path_of(cert, sizeof(cert), "rsa.crt");
	path_of(key, sizeof(key), "rsa.key");
	path_of(ca, sizeof(ca), "ec.crt");
	for (i = 0; i < MX_ARRAY_SIZE(cases); i++) {
		mx_tls_conf_defaults(&cf);
		cf.backend = backend;
		cf.cert_files[0] = cert;
		cf.key_files[0] = key;
		cf.n_certs = 1;
		memset(&p, 0, sizeof(p));
		p.name = "partners";
		p.sender_domains[0] = "partner.test";
		p.n_sender_domains = 1;
		p.client_cert = MX_TLS_CLIENT_CERT_REQUIRED;
		p.ca_file = ca;
		p.cert_match = "*.partner.test";
		if (i == 1)
			p.n_sender_domains = 0;
		if (i == 2) {
			p.ciphers[0] = "TLS-NO-SUCH-SUITE";
			p.n_ciphers = 1;
		}
		if (i == 3)
			p.ca_file = NULL;
		if (i == 4)
			p.ca_file = "/nonexistent/ca.pem";
		if (i == 5)
			p.cert_match = "a.*.test";
		err[0] = '\0';
		ctx = NULL;
		rc = mx_tls_ctx_create_policy(&cf, &pol, &ctx, err, sizeof(err));
		if (rc != cases[i].rc)
			fail_msg("%s: rc %d (%s)", cases[i].what, rc, err);
		if (rc != 0 && strstr(err, "partners") == NULL)
			fail_msg("%s: message does not name the profile: %s", cases[i].what, err);
		mx_tls_ctx_free(ctx);
	}
}

/* A reload with a refused certificate changes nothing; a good one
 * replaces the certificates. */
static void
test_reload(void **state)
{
	char cert[128], key[128], err[256];
	const char *files[2];
	long days[2];
	struct mx_tls_conf cf;
	struct mx_tls_ctx *ctx;

	(void)state;
	mx_tls_conf_defaults(&cf);
	cf.backend = backend;
	path_of(cert, sizeof(cert), "rsa.crt");
	path_of(key, sizeof(key), "rsa.key");
	cf.cert_files[0] = cert;
	cf.key_files[0] = key;
	cf.n_certs = 1;
	cf.workers = 2;
	assert_int_equal(mx_tls_ctx_create_policy(&cf, NULL, &ctx, err, sizeof(err)), 0);
	path_of(cert, sizeof(cert), "weak.crt");
	path_of(key, sizeof(key), "weak.key");
	assert_int_equal(mx_tls_ctx_reload(ctx, &cf, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "below 2048"));
	assert_int_equal(mx_tls_ctx_cert_expiry(ctx, files, days, 2), 1);
	assert_non_null(strstr(files[0], "rsa.crt"));
	path_of(cert, sizeof(cert), "ec.crt");
	path_of(key, sizeof(key), "ec.key");
	assert_int_equal(mx_tls_ctx_reload(ctx, &cf, NULL, err, sizeof(err)), 0);
	assert_int_equal(mx_tls_ctx_cert_expiry(ctx, files, days, 2), 1);
	assert_non_null(strstr(files[0], "ec.crt"));
	assert_true(days[0] >= 363 && days[0] <= 365);
	cf.workers = 3;
	assert_int_equal(mx_tls_ctx_reload(ctx, &cf, NULL, err, sizeof(err)), -EINVAL);
	mx_tls_ctx_free(ctx);
}

/* A TLS 1.3 floor: refused at create by mbedTLS 2.28 (which has no TLS
 * 1.3) with an error that says why, accepted by OpenSSL. */
static void
test_min_version_1_3(void **state)
{
	struct mx_tls_conf cf;
	struct mx_tls_ctx *ctx = NULL;
	char cert[128], key[128], err[256];
	int rc;

	(void)state;
	mx_tls_conf_defaults(&cf);
	cf.backend = backend;
	path_of(cert, sizeof(cert), "rsa.crt");
	path_of(key, sizeof(key), "rsa.key");
	cf.cert_files[0] = cert;
	cf.key_files[0] = key;
	cf.n_certs = 1;
	cf.min_version = MX_TLS_V1_3;
	err[0] = '\0';
	rc = mx_tls_ctx_create(&cf, &ctx, err, sizeof(err));
	if (backend == MX_TLS_BACKEND_MBEDTLS) {
		assert_int_equal(rc, -EINVAL);
		assert_null(ctx);
		assert_non_null(strstr(err, "openssl"));
		return;
	}
	assert_int_equal(rc, 0);
	mx_tls_ctx_free(ctx);
}

/* A TLS 1.3 floor refuses the mbedTLS client (TLS 1.2 at most): counted
 * as a version failure. */
static void
test_tls13_floor_refuses_tls12(void **state)
{
	static const char *const names[] = { "rsa" };
	const struct run r = { 65536, 65536 };
	struct mx_tls_ctx *ctx;
	struct srv s;
	struct cli c;
	uint16_t port;

	(void)state;
	if (backend != MX_TLS_BACKEND_OPENSSL)
		return;
	ctx = ctx_make(names, 1, MX_TLS_V1_3, MX_TLS_SUITES_DEFAULT);
	srv_start(&s, ctx, &r, &port);
	cli_defaults(&c, port);
	run_client(&s, &c);
	assert_int_not_equal(c.hs_rc, 0);
	assert_true(s.closed);
	assert_int_equal(atomic_load(&mx_tls_ctx_stats(ctx)->fail_version), 1);
	srv_stop(&s);
	mx_tls_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hygiene),
		cmocka_unit_test(test_min_version_1_3),
		cmocka_unit_test(test_tls13_floor_refuses_tls12),
		cmocka_unit_test(test_echo),
		cmocka_unit_test(test_echo_tiny_buffers),
		cmocka_unit_test(test_send_larger_than_buffer),
		cmocka_unit_test(test_rsa_when_client_wants_rsa),
		cmocka_unit_test(test_sni),
		cmocka_unit_test(test_min_version_refused),
		cmocka_unit_test(test_old_version_best_effort),
		cmocka_unit_test(test_suite_policy),
		cmocka_unit_test(test_ticket_resumption),
		cmocka_unit_test(test_reload),
	};
	/* Profiles: the matchers are backend-neutral (tls.c), the checks of
	 * a profile run once per backend. */
	const struct CMUnitTest profiles[] = {
		cmocka_unit_test(test_cidr_match),
		cmocka_unit_test(test_domain_and_name_match),
		cmocka_unit_test(test_policy_first_match),
		cmocka_unit_test(test_profile_checks),
	};
	char cmd[128];
	int rc;

	if (system("openssl version >/dev/null 2>&1") != 0) {
		fprintf(stderr, "skip: no openssl command to make certificates\n");
		return 77;
	}
	snprintf(dir, sizeof(dir), "/tmp/mx_tls_test.XXXXXX");
	if (mkdtemp(dir) == NULL || make_all() != 0) {
		fprintf(stderr, "cannot make test certificates in %s\n", dir);
		return 1;
	}
	rc = cmocka_run_group_tests_name("mbedtls", tests, setup_mbedtls, NULL);
	rc |= cmocka_run_group_tests_name("mbedtls-profiles", profiles, setup_mbedtls, NULL);
	rc |= cmocka_run_group_tests_name("openssl", tests, setup_openssl, NULL);
	rc |= cmocka_run_group_tests_name("openssl-profiles", profiles, setup_openssl, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return rc;
}
