/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_authres: the Authentication-Results header field (RFC 8601) that
 * mxedge prepends to a verified message, and the detection of incoming
 * Authentication-Results fields that claim our authserv-id (RFC 8601 5:
 * a border MTA must remove or rename them so that the downstream cannot be
 * fooled by a forged result).
 *
 * Both are pure functions: no allocation, no I/O, reentrant, callable from
 * any thread. Property values (domains, addresses, selectors) come from
 * peers; each is written as an RFC 2045 token when it is one, else as a
 * quoted-string with '"' and '\' escaped and bytes outside printable ASCII
 * replaced by '?', so no value can inject a field or a result.
 */
#ifndef MX_AUTHRES_H
#define MX_AUTHRES_H

#include <stdbool.h>
#include <stddef.h>

#include "mx_base.h"
#include "mx_msg.h"
#include "mx_verdict.h"

struct mx_authres_dkim {
	struct mx_str domain;   /* d= */
	struct mx_str selector; /* s= */
	enum mx_auth_result result;
};

struct mx_authres {
	struct mx_str authserv_id;
	bool has_spf;
	enum mx_auth_result spf;
	struct mx_str mailfrom;  /* smtp.mailfrom: the checked identity */
	bool has_helo;
	enum mx_auth_result helo;
	struct mx_str helo_name; /* smtp.helo */
	bool has_dkim;           /* DKIM ran: no signature gives dkim=none */
	const struct mx_authres_dkim *dkim;
	unsigned n_dkim;
	bool has_dmarc;
	enum mx_auth_result dmarc;
	struct mx_str from_domain; /* header.from */
};

/*
 * Writes the field. With fold, the complete field "Authentication-Results:
 * id;\r\n\tspf=...;\r\n\t...\r\n", ready for mx_msg_prepend(); without, only
 * the value on one line ("id; spf=...; dkim=...") for logs and JSON. The
 * output is NUL-terminated; *len excludes the NUL. Returns 0 or -ENOSPC
 * (buf too small; buf then holds a truncated, NUL-terminated string).
 * Without any result the value is "id; none" (RFC 8601 2.2).
 */
int mx_authres_format(const struct mx_authres *a, bool fold, char *buf,
		size_t cap, size_t *len);

/*
 * Indexes (into m->hdrs) of the Authentication-Results fields whose
 * authserv-id equals ours (case-insensitive, after CFWS: RFC 8601 2.2, 5),
 * up to max of them in idx. Returns how many there are in total (may
 * exceed max).
 */
unsigned mx_authres_find_ours(const struct mx_msg *m, struct mx_str authserv_id,
		unsigned *idx, unsigned max);

/*
 * Appends "; method=result" to an unfolded value written by
 * mx_authres_format (buf holds *len bytes and a NUL), for methods checked
 * outside struct mx_authres, e.g. "senderid" (Sender ID, RFC 4406, off by
 * default). method is ours, never peer text. Returns 0 or -ENOSPC (buf
 * unchanged).
 */
int mx_authres_append_result(char *buf, size_t cap, size_t *len, const char *method,
		enum mx_auth_result r);

#endif /* MX_AUTHRES_H */
