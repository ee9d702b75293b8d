/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_json: a bounded JSON writer for log lines. It writes into a caller's
 * buffer, escapes strings per RFC 8259 (control bytes as \u00XX, invalid
 * UTF-8 as \ufffd so a peer can never break the line or the parser of the
 * reader), inserts commas itself, and on overflow marks the writer
 * truncated instead of writing past the end. It never allocates.
 *
 *   struct mx_json j;
 *   mx_json_init(&j, buf, sizeof(buf));
 *   mx_json_obj_open(&j, NULL);
 *   mx_json_str(&j, "helo", helo.p, helo.len);
 *   mx_json_u64(&j, "size", n);
 *   mx_json_obj_close(&j);
 *   if (mx_json_ok(&j)) write(buf, mx_json_len(&j));
 */
#ifndef MX_JSON_H
#define MX_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MX_JSON_MAX_DEPTH 16

struct mx_json {
	char *buf;
	size_t size, len;
	bool overflow;
	unsigned depth;
	bool need_comma[MX_JSON_MAX_DEPTH];
};

void mx_json_init(struct mx_json *j, char *buf, size_t size);
/* key is NULL inside arrays and at the top level. */
void mx_json_obj_open(struct mx_json *j, const char *key);
void mx_json_obj_close(struct mx_json *j);
void mx_json_arr_open(struct mx_json *j, const char *key);
void mx_json_arr_close(struct mx_json *j);
/* s may hold any bytes; NULL writes null. */
void mx_json_str(struct mx_json *j, const char *key, const char *s, size_t len);
void mx_json_cstr(struct mx_json *j, const char *key, const char *s);
void mx_json_u64(struct mx_json *j, const char *key, uint64_t v);
void mx_json_i64(struct mx_json *j, const char *key, int64_t v);
void mx_json_bool(struct mx_json *j, const char *key, bool v);
void mx_json_null(struct mx_json *j, const char *key);
/* Milliseconds with three decimals from microseconds: 12.345 */
void mx_json_ms(struct mx_json *j, const char *key, uint64_t us);
bool mx_json_ok(const struct mx_json *j);
size_t mx_json_len(const struct mx_json *j);

#endif /* MX_JSON_H */
