# SPDX-License-Identifier: BSD-3-Clause
"""mxedge between real Postfix instances (private; loopback only, and on
the DPDK transport also the kernel side of the test's tap).

- Postfix as client: a Postfix with relayhost=[m.host]:<mxedge> relays
  50 messages into mxedge (spool); every one arrives once, byte-exact.
- Postfix as downstream: 1,000 messages from 0 B to 10 MiB (0 B, 1 B, the
  64 KiB chunk boundaries, 10 MiB, log-uniform for the rest) sent with
  smtplib over 8 concurrent connections are relayed by mxedge into Postfix,
  which delivers them to a Maildir: every one arrives exactly once and
  byte-exact once the headers added on the way are removed.
- The same 1,000 into mxedge's spool, checked against the spool format.
MXIT_BULK_N and MXIT_BULK_MAX (bytes) scale the bulk runs down for a quick
local run; scripts/test uses the defaults."""

import os

import pytest

from mxit import bulk, check, keys, spool

BULK_N = bulk.env_int("MXIT_BULK_N", 1000)
BULK_MAX = bulk.env_int("MXIT_BULK_MAX", 10 << 20)
LARGE = [keys.kv(keys.MAX_MESSAGE_SIZE, "32M")]


def test_postfix_client_relays_into_mxedge(mx, postfix):
    m = mx.start()
    pf = postfix.client(relay_port=m.port, relay_host=m.host)
    b = bulk.Bulk(50, 256 << 10, prefix="pfclient")
    for _i, sp, sent in pf.relay_bulk(b, m.spool_dir):
        # The whole message is ours plus the two Received fields
        # (mxedge's, then Postfix's).
        fields = spool.strip_prepended(sp.data, sent)
        assert [n for n, _ in fields] == ["received", "received"], fields
        assert b"by mx.test" in fields[0][1]
        assert sp.rcpts == ["user@example.org"]
        assert sp.meta["mail-from"] == "sender@client.test"


@pytest.mark.slow
def test_bulk_relay_into_postfix(mx, postfix):
    pf = postfix.downstream(host=mx.downstream_host())
    m = mx.start(downstream="%s:%d" % (pf.host, pf.port), workers=2,
                 sets=LARGE + [keys.kv(keys.TIMEOUT_REPLY, "60s")])
    b = bulk.Bulk(BULK_N, BULK_MAX, prefix="relay")
    b.send(m.port, threads=8, host=m.host)
    fails = b.failures()
    assert fails == {}, "%d messages not accepted, e.g. %r" % (
        len(fails), sorted(fails.items())[:10])
    check.wait_until(lambda: len(pf.maildir_files()) >= b.n, 600,
               "%d messages in the Maildir" % b.n)
    check.wait_until(lambda: pf.queue_count() == 0, 60, "postfix queue to drain")
    files = pf.maildir_files()
    idx = [bulk.check_maildir_file(b, p) for p in files]
    missing, dup = bulk.count_ids(idx, b.n)
    assert missing == [] and dup == [], (missing[:20], dup[:20])


@pytest.mark.slow
def test_bulk_into_spool(mx):
    m = mx.start(workers=2, sets=LARGE)
    b = bulk.Bulk(BULK_N, BULK_MAX, prefix="spool", seed=2000)
    b.send(m.port, threads=8, host=m.host)
    fails = b.failures()
    assert fails == {}, "%d messages not accepted, e.g. %r" % (
        len(fails), sorted(fails.items())[:10])
    files = spool.new_files(m.spool_dir)
    idx = [bulk.check_spool_file(b, p) for p in files]
    missing, dup = bulk.count_ids(idx, b.n)
    assert missing == [] and dup == [], (missing[:20], dup[:20])
    assert spool.tmp_files(m.spool_dir) == []
    lines = check.read_vlog(m.vlog_path, b.n)
    assert len(lines) == b.n
    # Passed: free the disk now (pytest keeps the last runs' tmp dirs).
    for path in files:
        os.unlink(path)
