/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tls_bench.c: TLS handshakes per second on one core (issues 4 and 8).
 *
 *   tls_bench [N] [--backend mbedtls|openssl|both]
 *                      default N: 400 handshakes per row; default both
 *
 * Suite TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256 (TLS 1.2) or
 * TLS_AES_128_GCM_SHA256 (TLS 1.3, OpenSSL only: mbedTLS 2.28 has none),
 * an ECDSA P-256 certificate made at start with the openssl command (exit
 * 77 without it), each library's default key exchange group. Rows:
 *
 * - mbedtls-ceiling full/resumed: an mbedTLS server and client in this
 *   thread over memory buffers (no sockets, no event loop), contexts reset
 *   between handshakes. hs/s counts both sides' CPU; srv_hs/s accumulates
 *   only the server's mbedtls_ssl_handshake time, the ceiling a server
 *   built on mbedTLS can reach on one core.
 * - mxedge full/resumed: crypto/tls's server (mx_tls_ctx, a TLS stream
 *   over the kernel transport on 127.0.0.1, one loop on this thread)
 *   against an mbedTLS client in a second thread, one connection per
 *   handshake (connect, handshake, close_notify, close; TCP_NODELAY, as
 *   mbedTLS writes each message on its own). hs/s is wall
 *   clock (client and server run on two cores at once); srv_hs/s divides
 *   by the server thread's CPU time (TLS, TCP accept and close, polling).
 *   Resumed rows resume the first session with its ticket. One pair of
 *   rows per crypto/tls backend and version (issue 8): mxedge-mbedtls
 *   TLS 1.2 against an mbedTLS client, mxedge-openssl TLS 1.2 and 1.3
 *   against an OpenSSL client, so neither server is capped by a slower
 *   client library.
 * - openssl-ceiling TLS 1.2 / 1.3 full/resumed: as mbedtls-ceiling, an
 *   OpenSSL server and client in this thread over a BIO pair.
 *
 * Each mxedge row ends with the ceiling of its library, version and kind
 * (the ceiling row's srv_hs/s), measured the same way in this run.
 *
 * A benchmark, not a test: it asserts nothing about speed; it fails only
 * when a handshake fails or the counts do not add up.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "mx_base.h"
#include "mx_stream.h"
#include "mx_tls.h"

#define BIO_SIZE 16384
#define STEP_MAX 64
#define LOOP_LIMIT_MS 120000

static const int bench_suites[] = {
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 0,
};

static double
now_s(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- memory transport for the ceiling --------------------------------- */

struct mbio {
	uint8_t buf[BIO_SIZE];
	size_t len;
	size_t total;   /* bytes ever written: tells a resumed handshake */
};

struct mpipe {
	struct mbio *in, *out;
};

static int
mbio_send(void *arg, const unsigned char *p, size_t n)
{
	struct mpipe *pp = arg;
	size_t k = MX_MIN(n, BIO_SIZE - pp->out->len);

	if (k == 0)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	memcpy(pp->out->buf + pp->out->len, p, k);
	pp->out->len += k;
	pp->out->total += k;
	return (int)k;
}

static int
mbio_recv(void *arg, unsigned char *p, size_t n)
{
	struct mpipe *pp = arg;
	size_t k = MX_MIN(n, pp->in->len);

	if (k == 0)
		return MBEDTLS_ERR_SSL_WANT_READ;
	memcpy(p, pp->in->buf, k);
	memmove(pp->in->buf, pp->in->buf + k, pp->in->len - k);
	pp->in->len -= k;
	return (int)k;
}

struct ceil {
	mbedtls_entropy_context ent;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_x509_crt crt;
	mbedtls_pk_context key;
	mbedtls_ssl_ticket_context tk;
	mbedtls_ssl_config scf, ccf;
	mbedtls_ssl_context srv, cli;
	struct mbio c2s, s2c;
	struct mpipe sp, cp;
};

static int
ceil_conf(struct ceil *c, const char *crt, const char *key)
{
	if (mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->ent, NULL, 0) != 0 ||
			mbedtls_x509_crt_parse_file(&c->crt, crt) != 0 ||
			mbedtls_pk_parse_keyfile(&c->key, key, NULL) != 0 ||
			mbedtls_ssl_ticket_setup(&c->tk, mbedtls_ctr_drbg_random, &c->drbg,
				MBEDTLS_CIPHER_AES_256_GCM, 86400) != 0 ||
			mbedtls_ssl_config_defaults(&c->scf, MBEDTLS_SSL_IS_SERVER,
				MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT) != 0 ||
			mbedtls_ssl_config_defaults(&c->ccf, MBEDTLS_SSL_IS_CLIENT,
				MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT) != 0)
		return -1;
	mbedtls_ssl_conf_rng(&c->scf, mbedtls_ctr_drbg_random, &c->drbg);
	mbedtls_ssl_conf_rng(&c->ccf, mbedtls_ctr_drbg_random, &c->drbg);
	mbedtls_ssl_conf_ciphersuites(&c->scf, bench_suites);
	mbedtls_ssl_conf_ciphersuites(&c->ccf, bench_suites);
	mbedtls_ssl_conf_session_tickets_cb(&c->scf, mbedtls_ssl_ticket_write,
			mbedtls_ssl_ticket_parse, &c->tk);
	mbedtls_ssl_conf_authmode(&c->ccf, MBEDTLS_SSL_VERIFY_NONE);
	if (mbedtls_ssl_conf_own_cert(&c->scf, &c->crt, &c->key) != 0 ||
			mbedtls_ssl_setup(&c->srv, &c->scf) != 0 ||
			mbedtls_ssl_setup(&c->cli, &c->ccf) != 0)
		return -1;
	c->sp.in = &c->c2s;
	c->sp.out = &c->s2c;
	c->cp.in = &c->s2c;
	c->cp.out = &c->c2s;
	mbedtls_ssl_set_bio(&c->srv, &c->sp, mbio_send, mbio_recv, NULL);
	mbedtls_ssl_set_bio(&c->cli, &c->cp, mbio_send, mbio_recv, NULL);
	return 0;
}

static int
ceil_init(struct ceil *c, const char *crt, const char *key)
{
	memset(c, 0, sizeof(*c));
	mbedtls_entropy_init(&c->ent);
	mbedtls_ctr_drbg_init(&c->drbg);
	mbedtls_x509_crt_init(&c->crt);
	mbedtls_pk_init(&c->key);
	mbedtls_ssl_ticket_init(&c->tk);
	mbedtls_ssl_config_init(&c->scf);
	mbedtls_ssl_config_init(&c->ccf);
	mbedtls_ssl_init(&c->srv);
	mbedtls_ssl_init(&c->cli);
	return ceil_conf(c, crt, key);
}

static void
ceil_free(struct ceil *c)
{
	mbedtls_ssl_free(&c->srv);
	mbedtls_ssl_free(&c->cli);
	mbedtls_ssl_config_free(&c->scf);
	mbedtls_ssl_config_free(&c->ccf);
	mbedtls_ssl_ticket_free(&c->tk);
	mbedtls_pk_free(&c->key);
	mbedtls_x509_crt_free(&c->crt);
	mbedtls_ctr_drbg_free(&c->drbg);
	mbedtls_entropy_free(&c->ent);
}

static bool
hs_pending(int rc)
{
	return rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE;
}

/* One handshake, both sides stepped in turn until both are done; adds the
 * server's own time to *srv_s. Returns 0, or the first mbedTLS error. */
static int
ceil_one(struct ceil *c, const mbedtls_ssl_session *resume, double *srv_s)
{
	int crc = MBEDTLS_ERR_SSL_WANT_READ, src = MBEDTLS_ERR_SSL_WANT_READ;
	double t0;
	unsigned i;

	c->c2s.len = 0;
	c->s2c.len = 0;
	if (mbedtls_ssl_session_reset(&c->srv) != 0 ||
			mbedtls_ssl_session_reset(&c->cli) != 0)
		return -1;
	if (resume != NULL && mbedtls_ssl_set_session(&c->cli, resume) != 0)
		return -1;
	for (i = 0; i < STEP_MAX && (crc != 0 || src != 0); i++) {
		if (crc != 0) {
			crc = mbedtls_ssl_handshake(&c->cli);
			if (crc != 0 && !hs_pending(crc))
				return crc;
		}
		if (src != 0) {
			t0 = now_s(CLOCK_THREAD_CPUTIME_ID);
			src = mbedtls_ssl_handshake(&c->srv);
			*srv_s += now_s(CLOCK_THREAD_CPUTIME_ID) - t0;
			if (src != 0 && !hs_pending(src))
				return src;
		}
	}
	return crc != 0 || src != 0 ? -1 : 0;
}

/* A row; ceil > 0: the library's own ceiling for the same kind. */
static double
row(const char *name, unsigned n, double wall_s, double srv_s, double ceil)
{
	printf("%-30s %6u %10.1f %10.1f", name, n, (double)n / wall_s, (double)n / srv_s);
	if (ceil > 0)
		printf(" %10.1f", ceil);
	printf("\n");
	return (double)n / srv_s;
}

static int
ceil_run(const char *crt, const char *key, unsigned n, double *full, double *res)
{
	struct ceil *c = malloc(sizeof(*c));
	mbedtls_ssl_session sess;
	double t0, srv_s = 0;
	size_t full_bytes;
	unsigned i;
	int rc = -1;

	if (c == NULL)
		return -1;
	mbedtls_ssl_session_init(&sess);
	if (ceil_init(c, crt, key) != 0)
		goto out;
	/* Warm-up, and the session the resumed row resumes. */
	if (ceil_one(c, NULL, &srv_s) != 0 || mbedtls_ssl_get_session(&c->cli, &sess) != 0)
		goto out;
	srv_s = 0;
	t0 = now_s(CLOCK_THREAD_CPUTIME_ID);
	for (i = 0; i < n; i++)
		if ((rc = ceil_one(c, NULL, &srv_s)) != 0)
			goto out;
	*full = row("mbedtls-ceiling TLSv1.2 full", n, now_s(CLOCK_THREAD_CPUTIME_ID) - t0,
			srv_s, 0);
	full_bytes = c->s2c.total;
	c->s2c.total = 0;
	srv_s = 0;
	t0 = now_s(CLOCK_THREAD_CPUTIME_ID);
	for (i = 0; i < n; i++)
		if ((rc = ceil_one(c, &sess, &srv_s)) != 0)
			goto out;
	/* A resumed handshake sends no certificate nor key exchange: the
	 * server's bytes must shrink by more than half, or it was not resumed. */
	if (c->s2c.total * 2 >= full_bytes) {
		fprintf(stderr, "ceiling: resumed handshakes were not resumed\n");
		rc = -1;
		goto out;
	}
	*res = row("mbedtls-ceiling TLSv1.2 resumed", n, now_s(CLOCK_THREAD_CPUTIME_ID) - t0,
			srv_s, 0);
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "ceiling handshake failed: -0x%04x\n", (unsigned)-rc);
	mbedtls_ssl_session_free(&sess);
	ceil_free(c);
	free(c);
	return rc;
}

/* ---- OpenSSL's ceiling: server and client over a BIO pair ------------- */

/* Both ends of one version: the bench suite, tickets only (no cache). */
static SSL_CTX *
octx(bool server, int ver, const char *crt, const char *key)
{
	SSL_CTX *c = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

	if (c == NULL)
		return NULL;
	if (SSL_CTX_set_min_proto_version(c, ver) != 1 ||
			SSL_CTX_set_max_proto_version(c, ver) != 1 ||
			SSL_CTX_set_cipher_list(c, "ECDHE-ECDSA-AES128-GCM-SHA256") != 1 ||
			SSL_CTX_set_ciphersuites(c, "TLS_AES_128_GCM_SHA256") != 1 ||
			(server && (SSL_CTX_use_certificate_chain_file(c, crt) != 1 ||
				    SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1))) {
		SSL_CTX_free(c);
		return NULL;
	}
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	return c;
}

/* One handshake stepped in turn on both sides; the server's own time is
 * added to *srv_s. save: the client's session (TLS 1.3 tickets come
 * after the handshake, so the client reads once). Returns 0 or -1. */
static int
oceil_one(SSL_CTX *sc, SSL_CTX *cc, SSL_SESSION *resume, SSL_SESSION **save,
		double *srv_s, bool *reused)
{
	SSL *s = SSL_new(sc), *c = SSL_new(cc);
	BIO *bs = NULL, *bc = NULL;
	int crc = 0, src = 0, rc = -1;
	uint8_t b;
	double t0;
	unsigned i;

	if (s == NULL || c == NULL || BIO_new_bio_pair(&bs, 0, &bc, 0) != 1)
		goto out;
	SSL_set_bio(s, bs, bs);
	SSL_set_bio(c, bc, bc);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	if (resume != NULL && SSL_set_session(c, resume) != 1)
		goto out;
	for (i = 0; i < STEP_MAX && (crc != 1 || src != 1); i++) {
		if (crc != 1) {
			crc = SSL_do_handshake(c);
			if (crc != 1 && SSL_get_error(c, crc) != SSL_ERROR_WANT_READ)
				goto out;
		}
		if (src != 1) {
			t0 = now_s(CLOCK_THREAD_CPUTIME_ID);
			src = SSL_do_handshake(s);
			*srv_s += now_s(CLOCK_THREAD_CPUTIME_ID) - t0;
			if (src != 1 && SSL_get_error(s, src) != SSL_ERROR_WANT_READ)
				goto out;
		}
	}
	if (crc != 1 || src != 1)
		goto out;
	(void)SSL_read(c, &b, 1);
	*reused = SSL_session_reused(s) != 0;
	/* Ended cleanly, as a close_notify would: OpenSSL keeps a session
	 * resumable only then. */
	SSL_set_shutdown(c, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_set_shutdown(s, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	if (save != NULL && (*save = SSL_get1_session(c)) == NULL)
		goto out;
	rc = 0;
out:
	ERR_clear_error();
	SSL_free(s);
	SSL_free(c);
	return rc;
}

static int
oceil_rows(SSL_CTX *sc, SSL_CTX *cc, unsigned n, const char *vname, double *full,
		double *res)
{
	SSL_SESSION *sess = NULL;
	double t0, srv_s = 0;
	char name[48];
	bool reused;
	unsigned i, nres = 0;
	int rc = -1;

	if (oceil_one(sc, cc, NULL, &sess, &srv_s, &reused) != 0)
		return -1;
	srv_s = 0;
	t0 = now_s(CLOCK_THREAD_CPUTIME_ID);
	for (i = 0; i < n; i++)
		if (oceil_one(sc, cc, NULL, NULL, &srv_s, &reused) != 0 || reused)
			goto out;
	snprintf(name, sizeof(name), "openssl-ceiling %s full", vname);
	*full = row(name, n, now_s(CLOCK_THREAD_CPUTIME_ID) - t0, srv_s, 0);
	srv_s = 0;
	t0 = now_s(CLOCK_THREAD_CPUTIME_ID);
	for (i = 0; i < n; i++) {
		if (oceil_one(sc, cc, sess, NULL, &srv_s, &reused) != 0)
			goto out;
		nres += reused;
	}
	if (nres != n) {
		fprintf(stderr, "openssl ceiling: %u of %u resumed\n", nres, n);
		goto out;
	}
	snprintf(name, sizeof(name), "openssl-ceiling %s resumed", vname);
	*res = row(name, n, now_s(CLOCK_THREAD_CPUTIME_ID) - t0, srv_s, 0);
	rc = 0;
out:
	SSL_SESSION_free(sess);
	return rc;
}

static int
oceil_run(const char *crt, const char *key, unsigned n, int ver, double *full,
		double *res)
{
	SSL_CTX *sc = octx(true, ver, crt, key), *cc = octx(false, ver, crt, key);
	int rc = -1;

	if (sc != NULL && cc != NULL)
		rc = oceil_rows(sc, cc, n, ver == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2",
				full, res);
	if (rc != 0)
		fprintf(stderr, "openssl ceiling failed\n");
	SSL_CTX_free(sc);
	SSL_CTX_free(cc);
	return rc;
}

/* ---- mxedge server over the kernel transport ---------------------------- */

struct srv {
	struct mx_loop *loop;
	struct mx_listener *l;
	struct mx_tls_ctx *ctx;
	unsigned open;
	unsigned errors;
};

/* Plaintext is not expected (the client only handshakes): read and drop,
 * and close once the client left. */
static void
srv_readable(struct mx_stream *st, void *arg)
{
	const uint8_t *p;
	size_t n;

	(void)arg;
	while ((n = mx_stream_read_view(st, &p)) > 0)
		mx_stream_consume(st, n);
	if (mx_stream_peer_closed(st))
		mx_stream_close(st);
}

static void
srv_writable(struct mx_stream *st, void *arg)
{
	(void)st;
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
	(void)err;
	s->open--;
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
	if (mx_tls_stream_create(s->ctx, raw, &t) != 0) {
		s->errors++;
		mx_stream_abort(raw);
		return;
	}
	mx_stream_set_cb(t, &srv_cb, s);
	s->open++;
}

struct cli {
	uint16_t port;
	unsigned n;
	int ossl_ver;                /* an OpenSSL client of this version; 0: mbedTLS */
	bool resume;
	unsigned ok;
	int rc;
	double cpu_s;
};

static int
cli_one(struct cli *c, mbedtls_ssl_config *cf, mbedtls_ssl_session *sess,
		bool save)
{
	mbedtls_net_context net;
	mbedtls_ssl_context ssl;
	char port[8];
	int rc, one = 1;

	mbedtls_net_init(&net);
	mbedtls_ssl_init(&ssl);
	snprintf(port, sizeof(port), "%u", c->port);
	rc = mbedtls_net_connect(&net, "127.0.0.1", port, MBEDTLS_NET_PROTO_TCP);
	/* mbedTLS writes each handshake message on its own: without
	 * TCP_NODELAY the client's Nagle waits for the server's delayed ACK
	 * (about 40 ms) inside every full handshake. */
	if (rc == 0)
		(void)setsockopt(net.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (rc == 0)
		rc = mbedtls_ssl_setup(&ssl, cf);
	if (rc == 0 && c->resume && !save)
		rc = mbedtls_ssl_set_session(&ssl, sess);
	if (rc == 0) {
		mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, mbedtls_net_recv, NULL);
		rc = mbedtls_ssl_handshake(&ssl);
	}
	if (rc == 0 && save)
		rc = mbedtls_ssl_get_session(&ssl, sess);
	if (rc == 0)
		(void)mbedtls_ssl_close_notify(&ssl);
	mbedtls_ssl_free(&ssl);
	mbedtls_net_free(&net);
	return rc;
}

/* ---- the OpenSSL client ------------------------------------------------ */

static int
ocli_connect(uint16_t port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	/* As for the mbedTLS client: no Nagle wait inside the handshake. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* One connection; save: keep the session, reading until the server's
 * close so that TLS 1.3 tickets (sent after the handshake) arrive. */
static int
ocli_one(struct cli *c, SSL_CTX *cc, SSL_SESSION **sess, bool save)
{
	int fd = ocli_connect(c->port), rc = -1;
	SSL *ssl = fd >= 0 ? SSL_new(cc) : NULL;
	uint8_t b[256];
	unsigned i;

	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1)
		goto out;
	if (!save && *sess != NULL && SSL_set_session(ssl, *sess) != 1)
		goto out;
	if (SSL_connect(ssl) != 1)
		goto out;
	(void)SSL_shutdown(ssl);
	if (save) {
		for (i = 0; i < 64 && SSL_read(ssl, b, sizeof(b)) > 0; i++)
			;
		*sess = SSL_get1_session(ssl);
		if (*sess == NULL)
			goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	return rc;
}

static void
ocli_main(struct cli *c)
{
	SSL_CTX *cc = octx(false, c->ossl_ver, NULL, NULL);
	SSL_SESSION *sess = NULL;
	double t0;
	unsigned i;

	c->rc = cc != NULL ? ocli_one(c, cc, &sess, true) : -1;
	t0 = now_s(CLOCK_THREAD_CPUTIME_ID);
	if (!c->resume) {
		SSL_SESSION_free(sess);
		sess = NULL;
	}
	for (i = 0; c->rc == 0 && i < c->n; i++) {
		c->rc = ocli_one(c, cc, &sess, false);
		if (c->rc == 0)
			c->ok++;
	}
	c->cpu_s = now_s(CLOCK_THREAD_CPUTIME_ID) - t0;
	SSL_SESSION_free(sess);
	SSL_CTX_free(cc);
}

/* The first connection is a warm-up that also gives the session to
 * resume; c->n more are counted. */
static void *
cli_main(void *arg)
{
	struct cli *c = arg;
	mbedtls_entropy_context ent;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_ssl_config cf;
	mbedtls_ssl_session sess;
	double t0 = 0;
	unsigned i;

	if (c->ossl_ver != 0) {
		ocli_main(c);
		return NULL;
	}
	mbedtls_entropy_init(&ent);
	mbedtls_ctr_drbg_init(&drbg);
	mbedtls_ssl_config_init(&cf);
	mbedtls_ssl_session_init(&sess);
	c->rc = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent, NULL, 0);
	if (c->rc == 0)
		c->rc = mbedtls_ssl_config_defaults(&cf, MBEDTLS_SSL_IS_CLIENT,
				MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (c->rc == 0) {
		mbedtls_ssl_conf_rng(&cf, mbedtls_ctr_drbg_random, &drbg);
		mbedtls_ssl_conf_authmode(&cf, MBEDTLS_SSL_VERIFY_NONE);
		mbedtls_ssl_conf_ciphersuites(&cf, bench_suites);
		c->rc = cli_one(c, &cf, &sess, true);
		t0 = now_s(CLOCK_THREAD_CPUTIME_ID);
	}
	for (i = 0; c->rc == 0 && i < c->n; i++) {
		c->rc = cli_one(c, &cf, &sess, false);
		if (c->rc == 0)
			c->ok++;
	}
	c->cpu_s = now_s(CLOCK_THREAD_CPUTIME_ID) - t0;
	mbedtls_ssl_session_free(&sess);
	mbedtls_ssl_config_free(&cf);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&ent);
	return NULL;
}

static int
srv_start(struct srv *s, struct mx_tls_ctx *ctx, uint16_t *port)
{
	struct mx_loop_conf lc;
	struct mx_addr a, local;

	memset(s, 0, sizeof(*s));
	s->ctx = ctx;
	memset(&lc, 0, sizeof(lc));
	lc.transport = MX_TRANSPORT_KERNEL;
	lc.max_streams = 256;
	lc.rcvbuf_bytes = 65536;
	lc.sndbuf_bytes = 65536;
	if (mx_loop_create(&lc, &s->loop) != 0)
		return -1;
	if (mx_addr_parse("127.0.0.1:0", 0, &a) != 0 ||
			mx_listen(s->loop, &a, srv_accept, s, &s->l) != 0) {
		mx_loop_free(s->loop);
		return -1;
	}
	mx_listener_local(s->l, &local);
	*port = local.port;
	return 0;
}

/* Serves until the client thread ended and every stream closed, bounded
 * in time. The server's CPU time is measured from the client's second
 * connection on (the first is the warm-up) to the end. */
static int
edge_run(struct mx_tls_ctx *ctx, unsigned n, bool resume, const char *be, int ossl_ver,
		double ceil)
{
	char name[48];
	struct mx_tls_stats *st = mx_tls_ctx_stats(ctx);
	uint64_t hs0, res0, t_end;
	struct cli c;
	struct srv s;
	pthread_t th;
	double w0, c0;
	bool joined = false, warm = false;

	if (srv_start(&s, ctx, &c.port) != 0)
		return -1;
	c.n = n;
	c.ossl_ver = ossl_ver;
	c.resume = resume;
	c.ok = 0;
	c.rc = 0;
	c.cpu_s = 0;
	hs0 = atomic_load(&st->handshakes);
	res0 = atomic_load(&st->resumed);
	w0 = now_s(CLOCK_MONOTONIC);
	c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
	if (pthread_create(&th, NULL, cli_main, &c) != 0) {
		mx_listener_close(s.l);
		mx_loop_free(s.loop);
		return -1;
	}
	t_end = mx_clock_ms() + LOOP_LIMIT_MS;
	while (mx_clock_ms() < t_end && (!joined || s.open > 0)) {
		if (mx_loop_run_once(s.loop, 5) != 0)
			break;
		/* Restart the clocks once the warm-up handshake is done. */
		if (!warm && atomic_load(&st->handshakes) > hs0) {
			w0 = now_s(CLOCK_MONOTONIC);
			c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
			warm = true;
		}
		if (!joined && pthread_tryjoin_np(th, NULL) == 0)
			joined = true;
	}
	if (!joined)
		(void)pthread_join(th, NULL);
	c0 = now_s(CLOCK_THREAD_CPUTIME_ID) - c0;
	w0 = now_s(CLOCK_MONOTONIC) - w0;
	mx_listener_close(s.l);
	mx_loop_free(s.loop);
	if (c.rc != 0 || c.ok != n || s.errors != 0) {
		fprintf(stderr, "mxedge run: client rc -0x%04x, %u/%u ok, %u accept errors\n",
				(unsigned)-c.rc, c.ok, n, s.errors);
		return -1;
	}
	if (resume && atomic_load(&st->resumed) - res0 != n) {
		fprintf(stderr, "mxedge run: %llu of %u resumed\n",
				(unsigned long long)(atomic_load(&st->resumed) - res0), n);
		return -1;
	}
	snprintf(name, sizeof(name), "mxedge-%s %s %s", be,
			ossl_ver == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2",
			resume ? "resumed" : "full");
	(void)row(name, n, w0, c0, ceil);
	printf("%-30s %6s %10s %10.1f  (client thread CPU)\n", "", "", "",
			(double)n / c.cpu_s);
	return 0;
}

/* ceil[0], ceil[1]: the library's full and resumed ceilings; ossl_ver: the
 * OpenSSL client's version, 0 for the mbedTLS client (TLS 1.2). */
static int
edge_bench(const char *crt, const char *key, unsigned n, enum mx_tls_backend be,
		int ossl_ver, const double *ceil)
{
	const char *bname = be == MX_TLS_BACKEND_OPENSSL ? "openssl" : "mbedtls";
	struct mx_tls_conf cf;
	struct mx_tls_ctx *ctx = NULL;
	char err[256];
	int rc;

	mx_tls_conf_defaults(&cf);
	cf.backend = be;
	cf.cert_files[0] = crt;
	cf.key_files[0] = key;
	cf.n_certs = 1;
	cf.min_version = MX_TLS_V1_2;
	cf.suites = MX_TLS_SUITES_STRONG;
	cf.cache_size = 0; /* resumption by ticket only */
	err[0] = '\0';
	if (mx_tls_ctx_create(&cf, &ctx, err, sizeof(err)) != 0) {
		fprintf(stderr, "mx_tls_ctx_create: %s\n", err);
		return -1;
	}
	rc = edge_run(ctx, n, false, bname, ossl_ver, ceil[0]);
	if (rc == 0)
		rc = edge_run(ctx, n, true, bname, ossl_ver, ceil[1]);
	mx_tls_ctx_free(ctx);
	return rc;
}

int
main(int argc, char **argv)
{
	char dir[64], crt[128], key[128], cmd[512];
	unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 400;
	bool mbed = true, ossl = true;
	/* [library][0 full, 1 resumed]: mbedTLS 1.2, OpenSSL 1.2, OpenSSL 1.3 */
	double ceil[3][2] = { { 0 } };
	int rc;

	if (argc > 3 && strcmp(argv[2], "--backend") == 0) {
		mbed = strcmp(argv[3], "openssl") != 0;
		ossl = strcmp(argv[3], "mbedtls") != 0;
	}
	if (n == 0 || n > 1000000 || argc == 3 || argc > 4 || (!mbed && !ossl)) {
		fprintf(stderr, "usage: tls_bench [N] [--backend mbedtls|openssl|both]\n");
		return 2;
	}
	if (system("openssl version >/dev/null 2>&1") != 0) {
		fprintf(stderr, "skip: no openssl command to make the certificate\n");
		return 77;
	}
	snprintf(dir, sizeof(dir), "/tmp/mx_tls_bench.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(crt, sizeof(crt), "%s/ec.crt", dir);
	snprintf(key, sizeof(key), "%s/ec.key", dir);
	snprintf(cmd, sizeof(cmd),
		"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		"-keyout %s -out %s -days 365 -subj /CN=mx.test "
		"-addext subjectAltName=DNS:mx.test >/dev/null 2>&1", key, crt);
	rc = system(cmd) == 0 ? 0 : -1;
	if (rc == 0) {
		printf("suites TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256 (TLS 1.2), "
				"TLS_AES_128_GCM_SHA256 (TLS 1.3), ECDSA P-256, one server thread\n");
		printf("%-30s %6s %10s %10s %10s\n", "row", "n", "hs/s", "srv_hs/s", "ceiling");
		rc = ceil_run(crt, key, n, &ceil[0][0], &ceil[0][1]);
	}
	if (rc == 0 && ossl)
		rc = oceil_run(crt, key, n, TLS1_2_VERSION, &ceil[1][0], &ceil[1][1]);
	if (rc == 0 && ossl)
		rc = oceil_run(crt, key, n, TLS1_3_VERSION, &ceil[2][0], &ceil[2][1]);
	if (rc == 0 && mbed)
		rc = edge_bench(crt, key, n, MX_TLS_BACKEND_MBEDTLS, 0, ceil[0]);
	if (rc == 0 && ossl)
		rc = edge_bench(crt, key, n, MX_TLS_BACKEND_OPENSSL, TLS1_2_VERSION, ceil[1]);
	if (rc == 0 && ossl)
		rc = edge_bench(crt, key, n, MX_TLS_BACKEND_OPENSSL, TLS1_3_VERSION, ceil[2]);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return rc == 0 ? 0 : 1;
}
