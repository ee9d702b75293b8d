/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dns_test.c: the zone-file parser and the name check (tables), and real
 * lookups through libunbound answering from a zone file loaded as local
 * data: A, AAAA, MX, TXT joined per RFC 7208 3.3, NXDOMAIN, NODATA; the
 * response-packet reader (table), and a lookup through a DNS server on
 * loopback whose answer libunbound will not hand out.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

/* ---- reading response packets ---- */

/* Hex with spaces to octets; returns the count. */
static size_t
unhex(const char *hex, uint8_t *out, size_t size)
{
	size_t n = 0;

	for (const char *p = hex; *p != '\0' && n < size;) {
		unsigned v;

		if (*p == ' ') {
			p++;
			continue;
		}
		assert_int_equal(sscanf(p, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
		p += 2;
	}
	return n;
}

/* Header QR RD RA, one question "a.b", then the answers. Question and
 * first answer owner: offset 12 (0x0c); answers start at offset 21. */
#define H(flags, an) "0000 " flags " 0001 " an " 0000 0000 "
#define Q(type) "0161 0162 00 " type " 0001 "
/* a.b CNAME c.b (its target compressed), then c.b A 192.0.2.1. */
#define CHAIN "c00c 0005 0001 00000064 0004 0163c00e " \
	"c021 0001 0001 0000003c 0004 c0000201"

static void
test_packet_read(void **state)
{
	static const struct {
		const char *what;
		const char *hex;
		uint16_t type;
		int rc, rcode;
		size_t n;
		uint32_t ttl;
		const char *first;  /* hex of the first rdata taken */
		size_t last_len;    /* length of the last rdata taken */
	} t[] = {
		{ "a TXT of two strings beside one with none (RFC 7208 null-text)",
		  H("8180", "0002") Q("0010")
		  "c00c 0010 0001 0000012c 0007 03616263 026465 "
		  "c00c 0010 0001 00000258 0000",
		  MX_DNS_TXT, 0, 0, 2, 300, "03616263026465", 0 },
		{ "a CNAME chain: the A at its end",
		  H("8180", "0002") Q("0001")
		  CHAIN,
		  MX_DNS_A, 0, 0, 1, 60, "c0000201", 4 },
		{ "a CNAME chain: the CNAME, its target expanded",
		  H("8180", "0002") Q("0005")
		  CHAIN,
		  MX_DNS_CNAME, 0, 0, 1, 100, "0163016200", 5 },
		{ "an MX whose exchange is compressed",
		  H("8180", "0001") Q("000f")
		  "c00c 000f 0001 00000e10 0009 000a 046d61696c c00c",
		  MX_DNS_MX, 0, 0, 1, 3600, "000a046d61696c0161016200", 12 },
		{ "class CH skipped; a TTL with its top bit set is 0 (RFC 2181 8)",
		  H("8180", "0002") Q("0010")
		  "c00c 0010 0003 0000012c 0002 0178 "
		  "c00c 0010 0001 80000000 0002 0179",
		  MX_DNS_TXT, 0, 0, 1, 0, "0179", 2 },
		{ "NXDOMAIN, no answers", H("8183", "0000") Q("0010"),
		  MX_DNS_TXT, 0, 3, 0, 0, NULL, 0 },
		{ "another type only", H("8180", "0001") Q("0010")
		  "c00c 0001 0001 0000003c 0004 c0000201",
		  MX_DNS_TXT, 0, 0, 0, 0, NULL, 0 },
		{ "short header", "0000 8180 0001", MX_DNS_TXT, -22, 0, 0, 0, NULL, 0 },
		{ "a query, not a response", H("0100", "0000") Q("0010"),
		  MX_DNS_TXT, -22, 0, 0, 0, NULL, 0 },
		{ "question cut short", "0000 8180 0001 0000 0000 0000 0161",
		  MX_DNS_TXT, -22, 0, 0, 0, NULL, 0 },
		{ "rdata past the end", H("8180", "0001") Q("0010")
		  "c00c 0010 0001 0000012c 0010 0178",
		  MX_DNS_TXT, -22, 0, 0, 0, NULL, 0 },
		{ "a pointer forwards", H("8180", "0001") Q("0010")
		  "c040 0010 0001 0000012c 0000",
		  MX_DNS_TXT, -22, 0, 0, 0, NULL, 0 },
		{ "a pointer loop grows the name past 255 octets",
		  H("8180", "0001") Q("0010") "0178 c015 0010 0001 0000012c 0000",
		  MX_DNS_TXT, -22, 0, 0, 0, NULL, 0 },
		{ "a label type of RFC 6891 (0x40)", H("8180", "0001") Q("0010")
		  "4100 0010 0001 0000012c 0000",
		  MX_DNS_TXT, -22, 0, 0, 0, NULL, 0 },
		{ "an MX without an exchange", H("8180", "0001") Q("000f")
		  "c00c 000f 0001 0000012c 0001 00",
		  MX_DNS_MX, -22, 0, 0, 0, NULL, 0 },
		{ "an MX exchange running past its rdata", H("8180", "0001") Q("000f")
		  "c00c 000f 0001 0000012c 0004 000a 0461 00000000",
		  MX_DNS_MX, -22, 0, 0, 0, NULL, 0 },
	};
	static struct mx_dns_packet out;
	uint8_t pkt[512], want[300];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t len = unhex(t[i].hex, pkt, sizeof(pkt));
		int rc = mx_dns_packet_read(pkt, len, t[i].type, &out);

		if (rc != t[i].rc)
			fail_msg("packet %zu (%s): rc %d, expected %d", i, t[i].what, rc, t[i].rc);
		if (rc != 0)
			continue;
		if (out.rcode != t[i].rcode || out.n != t[i].n || out.ttl != t[i].ttl)
			fail_msg("packet %zu (%s): rcode %d n %zu ttl %u", i, t[i].what,
					out.rcode, out.n, out.ttl);
		if (t[i].first != NULL) {
			size_t wl = unhex(t[i].first, want, sizeof(want));

			assert_int_equal(out.len[0], wl);
			assert_memory_equal(out.rdata[0], want, wl);
			assert_int_equal(out.len[out.n - 1], t[i].last_len);
		}
	}
}

#undef H
#undef Q
#undef CHAIN

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

/* ---- an answer libunbound will not hand out ---- */

/* A DNS server on loopback that answers every question with a TXT
 * RRset holding "v=spf1 -all" and an RR with no character-string, as
 * the RFC 7208 suite's null-text zone does. */
struct empty_txt_server {
	int fd;
	uint16_t port;
	atomic_bool stop;
	pthread_t thread;
};

static void *
empty_txt_serve(void *arg)
{
	static const uint8_t answers[] = {
		0xc0, 0x0c, 0x00, 0x10, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x0c,
		0x0b, 'v', '=', 's', 'p', 'f', '1', ' ', '-', 'a', 'l', 'l',
		0xc0, 0x0c, 0x00, 0x10, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x00,
	};
	struct empty_txt_server *s = arg;

	while (!atomic_load(&s->stop)) {
		struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
		struct sockaddr_in from;
		socklen_t flen = sizeof(from);
		uint8_t q[512], r[1024];
		ssize_t n;
		size_t end = 12;

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		n = recvfrom(s->fd, q, sizeof(q), 0, (struct sockaddr *)&from, &flen);
		if (n < 17)
			continue;
		while (end < (size_t)n && q[end] != 0)
			end += 1u + q[end];
		end += 5; /* the root label, QTYPE, QCLASS */
		if (end > (size_t)n)
			continue;
		/* The query's id and question, QR AA RD RA, one question, two
		 * answers, no EDNS. */
		memcpy(r, q, end);
		r[2] = 0x85;
		r[3] = 0x80;
		r[5] = 1;
		r[6] = 0;
		r[7] = 2;
		memset(r + 8, 0, 4);
		memcpy(r + end, answers, sizeof(answers));
		(void)sendto(s->fd, r, end + sizeof(answers), 0, (struct sockaddr *)&from, flen);
	}
	return NULL;
}

static void
empty_txt_start(struct empty_txt_server *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(s->fd >= 0);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &alen), 0);
	s->port = ntohs(a.sin_port);
	atomic_init(&s->stop, false);
	assert_int_equal(pthread_create(&s->thread, NULL, empty_txt_serve, s), 0);
}

static void
empty_txt_stop(struct empty_txt_server *s)
{
	atomic_store(&s->stop, true);
	pthread_join(s->thread, NULL);
	close(s->fd);
}

/* libunbound answers SERVFAIL for that RRset; the resolver reads the
 * RRs from unbound's answer packet instead, and SPF's record is there. */
static void
test_empty_txt_repaired(void **state)
{
	struct empty_txt_server srv;
	struct mx_dns_conf conf = { .timeout_ms = 2000 };
	const struct mx_dns_answer *a;
	struct mx_dns *d;
	char fwd[32];
	int spf;

	(void)state;
	empty_txt_start(&srv);
	snprintf(fwd, sizeof(fwd), "127.0.0.1:%u", srv.port);
	conf.resolver = fwd;
	assert_int_equal(mx_dns_create(&conf, &d, stderr), 0);
	assert_int_equal(mx_dns_submit(d, "null.example.com", MX_DNS_TXT), 0);
	mx_dns_wait(d);
	a = mx_dns_get(d, "null.example.com", MX_DNS_TXT);
	assert_non_null(a);
	if (a->status != MX_DNS_OK)
		fail_msg("status %s", mx_dns_status_str(a->status));
	/* An RRset has no order; unbound may rotate it. */
	assert_int_equal(a->n_rr, 2);
	spf = a->rr[0].len == 0 ? 1 : 0;
	assert_int_equal(a->rr[spf].len, 11);
	assert_memory_equal(a->rr[spf].data, "v=spf1 -all", 11);
	assert_int_equal(a->rr[1 - spf].len, 0);
	assert_true(a->ttl > 0 && a->ttl <= 300);
	assert_int_equal(mx_dns_stats(d)->repaired, 1);
	assert_int_equal(mx_dns_stats(d)->servfail, 0);
	mx_dns_free(d);
	empty_txt_stop(&srv);
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
		cmocka_unit_test(test_packet_read),
		cmocka_unit_test(test_lookup_zone),
		cmocka_unit_test(test_cache_bound),
		cmocka_unit_test(test_cache_clear),
		cmocka_unit_test(test_empty_txt_repaired),
		cmocka_unit_test(test_bad_conf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
