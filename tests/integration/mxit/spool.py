# SPDX-License-Identifier: BSD-3-Clause
"""Reader for mxedge spool files (format in engine/spool/mx_spool.h).

  "mxedge-spool 1\\n"
  "key: value\\n" lines: id, received, client, helo, mail-from, one
      "rcpt: " line per recipient, size
  "\\n"
  exactly `size` bytes: prepended header fields (Received, ...) and the
      message as received (CRLF line ends, dot-unstuffed).

Values are escaped by mxedge the way mx_printable() escapes (engine/spool/
spool.c): printable ASCII stays, a backslash is "\\\\", every other byte
"\\xHH"; the reader undoes that, so an SMTPUTF8 address reads back as
UTF-8. The reader is strict on purpose: a file that does not follow the
format to the byte (trailing bytes, short data, missing key) raises
SpoolFormatError, which is how the crash test tells a partial file from a
complete one.
"""

import os
import re

MAGIC = b"mxedge-spool 1\n"
REQUIRED = ("id", "received", "client", "helo", "mail-from", "size")

# RFC 5322 2.2: field name is printable ASCII except colon; continuation
# lines start with WSP.
_FIELD = re.compile(rb"[!-9;-~]+:")


class SpoolFormatError(AssertionError):
    pass


class SpoolMessage:
    def __init__(self, path, meta, rcpts, data):
        self.path = path
        self.meta = meta
        self.rcpts = rcpts
        self.data = data

    @property
    def id(self):
        return self.meta["id"]

    def __repr__(self):
        return "SpoolMessage(%s, %d bytes)" % (self.path, len(self.data))


_ESC = re.compile(rb"\\(\\|x[0-9a-fA-F]{2})")


def unescape(v, path="<bytes>"):
    """Undoes the value escaping; a backslash not starting a valid escape,
    or a byte that should have been escaped, is a format error."""
    if re.search(rb"[^\x20-\x7e]", v):
        raise SpoolFormatError("%s: unescaped byte in %r" % (path, v))
    out = bytearray()
    pos = 0
    for m in _ESC.finditer(v):
        if b"\\" in v[pos:m.start()]:
            break
        out += v[pos:m.start()]
        e = m.group(1)
        out += b"\\" if e == b"\\" else bytes([int(e[1:], 16)])
        pos = m.end()
    if b"\\" in v[pos:]:
        raise SpoolFormatError("%s: bad escape in %r" % (path, v))
    out += v[pos:]
    return bytes(out)


def parse(raw, path="<bytes>"):
    if not raw.startswith(MAGIC):
        raise SpoolFormatError("%s: no magic line: %r" % (path, raw[:40]))
    pos = len(MAGIC)
    meta = {}
    rcpts = []
    while True:
        nl = raw.find(b"\n", pos)
        if nl < 0:
            raise SpoolFormatError("%s: header not terminated" % path)
        line = raw[pos:nl]
        pos = nl + 1
        if line == b"":
            break
        if b": " not in line:
            raise SpoolFormatError("%s: bad header line %r" % (path, line))
        k, v = line.split(b": ", 1)
        k = k.decode("ascii")
        v = unescape(v, path).decode("utf-8")
        if k == "rcpt":
            rcpts.append(v)
        elif k in meta:
            raise SpoolFormatError("%s: key %s twice" % (path, k))
        else:
            meta[k] = v
    for k in REQUIRED:
        if k not in meta:
            raise SpoolFormatError("%s: key %s missing (%r)" % (path, k, meta))
    if not rcpts:
        raise SpoolFormatError("%s: no rcpt line" % path)
    if not meta["size"].isdigit():
        raise SpoolFormatError("%s: bad size %r" % (path, meta["size"]))
    size = int(meta["size"])
    data = raw[pos:]
    if len(data) != size:
        raise SpoolFormatError("%s: size says %d, file has %d data bytes" % (
            path, size, len(data)))
    return SpoolMessage(path, meta, rcpts, data)


def read(path):
    with open(path, "rb") as f:
        return parse(f.read(), path)


def new_files(spool_dir):
    d = os.path.join(spool_dir, "new")
    try:
        return sorted(os.path.join(d, n) for n in os.listdir(d))
    except FileNotFoundError:
        return []


def tmp_files(spool_dir):
    d = os.path.join(spool_dir, "tmp")
    try:
        return sorted(os.listdir(d))
    except FileNotFoundError:
        return []


def read_all(spool_dir):
    return [read(p) for p in new_files(spool_dir)]


def split_fields(data):
    """Splits leading header fields off data. Returns (fields, rest) where
    fields is a list of (name, raw_field_bytes) for each complete field
    (with its continuation lines and CRLF) before the first line that is not
    a header field, and rest is everything from that line on."""
    fields = []
    pos = 0
    while pos < len(data):
        m = _FIELD.match(data, pos)
        if m is None:
            break
        end = data.find(b"\r\n", pos)
        if end < 0:
            break
        end += 2
        while data[end:end + 1] in (b" ", b"\t"):
            nxt = data.find(b"\r\n", end)
            if nxt < 0:
                break
            end = nxt + 2
        fields.append((m.group(0)[:-1].decode("ascii").lower(),
                       data[pos:end]))
        pos = end
    return fields, data[pos:]


def strip_prepended(data, sent):
    """Checks that data is header fields prepended to exactly `sent`.
    Returns the list of (name, raw) prepended fields; raises if the tail
    differs or the prefix is not made of header fields."""
    if not data.endswith(sent):
        raise SpoolFormatError("stored message does not end with the sent "
                               "bytes (stored %d, sent %d)" % (len(data),
                                                               len(sent)))
    prefix = data[:len(data) - len(sent)]
    fields, rest = split_fields(prefix)
    if rest != b"":
        raise SpoolFormatError("prepended bytes are not header fields: %r"
                               % rest[:200])
    return fields
