/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_conf: the configuration snapshot.
 *
 * One YAML file (libyaml), validated at load with "file:line: key: what is
 * wrong" errors; command-line flags override the file. A loaded snapshot is
 * immutable and reference-counted: workers pick up a new one at the top of
 * their loop after SIGHUP, sessions keep the snapshot they started with
 * until they end, and the last mx_conf_put() frees it (DESIGN "shared
 * read-mostly state is swapped by pointer").
 *
 * The struct is exposed read-only: it is plain data that every module
 * reads, and accessor functions for each field would add nothing. A
 * struct mx_conf is only ever made by mx_conf_new() or mx_conf_load*()
 * (they keep private bookkeeping beside it: where each key was set).
 * Defaults are in conf.c, next to the RFC or measurement behind each.
 */
#ifndef MX_CONF_H
#define MX_CONF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mx_base.h"
#include "mx_stream.h"

#define MX_CONF_MAX_LISTEN 8
#define MX_CONF_MAX_DOMAINS 256
#define MX_CONF_MAX_TLS_CERTS 8 /* MX_TLS_MAX_CERTS */

/* TLS (RFC 3207). Best effort offers STARTTLS and takes plaintext too;
 * mandatory refuses MAIL before STARTTLS (530 5.7.0). RFC 3207 4 forbids
 * mandatory TLS on a publicly referenced MX: use it only on a host no MX
 * record points to (README "TLS"). */
enum mx_tls_mode {
	MX_TLS_MODE_BEST_EFFORT = 0,
	MX_TLS_MODE_MANDATORY,
};

/* A list of file paths (tls.cert, tls.key), absolute once loaded. */
struct mx_conf_paths {
	char *v[MX_CONF_MAX_TLS_CERTS];
	unsigned n;
};
#define MX_CONF_MAX_DPDK_ADDRS 8 /* MX_NET_MAX_ADDRS */

/* STARTTLS to the downstream (delivery.tls). */
enum mx_relay_tls {
	MX_RELAY_TLS_OFF = 0,
	MX_RELAY_TLS_OPPORTUNISTIC, /* when offered, certificate not checked (RFC 7435) */
	MX_RELAY_TLS_VERIFY,        /* required, chain and name checked, else 451 4.7.5 */
};

#define MX_CONF_MAX_TLS_PROFILES 16 /* MX_TLS_MAX_PROFILES */
#define MX_CONF_MAX_TLS_MATCH 16    /* MX_TLS_MAX_MATCH */

/* One entry of tls.profiles (README "TLS profiles"), checked at load.
 * Matched by client network and/or sender domain, first match wins. */
struct mx_conf_tls_profile {
	char *name;                 /* "profileN" when not given */
	struct mx_addr clients[MX_CONF_MAX_TLS_MATCH]; /* network (port 0) */
	uint8_t client_prefix[MX_CONF_MAX_TLS_MATCH];
	unsigned n_clients;
	char *sender_domains[MX_CONF_MAX_TLS_MATCH];  /* lower case; ".x" below x */
	unsigned n_sender_domains;
	bool require_tls;
	int min_version;            /* -1: tls.min_version; else as tls_min_version */
	bool strong;                /* strength: high (ECDHE with an AEAD only) */
	char *ciphers[MX_CONF_MAX_TLS_MATCH];         /* IANA names, mbedTLS spelling */
	unsigned n_ciphers;
	unsigned client_cert;       /* 0 none, 1 optional, 2 required */
	char *ca_file;              /* absolute once loaded */
	char *cert_match;           /* name, "*.name" or "sender-domain" */
	unsigned line;              /* file line of the entry */
};

enum mx_bare_lf {
	MX_BARE_LF_REJECT = 0, /* 5xx at end of data (default: SMTP smuggling defence) */
	MX_BARE_LF_NORMALIZE,  /* a bare LF or CR becomes CRLF; never ends the data */
};

/* How a sender-authentication check acts (auth.spf, auth.dmarc); the
 * same order as enum mx_verdict_mode of policy/verdict. */
enum mx_conf_auth_mode {
	MX_CONF_AUTH_OFF = 0,
	MX_CONF_AUTH_RECORD,  /* best effort: evaluated and recorded */
	MX_CONF_AUTH_ENFORCE, /* mandatory: a failure is refused */
};

struct mx_conf {
	_Atomic int refs;
	char *path;                 /* file it came from, NULL with flags only */

	/* server */
	char hostname[256];         /* in the 220 greeting and Received */
	enum mx_transport transport;
	struct mx_addr listen[MX_CONF_MAX_LISTEN];
	unsigned n_listen;
	unsigned workers;           /* worker threads / lcores */

	/* smtp */
	char *local_domains[MX_CONF_MAX_DOMAINS]; /* lower-case */
	unsigned n_local_domains;
	size_t max_command_line;    /* RFC 5321 4.5.3.1.4: 512 incl. CRLF */
	size_t max_text_line;       /* RFC 5321 4.5.3.1.6: 1000 incl. CRLF */
	uint64_t max_message_size;  /* SIZE advertised; 552 5.3.4 above */
	unsigned max_recipients;    /* 452 4.5.3 above; RFC 5321 4.5.3.1.8 asks >= 100 */
	unsigned max_errors;        /* 421 4.7.0 and close after this many */
	unsigned max_headers;
	size_t max_header_bytes;    /* one header field, folded */
	unsigned greeting_delay_ms; /* wait before 220; talkers before it are refused */
	unsigned timeout_greeting_ms;
	unsigned timeout_command_ms; /* RFC 5321 4.5.3.2.7: 5 minutes */
	unsigned timeout_data_ms;    /* between DATA/BDAT bytes: RFC 5321 4.5.3.2.5 */
	unsigned max_connections;    /* in total, all workers */
	unsigned max_connections_per_client;
	enum mx_bare_lf bare_lf;
	bool pipelining;            /* advertise PIPELINING */
	bool chunking;              /* advertise CHUNKING (BDAT) */

	/* delivery: downstream relay if set, else the spool */
	bool has_downstream;
	struct mx_addr downstream;
	char downstream_host[256];  /* as written, for logs */
	char helo_name[256];        /* our EHLO to the downstream (default: hostname) */
	unsigned relay_pool_size;   /* idle connections kept per worker */
	unsigned relay_max_conns;   /* connections per worker at most */
	unsigned timeout_relay_connect_ms;
	unsigned timeout_relay_reply_ms;  /* per command reply */
	unsigned timeout_relay_data_ms;   /* reply to the final dot: RFC 5321 4.5.3.2.6: 10 min */
	unsigned relay_idle_ms;     /* idle pooled connection is closed after this */
	enum mx_relay_tls relay_tls;
	char *relay_tls_ca_file;    /* CA bundle the downstream's certificate must chain to */
	char *relay_tls_name;       /* name it must match; NULL: the downstream host */
	char *relay_tls_cert;       /* client certificate for the downstream, or NULL */
	char *relay_tls_key;
	char *spool_dir;

	/* logs and metrics */
	char *verdict_log;          /* NULL: no verdict log; "-" stdout */
	int log_level;              /* enum mx_log_level */
	bool has_metrics;
	struct mx_addr metrics_listen;

	/* memory */
	size_t chunk_bytes;         /* message chunk size */
	size_t worker_mem_max;      /* message memory per worker */
	size_t rcvbuf_bytes, sndbuf_bytes;

	/* dpdk: used with transport dpdk only */
	char *dpdk_eal;             /* EAL arguments (--eal) */
	uint32_t dpdk_addr[MX_CONF_MAX_DPDK_ADDRS];  /* our IPv4 addresses, network order */
	uint8_t dpdk_prefix[MX_CONF_MAX_DPDK_ADDRS];
	unsigned n_dpdk_addr;
	uint32_t dpdk_gateway;      /* network order; 0: on-link only */
	/* dpdk.fault.*: the seeded fault-injection layer at the packet-I/O
	 * seam (mx_pktio.h), the same rates in both directions; all 0: off,
	 * and then not in the path at all */
	unsigned dpdk_fault_loss_pct, dpdk_fault_reorder_pct, dpdk_fault_dup_pct;
	unsigned dpdk_fault_delay_ms, dpdk_fault_jitter_ms;
	unsigned dpdk_fault_seed;

	/* content: Hyperscan rules (policy/content); off while rules is NULL */
	char *content_rules;        /* rules file (--rules) */
	char *content_cache_dir;    /* compiled databases cache; NULL: none */

	/* tls: STARTTLS is offered when certificates are given */
	struct mx_conf_paths tls_cert; /* PEM, leaf then chain; paired with tls_key */
	struct mx_conf_paths tls_key;
	enum mx_tls_mode tls_mode;
	unsigned tls_min_version;   /* 0: TLS 1.0, 1: TLS 1.1, 2: TLS 1.2, 3: TLS 1.3 */
	unsigned tls_backend;       /* 0: mbedTLS, 1: OpenSSL (enum mx_tls_backend) */
	bool tls_allow_weak_keys;   /* accept RSA < 2048, EC < 256 bits */
	bool tls_require_san_match; /* refuse a certificate whose SAN misses hostname */
	unsigned tls_expiry_warn_days;
	struct mx_conf_tls_profile *tls_profiles; /* tls.profiles; file only */
	unsigned n_tls_profiles;

	/* auth: sender authentication (policy/auth), all off by default */
	int auth_spf;               /* enum mx_conf_auth_mode */
	int auth_dmarc;             /* enum mx_conf_auth_mode */
	int auth_temperror;         /* 0 accept, 1 tempfail (451 4.4.3) */
	int auth_verifier;          /* 0 its own thread, 1 on the worker's loop */
	bool auth_dkim_rsa_sha1;    /* RFC 8301 3.1 */
	bool auth_senderid;         /* Sender ID (RFC 4406), off by default */
	unsigned auth_dkim_min_key_bits; /* RFC 8301 3.2: 1024 */
	char *auth_authserv_id;     /* RFC 8601 2.5; NULL: server.hostname */
	/* dns: the verifier's resolver */
	char *dns_resolver;         /* IP[:PORT]; NULL: /etc/resolv.conf */
	char *dns_zone;             /* RFC 1035 zone file answered locally */
	unsigned dns_timeout_ms;    /* per query, then temperror */
};

/* Everything at its default (the defaults alone make a valid config only
 * once hostname, listen, local domains and spool or downstream are set).
 * Returns 0 or -ENOMEM. */
int mx_conf_new(struct mx_conf **out);
/* Loads path over the defaults. On error returns -EINVAL (or -errno for
 * I/O) and writes "path:line: key: problem" lines into err (NUL-terminated,
 * truncated to errsize). Relative spool_dir and verdict_log paths in the
 * file are resolved against the file's directory (made absolute), so a
 * file means the same wherever mxedge starts; relative paths given to
 * mx_conf_set() are resolved against the current directory, as a shell
 * user expects. Host names in delivery.downstream are resolved here
 * (getaddrinfo: control thread only, it blocks). */
int mx_conf_load(const char *path, struct mx_conf **out, char *err, size_t errsize);

/* mx_conf_load_buf() flags. */
#define MX_CONF_LOAD_NO_RESOLVE 0x1u /* downstream must be an IP literal:
                                      * no DNS (fuzzing, offline checks) */

/* mx_conf_load() on a buffer already in memory (len bytes, need not be
 * NUL-terminated); name is used in messages and, as with a path, its
 * directory anchors relative paths. Same returns as mx_conf_load(). */
int mx_conf_load_buf(const char *name, const char *buf, size_t len, unsigned flags,
		struct mx_conf **out, char *err, size_t errsize);
/* Applies one command-line override. key is a flag name of "mxedge run"
 * (listen, hostname, local-domain, spool, downstream, verdict-log,
 * metrics, transport, workers, log-level) or any file key as
 * "section.key" (e.g. "smtp.max_recipients"). For the lists (listen,
 * local-domain) the first use replaces the file's list and later uses
 * append. Returns 0 or -EINVAL (-ENOMEM) with a message in err; a refused
 * value changes nothing. Control thread (a host name is resolved). */
int mx_conf_set(struct mx_conf *c, const char *key, const char *value, char *err, size_t errsize);
/* Checks the whole snapshot (required keys, ranges, cross-key rules).
 * Returns 0 or -EINVAL with the problems in err. */
int mx_conf_validate(const struct mx_conf *c, char *err, size_t errsize);
/* Writes the effective configuration as YAML (for check-config). */
void mx_conf_dump(const struct mx_conf *c, FILE *f);

/* Reference counting; any thread. mx_conf_put() of the last ref frees. */
struct mx_conf *mx_conf_get(struct mx_conf *c);
void mx_conf_put(struct mx_conf *c);

bool mx_conf_is_local_domain(const struct mx_conf *c, struct mx_str domain);

#endif /* MX_CONF_H */
