/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_main: the mxedge program: sub-commands (run, check-config, version),
 * the command line of `mxedge run`, and the runtime that wires every module
 * together: one worker thread per configured worker, each with its own
 * loop, listeners, session pool, message memory, delivery (relay or spool
 * port) and verdict-log port; the I/O thread; and the control thread (the
 * main thread) that handles signals, reloads configuration and serves
 * metrics through libmicrohttpd's own thread.
 */
#ifndef MX_MAIN_H
#define MX_MAIN_H

#include <stdio.h>

#define MX_MAIN_MAX_OVERRIDES 128

/* A command-line override, applied over the file at start and again on
 * every reload, so flags keep winning over the file. */
struct mx_main_override {
	const char *key;
	const char *value;
};

struct mx_main_opts {
	const char *config_path;   /* NULL: flags only */
	struct mx_main_override ov[MX_MAIN_MAX_OVERRIDES];
	unsigned n_ov;
};

/* Parses the flags of `run`/`check-config` (argv[0] is the sub-command).
 * Returns 0, 1 after printing help, or -EINVAL after printing the problem
 * to err. */
int mx_main_parse_opts(int argc, char **argv, struct mx_main_opts *o, FILE *err);
/* Loads the file (if any), applies the overrides, validates. Returns 0 or
 * -errno with every problem printed to err. */
struct mx_conf;
int mx_main_load_conf(const struct mx_main_opts *o, struct mx_conf **out, FILE *err);
/* Runs until SIGTERM/SIGINT has drained every worker. Returns the exit
 * status. */
int mx_main_run(const struct mx_main_opts *o);
void mx_main_print_version(FILE *f);
/* `mxedge scan --rules FILE [--json] [--cache DIR] MESSAGE_FILE` (scan.c):
 * argv[0] is "scan"; returns the exit status. */
int mx_main_scan(int argc, char **argv);
/* `mxedge verify` (verify.c): argv[0] is "verify". Returns the exit
 * status: 0 checks ran, 1 set-up error, 2 usage. */
int mx_main_verify(int argc, char **argv);

#endif /* MX_MAIN_H */
