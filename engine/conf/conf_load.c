/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reading the configuration file and writing it back.
 *
 * The file is parsed with libyaml's document API, whose nodes carry the
 * line they start on, so every message reads "file:line: section.key:
 * problem (expected ...)". The walk is two levels deep by construction
 * (sections, then keys, then a scalar or a list of scalars), so no input
 * can make it recurse. All problems are collected, not just the first:
 * an operator fixes a file in one pass. Unknown sections and keys are
 * errors (a misspelt key silently ignored is a limit silently not set),
 * with a "did you mean" hint when a known name is close.
 *
 * mx_conf_dump() writes YAML that this loader reads back to the same
 * snapshot. Control thread only: loading can block (file I/O, and
 * getaddrinfo for a downstream given by name).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "mx_conf.h"

#include "conf_priv.h"

/* A configuration file is a few kilobytes; this bounds the parser's
 * memory for a wrong file (a log, a core dump) given by mistake. */
#define CONF_MAX_FILE (1u << 20)

static const char *const sections[] = {
	"server", "smtp", "delivery", "log", "metrics", "memory", "tls", "dpdk",
	"auth", "dns",
};

struct conf_load {
	struct mx_conf *c;
	struct mx_conf_ctx x;
	yaml_document_t *doc;
	unsigned section_line[MX_ARRAY_SIZE(sections)];
	int nomem;            /* -ENOMEM seen: the load fails as a whole */
	unsigned profiles_line; /* tls.profiles seen at this line */
};

MX_PRINTF(3, 4)
static void
err_at(struct conf_load *l, unsigned line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	mx_conf_err(l->x.e, "%s:%u: %s", l->x.file, line, msg);
}

static unsigned
node_line(const yaml_node_t *n)
{
	return (unsigned)n->start_mark.line + 1;
}

static const char *
node_what(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "a scalar";
	}
}

/* YAML 1.2 core schema nulls: "key:" with nothing after it, ~, null. */
static bool
node_is_null(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return len == 0 || (len == 1 && v[0] == '~') ||
		(len == 4 && (memcmp(v, "null", 4) == 0 || memcmp(v, "Null", 4) == 0 ||
			memcmp(v, "NULL", 4) == 0));
}

/* The scalar as a C string, or NULL when it holds a NUL byte (then it
 * cannot be a name we know). */
static const char *
node_name(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;

	return strlen(v) == n->data.scalar.length ? v : NULL;
}

static yaml_node_t *
node(struct conf_load *l, int index)
{
	return yaml_document_get_node(l->doc, index);
}

/* ---- hints ---- */

static void
key_hint(const char *section, const char *name, char *buf, size_t size)
{
	unsigned best = UINT32_MAX, d;
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < mx_conf_n_keys; i++) {
		const struct mx_conf_key *k = &mx_conf_keys[i];

		if (strcmp(k->section, section) != 0)
			continue;
		d = mx_conf_distance(name, k->name);
		if (mx_conf_close(name, d) && d < best) {
			best = d;
			snprintf(buf, size, " (did you mean %s?)", k->name);
		}
	}
	if (best != UINT32_MAX)
		return;
	/* Right key, wrong section ("smtp: downstream:"). */
	for (i = 0; i < mx_conf_n_keys; i++) {
		if (strcmp(mx_conf_keys[i].name, name) == 0) {
			snprintf(buf, size, " (did you mean %s.%s? it belongs in section %s)",
					mx_conf_keys[i].section, name, mx_conf_keys[i].section);
			return;
		}
	}
}

static void
section_hint(const char *name, char *buf, size_t size)
{
	unsigned best = UINT32_MAX, d;
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < MX_ARRAY_SIZE(sections); i++) {
		d = mx_conf_distance(name, sections[i]);
		if (mx_conf_close(name, d) && d < best) {
			best = d;
			snprintf(buf, size, " (did you mean %s?)", sections[i]);
		}
	}
	if (best != UINT32_MAX)
		return;
	/* A key written at the top level ("hostname:" without "server:"). */
	for (i = 0; i < mx_conf_n_keys; i++) {
		if (strcmp(mx_conf_keys[i].name, name) == 0) {
			snprintf(buf, size, " (did you mean %s.%s? keys go under their section)",
					mx_conf_keys[i].section, name);
			return;
		}
	}
}

/* ---- values ---- */

static void
apply(struct conf_load *l, const struct mx_conf_key *k, const yaml_node_t *v)
{
	if (mx_conf_apply(l->c, k, (const char *)v->data.scalar.value,
				v->data.scalar.length, &l->x) == -ENOMEM)
		l->nomem = -ENOMEM;
}

static void
load_list(struct conf_load *l, const struct mx_conf_key *k, yaml_node_t *v)
{
	yaml_node_item_t *it;
	yaml_node_t *item;
	size_t n, i;

	if (v->type == YAML_SCALAR_NODE) {
		/* A single string is a list of one. */
		mx_conf_list_clear(l->c, k);
		apply(l, k, v);
		return;
	}
	if (v->type != YAML_SEQUENCE_NODE) {
		mx_conf_key_err(&l->x, k, true, "got %s", node_what(v));
		return;
	}
	n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (n < k->min || n > k->max) {
		mx_conf_key_err(&l->x, k, true, "%zu entries", n);
		return;
	}
	mx_conf_list_clear(l->c, k);
	for (i = 0, it = v->data.sequence.items.start; i < n; i++, it++) {
		item = node(l, *it);
		if (item == NULL)
			continue;
		l->x.line = node_line(item);
		if (item->type != YAML_SCALAR_NODE || node_is_null(item)) {
			mx_conf_key_err(&l->x, k, true, "entry %zu is %s", i + 1,
					item->type == YAML_SCALAR_NODE ? "empty" : node_what(item));
			continue;
		}
		apply(l, k, item);
	}
}

static void
load_value(struct conf_load *l, const struct mx_conf_key *k, yaml_node_t *v)
{
	l->x.line = node_line(v);
	if (node_is_null(v)) {
		mx_conf_key_err(&l->x, k, true, "missing value");
		return;
	}
	if (mx_conf_is_list(k)) {
		load_list(l, k, v);
		return;
	}
	if (v->type != YAML_SCALAR_NODE) {
		mx_conf_key_err(&l->x, k, true, "got %s", node_what(v));
		return;
	}
	apply(l, k, v);
}

static void load_key(struct conf_load *l, const char *section, const char *group,
		yaml_node_t *key, yaml_node_t *v);

static void
load_tls_profiles(struct conf_load *l, yaml_node_t *key, yaml_node_t *v)
{
	if (l->profiles_line != 0) {
		err_at(l, node_line(key), "tls.profiles: duplicate key (first at line %u)",
				l->profiles_line);
		return;
	}
	l->profiles_line = node_line(key);
	if (mx_conf_load_tls_profiles(l->c, l->doc, v, &l->x) == -ENOMEM)
		l->nomem = -ENOMEM;
}

/* "dpdk: fault: loss_pct: 5" is the key dpdk.fault.loss_pct: a mapping
 * under a name that is no key itself is a group of dotted keys (one
 * level; "fault.loss_pct: 5" says the same). */
static bool
load_group(struct conf_load *l, const char *section, const char *name, yaml_node_t *v)
{
	yaml_node_pair_t *pair;
	size_t n = strlen(name);
	size_t i;

	if (v->type != YAML_MAPPING_NODE)
		return false;
	for (i = 0; i < mx_conf_n_keys; i++)
		if (strcmp(mx_conf_keys[i].section, section) == 0 &&
				strncmp(mx_conf_keys[i].name, name, n) == 0 &&
				mx_conf_keys[i].name[n] == '.')
			break;
	if (i == mx_conf_n_keys)
		return false;
	for (pair = v->data.mapping.pairs.start; pair < v->data.mapping.pairs.top; pair++) {
		yaml_node_t *pk = node(l, pair->key), *pv = node(l, pair->value);

		if (pk != NULL && pv != NULL)
			load_key(l, section, name, pk, pv);
	}
	return true;
}

static void
load_key(struct conf_load *l, const char *section, const char *group, yaml_node_t *key,
		yaml_node_t *v)
{
	struct mx_conf_priv *p = mx_conf_priv(l->c);
	const struct mx_conf_key *k;
	const char *name;
	char hint[160], sv[64], dotted[96];
	size_t i;

	if (key->type != YAML_SCALAR_NODE) {
		err_at(l, node_line(key), "%s: key names must be strings, got %s",
				section, node_what(key));
		return;
	}
	name = node_name(key);
	if (name != NULL && group != NULL) {
		snprintf(dotted, sizeof(dotted), "%s.%s", group, name);
		name = dotted;
	}
	/* tls.profiles is a list of mappings, loaded on its own. */
	if (name != NULL && group == NULL && strcmp(section, "tls") == 0 &&
			strcmp(name, "profiles") == 0) {
		load_tls_profiles(l, key, v);
		return;
	}
	k = name != NULL ? mx_conf_find(section, name) : NULL;
	if (k == NULL && name != NULL && group == NULL && load_group(l, section, name, v))
		return;
	if (k == NULL) {
		hint[0] = '\0';
		if (name != NULL)
			key_hint(section, name, hint, sizeof(hint));
		if (group != NULL && name != NULL)
			err_at(l, node_line(key), "%s.%s: unknown key%s", section,
					mx_printable(sv, sizeof(sv), name, strlen(name)), hint);
		else
			err_at(l, node_line(key), "%s.%s: unknown key%s", section,
					mx_printable(sv, sizeof(sv), key->data.scalar.value,
						key->data.scalar.length), hint);
		return;
	}
	i = (size_t)(k - mx_conf_keys);
	if (p->line[i] != 0) {
		err_at(l, node_line(key), "%s.%s: duplicate key (first at line %u)",
				section, name, p->line[i]);
		return;
	}
	p->line[i] = node_line(key);
	load_value(l, k, v);
}

static void
load_section(struct conf_load *l, yaml_node_t *key, yaml_node_t *v)
{
	yaml_node_pair_t *pair;
	const char *name;
	char hint[160], sv[64];
	size_t i;

	if (key->type != YAML_SCALAR_NODE) {
		err_at(l, node_line(key), "top level: section names must be strings, got %s",
				node_what(key));
		return;
	}
	name = node_name(key);
	for (i = 0; name != NULL && i < MX_ARRAY_SIZE(sections); i++)
		if (strcmp(name, sections[i]) == 0)
			break;
	if (name == NULL || i == MX_ARRAY_SIZE(sections)) {
		hint[0] = '\0';
		if (name != NULL)
			section_hint(name, hint, sizeof(hint));
		if (hint[0] == '\0')
			snprintf(hint, sizeof(hint), " (expected server, smtp, delivery, log, "
					"metrics, memory, tls or dpdk)");
		err_at(l, node_line(key), "%s: unknown section%s",
				mx_printable(sv, sizeof(sv), key->data.scalar.value,
					key->data.scalar.length), hint);
		return;
	}
	if (l->section_line[i] != 0) {
		err_at(l, node_line(key), "%s: duplicate section (first at line %u)",
				name, l->section_line[i]);
		return;
	}
	l->section_line[i] = node_line(key);
	/* "smtp:" with every key commented out is an empty section. */
	if (node_is_null(v))
		return;
	if (v->type != YAML_MAPPING_NODE) {
		err_at(l, node_line(v), "%s: expected a mapping of keys, got %s",
				name, node_what(v));
		return;
	}
	for (pair = v->data.mapping.pairs.start; pair < v->data.mapping.pairs.top; pair++) {
		yaml_node_t *pk = node(l, pair->key), *pv = node(l, pair->value);

		if (pk != NULL && pv != NULL)
			load_key(l, name, NULL, pk, pv);
	}
}

static void
load_root(struct conf_load *l, yaml_node_t *root)
{
	yaml_node_pair_t *pair;

	if (root == NULL) {
		err_at(l, 1, "top level: empty configuration (expected a mapping of "
				"sections such as server: and smtp:)");
		return;
	}
	if (root->type != YAML_MAPPING_NODE) {
		err_at(l, node_line(root), "top level: expected a mapping of sections, got %s",
				node_what(root));
		return;
	}
	for (pair = root->data.mapping.pairs.start; pair < root->data.mapping.pairs.top; pair++) {
		yaml_node_t *pk = node(l, pair->key), *pv = node(l, pair->value);

		if (pk != NULL && pv != NULL)
			load_section(l, pk, pv);
	}
}

/* ---- libyaml ---- */

static unsigned
line_of_offset(const char *buf, size_t len, size_t off)
{
	unsigned line = 1;
	size_t i;

	for (i = 0; i < off && i < len; i++)
		if (buf[i] == '\n')
			line++;
	return line;
}

static int
syntax_err(struct conf_load *l, const yaml_parser_t *y, const char *buf, size_t len)
{
	unsigned line;

	if (y->error == YAML_MEMORY_ERROR)
		return -ENOMEM;
	if (y->error == YAML_READER_ERROR)
		line = line_of_offset(buf, len, y->problem_offset);
	else
		line = (unsigned)y->problem_mark.line + 1;
	err_at(l, line, "yaml: %s%s%s%s", y->problem != NULL ? y->problem : "syntax error",
			y->context != NULL ? " (" : "", y->context != NULL ? y->context : "",
			y->context != NULL ? ")" : "");
	return -EINVAL;
}

static int
parse_yaml(struct conf_load *l, const char *buf, size_t len)
{
	yaml_parser_t y;
	yaml_document_t doc, extra;
	yaml_node_t *root, *next;
	int rc = 0;

	if (!yaml_parser_initialize(&y))
		return -ENOMEM;
	yaml_parser_set_input_string(&y, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&y, &doc)) {
		rc = syntax_err(l, &y, buf, len);
		yaml_parser_delete(&y);
		return rc;
	}
	l->doc = &doc;
	root = yaml_document_get_root_node(&doc);
	load_root(l, root);
	if (root != NULL) {
		/* One file, one document: a second one is a pasting mistake. */
		if (!yaml_parser_load(&y, &extra)) {
			rc = syntax_err(l, &y, buf, len);
		} else {
			next = yaml_document_get_root_node(&extra);
			if (next != NULL)
				err_at(l, node_line(next), "top level: only one YAML document "
						"is allowed");
			yaml_document_delete(&extra);
		}
	}
	l->doc = NULL;
	yaml_document_delete(&doc);
	yaml_parser_delete(&y);
	return rc;
}

/* The absolute directory of name: relative paths in the file hang off it. */
static int
base_dir(const char *name, char *out, size_t size)
{
	const char *slash = strrchr(name, '/');
	size_t dlen = slash != NULL ? (size_t)(slash - name) : 0;
	size_t clen = 0;

	if (name[0] != '/') {
		if (getcwd(out, size) == NULL)
			return -errno;
		clen = strlen(out);
		if (slash != NULL && clen + 1 < size)
			out[clen++] = '/';
	}
	if (clen + dlen >= size)
		return -ENAMETOOLONG;
	memcpy(out + clen, name, dlen);
	out[clen + dlen] = '\0';
	return 0;
}

int
mx_conf_load_buf(const char *name, const char *buf, size_t len, unsigned flags,
		struct mx_conf **out, char *err, size_t errsize)
{
	struct mx_conf_errbuf e;
	struct conf_load *l;
	int rc;

	*out = NULL;
	mx_conf_errbuf_init(&e, err, errsize);
	if (len > CONF_MAX_FILE) {
		mx_conf_err(&e, "%s: file too large (%zu bytes, expected at most %u)",
				name, len, CONF_MAX_FILE);
		return -EFBIG;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return -ENOMEM;
	rc = mx_conf_new(&l->c);
	if (rc != 0)
		goto done;
	l->c->path = strdup(name);
	if (l->c->path == NULL) {
		rc = -ENOMEM;
		goto done;
	}
	l->x.e = &e;
	l->x.file = l->c->path;
	l->x.flags = flags;
	rc = base_dir(name, l->x.base, sizeof(l->x.base));
	if (rc != 0) {
		mx_conf_err(&e, "%s: cannot make its directory absolute: %s", name, strerror(-rc));
		goto done;
	}
	rc = parse_yaml(l, buf, len);
	if (rc == 0)
		rc = l->nomem;
	if (rc == 0 && e.n != 0)
		rc = -EINVAL;
done:
	if (rc == 0)
		*out = l->c;
	else
		mx_conf_put(l->c);
	free(l);
	return rc;
}

static int
read_file(const char *path, char **buf, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *b = NULL, *nb;
	ssize_t r;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (b == NULL || n == cap) {
			/* One byte past the bound tells "too large" apart. */
			if (b != NULL && cap == CONF_MAX_FILE + 1u) {
				rc = -EFBIG;
				break;
			}
			if (b != NULL)
				cap = MX_MIN(cap * 2, CONF_MAX_FILE + 1u);
			nb = realloc(b, cap);
			if (nb == NULL) {
				rc = -ENOMEM;
				break;
			}
			b = nb;
		}
		r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (rc != 0) {
		free(b);
		return rc;
	}
	*buf = b;
	*len = n;
	return 0;
}

int
mx_conf_load(const char *path, struct mx_conf **out, char *err, size_t errsize)
{
	struct mx_conf_errbuf e;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	rc = read_file(path, &buf, &len);
	if (rc != 0) {
		mx_conf_errbuf_init(&e, err, errsize);
		if (rc == -EFBIG)
			mx_conf_err(&e, "%s: file too large (expected at most %u bytes)",
					path, CONF_MAX_FILE);
		else
			mx_conf_err(&e, "%s: cannot read: %s", path, strerror(-rc));
		return rc;
	}
	rc = mx_conf_load_buf(path, buf, len, 0, out, err, errsize);
	free(buf);
	return rc;
}

/* ---- dump ---- */

/* Length of the valid UTF-8 sequence at s (1..4) and its code point, or 0
 * when s does not start one. */
static size_t
utf8_decode(const unsigned char *s, uint32_t *cp)
{
	size_t n, i;
	uint32_t v;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		v = s[0] & 0x1fu;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		v = s[0] & 0x0fu;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		v = s[0] & 0x07u;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3fu);
	}
	/* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
	if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) ||
			(v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff)
		return 0;
	*cp = v;
	return n;
}

/* YAML double-quoted scalar, every byte outside printable ASCII escaped:
 * the loader turns the escapes back into the same UTF-8 (YAML 1.2 5.7).
 * A byte that is not UTF-8 (possible only from a command-line flag) has
 * no YAML form; it is written as \xHH, which reloads as U+00HH. */
static void
put_quoted(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	uint32_t cp;
	size_t n;

	fputc('"', f);
	while (*s != '\0') {
		if (*s == '"' || *s == '\\') {
			fprintf(f, "\\%c", *s++);
		} else if (*s >= 0x20 && *s < 0x7f) {
			fputc(*s++, f);
		} else if (*s < 0x80 || (n = utf8_decode(s, &cp)) == 0) {
			fprintf(f, "\\x%02x", *s++);
		} else {
			fprintf(f, cp > 0xffff ? "\\U%08x" : "\\u%04x", (unsigned)cp);
			s += n;
		}
	}
	fputc('"', f);
}

static void
put_addr(FILE *f, const struct mx_addr *a)
{
	char buf[64];

	mx_addr_format(a, true, buf, sizeof(buf));
	put_quoted(f, buf);
}

static void
put_number(FILE *f, const struct mx_conf *c, const struct mx_conf_key *k)
{
	uint64_t v = mx_conf_num_get(c, k);
	char buf[32];

	if (k->kind == MX_CONF_K_MS)
		mx_conf_fmt_ms(v, buf, sizeof(buf));
	else if (k->kind == MX_CONF_K_COUNT)
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	else
		mx_conf_fmt_size(v, buf, sizeof(buf));
	fputs(buf, f);
}

static void
put_list(FILE *f, const struct mx_conf *c, const struct mx_conf_key *k)
{
	unsigned i, n = k->kind == MX_CONF_K_LISTEN ? c->n_listen : c->n_local_domains;

	fputc('[', f);
	for (i = 0; i < n; i++) {
		if (i > 0)
			fputs(", ", f);
		if (k->kind == MX_CONF_K_LISTEN)
			put_addr(f, &c->listen[i]);
		else
			put_quoted(f, c->local_domains[i]);
	}
	fputc(']', f);
}

static void
put_paths(FILE *f, const struct mx_conf_paths *l)
{
	unsigned i;

	fputc('[', f);
	for (i = 0; i < l->n; i++) {
		if (i > 0)
			fputs(", ", f);
		put_quoted(f, l->v[i]);
	}
	fputc(']', f);
}

static void
put_ipv4(FILE *f, uint32_t ip)
{
	char b[INET_ADDRSTRLEN];
	struct in_addr a = { .s_addr = ip };

	fputs(inet_ntop(AF_INET, &a, b, sizeof(b)) != NULL ? b : "0.0.0.0", f);
}

static void
put_cidrs(FILE *f, const struct mx_conf *c)
{
	fputc('[', f);
	for (unsigned i = 0; i < c->n_dpdk_addr; i++) {
		if (i > 0)
			fputs(", ", f);
		put_ipv4(f, c->dpdk_addr[i]);
		fprintf(f, "/%u", c->dpdk_prefix[i]);
	}
	fputc(']', f);
}

static void
put_value(FILE *f, const struct mx_conf *c, const struct mx_conf_key *k)
{
	const char *s;

	switch (k->kind) {
	case MX_CONF_K_HOSTNAME:
		put_quoted(f, c->hostname);
		break;
	case MX_CONF_K_HELO:
		put_quoted(f, c->helo_name);
		break;
	case MX_CONF_K_LISTEN:
	case MX_CONF_K_DOMAINS:
		put_list(f, c, k);
		break;
	case MX_CONF_K_COUNT:
	case MX_CONF_K_MS:
	case MX_CONF_K_BYTES:
	case MX_CONF_K_BYTES64:
		put_number(f, c, k);
		break;
	case MX_CONF_K_BOOL:
		fputs(*(const bool *)(const void *)((const char *)c + k->off) ? "true" : "false", f);
		break;
	case MX_CONF_K_DOWNSTREAM:
		put_quoted(f, c->downstream_host);
		break;
	case MX_CONF_K_PATH:
	case MX_CONF_K_VLOG:
		put_quoted(f, *(char *const *)(const void *)((const char *)c + k->off));
		break;
	case MX_CONF_K_LEVEL:
		s = mx_conf_level_name(c->log_level);
		fputs(s != NULL ? s : "info", f);
		break;
	case MX_CONF_K_METRICS:
		put_addr(f, &c->metrics_listen);
		break;
	case MX_CONF_K_STRING:
		put_quoted(f, *(char *const *)(const void *)((const char *)c + k->off));
		break;
	case MX_CONF_K_CIDRS:
		put_cidrs(f, c);
		break;
	case MX_CONF_K_IPV4:
		put_ipv4(f, c->dpdk_gateway);
		break;
	case MX_CONF_K_PATHS:
		put_paths(f, (const struct mx_conf_paths *)(const void *)((const char *)c + k->off));
		break;
	case MX_CONF_K_TLS_VERSION:
		/* Quoted: a bare 1.0 would read back as a YAML number. */
		fprintf(f, "\"%s\"", mx_conf_word(c, k));
		break;
	case MX_CONF_K_TRANSPORT:
	case MX_CONF_K_BARE_LF:
	case MX_CONF_K_TLS_MODE:
	case MX_CONF_K_TLS_BACKEND:
	case MX_CONF_K_AUTH_WORD:
	case MX_CONF_K_RELAY_TLS:
		fputs(mx_conf_word(c, k), f);
		break;
	}
}

/* Keys with nothing set are left out: the loader would refuse an empty
 * host name or list, and leaving them out means "not set" on reload too. */
static bool
dump_has(const struct mx_conf *c, const struct mx_conf_key *k)
{
	switch (k->kind) {
	case MX_CONF_K_HOSTNAME:
		return c->hostname[0] != '\0';
	case MX_CONF_K_HELO:
		return c->helo_name[0] != '\0';
	case MX_CONF_K_LISTEN:
		return c->n_listen > 0;
	case MX_CONF_K_DOMAINS:
		return c->n_local_domains > 0;
	case MX_CONF_K_DOWNSTREAM:
		return c->has_downstream;
	case MX_CONF_K_PATH:
	case MX_CONF_K_VLOG:
		return *(char *const *)(const void *)((const char *)c + k->off) != NULL;
	case MX_CONF_K_METRICS:
		return c->has_metrics;
	case MX_CONF_K_STRING:
		return *(char *const *)(const void *)((const char *)c + k->off) != NULL;
	case MX_CONF_K_CIDRS:
		return c->n_dpdk_addr > 0;
	case MX_CONF_K_IPV4:
		return c->dpdk_gateway != 0;
	case MX_CONF_K_PATHS:
		return ((const struct mx_conf_paths *)(const void *)((const char *)c + k->off))->n > 0;
	default:
		return true;
	}
}

void
mx_conf_dump(const struct mx_conf *c, FILE *f)
{
	const char *section = NULL;
	size_t i;

	fputs("# mxedge effective configuration\n", f);
	for (i = 0; i < mx_conf_n_keys; i++) {
		const struct mx_conf_key *k = &mx_conf_keys[i];

		if (!dump_has(c, k))
			continue;
		if (section == NULL || strcmp(section, k->section) != 0) {
			if (section != NULL && strcmp(section, "tls") == 0)
				mx_conf_dump_tls_profiles(c, f);
			section = k->section;
			fprintf(f, "%s:\n", section);
		}
		fprintf(f, "  %s: ", k->name);
		put_value(f, c, k);
		fputc('\n', f);
	}
	if (section != NULL && strcmp(section, "tls") == 0)
		mx_conf_dump_tls_profiles(c, f);
}
