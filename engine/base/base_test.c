/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of mx_base: SipHash against the reference vectors of the
 * SipHash paper, printable escaping and truncation, address parsing and
 * formatting (table-driven), and the date formats.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mx_base.h"

static void
test_siphash_vectors(void **state)
{
	/* Appendix A of the SipHash paper: key 00..0f, messages 00..(n-1). */
	static const uint64_t expect[] = {
		0x726fdb47dd0e0e31ULL, 0x74f839c593dc67fdULL,
		0x0d6c8009d9a94f5aULL, 0x85676696d7fb7e2dULL,
		0xcf2794e0277187b7ULL, 0x18765564cd99a68dULL,
		0xcbc9466e58fee3ceULL, 0xab0200f58b01d137ULL,
		0x93f5f5799a932462ULL, 0x9e0082df0ba9e4b0ULL,
		0x7a5dbbc594ddb9f3ULL, 0xf4b32f46226bada7ULL,
		0x751e8fbc860ee5fbULL, 0x14ea5627c0843d90ULL,
		0xf723ca908e7af2eeULL, 0xa129ca6149be45e5ULL,
	};
	uint8_t key[16], msg[16];

	(void)state;
	for (int i = 0; i < 16; i++)
		key[i] = msg[i] = (uint8_t)i;
	for (size_t n = 0; n < MX_ARRAY_SIZE(expect); n++)
		assert_int_equal(mx_siphash(key, msg, n), expect[n]);
}

static void
test_secret_key_stable(void **state)
{
	(void)state;
	assert_ptr_equal(mx_secret_key(), mx_secret_key());
}

static void
test_printable(void **state)
{
	static const struct {
		const char *in;
		size_t in_len;
		size_t size;
		const char *out;
	} cases[] = {
		{ "hello", 5, 64, "hello" },
		{ "a\r\nb", 4, 64, "a\\x0d\\x0ab" },
		{ "\\", 1, 64, "\\\\" },
		{ "\xff\x00", 2, 64, "\\xff\\x00" },
		{ "abcdefghij", 10, 8, "abcd..." },
		{ "abc", 3, 4, "abc" },
		{ "abcd", 4, 4, "..." },
		{ "", 0, 1, "" },
	};

	(void)state;
	for (size_t i = 0; i < MX_ARRAY_SIZE(cases); i++) {
		char buf[64];

		mx_printable(buf, cases[i].size, cases[i].in, cases[i].in_len);
		assert_string_equal(buf, cases[i].out);
		assert_true(strlen(buf) < cases[i].size);
	}
}

static void
test_addr_parse(void **state)
{
	static const struct {
		const char *in;
		int def_port;
		int rc;
		const char *fmt;
	} cases[] = {
		{ "127.0.0.1:25", -1, 0, "127.0.0.1:25" },
		{ "198.18.0.1:65535", -1, 0, "198.18.0.1:65535" },
		{ "[::1]:2525", -1, 0, "[::1]:2525" },
		{ "[2001:db8::1]", 25, 0, "[2001:db8::1]:25" },
		{ "2001:db8::1", 25, 0, "[2001:db8::1]:25" },
		{ "10.0.0.1", 587, 0, "10.0.0.1:587" },
		{ "10.0.0.1", -1, -22, NULL },
		{ "127.0.0.1:65536", -1, -22, NULL },
		{ "127.0.0.1:", -1, -22, NULL },
		{ "127.0.0.1:2x", -1, -22, NULL },
		{ "256.0.0.1:25", -1, -22, NULL },
		{ "[::1:25", -1, -22, NULL },
		{ "[::1]x25", -1, -22, NULL },
		{ "host.example:25", -1, -22, NULL },
		{ "", 25, -22, NULL },
		{ "[]:25", -1, -22, NULL },
	};

	(void)state;
	for (size_t i = 0; i < MX_ARRAY_SIZE(cases); i++) {
		struct mx_addr a;
		char buf[64];
		int rc = mx_addr_parse(cases[i].in, cases[i].def_port, &a);

		assert_int_equal(rc, cases[i].rc);
		if (rc != 0)
			continue;
		mx_addr_format(&a, true, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].fmt);
	}
}

static void
test_addr_eq(void **state)
{
	struct mx_addr a, b, c;

	(void)state;
	assert_int_equal(mx_addr_parse("10.0.0.1:25", -1, &a), 0);
	assert_int_equal(mx_addr_parse("10.0.0.1:26", -1, &b), 0);
	assert_int_equal(mx_addr_parse("[::ffff:10.0.0.1]:25", -1, &c), 0);
	assert_true(mx_addr_eq_ip(&a, &b));
	assert_false(mx_addr_eq_ip(&a, &c));
}

static void
test_dates(void **state)
{
	char buf[64];

	(void)state;
	mx_rfc5322_date(buf, sizeof(buf), 1700000000);
	assert_string_equal(buf, "Tue, 14 Nov 2023 22:13:20 +0000");
	mx_iso8601_ms(buf, sizeof(buf), 1700000000123ULL);
	assert_string_equal(buf, "2023-11-14T22:13:20.123Z");
	assert_true(mx_clock_ms() > 0);
	assert_true(mx_clock_us() >= mx_clock_ms());
}

static void
test_str_icase(void **state)
{
	struct mx_str s = MX_STR("MAIL FROM:<a@b>");

	(void)state;
	assert_true(mx_str_iprefix(s, "mail from:"));
	assert_false(mx_str_iprefix(s, "rcpt to:"));
	assert_true(mx_str_ieq(MX_STR("eHlO"), "EHLO"));
	assert_false(mx_str_ieq(MX_STR("EHLO "), "EHLO"));
}

/* The layout mx_slots_map promises: when both parts are whole pages, the
 * last share bytes of every a part and the start of its b part lie in
 * one page, and a_home is where that tail begins; otherwise no offset.
 * Every slot is writable. */
static void
test_slots_layout(void **state)
{
	static const struct {
		size_t a, b, n, share;
		bool shared;
	} t[] = {
		{ 65536, 65536, 3, 3072, true },
		{ 8192, 4096, 5, 1024, true },
		{ 65536, 4000, 2, 3072, false },
		{ 1000, 4096, 2, 512, false },
		{ 4096, 4096, 2, 4096, false },
	};
	long page = sysconf(_SC_PAGESIZE);

	(void)state;
	for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		struct mx_slots s;

		assert_int_equal(mx_slots_map(&s, t[k].a, t[k].b, t[k].n, t[k].share), 0);
		for (size_t i = 0; i < t[k].n; i++) {
			uint8_t *a = s.base + i * (t[k].a + t[k].b);

			memset(a, (int)i, t[k].a + t[k].b);
			if (t[k].shared) {
				assert_int_equal(s.a_home, t[k].a - t[k].share);
				assert_int_equal((uintptr_t)(a + s.a_home) / (uintptr_t)page,
						(uintptr_t)(a + t[k].a + (size_t)page -
							t[k].share - 1) / (uintptr_t)page);
			} else {
				assert_int_equal(s.a_home, 0);
				assert_ptr_equal(s.base, s.map);
			}
		}
		mx_slots_unmap(&s);
		assert_null(s.map);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_vectors),
		cmocka_unit_test(test_secret_key_stable),
		cmocka_unit_test(test_printable),
		cmocka_unit_test(test_addr_parse),
		cmocka_unit_test(test_addr_eq),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_str_icase),
		cmocka_unit_test(test_slots_layout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
