/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * gen_priv.h: what gen.c (the SMTP sessions) and gen_tls.c (the mbedTLS
 * client under STARTTLS) share inside the generator. Not installed, not
 * used outside bench/gen.
 */
#ifndef MX_BENCH_GEN_PRIV_H
#define MX_BENCH_GEN_PRIV_H

#include "mx_bench.h"

#define IN_SIZE 2048u /* reply bytes a session buffers; EHLO fits */

enum sess_state {
	S_FREE = 0,
	S_CONNECTING,
	S_GREET,      /* waiting for 220 */
	S_EHLO,
	S_STARTTLS,   /* waiting for 220 to STARTTLS */
	S_TLS,        /* handshake running */
	S_MAIL,
	S_RCPT,
	S_DATA,       /* waiting for 354 */
	S_DOT,        /* sending the message, then waiting for 250 */
	S_QUIT,
	S_HOLD,       /* idle mode: established, saying nothing */
	S_CLOSING,    /* no more input expected */
};

struct body {
	const uint8_t *p;
	size_t len;
};

struct gen;
struct gen_tls;
struct sess_tls;

struct sess {
	struct gen *g;
	struct mx_stream *st;
	unsigned idx;
	enum sess_state state;
	bool ok, failed, in_txn, write_err, overflow, held;
	bool pipelining, want_tls, want_resume;
	uint8_t *in;                 /* replies not parsed yet */
	size_t in_len;
	uint8_t *out;                /* commands not handed over yet */
	size_t out_len, out_off;
	const struct body *msg_body; /* the current transaction's message */
	const struct body *body;     /* while the message is being sent */
	size_t body_off;
	unsigned msgs_done, rcpt_sent, rcpt_replies;
	uint64_t t_conn, t_cmd, t_dot, t_tls; /* microseconds */
	uint64_t last_ms, hold_until;
	struct sess_tls *tls;        /* set once the handshake started */
	struct sess_tls *tls_slot;   /* this slot's TLS context, reused */
};

struct gen {
	const struct mx_bench_gen_conf *c;
	struct mx_bench_result *r;
	struct mx_loop *loop;
	struct sess *slots;
	unsigned *free_slots;
	unsigned n_free;
	unsigned active;
	uint8_t *bufs;
	size_t out_size;
	struct body *bodies;
	unsigned n_bodies;
	bool corpus;
	uint64_t msg_seq;
	uint64_t rng;
	uint64_t t_end_ms;
	uint64_t held;
	unsigned connect_fail_streak;
	bool stopping, aborting, ready_written;
	struct gen_tls *tls;
	struct mx_bench_sink *sink;  /* c->sink on this loop, or NULL */
};

/* gen.c, for gen_tls.c */
void mx_bench_gen_input(struct sess *s);
void mx_bench_gen_tls_done(struct sess *s);

/* gen_tls.c */
int mx_bench_gen_tls_init(struct gen *g);
void mx_bench_gen_tls_free(struct gen *g);
/* After the 220 to STARTTLS: start the handshake (state S_TLS). */
void mx_bench_gen_tls_start(struct sess *s);
/* Stream events while TLS is on (handshake or records). */
void mx_bench_gen_tls_readable(struct sess *s);
void mx_bench_gen_tls_step(struct sess *s);
/* The session is over: the slot's TLS context is reset for reuse. */
void mx_bench_gen_tls_end(struct sess *s);
/* Writes through TLS when on, else to the stream: bytes taken (0 when
 * full), or -1 with s->write_err set. */
long mx_bench_gen_write(struct sess *s, const uint8_t *p, size_t n);

#endif /* MX_BENCH_GEN_PRIV_H */
