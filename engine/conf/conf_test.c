/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of mx_conf.
 *
 * The main table feeds YAML text to the loader and checks the return code
 * and the substrings of the messages (every message carries
 * "file:line: section.key"). Separate tests cover the scalar parsers,
 * validation of required keys and cross-key rules, command-line flags over
 * a file, the dump/load round trip, relative paths, file I/O errors,
 * refcounting, the local-domain match, and the shipped example file.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "mx_conf.h"
#include "mx_log.h"

#include "conf_priv.h"

#define ERR_MAX 8192

struct row {
	const char *yaml;
	int rc;
	const char *err[3];     /* substrings of the messages */
};

/* One key or one rule per row: good values load, bad ones say where
 * and what (libyaml numbers lines from the first line, as editors do). */
static const struct row load_rows[] = {
	/* server.hostname */
	{ "server:\n  hostname: mx.example.org\n", 0, { NULL } },
	{ "server:\n  hostname: mx1\n", 0, { NULL } },
	{ "server:\n  hostname: -mx.example.org\n", -EINVAL,
		{ "test.yaml:2: server.hostname: bad host name '-mx.example.org'",
			"(expected an RFC 1123 host name" } },
	{ "server:\n  hostname: 192.0.2.1\n", -EINVAL,
		{ "test.yaml:2: server.hostname: bad host name" } },
	{ "server:\n  hostname: mx_1.example.org\n", -EINVAL,
		{ "test.yaml:2: server.hostname: bad host name" } },
	{ "server:\n  hostname: "
		"a123456789012345678901234567890123456789012345678901234567890123.org\n",
		-EINVAL, { "server.hostname: bad host name" } },
	{ "server:\n  hostname: mx.example.org.\n", -EINVAL, { "server.hostname: bad host name" } },
	{ "server:\n  hostname: [a, b]\n", -EINVAL,
		{ "test.yaml:2: server.hostname: got a list (expected" } },
	{ "server:\n  hostname:\n", -EINVAL,
		{ "test.yaml:2: server.hostname: missing value" } },
	{ "server:\n  hostname: \"a\\0b\"\n", -EINVAL,
		{ "server.hostname: value contains a NUL byte" } },
	/* server.transport */
	{ "server:\n  transport: dpdk\n", 0, { NULL } },
	{ "server:\n  transport: vpp\n", -EINVAL,
		{ "test.yaml:2: server.transport: unknown transport 'vpp' (expected kernel or dpdk)" } },
	/* dpdk.fault.*: a nested group or dotted names */
	{ "dpdk:\n  fault:\n    loss_pct: 5\n    delay_ms: 20\n    delay_jitter_ms: 10\n"
		"    seed: 7\n", 0, { NULL } },
	{ "dpdk:\n  fault.dup_pct: 2\n  fault.reorder_pct: 25\n", 0, { NULL } },
	{ "dpdk:\n  fault:\n    loss_pct: 101\n", -EINVAL,
		{ "test.yaml:3: dpdk.fault.loss_pct: '101' is out of range (expected" } },
	{ "dpdk:\n  fault:\n    los_pct: 5\n", -EINVAL,
		{ "test.yaml:3: dpdk.fault.los_pct: unknown key" } },
	{ "dpdk:\n  fault: 5\n", -EINVAL, { "test.yaml:2: dpdk.fault: unknown key" } },
	/* server.listen */
	{ "server:\n  listen: [\"0.0.0.0:25\", \"[::]:25\"]\n", 0, { NULL } },
	{ "server:\n  listen: 127.0.0.1:2525\n", 0, { NULL } },
	{ "server:\n  listen:\n    - 127.0.0.1:2525\n    - 127.0.0.2:2525\n", 0, { NULL } },
	{ "server:\n  listen: localhost:25\n", -EINVAL,
		{ "test.yaml:2: server.listen: bad address 'localhost:25'" } },
	{ "server:\n  listen: [127.0.0.1]\n", -EINVAL, { "server.listen: bad address '127.0.0.1'" } },
	{ "server:\n  listen: [\"1.0.0.1:1\", \"1.0.0.2:1\", \"1.0.0.3:1\", \"1.0.0.4:1\", "
		"\"1.0.0.5:1\", \"1.0.0.6:1\", \"1.0.0.7:1\", \"1.0.0.8:1\", \"1.0.0.9:1\"]\n",
		-EINVAL, { "test.yaml:2: server.listen: 9 entries (expected 1 to 8 addresses" } },
	{ "server:\n  listen: []\n", -EINVAL, { "server.listen: 0 entries" } },
	{ "server:\n  listen: [\"127.0.0.1:25\", \"127.0.0.1:25\"]\n", -EINVAL,
		{ "server.listen: '127.0.0.1:25' is listed twice" } },
	{ "server:\n  listen: {a: 1}\n", -EINVAL, { "server.listen: got a mapping" } },
	{ "server:\n  listen:\n    - 127.0.0.1:25\n    - [1, 2]\n", -EINVAL,
		{ "test.yaml:4: server.listen: entry 2 is a list" } },
	/* server.workers */
	{ "server:\n  workers: 64\n", 0, { NULL } },
	{ "server:\n  workers: 0\n", -EINVAL,
		{ "test.yaml:2: server.workers: '0' is out of range (expected an integer in 1..64)" } },
	{ "server:\n  workers: 65\n", -EINVAL, { "server.workers: '65' is out of range" } },
	{ "server:\n  workers: two\n", -EINVAL,
		{ "server.workers: bad value 'two': not a number" } },
	{ "server:\n  workers: 4k\n", -EINVAL, { "server.workers: bad value '4k'" } },
	/* smtp.local_domains */
	{ "smtp:\n  local_domains: [Example.ORG, example.net.]\n", 0, { NULL } },
	{ "smtp:\n  local_domains: example.org\n", 0, { NULL } },
	{ "smtp:\n  local_domains: [\"exa mple.org\"]\n", -EINVAL,
		{ "test.yaml:2: smtp.local_domains: bad domain 'exa mple.org'" } },
	{ "smtp:\n  local_domains: [a.org, A.ORG]\n", -EINVAL,
		{ "smtp.local_domains: 'a.org' is listed twice" } },
	{ "smtp:\n  local_domains: [\"[192.0.2.1]\"]\n", -EINVAL, { "smtp.local_domains: bad domain" } },
	/* sizes */
	{ "smtp:\n  max_command_line: 64k\n  max_text_line: 1M\n", 0, { NULL } },
	{ "smtp:\n  max_command_line: 511\n", -EINVAL,
		{ "test.yaml:2: smtp.max_command_line: '511' is out of range (expected a size in 512..64k" } },
	{ "smtp:\n  max_text_line: 999\n", -EINVAL,
		{ "smtp.max_text_line: '999' is out of range (expected a size in 1000..1M" } },
	{ "smtp:\n  max_message_size: 35M\n", 0, { NULL } },
	{ "smtp:\n  max_message_size: 2g\n", 0, { NULL } },
	{ "smtp:\n  max_message_size: 35X\n", -EINVAL,
		{ "smtp.max_message_size: bad value '35X': not a number with a known suffix" } },
	{ "smtp:\n  max_message_size: 35MB\n", -EINVAL, { "bad value '35MB'" } },
	{ "smtp:\n  max_message_size: -1\n", -EINVAL,
		{ "smtp.max_message_size: bad value '-1': negative value" } },
	{ "smtp:\n  max_message_size: 99999999999999999999\n", -EINVAL,
		{ "smtp.max_message_size: bad value '99999999999999999999': number too large" } },
	{ "smtp:\n  max_message_size: 18446744073709551615G\n", -EINVAL, { "number too large" } },
	{ "smtp:\n  max_message_size: 65G\n", -EINVAL,
		{ "smtp.max_message_size: '65G' is out of range (expected a size in 1k..64G" } },
	{ "smtp:\n  max_message_size: \"\"\n", -EINVAL, { "bad value '': empty value" } },
	{ "smtp:\n  max_header_bytes: 16M\n", 0, { NULL } },
	{ "smtp:\n  max_header_bytes: 999\n", -EINVAL, { "smtp.max_header_bytes: '999' is out of range" } },
	/* counts */
	{ "smtp:\n  max_recipients: 100\n  max_errors: 1\n  max_headers: 100000\n", 0, { NULL } },
	{ "smtp:\n  max_recipients: 99\n", -EINVAL,
		{ "test.yaml:2: smtp.max_recipients: '99' is out of range (expected an integer in 100..100000)" } },
	{ "smtp:\n  max_errors: 0\n", -EINVAL, { "smtp.max_errors: '0' is out of range" } },
	{ "smtp:\n  max_connections_per_client: 65536\n", -EINVAL,
		{ "smtp.max_connections_per_client: '65536' is out of range (expected an integer in 1..65535)" } },
	{ "smtp:\n  max_connections: 1.5\n", -EINVAL, { "smtp.max_connections: bad value '1.5'" } },
	/* durations */
	{ "smtp:\n  greeting_delay: 300ms\n  timeout_greeting: 1h\n  timeout_command: 300000\n", 0,
		{ NULL } },
	{ "smtp:\n  greeting_delay: 5x\n", -EINVAL,
		{ "test.yaml:2: smtp.greeting_delay: bad value '5x': not a number with a known suffix",
			"(expected a duration in 0..5m" } },
	{ "smtp:\n  greeting_delay: 1.5s\n", -EINVAL, { "smtp.greeting_delay: bad value '1.5s'" } },
	{ "smtp:\n  greeting_delay: 6m\n", -EINVAL, { "smtp.greeting_delay: '6m' is out of range" } },
	{ "smtp:\n  timeout_command: 0\n", -EINVAL,
		{ "smtp.timeout_command: '0' is out of range (expected a duration in 1s..1h" } },
	{ "smtp:\n  timeout_data: -3m\n", -EINVAL, { "smtp.timeout_data: bad value '-3m': negative value" } },
	{ "smtp:\n  timeout_data: 99999999999999999h\n", -EINVAL, { "smtp.timeout_data: bad value" } },
	{ "smtp:\n  timeout_data: 5 m\n", -EINVAL, { "smtp.timeout_data: bad value '5 m'" } },
	/* words */
	{ "smtp:\n  bare_lf: normalize\n  pipelining: no\n  chunking: \"false\"\n", 0, { NULL } },
	{ "smtp:\n  bare_lf: strip\n", -EINVAL,
		{ "test.yaml:2: smtp.bare_lf: bad value 'strip' (expected reject or normalize)" } },
	{ "smtp:\n  pipelining: maybe\n", -EINVAL,
		{ "smtp.pipelining: bad value 'maybe' (expected true or false)" } },
	{ "smtp:\n  chunking: [true]\n", -EINVAL, { "smtp.chunking: got a list" } },
	/* delivery */
	{ "delivery:\n  downstream: 127.0.0.1:10025\n", 0, { NULL } },
	{ "delivery:\n  downstream: \"[::1]:10025\"\n", 0, { NULL } },
	{ "delivery:\n  downstream: localhost:10025\n", 0, { NULL } },
	{ "delivery:\n  downstream: 127.0.0.1:0\n", -EINVAL,
		{ "test.yaml:2: delivery.downstream: port 0 in '127.0.0.1:0'" } },
	{ "delivery:\n  downstream: 127.0.0.1\n", -EINVAL,
		{ "delivery.downstream: bad address '127.0.0.1' (expected HOST:PORT" } },
	{ "delivery:\n  downstream: relay.example:99999\n", -EINVAL,
		{ "delivery.downstream: bad address 'relay.example:99999'" } },
	{ "delivery:\n  downstream: \"bad_name:25\"\n", -EINVAL,
		{ "delivery.downstream: bad host name in 'bad_name:25'" } },
	{ "delivery:\n  helo_name: relay.example.org\n  pool_size: 0\n  max_connections: 1024\n", 0,
		{ NULL } },
	{ "delivery:\n  helo_name: \"not a name\"\n", -EINVAL, { "delivery.helo_name: bad host name" } },
	{ "delivery:\n  pool_size: 2000\n", -EINVAL,
		{ "delivery.pool_size: '2000' is out of range (expected an integer in 0..1024)" } },
	{ "delivery:\n  timeout_connect: 100ms\n  idle_timeout: 1h\n", 0, { NULL } },
	{ "delivery:\n  timeout_connect: 99\n", -EINVAL, { "delivery.timeout_connect: '99' is out of range" } },
	{ "delivery:\n  spool_dir: /var/spool/mxedge\n", 0, { NULL } },
	{ "delivery:\n  spool_dir: \"\"\n", -EINVAL, { "delivery.spool_dir: empty path" } },
	/* log, metrics, memory */
	{ "log:\n  level: debug\n  verdict_log: \"-\"\n", 0, { NULL } },
	{ "log:\n  level: verbose\n", -EINVAL,
		{ "test.yaml:2: log.level: unknown level 'verbose' (expected err, warn, notice, info or debug)" } },
	{ "metrics:\n  listen: \"[::1]:9925\"\n", 0, { NULL } },
	{ "metrics:\n  listen: 9925\n", -EINVAL, { "test.yaml:2: metrics.listen: bad address '9925'" } },
	{ "memory:\n  chunk_size: 4k\n  worker_message_memory: 1G\n  rcvbuf: 1M\n  sndbuf: 4096\n", 0,
		{ NULL } },
	{ "memory:\n  chunk_size: 512\n", -EINVAL,
		{ "memory.chunk_size: '512' is out of range (expected a size in 1k..16M" } },
	{ "memory:\n  rcvbuf: 1G\n", -EINVAL, { "memory.rcvbuf: '1G' is out of range" } },
	/* names: unknown, misplaced, duplicated */
	{ "server:\n  hostnme: mx.example.org\n", -EINVAL,
		{ "test.yaml:2: server.hostnme: unknown key (did you mean hostname?)" } },
	{ "smtp:\n  max_recipient: 100\n", -EINVAL,
		{ "smtp.max_recipient: unknown key (did you mean max_recipients?)" } },
	{ "smtp:\n  downstream: 127.0.0.1:25\n", -EINVAL,
		{ "test.yaml:2: smtp.downstream: unknown key (did you mean delivery.downstream?" } },
	{ "server:\n  colour: blue\n", -EINVAL, { "server.colour: unknown key" } },
	{ "servr:\n  workers: 1\n", -EINVAL,
		{ "test.yaml:1: servr: unknown section (did you mean server?)" } },
	{ "hostname: mx.example.org\n", -EINVAL,
		{ "test.yaml:1: hostname: unknown section (did you mean server.hostname?" } },
	{ "server:\n  workers: 1\n  workers: 2\n", -EINVAL,
		{ "test.yaml:3: server.workers: duplicate key (first at line 2)" } },
	{ "smtp:\n  max_errors: 3\nlog:\n  level: info\nsmtp:\n  max_errors: 4\n", -EINVAL,
		{ "test.yaml:5: smtp: duplicate section (first at line 1)" } },
	{ "server:\n  [a]: 1\n", -EINVAL, { "test.yaml:2: server: key names must be strings, got a list" } },
	{ "? [x]\n: 1\n", -EINVAL, { "test.yaml:1: top level: section names must be strings" } },
	/* document shape */
	{ "", -EINVAL, { "test.yaml:1: top level: empty configuration" } },
	{ "# only a comment\n", -EINVAL, { "top level: empty configuration" } },
	{ "- server\n- smtp\n", -EINVAL,
		{ "test.yaml:1: top level: expected a mapping of sections, got a list" } },
	{ "hello\n", -EINVAL, { "top level: expected a mapping of sections, got a scalar" } },
	{ "server: 5\n", -EINVAL, { "test.yaml:1: server: expected a mapping of keys, got a scalar" } },
	{ "server:\nsmtp: ~\n", 0, { NULL } },
	{ "server:\n  workers: 1\n---\nsmtp:\n  max_errors: 3\n", -EINVAL,
		{ "test.yaml:4: top level: only one YAML document is allowed" } },
	/* YAML syntax: libyaml's words, our line */
	{ "server:\n  hostname: [a\n", -EINVAL,
		{ "test.yaml:3: yaml: did not find expected ',' or ']'" } },
	{ "server:\n\thostname: mx\n", -EINVAL,
		{ "test.yaml:2: yaml: found character that cannot start any token" } },
	{ "server:\n  hostname: \"mx\n", -EINVAL, { "yaml: found unexpected end of stream" } },
	{ "server:\n  hostname: x\xc3\x28y\n", -EINVAL,
		{ "test.yaml:2: yaml: invalid trailing UTF-8 octet" } },
	{ "server:\n  hostname: *nowhere\n", -EINVAL, { "yaml: found undefined alias" } },
	{ "server:\n  hostname: &h mx.example.org\ndelivery:\n  helo_name: *h\n", 0, { NULL } },
	/* auth.*, dns.* (sender authentication) */
	{ "auth:\n  spf: enforce\n  dmarc: record\n  temperror: tempfail\n"
		"  verifier: worker\n  senderid: true\n  dkim_min_key_bits: 2048\n", 0, { NULL } },
	{ "auth:\n  spf: enforced\n", -EINVAL,
		{ "test.yaml:2: auth.spf: bad value 'enforced' (expected off, record or enforce)" } },
	{ "auth:\n  temperror: reject\n", -EINVAL,
		{ "test.yaml:2: auth.temperror: bad value 'reject' (expected accept or tempfail)" } },
	{ "auth:\n  verifier: lcore\n", -EINVAL, { "test.yaml:2: auth.verifier: bad value" } },
	{ "auth:\n  dkim_min_key_bits: 256\n", -EINVAL, { "test.yaml:2: auth.dkim_min_key_bits" } },
	{ "dns:\n  timeout_ms: 0\n", -EINVAL, { "test.yaml:2: dns.timeout_ms" } },
	{ "dns:\n  resolver: 127.0.0.1:5353\n  timeout_ms: 2s\n", 0, { NULL } },
	/* all problems of a file, not just the first */
	{ "server:\n  workers: 0\n  colour: red\nsmtp:\n  max_errors: 0\n", -EINVAL,
		{ "test.yaml:2: server.workers", "test.yaml:3: server.colour",
			"test.yaml:5: smtp.max_errors" } },
};

static void
check_row(size_t i, const struct row *r)
{
	struct mx_conf *c = NULL;
	char err[ERR_MAX];
	size_t j;
	int rc;

	rc = mx_conf_load_buf("test.yaml", r->yaml, strlen(r->yaml), 0, &c, err, sizeof(err));
	if (rc != r->rc)
		fail_msg("row %zu: rc %d, want %d\n--- yaml:\n%s--- err:\n%s", i, rc, r->rc,
				r->yaml, err);
	if (rc == 0) {
		assert_non_null(c);
		assert_string_equal(err, "");
		mx_conf_put(c);
		return;
	}
	assert_null(c);
	for (j = 0; j < MX_ARRAY_SIZE(r->err) && r->err[j] != NULL; j++)
		if (strstr(err, r->err[j]) == NULL)
			fail_msg("row %zu: '%s' not in:\n%s", i, r->err[j], err);
}

static void
test_table(void **state)
{
	size_t i;

	(void)state;
	assert_true(MX_ARRAY_SIZE(load_rows) >= 40);
	for (i = 0; i < MX_ARRAY_SIZE(load_rows); i++)
		check_row(i, &load_rows[i]);
}

static struct mx_conf *
load_ok(const char *yaml)
{
	struct mx_conf *c = NULL;
	char err[ERR_MAX];

	if (mx_conf_load_buf("test.yaml", yaml, strlen(yaml), 0, &c, err, sizeof(err)) != 0)
		fail_msg("load failed:\n%s", err);
	return c;
}

static const char full_yaml[] =
	"server:\n"
	"  hostname: mx.example.org\n"
	"  transport: dpdk\n"
	"  listen: [\"0.0.0.0:25\", \"[::]:25\"]\n"
	"  workers: 4\n"
	"smtp:\n"
	"  local_domains: [Example.ORG, example.net.]\n"
	"  max_command_line: 1k\n"
	"  max_text_line: 2000\n"
	"  max_message_size: 35M\n"
	"  max_recipients: 250\n"
	"  max_errors: 5\n"
	"  max_headers: 500\n"
	"  max_header_bytes: 32k\n"
	"  greeting_delay: 300ms\n"
	"  timeout_greeting: 30s\n"
	"  timeout_command: 5m\n"
	"  timeout_data: 3m\n"
	"  max_connections: 500\n"
	"  max_connections_per_client: 20\n"
	"  bare_lf: normalize\n"
	"  pipelining: false\n"
	"  chunking: yes\n"
	"delivery:\n"
	"  downstream: \"[::1]:10025\"\n"
	"  helo_name: relay-out.example.org\n"
	"  pool_size: 2\n"
	"  max_connections: 8\n"
	"  timeout_connect: 1500ms\n"
	"  timeout_reply: 2m\n"
	"  timeout_data: 10m\n"
	"  idle_timeout: 45s\n"
	"log:\n"
	"  level: notice\n"
	"  verdict_log: /var/log/mxedge/verdict \"quoted\" \\ \xc3\xa9t\xc3\xa9.jsonl\n"
	"metrics:\n"
	"  listen: 127.0.0.1:9925\n"
	"memory:\n"
	"  chunk_size: 16k\n"
	"  worker_message_memory: 512M\n"
	"  rcvbuf: 128k\n"
	"  sndbuf: 32k\n";

static void
test_values(void **state)
{
	struct mx_conf *c = load_ok(full_yaml);
	char buf[64];

	(void)state;
	assert_string_equal(c->hostname, "mx.example.org");
	assert_int_equal(c->transport, MX_TRANSPORT_DPDK);
	assert_int_equal(c->n_listen, 2);
	assert_int_equal(c->listen[0].family, AF_INET);
	assert_int_equal(c->listen[0].port, 25);
	assert_int_equal(c->listen[1].family, AF_INET6);
	mx_addr_format(&c->listen[1], true, buf, sizeof(buf));
	assert_string_equal(buf, "[::]:25");
	assert_int_equal(c->workers, 4);
	assert_int_equal(c->n_local_domains, 2);
	/* Lower-cased, trailing dot gone. */
	assert_string_equal(c->local_domains[0], "example.org");
	assert_string_equal(c->local_domains[1], "example.net");
	assert_int_equal(c->max_command_line, 1024);
	assert_int_equal(c->max_text_line, 2000);
	assert_int_equal(c->max_message_size, 35u << 20);
	assert_int_equal(c->max_recipients, 250);
	assert_int_equal(c->max_errors, 5);
	assert_int_equal(c->max_headers, 500);
	assert_int_equal(c->max_header_bytes, 32768);
	assert_int_equal(c->greeting_delay_ms, 300);
	assert_int_equal(c->timeout_greeting_ms, 30000);
	assert_int_equal(c->timeout_command_ms, 300000);
	assert_int_equal(c->timeout_data_ms, 180000);
	assert_int_equal(c->max_connections, 500);
	assert_int_equal(c->max_connections_per_client, 20);
	assert_int_equal(c->bare_lf, MX_BARE_LF_NORMALIZE);
	assert_false(c->pipelining);
	assert_true(c->chunking);
	assert_true(c->has_downstream);
	assert_int_equal(c->downstream.family, AF_INET6);
	assert_int_equal(c->downstream.port, 10025);
	assert_string_equal(c->downstream_host, "[::1]:10025");
	assert_string_equal(c->helo_name, "relay-out.example.org");
	assert_int_equal(c->relay_pool_size, 2);
	assert_int_equal(c->relay_max_conns, 8);
	assert_int_equal(c->timeout_relay_connect_ms, 1500);
	assert_int_equal(c->timeout_relay_reply_ms, 120000);
	assert_int_equal(c->timeout_relay_data_ms, 600000);
	assert_int_equal(c->relay_idle_ms, 45000);
	assert_null(c->spool_dir);
	assert_int_equal(c->log_level, MX_LOG_NOTICE);
	assert_string_equal(c->verdict_log, "/var/log/mxedge/verdict \"quoted\" \\ \xc3\xa9t\xc3\xa9.jsonl");
	assert_true(c->has_metrics);
	assert_int_equal(c->metrics_listen.port, 9925);
	assert_int_equal(c->chunk_bytes, 16384);
	assert_int_equal(c->worker_mem_max, 512u << 20);
	assert_int_equal(c->rcvbuf_bytes, 131072);
	assert_int_equal(c->sndbuf_bytes, 32768);
	assert_string_equal(c->path, "test.yaml");
	assert_int_equal(mx_conf_validate(c, NULL, 0), 0);
	mx_conf_put(c);
}

static void
test_defaults(void **state)
{
	struct mx_conf *c = NULL;
	char err[ERR_MAX];

	(void)state;
	assert_int_equal(mx_conf_new(&c), 0);
	assert_int_equal(c->transport, MX_TRANSPORT_DPDK); /* issue 3 */
	assert_int_equal(c->max_command_line, 512);
	assert_int_equal(c->max_text_line, 1000);
	assert_int_equal(c->max_recipients, 100);
	assert_int_equal(c->timeout_command_ms, 5 * 60 * 1000);
	assert_int_equal(c->timeout_relay_data_ms, 10 * 60 * 1000);
	assert_int_equal(c->bare_lf, MX_BARE_LF_REJECT);
	assert_int_equal(c->log_level, MX_LOG_INFO);
	assert_null(c->path);
	/* The defaults alone lack the four required settings. */
	assert_int_equal(mx_conf_validate(c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "server.hostname: required"));
	assert_non_null(strstr(err, "server.listen: required"));
	assert_non_null(strstr(err, "smtp.local_domains: required"));
	assert_non_null(strstr(err, "delivery.spool_dir: required when delivery.downstream is not set"));
	mx_conf_put(c);
}

static const char minimal_yaml[] =
	"server:\n"
	"  hostname: mx.example.org\n"
	"  listen: 127.0.0.1:2525\n"
	"smtp:\n"
	"  local_domains: example.org\n"
	"delivery:\n"
	"  spool_dir: /tmp/spool\n";

static void
test_validate(void **state)
{
	static const struct {
		const char *extra;      /* appended to minimal_yaml */
		const char *err;
	} rows[] = {
		{ "", NULL },
		{ "  downstream: 127.0.0.1:10025\n",
			"test.yaml:7: delivery.spool_dir: not allowed together with delivery.downstream" },
		{ "  pool_size: 9\n  max_connections: 8\n",
			"test.yaml:8: delivery.pool_size: 9 idle connections is above delivery.max_connections (8)" },
		{ "memory:\n  worker_message_memory: 16M\n",
			"test.yaml: smtp.max_message_size: 36700160 is above memory.worker_message_memory (16777216)" },
	};
	struct mx_conf *c;
	char yaml[1024], err[ERR_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(rows); i++) {
		snprintf(yaml, sizeof(yaml), "%s%s", minimal_yaml, rows[i].extra);
		c = load_ok(yaml);
		if (rows[i].err == NULL) {
			assert_int_equal(mx_conf_validate(c, err, sizeof(err)), 0);
			assert_string_equal(err, "");
		} else {
			assert_int_equal(mx_conf_validate(c, err, sizeof(err)), -EINVAL);
			if (strstr(err, rows[i].err) == NULL)
				fail_msg("row %zu: '%s' not in:\n%s", i, rows[i].err, err);
		}
		mx_conf_put(c);
	}
}

static void
test_validate_cross(void **state)
{
	struct mx_conf *c = load_ok(
		"server:\n  hostname: mx.example.org\n  listen: 127.0.0.1:2525\n"
		"smtp:\n  local_domains: example.org\n  max_connections: 10\n"
		"  max_connections_per_client: 20\n"
		"delivery:\n  spool_dir: /tmp/spool\n");
	char err[ERR_MAX];

	(void)state;
	assert_int_equal(mx_conf_validate(c, err, sizeof(err)), -EINVAL);
	/* Cites the line of the key it names. */
	assert_non_null(strstr(err, "test.yaml:7: smtp.max_connections_per_client: 20 is above "
				"smtp.max_connections (10)"));
	/* Fields changed behind the loader's back are checked too. */
	c->max_connections_per_client = 5;
	c->max_recipients = 7;
	c->chunk_bytes = 1u << 30;
	assert_int_equal(mx_conf_validate(c, err, sizeof(err)), -EINVAL);
	assert_null(strstr(err, "max_connections_per_client"));
	assert_non_null(strstr(err, "test.yaml: smtp.max_recipients: 7 is out of range (expected an "
				"integer in 100..100000)"));
	assert_non_null(strstr(err, "memory.chunk_size: 1073741824 is out of range"));
	assert_non_null(strstr(err, "memory.chunk_size: 1073741824 is above memory.worker_message_memory"));
	/* A buffer too small still gets a terminated prefix. */
	assert_int_equal(mx_conf_validate(c, err, 10), -EINVAL);
	assert_int_equal(strlen(err), 9);
	mx_conf_put(c);
}

/* dpdk.fault: a frame is held delay +- jitter, so jitter <= delay; the
 * nested group lands in the same fields as the dotted names. */
static void
test_validate_fault(void **state)
{
	struct mx_conf *c = load_ok(
		"server:\n  hostname: mx.example.org\n  listen: 127.0.0.1:2525\n"
		"smtp:\n  local_domains: example.org\n"
		"delivery:\n  spool_dir: /tmp/spool\n"
		"dpdk:\n  fault:\n    loss_pct: 5\n    delay_ms: 5\n    delay_jitter_ms: 10\n"
		"  fault.seed: 42\n");
	char err[ERR_MAX];

	(void)state;
	assert_int_equal(c->dpdk_fault_loss_pct, 5);
	assert_int_equal(c->dpdk_fault_delay_ms, 5);
	assert_int_equal(c->dpdk_fault_seed, 42);
	assert_int_equal(mx_conf_validate(c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "test.yaml:12: dpdk.fault.delay_jitter_ms: 10 ms is above "
				"dpdk.fault.delay_ms (5 ms)"));
	assert_int_equal(mx_conf_set(c, "dpdk.fault.delay_ms", "20", err, sizeof(err)), 0);
	assert_int_equal(mx_conf_validate(c, err, sizeof(err)), 0);
	assert_int_equal(mx_conf_set(c, "dpdk.fault.reorder_pct", "101", err, sizeof(err)),
			-EINVAL);
	mx_conf_put(c);
}

static void
test_flags(void **state)
{
	static const struct {
		const char *key, *value;
		int rc;
		const char *err;
	} bad[] = {
		{ "workers", "0", -EINVAL, "--workers: '0' is out of range (expected an integer in 1..64)" },
		{ "listen", "nowhere", -EINVAL, "--listen: bad address 'nowhere'" },
		{ "hostnme", "x", -EINVAL, "unknown option 'hostnme' (did you mean hostname?)" },
		{ "smtp.max_recipient", "5", -EINVAL,
			"unknown option 'smtp.max_recipient' (did you mean smtp.max_recipients?)" },
		{ "local-domains", "a.org", -EINVAL, "(did you mean local-domain?)" },
		{ "smtp.max_recipients", "99", -EINVAL, "--smtp.max_recipients: '99' is out of range" },
		{ "transport", "vpp", -EINVAL, "--transport: unknown transport 'vpp'" },
		{ "log-level", "loud", -EINVAL, "--log-level: unknown level 'loud'" },
		{ "nosuchsection.key", "1", -EINVAL, "unknown option 'nosuchsection.key'" },
		{ "", "1", -EINVAL, "unknown option ''" },
	};
	struct mx_conf *c = load_ok(minimal_yaml);
	char err[ERR_MAX], cwd[PATH_MAX], want[PATH_MAX + 16];
	size_t i;

	(void)state;
	/* A refused first --listen leaves the file's list alone. */
	assert_int_equal(mx_conf_set(c, "listen", "bogus", err, sizeof(err)), -EINVAL);
	assert_int_equal(c->n_listen, 1);
	assert_int_equal(c->listen[0].port, 2525);
	assert_int_equal(mx_conf_set(c, "hostname", NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--hostname: missing value"));
	/* The first --listen replaces the file's list, later ones append. */
	assert_int_equal(mx_conf_set(c, "listen", "127.0.0.1:2600", err, sizeof(err)), 0);
	assert_int_equal(c->n_listen, 1);
	assert_int_equal(c->listen[0].port, 2600);
	assert_int_equal(mx_conf_set(c, "listen", "[::1]:2600", err, sizeof(err)), 0);
	assert_int_equal(c->n_listen, 2);
	assert_int_equal(c->listen[1].family, AF_INET6);
	/* Same for --local-domain, through the dotted name too. */
	assert_int_equal(mx_conf_set(c, "local-domain", "Example.NET", err, sizeof(err)), 0);
	assert_int_equal(mx_conf_set(c, "smtp.local_domains", "example.com", err, sizeof(err)), 0);
	assert_int_equal(c->n_local_domains, 2);
	assert_string_equal(c->local_domains[0], "example.net");
	assert_string_equal(c->local_domains[1], "example.com");
	assert_false(mx_conf_is_local_domain(c, MX_STR("example.org")));
	/* --hostname also moves helo_name while that is not set itself. */
	assert_int_equal(mx_conf_set(c, "hostname", "mx2.example.org", err, sizeof(err)), 0);
	assert_string_equal(c->hostname, "mx2.example.org");
	assert_string_equal(c->helo_name, "mx2.example.org");
	assert_int_equal(mx_conf_set(c, "delivery.helo_name", "out.example.org", err, sizeof(err)), 0);
	assert_int_equal(mx_conf_set(c, "hostname", "mx3.example.org", err, sizeof(err)), 0);
	assert_string_equal(c->helo_name, "out.example.org");
	/* Scalars. */
	assert_int_equal(mx_conf_set(c, "workers", "8", err, sizeof(err)), 0);
	assert_int_equal(c->workers, 8);
	assert_int_equal(mx_conf_set(c, "smtp.max_recipients", "1000", err, sizeof(err)), 0);
	assert_int_equal(c->max_recipients, 1000);
	assert_int_equal(mx_conf_set(c, "memory.rcvbuf", "256k", err, sizeof(err)), 0);
	assert_int_equal(c->rcvbuf_bytes, 256 * 1024);
	assert_int_equal(mx_conf_set(c, "transport", "dpdk", err, sizeof(err)), 0);
	assert_int_equal(c->transport, MX_TRANSPORT_DPDK);
	assert_int_equal(mx_conf_set(c, "log-level", "debug", err, sizeof(err)), 0);
	assert_int_equal(c->log_level, MX_LOG_DEBUG);
	assert_int_equal(mx_conf_set(c, "metrics", "127.0.0.1:9926", err, sizeof(err)), 0);
	assert_true(c->has_metrics);
	assert_int_equal(mx_conf_set(c, "verdict-log", "-", err, sizeof(err)), 0);
	assert_string_equal(c->verdict_log, "-");
	/* A relative path on the command line is relative to the cwd. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(mx_conf_set(c, "spool", "./q", err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s/q", cwd);
	assert_string_equal(c->spool_dir, want);
	assert_int_equal(mx_conf_set(c, "downstream", "127.0.0.1:10025", err, sizeof(err)), 0);
	assert_true(c->has_downstream);
	/* Now both are set: validate names the conflict (no file line: the
	 * values came from flags). */
	assert_int_equal(mx_conf_validate(c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "test.yaml: delivery.spool_dir: not allowed together"));
	for (i = 0; i < MX_ARRAY_SIZE(bad); i++) {
		assert_int_equal(mx_conf_set(c, bad[i].key, bad[i].value, err, sizeof(err)), bad[i].rc);
		if (strstr(err, bad[i].err) == NULL)
			fail_msg("flag %zu: '%s' not in: %s", i, bad[i].err, err);
	}
	/* A refused flag changed nothing. */
	assert_int_equal(c->workers, 8);
	assert_int_equal(c->n_listen, 2);
	mx_conf_put(c);
}

static char *
dump_of(const struct mx_conf *c, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	assert_non_null(f);
	mx_conf_dump(c, f);
	assert_int_equal(fclose(f), 0);
	return text;
}

static void
test_dump_roundtrip(void **state)
{
	static const char *const inputs[] = { full_yaml, minimal_yaml };
	struct mx_conf *c, *again;
	char *d1, *d2, err[ERR_MAX];
	size_t l1, l2, i;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(inputs); i++) {
		c = load_ok(inputs[i]);
		d1 = dump_of(c, &l1);
		again = NULL;
		if (mx_conf_load_buf("dump.yaml", d1, l1, 0, &again, err, sizeof(err)) != 0)
			fail_msg("dump does not load:\n%s\n%s", d1, err);
		d2 = dump_of(again, &l2);
		/* Same text, so every key has the same value. */
		assert_string_equal(d1, d2);
		assert_int_equal(again->max_message_size, c->max_message_size);
		assert_int_equal(again->greeting_delay_ms, c->greeting_delay_ms);
		assert_int_equal(again->n_listen, c->n_listen);
		assert_memory_equal(again->listen, c->listen, sizeof(c->listen[0]) * c->n_listen);
		if (c->verdict_log != NULL)
			assert_string_equal(again->verdict_log, c->verdict_log);
		free(d1);
		free(d2);
		mx_conf_put(again);
		mx_conf_put(c);
	}
	/* Exact forms: the shortest unit that is exact. */
	c = load_ok("smtp:\n  greeting_delay: 1500ms\n  max_message_size: 1025\n");
	d1 = dump_of(c, &l1);
	assert_non_null(strstr(d1, "  greeting_delay: 1500ms\n"));
	assert_non_null(strstr(d1, "  max_message_size: 1025\n"));
	assert_non_null(strstr(d1, "  max_header_bytes: 64k\n"));
	assert_non_null(strstr(d1, "  timeout_data: 3m\n"));
	/* Unset keys are left out, so the dump reloads. */
	assert_null(strstr(d1, "hostname"));
	assert_null(strstr(d1, "spool_dir"));
	free(d1);
	mx_conf_put(c);
}

/* tls.profiles: a list of mappings, each entry checked with its line. */
static const struct row profile_rows[] = {
	{ "tls:\n  profiles:\n    - name: p\n      clients: [192.0.2.0/24, \"2001:db8::/32\"]\n"
		"      sender_domains: [Partner.Example, .partner.example]\n"
		"      require_tls: true\n      min_version: \"1.2\"\n      strength: high\n",
		0, { NULL } },
	{ "tls:\n  profiles: 5\n", -EINVAL, { "test.yaml:2: tls.profiles: expected a list" } },
	{ "tls:\n  profiles:\n    - clients: [10.0.0.0/33]\n", -EINVAL,
		{ "test.yaml:3: tls.profiles[1].clients: '10.0.0.0/33' is not an address" } },
	{ "tls:\n  profiles:\n    - sender_domains: [bad_domain!]\n", -EINVAL,
		{ "tls.profiles[1].sender_domains: 'bad_domain!' is not a domain" } },
	{ "tls:\n  profiles:\n    - sender_domains: x.test\n      client_cert: maybe\n", -EINVAL,
		{ "test.yaml:4: tls.profiles[1].client_cert: 'maybe' is not valid" } },
	{ "tls:\n  profiles:\n    - sender_domains: x.test\n      min_version: \"1.3\"\n", -EINVAL,
		{ "tls.profiles[1].min_version: '1.3' is not valid" } },
	{ "tls:\n  profiles:\n    - sender_domains: x.test\n      colour: red\n", -EINVAL,
		{ "test.yaml:4: tls.profiles[1]: unknown key colour" } },
	{ "tls:\n  profiles:\n    - name: a\n      require_tls: true\n", -EINVAL,
		{ "test.yaml:3: tls.profiles[1]: matches nothing" } },
	{ "tls:\n  profiles:\n    - sender_domains: x.test\n      client_cert: required\n",
		-EINVAL, { "client_cert required needs ca_file" } },
	{ "tls:\n  profiles:\n    - sender_domains: x.test\n      cert_match: a.*.test\n",
		-EINVAL, { "tls.profiles[1].cert_match: 'a.*.test' is not valid" } },
	{ "tls:\n  profiles:\n    - sender_domains: x.test\n      ciphers: [\"rc4 please\"]\n",
		-EINVAL, { "is not a cipher suite name" } },
	{ "tls:\n  profiles:\n    - name: a\n      sender_domains: x.test\n"
		"    - name: a\n      sender_domains: y.test\n", -EINVAL,
		{ "test.yaml:5: tls.profiles[2]: name a is used by tls.profiles[1] already" } },
	{ "tls:\n  profiles:\n    - sender_domains: x.test\n  profiles: []\n", -EINVAL,
		{ "test.yaml:4: tls.profiles: duplicate key (first at line 2)" } },
	{ "tls:\n  profiles:\n    - sender_domains: x.test\n      sender_domains: y.test\n",
		-EINVAL, { "test.yaml:4: tls.profiles[1].sender_domains: duplicate key" } },
};

static void
test_tls_profiles(void **state)
{
	static const char yaml[] =
		"tls:\n"
		"  cert: /etc/mx/rsa.pem\n"
		"  key: /etc/mx/rsa.key\n"
		"  profiles:\n"
		"    - name: partners\n"
		"      clients: [192.0.2.0/24]\n"
		"      sender_domains: [Partner.Example, .partner.example]\n"
		"      client_cert: required\n"
		"      ca_file: ca/partners.pem\n"
		"      cert_match: \"*.partner.example\"\n"
		"    - sender_domains: bank.example\n"
		"      ciphers: [TLS-ECDHE-RSA-WITH-AES-256-GCM-SHA384]\n"
		"      min_version: \"1.1\"\n";
	const struct mx_conf_tls_profile *p;
	struct mx_conf *c, *again;
	char *d1, *d2, err[ERR_MAX];
	size_t i, l1, l2;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(profile_rows); i++)
		check_row(i, &profile_rows[i]);
	c = NULL;
	assert_int_equal(mx_conf_load_buf("/etc/mx/t.yaml", yaml, strlen(yaml), 0, &c, err,
				sizeof(err)), 0);
	assert_int_equal(c->n_tls_profiles, 2);
	p = &c->tls_profiles[0];
	assert_string_equal(p->name, "partners");
	assert_int_equal(p->n_clients, 1);
	assert_int_equal(p->client_prefix[0], 24);
	assert_string_equal(p->sender_domains[0], "partner.example");
	assert_string_equal(p->sender_domains[1], ".partner.example");
	assert_int_equal(p->client_cert, 2);
	assert_string_equal(p->ca_file, "/etc/mx/ca/partners.pem");
	assert_string_equal(p->cert_match, "*.partner.example");
	assert_int_equal(p->min_version, -1);
	p = &c->tls_profiles[1];
	assert_string_equal(p->name, "profile2");
	assert_int_equal(p->n_ciphers, 1);
	assert_int_equal(p->min_version, 1);
	assert_int_equal(mx_conf_validate(c, err, sizeof(err)), -EINVAL); /* no hostname... */
	assert_null(strstr(err, "tls.profiles"));
	/* The dump reloads to the same profiles. */
	d1 = dump_of(c, &l1);
	again = NULL;
	if (mx_conf_load_buf("dump.yaml", d1, l1, 0, &again, err, sizeof(err)) != 0)
		fail_msg("dump does not load:\n%s\n%s", d1, err);
	d2 = dump_of(again, &l2);
	assert_string_equal(d1, d2);
	assert_int_equal(again->n_tls_profiles, 2);
	free(d1);
	free(d2);
	mx_conf_put(again);
	mx_conf_put(c);
	/* Profiles without certificates: nothing to offer. */
	c = load_ok("tls:\n  profiles:\n    - sender_domains: x.test\n");
	assert_int_equal(mx_conf_validate(c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "tls.profiles needs tls.cert"));
	mx_conf_put(c);
}

static void
test_relative_paths(void **state)
{
	char cwd[PATH_MAX], want[PATH_MAX + 32];
	struct mx_conf *c = NULL;
	char err[ERR_MAX];
	const char *yaml = "delivery:\n  spool_dir: ./spool\nlog:\n  verdict_log: logs/v.jsonl\n";

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	/* Relative to the file's directory, made absolute. */
	assert_int_equal(mx_conf_load_buf("/etc/mx/a.yaml", yaml, strlen(yaml), 0, &c, err,
				sizeof(err)), 0);
	assert_string_equal(c->spool_dir, "/etc/mx/spool");
	assert_string_equal(c->verdict_log, "/etc/mx/logs/v.jsonl");
	mx_conf_put(c);
	assert_int_equal(mx_conf_load_buf("conf/a.yaml", yaml, strlen(yaml), 0, &c, err,
				sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s/conf/spool", cwd);
	assert_string_equal(c->spool_dir, want);
	mx_conf_put(c);
	assert_int_equal(mx_conf_load_buf("a.yaml", yaml, strlen(yaml), 0, &c, err,
				sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s/spool", cwd);
	assert_string_equal(c->spool_dir, want);
	mx_conf_put(c);
	assert_int_equal(mx_conf_load_buf("/a.yaml", yaml, strlen(yaml), 0, &c, err,
				sizeof(err)), 0);
	assert_string_equal(c->spool_dir, "/spool");
	mx_conf_put(c);
}

static void
test_no_resolve(void **state)
{
	static const char yaml[] = "delivery:\n  downstream: localhost:10025\n";
	struct mx_conf *c = NULL;
	char err[ERR_MAX];

	(void)state;
	assert_int_equal(mx_conf_load_buf("t.yaml", yaml, strlen(yaml), MX_CONF_LOAD_NO_RESOLVE,
				&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "t.yaml:2: delivery.downstream: host names are not resolved"));
	/* With resolving: localhost comes from /etc/hosts, no DNS query. */
	c = load_ok(yaml);
	assert_true(c->has_downstream);
	assert_int_equal(c->downstream.port, 10025);
	assert_true(c->downstream.family == AF_INET || c->downstream.family == AF_INET6);
	assert_string_equal(c->downstream_host, "localhost:10025");
	mx_conf_put(c);
}

static void
test_files(void **state)
{
	char dir[] = "/tmp/mxconf-XXXXXX", path[PATH_MAX], want[PATH_MAX + 32], err[ERR_MAX];
	struct mx_conf *c = NULL;
	FILE *f;
	size_t i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/missing.yaml", dir);
	assert_int_equal(mx_conf_load(path, &c, err, sizeof(err)), -ENOENT);
	assert_null(c);
	assert_non_null(strstr(err, "missing.yaml: cannot read: No such file or directory"));
	/* A real file, relative paths next to it. */
	snprintf(path, sizeof(path), "%s/good.yaml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(minimal_yaml, f);
	fputs("log:\n  verdict_log: verdict.jsonl\n", f);
	fclose(f);
	assert_int_equal(mx_conf_load(path, &c, err, sizeof(err)), 0);
	assert_string_equal(c->path, path);
	snprintf(want, sizeof(want), "%s/verdict.jsonl", dir);
	assert_string_equal(c->verdict_log, want);
	assert_int_equal(mx_conf_validate(c, err, sizeof(err)), 0);
	mx_conf_put(c);
	/* A bad one names itself in the message. */
	snprintf(path, sizeof(path), "%s/bad.yaml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("server:\n  workers: 0\n", f);
	fclose(f);
	assert_int_equal(mx_conf_load(path, &c, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: server.workers", path);
	assert_non_null(strstr(err, want));
	/* Past 1 MiB: refused before parsing. */
	snprintf(path, sizeof(path), "%s/big.yaml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	for (i = 0; i < (1u << 20) / 16 + 1; i++)
		fputs("# padding......\n", f);
	fclose(f);
	assert_int_equal(mx_conf_load(path, &c, err, sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, "file too large"));
	assert_int_equal(mx_conf_load_buf("x.yaml", "", (1u << 20) + 1, 0, &c, err, sizeof(err)),
			-EFBIG);
	unlink(path);
	snprintf(path, sizeof(path), "%s/bad.yaml", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/good.yaml", dir);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

static void
test_refcount(void **state)
{
	struct mx_conf *c = load_ok(full_yaml);

	(void)state;
	assert_int_equal(atomic_load(&c->refs), 1);
	assert_ptr_equal(mx_conf_get(c), c);
	assert_ptr_equal(mx_conf_get(c), c);
	assert_int_equal(atomic_load(&c->refs), 3);
	mx_conf_put(c);
	mx_conf_put(c);
	/* Still alive and intact with one reference left. */
	assert_int_equal(atomic_load(&c->refs), 1);
	assert_string_equal(c->local_domains[1], "example.net");
	/* The last put frees every string (ASan would see a leak). */
	mx_conf_put(c);
	mx_conf_put(NULL);
}

static void
test_local_domain(void **state)
{
	static const struct {
		const char *domain;
		size_t len;             /* 0: strlen */
		bool want;
	} rows[] = {
		{ "example.org", 0, true },
		{ "EXAMPLE.Org", 0, true },
		{ "example.org.", 0, true },
		{ "example.net", 0, true },
		{ "sub.example.org", 0, false },
		{ "example.or", 0, false },
		{ "example.orgg", 0, false },
		{ "example.org..", 0, false },
		{ "xexample.org", 0, false },
		{ "", 0, false },
		{ ".", 0, false },
		{ "example.org\0x", 13, false },
		{ "[192.0.2.1]", 0, false },
	};
	struct mx_conf *c = load_ok(full_yaml);
	struct mx_str d;
	size_t i;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(rows); i++) {
		d.p = rows[i].domain;
		d.len = rows[i].len != 0 ? rows[i].len : strlen(rows[i].domain);
		if (mx_conf_is_local_domain(c, d) != rows[i].want)
			fail_msg("row %zu: '%s'", i, rows[i].domain);
	}
	mx_conf_put(c);
}

static void
test_scalars(void **state)
{
	static const struct {
		enum mx_conf_num (*parse)(const char *, size_t, uint64_t *);
		const char *in;
		enum mx_conf_num rc;
		uint64_t v;
	} rows[] = {
		{ mx_conf_parse_uint, "0", MX_CONF_NUM_OK, 0 },
		{ mx_conf_parse_uint, "18446744073709551615", MX_CONF_NUM_OK, UINT64_MAX },
		{ mx_conf_parse_uint, "18446744073709551616", MX_CONF_NUM_OVERFLOW, 0 },
		{ mx_conf_parse_uint, "", MX_CONF_NUM_EMPTY, 0 },
		{ mx_conf_parse_uint, "-0", MX_CONF_NUM_NEGATIVE, 0 },
		{ mx_conf_parse_uint, "+1", MX_CONF_NUM_JUNK, 0 },
		{ mx_conf_parse_uint, "0x10", MX_CONF_NUM_JUNK, 0 },
		{ mx_conf_parse_uint, "1_000", MX_CONF_NUM_JUNK, 0 },
		{ mx_conf_parse_size, "64k", MX_CONF_NUM_OK, 65536 },
		{ mx_conf_parse_size, "64K", MX_CONF_NUM_OK, 65536 },
		{ mx_conf_parse_size, "35M", MX_CONF_NUM_OK, 35u << 20 },
		{ mx_conf_parse_size, "2G", MX_CONF_NUM_OK, UINT64_C(2) << 30 },
		{ mx_conf_parse_size, "17179869183G", MX_CONF_NUM_OK, UINT64_C(17179869183) << 30 },
		{ mx_conf_parse_size, "17179869184G", MX_CONF_NUM_OVERFLOW, 0 },
		{ mx_conf_parse_size, "k", MX_CONF_NUM_JUNK, 0 },
		{ mx_conf_parse_size, "1kk", MX_CONF_NUM_JUNK, 0 },
		{ mx_conf_parse_size, "1T", MX_CONF_NUM_JUNK, 0 },
		{ mx_conf_parse_ms, "250", MX_CONF_NUM_OK, 250 },
		{ mx_conf_parse_ms, "250ms", MX_CONF_NUM_OK, 250 },
		{ mx_conf_parse_ms, "5s", MX_CONF_NUM_OK, 5000 },
		{ mx_conf_parse_ms, "5m", MX_CONF_NUM_OK, 300000 },
		{ mx_conf_parse_ms, "2h", MX_CONF_NUM_OK, 7200000 },
		{ mx_conf_parse_ms, "5S", MX_CONF_NUM_JUNK, 0 },
		{ mx_conf_parse_ms, "5sec", MX_CONF_NUM_JUNK, 0 },
		{ mx_conf_parse_ms, "5d", MX_CONF_NUM_JUNK, 0 },
		{ mx_conf_parse_ms, "-5s", MX_CONF_NUM_NEGATIVE, 0 },
		{ mx_conf_parse_ms, "5124095576030432h", MX_CONF_NUM_OVERFLOW, 0 },
	};
	uint64_t v;
	size_t i;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(rows); i++) {
		v = 0;
		if (rows[i].parse(rows[i].in, strlen(rows[i].in), &v) != rows[i].rc)
			fail_msg("row %zu: '%s'", i, rows[i].in);
		if (rows[i].rc == MX_CONF_NUM_OK && v != rows[i].v)
			fail_msg("row %zu: '%s' gave %llu", i, rows[i].in, (unsigned long long)v);
	}
}

static void
test_names(void **state)
{
	static const struct {
		const char *s;
		bool ok;
	} hosts[] = {
		{ "mx.example.org", true }, { "a", true }, { "3com.com", true },
		{ "xn--bcher-kva.example", true }, { "a-b.c", true },
		{ "", false }, { ".", false }, { "a..b", false }, { ".a", false },
		{ "a-.b", false }, { "-a.b", false }, { "a_b.c", false }, { "1.2.3.4", false },
		{ "a.123", false }, { "a b", false }, { "\xc3\xa9.org", false },
	};
	size_t i;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(hosts); i++)
		if (mx_conf_hostname_ok(hosts[i].s, strlen(hosts[i].s)) != hosts[i].ok)
			fail_msg("host '%s'", hosts[i].s);
	assert_int_equal(mx_conf_distance("hostnme", "hostname"), 1);
	assert_int_equal(mx_conf_distance("listne", "listen"), 2);
	assert_int_equal(mx_conf_distance("", "abc"), 3);
	assert_int_equal(mx_conf_distance("same", "same"), 0);
}

/* What only the whole snapshot can tell about auth and dns: the
 * resolver's address form, the authserv-id, resolver xor zone. */
static void
test_auth_validate(void **state)
{
	static const struct {
		const char *yaml;
		const char *err;        /* NULL: valid */
	} t[] = {
		{ "dns:\n  resolver: 127.0.0.1\n", NULL },
		{ "dns:\n  resolver: \"[::1]:53\"\n", NULL },
		{ "dns:\n  resolver: ::1\n", NULL },
		{ "dns:\n  resolver: 127.0.0.1:0\n", "test.yaml:9: dns.resolver: bad address" },
		{ "dns:\n  resolver: ns.example.org:53\n", "test.yaml:9: dns.resolver: bad address" },
		{ "dns:\n  resolver: 127.0.0.1:53\n  zone: /tmp/z\n",
			"test.yaml:10: dns.zone: not allowed together with dns.resolver" },
		{ "auth:\n  authserv_id: mx.example.org\n", NULL },
		{ "auth:\n  authserv_id: \"mx; spf=pass\"\n",
			"test.yaml:9: auth.authserv_id: bad host name" },
	};
	char yaml[512], err[ERR_MAX];
	struct mx_conf *c;
	size_t i;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(t); i++) {
		snprintf(yaml, sizeof(yaml), "%s%s", minimal_yaml, t[i].yaml);
		c = load_ok(yaml);
		err[0] = '\0';
		if ((mx_conf_validate(c, err, sizeof(err)) == 0) != (t[i].err == NULL) ||
				(t[i].err != NULL && strstr(err, t[i].err) == NULL))
			fail_msg("case %zu: '%s'", i, err);
		mx_conf_put(c);
	}
}

static void
test_example_file(void **state)
{
	const char *src = getenv("MX_SRCDIR");
	char path[PATH_MAX], want[PATH_MAX + 16], err[ERR_MAX];
	struct mx_conf *c = NULL;

	(void)state;
	if (src == NULL)
		fail_msg("MX_SRCDIR is not set (run through meson test)");
	snprintf(path, sizeof(path), "%s/etc/mxedge.example.yaml", src);
	if (mx_conf_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	if (mx_conf_validate(c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(c->hostname, "mx.example.test");
	assert_int_equal(c->n_listen, 1);
	assert_int_equal(c->listen[0].port, 2525);
	assert_true(mx_conf_is_local_domain(c, MX_STR("example.test")));
	/* ./spool next to the file (documented in it). */
	snprintf(want, sizeof(want), "%s/etc/spool", src);
	assert_string_equal(c->spool_dir, want);
	assert_false(c->has_downstream);
	mx_conf_put(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_validate_cross),
		cmocka_unit_test(test_validate_fault),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_dump_roundtrip),
		cmocka_unit_test(test_relative_paths),
		cmocka_unit_test(test_no_resolve),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_refcount),
		cmocka_unit_test(test_local_domain),
		cmocka_unit_test(test_scalars),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_example_file),
		cmocka_unit_test(test_auth_validate),
		cmocka_unit_test(test_tls_profiles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
