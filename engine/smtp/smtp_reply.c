/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smtp_reply: composing and queueing SMTP replies (RFC 5321 4.2, with the
 * RFC 2034 / RFC 3463 enhanced status codes written by the callers).
 *
 * Contract: a reply is formatted into a bounded stack buffer (at most
 * SMTP_REPLY_MAX bytes, CRLF added here) and queued into the stream; all
 * replies produced by one burst of input leave in one write at the end of
 * the loop pass (mx_stream.h). When the stream's send buffer is full the
 * rest waits in the session's pend buffer and the session stops reading
 * input until on_writable drained it, so a client that pipelines without
 * reading our replies is slowed down, never buffered without bound.
 * Every reply is counted by class (mx_stat_reply) and in BYTES_OUT.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mx_log.h"
#include "smtp_priv.h"

MX_PRINTF(3, 0)
static size_t
smtp_vformat(char *buf, size_t size, const char *fmt, va_list ap)
{
	int n;
	size_t len;

	MX_ASSERT(size >= 3);
	if (strchr(fmt, '%') == NULL) {
		/* Most replies are constant text: no printf per reply. */
		len = MX_MIN(strlen(fmt), size - 3);
		memcpy(buf, fmt, len);
	} else {
		n = vsnprintf(buf, size - 2, fmt, ap);
		len = n < 0 ? 0 : MX_MIN((size_t)n, size - 3);
	}
	buf[len++] = '\r';
	buf[len++] = '\n';
	buf[len] = '\0'; /* room was kept: len <= size - 1 */
	return len;
}

size_t
smtp_format(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	len = smtp_vformat(buf, size, fmt, ap);
	va_end(ap);
	return len;
}

static int
reply_code(const char *buf, size_t len)
{
	if (len < 3 || buf[0] < '1' || buf[0] > '5' || buf[1] < '0' || buf[1] > '9' ||
			buf[2] < '0' || buf[2] > '9')
		return 0;
	return (buf[0] - '0') * 100 + (buf[1] - '0') * 10 + (buf[2] - '0');
}

static void
pend_add(struct smtp_session *s, const char *p, size_t n)
{
	if (n > SMTP_PEND_MAX - s->pend_len) {
		/* Cannot happen with input stopped while pend is in use;
		 * if it does, the connection is dropped, never overrun. */
		MX_LOG_RL(MX_LOG_WARN, SMTP_LOG, "session %llu: reply backlog full, aborting",
				(unsigned long long)s->id);
		s->state = SMTP_S_CLOSING;
		mx_stream_abort(s->st);
		return;
	}
	memcpy(s->pend + s->pend_len, p, n);
	s->pend_len += n;
}

void
smtp_send_reply(struct smtp_session *s, const char *buf, size_t len, bool err)
{
	struct mx_stats *stats = s->w->env.stats;
	long sent = 0;

	mx_stat_reply(stats, reply_code(buf, len));
	mx_stat_add(stats, MX_STAT_BYTES_OUT, len);
	if (err)
		s->n_errors++;
	if (s->tx.msg != NULL) {
		size_t n = len >= 2 ? len - 2 : len;

		n = MX_MIN(n, sizeof(s->tx.last_reply));
		memcpy(s->tx.last_reply, buf, n);
		s->tx.last_reply_len = n;
	}
	if (s->pend_len == 0) {
		sent = mx_stream_send(s->st, buf, len);
		if (sent < 0)
			return; /* the stream is closing: nobody to tell */
	}
	if ((size_t)sent < len)
		pend_add(s, buf + sent, len - (size_t)sent);
}

void
smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	char buf[SMTP_REPLY_MAX];
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	len = smtp_vformat(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	smtp_send_reply(s, buf, len, false);
}

void
smtp_reply_err(struct smtp_session *s, const char *fmt, ...)
{
	char buf[SMTP_REPLY_MAX];
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	len = smtp_vformat(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	smtp_send_reply(s, buf, len, true);
}

bool
smtp_flush_pending(struct smtp_session *s)
{
	long sent;

	if (s->pend_len == 0)
		return true;
	sent = mx_stream_send(s->st, s->pend, s->pend_len);
	if (sent < 0) {
		s->pend_len = 0; /* the stream is closing */
		return true;
	}
	memmove(s->pend, s->pend + sent, s->pend_len - (size_t)sent);
	s->pend_len -= (size_t)sent;
	return s->pend_len == 0;
}
