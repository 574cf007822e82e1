# Reads and writes at queue depth 16 through cow and cache (Debian's C
# filters, each serialising its block work on a lock of its own), checked
# against a model of the disk, on our server and on C nbdkit.
#
# Such a stack is where our server moves a connection's requests between
# its worker threads and its event loop (a trial of calls on the loop
# once the workers have drained, then the loop for as long as calls stay
# fast): thousands of small requests from one client make it happen, and
# every read must still return what the writes before it left.
import random
import nbd
import nbdtest as t

DISK = 8 << 20
BLOCK = 4096
ROUNDS = 1200
QD = 16


def workload(srv, what, seed):
    h = srv.connect()
    model = bytearray(DISK)
    rng = random.Random(seed)
    bad = 0
    for r in range(ROUNDS):
        # 16 requests on distinct 4 KiB blocks (some pairs share a 64 KiB
        # block of the filter's), so their order among themselves does not
        # matter; writes land in the model once the round is done.
        blocks = rng.sample(range(DISK // BLOCK), QD)
        cmds = []
        for b in blocks:
            off = b * BLOCK
            if rng.random() < 0.3:
                data = bytes([rng.randrange(1, 256)]) * BLOCK
                cmds.append(("w", off, data, h.aio_pwrite(data, off)))
            else:
                buf = nbd.Buffer(BLOCK)
                cmds.append(("r", off, buf, h.aio_pread(buf, off)))
        for kind, off, data, cookie in cmds:
            while not h.aio_command_completed(cookie):
                h.poll(-1)
        for kind, off, data, cookie in cmds:
            if kind == "w":
                model[off:off + BLOCK] = data
            elif data.to_bytearray() != model[off:off + BLOCK]:
                bad += 1
                if bad <= 3:
                    print("%s: round %d: read at %d returned other data" % (what, r, off))
    # Everything once more, in large reads.
    for off in range(0, DISK, 1 << 20):
        if h.pread(1 << 20, off) != model[off:off + (1 << 20)]:
            bad += 1
            print("%s: final read at %d returned other data" % (what, off))
    h.shutdown()
    t.expect_eq("%s: reads that returned other data than written" % what, 0, bad)


def main():
    for filt in ("cow", "cache"):
        for name, binary in (("ours", t.NBDKIT), ("ref", t.REF_NBDKIT)):
            srv = t.Server("%s-%s" % (name, filt), binary, "--filter=" + filt,
                           "memory", str(DISK))
            workload(srv, "%s through %s" % (name, filt), seed=len(filt))
            srv.expect_alive()
            t.expect_eq("%s through %s: exit status" % (name, filt), 0, srv.stop())


t.run(main)
