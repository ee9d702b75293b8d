/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DMARC unit tests: the record parser, the From domain, and a table of
 * evaluations (alignment modes, sp=, pct=, organizational-domain fallback
 * through libpsl with multi-label suffixes, missing, invalid, duplicate
 * records, DNS failure) over an in-process TXT table.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mx_dmarc.h"

struct txt_rr {
	const char *name;
	const char *txt[2];
	int rc;             /* != 0: the lookup answers this error */
};

static const struct txt_rr zone[] = {
	{ "_dmarc.example.com", { "v=DMARC1; p=reject" }, 0 },
	{ "_dmarc.strict.com", { "v=DMARC1; p=quarantine; adkim=s; aspf=s" }, 0 },
	{ "_dmarc.subpol.com", { "v=DMARC1; p=none; sp=reject" }, 0 },
	{ "_dmarc.pct.com", { "v=DMARC1; p=reject; pct=50" }, 0 },
	{ "_dmarc.pct0.com", { "v=DMARC1; p=quarantine; pct=0" }, 0 },
	{ "_dmarc.example.co.uk", { "v=DMARC1; p=reject" }, 0 },
	{ "_dmarc.dup.com", { "v=DMARC1; p=reject", "v=DMARC1; p=none" }, 0 },
	{ "_dmarc.invalid.com", { "v=DMARC1; p=bogus" }, 0 },
	{ "_dmarc.invalidrua.com", { "v=DMARC1; p=bogus; rua=mailto:d@invalidrua.com" }, 0 },
	{ "_dmarc.duptag.com", { "v=DMARC1; p=reject; p=none" }, 0 },
	{ "_dmarc.notfirst.com", { "p=reject; v=DMARC1" }, 0 },
	{ "_dmarc.mixed.com", { "v=spf1 -all", "v=DMARC1; p=quarantine" }, 0 },
	{ "_dmarc.temp.com", { NULL }, -ETIMEDOUT },
};

static unsigned g_n_again;

static int
zone_txt(void *ctx, const char *qname, struct mx_str *recs, unsigned max)
{
	unsigned i, n = 0;

	(void)ctx;
	if (g_n_again > 0) {
		g_n_again--;
		return -EAGAIN;
	}
	for (i = 0; i < MX_ARRAY_SIZE(zone); i++) {
		if (strcmp(zone[i].name, qname) != 0)
			continue;
		if (zone[i].rc != 0)
			return zone[i].rc;
		while (n < 2 && n < max && zone[i].txt[n] != NULL) {
			recs[n] = (struct mx_str){ strlen(zone[i].txt[n]), zone[i].txt[n] };
			n++;
		}
		return (int)n;
	}
	return 0;
}

/* ---- record parser ---- */

struct rec_case {
	const char *txt;
	int rc;
	enum mx_dmarc_policy p, sp;
	enum mx_dmarc_align adkim, aspf;
	unsigned pct;
};

#define R MX_DMARC_ALIGN_RELAXED
#define S MX_DMARC_ALIGN_STRICT
#define PN MX_DMARC_POLICY_NONE
#define PQ MX_DMARC_POLICY_QUARANTINE
#define PR MX_DMARC_POLICY_REJECT

static const struct rec_case rec_cases[] = {
	{ "v=DMARC1; p=reject", 0, PR, PR, R, R, 100 },
	{ "v=DMARC1;p=none;sp=quarantine;adkim=s;aspf=s;pct=20", 0, PN, PQ, S, S, 20 },
	{ " v = DMARC1 ; p = Quarantine ; ", 0, PQ, PQ, R, R, 100 },
	{ "v=DMARC1; p=reject; pct=101", 0, PR, PR, R, R, 100 },  /* bad pct: default */
	{ "v=DMARC1; p=reject; pct=-1", 0, PR, PR, R, R, 100 },
	{ "v=DMARC1; p=reject; adkim=x; aspf=", 0, PR, PR, R, R, 100 },
	{ "v=DMARC1; p=reject; foo=bar", 0, PR, PR, R, R, 100 },  /* unknown tag */
	{ "v=DMARC1; p=reject; sp=bad; rua=mailto:a@b.c", 0, PN, PN, R, R, 100 },
	{ "v=DMARC1; rua=mailto:a@b.c", 0, PN, PN, R, R, 100 },   /* no p=, rua: none */
	{ "v=DMARC1; p=reject; sp=bad", -EINVAL, PN, PN, R, R, 100 },
	{ "v=DMARC1", -EINVAL, PN, PN, R, R, 100 },
	{ "v=DMARC1; p=reject; p=reject", -EINVAL, PN, PN, R, R, 100 },
	{ "v=DMARC1; p=reject; junk", -EINVAL, PN, PN, R, R, 100 },
	{ "v=dmarc1; p=reject", -ENOENT, PN, PN, R, R, 100 },
	{ "p=reject; v=DMARC1", -ENOENT, PN, PN, R, R, 100 },
	{ "", -ENOENT, PN, PN, R, R, 100 },
	{ "v=spf1 -all", -ENOENT, PN, PN, R, R, 100 },
};

static void
test_record_parse(void **state)
{
	struct mx_dmarc_record r;
	unsigned i;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(rec_cases); i++) {
		const struct rec_case *c = &rec_cases[i];
		int rc = mx_dmarc_record_parse((struct mx_str){ strlen(c->txt), c->txt }, &r);

		if (rc != c->rc)
			fail_msg("case %u \"%s\": rc %d, expected %d", i, c->txt, rc, c->rc);
		if (rc != 0)
			continue;
		if (r.p != c->p || r.sp != c->sp || r.adkim != c->adkim ||
				r.aspf != c->aspf || r.pct != c->pct)
			fail_msg("case %u \"%s\": p %d sp %d adkim %d aspf %d pct %u",
				i, c->txt, r.p, r.sp, r.adkim, r.aspf, r.pct);
	}
}

static void
test_record_fields(void **state)
{
	static const char txt[] = "v=DMARC1; p=none; fo=1:d; rua=mailto:a@x.com, "
		"mailto:b@x.com; ruf=mailto:f@x.com; rf=afrf; ri=3600";
	struct mx_dmarc_record r;

	(void)state;
	assert_int_equal(mx_dmarc_record_parse(MX_STR(txt), &r), 0);
	assert_int_equal(r.fo, MX_DMARC_FO_1 | MX_DMARC_FO_D);
	assert_int_equal(r.ri, 3600);
	assert_true(r.rf_afrf);
	assert_int_equal(r.rua.len, strlen("mailto:a@x.com, mailto:b@x.com"));
	assert_memory_equal(r.ruf.p, "mailto:f@x.com", r.ruf.len);
	assert_int_equal(mx_dmarc_record_parse(MX_STR("v=DMARC1; p=none; fo=2"), &r), 0);
	assert_int_equal(r.fo, MX_DMARC_FO_0);
}

/* ---- From domain ---- */

static struct mx_chunk_pool *g_pool;

struct from_case {
	const char *hdrs;
	int rc;
	const char *dom;
};

static const struct from_case from_cases[] = {
	{ "From: Alice <alice@Example.COM>\r\n", 0, "example.com" },
	{ "From: alice@example.com (Alice)\r\n", 0, "example.com" },
	{ "From: \"Doe, John\" <j@mail.example.com.>\r\n", 0, "mail.example.com" },
	{ "From: a@x.com, B <b@X.com>\r\n", 0, "x.com" },
	{ "From: friends: a@g.com, b@g.com;\r\n", 0, "g.com" },
	{ "From: \"a@evil.com\" <a@good.com>\r\n", 0, "good.com" },
	{ "From: a@x.com, b@y.com\r\n", -EXDEV, NULL },
	{ "To: a@x.com\r\n", -ENOENT, NULL },
	{ "From: a@x.com\r\nFrom: a@x.com\r\n", -EMLINK, NULL },
	{ "From: undisclosed:;\r\n", -EINVAL, NULL },
	{ "From: <a@[192.0.2.1]>\r\n", -EINVAL, NULL },
	{ "From: nobody\r\n", -EINVAL, NULL },
	{ "From: a@bad..com\r\n", -EINVAL, NULL },
	{ "From: <a@x.com\r\n", -EINVAL, NULL },
};

static void
test_from_domain(void **state)
{
	char dom[MX_DMARC_DOMAIN_MAX];
	unsigned i;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(from_cases); i++) {
		const struct from_case *c = &from_cases[i];
		struct mx_msg *m = NULL;
		int rc;

		assert_int_equal(mx_msg_create(g_pool, 100, 65536, &m), 0);
		assert_int_equal(mx_msg_append(m, c->hdrs, strlen(c->hdrs)), 0);
		assert_int_equal(mx_msg_append(m, "\r\nbody\r\n", 8), 0);
		mx_msg_finish(m);
		rc = mx_dmarc_from_domain(m, dom);
		if (rc != c->rc)
			fail_msg("from case %u: rc %d, expected %d", i, rc, c->rc);
		if (rc == 0)
			assert_string_equal(dom, c->dom);
		mx_msg_release(m);
	}
}

/* ---- evaluation ---- */

#define A_PASS MX_AUTH_PASS
#define A_FAIL MX_AUTH_FAIL
#define A_NONE MX_AUTH_NONE

struct eval_case {
	const char *from;
	enum mx_auth_result spf;
	const char *spf_domain;
	const char *dkim_d;
	enum mx_auth_result dkim;
	uint64_t sample;
	enum mx_auth_result result;
	enum mx_dmarc_policy policy, disposition;
};

static const struct eval_case eval_cases[] = {
	/* relaxed (default) alignment */
	{ "example.com", A_PASS, "example.com", NULL, A_NONE, 0, A_PASS, PR, PN },
	{ "example.com", A_PASS, "bounce.example.com", NULL, A_NONE, 0, A_PASS, PR, PN },
	{ "example.com", A_FAIL, "example.com", "example.com", A_PASS, 0, A_PASS, PR, PN },
	{ "example.com", A_PASS, "other.org", NULL, A_NONE, 0, A_FAIL, PR, PR },
	{ "example.com", A_NONE, "", "mail.example.com", A_PASS, 0, A_PASS, PR, PN },
	{ "example.com", A_NONE, "", "example.com", A_FAIL, 0, A_FAIL, PR, PR },
	{ "example.com", MX_AUTH_SOFTFAIL, "example.com", NULL, A_NONE, 0, A_FAIL, PR, PR },
	{ "example.com", MX_AUTH_TEMPERROR, "example.com", "example.com", A_PASS, 0, A_PASS, PR, PN },
	{ "example.com", A_PASS, "example.com.evil.org", NULL, A_NONE, 0, A_FAIL, PR, PR },
	/* record at the organizational domain, no sp=: p applies */
	{ "a.b.example.com", A_PASS, "example.com", NULL, A_NONE, 0, A_PASS, PR, PN },
	{ "a.b.example.com", A_PASS, "evil.com", NULL, A_NONE, 0, A_FAIL, PR, PR },
	/* strict alignment */
	{ "strict.com", A_PASS, "bounce.strict.com", NULL, A_NONE, 0, A_FAIL, PQ, PQ },
	{ "strict.com", A_PASS, "strict.com", NULL, A_NONE, 0, A_PASS, PQ, PN },
	{ "strict.com", A_NONE, "", "STRICT.COM.", A_PASS, 0, A_PASS, PQ, PN },
	{ "strict.com", A_NONE, "", "mail.strict.com", A_PASS, 0, A_FAIL, PQ, PQ },
	/* sp= for subdomains found through the organizational domain */
	{ "sub.subpol.com", A_PASS, "evil.com", NULL, A_NONE, 0, A_FAIL, PR, PR },
	{ "subpol.com", A_PASS, "evil.com", NULL, A_NONE, 0, A_FAIL, PN, PN },
	{ "sub.subpol.com", A_NONE, "", "subpol.com", A_PASS, 0, A_PASS, PR, PN },
	/* pct= sampling: in the sample, out of it (reject -> quarantine) */
	{ "pct.com", A_FAIL, "pct.com", NULL, A_NONE, 10, A_FAIL, PR, PR },
	{ "pct.com", A_FAIL, "pct.com", NULL, A_NONE, 75, A_FAIL, PR, PQ },
	{ "pct.com", A_FAIL, "pct.com", NULL, A_NONE, 149, A_FAIL, PR, PR },
	{ "pct0.com", A_FAIL, "pct0.com", NULL, A_NONE, 0, A_FAIL, PQ, PN },
	/* multi-label public suffix (co.uk) */
	{ "mail.example.co.uk", A_PASS, "other.co.uk", NULL, A_NONE, 0, A_FAIL, PR, PR },
	{ "example.co.uk", A_NONE, "", "mail.example.co.uk", A_PASS, 0, A_PASS, PR, PN },
	{ "example.co.uk", A_NONE, "", "other.co.uk", A_PASS, 0, A_FAIL, PR, PR },
	{ "co.uk", A_PASS, "co.uk", NULL, A_NONE, 0, A_NONE, PN, PN },
	/* missing, duplicate, invalid records */
	{ "norecord.com", A_FAIL, "norecord.com", NULL, A_NONE, 0, A_NONE, PN, PN },
	{ "dup.com", A_FAIL, "dup.com", NULL, A_NONE, 0, A_NONE, PN, PN },
	{ "invalid.com", A_FAIL, "x.org", NULL, A_NONE, 0, MX_AUTH_PERMERROR, PN, PN },
	{ "invalidrua.com", A_FAIL, "x.org", NULL, A_NONE, 0, A_FAIL, PN, PN },
	{ "duptag.com", A_FAIL, "x.org", NULL, A_NONE, 0, MX_AUTH_PERMERROR, PN, PN },
	{ "notfirst.com", A_FAIL, "x.org", NULL, A_NONE, 0, A_NONE, PN, PN },
	{ "mixed.com", A_FAIL, "x.org", NULL, A_NONE, 0, A_FAIL, PQ, PQ },
	/* DNS failure; several or no From (empty from_domain) */
	{ "temp.com", A_PASS, "temp.com", NULL, A_NONE, 0, MX_AUTH_TEMPERROR, PN, PN },
	{ "", A_PASS, "x.org", NULL, A_NONE, 0, MX_AUTH_PERMERROR, PN, PN },
};

static struct mx_dmarc *
new_dmarc(void)
{
	struct mx_dmarc_conf conf = { .txt = zone_txt };
	struct mx_dmarc *d = NULL;

	assert_int_equal(mx_dmarc_create(&conf, &d), 0);
	return d;
}

static void
test_eval_table(void **state)
{
	struct mx_dmarc *d = new_dmarc();
	unsigned i;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(eval_cases); i++) {
		const struct eval_case *c = &eval_cases[i];
		struct mx_dmarc_dkim k = {
			.domain = { c->dkim_d != NULL ? strlen(c->dkim_d) : 0, c->dkim_d },
			.result = c->dkim,
		};
		struct mx_dmarc_in in = {
			.from_domain = c->from, .spf = c->spf,
			.spf_domain = { strlen(c->spf_domain), c->spf_domain },
			.dkim = &k, .n_dkim = c->dkim_d != NULL ? 1 : 0,
			.sample = c->sample,
		};
		struct mx_dmarc_out out;

		assert_int_equal(mx_dmarc_eval(d, &in, &out), 0);
		if (out.result != c->result || out.policy != c->policy ||
				out.disposition != c->disposition)
			fail_msg("eval case %u (%s): %s/%s/%s, expected %s/%s/%s", i,
				c->from, mx_auth_result_name(out.result),
				mx_dmarc_policy_name(out.policy),
				mx_dmarc_policy_name(out.disposition),
				mx_auth_result_name(c->result),
				mx_dmarc_policy_name(c->policy),
				mx_dmarc_policy_name(c->disposition));
	}
	mx_dmarc_free(d);
}

static void
test_eval_again(void **state)
{
	struct mx_dmarc *d = new_dmarc();
	struct mx_dmarc_in in = { .from_domain = "example.com", .spf = A_PASS,
		.spf_domain = MX_STR("example.com") };
	struct mx_dmarc_out out;

	(void)state;
	g_n_again = 1;
	assert_int_equal(mx_dmarc_eval(d, &in, &out), -EAGAIN);
	assert_int_equal(mx_dmarc_eval(d, &in, &out), 0);
	assert_int_equal(out.result, A_PASS);
	assert_string_equal(out.record_domain, "example.com");
	mx_dmarc_free(d);
}

static void
test_org_and_names(void **state)
{
	struct mx_dmarc *d = new_dmarc();
	char org[MX_DMARC_DOMAIN_MAX], names[2][MX_DMARC_DOMAIN_MAX + 8];

	(void)state;
	assert_int_equal(mx_dmarc_org_domain(d, "a.b.example.co.uk", org), 0);
	assert_string_equal(org, "example.co.uk");
	assert_int_equal(mx_dmarc_org_domain(d, "www.example.com", org), 0);
	assert_string_equal(org, "example.com");
	assert_int_equal(mx_dmarc_org_domain(d, "co.uk", org), -EINVAL);
	assert_int_equal(mx_dmarc_query_names(d, "mail.example.co.uk", names), 2);
	assert_string_equal(names[0], "_dmarc.mail.example.co.uk");
	assert_string_equal(names[1], "_dmarc.example.co.uk");
	assert_int_equal(mx_dmarc_query_names(d, "example.com", names), 1);
	mx_dmarc_free(d);
}

static int
setup(void **state)
{
	(void)state;
	return mx_chunk_pool_create(16384, 1u << 20, &g_pool);
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
		cmocka_unit_test(test_record_parse),
		cmocka_unit_test(test_record_fields),
		cmocka_unit_test(test_from_domain),
		cmocka_unit_test(test_eval_table),
		cmocka_unit_test(test_eval_again),
		cmocka_unit_test(test_org_and_names),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
