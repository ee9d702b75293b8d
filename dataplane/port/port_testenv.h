/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * port_testenv.h: the EAL set-up every dataplane unit test needs, for
 * tests only (not part of the port's API). A test's main() calls
 * port_testenv_start(), runs its group, then port_testenv_end().
 *
 * The EAL runs without hugepages or PCI, with a file prefix of its own
 * (so parallel tests never share DPDK's runtime directory) and quiet
 * logs. When it cannot start, the test is skipped (exit 77, meson's skip
 * code) rather than failed: a machine without DPDK support is not a bug.
 */
#ifndef PORT_TESTENV_H
#define PORT_TESTENV_H

#include <stdio.h>
#include <unistd.h>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "mx_port.h"

#define PORT_TESTENV_SKIP 77

/* Starts the EAL for test `name` with `extra` EAL arguments ("" or
 * "--vdev=..."); returns 0 or PORT_TESTENV_SKIP. */
static inline int
port_testenv_start(const char *name, const char *extra)
{
	char args[512];

	snprintf(args, sizeof(args), "-l 0 --no-huge --no-pci -m 128 --no-shconf "
			"--no-telemetry --file-prefix mxtest%d --log-level=*:error %s",
			(int)getpid(), extra);
	if (mx_port_eal_init(name, args) < 0) {
		fprintf(stderr, "SKIP: the DPDK EAL cannot start here (%s)\n", args);
		return PORT_TESTENV_SKIP;
	}
	return 0;
}

/* An mbuf pool of n mbufs with data_room bytes each; NULL (reported)
 * when there is no memory. */
static inline struct rte_mempool *
port_testenv_pool(const char *name, unsigned n, uint16_t data_room)
{
	struct rte_mempool *mp;

	mp = rte_pktmbuf_pool_create(name, n, MX_PORT_POOL_CACHE, 0, data_room, 0);
	if (mp == NULL)
		fprintf(stderr, "SKIP: no memory for an mbuf pool\n");
	return mp;
}

/* Frees the pool (may be NULL), stops the EAL and removes the runtime
 * directory its file prefix made. */
static inline void
port_testenv_end(struct rte_mempool *mp)
{
	char dir[128];

	rte_mempool_free(mp);
	mx_port_eal_cleanup();
	snprintf(dir, sizeof(dir), "/var/run/dpdk/mxtest%d", (int)getpid());
	(void)rmdir(dir);
}

#endif /* PORT_TESTENV_H */
