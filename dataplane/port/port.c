/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * port.c: EAL start-up from an argument string, and the configuration,
 * start, statistics and shutdown of one ethdev port (see mx_port.h).
 *
 * Everything here runs on the control thread at start or stop; it may
 * allocate, log and sleep (the bounded link wait).
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "mx_log.h"
#include "mx_port.h"

#define LOG_COMP "dataplane.port"
#define DEFAULT_DESC 1024u
#define DEFAULT_IN_FLIGHT 2048u
#define EAL_BUF_SIZE 4096u
#define MAX_SOCKETS 8
/* Toeplitz key length of most NICs (and of the RSS spec); 52 on i40e. */
#define RSS_KEY_MAX 64u

/* The mempool cache is filled and drained in bursts; a cache smaller than
 * a burst would go to the shared ring on every call (l3fwd's assert). */
static_assert(MX_PORT_POOL_CACHE >= MX_PKT_BURST, "pool cache below one burst");
/* A pool must hold every descriptor of every queue plus what workers keep
 * in flight, or RX stalls with rx_nombuf climbing; the defaults obey it. */
static_assert((uint64_t)MX_PORT_MAX_QUEUES * (DEFAULT_DESC * 2u) + DEFAULT_IN_FLIGHT
		< (uint64_t)UINT32_MAX, "pool size overflows");
static_assert(MX_PORT_POOL_CACHE <= RTE_MEMPOOL_CACHE_MAX_SIZE, "cache above DPDK max");

struct mx_port {
	struct mx_port_info info;
	struct mx_port_conf conf;
	bool configured; /* close on free only then: a failed create leaves the device usable */
	bool started;
	struct rte_mempool *pool[MAX_SOCKETS];
	int queue_pool[MX_PORT_MAX_QUEUES]; /* index into pool[] */
};

/* Set once rte_eal_init succeeded; control thread only. The argument
 * words stay allocated until cleanup: the EAL may keep pointers into
 * argv. */
static bool eal_started;
static char *eal_words;

static int
split_quoted(const char **sp, char quote, char **dp, char *end)
{
	const char *s = *sp;
	char *d = *dp;

	for (;;) {
		if (*s == '\0')
			return -EINVAL;
		if (*s == quote)
			break;
		if (quote == '"' && *s == '\\' && (s[1] == '"' || s[1] == '\\'))
			s++;
		if (d == end)
			return -ENOSPC;
		*d++ = *s++;
	}
	*sp = s + 1;
	*dp = d;
	return 0;
}

int
mx_port_eal_split(const char *s, char *buf, size_t size, char **argv, unsigned max)
{
	char *d = buf, *end = buf + size;
	unsigned n = 0;
	int rc;

	if (s == NULL || buf == NULL || size == 0)
		return -EINVAL;
	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == '\n')
			s++;
		if (*s == '\0')
			return (int)n;
		if (n == max)
			return -E2BIG;
		argv[n++] = d;
		while (*s != '\0' && *s != ' ' && *s != '\t' && *s != '\n') {
			if (*s == '\'' || *s == '"') {
				char q = *s++;

				rc = split_quoted(&s, q, &d, end);
				if (rc < 0)
					return rc;
				continue;
			}
			if (*s == '\\') {
				s++;
				if (*s == '\0')
					return -EINVAL;
			}
			if (d == end)
				return -ENOSPC;
			*d++ = *s++;
		}
		if (d == end)
			return -ENOSPC;
		*d++ = '\0';
	}
}

int
mx_port_eal_init(const char *prog, const char *args)
{
	char *argv[MX_PORT_EAL_MAX_ARGS + 2];
	char *buf;
	int n, rc;

	if (eal_started)
		return -EALREADY;
	buf = malloc(EAL_BUF_SIZE);
	if (buf == NULL)
		return -ENOMEM;
	argv[0] = (char *)(uintptr_t)prog;
	n = mx_port_eal_split(args != NULL ? args : "", buf, EAL_BUF_SIZE,
			argv + 1, MX_PORT_EAL_MAX_ARGS);
	if (n < 0) {
		MX_LOG(MX_LOG_ERR, LOG_COMP, "EAL arguments: %s", strerror(-n));
		free(buf);
		return -EINVAL;
	}
	argv[n + 1] = NULL;
	rc = rte_eal_init(n + 1, argv);
	if (rc < 0) {
		rc = rte_errno != 0 ? -rte_errno : -EINVAL;
		MX_LOG(MX_LOG_ERR, LOG_COMP, "rte_eal_init failed: %s", rte_strerror(-rc));
		free(buf);
		return rc;
	}
	eal_started = true;
	eal_words = buf;
	return 0;
}

void
mx_port_eal_cleanup(void)
{
	if (!eal_started)
		return;
	rte_eal_cleanup();
	eal_started = false;
	free(eal_words);
	eal_words = NULL;
}

void
mx_port_conf_init(struct mx_port_conf *conf)
{
	unsigned i;

	memset(conf, 0, sizeof(*conf));
	conf->n_queues = 1;
	conf->rx_desc = DEFAULT_DESC;
	conf->tx_desc = DEFAULT_DESC;
	conf->in_flight = DEFAULT_IN_FLIGHT;
	conf->link_wait_ms = 0;
	for (i = 0; i < MX_PORT_MAX_QUEUES; i++)
		conf->queue_socket[i] = -1;
}

static int
port_socket(uint16_t port_id)
{
	int s = rte_eth_dev_socket_id(port_id);

	return s < 0 ? 0 : s;
}

/* One pool per NUMA socket used by the queues, sized for that socket's
 * queues: descriptors of both rings plus the workers' in-flight share
 * and their TX backlogs (mx_pktio). */
static int
pools_create(struct mx_port *p)
{
	const struct mx_port_conf *c = &p->conf;
	unsigned nq[MAX_SOCKETS] = { 0 };
	uint32_t data_room = RTE_MBUF_DEFAULT_BUF_SIZE;
	char name[RTE_MEMPOOL_NAMESIZE];
	unsigned q;
	int s;

	if (c->mtu > RTE_ETHER_MTU)
		data_room = RTE_PKTMBUF_HEADROOM + c->mtu + RTE_ETHER_HDR_LEN +
			RTE_ETHER_CRC_LEN + 2 * RTE_VLAN_HLEN;
	for (q = 0; q < c->n_queues; q++) {
		s = c->queue_socket[q] >= 0 ? c->queue_socket[q] : port_socket(c->port_id);
		if (s >= MAX_SOCKETS)
			return -EINVAL;
		p->queue_pool[q] = s;
		nq[s]++;
	}
	for (s = 0; s < MAX_SOCKETS; s++) {
		uint32_t n;

		if (nq[s] == 0)
			continue;
		n = nq[s] * ((uint32_t)c->rx_desc + c->tx_desc) + nq[s] * c->in_flight +
			nq[s] * (MX_PORT_POOL_CACHE + MX_PKTIO_TX_BACKLOG);
		snprintf(name, sizeof(name), "mx_p%u_s%d", c->port_id, s);
		p->pool[s] = rte_pktmbuf_pool_create(name, n, MX_PORT_POOL_CACHE, 0,
				(uint16_t)data_room, s);
		if (p->pool[s] == NULL) {
			MX_LOG(MX_LOG_ERR, LOG_COMP, "rte_pktmbuf_pool_create(%s, %u) failed: %s",
					name, n, rte_strerror(rte_errno));
			return -ENOMEM;
		}
	}
	return 0;
}

/* A Toeplitz key of one repeated 16-bit word hashes (src, dst) and
 * (dst, src) alike, so both directions of a flow land on one queue
 * (Woo and Park, "Scalable TCP Session Monitoring with Symmetric RSS"). */
static void
rss_setup(struct mx_port *p, const struct rte_eth_dev_info *di,
		struct rte_eth_conf *ec, uint8_t *key)
{
	uint64_t hf = di->flow_type_rss_offloads &
		(RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_TCP);
	unsigned i;

	if (p->conf.n_queues < 2 || hf == 0)
		return;
	ec->rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
	ec->rx_adv_conf.rss_conf.rss_hf = hf;
	p->info.rss = true;
	if (di->hash_key_size == 0 || di->hash_key_size > RSS_KEY_MAX) {
		MX_LOG(MX_LOG_WARN, LOG_COMP,
				"port %u: RSS key size %u not settable, hash may be asymmetric",
				p->conf.port_id, di->hash_key_size);
		return;
	}
	for (i = 0; i < di->hash_key_size; i++)
		key[i] = (i & 1) != 0 ? 0x5a : 0x6d;
	ec->rx_adv_conf.rss_conf.rss_key = key;
	ec->rx_adv_conf.rss_conf.rss_key_len = di->hash_key_size;
	p->info.rss_symmetric = true;
}

static void
offload_setup(struct mx_port *p, const struct rte_eth_dev_info *di, struct rte_eth_conf *ec)
{
	struct mx_port_info *in = &p->info;

	in->rx_ipv4_cksum = (di->rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) != 0;
	in->rx_tcp_cksum = (di->rx_offload_capa & RTE_ETH_RX_OFFLOAD_TCP_CKSUM) != 0;
	in->tx_ipv4_cksum = (di->tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) != 0;
	in->tx_tcp_cksum = (di->tx_offload_capa & RTE_ETH_TX_OFFLOAD_TCP_CKSUM) != 0;
	if (in->rx_ipv4_cksum)
		ec->rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
	if (in->rx_tcp_cksum)
		ec->rxmode.offloads |= RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
	if (in->tx_ipv4_cksum)
		ec->txmode.offloads |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
	if (in->tx_tcp_cksum)
		ec->txmode.offloads |= RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
	/* Said once at start: which checksums the stack leaves to the NIC. */
	MX_LOG(MX_LOG_NOTICE, LOG_COMP, "port %u: checksum offload rx ipv4 %s tcp %s, "
			"tx ipv4 %s tcp %s (software otherwise)", p->info.port_id,
			in->rx_ipv4_cksum ? "on" : "off", in->rx_tcp_cksum ? "on" : "off",
			in->tx_ipv4_cksum ? "on" : "off", in->tx_tcp_cksum ? "on" : "off");
}

static int
check_rc(const struct mx_port *p, int rc, const char *call)
{
	if (rc < 0)
		MX_LOG(MX_LOG_ERR, LOG_COMP, "port %u: %s failed: %s",
				p->conf.port_id, call, rte_strerror(-rc));
	return rc;
}

static int
queues_setup(struct mx_port *p, const struct rte_eth_dev_info *di,
		const struct rte_eth_conf *ec)
{
	struct rte_eth_rxconf rxc = di->default_rxconf;
	struct rte_eth_txconf txc = di->default_txconf;
	uint16_t q, id = p->conf.port_id;
	int rc, s;

	rxc.offloads = ec->rxmode.offloads;
	txc.offloads = ec->txmode.offloads;
	for (q = 0; q < p->conf.n_queues; q++) {
		s = p->queue_pool[q];
		rc = rte_eth_rx_queue_setup(id, q, p->conf.rx_desc, (unsigned)s, &rxc, p->pool[s]);
		if (check_rc(p, rc, "rte_eth_rx_queue_setup") < 0)
			return rc;
		rc = rte_eth_tx_queue_setup(id, q, p->conf.tx_desc, (unsigned)s, &txc);
		if (check_rc(p, rc, "rte_eth_tx_queue_setup") < 0)
			return rc;
	}
	return 0;
}

void
mx_port_link_refresh(struct mx_port *p)
{
	struct rte_eth_link link;

	memset(&link, 0, sizeof(link));
	if (rte_eth_link_get_nowait(p->conf.port_id, &link) < 0)
		return;
	p->info.link_up = link.link_status == RTE_ETH_LINK_UP;
	p->info.link_speed_mbps = link.link_speed;
}

static void
link_wait(struct mx_port *p)
{
	const struct timespec step = { 0, 50 * 1000 * 1000 };
	uint32_t waited = 0;

	mx_port_link_refresh(p);
	while (!p->info.link_up && waited < p->conf.link_wait_ms) {
		nanosleep(&step, NULL);
		waited += 50;
		mx_port_link_refresh(p);
	}
	if (!p->info.link_up && p->conf.link_wait_ms > 0)
		MX_LOG(MX_LOG_WARN, LOG_COMP, "port %u: link still down after %u ms",
				p->conf.port_id, p->conf.link_wait_ms);
}

static int
conf_check(const struct mx_port_conf *c)
{
	if (c->n_queues == 0 || c->n_queues > MX_PORT_MAX_QUEUES)
		return -EINVAL;
	if (c->rx_desc == 0 || c->tx_desc == 0)
		return -EINVAL;
	return 0;
}

static int
device_configure(struct mx_port *p)
{
	struct rte_eth_dev_info di;
	struct rte_eth_conf ec;
	struct rte_ether_addr mac;
	uint8_t key[RSS_KEY_MAX];
	uint16_t id = p->conf.port_id;
	int rc;

	rc = rte_eth_dev_info_get(id, &di);
	if (check_rc(p, rc, "rte_eth_dev_info_get") < 0)
		return rc;
	if (p->conf.n_queues > di.max_rx_queues || p->conf.n_queues > di.max_tx_queues) {
		MX_LOG(MX_LOG_ERR, LOG_COMP, "port %u: %u queues asked, device has %u/%u",
				id, p->conf.n_queues, di.max_rx_queues, di.max_tx_queues);
		return -EINVAL;
	}
	if (p->conf.mtu != 0 && (p->conf.mtu < di.min_mtu || p->conf.mtu > di.max_mtu))
		return -EINVAL;
	snprintf(p->info.driver, sizeof(p->info.driver), "%s", di.driver_name);
	memset(&ec, 0, sizeof(ec));
	ec.rxmode.mtu = p->conf.mtu;
	rss_setup(p, &di, &ec, key);
	offload_setup(p, &di, &ec);
	rc = rte_eth_dev_configure(id, p->conf.n_queues, p->conf.n_queues, &ec);
	if (check_rc(p, rc, "rte_eth_dev_configure") < 0)
		return rc;
	p->configured = true;
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(id, &p->conf.rx_desc, &p->conf.tx_desc);
	if (check_rc(p, rc, "rte_eth_dev_adjust_nb_rx_tx_desc") < 0)
		return rc;
	rc = pools_create(p);
	if (rc < 0)
		return rc;
	rc = queues_setup(p, &di, &ec);
	if (rc < 0)
		return rc;
	rc = rte_eth_macaddr_get(id, &mac);
	if (check_rc(p, rc, "rte_eth_macaddr_get") < 0)
		return rc;
	memcpy(p->info.mac, mac.addr_bytes, sizeof(p->info.mac));
	return 0;
}

int
mx_port_create(const struct mx_port_conf *conf, struct mx_port **out)
{
	struct mx_port *p;
	uint16_t mtu = 0;
	int rc;

	*out = NULL;
	if (conf == NULL || conf_check(conf) < 0)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	p->conf = *conf;
	if (conf->name != NULL && rte_eth_dev_get_port_by_name(conf->name, &p->conf.port_id) != 0) {
		free(p);
		return -ENODEV;
	}
	if (!rte_eth_dev_is_valid_port(p->conf.port_id)) {
		free(p);
		return -ENODEV;
	}
	p->info.port_id = p->conf.port_id;
	p->info.n_queues = p->conf.n_queues;
	rc = device_configure(p);
	if (rc < 0)
		goto fail;
	rc = rte_eth_dev_start(p->conf.port_id);
	if (check_rc(p, rc, "rte_eth_dev_start") < 0)
		goto fail;
	p->started = true;
	if (rte_eth_dev_get_mtu(p->conf.port_id, &mtu) == 0)
		p->info.mtu = mtu;
	link_wait(p);
	*out = p;
	return 0;
fail:
	mx_port_free(p);
	return rc;
}

void
mx_port_free(struct mx_port *p)
{
	unsigned s;

	if (p == NULL)
		return;
	if (p->started)
		rte_eth_dev_stop(p->conf.port_id);
	if (p->configured)
		rte_eth_dev_close(p->conf.port_id);
	for (s = 0; s < MAX_SOCKETS; s++)
		rte_mempool_free(p->pool[s]);
	free(p);
}

const struct mx_port_info *
mx_port_info(const struct mx_port *p)
{
	return &p->info;
}

struct rte_mempool *
mx_port_pool(const struct mx_port *p, uint16_t queue)
{
	if (queue >= p->conf.n_queues)
		return NULL;
	return p->pool[p->queue_pool[queue]];
}

int
mx_port_stats_get(const struct mx_port *p, struct mx_port_stats *out)
{
	struct rte_eth_stats st;
	unsigned q, nq;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = rte_eth_stats_get(p->conf.port_id, &st);
	if (rc < 0)
		return rc;
	out->ipackets = st.ipackets;
	out->opackets = st.opackets;
	out->ibytes = st.ibytes;
	out->obytes = st.obytes;
	out->imissed = st.imissed;
	out->ierrors = st.ierrors;
	out->oerrors = st.oerrors;
	out->rx_nombuf = st.rx_nombuf;
	nq = MX_MIN(p->conf.n_queues, RTE_ETHDEV_QUEUE_STAT_CNTRS);
	for (q = 0; q < nq; q++) {
		out->q_ipackets[q] = st.q_ipackets[q];
		out->q_opackets[q] = st.q_opackets[q];
	}
	return 0;
}

int
mx_port_xstat_get(const struct mx_port *p, const char *name, uint64_t *value)
{
	uint64_t id;
	int rc;

	rc = rte_eth_xstats_get_id_by_name(p->conf.port_id, name, &id);
	if (rc < 0)
		return rc == -EINVAL ? -ENOENT : rc;
	rc = rte_eth_xstats_get_by_id(p->conf.port_id, &id, value, 1);
	if (rc < 0)
		return rc;
	return rc == 1 ? 0 : -ENOENT;
}

int
mx_port_stats_reset(struct mx_port *p)
{
	return rte_eth_stats_reset(p->conf.port_id);
}
