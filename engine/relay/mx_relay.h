/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_relay: the SMTP client to the downstream MTA, one per worker, over
 * the stream API (so it runs on either transport). It keeps a pool of
 * persistent connections (EHLO once, then one transaction after another;
 * RSET after a failed one), pipelines MAIL/RCPT/DATA when the downstream
 * offers PIPELINING, dot-stuffs on the way out, and reports the
 * downstream's reply through mx_deliver (mx_deliver.h).
 *
 * Outcomes: every recipient and the data accepted -> 250 to our client;
 * any recipient refused -> the downstream transaction is abandoned (RSET),
 * nothing is delivered, and our client gets a 4yz (or a 5yz when every
 * refusal was permanent), so one client transaction is delivered whole or
 * not at all and never turns into two; connection failures, timeouts and
 * 4yz -> 451 4.4.x; 5yz to the data -> the downstream's 5yz.
 */
#ifndef MX_RELAY_H
#define MX_RELAY_H

struct mx_relay;
struct mx_loop;
struct mx_conf;
struct mx_stats;
struct mx_deliver;

/* Returns 0 or -errno. conf is read at create and on mx_relay_set_conf;
 * the relay keeps no pointer into it past those calls except via a ref it
 * takes itself. */
int mx_relay_create(struct mx_loop *loop, struct mx_conf *conf,
		struct mx_stats *stats, struct mx_relay **out);
/* New submissions use the new downstream and timeouts; pooled connections
 * to an old downstream are closed when idle. */
void mx_relay_set_conf(struct mx_relay *r, struct mx_conf *conf);
struct mx_deliver *mx_relay_deliver(struct mx_relay *r);
unsigned mx_relay_in_flight(const struct mx_relay *r);
/* Fails every in-flight message with 451 (their done runs), closes all
 * connections, frees. */
void mx_relay_free(struct mx_relay *r);

#endif /* MX_RELAY_H */
