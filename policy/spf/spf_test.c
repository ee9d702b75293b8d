/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spf_test.c: SPF checks through libspf2, our DNS layer and libunbound
 * answering from zone data (a table of cases): results, explanations,
 * the RFC 7208 4.3 pre-checks, the void-lookup limit, the HELO identity,
 * and re-runs over several DNS rounds. The RFC 7208 suite itself runs
 * end to end in tests/conformance through a real DNS server.
 */
#include <errno.h>
#include <setjmp.h>
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
