/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smtp_priv: what the files of engine/smtp share and nobody else sees: the
 * session, the worker and the functions that cross file boundaries
 * (replies in smtp_reply.c, the transaction end in smtp_txn.c, the state
 * machine in smtp_session.c, the pool in smtp_worker.c).
 *
 * Everything here runs on the worker's loop thread.
 */
#ifndef MX_SMTP_PRIV_H
#define MX_SMTP_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "mx_base.h"
#include "mx_conf.h"
#include "mx_json.h"
#include "mx_content.h"
#include "mx_metrics.h"
#include "mx_msg.h"
#include "mx_smtp.h"
#include "mx_stream.h"
#include "mx_timer.h"
#include "mx_verdict.h"

#define SMTP_LOG "smtp"
/* One reply, all lines with their CRLFs (EHLO is the longest we send). */
#define SMTP_REPLY_MAX 512
/* Replies queued while the stream's send buffer is full. Input is not
 * read while anything waits here, so at most the reply to one command
 * plus a closing 421 can pile up. */
#define SMTP_PEND_MAX (2 * SMTP_REPLY_MAX)
/* Verdict log. The envelope part of a line is written at the end of data,
 * while the msg still exists (the delivery owns it afterwards), into a
 * per-session stage; the outcome is added when the final reply is known.
 * A stage that cannot hold every recipient is written again without the
 * rcpt list and with "truncated": true. */
#define SMTP_VLOG_STAGE 4096
#define SMTP_VLOG_MAX (SMTP_VLOG_STAGE + 4096)

enum smtp_state {
	SMTP_S_GREETING = 0, /* greeting delay: nothing sent yet */
	SMTP_S_INIT,         /* 220 sent, no HELO/EHLO yet */
	SMTP_S_READY,        /* HELO/EHLO done, no transaction */
	SMTP_S_MAIL,         /* MAIL accepted, no recipient yet */
	SMTP_S_RCPT,         /* at least one recipient accepted */
	SMTP_S_DATA,         /* reading DATA content */
	SMTP_S_BDAT,         /* reading the bytes of a BDAT chunk */
	SMTP_S_SKIP,         /* reading and dropping a refused BDAT chunk */
	SMTP_S_DELIVER,      /* waiting for the delivery's done */
	SMTP_S_AUTH,         /* waiting for the verifier (smtp_auth.c) */
	SMTP_S_CLOSING,      /* close requested: no more input is read */
};

/* The current mail transaction (RFC 5321 3.3), reset by RSET, HELO/EHLO
 * and the end of data. */
#define SMTP_TXN_REPLY_MAX 160

struct smtp_txn {
	struct mx_msg *msg;
	unsigned n_rcpt;
	int body;                 /* enum mx_body_type */
	bool smtputf8;
	bool bdat;                /* a BDAT chunk was taken: DATA is 503 */
	bool bdat_last;
	uint64_t bdat_left;       /* bytes of the current chunk still unread */
	uint64_t bdat_chunk;      /* size of the current chunk */
	uint64_t size;            /* message bytes seen (also past an error) */
	struct mx_smtp_data rd;
	const char *error;        /* sticky: the reply at end of data */
	bool scanning;            /* content rules see the data (policy/content) */
	const struct mx_content_verdict *cv; /* after end of data, until reset */
	struct mx_verdict verdict; /* composed at end of data (policy/verdict) */
	char content_reply[SMTP_TXN_REPLY_MAX]; /* a content reject: the sticky error */
	bool delivering;
	uint64_t handle;          /* of the delivery in flight */
	/* The last reply of this transaction (without CRLF), so that a
	 * transaction abandoned before end of data still logs what the
	 * client was told last (e.g. 550 5.7.1 to every RCPT). */
	char last_reply[SMTP_TXN_REPLY_MAX];
	size_t last_reply_len;
	uint64_t t_mail_us, t_data_us, t_end_us;
	/* Sender authentication (smtp_auth.c). */
	struct mx_auth_job *auth;     /* this transaction's job, NULL: none */
	bool auth_busy;               /* auth is with the verifier */
	bool auth_hdrs;               /* end-of-headers prefetch sent */
	char auth_reply[SMTP_REPLY_MAX - 2]; /* an auth refusal: the sticky error */
};

struct smtp_session {
	struct mx_smtp_worker *w;
	struct mx_stream *st;
	struct mx_conf *conf;            /* ref taken at accept */
	struct smtp_session *next, *prev; /* worker's active list / free list */
	enum smtp_state state;
	enum smtp_state skip_ret;        /* state after a refused chunk */
	uint64_t id;
	struct mx_addr peer;
	bool esmtp;                      /* EHLO (not HELO) */
	bool pipelining;                 /* PIPELINING offered */
	bool chunking;                   /* CHUNKING offered */
	bool climit;                     /* holds a connlimit slot */
	bool tls;                        /* after STARTTLS: st is the TLS stream */
	bool draining;
	unsigned n_errors;
	uint64_t skip_left;

	struct mx_timer timer;
	uint64_t last_ms;                /* last input (lazy re-arm) */
	uint64_t timer_ms;               /* when the armed timer fires */

	struct mx_smtp_line line;
	char helo[256];
	size_t helo_len;
	struct smtp_txn tx;
	union {
		struct mx_smtp_mail_args mail;
		struct mx_smtp_rcpt_args rcpt;
		struct {
			uint64_t size;
			bool last;
		} bdat;
	} args;                          /* check -> proceed, per command */

	char *vlog_stage;                /* SMTP_VLOG_STAGE bytes, NULL: no vlog */
	size_t vlog_len;                 /* 0: nothing staged */

	size_t pend_len;
	char pend[SMTP_PEND_MAX];
};

struct mx_smtp_worker {
	struct mx_smtp_env env;
	struct mx_content_rules *content;  /* NULL: no content scan (ref held) */
	struct mx_content_scratch *scratch; /* Hyperscan scratch of this worker */
	struct mx_content_scan **scans;    /* per session slot, made on first use */
	struct mx_conf *conf;            /* for new sessions (ref held) */
	struct smtp_session *sessions;
	unsigned max_sessions;
	unsigned n_active;
	struct smtp_session *free_list;
	struct smtp_session *active;     /* doubly linked, for drain */
	char *line_bufs;
	size_t line_cap;
	char *vlog_stages;
	char *vlog_buf;                  /* SMTP_VLOG_MAX: one line being finished */
	bool draining;
	uint64_t n_cmd[MX_SMTP_VERB__COUNT]; /* per-verb counters */
};

/* smtp_reply.c */
MX_PRINTF(3, 4)
size_t smtp_format(char *buf, size_t size, const char *fmt, ...);
/* Sends len bytes of buf (one reply, CRLF-terminated lines) and counts
 * it; err counts the reply against max_errors. */
void smtp_send_reply(struct smtp_session *s, const char *buf, size_t len, bool err);
MX_PRINTF(2, 3)
void smtp_reply(struct smtp_session *s, const char *fmt, ...);
/* The same, counted as a client error (max_errors). */
MX_PRINTF(2, 3)
void smtp_reply_err(struct smtp_session *s, const char *fmt, ...);
/* Sends what waited in pend; true when nothing is left. */
bool smtp_flush_pending(struct smtp_session *s);

/* smtp_tlspol.c: the TLS profiles at MAIL FROM; false when refused (the
 * reply is sent). */
bool smtp_tlspol_mail(struct smtp_session *s, struct mx_str domain);

/* smtp_session.c */
extern const struct mx_stream_cb smtp_session_cb;
void smtp_session_start(struct smtp_session *s);
void smtp_session_close(struct smtp_session *s);
void smtp_session_drain(struct smtp_session *s);
/* 421 4.3.2 and close. */
void smtp_drain_now(struct smtp_session *s);
bool smtp_session_in_txn(const struct smtp_session *s);
void smtp_txn_reset(struct smtp_session *s);
/* Re-evaluates the idle deadline after a state change. */
void smtp_timer_update(struct smtp_session *s);

/* smtp_txn.c */
/* Data sink for the readers: counts, checks the size, appends. */
void smtp_txn_out(void *arg, const uint8_t *p, size_t n);
/* End of DATA or BDAT LAST: reply now (sticky error) or submit. */
void smtp_txn_end(struct smtp_session *s);
/* DATA or the first BDAT: starts the content scan of the message. */
void smtp_txn_scan_begin(struct smtp_session *s);
/* Ends an open transaction that will not reach end of data (RSET, QUIT,
 * HELO/EHLO, disconnect, timeout, drain): writes its verdict-log line with
 * verdict "abandoned" and how it ended, then resets it. A no-op when no
 * transaction is open. */
void smtp_txn_abandon(struct smtp_session *s, const char *end);

/* smtp_auth.c: sender authentication (policy/auth). */
bool smtp_auth_on(const struct smtp_session *s);
/* MAIL FROM accepted so far: true when the reply is not ours to send
 * now (the session is parked for the SPF result, or already answered). */
bool smtp_auth_mail(struct smtp_session *s);
void smtp_auth_mail_verdict(struct smtp_session *s);
/* After message bytes were appended: the end-of-headers prefetch. */
void smtp_auth_data(struct smtp_session *s);
/* End of data, no sticky error: true when parked for the verifier
 * (smtp_txn_end_verified() follows); false when the verdict is final. */
bool smtp_auth_end(struct smtp_session *s);
void smtp_auth_end_verdict(struct smtp_session *s);
void smtp_auth_reset(struct smtp_session *s);
void smtp_auth_vlog(struct smtp_session *s, struct mx_json *j);

/* smtp_txn.c: the end of data once the verifier's results are in. */
void smtp_txn_end_verified(struct smtp_session *s);

/* smtp_worker.c */
void smtp_worker_release(struct smtp_session *s);

#endif /* MX_SMTP_PRIV_H */
