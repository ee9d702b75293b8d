/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DKIM verification over libopendkim: feeds the buffered message by
 * reference, serves keys through dkim_set_key_lookup() from the TXT
 * callback, and maps each signature's state to an RFC 8601 result word
 * (the table is in mx_dkim.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include <opendkim/dkim.h>

#include "mx_dkim.h"

struct mx_dkim {
	DKIM_LIB *lib;
	mx_dkim_txt_fn txt;
	void *txt_ctx;
	unsigned min_key_bits;
	bool allow_rsa_sha1;
	uint64_t fixed_time;
};

#define MX_DKIM_CLOCK_DRIFT_S 300

/* State of one verification, reached from the key-lookup callback through
 * dkim_get_user_context(). */
struct verify_ctx {
	struct mx_dkim *d;
	bool again;       /* a key was not available yet */
	unsigned n_temp;  /* signatures whose key lookup failed temporarily */
	DKIM_SIGINFO *temp[MX_DKIM_MAX_SIGS];
};

/* libopendkim stops at the first callback that reports an error, so a
 * missing or failed key is reported to it as "not found" (the other
 * signatures still get their lookups, and every missing name of the
 * message is asked in the same round); the real state is kept here. */
static DKIM_CBSTAT
key_unavailable(struct verify_ctx *vc, DKIM_SIGINFO *sig, int rc)
{
	if (rc == -EAGAIN)
		vc->again = true;
	else if (vc->n_temp < MX_DKIM_MAX_SIGS)
		vc->temp[vc->n_temp++] = sig;
	return DKIM_CBSTAT_NOTFOUND;
}

static DKIM_CBSTAT
key_lookup(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buf, size_t buflen)
{
	struct verify_ctx *vc = dkim_get_user_context(dkim);
	const char *s = (const char *)dkim_sig_getselector(sig);
	const char *dom = (const char *)dkim_sig_getdomain(sig);
	char qname[MX_DKIM_QNAME_MAX];
	struct mx_str recs[4];
	int n, w;

	if (vc == NULL || s == NULL || dom == NULL || buflen == 0)
		return DKIM_CBSTAT_ERROR;
	w = snprintf(qname, sizeof(qname), "%s._domainkey.%s", s, dom);
	if (w < 0 || (size_t)w >= sizeof(qname))
		return DKIM_CBSTAT_NOTFOUND; /* no such DNS name can exist */
	n = vc->d->txt(vc->d->txt_ctx, qname, recs, MX_ARRAY_SIZE(recs));
	if (n < 0)
		return key_unavailable(vc, sig, n);
	if (n == 0)
		return DKIM_CBSTAT_NOTFOUND;
	/* RFC 6376 3.6.2.2: several records make the result undefined; the
	 * first is used. A record longer than the buffer cannot be a key we
	 * accept anyway; it is cut and then fails to decode (permerror). */
	w = (int)MX_MIN(recs[0].len, buflen - 1);
	memcpy(buf, recs[0].p, (size_t)w);
	buf[w] = '\0';
	return DKIM_CBSTAT_CONTINUE;
}

static int
lib_setopt(DKIM_LIB *lib, int opt, void *val, size_t len)
{
	return dkim_options(lib, DKIM_OP_SETOPT, opt, val, len) == DKIM_STAT_OK ?
		0 : -EINVAL;
}

static int
lib_setup(struct mx_dkim *d, const struct mx_dkim_conf *conf)
{
	unsigned int flags = DKIM_LIBFLAGS_BADSIGHANDLES;
	/* Key size is judged here, per algorithm (an ed25519 key has 256
	 * bits and is not "small"), so libopendkim's own check is off. */
	unsigned int minbits = 1;
	uint64_t t = conf->fixed_time;

	if (lib_setopt(d->lib, DKIM_OPTS_FLAGS, &flags, sizeof(flags)) < 0 ||
			lib_setopt(d->lib, DKIM_OPTS_MINKEYBITS, &minbits,
				sizeof(minbits)) < 0)
		return -EINVAL;
	if (t != 0 && lib_setopt(d->lib, DKIM_OPTS_FIXEDTIME, &t, sizeof(t)) < 0)
		return -EINVAL;
	if (dkim_set_key_lookup(d->lib, key_lookup) != DKIM_STAT_OK)
		return -EINVAL;
	return 0;
}

int
mx_dkim_create(const struct mx_dkim_conf *conf, struct mx_dkim **out)
{
	struct mx_dkim *d;
	int rc;

	if (conf == NULL || conf->txt == NULL)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	d->txt = conf->txt;
	d->txt_ctx = conf->txt_ctx;
	d->min_key_bits = conf->min_key_bits != 0 ? conf->min_key_bits : 1024;
	d->allow_rsa_sha1 = conf->allow_rsa_sha1;
	d->fixed_time = conf->fixed_time;
	d->lib = dkim_init(NULL, NULL);
	if (d->lib == NULL) {
		free(d);
		return -ENOMEM;
	}
	rc = lib_setup(d, conf);
	if (rc < 0) {
		mx_dkim_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

void
mx_dkim_free(struct mx_dkim *d)
{
	if (d == NULL)
		return;
	if (d->lib != NULL)
		dkim_close(d->lib);
	free(d);
}

/* Error codes of a signature that cannot even be read (RFC 8601 neutral:
 * "syntax errors or not otherwise able to be processed"). */
static enum mx_auth_result
result_of_error(int err)
{
	switch (err) {
	case DKIM_SIGERROR_EXPIRED:
	case DKIM_SIGERROR_FUTURE:
	case DKIM_SIGERROR_TIMESTAMPS:
	case DKIM_SIGERROR_BADSIG:
	case DKIM_SIGERROR_TOOLARGE_L:
		return MX_AUTH_FAIL;
	case DKIM_SIGERROR_KEYFAIL:
		return MX_AUTH_TEMPERROR;
	case DKIM_SIGERROR_NOKEY:
	case DKIM_SIGERROR_DNSSYNTAX:
	case DKIM_SIGERROR_MULTIREPLY:
	case DKIM_SIGERROR_KEYVERSION:
	case DKIM_SIGERROR_KEYUNKNOWNHASH:
	case DKIM_SIGERROR_KEYHASHMISMATCH:
	case DKIM_SIGERROR_NOTEMAILKEY:
	case DKIM_SIGERROR_KEYTYPEMISSING:
	case DKIM_SIGERROR_KEYTYPEUNKNOWN:
	case DKIM_SIGERROR_KEYREVOKED:
	case DKIM_SIGERROR_KEYDECODE:
		return MX_AUTH_PERMERROR;
	case DKIM_SIGERROR_KEYTOOSMALL:
	case DKIM_SIGERROR_MBSFAILED:
		return MX_AUTH_POLICY;
	default:
		return MX_AUTH_NEUTRAL;
	}
}

static void
judge_pass(struct mx_dkim *d, DKIM_SIGINFO *sig, struct mx_dkim_sig *out)
{
	dkim_alg_t alg = DKIM_SIGN_UNKNOWN;
	unsigned int bits = 0;

	(void)dkim_sig_getsignalg(sig, &alg);
	(void)dkim_sig_getkeysize(sig, &bits);
	/* libopendkim reports no size for ed25519; its public keys are
	 * always 256 bits (RFC 8463 3), and 0 means "no key" to our callers. */
	if (alg == DKIM_SIGN_ED25519SHA256 && bits == 0)
		bits = 256;
	out->key_bits = bits;
	out->result = MX_AUTH_PASS;
	out->reason = "signature ok";
	if (alg == DKIM_SIGN_RSASHA1 && !d->allow_rsa_sha1) {
		/* RFC 8301 3.1: rsa-sha1 MUST NOT be considered valid. */
		out->result = MX_AUTH_POLICY;
		out->reason = "rsa-sha1 not accepted";
	} else if (alg != DKIM_SIGN_ED25519SHA256 && bits < d->min_key_bits) {
		/* RFC 8301 3.2: RSA keys below 1024 bits are not valid. */
		out->result = MX_AUTH_POLICY;
		out->reason = "key too small";
	}
}

static void
copy_name(char *dst, size_t cap, const u_char *src)
{
	if (src == NULL) {
		dst[0] = '\0';
		return;
	}
	snprintf(dst, cap, "%s", (const char *)src);
}

static bool
key_failed(const struct verify_ctx *vc, const DKIM_SIGINFO *sig)
{
	unsigned i;

	for (i = 0; i < vc->n_temp; i++)
		if (vc->temp[i] == sig)
			return true;
	return false;
}

/* RFC 6376 3.5 t=: a signature from the future is not valid. libopendkim
 * only compares x= with t=, so the check against now is ours, with the
 * usual five minutes of clock drift. */
static bool
from_future(const struct mx_dkim *d, DKIM_SIGINFO *sig)
{
	const u_char *t = dkim_sig_gettagvalue(sig, false, (u_char *)"t");
	uint64_t ts = 0, now;
	size_t i;

	if (t == NULL)
		return false;
	for (i = 0; t[i] >= '0' && t[i] <= '9' && i < 12; i++)
		ts = ts * 10 + (uint64_t)(t[i] - '0');
	now = d->fixed_time != 0 ? d->fixed_time : (uint64_t)time(NULL);
	return ts > now + MX_DKIM_CLOCK_DRIFT_S;
}

static void
judge(struct mx_dkim *d, const struct verify_ctx *vc, DKIM_SIGINFO *sig,
		struct mx_dkim_sig *out)
{
	unsigned int flags = dkim_sig_getflags(sig);
	int err = dkim_sig_geterror(sig);
	int bh = dkim_sig_getbh(sig);

	memset(out, 0, sizeof(*out));
	copy_name(out->domain, sizeof(out->domain), dkim_sig_getdomain(sig));
	copy_name(out->selector, sizeof(out->selector), dkim_sig_getselector(sig));
	if (key_failed(vc, sig)) {
		out->result = MX_AUTH_TEMPERROR;
		out->reason = "key lookup failed";
		return;
	}
	if (err == DKIM_SIGERROR_OK && (flags & DKIM_SIGFLAG_PASSED) != 0 &&
			bh == DKIM_SIGBH_MATCH) {
		judge_pass(d, sig, out);
		if (out->result == MX_AUTH_PASS && from_future(d, sig)) {
			out->result = MX_AUTH_FAIL;
			out->reason = "signature in the future";
		}
		return;
	}
	if (err == DKIM_SIGERROR_OK || err == DKIM_SIGERROR_UNKNOWN) {
		/* Processed without a specific error: header signature or
		 * body hash did not match. */
		out->result = MX_AUTH_FAIL;
		out->reason = bh == DKIM_SIGBH_MISMATCH ? "body hash mismatch" :
			"signature mismatch";
		return;
	}
	out->result = result_of_error(err);
	out->reason = dkim_sig_geterrorstr(err);
	if (out->reason == NULL)
		out->reason = "error";
}

/* The header section, field by field from the index, then the body as the
 * chunk runs of the message, all by reference. libopendkim's prototypes
 * take non-const pointers but do not write through them. */
static DKIM_STAT
feed(DKIM *dkim, const struct mx_msg *m)
{
	DKIM_STAT st = DKIM_STAT_OK;
	size_t off;
	unsigned i;

	for (i = 0; i < m->n_hdrs; i++) {
		const struct mx_hdr *h = &m->hdrs[i];

		st = dkim_header(dkim, (u_char *)(uintptr_t)h->raw.p, h->raw.len);
		if (st != DKIM_STAT_OK)
			return st;
	}
	st = dkim_eoh(dkim);
	if (st != DKIM_STAT_OK)
		return st;
	for (off = m->body_offset; off < m->size;) {
		const uint8_t *p;
		size_t n = mx_msg_view(m, off, &p);

		if (n == 0)
			break;
		st = dkim_body(dkim, (u_char *)(uintptr_t)p, n);
		if (st != DKIM_STAT_OK)
			return st;
		off += n;
	}
	return dkim_eom(dkim, NULL);
}

static void
collect(struct mx_dkim *d, const struct verify_ctx *vc, DKIM *dkim,
		struct mx_dkim_res *res)
{
	DKIM_SIGINFO **sigs = NULL;
	int n = 0, i;

	if (dkim_getsiglist(dkim, &sigs, &n) != DKIM_STAT_OK || sigs == NULL)
		return;
	for (i = 0; i < n; i++) {
		if (res->n_sigs == MX_DKIM_MAX_SIGS) {
			res->truncated = true;
			break;
		}
		judge(d, vc, sigs[i], &res->sigs[res->n_sigs++]);
	}
}

int
mx_dkim_verify(struct mx_dkim *d, const struct mx_msg *m,
		struct mx_dkim_res *res)
{
	struct verify_ctx vc = { .d = d };
	DKIM_STAT st = DKIM_STAT_OK;
	DKIM *dkim;

	memset(res, 0, sizeof(*res));
	dkim = dkim_verify(d->lib, (const u_char *)m->id, NULL, &st);
	if (dkim == NULL)
		return -ENOMEM;
	dkim_set_user_context(dkim, &vc);
	st = feed(dkim, m);
	if (vc.again) {
		dkim_free(dkim);
		return -EAGAIN;
	}
	if (st != DKIM_STAT_NOSIG)
		collect(d, &vc, dkim, res);
	dkim_free(dkim);
	return 0;
}
