/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smtp_tlspol: the TLS connection profiles at MAIL FROM (README "TLS
 * profiles"). One call from smtp_check_mail: crypto/tls decides (the
 * profile matching the client's address or the sender domain, against
 * the session as negotiated) and writes the reply, which names what was
 * missing; here it is sent, counted against max_errors, and logged
 * rate-limited (a client triggers it). Off without certificates: then
 * there is no TLS context and no profile.
 *
 * Thread: the session's worker.
 */
#include <stdio.h>

#include "mx_log.h"
#include "mx_tls.h"
#include "smtp_priv.h"

/* One reply line: "5yz x.y.z" and a sentence naming a domain of at most
 * 255 bytes, escaped by mx_printable. */
#define TLSPOL_REPLY_MAX 512

bool
smtp_tlspol_mail(struct smtp_session *s, struct mx_str domain)
{
	char reply[TLSPOL_REPLY_MAX], peer[64];
	int code;

	if (s->w->env.tls == NULL)
		return true;
	code = mx_tls_policy_mail(s->w->env.tls, s->st, domain, reply, sizeof(reply));
	if (code == 0)
		return true;
	mx_addr_format(&s->peer, true, peer, sizeof(peer));
	MX_LOG_RL(MX_LOG_INFO, SMTP_LOG, "session %llu %s: MAIL refused by TLS policy: %s",
			(unsigned long long)s->id, peer, reply);
	smtp_reply_err(s, "%s", reply);
	return false;
}
