/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * relay_reply_fuzz: libFuzzer harness for the downstream reply parser.
 * The first byte of the input picks the piece size the rest is fed in
 * (1..256 bytes), so the fuzzer explores splits as well as contents.
 * Every complete line is also handed to the EHLO keyword reader and every
 * complete reply to the log escaping, as the relay does, and the parser's
 * invariants are checked on every result: it always advances, never
 * takes more than it was given, and a reply it accepts is within bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mx_relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_reply(const struct mx_relay_reply *rp)
{
	char buf[160];

	if (rp->code < 200 || rp->code > 559 || rp->n_lines == 0 ||
			rp->n_lines > MX_RELAY_REPLY_LINES_MAX ||
			rp->text_len > MX_RELAY_REPLY_LINE_MAX ||
			rp->msg_off > rp->text_len ||
			memchr(rp->esc, '\0', sizeof(rp->esc)) == NULL)
		abort();
	if (rp->esc[0] != '\0' && rp->esc[0] != '0' + rp->code / 100)
		abort();
	mx_printable(buf, sizeof(buf), rp->text + rp->msg_off, rp->text_len - rp->msg_off);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mx_relay_reply rp;
	struct mx_relay_caps caps = { 0, 0 };
	size_t piece, off = 1, used, n;
	enum mx_rc rc;

	if (size == 0)
		return 0;
	piece = (size_t)data[0] + 1;
	mx_relay_reply_init(&rp);
	while (off < size) {
		n = MX_MIN(piece, size - off);
		rc = mx_relay_reply_parse(&rp, data + off, n, &used);
		if (used == 0 || used > n)
			abort();
		off += used;
		if (rp.line_ready) {
			if (rp.line.len > MX_RELAY_REPLY_LINE_MAX)
				abort();
			mx_relay_caps_line(&caps, rp.line);
		}
		if (rc == MX_OK)
			check_reply(&rp);
	}
	return 0;
}
