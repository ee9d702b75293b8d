# SPDX-License-Identifier: BSD-3-Clause
"""mxedge-bench, the traffic generator of bench/ (issue 7), against real
peers: its own sink, and mxedge relaying to that sink.

What the generator counts as delivered must really have arrived: the
counts of generator and sink agree, and sampled messages are compared
byte for byte with what the corpus says was sent (dot-stuffed on the wire,
RFC 5321 4.5.2; mxedge only prepends its trace fields). Nothing here
asserts a speed.

The binary is found beside the engine of MXEDGE_BIN (the same build tree),
or named by MXEDGE_BENCH_BIN."""

import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from mxit import spool as spoolmod

pytestmark = pytest.mark.asan

TIMEOUT = 120
DOMAIN = "example.org"   # the local domain conftest gives every mxedge


@pytest.fixture(scope="module")
def bench_bin(mxedge_bin):
    path = os.environ.get("MXEDGE_BENCH_BIN")
    if not path:
        build = pathlib.Path(mxedge_bin).resolve().parents[2]
        path = str(build / "bench" / "gen" / "mxedge-bench")
    if not os.access(path, os.X_OK):
        pytest.fail("mxedge-bench not built at %s (ninja -C BUILD "
                    "bench/gen/mxedge-bench, or set MXEDGE_BENCH_BIN)" % path)
    return path


class Sink:
    """`mxedge-bench sink` on host, port 0; .port is the bound port."""

    def __init__(self, binary, tmp, host="127.0.0.1", save=None, save_max=0):
        self.json = tmp / "sink.json"
        args = [binary, "sink", "--listen", "%s:0" % host, "--duration", "600",
                "--json", str(self.json)]
        if save is not None:
            args += ["--save", str(save), "--save-max", str(save_max)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        m = re.match(r"sink listening on (\S+):(\d+)", line)
        if m is None:
            self.stop()
            pytest.fail("sink did not start: %r %r" % (line, self.stats_err()))
        self.host = host
        self.port = int(m.group(2))

    def stats_err(self):
        try:
            return self.proc.stderr.read().decode(errors="replace")[-2000:]
        except (OSError, ValueError):
            return ""

    def stop(self):
        """SIGTERM, bounded wait; returns the counters it wrote."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self.proc.stderr.close()
        assert self.proc.returncode == 0, self.proc.returncode
        return json.loads(self.json.read_text())


def generate(binary, tmp, host, port, *extra):
    out = tmp / "gen.json"
    cmd = [binary, "--target", "%s:%d" % (host, port), "--json", str(out),
           "--reply-timeout", "30"] + [str(a) for a in extra]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=TIMEOUT)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    return json.loads(out.read_text()), p.stdout.decode()


@pytest.fixture
def sinks(tmp_path):
    started = []

    def start(**kw):
        s = Sink(kw.pop("binary"), tmp_path, **kw)
        started.append(s)
        return s
    yield start
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait(timeout=10)


# Corpus files as an MTA would hand them over: LF or CRLF line ends, lines
# that start with a dot, a missing final newline.
CORPUS = {
    "a.eml": b"From: <a@client.test>\nSubject: one\n\nplain body\n.leading dot\n..two dots\n",
    "b.eml": b"From: <b@client.test>\r\nSubject: two\r\n\r\nline\r\n.\r\nend",
    "c.eml": (b"From: <c@client.test>\r\nSubject: three\r\n\r\n" +
              (b"x" * 98 + b"\r\n") * 50),
}


def wire(raw):
    """What goes on the wire for a corpus file: CRLF lines, dot-stuffed."""
    out = []
    for line in raw.replace(b"\r\n", b"\n").split(b"\n"):
        out.append((b"." + line if line.startswith(b".") else line) + b"\r\n")
    if raw.endswith(b"\n"):
        out.pop()
    return b"".join(out)


def write_corpus(d):
    d.mkdir()
    for name, raw in CORPUS.items():
        (d / name).write_bytes(raw)
    return [wire(CORPUS[n]) for n in sorted(CORPUS)]


def assert_clean(res, sessions, messages):
    assert res["errors"] == 0, res["errors_by"]
    assert res["sessions_ok"] == sessions, res
    assert res["sessions_failed"] == 0, res
    assert res["messages_ok"] == messages, res
    assert res["messages_failed"] == 0, res


def test_generator_against_sink_byte_exact(bench_bin, tmp_path, sinks):
    """Directly against the sink: counts agree, and every saved message is
    exactly the corpus file's wire form, in round-robin order."""
    expected = write_corpus(tmp_path / "corpus")
    save = tmp_path / "saved"
    save.mkdir()
    sink = sinks(binary=bench_bin, save=save, save_max=30)
    res, _ = generate(bench_bin, tmp_path, sink.host, sink.port,
                      "--sessions", 10, "--concurrency", 1,
                      "--messages-per-session", 3, "--corpus",
                      tmp_path / "corpus")
    st = sink.stop()
    assert_clean(res, 10, 30)
    assert st["messages"] == 30 and st["sessions"] == 10, st
    assert st["rcpts"] == 30, st
    saved = sorted(save.iterdir())
    assert len(saved) == 30
    for i, p in enumerate(saved):
        assert p.read_bytes() == expected[i % len(expected)], p.name
    assert res["bytes_ok"] == sum(len(expected[i % 3]) for i in range(30))


def test_generator_counts_multi_rcpt_unpipelined(bench_bin, tmp_path, sinks):
    """Without pipelining, several recipients, a size distribution: every
    command is answered one by one and the sink sees each recipient."""
    sink = sinks(binary=bench_bin)
    res, out = generate(bench_bin, tmp_path, sink.host, sink.port,
                        "--sessions", 20, "--concurrency", 4,
                        "--messages-per-session", 5, "--rcpts", 3,
                        "--pipelining", "off", "--size", "1k:3,70k:1")
    st = sink.stop()
    assert_clean(res, 20, 100)
    assert st["messages"] == 100 and st["rcpts"] == 300, st
    assert st["bytes"] == res["bytes_ok"], (st, res)
    assert res["phases"]["rcpt"]["count"] == 300
    for ph in ("connect", "ehlo", "mail", "rcpt", "data", "dot", "quit"):
        assert ph in out


def test_200_sessions_through_mxedge(bench_bin, mx, tmp_path, sinks):
    """The issue's acceptance run: 200 sessions against mxedge relaying to
    the sink; all 200 delivered downstream, no error on either side."""
    sink = sinks(binary=bench_bin, host=mx.downstream_host())
    m = mx.start(downstream="%s:%d" % (sink.host, sink.port))
    res, _ = generate(bench_bin, tmp_path, m.host, m.port,
                      "--sessions", 200, "--concurrency", 10, "--size", "4k",
                      "--rcpt-domain", DOMAIN)
    # mxedge answers the final dot only after the downstream accepted
    # (relay contract), so the sink holds every message by now.
    st = sink.stop()
    m.stop()
    assert_clean(res, 200, 200)
    assert st["messages"] == 200, st
    assert res["phases"]["dot"]["count"] == 200


def test_corpus_through_mxedge_byte_exact(bench_bin, mx, tmp_path, sinks):
    """Through mxedge: what arrives downstream is the sent message with
    only header fields prepended (mxedge's Received)."""
    expected = write_corpus(tmp_path / "corpus")
    save = tmp_path / "saved"
    save.mkdir()
    sink = sinks(binary=bench_bin, host=mx.downstream_host(), save=save,
                 save_max=9)
    m = mx.start(downstream="%s:%d" % (sink.host, sink.port))
    res, _ = generate(bench_bin, tmp_path, m.host, m.port,
                      "--sessions", 3, "--concurrency", 1,
                      "--messages-per-session", 3, "--corpus",
                      tmp_path / "corpus", "--rcpt-domain", DOMAIN)
    st = sink.stop()
    m.stop()
    assert_clean(res, 3, 9)
    assert st["messages"] == 9, st
    saved = sorted(save.iterdir())
    assert len(saved) == 9
    for i, p in enumerate(saved):
        fields = spoolmod.strip_prepended(p.read_bytes(), expected[i % 3])
        assert [n for n, _ in fields] == ["received"], (p.name, fields)


def test_rejected_recipients_are_counted_by_code(bench_bin, mx, tmp_path):
    """mxedge refuses recipients outside its local domains (550): the
    generator counts them by reply code, delivers nothing, still ends."""
    m = mx.start()
    res, out = generate(bench_bin, tmp_path, m.host, m.port,
                        "--sessions", 5, "--concurrency", 1,
                        "--rcpt-domain", "elsewhere.invalid")
    m.stop()
    assert res["messages_ok"] == 0
    assert res["sessions_failed"] == 5
    assert res["errors_by"].get("550") == 5, res["errors_by"]
    assert "error reply 550: 5" in out


def test_starttls_full_and_resumed_through_mxedge(bench_bin, mx, tmp_path,
                                                  sinks):
    """STARTTLS (RFC 3207) on every session: the first handshakes are full,
    the others resume the first session's ticket; every message still
    arrives downstream."""
    crt, key = tmp_path / "crt.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key),
                    "-out", str(crt), "-days", "2", "-subj", "/CN=mx.test",
                    "-addext", "subjectAltName=DNS:mx.test"],
                   check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)
    sink = sinks(binary=bench_bin, host=mx.downstream_host())
    m = mx.start(downstream="%s:%d" % (sink.host, sink.port),
                 extra=["--tls-cert", str(crt), "--tls-key", str(key)])
    res, _ = generate(bench_bin, tmp_path, m.host, m.port,
                      "--sessions", 40, "--concurrency", 1, "--starttls", 1,
                      "--resume", 1, "--rcpt-domain", DOMAIN)
    st = sink.stop()
    m.stop()
    assert_clean(res, 40, 40)
    assert st["messages"] == 40, st
    # One session at a time: only the first has no ticket to offer.
    assert res["handshakes_full"] == 1, res
    assert res["handshakes_resumed"] == 39, res
    assert res["phases"]["tls"]["count"] == 40
    assert res["phases"]["ehlo"]["count"] == 80   # again after TLS


def test_starttls_refused_when_not_offered(bench_bin, mx, tmp_path):
    """Without certificates mxedge offers no STARTTLS: sessions that want
    it are counted as failed (no_starttls), never sent in clear text."""
    m = mx.start()
    res, _ = generate(bench_bin, tmp_path, m.host, m.port,
                      "--sessions", 3, "--concurrency", 1, "--starttls", 1,
                      "--rcpt-domain", DOMAIN)
    m.stop()
    assert res["messages_ok"] == 0
    assert res["sessions_failed"] == 3
    assert res["errors_by"] == {"no_starttls": 3}, res["errors_by"]


def test_generator_against_postfix_smtp_sink_byte_exact(bench_bin, tmp_path):
    """Against an independent server, Postfix's smtp-sink dumping every
    transaction to a file (-d): one file per message counted delivered,
    each the corpus file un-stuffed (smtp-sink writes LF lines after its
    own X-* and Received fields, and one empty line after the message)."""
    expected = write_corpus(tmp_path / "corpus")
    dump = pathlib.Path(tempfile.mkdtemp(prefix="mxit-smtp-sink-"))
    os.chmod(dump, 0o777)   # smtp-sink writes as user postfix
    port = free_port()
    sink = subprocess.Popen(["smtp-sink", "-u", "postfix", "-d",
                             str(dump) + "/%H%M%S.", "127.0.0.1:%d" % port,
                             "100"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        wait_220(port)
        res, _ = generate(bench_bin, tmp_path, "127.0.0.1", port,
                          "--sessions", 6, "--concurrency", 1, "--corpus",
                          tmp_path / "corpus", "--messages-per-session", 1)
    finally:
        sink.terminate()
        sink.wait(timeout=20)
        sink.stderr.close()
    assert_clean(res, 6, 6)
    files = sorted(dump.iterdir())
    assert len(files) == 6, files
    want = sorted(unstuffed_lf(e) + b"\n" for e in expected * 2)
    got = sorted(strip_sink_fields(p.read_bytes()) for p in files)
    shutil.rmtree(dump, ignore_errors=True)
    assert got == want


def unstuffed_lf(w):
    lines = w.split(b"\r\n")[:-1]
    return b"".join((ln[1:] if ln.startswith(b".") else ln) + b"\n"
                    for ln in lines)


def strip_sink_fields(data):
    """smtp-sink's own fields: X-Client-Addr .. X-Rcpt-Args, then a
    Received field with its continuation lines."""
    lines = data.split(b"\n")
    i = 0
    while i < len(lines) and lines[i].startswith(b"X-"):
        i += 1
    assert lines[i].startswith(b"Received: "), lines[:i + 1]
    i += 1
    while lines[i].startswith(b"\t"):
        i += 1
    return b"\n".join(lines[i:])


def free_port():
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def wait_220(port, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.settimeout(5)
                if s.recv(512).startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail("smtp-sink did not answer on port %d" % port)


def _bench_run_module():
    """bench/run loaded as a module (it has no .py name)."""
    import importlib.machinery
    import importlib.util
    path = pathlib.Path(__file__).resolve().parents[2] / "bench" / "run"
    ldr = importlib.machinery.SourceFileLoader("bench_run", str(path))
    spec = importlib.util.spec_from_loader("bench_run", ldr)
    mod = importlib.util.module_from_spec(spec)
    ldr.exec_module(mod)
    return mod


def test_bench_smoke_verdicts(tmp_path):
    """bench/run --smoke's verdict per scenario and system: a figure or an
    n/a reason passes; a failed run, a row with neither, or no row fails;
    the JUnit file scripts/test counts says the same."""
    import xml.etree.ElementTree as ET
    br = _bench_run_module()
    only = {"plain-4k", "auth", "idle"}
    rows = [
        br.row("plain-4k", "a", "mxedge-bench", msgs_per_s=10.0),
        br.row("auth", "a", "mxedge-bench", na="not configured"),
        br.row("idle", "a", "mxedge-bench", bytes_per_session=4000),
        br.row("plain-4k", "b", "mxedge-bench", failed=True,
               na="run failed: exited"),
        br.row("auth", "b", "mxedge-bench"),          # neither
        # b has no idle row at all
    ]
    got = {(s, scn): why for s, scn, why in br.outcomes(rows, ["a", "b"], only)}
    assert set(got) == {(s, scn) for s in "ab" for scn in only}
    assert all(got[("a", scn)] is None for scn in only)
    assert got[("b", "plain-4k")] == "run failed: exited"
    assert got[("b", "auth")] == "no figure and no n/a reason"
    assert got[("b", "idle")].startswith("no result")
    xml = tmp_path / "smoke.xml"
    br.write_junit(str(xml), br.outcomes(rows, ["a", "b"], only), 1.0)
    cases = list(ET.parse(xml).getroot().iter("testcase"))
    assert len(cases) == 6
    failed = sorted(c.get("name") for c in cases if c.find("failure") is not None)
    assert failed == ["auth[b]", "idle[b]", "plain-4k[b]"]
