/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_bench: the SMTP traffic generator mxedge-bench (issue 7) and its
 * downstream sink, both on the stream API (mx_stream.h), so they run on
 * the kernel transport and on the DPDK transport like the engine does.
 *
 * Pieces, each usable on its own (the unit tests drive the first three):
 * - mx_bench_hist: an HDR-style log-linear latency histogram. Recording
 *   never allocates; values below 128 are exact, larger ones are kept with
 *   a relative error below 1/64 (64 sub-buckets per power of two).
 * - mx_bench_sizes: a message-size distribution, "4k:70,64k:25,1m:5".
 * - mx_bench_reply_parse: one SMTP reply (RFC 5321 4.2), multi-line
 *   included, with the EHLO keywords the generator acts on.
 * - mx_bench_gen_run / mx_bench_sink_run: the generator and the sink, one
 *   struct mx_loop on the calling thread each, always bounded in time.
 *
 * Everything a peer sends is checked; a reply we cannot parse counts as a
 * protocol error, never an assert.
 */
#ifndef MX_BENCH_H
#define MX_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mx_base.h"
#include "mx_stream.h"

/* ---- histogram ---- */

#define MX_BENCH_HIST_SUB 128u   /* exact below this; 2x sub-buckets/octave */
#define MX_BENCH_HIST_BUCKETS (MX_BENCH_HIST_SUB + 57u * (MX_BENCH_HIST_SUB / 2u))

struct mx_bench_hist {
	uint64_t count;
	uint64_t min;
	uint64_t max;
	uint64_t sum;
	uint64_t b[MX_BENCH_HIST_BUCKETS];
};

void mx_bench_hist_reset(struct mx_bench_hist *h);
void mx_bench_hist_record(struct mx_bench_hist *h, uint64_t v);
/* Adds src's samples to dst. */
void mx_bench_hist_merge(struct mx_bench_hist *dst, const struct mx_bench_hist *src);
/* The value at quantile q (0..1): the highest value of the bucket holding
 * the sample of rank ceil(q * count), clamped to [min, max]; 0 when empty. */
uint64_t mx_bench_hist_quantile(const struct mx_bench_hist *h, double q);
/* Bucket of v, and the lowest and highest value a bucket holds. */
unsigned mx_bench_hist_index(uint64_t v);
uint64_t mx_bench_hist_low(unsigned idx);
uint64_t mx_bench_hist_high(unsigned idx);

/* ---- size distribution ---- */

#define MX_BENCH_SIZES_MAX 16u
#define MX_BENCH_SIZE_LIMIT (64u << 20) /* largest message we generate */

struct mx_bench_sizes {
	unsigned n;
	unsigned total;                        /* sum of the weights */
	uint64_t size[MX_BENCH_SIZES_MAX];     /* bytes */
	unsigned weight[MX_BENCH_SIZES_MAX];
};

/* "SIZE[:WEIGHT],..." with SIZE a number with an optional k or m suffix
 * (KiB, MiB), 1..MX_BENCH_SIZE_LIMIT, and WEIGHT 1..1000000 (default 1).
 * Returns 0 or -EINVAL (syntax, range, too many entries). */
int mx_bench_sizes_parse(const char *s, struct mx_bench_sizes *out);
/* The entry that the random number r selects (r modulo the total weight,
 * each entry owning a share equal to its weight). */
unsigned mx_bench_sizes_pick(const struct mx_bench_sizes *d, uint64_t r);

/* ---- replies ---- */

#define MX_BENCH_REPLY_LINE_MAX 1000u /* RFC 5321 4.5.3.1.5, incl. CRLF */

/* EHLO keywords (RFC 5321 4.1.1.1) the generator acts on. */
#define MX_BENCH_EXT_PIPELINING 0x1u  /* RFC 2920 */
#define MX_BENCH_EXT_STARTTLS   0x2u  /* RFC 3207 */
#define MX_BENCH_EXT_8BITMIME   0x4u  /* RFC 6152 */

struct mx_bench_reply {
	int code;        /* 200..599 */
	unsigned lines;
	unsigned ext;    /* MX_BENCH_EXT_*, from lines after the first */
};

/* Parses one complete reply at the start of p[0..len). Lines end in LF
 * (CR before it optional); every line is "DDD-text" but the last, "DDD
 * text" or "DDD". Returns the byte count of the reply (> 0), 0 when it is
 * not complete yet, -EBADMSG when malformed (not three digits, a code
 * outside 200..599, codes that differ between lines, a bad separator) and
 * -EMSGSIZE when a line exceeds MX_BENCH_REPLY_LINE_MAX. */
long mx_bench_reply_parse(const uint8_t *p, size_t len, struct mx_bench_reply *out);

/* ---- generator ---- */

struct mx_bench_sink_conf;
struct mx_bench_sink_stats;

enum mx_bench_phase {
	MX_BENCH_PH_CONNECT = 0, /* connect started -> 220 */
	MX_BENCH_PH_EHLO,
	MX_BENCH_PH_TLS,         /* STARTTLS sent -> handshake done */
	MX_BENCH_PH_MAIL,
	MX_BENCH_PH_RCPT,
	MX_BENCH_PH_DATA,        /* DATA -> 354 */
	MX_BENCH_PH_DOT,         /* final dot queued -> 250 */
	MX_BENCH_PH_QUIT,
	MX_BENCH_PH_N,
};

const char *mx_bench_phase_name(enum mx_bench_phase ph);

#define MX_BENCH_SESSIONS_CAP 100000000ull
#define MX_BENCH_DURATION_CAP_S 3600u
#define MX_BENCH_CONCURRENCY_CAP 200000u
#define MX_BENCH_RCPTS_CAP 100u
#define MX_BENCH_MESSAGES_CAP 10000u
#define MX_BENCH_CORPUS_CAP 10000u

#define MX_BENCH_TARGETS_MAX 8u

struct mx_bench_gen_conf {
	enum mx_transport transport;
	/* Sessions go round-robin over the targets: one source address
	 * reaches one destination port through ~28,000 ephemeral ports, so
	 * 100,000 idle sessions need several listen ports. */
	struct mx_addr targets[MX_BENCH_TARGETS_MAX];
	unsigned n_targets;
	uint64_t sessions;            /* 0: run for duration_s */
	unsigned duration_s;          /* also the cap when sessions is set */
	unsigned concurrency;
	unsigned messages;            /* per session */
	unsigned rcpts;               /* per message */
	bool pipelining;              /* used when the server offers it */
	double starttls;              /* share of sessions doing STARTTLS */
	double resume;                /* share of those resuming a ticket */
	struct mx_bench_sizes sizes;
	const char *corpus;           /* directory of .eml files, or NULL */
	const char *helo;
	const char *mail_from;
	const char *rcpt_domain;
	unsigned hold_s;              /* idle mode: hold each session this long */
	unsigned hold_after;          /* idle mode: messages sent before holding */
	const char *ready_file;       /* idle mode: "HELD STARTED DONE", each second */
	unsigned reply_timeout_s;     /* per reply; then the session is aborted */
	/* A sink on the generator's own loop, or NULL (mx_bench_sink_attach). */
	const struct mx_bench_sink_conf *sink;
	struct mx_bench_sink_stats *sink_stats;
};

void mx_bench_gen_conf_defaults(struct mx_bench_gen_conf *c);

#define MX_BENCH_ERR_CODES 600u

enum mx_bench_err {
	MX_BENCH_ERR_CONNECT = 0, /* the active open failed */
	MX_BENCH_ERR_CLOSED,      /* the server closed or reset mid-session */
	MX_BENCH_ERR_TIMEOUT,     /* no reply within reply_timeout_s */
	MX_BENCH_ERR_PROTOCOL,    /* a reply we could not parse */
	MX_BENCH_ERR_TLS,         /* the TLS handshake or a record failed */
	MX_BENCH_ERR_NOTLS,       /* STARTTLS wanted but not offered */
	MX_BENCH_ERR_N,
};

const char *mx_bench_err_name(enum mx_bench_err e);

struct mx_bench_result {
	double elapsed_s;
	uint64_t sessions_started;
	uint64_t sessions_ok;         /* ended with 221 */
	uint64_t sessions_failed;
	uint64_t messages_ok;         /* 250 after the final dot */
	uint64_t messages_failed;
	uint64_t bytes_ok;            /* message bytes of messages_ok */
	uint64_t handshakes_full;
	uint64_t handshakes_resumed;
	uint64_t held_max;            /* idle mode: sessions held at once */
	uint64_t sink_messages;       /* what the sink on this loop received */
	uint64_t sink_bytes;
	uint64_t err_code[MX_BENCH_ERR_CODES]; /* unexpected replies by code */
	uint64_t err[MX_BENCH_ERR_N];
	struct mx_bench_hist phase[MX_BENCH_PH_N]; /* microseconds */
};

/* Runs the generator to completion (or to its time bound, or until *stop
 * becomes true) on the calling thread. r must be zeroed by the caller
 * (it is large; allocate it). Returns 0, or -errno when it could not start
 * (bad conf, corpus unreadable, loop or TLS set-up failed). */
int mx_bench_gen_run(const struct mx_bench_gen_conf *c, volatile int *stop,
		struct mx_bench_result *r);

uint64_t mx_bench_result_errors(const struct mx_bench_result *r);
void mx_bench_result_print(const struct mx_bench_result *r, const struct mx_bench_gen_conf *c);
/* Writes the result as one JSON object. Returns 0 or -errno. */
int mx_bench_result_json(const struct mx_bench_result *r,
		const struct mx_bench_gen_conf *c, const char *path);

/* ---- sink ---- */

struct mx_bench_sink_conf {
	enum mx_transport transport;
	struct mx_addr listen;
	unsigned duration_s;          /* hard bound; MX_BENCH_DURATION_CAP_S max */
	unsigned max_conns;
	const char *save_dir;         /* keep the first save_max messages here */
	unsigned save_max;
	const char *json;             /* counters written here at exit */
};

struct mx_bench_sink_stats {
	uint64_t sessions;
	uint64_t messages;
	uint64_t bytes;               /* message bytes, as on the wire */
	uint64_t rcpts;
	uint64_t refused;             /* connections over max_conns */
	uint64_t bad_lines;           /* commands too long: 500 and close */
	uint64_t saved;
};

/* Runs the sink on a loop of its own until *stop becomes true or
 * duration_s ran out. Prints "sink listening on ADDR" on stdout once it
 * listens. */
int mx_bench_sink_run(const struct mx_bench_sink_conf *c, volatile int *stop,
		struct mx_bench_sink_stats *st);

/* The sink on an existing loop (the generator's, so that on DPDK one
 * process plays both the sending MTAs and the downstream, each on its own
 * address). c and st must outlive it; free it after mx_loop_free(). */
struct mx_bench_sink;
int mx_bench_sink_attach(struct mx_loop *loop, const struct mx_bench_sink_conf *c,
		struct mx_bench_sink_stats *st, struct mx_bench_sink **out);
void mx_bench_sink_local(const struct mx_bench_sink *k, struct mx_addr *out);
void mx_bench_sink_close(struct mx_bench_sink *k);
void mx_bench_sink_free(struct mx_bench_sink *k);

#endif /* MX_BENCH_H */
