# SPDX-License-Identifier: BSD-3-Clause
"""Every limit of the SMTP receiver with a negative test (and, where a
boundary exists, the positive case beside it): command line length, message
size, recipients, errors, idle timeouts, connections in total and per
client, early talkers, and pipelining without the PIPELINING extension.
Limits are made small with --set so each test is quick; no assertion is on
time, only on the replies and on what reached the spool."""

import socket
import time

import pytest

from mxit import check, keys, smtp

pytestmark = pytest.mark.asan


def noop_line(total):
    """A NOOP command line of exactly `total` bytes including CRLF."""
    return b"NOOP " + b"a" * (total - 7)


def test_command_line_limit(mx):
    m = mx.start()
    c, _ = smtp.greet(m.port, host=m.host)
    with c:
        # RFC 5321 4.5.3.1.4: 512 octets including CRLF is the maximum.
        r = c.cmd(noop_line(512))
        assert r.code == 250, r
        r = c.cmd(noop_line(513))
        assert r.code == 500 and r.lines[0].startswith("5.5.2"), r
        r = c.cmd(noop_line(4000))
        assert r.code == 500 and r.lines[0].startswith("5.5.2"), r
        # The parser resynchronised at the line end.
        assert c.cmd("NOOP").code == 250


def test_message_size_limit_at_end_of_data(mx):
    m = mx.start(sets=[keys.kv(keys.MAX_MESSAGE_SIZE, "20000")])
    c, _ = smtp.greet(m.port, host=m.host)
    with c:
        small = b"Subject: s\r\n\r\n" + b"y" * 70 + b"\r\n"
        big = b"Subject: b\r\n\r\n" + (b"z" * 98 + b"\r\n") * 300
        r = smtp.send_message(c, "a@client.test", ["user@example.org"], big)
        assert r[-1].code == 552 and r[-1].lines[0].startswith("5.3.4"), r
        r = smtp.send_message(c, "a@client.test", ["user@example.org"], small)
        assert r[-1].code == 250, r
    (sp,) = check.spool_messages(m, 1)
    check.assert_spooled_exact(sp, small)


def test_message_size_limit_bdat(mx):
    m = mx.start(sets=[keys.kv(keys.MAX_MESSAGE_SIZE, "20000")])
    c, _ = smtp.greet(m.port, host=m.host)
    with c:
        chunk = (b"z" * 98 + b"\r\n") * 150
        c.send(b"MAIL FROM:<a@client.test>\r\nRCPT TO:<user@example.org>\r\n")
        assert [c.read_reply().code for _ in range(2)] == [250, 250]
        c.send(b"BDAT %d\r\n" % len(chunk) + chunk)
        first = c.read_reply()
        c.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
        last = c.read_reply()
        # The excess is found at the second chunk at the latest.
        assert 552 in (first.code, last.code), (first, last)
        bad = first if first.code == 552 else last
        assert bad.lines[0].startswith("5.3.4"), bad
        assert c.cmd("NOOP").code == 250
    assert check.spool_messages(m, 0) == []


def test_recipient_limit(mx):
    # RFC 5321 4.5.3.1.8: the limit may not be set below 100.
    m = mx.start(sets=[keys.kv(keys.MAX_RECIPIENTS, "100")])
    c, _ = smtp.greet(m.port, host=m.host)
    with c:
        rcpts = ["u%03d@example.org" % i for i in range(101)]
        c.send(b"MAIL FROM:<a@client.test>\r\n" +
               b"".join(b"RCPT TO:<%s>\r\n" % r.encode() for r in rcpts))
        replies = [c.read_reply() for _ in range(102)]
        assert [r.code for r in replies[:101]] == [250] * 101, c.dump()
        last = replies[-1]
        assert last.code == 452 and last.lines[0].startswith("4.5.3"), last
        assert c.cmd("DATA").code == 354
        msg = b"Subject: hundred\r\n\r\nbody\r\n"
        c.send(smtp.dot_stuff(msg))
        assert c.read_reply().code == 250
    (sp,) = check.spool_messages(m, 1)
    assert sp.rcpts == rcpts[:100]
    check.assert_spooled_exact(sp, msg)


def test_error_limit_closes_with_421(mx):
    m = mx.start(sets=[keys.kv(keys.MAX_ERRORS, "3")])
    c, _ = smtp.greet(m.port, host=m.host)
    with c:
        replies = []
        for i in range(6):
            try:
                r = c.cmd("FROB%d" % i)
            except OSError:
                r = None
            if r is None:
                break
            replies.append(r)
            if r.code == 421:
                break
        codes = [r.code for r in replies]
        assert codes and codes[-1] == 421, codes
        assert all(x // 100 == 5 for x in codes[:-1]), codes
        assert len(codes) - 1 <= 3, codes
        c.wait_closed()


def test_idle_timeout_after_ehlo(mx):
    m = mx.start(sets=[keys.kv(keys.TIMEOUT_COMMAND, "1s")])
    c, _ = smtp.greet(m.port, host=m.host)
    with c:
        r = c.read_reply(timeout=20)
        assert r is not None and r.code == 421, r
        assert r.lines[0].startswith("4.4.2"), r
        c.wait_closed()


def test_idle_timeout_before_ehlo(mx):
    m = mx.start(sets=[keys.kv(keys.TIMEOUT_GREETING, "1s"),
                       keys.kv(keys.TIMEOUT_COMMAND, "1s")])
    with smtp.Conn(m.port, host=m.host) as c:
        c.expect(220)
        r = c.read_reply(timeout=20)
        assert r is not None and r.code == 421, r
        assert r.lines[0].startswith("4.4.2"), r
        c.wait_closed()


def test_data_timeout(mx):
    m = mx.start(sets=[keys.kv(keys.TIMEOUT_DATA, "1s")])
    c, _ = smtp.greet(m.port, host=m.host)
    with c:
        assert c.cmd("MAIL FROM:<a@client.test>").code == 250
        assert c.cmd("RCPT TO:<user@example.org>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(b"Subject: stalled\r\n\r\npart of a li")
        r = c.read_reply(timeout=20)
        assert r is not None and r.code == 421, r
        assert r.lines[0].startswith("4.4.2"), r
        c.wait_closed()
    assert check.spool_messages(m, 0) == []


def _greeted(m, source, timeout=10.0):
    """A connection that got its 220. The server frees a closed session's
    slot right after the close the client sees, so a 421 right after a
    close is retried (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        c = smtp.Conn(m.port, host=m.host, source=source)
        r = c.read_reply()
        if r is not None and r.code == 220:
            return c
        c.close()
        assert r is not None and r.code == 421, r
        assert time.monotonic() < deadline, "no slot freed within %.0fs" % (
            timeout)
        time.sleep(0.05)


def _expect_refused(m, source):
    with smtp.Conn(m.port, host=m.host, source=source) as c:
        r = c.read_reply()
        assert r is not None and r.code == 421, r
        c.wait_closed()


def test_total_connection_limit(mx):
    m = mx.start(sets=[keys.kv(keys.MAX_CONNECTIONS, "2"),
                       keys.kv(keys.MAX_CONNECTIONS_PER_CLIENT, "2")])
    a = _greeted(m, m.client_addr(0))
    b = _greeted(m, m.client_addr(1))
    try:
        _expect_refused(m, m.client_addr(2))
        # Sessions already in place are unaffected.
        assert a.cmd("EHLO a.test").code == 250
        assert b.cmd("EHLO b.test").code == 250
        assert a.cmd("QUIT").code == 221
        a.wait_closed()
    finally:
        a.close()
    # The slot is free again once the server has closed that session.
    with _greeted(m, m.client_addr(2)) as c:
        assert c.cmd("NOOP").code == 250
    b.close()


def test_per_client_connection_limit(mx):
    m = mx.start(sets=[keys.kv(keys.MAX_CONNECTIONS_PER_CLIENT, "1")])
    a = _greeted(m, m.client_addr(0))
    try:
        _expect_refused(m, m.client_addr(0))
        with smtp.Conn(m.port, host=m.host, source=m.client_addr(1)) as other:
            other.expect(220)
        assert a.cmd("NOOP").code == 250
    finally:
        a.close()


def test_early_talker_is_refused(mx):
    m = mx.start(sets=[keys.kv(keys.GREETING_DELAY, "1s")])
    with smtp.Conn(m.port, host=m.host) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.send(b"EHLO eager.test\r\n")
        replies = c.replies_until_close()
        codes = [r.code for r in replies]
        assert codes and codes[0] == 554, codes
        assert 220 not in codes and 250 not in codes, codes
    # A patient client gets its greeting after the delay.
    with smtp.Conn(m.port, host=m.host) as c:
        c.expect(220)
        assert c.cmd("EHLO patient.test").code == 250


def test_pipelining_after_helo_is_refused(mx):
    m = mx.start()
    with smtp.Conn(m.port, host=m.host) as c:
        c.expect(220)
        assert c.cmd("HELO client.test").code == 250
        # RFC 2920 3.1: without PIPELINING offered (HELO), a client must
        # wait for each reply; a burst is the mark of a spam engine.
        c.send(b"MAIL FROM:<a@client.test>\r\nRCPT TO:<user@example.org>\r\n"
               b"DATA\r\n")
        r = c.read_reply()
        assert r is not None and r.code == 554, c.dump()
        assert r.lines[0].startswith("5.5.0"), r
    assert check.spool_messages(m, 0) == []
