/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_dkim: DKIM verification (RFC 6376; ed25519-sha256 per RFC 8463) of a
 * buffered message with libopendkim. Every signature is verified; each gets
 * an RFC 8601 result word with its d= and s=.
 *
 * The message is read by reference: each header field goes to libopendkim
 * from the header index (mx_hdr.raw), the body as the chunk views of
 * mx_msg_view(); nothing is copied by us (libopendkim canonicalizes into
 * its own buffers).
 *
 * Keys come through libopendkim's key-lookup callback from a TXT callback
 * of ours (the DNS cache of policy/dns, or a table in tests). A TXT answer
 * of -EAGAIN ("not in the cache yet") makes mx_dkim_verify() return
 * -EAGAIN: the caller resolves mx_dkim_key_names() and verifies again, so
 * nothing waits on one name.
 *
 * Result words (RFC 8601 2.7.1):
 *   pass       signature and body hash verify with an acceptable key;
 *   fail       signature or body hash mismatch, x= in the past, t= in the
 *              future (RFC 6376 3.5: such signatures are not valid);
 *   policy     cryptographically fine but refused here: key below the
 *              minimum size (RFC 8301 3.2), rsa-sha1 when not allowed
 *              (RFC 8301 3.1);
 *   neutral    the signature field itself is malformed (missing or bad
 *              tags), so nothing could be checked;
 *   temperror  the key lookup failed temporarily (timeout, SERVFAIL);
 *   permerror  no key (NXDOMAIN / no TXT), a key record that does not
 *              parse, or a revoked key (empty p=, RFC 6376 3.6.1): a later
 *              attempt cannot succeed.
 *
 * Threads: a context belongs to one thread (the verifier stage); it is not
 * for worker lcores (libopendkim allocates and hashes).
 */
#ifndef MX_DKIM_H
#define MX_DKIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mx_base.h"
#include "mx_msg.h"
#include "mx_verdict.h"

#define MX_DKIM_MAX_SIGS 16     /* signatures reported per message */
#define MX_DKIM_DOMAIN_MAX 254
#define MX_DKIM_SELECTOR_MAX 64
#define MX_DKIM_QNAME_MAX 320   /* selector._domainkey.domain + NUL */

/* TXT lookup for "<s>._domainkey.<d>": stores up to max strings, one per
 * TXT record (character-strings joined, RFC 6376 3.6.2.2), in recs; they
 * stay valid until the verification returns. Returns the number of records
 * (0 for NXDOMAIN or no TXT), -EAGAIN when the answer is not there yet, or
 * another negative errno for a temporary DNS failure. */
typedef int (*mx_dkim_txt_fn)(void *ctx, const char *qname,
		struct mx_str *recs, unsigned max);

struct mx_dkim_conf {
	mx_dkim_txt_fn txt;
	void *txt_ctx;
	unsigned min_key_bits;   /* RSA keys below are "policy"; 0 means 1024 */
	bool allow_rsa_sha1;     /* RFC 8301 3.1: off by default */
	uint64_t fixed_time;     /* verify as of this Unix time; 0 = now */
};

struct mx_dkim_sig {
	char domain[MX_DKIM_DOMAIN_MAX];
	char selector[MX_DKIM_SELECTOR_MAX];
	enum mx_auth_result result;
	const char *reason;      /* static text, for logs */
	unsigned key_bits;       /* 0 when no key was loaded */
};

struct mx_dkim_res {
	unsigned n_sigs;         /* signatures reported (top first) */
	bool truncated;          /* more than MX_DKIM_MAX_SIGS */
	struct mx_dkim_sig sigs[MX_DKIM_MAX_SIGS];
};

struct mx_dkim;

/* Returns 0, -EINVAL (no callback) or -ENOMEM. Control plane. */
int mx_dkim_create(const struct mx_dkim_conf *conf, struct mx_dkim **out);
void mx_dkim_free(struct mx_dkim *d);

/*
 * Verifies every DKIM-Signature of m (its header section must be complete).
 * Returns 0 with res filled (n_sigs 0: unsigned, dkim=none), -EAGAIN when a
 * key is not available yet, or -ENOMEM. Peer data never makes it fail:
 * malformed signatures are results, not errors.
 */
int mx_dkim_verify(struct mx_dkim *d, const struct mx_msg *m,
		struct mx_dkim_res *res);

/*
 * The key names the signatures of m will ask for (DNS prefetch at end of
 * headers), "<s>._domainkey.<d>", de-duplicated. Returns how many were
 * written (at most max). Signatures whose d= or s= cannot be read are
 * skipped.
 */
unsigned mx_dkim_key_names(const struct mx_msg *m,
		char (*names)[MX_DKIM_QNAME_MAX], unsigned max);

#endif /* MX_DKIM_H */
