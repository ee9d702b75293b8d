/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of mx_verdict: result names (RFC 8601 words), out-of-range
 * values never index past the tables, the JSON "checks" member, and the
 * composition of the content outcome and of sender authentication into
 * the action and its reply. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mx_verdict.h"

static void
test_names(void **state)
{
	static const struct {
		enum mx_auth_result r;
		const char *name;
	} cases[] = {
		{ MX_AUTH_NONE, "none" }, { MX_AUTH_PASS, "pass" },
		{ MX_AUTH_FAIL, "fail" }, { MX_AUTH_SOFTFAIL, "softfail" },
		{ MX_AUTH_NEUTRAL, "neutral" }, { MX_AUTH_POLICY, "policy" },
		{ MX_AUTH_TEMPERROR, "temperror" }, { MX_AUTH_PERMERROR, "permerror" },
		{ (enum mx_auth_result)99, "permerror" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(mx_auth_result_name(cases[i].r), cases[i].name);
	assert_string_equal(mx_verdict_action_name(MX_VERDICT_TEMPFAIL), "tempfail");
	assert_string_equal(mx_verdict_action_name((enum mx_verdict_action)7), "reject");
}

static void
test_json_checks(void **state)
{
	struct mx_verdict v;
	struct mx_json j;
	char buf[256];

	(void)state;
	mx_verdict_init(&v);
	assert_int_equal(v.action, MX_VERDICT_ACCEPT);
	v.dkim = MX_AUTH_PASS;
	mx_json_init(&j, buf, sizeof(buf));
	mx_json_obj_open(&j, NULL);
	mx_verdict_json_checks(&v, &j);
	mx_json_obj_close(&j);
	assert_true(mx_json_ok(&j));
	assert_string_equal(buf, "{\"checks\":{\"spf\":\"none\",\"helo\":\"none\","
			"\"dkim\":\"pass\",\"dmarc\":\"none\",\"content\":\"none\"}}");
}

static void
test_compose(void **state)
{
	static const struct {
		enum mx_verdict_content content;
		int64_t score;
		int code;
		const char *text;
		enum mx_verdict_action action;
		enum mx_auth_result word;
		const char *reply;       /* formatted, "" for none */
		const char *enhanced;
	} cases[] = {
		/* Not scanned: nothing changes accept. */
		{ MX_VERDICT_CONTENT_NONE, 0, 0, NULL, MX_VERDICT_ACCEPT, MX_AUTH_NONE, "", "" },
		{ MX_VERDICT_CONTENT_ACCEPT, 3, 0, NULL, MX_VERDICT_ACCEPT, MX_AUTH_PASS, "", "" },
		/* A quarantine is accepted and marked: no reply here. */
		{ MX_VERDICT_CONTENT_QUARANTINE, 7, 0, NULL, MX_VERDICT_QUARANTINE,
			MX_AUTH_POLICY, "", "" },
		{ MX_VERDICT_CONTENT_QUARANTINE, 7, 554, "5.7.1 ignored", MX_VERDICT_QUARANTINE,
			MX_AUTH_POLICY, "", "" },
		/* The rule's reply, its enhanced code split off (RFC 3463). */
		{ MX_VERDICT_CONTENT_REJECT, 10, 554, "5.7.1 Phishing", MX_VERDICT_REJECT,
			MX_AUTH_FAIL, "554 5.7.1 Phishing", "5.7.1" },
		{ MX_VERDICT_CONTENT_REJECT, 10, 550, "5.7.123 Long detail", MX_VERDICT_REJECT,
			MX_AUTH_FAIL, "550 5.7.123 Long detail", "5.7.123" },
		/* Extra spaces after the code are the text's: byte-identical. */
		{ MX_VERDICT_CONTENT_REJECT, 1, 550, "5.7.1  two", MX_VERDICT_REJECT,
			MX_AUTH_FAIL, "550 5.7.1  two", "5.7.1" },
		/* No enhanced code, or one of another class: the text as is. */
		{ MX_VERDICT_CONTENT_REJECT, 1, 550, "Go away", MX_VERDICT_REJECT,
			MX_AUTH_FAIL, "550 Go away", "" },
		{ MX_VERDICT_CONTENT_REJECT, 1, 550, "4.7.1 odd", MX_VERDICT_REJECT,
			MX_AUTH_FAIL, "550 4.7.1 odd", "" },
		{ MX_VERDICT_CONTENT_REJECT, 1, 550, "5.7.1", MX_VERDICT_REJECT,
			MX_AUTH_FAIL, "550 5.7.1", "" },
		{ MX_VERDICT_CONTENT_REJECT, 1, 550, "5.7.1234 x", MX_VERDICT_REJECT,
			MX_AUTH_FAIL, "550 5.7.1234 x", "" },
		{ MX_VERDICT_CONTENT_REJECT, 1, 550, "5..1 x", MX_VERDICT_REJECT,
			MX_AUTH_FAIL, "550 5..1 x", "" },
		/* A reject without a usable reply gets the default. */
		{ MX_VERDICT_CONTENT_REJECT, 1, 0, NULL, MX_VERDICT_REJECT,
			MX_AUTH_FAIL, "550 5.7.1 Message content rejected", "5.7.1" },
		{ MX_VERDICT_CONTENT_REJECT, 1, 250, "2.0.0 ok", MX_VERDICT_REJECT,
			MX_AUTH_FAIL, "550 5.7.1 Message content rejected", "5.7.1" },
	};
	char buf[128];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mx_verdict v;

		mx_verdict_init(&v);
		/* A stale action is recomputed, never kept. */
		v.action = MX_VERDICT_TEMPFAIL;
		mx_verdict_set_content(&v, cases[i].content, cases[i].score,
				cases[i].code, cases[i].text);
		mx_verdict_compose(&v);
		assert_int_equal(v.action, cases[i].action);
		assert_int_equal(v.content, cases[i].word);
		assert_int_equal(v.content_score, cases[i].score);
		n = mx_verdict_reply_format(&v.reply, buf, sizeof(buf));
		assert_int_equal(n, strlen(cases[i].reply));
		assert_string_equal(buf, cases[i].reply);
		assert_string_equal(v.reply.enhanced, cases[i].enhanced);
	}
}

/* Sender authentication through compose: each mode, pct's outcome (the
 * disposition), temperror under both policies, and the strongest action
 * winning over content. */
static void
test_compose_auth(void **state)
{
	enum { OFF = MX_VERDICT_MODE_OFF, REC = MX_VERDICT_MODE_RECORD,
		ENF = MX_VERDICT_MODE_ENFORCE };
	enum { DN = MX_VERDICT_DMARC_NONE, DQ = MX_VERDICT_DMARC_QUARANTINE,
		DR = MX_VERDICT_DMARC_REJECT };
	static const struct {
		int spf_mode, dmarc_mode;
		bool tempfail;
		enum mx_auth_result spf, dmarc;
		int disposition;
		enum mx_verdict_content content;
		const char *exp;
		enum mx_verdict_action action;
		const char *reply;
	} t[] = {
		/* Off and record never change the action. */
		{ OFF, OFF, true, MX_AUTH_FAIL, MX_AUTH_FAIL, DR, 0, NULL, MX_VERDICT_ACCEPT, "" },
		{ REC, REC, false, MX_AUTH_FAIL, MX_AUTH_FAIL, DR, 0, NULL, MX_VERDICT_ACCEPT, "" },
		{ REC, REC, true, MX_AUTH_TEMPERROR, MX_AUTH_TEMPERROR, DN, 0, NULL,
			MX_VERDICT_ACCEPT, "" },
		/* SPF enforce: fail is 550 5.7.23 with the explanation. */
		{ ENF, OFF, false, MX_AUTH_FAIL, MX_AUTH_NONE, DN, 0, "Not authorized by example.org",
			MX_VERDICT_REJECT, "550 5.7.23 SPF validation failed: Not authorized by example.org" },
		{ ENF, OFF, false, MX_AUTH_FAIL, MX_AUTH_NONE, DN, 0, NULL,
			MX_VERDICT_REJECT, "550 5.7.23 SPF validation failed" },
		{ ENF, OFF, false, MX_AUTH_SOFTFAIL, MX_AUTH_NONE, DN, 0, NULL, MX_VERDICT_ACCEPT, "" },
		{ ENF, OFF, false, MX_AUTH_PASS, MX_AUTH_NONE, DN, 0, NULL, MX_VERDICT_ACCEPT, "" },
		/* DMARC enforce: reject only when the disposition (after
		 * pct=) is reject; sampled out (disposition none) passes. */
		{ OFF, ENF, false, MX_AUTH_NONE, MX_AUTH_FAIL, DR, 0, NULL, MX_VERDICT_REJECT,
			"550 5.7.1 Message rejected by the DMARC policy of example.org" },
		{ OFF, ENF, false, MX_AUTH_NONE, MX_AUTH_FAIL, DN, 0, NULL, MX_VERDICT_ACCEPT, "" },
		{ OFF, ENF, false, MX_AUTH_NONE, MX_AUTH_PASS, DR, 0, NULL, MX_VERDICT_ACCEPT, "" },
		{ OFF, ENF, false, MX_AUTH_NONE, MX_AUTH_FAIL, DQ, 0, NULL,
			MX_VERDICT_QUARANTINE, "" },
		/* temperror: accept or 451 4.4.3, enforce checks only. */
		{ ENF, OFF, false, MX_AUTH_TEMPERROR, MX_AUTH_NONE, DN, 0, NULL, MX_VERDICT_ACCEPT, "" },
		{ ENF, OFF, true, MX_AUTH_TEMPERROR, MX_AUTH_NONE, DN, 0, NULL, MX_VERDICT_TEMPFAIL,
			"451 4.4.3 Temporary DNS failure checking the sender, try again later" },
		{ OFF, ENF, true, MX_AUTH_NONE, MX_AUTH_TEMPERROR, DN, 0, NULL, MX_VERDICT_TEMPFAIL,
			"451 4.4.3 Temporary DNS failure checking the sender, try again later" },
		/* Content reject wins over an auth quarantine or tempfail. */
		{ OFF, ENF, false, MX_AUTH_NONE, MX_AUTH_FAIL, DQ, MX_VERDICT_CONTENT_REJECT, NULL,
			MX_VERDICT_REJECT, "554 5.7.1 Phishing" },
		{ OFF, ENF, true, MX_AUTH_NONE, MX_AUTH_TEMPERROR, DN, MX_VERDICT_CONTENT_REJECT,
			NULL, MX_VERDICT_REJECT, "554 5.7.1 Phishing" },
		/* An auth reject wins over a content quarantine; of two
		 * rejects the first (SPF, then DMARC) keeps its reply. */
		{ OFF, ENF, false, MX_AUTH_NONE, MX_AUTH_FAIL, DR, MX_VERDICT_CONTENT_QUARANTINE, NULL,
			MX_VERDICT_REJECT, "550 5.7.1 Message rejected by the DMARC policy of example.org" },
		{ ENF, ENF, false, MX_AUTH_FAIL, MX_AUTH_FAIL, DR, MX_VERDICT_CONTENT_REJECT, NULL,
			MX_VERDICT_REJECT, "550 5.7.23 SPF validation failed" },
		{ OFF, ENF, false, MX_AUTH_NONE, MX_AUTH_FAIL, DR, MX_VERDICT_CONTENT_REJECT, NULL,
			MX_VERDICT_REJECT, "550 5.7.1 Message rejected by the DMARC policy of example.org" },
	};
	char buf[256];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct mx_verdict v;

		mx_verdict_init(&v);
		v.spf = t[i].spf;
		v.dmarc = t[i].dmarc;
		v.auth.spf_mode = (enum mx_verdict_mode)t[i].spf_mode;
		v.auth.dmarc_mode = (enum mx_verdict_mode)t[i].dmarc_mode;
		v.auth.temperror_tempfail = t[i].tempfail;
		v.auth.dmarc_disposition = (enum mx_verdict_dmarc)t[i].disposition;
		v.auth.spf_explanation = t[i].exp;
		v.auth.from_domain = "example.org";
		mx_verdict_set_content(&v, t[i].content, 5, 554, "5.7.1 Phishing");
		mx_verdict_compose(&v);
		mx_verdict_reply_format(&v.reply, buf, sizeof(buf));
		if (v.action != t[i].action || strcmp(buf, t[i].reply) != 0)
			fail_msg("case %zu: %s '%s'", i, mx_verdict_action_name(v.action), buf);
	}
}

static void
test_reply_format_bounds(void **state)
{
	struct mx_verdict_reply r = { 554, "5.7.1", "Phishing" };
	char small[8];

	(void)state;
	/* Truncated but terminated; the length needed is returned. */
	assert_int_equal(mx_verdict_reply_format(&r, small, sizeof(small)), 18);
	assert_string_equal(small, "554 5.7");
	memset(&r, 0, sizeof(r));
	assert_int_equal(mx_verdict_reply_format(&r, small, sizeof(small)), 0);
	assert_string_equal(small, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_json_checks),
		cmocka_unit_test(test_compose),
		cmocka_unit_test(test_compose_auth),
		cmocka_unit_test(test_reply_format_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
