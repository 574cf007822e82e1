# Eight clients of a fast C plugin (Debian's memory .so), each writing
# then reading back its own pattern with many requests in flight, under
# our server and C nbdkit: every byte comes back, from every connection,
# while all eight keep requests queued.  Then (gate.so, our test plugin)
# eight clients read for long enough that a server serving several
# clients of a fast plugin in batches does so, one read blocks, and the
# seven others are answered meanwhile: a blocked call holds up no other
# client, whatever thread it runs on.
import os
import time
import nbd
import nbdtest as t

MEMSO = "/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-memory-plugin.so"
GATE = 1 << 20
N = 8
BS = 4096
BLOCKS = 64             # per client, each client its own region


def pattern(client, blk):
    return bytes([(client * 31 + blk) & 0xff or 1]) * BS


def wait_all(h, cookies, secs=30):
    end = time.time() + secs
    for c in cookies:
        while not h.aio_command_completed(c):
            if time.time() > end:
                raise t.Fail("requests never completed")
            h.poll(100)


def data_round_trip(srv, who):
    hs = [srv.connect() for _ in range(N)]
    for rnd in range(3):
        writes = []
        for i, h in enumerate(hs):
            base = i * BLOCKS * BS
            writes.append([h.aio_pwrite(pattern(i + rnd, b), base + b * BS)
                           for b in range(BLOCKS)])
        for h, cs in zip(hs, writes):
            wait_all(h, cs)
        reads = []
        for i, h in enumerate(hs):
            base = i * BLOCKS * BS
            bufs = [nbd.Buffer(BS) for _ in range(BLOCKS)]
            reads.append((bufs, [h.aio_pread(bufs[b], base + b * BS) for b in range(BLOCKS)]))
        for i, (h, (bufs, cs)) in enumerate(zip(hs, reads)):
            wait_all(h, cs)
            for b, buf in enumerate(bufs):
                if buf.to_bytearray() != pattern(i + rnd, b):
                    raise t.Fail("%s: client %d block %d came back wrong" % (who, i, b))
    t.expect("%s: %d clients wrote and read back their data" % (who, N), True)
    for h in hs:
        h.shutdown()


def expected(off):
    return bytes([(off >> 12) & 0xff]) * BS


def blocked_call_holds_no_one(plugin):
    srv = t.Server("gate", t.NBDKIT, plugin, "dir=" + t.T)
    hs = [srv.connect() for _ in range(N)]
    # Fast calls from all clients at once, queued deep.
    for _ in range(20):
        cs = [(h, [h.aio_pread(nbd.Buffer(BS), ((i * 7 + k) % 200) * BS) for k in range(16)])
              for i, h in enumerate(hs)]
        for h, c in cs:
            wait_all(h, c)
    buf = nbd.Buffer(BS)
    c = hs[0].aio_pread(buf, GATE)
    end = time.time() + 15
    while not os.path.exists(os.path.join(t.T, "started")):
        if time.time() > end:
            raise t.Fail("the gated read never started")
        hs[0].poll(10)
    for i, h in enumerate(hs[1:], 1):
        bufs = [nbd.Buffer(BS) for _ in range(16)]
        offs = [((i + k) % 200) * BS for k in range(16)]
        cookies = [h.aio_pread(b, o) for b, o in zip(bufs, offs)]
        wait_all(h, cookies, 10)
        for b, o in zip(bufs, offs):
            if b.to_bytearray() != expected(o):
                raise t.Fail("client %d: wrong data at %d" % (i, o))
    t.expect("7 other clients answered while one read blocks",
             not os.path.exists(os.path.join(t.T, "release")))
    open(os.path.join(t.T, "release"), "w").close()
    wait_all(hs[0], [c], 20)
    t.expect_eq("blocked read's data", expected(GATE), bytes(buf.to_bytearray()))
    for h in hs:
        h.shutdown()
    srv.expect_alive()
    t.expect_eq("exit status after SIGTERM", 0, srv.stop())


def main():
    if not os.path.exists(MEMSO):
        raise t.Skip("Debian's memory plugin is not installed")
    for who, binary in (("ref", t.REF_NBDKIT), ("ours", t.NBDKIT)):
        srv = t.Server(who, binary, MEMSO, "size=%d" % (N * BLOCKS * BS))
        data_round_trip(srv, who)
        srv.expect_alive()
        srv.stop()
    blocked_call_holds_no_one(os.path.join(t.C_PLUGINS, "gate.so"))


t.run(main)
