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

#include <stdbool.h>
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

/* How a sender-authentication check acts (auth.spf, auth.dmarc). */
enum mx_verdict_mode {
	MX_VERDICT_MODE_OFF = 0,  /* not evaluated */
	MX_VERDICT_MODE_RECORD,   /* best effort: evaluated and recorded only */
	MX_VERDICT_MODE_ENFORCE,  /* mandatory: a failure is refused */
};

/* The DMARC disposition after pct= (RFC 7489 6.6.4), copied in by the
 * caller so that this module does not depend on policy/dmarc. */
enum mx_verdict_dmarc {
	MX_VERDICT_DMARC_NONE = 0,
	MX_VERDICT_DMARC_QUARANTINE,
	MX_VERDICT_DMARC_REJECT,
};

/* Sender-authentication policy and the facts it needs beyond the result
 * words; zero (every mode off) changes nothing. */
struct mx_verdict_auth {
	enum mx_verdict_mode spf_mode;
	enum mx_verdict_mode dmarc_mode;
	bool temperror_tempfail;   /* auth.temperror: tempfail */
	enum mx_verdict_dmarc dmarc_disposition;
	const char *spf_explanation; /* RFC 7208 6.2; NULL or "": a default text */
	const char *from_domain;     /* RFC 5322.From domain, for the DMARC text */
};

#define MX_VERDICT_TEXT_MAX 320

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
	/* Sender authentication (set by the caller before compose). */
	struct mx_verdict_auth auth;
	char auth_text[MX_VERDICT_TEXT_MAX]; /* compose's reply text when auth decides */
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
 * from every check, and v->reply for reject and tempfail. The strongest
 * action wins (accept < quarantine < tempfail < reject); of equal ones
 * the first in this order keeps its reply: SPF, DMARC, temperror,
 * content. Sender authentication, with its mode ENFORCE only:
 *   SPF fail               reject 550 5.7.23 with the explanation
 *                          (RFC 7372 3.2; the caller answers MAIL FROM);
 *   DMARC fail, p=reject   reject 550 5.7.1 naming the From domain
 *                          (RFC 7489 6.7, after pct=);
 *   DMARC fail, quarantine quarantine;
 *   temperror of SPF or DMARC with temperror_tempfail: tempfail 451 4.4.3
 *                          (RFC 3463 4.4.3, directory server failure). */
void mx_verdict_compose(struct mx_verdict *v);
/* Writes "CODE[ ENHANCED] TEXT" (no CRLF) into buf, NUL-terminated and
 * truncated to size; returns the length it needs, 0 for no reply. */
size_t mx_verdict_reply_format(const struct mx_verdict_reply *r, char *buf, size_t size);

#endif /* MX_VERDICT_H */
