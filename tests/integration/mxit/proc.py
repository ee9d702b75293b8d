# SPDX-License-Identifier: BSD-3-Clause
"""Starting and stopping mxedge processes for the tests.

A process is started with the flags of the CLI contract, its stderr goes to
a file (shown in the test report when a test fails), and it counts as ready
once its listen port answers with a 220 greeting. Stopping is SIGTERM and a
bounded wait; the exit status is kept for the test to assert on. Anything
still running at teardown is killed by PID, never by name.
"""

import os
import signal
import socket
import subprocess
import time

from . import smtp

SANITIZER_MARKERS = (
    b"ERROR: AddressSanitizer",
    b"ERROR: LeakSanitizer",
    b"runtime error:",          # UBSan
    b"WARNING: ThreadSanitizer",
)


class MxedgeError(AssertionError):
    pass


_TAKEN = set()


def free_port(host="127.0.0.1"):
    """A TCP port nobody listens on now. Ports handed out earlier in this
    run are not handed out again (the kernel may reuse a just-closed one)."""
    taken = _TAKEN
    for _ in range(200):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((host, 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if port not in taken:
            taken.add(port)
            return port
    raise RuntimeError("no free port")


class Mxedge:
    def __init__(self, binary, args, workdir, port, name="mxedge", env=None):
        self.binary = binary
        self.args = list(args)
        self.port = port
        # Where clients reach the engine: loopback on the kernel transport,
        # the engine's own address on a DPDK port.
        self.host = "127.0.0.1"
        self.transport = "kernel"
        self.tap = None          # the mxit.dpdk.Tap on the dpdk transport
        self.name = name
        self.stderr_path = os.path.join(workdir, "%s.stderr" % name)
        self.stdout_path = os.path.join(workdir, "%s.stdout" % name)
        self.env = dict(os.environ)
        self.env.setdefault("ASAN_OPTIONS",
                            "detect_leaks=1:abort_on_error=1")
        self.env.setdefault("UBSAN_OPTIONS",
                            "halt_on_error=1:print_stacktrace=1")
        if env:
            self.env.update(env)
        self.proc = None
        self.returncode = None
        self.killed = False

    def client_addr(self, i):
        """Source address of client i (0, 1, ...), so tests can look like
        several clients: 127.0.0.(i+1) on the kernel transport, addresses
        on the tap's subnet (mxit/dpdk.py) on dpdk."""
        if self.tap is not None:
            return self.tap.client_addr(i)
        if not 0 <= i <= 250:
            raise ValueError("client address index %d" % i)
        return "127.0.0.%d" % (i + 1)

    @property
    def pid(self):
        return self.proc.pid

    def start(self, ready_timeout=20.0, wait_ready=True):
        self._err = open(self.stderr_path, "ab")
        self._out = open(self.stdout_path, "ab")
        self.proc = subprocess.Popen([self.binary] + self.args,
                                     stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._err,
                                     env=self.env)
        if wait_ready:
            self.wait_ready(ready_timeout)
        return self

    def wait_ready(self, timeout=20.0):
        """Waits until the port greets with 220; says QUIT and waits for the
        server to close, so the probe holds no connection slot afterwards."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise MxedgeError("%s exited with %d before it was ready:\n%s"
                                  % (self.name, self.proc.returncode,
                                     self.stderr_text()))
            try:
                with smtp.Conn(self.port, host=self.host, timeout=10) as c:
                    r = c.read_reply()
                    if r is not None and r.code == 220:
                        c.cmd("QUIT")
                        c.wait_closed()
                        return
                    last = r
            except OSError as e:
                last = e
            time.sleep(0.05)
        raise MxedgeError("%s not ready on port %d (%r):\n%s" % (
            self.name, self.port, last, self.stderr_text()))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=30.0):
        """SIGTERM and wait; returns the exit status (kills on timeout)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise MxedgeError("%s still running %.0fs after SIGTERM:\n%s"
                                  % (self.name, timeout, self.stderr_text()))
        return self._reap()

    def wait(self, timeout=30.0):
        self.proc.wait(timeout)
        return self._reap()

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.killed = True
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        return self._reap()

    def _reap(self):
        self.returncode = self.proc.returncode
        for f in (getattr(self, "_err", None), getattr(self, "_out", None)):
            if f is not None and not f.closed:
                f.close()
        return self.returncode

    def stderr_bytes(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read()
        except OSError:
            return b""

    def stderr_text(self, limit=30000):
        data = self.stderr_bytes()
        if len(data) > limit:
            data = b"...\n" + data[-limit:]
        return data.decode("utf-8", errors="replace")

    def sanitizer_report(self):
        data = self.stderr_bytes()
        for m in SANITIZER_MARKERS:
            if m in data:
                return self.stderr_text()
        return None


def run_cli(binary, args, timeout=30.0):
    """Runs a short mxedge command (version, check-config)."""
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
    return subprocess.run([binary] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL)
