/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcp_seg_fuzz: libFuzzer harness for mx_tcp_hdr_parse and, behind it,
 * the whole input path of the stack. The input is a series of frames,
 * each a 2-byte big-endian length then that many bytes of TCP segment.
 * Each frame is parsed twice (checksum verified, and as if the NIC had
 * verified it, so the fuzzer reaches the stack); every accepted segment
 * goes into one stack listening on its destination port, under a clock
 * that advances 50 ms per frame, so timers fire too. Every segment the
 * stack emits is rebuilt and parsed again: it must be well formed. The
 * stack is freed at the end of each input.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mx_tcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Any two addresses: the checksum covers them, nothing else reads them. */
#define SADDR 0x020012c6u
#define DADDR 0x010012c6u

static void
check_out(const struct mx_tcp_seg *g, void *arg)
{
	uint8_t buf[2048];
	struct mx_tcp_seg back;
	long n;

	(void)arg;
	n = mx_tcp_seg_build(g, buf, sizeof(buf));
	if (n < 0)
		abort();
	if (mx_tcp_hdr_parse(buf, (size_t)n, (size_t)n, g->saddr, g->daddr,
			0, &back) != 0)
		abort();
}

static void
on_event(struct mx_tcp_conn *c, enum mx_tcp_event ev, int err, void *user)
{
	const uint8_t *p;
	size_t n;

	(void)err;
	(void)user;
	if (ev == MX_TCP_EV_READABLE) {
		n = mx_tcp_read_view(c, &p);
		if (n > 0 && p == NULL)
			abort();
		mx_tcp_consume(c, n);
		/* Answer something, so the send side runs as well. */
		(void)mx_tcp_send(c, "250 ok\r\n", 8);
		if (mx_tcp_peer_closed(c))
			mx_tcp_close(c);
	}
}

static void
on_accept(struct mx_tcp_listener *l, struct mx_tcp_conn *c, void *arg)
{
	(void)l;
	(void)arg;
	mx_tcp_conn_set_user(c, NULL);
}

static struct mx_tcp_stack *
stack_new(void)
{
	struct mx_tcp_conf conf;
	struct mx_tcp_stack *s;

	mx_tcp_conf_defaults(&conf);
	conf.max_conns = 4;
	conf.max_per_addr = 3;
	conf.syn_backlog = 2;
	conf.tw_slots = 2;
	conf.rcvbuf = 2048;
	conf.sndbuf = 2048;
	conf.tw_ms = 1000;
	conf.output = check_out;
	conf.event = on_event;
	memset(conf.isn_secret, 7, sizeof(conf.isn_secret));
	if (mx_tcp_stack_create(&conf, 0, &s) != 0)
		abort();
	return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mx_tcp_stack *s = stack_new();
	struct mx_tcp_listener *l;
	struct mx_tcp_seg g;
	uint64_t now = 0;
	size_t off = 0;
	unsigned frames = 0;

	while (off + 2 <= size && frames++ < 64) {
		size_t len = (size_t)data[off] << 8 | data[off + 1];
		uint8_t *frame;

		off += 2;
		if (len > size - off)
			len = size - off;
		/* An exact-size copy so ASan catches any over-read. */
		frame = malloc(len > 0 ? len : 1);
		if (frame == NULL)
			break;
		memcpy(frame, data + off, len);
		off += len;
		now += 50;
		(void)mx_tcp_hdr_parse(frame, len, len, SADDR, DADDR, 0, &g);
		if (mx_tcp_hdr_parse(frame, len, len, SADDR, DADDR,
				MX_TCP_PARSE_NO_CSUM, &g) == 0) {
			if (g.len > len || (g.opt_len > 0 && g.opt < frame))
				abort();
			if (mx_tcp_listen(s, 0, g.dport, on_accept, NULL, &l) == 0 &&
					(g.seq & 1) == 0)
				(void)mx_tcp_connect(s, DADDR, (uint16_t)(g.dport ^ 1),
						SADDR, g.sport, NULL,
						&(struct mx_tcp_conn *){ NULL });
			mx_tcp_input(s, &g, now);
		}
		free(frame);
		mx_tcp_tick(s, now);
	}
	mx_tcp_tick(s, now + 200000);
	mx_tcp_stack_free(s);
	return 0;
}
