# SPDX-License-Identifier: BSD-3-Clause
"""Fixtures of the mxedge integration suite.

- mxedge_bin: the binary under test (env MXEDGE_BIN, default
  build/engine/main/mxedge under the repository root).
- free_port: a function returning an unused loopback port.
- mx: a factory that starts mxedge processes (the transport of
  MX_IT_TRANSPORT: kernel with a loopback listener, the default, or dpdk
  on a net_tap vdev of mxit/dpdk.py; spool or downstream, verdict log,
  optional metrics) and waits for the 220; tests reach the engine at
  m.host:m.port, use m.client_addr(i) as client source addresses and
  mx.downstream_host() as the address a downstream listens on; at teardown every process still running gets SIGTERM and must
  exit 0 within the bound (else it is killed by PID and the test errors), and
  any sanitizer report in its stderr fails the test.
- postfix: a factory of private Postfix instances (mxit/postfix.py) in the
  downstream or the client role, stopped at teardown.

When a test fails, the stderr of every mxedge it started and the log of
every Postfix instance are attached to its report.
"""

import os
import pathlib
import shutil

import pytest

from mxit import dpdk
from mxit import postfix as pfmod
from mxit import proc

REPO = pathlib.Path(__file__).resolve().parents[2]

HOSTNAME = "mx.test"
DOMAIN = "example.org"

# The transport every test's mxedge runs on unless the test names one.
TRANSPORT = os.environ.get("MX_IT_TRANSPORT") or "kernel"
if TRANSPORT not in ("kernel", "dpdk"):
    raise ValueError("MX_IT_TRANSPORT=%s: want kernel or dpdk" % TRANSPORT)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "asan: protocol-level test, also run against the "
        "ASan+UBSan binary (scripts/test)")
    config.addinivalue_line(
        "markers", "slow: bulk test (hundreds of MiB through real peers)")
    config.addinivalue_line(
        "markers", "dpdk: mxedge on the DPDK transport (net_tap), needs root")


def pytest_collection_modifyitems(config, items):
    if TRANSPORT == "kernel":
        return
    for item in items:
        if item.get_closest_marker("kernel_only") is not None:
            item.add_marker(pytest.mark.skip(
                reason="kernel_only: not run with MX_IT_TRANSPORT=%s"
                % TRANSPORT))


@pytest.fixture(scope="session")
def mxedge_bin():
    p = os.environ.get("MXEDGE_BIN") or str(REPO / "build/engine/main/mxedge")
    p = os.path.abspath(p)
    if not os.access(p, os.X_OK):
        pytest.fail("mxedge binary not found or not executable: %s "
                    "(build it, or set MXEDGE_BIN)" % p, pytrace=False)
    return p


@pytest.fixture
def free_port():
    return proc.free_port


class MxFactory:
    """Starts mxedge processes for one test."""

    def __init__(self, binary, tmp_path, node):
        self.binary = binary
        self.tmp = tmp_path
        self.node = node
        self.procs = []
        self.transport = TRANSPORT
        self._next_tap = None
        node._mx_procs = self.procs

    def args(self, port, spool=None, downstream=None, vlog=None,
             metrics_port=None, config=None, sets=(), hostname=HOSTNAME,
             domains=(DOMAIN,), workers=None, extra=(), tap=None):
        a = ["run"]
        if config is not None:
            a += ["-c", str(config)]
        if tap is not None:
            a += tap.args(port)
        else:
            a += ["--transport", "kernel", "--listen", "127.0.0.1:%d" % port]
        if hostname is not None:
            a += ["--hostname", hostname]
        for d in domains:
            a += ["--local-domain", d]
        if downstream is not None:
            a += ["--downstream", downstream]
        elif spool is not None:
            a += ["--spool", str(spool)]
        if vlog is not None:
            a += ["--verdict-log", str(vlog)]
        if metrics_port is not None:
            a += ["--metrics", "127.0.0.1:%d" % metrics_port]
        if workers is not None:
            a += ["--workers", str(workers)]
        for kv in sets:
            a += ["--set", kv]
        return a + list(extra)

    def _tap(self):
        """The Tap of the next dpdk mxedge (reserved early when a
        downstream must know its address first)."""
        if self._next_tap is None:
            dpdk.require()
            self._next_tap = dpdk.Tap()
        return self._next_tap

    def downstream_host(self):
        """The address a downstream MTA of the next mxedge listens on: the
        loopback on the kernel transport; on dpdk the kernel side of the
        tap that mxedge will create (the relay opens its connections
        through our TCP, so they leave by the tap)."""
        if self.transport == "dpdk":
            return self._tap().peer
        return "127.0.0.1"

    def start(self, spool=True, downstream=None, vlog=True, metrics=False,
              sets=(), name=None, port=None, wait=True, spool_dir=None,
              transport=None, **kw):
        """Starts one mxedge; returns its proc.Mxedge handle with extra
        attributes spool_dir, vlog_path, metrics_port (None when unused),
        transport and tap (the dpdk.Tap, None on kernel)."""
        name = name or "mxedge%d" % len(self.procs)
        transport = transport or self.transport
        tap = None
        if transport == "dpdk":
            tap = self._tap()
            self._next_tap = None
            port = port or 25
        port = port or proc.free_port()
        if downstream is not None:
            spool_dir = None
        elif spool_dir is None and spool:
            spool_dir = self.tmp / ("%s-spool" % name)
            spool_dir.mkdir()
        vlog_path = self.tmp / ("%s-verdict.log" % name) if vlog else None
        metrics_port = proc.free_port() if metrics else None
        args = self.args(port, spool=spool_dir, downstream=downstream,
                         vlog=vlog_path, metrics_port=metrics_port,
                         sets=sets, tap=tap, **kw)
        m = proc.Mxedge(self.binary, args, str(self.tmp), port, name=name)
        m.spool_dir = str(spool_dir) if spool_dir is not None else None
        m.vlog_path = str(vlog_path) if vlog_path is not None else None
        m.metrics_port = metrics_port
        m.transport = transport
        m.tap = tap
        if tap is not None:
            m.host = tap.ours
        self.procs.append(m)
        m.start(wait_ready=wait and tap is None)
        if tap is not None:
            tap.attach(m)
            if wait:
                m.wait_ready()
        return m

    def config_tap(self):
        """The tap to pass to config.sections(tap=) for the next
        start_config: None on the kernel transport."""
        return self._tap() if self.transport == "dpdk" else None

    def start_config(self, config, port, spool_dir=None, vlog_path=None,
                     metrics_port=None, name=None):
        """Starts `mxedge run -c config` with no other flag (so a reload
        takes every value from the file); the caller wrote the file (with
        config.sections(tap=mx.config_tap()) to follow MX_IT_TRANSPORT)."""
        name = name or "mxedge%d" % len(self.procs)
        m = proc.Mxedge(self.binary, ["run", "-c", str(config)],
                        str(self.tmp), port, name=name)
        m.spool_dir = str(spool_dir) if spool_dir is not None else None
        m.vlog_path = str(vlog_path) if vlog_path is not None else None
        m.metrics_port = metrics_port
        tap, self._next_tap = self._next_tap, None
        self.procs.append(m)
        if tap is None:
            m.start()
            return m
        m.transport = "dpdk"
        m.tap = tap
        m.host = tap.ours
        m.start(wait_ready=False)
        tap.attach(m)
        m.wait_ready()
        return m

    def finish(self):
        problems = []
        for m in self.procs:
            if m.proc is None:
                continue
            try:
                rc = m.stop()     # SIGTERM if still running; else reaps
            except proc.MxedgeError as e:
                problems.append(str(e))
                continue
            if rc != 0 and not m.killed:
                problems.append("%s exited %d (expected 0 after SIGTERM):"
                                "\n%s" % (m.name, rc, m.stderr_text()))
            rep = m.sanitizer_report()
            if rep is not None:
                problems.append("%s: sanitizer report:\n%s" % (m.name, rep))
        if problems:
            pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def mx(mxedge_bin, tmp_path, request):
    f = MxFactory(mxedge_bin, tmp_path, request.node)
    try:
        yield f
    finally:
        f.finish()


class PostfixFactory:
    def __init__(self, node):
        self.instances = []
        node._mx_postfix = self.instances

    def downstream(self, **kw):
        pf = pfmod.Postfix("downstream", proc.free_port(), **kw)
        self.instances.append(pf)
        return pf.start()

    def client(self, relay_port, **kw):
        pf = pfmod.Postfix("client", proc.free_port(), relay_port=relay_port,
                           **kw)
        self.instances.append(pf)
        return pf.start()

    def finish(self):
        for pf in self.instances:
            pf.stop()
            shutil.rmtree(pf.base, ignore_errors=True)


@pytest.fixture
def postfix(request):
    if shutil.which("postfix") is None and not os.path.exists(pfmod.POSTFIX):
        pytest.fail("postfix is not installed (scripts/install-deps)",
                    pytrace=False)
    f = PostfixFactory(request.node)
    try:
        yield f
    finally:
        f.finish()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    for m in getattr(item, "_mx_procs", []):
        rep.sections.append(("%s stderr (%s)" % (m.name, " ".join(m.args)),
                             m.stderr_text()))
    for pf in getattr(item, "_mx_postfix", []):
        rep.sections.append(("postfix %s maillog" % pf.role, pf.log_text()))
