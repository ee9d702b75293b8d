# SPDX-License-Identifier: BSD-3-Clause
"""The verdict log and the metrics endpoint.

Every transaction (accepted, refused at end of data, refused at RCPT)
writes one JSON line with the documented fields; the Prometheus endpoint
serves mxedge_* counters that move with the traffic (connections,
transactions, replies by class)."""

import re
import time

import pytest

from mxit import check, keys, smtp

pytestmark = pytest.mark.asan

FIELDS = ("ts", "id", "session", "client", "helo", "tls", "mail_from",
          "rcpt", "size", "checks", "verdict", "reply", "delivery",
          "timings_ms")


def _check_common(line, helo, src):
    """src: the client socket's own (address, port)."""
    for f in FIELDS:
        assert f in line, "field %s missing: %r" % (f, line)
    assert line["client"]["ip"] == src[0], line
    assert line["client"]["port"] == src[1], line
    assert line["helo"] == helo
    assert line["tls"] is None
    # Checks not built yet say "none" (more may be listed as they come).
    for k in ("spf", "dkim", "dmarc", "content"):
        assert line["checks"][k] == "none", line
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", line["ts"]), line
    assert isinstance(line["timings_ms"], (dict, int, float)), line
    assert isinstance(line["size"], int)
    assert isinstance(line["rcpt"], list)


def test_verdict_log_lines(mx):
    m = mx.start(sets=[keys.kv(keys.MAX_MESSAGE_SIZE, "2000")])
    msg = b"Subject: vlog\r\nX-Test-Id: vlog\r\n\r\naccepted\r\n"
    big = b"Subject: big\r\n\r\n" + b"b" * 98 + b"\r\n" + \
        (b"c" * 98 + b"\r\n") * 30
    c, _ = smtp.greet(m.port, host=m.host, ehlo="vlog.client.test")
    src = c.sock.getsockname()
    with c:
        # 1: accepted.
        r = smtp.send_message(c, "s1@client.test",
                              ["user@example.org", "u2@example.org"], msg)
        assert r[-1].code == 250
        # 2: refused at end of data (size).
        r = smtp.send_message(c, "s2@client.test", ["user@example.org"], big)
        assert r[-1].code == 552
        assert c.cmd("QUIT").code == 221
    lines = check.read_vlog(m.vlog_path, 2)
    by_from = {x["mail_from"]: x for x in lines}
    assert set(by_from) == {"s1@client.test", "s2@client.test"}, lines
    for x in lines:
        _check_common(x, "vlog.client.test", src)
    assert len({x["session"] for x in lines}) == 1, lines

    (sp,) = check.spool_messages(m, 1)
    ok = by_from["s1@client.test"]
    assert ok["id"] == sp.id
    assert ok["rcpt"] == ["user@example.org", "u2@example.org"]
    assert ok["verdict"] == "accept"
    assert ok["reply"].startswith("250")
    assert ok["delivery"] == "spool"
    assert ok["size"] in (len(msg), len(sp.data)), (ok["size"], len(msg))

    rej = by_from["s2@client.test"]
    assert rej["verdict"] == "reject", rej
    assert rej["reply"].startswith("552"), rej
    assert rej["id"] != ok["id"]


def test_verdict_log_relay_denied_transaction(mx):
    m = mx.start()
    c, _ = smtp.greet(m.port, host=m.host, ehlo="denied.client.test")
    src = c.sock.getsockname()
    with c:
        assert c.cmd("MAIL FROM:<s3@client.test>").code == 250
        assert c.cmd("RCPT TO:<x@elsewhere.test>").code == 550
        assert c.cmd("RSET").code == 250
        assert c.cmd("QUIT").code == 221
    (den,) = check.read_vlog(m.vlog_path, 1)
    _check_common(den, "denied.client.test", src)
    assert den["mail_from"] == "s3@client.test"
    assert den["verdict"] == "reject", den
    assert den["reply"].startswith("550"), den


def test_metrics_counters_move(mx):
    m = mx.start(metrics=True)
    text, before = check.metrics(m.metrics_port)
    assert re.search(r"^# TYPE mxedge_\w+ counter$", text, re.M), text
    assert all(k.startswith("mxedge_") for k in before), sorted(before)

    c, _ = smtp.greet(m.port, host=m.host)
    with c:
        msg = b"Subject: m\r\n\r\nmetrics\r\n"
        assert smtp.send_message(c, "a@client.test", ["user@example.org"],
                                 msg)[-1].code == 250
        assert c.cmd("MAIL FROM:<b@client.test>").code == 250
        assert c.cmd("RCPT TO:<x@elsewhere.test>").code == 550
        assert c.cmd("FROB").code == 500
        assert c.cmd("QUIT").code == 221
        c.wait_closed()
    with smtp.Conn(m.port, host=m.host, source=m.client_addr(1)) as c2:
        c2.expect(220)
        assert c2.cmd("QUIT").code == 221
        c2.wait_closed()

    # A session counts as closed when the engine has finished closing it,
    # which on the DPDK transport (our TCP: FIN, then the peer's ACK) can
    # come a moment after the client saw the 221 and the FIN; poll for it,
    # bounded, instead of reading once.
    deadline = time.monotonic() + 10
    while True:
        _, after = check.metrics(m.metrics_port)
        closed = check.metric_sum(after, r"^mxedge_connections_closed_total$") - \
            check.metric_sum(before, r"^mxedge_connections_closed_total$")
        if closed >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)

    def delta(pattern):
        return check.metric_sum(after, pattern) - \
            check.metric_sum(before, pattern)

    assert delta(r"^mxedge_connections_accepted_total$") == 2
    assert delta(r"^mxedge_connections_closed_total$") == 2
    assert delta(r"^mxedge_transactions_started_total$") == 2
    assert delta(r'^mxedge_transactions_finished_total'
                 r'\{result="accepted"\}$') == 1
    assert delta(r"^mxedge_smtp_relay_denied_total$") == 1
    assert delta(r"^mxedge_smtp_unknown_commands_total$") == 1
    # 220, EHLO, MAIL, RCPT, final 250, MAIL, 221; 220, 221.
    assert delta(r'^mxedge_smtp_replies_total\{class="2xx"\}$') == 9
    assert delta(r'^mxedge_smtp_replies_total\{class="3xx"\}$') == 1
    assert delta(r'^mxedge_smtp_replies_total\{class="5xx"\}$') == 2
    assert delta(r'^mxedge_spool_writes_total\{result="ok"\}$') == 1
    assert delta(r"^mxedge_message_bytes_total$") >= len(msg)
    assert after["mxedge_connections_active"] == 0
