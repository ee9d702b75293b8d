# SPDX-License-Identifier: BSD-3-Clause
"""swaks sessions against mxedge (spool delivery): plain delivery, several
recipients, PIPELINING, relay denied, oversize. Each is judged by the reply
codes in swaks' transcript and by the spool file's content. (This swaks has
no BDAT; test_protocol.py covers BDAT over a raw socket.)"""

import re
import shutil
import subprocess

import pytest

from mxit import check, keys

pytestmark = pytest.mark.asan

MESSAGE = (b"From: <sender@client.test>\r\nTo: <user@example.org>\r\n"
           b"Subject: swaks\r\nX-Test-Id: swaks\r\n\r\n"
           b"line one\r\n.line with a leading dot\r\n\r\nlast line")


@pytest.fixture(scope="module")
def swaks():
    p = shutil.which("swaks")
    if p is None:
        pytest.fail("swaks is not installed (scripts/install-deps)",
                    pytrace=False)
    return p


def run_swaks(swaks, m, tmp_path, to, extra=(), data=MESSAGE):
    path = tmp_path / "swaks-data.eml"
    path.write_bytes(data)
    cmd = [swaks, "--server", "%s:%d" % (m.host, m.port), "--helo", "client.test",
           "--from", "sender@client.test", "--to", to, "--data", "@%s" % path,
           "--timeout", "20"] + list(extra)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60, stdin=subprocess.DEVNULL)
    out = r.stdout.decode(errors="replace")
    return r.returncode, out, replies(out)


def replies(transcript):
    """Final reply codes in swaks' transcript, in order ("<-" good,
    "<**" error); continuation lines are skipped."""
    return [int(m.group(1)) for m in
            re.finditer(r"^<(?:-|\*\*)\s+(\d{3}) ", transcript, re.M)]


def test_plain_delivery(swaks, mx, tmp_path):
    m = mx.start()
    rc, out, codes = run_swaks(swaks, m, tmp_path, "user@example.org")
    assert rc == 0, out
    assert codes == [220, 250, 250, 250, 354, 250, 221], out
    (sp,) = check.spool_messages(m, 1)
    # swaks ends the last line with CRLF before the dot.
    check.assert_spooled_exact(sp, MESSAGE + b"\r\n")
    assert sp.rcpts == ["user@example.org"]
    assert sp.meta["helo"] == "client.test"


def test_multiple_recipients(swaks, mx, tmp_path):
    rcpts = ["a@example.org", "b@example.org", "c@example.net"]
    m = mx.start(domains=("example.org", "example.net"))
    rc, out, codes = run_swaks(swaks, m, tmp_path, ",".join(rcpts))
    assert rc == 0, out
    assert codes == [220, 250, 250, 250, 250, 250, 354, 250, 221], out
    (sp,) = check.spool_messages(m, 1)
    assert sp.rcpts == rcpts
    check.assert_spooled_exact(sp, MESSAGE + b"\r\n")


def test_pipelining(swaks, mx, tmp_path):
    m = mx.start()
    rc, out, codes = run_swaks(swaks, m, tmp_path,
                               "user@example.org,u2@example.org",
                               extra=["--pipeline"])
    assert rc == 0, out
    # swaks sent MAIL, both RCPTs and DATA in one go.
    assert re.search(r"^ -> MAIL FROM.*\n -> RCPT TO.*\n -> RCPT TO.*\n"
                     r" -> DATA", out, re.M), out
    assert codes == [220, 250, 250, 250, 250, 354, 250, 221], out
    (sp,) = check.spool_messages(m, 1)
    check.assert_spooled_exact(sp, MESSAGE + b"\r\n")


def test_relay_denied(swaks, mx, tmp_path):
    m = mx.start()
    rc, out, codes = run_swaks(swaks, m, tmp_path,
                               "victim@elsewhere.test")
    assert rc != 0, out
    assert re.search(r"^<\*\*\s+550[ -]5\.7\.1", out, re.M), out
    assert check.spool_messages(m, 0) == []


def test_oversize(swaks, mx, tmp_path):
    m = mx.start(sets=[keys.kv(keys.MAX_MESSAGE_SIZE, "4000")])
    data = MESSAGE + b"\r\n" + (b"0123456789" * 9 + b"\r\n") * 100
    rc, out, codes = run_swaks(swaks, m, tmp_path, "user@example.org",
                               data=data)
    assert rc != 0, out
    assert re.search(r"^<\*\*\s+552[ -]5\.3\.4", out, re.M), out
    assert check.spool_messages(m, 0) == []
