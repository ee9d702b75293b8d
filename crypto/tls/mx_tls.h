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
 * Versions: Debian 12's mbedTLS 2.28 implements TLS 1.0 to 1.2 only (its
 * TLS 1.3 is a prototype, not built); TLS 1.2 is therefore the maximum.
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
};

/* Fills out once the handshake is done. Returns 0, -EAGAIN while the
 * handshake is in progress, -EINVAL when st is not a TLS stream. */
int mx_tls_stream_info(const struct mx_stream *st, struct mx_tls_info *out);
/* True when st was made by mx_tls_stream_create. */
bool mx_tls_stream_is(const struct mx_stream *st);

#endif /* MX_TLS_H */
