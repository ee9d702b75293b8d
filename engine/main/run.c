/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * run.c: the runtime of `mxedge run`.
 *
 * Threads: one worker per configured worker (its own mx_loop, listeners
 * bound with SO_REUSEPORT, session pool, message memory, delivery handle,
 * I/O port and verdict-log port: shared-nothing), the I/O thread
 * (engine/io), libmicrohttpd's thread for metrics, and the control thread,
 * which is this main thread: it waits on a signalfd and does the slow,
 * rare work (reload, drain) so that no worker ever does.
 *
 * Reload (SIGHUP): the control thread loads and validates a new snapshot
 * (file plus the same flags), and hands each worker its own reference
 * through an atomic pointer; the worker swaps it in at the top of its loop.
 * Live sessions keep the snapshot they started with. A snapshot that fails
 * validation is refused with its errors logged, and the old one stays.
 * Listen addresses, workers, transport and the delivery mode are start-time
 * settings: a reload that changes them is refused with a message that says
 * a restart is needed, rather than half-applied.
 *
 * Drain (SIGTERM, SIGINT): workers close their listeners, idle sessions
 * get 421, transactions finish; each worker exits when it holds no session,
 * no delivery and no I/O job; then the process exits 0.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <poll.h>
#include <unistd.h>

#include "mx_conf.h"
#include "mx_connlimit.h"
#include "mx_content.h"
#include "mx_deliver.h"
#include "mx_dpdk.h"
#include "mx_auth.h"
#include "mx_io.h"
#include "mx_log.h"
#include "mx_main.h"
#include "mx_metrics.h"
#include "mx_msg.h"
#include "mx_relay.h"
#include "mx_smtp.h"
#include "mx_tls.h"
#include "mx_spool.h"
#include "mx_stream.h"
#include "mx_vlog.h"

#define LOG_COMP "mxedge.engine.main"
/* Jobs a worker may have in flight on the I/O thread (spool writes and
 * verdict-log flushes). */
#define IO_PORT_DEPTH 4096
/* Slots of the shared per-client connection table: a power of two, four
 * times the default max_connections so probe windows stay short. */
#define CONNLIMIT_SLOTS 65536
/* Verifier jobs a worker may have out at once (each ~12 KiB with its
 * results); past it a transaction's checks are temperror. */
#define AUTH_PORT_DEPTH 1024u

struct worker {
	unsigned id;
	pthread_t thread;
	bool started;
	struct mx_loop *loop;
	struct mx_listener *listeners[MX_CONF_MAX_LISTEN];
	unsigned n_listeners;
	struct mx_chunk_pool *pool;
	struct mx_io_port *io_port;
	struct mx_relay *relay;
	struct mx_deliver *spool_deliver;
	struct mx_vlog_port *vlog_port;
	struct mx_smtp_worker *smtp;
	struct mx_auth_port *auth_port;       /* NULL: no sender checks */
	struct mx_stats *stats;
	struct mx_conf *conf;                 /* the worker's current snapshot */
	_Atomic(struct mx_conf *) next_conf;  /* handed over by the control thread */
	_Atomic(struct mx_content_rules *) next_content; /* likewise, on reload */
	atomic_bool drain;
	bool draining;
};

struct runtime {
	const struct mx_main_opts *opts;
	struct mx_conf *conf;
	struct mx_metrics *metrics;
	struct mx_io *io;
	struct mx_spool *spool;
	struct mx_vlog *vlog;
	struct mx_connlimit *climit;
	struct mx_tls_ctx *tls;               /* NULL: no certificates */
	struct mx_tls_client *relay_tls;      /* delivery.tls; NULL: off */
	struct mx_content_rules *content;     /* NULL: no content rules */
	struct mx_auth_stage *auth;           /* NULL: no sender checks */
	struct worker *workers;
	unsigned n_workers;
	unsigned reloads;
};

/* New content rules from a reload; sessions in flight finish on theirs. */
static void
worker_take_content(struct worker *w)
{
	struct mx_content_rules *nr = atomic_exchange(&w->next_content, NULL);

	if (nr == NULL)
		return;
	if (mx_smtp_worker_set_content(w->smtp, nr) != 0)
		MX_LOG(MX_LOG_ERR, LOG_COMP, "worker %u: no memory for the new content rules; "
				"the old ones stay", w->id);
	mx_content_rules_put(nr);
}

static void
worker_take_conf(struct worker *w)
{
	struct mx_conf *nc = atomic_exchange(&w->next_conf, NULL);

	worker_take_content(w);
	if (nc == NULL)
		return;
	mx_smtp_worker_set_conf(w->smtp, nc);
	if (w->relay != NULL)
		mx_relay_set_conf(w->relay, nc);
	mx_conf_put(w->conf);
	w->conf = nc;
}

static void
worker_start_drain(struct worker *w)
{
	for (unsigned i = 0; i < w->n_listeners; i++)
		mx_listener_close(w->listeners[i]);
	w->n_listeners = 0;
	mx_smtp_drain(w->smtp);
	w->draining = true;
}

static bool
worker_idle(const struct worker *w)
{
	return mx_smtp_n_sessions(w->smtp) == 0 &&
		(w->relay == NULL || mx_relay_in_flight(w->relay) == 0) &&
		mx_io_in_flight(w->io_port) == 0 &&
		(w->auth_port == NULL || mx_auth_port_in_flight(w->auth_port) == 0);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	char name[16];

	snprintf(name, sizeof(name), "mx-worker-%u", w->id);
	pthread_setname_np(pthread_self(), name);
	for (;;) {
		worker_take_conf(w);
		if (!w->draining && atomic_load(&w->drain))
			worker_start_drain(w);
		if (w->draining && worker_idle(w))
			break;
		if (mx_loop_run_once(w->loop, mx_auth_port_timeout_ms(w->auth_port, 1000)) < 0) {
			MX_LOG(MX_LOG_ERR, LOG_COMP, "worker %u: poll failed, stopping", w->id);
			break;
		}
	}
	return NULL;
}

static int
worker_setup(struct runtime *rt, struct worker *w)
{
	const struct mx_conf *c = rt->conf;
	struct mx_loop_conf lc = {
		.transport = c->transport,
		.worker_id = w->id,
		.rcvbuf_bytes = c->rcvbuf_bytes,
		.sndbuf_bytes = c->sndbuf_bytes,
	};
	unsigned per_worker = (c->max_connections + rt->n_workers - 1) / rt->n_workers;
	struct mx_smtp_env env;
	char addr[64];
	int rc;

	w->stats = mx_metrics_stats(rt->metrics, w->id);
	w->conf = mx_conf_get(rt->conf);
	/* Room for the sessions plus the relay's own connections. */
	lc.max_streams = per_worker + c->relay_max_conns + 16;
	rc = mx_loop_create(&lc, &w->loop);
	if (rc != 0) {
		fprintf(stderr, "mxedge: worker %u: cannot create the %s transport: %s\n",
				w->id, c->transport == MX_TRANSPORT_DPDK ? "dpdk" : "kernel",
				rc == -ENOTSUP ? "not available in this build" : strerror(-rc));
		return rc;
	}
	rc = mx_chunk_pool_create(c->chunk_bytes, c->worker_mem_max, &w->pool);
	if (rc != 0)
		return rc;
	rc = mx_io_port_create(rt->io, w->loop, IO_PORT_DEPTH, &w->io_port);
	if (rc != 0)
		return rc;
	if (rt->vlog != NULL) {
		rc = mx_vlog_port_create(rt->vlog, w->io_port, w->stats, &w->vlog_port);
		if (rc != 0)
			return rc;
	}
	memset(&env, 0, sizeof(env));
	if (c->has_downstream) {
		rc = mx_relay_create(w->loop, rt->conf, w->stats, &w->relay);
		if (rc != 0)
			return rc;
		mx_relay_set_tls(w->relay, rt->relay_tls);
		env.deliver = mx_relay_deliver(w->relay);
	} else {
		rc = mx_spool_deliver_create(rt->spool, w->io_port, w->stats, &w->spool_deliver);
		if (rc != 0)
			return rc;
		env.deliver = w->spool_deliver;
	}
	env.loop = w->loop;
	env.conf = w->conf;
	env.vlog = w->vlog_port;
	env.stats = w->stats;
	env.pool = w->pool;
	env.climit = rt->climit;
	env.tls = rt->tls;
	env.content = rt->content;
	if (rt->auth != NULL) {
		rc = mx_auth_port_create(rt->auth, w->loop, MX_MIN(per_worker + 16, AUTH_PORT_DEPTH),
				mx_smtp_auth_done, stderr, &w->auth_port);
		if (rc != 0)
			return rc;
		env.auth = w->auth_port;
	}
	rc = mx_smtp_worker_create(&env, per_worker, &w->smtp);
	if (rc != 0)
		return rc;
	for (unsigned i = 0; i < c->n_listen; i++) {
		rc = mx_listen(w->loop, &c->listen[i], mx_smtp_accept, w->smtp,
				&w->listeners[w->n_listeners]);
		if (rc != 0) {
			mx_addr_format(&c->listen[i], true, addr, sizeof(addr));
			fprintf(stderr, "mxedge: cannot listen on %s: %s\n", addr, strerror(-rc));
			return rc;
		}
		w->n_listeners++;
	}
	return 0;
}

static void
worker_teardown(struct worker *w)
{
	struct mx_conf *nc = atomic_exchange(&w->next_conf, NULL);

	if (nc != NULL)
		mx_conf_put(nc);
	mx_content_rules_put(atomic_exchange(&w->next_content, NULL));
	for (unsigned i = 0; i < w->n_listeners; i++)
		mx_listener_close(w->listeners[i]);
	w->n_listeners = 0;
	if (w->relay != NULL)
		mx_relay_free(w->relay);
	/* The loop goes before the session pool: freeing it closes what is
	 * left, and the sessions' on_closed handlers need the pool. */
	if (w->loop != NULL)
		mx_loop_free(w->loop);
	if (w->smtp != NULL)
		mx_smtp_worker_free(w->smtp);
	if (w->spool_deliver != NULL)
		mx_spool_deliver_free(w->spool_deliver);
	if (w->pool != NULL)
		mx_chunk_pool_free(w->pool);
	if (w->conf != NULL)
		mx_conf_put(w->conf);
}

static bool
str_same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Start-time settings that a reload cannot change in place. */
static const char *
reload_blocker(const struct mx_conf *a, const struct mx_conf *b)
{
	if (a->transport != b->transport)
		return "server.transport";
	if (a->workers != b->workers)
		return "server.workers";
	if (a->n_listen != b->n_listen ||
			memcmp(a->listen, b->listen, sizeof(a->listen[0]) * a->n_listen) != 0)
		return "server.listen";
	if (a->has_downstream != b->has_downstream)
		return "delivery.downstream (switching between relay and spool)";
	if (!a->has_downstream && strcmp(a->spool_dir, b->spool_dir) != 0)
		return "delivery.spool_dir";
	if ((a->verdict_log == NULL) != (b->verdict_log == NULL) ||
			(a->verdict_log != NULL && strcmp(a->verdict_log, b->verdict_log) != 0))
		return "log.verdict_log";
	if (a->has_metrics != b->has_metrics ||
			(a->has_metrics && memcmp(&a->metrics_listen, &b->metrics_listen,
				sizeof(a->metrics_listen)) != 0))
		return "metrics.listen";
	if (a->content_rules != NULL && b->content_rules == NULL)
		return "content.rules (removed)";
	/* The verifier and its DNS source exist from start (or not). */
	if ((a->auth_spf != MX_CONF_AUTH_OFF || a->auth_dmarc != MX_CONF_AUTH_OFF) !=
			(b->auth_spf != MX_CONF_AUTH_OFF || b->auth_dmarc != MX_CONF_AUTH_OFF))
		return "auth.spf / auth.dmarc (turning sender checks on or off)";
	if (a->auth_verifier != b->auth_verifier || a->dns_timeout_ms != b->dns_timeout_ms ||
			a->auth_senderid != b->auth_senderid ||
			!str_same(a->dns_resolver, b->dns_resolver) ||
			!str_same(a->dns_zone, b->dns_zone) ||
			!str_same(a->auth_authserv_id, b->auth_authserv_id))
		return "auth.verifier, auth.authserv_id or dns.*";
	/* STARTTLS is offered or not from start: the workers' TLS context
	 * exists or not. New certificates at the same or other paths are
	 * fine (tls_reload). */
	if ((a->tls_cert.n == 0) != (b->tls_cert.n == 0))
		return "tls.cert (adding or removing all certificates)";
	/* The TLS library of the running context (crypto/tls). */
	if (a->tls_backend != b->tls_backend)
		return "tls.backend";
	/* The downstream TLS client (CA, client certificate) is made once,
	 * at start (relay_tls_setup). */
	if (a->relay_tls != b->relay_tls || !str_same(a->relay_tls_ca_file, b->relay_tls_ca_file) ||
			!str_same(a->relay_tls_cert, b->relay_tls_cert) ||
			!str_same(a->relay_tls_key, b->relay_tls_key))
		return "delivery.tls, tls_ca_file, tls_cert or tls_key";
	return NULL;
}

static int tls_reload(struct runtime *rt, const struct mx_conf *nc);

static void
reload(struct runtime *rt)
{
	struct mx_content_rules *nr = NULL;
	struct mx_conf *nc;
	const char *blocker;

	if (rt->vlog != NULL && mx_vlog_reopen(rt->vlog) != 0)
		MX_LOG(MX_LOG_ERR, LOG_COMP, "reload: cannot reopen the verdict log");
	if (mx_main_load_conf(rt->opts, &nc, stderr) != 0) {
		MX_LOG(MX_LOG_ERR, LOG_COMP, "reload refused: configuration invalid (see above); "
				"the running configuration stays");
		return;
	}
	blocker = reload_blocker(rt->conf, nc);
	if (blocker != NULL) {
		MX_LOG(MX_LOG_ERR, LOG_COMP, "reload refused: %s changed; it needs a restart; "
				"the running configuration stays", blocker);
		mx_conf_put(nc);
		return;
	}
	/* The rules file is read again on every reload; unchanged rules come
	 * from the cache. Compiled here, on the control thread. */
	if (nc->content_rules != NULL &&
			mx_content_rules_load(nc->content_rules, nc->content_cache_dir, stderr, &nr) != 0) {
		MX_LOG(MX_LOG_ERR, LOG_COMP, "reload refused: content rules invalid (see above); "
				"the running configuration stays");
		mx_conf_put(nc);
		return;
	}
	if (tls_reload(rt, nc) != 0) {
		mx_content_rules_put(nr);
		mx_conf_put(nc);
		return;
	}
	mx_log_set_level((enum mx_log_level)nc->log_level);
	for (unsigned i = 0; i < rt->n_workers; i++) {
		struct worker *w = &rt->workers[i];
		struct mx_conf *old = atomic_exchange(&w->next_conf, mx_conf_get(nc));

		if (old != NULL)
			mx_conf_put(old);
		if (nr != NULL) {
			mx_content_rules_get(nr);
			mx_content_rules_put(atomic_exchange(&w->next_content, nr));
		}
		mx_loop_wakeup(w->loop);
	}
	if (nr != NULL) {
		mx_content_rules_put(rt->content);
		rt->content = nr;
	}
	mx_conf_put(rt->conf);
	rt->conf = nc;
	rt->reloads++;
	mx_metrics_set_gauge(rt->metrics, "mxedge_config_reloads",
			"Configuration reloads applied since start", rt->reloads);
	MX_LOG(MX_LOG_NOTICE, LOG_COMP, "configuration reloaded (%u)", rt->reloads);
}

static void
drain(struct runtime *rt)
{
	for (unsigned i = 0; i < rt->n_workers; i++) {
		atomic_store(&rt->workers[i].drain, true);
		mx_loop_wakeup(rt->workers[i].loop);
	}
}

static bool
all_workers_done(struct runtime *rt)
{
	bool done = true;

	for (unsigned i = 0; i < rt->n_workers; i++) {
		struct worker *w = &rt->workers[i];

		if (!w->started)
			continue;
		if (pthread_tryjoin_np(w->thread, NULL) == 0)
			w->started = false;
		else
			done = false;
	}
	return done;
}

/* The control loop: signals in, reload and drain out. */
static void
control_loop(struct runtime *rt, int sfd)
{
	bool draining = false;

	for (;;) {
		struct pollfd pfd = { .fd = sfd, .events = POLLIN };
		struct signalfd_siginfo si;

		if (all_workers_done(rt))
			return;
		if (poll(&pfd, 1, 200) <= 0)
			continue;
		if (read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		switch (si.ssi_signo) {
		case SIGHUP:
			if (!draining)
				reload(rt);
			break;
		case SIGTERM:
		case SIGINT:
			if (!draining)
				MX_LOG(MX_LOG_NOTICE, LOG_COMP, "signal %u: draining "
						"(no new connections; transactions finish)",
						si.ssi_signo);
			draining = true;
			drain(rt);
			break;
		default:
			break;
		}
	}
}

/* The server TLS configuration of a snapshot. The strings stay the
 * snapshot's: crypto/tls copies what it keeps. */
static void
tls_conf_of(const struct runtime *rt, const struct mx_conf *c, struct mx_tls_conf *tc)
{
	unsigned i;

	mx_tls_conf_defaults(tc);
	for (i = 0; i < c->tls_cert.n && i < MX_TLS_MAX_CERTS; i++) {
		tc->cert_files[i] = c->tls_cert.v[i];
		tc->key_files[i] = c->tls_key.v[i];
	}
	tc->n_certs = i;
	tc->hostname = c->hostname;
	tc->min_version = (enum mx_tls_version)c->tls_min_version;
	tc->backend = (enum mx_tls_backend)c->tls_backend;
	/* Mandatory TLS has a floor: forward secrecy and an AEAD. */
	tc->suites = c->tls_mode == MX_TLS_MODE_MANDATORY ?
		MX_TLS_SUITES_STRONG : MX_TLS_SUITES_DEFAULT;
	tc->workers = rt->n_workers;
	tc->allow_weak_keys = c->tls_allow_weak_keys;
	tc->require_san_match = c->tls_require_san_match;
	tc->expiry_warn_days = c->tls_expiry_warn_days;
}

/* tls.profiles as crypto/tls takes them (pr has MX_TLS_MAX_PROFILES
 * entries); what a profile leaves out comes from the tls section. */
static void
tls_policy_of(const struct mx_conf *c, struct mx_tls_profile *pr, struct mx_tls_policy *pol)
{
	unsigned i, j;

	memset(pr, 0, sizeof(*pr) * MX_TLS_MAX_PROFILES);
	for (i = 0; i < c->n_tls_profiles && i < MX_TLS_MAX_PROFILES; i++) {
		const struct mx_conf_tls_profile *p = &c->tls_profiles[i];
		struct mx_tls_profile *q = &pr[i];

		q->name = p->name;
		for (j = 0; j < p->n_clients && j < MX_TLS_MAX_MATCH; j++) {
			q->clients[j] = p->clients[j];
			q->client_prefix[j] = p->client_prefix[j];
		}
		q->n_clients = j;
		for (j = 0; j < p->n_sender_domains && j < MX_TLS_MAX_MATCH; j++)
			q->sender_domains[j] = p->sender_domains[j];
		q->n_sender_domains = j;
		for (j = 0; j < p->n_ciphers && j < MX_TLS_MAX_MATCH; j++)
			q->ciphers[j] = p->ciphers[j];
		q->n_ciphers = j;
		q->require_tls = p->require_tls;
		q->min_version = (enum mx_tls_version)(p->min_version >= 0 ?
				(unsigned)p->min_version : c->tls_min_version);
		q->suites = p->strong || c->tls_mode == MX_TLS_MODE_MANDATORY ?
			MX_TLS_SUITES_STRONG : MX_TLS_SUITES_DEFAULT;
		q->client_cert = (enum mx_tls_client_cert)p->client_cert;
		q->ca_file = p->ca_file;
		q->cert_match = p->cert_match;
	}
	pol->profiles = pr;
	pol->n_profiles = i;
}

static void
tls_expiry_gauge(struct runtime *rt)
{
	mx_metrics_set_gauge(rt->metrics, "mxedge_tls_cert_days_to_expiry",
			"Whole days until the first server certificate expires",
			(double)mx_tls_ctx_days_to_expiry(rt->tls));
}

static size_t
tls_metrics_export(void *arg, char *buf, size_t size)
{
	return mx_tls_ctx_metrics(arg, buf, size);
}

/* Certificates and profiles are loaded and checked at start (hygiene,
 * DESIGN "TLS policy"); a refused certificate stops the start. Before
 * the metrics are served: the exporter list is fixed from then on. */
static int
tls_setup(struct runtime *rt)
{
	const struct mx_conf *c = rt->conf;
	struct mx_tls_profile pr[MX_TLS_MAX_PROFILES];
	struct mx_tls_policy pol;
	struct mx_tls_conf tc;
	char err[512];
	int rc;

	if (c->tls_cert.n == 0)
		return 0;
	tls_conf_of(rt, c, &tc);
	tls_policy_of(c, pr, &pol);
	err[0] = '\0';
	rc = mx_tls_ctx_create_policy(&tc, &pol, &rt->tls, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "mxedge: tls: %s\n", err);
		return rc;
	}
	tls_expiry_gauge(rt);
	return mx_metrics_add_exporter(rt->metrics, tls_metrics_export, rt->tls);
}

/* SIGHUP: the certificate files and profiles are read again into a new
 * generation, checked like at start, and published; sessions in flight
 * keep the old one until they end. A refused certificate keeps the old
 * generation and refuses the reload. */
static int
tls_reload(struct runtime *rt, const struct mx_conf *nc)
{
	struct mx_tls_profile pr[MX_TLS_MAX_PROFILES];
	struct mx_tls_policy pol;
	struct mx_tls_conf tc;
	char err[512];
	int rc;

	if (rt->tls == NULL)
		return 0;
	tls_conf_of(rt, nc, &tc);
	tls_policy_of(nc, pr, &pol);
	err[0] = '\0';
	rc = mx_tls_ctx_reload(rt->tls, &tc, &pol, err, sizeof(err));
	if (rc != 0) {
		MX_LOG(MX_LOG_ERR, LOG_COMP, "reload refused: tls: %s; the running "
				"certificates and configuration stay", err);
		return rc;
	}
	tls_expiry_gauge(rt);
	return 0;
}

/* delivery.tls: the client side of STARTTLS to the downstream, loaded
 * once (CA bundle, client certificate) and shared by the workers' relays.
 * Opportunistic checks nothing (RFC 7435); verify checks the chain and
 * the name (RFC 7817 3). */
static int
relay_tls_setup(struct runtime *rt)
{
	const struct mx_conf *c = rt->conf;
	struct mx_tls_client_conf tc;
	char err[512];
	int rc;

	if (!c->has_downstream || c->relay_tls == MX_RELAY_TLS_OFF)
		return 0;
	mx_tls_client_conf_defaults(&tc);
	tc.workers = rt->n_workers;
	tc.ca_file = c->relay_tls_ca_file;
	tc.cert_file = c->relay_tls_cert;
	tc.key_file = c->relay_tls_key;
	tc.backend = (enum mx_tls_backend)c->tls_backend;
	if (c->relay_tls == MX_RELAY_TLS_OPPORTUNISTIC) {
		/* Any TLS beats the plaintext the alternative is. */
		tc.verify = MX_TLS_VERIFY_NONE;
		tc.min_version = MX_TLS_V1_0;
	}
	err[0] = '\0';
	rc = mx_tls_client_create(&tc, &rt->relay_tls, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "mxedge: delivery.tls: %s\n", err);
	return rc;
}

/* Content rules (policy/content), compiled before any worker starts. */
static int
content_setup(struct runtime *rt)
{
	const struct mx_conf *c = rt->conf;
	const struct mx_content_load_info *li;
	int rc;

	if (c->content_rules == NULL)
		return 0;
	rc = mx_content_rules_load(c->content_rules, c->content_cache_dir, stderr, &rt->content);
	if (rc != 0) {
		fprintf(stderr, "mxedge: content rules %s: not loaded\n", c->content_rules);
		return rc;
	}
	li = mx_content_rules_info(rt->content);
	MX_LOG(MX_LOG_NOTICE, LOG_COMP, "content rules %s: %u rules, %u refused, %s",
			c->content_rules, li->n_rules, li->n_refused,
			li->from_cache ? "from the cache" : "compiled");
	return 0;
}

/* Sender authentication (policy/auth): the verifier stage, on a thread of
 * its own or on each worker's loop (auth.verifier), only when a check is
 * on. Its DNS source is set up here, so a bad resolver or zone file stops
 * the start with the reason. */
static int
auth_setup(struct runtime *rt)
{
	const struct mx_conf *c = rt->conf;
	struct mx_auth_conf ac = {
		.dns = {
			.resolver = c->dns_resolver,
			.zone_file = c->dns_zone,
			.timeout_ms = c->dns_timeout_ms,
		},
		.receiver = c->hostname,
		.authserv_id = c->auth_authserv_id,
		.dkim_min_key_bits = c->auth_dkim_min_key_bits,
		.dkim_rsa_sha1 = c->auth_dkim_rsa_sha1,
		.senderid = c->auth_senderid,
	};
	int rc;

	if (c->auth_spf == MX_CONF_AUTH_OFF && c->auth_dmarc == MX_CONF_AUTH_OFF)
		return 0;
	rc = mx_auth_stage_create(&ac, c->auth_verifier == 0, &rt->auth, stderr);
	if (rc != 0) {
		fprintf(stderr, "mxedge: sender authentication: cannot start the verifier: %s\n",
				strerror(-rc));
		return rc;
	}
	return mx_metrics_add_exporter(rt->metrics, mx_auth_stage_metrics, rt->auth);
}

static int
services_setup(struct runtime *rt)
{
	const struct mx_conf *c = rt->conf;
	int rc;

	rc = mx_metrics_create(rt->n_workers, &rt->metrics);
	if (rc != 0)
		return rc;
	/* The dataplane's families read only what its workers publish, so
	 * they may be served before the port exists and after it is gone. */
	if (c->transport == MX_TRANSPORT_DPDK) {
		rc = mx_metrics_add_exporter(rt->metrics, mx_dpdk_metrics_export, NULL);
		if (rc != 0)
			return rc;
	}
	rc = tls_setup(rt);
	if (rc != 0)
		return rc;
	rc = auth_setup(rt);
	if (rc != 0)
		return rc;
	if (c->has_metrics) {
		rc = mx_metrics_serve(rt->metrics, &c->metrics_listen);
		if (rc != 0) {
			fprintf(stderr, "mxedge: cannot serve metrics: %s\n", strerror(-rc));
			return rc;
		}
	}
	rc = mx_connlimit_create(CONNLIMIT_SLOTS, &rt->climit);
	if (rc != 0)
		return rc;
	rc = relay_tls_setup(rt);
	if (rc != 0)
		return rc;
	rc = content_setup(rt);
	if (rc != 0)
		return rc;
	rc = mx_io_create(&rt->io);
	if (rc != 0)
		return rc;
	if (!c->has_downstream) {
		rc = mx_spool_create(c->spool_dir, rt->io, &rt->spool);
		if (rc != 0) {
			fprintf(stderr, "mxedge: spool %s: %s\n", c->spool_dir, strerror(-rc));
			return rc;
		}
	}
	if (c->verdict_log != NULL) {
		rc = mx_vlog_open(c->verdict_log, rt->io, &rt->vlog);
		if (rc != 0) {
			fprintf(stderr, "mxedge: verdict log %s: %s\n", c->verdict_log,
					strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/* The DPDK transport: EAL and port once, on this (the control) thread,
 * before any worker loop exists; one queue pair per worker. The workers
 * stay the engine's own pthreads (the loop registers its thread with the
 * EAL for an lcore id and mempool cache) so both transports share one
 * start-up and drain path. */
/* dpdk.fault.*: the same impairment both ways (a test's lossy link);
 * all zero leaves the layer out of the path. */
static void
dpdk_fault_conf(const struct mx_conf *c, struct mx_pktio_fault_conf *f)
{
	memset(f, 0, sizeof(*f));
	f->seed = c->dpdk_fault_seed;
	f->rx.loss_pct = c->dpdk_fault_loss_pct;
	f->rx.reorder_pct = c->dpdk_fault_reorder_pct;
	f->rx.dup_pct = c->dpdk_fault_dup_pct;
	f->rx.delay_ms = c->dpdk_fault_delay_ms;
	f->rx.jitter_ms = c->dpdk_fault_jitter_ms;
	f->tx = f->rx;
}

static int
dpdk_setup(const struct mx_conf *c, unsigned n_workers)
{
	struct mx_dpdk_conf dc;
	int rc;

	/* dpdk is the default transport: without a port to drive, say so
	 * before rte_eal_init, naming both ways out. */
	if (c->dpdk_eal == NULL || c->dpdk_eal[0] == '\0') {
		fprintf(stderr, "mxedge: the dpdk transport (the default) needs EAL arguments: "
				"--eal \"-l 0 -a PCI_ADDRESS\" or dpdk.eal (README \"On DPDK\"), "
				"or run with --transport kernel\n");
		return -EINVAL;
	}
	if (c->n_dpdk_addr == 0) {
		fprintf(stderr, "mxedge: transport dpdk needs dpdk.address (--address "
				"IPv4/PREFIX such as 198.18.0.2/24)\n");
		return -EINVAL;
	}
	memset(&dc, 0, sizeof(dc));
	dc.eal = c->dpdk_eal;
	dc.n_queues = (uint16_t)n_workers;
	for (unsigned i = 0; i < c->n_dpdk_addr && i < MX_NET_MAX_ADDRS; i++) {
		dc.addrs[i].addr = c->dpdk_addr[i];
		dc.addrs[i].prefix = c->dpdk_prefix[i];
		dc.n_addrs++;
	}
	dc.gateway = c->dpdk_gateway;
	dpdk_fault_conf(c, &dc.fault);
	rc = mx_dpdk_start(&dc);
	if (rc != 0)
		fprintf(stderr, "mxedge: cannot start the DPDK port (--eal \"%s\"): %s\n",
				c->dpdk_eal != NULL ? c->dpdk_eal : "", strerror(-rc));
	return rc;
}

static void
runtime_free(struct runtime *rt)
{
	for (unsigned i = 0; rt->workers != NULL && i < rt->n_workers; i++)
		worker_teardown(&rt->workers[i]);
	free(rt->workers);
	/* After the worker loops: the verifier wakes none of them any more. */
	mx_auth_stage_free(rt->auth);
	/* The port goes once every worker loop (and its mbufs) is gone. */
	mx_dpdk_stop();
	/* The I/O thread drains its queue before the spool and log go. */
	if (rt->io != NULL)
		mx_io_free(rt->io);
	if (rt->vlog != NULL)
		mx_vlog_free(rt->vlog);
	if (rt->spool != NULL)
		mx_spool_free(rt->spool);
	if (rt->climit != NULL)
		mx_connlimit_free(rt->climit);
	/* After the workers: every TLS stream has ended. */
	mx_tls_ctx_free(rt->tls);
	mx_tls_client_free(rt->relay_tls);
	mx_content_rules_put(rt->content);
	if (rt->metrics != NULL)
		mx_metrics_free(rt->metrics);
	if (rt->conf != NULL)
		mx_conf_put(rt->conf);
}

static void
log_start(const struct runtime *rt)
{
	const struct mx_conf *c = rt->conf;
	char addr[64];

	for (unsigned i = 0; i < c->n_listen; i++) {
		mx_addr_format(&c->listen[i], true, addr, sizeof(addr));
		MX_LOG(MX_LOG_NOTICE, LOG_COMP, "listening on %s", addr);
	}
	MX_LOG(MX_LOG_NOTICE, LOG_COMP, "mxedge %s ready: hostname %s, %u worker(s), "
			"%s transport, delivery %s%s", MX_VERSION, c->hostname, rt->n_workers,
			c->transport == MX_TRANSPORT_DPDK ? "dpdk" : "kernel",
			c->has_downstream ? "relay to " : "spool in ",
			c->has_downstream ? c->downstream_host : c->spool_dir);
}

int
mx_main_run(const struct mx_main_opts *o)
{
	struct runtime rt = { .opts = o };
	sigset_t set;
	int sfd = -1, status = 1;

	if (mx_main_load_conf(o, &rt.conf, stderr) != 0)
		return 1;
	mx_log_set_level((enum mx_log_level)rt.conf->log_level);
	/* Block the signals in every thread (they inherit the mask) and take
	 * them synchronously here; SIGPIPE is ignored outright. */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0) {
		fprintf(stderr, "mxedge: signalfd: %s\n", strerror(errno));
		goto out;
	}
	rt.n_workers = rt.conf->workers;
	rt.workers = calloc(rt.n_workers, sizeof(*rt.workers));
	if (rt.workers == NULL || services_setup(&rt) != 0)
		goto out;
	if (rt.conf->transport == MX_TRANSPORT_DPDK && dpdk_setup(rt.conf, rt.n_workers) != 0)
		goto out;
	for (unsigned i = 0; i < rt.n_workers; i++) {
		rt.workers[i].id = i;
		if (worker_setup(&rt, &rt.workers[i]) != 0)
			goto out;
	}
	for (unsigned i = 0; i < rt.n_workers; i++) {
		if (pthread_create(&rt.workers[i].thread, NULL, worker_main, &rt.workers[i]) != 0) {
			fprintf(stderr, "mxedge: cannot start worker %u\n", i);
			drain(&rt);
			control_loop(&rt, sfd);
			goto out;
		}
		rt.workers[i].started = true;
	}
	log_start(&rt);
	control_loop(&rt, sfd);
	MX_LOG(MX_LOG_NOTICE, LOG_COMP, "drained, exiting");
	status = 0;
out:
	runtime_free(&rt);
	if (sfd >= 0)
		close(sfd);
	return status;
}
