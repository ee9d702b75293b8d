/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the configuration loader: any bytes as a YAML
 * file. On a successful load it also runs the consumers (validate, dump,
 * the local-domain match, a reload of the dump) and always frees. Host
 * names are not resolved (MX_CONF_LOAD_NO_RESOLVE): a fuzzer must not
 * send DNS queries.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mx_conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
exercise(struct mx_conf *c)
{
	char err[2048], *dump = NULL;
	struct mx_conf *again = NULL;
	size_t dump_len = 0;
	FILE *f;

	(void)mx_conf_validate(c, err, sizeof(err));
	(void)mx_conf_is_local_domain(c, MX_STR("example.org."));
	f = open_memstream(&dump, &dump_len);
	if (f == NULL)
		return;
	mx_conf_dump(c, f);
	fclose(f);
	/* What dump writes must load back. */
	if (mx_conf_load_buf("fuzz-dump.yaml", dump, dump_len, MX_CONF_LOAD_NO_RESOLVE,
				&again, err, sizeof(err)) != 0) {
		fprintf(stderr, "dump does not load back:\n%s\n%s", dump, err);
		abort();
	}
	mx_conf_put(again);
	free(dump);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mx_conf *c = NULL;
	char err[4096];

	if (mx_conf_load_buf("fuzz.yaml", (const char *)data, size, MX_CONF_LOAD_NO_RESOLVE,
				&c, err, sizeof(err)) != 0)
		return 0;
	exercise(mx_conf_get(c));
	mx_conf_put(c);
	mx_conf_put(c);
	return 0;
}
