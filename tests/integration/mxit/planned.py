# SPDX-License-Identifier: BSD-3-Clause
"""Addresses of the next mxedge a test starts, known before it starts.

Some inputs must be written before mxedge runs: a TLS profile matching
client CIDRs (configuration), a server certificate whose IP SAN is the
address clients connect to. On the kernel transport these are loopback
addresses; on dpdk they are on the tap mxedge will create (mxit/dpdk.py),
which the factory reserves early (mx.config_tap()). The same values come
back from the handle once mxedge is up (m.host, m.client_addr(i));
check() asserts they agree, so a change to either side fails loudly
instead of testing a profile that matches nobody."""


def host(mx):
    """The address the next mxedge's clients connect to (m.host)."""
    tap = mx.config_tap()
    return "127.0.0.1" if tap is None else tap.ours


def client_addr(mx, i):
    """Source address of client i of the next mxedge (m.client_addr(i)),
    without adding it to the tap yet (the tap does not exist before
    mxedge starts)."""
    tap = mx.config_tap()
    if tap is None:
        return "127.0.0.%d" % (i + 1)
    return tap.peer if i == 0 else "%s.%d" % (tap.net, i + 2)


def client_net(mx):
    """A CIDR wider than one host covering every client address of the
    next mxedge: the loopback /8, or the tap's /24."""
    tap = mx.config_tap()
    return "127.0.0.0/8" if tap is None else tap.net + ".0/24"


def check(m, host_addr=None, clients=()):
    """Asserts the planned addresses are those of the started mxedge m
    (and adds the client addresses to its tap)."""
    if host_addr is not None:
        assert m.host == host_addr, (m.host, host_addr)
    for i, addr in clients:
        assert m.client_addr(i) == addr, (i, m.client_addr(i), addr)
