# SPDX-License-Identifier: BSD-3-Clause
"""The command line: `mxedge version` and `mxedge check-config`.

check-config exits 0 and prints the effective configuration for a good
file (the shipped example and ones written here), and exits 1 with
"FILE:LINE: key: problem" on stderr for a bad one, naming the line of the
offending key."""

import pathlib
import re
import subprocess

import pytest

from mxit import config, proc

REPO = pathlib.Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.asan

LIBRARIES = ["DPDK", "mbed TLS", "libopendkim", "Hyperscan",
             "jemalloc", "libyaml"]


def _pkg_version(name):
    r = subprocess.run(["pkg-config", "--modversion", name],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return r.stdout.decode().strip() if r.returncode == 0 else None


def test_version_lists_libraries(mxedge_bin):
    r = proc.run_cli(mxedge_bin, ["version"])
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert re.search(r"^mxedge \d+\.\d+\.\d+", out, re.M), out
    for lib in LIBRARIES:
        assert re.search(r"%s\S*\s+v?\d+\.\d+" % re.escape(lib), out), \
            "%s missing from:\n%s" % (lib, out)
    # The versions are the ones actually installed, not made up.
    for pc, lib in (("libdpdk", "DPDK"), ("yaml-0.1", "libyaml")):
        v = _pkg_version(pc)
        if v is not None:
            mm = ".".join(v.split(".")[:2])
            assert re.search(r"%s\S*\s+v?%s" % (re.escape(lib),
                                                re.escape(mm)), out), \
                (lib, v, out)


def test_check_config_example(mxedge_bin):
    path = REPO / "etc" / "mxedge.example.yaml"
    assert path.exists(), "etc/mxedge.example.yaml is missing"
    r = proc.run_cli(mxedge_bin, ["check-config", "-c", str(path)])
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode()
    for section in ("server:", "smtp:", "delivery:"):
        assert section in out, out


def test_check_config_prints_effective_config(mxedge_bin, tmp_path):
    cfg = tmp_path / "good.yaml"
    config.write(cfg, config.sections(2525, spool=str(tmp_path),
                                      smtp={"max_recipients": 150,
                                            "timeout_command": "90s"}))
    r = proc.run_cli(mxedge_bin, ["check-config", "-c", str(cfg)])
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode()
    assert re.search(r"^\s+max_recipients:\s+150\s*$", out, re.M), out
    assert re.search(r"^\s+hostname:\s+\"?mx\.test\"?\s*$", out, re.M), out
    # A default the file did not set is shown too (effective config).
    assert re.search(r"^\s+max_command_line:\s+512\s*$", out, re.M), out
    # The output is itself a valid configuration.
    again = tmp_path / "effective.yaml"
    again.write_bytes(r.stdout)
    r2 = proc.run_cli(mxedge_bin, ["check-config", "-c", str(again)])
    assert r2.returncode == 0, r2.stderr.decode()
    assert r2.stdout == r.stdout


BAD = [
    # (id, section, key, value)
    ("unknown_key", "smtp", "no_such_key", "1"),
    ("below_range", "smtp", "max_recipients", "5"),
    ("not_a_number", "smtp", "max_recipients", "many"),
    ("bad_unit", "smtp", "timeout_command", "5parsecs"),
    ("bad_enum", "smtp", "bare_lf", "sometimes"),
    ("zero_workers", "server", "workers", "0"),
    ("bad_listen", "server", "listen", ["127.0.0.1:99999"]),
    ("bad_hostname", "server", "hostname", "-bad-.example"),
]


@pytest.mark.parametrize("case", BAD, ids=[b[0] for b in BAD])
def test_check_config_bad_value(mxedge_bin, tmp_path, case):
    _, section, key, value = case
    secs = config.sections(2525, spool=str(tmp_path))
    secs[section][key] = value
    cfg = tmp_path / "bad.yaml"
    lines = config.write(cfg, secs)
    line = lines["%s.%s" % (section, key)]
    # For a list the line of the bad item is as good as the key's line.
    want = "(%d|%d)" % (line, line + 1) if isinstance(value, list) \
        else str(line)
    r = proc.run_cli(mxedge_bin, ["check-config", "-c", str(cfg)])
    err = r.stderr.decode()
    assert r.returncode == 1, (r.returncode, err)
    pat = r"^%s:%s(:\d+)?: (%s\.)?%s: \S" % (re.escape(str(cfg)), want,
                                            section, key)
    assert re.search(pat, err, re.M), "want %r in:\n%s" % (pat, err)


def test_check_config_yaml_syntax_error(mxedge_bin, tmp_path):
    cfg = tmp_path / "syntax.yaml"
    cfg.write_text("server:\n  hostname: mx.test\n  listen: [127.0.0.1:25\n"
                   "smtp:\n  local_domains: example.org\n")
    r = proc.run_cli(mxedge_bin, ["check-config", "-c", str(cfg)])
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert re.search(r"^%s:\d+" % re.escape(str(cfg)), err, re.M), err


def test_check_config_missing_required(mxedge_bin, tmp_path):
    secs = config.sections(2525, spool=str(tmp_path))
    del secs["smtp"]["local_domains"]
    cfg = tmp_path / "incomplete.yaml"
    config.write(cfg, secs)
    r = proc.run_cli(mxedge_bin, ["check-config", "-c", str(cfg)])
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert "local_domains" in err, err


def test_check_config_missing_file(mxedge_bin, tmp_path):
    r = proc.run_cli(mxedge_bin, ["check-config", "-c",
                                  str(tmp_path / "absent.yaml")])
    assert r.returncode == 1
    assert str(tmp_path / "absent.yaml") in r.stderr.decode()


def test_default_transport_is_dpdk_and_needs_eal(mxedge_bin, tmp_path):
    """DPDK is the default transport (issue 3); without EAL arguments
    'run' refuses at once and names both ways out."""
    r = proc.run_cli(mxedge_bin, ["check-config", "--hostname", "mx.test",
                                  "--listen", "127.0.0.1:2525",
                                  "--local-domain", "example.org",
                                  "--spool", str(tmp_path)])
    assert r.returncode == 0, r.stderr.decode()
    assert re.search(r"^\s+transport:\s+dpdk\s*$", r.stdout.decode(), re.M)
    r = proc.run_cli(mxedge_bin, ["run", "--hostname", "mx.test",
                                  "--listen", "198.18.0.2:25",
                                  "--address", "198.18.0.2/24",
                                  "--local-domain", "example.org",
                                  "--spool", str(tmp_path)])
    assert r.returncode != 0
    err = r.stderr.decode()
    assert "--eal" in err and "--transport kernel" in err, err


def test_run_rejects_bad_flag(mxedge_bin, tmp_path):
    r = proc.run_cli(mxedge_bin, ["run", "--transport", "kernel",
                                  "--listen", "127.0.0.1:2525",
                                  "--hostname", "mx.test",
                                  "--local-domain", "example.org",
                                  "--spool", str(tmp_path),
                                  "--set", "smtp.max_recipients=many"])
    assert r.returncode != 0
    assert "max_recipients" in r.stderr.decode()
