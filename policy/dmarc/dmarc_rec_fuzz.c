/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz harness for the DMARC record parser: any TXT bytes from DNS. On a
 * successful parse the consumer runs too (the policy names and the URI
 * lists are read back).
 */
#include <stddef.h>
#include <stdint.h>

#include "mx_dmarc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mx_dmarc_record r;
	volatile size_t sink = 0;
	size_t i;

	if (mx_dmarc_record_parse((struct mx_str){ size, (const char *)data }, &r) != 0)
		return 0;
	sink += mx_dmarc_policy_name(r.p)[0] + mx_dmarc_policy_name(r.sp)[0];
	for (i = 0; i < r.rua.len; i++)
		sink += (unsigned char)r.rua.p[i];
	for (i = 0; i < r.ruf.len; i++)
		sink += (unsigned char)r.ruf.p[i];
	MX_ASSERT(r.pct <= 100);
	(void)sink;
	return 0;
}
