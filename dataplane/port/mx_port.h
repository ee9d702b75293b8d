/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_port: DPDK EAL start-up and the setup of one ethdev port.
 *
 * mx_port_eal_init() splits an operator's EAL argument string (the
 * `--eal "..."` flag, shell-like quoting) into argv and starts the EAL
 * once per process. mx_port_create() configures one port with one RX/TX
 * queue pair per worker, symmetric RSS when the device offers it, the
 * checksum offloads it offers (struct mx_port_info says which, so the
 * stack computes the others in software), the MTU, per-socket mbuf pools,
 * starts it and waits (bounded) for the link. mx_port_free() stops and
 * closes it and frees its pools.
 *
 * Works on real NICs and on the net_tap, net_af_packet, net_memif,
 * net_ring and net_null vdevs. A real NIC is first given to DPDK:
 *   modprobe vfio-pci
 *   dpdk-devbind.py --bind=vfio-pci 0000:01:00.0
 *   mxedge run --eal "-l 0-3 -a 0000:01:00.0" ...
 * (hugepages reserved, e.g. dpdk-hugepages.py --setup 2G), and the port
 * is then named "0000:01:00.0". Vdevs, for laptops and CI:
 *   --eal "-l 0 --no-huge --vdev=net_tap0,iface=mx0"
 *   --eal "-l 0-1 --no-huge --vdev=net_af_packet0,iface=veth0,qpairs=2"
 * CI-friendly EAL arguments on DPDK 22.11 (no hugepages, nothing shared):
 *   -l 0 --no-huge --no-pci -m 256 --no-shconf --no-telemetry
 *   --file-prefix mxtest<pid>
 * (--in-memory is refused together with --no-huge on 22.11: --no-huge
 * implies legacy memory mode.)
 *
 * Thread: control thread only, at start and stop; nothing here runs on a
 * worker's hot path except the pool pointers it hands out.
 * This header includes no DPDK header so any module can include it.
 */
#ifndef MX_PORT_H
#define MX_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include "mx_base.h"

struct rte_mempool;
struct mx_port;

/* Packets per rx_burst/tx_burst call on every worker (l3fwd MAX_PKT_BURST). */
#define MX_PKT_BURST 32u
/* Frames a worker keeps when its TX queue is full (mx_pktio's backlog, a
 * power of two); every queue's pool holds this many more mbufs. */
#define MX_PKTIO_TX_BACKLOG 1024u
/* Per-lcore mempool cache; must cover a whole burst (checked in port.c). */
#define MX_PORT_POOL_CACHE 256u
#define MX_PORT_MAX_QUEUES 16u
#define MX_PORT_EAL_MAX_ARGS 64u

/* Splits s into at most max words written to argv, their bytes (each
 * NUL-terminated) into buf. Whitespace separates words; '...' is literal;
 * "..." allows \" and \\; a backslash outside quotes escapes the next
 * byte. Returns the word count, or -EINVAL (unterminated quote or
 * trailing backslash), -E2BIG (more than max words), -ENOSPC (buf too
 * small). */
int mx_port_eal_split(const char *s, char *buf, size_t size, char **argv, unsigned max);

/* Starts the EAL with prog as argv[0] and the words of args. Returns 0,
 * -EALREADY when already started in this process, -EINVAL for bad
 * arguments, or the negative rte_errno of rte_eal_init. */
int mx_port_eal_init(const char *prog, const char *args);
/* rte_eal_cleanup(); only after every port is freed. */
void mx_port_eal_cleanup(void);

struct mx_port_conf {
	const char *name;        /* device name ("net_tap0", "0000:01:00.0"), or NULL: port_id */
	uint16_t port_id;
	uint16_t n_queues;       /* RX/TX queue pairs, one per worker; 1..MX_PORT_MAX_QUEUES */
	uint16_t rx_desc;        /* 0: 1024 */
	uint16_t tx_desc;        /* 0: 1024 */
	uint16_t mtu;            /* 0: keep the device's */
	uint32_t in_flight;      /* mbufs a worker may hold besides descriptors; 0: 2048 */
	uint32_t link_wait_ms;   /* bound on the link-up wait; 0: do not wait */
	int queue_socket[MX_PORT_MAX_QUEUES]; /* NUMA socket of each queue's worker; -1: the port's */
};

struct mx_port_info {
	uint16_t port_id;
	uint16_t n_queues;
	uint8_t mac[6];
	uint16_t mtu;
	bool rss;                /* RSS spreads flows over the queues */
	bool rss_symmetric;      /* and with our symmetric key (both directions alike) */
	bool rx_ipv4_cksum;      /* offloads enabled; false: software */
	bool rx_tcp_cksum;
	bool tx_ipv4_cksum;
	bool tx_tcp_cksum;
	bool link_up;
	uint32_t link_speed_mbps;
	char driver[32];
};

struct mx_port_stats {
	uint64_t ipackets, opackets, ibytes, obytes;
	uint64_t imissed, ierrors, oerrors, rx_nombuf;
	uint64_t q_ipackets[MX_PORT_MAX_QUEUES];
	uint64_t q_opackets[MX_PORT_MAX_QUEUES];
};

/* Fills conf with defaults (queue_socket all -1). */
void mx_port_conf_init(struct mx_port_conf *conf);
/* Returns 0, -EINVAL (bad conf or MTU out of the device's range), -ENODEV
 * (no such port), -ENOMEM (pools), or the negative error of the ethdev
 * call that failed (logged with the call's name). */
int mx_port_create(const struct mx_port_conf *conf, struct mx_port **out);
/* Stops and closes the port, then frees its pools. NULL is a no-op. Every
 * mbuf of the pools must have been returned (the port's workers stopped). */
void mx_port_free(struct mx_port *p);

const struct mx_port_info *mx_port_info(const struct mx_port *p);
/* The pool queue's RX descriptors are filled from; workers allocate from
 * it too (ARP, ICMP, TCP segments). */
struct rte_mempool *mx_port_pool(const struct mx_port *p, uint16_t queue);
/* Re-reads the link state into the info (no wait). */
void mx_port_link_refresh(struct mx_port *p);

/* rte_eth_stats, per port and per queue. Returns 0 or -errno. */
int mx_port_stats_get(const struct mx_port *p, struct mx_port_stats *out);
/* One extended statistic by its driver name. Returns 0, -ENOENT, -errno. */
int mx_port_xstat_get(const struct mx_port *p, const char *name, uint64_t *value);
int mx_port_stats_reset(struct mx_port *p);

#endif /* MX_PORT_H */
