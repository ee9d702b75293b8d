# SPDX-License-Identifier: BSD-3-Clause
"""The openspf RFC 7208 and RFC 4408 SPF test suites,
end to end through `mxedge verify` and a real DNS server on loopback.

One pytest test per case. Each scenario gets its own DnsServer with only
its zonedata (the suite's scenarios conflict). The binary is MXEDGE_BIN;
the suite files come from MX_SHARED, else ../shared beside the repo.
Both editions run, and every case must pass.
"""
import json
import os
import pathlib
import subprocess

import pytest
import yaml

from dns_server import DnsServer

ROOT = pathlib.Path(__file__).resolve().parents[2]
TIMEOUT_MS = 1000


def _shared():
    # CI clones the repository with shared/ beside it; MX_SHARED points
    # elsewhere when it is not.
    for cand in (os.environ.get('MX_SHARED'), ROOT.parent / 'shared'):
        if cand and (pathlib.Path(cand) / 'conformance' / 'spf').is_dir():
            return pathlib.Path(cand)
    return None


def _load(fname):
    shared = _shared()
    if shared is None:
        # Missing data must fail loudly, never collect zero tests.
        return [pytest.param(fname, -1, 'missing', None, id='suite-data-missing')]
    with open(shared / 'conformance' / 'spf' / fname, encoding='utf-8') as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    cases = []
    for i, doc in enumerate(docs):
        for name, case in doc['tests'].items():
            cases.append(pytest.param(fname, i, name, case, id=name))
    return cases


_SCENARIOS = {}
_SERVERS = {}


def _scenario(fname, idx):
    key = (fname, idx)
    if key not in _SCENARIOS:
        shared = _shared()
        with open(shared / 'conformance' / 'spf' / fname, encoding='utf-8') as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        for i, d in enumerate(docs):
            _SCENARIOS[(fname, i)] = d
    return _SCENARIOS[key]


@pytest.fixture(scope='module', autouse=True)
def _stop_servers():
    yield
    for s in _SERVERS.values():
        s.stop()
    _SERVERS.clear()


def _server(fname, idx):
    key = (fname, idx)
    if key not in _SERVERS:
        # One scenario at a time: a finished scenario's server goes.
        for k in list(_SERVERS):
            _SERVERS.pop(k).stop()
        _SERVERS[key] = DnsServer(_scenario(fname, idx).get('zonedata'))
    return _SERVERS[key]


def _mxedge():
    b = os.environ.get('MXEDGE_BIN')
    if not b:
        for cand in ('build/engine/main/mxedge',):
            if (ROOT / cand).exists():
                return str(ROOT / cand)
        pytest.skip('MXEDGE_BIN not set')
    return b


def _verify(port, case):
    cmd = [_mxedge(), 'verify', '--resolver', f'127.0.0.1:{port}',
           '--dns-timeout-ms', str(TIMEOUT_MS), '--authserv-id', 'mx.test',
           '--client-ip', case['host'], '--helo', case['helo'],
           '--mail-from', case['mailfrom'], '--json']
    p = subprocess.run(cmd, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr.decode(errors='replace')
    return json.loads(p.stdout)


def _run(fname, idx, name, case):
    srv = _server(fname, idx)
    out = _verify(srv.port, case)
    want = case['result']
    want = want if isinstance(want, list) else [want]
    got = out['spf']['result']
    assert got in want, f"{name}: got {got} ({out['spf']}), want {want}"
    exp = case.get('explanation')
    if exp is not None and exp != 'DEFAULT' and got == 'fail':
        assert out['spf']['explanation'] == exp


def _case(fname, idx, name, case):
    if case is None:
        pytest.fail('../shared/conformance/spf not found: clone with shared/ '
                    'beside the repository or set MX_SHARED')
    _run(fname, idx, name, case)


@pytest.mark.parametrize('fname,idx,name,case', _load('rfc7208-tests.yml'))
def test_rfc7208(fname, idx, name, case):
    _case(fname, idx, name, case)


# RFC 4408 is obsoleted by RFC 7208, but its suite still describes how
# deployed SPF behaves; every case passes, so it runs as a regression
# suite too.
@pytest.mark.parametrize('fname,idx,name,case', _load('rfc4408-tests.yml'))
def test_rfc4408(fname, idx, name, case):
    _case(fname, idx, name, case)
