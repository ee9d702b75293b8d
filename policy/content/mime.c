/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mime.c: the incremental MIME walker (contract in content_mime.h).
 *
 * The walker alternates between two states. In a header section it works
 * byte by byte (header sections are small): it unfolds fields into a
 * bounded buffer (RFC 5322 section 2.2.3) and, at the blank line, decides
 * what the body is from Content-Type, Content-Transfer-Encoding and
 * Content-Disposition (RFC 2045, RFC 2183). In a body it works line by
 * line with memchr; only inside a multipart does it buffer the first bytes
 * of each line, and only while they can still be a boundary delimiter
 * (RFC 2046 section 5.1.1: a delimiter is "--" boundary at the start of a
 * line, optionally followed by "--" for the close delimiter and by
 * transport padding). The CRLF before a delimiter conceptually belongs to
 * the delimiter; the walker hands it to the ending part as body text,
 * which changes nothing a rule can observe but a trailing newline.
 */
#include <string.h>

#include "content_mime.h"

enum mime_state {
	ST_HDR = 0,
	ST_BODY,
};

enum mime_body {
	BODY_DISCARD = 0,
	BODY_TEXT,
};

enum qp_state {
	QP_TEXT = 0,
	QP_EQ,      /* after '=' */
	QP_EQ_HEX,  /* after '=' and one hex digit */
	QP_EQ_CR,   /* after '=' CR: a soft line break wants LF */
};

static void
defect(struct mx_mime *m, enum mx_content_defect d)
{
	uint32_t bit = 1u << d;

	if ((m->defects & bit) != 0)
		return;
	m->defects |= bit;
	m->ops->defect(m->u, d);
}

static int
hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int
b64val(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static bool
is_wsp(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static uint8_t
lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* ---- decoded text output ---- */

static void
out_flush(struct mx_mime *m)
{
	if (m->out_len == 0)
		return;
	m->ops->text(m->u, m->out, m->out_len);
	m->out_len = 0;
}

static void
out_put(struct mx_mime *m, uint8_t c)
{
	m->out[m->out_len++] = c;
	if (m->out_len == sizeof(m->out))
		out_flush(m);
}

static void
b64_emit(struct mx_mime *m)
{
	/* n sextets carry n*6/8 whole bytes (RFC 4648 section 4). */
	if (m->b64_n >= 2)
		out_put(m, (uint8_t)(m->b64_acc >> ((m->b64_n == 2) ? 4 : (m->b64_n == 3) ? 10 : 16)));
	if (m->b64_n >= 3)
		out_put(m, (uint8_t)(m->b64_acc >> ((m->b64_n == 3) ? 2 : 8)));
	if (m->b64_n == 4)
		out_put(m, (uint8_t)m->b64_acc);
	if (m->b64_n == 1)
		defect(m, MX_CONTENT_D_BAD_BASE64);
	m->b64_n = 0;
	m->b64_acc = 0;
}

static void
b64_feed(struct mx_mime *m, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int v = b64val(p[i]);

		if (v >= 0) {
			m->b64_acc = (m->b64_acc << 6) | (uint32_t)v;
			if (++m->b64_n == 4)
				b64_emit(m);
			continue;
		}
		if (p[i] == '=') {
			/* Padding ends a quantum (RFC 2045 section 6.8). */
			if (m->b64_n != 0)
				b64_emit(m);
			continue;
		}
		/* Line breaks are not data; anything else is a defect
		 * that RFC 2045 section 6.8 says to ignore. */
		if (p[i] != '\r' && p[i] != '\n' && !is_wsp(p[i]))
			defect(m, MX_CONTENT_D_BAD_BASE64);
	}
}

static void
qp_byte(struct mx_mime *m, uint8_t c)
{
	int v;

	switch (m->qp_st) {
	case QP_EQ:
		if ((v = hexval(c)) >= 0) {
			m->qp_hex = c;
			m->qp_st = QP_EQ_HEX;
			return;
		}
		if (c == '\n') {
			m->qp_st = QP_TEXT;  /* soft line break, bare LF */
			return;
		}
		if (c == '\r') {
			m->qp_st = QP_EQ_CR;
			return;
		}
		if (is_wsp(c))
			return;  /* transport padding before a soft break */
		defect(m, MX_CONTENT_D_BAD_QP);
		out_put(m, '=');
		m->qp_st = QP_TEXT;
		break;
	case QP_EQ_HEX:
		if ((v = hexval(c)) >= 0) {
			out_put(m, (uint8_t)(hexval(m->qp_hex) << 4 | v));
			m->qp_st = QP_TEXT;
			return;
		}
		defect(m, MX_CONTENT_D_BAD_QP);
		out_put(m, '=');
		out_put(m, m->qp_hex);
		m->qp_st = QP_TEXT;
		break;
	case QP_EQ_CR:
		m->qp_st = QP_TEXT;
		if (c == '\n')
			return;
		defect(m, MX_CONTENT_D_BAD_QP);
		break;
	default:
		break;
	}
	if (c == '=')
		m->qp_st = QP_EQ;
	else
		out_put(m, c);
}

static void
qp_flush(struct mx_mime *m)
{
	if (m->qp_st == QP_EQ || m->qp_st == QP_EQ_HEX) {
		defect(m, MX_CONTENT_D_BAD_QP);
		out_put(m, '=');
		if (m->qp_st == QP_EQ_HEX)
			out_put(m, m->qp_hex);
	}
	m->qp_st = QP_TEXT;
}

static void
body_out(struct mx_mime *m, const uint8_t *p, size_t n)
{
	size_t i;

	if (m->body != BODY_TEXT || n == 0)
		return;
	switch (m->ent.cte) {
	case MX_MIME_CTE_BASE64:
		b64_feed(m, p, n);
		break;
	case MX_MIME_CTE_QP:
		for (i = 0; i < n; i++)
			qp_byte(m, p[i]);
		break;
	default:
		m->ops->text(m->u, p, n);
		return;
	}
	out_flush(m);
}

static void
part_end(struct mx_mime *m)
{
	if (m->body == BODY_TEXT) {
		if (m->ent.cte == MX_MIME_CTE_BASE64)
			b64_emit(m);
		else if (m->ent.cte == MX_MIME_CTE_QP)
			qp_flush(m);
		out_flush(m);
	}
	m->body = BODY_DISCARD;
}

/* ---- header parameters (RFC 2045 section 5.1, RFC 2231) ---- */

struct pseg {
	unsigned idx;
	bool ext;
	const char *v;
	size_t len;
};

struct pcollect {
	const char *base;        /* "name" or "filename" */
	const char *plain;
	size_t plain_len;
	struct pseg seg[MX_MIME_SEGS];
	unsigned n_seg;
	bool want_boundary;
};

static bool
ieq(const char *a, size_t alen, const char *lit)
{
	return mx_str_ieq((struct mx_str){ alen, a }, lit);
}

static void
param_seg(struct mx_mime *m, struct pcollect *pc, const char *a, size_t alen,
		const char *v, size_t vlen)
{
	size_t bl = strlen(pc->base);
	unsigned idx = 0;
	bool ext = false;
	size_t i;

	if (alen <= bl || !mx_str_iprefix((struct mx_str){ alen, a }, pc->base) ||
			a[bl] != '*')
		return;
	i = bl + 1;
	if (i == alen) {
		ext = true;  /* name*=charset'lang'value */
	} else {
		for (; i < alen && a[i] >= '0' && a[i] <= '9' && idx < 1000; i++)
			idx = idx * 10 + (unsigned)(a[i] - '0');
		if (i < alen && a[i] == '*') {
			ext = true;
			i++;
		}
		if (i != alen || a[bl + 1] == '*')
			return;
	}
	if (idx >= MX_MIME_SEGS || pc->n_seg == MX_MIME_SEGS) {
		defect(m, MX_CONTENT_D_BAD_PARAM);
		return;
	}
	pc->seg[pc->n_seg++] = (struct pseg){ idx, ext, v, vlen };
}

static void
param_one(struct mx_mime *m, struct pcollect *pc, const char *a, size_t alen,
		const char *v, size_t vlen)
{
	if (pc->want_boundary && ieq(a, alen, "boundary")) {
		if (vlen == 0 || vlen > MX_MIME_BOUNDARY_MAX) {
			defect(m, MX_CONTENT_D_BOUNDARY_TOO_LONG);
			return;
		}
		memcpy(m->ent.bnd.b, v, vlen);
		m->ent.bnd.len = (uint8_t)vlen;
		m->ent.has_bnd = true;
		return;
	}
	if (ieq(a, alen, pc->base)) {
		pc->plain = v;
		pc->plain_len = vlen;
		return;
	}
	param_seg(m, pc, a, alen, v, vlen);
}

/* Parses "; a=b; c="d"" in place (quoted strings are unescaped into the
 * field buffer, which only shrinks). */
static void
params_parse(struct mx_mime *m, char *p, size_t n, struct pcollect *pc)
{
	size_t i = 0;

	while (i < n) {
		size_t a0, a1, v0, w;

		while (i < n && (is_wsp((uint8_t)p[i]) || p[i] == ';'))
			i++;
		a0 = i;
		while (i < n && p[i] != '=' && p[i] != ';' && !is_wsp((uint8_t)p[i]))
			i++;
		a1 = i;
		while (i < n && is_wsp((uint8_t)p[i]))
			i++;
		if (a1 == a0) {
			/* "=value" without a name: skip to the next ';'. */
			defect(m, MX_CONTENT_D_BAD_PARAM);
			while (i < n && p[i] != ';')
				i++;
			continue;
		}
		if (i >= n || p[i] != '=') {
			defect(m, MX_CONTENT_D_BAD_PARAM);
			while (i < n && p[i] != ';')
				i++;
			continue;
		}
		i++;
		while (i < n && is_wsp((uint8_t)p[i]))
			i++;
		v0 = i;
		w = i;
		if (i < n && p[i] == '"') {
			bool closed = false;

			v0 = w = ++i;
			while (i < n) {
				if (p[i] == '\\' && i + 1 < n)
					i++;
				else if (p[i] == '"') {
					closed = true;
					i++;
					break;
				}
				p[w++] = p[i++];
			}
			if (!closed)
				defect(m, MX_CONTENT_D_BAD_PARAM);
		} else {
			while (i < n && p[i] != ';' && !is_wsp((uint8_t)p[i]))
				i++;
			w = i;
		}
		param_one(m, pc, p + a0, a1 - a0, p + v0, w - v0);
	}
}

static size_t
put_bytes(char *dst, size_t size, size_t len, const char *src, size_t n)
{
	size_t k = MX_MIN(n, size - 1 - len);

	memcpy(dst + len, src, k);
	return len + k;
}

/* RFC 2231 section 4: charset'language'%XX-encoded octets. */
static size_t
pct_decode(struct mx_mime *m, char *dst, size_t size, size_t len,
		const char *v, size_t n)
{
	size_t i;

	for (i = 0; i < n && len + 1 < size; i++) {
		int h, l;

		if (v[i] == '%' && i + 2 < n && (h = hexval((uint8_t)v[i + 1])) >= 0 &&
				(l = hexval((uint8_t)v[i + 2])) >= 0) {
			dst[len++] = (char)(h << 4 | l);
			i += 2;
			continue;
		}
		if (v[i] == '%')
			defect(m, MX_CONTENT_D_BAD_PARAM);
		dst[len++] = v[i];
	}
	return len;
}

/* Joins name*0, name*1*, ... in index order (RFC 2231 section 3). */
static size_t
segs_join(struct mx_mime *m, struct pcollect *pc, char *dst, size_t size)
{
	size_t len = 0;
	unsigned want, k;

	for (want = 0; want < MX_MIME_SEGS; want++) {
		struct pseg *s = NULL;

		for (k = 0; k < pc->n_seg; k++)
			if (pc->seg[k].idx == want)
				s = &pc->seg[k];
		if (s == NULL)
			break;
		if (!s->ext) {
			len = put_bytes(dst, size, len, s->v, s->len);
			continue;
		}
		if (want == 0) {
			const char *q1 = memchr(s->v, '\'', s->len);
			const char *q2 = q1 == NULL ? NULL :
				memchr(q1 + 1, '\'', s->len - (size_t)(q1 + 1 - s->v));

			if (q2 == NULL) {
				defect(m, MX_CONTENT_D_BAD_PARAM);
			} else {
				len = pct_decode(m, dst, size, len, q2 + 1,
						s->len - (size_t)(q2 + 1 - s->v));
				continue;
			}
		}
		len = pct_decode(m, dst, size, len, s->v, s->len);
	}
	if (want < pc->n_seg)
		defect(m, MX_CONTENT_D_BAD_PARAM);  /* a gap in the indexes */
	dst[len] = '\0';
	return len;
}

static size_t
pc_name(struct mx_mime *m, struct pcollect *pc, char *dst, size_t size)
{
	bool bad = false;
	size_t len;

	if (pc->n_seg > 0)
		return segs_join(m, pc, dst, size);
	if (pc->plain == NULL)
		return 0;
	/* RFC 2047 section 5 forbids encoded words in quoted strings, but
	 * common mailers put them in file names, so they are decoded. */
	len = mx_mime_decode_2047(pc->plain, pc->plain_len, dst, size, &bad);
	if (bad)
		defect(m, MX_CONTENT_D_BAD_ENCODED_WORD);
	return len;
}

static size_t
token_end(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && p[i] != ';' && !is_wsp((uint8_t)p[i]))
		i++;
	return i;
}

static void
hdr_content_type(struct mx_mime *m, char *v, size_t n)
{
	struct pcollect pc = { .base = "name", .want_boundary = true };
	size_t t = token_end(v, n), i;
	struct mx_mime_ent *e = &m->ent;

	e->type_len = MX_MIN(t, sizeof(e->type) - 1);
	for (i = 0; i < e->type_len; i++)
		e->type[i] = (char)lower((uint8_t)v[i]);
	e->type[e->type_len] = '\0';
	e->has_bnd = false;
	params_parse(m, v + t, n - t, &pc);
	e->ct_name_len = pc_name(m, &pc, e->ct_name, sizeof(e->ct_name));
}

static void
hdr_disposition(struct mx_mime *m, char *v, size_t n)
{
	struct pcollect pc = { .base = "filename" };
	size_t t = token_end(v, n);

	m->ent.attachment = ieq(v, t, "attachment");
	params_parse(m, v + t, n - t, &pc);
	m->ent.fname_len = pc_name(m, &pc, m->ent.fname, sizeof(m->ent.fname));
}

static void
hdr_cte(struct mx_mime *m, const char *v, size_t n)
{
	size_t t = token_end(v, n);

	if (ieq(v, t, "base64"))
		m->ent.cte = MX_MIME_CTE_BASE64;
	else if (ieq(v, t, "quoted-printable"))
		m->ent.cte = MX_MIME_CTE_QP;
	else
		m->ent.cte = MX_MIME_CTE_IDENTITY;
}

/* ---- header section ---- */

static void
field_add(struct mx_mime *m, uint8_t c)
{
	if (m->field_len < sizeof(m->field))
		m->field[m->field_len++] = (char)c;
	else
		m->field_trunc = true;
}

static void
field_end(struct mx_mime *m)
{
	size_t i, n = m->field_len, v0;
	char *f = m->field;

	if (!m->have_field)
		return;
	m->have_field = false;
	if (m->field_trunc)
		defect(m, MX_CONTENT_D_HEADER_TOO_LONG);
	for (i = 0; i < n && f[i] != ':'; i++) {
		if ((uint8_t)f[i] <= ' ' || (uint8_t)f[i] >= 127)
			break;
	}
	if (i == 0 || i == n || f[i] != ':') {
		/* RFC 5322 section 2.2: a field name is printable US-ASCII
		 * up to the colon. */
		defect(m, MX_CONTENT_D_BAD_HEADER);
		return;
	}
	v0 = i + 1;
	while (v0 < n && is_wsp((uint8_t)f[v0]))
		v0++;
	while (n > v0 && (is_wsp((uint8_t)f[n - 1]) || f[n - 1] == '\r'))
		n--;
	m->ops->header(m->u, m->depth, (struct mx_str){ i, f },
			(struct mx_str){ n - v0, f + v0 });
	if (ieq(f, i, "content-type"))
		hdr_content_type(m, f + v0, n - v0);
	else if (ieq(f, i, "content-transfer-encoding"))
		hdr_cte(m, f + v0, n - v0);
	else if (ieq(f, i, "content-disposition"))
		hdr_disposition(m, f + v0, n - v0);
}

static void
ent_reset(struct mx_mime *m)
{
	memset(&m->ent, 0, sizeof(m->ent));
	m->have_field = false;
	m->field_len = 0;
	m->field_trunc = false;
	m->hdr_bol = true;
	m->hdr_cr = false;
}

static void
decoders_reset(struct mx_mime *m)
{
	m->b64_acc = 0;
	m->b64_n = 0;
	m->qp_st = QP_TEXT;
	m->out_len = 0;
}

static void
to_body(struct mx_mime *m, enum mime_body b)
{
	m->st = ST_BODY;
	m->body = b;
	m->bol = true;
	m->lb_len = 0;
	decoders_reset(m);
}

static void
emit_part(struct mx_mime *m)
{
	struct mx_mime_ent *e = &m->ent;
	struct mx_mime_part part = {
		.type = e->type,
		.type_len = e->type_len,
		.name = e->fname_len > 0 ? e->fname : e->ct_name,
		.name_len = e->fname_len > 0 ? e->fname_len : e->ct_name_len,
		.attachment = e->attachment,
		.text = strncmp(e->type, "text/", 5) == 0,
		.depth = m->depth,
	};

	if (part.name_len == 0)
		part.name = "";
	m->ops->part(m->u, &part);
	to_body(m, part.text ? BODY_TEXT : BODY_DISCARD);
}

/* The blank line after a header section: what is the body? */
static void
ent_done(struct mx_mime *m)
{
	struct mx_mime_ent *e = &m->ent;

	field_end(m);
	m->top = false;
	if (e->type_len == 0 || memchr(e->type, '/', e->type_len) == NULL) {
		/* RFC 2045 section 5.2: the default is text/plain. */
		memcpy(e->type, "text/plain", sizeof("text/plain"));
		e->type_len = sizeof("text/plain") - 1;
	}
	if (strncmp(e->type, "multipart/", 10) == 0) {
		if (!e->has_bnd) {
			defect(m, MX_CONTENT_D_MISSING_BOUNDARY);
			to_body(m, BODY_DISCARD);
		} else if (m->n_bnd == MX_MIME_MAX_DEPTH) {
			defect(m, MX_CONTENT_D_NESTING_TOO_DEEP);
			to_body(m, BODY_DISCARD);
		} else {
			m->bnd[m->n_bnd++] = e->bnd;
			to_body(m, BODY_DISCARD);  /* the preamble */
		}
		return;
	}
	if (strcmp(e->type, "message/rfc822") == 0 &&
			e->cte == MX_MIME_CTE_IDENTITY) {
		/* RFC 2046 section 5.2.1: an encapsulated message; walk
		 * its header and body as a nested entity. */
		m->depth++;
		ent_reset(m);
		return;
	}
	emit_part(m);
}

/* Is this header line (the whole field so far) a boundary delimiter?
 * A part whose header section is cut short by the next delimiter. */
static int bnd_match(const struct mx_mime *m, const uint8_t *l, size_t n, bool *close);
static void on_delimiter(struct mx_mime *m, int k, bool close);

static bool
hdr_line_is_delim(struct mx_mime *m)
{
	bool close;
	size_t n = m->field_len;
	int k;

	if (m->n_bnd == 0 || m->field_trunc)
		return false;
	k = bnd_match(m, (const uint8_t *)m->field, n, &close);
	if (k < 0)
		return false;
	m->have_field = false;
	defect(m, MX_CONTENT_D_BAD_HEADER);
	on_delimiter(m, k, close);
	return true;
}

static size_t
hdr_feed(struct mx_mime *m, const uint8_t *p, size_t n)
{
	bool was_top = m->top;
	size_t i;

	for (i = 0; i < n && m->st == ST_HDR; i++) {
		uint8_t c = p[i];

		if (m->hdr_bol) {
			if (c == '\n') {
				ent_done(m);
				if (was_top) {
					/* Only the top section is header_raw,
					 * even if an encapsulated message's
					 * header follows in this chunk. */
					i++;
					break;
				}
				continue;
			}
			if (m->hdr_cr) {
				m->hdr_cr = false;
				m->hdr_bol = false;
				field_end(m);
				m->have_field = true;
				m->field_len = 0;
				m->field_trunc = false;
				field_add(m, '\r');
			} else if (c == '\r') {
				m->hdr_cr = true;
				continue;
			} else if (is_wsp(c) && m->have_field) {
				m->hdr_bol = false;  /* folded continuation */
			} else {
				field_end(m);
				m->have_field = true;
				m->field_len = 0;
				m->field_trunc = false;
				m->hdr_bol = false;
			}
		}
		if (c == '\n') {
			if (m->field_len > 0 && m->field[m->field_len - 1] == '\r')
				m->field_len--;
			m->hdr_bol = true;
			if (hdr_line_is_delim(m) && m->st != ST_HDR) {
				i++;
				break;
			}
			continue;
		}
		field_add(m, c);
	}
	if (was_top && m->ops->header_raw != NULL)
		m->ops->header_raw(m->u, p, i);
	return i;
}

/* ---- body ---- */

static int
bnd_match(const struct mx_mime *m, const uint8_t *l, size_t n, bool *close)
{
	int k;

	while (n > 0 && (l[n - 1] == '\n' || l[n - 1] == '\r' || is_wsp(l[n - 1])))
		n--;
	if (n < 3 || l[0] != '-' || l[1] != '-')
		return -1;
	l += 2;
	n -= 2;
	/* Innermost first; an outer delimiter also ends the inner
	 * multiparts (RFC 2046 section 5.1.2 asks for unique boundaries). */
	for (k = (int)m->n_bnd - 1; k >= 0; k--) {
		const struct mx_mime_bnd *b = &m->bnd[k];

		if (n < b->len || memcmp(l, b->b, b->len) != 0)
			continue;
		if (n == b->len) {
			*close = false;
			return k;
		}
		if (n == (size_t)b->len + 2 && l[b->len] == '-' && l[b->len + 1] == '-') {
			*close = true;
			return k;
		}
	}
	return -1;
}

static void
on_delimiter(struct mx_mime *m, int k, bool close)
{
	part_end(m);
	if ((unsigned)k + 1 < m->n_bnd)
		defect(m, MX_CONTENT_D_UNTERMINATED_MULTIPART);
	if (close) {
		m->n_bnd = (unsigned)k;
		to_body(m, BODY_DISCARD);  /* the epilogue */
		return;
	}
	m->n_bnd = (unsigned)k + 1;
	m->depth = (unsigned)k + 1;
	m->st = ST_HDR;
	ent_reset(m);
}

static void
line_done(struct mx_mime *m)
{
	bool close = false;
	int k = bnd_match(m, m->lb, m->lb_len, &close);

	if (k < 0) {
		body_out(m, m->lb, m->lb_len);
		m->lb_len = 0;
		m->bol = true;
		return;
	}
	m->lb_len = 0;
	m->bol = true;
	on_delimiter(m, k, close);
}

static size_t
body_feed(struct mx_mime *m, const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n && m->st == ST_BODY) {
		const uint8_t *nl;
		size_t run;

		if (m->bol && m->n_bnd > 0) {
			uint8_t c = p[i];

			if (m->lb_len < 2 && c != '-') {
				/* Cannot be a delimiter: flush and pass. */
				body_out(m, m->lb, m->lb_len);
				m->lb_len = 0;
				m->bol = false;
				continue;
			}
			m->lb[m->lb_len++] = c;
			i++;
			if (c == '\n')
				line_done(m);
			else if (m->lb_len == sizeof(m->lb)) {
				body_out(m, m->lb, m->lb_len);
				m->lb_len = 0;
				m->bol = false;
			}
			continue;
		}
		nl = memchr(p + i, '\n', n - i);
		run = nl != NULL ? (size_t)(nl - (p + i)) + 1 : n - i;
		body_out(m, p + i, run);
		i += run;
		if (nl != NULL)
			m->bol = true;
	}
	return i;
}

/* ---- public ---- */

void
mx_mime_init(struct mx_mime *m, const struct mx_mime_ops *ops, void *u)
{
	memset(m, 0, sizeof(*m));
	m->ops = ops;
	m->u = u;
	mx_mime_reset(m);
}

void
mx_mime_reset(struct mx_mime *m)
{
	m->st = ST_HDR;
	m->depth = 0;
	m->top = true;
	ent_reset(m);
	m->body = BODY_DISCARD;
	m->bol = true;
	m->lb_len = 0;
	m->n_bnd = 0;
	decoders_reset(m);
	m->defects = 0;
}

void
mx_mime_feed(struct mx_mime *m, const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (m->st == ST_HDR)
			i += hdr_feed(m, p + i, n - i);
		else
			i += body_feed(m, p + i, n - i);
	}
}

void
mx_mime_finish(struct mx_mime *m)
{
	if (m->st == ST_HDR) {
		if (!hdr_line_is_delim(m))
			field_end(m);
	} else if (m->lb_len > 0) {
		line_done(m);
	}
	part_end(m);
	if (m->n_bnd > 0)
		defect(m, MX_CONTENT_D_UNTERMINATED_MULTIPART);
	m->n_bnd = 0;
}

/* ---- RFC 2047 encoded words ---- */

static size_t
ew_b(const char *t, size_t n, char *dst, size_t size, size_t len, bool *bad)
{
	uint32_t acc = 0;
	unsigned k = 0;
	size_t i;

	for (i = 0; i < n && len + 1 < size; i++) {
		int v = b64val((uint8_t)t[i]);

		if (v < 0) {
			if (t[i] != '=')
				*bad = true;
			continue;
		}
		acc = acc << 6 | (uint32_t)v;
		if (++k == 4) {
			dst[len++] = (char)(acc >> 16);
			if (len + 1 < size)
				dst[len++] = (char)(acc >> 8);
			if (len + 1 < size)
				dst[len++] = (char)acc;
			k = 0;
			acc = 0;
		}
	}
	if (k == 2 && len + 1 < size)
		dst[len++] = (char)(acc >> 4);
	if (k == 3 && len + 2 < size) {
		dst[len++] = (char)(acc >> 10);
		dst[len++] = (char)(acc >> 2);
	}
	if (k == 1)
		*bad = true;
	return len;
}

static size_t
ew_q(const char *t, size_t n, char *dst, size_t size, size_t len, bool *bad)
{
	size_t i;

	for (i = 0; i < n && len + 1 < size; i++) {
		int h, l;

		if (t[i] == '_') {
			dst[len++] = ' ';  /* RFC 2047 section 4.2 (2) */
		} else if (t[i] == '=' && i + 2 < n &&
				(h = hexval((uint8_t)t[i + 1])) >= 0 &&
				(l = hexval((uint8_t)t[i + 2])) >= 0) {
			dst[len++] = (char)(h << 4 | l);
			i += 2;
		} else {
			if (t[i] == '=')
				*bad = true;
			dst[len++] = t[i];
		}
	}
	return len;
}

/* Parses =?charset?E?text?= at s[0..n); returns its length or 0. */
static size_t
ew_parse(const char *s, size_t n, char *dst, size_t size, size_t *len, bool *bad)
{
	size_t i = 2, t0, t1;
	char enc;

	while (i < n && s[i] != '?' && !is_wsp((uint8_t)s[i]) && i < 66)
		i++;
	if (i == 2 || i + 3 >= n || s[i] != '?' || s[i + 2] != '?')
		return 0;
	enc = (char)lower((uint8_t)s[i + 1]);
	if (enc != 'b' && enc != 'q')
		return 0;
	t0 = i + 3;
	for (t1 = t0; t1 + 1 < n; t1++) {
		if (is_wsp((uint8_t)s[t1]))
			return 0;
		if (s[t1] == '?' && s[t1 + 1] == '=')
			break;
	}
	if (t1 + 1 >= n)
		return 0;
	if (enc == 'b')
		*len = ew_b(s + t0, t1 - t0, dst, size, *len, bad);
	else
		*len = ew_q(s + t0, t1 - t0, dst, size, *len, bad);
	return t1 + 2;
}

size_t
mx_mime_decode_2047(const char *src, size_t n, char *dst, size_t size, bool *bad)
{
	size_t i = 0, len = 0, ws0 = 0;
	bool last_ew = false;

	if (size == 0)
		return 0;
	while (i < n && len + 1 < size) {
		if (src[i] == '=' && i + 1 < n && src[i + 1] == '?') {
			size_t k;

			/* RFC 2047 section 6.2: white space between two
			 * adjacent encoded words is not displayed. */
			if (!last_ew)
				ws0 = i;
			k = ew_parse(src + i, n - i, dst, size, &len, bad);
			if (k > 0) {
				i += k;
				last_ew = true;
				ws0 = i;
				continue;
			}
			*bad = true;
		}
		if (last_ew && is_wsp((uint8_t)src[i])) {
			i++;
			continue;
		}
		if (last_ew) {
			len = put_bytes(dst, size, len, src + ws0, i - ws0);
			last_ew = false;
		}
		if (len + 1 < size)
			dst[len++] = src[i];
		i++;
	}
	if (last_ew)
		len = put_bytes(dst, size, len, src + ws0, i - ws0);
	dst[len] = '\0';
	return len;
}
