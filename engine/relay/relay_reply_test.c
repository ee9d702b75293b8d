/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * relay_reply_test: the downstream reply parser and the EHLO keyword
 * reader, table-driven. Every parser case is run whole and again with the
 * input split at every byte offset (STYLE 2.11), and must give the same
 * result both ways.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mx_relay.h"

struct reply_case {
	const char *name;
	const char *in;
	enum mx_rc rc;        /* the first non-AGAIN result */
	int code;             /* when MX_OK */
	unsigned n_lines;
	const char *esc;
	const char *text;     /* first line's text */
	const char *msg;      /* text after the enhanced code */
	size_t used;          /* bytes consumed up to that result; 0: all */
	size_t len;           /* input length; 0: strlen(in) */
};

/* 506 bytes of text: "250 " + text + CRLF is the 512-byte maximum. */
#define LONG_TEXT_506 \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
	"xxxxxx"

static const struct reply_case reply_cases[] = {
	{ "single", "250 OK\r\n", MX_OK, 250, 1, "", "OK", "OK", 0, 0 },
	{ "no text", "250\r\n", MX_OK, 250, 1, "", "", "", 0, 0 },
	{ "empty text", "354 \r\n", MX_OK, 354, 1, "", "", "", 0, 0 },
	{ "esc", "550 5.1.1 No such user\r\n", MX_OK, 550, 1, "5.1.1",
		"5.1.1 No such user", "No such user", 0, 0 },
	{ "esc only", "250 2.0.0\r\n", MX_OK, 250, 1, "2.0.0", "2.0.0", "", 0, 0 },
	{ "esc wide", "451 4.123.456 later\r\n", MX_OK, 451, 1, "4.123.456",
		"4.123.456 later", "later", 0, 0 },
	{ "esc class mismatch", "550 4.1.1 odd\r\n", MX_OK, 550, 1, "",
		"4.1.1 odd", "4.1.1 odd", 0, 0 },
	{ "esc too many digits", "550 5.1234.1 odd\r\n", MX_OK, 550, 1, "",
		"5.1234.1 odd", "5.1234.1 odd", 0, 0 },
	{ "esc glued", "550 5.1.1x odd\r\n", MX_OK, 550, 1, "", "5.1.1x odd",
		"5.1.1x odd", 0, 0 },
	{ "multi", "250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n", MX_OK,
		250, 3, "", "mx.example", "mx.example", 0, 0 },
	{ "multi empty cont", "220-\r\n220 hi\r\n", MX_OK, 220, 2, "", "", "", 0, 0 },
	{ "next reply stays", "250 a\r\n250 b\r\n", MX_OK, 250, 1, "", "a", "a", 7, 0 },
	{ "utf8 text", "250 caf\xc3\xa9\r\n", MX_OK, 250, 1, "", "caf\xc3\xa9",
		"caf\xc3\xa9", 0, 0 },
	{ "tab in text", "250 a\tb\r\n", MX_OK, 250, 1, "", "a\tb", "a\tb", 0, 0 },
	{ "max line", "250 " LONG_TEXT_506 "\r\n", MX_OK, 250, 1, "", LONG_TEXT_506,
		LONG_TEXT_506, 0, 0 },
	/* malformed */
	{ "bare LF", "250 OK\n", MX_INVALID, 0, 0, NULL, NULL, NULL, 0, 0 },
	{ "short", "25\r\n", MX_INVALID, 0, 0, NULL, NULL, NULL, 0, 0 },
	{ "letters", "ABC OK\r\n", MX_INVALID, 0, 0, NULL, NULL, NULL, 0, 0 },
	{ "code 1yz", "199 x\r\n", MX_INVALID, 0, 0, NULL, NULL, NULL, 0, 0 },
	{ "code 6yz", "650 x\r\n", MX_INVALID, 0, 0, NULL, NULL, NULL, 0, 0 },
	{ "second digit 6", "260 x\r\n", MX_INVALID, 0, 0, NULL, NULL, NULL, 0, 0 },
	{ "missing sep", "250OK\r\n", MX_INVALID, 0, 0, NULL, NULL, NULL, 0, 0 },
	{ "wrong sep", "250_OK\r\n", MX_INVALID, 0, 0, NULL, NULL, NULL, 0, 0 },
	{ "four digits", "2500 OK\r\n", MX_INVALID, 0, 0, NULL, NULL, NULL, 0, 0 },
	{ "mixed codes", "250-a\r\n251 b\r\n", MX_INVALID, 0, 0, NULL, NULL, NULL, 0, 0 },
	{ "mixed class", "250-a\r\n550 b\r\n", MX_INVALID, 0, 0, NULL, NULL, NULL, 0, 0 },
	{ "NUL in text", "250 a\0b\r\n", MX_INVALID, 0, 0, NULL, NULL, NULL, 0, 9 },
	{ "CR in text", "250 a\rb\r\n", MX_INVALID, 0, 0, NULL, NULL, NULL, 0, 0 },
	{ "DEL in text", "250 a\x7f\r\n", MX_INVALID, 0, 0, NULL, NULL, NULL, 0, 0 },
	{ "empty line", "\r\n", MX_INVALID, 0, 0, NULL, NULL, NULL, 0, 0 },
	{ "overlong", "250 " LONG_TEXT_506 "x\r\n", MX_TOOLONG, 0, 0, NULL, NULL, NULL,
		0, 0 },
};

/* Runs the parser over in, split into pieces at the offsets given (a
 * piece boundary at every split offset), up to the first result that is
 * not MX_AGAIN. */
static enum mx_rc
run_split(struct mx_relay_reply *rp, const char *in, size_t len, size_t split,
		size_t *consumed)
{
	size_t off = 0, end, used;
	enum mx_rc rc = MX_AGAIN;

	mx_relay_reply_init(rp);
	*consumed = 0;
	while (off < len) {
		end = split != 0 && off < split ? split : len;
		rc = mx_relay_reply_parse(rp, (const uint8_t *)in + off, end - off, &used);
		assert_true(used >= 1);
		assert_true(used <= end - off);
		off += used;
		*consumed = off;
		if (rc != MX_AGAIN)
			return rc;
	}
	return rc;
}

static size_t
case_len(const struct reply_case *tc)
{
	/* "NUL in text" carries its NUL inside the literal. */
	return tc->len != 0 ? tc->len : strlen(tc->in);
}

static void
check_case(const struct reply_case *tc, size_t split)
{
	struct mx_relay_reply rp;
	size_t len = case_len(tc), consumed;
	size_t want_used = tc->used != 0 ? tc->used : len;
	enum mx_rc rc;

	rc = run_split(&rp, tc->in, len, split, &consumed);
	if (rc != tc->rc)
		fail_msg("%s (split %zu): rc %d, want %d", tc->name, split, rc, tc->rc);
	if (consumed != want_used)
		fail_msg("%s (split %zu): used %zu, want %zu", tc->name, split,
				consumed, want_used);
	if (tc->rc != MX_OK)
		return;
	assert_int_equal(rp.code, tc->code);
	assert_int_equal(rp.n_lines, tc->n_lines);
	assert_string_equal(rp.esc, tc->esc);
	assert_int_equal(rp.text_len, strlen(tc->text));
	assert_memory_equal(rp.text, tc->text, rp.text_len);
	assert_true(rp.msg_off <= rp.text_len);
	assert_int_equal(rp.text_len - rp.msg_off, strlen(tc->msg));
	assert_memory_equal(rp.text + rp.msg_off, tc->msg, strlen(tc->msg));
}

static void
test_reply_table(void **state)
{
	for (size_t i = 0; i < MX_ARRAY_SIZE(reply_cases); i++)
		check_case(&reply_cases[i], 0);
}

static void
test_reply_every_split(void **state)
{
	for (size_t i = 0; i < MX_ARRAY_SIZE(reply_cases); i++) {
		size_t len = case_len(&reply_cases[i]);

		for (size_t split = 1; split < len; split++)
			check_case(&reply_cases[i], split);
	}
}

/* Byte by byte: every call takes exactly one byte. */
static void
test_reply_byte_by_byte(void **state)
{
	const char *in = "250-first\r\n250-PIPELINING\r\n250 last\r\n";
	struct mx_relay_reply rp;
	unsigned lines = 0;
	size_t used;
	enum mx_rc rc = MX_AGAIN;

	mx_relay_reply_init(&rp);
	for (size_t i = 0; in[i] != '\0'; i++) {
		rc = mx_relay_reply_parse(&rp, (const uint8_t *)in + i, 1, &used);
		assert_int_equal(used, 1);
		if (rp.line_ready)
			lines++;
		if (in[i + 1] != '\0')
			assert_int_equal(rc, MX_AGAIN);
	}
	assert_int_equal(rc, MX_OK);
	assert_int_equal(lines, 3);
	assert_int_equal(rp.n_lines, 3);
	assert_int_equal(rp.line.len, 4);
	assert_memory_equal(rp.line.p, "last", 4);
}

/* The line view walks the lines of an EHLO reply in order. */
static void
test_reply_lines(void **state)
{
	const char *in = "250-mx.example greets you\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n";
	const char *want[] = { "mx.example greets you", "PIPELINING", "SIZE 1000", "8BITMIME" };
	struct mx_relay_reply rp;
	size_t off = 0, len = strlen(in), used;
	unsigned n = 0;
	enum mx_rc rc = MX_AGAIN;

	mx_relay_reply_init(&rp);
	while (off < len) {
		rc = mx_relay_reply_parse(&rp, (const uint8_t *)in + off, len - off, &used);
		off += used;
		assert_true(rp.line_ready);
		assert_true(n < MX_ARRAY_SIZE(want));
		assert_int_equal(rp.line.len, strlen(want[n]));
		assert_memory_equal(rp.line.p, want[n], rp.line.len);
		n++;
	}
	assert_int_equal(rc, MX_OK);
	assert_int_equal(n, 4);
}

/* A complete reply leaves the next (pipelined) one intact, and the
 * parser starts over cleanly for it. */
static void
test_reply_pipelined(void **state)
{
	const char *in = "250 2.1.0 Ok\r\n550 5.1.1 nope\r\n354 go\r\n";
	const int codes[] = { 250, 550, 354 };
	const char *esc[] = { "2.1.0", "5.1.1", "" };
	struct mx_relay_reply rp;
	size_t off = 0, len = strlen(in), used;
	unsigned n = 0;
	enum mx_rc rc;

	mx_relay_reply_init(&rp);
	while (off < len && n < 3) {
		rc = mx_relay_reply_parse(&rp, (const uint8_t *)in + off, len - off, &used);
		off += used;
		assert_int_equal(rc, MX_OK);
		assert_int_equal(rp.code, codes[n]);
		assert_int_equal(rp.n_lines, 1);
		assert_string_equal(rp.esc, esc[n]);
		n++;
	}
	assert_int_equal(n, 3);
	assert_int_equal(off, len);
}

/* 100 lines is the bound: the 100th line must end the reply. */
static void
test_reply_line_count(void **state)
{
	struct mx_relay_reply rp;
	size_t used;
	enum mx_rc rc = MX_AGAIN;

	for (int pass = 0; pass < 2; pass++) {
		mx_relay_reply_init(&rp);
		for (unsigned i = 1; i < MX_RELAY_REPLY_LINES_MAX; i++) {
			rc = mx_relay_reply_parse(&rp, (const uint8_t *)"250-x\r\n", 7, &used);
			assert_int_equal(rc, MX_AGAIN);
		}
		if (pass == 0) {
			rc = mx_relay_reply_parse(&rp, (const uint8_t *)"250 x\r\n", 7, &used);
			assert_int_equal(rc, MX_OK);
			assert_int_equal(rp.n_lines, MX_RELAY_REPLY_LINES_MAX);
		} else {
			rc = mx_relay_reply_parse(&rp, (const uint8_t *)"250-x\r\n", 7, &used);
			assert_int_equal(rc, MX_TOOLONG);
			/* resynchronised: a new reply parses */
			rc = mx_relay_reply_parse(&rp, (const uint8_t *)"221 bye\r\n", 9, &used);
			assert_int_equal(rc, MX_OK);
			assert_int_equal(rp.code, 221);
			assert_int_equal(rp.n_lines, 1);
		}
	}
}

/* An overlong line without LF in sight is reported at once, then skipped
 * up to its LF, after which parsing resumes. */
static void
test_reply_overlong_resync(void **state)
{
	char big[2000];
	struct mx_relay_reply rp;
	size_t used;
	enum mx_rc rc;

	memset(big, 'y', sizeof(big));
	memcpy(big, "250 ", 4);
	mx_relay_reply_init(&rp);
	rc = mx_relay_reply_parse(&rp, (const uint8_t *)big, 300, &used);
	assert_int_equal(rc, MX_AGAIN);
	assert_int_equal(used, 300);
	rc = mx_relay_reply_parse(&rp, (const uint8_t *)big + 300, 1000, &used);
	assert_int_equal(rc, MX_TOOLONG);
	assert_int_equal(used, 1000);
	rc = mx_relay_reply_parse(&rp, (const uint8_t *)"zz\r\n421 x\r\n", 11, &used);
	assert_int_equal(rc, MX_AGAIN);
	assert_int_equal(used, 4);
	rc = mx_relay_reply_parse(&rp, (const uint8_t *)"421 x\r\n", 7, &used);
	assert_int_equal(rc, MX_OK);
	assert_int_equal(rp.code, 421);
}

static void
test_reply_invalid_resync(void **state)
{
	struct mx_relay_reply rp;
	size_t used;

	mx_relay_reply_init(&rp);
	assert_int_equal(mx_relay_reply_parse(&rp, (const uint8_t *)"250-a\r\n", 7, &used),
			MX_AGAIN);
	assert_int_equal(mx_relay_reply_parse(&rp, (const uint8_t *)"garbage\r\n", 9, &used),
			MX_INVALID);
	assert_int_equal(mx_relay_reply_parse(&rp, (const uint8_t *)"500 b\r\n", 7, &used),
			MX_OK);
	assert_int_equal(rp.code, 500);
	assert_int_equal(rp.n_lines, 1);
}

struct caps_case {
	const char *line;
	unsigned flags;
	uint64_t size_max;
};

static const struct caps_case caps_cases[] = {
	{ "PIPELINING", MX_RELAY_CAP_PIPELINING, 0 },
	{ "pipelining", MX_RELAY_CAP_PIPELINING, 0 },
	{ "PIPELINING extra", MX_RELAY_CAP_PIPELINING, 0 },
	{ "PIPELININGX", 0, 0 },
	{ "PIPE", 0, 0 },
	{ "SIZE 10240000", MX_RELAY_CAP_SIZE, 10240000 },
	{ "SIZE", MX_RELAY_CAP_SIZE, 0 },
	{ "SIZE 0", MX_RELAY_CAP_SIZE, 0 },
	{ "SIZE  42 ", MX_RELAY_CAP_SIZE, 42 },
	{ "SIZE 12x", MX_RELAY_CAP_SIZE, 0 },
	{ "SIZE -1", MX_RELAY_CAP_SIZE, 0 },
	{ "SIZE 18446744073709551615", MX_RELAY_CAP_SIZE, UINT64_MAX },
	{ "SIZE 18446744073709551616", MX_RELAY_CAP_SIZE, 0 },
	{ "8BITMIME", MX_RELAY_CAP_8BITMIME, 0 },
	{ "SMTPUTF8", MX_RELAY_CAP_SMTPUTF8, 0 },
	{ "CHUNKING", MX_RELAY_CAP_CHUNKING, 0 },
	{ "STARTTLS", MX_RELAY_CAP_STARTTLS, 0 },
	{ "AUTH PLAIN LOGIN", 0, 0 },
	{ "", 0, 0 },
	{ " PIPELINING", 0, 0 },
};

static void
test_caps_table(void **state)
{
	for (size_t i = 0; i < MX_ARRAY_SIZE(caps_cases); i++) {
		const struct caps_case *tc = &caps_cases[i];
		struct mx_relay_caps caps = { 0, 0 };
		struct mx_str line = { strlen(tc->line), tc->line };

		mx_relay_caps_line(&caps, line);
		if (caps.flags != tc->flags || caps.size_max != tc->size_max)
			fail_msg("caps \"%s\": flags %#x size %llu, want %#x %llu", tc->line,
					caps.flags, (unsigned long long)caps.size_max, tc->flags,
					(unsigned long long)tc->size_max);
	}
}

/* Keywords accumulate over the lines of one EHLO reply. */
static void
test_caps_accumulate(void **state)
{
	const char *lines[] = { "PIPELINING", "SIZE 5000", "8BITMIME", "SMTPUTF8", "CHUNKING" };
	struct mx_relay_caps caps = { 0, 0 };

	for (size_t i = 0; i < MX_ARRAY_SIZE(lines); i++)
		mx_relay_caps_line(&caps, (struct mx_str){ strlen(lines[i]), lines[i] });
	assert_int_equal(caps.flags, MX_RELAY_CAP_PIPELINING | MX_RELAY_CAP_SIZE |
			MX_RELAY_CAP_8BITMIME | MX_RELAY_CAP_SMTPUTF8 | MX_RELAY_CAP_CHUNKING);
	assert_int_equal(caps.size_max, 5000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_table),
		cmocka_unit_test(test_reply_every_split),
		cmocka_unit_test(test_reply_byte_by_byte),
		cmocka_unit_test(test_reply_lines),
		cmocka_unit_test(test_reply_pipelined),
		cmocka_unit_test(test_reply_line_count),
		cmocka_unit_test(test_reply_overlong_resync),
		cmocka_unit_test(test_reply_invalid_resync),
		cmocka_unit_test(test_caps_table),
		cmocka_unit_test(test_caps_accumulate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
