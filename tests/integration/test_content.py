# SPDX-License-Identifier: BSD-3-Clause
"""Content rules (issue 6) against a real mxedge: the offline `mxedge scan`
command and its JSON contract, and `mxedge run --rules` scanning DATA and
BDAT as they arrive: a phrase split across two TCP segments and across two
BDAT chunks is still found, a reject is the end-of-data reply, a
quarantine reaches the spool with its X-Mxedge-Verdict header, the verdict
log names the rules, /metrics counts the verdicts, and a reload under load
swaps the rules while the messages in flight finish on the old ones."""

import json
import signal
import socket
import subprocess
import threading
import time

import pytest

from mxit import check, smtp

pytestmark = pytest.mark.asan

RULES = """\
rules:
  - id: phish-1
    target: body
    pattern: 'verify your acc(ou)?nt'
    flags: [caseless]
    action: reject
    text: '5.7.1 Phishing is not welcome'
  - id: exe
    target: attachment-name
    pattern: '\\.exe$'
    flags: [caseless]
    action: quarantine
  - id: subj
    target: 'header:Subject'
    pattern: 'lottery'
    action: score
    score: 4
  - id: backref
    target: body
    pattern: '(a)\\1'
    action: reject
thresholds: {quarantine: 4, reject: 10}
"""

ATTACHED = (b"Subject: invoice\r\n"
            b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
            b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
            b"--b\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Disposition: attachment; filename*=UTF-8''inv%2Eexe\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\nTVo=\r\n--b--\r\n")

PHISH_B64 = (b"Subject: hello\r\nContent-Transfer-Encoding: base64\r\n\r\n"
             b"UGxlYXNlIHZlcmlmeSB5b3VyIGFjY291bnQ=\r\n")


def rules_file(tmp_path, text=RULES, name="rules.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def scan(mxedge_bin, rules, msg, tmp_path, json_out=True):
    m = tmp_path / "msg.eml"
    m.write_bytes(msg)
    args = [mxedge_bin, "scan", "--rules", str(rules)]
    if json_out:
        args.append("--json")
    r = subprocess.run(args + [str(m)], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r


def test_scan_json_contract(mxedge_bin, tmp_path):
    rules = rules_file(tmp_path)
    r = scan(mxedge_bin, rules, PHISH_B64, tmp_path)
    assert json.loads(r.stdout) == {
        "hits": [{"id": "phish-1", "target": "body", "offset": 26}],
        "action": "reject", "score": 0}
    # The refused rule is named with its line; the others still load.
    assert b"rules.yaml:18: rule backref: refused by Hyperscan" in r.stderr
    r = scan(mxedge_bin, rules, ATTACHED, tmp_path)
    assert json.loads(r.stdout) == {
        "hits": [{"id": "exe", "target": "attachment-name", "offset": 7}],
        "action": "quarantine", "score": 0}
    r = scan(mxedge_bin, rules, b"Subject: lottery\r\n\r\nhi\r\n", tmp_path)
    assert json.loads(r.stdout) == {
        "hits": [{"id": "subj", "target": "header:Subject", "offset": 7}],
        "action": "quarantine", "score": 4}
    r = scan(mxedge_bin, rules, b"Subject: hi\r\n\r\nnothing\r\n", tmp_path)
    assert json.loads(r.stdout) == {"hits": [], "action": "accept", "score": 0}


def test_scan_empty_rules_and_errors(mxedge_bin, tmp_path):
    empty = rules_file(tmp_path, "", "empty.yaml")
    r = scan(mxedge_bin, empty, PHISH_B64, tmp_path)
    assert json.loads(r.stdout) == {"hits": [], "action": "accept", "score": 0}
    bad = rules_file(tmp_path, "rules:\n  - {id: x, target: nowhere, "
                     "pattern: a, action: reject}\n", "bad.yaml")
    m = tmp_path / "m.eml"
    m.write_bytes(b"\r\n")
    r = subprocess.run([mxedge_bin, "scan", "--rules", str(bad), str(m)],
                       capture_output=True, timeout=60)
    assert r.returncode == 1
    assert b"bad.yaml:2: rule x: target must be" in r.stderr
    r = subprocess.run([mxedge_bin, "scan", str(m)], capture_output=True,
                       timeout=60)
    assert r.returncode == 2


def test_scan_cache_dir_same_result(mxedge_bin, tmp_path):
    rules = rules_file(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    m = tmp_path / "m.eml"
    m.write_bytes(PHISH_B64)
    outs = []
    for _ in range(2):
        r = subprocess.run([mxedge_bin, "scan", "--rules", str(rules), "--json",
                            "--cache", str(cache), str(m)],
                           capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
        outs.append(r.stdout)
    assert outs[0] == outs[1]
    assert len(list(cache.glob("rules-*.hsdb"))) == 1


def start(mx, tmp_path, text=RULES):
    rules = rules_file(tmp_path, text)
    return mx.start(extra=["--rules", str(rules)]), rules


def open_data(m):
    c, _ = smtp.greet(m.port, host=m.host)
    assert c.cmd("MAIL FROM:<a@client.test>").code == 250
    assert c.cmd("RCPT TO:<user@example.org>").code == 250
    assert c.cmd("DATA").code == 354
    return c


def segments(c, *parts):
    """Each part in its own TCP segment (Nagle off, a pause between)."""
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for p in parts:
        c.send(p)
        time.sleep(0.05)


def test_run_reject_split_across_segments(mx, tmp_path):
    m, _ = start(mx, tmp_path)
    with open_data(m) as c:
        segments(c, b"Subject: x\r\n\r\nPlease verify your ac",
                 b"count today\r\n.\r\n")
        r = c.read_reply()
        assert r.code == 550 and r.lines == ["5.7.1 Phishing is not welcome"], r
        # The session goes on: a clean message is accepted.
        r = smtp.send_message(c, "a@client.test", ["user@example.org"],
                              b"Subject: fine\r\n\r\nnothing here\r\n")
        assert r[-1].code == 250, r
        assert c.cmd("QUIT").code == 221
    (sp,) = check.spool_messages(m, 1)
    assert b"nothing here" in sp.data
    assert b"X-Mxedge-Verdict" not in sp.data
    lines = check.read_vlog(m.vlog_path, 2)
    assert lines[0]["verdict"] == "reject"
    assert lines[0]["content"]["hits"] == ["phish-1"]
    assert lines[0]["checks"]["content"] == "fail"
    assert lines[1]["content"] == {"action": "accept", "score": 0, "hits": []}


def test_run_reject_split_across_bdat_chunks(mx, tmp_path):
    m, _ = start(mx, tmp_path)
    chunks = [b"Subject: b\r\n\r\nverify yo", b"ur account\r\n"]
    c, _ = smtp.greet(m.port, host=m.host)
    with c:
        assert c.cmd("MAIL FROM:<a@client.test>").code == 250
        assert c.cmd("RCPT TO:<user@example.org>").code == 250
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.send(b"BDAT %d\r\n" % len(chunks[0]) + chunks[0])
        r = c.read_reply()
        assert r.code == 250, r
        c.send(b"BDAT %d LAST\r\n" % len(chunks[1]) + chunks[1])
        r = c.read_reply()
        assert r.code == 550 and "Phishing" in r.lines[0], r
    lines = check.read_vlog(m.vlog_path, 1)
    assert lines[-1]["content"]["hits"] == ["phish-1"]


def test_run_quarantine_marks_message(mx, tmp_path):
    m, _ = start(mx, tmp_path)
    with open_data(m) as c:
        c.send(smtp.dot_stuff(ATTACHED))
        assert c.read_reply().code == 250
    (sp,) = check.spool_messages(m, 1)
    assert b"X-Mxedge-Verdict: quarantine; score=0; rules=exe\r\n" in sp.data
    assert check.read_vlog(m.vlog_path, 1)[0]["checks"]["content"] == "policy"


def test_run_metrics_count_content_verdicts(mx, tmp_path):
    """/metrics: a reject and a quarantine each move their counter, and
    every message scanned to its end is counted once."""
    m = mx.start(extra=["--rules", str(rules_file(tmp_path))], metrics=True)
    _, before = check.metrics(m.metrics_port)
    c, _ = smtp.greet(m.port, host=m.host)
    with c:
        r = smtp.send_message(c, "a@client.test", ["user@example.org"],
                              PHISH_B64)
        assert r[-1].code == 550, r
        r = smtp.send_message(c, "a@client.test", ["user@example.org"],
                              ATTACHED)
        assert r[-1].code == 250, r
        r = smtp.send_message(c, "a@client.test", ["user@example.org"],
                              b"Subject: fine\r\n\r\nnothing here\r\n")
        assert r[-1].code == 250, r
        assert c.cmd("QUIT").code == 221
    check.spool_messages(m, 2)
    _, after = check.metrics(m.metrics_port)

    def delta(name):
        rx = r"^mxedge_content_%s_total$" % name
        return check.metric_sum(after, rx) - check.metric_sum(before, rx)

    assert delta("scanned") == 3
    assert delta("rejected") == 1
    assert delta("quarantined") == 1
    assert delta("truncated") == 0
    assert delta("errors") == 0


def test_run_without_rules_is_unchanged(mx):
    m = mx.start()
    with open_data(m) as c:
        c.send(smtp.dot_stuff(PHISH_B64))
        assert c.read_reply().code == 250
    line = check.read_vlog(m.vlog_path, 1)[0]
    assert "content" not in line
    assert line["checks"]["content"] == "none"


def _sender(m, body, stop, codes, errors):
    while not stop.is_set():
        try:
            c, _ = smtp.greet(m.port, host=m.host)
            with c:
                r = smtp.send_message(c, "a@client.test", ["user@example.org"], body)
                codes.append(r[-1].code)
        except Exception as e:  # noqa: BLE001 - reported by the test
            errors.append(repr(e))
            return


def test_reload_under_load(mx, tmp_path):
    old = RULES.replace("verify your acc(ou)?nt", "alpha")
    m, rules = start(mx, tmp_path, old)
    # A message in flight, begun on the old rules.
    inflight = open_data(m)
    inflight.send(b"Subject: f\r\n\r\nalp")
    stop, codes, errors = threading.Event(), [], []
    t = threading.Thread(target=_sender, args=(
        m, b"Subject: l\r\n\r\nbeta and alpha\r\n", stop, codes, errors))
    t.start()
    try:
        time.sleep(0.3)
        rules.write_text(RULES.replace("verify your acc(ou)?nt", "beta"))
        m.signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with open_data(m) as c:
                c.send(b"Subject: p\r\n\r\nonly alpha\r\n.\r\n")
                if c.read_reply().code == 250:
                    break
            time.sleep(0.1)
        else:
            pytest.fail("the reload never took effect")
    finally:
        stop.set()
        t.join(30)
    assert not errors, errors
    assert codes and set(codes) == {550}, codes
    # The message begun before the reload finishes on the old rules.
    inflight.send(b"ha\r\n.\r\n")
    r = inflight.read_reply()
    assert r.code == 550, r
    inflight.close()
    with open_data(m) as c:
        c.send(b"Subject: q\r\n\r\nsome beta\r\n.\r\n")
        assert c.read_reply().code == 550
