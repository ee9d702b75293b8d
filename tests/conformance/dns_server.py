# SPDX-License-Identifier: BSD-3-Clause
"""A small authoritative-style DNS server for one SPF scenario's zonedata.

Serves the openspf YAML zonedata (../shared/conformance/spf/README.md) on
127.0.0.1, UDP and TCP on the same OS-chosen port, applying the README's
conventions: SPF records copied to TXT unless the name has TXT (or TXT:
NONE); non-ASCII strings as UTF-8; absent names NXDOMAIN, parents of
listed names empty NOERROR; case-insensitive names with the question
echoed; CNAME chains followed (a loop answers the chain and no data);
TIMEOUT names never answered; UDP answers over 512 octets sent with TC=1
and no records, so the client must retry over TCP.
"""
import socket
import socketserver
import struct
import threading

from dnslib import (CNAME, DNSLabel, DNSRecord, MX, PTR, QTYPE, RCODE, RR, TXT,
                    A, AAAA)

UDP_MAX = 512
TYPES = {'A': QTYPE.A, 'AAAA': QTYPE.AAAA, 'MX': QTYPE.MX, 'PTR': QTYPE.PTR,
         'CNAME': QTYPE.CNAME, 'TXT': QTYPE.TXT, 'SPF': 99}


def _strings(v):
    if isinstance(v, list):
        return [s.encode('utf-8') for s in v]
    return [v.encode('utf-8')]


def _norm(name):
    # A question's labels are compared as octets: str(DNSLabel) would
    # escape spaces and other specials ("\\032") that zonedata names hold
    # as they are (macro expansion can put a space into a name).
    if isinstance(name, DNSLabel):
        return b'.'.join(name.label).decode('utf-8', 'replace').lower()
    return str(name).rstrip('.').lower()


class Zone:
    """Zonedata of one scenario: name -> list of (qtype, rdata) and flags."""

    def __init__(self, zonedata):
        self.rrs = {}
        self.timeout = {}   # name -> set of types answered before TIMEOUT
        for name, entries in (zonedata or {}).items():
            key = _norm(name)
            rrs = self.rrs.setdefault(key, [])
            has_txt = any(isinstance(e, dict) and 'TXT' in e for e in entries)
            for e in entries:
                if e == 'TIMEOUT':
                    self.timeout[key] = {t for t, _ in rrs}
                    continue
                (typ, val), = e.items()
                if typ == 'TXT' and val == 'NONE':
                    continue
                rrs.append((TYPES[typ], self._rdata(typ, val)))
                # Convention 1: SPF copied to TXT when there is no TXT.
                if typ == 'SPF' and not has_txt:
                    rrs.append((QTYPE.TXT, self._rdata('TXT', val)))

    @staticmethod
    def _rdata(typ, val):
        if typ == 'A':
            return A(val)
        if typ == 'AAAA':
            return AAAA(val)
        if typ == 'MX':
            return MX(val[1] if val[1] else '.', val[0])
        if typ == 'PTR':
            return PTR(val)
        if typ == 'CNAME':
            return CNAME(val)
        return TXT(_strings(val))

    def exists(self, key):
        if key in self.rrs:
            return True
        return any(n.endswith('.' + key) for n in self.rrs)

    def answer(self, q):
        """Returns (rcode, [RR]) or None for no answer at all."""
        qname, qtype = q.qname, q.qtype
        owner, out, seen = qname, [], set()
        key = _norm(owner)
        while True:
            if key in self.timeout and qtype not in self.timeout[key]:
                return None
            rrs = self.rrs.get(key)
            if rrs is None:
                return (RCODE.NOERROR if out or self.exists(key)
                        else RCODE.NXDOMAIN, out)
            data = [r for t, r in rrs if t == qtype]
            if data:
                out += [RR(owner, qtype, rdata=r, ttl=300) for r in data]
                return RCODE.NOERROR, out
            cn = [r for t, r in rrs if t == QTYPE.CNAME]
            if not cn or qtype == QTYPE.CNAME:
                return RCODE.NOERROR, out
            out.append(RR(owner, QTYPE.CNAME, rdata=cn[0], ttl=300))
            seen.add(key)
            owner = cn[0].label
            key = _norm(owner)
            if key in seen:     # convention 5: a loop is the chain, no data
                return RCODE.NOERROR, out


def _reply(zone, data, tcp):
    try:
        req = DNSRecord.parse(data)
    except Exception:
        return None
    if not req.questions:
        return None
    res = zone.answer(req.q)
    if res is None:
        return None     # TIMEOUT: never answered
    rcode, rrs = res
    rep = req.reply(ra=1, aa=1)
    rep.header.rcode = rcode
    for rr in rrs:
        rep.add_answer(rr)
    wire = rep.pack()
    if not tcp and len(wire) > UDP_MAX:
        rep = req.reply(ra=1, aa=1)
        rep.header.tc = 1
        wire = rep.pack()
    return wire


class _UDP(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        wire = _reply(self.server.zone, data, False)
        if wire is not None:
            sock.sendto(wire, self.client_address)


class _TCP(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.settimeout(5)
        try:
            while True:
                hdr = self._read(2)
                if hdr is None:
                    return
                msg = self._read(struct.unpack('!H', hdr)[0])
                if msg is None:
                    return
                wire = _reply(self.server.zone, msg, True)
                if wire is None:
                    # TIMEOUT: hold the connection, answer nothing.
                    self._read(1)
                    return
                self.request.sendall(struct.pack('!H', len(wire)) + wire)
        except OSError:
            return

    def _read(self, n):
        buf = b''
        while len(buf) < n:
            chunk = self.request.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf


class _UDPServer(socketserver.ThreadingUDPServer):
    daemon_threads = True


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class DnsServer:
    """Serves one Zone on 127.0.0.1:port (UDP and TCP) until stop()."""

    def __init__(self, zonedata):
        zone = Zone(zonedata)
        for _ in range(20):
            self.udp = _UDPServer(('127.0.0.1', 0), _UDP)
            self.port = self.udp.server_address[1]
            try:
                self.tcp = _TCPServer(('127.0.0.1', self.port), _TCP)
                break
            except OSError:
                self.udp.server_close()
        else:
            raise RuntimeError('no port free for both UDP and TCP')
        self.udp.zone = self.tcp.zone = zone
        self.threads = [threading.Thread(target=s.serve_forever, daemon=True,
                                         kwargs={'poll_interval': 0.1})
                        for s in (self.udp, self.tcp)]
        for t in self.threads:
            t.start()

    def stop(self):
        for s in (self.udp, self.tcp):
            s.shutdown()
            s.server_close()
