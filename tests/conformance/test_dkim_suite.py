# SPDX-License-Identifier: BSD-3-Clause
"""DKIM through `mxedge verify --resolver` with a real DNS server on loopback.

Two sets: the 19 conformance vectors (../shared/conformance/dkim: the zone
file is read with dnspython and served by dns_server.DnsServer, results
compared with expected.yml, any listed result passes), and our own
messages signed with python3-dkim (policy/dkim/testdata, keys.txt), which
also cover ed25519, l=, rsa-sha1, small, revoked, missing and expired keys.
The binary is MXEDGE_BIN; the data comes from MX_SHARED, else ../shared.
"""
import json
import os
import pathlib
import subprocess

import dns.zone
import pytest
import yaml

from dns_server import DnsServer

ROOT = pathlib.Path(__file__).resolve().parents[2]
OWN = ROOT / 'policy' / 'dkim' / 'testdata'


def _dkim_dir():
    # CI clones the repository with shared/ beside it; MX_SHARED points
    # elsewhere when it is not.
    for cand in (os.environ.get('MX_SHARED'), ROOT.parent / 'shared'):
        if cand and (pathlib.Path(cand) / 'conformance' / 'dkim').is_dir():
            return pathlib.Path(cand) / 'conformance' / 'dkim'
    return None


def _zone_file_data(path):
    z = dns.zone.from_text(path.read_text(), relativize=False, check_origin=False)
    data = {}
    for name, rds in z.iterate_rdatasets('TXT'):
        for rd in rds:
            data.setdefault(str(name).rstrip('.'), []).append(
                {'TXT': [s.decode('latin-1') for s in rd.strings]})
    return data


def _keys_txt_data(path):
    data = {}
    for line in path.read_text().splitlines():
        name, txt = line.split('\t', 1)
        data.setdefault(name, []).append(
            {'TXT': [txt[i:i + 255] for i in range(0, len(txt), 255)]})
    return data


def _verify(port, msg):
    bin_ = os.environ.get('MXEDGE_BIN', str(ROOT / 'build/engine/main/mxedge'))
    out = subprocess.run(
        [bin_, 'verify', '--resolver', '127.0.0.1:%d' % port,
         '--dns-timeout-ms', '2000', '--client-ip', '192.0.2.1',
         '--helo', 'mail.example.com', '--mail-from', 'alice@example.com',
         '--authserv-id', 'mx.test', '--json', str(msg)],
        capture_output=True, timeout=60, check=True)
    return json.loads(out.stdout)


DKIM = _dkim_dir()
VECTORS = (yaml.safe_load((DKIM / 'expected.yml').read_text())['messages']
           if DKIM else [])


@pytest.fixture(scope='module')
def vector_dns():
    srv = DnsServer(_zone_file_data(DKIM / 'dns' / 'example.com.zone'))
    yield srv
    srv.stop()


@pytest.fixture(scope='module')
def own_dns():
    srv = DnsServer(_keys_txt_data(OWN / 'keys.txt'))
    yield srv
    srv.stop()


def test_vectors_present():
    # Missing data must fail loudly, not skip the vectors silently.
    assert DKIM is not None, ('../shared/conformance/dkim not found: clone with '
                              'shared/ beside the repository or set MX_SHARED')
    assert len(VECTORS) == 19


@pytest.mark.skipif(DKIM is None, reason='../shared/conformance/dkim not found')
@pytest.mark.parametrize('case', VECTORS, ids=[v['file'] for v in VECTORS])
def test_vector(vector_dns, case):
    got = _verify(vector_dns.port, DKIM / case['file'])['dkim']
    want = case['signatures']
    assert [(g['domain'], g['selector']) for g in got] == \
        [(w['d'], w['s']) for w in want]
    for g, w in zip(got, want):
        assert g['result'] in w['result'], (g, w)


# Signed by policy/dkim/testdata/gen.py at t=1700000000 (the "future"
# message is only in the future for the unit test's fixed clock).
OWN_CASES = [
    ('rr', [('example.org', 'r2048', 'pass')]),
    ('ss', [('example.org', 'r2048', 'pass')]),
    ('ed', [('example.org', 'ed', 'pass')]),
    ('l', [('example.org', 'r1024', 'pass')]),
    ('sha1', [('example.org', 'r1024', 'policy')]),
    ('small', [('example.org', 'r512', 'policy')]),
    ('revoked', [('example.org', 'revoked', 'permerror')]),
    ('nokey', [('example.org', 'gone', 'permerror')]),
    ('body', [('example.org', 'r1024', 'fail')]),
    ('expired', [('example.org', 'r1024', 'fail')]),
    ('multi', [('mail.example.net', 'sub', 'pass'), ('example.org', 'ed', 'pass')]),
    ('unsigned', []),
]


# The key size each verified signature reports: RSA from the key, ed25519
# always 256 (RFC 8463 3), 0 where no key could be loaded.
KEY_BITS = [('rr', [2048]), ('ed', [256]), ('small', [512]), ('nokey', [0]),
            ('multi', [1024, 256])]


@pytest.mark.parametrize('name,want', KEY_BITS, ids=[c[0] for c in KEY_BITS])
def test_key_bits(own_dns, name, want):
    res = _verify(own_dns.port, OWN / (name + '.eml'))
    assert [g['key_bits'] for g in res['dkim']] == want


@pytest.mark.parametrize('name,want', OWN_CASES, ids=[c[0] for c in OWN_CASES])
def test_own(own_dns, name, want):
    res = _verify(own_dns.port, OWN / (name + '.eml'))
    assert [(g['domain'], g['selector'], g['result']) for g in res['dkim']] == want
    ar = res['authentication_results']
    assert ar.startswith('mx.test; ')
    if not want:
        assert 'dkim=none' in ar
    for d, s, r in want:
        assert 'dkim=%s header.d=%s header.s=%s' % (r, d, s) in ar
    assert res['dmarc']['from_domain'] == 'example.org'
