# SPDX-License-Identifier: BSD-3-Clause
"""kill -9 of mxedge in the middle of transactions.

Four clients send messages (up to 1 MiB, bounded in count) to mxedge's
spool; once a seeded number of them has been acknowledged, mxedge gets
SIGKILL while the others are mid-transfer. Afterwards every message that got
its 250 must be in spool/new, complete and byte-exact, and no file in new/
may be partial (a message the client never saw acknowledged may be there
too, complete: the kill can land between the rename and the reply). A
restart on the same spool must come up and leave tmp/ empty. MXIT_SEED
picks a different kill point."""

import os
import random
import smtplib
import threading
import time

from mxit import bulk, spool

SEED = bulk.env_int("MXIT_SEED", 9)


def test_kill9_mid_transaction(mx):
    rnd = random.Random(SEED)
    kill_after = rnd.randint(15, 60)
    b = bulk.Bulk(300, 1 << 20, prefix="crash", seed=SEED)
    m = mx.start(workers=2)
    acked = []
    lock = threading.Lock()
    nxt = [0]
    stop = threading.Event()

    def client():
        s = None
        try:
            s = smtplib.SMTP(m.host, m.port, timeout=30)
            s.ehlo("crash.client.test")
            while not stop.is_set():
                with lock:
                    i = nxt[0]
                    nxt[0] += 1
                if i >= b.n:
                    return
                s.sendmail("sender@client.test", ["user@example.org"],
                           b.message(i))
                with lock:
                    acked.append(i)
        except (OSError, smtplib.SMTPException):
            return   # the kill closed our connection
        finally:
            if s is not None:
                s.close()

    ts = [threading.Thread(target=client, daemon=True) for _ in range(4)]
    for t in ts:
        t.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with lock:
            if len(acked) >= kill_after:
                break
        time.sleep(0.001)
    with lock:
        assert len(acked) >= kill_after, "only %d acked" % len(acked)
    m.kill()
    stop.set()
    for t in ts:
        t.join(60)
    assert not any(t.is_alive() for t in ts)
    with lock:
        acked_set = set(acked)

    present = set()
    for path in spool.new_files(m.spool_dir):
        # Raises on a partial or malformed file.
        present.add(bulk.check_spool_file(b, path))
    lost = sorted(acked_set - present)
    assert lost == [], "acknowledged but not in spool/new: %r" % lost

    # Restart on the same spool: it starts and clears tmp/ (whatever the
    # kill left there, plus a partial file planted to be sure).
    planted = os.path.join(m.spool_dir, "tmp", "PARTIAL0000000000")
    with open(planted, "wb") as f:
        f.write(spool.MAGIC + b"id: PARTIAL0000000000\nrec")
    m2 = mx.start(spool_dir=m.spool_dir, name="restarted")
    assert spool.tmp_files(m2.spool_dir) == []
    before = set(spool.new_files(m2.spool_dir))
    s = smtplib.SMTP(m2.host, m2.port, timeout=30)
    try:
        s.sendmail("sender@client.test", ["user@example.org"],
                   b.message(b.n - 1))
    finally:
        s.quit()
    after = set(spool.new_files(m2.spool_dir))
    (new,) = after - before
    assert bulk.check_spool_file(b, new) == b.n - 1
    assert os.path.isdir(os.path.join(m2.spool_dir, "tmp"))
