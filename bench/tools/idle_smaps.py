#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Where an idle session's memory goes (bench/PROFILE.md).

  idle_smaps.py [--build DIR] [--messages K --size BYTES]
                {mxedge-kernel,mxedge-dpdk} N

Starts the system the way bench/run does (same options, engine on core
0, generator on core 1), holds N sessions that greet, EHLO (and, with
--messages, send K messages of BYTES each) and then say nothing
(bench/run's idle scenario), and prints the engine's RSS growth
per held session, split by mapping (/proc/PID/smaps before and after).
Every process it starts is stopped by PID at the end; every wait is
bounded (60 s for the sessions to be held).
"""

import argparse
import importlib.machinery
import importlib.util
import pathlib
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent


def load_run():
    ldr = importlib.machinery.SourceFileLoader("bench_run", str(ROOT / "bench" / "run"))
    spec = importlib.util.spec_from_loader("bench_run", ldr)
    mod = importlib.util.module_from_spec(spec)
    ldr.exec_module(mod)
    return mod


def smaps(pid):
    """{(range, size KiB, name): Rss KiB} of every mapping."""
    out, cur = {}, None
    with open("/proc/%d/smaps" % pid) as f:
        for ln in f:
            w = ln.split()
            if w and not w[0].endswith(":") and "-" in w[0]:
                a, b = (int(x, 16) for x in w[0].split("-"))
                cur = (w[0], (b - a) // 1024, w[5] if len(w) > 5 else "[anon]")
                out[cur] = 0
            elif w and w[0] == "Rss:" and cur is not None:
                out[cur] = int(w[1])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("system", choices=("mxedge-kernel", "mxedge-dpdk"))
    ap.add_argument("n", type=int)
    ap.add_argument("--messages", type=int, default=0)
    ap.add_argument("--size", default="4096")
    a = ap.parse_args()
    if not 1 <= a.n <= 60000:
        ap.error("N between 1 and 60000")
    br = load_run()
    args = argparse.Namespace(build=a.build, engine_core=0, gen_core=1,
                              no_install=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="mxedge-idle-smaps-"))
    procs = br.Procs(tmp)
    try:
        env = br.Env(args, tmp, procs)
        s = br.start(env, a.system, n_ports=max(1, (a.n + 19999) // 20000),
                     max_conns=a.n + 1000)
        time.sleep(1)
        before = smaps(s.pid)
        ready = tmp / "ready"
        g = [str(env.bench), "--sessions", str(a.n), "--concurrency", str(a.n),
             "--hold", "600", "--duration", "900", "--ready-file", str(ready),
             "--rcpt-domain", br.DOMAIN, "--reply-timeout", "60",
             "--hold-after", str(a.messages), "--size", a.size,
             "--quiet"] + s.gen_args
        for p in s.ports:
            g += ["--target", "%s:%d" % (s.host, p)]
        procs.spawn("mxedge-bench", g, core=env.gcore, nofile=br.NOFILE)
        held, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < 60:
            time.sleep(0.5)
            try:
                f = ready.read_text().split()
                held = int(f[0])
                if f[2] == "1":
                    break
            except (OSError, IndexError, ValueError):
                pass
        time.sleep(1)
        after = smaps(s.pid)
        if held == 0:
            print("no session held")
            return 1
        grow = sorted(((v - before.get(k, 0), k) for k, v in after.items()
                       if v > before.get(k, 0)), reverse=True)
        tot = sum(d for d, _ in grow)
        print("%s: %d sessions held; RSS %d KiB, growth %d KiB = %.0f B per session"
              % (a.system, held, sum(after.values()), tot, tot * 1024 / held))
        for d, k in grow[:8]:
            print("  %8d KiB  %6.0f B/session  in a %d KiB mapping %s"
                  % (d, d * 1024 / held, k[1], k[2]))
        return 0
    finally:
        procs.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
