#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# Regenerates the DKIM unit-test fixtures with Debian's python3-dkim
# (dkimpy): throwaway keys (keys.txt: "qname<TAB>TXT record" per line, the
# zone the test serves) and signed messages (*.eml, CRLF). Run from this
# directory; the unit test only reads the output.
import base64, subprocess, dkim
from cryptography.hazmat.primitives.asymmetric import rsa, ed25519
from cryptography.hazmat.primitives import serialization as ser

T0 = 1700000000

def rsa_key(bits):
    k = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    priv = k.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.TraditionalOpenSSL, ser.NoEncryption())
    pub = k.public_key().public_bytes(ser.Encoding.DER, ser.PublicFormat.SubjectPublicKeyInfo)
    return priv, "v=DKIM1; k=rsa; p=" + base64.b64encode(pub).decode()

def ed_key():
    k = ed25519.Ed25519PrivateKey.generate()
    seed = k.private_bytes(ser.Encoding.Raw, ser.PrivateFormat.Raw, ser.NoEncryption())
    pub = k.public_key().public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw)
    return base64.b64encode(seed), "v=DKIM1; k=ed25519; p=" + base64.b64encode(pub).decode()

keys = {}
zone = []
def add(sel, dom, kp, txt=None):
    keys[(sel, dom)] = kp[0]
    zone.append("%s._domainkey.%s\t%s" % (sel, dom, txt if txt is not None else kp[1]))

add("r2048", "example.org", rsa_key(2048))
add("r1024", "example.org", rsa_key(1024))
add("r512", "example.org", rsa_key(512))
add("ed", "example.org", ed_key())
add("revoked", "example.org", rsa_key(1024), "v=DKIM1; k=rsa; p=")
add("gone", "example.org", rsa_key(1024), None)
zone.pop()  # "gone" has no record: NXDOMAIN
add("sub", "mail.example.net", rsa_key(1024))

BASE = (b"From: Alice <alice@example.org>\r\nTo: bob@example.com\r\n"
        b"Subject: unit test\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
        b"Message-ID: <unit@example.org>\r\n\r\nHello Bob,\r\n\r\nline two\r\n")

class Signer(dkim.DKIM):
    """dkimpy has no x= option: add it to the tag list before signing."""
    expire = None
    def gen_header(self, fields, *a):
        if self.expire is not None:
            fields.insert(len(fields) - 3, (b"x", str(self.expire).encode()))
        return super().gen_header(fields, *a)

def sign(msg, sel, dom, canon=(b"relaxed", b"relaxed"), alg=b"rsa-sha256",
         length=False, t=T0, expire=None):
    dkim.time.time = lambda: t   # t= is time.time() in dkimpy
    d = Signer(msg, minkey=512)
    d.expire = expire
    return d.sign(sel.encode(), dom.encode(), keys[(sel, dom)], signature_algorithm=alg,
                  canonicalize=canon, length=length,
                  include_headers=[b"from", b"to", b"subject", b"date"])

out = {}
out["rr"] = sign(BASE, "r2048", "example.org") + BASE
out["ss"] = sign(BASE, "r2048", "example.org", (b"simple", b"simple")) + BASE
out["ed"] = sign(BASE, "ed", "example.org", alg=b"ed25519-sha256") + BASE
out["l"] = sign(BASE, "r1024", "example.org", length=True) + BASE + b"footer added\r\n"
out["sha1"] = sign(BASE, "r1024", "example.org", alg=b"rsa-sha1") + BASE
out["small"] = sign(BASE, "r512", "example.org") + BASE
out["revoked"] = sign(BASE, "revoked", "example.org") + BASE
out["nokey"] = sign(BASE, "gone", "example.org") + BASE
out["body"] = sign(BASE, "r1024", "example.org") + BASE.replace(b"line two", b"line 2")
m2 = sign(BASE, "ed", "example.org", alg=b"ed25519-sha256") + BASE
out["multi"] = sign(m2, "sub", "mail.example.net") + m2
out["expired"] = sign(BASE, "r1024", "example.org", t=T0 - 7200, expire=T0 - 3600) + BASE
out["future"] = sign(BASE, "r1024", "example.org", t=T0 + 86400) + BASE
out["unsigned"] = BASE
for k, v in out.items():
    open(k + ".eml", "wb").write(v)
open("keys.txt", "w").write("\n".join(zone) + "\n")
