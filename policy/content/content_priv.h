/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * content_priv: the rules snapshot shared by content_rules.c (load,
 * compile, cache) and content_scan.c (scan). Private to policy/content.
 */
#ifndef CONTENT_PRIV_H
#define CONTENT_PRIV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <hs.h>

#include "mx_content.h"

#define MX_CONTENT_DEF_MAX_BYTES (64u << 20)
#define MX_CONTENT_DEF_MAX_HITS 64u
#define MX_CONTENT_MAX_HITS_LIMIT 4096u
#define MX_CONTENT_ID_MAX 64

struct mx_content_rule {
	char *id;
	enum mx_content_target target;
	char *hdr_name;            /* header:NAME only */
	size_t hdr_name_len;
	char *pattern;
	unsigned hs_flags;
	enum mx_content_action action;
	int64_t score;
	int code;                  /* reject */
	char *text;                /* reject; NULL: the default text */
	unsigned line;
	bool refused;
	char *refused_why;       /* Hyperscan's reason, kept for the cache */
};

struct mx_content_rules {
	atomic_uint refs;
	struct mx_content_rule *rule;
	unsigned n_rules;
	hs_database_t *db[MX_CONTENT_T__COUNT];
	int64_t thr_quarantine;    /* 0: off */
	int64_t thr_reject;        /* 0: off */
	uint64_t max_bytes;
	unsigned max_hits;
	struct mx_content_load_info info;
};

/* Stream mode for the groups that arrive in pieces, block mode for the
 * short strings the walker hands over whole. */
static inline bool
mx_content_group_streams(enum mx_content_target t)
{
	return t == MX_CONTENT_T_HEADERS || t == MX_CONTENT_T_BODY ||
		t == MX_CONTENT_T_RAW;
}

#endif /* CONTENT_PRIV_H */
