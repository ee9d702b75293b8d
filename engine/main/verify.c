/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * verify.c: `mxedge verify`, the offline sender-authentication command.
 * It runs the same code as the verifier stage (mx_dns, mx_spf) on one
 * transaction given on the command line:
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
 * (DKIM, DMARC: verify_message()); without it "dkim" is [] and "dmarc"
 * is "none".
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

#include "mx_authres.h"
#include "mx_dkim.h"
#include "mx_dmarc.h"
#include "mx_dns.h"
#include "mx_json.h"
#include "mx_main.h"
#include "mx_msg.h"
#include "mx_spf.h"

#define VERIFY_AR_MAX 2048
#define VERIFY_JSON_MAX 8192
#define VERIFY_MAX_MESSAGE (64u << 20)

struct verify_opts {
	struct mx_dns_conf dns;
	const char *client_ip;
	const char *helo;
	const char *mail_from;
	const char *authserv_id;
	const char *message_file;
	bool json;
};

struct verify_ctx {
	struct verify_opts o;
	char hostname[256];
	struct mx_spf_outcome spf;   /* MAIL FROM identity */
	struct mx_spf_outcome helo;  /* HELO identity */
	char *msg;                   /* MESSAGE_FILE's bytes, or NULL */
	size_t msg_len;
	char ar[VERIFY_AR_MAX];      /* Authentication-Results value */
	bool checked_msg;            /* dkim and dmarc below are valid */
	struct mx_dkim_res dkim;
	struct mx_dmarc_out dmarc;
};

/* DNS rounds for one message's checks: each round asks every name the
 * checks still lack at once (DESIGN "DNS and batching"). */
#define VERIFY_MSG_ROUNDS 4

static void
verify_usage(FILE *f)
{
	fprintf(f,
		"usage: mxedge verify [--resolver HOST:PORT | --dns-zone FILE]\n"
		"                     [--dns-timeout-ms N] [--authserv-id NAME]\n"
		"                     --client-ip IP --helo NAME --mail-from ADDR\n"
		"                     [--json] [MESSAGE_FILE]\n");
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

/* RFC 8601 2.2: authserv-id; then one resinfo per method. The property
 * values are the identities as given, in RFC 8601 2.7.4's ptypes. */
static void
verify_compose_ar(struct verify_ctx *v)
{
	const char *id = v->o.authserv_id != NULL ? v->o.authserv_id : v->hostname;
	size_t n;

	n = (size_t)snprintf(v->ar, sizeof(v->ar), "%s; spf=%s smtp.mailfrom=%s", id,
			mx_spf_result_str(v->spf.result),
			v->o.mail_from[0] != '\0' ? v->o.mail_from : v->spf.domain);
	if (n < sizeof(v->ar))
		snprintf(v->ar + n, sizeof(v->ar) - n, "; spf=%s smtp.helo=%s",
				mx_spf_result_str(v->helo.result), v->o.helo);
}

/* SPF result words (RFC 7208 2.6) as RFC 8601 results, same spelling. */
static const struct {
	const char *w;
	enum mx_auth_result r;
} verify_words[] = {
	{ "pass", MX_AUTH_PASS }, { "fail", MX_AUTH_FAIL },
	{ "softfail", MX_AUTH_SOFTFAIL }, { "neutral", MX_AUTH_NEUTRAL },
	{ "temperror", MX_AUTH_TEMPERROR }, { "permerror", MX_AUTH_PERMERROR },
};

static enum mx_auth_result
verify_auth_result(const char *w)
{
	unsigned i;

	for (i = 0; i < MX_ARRAY_SIZE(verify_words); i++)
		if (strcmp(w, verify_words[i].w) == 0)
			return verify_words[i].r;
	return MX_AUTH_NONE;
}

/* TXT answers from the DNS cache for the DKIM and DMARC callbacks: a name
 * not asked yet is submitted and answers -EAGAIN, so the check is run
 * again after mx_dns_wait(). */
static int
verify_txt(void *ctx, const char *qname, struct mx_str *recs, unsigned max)
{
	struct mx_dns *dns = ctx;
	const struct mx_dns_answer *a = mx_dns_get(dns, qname, MX_DNS_TXT);
	unsigned i;

	if (a == NULL || a->status == MX_DNS_PENDING) {
		if (mx_dns_submit(dns, qname, MX_DNS_TXT) == -EINVAL)
			return 0; /* no such name can exist */
		return -EAGAIN;
	}
	switch (a->status) {
	case MX_DNS_OK:
		for (i = 0; i < a->n_rr && i < max; i++)
			recs[i] = (struct mx_str){ a->rr[i].len, (const char *)a->rr[i].data };
		return (int)i;
	case MX_DNS_NODATA:
	case MX_DNS_NXDOMAIN:
		return 0;
	default:
		return -EIO;
	}
}

static int
verify_dkim(struct verify_ctx *v, struct mx_dns *dns, const struct mx_msg *m)
{
	struct mx_dkim_conf conf = { .txt = verify_txt, .txt_ctx = dns };
	struct mx_dkim *dk = NULL;
	int rc, round;

	rc = mx_dkim_create(&conf, &dk);
	if (rc < 0)
		return rc;
	for (round = 0; round < VERIFY_MSG_ROUNDS; round++) {
		rc = mx_dkim_verify(dk, m, &v->dkim);
		if (rc != -EAGAIN)
			break;
		mx_dns_wait(dns);
	}
	mx_dkim_free(dk);
	return rc;
}

static int
verify_dmarc(struct verify_ctx *v, struct mx_dns *dns, const struct mx_msg *m)
{
	struct mx_dmarc_conf conf = { .txt = verify_txt, .txt_ctx = dns };
	struct mx_dmarc_dkim dk[MX_DKIM_MAX_SIGS];
	struct mx_dmarc_in in = { .spf = MX_AUTH_NONE };
	char from[MX_DMARC_DOMAIN_MAX];
	struct mx_dmarc *d = NULL;
	const char *at;
	unsigned i;
	int rc, round;

	rc = mx_dmarc_create(&conf, &d);
	if (rc < 0)
		return rc;
	for (i = 0; i < v->dkim.n_sigs; i++)
		dk[i] = (struct mx_dmarc_dkim){ { strlen(v->dkim.sigs[i].domain),
			v->dkim.sigs[i].domain }, v->dkim.sigs[i].result };
	in.dkim = dk;
	in.n_dkim = v->dkim.n_sigs;
	in.from_domain = mx_dmarc_from_domain(m, from) == 0 ? from : NULL;
	in.spf = verify_auth_result(mx_spf_result_str(v->spf.result));
	at = strrchr(v->o.mail_from, '@');
	in.spf_domain = at != NULL ? (struct mx_str){ strlen(at + 1), at + 1 } :
		(struct mx_str){ strlen(v->o.helo), v->o.helo };
	in.sample = mx_siphash((const uint8_t *)"mxedge-verify-pc", m->id, strlen(m->id));
	for (round = 0; round < VERIFY_MSG_ROUNDS; round++) {
		rc = mx_dmarc_eval(d, &in, &v->dmarc);
		if (rc != -EAGAIN)
			break;
		mx_dns_wait(dns);
	}
	mx_dmarc_free(d);
	return rc;
}

/* MESSAGE_FILE through the same checks as the verifier stage: DKIM, then
 * DMARC over the SPF and DKIM results. */
static int
verify_message(struct verify_ctx *v, struct mx_dns *dns)
{
	struct mx_chunk_pool *pool = NULL;
	struct mx_msg *m = NULL;
	int rc;

	rc = mx_chunk_pool_create(65536, VERIFY_MAX_MESSAGE + (8u << 20), &pool);
	if (rc == 0)
		rc = mx_msg_create(pool, 1000, 65536, &m);
	if (rc == 0)
		rc = mx_msg_append(m, v->msg, v->msg_len);
	if (rc == 0) {
		mx_msg_finish(m);
		mx_msg_new_id(m->id);
		rc = verify_dkim(v, dns, m);
	}
	if (rc == 0)
		rc = verify_dmarc(v, dns, m);
	v->checked_msg = rc == 0;
	if (rc != 0)
		fprintf(stderr, "mxedge verify: message checks failed: %s\n", strerror(-rc));
	mx_msg_release(m);
	mx_chunk_pool_free(pool);
	return rc;
}

/* The whole Authentication-Results value once the message was checked. */
static void
verify_compose_ar_msg(struct verify_ctx *v)
{
	struct mx_authres_dkim dk[MX_DKIM_MAX_SIGS];
	const char *id = v->o.authserv_id != NULL ? v->o.authserv_id : v->hostname;
	struct mx_authres a = {
		.authserv_id = { strlen(id), id },
		.has_spf = true,
		.spf = MX_AUTH_NONE,
		.has_helo = true,
		.helo = MX_AUTH_NONE,
		.helo_name = { strlen(v->o.helo), v->o.helo },
		.has_dkim = true,
		.dkim = dk,
		.n_dkim = v->dkim.n_sigs,
		.has_dmarc = true,
		.dmarc = v->dmarc.result,
		.from_domain = { strlen(v->dmarc.from_domain), v->dmarc.from_domain },
	};
	const char *mf = v->o.mail_from[0] != '\0' ? v->o.mail_from : v->spf.domain;
	size_t len;
	unsigned i;

	a.mailfrom = (struct mx_str){ strlen(mf), mf };
	for (i = 0; i < v->dkim.n_sigs; i++)
		dk[i] = (struct mx_authres_dkim){
			{ strlen(v->dkim.sigs[i].domain), v->dkim.sigs[i].domain },
			{ strlen(v->dkim.sigs[i].selector), v->dkim.sigs[i].selector },
			v->dkim.sigs[i].result };
	/* The SPF words are RFC 8601's; mx_authres takes them as results. */
	a.spf = verify_auth_result(mx_spf_result_str(v->spf.result));
	a.helo = verify_auth_result(mx_spf_result_str(v->helo.result));
	(void)mx_authres_format(&a, false, v->ar, sizeof(v->ar), &len);
}

static void
verify_json_msg(const struct verify_ctx *v, struct mx_json *j)
{
	unsigned i;

	mx_json_arr_open(j, "dkim");
	for (i = 0; v->checked_msg && i < v->dkim.n_sigs; i++) {
		mx_json_obj_open(j, NULL);
		mx_json_cstr(j, "domain", v->dkim.sigs[i].domain);
		mx_json_cstr(j, "selector", v->dkim.sigs[i].selector);
		mx_json_cstr(j, "result", mx_auth_result_name(v->dkim.sigs[i].result));
		mx_json_obj_close(j);
	}
	mx_json_arr_close(j);
	mx_json_obj_open(j, "dmarc");
	mx_json_cstr(j, "result", v->checked_msg ?
		mx_auth_result_name(v->dmarc.result) : "none");
	mx_json_cstr(j, "from_domain", v->checked_msg ? v->dmarc.from_domain : "");
	mx_json_cstr(j, "policy", mx_dmarc_policy_name(v->checked_msg ?
		v->dmarc.policy : MX_DMARC_POLICY_NONE));
	mx_json_cstr(j, "disposition", mx_dmarc_policy_name(v->checked_msg ?
		v->dmarc.disposition : MX_DMARC_POLICY_NONE));
	mx_json_obj_close(j);
}

static void
verify_json(const struct verify_ctx *v, char *buf, size_t size)
{
	struct mx_json j;

	mx_json_init(&j, buf, size);
	mx_json_obj_open(&j, NULL);
	mx_json_obj_open(&j, "spf");
	mx_json_cstr(&j, "result", mx_spf_result_str(v->spf.result));
	mx_json_cstr(&j, "domain", v->spf.domain);
	mx_json_cstr(&j, "explanation", v->spf.explanation);
	mx_json_obj_close(&j);
	mx_json_obj_open(&j, "helo");
	mx_json_cstr(&j, "result", mx_spf_result_str(v->helo.result));
	mx_json_cstr(&j, "domain", v->helo.domain);
	mx_json_obj_close(&j);
	verify_json_msg(v, &j);
	mx_json_cstr(&j, "authentication_results", v->ar);
	mx_json_obj_close(&j);
}

static int
verify_run(struct verify_ctx *v)
{
	struct mx_spf_query q[2] = {
		{ MX_SPF_MAILFROM, v->o.client_ip, v->o.helo, v->o.mail_from },
		{ MX_SPF_HELO, v->o.client_ip, v->o.helo, v->o.mail_from },
	};
	struct mx_spf_outcome out[2];
	struct mx_dns *dns = NULL;
	struct mx_spf *spf = NULL;
	char *json = NULL;
	int rc = 1;

	if (mx_dns_create(&v->o.dns, &dns, stderr) != 0)
		goto out;
	if (mx_spf_create(dns, v->hostname, &spf) != 0)
		goto out;
	if (v->o.message_file != NULL && verify_read_message(v) != 0)
		goto out;
	/* Both identities in one batch: their lookups share rounds. */
	mx_spf_check_batch(spf, q, out, 2);
	v->spf = out[0];
	v->helo = out[1];
	verify_compose_ar(v);
	if (v->msg != NULL && verify_message(v, dns) == 0)
		verify_compose_ar_msg(v);
	if (v->o.json) {
		json = malloc(VERIFY_JSON_MAX);
		if (json == NULL)
			goto out;
		verify_json(v, json, VERIFY_JSON_MAX);
		printf("%s\n", json);
	} else {
		printf("Authentication-Results: %s\n", v->ar);
	}
	rc = 0;
out:
	free(json);
	free(v->msg);
	mx_spf_free(spf);
	mx_dns_free(dns);
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
