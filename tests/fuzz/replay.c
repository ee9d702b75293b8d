/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * replay.c: runs a libFuzzer harness without libFuzzer (mbedTLS's
 * onefile.c idea), so CI can smoke every harness in the ASan+UBSan build
 * with gcc as well as clang.
 *
 *   fuzz_X_replay [--mutate N] [--seed S] [--max-len L] PATH...
 *
 * Every PATH (a file, or a directory whose regular files are read) is fed
 * to LLVMFuzzerTestOneInput as is; then N inputs derived from them by a
 * seeded, deterministic mutator (bit flips, byte inserts and deletes,
 * splices of two seeds, truncation, protocol-shaped tokens such as CRLF
 * and ".") are fed too. The run is bounded by N, so it always ends, and
 * the same seed gives the same inputs, so a failure replays exactly.
 * A crash or sanitizer report fails the test; rerun with the same
 * --seed under a debugger, or promote the input to the seed directory.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct corpus {
	uint8_t **data;
	size_t *len;
	size_t n, cap;
};

static void
corpus_add(struct corpus *c, uint8_t *d, size_t len)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->data = realloc(c->data, c->cap * sizeof(*c->data));
		c->len = realloc(c->len, c->cap * sizeof(*c->len));
		if (c->data == NULL || c->len == NULL) {
			perror("replay: realloc");
			exit(2);
		}
	}
	c->data[c->n] = d;
	c->len[c->n++] = len;
}

static int
read_file(const char *path, struct corpus *c)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			if (buf == NULL) {
				perror("replay: realloc");
				exit(2);
			}
		}
		n = fread(buf + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	corpus_add(c, buf, len);
	return 0;
}

static int
load_path(const char *path, struct corpus *c)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	char sub[4096];
	int rc = 0;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return read_file(path, c);
	d = opendir(path);
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (stat(sub, &st) == 0 && S_ISREG(st.st_mode))
			rc |= read_file(sub, c);
	}
	closedir(d);
	return rc;
}

/* xorshift64*: deterministic and good enough to pick mutations. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static const char *const tokens[] = {
	"\r\n", "\n", "\r", ".", "\r\n.\r\n", "\n.\n", ":", " ", "\t", "<", ">",
	"@", "=", "\0", "\xff", "\xc3\xa9", "0", "4294967296", "-1", "\r\n\r\n",
	";", "\"", "\\", "[", "]",
};

static size_t
mutate(uint64_t *s, const struct corpus *c, uint8_t *out, size_t max)
{
	size_t k = rnd(s) % c->n, len = c->len[k] < max ? c->len[k] : max;
	unsigned rounds = 1 + rnd(s) % 8;

	memcpy(out, c->data[k], len);
	for (unsigned r = 0; r < rounds; r++) {
		size_t pos = len ? rnd(s) % (len + 1) : 0;

		switch (rnd(s) % 6) {
		case 0: /* flip a bit */
			if (len)
				out[pos % len] ^= (uint8_t)(1u << (rnd(s) % 8));
			break;
		case 1: /* delete a run */
			if (len) {
				size_t n = 1 + rnd(s) % 8, p = pos % len;

				if (n > len - p)
					n = len - p;
				memmove(out + p, out + p + n, len - p - n);
				len -= n;
			}
			break;
		case 2: { /* insert a token */
			const char *t = tokens[rnd(s) % (sizeof(tokens) / sizeof(tokens[0]))];
			size_t n = strlen(t) ? strlen(t) : 1;

			if (len + n <= max) {
				memmove(out + pos + n, out + pos, len - pos);
				memcpy(out + pos, t, n);
				len += n;
			}
			break;
		}
		case 3: /* splice the tail of another input */
		{
			size_t o = rnd(s) % c->n, from = c->len[o] ? rnd(s) % c->len[o] : 0;
			size_t n = c->len[o] - from;

			if (pos + n > max)
				n = max - pos;
			memcpy(out + pos, c->data[o] + from, n);
			len = pos + n;
			break;
		}
		case 4: /* truncate */
			len = pos;
			break;
		default: /* random byte */
			if (len)
				out[pos % len] = (uint8_t)rnd(s);
			break;
		}
	}
	return len;
}

int
main(int argc, char **argv)
{
	struct corpus c = { 0 };
	unsigned long n_mut = 0, seed = 1, max_len = 65536;
	uint8_t *buf;
	uint64_t s;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--mutate") == 0 && i + 1 < argc)
			n_mut = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--max-len") == 0 && i + 1 < argc)
			max_len = strtoul(argv[++i], NULL, 10);
		else if (load_path(argv[i], &c) != 0)
			return 2;
	}
	if (c.n == 0) {
		fprintf(stderr, "replay: no inputs (seed corpus missing?)\n");
		return 2;
	}
	for (size_t k = 0; k < c.n; k++)
		LLVMFuzzerTestOneInput(c.data[k], c.len[k]);
	buf = malloc(max_len ? max_len : 1);
	if (buf == NULL)
		return 2;
	s = seed * 0x9e3779b97f4a7c15ULL + 1;
	for (unsigned long m = 0; m < n_mut; m++) {
		size_t len = mutate(&s, &c, buf, max_len);

		LLVMFuzzerTestOneInput(buf, len);
	}
	printf("replay: %zu seed inputs, %lu mutated inputs, seed %lu: ok\n",
			c.n, n_mut, seed);
	free(buf);
	for (size_t k = 0; k < c.n; k++)
		free(c.data[k]);
	free(c.data);
	free(c.len);
	return 0;
}
