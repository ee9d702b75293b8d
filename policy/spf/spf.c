/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spf.c: SPF checks (mx_spf.h): libspf2 evaluates, our libspf2 DNS layer
 * answers from the mx_dns cache, and a driver re-runs an evaluation that
 * met a missing answer once its round of lookups is done.
 *
 * The layer's contract with libspf2 (spf_dns.h): lookup() returns a new
 * SPF_dns_rr_t that libspf2 frees; herrno NETDB_SUCCESS with the RRs,
 * HOST_NOT_FOUND (NXDOMAIN), NO_DATA, or TRY_AGAIN (temperror, and for us
 * also "not in the cache yet").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <netinet/in.h>

#include <spf2/spf.h>
#include <spf2/spf_dns.h>

#include "mx_base.h"
#include "mx_dns.h"
#include "mx_log.h"
#include "mx_spf.h"

/* RFC 7208 4.6.4: at most two void lookups. */
#define SPF_MAX_VOID 2
/* RFC 7208 4.6.4: an "mx" mechanism looks up at most 10 names. */
#define SPF_MAX_MX_NAMES 10
/* Each round resolves at least one new name, and one evaluation can
 * need at most 10 mechanisms x (1 + 10 MX or PTR names) plus the
 * records themselves and an explanation, so this is never the limit of
 * a conforming record. */
#define SPF_MAX_ROUNDS 140

/* State of the evaluation that is running: the layer records into it. */
struct spf_eval {
	unsigned n_missing;
	unsigned n_void;
	bool void_exceeded;
	bool mx_exceeded;     /* an MX set over SPF_MAX_MX_NAMES */
	bool bad_record;      /* an SPF record failed mx_spf_record_ok */
	bool txt_temp;        /* a TXT lookup timed out or failed */
};

struct mx_spf {
	struct mx_dns *dns;
	SPF_server_t *server;
	SPF_dns_server_t layer;
	struct spf_eval *cur;
};

const char *
mx_spf_result_str(enum mx_spf_result r)
{
	switch (r) {
	case MX_SPF_NONE: return "none";
	case MX_SPF_NEUTRAL: return "neutral";
	case MX_SPF_PASS: return "pass";
	case MX_SPF_FAIL: return "fail";
	case MX_SPF_SOFTFAIL: return "softfail";
	case MX_SPF_TEMPERROR: return "temperror";
	case MX_SPF_PERMERROR: return "permerror";
	}
	return "permerror";
}

static SPF_dns_rr_t *
layer_rr(SPF_dns_server_t *l, const char *domain, ns_type type, int herrno)
{
	return SPF_dns_rr_new_init(l, domain, type, 0, herrno);
}

/* Copies a cached answer into a new libspf2 RR set. */
static SPF_dns_rr_t *
layer_copy(SPF_dns_server_t *l, const char *domain, ns_type type,
		const struct mx_dns_answer *a)
{
	SPF_dns_rr_t *rr = SPF_dns_rr_new_init(l, domain, type, a->ttl, NETDB_SUCCESS);
	int n = 0;

	if (rr == NULL)
		return NULL;
	for (unsigned i = 0; i < a->n_rr; i++) {
		const struct mx_dns_rr *x = &a->rr[i];
		size_t need = type == ns_t_a ? sizeof(struct in_addr) :
				type == ns_t_aaaa ? sizeof(struct in6_addr) : x->len + 1u;

		if (SPF_dns_rr_buf_realloc(rr, n, need) != SPF_E_SUCCESS) {
			SPF_dns_rr_free(rr);
			return NULL;
		}
		if (type == ns_t_a || type == ns_t_aaaa)
			memcpy(&rr->rr[n]->a, x->data, need);
		else
			memcpy(rr->rr[n]->txt, x->data, x->len + 1u);
		n++;
	}
	rr->num_rr = n;
	return rr;
}

/* RFC 7208 4.6: the record libspf2 is about to evaluate is checked as a
 * whole first. Only a TXT set with exactly one SPF record is checked:
 * with none there is no record, with several it is a permerror that
 * libspf2 already gives (4.5).
 * XXX: an exp= target is fetched as TXT too; an explanation that itself
 * starts with "v=spf1 " is checked as a record. */
static void
layer_check_txt(struct spf_eval *ev, const struct mx_dns_answer *a)
{
	const struct mx_dns_rr *rec = NULL;
	unsigned n = 0;

	for (unsigned i = 0; i < a->n_rr; i++) {
		if (mx_spf_is_record((const char *)a->rr[i].data, a->rr[i].len)) {
			rec = &a->rr[i];
			n++;
		}
	}
	if (n == 1 && !mx_spf_record_ok((const char *)rec->data, rec->len))
		ev->bad_record = true;
}

/* What a cached answer tells the evaluation beyond its RRs. */
static void
layer_note(struct spf_eval *ev, ns_type type, const struct mx_dns_answer *a)
{
	if (a->status == MX_DNS_OK && type == ns_t_txt)
		layer_check_txt(ev, a);
	if (a->status == MX_DNS_OK && type == ns_t_mx && a->n_rr > SPF_MAX_MX_NAMES)
		ev->mx_exceeded = true;
	/* RFC 7208 4.4: a record lookup that times out or fails is a
	 * temperror (libspf2 reports a permerror). */
	if ((a->status == MX_DNS_TIMEOUT || a->status == MX_DNS_SERVFAIL) &&
			type == ns_t_txt)
		ev->txt_temp = true;
}

static SPF_dns_rr_t *
layer_lookup(SPF_dns_server_t *l, const char *domain, ns_type type, int should_cache)
{
	struct mx_spf *s = l->hook;
	struct spf_eval *ev = s->cur;
	const struct mx_dns_answer *a;

	(void)should_cache;
	/* RFC 7208 4.3: a name that cannot be put on the wire does not
	 * exist, and is never queried. */
	if (!mx_dns_name_ok(domain))
		return layer_rr(l, domain, type, HOST_NOT_FOUND);
	a = mx_dns_get(s->dns, domain, (uint16_t)type);
	if (a == NULL || a->status == MX_DNS_PENDING) {
		if (a == NULL && mx_dns_submit(s->dns, domain, (uint16_t)type) != 0)
			return layer_rr(l, domain, type, TRY_AGAIN);
		ev->n_missing++;
		return layer_rr(l, domain, type, TRY_AGAIN);
	}
	layer_note(ev, type, a);
	switch (a->status) {
	case MX_DNS_OK:
		return layer_copy(l, domain, type, a);
	case MX_DNS_NODATA:
	case MX_DNS_NXDOMAIN:
		/* RFC 7208 4.6.4: a lookup that gives no answer counts as
		 * void; past two, the check is a permerror. */
		if (++ev->n_void > SPF_MAX_VOID)
			ev->void_exceeded = true;
		return layer_rr(l, domain, type,
				a->status == MX_DNS_NODATA ? NO_DATA : HOST_NOT_FOUND);
	default:
		return layer_rr(l, domain, type, TRY_AGAIN);
	}
}

static void
spf_quiet(const char *file, int line, const char *msg)
{
	(void)file;
	(void)line;
	MX_LOG(MX_LOG_DEBUG, "spf", "libspf2: %s", msg);
}

int
mx_spf_create(struct mx_dns *dns, const char *receiver, struct mx_spf **out)
{
	struct mx_spf *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL)
		return -ENOMEM;
	/* libspf2 prints warnings to stderr by default; ours go to the
	 * debug log (a peer writes the records they are about). */
	SPF_warning_handler = spf_quiet;
	SPF_info_handler = spf_quiet;
	s->dns = dns;
	s->layer.lookup = layer_lookup;
	s->layer.name = "mxedge";
	s->layer.hook = s;
	s->server = SPF_server_new_dns(&s->layer, 0);
	if (s->server == NULL) {
		free(s);
		return -ENOMEM;
	}
	if (receiver != NULL && receiver[0] != '\0')
		SPF_server_set_rec_dom(s->server, receiver);
	*out = s;
	return 0;
}

void
mx_spf_free(struct mx_spf *s)
{
	if (s == NULL)
		return;
	/* Our layer has no destroy function: libspf2 leaves it to us, and
	 * it is part of s. */
	SPF_server_free(s->server);
	free(s);
}

static enum mx_spf_result
spf_map(SPF_result_t r)
{
	switch (r) {
	case SPF_RESULT_NEUTRAL: return MX_SPF_NEUTRAL;
	case SPF_RESULT_PASS: return MX_SPF_PASS;
	case SPF_RESULT_FAIL: return MX_SPF_FAIL;
	case SPF_RESULT_SOFTFAIL: return MX_SPF_SOFTFAIL;
	case SPF_RESULT_NONE: return MX_SPF_NONE;
	case SPF_RESULT_TEMPERROR: return MX_SPF_TEMPERROR;
	default: return MX_SPF_PERMERROR;
	}
}

/* The identity's sender and domain (RFC 7208 2.3, 2.4, 4.3): HELO and
 * the null reverse-path check postmaster@helo; a sender without a local
 * part has local part "postmaster" (libspf2 applies that). */
static void
spf_identity(const struct mx_spf_query *q, char *sender, size_t size,
		struct mx_spf_outcome *out)
{
	const char *at;

	if (q->identity == MX_SPF_HELO || q->mail_from == NULL || q->mail_from[0] == '\0')
		snprintf(sender, size, "postmaster@%s", q->helo != NULL ? q->helo : "");
	else
		snprintf(sender, size, "%s", q->mail_from);
	at = strrchr(sender, '@');
	at = at != NULL ? at + 1 : sender;
	/* Longer than any domain: it fails spf_domain_ok as it should. */
	if (strlen(at) >= sizeof(out->domain))
		at = "..";
	memcpy(out->domain, at, strlen(at) + 1);
}

/* RFC 7208 4.3: a malformed domain, or one that is not multi-label,
 * gives "none" before any lookup. */
static bool
spf_domain_ok(const char *domain)
{
	size_t len = strlen(domain);

	if (len > 0 && domain[len - 1] == '.')
		len--;
	return mx_dns_name_ok(domain) && memchr(domain, '.', len) != NULL;
}

static int
spf_request(struct mx_spf *s, const struct mx_spf_query *q, const char *sender,
		SPF_request_t *req)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (inet_pton(AF_INET, q->client_ip, &a4) == 1) {
		if (SPF_request_set_ipv4(req, a4) != SPF_E_SUCCESS)
			return -EINVAL;
	} else if (inet_pton(AF_INET6, q->client_ip, &a6) == 1) {
		if (SPF_request_set_ipv6(req, a6) != SPF_E_SUCCESS)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	if (q->helo != NULL && q->helo[0] != '\0')
		SPF_request_set_helo_dom(req, q->helo);
	if (SPF_request_set_env_from(req, sender) != 0)
		return -EINVAL;
	return 0;
}

static void
spf_explain(SPF_response_t *resp, struct mx_spf_outcome *out)
{
	const char *e = SPF_response_get_explanation(resp);

	if (e != NULL && out->result == MX_SPF_FAIL)
		snprintf(out->explanation, sizeof(out->explanation), "%s", e);
}

int
mx_spf_eval(struct mx_spf *s, const struct mx_spf_query *q, struct mx_spf_outcome *out)
{
	struct spf_eval ev = { .n_missing = 0 };
	char sender[2 * MX_SPF_DOMAIN_MAX];
	SPF_response_t *resp = NULL;
	SPF_request_t *req;

	out->result = MX_SPF_NONE;
	out->explanation[0] = '\0';
	spf_identity(q, sender, sizeof(sender), out);
	if (!spf_domain_ok(out->domain))
		return 0;
	req = SPF_request_new(s->server);
	if (req == NULL) {
		out->result = MX_SPF_TEMPERROR;
		return 0;
	}
	if (spf_request(s, q, sender, req) != 0) {
		/* Unusable client address or sender: no identity to check. */
		out->result = MX_SPF_PERMERROR;
		SPF_request_free(req);
		return 0;
	}
	s->cur = &ev;
	SPF_request_query_mailfrom(req, &resp);
	s->cur = NULL;
	out->n_rounds++;
	if (ev.n_missing > 0) {
		if (resp != NULL)
			SPF_response_free(resp);
		SPF_request_free(req);
		return -EAGAIN;
	}
	out->result = resp != NULL ? spf_map(SPF_response_result(resp)) : MX_SPF_TEMPERROR;
	if (out->result == MX_SPF_PERMERROR && ev.txt_temp)
		out->result = MX_SPF_TEMPERROR;
	/* RFC 7208 4.6, 4.6.4: a malformed record or an MX set over the
	 * limit is a permerror whatever libspf2 made of it. */
	if (ev.void_exceeded || ev.mx_exceeded || ev.bad_record)
		out->result = MX_SPF_PERMERROR;
	if (resp != NULL)
		spf_explain(resp, out);
	if (resp != NULL)
		SPF_response_free(resp);
	SPF_request_free(req);
	return 0;
}

void
mx_spf_check_batch(struct mx_spf *s, const struct mx_spf_query *q,
		struct mx_spf_outcome *out, size_t n)
{
	bool *done = calloc(n, sizeof(*done));
	size_t n_left = n;

	for (size_t i = 0; i < n; i++) {
		out[i].n_rounds = 0;
		out[i].result = MX_SPF_TEMPERROR;
	}
	if (done == NULL)
		return;
	for (unsigned round = 0; n_left > 0 && round < SPF_MAX_ROUNDS; round++) {
		for (size_t i = 0; i < n; i++) {
			if (done[i])
				continue;
			if (mx_spf_eval(s, &q[i], &out[i]) == 0) {
				done[i] = true;
				n_left--;
			}
		}
		if (n_left > 0)
			mx_dns_wait(s->dns);
	}
	for (size_t i = 0; i < n; i++) {
		if (!done[i])
			out[i].result = MX_SPF_TEMPERROR;
	}
	free(done);
}
