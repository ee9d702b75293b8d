/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * auth_test.c: the batch evaluator against real DNS machinery (libunbound
 * answering from a zone file the test writes; the DKIM keys of
 * policy/dkim/testdata): SPF pass/fail/softfail/none for both identities,
 * DKIM pass and fail on messages signed beforehand, DMARC
 * reject/quarantine/none with strict and relaxed alignment, a job whose
 * names arrive over two rounds, temperror when a forwarder on loopback
 * never answers, and the verifier stage (thread and worker modes)
 * returning jobs through its rings to a real loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
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

#include "mx_auth.h"
#include "mx_stream.h"

#define T_NOW 1700000060u /* one minute after the fixtures' t= */

static struct mx_chunk_pool *g_pool;

static void
path_of(char *buf, size_t cap, const char *file)
{
	const char *src = getenv("MX_SRCDIR");

	snprintf(buf, cap, "%s/policy/dkim/testdata/%s", src != NULL ? src : ".", file);
}

/* keys.txt as zone lines, each TXT split in 200-byte character-strings
 * (RFC 1035 3.3.14: at most 255 each). */
static void
zone_keys(FILE *out)
{
	char path[512], line[2048];
	FILE *f;

	path_of(path, sizeof(path), "keys.txt");
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		char *tab = strchr(line, '\t');
		size_t n, i;

		assert_non_null(tab);
		*tab++ = '\0';
		n = strcspn(tab, "\r\n");
		fprintf(out, "%s. 300 IN TXT", line);
		for (i = 0; i < n; i += 200)
			fprintf(out, " \"%.*s\"", (int)MX_MIN((size_t)200, n - i), tab + i);
		fputc('\n', out);
	}
	fclose(f);
}

static void
zone_write(char *path, size_t size, const char *extra)
{
	FILE *f;
	int fd;

	snprintf(path, size, "/tmp/mx_auth_test_XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs("$TTL 300\n"
		"pass.test. IN TXT \"v=spf1 ip4:192.0.2.1 -all\"\n"
		"soft.test. IN TXT \"v=spf1 ip4:192.0.2.1 ~all\"\n"
		"helo.test. IN TXT \"v=spf1 ip4:192.0.2.9 -all\"\n"
		"nospf.test. IN A 192.0.2.1\n"
		"inc.test. IN TXT \"v=spf1 include:a.inc.test -all\"\n"
		"a.inc.test. IN TXT \"v=spf1 include:b.inc.test -all\"\n"
		"b.inc.test. IN TXT \"v=spf1 ip4:192.0.2.7 -all\"\n"
		"example.org. IN TXT \"v=spf1 ip4:192.0.2.1 -all\"\n"
		"mail.example.org. IN TXT \"v=spf1 ip4:192.0.2.1 -all\"\n"
		"example.net. IN TXT \"v=spf1 ip4:192.0.2.1 -all\"\n"
		"_dmarc.example.net. IN TXT \"v=DMARC1; p=none\"\n", f);
	fputs(extra, f);
	zone_keys(f);
	fclose(f);
}

static bool g_senderid;

static struct mx_auth *
auth_new(const char *zone_extra, char *path, size_t size)
{
	struct mx_auth_conf c = {
		.dns = { .timeout_ms = 2000 },
		.receiver = "mx.test",
		.authserv_id = "mx.test",
		.dkim_fixed_time = T_NOW,
		.senderid = g_senderid,
	};
	struct mx_auth *a = NULL;

	zone_write(path, size, zone_extra);
	c.dns.zone_file = path;
	assert_int_equal(mx_auth_create(&c, &a, stderr), 0);
	return a;
}

/* Steps and waits until every job is back; bounded in passes and time.
 * Returns the passes it took. */
static unsigned
auth_run(struct mx_auth *a, unsigned n)
{
	struct mx_auth_job *done[16];
	unsigned got = 0, pass;

	for (pass = 1; pass <= 200; pass++) {
		got += mx_auth_step(a, done, MX_ARRAY_SIZE(done));
		if (got == n)
			return pass;
		mx_auth_wait(a);
	}
	fail_msg("jobs did not complete: %u of %u", got, n);
	return 0;
}

static struct mx_msg *
msg_load(const char *file, const char *tamper_from, const char *tamper_to)
{
	char path[512], buf[65536];
	struct mx_msg *m = NULL;
	size_t n;
	FILE *f;

	path_of(path, sizeof(path), file);
	f = fopen(path, "rb");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (tamper_from != NULL) {
		char *p = strstr(buf, tamper_from);

		assert_non_null(p);
		assert_int_equal(strlen(tamper_from), strlen(tamper_to));
		memcpy(p, tamper_to, strlen(tamper_to));
	}
	assert_int_equal(mx_msg_create(g_pool, 1000, 65536, &m), 0);
	assert_int_equal(mx_msg_append(m, buf, n), 0);
	mx_msg_finish(m);
	mx_msg_new_id(m->id);
	return m;
}

static struct mx_msg *
msg_text(const char *text)
{
	struct mx_msg *m = NULL;

	assert_int_equal(mx_msg_create(g_pool, 1000, 65536, &m), 0);
	assert_int_equal(mx_msg_append(m, text, strlen(text)), 0);
	mx_msg_finish(m);
	mx_msg_new_id(m->id);
	return m;
}

static void
test_spf(void **state)
{
	static const struct {
		const char *ip, *helo, *from;
		enum mx_auth_result spf, helo_r;
	} t[] = {
		{ "192.0.2.1", "helo.test", "a@pass.test", MX_AUTH_PASS, MX_AUTH_FAIL },
		{ "192.0.2.2", "helo.test", "a@pass.test", MX_AUTH_FAIL, MX_AUTH_FAIL },
		{ "192.0.2.2", "helo.test", "a@soft.test", MX_AUTH_SOFTFAIL, MX_AUTH_FAIL },
		{ "192.0.2.1", "helo.test", "a@nospf.test", MX_AUTH_NONE, MX_AUTH_FAIL },
		{ "192.0.2.9", "helo.test", "a@nxdomain.test", MX_AUTH_NONE, MX_AUTH_PASS },
		/* RFC 7208 2.4: the null sender is postmaster@HELO. */
		{ "192.0.2.9", "helo.test", "", MX_AUTH_PASS, MX_AUTH_PASS },
		{ "192.0.2.7", "x.test", "a@inc.test", MX_AUTH_PASS, MX_AUTH_NONE },
	};
	struct mx_auth_job jobs[MX_ARRAY_SIZE(t)];
	char path[64];
	struct mx_auth *a = auth_new("", path, sizeof(path));
	size_t i;

	(void)state;
	memset(jobs, 0, sizeof(jobs));
	/* One batch: every job's names share the rounds. */
	for (i = 0; i < MX_ARRAY_SIZE(t); i++) {
		jobs[i] = (struct mx_auth_job){ .kind = MX_AUTH_JOB_SPF,
			.client_ip = t[i].ip, .helo = t[i].helo, .mail_from = t[i].from };
		mx_auth_submit(a, &jobs[i]);
	}
	auth_run(a, MX_ARRAY_SIZE(t));
	for (i = 0; i < MX_ARRAY_SIZE(t); i++) {
		if (jobs[i].res.spf_word != t[i].spf || jobs[i].res.helo_word != t[i].helo_r)
			fail_msg("case %zu: spf %s helo %s", i,
					mx_auth_result_name(jobs[i].res.spf_word),
					mx_auth_result_name(jobs[i].res.helo_word));
	}
	/* The fail carries its explanation (RFC 7208 6.2), and the
	 * one-line A-R value names both identities. */
	assert_true(strstr(jobs[0].res.ar, "mx.test; spf=pass smtp.mailfrom=a@pass.test") ==
			jobs[0].res.ar);
	assert_non_null(strstr(jobs[0].res.ar, "spf=fail smtp.helo=helo.test"));
	assert_int_equal(mx_auth_n_jobs(a), 0);
	assert_int_equal(mx_auth_stats(a)->spf[MX_AUTH_PASS], 3);
	mx_auth_free(a);
	unlink(path);
}

struct msg_case {
	const char *file;        /* testdata file or NULL for text */
	const char *text;
	const char *tamper_from, *tamper_to;
	const char *ip, *mail_from;
	enum mx_auth_result dkim, dmarc;
	enum mx_dmarc_policy policy, disposition;
};

static void
run_msg_cases(const char *zone, const struct msg_case *t, size_t n)
{
	struct mx_auth_job job;
	struct mx_msg *m;
	char path[64];
	struct mx_auth *a = auth_new(zone, path, sizeof(path));
	size_t i;

	for (i = 0; i < n; i++) {
		m = t[i].file != NULL ? msg_load(t[i].file, t[i].tamper_from, t[i].tamper_to) :
			msg_text(t[i].text);
		memset(&job, 0, sizeof(job));
		job = (struct mx_auth_job){ .kind = MX_AUTH_JOB_MESSAGE, .client_ip = t[i].ip,
			.helo = "client.test", .mail_from = t[i].mail_from, .msg = m };
		mx_auth_submit(a, &job);
		auth_run(a, 1);
		if (job.res.dkim_best != t[i].dkim || job.res.dmarc.result != t[i].dmarc ||
				job.res.dmarc.policy != t[i].policy ||
				job.res.dmarc.disposition != t[i].disposition)
			fail_msg("case %zu: dkim %s (%s) dmarc %s policy %s disposition %s (%s)", i,
					mx_auth_result_name(job.res.dkim_best), job.res.dkim.n_sigs ? job.res.dkim.sigs[0].reason : "",
					mx_auth_result_name(job.res.dmarc.result),
					mx_dmarc_policy_name(job.res.dmarc.policy),
					mx_dmarc_policy_name(job.res.dmarc.disposition), job.res.ar);
		assert_true(job.res.checked_msg);
		/* The folded field is ready for mx_msg_prepend(). */
		assert_true(strncmp(job.res.ar_field, "Authentication-Results: mx.test;", 32) == 0);
		assert_true(job.res.ar_field_len > 2 &&
				memcmp(job.res.ar_field + job.res.ar_field_len - 2, "\r\n", 2) == 0);
		mx_msg_release(m);
	}
	mx_auth_free(a);
	unlink(path);
}

static void
test_dkim_dmarc_reject(void **state)
{
	static const struct msg_case t[] = {
		/* Signed by example.org, SPF pass too: DMARC pass. */
		{ "rr.eml", NULL, NULL, NULL, "192.0.2.1", "alice@example.org",
			MX_AUTH_PASS, MX_AUTH_PASS, MX_DMARC_POLICY_REJECT, MX_DMARC_POLICY_NONE },
		/* DKIM aligned alone carries DMARC (RFC 7489 4.2). */
		{ "rr.eml", NULL, NULL, NULL, "192.0.2.66", "alice@example.org",
			MX_AUTH_PASS, MX_AUTH_PASS, MX_DMARC_POLICY_REJECT, MX_DMARC_POLICY_NONE },
		/* Body changed: DKIM fail, SPF fail: DMARC fail, p=reject. */
		{ "rr.eml", NULL, "line two", "line TWO", "192.0.2.66", "alice@example.org",
			MX_AUTH_FAIL, MX_AUTH_FAIL, MX_DMARC_POLICY_REJECT, MX_DMARC_POLICY_REJECT },
		/* DKIM fail, SPF pass and relaxed-aligned (mail.example.org
		 * is in example.org's organizational domain). */
		{ "rr.eml", NULL, "line two", "line TWO", "192.0.2.1", "a@mail.example.org",
			MX_AUTH_FAIL, MX_AUTH_PASS, MX_DMARC_POLICY_REJECT, MX_DMARC_POLICY_NONE },
		/* Unsigned, From example.net with p=none: SPF aligned passes. */
		{ NULL, "From: b@example.net\r\nSubject: x\r\n\r\nhi\r\n", NULL, NULL,
			"192.0.2.1", "b@example.net",
			MX_AUTH_NONE, MX_AUTH_PASS, MX_DMARC_POLICY_NONE, MX_DMARC_POLICY_NONE },
		{ NULL, "From: b@example.net\r\nSubject: x\r\n\r\nhi\r\n", NULL, NULL,
			"192.0.2.66", "b@example.net",
			MX_AUTH_NONE, MX_AUTH_FAIL, MX_DMARC_POLICY_NONE, MX_DMARC_POLICY_NONE },
		/* No DMARC record at all: none. */
		{ NULL, "From: c@pass.test\r\n\r\nhi\r\n", NULL, NULL, "192.0.2.1", "c@pass.test",
			MX_AUTH_NONE, MX_AUTH_NONE, MX_DMARC_POLICY_NONE, MX_DMARC_POLICY_NONE },
	};

	(void)state;
	run_msg_cases("_dmarc.example.org. IN TXT \"v=DMARC1; p=reject\"\n", t, MX_ARRAY_SIZE(t));
}

static void
test_dmarc_quarantine_strict(void **state)
{
	static const struct msg_case t[] = {
		{ "rr.eml", NULL, "line two", "line TWO", "192.0.2.66", "alice@example.org",
			MX_AUTH_FAIL, MX_AUTH_FAIL, MX_DMARC_POLICY_QUARANTINE,
			MX_DMARC_POLICY_QUARANTINE },
		/* aspf=s: mail.example.org is not example.org, so SPF's pass
		 * does not align (RFC 7489 3.1.2). */
		{ "rr.eml", NULL, "line two", "line TWO", "192.0.2.1", "a@mail.example.org",
			MX_AUTH_FAIL, MX_AUTH_FAIL, MX_DMARC_POLICY_QUARANTINE,
			MX_DMARC_POLICY_QUARANTINE },
		{ "rr.eml", NULL, NULL, NULL, "192.0.2.66", "alice@example.org",
			MX_AUTH_PASS, MX_AUTH_PASS, MX_DMARC_POLICY_QUARANTINE, MX_DMARC_POLICY_NONE },
	};

	(void)state;
	run_msg_cases("_dmarc.example.org. IN TXT \"v=DMARC1; p=quarantine; aspf=s\"\n",
			t, MX_ARRAY_SIZE(t));
}

/* inc.test -> a.inc.test -> b.inc.test: each include is only known once
 * the previous record arrived, so the job needs several rounds, and it
 * is not returned before. */
static void
test_rounds(void **state)
{
	struct mx_auth_job job = { .kind = MX_AUTH_JOB_SPF, .client_ip = "192.0.2.7",
		.helo = "x.test", .mail_from = "a@inc.test" };
	struct mx_auth_job *done[4];
	char path[64];
	struct mx_auth *a = auth_new("", path, sizeof(path));
	unsigned passes;

	(void)state;
	mx_auth_submit(a, &job);
	assert_int_equal(mx_auth_step(a, done, 4), 0);
	assert_int_equal(mx_auth_n_jobs(a), 1);
	assert_true(mx_auth_next_deadline_ms(a) > 0);
	passes = auth_run(a, 1);
	assert_true(passes >= 2);
	assert_true(mx_auth_stats(a)->runs >= 3);
	assert_int_equal(job.res.spf_word, MX_AUTH_PASS);
	mx_auth_free(a);
	unlink(path);
}

/* A forwarder on loopback that never answers: every check that needs
 * DNS is a temperror after the deadline, and the job still comes back. */
static void
test_temperror(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	struct mx_auth_conf c = { .dns = { .timeout_ms = 300 }, .receiver = "mx.test" };
	/* Not under .test: unbound answers RFC 6761 names itself. */
	struct mx_auth_job spf = { .kind = MX_AUTH_JOB_SPF, .client_ip = "192.0.2.1",
		.helo = "helo.example.com", .mail_from = "a@pass.example.com" };
	struct mx_auth_job msg = { .kind = MX_AUTH_JOB_MESSAGE, .client_ip = "192.0.2.1",
		.helo = "helo.example.com", .mail_from = "alice@example.org" };
	struct mx_auth *a = NULL;
	char resolver[64];
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	snprintf(resolver, sizeof(resolver), "127.0.0.1:%u", ntohs(sin.sin_port));
	c.dns.resolver = resolver;
	assert_int_equal(mx_auth_create(&c, &a, stderr), 0);
	msg.msg = msg_load("rr.eml", NULL, NULL);
	mx_auth_submit(a, &spf);
	mx_auth_submit(a, &msg);
	auth_run(a, 2);
	if (spf.res.spf_word != MX_AUTH_TEMPERROR)
		fail_msg("spf %s (%u rounds)", spf.res.ar, spf.res.spf.n_rounds);
	if (spf.res.helo_word != MX_AUTH_TEMPERROR)
		fail_msg("helo %s", spf.res.ar);
	assert_int_equal(msg.res.spf_word, MX_AUTH_TEMPERROR);
	assert_int_equal(msg.res.dkim_best, MX_AUTH_TEMPERROR);
	assert_int_equal(msg.res.dmarc.result, MX_AUTH_TEMPERROR);
	assert_true(mx_auth_dns_stats(a)->timeouts > 0);
	mx_msg_release((struct mx_msg *)(uintptr_t)msg.msg);
	mx_auth_free(a);
	close(fd);
}

static void
test_prefetch_names(void **state)
{
	struct mx_auth_job job;
	struct mx_msg *m = msg_load("multi.eml", NULL, NULL);

	(void)state;
	memset(&job, 0, sizeof(job));
	mx_auth_prefetch_spf(&job, "helo.test", "a@Pass.test");
	assert_int_equal(job.kind, MX_AUTH_JOB_PREFETCH);
	assert_int_equal(job.n_names, 2);
	assert_string_equal(job.names[0], "Pass.test");
	assert_string_equal(job.names[1], "helo.test");
	memset(&job, 0, sizeof(job));
	mx_auth_prefetch_spf(&job, "helo.test", "");
	assert_int_equal(job.n_names, 1);
	memset(&job, 0, sizeof(job));
	mx_auth_prefetch_msg(&job, m);
	assert_int_equal(job.n_names, 2);
	assert_string_equal(job.from_domain, "example.org");
	mx_msg_release(m);
}

/* Sender ID (RFC 4406), off unless configured: the PRA (RFC 4407, here
 * the From address) checked against the v=spf1 record of its domain, in
 * the same batch as the other checks, and named in both A-R forms. */
static void
test_senderid(void **state)
{
	static const struct {
		const char *text, *ip;
		enum mx_auth_result want;
	} t[] = {
		{ "From: a@pass.test\r\n\r\nhi\r\n", "192.0.2.1", MX_AUTH_PASS },
		{ "From: a@pass.test\r\n\r\nhi\r\n", "192.0.2.5", MX_AUTH_FAIL },
		{ "Sender: s@soft.test\r\nFrom: a@pass.test\r\n\r\nhi\r\n", "192.0.2.5",
			MX_AUTH_SOFTFAIL },
		/* Two From fields: no PRA (RFC 4407 2, step 6). */
		{ "From: a@pass.test\r\nFrom: b@pass.test\r\n\r\nhi\r\n", "192.0.2.1",
			MX_AUTH_NONE },
	};
	struct mx_auth_job job;
	struct mx_msg *m;
	char path[64];
	struct mx_auth *a;
	size_t i;

	(void)state;
	g_senderid = true;
	a = auth_new("", path, sizeof(path));
	g_senderid = false;
	for (i = 0; i < MX_ARRAY_SIZE(t); i++) {
		m = msg_text(t[i].text);
		memset(&job, 0, sizeof(job));
		job = (struct mx_auth_job){ .kind = MX_AUTH_JOB_MESSAGE, .client_ip = t[i].ip,
			.helo = "helo.test", .mail_from = "x@nospf.test", .msg = m };
		mx_auth_submit(a, &job);
		auth_run(a, 1);
		if (job.res.senderid_word != t[i].want || !job.res.has_senderid)
			fail_msg("case %zu: senderid %s (pra '%s')", i,
					mx_auth_result_name(job.res.senderid_word), job.res.pra);
		assert_non_null(strstr(job.res.ar, "; senderid="));
		assert_non_null(strstr(job.res.ar_field, ";\r\n\tsenderid="));
		assert_true(memcmp(job.res.ar_field + job.res.ar_field_len - 2, "\r\n", 2) == 0);
		mx_msg_release(m);
	}
	mx_auth_free(a);
	unlink(path);
}

/* ---- the stage, through a real loop ---- */

static unsigned g_done;
static struct mx_auth_job *g_last;

static void
stage_done(struct mx_auth_job *job)
{
	g_done++;
	g_last = job;
}

static void
stage_case(bool threaded)
{
	struct mx_loop_conf lc = { .transport = MX_TRANSPORT_KERNEL, .max_streams = 4,
		.rcvbuf_bytes = 4096, .sndbuf_bytes = 4096 };
	struct mx_auth_conf c = { .dns = { .timeout_ms = 2000 }, .receiver = "mx.test" };
	struct mx_auth_stage *st = NULL;
	struct mx_auth_port *p = NULL;
	struct mx_auth_job *job, *pf;
	struct mx_loop *loop = NULL;
	char path[64];
	unsigned i;

	zone_write(path, sizeof(path), "");
	c.dns.zone_file = path;
	assert_int_equal(mx_loop_create(&lc, &loop), 0);
	assert_int_equal(mx_auth_stage_create(&c, threaded, &st, stderr), 0);
	assert_int_equal(mx_auth_port_create(st, loop, 2, stage_done, stderr, &p), 0);
	g_done = 0;
	pf = mx_auth_job_get(p);
	assert_non_null(pf);
	mx_auth_prefetch_spf(pf, "helo.test", "a@pass.test");
	assert_int_equal(mx_auth_port_submit(p, pf), 0);
	job = mx_auth_job_get(p);
	assert_non_null(job);
	assert_null(mx_auth_job_get(p)); /* depth 2: the pool is empty */
	job->client_ip = "192.0.2.1";
	job->helo = "helo.test";
	job->mail_from = "a@pass.test";
	assert_int_equal(mx_auth_port_submit(p, job), 0);
	for (i = 0; i < 2000 && (g_done == 0 || mx_auth_port_in_flight(p) > 0); i++)
		assert_int_equal(mx_loop_run_once(loop, mx_auth_port_timeout_ms(p, 10)), 0);
	assert_int_equal(g_done, 1);
	assert_ptr_equal(g_last, job);
	assert_int_equal(job->res.spf_word, MX_AUTH_PASS);
	/* The prefetch went back to the pool by itself. */
	mx_auth_job_put(p, job);
	assert_non_null(mx_auth_job_get(p));
	assert_non_null(mx_auth_job_get(p));
	{
		struct mx_auth_port_stats s;

		mx_auth_stage_stats(st, &s);
		assert_int_equal(s.auth.jobs, 1);
		assert_int_equal(s.auth.prefetches, 1);
		assert_true(s.dns.queries > 0);
	}
	mx_loop_free(loop);
	mx_auth_stage_free(st);
	unlink(path);
}

static void
test_stage_thread(void **state)
{
	(void)state;
	stage_case(true);
}

static void
test_stage_worker(void **state)
{
	(void)state;
	stage_case(false);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spf),
		cmocka_unit_test(test_dkim_dmarc_reject),
		cmocka_unit_test(test_dmarc_quarantine_strict),
		cmocka_unit_test(test_rounds),
		cmocka_unit_test(test_temperror),
		cmocka_unit_test(test_prefetch_names),
		cmocka_unit_test(test_senderid),
		cmocka_unit_test(test_stage_thread),
		cmocka_unit_test(test_stage_worker),
	};
	int rc;

	assert_int_equal(mx_chunk_pool_create(65536, 64u << 20, &g_pool), 0);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	mx_chunk_pool_free(g_pool);
	return rc;
}
