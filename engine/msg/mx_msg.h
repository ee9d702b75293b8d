/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_msg: one mail transaction: its envelope, the message bytes as they
 * arrived (dot-unstuffed, CRLF line ends), the index of its header section
 * (RFC 5322), and the header fields mxedge prepends (Received, later
 * Authentication-Results and the verdict).
 *
 * Memory. Message bytes live in a chain of fixed-size chunks from a
 * per-worker mx_chunk_pool; they are appended once and then only read by
 * reference (relay, spool, DKIM, content scan), never copied again. Small
 * per-transaction data (envelope strings, the header index, unfolded header
 * values) comes from a bump arena inside the same chunks. The pool has a
 * byte cap from the configuration: running out is -ENOMEM, which the SMTP
 * layer turns into 452 4.3.1, never a crash.
 *
 * The struct is exposed read-only so that policy/ can read the envelope
 * and headers without accessor boilerplate; only the functions below write
 * it, except the plain session facts (session_id, client, declared_size,
 * body, smtputf8, t_start_us, t_data_end_us), which the SMTP session that
 * owns the transaction sets directly. A msg belongs to one worker thread; it moves between owners (session
 * -> delivery) but never between threads, except to the I/O thread through
 * the spool, which reads it while the worker does not touch it.
 *
 * Header parsing is incremental: mx_msg_append() feeds every appended byte
 * to the parser until the header section ends (the first empty line), so
 * the index is ready the moment the last header line arrives, and any split
 * of the input gives the same result.
 */
#ifndef MX_MSG_H
#define MX_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mx_base.h"

struct mx_chunk_pool;
struct mx_chunk;

#define MX_MSG_ID_SIZE 24
#define MX_MSG_MAX_INSERTS 8 /* mx_msg_insert() edits per message */ /* queue id: 16 upper-case base32 chars + NUL, padded */

/* Header-section anomalies, recorded and left to policy to judge. */
enum mx_hdr_flag {
	MX_HDR_F_NO_COLON = 1u << 0,     /* a line without ':' ended the header section early */
	MX_HDR_F_TOO_MANY = 1u << 1,     /* more than max_headers fields; the rest not indexed */
	MX_HDR_F_TOO_LONG = 1u << 2,     /* a field over max_header_bytes; truncated in the index */
	MX_HDR_F_BAD_NAME = 1u << 3,     /* a field name with bytes outside RFC 5322 ftext */
	MX_HDR_F_LEADING_WSP = 1u << 4,  /* first line of the section starts with WSP */
	MX_HDR_F_NUL = 1u << 5,          /* a NUL byte in the header section */
	MX_HDR_F_8BIT = 1u << 6,         /* bytes >= 0x80 in the header section */
};

struct mx_hdr {
	struct mx_str name;  /* field name as sent, no colon, trailing WSP removed */
	struct mx_str raw;   /* the whole field: "Name: value" with its folding, no final CRLF */
	struct mx_str value; /* unfolded (RFC 5322 2.2.3): CRLF before WSP removed, outer WSP trimmed */
	size_t offset;       /* offset of the field's first byte in the message */
};

struct mx_rcpt {
	struct mx_str addr;   /* forward-path without the angle brackets */
	struct mx_str params; /* ESMTP parameters as sent (may be empty) */
};

enum mx_body_type {
	MX_BODY_7BIT = 0,
	MX_BODY_8BITMIME,
	MX_BODY_BINARYMIME,
};

struct mx_msg {
	char id[MX_MSG_ID_SIZE];
	uint64_t session_id;
	struct mx_addr client;
	struct mx_str helo;
	struct mx_str mail_from;  /* reverse-path without brackets; len 0 is the null sender */
	struct mx_str mail_params;
	uint64_t declared_size;   /* SIZE= from MAIL FROM, 0 if absent */
	enum mx_body_type body;
	bool smtputf8;
	struct mx_rcpt *rcpts;
	unsigned n_rcpts;

	size_t size;              /* message bytes appended so far */
	struct mx_hdr *hdrs;
	unsigned n_hdrs;
	bool hdrs_done;           /* the header section has ended */
	size_t body_offset;       /* first body byte (== size when there is no body yet) */
	unsigned hdr_flags;       /* enum mx_hdr_flag bits */
	struct mx_str prepend;    /* fields mxedge adds in front, each CRLF-terminated */

	uint64_t t_start_us;      /* MAIL FROM accepted */
	uint64_t t_data_end_us;   /* end of data received */

	/* private to msg.c below this line */
	struct mx_chunk_pool *pool;
	struct mx_chunk *data_head, *data_tail;
	struct mx_chunk *arena_head;
	size_t arena_used;
	size_t max_header_bytes;
	unsigned max_headers;
	unsigned hdr_cap;
	unsigned rcpt_cap;
	struct {
		int state;
		size_t field_start;     /* offset of current field */
		char *buf;              /* current field, in the arena */
		size_t len, cap;
		size_t name_len;        /* bytes of buf before the colon */
		unsigned flags;         /* anomalies of the current field */
		bool cr;                /* a CR waits for the next byte */
		bool skip;              /* field past max_headers: not stored */
		bool truncated;
	} hp;
	struct {
		size_t off;             /* offset in the appended bytes */
		const char *p;          /* in the arena */
		size_t len;
	} ins[MX_MSG_MAX_INSERTS];  /* sorted by off, then by order of insertion */
	unsigned n_ins;
	bool ended;                 /* mx_msg_finish() was called */
};

/* Pool of fixed-size chunks for one worker. chunk_bytes is rounded to a
 * multiple of 4 KiB (minimum 16 KiB); max_bytes caps what the pool may take
 * from the system allocator in total. Returns 0, -EINVAL or -ENOMEM. */
int mx_chunk_pool_create(size_t chunk_bytes, size_t max_bytes, struct mx_chunk_pool **out);
/* All msgs must have been released. */
void mx_chunk_pool_free(struct mx_chunk_pool *pool);
size_t mx_chunk_pool_bytes_in_use(const struct mx_chunk_pool *pool);
size_t mx_chunk_pool_bytes_max(const struct mx_chunk_pool *pool);
/* Test hook (STYLE 2.11, failure injection): after n more successful chunk
 * takes, every take fails with -ENOMEM; n < 0 turns it off. */
void mx_chunk_pool_fail_after(struct mx_chunk_pool *pool, long n);

/* A new empty transaction. max_headers/max_header_bytes bound the index;
 * both are further capped by what fits in one chunk (the index is one
 * array, a field one block: 16 KiB chunks hold ~290 fields of at most 8 KiB).
 * Returns 0 or -ENOMEM. */
int mx_msg_create(struct mx_chunk_pool *pool, unsigned max_headers,
		size_t max_header_bytes, struct mx_msg **out);
/* Returns every chunk to the pool; m is gone. NULL is fine. */
void mx_msg_release(struct mx_msg *m);

/* Arena: memory that lives as long as the msg. NULL when the pool is out. */
void *mx_msg_alloc(struct mx_msg *m, size_t size);
/* Copies s into the arena; returns 0 or -ENOMEM; *out points at the copy
 * (NUL-terminated for library boundaries, the NUL not counted). */
int mx_msg_strdup(struct mx_msg *m, struct mx_str s, struct mx_str *out);
/* Envelope. Returns 0 or -ENOMEM (also past the recipients one chunk's
 * array holds: 511 with 16 KiB chunks). */
int mx_msg_set_helo(struct mx_msg *m, struct mx_str helo);
int mx_msg_set_mail(struct mx_msg *m, struct mx_str reverse_path, struct mx_str params);
int mx_msg_add_rcpt(struct mx_msg *m, struct mx_str forward_path, struct mx_str params);
/* Appends a complete, CRLF-terminated header field to the prepend block
 * Fields appear in call order, the first call on top.
 * Returns 0 or -ENOMEM. */
int mx_msg_prepend(struct mx_msg *m, const char *field, size_t len);

/* Appends message bytes (already dot-unstuffed). Feeds the header parser
 * while the header section lasts. Returns 0 or -ENOMEM (pool exhausted;
 * nothing of this call was kept past what fit: the msg is unusable and the
 * caller must fail the transaction). */
int mx_msg_append(struct mx_msg *m, const void *p, size_t n);
/* Tells the parser that the data ended: a header section without an empty
 * line ends here. */
void mx_msg_finish(struct mx_msg *m);

/* Inserts len bytes (copied into the arena) in front of message offset
 * off, once the data has ended (mx_msg_finish): mx_msg_view() and m->size
 * include them from then on, and the header offsets and body_offset at or
 * past off move with them. For small edits of a received header section
 * without copying the message again (renaming a field: a prefix before
 * its name). Later appends are refused. Returns 0, -EINVAL (data not
 * ended, off past the end or inside an earlier insertion), -ENOSPC
 * (MX_MSG_MAX_INSERTS reached) or -ENOMEM. */
int mx_msg_insert(struct mx_msg *m, size_t off, const char *s, size_t len);

/* Zero-copy read: the contiguous run of message bytes starting at off;
 * returns its length (0 at or past the end). */
size_t mx_msg_view(const struct mx_msg *m, size_t off, const uint8_t **p);
/* First header whose name equals name (case-insensitive), starting the
 * search at index *idx (0 first); sets *idx past the match. NULL if none. */
const struct mx_hdr *mx_msg_find_hdr(const struct mx_msg *m, const char *name, unsigned *idx);

/* A fresh queue id (unique per process and time-sortable), into id. */
void mx_msg_new_id(char id[MX_MSG_ID_SIZE]);

#endif /* MX_MSG_H */
