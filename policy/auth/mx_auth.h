/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_auth: sender authentication (SPF, DKIM, DMARC, Authentication-Results)
 * of whole transactions, evaluated in batches without ever blocking. The
 * engine's verifier stage and the offline `mxedge verify` command run this
 * same code (DESIGN.md, "DNS and batching" and "Verdicts").
 *
 * Batch level (struct mx_auth, one per verifier thread): jobs are
 * submitted; mx_auth_step() is non-blocking: it collects DNS answers
 * (mx_dns_process), runs every new job and re-runs the jobs whose names
 * may have arrived (each run submits every name it still lacks, so all
 * the names a batch needs go out in one round), and returns the jobs that
 * completed. The caller sleeps on mx_auth_fd() until
 * mx_auth_next_deadline_ms(). A job never waits longer than its deadline
 * (DNS timeouts give temperror, RFC 7208 2.6.6; past the job deadline
 * every unfinished check is temperror).
 *
 * Stage level (struct mx_auth_stage, struct mx_auth_port): the engine's
 * verifier. With its own thread, each worker loop talks to it through a
 * port: two single-producer/single-consumer rings of job pointers (jobs
 * out, results back), an eventfd to wake the verifier, mx_loop_wakeup()
 * to wake the worker; no lock on either side (the protocol of
 * engine/io). Without a thread ("auth.verifier: worker"), each port owns
 * a struct mx_auth of its own and steps it from a poller of the worker's
 * loop, between bursts. Either way done() runs on the worker's thread and
 * the worker never waits on DNS.
 *
 * Jobs are borrowed between submit and done: the strings and the message
 * they point at must not change (the message is read by reference, DKIM
 * included, never copied).
 */
#ifndef MX_AUTH_H
#define MX_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mx_dkim.h"
#include "mx_dmarc.h"
#include "mx_dns.h"
#include "mx_msg.h"
#include "mx_spf.h"
#include "mx_verdict.h"

#define MX_AUTH_AR_MAX 2048      /* Authentication-Results value or field */
#define MX_AUTH_ID_MAX 256       /* authserv-id, receiver name */
#define MX_AUTH_PF_MAX 8         /* names in one prefetch */
#define MX_AUTH_PF_NAME_MAX MX_DKIM_QNAME_MAX

/* What a renamed Authentication-Results field that claimed our
 * authserv-id is called (RFC 8601 5): the prefix goes in front of the
 * field name, so the field becomes X-Mxedge-Forged-Authentication-Results. */
#define MX_AUTH_FORGED_PREFIX "X-Mxedge-Forged-"

struct mx_auth_conf {
	struct mx_dns_conf dns;
	const char *receiver;        /* our host name: SPF %{r}, default authserv-id */
	const char *authserv_id;     /* NULL: receiver */
	unsigned dkim_min_key_bits;  /* 0: 1024 (RFC 8301 3.2) */
	bool dkim_rsa_sha1;          /* RFC 8301 3.1: refused unless set */
	uint64_t dkim_fixed_time;    /* verify as of this Unix time; 0: now */
	uint32_t job_timeout_ms;     /* 0: four DNS timeouts */
	bool senderid;               /* Sender ID (RFC 4406) on MESSAGE jobs */
};

enum mx_auth_kind {
	MX_AUTH_JOB_SPF = 0,  /* the MAIL FROM and HELO identities only */
	MX_AUTH_JOB_MESSAGE,  /* SPF (unless spf_done), DKIM, DMARC, A-R */
	MX_AUTH_JOB_PREFETCH, /* submit names[] and from_domain's DMARC names */
};

struct mx_auth_res {
	struct mx_spf_outcome spf;   /* MAIL FROM identity (RFC 7208 2.4) */
	struct mx_spf_outcome helo;  /* HELO identity (RFC 7208 2.3) */
	bool checked_msg;            /* dkim and dmarc below are valid */
	struct mx_dkim_res dkim;
	struct mx_dmarc_out dmarc;
	enum mx_auth_result spf_word, helo_word; /* as RFC 8601 results */
	enum mx_auth_result dkim_best;  /* best signature result */
	bool timed_out;              /* the job deadline cut a check short */
	bool has_senderid;           /* Sender ID ran (auth conf senderid) */
	char pra[MX_SPF_DOMAIN_MAX + 64]; /* RFC 4407 PRA, "" for none */
	struct mx_spf_outcome senderid;   /* RFC 4406, the PRA identity */
	enum mx_auth_result senderid_word;
	char ar[MX_AUTH_AR_MAX];     /* the A-R value on one line */
	char ar_field[MX_AUTH_AR_MAX]; /* MESSAGE jobs: the folded field + CRLF */
	size_t ar_field_len;
};

struct mx_auth_job {
	enum mx_auth_kind kind;
	/* In. */
	const char *client_ip;       /* IPv4 or IPv6 text */
	const char *helo;
	const char *mail_from;       /* "" is the null reverse-path */
	const struct mx_msg *msg;    /* MESSAGE: header section complete */
	bool spf_done;               /* MESSAGE: res.spf/res.helo are set already */
	char names[MX_AUTH_PF_MAX][MX_AUTH_PF_NAME_MAX]; /* PREFETCH: TXT names */
	unsigned n_names;
	char from_domain[MX_DMARC_DOMAIN_MAX]; /* PREFETCH: "" for none */
	void *user;                  /* the caller's */
	/* Out. */
	struct mx_auth_res res;
	/* Private to mx_auth. */
	struct mx_auth_job *next;
	struct mx_auth_port *port;
	uint64_t deadline_ms;
	unsigned pending;            /* checks still to finish (bits) */
	bool fresh;
	bool detached;               /* the stage's caller no longer waits */
};

struct mx_auth_stats {
	uint64_t jobs;               /* completed, every kind */
	uint64_t prefetches;
	uint64_t runs;               /* evaluations (re-runs included) */
	uint64_t timeouts;           /* jobs cut by their deadline */
	uint64_t spf[MX_AUTH_PERMERROR + 1];   /* MAIL FROM results */
	uint64_t dkim[MX_AUTH_PERMERROR + 1];  /* one per signature; none: unsigned */
	uint64_t dmarc[MX_AUTH_PERMERROR + 1];
};

struct mx_auth;

/* Returns 0, -EINVAL (DNS set-up: reason printed to err when not NULL),
 * -ENOENT (no public suffix data) or -ENOMEM. */
int mx_auth_create(const struct mx_auth_conf *conf, struct mx_auth **out, FILE *err);
void mx_auth_free(struct mx_auth *a);

/* Queues job (borrowed until mx_auth_step returns it). Never blocks. */
void mx_auth_submit(struct mx_auth *a, struct mx_auth_job *job);
/* Non-blocking: processes DNS answers, runs what can progress, and
 * stores up to max completed jobs in done. Returns how many. */
unsigned mx_auth_step(struct mx_auth *a, struct mx_auth_job **done, unsigned max);
/* Jobs submitted and not returned yet. */
unsigned mx_auth_n_jobs(const struct mx_auth *a);
/* Readable when DNS answers are ready. */
int mx_auth_fd(const struct mx_auth *a);
/* Monotonic ms when mx_auth_step must run next at the latest (DNS or job
 * deadline); 0 when no job is waiting. */
uint64_t mx_auth_next_deadline_ms(const struct mx_auth *a);
/* Blocks until DNS answers arrive or the next deadline; for the
 * verifier's own thread and the offline command only. */
void mx_auth_wait(struct mx_auth *a);

const struct mx_auth_stats *mx_auth_stats(const struct mx_auth *a);
const struct mx_dns_stats *mx_auth_dns_stats(const struct mx_auth *a);
/* The authserv-id in use. */
const char *mx_auth_authserv_id(const struct mx_auth *a);

/* The TXT callback the DKIM and DMARC checks read DNS through (ctx: a
 * struct mx_dns): answers from the cache; a name not asked yet is
 * submitted and the call returns -EAGAIN, so the check runs again once
 * the answer is in. 0 records for NXDOMAIN/NODATA (or a name that cannot
 * exist), -EIO for other failures, else the number of records put in
 * recs (at most max). Exported so fuzz harnesses drive the real one. */
int mx_auth_dns_txt(void *ctx, const char *qname, struct mx_str *recs, unsigned max);

/* Worker side (pure, any thread): the names a prefetch should carry for a
 * message whose header section is complete: the DKIM key names and the
 * RFC 5322.From domain. Fills job->names, n_names, from_domain. */
void mx_auth_prefetch_msg(struct mx_auth_job *job, const struct mx_msg *m);
/* The same at MAIL FROM: the TXT names of the MAIL FROM domain (or the
 * HELO name for the null sender) and of the HELO name (RFC 7208 2.3, 2.4). */
void mx_auth_prefetch_spf(struct mx_auth_job *job, const char *helo, const char *mail_from);

/* ---- the engine's verifier stage ---- */

struct mx_auth_stage;
struct mx_auth_port;
struct mx_loop;

typedef void (*mx_auth_done_fn)(struct mx_auth_job *job);

struct mx_auth_port_stats {
	struct mx_auth_stats auth;
	struct mx_dns_stats dns;
};

/* own_thread: start the verifier thread (its struct mx_auth is created
 * here, so DNS set-up errors come back at once); else each port gets its
 * own struct mx_auth. Returns 0 or a negative errno (reason in err). */
int mx_auth_stage_create(const struct mx_auth_conf *conf, bool own_thread,
		struct mx_auth_stage **out, FILE *err);
/* Stops the thread and frees every port. Call after the worker loops
 * stopped running. */
void mx_auth_stage_free(struct mx_auth_stage *st);
/* One per worker loop, before the worker starts; registers a poller on
 * loop. depth bounds the jobs in flight (and sizes the port's job pool).
 * done runs on the loop's thread. Returns 0 or a negative errno. */
int mx_auth_port_create(struct mx_auth_stage *st, struct mx_loop *loop, unsigned depth,
		mx_auth_done_fn done, FILE *err, struct mx_auth_port **out);
/* Worker thread: a zeroed job from the port's pool, NULL when all are in
 * use; mx_auth_job_put() gives it back. */
struct mx_auth_job *mx_auth_job_get(struct mx_auth_port *p);
void mx_auth_job_put(struct mx_auth_port *p, struct mx_auth_job *job);
/* Worker thread: hands job to the verifier. Returns 0 or -EAGAIN (depth
 * jobs in flight; the job stays the caller's). PREFETCH jobs come back
 * to the pool by themselves, without done(). */
int mx_auth_port_submit(struct mx_auth_port *p, struct mx_auth_job *job);
/* Worker thread: jobs not back yet (0: the verifier no longer touches
 * the port's loop). */
unsigned mx_auth_port_in_flight(const struct mx_auth_port *p);
/* Worker thread: how long the loop may sleep (worker mode: a short poll
 * while DNS answers are awaited, since the loop does not watch the DNS
 * descriptor); dflt otherwise. */
int mx_auth_port_timeout_ms(const struct mx_auth_port *p, int dflt);
/* Any thread (metrics): the counters of the verifier(s), summed; racy
 * reads of monotonic counters, as metrics export allows. */
void mx_auth_stage_stats(const struct mx_auth_stage *st, struct mx_auth_port_stats *out);
/* An mx_metrics_export_fn (engine/metrics) with arg the stage: the
 * mxedge_auth_* families (jobs, SPF/DKIM/DMARC results by result, the
 * verifier's DNS counters) in the Prometheus text format. Any thread. */
size_t mx_auth_stage_metrics(void *arg, char *buf, size_t size);

#endif /* MX_AUTH_H */
