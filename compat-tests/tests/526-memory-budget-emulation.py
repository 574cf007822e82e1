# Memory a request takes while it runs counts against --memory-limit: a
# cache emulated by reading (64 MiB buffers, here through the nocache
# filter's cachemode=emulate) gets ENOMEM once the limit is spent, and
# the server's peak RSS (VmHWM from /proc) stays under the limit plus a
# fixed allowance while a bystander is served.  (Uncounted, four clients
# pipelining 64 MiB CACHEs drive the peak to several hundred MiB.)  A
# zero the plugin cannot do is written from zero pages that cost nothing.
# compat-timeout: 120
import struct
import time
import nbdtest as t

LIMIT_MIB = 64
ALLOWANCE_MIB = 80
ENOMEM = 12


def status_mib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0


def main():
    if t.is_reference():
        raise t.Skip("--memory-limit is ours")
    import os
    if not os.path.exists("/usr/lib/x86_64-linux-gnu/nbdkit/filters/nbdkit-nocache-filter.so"):
        raise t.Skip("Debian's nocache filter is not installed")
    srv = t.Server("srv", t.NBDKIT, "--memory-limit=%dM" % LIMIT_MIB,
                   "--filter=nocache", "memory", "1G", "cachemode=emulate")
    base = status_mib(srv.pid, "VmHWM")
    hammer = t.Hammer(srv, 900 << 20)
    hammer.progress("before the cache flood")
    clients = []
    for i in range(4):
        c = srv.raw(timeout=60).handshake()
        for j in range(8):
            c.request(t.CMD_CACHE, ((i * 8 + j) % 15) * (64 << 20), 64 << 20, handle=j + 1)
        clients.append(c)
    results = {}
    for c in clients:
        for _ in range(8):
            err, handle, _ = c.simple_reply()
            results[err] = results.get(err, 0) + 1
    hammer.progress("after the cache flood")
    peak = status_mib(srv.pid, "VmHWM")
    print("VmHWM %d MiB at start, %d MiB after 32 CACHEs of 64 MiB; replies %s"
          % (base, peak, results))
    t.expect("only success or ENOMEM (%s)" % results, set(results) <= {0, ENOMEM})
    t.expect("peak RSS %d MiB within the %d MiB limit + %d MiB"
             % (peak, LIMIT_MIB, ALLOWANCE_MIB), peak <= LIMIT_MIB + ALLOWANCE_MIB)
    for c in clients:
        c.close()
    rounds = hammer.stop()
    t.expect("the bystander kept going (%d round trips)" % rounds, rounds >= 10)
    srv.expect_alive("after the flood")
    # Once memory is free again, an emulated cache succeeds.
    h = srv.connect()
    h.cache(64 << 20, 0)
    h.shutdown()
    srv.stop()


t.run(main)
