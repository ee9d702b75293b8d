/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_tls: server-side TLS (STARTTLS, RFC 3207) as a stream over a stream.
 *
 * The engine sees TLS only through this header: no mbedTLS type leaks out
 * of crypto/, so a second backend (OpenSSL, issue 8) can sit behind the
 * same calls. Two objects:
 *
 * - struct mx_tls_ctx: the certificates, keys, cipher policy, session
 *   cache and session-ticket keys of one configuration. Made on the
 *   control thread (it reads files and checks the certificates), then
 *   shared read-mostly by every worker. Per worker it holds its own
 *   random generator, its own TLS configuration and a pool of idle TLS
 *   sessions, so the only shared mutable state on the handshake path is
 *   the session cache and the ticket keys (each behind mbedTLS's own
 *   mutex; XXX: that is a lock on the handshake path, held for a copy or
 *   an AEAD of a few hundred bytes; per-worker ticket keys derived from
 *   one shared secret would remove it).
 *
 * - a TLS stream, made by mx_tls_stream_create() over an established raw
 *   stream (the kernel or DPDK transport). It implements mx_stream.h, so
 *   the SMTP session keeps calling mx_stream_read_view(), _send(), _close()
 *   on it after STARTTLS exactly as before. The handshake runs from the
 *   raw stream's callbacks, never blocking; the owner's on_readable comes
 *   once plaintext arrives, its on_closed exactly once when the raw stream
 *   ends (including a failed handshake).
 *
 * Backends (issue 8): mx_tls_conf.backend picks the library behind these
 * calls, mbedTLS 2.28 (the default) or OpenSSL 3; nothing else here
 * depends on it. Versions: Debian 12's mbedTLS 2.28 implements TLS 1.0 to
 * 1.2 only (its TLS 1.3 is a prototype, not built), so with it TLS 1.2 is
 * the maximum and a TLS 1.3 floor is refused at create; OpenSSL 3 adds
 * TLS 1.3.
 *
 * Threads: mx_tls_ctx_create/free on the control thread; the ctx is then
 * used by any worker; a TLS stream only on its loop's thread.
 */
#ifndef MX_TLS_H
#define MX_TLS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mx_stream.h"

struct mx_tls_ctx;

#define MX_TLS_MAX_CERTS 8

enum mx_tls_version {
	MX_TLS_V1_0 = 0,
	MX_TLS_V1_1,
	MX_TLS_V1_2,
	MX_TLS_V1_3,                  /* OpenSSL backend only */
};

enum mx_tls_backend {
	MX_TLS_BACKEND_MBEDTLS = 0,
	MX_TLS_BACKEND_OPENSSL,
};

/* Cipher policy. */
enum mx_tls_suites {
	/* Prefers ECDHE with AES-GCM or ChaCha20-Poly1305 (forward secrecy,
	 * AEAD), then still accepts ECDHE with CBC and RSA key exchange, so
	 * mail from old servers is not lost (best effort). */
	MX_TLS_SUITES_DEFAULT = 0,
	/* The floor for mandatory TLS: ECDHE with an AEAD only. */
	MX_TLS_SUITES_STRONG,
};

struct mx_tls_conf {
	enum mx_tls_backend backend;
	/* Paired: cert_files[i] (PEM, leaf first, then its chain) goes with
	 * key_files[i]. An RSA and an ECDSA certificate can be given at once:
	 * the handshake picks the one the client's suites allow. */
	const char *cert_files[MX_TLS_MAX_CERTS];
	const char *key_files[MX_TLS_MAX_CERTS];
	unsigned n_certs;
	const char *hostname;         /* greeting name the SAN must cover; NULL: no check */
	enum mx_tls_version min_version;
	enum mx_tls_suites suites;
	unsigned workers;             /* loops that will use the ctx (worker ids 0..n-1) */
	unsigned ticket_lifetime_s;   /* ticket key rotation period; 0: no tickets */
	unsigned cache_size;          /* sessions in the shared cache; 0: no cache */
	unsigned cache_timeout_s;
	unsigned pool_max;            /* idle TLS sessions kept per worker */
	bool allow_weak_keys;         /* accept RSA < 2048 bits, EC < 256 bits */
	bool require_san_match;       /* refuse (not only warn) a SAN mismatch */
	unsigned expiry_warn_days;    /* warn when a certificate expires sooner */
};

/* Defaults: TLS 1.0 minimum (best effort), default suites, one worker,
 * tickets rotated every 12 h, a 1000-session cache kept 1 h, 64 idle
 * sessions per worker, warnings 30 days before expiry. */
void mx_tls_conf_defaults(struct mx_tls_conf *c);

/* Handshake and session counters, all workers together. */
struct mx_tls_stats {
	_Atomic uint64_t handshakes;      /* completed */
	_Atomic uint64_t resumed;         /* of which resumed (cache or ticket) */
	_Atomic uint64_t fail_version;    /* client offered no allowed version */
	_Atomic uint64_t fail_cipher;     /* no suite in common */
	_Atomic uint64_t fail_eof;        /* client left during the handshake */
	_Atomic uint64_t fail_other;      /* malformed input, bad MAC, alerts... */
	_Atomic uint64_t alloc_fail;      /* no memory for a session: refused */
	_Atomic uint64_t close_dropped;   /* plaintext lost: peer did not read before close */
};

/* Loads and checks the certificates and builds the configuration.
 * Certificate hygiene (DESIGN "TLS policy"): a key below RSA-2048 or
 * ECDSA P-256 is refused unless allow_weak_keys; a SAN that does not
 * cover hostname is a warning, or a refusal with require_san_match; an
 * expired certificate is refused; one expiring within expiry_warn_days
 * is a warning. Returns 0, or -EINVAL (bad conf or refused certificate)
 * or -ENOENT/-EIO (unreadable file) or -ENOMEM, with the reason in err. */
int mx_tls_ctx_create(const struct mx_tls_conf *conf, struct mx_tls_ctx **out,
		char *err, size_t errsize);
/* Every TLS stream made from ctx must have ended. */
void mx_tls_ctx_free(struct mx_tls_ctx *ctx);
/* Whole days until the first certificate expires (negative: expired). */
long mx_tls_ctx_days_to_expiry(const struct mx_tls_ctx *ctx);
struct mx_tls_stats *mx_tls_ctx_stats(struct mx_tls_ctx *ctx);

/* Wraps raw (established; its callbacks are taken over) into a server TLS
 * stream and starts the handshake: the client speaks first, so nothing
 * happens until its ClientHello arrives. Bytes already buffered in raw
 * are taken as TLS: a caller that must drop pipelined plaintext (RFC 3207
 * 4.2, CVE-2011-0411) consumes it before this call. The new stream has
 * raw's id and addresses and no callbacks yet (mx_stream_set_cb). From now
 * on raw belongs to the TLS stream: never use it again. Returns 0 or
 * -ENOMEM (counted in alloc_fail), -EINVAL (worker id out of range). */
int mx_tls_stream_create(struct mx_tls_ctx *ctx, struct mx_stream *raw,
		struct mx_stream **out);

/* What the session negotiated, for the verdict log. The strings are
 * static or live as long as the stream. */
struct mx_tls_info {
	const char *version;          /* "TLSv1.2" */
	const char *cipher;           /* IANA-style name, e.g. TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256 */
	bool resumed;
	bool peer_cert;               /* a client certificate was presented */
	char peer_subject[256];
	char peer_issuer[256];
	char peer_sha256[65];         /* hex fingerprint of the DER */
	/* TLS policy (below): the connection profile the handshake ran
	 * under, NULL for none; whether the client certificate verified
	 * against that profile's ca_file. */
	const char *profile;
	bool peer_verified;
};

/* Fills out once the handshake is done. Returns 0, -EAGAIN while the
 * handshake is in progress, -EINVAL when st is not a TLS stream. */
int mx_tls_stream_info(const struct mx_stream *st, struct mx_tls_info *out);
/* True when st was made by mx_tls_stream_create. */
bool mx_tls_stream_is(const struct mx_stream *st);

/*
 * ---- Client side: STARTTLS to the downstream MTA (RFC 3207) ----
 *
 * A struct mx_tls_client holds the trust anchors (a PEM CA bundle), an
 * optional client certificate, the version floor and the verify mode of
 * one downstream; like struct mx_tls_ctx it is made on the control thread
 * and then used by every worker, each with its own configuration of the
 * backend's library (mbedTLS or OpenSSL, mx_tls_client_conf.backend).
 * A client TLS stream wraps a connected raw stream
 * (after the downstream's 220 to STARTTLS) and starts the handshake at
 * once (the client speaks first). It tells its owner through the stream
 * callbacks: on_connected(st, 0) once the handshake is complete and the
 * certificate passed the verify mode; on_closed(st, err) when it failed,
 * with err -EKEYREJECTED (certificate refused by the verify mode) or
 * -EPROTO (handshake failure), else the raw stream's own error. The
 * owner's on_connected is never called with an error.
 */
struct mx_tls_client;

enum mx_tls_verify {
	/* Encrypt only (opportunistic TLS, RFC 7435): any certificate. */
	MX_TLS_VERIFY_NONE = 0,
	/* The chain must lead to a CA of ca_file; any name. */
	MX_TLS_VERIFY_CHAIN,
	/* The chain as above, and a subjectAltName (or, without any, the
	 * CN) must match the name given to mx_tls_client_stream_create
	 * (RFC 6125 6.4, RFC 7817 3). */
	MX_TLS_VERIFY_SECURE,
};

struct mx_tls_client_conf {
	const char *ca_file;          /* PEM CA bundle; required unless VERIFY_NONE */
	const char *cert_file;        /* client certificate (PEM) or NULL */
	const char *key_file;         /* its key; set together with cert_file */
	enum mx_tls_version min_version;
	enum mx_tls_verify verify;
	unsigned workers;             /* loops that will use it (worker ids 0..n-1) */
	/* The library behind the client (issue 8); a process uses the one
	 * of its server side (tls.backend). TLS 1.3 with OpenSSL only. */
	enum mx_tls_backend backend;
};

/* Defaults: TLS 1.2 minimum, VERIFY_SECURE, one worker, no files,
 * mbedTLS. */
void mx_tls_client_conf_defaults(struct mx_tls_client_conf *c);
/* Loads the files. Returns 0, -EINVAL (bad conf, unusable file content),
 * -ENOENT (unreadable file), -ENOMEM or -EIO, with the reason in err. */
int mx_tls_client_create(const struct mx_tls_client_conf *conf,
		struct mx_tls_client **out, char *err, size_t errsize);
/* Every client stream made from cl must have ended. */
void mx_tls_client_free(struct mx_tls_client *cl);

/* Wraps raw (connected, nothing buffered that belongs to TLS; its
 * callbacks are taken over) into a client TLS stream with the callbacks
 * cb/arg and sends the ClientHello. name (copied; NULL or "" for none) is
 * the SNI and, with VERIFY_SECURE, the name the certificate must match.
 * From now on raw belongs to the TLS stream. Returns 0, or -ENOMEM or
 * -EINVAL (worker id out of range, or a name VERIFY_SECURE cannot check);
 * on error raw is left to the caller with its callbacks unchanged. */
int mx_tls_client_stream_create(struct mx_tls_client *cl, struct mx_stream *raw,
		const char *name, const struct mx_stream_cb *cb, void *arg,
		struct mx_stream **out);

/* The outcome of a client handshake, for logs. The strings are static. */
struct mx_tls_client_info {
	const char *version;          /* "TLSv1.2"; NULL before the handshake ended */
	const char *cipher;           /* IANA-style suite name, or NULL */
	/* "ok" (passed the verify mode), "not verified" (VERIFY_NONE), or
	 * why the certificate was refused: "untrusted", "name mismatch",
	 * "expired", "not yet valid", "revoked", "bad certificate"; or
	 * "handshake failed". NULL while the handshake runs. */
	const char *verify;
};

/* Fills out; valid from on_connected until on_closed returns (a failed
 * handshake is reported this way from inside on_closed). Returns 0 or
 * -EINVAL when st is not a client TLS stream. */
int mx_tls_client_stream_info(const struct mx_stream *st,
		struct mx_tls_client_info *out);
/* True when st was made by mx_tls_client_stream_create. */
bool mx_tls_client_stream_is(const struct mx_stream *st);

/* ---- TLS policy: connection profiles, client certificates, reload ----
 *
 * A profile (README "TLS profiles") is matched by client address (CIDR)
 * and/or by sender domain, first match in list order. Profiles with
 * clients are chosen when the TLS stream is made, so the handshake itself
 * enforces their version, suites and client certificate: each profile has
 * its own backend configuration per worker, picked without allocation.
 * At MAIL FROM, mx_tls_policy_mail() applies the first profile that
 * matches the address or the sender domain to the session as negotiated.
 *
 * Reload: mx_tls_ctx_reload() builds a new generation (certificates,
 * profiles) on the control thread, checks it like mx_tls_ctx_create, and
 * publishes it to the workers; each worker adopts it at its next
 * handshake or MAIL FROM check, running sessions keep the generation they
 * started with until they end (reference counted), and a generation that
 * fails its checks is never published: the old one stays.
 */
#define MX_TLS_MAX_PROFILES 16
#define MX_TLS_MAX_MATCH 16       /* clients, sender domains, ciphers per profile */
#define MX_TLS_PROFILE_NAME 48

enum mx_tls_client_cert {
	MX_TLS_CLIENT_CERT_NONE = 0,  /* not asked for */
	MX_TLS_CLIENT_CERT_OPTIONAL,  /* asked for and logged, never enforced */
	MX_TLS_CLIENT_CERT_REQUIRED,  /* trusted by ca_file and matching cert_match */
};

struct mx_tls_profile {
	const char *name;
	/* Match: the client's address in one of the networks (prefix bits
	 * of net, its port ignored) and/or the MAIL FROM domain equal to a
	 * domain, or below a ".suffix". */
	struct mx_addr clients[MX_TLS_MAX_MATCH];
	uint8_t client_prefix[MX_TLS_MAX_MATCH];
	unsigned n_clients;
	const char *sender_domains[MX_TLS_MAX_MATCH]; /* lower case */
	unsigned n_sender_domains;
	bool require_tls;             /* plaintext MAIL is refused 530 5.7.0 */
	enum mx_tls_version min_version;
	enum mx_tls_suites suites;    /* strength floor when ciphers is empty */
	const char *ciphers[MX_TLS_MAX_MATCH]; /* IANA names, mbedTLS spelling */
	unsigned n_ciphers;
	enum mx_tls_client_cert client_cert;
	const char *ca_file;          /* PEM bundle trusted for client certificates */
	/* NULL: any trusted certificate; "host.example", "*.example" (one
	 * left-most label, RFC 6125 6.4.3) against the SAN dNSNames, else the
	 * CN; or "sender-domain": the certificate must name the MAIL FROM
	 * domain. */
	const char *cert_match;
};

/* Profiles and their counters; the strings are copied. */
struct mx_tls_policy {
	const struct mx_tls_profile *profiles;
	unsigned n_profiles;
};

/* Handshake failures by reason and mail by profile, beside mx_tls_stats
 * (whose fail_other now counts what none of these names). */
struct mx_tls_policy_stats {
	_Atomic uint64_t fail_no_client_cert;
	_Atomic uint64_t fail_bad_client_cert;   /* untrusted, expired, unusable */
	_Atomic uint64_t fail_cert_mismatch;     /* trusted, but cert_match refused it */
	_Atomic uint64_t fail_protocol;          /* malformed or unexpected messages, alerts */
	/* MAIL FROM by profile ([0]: no profile matched), plaintext or TLS */
	_Atomic uint64_t mail_plain[MX_TLS_MAX_PROFILES + 1];
	_Atomic uint64_t mail_tls[MX_TLS_MAX_PROFILES + 1];
	/* MAIL FROM refused by a profile, by what was missing */
	_Atomic uint64_t refused_plain;          /* 530: TLS required */
	_Atomic uint64_t refused_version;
	_Atomic uint64_t refused_cipher;
	_Atomic uint64_t refused_no_client_cert;
	_Atomic uint64_t refused_bad_client_cert;
	_Atomic uint64_t refused_cert_mismatch;
};

/* mx_tls_ctx_create() with profiles (policy may be NULL: none). Every
 * profile is checked (CA file readable and parsed, cipher names known,
 * cert_match well formed); errors name the profile. */
int mx_tls_ctx_create_policy(const struct mx_tls_conf *conf,
		const struct mx_tls_policy *policy, struct mx_tls_ctx **out,
		char *err, size_t errsize);
/* Builds and checks a new generation from conf and policy (same checks
 * as at create: a refused certificate, key or profile returns -EINVAL
 * etc. with the reason in err and changes nothing), then publishes it.
 * conf->workers must not change; the session cache and ticket keys are
 * kept (tickets issued before stay valid). Control thread. */
int mx_tls_ctx_reload(struct mx_tls_ctx *ctx, const struct mx_tls_conf *conf,
		const struct mx_tls_policy *policy, char *err, size_t errsize);
struct mx_tls_policy_stats *mx_tls_ctx_policy_stats(struct mx_tls_ctx *ctx);

/* The TLS policy at MAIL FROM (RFC 3207 4.1) on the stream's worker
 * thread: st is the session's stream (a TLS stream after STARTTLS, else
 * the raw one), domain the reverse-path domain (empty for <>). Returns 0
 * to go on, or the SMTP reply code with the whole reply line (without
 * CRLF) written to reply, e.g. "530 5.7.0 Must issue a STARTTLS command
 * first (TLS required for example.com)". The reply names what was
 * missing; domain bytes in it are made printable. Counted. */
int mx_tls_policy_mail(struct mx_tls_ctx *ctx, struct mx_stream *st,
		struct mx_str domain, char *reply, size_t size);

/* Writes the TLS counters in the Prometheus text format (handshakes,
 * failures by reason, mail by profile, refusals, certificate expiry per
 * file). Returns the length needed, as mx_metrics_render. Any thread but
 * a worker's (takes the control thread's lock). */
size_t mx_tls_ctx_metrics(struct mx_tls_ctx *ctx, char *buf, size_t size);

/* Days to expiry of the certificates of the current generation, by file. */
unsigned mx_tls_ctx_cert_expiry(struct mx_tls_ctx *ctx, const char **files,
		long *days, unsigned max);

/* Pattern check for cert_match (exported for the tests): name against
 * "host.example" or "*.example" (one left-most label), ASCII
 * case-insensitive. */
bool mx_tls_name_match(const char *pat, const char *name, size_t nlen);
/* Sender-domain profile match: "example.com" equal, ".example.com"
 * strictly below it; case-insensitive. */
bool mx_tls_domain_match(const char *pat, struct mx_str domain);
/* Whether addr is inside net/prefix (same family). */
bool mx_tls_cidr_match(const struct mx_addr *net, unsigned prefix,
		const struct mx_addr *addr);
/* Index of the first profile of policy that matches addr or domain
 * (domain.len == 0: by address only), or -1. */
int mx_tls_policy_match(const struct mx_tls_policy *policy,
		const struct mx_addr *addr, struct mx_str domain);

#endif /* MX_TLS_H */
