# SPDX-License-Identifier: BSD-3-Clause
"""mxedge on DPDK's net_af_packet PMD over a veth pair, against Linux TCP.

The veth's mxedge end stays in the test run's namespace with no address
(only the PMD's AF_PACKET socket uses it); its other end is in a second
namespace the test creates, where the clients (Python smtplib, swaks)
run (mxit/dpdk.py Veth, in_netns). Every message must arrive in the spool
byte-exact, and the client kernel, which verifies the checksum of every
segment mxedge sends (rx checksum offload off on its veth end), must
count no checksum error.

Select with `-m dpdk`. Needs root, ethtool, DPDK's net_af_packet PMD and
a network namespace of the test run's own (as test_dpdk.py); in the root
namespace these tests skip.
"""

import shutil
import smtplib
import subprocess
import time

import pytest

from mxit import check, dpdk

pytestmark = pytest.mark.dpdk


@pytest.fixture
def veth_factory(mx):
    """Makes Veth pairs (namespace + veth) on demand; stops every mxedge
    before the namespaces go (the PMD holds the interface)."""
    made = []

    def make(qpairs=1):
        dpdk.require()
        v = dpdk.Veth(qpairs=qpairs)
        made.append(v)
        v.create()
        return v

    yield make
    for m in mx.procs:
        m.stop()
    for v in made:
        v.destroy()


@pytest.fixture
def afp(mx, veth_factory):
    """mxedge on net_af_packet (one queue pair); returns (mxedge, veth)."""
    v = veth_factory()
    m = dpdk.start_afpacket(mx, v)
    assert m.host == v.ours
    return m, v


def _swaks(v, m, path, i):
    swaks = shutil.which("swaks")
    if swaks is None:
        pytest.fail("swaks is not installed (scripts/install-deps)", pytrace=False)
    r = subprocess.run(["ip", "netns", "exec", v.ns, swaks,
                        "--server", "%s:%d" % (m.host, m.port),
                        "--helo", "client%d.test" % i,
                        "--from", "sender@client.test", "--to", "user@example.org",
                        "--data", "@%s" % path, "--timeout", "30"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=90, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout.decode(errors="replace")


def test_afpacket_100_smtplib_sessions(afp):
    m, v = afp
    with dpdk.in_netns(v.ns):
        dpdk.many_sessions(m, n=100, threads=8, timeout=60, tag="afp")
    assert v.csum_errors() == 0


def test_afpacket_swaks(afp, tmp_path):
    m, v = afp
    sent = {}
    for i in range(5):
        key = b"X-Test-Id: afp-swaks-%d" % i
        data = (key + b"\r\nFrom: <sender@client.test>\r\nTo: <user@example.org>\r\n"
                b"Subject: swaks over af_packet\r\n\r\nline one\r\n.leading dot\r\n" +
                b"more %d\r\n" % i * (i * 500))
        path = tmp_path / ("m%d.eml" % i)
        path.write_bytes(data)
        _swaks(v, m, path, i)
        # swaks ends the data with its own CRLF before the dot.
        sent[key] = data + b"\r\n"
    got = check.spool_messages(m, len(sent))
    for sp in got:
        (key,) = [k for k in sent if k in sp.data]
        check.assert_spooled_exact(sp, sent.pop(key))
    assert not sent
    assert v.csum_errors() == 0


def test_afpacket_10mib_byte_exact(afp):
    m, v = afp
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!?\r\n"
    body = b"Subject: big over af_packet\r\n\r\n" + line * ((10 << 20) // len(line))
    with dpdk.in_netns(v.ns):
        with smtplib.SMTP(m.host, m.port, timeout=120) as s:
            s.ehlo("client.test")
            s.sendmail("sender@client.test", ["user@example.org"], body)
    (sp,) = check.spool_messages(m, 1)
    check.assert_spooled_exact(sp, body)
    assert v.csum_errors() == 0



def test_afpacket_two_queues_two_workers(mx, veth_factory):
    # Two queue pairs, two workers: the kernel fans frames out over the
    # PMD's sockets by flow hash, so an ARP reply need not reach the
    # worker whose SYN-ACK waits for the client's MAC. Every worker must
    # still learn it (dataplane/dpdk "Flow ownership"): all 100 sessions
    # complete byte-exact, on both workers.
    v = veth_factory(qpairs=2)
    m = dpdk.start_afpacket(mx, v, workers=2, metrics=True)
    with dpdk.in_netns(v.ns):
        dpdk.many_sessions(m, n=100, threads=8, timeout=60, tag="afp2")
    assert v.csum_errors() == 0
    # The dataplane publishes its counters every 500 ms.
    deadline = time.monotonic() + 5
    while True:
        _, samples = check.metrics(m.metrics_port)
        shared = [check.metric_sum(
            samples, r'^mxedge_dpdk_lcore_arp_share_%s_total\{worker="%d"\}$' % (d, w))
            for d in ("out", "in") for w in (0, 1)]
        if sum(shared) > 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    per = {w: check.metric_sum(
        samples, r'^mxedge_worker_connections_accepted_total\{worker="%d"\}$' % w)
        for w in (0, 1)}
    print("accepted per worker %r, ARP copies (out0, out1, in0, in1) %r"
          % (per, shared))
    assert sum(per.values()) >= 100, per
    assert per[0] > 0 and per[1] > 0, per
    # The bindings really travelled between the workers.
    assert sum(shared) > 0, shared
