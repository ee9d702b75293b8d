# SPDX-License-Identifier: BSD-3-Clause
"""mxedge on the DPDK transport under impairment, and on other vdevs.

- Our own fault-injection layer at the packet-I/O seam (dpdk.fault.*,
  both directions, seeded): loss 5%, reordering 25%, duplication 2%,
  delay 20 ms +- 10 ms; 500 sessions (issue 3's interop count), two of
  them 10 MiB, all byte-exact.
- The same traffic with nftables dropping 5% on the kernel side of the
  tap (mxit/dpdk.py nft_loss): loss mxedge cannot see coming.
- Two workers on net_tap (no RSS we can predict) relaying to a
  downstream through our TCP's active opens: every reply reaches the
  worker that opened the connection (dataplane/dpdk "Flow ownership"),
  so every message is delivered.
- TIME_WAIT reuse: kernel clients bound to a fixed range of source ports
  run two rounds of sessions back to back, so every SYN of the second
  round lands on one of mxedge's TIME_WAIT entries (RFC 9293 3.10.7.4,
  RFC 6191); each session must complete promptly. And a SYN reusing a
  TIME_WAIT 4-tuple with an old ISN (what a restarted DPDK generator
  sends, its ISN secret being new) gets a challenge ACK; the kernel's
  RST in reply releases the entry, so the SYN's retransmission opens.
- 3,000 connections opened at once from 60 kernel addresses: every one
  gets its 220 (SYN backlog, SYN cookies, accept and greeting paths).

Each run must show that the impairment really happened (the fault
layer's or nftables' counters), or it proves nothing.

Like test_dpdk.py these need root, DPDK's vdev PMDs and a network
namespace of the run's own (mxit/dpdk.py require()); select with -m dpdk.
"""

import concurrent.futures
import selectors
import smtplib
import socket
import struct
import time

import pytest

from mxit import check, dpdk, keys, proc, scripted

pytestmark = [pytest.mark.dpdk, pytest.mark.slow]

def _bodies(tag, n, n_big):
    return dpdk.bodies(tag, n, n_big, subject=b"impaired")


def _send_all(m, msgs, threads=8, timeout=240):
    dpdk.send_all(m, msgs, threads=threads, timeout=timeout, wait=2)


_FAULTS = ("dpdk.fault.loss_pct=5", "dpdk.fault.reorder_pct=25",
           "dpdk.fault.dup_pct=2", "dpdk.fault.delay_ms=20",
           "dpdk.fault.delay_jitter_ms=10", "dpdk.fault.seed=20261123")


def _fault_counters(m):
    """The fault layer's counters summed over queues and directions."""
    _, samples = check.metrics(m.metrics_port)
    return {what: check.metric_sum(
        samples, r'^mxedge_dpdk_fault_%s_total\{.*\}$' % what)
        for what in ("lost", "reordered", "duplicated", "delayed")}


def test_fault_layer_500_sessions_two_10mib(mx):
    # Two 10 MiB messages, as issue 3 asks: with SACK blocks from our
    # receiver (RFC 2018) Linux recovers from this mix; one 10 MiB DATA
    # took ~31 s here (it timed out past 300 s before). smtplib's 240 s
    # per operation leaves a wide margin for a loaded CI machine.
    dpdk.require()
    m = dpdk.start(mx, metrics=True, sets=_FAULTS)
    _send_all(m, _bodies("fault", 500, 2), threads=16)
    seen = _fault_counters(m)
    print("fault layer: %r" % seen)
    # Every kind of fault really happened, in a seeded, replayable run.
    assert all(v > 0 for v in seen.values()), seen


def test_nft_loss_500_sessions_two_10mib(mx):
    dpdk.require()
    m = dpdk.start(mx, metrics=True)
    with dpdk.nft_loss(m.tap, 5) as table:
        _send_all(m, _bodies("nft", 500, 2), threads=16)
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
    assert rx > 14000 and accepts >= 500, (rx, accepts)


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



class _FixedPortSMTP(smtplib.SMTP):
    """smtplib from a fixed (address, port), with SO_REUSEADDR so the
    port can be bound again as soon as its last connection is closed."""

    def __init__(self, host, port, source, timeout):
        self._fixed_source = source
        super().__init__(host, port, timeout=timeout)

    def _get_socket(self, host, port, timeout):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.settimeout(timeout)
            s.bind(self._fixed_source)
            s.connect((host, port))
        except OSError:
            s.close()
            raise
        return s


def _session_from(m, source, body, timeout):
    """One message from a fixed source port. After QUIT it waits for
    mxedge's FIN before closing, so mxedge is the side that closed first
    and holds the TIME_WAIT (the kernel side ends in CLOSED and the port
    is free for the next round at once). Returns the seconds it took."""
    t0 = time.monotonic()
    s = _FixedPortSMTP(m.host, m.port, source, timeout)
    try:
        s.ehlo("client.test")
        s.sendmail("sender@client.test", ["user@example.org"], body)
        code, _ = s.docmd("QUIT")
        assert code == 221, code
        for _ in range(16):
            if s.sock.recv(4096) == b"":
                break
    finally:
        s.close()
    return time.monotonic() - t0


def test_time_wait_reuse_two_rounds_same_ports(mx):
    # Issue 3 (bench): a second run reusing the first run's 4-tuples met
    # mxedge's TIME_WAIT entries and some sessions never completed.
    dpdk.require()
    m = dpdk.start(mx, metrics=True)
    ports = list(range(41000, 41040))
    src = m.tap.client_addr(0)
    bodies = _bodies("twreuse", 2 * len(ports), 0)
    keys_in_order = list(bodies)
    per_session = 20
    for rnd in range(2):
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
            futs = [ex.submit(_session_from, m, (src, p),
                              bodies[keys_in_order[rnd * len(ports) + i]],
                              per_session)
                    for i, p in enumerate(ports)]
            _, pending = concurrent.futures.wait(futs, timeout=120)
            assert not pending, "%d session(s) still running" % len(pending)
            took = [f.result() for f in futs]
        print("round %d: slowest session %.2f s" % (rnd, max(took)))
    got = check.spool_messages(m, len(bodies))
    seen = set()
    for sp in got:
        (key,) = [k for k in bodies if sp.data.find(k) >= 0]
        check.assert_spooled_exact(sp, bodies[key])
        seen.add(key)
    assert seen == set(bodies)
    # The counters are published every few hundred ms: wait (bounded)
    # until they cover every session.
    for _ in range(40):
        _, samples = check.metrics(m.metrics_port)
        tw = {what: check.metric_sum(
            samples, r'^mxedge_dpdk_tcp_tw_%s_total\{.*\}$' % what)
            for what in ("entered", "reused", "overflow", "released")}
        if tw["entered"] >= len(bodies):
            break
        time.sleep(0.25)
    print("TIME_WAIT: %r" % tw)
    # mxedge closed every session first, and every second-round SYN
    # found the first round's entry and was accepted over it.
    assert tw["entered"] >= len(bodies), tw
    assert tw["reused"] + tw["released"] >= len(ports), tw
    assert tw["overflow"] == 0, tw


def _csum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


_SYN, _RST, _ACK = 0x02, 0x04, 0x10


class _RawTcp:
    """Hand-made TCP segments from the kernel side's address (a raw
    socket: the kernel adds the IP header), and a view of every TCP
    segment mxedge sends to that address."""

    def __init__(self, src, dst):
        self.src, self.dst = src, dst
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW,
                                  socket.IPPROTO_TCP)
        self.sock.bind((src, 0))

    def close(self):
        self.sock.close()

    def send(self, sport, dport, seq, ack, flags, wnd=65535):
        hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4,
                          flags, wnd, 0, 0)
        pseudo = struct.pack("!4s4sBBH", socket.inet_aton(self.src),
                             socket.inet_aton(self.dst), 0, 6, len(hdr))
        hdr = hdr[:16] + struct.pack("!H", _csum(pseudo + hdr)) + hdr[18:]
        self.sock.sendto(hdr, (self.dst, 0))

    def drain(self):
        """Forgets every segment seen so far."""
        self.sock.setblocking(False)
        try:
            for _ in range(100000):
                self.sock.recv(65535)
        except BlockingIOError:
            pass
        finally:
            self.sock.setblocking(True)

    def expect(self, sport, dport, pred, timeout=3.0):
        """The first segment from dst:sport to src:dport matching pred
        (given (seq, ack, flags)) within timeout, or None."""
        deadline = time.monotonic() + timeout
        for _ in range(10000):
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                pkt, _ = self.sock.recvfrom(65535)
            except socket.timeout:
                return None
            ihl = (pkt[0] & 0x0f) * 4
            if socket.inet_ntoa(pkt[12:16]) != self.dst:
                continue
            sp, dp, seq, ack, _, flags = struct.unpack(
                "!HHIIBB", pkt[ihl:ihl + 14])
            if (sp, dp) == (sport, dport) and pred(seq, ack, flags):
                return seq, ack, flags
        return None


def test_time_wait_old_isn_challenge_then_reopen(mx):
    dpdk.require()
    m = dpdk.start(mx, metrics=True)
    src = m.tap.client_addr(0)
    sport = 41100
    raw = _RawTcp(src, m.host)
    try:
        # Round 1: a real session; mxedge closes first and keeps the
        # 4-tuple in TIME_WAIT. Its SYN-ACK tells us the kernel's ISN.
        body = b"X-Test-Id: twold-0\r\nSubject: old isn\r\n\r\nhello\r\n"
        _session_from(m, (src, sport), body, 20)
        synack = raw.expect(m.port, sport,
                            lambda s, a, f: f & (_SYN | _ACK) == _SYN | _ACK)
        assert synack is not None, "no SYN-ACK seen for round 1"
        old_isn = (synack[1] - 1) & 0xffffffff
        # Let the last ACK of the close go by before watching again.
        time.sleep(0.5)
        raw.drain()
        # A SYN with the old ISN (not beyond the entry's RCV.NXT): mxedge
        # must answer with an ACK, not a SYN-ACK (RFC 6191 2), and the
        # kernel, which has no socket on that port, resets at its ACK
        # number (RFC 9293 3.10.7.1).
        raw.send(sport, m.port, old_isn, 0, _SYN)
        got = raw.expect(m.port, sport, lambda s, a, f: f & _ACK)
        assert got is not None and got[2] == _ACK, got
        # That RST answered our challenge: the retransmitted SYN opens.
        time.sleep(0.2)
        raw.send(sport, m.port, old_isn, 0, _SYN)
        got = raw.expect(m.port, sport, lambda s, a, f: f & _ACK)
        assert got is not None and got[2] & _SYN, got
        assert got[1] == (old_isn + 1) & 0xffffffff, got
    finally:
        raw.close()
    # The port works for a real client again at once.
    body2 = b"X-Test-Id: twold-1\r\nSubject: old isn\r\n\r\nagain\r\n"
    time.sleep(0.5)
    _session_from(m, (src, sport), body2, 20)
    got = check.spool_messages(m, 2)
    assert sorted(sp.data.endswith(b"hello\r\n") for sp in got) == [False, True]
    for _ in range(40):
        _, samples = check.metrics(m.metrics_port)
        released = check.metric_sum(
            samples, r'^mxedge_dpdk_tcp_tw_released_total\{.*\}$')
        if released >= 1:
            break
        time.sleep(0.25)
    assert released == 1, released


def _open_many(host, port, sources, per_source, deadline_s):
    """Opens len(sources) * per_source connections at once (non-blocking)
    and reads each one's greeting; returns (greeted, failed, left)."""
    socks = {}
    sel = selectors.DefaultSelector()
    try:
        for src in sources:
            for _ in range(per_source):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                s.bind((src, 0))
                s.connect_ex((host, port))
                socks[s] = b""
                sel.register(s, selectors.EVENT_READ)
        greeted = failed = 0
        deadline = time.monotonic() + deadline_s
        for _ in range(1000000):
            if not socks or time.monotonic() > deadline:
                break
            for key, _ in sel.select(timeout=1.0):
                s = key.fileobj
                try:
                    data = s.recv(512)
                except OSError:
                    data = b""
                socks[s] += data
                if b"\n" in socks[s] or data == b"":
                    if socks[s].startswith(b"220 "):
                        greeted += 1
                    else:
                        failed += 1
                    sel.unregister(s)
                    s.close()
                    del socks[s]
        return greeted, failed, len(socks)
    finally:
        for s in socks:
            s.close()
        sel.close()


def test_3000_concurrent_opens_all_greeted(mx):
    # Issue 3 (bench): 10,000 idle sessions opened at once over memif left
    # 3,300 without a 220 within 60 s. 3,000 from 60 kernel addresses
    # (50 each, the per-client default) at once: every one gets its 220.
    dpdk.require()
    n_src, per_src = 60, 50
    m = dpdk.start(mx, metrics=True,
                   sets=[keys.kv(keys.MAX_CONNECTIONS, "4000")])
    sources = [m.tap.client_addr(i) for i in range(1, n_src + 1)]
    greeted, failed, left = _open_many(m.host, m.port, sources, per_src, 60)
    _, samples = check.metrics(m.metrics_port)
    cookies = check.metric_sum(
        samples, r'^mxedge_dpdk_tcp_syn_cookies_ok_total\{.*\}$')
    print("3000 opens: greeted %d, failed %d, no greeting %d, cookies %d"
          % (greeted, failed, left, cookies))
    assert (greeted, failed, left) == (n_src * per_src, 0, 0)
