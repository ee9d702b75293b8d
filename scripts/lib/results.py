#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Counts test results for scripts/test from the runners' own records.

  results.py meson TESTLOG.json   meson's build/meson-logs/testlog.json
                                  (one JSON object per line, "result")
  results.py junit REPORT.xml     pytest --junitxml report

Prints one line "PASSED FAILED SKIPPED" (three integers). A missing or
unreadable record prints "0 1 0": a runner that left no record failed.
Meson: OK and EXPECTEDFAIL pass; SKIP skips; anything else (FAIL, TIMEOUT,
ERROR, UNEXPECTEDPASS) fails. JUnit: a test case with a <failure> or
<error> fails (a teardown error counts against its test), one with only
<skipped> skips, every other case passes; each test counts once.
"""

import json
import sys
import xml.etree.ElementTree as ET

PASS = {"OK", "EXPECTEDFAIL"}
SKIP = {"SKIP"}


def meson(path):
    p = f = s = 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line).get("result")
            if r in PASS:
                p += 1
            elif r in SKIP:
                s += 1
            else:
                f += 1
    return p, f, s


def junit(path):
    root = ET.parse(path).getroot()
    state = {}
    for tc in root.iter("testcase"):
        key = (tc.get("classname"), tc.get("name"))
        kinds = {child.tag for child in tc}
        if kinds & {"failure", "error"}:
            v = "failed"
        elif "skipped" in kinds:
            v = "skipped"
        else:
            v = "passed"
        prev = state.get(key)
        if prev != "failed":
            state[key] = v if prev is None or v == "failed" else prev
    vals = list(state.values())
    n_err = 0
    for ts in root.iter("testsuite"):
        # Collection errors have no test case of their own.
        if int(ts.get("tests", "0")) == 0 and int(ts.get("errors", "0")) > 0:
            n_err += int(ts.get("errors"))
    return (vals.count("passed"), vals.count("failed") + n_err,
            vals.count("skipped"))


def main(argv):
    if len(argv) != 3 or argv[1] not in ("meson", "junit"):
        sys.stderr.write(__doc__)
        return 2
    try:
        p, f, s = meson(argv[2]) if argv[1] == "meson" else junit(argv[2])
    except (OSError, ValueError, ET.ParseError) as e:
        sys.stderr.write("results.py: %s: %s\n" % (argv[2], e))
        p, f, s = 0, 1, 0
    print(p, f, s)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
