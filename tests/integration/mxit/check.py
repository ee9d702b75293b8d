# SPDX-License-Identifier: BSD-3-Clause
"""Shared checks: spool contents, the verdict log, the metrics endpoint.

Where mxedge writes something asynchronously (the verdict log goes through
its I/O thread), the reader polls with a bounded deadline; nothing here
asserts on how long anything took.
"""

import json
import os
import re
import time
import urllib.request

from . import spool

HOSTNAME = "mx.test"


def wait_until(pred, timeout, what):
    """Polls pred every 0.2 s; AssertionError naming what after timeout s."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.2)


def spool_messages(m, n=None):
    msgs = spool.read_all(m.spool_dir)
    if n is not None:
        assert len(msgs) == n, "expected %d spooled messages, found %d: %r" % (
            n, len(msgs), msgs)
    return msgs


def assert_spooled_exact(msg, sent, hostname=HOSTNAME):
    """msg (spool.SpoolMessage) holds exactly our Received field + sent."""
    fields = spool.strip_prepended(msg.data, sent)
    names = [n for n, _ in fields]
    assert names.count("received") == 1, \
        "want exactly one prepended Received, got %r" % fields
    rcv = [raw for n, raw in fields if n == "received"][0]
    assert ("by " + hostname).encode() in rcv, rcv
    assert os.path.basename(msg.path) == msg.id, (msg.path, msg.id)
    return fields


def no_bare_cr_lf(data):
    return re.search(rb"\r(?!\n)|(?<!\r)\n", data) is None


def read_vlog(path, n, timeout=15.0):
    """Waits (bounded) until the verdict log has at least n complete lines;
    returns them parsed. Every line must be one JSON object."""
    deadline = time.monotonic() + timeout
    lines = []
    while True:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            data = b""
        complete = data[:data.rfind(b"\n") + 1] if b"\n" in data else b""
        lines = complete.splitlines()
        if len(lines) >= n or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    out = []
    for ln in lines:
        obj = json.loads(ln)
        assert isinstance(obj, dict), ln
        out.append(obj)
    assert len(out) >= n, "verdict log has %d lines, want %d: %r" % (
        len(out), n, out)
    return out


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def metrics(port):
    """GET /metrics; returns (text, {"name{labels}": float})."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                timeout=10) as r:
        assert r.status == 200
        text = r.read().decode()
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m is not None, "bad exposition line %r" % line
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return text, samples


def metric_sum(samples, pattern):
    """Sum of every sample whose name{labels} matches the regex."""
    rx = re.compile(pattern)
    hit = [v for k, v in samples.items() if rx.search(k)]
    assert hit, "no metric matches %r in %r" % (pattern, sorted(samples))
    return sum(hit)
