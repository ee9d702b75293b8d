/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_base: the leaf every mxedge module may include.
 *
 * Return-code vocabulary (STYLE 2.4): int functions return 0 or a negative
 * errno; incremental parsers return enum mx_rc; burst functions return a
 * count. Wire data travels as struct mx_str {len, p}, never NUL-terminated
 * unless a library boundary needs it. MX_ASSERT/MX_PANIC are for broken
 * internal invariants only, are never compiled out, and must never be
 * reachable from bytes a peer sent.
 *
 * Also here: the monotonic clock, keyed SipHash for attacker-chosen keys,
 * printable escaping of peer bytes for logs, and the address type shared by
 * configuration and transports. Everything here is reentrant and safe on
 * any thread; nothing allocates.
 */
#ifndef MX_BASE_H
#define MX_BASE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Results of incremental (resumable) parsers. */
enum mx_rc {
	MX_OK = 0,      /* a complete unit was parsed */
	MX_AGAIN,       /* need more bytes; state is kept, call again */
	MX_INVALID,     /* syntax error; the parser has resynchronised */
	MX_TOOLONG,     /* a bound was exceeded; the parser has resynchronised */
};

struct mx_str {
	size_t len;
	const char *p;
};

#define MX_STR(lit) ((struct mx_str){ sizeof(lit) - 1, (lit) })
#define MX_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MX_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MX_MAX(a, b) ((a) > (b) ? (a) : (b))
#define mx_likely(x) __builtin_expect(!!(x), 1)
#define mx_unlikely(x) __builtin_expect(!!(x), 0)
#define MX_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define MX_CACHE_ALIGNED __attribute__((aligned(64)))

__attribute__((noreturn, cold)) MX_PRINTF(3, 4)
void mx_panic(const char *file, int line, const char *fmt, ...);

#define MX_PANIC(...) mx_panic(__FILE__, __LINE__, __VA_ARGS__)
/* Survives NDEBUG on purpose (STYLE 3.12): invariants are checked in
 * release builds too. */
#define MX_ASSERT(c)                                                   \
	do {                                                           \
		if (mx_unlikely(!(c)))                                 \
			mx_panic(__FILE__, __LINE__, "assertion %s", #c); \
	} while (0)

/* Monotonic milliseconds and microseconds (vDSO, no syscall on Linux). */
uint64_t mx_clock_ms(void);
uint64_t mx_clock_us(void);
/* Wall-clock seconds and an RFC 5322 date ("Sun, 22 Nov 2026 21:29:13 +0000")
 * written into buf (at least 40 bytes); returns its length. Reentrant. */
size_t mx_rfc5322_date(char *buf, size_t size, int64_t unix_s);
/* ISO 8601 UTC with milliseconds, for logs; buf at least 32 bytes. */
size_t mx_iso8601_ms(char *buf, size_t size, uint64_t unix_ms);
uint64_t mx_wall_ms(void);

/* SipHash-2-4 with a 128-bit key. Use it for every table keyed by data a
 * peer chose (STYLE 3.7). mx_secret_key() is a per-process random key
 * drawn once at start (getrandom). */
uint64_t mx_siphash(const uint8_t key[16], const void *data, size_t len);
const uint8_t *mx_secret_key(void);

/* The Internet checksum (RFC 1071). mx_inet_sum adds len bytes to a
 * running sum as native 32-bit words: the one's complement sum does not
 * depend on byte order (RFC 1071 2(B)), and an odd last byte is padded
 * with a zero byte; a sum may go on with more bytes only after an even
 * number of them. mx_inet_fold folds it to 16 bits, not complemented, as
 * the two bytes a header field holds when read natively: a header's
 * checksum field is ~mx_inet_fold(sum), and a header that checks out
 * folds to 0xffff. */
uint64_t mx_inet_sum(uint64_t sum, const void *p, size_t len);
uint16_t mx_inet_fold(uint64_t sum);

/* Connection buffers: n slots, each a part of a bytes followed by a part
 * of b bytes (slot i at base + i * (a + b)), in one anonymous mapping
 * reserved, not committed: untouched pages cost no memory. When a and b
 * are whole pages and share is under a page, the slots start share bytes
 * into the first page, so the last share bytes of every a part and the
 * first bytes of the b part after it lie in one page, and a_home is
 * a - share (else 0). A ring in the a part that starts over at a_home
 * when empty, next to a b part used from its start, then keeps a session
 * that has held no more than a command and a reply at a time (an idle
 * SMTP session) in one page instead of two (bench/PROFILE.md). */
struct mx_slots {
	uint8_t *base;
	size_t a_home;
	uint8_t *map;
	size_t map_len;
};
/* Returns 0 or -ENOMEM; mx_slots_unmap frees (and accepts a zeroed one). */
int mx_slots_map(struct mx_slots *s, size_t a, size_t b, size_t n, size_t share);
void mx_slots_unmap(struct mx_slots *s);

/* Escape peer bytes for logs: printable ASCII is kept, everything else is
 * written as \xHH; the output is truncated to size-1 bytes with "..." and is
 * always NUL-terminated. Returns dst. */
char *mx_printable(char *dst, size_t size, const void *src, size_t len);

/* Case-insensitive ASCII comparison of a wire string with a literal. */
bool mx_str_ieq(struct mx_str a, const char *lit);
bool mx_str_iprefix(struct mx_str a, const char *lit);

/* An IPv4 or IPv6 endpoint. */
struct mx_addr {
	sa_family_t family; /* AF_INET or AF_INET6 */
	uint16_t port;      /* host order */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} ip;
};

/* Parses "1.2.3.4:25", "[::1]:25", or with default_port >= 0 also a bare
 * address. Returns 0 or -EINVAL. */
int mx_addr_parse(const char *s, int default_port, struct mx_addr *out);
/* Formats "1.2.3.4:25" / "[::1]:25" (with_port) or just the address. */
size_t mx_addr_format(const struct mx_addr *a, bool with_port, char *buf, size_t size);
bool mx_addr_eq_ip(const struct mx_addr *a, const struct mx_addr *b);

#endif /* MX_BASE_H */
