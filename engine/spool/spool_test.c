/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spool_test: the spool delivery end to end on a real worker loop (the
 * kernel transport's) and the real I/O thread, into a temporary
 * directory. Every file is parsed back and compared byte for byte with
 * what was submitted; failures (rename impossible, id already in tmp/,
 * queue full) must give 451 and leave nothing in tmp/; a detached
 * delivery completes without calling back; leftovers in tmp/ are removed
 * at create. Every wait is bounded.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "mx_base.h"
#include "mx_deliver.h"
#include "mx_io.h"
#include "mx_metrics.h"
#include "mx_msg.h"
#include "mx_spool.h"
#include "mx_stream.h"

#define DEADLINE_MS 30000u
#define N_MSGS 200u

struct env {
	char dir[64];
	struct mx_metrics *metrics;
	struct mx_stats *stats;
	struct mx_loop *loop;
	struct mx_io *io;
	struct mx_io_port *port;
	struct mx_chunk_pool *pool;
	struct mx_spool *spool;
	struct mx_deliver *d;
};

struct result {
	bool called;
	bool in_submit;
	int code;
	char text[256];
	char via[16];
};

static bool submitting;

static void
done_cb(void *arg, const struct mx_deliver_result *res)
{
	struct result *r = arg;

	r->in_submit = submitting;
	r->called = true;
	r->code = res->code;
	snprintf(r->text, sizeof(r->text), "%s", res->text);
	snprintf(r->via, sizeof(r->via), "%s", res->via);
}

static uint64_t
stat_get(struct env *e, enum mx_stat k)
{
	return atomic_load(&e->stats->v[k]);
}

static int
env_open(struct env *e, unsigned depth)
{
	struct mx_loop_conf lc = {
		.transport = MX_TRANSPORT_KERNEL,
		.max_streams = 4,
		.rcvbuf_bytes = 4096,
		.sndbuf_bytes = 4096,
	};

	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "/tmp/mx-spool-test-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	assert_int_equal(mx_metrics_create(1, &e->metrics), 0);
	e->stats = mx_metrics_stats(e->metrics, 0);
	assert_int_equal(mx_loop_create(&lc, &e->loop), 0);
	assert_int_equal(mx_io_create(&e->io), 0);
	assert_int_equal(mx_io_port_create(e->io, e->loop, depth, &e->port), 0);
	assert_int_equal(mx_chunk_pool_create(16384, 256u << 20, &e->pool), 0);
	assert_int_equal(mx_spool_create(e->dir, e->io, &e->spool), 0);
	assert_int_equal(mx_spool_deliver_create(e->spool, e->port, e->stats, &e->d), 0);
	return 0;
}

static void
rm_tree(const char *dir)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void
env_close(struct env *e)
{
	assert_int_equal(mx_chunk_pool_bytes_in_use(e->pool), 0);
	mx_spool_deliver_free(e->d);
	mx_loop_free(e->loop);
	mx_io_free(e->io);
	mx_spool_free(e->spool);
	mx_chunk_pool_free(e->pool);
	mx_metrics_free(e->metrics);
	rm_tree(e->dir);
}

static void
pump_idle(struct env *e)
{
	uint64_t end = mx_clock_ms() + DEADLINE_MS;

	while (mx_io_in_flight(e->port) != 0 && mx_clock_ms() < end)
		mx_loop_run_once(e->loop, 100);
	assert_int_equal(mx_io_in_flight(e->port), 0);
}

static unsigned
count_dir(const char *dir, const char *sub)
{
	char path[128];
	struct dirent *de;
	unsigned n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static uint8_t *
read_file(const char *path, size_t *len)
{
	uint8_t *buf;
	struct stat st;
	FILE *f;

	f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	assert_int_equal(fstat(fileno(f), &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)st.st_size, f), (size_t)st.st_size);
	buf[st.st_size] = '\0';
	fclose(f);
	*len = (size_t)st.st_size;
	return buf;
}

/* The deterministic test message i: envelope and bytes. */
struct tmsg {
	char id[MX_MSG_ID_SIZE];
	char helo[64], helo_esc[128];
	char from[64], from_esc[128];
	unsigned n_rcpts;
	char rcpt[3][64], rcpt_esc[3][128];
	char prepend[128];
	uint8_t *body;
	size_t body_len;
	struct result res;
};

static size_t
body_size(unsigned i)
{
	static const size_t sizes[] = { 0, 1, 2, 100, 16383, 16384, 16385, 70000, 200000 };

	if (i < MX_ARRAY_SIZE(sizes))
		return sizes[i];
	return (i * 7919u) % 40000u;
}

static void
tmsg_init(struct tmsg *t, unsigned i)
{
	size_t k;

	memset(t, 0, sizeof(*t));
	if (i % 10 == 3) {
		/* A HELO that tries to start a line of its own. */
		snprintf(t->helo, sizeof(t->helo), "evil%u\r\nrcpt: injected@x", i);
		snprintf(t->helo_esc, sizeof(t->helo_esc), "evil%u\\x0d\\x0arcpt: injected@x", i);
	} else {
		snprintf(t->helo, sizeof(t->helo), "client%u.example", i);
		snprintf(t->helo_esc, sizeof(t->helo_esc), "client%u.example", i);
	}
	if (i % 7 == 0) {
		t->from[0] = '\0'; /* null sender */
	} else if (i % 7 == 1) {
		snprintf(t->from, sizeof(t->from), "\"a\\\\b\"@ex\xc3\xa9.org");
		snprintf(t->from_esc, sizeof(t->from_esc), "\"a\\\\\\\\b\"@ex\\xc3\\xa9.org");
	} else {
		snprintf(t->from, sizeof(t->from), "sender%u@example.net", i);
	}
	if (t->from_esc[0] == '\0')
		snprintf(t->from_esc, sizeof(t->from_esc), "%s", t->from);
	t->n_rcpts = 1 + i % 3;
	for (k = 0; k < t->n_rcpts; k++) {
		snprintf(t->rcpt[k], sizeof(t->rcpt[k]), "r%zu-%u@example.org", k, i);
		snprintf(t->rcpt_esc[k], sizeof(t->rcpt_esc[k]), "%s", t->rcpt[k]);
	}
	snprintf(t->prepend, sizeof(t->prepend),
			"Received: from test\r\n\tby mx.test; id %u\r\n", i);
	t->body_len = body_size(i);
	t->body = malloc(t->body_len + 1);
	assert_non_null(t->body);
	for (k = 0; k < t->body_len; k++)
		t->body[k] = (uint8_t)("Subject: x\r\n\r\nline\r\n"[k % 20] + (k / 20 == 7 ? 1 : 0));
}

static struct mx_msg *
tmsg_build(struct env *e, struct tmsg *t)
{
	struct mx_msg *m;
	size_t k;

	assert_int_equal(mx_msg_create(e->pool, 100, 1000, &m), 0);
	memcpy(t->id, m->id, sizeof(t->id));
	assert_int_equal(mx_addr_parse("127.0.0.1:2525", -1, &m->client), 0);
	assert_int_equal(mx_msg_set_helo(m, (struct mx_str){ strlen(t->helo), t->helo }), 0);
	assert_int_equal(mx_msg_set_mail(m, (struct mx_str){ strlen(t->from), t->from },
			MX_STR("")), 0);
	for (k = 0; k < t->n_rcpts; k++)
		assert_int_equal(mx_msg_add_rcpt(m,
				(struct mx_str){ strlen(t->rcpt[k]), t->rcpt[k] }, MX_STR("")), 0);
	for (k = 0; k < t->body_len; k += 5000)
		assert_int_equal(mx_msg_append(m, t->body + k, MX_MIN((size_t)5000,
				t->body_len - k)), 0);
	mx_msg_finish(m);
	assert_int_equal(mx_msg_prepend(m, t->prepend, strlen(t->prepend)), 0);
	return m;
}

/* Next "key: value\n" line at *p; returns the value (NUL-terminated in
 * place) after checking the key. */
static char *
next_field(char **p, const char *key)
{
	char *line = *p, *nl = strchr(line, '\n');
	size_t kl = strlen(key);

	assert_non_null(nl);
	*nl = '\0';
	*p = nl + 1;
	if (strncmp(line, key, kl) != 0 || strncmp(line + kl, ": ", 2) != 0)
		fail_msg("expected key %s, got line '%s'", key, line);
	return line + kl + 2;
}

static void
check_file(struct env *e, struct tmsg *t)
{
	char path[160], size_str[32], *p, *v;
	uint8_t *buf;
	size_t len, hdr_len, size;
	unsigned k;

	snprintf(path, sizeof(path), "%s/new/%s", e->dir, t->id);
	buf = read_file(path, &len);
	assert_non_null(buf);
	p = (char *)buf;
	assert_memory_equal(p, "mxedge-spool 1\n", 15);
	p += 15;
	assert_string_equal(next_field(&p, "id"), t->id);
	v = next_field(&p, "received");
	assert_int_equal(strlen(v), 24); /* 2026-11-22T21:29:13.123Z */
	assert_int_equal(v[23], 'Z');
	assert_string_equal(next_field(&p, "client"), "127.0.0.1:2525");
	assert_string_equal(next_field(&p, "helo"), t->helo_esc);
	assert_string_equal(next_field(&p, "mail-from"), t->from_esc);
	for (k = 0; k < t->n_rcpts; k++)
		assert_string_equal(next_field(&p, "rcpt"), t->rcpt_esc[k]);
	size = strlen(t->prepend) + t->body_len;
	snprintf(size_str, sizeof(size_str), "%zu", size);
	assert_string_equal(next_field(&p, "size"), size_str);
	assert_int_equal(*p, '\n');
	p++;
	hdr_len = (size_t)(p - (char *)buf);
	assert_int_equal(len, hdr_len + size);
	assert_memory_equal(p, t->prepend, strlen(t->prepend));
	if (t->body_len > 0)
		assert_memory_equal(p + strlen(t->prepend), t->body, t->body_len);
	free(buf);
}

static void
test_deliver_many(void **state)
{
	struct tmsg *t;
	struct env e;
	uint64_t handle;
	unsigned i;
	char exp[64];

	(void)state;
	env_open(&e, 64);
	t = calloc(N_MSGS, sizeof(*t));
	assert_non_null(t);
	for (i = 0; i < N_MSGS; i++) {
		tmsg_init(&t[i], i);
		/* More than depth at once: some are answered 451 "queue full"
		 * unless we pump; keep at most depth in flight. */
		while (mx_io_in_flight(e.port) >= 64)
			mx_loop_run_once(e.loop, 100);
		submitting = true;
		assert_int_equal(mx_deliver_submit(e.d, tmsg_build(&e, &t[i]), done_cb,
				&t[i].res, &handle), 0);
		submitting = false;
	}
	pump_idle(&e);
	for (i = 0; i < N_MSGS; i++) {
		assert_true(t[i].res.called);
		assert_false(t[i].res.in_submit);
		assert_int_equal(t[i].res.code, 250);
		snprintf(exp, sizeof(exp), "2.0.0 Ok: queued as %s", t[i].id);
		assert_string_equal(t[i].res.text, exp);
		assert_string_equal(t[i].res.via, "spool");
		check_file(&e, &t[i]);
	}
	assert_int_equal(count_dir(e.dir, "new"), N_MSGS);
	assert_int_equal(count_dir(e.dir, "tmp"), 0);
	assert_int_equal(stat_get(&e, MX_STAT_SPOOL_OK), N_MSGS);
	assert_int_equal(stat_get(&e, MX_STAT_SPOOL_FAIL), 0);
	assert_int_equal(atomic_load(&e.stats->histo[MX_HISTO_SPOOL].count), N_MSGS);
	for (i = 0; i < N_MSGS; i++)
		free(t[i].body);
	free(t);
	env_close(&e);
}

/* new/ is gone after create: rename fails, the client gets 451, the
 * file does not stay in tmp/. */
static void
test_rename_failure(void **state)
{
	struct env e;
	struct tmsg t;
	char path[128];
	uint64_t handle;

	(void)state;
	env_open(&e, 8);
	snprintf(path, sizeof(path), "%s/new", e.dir);
	assert_int_equal(rmdir(path), 0);
	tmsg_init(&t, 5);
	assert_int_equal(mx_deliver_submit(e.d, tmsg_build(&e, &t), done_cb, &t.res, &handle), 0);
	pump_idle(&e);
	assert_true(t.res.called);
	assert_int_equal(t.res.code, 451);
	assert_string_equal(t.res.text, "4.3.0 Temporary spool failure");
	assert_int_equal(count_dir(e.dir, "tmp"), 0);
	assert_int_equal(stat_get(&e, MX_STAT_SPOOL_FAIL), 1);
	assert_int_equal(stat_get(&e, MX_STAT_SPOOL_OK), 0);
	free(t.body);
	env_close(&e);
}

/* The id is already taken in tmp/ (O_EXCL): 451, and the file that was
 * there is not ours to remove. */
static void
test_open_failure(void **state)
{
	struct env e;
	struct tmsg t;
	struct mx_msg *m;
	char path[160];
	uint64_t handle;
	int fd;

	(void)state;
	env_open(&e, 8);
	tmsg_init(&t, 6);
	m = tmsg_build(&e, &t);
	snprintf(path, sizeof(path), "%s/tmp/%s", e.dir, t.id);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(mx_deliver_submit(e.d, m, done_cb, &t.res, &handle), 0);
	pump_idle(&e);
	assert_int_equal(t.res.code, 451);
	assert_int_equal(count_dir(e.dir, "tmp"), 1);
	assert_int_equal(count_dir(e.dir, "new"), 0);
	free(t.body);
	env_close(&e);
}

/* Detached: no callback, the message still lands, the msg is released. */
static void
test_detach(void **state)
{
	struct env e;
	struct tmsg t[2];
	uint64_t h0, h1;

	(void)state;
	env_open(&e, 8);
	tmsg_init(&t[0], 10);
	tmsg_init(&t[1], 11);
	assert_int_equal(mx_deliver_submit(e.d, tmsg_build(&e, &t[0]), done_cb, &t[0].res, &h0), 0);
	assert_int_equal(mx_deliver_submit(e.d, tmsg_build(&e, &t[1]), done_cb, &t[1].res, &h1), 0);
	assert_true(h0 != h1);
	mx_deliver_detach(e.d, h0);
	mx_deliver_detach(e.d, 999999); /* unknown: ignored */
	pump_idle(&e);
	assert_false(t[0].res.called);
	assert_true(t[1].res.called);
	assert_int_equal(t[1].res.code, 250);
	check_file(&e, &t[0]);
	check_file(&e, &t[1]);
	/* Detaching a finished delivery is harmless. */
	mx_deliver_detach(e.d, h1);
	assert_int_equal(stat_get(&e, MX_STAT_SPOOL_OK), 2);
	free(t[0].body);
	free(t[1].body);
	env_close(&e);
}

/* Queue full (depth 1): the second and third get 451 on a later loop
 * pass, never from inside submit; the first still gets its 250. */
static void
test_queue_full(void **state)
{
	struct env e;
	struct tmsg t[3];
	uint64_t h;
	unsigned i;

	(void)state;
	env_open(&e, 1);
	for (i = 0; i < 3; i++) {
		tmsg_init(&t[i], 20 + i);
		submitting = true;
		assert_int_equal(mx_deliver_submit(e.d, tmsg_build(&e, &t[i]), done_cb,
				&t[i].res, &h), 0);
		submitting = false;
		assert_false(t[i].res.called);
	}
	pump_idle(&e);
	assert_int_equal(t[0].res.code, 250);
	assert_int_equal(t[1].res.code, 451);
	assert_int_equal(t[2].res.code, 451);
	for (i = 0; i < 3; i++)
		assert_false(t[i].res.in_submit);
	assert_int_equal(count_dir(e.dir, "new"), 1);
	assert_int_equal(count_dir(e.dir, "tmp"), 0);
	assert_int_equal(stat_get(&e, MX_STAT_SPOOL_FAIL), 2);
	for (i = 0; i < 3; i++)
		free(t[i].body);
	env_close(&e);
}

/* A crash leaves files in tmp/: create removes them, new/ is kept. */
static void
test_create_cleans_tmp(void **state)
{
	char dir[64], path[128];
	struct mx_spool *sp;
	struct mx_io *io;
	int fd;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/mx-spool-test-XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(mx_io_create(&io), 0);
	assert_int_equal(mx_spool_create(dir, io, &sp), 0);
	mx_spool_free(sp);
	snprintf(path, sizeof(path), "%s/tmp/LEFTOVER", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "half", 4), 4);
	close(fd);
	snprintf(path, sizeof(path), "%s/new/DONE", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(mx_spool_create(dir, io, &sp), 0);
	assert_int_equal(count_dir(dir, "tmp"), 0);
	assert_int_equal(count_dir(dir, "new"), 1);
	mx_spool_free(sp);

	/* A path that is a file, not a directory. */
	snprintf(path, sizeof(path), "%s/new/DONE", dir);
	assert_true(mx_spool_create(path, io, &sp) < 0);
	/* A spool dir whose new/ is a file. */
	snprintf(path, sizeof(path), "%s/bad", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/bad/new", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/bad", dir);
	assert_int_equal(mx_spool_create(path, io, &sp), -ENOTDIR);
	mx_io_free(io);
	rm_tree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deliver_many),
		cmocka_unit_test(test_rename_failure),
		cmocka_unit_test(test_open_failure),
		cmocka_unit_test(test_detach),
		cmocka_unit_test(test_queue_full),
		cmocka_unit_test(test_create_cleans_tmp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
