# Hostile clients cannot make the server hold memory beyond its budget
# (--memory-limit), and a well-behaved client keeps being served: four
# clients each pipeline 64 READs of 32 MiB and never read a reply, and 100
# clients each send the header of a 32 MiB WRITE and stall.  The server's
# RSS (from /proc) stays under the limit plus a fixed allowance, and a
# bystander keeps reading and writing.  (Unbounded, the readers alone
# drive a server past 6 GiB.)
# compat-timeout: 120
import socket
import struct
import time
import nbdtest as t

LIMIT_MIB = 512
# The server itself, its threads' stacks and buffers, each connection's
# small allowance outside the limit (1 MiB, used by small requests only).
ALLOWANCE_MIB = 160


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


def main():
    if t.is_reference():
        raise t.Skip("--memory-limit is ours (C nbdkit bounds memory by its thread count)")
    srv = t.Server("srv", t.NBDKIT, "--memory-limit=%dM" % LIMIT_MIB, "memory", "4G")
    base = rss_mib(srv.pid)
    hammer = t.Hammer(srv, 3 << 30)
    hammer.progress("before the flood")
    peak = base

    def watch(what, secs):
        nonlocal peak
        end = time.time() + secs
        while time.time() < end:
            r = rss_mib(srv.pid)
            peak = max(peak, r)
            if r > LIMIT_MIB + ALLOWANCE_MIB:
                t.fail("server RSS %d MiB %s, over the %d MiB limit + %d MiB"
                       % (r, what, LIMIT_MIB, ALLOWANCE_MIB))
            hammer.check(what)
            time.sleep(0.1)

    readers = []
    for i in range(4):
        c = srv.raw(timeout=30).handshake()
        c.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        for j in range(64):
            c.request(t.CMD_READ, ((i * 64 + j) % 96) * (32 << 20), 32 << 20, handle=j + 1)
        readers.append(c)
    watch("with 4 clients flooding READs", 3)
    hammer.progress("with 4 clients flooding READs")
    writers = []
    for i in range(100):
        c = srv.raw(timeout=30).handshake()
        c.send(struct.pack(">IHHQQI", t.REQUEST_MAGIC, 0, t.CMD_WRITE, 1,
                           (i % 64) * (32 << 20), 32 << 20))
        writers.append(c)
    watch("with 100 stalled 32 MiB writers as well", 4)
    hammer.progress("with 100 stalled writers and 4 read floods")
    print("RSS: %d MiB at start, peak %d MiB (limit %d MiB)" % (base, peak, LIMIT_MIB))
    rounds = hammer.stop()
    t.expect("the bystander kept going (%d round trips)" % rounds, rounds >= 10)
    for c in readers + writers:
        c.close()
    time.sleep(1)
    srv.expect_alive("after the hostile clients hung up")
    h = srv.connect()
    data = b"\x5a" * (32 << 20)
    h.pwrite(data, 0)
    t.expect("a new client writes and reads 32 MiB", h.pread(32 << 20, 0) == data)
    h.shutdown()
    srv.stop()

    # Under an address-space limit and no --memory-limit, the default
    # budget is derived from that limit: 100 stalled 32 MiB writers get
    # ENOMEM (once they send their payload) instead of aborting the server.
    import os
    wrapper = os.path.join(t.T, "limited")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nulimit -v %d || exit 1\nexec \"$NBDKIT\" \"$@\"\n" % (2 << 20))
    os.chmod(wrapper, 0o755)
    lim = t.Server("limited", wrapper, "memory", "4G")
    hammer = t.Hammer(lim, 3 << 30)
    writers = []
    for i in range(100):
        c = lim.raw(timeout=30).handshake()
        c.send(struct.pack(">IHHQQI", t.REQUEST_MAGIC, 0, t.CMD_WRITE, 1,
                           (i % 64) * (32 << 20), 32 << 20))
        writers.append(c)
    hammer.progress("with 100 stalled writers under ulimit -v 2G")
    lim.expect_alive("with 100 stalled writers under ulimit -v 2G")
    # One of them finishes its payload: it is answered (written, or ENOMEM).
    w = writers[-1]
    w.send(b"\0" * (32 << 20))
    err, handle, _ = w.simple_reply()
    t.expect("the last writer is answered (error %d)" % err, err in (0, t.ENOMEM))
    hammer.stop()
    for c in writers:
        c.close()
    time.sleep(0.5)
    lim.expect_alive("after the writers hung up")


t.run(main)
