/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_relay: the SMTP client to the downstream MTA, one per worker, over
 * the stream API (so it runs on either transport). It keeps a pool of
 * persistent connections (EHLO once, then one transaction after another;
 * RSET after a failed one), pipelines MAIL/RCPT/DATA when the downstream
 * offers PIPELINING, dot-stuffs on the way out, and reports the
 * downstream's reply through mx_deliver (mx_deliver.h).
 *
 * Outcomes: every recipient and the data accepted -> 250 to our client;
 * any recipient refused -> the downstream transaction is abandoned (RSET),
 * nothing is delivered, and our client gets a 4yz (or a 5yz when every
 * refusal was permanent), so one client transaction is delivered whole or
 * not at all and never turns into two; connection failures, timeouts and
 * 4yz -> 451 4.4.x; 5yz to the data -> the downstream's 5yz.
 */
#ifndef MX_RELAY_H
#define MX_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mx_base.h"

struct mx_relay;
struct mx_loop;
struct mx_conf;
struct mx_stats;
struct mx_deliver;
struct mx_tls_client;

/* Returns 0 or -errno. conf is read at create and on mx_relay_set_conf;
 * the relay keeps no pointer into it past those calls except via a ref it
 * takes itself. */
int mx_relay_create(struct mx_loop *loop, struct mx_conf *conf,
		struct mx_stats *stats, struct mx_relay **out);
/* New submissions use the new downstream and timeouts; pooled connections
 * to an old downstream are closed when idle. */
void mx_relay_set_conf(struct mx_relay *r, struct mx_conf *conf);
/* The TLS client for delivery.tls (mx_tls.h), made on the control thread
 * and outliving the relay; NULL: none. With delivery.tls opportunistic and
 * no client the hop stays plaintext; with verify every message gets
 * 451 4.7.5. Call before the first submission. */
void mx_relay_set_tls(struct mx_relay *r, struct mx_tls_client *cl);
struct mx_deliver *mx_relay_deliver(struct mx_relay *r);
unsigned mx_relay_in_flight(const struct mx_relay *r);
/* Fails every in-flight message with 451 (their done runs), closes all
 * connections, frees. */
void mx_relay_free(struct mx_relay *r);

/* Submissions that may wait for a busy pool, per allowed connection
 * (relay_max_conns); past that the submission is answered 451 4.3.2 on
 * the next loop pass. A delivery takes a few round trips to the
 * downstream, so 16 waiting per connection keeps the added wait to a few
 * dozen round trips; beyond that telling the client to retry is better
 * than a queue whose latency keeps growing. */
#define MX_RELAY_QUEUE_PER_CONN 16u

/*
 * Downstream replies (relay_reply.c), exposed so that they are unit-tested
 * and fuzzed on their own. RFC 5321 4.2:
 *   Reply-line = *( Reply-code "-" [ textstring ] CRLF )
 *                Reply-code [ SP textstring ] CRLF
 * with the same code on every line (4.2.1). Parsing is strict: a line
 * must end in CRLF, the code is %x32-35 %x30-35 %x30-39, every line
 * carries the first line's code, and the text holds no control byte other
 * than HT (bytes >= 0x80 are let through: RFC 6531 3.7.4 allows UTF-8
 * text). A line is at most 512 bytes with its CRLF (RFC 5321 4.5.3.1.5)
 * and a reply at most MX_RELAY_REPLY_LINES_MAX lines.
 */
#define MX_RELAY_REPLY_LINE_MAX 512u
#define MX_RELAY_REPLY_LINES_MAX 100u
#define MX_RELAY_ESC_MAX 16u /* "5.123.456" and a NUL, rounded up */

struct mx_relay_reply {
	/* The reply: code and first-line data are set once its first line
	 * is parsed, complete when the parser returns MX_OK. */
	int code;              /* 200..559 */
	unsigned n_lines;
	char esc[MX_RELAY_ESC_MAX]; /* RFC 3463 enhanced code of the first
				 * line ("5.1.1"), "" if absent or if its
				 * class is not the code's (RFC 2034 4) */
	size_t text_len;       /* first line after "NNN " / "NNN-" */
	size_t msg_off;        /* where the text goes on after esc and SP */
	char text[MX_RELAY_REPLY_LINE_MAX];
	/* The line the last call completed (valid lines only), e.g. one
	 * EHLO keyword line: text after the code and separator. Points into
	 * the parser and stays valid until the next call. */
	bool line_ready;
	struct mx_str line;
	/* private to relay_reply.c */
	size_t len;            /* bytes of the current line so far */
	bool skip;             /* discarding an overlong line up to its LF */
	bool complete;         /* the reply ended; the next call starts anew */
	char buf[MX_RELAY_REPLY_LINE_MAX];
};

/* Ready for a new reply. */
void mx_relay_reply_init(struct mx_relay_reply *rp);
/* Feeds bytes; consumes at most one line (through its LF) and reports how
 * many bytes it took in *used (>= 1 when len > 0), so that the bytes after
 * a complete reply stay with the caller (they are the next pipelined
 * reply). Returns MX_OK when a reply ended (its fields are set; the next
 * call starts a new reply), MX_AGAIN when more bytes are needed (a line
 * may have been completed: line_ready), MX_INVALID for a malformed line,
 * MX_TOOLONG for a line over 512 bytes or a reply over 100 lines. After
 * MX_INVALID/MX_TOOLONG the parser is reset to a new reply (an overlong
 * line is first skipped up to its LF); the relay closes the connection
 * anyway, since it can no longer tell which reply belongs to which
 * command. Pure function of its input: any split of the same bytes gives
 * the same results. */
enum mx_rc mx_relay_reply_parse(struct mx_relay_reply *rp, const uint8_t *p,
		size_t len, size_t *used);

/* EHLO keywords the relay uses (RFC 5321 4.1.1.1 ehlo-line). */
enum mx_relay_cap {
	MX_RELAY_CAP_PIPELINING = 1u << 0, /* RFC 2920 */
	MX_RELAY_CAP_SIZE = 1u << 1,       /* RFC 1870 */
	MX_RELAY_CAP_8BITMIME = 1u << 2,   /* RFC 6152 */
	MX_RELAY_CAP_SMTPUTF8 = 1u << 3,   /* RFC 6531 */
	MX_RELAY_CAP_CHUNKING = 1u << 4,   /* RFC 3030: noted, DATA used regardless */
	MX_RELAY_CAP_STARTTLS = 1u << 5,   /* RFC 3207: used with delivery.tls */
};

struct mx_relay_caps {
	unsigned flags;    /* enum mx_relay_cap bits */
	uint64_t size_max; /* SIZE limit; 0 when absent or "no fixed limit" */
};

/* Reads one EHLO reply line's text (line, from mx_relay_reply) into caps.
 * Unknown keywords are ignored; a SIZE value that is not a decimal number
 * that fits 64 bits counts as no limit. Never fails. */
void mx_relay_caps_line(struct mx_relay_caps *caps, struct mx_str line);

#endif /* MX_RELAY_H */
