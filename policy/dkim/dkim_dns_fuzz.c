/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dkim_dns_fuzz.c: arbitrary DNS answers reaching DKIM key lookup. A fixed
 * set of signed messages (policy/dkim/testdata, made by gen.py) is
 * verified while the fuzz input decides the TXT answers for their key
 * names: rcode, several RRs, character-strings split anywhere, NUL bytes,
 * any key record text (huge or bad base64 p=, k=ed25519, t=y:s, h=
 * lists, revoked empty p=). The answers go into an mx_dns cache through
 * mx_dns_cache_put (the decoding of unbound's answers), and the TXT
 * callback reads them exactly as policy/auth's does: a name not in the
 * cache is submitted, the verification answers -EAGAIN and runs again
 * once the empty local zone has answered it NXDOMAIN. No network.
 *
 * Checked on every input: the verification ends within a few rounds;
 * the number of signatures and their d=/s= do not depend on DNS; a pass
 * or policy result (a verified signature) only ever comes from a key
 * name whose answer holds a TXT record.
 *
 * One mx_dns, the messages and the verifiers are made on the first input
 * and reused; every input starts and ends with an empty cache.
 *
 * Input: [msg][answer]...; msg: bits 0-6 pick the message, bit 7 allows
 * rsa-sha1. answer: [name][mode][n_rr] then n_rr x ([len hi][len lo]
 * [bytes]). mode bits 0-1: rcode (NOERROR, NXDOMAIN, SERVFAIL, NOERROR);
 * bit 2: the bytes are the rdata in wire form; otherwise they are the
 * record text, cut into character-strings of ((mode >> 3) + 1) * 8
 * octets (at most 255, RFC 1035 3.3.14).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mx_dkim.h"
#include "dns_fuzz_support.h"
#include "mx_auth.h"
#include "mx_dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Verify as of one minute after the fixtures' t= (as dkim_test.c). */
#define FZ_NOW 1700000060u
/* Rounds of verify, then resolve what was missing: one is enough when
 * every name was answered, two when some were not. */
#define FZ_ROUNDS 4

static const char fz_msg_multi[] =
	"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=mail.example.net;\r\n"
	" i=@mail.example.net; q=dns/txt; s=sub; t=1700000000; h=from : to :\r\n"
	" subject : date; bh=aqMOQGHAXQp5Ja/H3f4P0XYTU0AbpUB7FUzeA6wyoW0=;\r\n"
	" b=DtWLG8DVh8afbxN/RXcWR4diHjPacznvbZkxhtjVtDuZ86Emvym+uw+QZcA/IjJwigMCp\r\n"
	" p7B5qGd4m4gkeubUC/b4pi5kon3i3HrydlkypG31HTV8awfwuR298K1azdsrxqfNJU2iP1X\r\n"
	" Aw7JompxB/p+yvFUEDqy+ZZJgvlB224=\r\n"
	"DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.org;\r\n"
	" i=@example.org; q=dns/txt; s=ed; t=1700000000; h=from : to : subject :\r\n"
	" date; bh=aqMOQGHAXQp5Ja/H3f4P0XYTU0AbpUB7FUzeA6wyoW0=;\r\n"
	" b=g+Pzs6mFYo4qOaAhxL/xoiWdOCqN0D7WZQ4N5IUHWKx2x6PhLzrjwSwzw1qz8xRkyC7xN\r\n"
	" lxtpg26SRMaoAenAg==\r\n"
	"From: Alice <alice@example.org>\r\n"
	"To: bob@example.com\r\n"
	"Subject: unit test\r\n"
	"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
	"Message-ID: <unit@example.org>\r\n"
	"\r\n"
	"Hello Bob,\r\n"
	"\r\n"
	"line two\r\n";

static const char fz_msg_rr[] =
	"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org;\r\n"
	" i=@example.org; q=dns/txt; s=r2048; t=1700000000; h=from : to :\r\n"
	" subject : date; bh=aqMOQGHAXQp5Ja/H3f4P0XYTU0AbpUB7FUzeA6wyoW0=;\r\n"
	" b=0EjNULOqFg30943O5AH1EcPR8BbVuJp0f9wtMKktzrAGCfcCvL/N7k8QLNiDt/zT1+SE9\r\n"
	" Xog8iN1q8kuRHQAmhGJQU40h2WdLEHEaB8scD3gDDH0jBjdICkf19XL2BQvO53d+9/x1hBm\r\n"
	" RBn3ni/N5oo1zyCtLOlEGX33X5q5PJlfoizaHSk+pbJOaknFir7Yn8SQXlpIl0Un1s5KhPO\r\n"
	" oDPKPstYaND+wSJ/sm9hOIi4d+hLnWtWv3k9mT/joa3qAACcsFeOco6jMRPCqGhP+z6vvXj\r\n"
	" IUxyo+PDh7h/5hWmP1wypogZPTxmkyLCQKvdCDaqL601hAc9aVqi6a9U/aaA==\r\n"
	"From: Alice <alice@example.org>\r\n"
	"To: bob@example.com\r\n"
	"Subject: unit test\r\n"
	"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
	"Message-ID: <unit@example.org>\r\n"
	"\r\n"
	"Hello Bob,\r\n"
	"\r\n"
	"line two\r\n";

static const char fz_msg_sha1[] =
	"DKIM-Signature: v=1; a=rsa-sha1; c=relaxed/relaxed; d=example.org;\r\n"
	" i=@example.org; q=dns/txt; s=r1024; t=1700000000; h=from : to :\r\n"
	" subject : date; bh=49iin9Ue/MTpoxs0b4tkxZES7ck=;\r\n"
	" b=aIz1pXmHIHMA0Qk+WE20HlC2IlsjpOZlWOjnJJMyNq1vUifFvhoLTtexAXeTZPp5DVpCt\r\n"
	" h8iOQyzQ2dDlNoHBBv7CgpSCPei9MDrJvn/ehdGwy6JeB/tqwSYUUtEUnP7VvoULwDuWHI2\r\n"
	" PEtyN+ujyV2dyIRAJrO+C4z/pHxi1mc=\r\n"
	"From: Alice <alice@example.org>\r\n"
	"To: bob@example.com\r\n"
	"Subject: unit test\r\n"
	"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
	"Message-ID: <unit@example.org>\r\n"
	"\r\n"
	"Hello Bob,\r\n"
	"\r\n"
	"line two\r\n";

static const char fz_msg_small[] =
	"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org;\r\n"
	" i=@example.org; q=dns/txt; s=r512; t=1700000000; h=from : to : subject\r\n"
	" : date; bh=aqMOQGHAXQp5Ja/H3f4P0XYTU0AbpUB7FUzeA6wyoW0=;\r\n"
	" b=h1kMDhHan7x8rXwD9FiYT0xrGoT5iKVqd/dBo0+AhAz+0Bz/OGI/tOwahyeY77rZmuAU6\r\n"
	" 3ADDwDPWY8mNIo8RA==\r\n"
	"From: Alice <alice@example.org>\r\n"
	"To: bob@example.com\r\n"
	"Subject: unit test\r\n"
	"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
	"Message-ID: <unit@example.org>\r\n"
	"\r\n"
	"Hello Bob,\r\n"
	"\r\n"
	"line two\r\n";

static const char fz_msg_l[] =
	"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org;\r\n"
	" i=@example.org; l=24; q=dns/txt; s=r1024; t=1700000000; h=from : to :\r\n"
	" subject : date; bh=aqMOQGHAXQp5Ja/H3f4P0XYTU0AbpUB7FUzeA6wyoW0=;\r\n"
	" b=RJIXIVxF6qlu5kvWuOYdaTETd7K90r7idFGcCWXN2rtHpQaYUno5HqJo28gGlgK6zDzrT\r\n"
	" qeQDVfmAsCDhKpcPcNYQ7cnc4gdznFb8NR5i5XONsoXHZKZHZtfOYn1TBknTFyOSF4IB5M3\r\n"
	" xtYzWqaY5zxOfDiOIuv5HaalQCW3I54=\r\n"
	"From: Alice <alice@example.org>\r\n"
	"To: bob@example.com\r\n"
	"Subject: unit test\r\n"
	"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
	"Message-ID: <unit@example.org>\r\n"
	"\r\n"
	"Hello Bob,\r\n"
	"\r\n"
	"line two\r\n"
	"footer added\r\n";

struct fz_msg_def {
	const char *text;
	size_t len;
	unsigned n_sigs;
	unsigned key[2]; /* fz_names index of each signature, top first */
};

/* Key names of the messages, and one no signature asks for. */
static const char *const fz_names[] = {
	"sub._domainkey.mail.example.net",
	"ed._domainkey.example.org",
	"r2048._domainkey.example.org",
	"r1024._domainkey.example.org",
	"r512._domainkey.example.org",
	"_domainkey.example.org",
};

#define FZ_MSG(m, n, k0, k1) { m, sizeof(m) - 1, n, { k0, k1 } }
static const struct fz_msg_def fz_msg_defs[] = {
	FZ_MSG(fz_msg_multi, 2, 0, 1),
	FZ_MSG(fz_msg_rr, 1, 2, 0),
	FZ_MSG(fz_msg_sha1, 1, 3, 0),
	FZ_MSG(fz_msg_small, 1, 4, 0),
	FZ_MSG(fz_msg_l, 1, 3, 0),
};
#define FZ_N_MSGS (sizeof(fz_msg_defs) / sizeof(fz_msg_defs[0]))
#define FZ_N_NAMES (sizeof(fz_names) / sizeof(fz_names[0]))

/* What is built once and shared by every input. */
struct fz_state {
	struct mx_dns *dns;
	struct mx_chunk_pool *pool;
	struct mx_msg *msg[FZ_N_MSGS];
	struct mx_dkim *dkim[2]; /* [1]: rsa-sha1 allowed */
};

static const struct fz_state *
fz_state(void)
{
	static struct fz_state st;
	struct mx_dkim_conf conf = { .txt = mx_auth_dns_txt, .fixed_time = FZ_NOW };

	if (st.dns != NULL)
		return &st;
	st.dns = mx_dns_fuzz_resolver(2000);
	conf.txt_ctx = st.dns;
	if (mx_chunk_pool_create(16384, 1u << 20, &st.pool) != 0)
		abort();
	for (size_t i = 0; i < FZ_N_MSGS; i++) {
		if (mx_msg_create(st.pool, 100, 65536, &st.msg[i]) != 0 ||
				mx_msg_append(st.msg[i], fz_msg_defs[i].text,
					fz_msg_defs[i].len) != 0)
			abort();
		mx_msg_finish(st.msg[i]);
	}
	for (int i = 0; i < 2; i++) {
		conf.allow_rsa_sha1 = i == 1;
		if (mx_dkim_create(&conf, &st.dkim[i]) != 0)
			abort();
	}
	return &st;
}

/* A verified signature (pass, or policy: cryptographically fine) must
 * have had a key: a TXT record at its name. */
static bool
fz_had_key(struct mx_dns *dns, const char *qname)
{
	const struct mx_dns_answer *a = mx_dns_get(dns, qname, MX_DNS_TXT);

	return a != NULL && a->status == MX_DNS_OK && a->n_rr > 0;
}

static void
fz_check(const struct fz_state *st, const struct fz_msg_def *def,
		const struct mx_dkim_res *res)
{
	if (res->n_sigs != def->n_sigs || res->truncated)
		abort();
	for (unsigned i = 0; i < res->n_sigs; i++) {
		const struct mx_dkim_sig *s = &res->sigs[i];
		char qname[MX_DKIM_QNAME_MAX];

		if (s->result > MX_AUTH_PERMERROR || s->reason == NULL ||
				memchr(s->domain, '\0', sizeof(s->domain)) == NULL ||
				memchr(s->selector, '\0', sizeof(s->selector)) == NULL)
			abort();
		snprintf(qname, sizeof(qname), "%s._domainkey.%s", s->selector, s->domain);
		if (strcmp(qname, fz_names[def->key[i]]) != 0)
			abort();
		if ((s->result == MX_AUTH_PASS || s->result == MX_AUTH_POLICY) &&
				!fz_had_key(st->dns, qname))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct fz_state *st = fz_state();
	char names[4][MX_DKIM_QNAME_MAX];
	const struct fz_msg_def *def;
	const struct mx_msg *m;
	struct mx_dkim_res res;
	uint8_t *arena;
	int rc = -EAGAIN;

	if (size == 0)
		return 0;
	def = &fz_msg_defs[(data[0] & 0x7f) % FZ_N_MSGS];
	m = st->msg[def - fz_msg_defs];
	arena = malloc(2 * size + 16);
	if (arena == NULL)
		return 0;
	mx_dns_cache_clear(st->dns);
	mx_dns_fuzz_fill_txt(st->dns, data + 1, size - 1, fz_names, FZ_N_NAMES, arena);
	for (int round = 0; rc == -EAGAIN && round < FZ_ROUNDS; round++) {
		rc = mx_dkim_verify(st->dkim[data[0] >> 7], m, &res);
		if (rc == -EAGAIN)
			mx_dns_wait(st->dns);
	}
	/* Every name is answered (cache or zone) after one wait. */
	if (rc != 0)
		abort();
	fz_check(st, def, &res);
	if (mx_dkim_key_names(m, names, 4) != def->n_sigs)
		abort();
	mx_dns_cache_clear(st->dns);
	free(arena);
	return 0;
}
