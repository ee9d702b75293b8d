# SPDX-License-Identifier: BSD-3-Clause
"""TLS between mxedge and real peers (issue 4, item 5 and the peer tests).

- The relay's STARTTLS to a real Postfix downstream (smtpd_tls_security_
  level=may with a certificate from a test CA): delivery.tls verify with
  that CA delivers byte-exact and Postfix logs the TLS connection; a wrong
  CA or a wrong name gives the client 451 4.7.5 and delivers nothing;
  opportunistic against a Postfix without TLS delivers in plaintext.
- Debian's Postfix as the client (smtp_tls_security_level=verify, the test
  CA, smtp_tls_verify_cert_match naming mxedge's hostname) delivering 20
  messages through mxedge's STARTTLS; the verdict log shows TLS on each.
- testssl.sh against mxedge's STARTTLS port in the default configuration:
  no finding of severity HIGH or CRITICAL.

Every test runs once per TLS backend (mbedtls, openssl): the relay's
client follows tls.backend, so both libraries' clients and servers meet
Postfix. The engine is reached through m.host/m.port only."""

import json
import shutil
import smtplib
import subprocess
import time
import urllib.request

import pytest

from mxit import bulk, check, keys, planned
from mxit.pki import CA

HOST = "mx.test"                 # conftest's --hostname
PF_NAME = "pf-downstream.test"   # the downstream Postfix's myhostname


@pytest.fixture
def ca():
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed", pytrace=False)
    c = CA(newkey="rsa:2048")
    try:
        yield c
    finally:
        c.cleanup()


def pf_tls_extra(crt, key):
    """A downstream Postfix that offers STARTTLS (RFC 3207) and logs it."""
    return {
        "smtpd_tls_cert_file": crt,
        "smtpd_tls_key_file": key,
        "smtpd_tls_security_level": "may",
        "smtpd_tls_loglevel": "1",
    }


# Issue 8: every test here runs once per TLS backend (the tls_backend
# fixture, as in test_tls.py). The relay's client follows tls.backend, so
# the relay tests exercise each library's client against Postfix, and the
# server tests each library's server; Postfix (OpenSSL 3) negotiates TLS
# 1.3 with the OpenSSL one either way.
TLS_BACKENDS = ["mbedtls", "openssl"]


@pytest.fixture(params=TLS_BACKENDS)
def tls_backend(request):
    yield request.param


def relay_tls_sets(mode, ca_file=None, name=None):
    s = [keys.kv("delivery.tls", mode)]
    if ca_file is not None:
        s.append(keys.kv("delivery.tls_ca_file", ca_file))
    if name is not None:
        s.append(keys.kv("delivery.tls_name", name))
    return s


def metric(m, name, label):
    body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % m.metrics_port,
                                  timeout=10).read().decode()
    for line in body.splitlines():
        if line.startswith(name + "{") and label in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def send_one(m, body, subject="tls test"):
    msg = ("From: a@client.test\r\nTo: user@example.org\r\nSubject: %s\r\n"
           "\r\n%s\r\n" % (subject, body)).encode()
    s = smtplib.SMTP(m.host, m.port, timeout=60)
    try:
        s.ehlo("client.test")
        s.sendmail("a@client.test", ["user@example.org"], msg)
    finally:
        try:
            s.quit()
        except smtplib.SMTPException:
            pass


def test_relay_verify_into_postfix_tls(mx, postfix, ca, tls_backend):
    crt, key = ca.leaf("pf", [PF_NAME])
    pf = postfix.downstream(host=mx.downstream_host(), hostname=PF_NAME,
                            extra=pf_tls_extra(crt, key))
    m = mx.start(downstream="%s:%d" % (pf.host, pf.port), metrics=True,
                 sets=relay_tls_sets("verify", ca.crt, PF_NAME),
                 extra=["--tls-backend", tls_backend])
    # Five messages on one client connection: the relay's pooled
    # connection keeps its TLS from one message to the next.
    b = bulk.Bulk(5, 200 << 10, prefix="tlsverify")
    b.send(m.port, threads=1, host=m.host)
    assert b.failures() == {}
    check.wait_until(lambda: len(pf.maildir_files()) >= b.n, 60,
               "5 messages in the Maildir")
    idx = [bulk.check_maildir_file(b, p) for p in pf.maildir_files()]
    missing, dup = bulk.count_ids(idx, b.n)
    assert missing == [] and dup == [], (missing, dup)
    log = pf.log_text()
    assert "TLS connection established from" in log, log
    lines = check.read_vlog(m.vlog_path, b.n)
    # mbedTLS 2.28 has no TLS 1.3; OpenSSL and Postfix agree on it, with
    # a TLS 1.3 suite (RFC 8446 B.4) in the same spelling.
    if tls_backend == "openssl":
        want, suite = "TLSv1.3", ("TLS-AES-", "TLS-CHACHA20-")
    else:
        want, suite = "TLSv1.2", ("TLS-ECDHE-",)
    for ln in lines:
        rt = ln["relay_tls"]
        assert rt["verify"] == "ok", ln
        assert rt["version"] == want, ln
        assert rt["cipher"].startswith(suite), ln
    assert metric(m, "mxedge_relay_tls_total", 'result="ok"') >= 1


@pytest.mark.parametrize("case", ["wrong_ca", "wrong_name"])
def test_relay_verify_refuses(mx, postfix, ca, case, tls_backend):
    crt, key = ca.leaf("pf", [PF_NAME])
    pf = postfix.downstream(host=mx.downstream_host(), hostname=PF_NAME,
                            extra=pf_tls_extra(crt, key))
    if case == "wrong_ca":
        other = CA(name="another test CA", newkey="rsa:2048")
        ca_file, name, why = other.crt, PF_NAME, "untrusted"
    else:
        other = None
        ca_file, name, why = ca.crt, "wrong.test", "name mismatch"
    try:
        m = mx.start(downstream="%s:%d" % (pf.host, pf.port), metrics=True,
                     sets=relay_tls_sets("verify", ca_file, name),
                     extra=["--tls-backend", tls_backend])
        with pytest.raises(smtplib.SMTPDataError) as ei:
            send_one(m, "must not be delivered")
    finally:
        if other is not None:
            other.cleanup()
    assert ei.value.smtp_code == 451, ei.value
    assert ei.value.smtp_error.startswith(b"4.7.5"), ei.value
    ln = check.read_vlog(m.vlog_path, 1)[0]
    assert ln["verdict"] == "tempfail", ln
    assert ln["relay_tls"]["verify"] == why, ln
    assert ln["relay_tls"]["version"] is None, ln
    assert metric(m, "mxedge_relay_tls_total", 'result="cert_refused"') >= 1
    # Nothing reached Postfix: give a delivery that should not happen the
    # time a real one takes, then look.
    time.sleep(2)
    assert pf.maildir_files() == []
    assert pf.queue_count() == 0


def test_relay_opportunistic_plaintext(mx, postfix, tls_backend):
    pf = postfix.downstream(host=mx.downstream_host(), hostname=PF_NAME)
    m = mx.start(downstream="%s:%d" % (pf.host, pf.port), metrics=True,
                 sets=relay_tls_sets("opportunistic"),
                 extra=["--tls-backend", tls_backend])
    b = bulk.Bulk(2, 10 << 10, prefix="tlsopp")
    b.send(m.port, threads=1, host=m.host)
    assert b.failures() == {}
    check.wait_until(lambda: len(pf.maildir_files()) >= b.n, 60,
               "2 messages in the Maildir")
    idx = [bulk.check_maildir_file(b, p) for p in pf.maildir_files()]
    assert sorted(idx) == [0, 1]
    assert "TLS connection established" not in pf.log_text()
    for ln in check.read_vlog(m.vlog_path, b.n):
        assert ln["relay_tls"] == {"version": None, "cipher": None,
                                   "verify": "not offered"}, ln
    assert metric(m, "mxedge_relay_tls_total", 'result="plaintext"') >= 1


def test_postfix_client_verifies_mxedge(mx, postfix, ca, tls_backend):
    crt, key = ca.leaf("mx", [HOST])
    m = mx.start(extra=["--tls-backend", tls_backend,
                        "--tls-cert", crt, "--tls-key", key])
    pf = postfix.client(relay_port=m.port, relay_host=m.host, extra={
        "smtp_tls_security_level": "verify",
        "smtp_tls_CAfile": ca.crt,
        "smtp_tls_verify_cert_match": HOST,
        "smtp_tls_loglevel": "1",
    })
    b = bulk.Bulk(20, 64 << 10, prefix="pfverify")
    pf.relay_bulk(b, m.spool_dir)
    assert "Verified TLS connection established to" in pf.log_text()
    lines = check.read_vlog(m.vlog_path, b.n)
    assert len(lines) == b.n
    want = "TLSv1.3" if tls_backend == "openssl" else "TLSv1.2"
    for ln in lines:
        assert ln["tls"] is not None and ln["tls"]["version"] == want, ln


def find_testssl():
    for name in ("testssl", "testssl.sh"):
        p = shutil.which(name)
        if p is not None:
            return p
    pytest.fail("testssl.sh is not installed (scripts/install-deps)",
                pytrace=False)


@pytest.mark.slow
def test_testssl_no_high_findings(mx, ca, tmp_path, tls_backend):
    tool = find_testssl()
    # Only mxedge's TLS is under test: the certificate is one a careful
    # operator would deploy (a year's validity, a SAN for the name and the
    # address scanned, a CRL distribution point) from a CA the scan is
    # told to trust, so that certificate findings cannot hide or stand in
    # for protocol and cipher ones.
    host = planned.host(mx)
    crt, key = ca.leaf("mx", [HOST], ips=[host], days=365,
                       crl_uri="http://127.0.0.1/mxit-test.crl")
    m = mx.start(extra=["--tls-backend", tls_backend,
                        "--tls-cert", crt, "--tls-key", key])
    planned.check(m, host_addr=host)
    out = tmp_path / "testssl.json"
    # Bounded: --fast skips the slow cipher-by-cipher enumeration and
    # client simulations; -p -S -U -s still cover protocols, the
    # server defaults, the vulnerabilities and the cipher categories,
    # which is where HIGH/CRITICAL findings come from.
    cmd = [tool, "--starttls", "smtp", "--jsonfile", str(out), "--quiet",
           "--color", "0", "--warnings", "off", "--fast", "--sneaky",
           "--add-ca", ca.crt,
           "-p", "-S", "-U", "-s", "--ip", "one",
           "%s:%d" % (m.host, m.port)]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=900)
    assert out.exists(), r.stdout.decode(errors="replace")[-4000:]
    findings = json.loads(out.read_text())
    bad = [f for f in findings
           if f.get("severity") in ("HIGH", "CRITICAL")]
    assert bad == [], json.dumps(bad, indent=1)
    # The scan reached the server (a scan that never connected has no
    # protocol findings at all).
    assert any(f.get("id") == "TLS1_2" and "offered" in f.get("finding", "")
               for f in findings), r.stdout.decode(errors="replace")[-4000:]
