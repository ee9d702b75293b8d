/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * log.c: operator diagnostics on stderr, one line per call written with a
 * single write(2) so lines from several threads never interleave, and a
 * per-call-site token bucket for anything a peer can trigger.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mx_log.h"

int mx_log_level_max = MX_LOG_INFO;

static const char *const level_names[] = {
	[MX_LOG_ERR] = "err",
	[MX_LOG_WARN] = "warn",
	[MX_LOG_NOTICE] = "notice",
	[MX_LOG_INFO] = "info",
	[MX_LOG_DEBUG] = "debug",
};

/* A burst of 10 lines, then one a second: enough to see what happens,
 * too little to become the problem (STYLE pitfall 5). */
#define RL_BURST 10u
#define RL_PERIOD_MS 1000u

void
mx_log_set_level(enum mx_log_level lvl)
{
	mx_log_level_max = (int)lvl;
}

int
mx_log_level_parse(const char *name, enum mx_log_level *out)
{
	for (size_t i = 0; i < MX_ARRAY_SIZE(level_names); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum mx_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

__attribute__((format(printf, 4, 0))) static void
log_vemit(enum mx_log_level lvl, const char *comp, const char *suffix,
		const char *fmt, va_list ap)
{
	char line[1024];
	size_t n;
	int r;

	n = mx_iso8601_ms(line, sizeof(line), mx_wall_ms());
	r = snprintf(line + n, sizeof(line) - n, " %s %s: ", level_names[lvl], comp);
	if (r > 0)
		n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (r > 0)
		n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
	if (suffix != NULL) {
		r = snprintf(line + n, sizeof(line) - n, "%s", suffix);
		if (r > 0)
			n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
	}
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line; a short write to a pipe of stderr loses only
	 * diagnostics, never mail. */
	while (write(STDERR_FILENO, line, n) < 0 && errno == EINTR)
		;
}

void
mx_log_emit(enum mx_log_level lvl, const char *comp, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(lvl, comp, NULL, fmt, ap);
	va_end(ap);
}

void
mx_log_emit_rl(struct mx_log_rl *rl, enum mx_log_level lvl, const char *comp,
		const char *fmt, ...)
{
	uint64_t now = mx_clock_ms();
	uint64_t last = atomic_load_explicit(&rl->last_ms, memory_order_relaxed);
	uint32_t tokens = atomic_load_explicit(&rl->tokens, memory_order_relaxed);
	uint32_t suppressed;
	char suffix[64];
	va_list ap;

	if (last == 0) {
		tokens = RL_BURST;
		atomic_store_explicit(&rl->last_ms, now, memory_order_relaxed);
	} else if (now - last >= RL_PERIOD_MS) {
		uint64_t refill = (now - last) / RL_PERIOD_MS;

		tokens = (uint32_t)MX_MIN((uint64_t)RL_BURST, tokens + refill);
		atomic_store_explicit(&rl->last_ms, now, memory_order_relaxed);
	}
	if (tokens == 0) {
		atomic_fetch_add_explicit(&rl->suppressed, 1, memory_order_relaxed);
		atomic_store_explicit(&rl->tokens, 0, memory_order_relaxed);
		return;
	}
	atomic_store_explicit(&rl->tokens, tokens - 1, memory_order_relaxed);
	suppressed = atomic_exchange_explicit(&rl->suppressed, 0, memory_order_relaxed);
	suffix[0] = '\0';
	if (suppressed > 0)
		snprintf(suffix, sizeof(suffix), " (%u similar lines suppressed)", suppressed);
	va_start(ap, fmt);
	log_vemit(lvl, comp, suppressed > 0 ? suffix : NULL, fmt, ap);
	va_end(ap);
}
