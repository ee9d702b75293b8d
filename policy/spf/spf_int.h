/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spf_int.h: what the SPF files share and nothing outside policy/spf
 * sees: the parsed form of one record term (spf_record.c), the client
 * address in the form check_host() uses (RFC 7208 5.6: an IPv4-mapped
 * IPv6 address is the IPv4 address), and the macro expander of RFC 7208
 * section 7 (spf_macro.c) with its inputs.
 */
#ifndef SPF_INT_H
#define SPF_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum spf_kind {
	SPF_T_ALL = 0,
	SPF_T_INCLUDE,
	SPF_T_A,
	SPF_T_MX,
	SPF_T_PTR,
	SPF_T_IP4,
	SPF_T_IP6,
	SPF_T_EXISTS,
	SPF_T_REDIRECT,
	SPF_T_EXP,
	SPF_T_UNKNOWN_MOD, /* RFC 7208 6: ignored */
};

/* One term. spec points into the record (NULL when the term has no
 * domain-spec); cidr4/cidr6 default to 32/128. */
struct spf_term {
	enum spf_kind kind;
	char qual;            /* '+', '-', '~', '?' */
	const char *spec;
	size_t spec_len;
	unsigned cidr4;
	unsigned cidr6;
	uint8_t net[16];      /* ip4 (4 bytes) / ip6 network */
};

/* Parses the term starting at or after *pos (skipping SPs). Returns 1
 * with *t filled and *pos past it, 0 at the end of the record, -1 on a
 * syntax error. */
int spf_term_next(const char *rec, size_t len, size_t *pos, struct spf_term *t);

/* Length of the version tag when rec is a record of the wanted kind:
 * "v=spf1" (pra false), or "spf2.0/<scopes>" with the "pra" scope
 * (pra true, RFC 4406 3.1). 0 otherwise. *is_v1 says which matched. */
size_t spf_version(const char *rec, size_t len, bool pra, bool *is_v1);

/* Whole-record grammar check of the terms after the version tag. */
bool spf_terms_ok(const char *rec, size_t len, size_t start);

struct spf_ip {
	bool v6;
	uint8_t b[16]; /* IPv4: b[0..3] */
};

/* Parses IPv4 or IPv6 text; an IPv4-mapped IPv6 address becomes IPv4.
 * Returns 0 or -EINVAL. */
int spf_ip_parse(const char *text, struct spf_ip *ip);

/* Inputs of the macro letters (RFC 7208 7.3). sender is
 * "local-part@domain". ptr is the validated name for %{p}, NULL for
 * "unknown"; receiver NULL is "unknown" too. */
struct spf_macro_in {
	const char *sender;
	const char *domain;
	const char *helo;
	const char *receiver;
	const char *ptr;
	struct spf_ip ip;
	long long now;
};

/* Size of the buffer a domain-spec is expanded into: the expansion keeps
 * its rightmost part when it grows beyond this, which is all a domain
 * truncated to 253 characters (7.3) needs. */
#define SPF_EXPAND_MAX 2048

/* Expands a macro-string. exp_text: explanation text (7.2: c, r, t and
 * SP allowed, output truncated to size). Otherwise a domain-spec: the
 * result is cut to 253 characters by removing whole labels from the left
 * (7.3), and a trailing dot is dropped; size must be at least 256.
 * Returns 0, or -EINVAL on a syntax error or a domain that cannot be
 * cut to a name. */
int spf_expand(const struct spf_macro_in *m, const char *s, size_t len,
		bool exp_text, char *out, size_t size);

/* Whether a macro-string uses %{p} (so the validated name is needed). */
bool spf_uses_p(const char *s, size_t len);

#endif /* SPF_INT_H */
