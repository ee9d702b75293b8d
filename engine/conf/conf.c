/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The configuration snapshot: defaults, the key table, setting one key
 * from a file value or a command-line flag, validation, dump, and the
 * reference count. Reading the YAML file is in conf_load.c.
 *
 * Every key of the file is one row of keys[]: its section and name, the
 * command-line flag that sets it (if any), its kind (which says how a
 * value is parsed, checked and printed) and, for numbers, its range. The
 * loader, mx_conf_set(), mx_conf_validate() and mx_conf_dump() all walk
 * that one table, so a key added there is parsed, range-checked, settable
 * from the command line and dumped without any other change.
 *
 * Control thread only, except mx_conf_get/put (any thread) and
 * mx_conf_is_local_domain() (any thread, read-only, no allocation).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mx_conf.h"
#include "mx_log.h"

#include "conf_priv.h"

#define OFF(f) offsetof(struct mx_conf, f)
#define KIB(n) ((uint64_t)(n) << 10)
#define MIB(n) ((uint64_t)(n) << 20)
#define GIB(n) ((uint64_t)(n) << 30)
#define SEC(n) ((uint64_t)(n) * 1000)
#define MINUTES(n) ((uint64_t)(n) * 60 * 1000)

/* Ranges are what the code can honour and what the RFCs ask for; the
 * reason sits beside each default in mx_conf_new(). */
const struct mx_conf_key mx_conf_keys[] = {
	{ "server", "hostname", "hostname", MX_CONF_K_HOSTNAME, OFF(hostname), 0, 0,
		"an RFC 1123 host name such as mx.example.org" },
	{ "server", "transport", "transport", MX_CONF_K_TRANSPORT, OFF(transport), 0, 0,
		"kernel or dpdk" },
	{ "server", "listen", "listen", MX_CONF_K_LISTEN, OFF(listen), 1, MX_CONF_MAX_LISTEN,
		"1 to 8 addresses such as 0.0.0.0:25 or [::]:25" },
	{ "server", "workers", "workers", MX_CONF_K_COUNT, OFF(workers), 1, 64, NULL },

	{ "smtp", "local_domains", "local-domain", MX_CONF_K_DOMAINS, OFF(local_domains),
		1, MX_CONF_MAX_DOMAINS, "1 to 256 domain names such as example.org" },
	{ "smtp", "max_command_line", NULL, MX_CONF_K_BYTES, OFF(max_command_line),
		512, 65536, NULL },
	{ "smtp", "max_text_line", NULL, MX_CONF_K_BYTES, OFF(max_text_line),
		1000, MIB(1), NULL },
	{ "smtp", "max_message_size", NULL, MX_CONF_K_BYTES64, OFF(max_message_size),
		KIB(1), GIB(64), NULL },
	{ "smtp", "max_recipients", NULL, MX_CONF_K_COUNT, OFF(max_recipients),
		100, 100000, NULL },
	{ "smtp", "max_errors", NULL, MX_CONF_K_COUNT, OFF(max_errors), 1, 1000, NULL },
	{ "smtp", "max_headers", NULL, MX_CONF_K_COUNT, OFF(max_headers), 1, 100000, NULL },
	{ "smtp", "max_header_bytes", NULL, MX_CONF_K_BYTES, OFF(max_header_bytes),
		1000, MIB(16), NULL },
	{ "smtp", "greeting_delay", NULL, MX_CONF_K_MS, OFF(greeting_delay_ms),
		0, MINUTES(5), NULL },
	{ "smtp", "timeout_greeting", NULL, MX_CONF_K_MS, OFF(timeout_greeting_ms),
		SEC(1), MINUTES(60), NULL },
	{ "smtp", "timeout_command", NULL, MX_CONF_K_MS, OFF(timeout_command_ms),
		SEC(1), MINUTES(60), NULL },
	{ "smtp", "timeout_data", NULL, MX_CONF_K_MS, OFF(timeout_data_ms),
		SEC(1), MINUTES(60), NULL },
	{ "smtp", "max_connections", NULL, MX_CONF_K_COUNT, OFF(max_connections),
		1, 1000000, NULL },
	/* 65535: the connection-limit table counts a client in 16 bits. */
	{ "smtp", "max_connections_per_client", NULL, MX_CONF_K_COUNT,
		OFF(max_connections_per_client), 1, 65535, NULL },
	{ "smtp", "bare_lf", NULL, MX_CONF_K_BARE_LF, OFF(bare_lf), 0, 0,
		"reject or normalize" },
	{ "smtp", "pipelining", NULL, MX_CONF_K_BOOL, OFF(pipelining), 0, 0,
		"true or false" },
	{ "smtp", "chunking", NULL, MX_CONF_K_BOOL, OFF(chunking), 0, 0,
		"true or false" },

	{ "delivery", "downstream", "downstream", MX_CONF_K_DOWNSTREAM, OFF(downstream), 0, 0,
		"HOST:PORT such as 127.0.0.1:10025, [::1]:10025 or relay.example.org:25" },
	{ "delivery", "helo_name", NULL, MX_CONF_K_HELO, OFF(helo_name), 0, 0,
		"an RFC 1123 host name such as mx.example.org" },
	{ "delivery", "pool_size", NULL, MX_CONF_K_COUNT, OFF(relay_pool_size), 0, 1024, NULL },
	{ "delivery", "max_connections", NULL, MX_CONF_K_COUNT, OFF(relay_max_conns),
		1, 1024, NULL },
	{ "delivery", "timeout_connect", NULL, MX_CONF_K_MS, OFF(timeout_relay_connect_ms),
		100, MINUTES(10), NULL },
	{ "delivery", "timeout_reply", NULL, MX_CONF_K_MS, OFF(timeout_relay_reply_ms),
		SEC(1), MINUTES(60), NULL },
	{ "delivery", "timeout_data", NULL, MX_CONF_K_MS, OFF(timeout_relay_data_ms),
		SEC(1), MINUTES(60), NULL },
	{ "delivery", "idle_timeout", NULL, MX_CONF_K_MS, OFF(relay_idle_ms),
		SEC(1), MINUTES(60), NULL },
	{ "delivery", "tls", NULL, MX_CONF_K_RELAY_TLS, OFF(relay_tls), 0, 0,
		"off, opportunistic or verify" },
	{ "delivery", "tls_ca_file", NULL, MX_CONF_K_PATH, OFF(relay_tls_ca_file), 0, 0,
		"a PEM CA bundle" },
	{ "delivery", "tls_name", NULL, MX_CONF_K_STRING, OFF(relay_tls_name), 0, 0,
		"the downstream's host name in its certificate, such as mail.example.org" },
	{ "delivery", "tls_cert", NULL, MX_CONF_K_PATH, OFF(relay_tls_cert), 0, 0,
		"a PEM client certificate file" },
	{ "delivery", "tls_key", NULL, MX_CONF_K_PATH, OFF(relay_tls_key), 0, 0,
		"a PEM private key file for delivery.tls_cert" },
	{ "delivery", "spool_dir", "spool", MX_CONF_K_PATH, OFF(spool_dir), 0, 0,
		"a directory path" },

	{ "log", "level", "log-level", MX_CONF_K_LEVEL, OFF(log_level), 0, 0,
		"err, warn, notice, info or debug" },
	{ "log", "verdict_log", "verdict-log", MX_CONF_K_VLOG, OFF(verdict_log), 0, 0,
		"a file path, or - for standard output" },

	{ "metrics", "listen", "metrics", MX_CONF_K_METRICS, OFF(metrics_listen), 0, 0,
		"ADDRESS:PORT such as 127.0.0.1:9925 or [::1]:9925" },

	{ "memory", "chunk_size", NULL, MX_CONF_K_BYTES, OFF(chunk_bytes), KIB(1), MIB(16), NULL },
	{ "memory", "worker_message_memory", NULL, MX_CONF_K_BYTES, OFF(worker_mem_max),
		MIB(1), GIB(1024), NULL },
	{ "memory", "rcvbuf", NULL, MX_CONF_K_BYTES, OFF(rcvbuf_bytes), KIB(4), MIB(64), NULL },
	{ "memory", "sndbuf", NULL, MX_CONF_K_BYTES, OFF(sndbuf_bytes), KIB(4), MIB(64), NULL },

	{ "dpdk", "eal", "eal", MX_CONF_K_STRING, OFF(dpdk_eal), 0, 0,
		"EAL arguments such as \"-l 0 --no-huge --vdev=net_tap0,iface=mx0\"" },
	{ "dpdk", "address", "address", MX_CONF_K_CIDRS, OFF(dpdk_addr), 1, MX_CONF_MAX_DPDK_ADDRS,
		"IPv4/PREFIX such as 198.18.0.2/24" },
	{ "dpdk", "gateway", "gateway", MX_CONF_K_IPV4, OFF(dpdk_gateway), 0, 0,
		"an IPv4 address such as 198.18.0.1" },
	/* Test impairment, off unless set: percentages of frames per
	 * direction (mx_pktio_fault_create refuses more than 100). */
	{ "dpdk", "fault.loss_pct", NULL, MX_CONF_K_COUNT, OFF(dpdk_fault_loss_pct), 0, 100, NULL },
	{ "dpdk", "fault.reorder_pct", NULL, MX_CONF_K_COUNT, OFF(dpdk_fault_reorder_pct),
		0, 100, NULL },
	{ "dpdk", "fault.dup_pct", NULL, MX_CONF_K_COUNT, OFF(dpdk_fault_dup_pct), 0, 100, NULL },
	{ "dpdk", "fault.delay_ms", NULL, MX_CONF_K_MS, OFF(dpdk_fault_delay_ms), 0, SEC(10), NULL },
	{ "dpdk", "fault.delay_jitter_ms", NULL, MX_CONF_K_MS, OFF(dpdk_fault_jitter_ms),
		0, SEC(10), NULL },
	{ "dpdk", "fault.seed", NULL, MX_CONF_K_COUNT, OFF(dpdk_fault_seed), 0, UINT32_MAX, NULL },

	{ "content", "rules", "rules", MX_CONF_K_PATH, OFF(content_rules), 0, 0,
		"a content rules file (YAML)" },
	{ "content", "cache_dir", NULL, MX_CONF_K_PATH, OFF(content_cache_dir), 0, 0,
		"a directory for compiled rule databases" },

	{ "tls", "cert", "tls-cert", MX_CONF_K_PATHS, OFF(tls_cert), 1, MX_CONF_MAX_TLS_CERTS,
		"a PEM certificate file (leaf first, then its chain)" },
	{ "tls", "key", "tls-key", MX_CONF_K_PATHS, OFF(tls_key), 1, MX_CONF_MAX_TLS_CERTS,
		"a PEM private key file, one per tls.cert" },
	{ "tls", "mode", "tls-mode", MX_CONF_K_TLS_MODE, OFF(tls_mode), 0, 0,
		"best-effort or mandatory" },
	{ "tls", "min_version", "tls-min-version", MX_CONF_K_TLS_VERSION, OFF(tls_min_version),
		0, 0, "1.0, 1.1, 1.2 or 1.3 (1.3: tls.backend openssl)" },
	{ "tls", "backend", "tls-backend", MX_CONF_K_TLS_BACKEND, OFF(tls_backend), 0, 0,
		"mbedtls or openssl" },
	{ "tls", "allow_weak_keys", NULL, MX_CONF_K_BOOL, OFF(tls_allow_weak_keys), 0, 0,
		"true or false" },
	{ "tls", "require_san_match", NULL, MX_CONF_K_BOOL, OFF(tls_require_san_match), 0, 0,
		"true or false" },
	{ "tls", "expiry_warn_days", NULL, MX_CONF_K_COUNT, OFF(tls_expiry_warn_days), 0, 3650,
		NULL },

	{ "auth", "spf", NULL, MX_CONF_K_AUTH_WORD, OFF(auth_spf), 0, 0,
		"off, record or enforce" },
	{ "auth", "dmarc", NULL, MX_CONF_K_AUTH_WORD, OFF(auth_dmarc), 0, 0,
		"off, record or enforce" },
	{ "auth", "temperror", NULL, MX_CONF_K_AUTH_WORD, OFF(auth_temperror), 0, 0,
		"accept or tempfail" },
	{ "auth", "verifier", NULL, MX_CONF_K_AUTH_WORD, OFF(auth_verifier), 0, 0,
		"thread or worker" },
	{ "auth", "dkim_rsa_sha1", NULL, MX_CONF_K_BOOL, OFF(auth_dkim_rsa_sha1), 0, 0,
		"true or false" },
	{ "auth", "senderid", NULL, MX_CONF_K_BOOL, OFF(auth_senderid), 0, 0,
		"true or false" },
	{ "auth", "dkim_min_key_bits", NULL, MX_CONF_K_COUNT, OFF(auth_dkim_min_key_bits),
		512, 16384, NULL },
	{ "auth", "authserv_id", NULL, MX_CONF_K_STRING, OFF(auth_authserv_id), 0, 0,
		"an RFC 1123 host name such as mx.example.org" },
	{ "dns", "resolver", "resolver", MX_CONF_K_STRING, OFF(dns_resolver), 0, 0,
		"IP:PORT such as 127.0.0.1:53" },
	{ "dns", "zone", "dns-zone", MX_CONF_K_PATH, OFF(dns_zone), 0, 0,
		"an RFC 1035 zone file" },
	{ "dns", "timeout_ms", "dns-timeout-ms", MX_CONF_K_MS, OFF(dns_timeout_ms),
		1, 600000, NULL },
};

const size_t mx_conf_n_keys = MX_ARRAY_SIZE(mx_conf_keys);
_Static_assert(MX_ARRAY_SIZE(mx_conf_keys) == MX_CONF_N_KEYS,
		"MX_CONF_N_KEYS must match the key table");

static const char *const level_names[] = {
	[MX_LOG_ERR] = "err",
	[MX_LOG_WARN] = "warn",
	[MX_LOG_NOTICE] = "notice",
	[MX_LOG_INFO] = "info",
	[MX_LOG_DEBUG] = "debug",
};

struct mx_conf_priv *
mx_conf_priv(const struct mx_conf *c)
{
	/* Every struct mx_conf is the first member of a struct mx_conf_priv
	 * (mx_conf_new() is the only constructor). */
	return (struct mx_conf_priv *)(uintptr_t)c;
}

int
mx_conf_new(struct mx_conf **out)
{
	struct mx_conf_priv *p;
	struct mx_conf *c;

	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	c = &p->pub;
	atomic_init(&c->refs, 1);
	/* server: mxedge is a kernel-bypass engine, so DPDK is the default
	 * (issue 3); the kernel transport is one flag away for machines
	 * without a DPDK port. One worker suits a demo (production runs one
	 * per NIC queue). */
	c->transport = MX_TRANSPORT_DPDK;
	c->workers = 1;
	/* smtp */
	c->max_command_line = 512;              /* RFC 5321 4.5.3.1.4 */
	c->max_text_line = 1000;                /* RFC 5321 4.5.3.1.6 */
	/* Large providers accept 25 to 50 MB; base64 inflates by a third. */
	c->max_message_size = MIB(35);
	c->max_recipients = 100;                /* RFC 5321 4.5.3.1.8: at least 100 */
	/* Postfix closes after 20 hard errors; a front-line scanner can be
	 * stricter, a real MTA makes one or two. */
	c->max_errors = 10;
	/* Far above real messages; bounds the header parser's work. */
	c->max_headers = 1000;
	c->max_header_bytes = KIB(64);          /* one folded field; DKIM-Signature is ~1k */
	c->greeting_delay_ms = 0;               /* no pregreet test unless asked */
	c->timeout_greeting_ms = MINUTES(5);    /* RFC 5321 4.5.3.2.7: server waits 5 min */
	c->timeout_command_ms = MINUTES(5);     /* RFC 5321 4.5.3.2.7 */
	c->timeout_data_ms = MINUTES(3);        /* RFC 5321 4.5.3.2.5: data block, 3 min */
	c->max_connections = 10000;             /* bounded by session pools, not by an RFC */
	/* One sending host opens parallel deliveries; Postfix allows 50. */
	c->max_connections_per_client = 50;
	c->bare_lf = MX_BARE_LF_REJECT;         /* SMTP smuggling defence (RFC 5321 2.3.8) */
	c->pipelining = true;                   /* RFC 2920 */
	c->chunking = true;                     /* RFC 3030 */
	/* delivery: a few idle connections hide connection setup; 32 per
	 * worker stays under a downstream MTA's usual process limit. */
	c->relay_pool_size = 4;
	c->relay_max_conns = 32;
	/* RFC 5321 4.5.3.2 sets no connect timeout; 30 s covers the first
	 * SYN retransmissions. */
	c->timeout_relay_connect_ms = SEC(30);
	c->timeout_relay_reply_ms = MINUTES(5); /* RFC 5321 4.5.3.2.1-4: 5 min per command */
	c->timeout_relay_data_ms = MINUTES(10); /* RFC 5321 4.5.3.2.6: 10 min for the dot */
	/* Below the downstream's own idle timeout, so we close first. */
	c->relay_idle_ms = SEC(60);
	c->log_level = MX_LOG_INFO;
	/* memory: a chunk is one socket read; 256 MiB holds several
	 * maximum-size messages per worker; 64k buffers hold a whole
	 * pipelined command group. */
	c->chunk_bytes = KIB(64);
	c->worker_mem_max = MIB(256);
	c->rcvbuf_bytes = KIB(64);
	c->sndbuf_bytes = KIB(64);
	/* tls: TLS 1.0 accepted in best effort (RFC 7435: some encryption
	 * beats the plaintext an old sender would fall back to). */
	c->tls_mode = MX_TLS_MODE_BEST_EFFORT;
	c->tls_min_version = 0;
	c->tls_expiry_warn_days = 30;
	/* auth: RFC 8301 3.2 asks at least 1024-bit keys; 2 s per query is
	 * what a resolver answers in unless something is broken. */
	c->auth_dkim_min_key_bits = 1024;
	c->dns_timeout_ms = 2000;
	*out = c;
	return 0;
}

struct mx_conf *
mx_conf_get(struct mx_conf *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

static void
conf_free(struct mx_conf *c)
{
	unsigned i;

	for (i = 0; i < c->n_local_domains; i++)
		free(c->local_domains[i]);
	free(c->path);
	free(c->spool_dir);
	free(c->verdict_log);
	free(c->dpdk_eal);
	free(c->content_rules);
	free(c->relay_tls_ca_file);
	free(c->relay_tls_name);
	free(c->relay_tls_cert);
	free(c->relay_tls_key);
	free(c->content_cache_dir);
	free(c->auth_authserv_id);
	free(c->dns_resolver);
	free(c->dns_zone);
	for (i = 0; i < c->tls_cert.n; i++)
		free(c->tls_cert.v[i]);
	for (i = 0; i < c->tls_key.n; i++)
		free(c->tls_key.v[i]);
	mx_conf_free_tls_profiles(c);
	free(mx_conf_priv(c));
}

void
mx_conf_put(struct mx_conf *c)
{
	if (c == NULL)
		return;
	/* acq_rel: the freeing thread must see every write made by the
	 * threads that dropped their reference before it. */
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
		conf_free(c);
}

/* ---- messages ---- */

void
mx_conf_expect(const struct mx_conf_key *k, char *buf, size_t size)
{
	char lo[32], hi[32];

	switch (k->kind) {
	case MX_CONF_K_COUNT:
		snprintf(buf, size, "an integer in %" PRIu64 "..%" PRIu64, k->min, k->max);
		break;
	case MX_CONF_K_BYTES:
	case MX_CONF_K_BYTES64:
		mx_conf_fmt_size(k->min, lo, sizeof(lo));
		mx_conf_fmt_size(k->max, hi, sizeof(hi));
		snprintf(buf, size, "a size in %s..%s bytes, suffix k, M or G allowed", lo, hi);
		break;
	case MX_CONF_K_MS:
		mx_conf_fmt_ms(k->min, lo, sizeof(lo));
		mx_conf_fmt_ms(k->max, hi, sizeof(hi));
		snprintf(buf, size, "a duration in %s..%s, in ms or with unit ms, s, m or h",
				lo, hi);
		break;
	default:
		snprintf(buf, size, "%s", k->expect);
		break;
	}
}

void
mx_conf_key_err(struct mx_conf_ctx *x, const struct mx_conf_key *k, bool expect,
		const char *fmt, ...)
{
	char msg[512], what[160], exp[176] = "";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (expect) {
		mx_conf_expect(k, what, sizeof(what));
		snprintf(exp, sizeof(exp), " (expected %s)", what);
	}
	if (x->flag != NULL)
		mx_conf_err(x->e, "--%s: %s%s", x->flag, msg, exp);
	else if (x->file != NULL)
		mx_conf_err(x->e, "%s:%u: %s.%s: %s%s", x->file, x->line,
				k->section, k->name, msg, exp);
	else
		mx_conf_err(x->e, "%s.%s: %s%s", k->section, k->name, msg, exp);
}

/* ---- numbers ---- */

uint64_t
mx_conf_num_get(const struct mx_conf *c, const struct mx_conf_key *k)
{
	const char *f = (const char *)c + k->off;

	switch (k->kind) {
	case MX_CONF_K_COUNT:
	case MX_CONF_K_MS:
		return *(const unsigned *)(const void *)f;
	case MX_CONF_K_BYTES:
		return *(const size_t *)(const void *)f;
	case MX_CONF_K_BYTES64:
		return *(const uint64_t *)(const void *)f;
	default:
		MX_PANIC("key %s.%s is not a number", k->section, k->name);
	}
}

static void
num_put(struct mx_conf *c, const struct mx_conf_key *k, uint64_t v)
{
	char *f = (char *)c + k->off;

	switch (k->kind) {
	case MX_CONF_K_COUNT:
	case MX_CONF_K_MS:
		*(unsigned *)(void *)f = (unsigned)v;
		break;
	case MX_CONF_K_BYTES:
		*(size_t *)(void *)f = (size_t)v;
		break;
	case MX_CONF_K_BYTES64:
		*(uint64_t *)(void *)f = v;
		break;
	default:
		MX_PANIC("key %s.%s is not a number", k->section, k->name);
	}
}

bool
mx_conf_is_number(const struct mx_conf_key *k)
{
	return k->kind == MX_CONF_K_COUNT || k->kind == MX_CONF_K_MS ||
		k->kind == MX_CONF_K_BYTES || k->kind == MX_CONF_K_BYTES64;
}

static int
set_number(struct mx_conf *c, const struct mx_conf_key *k, const char *v, size_t len,
		struct mx_conf_ctx *x)
{
	enum mx_conf_num rc;
	uint64_t n = 0;
	char sv[64];

	if (k->kind == MX_CONF_K_COUNT)
		rc = mx_conf_parse_uint(v, len, &n);
	else if (k->kind == MX_CONF_K_MS)
		rc = mx_conf_parse_ms(v, len, &n);
	else
		rc = mx_conf_parse_size(v, len, &n);
	if (rc != MX_CONF_NUM_OK) {
		mx_conf_key_err(x, k, true, "bad value '%s': %s",
				mx_printable(sv, sizeof(sv), v, len), mx_conf_num_problem(rc));
		return -EINVAL;
	}
	if (n < k->min || n > k->max) {
		mx_conf_key_err(x, k, true, "'%s' is out of range",
				mx_printable(sv, sizeof(sv), v, len));
		return -EINVAL;
	}
	num_put(c, k, n);
	return 0;
}

/* ---- words ---- */

static bool
word_is(const char *v, size_t len, const char *w)
{
	return strlen(w) == len && strncasecmp(v, w, len) == 0;
}

static int
set_bool(struct mx_conf *c, const struct mx_conf_key *k, const char *v, size_t len,
		struct mx_conf_ctx *x)
{
	bool *f = (bool *)(void *)((char *)c + k->off);
	char sv[64];

	/* YAML 1.1 spellings too: operators write "yes" and "on". */
	if (word_is(v, len, "true") || word_is(v, len, "yes") || word_is(v, len, "on")) {
		*f = true;
		return 0;
	}
	if (word_is(v, len, "false") || word_is(v, len, "no") || word_is(v, len, "off")) {
		*f = false;
		return 0;
	}
	mx_conf_key_err(x, k, true, "bad value '%s'", mx_printable(sv, sizeof(sv), v, len));
	return -EINVAL;
}

/* A key whose value is one word of a fixed list: the words, the value
 * each stands for, and how the error names a wrong one. */
struct conf_word {
	const char *word;
	int value;
};

static int
set_word(const struct conf_word *w, size_t n, const char *what, int *out,
		const struct mx_conf_key *k, const char *v, size_t len,
		struct mx_conf_ctx *x)
{
	char sv[64];

	for (size_t i = 0; i < n; i++) {
		if (word_is(v, len, w[i].word)) {
			*out = w[i].value;
			return 0;
		}
	}
	mx_conf_key_err(x, k, true, "%s '%s'", what, mx_printable(sv, sizeof(sv), v, len));
	return -EINVAL;
}

static int
set_level(struct mx_conf *c, const struct mx_conf_key *k, const char *v, size_t len,
		struct mx_conf_ctx *x)
{
	size_t i;
	char sv[64];

	for (i = 0; i < MX_ARRAY_SIZE(level_names); i++) {
		if (word_is(v, len, level_names[i])) {
			c->log_level = (int)i;
			return 0;
		}
	}
	mx_conf_key_err(x, k, true, "unknown level '%s'", mx_printable(sv, sizeof(sv), v, len));
	return -EINVAL;
}

const char *
mx_conf_level_name(int level)
{
	if (level < 0 || (size_t)level >= MX_ARRAY_SIZE(level_names))
		return NULL;
	return level_names[level];
}

/* ---- names and addresses ---- */

static int
set_host(struct mx_conf *c, const struct mx_conf_key *k, const char *v, size_t len,
		struct mx_conf_ctx *x)
{
	struct mx_conf_priv *p = mx_conf_priv(c);
	char sv[96];

	if (!mx_conf_hostname_ok(v, len)) {
		mx_conf_key_err(x, k, true, "bad host name '%s'", mx_printable(sv, sizeof(sv), v, len));
		return -EINVAL;
	}
	if (k->kind == MX_CONF_K_HELO) {
		memcpy(c->helo_name, v, len);
		c->helo_name[len] = '\0';
		p->helo_explicit = true;
		return 0;
	}
	memcpy(c->hostname, v, len);
	c->hostname[len] = '\0';
	/* delivery.helo_name follows server.hostname unless set itself. */
	if (!p->helo_explicit)
		memcpy(c->helo_name, c->hostname, len + 1);
	return 0;
}

static bool
addr_same(const struct mx_addr *a, const struct mx_addr *b)
{
	return mx_addr_eq_ip(a, b) && a->port == b->port;
}

static int
add_listen(struct mx_conf *c, const struct mx_conf_key *k, const char *v, size_t len,
		struct mx_conf_ctx *x)
{
	struct mx_addr a;
	unsigned i;
	char sv[96];

	if (mx_addr_parse(v, -1, &a) != 0) {
		mx_conf_key_err(x, k, true, "bad address '%s'", mx_printable(sv, sizeof(sv), v, len));
		return -EINVAL;
	}
	for (i = 0; i < c->n_listen; i++) {
		if (addr_same(&c->listen[i], &a)) {
			mx_conf_key_err(x, k, false, "'%s' is listed twice",
					mx_printable(sv, sizeof(sv), v, len));
			return -EINVAL;
		}
	}
	if (c->n_listen == MX_CONF_MAX_LISTEN) {
		mx_conf_key_err(x, k, true, "too many addresses");
		return -EINVAL;
	}
	c->listen[c->n_listen++] = a;
	return 0;
}

static int
set_metrics(struct mx_conf *c, const struct mx_conf_key *k, const char *v, size_t len,
		struct mx_conf_ctx *x)
{
	char sv[96];

	if (mx_addr_parse(v, -1, &c->metrics_listen) != 0) {
		mx_conf_key_err(x, k, true, "bad address '%s'", mx_printable(sv, sizeof(sv), v, len));
		return -EINVAL;
	}
	c->has_metrics = true;
	return 0;
}

static int
add_domain(struct mx_conf *c, const struct mx_conf_key *k, const char *v, size_t len,
		struct mx_conf_ctx *x)
{
	char name[256], sv[96];
	size_t i;

	/* A trailing dot only says the name is absolute (RFC 1035 3.1). */
	if (len > 0 && v[len - 1] == '.')
		len--;
	if (len >= sizeof(name) || !mx_conf_hostname_ok(v, len)) {
		mx_conf_key_err(x, k, true, "bad domain '%s'", mx_printable(sv, sizeof(sv), v, len));
		return -EINVAL;
	}
	/* Domains compare case-insensitively (RFC 1035 2.3.3); store them
	 * lower-cased once so the per-RCPT match does less. */
	for (i = 0; i < len; i++)
		name[i] = (char)((v[i] >= 'A' && v[i] <= 'Z') ? v[i] - 'A' + 'a' : v[i]);
	name[len] = '\0';
	for (i = 0; i < c->n_local_domains; i++) {
		if (strcmp(c->local_domains[i], name) == 0) {
			mx_conf_key_err(x, k, false, "'%s' is listed twice", name);
			return -EINVAL;
		}
	}
	if (c->n_local_domains == MX_CONF_MAX_DOMAINS) {
		mx_conf_key_err(x, k, true, "too many domains");
		return -EINVAL;
	}
	c->local_domains[c->n_local_domains] = strdup(name);
	if (c->local_domains[c->n_local_domains] == NULL)
		return -ENOMEM;
	c->n_local_domains++;
	return 0;
}

/* "name:port" with a host name: getaddrinfo, first usable answer. */
static int
resolve_host(const char *host, unsigned port, struct mx_addr *out, const char **why)
{
	struct addrinfo hints, *res = NULL, *ai;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0) {
		*why = gai_strerror(rc);
		return -EINVAL;
	}
	*why = "no IPv4 or IPv6 address";
	rc = -EINVAL;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		memset(out, 0, sizeof(*out));
		if (ai->ai_family == AF_INET) {
			out->ip.v4 = ((const struct sockaddr_in *)(const void *)ai->ai_addr)->sin_addr;
		} else if (ai->ai_family == AF_INET6) {
			out->ip.v6 = ((const struct sockaddr_in6 *)(const void *)ai->ai_addr)->sin6_addr;
		} else {
			continue;
		}
		out->family = (sa_family_t)ai->ai_family;
		out->port = (uint16_t)port;
		rc = 0;
		break;
	}
	freeaddrinfo(res);
	return rc;
}

static int
downstream_name(const char *v, size_t len, struct mx_addr *a, struct mx_conf_ctx *x,
		const struct mx_conf_key *k)
{
	const char *colon = memrchr(v, ':', len), *why;
	char host[256], sv[96];
	uint64_t port;
	size_t hlen;

	if (colon == NULL || colon == v || v[0] == '[' ||
			mx_conf_parse_uint(colon + 1, len - (size_t)(colon + 1 - v), &port) !=
			MX_CONF_NUM_OK || port == 0 || port > 65535) {
		mx_conf_key_err(x, k, true, "bad address '%s'", mx_printable(sv, sizeof(sv), v, len));
		return -EINVAL;
	}
	hlen = (size_t)(colon - v);
	if (!mx_conf_hostname_ok(v, hlen)) {
		mx_conf_key_err(x, k, true, "bad host name in '%s'", mx_printable(sv, sizeof(sv), v, len));
		return -EINVAL;
	}
	if ((x->flags & MX_CONF_LOAD_NO_RESOLVE) != 0) {
		mx_conf_key_err(x, k, false, "host names are not resolved here (expected an IP literal)");
		return -EINVAL;
	}
	memcpy(host, v, hlen);
	host[hlen] = '\0';
	if (resolve_host(host, (unsigned)port, a, &why) != 0) {
		mx_conf_key_err(x, k, false, "cannot resolve '%s': %s", host, why);
		return -EINVAL;
	}
	return 0;
}

static int
set_downstream(struct mx_conf *c, const struct mx_conf_key *k, const char *v, size_t len,
		struct mx_conf_ctx *x)
{
	struct mx_addr a;
	char sv[96];

	if (len >= sizeof(c->downstream_host)) {
		mx_conf_key_err(x, k, true, "value too long");
		return -EINVAL;
	}
	if (mx_addr_parse(v, -1, &a) == 0) {
		if (a.port == 0) {
			mx_conf_key_err(x, k, true, "port 0 in '%s'", mx_printable(sv, sizeof(sv), v, len));
			return -EINVAL;
		}
	} else if (downstream_name(v, len, &a, x, k) != 0) {
		return -EINVAL;
	}
	c->downstream = a;
	c->has_downstream = true;
	memcpy(c->downstream_host, v, len);
	c->downstream_host[len] = '\0';
	return 0;
}

/* ---- paths ---- */

static int
set_path(struct mx_conf *c, const struct mx_conf_key *k, const char *v, size_t len,
		struct mx_conf_ctx *x)
{
	char **f = (char **)(void *)((char *)c + k->off);
	char *s;
	size_t blen;

	if (len == 0) {
		mx_conf_key_err(x, k, true, "empty path");
		return -EINVAL;
	}
	/* "-" is standard output for the verdict log. */
	if (k->kind == MX_CONF_K_VLOG && len == 1 && v[0] == '-') {
		s = strdup("-");
	} else if (v[0] == '/') {
		s = len < PATH_MAX ? strndup(v, len) : NULL;
	} else {
		/* Relative: anchored at the file's directory or the current
		 * one (mx_conf.h); "./" in front adds nothing. */
		while (len > 2 && v[0] == '.' && v[1] == '/') {
			v += 2;
			len -= 2;
		}
		blen = strlen(x->base);
		if (blen + 1 + len >= PATH_MAX) {
			mx_conf_key_err(x, k, true, "path too long");
			return -EINVAL;
		}
		s = malloc(blen + 1 + len + 1);
		if (s != NULL) {
			memcpy(s, x->base, blen);
			s[blen] = '/';
			memcpy(s + blen + 1, v, len);
			s[blen + 1 + len] = '\0';
		}
	}
	if (s == NULL) {
		if (len >= PATH_MAX) {
			mx_conf_key_err(x, k, true, "path too long");
			return -EINVAL;
		}
		return -ENOMEM;
	}
	free(*f);
	*f = s;
	return 0;
}

/* ---- the dpdk section ---- */

/* One more file of a tls.cert / tls.key list: set_path on a scratch
 * pointer (same anchoring of relative paths), then appended. */
static int
add_tls_path(struct mx_conf *c, const struct mx_conf_key *k, const char *v, size_t len,
		struct mx_conf_ctx *x)
{
	struct mx_conf_paths *l = (struct mx_conf_paths *)(void *)((char *)c + k->off);
	struct mx_conf_key pk = *k;
	struct {
		char *p;
	} tmp = { NULL };
	int rc;

	if (l->n == MX_CONF_MAX_TLS_CERTS) {
		mx_conf_key_err(x, k, true, "more than %d files", MX_CONF_MAX_TLS_CERTS);
		return -EINVAL;
	}
	pk.kind = MX_CONF_K_PATH;
	pk.off = 0;
	rc = set_path((struct mx_conf *)(void *)&tmp, &pk, v, len, x);
	if (rc != 0)
		return rc;
	l->v[l->n++] = tmp.p;
	return 0;
}

static int
set_string(struct mx_conf *c, const struct mx_conf_key *k, const char *v, size_t len,
		struct mx_conf_ctx *x)
{
	char **f = (char **)(void *)((char *)c + k->off);
	char *s = strndup(v, len);

	(void)x;
	if (s == NULL)
		return -ENOMEM;
	free(*f);
	*f = s;
	return 0;
}

static int
parse_ipv4(const char *v, size_t len, uint32_t *out)
{
	char b[16];
	struct in_addr a;

	if (len == 0 || len >= sizeof(b))
		return -EINVAL;
	memcpy(b, v, len);
	b[len] = '\0';
	if (inet_pton(AF_INET, b, &a) != 1)
		return -EINVAL;
	*out = a.s_addr;
	return 0;
}

static int
add_cidr(struct mx_conf *c, const struct mx_conf_key *k, const char *v, size_t len,
		struct mx_conf_ctx *x)
{
	const char *slash = memchr(v, '/', len);
	unsigned prefix = 0;
	uint32_t ip;
	char sv[96];
	size_t i;

	if (slash == NULL || slash + 1 == v + len || v + len - slash > 3 ||
			parse_ipv4(v, (size_t)(slash - v), &ip) != 0 || ip == 0)
		goto bad;
	for (i = 1; slash + i < v + len; i++) {
		if (slash[i] < '0' || slash[i] > '9')
			goto bad;
		prefix = prefix * 10 + (unsigned)(slash[i] - '0');
	}
	if (prefix > 32)
		goto bad;
	for (i = 0; i < c->n_dpdk_addr; i++) {
		if (c->dpdk_addr[i] == ip) {
			mx_conf_key_err(x, k, false, "'%s' is listed twice",
					mx_printable(sv, sizeof(sv), v, len));
			return -EINVAL;
		}
	}
	if (c->n_dpdk_addr == MX_CONF_MAX_DPDK_ADDRS) {
		mx_conf_key_err(x, k, true, "too many addresses");
		return -EINVAL;
	}
	c->dpdk_addr[c->n_dpdk_addr] = ip;
	c->dpdk_prefix[c->n_dpdk_addr] = (uint8_t)prefix;
	c->n_dpdk_addr++;
	return 0;
bad:
	mx_conf_key_err(x, k, true, "bad IPv4/PREFIX '%s'", mx_printable(sv, sizeof(sv), v, len));
	return -EINVAL;
}

static int
set_ipv4(struct mx_conf *c, const struct mx_conf_key *k, const char *v, size_t len,
		struct mx_conf_ctx *x)
{
	uint32_t *f = (uint32_t *)(void *)((char *)c + k->off);
	char sv[96];

	if (parse_ipv4(v, len, f) != 0) {
		mx_conf_key_err(x, k, true, "bad IPv4 address '%s'",
				mx_printable(sv, sizeof(sv), v, len));
		return -EINVAL;
	}
	return 0;
}

/* Every key whose value is one word of a fixed list, by the field it
 * sets (an int-sized enum or integer at the key's offset): its words, the
 * value each stands for (the first is the default, and what a value
 * outside the list reads back as) and how the error names a wrong one. */
struct conf_words {
	size_t off;
	const char *what;
	const struct conf_word *w;
	size_t n;
};

_Static_assert(sizeof(enum mx_transport) == sizeof(int), "int-sized word field");
_Static_assert(sizeof(enum mx_bare_lf) == sizeof(int), "int-sized word field");
_Static_assert(sizeof(enum mx_tls_mode) == sizeof(int), "int-sized word field");
_Static_assert(sizeof(enum mx_relay_tls) == sizeof(int), "int-sized word field");

/* dpdk is accepted here; the engine says if it was not built in. */
static const struct conf_word w_transport[] = {
	{ "kernel", MX_TRANSPORT_KERNEL },
	{ "dpdk", MX_TRANSPORT_DPDK },
};
static const struct conf_word w_bare_lf[] = {
	{ "reject", MX_BARE_LF_REJECT },
	{ "normalize", MX_BARE_LF_NORMALIZE },
};
static const struct conf_word w_tls_mode[] = {
	{ "best-effort", MX_TLS_MODE_BEST_EFFORT },
	{ "mandatory", MX_TLS_MODE_MANDATORY },
};
/* 1.3 needs the OpenSSL backend: mbedTLS 2.28 has no TLS 1.3 (README
 * "TLS"; checked with tls.backend in the load checks). */
static const struct conf_word w_tls_version[] = {
	{ "1.0", 0 },
	{ "1.1", 1 },
	{ "1.2", 2 },
	{ "1.3", 3 },
};
static const struct conf_word w_tls_backend[] = {
	{ "mbedtls", 0 },
	{ "openssl", 1 },
};
static const struct conf_word w_relay_tls[] = {
	{ "off", MX_RELAY_TLS_OFF },
	{ "opportunistic", MX_RELAY_TLS_OPPORTUNISTIC },
	{ "verify", MX_RELAY_TLS_VERIFY },
};
static const struct conf_word w_auth_mode[] = {
	{ "off", MX_CONF_AUTH_OFF },
	{ "record", MX_CONF_AUTH_RECORD },
	{ "enforce", MX_CONF_AUTH_ENFORCE },
};
static const struct conf_word w_auth_temperror[] = { { "accept", 0 }, { "tempfail", 1 } };
static const struct conf_word w_auth_verifier[] = { { "thread", 0 }, { "worker", 1 } };

#define CONF_WORDS(f, what, w) { OFF(f), what, w, MX_ARRAY_SIZE(w) }
static const struct conf_words conf_words[] = {
	CONF_WORDS(transport, "unknown transport", w_transport),
	CONF_WORDS(bare_lf, "bad value", w_bare_lf),
	CONF_WORDS(tls_mode, "bad value", w_tls_mode),
	CONF_WORDS(tls_min_version, "bad version", w_tls_version),
	CONF_WORDS(tls_backend, "unknown TLS backend", w_tls_backend),
	CONF_WORDS(relay_tls, "bad value", w_relay_tls),
	CONF_WORDS(auth_spf, "bad value", w_auth_mode),
	CONF_WORDS(auth_dmarc, "bad value", w_auth_mode),
	CONF_WORDS(auth_temperror, "bad value", w_auth_temperror),
	CONF_WORDS(auth_verifier, "bad value", w_auth_verifier),
};

static const struct conf_words *
words_of(const struct mx_conf_key *k)
{
	for (size_t i = 0; i < MX_ARRAY_SIZE(conf_words); i++)
		if (conf_words[i].off == k->off)
			return &conf_words[i];
	MX_PANIC("key %s.%s has no word list", k->section, k->name);
}

static int
set_key_word(struct mx_conf *c, const struct mx_conf_key *k, const char *v, size_t len,
		struct mx_conf_ctx *x)
{
	const struct conf_words *cw = words_of(k);

	return set_word(cw->w, cw->n, cw->what, (int *)(void *)((char *)c + k->off), k, v,
			len, x);
}

const char *
mx_conf_word(const struct mx_conf *c, const struct mx_conf_key *k)
{
	const struct conf_words *cw = words_of(k);
	int v = *(const int *)(const void *)((const char *)c + k->off);

	for (size_t i = 0; i < cw->n; i++)
		if (cw->w[i].value == v)
			return cw->w[i].word;
	return cw->w[0].word;
}

/* ---- one value ---- */

int
mx_conf_apply(struct mx_conf *c, const struct mx_conf_key *k, const char *v, size_t len,
		struct mx_conf_ctx *x)
{
	if (memchr(v, '\0', len) != NULL) {
		mx_conf_key_err(x, k, true, "value contains a NUL byte");
		return -EINVAL;
	}
	switch (k->kind) {
	case MX_CONF_K_HOSTNAME:
	case MX_CONF_K_HELO:
		return set_host(c, k, v, len, x);
	case MX_CONF_K_TRANSPORT:
		return set_key_word(c, k, v, len, x);
	case MX_CONF_K_LISTEN:
		return add_listen(c, k, v, len, x);
	case MX_CONF_K_DOMAINS:
		return add_domain(c, k, v, len, x);
	case MX_CONF_K_COUNT:
	case MX_CONF_K_MS:
	case MX_CONF_K_BYTES:
	case MX_CONF_K_BYTES64:
		return set_number(c, k, v, len, x);
	case MX_CONF_K_BOOL:
		return set_bool(c, k, v, len, x);
	case MX_CONF_K_DOWNSTREAM:
		return set_downstream(c, k, v, len, x);
	case MX_CONF_K_PATH:
	case MX_CONF_K_VLOG:
		return set_path(c, k, v, len, x);
	case MX_CONF_K_LEVEL:
		return set_level(c, k, v, len, x);
	case MX_CONF_K_METRICS:
		return set_metrics(c, k, v, len, x);
	case MX_CONF_K_STRING:
		return set_string(c, k, v, len, x);
	case MX_CONF_K_CIDRS:
		return add_cidr(c, k, v, len, x);
	case MX_CONF_K_IPV4:
		return set_ipv4(c, k, v, len, x);
	case MX_CONF_K_PATHS:
		return add_tls_path(c, k, v, len, x);
	case MX_CONF_K_BARE_LF:
	case MX_CONF_K_TLS_MODE:
	case MX_CONF_K_TLS_VERSION:
	case MX_CONF_K_TLS_BACKEND:
	case MX_CONF_K_AUTH_WORD:
	case MX_CONF_K_RELAY_TLS:
		/* Each picks from its own word table (set_key_word). */
		return set_key_word(c, k, v, len, x);
	}
	MX_PANIC("key %s.%s has no kind", k->section, k->name);
}

void
mx_conf_list_clear(struct mx_conf *c, const struct mx_conf_key *k)
{
	unsigned i;

	if (k->kind == MX_CONF_K_LISTEN) {
		c->n_listen = 0;
		return;
	}
	if (k->kind == MX_CONF_K_CIDRS) {
		c->n_dpdk_addr = 0;
		return;
	}
	if (k->kind == MX_CONF_K_PATHS) {
		struct mx_conf_paths *l = (struct mx_conf_paths *)(void *)((char *)c + k->off);

		for (i = 0; i < l->n; i++) {
			free(l->v[i]);
			l->v[i] = NULL;
		}
		l->n = 0;
		return;
	}
	for (i = 0; i < c->n_local_domains; i++) {
		free(c->local_domains[i]);
		c->local_domains[i] = NULL;
	}
	c->n_local_domains = 0;
}

bool
mx_conf_is_list(const struct mx_conf_key *k)
{
	return k->kind == MX_CONF_K_LISTEN || k->kind == MX_CONF_K_DOMAINS ||
		k->kind == MX_CONF_K_CIDRS || k->kind == MX_CONF_K_PATHS;
}

const struct mx_conf_key *
mx_conf_find(const char *section, const char *name)
{
	size_t i;

	for (i = 0; i < mx_conf_n_keys; i++)
		if (strcmp(mx_conf_keys[i].section, section) == 0 &&
				strcmp(mx_conf_keys[i].name, name) == 0)
			return &mx_conf_keys[i];
	return NULL;
}

/* ---- command-line flags ---- */

static const struct mx_conf_key *
find_flag(const char *key)
{
	char section[32];
	const char *dot = strchr(key, '.');
	size_t i;

	for (i = 0; i < mx_conf_n_keys; i++)
		if (mx_conf_keys[i].flag != NULL && strcmp(mx_conf_keys[i].flag, key) == 0)
			return &mx_conf_keys[i];
	if (dot == NULL || (size_t)(dot - key) >= sizeof(section))
		return NULL;
	memcpy(section, key, (size_t)(dot - key));
	section[dot - key] = '\0';
	return mx_conf_find(section, dot + 1);
}

/* The closest flag or dotted key, for "did you mean". */
static void
flag_hint(const char *key, char *buf, size_t size)
{
	unsigned best = UINT32_MAX, d;
	char dotted[96];
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < mx_conf_n_keys; i++) {
		const struct mx_conf_key *k = &mx_conf_keys[i];

		snprintf(dotted, sizeof(dotted), "%s.%s", k->section, k->name);
		d = mx_conf_distance(key, dotted);
		if (mx_conf_close(key, d) && d < best) {
			best = d;
			snprintf(buf, size, " (did you mean %s?)", dotted);
		}
		if (k->flag == NULL)
			continue;
		d = mx_conf_distance(key, k->flag);
		if (mx_conf_close(key, d) && d < best) {
			best = d;
			snprintf(buf, size, " (did you mean %s?)", k->flag);
		}
	}
}

bool
mx_conf_close(const char *typed, unsigned d)
{
	/* Two edits catch a typo or a swapped pair; long names get more. */
	return d <= 2 || d * 3 <= strlen(typed);
}

/* The first flag for a list: checked on a scratch snapshot first, so a
 * refused value leaves the file's list in place. */
static int
set_list_first(struct mx_conf *c, const struct mx_conf_key *k, const char *value,
		struct mx_conf_ctx *x)
{
	struct mx_conf *scratch;
	int rc;

	rc = mx_conf_new(&scratch);
	if (rc != 0)
		return rc;
	rc = mx_conf_apply(scratch, k, value, strlen(value), x);
	mx_conf_put(scratch);
	if (rc != 0)
		return rc;
	mx_conf_list_clear(c, k);
	return mx_conf_apply(c, k, value, strlen(value), x);
}

int
mx_conf_set(struct mx_conf *c, const char *key, const char *value, char *err, size_t errsize)
{
	struct mx_conf_priv *p = mx_conf_priv(c);
	const struct mx_conf_key *k;
	struct mx_conf_errbuf e;
	struct mx_conf_ctx x;
	char hint[128], sk[64];
	int rc;

	mx_conf_errbuf_init(&e, err, errsize);
	k = find_flag(key);
	if (k == NULL) {
		flag_hint(key, hint, sizeof(hint));
		mx_conf_err(&e, "unknown option '%s'%s",
				mx_printable(sk, sizeof(sk), key, strlen(key)), hint);
		return -EINVAL;
	}
	if (value == NULL) {
		mx_conf_err(&e, "--%s: missing value", key);
		return -EINVAL;
	}
	memset(&x, 0, sizeof(x));
	x.e = &e;
	x.flag = key;
	if (getcwd(x.base, sizeof(x.base)) == NULL) {
		mx_conf_err(&e, "--%s: cannot read the current directory: %s", key,
				strerror(errno));
		return -EINVAL;
	}
	/* A repeatable flag replaces the file's list on first use and
	 * appends after that, so "--listen a --listen b" means exactly a, b. */
	if (mx_conf_is_list(k) && !p->by_flag[k - mx_conf_keys]) {
		rc = set_list_first(c, k, value, &x);
		if (rc == 0)
			p->by_flag[k - mx_conf_keys] = true;
	} else {
		rc = mx_conf_apply(c, k, value, strlen(value), &x);
	}
	if (rc == 0)
		p->line[k - mx_conf_keys] = 0;
	return rc;
}

/* ---- validation ---- */

static void
v_err(struct mx_conf_errbuf *e, const struct mx_conf *c, const struct mx_conf_key *k,
		const char *fmt, ...) MX_PRINTF(4, 5);

static void
v_err(struct mx_conf_errbuf *e, const struct mx_conf *c, const struct mx_conf_key *k,
		const char *fmt, ...)
{
	const struct mx_conf_priv *p = mx_conf_priv(c);
	unsigned line = p->line[k - mx_conf_keys];
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->path != NULL && line != 0)
		mx_conf_err(e, "%s:%u: %s.%s: %s", c->path, line, k->section, k->name, msg);
	else if (c->path != NULL)
		mx_conf_err(e, "%s: %s.%s: %s", c->path, k->section, k->name, msg);
	else
		mx_conf_err(e, "%s.%s: %s", k->section, k->name, msg);
}

static const struct mx_conf_key *
key_at(size_t off, enum mx_conf_kind kind)
{
	size_t i;

	for (i = 0; i < mx_conf_n_keys; i++)
		if (mx_conf_keys[i].off == off && mx_conf_keys[i].kind == kind)
			return &mx_conf_keys[i];
	MX_PANIC("no key at offset %zu", off);
}

#define KEY(field, kind) key_at(OFF(field), MX_CONF_K_##kind)

static void
validate_required(const struct mx_conf *c, struct mx_conf_errbuf *e)
{
	const struct mx_conf_key *spool = KEY(spool_dir, PATH);

	/* RFC 5321 4.3.1: the 220 greeting starts with our own name. */
	if (c->hostname[0] == '\0')
		v_err(e, c, KEY(hostname, HOSTNAME),
				"required, not set (expected a host name for the 220 greeting)");
	if (c->n_listen == 0)
		v_err(e, c, KEY(listen, LISTEN), "required, not set (expected an address such as 0.0.0.0:25)");
	if (c->n_local_domains == 0)
		v_err(e, c, KEY(local_domains, DOMAINS),
				"required, not set (expected the domains this MX accepts mail for)");
	if (!c->has_downstream && c->spool_dir == NULL)
		v_err(e, c, spool, "required when delivery.downstream is not set "
				"(accepted mail must go somewhere)");
	if (c->has_downstream && c->spool_dir != NULL)
		v_err(e, c, spool, "not allowed together with delivery.downstream "
				"(set one of them)");
}

static void
validate_ranges(const struct mx_conf *c, struct mx_conf_errbuf *e)
{
	char exp[160];
	uint64_t v;
	size_t i;

	for (i = 0; i < mx_conf_n_keys; i++) {
		const struct mx_conf_key *k = &mx_conf_keys[i];

		if (!mx_conf_is_number(k))
			continue;
		v = mx_conf_num_get(c, k);
		if (v >= k->min && v <= k->max)
			continue;
		mx_conf_expect(k, exp, sizeof(exp));
		v_err(e, c, k, "%" PRIu64 " is out of range (expected %s)", v, exp);
	}
	if (c->n_listen > MX_CONF_MAX_LISTEN)
		v_err(e, c, KEY(listen, LISTEN), "more than %d addresses", MX_CONF_MAX_LISTEN);
	if (c->n_local_domains > MX_CONF_MAX_DOMAINS)
		v_err(e, c, KEY(local_domains, DOMAINS), "more than %d domains",
				MX_CONF_MAX_DOMAINS);
	if (c->transport != MX_TRANSPORT_KERNEL && c->transport != MX_TRANSPORT_DPDK)
		v_err(e, c, KEY(transport, TRANSPORT), "unknown transport %d", (int)c->transport);
	if (c->bare_lf != MX_BARE_LF_REJECT && c->bare_lf != MX_BARE_LF_NORMALIZE)
		v_err(e, c, KEY(bare_lf, BARE_LF), "unknown policy %d", (int)c->bare_lf);
	if (mx_conf_level_name(c->log_level) == NULL)
		v_err(e, c, KEY(log_level, LEVEL), "unknown level %d", c->log_level);
}

/* "IPv4", "IPv4:PORT", "IPv6" or "[IPv6]:PORT"? mx_dns takes these. */
static bool
resolver_ok(const char *r)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *port = NULL, *colon = strrchr(r, ':');
	unsigned char buf[16];
	size_t n;

	if (r[0] == '[') {
		const char *end = strchr(r, ']');

		if (end == NULL || (end[1] != '\0' && end[1] != ':'))
			return false;
		n = (size_t)(end - r - 1);
		port = end[1] == ':' ? end + 2 : NULL;
		r++;
	} else if (colon != NULL && strchr(r, ':') == colon) {
		n = (size_t)(colon - r);
		port = colon + 1;
	} else {
		n = strlen(r);
	}
	if (n == 0 || n >= sizeof(host))
		return false;
	memcpy(host, r, n);
	host[n] = '\0';
	if (port != NULL) {
		char *end;
		unsigned long p = strtoul(port, &end, 10);

		if (port[0] == '\0' || *end != '\0' || p == 0 || p > 65535)
			return false;
	}
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* auth and dns: what the STRING keys hold must be usable. */
static void
validate_auth(const struct mx_conf *c, struct mx_conf_errbuf *e)
{
	const char *id = c->auth_authserv_id;

	if (id != NULL && !mx_conf_hostname_ok(id, strlen(id)))
		v_err(e, c, KEY(auth_authserv_id, STRING),
				"bad host name (expected an RFC 1123 host name such as mx.example.org)");
	if (c->dns_resolver != NULL && !resolver_ok(c->dns_resolver))
		v_err(e, c, KEY(dns_resolver, STRING),
				"bad address (expected IP or IP:PORT such as 127.0.0.1:53)");
	if (c->dns_resolver != NULL && c->dns_zone != NULL)
		v_err(e, c, KEY(dns_zone, PATH), "not allowed together with dns.resolver");
}

static void
validate_cross(const struct mx_conf *c, struct mx_conf_errbuf *e)
{
	validate_auth(c, e);
	if (c->tls_cert.n != c->tls_key.n)
		v_err(e, c, KEY(tls_key, PATHS), "%u keys for %u certificates "
				"(tls.cert and tls.key are paired)", c->tls_key.n, c->tls_cert.n);
	/* Profiles tune STARTTLS: without certificates it is not offered. */
	if (c->n_tls_profiles > 0 && c->tls_cert.n == 0)
		v_err(e, c, KEY(tls_cert, PATHS),
				"tls.profiles needs tls.cert and tls.key (nothing to offer)");
	if (c->tls_mode == MX_TLS_MODE_MANDATORY && c->tls_cert.n == 0)
		v_err(e, c, KEY(tls_mode, TLS_MODE),
				"mandatory needs tls.cert and tls.key (nothing to offer)");
	if (c->tls_min_version > 2 && c->tls_backend == 0)
		v_err(e, c, KEY(tls_min_version, TLS_VERSION),
				"1.3 needs tls.backend openssl (mbedTLS 2.28 stops at TLS 1.2)");
	if (c->max_connections_per_client > c->max_connections)
		v_err(e, c, KEY(max_connections_per_client, COUNT),
				"%u is above smtp.max_connections (%u)",
				c->max_connections_per_client, c->max_connections);
	if (c->relay_pool_size > c->relay_max_conns)
		v_err(e, c, KEY(relay_pool_size, COUNT),
				"%u idle connections is above delivery.max_connections (%u)",
				c->relay_pool_size, c->relay_max_conns);
	/* A message is held in worker memory until the downstream (or the
	 * spool) has it, so one message must fit. */
	if (c->max_message_size > c->worker_mem_max)
		v_err(e, c, KEY(max_message_size, BYTES64),
				"%" PRIu64 " is above memory.worker_message_memory (%zu)",
				c->max_message_size, c->worker_mem_max);
	if (c->chunk_bytes > c->worker_mem_max)
		v_err(e, c, KEY(chunk_bytes, BYTES),
				"%zu is above memory.worker_message_memory (%zu)",
				c->chunk_bytes, c->worker_mem_max);
	/* A frame is held delay +- jitter ms: a jitter above the delay would
	 * ask for a negative hold. */
	if (c->dpdk_fault_jitter_ms > c->dpdk_fault_delay_ms)
		v_err(e, c, KEY(dpdk_fault_jitter_ms, MS),
				"%u ms is above dpdk.fault.delay_ms (%u ms)",
				c->dpdk_fault_jitter_ms, c->dpdk_fault_delay_ms);
}

/* delivery.tls: verify has nothing to verify against without a CA; a
 * client certificate needs its key; the name is an RFC 1123 host name
 * (RFC 6125 6.4: certificates name hosts, not addresses). */
static void
validate_relay_tls(const struct mx_conf *c, struct mx_conf_errbuf *e)
{
	const char *n = c->relay_tls_name;

	if (c->relay_tls == MX_RELAY_TLS_VERIFY && c->relay_tls_ca_file == NULL)
		v_err(e, c, KEY(relay_tls, RELAY_TLS),
				"verify needs delivery.tls_ca_file (the CA bundle to check against)");
	if (c->relay_tls != MX_RELAY_TLS_OFF && !c->has_downstream)
		v_err(e, c, KEY(relay_tls, RELAY_TLS),
				"needs delivery.downstream (the spool makes no connection)");
	if ((c->relay_tls_cert == NULL) != (c->relay_tls_key == NULL))
		v_err(e, c, KEY(relay_tls_key, PATH),
				"delivery.tls_cert and delivery.tls_key go together");
	if (n != NULL && !mx_conf_hostname_ok(n, strlen(n)))
		v_err(e, c, KEY(relay_tls_name, STRING),
				"not a host name (expected such as mail.example.org)");
}

int
mx_conf_validate(const struct mx_conf *c, char *err, size_t errsize)
{
	struct mx_conf_errbuf e;

	mx_conf_errbuf_init(&e, err, errsize);
	validate_required(c, &e);
	validate_ranges(c, &e);
	validate_cross(c, &e);
	validate_relay_tls(c, &e);
	return e.n == 0 ? 0 : -EINVAL;
}

/* ---- local domains ---- */

bool
mx_conf_is_local_domain(const struct mx_conf *c, struct mx_str domain)
{
	size_t len = domain.len, i, j;

	if (len > 0 && domain.p[len - 1] == '.')
		len--;
	if (len == 0)
		return false;
	for (i = 0; i < c->n_local_domains; i++) {
		const char *d = c->local_domains[i];

		/* Stored lower-case (add_domain), so fold only the input. */
		for (j = 0; j < len && d[j] != '\0'; j++) {
			char ch = domain.p[j];

			if (ch >= 'A' && ch <= 'Z')
				ch = (char)(ch - 'A' + 'a');
			if (ch != d[j])
				break;
		}
		if (j == len && d[j] == '\0')
			return true;
	}
	return false;
}
