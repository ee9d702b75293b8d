/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mx_log: operator-facing diagnostics (not the verdict log, see mx_vlog.h).
 *
 * Each line is "<iso time> <level> <component>: <message>" on stderr, so
 * that systemd/journald or the shell captures it. The level check sits in
 * the macro, so a disabled message costs no formatting (nginx). Anything
 * that a peer can trigger must use MX_LOG_RL: a per-call-site token bucket
 * (a burst of 10, then one per second) that reports how many lines it
 * suppressed (STYLE 2.9 and pitfall 5). Counters, not logs, are the record.
 * Peer bytes must go through mx_printable() first.
 *
 * Thread safety: any thread. The rate-limit bucket of a call site is
 * shared by the threads that reach it and updated with relaxed atomics; an
 * occasional extra line under a race is acceptable, a lock is not.
 */
#ifndef MX_LOG_H
#define MX_LOG_H

#include <stdatomic.h>
#include <stdint.h>

#include "mx_base.h"

enum mx_log_level {
	MX_LOG_ERR = 0,
	MX_LOG_WARN,
	MX_LOG_NOTICE,
	MX_LOG_INFO,
	MX_LOG_DEBUG,
};

extern int mx_log_level_max;

struct mx_log_rl {
	_Atomic uint64_t last_ms;
	_Atomic uint32_t tokens;
	_Atomic uint32_t suppressed;
};

void mx_log_set_level(enum mx_log_level lvl);
/* Returns -EINVAL for a name that is not err|warn|notice|info|debug. */
int mx_log_level_parse(const char *name, enum mx_log_level *out);

MX_PRINTF(3, 4)
void mx_log_emit(enum mx_log_level lvl, const char *comp, const char *fmt, ...);
MX_PRINTF(4, 5)
void mx_log_emit_rl(struct mx_log_rl *rl, enum mx_log_level lvl,
		const char *comp, const char *fmt, ...);

#define MX_LOG(lvl, comp, ...)                                    \
	do {                                                      \
		if ((int)(lvl) <= mx_log_level_max)               \
			mx_log_emit((lvl), (comp), __VA_ARGS__);  \
	} while (0)

#define MX_LOG_RL(lvl, comp, ...)                                        \
	do {                                                             \
		static struct mx_log_rl mx_rl_site_;                     \
		if ((int)(lvl) <= mx_log_level_max)                      \
			mx_log_emit_rl(&mx_rl_site_, (lvl), (comp), __VA_ARGS__); \
	} while (0)

#endif /* MX_LOG_H */
