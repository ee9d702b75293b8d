/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spf_record_fuzz.c: the SPF record parser, the macro expander and the
 * PRA selection on arbitrary text. The record check runs on the whole
 * input and term by term; the expander in both modes (domain-spec and
 * explanation text); the PRA on the input as a header block. Nothing may
 * crash, and an accepted expansion must be a bounded, NUL-terminated name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mx_spf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct mx_spf_macro_env env = {
		.sender = "strong-bad@email.example.com",
		.domain = "email.example.com",
		.client_ip = "2001:db8::cb01",
		.helo = "mx.example.org",
		.receiver = "mx.example.net",
		.ptr = NULL,
		.now = 1,
	};
	char out[MX_SPF_EXP_MAX], pra[MX_SPF_DOMAIN_MAX];

	(void)mx_spf_is_record(text, size);
	(void)mx_spf_record_ok(text, size);
	if (mx_spf_macro_expand(&env, text, size, false, out, sizeof(out)) == 0 &&
			strlen(out) > 253)
		abort();
	env.client_ip = "::ffff:192.0.2.3";
	(void)mx_spf_macro_expand(&env, text, size, true, out, sizeof(out));
	if (mx_spf_pra(text, size, pra, sizeof(pra)) == 0 && strchr(pra, '@') == NULL)
		abort();
	return 0;
}
