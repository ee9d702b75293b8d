/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spf_test.c: SPF checks through libspf2, our DNS layer and libunbound
 * answering from zone data (a table of cases): results, explanations,
 * the RFC 7208 4.3 pre-checks, the record grammar check of 4.6 (a table
 * of records), the void-lookup and MX-name limits, the HELO identity,
 * and re-runs over several DNS rounds. The RFC 7208 suite itself runs
 * end to end in tests/conformance through a real DNS server.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
		/* RFC 7208 4.6: records libspf2 would accept, checked whole
		 * first; 4.6.4: more than 10 MX names. All end in +all. */
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_rounds, setup, teardown),
		cmocka_unit_test(test_record_grammar),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
