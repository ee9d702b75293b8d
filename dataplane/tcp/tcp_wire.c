/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TCP wire format: option parsing and building, header parsing with every
 * length checked against the bytes actually received, the pseudo-header
 * checksum and segment building. Pure functions of their arguments; they
 * are fuzzed (tcp_opt_fuzz.c, tcp_seg_fuzz.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "mx_base.h"
#include "mx_tcp.h"

enum {
	OPT_EOL = 0,
	OPT_NOP = 1,
	OPT_MSS = 2,
	OPT_WS = 3,
	OPT_SACK_OK = 4,
	OPT_SACK = 5,
	OPT_TS = 8,
};

static uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		(uint32_t)p[2] << 8 | p[3];
}

static uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void
wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The length each option kind must have; 0 for variable or unknown. */
static int
opt_len_ok(uint8_t kind, uint8_t olen)
{
	switch (kind) {
	case OPT_MSS:
		return olen == 4;
	case OPT_WS:
		return olen == 3;
	case OPT_SACK_OK:
		return olen == 2;
	case OPT_TS:
		return olen == 10;
	case OPT_SACK:
		/* RFC 2018 3: 2 + 8n bytes, n = 1..4 fits in 40 bytes. */
		return olen >= 10 && (olen - 2) % 8 == 0;
	default:
		return 1;
	}
}

static void
opt_store(struct mx_tcp_opts *o, uint8_t kind, const uint8_t *v, uint8_t olen)
{
	switch (kind) {
	case OPT_MSS:
		o->has_mss = true;
		o->mss = rd16(v);
		break;
	case OPT_WS:
		o->has_wscale = true;
		o->wscale = v[0];
		break;
	case OPT_SACK_OK:
		o->sack_ok = true;
		break;
	case OPT_TS:
		o->has_ts = true;
		o->ts_val = rd32(v);
		o->ts_ecr = rd32(v + 4);
		break;
	case OPT_SACK:
		o->n_sack = (uint8_t)((olen - 2) / 8);
		break;
	default:
		break;
	}
}

int
mx_tcp_opt_parse(const uint8_t *p, size_t len, struct mx_tcp_opts *out)
{
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	if (len > MX_TCP_OPT_MAX)
		return -EINVAL;
	while (i < len) {
		uint8_t kind = p[i];
		uint8_t olen;

		if (kind == OPT_EOL)
			break;
		if (kind == OPT_NOP) {
			i++;
			continue;
		}
		/* STYLE pitfall 1: the length byte must itself be inside the
		 * options, at least 2 (or the loop would not advance) and not
		 * run past the end. */
		if (i + 1 >= len)
			return -EINVAL;
		olen = p[i + 1];
		if (olen < 2 || olen > len - i)
			return -EINVAL;
		if (!opt_len_ok(kind, olen))
			return -EINVAL;
		opt_store(out, kind, p + i + 2, olen);
		i += olen;
	}
	return 0;
}

int
mx_tcp_opt_build(const struct mx_tcp_opts *o, uint8_t *buf, size_t size)
{
	uint8_t tmp[MX_TCP_OPT_MAX];
	size_t n = 0;

	if (o->has_mss) {
		tmp[n++] = OPT_MSS;
		tmp[n++] = 4;
		wr16(tmp + n, o->mss);
		n += 2;
	}
	if (o->has_wscale) {
		tmp[n++] = OPT_NOP;
		tmp[n++] = OPT_WS;
		tmp[n++] = 3;
		tmp[n++] = o->wscale;
	}
	if (o->sack_ok) {
		tmp[n++] = OPT_NOP;
		tmp[n++] = OPT_NOP;
		tmp[n++] = OPT_SACK_OK;
		tmp[n++] = 2;
	}
	if (o->has_ts) {
		tmp[n++] = OPT_NOP;
		tmp[n++] = OPT_NOP;
		tmp[n++] = OPT_TS;
		tmp[n++] = 10;
		wr32(tmp + n, o->ts_val);
		wr32(tmp + n + 4, o->ts_ecr);
		n += 8;
	}
	if (n > size)
		return -ENOSPC;
	memcpy(buf, tmp, n);
	return (int)n;
}

int
mx_tcp_opt_build_sack(const uint32_t (*blocks)[2], unsigned n, uint8_t *buf,
		size_t size)
{
	size_t len = 4 + 8 * (size_t)n;

	if (n == 0 || n > MX_TCP_SACK_MAX)
		return -EINVAL;
	if (len > size)
		return -ENOSPC;
	buf[0] = OPT_NOP;
	buf[1] = OPT_NOP;
	buf[2] = OPT_SACK;
	buf[3] = (uint8_t)(len - 2);
	for (unsigned i = 0; i < n; i++) {
		wr32(buf + 4 + 8 * i, blocks[i][0]);
		wr32(buf + 8 + 8 * i, blocks[i][1]);
	}
	return (int)len;
}

static uint64_t
csum_pseudo(uint32_t saddr, uint32_t daddr, size_t l4_len)
{
	uint8_t ph[12];

	memcpy(ph, &saddr, 4);
	memcpy(ph + 4, &daddr, 4);
	ph[8] = 0;
	ph[9] = 6; /* IPPROTO_TCP */
	wr16(ph + 10, (uint16_t)l4_len);
	return mx_inet_sum(0, ph, sizeof(ph));
}

/* Returned as the two bytes the header field holds, read natively. */
uint16_t
mx_tcp_csum(uint32_t saddr, uint32_t daddr, const void *p, size_t l4_len)
{
	/* RFC 1071 over the pseudo-header (RFC 9293 3.1) and the segment. */
	return (uint16_t)~mx_inet_fold(mx_inet_sum(csum_pseudo(saddr, daddr, l4_len),
			p, l4_len));
}

int
mx_tcp_hdr_parse(const uint8_t *p, size_t avail, size_t l4_len,
		uint32_t saddr, uint32_t daddr, unsigned flags,
		struct mx_tcp_seg *out)
{
	struct mx_tcp_opts opts;
	size_t doff;

	/* STYLE pitfall 2: what the IP header claims must have arrived, and
	 * the pseudo-header length field is 16 bits. */
	if (l4_len > avail || l4_len < MX_TCP_HDR_MIN || l4_len > 0xffff)
		return -EINVAL;
	doff = (size_t)(p[12] >> 4) * 4;
	if (doff < MX_TCP_HDR_MIN || doff > l4_len)
		return -EINVAL;
	if (!(flags & MX_TCP_PARSE_NO_CSUM) &&
			mx_tcp_csum(saddr, daddr, p, l4_len) != 0)
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	out->saddr = saddr;
	out->daddr = daddr;
	out->sport = rd16(p);
	out->dport = rd16(p + 2);
	if (out->sport == 0 || out->dport == 0)
		return -EINVAL;
	out->seq = rd32(p + 4);
	out->ack = rd32(p + 8);
	out->flags = p[13];
	out->wnd = rd16(p + 14);
	out->opt_len = (uint8_t)(doff - MX_TCP_HDR_MIN);
	out->opt = p + MX_TCP_HDR_MIN;
	if (mx_tcp_opt_parse(out->opt, out->opt_len, &opts) != 0)
		return -EINVAL;
	out->len = (uint32_t)(l4_len - doff);
	out->payload = p + doff;
	return 0;
}

long
mx_tcp_seg_build(const struct mx_tcp_seg *seg, uint8_t *buf, size_t size)
{
	return mx_tcp_seg_build_flags(seg, buf, size, 0);
}

long
mx_tcp_seg_build_flags(const struct mx_tcp_seg *seg, uint8_t *buf, size_t size,
		unsigned flags)
{
	size_t hlen = MX_TCP_HDR_MIN + seg->opt_len;
	size_t total = hlen + seg->len;
	uint16_t c;

	if (seg->opt_len > MX_TCP_OPT_MAX || seg->opt_len % 4 != 0)
		return -EINVAL;
	if (total > size || total > 0xffff)
		return -ENOSPC;
	wr16(buf, seg->sport);
	wr16(buf + 2, seg->dport);
	wr32(buf + 4, seg->seq);
	wr32(buf + 8, seg->ack);
	buf[12] = (uint8_t)((hlen / 4) << 4);
	buf[13] = seg->flags;
	wr16(buf + 14, seg->wnd);
	buf[16] = 0;
	buf[17] = 0;
	buf[18] = 0;
	buf[19] = 0;
	if (seg->opt_len > 0)
		memcpy(buf + MX_TCP_HDR_MIN, seg->opt, seg->opt_len);
	if (seg->len > 0)
		memcpy(buf + hlen, seg->payload, seg->len);
	/* With offload the NIC sums the segment; reading it all here too
	 * would spend the cycles the offload exists to save. */
	if ((flags & MX_TCP_BUILD_NO_CSUM) != 0)
		return (long)total;
	c = mx_tcp_csum(seg->saddr, seg->daddr, buf, total);
	memcpy(buf + 16, &c, 2);
	return (long)total;
}
