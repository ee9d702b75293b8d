/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcp_wire_test: table-driven tests of the TCP option parser (every
 * malformed length of STYLE pitfall 1), the option builder round trip, the
 * checksum, and the header parser's length, offset and checksum checks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mx_base.h"
#include "mx_tcp.h"

struct opt_case {
	const char *name;
	const char *bytes;
	size_t len;
	int rc;
	uint16_t mss;       /* 0: absent */
	int ws;             /* -1: absent */
	bool sack_ok;
	bool ts;
	uint8_t n_sack;
};

static const struct opt_case opt_cases[] = {
	{ "empty", "", 0, 0, 0, -1, false, false, 0 },
	{ "mss", "\x02\x04\x05\xb4", 4, 0, 1460, -1, false, false, 0 },
	{ "mss ws sackok ts", "\x02\x04\x05\xb4\x01\x03\x03\x07\x01\x01\x04\x02"
		"\x01\x01\x08\x0a\x00\x00\x00\x01\x00\x00\x00\x02", 24, 0,
		1460, 7, true, true, 0 },
	{ "nop only", "\x01\x01\x01\x01", 4, 0, 0, -1, false, false, 0 },
	{ "eol stops parsing", "\x00\x02\x00\x00", 4, 0, 0, -1, false, false, 0 },
	{ "unknown kind skipped", "\x1e\x04\xff\xff\x02\x04\x02\x18", 8, 0,
		536, -1, false, false, 0 },
	{ "sack blocks counted", "\x05\x12\x00\x00\x00\x01\x00\x00\x00\x02"
		"\x00\x00\x00\x03\x00\x00\x00\x04", 18, 0, 0, -1, false, false, 2 },
	{ "mss length 0", "\x02\x00\x05\xb4", 4, -EINVAL, 0, -1, false, false, 0 },
	{ "mss length 1", "\x02\x01\x05\xb4", 4, -EINVAL, 0, -1, false, false, 0 },
	{ "mss length 3", "\x02\x03\x05\x00", 4, -EINVAL, 0, -1, false, false, 0 },
	{ "mss length past end", "\x02\x08\x05\xb4", 4, -EINVAL, 0, -1, false, false, 0 },
	{ "length byte missing", "\x01\x01\x01\x02", 4, -EINVAL, 0, -1, false, false, 0 },
	{ "unknown length 0", "\x1e\x00", 2, -EINVAL, 0, -1, false, false, 0 },
	{ "unknown length 1", "\x1e\x01\x00\x00", 4, -EINVAL, 0, -1, false, false, 0 },
	{ "ws length 4", "\x03\x04\x07\x00", 4, -EINVAL, 0, -1, false, false, 0 },
	{ "sackok length 3", "\x04\x03\x00\x00", 4, -EINVAL, 0, -1, false, false, 0 },
	{ "ts length 8", "\x08\x08\x00\x00\x00\x00\x00\x00", 8, -EINVAL, 0, -1,
		false, false, 0 },
	{ "sack length 9", "\x05\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 12,
		-EINVAL, 0, -1, false, false, 0 },
	{ "over 40 bytes", "\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01"
		"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01"
		"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01",
		44, -EINVAL, 0, -1, false, false, 0 },
};

static void
test_opt_parse(void **state)
{
	struct mx_tcp_opts o;
	size_t i;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(opt_cases); i++) {
		const struct opt_case *c = &opt_cases[i];
		int rc = mx_tcp_opt_parse((const uint8_t *)c->bytes, c->len, &o);

		if (rc != c->rc)
			fail_msg("%s: rc %d want %d", c->name, rc, c->rc);
		if (rc != 0)
			continue;
		if ((o.has_mss ? o.mss : 0) != c->mss ||
				(o.has_wscale ? o.wscale : -1) != c->ws ||
				o.sack_ok != c->sack_ok || o.has_ts != c->ts ||
				o.n_sack != c->n_sack)
			fail_msg("%s: fields differ", c->name);
	}
}

/* Every prefix of a valid option list either parses or is refused; none
 * reads past its length (ASan checks the copies). */
static void
test_opt_parse_every_prefix(void **state)
{
	const uint8_t full[] = "\x02\x04\x05\xb4\x01\x03\x03\x07\x04\x02"
		"\x08\x0a\x00\x00\x00\x01\x00\x00\x00\x02";
	struct mx_tcp_opts o;
	size_t n;

	(void)state;
	for (n = 0; n <= sizeof(full) - 1; n++) {
		uint8_t *copy = malloc(n + 1);
		int rc;

		assert_non_null(copy);
		memcpy(copy, full, n);
		rc = mx_tcp_opt_parse(copy, n, &o);
		/* Whole options end at 0, 4, 5 (the NOP), 8, 10 and 20 bytes. */
		if (n == 0 || n == 4 || n == 5 || n == 8 || n == 10 || n == 20)
			assert_int_equal(rc, 0);
		else
			assert_int_equal(rc, -EINVAL);
		free(copy);
	}
}

static void
test_opt_build_round_trip(void **state)
{
	struct mx_tcp_opts in, out;
	uint8_t buf[MX_TCP_OPT_MAX];
	int n;

	(void)state;
	memset(&in, 0, sizeof(in));
	in.has_mss = true;
	in.mss = 1400;
	in.has_wscale = true;
	in.wscale = 9;
	in.sack_ok = true;
	in.has_ts = true;
	in.ts_val = 0x01020304;
	in.ts_ecr = 0xa0b0c0d0;
	n = mx_tcp_opt_build(&in, buf, sizeof(buf));
	assert_int_equal(n, 24);
	assert_int_equal(mx_tcp_opt_parse(buf, (size_t)n, &out), 0);
	assert_true(out.has_mss && out.mss == 1400);
	assert_true(out.has_wscale && out.wscale == 9);
	assert_true(out.sack_ok && out.has_ts);
	assert_int_equal(out.ts_val, 0x01020304);
	assert_int_equal(out.ts_ecr, 0xa0b0c0d0);
	assert_int_equal(mx_tcp_opt_build(&in, buf, 23), -ENOSPC);
}

static void
build_seg(uint8_t *frame, size_t size, size_t paylen, long *len)
{
	static const uint8_t opt[4] = { 2, 4, 0x05, 0xb4 };
	uint8_t payload[64];
	struct mx_tcp_seg g;
	size_t i;

	for (i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)i;
	memset(&g, 0, sizeof(g));
	g.saddr = htonl(0xc6120002);
	g.daddr = htonl(0xc6120001);
	g.sport = 40000;
	g.dport = 25;
	g.seq = 0x11223344;
	g.ack = 0x55667788;
	g.flags = MX_TCP_ACK | MX_TCP_PSH;
	g.wnd = 4096;
	g.opt = opt;
	g.opt_len = 4;
	g.payload = payload;
	g.len = (uint32_t)paylen;
	*len = mx_tcp_seg_build(&g, frame, size);
}

/* RFC 2018 3: NOP, NOP, kind 5, length 2 + 8n, the blocks in order; the
 * parser reads back n; 0 or 5 blocks and a short buffer are refused. */
static void
test_opt_build_sack(void **state)
{
	static const uint32_t blk[5][2] = {
		{ 0x01020304, 0x05060708 }, { 10, 20 }, { 30, 40 }, { 50, 60 },
		{ 70, 80 },
	};
	static const uint8_t want1[12] = { 1, 1, 5, 10, 1, 2, 3, 4, 5, 6, 7, 8 };
	uint8_t buf[MX_TCP_OPT_MAX];
	struct mx_tcp_opts o;

	(void)state;
	assert_int_equal(mx_tcp_opt_build_sack(blk, 1, buf, sizeof(buf)), 12);
	assert_memory_equal(buf, want1, sizeof(want1));
	for (unsigned n = 1; n <= MX_TCP_SACK_MAX; n++) {
		assert_int_equal(mx_tcp_opt_build_sack(blk, n, buf, sizeof(buf)),
				(int)(4 + 8 * n));
		assert_int_equal(mx_tcp_opt_parse(buf, 4 + 8 * n, &o), 0);
		assert_int_equal(o.n_sack, n);
	}
	assert_int_equal(mx_tcp_opt_build_sack(blk, 0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(mx_tcp_opt_build_sack(blk, 5, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(mx_tcp_opt_build_sack(blk, 2, buf, 19), -ENOSPC);
}

static void
test_hdr_parse_good(void **state)
{
	uint8_t frame[256];
	struct mx_tcp_seg g;
	long n;

	(void)state;
	build_seg(frame, sizeof(frame), 33, &n);
	assert_int_equal(n, 20 + 4 + 33);
	assert_int_equal(mx_tcp_hdr_parse(frame, (size_t)n, (size_t)n,
			htonl(0xc6120002), htonl(0xc6120001), 0, &g), 0);
	assert_int_equal(g.sport, 40000);
	assert_int_equal(g.dport, 25);
	assert_int_equal(g.seq, 0x11223344);
	assert_int_equal(g.ack, 0x55667788);
	assert_int_equal(g.flags, MX_TCP_ACK | MX_TCP_PSH);
	assert_int_equal(g.wnd, 4096);
	assert_int_equal(g.opt_len, 4);
	assert_int_equal(g.len, 33);
	assert_int_equal(g.payload[32], 32);
	/* Extra bytes after the segment (Ethernet padding) are ignored. */
	assert_int_equal(mx_tcp_hdr_parse(frame, sizeof(frame), (size_t)n,
			htonl(0xc6120002), htonl(0xc6120001), 0, &g), 0);
	assert_int_equal(g.len, 33);
	/* Odd lengths checksum correctly too. */
	build_seg(frame, sizeof(frame), 0, &n);
	assert_int_equal(mx_tcp_hdr_parse(frame, (size_t)n, (size_t)n,
			htonl(0xc6120002), htonl(0xc6120001), 0, &g), 0);
}

struct hdr_case {
	const char *name;
	int byte;        /* index to change, -1 none */
	uint8_t value;
	long avail_delta;
	long l4_delta;
	unsigned flags;
	int rc;
};

static const struct hdr_case hdr_cases[] = {
	{ "checksum bit flipped", 16, 0, 0, 0, 0, -EBADMSG },
	{ "payload bit flipped", 40, 0, 0, 0, 0, -EBADMSG },
	{ "payload flip, csum offloaded", 40, 0, 0, 0, MX_TCP_PARSE_NO_CSUM, 0 },
	{ "data offset 4", 12, 4 << 4, 0, 0, MX_TCP_PARSE_NO_CSUM, -EINVAL },
	{ "data offset 0", 12, 0, 0, 0, MX_TCP_PARSE_NO_CSUM, -EINVAL },
	{ "data offset past end", 12, 15 << 4, 0, 0, MX_TCP_PARSE_NO_CSUM, -EINVAL },
	{ "ip length beyond frame", -1, 0, -1, 0, 0, -EINVAL },
	{ "ip length below header", -1, 0, 0, -40, 0, -EINVAL },
	{ "source port 0", 1, 0, 0, 0, MX_TCP_PARSE_NO_CSUM, -EINVAL },
	{ "bad option length", 21, 0, 0, 0, MX_TCP_PARSE_NO_CSUM, -EINVAL },
};

static void
test_hdr_parse_bad(void **state)
{
	uint8_t frame[256];
	struct mx_tcp_seg g;
	size_t i;
	long n;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(hdr_cases); i++) {
		const struct hdr_case *c = &hdr_cases[i];
		int rc;

		build_seg(frame, sizeof(frame), 33, &n);
		if (c->byte == 16 || c->byte == 40)
			frame[c->byte] ^= 1;
		else if (c->byte >= 0)
			frame[c->byte] = c->value;
		if (c->byte == 1)
			frame[0] = 0;
		rc = mx_tcp_hdr_parse(frame, (size_t)(n + c->avail_delta),
				(size_t)(n + c->l4_delta), htonl(0xc6120002),
				htonl(0xc6120001), c->flags, &g);
		if (rc != c->rc)
			fail_msg("%s: rc %d want %d", c->name, rc, c->rc);
	}
}

static void
test_seg_build_limits(void **state)
{
	uint8_t frame[64];
	long n;

	(void)state;
	build_seg(frame, sizeof(frame), 60, &n);
	assert_int_equal(n, -ENOSPC);
}

/* MX_TCP_BUILD_NO_CSUM (TX checksum offload): the same bytes as a full
 * build except the checksum field, left 0 for L3's pseudo-header sum;
 * without the flag the checksum verifies. */
static void
test_seg_build_no_csum(void **state)
{
	static const unsigned lens[] = { 0, 1, 2, 513, 1460 };
	uint8_t payload[1460], full[1500], off[1500];
	struct mx_tcp_seg seg;

	(void)state;
	for (unsigned i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 1);
	for (unsigned k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		memset(&seg, 0, sizeof(seg));
		seg.saddr = htonl(0xc6120002);
		seg.daddr = htonl(0xc6120001);
		seg.sport = 25;
		seg.dport = 41000 + (uint16_t)k;
		seg.seq = 0x01020304u * (k + 1);
		seg.ack = 77;
		seg.flags = MX_TCP_ACK | MX_TCP_PSH;
		seg.wnd = 1000;
		seg.payload = payload;
		seg.len = lens[k];
		memset(full, 0xaa, sizeof(full));
		memset(off, 0x55, sizeof(off));
		assert_int_equal(mx_tcp_seg_build_flags(&seg, full, sizeof(full), 0),
				20 + (long)lens[k]);
		assert_int_equal(mx_tcp_seg_build_flags(&seg, off, sizeof(off),
				MX_TCP_BUILD_NO_CSUM), 20 + (long)lens[k]);
		assert_int_equal(mx_tcp_csum(seg.saddr, seg.daddr, full, 20 + lens[k]), 0);
		assert_int_equal(off[16], 0);
		assert_int_equal(off[17], 0);
		assert_memory_equal(off, full, 16);
		assert_memory_equal(off + 18, full + 18, 2 + lens[k]);
	}
}

/* RFC 1071 as the definition reads: 16-bit big-endian words, the odd
 * last byte padded, the end-around carry folded, the sum complemented;
 * returned as the bytes the header field holds. */
static uint16_t
ref_csum(uint32_t saddr, uint32_t daddr, const uint8_t *p, size_t len)
{
	uint8_t ph[12];
	uint32_t sum = 0;
	uint16_t out;
	uint8_t b[2];

	memcpy(ph, &saddr, 4);
	memcpy(ph + 4, &daddr, 4);
	ph[8] = 0;
	ph[9] = 6;
	ph[10] = (uint8_t)(len >> 8);
	ph[11] = (uint8_t)len;
	for (size_t i = 0; i < 12; i += 2)
		sum += (uint32_t)(ph[i] << 8 | ph[i + 1]);
	for (size_t i = 0; i < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | (i + 1 < len ? p[i + 1] : 0));
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	sum = ~sum & 0xffff;
	b[0] = (uint8_t)(sum >> 8);
	b[1] = (uint8_t)sum;
	memcpy(&out, b, 2);
	return out;
}

/* The word-at-a-time checksum against the definition: every length up
 * to 1,600 octets at every alignment modulo 8, over bytes that make
 * carries (0xff runs) and over pseudo-random ones. */
static void
test_csum_matches_rfc1071(void **state)
{
	static uint8_t buf[1600 + 8];
	uint32_t x = 12345;

	(void)state;
	for (int fill = 0; fill < 2; fill++) {
		for (size_t i = 0; i < sizeof(buf); i++) {
			x = x * 1103515245u + 12345u;
			buf[i] = fill == 0 ? 0xff : (uint8_t)(x >> 16);
		}
		for (size_t len = 0; len <= 1600; len++) {
			for (size_t a = 0; a < 8; a++) {
				uint16_t got = mx_tcp_csum(htonl(0xc6120002), htonl(0xc6120001),
						buf + a, len);
				uint16_t want = ref_csum(htonl(0xc6120002), htonl(0xc6120001),
						buf + a, len);

				if (got != want)
					fail_msg("len %zu align %zu fill %d: %04x != %04x",
							len, a, fill, got, want);
			}
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_opt_parse),
		cmocka_unit_test(test_opt_parse_every_prefix),
		cmocka_unit_test(test_opt_build_round_trip),
		cmocka_unit_test(test_opt_build_sack),
		cmocka_unit_test(test_hdr_parse_good),
		cmocka_unit_test(test_hdr_parse_bad),
		cmocka_unit_test(test_seg_build_limits),
		cmocka_unit_test(test_seg_build_no_csum),
		cmocka_unit_test(test_csum_matches_rfc1071),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
