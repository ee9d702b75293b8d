/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_vlog: the verdict log: one JSON object per line per transaction
 * (DESIGN "Verdicts" lists the fields). Workers hand finished lines to the
 * I/O thread through their port; the I/O thread appends them to the file
 * in batches, so lines never interleave and a worker never blocks. When a
 * worker's queue is full the line is counted in MX_STAT_VLOG_DROPPED and
 * dropped: the verdict log must not be able to stall mail.
 */
#ifndef MX_VLOG_H
#define MX_VLOG_H

#include <stddef.h>

struct mx_vlog;
struct mx_vlog_port;
struct mx_io;
struct mx_io_port;
struct mx_stats;

/* path "-" is stdout. Opens for append. Returns 0 or -errno. */
int mx_vlog_open(const char *path, struct mx_io *io, struct mx_vlog **out);
/* After mx_io_free(): writes what the ports still hold, closes, frees the
 * ports too. */
void mx_vlog_free(struct mx_vlog *v);
/* Reopens the file (after logrotate; SIGHUP). Any thread. */
int mx_vlog_reopen(struct mx_vlog *v);
/* Per worker. Returns 0 or -ENOMEM. */
int mx_vlog_port_create(struct mx_vlog *v, struct mx_io_port *port,
		struct mx_stats *stats, struct mx_vlog_port **out);
/* Worker thread: queues one line (without the newline; it is added).
 * Returns 0 or -EAGAIN (counted and dropped). */
int mx_vlog_write(struct mx_vlog_port *vp, const char *line, size_t len);

#endif /* MX_VLOG_H */
