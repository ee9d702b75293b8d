/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The metrics endpoint: libmicrohttpd on its own thread (never a worker).
 *
 *   GET /metrics  200, Prometheus text format 0.0.4
 *   GET /healthz  200 "ok"
 *   other paths   404
 *   other methods 405 with Allow (RFC 9110 15.5.6); HEAD is GET without
 *                 a body (RFC 9110 9.3.2), which libmicrohttpd handles.
 *
 * We bind the listening socket ourselves, so a bind failure comes back as
 * its errno (-EADDRINUSE, -EADDRNOTAVAIL...) instead of libmicrohttpd's
 * NULL, and port 0 works (mx_metrics_port() says what the kernel chose).
 * libmicrohttpd owns the socket from then on and closes it when stopped.
 * The endpoint is for a management network; still, anyone who reaches it
 * is a peer: connections are capped and time out, its errors go through
 * the rate-limited log, and every 404/405 is counted.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "mx_log.h"
#include "mx_metrics.h"

#include "metrics_priv.h"

#define HTTP_MAX_CONNS 16u      /* a scraper or two and an operator's curl */
#define HTTP_TIMEOUT_S 10u      /* idle HTTP connections are closed after this */
#define RENDER_FIRST 65536      /* fits the whole text with many workers */
#define RENDER_TRIES 4          /* gauges may be added between two renders */

static const char content_type[] = "text/plain; version=0.0.4; charset=utf-8";

__attribute__((format(printf, 2, 0)))
static void
http_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256], safe[256];
	int n;

	(void)cls;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	/* libmicrohttpd's messages can quote what the client sent. */
	mx_printable(safe, sizeof(safe), msg, strnlen(msg, sizeof(msg)));
	MX_LOG_RL(MX_LOG_WARN, "metrics", "http: %s", safe);
}

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned status, struct MHD_Response *r)
{
	enum MHD_Result rc;

	if (r == NULL)
		return MHD_NO;  /* out of memory: libmicrohttpd drops the connection */
	rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

static struct MHD_Response *
text(const char *body)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body,
			MHD_RESPMEM_PERSISTENT);
	if (r != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	return r;
}

static struct MHD_Response *
metrics_text(struct mx_metrics *m)
{
	struct MHD_Response *r;
	size_t cap = RENDER_FIRST, need;
	char *buf = NULL, *nb;
	int i;

	for (i = 0; i < RENDER_TRIES; i++) {
		nb = realloc(buf, cap);
		if (nb == NULL)
			break;
		buf = nb;
		need = mx_metrics_render(m, buf, cap);
		if (need < cap) {
			r = MHD_create_response_from_buffer(need, buf, MHD_RESPMEM_MUST_FREE);
			if (r == NULL)
				break;
			MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
			return r;
		}
		cap = need + 4096;
	}
	free(buf);
	return NULL;
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
		const char *version, const char *upload_data, size_t *upload_data_size,
		void **req_cls)
{
	struct mx_metrics *m = cls;
	bool is_metrics = strcmp(url, "/metrics") == 0;
	bool is_health = strcmp(url, "/healthz") == 0;
	struct MHD_Response *r;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;
	if (!is_metrics && !is_health) {
		atomic_fetch_add_explicit(&m->http_rejected, 1, memory_order_relaxed);
		return reply(conn, MHD_HTTP_NOT_FOUND, text("not found\n"));
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
		atomic_fetch_add_explicit(&m->http_rejected, 1, memory_order_relaxed);
		r = text("method not allowed\n");
		if (r != NULL)
			MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, r);
	}
	if (is_health)
		return reply(conn, MHD_HTTP_OK, text("ok\n"));
	return reply(conn, MHD_HTTP_OK, metrics_text(m));
}

static socklen_t
to_sockaddr(const struct mx_addr *a, struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET6) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(a->port);
		s6->sin6_addr = a->ip.v6;
		return sizeof(*s6);
	}
	s4->sin_family = AF_INET;
	s4->sin_port = htons(a->port);
	s4->sin_addr = a->ip.v4;
	return sizeof(*s4);
}

static int
listen_on(const struct mx_addr *a, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len = to_sockaddr(a, &ss);
	int fd, one = 1, rc;

	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A restart must not wait out TIME_WAIT of the last scrapes. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
			bind(fd, (struct sockaddr *)&ss, len) != 0 ||
			listen(fd, 64) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	*port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
			((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

int
mx_metrics_serve(struct mx_metrics *m, const struct mx_addr *addr)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	uint16_t port = 0;
	int fd;

	if (m->httpd != NULL)
		return -EALREADY;
	if (addr->family != AF_INET && addr->family != AF_INET6)
		return -EAFNOSUPPORT;
	fd = listen_on(addr, &port);
	if (fd < 0)
		return fd;
	if (addr->family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->httpd = MHD_start_daemon(flags, 0, NULL, NULL, handle, m,
			MHD_OPTION_EXTERNAL_LOGGER, http_log, NULL,
			MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
			MHD_OPTION_CONNECTION_LIMIT, HTTP_MAX_CONNS,
			MHD_OPTION_CONNECTION_TIMEOUT, HTTP_TIMEOUT_S,
			MHD_OPTION_END);
	if (m->httpd == NULL) {
		close(fd);
		MX_LOG(MX_LOG_ERR, "metrics", "libmicrohttpd did not start");
		return -EIO;
	}
	m->port = port;
	return 0;
}

uint16_t
mx_metrics_port(const struct mx_metrics *m)
{
	return m->httpd != NULL ? m->port : 0;
}

void
mx_metrics_stop(struct mx_metrics *m)
{
	if (m->httpd == NULL)
		return;
	MHD_stop_daemon(m->httpd);
	m->httpd = NULL;
	m->port = 0;
}
