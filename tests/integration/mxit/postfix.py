# SPDX-License-Identifier: BSD-3-Clause
"""A private Postfix instance for the integration tests.

Each instance lives in its own temporary directory: its own
config_directory (main.cf, master.cf), queue_directory, data_directory and
log file. It listens only on one address, 127.0.0.1 unless told another
(the kernel side of a test's tap, when mxedge runs on the DPDK transport
and relays through our own TCP), on a port the test picked; it never does
a DNS lookup (native host lookups, bracketed relayhost) and is stopped with
`postfix -c DIR stop` (abort if that fails). Two roles:

- downstream: smtpd accepts mail for example.org and virtual(8) delivers
  every recipient into one Maildir (static map) under the instance dir;
- client: smtpd accepts mail from 127.0.0.0/8 for any domain and relays it
  all to relayhost=[RELAY_HOST]:PORT (mxedge: 127.0.0.1 by default).

The system Postfix (/etc/postfix) is never touched or started.
"""

import os
import pwd
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time

from . import bulk, check, spool

POSTFIX = "/usr/sbin/postfix"

# Every service the roles need; chroot is off so the instance needs no
# copies of /etc files in its queue directory.
MASTER_SERVICES = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
"""


class PostfixError(RuntimeError):
    pass


def _loopback(addr):
    return addr.startswith("127.")


class Postfix:
    """One private instance. Use start()/stop() or the context manager."""

    def __init__(self, role, port, relay_port=None, domain="example.org",
                 hostname=None, extra=None, host="127.0.0.1",
                 relay_host="127.0.0.1"):
        if role not in ("downstream", "client"):
            raise ValueError(role)
        if role == "client" and relay_port is None:
            raise ValueError("client role needs relay_port")
        self.role = role
        self.port = port
        self.host = host
        self.relay_port = relay_port
        self.relay_host = relay_host
        self.domain = domain
        self.hostname = hostname or ("pf-%s.test" % role)
        self.extra = dict(extra or {})
        # Not under pytest's tmp_path: that is mode 0700 root, and the
        # Postfix daemons run as the postfix user.
        self.base = tempfile.mkdtemp(prefix="mxit-postfix-%s-" % role,
                                     dir="/tmp")
        os.chmod(self.base, 0o755)
        self.conf_dir = os.path.join(self.base, "etc")
        self.queue_dir = os.path.join(self.base, "queue")
        self.data_dir = os.path.join(self.base, "data")
        self.mail_dir = os.path.join(self.base, "mail")
        self.maillog = os.path.join(self.base, "maillog")
        self.maildir = os.path.join(self.mail_dir, domain, "inbox")
        self.started = False

    # --- configuration -------------------------------------------------
    def _main_cf(self):
        pw = pwd.getpwnam("postfix")
        p = {
            "compatibility_level": "3.6",
            "config_directory": self.conf_dir,
            "queue_directory": self.queue_dir,
            "data_directory": self.data_dir,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": self.hostname,
            "mydomain": "test",
            "myorigin": "$myhostname",
            "mydestination": "",
            # Postfix refuses an inet_interfaces address that is not
            # local yet (a tap mxedge has not created); master.cf names
            # the one listen address either way.
            "inet_interfaces": self.host if _loopback(self.host) else "all",
            "inet_protocols": "ipv4",
            # Towards mxedge on a tap: the kernel picks the tap's address.
            "smtp_bind_address": ("127.0.0.1" if _loopback(self.relay_host)
                                  else ""),
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "biff": "no",
            "append_dot_mydomain": "no",
            "smtputf8_enable": "yes",
            # No DNS, ever (the machine has no network but loopback).
            "smtp_host_lookup": "native",
            "lmtp_host_lookup": "native",
            "smtp_dns_support_level": "disabled",
            "smtpd_peername_lookup": "no",
            # Keep messages as they came: no missing-header insertion, no
            # address rewriting, no MIME rewriting, no in-flow throttling.
            "local_header_rewrite_clients": "",
            "remote_header_rewrite_domain": "",
            "disable_mime_input_processing": "yes",
            "disable_mime_output_conversion": "yes",
            "in_flow_delay": "0",
            "message_size_limit": str(64 << 20),
            "mailbox_size_limit": "0",
            "virtual_mailbox_limit": "0",
            "header_size_limit": str(1 << 20),
            "smtpd_tls_security_level": "none",
            "smtp_tls_security_level": "none",
            "smtpd_banner": "$myhostname ESMTP",
            "maillog_file": self.maillog,
            "maillog_file_prefixes": "/tmp",
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "delay_warning_time": "0",
            "default_process_limit": "100",
            "smtpd_client_connection_count_limit": "0",
            "smtpd_client_message_rate_limit": "0",
            "smtpd_error_sleep_time": "0",
            "mynetworks": "127.0.0.0/8",
        }
        if self.role == "downstream":
            p.update({
                "virtual_mailbox_domains": self.domain,
                "virtual_mailbox_base": self.mail_dir,
                # One Maildir (trailing slash) for every recipient.
                "virtual_mailbox_maps": "static:%s/inbox/" % self.domain,
                "virtual_uid_maps": "static:%d" % pw.pw_uid,
                "virtual_gid_maps": "static:%d" % pw.pw_gid,
                "virtual_minimum_uid": "1",
                "virtual_destination_concurrency_limit": "8",
                "smtpd_relay_restrictions": "reject_unauth_destination",
                "relay_domains": "",
                "relayhost": "",
            })
        else:
            p.update({
                "relayhost": "[%s]:%d" % (self.relay_host, self.relay_port),
                "smtpd_relay_restrictions": "permit_mynetworks, reject",
                "relay_domains": "",
                "default_transport": "smtp",
                "smtp_connect_timeout": "5s",
            })
        p.update(self.extra)
        return "".join("%s = %s\n" % kv for kv in p.items())

    def _master_cf(self):
        return ("%s:%d inet  n       -       n       -       -"
                "       smtpd\n" % (self.host, self.port)) + MASTER_SERVICES

    # --- life cycle ----------------------------------------------------
    def _postfix(self, *args, check=True):
        r = subprocess.run([POSTFIX, "-c", self.conf_dir] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60)
        if check and r.returncode != 0:
            raise PostfixError("postfix %s: exit %d: %s\n%s" % (
                " ".join(args), r.returncode,
                r.stdout.decode(errors="replace"), self.log_text()))
        return r

    def start(self, timeout=30.0):
        pw = pwd.getpwnam("postfix")
        os.makedirs(self.conf_dir)
        os.makedirs(self.queue_dir)
        os.makedirs(self.data_dir)
        os.chown(self.data_dir, pw.pw_uid, pw.pw_gid)
        os.makedirs(self.mail_dir)
        os.chown(self.mail_dir, pw.pw_uid, pw.pw_gid)
        with open(os.path.join(self.conf_dir, "main.cf"), "w") as f:
            f.write(self._main_cf())
        with open(os.path.join(self.conf_dir, "master.cf"), "w") as f:
            f.write(self._master_cf())
        self._postfix("start")
        self.started = True
        self.wait_ready(timeout)
        self.check_loopback_only()
        return self

    def wait_ready(self, timeout):
        """Waits for the 220 (loopback); on an address that is not local
        yet (the tap comes with mxedge) for the master's listener."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not _loopback(self.host):
                last = self.listen_addresses()
                if "%s:%d" % (self.host, self.port) in last:
                    return
                time.sleep(0.1)
                continue
            try:
                with socket.create_connection((self.host, self.port),
                                              timeout=5) as s:
                    s.settimeout(5)
                    if s.recv(512).startswith(b"220"):
                        s.sendall(b"QUIT\r\n")
                        return
            except OSError as e:
                last = e
            time.sleep(0.1)
        raise PostfixError("postfix %s on port %d not ready: %r\n%s" % (
            self.role, self.port, last, self.log_text()))

    def master_pid(self):
        try:
            with open(os.path.join(self.queue_dir, "pid", "master.pid")) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def listen_addresses(self):
        """Local addresses of the TCP listeners of this instance's master
        (it owns every inet listener of master.cf)."""
        pid = self.master_pid()
        r = subprocess.run(["ss", "-Hltnp"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, timeout=30)
        out = []
        for line in r.stdout.decode().splitlines():
            if "pid=%d," % pid in line:
                out.append(line.split()[3])
        return out

    def check_loopback_only(self):
        """Only the one listener asked for (loopback unless told)."""
        addrs = self.listen_addresses()
        if addrs != ["%s:%d" % (self.host, self.port)]:
            raise PostfixError("postfix %s listens on %r, want only "
                               "%s:%d" % (self.role, addrs, self.host,
                                          self.port))

    def stop(self):
        if self.started:
            r = self._postfix("stop", check=False)
            if r.returncode != 0:
                self._postfix("abort", check=False)
            self._wait_master_gone(10.0)
            self.started = False

    def _wait_master_gone(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.master_pid()
            if pid <= 0:
                return
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # --- inspection ----------------------------------------------------
    def log_text(self, limit=20000):
        try:
            with open(self.maillog, "rb") as f:
                data = f.read()
        except OSError:
            return "(no maillog)"
        return data[-limit:].decode(errors="replace")

    def maildir_files(self):
        """Paths of delivered messages (Maildir new/ and cur/)."""
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(self.maildir, sub)
            try:
                names = os.listdir(d)
            except FileNotFoundError:
                continue
            out.extend(os.path.join(d, n) for n in names)
        return out

    def queue_count(self):
        """Messages still queued (incoming, active, deferred, ...)."""
        n = 0
        for sub in ("incoming", "active", "deferred", "maildrop", "hold"):
            top = os.path.join(self.queue_dir, sub)
            for _root, _dirs, files in os.walk(top):
                n += len(files)
        return n

    def relay_bulk(self, b, spool_dir, timeout=180):
        """Client role: sends bulk b's messages into this instance with
        smtplib (sender@client.test to user@example.org), waits until
        mxedge's spool holds all of them and this queue is empty, and
        checks that every body arrived byte-exact and every message
        once. Returns [(index, spool message, bytes sent)]."""
        s = smtplib.SMTP(self.host, self.port, timeout=60)
        try:
            s.ehlo("injector.test")
            for i in range(b.n):
                s.sendmail("sender@client.test", ["user@example.org"],
                           b.message(i))
        finally:
            s.quit()
        check.wait_until(lambda: len(spool.new_files(spool_dir)) >= b.n,
                         timeout, "%d messages in the spool (postfix log:\n%s)"
                         % (b.n, self.log_text()))
        check.wait_until(lambda: self.queue_count() == 0, 60,
                         "postfix queue to drain")
        out = []
        for path in spool.new_files(spool_dir):
            sp = spool.read(path)
            i = b.index_of(sp.data)
            sent = b.expected(i)
            # Body byte-exact: everything after the header/body separator.
            body = sent[sent.index(b"\r\n\r\n") + 4:]
            assert sp.data[sp.data.index(b"\r\n\r\n") + 4:] == body, \
                "message %d body differs" % i
            out.append((i, sp, sent))
        missing, dup = bulk.count_ids([i for i, _, _ in out], b.n)
        assert missing == [] and dup == [], (missing, dup)
        return out
