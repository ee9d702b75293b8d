# SPDX-License-Identifier: BSD-3-Clause
"""STARTTLS (RFC 3207, issue 4) against real TLS clients: openssl s_client
-starttls smtp (RSA and ECDSA certificates made here with openssl req,
allowed and refused versions, SNI, ticket resumption), Python smtplib
starttls(), swaks --tls, the plaintext-injection case (CVE-2011-0411) and
mandatory mode."""

import json
import shutil
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

pytestmark = pytest.mark.asan

HOST = "mx.test"


def make_cert(d, name, newkey, san=HOST):
    crt, key = d / (name + ".crt"), d / (name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", *newkey.split(),
                    "-nodes", "-keyout", str(key), "-out", str(crt),
                    "-days", "90", "-subj", "/CN=" + san,
                    "-addext", "subjectAltName=DNS:" + san],
                   check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)
    return str(crt), str(key)


@pytest.fixture
def certs(tmp_path):
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed", pytrace=False)
    return {
        "rsa": make_cert(tmp_path, "rsa", "rsa:2048"),
        "ec": make_cert(tmp_path, "ec", "ec -pkeyopt ec_paramgen_curve:P-256"),
        "other": make_cert(tmp_path, "other", "rsa:2048", san="other.test"),
    }


def tls_flags(*pairs, mode=None, minv=None):
    a = []
    for crt, key in pairs:
        a += ["--tls-cert", crt, "--tls-key", key]
    if mode:
        a += ["--tls-mode", mode]
    if minv:
        a += ["--tls-min-version", minv]
    return a


def s_client(port, *opts, stdin=b"QUIT\r\n"):
    """openssl s_client -starttls smtp; returns (rc, output)."""
    cmd = ["openssl", "s_client", "-starttls", "smtp", "-connect",
           "127.0.0.1:%d" % port, "-servername", HOST, "-ign_eof", *opts]
    r = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    return r.returncode, r.stdout.decode(errors="replace")


def read_reply(sock, timeout=10):
    sock.settimeout(timeout)
    buf = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return buf
        buf += chunk
        lines = buf.split(b"\r\n")
        if len(lines) >= 2 and len(lines[-2]) >= 4 and lines[-2][3:4] == b" ":
            return buf


def test_rsa_and_ecdsa_chosen_by_suite(mx, certs):
    m = mx.start(extra=tls_flags(certs["rsa"], certs["ec"]))
    rc, out = s_client(m.port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
    assert rc == 0, out
    assert "ECDHE-ECDSA-AES128-GCM-SHA256" in out
    rc, out = s_client(m.port, "-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384")
    assert rc == 0, out
    assert "ECDHE-RSA-AES256-GCM-SHA384" in out
    assert "221 2.0.0" in out


def test_versions_allowed_and_refused(mx, certs):
    m = mx.start(extra=tls_flags(certs["rsa"]))
    for v in ("-tls1", "-tls1_1", "-tls1_2"):
        rc, out = s_client(m.port, v, "-cipher", "DEFAULT@SECLEVEL=0")
        assert rc == 0, (v, out)
    m2 = mx.start(extra=tls_flags(certs["rsa"], minv="1.2"))
    for v in ("-tls1", "-tls1_1"):
        rc, out = s_client(m2.port, v, "-cipher", "DEFAULT@SECLEVEL=0")
        assert rc != 0, (v, out)
    rc, out = s_client(m2.port, "-tls1_2")
    assert rc == 0, out


def test_sni_picks_certificate(mx, certs):
    m = mx.start(extra=tls_flags(certs["rsa"], certs["other"]))
    _, out = s_client(m.port, "-servername", "other.test")
    assert "CN = other.test" in out, out
    _, out = s_client(m.port, "-servername", HOST)
    assert "CN = mx.test" in out, out


def test_ticket_resumption(mx, certs, tmp_path):
    m = mx.start(extra=tls_flags(certs["rsa"]))
    sess = str(tmp_path / "sess.pem")
    rc, out = s_client(m.port, "-tls1_2", "-sess_out", sess)
    assert rc == 0, out
    rc, out = s_client(m.port, "-tls1_2", "-sess_in", sess)
    assert rc == 0, out
    assert "Reused, TLSv1.2" in out, out


def test_smtplib_starttls_delivers(mx, certs):
    m = mx.start(extra=tls_flags(certs["rsa"]))
    with smtplib.SMTP("127.0.0.1", m.port, timeout=20) as s:
        s.ehlo("client.test")
        assert s.has_extn("starttls")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s.starttls(context=ctx)
        s.ehlo("client.test")
        # RFC 3207 4.2: not offered again over TLS.
        assert not s.has_extn("starttls")
        code, _ = s.docmd("STARTTLS")
        assert code == 503
        s.sendmail("sender@client.test", ["user@example.org"],
                   b"Subject: tls\r\n\r\nover tls\r\n")
    time.sleep(0.2)
    lines = [json.loads(x) for x in open(m.vlog_path) if x.strip()]
    assert lines[-1]["tls"]["version"] == "TLSv1.2"
    assert "GCM" in lines[-1]["tls"]["cipher"] or "CHACHA" in lines[-1]["tls"]["cipher"]


def test_swaks_tls(mx, certs):
    swaks = shutil.which("swaks")
    if swaks is None:
        pytest.fail("swaks is not installed", pytrace=False)
    m = mx.start(extra=tls_flags(certs["ec"]))
    r = subprocess.run([swaks, "--server", "127.0.0.1:%d" % m.port, "--tls",
                        "--helo", "client.test", "--from", "a@client.test",
                        "--to", "user@example.org", "--timeout", "20"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, timeout=60)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, out
    assert "TLS started" in out
    assert "<~  250 2.0.0 Ok: queued" in out


def test_plaintext_after_starttls_is_discarded(mx, certs):
    """CVE-2011-0411: "STARTTLS\\r\\nRSET\\r\\n" in one write. RSET must
    never be answered in plaintext, nor executed after the handshake."""
    m = mx.start(extra=tls_flags(certs["rsa"]))
    raw = socket.create_connection(("127.0.0.1", m.port), timeout=10)
    assert read_reply(raw).startswith(b"220 ")
    raw.sendall(b"EHLO client.test\r\n")
    assert b"STARTTLS" in read_reply(raw)
    raw.sendall(b"STARTTLS\r\nRSET\r\n")
    assert read_reply(raw) == b"220 2.0.0 Ready to start TLS\r\n"
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    tls = ctx.wrap_socket(raw, server_hostname=HOST)
    # Had RSET been kept, its reply would come now, unasked.
    tls.settimeout(0.7)
    with pytest.raises(socket.timeout):
        tls.recv(4096)
    tls.sendall(b"NOOP\r\n")
    reply = read_reply(tls)
    assert reply.count(b"\r\n") == 1 and reply.startswith(b"250 "), reply
    # A new EHLO is required (RFC 3207 4.2): MAIL before it is refused.
    tls.sendall(b"MAIL FROM:<a@client.test>\r\n")
    assert read_reply(tls).startswith(b"503 ")
    tls.close()


def test_mandatory_refuses_mail_without_tls(mx, certs):
    m = mx.start(extra=tls_flags(certs["rsa"], mode="mandatory"))
    with smtplib.SMTP("127.0.0.1", m.port, timeout=20) as s:
        s.ehlo("client.test")
        code, msg = s.docmd("MAIL", "FROM:<a@client.test>")
        assert code == 530, msg
        assert msg.startswith(b"5.7.0 Must issue a STARTTLS command first")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s.starttls(context=ctx)
        s.ehlo("client.test")
        code, _ = s.docmd("MAIL", "FROM:<a@client.test>")
        assert code == 250


def test_no_starttls_without_certificates(mx):
    m = mx.start()
    with smtplib.SMTP("127.0.0.1", m.port, timeout=20) as s:
        s.ehlo("client.test")
        assert not s.has_extn("starttls")
        code, _ = s.docmd("STARTTLS")
        assert code == 502


def test_weak_key_refused_at_start(mxedge_bin, tmp_path):
    crt, key = make_cert(tmp_path, "weak", "rsa:1024")
    spool = tmp_path / "spool"
    spool.mkdir()
    r = subprocess.run([mxedge_bin, "run", "--transport", "kernel",
                        "--listen", "127.0.0.1:0", "--hostname", HOST,
                        "--local-domain", "example.org", "--spool", str(spool),
                        *tls_flags((crt, key))],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, timeout=30)
    assert r.returncode != 0
    assert b"below 2048" in r.stdout
