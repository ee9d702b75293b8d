/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Authentication-Results tests: the composed field (folded and one-line),
 * quoting of hostile values, overflow, and the detection of incoming fields
 * that claim our authserv-id.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "mx_authres.h"

static void
test_format_full(void **state)
{
	const struct mx_authres_dkim dk[] = {
		{ MX_STR("example.com"), MX_STR("s1"), MX_AUTH_PASS },
		{ MX_STR("lists.example.org"), MX_STR("k2"), MX_AUTH_FAIL },
	};
	struct mx_authres a = {
		.authserv_id = MX_STR("mx.example.net"),
		.has_spf = true, .spf = MX_AUTH_PASS, .mailfrom = MX_STR("alice@example.com"),
		.has_helo = true, .helo = MX_AUTH_NONE, .helo_name = MX_STR("mail.example.com"),
		.has_dkim = true, .dkim = dk, .n_dkim = 2,
		.has_dmarc = true, .dmarc = MX_AUTH_PASS, .from_domain = MX_STR("example.com"),
	};
	char buf[512];
	size_t len;

	(void)state;
	assert_int_equal(mx_authres_format(&a, false, buf, sizeof(buf), &len), 0);
	assert_string_equal(buf, "mx.example.net; spf=pass smtp.mailfrom=alice@example.com; "
		"spf=none smtp.helo=mail.example.com; "
		"dkim=pass header.d=example.com header.s=s1; "
		"dkim=fail header.d=lists.example.org header.s=k2; "
		"dmarc=pass header.from=example.com");
	assert_int_equal(len, strlen(buf));
	assert_int_equal(mx_authres_format(&a, true, buf, sizeof(buf), &len), 0);
	assert_string_equal(buf, "Authentication-Results: mx.example.net;\r\n"
		"\tspf=pass smtp.mailfrom=alice@example.com;\r\n"
		"\tspf=none smtp.helo=mail.example.com;\r\n"
		"\tdkim=pass header.d=example.com header.s=s1;\r\n"
		"\tdkim=fail header.d=lists.example.org header.s=k2;\r\n"
		"\tdmarc=pass header.from=example.com\r\n");
}

struct quote_case {
	const char *in;
	const char *out;
};

/* A peer chooses these: none may end the field or add a result. */
static const struct quote_case quote_cases[] = {
	{ "example.com", "x; dkim=none; dmarc=fail header.from=example.com" },
	{ "evil.com; dmarc=pass", "x; dkim=none; dmarc=fail header.from=\"evil.com; dmarc=pass\"" },
	{ "a\r\nX-Injected: 1", "x; dkim=none; dmarc=fail header.from=\"a??X-Injected: 1\"" },
	{ "q\"\\", "x; dkim=none; dmarc=fail header.from=\"q\\\"\\\\\"" },
	{ "", "x; dkim=none; dmarc=fail header.from=\"\"" },
};

static void
test_quoting(void **state)
{
	char buf[256];
	size_t len;
	unsigned i;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(quote_cases); i++) {
		struct mx_authres a = {
			.authserv_id = MX_STR("x"), .has_dkim = true,
			.has_dmarc = true, .dmarc = MX_AUTH_FAIL,
			.from_domain = { strlen(quote_cases[i].in), quote_cases[i].in },
		};

		assert_int_equal(mx_authres_format(&a, false, buf, sizeof(buf), &len), 0);
		assert_string_equal(buf, quote_cases[i].out);
	}
}

static void
test_mailfrom_forms(void **state)
{
	struct mx_authres a = { .authserv_id = MX_STR("x"), .has_spf = true,
		.spf = MX_AUTH_FAIL, .mailfrom = MX_STR("a b@example.com") };
	char buf[128];
	size_t len;

	(void)state;
	assert_int_equal(mx_authres_format(&a, false, buf, sizeof(buf), &len), 0);
	assert_string_equal(buf, "x; spf=fail smtp.mailfrom=\"a b@example.com\"");
	a.mailfrom = MX_STR("a@b@example.com");
	assert_int_equal(mx_authres_format(&a, false, buf, sizeof(buf), &len), 0);
	assert_string_equal(buf, "x; spf=fail smtp.mailfrom=\"a@b@example.com\"");
}

static void
test_none_and_overflow(void **state)
{
	struct mx_authres a = { .authserv_id = MX_STR("mx.example.net") };
	char buf[64];
	size_t len;

	(void)state;
	assert_int_equal(mx_authres_format(&a, false, buf, sizeof(buf), &len), 0);
	assert_string_equal(buf, "mx.example.net; none");
	assert_int_equal(mx_authres_format(&a, true, buf, 10, &len), -ENOSPC);
	assert_int_equal(len, 9);
	assert_int_equal(strlen(buf), 9);
	assert_int_equal(mx_authres_format(&a, true, buf, 0, &len), -ENOSPC);
}

static void
test_find_ours(void **state)
{
	static const char msg[] =
		"Authentication-Results: MX.Example.NET; dkim=pass\r\n"
		"Authentication-Results: other.example; spf=pass\r\n"
		"Authentication-Results: (comment) mx.example.net 1; none\r\n"
		"Authentication-Results: \"mx.example.net\"; dmarc=pass\r\n"
		"Authentication-Results: mx.example.network; none\r\n"
		"authentication-results:mx.example.net;spf=pass\r\n"
		"Subject: mx.example.net\r\n"
		"\r\nbody\r\n";
	struct mx_chunk_pool *pool = NULL;
	struct mx_msg *m = NULL;
	unsigned idx[8];

	(void)state;
	assert_int_equal(mx_chunk_pool_create(16384, 1u << 20, &pool), 0);
	assert_int_equal(mx_msg_create(pool, 100, 65536, &m), 0);
	assert_int_equal(mx_msg_append(m, msg, strlen(msg)), 0);
	mx_msg_finish(m);
	assert_int_equal(mx_authres_find_ours(m, MX_STR("mx.example.net"), idx, 8), 4);
	assert_int_equal(idx[0], 0);
	assert_int_equal(idx[1], 2);
	assert_int_equal(idx[2], 3);
	assert_int_equal(idx[3], 5);
	assert_int_equal(mx_authres_find_ours(m, MX_STR("mx.example.net"), idx, 1), 4);
	assert_int_equal(mx_authres_find_ours(m, MX_STR("nobody"), idx, 8), 0);
	mx_msg_release(m);
	mx_chunk_pool_free(pool);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_full),
		cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_mailfrom_forms),
		cmocka_unit_test(test_none_and_overflow),
		cmocka_unit_test(test_find_ours),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
