/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * verdict.c: names and JSON form of the per-transaction check results,
 * and their composition into one action (mx_verdict_compose): the SMTP
 * reply, the verdict log's "checks" and the header for the downstream are
 * all derived from this one record. A check that has not run is "none"
 * and never changes the action from accept; sender authentication acts
 * only where its mode says enforce (mx_verdict.h).
 */
#include <stdio.h>
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

static enum mx_auth_result
content_word(enum mx_verdict_content a)
{
	switch (a) {
	case MX_VERDICT_CONTENT_ACCEPT:
		return MX_AUTH_PASS;
	case MX_VERDICT_CONTENT_QUARANTINE:
		return MX_AUTH_POLICY;
	case MX_VERDICT_CONTENT_REJECT:
		return MX_AUTH_FAIL;
	default:
		return MX_AUTH_NONE;
	}
}

/* Length of a leading RFC 3463 section 2 status code "class.subject.detail"
 * (subject and detail 1*3digit) whose class is cls and which is followed
 * by a space, else 0. */
static size_t
enhanced_len(const char *t, char cls)
{
	size_t i = 0, part, n;

	if (t[i++] != cls)
		return 0;
	for (part = 0; part < 2; part++) {
		if (t[i++] != '.')
			return 0;
		for (n = 0; n < 3 && t[i] >= '0' && t[i] <= '9'; n++)
			i++;
		if (n == 0)
			return 0;
	}
	return t[i] == ' ' ? i : 0;
}

void
mx_verdict_set_content(struct mx_verdict *v, enum mx_verdict_content a,
		int64_t score, int code, const char *text)
{
	struct mx_verdict_reply *r = &v->content_reply;
	size_t n;

	v->content_action = a;
	v->content_score = score;
	v->content = content_word(a);
	memset(r, 0, sizeof(*r));
	if (a != MX_VERDICT_CONTENT_REJECT || text == NULL)
		return;
	r->code = code;
	r->text = text;
	if (code < 200 || code > 599)
		return;
	n = enhanced_len(text, (char)('0' + code / 100));
	if (n == 0 || n >= sizeof(r->enhanced))
		return;
	memcpy(r->enhanced, text, n);
	r->enhanced[n] = '\0';
	/* The one space after the code belongs to the separator. */
	r->text = text + n + 1;
}

/* RFC 5321 4.3.2 lists 550 and 554 among the replies to the end of data. */
static const struct mx_verdict_reply content_default = {
	550, "5.7.1", "Message content rejected",
};

/* Raises the action to a; the first reply of the strongest action stays. */
static void
verdict_raise(struct mx_verdict *v, enum mx_verdict_action a, const struct mx_verdict_reply *r)
{
	if (a <= v->action)
		return;
	v->action = a;
	if (r != NULL)
		v->reply = *r;
	else
		memset(&v->reply, 0, sizeof(v->reply));
}

/* RFC 7372 3.2: 5.7.23 is "SPF validation failed"; the explanation of the
 * domain owner (RFC 7208 6.2) goes with it when there is one. */
static void
verdict_spf(struct mx_verdict *v)
{
	const struct mx_verdict_auth *au = &v->auth;
	struct mx_verdict_reply r = { 550, "5.7.23", v->auth_text };
	const char *exp = au->spf_explanation;

	if (au->spf_mode != MX_VERDICT_MODE_ENFORCE || v->spf != MX_AUTH_FAIL)
		return;
	if (exp != NULL && exp[0] != '\0')
		snprintf(v->auth_text, sizeof(v->auth_text), "SPF validation failed: %s", exp);
	else
		snprintf(v->auth_text, sizeof(v->auth_text), "SPF validation failed");
	verdict_raise(v, MX_VERDICT_REJECT, &r);
}

/* RFC 7489 6.7: the Domain Owner's policy, after the pct= sample. */
static void
verdict_dmarc(struct mx_verdict *v)
{
	const struct mx_verdict_auth *au = &v->auth;
	struct mx_verdict_reply r = { 550, "5.7.1", v->auth_text };

	if (au->dmarc_mode != MX_VERDICT_MODE_ENFORCE || v->dmarc != MX_AUTH_FAIL)
		return;
	if (au->dmarc_disposition == MX_VERDICT_DMARC_QUARANTINE) {
		verdict_raise(v, MX_VERDICT_QUARANTINE, NULL);
	} else if (au->dmarc_disposition == MX_VERDICT_DMARC_REJECT &&
			v->action < MX_VERDICT_REJECT) {
		/* auth_text is free: nothing rejected before. */
		snprintf(v->auth_text, sizeof(v->auth_text),
				"Message rejected by the DMARC policy of %s",
				au->from_domain != NULL && au->from_domain[0] != '\0' ?
				au->from_domain : "the From domain");
		verdict_raise(v, MX_VERDICT_REJECT, &r);
	}
}

static const struct mx_verdict_reply temperror_reply = {
	451, "4.4.3", "Temporary DNS failure checking the sender, try again later",
};

static void
verdict_temperror(struct mx_verdict *v)
{
	const struct mx_verdict_auth *au = &v->auth;

	if (!au->temperror_tempfail)
		return;
	if ((au->spf_mode == MX_VERDICT_MODE_ENFORCE && v->spf == MX_AUTH_TEMPERROR) ||
			(au->dmarc_mode == MX_VERDICT_MODE_ENFORCE && v->dmarc == MX_AUTH_TEMPERROR))
		verdict_raise(v, MX_VERDICT_TEMPFAIL, &temperror_reply);
}

void
mx_verdict_compose(struct mx_verdict *v)
{
	v->action = MX_VERDICT_ACCEPT;
	memset(&v->reply, 0, sizeof(v->reply));
	verdict_spf(v);
	verdict_dmarc(v);
	verdict_temperror(v);
	switch (v->content_action) {
	case MX_VERDICT_CONTENT_REJECT:
		verdict_raise(v, MX_VERDICT_REJECT, v->content_reply.code >= 500 &&
				v->content_reply.code <= 599 && v->content_reply.text != NULL ?
				&v->content_reply : &content_default);
		break;
	case MX_VERDICT_CONTENT_QUARANTINE:
		verdict_raise(v, MX_VERDICT_QUARANTINE, NULL);
		break;
	default:
		break;
	}
}

size_t
mx_verdict_reply_format(const struct mx_verdict_reply *r, char *buf, size_t size)
{
	int n;

	if (r->code == 0 || r->text == NULL) {
		if (size > 0)
			buf[0] = '\0';
		return 0;
	}
	if (r->enhanced[0] != '\0')
		n = snprintf(buf, size, "%d %s %s", r->code, r->enhanced, r->text);
	else
		n = snprintf(buf, size, "%d %s", r->code, r->text);
	return n < 0 ? 0 : (size_t)n;
}
