/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * auth.c: the batch evaluator of mx_auth.h. Each job keeps a bit per check
 * still to finish (SPF for MAIL FROM, SPF for HELO, DKIM, DMARC); a run
 * tries every unfinished check from the DNS cache, and a check that meets
 * a missing name has submitted it and answers -EAGAIN. All the jobs of a
 * step run before the step returns, so every name they lack goes out in
 * one asynchronous round; they run again when answers have arrived.
 *
 * The TXT callback of DKIM and DMARC and the SPF DNS layer read the same
 * mx_dns cache, which honours TTLs and the per-query deadline, after which
 * an answer is MX_DNS_TIMEOUT: a temperror of the check that asked.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mx_authres.h"
#include "mx_auth.h"

enum {
	CHK_SPF_MF = 1u << 0,
	CHK_SPF_HELO = 1u << 1,
	CHK_DKIM = 1u << 2,
	CHK_DMARC = 1u << 3,
	CHK_PRA = 1u << 4,
};

struct mx_auth {
	struct mx_dns *dns;
	struct mx_spf *spf;
	struct mx_dkim *dkim;
	struct mx_dmarc *dmarc;
	char receiver[MX_AUTH_ID_MAX];
	char authserv_id[MX_AUTH_ID_MAX];
	uint32_t job_timeout_ms;
	bool senderid;
	struct mx_auth_job *head, *tail;
	unsigned n_jobs;
	uint64_t answered;        /* DNS answers seen at the last step */
	struct mx_auth_stats stats;
};

/* SPF result words (RFC 7208 2.6) as RFC 8601 results, same spelling. */
static enum mx_auth_result
auth_spf_word(enum mx_spf_result r)
{
	switch (r) {
	case MX_SPF_PASS: return MX_AUTH_PASS;
	case MX_SPF_FAIL: return MX_AUTH_FAIL;
	case MX_SPF_SOFTFAIL: return MX_AUTH_SOFTFAIL;
	case MX_SPF_NEUTRAL: return MX_AUTH_NEUTRAL;
	case MX_SPF_TEMPERROR: return MX_AUTH_TEMPERROR;
	case MX_SPF_PERMERROR: return MX_AUTH_PERMERROR;
	default: return MX_AUTH_NONE;
	}
}

/* TXT answers from the DNS cache for the DKIM and DMARC callbacks: a name
 * not asked yet is submitted and answers -EAGAIN, so the check runs again
 * once the answer is in. */
int
mx_auth_dns_txt(void *ctx, const char *qname, struct mx_str *recs, unsigned max)
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

static void
auth_copy(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

int
mx_auth_create(const struct mx_auth_conf *conf, struct mx_auth **out, FILE *err)
{
	struct mx_dkim_conf dc = { 0 };
	struct mx_dmarc_conf mc = { 0 };
	struct mx_auth *a = calloc(1, sizeof(*a));
	int rc;

	if (a == NULL)
		return -ENOMEM;
	auth_copy(a->receiver, sizeof(a->receiver),
			conf->receiver != NULL ? conf->receiver : "localhost");
	auth_copy(a->authserv_id, sizeof(a->authserv_id),
			conf->authserv_id != NULL && conf->authserv_id[0] != '\0' ?
			conf->authserv_id : a->receiver);
	a->senderid = conf->senderid;
	a->job_timeout_ms = conf->job_timeout_ms != 0 ? conf->job_timeout_ms :
		4 * (conf->dns.timeout_ms != 0 ? conf->dns.timeout_ms : 2000);
	rc = mx_dns_create(&conf->dns, &a->dns, err);
	if (rc == 0)
		rc = mx_spf_create(a->dns, a->receiver, &a->spf);
	if (rc == 0) {
		dc.txt = mx_auth_dns_txt;
		dc.txt_ctx = a->dns;
		dc.min_key_bits = conf->dkim_min_key_bits;
		dc.allow_rsa_sha1 = conf->dkim_rsa_sha1;
		dc.fixed_time = conf->dkim_fixed_time;
		rc = mx_dkim_create(&dc, &a->dkim);
	}
	if (rc == 0) {
		mc.txt = mx_auth_dns_txt;
		mc.txt_ctx = a->dns;
		rc = mx_dmarc_create(&mc, &a->dmarc);
		if (rc == -ENOENT && err != NULL)
			fprintf(err, "mxedge: no public suffix list for DMARC\n");
	}
	if (rc != 0) {
		mx_auth_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

void
mx_auth_free(struct mx_auth *a)
{
	if (a == NULL)
		return;
	mx_dmarc_free(a->dmarc);
	mx_dkim_free(a->dkim);
	mx_spf_free(a->spf);
	mx_dns_free(a->dns);
	free(a);
}

void
mx_auth_submit(struct mx_auth *a, struct mx_auth_job *job)
{
	job->next = NULL;
	job->fresh = true;
	job->deadline_ms = mx_clock_ms() + a->job_timeout_ms;
	switch (job->kind) {
	case MX_AUTH_JOB_SPF:
		job->pending = CHK_SPF_MF | CHK_SPF_HELO;
		break;
	case MX_AUTH_JOB_MESSAGE:
		job->pending = CHK_DKIM | CHK_DMARC | (a->senderid ? CHK_PRA : 0);
		if (!job->spf_done)
			job->pending |= CHK_SPF_MF | CHK_SPF_HELO;
		break;
	default:
		job->pending = 0;
		break;
	}
	if (a->tail == NULL)
		a->head = job;
	else
		a->tail->next = job;
	a->tail = job;
	a->n_jobs++;
}

/* ---- one run of one job ---- */

static void
auth_run_spf(struct mx_auth *a, struct mx_auth_job *job, unsigned bit)
{
	struct mx_spf_query q = {
		.identity = bit == CHK_SPF_MF ? MX_SPF_MAILFROM :
			bit == CHK_SPF_HELO ? MX_SPF_HELO : MX_SPF_PRA,
		.client_ip = job->client_ip,
		.helo = job->helo,
		.mail_from = bit == CHK_PRA ? job->res.pra : job->mail_from,
	};
	struct mx_spf_outcome *o = bit == CHK_SPF_MF ? &job->res.spf :
		bit == CHK_SPF_HELO ? &job->res.helo : &job->res.senderid;

	if (mx_spf_eval(a->spf, &q, o) != -EAGAIN)
		job->pending &= ~bit;
}

static enum mx_auth_result
auth_dkim_best(const struct mx_dkim_res *r)
{
	/* The most favourable signature speaks for the message (RFC 6376
	 * 6.1: one valid signature is enough); the order ranks the words. */
	static const enum mx_auth_result rank[] = {
		MX_AUTH_PASS, MX_AUTH_FAIL, MX_AUTH_POLICY, MX_AUTH_TEMPERROR,
		MX_AUTH_PERMERROR, MX_AUTH_NEUTRAL,
	};
	unsigned i, k;

	for (k = 0; k < MX_ARRAY_SIZE(rank); k++)
		for (i = 0; i < r->n_sigs; i++)
			if (r->sigs[i].result == rank[k])
				return rank[k];
	return MX_AUTH_NONE;
}

static void
auth_run_dkim(struct mx_auth *a, struct mx_auth_job *job)
{
	int rc = mx_dkim_verify(a->dkim, job->msg, &job->res.dkim);

	if (rc == -EAGAIN)
		return;
	if (rc != 0) {
		/* Out of memory in libopendkim: nothing verified, which is a
		 * temporary condition of ours (RFC 8601 2.7.1 temperror). */
		memset(&job->res.dkim, 0, sizeof(job->res.dkim));
		job->res.dkim_best = MX_AUTH_TEMPERROR;
	} else {
		job->res.dkim_best = auth_dkim_best(&job->res.dkim);
	}
	job->pending &= ~CHK_DKIM;
}

static void
auth_run_dmarc(struct mx_auth *a, struct mx_auth_job *job)
{
	struct mx_dmarc_dkim dk[MX_DKIM_MAX_SIGS];
	struct mx_dmarc_in in = { .spf = MX_AUTH_NONE };
	struct mx_auth_res *r = &job->res;
	char from[MX_DMARC_DOMAIN_MAX];
	const char *at;
	unsigned i;
	int rc;

	for (i = 0; i < r->dkim.n_sigs; i++)
		dk[i] = (struct mx_dmarc_dkim){ { strlen(r->dkim.sigs[i].domain),
			r->dkim.sigs[i].domain }, r->dkim.sigs[i].result };
	in.dkim = dk;
	in.n_dkim = r->dkim.n_sigs;
	in.from_domain = mx_dmarc_from_domain(job->msg, from) == 0 ? from : NULL;
	in.spf = auth_spf_word(r->spf.result);
	at = strrchr(job->mail_from, '@');
	in.spf_domain = at != NULL ? (struct mx_str){ strlen(at + 1), at + 1 } :
		(struct mx_str){ strlen(job->helo), job->helo };
	/* pct= sampling (RFC 7489 6.6.4): a fixed hash of the queue id, so
	 * the verdict of one message never depends on the run. */
	in.sample = mx_siphash((const uint8_t *)"mxedge-verify-pc", job->msg->id,
			strlen(job->msg->id));
	rc = mx_dmarc_eval(a->dmarc, &in, &r->dmarc);
	if (rc == -EAGAIN)
		return;
	if (rc != 0) {
		memset(&r->dmarc, 0, sizeof(r->dmarc));
		r->dmarc.result = MX_AUTH_TEMPERROR;
	}
	job->pending &= ~CHK_DMARC;
}

/* RFC 4407 2: the PRA from the header section, which mx_spf_pra() reads
 * as one block: the first chunk holds it in the usual case; otherwise it
 * is gathered once here, on the verifier's thread. */
static void
auth_pra(struct mx_auth_job *job)
{
	const struct mx_msg *m = job->msg;
	size_t len = m->body_offset, off = 0, k;
	const uint8_t *p;
	char *buf;

	job->res.pra[0] = '\0';
	job->res.has_senderid = true;
	k = mx_msg_view(m, 0, &p);
	if (k >= len) {
		if (mx_spf_pra((const char *)p, len, job->res.pra, sizeof(job->res.pra)) != 0)
			job->res.pra[0] = '\0';
		return;
	}
	buf = malloc(len);
	if (buf == NULL)
		return;
	while (off < len && (k = mx_msg_view(m, off, &p)) > 0) {
		k = MX_MIN(k, len - off);
		memcpy(buf + off, p, k);
		off += k;
	}
	if (mx_spf_pra(buf, off, job->res.pra, sizeof(job->res.pra)) != 0)
		job->res.pra[0] = '\0';
	free(buf);
}

/* DMARC and DKIM names go out in the job's first round, beside SPF's,
 * so a message costs one round more than its slowest check at most. */
static void
auth_first_names(struct mx_auth *a, struct mx_auth_job *job)
{
	char keys[MX_DKIM_MAX_SIGS][MX_DKIM_QNAME_MAX];
	char dm[2][MX_DMARC_DOMAIN_MAX + 8];
	char from[MX_DMARC_DOMAIN_MAX];
	unsigned i, n;

	n = mx_dkim_key_names(job->msg, keys, MX_DKIM_MAX_SIGS);
	for (i = 0; i < n; i++)
		(void)mx_dns_submit(a->dns, keys[i], MX_DNS_TXT);
	if (mx_dmarc_from_domain(job->msg, from) != 0)
		return;
	n = mx_dmarc_query_names(a->dmarc, from, dm);
	for (i = 0; i < n; i++)
		(void)mx_dns_submit(a->dns, dm[i], MX_DNS_TXT);
}

static void
auth_prefetch(struct mx_auth *a, struct mx_auth_job *job)
{
	char dm[2][MX_DMARC_DOMAIN_MAX + 8];
	unsigned i, n;

	for (i = 0; i < job->n_names && i < MX_AUTH_PF_MAX; i++) {
		job->names[i][MX_AUTH_PF_NAME_MAX - 1] = '\0';
		(void)mx_dns_submit(a->dns, job->names[i], MX_DNS_TXT);
	}
	job->from_domain[MX_DMARC_DOMAIN_MAX - 1] = '\0';
	if (job->from_domain[0] == '\0')
		return;
	n = mx_dmarc_query_names(a->dmarc, job->from_domain, dm);
	for (i = 0; i < n; i++)
		(void)mx_dns_submit(a->dns, dm[i], MX_DNS_TXT);
}

/* Past the job deadline: what is unfinished is a temperror (RFC 7208
 * 2.6.6, RFC 8601 2.7.1), so no job outlives its deadline. */
static void
auth_cut(struct mx_auth *a, struct mx_auth_job *job)
{
	struct mx_auth_res *r = &job->res;

	a->stats.timeouts++;
	r->timed_out = true;
	if (job->pending & CHK_SPF_MF)
		r->spf.result = MX_SPF_TEMPERROR;
	if (job->pending & CHK_SPF_HELO)
		r->helo.result = MX_SPF_TEMPERROR;
	if (job->pending & CHK_DKIM) {
		memset(&r->dkim, 0, sizeof(r->dkim));
		r->dkim_best = MX_AUTH_TEMPERROR;
	}
	if (job->pending & CHK_DMARC) {
		memset(&r->dmarc, 0, sizeof(r->dmarc));
		r->dmarc.result = MX_AUTH_TEMPERROR;
	}
	if (job->pending & CHK_PRA)
		r->senderid.result = MX_SPF_TEMPERROR;
	job->pending = 0;
}

static void auth_finish(struct mx_auth *a, struct mx_auth_job *job);

/* Runs what can progress; true when the job is complete. */
static bool
auth_run(struct mx_auth *a, struct mx_auth_job *job, uint64_t now)
{
	a->stats.runs++;
	if (job->kind == MX_AUTH_JOB_PREFETCH) {
		auth_prefetch(a, job);
		a->stats.prefetches++;
		return true;
	}
	if (job->fresh && job->kind == MX_AUTH_JOB_MESSAGE) {
		auth_first_names(a, job);
		if (job->pending & CHK_PRA)
			auth_pra(job);
	}
	job->fresh = false;
	if (job->pending & CHK_SPF_MF)
		auth_run_spf(a, job, CHK_SPF_MF);
	if (job->pending & CHK_SPF_HELO)
		auth_run_spf(a, job, CHK_SPF_HELO);
	if (job->pending & CHK_PRA)
		auth_run_spf(a, job, CHK_PRA);
	if (job->pending & CHK_DKIM)
		auth_run_dkim(a, job);
	/* DMARC needs the final SPF and DKIM results (RFC 7489 4.2). */
	if ((job->pending & CHK_DMARC) && !(job->pending & (CHK_SPF_MF | CHK_DKIM)))
		auth_run_dmarc(a, job);
	if (job->pending != 0 && now >= job->deadline_ms)
		auth_cut(a, job);
	if (job->pending != 0)
		return false;
	auth_finish(a, job);
	return true;
}

/* ---- results ---- */

/* Without a message: RFC 8601 2.2 authserv-id, then the two SPF
 * identities; the property values are the identities as given (2.7.4). */
static void
auth_ar_spf_only(const struct mx_auth *a, struct mx_auth_job *job)
{
	struct mx_auth_res *r = &job->res;
	size_t n;

	n = (size_t)snprintf(r->ar, sizeof(r->ar), "%s; spf=%s smtp.mailfrom=%s",
			a->authserv_id, mx_spf_result_str(r->spf.result),
			job->mail_from[0] != '\0' ? job->mail_from : r->spf.domain);
	if (n < sizeof(r->ar))
		snprintf(r->ar + n, sizeof(r->ar) - n, "; spf=%s smtp.helo=%s",
				mx_spf_result_str(r->helo.result), job->helo);
}

/* The folded field gets "senderid=" as its last resinfo, on a line of
 * its own like the others (mx_authres folds one per line). */
static void
auth_field_senderid(struct mx_auth_res *r)
{
	size_t n = r->ar_field_len - 2; /* without the final CRLF */
	int k = snprintf(r->ar_field + n, sizeof(r->ar_field) - n, ";\r\n\tsenderid=%s\r\n",
			mx_auth_result_name(r->senderid_word));

	if (k > 0 && (size_t)k < sizeof(r->ar_field) - n)
		r->ar_field_len = n + (size_t)k;
	else
		memcpy(r->ar_field + n, "\r\n", 3);
}

static void
auth_ar_msg(const struct mx_auth *a, struct mx_auth_job *job)
{
	struct mx_authres_dkim dk[MX_DKIM_MAX_SIGS];
	struct mx_auth_res *r = &job->res;
	const char *mf = job->mail_from[0] != '\0' ? job->mail_from : r->spf.domain;
	struct mx_authres ar = {
		.authserv_id = { strlen(a->authserv_id), a->authserv_id },
		.has_spf = true,
		.spf = r->spf_word,
		.mailfrom = { strlen(mf), mf },
		.has_helo = true,
		.helo = r->helo_word,
		.helo_name = { strlen(job->helo), job->helo },
		.has_dkim = true,
		.dkim = dk,
		.n_dkim = r->dkim.n_sigs,
		.has_dmarc = true,
		.dmarc = r->dmarc.result,
		.from_domain = { strlen(r->dmarc.from_domain), r->dmarc.from_domain },
	};
	size_t len;
	unsigned i;

	for (i = 0; i < r->dkim.n_sigs; i++)
		dk[i] = (struct mx_authres_dkim){
			{ strlen(r->dkim.sigs[i].domain), r->dkim.sigs[i].domain },
			{ strlen(r->dkim.sigs[i].selector), r->dkim.sigs[i].selector },
			r->dkim.sigs[i].result };
	(void)mx_authres_format(&ar, false, r->ar, sizeof(r->ar), &len);
	if (r->has_senderid)
		(void)mx_authres_append_result(r->ar, sizeof(r->ar), &len, "senderid",
				r->senderid_word);
	if (mx_authres_format(&ar, true, r->ar_field, sizeof(r->ar_field), &len) == 0)
		r->ar_field_len = len;
	else
		r->ar_field_len = 0;
	if (r->has_senderid && r->ar_field_len > 2)
		auth_field_senderid(r);
}

static void
auth_count(struct mx_auth *a, const struct mx_auth_job *job)
{
	const struct mx_auth_res *r = &job->res;
	unsigned i;

	a->stats.jobs++;
	if (job->kind == MX_AUTH_JOB_SPF || !job->spf_done)
		a->stats.spf[r->spf_word]++;
	if (!r->checked_msg)
		return;
	if (r->dkim.n_sigs == 0)
		a->stats.dkim[r->dkim_best]++;
	for (i = 0; i < r->dkim.n_sigs; i++)
		a->stats.dkim[r->dkim.sigs[i].result <= MX_AUTH_PERMERROR ?
			r->dkim.sigs[i].result : MX_AUTH_PERMERROR]++;
	a->stats.dmarc[r->dmarc.result <= MX_AUTH_PERMERROR ?
		r->dmarc.result : MX_AUTH_PERMERROR]++;
}

static void
auth_finish(struct mx_auth *a, struct mx_auth_job *job)
{
	struct mx_auth_res *r = &job->res;

	r->spf_word = auth_spf_word(r->spf.result);
	r->helo_word = auth_spf_word(r->helo.result);
	r->senderid_word = auth_spf_word(r->senderid.result);
	r->checked_msg = job->kind == MX_AUTH_JOB_MESSAGE;
	if (r->checked_msg)
		auth_ar_msg(a, job);
	else
		auth_ar_spf_only(a, job);
	auth_count(a, job);
}

/* ---- the batch ---- */

static uint64_t
auth_answered(const struct mx_auth *a)
{
	const struct mx_dns_stats *s = mx_dns_stats(a->dns);

	return s->answers_ok + s->nxdomain + s->nodata + s->servfail + s->timeouts;
}

unsigned
mx_auth_step(struct mx_auth *a, struct mx_auth_job **done, unsigned max)
{
	struct mx_auth_job *job, *prev = NULL, *next;
	uint64_t now, answered;
	bool rerun;
	unsigned n = 0;

	(void)mx_dns_process(a->dns);
	answered = auth_answered(a);
	rerun = answered != a->answered;
	a->answered = answered;
	now = mx_clock_ms();
	for (job = a->head; job != NULL && n < max; job = next) {
		next = job->next;
		if (!job->fresh && !rerun && now < job->deadline_ms) {
			prev = job;
			continue;
		}
		if (!auth_run(a, job, now)) {
			prev = job;
			continue;
		}
		if (prev == NULL)
			a->head = next;
		else
			prev->next = next;
		if (a->tail == job)
			a->tail = prev;
		a->n_jobs--;
		job->next = NULL;
		done[n++] = job;
	}
	/* a->answered stays what it was before the runs: an answer that
	 * came in meanwhile makes the next step run the waiting jobs. */
	return n;
}

unsigned
mx_auth_n_jobs(const struct mx_auth *a)
{
	return a->n_jobs;
}

int
mx_auth_fd(const struct mx_auth *a)
{
	return mx_dns_fd(a->dns);
}

uint64_t
mx_auth_next_deadline_ms(const struct mx_auth *a)
{
	const struct mx_auth_job *job;
	uint64_t d = mx_dns_next_deadline_ms(a->dns);

	for (job = a->head; job != NULL; job = job->next) {
		if (job->fresh)
			return mx_clock_ms();
		if (d == 0 || job->deadline_ms < d)
			d = job->deadline_ms;
	}
	return d;
}

void
mx_auth_wait(struct mx_auth *a)
{
	uint64_t d = mx_auth_next_deadline_ms(a), now = mx_clock_ms();
	struct pollfd pfd = { .fd = mx_dns_fd(a->dns), .events = POLLIN };

	if (d == 0 || d <= now)
		return;
	(void)poll(&pfd, 1, (int)MX_MIN(d - now, (uint64_t)60000));
}

const struct mx_auth_stats *
mx_auth_stats(const struct mx_auth *a)
{
	return &a->stats;
}

const struct mx_dns_stats *
mx_auth_dns_stats(const struct mx_auth *a)
{
	return mx_dns_stats(a->dns);
}

const char *
mx_auth_authserv_id(const struct mx_auth *a)
{
	return a->authserv_id;
}

/* ---- prefetch names, worker side ---- */

static void
pf_add(struct mx_auth_job *job, const char *name)
{
	unsigned i;

	if (name[0] == '\0' || strlen(name) >= MX_AUTH_PF_NAME_MAX ||
			job->n_names >= MX_AUTH_PF_MAX)
		return;
	for (i = 0; i < job->n_names; i++)
		if (strcasecmp(job->names[i], name) == 0)
			return;
	memcpy(job->names[job->n_names++], name, strlen(name) + 1);
}

void
mx_auth_prefetch_spf(struct mx_auth_job *job, const char *helo, const char *mail_from)
{
	const char *at = strrchr(mail_from, '@');

	job->kind = MX_AUTH_JOB_PREFETCH;
	/* RFC 7208 2.4: the null reverse-path is checked as postmaster@HELO. */
	pf_add(job, at != NULL ? at + 1 : helo);
	pf_add(job, helo);
}

void
mx_auth_prefetch_msg(struct mx_auth_job *job, const struct mx_msg *m)
{
	char keys[MX_AUTH_PF_MAX][MX_DKIM_QNAME_MAX];
	unsigned i, n;

	job->kind = MX_AUTH_JOB_PREFETCH;
	n = mx_dkim_key_names(m, keys, MX_AUTH_PF_MAX);
	for (i = 0; i < n; i++)
		pf_add(job, keys[i]);
	if (mx_dmarc_from_domain(m, job->from_domain) != 0)
		job->from_domain[0] = '\0';
}
