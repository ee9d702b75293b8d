/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The RFC 5322.From domain for DMARC (RFC 7489 3.1, 6.6.1). The From field
 * is an address-list (RFC 5322 3.6.2, 3.4): display names, quoted strings,
 * comments (nested), angle addresses and groups. This reader walks the
 * unfolded value once, outside quotes and comments, splits mailboxes on
 * ',' (and group ':' ';'), and takes the domain of each addr-spec: the
 * text after the last '@' inside <...>, or of the bare mailbox. All domains
 * must agree. The value is peer data: every index is bounded by its length.
 */
#include <errno.h>
#include <string.h>

#include "mx_dmarc.h"

struct from_scan {
	char dom[MX_DMARC_DOMAIN_MAX];
	bool have;
	bool conflict;
	bool bad;
};

/* A domain usable for DMARC: LDH labels (and UTF-8 octets for SMTPUTF8
 * mail), 1..63 octets each, 253 at most; no domain-literal. */
static bool
domain_ok(const char *d, size_t n)
{
	size_t i, label = 0;

	if (n == 0 || n > MX_DMARC_DOMAIN_MAX - 1)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
				c == '-' || c == '_' || c >= 0x80))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

/* addr is one addr-spec with comments already removed. */
static void
take_addr(struct from_scan *fs, const char *addr, size_t n)
{
	char dom[MX_DMARC_DOMAIN_MAX];
	size_t at, i, dn = 0;

	for (at = n; at > 0 && addr[at - 1] != '@'; at--)
		;
	if (at == 0) {
		fs->bad = true;
		return;
	}
	for (i = at; i < n; i++) {
		char c = addr[i];

		if (c == ' ' || c == '\t')
			continue;
		if (dn >= sizeof(dom) - 1) {
			fs->bad = true;
			return;
		}
		dom[dn++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	if (dn > 0 && dom[dn - 1] == '.')
		dn--;
	if (!domain_ok(dom, dn)) {
		fs->bad = true;
		return;
	}
	dom[dn] = '\0';
	if (!fs->have) {
		memcpy(fs->dom, dom, dn + 1);
		fs->have = true;
	} else if (strcmp(fs->dom, dom) != 0) {
		fs->conflict = true;
	}
}

struct mbox {
	char buf[1024];   /* the mailbox without comments, or its <...> part */
	size_t n;
	bool angle_open;
	bool angle_done;
	bool overflow;
	bool any;         /* non-blank content seen */
};

static void
mbox_put(struct mbox *mb, char c)
{
	if (mb->angle_done)
		return;
	if (c != ' ' && c != '\t')
		mb->any = true;
	if (mb->n >= sizeof(mb->buf)) {
		mb->overflow = true;
		return;
	}
	mb->buf[mb->n++] = c;
}

static void
mbox_end(struct from_scan *fs, struct mbox *mb)
{
	if (mb->overflow)
		fs->bad = true;
	else if (mb->any || mb->angle_done)
		take_addr(fs, mb->buf, mb->n);
	memset(mb, 0, sizeof(*mb));
}

/* '<' starts the angle-addr: what came before was the display name. */
static void
mbox_angle(struct mbox *mb, char c)
{
	if (c == '<' && !mb->angle_open && !mb->angle_done) {
		mb->n = 0;
		mb->any = false;
		mb->angle_open = true;
	} else if (c == '>' && mb->angle_open) {
		mb->angle_open = false;
		mb->angle_done = true;
	}
}

static void
scan_value(struct from_scan *fs, struct mx_str v)
{
	struct mbox mb;
	unsigned depth = 0;
	bool quoted = false;
	size_t i;

	memset(&mb, 0, sizeof(mb));
	for (i = 0; i < v.len; i++) {
		char c = v.p[i];

		if (c == '\\' && (quoted || depth > 0) && i + 1 < v.len) {
			if (depth == 0)
				mbox_put(&mb, v.p[++i]);
			else
				i++;
			continue;
		}
		if (depth > 0) {
			depth += c == '(';
			depth -= c == ')';
			continue;
		}
		if (c == '"') {
			quoted = !quoted;
			mbox_put(&mb, c);
		} else if (quoted) {
			mbox_put(&mb, c);
		} else if (c == '(') {
			depth = 1;
		} else if (c == '<' || c == '>') {
			mbox_angle(&mb, c);
		} else if (c == ',' || c == ';' || (c == ':' && !mb.angle_open)) {
			/* ':' outside <> ends a group's display name (3.4). */
			if (c == ':')
				memset(&mb, 0, sizeof(mb));
			else
				mbox_end(fs, &mb);
		} else {
			mbox_put(&mb, c);
		}
	}
	if (quoted || depth > 0 || mb.angle_open)
		fs->bad = true;
	mbox_end(fs, &mb);
}

int
mx_dmarc_from_domain(const struct mx_msg *m, char dom[MX_DMARC_DOMAIN_MAX])
{
	struct from_scan fs;
	const struct mx_hdr *h;
	unsigned idx = 0;

	memset(&fs, 0, sizeof(fs));
	dom[0] = '\0';
	h = mx_msg_find_hdr(m, "From", &idx);
	if (h == NULL)
		return -ENOENT;
	if (mx_msg_find_hdr(m, "From", &idx) != NULL)
		return -EMLINK;
	scan_value(&fs, h->value);
	if (fs.conflict)
		return -EXDEV;
	if (fs.bad || !fs.have)
		return -EINVAL;
	memcpy(dom, fs.dom, strlen(fs.dom) + 1);
	return 0;
}
