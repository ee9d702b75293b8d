# SPDX-License-Identifier: BSD-3-Clause
"""500 sessions from three real SMTP clients into mxedge on DPDK (net_tap).

Postfix's smtp client (a private instance, relayhost=[m.host]:25, no TLS,
no connection caching so every message is one session), fed through its
own sendmail(1) (-G -i: a relay submission, so Postfix adds only its
Received field), swaks and Python smtplib all send at the same time: 500
sessions in total, four of them 10 MiB. Every message must then be in
mxedge's spool exactly once and byte-exact (Postfix's: the body exactly,
and the header as sent plus the two Received fields, Postfix's and ours).

Select with `-m dpdk`; marked slow. Needs root, a network namespace of the
run's own (as test_dpdk.py), postfix and swaks.
"""

import concurrent.futures
import re
import shutil
import smtplib
import subprocess
import time

import pytest

from mxit import check, dpdk, spool

pytestmark = [pytest.mark.dpdk, pytest.mark.slow]

N_POSTFIX = 150
N_SWAKS = 50
N_SMTPLIB = 300
N_BIG = 3          # of the smtplib ones; one more through Postfix
BIG = 10 << 20
LINE = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!?\r\n"


def _message(kind, i, size):
    key = b"X-Test-Id: %s-%d\r\n" % (kind.encode(), i)
    head = (key + b"Message-ID: <%s-%d@client.test>\r\n" % (kind.encode(), i) +
            b"From: <sender@client.test>\r\nTo: <user@example.org>\r\n"
            b"Date: Mon, 23 Nov 2026 00:00:00 +0000\r\n"
            b"Subject: %s %d\r\n\r\n" % (kind.encode(), i))
    body = b"".join(b"%s %d line %d\r\n" % (kind.encode(), i, j)
                    for j in range(size // 24 + 1))
    return key, head + body


def _big(kind, i):
    key, msg = _message(kind, i, 0)
    return key, msg + LINE * (BIG // len(LINE))


def _postfix_submit(pf, msg):
    # sendmail(1) reads lines; Postfix sends them on with CRLF.
    r = subprocess.run(["/usr/sbin/sendmail", "-C", pf.conf_dir, "-G", "-i",
                        "-f", "sender@client.test", "user@example.org"],
                       input=msg.replace(b"\r\n", b"\n"),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    assert r.returncode == 0, r.stdout.decode(errors="replace")


def _swaks(m, path):
    r = subprocess.run([shutil.which("swaks"), "--server", "%s:%d" % (m.host, m.port),
                        "--helo", "swaks.test", "--from", "sender@client.test",
                        "--to", "user@example.org", "--data", "@%s" % path,
                        "--timeout", "60"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout.decode(errors="replace")


def _smtplib(m, msg):
    with smtplib.SMTP(m.host, m.port, timeout=120) as s:
        s.ehlo("smtplib.test")
        s.sendmail("sender@client.test", ["user@example.org"], msg)


def _csum_errors():
    """This namespace's TcpInCsumErrors: segments from mxedge (the
    kernel verifies every one that comes in from the tap) with a bad
    TCP checksum, computed by us or by the port's TX offload."""
    r = subprocess.run(["nstat", "-asz", "TcpInCsumErrors"],
                       stdout=subprocess.PIPE, timeout=30, check=True)
    m = re.search(rb"TcpInCsumErrors\s+(\d+)", r.stdout)
    return int(m.group(1)) if m else 0


def _wait(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what())
        time.sleep(0.2)


def test_postfix_swaks_smtplib_500_sessions(mx, postfix, tmp_path):
    if shutil.which("swaks") is None:
        pytest.fail("swaks is not installed (scripts/install-deps)", pytrace=False)
    csum_errors = _csum_errors()
    m = dpdk.start(mx)
    pf = postfix.client(relay_port=m.port, relay_host=m.host, extra={
        "smtp_connection_cache_on_demand": "no"})

    via_pf = dict(_message("pf", i, (i * 211) % 20000) for i in range(N_POSTFIX - 1))
    via_pf.update([_big("pf", N_POSTFIX - 1)])
    via_swaks = {}
    for i in range(N_SWAKS):
        key, msg = _message("swaks", i, (i * 157) % 20000)
        path = tmp_path / ("swaks%d.eml" % i)
        path.write_bytes(msg)
        # swaks ends the data with its own CRLF before the dot.
        via_swaks[key] = (path, msg + b"\r\n")
    via_smtplib = dict(_message("py", i, (i * 97) % 40000)
                       for i in range(N_SMTPLIB - N_BIG))
    via_smtplib.update(_big("py", N_SMTPLIB - N_BIG + i) for i in range(N_BIG))

    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as ex:
        futs = [ex.submit(_postfix_submit, pf, msg) for msg in via_pf.values()]
        futs += [ex.submit(_swaks, m, p) for p, _ in via_swaks.values()]
        futs += [ex.submit(_smtplib, m, msg) for msg in via_smtplib.values()]
        _, pending = concurrent.futures.wait(futs, timeout=300)
        assert not pending, "%d client(s) still running" % len(pending)
        for f in futs:
            f.result()

    total = N_POSTFIX + N_SWAKS + N_SMTPLIB
    _wait(lambda: len(spool.new_files(m.spool_dir)) >= total, 180,
          lambda: "%d messages in the spool (postfix log:\n%s)"
          % (total, pf.log_text()))
    _wait(lambda: pf.queue_count() == 0, 60, lambda: "postfix queue to drain")

    seen = {}
    for sp in check.spool_messages(m, total):
        key = sp.data[sp.data.find(b"X-Test-Id: "):]
        key = key[:key.find(b"\r\n") + 2]
        assert key not in seen, "twice in the spool: %r" % key
        seen[key] = True
        if key in via_pf:
            sent = via_pf[key]
            body = sent[sent.index(b"\r\n\r\n") + 4:]
            assert sp.data[sp.data.index(b"\r\n\r\n") + 4:] == body, key
            fields = spool.strip_prepended(sp.data, sent)
            assert [n for n, _ in fields] == ["received", "received"], fields
            assert b"by mx.test" in fields[0][1]
        elif key in via_swaks:
            check.assert_spooled_exact(sp, via_swaks[key][1])
        else:
            check.assert_spooled_exact(sp, via_smtplib[key])
        assert sp.rcpts == ["user@example.org"]
    assert set(seen) == set(via_pf) | set(via_swaks) | set(via_smtplib)
    assert _csum_errors() == csum_errors
