/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smtp_parse_test: table-driven tests of the command line reader and the
 * argument parsers (smtp_parse.c). Every line-reader case is re-run with
 * the input split at every byte offset and byte by byte (STYLE 2.11), and
 * every MAIL/RCPT case goes once more through the line reader split at
 * every offset, to prove the result does not depend on how bytes arrive.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mx_msg.h"
#include "mx_smtp.h"

/* ---- line reader ---- */

/* Events as text: "L<line>|" for a line (with "!" before "|" when it
 * ended in a bare LF and "^" when it held a bare CR), "T|" for too long. */
struct events {
	char s[4096];
	size_t len;
};

static void
ev_add(struct events *e, const char *p, size_t n)
{
	assert_true(e->len + n < sizeof(e->s));
	memcpy(e->s + e->len, p, n);
	e->len += n;
	e->s[e->len] = '\0';
}

/* Feeds p[0..n) in pieces cut at the offsets in cuts (ascending). */
static void
line_run(size_t cap, const char *in, size_t n, const size_t *cuts, size_t n_cuts,
		struct events *e)
{
	char buf[600];
	struct mx_smtp_line l;
	size_t start = 0, k;

	assert_true(cap <= sizeof(buf));
	memset(e, 0, sizeof(*e));
	mx_smtp_line_init(&l, buf, cap);
	for (k = 0; k <= n_cuts; k++) {
		size_t end = k < n_cuts ? cuts[k] : n;
		const uint8_t *p = (const uint8_t *)in + start;
		size_t left = end - start;

		while (left > 0) {
			size_t used = 0;
			enum mx_rc rc = mx_smtp_line_feed(&l, p, left, &used);

			assert_true(used >= 1 && used <= left);
			if (rc == MX_OK) {
				ev_add(e, "L", 1);
				ev_add(e, l.text, l.len);
				if (l.bare_lf)
					ev_add(e, "!", 1);
				if (l.bare_cr)
					ev_add(e, "^", 1);
				ev_add(e, "|", 1);
			} else if (rc == MX_TOOLONG) {
				ev_add(e, "T|", 2);
			} else {
				assert_int_equal(rc, MX_AGAIN);
				assert_int_equal(used, left);
			}
			p += used;
			left -= used;
		}
		start = end;
	}
}

struct line_case {
	size_t cap;
	const char *in;
	const char *expect;
};

static const struct line_case line_cases[] = {
	{ 16, "NOOP\r\n", "LNOOP|" },
	{ 16, "NOOP\r\nQUIT\r\n", "LNOOP|LQUIT|" },
	{ 16, "NOOP\n", "LNOOP!|" },
	{ 16, "NO\rOP\r\n", "LNO\rOP^|" },
	{ 16, "NOOP\r\r\n", "LNOOP\r^|" },
	{ 16, "\r\n", "L|" },
	{ 16, "NOOP", "" },
	{ 16, "NOOP\r", "" },
	/* 14 bytes of text + CRLF = 16: fits exactly. */
	{ 16, "abcdefghijklmn\r\n", "Labcdefghijklmn|" },
	/* 15 + CRLF = 17: too long, reported once, tail never a command. */
	{ 16, "abcdefghijklmno\r\nNOOP\r\n", "T|LNOOP|" },
	{ 16, "abcdefghijklmnopqrstuvwxyzQUIT\r\nNOOP\r\n", "T|LNOOP|" },
	{ 16, "abcdefghijklmnopqrst\nQUIT\r\n", "T|LQUIT|" },
	/* A CR at the bound: the CR is text, and too long. */
	{ 16, "abcdefghijklmn\rx\r\nNOOP\r\n", "T|LNOOP|" },
	{ 16, "abcdefghijklmn\r", "" },
	{ 8, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\nRSET\r\n", "T|LRSET|" },
	{ 512, "MAIL FROM:<a@b> SIZE=10\r\nRCPT TO:<c@d>\r\nDATA\r\n",
		"LMAIL FROM:<a@b> SIZE=10|LRCPT TO:<c@d>|LDATA|" },
};

static void
test_line_reader(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(line_cases); i++) {
		const struct line_case *c = &line_cases[i];
		size_t n = strlen(c->in), cut, k;
		struct events e;
		size_t cuts[1024];

		line_run(c->cap, c->in, n, NULL, 0, &e);
		if (strcmp(e.s, c->expect) != 0)
			fail_msg("case %zu: got \"%s\" want \"%s\"", i, e.s, c->expect);
		for (cut = 1; cut < n; cut++) {
			line_run(c->cap, c->in, n, &cut, 1, &e);
			if (strcmp(e.s, c->expect) != 0)
				fail_msg("case %zu split at %zu: got \"%s\"", i, cut, e.s);
		}
		assert_true(n <= MX_ARRAY_SIZE(cuts));
		for (k = 1; k < n; k++)
			cuts[k - 1] = k;
		line_run(c->cap, c->in, n, cuts, n > 0 ? n - 1 : 0, &e);
		if (strcmp(e.s, c->expect) != 0)
			fail_msg("case %zu byte by byte: got \"%s\"", i, e.s);
	}
}

/* ---- verbs ---- */

struct cmd_case {
	const char *line;
	enum mx_rc rc;
	enum mx_smtp_verb verb;
	const char *arg;
};

static const struct cmd_case cmd_cases[] = {
	{ "HELO a.example", MX_OK, MX_SMTP_VERB_HELO, "a.example" },
	{ "EHLO a.example", MX_OK, MX_SMTP_VERB_EHLO, "a.example" },
	{ "ehlo a.example", MX_OK, MX_SMTP_VERB_EHLO, "a.example" },
	{ "eHlO   a.example  ", MX_OK, MX_SMTP_VERB_EHLO, "a.example" },
	{ "MAIL FROM:<a@b>", MX_OK, MX_SMTP_VERB_MAIL, "FROM:<a@b>" },
	{ "mail from:<a@b>", MX_OK, MX_SMTP_VERB_MAIL, "from:<a@b>" },
	{ "RCPT TO:<a@b>", MX_OK, MX_SMTP_VERB_RCPT, "TO:<a@b>" },
	{ "DATA", MX_OK, MX_SMTP_VERB_DATA, "" },
	{ "data", MX_OK, MX_SMTP_VERB_DATA, "" },
	{ "BDAT 10 LAST", MX_OK, MX_SMTP_VERB_BDAT, "10 LAST" },
	{ "RSET", MX_OK, MX_SMTP_VERB_RSET, "" },
	{ "NOOP", MX_OK, MX_SMTP_VERB_NOOP, "" },
	{ "NOOP anything", MX_OK, MX_SMTP_VERB_NOOP, "anything" },
	{ "QUIT", MX_OK, MX_SMTP_VERB_QUIT, "" },
	{ "Quit", MX_OK, MX_SMTP_VERB_QUIT, "" },
	{ "HELP", MX_OK, MX_SMTP_VERB_HELP, "" },
	{ "VRFY root", MX_OK, MX_SMTP_VERB_VRFY, "root" },
	{ "EXPN staff", MX_OK, MX_SMTP_VERB_EXPN, "staff" },
	{ "STARTTLS", MX_OK, MX_SMTP_VERB_STARTTLS, "" },
	{ "starttls", MX_OK, MX_SMTP_VERB_STARTTLS, "" },
	{ "AUTH PLAIN AGFAAGI=", MX_OK, MX_SMTP_VERB_AUTH, "PLAIN AGFAAGI=" },
	{ "TURN", MX_OK, MX_SMTP_VERB_UNKNOWN, "" },
	{ "MAILX FROM:<a@b>", MX_OK, MX_SMTP_VERB_UNKNOWN, "FROM:<a@b>" },
	{ "MAI", MX_OK, MX_SMTP_VERB_UNKNOWN, "" },
	{ "GET / HTTP/1.1", MX_OK, MX_SMTP_VERB_FORBIDDEN, "/ HTTP/1.1" },
	{ "post /x HTTP/1.0", MX_OK, MX_SMTP_VERB_FORBIDDEN, "/x HTTP/1.0" },
	{ "CONNECT a:25 HTTP/1.1", MX_OK, MX_SMTP_VERB_FORBIDDEN, "a:25 HTTP/1.1" },
	{ "Host: mx.example", MX_OK, MX_SMTP_VERB_FORBIDDEN, "mx.example" },
	{ "USER root", MX_OK, MX_SMTP_VERB_FORBIDDEN, "root" },
	{ "FOO /bar http/2", MX_OK, MX_SMTP_VERB_FORBIDDEN, "/bar http/2" },
	{ "", MX_INVALID, MX_SMTP_VERB_UNKNOWN, NULL },
	{ " NOOP", MX_INVALID, MX_SMTP_VERB_UNKNOWN, NULL },
	{ "NO\001OP", MX_INVALID, MX_SMTP_VERB_UNKNOWN, NULL },
	{ "N\xc3\xa9OP", MX_INVALID, MX_SMTP_VERB_UNKNOWN, NULL },
};

static void
test_parse_cmd(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(cmd_cases); i++) {
		const struct cmd_case *c = &cmd_cases[i];
		struct mx_smtp_cmd cmd;
		enum mx_rc rc = mx_smtp_parse_cmd(c->line, strlen(c->line), &cmd);

		if (rc != c->rc || (rc == MX_OK && cmd.verb != c->verb))
			fail_msg("case %zu \"%s\": rc %d verb %d", i, c->line, rc, cmd.verb);
		if (c->arg != NULL && (cmd.arg.len != strlen(c->arg) ||
				memcmp(cmd.arg.p, c->arg, cmd.arg.len) != 0))
			fail_msg("case %zu: arg \"%.*s\"", i, (int)cmd.arg.len, cmd.arg.p);
	}
}

/* ---- paths ---- */

#define MX_STR_C(s) ((struct mx_str){ strlen(s), (s) })
#define LONG_LOCAL "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 64 */

struct path_case {
	const char *in;
	bool allow_null, allow_pm, utf8;
	enum mx_smtp_perr r;
	const char *mailbox;
	const char *domain;
	size_t used;
};

static const struct path_case path_cases[] = {
	{ "<user@example.org>", false, false, false, MX_SMTP_P_OK, "user@example.org", "example.org", 18 },
	{ "<user@example.org> SIZE=1", false, false, false, MX_SMTP_P_OK, "user@example.org", "example.org", 18 },
	{ "<a.b+c@x-y.example>", false, false, false, MX_SMTP_P_OK, "a.b+c@x-y.example", "x-y.example", 19 },
	{ "<!#$%&'*+-/=?^_`{|}~@x.y>", false, false, false, MX_SMTP_P_OK, "!#$%&'*+-/=?^_`{|}~@x.y", "x.y", 25 },
	{ "<>", true, false, false, MX_SMTP_P_OK, "", "", 2 },
	{ "<>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<\"john doe\"@example.org>", false, false, false, MX_SMTP_P_OK, "\"john doe\"@example.org", "example.org", 24 },
	{ "<\"a\\\"b\"@example.org>", false, false, false, MX_SMTP_P_OK, "\"a\\\"b\"@example.org", "example.org", 20 },
	{ "<\"\"@example.org>", false, false, false, MX_SMTP_P_OK, "\"\"@example.org", "example.org", 16 },
	{ "<\"unterminated@example.org>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<\"a\001b\"@example.org>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<u@[192.0.2.1]>", false, false, false, MX_SMTP_P_OK, "u@[192.0.2.1]", "[192.0.2.1]", 15 },
	{ "<u@[256.0.2.1]>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<u@[192.0.2]>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<u@[192.0.2.1.5]>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<u@[IPv6:2001:db8::1]>", false, false, false, MX_SMTP_P_OK, "u@[IPv6:2001:db8::1]", "[IPv6:2001:db8::1]", 22 },
	{ "<u@[ipv6:::ffff:192.0.2.1]>", false, false, false, MX_SMTP_P_OK, "u@[ipv6:::ffff:192.0.2.1]", "[ipv6:::ffff:192.0.2.1]", 27 },
	{ "<u@[IPv6:2001:db8::g]>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<u@[x-tag:some]>", false, false, false, MX_SMTP_P_OK, "u@[x-tag:some]", "[x-tag:some]", 16 },
	{ "<u@[]>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<u@[192.0.2.1>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<@a.example,@b.example:user@d.example>", false, false, false, MX_SMTP_P_OK, "user@d.example", "d.example", 38 },
	{ "<@a.example:user@d.example>", false, false, false, MX_SMTP_P_OK, "user@d.example", "d.example", 27 },
	{ "<@a.example,user@d.example>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<@:user@d.example>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<postmaster>", false, true, false, MX_SMTP_P_OK, "postmaster", "", 12 },
	{ "<PostMaster>", false, true, false, MX_SMTP_P_OK, "PostMaster", "", 12 },
	{ "<postmaster>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<webmaster>", false, true, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "user@example.org", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<user@example.org", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "user@example.org>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "< user@example.org>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<user @example.org>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<user@example .org>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<user@>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<@example.org>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<user>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<.user@example.org>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<us..er@example.org>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<user.@example.org>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<user@-example.org>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<user@example-.org>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<user@example..org>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<user@example.org.>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<user@ex_ample.org>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<a@b@c>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<a\x01@b>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	/* UTF-8 (RFC 6531): local part, U-label, quoted string. */
	{ "<j\xc3\xb6rg@example.org>", false, false, true, MX_SMTP_P_OK, "j\xc3\xb6rg@example.org", "example.org", 19 },
	{ "<j\xc3\xb6rg@example.org>", false, false, false, MX_SMTP_P_UTF8, NULL, NULL, 19 },
	{ "<u@b\xc3\xbc" "cher.example>", false, false, true, MX_SMTP_P_OK, "u@b\xc3\xbc" "cher.example", "b\xc3\xbc" "cher.example", 19 },
	{ "<u@b\xc3\xbc" "cher.example>", false, false, false, MX_SMTP_P_UTF8, NULL, NULL, 19 },
	{ "<\"\xe2\x82\xac\"@x.y>", false, false, true, MX_SMTP_P_OK, "\"\xe2\x82\xac\"@x.y", "x.y", 11 },
	/* Invalid UTF-8 is never a path, with or without SMTPUTF8. */
	{ "<j\xc3rg@example.org>", false, false, true, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<j\xc0\xafrg@example.org>", false, false, true, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	{ "<j\xed\xa0\x80@example.org>", false, false, true, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
	/* A label over 63 octets (RFC 1035 2.3.4). */
	{ "<u@" LONG_LOCAL ".example>", false, false, false, MX_SMTP_P_BAD_PATH, NULL, NULL, 0 },
};

static void
check_str(size_t i, const char *what, struct mx_str got, const char *want)
{
	if (want == NULL)
		return;
	if (got.len != strlen(want) || (got.len > 0 && memcmp(got.p, want, got.len) != 0))
		fail_msg("case %zu: %s \"%.*s\" want \"%s\"", i, what, (int)got.len, got.p, want);
}

static void
test_parse_path(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(path_cases); i++) {
		const struct path_case *c = &path_cases[i];
		struct mx_smtp_path p;
		size_t used = 99;
		enum mx_smtp_perr r = mx_smtp_parse_path(MX_STR_C(c->in), c->allow_null,
				c->allow_pm, c->utf8, &p, &used);

		if (r != c->r)
			fail_msg("case %zu \"%s\": result %d want %d", i, c->in, r, c->r);
		if ((r == MX_SMTP_P_OK || r == MX_SMTP_P_UTF8) && used != c->used)
			fail_msg("case %zu \"%s\": used %zu want %zu", i, c->in, used, c->used);
		if (r != MX_SMTP_P_OK)
			continue;
		check_str(i, "mailbox", p.mailbox, c->mailbox);
		check_str(i, "domain", p.domain, c->domain);
	}
}

/* 256 octets with the brackets is the limit (RFC 5321 4.5.3.1.3):
 * "<" 64-octet local "@" domain ">" with the domain in 60-octet labels. */
static void
test_path_length(void **state)
{
	char buf[400];
	struct mx_smtp_path p;
	size_t used, d, j, len;

	(void)state;
	for (d = 185; d <= 195; d++) {
		len = 0;
		buf[len++] = '<';
		memcpy(buf + len, LONG_LOCAL, 64);
		len += 64;
		buf[len++] = '@';
		for (j = 0; j < d; j++)
			buf[len++] = (j % 61 == 60 && j + 1 < d) ? '.' : 'c';
		buf[len++] = '>';
		enum mx_smtp_perr r = mx_smtp_parse_path((struct mx_str){ len, buf },
				false, false, false, &p, &used);
		if (r != (len <= MX_SMTP_PATH_MAX ? MX_SMTP_P_OK : MX_SMTP_P_PATH_TOO_LONG))
			fail_msg("length %zu: result %d", len, r);
		assert_int_equal(used, len);
	}
}

/* ---- MAIL and RCPT ---- */

struct mail_case {
	const char *arg;
	bool esmtp, chunking;
	enum mx_smtp_perr r;
	const char *mailbox;
	uint64_t size;
	int body;
	bool smtputf8;
};

static const struct mail_case mail_cases[] = {
	{ "FROM:<a@b.example>", true, true, MX_SMTP_P_OK, "a@b.example", 0, MX_BODY_7BIT, false },
	{ "from:<a@b.example>", true, true, MX_SMTP_P_OK, "a@b.example", 0, MX_BODY_7BIT, false },
	{ "FROM: <a@b.example>", true, true, MX_SMTP_P_OK, "a@b.example", 0, MX_BODY_7BIT, false },
	{ "FROM:<>", true, true, MX_SMTP_P_OK, "", 0, MX_BODY_7BIT, false },
	{ "FROM:<> SIZE=1000", false, true, MX_SMTP_P_PARAM, NULL, 0, 0, false },
	{ "FROM:<a@b.example> SIZE=1000", true, true, MX_SMTP_P_OK, "a@b.example", 1000, MX_BODY_7BIT, false },
	{ "FROM:<a@b.example> size=0", true, true, MX_SMTP_P_OK, "a@b.example", 0, MX_BODY_7BIT, false },
	{ "FROM:<a@b.example> SIZE=18446744073709551615", true, true, MX_SMTP_P_OK, "a@b.example", UINT64_MAX, MX_BODY_7BIT, false },
	{ "FROM:<a@b.example> SIZE=99999999999999999999", true, true, MX_SMTP_P_OK, "a@b.example", UINT64_MAX, MX_BODY_7BIT, false },
	{ "FROM:<a@b.example> SIZE=999999999999999999999", true, true, MX_SMTP_P_PARAM, NULL, 0, 0, false },
	{ "FROM:<a@b.example> SIZE=", true, true, MX_SMTP_P_PARAM, NULL, 0, 0, false },
	{ "FROM:<a@b.example> SIZE", true, true, MX_SMTP_P_PARAM, NULL, 0, 0, false },
	{ "FROM:<a@b.example> SIZE=-1", true, true, MX_SMTP_P_PARAM, NULL, 0, 0, false },
	{ "FROM:<a@b.example> SIZE=1k", true, true, MX_SMTP_P_PARAM, NULL, 0, 0, false },
	{ "FROM:<a@b.example> SIZE=1 SIZE=2", true, true, MX_SMTP_P_PARAM, NULL, 0, 0, false },
	{ "FROM:<a@b.example> BODY=8BITMIME", true, true, MX_SMTP_P_OK, "a@b.example", 0, MX_BODY_8BITMIME, false },
	{ "FROM:<a@b.example> BODY=7bit", true, true, MX_SMTP_P_OK, "a@b.example", 0, MX_BODY_7BIT, false },
	{ "FROM:<a@b.example> BODY=BINARYMIME", true, true, MX_SMTP_P_OK, "a@b.example", 0, MX_BODY_BINARYMIME, false },
	{ "FROM:<a@b.example> BODY=BINARYMIME", true, false, MX_SMTP_P_PARAM, NULL, 0, 0, false },
	{ "FROM:<a@b.example> BODY=9BIT", true, true, MX_SMTP_P_PARAM, NULL, 0, 0, false },
	{ "FROM:<a@b.example> BODY=", true, true, MX_SMTP_P_PARAM, NULL, 0, 0, false },
	{ "FROM:<a@b.example> BODY=8BITMIME BODY=7BIT", true, true, MX_SMTP_P_PARAM, NULL, 0, 0, false },
	{ "FROM:<a@b.example> SMTPUTF8", true, true, MX_SMTP_P_OK, "a@b.example", 0, MX_BODY_7BIT, true },
	{ "FROM:<a@b.example> SMTPUTF8=yes", true, true, MX_SMTP_P_PARAM, NULL, 0, 0, false },
	{ "FROM:<a@b.example> SMTPUTF8 SMTPUTF8", true, true, MX_SMTP_P_PARAM, NULL, 0, 0, false },
	{ "FROM:<a@b.example> SIZE=5 BODY=8BITMIME SMTPUTF8", true, true, MX_SMTP_P_OK, "a@b.example", 5, MX_BODY_8BITMIME, true },
	{ "FROM:<a@b.example>  SIZE=5   BODY=8BITMIME", true, true, MX_SMTP_P_OK, "a@b.example", 5, MX_BODY_8BITMIME, false },
	{ "FROM:<a@b.example> RET=FULL", true, true, MX_SMTP_P_PARAM, NULL, 0, 0, false },
	{ "FROM:<a@b.example> X-FOO=bar", true, true, MX_SMTP_P_PARAM, NULL, 0, 0, false },
	{ "FROM:<a@b.example> -X", true, true, MX_SMTP_P_PARAM, NULL, 0, 0, false },
	{ "FROM:<a@b.example> SIZE==1", true, true, MX_SMTP_P_PARAM, NULL, 0, 0, false },
	{ "FROM:<a@b.example> SIZE=1\tBODY=7BIT", true, true, MX_SMTP_P_PARAM, NULL, 0, 0, false },
	{ "FROM:<a@b.example>SIZE=1", true, true, MX_SMTP_P_BAD_PATH, NULL, 0, 0, false },
	{ "FROM:<j\xc3\xb6rg@b.example> SMTPUTF8", true, true, MX_SMTP_P_OK, "j\xc3\xb6rg@b.example", 0, MX_BODY_7BIT, true },
	{ "FROM:<j\xc3\xb6rg@b.example>", true, true, MX_SMTP_P_UTF8, NULL, 0, 0, false },
	{ "FROM:<j\xc3\xb6rg@b.example> SMTPUTF8", false, true, MX_SMTP_P_PARAM, NULL, 0, 0, false },
	{ "FROM:a@b.example", true, true, MX_SMTP_P_BAD_PATH, NULL, 0, 0, false },
	{ "FROM:", true, true, MX_SMTP_P_SYNTAX, NULL, 0, 0, false },
	{ "FROM", true, true, MX_SMTP_P_SYNTAX, NULL, 0, 0, false },
	{ "TO:<a@b.example>", true, true, MX_SMTP_P_SYNTAX, NULL, 0, 0, false },
	{ "", true, true, MX_SMTP_P_SYNTAX, NULL, 0, 0, false },
	{ "FROM:<@r.example:a@b.example>", true, true, MX_SMTP_P_OK, "a@b.example", 0, MX_BODY_7BIT, false },
};

static void
check_mail(size_t i, const struct mail_case *c, struct mx_str arg)
{
	struct mx_smtp_parse_opts o = { c->esmtp, c->chunking };
	struct mx_smtp_mail_args a;
	enum mx_smtp_perr r = mx_smtp_parse_mail(arg, &o, &a);

	if (r != c->r)
		fail_msg("case %zu \"%s\": result %d want %d", i, c->arg, r, c->r);
	if (r != MX_SMTP_P_OK)
		return;
	check_str(i, "mailbox", a.path.mailbox, c->mailbox);
	assert_true(a.path.null_path == (c->mailbox[0] == '\0'));
	assert_int_equal(a.size, c->size);
	assert_int_equal(a.body, c->body);
	assert_int_equal(a.smtputf8, c->smtputf8);
}

/* The full line through the line reader at every split, then the verb and
 * MAIL parsers: every split gives the same answer. */
static void
mail_via_reader(size_t i, const struct mail_case *c)
{
	char in[600], buf[600];
	size_t n = (size_t)snprintf(in, sizeof(in), "MAIL %s\r\n", c->arg), cut;

	for (cut = 0; cut <= n; cut++) {
		struct mx_smtp_line l;
		struct mx_smtp_cmd cmd;
		size_t used = 0, off = 0;
		enum mx_rc rc = MX_AGAIN;

		mx_smtp_line_init(&l, buf, 512);
		if (cut > 0)
			rc = mx_smtp_line_feed(&l, (const uint8_t *)in, cut, &used);
		off = used;
		if (rc != MX_OK)
			rc = mx_smtp_line_feed(&l, (const uint8_t *)in + off, n - off, &used);
		assert_int_equal(rc, MX_OK);
		assert_int_equal(mx_smtp_parse_cmd(l.text, l.len, &cmd), MX_OK);
		assert_int_equal(cmd.verb, MX_SMTP_VERB_MAIL);
		check_mail(i, c, cmd.arg);
	}
}

static void
test_parse_mail(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(mail_cases); i++) {
		check_mail(i, &mail_cases[i], MX_STR_C(mail_cases[i].arg));
		if (mail_cases[i].arg[0] != '\0')
			mail_via_reader(i, &mail_cases[i]);
	}
}

struct rcpt_case {
	const char *arg;
	bool smtputf8;
	enum mx_smtp_perr r;
	const char *mailbox;
	bool postmaster;
};

static const struct rcpt_case rcpt_cases[] = {
	{ "TO:<u@example.org>", false, MX_SMTP_P_OK, "u@example.org", false },
	{ "to:<u@example.org>", false, MX_SMTP_P_OK, "u@example.org", false },
	{ "TO: <u@example.org>", false, MX_SMTP_P_OK, "u@example.org", false },
	{ "TO:<postmaster>", false, MX_SMTP_P_OK, "postmaster", true },
	{ "TO:<Postmaster@example.org>", false, MX_SMTP_P_OK, "Postmaster@example.org", false },
	{ "TO:<>", false, MX_SMTP_P_BAD_PATH, NULL, false },
	{ "TO:<u@example.org> NOTIFY=NEVER", false, MX_SMTP_P_PARAM, NULL, false },
	{ "TO:<u@example.org> ===", false, MX_SMTP_P_PARAM, NULL, false },
	{ "TO:<@relay.example:u@example.org>", false, MX_SMTP_P_OK, "u@example.org", false },
	{ "TO:<\xc3\xbc@example.org>", false, MX_SMTP_P_UTF8, NULL, false },
	{ "TO:<\xc3\xbc@example.org>", true, MX_SMTP_P_OK, "\xc3\xbc@example.org", false },
	{ "TO:u@example.org", false, MX_SMTP_P_BAD_PATH, NULL, false },
	{ "TO:<u@example.org", false, MX_SMTP_P_BAD_PATH, NULL, false },
	{ "TO:", false, MX_SMTP_P_SYNTAX, NULL, false },
	{ "FROM:<u@example.org>", false, MX_SMTP_P_SYNTAX, NULL, false },
};

static void
test_parse_rcpt(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(rcpt_cases); i++) {
		const struct rcpt_case *c = &rcpt_cases[i];
		struct mx_smtp_rcpt_args a;
		enum mx_smtp_perr r = mx_smtp_parse_rcpt(MX_STR_C(c->arg), c->smtputf8, &a);

		if (r != c->r)
			fail_msg("case %zu \"%s\": result %d want %d", i, c->arg, r, c->r);
		if (r != MX_SMTP_P_OK)
			continue;
		check_str(i, "mailbox", a.path.mailbox, c->mailbox);
		assert_int_equal(a.path.postmaster, c->postmaster);
	}
}

/* ---- BDAT, HELO, UTF-8 ---- */

struct bdat_case {
	const char *arg;
	enum mx_smtp_perr r;
	uint64_t size;
	bool last;
};

static const struct bdat_case bdat_cases[] = {
	{ "0", MX_SMTP_P_OK, 0, false },
	{ "0 LAST", MX_SMTP_P_OK, 0, true },
	{ "100", MX_SMTP_P_OK, 100, false },
	{ "100 last", MX_SMTP_P_OK, 100, true },
	{ "100  LAST", MX_SMTP_P_OK, 100, true },
	{ "18446744073709551615", MX_SMTP_P_OK, UINT64_MAX, false },
	{ "18446744073709551616", MX_SMTP_P_SYNTAX, 0, false },
	{ "99999999999999999999999", MX_SMTP_P_SYNTAX, 0, false },
	{ "", MX_SMTP_P_SYNTAX, 0, false },
	{ "LAST", MX_SMTP_P_SYNTAX, 0, false },
	{ "-1", MX_SMTP_P_SYNTAX, 0, false },
	{ "0x10", MX_SMTP_P_SYNTAX, 0, false },
	{ "10 FIRST", MX_SMTP_P_SYNTAX, 0, false },
	{ "10 LAST x", MX_SMTP_P_SYNTAX, 0, false },
	{ "10LAST", MX_SMTP_P_SYNTAX, 0, false },
};

static void
test_parse_bdat(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(bdat_cases); i++) {
		const struct bdat_case *c = &bdat_cases[i];
		uint64_t size;
		bool last;
		enum mx_smtp_perr r = mx_smtp_parse_bdat(MX_STR_C(c->arg), &size, &last);

		if (r != c->r)
			fail_msg("case %zu \"%s\": result %d", i, c->arg, r);
		if (r == MX_SMTP_P_OK) {
			assert_true(size == c->size);
			assert_int_equal(last, c->last);
		}
	}
}

static void
test_parse_helo(void **state)
{
	char big[300];

	(void)state;
	assert_int_equal(mx_smtp_parse_helo(MX_STR_C("mx.example.org")), MX_SMTP_P_OK);
	assert_int_equal(mx_smtp_parse_helo(MX_STR_C("[192.0.2.1]")), MX_SMTP_P_OK);
	assert_int_equal(mx_smtp_parse_helo(MX_STR_C("my_host")), MX_SMTP_P_OK);
	assert_int_equal(mx_smtp_parse_helo(MX_STR_C("")), MX_SMTP_P_SYNTAX);
	assert_int_equal(mx_smtp_parse_helo(MX_STR_C("a b")), MX_SMTP_P_SYNTAX);
	assert_int_equal(mx_smtp_parse_helo(MX_STR_C("a\001")), MX_SMTP_P_SYNTAX);
	assert_int_equal(mx_smtp_parse_helo(MX_STR_C("h\xc3\xb6st")), MX_SMTP_P_SYNTAX);
	memset(big, 'a', sizeof(big));
	assert_int_equal(mx_smtp_parse_helo((struct mx_str){ 255, big }), MX_SMTP_P_OK);
	assert_int_equal(mx_smtp_parse_helo((struct mx_str){ 256, big }), MX_SMTP_P_SYNTAX);
}

struct utf8_case {
	const char *s;
	bool ok;
};

static const struct utf8_case utf8_cases[] = {
	{ "plain", true },
	{ "\xc3\xa9", true },
	{ "\xe2\x82\xac", true },
	{ "\xf0\x9f\x98\x80", true },
	{ "\xf4\x8f\xbf\xbf", true },
	{ "\xc3", false },              /* truncated */
	{ "\xc0\xaf", false },          /* overlong */
	{ "\xe0\x80\xaf", false },      /* overlong */
	{ "\xed\xa0\x80", false },      /* surrogate */
	{ "\xf4\x90\x80\x80", false },  /* > U+10FFFF */
	{ "\xf5\x80\x80\x80", false },
	{ "\x80", false },
	{ "a\xffz", false },
};

static void
test_utf8(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(utf8_cases); i++)
		if (mx_smtp_utf8_valid(utf8_cases[i].s, strlen(utf8_cases[i].s)) != utf8_cases[i].ok)
			fail_msg("utf8 case %zu", i);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_reader),
		cmocka_unit_test(test_parse_cmd),
		cmocka_unit_test(test_parse_path),
		cmocka_unit_test(test_path_length),
		cmocka_unit_test(test_parse_mail),
		cmocka_unit_test(test_parse_rcpt),
		cmocka_unit_test(test_parse_bdat),
		cmocka_unit_test(test_parse_helo),
		cmocka_unit_test(test_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
