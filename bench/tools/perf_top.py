#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Top self-cost symbols of one process's threads in a system-wide
`perf record -a` capture (bench/PROFILE.md).

  perf_top.py PERF.DATA EXE [N]

Only the processes whose samples include EXE (a path, e.g. the build's
mxedge) count, so another program with the same thread names running at
the same time does not blur the figures. Prints, per thread name, its
sample count and its N (default 15) most sampled symbols with their share
of that thread's samples. Uses `perf script` (perf report's --sort dso
misattributes samples of unsymbolised libraries).
"""

import collections
import re
import subprocess
import sys

LINE = re.compile(r"^\s*(\S.*?)\s+(\d+)/(\d+)\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$")


def main(argv):
    if len(argv) not in (3, 4):
        sys.stderr.write(__doc__)
        return 2
    data, exe = argv[1], argv[2]
    top = int(argv[3]) if len(argv) == 4 else 15
    out = subprocess.run(["perf", "script", "-i", data, "-G",
                          "-F", "comm,pid,tid,ip,sym,dso"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         check=True, timeout=600).stdout.decode(errors="replace")
    samples = []
    mine = set()
    for ln in out.splitlines():
        m = LINE.match(ln)
        if m is None:
            continue
        comm, pid, sym, dso = m.group(1), int(m.group(2)), m.group(4), m.group(5)
        sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
        if sym == "[unknown]":
            sym = "[unknown in %s]" % dso.rsplit("/", 1)[-1]
        samples.append((pid, comm, sym))
        if dso == exe:
            mine.add(pid)
    per = collections.defaultdict(collections.Counter)
    for pid, comm, sym in samples:
        if pid in mine:
            per[comm][sym] += 1
    for comm, c in sorted(per.items(), key=lambda kv: -sum(kv[1].values())):
        n = sum(c.values())
        print("%s: %d samples" % (comm, n))
        for sym, k in c.most_common(top):
            print("  %5.1f%%  %s" % (100.0 * k / n, sym))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
