/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_content: content rules compiled into Hyperscan databases, and the
 * streaming scan of one message against them.
 *
 * A rules file (YAML, see etc/ or issue 6) is loaded and compiled on the
 * control thread into one database per target group: named headers, the
 * whole top-level header section, decoded body text, attachment names,
 * content types, the raw message, and the MIME defects the walker found.
 * The databases are serialized into a cache directory under a name keyed
 * by a hash of the rules file and the Hyperscan version, so a restart with
 * unchanged rules deserializes instead of compiling. A rule that Hyperscan
 * refuses is reported (file:line: rule ID: reason) and left out; the rest
 * load. The compiled set is an immutable, refcounted snapshot: reload
 * builds a new one and swaps the pointer; a scan holds a reference, so a
 * message in flight finishes on the snapshot it started with.
 *
 * Scanning is streaming: mx_content_scan_feed() takes the message bytes in
 * any split as they arrive, the MIME walker decodes base64 and
 * quoted-printable text parts on the fly, and each group is scanned as its
 * bytes appear (Hyperscan stream mode for the raw, header and body
 * streams; block mode for the short, complete strings). The work per
 * message is bounded: at most max_bytes of the message are scanned
 * (the rest sets the "scan-truncated" defect) and at most max_hits hits are
 * recorded (each rule hits at most once per message).
 *
 * Offsets: Hyperscan's start-of-match tracking (HS_FLAG_SOM_LEFTMOST) makes
 * stream state larger and refuses some patterns, so a hit carries the
 * offset just past the last byte of the match, counted in the bytes of its
 * target: the raw message for raw and headers, the decoded body text (text
 * parts concatenated) for body, the unfolded field value for header:NAME,
 * the decoded name or the lowercased type/subtype for attachment-name and
 * attachment-type, and the defect's name for mime-defect (so that hits do
 * not depend on how the message was split into feeds).
 *
 * Threads: load/free on the control thread (they allocate and compile);
 * a scratch belongs to one worker; a scan belongs to one session on one
 * worker. Nothing in feed/end allocates, blocks or locks.
 */
#ifndef MX_CONTENT_H
#define MX_CONTENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mx_base.h"

enum mx_content_target {
	MX_CONTENT_T_HEADER = 0,   /* header:NAME, one named top-level field */
	MX_CONTENT_T_HEADERS,      /* the raw top-level header section */
	MX_CONTENT_T_BODY,         /* decoded text of text parts */
	MX_CONTENT_T_ATT_NAME,     /* attachment file names, decoded */
	MX_CONTENT_T_ATT_TYPE,     /* type/subtype of every leaf part */
	MX_CONTENT_T_RAW,          /* the message bytes as received */
	MX_CONTENT_T_MIME_DEFECT,  /* names of MIME defects, see below */
	MX_CONTENT_T__COUNT
};

enum mx_content_action {
	MX_CONTENT_ACCEPT = 0,
	MX_CONTENT_SCORE,
	MX_CONTENT_QUARANTINE,
	MX_CONTENT_REJECT,
};

/* MIME defects, each a bit; a mime-defect rule matches their names
 * ("missing-boundary", ...; see mx_content_defect_name()). */
enum mx_content_defect {
	MX_CONTENT_D_MISSING_BOUNDARY = 0,
	MX_CONTENT_D_UNTERMINATED_MULTIPART,
	MX_CONTENT_D_NESTING_TOO_DEEP,
	MX_CONTENT_D_HEADER_TOO_LONG,
	MX_CONTENT_D_BAD_HEADER,
	MX_CONTENT_D_BAD_BASE64,
	MX_CONTENT_D_BAD_QP,
	MX_CONTENT_D_BAD_ENCODED_WORD,
	MX_CONTENT_D_BAD_PARAM,
	MX_CONTENT_D_BOUNDARY_TOO_LONG,
	MX_CONTENT_D_SCAN_TRUNCATED,
	MX_CONTENT_D__COUNT
};

const char *mx_content_target_name(enum mx_content_target t);
const char *mx_content_action_name(enum mx_content_action a);
const char *mx_content_defect_name(enum mx_content_defect d);

/* What a load did, for logs, tests and the cache contract. */
struct mx_content_load_info {
	unsigned n_rules;     /* rules in the file */
	unsigned n_refused;   /* refused by Hyperscan, left out */
	unsigned n_compiled;  /* databases compiled by this load (0: cache hit) */
	bool from_cache;      /* every database came from the cache */
};

struct mx_content_rules;
struct mx_content_scratch;
struct mx_content_scan;

/* Loads and compiles a rules file. cache_dir may be NULL (no cache); a
 * cache that cannot be read or written is reported and ignored. Every
 * problem is printed to err as "FILE:LINE: rule ID: reason". Returns 0
 * (refused rules are not an error), -EINVAL for a file with invalid rules
 * or YAML, -ENOENT/-EACCES..., or -ENOMEM. The result has one reference.
 * Control thread only: it allocates and compiles. */
int mx_content_rules_load(const char *path, const char *cache_dir, FILE *err,
		struct mx_content_rules **out);
void mx_content_rules_get(struct mx_content_rules *r);
/* Drops a reference; the last one frees (any thread). NULL is ignored. */
void mx_content_rules_put(struct mx_content_rules *r);
const struct mx_content_load_info *mx_content_rules_info(const struct mx_content_rules *r);

/* Per-worker scratch, sized for r. Call mx_content_scratch_fit() when the
 * worker adopts a new snapshot (it grows the scratch so it serves both the
 * old and the new databases). Worker start/reload only: it allocates.
 * Returns 0 or -ENOMEM. */
int mx_content_scratch_create(const struct mx_content_rules *r,
		struct mx_content_scratch **out);
int mx_content_scratch_fit(struct mx_content_scratch *s,
		const struct mx_content_rules *r);
void mx_content_scratch_free(struct mx_content_scratch *s);

struct mx_content_hit {
	const char *id;               /* owned by the rules snapshot */
	enum mx_content_target target;
	const char *header;           /* header:NAME: the NAME, else NULL */
	enum mx_content_action action;
	uint64_t offset;              /* end of match, see the top comment */
};

struct mx_content_verdict {
	enum mx_content_action action; /* ACCEPT, QUARANTINE or REJECT */
	int64_t score;
	unsigned n_hits;
	const struct mx_content_hit *hits;
	uint32_t defects;              /* 1u << enum mx_content_defect */
	bool truncated;                /* a byte or hit cap was reached */
	uint32_t n_errors;             /* Hyperscan calls that failed (counted, logged) */
	int reply_code;                /* for REJECT: 5xx */
	const char *reply_text;        /* for REJECT: "5.7.1 ..." */
	const char *reason_id;         /* rule that decided, NULL for a threshold */
};

/* A scan bound to r (takes a reference, released by free). Allocates its
 * Hyperscan streams and MIME walker once; reuse it for every message of a
 * session while the snapshot stays the same. Returns 0 or -ENOMEM. */
int mx_content_scan_create(struct mx_content_rules *r,
		struct mx_content_scan **out);
void mx_content_scan_free(struct mx_content_scan *s);
struct mx_content_rules *mx_content_scan_rules(const struct mx_content_scan *s);
/* Starts a message. The scratch must have been sized for the scan's rules
 * (create or fit) and must outlive the message; fitting it to newer rules
 * meanwhile (a reload) is allowed. No allocation. */
void mx_content_scan_begin(struct mx_content_scan *s,
		struct mx_content_scratch *scratch);
/* Feeds message bytes (unstuffed, as the msg stores them) in any split. */
void mx_content_scan_feed(struct mx_content_scan *s, const void *p, size_t len);
/* Ends the message and returns the verdict, valid until the next begin. */
const struct mx_content_verdict *mx_content_scan_end(struct mx_content_scan *s);

#endif /* MX_CONTENT_H */
