/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DMARC evaluation (RFC 7489 6.6): policy discovery through the TXT
 * callback, identifier alignment (3.1) against the organizational domain
 * from libpsl, result, policy and pct-sampled disposition (6.6.4).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpsl.h>

#include "mx_dmarc.h"

struct mx_dmarc {
	mx_dmarc_txt_fn txt;
	void *txt_ctx;
	psl_ctx_t *psl;
	bool psl_owned;   /* psl_latest/psl_load_file result, freed by us */
};

int
mx_dmarc_create(const struct mx_dmarc_conf *conf, struct mx_dmarc **out)
{
	struct mx_dmarc *d;

	if (conf == NULL || conf->txt == NULL)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	d->txt = conf->txt;
	d->txt_ctx = conf->txt_ctx;
	if (conf->psl_file != NULL)
		d->psl = psl_load_file(conf->psl_file);
	else
		d->psl = psl_latest(NULL);
	if (d->psl == NULL) {
		free(d);
		return -ENOENT;
	}
	d->psl_owned = true;
	*out = d;
	return 0;
}

void
mx_dmarc_free(struct mx_dmarc *d)
{
	if (d == NULL)
		return;
	if (d->psl_owned)
		psl_free(d->psl);
	free(d);
}

int
mx_dmarc_org_domain(const struct mx_dmarc *d, const char *domain,
		char org[MX_DMARC_DOMAIN_MAX])
{
	const char *reg;
	size_t n = strlen(domain);

	org[0] = '\0';
	if (n == 0 || n >= MX_DMARC_DOMAIN_MAX)
		return -EINVAL;
	/* RFC 7489 3.2: the organizational domain is the public suffix plus
	 * one label; libpsl computes exactly that ("registrable domain"). */
	reg = psl_registrable_domain(d->psl, domain);
	if (reg == NULL)
		return -EINVAL;
	memcpy(org, reg, strlen(reg) + 1);
	return 0;
}

unsigned
mx_dmarc_query_names(const struct mx_dmarc *d, const char *from_domain,
		char names[2][MX_DMARC_DOMAIN_MAX + 8])
{
	char org[MX_DMARC_DOMAIN_MAX];
	unsigned n = 0;

	if (from_domain == NULL || from_domain[0] == '\0' ||
			strlen(from_domain) >= MX_DMARC_DOMAIN_MAX)
		return 0;
	snprintf(names[n++], MX_DMARC_DOMAIN_MAX + 8, "_dmarc.%s", from_domain);
	if (mx_dmarc_org_domain(d, from_domain, org) == 0 &&
			strcmp(org, from_domain) != 0)
		snprintf(names[n++], MX_DMARC_DOMAIN_MAX + 8, "_dmarc.%s", org);
	return n;
}

enum discover {
	DISC_FOUND,
	DISC_NONE,      /* no DMARC record (or several: 6.6.3 step 5) */
	DISC_INVALID,   /* one record, unusable */
	DISC_TEMP,
	DISC_AGAIN,
};

/* One name: keep the records that start with v=DMARC1; exactly one must
 * remain (6.6.3 steps 3-5). */
static enum discover
discover_at(struct mx_dmarc *d, const char *domain, struct mx_dmarc_record *rec)
{
	char qname[MX_DMARC_DOMAIN_MAX + 8];
	struct mx_str recs[MX_DMARC_MAX_TXT];
	struct mx_dmarc_record tmp;
	unsigned i, n_dmarc = 0;
	bool invalid = false;
	int n;

	snprintf(qname, sizeof(qname), "_dmarc.%s", domain);
	n = d->txt(d->txt_ctx, qname, recs, MX_DMARC_MAX_TXT);
	if (n == -EAGAIN)
		return DISC_AGAIN;
	if (n < 0)
		return DISC_TEMP;
	for (i = 0; i < (unsigned)n && i < MX_DMARC_MAX_TXT; i++) {
		int rc = mx_dmarc_record_parse(recs[i], &tmp);

		if (rc == -ENOENT)
			continue;
		n_dmarc++;
		invalid = rc < 0;
		if (rc == 0)
			*rec = tmp;
	}
	if (n_dmarc != 1)
		return DISC_NONE;
	return invalid ? DISC_INVALID : DISC_FOUND;
}

static bool
aligned(struct mx_dmarc *d, const char *from_org, const char *from,
		struct mx_str id, enum mx_dmarc_align mode)
{
	char dom[MX_DMARC_DOMAIN_MAX], org[MX_DMARC_DOMAIN_MAX];
	size_t i, n = id.len;

	if (n > 0 && id.p[n - 1] == '.')
		n--;
	if (n == 0 || n >= sizeof(dom))
		return false;
	for (i = 0; i < n; i++) {
		char c = id.p[i];

		dom[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	dom[n] = '\0';
	if (strcmp(dom, from) == 0)
		return true;
	/* Relaxed (3.1.1, 3.1.2): the organizational domains are equal. */
	if (mode == MX_DMARC_ALIGN_STRICT || from_org[0] == '\0')
		return false;
	return mx_dmarc_org_domain(d, dom, org) == 0 && strcmp(org, from_org) == 0;
}

static void
check_alignment(struct mx_dmarc *d, const struct mx_dmarc_in *in,
		const char *from_org, struct mx_dmarc_out *out)
{
	unsigned i;

	out->spf_aligned = in->spf == MX_AUTH_PASS &&
		aligned(d, from_org, out->from_domain, in->spf_domain, out->rec.aspf);
	for (i = 0; i < in->n_dkim && !out->dkim_aligned; i++)
		out->dkim_aligned = in->dkim[i].result == MX_AUTH_PASS &&
			aligned(d, from_org, out->from_domain, in->dkim[i].domain,
				out->rec.adkim);
}

/* 6.6.4: outside the pct= sample, reject becomes quarantine and
 * quarantine becomes none. */
static void
dispose(const struct mx_dmarc_in *in, struct mx_dmarc_out *out)
{
	out->disposition = MX_DMARC_POLICY_NONE;
	if (out->result != MX_AUTH_FAIL)
		return;
	out->disposition = out->policy;
	if (out->rec.pct >= 100 || in->sample % 100 < out->rec.pct)
		return;
	out->sampled_out = true;
	if (out->policy == MX_DMARC_POLICY_REJECT)
		out->disposition = MX_DMARC_POLICY_QUARANTINE;
	else
		out->disposition = MX_DMARC_POLICY_NONE;
}

static int
finish_discovery(enum discover st, struct mx_dmarc_out *out)
{
	switch (st) {
	case DISC_AGAIN:
		return -EAGAIN;
	case DISC_TEMP:
		out->result = MX_AUTH_TEMPERROR;
		break;
	case DISC_INVALID:
		out->result = MX_AUTH_PERMERROR;
		break;
	case DISC_NONE:
	case DISC_FOUND:
		out->result = MX_AUTH_NONE;
		break;
	}
	return 0;
}

int
mx_dmarc_eval(struct mx_dmarc *d, const struct mx_dmarc_in *in,
		struct mx_dmarc_out *out)
{
	char from_org[MX_DMARC_DOMAIN_MAX];
	enum discover st;
	const char *at;

	memset(out, 0, sizeof(*out));
	out->result = MX_AUTH_PERMERROR;
	if (in->from_domain == NULL || in->from_domain[0] == '\0' ||
			strlen(in->from_domain) >= MX_DMARC_DOMAIN_MAX)
		return 0;
	memcpy(out->from_domain, in->from_domain, strlen(in->from_domain) + 1);
	if (mx_dmarc_org_domain(d, out->from_domain, from_org) < 0)
		from_org[0] = '\0';
	/* 6.6.3 steps 1-2: the From domain first, then its organizational
	 * domain when that is a different name. */
	at = out->from_domain;
	st = discover_at(d, at, &out->rec);
	if (st == DISC_NONE && from_org[0] != '\0' &&
			strcmp(from_org, out->from_domain) != 0) {
		at = from_org;
		st = discover_at(d, at, &out->rec);
	}
	if (st != DISC_FOUND)
		return finish_discovery(st, out);
	memcpy(out->record_domain, at, strlen(at) + 1);
	/* 6.3 sp=: applies to subdomains of the domain the record was found
	 * at, i.e. only when found through the organizational fallback. */
	out->policy = at == out->from_domain ? out->rec.p : out->rec.sp;
	check_alignment(d, in, from_org, out);
	out->result = (out->spf_aligned || out->dkim_aligned) ?
		MX_AUTH_PASS : MX_AUTH_FAIL;
	dispose(in, out);
	return 0;
}
