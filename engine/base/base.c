/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * base.c: the leaf services of mx_base.h: panic, clocks, dates, buffer
 * slots, the Internet checksum, SipHash, printable escaping, case-insensitive comparisons and address parsing.
 * Everything is reentrant: no static state except the process secret,
 * which is written once by pthread_once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "mx_base.h"

void
mx_panic(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mxedge: PANIC at %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

uint64_t
mx_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t
mx_clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t
mx_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* RFC 5322 3.3 date-time, always in UTC ("+0000") so no time-zone
 * database is read on a worker. gmtime_r is reentrant. */
size_t
mx_rfc5322_date(char *buf, size_t size, int64_t unix_s)
{
	static const char *const wday[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)unix_s;
	struct tm tm;
	int n;

	if (gmtime_r(&t, &tm) == NULL || size == 0)
		return 0;
	n = snprintf(buf, size, "%s, %d %s %04d %02d:%02d:%02d +0000",
			wday[tm.tm_wday], tm.tm_mday, mon[tm.tm_mon],
			tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (n < 0)
		return 0;
	return (size_t)n < size ? (size_t)n : size - 1;
}

size_t
mx_iso8601_ms(char *buf, size_t size, uint64_t unix_ms)
{
	time_t t = (time_t)(unix_ms / 1000u);
	struct tm tm;
	int n;

	if (gmtime_r(&t, &tm) == NULL || size == 0)
		return 0;
	n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ",
			tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			tm.tm_hour, tm.tm_min, tm.tm_sec,
			(unsigned)(unix_ms % 1000u));
	if (n < 0)
		return 0;
	return (size_t)n < size ? (size_t)n : size - 1;
}

/* SipHash-2-4 (Aumasson and Bernstein), written from the paper's
 * description. */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static inline uint64_t
load_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline void
sip_round(uint64_t v[4])
{
	v[0] += v[1]; v[1] = ROTL(v[1], 13); v[1] ^= v[0]; v[0] = ROTL(v[0], 32);
	v[2] += v[3]; v[3] = ROTL(v[3], 16); v[3] ^= v[2];
	v[0] += v[3]; v[3] = ROTL(v[3], 21); v[3] ^= v[0];
	v[2] += v[1]; v[1] = ROTL(v[1], 17); v[1] ^= v[2]; v[2] = ROTL(v[2], 32);
}

int
mx_slots_map(struct mx_slots *s, size_t a, size_t b, size_t n, size_t share)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t lead = 0;
	void *m;

	memset(s, 0, sizeof(*s));
	if (page > 0 && share < (size_t)page && a % (size_t)page == 0 &&
			b % (size_t)page == 0) {
		lead = share;
		s->a_home = a - share;
	}
	s->map_len = (a + b) * n + lead;
	m = mmap(NULL, s->map_len, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED) {
		memset(s, 0, sizeof(*s));
		return -ENOMEM;
	}
	s->map = m;
	s->base = s->map + lead;
	return 0;
}

void
mx_slots_unmap(struct mx_slots *s)
{
	if (s->map != NULL)
		munmap(s->map, s->map_len);
	memset(s, 0, sizeof(*s));
}

/* Eight words per step; no carry is lost before the fold (2^32 words
 * would be needed). The checksum of every TCP segment in and out goes
 * through here. */
uint64_t
mx_inet_sum(uint64_t sum, const void *p, size_t len)
{
	const uint8_t *b = p;
	uint32_t w[8];
	uint16_t h;

	for (; len >= sizeof(w); b += sizeof(w), len -= sizeof(w)) {
		memcpy(w, b, sizeof(w));
		sum += (uint64_t)w[0] + w[1] + w[2] + w[3] + w[4] + w[5] + w[6] + w[7];
	}
	for (; len >= 4; b += 4, len -= 4) {
		memcpy(w, b, 4);
		sum += w[0];
	}
	if (len >= 2) {
		memcpy(&h, b, 2);
		sum += h;
		b += 2;
		len -= 2;
	}
	if (len == 1) {
		uint8_t pad[2] = { b[0], 0 };

		memcpy(&h, pad, 2);
		sum += h;
	}
	return sum;
}

uint16_t
mx_inet_fold(uint64_t sum)
{
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffu) + (sum >> 16);
	sum = (sum & 0xffffu) + (sum >> 16);
	return (uint16_t)sum;
}

uint64_t
mx_siphash(const uint8_t key[16], const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
	uint64_t v[4] = {
		k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL,
		k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL,
	};
	size_t full = len & ~(size_t)7;
	uint64_t m, b = (uint64_t)len << 56;

	for (size_t i = 0; i < full; i += 8) {
		m = load_le64(p + i);
		v[3] ^= m;
		sip_round(v);
		sip_round(v);
		v[0] ^= m;
	}
	for (size_t i = 0; i < (len & 7); i++)
		b |= (uint64_t)p[full + i] << (8 * i);
	v[3] ^= b;
	sip_round(v);
	sip_round(v);
	v[0] ^= b;
	v[2] ^= 0xff;
	for (int i = 0; i < 4; i++)
		sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static uint8_t secret_key[16];
static pthread_once_t secret_once = PTHREAD_ONCE_INIT;

static void
secret_init(void)
{
	size_t got = 0;

	while (got < sizeof(secret_key)) {
		ssize_t n = getrandom(secret_key + got, sizeof(secret_key) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			MX_PANIC("getrandom failed: %s", strerror(errno));
		got += (size_t)n;
	}
}

const uint8_t *
mx_secret_key(void)
{
	pthread_once(&secret_once, secret_init);
	return secret_key;
}

static inline size_t
printable_width(uint8_t c)
{
	if (c == '\\')
		return 2;
	return (c >= 0x20 && c < 0x7f) ? 1 : 4;
}

char *
mx_printable(char *dst, size_t size, const void *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *s = src;
	size_t full = 0, limit, o = 0, i;

	if (size == 0)
		return dst;
	for (i = 0; i < len; i++)
		full += printable_width(s[i]);
	/* Everything fits: write it all. Else keep room for "..." + NUL. */
	limit = full <= size - 1 ? size - 1 : (size - 1 >= 3 ? size - 1 - 3 : 0);
	for (i = 0; i < len; i++) {
		uint8_t c = s[i];
		size_t w = printable_width(c);

		if (o + w > limit)
			break;
		if (w == 1) {
			dst[o++] = (char)c;
		} else if (w == 2) {
			dst[o++] = '\\';
			dst[o++] = '\\';
		} else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	while (i < len && o < size - 1 && o < limit + 3)
		dst[o++] = '.';
	dst[o] = '\0';
	return dst;
}

static inline int
lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

bool
mx_str_ieq(struct mx_str a, const char *lit)
{
	size_t n = strlen(lit);

	if (a.len != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)a.p[i]) != lower((unsigned char)lit[i]))
			return false;
	return true;
}

bool
mx_str_iprefix(struct mx_str a, const char *lit)
{
	size_t n = strlen(lit);

	if (a.len < n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)a.p[i]) != lower((unsigned char)lit[i]))
			return false;
	return true;
}

static int
parse_port(const char *s, struct mx_addr *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > 65535)
		return -EINVAL;
	out->port = (uint16_t)v;
	return 0;
}

static int
parse_ip(const char *ip, struct mx_addr *out)
{
	if (inet_pton(AF_INET, ip, &out->ip.v4) == 1) {
		out->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &out->ip.v6) == 1) {
		out->family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

int
mx_addr_parse(const char *s, int default_port, struct mx_addr *out)
{
	char buf[64];
	const char *colon;
	size_t n = strlen(s);

	memset(out, 0, sizeof(*out));
	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || (size_t)(rb - s - 1) >= sizeof(buf))
			return -EINVAL;
		memcpy(buf, s + 1, (size_t)(rb - s - 1));
		buf[rb - s - 1] = '\0';
		if (inet_pton(AF_INET6, buf, &out->ip.v6) != 1)
			return -EINVAL;
		out->family = AF_INET6;
		if (rb[1] == '\0') {
			if (default_port < 0)
				return -EINVAL;
			out->port = (uint16_t)default_port;
			return 0;
		}
		return rb[1] == ':' ? parse_port(rb + 2, out) : -EINVAL;
	}
	colon = strrchr(s, ':');
	if (colon != NULL && strchr(s, ':') == colon) {
		memcpy(buf, s, (size_t)(colon - s));
		buf[colon - s] = '\0';
		if (inet_pton(AF_INET, buf, &out->ip.v4) != 1)
			return -EINVAL;
		out->family = AF_INET;
		return parse_port(colon + 1, out);
	}
	/* A bare address: IPv4, or IPv6 without brackets (several colons). */
	if (default_port < 0 || default_port > 65535)
		return -EINVAL;
	if (parse_ip(s, out) != 0)
		return -EINVAL;
	out->port = (uint16_t)default_port;
	return 0;
}

size_t
mx_addr_format(const struct mx_addr *a, bool with_port, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN];
	int n;

	if (size == 0)
		return 0;
	if (inet_ntop(a->family, &a->ip, ip, sizeof(ip)) == NULL)
		snprintf(ip, sizeof(ip), "?");
	if (!with_port)
		n = snprintf(buf, size, "%s", ip);
	else if (a->family == AF_INET6)
		n = snprintf(buf, size, "[%s]:%u", ip, a->port);
	else
		n = snprintf(buf, size, "%s:%u", ip, a->port);
	if (n < 0)
		return 0;
	return (size_t)n < size ? (size_t)n : size - 1;
}

bool
mx_addr_eq_ip(const struct mx_addr *a, const struct mx_addr *b)
{
	if (a->family != b->family)
		return false;
	if (a->family == AF_INET)
		return a->ip.v4.s_addr == b->ip.v4.s_addr;
	return memcmp(&a->ip.v6, &b->ip.v6, sizeof(a->ip.v6)) == 0;
}
