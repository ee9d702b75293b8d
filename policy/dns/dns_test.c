/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dns_test.c: the zone-file parser and the name check (tables), and real
 * lookups through libunbound answering from a zone file loaded as local
 * data: A, AAAA, MX, TXT joined per RFC 7208 3.3, NXDOMAIN, NODATA.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mx_dns.h"

static void
test_name_ok(void **state)
{
	static const struct {
		const char *name;
		bool ok;
	} t[] = {
		{ "example.com", true },
		{ "example.com.", true },
		{ "a", true },
		{ "", false },
		{ ".", false },
		{ "a..b", false },
		{ ".a", false },
		{ "a.b..", false },
		{ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.com", true },
		{ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.com", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (mx_dns_name_ok(t[i].name) != t[i].ok)
			fail_msg("name %zu '%s': expected %d", i, t[i].name, t[i].ok);
	}
}

struct rr_out {
	char buf[2048];
	size_t len;
};

static int
collect(void *arg, const char *rr)
{
	struct rr_out *o = arg;
	size_t n = strlen(rr);

	if (o->len + n + 2 > sizeof(o->buf))
		return -1;
	memcpy(o->buf + o->len, rr, n);
	o->len += n;
	o->buf[o->len++] = '|';
	o->buf[o->len] = '\0';
	return 0;
}

static void
test_zone_parse(void **state)
{
	static const struct {
		const char *in;
		int rc;
		const char *out;
		unsigned bad_line;
	} t[] = {
		{ "$ORIGIN example.com.\n$TTL 300\n@ IN A 192.0.2.1\n", 0,
		  "example.com. 300 IN A 192.0.2.1|", 0 },
		{ "$ORIGIN example.com.\nwww 60 IN A 192.0.2.2 ; comment\n", 0,
		  "www.example.com. 60 IN A 192.0.2.2|", 0 },
		{ "$ORIGIN example.com.\nwww IN 60 AAAA 2001:db8::1\n\tIN TXT \"x\"\n", 0,
		  "www.example.com. 60 IN AAAA 2001:db8::1|www.example.com. 3600 IN TXT \"x\"|", 0 },
		{ "$ORIGIN example.com.\nk IN TXT ( \"a;b\"\n  \"c\" )\n", 0,
		  "k.example.com. 3600 IN TXT \"a;b\" \"c\"|", 0 },
		{ "$ORIGIN example.com.\n@ MX 10 mail\nc CNAME other.net.\n", 0,
		  "example.com. 3600 IN MX 10 mail.example.com.|c.example.com. 3600 IN CNAME other.net.|", 0 },
		{ "abs.example.org. IN TXT \"v=spf1 -all\"\n", 0,
		  "abs.example.org. 3600 IN TXT \"v=spf1 -all\"|", 0 },
		{ "rel IN A 192.0.2.1\n", -22, "", 1 },
		{ "$ORIGIN example.com.\n\nk IN TXT ( \"unterminated\n", -22, "", 3 },
		{ "$INCLUDE other\n", -22, "", 1 },
		{ "$ORIGIN example.com.\nk IN TXT ((\"x\"))\n", -22, "", 2 },
		{ "$ORIGIN example.com.\nk IN\n", -22, "", 2 },
		{ "\tIN A 192.0.2.1\n", -22, "", 1 },
		{ "; only a comment\n\n", 0, "", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct rr_out o = { .len = 0 };
		unsigned bad = 99;
		int rc = mx_dns_zone_parse(t[i].in, strlen(t[i].in), NULL, collect, &o, &bad);

		if (rc != t[i].rc)
			fail_msg("zone %zu: rc %d, expected %d", i, rc, t[i].rc);
		if (rc == 0 && strcmp(o.buf, t[i].out) != 0)
			fail_msg("zone %zu: got '%s' expected '%s'", i, o.buf, t[i].out);
		if (rc != 0 && bad != t[i].bad_line)
			fail_msg("zone %zu: bad line %u, expected %u", i, bad, t[i].bad_line);
	}
}

static const char zone_text[] =
	"$ORIGIN example.com.\n"
	"$TTL 300\n"
	"@ IN A 192.0.2.1\n"
	"@ IN AAAA 2001:db8::1\n"
	"@ IN MX 10 mail\n"
	"@ IN TXT \"v=spf1 \" \"ip4:192.0.2.1 -all\"\n"
	"mail IN A 192.0.2.25\n";

static struct mx_dns *
zone_resolver(char *path, size_t size)
{
	struct mx_dns_conf conf = { .timeout_ms = 2000 };
	struct mx_dns *d = NULL;
	FILE *f;
	int fd;

	snprintf(path, size, "/tmp/mx_dns_test_XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(zone_text, f);
	fclose(f);
	conf.zone_file = path;
	assert_int_equal(mx_dns_create(&conf, &d, stderr), 0);
	return d;
}

static void
test_lookup_zone(void **state)
{
	static const struct {
		const char *name;
		uint16_t type;
		enum mx_dns_status st;
		const char *first; /* text of the first RR, NULL: not compared */
		uint16_t len;
	} t[] = {
		{ "example.com", MX_DNS_TXT, MX_DNS_OK, "v=spf1 ip4:192.0.2.1 -all", 25 },
		{ "EXAMPLE.com.", MX_DNS_A, MX_DNS_OK, "\xc0\x00\x02\x01", 4 },
		{ "example.com", MX_DNS_AAAA, MX_DNS_OK, NULL, 16 },
		{ "example.com", MX_DNS_MX, MX_DNS_OK, "mail.example.com", 16 },
		{ "mail.example.com", MX_DNS_TXT, MX_DNS_NODATA, NULL, 0 },
		{ "nothere.example.com", MX_DNS_A, MX_DNS_NXDOMAIN, NULL, 0 },
		{ "other.test", MX_DNS_A, MX_DNS_NXDOMAIN, NULL, 0 },
	};
	char path[64];
	struct mx_dns *d = zone_resolver(path, sizeof(path));

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(mx_dns_submit(d, t[i].name, t[i].type), 0);
	assert_int_equal(mx_dns_submit(d, "a..b", MX_DNS_A), -22);
	mx_dns_wait(d);
	assert_int_equal(mx_dns_n_pending(d), 0);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const struct mx_dns_answer *a = mx_dns_get(d, t[i].name, t[i].type);

		assert_non_null(a);
		if (a->status != t[i].st)
			fail_msg("lookup %zu %s: %s", i, t[i].name, mx_dns_status_str(a->status));
		if (t[i].st != MX_DNS_OK)
			continue;
		assert_int_equal(a->n_rr, 1);
		assert_int_equal(a->rr[0].len, t[i].len);
		if (t[i].first != NULL)
			assert_memory_equal(a->rr[0].data, t[i].first, t[i].len);
		if (t[i].type == MX_DNS_MX)
			assert_int_equal(a->rr[0].pref, 10);
	}
	/* A second submit is a cache hit, not a query. */
	uint64_t q = mx_dns_stats(d)->queries;
	assert_int_equal(mx_dns_submit(d, "example.com", MX_DNS_TXT), 0);
	assert_int_equal(mx_dns_stats(d)->queries, q);
	assert_int_equal(mx_dns_n_pending(d), 0);
	assert_null(mx_dns_get(d, "never.example.com", MX_DNS_A));
	mx_dns_free(d);
	unlink(path);
}

static void
test_cache_bound(void **state)
{
	struct mx_dns_conf conf = { .timeout_ms = 2000, .max_entries = 4 };
	char path[64];
	struct mx_dns *d = zone_resolver(path, sizeof(path));
	char name[32];

	(void)state;
	mx_dns_free(d);
	conf.zone_file = path;
	assert_int_equal(mx_dns_create(&conf, &d, stderr), 0);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "n%d.example.com", i);
		assert_int_equal(mx_dns_submit(d, name, MX_DNS_A), 0);
		mx_dns_wait(d);
	}
	assert_int_equal(mx_dns_stats(d)->evictions, 6);
	assert_null(mx_dns_get(d, "n0.example.com", MX_DNS_A));
	assert_non_null(mx_dns_get(d, "n9.example.com", MX_DNS_A));
	mx_dns_free(d);
	unlink(path);
}

/* mx_dns_cache_clear: answers put in and a query still pending are all
 * gone, and the same resolver then answers again from its zone. */
static void
test_cache_clear(void **state)
{
	static const uint8_t txt[] = "\x05hello";
	const uint8_t *rd[1] = { txt };
	size_t len[1] = { sizeof(txt) - 1 };
	char path[64];
	struct mx_dns *d = zone_resolver(path, sizeof(path));
	const struct mx_dns_answer *a;

	(void)state;
	assert_int_equal(mx_dns_cache_put(d, "put.example.com", MX_DNS_TXT, 0,
			rd, len, 1, 300), 0);
	a = mx_dns_get(d, "put.example.com", MX_DNS_TXT);
	assert_non_null(a);
	assert_int_equal(a->status, MX_DNS_OK);
	assert_int_equal(a->rr[0].len, 5);
	assert_int_equal(mx_dns_submit(d, "example.com", MX_DNS_TXT), 0);
	assert_int_equal(mx_dns_n_pending(d), 1);
	mx_dns_cache_clear(d);
	assert_int_equal(mx_dns_n_pending(d), 0);
	assert_null(mx_dns_get(d, "put.example.com", MX_DNS_TXT));
	assert_null(mx_dns_get(d, "example.com", MX_DNS_TXT));
	assert_int_equal(mx_dns_submit(d, "example.com", MX_DNS_TXT), 0);
	mx_dns_wait(d);
	a = mx_dns_get(d, "example.com", MX_DNS_TXT);
	assert_non_null(a);
	assert_int_equal(a->status, MX_DNS_OK);
	mx_dns_free(d);
	unlink(path);
}

static void
test_bad_conf(void **state)
{
	struct mx_dns_conf conf = { .resolver = "not-an-ip" };
	struct mx_dns *d = (struct mx_dns *)1;
	FILE *null = fopen("/dev/null", "w");

	(void)state;
	assert_int_equal(mx_dns_create(&conf, &d, null), -22);
	assert_null(d);
	conf.resolver = NULL;
	conf.zone_file = "/nonexistent/zone";
	assert_int_equal(mx_dns_create(&conf, &d, null), -22);
	fclose(null);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_ok),
		cmocka_unit_test(test_zone_parse),
		cmocka_unit_test(test_lookup_zone),
		cmocka_unit_test(test_cache_bound),
		cmocka_unit_test(test_cache_clear),
		cmocka_unit_test(test_bad_conf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
