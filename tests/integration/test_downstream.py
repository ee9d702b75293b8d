# SPDX-License-Identifier: BSD-3-Clause
"""Relay to a downstream MTA and its failures.

The downstream here is a scripted peer (mxit/scripted.py): a small SMTP
server in the test that answers normally except at the step the test
scripts. mxedge must reply to its client only after the downstream has
answered the final dot, map a downstream that is down, answers 4xx or
closes without a reply to 451, and a downstream 5xx to a 5xx. Real-MTA
relaying (Postfix) is in test_postfix.py."""

import pytest

from mxit import check, keys, proc, scripted, smtp

pytestmark = pytest.mark.asan

MSG = (b"From: <sender@client.test>\r\nSubject: relay\r\nX-Test-Id: relay\r\n"
       b"\r\nbody line\r\n.dotted line\r\n")


def _transaction(m, rcpts=("user@example.org",)):
    c, _ = smtp.greet(m.port, host=m.host)
    with c:
        replies = smtp.send_message(c, "sender@client.test", list(rcpts), MSG)
        c.cmd("QUIT")
    return replies


def _start(mx, mta_port, **kw):
    sets = [keys.kv(keys.TIMEOUT_REPLY, "3s")] + list(kw.pop("sets", []))
    return mx.start(downstream="%s:%d" % (mx.downstream_host(), mta_port),
                    sets=sets, **kw)


def test_relay_ok_reply_after_downstream(mx):
    port = proc.free_port()
    with scripted.ScriptedMTA(port, host=mx.downstream_host()) as mta:
        m = _start(mx, port)
        replies = _transaction(m, ["user@example.org", "u2@example.org"])
        assert [r.code for r in replies] == [250, 250, 250, 354, 250], replies
        # The 250 came after the downstream accepted: it is recorded there.
        with mta.lock:
            assert len(mta.accepted) == 1
            txn = mta.accepted[0]
        assert txn["mail"].startswith("MAIL FROM:<sender@client.test>")
        assert [r.split(":", 1)[1].split()[0] for r in txn["rcpts"]] == \
            ["<user@example.org>", "<u2@example.org>"]
        fields = check.spool.strip_prepended(txn["data"], MSG)
        assert [n for n, _ in fields] == ["received"], fields
        assert b"by mx.test" in fields[0][1]
        m.stop()


def test_downstream_not_listening(mx):
    port = proc.free_port()   # nobody listens here
    m = _start(mx, port)
    replies = _transaction(m)
    codes = [r.code for r in replies]
    assert codes[-1] == 451, replies
    assert 250 not in codes[3:], replies


SCRIPTS = [
    # (step, downstream reply, expected reply class to our client)
    ("MAIL", "451 4.3.0 scripted tempfail", 4),
    ("RCPT", "452 4.2.2 scripted mailbox full", 4),
    ("DOT", "451 4.3.0 scripted tempfail", 4),
    ("GREETING", "421 4.3.2 scripted busy", 4),
    ("MAIL", "550 5.7.1 scripted policy", 5),
    ("RCPT", "550 5.1.1 scripted no such user", 5),
    ("DOT", "554 5.7.1 scripted content refused", 5),
]


@pytest.mark.parametrize("step,reply,cls", SCRIPTS,
                         ids=["%s_%s" % (s[0].lower(), s[1][:3])
                              for s in SCRIPTS])
def test_downstream_replies(mx, step, reply, cls):
    port = proc.free_port()
    with scripted.ScriptedMTA(port, fail_at=step, fail_reply=reply,
                              host=mx.downstream_host()) as mta:
        m = _start(mx, port)
        replies = _transaction(m)
        codes = [r.code for r in replies]
        # The failure reaches the client at RCPT or at the end of data,
        # depending on when mxedge talks to the downstream; either way the
        # message is not acknowledged.
        assert codes[-1] != 250, replies
        bad = [r for r in replies if r.code // 100 in (4, 5)]
        assert bad and bad[0].code // 100 == cls, replies
        if cls == 4:
            ok = (451, 452) if step == "RCPT" else (451,)
            assert bad[0].code in ok, replies
        with mta.lock:
            assert mta.accepted == []
        m.stop()


def test_downstream_closes_after_dot(mx):
    port = proc.free_port()
    with scripted.ScriptedMTA(port, fail_at="CLOSE_AFTER_DOT",
                              host=mx.downstream_host()) as mta:
        m = _start(mx, port)
        replies = _transaction(m)
        assert replies[-1].code == 451, replies
        with mta.lock:
            # It did get the whole message; it just never said 250.
            assert len(mta.received) == 1
        m.stop()
