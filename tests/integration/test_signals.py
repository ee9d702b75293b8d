# SPDX-License-Identifier: BSD-3-Clause
"""Signals: SIGHUP reloads the configuration file (running sessions keep
the snapshot they started with, new sessions get the new one) and reopens
the verdict log; SIGTERM drains: idle sessions get 421 at once, a session in
the middle of DATA finishes its transaction with 250 and then gets 421, no
new connection is taken, and the process exits 0."""

import os
import signal
import socket
import time

import pytest

from mxit import check, config, proc, smtp

pytestmark = pytest.mark.asan


def _rcpt_limit_seen(m, n):
    """Sends n+1 RCPTs in a new session; returns the code of the last."""
    c, _ = smtp.greet(m.port, host=m.host)
    with c:
        c.send(b"MAIL FROM:<a@client.test>\r\n" + b"".join(
            b"RCPT TO:<r%d@example.org>\r\n" % i for i in range(n + 1)))
        codes = [c.read_reply().code for _ in range(n + 2)]
        c.cmd("QUIT")
    assert codes[:-1] == [250] * (n + 1), codes
    return codes[-1]


def _wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.1)


def test_sighup_reload(mx, tmp_path):
    port = proc.free_port()
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    vlog = tmp_path / "verdict.log"
    cfg = tmp_path / "mxedge.yaml"
    config.write(cfg, config.sections(port, spool=str(spool_dir),
                                      vlog=str(vlog),
                                      smtp={"max_recipients": 150},
                                      tap=mx.config_tap()))
    m = mx.start_config(cfg, port, spool_dir=spool_dir, vlog_path=vlog)

    # A session that started under max_recipients=150.
    old, _ = smtp.greet(port, host=m.host)
    with old:
        assert old.cmd("MAIL FROM:<a@client.test>").code == 250
        for i in range(100):
            old.send(b"RCPT TO:<o%d@example.org>\r\n" % i)
        assert [old.read_reply().code for _ in range(100)] == [250] * 100

        config.write(cfg, config.sections(port, spool=str(spool_dir),
                                          vlog=str(vlog),
                                          smtp={"max_recipients": 100},
                                          tap=m.tap))
        os.rename(vlog, str(vlog) + ".1")   # logrotate-style
        m.signal(signal.SIGHUP)
        # New sessions see the new limit once the reload is through.
        _wait_for(lambda: _rcpt_limit_seen(m, 100) == 452, 15,
                  "the new max_recipients in new sessions")

        # The old session keeps working with its own snapshot (150).
        for i in range(100, 150):
            old.send(b"RCPT TO:<o%d@example.org>\r\n" % i)
        assert [old.read_reply().code for _ in range(50)] == [250] * 50
        r = old.cmd("RCPT TO:<o150@example.org>")
        assert r.code == 452, r
        msg = b"Subject: old session\r\n\r\nstill here\r\n"
        assert old.cmd("DATA").code == 354
        old.send(smtp.dot_stuff(msg))
        assert old.read_reply().code == 250
        assert old.cmd("QUIT").code == 221

    (sp,) = check.spool_messages(m, 1)
    assert len(sp.rcpts) == 150
    check.assert_spooled_exact(sp, msg)
    # The verdict log was reopened: the new lines are in a new file.
    lines = check.read_vlog(str(vlog), 1)
    assert any(x.get("id") == sp.id for x in lines), lines
    assert m.stop() == 0


def test_sighup_with_broken_file_keeps_running(mx, tmp_path):
    port = proc.free_port()
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    cfg = tmp_path / "mxedge.yaml"
    config.write(cfg, config.sections(port, spool=str(spool_dir),
                                      tap=mx.config_tap()))
    m = mx.start_config(cfg, port, spool_dir=spool_dir)
    with open(cfg, "a") as f:
        f.write("smtp:\n  no_such_key: 1\n  max_recipients: many\n")
    m.signal(signal.SIGHUP)
    # The old configuration stays in force and mail still flows.
    c, _ = smtp.greet(port, host=m.host)
    with c:
        msg = b"Subject: after bad reload\r\n\r\nok\r\n"
        assert smtp.send_message(c, "a@client.test", ["user@example.org"],
                                 msg)[-1].code == 250
    assert m.running()
    assert m.stop() == 0


def test_sigterm_idle_session_gets_421(mx):
    m = mx.start()
    c, _ = smtp.greet(m.port, host=m.host)
    with c:
        m.signal(signal.SIGTERM)
        r = c.read_reply(timeout=20)
        assert r is not None and r.code == 421, r
        assert r.lines[0].startswith("4.3.2"), r
        c.wait_closed()
    assert m.wait(30) == 0


def _refused(m):
    """True once the server no longer greets new connections (refused, or
    accepted and told 421 / closed). A 220 means the probe came before the
    signal was handled: not yet."""
    try:
        with socket.create_connection((m.host, m.port), timeout=5) as s:
            s.settimeout(5)
            try:
                data = s.recv(512)
            except ConnectionResetError:
                return True
            return not data.startswith(b"220")
    except ConnectionRefusedError:
        return True


def test_sigterm_during_data(mx):
    m = mx.start()
    c, _ = smtp.greet(m.port, host=m.host)
    with c:
        assert c.cmd("MAIL FROM:<a@client.test>").code == 250
        assert c.cmd("RCPT TO:<user@example.org>").code == 250
        assert c.cmd("DATA").code == 354
        head = b"Subject: drain\r\n\r\n" + b"first half\r\n" * 1000
        c.send(head)
        m.signal(signal.SIGTERM)
        # Draining has begun once new connections are no longer greeted.
        _wait_for(lambda: _refused(m), 15, "listener to stop")
        tail = b"second half\r\n" * 1000
        c.send(tail + b".\r\n")
        replies = c.replies_until_close(timeout=30)
        codes = [r.code for r in replies]
        assert codes == [250, 421], replies
    assert m.wait(30) == 0
    (sp,) = check.spool_messages(m, 1)
    check.assert_spooled_exact(sp, head + tail)
