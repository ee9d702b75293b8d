/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * port_test.c: EAL argument splitting (table), and port setup on the
 * net_null and net_ring vdevs: queues, offload and RSS report, counters
 * that move, pool sizing, and pool occupancy back to its baseline.
 *
 * The EAL starts once for the binary without hugepages, PCI or shared
 * files; when it cannot start on this machine the test exits 77 (skip).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "mx_port.h"
#include "port_testenv.h"

struct split_case {
	const char *in;
	int rc;
	const char *words[6];
};

static const struct split_case split_cases[] = {
	{ "", 0, { NULL } },
	{ "   \t ", 0, { NULL } },
	{ "-l 0", 2, { "-l", "0" } },
	{ "  -l   0  --no-huge ", 3, { "-l", "0", "--no-huge" } },
	{ "--vdev=net_tap0,iface=mx0", 1, { "--vdev=net_tap0,iface=mx0" } },
	{ "--vdev 'net_tap0,iface=m x'", 2, { "--vdev", "net_tap0,iface=m x" } },
	{ "a\"b c\"d", 1, { "ab cd" } },
	{ "\"q\\\"x\\\\\"", 1, { "q\"x\\" } },
	{ "'a\\b'", 1, { "a\\b" } },
	{ "a\\ b", 1, { "a b" } },
	{ "''", 1, { "" } },
	{ "'open", -EINVAL, { NULL } },
	{ "\"open", -EINVAL, { NULL } },
	{ "trail\\", -EINVAL, { NULL } },
	{ "a b c d e f g", -E2BIG, { NULL } },
};

static void
test_eal_split(void **state)
{
	char buf[128], *argv[6];
	unsigned i;
	int k;

	(void)state;
	for (i = 0; i < sizeof(split_cases) / sizeof(split_cases[0]); i++) {
		const struct split_case *c = &split_cases[i];
		int rc = mx_port_eal_split(c->in, buf, sizeof(buf), argv, 6);

		if (rc != c->rc)
			fail_msg("case %u \"%s\": rc %d, want %d", i, c->in, rc, c->rc);
		for (k = 0; k < rc; k++)
			assert_string_equal(argv[k], c->words[k]);
	}
}

static void
test_eal_split_nospace(void **state)
{
	char buf[4], *argv[4];

	(void)state;
	assert_int_equal(mx_port_eal_split("abcd", buf, sizeof(buf), argv, 4), -ENOSPC);
	assert_int_equal(mx_port_eal_split("abc", buf, sizeof(buf), argv, 4), 1);
	assert_int_equal(mx_port_eal_split("ab c", buf, sizeof(buf), argv, 4), -ENOSPC);
}

static void
test_eal_once(void **state)
{
	(void)state;
	assert_int_equal(mx_port_eal_init("t", "-l 0"), -EALREADY);
}

static void
test_conf_errors(void **state)
{
	struct mx_port_conf c;
	struct mx_port *p = (struct mx_port *)1;

	(void)state;
	mx_port_conf_init(&c);
	c.name = "net_nosuch9";
	assert_int_equal(mx_port_create(&c, &p), -ENODEV);
	assert_null(p);
	mx_port_conf_init(&c);
	c.name = "net_ring0";
	c.n_queues = 0;
	assert_int_equal(mx_port_create(&c, &p), -EINVAL);
	c.n_queues = MX_PORT_MAX_QUEUES + 1;
	assert_int_equal(mx_port_create(&c, &p), -EINVAL);
}

static unsigned
alloc_burst(struct rte_mempool *mp, struct rte_mbuf **pkts, unsigned n, uint8_t tag)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		char *d;

		pkts[i] = rte_pktmbuf_alloc(mp);
		assert_non_null(pkts[i]);
		d = rte_pktmbuf_append(pkts[i], 64);
		assert_non_null(d);
		memset(d, tag, 64);
		d[0] = (char)i;
	}
	return n;
}

/* net_null: two queue pairs, TX swallows, RX makes frames from the
 * queue's pool; both move the per-queue counters. */
static void
test_null_two_queues(void **state)
{
	struct rte_mbuf *pkts[MX_PKT_BURST];
	struct mx_port_conf c;
	struct mx_port_stats st;
	const struct mx_port_info *in;
	struct rte_mempool *mp;
	struct mx_port *p = NULL;
	unsigned base, q, got;

	(void)state;
	mx_port_conf_init(&c);
	c.name = "net_null0";
	c.n_queues = 2;
	c.rx_desc = 256;
	c.tx_desc = 256;
	c.in_flight = 512;
	assert_int_equal(mx_port_create(&c, &p), 0);
	in = mx_port_info(p);
	assert_int_equal(in->n_queues, 2);
	assert_string_equal(in->driver, "net_null");
	/* net_null reports RSS hash types, so two queues get RSS. */
	assert_true(in->rss);
	assert_non_null(mx_port_pool(p, 1));
	assert_null(mx_port_pool(p, 2));
	mp = mx_port_pool(p, 0);
	/* pool >= queues x descriptors + in flight */
	assert_true(mp->size >= 2u * (256 + 256) + 2u * 512);
	base = rte_mempool_avail_count(mp);
	for (q = 0; q < 2; q++) {
		alloc_burst(mp, pkts, MX_PKT_BURST, (uint8_t)q);
		assert_int_equal(rte_eth_tx_burst(in->port_id, (uint16_t)q, pkts, MX_PKT_BURST),
				MX_PKT_BURST);
		got = rte_eth_rx_burst(in->port_id, (uint16_t)q, pkts, MX_PKT_BURST);
		assert_true(got > 0);
		rte_pktmbuf_free_bulk(pkts, got);
	}
	assert_int_equal(mx_port_stats_get(p, &st), 0);
	assert_true(st.q_opackets[0] >= MX_PKT_BURST);
	assert_true(st.q_opackets[1] >= MX_PKT_BURST);
	assert_true(st.q_ipackets[0] > 0 && st.q_ipackets[1] > 0);
	assert_true(st.opackets >= 2 * MX_PKT_BURST);
	assert_int_equal(rte_mempool_avail_count(mp), base);
	assert_int_equal(mx_port_stats_reset(p), 0);
	assert_int_equal(mx_port_stats_get(p, &st), 0);
	assert_int_equal(st.opackets, 0);
	mx_port_free(p);
}

/* net_ring loops TX back to RX on the same queue: frames come back
 * intact, counters and xstats agree. */
static void
test_ring_round_trip(void **state)
{
	struct rte_mbuf *pkts[MX_PKT_BURST], *back[MX_PKT_BURST];
	struct mx_port_conf c;
	struct mx_port_stats st;
	const struct mx_port_info *in;
	struct rte_mempool *mp;
	struct mx_port *p = NULL;
	unsigned base, i, got;
	uint64_t v = 0;

	(void)state;
	mx_port_conf_init(&c);
	c.name = "net_ring0";
	c.rx_desc = 128;
	c.tx_desc = 128;
	c.link_wait_ms = 500;
	assert_int_equal(mx_port_create(&c, &p), 0);
	in = mx_port_info(p);
	assert_string_equal(in->driver, "net_ring");
	assert_false(in->rss); /* one queue: no RSS */
	assert_true(in->link_up);
	mp = mx_port_pool(p, 0);
	base = rte_mempool_avail_count(mp);
	alloc_burst(mp, pkts, 16, 0xab);
	assert_int_equal(rte_eth_tx_burst(in->port_id, 0, pkts, 16), 16);
	got = rte_eth_rx_burst(in->port_id, 0, back, MX_PKT_BURST);
	assert_int_equal(got, 16);
	for (i = 0; i < got; i++) {
		const uint8_t *d = rte_pktmbuf_mtod(back[i], const uint8_t *);

		assert_int_equal(rte_pktmbuf_pkt_len(back[i]), 64);
		assert_int_equal(d[0], i);
		assert_int_equal(d[63], 0xab);
	}
	rte_pktmbuf_free_bulk(back, got);
	assert_int_equal(mx_port_stats_get(p, &st), 0);
	assert_int_equal(st.opackets, 16);
	assert_int_equal(st.ipackets, 16);
	assert_int_equal(st.q_ipackets[0], 16);
	assert_int_equal(mx_port_xstat_get(p, "rx_good_packets", &v), 0);
	assert_int_equal(v, 16);
	assert_int_equal(mx_port_xstat_get(p, "no_such_counter", &v), -ENOENT);
	assert_int_equal(rte_mempool_avail_count(mp), base);
	mx_port_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eal_split),
		cmocka_unit_test(test_eal_split_nospace),
		cmocka_unit_test(test_eal_once),
		cmocka_unit_test(test_conf_errors),
		cmocka_unit_test(test_null_two_queues),
		cmocka_unit_test(test_ring_round_trip),
	};
	int rc;

	rc = port_testenv_start("port_test", "--vdev=net_null0 --vdev=net_ring0");
	if (rc != 0)
		return rc;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	port_testenv_end(NULL);
	return rc;
}
