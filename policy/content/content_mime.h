/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * content_mime: the incremental MIME walker (private to policy/content).
 *
 * It is fed a message (RFC 5322 + MIME, CRLF or LF line ends) in any split
 * and calls back, in message order: the raw bytes of the top-level header
 * section, each header field unfolded (bounded), each leaf part once its
 * headers are known (content type, decoded file name), the decoded text of
 * text parts (base64 and quoted-printable decoded on the fly), and every
 * defect it finds. It never allocates after init, keeps all state in the
 * struct, and never fails: malformed input only produces defects. Bounds:
 * MX_MIME_FIELD_MAX per header field, MX_MIME_MAX_DEPTH nested multiparts,
 * boundaries of at most 70 characters (RFC 2046 section 5.1.1).
 */
#ifndef CONTENT_MIME_H
#define CONTENT_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mx_base.h"
#include "mx_content.h"

#define MX_MIME_FIELD_MAX 4096
#define MX_MIME_MAX_DEPTH 8
#define MX_MIME_BOUNDARY_MAX 70
#define MX_MIME_NAME_MAX 256
#define MX_MIME_TYPE_MAX 128
#define MX_MIME_LINEBUF 128
#define MX_MIME_OUTBUF 1024
#define MX_MIME_SEGS 16

struct mx_mime_part {
	const char *type;       /* lowercased "type/subtype", NUL-terminated */
	size_t type_len;
	const char *name;       /* decoded file name, "" when none */
	size_t name_len;
	bool attachment;        /* Content-Disposition: attachment */
	bool text;              /* scanned as body text */
	unsigned depth;
};

struct mx_mime_ops {
	void (*header_raw)(void *u, const uint8_t *p, size_t n);
	void (*header)(void *u, unsigned depth, struct mx_str name, struct mx_str value);
	void (*part)(void *u, const struct mx_mime_part *part);
	void (*text)(void *u, const uint8_t *p, size_t n);
	void (*defect)(void *u, enum mx_content_defect d);
};

enum mx_mime_cte {
	MX_MIME_CTE_IDENTITY = 0,
	MX_MIME_CTE_BASE64,
	MX_MIME_CTE_QP,
};

struct mx_mime_bnd {
	char b[MX_MIME_BOUNDARY_MAX];
	uint8_t len;
};

/* Header results of the entity being parsed. */
struct mx_mime_ent {
	char type[MX_MIME_TYPE_MAX];
	size_t type_len;
	char ct_name[MX_MIME_NAME_MAX];
	size_t ct_name_len;
	char fname[MX_MIME_NAME_MAX];
	size_t fname_len;
	struct mx_mime_bnd bnd;
	bool has_bnd;
	bool attachment;
	enum mx_mime_cte cte;
};

struct mx_mime {
	const struct mx_mime_ops *ops;
	void *u;
	int st;                     /* enum mime_state in mime.c */
	unsigned depth;             /* entity depth: 0 is the message */
	bool top;                   /* still in the top-level header */
	/* header field being unfolded */
	char field[MX_MIME_FIELD_MAX];
	size_t field_len;
	bool have_field;
	bool field_trunc;
	bool hdr_bol;               /* at the start of a header line */
	bool hdr_cr;                /* CR seen at the start of a header line */
	struct mx_mime_ent ent;
	/* body */
	int body;                   /* enum mime_body in mime.c */
	bool bol;
	uint8_t lb[MX_MIME_LINEBUF];
	size_t lb_len;
	struct mx_mime_bnd bnd[MX_MIME_MAX_DEPTH];
	unsigned n_bnd;
	/* decoders */
	uint32_t b64_acc;
	unsigned b64_n;
	bool b64_end;
	int qp_st;
	uint8_t qp_hex;
	uint8_t out[MX_MIME_OUTBUF];
	size_t out_len;
	uint32_t defects;
};

void mx_mime_init(struct mx_mime *m, const struct mx_mime_ops *ops, void *u);
/* Starts a new message; no allocation. */
void mx_mime_reset(struct mx_mime *m);
void mx_mime_feed(struct mx_mime *m, const uint8_t *p, size_t n);
/* End of message: flushes decoders and pending state. */
void mx_mime_finish(struct mx_mime *m);

/* Decoders shared with tests: RFC 2047 encoded words in src are decoded
 * into dst (charset kept as bytes). Returns the output length; sets *bad
 * when an encoded word was malformed (it is then copied as is). */
size_t mx_mime_decode_2047(const char *src, size_t n, char *dst, size_t size,
		bool *bad);

#endif /* CONTENT_MIME_H */
