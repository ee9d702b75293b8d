/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * verify.c: `mxedge verify`, the offline sender-authentication command.
 * It runs the same code as the engine's verifier stage (policy/auth: one
 * job through the batch evaluator) on one transaction given on the
 * command line:
 *
 *   mxedge verify [--resolver HOST:PORT | --dns-zone FILE]
 *                 [--dns-timeout-ms N] [--authserv-id NAME]
 *                 --client-ip IP --helo NAME --mail-from ADDR
 *                 [--json] [MESSAGE_FILE]
 *
 * SPF is checked for the MAIL FROM identity (postmaster@HELO when
 * --mail-from is "") and, separately, for the HELO identity. With --json
 * it prints one JSON object (spf, helo, dkim, dmarc,
 * authentication_results), without it the Authentication-Results header
 * it would add (RFC 8601). MESSAGE_FILE is read for the message checks
 * (DKIM, DMARC); without it "dkim" is [] and "dmarc" is "none".
 *
 * --senderid adds Sender ID (RFC 4406, off by default): the PRA of
 * MESSAGE_FILE's header (RFC 4407) checked by mx_spf, as "senderid" in
 * the JSON and senderid= in the Authentication-Results value.
 *
 * Exit status: 0 when the checks ran (whatever their results), 1 when
 * the resolver or a file could not be set up, 2 on a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mx_auth.h"
#include "mx_authres.h"
#include "mx_json.h"
#include "mx_main.h"
#include "mx_msg.h"

#define VERIFY_JSON_MAX 8192
#define VERIFY_MAX_MESSAGE (64u << 20)
/* Steps of the batch at most (each waits for answers or a deadline, and
 * the job deadline ends the job long before). */
#define VERIFY_MAX_STEPS 10000

struct verify_opts {
	struct mx_dns_conf dns;
	const char *client_ip;
	const char *helo;
	const char *mail_from;
	const char *authserv_id;
	const char *message_file;
	bool json;
	bool senderid;
};

struct verify_ctx {
	struct verify_opts o;
	char hostname[256];
	char *msg;                   /* MESSAGE_FILE's bytes, or NULL */
	size_t msg_len;
	struct mx_auth_job job;      /* the one job; its res is printed */
	char pra[MX_SPF_DOMAIN_MAX * 2];
	struct mx_spf_outcome sid;   /* Sender ID, with --senderid */
};

static void
verify_usage(FILE *f)
{
	fprintf(f,
		"usage: mxedge verify [--resolver HOST:PORT | --dns-zone FILE]\n"
		"                     [--dns-timeout-ms N] [--authserv-id NAME]\n"
		"                     --client-ip IP --helo NAME --mail-from ADDR\n"
		"                     [--json] [--senderid] [MESSAGE_FILE]\n");
}

static int
verify_parse(int argc, char **argv, struct verify_opts *o)
{
	static const struct option lopts[] = {
		{ "resolver", required_argument, NULL, 'r' },
		{ "dns-zone", required_argument, NULL, 'z' },
		{ "dns-timeout-ms", required_argument, NULL, 't' },
		{ "authserv-id", required_argument, NULL, 'a' },
		{ "client-ip", required_argument, NULL, 'i' },
		{ "helo", required_argument, NULL, 'H' },
		{ "mail-from", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "senderid", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		char *end;
		unsigned long v;

		switch (c) {
		case 'r': o->dns.resolver = optarg; break;
		case 'z': o->dns.zone_file = optarg; break;
		case 't':
			v = strtoul(optarg, &end, 10);
			if (*end != '\0' || v == 0 || v > 600000) {
				fprintf(stderr, "mxedge verify: --dns-timeout-ms %s: 1..600000\n", optarg);
				return -1;
			}
			o->dns.timeout_ms = (uint32_t)v;
			break;
		case 'a': o->authserv_id = optarg; break;
		case 'i': o->client_ip = optarg; break;
		case 'H': o->helo = optarg; break;
		case 'f': o->mail_from = optarg; break;
		case 'j': o->json = true; break;
		case 's': o->senderid = true; break;
		case 'h': verify_usage(stdout); return 1;
		default: verify_usage(stderr); return -1;
		}
	}
	if (optind < argc)
		o->message_file = argv[optind++];
	if (optind < argc || o->client_ip == NULL || o->helo == NULL ||
			o->mail_from == NULL || (o->dns.resolver != NULL && o->dns.zone_file != NULL)) {
		verify_usage(stderr);
		return -1;
	}
	return 0;
}

static int
verify_read_message(struct verify_ctx *v)
{
	FILE *f = fopen(v->o.message_file, "rb");
	size_t cap = 65536;

	if (f == NULL) {
		fprintf(stderr, "mxedge verify: %s: cannot open it\n", v->o.message_file);
		return -1;
	}
	v->msg = malloc(cap);
	while (v->msg != NULL) {
		size_t n = fread(v->msg + v->msg_len, 1, cap - v->msg_len, f);

		v->msg_len += n;
		if (n == 0 || v->msg_len > VERIFY_MAX_MESSAGE)
			break;
		if (v->msg_len == cap) {
			char *p = realloc(v->msg, cap * 2);

			if (p == NULL)
				break;
			v->msg = p;
			cap *= 2;
		}
	}
	fclose(f);
	if (v->msg == NULL || v->msg_len > VERIFY_MAX_MESSAGE) {
		fprintf(stderr, "mxedge verify: %s: unreadable or over %u bytes\n",
				v->o.message_file, VERIFY_MAX_MESSAGE);
		return -1;
	}
	return 0;
}

static void
verify_json_msg(const struct mx_auth_res *r, struct mx_json *j)
{
	unsigned i;

	mx_json_arr_open(j, "dkim");
	for (i = 0; r->checked_msg && i < r->dkim.n_sigs; i++) {
		mx_json_obj_open(j, NULL);
		mx_json_cstr(j, "domain", r->dkim.sigs[i].domain);
		mx_json_cstr(j, "selector", r->dkim.sigs[i].selector);
		mx_json_cstr(j, "result", mx_auth_result_name(r->dkim.sigs[i].result));
		mx_json_i64(j, "key_bits", r->dkim.sigs[i].key_bits);
		mx_json_obj_close(j);
	}
	mx_json_arr_close(j);
	mx_json_obj_open(j, "dmarc");
	mx_json_cstr(j, "result", r->checked_msg ?
		mx_auth_result_name(r->dmarc.result) : "none");
	mx_json_cstr(j, "from_domain", r->checked_msg ? r->dmarc.from_domain : "");
	mx_json_cstr(j, "policy", mx_dmarc_policy_name(r->checked_msg ?
		r->dmarc.policy : MX_DMARC_POLICY_NONE));
	mx_json_cstr(j, "disposition", mx_dmarc_policy_name(r->checked_msg ?
		r->dmarc.disposition : MX_DMARC_POLICY_NONE));
	mx_json_obj_close(j);
}

/* Sender ID (RFC 4406): the PRA of the message's header (RFC 4407),
 * checked by the batch evaluator with the other message checks (as in
 * the engine: auth.senderid), which also put senderid= into the A-R
 * value; without a message there is no PRA: "none". */
static void
verify_senderid(struct verify_ctx *v)
{
	const struct mx_auth_res *r = &v->job.res;
	size_t len = strlen(v->job.res.ar);

	if (r->has_senderid) {
		v->sid = r->senderid;
		snprintf(v->pra, sizeof(v->pra), "%s", r->pra);
		return;
	}
	memset(&v->sid, 0, sizeof(v->sid));
	v->sid.result = MX_SPF_NONE;
	v->pra[0] = '\0';
	(void)mx_authres_append_result(v->job.res.ar, sizeof(v->job.res.ar), &len,
			"senderid", MX_AUTH_NONE);
}

static void
verify_json(const struct verify_ctx *v, const struct mx_auth_res *r, char *buf, size_t size)
{
	struct mx_json j;

	mx_json_init(&j, buf, size);
	mx_json_obj_open(&j, NULL);
	mx_json_obj_open(&j, "spf");
	mx_json_cstr(&j, "result", mx_spf_result_str(r->spf.result));
	mx_json_cstr(&j, "domain", r->spf.domain);
	mx_json_cstr(&j, "explanation", r->spf.explanation);
	mx_json_obj_close(&j);
	mx_json_obj_open(&j, "helo");
	mx_json_cstr(&j, "result", mx_spf_result_str(r->helo.result));
	mx_json_cstr(&j, "domain", r->helo.domain);
	mx_json_obj_close(&j);
	verify_json_msg(r, &j);
	if (v->o.senderid) {
		mx_json_obj_open(&j, "senderid");
		mx_json_cstr(&j, "result", mx_spf_result_str(v->sid.result));
		mx_json_cstr(&j, "pra", v->pra);
		mx_json_cstr(&j, "domain", v->sid.domain);
		mx_json_obj_close(&j);
	}
	mx_json_cstr(&j, "authentication_results", r->ar);
	mx_json_obj_close(&j);
}

/* The message as the engine would hold it: a msg over chunks, its header
 * index built as the bytes are appended. */
static int
verify_load_msg(struct verify_ctx *v, struct mx_chunk_pool **pool, struct mx_msg **m)
{
	int rc;

	rc = mx_chunk_pool_create(65536, VERIFY_MAX_MESSAGE + (8u << 20), pool);
	if (rc == 0)
		rc = mx_msg_create(*pool, 1000, 65536, m);
	if (rc == 0)
		rc = mx_msg_append(*m, v->msg, v->msg_len);
	if (rc != 0) {
		fprintf(stderr, "mxedge verify: message checks failed: %s\n", strerror(-rc));
		return rc;
	}
	mx_msg_finish(*m);
	mx_msg_new_id((*m)->id);
	return 0;
}

/* One job through the same batch evaluator as the verifier stage: step,
 * and sleep on the DNS descriptor until answers or the next deadline. */
static void
verify_batch(struct mx_auth *a, struct mx_auth_job *job)
{
	struct mx_auth_job *done[1];
	unsigned i;

	mx_auth_submit(a, job);
	for (i = 0; i < VERIFY_MAX_STEPS; i++) {
		if (mx_auth_step(a, done, 1) == 1)
			return;
		mx_auth_wait(a);
	}
}

static int
verify_run(struct verify_ctx *v)
{
	struct mx_auth_conf conf = {
		.dns = v->o.dns,
		.receiver = v->hostname,
		.authserv_id = v->o.authserv_id,
		.senderid = v->o.senderid,
	};
	struct mx_auth_job *job = &v->job;
	struct mx_chunk_pool *pool = NULL;
	struct mx_auth *a = NULL;
	struct mx_msg *m = NULL;
	char *json = NULL;
	int rc = 1;

	if (mx_auth_create(&conf, &a, stderr) != 0)
		goto out;
	if (v->o.message_file != NULL && verify_read_message(v) != 0)
		goto out;
	job->kind = MX_AUTH_JOB_SPF;
	job->client_ip = v->o.client_ip;
	job->helo = v->o.helo;
	job->mail_from = v->o.mail_from;
	if (v->msg != NULL && verify_load_msg(v, &pool, &m) == 0) {
		job->kind = MX_AUTH_JOB_MESSAGE;
		job->msg = m;
	}
	verify_batch(a, job);
	if (v->o.senderid)
		verify_senderid(v);
	if (v->o.json) {
		json = malloc(VERIFY_JSON_MAX);
		if (json == NULL)
			goto out;
		verify_json(v, &job->res, json, VERIFY_JSON_MAX);
		printf("%s\n", json);
	} else {
		printf("Authentication-Results: %s\n", job->res.ar);
	}
	rc = 0;
out:
	free(json);
	free(v->msg);
	mx_msg_release(m);
	mx_chunk_pool_free(pool);
	mx_auth_free(a);
	return rc;
}

int
mx_main_verify(int argc, char **argv)
{
	struct verify_ctx *v = calloc(1, sizeof(*v));
	int rc;

	if (v == NULL)
		return 1;
	rc = verify_parse(argc, argv, &v->o);
	if (rc != 0) {
		free(v);
		return rc > 0 ? 0 : 2;
	}
	if (gethostname(v->hostname, sizeof(v->hostname) - 1) != 0)
		snprintf(v->hostname, sizeof(v->hostname), "localhost");
	rc = verify_run(v);
	free(v);
	return rc;
}
