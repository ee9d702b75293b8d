/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smtp_parse: the SMTP command line reader and the argument parsers.
 *
 * Contract: pure functions over caller memory, no allocation, no global
 * state; every byte comes from a peer and is checked against the length
 * actually received. The line reader is resumable over any split of the
 * input (MX_AGAIN) and resynchronises at LF after an overlong line (nginx
 * mail parser, Postfix smtp_get bound). The argument parsers implement the
 * ABNF of RFC 5321 4.1.2 (paths) and 4.1.1.11 (ESMTP parameters), with the
 * RFC 6531 UTF-8 additions, RFC 1870 SIZE, RFC 6152 / RFC 3030 BODY and
 * RFC 3030 BDAT arguments.
 */
#include <arpa/inet.h>
#include <string.h>

#include "mx_msg.h"
#include "mx_smtp.h"

/* ---- command line reader ---- */

void
mx_smtp_line_init(struct mx_smtp_line *l, char *buf, size_t cap)
{
	memset(l, 0, sizeof(*l));
	l->buf = buf;
	/* A line needs room for at least one byte plus CRLF. */
	l->cap = cap < 3 ? 3 : cap;
}

static void
line_restart(struct mx_smtp_line *l)
{
	l->len = 0;
	l->cr = false;
	l->bare_cr = false;
	l->bare_lf = false;
}

/* RFC 5321 4.5.3.1.4: the bound counts the CRLF, so the text may use
 * cap - 2 bytes. Returns false when the byte does not fit. */
static bool
line_put(struct mx_smtp_line *l, char c)
{
	if (l->len + 2 >= l->cap)
		return false;
	l->buf[l->len++] = c;
	return true;
}

/* The common case, a whole line in one feed, is read where it lies:
 * no copy, and no page of an idle session's line buffer is ever touched
 * (bench/PROFILE.md, idle sessions). Anything else (no LF yet, a CR
 * inside the line, a line past the bound) is left to the byte-at-a-time
 * reader below, which treats it the same way either way. */
static bool
line_in_place(struct mx_smtp_line *l, const uint8_t *p, size_t n, size_t *used)
{
	const uint8_t *lf = memchr(p, '\n', n);
	size_t k, len;

	if (lf == NULL)
		return false;
	k = (size_t)(lf - p);
	len = k > 0 && p[k - 1] == '\r' ? k - 1 : k;
	/* line_put's bound: the text may use cap - 2 bytes. */
	if (len + 2 > l->cap || memchr(p, '\r', len) != NULL)
		return false;
	l->text = (const char *)p;
	l->len = len;
	l->bare_lf = len == k;
	l->ended = true;
	*used = k + 1;
	return true;
}

enum mx_rc
mx_smtp_line_feed(struct mx_smtp_line *l, const uint8_t *p, size_t n,
		size_t *used)
{
	size_t i;

	if (l->ended) {
		l->ended = false;
		line_restart(l);
	}
	if (l->len == 0 && !l->cr && !l->skipping && line_in_place(l, p, n, used))
		return MX_OK;
	for (i = 0; i < n; i++) {
		uint8_t c = p[i];

		if (l->skipping) {
			if (c == '\n') {
				l->skipping = false;
				line_restart(l);
			}
			continue;
		}
		if (c == '\n') {
			/* RFC 5321 2.3.8 wants CRLF; an LF alone is taken
			 * for commands (never in DATA) and flagged. */
			l->bare_lf = !l->cr;
			l->cr = false;
			l->ended = true;
			l->text = l->buf;
			*used = i + 1;
			return MX_OK;
		}
		if (l->cr) {
			/* The held CR was not followed by LF: it is part
			 * of the line, and the session refuses that. */
			l->cr = false;
			l->bare_cr = true;
			if (!line_put(l, '\r'))
				goto toolong;
		}
		if (c == '\r') {
			l->cr = true;
			continue;
		}
		if (!line_put(l, (char)c))
			goto toolong;
	}
	*used = n;
	return MX_AGAIN;

toolong:
	l->skipping = true;
	line_restart(l);
	*used = i + 1;
	return MX_TOOLONG;
}

/* ---- verbs ---- */

struct verb_name {
	const char *name;
	enum mx_smtp_verb verb;
};

static const struct verb_name verbs[] = {
	{ "HELO", MX_SMTP_VERB_HELO },
	{ "EHLO", MX_SMTP_VERB_EHLO },
	{ "MAIL", MX_SMTP_VERB_MAIL },
	{ "RCPT", MX_SMTP_VERB_RCPT },
	{ "DATA", MX_SMTP_VERB_DATA },
	{ "BDAT", MX_SMTP_VERB_BDAT },
	{ "RSET", MX_SMTP_VERB_RSET },
	{ "NOOP", MX_SMTP_VERB_NOOP },
	{ "QUIT", MX_SMTP_VERB_QUIT },
	{ "HELP", MX_SMTP_VERB_HELP },
	{ "VRFY", MX_SMTP_VERB_VRFY },
	{ "EXPN", MX_SMTP_VERB_EXPN },
	{ "STARTTLS", MX_SMTP_VERB_STARTTLS },
	{ "AUTH", MX_SMTP_VERB_AUTH },
};

/* Verbs of other protocols: an HTTP client or proxy, or a POP3 client
 * pointed at port 25 (cross-protocol attacks from browsers). Postfix keeps
 * the same list in smtpd_forbidden_commands. */
static const char *const forbidden_verbs[] = {
	"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST",
	"PUT", "TRACE", "USER", "PASS",
};

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* A line that ends in " HTTP/1.x" or " HTTP/2" is an HTTP request line. */
static bool
ends_like_http(const char *line, size_t len)
{
	struct mx_str tail;
	size_t i;

	for (i = len; i > 0 && !is_wsp(line[i - 1]); i--)
		;
	if (i == 0)
		return false;
	tail = (struct mx_str){ len - i, line + i };
	return mx_str_iprefix(tail, "HTTP/");
}

static enum mx_smtp_verb
verb_lookup(struct mx_str name, const char *line, size_t len)
{
	size_t i;

	for (i = 0; i < MX_ARRAY_SIZE(verbs); i++)
		if (mx_str_ieq(name, verbs[i].name))
			return verbs[i].verb;
	for (i = 0; i < MX_ARRAY_SIZE(forbidden_verbs); i++)
		if (mx_str_ieq(name, forbidden_verbs[i]))
			return MX_SMTP_VERB_FORBIDDEN;
	/* "Host:", "User-Agent:": header lines of an HTTP request. */
	if (name.p[name.len - 1] == ':' || ends_like_http(line, len))
		return MX_SMTP_VERB_FORBIDDEN;
	return MX_SMTP_VERB_UNKNOWN;
}

enum mx_rc
mx_smtp_parse_cmd(const char *line, size_t len, struct mx_smtp_cmd *cmd)
{
	size_t i = 0, end;

	memset(cmd, 0, sizeof(*cmd));
	while (i < len && line[i] != ' ') {
		uint8_t c = (uint8_t)line[i];

		if (c < 0x21 || c > 0x7e)
			return MX_INVALID;
		i++;
	}
	if (i == 0)
		return MX_INVALID;
	cmd->name = (struct mx_str){ i, line };
	while (i < len && line[i] == ' ')
		i++;
	end = len;
	while (end > i && is_wsp(line[end - 1]))
		end--;
	cmd->arg = (struct mx_str){ end - i, line + i };
	cmd->verb = verb_lookup(cmd->name, line, len);
	return MX_OK;
}

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at p (RFC 3629 section 4 table), or
 * 0 when it is invalid or truncated. */
static size_t
utf8_seq(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];
	size_t len, i;
	uint8_t lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	/* The second byte's range rules out overlong forms, surrogates
	 * and code points above U+10FFFF. */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

bool
mx_smtp_utf8_valid(const char *p, size_t n)
{
	const uint8_t *u = (const uint8_t *)p;
	size_t i = 0;

	while (i < n) {
		size_t k = utf8_seq(u + i, n - i);

		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

/* ---- paths (RFC 5321 4.1.2) ---- */

struct cursor {
	const uint8_t *p;
	size_t n, i;
	bool utf8; /* a non-ASCII sequence was taken */
};

static int
cur_peek(const struct cursor *c)
{
	return c->i < c->n ? c->p[c->i] : -1;
}

static bool
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool
is_atext(int c)
{
	return is_alpha(c) || is_digit(c) || (c > 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Takes one UTF8-non-ascii character (RFC 6531 3.3) if one starts here. */
static bool
cur_take_utf8(struct cursor *c)
{
	size_t k;

	if (c->i >= c->n || c->p[c->i] < 0x80)
		return false;
	k = utf8_seq(c->p + c->i, c->n - c->i);
	if (k == 0)
		return false;
	c->i += k;
	c->utf8 = true;
	return true;
}

/* Dot-string = Atom *("." Atom); Atom = 1*atext (RFC 6531: atext =/
 * UTF8-non-ascii). */
static bool
parse_dot_string(struct cursor *c)
{
	for (;;) {
		size_t start = c->i;

		while (c->i < c->n) {
			if (is_atext(c->p[c->i]))
				c->i++;
			else if (!cur_take_utf8(c))
				break;
		}
		if (c->i == start)
			return false;
		if (cur_peek(c) != '.')
			return true;
		c->i++;
	}
}

/* Quoted-string = DQUOTE *QcontentSMTP DQUOTE; qtextSMTP is %d32-33 /
 * %d35-91 / %d93-126 (and UTF8-non-ascii); quoted-pairSMTP is %d92
 * %d32-126. */
static bool
parse_quoted(struct cursor *c)
{
	c->i++; /* DQUOTE */
	while (c->i < c->n) {
		int ch = c->p[c->i];

		if (ch == '"') {
			c->i++;
			return true;
		}
		if (ch == '\\') {
			if (c->i + 1 >= c->n || c->p[c->i + 1] < 32 || c->p[c->i + 1] > 126)
				return false;
			c->i += 2;
		} else if (ch >= 32 && ch <= 126) {
			c->i++;
		} else if (!cur_take_utf8(c)) {
			return false;
		}
	}
	return false;
}

/* sub-domain = Let-dig [Ldh-str]; Ldh-str ends in Let-dig. A U-label
 * (RFC 6531) is taken as any run of UTF-8 letters. RFC 1035 2.3.4 caps a
 * label at 63 octets. */
static bool
parse_subdomain(struct cursor *c)
{
	size_t start = c->i;
	int last = -1;

	while (c->i < c->n) {
		int ch = c->p[c->i];

		if (is_alpha(ch) || is_digit(ch) || (ch == '-' && c->i > start)) {
			c->i++;
			last = ch;
		} else if (cur_take_utf8(c)) {
			last = 'a';
		} else {
			break;
		}
	}
	return c->i > start && last != '-' && c->i - start <= 63;
}

static bool
parse_domain(struct cursor *c)
{
	for (;;) {
		if (!parse_subdomain(c))
			return false;
		if (cur_peek(c) != '.')
			return true;
		c->i++;
	}
}

/* IPv4-address-literal = Snum 3("." Snum); Snum = 1*3DIGIT, 0..255. */
static bool
literal_v4(const uint8_t *p, size_t n)
{
	size_t i = 0;
	int part;

	for (part = 0; part < 4; part++) {
		unsigned v = 0, digits = 0;

		if (part > 0) {
			if (i >= n || p[i] != '.')
				return false;
			i++;
		}
		while (i < n && is_digit(p[i]) && digits < 3) {
			v = v * 10 + (unsigned)(p[i] - '0');
			digits++;
			i++;
		}
		if (digits == 0 || v > 255)
			return false;
	}
	return i == n;
}

/* IPv6-address-literal = "IPv6:" IPv6-addr; inet_pton accepts exactly
 * the full, compressed and IPv4-embedded forms of RFC 5321 4.1.3. */
static bool
literal_v6(const uint8_t *p, size_t n)
{
	char buf[INET6_ADDRSTRLEN];
	struct in6_addr a;

	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return inet_pton(AF_INET6, buf, &a) == 1;
}

/* General-address-literal = Standardized-tag ":" 1*dcontent; dcontent is
 * %d33-90 / %d94-126. */
static bool
literal_general(const uint8_t *p, size_t n)
{
	size_t i = 0, k;

	while (i < n && (is_alpha(p[i]) || is_digit(p[i]) || (p[i] == '-' && i > 0)))
		i++;
	if (i == 0 || i >= n || p[i] != ':' || p[i - 1] == '-')
		return false;
	i++;
	if (i == n)
		return false;
	for (k = i; k < n; k++)
		if (p[k] < 33 || p[k] > 126 || (p[k] >= 91 && p[k] <= 93))
			return false;
	return true;
}

static bool
parse_literal(struct cursor *c)
{
	size_t start = ++c->i, end;
	const uint8_t *p;
	size_t n;

	while (c->i < c->n && c->p[c->i] != ']')
		c->i++;
	if (c->i >= c->n)
		return false;
	end = c->i++;
	p = c->p + start;
	n = end - start;
	if (n > 5 && mx_str_iprefix((struct mx_str){ n, (const char *)p }, "IPv6:"))
		return literal_v6(p + 5, n - 5);
	return literal_v4(p, n) || literal_general(p, n);
}

/* A-d-l = At-domain *( "," At-domain ) ":"; RFC 5321 4.1.1.3 says a
 * receiver SHOULD ignore the route, appendix C says it MUST accept it. */
static bool
skip_route(struct cursor *c)
{
	for (;;) {
		if (cur_peek(c) != '@')
			return false;
		c->i++;
		if (!parse_domain(c))
			return false;
		if (cur_peek(c) == ':') {
			c->i++;
			return true;
		}
		if (cur_peek(c) != ',')
			return false;
		c->i++;
	}
}

static enum mx_smtp_perr
path_fail(struct mx_smtp_path *out)
{
	memset(out, 0, sizeof(*out));
	return MX_SMTP_P_BAD_PATH;
}

enum mx_smtp_perr
mx_smtp_parse_path(struct mx_str s, bool allow_null, bool allow_postmaster,
		bool utf8, struct mx_smtp_path *out, size_t *used)
{
	struct cursor c = { (const uint8_t *)s.p, s.len, 0, false };
	size_t mb, at, dom;

	memset(out, 0, sizeof(*out));
	*used = 0;
	if (cur_peek(&c) != '<')
		return MX_SMTP_P_BAD_PATH;
	c.i++;
	if (cur_peek(&c) == '>') {
		if (!allow_null)
			return MX_SMTP_P_BAD_PATH;
		out->null_path = true;
		out->mailbox = (struct mx_str){ 0, s.p + 1 };
		*used = 2;
		return MX_SMTP_P_OK;
	}
	if (cur_peek(&c) == '@' && !skip_route(&c))
		return path_fail(out);
	mb = c.i;
	if (cur_peek(&c) == '"' ? !parse_quoted(&c) : !parse_dot_string(&c))
		return path_fail(out);
	at = c.i;
	out->local = (struct mx_str){ at - mb, s.p + mb };
	if (cur_peek(&c) == '>' && allow_postmaster && mx_str_ieq(out->local, "postmaster")) {
		/* RFC 5321 4.5.1: "postmaster" with no domain must be
		 * accepted. */
		out->postmaster = true;
	} else {
		if (cur_peek(&c) != '@')
			return path_fail(out);
		c.i++;
		dom = c.i;
		if (cur_peek(&c) == '[') {
			if (!parse_literal(&c))
				return path_fail(out);
			out->literal = true;
		} else if (!parse_domain(&c)) {
			return path_fail(out);
		}
		out->domain = (struct mx_str){ c.i - dom, s.p + dom };
	}
	if (cur_peek(&c) != '>')
		return path_fail(out);
	out->mailbox = (struct mx_str){ c.i - mb, s.p + mb };
	out->utf8 = c.utf8;
	c.i++;
	*used = c.i;
	if (c.i > MX_SMTP_PATH_MAX)
		return MX_SMTP_P_PATH_TOO_LONG;
	if (out->utf8 && !utf8)
		return MX_SMTP_P_UTF8;
	return MX_SMTP_P_OK;
}

/* ---- ESMTP parameters (RFC 5321 4.1.2) ---- */

struct esmtp_param {
	struct mx_str key;
	struct mx_str value;
	bool has_value;
};

/* esmtp-param = esmtp-keyword ["=" esmtp-value]
 * esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
 * esmtp-value = 1*(%d33-60 / %d62-126) (RFC 6531 adds UTF-8). */
static bool
param_next(struct cursor *c, struct esmtp_param *pm)
{
	size_t ks = c->i, vs;

	memset(pm, 0, sizeof(*pm));
	while (c->i < c->n && (is_alpha(c->p[c->i]) || is_digit(c->p[c->i]) ||
			(c->p[c->i] == '-' && c->i > ks)))
		c->i++;
	if (c->i == ks)
		return false;
	pm->key = (struct mx_str){ c->i - ks, (const char *)c->p + ks };
	if (cur_peek(c) == '=') {
		c->i++;
		vs = c->i;
		while (c->i < c->n) {
			int ch = c->p[c->i];

			if (ch >= 33 && ch <= 126 && ch != '=')
				c->i++;
			else if (!cur_take_utf8(c))
				break;
		}
		if (c->i == vs)
			return false;
		pm->value = (struct mx_str){ c->i - vs, (const char *)c->p + vs };
		pm->has_value = true;
	}
	/* Parameters are separated by SP; anything else is malformed. */
	if (c->i < c->n && c->p[c->i] != ' ')
		return false;
	while (c->i < c->n && c->p[c->i] == ' ')
		c->i++;
	return true;
}

/* RFC 1870: size-value = 1*20DIGIT; a value that does not fit in 64 bits
 * saturates, so it is refused by the size check (552), not as syntax. */
static bool
parse_size(struct mx_str v, uint64_t *out)
{
	uint64_t n = 0;
	size_t i;

	if (v.len == 0 || v.len > 20)
		return false;
	for (i = 0; i < v.len; i++) {
		unsigned d;

		if (!is_digit(v.p[i]))
			return false;
		d = (unsigned)(v.p[i] - '0');
		n = n > (UINT64_MAX - d) / 10 ? UINT64_MAX : n * 10 + d;
	}
	*out = n;
	return true;
}

static bool
mail_param(const struct esmtp_param *pm, const struct mx_smtp_parse_opts *o,
		struct mx_smtp_mail_args *out, unsigned *seen)
{
	enum { SEEN_SIZE = 1, SEEN_BODY = 2, SEEN_UTF8 = 4 };

	if (mx_str_ieq(pm->key, "SIZE")) {
		if ((*seen & SEEN_SIZE) || !pm->has_value || !parse_size(pm->value, &out->size))
			return false;
		out->has_size = true;
		*seen |= SEEN_SIZE;
		return true;
	}
	if (mx_str_ieq(pm->key, "BODY")) {
		if ((*seen & SEEN_BODY) || !pm->has_value)
			return false;
		if (mx_str_ieq(pm->value, "7BIT"))
			out->body = MX_BODY_7BIT;
		else if (mx_str_ieq(pm->value, "8BITMIME"))
			out->body = MX_BODY_8BITMIME;
		else if (mx_str_ieq(pm->value, "BINARYMIME") && o->chunking)
			out->body = MX_BODY_BINARYMIME; /* RFC 3030 3: needs CHUNKING */
		else
			return false;
		*seen |= SEEN_BODY;
		return true;
	}
	if (mx_str_ieq(pm->key, "SMTPUTF8")) {
		/* RFC 6531 3.4: the parameter has no value. */
		if ((*seen & SEEN_UTF8) || pm->has_value)
			return false;
		out->smtputf8 = true;
		*seen |= SEEN_UTF8;
		return true;
	}
	return false;
}

/* Splits "<path>[ SP params]" after the "FROM:" / "TO:" prefix. RFC 5321
 * 4.1.2 has no space after the colon; Postfix and Sendmail accept one and
 * so many clients send it, so spaces are skipped here. */
static enum mx_smtp_perr
split_path(struct mx_str arg, const char *prefix, bool is_mail,
		struct mx_smtp_path *path, struct mx_str *params)
{
	size_t i, used;
	struct mx_str rest;
	enum mx_smtp_perr r;

	if (!mx_str_iprefix(arg, prefix))
		return MX_SMTP_P_SYNTAX;
	i = strlen(prefix);
	while (i < arg.len && arg.p[i] == ' ')
		i++;
	if (i == arg.len)
		return MX_SMTP_P_SYNTAX;
	rest = (struct mx_str){ arg.len - i, arg.p + i };
	/* UTF-8 is allowed here and judged by the caller, who may only
	 * learn from the parameters (MAIL ... SMTPUTF8) whether it is. */
	r = mx_smtp_parse_path(rest, is_mail, !is_mail, true, path, &used);
	if (r != MX_SMTP_P_OK)
		return r;
	if (used < rest.len && rest.p[used] != ' ')
		return MX_SMTP_P_BAD_PATH;
	while (used < rest.len && rest.p[used] == ' ')
		used++;
	*params = (struct mx_str){ rest.len - used, rest.p + used };
	return MX_SMTP_P_OK;
}

enum mx_smtp_perr
mx_smtp_parse_mail(struct mx_str arg, const struct mx_smtp_parse_opts *o,
		struct mx_smtp_mail_args *out)
{
	struct cursor c;
	struct esmtp_param pm;
	enum mx_smtp_perr r;
	unsigned seen = 0;

	memset(out, 0, sizeof(*out));
	out->body = MX_BODY_7BIT;
	r = split_path(arg, "FROM:", true, &out->path, &out->params);
	if (r != MX_SMTP_P_OK)
		return r;
	c = (struct cursor){ (const uint8_t *)out->params.p, out->params.len, 0, false };
	while (c.i < c.n) {
		/* RFC 1869: parameters exist only after EHLO. */
		if (!o->esmtp || !param_next(&c, &pm) || !mail_param(&pm, o, out, &seen))
			return MX_SMTP_P_PARAM;
	}
	if (out->path.utf8 && !out->smtputf8)
		return MX_SMTP_P_UTF8;
	return MX_SMTP_P_OK;
}

enum mx_smtp_perr
mx_smtp_parse_rcpt(struct mx_str arg, bool smtputf8, struct mx_smtp_rcpt_args *out)
{
	enum mx_smtp_perr r;

	memset(out, 0, sizeof(*out));
	r = split_path(arg, "TO:", false, &out->path, &out->params);
	if (r != MX_SMTP_P_OK)
		return r;
	/* No RCPT extension is offered (no DSN, RFC 3461). */
	if (out->params.len > 0)
		return MX_SMTP_P_PARAM;
	if (out->path.utf8 && !smtputf8)
		return MX_SMTP_P_UTF8;
	return MX_SMTP_P_OK;
}

enum mx_smtp_perr
mx_smtp_parse_bdat(struct mx_str arg, uint64_t *size, bool *last)
{
	uint64_t n = 0;
	size_t i = 0;
	struct mx_str rest;

	*size = 0;
	*last = false;
	while (i < arg.len && is_digit(arg.p[i])) {
		unsigned d = (unsigned)(arg.p[i] - '0');

		/* A size we cannot count is refused: we could never know
		 * where the chunk ends. */
		if (n > (UINT64_MAX - d) / 10)
			return MX_SMTP_P_SYNTAX;
		n = n * 10 + d;
		i++;
	}
	if (i == 0)
		return MX_SMTP_P_SYNTAX;
	if (i < arg.len) {
		if (arg.p[i] != ' ')
			return MX_SMTP_P_SYNTAX;
		while (i < arg.len && arg.p[i] == ' ')
			i++;
		rest = (struct mx_str){ arg.len - i, arg.p + i };
		if (!mx_str_ieq(rest, "LAST"))
			return MX_SMTP_P_SYNTAX;
		*last = true;
	}
	*size = n;
	return MX_SMTP_P_OK;
}

enum mx_smtp_perr
mx_smtp_parse_helo(struct mx_str arg)
{
	size_t i;

	if (arg.len == 0 || arg.len > 255)
		return MX_SMTP_P_SYNTAX;
	for (i = 0; i < arg.len; i++)
		if ((uint8_t)arg.p[i] < 0x21 || (uint8_t)arg.p[i] > 0x7e)
			return MX_SMTP_P_SYNTAX;
	return MX_SMTP_P_OK;
}
