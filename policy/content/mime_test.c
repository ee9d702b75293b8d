/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mime_test.c: the MIME walker, table-driven. Each message is walked
 * whole and then split at every offset (and byte by byte); every split
 * must give the same parts, decoded text, top-level headers and defects.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "content_mime.h"

struct trace {
	char parts[1024];
	char text[2048];
	char hdrs[1024];
	size_t raw_len;
	uint32_t defects;
};

static void
app(char *dst, size_t size, const char *s, size_t n)
{
	size_t l = strlen(dst);

	if (l + n >= size)
		n = size - 1 - l;
	memcpy(dst + l, s, n);
	dst[l + n] = '\0';
}

static void
t_header_raw(void *u, const uint8_t *p, size_t n)
{
	((struct trace *)u)->raw_len += n;
}

static void
t_header(void *u, unsigned depth, struct mx_str name, struct mx_str value)
{
	struct trace *t = u;

	if (depth != 0)
		return;
	app(t->hdrs, sizeof(t->hdrs), name.p, name.len);
	app(t->hdrs, sizeof(t->hdrs), "=", 1);
	app(t->hdrs, sizeof(t->hdrs), value.p, value.len);
	app(t->hdrs, sizeof(t->hdrs), "|", 1);
}

static void
t_part(void *u, const struct mx_mime_part *p)
{
	struct trace *t = u;

	app(t->parts, sizeof(t->parts), p->type, p->type_len);
	app(t->parts, sizeof(t->parts), ":", 1);
	app(t->parts, sizeof(t->parts), p->name, p->name_len);
	app(t->parts, sizeof(t->parts), "|", 1);
}

static void
t_text(void *u, const uint8_t *p, size_t n)
{
	struct trace *t = u;

	app(t->text, sizeof(t->text), (const char *)p, n);
}

static void
t_defect(void *u, enum mx_content_defect d)
{
	struct trace *t = u;

	assert_int_equal(t->defects & (1u << d), 0);  /* reported once */
	t->defects |= 1u << d;
}

static const struct mx_mime_ops t_ops = {
	.header_raw = t_header_raw,
	.header = t_header,
	.part = t_part,
	.text = t_text,
	.defect = t_defect,
};

#define D(x) (1u << MX_CONTENT_D_##x)

struct mcase {
	const char *name;
	const char *msg;
	const char *parts;
	const char *text;
	uint32_t defects;
	const char *hdrs;   /* NULL: not checked */
};

static const struct mcase cases[] = {
	{ "plain", "Subject: hi\r\nFrom: a@b\r\n\r\nhello world\r\n",
		"text/plain:|", "hello world\r\n", 0, "Subject=hi|From=a@b|" },
	{ "lf only", "Subject: hi\n\nbody\n", "text/plain:|", "body\n", 0, "Subject=hi|" },
	{ "folded", "Subject: one\r\n two\r\n\tthree\r\n\r\nx", "text/plain:|", "x", 0,
		"Subject=one two\tthree|" },
	{ "base64 single", "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8g\r\nd29ybGQ=\r\n",
		"text/plain:|", "hello world", 0, NULL },
	{ "qp single", "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
		"caf=C3=A9 ver=\r\nify=3D\r\n", "text/plain:|", "caf\xc3\xa9 verify=\r\n", 0, NULL },
	{ "multipart", "Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n"
		"preamble\r\n--XX\r\nContent-Type: text/plain\r\n\r\nfirst\r\n"
		"--XX\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\n"
		"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--XX--\r\nepilogue\r\n",
		"text/plain:|application/pdf:a.pdf|", "first\r\n", 0, NULL },
	{ "nested", "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n"
		"Content-Type: multipart/alternative; boundary=i\r\n\r\n--i\r\n"
		"Content-Type: text/plain\r\n\r\nalt1\r\n--i\r\nContent-Type: text/html\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n\r\n<b>=41</b>\r\n--i--\r\n"
		"--o\r\nContent-Disposition: attachment; filename=\"x.zip\"\r\n"
		"Content-Type: application/zip\r\n\r\nPK\r\n--o--\r\n",
		"text/plain:|text/html:|application/zip:x.zip|", "alt1\r\n<b>A</b>\r\n", 0, NULL },
	{ "rfc2231", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
		"Content-Type: application/octet-stream\r\n"
		"Content-Disposition: attachment; filename*=UTF-8''r%C3%A9sum%C3%A9%2Eexe\r\n"
		"\r\nx\r\n--b--\r\n", "application/octet-stream:r\xc3\xa9sum\xc3\xa9.exe|", "", 0, NULL },
	{ "rfc2231 continuations", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
		"Content-Type: application/octet-stream\r\nContent-Disposition: attachment;\r\n"
		" filename*1=\"ice.\"; filename*0*=us-ascii'en'in%76o; filename*2=\"scr\"\r\n"
		"\r\nx\r\n--b--\r\n", "application/octet-stream:invoice.scr|", "", 0, NULL },
	{ "rfc2047 name", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
		"Content-Type: application/x-msdownload;\r\n name=\"=?UTF-8?B?ZXZpbA==?= =?utf-8?q?=2Eexe?=\"\r\n"
		"\r\nx\r\n--b--\r\n", "application/x-msdownload:evil.exe|", "", 0, NULL },
	{ "missing boundary", "Content-Type: multipart/mixed\r\n\r\n--x\r\nhi\r\n", "", "",
		D(MISSING_BOUNDARY), NULL },
	{ "unterminated", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\ntext\r\n",
		"text/plain:|", "text\r\n", D(UNTERMINATED_MULTIPART), NULL },
	{ "bad base64", "Content-Transfer-Encoding: base64\r\n\r\naGV*sbG8=\r\n", "text/plain:|",
		"hello", D(BAD_BASE64), NULL },
	{ "bad qp", "Content-Transfer-Encoding: quoted-printable\r\n\r\na=ZZb=4\r\n",
		"text/plain:|", "a=ZZb=4\r\n", D(BAD_QP), NULL },
	{ "bad header", "Subject: x\r\nno colon here\r\n\r\nb", "text/plain:|", "b", D(BAD_HEADER),
		"Subject=x|" },
	{ "boundary too long", "Content-Type: multipart/mixed; boundary="
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\nx",
		"", "", D(BOUNDARY_TOO_LONG) | D(MISSING_BOUNDARY), NULL },
	{ "part cut by delimiter", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
		"X-A: 1\r\n--b\r\nContent-Type: text/plain\r\n\r\nok\r\n--b--",
		"text/plain:|", "ok\r\n", D(BAD_HEADER), NULL },
	{ "rfc822 inside", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
		"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n"
		"Content-Type: text/plain\r\n\r\ninner body\r\n--b--\r\n",
		"text/plain:|", "inner body\r\n", 0, NULL },
	{ "param without a name (fuzz: looped)", "Content-Type: text/plain; =x; name=a.txt\r\n\r\nb",
		"text/plain:a.txt|", "b", D(BAD_PARAM), NULL },
	{ "headers only", "Subject: x", "", "", 0, "Subject=x|" },
	{ "empty", "", "", "", 0, "" },
};

static void
walk(const struct mcase *c, size_t split, bool bytewise, struct trace *t)
{
	struct mx_mime m;
	size_t n = strlen(c->msg), i;

	memset(t, 0, sizeof(*t));
	mx_mime_init(&m, &t_ops, t);
	if (bytewise) {
		for (i = 0; i < n; i++)
			mx_mime_feed(&m, (const uint8_t *)c->msg + i, 1);
	} else {
		mx_mime_feed(&m, (const uint8_t *)c->msg, split);
		mx_mime_feed(&m, (const uint8_t *)c->msg + split, n - split);
	}
	mx_mime_finish(&m);
}

static void
check(const struct mcase *c, const struct trace *t, size_t split)
{
	if (strcmp(t->parts, c->parts) != 0 || strcmp(t->text, c->text) != 0 ||
			t->defects != c->defects ||
			(c->hdrs != NULL && strcmp(t->hdrs, c->hdrs) != 0))
		fail_msg("case '%s' split %zu: parts '%s' text '%s' defects %#x hdrs '%s'",
			c->name, split, t->parts, t->text, t->defects, t->hdrs);
}

static void
test_table_every_split(void **state)
{
	size_t i, s;
	struct trace t;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(cases); i++) {
		const struct mcase *c = &cases[i];

		for (s = 0; s <= strlen(c->msg); s++) {
			walk(c, s, false, &t);
			check(c, &t, s);
		}
		walk(c, 0, true, &t);
		check(c, &t, 1);
	}
}

static void
test_header_raw_is_top_section(void **state)
{
	struct trace t;
	const struct mcase c = { "raw", "A: 1\r\nB: 2\r\n\r\nbody", "", "", 0, NULL };

	(void)state;
	walk(&c, 3, false, &t);
	assert_int_equal(t.raw_len, strlen("A: 1\r\nB: 2\r\n\r\n"));
}

static void
test_header_too_long(void **state)
{
	static char msg[MX_MIME_FIELD_MAX + 64];
	struct mx_mime m;
	struct trace t;

	(void)state;
	memset(&t, 0, sizeof(t));
	memcpy(msg, "Subject: ", 9);
	memset(msg + 9, 'a', MX_MIME_FIELD_MAX + 10);
	memcpy(msg + 9 + MX_MIME_FIELD_MAX + 10, "\r\n\r\nb", 5);
	mx_mime_init(&m, &t_ops, &t);
	mx_mime_feed(&m, (const uint8_t *)msg, 9 + MX_MIME_FIELD_MAX + 15);
	mx_mime_finish(&m);
	assert_true(t.defects & D(HEADER_TOO_LONG));
	assert_string_equal(t.text, "b");
}

static void
test_nesting_too_deep(void **state)
{
	char msg[4096];
	size_t n = 0;
	unsigned i;
	struct mx_mime m;
	struct trace t;

	(void)state;
	for (i = 0; i < MX_MIME_MAX_DEPTH + 2; i++)
		n += (size_t)snprintf(msg + n, sizeof(msg) - n,
			"Content-Type: multipart/mixed; boundary=b%u\r\n\r\n--b%u\r\n", i, i);
	memset(&t, 0, sizeof(t));
	mx_mime_init(&m, &t_ops, &t);
	mx_mime_feed(&m, (const uint8_t *)msg, n);
	mx_mime_finish(&m);
	assert_true(t.defects & D(NESTING_TOO_DEEP));
	assert_true(t.defects & D(UNTERMINATED_MULTIPART));
}

static void
test_2047(void **state)
{
	static const struct {
		const char *in, *out;
		bool bad;
	} v[] = {
		{ "plain", "plain", false },
		{ "=?utf-8?q?a_b?=", "a b", false },
		{ "=?utf-8?b?YWJj?= =?utf-8?b?ZGVm?=", "abcdef", false },
		{ "x =?utf-8?q?y?= z", "x y z", false },
		{ "=?bad", "=?bad", true },
		{ "=?utf-8?x?zz?=", "=?utf-8?x?zz?=", true },
	};
	char out[64];
	size_t i;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(v); i++) {
		bool bad = false;

		mx_mime_decode_2047(v[i].in, strlen(v[i].in), out, sizeof(out), &bad);
		assert_string_equal(out, v[i].out);
		assert_int_equal(bad, v[i].bad);
	}
	/* A tiny destination is never overrun. */
	assert_int_equal(mx_mime_decode_2047("=?a?q?abcdef?=", 14, out, 3, &(bool){ false }), 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_every_split),
		cmocka_unit_test(test_header_raw_is_top_section),
		cmocka_unit_test(test_header_too_long),
		cmocka_unit_test(test_nesting_too_deep),
		cmocka_unit_test(test_2047),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
