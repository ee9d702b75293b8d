/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcp_opt_fuzz: libFuzzer harness for mx_tcp_opt_parse. The input is the
 * option bytes (at most 40 are options; longer inputs must be refused).
 * A successful parse is rebuilt with mx_tcp_opt_build and parsed again:
 * the fields the stack uses must survive the round trip.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mx_tcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mx_tcp_opts o, back;
	uint8_t buf[MX_TCP_OPT_MAX];
	uint8_t *copy;
	int n;

	/* An exact-size heap copy, so ASan sees any read past the end. */
	copy = malloc(size > 0 ? size : 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	if (mx_tcp_opt_parse(copy, size, &o) != 0) {
		free(copy);
		return 0;
	}
	if (size > MX_TCP_OPT_MAX)
		abort();
	n = mx_tcp_opt_build(&o, buf, sizeof(buf));
	if (n < 0 || n % 4 != 0)
		abort();
	if (mx_tcp_opt_parse(buf, (size_t)n, &back) != 0)
		abort();
	if (back.has_mss != o.has_mss || back.mss != o.mss ||
			back.has_wscale != o.has_wscale ||
			back.wscale != o.wscale || back.sack_ok != o.sack_ok ||
			back.has_ts != o.has_ts || back.ts_val != o.ts_val ||
			back.ts_ecr != o.ts_ecr)
		abort();
	free(copy);
	return 0;
}
