# SPDX-License-Identifier: BSD-3-Clause
"""Deterministic test messages of any body size.

Bodies are cut from one seeded pool of CRLF-terminated text lines (printable
ASCII, lengths 0..200, about one line in 16 starting with "." so
dot-stuffing is exercised), starting at a line boundary. A body of n >= 2
bytes ends with CRLF; a 1-byte body is a single "x" (DATA then carries it
as "x" CRLF, see wire_form()). Nothing here is random at run time: the same
seed gives the same bytes, so a failure can be replayed.
"""

import hashlib
import math
import random

POOL_BYTES = 12 << 20   # > the largest body, so a body is one slice
_PRINTABLE = bytes(range(0x21, 0x7F))


class Pool:
    def __init__(self, seed=5321, size=POOL_BYTES):
        rnd = random.Random(seed)
        parts = []
        starts = []
        n = 0
        words = [bytes(rnd.choice(_PRINTABLE)
                       for _ in range(rnd.randint(1, 12)))
                 for _ in range(512)]
        while n < size:
            starts.append(n)
            want = rnd.randint(0, 200)
            line = b""
            while len(line) < want:
                line += rnd.choice(words) + b" "
            line = line[:want].rstrip(b" ")
            if rnd.randint(0, 15) == 0:
                line = b"." + line
            line += b"\r\n"
            parts.append(line)
            n += len(line)
        self.data = b"".join(parts)
        self.starts = starts

    def body(self, size, key):
        """A body of exactly size bytes, chosen by key (an int)."""
        if size == 0:
            return b""
        if size == 1:
            return b"x"
        rnd = random.Random(key)
        limit = len(self.data) - size
        i = rnd.randrange(len(self.starts))
        while self.starts[i] > limit:
            i = rnd.randrange(len(self.starts))
        off = self.starts[i]
        b = bytearray(self.data[off:off + size])
        b[-2:] = b"\r\n"
        # The cut may leave a CR right before our CRLF: no bare CR.
        if len(b) >= 3 and b[-3] == 0x0D:
            b[-3] = 0x78
        return bytes(b)


def headers(test_id, mail_from="sender@client.test", rcpt="user@example.org",
            extra=()):
    h = [
        b"From: <%s>" % mail_from.encode(),
        b"To: <%s>" % rcpt.encode(),
        b"Subject: mxedge integration %s" % test_id.encode(),
        b"Date: Mon, 01 Jan 2024 00:00:00 +0000",
        b"Message-ID: <%s@client.test>" % test_id.encode(),
        b"X-Test-Id: %s" % test_id.encode(),
    ]
    h.extend(extra)
    return b"".join(x + b"\r\n" for x in h) + b"\r\n"


def message(pool, test_id, body_size, key, **kw):
    """(message bytes as handed to smtplib, body bytes)."""
    body = pool.body(body_size, key)
    return headers(test_id, **kw) + body, body


def wire_form(message):
    """What a DATA transfer delivers for message: SMTP can only carry a
    message that ends with CRLF, so smtplib (and every client) adds one."""
    if message and not message.endswith(b"\r\n"):
        return message + b"\r\n"
    return message


def sha(data):
    return hashlib.sha256(data).hexdigest()


def bulk_sizes(n, max_size, header_len, seed=1000, chunk=64 << 10):
    """n body sizes: 0, 1, 2, max_size, bodies that put the whole message
    (header_len + body) one byte below, at and above the 64 KiB chunk
    boundaries (one, two and three chunks), and log-uniform between 2 and
    max_size for the rest; shuffled with the seed."""
    fixed = [0, 1, 2, max_size]
    for k in (1, 2, 3):
        fixed += [k * chunk - header_len + d for d in (-1, 0, 1)]
    fixed = [s for s in fixed if s <= max_size][:n]
    rnd = random.Random(seed)
    rest = [int(math.exp(rnd.uniform(math.log(2), math.log(max_size))))
            for _ in range(n - len(fixed))]
    sizes = fixed + rest
    rnd.shuffle(sizes)
    return sizes
