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

struct mx_verdict {
	enum mx_auth_result spf;   /* MAIL FROM identity, RFC 7208 */
	enum mx_auth_result helo;  /* HELO identity, RFC 7208 2.3 */
	enum mx_auth_result dkim;  /* best signature result, RFC 6376 */
	enum mx_auth_result dmarc; /* RFC 7489 */
	enum mx_auth_result content;
	enum mx_verdict_action action;
};

/* Every check "none", action accept. */
void mx_verdict_init(struct mx_verdict *v);
const char *mx_auth_result_name(enum mx_auth_result r);
const char *mx_verdict_action_name(enum mx_verdict_action a);
/* Writes the member "checks": {"spf": ..., "helo": ..., "dkim": ...,
 * "dmarc": ..., "content": ...} into an open JSON object. */
void mx_verdict_json_checks(const struct mx_verdict *v, struct mx_json *j);

#endif /* MX_VERDICT_H */
