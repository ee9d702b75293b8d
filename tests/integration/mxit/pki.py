# SPDX-License-Identifier: BSD-3-Clause
"""Throwaway certificate authorities and certificates for the TLS tests
(test_tls.py, test_tls_peers.py), made with the openssl command (req,
x509): a CA, server and client certificates signed by it, self-signed
server certificates, and SHA-256 fingerprints of their DER (what the
verdict log records for a client certificate).

A CA lives in the directory it is given (a test's tmp_path), or, given
none, in its own mkdtemp directory under /tmp with mode 0755 and files
0644 that cleanup() removes: Postfix's daemons run as the postfix user
and must read the CA bundle and their certificate, which they cannot
under pytest's tmp_path (the keys are test keys, made for one run)."""

import hashlib
import os
import shutil
import ssl
import subprocess
import tempfile


def _run(args):
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, timeout=60)


def _newkey(newkey):
    """openssl req -newkey arguments: "ec" is P-256, else e.g. rsa:2048."""
    if newkey == "ec":
        return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    return ["-newkey", newkey]


class CA:
    """A self-signed CA in directory d (None: a world-readable temporary
    directory of its own); issue() and leaf() sign leaf certificates."""

    def __init__(self, d=None, name="mxit test CA", newkey="ec", days=400):
        self.own_dir = d is None
        if d is None:
            d = tempfile.mkdtemp(prefix="mxit-ca-", dir="/tmp")
            os.chmod(d, 0o755)
        self.dir = str(d)
        self.name = name
        base = "ca" if self.own_dir else name
        self.crt = self._path(base + ".crt")
        self.key = self._path(base + ".key")
        self._serial = 1
        _run(["req", "-x509", *_newkey(newkey), "-nodes", "-keyout", self.key,
              "-out", self.crt, "-days", str(days), "-subj", "/CN=" + name,
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        self._readable(self.crt, self.key)

    def _path(self, name):
        return os.path.join(self.dir, name)

    def _readable(self, *paths):
        if self.own_dir:
            for p in paths:
                os.chmod(p, 0o644)

    def _sign(self, name, cn, newkey, days, ext_lines):
        """A key and a certificate for cn with the extension lines given,
        signed by this CA; returns (crt, key) paths. The cert file holds
        the leaf only: the CA is the trust anchor."""
        crt, key = self._path(name + ".crt"), self._path(name + ".key")
        csr, ext = self._path(name + ".csr"), self._path(name + ".ext")
        with open(ext, "w") as f:
            f.write("".join(line + "\n" for line in ext_lines))
        _run(["req", "-new", *_newkey(newkey), "-nodes", "-keyout", key,
              "-out", csr, "-subj", "/CN=" + cn])
        self._serial += 1
        _run(["x509", "-req", "-in", csr, "-CA", self.crt, "-CAkey", self.key,
              "-set_serial", str(self._serial), "-out", crt,
              "-days", str(days), "-extfile", ext])
        os.unlink(csr)
        self._readable(crt, key)
        return crt, key

    def issue(self, name, cn, sans=(), newkey="ec", usage="clientAuth"):
        """A leaf for cn (and the given DNS SANs) for the extended key
        usage given, valid 30 days. Returns (crt, key) paths."""
        ext = ["basicConstraints=CA:FALSE", "extendedKeyUsage=" + usage]
        if sans:
            ext.append("subjectAltName=" + ",".join("DNS:" + s for s in sans))
        return self._sign(name, cn, newkey, 30, ext)

    def leaf(self, name, dns, ips=(), days=30, crl_uri=None,
             newkey="rsa:2048"):
        """A server/client certificate for the DNS names dns (a list; the
        first is the CN) and IP addresses ips, valid for days; returns
        (crt, key) paths. crl_uri adds a CRL distribution point (a scanner
        such as testssl.sh rates a certificate without one HIGH)."""
        ext = ["subjectAltName=" + ",".join(
            ["DNS:" + d for d in dns] + ["IP:" + a for a in ips])]
        if crl_uri is not None:
            ext.append("crlDistributionPoints=URI:" + crl_uri)
        ext += ["basicConstraints=CA:FALSE",
                "extendedKeyUsage=serverAuth,clientAuth"]
        return self._sign(name, dns[0], newkey, days, ext)

    def cleanup(self):
        """Removes the CA's own directory (not one it was given)."""
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def self_signed(d, name, newkey, san, days=90):
    """A self-signed server certificate for san; (crt, key)."""
    crt, key = str(d / (name + ".crt")), str(d / (name + ".key"))
    _run(["req", "-x509", "-newkey", *newkey.split(), "-nodes", "-keyout", key,
          "-out", crt, "-days", str(days), "-subj", "/CN=" + san,
          "-addext", "subjectAltName=DNS:" + san])
    return crt, key


def fingerprint(crt_path):
    """Hex SHA-256 of the certificate's DER."""
    with open(crt_path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return hashlib.sha256(der).hexdigest()


def der_fingerprint(der):
    return hashlib.sha256(der).hexdigest()
