/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * relay_reply.c: the incremental parser for the downstream MTA's replies
 * and the EHLO keyword reader (contract in mx_relay.h).
 *
 * The downstream is a peer like any other: its bytes are bounded and
 * checked, never trusted. A reply is parsed one line at a time into a
 * fixed per-connection buffer, so memory is bounded by the 512-byte line
 * limit of RFC 5321 4.5.3.1.5 whatever the peer sends, and the parser
 * stops at the end of each line so that the caller keeps the bytes of the
 * next pipelined reply (RFC 2920) and can read EHLO keywords line by line.
 */
#include <string.h>

#include "mx_relay.h"

static void
reply_reset(struct mx_relay_reply *rp)
{
	rp->code = 0;
	rp->n_lines = 0;
	rp->esc[0] = '\0';
	rp->text_len = 0;
	rp->msg_off = 0;
	rp->len = 0;
	rp->complete = false;
}

void
mx_relay_reply_init(struct mx_relay_reply *rp)
{
	reply_reset(rp);
	rp->skip = false;
	rp->line_ready = false;
	rp->line.p = rp->buf;
	rp->line.len = 0;
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 5321 4.2: Reply-code = %x32-35 %x30-35 %x30-39. */
static int
reply_code(const char *p)
{
	if (p[0] < '2' || p[0] > '5' || p[1] < '0' || p[1] > '5' || !is_digit(p[2]))
		return -1;
	return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
}

/* textstring = 1*(%d09 / %d32-126) (RFC 5321 4.2); bytes >= 0x80 are
 * accepted as well since RFC 6531 3.7.4 lets an SMTPUTF8 server put UTF-8
 * in its replies. Everything else (NUL, a bare CR, other controls) is a
 * malformed reply. */
static bool
text_ok(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c < 0x20 && c != '\t')
			return false;
		if (c == 0x7f)
			return false;
	}
	return true;
}

/* 1 to 3 digits; returns how many, 0 if none or more than 3. */
static size_t
esc_digits(const char *p, size_t len)
{
	size_t n = 0;

	while (n < len && is_digit(p[n]))
		n++;
	return n >= 1 && n <= 3 ? n : 0;
}

/* RFC 3463 2: status-code = class "." subject "." detail, class 2/4/5,
 * subject and detail 1*3digit; RFC 2034 4 puts it first in the text,
 * followed by SP, and requires its class to match the reply code's first
 * digit. A string that does not qualify is plain text. */
static void
reply_parse_esc(struct mx_relay_reply *rp)
{
	const char *t = rp->text;
	size_t len = rp->text_len, i = 0, n;

	if (len < 5 || t[0] != '0' + rp->code / 100 || t[1] != '.')
		return;
	i = 2;
	n = esc_digits(t + i, len - i);
	if (n == 0 || i + n >= len || t[i + n] != '.')
		return;
	i += n + 1;
	n = esc_digits(t + i, len - i);
	if (n == 0)
		return;
	i += n;
	if (i < len && t[i] != ' ')
		return;
	memcpy(rp->esc, t, i);
	rp->esc[i] = '\0';
	while (i < len && t[i] == ' ')
		i++;
	rp->msg_off = i;
}

/* One complete line (CRLF included) sits in buf. */
static enum mx_rc
reply_line(struct mx_relay_reply *rp)
{
	const char *l = rp->buf;
	size_t n = rp->len;
	bool last;
	int code;

	/* RFC 5321 2.3.8: lines end in CRLF; a bare LF is not a line end. */
	if (n < 2 || l[n - 2] != '\r')
		return MX_INVALID;
	n -= 2;
	if (n < 3)
		return MX_INVALID;
	code = reply_code(l);
	if (code < 0)
		return MX_INVALID;
	if (n == 3) {
		last = true;
	} else if (l[3] == ' ' || l[3] == '-') {
		last = l[3] == ' ';
	} else {
		return MX_INVALID;
	}
	rp->line.p = n > 4 ? l + 4 : l + n;
	rp->line.len = n > 4 ? n - 4 : 0;
	if (!text_ok(rp->line.p, rp->line.len))
		return MX_INVALID;
	if (rp->n_lines == 0) {
		rp->code = code;
		memcpy(rp->text, rp->line.p, rp->line.len);
		rp->text_len = rp->line.len;
		reply_parse_esc(rp);
	} else if (code != rp->code) {
		/* RFC 5321 4.2.1: every line of a reply carries its code. */
		return MX_INVALID;
	}
	rp->n_lines++;
	if (!last && rp->n_lines >= MX_RELAY_REPLY_LINES_MAX)
		return MX_TOOLONG;
	rp->line_ready = true;
	if (last) {
		rp->complete = true;
		return MX_OK;
	}
	return MX_AGAIN;
}

enum mx_rc
mx_relay_reply_parse(struct mx_relay_reply *rp, const uint8_t *p, size_t len,
		size_t *used)
{
	const uint8_t *lf;
	size_t take;
	enum mx_rc rc;

	if (rp->complete)
		reply_reset(rp);
	rp->line_ready = false;
	*used = 0;
	if (len == 0)
		return MX_AGAIN;
	lf = memchr(p, '\n', len);
	take = lf != NULL ? (size_t)(lf - p) + 1 : len;
	if (rp->skip) {
		*used = take;
		rp->skip = lf == NULL;
		return MX_AGAIN;
	}
	*used = take;
	if (take > MX_RELAY_REPLY_LINE_MAX - rp->len) {
		reply_reset(rp);
		rp->skip = lf == NULL;
		return MX_TOOLONG;
	}
	memcpy(rp->buf + rp->len, p, take);
	rp->len += take;
	if (lf == NULL)
		return MX_AGAIN;
	rc = reply_line(rp);
	rp->len = 0;
	if (rc == MX_INVALID || rc == MX_TOOLONG) {
		rp->line_ready = false;
		reply_reset(rp);
	}
	return rc;
}

/* The EHLO keywords we act on or note (RFC 5321 4.1.1.1: case-insensitive). */
static const struct {
	const char *kw;
	unsigned flag;
} relay_kws[] = {
	{ "PIPELINING", MX_RELAY_CAP_PIPELINING },
	{ "SIZE", MX_RELAY_CAP_SIZE },
	{ "8BITMIME", MX_RELAY_CAP_8BITMIME },
	{ "SMTPUTF8", MX_RELAY_CAP_SMTPUTF8 },
	{ "CHUNKING", MX_RELAY_CAP_CHUNKING },
	{ "STARTTLS", MX_RELAY_CAP_STARTTLS },
};

/* RFC 1870 3: "SIZE" [SP 1*20DIGIT]; 0 or no number means no fixed
 * limit. A number that would overflow 64 bits is no limit we could ever
 * reach either. */
static uint64_t
caps_size(const char *p, size_t len)
{
	uint64_t v = 0;
	size_t i = 0;

	while (i < len && p[i] == ' ')
		i++;
	if (i == len)
		return 0;
	for (; i < len && is_digit(p[i]); i++) {
		unsigned d = (unsigned)(p[i] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	while (i < len && p[i] == ' ')
		i++;
	return i == len ? v : 0;
}

void
mx_relay_caps_line(struct mx_relay_caps *caps, struct mx_str line)
{
	struct mx_str tok = { 0, line.p };

	while (tok.len < line.len && line.p[tok.len] != ' ')
		tok.len++;
	for (size_t i = 0; i < MX_ARRAY_SIZE(relay_kws); i++) {
		if (!mx_str_ieq(tok, relay_kws[i].kw))
			continue;
		caps->flags |= relay_kws[i].flag;
		if (relay_kws[i].flag == MX_RELAY_CAP_SIZE)
			caps->size_max = caps_size(line.p + tok.len, line.len - tok.len);
		return;
	}
}
