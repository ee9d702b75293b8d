/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ipv4_fuzz.c: arbitrary bytes as an Ethernet frame into mx_net_input()
 * (Ethernet, ARP, IPv4 validation, ICMP echo, the TCP hook), over the
 * pktio memory backend. Whatever the stack sends is captured and freed,
 * the TCP hook frees what it gets, and after every input the mbuf pool
 * must be back at its baseline: a leak aborts like a crash.
 *
 * The EAL starts on the first input (no hugepages, nothing shared); if it
 * cannot, every input is skipped with one message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "mx_net.h"
#include "mx_pktio.h"
#include "mx_port.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t fz_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
/* Harness state, made once per process. */
static struct rte_mempool *fz_pool;
static struct mx_pktio *fz_io;
static struct mx_net *fz_net;
static int fz_state; /* 0 not tried, 1 ready, -1 unavailable */
static uint64_t fz_now;

static void
fz_tcp(void *ctx, struct rte_mbuf *m, const struct mx_ipv4_info *ip)
{
	(void)ctx;
	/* The consumer's view must stay inside the mbuf. */
	if (ip->l4_len > rte_pktmbuf_pkt_len(m))
		abort();
	rte_pktmbuf_free(m);
}

/* At exit: everything returned, the EAL stopped, its empty runtime
 * directory removed. */
static void
fz_fini(void)
{
	char dir[64];

	mx_net_free(fz_net);
	mx_pktio_free(fz_io);
	rte_mempool_free(fz_pool);
	mx_port_eal_cleanup();
	snprintf(dir, sizeof(dir), "/var/run/dpdk/mxfuzz%d", (int)getpid());
	(void)rmdir(dir);
}

static int
fz_init(void)
{
	struct mx_net_conf c;
	char args[256];

	snprintf(args, sizeof(args), "-l 0 --no-huge --no-pci -m 128 --no-shconf "
			"--no-telemetry --file-prefix mxfuzz%d --log-level=*:error", (int)getpid());
	if (mx_port_eal_init("ipv4_fuzz", args) < 0)
		return -1;
	atexit(fz_fini);
	fz_pool = rte_pktmbuf_pool_create("fz", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	if (fz_pool == NULL || mx_pktio_mem_create("fz", 64, &fz_io) < 0)
		return -1;
	mx_net_conf_init(&c);
	memcpy(c.mac, fz_mac, sizeof(fz_mac));
	c.addrs[0].addr = htonl(0xc6120001); /* 198.18.0.1/24 */
	c.addrs[0].prefix = 24;
	c.addrs[1].addr = htonl(0xc6130001); /* 198.19.0.1/16 */
	c.addrs[1].prefix = 16;
	c.n_addrs = 2;
	c.gateway = htonl(0xc61200fe);
	c.pool = fz_pool;
	c.io = fz_io;
	c.tcp_input = fz_tcp;
	c.icmp_rate = 1000000;
	c.icmp_burst = 1000000;
	return mx_net_create(&c, 0, &fz_net) < 0 ? -1 : 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rte_mbuf *m, *out[MX_PKT_BURST];
	unsigned base, n;
	char *d;

	if (fz_state == 0) {
		fz_state = fz_init();
		if (fz_state < 0)
			fprintf(stderr, "ipv4_fuzz: DPDK EAL unavailable, inputs skipped\n");
	}
	if (fz_state < 0)
		return 0;
	base = rte_mempool_avail_count(fz_pool);
	m = rte_pktmbuf_alloc(fz_pool);
	if (m == NULL)
		abort();
	size = MX_MIN(size, (size_t)rte_pktmbuf_tailroom(m));
	d = rte_pktmbuf_append(m, (uint16_t)size);
	if (d == NULL)
		abort();
	memcpy(d, data, size);
	fz_now += 7;
	mx_net_input(fz_net, &m, 1, fz_now);
	mx_net_tick(fz_net, fz_now);
	mx_pktio_flush(fz_io);
	while ((n = mx_pktio_mem_capture(fz_io, out, MX_PKT_BURST)) > 0)
		rte_pktmbuf_free_bulk(out, n);
	if (rte_mempool_avail_count(fz_pool) != base)
		abort();
	return 0;
}
