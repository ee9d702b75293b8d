/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * content_test.c: rules loading and scanning against real Hyperscan
 * databases: hit and miss tables per target (each message also split at
 * every offset), matches split across feeds, encoded bodies, attachment
 * names, refused rules, empty files, invalid files with their line, the
 * cache (a second load does not compile), caps, thresholds and reload.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "mx_content.h"

/* Heap copies get this much readable slack after the message. */
#define SCAN_SLACK 64

static char tmpdir[64];

static const char *
write_rules(const char *name, const char *yaml)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(yaml, f);
	fclose(f);
	return path;
}

static struct mx_content_rules *
load(const char *yaml, const char *cache, int want_rc, char *errbuf, size_t errsize)
{
	struct mx_content_rules *r = NULL;
	FILE *err = fmemopen(errbuf, errsize, "w");
	int rc;

	assert_non_null(err);
	rc = mx_content_rules_load(write_rules("rules.yaml", yaml), cache, err, &r);
	fclose(err);
	assert_int_equal(rc, want_rc);
	return r;
}

/* Scans msg split at `split` (0: whole) and renders the hits as
 * "id@target:offset," for comparison. */
static enum mx_content_action
scan(struct mx_content_rules *r, const char *msg, size_t split, char *out,
		size_t size, int64_t *score)
{
	struct mx_content_scratch *sc;
	struct mx_content_scan *s;
	const struct mx_content_verdict *v;
	size_t n = strlen(msg), i, len = 0;
	enum mx_content_action a;

	assert_int_equal(mx_content_scratch_create(r, &sc), 0);
	assert_int_equal(mx_content_scan_create(r, &s), 0);
	mx_content_scan_begin(s, sc);
	mx_content_scan_feed(s, msg, split);
	mx_content_scan_feed(s, msg + split, n - split);
	v = mx_content_scan_end(s);
	out[0] = '\0';
	for (i = 0; i < v->n_hits; i++)
		len += (size_t)snprintf(out + len, size - len, "%s@%s:%llu,",
			v->hits[i].id, mx_content_target_name(v->hits[i].target),
			(unsigned long long)v->hits[i].offset);
	if (score != NULL)
		*score = v->score;
	a = v->action;
	mx_content_scan_free(s);
	mx_content_scratch_free(sc);
	return a;
}

static const char *rules_all =
	"rules:\n"
	"  - id: subj\n"
	"    target: header:Subject\n"
	"    pattern: 'win(ner)?'\n"
	"    flags: [caseless]\n"
	"    action: score\n"
	"    score: 3\n"
	"  - id: hdrs\n"
	"    target: headers\n"
	"    pattern: 'X-Mailer: spamtool'\n"
	"    action: quarantine\n"
	"  - id: phish\n"
	"    target: body\n"
	"    pattern: 'verify your acc(ou)?nt'\n"
	"    flags: [caseless]\n"
	"    action: reject\n"
	"    code: 554\n"
	"    text: '5.7.1 Phishing'\n"
	"  - id: exe\n"
	"    target: attachment-name\n"
	"    pattern: '\\.(exe|scr)$'\n"
	"    flags: [caseless]\n"
	"    action: reject\n"
	"  - id: zip\n"
	"    target: attachment-type\n"
	"    pattern: '^application/zip$'\n"
	"    action: score\n"
	"    score: 2\n"
	"  - id: rawx\n"
	"    target: raw\n"
	"    pattern: 'ZZTOP'\n"
	"    action: score\n"
	"    score: 1\n"
	"  - id: malformed\n"
	"    target: mime-defect\n"
	"    pattern: '^(missing-boundary|unterminated-multipart)$'\n"
	"    action: quarantine\n"
	"thresholds: {quarantine: 5, reject: 10}\n";

struct scase {
	const char *name;
	const char *msg;
	const char *hits;
	enum mx_content_action action;
};

static const struct scase scases[] = {
	{ "clean", "Subject: hello\r\n\r\nnothing here\r\n", "", MX_CONTENT_ACCEPT },
	{ "subject hit", "Subject: You are a WINNER\r\n\r\nhi\r\n", "subj@header:13,",
		MX_CONTENT_ACCEPT },
	{ "other header is a miss", "X-Subject: winner\r\n\r\nhi\r\n", "", MX_CONTENT_ACCEPT },
	{ "body text is not a header", "Subject: hi\r\n\r\nwinner\r\n", "", MX_CONTENT_ACCEPT },
	{ "headers", "X-Mailer: spamtool 1.0\r\n\r\nx", "hdrs@headers:18,",
		MX_CONTENT_QUARANTINE },
	{ "headers target ignores the body", "A: b\r\n\r\nX-Mailer: spamtool\r\n", "",
		MX_CONTENT_ACCEPT },
	{ "body", "Subject: x\r\n\r\nPlease Verify your account now\r\n",
		"phish@body:26,", MX_CONTENT_REJECT },
	{ "body base64", "Content-Transfer-Encoding: base64\r\n\r\n"
		"dmVyaWZ5IHlvdXIg\r\nYWNjb3VudA==\r\n", "phish@body:19,", MX_CONTENT_REJECT },
	{ "body qp soft break", "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
		"verify yo=\r\nur acc=6Funt\r\n", "phish@body:19,", MX_CONTENT_REJECT },
	{ "attachment body is not body text", "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
		"--b\r\nContent-Type: application/pdf\r\n\r\nverify your account\r\n--b--\r\n",
		"", MX_CONTENT_ACCEPT },
	{ "attachment name 2231", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
		"Content-Type: application/octet-stream\r\n"
		"Content-Disposition: attachment; filename*=UTF-8''inv%2EEXE\r\n\r\nx\r\n--b--\r\n",
		"exe@attachment-name:7,", MX_CONTENT_REJECT },
	{ "attachment name 2047", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
		"Content-Type: application/octet-stream; name=\"=?utf-8?q?a=2Escr?=\"\r\n\r\n"
		"x\r\n--b--\r\n", "exe@attachment-name:5,", MX_CONTENT_REJECT },
	{ "attachment name miss", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
		"Content-Type: application/pdf; name=\"exe.pdf\"\r\n\r\nx\r\n--b--\r\n",
		"", MX_CONTENT_ACCEPT },
	{ "type", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
		"Content-Type: Application/ZIP\r\n\r\nPK\r\n--b--\r\n",
		"zip@attachment-type:15,", MX_CONTENT_ACCEPT },
	{ "raw", "Subject: a\r\n\r\nxxZZTOPxx\r\n", "rawx@raw:21,", MX_CONTENT_ACCEPT },
	{ "defect", "Content-Type: multipart/mixed\r\n\r\nx\r\n",
		"malformed@mime-defect:16,", MX_CONTENT_QUARANTINE },
	{ "score below threshold", "Subject: winner\r\n\r\nZZTOP\r\n"
		"\r\n", "subj@header:3,rawx@raw:24,", MX_CONTENT_ACCEPT },
	{ "score sum", "Subject: winner\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
		"--b\r\nContent-Type: application/zip\r\n\r\nZZTOP\r\n--b--\r\n",
		"subj@header:3,zip@attachment-type:15,rawx@raw:105,", MX_CONTENT_QUARANTINE },
};

static void
test_targets_every_split(void **state)
{
	char errbuf[1024], got[512], first[512];
	struct mx_content_rules *r = load(rules_all, NULL, 0, errbuf, sizeof(errbuf));
	size_t i, s;

	(void)state;
	assert_int_equal(mx_content_rules_info(r)->n_refused, 0);
	for (i = 0; i < MX_ARRAY_SIZE(scases); i++) {
		const struct scase *c = &scases[i];
		enum mx_content_action a = scan(r, c->msg, 0, first, sizeof(first), NULL);

		if (strcmp(first, c->hits) != 0 || a != c->action)
			fail_msg("case '%s': hits '%s' action %s", c->name, first,
				mx_content_action_name(a));
		for (s = 1; s <= strlen(c->msg); s++) {
			a = scan(r, c->msg, s, got, sizeof(got), NULL);
			if (strcmp(got, first) != 0 || a != c->action)
				fail_msg("case '%s' split %zu: hits '%s'", c->name, s, got);
		}
	}
	mx_content_rules_put(r);
}

static void
test_verdict_reply(void **state)
{
	char errbuf[1024];
	struct mx_content_rules *r = load(rules_all, NULL, 0, errbuf, sizeof(errbuf));
	struct mx_content_scratch *sc;
	struct mx_content_scan *s;
	const struct mx_content_verdict *v;
	static const char m[] = "Subject: WIN\r\n\r\nverify your account\r\n";

	(void)state;
	assert_int_equal(mx_content_scratch_create(r, &sc), 0);
	assert_int_equal(mx_content_scan_create(r, &s), 0);
	mx_content_scan_begin(s, sc);
	mx_content_scan_feed(s, m, sizeof(m) - 1);
	v = mx_content_scan_end(s);
	assert_int_equal(v->action, MX_CONTENT_REJECT);
	assert_int_equal(v->reply_code, 554);
	assert_string_equal(v->reply_text, "5.7.1 Phishing");
	assert_string_equal(v->reason_id, "phish");
	assert_int_equal(v->score, 3);
	/* The same scan object serves the next message from a clean state. */
	mx_content_scan_begin(s, sc);
	mx_content_scan_feed(s, "Subject: hi\r\n\r\nfine\r\n", 21);
	v = mx_content_scan_end(s);
	assert_int_equal(v->action, MX_CONTENT_ACCEPT);
	assert_int_equal(v->n_hits, 0);
	mx_content_scan_free(s);
	mx_content_scratch_free(sc);
	mx_content_rules_put(r);
}

static void
test_threshold_reject(void **state)
{
	char errbuf[1024], got[256];
	int64_t score;
	struct mx_content_rules *r = load(
		"rules:\n"
		"  - {id: a, target: body, pattern: aaa, action: score, score: 6}\n"
		"  - {id: b, target: body, pattern: bbb, action: score, score: 6}\n"
		"thresholds: {quarantine: 5, reject: 12}\n", NULL, 0, errbuf, sizeof(errbuf));

	(void)state;
	assert_int_equal(scan(r, "\r\naaa", 0, got, sizeof(got), &score), MX_CONTENT_QUARANTINE);
	assert_int_equal(score, 6);
	assert_int_equal(scan(r, "\r\naaa bbb aaa", 0, got, sizeof(got), &score), MX_CONTENT_REJECT);
	assert_int_equal(score, 12);  /* a rule counts once per message */
	mx_content_rules_put(r);
}

static void
test_split_across_feeds(void **state)
{
	char errbuf[1024];
	struct mx_content_rules *r = load(rules_all, NULL, 0, errbuf, sizeof(errbuf));
	struct mx_content_scratch *sc;
	struct mx_content_scan *s;
	const struct mx_content_verdict *v;
	static const char *parts[] = { "Subject: x\r\n\r\nplease ver", "ify your ac", "count\r\n" };
	size_t i;

	(void)state;
	assert_int_equal(mx_content_scratch_create(r, &sc), 0);
	assert_int_equal(mx_content_scan_create(r, &s), 0);
	mx_content_scan_begin(s, sc);
	for (i = 0; i < MX_ARRAY_SIZE(parts); i++)
		mx_content_scan_feed(s, parts[i], strlen(parts[i]));
	v = mx_content_scan_end(s);
	assert_int_equal(v->n_hits, 1);
	assert_string_equal(v->hits[0].id, "phish");
	assert_int_equal(v->hits[0].offset, strlen("please verify your account"));
	mx_content_scan_free(s);
	mx_content_scratch_free(sc);
	mx_content_rules_put(r);
}

static void
test_refused_rules(void **state)
{
	char errbuf[2048], got[256];
	struct mx_content_rules *r = load(
		"rules:\n"
		"  - {id: good1, target: body, pattern: 'hello', action: reject}\n"
		"  - {id: empty-match, target: body, pattern: 'x*', action: reject}\n"
		"  - {id: backref, target: raw, pattern: '(a)\\1', action: reject}\n"
		"  - {id: unbalanced, target: body, pattern: '(abc', action: reject}\n"
		"  - {id: good2, target: raw, pattern: 'world', action: quarantine}\n",
		NULL, 0, errbuf, sizeof(errbuf));

	(void)state;
	assert_int_equal(mx_content_rules_info(r)->n_rules, 5);
	assert_int_equal(mx_content_rules_info(r)->n_refused, 3);
	assert_non_null(strstr(errbuf, "rules.yaml:3: rule empty-match: refused by Hyperscan"));
	assert_non_null(strstr(errbuf, "rules.yaml:4: rule backref: refused by Hyperscan"));
	assert_non_null(strstr(errbuf, "rules.yaml:5: rule unbalanced: refused by Hyperscan"));
	assert_int_equal(scan(r, "\r\nhello world", 0, got, sizeof(got), NULL), MX_CONTENT_REJECT);
	assert_string_equal(got, "good1@body:5,good2@raw:13,");
	mx_content_rules_put(r);
}

static void
test_empty_rules(void **state)
{
	static const char *empties[] = { "", "rules: []\n", "rules:\n", "# nothing\n" };
	char errbuf[512], got[64];
	size_t i;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(empties); i++) {
		struct mx_content_rules *r = load(empties[i], NULL, 0, errbuf, sizeof(errbuf));

		assert_int_equal(mx_content_rules_info(r)->n_rules, 0);
		assert_int_equal(mx_content_rules_info(r)->n_compiled, 0);
		assert_int_equal(scan(r, "Subject: x\r\n\r\nbody\r\n", 0, got, sizeof(got), NULL),
			MX_CONTENT_ACCEPT);
		assert_string_equal(got, "");
		mx_content_rules_put(r);
	}
}

static void
test_invalid_files(void **state)
{
	static const struct {
		const char *yaml, *err;
	} v[] = {
		{ "rules:\n  - {id: a, target: nowhere, pattern: x, action: reject}\n",
			"rules.yaml:2: rule a: target must be" },
		{ "rules:\n  - id: a\n    target: body\n    action: reject\n",
			"rules.yaml:2: rule a: target, pattern and action are required" },
		{ "rules:\n  - {id: a, target: body, pattern: x, action: score}\n",
			"rule a: action score needs a score" },
		{ "rules:\n  - {id: a, target: body, pattern: x, action: reject}\n"
			"  - {id: a, target: body, pattern: y, action: reject}\n",
			"rules.yaml:3: rule a: duplicate id" },
		{ "rules:\n  - {target: body, pattern: x, action: reject}\n",
			"rules.yaml:2: rule without an id" },
		{ "rules:\n  - {id: a, target: body, pattern: x, action: reject, flags: [bogus]}\n",
			"rule a: flags:" },
		{ "rules:\n  - {id: a, target: body, pattern: x, action: reject, text: \"a\\nb\"}\n",
			"rule a: text must be" },
		{ "rules: [\n", "YAML" },
		{ "bogus: 1\n", "rules.yaml:1: unknown key" },
		{ "rules:\n  - {id: a, target: 'header:', pattern: x, action: reject}\n",
			"rule a: target must be" },
	};
	char errbuf[1024];
	size_t i;

	(void)state;
	for (i = 0; i < MX_ARRAY_SIZE(v); i++) {
		memset(errbuf, 0, sizeof(errbuf));
		assert_null(load(v[i].yaml, NULL, -EINVAL, errbuf, sizeof(errbuf)));
		if (strstr(errbuf, v[i].err) == NULL)
			fail_msg("case %zu: want '%s' in '%s'", i, v[i].err, errbuf);
	}
}

static void
test_cache_skips_compile(void **state)
{
	char errbuf[2048], cache[128], got1[256], got2[256];
	const char *yaml =
		"rules:\n"
		"  - {id: good, target: body, pattern: 'hello', action: reject}\n"
		"  - {id: bad, target: body, pattern: 'x*', action: reject}\n"
		"  - {id: hn, target: 'header:Subject', pattern: 'hi', action: quarantine}\n";
	struct mx_content_rules *r1, *r2, *r3;

	(void)state;
	snprintf(cache, sizeof(cache), "%s/cache", tmpdir);
	assert_int_equal(mkdir(cache, 0700), 0);
	r1 = load(yaml, cache, 0, errbuf, sizeof(errbuf));
	assert_false(mx_content_rules_info(r1)->from_cache);
	assert_int_equal(mx_content_rules_info(r1)->n_compiled, 2);
	r2 = load(yaml, cache, 0, errbuf, sizeof(errbuf));
	assert_true(mx_content_rules_info(r2)->from_cache);
	assert_int_equal(mx_content_rules_info(r2)->n_compiled, 0);
	assert_int_equal(mx_content_rules_info(r2)->n_refused, 1);
	assert_non_null(strstr(errbuf, "rule bad: refused by Hyperscan"));
	scan(r1, "Subject: hi\r\n\r\nhello\r\n", 0, got1, sizeof(got1), NULL);
	scan(r2, "Subject: hi\r\n\r\nhello\r\n", 0, got2, sizeof(got2), NULL);
	assert_string_equal(got1, "good@body:5,hn@header:2,");
	assert_string_equal(got2, got1);
	/* A changed file is another cache entry: compiled again. */
	r3 = load("rules:\n  - {id: other, target: raw, pattern: 'q', action: reject}\n",
		cache, 0, errbuf, sizeof(errbuf));
	assert_false(mx_content_rules_info(r3)->from_cache);
	assert_int_equal(mx_content_rules_info(r3)->n_compiled, 1);
	mx_content_rules_put(r1);
	mx_content_rules_put(r2);
	mx_content_rules_put(r3);
}

static void
test_corrupt_cache_recompiles(void **state)
{
	char errbuf[2048], cache[128], cmd[256];
	const char *yaml = "rules:\n  - {id: g, target: body, pattern: 'zz', action: reject}\n";
	struct mx_content_rules *r;
	FILE *f;

	(void)state;
	snprintf(cache, sizeof(cache), "%s/cache2", tmpdir);
	assert_int_equal(mkdir(cache, 0700), 0);
	mx_content_rules_put(load(yaml, cache, 0, errbuf, sizeof(errbuf)));
	/* Truncate every cache file to a few bytes. */
	snprintf(cmd, sizeof(cmd), "for f in %s/*.hsdb; do head -c 12 \"$f\" > \"$f.x\"; "
		"mv \"$f.x\" \"$f\"; done", cache);
	f = popen(cmd, "r");
	assert_non_null(f);
	assert_int_equal(pclose(f), 0);
	r = load(yaml, cache, 0, errbuf, sizeof(errbuf));
	assert_false(mx_content_rules_info(r)->from_cache);
	assert_int_equal(mx_content_rules_info(r)->n_compiled, 1);
	assert_non_null(strstr(errbuf, "unusable"));
	mx_content_rules_put(r);
}

static void
test_caps(void **state)
{
	char errbuf[1024], got[256];
	struct mx_content_rules *r = load(
		"rules:\n"
		"  - {id: a, target: raw, pattern: aa, action: score, score: 1}\n"
		"  - {id: b, target: raw, pattern: bb, action: score, score: 1}\n"
		"  - {id: c, target: raw, pattern: cc, action: score, score: 1}\n"
		"  - {id: t, target: mime-defect, pattern: scan-truncated, action: quarantine}\n"
		"limits: {max_bytes: 12, max_hits: 2}\n", NULL, 0, errbuf, sizeof(errbuf));

	(void)state;
	/* Two hits, then the cap stops the scan. */
	scan(r, "\r\naa bb cc", 0, got, sizeof(got), NULL);
	assert_string_equal(got, "a@raw:4,b@raw:7,");
	/* Beyond max_bytes nothing is scanned, and that is reportable. */
	assert_int_equal(scan(r, "\r\n0123456789cc", 0, got, sizeof(got), NULL),
		MX_CONTENT_QUARANTINE);
	assert_string_equal(got, "t@mime-defect:14,");
	mx_content_rules_put(r);
}

static void
test_reload_in_flight(void **state)
{
	char errbuf[1024];
	struct mx_content_rules *old = load(
		"rules:\n  - {id: old, target: body, pattern: 'alpha', action: reject}\n",
		NULL, 0, errbuf, sizeof(errbuf));
	struct mx_content_rules *cur;
	struct mx_content_scratch *sc;
	struct mx_content_scan *s, *s2;
	const struct mx_content_verdict *v;

	(void)state;
	assert_int_equal(mx_content_scratch_create(old, &sc), 0);
	assert_int_equal(mx_content_scan_create(old, &s), 0);
	mx_content_scan_begin(s, sc);
	mx_content_scan_feed(s, "\r\nalp", 5);
	/* Reload: a new snapshot replaces the old one; the owner drops its
	 * reference while the message is in flight. */
	cur = load("rules:\n  - {id: new, target: body, pattern: 'beta', action: quarantine}\n",
		NULL, 0, errbuf, sizeof(errbuf));
	mx_content_rules_put(old);
	assert_int_equal(mx_content_scratch_fit(sc, cur), 0);
	mx_content_scan_feed(s, "ha beta", 7);
	v = mx_content_scan_end(s);
	assert_int_equal(v->n_hits, 1);
	assert_string_equal(v->hits[0].id, "old");
	assert_ptr_not_equal(mx_content_scan_rules(s), cur);
	mx_content_scan_free(s);  /* the last reference to old */
	assert_int_equal(mx_content_scan_create(cur, &s2), 0);
	mx_content_scan_begin(s2, sc);
	mx_content_scan_feed(s2, "\r\nalpha beta", 12);
	v = mx_content_scan_end(s2);
	assert_int_equal(v->n_hits, 1);
	assert_string_equal(v->hits[0].id, "new");
	assert_int_equal(v->action, MX_CONTENT_QUARANTINE);
	mx_content_scan_free(s2);
	mx_content_scratch_free(sc);
	mx_content_rules_put(cur);
}

static void
heap_hits(struct mx_content_rules *r, const char *msg, size_t n, char *out,
		size_t size)
{
	struct mx_content_scratch *sc;
	struct mx_content_scan *s;
	const struct mx_content_verdict *v;
	char *copy = malloc(n + SCAN_SLACK);
	size_t k, len = 0;

	assert_non_null(copy);
	memcpy(copy, msg, n);
	assert_int_equal(mx_content_scratch_create(r, &sc), 0);
	assert_int_equal(mx_content_scan_create(r, &s), 0);
	mx_content_scan_begin(s, sc);
	mx_content_scan_feed(s, copy, n);
	v = mx_content_scan_end(s);
	out[0] = '\0';
	for (k = 0; k < v->n_hits; k++)
		len += (size_t)snprintf(out + len, size - len, "%s:%llu,",
			v->hits[k].id, (unsigned long long)v->hits[k].offset);
	mx_content_scan_free(s);
	mx_content_scratch_free(sc);
	free(copy);
}

/* Hyperscan 5.4.0 (AVX-512 runtime) may read past the end of the data it
 * scans: a message whose last byte is the last readable byte of the
 * process must scan as it does from the heap, not fault. The first case
 * is the libFuzzer find (a raw stream rule, the message ending in the
 * header section); the others end in the body, the body of a multipart
 * part and a base64 part, so every stream ends at the guard page. */
static const char rules_guard[] =
	"rules:\n"
	"  - {id: r, target: raw, pattern: 'ZZ[0-9]+', action: score, score: 1}\n"
	"  - {id: hs, target: headers, pattern: '^X-Spam:', flags: [multiline], action: score, score: 1}\n"
	"  - {id: b2, target: body, pattern: 'a.{0,8}b$', flags: [dotall, multiline], action: score, score: 1}\n"
	"  - {id: d, target: mime-defect, pattern: '.', flags: [dotall], action: score, score: 1}\n";

static const char *const guard_msgs[] = {
	("Content-Type: echmen/;=======*sposit-Type: achment;=======\r\n"
	 " fieenamn/;=======*ssZZ-\0\0\0\0\0\0\0&ilefame*\r\nx\r\n--b--\r\n"),
	"X-Spam: yes\r\n\r\nsome text ZZ12 then a tail ending in ZZ-",
	"Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\r\naxxb\nZZ4",
	"Content-Transfer-Encoding: base64\r\n\r\nYXh4Ygo=\r\nZZ7",
};
static const size_t guard_lens[] = { 112, 0, 0, 0 };

static void
test_data_at_page_end(void **state)
{
	char errbuf[1024], want[256], got[256];
	struct mx_content_rules *r = load(rules_guard, NULL, 0, errbuf, sizeof(errbuf));
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t *map = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct mx_content_scratch *sc;
	struct mx_content_scan *s;
	size_t i;

	(void)state;
	assert_true(map != MAP_FAILED);
	assert_int_equal(mprotect(map + pg, (size_t)pg, PROT_NONE), 0);
	assert_int_equal(mx_content_scratch_create(r, &sc), 0);
	assert_int_equal(mx_content_scan_create(r, &s), 0);
	for (i = 0; i < MX_ARRAY_SIZE(guard_msgs); i++) {
		size_t n = guard_lens[i] != 0 ? guard_lens[i] : strlen(guard_msgs[i]);
		uint8_t *at = map + pg - n;
		const struct mx_content_verdict *v;
		size_t k, len = 0;

		memcpy(at, guard_msgs[i], n);
		mx_content_scan_begin(s, sc);
		mx_content_scan_feed(s, at, n);
		v = mx_content_scan_end(s);
		got[0] = '\0';
		for (k = 0; k < v->n_hits; k++)
			len += (size_t)snprintf(got + len, sizeof(got) - len, "%s:%llu,",
				v->hits[k].id, (unsigned long long)v->hits[k].offset);
		/* The same bytes from the heap, with a fresh scan. */
		heap_hits(r, guard_msgs[i], n, want, sizeof(want));
		assert_string_equal(got, want);
		assert_true(v->n_hits > 0);
	}
	mx_content_scan_free(s);
	mx_content_scratch_free(sc);
	munmap(map, (size_t)pg * 2);
	mx_content_rules_put(r);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/mx_content_test.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_targets_every_split),
		cmocka_unit_test(test_verdict_reply),
		cmocka_unit_test(test_threshold_reject),
		cmocka_unit_test(test_split_across_feeds),
		cmocka_unit_test(test_refused_rules),
		cmocka_unit_test(test_empty_rules),
		cmocka_unit_test(test_invalid_files),
		cmocka_unit_test(test_cache_skips_compile),
		cmocka_unit_test(test_corrupt_cache_recompiles),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_reload_in_flight),
		cmocka_unit_test(test_data_at_page_end),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
