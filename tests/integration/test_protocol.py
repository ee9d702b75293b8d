# SPDX-License-Identifier: BSD-3-Clause
"""SMTP protocol behaviour with Python's smtplib and raw sockets against a
real mxedge (kernel transport, spool delivery): greeting, EHLO extensions,
SIZE, SMTPUTF8 (RFC 6531), BDAT with pipelined chunks (RFC 3030), the
informational commands, command sequencing and relay denial. Every accepted
message is checked byte for byte in the spool."""

import smtplib

import pytest

from mxit import check, keys, msggen, smtp

pytestmark = pytest.mark.asan

EXTENSIONS = ("PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8",
              "ENHANCEDSTATUSCODES", "CHUNKING")


def test_greeting_names_hostname(mx):
    m = mx.start()
    with smtp.Conn(m.port, host=m.host) as c:
        r = c.expect(220)
        assert r.lines[0].split()[0] == "mx.test", r
        assert c.cmd("QUIT").code == 221
        c.wait_closed()


def test_ehlo_advertises_extensions(mx):
    m = mx.start(sets=[keys.kv(keys.MAX_MESSAGE_SIZE, "123456")])
    c, r = smtp.greet(m.port, host=m.host)
    with c:
        kw = smtp.ehlo_keywords(r)
        for ext in EXTENSIONS:
            assert ext in kw, "EHLO lacks %s: %r" % (ext, r.lines)
        assert kw["SIZE"] == "123456", r.lines
        assert r.lines[0].split()[0] == "mx.test"
    s = smtplib.SMTP(m.host, m.port, timeout=15)
    try:
        code, _ = s.ehlo("client.test")
        assert code == 250
        for ext in EXTENSIONS:
            assert s.has_extn(ext), ext
        assert int(s.esmtp_features["size"]) == 123456
    finally:
        s.quit()


def test_helo_is_accepted_without_extensions(mx):
    m = mx.start()
    with smtp.Conn(m.port, host=m.host) as c:
        c.expect(220)
        r = c.cmd("HELO client.test")
        assert r.code == 250 and len(r.lines) == 1, r


def test_smtplib_delivery_is_spooled_exactly(mx):
    m = mx.start()
    msg, _ = msggen.message(msggen.Pool(), "proto-1", 3000, 1)
    s = smtplib.SMTP(m.host, m.port, timeout=15)
    try:
        s.ehlo("client.test")
        refused = s.sendmail("sender@client.test",
                             ["user@example.org", "Other@EXAMPLE.org"], msg)
        assert refused == {}
    finally:
        s.quit()
    (sp,) = check.spool_messages(m, 1)
    check.assert_spooled_exact(sp, msg)
    assert sp.meta["mail-from"] == "sender@client.test"
    assert sp.rcpts == ["user@example.org", "Other@EXAMPLE.org"]
    assert sp.meta["helo"] == "client.test"
    assert sp.meta["client"].startswith(m.client_addr(0))
    assert int(sp.meta["size"]) == len(sp.data)


def test_size_parameter(mx):
    m = mx.start(sets=[keys.kv(keys.MAX_MESSAGE_SIZE, "10000")])
    c, _ = smtp.greet(m.port, host=m.host)
    with c:
        r = c.cmd("MAIL FROM:<a@client.test> SIZE=9000")
        assert r.code == 250, r
        assert c.cmd("RSET").code == 250
        r = c.cmd("MAIL FROM:<a@client.test> SIZE=10001")
        assert r.code == 552 and r.lines[0].startswith("5.3.4"), r
        # The session goes on after the refusal.
        assert c.cmd("NOOP").code == 250
    assert check.spool_messages(m, 0) == []


def test_smtputf8_local_parts(mx):
    m = mx.start()
    sender = "δοκιμή@client.test"
    rcpt = "用户@example.org"
    body = ("Subject: =?utf-8?q?utf8?=\r\nX-Test-Id: utf8\r\n\r\n"
            "Grüße, 世界\r\n").encode()
    s = smtplib.SMTP(m.host, m.port, timeout=15)
    try:
        s.ehlo("client.test")
        assert s.has_extn("smtputf8")
        refused = s.sendmail(sender, [rcpt], body,
                             mail_options=["SMTPUTF8", "BODY=8BITMIME"])
        assert refused == {}
    finally:
        s.quit()
    (sp,) = check.spool_messages(m, 1)
    check.assert_spooled_exact(sp, body)
    assert sp.meta["mail-from"] == sender
    assert sp.rcpts == [rcpt]


def test_utf8_address_needs_smtputf8(mx):
    m = mx.start()
    c, _ = smtp.greet(m.port, host=m.host)
    with c:
        # RFC 6531 3.4: a non-ASCII path only with the SMTPUTF8 parameter.
        r = c.cmd("MAIL FROM:<δοκιμή@client.test>".encode())
        assert r.cls == 5, r
        assert c.cmd("MAIL FROM:<a@client.test>").code == 250
        r = c.cmd("RCPT TO:<用户@example.org>".encode())
        assert r.cls == 5, r
        assert c.cmd("NOOP").code == 250
    assert check.spool_messages(m, 0) == []


BDAT_CHUNKS = [
    b"Subject: bdat\r\nX-Test-Id: bdat-1\r\n\r\n",
    # Dots at line starts are data in BDAT (no stuffing, RFC 3030 2).
    b".leading dot\r\n..two dots\r\n.\r\nnot the end\r\n",
    b"",
    b"x" * 70000 + b"\r\n",
    b"last chunk\r\n",
]


def test_bdat_pipelined_chunks(mx):
    m = mx.start()
    c, r = smtp.greet(m.port, host=m.host)
    with c:
        assert "CHUNKING" in smtp.ehlo_keywords(r)
        wire = b"MAIL FROM:<a@client.test>\r\nRCPT TO:<user@example.org>\r\n"
        for i, chunk in enumerate(BDAT_CHUNKS):
            last = b" LAST" if i == len(BDAT_CHUNKS) - 1 else b""
            wire += b"BDAT %d%s\r\n" % (len(chunk), last) + chunk
        c.send(wire)
        codes = [c.read_reply().code for _ in range(2 + len(BDAT_CHUNKS))]
        assert codes == [250] * (2 + len(BDAT_CHUNKS)), c.dump()
        assert c.cmd("QUIT").code == 221
    (sp,) = check.spool_messages(m, 1)
    check.assert_spooled_exact(sp, b"".join(BDAT_CHUNKS))


def test_bdat_zero_last_and_data_after_bdat(mx):
    m = mx.start()
    c, _ = smtp.greet(m.port, host=m.host)
    with c:
        msg = b"Subject: b2\r\n\r\nbody\r\n"
        c.send(b"MAIL FROM:<a@client.test>\r\nRCPT TO:<user@example.org>\r\n"
               b"BDAT %d\r\n" % len(msg) + msg + b"BDAT 0 LAST\r\n")
        assert [c.read_reply().code for _ in range(4)] == [250] * 4
        # RFC 3030 3: DATA may not be mixed into a BDAT transaction, but a
        # fresh transaction after it may use DATA.
        assert smtp.send_message(c, "a@client.test", ["user@example.org"],
                                 msg)[-1].code == 250
    msgs = check.spool_messages(m, 2)
    for sp in msgs:
        check.assert_spooled_exact(sp, msg)


def test_data_inside_bdat_transaction_is_refused(mx):
    m = mx.start()
    c, _ = smtp.greet(m.port, host=m.host)
    with c:
        c.send(b"MAIL FROM:<a@client.test>\r\nRCPT TO:<user@example.org>\r\n"
               b"BDAT 5\r\nabc\r\n")
        assert [c.read_reply().code for _ in range(3)] == [250] * 3
        r = c.cmd("DATA")
        assert r.code == 503, r
    assert check.spool_messages(m, 0) == []


INFO_COMMANDS = [
    # (command, accepted reply codes)
    ("NOOP", (250,)),
    ("noop with an argument", (250,)),
    ("RSET", (250,)),
    ("HELP", (211, 214)),          # RFC 5321 4.1.1.8
    ("VRFY user@example.org", (252, 502)),   # 3.5.3: 252 or not offered
    ("EXPN staff", (252, 502, 550)),
]


@pytest.mark.parametrize("line,codes", INFO_COMMANDS,
                         ids=[c[0].split()[0] + str(i)
                              for i, c in enumerate(INFO_COMMANDS)])
def test_informational_commands(mx, line, codes):
    m = mx.start()
    c, _ = smtp.greet(m.port, host=m.host)
    with c:
        r = c.cmd(line)
        assert r.code in codes, r
        # Each is harmless: the session then delivers normally.
        msg = b"Subject: after %s\r\n\r\nok\r\n" % line.split()[0].encode()
        assert smtp.send_message(c, "a@client.test", ["user@example.org"],
                                 msg)[-1].code == 250
        assert c.cmd("QUIT").code == 221
        c.wait_closed()
    (sp,) = check.spool_messages(m, 1)
    check.assert_spooled_exact(sp, msg)


SEQUENCE_ERRORS = [
    # (commands sent in order, accepted codes of the last one)
    (["DATA"], (503,)),
    (["RCPT TO:<user@example.org>"], (503,)),
    (["MAIL FROM:<a@client.test>", "MAIL FROM:<b@client.test>"], (503,)),
    (["MAIL FROM:<a@client.test>", "DATA"], (503, 554)),
    (["MAIL FROM:<a@client.test>", "RCPT TO:<user@example.org>", "RSET",
      "DATA"], (503,)),
    # RFC 3030 2: the chunk is read, then refused ("abc" CRLF = 5 bytes).
    (["BDAT 5 LAST\r\nabc"], (503,)),
    # RFC 5321 4.1.2: the path needs its angle brackets.
    (["MAIL FROM:a@client.test"], (501, 553, 555)),
    (["FROB"], (500, 502)),
]


@pytest.mark.parametrize("cmds,codes", SEQUENCE_ERRORS,
                         ids=["_".join(x.split()[0] for x in c[0])
                              for c in SEQUENCE_ERRORS])
def test_bad_sequence(mx, cmds, codes):
    m = mx.start()
    c, _ = smtp.greet(m.port, host=m.host)
    with c:
        for line in cmds[:-1]:
            assert c.cmd(line).cls == 2
        r = c.cmd(cmds[-1])
        assert r.code in codes, r
        assert r.lines[0][:2] == "5.", "no enhanced code: %r" % r
    assert check.spool_messages(m, 0) == []


def test_mail_before_ehlo_is_refused(mx):
    m = mx.start()
    with smtp.Conn(m.port, host=m.host) as c:
        c.expect(220)
        assert c.cmd("MAIL FROM:<a@client.test>").code == 503


def test_relay_denied(mx):
    m = mx.start()
    s = smtplib.SMTP(m.host, m.port, timeout=15)
    try:
        s.ehlo("client.test")
        s.mail("a@client.test")
        code, text = s.rcpt("victim@elsewhere.test")
        assert code == 550 and text.startswith(b"5.7.1"), (code, text)
        # A local recipient in the same transaction still works.
        code, _ = s.rcpt("user@example.org")
        assert code == 250
        code, _ = s.data(b"Subject: r\r\n\r\nbody\r\n")
        assert code == 250
    finally:
        s.quit()
    (sp,) = check.spool_messages(m, 1)
    assert sp.rcpts == ["user@example.org"]


def test_ehlo_pipelining_is_accepted(mx):
    m = mx.start()
    c, _ = smtp.greet(m.port, host=m.host)
    with c:
        msg = b"Subject: p\r\n\r\npipelined\r\n"
        c.send(b"MAIL FROM:<a@client.test>\r\nRCPT TO:<user@example.org>\r\n"
               b"RCPT TO:<u2@example.org>\r\nDATA\r\n")
        assert [c.read_reply().code for _ in range(4)] == [250, 250, 250, 354]
        c.send(smtp.dot_stuff(msg) + b"QUIT\r\n")
        assert [r.code for r in c.replies_until_close()] == [250, 221]
    (sp,) = check.spool_messages(m, 1)
    check.assert_spooled_exact(sp, msg)
    assert sp.rcpts == ["user@example.org", "u2@example.org"]
