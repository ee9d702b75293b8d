/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of mx_metrics: the Prometheus text rendered from two worker
 * blocks and the control block (sums, per-worker labels, reply classes,
 * cumulative histogram buckets, gauges), the buffer-size contract of
 * mx_metrics_render(), and the HTTP endpoint fetched over a real loopback
 * socket (status, headers, body; 404, 405, HEAD; IPv6; bind errors).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "mx_metrics.h"

#include "metrics_priv.h"

#define TEXT_MAX (256 * 1024)

static char *
render(struct mx_metrics *m)
{
	char *buf = malloc(TEXT_MAX);
	size_t n;

	assert_non_null(buf);
	n = mx_metrics_render(m, buf, TEXT_MAX);
	assert_true(n < TEXT_MAX);
	assert_int_equal(strlen(buf), n);
	return buf;
}

/* line must appear as a whole line of text. */
static void
assert_line(const char *text, const char *line)
{
	size_t len = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[len] == '\n')
			return;
		p += len;
	}
	fail_msg("line not found: %s", line);
}

static unsigned
count_of(const char *text, const char *needle)
{
	unsigned n = 0;

	for (; (text = strstr(text, needle)) != NULL; text += strlen(needle))
		n++;
	return n;
}

static struct mx_metrics *
filled(void)
{
	struct mx_metrics *m = NULL;
	struct mx_stats *w0, *w1, *ctl;
	int i;

	assert_int_equal(mx_metrics_create(2, &m), 0);
	w0 = mx_metrics_stats(m, 0);
	w1 = mx_metrics_stats(m, 1);
	ctl = mx_metrics_stats(m, 2);
	mx_stat_add(w0, MX_STAT_CONN_ACCEPTED, 5);
	mx_stat_add(w1, MX_STAT_CONN_ACCEPTED, 7);
	mx_stat_inc(w0, MX_STAT_CONN_REFUSED_CLIENT);
	mx_stat_inc(w1, MX_STAT_CONN_REFUSED_CLIENT);
	mx_stat_inc(w1, MX_STAT_CONN_REFUSED_MEMORY);
	mx_stat_inc(w0, MX_STAT_CONN_ACTIVE);
	mx_stat_inc(w0, MX_STAT_CONN_ACTIVE);
	mx_stat_dec(w0, MX_STAT_CONN_ACTIVE);
	mx_stat_inc(w1, MX_STAT_CONN_ACTIVE);
	mx_stat_add(w1, MX_STAT_TXN_ACCEPTED, 2);
	mx_stat_inc(w0, MX_STAT_TXN_REJECTED);
	mx_stat_add(w0, MX_STAT_BYTES_IN, 1000);
	mx_stat_add(w1, MX_STAT_BYTES_IN, UINT64_C(5000000000));
	mx_stat_inc(ctl, MX_STAT_SPOOL_FAIL);
	mx_stat_add(w0, MX_STAT_CONTENT_SCANNED, 3);
	mx_stat_inc(w1, MX_STAT_CONTENT_SCANNED);
	mx_stat_inc(w0, MX_STAT_CONTENT_REJECTED);
	mx_stat_add(w1, MX_STAT_CONTENT_QUARANTINED, 2);
	mx_stat_inc(w1, MX_STAT_CONTENT_TRUNCATED);
	for (i = 0; i < 3; i++)
		mx_stat_reply(w0, 250);
	mx_stat_reply(w1, 354);
	mx_stat_reply(w1, 451);
	mx_stat_reply(w1, 421);
	mx_stat_reply(w0, 550);
	/* Not replies: ignored, never out of the table. */
	mx_stat_reply(w0, 199);
	mx_stat_reply(w0, 600);
	mx_stat_reply(w0, -1);
	/* Bucket edges are inclusive (le = less or equal). */
	mx_histo_observe(w0, MX_HISTO_RELAY, 500);
	mx_histo_observe(w0, MX_HISTO_RELAY, 1000);
	mx_histo_observe(w0, MX_HISTO_RELAY, 3000);
	mx_histo_observe(w1, MX_HISTO_RELAY, 2000000);
	mx_histo_observe(w1, MX_HISTO_RELAY, 60000000);
	mx_histo_observe(ctl, MX_HISTO_SPOOL, 30000000);
	return m;
}

static void
test_render_lines(void **state)
{
	static const char *const want[] = {
		"# TYPE mxedge_connections_accepted_total counter",
		"mxedge_connections_accepted_total 12",
		"# TYPE mxedge_worker_connections_accepted_total counter",
		"mxedge_worker_connections_accepted_total{worker=\"0\"} 5",
		"mxedge_worker_connections_accepted_total{worker=\"1\"} 7",
		"mxedge_worker_connections_accepted_total{worker=\"control\"} 0",
		"mxedge_connections_refused_total{reason=\"max_connections\"} 0",
		"mxedge_connections_refused_total{reason=\"max_connections_per_client\"} 2",
		"mxedge_connections_refused_total{reason=\"memory\"} 1",
		"# TYPE mxedge_connections_active gauge",
		"mxedge_connections_active 2",
		"mxedge_worker_connections_active{worker=\"0\"} 1",
		"mxedge_worker_connections_active{worker=\"1\"} 1",
		"mxedge_transactions_finished_total{result=\"accepted\"} 2",
		"mxedge_transactions_finished_total{result=\"rejected\"} 1",
		"mxedge_worker_transactions_finished_total{worker=\"1\",result=\"accepted\"} 2",
		"mxedge_worker_transactions_finished_total{worker=\"0\",result=\"rejected\"} 1",
		"mxedge_worker_transactions_finished_total{worker=\"0\",result=\"tempfail\"} 0",
		"mxedge_smtp_received_bytes_total 5000001000",
		"mxedge_spool_writes_total{result=\"fail\"} 1",
		"# TYPE mxedge_smtp_replies_total counter",
		"mxedge_smtp_replies_total{class=\"2xx\"} 3",
		"mxedge_smtp_replies_total{class=\"3xx\"} 1",
		"mxedge_smtp_replies_total{class=\"4xx\"} 2",
		"mxedge_smtp_replies_total{class=\"5xx\"} 1",
		"# TYPE mxedge_relay_duration_seconds histogram",
		"mxedge_relay_duration_seconds_bucket{le=\"0.001\"} 2",
		"mxedge_relay_duration_seconds_bucket{le=\"0.0025\"} 2",
		"mxedge_relay_duration_seconds_bucket{le=\"0.005\"} 3",
		"mxedge_relay_duration_seconds_bucket{le=\"1\"} 3",
		"mxedge_relay_duration_seconds_bucket{le=\"2.5\"} 4",
		"mxedge_relay_duration_seconds_bucket{le=\"30\"} 4",
		"mxedge_relay_duration_seconds_bucket{le=\"+Inf\"} 5",
		"mxedge_relay_duration_seconds_sum 62.004500",
		"mxedge_relay_duration_seconds_count 5",
		"mxedge_spool_duration_seconds_bucket{le=\"10\"} 0",
		"mxedge_spool_duration_seconds_bucket{le=\"30\"} 1",
		"mxedge_spool_duration_seconds_bucket{le=\"+Inf\"} 1",
		"mxedge_spool_duration_seconds_sum 30.000000",
		"mxedge_metrics_http_rejected_total 0",
		"# TYPE mxedge_content_scanned_total counter",
		"mxedge_content_scanned_total 4",
		"mxedge_content_rejected_total 1",
		"mxedge_content_quarantined_total 2",
		"mxedge_content_truncated_total 1",
		"mxedge_content_errors_total 0",
	};
	struct mx_metrics *m = filled();
	char *text = render(m);
	size_t i;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(want); i++)
		assert_line(text, want[i]);
	/* A family's HELP and TYPE appear once, however many label values. */
	assert_int_equal(count_of(text, "# TYPE mxedge_smtp_replies_total "), 1);
	assert_int_equal(count_of(text, "# HELP mxedge_smtp_replies_total "), 1);
	assert_int_equal(count_of(text, "# TYPE mxedge_worker_transactions_finished_total "), 1);
	/* 14 finite buckets and +Inf per histogram. */
	assert_int_equal(count_of(text, "mxedge_relay_duration_seconds_bucket{"), 15);
	free(text);
	mx_metrics_free(m);
}

static void
test_every_stat_named(void **state)
{
	struct mx_metrics *m = NULL;
	char *text, line[160];
	unsigned k;

	(void)state;
	assert_int_equal(mx_metrics_create(1, &m), 0);
	text = render(m);
	for (k = 0; k < MX_STAT__COUNT; k++) {
		const char *name = mx_metrics_stat_name((enum mx_stat)k);

		if (name == NULL)
			fail_msg("enum mx_stat %u has no table entry", k);
		assert_true(strncmp(name, "mxedge_", 7) == 0);
		/* Counters end in _total; the one gauge does not. */
		if (k == MX_STAT_CONN_ACTIVE)
			assert_null(strstr(name, "_total"));
		else
			assert_string_equal(name + strlen(name) - 6, "_total");
		snprintf(line, sizeof(line), "# HELP %s ", name);
		assert_non_null(strstr(text, line));
		snprintf(line, sizeof(line), "\n%s", name);
		assert_non_null(strstr(text, line));
	}
	free(text);
	mx_metrics_free(m);
}

static void
test_gauges(void **state)
{
	struct mx_metrics *m = NULL;
	char *text;

	(void)state;
	assert_int_equal(mx_metrics_create(0, &m), 0);
	mx_metrics_set_gauge(m, "mxedge_config_generation", "Configuration reloads.", 3);
	mx_metrics_set_gauge(m, "mxedge_config_generation", "Configuration reloads.", 4);
	mx_metrics_set_gauge(m, "mxedge_cert_expiry_days", "Days until the\ncertificate expires.",
			12.5);
	mx_metrics_set_gauge(m, "mxedge_unknown", "Not known yet.", NAN);
	mx_metrics_set_gauge(m, "mxedge_far", "Far away.", -INFINITY);
	/* Not Prometheus names: ignored. */
	mx_metrics_set_gauge(m, "bad name", "x", 1);
	mx_metrics_set_gauge(m, "9lives", "x", 1);
	mx_metrics_set_gauge(m, "", "x", 1);
	text = render(m);
	assert_line(text, "# TYPE mxedge_config_generation gauge");
	assert_line(text, "mxedge_config_generation 4");
	/* Set twice, shown once: HELP, TYPE and one sample. */
	assert_int_equal(count_of(text, "mxedge_config_generation "), 3);
	assert_line(text, "# HELP mxedge_cert_expiry_days Days until the\\ncertificate expires.");
	assert_line(text, "mxedge_cert_expiry_days 12.5");
	assert_line(text, "mxedge_unknown NaN");
	assert_line(text, "mxedge_far -Inf");
	assert_null(strstr(text, "bad name"));
	assert_null(strstr(text, "9lives"));
	/* With no worker, the control block is the only one. */
	assert_line(text, "mxedge_worker_connections_accepted_total{worker=\"control\"} 0");
	free(text);
	mx_metrics_free(m);
}

static void
test_render_size(void **state)
{
	struct mx_metrics *m = filled();
	char small[64], *exact;
	char *full = render(m);
	size_t need = strlen(full), n;

	(void)state;
	/* Too small: the length needed comes back, the prefix is written
	 * and terminated. */
	memset(small, 'x', sizeof(small));
	n = mx_metrics_render(m, small, sizeof(small));
	assert_int_equal(n, need);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_memory_equal(small, full, sizeof(small) - 1);
	assert_int_equal(mx_metrics_render(m, NULL, 0), need);
	/* need bytes are one short of the terminator; need + 1 is enough. */
	exact = malloc(need + 1);
	assert_non_null(exact);
	assert_int_equal(mx_metrics_render(m, exact, need), need);
	assert_int_equal(strlen(exact), need - 1);
	assert_int_equal(mx_metrics_render(m, exact, need + 1), need);
	assert_string_equal(exact, full);
	free(exact);
	free(full);
	mx_metrics_free(m);
}

/* ---- HTTP over loopback ---- */

struct http_reply {
	int status;
	char raw[TEXT_MAX];
	const char *body;
	size_t body_len;
};

static int
connect_to(int family, uint16_t port)
{
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (family == AF_INET6) {
		memset(&s6, 0, sizeof(s6));
		s6.sin6_family = AF_INET6;
		s6.sin6_port = htons(port);
		s6.sin6_addr = in6addr_loopback;
		assert_int_equal(connect(fd, (struct sockaddr *)&s6, sizeof(s6)), 0);
	} else {
		memset(&s4, 0, sizeof(s4));
		s4.sin_family = AF_INET;
		s4.sin_port = htons(port);
		s4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_int_equal(connect(fd, (struct sockaddr *)&s4, sizeof(s4)), 0);
	}
	return fd;
}

/* One request, read until the server closes: at most 5 s in total and
 * 1000 reads. */
static void
http(int family, uint16_t port, const char *method, const char *path, struct http_reply *r)
{
	char req[256];
	size_t len = 0;
	ssize_t n;
	int fd, i, w;
	char *end;

	fd = connect_to(family, port);
	w = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
			"Content-Length: 0\r\n\r\n", method, path);
	assert_int_equal(send(fd, req, (size_t)w, MSG_NOSIGNAL), w);
	for (i = 0; i < 1000 && len < sizeof(r->raw) - 1; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		assert_int_equal(poll(&p, 1, 5000), 1);
		n = recv(fd, r->raw + len, sizeof(r->raw) - 1 - len, 0);
		assert_true(n >= 0);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	r->raw[len] = '\0';
	assert_int_equal(sscanf(r->raw, "HTTP/1.1 %d ", &r->status), 1);
	end = strstr(r->raw, "\r\n\r\n");
	assert_non_null(end);
	r->body = end + 4;
	r->body_len = len - (size_t)(r->body - r->raw);
}

static bool
has_header(const struct http_reply *r, const char *line)
{
	char want[256];
	const char *p = strstr(r->raw, "\r\n\r\n");

	snprintf(want, sizeof(want), "\r\n%s\r\n", line);
	return p != NULL && strcasestr(r->raw, want) != NULL && strcasestr(r->raw, want) < p + 2;
}

static unsigned
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;

	assert_non_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

static struct mx_addr
loopback(int family, uint16_t port)
{
	struct mx_addr a;

	memset(&a, 0, sizeof(a));
	a.family = (sa_family_t)family;
	a.port = port;
	if (family == AF_INET6)
		a.ip.v6 = in6addr_loopback;
	else
		a.ip.v4.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/* An exporter writes like snprintf; its text follows ours, also when the
 * first buffer was too small. */
static size_t
export_two(void *arg, char *buf, size_t size)
{
	int n = snprintf(buf, size, "# TYPE x_total counter\nx_total{k=\"%s\"} 2\n",
			(const char *)arg);

	return n > 0 ? (size_t)n : 0;
}

static void
test_exporters(void **state)
{
	struct mx_metrics *m;
	char small[64], *text;
	size_t need;

	(void)state;
	assert_int_equal(mx_metrics_create(1, &m), 0);
	for (unsigned i = 0; i < MX_METRICS_MAX_EXPORTERS; i++)
		assert_int_equal(mx_metrics_add_exporter(m, export_two, "a"), 0);
	assert_int_equal(mx_metrics_add_exporter(m, export_two, "b"), -ENOSPC);
	text = render(m);
	assert_line(text, "x_total{k=\"a\"} 2");
	assert_null(strstr(text, "k=\"b\""));
	need = mx_metrics_render(m, small, sizeof(small));
	assert_int_equal(need, strlen(text));
	assert_int_equal(strlen(small), sizeof(small) - 1);
	free(text);
	mx_metrics_free(m);
}

static void
test_http(void **state)
{
	static const struct {
		const char *method, *path;
		int status;
		const char *header;     /* a header line that must be there */
		const char *body;       /* body starts with this; NULL: empty body */
	} rows[] = {
		{ "GET", "/metrics", 200, "Content-Type: text/plain; version=0.0.4; charset=utf-8",
			"# HELP mxedge_build_info " },
		{ "GET", "/healthz", 200, NULL, "ok\n" },
		{ "HEAD", "/metrics", 200, "Content-Type: text/plain; version=0.0.4; charset=utf-8",
			NULL },
		{ "GET", "/", 404, NULL, "not found" },
		{ "GET", "/metrics/extra", 404, NULL, "not found" },
		{ "POST", "/metrics", 405, "Allow: GET, HEAD", "method not allowed" },
		{ "DELETE", "/healthz", 405, "Allow: GET, HEAD", "method not allowed" },
	};
	struct http_reply *r = malloc(sizeof(*r));
	unsigned fds_before = open_fds();
	struct mx_metrics *m = filled(), *other = NULL;
	struct mx_addr a = loopback(AF_INET, 0);
	uint16_t port;
	char *text;
	size_t i;

	(void)state;
	assert_non_null(r);
	assert_int_equal(mx_metrics_port(m), 0);
	assert_int_equal(mx_metrics_serve(m, &a), 0);
	port = mx_metrics_port(m);
	assert_true(port != 0);
	assert_int_equal(mx_metrics_serve(m, &a), -EALREADY);
	for (i = 0; i < MX_ARRAY_SIZE(rows); i++) {
		http(AF_INET, port, rows[i].method, rows[i].path, r);
		if (r->status != rows[i].status)
			fail_msg("%s %s: status %d, want %d", rows[i].method, rows[i].path,
					r->status, rows[i].status);
		if (rows[i].header != NULL && !has_header(r, rows[i].header))
			fail_msg("%s %s: no header '%s' in:\n%s", rows[i].method, rows[i].path,
					rows[i].header, r->raw);
		if (rows[i].body == NULL)
			assert_int_equal(r->body_len, 0);
		else if (strncmp(r->body, rows[i].body, strlen(rows[i].body)) != 0)
			fail_msg("%s %s: body '%.40s'", rows[i].method, rows[i].path, r->body);
	}
	/* The body is the rendered text, with the workers' values. */
	http(AF_INET, port, "GET", "/metrics", r);
	assert_line(r->body, "mxedge_connections_accepted_total 12");
	/* Four 404/405 answers so far, counted. */
	text = render(m);
	assert_line(text, "mxedge_metrics_http_rejected_total 4");
	free(text);
	/* The port is taken while we serve. */
	assert_int_equal(mx_metrics_create(0, &other), 0);
	a.port = port;
	assert_int_equal(mx_metrics_serve(other, &a), -EADDRINUSE);
	mx_metrics_free(other);
	mx_metrics_free(m);
	/* libmicrohttpd closed the listening socket: no descriptor leaked. */
	assert_int_equal(open_fds(), fds_before);
	free(r);
}

static void
test_http_ipv6(void **state)
{
	struct http_reply *r = malloc(sizeof(*r));
	struct mx_metrics *m = filled();
	struct mx_addr a = loopback(AF_INET6, 0);
	int rc;

	(void)state;
	assert_non_null(r);
	rc = mx_metrics_serve(m, &a);
	if (rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT) {
		mx_metrics_free(m);
		free(r);
		skip();
	}
	assert_int_equal(rc, 0);
	http(AF_INET6, mx_metrics_port(m), "GET", "/metrics", r);
	assert_int_equal(r->status, 200);
	assert_line(r->body, "mxedge_smtp_replies_total{class=\"2xx\"} 3");
	mx_metrics_free(m);
	free(r);
}

static void
test_bad_address(void **state)
{
	struct mx_metrics *m = NULL;
	struct mx_addr a;

	(void)state;
	assert_int_equal(mx_metrics_create(0, &m), 0);
	memset(&a, 0, sizeof(a));
	assert_int_equal(mx_metrics_serve(m, &a), -EAFNOSUPPORT);
	/* 192.0.2.1 (TEST-NET-1) is not an address of this host. */
	a = loopback(AF_INET, 0);
	assert_int_equal(inet_pton(AF_INET, "192.0.2.1", &a.ip.v4), 1);
	assert_int_equal(mx_metrics_serve(m, &a), -EADDRNOTAVAIL);
	assert_int_equal(mx_metrics_port(m), 0);
	mx_metrics_free(m);
	assert_int_equal(mx_metrics_create(MX_METRICS_MAX_WORKERS + 1, &m), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_lines),
		cmocka_unit_test(test_every_stat_named),
		cmocka_unit_test(test_gauges),
		cmocka_unit_test(test_render_size),
		cmocka_unit_test(test_exporters),
		cmocka_unit_test(test_http),
		cmocka_unit_test(test_http_ipv6),
		cmocka_unit_test(test_bad_address),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
