/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to engine/msg: the chunk layout, the arena primitives the header
 * parser needs, and the parser's entry points called by mx_msg_append()
 * and mx_msg_finish(). Nothing outside this folder includes it.
 */
#ifndef MX_MSG_PRIV_H
#define MX_MSG_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "mx_msg.h"

/* Arena alignment: enough for any struct the arena holds. */
#define MX_MSG_ALIGN ((size_t)_Alignof(max_align_t))

struct mx_chunk {
	struct mx_chunk *next;
	size_t len; /* data chunks: bytes used */
	_Alignas(max_align_t) uint8_t data[];
};

/* Arena allocation; NULL when the pool is out or size exceeds a chunk. */
void *mx_msg_arena_alloc(struct mx_msg *m, size_t size);
/* Grows the allocation p (old bytes) to new_size bytes: in place when p is
 * the newest allocation and the chunk has room, else by a copy. Returns
 * the (possibly moved) block or NULL (p is then left untouched). */
void *mx_msg_arena_grow(struct mx_msg *m, void *p, size_t old, size_t new_size);
/* Gives back the tail of p beyond len when p is the newest allocation. */
void mx_msg_arena_trim(struct mx_msg *m, void *p, size_t cap, size_t len);

/* Header parser (header_parse.c). init at create; feed over bytes at
 * message offset base, returns 0 or -ENOMEM; finish at end of data. */
void mx_msg_hdr_init(struct mx_msg *m);
int mx_msg_hdr_feed(struct mx_msg *m, const uint8_t *p, size_t n, size_t base);
void mx_msg_hdr_finish(struct mx_msg *m);

#endif /* MX_MSG_PRIV_H */
