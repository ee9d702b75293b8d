# SPDX-License-Identifier: BSD-3-Clause
"""A raw-socket SMTP client for tests that need exact bytes on the wire.

smtplib normalises what it sends (line ends, dot-stuffing, one command per
write); the protocol tests need to send precise byte sequences (pipelined
commands in one write, bare LF or CR, commands before the greeting, BDAT
chunks) and to read every reply, including the ones a well-behaved server
sends right before it closes. Every read has a timeout, so a test can never
hang on a silent server.
"""

import socket
import time

DEFAULT_TIMEOUT = 15.0


class Reply:
    """One SMTP reply: code (int), lines (text of each line, without code)."""

    def __init__(self, code, lines, raw):
        self.code = code
        self.lines = lines
        self.raw = raw

    @property
    def text(self):
        return "\n".join(self.lines)

    @property
    def cls(self):
        return self.code // 100

    def __repr__(self):
        return "Reply(%d, %r)" % (self.code, self.lines)


class ProtocolError(AssertionError):
    pass


class Conn:
    """One client connection to host:port (optionally from a given source
    address, e.g. 127.0.0.2 to look like another client)."""

    def __init__(self, port, host="127.0.0.1", source=None,
                 timeout=DEFAULT_TIMEOUT):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if source is not None:
            self.sock.bind((source, 0))
        self.sock.connect((host, port))
        self.buf = b""
        self.eof = False
        self.timeout = timeout
        self.transcript = []

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.transcript.append((">", data))
        self.sock.sendall(data)

    def _fill(self, deadline):
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("no reply within %.1fs" % self.timeout)
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.transcript.append(("<", data))
        self.buf += data
        return True

    def _line(self, deadline):
        while b"\n" not in self.buf:
            if not self._fill(deadline):
                return None
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def read_reply(self, timeout=None):
        """The next reply, or None when the server closed first."""
        deadline = time.monotonic() + (timeout or self.timeout)
        lines = []
        raw = []
        while True:
            line = self._line(deadline)
            if line is None:
                if lines:
                    raise ProtocolError("connection closed inside a "
                                        "multi-line reply: %r" % raw)
                return None
            raw.append(line)
            if len(line) < 3 or not line[:3].isdigit() or \
                    (len(line) > 3 and line[3:4] not in (b" ", b"-")):
                raise ProtocolError("malformed reply line %r" % line)
            code = int(line[:3])
            lines.append(line[4:].decode("utf-8", errors="replace"))
            if len(line) == 3 or line[3:4] == b" ":
                return Reply(code, lines, raw)

    def expect(self, code, timeout=None):
        r = self.read_reply(timeout)
        if r is None or r.code != code:
            raise ProtocolError("expected %d, got %r (transcript %s)" % (
                code, r, self.dump()))
        return r

    def cmd(self, line, timeout=None):
        """Sends one command line (CRLF added) and returns its reply."""
        if isinstance(line, str):
            line = line.encode()
        self.send(line + b"\r\n")
        return self.read_reply(timeout)

    def replies_until_close(self, limit=50, timeout=None):
        """Every reply until the server closes (at most limit replies)."""
        out = []
        for _ in range(limit):
            r = self.read_reply(timeout)
            if r is None:
                return out
            out.append(r)
        raise ProtocolError("more than %d replies: %r" % (limit, out))

    def wait_closed(self, timeout=None):
        """True when the server closes with nothing more to say."""
        r = self.read_reply(timeout)
        if r is not None:
            raise ProtocolError("expected close, got %r" % r)
        return True

    def dump(self, limit=4000):
        out = []
        for d, data in self.transcript:
            out.append("%s %r" % (d, data[:200]))
        s = "\n".join(out)
        return s[-limit:]


def greet(port, ehlo="client.test", **kw):
    """Connects, reads the 220, sends EHLO; returns (conn, ehlo_reply)."""
    c = Conn(port, **kw)
    c.expect(220)
    r = c.cmd("EHLO " + ehlo)
    if r is None or r.code != 250:
        raise ProtocolError("EHLO: %r" % r)
    return c, r


def ehlo_keywords(reply):
    """{KEYWORD: params} from an EHLO reply (first line is the greeting)."""
    kw = {}
    for line in reply.lines[1:]:
        parts = line.split(None, 1)
        if parts:
            kw[parts[0].upper()] = parts[1] if len(parts) > 1 else ""
    return kw


def dot_stuff(message):
    """The DATA wire form of a message that ends with CRLF (RFC 5321
    4.5.2: a line starting with "." gets one more)."""
    if message and not message.endswith(b"\r\n"):
        raise ValueError("message must end with CRLF")
    out = message.replace(b"\r\n.", b"\r\n..")
    if out.startswith(b"."):
        out = b"." + out
    return out + b".\r\n"


def send_message(c, mail_from, rcpts, message, mail_params=""):
    """A whole transaction with one command per round trip; returns the
    list of replies (MAIL, each RCPT, DATA, and the final one if DATA got
    354). Stops at the first reply that ends the transaction."""
    replies = []
    r = c.cmd("MAIL FROM:<%s>%s" % (mail_from, mail_params))
    replies.append(r)
    if r is None or r.code != 250:
        return replies
    ok = 0
    for rc in rcpts:
        r = c.cmd("RCPT TO:<%s>" % rc)
        replies.append(r)
        if r is None:
            return replies
        if r.code == 250:
            ok += 1
    if ok == 0:
        return replies
    r = c.cmd("DATA")
    replies.append(r)
    if r is None or r.code != 354:
        return replies
    c.send(dot_stuff(message))
    replies.append(c.read_reply())
    return replies
