/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to engine/conf: the key table and the bookkeeping kept beside
 * each snapshot (conf.c), shared with the YAML loader (conf_load.c); the
 * scalar parsers (integers, sizes, durations, host names) and the
 * formatters that print them back, the error buffer that collects every
 * problem of a load, and the "did you mean" distance (conf_parse.c).
 */
#ifndef MX_CONF_PRIV_H
#define MX_CONF_PRIV_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mx_base.h"
#include "mx_conf.h"

/* Every problem of one load or validate call, one per line. */
struct mx_conf_errbuf {
	char *buf;      /* may be NULL (caller does not want the text) */
	size_t size;
	size_t len;
	unsigned n;     /* problems seen, also those that did not fit */
};

void mx_conf_errbuf_init(struct mx_conf_errbuf *e, char *buf, size_t size);
/* Appends one line (the newline is added here). */
MX_PRINTF(2, 3)
void mx_conf_err(struct mx_conf_errbuf *e, const char *fmt, ...);

enum mx_conf_num {
	MX_CONF_NUM_OK = 0,
	MX_CONF_NUM_EMPTY,
	MX_CONF_NUM_NEGATIVE,
	MX_CONF_NUM_JUNK,       /* not digits, or an unknown suffix */
	MX_CONF_NUM_OVERFLOW,   /* does not fit 64 bits */
};

/* Plain decimal digits. */
enum mx_conf_num mx_conf_parse_uint(const char *s, size_t len, uint64_t *out);
/* Digits with an optional k, M or G suffix (KiB, MiB, GiB; any case). */
enum mx_conf_num mx_conf_parse_size(const char *s, size_t len, uint64_t *out);
/* Milliseconds: digits with an optional ms, s, m or h unit (none = ms). */
enum mx_conf_num mx_conf_parse_ms(const char *s, size_t len, uint64_t *out);
/* Words for the messages. */
const char *mx_conf_num_problem(enum mx_conf_num rc);

/* RFC 1123 2.1 host name (RFC 1035 2.3.1 labels, a leading digit allowed,
 * not in dotted-decimal form); no trailing dot. */
bool mx_conf_hostname_ok(const char *s, size_t len);

/* Shortest exact form: "64k", "5m", "300ms", "1000". */
size_t mx_conf_fmt_size(uint64_t v, char *buf, size_t size);
size_t mx_conf_fmt_ms(uint64_t v, char *buf, size_t size);

/* Levenshtein distance of two short strings; UINT32_MAX when either is
 * longer than 64 bytes (no hint for those). */
unsigned mx_conf_distance(const char *a, const char *b);

/* How a key's value is parsed, stored, checked and printed. */
enum mx_conf_kind {
	MX_CONF_K_HOSTNAME,   /* char[256], RFC 1123; also sets helo_name */
	MX_CONF_K_HELO,       /* char[256], RFC 1123 */
	MX_CONF_K_TRANSPORT,  /* enum mx_transport */
	MX_CONF_K_LISTEN,     /* list of struct mx_addr */
	MX_CONF_K_DOMAINS,    /* list of lower-case char * */
	MX_CONF_K_COUNT,      /* unsigned, plain integer */
	MX_CONF_K_MS,         /* unsigned milliseconds, duration syntax */
	MX_CONF_K_BYTES,      /* size_t, size syntax */
	MX_CONF_K_BYTES64,    /* uint64_t, size syntax */
	MX_CONF_K_BOOL,
	MX_CONF_K_BARE_LF,    /* enum mx_bare_lf */
	MX_CONF_K_DOWNSTREAM, /* struct mx_addr + downstream_host */
	MX_CONF_K_PATH,       /* char *, relative ones anchored */
	MX_CONF_K_VLOG,       /* like PATH, or "-" */
	MX_CONF_K_LEVEL,      /* int, enum mx_log_level */
	MX_CONF_K_METRICS,    /* struct mx_addr + has_metrics */
	MX_CONF_K_STRING,     /* char *, free text (EAL arguments) */
	MX_CONF_K_CIDRS,      /* list of IPv4/PREFIX: dpdk_addr + dpdk_prefix */
	MX_CONF_K_IPV4,       /* uint32_t IPv4 address, network order */
	MX_CONF_K_PATHS,      /* struct mx_conf_paths, relative ones anchored */
	MX_CONF_K_TLS_MODE,   /* enum mx_tls_mode */
	MX_CONF_K_TLS_VERSION, /* unsigned: "1.0" 0, "1.1" 1, "1.2" 2, "1.3" 3 */
	MX_CONF_K_TLS_BACKEND, /* unsigned: "mbedtls" 0, "openssl" 1 */
	MX_CONF_K_RELAY_TLS,  /* enum mx_relay_tls */
	MX_CONF_K_AUTH_WORD,  /* int: one word of the key's list (auth.*) */
};

struct mx_conf_key {
	const char *section;
	const char *name;
	const char *flag;     /* "mxedge run --<flag>", or NULL */
	enum mx_conf_kind kind;
	size_t off;           /* of the field in struct mx_conf */
	uint64_t min, max;    /* numbers: inclusive range; lists: entries */
	const char *expect;   /* what a good value looks like (non-numbers) */
};

extern const struct mx_conf_key mx_conf_keys[];
extern const size_t mx_conf_n_keys;
#define MX_CONF_N_KEYS 72   /* checked against keys[] in conf.c */

/* What mx_conf_new() allocates: the public snapshot and, beside it, where
 * each key came from (file line for messages, flag state for lists). */
struct mx_conf_priv {
	struct mx_conf pub;              /* first: a struct mx_conf * is one of these */
	unsigned line[MX_CONF_N_KEYS];   /* file line that set the key, 0 if none */
	bool by_flag[MX_CONF_N_KEYS];    /* a list key was set by a flag already */
	bool helo_explicit;              /* delivery.helo_name was given */
};

/* Where a value comes from, for its messages and relative paths. */
struct mx_conf_ctx {
	struct mx_conf_errbuf *e;
	const char *file;     /* file name, or NULL */
	unsigned line;        /* line of the value in file */
	const char *flag;     /* command-line flag as given, or NULL */
	unsigned flags;       /* MX_CONF_LOAD_* */
	char base[PATH_MAX];  /* directory that anchors relative paths */
};

struct mx_conf_priv *mx_conf_priv(const struct mx_conf *c);
const struct mx_conf_key *mx_conf_find(const char *section, const char *name);
/* Sets one scalar key, or adds one entry to a list key. Messages go to
 * x->e. Returns 0, -EINVAL or -ENOMEM. */
int mx_conf_apply(struct mx_conf *c, const struct mx_conf_key *k, const char *v, size_t len,
		struct mx_conf_ctx *x);
bool mx_conf_is_list(const struct mx_conf_key *k);
bool mx_conf_is_number(const struct mx_conf_key *k);
void mx_conf_list_clear(struct mx_conf *c, const struct mx_conf_key *k);
uint64_t mx_conf_num_get(const struct mx_conf *c, const struct mx_conf_key *k);
const char *mx_conf_level_name(int level);
/* The word a word-valued key holds (transport, bare_lf, tls.mode,
 * tls.min_version, tls.backend, delivery.tls, auth.*). */
const char *mx_conf_word(const struct mx_conf *c, const struct mx_conf_key *k);
/* "expected ..." text of a key (numbers: from the range). */
void mx_conf_expect(const struct mx_conf_key *k, char *buf, size_t size);
/* "file:line: section.key: msg (expected ...)" or "--flag: msg ...". */
MX_PRINTF(4, 5)
void mx_conf_key_err(struct mx_conf_ctx *x, const struct mx_conf_key *k, bool expect,
		const char *fmt, ...);
/* Whether an edit distance d from typed is close enough for a hint. */
bool mx_conf_close(const char *typed, unsigned d);

/* tls.profiles (conf_tlsprof.c): a list of mappings, loaded from the
 * YAML node v of doc with messages into x->e. Returns 0 or -ENOMEM. */
struct yaml_document_s;
struct yaml_node_s;
int mx_conf_load_tls_profiles(struct mx_conf *c, struct yaml_document_s *doc,
		struct yaml_node_s *v, struct mx_conf_ctx *x);
void mx_conf_free_tls_profiles(struct mx_conf *c);
/* The "  profiles:" lines of the tls section, for mx_conf_dump(). */
void mx_conf_dump_tls_profiles(const struct mx_conf *c, FILE *f);

#endif /* MX_CONF_PRIV_H */
