# NBD_CMD_FLAG_FAST_ZERO: where advertised (memory, null) a fast zero
# succeeds and zeroes; where not advertised libnbd refuses it locally;
# on a read-only export it is EPERM.
import os
import nbd
import nbdtest as t


def main():
    srv = t.Server("mem", t.NBDKIT, "memory", "1M")
    for structured in (True, False):
        h = srv.connect(structured=structured)
        t.expect_eq("memory advertises fast zero", True, h.can_fast_zero())
        h.pwrite(b"\xff" * 65536, 0)
        h.zero(65536, 0, nbd.CMD_FLAG_FAST_ZERO)
        t.expect_eq("memory: fast zero zeroes (structured=%s)" % structured, bytes(65536), h.pread(65536, 0))
        h.pwrite(b"\xff" * 65536, 0)
        h.zero(4096, 4096, nbd.CMD_FLAG_FAST_ZERO | nbd.CMD_FLAG_NO_HOLE | nbd.CMD_FLAG_FUA)
        t.expect_eq("memory: fast zero + NO_HOLE + FUA zeroes", bytes(4096), h.pread(4096, 4096))
        t.expect_eq("memory: bytes before it intact", b"\xff" * 4096, h.pread(4096, 0))
        h.shutdown()

    null = t.Server("null", t.NBDKIT, "null", "1M")
    h = null.connect()
    t.expect_eq("null advertises fast zero", True, h.can_fast_zero())
    h.zero(1 << 20, 0, nbd.CMD_FLAG_FAST_ZERO)
    print("ok: null: fast zero succeeds")
    h.shutdown()

    img = os.path.join(t.T, "disk.img")
    with open(img, "wb") as f:
        f.truncate(1 << 20)
    fsrv = t.Server("file", t.NBDKIT, "file", img)
    h = fsrv.connect()
    if not h.can_fast_zero():
        t.expect_nbd_error("file without fast zero: libnbd refuses FAST_ZERO locally", "EINVAL",
                           h.zero, 4096, 0, nbd.CMD_FLAG_FAST_ZERO)
    else:
        h.zero(4096, 0, nbd.CMD_FLAG_FAST_ZERO)
    t.expect_eq("file: the connection works", bytes(4096), h.pread(4096, 0))
    h.shutdown()

    ro = t.Server("ro", t.NBDKIT, "-r", "memory", "1M")
    h = ro.connect(strict=0)
    t.expect_nbd_error("-r: fast zero", "EPERM", h.zero, 4096, 0, nbd.CMD_FLAG_FAST_ZERO)
    h.shutdown()
    for s in (srv, null, fsrv, ro):
        s.expect_alive()


t.run(main)
