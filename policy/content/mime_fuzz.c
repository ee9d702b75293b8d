/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mime_fuzz.c: libFuzzer harness for the MIME walker. The input is walked
 * whole, then again split at an offset taken from its first bytes and fed
 * in small pieces, and both walks must agree on the decoded text length,
 * the number of parts and the defects (the walker is split-independent).
 * The RFC 2047 decoder also gets the raw input. Nothing is allocated.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "content_mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
	size_t text, parts, hdr_raw, names;
	uint32_t defects;
};

static void
f_header_raw(void *u, const uint8_t *p, size_t n)
{
	((struct fz *)u)->hdr_raw += n;
}

static void
f_header(void *u, unsigned depth, struct mx_str name, struct mx_str value)
{
	/* Touch every byte so ASan sees an out-of-bounds slice. */
	volatile uint8_t x = 0;
	size_t i;

	for (i = 0; i < name.len; i++)
		x ^= (uint8_t)name.p[i];
	for (i = 0; i < value.len; i++)
		x ^= (uint8_t)value.p[i];
	(void)x;
	(void)depth;
	(void)u;
}

static void
f_part(void *u, const struct mx_mime_part *p)
{
	struct fz *f = u;

	MX_ASSERT(p->type_len < MX_MIME_TYPE_MAX && p->type[p->type_len] == '\0');
	MX_ASSERT(p->name_len < MX_MIME_NAME_MAX);
	f->parts++;
	f->names += p->name_len;
}

static void
f_text(void *u, const uint8_t *p, size_t n)
{
	((struct fz *)u)->text += n;
}

static void
f_defect(void *u, enum mx_content_defect d)
{
	((struct fz *)u)->defects |= 1u << d;
}

static const struct mx_mime_ops f_ops = {
	.header_raw = f_header_raw,
	.header = f_header,
	.part = f_part,
	.text = f_text,
	.defect = f_defect,
};

static struct mx_mime walker;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz a = { 0 }, b = { 0 };
	size_t split = size > 0 ? (size_t)data[0] * 7 % (size + 1) : 0, i, step;
	char out[MX_MIME_NAME_MAX];
	bool bad = false;

	mx_mime_init(&walker, &f_ops, &a);
	mx_mime_feed(&walker, data, size);
	mx_mime_finish(&walker);

	mx_mime_init(&walker, &f_ops, &b);
	mx_mime_feed(&walker, data, split);
	step = size > 1 ? (size_t)data[1] % 13 + 1 : 1;
	for (i = split; i < size; i += step)
		mx_mime_feed(&walker, data + i, MX_MIN(step, size - i));
	mx_mime_finish(&walker);

	MX_ASSERT(a.text == b.text && a.parts == b.parts && a.defects == b.defects &&
		a.hdr_raw == b.hdr_raw && a.names == b.names);
	MX_ASSERT(mx_mime_decode_2047((const char *)data, size, out, sizeof(out), &bad) <
		sizeof(out));
	return 0;
}
