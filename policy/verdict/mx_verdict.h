/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_verdict: the results of every check on one transaction, in one place,
 * so that the verdict log, the Authentication-Results header and the SMTP
 * reply are all derived from the same record (DESIGN "Verdicts").
 *
 * Result words are those of RFC 8601 (section 2.7) so that they can be
 * written into Authentication-Results unchanged. A check that has not run
 * (or is not built) is MX_AUTH_NONE and is logged as "none".
 */
#ifndef MX_VERDICT_H
#define MX_VERDICT_H

#include <stddef.h>
#include <stdint.h>

#include "mx_json.h"

enum mx_auth_result {
	MX_AUTH_NONE = 0,
	MX_AUTH_PASS,
	MX_AUTH_FAIL,
	MX_AUTH_SOFTFAIL,
	MX_AUTH_NEUTRAL,
	MX_AUTH_POLICY,
	MX_AUTH_TEMPERROR,
	MX_AUTH_PERMERROR,
};

enum mx_verdict_action {
	MX_VERDICT_ACCEPT = 0,
	MX_VERDICT_QUARANTINE, /* accepted, marked for the downstream */
	MX_VERDICT_TEMPFAIL,   /* 4yz */
	MX_VERDICT_REJECT,     /* 5yz */
};

/* What the content rules (policy/content) decided, copied in by the
 * caller so that this module does not depend on the scanner. */
enum mx_verdict_content {
	MX_VERDICT_CONTENT_NONE = 0, /* not scanned (no rules configured) */
	MX_VERDICT_CONTENT_ACCEPT,
	MX_VERDICT_CONTENT_QUARANTINE,
	MX_VERDICT_CONTENT_REJECT,
};

/* An SMTP reply: "CODE ENHANCED TEXT" (RFC 5321 4.2, RFC 3463 for the
 * enhanced code). enhanced is "" when the text carries none. */
struct mx_verdict_reply {
	int code;                  /* 0: no reply decided here */
	char enhanced[16];         /* "5.7.1" */
	const char *text;          /* not owned; NULL when code is 0 */
};

struct mx_verdict {
	enum mx_auth_result spf;   /* MAIL FROM identity, RFC 7208 */
	enum mx_auth_result helo;  /* HELO identity, RFC 7208 2.3 */
	enum mx_auth_result dkim;  /* best signature result, RFC 6376 */
	enum mx_auth_result dmarc; /* RFC 7489 */
	enum mx_auth_result content;
	enum mx_verdict_action action;
	/* The content outcome (set by mx_verdict_set_content). */
	enum mx_verdict_content content_action;
	int64_t content_score;
	struct mx_verdict_reply content_reply; /* the deciding reject rule's */
	/* The reply for action reject or tempfail (set by compose). */
	struct mx_verdict_reply reply;
};

/* Every check "none", action accept. */
void mx_verdict_init(struct mx_verdict *v);
const char *mx_auth_result_name(enum mx_auth_result r);
const char *mx_verdict_action_name(enum mx_verdict_action a);
/* Writes the member "checks": {"spf": ..., "helo": ..., "dkim": ...,
 * "dmarc": ..., "content": ...} into an open JSON object. */
void mx_verdict_json_checks(const struct mx_verdict *v, struct mx_json *j);

/* Records the content outcome. For REJECT, code is the rule's 5yz and text
 * its reply text, whose leading RFC 3463 enhanced code (class matching
 * the code's first digit) is split off into content_reply.enhanced; text
 * must outlive v. Also sets the RFC 8601 word v->content (reject "fail",
 * quarantine "policy", accept "pass"). */
void mx_verdict_set_content(struct mx_verdict *v, enum mx_verdict_content a,
		int64_t score, int code, const char *text);
/* The one place where check results become an action: sets v->action
 * from every check, and v->reply for reject and tempfail. */
void mx_verdict_compose(struct mx_verdict *v);
/* Writes "CODE[ ENHANCED] TEXT" (no CRLF) into buf, NUL-terminated and
 * truncated to size; returns the length it needs, 0 for no reply. */
size_t mx_verdict_reply_format(const struct mx_verdict_reply *r, char *buf, size_t size);

#endif /* MX_VERDICT_H */
