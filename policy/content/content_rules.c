/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * content_rules.c: loads a rules file (YAML, libyaml's document API),
 * validates every rule with its line number, compiles one Hyperscan
 * database per target group and keeps them in a disk cache.
 *
 * Refused rules: each pattern is first checked alone (hs_expression_info),
 * which catches what the parser refuses at a fraction of a compile; what
 * only the full compile refuses comes back from hs_compile_multi with the
 * index of the expression, which is then left out and the group compiled
 * again. A group error without an index (a database too large) fails the
 * load.
 *
 * Cache: the name is a SipHash of the file bytes, the Hyperscan version
 * and the cache format, under a fixed key (the name must be the same after
 * a restart; it is an integrity key, not a secret). The file holds every
 * group's serialized database and the refused rules with their reasons,
 * so a cache hit reproduces exactly what a compile would have. A cache
 * that is unreadable, truncated or refused by hs_deserialize_database
 * (another CPU, another Hyperscan) is reported and compiled over.
 * Written to a temporary name and renamed, so a reader never sees half.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "content_priv.h"

#define CACHE_MAGIC "MXHSDB1\n"
#define CACHE_MAX_SIZE (1ull << 31)
#define FILE_MAX_SIZE (64u << 20)

static const uint8_t cache_key[16] = "mxedge-hs-cache";

struct ld {
	const char *path;
	FILE *err;
	yaml_document_t *doc;
	unsigned n_err;
	struct mx_content_rules *r;
};

MX_PRINTF(4, 5)
static void
lerr(struct ld *l, const yaml_node_t *n, const char *id, const char *fmt, ...)
{
	va_list ap;

	if (l->err == NULL)
		return;
	fprintf(l->err, "%s:%zu: ", l->path, n != NULL ? n->start_mark.line + 1 : 0);
	if (id != NULL)
		fprintf(l->err, "rule %s: ", id);
	va_start(ap, fmt);
	vfprintf(l->err, fmt, ap);
	va_end(ap);
	fputc('\n', l->err);
}

static const char *
scalar(const yaml_node_t *n, size_t *len)
{
	if (n == NULL || n->type != YAML_SCALAR_NODE)
		return NULL;
	if (len != NULL)
		*len = n->data.scalar.length;
	return (const char *)n->data.scalar.value;
}

static bool
scalar_is(const yaml_node_t *n, const char *lit)
{
	size_t len;
	const char *s = scalar(n, &len);

	return s != NULL && len == strlen(lit) && memcmp(s, lit, len) == 0;
}

static int
scalar_i64(const yaml_node_t *n, int64_t lo, int64_t hi, int64_t *out)
{
	const char *s = scalar(n, NULL);
	char *end;
	long long v;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static char *
dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d != NULL) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static bool
id_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > MX_CONTENT_ID_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				(c >= '0' && c <= '9') || c == '-' || c == '_' ||
				c == '.' || c == ':'))
			return false;
	}
	return true;
}

static bool
hdr_name_ok(const char *s, size_t n)
{
	size_t i;

	/* RFC 5322 section 3.6.8: printable US-ASCII except colon. */
	if (n == 0 || n > 76)
		return false;
	for (i = 0; i < n; i++)
		if ((uint8_t)s[i] <= ' ' || (uint8_t)s[i] >= 127 || s[i] == ':')
			return false;
	return true;
}

static bool
text_ok(const char *s, size_t n)
{
	size_t i;

	/* The text becomes an SMTP reply line: printable ASCII only, so a
	 * rule cannot inject a second line (RFC 5321 section 4.2). */
	if (n == 0 || n > 200)
		return false;
	for (i = 0; i < n; i++)
		if ((uint8_t)s[i] < ' ' || (uint8_t)s[i] >= 127)
			return false;
	return true;
}

static const struct {
	const char *name;
	enum mx_content_target t;
} targets[] = {
	{ "headers", MX_CONTENT_T_HEADERS },
	{ "body", MX_CONTENT_T_BODY },
	{ "attachment-name", MX_CONTENT_T_ATT_NAME },
	{ "attachment-type", MX_CONTENT_T_ATT_TYPE },
	{ "raw", MX_CONTENT_T_RAW },
	{ "mime-defect", MX_CONTENT_T_MIME_DEFECT },
};

static int
rule_target(struct ld *l, const yaml_node_t *n, struct mx_content_rule *ru)
{
	size_t len, i;
	const char *s = scalar(n, &len);

	if (s == NULL)
		goto bad;
	if (len > 7 && memcmp(s, "header:", 7) == 0) {
		if (!hdr_name_ok(s + 7, len - 7))
			goto bad;
		ru->target = MX_CONTENT_T_HEADER;
		ru->hdr_name = dup_n(s + 7, len - 7);
		ru->hdr_name_len = len - 7;
		return ru->hdr_name == NULL ? -ENOMEM : 0;
	}
	for (i = 0; i < MX_ARRAY_SIZE(targets); i++) {
		if (scalar_is(n, targets[i].name)) {
			ru->target = targets[i].t;
			return 0;
		}
	}
bad:
	lerr(l, n, ru->id, "target must be header:NAME, headers, body, "
		"attachment-name, attachment-type, raw or mime-defect");
	return -EINVAL;
}

static int
flag_one(struct ld *l, const yaml_node_t *n, struct mx_content_rule *ru)
{
	if (scalar_is(n, "caseless"))
		ru->hs_flags |= HS_FLAG_CASELESS;
	else if (scalar_is(n, "dotall"))
		ru->hs_flags |= HS_FLAG_DOTALL;
	else if (scalar_is(n, "multiline"))
		ru->hs_flags |= HS_FLAG_MULTILINE;
	else if (scalar_is(n, "utf8"))
		ru->hs_flags |= HS_FLAG_UTF8;
	else if (scalar_is(n, "ucp"))
		ru->hs_flags |= HS_FLAG_UTF8 | HS_FLAG_UCP;
	else {
		lerr(l, n, ru->id, "flags: caseless, dotall, multiline, utf8 or ucp");
		return -EINVAL;
	}
	return 0;
}

static int
rule_flags(struct ld *l, const yaml_node_t *n, struct mx_content_rule *ru)
{
	yaml_node_item_t *it;
	int rc = 0;

	if (n->type == YAML_SCALAR_NODE)
		return flag_one(l, n, ru);
	if (n->type != YAML_SEQUENCE_NODE) {
		lerr(l, n, ru->id, "flags must be a list");
		return -EINVAL;
	}
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
		if (flag_one(l, yaml_document_get_node(l->doc, *it), ru) != 0)
			rc = -EINVAL;
	return rc;
}

static int
rule_action(struct ld *l, const yaml_node_t *n, struct mx_content_rule *ru)
{
	if (scalar_is(n, "reject"))
		ru->action = MX_CONTENT_REJECT;
	else if (scalar_is(n, "quarantine"))
		ru->action = MX_CONTENT_QUARANTINE;
	else if (scalar_is(n, "score"))
		ru->action = MX_CONTENT_SCORE;
	else {
		lerr(l, n, ru->id, "action must be reject, quarantine or score");
		return -EINVAL;
	}
	return 0;
}

static int
rule_str(struct ld *l, const yaml_node_t *n, struct mx_content_rule *ru,
		const char *what, char **out)
{
	size_t len;
	const char *s = scalar(n, &len);

	if (s == NULL || len == 0) {
		lerr(l, n, ru->id, "%s must be a non-empty string", what);
		return -EINVAL;
	}
	if (memchr(s, '\0', len) != NULL) {
		lerr(l, n, ru->id, "%s contains a NUL byte (write \\x00)", what);
		return -EINVAL;
	}
	free(*out);
	*out = dup_n(s, len);
	return *out == NULL ? -ENOMEM : 0;
}

/* The id first, so every other error can name the rule. */
static int
rule_id(struct ld *l, const yaml_node_t *map, struct mx_content_rule *ru)
{
	yaml_node_pair_t *pr;

	for (pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(l->doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(l->doc, pr->value);
		size_t len;
		const char *s;

		if (!scalar_is(k, "id"))
			continue;
		s = scalar(v, &len);
		if (s == NULL || !id_ok(s, len)) {
			lerr(l, v, NULL, "rule id must be 1-64 characters of "
				"[A-Za-z0-9._:-]");
			return -EINVAL;
		}
		ru->id = dup_n(s, len);
		return ru->id == NULL ? -ENOMEM : 0;
	}
	lerr(l, map, NULL, "rule without an id");
	return -EINVAL;
}

static int
rule_key(struct ld *l, const yaml_node_t *k, const yaml_node_t *v,
		struct mx_content_rule *ru, bool *have_score)
{
	int64_t x;

	if (scalar_is(k, "id"))
		return 0;
	if (scalar_is(k, "target"))
		return rule_target(l, v, ru);
	if (scalar_is(k, "pattern"))
		return rule_str(l, v, ru, "pattern", &ru->pattern);
	if (scalar_is(k, "flags"))
		return rule_flags(l, v, ru);
	if (scalar_is(k, "action"))
		return rule_action(l, v, ru);
	if (scalar_is(k, "text"))
		return rule_str(l, v, ru, "text", &ru->text);
	if (scalar_is(k, "score")) {
		if (scalar_i64(v, -1000000, 1000000, &ru->score) != 0) {
			lerr(l, v, ru->id, "score must be an integer in -1000000..1000000");
			return -EINVAL;
		}
		*have_score = true;
		return 0;
	}
	if (scalar_is(k, "code")) {
		if (scalar_i64(v, 400, 599, &x) != 0) {
			lerr(l, v, ru->id, "code must be 4xx or 5xx");
			return -EINVAL;
		}
		ru->code = (int)x;
		return 0;
	}
	lerr(l, k, ru->id, "unknown key");
	return -EINVAL;
}

static int
rule_parse(struct ld *l, const yaml_node_t *map, struct mx_content_rule *ru)
{
	yaml_node_pair_t *pr;
	bool have_score = false, have_target = false, have_action = false;
	int rc = 0, e;

	ru->line = (unsigned)map->start_mark.line + 1;
	ru->target = MX_CONTENT_T__COUNT;
	ru->code = 550;
	if (map->type != YAML_MAPPING_NODE) {
		lerr(l, map, NULL, "a rule must be a mapping");
		return -EINVAL;
	}
	if ((rc = rule_id(l, map, ru)) != 0)
		return rc;
	for (pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(l->doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(l->doc, pr->value);

		have_target |= scalar_is(k, "target");
		have_action |= scalar_is(k, "action");
		if ((e = rule_key(l, k, v, ru, &have_score)) != 0)
			rc = e;
	}
	if (rc != 0)
		return rc;
	if (!have_target || ru->pattern == NULL || !have_action) {
		lerr(l, map, ru->id, "target, pattern and action are required");
		return -EINVAL;
	}
	if (ru->action == MX_CONTENT_SCORE && !have_score) {
		lerr(l, map, ru->id, "action score needs a score");
		return -EINVAL;
	}
	if (ru->text != NULL && !text_ok(ru->text, strlen(ru->text))) {
		lerr(l, map, ru->id, "text must be 1-200 printable ASCII characters");
		return -EINVAL;
	}
	/* One hit per rule and message is all the verdict needs, and it
	 * keeps Hyperscan from tracking every later match. */
	ru->hs_flags |= HS_FLAG_SINGLEMATCH;
	return 0;
}

static int
id_cmp(const void *a, const void *b)
{
	const struct mx_content_rule *const *x = a, *const *y = b;

	return strcmp((*x)->id, (*y)->id);
}

static int
ids_unique(struct ld *l)
{
	struct mx_content_rule **v;
	unsigned i;
	int rc = 0;

	if (l->r->n_rules < 2)
		return 0;
	v = malloc(sizeof(*v) * l->r->n_rules);
	if (v == NULL)
		return -ENOMEM;
	for (i = 0; i < l->r->n_rules; i++)
		v[i] = &l->r->rule[i];
	qsort(v, l->r->n_rules, sizeof(*v), id_cmp);
	for (i = 1; i < l->r->n_rules; i++) {
		if (strcmp(v[i - 1]->id, v[i]->id) == 0) {
			if (l->err != NULL)
				fprintf(l->err, "%s:%u: rule %s: duplicate id (first at line %u)\n",
					l->path, MX_MAX(v[i]->line, v[i - 1]->line), v[i]->id,
					MX_MIN(v[i]->line, v[i - 1]->line));
			rc = -EINVAL;
		}
	}
	free(v);
	return rc;
}

static int
parse_rules(struct ld *l, const yaml_node_t *seq)
{
	yaml_node_item_t *it;
	size_t n;
	int rc = 0, e;

	if (seq->type != YAML_SEQUENCE_NODE) {
		if (scalar_is(seq, "") || scalar_is(seq, "~") || scalar_is(seq, "null"))
			return 0;  /* "rules:" with nothing: an empty set */
		lerr(l, seq, NULL, "rules must be a list");
		return -EINVAL;
	}
	n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	if (n == 0)
		return 0;
	if (n > 1000000) {
		lerr(l, seq, NULL, "more than 1000000 rules");
		return -EINVAL;
	}
	l->r->rule = calloc(n, sizeof(*l->r->rule));
	if (l->r->rule == NULL)
		return -ENOMEM;
	for (it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
		struct mx_content_rule *ru = &l->r->rule[l->r->n_rules++];

		if ((e = rule_parse(l, yaml_document_get_node(l->doc, *it), ru)) != 0)
			rc = e;
	}
	if (rc == 0)
		rc = ids_unique(l);
	return rc;
}

static int
parse_map_i64(struct ld *l, const yaml_node_t *map, const char *k1, int64_t *v1,
		const char *k2, int64_t *v2, int64_t hi)
{
	yaml_node_pair_t *pr;

	if (map->type != YAML_MAPPING_NODE) {
		lerr(l, map, NULL, "%s/%s must be a mapping", k1, k2);
		return -EINVAL;
	}
	for (pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(l->doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(l->doc, pr->value);
		int64_t *dst = scalar_is(k, k1) ? v1 : scalar_is(k, k2) ? v2 : NULL;

		if (dst == NULL) {
			lerr(l, k, NULL, "unknown key (want %s or %s)", k1, k2);
			return -EINVAL;
		}
		if (scalar_i64(v, 0, hi, dst) != 0) {
			lerr(l, v, NULL, "must be an integer in 0..%lld", (long long)hi);
			return -EINVAL;
		}
	}
	return 0;
}

static int
parse_root(struct ld *l, const yaml_node_t *root)
{
	yaml_node_pair_t *pr;
	int64_t mb = MX_CONTENT_DEF_MAX_BYTES, mh = MX_CONTENT_DEF_MAX_HITS;
	int rc = 0, e;

	if (root == NULL)
		return 0;  /* an empty file: no rules */
	if (root->type != YAML_MAPPING_NODE) {
		lerr(l, root, NULL, "the file must be a mapping with a rules list");
		return -EINVAL;
	}
	for (pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(l->doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(l->doc, pr->value);

		if (scalar_is(k, "rules"))
			e = parse_rules(l, v);
		else if (scalar_is(k, "thresholds"))
			e = parse_map_i64(l, v, "quarantine", &l->r->thr_quarantine,
				"reject", &l->r->thr_reject, 1000000000);
		else if (scalar_is(k, "limits"))
			e = parse_map_i64(l, v, "max_bytes", &mb, "max_hits", &mh,
				1ll << 40);
		else {
			lerr(l, k, NULL, "unknown key (want rules, thresholds, limits)");
			e = -EINVAL;
		}
		if (e != 0)
			rc = e;
	}
	if (rc == 0 && (mh < 1 || mh > MX_CONTENT_MAX_HITS_LIMIT || mb < 1)) {
		lerr(l, root, NULL, "limits: max_hits in 1..%u, max_bytes >= 1",
			MX_CONTENT_MAX_HITS_LIMIT);
		rc = -EINVAL;
	}
	l->r->max_bytes = (uint64_t)mb;
	l->r->max_hits = (unsigned)mh;
	return rc;
}

static int
read_file(const char *path, uint64_t max, char **buf, size_t *len)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		close(fd);
		return S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (*buf == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, *buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	(*buf)[got] = '\0';
	*len = got;
	return 0;
}

static int
parse_yaml(struct ld *l, const char *buf, size_t len)
{
	yaml_parser_t p;
	yaml_document_t doc;
	int rc;

	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&p, &doc)) {
		if (l->err != NULL)
			fprintf(l->err, "%s:%zu: YAML: %s\n", l->path,
				p.problem_mark.line + 1,
				p.problem != NULL ? p.problem : "syntax error");
		yaml_parser_delete(&p);
		return -EINVAL;
	}
	l->doc = &doc;
	rc = parse_root(l, yaml_document_get_root_node(&doc));
	l->doc = NULL;
	yaml_document_delete(&doc);
	yaml_parser_delete(&p);
	return rc;
}

/* ---- compile ---- */

static void
refuse(struct ld *l, struct mx_content_rule *ru, const char *why)
{
	ru->refused = true;
	l->r->info.n_refused++;
	free(ru->refused_why);
	ru->refused_why = dup_n(why, strlen(why));
	if (l->err != NULL)
		fprintf(l->err, "%s:%u: rule %s: refused by Hyperscan: %s\n",
			l->path, ru->line, ru->id, why);
}

static unsigned
hs_mode(enum mx_content_target g)
{
	return mx_content_group_streams(g) ? HS_MODE_STREAM : HS_MODE_BLOCK;
}

static void
precheck(struct ld *l)
{
	unsigned i;

	for (i = 0; i < l->r->n_rules; i++) {
		struct mx_content_rule *ru = &l->r->rule[i];
		hs_expr_info_t *info = NULL;
		hs_compile_error_t *ce = NULL;

		if (hs_expression_info(ru->pattern, ru->hs_flags, &info, &ce) != HS_SUCCESS) {
			refuse(l, ru, ce != NULL ? ce->message : "invalid pattern");
			hs_free_compile_error(ce);
			continue;
		}
		free(info);
	}
}

static int
group_compile(struct ld *l, enum mx_content_target g)
{
	struct mx_content_rules *r = l->r;
	const char **expr;
	unsigned *flags, *ids, n = 0, i;
	int rc = 0;

	expr = malloc(sizeof(*expr) * (r->n_rules + 1));
	flags = malloc(sizeof(*flags) * (r->n_rules + 1));
	ids = malloc(sizeof(*ids) * (r->n_rules + 1));
	if (expr == NULL || flags == NULL || ids == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < r->n_rules; i++) {
		if (r->rule[i].target != g || r->rule[i].refused)
			continue;
		expr[n] = r->rule[i].pattern;
		flags[n] = r->rule[i].hs_flags;
		ids[n++] = i;
	}
	while (n > 0) {
		hs_compile_error_t *ce = NULL;
		hs_error_t e = hs_compile_multi(expr, flags, ids, n, hs_mode(g), NULL,
				&r->db[g], &ce);
		int x;

		if (e == HS_SUCCESS) {
			r->info.n_compiled++;
			break;
		}
		x = ce != NULL ? ce->expression : -1;
		if (x < 0 || (unsigned)x >= n) {
			if (l->err != NULL)
				fprintf(l->err, "%s: %s rules: Hyperscan: %s\n", l->path,
					mx_content_target_name(g),
					ce != NULL ? ce->message : "compile failed");
			hs_free_compile_error(ce);
			rc = -EINVAL;
			break;
		}
		refuse(l, &r->rule[ids[x]], ce->message);
		hs_free_compile_error(ce);
		n--;
		memmove(expr + x, expr + x + 1, sizeof(*expr) * (n - (unsigned)x));
		memmove(flags + x, flags + x + 1, sizeof(*flags) * (n - (unsigned)x));
		memmove(ids + x, ids + x + 1, sizeof(*ids) * (n - (unsigned)x));
	}
out:
	free(expr);
	free(flags);
	free(ids);
	return rc;
}

/* ---- cache ---- */

static void
cache_name(const char *dir, const char *buf, size_t len, char *out, size_t size)
{
	char tmp[256];
	uint64_t h = mx_siphash(cache_key, buf, len);
	int n = snprintf(tmp, sizeof(tmp), "%016llx|%s|" CACHE_MAGIC,
			(unsigned long long)h, hs_version());

	h = mx_siphash(cache_key, tmp, (size_t)MX_MIN(n, (int)sizeof(tmp) - 1));
	snprintf(out, size, "%s/rules-%016llx.hsdb", dir, (unsigned long long)h);
}

struct rd {
	const char *p;
	size_t len, off;
};

static int
rd_get(struct rd *d, void *dst, size_t n)
{
	if (d->len - d->off < n)
		return -EPROTO;
	memcpy(dst, d->p + d->off, n);
	d->off += n;
	return 0;
}

static int
cache_parse(struct ld *l, const char *buf, size_t len)
{
	struct mx_content_rules *r = l->r;
	struct rd d = { buf, len, 0 };
	char magic[8];
	uint32_t nr, nref, i, idx, rlen;
	uint64_t dl;
	unsigned g;

	if (rd_get(&d, magic, 8) != 0 || memcmp(magic, CACHE_MAGIC, 8) != 0 ||
			rd_get(&d, &nr, 4) != 0 || nr != r->n_rules)
		return -EPROTO;
	for (g = 0; g < MX_CONTENT_T__COUNT; g++) {
		if (rd_get(&d, &dl, 8) != 0 || dl > d.len - d.off)
			return -EPROTO;
		if (dl > 0 && hs_deserialize_database(d.p + d.off, (size_t)dl,
				&r->db[g]) != HS_SUCCESS)
			return -EPROTO;
		d.off += (size_t)dl;
	}
	if (rd_get(&d, &nref, 4) != 0 || nref > r->n_rules)
		return -EPROTO;
	for (i = 0; i < nref; i++) {
		char why[512];

		if (rd_get(&d, &idx, 4) != 0 || idx >= r->n_rules ||
				rd_get(&d, &rlen, 4) != 0 || rlen >= sizeof(why) ||
				rd_get(&d, why, rlen) != 0)
			return -EPROTO;
		why[rlen] = '\0';
		refuse(l, &r->rule[idx], why);
	}
	return d.off == d.len ? 0 : -EPROTO;
}

static void
dbs_free(struct mx_content_rules *r)
{
	unsigned g;

	for (g = 0; g < MX_CONTENT_T__COUNT; g++) {
		hs_free_database(r->db[g]);
		r->db[g] = NULL;
	}
}

static bool
cache_load(struct ld *l, const char *file)
{
	char *buf = NULL;
	size_t len = 0;
	int rc = read_file(file, CACHE_MAX_SIZE, &buf, &len);

	if (rc == -ENOENT)
		return false;
	if (rc == 0)
		rc = cache_parse(l, buf, len);
	free(buf);
	if (rc == 0)
		return true;
	if (l->err != NULL)
		fprintf(l->err, "%s: cache %s unusable (%s), compiling\n", l->path,
			file, strerror(-rc));
	dbs_free(l->r);
	l->r->info.n_refused = 0;
	for (unsigned i = 0; i < l->r->n_rules; i++) {
		l->r->rule[i].refused = false;
		free(l->r->rule[i].refused_why);
		l->r->rule[i].refused_why = NULL;
	}
	return false;
}

static int
wr(FILE *f, const void *p, size_t n)
{
	return fwrite(p, 1, n, f) == n ? 0 : -EIO;
}

static int
cache_write_to(struct mx_content_rules *r, FILE *f)
{
	uint32_t nr = r->n_rules, nref = 0, i, rl;
	unsigned g;
	int rc = wr(f, CACHE_MAGIC, 8) | wr(f, &nr, 4);

	for (g = 0; g < MX_CONTENT_T__COUNT && rc == 0; g++) {
		char *blob = NULL;
		size_t bl = 0;
		uint64_t dl;

		if (r->db[g] != NULL && hs_serialize_database(r->db[g], &blob, &bl) != HS_SUCCESS)
			return -ENOMEM;
		dl = bl;
		rc = wr(f, &dl, 8) | (bl > 0 ? wr(f, blob, bl) : 0);
		free(blob);
	}
	for (i = 0; i < r->n_rules; i++)
		nref += r->rule[i].refused;
	rc |= wr(f, &nref, 4);
	for (i = 0; i < r->n_rules && rc == 0; i++) {
		const char *why = r->rule[i].refused_why != NULL ?
			r->rule[i].refused_why : "refused";

		if (!r->rule[i].refused)
			continue;
		rl = (uint32_t)MX_MIN(strlen(why), 500u);
		rc = wr(f, &i, 4) | wr(f, &rl, 4) | wr(f, why, rl);
	}
	return rc;
}

static void
cache_store(struct ld *l, const char *file)
{
	char tmp[4200];
	FILE *f;
	int rc;

	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", file, (long)getpid());
	f = fopen(tmp, "wbe");
	if (f == NULL) {
		rc = -errno;
		goto fail;
	}
	rc = cache_write_to(l->r, f);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		rc = -EIO;
	if (fclose(f) != 0)
		rc = -EIO;
	if (rc == 0 && rename(tmp, file) != 0)
		rc = -errno;
	if (rc == 0)
		return;
	unlink(tmp);
fail:
	if (l->err != NULL)
		fprintf(l->err, "%s: cannot write cache %s: %s\n", l->path, file,
			strerror(-rc));
}

static int
compile_all(struct ld *l)
{
	unsigned g;
	int rc;

	precheck(l);
	for (g = 0; g < MX_CONTENT_T__COUNT; g++)
		if ((rc = group_compile(l, (enum mx_content_target)g)) != 0)
			return rc;
	return 0;
}

/* ---- public ---- */

static void
rules_free(struct mx_content_rules *r)
{
	unsigned i;

	dbs_free(r);
	for (i = 0; i < r->n_rules; i++) {
		free(r->rule[i].id);
		free(r->rule[i].hdr_name);
		free(r->rule[i].pattern);
		free(r->rule[i].text);
		free(r->rule[i].refused_why);
	}
	free(r->rule);
	free(r);
}

int
mx_content_rules_load(const char *path, const char *cache_dir, FILE *err,
		struct mx_content_rules **out)
{
	struct ld l = { .path = path, .err = err };
	char *buf = NULL, cfile[4096];
	size_t len = 0;
	int rc;

	*out = NULL;
	l.r = calloc(1, sizeof(*l.r));
	if (l.r == NULL)
		return -ENOMEM;
	atomic_init(&l.r->refs, 1);
	if ((rc = read_file(path, FILE_MAX_SIZE, &buf, &len)) != 0) {
		if (err != NULL)
			fprintf(err, "%s: %s\n", path, strerror(-rc));
		goto fail;
	}
	if ((rc = parse_yaml(&l, buf, len)) != 0)
		goto fail;
	l.r->info.n_rules = l.r->n_rules;
	if (cache_dir != NULL) {
		cache_name(cache_dir, buf, len, cfile, sizeof(cfile));
		if (cache_load(&l, cfile)) {
			l.r->info.from_cache = true;
			goto done;
		}
	}
	if ((rc = compile_all(&l)) != 0)
		goto fail;
	if (cache_dir != NULL)
		cache_store(&l, cfile);
done:
	free(buf);
	*out = l.r;
	return 0;
fail:
	free(buf);
	rules_free(l.r);
	return rc;
}

void
mx_content_rules_get(struct mx_content_rules *r)
{
	atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
}

void
mx_content_rules_put(struct mx_content_rules *r)
{
	if (r == NULL)
		return;
	if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
		rules_free(r);
}

const struct mx_content_load_info *
mx_content_rules_info(const struct mx_content_rules *r)
{
	return &r->info;
}
