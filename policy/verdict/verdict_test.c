/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of mx_verdict: result names (RFC 8601 words), out-of-range
 * values never index past the tables, and the JSON "checks" member. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_json_checks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
