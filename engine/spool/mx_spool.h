/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_spool: the embedded delivery when no downstream MTA is configured:
 * one file per message in a local directory, written, fsynced and renamed
 * into place on the I/O thread before the client gets its 250 (group
 * commit: one directory fsync per batch).
 *
 * Layout (Maildir-like, so a crash never leaves a half file visible):
 *   DIR/tmp/ID   being written; removed at start-up (never acknowledged)
 *   DIR/new/ID   complete and durable
 * File format, documented for the tools that read it:
 *   "mxedge-spool 1\n", then "key: value\n" lines (id, received, client,
 *   helo, mail-from, one rcpt line per recipient, size), an empty line,
 *   then exactly `size` bytes: the prepended header fields followed by the
 *   message as received (CRLF line ends, dot-unstuffed).
 */
#ifndef MX_SPOOL_H
#define MX_SPOOL_H

struct mx_spool;
struct mx_io;
struct mx_io_port;
struct mx_deliver;
struct mx_stats;

/* Creates DIR/tmp and DIR/new if missing, checks that they are writable,
 * removes leftovers in DIR/tmp. Returns 0 or -errno. */
int mx_spool_create(const char *dir, struct mx_io *io, struct mx_spool **out);
void mx_spool_free(struct mx_spool *sp);
/* The per-worker delivery handle (mx_deliver.h) that writes through port.
 * Returns 0 or -ENOMEM. */
int mx_spool_deliver_create(struct mx_spool *sp, struct mx_io_port *port,
		struct mx_stats *stats, struct mx_deliver **out);
void mx_spool_deliver_free(struct mx_deliver *d);

#endif /* MX_SPOOL_H */
