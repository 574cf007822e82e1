# 64 requests in flight on one connection (libnbd aio), with and without
# structured replies: 64 writes of distinct data, then 64 reads in a
# shuffled order, then a mix of reads, writes, zeroes and flushes.  Every
# reply must land in the buffer of its own request.
import os
import random
import nbd
import nbdtest as t

N = 64
CHUNK = 65536


def run_all(h, cookies):
    while h.aio_in_flight() > 0:
        h.poll(-1)
    # Retire each command; raises nbd.Error if the server failed it.
    for c in cookies:
        if not h.aio_command_completed(c):
            t.fail("command %d not completed although nothing is in flight" % c)


def main():
    rnd = os.urandom(N * CHUNK)
    rng = random.Random(1234)
    for structured in (True, False):
        label = "structured=%s" % structured
        srv = t.Server("s%d" % structured, t.NBDKIT, "memory", "size=%d" % (2 * N * CHUNK))
        h = srv.connect(structured=structured)

        cookies = []
        for i in range(N):
            buf = nbd.Buffer.from_bytearray(bytearray(rnd[i * CHUNK:(i + 1) * CHUNK]))
            cookies.append(h.aio_pwrite(buf, i * CHUNK))
        t.expect_eq("%s: requests queued at once" % label, N, h.aio_in_flight())
        run_all(h, cookies)
        print("ok: %s: %d writes in flight completed" % (label, N))

        order = list(range(N))
        rng.shuffle(order)
        reads = []
        for i in order:
            buf = nbd.Buffer(CHUNK)
            reads.append((i, buf, h.aio_pread(buf, i * CHUNK)))
        t.expect_eq("%s: reads queued at once" % label, N, h.aio_in_flight())
        run_all(h, [c for _, _, c in reads])
        bad = [i for i, buf, _ in reads if bytes(buf.to_bytearray()) != rnd[i * CHUNK:(i + 1) * CHUNK]]
        t.expect_eq("%s: reads whose buffer does not hold their own chunk" % label, [], bad)

        # Mixed: odd chunks zeroed, even chunks read, new data written to
        # the second half, flushes interleaved.
        ops = []
        for i in range(N):
            if i % 2:
                ops.append(("zero", i, None, h.aio_zero(CHUNK, i * CHUNK)))
            else:
                buf = nbd.Buffer(CHUNK)
                ops.append(("read", i, buf, h.aio_pread(buf, i * CHUNK)))
            wbuf = nbd.Buffer.from_bytearray(bytearray(rnd[(N - 1 - i) * CHUNK:(N - i) * CHUNK]))
            ops.append(("write", N + i, None, h.aio_pwrite(wbuf, (N + i) * CHUNK, flags=nbd.CMD_FLAG_FUA)))
            if i % 16 == 15:
                ops.append(("flush", i, None, h.aio_flush()))
        run_all(h, [op[3] for op in ops])
        for kind, i, buf, cookie in ops:
            if kind == "read" and bytes(buf.to_bytearray()) != rnd[i * CHUNK:(i + 1) * CHUNK]:
                t.fail("%s: mixed batch: read of chunk %d got other data" % (label, i))
        print("ok: %s: mixed batch of %d requests, every read holds its own chunk" % (label, len(ops)))
        whole = h.pread(2 * N * CHUNK, 0)
        for i in range(N):
            want = bytes(CHUNK) if i % 2 else rnd[i * CHUNK:(i + 1) * CHUNK]
            if whole[i * CHUNK:(i + 1) * CHUNK] != want:
                t.fail("%s: after the mixed batch chunk %d is wrong" % (label, i))
            want = rnd[(N - 1 - i) * CHUNK:(N - i) * CHUNK]
            if whole[(N + i) * CHUNK:(N + i + 1) * CHUNK] != want:
                t.fail("%s: after the mixed batch chunk %d is wrong" % (label, N + i))
        print("ok: %s: disk contents after the mixed batch" % label)
        h.shutdown()
        srv.expect_alive()
        srv.stop()


t.run(main)
