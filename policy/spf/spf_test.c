/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spf_test.c: our check_host() over mx_dns and libunbound answering
 * from zone data (a table of cases): every result, explanations, the RFC
 * 7208 4.3 pre-checks, the record grammar check of 4.6 (a table of
 * records), the limits of 4.6.4, CIDR edge cases, IPv4-mapped clients,
 * redirect/include, ptr and %{p}, the HELO identity, Sender ID record
 * selection, a temperror from a resolver that never answers, and re-runs
 * over several DNS rounds; the macro expansion table (RFC 7208 7.4 verbatim)
 * and the PRA selection table (RFC 4407 2). The RFC 7208 suite itself
 * runs end to end in tests/conformance through a real DNS server.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#include "mx_dns.h"
#include "mx_spf.h"

static const char zone_text[] =
	"$ORIGIN example.com.\n"
	"$TTL 300\n"
	"@ IN TXT \"v=spf1 ip4:192.0.2.1 include:inc.example.net -all exp=why.example.com\"\n"
	"why IN TXT \"denied-%{i}\"\n"
	"soft IN TXT \"v=spf1 ~all\"\n"
	"void IN TXT \"v=spf1 a:v1.example.com a:v2.example.com a:v3.example.com +all\"\n"
	"twovoid IN TXT \"v=spf1 a:v1.example.com a:v2.example.com +all\"\n"
	"mx IN TXT \"v=spf1 mx -all\"\n"
	"mx IN MX 10 mail\n"
	"mail IN A 192.0.2.25\n"
	"helo IN TXT \"v=spf1 a -all\"\n"
	"helo IN A 192.0.2.77\n"
	"bad IN TXT \"v=spf1 ip4:300.0.0.1 -all\"\n"
	"twoexp IN TXT \"v=spf1 exp=why.example.com +all exp=why.example.com\"\n"
	"toplabel IN TXT \"v=spf1 a:192.0.2.1 +all\"\n"
	"mx11 IN TXT \"v=spf1 mx +all\"\n"
	"mx11 IN MX 1 m1\n" "mx11 IN MX 2 m2\n" "mx11 IN MX 3 m3\n"
	"mx11 IN MX 4 m4\n" "mx11 IN MX 5 m5\n" "mx11 IN MX 6 m6\n"
	"mx11 IN MX 7 m7\n" "mx11 IN MX 8 m8\n" "mx11 IN MX 9 m9\n"
	"mx11 IN MX 10 m10\n" "mx11 IN MX 11 m11\n"
	"lim10 IN TXT \"v=spf1 a:h.example.com a:h.example.com a:h.example.com a:h.example.com"
	" a:h.example.com a:h.example.com a:h.example.com a:h.example.com a:h.example.com"
	" a:h.example.com -all\"\n"
	"lim11 IN TXT \"v=spf1 a:h.example.com a:h.example.com a:h.example.com a:h.example.com"
	" a:h.example.com a:h.example.com a:h.example.com a:h.example.com a:h.example.com"
	" a:h.example.com a:h.example.com -all\"\n"
	"h IN A 203.0.113.1\n"
	"neutral IN TXT \"v=spf1 ?all\"\n"
	"empty IN TXT \"v=spf1\"\n"
	"cidr IN TXT \"v=spf1 ip4:192.0.2.128/25 ip6:2001:db8::/32 a:cidrh.example.com/24//64 -all\"\n"
	"cidrh IN A 198.51.100.1\n"
	"cidrh IN AAAA 2001:db9::1\n"
	"zero IN TXT \"v=spf1 ip4:0.0.0.0/0 -all\"\n"
	"zero6 IN TXT \"v=spf1 ip6:::/0 -all\"\n"
	"red IN TXT \"v=spf1 exp=why.example.com redirect=soft.example.com\"\n"
	"redfail IN TXT \"v=spf1 exp=nope.example.com redirect=example.com\"\n"
	"rednone IN TXT \"v=spf1 redirect=nothing.example.com\"\n"
	"incnone IN TXT \"v=spf1 include:nothing.example.com -all\"\n"
	"multi IN TXT \"v=spf1 -all\"\n"
	"multi IN TXT \"v=spf1 +all\"\n"
	"ptrm IN TXT \"v=spf1 ptr:example.com -all\"\n"
	"pmac IN TXT \"v=spf1 -all exp=pexp.example.com\"\n"
	"pexp IN TXT \"%{p} is not allowed\"\n"
	"host IN A 192.0.2.9\n"
	"sid IN TXT \"spf2.0/pra ip4:192.0.2.50 -all\"\n"
	"sid IN TXT \"v=spf1 +all\"\n"
	"sidmfrom IN TXT \"spf2.0/mfrom -all\"\n"
	"sidmfrom IN TXT \"v=spf1 ip4:192.0.2.9 -all\"\n"
	"sidtwo IN TXT \"spf2.0/pra,mfrom -all\"\n"
	"sidtwo IN TXT \"spf2.0/pra +all\"\n"
	"$ORIGIN 2.0.192.in-addr.arpa.\n"
	"9 IN PTR host.example.com.\n"
	"10 IN PTR host.example.com.\n"
	"$ORIGIN example.net.\n"
	"inc IN TXT \"v=spf1 ip4:198.51.100.0/24 -all\"\n";

struct fixture {
	char path[64];
	struct mx_dns *dns;
	struct mx_spf *spf;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct mx_dns_conf conf = { .timeout_ms = 2000 };
	FILE *fp;
	int fd;

	snprintf(f->path, sizeof(f->path), "/tmp/mx_spf_test_XXXXXX");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	fputs(zone_text, fp);
	fclose(fp);
	conf.zone_file = f->path;
	assert_int_equal(mx_dns_create(&conf, &f->dns, stderr), 0);
	assert_int_equal(mx_spf_create(f->dns, "mx.test", &f->spf), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	mx_spf_free(f->spf);
	mx_dns_free(f->dns);
	unlink(f->path);
	free(f);
	return 0;
}

static void
test_table(void **state)
{
	static const struct {
		enum mx_spf_identity id;
		const char *ip, *helo, *from;
		enum mx_spf_result result;
		const char *domain, *exp;
	} t[] = {
		{ MX_SPF_MAILFROM, "192.0.2.1", "h.test", "a@example.com", MX_SPF_PASS, "example.com", "" },
		{ MX_SPF_MAILFROM, "198.51.100.9", "h.test", "a@example.com", MX_SPF_PASS, "example.com", "" },
		{ MX_SPF_MAILFROM, "192.0.2.9", "h.test", "a@EXAMPLE.com", MX_SPF_FAIL, "EXAMPLE.com",
		  "denied-192.0.2.9" },
		{ MX_SPF_MAILFROM, "192.0.2.9", "h.test", "a@soft.example.com", MX_SPF_SOFTFAIL, "soft.example.com", "" },
		{ MX_SPF_MAILFROM, "192.0.2.9", "h.test", "a@nothing.example.com", MX_SPF_NONE, "nothing.example.com", "" },
		{ MX_SPF_MAILFROM, "192.0.2.9", "h.test", "a@void.example.com", MX_SPF_PERMERROR, "void.example.com", "" },
		{ MX_SPF_MAILFROM, "192.0.2.9", "h.test", "a@twovoid.example.com", MX_SPF_PASS, "twovoid.example.com", "" },
		{ MX_SPF_MAILFROM, "192.0.2.25", "h.test", "a@mx.example.com", MX_SPF_PASS, "mx.example.com", "" },
		{ MX_SPF_MAILFROM, "192.0.2.26", "h.test", "a@mx.example.com", MX_SPF_FAIL, "mx.example.com", NULL },
		{ MX_SPF_MAILFROM, "2001:db8::1", "h.test", "a@mx.example.com", MX_SPF_FAIL, "mx.example.com", NULL },
		{ MX_SPF_MAILFROM, "192.0.2.9", "h.test", "a@bad.example.com", MX_SPF_PERMERROR, "bad.example.com", "" },
		/* RFC 7208 4.6: malformed records are checked whole first;
		 * 4.6.4: more than 10 MX names. All end in +all. */
		{ MX_SPF_MAILFROM, "192.0.2.9", "h.test", "a@twoexp.example.com", MX_SPF_PERMERROR,
		  "twoexp.example.com", "" },
		{ MX_SPF_MAILFROM, "192.0.2.9", "h.test", "a@toplabel.example.com", MX_SPF_PERMERROR,
		  "toplabel.example.com", "" },
		{ MX_SPF_MAILFROM, "192.0.2.9", "h.test", "a@mx11.example.com", MX_SPF_PERMERROR,
		  "mx11.example.com", "" },
		/* RFC 7208 4.3: malformed or single-label domains: none. */
		{ MX_SPF_MAILFROM, "192.0.2.9", "h.test", "a@foo..example.com", MX_SPF_NONE, "foo..example.com", "" },
		{ MX_SPF_MAILFROM, "192.0.2.9", "h.test", "a@localhost", MX_SPF_NONE, "localhost", "" },
		/* The null reverse-path checks postmaster@HELO (RFC 7208 2.4). */
		{ MX_SPF_MAILFROM, "192.0.2.77", "helo.example.com", "", MX_SPF_PASS, "helo.example.com", "" },
		{ MX_SPF_HELO, "192.0.2.78", "helo.example.com", "a@example.com", MX_SPF_FAIL, "helo.example.com", NULL },
		{ MX_SPF_MAILFROM, "not-an-ip", "h.test", "a@example.com", MX_SPF_PERMERROR, "example.com", "" },
		/* 4.6.4: ten DNS terms are allowed, the eleventh is not. */
		{ MX_SPF_MAILFROM, "192.0.2.9", "h.test", "a@lim10.example.com", MX_SPF_FAIL, "lim10.example.com", "" },
		{ MX_SPF_MAILFROM, "192.0.2.9", "h.test", "a@lim11.example.com", MX_SPF_PERMERROR,
		  "lim11.example.com", "" },
		/* 4.7: no match and no redirect; an empty record. */
		{ MX_SPF_MAILFROM, "192.0.2.9", "h.test", "a@neutral.example.com", MX_SPF_NEUTRAL,
		  "neutral.example.com", "" },
		{ MX_SPF_MAILFROM, "192.0.2.9", "h.test", "a@empty.example.com", MX_SPF_NEUTRAL, "empty.example.com", "" },
		/* 5.6: CIDR edges, dual CIDR on "a", IPv4-mapped clients. */
		{ MX_SPF_MAILFROM, "192.0.2.128", "h.test", "a@cidr.example.com", MX_SPF_PASS, "cidr.example.com", "" },
		{ MX_SPF_MAILFROM, "192.0.2.127", "h.test", "a@cidr.example.com", MX_SPF_FAIL, "cidr.example.com", "" },
		{ MX_SPF_MAILFROM, "198.51.100.255", "h.test", "a@cidr.example.com", MX_SPF_PASS, "cidr.example.com", "" },
		{ MX_SPF_MAILFROM, "198.51.101.1", "h.test", "a@cidr.example.com", MX_SPF_FAIL, "cidr.example.com", "" },
		{ MX_SPF_MAILFROM, "2001:db8:ffff::1", "h.test", "a@cidr.example.com", MX_SPF_PASS, "cidr.example.com", "" },
		{ MX_SPF_MAILFROM, "2001:db9::ffff:1", "h.test", "a@cidr.example.com", MX_SPF_PASS, "cidr.example.com", "" },
		{ MX_SPF_MAILFROM, "2001:db9:0:1::1", "h.test", "a@cidr.example.com", MX_SPF_FAIL, "cidr.example.com", "" },
		{ MX_SPF_MAILFROM, "::ffff:192.0.2.200", "h.test", "a@cidr.example.com", MX_SPF_PASS, "cidr.example.com", "" },
		{ MX_SPF_MAILFROM, "::ffff:198.51.100.7", "h.test", "a@cidr.example.com", MX_SPF_PASS, "cidr.example.com", "" },
		{ MX_SPF_MAILFROM, "255.255.255.255", "h.test", "a@zero.example.com", MX_SPF_PASS, "zero.example.com", "" },
		{ MX_SPF_MAILFROM, "2001:db8::1", "h.test", "a@zero.example.com", MX_SPF_FAIL, "zero.example.com", "" },
		{ MX_SPF_MAILFROM, "ffff::1", "h.test", "a@zero6.example.com", MX_SPF_PASS, "zero6.example.com", "" },
		{ MX_SPF_MAILFROM, "::ffff:10.0.0.1", "h.test", "a@zero6.example.com", MX_SPF_FAIL, "zero6.example.com", "" },
		/* 6.1: redirect, its exp= instead of ours, and to nothing. */
		{ MX_SPF_MAILFROM, "192.0.2.9", "h.test", "a@red.example.com", MX_SPF_SOFTFAIL, "red.example.com", "" },
		{ MX_SPF_MAILFROM, "192.0.2.9", "h.test", "a@redfail.example.com", MX_SPF_FAIL, "redfail.example.com",
		  "denied-192.0.2.9" },
		{ MX_SPF_MAILFROM, "192.0.2.9", "h.test", "a@rednone.example.com", MX_SPF_PERMERROR,
		  "rednone.example.com", "" },
		/* 5.2: include of a domain without a record; 4.5: two records. */
		{ MX_SPF_MAILFROM, "192.0.2.9", "h.test", "a@incnone.example.com", MX_SPF_PERMERROR,
		  "incnone.example.com", "" },
		{ MX_SPF_MAILFROM, "192.0.2.9", "h.test", "a@multi.example.com", MX_SPF_PERMERROR, "multi.example.com", "" },
		/* 5.5: a validated PTR name under the target; 7.3 %{p}. */
		{ MX_SPF_MAILFROM, "192.0.2.9", "h.test", "a@ptrm.example.com", MX_SPF_PASS, "ptrm.example.com", "" },
		{ MX_SPF_MAILFROM, "192.0.2.10", "h.test", "a@ptrm.example.com", MX_SPF_FAIL, "ptrm.example.com", "" },
		{ MX_SPF_MAILFROM, "192.0.2.9", "h.test", "a@pmac.example.com", MX_SPF_FAIL, "pmac.example.com",
		  "host.example.com is not allowed" },
		{ MX_SPF_MAILFROM, "192.0.2.10", "h.test", "a@pmac.example.com", MX_SPF_FAIL, "pmac.example.com",
		  "unknown is not allowed" },
		/* RFC 4406 4.4: spf2.0/pra wins over v=spf1 for the PRA, the
		 * v=spf1 record serves when no spf2.0 record has the scope. */
		{ MX_SPF_PRA, "192.0.2.9", "h.test", "a@sid.example.com", MX_SPF_FAIL, "sid.example.com", "" },
		{ MX_SPF_PRA, "192.0.2.50", "h.test", "a@sid.example.com", MX_SPF_PASS, "sid.example.com", "" },
		{ MX_SPF_MAILFROM, "192.0.2.9", "h.test", "a@sid.example.com", MX_SPF_PASS, "sid.example.com", "" },
		{ MX_SPF_PRA, "192.0.2.9", "h.test", "a@sidmfrom.example.com", MX_SPF_PASS, "sidmfrom.example.com", "" },
		{ MX_SPF_PRA, "192.0.2.8", "h.test", "a@sidmfrom.example.com", MX_SPF_FAIL, "sidmfrom.example.com", "" },
		{ MX_SPF_PRA, "192.0.2.9", "h.test", "a@sidtwo.example.com", MX_SPF_PERMERROR, "sidtwo.example.com", "" },
		{ MX_SPF_PRA, "192.0.2.9", "h.test", "", MX_SPF_NONE, "", "" },
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct mx_spf_query q = { t[i].id, t[i].ip, t[i].helo, t[i].from };
		struct mx_spf_outcome o;

		mx_spf_check_batch(f->spf, &q, &o, 1);
		if (o.result != t[i].result)
			fail_msg("case %zu (%s): %s, expected %s", i, t[i].from,
					mx_spf_result_str(o.result), mx_spf_result_str(t[i].result));
		assert_string_equal(o.domain, t[i].domain);
		if (t[i].exp != NULL)
			assert_string_equal(o.explanation, t[i].exp);
	}
}

/* RFC 7208 4.6 and section 12: the whole-record grammar check. */
static void
test_record_grammar(void **state)
{
	static const struct {
		const char *rec;
		bool ok;
	} t[] = {
		{ "v=spf1", true },
		{ "V=SpF1 -ALL", true },
		{ "v=spf1 a  -all ", true },
		{ "v=spf1x", false },
		{ "v=spf2 -all", false },
		/* 4.6.1: terms are separated by SP; control and non-ASCII
		 * bytes are no macro-literal (7.1). */
		{ "v=spf1 a:ctrl.example.com\rptr -all", false },
		{ "v=spf1 a:\xef\xbb\xbfgarbage.example.net -all", false },
		{ "v=spf1 \tall", false },
		/* 5: known mechanisms only; 4.6.1: "redirect:" is none. */
		{ "v=spf1 foo -all", false },
		{ "v=spf1 redirect:example.com", false },
		{ "v=spf1 -all.", false },
		{ "v=spf1 -all/8", false },
		{ "v=spf1 ptr ptr:example.com ~all", true },
		{ "v=spf1 ptr:", false },
		{ "v=spf1 ptr/0", false },
		{ "v=spf1 include:", false },
		{ "v=spf1 exists:mail.example.com/24", false },
		/* 7.1: a domain-spec ends in a top label or a macro. */
		{ "v=spf1 a:mail.example.com mx:mx.example.com.", true },
		{ "v=spf1 a:foo:bar/baz.example.com", true },
		{ "v=spf1 a:111.222.33.44", false },
		{ "v=spf1 a:abc.123", false },
		{ "v=spf1 a:abc.1-2", true },
		{ "v=spf1 a:museum", false },
		{ "v=spf1 a:museum.", false },
		{ "v=spf1 a:example.-com", false },
		{ "v=spf1 mx:example.com:8080", false },
		{ "v=spf1 a:", false },
		{ "v=spf1 exists:%{i}.%{l2r-}.user.%{d2}", true },
		/* 7.1: macro letters; c, r and t only in explanation text. */
		{ "v=spf1 a:macro%%percent%_%_space%-url-space.example.com", true },
		{ "v=spf1 -exists:%(ir).sbl.example.com", false },
		{ "v=spf1 exists:foo%.sbl.example.com", false },
		{ "v=spf1 exists:%{x}.example.com", false },
		{ "v=spf1 -all exp=%{r}.example.com", false },
		{ "v=spf1 -all exp=%{ir}.example.com", true },
		/* 5.6: CIDR lengths. */
		{ "v=spf1 ip4:1.1.1.1/0 ip6:::1/0 a/0 mx//0 a/24//64", true },
		{ "v=spf1 ip4:1.2.3.4/32 ip6:::1/128", true },
		{ "v=spf1 ip4:1.2.3.4/33", false },
		{ "v=spf1 ip4:1.2.3.4/032", false },
		{ "v=spf1 ip4:1.2.3.4//32", false },
		{ "v=spf1 ip4", false },
		{ "v=spf1 ip6:::1/129", false },
		{ "v=spf1 a//129", false },
		{ "v=spf1 a/33", false },
		{ "v=spf1 a/24/64", false },
		/* 6: redirect and exp once each; modifier syntax (12). */
		{ "v=spf1 exp=a.example.com redirect=b.example.com", true },
		{ "v=spf1 exp=a.example.com -all exp=b.example.com", false },
		{ "v=spf1 redirect=a.example.com redirect=a.example.com", false },
		{ "v=spf1 exp=", false },
		{ "v=spf1 exp=-all", false },
		{ "v=spf1 moo.cow-far_out=man:dog/cat -all", true },
		{ "v=spf1 foo=%abc", false },
		{ "v=spf1 1up=foo", false },
		{ "v=spf1 =all", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (mx_spf_record_ok(t[i].rec, strlen(t[i].rec)) != t[i].ok)
			fail_msg("case %zu (%s): expected %s", i, t[i].rec,
					t[i].ok ? "valid" : "invalid");
	}
	/* A NUL inside the TXT string is no macro-literal either. */
	assert_false(mx_spf_record_ok("v=spf1 a:foo.example.com\0", 25));
	assert_true(mx_spf_is_record("v=spf1", 6));
	assert_true(mx_spf_is_record("v=spf1 -all", 11));
	assert_false(mx_spf_is_record("v=spf10", 7));
	assert_false(mx_spf_is_record("v=spf", 5));
}

static void
test_batch_rounds(void **state)
{
	struct fixture *f = *state;
	struct mx_spf_query q[2] = {
		{ MX_SPF_MAILFROM, "198.51.100.9", "h.test", "a@example.com" },
		{ MX_SPF_MAILFROM, "192.0.2.25", "h.test", "b@mx.example.com" },
	};
	struct mx_spf_outcome o[2];

	/* Cold: the first evaluation meets a missing record and says so. */
	assert_int_equal(mx_spf_eval(f->spf, &q[0], &o[0]), -EAGAIN);
	mx_spf_check_batch(f->spf, q, o, 2);
	assert_int_equal(o[0].result, MX_SPF_PASS);
	assert_int_equal(o[1].result, MX_SPF_PASS);
	/* example.com TXT, then inc.example.net TXT: two rounds plus the
	 * final evaluation; mx.example.com: TXT, MX, A. */
	assert_int_equal(o[0].n_rounds, 3);
	assert_int_equal(o[1].n_rounds, 4);
	/* Warm: one evaluation, no DNS. */
	assert_int_equal(mx_spf_eval(f->spf, &q[1], &o[1]), 0);
	assert_int_equal(o[1].result, MX_SPF_PASS);
	assert_int_equal(mx_dns_n_pending(f->dns), 0);
}

/* A resolver that never answers: every record lookup times out. */
static void
test_temperror(void **state)
{
	struct mx_dns_conf conf = { .resolver = "127.0.0.1:9", .timeout_ms = 300 };
	struct mx_spf_query q = { MX_SPF_MAILFROM, "192.0.2.1", "h.test", "a@example.com" };
	struct mx_spf_outcome o;
	struct mx_dns *dns;
	struct mx_spf *spf;

	(void)state;
	assert_int_equal(mx_dns_create(&conf, &dns, stderr), 0);
	assert_int_equal(mx_spf_create(dns, "mx.test", &spf), 0);
	mx_spf_check_batch(spf, &q, &o, 1);
	assert_int_equal(o.result, MX_SPF_TEMPERROR);
	assert_int_equal(o.n_rounds, 2);
	mx_spf_free(spf);
	mx_dns_free(dns);
}

/* RFC 7208 7.4, the examples verbatim, then the rest of section 7. */
static void
test_macro(void **state)
{
	static const struct {
		const char *ip, *spec, *want;
		bool exp;
	} t[] = {
		{ "192.0.2.3", "%{s}", "strong-bad@email.example.com", false },
		{ "192.0.2.3", "%{o}", "email.example.com", false },
		{ "192.0.2.3", "%{d}", "email.example.com", false },
		{ "192.0.2.3", "%{d4}", "email.example.com", false },
		{ "192.0.2.3", "%{d3}", "email.example.com", false },
		{ "192.0.2.3", "%{d2}", "example.com", false },
		{ "192.0.2.3", "%{d1}", "com", false },
		{ "192.0.2.3", "%{dr}", "com.example.email", false },
		{ "192.0.2.3", "%{d2r}", "example.email", false },
		{ "192.0.2.3", "%{l}", "strong-bad", false },
		{ "192.0.2.3", "%{l-}", "strong.bad", false },
		{ "192.0.2.3", "%{lr}", "strong-bad", false },
		{ "192.0.2.3", "%{lr-}", "bad.strong", false },
		{ "192.0.2.3", "%{l1r-}", "strong", false },
		{ "192.0.2.3", "%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com", false },
		{ "192.0.2.3", "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com", false },
		{ "192.0.2.3", "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}",
		  "bad.strong.lp.3.2.0.192.in-addr._spf.example.com", false },
		{ "192.0.2.3", "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}",
		  "3.2.0.192.in-addr.strong.lp._spf.example.com", false },
		{ "192.0.2.3", "%{d2}.trusted-domains.example.net",
		  "example.com.trusted-domains.example.net", false },
		{ "2001:db8::cb01", "%{ir}.%{v}._spf.%{d2}",
		  "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com", false },
		/* 7.3: IPv4-mapped is IPv4; upper case is URL-escaped; the
		 * escapes; c, r, t in explanations; p without a name. */
		{ "::ffff:192.0.2.3", "%{i}.%{v}", "192.0.2.3.in-addr", false },
		{ "192.0.2.3", "%{L}.%{S}.x", "strong-bad.strong-bad%40email.example.com.x", false },
		{ "192.0.2.3", "a%%b%_c%-d", "a%b c%20d", true },
		{ "2001:db8::cb01", "%{c} %{r} %{p} %{h}", "2001:db8::cb01 mx.example.org unknown helo.example.org", true },
		{ "192.0.2.3", "%{t}", "1000000000", true },
		{ "192.0.2.3", "%{d2=}", "email.example.com", false },
		{ "192.0.2.3", "%{l.-}x", "strong.badx", false },
		/* 7.1: errors. */
		{ "192.0.2.3", "%{d0}", NULL, false },
		{ "192.0.2.3", "%{c}", NULL, false },
		{ "192.0.2.3", "%{x}", NULL, true },
		{ "192.0.2.3", "%{d", NULL, false },
		{ "192.0.2.3", "%", NULL, false },
		{ "192.0.2.3", "%a", NULL, false },
		{ "192.0.2.3", "a b", NULL, false },
	};
	char out[MX_SPF_DOMAIN_MAX], spec[700], full[1200];
	struct mx_spf_macro_env env = {
		.sender = "strong-bad@email.example.com",
		.domain = "email.example.com",
		.helo = "helo.example.org",
		.receiver = "mx.example.org",
		.now = 1000000000,
	};
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc;

		env.client_ip = t[i].ip;
		rc = mx_spf_macro_expand(&env, t[i].spec, strlen(t[i].spec), t[i].exp,
				out, sizeof(out));
		if (t[i].want == NULL && rc == 0)
			fail_msg("case %zu (%s): expanded to %s", i, t[i].spec, out);
		/* Names compare without case (RFC 4343): %{i} of IPv6 gives
		 * upper-case nibbles, the 7.4 example shows lower case. */
		if (t[i].want != NULL && (rc != 0 || strcasecmp(out, t[i].want) != 0))
			fail_msg("case %zu (%s): rc %d, %s", i, t[i].spec, rc, rc == 0 ? out : "");
	}
	/* 7.3: over 253 characters, whole labels go from the left. */
	env.client_ip = "192.0.2.3";
	n = 0;
	for (unsigned i = 0; i < 30; i++)
		n += (size_t)snprintf(spec + n, sizeof(spec) - n, "label%02u.%%{d}.", i);
	snprintf(spec + n, sizeof(spec) - n, "end.example");
	for (unsigned i = 0, m = 0; i < 30; i++)
		m += (unsigned)snprintf(full + m, sizeof(full) - m, "label%02u.email.example.com.", i);
	strcat(full, "end.example");
	assert_int_equal(mx_spf_macro_expand(&env, spec, strlen(spec), false, out, sizeof(out)), 0);
	n = strlen(out);
	/* The longest suffix of whole labels within 253 characters. */
	assert_true(n <= 253 && n > 253 - 8);
	assert_string_equal(full + strlen(full) - n, out);
	assert_int_equal(full[strlen(full) - n - 1], '.');
	/* One label that cannot be cut is no name. */
	memset(spec, 'a', 300);
	assert_int_equal(mx_spf_macro_expand(&env, spec, 300, false, out, sizeof(out)), -EINVAL);
}

/* RFC 4407 2: which header gives the PRA, and the failures of step 6. */
static void
test_pra(void **state)
{
	static const struct {
		const char *hdrs;
		const char *want; /* NULL: no PRA */
	} t[] = {
		{ "From: a@example.com\r\n\r\n", "a@example.com" },
		{ "from: a@example.com\n", "a@example.com" },
		{ "From: A <a@example.com>\r\nSender: s@example.org\r\n", "s@example.org" },
		{ "Resent-From: r@example.net\r\nFrom: a@example.com\r\n", "r@example.net" },
		{ "Resent-Sender: rs@example.net\r\nResent-From: rf@example.net\r\n", "rs@example.net" },
		/* step 1: a Resent-From before it with trace fields between. */
		{ "Resent-From: rf@a.example\r\nReceived: by x\r\nResent-Sender: rs@b.example\r\n",
		  "rf@a.example" },
		{ "Resent-From: rf@a.example\r\nReturn-Path: <x@y.example>\r\nResent-Sender: rs@b.example\r\n",
		  "rf@a.example" },
		{ "Resent-From: rf@a.example\r\nResent-Sender: rs@b.example\r\nReceived: by x\r\n",
		  "rs@b.example" },
		{ "Received: by x\r\nResent-Sender: rs@b.example\r\nResent-From: rf@a.example\r\n",
		  "rs@b.example" },
		{ "Resent-Sender: \r\nResent-From: rf@a.example\r\n", "rf@a.example" },
		{ "Resent-From: one@a.example\r\nResent-From: two@a.example\r\n", "one@a.example" },
		{ "Sender: s1@example.org\r\nSender: s2@example.org\r\nFrom: a@example.com\r\n", NULL },
		{ "Sender:   \r\nFrom: a@example.com\r\n", "a@example.com" },
		{ "From: a@example.com\r\nFrom: b@example.com\r\n", NULL },
		{ "From: a@example.com, b@example.com\r\n", NULL },
		{ "From: undisclosed-recipients:;\r\n", NULL },
		{ "From: a@[192.0.2.1]\r\n", NULL },
		{ "From: nobody\r\n", NULL },
		{ "From: <>\r\n", NULL },
		{ "Subject: x\r\n", NULL },
		{ "Subject: x\r\n\r\nFrom: a@example.com\r\n", NULL },
		{ "From: Name\r\n <a@example.com> (comment)\r\n", "a@example.com" },
		{ "From: \"quoted, <name>\" <a@example.com>\r\n", "a@example.com" },
		{ "From: (c (nested)) a@example.com (x)\r\n", "a@example.com" },
		{ "From: \"a b\"@example.com\r\n", "\"a b\"@example.com" },
		{ "From: <a@example.com> b@example.com\r\n", NULL },
		{ "From: a@example.com (unclosed\r\n", NULL },
		{ "Sender: <s@example.org\r\n", NULL },
	};
	char out[256];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = mx_spf_pra(t[i].hdrs, strlen(t[i].hdrs), out, sizeof(out));

		if (t[i].want == NULL && rc != -ENOENT)
			fail_msg("case %zu: rc %d (%s), expected no PRA", i, rc, rc == 0 ? out : "");
		if (t[i].want != NULL && (rc != 0 || strcmp(out, t[i].want) != 0))
			fail_msg("case %zu: rc %d (%s), expected %s", i, rc, rc == 0 ? out : "", t[i].want);
	}
	assert_int_equal(mx_spf_pra("From: a@example.com\r\n", 21, out, 5), -ENOSPC);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_rounds, setup, teardown),
		cmocka_unit_test(test_record_grammar),
		cmocka_unit_test(test_temperror),
		cmocka_unit_test(test_macro),
		cmocka_unit_test(test_pra),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
