/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan.c: `mxedge scan --rules FILE [--json] [--cache DIR] MESSAGE_FILE`.
 *
 * Runs the engine's own content scan (policy/content: the same load,
 * scratch, streaming feed and verdict functions a worker uses) over one
 * message file, fed in 64 KiB reads as the network would feed it, and
 * prints the hits and the verdict. With --json the output is one object:
 * {"hits":[{"id","target","offset"}],"action":"accept|reject|quarantine",
 * "score":N}. Exit status: 0 scanned (whatever the verdict), 1 the rules
 * or the message could not be read, 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mx_content.h"
#include "mx_json.h"
#include "mx_main.h"

struct scan_opts {
	const char *rules;
	const char *cache;
	const char *msg;
	bool json;
};

static int
scan_usage(FILE *f)
{
	fprintf(f, "usage: mxedge scan --rules FILE [--json] [--cache DIR] MESSAGE_FILE\n");
	return 2;
}

static int
scan_parse(int argc, char **argv, struct scan_opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			o->json = true;
		else if (strcmp(argv[i], "--rules") == 0 && i + 1 < argc)
			o->rules = argv[++i];
		else if (strcmp(argv[i], "--cache") == 0 && i + 1 < argc)
			o->cache = argv[++i];
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return -EINVAL;
		else if (o->msg == NULL)
			o->msg = argv[i];
		else
			return -EINVAL;
	}
	return o->rules != NULL && o->msg != NULL ? 0 : -EINVAL;
}

static int
scan_file(struct mx_content_scan *s, const char *path)
{
	char buf[65536];
	ssize_t n;
	int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		mx_content_scan_feed(s, buf, (size_t)n);
	}
	if (fd != 0)
		close(fd);
	return n < 0 ? -EIO : 0;
}

static void
print_json(const struct mx_content_verdict *v)
{
	size_t size = 256 + (size_t)v->n_hits * 200;
	char *buf = malloc(size);
	struct mx_json j;
	unsigned i;

	if (buf == NULL)
		return;
	mx_json_init(&j, buf, size);
	mx_json_obj_open(&j, NULL);
	mx_json_arr_open(&j, "hits");
	for (i = 0; i < v->n_hits; i++) {
		mx_json_obj_open(&j, NULL);
		mx_json_cstr(&j, "id", v->hits[i].id);
		if (v->hits[i].header != NULL) {
			char t[96];

			snprintf(t, sizeof(t), "header:%s", v->hits[i].header);
			mx_json_cstr(&j, "target", t);
		} else {
			mx_json_cstr(&j, "target", mx_content_target_name(v->hits[i].target));
		}
		mx_json_u64(&j, "offset", v->hits[i].offset);
		mx_json_obj_close(&j);
	}
	mx_json_arr_close(&j);
	mx_json_cstr(&j, "action", mx_content_action_name(v->action));
	mx_json_i64(&j, "score", v->score);
	mx_json_obj_close(&j);
	if (mx_json_ok(&j))
		printf("%.*s\n", (int)mx_json_len(&j), buf);
	free(buf);
}

static void
print_text(const struct mx_content_verdict *v)
{
	unsigned i, d;

	for (i = 0; i < v->n_hits; i++)
		printf("hit %s target %s offset %llu\n", v->hits[i].id,
			mx_content_target_name(v->hits[i].target),
			(unsigned long long)v->hits[i].offset);
	for (d = 0; d < MX_CONTENT_D__COUNT; d++)
		if ((v->defects & (1u << d)) != 0)
			printf("defect %s\n", mx_content_defect_name(d));
	printf("action %s score %lld", mx_content_action_name(v->action),
		(long long)v->score);
	if (v->action == MX_CONTENT_REJECT)
		printf(" reply \"%d %s\"", v->reply_code, v->reply_text);
	printf("%s\n", v->truncated ? " (truncated)" : "");
}

int
mx_main_scan(int argc, char **argv)
{
	struct mx_content_rules *r = NULL;
	struct mx_content_scratch *sc = NULL;
	struct mx_content_scan *s = NULL;
	const struct mx_content_verdict *v;
	struct scan_opts o;
	int rc;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		scan_usage(stdout);
		return 0;
	}
	if (scan_parse(argc, argv, &o) != 0)
		return scan_usage(stderr);
	if (mx_content_rules_load(o.rules, o.cache, stderr, &r) != 0)
		return 1;
	rc = mx_content_scratch_create(r, &sc);
	if (rc == 0)
		rc = mx_content_scan_create(r, &s);
	if (rc != 0) {
		fprintf(stderr, "mxedge scan: %s\n", strerror(-rc));
		rc = 1;
		goto out;
	}
	mx_content_scan_begin(s, sc);
	if ((rc = scan_file(s, o.msg)) != 0) {
		fprintf(stderr, "mxedge scan: %s: %s\n", o.msg, strerror(-rc));
		rc = 1;
		goto out;
	}
	v = mx_content_scan_end(s);
	if (o.json)
		print_json(v);
	else
		print_text(v);
out:
	mx_content_scan_free(s);
	mx_content_scratch_free(sc);
	mx_content_rules_put(r);
	return rc;
}
