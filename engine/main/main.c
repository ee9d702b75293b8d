/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * main.c: sub-command dispatch of the mxedge binary.
 *
 *   mxedge run [-c FILE] [flags]      run the engine (see `mxedge run --help`)
 *   mxedge check-config -c FILE [flags]   validate, print the effective config
 *   mxedge verify ...                 offline SPF/DKIM/DMARC check (verify.c)
 *   mxedge scan --rules FILE [--json] MSG   offline content scan (scan.c)
 *   mxedge version                    versions of mxedge and every library
 *
 * Exit status: 0 success, 1 configuration or start-up error, 2 usage.
 */
#include <stdio.h>
#include <string.h>

#include "mx_conf.h"
#include "mx_main.h"

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: mxedge run [-c FILE] [options]   (mxedge run --help)\n"
		"       mxedge check-config -c FILE [options]\n"
		"       mxedge verify --client-ip IP --helo NAME --mail-from ADDR [--json]\n"
		"       mxedge scan --rules FILE [--json] [--cache DIR] MESSAGE_FILE\n"
		"       mxedge version\n");
}

static int
cmd_check_config(int argc, char **argv)
{
	struct mx_main_opts o;
	struct mx_conf *c;
	int rc = mx_main_parse_opts(argc, argv, &o, stderr);

	if (rc == 1)
		return 0;
	if (rc < 0)
		return 2;
	if (mx_main_load_conf(&o, &c, stderr) != 0)
		return 1;
	mx_conf_dump(c, stdout);
	mx_conf_put(c);
	return 0;
}

static int
cmd_run(int argc, char **argv)
{
	struct mx_main_opts o;
	int rc = mx_main_parse_opts(argc, argv, &o, stderr);

	if (rc == 1)
		return 0;
	if (rc < 0)
		return 2;
	return mx_main_run(&o);
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(argv[1], "check-config") == 0)
		return cmd_check_config(argc - 1, argv + 1);
	if (strcmp(argv[1], "verify") == 0)
		return mx_main_verify(argc - 1, argv + 1);
	if (strcmp(argv[1], "scan") == 0)
		return mx_main_scan(argc - 1, argv + 1);
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		mx_main_print_version(stdout);
		return 0;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
			strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "mxedge: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
