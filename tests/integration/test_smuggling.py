# SPDX-License-Identifier: BSD-3-Clause
"""SMTP smuggling: end-of-data look-alikes made with bare LF or bare CR.

A client hides a second transaction behind a sequence that some receivers
take for the end of data (<LF>.<LF>, <CR><LF>.<LF>, <LF>.<CR><LF>,
<CR>.<CR><LF>, <CR><LF>.<CR>, bare CR). mxedge must only ever end the data at
<CR><LF>.<CR><LF> (RFC 5321 4.1.1.4), so the hidden commands stay data:
by default the whole message is refused with a 5xx (bare LF/CR rejected);
with smtp.bare_lf=normalize it is delivered as ONE message whose bytes
contain the hidden MAIL FROM text, never as a second message. Each case is
sent in one write and again split into one-byte writes around the sequence,
so the receiver's parser must get it right across segment boundaries."""

import socket

import pytest

from mxit import check, keys, smtp

pytestmark = pytest.mark.asan

SEQUENCES = {
    "lf_dot_lf": b"\n.\n",
    "crlf_dot_lf": b"\r\n.\n",
    "lf_dot_crlf": b"\n.\r\n",
    "cr_dot_crlf": b"\r.\r\n",
    "cr_dot_cr": b"\r.\r",
    "crlf_dot_cr": b"\r\n.\r",
    "bare_cr_lines": b"\r",
}

HIDDEN = (b"MAIL FROM:<evil@attacker.test>\r\n"
          b"RCPT TO:<victim@example.org>\r\n"
          b"DATA\r\n"
          b"Subject: smuggled\r\n\r\nsmuggled body\r\n")
HEAD = b"Subject: smuggling test\r\nX-Test-Id: smuggle\r\n\r\nfirst part"


def _session(m, seq, split):
    """Runs one transaction with the smuggling payload; returns the replies
    after the 354 (until the server closes after our QUIT)."""
    c, _ = smtp.greet(m.port, host=m.host)
    with c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        assert c.cmd("MAIL FROM:<sender@client.test>").code == 250
        assert c.cmd("RCPT TO:<user@example.org>").code == 250
        assert c.cmd("DATA").code == 354
        tail = HIDDEN + b".\r\n"
        if split:
            c.send(HEAD)
            for i in range(len(seq)):
                c.send(seq[i:i + 1])
            for i in range(0, 12):
                c.send(tail[i:i + 1])
            c.send(tail[12:])
        else:
            c.send(HEAD + seq + tail)
        final = c.read_reply()
        c.send(b"QUIT\r\n")
        rest = c.replies_until_close()
    return [final] + rest


@pytest.mark.parametrize("split", [False, True], ids=["one_write", "split"])
@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_smuggling_refused_by_default(mx, name, split):
    m = mx.start()
    replies = _session(m, SEQUENCES[name], split)
    codes = [r.code if r else None for r in replies]
    # One 5xx for the whole data, then our QUIT's 221: no reply to any
    # hidden command, so no second transaction was ever started.
    assert len(codes) == 2 and codes[0] // 100 == 5 and codes[1] == 221, \
        replies
    assert check.spool_messages(m, 0) == []


@pytest.mark.parametrize("split", [False, True], ids=["one_write", "split"])
@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_smuggling_normalized_is_one_message(mx, name, split):
    m = mx.start(sets=[keys.kv(keys.BARE_LF, "normalize")])
    replies = _session(m, SEQUENCES[name], split)
    codes = [r.code if r else None for r in replies]
    assert codes == [250, 221], replies
    (sp,) = check.spool_messages(m, 1)
    assert sp.rcpts == ["user@example.org"]
    assert sp.meta["mail-from"] == "sender@client.test"
    # The hidden commands are message content, with CRLF line ends only.
    assert b"MAIL FROM:<evil@attacker.test>" in sp.data
    assert b"smuggled body" in sp.data
    assert check.no_bare_cr_lf(sp.data), sp.data
    assert sp.data.endswith(b"smuggled body\r\n")


def test_plain_crlf_dot_crlf_still_ends_data(mx):
    """Control case: the real terminator ends the data, and what follows is
    a second, separate transaction, as RFC 5321 says."""
    m = mx.start()
    c, _ = smtp.greet(m.port, host=m.host)
    with c:
        assert c.cmd("MAIL FROM:<sender@client.test>").code == 250
        assert c.cmd("RCPT TO:<user@example.org>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(HEAD + b"\r\n.\r\n")
        assert c.read_reply().code == 250
        assert c.cmd("QUIT").code == 221
    (sp,) = check.spool_messages(m, 1)
    check.assert_spooled_exact(sp, HEAD + b"\r\n")
