/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * header_parse.c: the incremental RFC 5322 header-section parser behind
 * mx_msg_append(). It sees every message byte once, in order, while the
 * header section lasts, and keeps all of its state in m->hp, so any split
 * of the input gives the same index. Bytes come from the peer: nothing
 * here asserts on them, every store is bounded by max_header_bytes and
 * every index entry by max_headers; anomalies become enum mx_hdr_flag bits
 * for policy to judge.
 *
 * Rules:
 * - A field ends at CRLF not followed by WSP; CRLF WSP is folding
 *   (RFC 5322 2.2.3) and stays in raw, is removed from value.
 * - The section ends at the first empty line (RFC 5322 2.1); body_offset
 *   is the byte after it.
 * - A field starts with a name: one or more bytes up to ':' with optional
 *   WSP between name and colon (obs-optional, RFC 5322 4.5.8, allows it).
 *   A line that is not of that shape and is not a continuation (no colon,
 *   WSP inside the name, a leading ':') ends the section early with
 *   MX_HDR_F_NO_COLON and body_offset at that line, like Postfix's
 *   is_header(): so an mbox "From " line on top leaves no header at all.
 *   A first line that starts with WSP (a continuation of nothing) ends the
 *   section the same way, flagged MX_HDR_F_LEADING_WSP.
 * - Name bytes outside ftext (RFC 5322 3.6.8: printable US-ASCII except
 *   ':') flag MX_HDR_F_BAD_NAME; the field is still indexed.
 * - CR and LF count as a line end only as the pair CRLF (the SMTP layer
 *   guarantees CRLF; RFC 5322 2.3 forbids bare CR and LF). A bare CR or LF
 *   is an ordinary byte, so LF-only input is one long, truncated field.
 * - A field longer than max_header_bytes keeps its first max_header_bytes
 *   bytes in the index (MX_HDR_F_TOO_LONG); fields past max_headers are
 *   parsed but not indexed (MX_HDR_F_TOO_MANY). NUL and 8-bit bytes in a
 *   field flag MX_HDR_F_NUL / MX_HDR_F_8BIT.
 *
 * Memory: the field being read grows in the arena (in place while it is
 * the newest allocation), so a field costs its own length; value points
 * into raw unless unfolding had to remove a CRLF.
 */
#include <errno.h>
#include <string.h>

#include "mx_base.h"
#include "mx_msg.h"
#include "msg_priv.h"

enum hp_state {
	HP_LINE0 = 0, /* first line of the section, no field open */
	HP_NAME,      /* in the field name */
	HP_NAME_WSP,  /* WSP after the name, before the colon */
	HP_VALUE,     /* after the colon */
	HP_EOL,       /* CRLF seen after a value: fold, next field or end */
	HP_DONE,
};

#define HP_BUF_MIN ((size_t)128)

static inline bool
is_wsp(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* RFC 5322 3.6.8: ftext = %d33-57 / %d59-126. */
static inline bool
is_ftext(uint8_t c)
{
	return c >= 33 && c <= 126 && c != ':';
}

void
mx_msg_hdr_init(struct mx_msg *m)
{
	memset(&m->hp, 0, sizeof(m->hp));
	m->hp.state = HP_LINE0;
}

/* Forgets the open field and gives its buffer back to the arena. */
static void
hp_drop(struct mx_msg *m)
{
	mx_msg_arena_trim(m, m->hp.buf, m->hp.cap, 0);
	m->hp.buf = NULL;
	m->hp.len = 0;
	m->hp.cap = 0;
	m->hp.name_len = 0;
	m->hp.flags = 0;
	m->hp.skip = false;
	m->hp.truncated = false;
}

static void
hp_end(struct mx_msg *m, size_t body_offset)
{
	hp_drop(m);
	m->hp.state = HP_DONE;
	m->hdrs_done = true;
	m->body_offset = body_offset;
}

static void
hp_open(struct mx_msg *m, size_t off)
{
	hp_drop(m);
	m->hp.field_start = off;
	if (m->n_hdrs >= m->max_headers) {
		m->hp.skip = true;
		m->hp.flags |= MX_HDR_F_TOO_MANY;
	}
	m->hp.state = HP_NAME;
}

/* Room for need bytes in the field buffer (need <= max_header_bytes). */
static int
hp_reserve(struct mx_msg *m, size_t need)
{
	size_t cap;
	char *p;

	if (need <= m->hp.cap)
		return 0;
	cap = MX_MAX(MX_MAX(m->hp.cap * 2, HP_BUF_MIN), need);
	cap = MX_MIN(cap, m->max_header_bytes);
	p = mx_msg_arena_grow(m, m->hp.buf, m->hp.cap, cap);
	if (p == NULL)
		return -ENOMEM;
	m->hp.buf = p;
	m->hp.cap = cap;
	return 0;
}

/* Stores bytes of the field, up to max_header_bytes; the rest is
 * dropped and flagged. */
static int
hp_put_n(struct mx_msg *m, const uint8_t *src, size_t n)
{
	size_t take;
	int rc;

	if (m->hp.skip || n == 0)
		return 0;
	take = MX_MIN(n, m->max_header_bytes - m->hp.len);
	if (take < n) {
		m->hp.truncated = true;
		m->hp.flags |= MX_HDR_F_TOO_LONG;
	}
	if (take == 0)
		return 0;
	rc = hp_reserve(m, m->hp.len + take);
	if (rc != 0)
		return rc;
	memcpy(m->hp.buf + m->hp.len, src, take);
	m->hp.len += take;
	return 0;
}

static int
hp_put(struct mx_msg *m, uint8_t c)
{
	return hp_put_n(m, &c, 1);
}

static inline void
hp_flag_byte(struct mx_msg *m, uint8_t c)
{
	if (c == 0)
		m->hp.flags |= MX_HDR_F_NUL;
	else if (c >= 0x80)
		m->hp.flags |= MX_HDR_F_8BIT;
}

static int
hdrs_reserve(struct mx_msg *m)
{
	unsigned cap;
	void *p;

	if (m->n_hdrs < m->hdr_cap)
		return 0;
	cap = m->hdr_cap == 0 ? 16 : m->hdr_cap * 2;
	if (cap > m->max_headers || cap < m->hdr_cap)
		cap = m->max_headers;
	p = mx_msg_arena_grow(m, m->hdrs, m->hdr_cap * sizeof(*m->hdrs),
			(size_t)cap * sizeof(*m->hdrs));
	if (p == NULL)
		return -ENOMEM;
	m->hdrs = p;
	m->hdr_cap = cap;
	return 0;
}

static struct mx_str
trim_wsp(const char *p, size_t n)
{
	while (n > 0 && is_wsp((uint8_t)p[0])) {
		p++;
		n--;
	}
	while (n > 0 && is_wsp((uint8_t)p[n - 1]))
		n--;
	return (struct mx_str){ n, p };
}

/* RFC 5322 2.2.3: unfolding removes each CRLF that precedes WSP. In the
 * field buffer every CRLF pair is such a fold (a field-ending CRLF is
 * never stored), so every pair goes. */
static int
unfold_value(struct mx_msg *m, const char *v, size_t n, struct mx_str *out)
{
	size_t i, k = 0;
	char *dst;

	if (n < 2 || memmem(v, n, "\r\n", 2) == NULL) {
		*out = trim_wsp(v, n);
		return 0;
	}
	dst = mx_msg_arena_alloc(m, n);
	if (dst == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (v[i] == '\r' && i + 1 < n && v[i + 1] == '\n') {
			i++;
			continue;
		}
		dst[k++] = v[i];
	}
	mx_msg_arena_trim(m, dst, n, k);
	*out = trim_wsp(dst, k);
	return 0;
}

/* The open field is complete: index it. */
static int
hp_commit(struct mx_msg *m)
{
	size_t len = m->hp.len, name_len = m->hp.name_len, vs;
	struct mx_hdr h;
	int rc;

	m->hdr_flags |= m->hp.flags;
	if (m->hp.skip) {
		hp_drop(m);
		return 0;
	}
	/* The buffer becomes the index entry's raw text. */
	mx_msg_arena_trim(m, m->hp.buf, m->hp.cap, len);
	m->hp.cap = len;
	rc = hdrs_reserve(m);
	if (rc != 0)
		return rc;
	/* name_len == len when truncation dropped the colon. */
	vs = name_len < len ? name_len + 1 : len;
	h.raw = (struct mx_str){ len, m->hp.buf };
	h.name = trim_wsp(m->hp.buf, name_len);
	h.offset = m->hp.field_start;
	rc = unfold_value(m, m->hp.buf + vs, len - vs, &h.value);
	if (rc != 0)
		return rc;
	m->hdrs[m->n_hdrs++] = h;
	m->hp.buf = NULL;
	m->hp.cap = 0;
	hp_drop(m);
	return 0;
}

static int
hp_name(struct mx_msg *m, uint8_t c)
{
	hp_flag_byte(m, c);
	if (c == ':') {
		m->hp.name_len = m->hp.len;
		m->hp.state = HP_VALUE;
	} else if (is_wsp(c)) {
		m->hp.state = HP_NAME_WSP;
	} else if (!is_ftext(c)) {
		m->hp.flags |= MX_HDR_F_BAD_NAME;
	}
	return hp_put(m, c);
}

/* First byte of a line that is neither a fold nor the empty line. */
static int
hp_line_start(struct mx_msg *m, uint8_t c, size_t off)
{
	if (c == ':') {
		m->hdr_flags |= MX_HDR_F_NO_COLON;
		hp_end(m, off);
		return 0;
	}
	hp_open(m, off);
	return hp_name(m, c);
}

static int
hp_fold(struct mx_msg *m, uint8_t c)
{
	int rc;

	rc = hp_put(m, '\r');
	if (rc == 0)
		rc = hp_put(m, '\n');
	if (rc == 0)
		rc = hp_put(m, c);
	m->hp.state = HP_VALUE;
	return rc;
}

static int
hp_char(struct mx_msg *m, uint8_t c, size_t off)
{
	int rc;

	switch (m->hp.state) {
	case HP_LINE0:
		if (is_wsp(c)) {
			m->hdr_flags |= MX_HDR_F_LEADING_WSP;
			hp_end(m, off);
			return 0;
		}
		return hp_line_start(m, c, off);
	case HP_NAME:
		return hp_name(m, c);
	case HP_NAME_WSP:
		if (c == ':' || is_wsp(c))
			return hp_name(m, c);
		/* "From sender date": not a header field. */
		m->hdr_flags |= MX_HDR_F_NO_COLON;
		hp_end(m, m->hp.field_start);
		return 0;
	case HP_VALUE:
		hp_flag_byte(m, c);
		return hp_put(m, c);
	case HP_EOL:
		if (is_wsp(c))
			return hp_fold(m, c);
		rc = hp_commit(m);
		if (rc != 0)
			return rc;
		return hp_line_start(m, c, off);
	default:
		return 0;
	}
}

/* CRLF whose LF is at lf_off. */
static int
hp_eol(struct mx_msg *m, size_t lf_off)
{
	int rc;

	switch (m->hp.state) {
	case HP_LINE0:
		hp_end(m, lf_off + 1);
		return 0;
	case HP_NAME:
	case HP_NAME_WSP:
		m->hdr_flags |= MX_HDR_F_NO_COLON;
		hp_end(m, m->hp.field_start);
		return 0;
	case HP_VALUE:
		m->hp.state = HP_EOL;
		return 0;
	case HP_EOL:
		rc = hp_commit(m);
		hp_end(m, lf_off + 1);
		return rc;
	default:
		return 0;
	}
}

static int
hp_byte(struct mx_msg *m, uint8_t c, size_t off)
{
	int rc;

	if (m->hp.cr) {
		m->hp.cr = false;
		if (c == '\n')
			return hp_eol(m, off);
		/* A bare CR: an ordinary byte, then c as usual. */
		rc = hp_char(m, '\r', off - 1);
		if (rc != 0 || m->hp.state == HP_DONE)
			return rc;
	}
	if (c == '\r') {
		m->hp.cr = true;
		return 0;
	}
	return hp_char(m, c, off);
}

/* Fast path for the bulk of a header section: the bytes of a value up to
 * the next CR, in one go. Same effect as hp_char() on each of them. */
static int
hp_value_run(struct mx_msg *m, const uint8_t *p, size_t n, size_t *used)
{
	const uint8_t *cr = memchr(p, '\r', n);
	size_t i, k = cr != NULL ? (size_t)(cr - p) : n;

	for (i = 0; i < k; i++)
		hp_flag_byte(m, p[i]);
	*used = k;
	return hp_put_n(m, p, k);
}

int
mx_msg_hdr_feed(struct mx_msg *m, const uint8_t *p, size_t n, size_t base)
{
	size_t i = 0, k;
	int rc;

	while (i < n && m->hp.state != HP_DONE) {
		if (m->hp.state == HP_VALUE && !m->hp.cr && p[i] != '\r') {
			rc = hp_value_run(m, p + i, n - i, &k);
			i += k;
		} else {
			rc = hp_byte(m, p[i], base + i);
			i++;
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* End of data without an empty line. Allocation failures here only cost
 * the last field its index entry: the msg itself stays usable. */
void
mx_msg_hdr_finish(struct mx_msg *m)
{
	if (m->hp.state == HP_DONE)
		return;
	if (m->hp.cr) {
		m->hp.cr = false;
		(void)hp_char(m, '\r', m->size - 1);
		if (m->hp.state == HP_DONE)
			return;
	}
	switch (m->hp.state) {
	case HP_NAME:
	case HP_NAME_WSP:
		m->hdr_flags |= MX_HDR_F_NO_COLON;
		hp_end(m, m->hp.field_start);
		break;
	case HP_VALUE:
	case HP_EOL:
		(void)hp_commit(m);
		hp_end(m, m->size);
		break;
	default:
		hp_end(m, m->size);
		break;
	}
}
