/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * main.c: the mxedge-bench command line.
 *
 *   mxedge-bench [run] --target HOST:PORT [load options] [--json FILE]
 *   mxedge-bench sink --listen HOST:PORT [--duration S] [--save DIR ...]
 *
 * Both run on the kernel transport by default, or on the DPDK transport
 * (--transport dpdk --eal "..." --address IP/PREFIX), whose TCP does the
 * active opens of the generator. Every run is bounded: a session count
 * and/or a duration, both capped (mx_bench.h). SIGINT/SIGTERM stop it
 * early; the generator then lets running sessions finish for a grace
 * period and reports what it measured; the sink writes its counters.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mx_bench.h"
#include "mx_dpdk.h"

static volatile int stop_flag;

static void
on_signal(int sig)
{
	stop_flag = 1;
}

static void
signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

static void
usage(void)
{
	fprintf(stderr,
		"usage: mxedge-bench [run] --target HOST:PORT [options]\n"
		"  --target HOST:PORT        repeatable (up to 8): sessions go round-robin\n"
		"  --sessions N              sessions in total (default 1000; 0: use --duration)\n"
		"  --duration S              time bound in seconds (default 600, cap 3600)\n"
		"  --concurrency C           sessions at once (default 10)\n"
		"  --messages-per-session M  (default 1)\n"
		"  --size SPEC               bytes or a distribution, e.g. 4k:70,64k:25,1m:5\n"
		"  --rcpts R                 recipients per message (default 1)\n"
		"  --pipelining on|off       RFC 2920 when offered (default on)\n"
		"  --starttls SHARE          share of sessions doing STARTTLS (0..1)\n"
		"  --resume SHARE            share of those resuming a session ticket\n"
		"  --corpus DIR              send DIR/*.eml round-robin instead of --size\n"
		"  --helo NAME --from ADDR --rcpt-domain DOMAIN\n"
		"  --hold S                  idle mode: hold each session S seconds after EHLO\n"
		"  --hold-after M            idle mode: send M messages first (default 0)\n"
		"  --ready-file FILE         idle mode: \"HELD STARTED DONE\" each second\n"
		"  --reply-timeout S         per reply (default 60)\n"
		"  --json FILE               result as JSON\n"
		"  --sink-listen HOST:PORT   also play the downstream (a sink) on this loop\n"
		"  --quiet                   no table on stdout\n"
		"       mxedge-bench sink --listen HOST:PORT [--duration S] [--max-conns N]\n"
		"                         [--save DIR --save-max K] [--json FILE]\n"
		"  both: --transport kernel|dpdk --eal \"ARGS\" --address IP/PREFIX [--gateway IP]\n");
}

struct common {
	enum mx_transport transport;
	struct mx_dpdk_conf dpdk;
	const char *json;
	bool quiet;
};

static int
parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v > max || s[0] == '-')
		return -EINVAL;
	*out = v;
	return 0;
}

static int
parse_share(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end != '\0' || !(v >= 0.0 && v <= 1.0))
		return -EINVAL;
	*out = v;
	return 0;
}

static int
parse_cidr(const char *s, struct mx_net_addr *out)
{
	char ip[64];
	const char *slash = strchr(s, '/');
	unsigned long long prefix = 32;
	struct in_addr a;

	if (slash == NULL || (size_t)(slash - s) >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, s, (size_t)(slash - s));
	ip[slash - s] = '\0';
	if (inet_pton(AF_INET, ip, &a) != 1 || parse_uint(slash + 1, 32, &prefix) != 0)
		return -EINVAL;
	out->addr = a.s_addr;
	out->prefix = (uint8_t)prefix;
	return 0;
}

enum {
	O_TARGET = 256, O_SESSIONS, O_DURATION, O_CONC, O_MSGS, O_SIZE, O_RCPTS,
	O_PIPE, O_TLS, O_RESUME, O_CORPUS, O_HELO, O_FROM, O_RDOM, O_HOLD, O_HOLD_AFTER,
	O_READY, O_RTMO, O_JSON, O_QUIET, O_TRANSPORT, O_EAL, O_ADDRESS, O_GW,
	O_LISTEN, O_MAXC, O_SAVE, O_SAVEMAX, O_SINK,
};

static const struct option opts[] = {
	{ "target", required_argument, NULL, O_TARGET },
	{ "sessions", required_argument, NULL, O_SESSIONS },
	{ "duration", required_argument, NULL, O_DURATION },
	{ "concurrency", required_argument, NULL, O_CONC },
	{ "messages-per-session", required_argument, NULL, O_MSGS },
	{ "size", required_argument, NULL, O_SIZE },
	{ "rcpts", required_argument, NULL, O_RCPTS },
	{ "pipelining", required_argument, NULL, O_PIPE },
	{ "starttls", required_argument, NULL, O_TLS },
	{ "resume", required_argument, NULL, O_RESUME },
	{ "corpus", required_argument, NULL, O_CORPUS },
	{ "helo", required_argument, NULL, O_HELO },
	{ "from", required_argument, NULL, O_FROM },
	{ "rcpt-domain", required_argument, NULL, O_RDOM },
	{ "hold", required_argument, NULL, O_HOLD },
	{ "hold-after", required_argument, NULL, O_HOLD_AFTER },
	{ "ready-file", required_argument, NULL, O_READY },
	{ "reply-timeout", required_argument, NULL, O_RTMO },
	{ "json", required_argument, NULL, O_JSON },
	{ "quiet", no_argument, NULL, O_QUIET },
	{ "transport", required_argument, NULL, O_TRANSPORT },
	{ "eal", required_argument, NULL, O_EAL },
	{ "address", required_argument, NULL, O_ADDRESS },
	{ "gateway", required_argument, NULL, O_GW },
	{ "listen", required_argument, NULL, O_LISTEN },
	{ "max-conns", required_argument, NULL, O_MAXC },
	{ "save", required_argument, NULL, O_SAVE },
	{ "save-max", required_argument, NULL, O_SAVEMAX },
	{ "sink-listen", required_argument, NULL, O_SINK },
	{ NULL, 0, NULL, 0 },
};

static int
common_opt(int o, const char *arg, struct common *cm)
{
	struct in_addr a;

	switch (o) {
	case O_TRANSPORT:
		if (strcmp(arg, "kernel") == 0)
			cm->transport = MX_TRANSPORT_KERNEL;
		else if (strcmp(arg, "dpdk") == 0)
			cm->transport = MX_TRANSPORT_DPDK;
		else
			return -EINVAL;
		return 0;
	case O_EAL:
		cm->dpdk.eal = arg;
		return 0;
	case O_ADDRESS:
		if (cm->dpdk.n_addrs == MX_NET_MAX_ADDRS)
			return -EINVAL;
		return parse_cidr(arg, &cm->dpdk.addrs[cm->dpdk.n_addrs++]);
	case O_GW:
		if (inet_pton(AF_INET, arg, &a) != 1)
			return -EINVAL;
		cm->dpdk.gateway = a.s_addr;
		return 0;
	case O_JSON:
		cm->json = arg;
		return 0;
	case O_QUIET:
		cm->quiet = true;
		return 0;
	default:
		return -ENOENT;
	}
}

static int
gen_opt(int o, const char *arg, struct mx_bench_gen_conf *c, bool *have_target,
		bool *have_sessions, bool *have_duration)
{
	unsigned long long v = 0;
	int rc = 0;

	switch (o) {
	case O_TARGET:
		*have_target = true;
		if (c->n_targets == MX_BENCH_TARGETS_MAX)
			return -EINVAL;
		return mx_addr_parse(arg, -1, &c->targets[c->n_targets++]);
	case O_SESSIONS:
		*have_sessions = true;
		rc = parse_uint(arg, MX_BENCH_SESSIONS_CAP, &v);
		c->sessions = v;
		return rc;
	case O_DURATION:
		*have_duration = true;
		rc = parse_uint(arg, MX_BENCH_DURATION_CAP_S, &v);
		c->duration_s = (unsigned)v;
		return rc;
	case O_CONC:
		rc = parse_uint(arg, MX_BENCH_CONCURRENCY_CAP, &v);
		c->concurrency = (unsigned)v;
		return rc;
	case O_MSGS:
		rc = parse_uint(arg, MX_BENCH_MESSAGES_CAP, &v);
		c->messages = (unsigned)v;
		return rc;
	case O_RCPTS:
		rc = parse_uint(arg, MX_BENCH_RCPTS_CAP, &v);
		c->rcpts = (unsigned)v;
		return rc;
	case O_HOLD:
		rc = parse_uint(arg, MX_BENCH_DURATION_CAP_S, &v);
		c->hold_s = (unsigned)v;
		return rc;
	case O_HOLD_AFTER:
		rc = parse_uint(arg, MX_BENCH_MESSAGES_CAP, &v);
		c->hold_after = (unsigned)v;
		return rc;
	case O_RTMO:
		rc = parse_uint(arg, 3600, &v);
		c->reply_timeout_s = (unsigned)v;
		return rc == 0 && v == 0 ? -EINVAL : rc;
	case O_SIZE:
		return mx_bench_sizes_parse(arg, &c->sizes);
	case O_PIPE:
		if (strcmp(arg, "on") != 0 && strcmp(arg, "off") != 0)
			return -EINVAL;
		c->pipelining = strcmp(arg, "on") == 0;
		return 0;
	case O_TLS:
		return parse_share(arg, &c->starttls);
	case O_RESUME:
		return parse_share(arg, &c->resume);
	case O_CORPUS:
		c->corpus = arg;
		return 0;
	case O_HELO:
		c->helo = arg;
		return 0;
	case O_FROM:
		c->mail_from = arg;
		return 0;
	case O_RDOM:
		c->rcpt_domain = arg;
		return 0;
	case O_READY:
		c->ready_file = arg;
		return 0;
	default:
		return -ENOENT;
	}
}

static int
transport_start(struct common *cm)
{
	int rc;

	if (cm->transport != MX_TRANSPORT_DPDK)
		return 0;
	if (cm->dpdk.n_addrs == 0) {
		fprintf(stderr, "mxedge-bench: --transport dpdk needs --address IP/PREFIX\n");
		return -EINVAL;
	}
	cm->dpdk.n_queues = 1;
	rc = mx_dpdk_start(&cm->dpdk);
	if (rc != 0)
		fprintf(stderr, "mxedge-bench: cannot start DPDK (--eal \"%s\"): %s\n",
				cm->dpdk.eal != NULL ? cm->dpdk.eal : "", strerror(-rc));
	return rc;
}

static void
transport_stop(struct common *cm)
{
	if (cm->transport == MX_TRANSPORT_DPDK)
		mx_dpdk_stop();
}

static int
gen_main(int argc, char **argv)
{
	bool have_target = false, have_sessions = false, have_duration = false;
	struct mx_bench_sink_conf sc;
	struct mx_bench_sink_stats ss;
	struct mx_bench_gen_conf c;
	struct mx_bench_result *r;
	struct common cm;
	int o, rc;

	memset(&cm, 0, sizeof(cm));
	memset(&sc, 0, sizeof(sc));
	memset(&ss, 0, sizeof(ss));
	mx_bench_gen_conf_defaults(&c);
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		rc = common_opt(o, optarg, &cm);
		if (rc == -ENOENT && o == O_SINK) {
			rc = mx_addr_parse(optarg, -1, &sc.listen);
			c.sink = &sc;
			c.sink_stats = &ss;
		}
		if (rc == -ENOENT)
			rc = gen_opt(o, optarg, &c, &have_target, &have_sessions, &have_duration);
		if (rc != 0) {
			if (o != '?')
				fprintf(stderr, "mxedge-bench: bad value for --%s: %s\n",
						opts[o - O_TARGET].name, optarg != NULL ? optarg : "");
			usage();
			return 2;
		}
	}
	if (!have_target || optind != argc) {
		usage();
		return 2;
	}
	if (have_duration && !have_sessions)
		c.sessions = 0;
	if (c.sessions == 0 && !have_duration) {
		fprintf(stderr, "mxedge-bench: --sessions 0 needs --duration\n");
		return 2;
	}
	c.transport = cm.transport;
	sc.transport = cm.transport;
	sc.max_conns = 1024;
	sc.duration_s = MX_BENCH_DURATION_CAP_S;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return 1;
	signals();
	rc = transport_start(&cm);
	if (rc == 0)
		rc = mx_bench_gen_run(&c, &stop_flag, r);
	r->sink_messages = ss.messages;
	r->sink_bytes = ss.bytes;
	if (rc != 0) {
		fprintf(stderr, "mxedge-bench: %s\n", strerror(-rc));
	} else {
		if (!cm.quiet)
			mx_bench_result_print(r, &c);
		if (cm.json != NULL && mx_bench_result_json(r, &c, cm.json) != 0)
			fprintf(stderr, "mxedge-bench: cannot write %s\n", cm.json);
	}
	transport_stop(&cm);
	free(r);
	return rc != 0 ? 1 : 0;
}

static int
sink_json(const struct mx_bench_sink_stats *s, const char *path)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -errno;
	fprintf(f, "{\"sessions\":%llu,\"messages\":%llu,\"bytes\":%llu,\"rcpts\":%llu,"
			"\"refused\":%llu,\"bad_lines\":%llu,\"saved\":%llu}\n",
			(unsigned long long)s->sessions, (unsigned long long)s->messages,
			(unsigned long long)s->bytes, (unsigned long long)s->rcpts,
			(unsigned long long)s->refused, (unsigned long long)s->bad_lines,
			(unsigned long long)s->saved);
	return fclose(f) == 0 ? 0 : -EIO;
}

static int
sink_main(int argc, char **argv)
{
	struct mx_bench_sink_conf c;
	struct mx_bench_sink_stats st;
	unsigned long long v;
	bool have_listen = false;
	struct common cm;
	int o, rc;

	memset(&cm, 0, sizeof(cm));
	memset(&c, 0, sizeof(c));
	memset(&st, 0, sizeof(st));
	c.duration_s = MX_BENCH_DURATION_CAP_S;
	c.max_conns = 4096;
	c.save_max = 100;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		rc = common_opt(o, optarg, &cm);
		if (rc != -ENOENT) {
			if (rc != 0)
				goto bad;
			continue;
		}
		rc = -EINVAL;
		if (o == O_LISTEN) {
			have_listen = true;
			rc = mx_addr_parse(optarg, -1, &c.listen);
		} else if (o == O_DURATION && parse_uint(optarg, MX_BENCH_DURATION_CAP_S * 24u, &v) == 0) {
			c.duration_s = (unsigned)v;
			rc = v > 0 ? 0 : -EINVAL;
		} else if (o == O_MAXC && parse_uint(optarg, MX_BENCH_CONCURRENCY_CAP, &v) == 0) {
			c.max_conns = (unsigned)v;
			rc = v > 0 ? 0 : -EINVAL;
		} else if (o == O_SAVE) {
			c.save_dir = optarg;
			rc = 0;
		} else if (o == O_SAVEMAX && parse_uint(optarg, 1000000, &v) == 0) {
			c.save_max = (unsigned)v;
			rc = 0;
		}
		if (rc != 0)
			goto bad;
	}
	if (!have_listen || optind != argc)
		goto bad;
	c.transport = cm.transport;
	signals();
	rc = transport_start(&cm);
	if (rc == 0)
		rc = mx_bench_sink_run(&c, &stop_flag, &st);
	if (rc != 0)
		fprintf(stderr, "mxedge-bench sink: %s\n", strerror(-rc));
	if (!cm.quiet)
		printf("sink: sessions %llu messages %llu bytes %llu rcpts %llu refused %llu\n",
				(unsigned long long)st.sessions, (unsigned long long)st.messages,
				(unsigned long long)st.bytes, (unsigned long long)st.rcpts,
				(unsigned long long)st.refused);
	if (cm.json != NULL && sink_json(&st, cm.json) != 0)
		fprintf(stderr, "mxedge-bench sink: cannot write %s\n", cm.json);
	transport_stop(&cm);
	return rc != 0 ? 1 : 0;
bad:
	usage();
	return 2;
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "sink") == 0)
		return sink_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "run") == 0)
		return gen_main(argc - 1, argv + 1);
	return gen_main(argc, argv);
}
