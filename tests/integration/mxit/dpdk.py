# SPDX-License-Identifier: BSD-3-Clause
"""mxedge on the DPDK transport (net_tap) for the integration tests.

mxedge runs with a net_tap vdev (`--transport dpdk --eal "... --vdev=
net_tap0,iface=<uniq>"`). The tap it creates gets 198.18.N.1/24 on the
kernel side (N unique per mxedge of the run, from 198.18.0.0/15), mxedge
itself is 198.18.N.2, and further client addresses (.3, .4, ...) are added
to the tap on demand (client_addr). The tap goes away with the process.

A tap is only ever created inside a network namespace the test run made
(scripts/test runs the dpdk pass under `ip netns exec`): in the root
namespace require() skips with the reason, so no test puts addresses of
its own on the machine's real network. Needs root and DPDK's net_tap PMD.

Helpers shared by the dpdk tests: many_sessions() (concurrent smtplib
sessions, all checked byte-exact in the spool) and nft_loss() (an nftables
table of ours that drops a share of the tap's packets both ways).
"""

import concurrent.futures
import contextlib
import ctypes
import os
import re
import shutil
import smtplib
import socket
import subprocess
import time

import pytest

from . import check

_SEQ = [0]

# 198.18.0.0/15 holds 512 /24 subnets; each mxedge of a run takes the next
# one (the pid only picks where a run starts), so two mxedges alive at the
# same time never share a subnet.
_SUBNETS = 512

NETNS_DIR = "/run/netns"


def _netns_id(pid):
    return os.stat("/proc/%s/ns/net" % pid).st_ino


def _in_named_netns(ours):
    """True when our namespace is one made by `ip netns add` (bound under
    /run/netns), i.e. certainly not the root namespace."""
    try:
        names = os.listdir(NETNS_DIR)
    except OSError:
        return False
    for n in names:
        try:
            if os.stat(os.path.join(NETNS_DIR, n)).st_ino == ours:
                return True
        except OSError:
            continue
    return False


def in_root_netns():
    """True when this process shares the network namespace of PID 1. Where
    /proc/1/ns/net is not readable (a container without CAP_SYS_PTRACE),
    only a namespace made by `ip netns add` counts as not the root one."""
    ours = _netns_id("self")
    try:
        return ours == _netns_id(1)
    except OSError:
        return not _in_named_netns(ours)


def require():
    """Skips the calling test unless a tap may be created here."""
    if os.geteuid() != 0:
        pytest.skip("dpdk: needs root for the tap device")
    if in_root_netns():
        pytest.skip("dpdk: refusing to create a tap in the root network "
                    "namespace; run pytest under `ip netns exec` (scripts/"
                    "test does, see tests/integration/README.md)")
    _allow_nonlocal_bind()


def _allow_nonlocal_bind():
    """A downstream (Postfix, the scripted MTA) listens on the tap's
    address before mxedge has created the tap; only ever set in our own
    namespace (the sysctl is per network namespace)."""
    path = "/proc/sys/net/ipv4/ip_nonlocal_bind"
    with open(path) as f:
        if f.read().strip() == "1":
            return
    with open(path, "w") as f:
        f.write("1\n")


def sh(*cmd, check_rc=True):
    r = subprocess.run(list(cmd), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30,
                       stdin=subprocess.DEVNULL)
    if check_rc and r.returncode != 0:
        raise AssertionError("%s: %s" % (" ".join(cmd), r.stdout.decode()))
    return r


def wait_for(pred, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s" % what)


def iface_exists(name):
    return os.path.exists("/sys/class/net/%s" % name)


def greets(addr, port=25):
    try:
        with socket.create_connection((addr, port), timeout=2) as s:
            s.settimeout(2)
            return s.recv(512).startswith(b"220")
    except OSError:
        return False


class Tap:
    """One mxedge's subnet and tap: 198.18.N.0/24 (or 198.19.N.0/24), the
    kernel side at .1, mxedge at .2, extra client addresses from .3."""

    def __init__(self):
        _SEQ[0] += 1
        seq = _SEQ[0]
        idx = (os.getpid() * 7 + seq) % _SUBNETS
        self.net = "198.%d.%d" % (18 + idx // 256, idx % 256)
        self.peer = self.net + ".1"
        self.ours = self.net + ".2"
        self.name = "mxt%d_%d" % (os.getpid() % 100000, seq)
        self.prefix = "mxit%d_%d" % (os.getpid(), seq)
        self.extra = set()

    def eal(self):
        vdev = "net_tap0,iface=%s" % self.name
        return ("-l 0 --no-huge --no-pci -m 256 --no-shconf --no-telemetry "
                "--file-prefix %s --log-level=*:warning --vdev=%s"
                % (self.prefix, vdev))

    def args(self, port):
        """mxedge run flags that put it on this tap, listening on port."""
        return ["--transport", "dpdk", "--eal", self.eal(),
                "--address", self.ours + "/24",
                "--listen", "%s:%d" % (self.ours, port)]

    def attach(self, m, timeout=20.0):
        """Waits for mxedge to create the tap, then gives the kernel side
        its address and brings it up."""
        wait_for(lambda: iface_exists(self.name) or not m.running(),
                 "tap %s" % self.name, timeout)
        assert m.running(), m.stderr_text()
        sh("ip", "addr", "add", self.peer + "/24", "dev", self.name)
        sh("ip", "link", "set", self.name, "up")

    def client_addr(self, i):
        """Client address i: .1 (the tap's own) for 0, then .3, .4, ...
        (.2 is mxedge), added to the tap the first time it is asked for."""
        if i == 0:
            return self.peer
        if not 1 <= i <= 200:
            raise ValueError("client address index %d" % i)
        addr = "%s.%d" % (self.net, i + 2)
        if addr not in self.extra:
            sh("ip", "addr", "add", addr + "/32", "dev", self.name)
            self.extra.add(addr)
        return addr


def start(mx, workers=None, metrics=False, **kw):
    """Starts mxedge on a net_tap vdev (one queue pair per worker) and
    waits for its 220; returns the handle (m.host is mxedge's address,
    m.tap the Tap). Skips unless require() allows a tap here."""
    return mx.start(transport="dpdk", workers=workers, metrics=metrics, **kw)


_LINE = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!?\r\n"


def bodies(tag, n, n_big=0, big=10 << 20, subject=b"many"):
    """n messages keyed by an X-Test-Id header: n_big of `big` bytes, the
    rest from a few hundred bytes to ~40 KiB."""
    out = {}
    for i in range(n):
        key = b"X-Test-Id: %s-%d\r\n" % (tag.encode(), i)
        if i < n_big:
            text = _LINE * (big // len(_LINE))
        else:
            text = b"".join(b"session %d line %d\r\n" % (i, j)
                            for j in range((i * 97) % 1800 + 1))
        out[key] = key + b"Subject: " + subject + b"\r\n\r\n" + text
    return out


def send_all(m, msgs, threads=8, timeout=60, wait=4):
    """Sends every message of `msgs` (from bodies()) in its own smtplib
    session, `threads` at a time, all within `timeout` * `wait` seconds;
    then checks the spool holds each one byte-exact."""
    def send(body):
        with smtplib.SMTP(m.host, m.port, timeout=timeout) as s:
            s.ehlo("client.test")
            s.sendmail("sender@client.test", ["user@example.org"], body)

    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as ex:
        futs = [ex.submit(send, b) for b in msgs.values()]
        _, pending = concurrent.futures.wait(futs, timeout=timeout * wait)
        assert not pending, "%d session(s) still running" % len(pending)
        for f in futs:
            f.result()
    got = check.spool_messages(m, len(msgs))
    seen = set()
    for sp in got:
        (key,) = [k for k in msgs if sp.data.find(k) >= 0]
        check.assert_spooled_exact(sp, msgs[key])
        seen.add(key)
    assert seen == set(msgs)


def many_sessions(m, n=100, threads=8, timeout=60, tag="dpdk-many"):
    """n SMTP sessions (one message each, a few hundred bytes to ~40 KiB)
    from `threads` concurrent smtplib clients, all byte-exact."""
    send_all(m, bodies(tag, n), threads=threads, timeout=timeout)


@contextlib.contextmanager
def nft_loss(tap, pct=5):
    """An nftables inet table of ours dropping pct% of the IP packets of
    the tap (kernel side) in each direction; yields the table's name and
    deletes it afterwards. nft_dropped(table) reads the drop counters."""
    table = "mxit_loss_%s" % tap.prefix
    rules = """table inet %(t)s {
  chain in {
    type filter hook input priority -10; policy accept;
    iifname "%(i)s" numgen random mod 100 < %(p)d counter drop
  }
  chain out {
    type filter hook output priority -10; policy accept;
    oifname "%(i)s" numgen random mod 100 < %(p)d counter drop
  }
}
""" % {"t": table, "i": tap.name, "p": pct}
    r = subprocess.run(["nft", "-f", "-"], input=rules.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30)
    assert r.returncode == 0, r.stdout.decode(errors="replace")
    try:
        yield table
    finally:
        sh("nft", "delete", "table", "inet", table, check_rc=False)


def nft_dropped(table):
    """Packets dropped by the (input, output) chains of nft_loss()."""
    out = sh("nft", "list", "table", "inet", table).stdout.decode()
    n = [int(p) for p in re.findall(r"counter packets (\d+)", out)]
    assert len(n) == 2, out
    return tuple(n)


# ---- net_af_packet over a veth pair (test_dpdk_afpacket.py) ----

_CLONE_NEWNET = 0x40000000


def _setns(fd):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: %s" % os.strerror(e))


@contextlib.contextmanager
def in_netns(name):
    """Runs the body with the calling thread in network namespace `name`
    (made by `ip netns add`): sockets it opens, threads it starts and
    processes it spawns live there. The thread's own namespace is back
    afterwards, whatever happens."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(os.path.join(NETNS_DIR, name), os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)


class Veth(Tap):
    """mxedge on DPDK's net_af_packet PMD bound to one end of a veth pair
    (mxa..., in the test run's namespace, no address: only the PMD's
    AF_PACKET socket uses it) whose other end (mxb..., 198.18.N.1/24)
    sits in a second namespace of ours (self.ns) where the clients run;
    mxedge is 198.18.N.2. Same subnet allocation as Tap.

    Linux hands an AF_PACKET socket locally generated TCP with only the
    pseudo-header checksum filled in (CHECKSUM_PARTIAL, TP_STATUS_
    CSUMNOTREADY) when the sending veth offloads TX checksums, and DPDK
    22.11's af_packet PMD neither completes it nor reports it in
    ol_flags: such frames would fail our TCP checksum. So the client end
    gets `ethtool -K tx off` (full checksums in software, which also
    turns TSO off: no segment beyond the MTU), and `rx off` so the
    kernel verifies every checksum mxedge sends instead of trusting
    veth's CHECKSUM_UNNECESSARY (TcpInCsumErrors then counts ours).
    The mxedge end gets GRO off so the PMD sees the frames as sent."""

    def __init__(self, qpairs=1):
        Tap.__init__(self)
        tag = "%d_%d" % (os.getpid() % 100000, _SEQ[0])
        self.name = "mxa" + tag
        self.peer_if = "mxb" + tag
        self.ns = "mxcl" + tag
        self.qpairs = qpairs
        self.up = False

    def eal(self):
        vdev = "net_af_packet0,iface=%s,qpairs=%d" % (self.name, self.qpairs)
        return ("-l 0 --no-huge --no-pci -m 256 --no-shconf --no-telemetry "
                "--file-prefix %s --log-level=*:warning --vdev=%s"
                % (self.prefix, vdev))

    def create(self):
        """The namespace and the veth pair, before mxedge starts (the
        PMD opens an existing interface)."""
        if shutil.which("ethtool") is None:
            pytest.fail("ethtool is not installed (scripts/install-deps)",
                        pytrace=False)
        sh("ip", "netns", "add", self.ns)
        self.up = True
        sh("ip", "-n", self.ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", self.name, "type", "veth",
           "peer", "name", self.peer_if, "netns", self.ns)
        sh("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % self.name)
        sh("ethtool", "-K", self.name, "gro", "off")
        sh("ip", "link", "set", self.name, "up")
        nx = ("ip", "netns", "exec", self.ns)
        sh(*nx, "ethtool", "-K", self.peer_if, "tx", "off", "rx", "off")
        sh("ip", "-n", self.ns, "addr", "add", self.peer + "/24",
           "dev", self.peer_if)
        sh("ip", "-n", self.ns, "link", "set", self.peer_if, "up")

    def attach(self, m, timeout=20.0):
        """The veth exists before mxedge; waits until it greets on its
        address, seen from the client namespace."""
        with in_netns(self.ns):
            m.wait_ready(timeout)

    def destroy(self):
        """Deletes the client namespace; the veth pair goes with it.
        mxedge must be stopped first (its PMD holds the interface)."""
        if self.up:
            sh("ip", "netns", "del", self.ns, check_rc=False)
            sh("ip", "link", "del", self.name, check_rc=False)
            self.up = False

    def client_addr(self, i):
        """Client address i: .1 (the veth's own) for 0, then .3, .4, ..."""
        if i == 0:
            return self.peer
        if not 1 <= i <= 200:
            raise ValueError("client address index %d" % i)
        addr = "%s.%d" % (self.net, i + 2)
        if addr not in self.extra:
            sh("ip", "-n", self.ns, "addr", "add", addr + "/32",
               "dev", self.peer_if)
            self.extra.add(addr)
        return addr

    def csum_errors(self):
        """The client namespace's TcpInCsumErrors (segments from mxedge
        that the kernel found with a bad checksum)."""
        out = sh("ip", "netns", "exec", self.ns, "nstat", "-asz",
                 "TcpInCsumErrors").stdout.decode()
        m = re.search(r"TcpInCsumErrors\s+(\d+)", out)
        return int(m.group(1)) if m else 0


def start_afpacket(mx, veth, workers=None, **kw):
    """Starts mxedge on the af_packet port of veth (created already) and
    waits for its 220 from the client namespace."""
    mx._next_tap = veth
    return mx.start(transport="dpdk", workers=workers, wait=False, **kw)
