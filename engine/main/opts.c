/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * opts.c: the command line of `mxedge run` and `mxedge check-config`, the
 * configuration it produces (file first, then every flag in order), and
 * `mxedge version`.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <rte_version.h>
#include <hs/hs.h>
#include <jemalloc/jemalloc.h>
#include <mbedtls/version.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <opendkim/dkim.h>
#include <yaml.h>

#include "mx_conf.h"
#include "mx_main.h"

/* Long options without a short letter. */
enum {
	MAIN_OPT_TLS_CERT = 0x100,
	MAIN_OPT_TLS_KEY,
	MAIN_OPT_TLS_MODE,
	MAIN_OPT_TLS_MIN_VERSION,
	MAIN_OPT_TLS_BACKEND,
	MAIN_OPT_RULES,
	MAIN_OPT_RESOLVER,
	MAIN_OPT_DNS_ZONE,
	MAIN_OPT_DNS_TIMEOUT,
};

static void
run_help(FILE *f)
{
	fprintf(f,
		"usage: mxedge run [-c FILE] [options]\n"
		"Flags override the configuration file; repeatable flags append.\n"
		"  -c, --config FILE          YAML configuration (etc/mxedge.example.yaml)\n"
		"      --transport dpdk|kernel  default dpdk (needs --eal and --address)\n"
		"      --eal \"EAL ARGS\"         DPDK EAL arguments, e.g. \"-l 0 -a 0000:03:00.0\"\n"
		"      --address IP/PREFIX    our address on the DPDK port (repeatable)\n"
		"      --gateway IP           default gateway on the DPDK port\n"
		"      --listen ADDR:PORT     (repeatable)\n"
		"      --hostname NAME        name in the 220 greeting and Received\n"
		"      --local-domain DOMAIN  domain we accept mail for (repeatable)\n"
		"      --spool DIR            local spool when no downstream is set\n"
		"      --downstream HOST:PORT relay accepted mail to this MTA\n"
		"      --verdict-log FILE     one JSON line per transaction ('-': stdout)\n"
		"      --metrics ADDR:PORT    Prometheus endpoint (GET /metrics)\n"
		"      --workers N            worker threads\n"
		"      --log-level LEVEL      err|warn|notice|info|debug\n"
		"      --tls-cert FILE        PEM certificate, paired with --tls-key (repeatable:\n"
		"                             RSA and ECDSA at once); STARTTLS is then offered\n"
		"      --tls-key FILE         its private key (repeatable)\n"
		"      --tls-mode best-effort|mandatory\n"
		"      --tls-min-version 1.0|1.1|1.2|1.3 (1.3: openssl backend only)\n"
		"      --tls-backend mbedtls|openssl  TLS library (default mbedtls)\n"
		"      --rules FILE           content rules (YAML, Hyperscan); off without\n"
		"      --resolver IP:PORT     DNS forwarder of the sender checks (auth.*)\n"
		"      --dns-zone FILE        or local zone data (RFC 1035) for them\n"
		"      --dns-timeout-ms N     per DNS query, then temperror (default 2000)\n"
		"      --set SECTION.KEY=VALUE  any configuration key (repeatable)\n");
}

static int
add_ov(struct mx_main_opts *o, const char *key, const char *value, FILE *err)
{
	if (o->n_ov >= MX_MAIN_MAX_OVERRIDES) {
		fprintf(err, "mxedge: too many flags (at most %u)\n", MX_MAIN_MAX_OVERRIDES);
		return -EINVAL;
	}
	o->ov[o->n_ov].key = key;
	o->ov[o->n_ov].value = value;
	o->n_ov++;
	return 0;
}

int
mx_main_parse_opts(int argc, char **argv, struct mx_main_opts *o, FILE *err)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "transport", required_argument, NULL, 't' },
		{ "eal", required_argument, NULL, 'E' },
		{ "address", required_argument, NULL, 'A' },
		{ "gateway", required_argument, NULL, 'G' },
		{ "listen", required_argument, NULL, 'l' },
		{ "hostname", required_argument, NULL, 'H' },
		{ "local-domain", required_argument, NULL, 'd' },
		{ "spool", required_argument, NULL, 's' },
		{ "downstream", required_argument, NULL, 'D' },
		{ "verdict-log", required_argument, NULL, 'v' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "workers", required_argument, NULL, 'w' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "tls-cert", required_argument, NULL, MAIN_OPT_TLS_CERT },
		{ "tls-key", required_argument, NULL, MAIN_OPT_TLS_KEY },
		{ "tls-mode", required_argument, NULL, MAIN_OPT_TLS_MODE },
		{ "tls-min-version", required_argument, NULL, MAIN_OPT_TLS_MIN_VERSION },
		{ "tls-backend", required_argument, NULL, MAIN_OPT_TLS_BACKEND },
		{ "rules", required_argument, NULL, MAIN_OPT_RULES },
		{ "resolver", required_argument, NULL, MAIN_OPT_RESOLVER },
		{ "dns-zone", required_argument, NULL, MAIN_OPT_DNS_ZONE },
		{ "dns-timeout-ms", required_argument, NULL, MAIN_OPT_DNS_TIMEOUT },
		{ "set", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(o, 0, sizeof(*o));
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
		const char *key = NULL;
		int rc = 0;

		switch (ch) {
		case 'c': o->config_path = optarg; continue;
		case 'h': run_help(stdout); return 1;
		case 't': key = "transport"; break;
		case 'E': key = "eal"; break;
		case 'A': key = "address"; break;
		case 'G': key = "gateway"; break;
		case 'l': key = "listen"; break;
		case 'H': key = "hostname"; break;
		case 'd': key = "local-domain"; break;
		case 's': key = "spool"; break;
		case 'D': key = "downstream"; break;
		case 'v': key = "verdict-log"; break;
		case 'm': key = "metrics"; break;
		case 'w': key = "workers"; break;
		case 'L': key = "log-level"; break;
		case MAIN_OPT_TLS_CERT: key = "tls-cert"; break;
		case MAIN_OPT_TLS_KEY: key = "tls-key"; break;
		case MAIN_OPT_TLS_MODE: key = "tls-mode"; break;
		case MAIN_OPT_TLS_MIN_VERSION: key = "tls-min-version"; break;
		case MAIN_OPT_TLS_BACKEND: key = "tls-backend"; break;
		case MAIN_OPT_RULES: key = "rules"; break;
		case MAIN_OPT_RESOLVER: key = "resolver"; break;
		case MAIN_OPT_DNS_ZONE: key = "dns-zone"; break;
		case MAIN_OPT_DNS_TIMEOUT: key = "dns-timeout-ms"; break;
		case 'S': {
			/* --set section.key=value: split at the first '='. The
			 * string stays in argv, which outlives the opts. */
			char *eq = strchr(optarg, '=');

			if (eq == NULL || eq == optarg) {
				fprintf(err, "mxedge: --set wants SECTION.KEY=VALUE, got '%s'\n", optarg);
				return -EINVAL;
			}
			*eq = '\0';
			rc = add_ov(o, optarg, eq + 1, err);
			if (rc != 0)
				return rc;
			continue;
		}
		case ':':
			fprintf(err, "mxedge: option '%s' needs a value\n", argv[optind - 1]);
			return -EINVAL;
		default:
			fprintf(err, "mxedge: unknown option '%s' (see --help)\n", argv[optind - 1]);
			return -EINVAL;
		}
		rc = add_ov(o, key, optarg, err);
		if (rc != 0)
			return rc;
	}
	if (optind < argc) {
		fprintf(err, "mxedge: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

int
mx_main_load_conf(const struct mx_main_opts *o, struct mx_conf **out, FILE *err)
{
	char msg[8192];
	struct mx_conf *c = NULL;
	int rc;

	msg[0] = '\0';
	if (o->config_path != NULL)
		rc = mx_conf_load(o->config_path, &c, msg, sizeof(msg));
	else
		rc = mx_conf_new(&c);
	if (rc != 0) {
		fprintf(err, "%s%s", msg[0] ? msg : "mxedge: cannot create configuration\n",
				msg[0] && msg[strlen(msg) - 1] != '\n' ? "\n" : "");
		return rc;
	}
	for (unsigned i = 0; i < o->n_ov; i++) {
		msg[0] = '\0';
		rc = mx_conf_set(c, o->ov[i].key, o->ov[i].value, msg, sizeof(msg));
		if (rc != 0) {
			/* mx_conf_set names the flag and ends the line itself. */
			fprintf(err, "mxedge: %s%s", msg,
					msg[0] && msg[strlen(msg) - 1] != '\n' ? "\n" : "");
			mx_conf_put(c);
			return rc;
		}
	}
	msg[0] = '\0';
	rc = mx_conf_validate(c, msg, sizeof(msg));
	if (rc != 0) {
		fprintf(err, "%s%s", msg, msg[0] && msg[strlen(msg) - 1] != '\n' ? "\n" : "");
		mx_conf_put(c);
		return rc;
	}
	*out = c;
	return 0;
}

void
mx_main_print_version(FILE *f)
{
	char tls[32];
	const char *je = "?";
	size_t je_len = sizeof(je);
	uint32_t dkim = dkim_libversion();

	mbedtls_version_get_string(tls);
	if (mallctl("version", &je, &je_len, NULL, 0) != 0)
		je = "?";
	fprintf(f, "mxedge %s\n", MX_VERSION);
	fprintf(f, "  %s\n", rte_version());
	fprintf(f, "  mbed TLS %s\n", tls);
	fprintf(f, "  libopendkim %u.%u.%u\n", dkim >> 24, (dkim >> 16) & 0xff,
			(dkim >> 8) & 0xff);
	fprintf(f, "  Hyperscan %s\n", hs_version());
	fprintf(f, "  jemalloc %s\n", je);
	fprintf(f, "  libyaml %s\n", yaml_get_version_string());
	fprintf(f, "  libmicrohttpd %s\n", MHD_get_version());
}
