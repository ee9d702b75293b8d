/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DKIM verifier unit tests: messages signed by python3-dkim (testdata/,
 * made by testdata/gen.py) verified against the keys of testdata/keys.txt,
 * served through the TXT callback as an in-process zone (STYLE 2.11; the
 * conformance suite in tests/conformance runs the same code over real DNS).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mx_dkim.h"

#define T_NOW 1700000060u   /* one minute after the fixtures' t= */
#define MAX_KEYS 16

struct zone {
	char name[MAX_KEYS][MX_DKIM_QNAME_MAX];
	char txt[MAX_KEYS][1024];
	unsigned n;
	int force_rc;          /* != 0: every lookup answers this */
	unsigned n_again;      /* answer -EAGAIN this many times first */
	unsigned n_queries;
};

static struct zone g_zone;
static struct mx_chunk_pool *g_pool;

static void
path_of(char *buf, size_t cap, const char *file)
{
	const char *src = getenv("MX_SRCDIR");

	snprintf(buf, cap, "%s/policy/dkim/testdata/%s", src != NULL ? src : ".", file);
}

static void
zone_load(struct zone *z)
{
	char path[512], line[1400];
	FILE *f;

	memset(z, 0, sizeof(*z));
	path_of(path, sizeof(path), "keys.txt");
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL && z->n < MAX_KEYS) {
		char *tab = strchr(line, '\t');

		assert_non_null(tab);
		*tab = '\0';
		line[strcspn(tab + 1, "\n") + (size_t)(tab + 1 - line)] = '\0';
		snprintf(z->name[z->n], MX_DKIM_QNAME_MAX, "%.*s", MX_DKIM_QNAME_MAX - 1, line);
		snprintf(z->txt[z->n], sizeof(z->txt[0]), "%.*s",
				(int)sizeof(z->txt[0]) - 1, tab + 1);
		z->n++;
	}
	fclose(f);
}

static int
zone_txt(void *ctx, const char *qname, struct mx_str *recs, unsigned max)
{
	struct zone *z = ctx;
	unsigned i;

	z->n_queries++;
	if (z->n_again > 0) {
		z->n_again--;
		return -EAGAIN;
	}
	if (z->force_rc != 0)
		return z->force_rc;
	for (i = 0; i < z->n && max > 0; i++) {
		if (strcasecmp(z->name[i], qname) == 0) {
			recs[0] = (struct mx_str){ strlen(z->txt[i]), z->txt[i] };
			return 1;
		}
	}
	return 0;
}

static struct mx_msg *
load_msg(const char *file)
{
	char path[512], buf[4096];
	struct mx_msg *m = NULL;
	size_t n;
	FILE *f;

	path_of(path, sizeof(path), file);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(mx_msg_create(g_pool, 100, 65536, &m), 0);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		assert_int_equal(mx_msg_append(m, buf, n), 0);
	fclose(f);
	mx_msg_finish(m);
	return m;
}

static struct mx_dkim *
new_verifier(bool sha1)
{
	struct mx_dkim_conf conf = {
		.txt = zone_txt, .txt_ctx = &g_zone,
		.allow_rsa_sha1 = sha1, .fixed_time = T_NOW,
	};
	struct mx_dkim *d = NULL;

	assert_int_equal(mx_dkim_create(&conf, &d), 0);
	return d;
}

struct exp_sig {
	const char *d, *s;
	enum mx_auth_result r;
};

struct dkim_case {
	const char *file;
	unsigned n;
	struct exp_sig sig[2];
};

static const struct dkim_case cases[] = {
	{ "rr.eml", 1, { { "example.org", "r2048", MX_AUTH_PASS } } },
	{ "ss.eml", 1, { { "example.org", "r2048", MX_AUTH_PASS } } },
	{ "ed.eml", 1, { { "example.org", "ed", MX_AUTH_PASS } } },
	{ "l.eml", 1, { { "example.org", "r1024", MX_AUTH_PASS } } },
	{ "sha1.eml", 1, { { "example.org", "r1024", MX_AUTH_POLICY } } },
	{ "small.eml", 1, { { "example.org", "r512", MX_AUTH_POLICY } } },
	{ "revoked.eml", 1, { { "example.org", "revoked", MX_AUTH_PERMERROR } } },
	{ "nokey.eml", 1, { { "example.org", "gone", MX_AUTH_PERMERROR } } },
	{ "body.eml", 1, { { "example.org", "r1024", MX_AUTH_FAIL } } },
	{ "expired.eml", 1, { { "example.org", "r1024", MX_AUTH_FAIL } } },
	{ "future.eml", 1, { { "example.org", "r1024", MX_AUTH_FAIL } } },
	{ "multi.eml", 2, { { "mail.example.net", "sub", MX_AUTH_PASS },
			{ "example.org", "ed", MX_AUTH_PASS } } },
	{ "unsigned.eml", 0, { { NULL, NULL, MX_AUTH_NONE } } },
};

static void
check_case(struct mx_dkim *d, const struct dkim_case *c)
{
	struct mx_msg *m = load_msg(c->file);
	struct mx_dkim_res res;
	unsigned i;

	assert_int_equal(mx_dkim_verify(d, m, &res), 0);
	if (res.n_sigs != c->n)
		fail_msg("%s: %u signatures, expected %u", c->file, res.n_sigs, c->n);
	for (i = 0; i < c->n; i++) {
		if (res.sigs[i].result != c->sig[i].r)
			fail_msg("%s[%u]: %s (%s), expected %s", c->file, i,
				mx_auth_result_name(res.sigs[i].result),
				res.sigs[i].reason,
				mx_auth_result_name(c->sig[i].r));
		assert_string_equal(res.sigs[i].domain, c->sig[i].d);
		assert_string_equal(res.sigs[i].selector, c->sig[i].s);
	}
	mx_msg_release(m);
}

static void
test_table(void **state)
{
	struct mx_dkim *d = new_verifier(false);
	unsigned i;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(cases); i++)
		check_case(d, &cases[i]);
	mx_dkim_free(d);
}

static void
test_sha1_allowed(void **state)
{
	struct mx_dkim *d = new_verifier(true);
	struct mx_msg *m = load_msg("sha1.eml");
	struct mx_dkim_res res;

	(void)state;
	assert_int_equal(mx_dkim_verify(d, m, &res), 0);
	assert_int_equal(res.n_sigs, 1);
	assert_int_equal(res.sigs[0].result, MX_AUTH_PASS);
	mx_msg_release(m);
	mx_dkim_free(d);
}

/* A DNS failure is temperror, never pass or a hang. */
static void
test_temperror(void **state)
{
	struct mx_dkim *d = new_verifier(false);
	struct mx_msg *m = load_msg("rr.eml");
	struct mx_dkim_res res;

	(void)state;
	g_zone.force_rc = -ETIMEDOUT;
	assert_int_equal(mx_dkim_verify(d, m, &res), 0);
	g_zone.force_rc = 0;
	assert_int_equal(res.n_sigs, 1);
	assert_int_equal(res.sigs[0].result, MX_AUTH_TEMPERROR);
	mx_msg_release(m);
	mx_dkim_free(d);
}

/* A key not in the cache yet: -EAGAIN, and the re-run passes. */
static void
test_again_then_pass(void **state)
{
	struct mx_dkim *d = new_verifier(false);
	struct mx_msg *m = load_msg("multi.eml");
	struct mx_dkim_res res;

	(void)state;
	g_zone.n_again = 2;
	g_zone.n_queries = 0;
	assert_int_equal(mx_dkim_verify(d, m, &res), -EAGAIN);
	assert_int_equal(g_zone.n_queries, 2); /* both names asked in one round */
	assert_int_equal(mx_dkim_verify(d, m, &res), 0);
	assert_int_equal(res.n_sigs, 2);
	assert_int_equal(res.sigs[0].result, MX_AUTH_PASS);
	assert_int_equal(res.sigs[1].result, MX_AUTH_PASS);
	mx_msg_release(m);
	mx_dkim_free(d);
}

static void
test_key_names(void **state)
{
	char names[4][MX_DKIM_QNAME_MAX];
	struct mx_msg *m = load_msg("multi.eml");

	(void)state;
	assert_int_equal(mx_dkim_key_names(m, names, 4), 2);
	assert_string_equal(names[0], "sub._domainkey.mail.example.net");
	assert_string_equal(names[1], "ed._domainkey.example.org");
	assert_int_equal(mx_dkim_key_names(m, names, 1), 1);
	mx_msg_release(m);
	m = load_msg("unsigned.eml");
	assert_int_equal(mx_dkim_key_names(m, names, 4), 0);
	mx_msg_release(m);
}

/* Hostile signature fields: results, never a crash. */
static void
test_garbage_signature(void **state)
{
	static const char *const msgs[] = {
		"DKIM-Signature: \r\nFrom: a@b\r\n\r\nx\r\n",
		"DKIM-Signature: v=1; d=; s=\r\nFrom: a@b\r\n\r\nx\r\n",
		"DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=r1024; h=from; bh=AAAA; b=!!!\r\nFrom: a@b\r\n\r\nx\r\n",
		"DKIM-Signature: v=1; v=1; v=1; ;;;; ===\r\nFrom: a@b\r\n\r\n",
	};
	struct mx_dkim *d = new_verifier(false);
	struct mx_dkim_res res;
	unsigned i;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(msgs); i++) {
		struct mx_msg *m = NULL;

		assert_int_equal(mx_msg_create(g_pool, 100, 65536, &m), 0);
		assert_int_equal(mx_msg_append(m, msgs[i], strlen(msgs[i])), 0);
		mx_msg_finish(m);
		assert_int_equal(mx_dkim_verify(d, m, &res), 0);
		if (res.n_sigs > 0 && res.sigs[0].result == MX_AUTH_PASS)
			fail_msg("garbage %u passed", i);
		mx_msg_release(m);
	}
	mx_dkim_free(d);
}

static int
setup(void **state)
{
	(void)state;
	zone_load(&g_zone);
	return mx_chunk_pool_create(16384, 4u << 20, &g_pool);
}

static int
teardown(void **state)
{
	(void)state;
	mx_chunk_pool_free(g_pool);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_sha1_allowed),
		cmocka_unit_test(test_temperror),
		cmocka_unit_test(test_again_then_pass),
		cmocka_unit_test(test_key_names),
		cmocka_unit_test(test_garbage_signature),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
