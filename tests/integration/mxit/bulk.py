# SPDX-License-Identifier: BSD-3-Clause
"""Bulk sending with smtplib over several concurrent connections, and the
byte-exact checks of what arrived (mxedge spool files, Postfix Maildir).

Message i has the header "X-Test-Id: <prefix>-<i:05d>" (fixed width, so
every message has the same header length and the chunk-boundary sizes are
exact) and a body from msggen.Pool chosen by i. Nothing is kept in memory
but a SHA-256 per message; a message is regenerated when needed.
"""

import os
import re
import smtplib
import threading

from . import msggen, spool

ID_RE = re.compile(rb"^X-Test-Id: (\S+)\r\n", re.M)


class Bulk:
    def __init__(self, n, max_size, prefix="bulk", seed=1000):
        self.pool = msggen.Pool()
        self.prefix = prefix
        self.header_len = len(msggen.headers(self.test_id(0)))
        self.sizes = msggen.bulk_sizes(n, max_size, self.header_len, seed)
        self.n = n
        self.results = {}
        self.errors = []
        self.lock = threading.Lock()

    def test_id(self, i):
        return "%s-%05d" % (self.prefix, i)

    def message(self, i):
        msg, _ = msggen.message(self.pool, self.test_id(i), self.sizes[i], i)
        return msg

    def expected(self, i):
        """The message bytes as they travel (CRLF at the end)."""
        return msggen.wire_form(self.message(i))

    def expected_sha(self, i):
        return msggen.sha(self.expected(i))

    def send(self, port, threads=8, per_conn=25, rcpt="user@example.org",
             timeout=120, host="127.0.0.1"):
        """Sends every message to host:port (the engine: m.host, m.port);
        results[i] is the final reply code (or the exception text)."""
        nxt = [0]

        def worker():
            while True:
                batch = []
                with self.lock:
                    while len(batch) < per_conn and nxt[0] < self.n:
                        batch.append(nxt[0])
                        nxt[0] += 1
                if not batch:
                    return
                self._send_batch(host, port, batch, rcpt, timeout)

        ts = [threading.Thread(target=worker, daemon=True)
              for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout * (self.n // threads + 2))
        assert not any(t.is_alive() for t in ts), "sender threads hung"

    def _send_batch(self, host, port, batch, rcpt, timeout):
        s = None
        try:
            s = smtplib.SMTP(host, port, timeout=timeout)
            s.ehlo("bulk.client.test")
            for i in batch:
                try:
                    s.sendmail("sender@client.test", [rcpt], self.message(i))
                    code = 250
                except smtplib.SMTPResponseException as e:
                    code = "%d %r" % (e.smtp_code, e.smtp_error)
                except smtplib.SMTPRecipientsRefused as e:
                    code = "rcpt refused %r" % (e.recipients,)
                with self.lock:
                    self.results[i] = code
            s.quit()
        except (OSError, smtplib.SMTPException) as e:
            with self.lock:
                for i in batch:
                    self.results.setdefault(i, "exception %r" % e)
                self.errors.append(repr(e))
        finally:
            if s is not None:
                s.close()

    def failures(self):
        return {i: r for i, r in self.results.items() if r != 250} | \
            {i: "no result" for i in range(self.n) if i not in self.results}

    def index_of(self, data):
        m = ID_RE.search(data)
        assert m is not None, "no X-Test-Id in %r" % data[:300]
        tid = m.group(1).decode()
        assert tid.startswith(self.prefix + "-"), tid
        return int(tid.rsplit("-", 1)[1])


def check_spool_file(bulk, path, hostname="mx.test"):
    """Returns the message index of one spool file after checking it is
    exactly one Received field + the sent message."""
    sp = spool.read(path)
    i = bulk.index_of(sp.data)
    fields = spool.strip_prepended(sp.data, bulk.expected(i))
    assert [n for n, _ in fields] == ["received"], (path, fields)
    assert ("by " + hostname).encode() in fields[0][1], fields
    assert sp.meta["size"] == str(len(sp.data))
    return i


MAILDIR_PREFIX_FIELDS = {"return-path", "x-original-to", "delivered-to",
                         "received"}


def check_maildir_file(bulk, path, hostname="mx.test"):
    """One Postfix Maildir file: LF line ends back to CRLF, then the
    delivery fields (Return-Path, X-Original-To, Delivered-To, Postfix's
    Received) and mxedge's Received, then exactly the sent message.
    Returns the message index."""
    with open(path, "rb") as f:
        raw = f.read()
    assert b"\r" not in raw, "%s: Maildir file has CR bytes" % path
    data = raw.replace(b"\n", b"\r\n")
    i = bulk.index_of(data)
    fields = spool.strip_prepended(data, bulk.expected(i))
    names = [n for n, _ in fields]
    assert set(names) <= MAILDIR_PREFIX_FIELDS, (path, names)
    rcv = [raw_f for n, raw_f in fields if n == "received"]
    assert len(rcv) == 2, (path, fields)
    assert any(("by " + hostname).encode() in r for r in rcv), rcv
    return i


def count_ids(indexes, n):
    """(missing, duplicated) message indexes."""
    seen = {}
    for i in indexes:
        seen[i] = seen.get(i, 0) + 1
    missing = [i for i in range(n) if i not in seen]
    dup = [i for i, k in seen.items() if k != 1]
    return missing, dup


def env_int(name, default):
    v = os.environ.get(name)
    return int(v) if v else default
