/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tls.profiles: the list of TLS connection profiles (README "TLS
 * profiles"), the one key of the file whose value is a list of mappings.
 * Each entry is checked here, at load, with "file:line:
 * tls.profiles[N].key: problem" messages like every other key; crypto/tls
 * checks what only the TLS library can (cipher names, the CA file's
 * contents) when the engine builds its TLS context.
 *
 *   tls:
 *     profiles:
 *       - name: partners
 *         clients: [192.0.2.0/24, "2001:db8::/32"]
 *         sender_domains: [partner.example, .partner.example]
 *         require_tls: true
 *         min_version: "1.2"
 *         strength: high            # or ciphers: [TLS-ECDHE-...]
 *         client_cert: required     # none | optional | required
 *         ca_file: partners-ca.pem
 *         cert_match: "*.partner.example"   # or sender-domain
 *
 * The walk is bounded by construction (a list of mappings of scalars or
 * lists of scalars). Control thread only, like the rest of the loader.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "mx_conf.h"

#include "conf_priv.h"

#define TP_NAME_MAX 47

struct tp_load {
	struct mx_conf *c;
	yaml_document_t *doc;
	struct mx_conf_ctx *x;
	unsigned idx;         /* 1-based entry number, for messages */
	unsigned line;
	const char *key;
	int nomem;
};

MX_PRINTF(2, 3)
static void
tp_err(struct tp_load *l, const char *fmt, ...)
{
	char msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	mx_conf_err(l->x->e, "%s:%u: tls.profiles[%u]%s%s: %s",
			l->x->file != NULL ? l->x->file : "(config)", l->line, l->idx,
			l->key != NULL ? "." : "", l->key != NULL ? l->key : "", msg);
}

static const char *
tp_scalar(yaml_node_t *n, size_t *len)
{
	const char *v = (const char *)n->data.scalar.value;

	*len = n->data.scalar.length;
	/* A NUL inside is never a valid value of any of these keys. */
	return strlen(v) == *len ? v : NULL;
}

/* ---- values ---- */

static bool
tp_bool(struct tp_load *l, const char *v, bool *out)
{
	if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0) {
		*out = true;
		return true;
	}
	if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0) {
		*out = false;
		return true;
	}
	tp_err(l, "'%s' is not a boolean (expected true or false)", v);
	return false;
}

static int
tp_word(struct tp_load *l, const char *v, const char *const *words, const char *expect)
{
	int i;

	for (i = 0; words[i] != NULL; i++)
		if (strcmp(v, words[i]) == 0)
			return i;
	tp_err(l, "'%s' is not valid (expected %s)", v, expect);
	return -1;
}

static const char *const tp_versions[] = { "1.0", "1.1", "1.2", NULL };
static const char *const tp_strengths[] = { "default", "high", NULL };
static const char *const tp_certs[] = { "none", "optional", "required", NULL };

/* "192.0.2.0/24", "2001:db8::/32", or a single address (a full prefix). */
static bool
tp_cidr(struct tp_load *l, const char *v, struct mx_addr *a, uint8_t *prefix)
{
	char ip[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(v, '/');
	size_t iplen = slash != NULL ? (size_t)(slash - v) : strlen(v);
	unsigned max, p = 0;
	const char *d;

	memset(a, 0, sizeof(*a));
	if (iplen == 0 || iplen >= sizeof(ip))
		goto bad;
	memcpy(ip, v, iplen);
	ip[iplen] = '\0';
	if (inet_pton(AF_INET, ip, &a->ip.v4) == 1) {
		a->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, ip, &a->ip.v6) == 1) {
		a->family = AF_INET6;
		max = 128;
	} else {
		goto bad;
	}
	if (slash == NULL) {
		*prefix = (uint8_t)max;
		return true;
	}
	for (d = slash + 1; *d >= '0' && *d <= '9' && p <= max; d++)
		p = p * 10 + (unsigned)(*d - '0');
	if (d == slash + 1 || *d != '\0' || p > max)
		goto bad;
	*prefix = (uint8_t)p;
	return true;
bad:
	tp_err(l, "'%s' is not an address or network (expected e.g. 192.0.2.0/24 "
			"or 2001:db8::/32)", v);
	return false;
}

/* "example.com" or ".example.com" (below it), stored lower case. */
static char *
tp_domain(struct tp_load *l, const char *v, size_t len)
{
	size_t off = len > 0 && v[0] == '.' ? 1 : 0;
	char *s;
	size_t i;

	if (!mx_conf_hostname_ok(v + off, len - off)) {
		tp_err(l, "'%s' is not a domain (expected example.com, or .example.com "
				"for the domains below it)", v);
		return NULL;
	}
	s = strndup(v, len);
	if (s == NULL) {
		l->nomem = -ENOMEM;
		return NULL;
	}
	for (i = 0; i < len; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char)(s[i] - 'A' + 'a');
	return s;
}

static bool
tp_suite_name_ok(const char *v, size_t len)
{
	size_t i;

	if (len == 0 || len > 64)
		return false;
	for (i = 0; i < len; i++)
		if (!((v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= '0' && v[i] <= '9') || v[i] == '-'))
			return false;
	return true;
}

static char *
tp_path(struct tp_load *l, const char *v, size_t len)
{
	size_t blen;
	char *s;

	if (len == 0 || len >= PATH_MAX) {
		tp_err(l, "not a path");
		return NULL;
	}
	while (v[0] != '/' && len > 2 && v[0] == '.' && v[1] == '/') {
		v += 2;
		len -= 2;
	}
	if (v[0] == '/') {
		s = strndup(v, len);
	} else {
		/* Relative: anchored like every path of the file (mx_conf.h). */
		blen = strlen(l->x->base);
		if (blen + 1 + len >= PATH_MAX) {
			tp_err(l, "path too long");
			return NULL;
		}
		s = malloc(blen + 1 + len + 1);
		if (s != NULL) {
			memcpy(s, l->x->base, blen);
			s[blen] = '/';
			memcpy(s + blen + 1, v, len);
			s[blen + 1 + len] = '\0';
		}
	}
	if (s == NULL)
		l->nomem = -ENOMEM;
	return s;
}

static bool
tp_name_ok(const char *v, size_t len)
{
	size_t i;

	if (len == 0 || len > TP_NAME_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
					(v[i] >= '0' && v[i] <= '9') || v[i] == '-' ||
					v[i] == '_' || v[i] == '.'))
			return false;
	return true;
}

/* cert_match: a host name, "*." and a host name, or sender-domain. */
static bool
tp_match_ok(const char *v, size_t len)
{
	if (strcmp(v, "sender-domain") == 0)
		return true;
	if (len > 2 && v[0] == '*' && v[1] == '.')
		return mx_conf_hostname_ok(v + 2, len - 2);
	return mx_conf_hostname_ok(v, len);
}

/* ---- one key ---- */

/* The list keys: one scalar is a list of one. */
static void
tp_list(struct tp_load *l, struct mx_conf_tls_profile *p, yaml_node_t *v,
		void (*one)(struct tp_load *, struct mx_conf_tls_profile *, const char *, size_t))
{
	yaml_node_item_t *it;
	yaml_node_t *item;
	const char *s;
	size_t len, n;

	if (v->type == YAML_SCALAR_NODE) {
		s = tp_scalar(v, &len);
		if (s == NULL || len == 0)
			tp_err(l, "empty value");
		else
			one(l, p, s, len);
		return;
	}
	if (v->type != YAML_SEQUENCE_NODE) {
		tp_err(l, "expected a list");
		return;
	}
	n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (n == 0 || n > MX_CONF_MAX_TLS_MATCH) {
		tp_err(l, "%zu entries (expected 1 to %d)", n, MX_CONF_MAX_TLS_MATCH);
		return;
	}
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
		item = yaml_document_get_node(l->doc, *it);
		if (item == NULL)
			continue;
		l->line = (unsigned)item->start_mark.line + 1;
		s = item->type == YAML_SCALAR_NODE ? tp_scalar(item, &len) : NULL;
		if (s == NULL || len == 0) {
			tp_err(l, "each entry must be a non-empty string");
			continue;
		}
		one(l, p, s, len);
	}
}

static void
tp_one_client(struct tp_load *l, struct mx_conf_tls_profile *p, const char *v, size_t len)
{
	(void)len;
	if (tp_cidr(l, v, &p->clients[p->n_clients], &p->client_prefix[p->n_clients]))
		p->n_clients++;
}

static void
tp_one_domain(struct tp_load *l, struct mx_conf_tls_profile *p, const char *v, size_t len)
{
	char *d = tp_domain(l, v, len);

	if (d != NULL)
		p->sender_domains[p->n_sender_domains++] = d;
}

static void
tp_one_cipher(struct tp_load *l, struct mx_conf_tls_profile *p, const char *v, size_t len)
{
	char *s;

	if (!tp_suite_name_ok(v, len)) {
		tp_err(l, "'%s' is not a cipher suite name (expected an IANA name as "
				"mbedTLS spells it, e.g. TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256)", v);
		return;
	}
	s = strndup(v, len);
	if (s == NULL) {
		l->nomem = -ENOMEM;
		return;
	}
	p->ciphers[p->n_ciphers++] = s;
}

static void
tp_scalar_key(struct tp_load *l, struct mx_conf_tls_profile *p, const char *k,
		const char *v, size_t len)
{
	int w;

	if (strcmp(k, "name") == 0) {
		if (!tp_name_ok(v, len))
			tp_err(l, "'%s' is not a profile name (letters, digits, - _ . ; "
					"at most %d)", v, TP_NAME_MAX);
		else if ((p->name = strndup(v, len)) == NULL)
			l->nomem = -ENOMEM;
	} else if (strcmp(k, "require_tls") == 0) {
		(void)tp_bool(l, v, &p->require_tls);
	} else if (strcmp(k, "min_version") == 0) {
		w = tp_word(l, v, tp_versions, "1.0, 1.1 or 1.2");
		if (w >= 0)
			p->min_version = w;
	} else if (strcmp(k, "strength") == 0) {
		w = tp_word(l, v, tp_strengths, "default, or high: ECDHE with an AEAD only");
		if (w >= 0)
			p->strong = w == 1;
	} else if (strcmp(k, "client_cert") == 0) {
		w = tp_word(l, v, tp_certs, "none, optional or required");
		if (w >= 0)
			p->client_cert = (unsigned)w;
	} else if (strcmp(k, "ca_file") == 0) {
		p->ca_file = tp_path(l, v, len);
	} else if (strcmp(k, "cert_match") == 0) {
		if (!tp_match_ok(v, len))
			tp_err(l, "'%s' is not valid (expected a host name, \"*.\" and a host "
					"name, or sender-domain)", v);
		else if ((p->cert_match = strndup(v, len)) == NULL)
			l->nomem = -ENOMEM;
	}
}

static const char *const tp_keys[] = {
	"name", "clients", "sender_domains", "require_tls", "min_version", "strength",
	"ciphers", "client_cert", "ca_file", "cert_match", NULL,
};

static void
tp_key(struct tp_load *l, struct mx_conf_tls_profile *p, yaml_node_t *kn, yaml_node_t *v,
		unsigned *seen)
{
	const char *k, *s;
	size_t len;
	int i;

	l->line = (unsigned)kn->start_mark.line + 1;
	l->key = NULL;
	k = kn->type == YAML_SCALAR_NODE ? tp_scalar(kn, &len) : NULL;
	for (i = 0; k != NULL && tp_keys[i] != NULL; i++)
		if (strcmp(k, tp_keys[i]) == 0)
			break;
	if (k == NULL || tp_keys[i] == NULL) {
		tp_err(l, "unknown key%s%s (expected name, clients, sender_domains, "
				"require_tls, min_version, strength, ciphers, client_cert, "
				"ca_file or cert_match)", k != NULL ? " " : "", k != NULL ? k : "");
		return;
	}
	l->key = tp_keys[i];
	if (*seen & (1u << i)) {
		tp_err(l, "duplicate key");
		return;
	}
	*seen |= 1u << i;
	if (strcmp(k, "clients") == 0) {
		tp_list(l, p, v, tp_one_client);
		return;
	}
	if (strcmp(k, "sender_domains") == 0) {
		tp_list(l, p, v, tp_one_domain);
		return;
	}
	if (strcmp(k, "ciphers") == 0) {
		tp_list(l, p, v, tp_one_cipher);
		return;
	}
	s = v->type == YAML_SCALAR_NODE ? tp_scalar(v, &len) : NULL;
	if (s == NULL || len == 0) {
		tp_err(l, "expected a non-empty scalar");
		return;
	}
	tp_scalar_key(l, p, k, s, len);
}

/* ---- one entry ---- */

static void
tp_entry_checks(struct tp_load *l, struct mx_conf_tls_profile *p, unsigned n)
{
	unsigned i;

	l->key = NULL;
	l->line = p->line;
	if (p->n_clients == 0 && p->n_sender_domains == 0)
		tp_err(l, "matches nothing (give clients and/or sender_domains)");
	if (p->client_cert == 2 && p->ca_file == NULL)
		tp_err(l, "client_cert required needs ca_file (the CAs trusted for "
				"client certificates)");
	if (p->cert_match != NULL && p->client_cert != 2)
		tp_err(l, "cert_match needs client_cert: required");
	if (p->strong && p->n_ciphers > 0)
		tp_err(l, "give strength or ciphers, not both");
	if (p->name == NULL) {
		char buf[24];

		snprintf(buf, sizeof(buf), "profile%u", n + 1);
		if ((p->name = strdup(buf)) == NULL)
			l->nomem = -ENOMEM;
		return;
	}
	for (i = 0; i < n; i++)
		if (l->c->tls_profiles[i].name != NULL &&
				strcmp(l->c->tls_profiles[i].name, p->name) == 0)
			tp_err(l, "name %s is used by tls.profiles[%u] already", p->name, i + 1);
}

static void
tp_entry(struct tp_load *l, struct mx_conf_tls_profile *p, yaml_node_t *e, unsigned n)
{
	yaml_node_pair_t *pair;
	unsigned seen = 0;

	p->min_version = -1;
	p->line = (unsigned)e->start_mark.line + 1;
	l->line = p->line;
	l->key = NULL;
	if (e->type != YAML_MAPPING_NODE) {
		tp_err(l, "expected a mapping (name:, clients:, sender_domains:, ...)");
		return;
	}
	for (pair = e->data.mapping.pairs.start; pair < e->data.mapping.pairs.top; pair++) {
		yaml_node_t *pk = yaml_document_get_node(l->doc, pair->key);
		yaml_node_t *pv = yaml_document_get_node(l->doc, pair->value);

		if (pk != NULL && pv != NULL)
			tp_key(l, p, pk, pv, &seen);
	}
	tp_entry_checks(l, p, n);
}

void
mx_conf_free_tls_profiles(struct mx_conf *c)
{
	unsigned i, j;

	for (i = 0; i < c->n_tls_profiles; i++) {
		struct mx_conf_tls_profile *p = &c->tls_profiles[i];

		free(p->name);
		for (j = 0; j < p->n_sender_domains; j++)
			free(p->sender_domains[j]);
		for (j = 0; j < p->n_ciphers; j++)
			free(p->ciphers[j]);
		free(p->ca_file);
		free(p->cert_match);
	}
	free(c->tls_profiles);
	c->tls_profiles = NULL;
	c->n_tls_profiles = 0;
}

int
mx_conf_load_tls_profiles(struct mx_conf *c, struct yaml_document_s *doc,
		struct yaml_node_s *v, struct mx_conf_ctx *x)
{
	struct tp_load l = { .c = c, .doc = doc, .x = x };
	yaml_node_item_t *it;
	yaml_node_t *e;
	size_t n;

	l.line = (unsigned)v->start_mark.line + 1;
	if (v->type != YAML_SEQUENCE_NODE) {
		mx_conf_err(x->e, "%s:%u: tls.profiles: expected a list of profiles",
				x->file != NULL ? x->file : "(config)", l.line);
		return 0;
	}
	n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (n > MX_CONF_MAX_TLS_PROFILES) {
		mx_conf_err(x->e, "%s:%u: tls.profiles: %zu profiles (at most %d)",
				x->file != NULL ? x->file : "(config)", l.line, n,
				MX_CONF_MAX_TLS_PROFILES);
		return 0;
	}
	mx_conf_free_tls_profiles(c);
	if (n == 0)
		return 0;
	c->tls_profiles = calloc(n, sizeof(*c->tls_profiles));
	if (c->tls_profiles == NULL)
		return -ENOMEM;
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
		e = yaml_document_get_node(doc, *it);
		if (e == NULL)
			continue;
		l.idx = c->n_tls_profiles + 1;
		/* Counted first, so the free above takes what it holds. */
		c->n_tls_profiles++;
		tp_entry(&l, &c->tls_profiles[l.idx - 1], e, l.idx - 1);
	}
	return l.nomem;
}

/* ---- dump ---- */

static void
tp_dump_q(FILE *f, const char *s)
{
	/* Names, domains, suites and patterns are checked ASCII without
	 * quotes or backslashes; a path may hold anything. */
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			fprintf(f, "\\x%02x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void
tp_dump_one(FILE *f, const struct mx_conf_tls_profile *p)
{
	char ip[INET6_ADDRSTRLEN];
	unsigned i;

	fputs("    - name: ", f);
	tp_dump_q(f, p->name);
	if (p->n_clients > 0) {
		fputs("\n      clients: [", f);
		for (i = 0; i < p->n_clients; i++) {
			mx_addr_format(&p->clients[i], false, ip, sizeof(ip));
			fprintf(f, "%s\"%s/%u\"", i > 0 ? ", " : "", ip, p->client_prefix[i]);
		}
		fputc(']', f);
	}
	if (p->n_sender_domains > 0) {
		fputs("\n      sender_domains: [", f);
		for (i = 0; i < p->n_sender_domains; i++) {
			fputs(i > 0 ? ", " : "", f);
			tp_dump_q(f, p->sender_domains[i]);
		}
		fputc(']', f);
	}
	fprintf(f, "\n      require_tls: %s", p->require_tls ? "true" : "false");
	if (p->min_version >= 0)
		fprintf(f, "\n      min_version: \"1.%d\"", p->min_version);
	if (p->n_ciphers > 0) {
		fputs("\n      ciphers: [", f);
		for (i = 0; i < p->n_ciphers; i++) {
			fputs(i > 0 ? ", " : "", f);
			tp_dump_q(f, p->ciphers[i]);
		}
		fputc(']', f);
	} else {
		fprintf(f, "\n      strength: %s", p->strong ? "high" : "default");
	}
	fprintf(f, "\n      client_cert: %s", tp_certs[p->client_cert <= 2 ? p->client_cert : 0]);
	if (p->ca_file != NULL) {
		fputs("\n      ca_file: ", f);
		tp_dump_q(f, p->ca_file);
	}
	if (p->cert_match != NULL) {
		fputs("\n      cert_match: ", f);
		tp_dump_q(f, p->cert_match);
	}
	fputc('\n', f);
}

void
mx_conf_dump_tls_profiles(const struct mx_conf *c, FILE *f)
{
	unsigned i;

	if (c->n_tls_profiles == 0)
		return;
	fputs("  profiles:\n", f);
	for (i = 0; i < c->n_tls_profiles; i++)
		tp_dump_one(f, &c->tls_profiles[i]);
}
