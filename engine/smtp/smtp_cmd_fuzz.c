/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smtp_cmd_fuzz: libFuzzer harness for the SMTP command line reader and
 * every argument parser (smtp_parse.c). The input is a stream of client
 * bytes; each line the reader returns is tokenized and, on success, handed
 * to the parser of its verb (the consumer). The same input is then fed
 * byte by byte: the sequence of results must be identical, or the reader
 * depends on how bytes arrive (abort). Nothing here allocates.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mx_smtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Folds one result into a running digest (FNV-1a). */
static uint64_t
fold(uint64_t h, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		h ^= (v >> (i * 8)) & 0xff;
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t
consume_line(const struct mx_smtp_line *l, uint64_t h, bool esmtp)
{
	struct mx_smtp_parse_opts o = { esmtp, !esmtp };
	struct mx_smtp_cmd cmd;
	struct mx_smtp_mail_args ma;
	struct mx_smtp_rcpt_args ra;
	struct mx_smtp_path p;
	uint64_t size;
	size_t used;
	bool last;

	h = fold(h, l->len);
	h = fold(h, mx_smtp_utf8_valid(l->text, l->len));
	if (mx_smtp_parse_cmd(l->text, l->len, &cmd) != MX_OK)
		return fold(h, 1000);
	h = fold(h, cmd.verb);
	switch (cmd.verb) {
	case MX_SMTP_VERB_MAIL:
		h = fold(h, mx_smtp_parse_mail(cmd.arg, &o, &ma));
		h = fold(h, ma.path.mailbox.len);
		break;
	case MX_SMTP_VERB_RCPT:
		h = fold(h, mx_smtp_parse_rcpt(cmd.arg, esmtp, &ra));
		h = fold(h, ra.path.mailbox.len);
		break;
	case MX_SMTP_VERB_BDAT:
		h = fold(h, mx_smtp_parse_bdat(cmd.arg, &size, &last));
		h = fold(h, size);
		break;
	case MX_SMTP_VERB_HELO:
	case MX_SMTP_VERB_EHLO:
		h = fold(h, mx_smtp_parse_helo(cmd.arg));
		break;
	default:
		h = fold(h, mx_smtp_parse_path(cmd.arg, true, true, esmtp, &p, &used));
		if (used > cmd.arg.len)
			abort();
		break;
	}
	return h;
}

static uint64_t
run(const uint8_t *data, size_t size, size_t step, size_t cap)
{
	char buf[1024];
	struct mx_smtp_line l;
	uint64_t h = 0xcbf29ce484222325ull;
	size_t off = 0;
	bool esmtp = size > 0 && (data[0] & 1);

	mx_smtp_line_init(&l, buf, cap);
	while (off < size) {
		size_t n = step == 0 ? size - off : (step < size - off ? step : size - off);
		size_t used = 0;
		enum mx_rc rc = mx_smtp_line_feed(&l, data + off, n, &used);

		if (used == 0 || used > n)
			abort();
		if (rc == MX_OK)
			h = consume_line(&l, h, esmtp);
		else if (rc == MX_TOOLONG)
			h = fold(h, 2000);
		off += used;
	}
	return h;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cap = size > 1 ? 16 + data[1] * 2 : 512;

	if (run(data, size, 0, cap) != run(data, size, 1, cap))
		abort();
	return 0;
}
