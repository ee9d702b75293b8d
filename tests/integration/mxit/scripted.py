# SPDX-License-Identifier: BSD-3-Clause
"""A scripted downstream SMTP server: the test plays the downstream MTA.

It answers like a plain RFC 5321 server (EHLO with PIPELINING, 8BITMIME,
SMTPUTF8, ENHANCEDSTATUSCODES; DATA with dot-unstuffing) except at the one
step the test scripts: the greeting, MAIL, RCPT, DATA or the final dot can
get a given reply instead, or the connection can be closed right after the
final dot without any reply. Everything it sees is recorded. It listens on
127.0.0.1 only (or the address given: the kernel side of a test's tap on
the DPDK transport), every socket has a timeout and the threads are daemons, so a
test can never hang on it.
"""

import socket
import socketserver
import threading

STEPS = ("GREETING", "MAIL", "RCPT", "DATA", "DOT", "CLOSE_AFTER_DOT")


class _Handler(socketserver.StreamRequestHandler):
    timeout = 60

    def _send(self, line):
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        srv = self.server.owner
        with srv.lock:
            srv.connections += 1
        try:
            self._session(srv)
        except (OSError, socket.timeout):
            pass

    def _session(self, srv):
        if srv.fail_at == "GREETING":
            self._send(srv.fail_reply)
            return
        self._send("220 scripted.test ESMTP")
        txn = None
        while True:
            line = self.rfile.readline(4096)
            if not line:
                return
            cmd = line.rstrip(b"\r\n").decode("utf-8", errors="replace")
            with srv.lock:
                srv.commands.append(cmd)
            verb = cmd.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                if verb == "EHLO":
                    self._send("250-scripted.test")
                    self._send("250-PIPELINING")
                    self._send("250-8BITMIME")
                    self._send("250-SMTPUTF8")
                    self._send("250-SIZE 104857600")
                    self._send("250 ENHANCEDSTATUSCODES")
                else:
                    self._send("250 scripted.test")
            elif verb == "MAIL":
                if srv.fail_at == "MAIL":
                    self._send(srv.fail_reply)
                    continue
                txn = {"mail": cmd, "rcpts": [], "data": None}
                self._send("250 2.1.0 ok")
            elif verb == "RCPT":
                if txn is None:
                    self._send("503 5.5.1 MAIL first")
                elif srv.fail_at == "RCPT":
                    self._send(srv.fail_reply)
                else:
                    txn["rcpts"].append(cmd)
                    self._send("250 2.1.5 ok")
            elif verb == "DATA":
                if txn is None or not txn["rcpts"]:
                    self._send("503 5.5.1 RCPT first")
                    continue
                if srv.fail_at == "DATA":
                    self._send(srv.fail_reply)
                    continue
                self._send("354 go ahead")
                data = self._read_data()
                if data is None:
                    return
                txn["data"] = data
                with srv.lock:
                    srv.received.append(txn)
                if srv.fail_at == "CLOSE_AFTER_DOT":
                    return
                if srv.fail_at == "DOT":
                    self._send(srv.fail_reply)
                else:
                    with srv.lock:
                        srv.accepted.append(txn)
                    self._send("250 2.0.0 ok queued")
                txn = None
            elif verb == "RSET":
                txn = None
                self._send("250 2.0.0 ok")
            elif verb == "NOOP":
                self._send("250 2.0.0 ok")
            elif verb == "QUIT":
                self._send("221 2.0.0 bye")
                return
            else:
                self._send("502 5.5.2 not implemented")

    def _read_data(self):
        out = []
        while True:
            line = self.rfile.readline(1 << 20)
            if not line:
                return None
            if line == b".\r\n":
                return b"".join(out)
            if line.startswith(b"."):
                line = line[1:]
            out.append(line)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class ScriptedMTA:
    def __init__(self, port, fail_at=None, fail_reply="451 4.3.0 scripted",
                 host="127.0.0.1"):
        if fail_at is not None and fail_at not in STEPS:
            raise ValueError(fail_at)
        self.port = port
        self.fail_at = fail_at
        self.fail_reply = fail_reply
        self.lock = threading.Lock()
        self.commands = []
        self.received = []   # every complete DATA, whatever the reply
        self.accepted = []   # those answered 250
        self.connections = 0
        self.host = host
        self.server = _Server((host, port), _Handler)
        self.server.owner = self
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
