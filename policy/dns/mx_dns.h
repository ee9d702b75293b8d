/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_dns: asynchronous DNS with a bounded answer cache, over libunbound.
 *
 * Batch-oriented: the verifier stage submits every (name, type) a batch
 * needs, then polls until they have completed (mx_dns_fd() in its event
 * loop, mx_dns_process() when readable or at mx_dns_next_deadline_ms()),
 * and reads answers from the cache with mx_dns_get(). Nothing here waits,
 * except mx_dns_wait(), which is for the offline `mxedge verify` command
 * and the verifier stage's own thread, never for a worker.
 *
 * Sources: a forwarder ("IP:PORT", no recursion to the internet), local
 * zone data from an RFC 1035 zone file (everything outside it answers
 * NXDOMAIN), or /etc/resolv.conf. DNSSEC validation is off unless a trust
 * anchor file is configured. Unbound honours TTLs and negative caching
 * and retries over TCP when a UDP answer is truncated (RFC 7766); our
 * cache keeps an answer no longer than its TTL.
 *
 * Deadline: each query has one (timeout_ms from submit, default 2000);
 * past it the query is cancelled and its answer is MX_DNS_TIMEOUT, which
 * callers map to a temperror (RFC 7208 2.6.6).
 *
 * Names are text, with or without the trailing dot, compared without
 * regard to ASCII case. Threads: one struct mx_dns belongs to one thread
 * (the verifier stage); create one per such thread.
 */
#ifndef MX_DNS_H
#define MX_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* RR types we decode (RFC 1035 3.2.2, RFC 3596, RFC 7208 3.1). */
enum mx_dns_type {
	MX_DNS_A = 1,
	MX_DNS_CNAME = 5,
	MX_DNS_PTR = 12,
	MX_DNS_MX = 15,
	MX_DNS_TXT = 16,
	MX_DNS_AAAA = 28,
	MX_DNS_SPF = 99,
};

enum mx_dns_status {
	MX_DNS_PENDING = 0, /* submitted, no answer yet */
	MX_DNS_OK,          /* NOERROR with at least one RR of the type */
	MX_DNS_NODATA,      /* NOERROR, no RR of the type (RFC 2308 2.2) */
	MX_DNS_NXDOMAIN,    /* RCODE 3 */
	MX_DNS_SERVFAIL,    /* SERVFAIL, REFUSED, bogus, or a resolver error */
	MX_DNS_TIMEOUT,     /* our deadline passed first */
};

/* Limits on one answer, so a hostile zone cannot grow the cache without
 * bound: RRs per answer and bytes of decoded data per answer. */
#define MX_DNS_MAX_RR 64
#define MX_DNS_MAX_DATA 16384
/* A presentation-format domain name, RFC 1035 2.3.4: 253 characters. */
#define MX_DNS_NAME_MAX 255

/* One decoded RR. A: 4 bytes, AAAA: 16 bytes (network order). TXT/SPF:
 * the character-strings of the RR joined with no separator (RFC 7208
 * 3.3). MX: the exchange name (preference in pref). PTR, CNAME: the
 * target name. Names are presentation text without the trailing dot
 * ("" for the root). data is NUL-terminated for names and TXT, and TXT
 * may itself hold NUL bytes (use len). */
struct mx_dns_rr {
	uint16_t len;
	uint16_t pref;
	const uint8_t *data;
};

struct mx_dns_answer {
	enum mx_dns_status status;
	uint16_t type;
	uint16_t n_rr;
	uint32_t ttl;
	const struct mx_dns_rr *rr;
};

struct mx_dns_conf {
	const char *resolver;     /* "IP:PORT" or "IP" (port 53); NULL: see below */
	const char *zone_file;    /* local data; NULL: none */
	const char *trust_anchor; /* DNSSEC anchor file; NULL: validation off */
	uint32_t timeout_ms;      /* per query; 0: 2000 */
	uint32_t max_entries;     /* answer cache entries; 0: 65536 */
};
/* With neither resolver nor zone_file, /etc/resolv.conf's servers are
 * the forwarders. With both, zone data answers first and other names go
 * to the resolver. */

/* Counters, monotonic, read by the owner thread or for metrics export. */
struct mx_dns_stats {
	uint64_t queries;     /* sent to unbound */
	uint64_t cache_hits;  /* mx_dns_submit found a live answer */
	uint64_t answers_ok;
	uint64_t nxdomain;
	uint64_t nodata;
	uint64_t servfail;
	uint64_t timeouts;
	uint64_t evictions;   /* entries dropped to stay within max_entries */
	uint64_t truncated;   /* answers cut at MX_DNS_MAX_RR / MX_DNS_MAX_DATA */
	uint64_t rejected;    /* names refused before querying (syntax) */
	uint64_t repaired;    /* answers libunbound would not hand out, read
	                       * from its answer packet (see dns.c) */
};

struct mx_dns;

/* Returns 0, -EINVAL (bad resolver address, unreadable or invalid zone
 * file: the reason is printed to err if err != NULL), or -ENOMEM. */
int mx_dns_create(const struct mx_dns_conf *conf, struct mx_dns **out, FILE *err);
void mx_dns_free(struct mx_dns *d);

/* Asks for (name, type) unless a live answer or a query for it exists.
 * Returns 0, -EINVAL for a name that cannot go on the wire (empty label,
 * label over 63 octets, name over 253 characters: RFC 1035 2.3.4), or
 * -ENOMEM. Never blocks. */
int mx_dns_submit(struct mx_dns *d, const char *name, uint16_t type);

/* The cached answer, or NULL when (name, type) was never submitted or
 * has expired. A PENDING answer means "submitted, not there yet". The
 * pointer stays valid until the next mx_dns_submit/process/wait call. */
const struct mx_dns_answer *mx_dns_get(struct mx_dns *d, const char *name, uint16_t type);

/* For tests and fuzz harnesses only, never on a hot path: puts an answer
 * into the cache as if unbound had returned it (rcode, and the RRs'
 * rdata in wire form, n of them, at most MX_DNS_MAX_RR + 1 are read),
 * decoded by the same code as a real answer. Returns 0, -EINVAL (name),
 * -EBUSY (a query for it is pending), or -ENOMEM. */
int mx_dns_cache_put(struct mx_dns *d, const char *name, uint16_t type, int rcode,
		const uint8_t *const *rdata, const size_t *len, size_t n, uint32_t ttl);

/* The RRs of one type in the answer section of a DNS response in wire
 * form (RFC 1035 4.1), read without libunbound. rdata points into the
 * packet, except names in CNAME, PTR and MX rdata, which are expanded
 * from compression (RFC 1035 4.1.4) into names[]. */
struct mx_dns_packet {
	int rcode;      /* RFC 1035 4.1.1 */
	uint32_t ttl;   /* the least TTL of the RRs taken; 0 when none */
	size_t n;       /* RRs taken, at most MX_DNS_MAX_RR + 1 */
	const uint8_t *rdata[MX_DNS_MAX_RR + 1];
	size_t len[MX_DNS_MAX_RR + 1];
	uint8_t names[(MX_DNS_MAX_RR + 1) * (2 + MX_DNS_NAME_MAX + 1)];
};

/* Reads pkt (len octets) into out: every class IN RR of the given type
 * in the answer section, whatever its owner (the packet is the
 * resolver's answer to our question, CNAME chain included). RRs past
 * MX_DNS_MAX_RR + 1 are skipped, as the cache cuts there. Returns 0, or
 * -EINVAL when the packet is not a well-formed response: short header,
 * not QR, a name or RR running past the end, a compression pointer that
 * does not point backwards, a name over 255 octets. */
int mx_dns_packet_read(const uint8_t *pkt, size_t len, uint16_t type,
		struct mx_dns_packet *out);

/* For tests and fuzz harnesses only: drops every cache entry and cancels
 * every pending query, so one mx_dns (and its resolver thread) serves
 * many independent runs, each starting from an empty cache. Stats are
 * kept. */
void mx_dns_cache_clear(struct mx_dns *d);

/* The descriptor that becomes readable when answers are ready. */
int mx_dns_fd(const struct mx_dns *d);
/* Collects ready answers and times out queries past their deadline.
 * Returns the number of queries still pending. Never blocks. */
unsigned mx_dns_process(struct mx_dns *d);
/* Monotonic ms of the earliest deadline, or 0 when nothing is pending. */
uint64_t mx_dns_next_deadline_ms(const struct mx_dns *d);
unsigned mx_dns_n_pending(const struct mx_dns *d);
/* Blocks (poll on mx_dns_fd) until nothing is pending; bounded by the
 * deadlines. For the verifier's own thread and the offline command. */
void mx_dns_wait(struct mx_dns *d);

const struct mx_dns_stats *mx_dns_stats(const struct mx_dns *d);
const char *mx_dns_status_str(enum mx_dns_status s);

/* RFC 1035 2.3.4 / RFC 7208 4.3 syntax check of a name about to be
 * queried: non-empty labels of at most 63 octets, at most 253 characters
 * without the trailing dot. */
bool mx_dns_name_ok(const char *name);

/* Zone file parsing, exposed for tests: calls rr_fn once per RR with the
 * RR in unbound's one-line form ("owner. TTL IN TYPE rdata") after
 * resolving $ORIGIN, $TTL, @, relative owners, blank owners, comments
 * and parentheses (RFC 1035 5.1). Returns 0, or -EINVAL with the line
 * number in *bad_line. */
typedef int (*mx_dns_rr_fn)(void *arg, const char *rr);
int mx_dns_zone_parse(const char *text, size_t len, const char *origin,
		mx_dns_rr_fn rr_fn, void *arg, unsigned *bad_line);

#endif /* MX_DNS_H */
