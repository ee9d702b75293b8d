# SPDX-License-Identifier: BSD-3-Clause
"""mxedge on the DPDK transport under impairment, and on other vdevs.

- Our own fault-injection layer at the packet-I/O seam (dpdk.fault.*,
  both directions, seeded): loss 5%, reordering 25%, duplication 2%,
  delay 20 ms +- 10 ms; 100 sessions, two of them 10 MiB, all byte-exact.
- The same traffic with nftables dropping 5% on the kernel side of the
  tap (mxit/dpdk.py nft_loss): loss mxedge cannot see coming.
- Two workers on net_tap (no RSS we can predict) relaying to a
  downstream through our TCP's active opens: every reply reaches the
  worker that opened the connection (dataplane/dpdk "Flow ownership"),
  so every message is delivered.

Each run must show that the impairment really happened (the fault
layer's or nftables' counters), or it proves nothing.

Like test_dpdk.py these need root, DPDK's vdev PMDs and a network
namespace of the run's own (mxit/dpdk.py require()); select with -m dpdk.
"""

import concurrent.futures
import smtplib

import pytest

from mxit import check, dpdk, keys, proc, scripted

pytestmark = [pytest.mark.dpdk, pytest.mark.slow]

_LINE = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!?\r\n"


def _bodies(tag, n, n_big, big=10 << 20):
    """n messages keyed by an X-Test-Id header: n_big of `big` bytes, the
    rest from a few hundred bytes to ~40 KiB."""
    bodies = {}
    for i in range(n):
        key = b"X-Test-Id: %s-%d\r\n" % (tag.encode(), i)
        if i < n_big:
            text = _LINE * (big // len(_LINE))
        else:
            text = b"".join(b"session %d line %d\r\n" % (i, j)
                            for j in range((i * 97) % 1800 + 1))
        bodies[key] = key + b"Subject: impaired\r\n\r\n" + text
    return bodies


def _send_all(m, bodies, threads=8, timeout=240):
    """Sends every body in its own smtplib session, `threads` at a time
    (the big ones first, so they overlap the small ones); then checks the
    spool holds each one byte-exact."""
    def send(body):
        with smtplib.SMTP(m.host, m.port, timeout=timeout) as s:
            s.ehlo("client.test")
            s.sendmail("sender@client.test", ["user@example.org"], body)

    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as ex:
        futs = [ex.submit(send, b) for b in bodies.values()]
        _, pending = concurrent.futures.wait(futs, timeout=timeout * 2)
        assert not pending, "%d session(s) still running" % len(pending)
        for f in futs:
            f.result()
    got = check.spool_messages(m, len(bodies))
    seen = set()
    for sp in got:
        (key,) = [k for k in bodies if sp.data.find(k) >= 0]
        check.assert_spooled_exact(sp, bodies[key])
        seen.add(key)
    assert seen == set(bodies)


_FAULTS = ("dpdk.fault.loss_pct=5", "dpdk.fault.reorder_pct=25",
           "dpdk.fault.dup_pct=2", "dpdk.fault.delay_ms=20",
           "dpdk.fault.delay_jitter_ms=10", "dpdk.fault.seed=20261123")


def _fault_counters(m):
    """The fault layer's counters summed over queues and directions."""
    _, samples = check.metrics(m.metrics_port)
    return {what: check.metric_sum(
        samples, r'^mxedge_dpdk_fault_%s_total\{.*\}$' % what)
        for what in ("lost", "reordered", "duplicated", "delayed")}


def test_fault_layer_100_sessions_two_10mib(mx):
    # Two 10 MiB messages, as issue 3 asks: with SACK blocks from our
    # receiver (RFC 2018) Linux recovers from this mix; one 10 MiB DATA
    # took ~31 s here (it timed out past 300 s before). smtplib's 240 s
    # per operation leaves a wide margin for a loaded CI machine.
    dpdk.require()
    m = dpdk.start(mx, metrics=True, sets=_FAULTS)
    _send_all(m, _bodies("fault", 100, 2))
    seen = _fault_counters(m)
    print("fault layer: %r" % seen)
    # Every kind of fault really happened, in a seeded, replayable run.
    assert all(v > 0 for v in seen.values()), seen


def test_nft_loss_100_sessions_two_10mib(mx):
    dpdk.require()
    m = dpdk.start(mx, metrics=True)
    with dpdk.nft_loss(m.tap, 5) as table:
        _send_all(m, _bodies("nft", 100, 2))
        dropped = dpdk.nft_dropped(table)
    print("5%% loss: nftables dropped (in, out) = %r packets" % (dropped,))
    assert dropped[0] > 0 and dropped[1] > 0, dropped
    # The dataplane's own counters saw it: the port received (at least
    # the 20 MiB), TCP accepted every session and resent what was lost.
    _, samples = check.metrics(m.metrics_port)
    rx = check.metric_sum(samples, r'^mxedge_dpdk_port_rx_packets_total\{.*\}$')
    accepts = check.metric_sum(samples, r'^mxedge_dpdk_tcp_accepts_total\{.*\}$')
    resent = check.metric_sum(samples, r'^mxedge_dpdk_tcp_retransmits_total\{.*\}$')
    print("metrics: rx packets %d, accepts %d, retransmits %d" % (rx, accepts, resent))
    assert rx > 14000 and accepts >= 100, (rx, accepts)


def test_two_workers_relay_all_delivered(mx):
    # Issue 3 item 5: 3 of 1000 relayed messages timed out in "connect"
    # when a SYN-ACK reached the other worker's queue.
    dpdk.require()
    port = proc.free_port()
    n = 300
    bodies = _bodies("relay2w", n, 0)
    with scripted.ScriptedMTA(port, host=mx.downstream_host()) as mta:
        m = dpdk.start(mx, workers=2, metrics=True,
                       downstream="%s:%d" % (mx.downstream_host(), port),
                       sets=[keys.kv(keys.TIMEOUT_REPLY, "60s")])

        def send(body):
            with smtplib.SMTP(m.host, m.port, timeout=120) as s:
                s.ehlo("client.test")
                s.sendmail("sender@client.test", ["user@example.org"], body)

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
            futs = [ex.submit(send, b) for b in bodies.values()]
            _, pending = concurrent.futures.wait(futs, timeout=600)
            assert not pending, "%d session(s) still running" % len(pending)
            errors = [f.exception() for f in futs if f.exception() is not None]
        assert errors == [], "%d of %d not relayed, e.g. %r" % (
            len(errors), n, errors[:5])
        with mta.lock:
            data = [t["data"] for t in mta.accepted]
        keys_seen = set()
        for d in data:
            (key,) = [k for k in bodies if d.find(k) >= 0]
            assert d.endswith(bodies[key]), key
            keys_seen.add(key)
        assert len(data) == n and keys_seen == set(bodies), (len(data), n)
        _, samples = check.metrics(m.metrics_port)
        moved = check.metric_sum(samples, r'^mxedge_dpdk_\w*handoff_out_total\{')
        full = check.metric_sum(samples,
                                r'^mxedge_dpdk_\w*handoff_drop_full_total\{')
        conns = [check.metric_sum(samples, r'^mxedge_dpdk_tcp_connects_total'
                                  r'\{worker="%d"\}' % w) for w in (0, 1)]
        print("two workers: active opens per worker %r, segments handed over "
              "%d, ring full %d" % (conns, moved, full))
        # Both workers opened connections, and no hand-off was lost.
        assert all(c > 0 for c in conns), conns
        assert full == 0
        m.stop()

