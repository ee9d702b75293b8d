/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of mx_json: structure and commas, RFC 8259 escaping,
 * invalid UTF-8 replaced by U+FFFD (table-driven), overflow never writes
 * past the buffer and is reported.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mx_base.h"
#include "mx_json.h"

static void
test_structure(void **state)
{
	char buf[256];
	struct mx_json j;

	(void)state;
	mx_json_init(&j, buf, sizeof(buf));
	mx_json_obj_open(&j, NULL);
	mx_json_cstr(&j, "a", "x");
	mx_json_u64(&j, "n", 18446744073709551615ULL);
	mx_json_arr_open(&j, "l");
	mx_json_cstr(&j, NULL, "p");
	mx_json_i64(&j, NULL, -5);
	mx_json_bool(&j, NULL, false);
	mx_json_null(&j, NULL);
	mx_json_arr_close(&j);
	mx_json_obj_open(&j, "o");
	mx_json_obj_close(&j);
	mx_json_ms(&j, "t", 12345);
	mx_json_cstr(&j, "z", NULL);
	mx_json_obj_close(&j);
	assert_true(mx_json_ok(&j));
	assert_string_equal(buf, "{\"a\":\"x\",\"n\":18446744073709551615,"
			"\"l\":[\"p\",-5,false,null],\"o\":{},\"t\":12.345,\"z\":null}");
	assert_int_equal(mx_json_len(&j), strlen(buf));
}

/* Numbers are formatted without printf: the edges of each form. */
static void
test_numbers(void **state)
{
	static const struct {
		char kind; /* u, i, m */
		uint64_t u;
		int64_t i;
		const char *out;
	} t[] = {
		{ 'u', 0, 0, "0" },
		{ 'u', 10, 0, "10" },
		{ 'u', UINT64_MAX, 0, "18446744073709551615" },
		{ 'i', 0, 0, "0" },
		{ 'i', 0, INT64_MAX, "9223372036854775807" },
		{ 'i', 0, INT64_MIN, "-9223372036854775808" },
		{ 'i', 0, -1, "-1" },
		{ 'm', 0, 0, "0.000" },
		{ 'm', 7, 0, "0.007" },
		{ 'm', 1000, 0, "1.000" },
		{ 'm', 1234567, 0, "1234.567" },
		{ 'm', UINT64_MAX, 0, "18446744073709551.615" },
	};

	(void)state;
	for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		char buf[64];
		struct mx_json j;

		mx_json_init(&j, buf, sizeof(buf));
		if (t[k].kind == 'u')
			mx_json_u64(&j, NULL, t[k].u);
		else if (t[k].kind == 'i')
			mx_json_i64(&j, NULL, t[k].i);
		else
			mx_json_ms(&j, NULL, t[k].u);
		if (strcmp(buf, t[k].out) != 0)
			fail_msg("number %zu: got %s, want %s", k, buf, t[k].out);
	}
}

static void
test_escaping(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} cases[] = {
		{ "plain", 5, "\"plain\"" },
		{ "q\"b\\", 4, "\"q\\\"b\\\\\"" },
		{ "\r\n\t\x01\x7f", 5, "\"\\u000d\\u000a\\u0009\\u0001\\u007f\"" },
		{ "\0x", 2, "\"\\u0000x\"" },
		{ "caf\xc3\xa9", 5, "\"caf\xc3\xa9\"" },
		{ "\xe2\x82\xac", 3, "\"\xe2\x82\xac\"" },
		{ "\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\"" },
		{ "\xff", 1, "\"\\ufffd\"" },
		{ "\xc0\xaf", 2, "\"\\ufffd\\ufffd\"" },           /* overlong '/' */
		{ "\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"" }, /* surrogate */
		{ "\xe2\x82", 2, "\"\\ufffd\\ufffd\"" },           /* truncated */
		{ "\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },
	};

	(void)state;
	for (size_t i = 0; i < MX_ARRAY_SIZE(cases); i++) {
		char buf[128];
		struct mx_json j;

		mx_json_init(&j, buf, sizeof(buf));
		mx_json_str(&j, NULL, cases[i].in, cases[i].len);
		assert_true(mx_json_ok(&j));
		assert_string_equal(buf, cases[i].out);
	}
}

static void
test_overflow(void **state)
{
	char buf[16];
	struct mx_json j;

	(void)state;
	memset(buf, 'X', sizeof(buf));
	mx_json_init(&j, buf, 10);
	mx_json_obj_open(&j, NULL);
	mx_json_cstr(&j, "key", "a long value");
	mx_json_obj_close(&j);
	assert_false(mx_json_ok(&j));
	assert_true(mx_json_len(&j) < 10);
	assert_int_equal(buf[10], 'X');
	assert_int_equal(buf[mx_json_len(&j)], '\0');
}

static void
test_unbalanced(void **state)
{
	char buf[64];
	struct mx_json j;

	(void)state;
	mx_json_init(&j, buf, sizeof(buf));
	mx_json_obj_open(&j, NULL);
	assert_false(mx_json_ok(&j));
	mx_json_obj_close(&j);
	assert_true(mx_json_ok(&j));
	mx_json_obj_close(&j);
	assert_false(mx_json_ok(&j));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_unbalanced),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
