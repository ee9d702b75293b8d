/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spool.c: the local spool delivery (contract in mx_spool.h and
 * mx_deliver.h). A message is acknowledged with 250 only after its file
 * is complete, fdatasync'ed, renamed into new/ and new/ itself fsync'ed.
 *
 * File format (version 1), for the tools that read the spool:
 *
 *   mxedge-spool 1\n
 *   id: <queue id>\n
 *   received: <UTC time the delivery was submitted, ISO 8601 with ms>\n
 *   client: <ip:port, [ip6]:port for IPv6>\n
 *   helo: <HELO/EHLO argument>\n
 *   mail-from: <reverse-path without brackets; empty for the null sender>\n
 *   rcpt: <forward-path without brackets>\n      (one line per recipient)
 *   size: <decimal byte count of what follows the empty line>\n
 *   \n
 *   <size bytes: the prepended header fields, then the message as
 *    received: CRLF line ends, dot-unstuffed>
 *
 * Values come from the peer, so they are escaped the way mx_printable()
 * escapes (without its truncation): printable ASCII stays, a backslash is
 * written "\\", every other byte (CR, LF, controls, 8-bit/UTF-8) as
 * "\xHH". A value can therefore never start a new line or a new key, and
 * the original bytes are recoverable.
 *
 * Threads. submit, detach and done run on the worker; the job lives in the
 * msg's own arena (no allocation per message), and from submit to done
 * the worker does not touch the msg, so the I/O thread may read it. run
 * (open tmp/ID O_EXCL, one writev stream straight from the msg's chunks,
 * fdatasync, close) and batch_end (rename each into new/, then one fsync
 * of new/ per spool for the whole batch: group commit) run on the I/O
 * thread. Any failure removes the file and gives -errno, which the worker
 * turns into 451 4.3.0: the client retries; never a 250 for a message
 * that is not durable. A queue full at submit (-EAGAIN) is answered the
 * same way through mx_io_complete_later(), so done() never runs inside
 * submit.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mx_base.h"
#include "mx_deliver.h"
#include "mx_io.h"
#include "mx_log.h"
#include "mx_metrics.h"
#include "mx_msg.h"
#include "mx_spool.h"

#define SPOOL_MAGIC "mxedge-spool 1\n"
#define SPOOL_IOV 64
#define SPOOL_MODE 0640
#define SPOOL_DIR_MODE 0750

struct mx_spool {
	char *dir;
	int tmp_fd;
	int new_fd;
	struct mx_io *io;
	/* I/O thread only: the preamble of the job being written. */
	char *pre;
	size_t pre_cap;
};

struct spool_deliver {
	struct mx_deliver pub;
	struct mx_spool *sp;
	struct mx_io_port *port;
	struct mx_stats *stats;
	struct spool_job *live;   /* submitted, done not run yet */
	uint64_t next_handle;
};

struct spool_job {
	struct mx_io_job io;      /* first: the I/O layer hands it back */
	struct mx_spool *sp;
	struct spool_deliver *d;
	struct mx_msg *m;
	mx_deliver_done_fn *done;
	void *arg;
	uint64_t handle;
	uint64_t t0_us;
	uint64_t received_ms;
	struct spool_job *prev, *next; /* d->live */
	bool detached;
	bool ran;                 /* went through the I/O thread */
	bool renamed;             /* I/O thread: the file is in new/ */
};

static const char *
err_str(int e)
{
	const char *s = strerrordesc_np(e);

	return s != NULL ? s : "unknown error";
}

/* --- preamble (I/O thread) ---------------------------------------------- */

static size_t
esc_bound(struct mx_str s)
{
	return s.len * 4;
}

static const char esc_hex[] = "0123456789abcdef";

/* mx_printable()'s escaping without truncation: dst holds 4 * len. */
static size_t
esc_copy(char *dst, struct mx_str s)
{
	size_t i, o = 0;
	uint8_t c;

	for (i = 0; i < s.len; i++) {
		c = (uint8_t)s.p[i];
		if (c == '\\') {
			dst[o++] = '\\';
			dst[o++] = '\\';
		} else if (c >= 0x20 && c < 0x7f) {
			dst[o++] = (char)c;
		} else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = esc_hex[c >> 4];
			dst[o++] = esc_hex[c & 15];
		}
	}
	return o;
}

static size_t
put_lit(char *dst, const char *lit)
{
	size_t n = strlen(lit);

	memcpy(dst, lit, n);
	return n;
}

static size_t
put_field(char *dst, const char *key, struct mx_str v)
{
	size_t o = put_lit(dst, key);

	o += esc_copy(dst + o, v);
	dst[o++] = '\n';
	return o;
}

/* Builds the preamble into sp->pre; returns its length or 0 on -ENOMEM. */
static size_t
preamble_build(struct spool_job *j)
{
	struct mx_spool *sp = j->sp;
	const struct mx_msg *m = j->m;
	char client[64], when[40];
	size_t need, o = 0;
	unsigned i;
	char *p;

	need = 256 + esc_bound(m->helo) + esc_bound(m->mail_from);
	for (i = 0; i < m->n_rcpts; i++)
		need += 8 + esc_bound(m->rcpts[i].addr);
	if (need > sp->pre_cap) {
		p = realloc(sp->pre, need);
		if (p == NULL)
			return 0;
		sp->pre = p;
		sp->pre_cap = need;
	}
	p = sp->pre;
	if (m->client.family == AF_INET || m->client.family == AF_INET6)
		mx_addr_format(&m->client, true, client, sizeof(client));
	else
		snprintf(client, sizeof(client), "unknown");
	mx_iso8601_ms(when, sizeof(when), j->received_ms);
	o += put_lit(p + o, SPOOL_MAGIC);
	o += (size_t)snprintf(p + o, need - o, "id: %s\nreceived: %s\nclient: %s\n",
			m->id, when, client);
	o += put_field(p + o, "helo: ", m->helo);
	o += put_field(p + o, "mail-from: ", m->mail_from);
	for (i = 0; i < m->n_rcpts; i++)
		o += put_field(p + o, "rcpt: ", m->rcpts[i].addr);
	o += (size_t)snprintf(p + o, need - o, "size: %zu\n\n", m->prepend.len + m->size);
	return o;
}

/* --- writing (I/O thread) ------------------------------------------------ */

/* Preamble, prepend block and message chunks, zero-copy. */
static int
write_msg(int fd, const char *pre, size_t pre_len, const struct mx_msg *m)
{
	struct iovec iov[SPOOL_IOV];
	const uint8_t *p;
	size_t off = 0, k;
	int n = 0, rc;

	iov[n++] = (struct iovec){ (void *)(uintptr_t)pre, pre_len };
	iov[n++] = (struct iovec){ (void *)(uintptr_t)m->prepend.p, m->prepend.len };
	for (;;) {
		while (n < SPOOL_IOV && (k = mx_msg_view(m, off, &p)) > 0) {
			iov[n++] = (struct iovec){ (void *)(uintptr_t)p, k };
			off += k;
		}
		rc = mx_io_write_all(fd, iov, n);
		if (rc != 0 || off >= m->size)
			return rc;
		n = 0;
	}
}

static void
job_fail(struct spool_job *j, const char *call, int rc)
{
	MX_LOG_RL(MX_LOG_ERR, "spool", "%s: %s for %s: %s; the client gets 451",
			j->sp->dir, call, j->m->id, err_str(-rc));
	j->io.rc = rc;
}

static void
spool_run(struct mx_io_job *io)
{
	struct spool_job *j = (struct spool_job *)io;
	struct mx_spool *sp = j->sp;
	const char *call;
	size_t pre_len;
	int fd, rc;

	j->ran = true;
	pre_len = preamble_build(j);
	if (pre_len == 0) {
		job_fail(j, "preamble", -ENOMEM);
		return;
	}
	fd = openat(sp->tmp_fd, j->m->id, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, SPOOL_MODE);
	if (fd < 0) {
		job_fail(j, "open in tmp/", -errno);
		return;
	}
	call = "write in tmp/";
	rc = write_msg(fd, sp->pre, pre_len, j->m);
	if (rc == 0) {
		call = "fdatasync in tmp/";
		rc = fdatasync(fd) < 0 ? -errno : 0;
	}
	/* close() can report a delayed write error: it counts. */
	if (close(fd) < 0 && rc == 0) {
		call = "close in tmp/";
		rc = -errno;
	}
	if (rc != 0) {
		unlinkat(sp->tmp_fd, j->m->id, 0);
		job_fail(j, call, rc);
		return;
	}
	io->rc = 0;
}

static bool
spool_seen_before(struct mx_io_job **jobs, unsigned i)
{
	struct spool_job *j = (struct spool_job *)jobs[i];
	unsigned k;

	for (k = 0; k < i; k++)
		if (((struct spool_job *)jobs[k])->sp == j->sp)
			return true;
	return false;
}

/* One fsync of new/ for every job of sp that was renamed in this batch. */
static void
spool_commit(struct mx_io_job **jobs, unsigned n, struct mx_spool *sp)
{
	struct spool_job *j;
	unsigned i;
	int rc;

	rc = fsync(sp->new_fd) < 0 ? -errno : 0;
	if (rc == 0)
		return;
	for (i = 0; i < n; i++) {
		j = (struct spool_job *)jobs[i];
		if (j->sp != sp || !j->renamed)
			continue;
		/* Not known to be durable: take it back rather than leave a
		 * file the client was told to retry (a duplicate). */
		unlinkat(sp->new_fd, j->m->id, 0);
		job_fail(j, "fsync of new/", rc);
	}
}

/* rename(2) would silently replace a file of the same name in new/:
 * never overwrite a message already acknowledged. */
static int
move_to_new(struct spool_job *j)
{
	struct mx_spool *sp = j->sp;

	if (renameat2(sp->tmp_fd, j->m->id, sp->new_fd, j->m->id, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL)
		return -1;
	/* A file system without RENAME_NOREPLACE. */
	return renameat(sp->tmp_fd, j->m->id, sp->new_fd, j->m->id);
}

static void
spool_batch_end(struct mx_io_job **jobs, unsigned n)
{
	struct spool_job *j;
	unsigned i;

	for (i = 0; i < n; i++) {
		j = (struct spool_job *)jobs[i];
		if (j->io.rc != 0)
			continue;
		if (move_to_new(j) < 0) {
			int rc = -errno;

			unlinkat(j->sp->tmp_fd, j->m->id, 0);
			job_fail(j, "rename into new/", rc);
			continue;
		}
		j->renamed = true;
	}
	for (i = 0; i < n; i++) {
		j = (struct spool_job *)jobs[i];
		if (j->renamed && !spool_seen_before(jobs, i))
			spool_commit(jobs, n, j->sp);
	}
}

/* --- worker side --------------------------------------------------------- */

static void
live_unlink(struct spool_deliver *d, struct spool_job *j)
{
	if (j->prev != NULL)
		j->prev->next = j->next;
	else
		d->live = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
}

static void
spool_done(struct mx_io_job *io)
{
	struct spool_job *j = (struct spool_job *)io;
	struct spool_deliver *d = j->d;
	struct mx_deliver_result res = { .via = "spool" };

	res.latency_us = mx_clock_us() - j->t0_us;
	live_unlink(d, j);
	if (io->rc == 0) {
		mx_stat_inc(d->stats, MX_STAT_SPOOL_OK);
		res.code = 250;
		snprintf(res.text, sizeof(res.text), "2.0.0 Ok: queued as %s", j->m->id);
	} else {
		mx_stat_inc(d->stats, MX_STAT_SPOOL_FAIL);
		res.code = 451;
		snprintf(res.text, sizeof(res.text), "4.3.0 Temporary spool failure");
	}
	if (j->ran)
		mx_histo_observe(d->stats, MX_HISTO_SPOOL, res.latency_us);
	if (!j->detached)
		j->done(j->arg, &res);
	/* j lives in the msg's arena: this is the last use of both. */
	mx_msg_release(j->m);
}

static const struct mx_io_job_ops spool_job_ops = {
	.run = spool_run,
	.batch_end = spool_batch_end,
	.done = spool_done,
};

static int
spool_submit(void *impl, struct mx_msg *m, mx_deliver_done_fn *done, void *arg,
		uint64_t *handle)
{
	struct spool_deliver *d = impl;
	struct spool_job *j;
	int rc;

	j = mx_msg_alloc(m, sizeof(*j));
	if (j == NULL) {
		mx_stat_inc(d->stats, MX_STAT_SPOOL_FAIL);
		mx_msg_release(m);
		return -ENOMEM;
	}
	memset(j, 0, sizeof(*j));
	j->io.ops = &spool_job_ops;
	j->sp = d->sp;
	j->d = d;
	j->m = m;
	j->done = done;
	j->arg = arg;
	j->handle = ++d->next_handle;
	j->t0_us = mx_clock_us();
	j->received_ms = mx_wall_ms();
	j->next = d->live;
	if (d->live != NULL)
		d->live->prev = j;
	d->live = j;
	if (handle != NULL)
		*handle = j->handle;
	rc = mx_io_submit(d->port, &j->io);
	if (rc != 0) {
		MX_LOG_RL(MX_LOG_WARN, "spool", "I/O queue full, %s gets 451", m->id);
		mx_io_complete_later(d->port, &j->io, rc);
	}
	return 0;
}

/* The session is gone: the delivery completes on its own, done is not
 * called. An unknown handle (already completed) is ignored. */
static void
spool_detach(void *impl, uint64_t handle)
{
	struct spool_deliver *d = impl;
	struct spool_job *j;

	for (j = d->live; j != NULL; j = j->next) {
		if (j->handle == handle) {
			j->detached = true;
			return;
		}
	}
}

static const struct mx_deliver_ops spool_deliver_ops = {
	.submit = spool_submit,
	.detach = spool_detach,
};

int
mx_spool_deliver_create(struct mx_spool *sp, struct mx_io_port *port,
		struct mx_stats *stats, struct mx_deliver **out)
{
	struct spool_deliver *d;

	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	d->pub.ops = &spool_deliver_ops;
	d->pub.impl = d;
	d->sp = sp;
	d->port = port;
	d->stats = stats;
	*out = &d->pub;
	return 0;
}

void
mx_spool_deliver_free(struct mx_deliver *pub)
{
	struct spool_deliver *d;

	if (pub == NULL)
		return;
	d = pub->impl;
	/* A job still in flight would come back to freed memory: keep d
	 * (a small leak at shutdown) rather than risk that. */
	if (d->live != NULL) {
		MX_LOG(MX_LOG_WARN, "spool", "delivery freed with messages in flight");
		return;
	}
	free(d);
}

/* --- the spool directory ------------------------------------------------- */

static int
open_subdir(int dfd, const char *name, int *out)
{
	int fd;

	if (mkdirat(dfd, name, SPOOL_DIR_MODE) < 0 && errno != EEXIST)
		return -errno;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*out = fd;
	return 0;
}

/* A file left in tmp/ was never acknowledged (crash or kill between open
 * and rename): the client retried or will retry, so it goes. */
static int
clean_tmp(struct mx_spool *sp)
{
	struct dirent *de;
	unsigned n = 0;
	DIR *dir;
	int fd;

	fd = dup(sp->tmp_fd);
	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (dir == NULL) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(sp->tmp_fd, de->d_name, 0) == 0)
			n++;
		else
			MX_LOG(MX_LOG_WARN, "spool", "cannot remove %s/tmp/%s: %s",
					sp->dir, de->d_name, err_str(errno));
	}
	closedir(dir);
	if (n > 0)
		MX_LOG(MX_LOG_NOTICE, "spool", "removed %u unfinished files from %s/tmp",
				n, sp->dir);
	return 0;
}

/* Proves that tmp/ takes a new file and that it can be renamed into
 * new/ (permissions, read-only mounts, a full inode table). */
static int
probe(struct mx_spool *sp)
{
	char name[64];
	int fd, rc = 0;

	snprintf(name, sizeof(name), ".mxedge-probe-%ld", (long)getpid());
	fd = openat(sp->tmp_fd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, SPOOL_MODE);
	if (fd < 0)
		return -errno;
	close(fd);
	if (renameat(sp->tmp_fd, name, sp->new_fd, name) < 0) {
		rc = -errno;
		unlinkat(sp->tmp_fd, name, 0);
		return rc;
	}
	if (unlinkat(sp->new_fd, name, 0) < 0)
		rc = -errno;
	return rc;
}

int
mx_spool_create(const char *dir, struct mx_io *io, struct mx_spool **out)
{
	struct mx_spool *sp;
	int dfd = -1, rc;

	sp = calloc(1, sizeof(*sp));
	if (sp == NULL)
		return -ENOMEM;
	sp->tmp_fd = -1;
	sp->new_fd = -1;
	sp->io = io;
	sp->dir = strdup(dir);
	rc = sp->dir == NULL ? -ENOMEM : 0;
	if (rc == 0 && mkdir(dir, SPOOL_DIR_MODE) < 0 && errno != EEXIST)
		rc = -errno;
	if (rc == 0) {
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			rc = -errno;
	}
	if (rc == 0)
		rc = open_subdir(dfd, "tmp", &sp->tmp_fd);
	if (rc == 0)
		rc = open_subdir(dfd, "new", &sp->new_fd);
	/* The subdirectories themselves must survive a crash. */
	if (rc == 0 && fsync(dfd) < 0)
		rc = -errno;
	if (rc == 0)
		rc = clean_tmp(sp);
	if (rc == 0)
		rc = probe(sp);
	if (dfd >= 0)
		close(dfd);
	if (rc != 0) {
		mx_spool_free(sp);
		return rc;
	}
	*out = sp;
	return 0;
}

void
mx_spool_free(struct mx_spool *sp)
{
	if (sp == NULL)
		return;
	if (sp->tmp_fd >= 0)
		close(sp->tmp_fd);
	if (sp->new_fd >= 0)
		close(sp->new_fd);
	free(sp->pre);
	free(sp->dir);
	free(sp);
}
