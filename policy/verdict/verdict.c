/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * verdict.c: names and JSON form of the per-transaction check results.
 * The composition of results into an action grows with the checks
 * (sender authentication, content rules); until they run, every check is
 * "none" and nothing here changes the action from accept.
 */
#include <string.h>

#include "mx_verdict.h"

static const char *const result_names[] = {
	[MX_AUTH_NONE] = "none",
	[MX_AUTH_PASS] = "pass",
	[MX_AUTH_FAIL] = "fail",
	[MX_AUTH_SOFTFAIL] = "softfail",
	[MX_AUTH_NEUTRAL] = "neutral",
	[MX_AUTH_POLICY] = "policy",
	[MX_AUTH_TEMPERROR] = "temperror",
	[MX_AUTH_PERMERROR] = "permerror",
};

static const char *const action_names[] = {
	[MX_VERDICT_ACCEPT] = "accept",
	[MX_VERDICT_QUARANTINE] = "quarantine",
	[MX_VERDICT_TEMPFAIL] = "tempfail",
	[MX_VERDICT_REJECT] = "reject",
};

void
mx_verdict_init(struct mx_verdict *v)
{
	memset(v, 0, sizeof(*v));
	v->action = MX_VERDICT_ACCEPT;
}

const char *
mx_auth_result_name(enum mx_auth_result r)
{
	if ((unsigned)r >= sizeof(result_names) / sizeof(result_names[0]))
		return "permerror";
	return result_names[r];
}

const char *
mx_verdict_action_name(enum mx_verdict_action a)
{
	if ((unsigned)a >= sizeof(action_names) / sizeof(action_names[0]))
		return "reject";
	return action_names[a];
}

void
mx_verdict_json_checks(const struct mx_verdict *v, struct mx_json *j)
{
	mx_json_obj_open(j, "checks");
	mx_json_cstr(j, "spf", mx_auth_result_name(v->spf));
	mx_json_cstr(j, "helo", mx_auth_result_name(v->helo));
	mx_json_cstr(j, "dkim", mx_auth_result_name(v->dkim));
	mx_json_cstr(j, "dmarc", mx_auth_result_name(v->dmarc));
	mx_json_cstr(j, "content", mx_auth_result_name(v->content));
	mx_json_obj_close(j);
}
