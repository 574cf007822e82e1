# 8 connections at once, each in its own thread writing and reading back
# its own distinct region; then one connection checks the whole disk.
import os
import threading
import nbdtest as t

CONNS = 8
REGION = 2 << 20
CHUNK = 128 << 10


def main():
    rnd = os.urandom(CONNS * REGION)
    srv = t.Server("mem", t.NBDKIT, "memory", "size=%d" % (CONNS * REGION))
    handles = [srv.connect() for _ in range(CONNS)]
    t.expect("all %d connections are up" % CONNS, all(h.get_size() == CONNS * REGION for h in handles))
    errors = []
    barrier = threading.Barrier(CONNS)

    def worker(n, h):
        try:
            base = n * REGION
            barrier.wait(10)
            for rep in range(3):
                for off in range(0, REGION, CHUNK):
                    h.pwrite(rnd[base + off:base + off + CHUNK], base + off)
                    got = h.pread(CHUNK, base + off)
                    if got != rnd[base + off:base + off + CHUNK]:
                        raise t.Fail("connection %d: chunk at %d reads back wrong (round %d)" % (n, base + off, rep))
            h.flush()
        except BaseException as e:
            errors.append("connection %d: %r" % (n, e))

    threads = [threading.Thread(target=worker, args=(n, h)) for n, h in enumerate(handles)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    t.expect_eq("errors from the %d connections" % CONNS, [], errors)
    for h in handles:
        h.shutdown()
    h = srv.connect()
    for n in range(CONNS):
        t.expect("region %d holds what connection %d wrote" % (n, n),
                 h.pread(REGION, n * REGION) == rnd[n * REGION:(n + 1) * REGION])
    h.shutdown()
    srv.expect_alive()
    t.expect_eq("exit status after SIGTERM", 0, srv.stop())


t.run(main)
