# SPDX-License-Identifier: BSD-3-Clause
"""Sender authentication in the engine (issue 5): SPF, DKIM and DMARC
checked by the verifier stage against a real DNS server on loopback
(tests/conformance/dns_server.py) serving SPF records, DKIM keys made for
the test and DMARC records; messages signed with python3-dkim. The SMTP
replies (250; 550 5.7.23 at MAIL FROM under auth.spf enforce, also when
pipelined; 550 5.7.1 at end of data for DMARC p=reject; 451 4.4.3 when
the DNS never answers and auth.temperror is tempfail), the one
Authentication-Results field with our authserv-id in the spooled or
relayed message and the forged one renamed, the verdict-log line and the
/metrics counters; with the verifier on its own thread and on the
worker's loop."""

import base64
import pathlib
import re
import socket
import subprocess
import sys
import time

import dkim
import pytest

from mxit import check, smtp, spool

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "conformance"))
import dns_server  # noqa: E402  (shared with the conformance suite)

pytestmark = pytest.mark.asan

HOSTNAME = "mx.test"
RCPT = "bob@example.org"
# Every address a test client may come from, on either transport.
CLIENT_NETS = "ip4:127.0.0.0/8 ip4:198.18.0.0/15"
BODY = b"Hello Bob,\r\n\r\nline two\r\n"


def _keypair(tmp_path):
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True,
                   capture_output=True, timeout=60)
    der = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True, timeout=60).stdout
    return key.read_bytes(), base64.b64encode(der).decode()


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory):
    return _keypair(tmp_path_factory.mktemp("dkim"))


def zone(pub):
    p = "v=DKIM1; k=rsa; p=" + pub
    return {
        "pass.example": [{"TXT": "v=spf1 %s -all" % CLIENT_NETS}],
        "fail.example": [{"TXT": "v=spf1 ip4:192.0.2.1 -all exp=exp.fail.example"}],
        "exp.fail.example": [{"TXT": "Not authorized by fail.example"}],
        # DMARC for these rests on DKIM alone: their SPF never passes.
        "signed.example": [{"TXT": "v=spf1 ip4:192.0.2.1 -all"}],
        "sel._domainkey.signed.example": [{"TXT": [p[i:i + 200] for i in range(0, len(p), 200)]}],
        "_dmarc.signed.example": [{"TXT": "v=DMARC1; p=reject"}],
        "quar.example": [{"TXT": "v=spf1 ip4:192.0.2.1 -all"}],
        "_dmarc.quar.example": [{"TXT": "v=DMARC1; p=quarantine"}],
    }


@pytest.fixture
def dns(dkim_key):
    srv = dns_server.DnsServer(zone(dkim_key[1]))
    try:
        yield srv
    finally:
        srv.stop()


def message(frm, subject="auth test", extra=b""):
    return (extra + b"From: <" + frm.encode() + b">\r\nTo: <" + RCPT.encode() +
            b">\r\nSubject: " + subject.encode() + b"\r\n"
            b"Date: Mon, 23 Nov 2026 00:00:00 +0000\r\n"
            b"Message-ID: <" + subject.replace(" ", ".").encode() + b"@test>\r\n\r\n" + BODY)


def signed(key, frm, subject="signed", extra=b""):
    msg = message(frm, subject)
    sig = dkim.sign(msg, b"sel", frm.split("@")[1].encode(), key,
                    include_headers=[b"from", b"to", b"subject", b"date"])
    return extra + sig + msg


def start(mx, dns_port, sets=(), **kw):
    return mx.start(metrics=True, sets=["dns.resolver=127.0.0.1:%d" % dns_port,
                                        "auth.authserv_id=" + HOSTNAME] + list(sets), **kw)


def transact(m, mail_from, msg):
    c, _ = smtp.greet(m.port, host=m.host)
    try:
        return smtp.send_message(c, mail_from, [RCPT], msg)
    finally:
        c.close()


def fields_of(data):
    fields, _ = spool.split_fields(data)
    return fields


def our_ar(fields):
    return [raw for n, raw in fields if n == "authentication-results" and
            re.match(rb"Authentication-Results:\s*mx\.test\s*;", raw, re.I)]


def test_spf_enforce_at_mail_from(mx, dns):
    m = start(mx, dns.port, ["auth.spf=enforce"])
    r = transact(m, "a@fail.example", message("a@fail.example"))
    assert r[0].code == 550 and r[0].text.startswith(
        "5.7.23 SPF validation failed: Not authorized by fail.example"), r
    r = transact(m, "a@pass.example", message("a@pass.example", "spf pass"))
    assert [x.code for x in r] == [250, 250, 354, 250], r
    msgs = check.spool_messages(m, 1)
    ar = our_ar(fields_of(msgs[0].data))
    assert len(ar) == 1, fields_of(msgs[0].data)
    assert b"spf=pass smtp.mailfrom=a@pass.example" in ar[0], ar
    lines = check.read_vlog(m.vlog_path, 2)
    refused = [ln for ln in lines if ln["end"] == "mail"][0]
    assert refused["verdict"] == "reject"
    assert refused["checks"]["spf"] == "fail"
    assert refused["auth"]["spf"]["domain"] == "fail.example"
    ok = [ln for ln in lines if ln["end"] == "data"][0]
    assert ok["checks"]["spf"] == "pass" and ok["verdict"] == "accept"
    _, s = check.metrics(m.metrics_port)
    assert s['mxedge_auth_spf_total{result="fail"}'] >= 1
    assert s['mxedge_auth_spf_total{result="pass"}'] >= 1
    assert s["mxedge_auth_rejected_total"] == 1
    assert s["mxedge_auth_jobs_total"] >= 2
    assert check.metric_sum(s, r"^mxedge_auth_dns_queries_total") >= 1


def test_spf_enforce_pipelined_in_order(mx, dns):
    """MAIL, RCPT and DATA in one write: the MAIL reply waits for the
    verifier, the rest stays buffered and is answered after it, in order
    (RFC 2920 3.1)."""
    m = start(mx, dns.port, ["auth.spf=enforce"])
    for frm, want in (("a@fail.example", [550, 503, 503]),
                      ("a@pass.example", [250, 250, 354])):
        c, _ = smtp.greet(m.port, host=m.host)
        c.send(("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (frm, RCPT)).encode())
        got = [c.read_reply() for _ in range(3)]
        assert [x.code for x in got] == want, got
        if want[-1] == 354:
            c.send(smtp.dot_stuff(message(frm, "pipelined")))
            assert c.read_reply().code == 250
        c.close()
    check.spool_messages(m, 1)


def test_spf_record_does_not_refuse(mx, dns):
    m = start(mx, dns.port, ["auth.spf=record"])
    r = transact(m, "a@fail.example", message("a@fail.example", "recorded"))
    assert [x.code for x in r] == [250, 250, 354, 250], r
    msg = check.spool_messages(m, 1)[0]
    ar = our_ar(fields_of(msg.data))
    assert len(ar) == 1 and b"spf=fail smtp.mailfrom=a@fail.example" in ar[0], ar
    assert check.read_vlog(m.vlog_path, 1)[0]["checks"]["spf"] == "fail"


def test_senderid(mx, dns):
    """auth.senderid: the PRA (RFC 4407: here the From address) checked
    with the SPF machinery, senderid= in the header and the log."""
    m = start(mx, dns.port, ["auth.spf=record", "auth.senderid=true"])
    r = transact(m, "x@signed.example", message("a@pass.example", "sid"))
    assert r[-1].code == 250, r
    ar = our_ar(fields_of(check.spool_messages(m, 1)[0].data))
    assert len(ar) == 1 and b"senderid=pass" in ar[0], ar
    ln = check.read_vlog(m.vlog_path, 1)[0]
    assert ln["auth"]["senderid"] == {"result": "pass", "pra": "a@pass.example"}


@pytest.mark.parametrize("verifier", ["thread", "worker"])
def test_dkim_dmarc(mx, dns, dkim_key, verifier):
    key = dkim_key[0]
    m = start(mx, dns.port, ["auth.spf=record", "auth.dmarc=enforce",
                             "auth.verifier=" + verifier])
    good = signed(key, "a@signed.example", "good")
    r = transact(m, "a@signed.example", good)
    assert r[-1].code == 250, r
    bad = signed(key, "a@signed.example", "tampered").replace(b"line two", b"line TWO")
    r = transact(m, "a@signed.example", bad)
    assert r[-1].code == 550 and r[-1].text == \
        "5.7.1 Message rejected by the DMARC policy of signed.example", r
    r = transact(m, "a@pass.example", message("a@signed.example", "unsigned"))
    assert r[-1].code == 550, r
    # p=quarantine: accepted, marked with the content path's header.
    r = transact(m, "a@pass.example", message("a@quar.example", "quarantined"))
    assert r[-1].code == 250, r
    msgs = {re.search(rb"Subject: (\w+)", x.data).group(1): x
            for x in check.spool_messages(m, 2)}
    f = fields_of(msgs[b"good"].data)
    ar = our_ar(f)
    assert len(ar) == 1, f
    assert b"dkim=pass header.d=signed.example header.s=sel" in ar[0], ar
    assert b"dmarc=pass header.from=signed.example" in ar[0], ar
    assert msgs[b"good"].data.endswith(good)
    q = fields_of(msgs[b"quarantined"].data)
    assert any(raw.startswith(b"X-Mxedge-Verdict: quarantine") for _, raw in q), q
    assert b"dmarc=fail header.from=quar.example" in our_ar(q)[0]
    lines = {ln["checks"]["dkim"] + "/" + ln["verdict"]: ln
             for ln in check.read_vlog(m.vlog_path, 4)}
    ok = lines["pass/accept"]
    assert ok["checks"]["dmarc"] == "pass"
    assert ok["auth"]["dkim"] == [{"d": "signed.example", "s": "sel", "result": "pass"}]
    assert ok["auth"]["dmarc"]["policy"] == "reject"
    rej = lines["fail/reject"]
    assert rej["checks"]["dmarc"] == "fail"
    assert rej["auth"]["dmarc"]["disposition"] == "reject"
    _, s = check.metrics(m.metrics_port)
    assert s['mxedge_auth_dkim_total{result="pass"}'] >= 1
    assert s['mxedge_auth_dkim_total{result="fail"}'] >= 1
    assert s['mxedge_auth_dmarc_total{result="fail"}'] >= 3
    assert s["mxedge_auth_rejected_total"] == 2
    assert s["mxedge_auth_quarantined_total"] == 1


def test_forged_authentication_results_renamed(mx, dns, dkim_key):
    m = start(mx, dns.port, ["auth.spf=record", "auth.dmarc=record"])
    forged = (b"Authentication-Results: (looks legit)\r\n MX.Test; dkim=pass\r\n"
              b"Authentication-Results: other.example; spf=pass\r\n")
    msg = signed(dkim_key[0], "a@signed.example", "forged", extra=forged)
    r = transact(m, "a@pass.example", msg)
    assert r[-1].code == 250, r
    data = check.spool_messages(m, 1)[0].data
    f = fields_of(data)
    assert len(our_ar(f)) == 1, f
    # DKIM was verified before the rename: the signature still passes.
    assert b"dkim=pass" in our_ar(f)[0]
    assert b"\r\nX-Mxedge-Forged-Authentication-Results: (looks legit)\r\n MX.Test;" in data
    assert b"\r\nAuthentication-Results: other.example; spf=pass\r\n" in data
    assert data.count(b"Authentication-Results:") == 3


def _silent_udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


def test_temperror_tempfail_and_accept(mx):
    """A resolver that never answers: SPF is temperror at MAIL FROM (451
    4.4.3 under tempfail), DMARC at end of data; accept lets it through
    with temperror in Authentication-Results."""
    sock = _silent_udp()
    try:
        port = sock.getsockname()[1]
        m = start(mx, port, ["auth.spf=enforce", "auth.temperror=tempfail",
                             "dns.timeout_ms=300"])
        r = transact(m, "a@pass.example", message("a@pass.example"))
        assert r[0].code == 451 and r[0].text.startswith("4.4.3"), r
        m2 = start(mx, port, ["auth.dmarc=enforce", "auth.temperror=tempfail",
                              "dns.timeout_ms=300"])
        r = transact(m2, "a@pass.example", message("a@pass.example"))
        assert [x.code for x in r] == [250, 250, 354, 451], r
        assert r[-1].text.startswith("4.4.3"), r
        m3 = start(mx, port, ["auth.spf=enforce", "auth.dmarc=enforce",
                              "dns.timeout_ms=300"])
        r = transact(m3, "a@pass.example", message("a@pass.example"))
        assert [x.code for x in r] == [250, 250, 354, 250], r
        ar = our_ar(fields_of(check.spool_messages(m3, 1)[0].data))
        assert len(ar) == 1 and b"spf=temperror" in ar[0] and b"dmarc=temperror" in ar[0], ar
        _, s = check.metrics(m.metrics_port)
        assert s["mxedge_auth_tempfailed_total"] == 1
        assert s['mxedge_auth_dns_answers_total{status="timeout"}'] >= 1
    finally:
        sock.close()


def test_relay_to_postfix_carries_authentication_results(mx, dns, dkim_key, postfix):
    pf = postfix.downstream(host=mx.downstream_host())
    m = start(mx, dns.port, ["auth.spf=enforce", "auth.dmarc=enforce"],
              downstream="%s:%d" % (pf.host, pf.port))
    msg = signed(dkim_key[0], "a@signed.example", "relayed")
    r = transact(m, "a@pass.example", msg)
    assert r[-1].code == 250, r
    deadline = time.monotonic() + 60
    while not pf.maildir_files() and time.monotonic() < deadline:
        time.sleep(0.2)
    files = pf.maildir_files()
    assert len(files) == 1
    data = pathlib.Path(files[0]).read_bytes().replace(b"\n", b"\r\n")
    ar = [ln for ln in re.split(rb"\r\n(?![ \t])", data)
          if ln.lower().startswith(b"authentication-results: mx.test;")]
    assert len(ar) == 1, data[:2000]
    assert b"spf=pass" in ar[0] and b"dkim=pass" in ar[0] and b"dmarc=pass" in ar[0], ar


def test_check_config_auth_keys(mxedge_bin, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("server:\n  hostname: mx.test\n  listen: 127.0.0.1:2525\n"
                   "smtp:\n  local_domains: [example.org]\ndelivery:\n  spool_dir: /tmp\n"
                   "auth:\n  spf: enforced\ndns:\n  timeout_ms: 0\n")
    r = subprocess.run([mxedge_bin, "check-config", "-c", str(bad)],
                       capture_output=True, timeout=30)
    assert r.returncode != 0
    err = r.stderr.decode()
    assert "bad.yaml:9: auth.spf: bad value 'enforced'" in err, err
    assert "bad.yaml:11: dns.timeout_ms" in err, err
