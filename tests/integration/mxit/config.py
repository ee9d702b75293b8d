# SPDX-License-Identifier: BSD-3-Clause
"""Writes mxedge YAML configuration files for the tests (the sections and
keys of etc/mxedge.example.yaml: server, smtp, delivery, log, metrics,
memory)."""


def _scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def render(sections):
    """sections: {section: {key: scalar or list}} -> YAML text. Returns
    (text, {"section.key": line number}) so tests can name the line."""
    out = []
    lines = {}
    for sec, keys in sections.items():
        out.append("%s:" % sec)
        for k, v in keys.items():
            lines["%s.%s" % (sec, k)] = len(out) + 1
            if isinstance(v, (list, tuple)):
                out.append("  %s:" % k)
                out.extend("    - %s" % _scalar(x) for x in v)
            else:
                out.append("  %s: %s" % (k, _scalar(v)))
    return "\n".join(out) + "\n", lines


def sections(port, spool=None, downstream=None, vlog=None, smtp=None,
             hostname="mx.test", domains=("example.org",), metrics_port=None,
             tap=None):
    """The sections of a minimal configuration; with tap (a mxit.dpdk.Tap)
    mxedge runs on the DPDK transport on that tap instead of the kernel's
    loopback."""
    s = {
        "server": {"hostname": hostname, "transport": "kernel",
                   "listen": ["127.0.0.1:%d" % port], "workers": 1},
        "smtp": {"local_domains": list(domains)},
        "delivery": {},
        "log": {"level": "info"},
    }
    s["smtp"].update(smtp or {})
    if downstream is not None:
        s["delivery"]["downstream"] = downstream
    else:
        s["delivery"]["spool_dir"] = spool
    if vlog is not None:
        s["log"]["verdict_log"] = vlog
    if metrics_port is not None:
        s["metrics"] = {"listen": "127.0.0.1:%d" % metrics_port}
    if tap is not None:
        s["server"]["transport"] = "dpdk"
        s["server"]["listen"] = ["%s:%d" % (tap.ours, port)]
        # Quoted: the EAL line starts with "-" and holds "*".
        s["dpdk"] = {"eal": '"%s"' % tap.eal(),
                     "address": ["%s/24" % tap.ours]}
    return s


def write(path, secs):
    text, lines = render(secs)
    with open(path, "w") as f:
        f.write(text)
    return lines
