# SPDX-License-Identifier: BSD-3-Clause
"""STARTTLS (RFC 3207, issue 4) against real TLS clients: openssl s_client
-starttls smtp (RSA and ECDSA certificates made here with openssl req,
allowed and refused versions, SNI, ticket resumption), Python smtplib
starttls(), swaks --tls, the plaintext-injection case (CVE-2011-0411) and
mandatory mode."""

import hashlib
import json
import shutil
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from mxit import planned

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


# Issue 8: every test here runs once per TLS backend (the tls_backend
# fixture); tls_flags adds --tls-backend.
_backend = ["mbedtls"]


@pytest.fixture(autouse=True, params=["mbedtls", "openssl"])
def tls_backend(request):
    _backend[0] = request.param
    yield request.param
    _backend[0] = "mbedtls"


def tls_flags(*pairs, mode=None, minv=None):
    a = ["--tls-backend", _backend[0]]
    for crt, key in pairs:
        a += ["--tls-cert", crt, "--tls-key", key]
    if mode:
        a += ["--tls-mode", mode]
    if minv:
        a += ["--tls-min-version", minv]
    return a


def s_client(m, *opts, stdin=b"QUIT\r\n"):
    """openssl s_client -starttls smtp against m; returns (rc, output)."""
    cmd = ["openssl", "s_client", "-starttls", "smtp", "-connect",
           "%s:%d" % (m.host, m.port), "-servername", HOST, "-ign_eof", *opts]
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
    rc, out = s_client(m, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
    assert rc == 0, out
    assert "ECDHE-ECDSA-AES128-GCM-SHA256" in out
    rc, out = s_client(m, "-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384")
    assert rc == 0, out
    assert "ECDHE-RSA-AES256-GCM-SHA384" in out
    assert "221 2.0.0" in out


def test_versions_allowed_and_refused(mx, certs):
    m = mx.start(extra=tls_flags(certs["rsa"]))
    for v in ("-tls1", "-tls1_1", "-tls1_2"):
        rc, out = s_client(m, v, "-cipher", "DEFAULT@SECLEVEL=0")
        assert rc == 0, (v, out)
    m2 = mx.start(extra=tls_flags(certs["rsa"], minv="1.2"))
    for v in ("-tls1", "-tls1_1"):
        rc, out = s_client(m2, v, "-cipher", "DEFAULT@SECLEVEL=0")
        assert rc != 0, (v, out)
    rc, out = s_client(m2, "-tls1_2")
    assert rc == 0, out


def test_sni_picks_certificate(mx, certs):
    m = mx.start(extra=tls_flags(certs["rsa"], certs["other"]))
    _, out = s_client(m, "-servername", "other.test")
    assert "CN = other.test" in out, out
    _, out = s_client(m, "-servername", HOST)
    assert "CN = mx.test" in out, out


def test_ticket_resumption(mx, certs, tmp_path):
    m = mx.start(extra=tls_flags(certs["rsa"]))
    sess = str(tmp_path / "sess.pem")
    rc, out = s_client(m, "-tls1_2", "-sess_out", sess)
    assert rc == 0, out
    rc, out = s_client(m, "-tls1_2", "-sess_in", sess)
    assert rc == 0, out
    assert "Reused, TLSv1.2" in out, out


def test_tls13_and_tls12_with_s_client(mx, certs, tls_backend):
    """-tls1_3 negotiates TLS 1.3 on OpenSSL and is refused by mbedTLS
    2.28 (no TLS 1.3); -tls1_2 works on both."""
    m = mx.start(extra=tls_flags(certs["rsa"], certs["ec"]))
    rc, out = s_client(m, "-tls1_3")
    if tls_backend == "openssl":
        assert rc == 0, out
        assert "New, TLSv1.3" in out, out
        assert "221 2.0.0" in out
    else:
        assert rc != 0, out
    rc, out = s_client(m, "-tls1_2")
    assert rc == 0, out
    assert "New, TLSv1.2" in out, out


def test_min_version_1_3(mx, mxedge_bin, certs, tmp_path, tls_backend):
    """--tls-min-version 1.3: accepted with openssl (TLS 1.2 then
    refused), refused at start with a clear error with mbedtls."""
    if tls_backend == "mbedtls":
        spool = tmp_path / "spool"
        spool.mkdir()
        r = subprocess.run([mxedge_bin, "run", "--transport", "kernel",
                            "--listen", "127.0.0.1:0", "--hostname", HOST,
                            "--local-domain", "example.org", "--spool",
                            str(spool), *tls_flags(certs["rsa"], minv="1.3")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=30)
        assert r.returncode != 0
        assert b"openssl" in r.stdout, r.stdout
        return
    m = mx.start(extra=tls_flags(certs["rsa"], minv="1.3"))
    rc, out = s_client(m, "-tls1_2")
    assert rc != 0, out
    rc, out = s_client(m, "-tls1_3")
    assert rc == 0, out
    assert "New, TLSv1.3" in out, out


def test_python_ssl_tls13_delivers(mx, certs, tls_backend):
    """Python ssl with TLS 1.3 as its minimum: delivers over OpenSSL,
    fails the handshake on mbedTLS."""
    m = mx.start(extra=tls_flags(certs["ec"]))
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    with smtplib.SMTP(m.host, m.port, timeout=20) as s:
        s.ehlo("client.example")
        if tls_backend == "mbedtls":
            with pytest.raises((ssl.SSLError, smtplib.SMTPServerDisconnected,
                                ConnectionError)):
                s.starttls(context=ctx)
            return
        s.starttls(context=ctx)
        assert s.sock.version() == "TLSv1.3"
        s.ehlo("client.example")
        s.sendmail("a@example.com", ["b@example.org"],
                   b"Subject: t\r\n\r\nhello over TLS 1.3\r\n")


def test_smtplib_starttls_delivers(mx, certs, tls_backend):
    m = mx.start(extra=tls_flags(certs["rsa"]))
    with smtplib.SMTP(m.host, m.port, timeout=20) as s:
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
    # The best both sides have: TLS 1.3 only with OpenSSL (issue 8).
    want = "TLSv1.3" if tls_backend == "openssl" else "TLSv1.2"
    assert lines[-1]["tls"]["version"] == want
    assert "GCM" in lines[-1]["tls"]["cipher"] or "CHACHA" in lines[-1]["tls"]["cipher"]


def test_swaks_tls(mx, certs):
    swaks = shutil.which("swaks")
    if swaks is None:
        pytest.fail("swaks is not installed", pytrace=False)
    m = mx.start(extra=tls_flags(certs["ec"]))
    r = subprocess.run([swaks, "--server", "%s:%d" % (m.host, m.port), "--tls",
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
    raw = socket.create_connection((m.host, m.port), timeout=10)
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
    with smtplib.SMTP(m.host, m.port, timeout=20) as s:
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
    with smtplib.SMTP(m.host, m.port, timeout=20) as s:
        s.ehlo("client.test")
        assert not s.has_extn("starttls")
        code, _ = s.docmd("STARTTLS")
        assert code == 502


def test_weak_key_refused_at_start(mxedge_bin, tmp_path):
    crt, key = make_cert(tmp_path, "weak", "rsa:1024")
    # The key is refused while the configuration loads, before any
    # transport starts: the same on both, so the kernel one is named.
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


# ---- TLS policy: connection profiles, client certificates, reload ----

def profiles_file(d, profiles):
    """A configuration file holding tls.profiles (JSON is YAML)."""
    path = d / "profiles.yaml"
    path.write_text(json.dumps({"tls": {"profiles": profiles}}, indent=1))
    return path


def client_ctx(cert=None, minv=None, maxv=None, ciphers=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if ciphers:
        ctx.set_ciphers(ciphers)
    if minv is not None:
        ctx.minimum_version = minv
    if maxv is not None:
        ctx.maximum_version = maxv
    if cert is not None:
        ctx.load_cert_chain(*cert)
    return ctx


def mail_from(m, sender, ctx=None, source=None):
    """EHLO, STARTTLS when ctx is given, MAIL FROM; returns (code, text)."""
    src = (source, 0) if source else None
    with smtplib.SMTP(m.host, m.port, timeout=20, source_address=src) as s:
        s.ehlo("client.test")
        if ctx is not None:
            s.starttls(context=ctx)
            s.ehlo("client.test")
        code, msg = s.docmd("MAIL", "FROM:<%s>" % sender)
        return code, msg.decode(errors="replace")


def tls_metrics(m):
    from mxit import check
    return check.metrics(m.metrics_port)[1]


@pytest.fixture
def pki_set(tmp_path):
    """Two CAs (one trusted by the profiles, one not) and client
    certificates: good, non-matching name, untrusted, and ones naming
    sender domains."""
    from mxit import pki
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed", pytrace=False)
    d = tmp_path / "pki"
    d.mkdir()
    ca = pki.CA(d, "partner-ca")
    rogue = pki.CA(d, "rogue-ca")
    return {
        "ca": ca.crt,
        "good": ca.issue("good", "client.partner.test", ["client.partner.test"]),
        "wrongname": ca.issue("wrongname", "evil.test", ["evil.test"]),
        "untrusted": rogue.issue("untrusted", "client.partner.test",
                                 ["client.partner.test"]),
        "bank": ca.issue("bank", "mail.bank.test", ["mail.bank.test"]),
        "bank_rogue": rogue.issue("bank-rogue", "mail.bank.test", ["mail.bank.test"]),
    }


# TLS 1.1 is what the profile must refuse; Python warns it is old.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_profile_versions_and_suites_at_handshake(mx, certs, tmp_path):
    """A CIDR profile (the test's own address) with TLS 1.2 and the
    strength floor "high": the handshake itself refuses older versions
    and non-AEAD suites; another source address keeps the defaults."""
    us, other = planned.client_addr(mx, 0), planned.client_addr(mx, 1)
    cfg = profiles_file(tmp_path, [
        {"name": "strict", "clients": [us + "/32"], "min_version": "1.2",
         "strength": "high"}])
    m = mx.start(config=cfg, metrics=True, extra=tls_flags(certs["rsa"]))
    planned.check(m, clients=[(0, us), (1, other)])
    rc, out = s_client(m, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256")
    assert rc == 0, out
    for v in ("-tls1", "-tls1_1"):
        rc, out = s_client(m, v, "-cipher", "DEFAULT@SECLEVEL=0")
        assert rc != 0, (v, out)
    for suite in ("ECDHE-RSA-AES128-SHA256", "AES128-GCM-SHA256", "AES256-SHA"):
        rc, out = s_client(m, "-tls1_2", "-cipher", suite)
        assert rc != 0, (suite, out)
    s = tls_metrics(m)
    assert s['mxedge_tls_handshake_failures_total{reason="version"}'] == 2
    assert s['mxedge_tls_handshake_failures_total{reason="cipher"}'] == 3
    assert s["mxedge_tls_handshakes_total"] == 1
    # Not in the profile: TLS 1.1 with a CBC suite is still accepted.
    ctx = client_ctx(minv=ssl.TLSVersion.TLSv1_1, maxv=ssl.TLSVersion.TLSv1_1,
                     ciphers="DEFAULT@SECLEVEL=0")
    code, _ = mail_from(m, "a@client.test", ctx=ctx, source=other)
    assert code == 250


def test_profile_named_ciphers(mx, certs, tmp_path):
    cfg = profiles_file(tmp_path, [
        {"name": "one-suite", "clients": [planned.client_net(mx)],
         "ciphers": ["TLS-ECDHE-RSA-WITH-AES-256-GCM-SHA384"]}])
    m = mx.start(config=cfg, extra=tls_flags(certs["rsa"]))
    rc, out = s_client(m, "-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384")
    assert rc == 0, out
    rc, out = s_client(m, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256")
    assert rc != 0, out


def test_profile_client_certificates(mx, certs, pki_set, tmp_path):
    """client_cert required with a CA and a "*." pattern: good passes (and
    the verdict log records it), missing, untrusted and wrong name fail
    the handshake, each counted by reason."""
    us = planned.client_addr(mx, 0)
    cfg = profiles_file(tmp_path, [
        {"name": "partners", "clients": [us + "/32"], "client_cert": "required",
         "ca_file": pki_set["ca"], "cert_match": "*.partner.test"}])
    m = mx.start(config=cfg, metrics=True, extra=tls_flags(certs["rsa"]))
    planned.check(m, clients=[(0, us)])
    good_crt, good_key = pki_set["good"]
    rc, out = s_client(m, "-cert", good_crt, "-key", good_key)
    assert rc == 0 and "221 2.0.0" in out, out
    rc, out = s_client(m)
    assert rc != 0, out
    for name in ("untrusted", "wrongname"):
        crt, key = pki_set[name]
        rc, out = s_client(m, "-cert", crt, "-key", key)
        assert rc != 0, (name, out)
    s = tls_metrics(m)
    assert s['mxedge_tls_handshake_failures_total{reason="no_client_cert"}'] == 1
    assert s['mxedge_tls_handshake_failures_total{reason="bad_client_cert"}'] == 1
    assert s['mxedge_tls_handshake_failures_total{reason="cert_mismatch"}'] == 1
    # A message over the good certificate: subject, issuer, fingerprint.
    from mxit import pki
    with smtplib.SMTP(m.host, m.port, timeout=20) as c:
        c.ehlo("client.test")
        c.starttls(context=client_ctx(cert=pki_set["good"]))
        c.ehlo("client.test")
        c.sendmail("a@partner.test", ["user@example.org"],
                   b"Subject: cert\r\n\r\nwith a client certificate\r\n")
    from mxit import check
    line = check.read_vlog(m.vlog_path, 1)[-1]
    cc = line["tls"]["client_cert"]
    assert "CN=client.partner.test" in cc["subject"]
    assert "CN=partner-ca" in cc["issuer"]
    assert cc["sha256"] == pki.fingerprint(good_crt)
    assert cc["verified"] is True
    assert line["tls"]["profile"] == "partners"


# TLS 1.1 is what the profile must refuse; Python warns it is old.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_sender_domain_profiles_at_mail_from(mx, certs, pki_set, tmp_path):
    cfg = profiles_file(tmp_path, [
        {"name": "partner-tls", "sender_domains": ["partner.test"],
         "require_tls": True, "min_version": "1.2"},
        {"name": "bank", "sender_domains": [".bank.test"], "require_tls": True,
         "client_cert": "required", "ca_file": pki_set["ca"],
         "cert_match": "sender-domain"},
        {"name": "strong", "sender_domains": ["strong.test"], "strength": "high"}])
    m = mx.start(config=cfg, metrics=True, extra=tls_flags(certs["rsa"]))
    code, msg = mail_from(m, "a@partner.test")
    assert (code, msg) == (530, "5.7.0 Must issue a STARTTLS command first "
                                "(TLS required for partner.test)")
    code, _ = mail_from(m, "a@other.test")
    assert code == 250
    code, _ = mail_from(m, "a@partner.test", ctx=client_ctx())
    assert code == 250
    old = client_ctx(minv=ssl.TLSVersion.TLSv1_1, maxv=ssl.TLSVersion.TLSv1_1,
                     ciphers="DEFAULT@SECLEVEL=0")
    code, msg = mail_from(m, "a@partner.test", ctx=old)
    assert code == 550, msg
    assert msg == ("5.7.0 TLS version TLSv1.1 is below the TLSv1.2 required "
                   "for partner.test")
    code, msg = mail_from(m, "a@mail.bank.test", ctx=client_ctx())
    assert (code, msg) == (550, "5.7.0 A client certificate is required for "
                                "mail.bank.test")
    code, msg = mail_from(m, "a@mail.bank.test",
                          ctx=client_ctx(cert=pki_set["good"]))
    assert (code, msg) == (550, "5.7.0 Client certificate does not name the "
                                "sender domain mail.bank.test")
    code, msg = mail_from(m, "a@mail.bank.test",
                          ctx=client_ctx(cert=pki_set["bank_rogue"]))
    assert (code, msg) == (550, "5.7.0 Client certificate not trusted for "
                                "mail.bank.test")
    code, msg = mail_from(m, "a@mail.bank.test", ctx=client_ctx(cert=pki_set["bank"]))
    assert code == 250, msg
    code, msg = mail_from(m, "a@strong.test",
                          ctx=client_ctx(ciphers="ECDHE-RSA-AES128-SHA",
                                         maxv=ssl.TLSVersion.TLSv1_2))
    assert code == 550, msg
    assert msg.startswith("5.7.0 TLS cipher suite TLS-ECDHE-RSA-WITH-AES-128-CBC-SHA "
                          "is not allowed for strong.test"), msg
    code, _ = mail_from(m, "a@strong.test", ctx=client_ctx())
    assert code == 250
    s = tls_metrics(m)
    refused = {r: s['mxedge_tls_policy_refused_total{reason="%s"}' % r]
               for r in ("plaintext", "version", "cipher", "no_client_cert",
                         "bad_client_cert", "cert_mismatch")}
    assert refused == {"plaintext": 1, "version": 1, "cipher": 1,
                       "no_client_cert": 1, "bad_client_cert": 1,
                       "cert_mismatch": 1}
    assert s['mxedge_tls_mail_total{profile="partner-tls",tls="no"}'] == 1
    assert s['mxedge_tls_mail_total{profile="partner-tls",tls="yes"}'] == 2
    assert s['mxedge_tls_mail_total{profile="bank",tls="yes"}'] == 4
    assert s['mxedge_tls_mail_total{profile="none",tls="no"}'] == 1


def test_cidr_profile_chosen_by_source_address(mx, certs, tmp_path):
    first, second = planned.client_addr(mx, 0), planned.client_addr(mx, 1)
    cfg = profiles_file(tmp_path, [
        {"name": "second-host", "clients": [second + "/32"], "require_tls": True}])
    m = mx.start(config=cfg, metrics=True, extra=tls_flags(certs["rsa"]))
    planned.check(m, clients=[(0, first), (1, second)])
    code, msg = mail_from(m, "a@client.test", source=second)
    assert (code, msg) == (530, "5.7.0 Must issue a STARTTLS command first "
                                "(TLS required for your address)")
    code, _ = mail_from(m, "a@client.test", source=first)
    assert code == 250
    code, _ = mail_from(m, "a@client.test", ctx=client_ctx(), source=second)
    assert code == 250
    s = tls_metrics(m)
    assert s['mxedge_tls_mail_total{profile="second-host",tls="no"}'] == 1
    assert s['mxedge_tls_mail_total{profile="second-host",tls="yes"}'] == 1
    assert s['mxedge_tls_mail_total{profile="none",tls="no"}'] == 1


def test_profiles_config_errors_name_the_line(mxedge_bin, certs, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("tls:\n"
                   "  profiles:\n"
                   "    - name: p1\n"
                   "      clients: [10.0.0.0/33]\n"
                   "      client_cert: sometimes\n"
                   "    - name: p2\n")
    r = subprocess.run([mxedge_bin, "check-config", "-c", str(cfg)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, timeout=30)
    out = r.stdout.decode(errors="replace")
    assert r.returncode != 0
    assert "bad.yaml:4: tls.profiles[1].clients: '10.0.0.0/33'" in out, out
    assert "bad.yaml:5: tls.profiles[1].client_cert: 'sometimes'" in out, out
    assert "bad.yaml:6: tls.profiles[2]: matches nothing" in out, out


def _open_mid_transaction(m, n):
    """n TLS sessions stopped in the middle of DATA; returns them with
    the fingerprint of the certificate each handshake saw."""
    out = []
    for i in range(n):
        c = smtplib.SMTP(m.host, m.port, timeout=20)
        c.ehlo("client.test")
        c.starttls(context=client_ctx())
        c.ehlo("client.test")
        assert c.mail("s%d@client.test" % i)[0] == 250
        assert c.rcpt("user@example.org")[0] == 250
        code, _ = c.docmd("DATA")
        assert code == 354
        c.send(b"Subject: reload %d\r\n\r\nfirst half\r\n" % i)
        out.append((c, hashlib.sha256(c.sock.getpeercert(binary_form=True)).hexdigest()))
    return out


def _served_fingerprint(m):
    rc, out = s_client(m, "-showcerts")
    assert rc == 0, out
    pem = out[out.index("-----BEGIN CERTIFICATE-----"):
              out.index("-----END CERTIFICATE-----") + 25]
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def test_reload_swaps_certificate_under_load(mx, tmp_path):
    """SIGHUP with a new certificate at the same path while 20 sessions
    are mid-transaction: they all complete, new handshakes present the new
    certificate; a bad new certificate (RSA-1024) keeps the current one."""
    import os
    import signal
    from mxit import pki
    live = tmp_path / "live"
    live.mkdir()
    a = pki.self_signed(tmp_path, "a", "rsa:2048", HOST)
    b = pki.self_signed(tmp_path, "b", "ec -pkeyopt ec_paramgen_curve:P-256", HOST)
    weak = pki.self_signed(tmp_path, "weak", "rsa:1024", HOST)
    crt, key = str(live / "mx.crt"), str(live / "mx.key")

    def install(pair):
        for src, dst in zip(pair, (crt, key)):
            tmp = dst + ".new"
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)

    install(a)
    m = mx.start(metrics=True, extra=tls_flags((crt, key)))
    fa, fb = pki.fingerprint(a[0]), pki.fingerprint(b[0])
    assert _served_fingerprint(m) == fa
    sessions = _open_mid_transaction(m, 20)
    install(b)
    m.signal(signal.SIGHUP)
    deadline = time.time() + 15
    seen = None
    while time.time() < deadline:
        seen = _served_fingerprint(m)
        if seen == fb:
            break
        time.sleep(0.1)
    assert seen == fb
    for i, (c, fp) in enumerate(sessions):
        assert fp == fa
        c.send(b"second half\r\n.\r\n")
        code, msg = c.getreply()
        assert code == 250, (i, msg)
        c.quit()
    s = tls_metrics(m)
    assert s['mxedge_tls_cert_expiry_days{cert="%s"}' % crt] in (89, 90)
    # A refused certificate: the reload is refused, b stays.
    install(weak)
    m.signal(signal.SIGHUP)
    deadline = time.time() + 15
    while time.time() < deadline and b"below 2048" not in m.stderr_bytes():
        time.sleep(0.1)
    assert b"reload refused: tls:" in m.stderr_bytes()
    assert _served_fingerprint(m) == fb
    code, _ = mail_from(m, "a@client.test", ctx=client_ctx())
    assert code == 250
