/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_smtp: the SMTP receiver (RFC 5321 with PIPELINING 2920, SIZE 1870,
 * 8BITMIME 6152, SMTPUTF8 6531, ENHANCEDSTATUSCODES 2034/3463, CHUNKING
 * 3030), one state machine per connection over the stream API.
 *
 * Worker level: mx_smtp_worker holds one worker's session pool (fixed size,
 * from the configuration) and the per-worker services a session needs
 * (struct mx_smtp_env). The accept function is mx_smtp_accept(), given to
 * mx_listen() with the worker as its argument.
 *
 * Thread: everything here runs on the worker's loop thread, except
 * mx_smtp_parse_* which are pure functions usable anywhere (tests, fuzz).
 */
#ifndef MX_SMTP_H
#define MX_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mx_base.h"
#include "mx_stream.h"

struct mx_conf;
struct mx_deliver;
struct mx_vlog_port;
struct mx_stats;
struct mx_chunk_pool;
struct mx_connlimit;
struct mx_smtp_worker;
struct mx_tls_ctx;
struct mx_content_rules;
struct mx_auth_port;
struct mx_auth_job;

/* Per-worker services, owned by the worker; a session borrows them. */
struct mx_smtp_env {
	struct mx_loop *loop;
	struct mx_conf *conf;          /* current snapshot; sessions take a ref at accept */
	struct mx_deliver *deliver;    /* relay or spool */
	struct mx_vlog_port *vlog;     /* NULL: no verdict log */
	struct mx_stats *stats;
	struct mx_chunk_pool *pool;
	struct mx_connlimit *climit;   /* shared by all workers */
	struct mx_tls_ctx *tls;        /* NULL: no certificates, STARTTLS not offered */
	struct mx_content_rules *content; /* NULL: no content rules; the worker takes a ref */
	struct mx_auth_port *auth;     /* NULL: no sender authentication (policy/auth) */
};

/* Allocates the session pool (env->conf->max_connections / workers,
 * rounded up, at least 1). Returns 0 or -ENOMEM. */
int mx_smtp_worker_create(const struct mx_smtp_env *env, unsigned max_sessions,
		struct mx_smtp_worker **out);
/* Every session must have ended (see mx_smtp_drain). */
void mx_smtp_worker_free(struct mx_smtp_worker *w);
/* Reload: new sessions get conf; running ones keep theirs. */
void mx_smtp_worker_set_conf(struct mx_smtp_worker *w, struct mx_conf *conf);
/* Reload of the content rules, on the worker's thread: the next messages
 * are scanned with r (the worker takes a reference); messages in flight
 * finish on the rules they started with. Grows the worker's Hyperscan
 * scratch, so it allocates (reload only). Returns 0, or -ENOMEM with the
 * old rules kept. */
int mx_smtp_worker_set_content(struct mx_smtp_worker *w, struct mx_content_rules *r);
/* The mx_auth_done_fn of the worker's verifier port (policy/auth): a
 * session's job is back; runs on the worker's loop thread. */
void mx_smtp_auth_done(struct mx_auth_job *job);
/* mx_accept_fn; arg is the struct mx_smtp_worker. */
void mx_smtp_accept(struct mx_listener *l, struct mx_stream *st, void *arg);
/* SIGTERM: idle sessions (between transactions) get 421 4.3.2 and are
 * closed at once; sessions inside a transaction get the 421 right after
 * their transaction's final reply. */
void mx_smtp_drain(struct mx_smtp_worker *w);
unsigned mx_smtp_n_sessions(const struct mx_smtp_worker *w);

/*
 * Parser API (pure functions over caller buffers; used by the session and
 * directly by the unit tests and fuzz harnesses). Nothing here allocates:
 * every struct mx_str result points into the caller's input.
 */

/* Command line reader: accumulates one command line into a caller buffer
 * of cap bytes, across any split of the input (STYLE 2.8). */
struct mx_smtp_line {
	char *buf;
	const char *text; /* after MX_OK: the line, in buf or in the input */
	size_t cap;      /* bytes of buf usable; the line bound incl. CRLF */
	size_t len;      /* bytes of the current line so far (CR/LF excluded) */
	bool skipping;   /* over the bound: discarding up to the next LF */
	bool cr;         /* the previous byte was a CR (held back) */
	bool bare_cr;    /* the line holds a CR not followed by LF */
	bool bare_lf;    /* the line ended in LF without CR */
	bool ended;      /* a line was returned; the next byte starts anew */
};

void mx_smtp_line_init(struct mx_smtp_line *l, char *buf, size_t cap);
/* Feeds n bytes; *used tells how many were taken (the rest belongs to the
 * next call). Returns:
 * - MX_OK: a line is complete in l->text[0..l->len) (terminator removed,
 *   *used includes it); the next call starts a new line. A line that
 *   came whole in one call is read where it lies: text then points into
 *   p, valid as long as the caller's input is; otherwise into buf;
 * - MX_AGAIN: every byte was taken, no line end yet;
 * - MX_TOOLONG: the line passed cap (counted with its CRLF, RFC 5321
 *   4.5.3.1.4); reported once, at the byte that passed the bound; the
 *   reader then discards everything up to and including the next LF, so
 *   the tail of the long line is never taken for a command.
 * Never returns MX_INVALID. */
enum mx_rc mx_smtp_line_feed(struct mx_smtp_line *l, const uint8_t *p, size_t n,
		size_t *used);

enum mx_smtp_verb {
	MX_SMTP_VERB_UNKNOWN = 0,
	MX_SMTP_VERB_HELO,
	MX_SMTP_VERB_EHLO,
	MX_SMTP_VERB_MAIL,
	MX_SMTP_VERB_RCPT,
	MX_SMTP_VERB_DATA,
	MX_SMTP_VERB_BDAT,
	MX_SMTP_VERB_RSET,
	MX_SMTP_VERB_NOOP,
	MX_SMTP_VERB_QUIT,
	MX_SMTP_VERB_HELP,
	MX_SMTP_VERB_VRFY,
	MX_SMTP_VERB_EXPN,
	MX_SMTP_VERB_STARTTLS,
	MX_SMTP_VERB_AUTH,
	MX_SMTP_VERB_FORBIDDEN, /* HTTP or another protocol spoken at us */
	MX_SMTP_VERB__COUNT
};

struct mx_smtp_cmd {
	enum mx_smtp_verb verb;
	struct mx_str name; /* the verb as sent */
	struct mx_str arg;  /* after the separating space(s), trailing WSP cut */
};

/* Splits a command line (without its CRLF) into verb and argument; the
 * verb match is case-insensitive (RFC 5321 2.4). Returns MX_OK (verb may be
 * UNKNOWN or FORBIDDEN) or MX_INVALID (empty line, or a verb with bytes
 * outside printable ASCII). */
enum mx_rc mx_smtp_parse_cmd(const char *line, size_t len, struct mx_smtp_cmd *cmd);

/* Outcome of an argument parser; the session maps each to its reply. */
enum mx_smtp_perr {
	MX_SMTP_P_OK = 0,
	MX_SMTP_P_SYNTAX,        /* 501 5.5.4: not "FROM:"/"TO:", bad BDAT args */
	MX_SMTP_P_BAD_PATH,      /* 501 5.1.7 / 5.1.3: RFC 5321 4.1.2 syntax */
	MX_SMTP_P_PATH_TOO_LONG, /* 501 5.1.7 / 5.1.3: RFC 5321 4.5.3.1.3 */
	MX_SMTP_P_UTF8,          /* 553 5.6.7: non-ASCII without SMTPUTF8 */
	MX_SMTP_P_PARAM,         /* 555 5.5.4: RFC 5321 4.1.1.11 */
};

#define MX_SMTP_PATH_MAX 256 /* RFC 5321 4.5.3.1.3, with the brackets */

struct mx_smtp_path {
	struct mx_str mailbox; /* local@domain, no brackets, no route; empty for <> */
	struct mx_str local;
	struct mx_str domain;  /* empty for <> and bare <postmaster> */
	bool null_path;        /* <> */
	bool postmaster;       /* <postmaster> without a domain (RFC 5321 4.5.1) */
	bool literal;          /* the domain is an address literal */
	bool utf8;             /* non-ASCII in the mailbox */
};

/* Parses a Reverse-path or Forward-path at the start of s (RFC 5321 4.1.2,
 * with RFC 6531 UTF-8 when utf8 is true). A source route is accepted and
 * skipped (RFC 5321 4.1.1.3, appendix C). allow_null admits <>,
 * allow_postmaster admits <postmaster>. *used is the length of the path
 * including its brackets. */
enum mx_smtp_perr mx_smtp_parse_path(struct mx_str s, bool allow_null,
		bool allow_postmaster, bool utf8, struct mx_smtp_path *out,
		size_t *used);

/* What the session offers, as far as argument parsing cares. */
struct mx_smtp_parse_opts {
	bool esmtp;      /* EHLO was used: ESMTP parameters exist at all */
	bool chunking;   /* CHUNKING offered: BODY=BINARYMIME allowed */
};

struct mx_smtp_mail_args {
	struct mx_smtp_path path;
	struct mx_str params;   /* every parameter as sent, may be empty */
	uint64_t size;          /* SIZE=, saturated at UINT64_MAX; 0 if absent */
	bool has_size;
	int body;               /* enum mx_body_type (mx_msg.h); 7BIT if absent */
	bool smtputf8;
};

/* "FROM:<path> [SP params]" (the argument of MAIL). */
enum mx_smtp_perr mx_smtp_parse_mail(struct mx_str arg,
		const struct mx_smtp_parse_opts *o, struct mx_smtp_mail_args *out);

struct mx_smtp_rcpt_args {
	struct mx_smtp_path path;
	struct mx_str params;
};

/* "TO:<path> [SP params]" (the argument of RCPT); smtputf8 is what MAIL
 * said. No RCPT parameter is supported yet (no DSN), so any is 555. */
enum mx_smtp_perr mx_smtp_parse_rcpt(struct mx_str arg, bool smtputf8,
		struct mx_smtp_rcpt_args *out);

/* "chunk-size [SP LAST]" (RFC 3030 2); chunk-size is 1*DIGIT and must fit
 * in 64 bits. */
enum mx_smtp_perr mx_smtp_parse_bdat(struct mx_str arg, uint64_t *size, bool *last);

/* Argument of HELO/EHLO: a Domain or address-literal, 1..255 printable
 * ASCII bytes without spaces (lenient on purpose: real clients send
 * underscores and bare host names). */
enum mx_smtp_perr mx_smtp_parse_helo(struct mx_str arg);

/* Strict UTF-8 (RFC 3629: no overlong forms, no surrogates, <= U+10FFFF). */
bool mx_smtp_utf8_valid(const char *p, size_t n);

/*
 * DATA reader (RFC 5321 4.1.1.4 and 4.5.2) and BDAT chunk reader (RFC
 * 3030), both with the bare CR/LF policy of the configuration.
 *
 * The end of DATA is only CR LF "." CR LF, where the first CR LF may be
 * the one that ended the DATA command. A bare LF or bare CR never ends the
 * data and never counts as the CR LF before the dot (SMTP smuggling). The
 * readers emit the message bytes through out(): dot-unstuffed, and under
 * MX_BARE_LF_NORMALIZE with each bare CR or LF written as CR LF. Under
 * MX_BARE_LF_REJECT bytes are emitted unchanged and n_bare tells the
 * session to refuse the message.
 */
typedef void mx_smtp_data_out_fn(void *arg, const uint8_t *p, size_t n);

struct mx_smtp_data {
	unsigned state;
	int bare_lf;            /* enum mx_bare_lf (mx_conf.h) */
	size_t max_line;        /* RFC 5321 4.5.3.1.6, incl. CRLF; 0: none */
	size_t line_len;        /* wire bytes of the current line */
	uint64_t n_bare;        /* bare CRs and LFs seen */
	bool line_too_long;     /* sticky */
};

/* bare_lf is an enum mx_bare_lf; max_line 0 disables the line bound. */
void mx_smtp_data_init(struct mx_smtp_data *d, int bare_lf, size_t max_line);
/* Returns MX_OK when the end of data was read (*used counts up to and
 * including its final LF; the bytes after it are not taken), else
 * MX_AGAIN with *used == n. */
enum mx_rc mx_smtp_data_feed(struct mx_smtp_data *d, const uint8_t *p, size_t n,
		size_t *used, mx_smtp_data_out_fn *out, void *arg);

/* One reader for all chunks of a BDAT transaction: a CR at the end of one
 * chunk and an LF at the start of the next are one CR LF. */
void mx_smtp_chunk_init(struct mx_smtp_data *d, int bare_lf);
/* Takes all n bytes (the caller bounds n by what is left of the chunk). */
void mx_smtp_chunk_feed(struct mx_smtp_data *d, const uint8_t *p, size_t n,
		mx_smtp_data_out_fn *out, void *arg);
/* After BDAT LAST: a CR still held back is bare. */
void mx_smtp_chunk_end(struct mx_smtp_data *d, mx_smtp_data_out_fn *out, void *arg);

#endif /* MX_SMTP_H */
